/*
 * milter_config.c - the configuration file of sealpost-milter: `key = value`
 * lines read through one typed table (name, type, default, min, max).
 * Unknown keys, bad values and values out of range are errors that name
 * file:line.  Comments start with '#'; blank lines are ignored.
 * SECURITY: reads the organisation token (directly or from a file); it is
 * wiped by milter_config_clear().
 */
#include "milter.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crypto.h"

enum cfg_type { CFG_STR, CFG_INT, CFG_ENUM, CFG_BOOL };

struct cfg_key {
	const char *name;
	enum cfg_type type;
	size_t off;		/* offset in struct milter_config */
	size_t size;		/* for CFG_STR: size of the char array */
	const char *def;	/* default, as it would be written in the file */
	int64_t min, max;	/* CFG_INT bounds */
	const char *const *names;	/* CFG_ENUM values, index = stored int */
	const char *help;
};

static const char *const fail_names[] = {"tempfail", "pass", "reject", NULL};
static const char *const log_names[] = {"stderr", "syslog", NULL};

#define STR(f) CFG_STR, offsetof(struct milter_config, f), sizeof(((struct milter_config *)0)->f)
#define NUM(f) offsetof(struct milter_config, f), 0

static const struct cfg_key keys[] = {
	{"socket", STR(socket), "inet:8891@127.0.0.1", 0, 0, NULL,
	    "where the MTA connects: inet:PORT@HOST or unix:PATH"},
	{"keyd_url", STR(keyd_url), "", 0, 0, NULL,
	    "key server base URL, e.g. https://keys.example.org (required)"},
	{"keyd_public_url", STR(keyd_public_url), "", 0, 0, NULL,
	    "key server URL written in envelopes, if it differs from keyd_url"},
	{"keyd_token", STR(keyd_token), "", 0, 0, NULL,
	    "organisation token (spo_...); prefer keyd_token_file"},
	{"keyd_token_file", STR(keyd_token_file), "", 0, 0, NULL,
	    "file holding the organisation token (read before dropping privileges)"},
	{"policy", STR(policy), "", 0, 0, NULL,
	    "sealing policy file; empty = the built-in default policy"},
	{"internal_domains", STR(internal_domains), "", 0, 0, NULL,
	    "our own mail domains (comma separated): sealed replies to them are unsealed"},
	{"on_keyd_failure", CFG_ENUM, NUM(on_keyd_failure), "tempfail", 0, 0, fail_names,
	    "key server down or 5xx: tempfail (retry later), pass (send in the clear!), reject"},
	{"on_too_big", CFG_ENUM, NUM(on_too_big), "reject", 0, 0, fail_names,
	    "message over max_message_size: reject, tempfail, or pass unscanned"},
	{"max_message_size", CFG_INT, NUM(max_message_size), "67108864", 1024,
	    (int64_t)256 << 20, NULL, "bytes of message body held for scanning and sealing"},
	{"user", STR(user), "", 0, 0, NULL,
	    "unprivileged user to run as when started as root (required then)"},
	{"log", CFG_ENUM, NUM(log), "stderr", 0, 0, log_names, "stderr or syslog (facility mail)"},
	{"timeout_ms", CFG_INT, NUM(timeout_ms), "10000", 100, 600000, NULL,
	    "limit for one key server request, in milliseconds"},
	{"milter_timeout", CFG_INT, NUM(milter_timeout), "300", 1, 3600, NULL,
	    "seconds to wait for the MTA between milter commands"},
	{"unseal", CFG_BOOL, NUM(unseal), "yes", 0, 1, NULL,
	    "unseal envelopes from our key server sent to internal_domains"},
	{"debug", CFG_BOOL, NUM(debug), "no", 0, 1, NULL,
	    "also log where the policy matched (numbers masked)"},
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static int
set_value(struct milter_config *c, const struct cfg_key *k, const char *v,
    const char *where, struct sp_err *err)
{
	char *base = (char *)c + k->off;
	size_t i;

	switch (k->type) {
	case CFG_STR:
		if (strlen(v) >= k->size)
			return sp_err_set(err, SP_ERR_CONFIG, "%s: %s: value too long (at most %zu bytes)",
			    where, k->name, k->size - 1);
		memcpy(base, v, strlen(v) + 1);
		return SP_OK;
	case CFG_INT: {
		char *end;
		long long n;

		errno = 0;
		n = strtoll(v, &end, 10);
		if (errno != 0 || end == v) 
			return sp_err_set(err, SP_ERR_CONFIG, "%s: %s: not a number: '%s'", where, k->name, v);
		/* size suffixes for convenience */
		if (*end == 'k' || *end == 'K')
			n *= 1024, end++;
		else if (*end == 'm' || *end == 'M')
			n *= 1024 * 1024, end++;
		if (*end != '\0')
			return sp_err_set(err, SP_ERR_CONFIG, "%s: %s: not a number: '%s'", where, k->name, v);
		if (n < k->min || n > k->max)
			return sp_err_set(err, SP_ERR_CONFIG, "%s: %s: %lld is out of range (%lld..%lld)",
			    where, k->name, n, (long long)k->min, (long long)k->max);
		*(int64_t *)base = n;
		return SP_OK;
	}
	case CFG_ENUM:
		for (i = 0; k->names[i] != NULL; i++) {
			if (strcmp(v, k->names[i]) == 0) {
				*(int *)base = (int)i;
				return SP_OK;
			}
		}
		return sp_err_set(err, SP_ERR_CONFIG, "%s: %s: '%s' is not one of the allowed values",
		    where, k->name, v);
	case CFG_BOOL:
		if (strcmp(v, "yes") == 0 || strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
			*(int *)base = 1;
		else if (strcmp(v, "no") == 0 || strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
			*(int *)base = 0;
		else
			return sp_err_set(err, SP_ERR_CONFIG, "%s: %s: expected yes or no, not '%s'",
			    where, k->name, v);
		return SP_OK;
	}
	return sp_err_set(err, SP_ERR_INTERNAL, "bad key type");
}

void
milter_config_defaults(struct milter_config *c)
{
	size_t i;

	memset(c, 0, sizeof(*c));
	for (i = 0; i < NKEYS; i++)
		if (set_value(c, &keys[i], keys[i].def, "default", NULL) != SP_OK)
			abort();	/* a broken table is a bug */
}

void
milter_config_print_defaults(FILE *out)
{
	size_t i;

	for (i = 0; i < NKEYS; i++)
		fprintf(out, "  %-18s default '%s': %s\n", keys[i].name, keys[i].def, keys[i].help);
}

static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
		*--e = '\0';
	return s;
}

static int
read_token_file(struct milter_config *c, struct sp_err *err)
{
	FILE *f = fopen(c->keyd_token_file, "r");
	char line[sizeof(c->keyd_token) + 2];
	char *t;

	if (f == NULL)
		return sp_err_set(err, SP_ERR_CONFIG, "keyd_token_file %s: %s", c->keyd_token_file,
		    strerror(errno));
	if (fgets(line, sizeof(line), f) == NULL) {
		fclose(f);
		return sp_err_set(err, SP_ERR_CONFIG, "keyd_token_file %s: empty", c->keyd_token_file);
	}
	fclose(f);
	t = trim(line);
	if (strlen(t) >= sizeof(c->keyd_token)) {
		sp_wipe(line, sizeof(line));
		return sp_err_set(err, SP_ERR_CONFIG, "keyd_token_file %s: token too long",
		    c->keyd_token_file);
	}
	memcpy(c->keyd_token, t, strlen(t) + 1);
	sp_wipe(line, sizeof(line));
	return SP_OK;
}

static int
split_domains(struct milter_config *c, const char *path, struct sp_err *err)
{
	char *p, *start;

	memcpy(c->domains_store, c->internal_domains, sizeof(c->domains_store));
	c->ndomains = 0;
	for (p = c->domains_store; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	p = c->domains_store;
	while (*p != '\0') {
		while (*p == ',' || *p == ' ' || *p == '\t')
			*p++ = '\0';
		if (*p == '\0')
			break;
		start = p;
		while (*p != '\0' && *p != ',' && *p != ' ' && *p != '\t')
			p++;
		if (c->ndomains == MILTER_MAX_DOMAINS)
			return sp_err_set(err, SP_ERR_CONFIG, "%s: internal_domains: more than %d domains",
			    path, MILTER_MAX_DOMAINS);
		if (strchr(start, '@') != NULL && (size_t)(strchr(start, '@') - start) < (size_t)(p - start))
			return sp_err_set(err, SP_ERR_CONFIG, "%s: internal_domains: '%.*s' is an address, "
			    "not a domain", path, (int)(p - start), start);
		c->domains[c->ndomains++] = start;
	}
	return SP_OK;
}

int
milter_config_load(struct milter_config *c, const char *path, struct sp_err *err)
{
	FILE *f;
	char line[4096], where[600];
	unsigned lineno = 0;
	int st = SP_OK;

	if ((f = fopen(path, "r")) == NULL)
		return sp_err_set(err, SP_ERR_CONFIG, "%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f) != NULL) {
		char *s, *eq, *name, *val;
		size_t i;

		lineno++;
		snprintf(where, sizeof(where), "%s:%u", path, lineno);
		if (strchr(line, '\n') == NULL && !feof(f)) {
			st = sp_err_set(err, SP_ERR_CONFIG, "%s: line too long", where);
			break;
		}
		s = trim(line);
		if (*s == '\0' || *s == '#')
			continue;
		if ((eq = strchr(s, '=')) == NULL) {
			st = sp_err_set(err, SP_ERR_CONFIG, "%s: expected 'key = value'", where);
			break;
		}
		*eq = '\0';
		name = trim(s);
		val = trim(eq + 1);
		for (i = 0; i < NKEYS; i++)
			if (strcmp(name, keys[i].name) == 0)
				break;
		if (i == NKEYS) {
			st = sp_err_set(err, SP_ERR_CONFIG, "%s: unknown key '%s'", where, name);
			break;
		}
		if ((st = set_value(c, &keys[i], val, where, err)) != SP_OK)
			break;
	}
	sp_wipe(line, sizeof(line));
	fclose(f);
	if (st != SP_OK)
		return st;
	if (c->socket[0] == '\0' || (strncmp(c->socket, "inet:", 5) != 0 &&
	    strncmp(c->socket, "unix:", 5) != 0 && strncmp(c->socket, "local:", 6) != 0 &&
	    strncmp(c->socket, "inet6:", 6) != 0))
		return sp_err_set(err, SP_ERR_CONFIG, "%s: socket: expected inet:PORT@HOST or unix:PATH",
		    path);
	if (c->keyd_url[0] == '\0')
		return sp_err_set(err, SP_ERR_CONFIG, "%s: keyd_url is required", path);
	if (strncmp(c->keyd_url, "http://", 7) != 0 && strncmp(c->keyd_url, "https://", 8) != 0)
		return sp_err_set(err, SP_ERR_CONFIG, "%s: keyd_url: expected an http:// or https:// URL",
		    path);
	if (c->keyd_token[0] != '\0' && c->keyd_token_file[0] != '\0')
		return sp_err_set(err, SP_ERR_CONFIG, "%s: give keyd_token or keyd_token_file, not both",
		    path);
	if (c->keyd_token_file[0] != '\0' && (st = read_token_file(c, err)) != SP_OK)
		return st;
	if (c->keyd_token[0] == '\0')
		return sp_err_set(err, SP_ERR_CONFIG, "%s: keyd_token or keyd_token_file is required",
		    path);
	if (c->keyd_public_url[0] == '\0')
		memcpy(c->keyd_public_url, c->keyd_url, sizeof(c->keyd_public_url));
	/* trailing slashes would make URL comparisons fail */
	for (size_t n = strlen(c->keyd_url); n > 0 && c->keyd_url[n - 1] == '/'; n--)
		c->keyd_url[n - 1] = '\0';
	for (size_t n = strlen(c->keyd_public_url); n > 0 && c->keyd_public_url[n - 1] == '/'; n--)
		c->keyd_public_url[n - 1] = '\0';
	return split_domains(c, path, err);
}

void
milter_config_clear(struct milter_config *c)
{
	sp_wipe(c->keyd_token, sizeof(c->keyd_token));
}

int
milter_config_is_internal(const struct milter_config *c, const char *addr)
{
	const char *at = addr ? strrchr(addr, '@') : NULL;
	size_t i;

	if (at == NULL)
		return 0;
	for (i = 0; i < c->ndomains; i++)
		if (strcasecmp(at + 1, c->domains[i]) == 0)
			return 1;
	return 0;
}

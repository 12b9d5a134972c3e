/*
 * milter_config.c - the configuration of sealpost-milter: its table for
 * conf.h (name, type, default, range, help of every key), read from a
 * `key = value` file (-c) and the command line; then the checks between
 * keys and the derived values (token from its file, domain list, signing
 * key).  Unknown keys, bad values and values out of range are errors that
 * name file:line.
 * SECURITY: reads the organisation token (directly or from a file) and the
 * organisation's private signing key; milter_config_clear() wipes the one
 * and frees the other (OpenSSL wipes it).
 */
#include "milter.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf.h"
#include "crypto.h"
#include "log.h"
#include "sign.h"

static const char *const fail_names[] = {"tempfail", "pass", "reject", NULL};
static const char *const log_names[] = {"stderr", "syslog", NULL};

#define AT(f) CONF_AT(struct milter_config, f)

/* Every key, its default and its range: the one place they are set. */
static const struct conf_entry entries[] = {
	{.name = "socket", .type = CONF_STR, AT(socket), .def = "inet:8891@127.0.0.1",
	    .arg = "SOCKET", .help = "where the MTA connects: inet:PORT@HOST or unix:PATH"},
	{.name = "keyd_url", .type = CONF_STR, AT(keyd_url), .arg = "URL", .flags = CONF_REQUIRED,
	    .help = "key server base URL, e.g. https://keys.example.org"},
	{.name = "keyd_public_url", .type = CONF_STR, AT(keyd_public_url), .arg = "URL",
	    .help = "key server URL written in envelopes, if it differs from keyd_url"},
	{.name = "keyd_token", .type = CONF_STR, AT(keyd_token), .arg = "TOKEN", .flags = CONF_SECRET,
	    .help = "organisation token (spo_...); prefer keyd_token_file"},
	{.name = "keyd_token_file", .type = CONF_STR, AT(keyd_token_file), .arg = "FILE",
	    .help = "file holding the organisation token (read before dropping privileges)"},
	{.name = "sign_key", .type = CONF_STR, AT(sign_key), .arg = "FILE",
	    .help = "the organisation's signing key (PEM, from `sealpost org add --key-out`): "
	    "envelopes are signed (format 2); read before dropping privileges; empty = unsigned"},
	{.name = "policy", .type = CONF_STR, AT(policy), .arg = "FILE",
	    .help = "sealing policy file; empty = the built-in default policy"},
	{.name = "internal_domains", .type = CONF_STR, AT(internal_domains), .arg = "DOMAINS",
	    .help = "our own mail domains (comma separated): sealed replies to them are unsealed"},
	{.name = "on_keyd_failure", .type = CONF_ENUM, AT(on_keyd_failure), .def = "tempfail",
	    .names = fail_names,
	    .help = "key server down or 5xx: tempfail (retry later), pass (send in the clear!), reject"},
	{.name = "on_too_big", .type = CONF_ENUM, AT(on_too_big), .def = "reject", .names = fail_names,
	    .help = "message over max_message_size: reject, tempfail, or pass unscanned"},
	{.name = "on_unreadable", .type = CONF_ENUM, AT(on_unreadable), .def = "reject",
	    .names = fail_names,
	    .help = "a message the policy cannot read (and so cannot seal): reject, tempfail, "
	    "or pass unscanned"},
	{.name = "max_message_size", .type = CONF_SIZE, AT(max_message_size), .def = "64M",
	    .min = 1024, .max = (int64_t)256 << 20,
	    .help = "bytes of message body held for scanning and sealing"},
	{.name = "user", .type = CONF_STR, AT(user), .arg = "USER",
	    .help = "unprivileged user to run as when started as root (required then)"},
	{.name = "log", .type = CONF_ENUM, AT(log), .def = "stderr", .names = log_names,
	    .help = "stderr or syslog (facility mail)"},
	{.name = "timeout_ms", .type = CONF_INT, AT(timeout_ms), .def = "10000", .min = 100,
	    .max = 600000, .help = "limit for one key server request, in milliseconds"},
	{.name = "milter_timeout", .type = CONF_INT, AT(milter_timeout), .def = "300", .min = 1,
	    .max = 3600, .help = "seconds to wait for the MTA between milter commands"},
	{.name = "unseal", .type = CONF_BOOL, AT(unseal), .def = "yes",
	    .help = "unseal envelopes from our key server sent to internal_domains"},
	{.name = "debug", .type = CONF_BOOL, AT(debug), .def = "no",
	    .help = "also log where the policy matched (numbers masked)"},
};

const struct conf_table milter_conf_table = {
	.prog = "sealpost-milter",
	.usage = "sealpost-milter -c FILE [-n] [--KEY VALUE ...]\n       sealpost-milter --help | --print-defaults",
	.about = "The sealpost mail filter for Postfix and Sendmail: seals outbound mail that\n"
	    "the policy marks sensitive, unseals sealed replies to our own domains.",
	.entries = entries,
	.n = sizeof(entries) / sizeof(entries[0]),
	.flags = CONF_T_NO_OPERANDS,
};

void
milter_config_defaults(struct milter_config *c)
{
	struct sp_err err = {{0}};
	int st;

	memset(c, 0, sizeof(*c));
	if ((st = conf_defaults(&milter_conf_table, c, &err)) != SP_OK)
		fatalx("config", "error=%s", sp_err_msg(&err, st));	/* a broken table */
}

void
milter_config_usage(FILE *out)
{
	conf_usage(&milter_conf_table, out);
}

void
milter_config_print_defaults(FILE *out)
{
	conf_print_defaults(&milter_conf_table, out);
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

/* The signing key, once every other check passed (nothing to free on a
 * later error). */
static int
load_signer(struct milter_config *c, const char *path, struct sp_err *err)
{
	struct sp_err e = {{0}};
	int st;

	sp_signer_free(c->signer);
	c->signer = NULL;
	if (c->sign_key[0] == '\0')
		return SP_OK;
	if ((st = sp_signer_load(&c->signer, c->sign_key, &e)) != SP_OK)
		return sp_err_set(err, SP_ERR_CONFIG, "%s: sign_key: %s", path, sp_err_msg(&e, st));
	return SP_OK;
}

int
milter_config_load(struct milter_config *c, const char *path, struct sp_err *err)
{
	int st;

	if ((st = conf_load_file(&milter_conf_table, c, path, err)) != SP_OK)
		return st;
	return milter_config_finish(c, path, err);
}

int
milter_config_read(struct milter_config *c, int argc, char **argv, struct conf_cmdline *cl,
    struct sp_err *err)
{
	int st;

	memset(c, 0, sizeof(*c));
	if ((st = conf_read(&milter_conf_table, c, argc, argv, cl, err)) != SP_OK)
		return st;
	if (cl->action == CONF_HELP || cl->action == CONF_PRINT_DEFAULTS)
		return SP_OK;
	return milter_config_finish(c, cl->file != NULL ? cl->file : "command line", err);
}

int
milter_config_finish(struct milter_config *c, const char *path, struct sp_err *err)
{
	int st;

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
	if ((st = split_domains(c, path, err)) != SP_OK)
		return st;
	return load_signer(c, path, err);
}

void
milter_config_clear(struct milter_config *c)
{
	sp_signer_free(c->signer);
	c->signer = NULL;
	conf_clear(&milter_conf_table, c);
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

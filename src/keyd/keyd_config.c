/*
 * keyd_config.c - the configuration of sealpost-keyd: its table for conf.h
 * (name, type, default, range, help of every option), read from the
 * command line (`--key VALUE`) and a `key = value` file (-c); then the
 * checks between keys and the values derived from them (the listening
 * address, the public URL and its origin, the sender of account mail, the
 * throttling policies).  A bad value in a file names file:line.
 * SECURITY: db may hold a database password: it is a CONF_SECRET (never
 * repeated in a message, wiped by keyd_config_clear()).
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "conf.h"
#include "keyd.h"

#define AT(f) CONF_AT(struct keyd_config, f)

/* --trusted-proxy: one CIDR per value, parsed at once so that a bad one
 * names its place; NULL clears the list. */
static int
set_proxy(void *cfg, const char *v, struct sp_err *err)
{
	struct keyd_config *c = cfg;

	if (v == NULL) {
		c->nproxies = 0;
		return SP_OK;
	}
	if (c->nproxies == KEYD_MAX_PROXIES)
		return sp_err_set(err, SP_ERR_CONFIG, "more than %d proxies", KEYD_MAX_PROXIES);
	if (keyd_cidr_parse(v, &c->proxies[c->nproxies]) != 0)
		return sp_err_set(err, SP_ERR_CONFIG, "'%s': want an address or ADDRESS/BITS", v);
	c->nproxies++;
	return SP_OK;
}

/* ADDR:PORT or [ADDR6]:PORT, numeric: 0 and *ss, *sl, or -1. */
static int
parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *sl)
{
	char host[256], port[16];
	const char *colon;
	struct addrinfo hints, *ai = NULL;

	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (rb == NULL || rb[1] != ':' || (size_t)(rb - s - 1) >= sizeof(host))
			return -1;
		snprintf(host, sizeof(host), "%.*s", (int)(rb - s - 1), s + 1);
		colon = rb + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL || (size_t)(colon - s) >= sizeof(host))
			return -1;
		snprintf(host, sizeof(host), "%.*s", (int)(colon - s), s);
	}
	if (strlen(colon + 1) >= sizeof(port))
		return -1;
	snprintf(port, sizeof(port), "%s", colon + 1);
	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, port, &hints, &ai) != 0 || ai == NULL)
		return -1;
	if (ai->ai_addrlen > sizeof(*ss)) {
		freeaddrinfo(ai);
		return -1;
	}
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*sl = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

static int
set_listen(void *cfg, const char *v, struct sp_err *err)
{
	struct keyd_config *c = cfg;

	if (strlen(v) >= sizeof(c->listen) ||
	    parse_listen(v, &c->listen_addr, &c->listen_len) != 0)
		return sp_err_set(err, SP_ERR_CONFIG, "'%s': want ADDR:PORT with a numeric address "
		    "(IPv6 as [::1]:8080)", v);
	memcpy(c->listen, v, strlen(v) + 1);
	return SP_OK;
}

/* public_url: empty (http://LISTEN), or an http:// or https:// URL without
 * spaces, quotes or angle brackets. */
static int
set_public_url(void *cfg, const char *v, struct sp_err *err)
{
	struct keyd_config *c = cfg;
	size_t n = strlen(v);
	const char *p;

	while (n > 0 && v[n - 1] == '/')
		n--;
	if (*v == '\0') {
		c->public_url[0] = '\0';
		return SP_OK;
	}
	if (n >= sizeof(c->public_url))
		return sp_err_set(err, SP_ERR_CONFIG, "longer than %zu bytes",
		    sizeof(c->public_url) - 1);
	if ((strncmp(v, "https://", 8) != 0 || n <= 8) && (strncmp(v, "http://", 7) != 0 || n <= 7))
		return sp_err_set(err, SP_ERR_CONFIG, "want an http:// or https:// URL");
	for (p = v; p < v + n; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '"' || *p == '<' || *p == '>')
			return sp_err_set(err, SP_ERR_CONFIG, "want an http:// or https:// URL "
			    "without spaces, quotes or <>");
	memcpy(c->public_url, v, n);
	c->public_url[n] = '\0';
	return SP_OK;
}

/* Every option, its default and its range: the one place they are set. */
static const struct conf_entry entries[] = {
	{.name = "data_dir", .type = CONF_STR, AT(data_dir), .arg = "DIR", .flags = CONF_REQUIRED,
	    .help = "data directory (created 0700): keyd.sqlite, keys/ (the key holder's), outbox/"},
	{.name = "db", .type = CONF_STR, AT(db), .arg = "URL", .flags = CONF_SECRET,
	    .help = "the store: sqlite:DIR or postgresql://USER@HOST:PORT/DB; empty = SQLite in "
	    "data_dir (the master keys stay in data_dir either way)"},
	{.name = "listen", .type = CONF_STR, .set = set_listen, .def = "127.0.0.1:8080",
	    .arg = "ADDR:PORT", .help = "address to bind, only this one (IPv6 as [::1]:8080)"},
	{.name = "public_url", .type = CONF_STR, .set = set_public_url, .arg = "URL",
	    .help = "URL under which browsers reach this server (default http://LISTEN); https:// "
	    "makes cookies Secure, __Host-"},
	{.name = "max_body", .type = CONF_SIZE, AT(max_body), .def = "1048576", .min = 1,
	    .max = (int64_t)1 << 34, .arg = "BYTES", .help = "largest request body"},
	{.name = "max_envelope", .type = CONF_SIZE, AT(max_envelope), .def = "67108864", .min = 1,
	    .max = (int64_t)1 << 34, .arg = "BYTES", .help = "largest POST /online and /read body"},
	{.name = "threads", .type = CONF_INT, AT(threads), .def = "4", .min = 1, .max = 256,
	    .arg = "N", .help = "HTTP threads (password checks, /read and replies run on workers besides)"},
	{.name = "argon_workers", .type = CONF_INT, AT(argon_workers), .def = "2", .min = 1,
	    .max = 64, .arg = "N", .help = "concurrent password hashes; a request that waits over "
	    "2 s for one gets 503 busy"},
	{.name = "login_free", .type = CONF_INT, AT(login_free), .def = "5", .min = 1, .max = 1000,
	    .arg = "N", .help = "log-in attempts per address (counted before the password "
	    "is checked; a right one clears the count) that lock it for 30 s, doubling up "
	    "to 15 min"},
	{.name = "login_free_ip", .type = CONF_INT, AT(login_free_ip), .def = "20", .min = 1,
	    .max = 100000, .arg = "N", .help = "failed log-in attempts per client address that "
	    "lock it for 30 s more per further attempt, at most 15 min, forgotten 15 min after "
	    "the last; a locked-out recipient can still sign in with a link by mail"},
	{.name = "form_free", .type = CONF_INT, AT(form_free), .def = "30", .min = 1,
	    .max = 100000, .arg = "N",
	    .help = "registrations and mail requests per client address and hour"},
	{.name = "trusted_proxy", .type = CONF_LIST, .set = set_proxy, .size = 64,
	    .max = KEYD_MAX_PROXIES, .arg = "CIDR", .help = "a proxy in front of this server: "
	    "from its addresses the client address is read from X-Forwarded-For / Forwarded; "
	    "from any other peer those headers are ignored"},
	{.name = "max_connections", .type = CONF_INT, AT(max_connections), .def = "1000", .min = 1,
	    .max = 100000, .arg = "N", .help = "open connections in all"},
	{.name = "max_connections_per_client", .type = CONF_INT, AT(max_connections_per_client),
	    .def = "32", .min = 1, .max = 100000, .arg = "N",
	    .help = "open connections per client address (trusted proxies count only against "
	    "the total)"},
	{.name = "idle_timeout", .type = CONF_INT, AT(idle_timeout), .def = "30", .min = 1,
	    .max = 3600, .arg = "SEC", .help = "close a connection idle this long"},
	{.name = "mail_from", .type = CONF_STR, AT(mail_from), .arg = "ADDR",
	    .help = "sender of account mail (default sealpost@HOST of public_url)"},
	{.name = "outbox", .type = CONF_STR, AT(outbox), .arg = "DIR",
	    .help = "write mail as .eml files to DIR (default DATA_DIR/outbox)"},
	{.name = "sendmail", .type = CONF_STR, AT(sendmail), .arg = "PATH",
	    .help = "send mail through PATH -i -t instead of the outbox (either way, a mail refused is kept sealed in the store and tried again for 43 minutes, also after a restart)"},
	{.name = "user", .type = CONF_STR, AT(user), .arg = "NAME",
	    .help = "give up root for this user once the address is bound; the data directory "
	    "is made this user's (required when started as root)"},
	{.name = "keyholder_user", .type = CONF_STR, AT(keyholder_user), .arg = "NAME",
	    .help = "the key holder's user (default: user); another user than user keeps the "
	    "master keys out of this process's reach (docs/keyholder.md)"},
	{.name = "keyholder", .type = CONF_STR, AT(keyholder), .arg = "PATH",
	    .help = "the key holder program (default: sealpost-keyholder next to this program)"},
	{.name = "allow_root", .type = CONF_BOOL, AT(allow_root), .def = "no",
	    .help = "run as root without user (tests, containers)"},
	{.name = "shred_interval", .type = CONF_INT, AT(shred_interval), .def = "300", .min = 0,
	    .max = 7 * 86400, .arg = "SEC", .help = "destroy the key parts of expired envelopes "
	    "and tidy the store (stale throttle counters, registrations never activated) "
	    "every SEC seconds (the first run at start; 0 = never: run `sealpost expire --run`)"},
	{.name = "anchor_interval", .type = CONF_INT, AT(anchor_interval), .def = "3600",
	    .min = 0, .max = 7 * 86400, .arg = "SEC", .help = "every SEC seconds, log the head of "
	    "every audit chain and append \"TIME CHAIN SEQ HASH\" lines to "
	    "DATA_DIR/audit-anchors (0 = never)"},
	{.name = "copies", .type = CONF_STR, AT(copies), .arg = "URL",
	    .help = "where ciphertext copies of envelopes are kept for organisations that keep "
	    "them: dir:/PATH or s3://BUCKET?endpoint=URL&key_file=PATH (default dir:DATA_DIR/copies)"},
	{.name = "max_copy", .type = CONF_SIZE, AT(max_copy), .def = "67108864", .min = 1,
	    .max = (int64_t)1 << 34, .arg = "BYTES", .help = "largest ciphertext copy accepted "
	    "(PUT /api/v1/envelopes/ID/copy; streamed to DATA_DIR/tmp, never held in memory)"},
	{.name = "max_reply_size", .type = CONF_SIZE, AT(max_reply_size), .def = "10485760",
	    .min = 1024, .max = (int64_t)1 << 30, .arg = "BYTES", .help = "largest total of the "
	    "attachments of a secure reply from the portal (decoded)"},
	{.name = "reply_free", .type = CONF_INT, AT(reply_free), .def = "20", .min = 1,
	    .max = 100000, .arg = "N", .help = "secure replies per account and hour; each "
	    "further one waits 10 min more, at most an hour"},
	{.name = "reply_free_ip", .type = CONF_INT, AT(reply_free_ip), .def = "60", .min = 1,
	    .max = 100000, .arg = "N", .help = "secure replies per client address and hour"},
};

const struct conf_table keyd_conf_table = {
	.prog = "sealpost-keyd",
	.usage = "sealpost-keyd --data-dir DIR [--KEY VALUE ...]\n"
	    "       sealpost-keyd -c FILE [-n] [--KEY VALUE ...]\n"
	    "       sealpost-keyd --help | --print-defaults",
	.about = "The sealpost key server: keeps the server part of every message key,\n"
	    "releases it to the message's recipients, and serves the recipient pages\n"
	    "(register, activate, open).\n\n"
	    "signals: TERM and INT stop it; HUP makes the key holder read its keys again\n"
	    "(after `sealpost key rotate`).",
	.entries = entries,
	.n = sizeof(entries) / sizeof(entries[0]),
	.flags = CONF_T_DASHES | CONF_T_NO_OPERANDS,
};

int
keyd_config_read(struct keyd_config *c, int argc, char **argv, struct conf_cmdline *cl,
    struct sp_err *err)
{
	int st;

	memset(c, 0, sizeof(*c));
	if ((st = conf_read(&keyd_conf_table, c, argc, argv, cl, err)) != SP_OK)
		return st;
	if (cl->action == CONF_HELP || cl->action == CONF_PRINT_DEFAULTS)
		return SP_OK;
	return SP_OK;
}

int
keyd_config_finish(struct keyd_config *c, struct keyd *k, struct sp_err *err)
{
	const char *h;
	size_t hl, j;
	int alpha = 0;

	/* Browsers take no IPv6 address in the security policy of an
	 * envelope (its checks and forms would be blocked): the public URL
	 * names a host; [::1] stands for localhost. */
	if (c->public_url[0] == '\0' && strncmp(c->listen, "[::1]:", 6) == 0)
		snprintf(c->public_url, sizeof(c->public_url), "http://localhost%s", c->listen + 5);
	else if (c->public_url[0] == '\0')
		snprintf(c->public_url, sizeof(c->public_url), "http://%s", c->listen);
	snprintf(k->public_url, sizeof(k->public_url), "%s", c->public_url);
	k->https = strncmp(k->public_url, "https://", 8) == 0;
	h = k->public_url + (k->https ? 8 : 7);
	if (h[0] == '[')
		return sp_err_set(err, SP_ERR_CONFIG, "public_url: %s: give a host name, not an IPv6 "
		    "address (browsers take none in an envelope's security policy); listening on "
		    "an IPv6 address other than [::1] needs --public-url", k->public_url);
	snprintf(k->origin, sizeof(k->origin), "%.*s",
	    (int)(h - k->public_url + strcspn(h, "/")), k->public_url);
	/* WebAuthn's relying party is the public URL's host name. */
	h = k->origin + (k->https ? 8 : 7);
	hl = h[0] == '[' ? strcspn(h, "]") + 1 : strcspn(h, ":/");
	snprintf(k->rp_id, sizeof(k->rp_id), "%.*s", (int)hl, h);
	if (c->mail_from[0] == '\0') {
		hl = strcspn(h, ":/");
		for (j = 0; j < hl; j++)
			if ((h[j] >= 'a' && h[j] <= 'z') || (h[j] >= 'A' && h[j] <= 'Z'))
				alpha = 1;
		if (h[0] == '[' || !alpha)
			snprintf(c->mail_from, sizeof(c->mail_from), "sealpost@localhost");
		else
			snprintf(c->mail_from, sizeof(c->mail_from), "sealpost@%.*s", (int)hl, h);
	}
	if (c->outbox[0] == '\0' && c->sendmail[0] == '\0') {
		if (strlen(c->data_dir) + sizeof("/outbox") > sizeof(c->outbox))
			return sp_err_set(err, SP_ERR_CONFIG, "data_dir: too long");
		snprintf(c->outbox, sizeof(c->outbox), "%.4000s/outbox", c->data_dir);
	}
	if (c->keyholder_user[0] == '\0')
		memcpy(c->keyholder_user, c->user, sizeof(c->keyholder_user));
	k->max_body = (size_t)c->max_body;
	k->max_envelope = (size_t)c->max_envelope;
	/* Per address: doubling locks from 30 s to 15 min, the count kept an
	 * hour.  Per client: a lock grows by 30 s a failure, at most 15 min,
	 * and the count is forgotten 15 min after the last attempt, so that a
	 * whole office behind one address is never kept out for long. */
	k->thr_email = (struct sp_throttle_policy){(int)c->login_free, 30, 15 * 60, 3600, 0};
	k->thr_ip = (struct sp_throttle_policy){(int)c->login_free_ip, 30, 15 * 60, 15 * 60, 1};
	k->thr_mail = (struct sp_throttle_policy){3, 3600, 3600, 3600, 1};
	k->thr_form = (struct sp_throttle_policy){(int)c->form_free, 600, 3600, 3600, 1};
	k->max_conns = (unsigned)c->max_connections;
	k->max_conns_client = (unsigned)c->max_connections_per_client;
	memcpy(k->proxies, c->proxies, sizeof(k->proxies));
	k->nproxies = c->nproxies;
	if (strlen(c->data_dir) >= sizeof(k->data_dir))
		return sp_err_set(err, SP_ERR_CONFIG, "data_dir: too long");
	snprintf(k->data_dir, sizeof(k->data_dir), "%s", c->data_dir);
	k->shred_interval = c->shred_interval;
	k->anchor_interval = c->anchor_interval;
	k->max_copy = (size_t)c->max_copy;
	k->max_reply = (size_t)c->max_reply_size;
	k->thr_reply = (struct sp_throttle_policy){(int)c->reply_free, 600, 3600, 3600, 1};
	k->thr_reply_ip = (struct sp_throttle_policy){(int)c->reply_free_ip, 600, 3600, 3600, 1};
	snprintf(k->mail_from, sizeof(k->mail_from), "%s", c->mail_from);
	if (c->copies[0] == '\0') {
		if (strlen(c->data_dir) + sizeof("dir:/copies") > sizeof(c->copies))
			return sp_err_set(err, SP_ERR_CONFIG, "data_dir: too long");
		snprintf(c->copies, sizeof(c->copies), "dir:%.4096s/copies", c->data_dir);
	}
	return SP_OK;
}

const char *
keyd_config_store_kind(const struct keyd_config *c)
{
	if (strncmp(c->db, "postgresql://", 13) == 0 || strncmp(c->db, "postgres://", 11) == 0)
		return "postgresql";
	return "sqlite";
}

void
keyd_config_clear(struct keyd_config *c)
{
	conf_clear(&keyd_conf_table, c);
}

/*
 * store_test.c - the store in a fresh temporary directory, run once against
 * SQLite and, when SEALPOST_TEST_PG holds a libpq URI, once more against
 * PostgreSQL in a fresh database made on that server (and dropped after):
 * organisations and token lookup, deposit and fetch with key wrapping,
 * accounts, pending registrations and their activation (the newest wins),
 * single-use expiring tokens of each kind, sessions with idle and absolute
 * timeouts, password changes, throttling (also under parallel attempts),
 * TOTP, recovery codes, passkeys, the audit trail, the mail queue, choosing
 * a store by URL,
 * rewrapping under a new master key;
 * for SQLite the upgrade of a schema version 1 database; for PostgreSQL two
 * handles sharing one database (as two key servers do), schema creation by
 * several processes at once, a newer schema refused, messages without the
 * password, and SP_ERR_RETRY while the server is gone (stopped and started
 * again with tests/lib/pg.sh when SEALPOST_TEST_PG_DIR names its directory).
 * `bash tests/lib/pg.sh run build/tests/store_test` runs both.
 */
#include <libpq-fe.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "keywrap.h"
#include "store.h"
#include "t.h"

static char base[200];		/* the temporary directory of the whole run */
static char dir[256];		/* this backend's directory (keyd.sqlite, master key) */
static const char *backend = "sqlite";
static char where[1024];	/* what sp_store_open() gets: dir, or the database URI */

static void
make_dir(void)
{
	snprintf(base, sizeof(base), "/tmp/sp-store-test-XXXXXX");
	if (mkdtemp(base) == NULL)
		abort();
}

static int
is_pg(void)
{
	return strcmp(backend, "pgsql") == 0;
}

static int
count_cb(void *ctx, const struct sp_audit *a)
{
	(*(int *)ctx)++;
	(void)a;
	return 0;
}

static int
audit_count(struct sp_store *s, const char *event)
{
	int n = 0;

	sp_store_audit_each(s, event, count_cb, &n, NULL);
	return n;
}

struct sp_audit_find {
	const char *event;
	const char *actor;
	int found;
};

static int
find_cb(void *ctx, const struct sp_audit *a)
{
	struct sp_audit_find *f = ctx;

	if (a->event && a->actor && strcmp(a->event, f->event) == 0 &&
	    strcmp(a->actor, f->actor) == 0)
		f->found++;
	return 0;
}

static struct sp_store *
open_store(void)
{
	struct sp_store *s = NULL;
	struct sp_err err = {{0}};
	int st = sp_store_open(&s, backend, where, &err);

	T_EQ_INT(st, SP_OK);
	if (st != SP_OK) {
		fprintf(stderr, "open (%s): %s\n", backend, err.msg);
		exit(1);	/* every later check would fail the same way */
	}
	return s;
}

static void
test_open(void)
{
	struct sp_store *s = NULL;
	struct sp_err err = {{0}};
	char path[300];
	struct stat sb;

	T_EQ_INT(sp_store_open(&s, "nosuch", where, &err), SP_ERR_CONFIG);
	T_CHECK(s == NULL);
	s = open_store();
	if (!is_pg()) {
		snprintf(path, sizeof(path), "%s/keyd.sqlite", dir);
		T_EQ_INT(stat(path, &sb), 0);
		T_EQ_INT(sb.st_mode & 077, 0);
	}
	sp_store_close(s);
	/* Reopening keeps the schema. */
	s = open_store();
	sp_store_close(s);
	sp_store_close(NULL);
}

static void
test_orgs_envelopes(void)
{
	struct sp_store *s = open_store();
	struct sp_keywrap *kw = NULL, *kw2 = NULL;
	struct sp_err err = {{0}};
	struct sp_org o;
	struct sp_envelope_rec e, g;
	struct sp_audit a = {0, "deposit", "org:Clinic", "AAAAAAAAAAAAAAAAAAAAAA", "127.0.0.1", NULL, 0};
	unsigned char h[SP_SHA256_LEN], h2[SP_SHA256_LEN], part[SP_KEY_LEN], back[SP_KEY_LEN];
	char *rc[] = {"pat@example.org", "sam@example.net"};
	int64_t id = 0;

	sp_sha256("spo_one", 7, h);
	sp_sha256("spo_two", 7, h2);
	T_EQ_INT(sp_store_org_add(s, "Clinic", "clinic.example", h, 100, &id, &err), SP_OK);
	T_CHECK(id > 0);
	T_EQ_INT(sp_store_org_add(s, "Dup", "dup.example", h, 100, NULL, &err), SP_ERR_EXISTS);
	T_EQ_INT(sp_store_org_by_token(s, h, &o, &err), SP_OK);
	T_CHECK(strcmp(o.name, "Clinic") == 0 && strcmp(o.domain, "clinic.example") == 0);
	T_EQ_INT(o.id, id);
	T_EQ_INT(sp_store_org_by_token(s, h2, &o, &err), SP_ERR_NOTFOUND);

	T_EQ_INT(sp_keywrap_load(&kw, dir, 0, &err), SP_ERR_CONFIG);
	T_EQ_INT(sp_keywrap_load(&kw, dir, 1, &err), SP_OK);
	T_EQ_INT(sp_keywrap_current(kw), 1);
	T_EQ_INT(sp_keywrap_load(&kw2, dir, 0, &err), SP_OK);	/* same file again */

	memset(&e, 0, sizeof(e));
	snprintf(e.id, sizeof(e.id), "AAAAAAAAAAAAAAAAAAAAAA");
	e.org_id = id;
	snprintf(e.from, sizeof(e.from), "doc@clinic.example");
	e.rcpt = rc;
	e.nrcpt = 2;
	e.created = 1000;
	e.expires = 2000;
	sp_random(part, sizeof(part));
	T_EQ_INT(sp_keywrap_wrap(kw, e.id, part, e.wrapped, &e.key_id, &err), SP_OK);
	e.wrapped_len = SP_KEYWRAP_LEN;
	T_EQ_INT(sp_store_envelope_add(s, &e, &a, &err), SP_OK);
	T_EQ_INT(sp_store_envelope_add(s, &e, &a, &err), SP_ERR_EXISTS);
	T_EQ_INT(audit_count(s, "deposit"), 1);	/* the failed one rolled back */

	T_EQ_INT(sp_store_envelope_get(s, e.id, &g, &err), SP_OK);
	T_CHECK(strcmp(g.org_name, "Clinic") == 0);
	T_CHECK(strcmp(g.org_domain, "clinic.example") == 0);
	T_CHECK(strcmp(g.from, "doc@clinic.example") == 0);
	T_EQ_INT(g.nrcpt, 2);
	if (g.nrcpt == 2)
		T_CHECK(strcmp(g.rcpt[0], "pat@example.org") == 0 &&
		    strcmp(g.rcpt[1], "sam@example.net") == 0);
	T_EQ_INT(g.expires, 2000);
	T_EQ_INT(g.retracted, 0);
	T_EQ_INT(g.wrapped_len, SP_KEYWRAP_LEN);
	T_EQ_INT(sp_keywrap_unwrap(kw2, g.key_id, g.id, g.wrapped, g.wrapped_len, back, &err), SP_OK);
	T_EQ_MEM(back, part, SP_KEY_LEN);
	/* Another envelope's id as AAD does not unwrap. */
	T_EQ_INT(sp_keywrap_unwrap(kw, g.key_id, "BBBBBBBBBBBBBBBBBBBBBB", g.wrapped,
	    g.wrapped_len, back, &err), SP_ERR_AUTH);
	T_EQ_INT(sp_keywrap_unwrap(kw, 7, g.id, g.wrapped, g.wrapped_len, back, &err),
	    SP_ERR_NOTFOUND);
	sp_envelope_rec_clear(&g);

	T_EQ_INT(sp_store_envelope_get(s, "BBBBBBBBBBBBBBBBBBBBBB", &g, &err), SP_ERR_NOTFOUND);
	a.event = "retract";
	T_EQ_INT(sp_store_envelope_retract(s, e.id, &a, &err), SP_OK);
	T_EQ_INT(sp_store_envelope_get(s, e.id, &g, &err), SP_OK);
	T_EQ_INT(g.retracted, 1);
	sp_envelope_rec_clear(&g);
	T_EQ_INT(audit_count(s, "retract"), 1);
	sp_keywrap_free(kw);
	sp_keywrap_free(kw2);
	sp_store_close(s);
}

static void
fill_account(struct sp_account *acc, const char *email, const char *pw_hash)
{
	memset(acc, 0, sizeof(*acc));
	snprintf(acc->email, sizeof(acc->email), "%s", email);
	snprintf(acc->first_name, sizeof(acc->first_name), "Pat");
	snprintf(acc->last_name, sizeof(acc->last_name), "Doe");
	snprintf(acc->language, sizeof(acc->language), "en");
	snprintf(acc->pw_hash, sizeof(acc->pw_hash), "%s", pw_hash);
	snprintf(acc->phrase, sizeof(acc->phrase), "blue kettle");
	acc->phrase_enabled = 1;
	acc->question[0] = 1;
	acc->question[1] = 4;
	acc->question[2] = 7;
}

static void
tok(const char *name, unsigned char h[SP_SHA256_LEN])
{
	sp_sha256(name, strlen(name), h);
}

/* An activated account made directly (the administrator's way). */
static void
make_account(struct sp_store *s, const char *email)
{
	struct sp_account acc;
	struct sp_err err = {{0}};

	fill_account(&acc, email, "$argon2id$fake");
	acc.created = 500;
	T_EQ_INT(sp_store_account_create(s, &acc, NULL, &err), SP_OK);
}

/* --- schema v3: organisations ------------------------------------------- */

struct name_list {
	char v[8][SP_STORE_NAME_MAX + 1];
	int64_t t[8];		/* revoked / retired */
	int64_t u[8];		/* last used */
	int n;
};

static int
domain_cb(void *ctx, const char *d)
{
	struct name_list *l = ctx;

	if (l->n < 8)
		snprintf(l->v[l->n++], sizeof(l->v[0]), "%s", d);
	return 0;
}

static int
token_cb(void *ctx, const struct sp_org_token *t)
{
	struct name_list *l = ctx;

	if (l->n < 8) {
		snprintf(l->v[l->n], sizeof(l->v[0]), "%s", t->name);
		l->u[l->n] = t->last_used;
		l->t[l->n++] = t->revoked;
	}
	return 0;
}

static int
key_cb(void *ctx, const struct sp_org_key *k)
{
	struct name_list *l = ctx;

	if (l->n < 8) {
		snprintf(l->v[l->n], sizeof(l->v[0]), "%s", k->kid);
		l->t[l->n++] = k->retired;
	}
	return 0;
}

static int
org_name_cb(void *ctx, const struct sp_org *o)
{
	struct name_list *l = ctx;

	if (l->n < 8)
		snprintf(l->v[l->n++], sizeof(l->v[0]), "%s", o->name);
	return 0;
}

static int
has_name(const struct name_list *l, const char *name)
{
	int i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->v[i], name) == 0)
			return 1;
	return 0;
}

struct event_list {
	char ev[32][32];
	int64_t seq[32];
	int n;
};

static int
event_cb(void *ctx, const struct sp_audit_row *r)
{
	struct event_list *l = ctx;

	if (l->n == 32) {	/* keep the newest */
		memmove(l->ev[0], l->ev[1], sizeof(l->ev[0]) * 31);
		memmove(&l->seq[0], &l->seq[1], sizeof(l->seq[0]) * 31);
		l->n--;
	}
	snprintf(l->ev[l->n], sizeof(l->ev[0]), "%s", r->a.event ? r->a.event : "");
	l->seq[l->n++] = r->seq;
	return 0;
}

/* Names, domains (unique over all organisations, lower-case), named
 * tokens, signing keys, branding and policy, logo, removal. */
static void
test_orgs_v3(void)
{
	struct sp_store *s = open_store();
	struct sp_err err = {{0}};
	struct sp_org o, o2;
	struct sp_org_key k, kg;
	struct name_list l;
	struct event_list ev;
	struct sp_audit a = {0, "org-change", "admin", NULL, NULL, NULL, 0};
	unsigned char h1[SP_SHA256_LEN], h2[SP_SHA256_LEN], h3[SP_SHA256_LEN], h4[SP_SHA256_LEN];
	unsigned char png[300], back[SP_STORE_LOGO_MAX];
	static unsigned char big[SP_STORE_LOGO_MAX + 1];
	size_t len;
	int64_t id = 0, id2 = 0, id3 = 0;
	int i;

	tok("v3-acme-default", h1);
	tok("v3-acme-ci", h2);
	tok("v3-acme-ci2", h3);
	tok("v3-beta", h4);
	T_EQ_INT(sp_store_org_add(s, "Acme", "Mail.Acme.Example", h1, 1000, &id, &err), SP_OK);
	T_CHECK(id > 0);
	/* Name taken, domain taken (in any case), token taken: nothing added. */
	T_EQ_INT(sp_store_org_add(s, "Acme", "other.example", h4, 1000, NULL, &err), SP_ERR_EXISTS);
	T_EQ_INT(sp_store_org_add(s, "Beta", "mail.acme.example", h4, 1000, NULL, &err),
	    SP_ERR_EXISTS);
	T_EQ_INT(sp_store_org_add(s, "Beta", "MAIL.ACME.EXAMPLE", h4, 1000, NULL, &err),
	    SP_ERR_EXISTS);
	T_EQ_INT(sp_store_org_add(s, "Beta", "beta.example", h1, 1000, NULL, &err), SP_ERR_EXISTS);
	T_EQ_INT(sp_store_org_get(s, "Beta", &o, &err), SP_ERR_NOTFOUND);
	T_EQ_INT(sp_store_org_add(s, "Beta", "beta.example", h4, 1001, &id2, &err), SP_OK);
	T_CHECK(id2 > id);
	/* Without a domain. */
	tok("v3-nodomain", h4);
	T_EQ_INT(sp_store_org_add(s, "NoDomain", NULL, h4, 1002, &id3, &err), SP_OK);
	T_EQ_INT(sp_store_org_get_id(s, id3, &o, &err), SP_OK);
	T_CHECK(strcmp(o.domain, "") == 0);

	/* Defaults of a new organisation. */
	T_EQ_INT(sp_store_org_get(s, "Acme", &o, &err), SP_OK);
	T_EQ_INT(o.id, id);
	T_CHECK(strcmp(o.name, "Acme") == 0);
	T_CHECK(strcmp(o.domain, "mail.acme.example") == 0);
	T_EQ_INT(o.created, 1000);
	T_EQ_INT(o.removed, 0);
	T_CHECK(strcmp(o.display, "") == 0 && strcmp(o.colour, "") == 0);
	T_CHECK(strcmp(o.contact, "") == 0);
	T_EQ_INT(o.has_logo, 0);
	T_EQ_INT(o.policy.expire_days, 0);
	T_EQ_INT(o.policy.notify_read, 0);
	T_EQ_INT(o.policy.replies, 1);
	T_EQ_INT(o.policy.forward, 0);
	T_EQ_INT(o.policy.verify, 0);
	T_EQ_INT(o.policy.keep_copies, 0);
	T_CHECK(strcmp(o.policy.level, "medium") == 0);
	T_CHECK(strcmp(o.policy.language, "en") == 0);
	T_EQ_INT(sp_store_org_get(s, "acme", &o2, &err), SP_ERR_NOTFOUND);
	T_EQ_INT(sp_store_org_get_id(s, id, &o2, &err), SP_OK);
	T_CHECK(strcmp(o2.name, "Acme") == 0);
	T_EQ_INT(sp_store_org_get_id(s, id3 + 1000, &o2, &err), SP_ERR_NOTFOUND);
	memset(&l, 0, sizeof(l));
	T_EQ_INT(sp_store_org_each(s, org_name_cb, &l, &err), SP_OK);
	T_CHECK(has_name(&l, "Acme") && has_name(&l, "Beta") && has_name(&l, "NoDomain"));

	/* The default token finds it and records its use. */
	T_EQ_INT(sp_store_org_by_token(s, h1, &o, &err), SP_OK);
	T_EQ_INT(o.id, id);
	T_CHECK(strcmp(o.domain, "mail.acme.example") == 0);
	T_CHECK(strcmp(o.policy.level, "medium") == 0);

	/* Domains: lower-case, unique over all organisations; the first by
	 * name is the organisation's domain. */
	T_EQ_INT(sp_store_org_domain_add(s, id, "Acme.Example", &a, &err), SP_OK);
	T_EQ_INT(sp_store_org_domain_add(s, id, "acme.example", &a, &err), SP_ERR_EXISTS);
	T_EQ_INT(sp_store_org_domain_add(s, id2, "ACME.example", &a, &err), SP_ERR_EXISTS);
	T_EQ_INT(sp_store_org_domain_add(s, id, "beta.example", &a, &err), SP_ERR_EXISTS);
	T_EQ_INT(sp_store_org_domain_add(s, id3 + 1000, "nobody.example", &a, &err),
	    SP_ERR_NOTFOUND);
	T_EQ_INT(sp_store_org_domain_add(s, id, "", &a, &err), SP_ERR_INVALID);
	T_EQ_INT(sp_store_org_domain_add(s, id, "z.example", &a, &err), SP_OK);
	memset(&l, 0, sizeof(l));
	T_EQ_INT(sp_store_org_domain_each(s, id, domain_cb, &l, &err), SP_OK);
	T_EQ_INT(l.n, 3);
	T_CHECK(strcmp(l.v[0], "acme.example") == 0 && strcmp(l.v[1], "mail.acme.example") == 0 &&
	    strcmp(l.v[2], "z.example") == 0);
	T_EQ_INT(sp_store_org_get_id(s, id, &o, &err), SP_OK);
	T_CHECK(strcmp(o.domain, "acme.example") == 0);
	T_EQ_INT(sp_store_org_by_domain(s, "z.example", &o, &err), SP_OK);
	T_EQ_INT(o.id, id);
	T_EQ_INT(sp_store_org_by_domain(s, "Beta.Example", &o, &err), SP_OK);
	T_EQ_INT(o.id, id2);
	T_EQ_INT(sp_store_org_by_domain(s, "nobody.example", &o, &err), SP_ERR_NOTFOUND);
	T_EQ_INT(sp_store_org_domain_remove(s, id2, "z.example", &a, &err), SP_ERR_NOTFOUND);
	T_EQ_INT(sp_store_org_domain_remove(s, id, "Z.example", &a, &err), SP_OK);
	T_EQ_INT(sp_store_org_domain_remove(s, id, "z.example", &a, &err), SP_ERR_NOTFOUND);
	T_EQ_INT(sp_store_org_by_domain(s, "z.example", &o, &err), SP_ERR_NOTFOUND);
	/* A released domain may go to another organisation. */
	T_EQ_INT(sp_store_org_domain_add(s, id2, "z.example", &a, &err), SP_OK);
	T_EQ_INT(sp_store_org_by_domain(s, "z.example", &o, &err), SP_OK);
	T_EQ_INT(o.id, id2);

	/* Tokens: named, one live name per organisation, hashes unique. */
	T_EQ_INT(sp_store_org_token_add(s, id, "ci", h2, 1100, &a, &err), SP_OK);
	T_EQ_INT(sp_store_org_token_add(s, id, "ci", h3, 1101, &a, &err), SP_ERR_EXISTS);
	T_EQ_INT(sp_store_org_token_add(s, id2, "other", h2, 1101, &a, &err), SP_ERR_EXISTS);
	T_EQ_INT(sp_store_org_token_add(s, id3 + 1000, "x", h3, 1101, &a, &err), SP_ERR_NOTFOUND);
	T_EQ_INT(sp_store_org_by_token(s, h2, &o, &err), SP_OK);
	T_EQ_INT(o.id, id);
	T_EQ_INT(sp_store_org_token_revoke(s, id2, "ci", 1200, &a, &err), SP_ERR_NOTFOUND);
	T_EQ_INT(sp_store_org_token_revoke(s, id, "ci", 1200, &a, &err), SP_OK);
	T_EQ_INT(sp_store_org_token_revoke(s, id, "ci", 1201, &a, &err), SP_ERR_NOTFOUND);
	T_EQ_INT(sp_store_org_by_token(s, h2, &o, &err), SP_ERR_NOTFOUND);
	T_EQ_INT(sp_store_org_by_token(s, h1, &o, &err), SP_OK);	/* the others still work */
	/* The name of a revoked token can be given again. */
	T_EQ_INT(sp_store_org_token_add(s, id, "ci", h3, 1300, &a, &err), SP_OK);
	T_EQ_INT(sp_store_org_by_token(s, h3, &o, &err), SP_OK);
	memset(&l, 0, sizeof(l));
	T_EQ_INT(sp_store_org_token_each(s, id, token_cb, &l, &err), SP_OK);
	T_EQ_INT(l.n, 3);
	T_CHECK(strcmp(l.v[0], "default") == 0 && l.t[0] == 0);
	T_CHECK(l.u[0] >= (int64_t)time(NULL) - 60);	/* used above */
	T_CHECK(strcmp(l.v[1], "ci") == 0 && l.t[1] == 1200);
	T_CHECK(strcmp(l.v[2], "ci") == 0 && l.t[2] == 0);

	/* Signing keys. */
	memset(&k, 0, sizeof(k));
	k.org_id = id;
	snprintf(k.kid, sizeof(k.kid), "AAAAAAAAAAA");
	for (i = 0; i < 32; i++)
		k.pub[i] = (unsigned char)(i * 7 + 1);
	k.created = 1400;
	T_EQ_INT(sp_store_org_key_add(s, &k, &a, &err), SP_OK);
	T_EQ_INT(sp_store_org_key_add(s, &k, &a, &err), SP_ERR_EXISTS);
	k.org_id = id2;
	T_EQ_INT(sp_store_org_key_add(s, &k, &a, &err), SP_ERR_EXISTS);	/* kid is global */
	snprintf(k.kid, sizeof(k.kid), "BBBBBBBBBBB");
	k.created = 1401;
	T_EQ_INT(sp_store_org_key_add(s, &k, &a, &err), SP_OK);
	k.org_id = id;
	snprintf(k.kid, sizeof(k.kid), "CCCCCCCCCCC");
	k.created = 1500;
	T_EQ_INT(sp_store_org_key_add(s, &k, &a, &err), SP_OK);
	T_EQ_INT(sp_store_org_key_get(s, "AAAAAAAAAAA", &kg, &err), SP_OK);
	T_EQ_INT(kg.org_id, id);
	T_EQ_INT(kg.created, 1400);
	T_EQ_INT(kg.retired, 0);
	T_EQ_INT(kg.pub[0], 1);
	T_EQ_INT(kg.pub[31], 31 * 7 + 1);
	T_EQ_INT(sp_store_org_key_get(s, "DDDDDDDDDDD", &kg, &err), SP_ERR_NOTFOUND);
	T_EQ_INT(sp_store_org_key_retire(s, id2, "AAAAAAAAAAA", 1600, &a, &err), SP_ERR_NOTFOUND);
	T_EQ_INT(sp_store_org_key_retire(s, id, "AAAAAAAAAAA", 1600, &a, &err), SP_OK);
	T_EQ_INT(sp_store_org_key_retire(s, id, "AAAAAAAAAAA", 1601, &a, &err), SP_ERR_NOTFOUND);
	T_EQ_INT(sp_store_org_key_get(s, "AAAAAAAAAAA", &kg, &err), SP_OK);
	T_EQ_INT(kg.retired, 1600);
	memset(&l, 0, sizeof(l));
	T_EQ_INT(sp_store_org_key_each(s, id, key_cb, &l, &err), SP_OK);
	T_EQ_INT(l.n, 2);
	T_CHECK(strcmp(l.v[0], "AAAAAAAAAAA") == 0 && l.t[0] == 1600);
	T_CHECK(strcmp(l.v[1], "CCCCCCCCCCC") == 0 && l.t[1] == 0);

	/* Branding, contact and policy. */
	T_EQ_INT(sp_store_org_get_id(s, id, &o, &err), SP_OK);
	snprintf(o.display, sizeof(o.display), "Acme Health Ltd");
	snprintf(o.colour, sizeof(o.colour), "#12ab3c");
	snprintf(o.contact, sizeof(o.contact), "privacy@acme.example");
	o.policy.expire_days = 30;
	o.policy.notify_read = 1;
	o.policy.replies = 0;
	o.policy.forward = 1;
	o.policy.verify = 1;
	o.policy.keep_copies = 7;
	snprintf(o.policy.level, sizeof(o.policy.level), "high");
	snprintf(o.policy.language, sizeof(o.policy.language), "es");
	a.org_id = id;
	a.event = "org-set";
	T_EQ_INT(sp_store_org_update(s, &o, &a, &err), SP_OK);
	T_EQ_INT(sp_store_org_get(s, "Acme", &o2, &err), SP_OK);
	T_CHECK(strcmp(o2.display, "Acme Health Ltd") == 0);
	T_CHECK(strcmp(o2.colour, "#12ab3c") == 0);
	T_CHECK(strcmp(o2.contact, "privacy@acme.example") == 0);
	T_EQ_INT(o2.policy.expire_days, 30);
	T_EQ_INT(o2.policy.notify_read, 1);
	T_EQ_INT(o2.policy.replies, 0);
	T_EQ_INT(o2.policy.forward, 1);
	T_EQ_INT(o2.policy.verify, 1);
	T_EQ_INT(o2.policy.keep_copies, 7);
	T_CHECK(strcmp(o2.policy.level, "high") == 0);
	T_CHECK(strcmp(o2.policy.language, "es") == 0);
	T_CHECK(strcmp(o2.name, "Acme") == 0 && o2.created == 1000);
	o.id = id3 + 1000;
	T_EQ_INT(sp_store_org_update(s, &o, &a, &err), SP_ERR_NOTFOUND);

	/* Logo. */
	T_EQ_INT(sp_store_org_logo_get(s, id, back, sizeof(back), &len, &err), SP_ERR_NOTFOUND);
	for (i = 0; i < (int)sizeof(png); i++)
		png[i] = (unsigned char)(i * 13);
	T_EQ_INT(sp_store_org_logo_set(s, id, png, sizeof(png), &a, &err), SP_OK);
	T_EQ_INT(sp_store_org_logo_get(s, id, back, sizeof(back), &len, &err), SP_OK);
	T_EQ_INT(len, sizeof(png));
	T_EQ_MEM(back, png, sizeof(png));
	T_CHECK(sp_store_org_logo_get(s, id, back, 10, &len, &err) != SP_OK);
	T_EQ_INT(sp_store_org_get_id(s, id, &o, &err), SP_OK);
	T_EQ_INT(o.has_logo, 1);
	T_CHECK(sp_store_org_logo_set(s, id, big, sizeof(big), &a, &err) != SP_OK);
	T_EQ_INT(sp_store_org_logo_set(s, id, big, SP_STORE_LOGO_MAX, &a, &err), SP_OK);
	T_EQ_INT(sp_store_org_logo_get(s, id, back, sizeof(back), &len, &err), SP_OK);
	T_EQ_INT(len, SP_STORE_LOGO_MAX);
	T_EQ_INT(sp_store_org_logo_set(s, id, NULL, 0, &a, &err), SP_OK);
	T_EQ_INT(sp_store_org_logo_get(s, id, back, sizeof(back), &len, &err), SP_ERR_NOTFOUND);
	T_EQ_INT(sp_store_org_get_id(s, id, &o, &err), SP_OK);
	T_EQ_INT(o.has_logo, 0);
	T_EQ_INT(sp_store_org_logo_set(s, id3 + 1000, png, sizeof(png), &a, &err), SP_ERR_NOTFOUND);

	/* Removal: tokens revoked, domains released, still readable by name. */
	T_EQ_INT(sp_store_org_remove(s, id, 2000, &a, &err), SP_OK);
	T_EQ_INT(sp_store_org_remove(s, id, 2001, &a, &err), SP_ERR_NOTFOUND);
	T_EQ_INT(sp_store_org_by_token(s, h1, &o, &err), SP_ERR_NOTFOUND);
	T_EQ_INT(sp_store_org_by_token(s, h3, &o, &err), SP_ERR_NOTFOUND);
	T_EQ_INT(sp_store_org_get(s, "Acme", &o, &err), SP_OK);
	T_EQ_INT(o.removed, 2000);
	T_CHECK(strcmp(o.domain, "") == 0);
	memset(&l, 0, sizeof(l));
	T_EQ_INT(sp_store_org_each(s, org_name_cb, &l, &err), SP_OK);
	T_CHECK(!has_name(&l, "Acme") && has_name(&l, "Beta"));
	memset(&l, 0, sizeof(l));
	T_EQ_INT(sp_store_org_token_each(s, id, token_cb, &l, &err), SP_OK);
	T_EQ_INT(l.n, 3);
	T_CHECK(l.t[0] == 2000 && l.t[1] == 1200 && l.t[2] == 2000);
	memset(&l, 0, sizeof(l));
	T_EQ_INT(sp_store_org_domain_each(s, id, domain_cb, &l, &err), SP_OK);
	T_EQ_INT(l.n, 0);
	T_EQ_INT(sp_store_org_by_domain(s, "acme.example", &o, &err), SP_ERR_NOTFOUND);
	T_EQ_INT(sp_store_org_domain_add(s, id2, "acme.example", &a, &err), SP_OK);
	T_EQ_INT(sp_store_org_domain_add(s, id, "acme2.example", &a, &err), SP_ERR_NOTFOUND);
	T_EQ_INT(sp_store_org_token_add(s, id, "new", h2, 2100, &a, &err), SP_ERR_NOTFOUND);
	/* Its public keys stay (recipients still check what it signed). */
	T_EQ_INT(sp_store_org_key_get(s, "CCCCCCCCCCC", &kg, &err), SP_OK);
	/* A removed organisation's name stays taken. */
	tok("v3-acme-again", h4);
	T_EQ_INT(sp_store_org_add(s, "Acme", NULL, h4, 2200, NULL, &err), SP_ERR_EXISTS);

	/* The organisation's chain starts with its creation and holds the
	 * records given with org_id = id, in order. */
	memset(&ev, 0, sizeof(ev));
	T_EQ_INT(sp_store_audit_scan(s, id, 0, event_cb, &ev, &err), SP_OK);
	T_CHECK(ev.n >= 2);
	T_CHECK(strcmp(ev.ev[0], "org-add") == 0);
	T_EQ_INT(ev.seq[0], 1);
	for (i = 1; i < ev.n; i++)
		T_EQ_INT(ev.seq[i], i + 1);
	T_CHECK(strcmp(ev.ev[ev.n - 1], "org-set") == 0);
	sp_store_close(s);
}

/* --- schema v3: envelopes ---------------------------------------------- */

/* Deposit envelope id of org with recipients rc (n of them). */
static int
env_put(struct sp_store *s, const char *id, int64_t org, char **rc, size_t n,
    int64_t created, int64_t expires, struct sp_envelope_rec *tmpl)
{
	struct sp_envelope_rec e;
	struct sp_audit a = {created, "deposit", "org", id, NULL, NULL, org};
	struct sp_err err = {{0}};
	int st;

	if (tmpl != NULL)
		e = *tmpl;
	else
		memset(&e, 0, sizeof(e));
	snprintf(e.id, sizeof(e.id), "%s", id);
	e.org_id = org;
	snprintf(e.from, sizeof(e.from), "doc@env.example");
	e.rcpt = rc;
	e.nrcpt = n;
	e.created = created;
	e.expires = expires;
	e.key_id = 1;
	if (e.wrapped_len == 0) {
		memset(e.wrapped, 0x5a, 60);
		e.wrapped_len = 60;
	}
	st = sp_store_envelope_add(s, &e, &a, &err);
	if (st != SP_OK)
		fprintf(stderr, "envelope %s: %s\n", id, err.msg);
	return st;
}

struct env_list {
	char id[16][SP_STORE_ID_MAX + 1];
	size_t nrcpt[16];
	int rstate_ok[16];
	int n;
	int stop_after;
};

static int
env_cb(void *ctx, const struct sp_envelope_rec *e)
{
	struct env_list *l = ctx;

	if (l->n < 16) {
		snprintf(l->id[l->n], sizeof(l->id[0]), "%s", e->id);
		l->nrcpt[l->n] = e->nrcpt;
		l->rstate_ok[l->n] = e->nrcpt == 0 || (e->rstate != NULL && e->rcpt != NULL);
	}
	l->n++;
	return l->stop_after > 0 && l->n >= l->stop_after;
}

struct open_race {
	struct sp_store *s;
	pthread_barrier_t *go;
	int first;
	int st;
};

static void *
open_race_once(void *arg)
{
	struct open_race *p = arg;
	struct sp_audit a = {0, "release", "b@two.example", "ENVV3AAAAAAAAAAAAAAAAA", NULL, NULL, 0};
	struct sp_err err;

	pthread_barrier_wait(p->go);
	do
		p->st = sp_store_envelope_opened(p->s, "ENVV3AAAAAAAAAAAAAAAAA", "b@two.example",
		    3000, &p->first, &a, &err);
	while (p->st == SP_ERR_RETRY);
	return NULL;
}

/* The sender controls of an envelope: its new fields, the seal, per
 * recipient retraction, first opens (also racing), verification answers,
 * listings by organisation and by recipient. */
static void
test_envelopes_v3(void)
{
	struct sp_store *s = open_store(), *s2 = open_store();
	struct sp_err err = {{0}};
	struct sp_envelope_rec t, g;
	struct env_list l;
	struct sp_audit a = {0, "x", "org:EnvOrg", NULL, NULL, NULL, 0};
	struct open_race p[8];
	pthread_t th[8];
	pthread_barrier_t go;
	unsigned char h[SP_SHA256_LEN], hs[SP_SHA256_LEN], cs[SP_SHA256_LEN], sig[64];
	char *rc2[] = {"a@one.example", "b@two.example"};
	char *rc1[] = {"a@one.example"};
	const char *E1 = "ENVV3AAAAAAAAAAAAAAAAA", *E2 = "ENVV3BBBBBBBBBBBBBBBBB";
	const char *E3 = "ENVV3CCCCCCCCCCCCCCCCC", *E4 = "ENVV3DDDDDDDDDDDDDDDDD";
	int64_t org = 0, org2 = 0;
	int first = -1, fails = -1, i, n;

	tok("v3-envorg", h);
	T_EQ_INT(sp_store_org_add(s, "EnvOrg", "env.example", h, 100, &org, &err), SP_OK);
	tok("v3-envorg2", h);
	T_EQ_INT(sp_store_org_add(s, "EnvOrg2", "env2.example", h, 100, &org2, &err), SP_OK);
	a.org_id = org;

	memset(&t, 0, sizeof(t));
	t.kind = SP_ENV_KIND_MESSAGE;
	t.format = 2;
	t.notify_read = 1;
	snprintf(t.level, sizeof(t.level), "high");
	snprintf(t.verify_hash, sizeof(t.verify_hash), "$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA");
	snprintf(t.verify_hint, sizeof(t.verify_hint), "Your pet's name?");
	T_EQ_INT(env_put(s, E1, org, rc2, 2, 1000, 5000, &t), SP_OK);
	T_EQ_INT(sp_store_envelope_get(s, E1, &g, &err), SP_OK);
	T_EQ_INT(g.org_id, org);
	T_CHECK(strcmp(g.org_name, "EnvOrg") == 0 && strcmp(g.org_domain, "env.example") == 0);
	T_EQ_INT(g.kind, SP_ENV_KIND_MESSAGE);
	T_EQ_INT(g.format, 2);
	T_EQ_INT(g.notify_read, 1);
	T_CHECK(strcmp(g.level, "high") == 0);
	T_CHECK(strcmp(g.verify_hash, t.verify_hash) == 0);
	T_CHECK(strcmp(g.verify_hint, "Your pet's name?") == 0);
	T_EQ_INT(g.shredded, 0);
	T_EQ_INT(g.sealed, 0);
	T_CHECK(strcmp(g.kid, "") == 0);
	T_EQ_INT(g.wrapped_len, 60);
	T_EQ_INT(g.nrcpt, 2);
	T_CHECK(g.rstate != NULL);
	if (g.rstate != NULL && g.nrcpt == 2)
		for (i = 0; i < 2; i++)
			T_CHECK(g.rstate[i].retracted == 0 && g.rstate[i].opened == 0 &&
			    g.rstate[i].verified == 0 && g.rstate[i].verify_fails == 0);
	sp_envelope_rec_clear(&g);
	T_CHECK(g.rstate == NULL && g.rcpt == NULL);

	/* Left out: a format 1 message at level medium; a reply. */
	T_EQ_INT(env_put(s, E2, org, rc1, 1, 2000, 0, NULL), SP_OK);
	T_EQ_INT(sp_store_envelope_get(s, E2, &g, &err), SP_OK);
	T_EQ_INT(g.format, 1);
	T_EQ_INT(g.kind, SP_ENV_KIND_MESSAGE);
	T_EQ_INT(g.notify_read, 0);
	T_CHECK(strcmp(g.level, "medium") == 0);
	T_CHECK(strcmp(g.verify_hash, "") == 0 && strcmp(g.verify_hint, "") == 0);
	sp_envelope_rec_clear(&g);
	memset(&t, 0, sizeof(t));
	t.kind = SP_ENV_KIND_REPLY;
	t.format = 1;
	snprintf(t.level, sizeof(t.level), "low");
	T_EQ_INT(env_put(s, E3, org2, rc1, 1, 1500, 4000, &t), SP_OK);
	T_EQ_INT(sp_store_envelope_get(s, E3, &g, &err), SP_OK);
	T_EQ_INT(g.kind, SP_ENV_KIND_REPLY);
	T_CHECK(strcmp(g.level, "low") == 0);
	sp_envelope_rec_clear(&g);

	/* Seal: once; the same values again are fine, others are not. */
	memset(hs, 0x11, sizeof(hs));
	memset(cs, 0x22, sizeof(cs));
	for (i = 0; i < 64; i++)
		sig[i] = (unsigned char)(200 - i);
	a.event = "seal";
	a.envelope = E1;
	T_EQ_INT(sp_store_envelope_seal(s, "ENVV3ZZZZZZZZZZZZZZZZZ", hs, cs, sig, "KIDKIDKIDKI", &a,
	    &err), SP_ERR_NOTFOUND);
	T_EQ_INT(sp_store_envelope_seal(s, E1, hs, cs, sig, "KIDKIDKIDKI", &a, &err), SP_OK);
	T_EQ_INT(sp_store_envelope_seal(s2, E1, hs, cs, sig, "KIDKIDKIDKI", &a, &err), SP_OK);
	cs[5] ^= 1;
	T_EQ_INT(sp_store_envelope_seal(s, E1, hs, cs, sig, "KIDKIDKIDKI", &a, &err), SP_ERR_EXISTS);
	cs[5] ^= 1;
	sig[63] ^= 1;
	T_EQ_INT(sp_store_envelope_seal(s, E1, hs, cs, sig, "KIDKIDKIDKI", &a, &err), SP_ERR_EXISTS);
	sig[63] ^= 1;
	T_EQ_INT(sp_store_envelope_seal(s, E1, hs, cs, sig, "KIDKIDKIDKJ", &a, &err), SP_ERR_EXISTS);
	T_EQ_INT(sp_store_envelope_get(s, E1, &g, &err), SP_OK);
	T_EQ_INT(g.sealed, 1);
	T_EQ_MEM(g.header_sha, hs, sizeof(hs));
	T_EQ_MEM(g.ct_sha, cs, sizeof(cs));
	T_EQ_MEM(g.sig, sig, sizeof(sig));
	T_CHECK(strcmp(g.kid, "KIDKIDKIDKI") == 0);
	sp_envelope_rec_clear(&g);

	/* First opens: exactly one of eight racing releases is first. */
	a.event = "release";
	T_EQ_INT(sp_store_envelope_opened(s, E1, "a@one.example", 2500, &first, &a, &err), SP_OK);
	T_EQ_INT(first, 1);
	T_EQ_INT(sp_store_envelope_opened(s, E1, "a@one.example", 2600, &first, &a, &err), SP_OK);
	T_EQ_INT(first, 0);
	T_EQ_INT(sp_store_envelope_opened(s, E1, "c@three.example", 2600, &first, &a, &err),
	    SP_ERR_NOTFOUND);
	T_EQ_INT(first, 0);
	pthread_barrier_init(&go, NULL, 8);
	for (i = 0; i < 8; i++) {
		p[i] = (struct open_race){i % 2 ? s : s2, &go, -1, -1};
		pthread_create(&th[i], NULL, open_race_once, &p[i]);
	}
	for (n = 0, i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		T_EQ_INT(p[i].st, SP_OK);
		n += p[i].first;
	}
	pthread_barrier_destroy(&go);
	T_EQ_INT(n, 1);
	T_EQ_INT(sp_store_envelope_get(s, E1, &g, &err), SP_OK);
	if (g.nrcpt == 2 && g.rstate != NULL) {
		T_EQ_INT(g.rstate[0].opened, 2500);
		T_EQ_INT(g.rstate[1].opened, 3000);
	}
	sp_envelope_rec_clear(&g);

	/* Verification answers. */
	a.event = "verify-failed";
	T_EQ_INT(sp_store_envelope_verify_result(s, E1, "b@two.example", 0, &fails, &a, &err), SP_OK);
	T_EQ_INT(fails, 1);
	T_EQ_INT(sp_store_envelope_verify_result(s2, E1, "b@two.example", 0, &fails, &a, &err), SP_OK);
	T_EQ_INT(fails, 2);
	a.event = "verified";
	T_EQ_INT(sp_store_envelope_verify_result(s, E1, "b@two.example", 1, &fails, &a, &err), SP_OK);
	T_EQ_INT(fails, 2);
	T_EQ_INT(sp_store_envelope_verify_result(s, E1, "c@three.example", 0, &fails, &a, &err),
	    SP_ERR_NOTFOUND);
	T_EQ_INT(sp_store_envelope_verify_result(s, "ENVV3ZZZZZZZZZZZZZZZZZ", "b@two.example", 0,
	    &fails, &a, &err), SP_ERR_NOTFOUND);
	T_EQ_INT(sp_store_envelope_get(s, E1, &g, &err), SP_OK);
	if (g.nrcpt == 2 && g.rstate != NULL) {
		T_EQ_INT(g.rstate[0].verified, 0);
		T_EQ_INT(g.rstate[0].verify_fails, 0);
		T_EQ_INT(g.rstate[1].verified, 1);
		T_EQ_INT(g.rstate[1].verify_fails, 2);
	}
	sp_envelope_rec_clear(&g);

	/* Listing for a recipient: E1 and E2 for a@, E1 for b@ (E3 is
	 * another organisation's reply to a@, expiring at 4000). */
	memset(&l, 0, sizeof(l));
	T_EQ_INT(sp_store_envelope_each_for(s, "a@one.example", 3000, env_cb, &l, &err), SP_OK);
	T_EQ_INT(l.n, 3);
	T_CHECK(strcmp(l.id[0], E1) == 0 && strcmp(l.id[1], E3) == 0 && strcmp(l.id[2], E2) == 0);
	T_EQ_INT(l.nrcpt[0], 2);
	T_CHECK(l.rstate_ok[0] && l.rstate_ok[1] && l.rstate_ok[2]);
	memset(&l, 0, sizeof(l));
	T_EQ_INT(sp_store_envelope_each_for(s, "a@one.example", 4000, env_cb, &l, &err), SP_OK);
	T_EQ_INT(l.n, 2);	/* E3 expired at 4000 */
	memset(&l, 0, sizeof(l));
	T_EQ_INT(sp_store_envelope_each_for(s, "nobody@one.example", 3000, env_cb, &l, &err), SP_OK);
	T_EQ_INT(l.n, 0);

	/* Retraction for one recipient, then the whole envelope. */
	a.event = "retract";
	T_EQ_INT(sp_store_envelope_set_retracted(s, E1, "b@two.example", 1, &a, &err), SP_OK);
	T_EQ_INT(sp_store_envelope_set_retracted(s, E1, "c@three.example", 1, &a, &err),
	    SP_ERR_NOTFOUND);
	T_EQ_INT(sp_store_envelope_set_retracted(s, "ENVV3ZZZZZZZZZZZZZZZZZ", NULL, 1, &a, &err),
	    SP_ERR_NOTFOUND);
	T_EQ_INT(sp_store_envelope_get(s, E1, &g, &err), SP_OK);
	T_EQ_INT(g.retracted, 0);
	if (g.nrcpt == 2 && g.rstate != NULL) {
		T_EQ_INT(g.rstate[0].retracted, 0);
		T_EQ_INT(g.rstate[1].retracted, 1);
	}
	sp_envelope_rec_clear(&g);
	memset(&l, 0, sizeof(l));
	T_EQ_INT(sp_store_envelope_each_for(s, "b@two.example", 3000, env_cb, &l, &err), SP_OK);
	T_EQ_INT(l.n, 0);
	memset(&l, 0, sizeof(l));
	T_EQ_INT(sp_store_envelope_each_for(s, "a@one.example", 3000, env_cb, &l, &err), SP_OK);
	T_EQ_INT(l.n, 3);
	T_EQ_INT(sp_store_envelope_set_retracted(s, E1, NULL, 1, &a, &err), SP_OK);
	T_EQ_INT(sp_store_envelope_get(s, E1, &g, &err), SP_OK);
	T_EQ_INT(g.retracted, 1);
	sp_envelope_rec_clear(&g);
	memset(&l, 0, sizeof(l));
	T_EQ_INT(sp_store_envelope_each_for(s, "a@one.example", 3000, env_cb, &l, &err), SP_OK);
	T_EQ_INT(l.n, 2);
	T_CHECK(strcmp(l.id[0], E3) == 0 && strcmp(l.id[1], E2) == 0);
	a.event = "unretract";
	T_EQ_INT(sp_store_envelope_set_retracted(s, E1, NULL, 0, &a, &err), SP_OK);
	T_EQ_INT(sp_store_envelope_set_retracted(s, E1, "B@two.example", 0, &a, &err), SP_OK);
	T_EQ_INT(sp_store_envelope_get(s, E1, &g, &err), SP_OK);
	T_EQ_INT(g.retracted, 0);
	if (g.nrcpt == 2 && g.rstate != NULL)
		T_EQ_INT(g.rstate[1].retracted, 0);
	sp_envelope_rec_clear(&g);
	memset(&l, 0, sizeof(l));
	T_EQ_INT(sp_store_envelope_each_for(s, "b@two.example", 3000, env_cb, &l, &err), SP_OK);
	T_EQ_INT(l.n, 1);

	/* Listing by organisation, since a time, oldest first, stopping. */
	T_EQ_INT(env_put(s, E4, org, rc1, 1, 2000, 0, NULL), SP_OK);
	memset(&l, 0, sizeof(l));
	T_EQ_INT(sp_store_envelope_each(s, org, 0, env_cb, &l, &err), SP_OK);
	T_EQ_INT(l.n, 3);
	T_CHECK(strcmp(l.id[0], E1) == 0 && strcmp(l.id[1], E2) == 0 && strcmp(l.id[2], E4) == 0);
	T_CHECK(l.rstate_ok[0] && l.nrcpt[0] == 2);
	memset(&l, 0, sizeof(l));
	T_EQ_INT(sp_store_envelope_each(s, org, 1001, env_cb, &l, &err), SP_OK);
	T_EQ_INT(l.n, 2);
	memset(&l, 0, sizeof(l));
	T_EQ_INT(sp_store_envelope_each(s, org2, 0, env_cb, &l, &err), SP_OK);
	T_EQ_INT(l.n, 1);
	T_CHECK(strcmp(l.id[0], E3) == 0);
	memset(&l, 0, sizeof(l));
	l.stop_after = 1;
	T_EQ_INT(sp_store_envelope_each(s, org, 0, env_cb, &l, &err), SP_OK);
	T_EQ_INT(l.n, 1);
	sp_store_close(s);
	sp_store_close(s2);
}

/* Many envelopes: the listing reads them in batches, in order, and lets
 * its callback write to the store. */
struct env_write_ctx {
	struct sp_store *s;
	int n;
	int bad;
	int64_t last;
};

static int
env_write_cb(void *ctx, const struct sp_envelope_rec *e)
{
	struct env_write_ctx *c = ctx;
	struct sp_audit a = {0, "listed", NULL, e->id, NULL, NULL, e->org_id};
	struct sp_err err;
	int first = 0;

	if (e->created < c->last)
		c->bad++;
	c->last = e->created;
	if (sp_store_envelope_opened(c->s, e->id, "many@one.example", 7000, &first, &a, &err)
	    != SP_OK || first != 1)
		c->bad++;
	c->n++;
	return 0;
}

static void
test_envelopes_many(void)
{
	struct sp_store *s = open_store();
	struct sp_err err = {{0}};
	struct env_write_ctx c = {s, 0, 0, 0};
	unsigned char h[SP_SHA256_LEN];
	char *rc1[] = {"many@one.example"};
	char id[SP_STORE_ID_MAX + 1];
	int64_t org = 0;
	int i;

	tok("v3-many", h);
	T_EQ_INT(sp_store_org_add(s, "ManyOrg", "many.example", h, 100, &org, &err), SP_OK);
	for (i = 0; i < 150; i++) {
		snprintf(id, sizeof(id), "MANY%018d", 149 - i);
		T_EQ_INT(env_put(s, id, org, rc1, 1, 5000 + i / 3, 0, NULL), SP_OK);
	}
	T_EQ_INT(sp_store_envelope_each(s, org, 0, env_write_cb, &c, &err), SP_OK);
	T_EQ_INT(c.n, 150);
	T_EQ_INT(c.bad, 0);
	c.n = 0;
	c.last = 0;
	T_EQ_INT(sp_store_envelope_each_for(s, "many@one.example", 6000, env_write_cb, &c, &err),
	    SP_OK);
	T_EQ_INT(c.n, 150);
	T_EQ_INT(c.bad, 150);	/* opened already: none is a first open */
	sp_store_close(s);
}

/* 1 when the n bytes of pat occur in the file at path (0 also when the
 * file does not exist). */
static int
file_has(const char *path, const void *pat, size_t n)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = NULL;
	size_t len = 0, cap = 0, r;
	int found = 0;

	if (f == NULL)
		return 0;
	for (;;) {
		if (len + 65536 > cap) {
			unsigned char *nb = realloc(buf, cap = len + 65536 * 4);

			if (nb == NULL)
				break;
			buf = nb;
		}
		if ((r = fread(buf + len, 1, cap - len, f)) == 0)
			break;
		len += r;
	}
	fclose(f);
	found = buf != NULL && memmem(buf, len, pat, n) != NULL;
	free(buf);
	return found;
}

static int
wrapped_seen_cb(void *ctx, const char *ref, uint32_t key_id, const unsigned char *w, size_t len)
{
	if (strncmp(ref, "SHRED", 5) == 0)
		(*(int *)ctx)++;
	(void)key_id;
	(void)w;
	(void)len;
	return 0;
}

/* Crypto-shredding of expired envelopes: the key part is gone from the
 * record and (SQLite) from every byte of the database and its WAL. */
static void
test_shred(void)
{
	static const char pattern[41] = "SHRED-ME:0123456789abcdefghijklmnopqrstu";
	struct sp_store *s = open_store();
	struct sp_err err = {{0}};
	struct sp_envelope_rec t, g;
	struct env_list l;
	struct event_list ev;
	unsigned char h[SP_SHA256_LEN];
	char *rc1[] = {"shred@one.example"};
	char db_path[300], wal_path[320];
	const int64_t T0 = 1800000000;
	int64_t org = 0;
	int n = -1, seen = 0, i;

	snprintf(db_path, sizeof(db_path), "%s/keyd.sqlite", dir);
	snprintf(wal_path, sizeof(wal_path), "%s/keyd.sqlite-wal", dir);
	tok("v3-shred", h);
	T_EQ_INT(sp_store_org_add(s, "ShredOrg", "shred.example", h, 100, &org, &err), SP_OK);
	memset(&t, 0, sizeof(t));
	memcpy(t.wrapped, pattern, 40);
	t.wrapped_len = 40;
	T_EQ_INT(env_put(s, "SHRED1AAAAAAAAAAAAAAAA", org, rc1, 1, 1000, T0 + 5000, &t), SP_OK);
	memset(t.wrapped, 'k', 40);
	T_EQ_INT(env_put(s, "SHRED2AAAAAAAAAAAAAAAA", org, rc1, 1, 1000, 0, &t), SP_OK);
	T_EQ_INT(env_put(s, "SHRED3AAAAAAAAAAAAAAAA", org, rc1, 1, 1000, T0 + 6000, &t), SP_OK);
	T_EQ_INT(env_put(s, "SHRED4AAAAAAAAAAAAAAAA", org, rc1, 1, 1000, T0 + 6000, &t), SP_OK);
	if (!is_pg())	/* the check below can see the bytes */
		T_CHECK(file_has(db_path, pattern, 40) || file_has(wal_path, pattern, 40));

	/* Earlier tests' envelopes expired long before T0: shredded first. */
	T_EQ_INT(sp_store_envelope_shred_expired(s, T0 + 4999, 0, &n, &err), SP_OK);
	T_EQ_INT(sp_store_envelope_shred_expired(s, T0 + 4999, 10, &n, &err), SP_OK);
	T_EQ_INT(n, 0);
	T_EQ_INT(sp_store_envelope_shred_expired(s, T0 + 5000, 10, &n, &err), SP_OK);
	T_EQ_INT(n, 1);
	T_EQ_INT(sp_store_envelope_get(s, "SHRED1AAAAAAAAAAAAAAAA", &g, &err), SP_OK);
	T_EQ_INT(g.wrapped_len, 0);
	T_EQ_INT(g.key_id, 0);
	T_EQ_INT(g.shredded, T0 + 5000);
	T_EQ_INT(g.nrcpt, 1);
	sp_envelope_rec_clear(&g);
	T_EQ_INT(sp_store_envelope_get(s, "SHRED2AAAAAAAAAAAAAAAA", &g, &err), SP_OK);
	T_EQ_INT(g.wrapped_len, 40);
	T_EQ_INT(g.shredded, 0);
	sp_envelope_rec_clear(&g);
	if (!is_pg())	/* not even a part of them */
		for (i = 0; i + 10 <= 40; i++) {
			T_CHECK(!file_has(db_path, pattern + i, 10));
			T_CHECK(!file_has(wal_path, pattern + i, 10));
		}
	/* One "shred" record in the organisation's chain. */
	memset(&ev, 0, sizeof(ev));
	T_EQ_INT(sp_store_audit_scan(s, org, 0, event_cb, &ev, &err), SP_OK);
	T_CHECK(ev.n >= 2 && strcmp(ev.ev[ev.n - 1], "shred") == 0);
	T_EQ_INT(sp_store_envelope_shred_expired(s, T0 + 5000, 10, &n, &err), SP_OK);
	T_EQ_INT(n, 0);
	/* A shredded envelope opens for nobody, cannot come back, and is not
	 * offered for rewrapping. */
	memset(&l, 0, sizeof(l));
	T_EQ_INT(sp_store_envelope_each_for(s, "shred@one.example", T0 + 4000, env_cb, &l, &err), SP_OK);
	T_EQ_INT(l.n, 3);
	T_CHECK(strcmp(l.id[0], "SHRED1AAAAAAAAAAAAAAAA") != 0);
	T_EQ_INT(sp_store_envelope_set_retracted(s, "SHRED1AAAAAAAAAAAAAAAA", NULL, 0, NULL, &err),
	    SP_ERR_EXPIRED);
	T_EQ_INT(sp_store_envelope_wrapped_each(s, 1000, wrapped_seen_cb, &seen, &err), SP_OK);
	T_EQ_INT(seen, 3);
	/* A limit. */
	T_EQ_INT(sp_store_envelope_shred_expired(s, T0 + 7000, 1, &n, &err), SP_OK);
	T_EQ_INT(n, 1);
	T_EQ_INT(sp_store_envelope_shred_expired(s, T0 + 7000, 1, &n, &err), SP_OK);
	T_EQ_INT(n, 1);
	T_EQ_INT(sp_store_envelope_shred_expired(s, T0 + 7000, 1, &n, &err), SP_OK);
	T_EQ_INT(n, 0);
	memset(&ev, 0, sizeof(ev));
	T_EQ_INT(sp_store_audit_scan(s, org, 0, event_cb, &ev, &err), SP_OK);
	T_CHECK(ev.n >= 3 && strcmp(ev.ev[ev.n - 1], "shred") == 0 &&
	    strcmp(ev.ev[ev.n - 2], "shred") == 0 && strcmp(ev.ev[ev.n - 3], "shred") == 0);
	T_EQ_INT(sp_store_audit_verify(s, NULL, NULL, &err), SP_OK);
	sp_store_close(s);
}

/* --- schema v3: audit chains --------------------------------------------- */

struct chain_check {
	int64_t chain;
	int64_t n;		/* records of chain */
	int64_t all;		/* records of every chain */
	int64_t last_seq;
	unsigned char last[SP_SHA256_LEN];
	int bad;
	int zero_time;
};

static int
chain_check_cb(void *ctx, const struct sp_audit_row *r)
{
	struct chain_check *c = ctx;
	unsigned char h[SP_SHA256_LEN];

	c->all++;
	if (r->chain != c->chain)
		return 0;
	if (r->seq != c->last_seq + 1 || memcmp(r->prev, c->last, SP_SHA256_LEN) != 0)
		c->bad++;
	sp_audit_chain_hash(r->prev, r->chain, r->seq, &r->a, h);
	if (memcmp(h, r->hash, SP_SHA256_LEN) != 0)
		c->bad++;
	if (r->a.time == 0)
		c->zero_time++;
	if (r->a.org_id != r->chain)
		c->bad++;
	c->n++;
	c->last_seq = r->seq;
	memcpy(c->last, r->hash, SP_SHA256_LEN);
	return 0;
}

struct head_check {
	int64_t chain;
	int64_t seq;
	unsigned char hash[SP_SHA256_LEN];
	int chains;
};

static int
head_cb(void *ctx, int64_t chain, int64_t seq, const unsigned char hash[SP_SHA256_LEN])
{
	struct head_check *h = ctx;

	h->chains++;
	if (chain == h->chain) {
		h->seq = seq;
		memcpy(h->hash, hash, SP_SHA256_LEN);
	}
	return 0;
}

struct audit_par {
	struct sp_store *s;
	int64_t chain;
	pthread_barrier_t *go;
	int ok;
};

static void *
audit_many(void *arg)
{
	struct audit_par *p = arg;
	struct sp_err err;
	int i, st;

	pthread_barrier_wait(p->go);
	for (i = 0; i < 25; i++) {
		struct sp_audit a = {0, "chain-par", "thread", NULL, NULL, i % 2 ? "odd" : NULL,
		    i % 3 ? p->chain : 0};

		do
			st = sp_store_audit(p->s, &a, &err);
		while (st == SP_ERR_RETRY);
		if (st == SP_OK)
			p->ok++;
	}
	return NULL;
}

static int
org_id_cb(void *ctx, const struct sp_audit *a)
{
	int64_t *v = ctx;

	if (a->event != NULL && strcmp(a->event, "chain-mark") == 0)
		*v = a->org_id;
	return 0;
}

/* Appends from many threads through two handles keep every chain whole;
 * heads, scans by chain and time, and verification agree. */
static void
test_audit_chain(void)
{
	struct sp_store *s = open_store(), *s2 = open_store();
	struct sp_err err = {{0}};
	struct chain_check c;
	struct head_check hd;
	struct audit_par p[6];
	struct event_list ev;
	struct sp_audit_row bad;
	pthread_t th[6];
	pthread_barrier_t go;
	unsigned char h[SP_SHA256_LEN];
	int64_t org = 0, n = -1, seen = -1;
	int i;

	tok("v3-chain", h);
	T_EQ_INT(sp_store_org_add(s, "ChainOrg", NULL, h, 100, &org, &err), SP_OK);
	pthread_barrier_init(&go, NULL, 6);
	for (i = 0; i < 6; i++) {
		p[i] = (struct audit_par){i % 2 ? s : s2, org, &go, 0};
		pthread_create(&th[i], NULL, audit_many, &p[i]);
	}
	for (i = 0; i < 6; i++) {
		pthread_join(th[i], NULL);
		T_EQ_INT(p[i].ok, 25);
	}
	pthread_barrier_destroy(&go);
	{
		struct sp_audit a = {0, "chain-mark", NULL, NULL, NULL, NULL, org};

		T_EQ_INT(sp_store_audit(s, &a, &err), SP_OK);
	}
	T_EQ_INT(sp_store_audit_each(s, "chain-mark", org_id_cb, &seen, &err), SP_OK);
	T_EQ_INT(seen, org);

	/* The organisation's chain: 1 (org-add) + 6 * 16 + 1 records. */
	memset(&c, 0, sizeof(c));
	c.chain = org;
	T_EQ_INT(sp_store_audit_scan(s2, -1, 0, chain_check_cb, &c, &err), SP_OK);
	T_EQ_INT(c.n, 1 + 6 * 16 + 1);
	T_EQ_INT(c.bad, 0);
	T_EQ_INT(c.zero_time, 0);	/* the time of "now" is stored, and hashed */
	memset(&hd, 0, sizeof(hd));
	hd.chain = org;
	T_EQ_INT(sp_store_audit_heads(s, head_cb, &hd, &err), SP_OK);
	T_EQ_INT(hd.seq, c.last_seq);
	T_EQ_MEM(hd.hash, c.last, SP_SHA256_LEN);
	T_CHECK(hd.chains >= 2);
	/* The global chain is whole too. */
	memset(&c, 0, sizeof(c));
	c.chain = 0;
	T_EQ_INT(sp_store_audit_scan(s, 0, 0, chain_check_cb, &c, &err), SP_OK);
	T_CHECK(c.n >= 6 * 9);
	T_EQ_INT(c.all, c.n);		/* only chain 0 was passed */
	T_EQ_INT(c.bad, 0);
	memset(&hd, 0, sizeof(hd));
	T_EQ_INT(sp_store_audit_heads(s, head_cb, &hd, &err), SP_OK);
	T_EQ_INT(hd.seq, c.last_seq);

	/* Since a time. */
	{
		struct sp_audit a1 = {10, "old-one", NULL, NULL, NULL, NULL, 424242};
		struct sp_audit a2 = {20, "new-one", NULL, NULL, NULL, NULL, 424242};

		T_EQ_INT(sp_store_audit(s, &a1, &err), SP_OK);
		T_EQ_INT(sp_store_audit(s, &a2, &err), SP_OK);
		memset(&ev, 0, sizeof(ev));
		T_EQ_INT(sp_store_audit_scan(s, 424242, 15, event_cb, &ev, &err), SP_OK);
		T_EQ_INT(ev.n, 1);
		T_CHECK(strcmp(ev.ev[0], "new-one") == 0);
		T_EQ_INT(ev.seq[0], 2);
	}

	T_EQ_INT(sp_store_audit_verify(s, &bad, &n, &err), SP_OK);
	memset(&c, 0, sizeof(c));
	c.chain = -2;
	T_EQ_INT(sp_store_audit_scan(s, -1, 0, chain_check_cb, &c, &err), SP_OK);
	T_EQ_INT(n, c.all);
	T_CHECK(n > 150);
	sp_store_close(s);
	sp_store_close(s2);
}

static int sql_exec(const char *path, const char *sql);

/* SQLite: a record deleted, edited, or two swapped behind the store's
 * back is found, and named. */
static int
raw_sql(const char *sql)
{
	char path[300];

	snprintf(path, sizeof(path), "%s/keyd.sqlite", dir);
	return sql_exec(path, sql);
}

static int64_t
raw_id(int64_t chain, int64_t seq)
{
	char path[300];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int64_t id = -1;

	snprintf(path, sizeof(path), "%s/keyd.sqlite", dir);
	if (sqlite3_open(path, &db) == SQLITE_OK && sqlite3_prepare_v2(db,
	    "SELECT id FROM audit WHERE chain = ? AND seq = ?", -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, chain);
		sqlite3_bind_int64(st, 2, seq);
		if (sqlite3_step(st) == SQLITE_ROW)
			id = sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return id;
}

static void
expect_bad(struct sp_store *s, int64_t rowid, int64_t seq, const char *what)
{
	struct sp_err err = {{0}};
	struct sp_audit_row bad;
	char name[64];

	memset(&bad, 0, sizeof(bad));
	T_EQ_INT(sp_store_audit_verify(s, &bad, NULL, &err), SP_ERR_INVALID);
	T_EQ_INT(bad.rowid, rowid);
	T_EQ_INT(bad.chain, 777777);
	T_EQ_INT(bad.seq, seq);
	snprintf(name, sizeof(name), "audit record %lld ", (long long)rowid);
	T_CHECK(strstr(err.msg, name) != NULL);
	T_CHECK(strstr(err.msg, what) != NULL);
	if (strstr(err.msg, name) == NULL || strstr(err.msg, what) == NULL)
		fprintf(stderr, "verify said: %s\n", err.msg);
}

static void
test_audit_tamper(void)
{
	struct sp_store *s = open_store();
	struct sp_err err = {{0}};
	int64_t id2, id3, id4;
	int i;

	for (i = 1; i <= 5; i++) {
		char ev[16], det[16];
		struct sp_audit a = {1000 + i, ev, "org:Tamper", NULL, "192.0.2.1", det, 777777};

		snprintf(ev, sizeof(ev), "e%d", i);
		snprintf(det, sizeof(det), "d%d", i);
		T_EQ_INT(sp_store_audit(s, &a, &err), SP_OK);
	}
	T_EQ_INT(sp_store_audit_verify(s, NULL, NULL, &err), SP_OK);
	id2 = raw_id(777777, 2);
	id3 = raw_id(777777, 3);
	id4 = raw_id(777777, 4);
	T_CHECK(id2 > 0 && id3 > id2 && id4 > id3);

	/* An edited detail. */
	T_EQ_INT(raw_sql("UPDATE audit SET detail = 'nothing happened' WHERE chain = 777777"
	    " AND seq = 3"), SQLITE_OK);
	expect_bad(s, id3, 3, "changed");
	T_EQ_INT(raw_sql("UPDATE audit SET detail = 'd3' WHERE chain = 777777 AND seq = 3"),
	    SQLITE_OK);
	T_EQ_INT(sp_store_audit_verify(s, NULL, NULL, &err), SP_OK);

	/* Two records' contents swapped. */
	T_EQ_INT(raw_sql("UPDATE audit SET event = CASE seq WHEN 2 THEN 'e3' ELSE 'e2' END,"
	    " detail = CASE seq WHEN 2 THEN 'd3' ELSE 'd2' END, time = CASE seq WHEN 2"
	    " THEN 1003 ELSE 1002 END WHERE chain = 777777 AND seq IN (2, 3)"), SQLITE_OK);
	expect_bad(s, id2, 2, "changed");
	T_EQ_INT(raw_sql("UPDATE audit SET event = CASE seq WHEN 2 THEN 'e2' ELSE 'e3' END,"
	    " detail = CASE seq WHEN 2 THEN 'd2' ELSE 'd3' END, time = CASE seq WHEN 2"
	    " THEN 1002 ELSE 1003 END WHERE chain = 777777 AND seq IN (2, 3)"), SQLITE_OK);
	T_EQ_INT(sp_store_audit_verify(s, NULL, NULL, &err), SP_OK);

	/* Two whole rows swapped (their order changed). */
	T_EQ_INT(raw_sql("CREATE TABLE audit_keep AS SELECT * FROM audit WHERE chain = 777777"
	    " AND seq IN (2, 3);"
	    "DELETE FROM audit WHERE chain = 777777 AND seq IN (2, 3);"
	    "INSERT INTO audit SELECT CASE seq WHEN 2 THEN (SELECT id FROM audit_keep WHERE"
	    " seq = 3) ELSE (SELECT id FROM audit_keep WHERE seq = 2) END, time, event, actor,"
	    " envelope_id, client, detail, chain, seq, prev, hash FROM audit_keep;"), SQLITE_OK);
	expect_bad(s, id2, 3, "missing");
	T_EQ_INT(raw_sql("DELETE FROM audit WHERE chain = 777777 AND seq IN (2, 3);"
	    "INSERT INTO audit SELECT * FROM audit_keep; DROP TABLE audit_keep;"), SQLITE_OK);
	T_EQ_INT(sp_store_audit_verify(s, NULL, NULL, &err), SP_OK);

	/* A deleted record: found at the one after the gap. */
	T_EQ_INT(raw_sql("CREATE TABLE audit_keep AS SELECT * FROM audit WHERE chain = 777777"
	    " AND seq = 3; DELETE FROM audit WHERE chain = 777777 AND seq = 3"), SQLITE_OK);
	expect_bad(s, id4, 4, "missing");
	T_EQ_INT(raw_sql("INSERT INTO audit SELECT * FROM audit_keep; DROP TABLE audit_keep;"),
	    SQLITE_OK);
	T_EQ_INT(sp_store_audit_verify(s, NULL, NULL, &err), SP_OK);

	/* Appending goes on after the checks. */
	{
		struct sp_audit a = {0, "e6", NULL, NULL, NULL, NULL, 777777};

		T_EQ_INT(sp_store_audit(s, &a, &err), SP_OK);
	}
	T_EQ_INT(sp_store_audit_verify(s, NULL, NULL, &err), SP_OK);
	sp_store_close(s);
}

static void
test_accounts(void)
{
	struct sp_store *s = open_store();
	struct sp_err err = {{0}};
	struct sp_account acc, got;
	struct sp_audit a = {0, "recipient-add", "admin", NULL, NULL, NULL, 0};

	fill_account(&acc, "pat@example.org", "$argon2id$fake");
	acc.created = 700;
	T_EQ_INT(sp_store_account_create(s, &acc, &a, &err), SP_OK);
	T_EQ_INT(sp_store_account_create(s, &acc, &a, &err), SP_ERR_EXISTS);
	T_EQ_INT(audit_count(s, "recipient-add"), 1);
	T_EQ_INT(sp_store_account_get(s, "pat@example.org", &got, &err), SP_OK);
	T_CHECK(strcmp(got.first_name, "Pat") == 0 && strcmp(got.phrase, "blue kettle") == 0);
	T_EQ_INT(got.activated, 1);
	T_EQ_INT(got.question[1], 4);
	T_EQ_INT(got.created, 700);
	T_EQ_INT(got.pw_changed, 700);
	T_EQ_INT(got.totp_wrapped_len, 0);
	T_EQ_INT(got.npasskeys, 0);
	T_EQ_INT(got.nrecovery, 0);
	T_EQ_INT(sp_store_account_get(s, "nobody@example.org", &got, &err), SP_ERR_NOTFOUND);

	/* Failed logins count and are audited, also for unknown accounts. */
	a.event = "login-failed";
	T_EQ_INT(sp_store_login_failed(s, "pat@example.org", &a, &err), SP_OK);
	T_EQ_INT(sp_store_login_failed(s, "nobody@example.org", &a, &err), SP_OK);
	T_EQ_INT(sp_store_account_get(s, "pat@example.org", &got, &err), SP_OK);
	T_EQ_INT(got.failed_logins, 1);
	T_EQ_INT(audit_count(s, "login-failed"), 2);
	sp_store_close(s);
}

/* Schema v5: a short sign-up's pending registration carries
 * profile_todo into its account; profile_set fills the profile in and
 * clears it, leaving the password as it was. */
static void
test_profile_todo(void)
{
	struct sp_store *s = open_store();
	struct sp_err err = {{0}};
	struct sp_account acc, got;
	struct sp_audit a = {0, "signup", "kim@todo.example", NULL, "127.0.0.1", NULL, 0};
	unsigned char t1[SP_SHA256_LEN];
	char email[SP_STORE_EMAIL_MAX + 1];

	tok("todo1", t1);
	memset(&acc, 0, sizeof(acc));
	snprintf(acc.email, sizeof(acc.email), "kim@todo.example");
	snprintf(acc.pw_hash, sizeof(acc.pw_hash), "$argon2id$short");
	snprintf(acc.language, sizeof(acc.language), "en");
	acc.created = 1000;
	acc.profile_todo = 1;
	T_EQ_INT(sp_store_pending_add(s, &acc, t1, 5000, &a, &err), SP_OK);
	T_EQ_INT(sp_store_pending_by_token(s, t1, 4000, &got, &err), SP_OK);
	a.event = "activate";
	T_EQ_INT(sp_store_pending_activate(s, t1, 4000, email, &a, &err), SP_OK);
	T_EQ_INT(sp_store_account_get(s, "kim@todo.example", &got, &err), SP_OK);
	T_EQ_INT(got.profile_todo, 1);
	T_EQ_INT(got.question[0], 0);

	fill_account(&acc, "kim@todo.example", "$argon2id$ignored");
	snprintf(acc.phrase, sizeof(acc.phrase), "blue kettle");
	a.event = "profile-completed";
	T_EQ_INT(sp_store_profile_set(s, &acc, &a, &err), SP_OK);
	T_EQ_INT(sp_store_account_get(s, "kim@todo.example", &got, &err), SP_OK);
	T_EQ_INT(got.profile_todo, 0);
	T_CHECK(strcmp(got.pw_hash, "$argon2id$short") == 0);
	T_CHECK(strcmp(got.phrase, "blue kettle") == 0);
	T_EQ_INT(got.question[0], acc.question[0]);
	T_CHECK(strcmp(got.answer_hash[2], acc.answer_hash[2]) == 0);
	T_CHECK(strcmp(got.first_name, acc.first_name) == 0);
	T_EQ_INT(audit_count(s, "profile-completed"), 1);
	/* An account made by an administrator owes nothing. */
	fill_account(&acc, "ada@todo.example", "$argon2id$admin");
	T_EQ_INT(sp_store_account_create(s, &acc, NULL, &err), SP_OK);
	T_EQ_INT(sp_store_account_get(s, "ada@todo.example", &got, &err), SP_OK);
	T_EQ_INT(got.profile_todo, 0);
	snprintf(acc.email, sizeof(acc.email), "nobody@todo.example");
	T_EQ_INT(sp_store_profile_set(s, &acc, NULL, &err), SP_ERR_NOTFOUND);
	sp_store_close(s);
}

static void
test_pending(void)
{
	struct sp_store *s = open_store();
	struct sp_err err = {{0}};
	struct sp_account acc, got;
	struct sp_audit a = {0, "register", "lee@example.org", NULL, "127.0.0.1", NULL, 0};
	struct sp_token_rec tr;
	unsigned char t1[SP_SHA256_LEN], t2[SP_SHA256_LEN], t3[SP_SHA256_LEN], tx[SP_SHA256_LEN];
	char email[SP_STORE_EMAIL_MAX + 1], name[32];
	int i, n;

	tok("reg1", t1);
	tok("reg2", t2);
	tok("reg3", t3);
	tok("nosuch", tx);
	/* Two registrations of one address: someone else's first, the owner's second. */
	fill_account(&acc, "lee@example.org", "$argon2id$intruder");
	acc.created = 1000;
	memset(acc.bind_hash, 0xaa, sizeof(acc.bind_hash));
	T_EQ_INT(sp_store_pending_add(s, &acc, t1, 5000, &a, &err), SP_OK);
	fill_account(&acc, "lee@example.org", "$argon2id$owner");
	acc.created = 1100;
	memset(acc.bind_hash, 0xbb, sizeof(acc.bind_hash));
	T_EQ_INT(sp_store_pending_add(s, &acc, t2, 5000, &a, &err), SP_OK);
	T_EQ_INT(audit_count(s, "register"), 2);
	/* Neither is an account yet. */
	T_EQ_INT(sp_store_account_get(s, "lee@example.org", &got, &err), SP_ERR_NOTFOUND);

	T_EQ_INT(sp_store_pending_by_token(s, t1, 4000, &got, &err), SP_OK);
	T_CHECK(strcmp(got.email, "lee@example.org") == 0);
	T_CHECK(strcmp(got.pw_hash, "$argon2id$intruder") == 0);
	T_EQ_INT(got.activated, 0);
	T_EQ_INT(got.bind_hash[0], 0xaa);
	T_CHECK(got.pending_id > 0);
	T_EQ_INT(sp_store_pending_by_token(s, t2, 4000, &got, &err), SP_OK);
	T_CHECK(strcmp(got.pw_hash, "$argon2id$owner") == 0);
	T_EQ_INT(got.bind_hash[31], 0xbb);
	T_EQ_INT(got.created, 1100);
	T_EQ_INT(sp_store_pending_by_token(s, t2, 5000, &got, &err), SP_ERR_EXPIRED);
	T_EQ_INT(sp_store_pending_by_token(s, tx, 4000, &got, &err), SP_ERR_NOTFOUND);
	T_EQ_INT(sp_store_token_peek(s, SP_TOKEN_ACTIVATE, t1, 4000, &tr, &err), SP_OK);
	T_EQ_INT(tr.kind, SP_TOKEN_ACTIVATE);
	T_CHECK(strcmp(tr.email, "lee@example.org") == 0);
	T_EQ_INT(tr.expires, 5000);

	/* Activating the second makes it the account with its own password;
	 * the first registration and its token are gone. */
	a.event = "activate";
	a.actor = NULL;
	T_EQ_INT(sp_store_pending_activate(s, t2, 5000, email, &a, &err), SP_ERR_EXPIRED);
	T_EQ_INT(sp_store_pending_activate(s, tx, 4000, email, &a, &err), SP_ERR_NOTFOUND);
	T_EQ_INT(sp_store_pending_activate(s, t2, 4000, email, &a, &err), SP_OK);
	T_CHECK(strcmp(email, "lee@example.org") == 0);
	T_EQ_INT(sp_store_account_get(s, "lee@example.org", &got, &err), SP_OK);
	T_CHECK(strcmp(got.pw_hash, "$argon2id$owner") == 0);
	T_EQ_INT(got.activated, 1);
	T_EQ_INT(got.pw_changed, 1100);
	T_EQ_INT(sp_store_pending_by_token(s, t1, 4000, &got, &err), SP_ERR_NOTFOUND);
	T_EQ_INT(sp_store_pending_activate(s, t1, 4000, email, &a, &err), SP_ERR_NOTFOUND);
	T_EQ_INT(sp_store_token_peek(s, SP_TOKEN_ACTIVATE, t1, 4000, &tr, &err), SP_ERR_NOTFOUND);
	/* The used link says so. */
	T_EQ_INT(sp_store_pending_activate(s, t2, 4000, email, &a, &err), SP_ERR_EXPIRED);
	T_CHECK(strstr(err.msg, "used") != NULL);
	T_EQ_INT(audit_count(s, "activate"), 1);
	{
		struct sp_audit_find f = {"activate", "lee@example.org", 0};

		sp_store_audit_each(s, NULL, find_cb, &f, NULL);
		T_EQ_INT(f.found, 1);	/* actor defaulted to the address */
	}

	/* An address with an account: nothing written. */
	a.event = "register-dup";
	a.actor = "lee@example.org";
	T_EQ_INT(sp_store_pending_add(s, &acc, t3, 5000, &a, &err), SP_ERR_EXISTS);
	T_EQ_INT(audit_count(s, "register-dup"), 0);
	T_EQ_INT(sp_store_token_peek(s, SP_TOKEN_ACTIVATE, t3, 4000, &tr, &err), SP_ERR_NOTFOUND);

	/* At most SP_STORE_PENDING_MAX registrations per address: the oldest go. */
	for (i = 0; i < SP_STORE_PENDING_MAX + 2; i++) {
		unsigned char th[SP_SHA256_LEN];

		fill_account(&acc, "max@example.org", "$argon2id$x");
		acc.created = 2000 + i;
		snprintf(name, sizeof(name), "max%d", i);
		tok(name, th);
		T_EQ_INT(sp_store_pending_add(s, &acc, th, 9000, NULL, &err), SP_OK);
	}
	for (i = 0, n = 0; i < SP_STORE_PENDING_MAX + 2; i++) {
		unsigned char th[SP_SHA256_LEN];
		int st;

		snprintf(name, sizeof(name), "max%d", i);
		tok(name, th);
		st = sp_store_pending_by_token(s, th, 4000, &got, &err);
		T_EQ_INT(st, i < 2 ? SP_ERR_NOTFOUND : SP_OK);
		n += st == SP_OK;
	}
	T_EQ_INT(n, SP_STORE_PENDING_MAX);

	/* An administrator's account takes the address: its registrations go. */
	make_account(s, "max@example.org");
	{
		unsigned char th[SP_SHA256_LEN];

		tok("max6", th);
		T_EQ_INT(sp_store_pending_by_token(s, th, 4000, &got, &err), SP_ERR_NOTFOUND);
	}
	sp_store_close(s);
}

static void
test_sessions(void)
{
	struct sp_store *s = open_store();
	struct sp_err err = {{0}};
	struct sp_session ss, got;
	struct sp_account acc;
	struct sp_audit a = {0, "login", "pat@example.org", NULL, "127.0.0.1", NULL, 0};

	memset(&ss, 0, sizeof(ss));
	sp_sha256("sps_a", 5, ss.hash);
	snprintf(ss.email, sizeof(ss.email), "pat@example.org");
	snprintf(ss.csrf, sizeof(ss.csrf), "csrf1");
	ss.created = ss.last_seen = 10000;
	ss.expires = 10000 + 12 * 3600;
	T_EQ_INT(sp_store_session_create(s, &ss, &a, &err), SP_OK);
	T_EQ_INT(sp_store_account_get(s, "pat@example.org", &acc, &err), SP_OK);
	T_EQ_INT(acc.failed_logins, 0);	/* a login resets the counter */
	T_EQ_INT(sp_store_session_use(s, ss.hash, 10100, 1800, &got, &err), SP_OK);
	T_CHECK(strcmp(got.email, "pat@example.org") == 0 && strcmp(got.csrf, "csrf1") == 0);
	T_EQ_INT(got.last_seen, 10100);
	T_EQ_INT(sp_store_session_use(s, ss.hash, 10110, 1800, &got, &err), SP_OK);
	T_EQ_INT(got.last_seen, 10100);	/* not rewritten within 30 s */
	/* Idle: 1800 s after the last use it is gone. */
	T_EQ_INT(sp_store_session_use(s, ss.hash, 10100 + 1800, 1800, &got, &err), SP_ERR_NOTFOUND);
	T_EQ_INT(sp_store_session_use(s, ss.hash, 10100 + 1799, 1800, &got, &err), SP_OK);
	/* Absolute: never past expires, however active. */
	T_EQ_INT(sp_store_session_use(s, ss.hash, ss.expires, 1 << 30, &got, &err), SP_ERR_NOTFOUND);
	a.event = "logout";
	T_EQ_INT(sp_store_session_delete(s, ss.hash, &a, &err), SP_OK);
	T_EQ_INT(sp_store_session_use(s, ss.hash, 10200, 1800, &got, &err), SP_ERR_NOTFOUND);
	T_EQ_INT(sp_store_session_delete(s, ss.hash, &a, &err), SP_ERR_NOTFOUND);
	T_EQ_INT(audit_count(s, "logout"), 1);
	T_EQ_INT(audit_count(s, "login"), 1);
	T_CHECK(audit_count(s, NULL) >= 8);
	sp_store_close(s);
}

static void
test_throttle(void)
{
	struct sp_store *s = open_store();
	struct sp_throttle_policy p = {3, 30, 100, 0, 0};
	struct sp_err err;
	int64_t until = -1;
	int i;

	T_EQ_INT(sp_store_throttle_check(s, "email:a@b.example", 1000, &until, &err), SP_OK);
	T_EQ_INT(until, 0);
	for (i = 0; i < 3; i++) {
		T_EQ_INT(sp_store_throttle_fail(s, "email:a@b.example", 1000, &p, &until, &err), SP_OK);
		T_EQ_INT(until, 0);	/* free failures */
	}
	T_EQ_INT(sp_store_throttle_fail(s, "email:a@b.example", 1000, &p, &until, &err), SP_OK);
	T_EQ_INT(until, 1030);
	T_EQ_INT(sp_store_throttle_check(s, "email:a@b.example", 1029, &until, &err), SP_OK);
	T_EQ_INT(until, 1030);
	T_EQ_INT(sp_store_throttle_check(s, "email:a@b.example", 1030, &until, &err), SP_OK);
	T_EQ_INT(until, 0);
	T_EQ_INT(sp_store_throttle_check(s, "ip:127.0.0.1", 1000, &until, &err), SP_OK);
	T_EQ_INT(until, 0);	/* keys are separate */
	T_EQ_INT(sp_store_throttle_fail(s, "email:a@b.example", 1030, &p, &until, &err), SP_OK);
	T_EQ_INT(until, 1090);	/* doubles */
	T_EQ_INT(sp_store_throttle_fail(s, "email:a@b.example", 1090, &p, &until, &err), SP_OK);
	T_EQ_INT(until, 1190);	/* capped at max */
	/* An hour after the last failure the count starts again. */
	T_EQ_INT(sp_store_throttle_fail(s, "email:a@b.example", 1090 + 3600, &p, &until, &err), SP_OK);
	T_EQ_INT(until, 0);
	T_EQ_INT(sp_store_throttle_reset(s, "email:a@b.example", &err), SP_OK);
	sp_store_close(s);
}

struct par {
	struct sp_store *s;
	int thread;
	int ok;
};

static void *
deposit_many(void *arg)
{
	struct par *p = arg;
	struct sp_envelope_rec e, g;
	struct sp_err err;
	char *rc[] = {"pat@example.org"};
	int i, st;

	for (i = 0; i < 40; i++) {
		memset(&e, 0, sizeof(e));
		snprintf(e.id, sizeof(e.id), "T%uxxxxxxxxxxxxxxxx%03u", (unsigned)(p->thread % 10), (unsigned)(i % 1000));
		e.org_id = 1;
		snprintf(e.from, sizeof(e.from), "doc@clinic.example");
		e.rcpt = rc;
		e.nrcpt = 1;
		e.created = 1;
		e.key_id = 1;
		e.wrapped_len = 60;
		do
			st = sp_store_envelope_add(p->s, &e, NULL, &err);
		while (st == SP_ERR_RETRY);
		if (st == SP_OK && sp_store_envelope_get(p->s, e.id, &g, &err) == SP_OK) {
			struct sp_audit a = {0, "par-release", "pat@example.org", e.id, NULL, NULL, 0};

			sp_envelope_rec_clear(&g);
			if (sp_store_audit(p->s, &a, &err) == SP_OK)
				p->ok++;
		}
	}
	return NULL;
}

/* Several threads share one handle (one connection each). */
static void
test_threads(void)
{
	struct sp_store *s = open_store();
	struct par p[4];
	pthread_t th[4];
	int i;

	for (i = 0; i < 4; i++) {
		p[i] = (struct par){s, i, 0};
		pthread_create(&th[i], NULL, deposit_many, &p[i]);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		T_EQ_INT(p[i].ok, 40);
	}
	T_EQ_INT(audit_count(s, "par-release"), 160);
	sp_store_close(s);
}

static void
test_tokens(void)
{
	struct sp_store *s = open_store();
	struct sp_err err = {{0}};
	struct sp_token_rec tr;
	struct sp_account acc;
	struct sp_audit a = {0, "token-issue", NULL, NULL, NULL, NULL, 0};
	struct sp_throttle_policy rate = {2, 600, 600, 3600, 0};
	unsigned char th[SP_SHA256_LEN];
	int64_t until;
	int issued, i;
	static const struct {
		int kind;
		const char *email;
		const char *name;
		int issued;
	} issue[] = {
		{SP_TOKEN_RESET, "kim@example.org", "reset1", 1},
		{SP_TOKEN_SIGNIN, "kim@example.org", "signin1", 1},
		{SP_TOKEN_MFA, "kim@example.org", "mfa1", 1},
		{SP_TOKEN_CHALLENGE, "", "chal1", 1},
		{SP_TOKEN_CHALLENGE, "kim@example.org", "chal2", 1},
		{SP_TOKEN_RESET, "ghost@example.org", "reset-ghost", 0},
		{SP_TOKEN_SIGNIN, "ghost@example.org", "signin-ghost", 0},
		{SP_TOKEN_MFA, "", "mfa-empty", 0},
		{SP_TOKEN_ACTIVATE, "kim@example.org", "act-kim", 0},	/* no registration */
		{SP_TOKEN_ACTIVATE, "reg@example.org", "act-reg", 1},	/* resend */
	};
	/* Every token peeked as every kind: only its own kind finds it. */
	static const char *const kinds_of[] = {NULL, "act-reg", "reset1", "signin1", "mfa1", "chal1"};

	make_account(s, "kim@example.org");
	fill_account(&acc, "reg@example.org", "$argon2id$r");
	acc.created = 900;
	tok("act-first", th);
	T_EQ_INT(sp_store_pending_add(s, &acc, th, 5000, NULL, &err), SP_OK);
	for (i = 0; i < (int)(sizeof(issue) / sizeof(issue[0])); i++) {
		tok(issue[i].name, th);
		issued = -1;
		T_EQ_INT(sp_store_token_issue(s, issue[i].kind, issue[i].email, th, 1000, 5000,
		    NULL, NULL, &issued, &a, &err), SP_OK);
		T_EQ_INT(issued, issue[i].issued);
		T_EQ_INT(sp_store_token_peek(s, issue[i].kind, th, 1000, &tr, &err),
		    issue[i].issued ? SP_OK : SP_ERR_NOTFOUND);
		if (issue[i].issued)
			T_CHECK(strcmp(tr.email, issue[i].email) == 0);
	}
	T_EQ_INT(audit_count(s, "token-issue"), 6);	/* only when issued */
	{
		struct sp_account got;

		/* The resent link activates the newest registration. */
		tok("act-reg", th);
		T_EQ_INT(sp_store_pending_by_token(s, th, 1000, &got, &err), SP_OK);
		T_CHECK(strcmp(got.email, "reg@example.org") == 0);
		T_EQ_INT(sp_store_token_peek(s, SP_TOKEN_ACTIVATE, th, 1000, &tr, &err), SP_OK);
		T_EQ_INT(tr.ref, got.pending_id);
	}
	for (i = 1; i <= SP_TOKEN_CHALLENGE; i++) {
		int k;

		tok(kinds_of[i], th);
		for (k = 1; k <= SP_TOKEN_CHALLENGE; k++)
			T_EQ_INT(sp_store_token_peek(s, k, th, 1000, &tr, &err),
			    k == i ? SP_OK : SP_ERR_NOTFOUND);
		/* Nor can a token be used as another kind. */
		T_EQ_INT(sp_store_token_use(s, i == SP_TOKEN_RESET ? SP_TOKEN_SIGNIN :
		    SP_TOKEN_RESET, th, 1000, &tr, NULL, &err), SP_ERR_NOTFOUND);
	}
	/* Use: once, not after expiry; peek does not consume. */
	tok("signin1", th);
	T_EQ_INT(sp_store_token_peek(s, SP_TOKEN_SIGNIN, th, 1000, &tr, &err), SP_OK);
	T_EQ_INT(sp_store_token_use(s, SP_TOKEN_SIGNIN, th, 5000, &tr, NULL, &err), SP_ERR_EXPIRED);
	a.event = "signin";
	T_EQ_INT(sp_store_token_use(s, SP_TOKEN_SIGNIN, th, 1000, &tr, &a, &err), SP_OK);
	T_CHECK(strcmp(tr.email, "kim@example.org") == 0);
	T_EQ_INT(sp_store_token_use(s, SP_TOKEN_SIGNIN, th, 1000, &tr, &a, &err), SP_ERR_EXPIRED);
	T_EQ_INT(sp_store_token_peek(s, SP_TOKEN_SIGNIN, th, 1000, &tr, &err), SP_ERR_EXPIRED);
	T_EQ_INT(audit_count(s, "signin"), 1);
	/* A duplicate hash is refused. */
	tok("mfa1", th);
	T_EQ_INT(sp_store_token_issue(s, SP_TOKEN_MFA, "kim@example.org", th, 1000, 5000,
	    NULL, NULL, &issued, NULL, &err), SP_ERR_EXISTS);
	T_EQ_INT(issued, 0);
	T_EQ_INT(sp_store_token_issue(s, 9, "kim@example.org", th, 1000, 5000,
	    NULL, NULL, &issued, NULL, &err), SP_ERR_INVALID);

	/* Rate: an unknown address issues nothing but still counts. */
	for (i = 0; i < 3; i++) {
		char name[32];

		snprintf(name, sizeof(name), "ghost-rate%d", i);
		tok(name, th);
		T_EQ_INT(sp_store_token_issue(s, SP_TOKEN_RESET, "ghost@example.org", th, 2000,
		    9000, "mail:ghost@example.org", &rate, &issued, NULL, &err), SP_OK);
		T_EQ_INT(issued, 0);
		T_EQ_INT(sp_store_throttle_check(s, "mail:ghost@example.org", 2000, &until, &err),
		    SP_OK);
		T_EQ_INT(until, i >= 1 ? 2600 : 0);
	}
	/* A known one: `free` tokens, then the lock issues nothing. */
	for (i = 0; i < 3; i++) {
		char name[32];

		snprintf(name, sizeof(name), "kim-rate%d", i);
		tok(name, th);
		T_EQ_INT(sp_store_token_issue(s, SP_TOKEN_RESET, "kim@example.org", th, 2000,
		    9000, "mail:kim@example.org", &rate, &issued, NULL, &err), SP_OK);
		T_EQ_INT(issued, i < 2);
		T_EQ_INT(sp_store_token_peek(s, SP_TOKEN_RESET, th, 2000, &tr, &err),
		    i < 2 ? SP_OK : SP_ERR_NOTFOUND);
	}
	/* After the lock, one more goes through. */
	tok("kim-rate3", th);
	T_EQ_INT(sp_store_token_issue(s, SP_TOKEN_RESET, "kim@example.org", th, 2600,
	    9000, "mail:kim@example.org", &rate, &issued, NULL, &err), SP_OK);
	T_EQ_INT(issued, 1);
	/* Tokens a day past expiry are swept by the next issue. */
	tok("late", th);
	T_EQ_INT(sp_store_token_issue(s, SP_TOKEN_CHALLENGE, "", th, 5000 + 86400, 5000 + 86500,
	    NULL, NULL, &issued, NULL, &err), SP_OK);
	tok("reset1", th);
	T_EQ_INT(sp_store_token_peek(s, SP_TOKEN_RESET, th, 1000, &tr, &err), SP_ERR_NOTFOUND);
	tok("kim-rate0", th);
	T_EQ_INT(sp_store_token_peek(s, SP_TOKEN_RESET, th, 2000, &tr, &err), SP_OK);
	sp_store_close(s);
}

static void
test_throttle_begin(void)
{
	struct sp_store *s = open_store();
	struct sp_err err = {{0}};
	int64_t until;
	int i, n;
	static const struct {
		struct sp_throttle_policy p;
		int64_t now;
		int64_t until;		/* answer of begin: the lock it refused under */
		int64_t check;		/* lock visible after it */
	} seq[] = {
		/* free 3, doubling from 10, max 35, window 100 */
		{{3, 10, 35, 100, 0}, 1000, 0, 0},
		{{3, 10, 35, 100, 0}, 1000, 0, 0},
		{{3, 10, 35, 100, 0}, 1000, 0, 1010},	/* third goes ahead, locks */
		{{3, 10, 35, 100, 0}, 1005, 1010, 1010},	/* refused, lock kept */
		{{3, 10, 35, 100, 0}, 1010, 0, 1045},	/* count 5: 10 << 2, capped at 35 */
		{{3, 10, 35, 100, 0}, 1200, 0, 0},	/* window over: count starts again */
	};
	static const struct {
		struct sp_throttle_policy p;
		int64_t now;
		int64_t until;
		int64_t check;
	} lin[] = {
		/* free 1, linear steps of 60, max 150, window 0 = 3600 */
		{{1, 60, 150, 0, 1}, 1000, 0, 1060},
		{{1, 60, 150, 0, 1}, 1060, 0, 1180},
		{{1, 60, 150, 0, 1}, 1180, 0, 1330},	/* 180 capped at 150 */
		{{1, 60, 150, 0, 1}, 1200, 1330, 1330},
		/* the window runs from the last attempt (1200), not the lock */
		{{1, 60, 150, 0, 1}, 1200 + 3599, 0, 1200 + 3599 + 150},
		{{1, 60, 150, 0, 1}, 1200 + 3599 + 3600, 0, 1200 + 3599 + 3600 + 60},
	};

	for (i = 0; i < (int)(sizeof(seq) / sizeof(seq[0])); i++) {
		until = -1;
		T_EQ_INT(sp_store_throttle_begin(s, "email:seq@example.org", seq[i].now,
		    &seq[i].p, &until, &err), SP_OK);
		T_EQ_INT(until, seq[i].until);
		T_EQ_INT(sp_store_throttle_check(s, "email:seq@example.org", seq[i].now, &until,
		    &err), SP_OK);
		T_EQ_INT(until, seq[i].check > seq[i].now ? seq[i].check : 0);
	}
	for (i = 0; i < (int)(sizeof(lin) / sizeof(lin[0])); i++) {
		until = -1;
		T_EQ_INT(sp_store_throttle_begin(s, "ip:192.0.2.1", lin[i].now, &lin[i].p,
		    &until, &err), SP_OK);
		T_EQ_INT(until, lin[i].until);
		T_EQ_INT(sp_store_throttle_check(s, "ip:192.0.2.1", lin[i].now, &until, &err),
		    SP_OK);
		T_EQ_INT(until, lin[i].check);
	}

	/* Undo: a success takes its attempt back, never below zero. */
	{
		struct sp_throttle_policy p = {2, 30, 60, 0, 0};

		T_EQ_INT(sp_store_throttle_undo(s, "ip:198.51.100.7", &err), SP_OK);	/* no row */
		T_EQ_INT(sp_store_throttle_begin(s, "ip:198.51.100.7", 5000, &p, &until, &err), SP_OK);
		T_EQ_INT(sp_store_throttle_undo(s, "ip:198.51.100.7", &err), SP_OK);
		T_EQ_INT(sp_store_throttle_undo(s, "ip:198.51.100.7", &err), SP_OK);
		T_EQ_INT(sp_store_throttle_begin(s, "ip:198.51.100.7", 5000, &p, &until, &err), SP_OK);
		T_EQ_INT(until, 0);
		T_EQ_INT(sp_store_throttle_check(s, "ip:198.51.100.7", 5000, &until, &err), SP_OK);
		T_EQ_INT(until, 0);	/* count 1, not 2 */
		T_EQ_INT(sp_store_throttle_begin(s, "ip:198.51.100.7", 5000, &p, &until, &err), SP_OK);
		T_EQ_INT(sp_store_throttle_check(s, "ip:198.51.100.7", 5000, &until, &err), SP_OK);
		T_EQ_INT(until, 5030);
		/* An undo leaves the lock in place. */
		T_EQ_INT(sp_store_throttle_undo(s, "ip:198.51.100.7", &err), SP_OK);
		T_EQ_INT(sp_store_throttle_check(s, "ip:198.51.100.7", 5000, &until, &err), SP_OK);
		T_EQ_INT(until, 5030);
	}

	/* Clear by prefix: '%' and '_' are literal. */
	{
		static const struct {
			const char *key;
			int gone;
		} keys[] = {
			{"email:a%b_c@example.org", 1},
			{"email:a%b_c@example.org.evil", 1},	/* starts with the prefix */
			{"email:aXbYc@example.org", 0},		/* LIKE would match */
			{"email:a%b_", 0},
			{"email:abc@example.org", 0},
			{"ip:a%b_c@example.org", 0},
		};
		struct sp_throttle_policy p = {0, 30, 60, 0, 0};
		size_t k;

		for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
			T_EQ_INT(sp_store_throttle_begin(s, keys[k].key, 6000, &p, &until, &err), SP_OK);
		n = -1;
		T_EQ_INT(sp_store_throttle_clear(s, "email:a%b_c@example.org", &n, &err), SP_OK);
		T_EQ_INT(n, 2);
		for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
			T_EQ_INT(sp_store_throttle_check(s, keys[k].key, 6000, &until, &err), SP_OK);
			T_EQ_INT(until != 0, !keys[k].gone);
		}
		T_EQ_INT(sp_store_throttle_clear(s, "email:nobody", NULL, &err), SP_OK);
	}
	sp_store_close(s);
}

struct thr_par {
	struct sp_store *s;
	pthread_barrier_t *go;
	const char *key;
	int through;
	int st;
};

static void *
begin_once(void *arg)
{
	struct thr_par *p = arg;
	struct sp_throttle_policy pol = {5, 30, 900, 0, 0};
	struct sp_err err;
	int64_t until = -1;

	pthread_barrier_wait(p->go);
	do
		p->st = sp_store_throttle_begin(p->s, p->key, 7000, &pol, &until, &err);
	while (p->st == SP_ERR_RETRY);
	p->through = p->st == SP_OK && until == 0;
	return NULL;
}

/* 16 parallel password attempts: exactly `free` get through. */
static void
test_throttle_parallel(void)
{
	struct sp_store *s = open_store();
	struct thr_par p[16];
	pthread_t th[16];
	pthread_barrier_t go;
	int i, n = 0;

	pthread_barrier_init(&go, NULL, 16);
	for (i = 0; i < 16; i++) {
		p[i] = (struct thr_par){s, &go, "email:race@example.org", 0, -1};
		pthread_create(&th[i], NULL, begin_once, &p[i]);
	}
	for (i = 0; i < 16; i++) {
		pthread_join(th[i], NULL);
		T_EQ_INT(p[i].st, SP_OK);
		n += p[i].through;
	}
	T_EQ_INT(n, 5);
	pthread_barrier_destroy(&go);
	sp_store_close(s);
}

static void
new_session(struct sp_store *s, const char *name, const char *email, int64_t now)
{
	struct sp_session ss;
	struct sp_err err = {{0}};

	memset(&ss, 0, sizeof(ss));
	tok(name, ss.hash);
	snprintf(ss.email, sizeof(ss.email), "%s", email);
	snprintf(ss.csrf, sizeof(ss.csrf), "c");
	ss.created = ss.last_seen = now;
	ss.expires = now + 12 * 3600;
	T_EQ_INT(sp_store_session_create(s, &ss, NULL, &err), SP_OK);
}

static int
session_live(struct sp_store *s, const char *name, int64_t now)
{
	unsigned char h[SP_SHA256_LEN];
	struct sp_session got;

	tok(name, h);
	return sp_store_session_use(s, h, now, 1800, &got, NULL) == SP_OK;
}

static void
test_password_sessions(void)
{
	struct sp_store *s = open_store();
	struct sp_err err = {{0}};
	struct sp_account got;
	struct sp_session ss;
	struct sp_audit a = {0, "password-reset", "ann@example.org", NULL, NULL, NULL, 0};
	unsigned char th[SP_SHA256_LEN], other[SP_SHA256_LEN], keep[SP_SHA256_LEN];
	unsigned char older[SP_SHA256_LEN], link[SP_SHA256_LEN];
	struct sp_token_rec tr;
	int issued, n, i;
	static const char *const sess[] = {"ann-s1", "ann-s2", "ann-s3"};

	make_account(s, "ann@example.org");
	make_account(s, "bob@example.org");
	for (i = 0; i < 3; i++)
		new_session(s, sess[i], "ann@example.org", 10000);
	new_session(s, "bob-s1", "bob@example.org", 10000);
	tok("ann-reset", th);
	tok("bob-reset", other);
	tok("ann-s2", keep);
	T_EQ_INT(sp_store_token_issue(s, SP_TOKEN_RESET, "ann@example.org", th, 10000, 13600,
	    NULL, NULL, &issued, NULL, &err), SP_OK);
	T_EQ_INT(sp_store_token_issue(s, SP_TOKEN_RESET, "bob@example.org", other, 10000, 13600,
	    NULL, NULL, &issued, NULL, &err), SP_OK);
	/* links mailed to ann before her new password: another reset link and a
	 * sign-in link */
	tok("ann-reset-older", older);
	tok("ann-signin", link);
	T_EQ_INT(sp_store_token_issue(s, SP_TOKEN_RESET, "ann@example.org", older, 9990, 13590,
	    NULL, NULL, &issued, NULL, &err), SP_OK);
	T_EQ_INT(sp_store_token_issue(s, SP_TOKEN_SIGNIN, "ann@example.org", link, 9990, 10890,
	    NULL, NULL, &issued, NULL, &err), SP_OK);

	/* Someone else's reset token does not reset this account. */
	T_EQ_INT(sp_store_password_set(s, "ann@example.org", "$argon2id$evil", 10100, other,
	    NULL, &a, &err), SP_ERR_NOTFOUND);
	T_EQ_INT(sp_store_password_set(s, "ann@example.org", "$argon2id$new", 13600, th,
	    NULL, &a, &err), SP_ERR_EXPIRED);
	T_EQ_INT(sp_store_password_set(s, "ann@example.org", "$argon2id$new", 10100, th,
	    keep, &a, &err), SP_OK);
	T_EQ_INT(sp_store_account_get(s, "ann@example.org", &got, &err), SP_OK);
	T_CHECK(strcmp(got.pw_hash, "$argon2id$new") == 0);
	T_EQ_INT(got.pw_changed, 10100);
	T_EQ_INT(session_live(s, "ann-s1", 10100), 0);
	T_EQ_INT(session_live(s, "ann-s2", 10100), 1);
	T_EQ_INT(session_live(s, "ann-s3", 10100), 0);
	T_EQ_INT(session_live(s, "bob-s1", 10100), 1);
	/* every other link mailed to ann before is used up; bob's still works */
	T_EQ_INT(sp_store_token_peek(s, SP_TOKEN_RESET, older, 10100, &tr, &err), SP_ERR_EXPIRED);
	T_EQ_INT(sp_store_token_peek(s, SP_TOKEN_SIGNIN, link, 10100, &tr, &err), SP_ERR_EXPIRED);
	T_EQ_INT(sp_store_password_set(s, "ann@example.org", "$argon2id$taken", 10100, older,
	    NULL, &a, &err), SP_ERR_EXPIRED);
	T_EQ_INT(sp_store_token_peek(s, SP_TOKEN_RESET, other, 10100, &tr, &err), SP_OK);
	/* The token works once. */
	T_EQ_INT(sp_store_password_set(s, "ann@example.org", "$argon2id$again", 10200, th,
	    NULL, &a, &err), SP_ERR_EXPIRED);
	T_EQ_INT(sp_store_account_get(s, "ann@example.org", &got, &err), SP_OK);
	T_CHECK(strcmp(got.pw_hash, "$argon2id$new") == 0);
	T_EQ_INT(session_live(s, "ann-s2", 10200), 1);
	T_EQ_INT(audit_count(s, "password-reset"), 1);
	/* A change without a token, keeping nothing. */
	T_EQ_INT(sp_store_password_set(s, "ann@example.org", "$argon2id$third", 10300, NULL,
	    NULL, NULL, &err), SP_OK);
	T_EQ_INT(session_live(s, "ann-s2", 10300), 0);
	T_EQ_INT(sp_store_password_set(s, "nobody@example.org", "$x", 10300, NULL, NULL, NULL,
	    &err), SP_ERR_NOTFOUND);

	/* Re-authentication time. */
	new_session(s, "ann-s4", "ann@example.org", 11000);
	tok("ann-s4", keep);
	T_EQ_INT(sp_store_session_use(s, keep, 11000, 1800, &ss, &err), SP_OK);
	T_EQ_INT(ss.auth_time, 11000);	/* 0 when created: the creation time */
	T_EQ_INT(sp_store_session_reauth(s, keep, 11500, &err), SP_OK);
	T_EQ_INT(sp_store_session_use(s, keep, 11600, 1800, &ss, &err), SP_OK);
	T_EQ_INT(ss.auth_time, 11500);
	tok("nosuch-session", th);
	T_EQ_INT(sp_store_session_reauth(s, th, 11500, &err), SP_ERR_NOTFOUND);

	/* Sign out everywhere. */
	new_session(s, "ann-s5", "ann@example.org", 11000);
	a.event = "sessions-end";
	n = -1;
	T_EQ_INT(sp_store_sessions_end(s, "ann@example.org", &n, &a, &err), SP_OK);
	T_EQ_INT(n, 2);
	T_EQ_INT(session_live(s, "ann-s4", 11600), 0);
	T_EQ_INT(session_live(s, "bob-s1", 10100), 1);
	T_EQ_INT(sp_store_sessions_end(s, "ann@example.org", &n, &a, &err), SP_OK);
	T_EQ_INT(n, 0);
	T_EQ_INT(audit_count(s, "sessions-end"), 2);
	sp_store_close(s);
}

static void
test_totp_recovery(void)
{
	struct sp_store *s = open_store();
	struct sp_err err = {{0}};
	struct sp_account got;
	struct sp_audit a = {0, "totp-set", "tom@example.org", NULL, NULL, NULL, 0};
	unsigned char wrapped[60], codes[SP_STORE_RECOVERY_CODES][SP_SHA256_LEN], h[SP_SHA256_LEN];
	char name[32];
	size_t i;
	static const struct {
		int64_t step;
		int st;
	} steps[] = {
		{100, SP_OK}, {100, SP_ERR_EXPIRED}, {99, SP_ERR_EXPIRED}, {101, SP_OK},
		{50, SP_ERR_EXPIRED}, {1000, SP_OK},
	};

	make_account(s, "tom@example.org");
	memset(wrapped, 0x5a, sizeof(wrapped));
	T_EQ_INT(sp_store_totp_step(s, "tom@example.org", 1, &err), SP_ERR_NOTFOUND);	/* no TOTP */
	T_EQ_INT(sp_store_totp_set(s, "tom@example.org", wrapped, sizeof(wrapped), 3, &a, &err), SP_OK);
	T_EQ_INT(sp_store_totp_set(s, "nobody@example.org", wrapped, sizeof(wrapped), 3, &a, &err),
	    SP_ERR_NOTFOUND);
	T_EQ_INT(sp_store_totp_set(s, "tom@example.org", wrapped, SP_STORE_WRAPPED_MAX + 1, 3, &a,
	    &err), SP_ERR_INVALID);
	T_EQ_INT(sp_store_account_get(s, "tom@example.org", &got, &err), SP_OK);
	T_EQ_INT(got.totp_wrapped_len, sizeof(wrapped));
	T_EQ_MEM(got.totp_wrapped, wrapped, sizeof(wrapped));
	T_EQ_INT(got.totp_key_id, 3);
	T_EQ_INT(got.totp_last_step, 0);
	T_EQ_INT(audit_count(s, "totp-set"), 1);
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
		T_EQ_INT(sp_store_totp_step(s, "tom@example.org", steps[i].step, &err), steps[i].st);
	T_EQ_INT(sp_store_account_get(s, "tom@example.org", &got, &err), SP_OK);
	T_EQ_INT(got.totp_last_step, 1000);
	T_EQ_INT(sp_store_totp_step(s, "nobody@example.org", 2000, &err), SP_ERR_NOTFOUND);

	/* Recovery codes: each works once. */
	for (i = 0; i < SP_STORE_RECOVERY_CODES; i++) {
		snprintf(name, sizeof(name), "code%zu", i);
		tok(name, codes[i]);
	}
	a.event = "recovery-set";
	T_EQ_INT(sp_store_recovery_set(s, "tom@example.org", (const unsigned char (*)[SP_SHA256_LEN])codes,
	    SP_STORE_RECOVERY_CODES, &a, &err), SP_OK);
	T_EQ_INT(sp_store_recovery_set(s, "nobody@example.org",
	    (const unsigned char (*)[SP_SHA256_LEN])codes, 1, &a, &err), SP_ERR_NOTFOUND);
	T_EQ_INT(sp_store_account_get(s, "tom@example.org", &got, &err), SP_OK);
	T_EQ_INT(got.nrecovery, SP_STORE_RECOVERY_CODES);
	a.event = "recovery-use";
	T_EQ_INT(sp_store_recovery_use(s, "tom@example.org", codes[3], &a, &err), SP_OK);
	T_EQ_INT(sp_store_recovery_use(s, "tom@example.org", codes[3], &a, &err), SP_ERR_NOTFOUND);
	T_EQ_INT(sp_store_recovery_use(s, "ann@example.org", codes[4], &a, &err), SP_ERR_NOTFOUND);
	tok("not-a-code", h);
	T_EQ_INT(sp_store_recovery_use(s, "tom@example.org", h, &a, &err), SP_ERR_NOTFOUND);
	T_EQ_INT(audit_count(s, "recovery-use"), 1);
	T_EQ_INT(sp_store_account_get(s, "tom@example.org", &got, &err), SP_OK);
	T_EQ_INT(got.nrecovery, SP_STORE_RECOVERY_CODES - 1);
	/* A new set replaces the old one. */
	T_EQ_INT(sp_store_recovery_set(s, "tom@example.org",
	    (const unsigned char (*)[SP_SHA256_LEN])codes + 5, 5, NULL, &err), SP_OK);
	T_EQ_INT(sp_store_account_get(s, "tom@example.org", &got, &err), SP_OK);
	T_EQ_INT(got.nrecovery, 5);
	T_EQ_INT(sp_store_recovery_use(s, "tom@example.org", codes[4], NULL, &err), SP_ERR_NOTFOUND);

	/* Removing TOTP with no passkey left removes the codes too. */
	a.event = "totp-remove";
	T_EQ_INT(sp_store_totp_set(s, "tom@example.org", NULL, 0, 0, &a, &err), SP_OK);
	T_EQ_INT(sp_store_account_get(s, "tom@example.org", &got, &err), SP_OK);
	T_EQ_INT(got.totp_wrapped_len, 0);
	T_EQ_INT(got.nrecovery, 0);
	T_EQ_INT(sp_store_totp_step(s, "tom@example.org", 5000, &err), SP_ERR_NOTFOUND);
	sp_store_close(s);
}

static int
pk_count_cb(void *ctx, const struct sp_passkey *pk)
{
	(*(int *)ctx)++;
	return pk->alg == 0;
}

static void
test_passkeys(void)
{
	struct sp_store *s = open_store();
	struct sp_err err = {{0}};
	struct sp_passkey pk, got;
	struct sp_account acc;
	struct sp_audit a = {0, "passkey-add", "una@example.org", NULL, NULL, NULL, 0};
	unsigned char ids[2][SP_STORE_CRED_ID_MAX], codes[2][SP_SHA256_LEN];
	int n, i;
	static const struct {
		const char *email;
		int id;
		const char *name;
		int st;
	} adds[] = {
		{"una@example.org", 0, "laptop", SP_OK},
		{"una@example.org", 1, "phone", SP_OK},
		{"una@example.org", 0, "again", SP_ERR_EXISTS},
		{"ann@example.org", 1, "stolen id", SP_ERR_EXISTS},
		{"nobody@example.org", 0, "ghost", SP_ERR_NOTFOUND},
	};

	make_account(s, "una@example.org");
	for (i = 0; i < 2; i++)
		memset(ids[i], 0x30 + i, sizeof(ids[i]));
	ids[1][0] = 0;	/* ids are binary */
	for (i = 0; i < (int)(sizeof(adds) / sizeof(adds[0])); i++) {
		memset(&pk, 0, sizeof(pk));
		memcpy(pk.cred_id, ids[adds[i].id], SP_STORE_CRED_ID_MAX);
		pk.cred_id_len = adds[i].id ? 16 : SP_STORE_CRED_ID_MAX;
		snprintf(pk.email, sizeof(pk.email), "%s", adds[i].email);
		memset(pk.pubkey, 0x42, 77);
		pk.pubkey_len = 77;
		pk.alg = adds[i].id ? -8 : -7;
		pk.sign_count = 5;
		snprintf(pk.name, sizeof(pk.name), "%s", adds[i].name);
		pk.created = 20000 + i;
		T_EQ_INT(sp_store_passkey_add(s, &pk, &a, &err), adds[i].st);
	}
	T_EQ_INT(audit_count(s, "passkey-add"), 2);
	pk.cred_id_len = 0;
	T_EQ_INT(sp_store_passkey_add(s, &pk, &a, &err), SP_ERR_INVALID);

	T_EQ_INT(sp_store_passkey_get(s, ids[0], SP_STORE_CRED_ID_MAX, &got, &err), SP_OK);
	T_EQ_INT(got.cred_id_len, SP_STORE_CRED_ID_MAX);
	T_EQ_MEM(got.cred_id, ids[0], SP_STORE_CRED_ID_MAX);
	T_CHECK(strcmp(got.email, "una@example.org") == 0 && strcmp(got.name, "laptop") == 0);
	T_EQ_INT(got.pubkey_len, 77);
	T_EQ_INT(got.pubkey[76], 0x42);
	T_EQ_INT(got.alg, -7);
	T_EQ_INT(got.sign_count, 5);
	T_EQ_INT(got.created, 20000);
	T_EQ_INT(got.last_used, 0);
	T_EQ_INT(sp_store_passkey_get(s, ids[1], 15, &got, &err), SP_ERR_NOTFOUND);
	T_EQ_INT(sp_store_passkey_get(s, ids[1], 16, &got, &err), SP_OK);
	T_EQ_INT(got.alg, -8);
	T_EQ_INT(sp_store_account_get(s, "una@example.org", &acc, &err), SP_OK);
	T_EQ_INT(acc.npasskeys, 2);

	n = 0;
	T_EQ_INT(sp_store_passkey_each(s, "una@example.org", pk_count_cb, &n, &err), SP_OK);
	T_EQ_INT(n, 2);
	n = 0;
	T_EQ_INT(sp_store_passkey_each(s, "ann@example.org", pk_count_cb, &n, &err), SP_OK);
	T_EQ_INT(n, 0);

	T_EQ_INT(sp_store_passkey_used(s, ids[1], 16, 9, 21000, &err), SP_OK);
	T_EQ_INT(sp_store_passkey_get(s, ids[1], 16, &got, &err), SP_OK);
	T_EQ_INT(got.sign_count, 9);
	T_EQ_INT(got.last_used, 21000);
	T_EQ_INT(sp_store_passkey_used(s, ids[1], 17, 9, 21000, &err), SP_ERR_NOTFOUND);

	/* Removing TOTP keeps the recovery codes while a passkey is left. */
	tok("una-c1", codes[0]);
	tok("una-c2", codes[1]);
	T_EQ_INT(sp_store_recovery_set(s, "una@example.org",
	    (const unsigned char (*)[SP_SHA256_LEN])codes, 2, NULL, &err), SP_OK);
	T_EQ_INT(sp_store_totp_set(s, "una@example.org", NULL, 0, 0, NULL, &err), SP_OK);
	T_EQ_INT(sp_store_account_get(s, "una@example.org", &acc, &err), SP_OK);
	T_EQ_INT(acc.nrecovery, 2);

	/* Delete: only the owner's. */
	a.event = "passkey-delete";
	T_EQ_INT(sp_store_passkey_delete(s, "ann@example.org", ids[0], SP_STORE_CRED_ID_MAX, &a,
	    &err), SP_ERR_NOTFOUND);
	T_EQ_INT(sp_store_passkey_delete(s, "una@example.org", ids[0], SP_STORE_CRED_ID_MAX, &a,
	    &err), SP_OK);
	T_EQ_INT(sp_store_passkey_delete(s, "una@example.org", ids[0], SP_STORE_CRED_ID_MAX, &a,
	    &err), SP_ERR_NOTFOUND);
	T_EQ_INT(audit_count(s, "passkey-delete"), 1);
	T_EQ_INT(sp_store_passkey_get(s, ids[0], SP_STORE_CRED_ID_MAX, &got, &err), SP_ERR_NOTFOUND);
	T_EQ_INT(sp_store_account_get(s, "una@example.org", &acc, &err), SP_OK);
	T_EQ_INT(acc.npasskeys, 1);
	T_EQ_INT(acc.nrecovery, 2);
	/* the last second factor deleted: its recovery codes go too, so they
	 * do not come back into force with a factor added later */
	T_EQ_INT(sp_store_passkey_delete(s, "una@example.org", ids[1], 16, &a, &err), SP_OK);
	T_EQ_INT(sp_store_account_get(s, "una@example.org", &acc, &err), SP_OK);
	T_EQ_INT(acc.npasskeys, 0);
	T_EQ_INT(acc.nrecovery, 0);
	sp_store_close(s);
}

/* The version 1 schema, as the previous release created it. */
static const char v1_schema[] =
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS orgs ("
    " id INTEGER PRIMARY KEY, name TEXT NOT NULL, domain TEXT NOT NULL,"
    " token_hash BLOB NOT NULL UNIQUE, created INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS envelopes ("
    " id TEXT PRIMARY KEY, org_id INTEGER NOT NULL REFERENCES orgs(id),"
    " sender TEXT NOT NULL, created INTEGER NOT NULL, expires INTEGER NOT NULL,"
    " retracted INTEGER NOT NULL DEFAULT 0, key_id INTEGER NOT NULL,"
    " wrapped BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS envelope_rcpt ("
    " envelope_id TEXT NOT NULL REFERENCES envelopes(id) ON DELETE CASCADE,"
    " pos INTEGER NOT NULL, email TEXT NOT NULL, PRIMARY KEY (envelope_id, pos));"
    "CREATE INDEX IF NOT EXISTS envelope_rcpt_email ON envelope_rcpt(email);"
    "CREATE TABLE IF NOT EXISTS accounts ("
    " email TEXT PRIMARY KEY, first_name TEXT NOT NULL, last_name TEXT NOT NULL,"
    " language TEXT NOT NULL, pw_hash TEXT NOT NULL, phrase TEXT NOT NULL,"
    " phrase_enabled INTEGER NOT NULL, q1 INTEGER NOT NULL, q2 INTEGER NOT NULL,"
    " q3 INTEGER NOT NULL, a1 TEXT NOT NULL, a2 TEXT NOT NULL, a3 TEXT NOT NULL,"
    " activated INTEGER NOT NULL DEFAULT 0, failed_logins INTEGER NOT NULL DEFAULT 0,"
    " created INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS activation_tokens ("
    " hash BLOB PRIMARY KEY, email TEXT NOT NULL, expires INTEGER NOT NULL,"
    " used INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS sessions ("
    " hash BLOB PRIMARY KEY,"
    " email TEXT NOT NULL REFERENCES accounts(email) ON DELETE CASCADE,"
    " csrf TEXT NOT NULL, created INTEGER NOT NULL, last_seen INTEGER NOT NULL,"
    " expires INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS audit ("
    " id INTEGER PRIMARY KEY, time INTEGER NOT NULL, event TEXT NOT NULL,"
    " actor TEXT, envelope_id TEXT, client TEXT, detail TEXT);"
    "CREATE TABLE IF NOT EXISTS throttle ("
    " key TEXT PRIMARY KEY, failures INTEGER NOT NULL, last_failed INTEGER NOT NULL,"
    " locked_until INTEGER NOT NULL);"
    "INSERT INTO schema_version(version) VALUES (1);"
    "INSERT INTO accounts VALUES ('old@example.org', 'Old', 'User', 'en', '$argon2id$old',"
    " 'red door', 1, 1, 2, 3, 'x', 'y', 'z', 1, 2, 300);"
    "INSERT INTO accounts VALUES ('new@example.org', 'New', 'User', 'de', '$argon2id$new',"
    " 'green door', 0, 0, 0, 0, '', '', '', 0, 0, 400);"
    "INSERT INTO sessions VALUES (X'0102', 'old@example.org', 'csrf', 350, 350, 99999);"
    "INSERT INTO throttle VALUES ('email:old@example.org', 2, 350, 0);"
    /* Two organisations with one name and one domain (v1 allowed it). */
    "INSERT INTO orgs VALUES (1, 'oldorg', 'Old.Example', X'%s', 50);"
    "INSERT INTO orgs VALUES (2, 'oldorg', 'old.example', X'0202', 60);"
    "INSERT INTO envelopes VALUES ('OLDENVAAAAAAAAAAAAAAAA', 1, 'a@old.example', 100, 0,"
    " 0, 1, X'0102030405');"
    "INSERT INTO envelope_rcpt VALUES ('OLDENVAAAAAAAAAAAAAAAA', 0, 'r@x.example');"
    "INSERT INTO envelope_rcpt VALUES ('OLDENVAAAAAAAAAAAAAAAA', 1, 's@x.example');"
    "INSERT INTO audit VALUES (1, 10, 'org-add', NULL, NULL, NULL, 'oldorg');"
    "INSERT INTO audit VALUES (2, 100, 'deposit', 'org:oldorg', 'OLDENVAAAAAAAAAAAAAAAA',"
    " '127.0.0.1', NULL);"
    "INSERT INTO audit VALUES (5, 200, 'release', 'r@x.example', 'OLDENVAAAAAAAAAAAAAAAA',"
    " '127.0.0.1', 'first');";

static int
sql_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	int rc = sqlite3_open(path, &db);

	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	sqlite3_close(db);
	return rc;
}

/* The schema as SQLite reports it, for comparing two databases. */
static void
schema_of(const char *path, char *out, size_t outsz)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	size_t len = 0;

	out[0] = '\0';
	if (sqlite3_open(path, &db) == SQLITE_OK && sqlite3_prepare_v2(db,
	    "SELECT type, name, coalesce(sql, '') FROM sqlite_master ORDER BY type, name",
	    -1, &st, NULL) == SQLITE_OK) {
		while (sqlite3_step(st) == SQLITE_ROW && len < outsz) {
			int w = snprintf(out + len, outsz - len, "%s %s %s\n",
			    (const char *)sqlite3_column_text(st, 0),
			    (const char *)sqlite3_column_text(st, 1),
			    (const char *)sqlite3_column_text(st, 2));
			if (w < 0)
				break;
			len += (size_t)w;
		}
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
}

static void
test_migration(void)
{
	static char fresh[8192], migrated[8192];
	struct sp_store *s = NULL;
	struct sp_err err = {{0}};
	struct sp_account got;
	struct sp_throttle_policy p = {3, 10, 100, 0, 0};
	unsigned char th[SP_SHA256_LEN], oth[SP_SHA256_LEN];
	char old_dir[300], path[340], sql[400], email[SP_STORE_EMAIL_MAX + 1];
	struct sp_org o;
	struct sp_envelope_rec g;
	struct name_list l;
	struct event_list ev;
	int64_t until, n = 0;
	size_t i;

	snprintf(old_dir, sizeof(old_dir), "%s/v1", dir);
	T_EQ_INT(mkdir(old_dir, 0700), 0);
	snprintf(path, sizeof(path), "%s/keyd.sqlite", old_dir);
	tok("v1-org", oth);
	{
		static char v1[sizeof(v1_schema) + 100];
		char hex[2 * SP_SHA256_LEN + 1];

		for (i = 0; i < SP_SHA256_LEN; i++)
			snprintf(hex + 2 * i, 3, "%02x", oth[i]);
		snprintf(v1, sizeof(v1), v1_schema, hex);
		T_EQ_INT(sql_exec(path, v1), SQLITE_OK);
	}
	tok("v1-activation", th);
	{
		char hex[2 * SP_SHA256_LEN + 1];

		for (i = 0; i < SP_SHA256_LEN; i++)
			snprintf(hex + 2 * i, 3, "%02x", th[i]);
		snprintf(sql, sizeof(sql), "INSERT INTO activation_tokens VALUES"
		    " (X'%s', 'new@example.org', 5000, 0)", hex);
	}
	T_EQ_INT(sql_exec(path, sql), SQLITE_OK);

	T_EQ_INT(sp_store_open(&s, "sqlite", old_dir, &err), SP_OK);
	if (s == NULL)
		return;
	/* The activated account is there, with the new fields. */
	T_EQ_INT(sp_store_account_get(s, "old@example.org", &got, &err), SP_OK);
	T_CHECK(strcmp(got.pw_hash, "$argon2id$old") == 0 && strcmp(got.phrase, "red door") == 0);
	T_EQ_INT(got.failed_logins, 2);
	T_EQ_INT(got.pw_changed, 300);
	T_EQ_INT(got.totp_wrapped_len, 0);
	T_EQ_INT(got.npasskeys, 0);
	/* Its throttle count survives: two before, the third attempt locks. */
	T_EQ_INT(sp_store_throttle_begin(s, "email:old@example.org", 360, &p, &until, &err), SP_OK);
	T_EQ_INT(until, 0);
	T_EQ_INT(sp_store_throttle_check(s, "email:old@example.org", 360, &until, &err), SP_OK);
	T_EQ_INT(until, 370);
	/* The unactivated one is a pending registration whose link activates it. */
	T_EQ_INT(sp_store_account_get(s, "new@example.org", &got, &err), SP_ERR_NOTFOUND);
	T_EQ_INT(sp_store_pending_by_token(s, th, 4000, &got, &err), SP_OK);
	T_CHECK(strcmp(got.email, "new@example.org") == 0);
	T_CHECK(strcmp(got.pw_hash, "$argon2id$new") == 0);
	T_CHECK(strcmp(got.language, "de") == 0);
	T_EQ_INT(got.created, 400);
	T_EQ_INT(sp_store_pending_activate(s, th, 4000, email, NULL, &err), SP_OK);
	T_CHECK(strcmp(email, "new@example.org") == 0);
	T_EQ_INT(sp_store_account_get(s, "new@example.org", &got, &err), SP_OK);
	T_CHECK(strcmp(got.pw_hash, "$argon2id$new") == 0 && strcmp(got.phrase, "green door") == 0);

	/* v3: the organisation's domain (lower-case) and token ("default");
	 * the second of the same name is renamed and has no domain. */
	T_EQ_INT(sp_store_org_get(s, "oldorg", &o, &err), SP_OK);
	T_EQ_INT(o.id, 1);
	T_EQ_INT(o.created, 50);
	T_CHECK(strcmp(o.domain, "old.example") == 0);
	T_CHECK(strcmp(o.policy.level, "medium") == 0 && o.policy.replies == 1);
	T_EQ_INT(sp_store_org_by_token(s, oth, &o, &err), SP_OK);
	T_EQ_INT(o.id, 1);
	memset(&l, 0, sizeof(l));
	T_EQ_INT(sp_store_org_token_each(s, 1, token_cb, &l, &err), SP_OK);
	T_EQ_INT(l.n, 1);
	T_CHECK(strcmp(l.v[0], "default") == 0 && l.t[0] == 0);
	T_EQ_INT(sp_store_org_get(s, "oldorg-2", &o, &err), SP_OK);
	T_EQ_INT(o.id, 2);
	T_CHECK(strcmp(o.domain, "") == 0);
	T_EQ_INT(sp_store_org_by_domain(s, "old.example", &o, &err), SP_OK);
	T_EQ_INT(o.id, 1);
	/* The old envelope: a format 1 message at level medium. */
	T_EQ_INT(sp_store_envelope_get(s, "OLDENVAAAAAAAAAAAAAAAA", &g, &err), SP_OK);
	T_EQ_INT(g.format, 1);
	T_EQ_INT(g.kind, SP_ENV_KIND_MESSAGE);
	T_CHECK(strcmp(g.level, "medium") == 0);
	T_CHECK(strcmp(g.org_domain, "old.example") == 0);
	T_EQ_INT(g.wrapped_len, 5);
	T_EQ_INT(g.sealed, 0);
	T_EQ_INT(g.nrcpt, 2);
	if (g.nrcpt == 2 && g.rstate != NULL)
		T_CHECK(g.rstate[1].opened == 0 && g.rstate[1].retracted == 0);
	sp_envelope_rec_clear(&g);
	/* The old audit records are chain 0, seq 1-3, and verify. */
	memset(&ev, 0, sizeof(ev));
	T_EQ_INT(sp_store_audit_scan(s, 0, 0, event_cb, &ev, &err), SP_OK);
	T_EQ_INT(ev.n, 3);
	T_CHECK(strcmp(ev.ev[0], "org-add") == 0 && strcmp(ev.ev[2], "release") == 0);
	T_CHECK(ev.seq[0] == 1 && ev.seq[1] == 2 && ev.seq[2] == 3);
	T_EQ_INT(sp_store_audit_verify(s, NULL, &n, &err), SP_OK);
	T_EQ_INT(n, 3);
	{
		struct sp_audit a = {300, "after-upgrade", NULL, NULL, NULL, NULL, 0};

		T_EQ_INT(sp_store_audit(s, &a, &err), SP_OK);
	}
	T_EQ_INT(sp_store_audit_verify(s, NULL, &n, &err), SP_OK);
	T_EQ_INT(n, 4);
	memset(&ev, 0, sizeof(ev));
	T_EQ_INT(sp_store_audit_scan(s, 0, 300, event_cb, &ev, &err), SP_OK);
	T_EQ_INT(ev.n, 1);
	T_EQ_INT(ev.seq[0], 4);
	sp_store_close(s);
	s = NULL;

	/* The old session (2-byte hash in this hand-made row) has an auth_time. */
	{
		sqlite3 *db = NULL;
		sqlite3_stmt *st = NULL;

		T_EQ_INT(sqlite3_open(path, &db), SQLITE_OK);
		T_EQ_INT(sqlite3_prepare_v2(db, "SELECT auth_time FROM sessions WHERE email ="
		    " 'old@example.org'", -1, &st, NULL), SQLITE_OK);
		T_EQ_INT(sqlite3_step(st), SQLITE_ROW);
		T_EQ_INT(sqlite3_column_int64(st, 0), 0);
		sqlite3_finalize(st);
		T_EQ_INT(sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master WHERE name ="
		    " 'activation_tokens'", -1, &st, NULL), SQLITE_OK);
		T_EQ_INT(sqlite3_step(st), SQLITE_ROW);
		T_EQ_INT(sqlite3_column_int(st, 0), 0);
		sqlite3_finalize(st);
		sqlite3_close(db);
	}
	/* A session made with a real hash works after the upgrade. */
	T_EQ_INT(sp_store_open(&s, "sqlite", old_dir, &err), SP_OK);	/* reopen: stays v3 */
	new_session(s, "old-s", "old@example.org", 500);
	T_EQ_INT(session_live(s, "old-s", 600), 1);
	sp_store_close(s);
	s = NULL;

	/* A fresh database and an upgraded one have the same schema. */
	schema_of(path, migrated, sizeof(migrated));
	snprintf(path, sizeof(path), "%s/keyd.sqlite", dir);
	schema_of(path, fresh, sizeof(fresh));
	T_CHECK(strlen(fresh) > 100);
	T_CHECK(strcmp(fresh, migrated) == 0);
	T_CHECK(strstr(fresh, "activation_tokens") == NULL);
	T_CHECK(strstr(fresh, "passkeys") != NULL);
	T_CHECK(strstr(fresh, "org_domains") != NULL && strstr(fresh, "audit_heads") != NULL);
	T_CHECK(strstr(fresh, "orgs_v3") == NULL);

	/* A newer schema is refused. */
	snprintf(path, sizeof(path), "%s/keyd.sqlite", old_dir);
	T_EQ_INT(sql_exec(path, "UPDATE schema_version SET version = 11"), SQLITE_OK);
	T_EQ_INT(sp_store_open(&s, "sqlite", old_dir, &err), SP_ERR_CONFIG);
	T_CHECK(s == NULL);
}

/* PostgreSQL helpers, below. */
static char pg_name[64];	/* the fresh database of this run */
static char pg_url[1024];	/* its URI */
static int url_with_db(const char *url, const char *db, char *out, size_t outsz);
static int pg_database(const char *verb, const char *name);

/* Collects what a wrapped_each call shows; stops after stop_after rows. */
struct wrapped_seen {
	int n;
	int stop_after;
	char refs[8][SP_STORE_EMAIL_MAX + 1];
	uint32_t key_id[8];
};

static int
wrapped_cb(void *ctx, const char *ref, uint32_t key_id, const unsigned char *w, size_t len)
{
	struct wrapped_seen *seen = ctx;

	if (seen->n < 8) {
		snprintf(seen->refs[seen->n], sizeof(seen->refs[0]), "%s", ref);
		seen->key_id[seen->n] = key_id;
	}
	T_EQ_INT(len, 60);
	T_EQ_INT(w[0], key_id);
	seen->n++;
	return seen->stop_after != 0 && seen->n >= seen->stop_after;
}

#define REWRAP_MANY 300	/* over a batch of either backend (256) */

/* A rewrap of a row read as (key_id, old: 60 bytes) to key 5 or 3 (the new
 * key id is the first byte of nw). */
static int
rewrap_env(struct sp_store *s, const char *ref, uint32_t key_id, const unsigned char *old,
    const unsigned char *nw, size_t len, const struct sp_audit *a, struct sp_err *err)
{
	const struct sp_rewrap r = {.ref = ref, .old_key_id = key_id, .old = old, .old_len = 60,
	    .new_key_id = nw[0], .wrapped = nw, .len = len};

	return sp_store_envelope_rewrap(s, &r, a, err);
}

static int
rewrap_totp(struct sp_store *s, const char *email, uint32_t key_id, const unsigned char *old,
    const unsigned char *nw)
{
	const struct sp_rewrap r = {.ref = email, .old_key_id = key_id, .old = old,
	    .old_len = 60, .new_key_id = nw[0], .wrapped = nw, .len = 60};
	struct sp_err err = {{0}};

	return sp_store_totp_rewrap(s, &r, NULL, &err);
}

struct rewrap_all {
	struct sp_store *s;
	int n;
	int failed;
};

/* Rewraps each row it is shown to key 5 (the store is written while the
 * listing runs). */
static int
rewrap_all_cb(void *ctx, const char *ref, uint32_t key_id, const unsigned char *w, size_t len)
{
	struct rewrap_all *ra = ctx;
	struct sp_err err = {{0}};
	unsigned char nw[60];

	memset(nw, 5, sizeof(nw));
	ra->n++;
	if (len != 60 || rewrap_env(ra->s, ref, key_id, w, nw, sizeof(nw), NULL, &err) != SP_OK) {
		fprintf(stderr, "rewrap %s: %s\n", ref, err.msg);
		ra->failed++;
	}
	return 0;
}

/* Master key rotation: list what is wrapped below a key id, rewrap a row
 * only while it still has the old id, for envelopes and TOTP secrets. */
static void
test_rewrap(void)
{
	struct sp_store *s = NULL;
	struct sp_err err = {{0}};
	struct sp_envelope_rec e, g;
	struct sp_account acc;
	struct sp_audit a = {0, "rewrap", "admin", NULL, NULL, "key 1 -> 3", 0};
	struct wrapped_seen seen;
	unsigned char h[SP_SHA256_LEN], w[60], o1[60], o2[60];
	char sub[300], rw_url[1100], *rc[] = {"pat@example.org"};
	static const char *ids[] = {"Rw000000000000000000A1", "Rw000000000000000000B2",
	    "Rw000000000000000000C3", "Rw000000000000000000D4"};
	static const uint32_t kid[] = {1, 2, 1, 3};
	int64_t org = 0;
	size_t i;

	/* a store of its own: the listings see every row of it */
	if (is_pg()) {
		snprintf(sub, sizeof(sub), "%s_rw", pg_name);
		T_EQ_INT(pg_database("CREATE", sub), 0);
		T_EQ_INT(url_with_db(pg_url, sub, rw_url, sizeof(rw_url)), 0);
	} else
		snprintf(rw_url, sizeof(rw_url), "%s/rewrap", dir);
	T_EQ_INT(sp_store_open(&s, backend, rw_url, &err), SP_OK);
	if (s == NULL)
		return;
	tok("spo_rewrap", h);
	T_EQ_INT(sp_store_org_add(s, "Rewrap", "rewrap.example", h, 100, &org, &err), SP_OK);
	for (i = 0; i < 4; i++) {
		memset(&e, 0, sizeof(e));
		snprintf(e.id, sizeof(e.id), "%s", ids[i]);
		e.org_id = org;
		snprintf(e.from, sizeof(e.from), "doc@rewrap.example");
		e.rcpt = rc;
		e.nrcpt = 1;
		e.created = 1000;
		e.key_id = kid[i];
		memset(e.wrapped, (int)kid[i], 60);
		e.wrapped_len = 60;
		T_EQ_INT(sp_store_envelope_add(s, &e, NULL, &err), SP_OK);
	}
	memset(&seen, 0, sizeof(seen));
	T_EQ_INT(sp_store_envelope_wrapped_each(s, 3, wrapped_cb, &seen, &err), SP_OK);
	T_EQ_INT(seen.n, 3);	/* keys 1, 2, 1; not the one under key 3 */
	T_CHECK(strcmp(seen.refs[0], ids[0]) == 0 && strcmp(seen.refs[1], ids[1]) == 0 &&
	    strcmp(seen.refs[2], ids[2]) == 0);
	T_EQ_INT(seen.key_id[1], 2);
	memset(&seen, 0, sizeof(seen));
	T_EQ_INT(sp_store_envelope_wrapped_each(s, 2, wrapped_cb, &seen, &err), SP_OK);
	T_EQ_INT(seen.n, 2);
	memset(&seen, 0, sizeof(seen));
	seen.stop_after = 1;
	T_EQ_INT(sp_store_envelope_wrapped_each(s, 3, wrapped_cb, &seen, &err), SP_OK);
	T_EQ_INT(seen.n, 1);	/* fn stopped it */

	memset(w, 3, sizeof(w));
	memset(o1, 1, sizeof(o1));
	memset(o2, 2, sizeof(o2));
	a.envelope = ids[0];
	/* the right key id with other bytes than the row holds: not written */
	T_EQ_INT(rewrap_env(s, ids[0], 1, o2, w, sizeof(w), &a, &err), SP_ERR_NOTFOUND);
	T_EQ_INT(rewrap_env(s, ids[0], 1, o1, w, sizeof(w), &a, &err), SP_OK);
	/* the row moved on: a second rewrap from key 1 finds nothing */
	T_EQ_INT(rewrap_env(s, ids[0], 1, o1, w, sizeof(w), &a, &err), SP_ERR_NOTFOUND);
	T_EQ_INT(rewrap_env(s, "Rw000000000000000000Z9", 1, o1, w, sizeof(w), NULL, &err),
	    SP_ERR_NOTFOUND);
	T_EQ_INT(rewrap_env(s, ids[1], 2, o2, w, 0, NULL, &err), SP_ERR_INVALID);
	T_EQ_INT(rewrap_env(s, ids[1], 2, o2, w, SP_STORE_WRAPPED_MAX + 1, NULL, &err),
	    SP_ERR_INVALID);
	{
		const struct sp_rewrap r = {.ref = ids[1], .old_key_id = 2, .old = o2,
		    .old_len = 0, .new_key_id = 3, .wrapped = w, .len = sizeof(w)};

		T_EQ_INT(sp_store_envelope_rewrap(s, &r, NULL, &err), SP_ERR_INVALID);
	}
	T_EQ_INT(audit_count(s, "rewrap"), 1);	/* the refused ones rolled back */
	T_EQ_INT(sp_store_envelope_get(s, ids[0], &g, &err), SP_OK);
	T_EQ_INT(g.key_id, 3);
	T_EQ_INT(g.wrapped_len, 60);
	T_EQ_MEM(g.wrapped, w, 60);
	T_EQ_INT(g.nrcpt, 1);	/* the rest of the row is untouched */
	sp_envelope_rec_clear(&g);
	memset(&seen, 0, sizeof(seen));
	T_EQ_INT(sp_store_envelope_wrapped_each(s, 3, wrapped_cb, &seen, &err), SP_OK);
	T_EQ_INT(seen.n, 2);

	/* TOTP secrets */
	make_account(s, "ann@example.org");
	make_account(s, "bob@example.org");
	make_account(s, "cy@example.org");	/* no TOTP: never listed */
	memset(w, 1, sizeof(w));
	T_EQ_INT(sp_store_totp_set(s, "ann@example.org", w, sizeof(w), 1, NULL, &err), SP_OK);
	memset(w, 3, sizeof(w));
	T_EQ_INT(sp_store_totp_set(s, "bob@example.org", w, sizeof(w), 3, NULL, &err), SP_OK);
	T_EQ_INT(sp_store_totp_step(s, "ann@example.org", 77, &err), SP_OK);
	memset(&seen, 0, sizeof(seen));
	T_EQ_INT(sp_store_totp_wrapped_each(s, 3, wrapped_cb, &seen, &err), SP_OK);
	T_EQ_INT(seen.n, 1);
	T_CHECK(strcmp(seen.refs[0], "ann@example.org") == 0);
	/* Read under key 1 (o1); the account sets up its authenticator app
	 * again, still under key 1 (o2): the rewrap of what was read must not
	 * bring the old secret back. */
	T_EQ_INT(sp_store_totp_set(s, "ann@example.org", o2, sizeof(o2), 1, NULL, &err), SP_OK);
	T_EQ_INT(sp_store_totp_step(s, "ann@example.org", 77, &err), SP_OK);
	T_EQ_INT(rewrap_totp(s, "ann@example.org", 1, o1, w), SP_ERR_NOTFOUND);
	T_EQ_INT(sp_store_account_get(s, "ann@example.org", &acc, &err), SP_OK);
	T_EQ_INT(acc.totp_key_id, 1);
	T_EQ_MEM(acc.totp_wrapped, o2, 60);
	T_EQ_INT(rewrap_totp(s, "ann@example.org", 1, o2, w), SP_OK);
	T_EQ_INT(rewrap_totp(s, "ann@example.org", 1, o2, w), SP_ERR_NOTFOUND);
	T_EQ_INT(rewrap_totp(s, "cy@example.org", 0, o1, w), SP_ERR_NOTFOUND);
	T_EQ_INT(sp_store_account_get(s, "ann@example.org", &acc, &err), SP_OK);
	T_EQ_INT(acc.totp_key_id, 3);
	T_EQ_MEM(acc.totp_wrapped, w, 60);
	T_EQ_INT(acc.totp_last_step, 77);	/* a used code stays used */
	memset(&seen, 0, sizeof(seen));
	T_EQ_INT(sp_store_totp_wrapped_each(s, 3, wrapped_cb, &seen, &err), SP_OK);
	T_EQ_INT(seen.n, 0);

	/* More rows than one batch, each rewrapped by fn while the listing
	 * goes on (as `sealpost key rewrap` does): every row seen once. */
	{
		struct rewrap_all ra = {s, 0, 0};

		for (i = 0; i < REWRAP_MANY; i++) {
			memset(&e, 0, sizeof(e));
			snprintf(e.id, sizeof(e.id), "Rm%020zu", i);
			e.org_id = org;
			snprintf(e.from, sizeof(e.from), "doc@rewrap.example");
			e.rcpt = rc;
			e.nrcpt = 1;
			e.created = 1000;
			e.key_id = 4;
			memset(e.wrapped, 4, 60);
			e.wrapped_len = 60;
			T_EQ_INT(sp_store_envelope_add(s, &e, NULL, &err), SP_OK);
		}
		T_EQ_INT(sp_store_envelope_wrapped_each(s, 5, rewrap_all_cb, &ra, &err), SP_OK);
		T_EQ_INT(ra.n, REWRAP_MANY + 4);	/* and the four of above */
		T_EQ_INT(ra.failed, 0);
		memset(&seen, 0, sizeof(seen));
		T_EQ_INT(sp_store_envelope_wrapped_each(s, 5, wrapped_cb, &seen, &err), SP_OK);
		T_EQ_INT(seen.n, 0);
	}
	sp_store_close(s);
	if (is_pg())
		T_EQ_INT(pg_database("DROP", sub), 0);
}

/* --- choosing a store by URL --------------------------------------------- */

static void
test_open_url(void)
{
	struct sp_store *s = NULL;
	struct sp_err err = {{0}};
	char url[400];

	/* No URL: SQLite in the data directory, as before. */
	T_EQ_INT(sp_store_open_url(&s, NULL, dir, &err), SP_OK);
	sp_store_close(s);
	T_EQ_INT(sp_store_open_url(&s, "", dir, &err), SP_OK);
	sp_store_close(s);
	T_EQ_INT(sp_store_open_url(&s, "sqlite:", dir, &err), SP_OK);
	sp_store_close(s);
	snprintf(url, sizeof(url), "sqlite:%s", dir);
	T_EQ_INT(sp_store_open_url(&s, url, "/nonexistent/elsewhere", &err), SP_OK);
	sp_store_close(s);
	snprintf(url, sizeof(url), "sqlite:%s/keyd.sqlite", dir);
	T_EQ_INT(sp_store_open_url(&s, url, "/nonexistent/elsewhere", &err), SP_OK);
	/* the same database: the organisation of test_orgs_envelopes is there */
	if (s != NULL) {
		struct sp_org o;
		unsigned char h[SP_SHA256_LEN];

		sp_sha256("spo_one", 7, h);
		T_EQ_INT(sp_store_org_by_token(s, h, &o, &err), SP_OK);
	}
	sp_store_close(s);
	s = NULL;
	/* Unknown schemes are refused without quoting the URL. */
	T_EQ_INT(sp_store_open_url(&s, "mysql://root:topsecret@db/keyd", dir, &err),
	    SP_ERR_CONFIG);
	T_CHECK(s == NULL);
	T_CHECK(strstr(err.msg, "topsecret") == NULL);
	/* A PostgreSQL URL with a broken escape in the password: libpq would
	 * quote it; the message must not. */
	T_EQ_INT(sp_store_open_url(&s, "postgresql://u:pa%zzword@127.0.0.1/db", dir, &err),
	    SP_ERR_CONFIG);
	T_CHECK(strstr(err.msg, "zzword") == NULL);
	/* Nobody listens on port 1: try again later; the password stays out. */
	T_EQ_INT(sp_store_open_url(&s, "postgres://sealpost:s3cret-pw@127.0.0.1:1/keyd", dir,
	    &err), SP_ERR_RETRY);
	T_CHECK(s == NULL);
	T_CHECK(strstr(err.msg, "s3cret-pw") == NULL);
	T_CHECK(strstr(err.msg, "127.0.0.1") != NULL);
	T_EQ_INT(sp_store_open(&s, "pgsql", "", &err), SP_ERR_CONFIG);
}

/* --- PostgreSQL ---------------------------------------------------------- */

/* url with its database replaced by db (query parameters kept). */
static int
url_with_db(const char *url, const char *db, char *out, size_t outsz)
{
	const char *p = strstr(url, "://"), *path, *query;
	int n;

	if (p == NULL)
		return -1;
	p += 3;
	query = strchr(p, '?');
	path = strchr(p, '/');
	if (path == NULL || (query != NULL && path > query))
		path = query ? query : p + strlen(p);
	n = snprintf(out, outsz, "%.*s/%s%s", (int)(path - url), url, db, query ? query : "");
	return n < 0 || (size_t)n >= outsz ? -1 : 0;
}

/* Run sql (no parameters) on a new connection to url: 0 on success; the
 * first column of the first row goes to val when given. */
static int
pg_sql(const char *url, const char *sql, char *val, size_t valsz)
{
	PGconn *c = PQconnectdb(url);
	PGresult *r = NULL;
	int rc = -1;

	if (PQstatus(c) == CONNECTION_OK) {
		r = PQexec(c, sql);
		if (PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK) {
			rc = 0;
			if (val != NULL)
				snprintf(val, valsz, "%s", PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "");
		} else
			fprintf(stderr, "pg: %s: %s", sql, PQresultErrorMessage(r));
	} else
		fprintf(stderr, "pg: %s", PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
	return rc;
}

/* CREATE or DROP DATABASE name on the server of SEALPOST_TEST_PG (the name
 * is ours: letters, digits and '_'; an identifier cannot be a parameter). */
static int
pg_database(const char *verb, const char *name)
{
	char sql[200];

	snprintf(sql, sizeof(sql), "%s DATABASE %s\"%s\"%s", verb,
	    strcmp(verb, "DROP") == 0 ? "IF EXISTS " : "", name,
	    strcmp(verb, "DROP") == 0 ? " WITH (FORCE)" : "");
	return pg_sql(getenv("SEALPOST_TEST_PG"), sql, NULL, 0);
}

static void
pg_drop_at_exit(void)
{
	if (pg_name[0] != '\0' && pg_database("DROP", pg_name) != 0)
		fprintf(stderr, "pg: could not drop database %s\n", pg_name);
	pg_name[0] = '\0';
}

/* Two handles on one database, as two key servers have: each sees the
 * other's sessions, tokens and counts, and parallel attempts through both
 * still let exactly `free` through. */
static void
test_pg_two_handles(void)
{
	struct sp_store *s1 = open_store(), *s2 = open_store();
	struct sp_err err = {{0}};
	struct sp_token_rec tr;
	struct thr_par p[16];
	pthread_t th[16];
	pthread_barrier_t go;
	unsigned char t[SP_SHA256_LEN];
	int i, n = 0, issued = -1;

	make_account(s1, "two@example.org");
	new_session(s1, "two-s", "two@example.org", 20000);
	T_EQ_INT(session_live(s2, "two-s", 20010), 1);
	tok("two-signin", t);
	T_EQ_INT(sp_store_token_issue(s1, SP_TOKEN_SIGNIN, "two@example.org", t, 20000, 21000,
	    NULL, NULL, &issued, NULL, &err), SP_OK);
	T_EQ_INT(issued, 1);
	T_EQ_INT(sp_store_token_use(s2, SP_TOKEN_SIGNIN, t, 20010, &tr, NULL, &err), SP_OK);
	T_EQ_INT(sp_store_token_use(s1, SP_TOKEN_SIGNIN, t, 20010, &tr, NULL, &err), SP_ERR_EXPIRED);
	n = -1;
	T_EQ_INT(sp_store_sessions_end(s2, "two@example.org", &n, NULL, &err), SP_OK);
	T_EQ_INT(n, 1);
	T_EQ_INT(session_live(s1, "two-s", 20020), 0);

	pthread_barrier_init(&go, NULL, 16);
	for (i = 0; i < 16; i++) {
		p[i] = (struct thr_par){i % 2 ? s1 : s2, &go, "email:race2@example.org", 0, -1};
		pthread_create(&th[i], NULL, begin_once, &p[i]);
	}
	for (n = 0, i = 0; i < 16; i++) {
		pthread_join(th[i], NULL);
		T_EQ_INT(p[i].st, SP_OK);
		n += p[i].through;
	}
	T_EQ_INT(n, 5);
	pthread_barrier_destroy(&go);
	sp_store_close(s1);
	sp_store_close(s2);
}

struct issue_par {
	struct sp_store *s;
	pthread_barrier_t *go;
	int i;
	int issued;
	int st;
};

static void *
issue_once(void *arg)
{
	struct issue_par *p = arg;
	struct sp_throttle_policy rate = {3, 600, 600, 3600, 0};
	struct sp_err err;
	unsigned char t[SP_SHA256_LEN];
	char name[32];

	snprintf(name, sizeof(name), "par-issue-%d", p->i);
	tok(name, t);
	pthread_barrier_wait(p->go);
	do
		p->st = sp_store_token_issue(p->s, SP_TOKEN_RESET, "two@example.org", t, 30000,
		    31000, "mail:two@example.org", &rate, &p->issued, NULL, &err);
	while (p->st == SP_ERR_RETRY);
	return NULL;
}

/* 16 mails asked for at once through two handles: `free` tokens issued. */
static void
test_pg_issue_parallel(void)
{
	struct sp_store *s1 = open_store(), *s2 = open_store();
	struct issue_par p[16];
	pthread_t th[16];
	pthread_barrier_t go;
	int i, n = 0;

	pthread_barrier_init(&go, NULL, 16);
	for (i = 0; i < 16; i++) {
		p[i] = (struct issue_par){i % 2 ? s1 : s2, &go, i, 0, -1};
		pthread_create(&th[i], NULL, issue_once, &p[i]);
	}
	for (i = 0; i < 16; i++) {
		pthread_join(th[i], NULL);
		T_EQ_INT(p[i].st, SP_OK);
		n += p[i].issued;
	}
	T_EQ_INT(n, 3);
	pthread_barrier_destroy(&go);
	sp_store_close(s1);
	sp_store_close(s2);
}

struct open_par {
	const char *url;
	pthread_barrier_t *go;
	int st;
	struct sp_err err;
};

static void *
open_once(void *arg)
{
	struct open_par *p = arg;
	struct sp_store *s = NULL;

	pthread_barrier_wait(p->go);
	p->st = sp_store_open(&s, "pgsql", p->url, &p->err);
	sp_store_close(s);
	return NULL;
}

/* The schema: made once by several openers at once; a newer one refused;
 * log-in problems are configuration errors without the password. */
static void
test_pg_schema(void)
{
	struct sp_store *s = NULL;
	struct sp_err err = {{0}};
	struct open_par p[6];
	pthread_t th[6];
	pthread_barrier_t go;
	char name[80], url[1100], bad[1200], v[32];
	int i;

	T_EQ_INT(pg_sql(pg_url, "SELECT max(version) FROM schema_version", v, sizeof(v)), 0);
	T_CHECK(strcmp(v, "10") == 0);

	/* A database of its own, opened by six at once (two key servers
	 * starting together, each with a few threads). */
	snprintf(name, sizeof(name), "%s_c", pg_name);
	T_EQ_INT(pg_database("CREATE", name), 0);
	T_EQ_INT(url_with_db(pg_url, name, url, sizeof(url)), 0);
	pthread_barrier_init(&go, NULL, 6);
	for (i = 0; i < 6; i++) {
		p[i] = (struct open_par){url, &go, -1, {{0}}};
		pthread_create(&th[i], NULL, open_once, &p[i]);
	}
	for (i = 0; i < 6; i++) {
		pthread_join(th[i], NULL);
		T_EQ_INT(p[i].st, SP_OK);
		if (p[i].st != SP_OK)
			fprintf(stderr, "open %d: %s\n", i, p[i].err.msg);
	}
	pthread_barrier_destroy(&go);
	T_EQ_INT(pg_sql(url, "SELECT count(*) FROM schema_version", v, sizeof(v)), 0);
	T_CHECK(strcmp(v, "1") == 0);

	/* A newer schema is refused, and says so. */
	T_EQ_INT(pg_sql(url, "UPDATE schema_version SET version = 11", NULL, 0), 0);
	T_EQ_INT(sp_store_open(&s, "pgsql", url, &err), SP_ERR_CONFIG);
	T_CHECK(s == NULL);
	T_CHECK(strstr(err.msg, "newer") != NULL);
	T_EQ_INT(pg_database("DROP", name), 0);

	/* No such database, no such user: configuration, password unquoted. */
	T_EQ_INT(url_with_db(pg_url, "sp_no_such_db", url, sizeof(url)), 0);
	snprintf(bad, sizeof(bad), "%s%spassword=hunter2pw", url, strchr(url, '?') ? "&" : "?");
	T_EQ_INT(sp_store_open(&s, "pgsql", bad, &err), SP_ERR_CONFIG);
	T_CHECK(strstr(err.msg, "hunter2pw") == NULL);
	T_CHECK(strstr(err.msg, "sp_no_such_db") != NULL);
	snprintf(bad, sizeof(bad), "%s%suser=sp_no_such_role&password=hunter2pw", pg_url,
	    strchr(pg_url, '?') ? "&" : "?");
	T_EQ_INT(sp_store_open(&s, "pgsql", bad, &err), SP_ERR_CONFIG);
	T_CHECK(strstr(err.msg, "hunter2pw") == NULL);
	T_EQ_INT(sp_store_open_url(&s, bad, dir, &err), SP_ERR_CONFIG);
}

/* End every other connection to the test database (as a server restart
 * or an administrator would). */
static void
pg_kick(void)
{
	T_EQ_INT(pg_sql(pg_url, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
	    " WHERE datname = current_database() AND pid <> pg_backend_pid()", NULL, 0), 0);
}

static int
pg_ctl(const char *verb)
{
	const char *d = getenv("SEALPOST_TEST_PG_DIR");
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "bash tests/lib/pg.sh %s '%s' >/dev/null", verb, d);
	return system(cmd);
}

/* A connection that broke is replaced: reads and transactions go again by
 * themselves, a lone write says SP_ERR_RETRY once; with the server stopped
 * every call is SP_ERR_RETRY, and after it starts the next call works. */
static void
test_pg_retry(void)
{
	struct sp_store *s = open_store();
	struct sp_throttle_policy pol = {100, 30, 60, 0, 0};
	struct sp_err err = {{0}};
	struct sp_account acc;
	int64_t until;
	const char *d = getenv("SEALPOST_TEST_PG_DIR");

	T_EQ_INT(sp_store_throttle_check(s, "ip:203.0.113.9", 100, &until, &err), SP_OK);
	pg_kick();
	T_EQ_INT(sp_store_throttle_check(s, "ip:203.0.113.9", 100, &until, &err), SP_OK);
	pg_kick();
	T_EQ_INT(sp_store_throttle_begin(s, "ip:203.0.113.9", 100, &pol, &until, &err), SP_OK);
	pg_kick();
	T_EQ_INT(sp_store_throttle_undo(s, "ip:203.0.113.9", &err), SP_ERR_RETRY);
	T_EQ_INT(sp_store_throttle_undo(s, "ip:203.0.113.9", &err), SP_OK);

	if (d == NULL || *d == '\0' || strchr(d, '\'') != NULL ||
	    access("tests/lib/pg.sh", R_OK) != 0) {
		printf("store_test: SEALPOST_TEST_PG_DIR not set, server restart not tested\n");
		sp_store_close(s);
		return;
	}
	T_EQ_INT(pg_ctl("stop"), 0);
	T_EQ_INT(sp_store_account_get(s, "two@example.org", &acc, &err), SP_ERR_RETRY);
	T_EQ_INT(sp_store_throttle_begin(s, "ip:203.0.113.9", 100, &pol, &until, &err),
	    SP_ERR_RETRY);
	T_CHECK(strstr(err.msg, "127.0.0.1") != NULL);
	T_EQ_INT(sp_store_throttle_undo(s, "ip:203.0.113.9", &err), SP_ERR_RETRY);
	{
		struct sp_store *s2 = NULL;

		T_EQ_INT(sp_store_open(&s2, "pgsql", where, &err), SP_ERR_RETRY);
		T_CHECK(s2 == NULL);
	}
	T_EQ_INT(pg_ctl("start"), 0);
	T_EQ_INT(sp_store_account_get(s, "two@example.org", &acc, &err), SP_OK);
	T_EQ_INT(sp_store_throttle_begin(s, "ip:203.0.113.9", 100, &pol, &until, &err), SP_OK);
	T_EQ_INT(sp_store_throttle_undo(s, "ip:203.0.113.9", &err), SP_OK);
	sp_store_close(s);
}


/* --- schema v4: ciphertext copies ---------------------------------------- */

static void
test_copies(void)
{
	struct sp_store *s = open_store();
	struct sp_err err = {{0}};
	struct sp_envelope_copy c;
	struct sp_copy_ref refs[8];
	struct sp_org o;
	struct sp_audit a = {0, "copy-stored", "org:CopyOrg", NULL, NULL, "size", 0};
	unsigned char h[SP_SHA256_LEN];
	const unsigned char hdr[] = "{\"v\":2,\"id\":\"x\"}";
	char *rc[] = {"pat@example.org"};
	int64_t org = 0, org2 = 0, bytes = -1, now = 50000;
	size_t n = 99, i;
	int found;

	tok("copy-org", h);
	T_EQ_INT(sp_store_org_add(s, "CopyOrg", "copy.example", h, now, &org, &err), SP_OK);
	tok("copy-org2", h);
	T_EQ_INT(sp_store_org_add(s, "CopyOrg2", "copy2.example", h, now, &org2, &err), SP_OK);
	/* the quota starts at its default and is kept by org_update */
	T_EQ_INT(sp_store_org_get_id(s, org, &o, &err), SP_OK);
	T_EQ_INT(o.policy.copy_quota_mb, SP_STORE_COPY_QUOTA_MB);
	o.policy.copy_quota_mb = 7;
	o.policy.keep_copies = 30;
	T_EQ_INT(sp_store_org_update(s, &o, NULL, &err), SP_OK);
	T_EQ_INT(sp_store_org_get(s, "CopyOrg", &o, &err), SP_OK);
	T_EQ_INT(o.policy.copy_quota_mb, 7);
	T_EQ_INT(o.policy.keep_copies, 30);
	T_EQ_INT(env_put(s, "COPYAAAAAAAAAAAAAAAAAA", org, rc, 1, now, 0, NULL), SP_OK);
	T_EQ_INT(env_put(s, "COPYBBBBBBBBBBBBBBBBBB", org, rc, 1, now, now + 100, NULL), SP_OK);
	T_EQ_INT(env_put(s, "COPYCCCCCCCCCCCCCCCCCC", org, rc, 1, now, 0, NULL), SP_OK);
	T_EQ_INT(env_put(s, "COPYDDDDDDDDDDDDDDDDDD", org2, rc, 1, now, 0, NULL), SP_OK);
	/* nothing kept yet */
	T_EQ_INT(sp_store_envelope_copy_get(s, "COPYAAAAAAAAAAAAAAAAAA", &c, &err), SP_OK);
	T_CHECK(c.header == NULL && c.size == 0 && c.until == 0 && c.org_id == org);
	sp_envelope_copy_clear(&c);
	T_EQ_INT(sp_store_envelope_copy_get(s, "COPYNONEXXXXXXXXXXXXXX", &c, &err), SP_ERR_NOTFOUND);
	/* the header: once; the same again is fine, others are refused */
	T_EQ_INT(sp_store_envelope_header_set(s, "COPYAAAAAAAAAAAAAAAAAA", hdr, sizeof(hdr) - 1,
	    &err), SP_OK);
	T_EQ_INT(sp_store_envelope_header_set(s, "COPYAAAAAAAAAAAAAAAAAA", hdr, sizeof(hdr) - 1,
	    &err), SP_OK);
	T_EQ_INT(sp_store_envelope_header_set(s, "COPYAAAAAAAAAAAAAAAAAA", hdr, sizeof(hdr) - 2,
	    &err), SP_ERR_EXISTS);
	T_EQ_INT(sp_store_envelope_header_set(s, "COPYNONEXXXXXXXXXXXXXX", hdr, 3, &err),
	    SP_ERR_NOTFOUND);
	T_EQ_INT(sp_store_envelope_header_set(s, "COPYAAAAAAAAAAAAAAAAAA", hdr, 0, &err),
	    SP_ERR_INVALID);
	/* a seal with its header: digests and header in one write, the same
	 * refusals */
	{
		unsigned char hs[SP_SHA256_LEN], cs[SP_SHA256_LEN], sig[64];
		struct sp_audit sa = {0, "seal", "org:CopyOrg", "COPYCCCCCCCCCCCCCCCCCC", NULL,
		    NULL, org};
		struct sp_envelope_rec g;

		memset(hs, 0x31, sizeof(hs));
		memset(cs, 0x32, sizeof(cs));
		memset(sig, 0x33, sizeof(sig));
		T_EQ_INT(sp_store_envelope_seal_header(s, "COPYCCCCCCCCCCCCCCCCCC", hs, cs, sig,
		    "KIDCOPYCCCC", hdr, 0, &sa, &err), SP_ERR_INVALID);
		T_EQ_INT(sp_store_envelope_seal_header(s, "COPYNONEXXXXXXXXXXXXXX", hs, cs, sig,
		    "KIDCOPYCCCC", hdr, 3, &sa, &err), SP_ERR_NOTFOUND);
		T_EQ_INT(sp_store_envelope_seal_header(s, "COPYCCCCCCCCCCCCCCCCCC", hs, cs, sig,
		    "KIDCOPYCCCC", hdr, sizeof(hdr) - 1, &sa, &err), SP_OK);
		T_EQ_INT(sp_store_envelope_seal_header(s, "COPYCCCCCCCCCCCCCCCCCC", hs, cs, sig,
		    "KIDCOPYCCCC", hdr, sizeof(hdr) - 1, &sa, &err), SP_OK);	/* again */
		T_EQ_INT(sp_store_envelope_copy_get(s, "COPYCCCCCCCCCCCCCCCCCC", &c, &err), SP_OK);
		T_CHECK(c.header != NULL && c.header_len == sizeof(hdr) - 1 &&
		    memcmp(c.header, hdr, sizeof(hdr) - 1) == 0);
		sp_envelope_copy_clear(&c);
		T_EQ_INT(sp_store_envelope_get(s, "COPYCCCCCCCCCCCCCCCCCC", &g, &err), SP_OK);
		T_CHECK(g.sealed == 1 && memcmp(g.header_sha, hs, sizeof(hs)) == 0);
		sp_envelope_rec_clear(&g);
		/* another header for the same seal: refused, nothing changed */
		T_EQ_INT(sp_store_envelope_seal_header(s, "COPYCCCCCCCCCCCCCCCCCC", hs, cs, sig,
		    "KIDCOPYCCCC", hdr, sizeof(hdr) - 2, &sa, &err), SP_ERR_EXISTS);
		T_EQ_INT(sp_store_envelope_copy_get(s, "COPYCCCCCCCCCCCCCCCCCC", &c, &err), SP_OK);
		T_CHECK(c.header_len == sizeof(hdr) - 1);
		sp_envelope_copy_clear(&c);
	}
	/* record copies within the quota (7 MiB here) */
	a.envelope = "COPYAAAAAAAAAAAAAAAAAA";
	a.org_id = org;
	T_EQ_INT(sp_store_envelope_copy_set(s, "COPYAAAAAAAAAAAAAAAAAA", 4 << 20, now + 10, 7 << 20,
	    &a, &err), SP_OK);
	T_EQ_INT(sp_store_envelope_copy_get(s, "COPYAAAAAAAAAAAAAAAAAA", &c, &err), SP_OK);
	T_EQ_INT(c.size, 4 << 20);
	T_EQ_INT(c.until, now + 10);
	T_CHECK(c.header_len == sizeof(hdr) - 1 && memcmp(c.header, hdr, c.header_len) == 0);
	sp_envelope_copy_clear(&c);
	T_EQ_INT(sp_store_envelope_copy_set(s, "COPYBBBBBBBBBBBBBBBBBB", 4 << 20, 0, 7 << 20, NULL,
	    &err), SP_ERR_TOOBIG);
	T_EQ_INT(sp_store_envelope_copy_set(s, "COPYBBBBBBBBBBBBBBBBBB", 3 << 20, 0, 7 << 20, NULL,
	    &err), SP_OK);
	/* recording the same envelope again counts it once */
	T_EQ_INT(sp_store_envelope_copy_set(s, "COPYAAAAAAAAAAAAAAAAAA", 4 << 20, now + 10, 7 << 20,
	    NULL, &err), SP_OK);
	T_EQ_INT(sp_store_envelope_copy_set(s, "COPYCCCCCCCCCCCCCCCCCC", 100, 0, 0, NULL, &err),
	    SP_OK);		/* no quota */
	T_EQ_INT(sp_store_envelope_copy_set(s, "COPYDDDDDDDDDDDDDDDDDD", 5, 0, 7 << 20, NULL, &err),
	    SP_OK);
	T_EQ_INT(sp_store_envelope_copy_set(s, "COPYNONEXXXXXXXXXXXXXX", 5, 0, 0, NULL, &err),
	    SP_ERR_NOTFOUND);
	T_EQ_INT(sp_store_org_copy_bytes(s, org, &bytes, &err), SP_OK);
	T_EQ_INT(bytes, (7 << 20) + 100);
	T_EQ_INT(sp_store_org_copy_bytes(s, org2, &bytes, &err), SP_OK);
	T_EQ_INT(bytes, 5);
	{
		struct sp_audit_find f = {"copy-stored", "org:CopyOrg", 0};

		sp_store_audit_each(s, "copy-stored", find_cb, &f, &err);
		T_EQ_INT(f.found, 1);
	}
	/* which must go: none yet; then past copy_until (A), expired (B),
	 * retracted as a whole (C), the organisation removed (D) */
	T_EQ_INT(sp_store_copies_doomed(s, now, refs, 8, &n, &err), SP_OK);
	T_EQ_INT(n, 0);
	T_EQ_INT(sp_store_copies_doomed(s, now + 10, refs, 8, &n, &err), SP_OK);
	T_EQ_INT(n, 1);
	T_CHECK(strcmp(refs[0].id, "COPYAAAAAAAAAAAAAAAAAA") == 0 && refs[0].org_id == org &&
	    refs[0].size == 4 << 20);
	T_EQ_INT(sp_store_copies_doomed(s, now + 100, refs, 8, &n, &err), SP_OK);
	T_EQ_INT(n, 2);
	T_EQ_INT(sp_store_envelope_set_retracted(s, "COPYCCCCCCCCCCCCCCCCCC", "pat@example.org", 1,
	    NULL, &err), SP_OK);
	T_EQ_INT(sp_store_copies_doomed(s, now, refs, 8, &n, &err), SP_OK);
	T_EQ_INT(n, 0);		/* one recipient only: the copy stays */
	T_EQ_INT(sp_store_envelope_set_retracted(s, "COPYCCCCCCCCCCCCCCCCCC", NULL, 1, NULL, &err),
	    SP_OK);
	T_EQ_INT(sp_store_org_remove(s, org2, now, NULL, &err), SP_OK);
	T_EQ_INT(sp_store_copies_doomed(s, now + 100, refs, 8, &n, &err), SP_OK);
	T_EQ_INT(n, 4);
	T_EQ_INT(sp_store_copies_doomed(s, now + 100, refs, 2, &n, &err), SP_OK);
	T_EQ_INT(n, 2);
	/* cleared: gone from the list and the quota */
	T_EQ_INT(sp_store_copies_doomed(s, now + 100, refs, 8, &n, &err), SP_OK);
	for (i = 0; i < n; i++)
		T_EQ_INT(sp_store_envelope_copy_set(s, refs[i].id, 0, 0, 0, NULL, &err), SP_OK);
	T_EQ_INT(sp_store_copies_doomed(s, now + 100, refs, 8, &n, &err), SP_OK);
	T_EQ_INT(n, 0);
	T_EQ_INT(sp_store_org_copy_bytes(s, org, &bytes, &err), SP_OK);
	T_EQ_INT(bytes, 0);
	T_EQ_INT(sp_store_envelope_copy_get(s, "COPYAAAAAAAAAAAAAAAAAA", &c, &err), SP_OK);
	T_CHECK(c.size == 0 && c.until == 0 && c.header != NULL);	/* the header stays */
	sp_envelope_copy_clear(&c);
	/* a shredded envelope's copy must go too */
	T_EQ_INT(sp_store_envelope_copy_set(s, "COPYBBBBBBBBBBBBBBBBBB", 10, 0, 0, NULL, &err), SP_OK);
	T_EQ_INT(sp_store_envelope_shred_expired(s, now + 200, 0, NULL, &err), SP_OK);
	T_EQ_INT(sp_store_copies_doomed(s, now, refs, 8, &n, &err), SP_OK);
	found = n == 1 && strcmp(refs[0].id, "COPYBBBBBBBBBBBBBBBBBB") == 0;
	T_CHECK(found);
	sp_store_close(s);
}

/* A store of schema version 3 (as the previous release left it: made here
 * by taking version 4's additions away) is upgraded when opened, keeping
 * its data; the result has the fresh schema. */
static void
test_migration_v3(void)
{
	static char fresh[8192], migrated[8192];
	struct sp_store *s = NULL;
	struct sp_err err = {{0}};
	struct sp_envelope_copy c;
	struct sp_org o;
	struct sp_envelope_rec g;
	unsigned char h[SP_SHA256_LEN];
	char v3_dir[300], path[340], *rc[] = {"pat@example.org"};
	int64_t org = 0;

	snprintf(v3_dir, sizeof(v3_dir), "%s/v3", dir);
	T_EQ_INT(mkdir(v3_dir, 0700), 0);
	T_EQ_INT(sp_store_open(&s, "sqlite", v3_dir, &err), SP_OK);
	tok("v3-org", h);
	T_EQ_INT(sp_store_org_add(s, "V3Org", "v3.example", h, 100, &org, &err), SP_OK);
	T_EQ_INT(env_put(s, "V3ENVAAAAAAAAAAAAAAAAA", org, rc, 1, 100, 0, NULL), SP_OK);
	sp_store_close(s);
	s = NULL;
	snprintf(path, sizeof(path), "%s/keyd.sqlite", v3_dir);
	T_EQ_INT(sql_exec(path, "DROP INDEX envelopes_copies;"
	    "ALTER TABLE envelopes DROP COLUMN sealed_header;"
	    "ALTER TABLE envelopes DROP COLUMN copy_size;"
	    "ALTER TABLE envelopes DROP COLUMN copy_until;"
	    "ALTER TABLE orgs DROP COLUMN copy_quota_mb;"
	    "ALTER TABLE accounts DROP COLUMN profile_todo;"
	    "ALTER TABLE pending DROP COLUMN profile_todo;"
	    "ALTER TABLE sessions DROP COLUMN via;"
	    "DROP TABLE devices;"
	    "DROP INDEX org_keys_reply;"
	    "ALTER TABLE orgs DROP COLUMN forward_domains;"
	    "ALTER TABLE accounts DROP COLUMN bcc_default;"
	    "ALTER TABLE org_keys DROP COLUMN reply;"
	    "ALTER TABLE org_keys DROP COLUMN wrapped;"
	    "ALTER TABLE org_keys DROP COLUMN wrap_key_id;"
	    "DROP TABLE mailq;"
	    "ALTER TABLE envelope_rcpt DROP COLUMN hidden;"
	    "ALTER TABLE envelopes DROP COLUMN holder;"
	    "UPDATE schema_version SET version = 3"), SQLITE_OK);
	T_EQ_INT(sp_store_open(&s, "sqlite", v3_dir, &err), SP_OK);
	if (s == NULL) {
		fprintf(stderr, "v3 upgrade: %s\n", err.msg);
		return;
	}
	T_EQ_INT(sp_store_org_get_id(s, org, &o, &err), SP_OK);
	T_EQ_INT(o.policy.copy_quota_mb, SP_STORE_COPY_QUOTA_MB);
	T_EQ_INT(sp_store_envelope_get(s, "V3ENVAAAAAAAAAAAAAAAAA", &g, &err), SP_OK);
	T_EQ_INT(g.nrcpt, 1);
	T_CHECK(g.rstate != NULL && g.rstate[0].hidden == 0);
	sp_envelope_rec_clear(&g);
	{
		unsigned char tag[SP_SHA256_LEN];

		/* deposited before holder tags: none (v10) */
		T_EQ_INT(sp_store_envelope_holder(s, "V3ENVAAAAAAAAAAAAAAAAA", tag, &err),
		    SP_ERR_NOTFOUND);
	}
	T_EQ_INT(sp_store_envelope_copy_get(s, "V3ENVAAAAAAAAAAAAAAAAA", &c, &err), SP_OK);
	T_CHECK(c.size == 0 && c.header == NULL);
	sp_envelope_copy_clear(&c);
	T_EQ_INT(sp_store_envelope_copy_set(s, "V3ENVAAAAAAAAAAAAAAAAA", 9, 0, 0, NULL, &err),
	    SP_OK);
	sp_store_close(s);
	schema_of(path, migrated, sizeof(migrated));
	T_CHECK(strstr(migrated, "hidden INTEGER") != NULL);
	snprintf(path, sizeof(path), "%s/keyd.sqlite", dir);
	schema_of(path, fresh, sizeof(fresh));
	T_CHECK(strstr(migrated, "copy_quota_mb") != NULL && strstr(migrated, "envelopes_copies") != NULL);
	T_CHECK(strstr(migrated, "profile_todo") != NULL);
	T_CHECK(strstr(fresh, "copy_quota_mb") != NULL);
}


/* A PostgreSQL store of schema version 3 (version 4's additions taken
 * away) is upgraded when opened, keeping its data. */
static void
test_pg_migration_v3(void)
{
	struct sp_store *s = NULL;
	struct sp_err err = {{0}};
	struct sp_envelope_copy c;
	struct sp_envelope_rec g;
	struct sp_org o;
	unsigned char h[SP_SHA256_LEN];
	char name[80], url[1100], v[32], *rc[] = {"pat@example.org"};
	int64_t org = 0;

	snprintf(name, sizeof(name), "%s_v3", pg_name);
	T_EQ_INT(pg_database("CREATE", name), 0);
	T_EQ_INT(url_with_db(pg_url, name, url, sizeof(url)), 0);
	T_EQ_INT(sp_store_open(&s, "pgsql", url, &err), SP_OK);
	tok("v3-org", h);
	T_EQ_INT(sp_store_org_add(s, "V3Org", "v3.example", h, 100, &org, &err), SP_OK);
	T_EQ_INT(env_put(s, "V3ENVAAAAAAAAAAAAAAAAA", org, rc, 1, 100, 0, NULL), SP_OK);
	sp_store_close(s);
	s = NULL;
	T_EQ_INT(pg_sql(url, "DROP INDEX envelopes_copies;"
	    "ALTER TABLE envelopes DROP COLUMN sealed_header, DROP COLUMN copy_size,"
	    " DROP COLUMN copy_until;"
	    "ALTER TABLE orgs DROP COLUMN copy_quota_mb;"
	    "ALTER TABLE accounts DROP COLUMN profile_todo;"
	    "ALTER TABLE pending DROP COLUMN profile_todo;"
	    "ALTER TABLE sessions DROP COLUMN via;"
	    "DROP TABLE devices;"
	    "DROP INDEX org_keys_reply;"
	    "ALTER TABLE orgs DROP COLUMN forward_domains;"
	    "ALTER TABLE accounts DROP COLUMN bcc_default;"
	    "ALTER TABLE org_keys DROP COLUMN reply, DROP COLUMN wrapped, DROP COLUMN wrap_key_id;"
	    "DROP TABLE mailq;"
	    "ALTER TABLE envelope_rcpt DROP COLUMN hidden;"
	    "ALTER TABLE envelopes DROP COLUMN holder;"
	    "UPDATE schema_version SET version = 3", NULL, 0), 0);
	T_EQ_INT(sp_store_open(&s, "pgsql", url, &err), SP_OK);
	if (s != NULL) {
		T_EQ_INT(sp_store_org_get_id(s, org, &o, &err), SP_OK);
		T_EQ_INT(o.policy.copy_quota_mb, SP_STORE_COPY_QUOTA_MB);
		T_EQ_INT(sp_store_envelope_copy_set(s, "V3ENVAAAAAAAAAAAAAAAAA", 9, 0, 0, NULL, &err),
		    SP_OK);
		T_EQ_INT(sp_store_envelope_copy_get(s, "V3ENVAAAAAAAAAAAAAAAAA", &c, &err), SP_OK);
		T_EQ_INT(sp_store_envelope_get(s, "V3ENVAAAAAAAAAAAAAAAAA", &g, &err), SP_OK);
		T_CHECK(g.nrcpt == 1 && g.rstate != NULL && g.rstate[0].hidden == 0);
		sp_envelope_rec_clear(&g);
		{
			unsigned char tag[SP_SHA256_LEN];

			T_EQ_INT(sp_store_envelope_holder(s, "V3ENVAAAAAAAAAAAAAAAAA", tag, &err),
			    SP_ERR_NOTFOUND);
		}
		T_EQ_INT(c.size, 9);
		sp_envelope_copy_clear(&c);
		sp_store_close(s);
	}
	T_EQ_INT(pg_sql(url, "SELECT max(version) FROM schema_version", v, sizeof(v)), 0);
	T_CHECK(strcmp(v, "10") == 0);
	T_EQ_INT(pg_database("DROP", name), 0);
}

/* --- the group commit and the release's read ----------------------------- */

#define GC_THREADS 8
#define GC_EACH 25

struct gc_par {
	struct sp_store *s;
	int64_t org;
	int t;
	int ok;
};

static void
gc_id(char id[SP_STORE_ID_MAX + 1], int t, int i)
{
	snprintf(id, SP_STORE_ID_MAX + 1, "GC%02u%04uAAAAAAAAAAAAAA", (unsigned)t % 100u, (unsigned)i % 10000u);
}

/* GC_EACH deposits, one after another, each with its audit record. */
static void *
gc_deposit(void *arg)
{
	struct gc_par *p = arg;
	char id[SP_STORE_ID_MAX + 1];
	char *rc[] = {"pat@gc.example"};
	int i, st;

	for (i = 0; i < GC_EACH; i++) {
		gc_id(id, p->t, i);
		do
			st = env_put(p->s, id, p->org, rc, 1, 1000 + i, 0, NULL);
		while (st == SP_ERR_RETRY);
		p->ok += st == SP_OK;
	}
	return NULL;
}

/* Records of one chain in their order: each thread's deposits must come in
 * the order it made them. */
struct gc_order {
	int last[GC_THREADS];
	int n, bad;
};

static int
gc_order_cb(void *ctx, const struct sp_audit_row *r)
{
	struct gc_order *o = ctx;
	int t, i;

	if (r->a.event == NULL || strcmp(r->a.event, "deposit") != 0 || r->a.envelope == NULL ||
	    sscanf(r->a.envelope, "GC%2d%4d", &t, &i) != 2 || t < 0 || t >= GC_THREADS)
		return 0;
	if (i != o->last[t] + 1)
		o->bad++;
	o->last[t] = i;
	o->n++;
	return 0;
}

/* Asynchronous writes, counted as their done calls arrive. */
struct gc_async {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int pending;
	int calls;
};

struct gc_write {
	struct sp_store_write w;	/* first */
	struct gc_async *as;
	struct sp_audit a;
	char id[SP_STORE_ID_MAX + 1];
	char actor[32];
};

static void
gc_done(struct sp_store_write *w)
{
	struct gc_write *g = (struct gc_write *)w;
	struct gc_async *as = g->as;

	pthread_mutex_lock(&as->mu);
	as->pending--;
	as->calls++;
	pthread_cond_broadcast(&as->cv);
	pthread_mutex_unlock(&as->mu);
}

static void
gc_audit_write(struct gc_write *g, struct gc_async *as, const char *event, int64_t org, int i)
{
	memset(g, 0, sizeof(*g));
	g->as = as;
	snprintf(g->actor, sizeof(g->actor), "gc:%d", i);
	g->a = (struct sp_audit){0, event, g->actor, NULL, NULL, NULL, org};
	g->w.kind = SP_WRITE_AUDIT;
	g->w.a = &g->a;
	g->w.done = gc_done;
}

static void
gc_wait(struct gc_async *as)
{
	pthread_mutex_lock(&as->mu);
	while (as->pending > 0)
		pthread_cond_wait(&as->cv, &as->mu);
	pthread_mutex_unlock(&as->mu);
}

static int
gc_submit(struct sp_store *s, struct gc_async *as, struct gc_write *g)
{
	struct sp_err err = {{0}};
	int st;

	pthread_mutex_lock(&as->mu);
	as->pending++;
	pthread_mutex_unlock(&as->mu);
	if ((st = sp_store_write_async(s, &g->w, &err)) != SP_OK) {
		pthread_mutex_lock(&as->mu);
		as->pending--;
		pthread_mutex_unlock(&as->mu);
	}
	return st;
}

/* How many records of event by actor are stored. */
static int
gc_has(struct sp_store *s, const char *event, const char *actor)
{
	struct sp_audit_find f = {event, actor, 0};

	sp_store_audit_each(s, event, find_cb, &f, NULL);
	return f.found;
}

/* Parallel deposits share commits: all durable, each with its record, in
 * order within its thread, the chain intact; asynchronous writes report
 * once each; a refused write of a batch fails alone. */
static void
test_group_commit(void)
{
	struct sp_store *s = open_store();
	struct sp_err err = {{0}};
	struct gc_par p[GC_THREADS];
	struct gc_order o;
	struct gc_async as = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
	struct gc_write g[21], dup;
	struct sp_envelope_rec e, got;
	pthread_t th[GC_THREADS];
	unsigned char h[SP_SHA256_LEN];
	char id[SP_STORE_ID_MAX + 1];
	char *rc[] = {"pat@gc.example"};
	int64_t org = 0, n = 0;
	int i, ok = 0;

	tok("gc-org", h);
	T_EQ_INT(sp_store_org_add(s, "GcOrg", "gc.example", h, 100, &org, &err), SP_OK);
	for (i = 0; i < GC_THREADS; i++) {
		p[i] = (struct gc_par){s, org, i, 0};
		pthread_create(&th[i], NULL, gc_deposit, &p[i]);
	}
	for (i = 0; i < GC_THREADS; i++) {
		pthread_join(th[i], NULL);
		ok += p[i].ok;
	}
	T_EQ_INT(ok, GC_THREADS * GC_EACH);
	gc_id(id, GC_THREADS - 1, GC_EACH - 1);
	T_EQ_INT(sp_store_envelope_get(s, id, &got, &err), SP_OK);
	T_EQ_INT(got.nrcpt, 1);
	sp_envelope_rec_clear(&got);
	memset(&o, 0, sizeof(o));
	for (i = 0; i < GC_THREADS; i++)
		o.last[i] = -1;
	T_EQ_INT(sp_store_audit_scan(s, org, 0, gc_order_cb, &o, &err), SP_OK);
	T_EQ_INT(o.n, GC_THREADS * GC_EACH);
	T_EQ_INT(o.bad, 0);
	T_EQ_INT(sp_store_audit_verify(s, NULL, &n, &err), SP_OK);

	/* 20 records and a deposit whose id is taken, queued at once */
	for (i = 0; i < 20; i++) {
		gc_audit_write(&g[i], &as, "gc-async", org, i);
		T_EQ_INT(gc_submit(s, &as, &g[i]), SP_OK);
		if (i == 9) {
			memset(&dup, 0, sizeof(dup));
			memset(&e, 0, sizeof(e));
			gc_id(dup.id, 0, 0);
			snprintf(e.id, sizeof(e.id), "%s", dup.id);
			e.org_id = org;
			e.rcpt = rc;
			e.nrcpt = 1;
			e.wrapped_len = 60;
			dup.as = &as;
			dup.a = (struct sp_audit){0, "gc-dup", "gc:dup", dup.id, NULL, NULL, org};
			dup.w = (struct sp_store_write){.kind = SP_WRITE_DEPOSIT, .e = &e, .a = &dup.a,
			    .done = gc_done};
			T_EQ_INT(gc_submit(s, &as, &dup), SP_OK);
		}
	}
	gc_wait(&as);
	T_EQ_INT(as.calls, 21);
	T_EQ_INT(dup.w.status, SP_ERR_EXISTS);
	T_EQ_INT(gc_has(s, "gc-dup", "gc:dup"), 0);
	for (i = 0, ok = 0; i < 20; i++)
		ok += g[i].w.status == SP_OK && gc_has(s, "gc-async", g[i].actor) == 1;
	T_EQ_INT(ok, 20);
	/* a write without done is refused */
	gc_audit_write(&g[20], &as, "gc-async", org, 20);
	g[20].w.done = NULL;
	T_EQ_INT(sp_store_write_async(s, &g[20].w, &err), SP_ERR_INVALID);
	T_EQ_INT(sp_store_audit_verify(s, NULL, &n, &err), SP_OK);
	sp_store_close(s);
}

/* The store's database is made to refuse a commit (a deferred foreign key
 * that an audit record of event "poison" breaks) and, while the test holds
 * the write lock, writes queue up: the batch with the poisoned record fails
 * as a whole, none of its writes is reported durable, and what is reported
 * durable is stored.  raw_sql runs statements on a connection of its own;
 * hold and release take and give back the lock. */
struct gc_raw {
	sqlite3 *db;		/* SQLite */
	PGconn *pg;		/* PostgreSQL */
};

static int
gc_raw_sql(struct gc_raw *r, const char *sql)
{
	if (r->db != NULL)
		return sqlite3_exec(r->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
	{
		PGresult *res = PQexec(r->pg, sql);
		int rc = PQresultStatus(res) == PGRES_COMMAND_OK ||
		    PQresultStatus(res) == PGRES_TUPLES_OK ? 0 : -1;

		if (rc != 0)
			fprintf(stderr, "pg: %s", PQresultErrorMessage(res));
		PQclear(res);
		return rc;
	}
}

static void
test_group_commit_fails(void)
{
	static const char sqlite_poison[] =
	    "CREATE TABLE gc_poison(x INTEGER REFERENCES orgs(id) DEFERRABLE INITIALLY DEFERRED);"
	    "CREATE TRIGGER gc_poison_t AFTER INSERT ON audit WHEN NEW.event = 'poison'"
	    " BEGIN INSERT INTO gc_poison VALUES (-12345); END;";
	static const char pg_poison[] =
	    "CREATE TABLE gc_poison(x bigint REFERENCES orgs(id) DEFERRABLE INITIALLY DEFERRED);"
	    "CREATE FUNCTION gc_poison_f() RETURNS trigger LANGUAGE plpgsql AS"
	    " $$ BEGIN INSERT INTO gc_poison VALUES (-12345); RETURN NEW; END $$;"
	    "CREATE TRIGGER gc_poison_t AFTER INSERT ON audit FOR EACH ROW"
	    " WHEN (NEW.event = 'poison') EXECUTE FUNCTION gc_poison_f();";
	struct sp_store *s = open_store();
	struct sp_err err = {{0}};
	struct gc_async as = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
	struct gc_write g[10];
	struct gc_raw raw = {NULL, NULL};
	unsigned char h[SP_SHA256_LEN];
	char path[300];
	int64_t org = 0, n = 0;
	int i, failed = 0, agree = 0;

	tok("gc-fail-org", h);
	T_EQ_INT(sp_store_org_add(s, "GcFailOrg", "gcfail.example", h, 100, &org, &err), SP_OK);
	if (is_pg()) {
		raw.pg = PQconnectdb(where);
		T_CHECK(PQstatus(raw.pg) == CONNECTION_OK);
		T_EQ_INT(gc_raw_sql(&raw, pg_poison), 0);
		T_EQ_INT(gc_raw_sql(&raw, "BEGIN; LOCK TABLE audit_heads IN EXCLUSIVE MODE"), 0);
	} else {
		snprintf(path, sizeof(path), "%s/keyd.sqlite", dir);
		T_EQ_INT(sqlite3_open(path, &raw.db), SQLITE_OK);
		T_EQ_INT(gc_raw_sql(&raw, sqlite_poison), 0);
		T_EQ_INT(gc_raw_sql(&raw, "BEGIN IMMEDIATE"), 0);
	}
	for (i = 0; i < 10; i++) {
		gc_audit_write(&g[i], &as, i == 4 ? "poison" : "gc-fail", org, i);
		T_EQ_INT(gc_submit(s, &as, &g[i]), SP_OK);
	}
	T_EQ_INT(gc_raw_sql(&raw, raw.pg != NULL ? "COMMIT" : "ROLLBACK"), 0);
	gc_wait(&as);
	T_EQ_INT(as.calls, 10);
	T_CHECK(g[4].w.status != SP_OK);
	T_EQ_INT(gc_has(s, "poison", g[4].actor), 0);
	for (i = 0; i < 10; i++) {
		failed += g[i].w.status != SP_OK;
		agree += (g[i].w.status == SP_OK) ==
		    (gc_has(s, g[i].a.event, g[i].actor) == 1);
		if (g[i].w.status != SP_OK)
			T_CHECK(g[i].w.err.msg[0] != '\0');
	}
	T_EQ_INT(agree, 10);
	T_CHECK(failed >= 2);	/* the poisoned record's batch mates too */
	/* the next batch commits, and the chain is whole */
	gc_audit_write(&g[0], &as, "gc-after", org, 0);
	T_EQ_INT(gc_submit(s, &as, &g[0]), SP_OK);
	gc_wait(&as);
	T_EQ_INT(g[0].w.status, SP_OK);
	T_EQ_INT(sp_store_audit_verify(s, NULL, &n, &err), SP_OK);
	if (raw.pg != NULL) {
		T_EQ_INT(gc_raw_sql(&raw, "DROP TRIGGER gc_poison_t ON audit;"
		    " DROP FUNCTION gc_poison_f(); DROP TABLE gc_poison"), 0);
		PQfinish(raw.pg);
	} else {
		T_EQ_INT(gc_raw_sql(&raw, "DROP TRIGGER gc_poison_t; DROP TABLE gc_poison"), 0);
		sqlite3_close(raw.db);
	}
	sp_store_close(s);
}

struct hidden_list {
	int n;
	unsigned hidden;	/* bit i: recipient i hidden, over every envelope */
};

static int
hidden_cb(void *ctx, const struct sp_envelope_rec *e)
{
	struct hidden_list *l = ctx;
	size_t i;

	l->n++;
	for (i = 0; i < e->nrcpt && i < 32; i++)
		if (e->rstate != NULL && e->rstate[i].hidden)
			l->hidden |= 1u << i;
	return 0;
}

/* The release's one read: the envelope and its recipients as
 * sp_store_envelope_get() has them (blind copies marked), the
 * organisation's brand, and the signing key only when it is the
 * envelope's organisation's. */
static void
test_envelope_view(void)
{
	struct sp_store *s = open_store();
	struct sp_err err = {{0}};
	struct sp_envelope_view v;
	struct sp_envelope_rec g, t;
	struct sp_envelope_rcpt hid[3];
	struct hidden_list hl;
	struct sp_org o;
	struct sp_org_key k;
	struct sp_audit a = {0, "x", "org:ViewOrg", NULL, NULL, NULL, 0};
	unsigned char h[SP_SHA256_LEN], hs[SP_SHA256_LEN], cs[SP_SHA256_LEN], sig[64];
	char *rc3[] = {"a@v.example", "b@v.example", "c@v.example"};
	const char *E1 = "VIEWAAAAAAAAAAAAAAAAAA", *E2 = "VIEWBBBBBBBBBBBBBBBBBB";
	int64_t org = 0, org2 = 0;
	int first = 0;
	size_t i;

	tok("view-org", h);
	T_EQ_INT(sp_store_org_add(s, "ViewOrg", "v.example", h, 100, &org, &err), SP_OK);
	tok("view-org2", h);
	T_EQ_INT(sp_store_org_add(s, "ViewOrg2", "v2.example", h, 100, &org2, &err), SP_OK);
	a.org_id = org;
	T_EQ_INT(sp_store_org_get_id(s, org, &o, &err), SP_OK);
	snprintf(o.display, sizeof(o.display), "View Clinic");
	snprintf(o.colour, sizeof(o.colour), "#102030");
	T_EQ_INT(sp_store_org_update(s, &o, &a, &err), SP_OK);
	memset(&k, 0, sizeof(k));
	k.org_id = org2;
	snprintf(k.kid, sizeof(k.kid), "viewkey2");
	memset(k.pub, 0x22, sizeof(k.pub));
	T_EQ_INT(sp_store_org_key_add(s, &k, &a, &err), SP_OK);
	k.org_id = org;
	snprintf(k.kid, sizeof(k.kid), "viewkey1");
	memset(k.pub, 0x11, sizeof(k.pub));
	k.created = 123;
	T_EQ_INT(sp_store_org_key_add(s, &k, &a, &err), SP_OK);
	/* c is a blind copy (schema v9) */
	memset(&t, 0, sizeof(t));
	memset(hid, 0, sizeof(hid));
	hid[2].hidden = 1;
	hid[1].opened = 99;	/* add reads only hidden */
	t.rstate = hid;
	t.has_holder = 1;	/* the sealer's holder tag (schema v10) */
	memset(t.holder, 0x5a, sizeof(t.holder));
	T_EQ_INT(env_put(s, E1, org, rc3, 3, 1000, 5000, &t), SP_OK);
	T_EQ_INT(env_put(s, E2, org, rc3, 1, 1000, 0, NULL), SP_OK);
	{
		unsigned char tag[SP_SHA256_LEN];

		memset(tag, 0, sizeof(tag));
		T_EQ_INT(sp_store_envelope_holder(s, E1, tag, &err), SP_OK);
		T_EQ_MEM(tag, t.holder, sizeof(tag));
		T_EQ_INT(sp_store_envelope_holder(s, E2, tag, &err), SP_ERR_NOTFOUND);
		T_EQ_INT(sp_store_envelope_holder(s, "VIEWZZZZZZZZZZZZZZZZZZ", tag, &err),
		    SP_ERR_NOTFOUND);
	}

	/* not sealed: no key */
	T_EQ_INT(sp_store_envelope_view(s, E1, &v, &err), SP_OK);
	T_EQ_INT(v.have_key, 0);
	T_CHECK(strcmp(v.org.display, "View Clinic") == 0);
	T_CHECK(strcmp(v.org.colour, "#102030") == 0);
	T_CHECK(strcmp(v.org.name, "ViewOrg") == 0);
	T_EQ_INT(v.org.id, org);
	T_EQ_INT(v.org.has_logo, 0);
	sp_envelope_rec_clear(&v.e);

	/* sealed with its organisation's key; a recipient opened */
	memset(hs, 1, sizeof(hs));
	memset(cs, 2, sizeof(cs));
	memset(sig, 3, sizeof(sig));
	T_EQ_INT(sp_store_envelope_seal(s, E1, hs, cs, sig, "viewkey1", &a, &err), SP_OK);
	T_EQ_INT(sp_store_envelope_opened(s, E1, "b@v.example", 4000, &first, &a, &err), SP_OK);
	T_EQ_INT(first, 1);
	T_EQ_INT(sp_store_envelope_view(s, E1, &v, &err), SP_OK);
	T_EQ_INT(sp_store_envelope_get(s, E1, &g, &err), SP_OK);
	T_EQ_INT(v.have_key, 1);
	T_EQ_INT(v.key.org_id, org);
	T_EQ_INT(v.key.created, 123);
	T_CHECK(strcmp(v.key.kid, "viewkey1") == 0);
	T_EQ_MEM(v.key.pub, k.pub, sizeof(k.pub));
	T_EQ_INT(v.e.nrcpt, 3);
	T_EQ_INT(g.nrcpt, 3);
	for (i = 0; i < 3 && i < v.e.nrcpt; i++) {
		T_CHECK(strcmp(v.e.rcpt[i], rc3[i]) == 0);
		T_EQ_INT(v.e.rstate[i].opened, i == 1 ? 4000 : 0);
		T_EQ_INT(v.e.rstate[i].hidden, i == 2);
		T_EQ_INT(g.rstate[i].hidden, i == 2);
	}
	/* the listings carry it too */
	memset(&hl, 0, sizeof(hl));
	T_EQ_INT(sp_store_envelope_each_for(s, "c@v.example", 3000, hidden_cb, &hl, &err), SP_OK);
	T_EQ_INT(hl.n, 1);
	T_EQ_INT(hl.hidden, 4);
	memset(&hl, 0, sizeof(hl));
	T_EQ_INT(sp_store_envelope_each(s, org, 0, hidden_cb, &hl, &err), SP_OK);
	T_EQ_INT(hl.n, 2);
	T_EQ_INT(hl.hidden, 4);
	T_CHECK(strcmp(v.e.id, g.id) == 0 && strcmp(v.e.from, g.from) == 0);
	T_EQ_INT(v.e.expires, g.expires);
	T_EQ_INT(v.e.sealed, 1);
	T_EQ_INT(v.e.wrapped_len, g.wrapped_len);
	T_EQ_MEM(v.e.wrapped, g.wrapped, g.wrapped_len);
	T_EQ_MEM(v.e.sig, sig, sizeof(sig));
	T_CHECK(strcmp(v.e.org_domain, "v.example") == 0);
	sp_envelope_rec_clear(&v.e);
	sp_envelope_rec_clear(&g);

	/* sealed under another organisation's key id: not handed out */
	T_EQ_INT(sp_store_envelope_seal(s, E2, hs, cs, sig, "viewkey2", &a, &err), SP_OK);
	T_EQ_INT(sp_store_envelope_view(s, E2, &v, &err), SP_OK);
	T_EQ_INT(v.have_key, 0);
	T_EQ_INT(v.e.nrcpt, 1);
	sp_envelope_rec_clear(&v.e);
	T_EQ_INT(sp_store_envelope_view(s, "VIEWZZZZZZZZZZZZZZZZZZ", &v, &err), SP_ERR_NOTFOUND);
	sp_store_close(s);
}

/* Remembered devices (schema v6) and how a session began. */
struct dev_seen {
	int n;
	int64_t ids[32];
	char agent[SP_STORE_AGENT_MAX + 1];
	int hash_zero;
};

static int
dev_row(void *ctx, const struct sp_device *d)
{
	struct dev_seen *w = ctx;
	static const unsigned char zero[SP_SHA256_LEN];

	if (w->n < 32)
		w->ids[w->n] = d->id;
	if (w->n == 0)
		snprintf(w->agent, sizeof(w->agent), "%s", d->agent);
	w->hash_zero += memcmp(d->hash, zero, SP_SHA256_LEN) == 0;
	w->n++;
	return 0;
}

static void
add_device(struct sp_store *s, const char *name, const char *email, int64_t now, int st)
{
	struct sp_device d;
	struct sp_err err = {{0}};
	struct sp_audit a = {0, "device-remembered", email, NULL, NULL, "Firefox on Linux", 0};

	memset(&d, 0, sizeof(d));
	tok(name, d.hash);
	snprintf(d.email, sizeof(d.email), "%s", email);
	snprintf(d.agent, sizeof(d.agent), "Firefox on Linux");
	d.created = d.last_used = now;
	d.expires = now + 1000;
	T_EQ_INT(sp_store_device_add(s, &d, &a, &err), st);
}

static void
test_devices(void)
{
	struct sp_store *s = open_store();
	struct sp_err err = {{0}};
	struct sp_device d;
	struct sp_session ss;
	struct dev_seen w;
	struct sp_audit a = {0, "logout-everywhere", "dev-a@example.org", NULL, NULL, NULL, 0};
	unsigned char h[SP_SHA256_LEN];
	char name[32];
	int i, ns = -1, nd = -1;

	make_account(s, "dev-a@example.org");
	make_account(s, "dev-b@example.org");
	add_device(s, "dev-a1", "dev-a@example.org", 20000, SP_OK);
	add_device(s, "dev-b1", "dev-b@example.org", 20000, SP_OK);
	add_device(s, "dev-x", "dev-nobody@example.org", 20000, SP_ERR_NOTFOUND);
	T_EQ_INT(audit_count(s, "device-remembered"), 2);

	/* use: live only; last_used moves after a minute */
	tok("dev-a1", h);
	T_EQ_INT(sp_store_device_use(s, h, 20010, &d, &err), SP_OK);
	T_CHECK(strcmp(d.email, "dev-a@example.org") == 0);
	T_EQ_INT(d.last_used, 20000);
	T_EQ_INT(sp_store_device_use(s, h, 20100, &d, &err), SP_OK);
	T_EQ_INT(d.last_used, 20100);
	T_EQ_INT(sp_store_device_use(s, h, 21000, &d, &err), SP_ERR_NOTFOUND);	/* expired */
	tok("dev-unknown", h);
	T_EQ_INT(sp_store_device_use(s, h, 20010, &d, &err), SP_ERR_NOTFOUND);

	/* list: the account's own, hashes never given out */
	memset(&w, 0, sizeof(w));
	T_EQ_INT(sp_store_device_each(s, "dev-a@example.org", 20200, dev_row, &w, &err), SP_OK);
	T_EQ_INT(w.n, 1);
	T_EQ_INT(w.hash_zero, 1);
	T_CHECK(strcmp(w.agent, "Firefox on Linux") == 0);

	/* forget: only the account's own device */
	memset(&w, 0, sizeof(w));
	T_EQ_INT(sp_store_device_each(s, "dev-b@example.org", 20200, dev_row, &w, &err), SP_OK);
	T_EQ_INT(w.n, 1);
	T_EQ_INT(sp_store_device_delete(s, "dev-a@example.org", w.ids[0], NULL, &err),
	    SP_ERR_NOTFOUND);
	T_EQ_INT(sp_store_device_delete(s, "dev-b@example.org", w.ids[0], NULL, &err), SP_OK);
	tok("dev-b1", h);
	T_EQ_INT(sp_store_device_use(s, h, 20200, &d, &err), SP_ERR_NOTFOUND);

	/* at most SP_STORE_DEVICES_MAX per account: the least recently used go */
	for (i = 0; i < SP_STORE_DEVICES_MAX + 3; i++) {
		snprintf(name, sizeof(name), "dev-a-many-%d", i);
		add_device(s, name, "dev-a@example.org", 20300 + i, SP_OK);
	}
	memset(&w, 0, sizeof(w));
	T_EQ_INT(sp_store_device_each(s, "dev-a@example.org", 20400, dev_row, &w, &err), SP_OK);
	T_EQ_INT(w.n, SP_STORE_DEVICES_MAX);
	tok("dev-a-many-0", h);
	T_EQ_INT(sp_store_device_use(s, h, 20400, &d, &err), SP_ERR_NOTFOUND);
	snprintf(name, sizeof(name), "dev-a-many-%d", SP_STORE_DEVICES_MAX + 2);
	tok(name, h);
	T_EQ_INT(sp_store_device_use(s, h, 20400, &d, &err), SP_OK);

	/* a session's via */
	memset(&ss, 0, sizeof(ss));
	tok("dev-a-session", ss.hash);
	snprintf(ss.email, sizeof(ss.email), "dev-a@example.org");
	snprintf(ss.csrf, sizeof(ss.csrf), "c");
	snprintf(ss.via, sizeof(ss.via), "device");
	ss.created = ss.last_seen = 20400;
	ss.auth_time = 1;
	ss.expires = 20400 + 3600;
	T_EQ_INT(sp_store_session_create(s, &ss, NULL, &err), SP_OK);
	tok("dev-a-session", h);
	T_EQ_INT(sp_store_session_use(s, h, 20410, 1800, &ss, &err), SP_OK);
	T_CHECK(strcmp(ss.via, "device") == 0);
	T_EQ_INT(ss.auth_time, 1);
	new_session(s, "dev-b-session", "dev-b@example.org", 20400);
	add_device(s, "dev-b2", "dev-b@example.org", 20400, SP_OK);

	/* sign out everywhere: every session and device of the account only */
	T_EQ_INT(sp_store_signout_all(s, "dev-a@example.org", &ns, &nd, &a, &err), SP_OK);
	T_EQ_INT(ns, 1);
	T_EQ_INT(nd, SP_STORE_DEVICES_MAX);
	T_EQ_INT(session_live(s, "dev-a-session", 20410), 0);
	memset(&w, 0, sizeof(w));
	T_EQ_INT(sp_store_device_each(s, "dev-a@example.org", 20400, dev_row, &w, &err), SP_OK);
	T_EQ_INT(w.n, 0);
	T_EQ_INT(session_live(s, "dev-b-session", 20410), 1);
	tok("dev-b2", h);
	T_EQ_INT(sp_store_device_use(s, h, 20410, &d, &err), SP_OK);
	T_EQ_INT(audit_count(s, "logout-everywhere"), 1);

	/* a new password forgets every device of the account */
	T_EQ_INT(sp_store_password_set(s, "dev-b@example.org", "$argon2id$n", 20420, NULL, NULL,
	    NULL, &err), SP_OK);
	T_EQ_INT(sp_store_device_use(s, h, 20420, &d, &err), SP_ERR_NOTFOUND);
	sp_store_close(s);
}

/* Schema v7: an organisation's forward list, an account's BCC default,
 * the key server's reply key (one live per organisation, its wrapped seed
 * kept). */
static void
test_reply_v7(void)
{
	struct sp_store *s = open_store();
	struct sp_err err = {{0}};
	struct sp_org o;
	struct sp_org_key k, got;
	struct sp_account acc, ga;
	unsigned char h[SP_SHA256_LEN];
	int64_t org = 0;
	size_t i;

	tok("v7-org", h);
	T_EQ_INT(sp_store_org_add(s, "V7Org", "v7.example", h, 100, &org, &err), SP_OK);
	T_EQ_INT(sp_store_org_get_id(s, org, &o, &err), SP_OK);
	T_CHECK(o.policy.forward_domains[0] == '\0');
	snprintf(o.policy.forward_domains, sizeof(o.policy.forward_domains), "a.example,b.example");
	o.policy.forward = 1;
	T_EQ_INT(sp_store_org_update(s, &o, NULL, &err), SP_OK);
	T_EQ_INT(sp_store_org_get(s, "V7Org", &o, &err), SP_OK);
	T_CHECK(strcmp(o.policy.forward_domains, "a.example,b.example") == 0);
	T_EQ_INT(o.policy.forward, 1);

	memset(&k, 0, sizeof(k));
	k.org_id = org;
	snprintf(k.kid, sizeof(k.kid), "v7replykey1");
	for (i = 0; i < sizeof(k.pub); i++)
		k.pub[i] = (unsigned char)i;
	k.created = 200;
	k.reply = 1;
	k.wrap_key_id = 3;
	k.wrapped_len = 60;
	for (i = 0; i < k.wrapped_len; i++)
		k.wrapped[i] = (unsigned char)(0xa0 ^ i);
	T_EQ_INT(sp_store_org_key_add(s, &k, NULL, &err), SP_OK);
	T_EQ_INT(sp_store_org_key_get(s, "v7replykey1", &got, &err), SP_OK);
	T_EQ_INT(got.reply, 1);
	T_EQ_INT(got.wrap_key_id, 3);
	T_EQ_INT(got.wrapped_len, 60);
	T_EQ_MEM(got.wrapped, k.wrapped, 60);
	/* a second live reply key of the same organisation is refused */
	snprintf(k.kid, sizeof(k.kid), "v7replykey2");
	k.pub[0] ^= 1;
	T_EQ_INT(sp_store_org_key_add(s, &k, NULL, &err), SP_ERR_EXISTS);
	/* a sealer's key beside it is fine, and has no seed */
	k.reply = 0;
	k.wrapped_len = 0;
	k.wrap_key_id = 0;
	T_EQ_INT(sp_store_org_key_add(s, &k, NULL, &err), SP_OK);
	T_EQ_INT(sp_store_org_key_get(s, "v7replykey2", &got, &err), SP_OK);
	T_EQ_INT(got.reply, 0);
	T_EQ_INT(got.wrapped_len, 0);

	fill_account(&acc, "bcc@v7.example", "$argon2id$x");
	T_EQ_INT(sp_store_account_create(s, &acc, NULL, &err), SP_OK);
	T_EQ_INT(sp_store_account_get(s, "bcc@v7.example", &ga, &err), SP_OK);
	T_EQ_INT(ga.bcc_default, 0);
	ga.bcc_default = 1;
	T_EQ_INT(sp_store_profile_set(s, &ga, NULL, &err), SP_OK);
	T_EQ_INT(sp_store_account_get(s, "bcc@v7.example", &ga, &err), SP_OK);
	T_EQ_INT(ga.bcc_default, 1);
	sp_store_close(s);
}

/* --- the runs ------------------------------------------------------------ */

/* How many throttle keys start with prefix (removing them). */
static int
throttle_rows(struct sp_store *s, const char *prefix)
{
	struct sp_err err = {{0}};
	int n = -1;

	T_EQ_INT(sp_store_throttle_clear(s, prefix, &n, &err), SP_OK);
	return n;
}

/* Housekeeping: old counters that lock nothing go, a locked one stays; a
 * question's counters go with their envelope's shredding (or its absence)
 * and stay while it can open; a registration never activated goes after
 * 30 days with its link, unless a link of it still works. */
static void
test_housekeep(void)
{
	struct sp_store *s = open_store();
	struct sp_err err = {{0}};
	const struct sp_throttle_policy p = {3, 30, 100, 0, 0};
	const struct sp_throttle_policy lock = {0, 1 << 30, 1 << 30, 1 << 30, 1};
	const struct sp_throttle_policy forever = {5, 1 << 30, 1 << 30, 1 << 30, 1};
	const int64_t NOW = 1900000000, DAY = 86400;
	struct sp_housekeep_counts c;
	struct sp_envelope_rec t;
	struct sp_account acc, got;
	struct sp_audit a = {0, "register", NULL, NULL, "127.0.0.1", NULL, 0};
	unsigned char h[SP_SHA256_LEN], t_old[SP_SHA256_LEN], t_first[SP_SHA256_LEN],
	    t_resent[SP_SHA256_LEN], t_young[SP_SHA256_LEN], t_again[SP_SHA256_LEN];
	char *rc[] = {"hk@one.example"};
	int64_t org = 0, until = 0;
	int n = -1;

	T_EQ_INT(sp_store_throttle_fail(s, "email:old@hk.example", NOW - 40 * DAY, &p, &until, &err), SP_OK);
	T_EQ_INT(sp_store_throttle_fail(s, "email:new@hk.example", NOW - DAY, &p, &until, &err), SP_OK);
	T_EQ_INT(sp_store_throttle_fail(s, "codes:locked@hk.example", NOW - 40 * DAY, &lock, &until, &err), SP_OK);
	T_CHECK(until > NOW);
	/* questions: of an envelope that opens, of a shredded one, of none */
	tok("hk-org", h);
	T_EQ_INT(sp_store_org_add(s, "HkOrg", "hk.example", h, 100, &org, &err), SP_OK);
	memset(&t, 0, sizeof(t));
	T_EQ_INT(env_put(s, "HKEEPLIVEAAAAAAAAAAAAA", org, rc, 1, 1000, 0, &t), SP_OK);
	T_EQ_INT(env_put(s, "HKEEPGONEAAAAAAAAAAAAA", org, rc, 1, 0, 1, &t), SP_OK);
	T_EQ_INT(sp_store_envelope_shred_expired(s, 1, 0, &n, &err), SP_OK);
	T_EQ_INT(n, 1);
	T_EQ_INT(sp_store_throttle_fail(s, "verify:HKEEPLIVEAAAAAAAAAAAAA:hk@one.example", NOW - 40 * DAY,
	    &forever, &until, &err), SP_OK);
	T_EQ_INT(sp_store_throttle_fail(s, "verify:HKEEPGONEAAAAAAAAAAAAA:hk@one.example", NOW - DAY,
	    &forever, &until, &err), SP_OK);
	T_EQ_INT(sp_store_throttle_fail(s, "verify:HKEEPNONEAAAAAAAAAAAAA:hk@one.example", NOW - DAY,
	    &forever, &until, &err), SP_OK);
	/* registrations: 40 days old, 40 days old but its link sent again
	 * yesterday, a day old (its link expired) */
	tok("hk-old", t_old);
	tok("hk-first", t_first);
	tok("hk-resent", t_resent);
	tok("hk-again", t_again);
	tok("hk-young", t_young);
	fill_account(&acc, "old@hk.example", "$argon2id$fake");
	acc.created = NOW - 40 * DAY;
	a.actor = acc.email;
	T_EQ_INT(sp_store_pending_add(s, &acc, t_old, NOW - 39 * DAY, &a, &err), SP_OK);
	fill_account(&acc, "resent@hk.example", "$argon2id$fake");
	acc.created = NOW - 40 * DAY;
	a.actor = acc.email;
	T_EQ_INT(sp_store_pending_add(s, &acc, t_first, NOW - 39 * DAY, &a, &err), SP_OK);
	T_EQ_INT(sp_store_token_issue(s, SP_TOKEN_ACTIVATE, "resent@hk.example", t_resent, NOW - DAY,
	    NOW + DAY, NULL, NULL, &n, NULL, &err), SP_OK);
	T_EQ_INT(n, 1);
	fill_account(&acc, "young@hk.example", "$argon2id$fake");
	acc.created = NOW - DAY;
	a.actor = acc.email;
	T_EQ_INT(sp_store_pending_add(s, &acc, t_young, NOW - DAY / 2, &a, &err), SP_OK);

	T_EQ_INT(sp_store_housekeep(s, NOW, &c, &err), SP_OK);
	T_CHECK(c.throttle >= 3);	/* and the earlier tests' old counters */
	T_CHECK(c.pending >= 1);
	T_EQ_INT(throttle_rows(s, "email:old@hk.example"), 0);
	T_EQ_INT(throttle_rows(s, "email:new@hk.example"), 1);
	T_EQ_INT(throttle_rows(s, "codes:locked@hk.example"), 1);
	T_EQ_INT(throttle_rows(s, "verify:HKEEPLIVEAAAAAAAAAAAAA:"), 1);
	T_EQ_INT(throttle_rows(s, "verify:HKEEPGONEAAAAAAAAAAAAA:"), 0);
	T_EQ_INT(throttle_rows(s, "verify:HKEEPNONEAAAAAAAAAAAAA:"), 0);
	T_EQ_INT(sp_store_pending_by_token(s, t_old, NOW, &got, &err), SP_ERR_NOTFOUND);
	T_EQ_INT(sp_store_pending_by_token(s, t_resent, NOW, &got, &err), SP_OK);
	T_EQ_INT(strcmp(got.email, "resent@hk.example"), 0);
	T_EQ_INT(sp_store_pending_by_token(s, t_young, NOW, &got, &err), SP_ERR_EXPIRED);
	/* a resend finds no registration of the old address, and the young one's */
	T_EQ_INT(sp_store_token_issue(s, SP_TOKEN_ACTIVATE, "old@hk.example", t_again, NOW,
	    NOW + DAY, NULL, NULL, &n, NULL, &err), SP_OK);
	T_EQ_INT(n, 0);
	T_EQ_INT(sp_store_token_issue(s, SP_TOKEN_ACTIVATE, "young@hk.example", t_again, NOW,
	    NOW + DAY, NULL, NULL, &n, NULL, &err), SP_OK);
	T_EQ_INT(n, 1);
	/* nothing more to do the second time */
	T_EQ_INT(sp_store_housekeep(s, NOW, &c, &err), SP_OK);
	T_EQ_INT(c.throttle, 0);
	T_EQ_INT(c.pending, 0);
	sp_wipe(&got, sizeof(got));
	sp_store_close(s);
}

/* The mail queue: a mail kept sealed, claimed by one store handle at a
 * time (as by one key server of several) until its hold ends, retried
 * with its count and due time, and deleted; bad arguments refused. */
static void
mailq_rec(struct sp_mailq_rec *m, const char *ref, int64_t due, const char *text)
{
	memset(m, 0, sizeof(*m));
	snprintf(m->ref, sizeof(m->ref), "%s", ref);
	m->due = due;
	m->key_id = 3;
	memset(m->wrapped, 0x5a, SP_KEYWRAP_LEN);
	m->wrapped_len = SP_KEYWRAP_LEN;
	m->sealed = (unsigned char *)text;
	m->sealed_len = strlen(text);
}

struct mailq_seen {
	int n;
	char ref[4][SP_STORE_MAILQ_REF_LEN + 1];
	int tries[4];
	int64_t held[4];
};

static int
mailq_seen_cb(void *ctx, const struct sp_mailq_info *m)
{
	struct mailq_seen *v = ctx;

	if (v->n < 4) {
		snprintf(v->ref[v->n], sizeof(v->ref[0]), "%s", m->ref);
		v->tries[v->n] = m->tries;
		v->held[v->n] = m->held;
	}
	v->n++;
	return 0;
}

/* How many mails the queue holds (the operator's listing), -1 on an error. */
static int
mailq_n(struct sp_store *s)
{
	struct mailq_seen v;

	memset(&v, 0, sizeof(v));
	return sp_store_mailq_each(s, mailq_seen_cb, &v, NULL) == SP_OK ? v.n : -1;
}

static void
test_mailq(void)
{
	struct sp_store *s = open_store(), *s2 = open_store();
	struct sp_err err = {{0}};
	struct sp_mailq_rec m, got[4];
	static char big[SP_STORE_MAILQ_SEALED_MAX + 2];
	struct mailq_seen seen;
	int64_t next = -1;
	size_t k = 9, i;
	int fl = -1;

	T_EQ_INT(mailq_n(s), 0);
	mailq_rec(&m, "mqAAAAAAAAAAAAAAAAAAAA", 1000, "sealed one");
	T_EQ_INT(sp_store_mailq_add(s, &m, &err), SP_OK);
	T_EQ_INT(sp_store_mailq_add(s, &m, &err), SP_ERR_EXISTS);
	mailq_rec(&m, "mqBBBBBBBBBBBBBBBBBBBB", 1010, "sealed two, later");
	m.tries = 2;
	T_EQ_INT(sp_store_mailq_add(s, &m, &err), SP_OK);
	T_EQ_INT(mailq_n(s), 2);
	/* refused: a bad reference, no key, nothing sealed, too large */
	mailq_rec(&m, "mq-short", 1000, "x");
	T_EQ_INT(sp_store_mailq_add(s, &m, &err), SP_ERR_INVALID);
	mailq_rec(&m, "mqCCCCCCCCCCCCCCCCCCC'", 1000, "x");
	T_EQ_INT(sp_store_mailq_add(s, &m, &err), SP_ERR_INVALID);
	mailq_rec(&m, "mqCCCCCCCCCCCCCCCCCCCC", 1000, "");
	T_EQ_INT(sp_store_mailq_add(s, &m, &err), SP_ERR_INVALID);
	mailq_rec(&m, "mqCCCCCCCCCCCCCCCCCCCC", 1000, "x");
	m.wrapped_len = 0;
	T_EQ_INT(sp_store_mailq_add(s, &m, &err), SP_ERR_INVALID);
	memset(big, 'b', sizeof(big) - 1);
	mailq_rec(&m, "mqCCCCCCCCCCCCCCCCCCCC", 1000, big);
	T_EQ_INT(sp_store_mailq_add(s, &m, &err), SP_ERR_INVALID);

	/* nothing due before 1000; the first at 1000 */
	T_EQ_INT(sp_store_mailq_claim(s, 999, 300, got, 4, &k, &next, &err), SP_OK);
	T_EQ_INT((int)k, 0);
	T_EQ_INT(next, 1000);
	/* at 1005 the first, with what was kept */
	T_EQ_INT(sp_store_mailq_claim(s, 1005, 300, got, 4, &k, &next, &err), SP_OK);
	T_EQ_INT((int)k, 1);
	T_EQ_INT(next, 1010);	/* the second, not yet due */
	if (k == 1) {
		T_CHECK(strcmp(got[0].ref, "mqAAAAAAAAAAAAAAAAAAAA") == 0);
		T_EQ_INT(got[0].due, 1000);
		T_EQ_INT(got[0].tries, 0);
		T_EQ_INT((int)got[0].key_id, 3);
		T_EQ_INT((int)got[0].wrapped_len, SP_KEYWRAP_LEN);
		T_CHECK(got[0].wrapped[0] == 0x5a && got[0].wrapped[SP_KEYWRAP_LEN - 1] == 0x5a);
		T_EQ_INT((int)got[0].sealed_len, 10);
		T_CHECK(got[0].sealed != NULL && memcmp(got[0].sealed, "sealed one", 10) == 0);
		sp_mailq_rec_clear(&got[0]);
	}
	/* held: another handle (another key server) gets only the second */
	T_EQ_INT(sp_store_mailq_claim(s2, 1020, 300, got, 4, &k, &next, &err), SP_OK);
	T_EQ_INT((int)k, 1);
	if (k == 1) {
		T_CHECK(strcmp(got[0].ref, "mqBBBBBBBBBBBBBBBBBBBB") == 0);
		T_EQ_INT(got[0].tries, 2);
		sp_mailq_rec_clear(&got[0]);
	}
	T_EQ_INT(sp_store_mailq_claim(s, 1100, 300, got, 4, &k, &next, &err), SP_OK);
	T_EQ_INT((int)k, 0);
	T_EQ_INT(next, 0);	/* both held */
	/* the first claim's hold ends at 1305: its holder died; taken again */
	T_EQ_INT(sp_store_mailq_claim(s2, 1305, 300, got, 4, &k, &next, &err), SP_OK);
	T_EQ_INT((int)k, 1);
	for (i = 0; i < k; i++)
		sp_mailq_rec_clear(&got[i]);
	/* the operator's view: both, earliest due first, the hold shown */
	memset(&seen, 0, sizeof(seen));
	T_EQ_INT(sp_store_mailq_each(s, mailq_seen_cb, &seen, &err), SP_OK);
	T_EQ_INT(seen.n, 2);
	T_CHECK(strcmp(seen.ref[0], "mqAAAAAAAAAAAAAAAAAAAA") == 0 && seen.held[0] == 1605);
	T_CHECK(strcmp(seen.ref[1], "mqBBBBBBBBBBBBBBBBBBBB") == 0 && seen.held[1] == 1320);
	T_EQ_INT(seen.tries[1], 2);
	/* the second is sent: gone */
	T_EQ_INT(sp_store_mailq_delete(s2, "mqBBBBBBBBBBBBBBBBBBBB", &err), SP_OK);
	/* the first refused again: a new count and due time, free when due */
	T_EQ_INT(sp_store_mailq_retry(s, "mqAAAAAAAAAAAAAAAAAAAA", 1, 1400, &err), SP_OK);
	T_EQ_INT(sp_store_mailq_claim(s, 1399, 300, got, 4, &k, &next, &err), SP_OK);
	T_EQ_INT((int)k, 0);
	T_EQ_INT(sp_store_mailq_claim(s, 1400, 300, got, 4, &k, &next, &err), SP_OK);
	T_EQ_INT((int)k, 1);
	if (k == 1) {
		T_EQ_INT(got[0].tries, 1);
		T_EQ_INT(got[0].due, 1400);
		sp_mailq_rec_clear(&got[0]);
	}
	T_EQ_INT(sp_store_mailq_retry(s, "mqDDDDDDDDDDDDDDDDDDDD", 1, 1400, &err), SP_ERR_NOTFOUND);
	T_EQ_INT(sp_store_mailq_retry(s, "bad ref", 1, 1400, &err), SP_ERR_INVALID);
	/* sent: gone, and once more is no error */
	/* flushed: due at once, however far its next try was */
	T_EQ_INT(sp_store_mailq_retry(s, "mqAAAAAAAAAAAAAAAAAAAA", 3, 99999, &err), SP_OK);
	T_EQ_INT(sp_store_mailq_flush(s, 2000, &fl, &err), SP_OK);
	T_EQ_INT(fl, 1);
	T_EQ_INT(sp_store_mailq_flush(s, 2000, &fl, &err), SP_OK);
	T_EQ_INT(fl, 0);
	T_EQ_INT(sp_store_mailq_claim(s, 2000, 300, got, 4, &k, &next, &err), SP_OK);
	T_EQ_INT((int)k, 1);
	if (k == 1) {
		T_EQ_INT(got[0].due, 2000);
		T_EQ_INT(got[0].tries, 3);
		sp_mailq_rec_clear(&got[0]);
	}
	T_EQ_INT(sp_store_mailq_delete(s, "mqAAAAAAAAAAAAAAAAAAAA", &err), SP_OK);
	T_EQ_INT(sp_store_mailq_delete(s, "mqAAAAAAAAAAAAAAAAAAAA", &err), SP_OK);
	T_EQ_INT(mailq_n(s), 0);
	T_EQ_INT(sp_store_mailq_claim(s, 1 << 30, 300, got, 4, &k, &next, &err), SP_OK);
	T_EQ_INT((int)k, 0);
	T_EQ_INT(sp_store_mailq_claim(s, 1000, 0, got, 4, &k, &next, &err), SP_ERR_INVALID);
	sp_store_close(s2);
	sp_store_close(s);
}

static const t_fn common[] = {
	test_open, test_orgs_envelopes, test_accounts, test_pending, test_profile_todo,
	test_tokens,
	test_sessions, test_password_sessions, test_devices, test_throttle, test_throttle_begin,
	test_throttle_parallel, test_totp_recovery, test_passkeys, test_threads,
	test_orgs_v3, test_envelopes_v3, test_envelopes_many, test_shred, test_audit_chain,
	test_copies,
	test_group_commit, test_group_commit_fails, test_envelope_view, test_reply_v7,
	test_mailq,
	test_housekeep,	/* last: it shreds, and removes the earlier tests' counters */
};

static void
run_common(void)
{
	size_t i;

	for (i = 0; i < sizeof(common) / sizeof(common[0]); i++)
		common[i]();
}

/* Seconds on the monotonic clock. */
static double
mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* An organisation token's use is recorded at most once a minute and never
 * waits for another writer (under parallel deposits the group commit's
 * committer holds the write lock almost all the time): with the write lock
 * held elsewhere, looking a token up returns at once, whether its last use
 * is fresh (no write) or a minute old (one try, given up). */
static void
test_token_touch_busy(void)
{
	struct sp_store *s = open_store();
	struct sp_err err = {{0}};
	struct sp_org o;
	struct name_list l;
	unsigned char h[SP_SHA256_LEN];
	char path[300];
	sqlite3 *db = NULL;
	int64_t id = 0;
	double t0;
	int i, mine = -1;

	snprintf(path, sizeof(path), "%s/keyd.sqlite", dir);
	sp_sha256("spo_touch", 9, h);
	T_EQ_INT(sp_store_org_add(s, "Touch", "touch.example", h, 100, &id, &err), SP_OK);
	T_EQ_INT(sp_store_org_by_token(s, h, &o, &err), SP_OK);	/* first use: recorded */
	T_EQ_INT(sqlite3_open(path, &db), SQLITE_OK);
	T_EQ_INT(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	t0 = mono_now();
	T_EQ_INT(sp_store_org_by_token(s, h, &o, &err), SP_OK);
	T_EQ_INT(o.id, id);
	T_CHECK(mono_now() - t0 < 1.0);
	T_EQ_INT(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	/* a minute old: the touch is due, but the database is busy */
	T_EQ_INT(sqlite3_exec(db, "UPDATE org_tokens SET last_used = 1 WHERE name = 'default'"
	    " AND org_id = (SELECT id FROM orgs WHERE name = 'Touch')", NULL, NULL, NULL), SQLITE_OK);
	T_EQ_INT(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	t0 = mono_now();
	T_EQ_INT(sp_store_org_by_token(s, h, &o, &err), SP_OK);
	T_CHECK(mono_now() - t0 < 1.0);
	T_EQ_INT(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	memset(&l, 0, sizeof(l));
	T_EQ_INT(sp_store_org_token_each(s, id, token_cb, &l, &err), SP_OK);
	for (i = 0; i < l.n; i++)
		if (strcmp(l.v[i], "default") == 0)
			mine = i;
	T_CHECK(mine >= 0 && l.u[mine] == 1);	/* given up, not waited for */
	/* with the database free again, the next use records it */
	T_EQ_INT(sp_store_org_by_token(s, h, &o, &err), SP_OK);
	memset(&l, 0, sizeof(l));
	T_EQ_INT(sp_store_org_token_each(s, id, token_cb, &l, &err), SP_OK);
	T_CHECK(mine >= 0 && mine < l.n && l.u[mine] >= (int64_t)time(NULL) - 60);
	sqlite3_close(db);
	sp_store_close(s);
}

static void
run_sqlite(void)
{
	backend = "sqlite";
	snprintf(dir, sizeof(dir), "%s", base);
	snprintf(where, sizeof(where), "%s", dir);
	run_common();
	test_audit_tamper();
	test_open_url();
	test_migration();
	test_migration_v3();
	test_rewrap();
	test_token_touch_busy();
}

static void
run_pgsql(void)
{
	const char *url = getenv("SEALPOST_TEST_PG");
	unsigned char r[6];
	size_t i;

	if (url == NULL || *url == '\0') {
		printf("store_test: SEALPOST_TEST_PG not set, PostgreSQL not tested\n");
		return;
	}
	sp_random(r, sizeof(r));
	i = (size_t)snprintf(pg_name, sizeof(pg_name), "sp_store_test_%ld_", (long)getpid());
	for (size_t k = 0; k < sizeof(r) && i + 2 < sizeof(pg_name); k++, i += 2)
		snprintf(pg_name + i, 3, "%02x", r[k]);
	if (pg_database("CREATE", pg_name) != 0 ||
	    url_with_db(url, pg_name, pg_url, sizeof(pg_url)) != 0) {
		T_CHECK(!"PostgreSQL test database made");
		pg_name[0] = '\0';
		return;
	}
	atexit(pg_drop_at_exit);
	backend = "pgsql";
	snprintf(dir, sizeof(dir), "%s/pg", base);
	T_EQ_INT(mkdir(dir, 0700), 0);
	snprintf(where, sizeof(where), "%s", pg_url);
	fprintf(stderr, "store_test: PostgreSQL, database %s\n", pg_name);
	run_common();
	test_pg_two_handles();
	test_pg_issue_parallel();
	test_pg_schema();
	test_pg_migration_v3();
	test_rewrap();
	test_pg_retry();
	pg_drop_at_exit();
}

static void
cleanup(void)
{
	char cmd[400];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup of %s failed\n", base);
}

static void
setup(void)
{
	make_dir();
}

T_MAIN(setup, run_sqlite, run_pgsql, cleanup)

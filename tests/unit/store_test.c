/*
 * store_test.c - the SQLite store in a fresh temporary directory:
 * organisations and token lookup, deposit and fetch with key wrapping,
 * accounts, single-use expiring activation tokens, sessions with idle and
 * absolute timeouts, and the audit trail.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto.h"
#include "keywrap.h"
#include "store.h"
#include "t.h"

static char dir[256];

static void
make_dir(void)
{
	snprintf(dir, sizeof(dir), "/tmp/sp-store-test-XXXXXX");
	if (mkdtemp(dir) == NULL)
		abort();
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

static struct sp_store *
open_store(void)
{
	struct sp_store *s = NULL;
	struct sp_err err = {{0}};
	int st = sp_store_open(&s, "sqlite", dir, &err);

	T_EQ_INT(st, SP_OK);
	if (st != SP_OK)
		fprintf(stderr, "open: %s\n", err.msg);
	return s;
}

static void
test_open(void)
{
	struct sp_store *s = NULL;
	struct sp_err err = {{0}};
	char path[300];
	struct stat sb;

	T_EQ_INT(sp_store_open(&s, "nosuch", dir, &err), SP_ERR_CONFIG);
	T_CHECK(s == NULL);
	s = open_store();
	snprintf(path, sizeof(path), "%s/keyd.sqlite", dir);
	T_EQ_INT(stat(path, &sb), 0);
	T_EQ_INT(sb.st_mode & 077, 0);
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
	struct sp_audit a = {0, "deposit", "org:Clinic", "AAAAAAAAAAAAAAAAAAAAAA", "127.0.0.1", NULL};
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
test_accounts_tokens(void)
{
	struct sp_store *s = open_store();
	struct sp_err err = {{0}};
	struct sp_account acc, got;
	struct sp_audit a = {0, "register", "pat@example.org", NULL, "127.0.0.1", NULL};
	unsigned char t1[SP_SHA256_LEN], t2[SP_SHA256_LEN], t3[SP_SHA256_LEN];
	char email[SP_STORE_EMAIL_MAX + 1];

	sp_sha256("tok1", 4, t1);
	sp_sha256("tok2", 4, t2);
	sp_sha256("tok3", 4, t3);
	memset(&acc, 0, sizeof(acc));
	snprintf(acc.email, sizeof(acc.email), "pat@example.org");
	snprintf(acc.first_name, sizeof(acc.first_name), "Pat");
	snprintf(acc.last_name, sizeof(acc.last_name), "Doe");
	snprintf(acc.language, sizeof(acc.language), "en");
	snprintf(acc.pw_hash, sizeof(acc.pw_hash), "$argon2id$fake");
	snprintf(acc.phrase, sizeof(acc.phrase), "blue kettle");
	acc.phrase_enabled = 1;
	acc.question[0] = 1;
	acc.question[1] = 4;
	acc.question[2] = 7;
	T_EQ_INT(sp_store_account_create(s, &acc, t1, 5000, &a, &err), SP_OK);
	T_EQ_INT(sp_store_account_create(s, &acc, NULL, 0, &a, &err), SP_ERR_EXISTS);
	T_EQ_INT(audit_count(s, "register"), 1);
	T_EQ_INT(sp_store_account_get(s, "pat@example.org", &got, &err), SP_OK);
	T_CHECK(strcmp(got.first_name, "Pat") == 0 && strcmp(got.phrase, "blue kettle") == 0);
	T_EQ_INT(got.activated, 0);
	T_EQ_INT(got.question[1], 4);
	T_EQ_INT(sp_store_account_get(s, "nobody@example.org", &got, &err), SP_ERR_NOTFOUND);

	/* Failed logins count and are audited, also for unknown accounts. */
	a.event = "login-failed";
	T_EQ_INT(sp_store_login_failed(s, "pat@example.org", &a, &err), SP_OK);
	T_EQ_INT(sp_store_login_failed(s, "nobody@example.org", &a, &err), SP_OK);
	T_EQ_INT(sp_store_account_get(s, "pat@example.org", &got, &err), SP_OK);
	T_EQ_INT(got.failed_logins, 1);
	T_EQ_INT(audit_count(s, "login-failed"), 2);

	/* Tokens: peek does not consume; use consumes once; expiry. */
	T_EQ_INT(sp_store_activation_peek(s, t1, 4000, email, &err), SP_OK);
	T_CHECK(strcmp(email, "pat@example.org") == 0);
	T_EQ_INT(sp_store_activation_peek(s, t1, 4000, email, &err), SP_OK);
	T_EQ_INT(sp_store_activation_peek(s, t1, 5000, email, &err), SP_ERR_EXPIRED);
	T_EQ_INT(sp_store_activation_peek(s, t3, 4000, email, &err), SP_ERR_NOTFOUND);
	T_EQ_INT(sp_store_activation_add(s, t2, "pat@example.org", 3000, &err), SP_OK);
	T_EQ_INT(sp_store_activation_use(s, t2, 3000, email, NULL, &err), SP_ERR_EXPIRED);
	a.event = "activate";
	a.actor = NULL;
	T_EQ_INT(sp_store_activation_use(s, t1, 4000, email, &a, &err), SP_OK);
	T_EQ_INT(sp_store_activation_use(s, t1, 4000, email, &a, &err), SP_ERR_EXPIRED);
	T_CHECK(strstr(err.msg, "used") != NULL);
	T_EQ_INT(sp_store_account_get(s, "pat@example.org", &got, &err), SP_OK);
	T_EQ_INT(got.activated, 1);
	T_EQ_INT(audit_count(s, "activate"), 1);
	sp_store_close(s);
}

static void
test_sessions(void)
{
	struct sp_store *s = open_store();
	struct sp_err err = {{0}};
	struct sp_session ss, got;
	struct sp_account acc;
	struct sp_audit a = {0, "login", "pat@example.org", NULL, "127.0.0.1", NULL};

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
	struct sp_throttle_policy p = {3, 30, 100};
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
			struct sp_audit a = {0, "par-release", "pat@example.org", e.id, NULL, NULL};

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
cleanup(void)
{
	char cmd[400];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup of %s failed\n", dir);
}

static void
setup(void)
{
	make_dir();
}

T_MAIN(setup, test_open, test_orgs_envelopes, test_accounts_tokens, test_sessions, test_throttle, test_threads,
    cleanup)

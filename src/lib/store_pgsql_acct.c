/*
 * store_pgsql_acct.c - the PostgreSQL backend's accounts (see
 * store_pgsql_internal.h): accounts and their profiles, single-use tokens,
 * pending registrations and sessions.
 * SECURITY: every statement passes its values as parameters (bytea in
 * binary); tokens arrive here only as SHA-256 hashes.
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store_pgsql_internal.h"

/* --- accounts ------------------------------------------------------------ */

/* Columns 0-12 of an account or pending row: the profile. */
#define PG_PROFILE_COLS "email, first_name, last_name, language, pw_hash, phrase," \
	" phrase_enabled, q1, q2, q3, a1, a2, a3"

/* Parameters $1-$13: the profile. */
static void
profile_params(struct pgp *p, const struct sp_account *acc)
{
	int i;

	pg_p_text(p, acc->email);
	pg_p_text(p, acc->first_name);
	pg_p_text(p, acc->last_name);
	pg_p_text(p, acc->language);
	pg_p_text(p, acc->pw_hash);
	pg_p_text(p, acc->phrase);
	pg_p_int(p, acc->phrase_enabled ? 1 : 0);
	for (i = 0; i < 3; i++)
		pg_p_int(p, acc->question[i]);
	for (i = 0; i < 3; i++)
		pg_p_text(p, acc->answer_hash[i]);
}

static void
profile_from_row(const PGresult *r, struct sp_account *out)
{
	int i;

	pg_r_text(r, 0, 0, out->email, sizeof(out->email));
	pg_r_text(r, 0, 1, out->first_name, sizeof(out->first_name));
	pg_r_text(r, 0, 2, out->last_name, sizeof(out->last_name));
	pg_r_text(r, 0, 3, out->language, sizeof(out->language));
	pg_r_text(r, 0, 4, out->pw_hash, sizeof(out->pw_hash));
	pg_r_text(r, 0, 5, out->phrase, sizeof(out->phrase));
	out->phrase_enabled = (int)pg_r_int(r, 0, 6);
	for (i = 0; i < 3; i++) {
		out->question[i] = (int)pg_r_int(r, 0, 7 + i);
		pg_r_text(r, 0, 10 + i, out->answer_hash[i], sizeof(out->answer_hash[i]));
	}
}

int
pg_account_exists(struct pg_cx *cx, const char *email, int *found, struct sp_err *err)
{
	struct pgp p = {0};

	pg_p_text(&p, email);
	return pg_one(cx, "SELECT 1 FROM accounts WHERE email = $1", &p, NULL, found,
	    "account", err);
}

/* Drop email's pending registrations except the `keep` newest, with their
 * activation tokens (except the token `spare`, may be NULL). */
static int
pg_pending_drop(struct pg_cx *cx, const char *email, int keep, const unsigned char *spare,
    struct sp_err *err)
{
	struct pgp p = {0};
	int st;

	pg_p_text(&p, email);
	pg_p_int(&p, keep);
	pg_p_hash(&p, spare);
	st = pg_exec(cx, "DELETE FROM tokens WHERE kind = 1 AND ($3 IS NULL OR hash <> $3)"
	    " AND ref IN (SELECT id FROM pending WHERE email = $1 ORDER BY id DESC OFFSET $2)",
	    &p, NULL, "drop pending registrations", err);
	p.n = 2;
	if (st == SP_OK)
		st = pg_exec(cx, "DELETE FROM pending WHERE id IN (SELECT id FROM pending"
		    " WHERE email = $1 ORDER BY id DESC OFFSET $2)", &p, NULL,
		    "drop pending registrations", err);
	return st;
}

/* Tokens are kept a day past their expiry (so that a late click still
 * hears "expired"), then deleted by the next issue. */
#define PG_TOKEN_KEEP 86400

static int
pg_tokens_expire(struct pg_cx *cx, int64_t now, struct sp_err *err)
{
	struct pgp p = {0};

	pg_p_int(&p, now - PG_TOKEN_KEEP);
	return pg_exec(cx, "DELETE FROM tokens WHERE expires <= $1", &p, NULL,
	    "expire tokens", err);
}

int
pg_account_create(void *impl, const struct sp_account *acc, const struct sp_audit *a,
    struct sp_err *err)
{
	struct pg_cx cx;
	struct pgp p = {0};
	int64_t created = acc->created ? acc->created : (int64_t)time(NULL);
	int st;

	if ((st = pg_tx(impl, &cx, err)) != SP_OK)
		return st;
	profile_params(&p, acc);
	pg_p_int(&p, created);
	pg_p_int(&p, acc->pw_changed ? acc->pw_changed : created);
	st = pg_exec(&cx, "INSERT INTO accounts(" PG_PROFILE_COLS ", activated,"
	    " failed_logins, created, pw_changed) VALUES ($1, $2, $3, $4, $5, $6, $7, $8,"
	    " $9, $10, $11, $12, $13, 1, 0, $14, $15)", &p, NULL, "add account", err);
	if (st == SP_ERR_EXISTS)
		sp_err_set(err, st, "an account with this address exists");
	/* Registrations of the address could never be activated now. */
	if (st == SP_OK)
		st = pg_pending_drop(&cx, acc->email, 0, NULL, err);
	if (st == SP_OK)
		st = pg_audit_insert(&cx, a, err);
	return pg_end(&cx, st, err);
}

int
pg_account_get(void *impl, const char *email, struct sp_account *out,
    struct sp_err *err)
{
	struct pg_cx cx;
	struct pgp p = {0};
	PGresult *r;
	int st, n;

	memset(out, 0, sizeof(*out));
	if ((st = pg_get(impl, &cx, err)) != SP_OK)
		return st;
	pg_p_text(&p, email);
	if ((st = pg_exec(&cx, "SELECT " PG_PROFILE_COLS ", failed_logins, created,"
	    " pw_changed, totp_wrapped, totp_key_id, totp_last_step,"
	    " (SELECT count(*) FROM passkeys p WHERE p.email = a.email),"
	    " (SELECT count(*) FROM recovery_codes r WHERE r.email = a.email AND r.used = 0),"
	    " profile_todo, bcc_default FROM accounts a WHERE email = $1", &p, &r, "account",
	    err)) != SP_OK)
		return st;
	if (PQntuples(r) == 0) {
		PQclear(r);
		return sp_err_set(err, SP_ERR_NOTFOUND, "no such account");
	}
	profile_from_row(r, out);
	out->activated = 1;
	out->failed_logins = (int)pg_r_int(r, 0, 13);
	out->created = pg_r_int(r, 0, 14);
	out->pw_changed = pg_r_int(r, 0, 15);
	n = pg_r_blob(r, 0, 16, out->totp_wrapped, sizeof(out->totp_wrapped));
	out->totp_key_id = (uint32_t)pg_r_int(r, 0, 17);
	out->totp_last_step = pg_r_int(r, 0, 18);
	out->npasskeys = (int)pg_r_int(r, 0, 19);
	out->nrecovery = (int)pg_r_int(r, 0, 20);
	out->profile_todo = (int)pg_r_int(r, 0, 21);
	out->bcc_default = (int)pg_r_int(r, 0, 22);
	PQclear(r);
	if (n < 0) {
		sp_wipe(out, sizeof(*out));
		return pg_blob_err(n, "account", err);
	}
	out->totp_wrapped_len = (size_t)n;
	return SP_OK;
}

int
pg_login_failed(void *impl, const char *email, const struct sp_audit *a,
    struct sp_err *err)
{
	struct pg_cx cx;
	struct pgp p = {0};
	int st;

	if ((st = pg_tx(impl, &cx, err)) != SP_OK)
		return st;
	pg_p_text(&p, email);
	st = pg_exec(&cx, "UPDATE accounts SET failed_logins = failed_logins + 1"
	    " WHERE email = $1", &p, NULL, "count failure", err);
	if (st == SP_OK)
		st = pg_audit_insert(&cx, a, err);
	return pg_end(&cx, st, err);
}

/* --- single-use tokens --------------------------------------------------- */

const char *
pg_token_what(int kind)
{
	switch (kind) {
	case SP_TOKEN_ACTIVATE: return "activation link";
	case SP_TOKEN_RESET: return "password reset link";
	case SP_TOKEN_SIGNIN: return "sign-in link";
	case SP_TOKEN_MFA: return "log-in step";
	case SP_TOKEN_CHALLENGE: return "passkey challenge";
	default: return "token";
	}
}

/* Look a token of kind up (locking its row inside the caller's transaction
 * when lock is set, so that two uses at once see each other); out (may be
 * NULL) is filled when the token exists with that kind. */
int
pg_token_get(struct pg_cx *cx, int kind, const unsigned char *hash, int64_t now, int lock,
    struct sp_token_rec *out, struct sp_err *err)
{
	struct sp_token_rec t;
	struct pgp p = {0};
	PGresult *r;
	int st, n;

	memset(&t, 0, sizeof(t));
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (hash == NULL)
		return sp_err_set(err, SP_ERR_NOTFOUND, "unknown %s", pg_token_what(kind));
	pg_p_hash(&p, hash);
	if ((st = pg_exec(cx, lock ? "SELECT kind, email, ref, expires, used FROM tokens"
	    " WHERE hash = $1 FOR UPDATE" : "SELECT kind, email, ref, expires, used"
	    " FROM tokens WHERE hash = $1", &p, &r, "token", err)) != SP_OK)
		return st;
	if ((n = PQntuples(r)) > 0) {
		t.kind = (int)pg_r_int(r, 0, 0);
		pg_r_text(r, 0, 1, t.email, sizeof(t.email));
		t.ref = pg_r_int(r, 0, 2);
		t.expires = pg_r_int(r, 0, 3);
		t.used = (int)pg_r_int(r, 0, 4);
	}
	PQclear(r);
	if (n == 0 || t.kind != kind)
		return sp_err_set(err, SP_ERR_NOTFOUND, "unknown %s", pg_token_what(kind));
	if (out != NULL)
		*out = t;
	if (t.used)
		return sp_err_set(err, SP_ERR_EXPIRED, "this %s was already used",
		    pg_token_what(kind));
	if (t.expires <= now)
		return sp_err_set(err, SP_ERR_EXPIRED, "this %s has expired", pg_token_what(kind));
	return SP_OK;
}

int
pg_token_consume(struct pg_cx *cx, const unsigned char *hash, struct sp_err *err)
{
	struct pgp p = {0};
	int st;

	pg_p_hash(&p, hash);
	st = pg_exec(cx, "UPDATE tokens SET used = 1 WHERE hash = $1 AND used = 0", &p, NULL,
	    "use token", err);
	if (st == SP_OK && cx->changes == 0)
		st = sp_err_set(err, SP_ERR_EXPIRED, "this link was already used");
	return st;
}

static int
pg_token_insert(struct pg_cx *cx, int kind, const unsigned char *hash, const char *email,
    int64_t ref, int64_t expires, struct sp_err *err)
{
	struct pgp p = {0};

	pg_p_hash(&p, hash);
	pg_p_int(&p, kind);
	pg_p_text(&p, email);
	pg_p_int(&p, ref);
	pg_p_int(&p, expires);
	return pg_exec(cx, "INSERT INTO tokens(hash, kind, email, ref, expires, used)"
	    " VALUES ($1, $2, $3, $4, $5, 0)", &p, NULL, "add token", err);
}

int
pg_token_issue(void *impl, int kind, const char *email, const unsigned char *token_hash,
    int64_t now, int64_t expires, const char *rate_key,
    const struct sp_throttle_policy *rate, int *issued, const struct sp_audit *a,
    struct sp_err *err)
{
	struct pg_cx cx;
	int64_t ref = 0, lock = 0;
	int st, found = 0;

	if (issued != NULL)
		*issued = 0;
	if (kind < SP_TOKEN_ACTIVATE || kind > SP_TOKEN_CHALLENGE || token_hash == NULL ||
	    (rate_key != NULL && rate == NULL))
		return sp_err_set(err, SP_ERR_INVALID, "store: bad token request");
	if (email == NULL)
		email = "";
	if ((st = pg_tx(impl, &cx, err)) != SP_OK)
		return st;
	/* The rate key's row is locked first: requests for one key queue here. */
	if (rate_key != NULL)
		st = pg_throttle_count(&cx, rate_key, now, rate, &lock, err);
	if (st == SP_OK)
		st = pg_tokens_expire(&cx, now, err);
	if (st == SP_OK && lock == 0) {
		struct pgp p = {0};

		switch (kind) {
		case SP_TOKEN_ACTIVATE:
			pg_p_text(&p, email);
			st = pg_one(&cx, "SELECT id FROM pending WHERE email = $1"
			    " ORDER BY id DESC LIMIT 1", &p, &ref, &found, "pending registration",
			    err);
			break;
		case SP_TOKEN_CHALLENGE:
			found = 1;
			break;
		default:
			st = pg_account_exists(&cx, email, &found, err);
		}
	}
	if (st == SP_OK && found && lock == 0) {
		st = pg_token_insert(&cx, kind, token_hash, email, ref, expires, err);
		if (st == SP_OK)
			st = pg_audit_insert(&cx, a, err);
	}
	if ((st = pg_end(&cx, st, err)) == SP_OK && issued != NULL)
		*issued = found && lock == 0;
	return st;
}

int
pg_token_peek(void *impl, int kind, const unsigned char *token_hash, int64_t now,
    struct sp_token_rec *out, struct sp_err *err)
{
	struct pg_cx cx;
	int st;

	if ((st = pg_get(impl, &cx, err)) != SP_OK)
		return st;
	return pg_token_get(&cx, kind, token_hash, now, 0, out, err);
}

int
pg_token_use(void *impl, int kind, const unsigned char *token_hash, int64_t now,
    struct sp_token_rec *out, const struct sp_audit *a, struct sp_err *err)
{
	struct pg_cx cx;
	int st;

	if ((st = pg_tx(impl, &cx, err)) != SP_OK)
		return st;
	if ((st = pg_token_get(&cx, kind, token_hash, now, 1, out, err)) == SP_OK &&
	    (st = pg_token_consume(&cx, token_hash, err)) == SP_OK) {
		if (out != NULL)
			out->used = 1;
		st = pg_audit_insert(&cx, a, err);
	}
	return pg_end(&cx, st, err);
}

/* --- pending registrations ----------------------------------------------- */

int
pg_pending_add(void *impl, const struct sp_account *acc, const unsigned char *token_hash,
    int64_t token_expires, const struct sp_audit *a, struct sp_err *err)
{
	struct pg_cx cx;
	struct pgp p = {0};
	int64_t now = acc->created ? acc->created : (int64_t)time(NULL), id = 0;
	int st, found = 0;

	if (token_hash == NULL)
		return sp_err_set(err, SP_ERR_INVALID, "store: registration without a token");
	if ((st = pg_tx(impl, &cx, err)) != SP_OK)
		return st;
	if ((st = pg_account_exists(&cx, acc->email, &found, err)) == SP_OK && found)
		st = sp_err_set(err, SP_ERR_EXISTS, "an account with this address exists");
	if (st == SP_OK)
		st = pg_tokens_expire(&cx, now, err);
	if (st == SP_OK) {
		profile_params(&p, acc);
		pg_p_bin(&p, acc->bind_hash, sizeof(acc->bind_hash));
		pg_p_int(&p, now);
		pg_p_int(&p, acc->profile_todo ? 1 : 0);
		st = pg_one(&cx, "INSERT INTO pending(" PG_PROFILE_COLS ", bind_hash, created,"
		    " profile_todo) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,"
		    " $14, $15, $16) RETURNING id", &p, &id, &found, "add registration", err);
	}
	if (st == SP_OK)
		st = pg_pending_drop(&cx, acc->email, SP_STORE_PENDING_MAX, NULL, err);
	if (st == SP_OK)
		st = pg_token_insert(&cx, SP_TOKEN_ACTIVATE, token_hash, acc->email, id,
		    token_expires, err);
	if (st == SP_OK)
		st = pg_audit_insert(&cx, a, err);
	return pg_end(&cx, st, err);
}

/* The pending registration `id` into out. */
static int
pg_pending_get(struct pg_cx *cx, int64_t id, struct sp_account *out, struct sp_err *err)
{
	struct pgp p = {0};
	PGresult *r;
	int st, n;

	pg_p_int(&p, id);
	if ((st = pg_exec(cx, "SELECT " PG_PROFILE_COLS ", id, bind_hash, created"
	    " FROM pending WHERE id = $1", &p, &r, "registration", err)) != SP_OK)
		return st;
	if (PQntuples(r) == 0) {
		PQclear(r);
		return sp_err_set(err, SP_ERR_NOTFOUND, "unknown activation link");
	}
	profile_from_row(r, out);
	out->activated = 0;
	out->pending_id = pg_r_int(r, 0, 13);
	n = pg_r_blob(r, 0, 14, out->bind_hash, sizeof(out->bind_hash));
	out->created = pg_r_int(r, 0, 15);
	out->pw_changed = out->created;
	PQclear(r);
	return n < 0 ? pg_blob_err(n, "registration", err) : SP_OK;
}

int
pg_pending_by_token(void *impl, const unsigned char *token_hash, int64_t now,
    struct sp_account *out, struct sp_err *err)
{
	struct sp_token_rec t;
	struct pg_cx cx;
	int st;

	memset(out, 0, sizeof(*out));
	if ((st = pg_tx(impl, &cx, err)) != SP_OK)
		return st;
	if ((st = pg_token_get(&cx, SP_TOKEN_ACTIVATE, token_hash, now, 0, &t, err)) == SP_OK)
		st = pg_pending_get(&cx, t.ref, out, err);
	if ((st = pg_end(&cx, st, err)) != SP_OK)
		sp_wipe(out, sizeof(*out));
	return st;
}

int
pg_pending_activate(void *impl, const unsigned char *token_hash, int64_t now,
    char *email, const struct sp_audit *a, struct sp_err *err)
{
	struct sp_token_rec t;
	struct sp_account pa;
	struct sp_audit aa;
	struct pg_cx cx;
	int st, found = 0;

	if (email != NULL)
		*email = '\0';
	memset(&pa, 0, sizeof(pa));
	if ((st = pg_tx(impl, &cx, err)) != SP_OK)
		return st;
	if ((st = pg_token_get(&cx, SP_TOKEN_ACTIVATE, token_hash, now, 1, &t, err)) == SP_OK)
		st = pg_pending_get(&cx, t.ref, &pa, err);
	if (st == SP_OK && (st = pg_account_exists(&cx, pa.email, &found, err)) == SP_OK && found)
		st = sp_err_set(err, SP_ERR_EXISTS, "an account with this address exists");
	if (st == SP_OK) {
		struct pgp p = {0};

		pg_p_int(&p, t.ref);
		pg_p_int(&p, now);
		st = pg_exec(&cx, "INSERT INTO accounts(" PG_PROFILE_COLS ", activated,"
		    " failed_logins, created, pw_changed, profile_todo) SELECT " PG_PROFILE_COLS
		    ", 1, 0, $2, created, profile_todo FROM pending WHERE id = $1", &p, NULL,
		    "activate", err);
		if (st == SP_ERR_EXISTS)
			sp_err_set(err, st, "an account with this address exists");
	}
	if (st == SP_OK)
		st = pg_token_consume(&cx, token_hash, err);
	/* Every registration of the address goes, with its tokens; the used
	 * token stays until it expires, so a second click says "used". */
	if (st == SP_OK)
		st = pg_pending_drop(&cx, pa.email, 0, token_hash, err);
	if (st == SP_OK && a != NULL) {
		aa = *a;
		if (aa.actor == NULL)
			aa.actor = pa.email;
		st = pg_audit_insert(&cx, &aa, err);
	}
	if ((st = pg_end(&cx, st, err)) == SP_OK && email != NULL)
		snprintf(email, SP_STORE_EMAIL_MAX + 1, "%s", pa.email);
	sp_wipe(&pa, sizeof(pa));
	return st;
}

/* --- sessions ------------------------------------------------------------ */

int
pg_session_create(void *impl, const struct sp_session *ss, const struct sp_audit *a,
    struct sp_err *err)
{
	struct pg_cx cx;
	int st;

	if ((st = pg_tx(impl, &cx, err)) != SP_OK)
		return st;
	{
		struct pgp p = {0};

		pg_p_hash(&p, ss->hash);
		pg_p_text(&p, ss->email);
		pg_p_text(&p, ss->csrf);
		pg_p_int(&p, ss->created);
		pg_p_int(&p, ss->last_seen);
		pg_p_int(&p, ss->expires);
		pg_p_int(&p, ss->auth_time);
		pg_p_text(&p, ss->via);
		st = pg_exec(&cx, "INSERT INTO sessions(hash, email, csrf, created, last_seen,"
		    " expires, auth_time, via) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)", &p, NULL,
		    "add session", err);
	}
	if (st == SP_OK) {
		struct pgp p = {0};

		pg_p_text(&p, ss->email);
		st = pg_exec(&cx, "UPDATE accounts SET failed_logins = 0 WHERE email = $1",
		    &p, NULL, "reset failures", err);
	}
	if (st == SP_OK) {
		struct pgp p = {0};

		pg_p_int(&p, ss->created);
		st = pg_exec(&cx, "DELETE FROM sessions WHERE expires <= $1", &p, NULL,
		    "expire sessions", err);
	}
	if (st == SP_OK)
		st = pg_audit_insert(&cx, a, err);
	return pg_end(&cx, st, err);
}

/* last_seen is written only when it is this many seconds old, so that a
 * busy session does not cost a write (and a WAL flush) per request. */
#define PG_SESSION_TOUCH 30

int
pg_session_use(void *impl, const unsigned char *hash, int64_t now, int64_t idle,
    struct sp_session *out, struct sp_err *err)
{
	struct pg_cx cx;
	struct pgp p = {0};
	PGresult *r;
	int st;

	memset(out, 0, sizeof(*out));
	if ((st = pg_get(impl, &cx, err)) != SP_OK)
		return st;
	pg_p_hash(&p, hash);
	pg_p_int(&p, now);
	pg_p_int(&p, idle);
	if ((st = pg_execk(&cx, "SELECT email, csrf, created, last_seen, expires, auth_time,"
	    " via FROM sessions WHERE hash = $1 AND expires > $2 AND last_seen + $3 > $2",
	    &p, &r, "session", err)) != SP_OK)
		return st;
	if (PQntuples(r) == 0) {
		PQclear(r);
		return sp_err_set(err, SP_ERR_NOTFOUND, "no such session");
	}
	memcpy(out->hash, hash, SP_SHA256_LEN);
	pg_r_text(r, 0, 0, out->email, sizeof(out->email));
	pg_r_text(r, 0, 1, out->csrf, sizeof(out->csrf));
	out->created = pg_r_int(r, 0, 2);
	out->last_seen = pg_r_int(r, 0, 3);
	out->expires = pg_r_int(r, 0, 4);
	out->auth_time = pg_r_int(r, 0, 5);
	if (out->auth_time == 0)
		out->auth_time = out->created;
	pg_r_text(r, 0, 6, out->via, sizeof(out->via));
	PQclear(r);
	if (now - out->last_seen < PG_SESSION_TOUCH)
		return SP_OK;
	p.n = 2;
	if ((st = pg_exec(&cx, "UPDATE sessions SET last_seen = $2 WHERE hash = $1"
	    " AND last_seen < $2", &p, NULL, "session", err)) == SP_OK)
		out->last_seen = now;
	return st;
}

int
pg_session_delete(void *impl, const unsigned char *hash, const struct sp_audit *a,
    struct sp_err *err)
{
	struct pg_cx cx;
	struct pgp p = {0};
	int st;

	if ((st = pg_tx(impl, &cx, err)) != SP_OK)
		return st;
	pg_p_hash(&p, hash);
	st = pg_exec(&cx, "DELETE FROM sessions WHERE hash = $1", &p, NULL, "delete session",
	    err);
	if (st == SP_OK && cx.changes == 0)
		st = sp_err_set(err, SP_ERR_NOTFOUND, "no such session");
	if (st == SP_OK)
		st = pg_audit_insert(&cx, a, err);
	return pg_end(&cx, st, err);
}

int
pg_profile_set(void *impl, const struct sp_account *acc, const struct sp_audit *a,
    struct sp_err *err)
{
	struct pg_cx cx;
	struct pgp p = {0};
	int st, i;

	if ((st = pg_tx(impl, &cx, err)) != SP_OK)
		return st;
	pg_p_text(&p, acc->email);
	pg_p_text(&p, acc->first_name);
	pg_p_text(&p, acc->last_name);
	pg_p_text(&p, acc->language);
	pg_p_text(&p, acc->phrase);
	pg_p_int(&p, acc->phrase_enabled ? 1 : 0);
	for (i = 0; i < 3; i++)
		pg_p_int(&p, acc->question[i]);
	for (i = 0; i < 3; i++)
		pg_p_text(&p, acc->answer_hash[i]);
	pg_p_int(&p, acc->bcc_default ? 1 : 0);
	st = pg_exec(&cx, "UPDATE accounts SET first_name = $2, last_name = $3, language = $4,"
	    " phrase = $5, phrase_enabled = $6, q1 = $7, q2 = $8, q3 = $9, a1 = $10, a2 = $11,"
	    " a3 = $12, profile_todo = 0, bcc_default = $13 WHERE email = $1", &p, NULL, "set profile", err);
	if (st == SP_OK && cx.changes == 0)
		st = sp_err_set(err, SP_ERR_NOTFOUND, "no such account");
	if (st == SP_OK)
		st = pg_audit_insert(&cx, a, err);
	return pg_end(&cx, st, err);
}

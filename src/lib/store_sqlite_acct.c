/*
 * store_sqlite_acct.c - the SQLite backend's accounts (see
 * store_sqlite_internal.h): accounts and failed logins, single-use tokens,
 * pending registrations and their activation, sessions, and profile and
 * password changes.
 * SECURITY: every statement binds its parameters; tokens arrive here only as
 * SHA-256 hashes.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "store_sqlite_internal.h"

/* --- accounts ------------------------------------------------------------ */

/* Columns 0-12 of an account or pending row: the profile. */
#define SQ_PROFILE_COLS "email, first_name, last_name, language, pw_hash, phrase," \
	" phrase_enabled, q1, q2, q3, a1, a2, a3"

static void
profile_bind(sqlite3_stmt *st, const struct sp_account *acc)
{
	int i;

	sq_bind_text(st, 1, acc->email);
	sq_bind_text(st, 2, acc->first_name);
	sq_bind_text(st, 3, acc->last_name);
	sq_bind_text(st, 4, acc->language);
	sq_bind_text(st, 5, acc->pw_hash);
	sq_bind_text(st, 6, acc->phrase);
	sqlite3_bind_int(st, 7, acc->phrase_enabled ? 1 : 0);
	for (i = 0; i < 3; i++) {
		sqlite3_bind_int(st, 8 + i, acc->question[i]);
		sq_bind_text(st, 11 + i, acc->answer_hash[i]);
	}
}

static void
profile_from_row(sqlite3_stmt *st, struct sp_account *out)
{
	int i;

	sq_col_text(st, 0, out->email, sizeof(out->email));
	sq_col_text(st, 1, out->first_name, sizeof(out->first_name));
	sq_col_text(st, 2, out->last_name, sizeof(out->last_name));
	sq_col_text(st, 3, out->language, sizeof(out->language));
	sq_col_text(st, 4, out->pw_hash, sizeof(out->pw_hash));
	sq_col_text(st, 5, out->phrase, sizeof(out->phrase));
	out->phrase_enabled = sqlite3_column_int(st, 6);
	for (i = 0; i < 3; i++) {
		out->question[i] = sqlite3_column_int(st, 7 + i);
		sq_col_text(st, 10 + i, out->answer_hash[i], sizeof(out->answer_hash[i]));
	}
}

int
sq_account_exists(sqlite3 *db, const char *email, int *found, struct sp_err *err)
{
	sqlite3_stmt *st;
	int s;

	if ((s = sq_prepare(db, "SELECT 1 FROM accounts WHERE email = ?", &st, err)) != SP_OK)
		return s;
	sq_bind_text(st, 1, email);
	return sq_one(db, st, NULL, found, "account", err);
}

/* Drop email's pending registrations except the `keep` newest, with their
 * activation tokens (except the token `spare`, may be NULL). */
static int
sq_pending_drop(sqlite3 *db, const char *email, int keep, const unsigned char *spare,
    struct sp_err *err)
{
	static const char *const sql[] = {
		"DELETE FROM tokens WHERE kind = 1 AND (?3 IS NULL OR hash != ?3) AND ref IN"
		" (SELECT id FROM pending WHERE email = ?1 ORDER BY id DESC LIMIT -1 OFFSET ?2)",
		"DELETE FROM pending WHERE id IN"
		" (SELECT id FROM pending WHERE email = ?1 ORDER BY id DESC LIMIT -1 OFFSET ?2)",
	};
	sqlite3_stmt *st;
	size_t i;
	int s = SP_OK;

	for (i = 0; s == SP_OK && i < sizeof(sql) / sizeof(sql[0]); i++) {
		if ((s = sq_prepare(db, sql[i], &st, err)) != SP_OK)
			break;
		sq_bind_text(st, 1, email);
		sqlite3_bind_int(st, 2, keep);
		if (i == 0)
			sq_bind_hash(st, 3, spare);
		s = sq_run(db, st, "drop pending registrations", err);
	}
	return s;
}

/* Tokens are kept a day past their expiry (so that a late click still
 * hears "expired"), then deleted by the next issue. */
#define SQ_TOKEN_KEEP 86400

static int
sq_tokens_expire(sqlite3 *db, int64_t now, struct sp_err *err)
{
	sqlite3_stmt *st;
	int s;

	if ((s = sq_prepare(db, "DELETE FROM tokens WHERE expires <= ?", &st, err)) != SP_OK)
		return s;
	sqlite3_bind_int64(st, 1, now - SQ_TOKEN_KEEP);
	return sq_run(db, st, "expire tokens", err);
}

int
sq_account_create(void *impl, const struct sp_account *acc, const struct sp_audit *a,
    struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t created = acc->created ? acc->created : (int64_t)time(NULL);
	int s;

	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "INSERT INTO accounts(" SQ_PROFILE_COLS ", activated,"
	    " failed_logins, created, pw_changed)"
	    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,1,0,?14,?15)", &st, err)) == SP_OK) {
		profile_bind(st, acc);
		sqlite3_bind_int64(st, 14, created);
		sqlite3_bind_int64(st, 15, acc->pw_changed ? acc->pw_changed : created);
		s = sq_run(db, st, "add account", err);
		if (s == SP_ERR_EXISTS)
			sp_err_set(err, s, "an account with this address exists");
	}
	/* Registrations of the address could never be activated now. */
	if (s == SP_OK)
		s = sq_pending_drop(db, acc->email, 0, NULL, err);
	if (s == SP_OK)
		s = sq_audit_insert(db, a, err);
	return sq_end(db, s, err);
}

int
sq_account_get(void *impl, const char *email, struct sp_account *out,
    struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s, rc, n;

	memset(out, 0, sizeof(*out));
	if ((s = sq_db(impl, &db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "SELECT " SQ_PROFILE_COLS ", failed_logins, created,"
	    " pw_changed, totp_wrapped, totp_key_id, totp_last_step,"
	    " (SELECT count(*) FROM passkeys p WHERE p.email = a.email),"
	    " (SELECT count(*) FROM recovery_codes r WHERE r.email = a.email AND r.used = 0),"
	    " profile_todo, bcc_default FROM accounts a WHERE email = ?", &st, err)) != SP_OK)
		return s;
	sq_bind_text(st, 1, email);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		profile_from_row(st, out);
		out->activated = 1;
		out->failed_logins = sqlite3_column_int(st, 13);
		out->created = sqlite3_column_int64(st, 14);
		out->pw_changed = sqlite3_column_int64(st, 15);
		if ((n = sq_col_blob(st, 16, out->totp_wrapped, sizeof(out->totp_wrapped))) < 0)
			rc = SQLITE_CORRUPT;
		else
			out->totp_wrapped_len = (size_t)n;
		out->totp_key_id = (uint32_t)sqlite3_column_int64(st, 17);
		out->totp_last_step = sqlite3_column_int64(st, 18);
		out->npasskeys = sqlite3_column_int(st, 19);
		out->nrecovery = sqlite3_column_int(st, 20);
		out->profile_todo = sqlite3_column_int(st, 21);
		out->bcc_default = sqlite3_column_int(st, 22);
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE)
		return sp_err_set(err, SP_ERR_NOTFOUND, "no such account");
	if (rc != SQLITE_ROW) {
		sp_wipe(out, sizeof(*out));
		return sq_status(db, rc, "account", err);
	}
	return SP_OK;
}

int
sq_login_failed(void *impl, const char *email, const struct sp_audit *a,
    struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s;

	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "UPDATE accounts SET failed_logins = failed_logins + 1"
	    " WHERE email = ?", &st, err)) == SP_OK) {
		sq_bind_text(st, 1, email);
		s = sq_run(db, st, "count failure", err);
	}
	if (s == SP_OK)
		s = sq_audit_insert(db, a, err);
	return sq_end(db, s, err);
}

/* --- single-use tokens --------------------------------------------------- */

static const char *
token_what(int kind)
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

/* Look a token of kind up inside the caller's transaction (or none); out
 * (may be NULL) is filled when the token exists with that kind. */
static int
sq_token_get(sqlite3 *db, int kind, const unsigned char *hash, int64_t now,
    struct sp_token_rec *out, struct sp_err *err)
{
	struct sp_token_rec r;
	sqlite3_stmt *st;
	int s, rc;

	memset(&r, 0, sizeof(r));
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (hash == NULL)
		return sp_err_set(err, SP_ERR_NOTFOUND, "unknown %s", token_what(kind));
	if ((s = sq_prepare(db, "SELECT kind, email, ref, expires, used FROM tokens"
	    " WHERE hash = ?", &st, err)) != SP_OK)
		return s;
	sq_bind_hash(st, 1, hash);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		r.kind = sqlite3_column_int(st, 0);
		sq_col_text(st, 1, r.email, sizeof(r.email));
		r.ref = sqlite3_column_int64(st, 2);
		r.expires = sqlite3_column_int64(st, 3);
		r.used = sqlite3_column_int(st, 4);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sq_status(db, rc, "token", err);
	if (rc == SQLITE_DONE || r.kind != kind)
		return sp_err_set(err, SP_ERR_NOTFOUND, "unknown %s", token_what(kind));
	if (out != NULL)
		*out = r;
	if (r.used)
		return sp_err_set(err, SP_ERR_EXPIRED, "this %s was already used",
		    token_what(kind));
	if (r.expires <= now)
		return sp_err_set(err, SP_ERR_EXPIRED, "this %s has expired", token_what(kind));
	return SP_OK;
}

static int
sq_token_consume(sqlite3 *db, const unsigned char *hash, struct sp_err *err)
{
	sqlite3_stmt *st;
	int s;

	if ((s = sq_prepare(db, "UPDATE tokens SET used = 1 WHERE hash = ? AND used = 0",
	    &st, err)) != SP_OK)
		return s;
	sq_bind_hash(st, 1, hash);
	if ((s = sq_run(db, st, "use token", err)) == SP_OK && sqlite3_changes(db) == 0)
		s = sp_err_set(err, SP_ERR_EXPIRED, "this link was already used");
	return s;
}

static int
sq_token_insert(sqlite3 *db, int kind, const unsigned char *hash, const char *email,
    int64_t ref, int64_t expires, struct sp_err *err)
{
	sqlite3_stmt *st;
	int s;

	if ((s = sq_prepare(db, "INSERT INTO tokens(hash, kind, email, ref, expires, used)"
	    " VALUES (?,?,?,?,?,0)", &st, err)) != SP_OK)
		return s;
	sq_bind_hash(st, 1, hash);
	sqlite3_bind_int(st, 2, kind);
	sq_bind_text(st, 3, email);
	sqlite3_bind_int64(st, 4, ref);
	sqlite3_bind_int64(st, 5, expires);
	return sq_run(db, st, "add token", err);
}

int
sq_token_issue(void *impl, int kind, const char *email, const unsigned char *token_hash,
    int64_t now, int64_t expires, const char *rate_key,
    const struct sp_throttle_policy *rate, int *issued, const struct sp_audit *a,
    struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t ref = 0, lock = 0;
	int s, found = 0;

	if (issued != NULL)
		*issued = 0;
	if (kind < SP_TOKEN_ACTIVATE || kind > SP_TOKEN_CHALLENGE || token_hash == NULL ||
	    (rate_key != NULL && rate == NULL))
		return sp_err_set(err, SP_ERR_INVALID, "store: bad token request");
	if (email == NULL)
		email = "";
	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	s = sq_tokens_expire(db, now, err);
	if (s == SP_OK && rate_key != NULL)
		s = sq_throttle_count(db, rate_key, now, rate, &lock, err);
	if (s == SP_OK && lock == 0) {
		switch (kind) {
		case SP_TOKEN_ACTIVATE:
			if ((s = sq_prepare(db, "SELECT id FROM pending WHERE email = ?"
			    " ORDER BY id DESC LIMIT 1", &st, err)) == SP_OK) {
				sq_bind_text(st, 1, email);
				s = sq_one(db, st, &ref, &found, "pending registration", err);
			}
			break;
		case SP_TOKEN_CHALLENGE:
			found = 1;
			break;
		default:
			s = sq_account_exists(db, email, &found, err);
		}
	}
	if (s == SP_OK && found && lock == 0) {
		s = sq_token_insert(db, kind, token_hash, email, ref, expires, err);
		if (s == SP_OK)
			s = sq_audit_insert(db, a, err);
	}
	if ((s = sq_end(db, s, err)) == SP_OK && issued != NULL)
		*issued = found && lock == 0;
	return s;
}

int
sq_token_peek(void *impl, int kind, const unsigned char *token_hash, int64_t now,
    struct sp_token_rec *out, struct sp_err *err)
{
	sqlite3 *db;
	int s;

	if ((s = sq_db(impl, &db, err)) != SP_OK)
		return s;
	return sq_token_get(db, kind, token_hash, now, out, err);
}

int
sq_token_use(void *impl, int kind, const unsigned char *token_hash, int64_t now,
    struct sp_token_rec *out, const struct sp_audit *a, struct sp_err *err)
{
	sqlite3 *db;
	int s;

	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	if ((s = sq_token_get(db, kind, token_hash, now, out, err)) == SP_OK &&
	    (s = sq_token_consume(db, token_hash, err)) == SP_OK) {
		if (out != NULL)
			out->used = 1;
		s = sq_audit_insert(db, a, err);
	}
	return sq_end(db, s, err);
}

/* --- pending registrations ----------------------------------------------- */

int
sq_pending_add(void *impl, const struct sp_account *acc, const unsigned char *token_hash,
    int64_t token_expires, const struct sp_audit *a, struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t now = acc->created ? acc->created : (int64_t)time(NULL), id = 0;
	int s, found = 0;

	if (token_hash == NULL)
		return sp_err_set(err, SP_ERR_INVALID, "store: registration without a token");
	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	if ((s = sq_account_exists(db, acc->email, &found, err)) == SP_OK && found)
		s = sp_err_set(err, SP_ERR_EXISTS, "an account with this address exists");
	if (s == SP_OK)
		s = sq_tokens_expire(db, now, err);
	if (s == SP_OK && (s = sq_prepare(db, "INSERT INTO pending(" SQ_PROFILE_COLS
	    ", bind_hash, created, profile_todo)"
	    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?14,?15,?16)", &st, err)) == SP_OK) {
		profile_bind(st, acc);
		sq_bind_hash(st, 14, acc->bind_hash);
		sqlite3_bind_int64(st, 15, now);
		sqlite3_bind_int(st, 16, acc->profile_todo ? 1 : 0);
		if ((s = sq_run(db, st, "add registration", err)) == SP_OK)
			id = sqlite3_last_insert_rowid(db);
	}
	if (s == SP_OK)
		s = sq_pending_drop(db, acc->email, SP_STORE_PENDING_MAX, NULL, err);
	if (s == SP_OK)
		s = sq_token_insert(db, SP_TOKEN_ACTIVATE, token_hash, acc->email, id,
		    token_expires, err);
	if (s == SP_OK)
		s = sq_audit_insert(db, a, err);
	return sq_end(db, s, err);
}

/* The pending registration `id` into out (inside the caller's transaction). */
static int
sq_pending_get(sqlite3 *db, int64_t id, struct sp_account *out, struct sp_err *err)
{
	sqlite3_stmt *st;
	int s, rc;

	if ((s = sq_prepare(db, "SELECT " SQ_PROFILE_COLS ", id, bind_hash, created"
	    " FROM pending WHERE id = ?", &st, err)) != SP_OK)
		return s;
	sqlite3_bind_int64(st, 1, id);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		profile_from_row(st, out);
		out->activated = 0;
		out->pending_id = sqlite3_column_int64(st, 13);
		if (sq_col_blob(st, 14, out->bind_hash, sizeof(out->bind_hash)) < 0)
			rc = SQLITE_CORRUPT;
		out->created = sqlite3_column_int64(st, 15);
		out->pw_changed = out->created;
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE)
		return sp_err_set(err, SP_ERR_NOTFOUND, "unknown activation link");
	return rc == SQLITE_ROW ? SP_OK : sq_status(db, rc, "registration", err);
}

int
sq_pending_by_token(void *impl, const unsigned char *token_hash, int64_t now,
    struct sp_account *out, struct sp_err *err)
{
	struct sp_token_rec r;
	sqlite3 *db;
	int s;

	memset(out, 0, sizeof(*out));
	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_exec(db, "BEGIN", err)) != SP_OK)
		return s;
	if ((s = sq_token_get(db, SP_TOKEN_ACTIVATE, token_hash, now, &r, err)) == SP_OK)
		s = sq_pending_get(db, r.ref, out, err);
	if ((s = sq_end(db, s, err)) != SP_OK)
		sp_wipe(out, sizeof(*out));
	return s;
}

int
sq_pending_activate(void *impl, const unsigned char *token_hash, int64_t now,
    char *email, const struct sp_audit *a, struct sp_err *err)
{
	struct sp_token_rec r;
	struct sp_account p;
	struct sp_audit aa;
	sqlite3 *db;
	sqlite3_stmt *st;
	int s, found = 0;

	if (email != NULL)
		*email = '\0';
	memset(&p, 0, sizeof(p));
	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	if ((s = sq_token_get(db, SP_TOKEN_ACTIVATE, token_hash, now, &r, err)) == SP_OK)
		s = sq_pending_get(db, r.ref, &p, err);
	if (s == SP_OK && (s = sq_account_exists(db, p.email, &found, err)) == SP_OK && found)
		s = sp_err_set(err, SP_ERR_EXISTS, "an account with this address exists");
	if (s == SP_OK && (s = sq_prepare(db, "INSERT INTO accounts(" SQ_PROFILE_COLS
	    ", activated, failed_logins, created, pw_changed, profile_todo) SELECT "
	    SQ_PROFILE_COLS ", 1, 0, ?2, created, profile_todo FROM pending WHERE id = ?1",
	    &st, err)) == SP_OK) {
		sqlite3_bind_int64(st, 1, r.ref);
		sqlite3_bind_int64(st, 2, now);
		s = sq_run(db, st, "activate", err);
	}
	if (s == SP_OK)
		s = sq_token_consume(db, token_hash, err);
	/* Every registration of the address goes, with its tokens; the used
	 * token stays until it expires, so a second click says "used". */
	if (s == SP_OK)
		s = sq_pending_drop(db, p.email, 0, token_hash, err);
	if (s == SP_OK && a != NULL) {
		aa = *a;
		if (aa.actor == NULL)
			aa.actor = p.email;
		s = sq_audit_insert(db, &aa, err);
	}
	if ((s = sq_end(db, s, err)) == SP_OK && email != NULL)
		snprintf(email, SP_STORE_EMAIL_MAX + 1, "%s", p.email);
	sp_wipe(&p, sizeof(p));
	return s;
}

/* --- sessions ------------------------------------------------------------ */

int
sq_session_create(void *impl, const struct sp_session *ss, const struct sp_audit *a,
    struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s;

	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "INSERT INTO sessions(hash, email, csrf, created,"
	    " last_seen, expires, auth_time, via) VALUES (?,?,?,?,?,?,?,?)", &st, err)) == SP_OK) {
		sqlite3_bind_blob(st, 1, ss->hash, SP_SHA256_LEN, SQLITE_TRANSIENT);
		sq_bind_text(st, 2, ss->email);
		sq_bind_text(st, 3, ss->csrf);
		sqlite3_bind_int64(st, 4, ss->created);
		sqlite3_bind_int64(st, 5, ss->last_seen);
		sqlite3_bind_int64(st, 6, ss->expires);
		sqlite3_bind_int64(st, 7, ss->auth_time);
		sq_bind_text(st, 8, ss->via);
		s = sq_run(db, st, "add session", err);
	}
	if (s == SP_OK && (s = sq_prepare(db, "UPDATE accounts SET failed_logins = 0"
	    " WHERE email = ?", &st, err)) == SP_OK) {
		sq_bind_text(st, 1, ss->email);
		s = sq_run(db, st, "reset failures", err);
	}
	if (s == SP_OK && (s = sq_prepare(db, "DELETE FROM sessions WHERE expires <= ?",
	    &st, err)) == SP_OK) {
		sqlite3_bind_int64(st, 1, ss->created);
		s = sq_run(db, st, "expire sessions", err);
	}
	if (s == SP_OK)
		s = sq_audit_insert(db, a, err);
	return sq_end(db, s, err);
}

/* last_seen is written only when it is this many seconds old, so that a
 * busy session does not cost a write (and an fsync) per request. */
#define SQ_SESSION_TOUCH 30

int
sq_session_use(void *impl, const unsigned char *hash, int64_t now, int64_t idle,
    struct sp_session *out, struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s, rc;

	memset(out, 0, sizeof(*out));
	if ((s = sq_db(impl, &db, err)) != SP_OK)
		return s;
	if ((s = sq_kept(db, "SELECT email, csrf, created, last_seen, expires, auth_time, via"
	    " FROM sessions"
	    " WHERE hash = ?1 AND expires > ?2 AND last_seen + ?3 > ?2", &st, err)) != SP_OK)
		return s;
	sq_bind_blob_ref(st, 1, hash, SP_SHA256_LEN);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int64(st, 3, idle);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memcpy(out->hash, hash, SP_SHA256_LEN);
		sq_col_text(st, 0, out->email, sizeof(out->email));
		sq_col_text(st, 1, out->csrf, sizeof(out->csrf));
		out->created = sqlite3_column_int64(st, 2);
		out->last_seen = sqlite3_column_int64(st, 3);
		out->expires = sqlite3_column_int64(st, 4);
		out->auth_time = sqlite3_column_int64(st, 5);
		if (out->auth_time == 0)
			out->auth_time = out->created;
		sq_col_text(st, 6, out->via, sizeof(out->via));
	}
	sq_finish(st);
	if (rc == SQLITE_DONE)
		return sp_err_set(err, SP_ERR_NOTFOUND, "no such session");
	if (rc != SQLITE_ROW)
		return sq_status(db, rc, "session", err);
	if (now - out->last_seen < SQ_SESSION_TOUCH)
		return SP_OK;
	if ((s = sq_kept(db, "UPDATE sessions SET last_seen = ?2 WHERE hash = ?1"
	    " AND last_seen < ?2", &st, err)) != SP_OK)
		return s;
	sq_bind_blob_ref(st, 1, hash, SP_SHA256_LEN);
	sqlite3_bind_int64(st, 2, now);
	if ((s = sq_run(db, st, "session", err)) == SP_OK)
		out->last_seen = now;
	return s;
}

int
sq_session_delete(void *impl, const unsigned char *hash, const struct sp_audit *a,
    struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s;

	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "DELETE FROM sessions WHERE hash = ?", &st, err)) == SP_OK) {
		sqlite3_bind_blob(st, 1, hash, SP_SHA256_LEN, SQLITE_TRANSIENT);
		s = sq_run(db, st, "delete session", err);
	}
	if (s == SP_OK && sqlite3_changes(db) == 0)
		s = sp_err_set(err, SP_ERR_NOTFOUND, "no such session");
	if (s == SP_OK)
		s = sq_audit_insert(db, a, err);
	return sq_end(db, s, err);
}

int
sq_profile_set(void *impl, const struct sp_account *acc, const struct sp_audit *a,
    struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s;

	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	/* profile_bind's parameters; the password (5) is left as it is */
	if ((s = sq_prepare(db, "UPDATE accounts SET first_name = ?2, last_name = ?3,"
	    " language = ?4, phrase = ?6, phrase_enabled = ?7, q1 = ?8, q2 = ?9, q3 = ?10,"
	    " a1 = ?11, a2 = ?12, a3 = ?13, profile_todo = 0, bcc_default = ?14"
	    " WHERE email = ?1", &st, err)) == SP_OK) {
		profile_bind(st, acc);
		sqlite3_bind_int(st, 14, acc->bcc_default ? 1 : 0);
		if ((s = sq_run(db, st, "set profile", err)) == SP_OK && sqlite3_changes(db) == 0)
			s = sp_err_set(err, SP_ERR_NOTFOUND, "no such account");
	}
	if (s == SP_OK)
		s = sq_audit_insert(db, a, err);
	return sq_end(db, s, err);
}

int
sq_password_set(void *impl, const char *email, const char *pw_hash, int64_t now,
    const unsigned char *token_hash, const unsigned char *keep_session,
    const struct sp_audit *a, struct sp_err *err)
{
	struct sp_token_rec r;
	sqlite3 *db;
	sqlite3_stmt *st;
	int s;

	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	if (token_hash != NULL &&
	    (s = sq_token_get(db, SP_TOKEN_RESET, token_hash, now, &r, err)) == SP_OK) {
		if (strcmp(r.email, email) != 0)
			s = sp_err_set(err, SP_ERR_NOTFOUND, "unknown %s",
			    token_what(SP_TOKEN_RESET));
		else
			s = sq_token_consume(db, token_hash, err);
	}
	if (s == SP_OK && (s = sq_prepare(db, "UPDATE accounts SET pw_hash = ?2,"
	    " pw_changed = ?3, failed_logins = 0 WHERE email = ?1", &st, err)) == SP_OK) {
		sq_bind_text(st, 1, email);
		sq_bind_text(st, 2, pw_hash);
		sqlite3_bind_int64(st, 3, now);
		if ((s = sq_run(db, st, "set password", err)) == SP_OK && sqlite3_changes(db) == 0)
			s = sp_err_set(err, SP_ERR_NOTFOUND, "no such account");
	}
	if (s == SP_OK && (s = sq_prepare(db, "DELETE FROM sessions WHERE email = ?1"
	    " AND (?2 IS NULL OR hash != ?2)", &st, err)) == SP_OK) {
		sq_bind_text(st, 1, email);
		sq_bind_hash(st, 2, keep_session);
		s = sq_run(db, st, "end sessions", err);
	}
	if (s == SP_OK && (s = sq_prepare(db, "UPDATE tokens SET used = 1 WHERE email = ?1"
	    " AND kind IN (?2, ?3, ?4) AND used = 0", &st, err)) == SP_OK) {
		sq_bind_text(st, 1, email);
		sqlite3_bind_int(st, 2, SP_TOKEN_RESET);
		sqlite3_bind_int(st, 3, SP_TOKEN_SIGNIN);
		sqlite3_bind_int(st, 4, SP_TOKEN_MFA);
		s = sq_run(db, st, "use up mailed links", err);
	}
	if (s == SP_OK && (s = sq_prepare(db, "DELETE FROM devices WHERE email = ?",
	    &st, err)) == SP_OK) {
		sq_bind_text(st, 1, email);
		s = sq_run(db, st, "forget devices", err);
	}
	if (s == SP_OK)
		s = sq_audit_insert(db, a, err);
	return sq_end(db, s, err);
}

int
sq_sessions_end(void *impl, const char *email, int *n, const struct sp_audit *a,
    struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s, k = 0;

	if (n != NULL)
		*n = 0;
	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "DELETE FROM sessions WHERE email = ?", &st, err)) == SP_OK) {
		sq_bind_text(st, 1, email);
		if ((s = sq_run(db, st, "end sessions", err)) == SP_OK)
			k = sqlite3_changes(db);
	}
	if (s == SP_OK)
		s = sq_audit_insert(db, a, err);
	if ((s = sq_end(db, s, err)) == SP_OK && n != NULL)
		*n = k;
	return s;
}

int
sq_session_reauth(void *impl, const unsigned char *hash, int64_t now, struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s;

	if ((s = sq_db(impl, &db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "UPDATE sessions SET auth_time = ? WHERE hash = ?",
	    &st, err)) != SP_OK)
		return s;
	sqlite3_bind_int64(st, 1, now);
	sq_bind_hash(st, 2, hash);
	if ((s = sq_run(db, st, "session", err)) == SP_OK && sqlite3_changes(db) == 0)
		s = sp_err_set(err, SP_ERR_NOTFOUND, "no such session");
	return s;
}

/*
 * store_pgsql_auth.c - the PostgreSQL backend's remembered devices (with
 * the password changes and sign-outs that forget them), throttling of
 * failed attempts, housekeeping, and second factors (TOTP, recovery codes,
 * passkeys) (see store_pgsql_internal.h).
 * SECURITY: every statement passes its values as parameters (bytea in
 * binary); tokens arrive here only as SHA-256 hashes.
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store_pgsql_internal.h"

/* --- remembered devices -------------------------------------------------- */

/* Run sql (text $1 = email and, when it has one, bigint $2 = x) in cx;
 * *n (may be NULL) gets the rows changed. */
static int
pg_email_run(struct pg_cx *cx, const char *sql, const char *email, int64_t x, int *n,
    const char *what, struct sp_err *err)
{
	struct pgp p = {0};
	int st;

	pg_p_text(&p, email);
	if (strstr(sql, "$2") != NULL)
		pg_p_int(&p, x);
	if ((st = pg_exec(cx, sql, &p, NULL, what, err)) == SP_OK && n != NULL)
		*n = (int)cx->changes;
	return st;
}

int
pg_device_add(void *impl, const struct sp_device *d, const struct sp_audit *a,
    struct sp_err *err)
{
	struct pg_cx cx;
	int st, found = 0;

	if ((st = pg_tx(impl, &cx, err)) != SP_OK)
		return st;
	if ((st = pg_account_exists(&cx, d->email, &found, err)) == SP_OK && !found)
		st = sp_err_set(err, SP_ERR_NOTFOUND, "no such account");
	if (st == SP_OK) {
		struct pgp p = {0};

		pg_p_int(&p, d->created);
		st = pg_exec(&cx, "DELETE FROM devices WHERE expires <= $1", &p, NULL,
		    "expire devices", err);
	}
	if (st == SP_OK)
		st = pg_email_run(&cx, "DELETE FROM devices WHERE id IN (SELECT id FROM devices"
		    " WHERE email = $1 ORDER BY last_used DESC, id DESC OFFSET $2)", d->email,
		    SP_STORE_DEVICES_MAX - 1, NULL, "drop devices", err);
	if (st == SP_OK) {
		struct pgp p = {0};

		pg_p_hash(&p, d->hash);
		pg_p_text(&p, d->email);
		pg_p_text(&p, d->agent);
		pg_p_int(&p, d->created);
		pg_p_int(&p, d->last_used);
		pg_p_int(&p, d->expires);
		st = pg_exec(&cx, "INSERT INTO devices(hash, email, agent, created, last_used,"
		    " expires) VALUES ($1, $2, $3, $4, $5, $6)", &p, NULL, "add device", err);
	}
	if (st == SP_OK)
		st = pg_audit_insert(&cx, a, err);
	return pg_end(&cx, st, err);
}

#define PG_DEVICE_COLS "id, email, agent, created, last_used, expires"

static void
device_from_row(const PGresult *r, int i, struct sp_device *out)
{
	out->id = pg_r_int(r, i, 0);
	pg_r_text(r, i, 1, out->email, sizeof(out->email));
	pg_r_text(r, i, 2, out->agent, sizeof(out->agent));
	out->created = pg_r_int(r, i, 3);
	out->last_used = pg_r_int(r, i, 4);
	out->expires = pg_r_int(r, i, 5);
}

/* A device's last_used is written only when it is this many seconds old. */
#define PG_DEVICE_TOUCH 60

int
pg_device_use(void *impl, const unsigned char *hash, int64_t now, struct sp_device *out,
    struct sp_err *err)
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
	if ((st = pg_exec(&cx, "SELECT " PG_DEVICE_COLS " FROM devices WHERE hash = $1"
	    " AND expires > $2", &p, &r, "device", err)) != SP_OK)
		return st;
	if (PQntuples(r) == 0) {
		PQclear(r);
		return sp_err_set(err, SP_ERR_NOTFOUND, "no such device");
	}
	device_from_row(r, 0, out);
	memcpy(out->hash, hash, SP_SHA256_LEN);
	PQclear(r);
	if (now - out->last_used < PG_DEVICE_TOUCH)
		return SP_OK;
	if ((st = pg_exec(&cx, "UPDATE devices SET last_used = $2 WHERE hash = $1", &p, NULL,
	    "device", err)) == SP_OK)
		out->last_used = now;
	return st;
}

int
pg_device_each(void *impl, const char *email, int64_t now,
    int (*fn)(void *, const struct sp_device *), void *ctx, struct sp_err *err)
{
	struct sp_device d;
	struct pg_cx cx;
	struct pgp p = {0};
	PGresult *r;
	int st, i, n;

	if ((st = pg_get(impl, &cx, err)) != SP_OK)
		return st;
	pg_p_text(&p, email);
	pg_p_int(&p, now);
	if ((st = pg_exec(&cx, "SELECT " PG_DEVICE_COLS " FROM devices WHERE email = $1"
	    " AND expires > $2 ORDER BY last_used DESC, id DESC", &p, &r, "devices",
	    err)) != SP_OK)
		return st;
	n = PQntuples(r);
	for (i = 0; i < n; i++) {
		memset(&d, 0, sizeof(d));
		device_from_row(r, i, &d);
		if (fn(ctx, &d) != 0)
			break;
	}
	PQclear(r);
	return SP_OK;
}

int
pg_device_delete(void *impl, const char *email, int64_t id, const struct sp_audit *a,
    struct sp_err *err)
{
	struct pg_cx cx;
	int st, n = 0;

	if ((st = pg_tx(impl, &cx, err)) != SP_OK)
		return st;
	st = pg_email_run(&cx, "DELETE FROM devices WHERE email = $1 AND id = $2", email, id,
	    &n, "forget device", err);
	if (st == SP_OK && n == 0)
		st = sp_err_set(err, SP_ERR_NOTFOUND, "no such device");
	if (st == SP_OK)
		st = pg_audit_insert(&cx, a, err);
	return pg_end(&cx, st, err);
}

int
pg_signout_all(void *impl, const char *email, int *nsessions, int *ndevices,
    const struct sp_audit *a, struct sp_err *err)
{
	struct pg_cx cx;
	int st, ns = 0, nd = 0;

	if ((st = pg_tx(impl, &cx, err)) != SP_OK)
		return st;
	st = pg_email_run(&cx, "DELETE FROM sessions WHERE email = $1", email, 0, &ns,
	    "end sessions", err);
	if (st == SP_OK)
		st = pg_email_run(&cx, "DELETE FROM devices WHERE email = $1", email, 0, &nd,
		    "forget devices", err);
	if (st == SP_OK)
		st = pg_audit_insert(&cx, a, err);
	if ((st = pg_end(&cx, st, err)) == SP_OK) {
		if (nsessions != NULL)
			*nsessions = ns;
		if (ndevices != NULL)
			*ndevices = nd;
	}
	return st;
}

int
pg_password_set(void *impl, const char *email, const char *pw_hash, int64_t now,
    const unsigned char *token_hash, const unsigned char *keep_session,
    const struct sp_audit *a, struct sp_err *err)
{
	struct sp_token_rec t;
	struct pg_cx cx;
	int st;

	if ((st = pg_tx(impl, &cx, err)) != SP_OK)
		return st;
	if (token_hash != NULL &&
	    (st = pg_token_get(&cx, SP_TOKEN_RESET, token_hash, now, 1, &t, err)) == SP_OK) {
		if (strcmp(t.email, email) != 0)
			st = sp_err_set(err, SP_ERR_NOTFOUND, "unknown %s",
			    pg_token_what(SP_TOKEN_RESET));
		else
			st = pg_token_consume(&cx, token_hash, err);
	}
	if (st == SP_OK) {
		struct pgp p = {0};

		pg_p_text(&p, email);
		pg_p_text(&p, pw_hash);
		pg_p_int(&p, now);
		st = pg_exec(&cx, "UPDATE accounts SET pw_hash = $2, pw_changed = $3,"
		    " failed_logins = 0 WHERE email = $1", &p, NULL, "set password", err);
		if (st == SP_OK && cx.changes == 0)
			st = sp_err_set(err, SP_ERR_NOTFOUND, "no such account");
	}
	if (st == SP_OK) {
		struct pgp p = {0};

		pg_p_text(&p, email);
		pg_p_hash(&p, keep_session);
		st = pg_exec(&cx, "DELETE FROM sessions WHERE email = $1"
		    " AND ($2 IS NULL OR hash <> $2)", &p, NULL, "end sessions", err);
	}
	if (st == SP_OK) {
		struct pgp p = {0};

		pg_p_text(&p, email);
		pg_p_int(&p, SP_TOKEN_RESET);
		pg_p_int(&p, SP_TOKEN_SIGNIN);
		pg_p_int(&p, SP_TOKEN_MFA);
		st = pg_exec(&cx, "UPDATE tokens SET used = 1 WHERE email = $1"
		    " AND kind IN ($2, $3, $4) AND used = 0", &p, NULL, "use up mailed links", err);
	}
	if (st == SP_OK)
		st = pg_email_run(&cx, "DELETE FROM devices WHERE email = $1", email, 0, NULL,
		    "forget devices", err);
	if (st == SP_OK)
		st = pg_audit_insert(&cx, a, err);
	return pg_end(&cx, st, err);
}

int
pg_sessions_end(void *impl, const char *email, int *n, const struct sp_audit *a,
    struct sp_err *err)
{
	struct pg_cx cx;
	struct pgp p = {0};
	int64_t k = 0;
	int st;

	if (n != NULL)
		*n = 0;
	if ((st = pg_tx(impl, &cx, err)) != SP_OK)
		return st;
	pg_p_text(&p, email);
	if ((st = pg_exec(&cx, "DELETE FROM sessions WHERE email = $1", &p, NULL,
	    "end sessions", err)) == SP_OK)
		k = cx.changes;
	if (st == SP_OK)
		st = pg_audit_insert(&cx, a, err);
	if ((st = pg_end(&cx, st, err)) == SP_OK && n != NULL)
		*n = (int)k;
	return st;
}

int
pg_session_reauth(void *impl, const unsigned char *hash, int64_t now, struct sp_err *err)
{
	struct pg_cx cx;
	struct pgp p = {0};
	int st;

	if ((st = pg_get(impl, &cx, err)) != SP_OK)
		return st;
	pg_p_int(&p, now);
	pg_p_hash(&p, hash);
	if ((st = pg_exec(&cx, "UPDATE sessions SET auth_time = $1 WHERE hash = $2", &p, NULL,
	    "session", err)) == SP_OK && cx.changes == 0)
		st = sp_err_set(err, SP_ERR_NOTFOUND, "no such session");
	return st;
}

/* --- throttling ---------------------------------------------------------- */

/*
 * The key's row, locked until the caller's transaction ends: made with
 * zeros when missing (a row of zeros counts as no attempts), else updated
 * in place, which waits for any other transaction holding it.  Parallel
 * attempts on one key thus run one after the other, each seeing the count
 * the one before wrote.
 */
static int
pg_throttle_lock(struct pg_cx *cx, const char *key, int64_t *count, int64_t *last,
    int64_t *locked, struct sp_err *err)
{
	struct pgp p = {0};
	PGresult *r;
	int st;

	*count = *last = *locked = 0;
	pg_p_text(&p, key);
	if ((st = pg_exec(cx, "INSERT INTO throttle(key, failures, last_failed, locked_until)"
	    " VALUES ($1, 0, 0, 0) ON CONFLICT (key) DO UPDATE SET key = EXCLUDED.key"
	    " RETURNING failures, last_failed, locked_until", &p, &r, "throttle", err)) != SP_OK)
		return st;
	if (PQntuples(r) == 1) {
		*count = pg_r_int(r, 0, 0);
		*last = pg_r_int(r, 0, 1);
		*locked = pg_r_int(r, 0, 2);
	}
	PQclear(r);
	return SP_OK;
}

static int
pg_throttle_write(struct pg_cx *cx, const char *key, int64_t count, int64_t last,
    int64_t locked, struct sp_err *err)
{
	struct pgp p = {0};

	pg_p_text(&p, key);
	pg_p_int(&p, count);
	pg_p_int(&p, last);
	pg_p_int(&p, locked);
	return pg_exec(cx, "UPDATE throttle SET failures = $2, last_failed = $3,"
	    " locked_until = $4 WHERE key = $1", &p, NULL, "throttle", err);
}

int
pg_throttle_check(void *impl, const char *key, int64_t now, int64_t *locked_until,
    struct sp_err *err)
{
	struct pg_cx cx;
	struct pgp p = {0};
	int64_t v = 0;
	int st, found = 0;

	*locked_until = 0;
	if ((st = pg_get(impl, &cx, err)) != SP_OK)
		return st;
	pg_p_text(&p, key);
	pg_p_int(&p, now);
	if ((st = pg_one(&cx, "SELECT locked_until FROM throttle WHERE key = $1"
	    " AND locked_until > $2", &p, &v, &found, "throttle", err)) == SP_OK && found)
		*locked_until = v;
	return st;
}

int
pg_throttle_fail(void *impl, const char *key, int64_t now,
    const struct sp_throttle_policy *p, int64_t *locked_until, struct sp_err *err)
{
	struct pg_cx cx;
	struct sp_throttle_row row;
	int64_t lock = 0;
	int st;

	*locked_until = 0;
	if ((st = pg_tx(impl, &cx, err)) != SP_OK)
		return st;
	if ((st = pg_throttle_lock(&cx, key, &row.count, &row.last, &row.locked, err)) == SP_OK) {
		sp_throttle_step_fail(p, now, &row);
		lock = row.locked;
		st = pg_throttle_write(&cx, key, row.count, row.last, row.locked, err);
	}
	if ((st = pg_end(&cx, st, err)) == SP_OK)
		*locked_until = lock;
	return st;
}

/* throttle_begin's counting, inside the caller's transaction. */
int
pg_throttle_count(struct pg_cx *cx, const char *key, int64_t now,
    const struct sp_throttle_policy *p, int64_t *locked_until, struct sp_err *err)
{
	struct sp_throttle_row row;
	int st, refused;

	*locked_until = 0;
	if ((st = pg_throttle_lock(cx, key, &row.count, &row.last, &row.locked, err)) != SP_OK)
		return st;
	refused = sp_throttle_step_attempt(p, now, &row);
	if ((st = pg_throttle_write(cx, key, row.count, row.last, row.locked, err)) == SP_OK && refused)
		*locked_until = row.locked;
	return st;
}

int
pg_throttle_begin(void *impl, const char *key, int64_t now,
    const struct sp_throttle_policy *p, int64_t *locked_until, struct sp_err *err)
{
	struct pg_cx cx;
	int64_t lock = 0;
	int st;

	*locked_until = 0;
	if ((st = pg_tx(impl, &cx, err)) != SP_OK)
		return st;
	st = pg_throttle_count(&cx, key, now, p, &lock, err);
	if ((st = pg_end(&cx, st, err)) == SP_OK)
		*locked_until = lock;
	return st;
}

int
pg_throttle_undo(void *impl, const char *key, struct sp_err *err)
{
	struct pg_cx cx;
	struct pgp p = {0};
	int st;

	if ((st = pg_get(impl, &cx, err)) != SP_OK)
		return st;
	pg_p_text(&p, key);
	return pg_exec(&cx, "UPDATE throttle SET failures = failures - 1"
	    " WHERE key = $1 AND failures > 0", &p, NULL, "throttle", err);
}

int
pg_throttle_reset(void *impl, const char *key, struct sp_err *err)
{
	struct pg_cx cx;
	struct pgp p = {0};
	int st;

	if ((st = pg_get(impl, &cx, err)) != SP_OK)
		return st;
	pg_p_text(&p, key);
	return pg_exec(&cx, "DELETE FROM throttle WHERE key = $1", &p, NULL, "throttle", err);
}

/* A literal prefix match (starts_with, not LIKE, so '%' and '_' in
 * addresses are literal); the key column's "C" collation lets the range
 * use the primary key index. */
int
pg_throttle_clear(void *impl, const char *prefix, int *n, struct sp_err *err)
{
	struct pg_cx cx;
	struct pgp p = {0};
	int st;

	if (n != NULL)
		*n = 0;
	if (prefix == NULL)
		return sp_err_set(err, SP_ERR_INVALID, "store: no throttle prefix");
	if ((st = pg_get(impl, &cx, err)) != SP_OK)
		return st;
	pg_p_text(&p, prefix);
	if ((st = pg_exec(&cx, "DELETE FROM throttle WHERE key >= $1 AND starts_with(key, $1)",
	    &p, NULL, "throttle", err)) == SP_OK && n != NULL)
		*n = (int)cx.changes;
	return st;
}

/* --- housekeeping -------------------------------------------------------- */

/* sp_store_housekeep's statements: $1 the stale time, $2 now (the first
 * and third); a question's counter names its envelope ("verify:" and the
 * 22-character id; compared in the id's own collation, not the key's). */
int
pg_housekeep(void *impl, int64_t now, struct sp_housekeep_counts *out, struct sp_err *err)
{
	struct pg_cx cx;
	struct pgp p = {0};
	int st;

	if ((st = pg_get(impl, &cx, err)) != SP_OK)
		return st;
	pg_p_int(&p, now - SP_STORE_STALE_AGE);
	pg_p_int(&p, now);
	if ((st = pg_exec(&cx, "DELETE FROM throttle WHERE NOT starts_with(key, 'verify:')"
	    " AND last_failed < $1 AND locked_until <= $2", &p, NULL, "housekeeping", err)) != SP_OK)
		return st;
	out->throttle += (int)cx.changes;
	if ((st = pg_exec(&cx, "DELETE FROM throttle WHERE starts_with(key, 'verify:') AND NOT EXISTS"
	    " (SELECT 1 FROM envelopes e WHERE e.id = substr(throttle.key, 8, 22) COLLATE \"default\""
	    " AND e.shredded = 0)", NULL, NULL, "housekeeping", err)) != SP_OK)
		return st;
	out->throttle += (int)cx.changes;
	if ((st = pg_exec(&cx, "DELETE FROM pending WHERE created < $1"
	    " AND id NOT IN (SELECT ref FROM tokens WHERE kind = 1 AND expires > $2)",
	    &p, NULL, "housekeeping", err)) != SP_OK)
		return st;
	out->pending = (int)cx.changes;
	return pg_exec(&cx, "DELETE FROM tokens WHERE kind = 1 AND ref NOT IN (SELECT id FROM pending)",
	    NULL, NULL, "housekeeping", err);
}

/* --- second factors ------------------------------------------------------ */

int
pg_totp_set(void *impl, const char *email, const unsigned char *wrapped,
    size_t wrapped_len, uint32_t key_id, const struct sp_audit *a, struct sp_err *err)
{
	struct pg_cx cx;
	int st;

	if (wrapped != NULL && (wrapped_len == 0 || wrapped_len > SP_STORE_WRAPPED_MAX))
		return sp_err_set(err, SP_ERR_INVALID, "store: bad TOTP secret length");
	if ((st = pg_tx(impl, &cx, err)) != SP_OK)
		return st;
	{
		struct pgp p = {0};

		pg_p_text(&p, email);
		pg_p_bin(&p, wrapped, wrapped ? wrapped_len : 0);
		pg_p_int(&p, wrapped != NULL ? key_id : 0);
		st = pg_exec(&cx, "UPDATE accounts SET totp_wrapped = $2, totp_key_id = $3,"
		    " totp_last_step = 0 WHERE email = $1", &p, NULL, "set TOTP", err);
		if (st == SP_OK && cx.changes == 0)
			st = sp_err_set(err, SP_ERR_NOTFOUND, "no such account");
	}
	if (st == SP_OK && wrapped == NULL) {
		struct pgp p = {0};

		pg_p_text(&p, email);
		st = pg_exec(&cx, "DELETE FROM recovery_codes WHERE email = $1 AND NOT EXISTS"
		    " (SELECT 1 FROM passkeys WHERE email = $1)", &p, NULL,
		    "delete recovery codes", err);
	}
	if (st == SP_OK)
		st = pg_audit_insert(&cx, a, err);
	return pg_end(&cx, st, err);
}

int
pg_totp_step(void *impl, const char *email, int64_t step, struct sp_err *err)
{
	struct pg_cx cx;
	struct pgp p = {0};
	int st, found = 0;

	if ((st = pg_get(impl, &cx, err)) != SP_OK)
		return st;
	pg_p_text(&p, email);
	pg_p_int(&p, step);
	if ((st = pg_exec(&cx, "UPDATE accounts SET totp_last_step = $2 WHERE email = $1"
	    " AND totp_wrapped IS NOT NULL AND totp_last_step < $2", &p, NULL, "TOTP step",
	    err)) != SP_OK || cx.changes > 0)
		return st;
	p.n = 1;
	if ((st = pg_one(&cx, "SELECT 1 FROM accounts WHERE email = $1"
	    " AND totp_wrapped IS NOT NULL", &p, NULL, &found, "TOTP step", err)) != SP_OK)
		return st;
	if (!found)
		return sp_err_set(err, SP_ERR_NOTFOUND, "no TOTP for this account");
	return sp_err_set(err, SP_ERR_EXPIRED, "this code was already used");
}

int
pg_recovery_set(void *impl, const char *email, const unsigned char (*hashes)[SP_SHA256_LEN],
    size_t n, const struct sp_audit *a, struct sp_err *err)
{
	struct pg_cx cx;
	size_t i;
	int st, found = 0;

	if (n > 0 && hashes == NULL)
		return sp_err_set(err, SP_ERR_INVALID, "store: no recovery codes");
	if ((st = pg_tx(impl, &cx, err)) != SP_OK)
		return st;
	if ((st = pg_account_exists(&cx, email, &found, err)) == SP_OK && !found)
		st = sp_err_set(err, SP_ERR_NOTFOUND, "no such account");
	if (st == SP_OK) {
		struct pgp p = {0};

		pg_p_text(&p, email);
		st = pg_exec(&cx, "DELETE FROM recovery_codes WHERE email = $1", &p, NULL,
		    "delete recovery codes", err);
	}
	for (i = 0; st == SP_OK && i < n; i++) {
		struct pgp p = {0};

		pg_p_text(&p, email);
		pg_p_hash(&p, hashes[i]);
		st = pg_exec(&cx, "INSERT INTO recovery_codes(email, hash, used)"
		    " VALUES ($1, $2, 0)", &p, NULL, "add recovery code", err);
	}
	if (st == SP_OK)
		st = pg_audit_insert(&cx, a, err);
	return pg_end(&cx, st, err);
}

int
pg_recovery_use(void *impl, const char *email, const unsigned char *hash,
    const struct sp_audit *a, struct sp_err *err)
{
	struct pg_cx cx;
	struct pgp p = {0};
	int st;

	if ((st = pg_tx(impl, &cx, err)) != SP_OK)
		return st;
	pg_p_text(&p, email);
	pg_p_hash(&p, hash);
	st = pg_exec(&cx, "UPDATE recovery_codes SET used = 1 WHERE email = $1"
	    " AND hash = $2 AND used = 0", &p, NULL, "use recovery code", err);
	if (st == SP_OK && cx.changes == 0)
		st = sp_err_set(err, SP_ERR_NOTFOUND, "unknown or used recovery code");
	if (st == SP_OK)
		st = pg_audit_insert(&cx, a, err);
	return pg_end(&cx, st, err);
}

static int
passkey_id_ok(const unsigned char *cred_id, size_t len, struct sp_err *err)
{
	if (cred_id == NULL || len == 0 || len > SP_STORE_CRED_ID_MAX)
		return sp_err_set(err, SP_ERR_INVALID, "store: bad credential id");
	return SP_OK;
}

int
pg_passkey_add(void *impl, const struct sp_passkey *pk, const struct sp_audit *a,
    struct sp_err *err)
{
	struct pg_cx cx;
	int st, found = 0;

	if ((st = passkey_id_ok(pk->cred_id, pk->cred_id_len, err)) != SP_OK)
		return st;
	if (pk->pubkey_len == 0 || pk->pubkey_len > SP_STORE_PUBKEY_MAX)
		return sp_err_set(err, SP_ERR_INVALID, "store: bad passkey public key");
	if ((st = pg_tx(impl, &cx, err)) != SP_OK)
		return st;
	if ((st = pg_account_exists(&cx, pk->email, &found, err)) == SP_OK && !found)
		st = sp_err_set(err, SP_ERR_NOTFOUND, "no such account");
	if (st == SP_OK) {
		struct pgp p = {0};

		pg_p_bin(&p, pk->cred_id, pk->cred_id_len);
		pg_p_text(&p, pk->email);
		pg_p_bin(&p, pk->pubkey, pk->pubkey_len);
		pg_p_int(&p, pk->alg);
		pg_p_int(&p, pk->sign_count);
		pg_p_text(&p, pk->name);
		pg_p_int(&p, pk->created ? pk->created : (int64_t)time(NULL));
		pg_p_int(&p, pk->last_used);
		st = pg_exec(&cx, "INSERT INTO passkeys(cred_id, email, pubkey, alg, sign_count,"
		    " name, created, last_used) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)", &p,
		    NULL, "add passkey", err);
		if (st == SP_ERR_EXISTS)
			sp_err_set(err, st, "this passkey is registered already");
	}
	if (st == SP_OK)
		st = pg_audit_insert(&cx, a, err);
	return pg_end(&cx, st, err);
}

#define PG_PASSKEY_COLS "cred_id, email, pubkey, alg, sign_count, name, created, last_used"

static int
passkey_from_row(const PGresult *r, int i, struct sp_passkey *out, struct sp_err *err)
{
	int n, m;

	memset(out, 0, sizeof(*out));
	n = pg_r_blob(r, i, 0, out->cred_id, sizeof(out->cred_id));
	pg_r_text(r, i, 1, out->email, sizeof(out->email));
	m = pg_r_blob(r, i, 2, out->pubkey, sizeof(out->pubkey));
	if (n < 0 || m < 0)
		return pg_blob_err(n < 0 ? n : m, "passkey", err);
	out->cred_id_len = (size_t)n;
	out->pubkey_len = (size_t)m;
	out->alg = (int)pg_r_int(r, i, 3);
	out->sign_count = (uint32_t)pg_r_int(r, i, 4);
	pg_r_text(r, i, 5, out->name, sizeof(out->name));
	out->created = pg_r_int(r, i, 6);
	out->last_used = pg_r_int(r, i, 7);
	return SP_OK;
}

int
pg_passkey_get(void *impl, const unsigned char *cred_id, size_t cred_id_len,
    struct sp_passkey *out, struct sp_err *err)
{
	struct pg_cx cx;
	struct pgp p = {0};
	PGresult *r;
	int st;

	memset(out, 0, sizeof(*out));
	if ((st = passkey_id_ok(cred_id, cred_id_len, err)) != SP_OK)
		return sp_err_set(err, SP_ERR_NOTFOUND, "unknown passkey");
	if ((st = pg_get(impl, &cx, err)) != SP_OK)
		return st;
	pg_p_bin(&p, cred_id, cred_id_len);
	if ((st = pg_exec(&cx, "SELECT " PG_PASSKEY_COLS " FROM passkeys WHERE cred_id = $1",
	    &p, &r, "passkey", err)) != SP_OK)
		return st;
	if (PQntuples(r) == 0)
		st = sp_err_set(err, SP_ERR_NOTFOUND, "unknown passkey");
	else
		st = passkey_from_row(r, 0, out, err);
	PQclear(r);
	return st;
}

/* All of an account's passkeys in one result (a handful), no transaction
 * open while fn runs. */
int
pg_passkey_each(void *impl, const char *email, int (*fn)(void *, const struct sp_passkey *),
    void *ctx, struct sp_err *err)
{
	struct sp_passkey *pk;
	struct pg_cx cx;
	struct pgp p = {0};
	PGresult *r;
	int st, i, n;

	if ((st = pg_get(impl, &cx, err)) != SP_OK)
		return st;
	pg_p_text(&p, email);
	if ((st = pg_exec(&cx, "SELECT " PG_PASSKEY_COLS " FROM passkeys WHERE email = $1"
	    " ORDER BY created, cred_id", &p, &r, "passkeys", err)) != SP_OK)
		return st;
	if ((pk = malloc(sizeof(*pk))) == NULL) {
		PQclear(r);
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	}
	n = PQntuples(r);
	for (i = 0; i < n; i++) {
		if ((st = passkey_from_row(r, i, pk, err)) != SP_OK || fn(ctx, pk) != 0)
			break;
	}
	PQclear(r);
	free(pk);
	return st;
}

int
pg_passkey_used(void *impl, const unsigned char *cred_id, size_t cred_id_len,
    uint32_t sign_count, int64_t now, struct sp_err *err)
{
	struct pg_cx cx;
	struct pgp p = {0};
	int st;

	if (passkey_id_ok(cred_id, cred_id_len, err) != SP_OK)
		return sp_err_set(err, SP_ERR_NOTFOUND, "unknown passkey");
	if ((st = pg_get(impl, &cx, err)) != SP_OK)
		return st;
	pg_p_int(&p, sign_count);
	pg_p_int(&p, now);
	pg_p_bin(&p, cred_id, cred_id_len);
	if ((st = pg_exec(&cx, "UPDATE passkeys SET sign_count = $1, last_used = $2"
	    " WHERE cred_id = $3", &p, NULL, "passkey", err)) == SP_OK && cx.changes == 0)
		st = sp_err_set(err, SP_ERR_NOTFOUND, "unknown passkey");
	return st;
}

int
pg_passkey_delete(void *impl, const char *email, const unsigned char *cred_id,
    size_t cred_id_len, const struct sp_audit *a, struct sp_err *err)
{
	struct pg_cx cx;
	struct pgp p = {0};
	int st;

	if (passkey_id_ok(cred_id, cred_id_len, err) != SP_OK)
		return sp_err_set(err, SP_ERR_NOTFOUND, "unknown passkey");
	if ((st = pg_tx(impl, &cx, err)) != SP_OK)
		return st;
	pg_p_bin(&p, cred_id, cred_id_len);
	pg_p_text(&p, email);
	st = pg_exec(&cx, "DELETE FROM passkeys WHERE cred_id = $1 AND email = $2", &p, NULL,
	    "delete passkey", err);
	if (st == SP_OK && cx.changes == 0)
		st = sp_err_set(err, SP_ERR_NOTFOUND, "unknown passkey");
	/* the last second factor gone: its recovery codes go with it */
	if (st == SP_OK)
		st = pg_email_run(&cx, "DELETE FROM recovery_codes WHERE email = $1"
		    " AND NOT EXISTS (SELECT 1 FROM passkeys WHERE email = $1)"
		    " AND NOT EXISTS (SELECT 1 FROM accounts WHERE email = $1 AND totp_wrapped IS NOT NULL)",
		    email, 0, NULL, "delete recovery codes", err);
	if (st == SP_OK)
		st = pg_audit_insert(&cx, a, err);
	return pg_end(&cx, st, err);
}

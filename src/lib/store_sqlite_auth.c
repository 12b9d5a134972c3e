/*
 * store_sqlite_auth.c - the SQLite backend's remembered devices,
 * throttling counters, housekeeping of stale rows, and second factors
 * (TOTP, recovery codes, passkeys) (see store_sqlite_internal.h).
 * SECURITY: every statement binds its parameters; tokens arrive here only as
 * SHA-256 hashes; the caller wraps key parts before they reach this file.
 */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store_sqlite_internal.h"

/* --- remembered devices -------------------------------------------------- */

/* Run sql (one text parameter ?1 = email, one integer ?2) in the caller's
 * transaction; *n (may be NULL) gets the rows changed. */
static int
sq_run_email(sqlite3 *db, const char *sql, const char *email, int64_t x, int *n,
    const char *what, struct sp_err *err)
{
	sqlite3_stmt *st;
	int s;

	if ((s = sq_prepare(db, sql, &st, err)) != SP_OK)
		return s;
	sq_bind_text(st, 1, email);
	if (sqlite3_bind_parameter_count(st) >= 2)
		sqlite3_bind_int64(st, 2, x);
	if ((s = sq_run(db, st, what, err)) == SP_OK && n != NULL)
		*n = sqlite3_changes(db);
	return s;
}

int
sq_device_add(void *impl, const struct sp_device *d, const struct sp_audit *a,
    struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s, found = 0;

	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	if ((s = sq_account_exists(db, d->email, &found, err)) == SP_OK && !found)
		s = sp_err_set(err, SP_ERR_NOTFOUND, "no such account");
	if (s == SP_OK && (s = sq_prepare(db, "DELETE FROM devices WHERE expires <= ?",
	    &st, err)) == SP_OK) {
		sqlite3_bind_int64(st, 1, d->created);
		s = sq_run(db, st, "expire devices", err);
	}
	if (s == SP_OK)
		s = sq_run_email(db, "DELETE FROM devices WHERE id IN (SELECT id FROM devices"
		    " WHERE email = ?1 ORDER BY last_used DESC, id DESC LIMIT -1 OFFSET ?2)",
		    d->email, SP_STORE_DEVICES_MAX - 1, NULL, "drop devices", err);
	if (s == SP_OK && (s = sq_prepare(db, "INSERT INTO devices(hash, email, agent, created,"
	    " last_used, expires) VALUES (?,?,?,?,?,?)", &st, err)) == SP_OK) {
		sq_bind_hash(st, 1, d->hash);
		sq_bind_text(st, 2, d->email);
		sq_bind_text(st, 3, d->agent);
		sqlite3_bind_int64(st, 4, d->created);
		sqlite3_bind_int64(st, 5, d->last_used);
		sqlite3_bind_int64(st, 6, d->expires);
		s = sq_run(db, st, "add device", err);
	}
	if (s == SP_OK)
		s = sq_audit_insert(db, a, err);
	return sq_end(db, s, err);
}

/* A device's last_used is written only when it is this many seconds old. */
#define SQ_DEVICE_TOUCH 60

static void
device_row(sqlite3_stmt *st, struct sp_device *out)
{
	out->id = sqlite3_column_int64(st, 0);
	sq_col_text(st, 1, out->email, sizeof(out->email));
	sq_col_text(st, 2, out->agent, sizeof(out->agent));
	out->created = sqlite3_column_int64(st, 3);
	out->last_used = sqlite3_column_int64(st, 4);
	out->expires = sqlite3_column_int64(st, 5);
}

int
sq_device_use(void *impl, const unsigned char *hash, int64_t now, struct sp_device *out,
    struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s, rc;

	memset(out, 0, sizeof(*out));
	if ((s = sq_db(impl, &db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "SELECT id, email, agent, created, last_used, expires"
	    " FROM devices WHERE hash = ?1 AND expires > ?2", &st, err)) != SP_OK)
		return s;
	sq_bind_hash(st, 1, hash);
	sqlite3_bind_int64(st, 2, now);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		device_row(st, out);
		memcpy(out->hash, hash, SP_SHA256_LEN);
	}
	sq_finish(st);
	if (rc == SQLITE_DONE)
		return sp_err_set(err, SP_ERR_NOTFOUND, "no such device");
	if (rc != SQLITE_ROW)
		return sq_status(db, rc, "device", err);
	if (now - out->last_used < SQ_DEVICE_TOUCH)
		return SP_OK;
	if ((s = sq_prepare(db, "UPDATE devices SET last_used = ?2 WHERE id = ?1", &st,
	    err)) != SP_OK)
		return s;
	sqlite3_bind_int64(st, 1, out->id);
	sqlite3_bind_int64(st, 2, now);
	if ((s = sq_run(db, st, "device", err)) == SP_OK)
		out->last_used = now;
	return s;
}

int
sq_device_each(void *impl, const char *email, int64_t now,
    int (*fn)(void *, const struct sp_device *), void *ctx, struct sp_err *err)
{
	struct sp_device d;
	sqlite3 *db;
	sqlite3_stmt *st;
	int s, rc;

	if ((s = sq_db(impl, &db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "SELECT id, email, agent, created, last_used, expires"
	    " FROM devices WHERE email = ?1 AND expires > ?2 ORDER BY last_used DESC, id DESC",
	    &st, err)) != SP_OK)
		return s;
	sq_bind_text(st, 1, email);
	sqlite3_bind_int64(st, 2, now);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&d, 0, sizeof(d));
		device_row(st, &d);
		if (fn(ctx, &d) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	s = rc == SQLITE_DONE ? SP_OK : sq_status(db, rc, "devices", err);
	sq_finish(st);
	return s;
}

int
sq_device_delete(void *impl, const char *email, int64_t id, const struct sp_audit *a,
    struct sp_err *err)
{
	sqlite3 *db;
	int s, n = 0;

	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	s = sq_run_email(db, "DELETE FROM devices WHERE email = ?1 AND id = ?2", email, id,
	    &n, "forget device", err);
	if (s == SP_OK && n == 0)
		s = sp_err_set(err, SP_ERR_NOTFOUND, "no such device");
	if (s == SP_OK)
		s = sq_audit_insert(db, a, err);
	return sq_end(db, s, err);
}

int
sq_signout_all(void *impl, const char *email, int *nsessions, int *ndevices,
    const struct sp_audit *a, struct sp_err *err)
{
	sqlite3 *db;
	int s, ns = 0, nd = 0;

	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	s = sq_run_email(db, "DELETE FROM sessions WHERE email = ?1", email, 0, &ns,
	    "end sessions", err);
	if (s == SP_OK)
		s = sq_run_email(db, "DELETE FROM devices WHERE email = ?1", email, 0, &nd,
		    "forget devices", err);
	if (s == SP_OK)
		s = sq_audit_insert(db, a, err);
	if ((s = sq_end(db, s, err)) == SP_OK) {
		if (nsessions != NULL)
			*nsessions = ns;
		if (ndevices != NULL)
			*ndevices = nd;
	}
	return s;
}

/* --- throttling ---------------------------------------------------------- */

/* The key's row inside the caller's transaction (zeros when missing). */
static int
sq_throttle_read(sqlite3 *db, const char *key, int64_t *count, int64_t *last,
    int64_t *locked, struct sp_err *err)
{
	sqlite3_stmt *st;
	int s, rc;

	*count = *last = *locked = 0;
	if ((s = sq_prepare(db, "SELECT failures, last_failed, locked_until FROM throttle"
	    " WHERE key = ?", &st, err)) != SP_OK)
		return s;
	sq_bind_text(st, 1, key);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		*count = sqlite3_column_int64(st, 0);
		*last = sqlite3_column_int64(st, 1);
		*locked = sqlite3_column_int64(st, 2);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? SP_OK : sq_status(db, rc, "throttle", err);
}

static int
sq_throttle_write(sqlite3 *db, const char *key, int64_t count, int64_t last,
    int64_t locked, struct sp_err *err)
{
	sqlite3_stmt *st;
	int s;

	if ((s = sq_prepare(db, "INSERT INTO throttle(key, failures, last_failed, locked_until)"
	    " VALUES (?1, ?2, ?3, ?4) ON CONFLICT(key) DO UPDATE SET failures = ?2,"
	    " last_failed = ?3, locked_until = ?4", &st, err)) != SP_OK)
		return s;
	sq_bind_text(st, 1, key);
	sqlite3_bind_int64(st, 2, count);
	sqlite3_bind_int64(st, 3, last);
	sqlite3_bind_int64(st, 4, locked);
	return sq_run(db, st, "throttle", err);
}

int
sq_throttle_check(void *impl, const char *key, int64_t now, int64_t *locked_until,
    struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s, rc;

	*locked_until = 0;
	if ((s = sq_db(impl, &db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "SELECT locked_until FROM throttle WHERE key = ?"
	    " AND locked_until > ?", &st, err)) != SP_OK)
		return s;
	sq_bind_text(st, 1, key);
	sqlite3_bind_int64(st, 2, now);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		*locked_until = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? SP_OK : sq_status(db, rc, "throttle", err);
}

int
sq_throttle_fail(void *impl, const char *key, int64_t now,
    const struct sp_throttle_policy *p, int64_t *locked_until, struct sp_err *err)
{
	sqlite3 *db;
	struct sp_throttle_row row;
	int64_t lock = 0;
	int s;

	*locked_until = 0;
	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	if ((s = sq_throttle_read(db, key, &row.count, &row.last, &row.locked, err)) == SP_OK) {
		sp_throttle_step_fail(p, now, &row);
		lock = row.locked;
		s = sq_throttle_write(db, key, row.count, row.last, row.locked, err);
	}
	if ((s = sq_end(db, s, err)) == SP_OK)
		*locked_until = lock;
	return s;
}

/* throttle_begin's counting, inside the caller's transaction. */
int
sq_throttle_count(sqlite3 *db, const char *key, int64_t now,
    const struct sp_throttle_policy *p, int64_t *locked_until, struct sp_err *err)
{
	struct sp_throttle_row row;
	int s, refused;

	*locked_until = 0;
	if ((s = sq_throttle_read(db, key, &row.count, &row.last, &row.locked, err)) != SP_OK)
		return s;
	refused = sp_throttle_step_attempt(p, now, &row);
	if ((s = sq_throttle_write(db, key, row.count, row.last, row.locked, err)) == SP_OK && refused)
		*locked_until = row.locked;
	return s;
}

int
sq_throttle_begin(void *impl, const char *key, int64_t now,
    const struct sp_throttle_policy *p, int64_t *locked_until, struct sp_err *err)
{
	sqlite3 *db;
	int64_t lock = 0;
	int s;

	*locked_until = 0;
	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	s = sq_throttle_count(db, key, now, p, &lock, err);
	if ((s = sq_end(db, s, err)) == SP_OK)
		*locked_until = lock;
	return s;
}

int
sq_throttle_undo(void *impl, const char *key, struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s;

	if ((s = sq_db(impl, &db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "UPDATE throttle SET failures = failures - 1"
	    " WHERE key = ? AND failures > 0", &st, err)) != SP_OK)
		return s;
	sq_bind_text(st, 1, key);
	return sq_run(db, st, "throttle", err);
}

int
sq_throttle_reset(void *impl, const char *key, struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s;

	if ((s = sq_db(impl, &db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "DELETE FROM throttle WHERE key = ?", &st, err)) != SP_OK)
		return s;
	sq_bind_text(st, 1, key);
	return sq_run(db, st, "throttle", err);
}

/* A prefix match without LIKE, so that '%' and '_' in addresses are
 * literal: the range lets the primary key index narrow it down. */
int
sq_throttle_clear(void *impl, const char *prefix, int *n, struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s;

	if (n != NULL)
		*n = 0;
	if (prefix == NULL)
		return sp_err_set(err, SP_ERR_INVALID, "store: no throttle prefix");
	if ((s = sq_db(impl, &db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "DELETE FROM throttle WHERE key >= ?1"
	    " AND substr(key, 1, length(?1)) = ?1", &st, err)) != SP_OK)
		return s;
	sq_bind_text(st, 1, prefix);
	if ((s = sq_run(db, st, "throttle", err)) == SP_OK && n != NULL)
		*n = sqlite3_changes(db);
	return s;
}

/* --- housekeeping -------------------------------------------------------- */

/* One statement of sp_store_housekeep (?1 the stale time and ?2 now,
 * where it names them), adding the rows it removed to *n (may be NULL). */
static int
sq_housekeep_one(sqlite3 *db, const char *sql, int64_t now, int *n, struct sp_err *err)
{
	sqlite3_stmt *st;
	int s;

	if ((s = sq_prepare(db, sql, &st, err)) != SP_OK)
		return s;
	if (sqlite3_bind_parameter_count(st) == 2) {
		sqlite3_bind_int64(st, 1, now - SP_STORE_STALE_AGE);
		sqlite3_bind_int64(st, 2, now);
	}
	if ((s = sq_run(db, st, "housekeeping", err)) == SP_OK && n != NULL)
		*n += sqlite3_changes(db);
	return s;
}

/* A question's counter names its envelope: "verify:" and the 22-character
 * id. */
int
sq_housekeep(void *impl, int64_t now, struct sp_housekeep_counts *out, struct sp_err *err)
{
	sqlite3 *db;
	int s;

	if ((s = sq_db(impl, &db, err)) != SP_OK ||
	    (s = sq_housekeep_one(db, "DELETE FROM throttle WHERE substr(key, 1, 7) <> 'verify:'"
	    " AND last_failed < ?1 AND locked_until <= ?2", now, &out->throttle, err)) != SP_OK ||
	    (s = sq_housekeep_one(db, "DELETE FROM throttle WHERE substr(key, 1, 7) = 'verify:'"
	    " AND NOT EXISTS (SELECT 1 FROM envelopes e WHERE e.id = substr(throttle.key, 8, 22)"
	    " AND e.shredded = 0)", now, &out->throttle, err)) != SP_OK ||
	    (s = sq_housekeep_one(db, "DELETE FROM pending WHERE created < ?1"
	    " AND id NOT IN (SELECT ref FROM tokens WHERE kind = 1 AND expires > ?2)", now,
	    &out->pending, err)) != SP_OK)
		return s;
	/* the links of the registrations that went */
	return sq_housekeep_one(db, "DELETE FROM tokens WHERE kind = 1"
	    " AND ref NOT IN (SELECT id FROM pending)", now, NULL, err);
}

/* --- second factors ------------------------------------------------------ */

int
sq_totp_set(void *impl, const char *email, const unsigned char *wrapped,
    size_t wrapped_len, uint32_t key_id, const struct sp_audit *a, struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s;

	if (wrapped != NULL && (wrapped_len == 0 || wrapped_len > SP_STORE_WRAPPED_MAX))
		return sp_err_set(err, SP_ERR_INVALID, "store: bad TOTP secret length");
	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "UPDATE accounts SET totp_wrapped = ?2, totp_key_id = ?3,"
	    " totp_last_step = 0 WHERE email = ?1", &st, err)) == SP_OK) {
		sq_bind_text(st, 1, email);
		if (wrapped != NULL)
			sqlite3_bind_blob(st, 2, wrapped, (int)wrapped_len, SQLITE_TRANSIENT);
		else
			sqlite3_bind_null(st, 2);
		sqlite3_bind_int64(st, 3, wrapped != NULL ? key_id : 0);
		if ((s = sq_run(db, st, "set TOTP", err)) == SP_OK && sqlite3_changes(db) == 0)
			s = sp_err_set(err, SP_ERR_NOTFOUND, "no such account");
	}
	if (s == SP_OK && wrapped == NULL && (s = sq_prepare(db, "DELETE FROM recovery_codes"
	    " WHERE email = ?1 AND NOT EXISTS (SELECT 1 FROM passkeys WHERE email = ?1)",
	    &st, err)) == SP_OK) {
		sq_bind_text(st, 1, email);
		s = sq_run(db, st, "delete recovery codes", err);
	}
	if (s == SP_OK)
		s = sq_audit_insert(db, a, err);
	return sq_end(db, s, err);
}

int
sq_totp_step(void *impl, const char *email, int64_t step, struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s, found = 0;

	if ((s = sq_db(impl, &db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "UPDATE accounts SET totp_last_step = ?2 WHERE email = ?1"
	    " AND totp_wrapped IS NOT NULL AND totp_last_step < ?2", &st, err)) != SP_OK)
		return s;
	sq_bind_text(st, 1, email);
	sqlite3_bind_int64(st, 2, step);
	if ((s = sq_run(db, st, "TOTP step", err)) != SP_OK || sqlite3_changes(db) > 0)
		return s;
	if ((s = sq_prepare(db, "SELECT 1 FROM accounts WHERE email = ?"
	    " AND totp_wrapped IS NOT NULL", &st, err)) != SP_OK)
		return s;
	sq_bind_text(st, 1, email);
	if ((s = sq_one(db, st, NULL, &found, "TOTP step", err)) != SP_OK)
		return s;
	if (!found)
		return sp_err_set(err, SP_ERR_NOTFOUND, "no TOTP for this account");
	return sp_err_set(err, SP_ERR_EXPIRED, "this code was already used");
}

int
sq_recovery_set(void *impl, const char *email, const unsigned char (*hashes)[SP_SHA256_LEN],
    size_t n, const struct sp_audit *a, struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	size_t i;
	int s, found = 0;

	if (n > 0 && hashes == NULL)
		return sp_err_set(err, SP_ERR_INVALID, "store: no recovery codes");
	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	if ((s = sq_account_exists(db, email, &found, err)) == SP_OK && !found)
		s = sp_err_set(err, SP_ERR_NOTFOUND, "no such account");
	if (s == SP_OK && (s = sq_prepare(db, "DELETE FROM recovery_codes WHERE email = ?",
	    &st, err)) == SP_OK) {
		sq_bind_text(st, 1, email);
		s = sq_run(db, st, "delete recovery codes", err);
	}
	for (i = 0; s == SP_OK && i < n; i++) {
		if ((s = sq_prepare(db, "INSERT INTO recovery_codes(email, hash, used)"
		    " VALUES (?,?,0)", &st, err)) != SP_OK)
			break;
		sq_bind_text(st, 1, email);
		sq_bind_hash(st, 2, hashes[i]);
		s = sq_run(db, st, "add recovery code", err);
	}
	if (s == SP_OK)
		s = sq_audit_insert(db, a, err);
	return sq_end(db, s, err);
}

int
sq_recovery_use(void *impl, const char *email, const unsigned char *hash,
    const struct sp_audit *a, struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s;

	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "UPDATE recovery_codes SET used = 1 WHERE email = ?"
	    " AND hash = ? AND used = 0", &st, err)) == SP_OK) {
		sq_bind_text(st, 1, email);
		sq_bind_hash(st, 2, hash);
		if ((s = sq_run(db, st, "use recovery code", err)) == SP_OK &&
		    sqlite3_changes(db) == 0)
			s = sp_err_set(err, SP_ERR_NOTFOUND, "unknown or used recovery code");
	}
	if (s == SP_OK)
		s = sq_audit_insert(db, a, err);
	return sq_end(db, s, err);
}

static int
passkey_id_ok(const unsigned char *cred_id, size_t len, struct sp_err *err)
{
	if (cred_id == NULL || len == 0 || len > SP_STORE_CRED_ID_MAX)
		return sp_err_set(err, SP_ERR_INVALID, "store: bad credential id");
	return SP_OK;
}

int
sq_passkey_add(void *impl, const struct sp_passkey *pk, const struct sp_audit *a,
    struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s, found = 0;

	if ((s = passkey_id_ok(pk->cred_id, pk->cred_id_len, err)) != SP_OK)
		return s;
	if (pk->pubkey_len == 0 || pk->pubkey_len > SP_STORE_PUBKEY_MAX)
		return sp_err_set(err, SP_ERR_INVALID, "store: bad passkey public key");
	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	if ((s = sq_account_exists(db, pk->email, &found, err)) == SP_OK && !found)
		s = sp_err_set(err, SP_ERR_NOTFOUND, "no such account");
	if (s == SP_OK && (s = sq_prepare(db, "INSERT INTO passkeys(cred_id, email, pubkey,"
	    " alg, sign_count, name, created, last_used) VALUES (?,?,?,?,?,?,?,?)",
	    &st, err)) == SP_OK) {
		sqlite3_bind_blob(st, 1, pk->cred_id, (int)pk->cred_id_len, SQLITE_TRANSIENT);
		sq_bind_text(st, 2, pk->email);
		sqlite3_bind_blob(st, 3, pk->pubkey, (int)pk->pubkey_len, SQLITE_TRANSIENT);
		sqlite3_bind_int(st, 4, pk->alg);
		sqlite3_bind_int64(st, 5, pk->sign_count);
		sq_bind_text(st, 6, pk->name);
		sqlite3_bind_int64(st, 7, pk->created ? pk->created : (int64_t)time(NULL));
		sqlite3_bind_int64(st, 8, pk->last_used);
		if ((s = sq_run(db, st, "add passkey", err)) == SP_ERR_EXISTS)
			sp_err_set(err, s, "this passkey is registered already");
	}
	if (s == SP_OK)
		s = sq_audit_insert(db, a, err);
	return sq_end(db, s, err);
}

#define SQ_PASSKEY_COLS "cred_id, email, pubkey, alg, sign_count, name, created, last_used"

static int
passkey_from_row(sqlite3_stmt *st, struct sp_passkey *out)
{
	int n, m;

	memset(out, 0, sizeof(*out));
	n = sq_col_blob(st, 0, out->cred_id, sizeof(out->cred_id));
	sq_col_text(st, 1, out->email, sizeof(out->email));
	m = sq_col_blob(st, 2, out->pubkey, sizeof(out->pubkey));
	if (n < 0 || m < 0)
		return SQLITE_CORRUPT;
	out->cred_id_len = (size_t)n;
	out->pubkey_len = (size_t)m;
	out->alg = sqlite3_column_int(st, 3);
	out->sign_count = (uint32_t)sqlite3_column_int64(st, 4);
	sq_col_text(st, 5, out->name, sizeof(out->name));
	out->created = sqlite3_column_int64(st, 6);
	out->last_used = sqlite3_column_int64(st, 7);
	return SQLITE_ROW;
}

int
sq_passkey_get(void *impl, const unsigned char *cred_id, size_t cred_id_len,
    struct sp_passkey *out, struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s, rc;

	memset(out, 0, sizeof(*out));
	if ((s = passkey_id_ok(cred_id, cred_id_len, err)) != SP_OK)
		return s == SP_ERR_INVALID ? sp_err_set(err, SP_ERR_NOTFOUND, "unknown passkey") : s;
	if ((s = sq_db(impl, &db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "SELECT " SQ_PASSKEY_COLS " FROM passkeys WHERE cred_id = ?",
	    &st, err)) != SP_OK)
		return s;
	sqlite3_bind_blob(st, 1, cred_id, (int)cred_id_len, SQLITE_TRANSIENT);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		rc = passkey_from_row(st, out);
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE)
		return sp_err_set(err, SP_ERR_NOTFOUND, "unknown passkey");
	return rc == SQLITE_ROW ? SP_OK : sq_status(db, rc, "passkey", err);
}

int
sq_passkey_each(void *impl, const char *email, int (*fn)(void *, const struct sp_passkey *),
    void *ctx, struct sp_err *err)
{
	struct sp_passkey *pk;
	sqlite3 *db;
	sqlite3_stmt *st;
	int s, rc;

	if ((s = sq_db(impl, &db, err)) != SP_OK)
		return s;
	if ((pk = malloc(sizeof(*pk))) == NULL)
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	if ((s = sq_prepare(db, "SELECT " SQ_PASSKEY_COLS " FROM passkeys WHERE email = ?"
	    " ORDER BY created, rowid", &st, err)) != SP_OK) {
		free(pk);
		return s;
	}
	sq_bind_text(st, 1, email);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((rc = passkey_from_row(st, pk)) != SQLITE_ROW)
			break;
		if (fn(ctx, pk) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_finalize(st);
	free(pk);
	return rc == SQLITE_DONE ? SP_OK : sq_status(db, rc, "passkeys", err);
}

int
sq_passkey_used(void *impl, const unsigned char *cred_id, size_t cred_id_len,
    uint32_t sign_count, int64_t now, struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s;

	if (passkey_id_ok(cred_id, cred_id_len, err) != SP_OK)
		return sp_err_set(err, SP_ERR_NOTFOUND, "unknown passkey");
	if ((s = sq_db(impl, &db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "UPDATE passkeys SET sign_count = ?, last_used = ?"
	    " WHERE cred_id = ?", &st, err)) != SP_OK)
		return s;
	sqlite3_bind_int64(st, 1, sign_count);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_blob(st, 3, cred_id, (int)cred_id_len, SQLITE_TRANSIENT);
	if ((s = sq_run(db, st, "passkey", err)) == SP_OK && sqlite3_changes(db) == 0)
		s = sp_err_set(err, SP_ERR_NOTFOUND, "unknown passkey");
	return s;
}

int
sq_passkey_delete(void *impl, const char *email, const unsigned char *cred_id,
    size_t cred_id_len, const struct sp_audit *a, struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s;

	if (passkey_id_ok(cred_id, cred_id_len, err) != SP_OK)
		return sp_err_set(err, SP_ERR_NOTFOUND, "unknown passkey");
	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "DELETE FROM passkeys WHERE cred_id = ? AND email = ?",
	    &st, err)) == SP_OK) {
		sqlite3_bind_blob(st, 1, cred_id, (int)cred_id_len, SQLITE_TRANSIENT);
		sq_bind_text(st, 2, email);
		if ((s = sq_run(db, st, "delete passkey", err)) == SP_OK && sqlite3_changes(db) == 0)
			s = sp_err_set(err, SP_ERR_NOTFOUND, "unknown passkey");
	}
	/* the last second factor gone: its recovery codes go with it (as
	 * when the app is removed), or they would work again with a factor
	 * added later */
	if (s == SP_OK && (s = sq_prepare(db, "DELETE FROM recovery_codes WHERE email = ?1"
	    " AND NOT EXISTS (SELECT 1 FROM passkeys WHERE email = ?1)"
	    " AND NOT EXISTS (SELECT 1 FROM accounts WHERE email = ?1 AND totp_wrapped IS NOT NULL)",
	    &st, err)) == SP_OK) {
		sq_bind_text(st, 1, email);
		s = sq_run(db, st, "delete recovery codes", err);
	}
	if (s == SP_OK)
		s = sq_audit_insert(db, a, err);
	return sq_end(db, s, err);
}

/*
 * store_sqlite_internal.h - the private interface between the files of the
 * SQLite backend of store.h (store_sqlite.c, store_sqlite_org.c,
 * store_sqlite_env.c, store_sqlite_acct.c, store_sqlite_auth.c,
 * store_sqlite_mailq.c): the
 * backend's handle, the helpers they share, and the functions of each that
 * the vtable in store_sqlite.c or another of them calls.  Not for use
 * outside these files; the rest of the program reaches the backend through
 * sp_store_sqlite_ops (store_internal.h).
 */
#ifndef SP_STORE_SQLITE_INTERNAL_H
#define SP_STORE_SQLITE_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "store_internal.h"

#define SQ_BUSY_MS 5000

struct sq_conn;		/* store_sqlite.c */

struct sq {
	char *path;
	pthread_key_t key;
	pthread_mutex_t mu;
	struct sq_conn *conns;
	int ckpt_due;		/* shredded rows may still be in the WAL (under mu) */
};

/* store_sqlite.c: errors, this thread's connection, statements kept per
 * connection, binding and reading columns, transactions, and appending
 * to an audit chain inside the caller's transaction. */

int sq_status(sqlite3 *db, int rc, const char *what, struct sp_err *err);
int sq_exec(sqlite3 *db, const char *sql, struct sp_err *err);
int sq_db(struct sq *q, sqlite3 **db, struct sp_err *err);
void sq_audit_from_cols(sqlite3_stmt *st, int col, struct sp_audit *a);
int sq_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st, struct sp_err *err);
int sq_kept(sqlite3 *db, const char *sql, sqlite3_stmt **st, struct sp_err *err);
void sq_finish(sqlite3_stmt *st);
int sq_exec_kept(sqlite3 *db, const char *sql, struct sp_err *err);
void sq_bind_text(sqlite3_stmt *st, int i, const char *s);
void sq_bind_text_ref(sqlite3_stmt *st, int i, const char *s);
void sq_bind_blob_ref(sqlite3_stmt *st, int i, const unsigned char *p, size_t n);
void sq_col_text(sqlite3_stmt *st, int i, char *out, size_t outsz);
void sq_bind_hash(sqlite3_stmt *st, int i, const unsigned char *h);
int sq_col_blob(sqlite3_stmt *st, int i, unsigned char *out, size_t outsz);
int sq_one(sqlite3 *db, sqlite3_stmt *st, int64_t *v, int *found, const char *what,
    struct sp_err *err);
int sq_run(sqlite3 *db, sqlite3_stmt *st, const char *what, struct sp_err *err);
int sq_begin(sqlite3 *db, struct sp_err *err);
int sq_end(sqlite3 *db, int st, struct sp_err *err);
int sq_audit_insert(sqlite3 *db, const struct sp_audit *a, struct sp_err *err);

/* store_sqlite_org.c: the audit trail and organisations (entries of
 * sp_store_sqlite_ops). */
int sq_write_batch(void *impl, struct sp_store_write *batch, struct sp_err *err);
int sq_audit_each(void *impl, const char *event, int (*fn)(void *, const struct sp_audit *),
    void *ctx, struct sp_err *err);
int sq_audit_scan(void *impl, int64_t chain, int64_t since,
    int (*fn)(void *, const struct sp_audit_row *), void *ctx, struct sp_err *err);
int sq_audit_heads(void *impl, int (*fn)(void *, int64_t, int64_t, const unsigned char *),
    void *ctx, struct sp_err *err);
int sq_org_add(void *impl, const char *name, const char *domain, const unsigned char *token_hash,
    int64_t now, int64_t *id, struct sp_err *err);
int sq_org_by_token(void *impl, const unsigned char *token_hash, struct sp_org *out,
    struct sp_err *err);
int sq_org_each(void *impl, int (*fn)(void *, const struct sp_org *), void *ctx,
    struct sp_err *err);
int sq_org_get(void *impl, const char *name, struct sp_org *out, struct sp_err *err);
int sq_org_get_id(void *impl, int64_t id, struct sp_org *out, struct sp_err *err);
int sq_org_update(void *impl, const struct sp_org *o, const struct sp_audit *a,
    struct sp_err *err);
int sq_org_remove(void *impl, int64_t id, int64_t now, const struct sp_audit *a,
    struct sp_err *err);
int sq_org_logo_set(void *impl, int64_t id, const unsigned char *png, size_t len,
    const struct sp_audit *a, struct sp_err *err);
int sq_org_logo_get(void *impl, int64_t id, unsigned char *out, size_t cap, size_t *len,
    struct sp_err *err);
int sq_org_domain_add(void *impl, int64_t org_id, const char *domain, const struct sp_audit *a,
    struct sp_err *err);
int sq_org_domain_remove(void *impl, int64_t org_id, const char *domain, const struct sp_audit *a,
    struct sp_err *err);
int sq_org_domain_each(void *impl, int64_t org_id, int (*fn)(void *, const char *), void *ctx,
    struct sp_err *err);
int sq_org_by_domain(void *impl, const char *domain, struct sp_org *out, struct sp_err *err);
int sq_org_token_add(void *impl, int64_t org_id, const char *name, const unsigned char *token_hash,
    int64_t now, const struct sp_audit *a, struct sp_err *err);
int sq_org_token_revoke(void *impl, int64_t org_id, const char *name, int64_t now,
    const struct sp_audit *a, struct sp_err *err);
int sq_org_token_each(void *impl, int64_t org_id, int (*fn)(void *, const struct sp_org_token *),
    void *ctx, struct sp_err *err);
int sq_org_key_add(void *impl, const struct sp_org_key *k, const struct sp_audit *a,
    struct sp_err *err);
int sq_org_key_get(void *impl, const char *kid, struct sp_org_key *out, struct sp_err *err);
int sq_org_key_retire(void *impl, int64_t org_id, const char *kid, int64_t now,
    const struct sp_audit *a, struct sp_err *err);
int sq_org_key_each(void *impl, int64_t org_id, int (*fn)(void *, const struct sp_org_key *),
    void *ctx, struct sp_err *err);

/* store_sqlite_env.c: envelopes, master key rotation, ciphertext copies. */

/* One write of sq_write_batch()'s batch, inside its transaction. */
int sq_write_one(sqlite3 *db, struct sp_store_write *w);

/* Entries of sp_store_sqlite_ops. */
int sq_envelope_get(void *impl, const char *id, struct sp_envelope_rec *out, struct sp_err *err);
int sq_envelope_view(void *impl, const char *id, struct sp_envelope_view *out, struct sp_err *err);
int sq_envelope_retract(void *impl, const char *id, const struct sp_audit *a, struct sp_err *err);
int sq_envelope_set_retracted(void *impl, const char *id, const char *rcpt, int on,
    const struct sp_audit *a, struct sp_err *err);
int sq_envelope_verify_result(void *impl, const char *id, const char *rcpt, int ok, int *fails,
    const struct sp_audit *a, struct sp_err *err);
int sq_envelope_each(void *impl, int64_t org_id, int64_t since,
    int (*fn)(void *, const struct sp_envelope_rec *), void *ctx, struct sp_err *err);
int sq_envelope_each_for(void *impl, const char *rcpt, int64_t now,
    int (*fn)(void *, const struct sp_envelope_rec *), void *ctx, struct sp_err *err);
int sq_envelope_shred_expired(void *impl, int64_t now, int limit, int *n, struct sp_err *err);
int sq_envelope_wrapped_each(void *impl, uint32_t below,
    int (*fn)(void *, const char *, uint32_t, const unsigned char *, size_t), void *ctx,
    struct sp_err *err);
int sq_envelope_rewrap(void *impl, const struct sp_rewrap *r, const struct sp_audit *a,
    struct sp_err *err);
int sq_replykey_wrapped_each(void *impl, uint32_t below,
    int (*fn)(void *, const char *, uint32_t, const unsigned char *, size_t),
    void *ctx, struct sp_err *err);
int sq_replykey_rewrap(void *impl, const struct sp_rewrap *r, struct sp_err *err);
int sq_totp_wrapped_each(void *impl, uint32_t below,
    int (*fn)(void *, const char *, uint32_t, const unsigned char *, size_t), void *ctx,
    struct sp_err *err);
int sq_totp_rewrap(void *impl, const struct sp_rewrap *r, const struct sp_audit *a,
    struct sp_err *err);
int sq_envelope_header_set(void *impl, const char *id, const unsigned char *header, size_t len,
    struct sp_err *err);
int sq_envelope_holder(void *impl, const char *id, unsigned char *out, struct sp_err *err);
int sq_envelope_copy_get(void *impl, const char *id, struct sp_envelope_copy *out,
    struct sp_err *err);
int sq_envelope_copy_set(void *impl, const char *id, int64_t size, int64_t until, int64_t quota,
    const struct sp_audit *a, struct sp_err *err);
int sq_org_copy_bytes(void *impl, int64_t org_id, int64_t *bytes, struct sp_err *err);
int sq_copies_doomed(void *impl, int64_t now, struct sp_copy_ref *out, size_t max, size_t *n,
    struct sp_err *err);

/* store_sqlite_acct.c: accounts, single-use tokens, pending registrations,
 * sessions. */

/* Whether email has an account (*found). */
int sq_account_exists(sqlite3 *db, const char *email, int *found, struct sp_err *err);

/* Entries of sp_store_sqlite_ops. */
int sq_account_create(void *impl, const struct sp_account *acc, const struct sp_audit *a,
    struct sp_err *err);
int sq_account_get(void *impl, const char *email, struct sp_account *out, struct sp_err *err);
int sq_login_failed(void *impl, const char *email, const struct sp_audit *a, struct sp_err *err);
int sq_token_issue(void *impl, int kind, const char *email, const unsigned char *token_hash,
    int64_t now, int64_t expires, const char *rate_key, const struct sp_throttle_policy *rate,
    int *issued, const struct sp_audit *a, struct sp_err *err);
int sq_token_peek(void *impl, int kind, const unsigned char *token_hash, int64_t now,
    struct sp_token_rec *out, struct sp_err *err);
int sq_token_use(void *impl, int kind, const unsigned char *token_hash, int64_t now,
    struct sp_token_rec *out, const struct sp_audit *a, struct sp_err *err);
int sq_pending_add(void *impl, const struct sp_account *acc, const unsigned char *token_hash,
    int64_t token_expires, const struct sp_audit *a, struct sp_err *err);
int sq_pending_by_token(void *impl, const unsigned char *token_hash, int64_t now,
    struct sp_account *out, struct sp_err *err);
int sq_pending_activate(void *impl, const unsigned char *token_hash, int64_t now, char *email,
    const struct sp_audit *a, struct sp_err *err);
int sq_session_create(void *impl, const struct sp_session *ss, const struct sp_audit *a,
    struct sp_err *err);
int sq_session_use(void *impl, const unsigned char *hash, int64_t now, int64_t idle,
    struct sp_session *out, struct sp_err *err);
int sq_session_delete(void *impl, const unsigned char *hash, const struct sp_audit *a,
    struct sp_err *err);
int sq_profile_set(void *impl, const struct sp_account *acc, const struct sp_audit *a,
    struct sp_err *err);
int sq_password_set(void *impl, const char *email, const char *pw_hash, int64_t now,
    const unsigned char *token_hash, const unsigned char *keep_session, const struct sp_audit *a,
    struct sp_err *err);
int sq_sessions_end(void *impl, const char *email, int *n, const struct sp_audit *a,
    struct sp_err *err);
int sq_session_reauth(void *impl, const unsigned char *hash, int64_t now, struct sp_err *err);

/* store_sqlite_auth.c: remembered devices, throttling, housekeeping,
 * second factors. */

/* throttle_begin's counting, inside the caller's transaction. */
int sq_throttle_count(sqlite3 *db, const char *key, int64_t now,
    const struct sp_throttle_policy *p, int64_t *locked_until, struct sp_err *err);

/* Entries of sp_store_sqlite_ops. */
int sq_device_add(void *impl, const struct sp_device *d, const struct sp_audit *a,
    struct sp_err *err);
int sq_device_use(void *impl, const unsigned char *hash, int64_t now, struct sp_device *out,
    struct sp_err *err);
int sq_device_each(void *impl, const char *email, int64_t now,
    int (*fn)(void *, const struct sp_device *), void *ctx, struct sp_err *err);
int sq_device_delete(void *impl, const char *email, int64_t id, const struct sp_audit *a,
    struct sp_err *err);
int sq_signout_all(void *impl, const char *email, int *nsessions, int *ndevices,
    const struct sp_audit *a, struct sp_err *err);
int sq_throttle_check(void *impl, const char *key, int64_t now, int64_t *locked_until,
    struct sp_err *err);
int sq_throttle_fail(void *impl, const char *key, int64_t now, const struct sp_throttle_policy *p,
    int64_t *locked_until, struct sp_err *err);
int sq_throttle_begin(void *impl, const char *key, int64_t now, const struct sp_throttle_policy *p,
    int64_t *locked_until, struct sp_err *err);
int sq_throttle_undo(void *impl, const char *key, struct sp_err *err);
int sq_throttle_reset(void *impl, const char *key, struct sp_err *err);
int sq_throttle_clear(void *impl, const char *prefix, int *n, struct sp_err *err);
int sq_housekeep(void *impl, int64_t now, struct sp_housekeep_counts *out, struct sp_err *err);
int sq_totp_set(void *impl, const char *email, const unsigned char *wrapped, size_t wrapped_len,
    uint32_t key_id, const struct sp_audit *a, struct sp_err *err);
int sq_totp_step(void *impl, const char *email, int64_t step, struct sp_err *err);
int sq_recovery_set(void *impl, const char *email, const unsigned char (*hashes)[SP_SHA256_LEN],
    size_t n, const struct sp_audit *a, struct sp_err *err);
int sq_recovery_use(void *impl, const char *email, const unsigned char *hash,
    const struct sp_audit *a, struct sp_err *err);
int sq_passkey_add(void *impl, const struct sp_passkey *pk, const struct sp_audit *a,
    struct sp_err *err);
int sq_passkey_get(void *impl, const unsigned char *cred_id, size_t cred_id_len,
    struct sp_passkey *out, struct sp_err *err);
int sq_passkey_each(void *impl, const char *email, int (*fn)(void *, const struct sp_passkey *),
    void *ctx, struct sp_err *err);
int sq_passkey_used(void *impl, const unsigned char *cred_id, size_t cred_id_len,
    uint32_t sign_count, int64_t now, struct sp_err *err);
int sq_passkey_delete(void *impl, const char *email, const unsigned char *cred_id,
    size_t cred_id_len, const struct sp_audit *a, struct sp_err *err);

/* store_sqlite_mailq.c: the mail queue.  Entries of sp_store_sqlite_ops. */
int sq_mailq_add(void *impl, const struct sp_mailq_rec *m, struct sp_err *err);
int sq_mailq_claim(void *impl, int64_t now, int64_t lease, struct sp_mailq_rec *out, size_t max,
    size_t *n, int64_t *next, struct sp_err *err);
int sq_mailq_retry(void *impl, const char *ref, int tries, int64_t due, struct sp_err *err);
int sq_mailq_delete(void *impl, const char *ref, struct sp_err *err);
int sq_mailq_each(void *impl, int (*fn)(void *, const struct sp_mailq_info *), void *ctx,
    struct sp_err *err);
int sq_mailq_flush(void *impl, int64_t now, int *n, struct sp_err *err);
/* store_sqlite_env.c, beside the other rewraps */
int sq_mailq_wrapped_each(void *impl, uint32_t below,
    int (*fn)(void *, const char *, uint32_t, const unsigned char *, size_t), void *ctx,
    struct sp_err *err);
int sq_mailq_rewrap(void *impl, const struct sp_rewrap *r, struct sp_err *err);

#endif

/*
 * store_pgsql_internal.h - the private interface between the files of the
 * PostgreSQL backend (store_pgsql.c, store_pgsql_org.c, store_pgsql_env.c,
 * store_pgsql_acct.c, store_pgsql_auth.c, store_pgsql_mailq.c): the structs of a connection,
 * a call and a statement's parameters, and the functions one file defines
 * for the others, by the file that defines them.  Not for use outside
 * these files.
 */
#ifndef SP_STORE_PGSQL_INTERNAL_H
#define SP_STORE_PGSQL_INTERNAL_H

#include <libpq-fe.h>

#include "store_internal.h"

#define PG_MAXP 16
#define PG_PAGE 256
#define PG_KEPT_MAX 32	/* prepared statements kept per connection */

struct pg;

struct pg_conn {
	PGconn *db;		/* NULL after a failed reconnect */
	struct pg *owner;
	struct pg_conn *prev, *next;
	/* statements prepared on this server session (pg_execk()), by the
	 * address of their SQL text: valid while db and its backend are */
	const char *kept[PG_KEPT_MAX];
	int nkept;
	PGconn *kept_db;
	int kept_pid;
};

/* One call's connection. */
struct pg_cx {
	struct pg *q;
	struct pg_conn *c;
	int reused;		/* the connection served earlier calls */
	int sent;		/* a statement of this call went out */
	int keep;		/* pg_execk(): the statement is prepared once and kept */
	int64_t changes;	/* rows the last statement touched */
};

/* The parameters of one statement. */
struct pgp {
	int n;
	int overflow;
	Oid types[PG_MAXP];
	const char *v[PG_MAXP];
	int len[PG_MAXP];
	int fmt[PG_MAXP];
	char num[PG_MAXP][24];
};

/* store_pgsql.c: connections, parameters and results, statements, audit rows */
int pg_connect(struct pg *q, PGconn **out, struct sp_err *err);
int pg_get(struct pg *q, struct pg_cx *cx, struct sp_err *err);
void pg_p_text(struct pgp *p, const char *s);
void pg_p_int(struct pgp *p, int64_t x);
void pg_p_bin(struct pgp *p, const unsigned char *b, size_t n);
void pg_p_hash(struct pgp *p, const unsigned char *h);
int64_t pg_r_int(const PGresult *r, int row, int col);
void pg_r_text(const PGresult *r, int row, int col, char *out, size_t outsz);
int pg_r_blob(const PGresult *r, int row, int col, unsigned char *out, size_t outsz);
int pg_r_blob_dup(const PGresult *r, int row, int col, unsigned char **out, size_t *len,
    struct sp_err *err);
int pg_blob_err(int n, const char *what, struct sp_err *err);
int pg_exec(struct pg_cx *cx, const char *sql, const struct pgp *p, PGresult **out,
    const char *what, struct sp_err *err);
int pg_execk(struct pg_cx *cx, const char *sql, const struct pgp *p, PGresult **out,
    const char *what, struct sp_err *err);
int pg_select_ref(struct pg *q, const char *sql, const char *id, PGresult **out,
    const char *what, struct sp_err *err);
int pg_one(struct pg_cx *cx, const char *sql, const struct pgp *p, int64_t *v, int *found,
    const char *what, struct sp_err *err);
int pg_end(struct pg_cx *cx, int st, struct sp_err *err);
int pg_tx(struct pg *q, struct pg_cx *cx, struct sp_err *err);
void pg_audit_from_row(const PGresult *r, int i, int col, struct sp_audit *a);

/* store_pgsql_org.c: audit trail and organisations */
int pg_audit_insert(struct pg_cx *cx, const struct sp_audit *a, struct sp_err *err);
int pg_fits(const char *s, size_t max);
int pg_ascii_lower(const char *s, char *out, size_t cap, const char *what, struct sp_err *err);

/* store_pgsql_org.c: operations of sp_store_pgsql_ops */
int pg_write_batch(void *impl, struct sp_store_write *batch, struct sp_err *err);
int pg_audit_each(void *impl, const char *event, int (*fn)(void *, const struct sp_audit *),
    void *ctx, struct sp_err *err);
int pg_audit_scan(void *impl, int64_t chain, int64_t since,
    int (*fn)(void *, const struct sp_audit_row *), void *ctx, struct sp_err *err);
int pg_audit_heads(void *impl, int (*fn)(void *, int64_t, int64_t, const unsigned char *),
    void *ctx, struct sp_err *err);
int pg_org_add(void *impl, const char *name, const char *domain, const unsigned char *token_hash,
    int64_t now, int64_t *id, struct sp_err *err);
int pg_org_by_token(void *impl, const unsigned char *token_hash, struct sp_org *out,
    struct sp_err *err);
int pg_org_each(void *impl, int (*fn)(void *, const struct sp_org *), void *ctx,
    struct sp_err *err);
int pg_org_get(void *impl, const char *name, struct sp_org *out, struct sp_err *err);
int pg_org_get_id(void *impl, int64_t id, struct sp_org *out, struct sp_err *err);
int pg_org_update(void *impl, const struct sp_org *o, const struct sp_audit *a,
    struct sp_err *err);
int pg_org_remove(void *impl, int64_t id, int64_t now, const struct sp_audit *a,
    struct sp_err *err);
int pg_org_logo_set(void *impl, int64_t id, const unsigned char *png, size_t len,
    const struct sp_audit *a, struct sp_err *err);
int pg_org_logo_get(void *impl, int64_t id, unsigned char *out, size_t cap, size_t *len,
    struct sp_err *err);
int pg_org_domain_add(void *impl, int64_t org_id, const char *domain, const struct sp_audit *a,
    struct sp_err *err);
int pg_org_domain_remove(void *impl, int64_t org_id, const char *domain, const struct sp_audit *a,
    struct sp_err *err);
int pg_org_domain_each(void *impl, int64_t org_id, int (*fn)(void *, const char *), void *ctx,
    struct sp_err *err);
int pg_org_by_domain(void *impl, const char *domain, struct sp_org *out, struct sp_err *err);
int pg_org_token_add(void *impl, int64_t org_id, const char *name, const unsigned char *token_hash,
    int64_t now, const struct sp_audit *a, struct sp_err *err);
int pg_org_token_revoke(void *impl, int64_t org_id, const char *name, int64_t now,
    const struct sp_audit *a, struct sp_err *err);
int pg_org_token_each(void *impl, int64_t org_id, int (*fn)(void *, const struct sp_org_token *),
    void *ctx, struct sp_err *err);
int pg_org_key_add(void *impl, const struct sp_org_key *k, const struct sp_audit *a,
    struct sp_err *err);
int pg_org_key_get(void *impl, const char *kid, struct sp_org_key *out, struct sp_err *err);
int pg_org_key_retire(void *impl, int64_t org_id, const char *kid, int64_t now,
    const struct sp_audit *a, struct sp_err *err);
int pg_org_key_each(void *impl, int64_t org_id, int (*fn)(void *, const struct sp_org_key *),
    void *ctx, struct sp_err *err);

/* store_pgsql_env.c: envelopes, master key rotation, ciphertext copies */
int pg_write_state(struct pg_cx *cx, struct sp_store_write *w, int *audit);
int pg_header_write(struct pg_cx *cx, const char *id, const unsigned char *header, size_t len,
    struct sp_err *err);

/* store_pgsql_env.c: operations of sp_store_pgsql_ops */
int pg_envelope_get(void *impl, const char *id, struct sp_envelope_rec *out, struct sp_err *err);
int pg_envelope_view(void *impl, const char *id, struct sp_envelope_view *out, struct sp_err *err);
int pg_envelope_retract(void *impl, const char *id, const struct sp_audit *a, struct sp_err *err);
int pg_envelope_set_retracted(void *impl, const char *id, const char *rcpt, int on,
    const struct sp_audit *a, struct sp_err *err);
int pg_envelope_verify_result(void *impl, const char *id, const char *rcpt, int ok, int *fails,
    const struct sp_audit *a, struct sp_err *err);
int pg_envelope_each(void *impl, int64_t org_id, int64_t since,
    int (*fn)(void *, const struct sp_envelope_rec *), void *ctx, struct sp_err *err);
int pg_envelope_each_for(void *impl, const char *rcpt, int64_t now,
    int (*fn)(void *, const struct sp_envelope_rec *), void *ctx, struct sp_err *err);
int pg_envelope_shred_expired(void *impl, int64_t now, int limit, int *n, struct sp_err *err);
int pg_envelope_wrapped_each(void *impl, uint32_t below,
    int (*fn)(void *, const char *, uint32_t, const unsigned char *, size_t), void *ctx,
    struct sp_err *err);
int pg_envelope_rewrap(void *impl, const struct sp_rewrap *r, const struct sp_audit *a,
    struct sp_err *err);
int pg_replykey_wrapped_each(void *impl, uint32_t below,
    int (*fn)(void *, const char *, uint32_t, const unsigned char *, size_t),
    void *ctx, struct sp_err *err);
int pg_replykey_rewrap(void *impl, const struct sp_rewrap *r, struct sp_err *err);
int pg_totp_wrapped_each(void *impl, uint32_t below,
    int (*fn)(void *, const char *, uint32_t, const unsigned char *, size_t), void *ctx,
    struct sp_err *err);
int pg_totp_rewrap(void *impl, const struct sp_rewrap *r, const struct sp_audit *a,
    struct sp_err *err);
int pg_envelope_header_set(void *impl, const char *id, const unsigned char *header, size_t len,
    struct sp_err *err);
int pg_envelope_holder(void *impl, const char *id, unsigned char *out, struct sp_err *err);
int pg_envelope_copy_get(void *impl, const char *id, struct sp_envelope_copy *out,
    struct sp_err *err);
int pg_envelope_copy_set(void *impl, const char *id, int64_t size, int64_t until, int64_t quota,
    const struct sp_audit *a, struct sp_err *err);
int pg_org_copy_bytes(void *impl, int64_t org_id, int64_t *bytes, struct sp_err *err);
int pg_copies_doomed(void *impl, int64_t now, struct sp_copy_ref *out, size_t max, size_t *n,
    struct sp_err *err);

/* store_pgsql_acct.c: accounts, single-use tokens, pending registrations,
 * sessions */
int pg_account_exists(struct pg_cx *cx, const char *email, int *found, struct sp_err *err);
const char *pg_token_what(int kind);
int pg_token_get(struct pg_cx *cx, int kind, const unsigned char *hash, int64_t now, int lock,
    struct sp_token_rec *out, struct sp_err *err);
int pg_token_consume(struct pg_cx *cx, const unsigned char *hash, struct sp_err *err);

/* store_pgsql_acct.c: operations of sp_store_pgsql_ops */
int pg_account_create(void *impl, const struct sp_account *acc, const struct sp_audit *a,
    struct sp_err *err);
int pg_account_get(void *impl, const char *email, struct sp_account *out, struct sp_err *err);
int pg_login_failed(void *impl, const char *email, const struct sp_audit *a, struct sp_err *err);
int pg_token_issue(void *impl, int kind, const char *email, const unsigned char *token_hash,
    int64_t now, int64_t expires, const char *rate_key, const struct sp_throttle_policy *rate,
    int *issued, const struct sp_audit *a, struct sp_err *err);
int pg_token_peek(void *impl, int kind, const unsigned char *token_hash, int64_t now,
    struct sp_token_rec *out, struct sp_err *err);
int pg_token_use(void *impl, int kind, const unsigned char *token_hash, int64_t now,
    struct sp_token_rec *out, const struct sp_audit *a, struct sp_err *err);
int pg_pending_add(void *impl, const struct sp_account *acc, const unsigned char *token_hash,
    int64_t token_expires, const struct sp_audit *a, struct sp_err *err);
int pg_pending_by_token(void *impl, const unsigned char *token_hash, int64_t now,
    struct sp_account *out, struct sp_err *err);
int pg_pending_activate(void *impl, const unsigned char *token_hash, int64_t now, char *email,
    const struct sp_audit *a, struct sp_err *err);
int pg_session_create(void *impl, const struct sp_session *ss, const struct sp_audit *a,
    struct sp_err *err);
int pg_session_use(void *impl, const unsigned char *hash, int64_t now, int64_t idle,
    struct sp_session *out, struct sp_err *err);
int pg_session_delete(void *impl, const unsigned char *hash, const struct sp_audit *a,
    struct sp_err *err);
int pg_profile_set(void *impl, const struct sp_account *acc, const struct sp_audit *a,
    struct sp_err *err);

/* store_pgsql_auth.c: remembered devices, throttling, housekeeping,
 * second factors */
int pg_throttle_count(struct pg_cx *cx, const char *key, int64_t now,
    const struct sp_throttle_policy *p, int64_t *locked_until, struct sp_err *err);

/* store_pgsql_auth.c: operations of sp_store_pgsql_ops */
int pg_device_add(void *impl, const struct sp_device *d, const struct sp_audit *a,
    struct sp_err *err);
int pg_device_use(void *impl, const unsigned char *hash, int64_t now, struct sp_device *out,
    struct sp_err *err);
int pg_device_each(void *impl, const char *email, int64_t now,
    int (*fn)(void *, const struct sp_device *), void *ctx, struct sp_err *err);
int pg_device_delete(void *impl, const char *email, int64_t id, const struct sp_audit *a,
    struct sp_err *err);
int pg_signout_all(void *impl, const char *email, int *nsessions, int *ndevices,
    const struct sp_audit *a, struct sp_err *err);
int pg_password_set(void *impl, const char *email, const char *pw_hash, int64_t now,
    const unsigned char *token_hash, const unsigned char *keep_session, const struct sp_audit *a,
    struct sp_err *err);
int pg_sessions_end(void *impl, const char *email, int *n, const struct sp_audit *a,
    struct sp_err *err);
int pg_session_reauth(void *impl, const unsigned char *hash, int64_t now, struct sp_err *err);
int pg_throttle_check(void *impl, const char *key, int64_t now, int64_t *locked_until,
    struct sp_err *err);
int pg_throttle_fail(void *impl, const char *key, int64_t now, const struct sp_throttle_policy *p,
    int64_t *locked_until, struct sp_err *err);
int pg_throttle_begin(void *impl, const char *key, int64_t now, const struct sp_throttle_policy *p,
    int64_t *locked_until, struct sp_err *err);
int pg_throttle_undo(void *impl, const char *key, struct sp_err *err);
int pg_throttle_reset(void *impl, const char *key, struct sp_err *err);
int pg_throttle_clear(void *impl, const char *prefix, int *n, struct sp_err *err);
int pg_housekeep(void *impl, int64_t now, struct sp_housekeep_counts *out, struct sp_err *err);
int pg_totp_set(void *impl, const char *email, const unsigned char *wrapped, size_t wrapped_len,
    uint32_t key_id, const struct sp_audit *a, struct sp_err *err);
int pg_totp_step(void *impl, const char *email, int64_t step, struct sp_err *err);
int pg_recovery_set(void *impl, const char *email, const unsigned char (*hashes)[SP_SHA256_LEN],
    size_t n, const struct sp_audit *a, struct sp_err *err);
int pg_recovery_use(void *impl, const char *email, const unsigned char *hash,
    const struct sp_audit *a, struct sp_err *err);
int pg_passkey_add(void *impl, const struct sp_passkey *pk, const struct sp_audit *a,
    struct sp_err *err);
int pg_passkey_get(void *impl, const unsigned char *cred_id, size_t cred_id_len,
    struct sp_passkey *out, struct sp_err *err);
int pg_passkey_each(void *impl, const char *email, int (*fn)(void *, const struct sp_passkey *),
    void *ctx, struct sp_err *err);
int pg_passkey_used(void *impl, const unsigned char *cred_id, size_t cred_id_len,
    uint32_t sign_count, int64_t now, struct sp_err *err);
int pg_passkey_delete(void *impl, const char *email, const unsigned char *cred_id,
    size_t cred_id_len, const struct sp_audit *a, struct sp_err *err);

/* store_pgsql_mailq.c: the mail queue.  Entries of sp_store_pgsql_ops. */
int pg_mailq_add(void *impl, const struct sp_mailq_rec *m, struct sp_err *err);
int pg_mailq_claim(void *impl, int64_t now, int64_t lease, struct sp_mailq_rec *out, size_t max,
    size_t *n, int64_t *next, struct sp_err *err);
int pg_mailq_retry(void *impl, const char *ref, int tries, int64_t due, struct sp_err *err);
int pg_mailq_delete(void *impl, const char *ref, struct sp_err *err);
int pg_mailq_each(void *impl, int (*fn)(void *, const struct sp_mailq_info *), void *ctx,
    struct sp_err *err);
int pg_mailq_flush(void *impl, int64_t now, int *n, struct sp_err *err);
/* store_pgsql_env.c, beside the other rewraps */
int pg_mailq_wrapped_each(void *impl, uint32_t below,
    int (*fn)(void *, const char *, uint32_t, const unsigned char *, size_t), void *ctx,
    struct sp_err *err);
int pg_mailq_rewrap(void *impl, const struct sp_rewrap *r, struct sp_err *err);

#endif

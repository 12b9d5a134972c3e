/*
 * store_internal.h - the backend vtable behind store.h.  Each backend
 * (store_sqlite*.c, store_pgsql*.c) fills one struct sp_store_ops; the
 * functions have the meaning of the public ones in store.h, with the
 * backend's own handle in place of the store.  open gets the backend's
 * location: a directory for sqlite, a libpq URI for pgsql.
 */
#ifndef SP_STORE_INTERNAL_H
#define SP_STORE_INTERNAL_H

#include "store.h"

struct sp_store_ops {
	const char *name;
	int (*open)(void **impl, const char *dir, struct sp_err *err);
	void (*close)(void *impl);
	int (*audit)(void *impl, const struct sp_audit *a, struct sp_err *err);
	int (*audit_each)(void *impl, const char *event,
	    int (*fn)(void *, const struct sp_audit *), void *ctx, struct sp_err *err);
	int (*org_add)(void *impl, const char *name, const char *domain,
	    const unsigned char *token_hash, int64_t now, int64_t *id, struct sp_err *err);
	int (*org_by_token)(void *impl, const unsigned char *token_hash,
	    struct sp_org *out, struct sp_err *err);
	int (*org_each)(void *impl, int (*fn)(void *, const struct sp_org *),
	    void *ctx, struct sp_err *err);
	int (*envelope_add)(void *impl, const struct sp_envelope_rec *e,
	    const struct sp_audit *a, struct sp_err *err);
	int (*envelope_get)(void *impl, const char *id, struct sp_envelope_rec *out,
	    struct sp_err *err);
	int (*envelope_retract)(void *impl, const char *id, const struct sp_audit *a,
	    struct sp_err *err);
	int (*envelope_holder)(void *impl, const char *id, unsigned char *out,
	    struct sp_err *err);
	int (*envelope_wrapped_each)(void *impl, uint32_t below_key_id,
	    int (*fn)(void *, const char *, uint32_t, const unsigned char *, size_t),
	    void *ctx, struct sp_err *err);
	int (*envelope_rewrap)(void *impl, const struct sp_rewrap *r, const struct sp_audit *a,
	    struct sp_err *err);
	int (*totp_wrapped_each)(void *impl, uint32_t below_key_id,
	    int (*fn)(void *, const char *, uint32_t, const unsigned char *, size_t),
	    void *ctx, struct sp_err *err);
	int (*totp_rewrap)(void *impl, const struct sp_rewrap *r, const struct sp_audit *a,
	    struct sp_err *err);
	int (*replykey_wrapped_each)(void *impl, uint32_t below_key_id,
	    int (*fn)(void *, const char *, uint32_t, const unsigned char *, size_t),
	    void *ctx, struct sp_err *err);
	int (*replykey_rewrap)(void *impl, const struct sp_rewrap *r, struct sp_err *err);
	int (*account_create)(void *impl, const struct sp_account *acc,
	    const struct sp_audit *a, struct sp_err *err);
	int (*account_get)(void *impl, const char *email, struct sp_account *out,
	    struct sp_err *err);
	int (*login_failed)(void *impl, const char *email, const struct sp_audit *a,
	    struct sp_err *err);
	int (*session_create)(void *impl, const struct sp_session *ss,
	    const struct sp_audit *a, struct sp_err *err);
	int (*session_use)(void *impl, const unsigned char *hash, int64_t now,
	    int64_t idle, struct sp_session *out, struct sp_err *err);
	int (*session_delete)(void *impl, const unsigned char *hash,
	    const struct sp_audit *a, struct sp_err *err);
	int (*throttle_check)(void *impl, const char *key, int64_t now,
	    int64_t *locked_until, struct sp_err *err);
	int (*throttle_fail)(void *impl, const char *key, int64_t now,
	    const struct sp_throttle_policy *p, int64_t *locked_until, struct sp_err *err);
	int (*throttle_reset)(void *impl, const char *key, struct sp_err *err);
	int (*throttle_begin)(void *impl, const char *key, int64_t now,
	    const struct sp_throttle_policy *p, int64_t *locked_until, struct sp_err *err);
	int (*throttle_undo)(void *impl, const char *key, struct sp_err *err);
	int (*throttle_clear)(void *impl, const char *prefix, int *n, struct sp_err *err);
	int (*housekeep)(void *impl, int64_t now, struct sp_housekeep_counts *out,
	    struct sp_err *err);
	int (*pending_add)(void *impl, const struct sp_account *acc,
	    const unsigned char *token_hash, int64_t token_expires,
	    const struct sp_audit *a, struct sp_err *err);
	int (*pending_by_token)(void *impl, const unsigned char *token_hash, int64_t now,
	    struct sp_account *out, struct sp_err *err);
	int (*pending_activate)(void *impl, const unsigned char *token_hash, int64_t now,
	    char *email, const struct sp_audit *a, struct sp_err *err);
	int (*profile_set)(void *impl, const struct sp_account *acc,
	    const struct sp_audit *a, struct sp_err *err);
	int (*token_issue)(void *impl, int kind, const char *email,
	    const unsigned char *token_hash, int64_t now, int64_t expires,
	    const char *rate_key, const struct sp_throttle_policy *rate, int *issued,
	    const struct sp_audit *a, struct sp_err *err);
	int (*token_peek)(void *impl, int kind, const unsigned char *token_hash,
	    int64_t now, struct sp_token_rec *out, struct sp_err *err);
	int (*token_use)(void *impl, int kind, const unsigned char *token_hash,
	    int64_t now, struct sp_token_rec *out, const struct sp_audit *a,
	    struct sp_err *err);
	int (*password_set)(void *impl, const char *email, const char *pw_hash,
	    int64_t now, const unsigned char *token_hash,
	    const unsigned char *keep_session, const struct sp_audit *a,
	    struct sp_err *err);
	int (*sessions_end)(void *impl, const char *email, int *n,
	    const struct sp_audit *a, struct sp_err *err);
	int (*device_add)(void *impl, const struct sp_device *d, const struct sp_audit *a,
	    struct sp_err *err);
	int (*device_use)(void *impl, const unsigned char *hash, int64_t now,
	    struct sp_device *out, struct sp_err *err);
	int (*device_each)(void *impl, const char *email, int64_t now,
	    int (*fn)(void *ctx, const struct sp_device *d), void *ctx, struct sp_err *err);
	int (*device_delete)(void *impl, const char *email, int64_t id,
	    const struct sp_audit *a, struct sp_err *err);
	int (*signout_all)(void *impl, const char *email, int *nsessions, int *ndevices,
	    const struct sp_audit *a, struct sp_err *err);
	int (*session_reauth)(void *impl, const unsigned char *hash, int64_t now,
	    struct sp_err *err);
	int (*totp_set)(void *impl, const char *email, const unsigned char *wrapped,
	    size_t wrapped_len, uint32_t key_id, const struct sp_audit *a,
	    struct sp_err *err);
	int (*totp_step)(void *impl, const char *email, int64_t step, struct sp_err *err);
	int (*recovery_set)(void *impl, const char *email,
	    const unsigned char (*hashes)[SP_SHA256_LEN], size_t n,
	    const struct sp_audit *a, struct sp_err *err);
	int (*recovery_use)(void *impl, const char *email, const unsigned char *hash,
	    const struct sp_audit *a, struct sp_err *err);
	int (*passkey_add)(void *impl, const struct sp_passkey *pk,
	    const struct sp_audit *a, struct sp_err *err);
	int (*passkey_get)(void *impl, const unsigned char *cred_id, size_t cred_id_len,
	    struct sp_passkey *out, struct sp_err *err);
	int (*passkey_each)(void *impl, const char *email,
	    int (*fn)(void *, const struct sp_passkey *), void *ctx, struct sp_err *err);
	int (*passkey_used)(void *impl, const unsigned char *cred_id, size_t cred_id_len,
	    uint32_t sign_count, int64_t now, struct sp_err *err);
	int (*passkey_delete)(void *impl, const char *email, const unsigned char *cred_id,
	    size_t cred_id_len, const struct sp_audit *a, struct sp_err *err);
	/* schema v3: organisations, signatures, sender controls, audit chains */
	int (*audit_scan)(void *impl, int64_t chain, int64_t since, int (*fn)(void *,
	    const struct sp_audit_row *), void *ctx, struct sp_err *err);
	int (*audit_heads)(void *impl, int (*fn)(void *, int64_t, int64_t,
	    const unsigned char *), void *ctx, struct sp_err *err);
	int (*org_get)(void *impl, const char *name, struct sp_org *out,
	    struct sp_err *err);
	int (*org_get_id)(void *impl, int64_t id, struct sp_org *out, struct sp_err *err);
	int (*org_update)(void *impl, const struct sp_org *o, const struct sp_audit *a,
	    struct sp_err *err);
	int (*org_remove)(void *impl, int64_t id, int64_t now, const struct sp_audit *a,
	    struct sp_err *err);
	int (*org_logo_set)(void *impl, int64_t id, const unsigned char *png, size_t len,
	    const struct sp_audit *a, struct sp_err *err);
	int (*org_logo_get)(void *impl, int64_t id, unsigned char *out, size_t cap,
	    size_t *len, struct sp_err *err);
	int (*org_domain_add)(void *impl, int64_t org_id, const char *domain,
	    const struct sp_audit *a, struct sp_err *err);
	int (*org_domain_remove)(void *impl, int64_t org_id, const char *domain,
	    const struct sp_audit *a, struct sp_err *err);
	int (*org_domain_each)(void *impl, int64_t org_id, int (*fn)(void *, const char *),
	    void *ctx, struct sp_err *err);
	int (*org_by_domain)(void *impl, const char *domain, struct sp_org *out,
	    struct sp_err *err);
	int (*org_token_add)(void *impl, int64_t org_id, const char *name,
	    const unsigned char *token_hash, int64_t now, const struct sp_audit *a,
	    struct sp_err *err);
	int (*org_token_revoke)(void *impl, int64_t org_id, const char *name, int64_t now,
	    const struct sp_audit *a, struct sp_err *err);
	int (*org_token_each)(void *impl, int64_t org_id, int (*fn)(void *,
	    const struct sp_org_token *), void *ctx, struct sp_err *err);
	int (*org_key_add)(void *impl, const struct sp_org_key *k, const struct sp_audit *a,
	    struct sp_err *err);
	int (*org_key_get)(void *impl, const char *kid, struct sp_org_key *out,
	    struct sp_err *err);
	int (*org_key_retire)(void *impl, int64_t org_id, const char *kid, int64_t now,
	    const struct sp_audit *a, struct sp_err *err);
	int (*org_key_each)(void *impl, int64_t org_id, int (*fn)(void *,
	    const struct sp_org_key *), void *ctx, struct sp_err *err);
	int (*envelope_set_retracted)(void *impl, const char *id, const char *rcpt, int on,
	    const struct sp_audit *a, struct sp_err *err);
	int (*envelope_seal)(void *impl, const char *id, const unsigned char *header_sha,
	    const unsigned char *ct_sha, const unsigned char *sig, const char *kid,
	    const struct sp_audit *a, struct sp_err *err);
	int (*envelope_opened)(void *impl, const char *id, const char *rcpt, int64_t now,
	    int *first, const struct sp_audit *a, struct sp_err *err);
	int (*envelope_verify_result)(void *impl, const char *id, const char *rcpt, int ok,
	    int *fails, const struct sp_audit *a, struct sp_err *err);
	int (*envelope_each)(void *impl, int64_t org_id, int64_t since, int (*fn)(void *,
	    const struct sp_envelope_rec *), void *ctx, struct sp_err *err);
	int (*envelope_each_for)(void *impl, const char *rcpt, int64_t now,
	    int (*fn)(void *, const struct sp_envelope_rec *), void *ctx,
	    struct sp_err *err);
	int (*envelope_shred_expired)(void *impl, int64_t now, int limit, int *n,
	    struct sp_err *err);
	/* schema v4: ciphertext copies */
	int (*envelope_header_set)(void *impl, const char *id, const unsigned char *header,
	    size_t len, struct sp_err *err);
	int (*envelope_copy_get)(void *impl, const char *id, struct sp_envelope_copy *out,
	    struct sp_err *err);
	int (*envelope_copy_set)(void *impl, const char *id, int64_t size, int64_t until,
	    int64_t quota, const struct sp_audit *a, struct sp_err *err);
	int (*org_copy_bytes)(void *impl, int64_t org_id, int64_t *bytes, struct sp_err *err);
	int (*copies_doomed)(void *impl, int64_t now, struct sp_copy_ref *out, size_t max,
	    size_t *n, struct sp_err *err);
	/* the group commit (store.c queues, the backend writes): make every
	 * write of the list batch (linked by next) in one transaction, setting
	 * each one's status, err and first; return the transaction's own
	 * status (begin and commit): when it is not SP_OK, store.c fails every
	 * write of the batch with it */
	int (*write_batch)(void *impl, struct sp_store_write *batch, struct sp_err *err);
	int (*envelope_view)(void *impl, const char *id, struct sp_envelope_view *out,
	    struct sp_err *err);
	/* the mail queue (store.c checks the arguments) */
	int (*mailq_add)(void *impl, const struct sp_mailq_rec *m, struct sp_err *err);
	int (*mailq_claim)(void *impl, int64_t now, int64_t lease, struct sp_mailq_rec *out,
	    size_t max, size_t *n, int64_t *next, struct sp_err *err);
	int (*mailq_retry)(void *impl, const char *ref, int tries, int64_t due,
	    struct sp_err *err);
	int (*mailq_delete)(void *impl, const char *ref, struct sp_err *err);
	int (*mailq_each)(void *impl, int (*fn)(void *, const struct sp_mailq_info *), void *ctx,
	    struct sp_err *err);
	int (*mailq_flush)(void *impl, int64_t now, int *n, struct sp_err *err);
	int (*mailq_wrapped_each)(void *impl, uint32_t below,
	    int (*fn)(void *, const char *, uint32_t, const unsigned char *, size_t), void *ctx,
	    struct sp_err *err);
	int (*mailq_rewrap)(void *impl, const struct sp_rewrap *r, struct sp_err *err);
};

/* The throttling arithmetic both backends share (store.c): a key's row
 * is read inside a transaction, stepped here, and written back. */
struct sp_throttle_row {
	int64_t count;		/* attempts (or failures) in the window */
	int64_t last;		/* time of the last one */
	int64_t locked;		/* locked until (0 none) */
};
/* throttle_fail: count a failure at now and set the lock it earns. */
void sp_throttle_step_fail(const struct sp_throttle_policy *p, int64_t now,
    struct sp_throttle_row *r);
/* throttle_begin: count an attempt at now.  1 when the key is locked (the
 * attempt is refused, r->locked tells until when), else 0 (the lock for the
 * next attempts may have been set). */
int sp_throttle_step_attempt(const struct sp_throttle_policy *p, int64_t now,
    struct sp_throttle_row *r);

extern const struct sp_store_ops sp_store_sqlite_ops;	/* store_sqlite.c */
extern const struct sp_store_ops sp_store_pgsql_ops;	/* store_pgsql.c */

#endif

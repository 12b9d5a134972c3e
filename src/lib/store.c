/*
 * store.c - picks a storage backend by name or by URL and forwards every
 * call of store.h to its vtable (store_internal.h).
 * SECURITY: a store URL can hold a database password; it is never put into
 * a message here.
 */
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

struct sp_store {
	const struct sp_store_ops *ops;
	void *impl;
};

/* A backend may leave a function out (NULL): calling it is a clean
 * SP_ERR_CONFIG, never a crash. */
static int
unsupported(const struct sp_store *s, const char *what, struct sp_err *err)
{
	return sp_err_set(err, SP_ERR_CONFIG, "store: %s is not supported by this backend (%s)",
	    what, s->ops->name);
}

static const struct sp_store_ops *const backends[] = {
	&sp_store_sqlite_ops,
	&sp_store_pgsql_ops,
};

int
sp_store_open(struct sp_store **s, const char *backend, const char *dir,
    struct sp_err *err)
{
	const struct sp_store_ops *ops = NULL;
	struct sp_store *st;
	size_t i;
	int rc;

	*s = NULL;
	for (i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (backend != NULL && strcmp(backend, backends[i]->name) == 0)
			ops = backends[i];
	if (ops == NULL)
		return sp_err_set(err, SP_ERR_CONFIG, "unknown store backend '%s'",
		    backend ? backend : "(none)");
	if (ops->open == NULL || ops->close == NULL)
		return sp_err_set(err, SP_ERR_CONFIG, "store: backend '%s' cannot be opened",
		    ops->name);
	if ((st = calloc(1, sizeof(*st))) == NULL)
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	st->ops = ops;
	if ((rc = ops->open(&st->impl, dir, err)) != SP_OK) {
		free(st);
		return rc;
	}
	*s = st;
	return SP_OK;
}

static int
has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

int
sp_store_open_url(struct sp_store **s, const char *url, const char *data_dir,
    struct sp_err *err)
{
	static const char file[] = "/keyd.sqlite";
	const char *path;
	char *dir;
	size_t n;
	int st;

	*s = NULL;
	if (url == NULL || *url == '\0')
		return sp_store_open(s, "sqlite", data_dir, err);
	if (has_prefix(url, "postgresql://") || has_prefix(url, "postgres://"))
		return sp_store_open(s, "pgsql", url, err);
	if (!has_prefix(url, "sqlite:"))
		return sp_err_set(err, SP_ERR_CONFIG, "unknown store URL: use sqlite:DIR"
		    " or postgresql://USER@HOST:PORT/DATABASE");
	path = url + strlen("sqlite:");
	if (*path == '\0')
		return sp_store_open(s, "sqlite", data_dir, err);
	/* sqlite:DIR/keyd.sqlite names the file, sqlite:DIR its directory */
	n = strlen(path);
	if (n >= sizeof(file) - 1 && strcmp(path + n - (sizeof(file) - 1), file) == 0)
		n -= sizeof(file) - 1;
	if (n == 0)
		return sp_store_open(s, "sqlite", "/", err);
	if ((dir = strndup(path, n)) == NULL)
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	st = sp_store_open(s, "sqlite", dir, err);
	free(dir);
	return st;
}

void
sp_store_close(struct sp_store *s)
{
	if (s == NULL)
		return;
	s->ops->close(s->impl);
	free(s);
}

void
sp_envelope_rec_clear(struct sp_envelope_rec *e)
{
	size_t i;

	for (i = 0; e->rcpt != NULL && i < e->nrcpt; i++)
		free(e->rcpt[i]);
	free(e->rcpt);
	e->rcpt = NULL;
	e->nrcpt = 0;
	sp_wipe(e->wrapped, sizeof(e->wrapped));
}

int
sp_store_audit(struct sp_store *s, const struct sp_audit *a, struct sp_err *err)
{
	return s->ops->audit == NULL ? unsupported(s, "audit", err) :
	    s->ops->audit(s->impl, a, err);
}

int
sp_store_audit_each(struct sp_store *s, const char *event,
    int (*fn)(void *ctx, const struct sp_audit *a), void *ctx, struct sp_err *err)
{
	return s->ops->audit_each == NULL ? unsupported(s, "audit_each", err) :
	    s->ops->audit_each(s->impl, event, fn, ctx, err);
}

int
sp_store_org_add(struct sp_store *s, const char *name, const char *domain,
    const unsigned char token_hash[SP_SHA256_LEN], int64_t now, int64_t *id,
    struct sp_err *err)
{
	return s->ops->org_add == NULL ? unsupported(s, "org_add", err) :
	    s->ops->org_add(s->impl, name, domain, token_hash, now, id, err);
}

int
sp_store_org_by_token(struct sp_store *s, const unsigned char token_hash[SP_SHA256_LEN],
    struct sp_org *out, struct sp_err *err)
{
	return s->ops->org_by_token == NULL ? unsupported(s, "org_by_token", err) :
	    s->ops->org_by_token(s->impl, token_hash, out, err);
}

int
sp_store_org_each(struct sp_store *s, int (*fn)(void *ctx, const struct sp_org *o),
    void *ctx, struct sp_err *err)
{
	return s->ops->org_each == NULL ? unsupported(s, "org_each", err) :
	    s->ops->org_each(s->impl, fn, ctx, err);
}

int
sp_store_envelope_add(struct sp_store *s, const struct sp_envelope_rec *e,
    const struct sp_audit *a, struct sp_err *err)
{
	return s->ops->envelope_add == NULL ? unsupported(s, "envelope_add", err) :
	    s->ops->envelope_add(s->impl, e, a, err);
}

int
sp_store_envelope_get(struct sp_store *s, const char *id,
    struct sp_envelope_rec *out, struct sp_err *err)
{
	return s->ops->envelope_get == NULL ? unsupported(s, "envelope_get", err) :
	    s->ops->envelope_get(s->impl, id, out, err);
}

int
sp_store_envelope_retract(struct sp_store *s, const char *id,
    const struct sp_audit *a, struct sp_err *err)
{
	return s->ops->envelope_retract == NULL ? unsupported(s, "envelope_retract", err) :
	    s->ops->envelope_retract(s->impl, id, a, err);
}

int
sp_store_envelope_wrapped_each(struct sp_store *s, uint32_t below_key_id,
    int (*fn)(void *ctx, const char *ref, uint32_t key_id, const unsigned char *wrapped,
    size_t len), void *ctx, struct sp_err *err)
{
	return s->ops->envelope_wrapped_each == NULL ? unsupported(s, "envelope_wrapped_each", err) :
	    s->ops->envelope_wrapped_each(s->impl, below_key_id, fn, ctx, err);
}

int
sp_store_envelope_rewrap(struct sp_store *s, const char *id, uint32_t old_key_id,
    uint32_t new_key_id, const unsigned char *wrapped, size_t len,
    const struct sp_audit *a, struct sp_err *err)
{
	return s->ops->envelope_rewrap == NULL ? unsupported(s, "envelope_rewrap", err) :
	    s->ops->envelope_rewrap(s->impl, id, old_key_id, new_key_id, wrapped, len, a, err);
}

int
sp_store_totp_wrapped_each(struct sp_store *s, uint32_t below_key_id,
    int (*fn)(void *ctx, const char *ref, uint32_t key_id, const unsigned char *wrapped,
    size_t len), void *ctx, struct sp_err *err)
{
	return s->ops->totp_wrapped_each == NULL ? unsupported(s, "totp_wrapped_each", err) :
	    s->ops->totp_wrapped_each(s->impl, below_key_id, fn, ctx, err);
}

int
sp_store_totp_rewrap(struct sp_store *s, const char *email, uint32_t old_key_id,
    uint32_t new_key_id, const unsigned char *wrapped, size_t len,
    const struct sp_audit *a, struct sp_err *err)
{
	return s->ops->totp_rewrap == NULL ? unsupported(s, "totp_rewrap", err) :
	    s->ops->totp_rewrap(s->impl, email, old_key_id, new_key_id, wrapped, len, a, err);
}

int
sp_store_account_create(struct sp_store *s, const struct sp_account *acc,
    const struct sp_audit *a, struct sp_err *err)
{
	return s->ops->account_create == NULL ? unsupported(s, "account_create", err) :
	    s->ops->account_create(s->impl, acc, a, err);
}

int
sp_store_account_get(struct sp_store *s, const char *email,
    struct sp_account *out, struct sp_err *err)
{
	return s->ops->account_get == NULL ? unsupported(s, "account_get", err) :
	    s->ops->account_get(s->impl, email, out, err);
}

int
sp_store_login_failed(struct sp_store *s, const char *email,
    const struct sp_audit *a, struct sp_err *err)
{
	return s->ops->login_failed == NULL ? unsupported(s, "login_failed", err) :
	    s->ops->login_failed(s->impl, email, a, err);
}

int
sp_store_session_create(struct sp_store *s, const struct sp_session *ss,
    const struct sp_audit *a, struct sp_err *err)
{
	return s->ops->session_create == NULL ? unsupported(s, "session_create", err) :
	    s->ops->session_create(s->impl, ss, a, err);
}

int
sp_store_session_use(struct sp_store *s, const unsigned char hash[SP_SHA256_LEN],
    int64_t now, int64_t idle, struct sp_session *out, struct sp_err *err)
{
	return s->ops->session_use == NULL ? unsupported(s, "session_use", err) :
	    s->ops->session_use(s->impl, hash, now, idle, out, err);
}

int
sp_store_session_delete(struct sp_store *s, const unsigned char hash[SP_SHA256_LEN],
    const struct sp_audit *a, struct sp_err *err)
{
	return s->ops->session_delete == NULL ? unsupported(s, "session_delete", err) :
	    s->ops->session_delete(s->impl, hash, a, err);
}

int
sp_store_throttle_check(struct sp_store *s, const char *key, int64_t now,
    int64_t *locked_until, struct sp_err *err)
{
	return s->ops->throttle_check == NULL ? unsupported(s, "throttle_check", err) :
	    s->ops->throttle_check(s->impl, key, now, locked_until, err);
}

int
sp_store_throttle_fail(struct sp_store *s, const char *key, int64_t now,
    const struct sp_throttle_policy *p, int64_t *locked_until, struct sp_err *err)
{
	return s->ops->throttle_fail == NULL ? unsupported(s, "throttle_fail", err) :
	    s->ops->throttle_fail(s->impl, key, now, p, locked_until, err);
}

int
sp_store_throttle_reset(struct sp_store *s, const char *key, struct sp_err *err)
{
	return s->ops->throttle_reset == NULL ? unsupported(s, "throttle_reset", err) :
	    s->ops->throttle_reset(s->impl, key, err);
}

int
sp_store_throttle_begin(struct sp_store *s, const char *key, int64_t now,
    const struct sp_throttle_policy *p, int64_t *locked_until, struct sp_err *err)
{
	return s->ops->throttle_begin == NULL ? unsupported(s, "throttle_begin", err) :
	    s->ops->throttle_begin(s->impl, key, now, p, locked_until, err);
}

int
sp_store_throttle_undo(struct sp_store *s, const char *key, struct sp_err *err)
{
	return s->ops->throttle_undo == NULL ? unsupported(s, "throttle_undo", err) :
	    s->ops->throttle_undo(s->impl, key, err);
}

int
sp_store_throttle_clear(struct sp_store *s, const char *prefix, int *n,
    struct sp_err *err)
{
	return s->ops->throttle_clear == NULL ? unsupported(s, "throttle_clear", err) :
	    s->ops->throttle_clear(s->impl, prefix, n, err);
}

int
sp_store_pending_add(struct sp_store *s, const struct sp_account *acc,
    const unsigned char token_hash[SP_SHA256_LEN], int64_t token_expires,
    const struct sp_audit *a, struct sp_err *err)
{
	return s->ops->pending_add == NULL ? unsupported(s, "pending_add", err) :
	    s->ops->pending_add(s->impl, acc, token_hash, token_expires, a, err);
}

int
sp_store_pending_by_token(struct sp_store *s,
    const unsigned char token_hash[SP_SHA256_LEN], int64_t now,
    struct sp_account *out, struct sp_err *err)
{
	return s->ops->pending_by_token == NULL ? unsupported(s, "pending_by_token", err) :
	    s->ops->pending_by_token(s->impl, token_hash, now, out, err);
}

int
sp_store_pending_activate(struct sp_store *s,
    const unsigned char token_hash[SP_SHA256_LEN], int64_t now,
    char email[SP_STORE_EMAIL_MAX + 1], const struct sp_audit *a, struct sp_err *err)
{
	return s->ops->pending_activate == NULL ? unsupported(s, "pending_activate", err) :
	    s->ops->pending_activate(s->impl, token_hash, now, email, a, err);
}

int
sp_store_token_issue(struct sp_store *s, int kind, const char *email,
    const unsigned char token_hash[SP_SHA256_LEN], int64_t now, int64_t expires,
    const char *rate_key, const struct sp_throttle_policy *rate, int *issued,
    const struct sp_audit *a, struct sp_err *err)
{
	return s->ops->token_issue == NULL ? unsupported(s, "token_issue", err) :
	    s->ops->token_issue(s->impl, kind, email, token_hash, now, expires,
	    rate_key, rate, issued, a, err);
}

int
sp_store_token_peek(struct sp_store *s, int kind,
    const unsigned char token_hash[SP_SHA256_LEN], int64_t now,
    struct sp_token_rec *out, struct sp_err *err)
{
	return s->ops->token_peek == NULL ? unsupported(s, "token_peek", err) :
	    s->ops->token_peek(s->impl, kind, token_hash, now, out, err);
}

int
sp_store_token_use(struct sp_store *s, int kind,
    const unsigned char token_hash[SP_SHA256_LEN], int64_t now,
    struct sp_token_rec *out, const struct sp_audit *a, struct sp_err *err)
{
	return s->ops->token_use == NULL ? unsupported(s, "token_use", err) :
	    s->ops->token_use(s->impl, kind, token_hash, now, out, a, err);
}

int
sp_store_password_set(struct sp_store *s, const char *email, const char *pw_hash,
    int64_t now, const unsigned char *token_hash, const unsigned char *keep_session,
    const struct sp_audit *a, struct sp_err *err)
{
	return s->ops->password_set == NULL ? unsupported(s, "password_set", err) :
	    s->ops->password_set(s->impl, email, pw_hash, now, token_hash,
	    keep_session, a, err);
}

int
sp_store_sessions_end(struct sp_store *s, const char *email, int *n,
    const struct sp_audit *a, struct sp_err *err)
{
	return s->ops->sessions_end == NULL ? unsupported(s, "sessions_end", err) :
	    s->ops->sessions_end(s->impl, email, n, a, err);
}

int
sp_store_session_reauth(struct sp_store *s, const unsigned char hash[SP_SHA256_LEN],
    int64_t now, struct sp_err *err)
{
	return s->ops->session_reauth == NULL ? unsupported(s, "session_reauth", err) :
	    s->ops->session_reauth(s->impl, hash, now, err);
}

int
sp_store_totp_set(struct sp_store *s, const char *email,
    const unsigned char *wrapped, size_t wrapped_len, uint32_t key_id,
    const struct sp_audit *a, struct sp_err *err)
{
	return s->ops->totp_set == NULL ? unsupported(s, "totp_set", err) :
	    s->ops->totp_set(s->impl, email, wrapped, wrapped_len, key_id, a, err);
}

int
sp_store_totp_step(struct sp_store *s, const char *email, int64_t step,
    struct sp_err *err)
{
	return s->ops->totp_step == NULL ? unsupported(s, "totp_step", err) :
	    s->ops->totp_step(s->impl, email, step, err);
}

int
sp_store_recovery_set(struct sp_store *s, const char *email,
    const unsigned char hashes[][SP_SHA256_LEN], size_t n, const struct sp_audit *a,
    struct sp_err *err)
{
	return s->ops->recovery_set == NULL ? unsupported(s, "recovery_set", err) :
	    s->ops->recovery_set(s->impl, email, hashes, n, a, err);
}

int
sp_store_recovery_use(struct sp_store *s, const char *email,
    const unsigned char hash[SP_SHA256_LEN], const struct sp_audit *a,
    struct sp_err *err)
{
	return s->ops->recovery_use == NULL ? unsupported(s, "recovery_use", err) :
	    s->ops->recovery_use(s->impl, email, hash, a, err);
}

int
sp_store_passkey_add(struct sp_store *s, const struct sp_passkey *pk,
    const struct sp_audit *a, struct sp_err *err)
{
	return s->ops->passkey_add == NULL ? unsupported(s, "passkey_add", err) :
	    s->ops->passkey_add(s->impl, pk, a, err);
}

int
sp_store_passkey_get(struct sp_store *s, const unsigned char *cred_id,
    size_t cred_id_len, struct sp_passkey *out, struct sp_err *err)
{
	return s->ops->passkey_get == NULL ? unsupported(s, "passkey_get", err) :
	    s->ops->passkey_get(s->impl, cred_id, cred_id_len, out, err);
}

int
sp_store_passkey_each(struct sp_store *s, const char *email,
    int (*fn)(void *ctx, const struct sp_passkey *pk), void *ctx, struct sp_err *err)
{
	return s->ops->passkey_each == NULL ? unsupported(s, "passkey_each", err) :
	    s->ops->passkey_each(s->impl, email, fn, ctx, err);
}

int
sp_store_passkey_used(struct sp_store *s, const unsigned char *cred_id,
    size_t cred_id_len, uint32_t sign_count, int64_t now, struct sp_err *err)
{
	return s->ops->passkey_used == NULL ? unsupported(s, "passkey_used", err) :
	    s->ops->passkey_used(s->impl, cred_id, cred_id_len, sign_count, now, err);
}

int
sp_store_passkey_delete(struct sp_store *s, const char *email,
    const unsigned char *cred_id, size_t cred_id_len, const struct sp_audit *a,
    struct sp_err *err)
{
	return s->ops->passkey_delete == NULL ? unsupported(s, "passkey_delete", err) :
	    s->ops->passkey_delete(s->impl, email, cred_id, cred_id_len, a, err);
}

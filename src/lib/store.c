/*
 * store.c - picks a storage backend by name and forwards every call of
 * store.h to its vtable (store_internal.h).
 */
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

struct sp_store {
	const struct sp_store_ops *ops;
	void *impl;
};

static const struct sp_store_ops *const backends[] = {
	&sp_store_sqlite_ops,
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
	return s->ops->audit(s->impl, a, err);
}

int
sp_store_audit_each(struct sp_store *s, const char *event,
    int (*fn)(void *ctx, const struct sp_audit *a), void *ctx, struct sp_err *err)
{
	return s->ops->audit_each(s->impl, event, fn, ctx, err);
}

int
sp_store_org_add(struct sp_store *s, const char *name, const char *domain,
    const unsigned char token_hash[SP_SHA256_LEN], int64_t now, int64_t *id,
    struct sp_err *err)
{
	return s->ops->org_add(s->impl, name, domain, token_hash, now, id, err);
}

int
sp_store_org_by_token(struct sp_store *s, const unsigned char token_hash[SP_SHA256_LEN],
    struct sp_org *out, struct sp_err *err)
{
	return s->ops->org_by_token(s->impl, token_hash, out, err);
}

int
sp_store_org_each(struct sp_store *s, int (*fn)(void *ctx, const struct sp_org *o),
    void *ctx, struct sp_err *err)
{
	return s->ops->org_each(s->impl, fn, ctx, err);
}

int
sp_store_envelope_add(struct sp_store *s, const struct sp_envelope_rec *e,
    const struct sp_audit *a, struct sp_err *err)
{
	return s->ops->envelope_add(s->impl, e, a, err);
}

int
sp_store_envelope_get(struct sp_store *s, const char *id,
    struct sp_envelope_rec *out, struct sp_err *err)
{
	return s->ops->envelope_get(s->impl, id, out, err);
}

int
sp_store_envelope_retract(struct sp_store *s, const char *id,
    const struct sp_audit *a, struct sp_err *err)
{
	return s->ops->envelope_retract(s->impl, id, a, err);
}

int
sp_store_account_create(struct sp_store *s, const struct sp_account *acc,
    const unsigned char *token_hash, int64_t token_expires,
    const struct sp_audit *a, struct sp_err *err)
{
	return s->ops->account_create(s->impl, acc, token_hash, token_expires, a, err);
}

int
sp_store_account_get(struct sp_store *s, const char *email,
    struct sp_account *out, struct sp_err *err)
{
	return s->ops->account_get(s->impl, email, out, err);
}

int
sp_store_login_failed(struct sp_store *s, const char *email,
    const struct sp_audit *a, struct sp_err *err)
{
	return s->ops->login_failed(s->impl, email, a, err);
}

int
sp_store_activation_add(struct sp_store *s, const unsigned char hash[SP_SHA256_LEN],
    const char *email, int64_t expires, struct sp_err *err)
{
	return s->ops->activation_add(s->impl, hash, email, expires, err);
}

int
sp_store_activation_peek(struct sp_store *s, const unsigned char hash[SP_SHA256_LEN],
    int64_t now, char email[SP_STORE_EMAIL_MAX + 1], struct sp_err *err)
{
	return s->ops->activation_peek(s->impl, hash, now, email, err);
}

int
sp_store_activation_use(struct sp_store *s, const unsigned char hash[SP_SHA256_LEN],
    int64_t now, char email[SP_STORE_EMAIL_MAX + 1], const struct sp_audit *a,
    struct sp_err *err)
{
	return s->ops->activation_use(s->impl, hash, now, email, a, err);
}

int
sp_store_session_create(struct sp_store *s, const struct sp_session *ss,
    const struct sp_audit *a, struct sp_err *err)
{
	return s->ops->session_create(s->impl, ss, a, err);
}

int
sp_store_session_use(struct sp_store *s, const unsigned char hash[SP_SHA256_LEN],
    int64_t now, int64_t idle, struct sp_session *out, struct sp_err *err)
{
	return s->ops->session_use(s->impl, hash, now, idle, out, err);
}

int
sp_store_session_delete(struct sp_store *s, const unsigned char hash[SP_SHA256_LEN],
    const struct sp_audit *a, struct sp_err *err)
{
	return s->ops->session_delete(s->impl, hash, a, err);
}

int
sp_store_throttle_check(struct sp_store *s, const char *key, int64_t now,
    int64_t *locked_until, struct sp_err *err)
{
	return s->ops->throttle_check(s->impl, key, now, locked_until, err);
}

int
sp_store_throttle_fail(struct sp_store *s, const char *key, int64_t now,
    const struct sp_throttle_policy *p, int64_t *locked_until, struct sp_err *err)
{
	return s->ops->throttle_fail(s->impl, key, now, p, locked_until, err);
}

int
sp_store_throttle_reset(struct sp_store *s, const char *key, struct sp_err *err)
{
	return s->ops->throttle_reset(s->impl, key, err);
}

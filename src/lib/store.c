/*
 * store.c - picks a storage backend by name or by URL and forwards every
 * call of store.h to its vtable (store_internal.h).
 * SECURITY: a store URL can hold a database password; it is never put into
 * a message here.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "store_internal.h"

/* The group commit (store.h): writes wait in a queue; one committer
 * thread, started with the first write, takes everything queued at once
 * and hands it to the backend as one transaction. */
#define SP_STORE_BATCH_MAX 256

struct sp_store {
	const struct sp_store_ops *ops;
	void *impl;
	pthread_mutex_t wq_mu;
	pthread_cond_t wq_work;		/* the committer waits for writes */
	pthread_cond_t wq_done;		/* waiting callers wait for theirs */
	struct sp_store_write *wq_head, *wq_tail;
	pthread_t wq_thread;
	int wq_started;
	int wq_stop;
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
	pthread_mutex_init(&st->wq_mu, NULL);
	pthread_cond_init(&st->wq_work, NULL);
	pthread_cond_init(&st->wq_done, NULL);
	if ((rc = ops->open(&st->impl, dir, err)) != SP_OK) {
		pthread_mutex_destroy(&st->wq_mu);
		pthread_cond_destroy(&st->wq_work);
		pthread_cond_destroy(&st->wq_done);
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
	/* the committer makes what is queued, then ends */
	pthread_mutex_lock(&s->wq_mu);
	s->wq_stop = 1;
	pthread_cond_broadcast(&s->wq_work);
	pthread_mutex_unlock(&s->wq_mu);
	if (s->wq_started)
		pthread_join(s->wq_thread, NULL);
	s->ops->close(s->impl);
	pthread_mutex_destroy(&s->wq_mu);
	pthread_cond_destroy(&s->wq_work);
	pthread_cond_destroy(&s->wq_done);
	free(s);
}

/* --- group commit -------------------------------------------------------- */

/* Make one batch (a list of at most SP_STORE_BATCH_MAX writes) and report
 * every write of it: a waiting caller is woken, an asynchronous one's done
 * runs (after which its write may be gone). */
static void
commit_batch(struct sp_store *s, struct sp_store_write *batch)
{
	struct sp_store_write *w, *next, *async = NULL, **tail = &async;
	struct sp_err terr = {{0}};
	int st;

	for (w = batch; w != NULL; w = w->next) {
		w->status = SP_OK;
		w->first = 0;
		memset(&w->err, 0, sizeof(w->err));
	}
	st = s->ops->write_batch(s->impl, batch, &terr);
	pthread_mutex_lock(&s->wq_mu);
	for (w = batch; w != NULL; w = next) {
		next = w->next;
		if (st != SP_OK) {
			/* not one write of a failed transaction is durable */
			w->status = st;
			w->err = terr;
			w->first = 0;
		}
		if (w->done != NULL) {
			*tail = w;
			tail = &w->next;
		} else
			w->finished = 1;
	}
	*tail = NULL;
	pthread_cond_broadcast(&s->wq_done);
	pthread_mutex_unlock(&s->wq_mu);
	for (w = async; w != NULL; w = next) {
		next = w->next;
		w->done(w);
	}
}

static void *
committer(void *arg)
{
	struct sp_store *s = arg;
	struct sp_store_write *batch, *w;
	int n;

	pthread_mutex_lock(&s->wq_mu);
	for (;;) {
		while (s->wq_head == NULL && !s->wq_stop)
			pthread_cond_wait(&s->wq_work, &s->wq_mu);
		if (s->wq_head == NULL)
			break;
		batch = s->wq_head;
		for (w = batch, n = 1; w->next != NULL && n < SP_STORE_BATCH_MAX; w = w->next)
			n++;
		s->wq_head = w->next;
		if (s->wq_head == NULL)
			s->wq_tail = NULL;
		w->next = NULL;
		pthread_mutex_unlock(&s->wq_mu);
		commit_batch(s, batch);
		pthread_mutex_lock(&s->wq_mu);
	}
	pthread_mutex_unlock(&s->wq_mu);
	return NULL;
}

/* Queue w (under wq_mu), starting the committer with the first write. */
static int
enqueue(struct sp_store *s, struct sp_store_write *w, struct sp_err *err)
{
	if (s->ops->write_batch == NULL)
		return unsupported(s, "group commit", err);
	if (s->wq_stop)
		return sp_err_set(err, SP_ERR_INTERNAL, "store: closing");
	if (!s->wq_started) {
		if (pthread_create(&s->wq_thread, NULL, committer, s) != 0)
			return sp_err_set(err, SP_ERR_NOMEM, "store: cannot start the committer");
		s->wq_started = 1;
	}
	w->next = NULL;
	w->finished = 0;
	if (s->wq_tail != NULL)
		s->wq_tail->next = w;
	else
		s->wq_head = w;
	s->wq_tail = w;
	pthread_cond_signal(&s->wq_work);
	return SP_OK;
}

int
sp_store_write_async(struct sp_store *s, struct sp_store_write *w, struct sp_err *err)
{
	int st;

	if (w->done == NULL)
		return sp_err_set(err, SP_ERR_INVALID, "store: an asynchronous write needs done");
	pthread_mutex_lock(&s->wq_mu);
	st = enqueue(s, w, err);
	pthread_mutex_unlock(&s->wq_mu);
	return st;
}

/* Queue w and wait until it is durable or failed. */
static int
write_wait(struct sp_store *s, struct sp_store_write *w, struct sp_err *err)
{
	int st;

	w->done = NULL;
	pthread_mutex_lock(&s->wq_mu);
	if ((st = enqueue(s, w, err)) == SP_OK) {
		while (!w->finished)
			pthread_cond_wait(&s->wq_done, &s->wq_mu);
		st = w->status;
	}
	pthread_mutex_unlock(&s->wq_mu);
	if (st != SP_OK && w->finished && err != NULL)
		*err = w->err;
	return st;
}

void
sp_envelope_rec_clear(struct sp_envelope_rec *e)
{
	size_t i;

	for (i = 0; e->rcpt != NULL && i < e->nrcpt; i++)
		free(e->rcpt[i]);
	free(e->rcpt);
	free(e->rstate);
	e->rcpt = NULL;
	e->rstate = NULL;
	e->nrcpt = 0;
	sp_wipe(e->wrapped, sizeof(e->wrapped));
}

int
sp_store_audit(struct sp_store *s, const struct sp_audit *a, struct sp_err *err)
{
	struct sp_store_write w = {.kind = SP_WRITE_AUDIT, .a = a};

	if (a == NULL)
		return SP_OK;
	return write_wait(s, &w, err);
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
	struct sp_store_write w = {.kind = SP_WRITE_DEPOSIT, .e = e, .a = a};

	return write_wait(s, &w, err);
}

int
sp_store_envelope_get(struct sp_store *s, const char *id,
    struct sp_envelope_rec *out, struct sp_err *err)
{
	return s->ops->envelope_get == NULL ? unsupported(s, "envelope_get", err) :
	    s->ops->envelope_get(s->impl, id, out, err);
}

int
sp_store_envelope_view(struct sp_store *s, const char *id, struct sp_envelope_view *out,
    struct sp_err *err)
{
	return s->ops->envelope_view == NULL ? unsupported(s, "envelope_view", err) :
	    s->ops->envelope_view(s->impl, id, out, err);
}

int
sp_store_envelope_retract(struct sp_store *s, const char *id,
    const struct sp_audit *a, struct sp_err *err)
{
	return s->ops->envelope_retract == NULL ? unsupported(s, "envelope_retract", err) :
	    s->ops->envelope_retract(s->impl, id, a, err);
}

int
sp_store_envelope_holder(struct sp_store *s, const char *id, unsigned char out[SP_SHA256_LEN],
    struct sp_err *err)
{
	if (id == NULL || out == NULL)
		return sp_err_set(err, SP_ERR_INVALID, "store: bad envelope id");
	return s->ops->envelope_holder == NULL ? unsupported(s, "envelope_holder", err) :
	    s->ops->envelope_holder(s->impl, id, out, err);
}

int
sp_store_envelope_wrapped_each(struct sp_store *s, uint32_t below_key_id,
    int (*fn)(void *ctx, const char *ref, uint32_t key_id, const unsigned char *wrapped,
    size_t len), void *ctx, struct sp_err *err)
{
	return s->ops->envelope_wrapped_each == NULL ? unsupported(s, "envelope_wrapped_each", err) :
	    s->ops->envelope_wrapped_each(s->impl, below_key_id, fn, ctx, err);
}

/* Both wrapped values of a rewrap are present and of a stored length. */
static int
rewrap_ok(const struct sp_rewrap *r, struct sp_err *err)
{
	if (r == NULL || r->ref == NULL || r->old == NULL || r->old_len == 0 ||
	    r->old_len > SP_STORE_WRAPPED_MAX || r->wrapped == NULL || r->len == 0 ||
	    r->len > SP_STORE_WRAPPED_MAX)
		return sp_err_set(err, SP_ERR_INVALID, "store: bad wrapped length");
	return SP_OK;
}

int
sp_store_envelope_rewrap(struct sp_store *s, const struct sp_rewrap *r,
    const struct sp_audit *a, struct sp_err *err)
{
	int st;

	if ((st = rewrap_ok(r, err)) != SP_OK)
		return st;
	return s->ops->envelope_rewrap == NULL ? unsupported(s, "envelope_rewrap", err) :
	    s->ops->envelope_rewrap(s->impl, r, a, err);
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
sp_store_replykey_wrapped_each(struct sp_store *s, uint32_t below_key_id,
    int (*fn)(void *, const char *, uint32_t, const unsigned char *, size_t), void *ctx,
    struct sp_err *err)
{
	return s->ops->replykey_wrapped_each == NULL ? unsupported(s, "replykey_wrapped_each", err) :
	    s->ops->replykey_wrapped_each(s->impl, below_key_id, fn, ctx, err);
}

int
sp_store_replykey_rewrap(struct sp_store *s, const struct sp_rewrap *r, struct sp_err *err)
{
	int st;

	if ((st = rewrap_ok(r, err)) != SP_OK)
		return st;
	return s->ops->replykey_rewrap == NULL ? unsupported(s, "replykey_rewrap", err) :
	    s->ops->replykey_rewrap(s->impl, r, err);
}

int
sp_store_totp_rewrap(struct sp_store *s, const struct sp_rewrap *r,
    const struct sp_audit *a, struct sp_err *err)
{
	int st;

	if ((st = rewrap_ok(r, err)) != SP_OK)
		return st;
	return s->ops->totp_rewrap == NULL ? unsupported(s, "totp_rewrap", err) :
	    s->ops->totp_rewrap(s->impl, r, a, err);
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
sp_store_housekeep(struct sp_store *s, int64_t now, struct sp_housekeep_counts *out,
    struct sp_err *err)
{
	struct sp_housekeep_counts none;

	if (out == NULL)
		out = &none;
	memset(out, 0, sizeof(*out));
	return s->ops->housekeep == NULL ? unsupported(s, "housekeep", err) :
	    s->ops->housekeep(s->impl, now, out, err);
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
sp_store_profile_set(struct sp_store *s, const struct sp_account *acc,
    const struct sp_audit *a, struct sp_err *err)
{
	return s->ops->profile_set == NULL ? unsupported(s, "profile_set", err) :
	    s->ops->profile_set(s->impl, acc, a, err);
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
sp_store_device_add(struct sp_store *s, const struct sp_device *d,
    const struct sp_audit *a, struct sp_err *err)
{
	return s->ops->device_add == NULL ? unsupported(s, "device_add", err) :
	    s->ops->device_add(s->impl, d, a, err);
}

int
sp_store_device_use(struct sp_store *s, const unsigned char hash[SP_SHA256_LEN],
    int64_t now, struct sp_device *out, struct sp_err *err)
{
	return s->ops->device_use == NULL ? unsupported(s, "device_use", err) :
	    s->ops->device_use(s->impl, hash, now, out, err);
}

int
sp_store_device_each(struct sp_store *s, const char *email, int64_t now,
    int (*fn)(void *ctx, const struct sp_device *d), void *ctx, struct sp_err *err)
{
	return s->ops->device_each == NULL ? unsupported(s, "device_each", err) :
	    s->ops->device_each(s->impl, email, now, fn, ctx, err);
}

int
sp_store_device_delete(struct sp_store *s, const char *email, int64_t id,
    const struct sp_audit *a, struct sp_err *err)
{
	return s->ops->device_delete == NULL ? unsupported(s, "device_delete", err) :
	    s->ops->device_delete(s->impl, email, id, a, err);
}

int
sp_store_signout_all(struct sp_store *s, const char *email, int *nsessions,
    int *ndevices, const struct sp_audit *a, struct sp_err *err)
{
	return s->ops->signout_all == NULL ? unsupported(s, "signout_all", err) :
	    s->ops->signout_all(s->impl, email, nsessions, ndevices, a, err);
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

/* --- throttling arithmetic (store_internal.h) ---------------------------- */

#define THROTTLE_WINDOW_DEFAULT 3600

static int64_t
throttle_window(const struct sp_throttle_policy *p)
{
	return p->window > 0 ? p->window : THROTTLE_WINDOW_DEFAULT;
}

/* Lock length for the n-th step past the free ones (n >= 0). */
static int64_t
throttle_lock(const struct sp_throttle_policy *p, int64_t n)
{
	int64_t d;

	if (p->linear)
		d = (int64_t)p->base * (n < (1 << 20) ? n + 1 : (1 << 20));
	else
		d = (int64_t)p->base << (n < 20 ? n : 20);
	return d < p->max ? d : p->max;
}

void
sp_throttle_step_fail(const struct sp_throttle_policy *p, int64_t now,
    struct sp_throttle_row *r)
{
	if (r->last + throttle_window(p) <= now)
		r->count = 0;
	r->count++;
	r->last = now;
	r->locked = r->count > p->free ? now + throttle_lock(p, r->count - p->free - 1) : 0;
}

int
sp_throttle_step_attempt(const struct sp_throttle_policy *p, int64_t now,
    struct sp_throttle_row *r)
{
	if (r->last + throttle_window(p) <= now)
		r->count = 0;
	r->count++;
	r->last = now;
	if (r->locked > now)
		return 1;
	r->locked = r->count >= p->free ? now + throttle_lock(p, r->count - p->free) : 0;
	return 0;
}

int
sp_store_audit_scan(struct sp_store *s, int64_t chain, int64_t since,
    int (*fn)(void *ctx, const struct sp_audit_row *r), void *ctx, struct sp_err *err)
{
	return s->ops->audit_scan == NULL ? unsupported(s, "audit_scan", err) :
	    s->ops->audit_scan(s->impl, chain, since, fn, ctx, err);
}

int
sp_store_audit_heads(struct sp_store *s,
    int (*fn)(void *ctx, int64_t chain, int64_t seq, const unsigned char hash[SP_SHA256_LEN]),
    void *ctx, struct sp_err *err)
{
	return s->ops->audit_heads == NULL ? unsupported(s, "audit_heads", err) :
	    s->ops->audit_heads(s->impl, fn, ctx, err);
}

int
sp_store_org_get(struct sp_store *s, const char *name, struct sp_org *out,
    struct sp_err *err)
{
	return s->ops->org_get == NULL ? unsupported(s, "org_get", err) :
	    s->ops->org_get(s->impl, name, out, err);
}

int
sp_store_org_get_id(struct sp_store *s, int64_t id, struct sp_org *out,
    struct sp_err *err)
{
	return s->ops->org_get_id == NULL ? unsupported(s, "org_get_id", err) :
	    s->ops->org_get_id(s->impl, id, out, err);
}

int
sp_store_org_update(struct sp_store *s, const struct sp_org *o,
    const struct sp_audit *a, struct sp_err *err)
{
	return s->ops->org_update == NULL ? unsupported(s, "org_update", err) :
	    s->ops->org_update(s->impl, o, a, err);
}

int
sp_store_org_remove(struct sp_store *s, int64_t id, int64_t now,
    const struct sp_audit *a, struct sp_err *err)
{
	return s->ops->org_remove == NULL ? unsupported(s, "org_remove", err) :
	    s->ops->org_remove(s->impl, id, now, a, err);
}

int
sp_store_org_logo_set(struct sp_store *s, int64_t id, const unsigned char *png,
    size_t len, const struct sp_audit *a, struct sp_err *err)
{
	return s->ops->org_logo_set == NULL ? unsupported(s, "org_logo_set", err) :
	    s->ops->org_logo_set(s->impl, id, png, len, a, err);
}

int
sp_store_org_logo_get(struct sp_store *s, int64_t id, unsigned char *out,
    size_t cap, size_t *len, struct sp_err *err)
{
	return s->ops->org_logo_get == NULL ? unsupported(s, "org_logo_get", err) :
	    s->ops->org_logo_get(s->impl, id, out, cap, len, err);
}

int
sp_store_org_domain_add(struct sp_store *s, int64_t org_id, const char *domain,
    const struct sp_audit *a, struct sp_err *err)
{
	return s->ops->org_domain_add == NULL ? unsupported(s, "org_domain_add", err) :
	    s->ops->org_domain_add(s->impl, org_id, domain, a, err);
}

int
sp_store_org_domain_remove(struct sp_store *s, int64_t org_id, const char *domain,
    const struct sp_audit *a, struct sp_err *err)
{
	return s->ops->org_domain_remove == NULL ? unsupported(s, "org_domain_remove", err) :
	    s->ops->org_domain_remove(s->impl, org_id, domain, a, err);
}

int
sp_store_org_domain_each(struct sp_store *s, int64_t org_id,
    int (*fn)(void *ctx, const char *domain), void *ctx, struct sp_err *err)
{
	return s->ops->org_domain_each == NULL ? unsupported(s, "org_domain_each", err) :
	    s->ops->org_domain_each(s->impl, org_id, fn, ctx, err);
}

int
sp_store_org_by_domain(struct sp_store *s, const char *domain, struct sp_org *out,
    struct sp_err *err)
{
	return s->ops->org_by_domain == NULL ? unsupported(s, "org_by_domain", err) :
	    s->ops->org_by_domain(s->impl, domain, out, err);
}

int
sp_store_org_token_add(struct sp_store *s, int64_t org_id, const char *name,
    const unsigned char token_hash[SP_SHA256_LEN], int64_t now,
    const struct sp_audit *a, struct sp_err *err)
{
	return s->ops->org_token_add == NULL ? unsupported(s, "org_token_add", err) :
	    s->ops->org_token_add(s->impl, org_id, name, token_hash, now, a, err);
}

int
sp_store_org_token_revoke(struct sp_store *s, int64_t org_id, const char *name,
    int64_t now, const struct sp_audit *a, struct sp_err *err)
{
	return s->ops->org_token_revoke == NULL ? unsupported(s, "org_token_revoke", err) :
	    s->ops->org_token_revoke(s->impl, org_id, name, now, a, err);
}

int
sp_store_org_token_each(struct sp_store *s, int64_t org_id,
    int (*fn)(void *ctx, const struct sp_org_token *t), void *ctx, struct sp_err *err)
{
	return s->ops->org_token_each == NULL ? unsupported(s, "org_token_each", err) :
	    s->ops->org_token_each(s->impl, org_id, fn, ctx, err);
}

int
sp_store_org_key_add(struct sp_store *s, const struct sp_org_key *k,
    const struct sp_audit *a, struct sp_err *err)
{
	return s->ops->org_key_add == NULL ? unsupported(s, "org_key_add", err) :
	    s->ops->org_key_add(s->impl, k, a, err);
}

int
sp_store_org_key_get(struct sp_store *s, const char *kid, struct sp_org_key *out,
    struct sp_err *err)
{
	return s->ops->org_key_get == NULL ? unsupported(s, "org_key_get", err) :
	    s->ops->org_key_get(s->impl, kid, out, err);
}

int
sp_store_org_key_retire(struct sp_store *s, int64_t org_id, const char *kid,
    int64_t now, const struct sp_audit *a, struct sp_err *err)
{
	return s->ops->org_key_retire == NULL ? unsupported(s, "org_key_retire", err) :
	    s->ops->org_key_retire(s->impl, org_id, kid, now, a, err);
}

int
sp_store_org_key_each(struct sp_store *s, int64_t org_id,
    int (*fn)(void *ctx, const struct sp_org_key *k), void *ctx, struct sp_err *err)
{
	return s->ops->org_key_each == NULL ? unsupported(s, "org_key_each", err) :
	    s->ops->org_key_each(s->impl, org_id, fn, ctx, err);
}

int
sp_store_envelope_set_retracted(struct sp_store *s, const char *id,
    const char *rcpt, int on, const struct sp_audit *a, struct sp_err *err)
{
	return s->ops->envelope_set_retracted == NULL ? unsupported(s, "envelope_set_retracted", err) :
	    s->ops->envelope_set_retracted(s->impl, id, rcpt, on, a, err);
}

int
sp_store_envelope_seal(struct sp_store *s, const char *id,
    const unsigned char header_sha[SP_SHA256_LEN], const unsigned char ct_sha[SP_SHA256_LEN],
    const unsigned char sig[64], const char *kid, const struct sp_audit *a,
    struct sp_err *err)
{
	return sp_store_envelope_seal_header(s, id, header_sha, ct_sha, sig, kid, NULL, 0, a, err);
}

int
sp_store_envelope_seal_header(struct sp_store *s, const char *id,
    const unsigned char header_sha[SP_SHA256_LEN], const unsigned char ct_sha[SP_SHA256_LEN],
    const unsigned char sig[64], const char *kid, const unsigned char *header, size_t len,
    const struct sp_audit *a, struct sp_err *err)
{
	struct sp_store_write w = {.kind = SP_WRITE_SEAL, .id = id, .header_sha = header_sha,
	    .ct_sha = ct_sha, .sig = sig, .kid = kid, .header = header, .header_len = len,
	    .a = a};

	if (header != NULL && (len == 0 || len > SP_STORE_HEADER_MAX))
		return sp_err_set(err, SP_ERR_INVALID, "store: bad header length");
	return write_wait(s, &w, err);
}

int
sp_store_envelope_opened(struct sp_store *s, const char *id, const char *rcpt,
    int64_t now, int *first, const struct sp_audit *a, struct sp_err *err)
{
	struct sp_store_write w = {.kind = SP_WRITE_OPENED, .id = id, .rcpt = rcpt, .now = now,
	    .a = a};
	int st = write_wait(s, &w, err);

	if (first != NULL)
		*first = st == SP_OK && w.first;
	return st;
}

int
sp_store_envelope_verify_result(struct sp_store *s, const char *id, const char *rcpt,
    int ok, int *fails, const struct sp_audit *a, struct sp_err *err)
{
	return s->ops->envelope_verify_result == NULL ? unsupported(s, "envelope_verify_result", err) :
	    s->ops->envelope_verify_result(s->impl, id, rcpt, ok, fails, a, err);
}

int
sp_store_envelope_each(struct sp_store *s, int64_t org_id, int64_t since,
    int (*fn)(void *ctx, const struct sp_envelope_rec *e), void *ctx, struct sp_err *err)
{
	return s->ops->envelope_each == NULL ? unsupported(s, "envelope_each", err) :
	    s->ops->envelope_each(s->impl, org_id, since, fn, ctx, err);
}

int
sp_store_envelope_each_for(struct sp_store *s, const char *rcpt, int64_t now,
    int (*fn)(void *ctx, const struct sp_envelope_rec *e), void *ctx, struct sp_err *err)
{
	return s->ops->envelope_each_for == NULL ? unsupported(s, "envelope_each_for", err) :
	    s->ops->envelope_each_for(s->impl, rcpt, now, fn, ctx, err);
}

int
sp_store_envelope_shred_expired(struct sp_store *s, int64_t now, int limit, int *n,
    struct sp_err *err)
{
	return s->ops->envelope_shred_expired == NULL ? unsupported(s, "envelope_shred_expired", err) :
	    s->ops->envelope_shred_expired(s->impl, now, limit, n, err);
}

/* --- audit hash chains ------------------------------------------------------
 * hash = SHA-256("sealpost audit v1\n" || prev || be64(chain) || be64(seq) ||
 *   be64(time) || field(event) || field(actor) || field(envelope) ||
 *   field(client) || field(detail)),
 * field(x) = 0xff when x is NULL, else 0x00 || be32(length) || bytes.
 * The layout is written down in docs/audit.md; change both together. */

/* SHA-256 on a state on the stack (libsodium's): an append hashes without
 * allocating. */
static void
chain_u64(crypto_hash_sha256_state *md, uint64_t v)
{
	unsigned char b[8];
	int i;

	for (i = 7; i >= 0; i--) {
		b[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
	crypto_hash_sha256_update(md, b, sizeof(b));
}

static void
chain_field(crypto_hash_sha256_state *md, const char *x)
{
	unsigned char b[5];
	size_t n;

	if (x == NULL) {
		b[0] = 0xff;
		crypto_hash_sha256_update(md, b, 1);
		return;
	}
	n = strlen(x);
	b[0] = 0;
	b[1] = (unsigned char)(n >> 24);
	b[2] = (unsigned char)(n >> 16);
	b[3] = (unsigned char)(n >> 8);
	b[4] = (unsigned char)n;
	crypto_hash_sha256_update(md, b, sizeof(b));
	crypto_hash_sha256_update(md, (const unsigned char *)x, n);
}

void
sp_audit_chain_hash(const unsigned char prev[SP_SHA256_LEN], int64_t chain,
    int64_t seq, const struct sp_audit *a, unsigned char out[SP_SHA256_LEN])
{
	static const char label[] = "sealpost audit v1\n";
	crypto_hash_sha256_state st;
	crypto_hash_sha256_state *md = &st;

	crypto_hash_sha256_init(md);
	crypto_hash_sha256_update(md, (const unsigned char *)label, sizeof(label) - 1);
	crypto_hash_sha256_update(md, prev, SP_SHA256_LEN);
	chain_u64(md, (uint64_t)chain);
	chain_u64(md, (uint64_t)seq);
	chain_u64(md, (uint64_t)a->time);
	chain_field(md, a->event);
	chain_field(md, a->actor);
	chain_field(md, a->envelope);
	chain_field(md, a->client);
	chain_field(md, a->detail);
	crypto_hash_sha256_final(md, out);
	sodium_memzero(&st, sizeof(st));
}

/* The last record seen of one chain while verifying. */
struct chain_tip {
	int64_t chain;
	int64_t seq;
	unsigned char hash[SP_SHA256_LEN];
};

struct verify_ctx {
	struct chain_tip *tips;
	size_t ntips, cap;
	int64_t n;
	int bad;
	struct sp_audit_row *bad_row;
	struct sp_err *err;
};

static struct chain_tip *
verify_tip(struct verify_ctx *v, int64_t chain)
{
	struct chain_tip *t;
	size_t i;

	for (i = 0; i < v->ntips; i++)
		if (v->tips[i].chain == chain)
			return &v->tips[i];
	if (v->ntips == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 16;
		if ((t = realloc(v->tips, cap * sizeof(*t))) == NULL)
			return NULL;
		v->tips = t;
		v->cap = cap;
	}
	t = &v->tips[v->ntips++];
	memset(t, 0, sizeof(*t));
	t->chain = chain;
	return t;
}

static int
verify_bad(struct verify_ctx *v, const struct sp_audit_row *r, const char *what)
{
	v->bad = 1;
	if (v->bad_row != NULL) {
		*v->bad_row = *r;
		v->bad_row->a.event = v->bad_row->a.actor = v->bad_row->a.envelope = NULL;
		v->bad_row->a.client = v->bad_row->a.detail = NULL;
	}
	sp_err_set(v->err, SP_ERR_INVALID,
	    "audit record %lld (chain %lld, seq %lld, event %s): %s",
	    (long long)r->rowid, (long long)r->chain, (long long)r->seq,
	    r->a.event ? r->a.event : "?", what);
	return 1;
}

static int
verify_one(void *ctx, const struct sp_audit_row *r)
{
	struct verify_ctx *v = ctx;
	struct chain_tip *t = verify_tip(v, r->chain);
	unsigned char h[SP_SHA256_LEN];

	if (t == NULL) {
		sp_err_set(v->err, SP_ERR_NOMEM, "out of memory");
		v->bad = 2;
		return 1;
	}
	v->n++;
	if (r->seq != t->seq + 1)
		return verify_bad(v, r, r->seq <= t->seq ?
		    "out of order (a record was moved or copied)" :
		    "records before it in its chain are missing (deleted)");
	if (!sp_ct_eq(r->prev, t->hash, SP_SHA256_LEN))
		return verify_bad(v, r, "does not link to the previous record of its chain");
	sp_audit_chain_hash(r->prev, r->chain, r->seq, &r->a, h);
	if (!sp_ct_eq(h, r->hash, SP_SHA256_LEN))
		return verify_bad(v, r, "its contents were changed after it was written");
	t->seq = r->seq;
	memcpy(t->hash, r->hash, SP_SHA256_LEN);
	return 0;
}

int
sp_store_audit_verify(struct sp_store *s, struct sp_audit_row *bad, int64_t *n,
    struct sp_err *err)
{
	struct verify_ctx v = { .bad_row = bad, .err = err };
	int st;

	st = sp_store_audit_scan(s, -1, 0, verify_one, &v, err);
	free(v.tips);
	if (n != NULL)
		*n = v.n;
	if (v.bad == 2)
		return SP_ERR_NOMEM;
	if (v.bad)
		return SP_ERR_INVALID;
	return st;
}

/* --- ciphertext copies (schema v4) ----------------------------------------- */

void
sp_envelope_copy_clear(struct sp_envelope_copy *c)
{
	if (c == NULL)
		return;
	free(c->header);
	memset(c, 0, sizeof(*c));
}

int
sp_store_envelope_header_set(struct sp_store *s, const char *id,
    const unsigned char *header, size_t len, struct sp_err *err)
{
	if (header == NULL || len == 0 || len > SP_STORE_HEADER_MAX)
		return sp_err_set(err, SP_ERR_INVALID, "store: bad header length");
	return s->ops->envelope_header_set == NULL ? unsupported(s, "envelope_header_set", err) :
	    s->ops->envelope_header_set(s->impl, id, header, len, err);
}

int
sp_store_envelope_copy_get(struct sp_store *s, const char *id,
    struct sp_envelope_copy *out, struct sp_err *err)
{
	memset(out, 0, sizeof(*out));
	return s->ops->envelope_copy_get == NULL ? unsupported(s, "envelope_copy_get", err) :
	    s->ops->envelope_copy_get(s->impl, id, out, err);
}

int
sp_store_envelope_copy_set(struct sp_store *s, const char *id, int64_t size,
    int64_t until, int64_t quota, const struct sp_audit *a, struct sp_err *err)
{
	if (size < 0 || until < 0)
		return sp_err_set(err, SP_ERR_INVALID, "store: bad copy size");
	return s->ops->envelope_copy_set == NULL ? unsupported(s, "envelope_copy_set", err) :
	    s->ops->envelope_copy_set(s->impl, id, size, size > 0 ? until : 0, quota, a, err);
}

int
sp_store_org_copy_bytes(struct sp_store *s, int64_t org_id, int64_t *bytes,
    struct sp_err *err)
{
	*bytes = 0;
	return s->ops->org_copy_bytes == NULL ? unsupported(s, "org_copy_bytes", err) :
	    s->ops->org_copy_bytes(s->impl, org_id, bytes, err);
}

int
sp_store_copies_doomed(struct sp_store *s, int64_t now, struct sp_copy_ref *out,
    size_t max, size_t *n, struct sp_err *err)
{
	*n = 0;
	if (max == 0)
		return SP_OK;
	return s->ops->copies_doomed == NULL ? unsupported(s, "copies_doomed", err) :
	    s->ops->copies_doomed(s->impl, now, out, max, n, err);
}

/* --- the mail queue ------------------------------------------------------ */

void
sp_mailq_rec_clear(struct sp_mailq_rec *m)
{
	if (m == NULL)
		return;
	if (m->sealed != NULL) {
		sp_wipe(m->sealed, m->sealed_len);
		free(m->sealed);
	}
	sp_wipe(m, sizeof(*m));
}

/* A queue reference: SP_STORE_MAILQ_REF_LEN base64url characters. */
static int
mailq_ref_ok(const char *ref)
{
	size_t i;

	if (ref == NULL)
		return 0;
	for (i = 0; ref[i] != '\0'; i++)
		if (i >= SP_STORE_MAILQ_REF_LEN || !(isalnum((unsigned char)ref[i]) ||
		    ref[i] == '-' || ref[i] == '_'))
			return 0;
	return i == SP_STORE_MAILQ_REF_LEN;
}

int
sp_store_mailq_add(struct sp_store *s, const struct sp_mailq_rec *m, struct sp_err *err)
{
	if (!mailq_ref_ok(m->ref) || m->tries < 0 || m->due < 0 || m->wrapped_len == 0 ||
	    m->wrapped_len > SP_STORE_WRAPPED_MAX || m->sealed == NULL || m->sealed_len == 0 ||
	    m->sealed_len > SP_STORE_MAILQ_SEALED_MAX)
		return sp_err_set(err, SP_ERR_INVALID, "store: bad queued mail");
	return s->ops->mailq_add == NULL ? unsupported(s, "mailq_add", err) :
	    s->ops->mailq_add(s->impl, m, err);
}

int
sp_store_mailq_claim(struct sp_store *s, int64_t now, int64_t lease,
    struct sp_mailq_rec *out, size_t max, size_t *n, int64_t *next, struct sp_err *err)
{
	*n = 0;
	*next = 0;
	if (max == 0 || lease < 1)
		return sp_err_set(err, SP_ERR_INVALID, "store: bad mail claim");
	memset(out, 0, max * sizeof(*out));
	return s->ops->mailq_claim == NULL ? unsupported(s, "mailq_claim", err) :
	    s->ops->mailq_claim(s->impl, now, lease, out, max, n, next, err);
}

int
sp_store_mailq_retry(struct sp_store *s, const char *ref, int tries, int64_t due,
    struct sp_err *err)
{
	if (!mailq_ref_ok(ref) || tries < 0 || due < 0)
		return sp_err_set(err, SP_ERR_INVALID, "store: bad queued mail");
	return s->ops->mailq_retry == NULL ? unsupported(s, "mailq_retry", err) :
	    s->ops->mailq_retry(s->impl, ref, tries, due, err);
}

int
sp_store_mailq_delete(struct sp_store *s, const char *ref, struct sp_err *err)
{
	if (!mailq_ref_ok(ref))
		return sp_err_set(err, SP_ERR_INVALID, "store: bad queued mail");
	return s->ops->mailq_delete == NULL ? unsupported(s, "mailq_delete", err) :
	    s->ops->mailq_delete(s->impl, ref, err);
}

int
sp_store_mailq_each(struct sp_store *s, int (*fn)(void *, const struct sp_mailq_info *),
    void *ctx, struct sp_err *err)
{
	return s->ops->mailq_each == NULL ? unsupported(s, "mailq_each", err) :
	    s->ops->mailq_each(s->impl, fn, ctx, err);
}

int
sp_store_mailq_flush(struct sp_store *s, int64_t now, int *n, struct sp_err *err)
{
	*n = 0;
	return s->ops->mailq_flush == NULL ? unsupported(s, "mailq_flush", err) :
	    s->ops->mailq_flush(s->impl, now, n, err);
}

int
sp_store_mailq_wrapped_each(struct sp_store *s, uint32_t below,
    int (*fn)(void *, const char *, uint32_t, const unsigned char *, size_t), void *ctx,
    struct sp_err *err)
{
	return s->ops->mailq_wrapped_each == NULL ? unsupported(s, "mailq_wrapped_each", err) :
	    s->ops->mailq_wrapped_each(s->impl, below, fn, ctx, err);
}

int
sp_store_mailq_rewrap(struct sp_store *s, const struct sp_rewrap *r, struct sp_err *err)
{
	int st;

	if ((st = rewrap_ok(r, err)) != SP_OK)
		return st;
	if (!mailq_ref_ok(r->ref))
		return sp_err_set(err, SP_ERR_INVALID, "store: bad rewrap");
	return s->ops->mailq_rewrap == NULL ? unsupported(s, "mailq_rewrap", err) :
	    s->ops->mailq_rewrap(s->impl, r, err);
}

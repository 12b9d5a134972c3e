/*
 * keywrap_remote.c - keywrap.h's remote implementation: every wrap and
 * unwrap is one request to the key holder over a socket (khproto.h), under
 * one mutex, with a deadline for the request and its answer.  Anything
 * unexpected (timeout, closed socket, an answer with another request id or
 * of the wrong type, a frame that does not decode) leaves the stream out of
 * step, so the connection is marked dead and every later call is
 * SP_ERR_RETRY: the key server answers 503 instead of guessing.
 * SECURITY: a WRAP request and an UNWRAP answer carry a key part: the
 * frames are wiped after use.  No master key ever reaches this process.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "keywrap_internal.h"
#include "khproto.h"

struct kw_remote {
	struct sp_keywrap base;
	pthread_mutex_t mu;
	int fd;
	int dead;
	uint32_t next_id;
	uint32_t current;
};

/* One request and its answer; called with mu held.  SP_OK with *ans of the
 * wanted type, the key holder's status for an ERROR answer, or
 * SP_ERR_RETRY (and the connection dead). */
static int
remote_call(struct kw_remote *kw, struct sp_kh_msg *req, uint16_t want,
    struct sp_kh_msg *ans, struct sp_err *err)
{
	unsigned char frame[SP_KH_FRAME_MAX];
	struct sp_err e = {{0}};
	size_t len;
	int st;

	if (kw->dead)
		return sp_err_set(err, SP_ERR_RETRY, "the key holder is not running");
	req->id = ++kw->next_id;
	if ((st = sp_kh_encode(req, frame, sizeof(frame), &len, err)) != SP_OK) {
		sp_wipe(frame, sizeof(frame));
		return st;	/* nothing was sent: the connection is fine */
	}
	st = sp_kh_write(kw->fd, frame, len, SP_KH_TIMEOUT_MS, &e);
	if (st == SP_OK)
		st = sp_kh_read(kw->fd, frame, &len, SP_KH_TIMEOUT_MS, &e);
	if (st == SP_OK)
		st = sp_kh_decode(frame, len, ans, &e);
	sp_wipe(frame, sizeof(frame));
	if (st == SP_OK && ans->id != req->id)
		st = sp_err_set(&e, SP_ERR_INVALID, "answer to request %u, want %u", ans->id, req->id);
	if (st == SP_OK && ans->type != want && ans->type != SP_KH_ERROR)
		st = sp_err_set(&e, SP_ERR_INVALID, "answer of type %u", ans->type);
	if (st != SP_OK) {
		kw->dead = 1;
		shutdown(kw->fd, SHUT_RDWR);
		sp_wipe(ans, sizeof(*ans));
		return sp_err_set(err, SP_ERR_RETRY, "key holder: %s", sp_err_msg(&e, st));
	}
	if (ans->type == SP_KH_ERROR) {
		st = (int)ans->status;
		switch (st) {
		case SP_ERR_NOTFOUND:
			return sp_err_set(err, st, "key holder: no such master key");
		case SP_ERR_AUTH:
			return sp_err_set(err, st, "key holder: wrapped key does not authenticate");
		case SP_ERR_RETRY:
			return sp_err_set(err, st, "key holder: busy");
		}
		return sp_err_set(err, SP_ERR_INTERNAL, "key holder refused the request (%s)",
		    sp_status_str(st));
	}
	return SP_OK;
}

static int
remote_wrap(struct sp_keywrap *base, const char *aad, const unsigned char *part,
    unsigned char *out, uint32_t *key_id, struct sp_err *err)
{
	struct kw_remote *kw = (struct kw_remote *)base;
	struct sp_kh_msg req, ans;
	int st;

	if (strlen(aad) > SP_KH_AAD_MAX)
		return sp_err_set(err, SP_ERR_INVALID, "associated data too long");
	memset(&req, 0, sizeof(req));
	req.type = SP_KH_WRAP;
	memcpy(req.aad, aad, strlen(aad) + 1);
	memcpy(req.part, part, SP_KEY_LEN);
	pthread_mutex_lock(&kw->mu);
	st = remote_call(kw, &req, SP_KH_WRAP_OK, &ans, err);
	if (st == SP_OK)
		kw->current = ans.key_id;
	pthread_mutex_unlock(&kw->mu);
	if (st == SP_OK) {
		memcpy(out, ans.wrapped, SP_KEYWRAP_LEN);
		*key_id = ans.key_id;
	}
	sp_wipe(&req, sizeof(req));
	sp_wipe(&ans, sizeof(ans));
	return st;
}

static int
remote_unwrap(struct sp_keywrap *base, uint32_t key_id, const char *aad,
    const unsigned char *in, size_t inlen, unsigned char *part, struct sp_err *err)
{
	struct kw_remote *kw = (struct kw_remote *)base;
	struct sp_kh_msg req, ans;
	int st;

	if (inlen != SP_KEYWRAP_LEN)
		return sp_err_set(err, SP_ERR_AUTH, "wrapped key has the wrong size");
	if (key_id == 0 || key_id > SP_KH_KEY_ID_MAX)
		return sp_err_set(err, SP_ERR_NOTFOUND, "master key %u is not loaded", key_id);
	if (strlen(aad) > SP_KH_AAD_MAX)
		return sp_err_set(err, SP_ERR_INVALID, "associated data too long");
	memset(&req, 0, sizeof(req));
	req.type = SP_KH_UNWRAP;
	req.key_id = key_id;
	memcpy(req.aad, aad, strlen(aad) + 1);
	memcpy(req.wrapped, in, SP_KEYWRAP_LEN);
	pthread_mutex_lock(&kw->mu);
	st = remote_call(kw, &req, SP_KH_UNWRAP_OK, &ans, err);
	pthread_mutex_unlock(&kw->mu);
	if (st == SP_OK)
		memcpy(part, ans.part, SP_KEY_LEN);
	sp_wipe(&req, sizeof(req));
	sp_wipe(&ans, sizeof(ans));
	return st;
}

static uint32_t
remote_current(struct sp_keywrap *base)
{
	struct kw_remote *kw = (struct kw_remote *)base;
	uint32_t c;

	pthread_mutex_lock(&kw->mu);
	c = kw->current;
	pthread_mutex_unlock(&kw->mu);
	return c;
}

static int
remote_alive(struct sp_keywrap *base)
{
	struct kw_remote *kw = (struct kw_remote *)base;
	int alive;

	pthread_mutex_lock(&kw->mu);
	alive = !kw->dead;
	pthread_mutex_unlock(&kw->mu);
	return alive;
}

static void
remote_free(struct sp_keywrap *base)
{
	struct kw_remote *kw = (struct kw_remote *)base;

	if (kw->fd >= 0)
		close(kw->fd);
	pthread_mutex_destroy(&kw->mu);
	free(kw);
}

static const struct sp_keywrap_ops remote_ops = {
	remote_wrap, remote_unwrap, remote_current, remote_alive, remote_free,
};

int
sp_keywrap_connect(struct sp_keywrap **out, int fd, struct sp_err *err)
{
	struct kw_remote *kw;
	struct sp_kh_msg req, ans;
	int st;

	*out = NULL;
	if ((kw = calloc(1, sizeof(*kw))) == NULL) {
		close(fd);
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	}
	kw->base.ops = &remote_ops;
	kw->fd = fd;
	pthread_mutex_init(&kw->mu, NULL);
	memset(&req, 0, sizeof(req));
	req.type = SP_KH_HELLO;
	pthread_mutex_lock(&kw->mu);
	st = remote_call(kw, &req, SP_KH_HELLO_OK, &ans, err);
	if (st == SP_OK)
		kw->current = ans.key_id;
	pthread_mutex_unlock(&kw->mu);
	if (st != SP_OK) {
		remote_free(&kw->base);
		return st == SP_ERR_RETRY ? st : sp_err_set(err, SP_ERR_RETRY,
		    "the key holder did not answer HELLO");
	}
	*out = &kw->base;
	return SP_OK;
}

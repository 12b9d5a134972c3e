/*
 * keywrap_remote.h - what the key server needs of the remote keywrap
 * (keywrap.h's sp_keywrap_connect) beyond keywrap.h: unwrapping without
 * waiting, asking the key holder to read its keys again, and taking a new
 * key holder's socket once the old key holder has gone away.
 */
#ifndef SP_KEYWRAP_REMOTE_H
#define SP_KEYWRAP_REMOTE_H

#include "keywrap.h"

/* Most requests in flight on one connection; a caller beyond them waits
 * for a slot (within the same deadline). */
#define SP_KH_WINDOW 256

/* Called once with the outcome of sp_keywrap_unwrap_async(): st SP_OK
 * with part (SP_KEY_LEN bytes, wiped after the call returns), or the
 * failure as sp_keywrap_unwrap() reports it (SP_ERR_RETRY: the key holder
 * is gone or late; SP_ERR_AUTH, SP_ERR_NOTFOUND, ...) with err.  It runs on
 * the connection's reading thread, or on the caller's before
 * sp_keywrap_unwrap_async() returns: it must not block. */
typedef void (*sp_keywrap_done_fn)(void *arg, int st, const unsigned char *part,
    const struct sp_err *err);

/* Unwrap like sp_keywrap_unwrap() without waiting: the request is sent and
 * done(arg, ...) called when the answer comes, or when the connection
 * fails or the request's deadline (SP_KH_TIMEOUT_MS) passes.  SP_OK: done
 * will be (or has been) called exactly once.  Anything else: the request
 * was refused before it was sent, and done is never called. */
int sp_keywrap_unwrap_async(struct sp_keywrap *kw, uint32_t key_id, const char *aad,
    const unsigned char *in, size_t inlen, sp_keywrap_done_fn done, void *arg,
    struct sp_err *err);

/* Ask the key holder to read its keys again (RELOAD; after `sealpost key
 * rotate`) and wait for its answer, at most SP_KH_TIMEOUT_MS.  SP_OK: *key_id
 * (may be NULL) is the key new wraps now use, which sp_keywrap_current()
 * reports from then on.  Else the key holder's status (it keeps the keys it
 * had) or SP_ERR_RETRY (the connection is dead or late), with err.
 * SP_ERR_INVALID when kw is not remote.  Requests sent before it are
 * answered under the keys before. */
int sp_keywrap_reload(struct sp_keywrap *kw, uint32_t *key_id, struct sp_err *err);

/* Give kw, made by sp_keywrap_connect(), a new connection fd (kw owns it)
 * and ask it HELLO.  The old connection is ended first: whatever still
 * waits on it is answered SP_ERR_RETRY, and no frame meant for it reaches
 * the new one.  SP_OK: calls work again; else kw stays dead (SP_ERR_RETRY)
 * and fd is closed.  SP_ERR_INVALID when kw is not remote. */
int sp_keywrap_reconnect(struct sp_keywrap *kw, int fd, struct sp_err *err);

#endif

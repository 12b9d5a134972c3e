/*
 * keywrap.h - the master keys and the wrapping of per-message server key
 * parts (and TOTP secrets) under them, with two implementations behind the
 * same functions:
 *
 *  - local (sp_keywrap_load): the master keys themselves, read from files
 *    DIR/master-N.key (32 random bytes, mode 0600, N = key id >= 1).  Only
 *    the key holder (src/keyholder/) and the administrator's `sealpost key`
 *    use it.
 *  - remote (sp_keywrap_connect): a client of the key holder over a socket
 *    (khproto.h); the key server uses it and never sees a master key.
 *
 * The highest id wraps new parts, every loaded id can unwrap, so the master
 * key rotates by adding a file.  Wrapped form: nonce (12) || AES-256-GCM
 * (part) (32) || tag (16), with associated data naming what is wrapped (the
 * envelope id, "totp:EMAIL"), so a wrapped part moved to another row does
 * not unwrap.
 * SECURITY: the local implementation holds master keys in memory (wiped by
 * sp_keywrap_free); the remote one holds only the socket.
 */
#ifndef SP_KEYWRAP_H
#define SP_KEYWRAP_H

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "sp.h"

#define SP_KEYWRAP_LEN (SP_GCM_NONCE_LEN + SP_KEY_LEN + SP_GCM_TAG_LEN)
#define SP_KEYWRAP_MAX_KEYS 64
#define SP_KEYWRAP_SUBDIR "keys"	/* DATA/keys/: the key holder's directory */

struct sp_keywrap;

/* Load every DIR/master-N.key; when there is none and create is non-zero,
 * create DIR/master-1.key atomically (O_EXCL, 0600).  SP_ERR_CONFIG when a
 * key file is unreadable, has the wrong size or loose permissions, or when
 * there is no key and create is zero.  *kw is freed with sp_keywrap_free(). */
int sp_keywrap_load(struct sp_keywrap **kw, const char *dir, int create,
    struct sp_err *err);
/* The same with the directory given as an open descriptor (kept open by the
 * caller; the key holder loads again after giving up root).  name is used
 * in messages only. */
int sp_keywrap_load_at(struct sp_keywrap **kw, int dirfd, const char *name,
    int create, struct sp_err *err);

/* The directory that holds the master keys of data directory data_dir:
 * DATA/keys, unless that does not exist and DATA itself holds master-N.key
 * files (the layout before the key holder).  out gets the path;
 * *old_layout (may be NULL) is 1 for the old layout. */
int sp_keywrap_dir(const char *data_dir, char *out, size_t outsz, int *old_layout,
    struct sp_err *err);

/* Add master key N+1 to dir, N the highest id there (1 when there is
 * none): 32 random bytes written to a temporary file, synced, linked into
 * place (never overwrites) and owned like dir when run as root.  *id gets
 * the new id. */
int sp_keywrap_add_key(const char *dir, uint32_t *id, struct sp_err *err);

/* Talk to a key holder over fd (a connected stream socket; *kw owns it and
 * closes it on free).  Asks for the current key id first (HELLO): a key
 * holder that does not answer in time is SP_ERR_RETRY.  Safe to use from
 * many threads, whose requests are in flight together (keywrap_remote.h).
 * Once the key holder has gone away or answered out of turn, every call is
 * SP_ERR_RETRY (until sp_keywrap_reconnect()). */
int sp_keywrap_connect(struct sp_keywrap **kw, int fd, struct sp_err *err);

/* Wipe and free; NULL ok. */
void sp_keywrap_free(struct sp_keywrap *kw);

/* The id that sp_keywrap_wrap() uses (remote: as last told by the key
 * holder, which may move on after a reload). */
uint32_t sp_keywrap_current(struct sp_keywrap *kw);

/* 1 while wrap and unwrap can work (remote: the key holder is there). */
int sp_keywrap_alive(struct sp_keywrap *kw);

/* Wrap part under the current key; out gets SP_KEYWRAP_LEN bytes and
 * *key_id its key.  Remote: SP_ERR_RETRY when the key holder is gone. */
int sp_keywrap_wrap(struct sp_keywrap *kw, const char *aad,
    const unsigned char part[SP_KEY_LEN], unsigned char out[SP_KEYWRAP_LEN],
    uint32_t *key_id, struct sp_err *err);
/* Unwrap with key key_id: SP_ERR_NOTFOUND (no such key), SP_ERR_AUTH
 * (wrong size, tampered, other associated data), remote: SP_ERR_RETRY. */
int sp_keywrap_unwrap(struct sp_keywrap *kw, uint32_t key_id,
    const char *aad, const unsigned char *in, size_t inlen,
    unsigned char part[SP_KEY_LEN], struct sp_err *err);

#endif

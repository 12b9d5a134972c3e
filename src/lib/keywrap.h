/*
 * keywrap.h - the key server's master keys and the wrapping of per-message
 * server key parts under them.  Master keys are files DIR/master-N.key (32
 * random bytes, mode 0600, N = key id >= 1); the highest id wraps new parts,
 * every loaded id can unwrap, so the master key can rotate by adding a file.
 * Wrapped form: nonce (12) || AES-256-GCM(part) (32) || tag (16), with the
 * envelope id as associated data, so a wrapped part moved to another
 * envelope's row does not unwrap.
 * SECURITY: holds master keys in memory (wiped by sp_keywrap_free).
 */
#ifndef SP_KEYWRAP_H
#define SP_KEYWRAP_H

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "sp.h"

#define SP_KEYWRAP_LEN (SP_GCM_NONCE_LEN + SP_KEY_LEN + SP_GCM_TAG_LEN)
#define SP_KEYWRAP_MAX_KEYS 64

struct sp_keywrap;

/* Load every DIR/master-N.key; when there is none and create is non-zero,
 * create DIR/master-1.key atomically (O_EXCL, 0600).  SP_ERR_CONFIG when a
 * key file is unreadable, has the wrong size or loose permissions, or when
 * there is no key and create is zero.  *kw is freed with sp_keywrap_free(). */
int sp_keywrap_load(struct sp_keywrap **kw, const char *dir, int create,
    struct sp_err *err);
void sp_keywrap_free(struct sp_keywrap *kw);

/* The id that sp_keywrap_wrap() uses. */
uint32_t sp_keywrap_current(const struct sp_keywrap *kw);

/* Wrap part under the current key; out gets SP_KEYWRAP_LEN bytes. */
int sp_keywrap_wrap(const struct sp_keywrap *kw, const char *aad,
    const unsigned char part[SP_KEY_LEN], unsigned char out[SP_KEYWRAP_LEN],
    uint32_t *key_id, struct sp_err *err);
/* Unwrap with key key_id: SP_ERR_NOTFOUND (no such key), SP_ERR_AUTH. */
int sp_keywrap_unwrap(const struct sp_keywrap *kw, uint32_t key_id,
    const char *aad, const unsigned char *in, size_t inlen,
    unsigned char part[SP_KEY_LEN], struct sp_err *err);

#endif

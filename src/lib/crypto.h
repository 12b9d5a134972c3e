/*
 * crypto.h - thin, checked wrappers over OpenSSL libcrypto: randomness,
 * SHA-256, HKDF-SHA256, one-shot AES-256-GCM, base64 / base64url, hex, constant
 * time comparison and wiping.  No primitive is implemented here.
 * SECURITY: callers wipe keys with sp_wipe() when done.
 */
#ifndef SP_CRYPTO_H
#define SP_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define SP_KEY_LEN 32		/* AES-256 key, key parts */
#define SP_GCM_NONCE_LEN 12
#define SP_GCM_TAG_LEN 16
#define SP_SHA256_LEN 32

int sp_random(void *p, size_t n);
int sp_sha256(const void *p, size_t n, unsigned char out[SP_SHA256_LEN]);
int sp_hkdf_sha256(unsigned char *out, size_t outlen,
    const void *salt, size_t saltlen, const void *ikm, size_t ikmlen,
    const void *info, size_t infolen);

/* AES-256-GCM.  seal writes ptlen bytes of ciphertext then the 16-byte tag
 * to out (room for ptlen + 16).  open reads ctlen >= 16 bytes (ciphertext
 * then tag) and writes ctlen - 16 bytes; SP_ERR_AUTH when the tag fails (out
 * is wiped then).  out may equal in. */
int sp_gcm_seal(const unsigned char key[SP_KEY_LEN],
    const unsigned char nonce[SP_GCM_NONCE_LEN], const void *aad, size_t aadlen,
    const unsigned char *in, size_t ptlen, unsigned char *out);
int sp_gcm_open(const unsigned char key[SP_KEY_LEN],
    const unsigned char nonce[SP_GCM_NONCE_LEN], const void *aad, size_t aadlen,
    const unsigned char *in, size_t ctlen, unsigned char *out);

/* Standard base64 (RFC 4648 section 4).  encode appends to out; when
 * line_len > 0 a '\n' follows every line_len characters and the last line.
 * decode skips ASCII whitespace, rejects anything else that is not in the
 * alphabet and appends the bytes to out. */
int sp_b64_encode(struct sp_buf *out, const void *p, size_t n, size_t line_len);
int sp_b64_decode(struct sp_buf *out, const char *s, size_t n);
/* base64url without padding (RFC 4648 section 5), for ids, tokens, keys. */
int sp_b64url_encode(struct sp_buf *out, const void *p, size_t n);
/* Decodes exactly outlen bytes; SP_ERR_INVALID on any other length. */
int sp_b64url_decode_exact(const char *s, size_t n, unsigned char *out, size_t outlen);
/* Lower-case hex of p[0..n) to out (room for 2n + 1), NUL-terminated. */
void sp_hex_encode(const unsigned char *p, size_t n, char *out);
/* Decodes exactly outlen bytes from hex digits (either case) s[0..n);
 * SP_ERR_INVALID on any other length or a character that is not a digit. */
int sp_hex_decode_exact(const char *s, size_t n, unsigned char *out, size_t outlen);

int sp_ct_eq(const void *a, const void *b, size_t n);	/* 1 when equal */
void sp_wipe(void *p, size_t n);

/* A random token: prefix followed by base64url of nbytes random bytes,
 * written NUL-terminated to out (room for strlen(prefix) + 4*nbytes/3 + 4). */
int sp_token_new(char *out, size_t outsz, const char *prefix, size_t nbytes);

#endif

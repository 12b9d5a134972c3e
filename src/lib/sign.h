/*
 * sign.h - an organisation's Ed25519 signing key (OpenSSL EVP) and the
 * envelope signature of format 2 (docs/envelope-format.md section 7).
 *
 * Key files are PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----"), written mode
 * 0600 by `sealpost org add` / `org key rotate` and read by the sealer
 * (`sealpost seal --sign-key`, the milter's sign_key setting).  The key
 * server holds only public keys, named by their kid: base64url (no padding)
 * of the first 8 bytes of SHA-256 of the 32-byte public key.
 *
 * The signed message of an envelope is
 *   "sealpost envelope v2 signature\n" || SHA-256(header bytes) ||
 *   SHA-256(ciphertext stream)
 * so a signature covers the exact header and every ciphertext byte.
 * SECURITY: the private key never leaves the sender's side; it is freed
 * (and wiped by OpenSSL) with sp_signer_free().
 */
#ifndef SP_SIGN_H
#define SP_SIGN_H

#include <stddef.h>

#include "buf.h"
#include "crypto.h"
#include "sp.h"

#define SP_SIGN_PUB_LEN 32
#define SP_SIGN_SIG_LEN 64
#define SP_SIGN_KID_LEN 11	/* characters of a kid */
#define SP_SIGN_LABEL "sealpost envelope v2 signature\n"

struct sp_signer;

/* Make a new key: *s owned by the caller (sp_signer_free), pem gets the
 * private key in PKCS#8 PEM (wipe it with sp_buf_wipe when done). */
int sp_signer_generate(struct sp_signer **s, struct sp_buf *pem, struct sp_err *err);
/* The key of a 32-byte Ed25519 seed (RFC 8032 private key), for a key
 * kept wrapped rather than in a file (the key server's reply keys).  The
 * caller wipes seed. */
#define SP_SIGN_SEED_LEN 32
int sp_signer_from_seed(struct sp_signer **s, const unsigned char seed[SP_SIGN_SEED_LEN],
    struct sp_err *err);
/* Read a PEM private key file (must be Ed25519).  SP_ERR_IO unreadable,
 * SP_ERR_INVALID not an Ed25519 private key. */
int sp_signer_load(struct sp_signer **s, const char *path, struct sp_err *err);
/* Write pem to path, created with mode 0600 (SP_ERR_EXISTS when it exists). */
int sp_signer_write_pem(const char *path, const struct sp_buf *pem, struct sp_err *err);
void sp_signer_free(struct sp_signer *s);
/* The public key and its kid (NUL-terminated). */
void sp_signer_pub(const struct sp_signer *s, unsigned char pub[SP_SIGN_PUB_LEN]);
void sp_signer_kid(const struct sp_signer *s, char kid[SP_SIGN_KID_LEN + 1]);
void sp_sign_kid(const unsigned char pub[SP_SIGN_PUB_LEN], char kid[SP_SIGN_KID_LEN + 1]);

/* The message an envelope signature covers (label || hsha || csha). */
#define SP_SIGN_MSG_LEN (sizeof(SP_SIGN_LABEL) - 1 + 2 * SP_SHA256_LEN)
void sp_sign_envelope_msg(const unsigned char header_sha[SP_SHA256_LEN],
    const unsigned char ct_sha[SP_SHA256_LEN], unsigned char out[SP_SIGN_MSG_LEN]);
/* Sign the envelope whose header and ciphertext have these digests. */
int sp_signer_sign_envelope(const struct sp_signer *s,
    const unsigned char header_sha[SP_SHA256_LEN], const unsigned char ct_sha[SP_SHA256_LEN],
    unsigned char sig[SP_SIGN_SIG_LEN], struct sp_err *err);
/* SP_OK when sig is pub's signature of that envelope, else SP_ERR_AUTH. */
int sp_sign_verify_envelope(const unsigned char pub[SP_SIGN_PUB_LEN],
    const unsigned char header_sha[SP_SHA256_LEN], const unsigned char ct_sha[SP_SHA256_LEN],
    const unsigned char sig[SP_SIGN_SIG_LEN]);

#endif

/*
 * totp.h - time-based one-time passwords (RFC 6238 over RFC 4226 HOTP with
 * HMAC-SHA1, 30 s steps, 6 digits by default), the base32 form of their
 * secrets (RFC 4648 section 6), the otpauth:// URI that authenticator apps
 * scan, and single-use recovery codes.
 *
 * The caller stores the secret (encrypted or at least access-controlled),
 * the last time step it accepted, and a hash of each recovery code in its
 * normalised form; this module keeps no state.
 * SECURITY: handles second-factor secrets and user-typed codes; codes are
 * compared in constant time and every intermediate copy is wiped.
 */
#ifndef SP_TOTP_H
#define SP_TOTP_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "sp.h"

#define SP_TOTP_SECRET_LEN 20	/* bytes of a new secret (160 bits, RFC 4226 advice) */
#define SP_TOTP_SECRET_MAX 64	/* largest secret accepted anywhere */
#define SP_TOTP_STEP 30		/* seconds per time step */
#define SP_TOTP_DIGITS 6	/* digits of a code by default */
#define SP_TOTP_DIGITS_MIN 6
#define SP_TOTP_DIGITS_MAX 8
#define SP_TOTP_CODE_SIZE (SP_TOTP_DIGITS_MAX + 1)	/* room for a code and its NUL */
#define SP_TOTP_WINDOW 1	/* steps accepted either side of now */
#define SP_TOTP_INPUT_MAX 64	/* bytes of a typed code accepted at all */
#define SP_BASE32_MAX 128	/* characters sp_base32_decode accepts at most */
#define SP_TOTP_LABEL_MAX 256	/* bytes of an issuer or account name */

#define SP_RECOVERY_CHARS 10	/* symbols per recovery code, 5 bits each */
#define SP_RECOVERY_SIZE 13	/* "xxxx-xxxx-xx" and its NUL */
#define SP_RECOVERY_NORM_SIZE (SP_RECOVERY_CHARS + 1)	/* normalised form and NUL */
#define SP_RECOVERY_MAX_COUNT 32	/* codes per sp_recovery_codes_new call */

/* Fill secret with SP_TOTP_SECRET_LEN random bytes.  SP_OK or
 * SP_ERR_INTERNAL.  The caller wipes it (sp_wipe) when done. */
int sp_totp_secret_new(unsigned char secret[SP_TOTP_SECRET_LEN]);

/* Append the base32 form of p[0..n) (upper case, no '=' padding) to out.
 * SP_OK, or the buffer's status (SP_ERR_TOOBIG past its cap). */
int sp_base32_encode(struct sp_buf *out, const void *p, size_t n);

/* Decode base32 text s[0..n) (case-insensitive, at most SP_BASE32_MAX
 * characters, no padding, no white space, unused trailing bits zero) into
 * out (outsz bytes); *outlen receives the byte count.  SP_ERR_INVALID with a
 * message in err for any other input, SP_ERR_TOOBIG when out is too small.
 * out may hold a partial result on failure; it is wiped then. */
int sp_base32_decode(const char *s, size_t n, unsigned char *out, size_t outsz,
    size_t *outlen, struct sp_err *err);

/* Append "otpauth://totp/ISSUER:ACCOUNT?secret=B32&issuer=ISSUER&algorithm=
 * SHA1&digits=6&period=30" to out, issuer and account percent-encoded (all
 * but RFC 3986 unreserved characters).  issuer and account are
 * NUL-terminated, 1 to SP_TOTP_LABEL_MAX bytes; secret is 1 to
 * SP_TOTP_SECRET_MAX bytes.  SP_ERR_INVALID for bad arguments, or the
 * buffer's status.  SECURITY: out then holds the secret; sp_buf_wipe it. */
int sp_totp_uri(struct sp_buf *out, const char *issuer, const char *account,
    const unsigned char *secret, size_t secret_len, struct sp_err *err);

/* The time step of a Unix time: floor(unix_time / SP_TOTP_STEP). */
uint64_t sp_totp_step(uint64_t unix_time);

/* Write the digits-digit code (SP_TOTP_DIGITS_MIN..SP_TOTP_DIGITS_MAX) of
 * time step `step` as a NUL-terminated decimal string into out.  SP_OK,
 * SP_ERR_INVALID for bad arguments, SP_ERR_INTERNAL when HMAC fails. */
int sp_totp_code(const unsigned char *secret, size_t secret_len, uint64_t step,
    unsigned digits, char out[SP_TOTP_CODE_SIZE]);

/* Check a code as typed (code: NUL-terminated; ASCII spaces are ignored,
 * anything else but exactly `digits` decimal digits is refused) against the
 * steps within SP_TOTP_WINDOW of now's step.  last_step is the step the
 * caller last accepted for this secret (0 when none): a code of that step or
 * an earlier one is refused, so a code works once.  On SP_OK *matched_step
 * (may be NULL) is the accepted step, which the caller stores as the new
 * last_step.  Returns SP_OK, SP_ERR_DENIED (wrong code), SP_ERR_REPLAY
 * (right code, but its step was already used), SP_ERR_INVALID (not a code
 * of this form, bad arguments), SP_ERR_INTERNAL. */
int sp_totp_verify(const unsigned char *secret, size_t secret_len, unsigned digits,
    const char *code, uint64_t now, uint64_t last_step, uint64_t *matched_step,
    struct sp_err *err);

/* Generate count (1..SP_RECOVERY_MAX_COUNT) recovery codes into codes[i],
 * each "xxxx-xxxx-xx" over the alphabet 0-9 a-z without i, l, o, u (50
 * random bits).  SP_OK or SP_ERR_INVALID / SP_ERR_INTERNAL (then codes are
 * wiped).  The caller shows them once, stores only hashes of their
 * normalised forms and wipes the array. */
int sp_recovery_codes_new(char (*codes)[SP_RECOVERY_SIZE], size_t count);

/* Normalise a typed recovery code (NUL-terminated) for hashing: spaces and
 * dashes dropped, letters lower-cased, 'i' and 'l' read as '1' and 'o' as
 * '0' (they are not in the alphabet).  Writes the SP_RECOVERY_CHARS symbols
 * and a NUL into out.  SP_ERR_INVALID (out emptied) when what is left is not
 * SP_RECOVERY_CHARS symbols of the alphabet. */
int sp_recovery_normalize(const char *code, char out[SP_RECOVERY_NORM_SIZE],
    struct sp_err *err);

/* The stored form of the normalised recovery code norm of the account
 * email: Argon2id (8 MiB, 2 passes) of norm, salted with the first 16 bytes
 * of SHA-256("sealpost recovery salt:" email), 32 bytes into out.  A
 * database thief has to pay one Argon2id per guess of a 50-bit code, per
 * account.  Deterministic, so that the store finds a typed code by equality;
 * the parameters are fixed (stored hashes depend on them).  SP_OK,
 * SP_ERR_INVALID (bad arguments) or SP_ERR_NOMEM / SP_ERR_INTERNAL (out
 * wiped).  About 20 ms of CPU: callers run on a worker (keyd_work.h). */
int sp_recovery_hash(const char *email, const char *norm, unsigned char out[32]);

/* The form stored before sp_recovery_hash: SHA-256 of "recovery:" email ":"
 * norm.  Still accepted for codes made then; never written any more. */
void sp_recovery_hash_v1(const char *email, const char *norm, unsigned char out[32]);

#endif

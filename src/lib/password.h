/*
 * password.h - recipient password policy (NIST SP 800-63B) and Argon2id
 * hashing of passwords and security answers (libsodium crypto_pwhash_str at
 * the INTERACTIVE limits).
 *
 * Policy: the password is normalised to NFKC; it must be 8 to 256 code
 * points long; any Unicode is allowed and there are no composition rules;
 * it must not be a common password (the embedded list
 * portal/common-passwords.txt, compared case-insensitively) nor contain a
 * context word (the email's local part, the first label of its domain, the
 * organisation's name, "sealpost").  A refusal carries a sentence for the
 * person in err.
 *
 * Argon2 work passes a gate of at most N concurrent hashes/verifies (default
 * 2); a caller that waits longer than the gate's wait gets SP_ERR_RETRY, so a
 * flood of logins cannot take every thread and all memory.
 * SECURITY: handles passwords; intermediate copies are wiped.
 */
#ifndef SP_PASSWORD_H
#define SP_PASSWORD_H

#include <stddef.h>

#include "sp.h"

#define SP_PW_MIN 8		/* code points */
#define SP_PW_MAX 256		/* code points */
#define SP_PW_MAX_BYTES 1024	/* raw input bytes accepted at all */
#define SP_PW_HASH_LEN 128	/* crypto_pwhash_STRBYTES */

struct sp_pw_context {
	const char *email;	/* may be NULL */
	const char *org;	/* may be NULL */
};

/* Configure the Argon2 gate (call once before threads start; defaults
 * max_concurrent 2, wait_ms 2000). */
void sp_password_gate_config(int max_concurrent, int wait_ms);

/* NFKC-normalise UTF-8 text s (n bytes).  *out is malloc'd (caller frees,
 * after sp_wipe for secrets).  SP_ERR_INVALID for invalid UTF-8 or NUL. */
int sp_password_normalize(const char *s, size_t n, char **out, struct sp_err *err);

/* Check pw (NUL-terminated UTF-8) against the policy: SP_OK, or
 * SP_ERR_INVALID with a sentence in err. */
int sp_password_check(const char *pw, const struct sp_pw_context *ctx,
    struct sp_err *err);

/* Hash the normalised pw into out (NUL-terminated). SP_ERR_RETRY when busy. */
int sp_password_hash(const char *pw, char out[SP_PW_HASH_LEN], struct sp_err *err);
/* SP_OK when pw matches hash, SP_ERR_AUTH when not, SP_ERR_RETRY when busy.
 * With hash NULL a verify against a fixed dummy hash is spent and
 * SP_ERR_AUTH returned (so unknown accounts cost the same time). */
int sp_password_verify(const char *hash, const char *pw, struct sp_err *err);

/* Security answers: NFKC, case-folded, trimmed, inner white space collapsed
 * to one space; *out malloc'd.  SP_ERR_INVALID when empty afterwards. */
int sp_answer_normalize(const char *s, char **out, struct sp_err *err);
/* Hash / verify a security answer (normalised first); as for passwords. */
int sp_answer_hash(const char *answer, char out[SP_PW_HASH_LEN], struct sp_err *err);
int sp_answer_verify(const char *hash, const char *answer, struct sp_err *err);

#endif

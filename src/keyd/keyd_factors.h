/*
 * keyd_factors.h - second factors inside sealpost-keyd (keyd_factors.c):
 * checking a TOTP code, a recovery code or a passkey assertion for an
 * account, the passkey options of a log-in's second step, and the WebAuthn
 * challenges.
 */
#ifndef KEYD_FACTORS_H
#define KEYD_FACTORS_H

#include <jansson.h>

#include "keyd_req.h"

/* SP_OK when code is the account's current TOTP code (and not used
 * before); SP_ERR_AUTH otherwise; SP_ERR_RETRY when the store is busy. */
int keyd_factor_totp_check(struct keyd_req *r, const char *email, const char *code);
/* SP_OK when code is one of the account's unused recovery codes (now used). */
int keyd_factor_recovery_use(struct keyd_req *r, const char *email, const char *code);
/* SP_OK when assertion (id, clientDataJSON, authenticatorData, signature,
 * base64url) is a valid passkey assertion of one of email's passkeys over
 * a challenge we issued for email. */
int keyd_factor_passkey_check(struct keyd_req *r, const char *email, json_t *assertion);
/* POST /api/v1/session/mfa/challenge {token}: the WebAuthn request options
 * (challenge, rpId, allowCredentials) for the account of the log-in token. */
enum MHD_Result keyd_factor_passkey_options(struct keyd_req *r);
/* [{type:"public-key", id}] of email's passkeys (new reference). */
json_t *keyd_passkey_list_json(struct keyd_req *r, const char *email);
/* Decode base64url (no padding) of any length into out (cap bytes);
 * -1 when it is not base64url or too long. */
long keyd_b64url_decode(const char *s, unsigned char *out, size_t cap);
/* WebAuthn: a fresh challenge (base64url into out[64]) stored for email
 * ("" before log-in). */
int keyd_challenge_new(struct keyd_req *r, const char *email, char out[64]);
/* Check and consume the challenge inside clientDataJSON (raw bytes):
 * SP_OK when it was issued by us for email and is fresh; raw gets the
 * challenge bytes (32). */
int keyd_challenge_take(struct keyd_req *r, const char *email,
    const unsigned char *client_data, size_t len, unsigned char raw[32]);

#endif

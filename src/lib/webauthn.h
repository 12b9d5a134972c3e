/*
 * webauthn.h - server-side WebAuthn (passkey and security key) checks for
 * one relying party: a new credential from navigator.credentials.create()
 * and an assertion from navigator.credentials.get() (W3C Web
 * Authentication Level 2, sections 7.1 and 7.2).
 *
 * Attestation: every format is accepted and its statement is not verified
 * (the credential is trusted as a "none" attestation): sealpost asks for
 * attestation "none" and keeps no list of authenticator makers.  fmt
 * "none" must carry an empty statement.  See docs/decisions/0006.
 *
 * Algorithms: ES256 (COSE -7, P-256 with SHA-256) and EdDSA (COSE -8,
 * Ed25519).  The public key is returned and taken back as DER
 * SubjectPublicKeyInfo, the form PublicKeyCredential.getPublicKey() gives
 * in the browser and OpenSSL's d2i_PUBKEY reads.
 *
 * Not done here, and the caller's job: creating and remembering challenges
 * (random, at least 16 bytes, one use, short-lived), finding the stored
 * credential by its id and checking the assertion's userHandle, storing the
 * new sign count, deciding whether user verification (UV) is required.
 * SECURITY: parses untrusted browser and authenticator bytes; every length
 * is checked against the limits below before it is read; CBOR is walked
 * with a depth limit before libcbor sees it; challenges are compared in
 * constant time.
 */
#ifndef SP_WEBAUTHN_H
#define SP_WEBAUTHN_H

#include <stddef.h>
#include <stdint.h>

#include "sp.h"

#define SP_WA_CLIENT_DATA_MAX 4096	/* clientDataJSON bytes */
#define SP_WA_ATT_OBJ_MAX 16384		/* attestationObject bytes */
#define SP_WA_AUTH_DATA_MAX 4096	/* authenticatorData bytes of an assertion */
#define SP_WA_SIG_MAX 256		/* signature bytes */
#define SP_WA_CHALLENGE_MIN 16		/* challenge bytes */
#define SP_WA_CHALLENGE_MAX 64
#define SP_WA_RP_ID_MAX 253		/* a DNS name or an IP address */
#define SP_WA_ORIGIN_MAX 512
#define SP_WA_CRED_ID_MIN 16		/* credential id bytes */
#define SP_WA_CRED_ID_MAX 1023
#define SP_WA_COSE_KEY_MAX 1024		/* COSE_Key bytes inside authData */
#define SP_WA_PUBKEY_MAX 128		/* SubjectPublicKeyInfo DER (P-256: 91, Ed25519: 44) */
#define SP_WA_FMT_MAX 32		/* attestation format name and NUL */
#define SP_WA_CBOR_DEPTH 8		/* nesting of CBOR arrays, maps and tags */

#define SP_WA_ES256 (-7)		/* COSE algorithm identifiers */
#define SP_WA_EDDSA (-8)

/* authenticatorData flag bits, as in the flags byte */
#define SP_WA_FLAG_UP 0x01u		/* user present */
#define SP_WA_FLAG_UV 0x04u		/* user verified (PIN, biometric) */
#define SP_WA_FLAG_BE 0x08u		/* backup eligible: a synced passkey */
#define SP_WA_FLAG_BS 0x10u		/* backed up */
#define SP_WA_FLAG_AT 0x40u		/* attested credential data present */
#define SP_WA_FLAG_ED 0x80u		/* extension data present */

/* The relying party: rp_id as the browser was given it (a registrable
 * domain or the host, e.g. "keys.example.org" or "127.0.0.1"); origin the
 * exact scheme://host[:port] of the page (e.g. "http://127.0.0.1:8080").
 * Both NUL-terminated. */
struct sp_webauthn_rp {
	const char *rp_id;
	const char *origin;
};

/* A verified new credential.  Owned by the caller (plain arrays, nothing to
 * free); the caller stores id, public_key, alg and sign_count. */
struct sp_webauthn_cred {
	unsigned char id[SP_WA_CRED_ID_MAX];
	size_t id_len;
	unsigned char public_key[SP_WA_PUBKEY_MAX];	/* SubjectPublicKeyInfo DER */
	size_t public_key_len;
	int alg;			/* SP_WA_ES256 or SP_WA_EDDSA */
	uint32_t sign_count;
	unsigned flags;			/* SP_WA_FLAG_* bits */
	unsigned char aaguid[16];	/* authenticator model, zero when not told */
	char fmt[SP_WA_FMT_MAX];	/* attestation format as sent, e.g. "none" */
};

/* What the browser sends back from navigator.credentials.get(), decoded
 * from base64url by the caller.  Pointers are borrowed. */
struct sp_webauthn_assertion {
	const unsigned char *client_data;	/* clientDataJSON */
	size_t client_data_len;
	const unsigned char *auth_data;		/* authenticatorData */
	size_t auth_data_len;
	const unsigned char *signature;		/* ES256: DER ECDSA-Sig-Value; EdDSA: 64 bytes */
	size_t signature_len;
};

struct sp_webauthn_result {
	uint32_t sign_count;	/* the authenticator's new counter: store it */
	unsigned flags;		/* SP_WA_FLAG_* bits (UV tells a verified user) */
};

/* Verify a registration: clientDataJSON (type "webauthn.create", challenge,
 * origin, crossOrigin not true) and attestationObject (CBOR map of fmt,
 * attStmt, authData; rpIdHash == SHA-256(rp_id), UP and AT set, credential
 * id SP_WA_CRED_ID_MIN..MAX bytes, an ES256 or EdDSA key), challenge being
 * the SP_WA_CHALLENGE_MIN..MAX bytes the server issued.  On SP_OK *out is
 * filled; on failure it is zeroed.  Returns SP_OK, SP_ERR_DENIED (challenge
 * does not match), SP_ERR_INVALID (anything else wrong; err names the
 * check), SP_ERR_NOMEM, SP_ERR_INTERNAL. */
int sp_webauthn_verify_registration(const struct sp_webauthn_rp *rp,
    const unsigned char *challenge, size_t challenge_len,
    const unsigned char *client_data, size_t client_data_len,
    const unsigned char *att_obj, size_t att_obj_len,
    struct sp_webauthn_cred *out, struct sp_err *err);

/* Verify an assertion against a stored credential (public_key: SPKI DER as
 * returned at registration; alg; stored_count: the last sign count stored):
 * clientDataJSON (type "webauthn.get", challenge, origin, crossOrigin not
 * true), authenticatorData (rpIdHash, UP set, no attested credential data,
 * nothing after its end), the signature over authenticatorData ||
 * SHA-256(clientDataJSON), then the counter: when either count is non-zero
 * the new one must be greater than the stored one.  Returns SP_OK (*out
 * filled), SP_ERR_DENIED (bad signature or challenge), SP_ERR_REPLAY (the
 * counter did not go up: a cloned authenticator or a replay; the signature
 * was good, *out is filled so the caller can record it), SP_ERR_INVALID
 * (anything else wrong; err names it), SP_ERR_NOMEM, SP_ERR_INTERNAL. */
int sp_webauthn_verify_assertion(const struct sp_webauthn_rp *rp,
    const unsigned char *challenge, size_t challenge_len,
    const unsigned char *public_key, size_t public_key_len, int alg,
    uint32_t stored_count, const struct sp_webauthn_assertion *in,
    struct sp_webauthn_result *out, struct sp_err *err);

#endif

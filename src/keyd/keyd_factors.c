/*
 * keyd_factors.c - second factors of an account inside sealpost-keyd:
 * TOTP codes (the secret kept wrapped under the master key), recovery
 * codes (only salted SHA-256 hashes kept; each works once) and passkeys
 * (WebAuthn assertions checked by webauthn.h against the stored public
 * key, over a challenge this server issued for this account), and those
 * challenges (single use, stored hashed, 5 minutes).
 * SECURITY: codes are compared by the library in constant time; a TOTP
 * time step is accepted once (replays refused); the unwrapped TOTP secret
 * is wiped after use.  Recovery codes carry 50 random bits: a thief of the
 * database still needs the password too (see docs/keyd.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto.h"
#include "keyd_factors.h"
#include "totp.h"
#include "webauthn.h"

long
keyd_b64url_decode(const char *s, unsigned char *out, size_t cap)
{
	struct sp_buf tmp, dec;
	size_t n, i;
	long ret = -1;

	if (s == NULL || (n = strlen(s)) == 0 || n > cap * 2 + 8)
		return -1;
	sp_buf_init(&tmp, n + 8);
	sp_buf_init(&dec, cap + 8);
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (c == '-')
			c = '+';
		else if (c == '_')
			c = '/';
		else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
			goto out;
		sp_buf_append(&tmp, &c, 1);
	}
	while (tmp.len % 4 != 0)
		sp_buf_append(&tmp, "=", 1);
	if (sp_b64_decode(&dec, (const char *)tmp.data, tmp.len) == SP_OK && dec.len <= cap) {
		memcpy(out, dec.data, dec.len);
		ret = (long)dec.len;
	}
out:
	sp_buf_wipe(&tmp);
	sp_buf_wipe(&dec);
	return ret;
}

/* The account's TOTP secret, unwrapped: [0] = length, then the secret. */
static int
totp_secret(struct keyd_req *r, const struct sp_account *acc, unsigned char box[SP_KEY_LEN])
{
	char aad[SP_STORE_EMAIL_MAX + 8];
	struct sp_err err = {{0}};
	int st;

	if (acc->totp_wrapped_len == 0)
		return SP_ERR_NOTFOUND;
	snprintf(aad, sizeof(aad), "totp:%s", acc->email);
	st = sp_keywrap_unwrap(r->k->kw, acc->totp_key_id, aad, acc->totp_wrapped,
	    acc->totp_wrapped_len, box, &err);
	if (st != SP_OK || box[0] == 0 || box[0] > SP_KEY_LEN - 1) {
		sp_wipe(box, SP_KEY_LEN);
		if (st != SP_OK)
			keyd_log("unwrap-failed", "what", "totp", "error", sp_err_msg(&err, st), NULL);
		/* the key holder away: "try again", not "wrong code" */
		return st == SP_ERR_RETRY ? SP_ERR_RETRY : SP_ERR_IO;
	}
	return SP_OK;
}

int
keyd_factor_totp_check(struct keyd_req *r, const char *email, const char *code)
{
	struct sp_account acc;
	unsigned char box[SP_KEY_LEN];
	uint64_t step = 0;
	int st;

	if ((st = sp_store_account_get(r->k->store, email, &acc, NULL)) != SP_OK)
		return st == SP_ERR_RETRY ? st : SP_ERR_AUTH;
	if ((st = totp_secret(r, &acc, box)) != SP_OK) {
		sp_wipe(&acc, sizeof(acc));
		return st == SP_ERR_RETRY ? st : SP_ERR_AUTH;
	}
	st = sp_totp_verify(box + 1, box[0], SP_TOTP_DIGITS, code, (uint64_t)time(NULL),
	    (uint64_t)(acc.totp_last_step > 0 ? acc.totp_last_step : 0), &step, NULL);
	sp_wipe(box, sizeof(box));
	sp_wipe(&acc, sizeof(acc));
	if (st != SP_OK)
		return SP_ERR_AUTH;
	/* The store accepts each step once, also against a parallel request. */
	st = sp_store_totp_step(r->k->store, email, (int64_t)step, NULL);
	return st == SP_OK ? SP_OK : st == SP_ERR_RETRY ? st : SP_ERR_AUTH;
}

int
keyd_factor_recovery_use(struct keyd_req *r, const char *email, const char *code)
{
	char norm[SP_RECOVERY_NORM_SIZE];
	unsigned char h[SP_SHA256_LEN], h1[SP_SHA256_LEN];
	struct sp_audit a = {0, "recovery-code-used", email, NULL, r->client, NULL, 0};
	int st;

	if (strlen(code) > 64 || sp_recovery_normalize(code, norm, NULL) != SP_OK)
		return SP_ERR_AUTH;
	/* the stored form (Argon2id); when no unused code has it, the SHA-256
	 * form of codes made before that (used up or replaced in time) */
	if ((st = sp_recovery_hash(email, norm, h)) != SP_OK) {
		sp_wipe(norm, sizeof(norm));
		return SP_ERR_RETRY;
	}
	st = sp_store_recovery_use(r->k->store, email, h, &a, NULL);
	if (st == SP_ERR_NOTFOUND) {
		sp_recovery_hash_v1(email, norm, h1);
		st = sp_store_recovery_use(r->k->store, email, h1, &a, NULL);
	}
	sp_wipe(norm, sizeof(norm));
	sp_wipe(h, sizeof(h));
	sp_wipe(h1, sizeof(h1));
	return st == SP_OK ? SP_OK : st == SP_ERR_RETRY ? st : SP_ERR_AUTH;
}

int
keyd_factor_passkey_check(struct keyd_req *r, const char *email, json_t *as)
{
	unsigned char id[SP_STORE_CRED_ID_MAX], sig[SP_WA_SIG_MAX], chal[32];
	unsigned char *cdp = NULL, *adp = NULL;
	struct sp_passkey pk;
	struct sp_webauthn_rp rp = {r->k->rp_id, r->k->origin};
	struct sp_webauthn_assertion in;
	struct sp_webauthn_result res;
	struct sp_err err = {{0}};
	long idn, cdn, adn, sn;
	int st = SP_ERR_AUTH;

	if ((cdp = malloc(SP_WA_CLIENT_DATA_MAX)) == NULL ||
	    (adp = malloc(SP_WA_AUTH_DATA_MAX)) == NULL)
		goto out;
	idn = keyd_b64url_decode(json_string_value(json_object_get(as, "id")), id, sizeof(id));
	cdn = keyd_b64url_decode(json_string_value(json_object_get(as, "clientDataJSON")), cdp,
	    SP_WA_CLIENT_DATA_MAX);
	adn = keyd_b64url_decode(json_string_value(json_object_get(as, "authenticatorData")), adp,
	    SP_WA_AUTH_DATA_MAX);
	sn = keyd_b64url_decode(json_string_value(json_object_get(as, "signature")), sig,
	    sizeof(sig));
	if (idn <= 0 || cdn <= 0 || adn <= 0 || sn <= 0)
		goto out;
	if (sp_store_passkey_get(r->k->store, id, (size_t)idn, &pk, NULL) != SP_OK ||
	    strcmp(pk.email, email) != 0)
		goto out;
	if (keyd_challenge_take(r, email, cdp, (size_t)cdn, chal) != SP_OK)
		goto out;
	in = (struct sp_webauthn_assertion){cdp, (size_t)cdn, adp, (size_t)adn, sig, (size_t)sn};
	st = sp_webauthn_verify_assertion(&rp, chal, sizeof(chal), pk.pubkey, pk.pubkey_len,
	    pk.alg, pk.sign_count, &in, &res, &err);
	if (st != SP_OK) {
		keyd_log("passkey-refused", "error", sp_err_msg(&err, st), "client", r->client, NULL);
		st = SP_ERR_AUTH;
		goto out;
	}
	sp_store_passkey_used(r->k->store, id, (size_t)idn, res.sign_count, (int64_t)time(NULL),
	    NULL);
out:
	free(cdp);
	free(adp);
	return st;
}

struct cred_list {
	json_t *arr;
};

static int
add_cred(void *ctx, const struct sp_passkey *pk)
{
	struct cred_list *l = ctx;
	struct sp_buf b;

	sp_buf_init(&b, 4096);
	if (sp_b64url_encode(&b, pk->cred_id, pk->cred_id_len) == SP_OK)
		json_array_append_new(l->arr, json_pack("{s:s,s:s}", "type", "public-key", "id",
		    (const char *)b.data));
	sp_buf_free(&b);
	return 0;
}

json_t *
keyd_passkey_list_json(struct keyd_req *r, const char *email)
{
	struct cred_list l = {json_array()};

	sp_store_passkey_each(r->k->store, email, add_cred, &l, NULL);
	return l.arr;
}

enum MHD_Result
keyd_factor_passkey_options(struct keyd_req *r)
{
	struct sp_token_rec tr;
	unsigned char th[SP_SHA256_LEN];
	char chal[64];
	json_t *j;
	const char *tok;
	int st;

	if (keyd_cross_site(r))
		return keyd_reply_error(r, 403, "api.cross_site");
	if ((j = keyd_json_body(r, 0)) == NULL)
		return keyd_reply_error(r, 400, "api.not_object");
	tok = json_string_value(json_object_get(j, "token"));
	if (tok == NULL || strncmp(tok, "spm_", 4) != 0 || strlen(tok) > 60) {
		json_decref(j);
		return keyd_reply_field(r, "token", "api.mfa_bad");
	}
	sp_sha256(tok, strlen(tok), th);
	json_decref(j);
	st = sp_store_token_peek(r->k->store, SP_TOKEN_MFA, th, (int64_t)time(NULL), &tr, NULL);
	if (st != SP_OK)
		return keyd_reply_reason(r, 401, "api.mfa_expired", "expired");
	if (keyd_challenge_new(r, tr.email, chal) != SP_OK)
		return keyd_reply_error(r, 503, "read.busy");
	return keyd_reply_json(r, 200, json_pack("{s:s,s:s,s:o,s:s,s:i}", "challenge", chal,
	    "rpId", r->k->rp_id, "allowCredentials", keyd_passkey_list_json(r, tr.email),
	    "userVerification", "preferred", "timeout", 120000));
}

/* --- WebAuthn challenges ------------------------------------------------- */

int
keyd_challenge_new(struct keyd_req *r, const char *email, char out[64])
{
	static const struct sp_throttle_policy rate = {600, 60, 600, 3600, 1};
	struct sp_err err = {{0}};
	unsigned char th[SP_SHA256_LEN];
	char key[80];
	int64_t now = (int64_t)time(NULL);
	int issued = 0, st;

	if (sp_token_new(out, 64, "", 32) != SP_OK)
		return SP_ERR_IO;
	sp_sha256(out, strlen(out), th);
	snprintf(key, sizeof(key), "challenge:%s", r->client);
	st = sp_store_token_issue(r->k->store, SP_TOKEN_CHALLENGE, email, th, now,
	    now + KEYD_CHALLENGE_TTL, key, &rate, &issued, NULL, &err);
	if (st != SP_OK)
		return st;
	return issued ? SP_OK : SP_ERR_RETRY;
}

int
keyd_challenge_take(struct keyd_req *r, const char *email,
    const unsigned char *client_data, size_t len, unsigned char raw[32])
{
	struct sp_token_rec tr;
	unsigned char th[SP_SHA256_LEN];
	json_error_t je;
	json_t *j;
	const char *c;
	int st = SP_ERR_DENIED;

	if (len == 0 || len > 4096 ||
	    (j = json_loadb((const char *)client_data, len, 0, &je)) == NULL)
		return SP_ERR_INVALID;
	c = json_string_value(json_object_get(j, "challenge"));
	if (c != NULL && strlen(c) == 43 &&
	    sp_b64url_decode_exact(c, 43, raw, 32) == SP_OK) {
		sp_sha256(c, strlen(c), th);
		if (sp_store_token_use(r->k->store, SP_TOKEN_CHALLENGE, th, (int64_t)time(NULL),
		    &tr, NULL, NULL) == SP_OK && strcmp(tr.email, email) == 0)
			st = SP_OK;
	}
	json_decref(j);
	return st;
}

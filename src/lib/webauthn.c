/*
 * webauthn.c - WebAuthn registration and assertion checks (see webauthn.h).
 *
 * Division of work: jansson reads clientDataJSON; a small bounded walker
 * here checks that CBOR is well formed, definite-length, not nested deeper
 * than SP_WA_CBOR_DEPTH and finds where each item ends; libcbor decodes the
 * attestationObject map and the COSE key's algorithm; the fixed layout of
 * authenticatorData is read here; libfido2 decodes the COSE public key
 * (fido_cred_set_authdata_raw) and verifies assertion signatures
 * (fido_assert_verify); OpenSSL turns keys into and out of
 * SubjectPublicKeyInfo DER.
 * SECURITY: every input is untrusted.  Lengths are checked before reads,
 * nothing is read past an input's end, trailing bytes are refused, and the
 * challenge is compared with sp_ct_eq.
 */
#include "webauthn.h"
#include "buf.h"
#include "crypto.h"

#include <cbor.h>
#include <fido.h>
#include <fido/eddsa.h>
#include <fido/es256.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <string.h>

#define AUTH_DATA_FIXED 37	/* rpIdHash 32, flags 1, signCount 4 */

struct authdata {
	const unsigned char *rp_hash;
	unsigned flags;
	uint32_t count;
	const unsigned char *aaguid;	/* NULL without AT */
	const unsigned char *cred_id;
	size_t cred_id_len;
	const unsigned char *cose;
	size_t cose_len;
};

/* --- CBOR walking ------------------------------------------------------ */

/* Walk one CBOR data item at p[0..n): well formed, definite lengths only,
 * containers nested at most SP_WA_CBOR_DEPTH deep.  *used receives its
 * length.  0 on success, -1 otherwise. */
static int
cbor_walk(const unsigned char *p, size_t n, size_t *used)
{
	uint64_t left[SP_WA_CBOR_DEPTH + 1], val;
	size_t pos = 0, k, depth = 0;
	unsigned mt, ai;

	left[0] = 1;
	for (;;) {
		while (left[depth] == 0) {
			if (depth == 0) {
				*used = pos;
				return 0;
			}
			depth--;
		}
		left[depth]--;
		if (pos >= n)
			return -1;
		mt = p[pos] >> 5;
		ai = p[pos] & 31;
		pos++;
		if (ai < 24) {
			val = ai;
		} else if (ai <= 27) {
			k = (size_t)1 << (ai - 24);
			if (k > n - pos)
				return -1;
			for (val = 0; k > 0; k--)
				val = (val << 8) | p[pos++];
		} else {
			return -1;	/* indefinite length or reserved */
		}
		switch (mt) {
		case 2: case 3:		/* byte and text strings */
			if (val > n - pos)
				return -1;
			pos += (size_t)val;
			break;
		case 4: case 5:		/* arrays, maps: every item takes a byte */
			if (mt == 5) {
				if (val > (n - pos) / 2)
					return -1;
				val *= 2;
			} else if (val > n - pos) {
				return -1;
			}
			if (val > 0) {
				if (depth == SP_WA_CBOR_DEPTH)
					return -1;
				left[++depth] = val;
			}
			break;
		case 6:			/* tag: one item follows */
			if (depth == SP_WA_CBOR_DEPTH)
				return -1;
			left[++depth] = 1;
			break;
		case 7:
			if (ai == 24 && val < 32)
				return -1;	/* not well formed (RFC 8949 3.3) */
			break;
		default:		/* unsigned and negative integers */
			break;
		}
	}
}

/* Load one CBOR item that must fill p[0..n) exactly. */
static cbor_item_t *
cbor_load_exact(const unsigned char *p, size_t n)
{
	struct cbor_load_result res;
	cbor_item_t *item;
	size_t used;

	if (cbor_walk(p, n, &used) != 0 || used != n)
		return NULL;
	if ((item = cbor_load(p, n, &res)) == NULL)
		return NULL;
	if (res.error.code != CBOR_ERR_NONE || res.read != n) {
		cbor_decref(&item);
		return NULL;
	}
	return item;
}

static int
cbor_text_is(const cbor_item_t *it, const char *s)
{
	size_t n = strlen(s);

	return cbor_isa_string(it) && cbor_string_is_definite(it) &&
	    cbor_string_length(it) == n && memcmp(cbor_string_handle(it), s, n) == 0;
}

/* --- clientDataJSON ---------------------------------------------------- */

static int
check_client_data(const char *want_type, const struct sp_webauthn_rp *rp,
    const unsigned char *challenge, size_t challenge_len,
    const unsigned char *cd, size_t cd_len, struct sp_err *err)
{
	json_t *o, *v;
	json_error_t jerr;
	struct sp_buf want;
	const char *s;
	size_t n;
	int st = SP_OK;

	if (cd == NULL || cd_len == 0 || cd_len > SP_WA_CLIENT_DATA_MAX)
		return sp_err_set(err, SP_ERR_INVALID,
		    "webauthn: clientDataJSON must be 1 to %d bytes", SP_WA_CLIENT_DATA_MAX);
	if ((o = json_loadb((const char *)cd, cd_len, JSON_REJECT_DUPLICATES, &jerr)) == NULL)
		return sp_err_set(err, SP_ERR_INVALID, "webauthn: clientDataJSON is not JSON");
	if (!json_is_object(o)) {
		st = sp_err_set(err, SP_ERR_INVALID, "webauthn: clientDataJSON is not an object");
		goto out;
	}
	v = json_object_get(o, "type");
	if (!json_is_string(v) || strcmp(json_string_value(v), want_type) != 0 ||
	    json_string_length(v) != strlen(want_type)) {
		st = sp_err_set(err, SP_ERR_INVALID, "webauthn: clientDataJSON type is not %s",
		    want_type);
		goto out;
	}
	v = json_object_get(o, "origin");
	if (!json_is_string(v) || json_string_length(v) != strlen(rp->origin) ||
	    strcmp(json_string_value(v), rp->origin) != 0) {
		st = sp_err_set(err, SP_ERR_INVALID, "webauthn: origin does not match %s",
		    rp->origin);
		goto out;
	}
	v = json_object_get(o, "crossOrigin");
	if (v != NULL && !json_is_boolean(v)) {
		st = sp_err_set(err, SP_ERR_INVALID, "webauthn: crossOrigin is not a boolean");
		goto out;
	}
	if (json_is_true(v)) {
		st = sp_err_set(err, SP_ERR_INVALID, "webauthn: cross-origin request refused");
		goto out;
	}
	v = json_object_get(o, "challenge");
	if (!json_is_string(v)) {
		st = sp_err_set(err, SP_ERR_INVALID, "webauthn: clientDataJSON has no challenge");
		goto out;
	}
	s = json_string_value(v);
	n = json_string_length(v);
	sp_buf_init(&want, 2 * SP_WA_CHALLENGE_MAX);
	if (sp_b64url_encode(&want, challenge, challenge_len) != SP_OK) {
		sp_buf_free(&want);
		st = sp_err_set(err, SP_ERR_INTERNAL, "webauthn: cannot encode the challenge");
		goto out;
	}
	if (n != want.len || !sp_ct_eq(s, want.data, n))
		st = sp_err_set(err, SP_ERR_DENIED, "webauthn: challenge does not match");
	sp_buf_free(&want);
out:
	json_decref(o);
	return st;
}

/* --- authenticatorData ------------------------------------------------- */

static int
parse_auth_data(const unsigned char *p, size_t n, int registration,
    const char *rp_id, struct authdata *a, struct sp_err *err)
{
	unsigned char hash[SP_SHA256_LEN];
	size_t pos = AUTH_DATA_FIXED, used;

	memset(a, 0, sizeof(*a));
	if (n < AUTH_DATA_FIXED)
		return sp_err_set(err, SP_ERR_INVALID,
		    "webauthn: authenticatorData shorter than %d bytes", AUTH_DATA_FIXED);
	a->rp_hash = p;
	a->flags = p[32];
	a->count = (uint32_t)p[33] << 24 | (uint32_t)p[34] << 16 | (uint32_t)p[35] << 8 | p[36];
	if (sp_sha256(rp_id, strlen(rp_id), hash) != SP_OK)
		return sp_err_set(err, SP_ERR_INTERNAL, "webauthn: SHA-256 failed");
	if (!sp_ct_eq(hash, a->rp_hash, SP_SHA256_LEN))
		return sp_err_set(err, SP_ERR_INVALID,
		    "webauthn: rpIdHash is not SHA-256 of %s", rp_id);
	if (!(a->flags & SP_WA_FLAG_UP))
		return sp_err_set(err, SP_ERR_INVALID, "webauthn: user presence flag not set");
	if ((a->flags & SP_WA_FLAG_BS) && !(a->flags & SP_WA_FLAG_BE))
		return sp_err_set(err, SP_ERR_INVALID,
		    "webauthn: backed up but not backup eligible");
	if (registration && !(a->flags & SP_WA_FLAG_AT))
		return sp_err_set(err, SP_ERR_INVALID,
		    "webauthn: no attested credential data (AT flag not set)");
	if (!registration && (a->flags & SP_WA_FLAG_AT))
		return sp_err_set(err, SP_ERR_INVALID,
		    "webauthn: attested credential data in an assertion");
	if (a->flags & SP_WA_FLAG_AT) {
		if (n - pos < 18)
			return sp_err_set(err, SP_ERR_INVALID,
			    "webauthn: attested credential data truncated");
		a->aaguid = p + pos;
		a->cred_id_len = (size_t)p[pos + 16] << 8 | p[pos + 17];
		pos += 18;
		if (a->cred_id_len < SP_WA_CRED_ID_MIN || a->cred_id_len > SP_WA_CRED_ID_MAX)
			return sp_err_set(err, SP_ERR_INVALID,
			    "webauthn: credential id of %zu bytes (%d to %d allowed)",
			    a->cred_id_len, SP_WA_CRED_ID_MIN, SP_WA_CRED_ID_MAX);
		if (a->cred_id_len > n - pos)
			return sp_err_set(err, SP_ERR_INVALID, "webauthn: credential id truncated");
		a->cred_id = p + pos;
		pos += a->cred_id_len;
		if (cbor_walk(p + pos, n - pos, &used) != 0)
			return sp_err_set(err, SP_ERR_INVALID,
			    "webauthn: credential public key is not valid CBOR");
		if (used > SP_WA_COSE_KEY_MAX)
			return sp_err_set(err, SP_ERR_INVALID,
			    "webauthn: credential public key over %d bytes", SP_WA_COSE_KEY_MAX);
		a->cose = p + pos;
		a->cose_len = used;
		pos += used;
	}
	if (a->flags & SP_WA_FLAG_ED) {
		if (cbor_walk(p + pos, n - pos, &used) != 0 || (p[pos] >> 5) != 5)
			return sp_err_set(err, SP_ERR_INVALID,
			    "webauthn: extensions are not a CBOR map");
		pos += used;
	}
	if (pos != n)
		return sp_err_set(err, SP_ERR_INVALID,
		    "webauthn: %zu trailing bytes after authenticatorData", n - pos);
	return SP_OK;
}

/* The COSE algorithm (label 3) of a COSE_Key map, or 0. */
static int
cose_alg(const unsigned char *p, size_t n)
{
	cbor_item_t *m;
	struct cbor_pair *pairs;
	size_t i;
	int alg = 0;

	if ((m = cbor_load_exact(p, n)) == NULL)
		return 0;
	if (cbor_isa_map(m) && cbor_map_is_definite(m)) {
		pairs = cbor_map_handle(m);
		for (i = 0; i < cbor_map_size(m); i++) {
			if (cbor_isa_uint(pairs[i].key) && cbor_get_int(pairs[i].key) == 3) {
				if (cbor_isa_negint(pairs[i].value) &&
				    cbor_get_int(pairs[i].value) < 0x10000)
					alg = -1 - (int)cbor_get_int(pairs[i].value);
				else if (cbor_isa_uint(pairs[i].value) &&
				    cbor_get_int(pairs[i].value) < 0x10000)
					alg = (int)cbor_get_int(pairs[i].value);
				break;
			}
		}
	}
	cbor_decref(&m);
	return alg;
}

/* --- keys -------------------------------------------------------------- */

static int
pkey_to_spki(EVP_PKEY *pk, unsigned char *out, size_t *outlen)
{
	EVP_PKEY_CTX *ctx;
	unsigned char *p = out;
	int len, ok;

	if ((ctx = EVP_PKEY_CTX_new(pk, NULL)) == NULL)
		return -1;
	ok = EVP_PKEY_public_check(ctx) == 1;
	EVP_PKEY_CTX_free(ctx);
	if (!ok || (len = i2d_PUBKEY(pk, NULL)) <= 0 || (size_t)len > SP_WA_PUBKEY_MAX ||
	    i2d_PUBKEY(pk, &p) != len)
		return -1;
	*outlen = (size_t)len;
	return 0;
}

/* libfido2 reads the COSE key out of authData; the key comes back as SPKI. */
static int
cose_to_spki(const unsigned char *auth_data, size_t n, const struct authdata *a, int alg,
    struct sp_webauthn_cred *out, struct sp_err *err)
{
	fido_cred_t *cred;
	es256_pk_t *es = NULL;
	eddsa_pk_t *ed = NULL;
	EVP_PKEY *pk = NULL;
	int st = SP_OK;

	if ((cred = fido_cred_new()) == NULL)
		return sp_err_set(err, SP_ERR_NOMEM, "webauthn: out of memory");
	if (fido_cred_set_type(cred, alg) != FIDO_OK ||
	    fido_cred_set_authdata_raw(cred, auth_data, n) != FIDO_OK) {
		st = sp_err_set(err, SP_ERR_INVALID,
		    "webauthn: credential public key is not a valid COSE %s key",
		    alg == SP_WA_ES256 ? "ES256" : "EdDSA");
		goto out;
	}
	/* both parsers must agree on what they read */
	if (fido_cred_id_len(cred) != a->cred_id_len ||
	    memcmp(fido_cred_id_ptr(cred), a->cred_id, a->cred_id_len) != 0 ||
	    fido_cred_sigcount(cred) != a->count || fido_cred_flags(cred) != a->flags) {
		st = sp_err_set(err, SP_ERR_INVALID, "webauthn: authenticatorData is ambiguous");
		goto out;
	}
	if (alg == SP_WA_ES256) {
		if ((es = es256_pk_new()) == NULL) {
			st = sp_err_set(err, SP_ERR_NOMEM, "webauthn: out of memory");
			goto out;
		}
		if (es256_pk_from_ptr(es, fido_cred_pubkey_ptr(cred),
		    fido_cred_pubkey_len(cred)) == FIDO_OK)
			pk = es256_pk_to_EVP_PKEY(es);
	} else {
		if ((ed = eddsa_pk_new()) == NULL) {
			st = sp_err_set(err, SP_ERR_NOMEM, "webauthn: out of memory");
			goto out;
		}
		if (eddsa_pk_from_ptr(ed, fido_cred_pubkey_ptr(cred),
		    fido_cred_pubkey_len(cred)) == FIDO_OK)
			pk = eddsa_pk_to_EVP_PKEY(ed);
	}
	if (pk == NULL || pkey_to_spki(pk, out->public_key, &out->public_key_len) != 0)
		st = sp_err_set(err, SP_ERR_INVALID, "webauthn: credential public key is not usable");
out:
	EVP_PKEY_free(pk);
	es256_pk_free(&es);
	eddsa_pk_free(&ed);
	fido_cred_free(&cred);
	return st;
}

/* --- arguments --------------------------------------------------------- */

static int
check_common(const struct sp_webauthn_rp *rp, const unsigned char *challenge,
    size_t challenge_len, struct sp_err *err)
{
	size_t n;

	if (rp == NULL || rp->rp_id == NULL || rp->origin == NULL)
		return sp_err_set(err, SP_ERR_INVALID, "webauthn: relying party not given");
	n = strnlen(rp->rp_id, SP_WA_RP_ID_MAX + 1);
	if (n == 0 || n > SP_WA_RP_ID_MAX)
		return sp_err_set(err, SP_ERR_INVALID, "webauthn: rp id must be 1 to %d bytes",
		    SP_WA_RP_ID_MAX);
	n = strnlen(rp->origin, SP_WA_ORIGIN_MAX + 1);
	if (n == 0 || n > SP_WA_ORIGIN_MAX)
		return sp_err_set(err, SP_ERR_INVALID, "webauthn: origin must be 1 to %d bytes",
		    SP_WA_ORIGIN_MAX);
	if (challenge == NULL || challenge_len < SP_WA_CHALLENGE_MIN ||
	    challenge_len > SP_WA_CHALLENGE_MAX)
		return sp_err_set(err, SP_ERR_INVALID, "webauthn: challenge must be %d to %d bytes",
		    SP_WA_CHALLENGE_MIN, SP_WA_CHALLENGE_MAX);
	return SP_OK;
}

/* --- registration ------------------------------------------------------ */

/* Split the attestationObject into fmt and authData (pointers into m). */
static int
parse_att_obj(const cbor_item_t *m, char fmt[SP_WA_FMT_MAX], const unsigned char **ad,
    size_t *ad_len, struct sp_err *err)
{
	struct cbor_pair *pairs;
	const cbor_item_t *f = NULL, *s = NULL, *a = NULL, *k, *v;
	size_t i, n;

	if (!cbor_isa_map(m) || !cbor_map_is_definite(m))
		return sp_err_set(err, SP_ERR_INVALID, "webauthn: attestationObject is not a map");
	pairs = cbor_map_handle(m);
	for (i = 0; i < cbor_map_size(m); i++) {
		k = pairs[i].key;
		v = pairs[i].value;
		if (cbor_text_is(k, "fmt") && f == NULL)
			f = v;
		else if (cbor_text_is(k, "attStmt") && s == NULL)
			s = v;
		else if (cbor_text_is(k, "authData") && a == NULL)
			a = v;
		else
			return sp_err_set(err, SP_ERR_INVALID,
			    "webauthn: attestationObject has an unexpected or repeated key");
	}
	if (f == NULL || s == NULL || a == NULL)
		return sp_err_set(err, SP_ERR_INVALID,
		    "webauthn: attestationObject lacks fmt, attStmt or authData");
	if (!cbor_isa_string(f) || !cbor_string_is_definite(f) ||
	    (n = cbor_string_length(f)) == 0 || n >= SP_WA_FMT_MAX)
		return sp_err_set(err, SP_ERR_INVALID, "webauthn: bad attestation fmt");
	for (i = 0; i < n; i++) {
		unsigned char c = cbor_string_handle(f)[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return sp_err_set(err, SP_ERR_INVALID, "webauthn: bad attestation fmt");
		fmt[i] = (char)c;
	}
	fmt[n] = '\0';
	if (!cbor_isa_map(s) || !cbor_map_is_definite(s))
		return sp_err_set(err, SP_ERR_INVALID, "webauthn: attStmt is not a map");
	if (strcmp(fmt, "none") == 0 && cbor_map_size(s) != 0)
		return sp_err_set(err, SP_ERR_INVALID,
		    "webauthn: attestation \"none\" with a non-empty statement");
	if (!cbor_isa_bytestring(a) || !cbor_bytestring_is_definite(a))
		return sp_err_set(err, SP_ERR_INVALID, "webauthn: authData is not a byte string");
	*ad = cbor_bytestring_handle(a);
	*ad_len = cbor_bytestring_length(a);
	return SP_OK;
}

int
sp_webauthn_verify_registration(const struct sp_webauthn_rp *rp,
    const unsigned char *challenge, size_t challenge_len,
    const unsigned char *client_data, size_t client_data_len,
    const unsigned char *att_obj, size_t att_obj_len,
    struct sp_webauthn_cred *out, struct sp_err *err)
{
	cbor_item_t *m = NULL;
	const unsigned char *ad = NULL;
	size_t ad_len = 0;
	struct authdata a;
	int st, alg;

	if (out == NULL)
		return sp_err_set(err, SP_ERR_INVALID, "webauthn: no output");
	memset(out, 0, sizeof(*out));
	if ((st = check_common(rp, challenge, challenge_len, err)) != SP_OK)
		return st;
	if (att_obj == NULL || att_obj_len == 0 || att_obj_len > SP_WA_ATT_OBJ_MAX)
		return sp_err_set(err, SP_ERR_INVALID,
		    "webauthn: attestationObject must be 1 to %d bytes", SP_WA_ATT_OBJ_MAX);
	if ((st = check_client_data("webauthn.create", rp, challenge, challenge_len,
	    client_data, client_data_len, err)) != SP_OK)
		return st;
	if ((m = cbor_load_exact(att_obj, att_obj_len)) == NULL)
		return sp_err_set(err, SP_ERR_INVALID,
		    "webauthn: attestationObject is not one well-formed CBOR item");
	if ((st = parse_att_obj(m, out->fmt, &ad, &ad_len, err)) != SP_OK ||
	    (st = parse_auth_data(ad, ad_len, 1, rp->rp_id, &a, err)) != SP_OK)
		goto out;
	alg = cose_alg(a.cose, a.cose_len);
	if (alg != SP_WA_ES256 && alg != SP_WA_EDDSA) {
		st = sp_err_set(err, SP_ERR_INVALID,
		    "webauthn: credential algorithm %d is not ES256 (-7) or EdDSA (-8)", alg);
		goto out;
	}
	if ((st = cose_to_spki(ad, ad_len, &a, alg, out, err)) != SP_OK)
		goto out;
	memcpy(out->id, a.cred_id, a.cred_id_len);
	out->id_len = a.cred_id_len;
	memcpy(out->aaguid, a.aaguid, sizeof(out->aaguid));
	out->alg = alg;
	out->sign_count = a.count;
	out->flags = a.flags;
out:
	cbor_decref(&m);
	if (st != SP_OK)
		memset(out, 0, sizeof(*out));
	return st;
}

/* --- assertion --------------------------------------------------------- */

/* Turn the stored SPKI into the key type libfido2 verifies with. */
static int
load_key(const unsigned char *der, size_t len, int alg, es256_pk_t **es, eddsa_pk_t **ed,
    struct sp_err *err)
{
	const unsigned char *p = der;
	EVP_PKEY *pk;
	int st = SP_OK;

	if (der == NULL || len == 0 || len > SP_WA_PUBKEY_MAX)
		return sp_err_set(err, SP_ERR_INVALID, "webauthn: stored public key size");
	if ((pk = d2i_PUBKEY(NULL, &p, (long)len)) == NULL || p != der + len) {
		EVP_PKEY_free(pk);
		return sp_err_set(err, SP_ERR_INVALID, "webauthn: stored public key unreadable");
	}
	if (alg == SP_WA_ES256 && EVP_PKEY_is_a(pk, "EC")) {
		if ((*es = es256_pk_new()) == NULL)
			st = sp_err_set(err, SP_ERR_NOMEM, "webauthn: out of memory");
		else if (es256_pk_from_EVP_PKEY(*es, pk) != FIDO_OK)
			st = sp_err_set(err, SP_ERR_INVALID,
			    "webauthn: stored public key is not a P-256 key");
	} else if (alg == SP_WA_EDDSA && EVP_PKEY_is_a(pk, "ED25519")) {
		if ((*ed = eddsa_pk_new()) == NULL)
			st = sp_err_set(err, SP_ERR_NOMEM, "webauthn: out of memory");
		else if (eddsa_pk_from_EVP_PKEY(*ed, pk) != FIDO_OK)
			st = sp_err_set(err, SP_ERR_INVALID,
			    "webauthn: stored public key is not an Ed25519 key");
	} else {
		st = sp_err_set(err, SP_ERR_INVALID,
		    "webauthn: stored public key does not match algorithm %d", alg);
	}
	EVP_PKEY_free(pk);
	return st;
}

int
sp_webauthn_verify_assertion(const struct sp_webauthn_rp *rp,
    const unsigned char *challenge, size_t challenge_len,
    const unsigned char *public_key, size_t public_key_len, int alg,
    uint32_t stored_count, const struct sp_webauthn_assertion *in,
    struct sp_webauthn_result *out, struct sp_err *err)
{
	fido_assert_t *as = NULL;
	es256_pk_t *es = NULL;
	eddsa_pk_t *ed = NULL;
	struct authdata a;
	int st, r;

	if (out == NULL || in == NULL)
		return sp_err_set(err, SP_ERR_INVALID, "webauthn: missing argument");
	memset(out, 0, sizeof(*out));
	if ((st = check_common(rp, challenge, challenge_len, err)) != SP_OK)
		return st;
	if (alg != SP_WA_ES256 && alg != SP_WA_EDDSA)
		return sp_err_set(err, SP_ERR_INVALID, "webauthn: algorithm %d not supported", alg);
	if (in->auth_data == NULL || in->auth_data_len > SP_WA_AUTH_DATA_MAX)
		return sp_err_set(err, SP_ERR_INVALID,
		    "webauthn: authenticatorData must be at most %d bytes", SP_WA_AUTH_DATA_MAX);
	if (in->signature == NULL || in->signature_len == 0 ||
	    in->signature_len > SP_WA_SIG_MAX ||
	    (alg == SP_WA_EDDSA && in->signature_len != 64))
		return sp_err_set(err, SP_ERR_INVALID, "webauthn: bad signature length");
	if ((st = check_client_data("webauthn.get", rp, challenge, challenge_len,
	    in->client_data, in->client_data_len, err)) != SP_OK)
		return st;
	if ((st = parse_auth_data(in->auth_data, in->auth_data_len, 0, rp->rp_id, &a, err))
	    != SP_OK)
		return st;
	if ((st = load_key(public_key, public_key_len, alg, &es, &ed, err)) != SP_OK)
		goto out;
	if ((as = fido_assert_new()) == NULL) {
		st = sp_err_set(err, SP_ERR_NOMEM, "webauthn: out of memory");
		goto out;
	}
	if (fido_assert_set_rp(as, rp->rp_id) != FIDO_OK ||
	    fido_assert_set_clientdata(as, in->client_data, in->client_data_len) != FIDO_OK ||
	    fido_assert_set_count(as, 1) != FIDO_OK ||
	    fido_assert_set_up(as, FIDO_OPT_TRUE) != FIDO_OK) {
		st = sp_err_set(err, SP_ERR_INTERNAL, "webauthn: cannot set up the check");
		goto out;
	}
	if (fido_assert_set_authdata_raw(as, 0, in->auth_data, in->auth_data_len) != FIDO_OK ||
	    fido_assert_sigcount(as, 0) != a.count) {
		st = sp_err_set(err, SP_ERR_INVALID, "webauthn: authenticatorData not accepted");
		goto out;
	}
	if (fido_assert_set_sig(as, 0, in->signature, in->signature_len) != FIDO_OK) {
		st = sp_err_set(err, SP_ERR_INVALID, "webauthn: bad signature");
		goto out;
	}
	r = fido_assert_verify(as, 0, alg, alg == SP_WA_ES256 ? (void *)es : (void *)ed);
	if (r == FIDO_ERR_INVALID_SIG) {
		st = sp_err_set(err, SP_ERR_DENIED, "webauthn: signature does not verify");
		goto out;
	}
	if (r != FIDO_OK) {
		st = sp_err_set(err, SP_ERR_INVALID, "webauthn: assertion refused (%s)",
		    fido_strerr(r));
		goto out;
	}
	out->sign_count = a.count;
	out->flags = a.flags;
	if ((a.count != 0 || stored_count != 0) && a.count <= stored_count)
		st = sp_err_set(err, SP_ERR_REPLAY,
		    "webauthn: sign count %u not above the stored %u: cloned authenticator?",
		    a.count, stored_count);
out:
	fido_assert_free(&as);
	es256_pk_free(&es);
	eddsa_pk_free(&ed);
	return st;
}

/*
 * webauthn_test.c - registration and assertion checks on vectors built here
 * with OpenSSL: a fresh P-256 (and Ed25519) key, a hand-encoded COSE key,
 * authenticatorData, attestationObject and clientDataJSON, signed like an
 * authenticator signs.  Each check that can fail is made to fail once.
 */
#include "t.h"
#include "webauthn.h"
#include "buf.h"
#include "crypto.h"
#include "sp.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdint.h>
#include <stdlib.h>

static const struct sp_webauthn_rp rp = {"127.0.0.1", "http://127.0.0.1:8080"};
static const unsigned char chal[32] = "0123456789abcdef0123456789abcdef";
static const unsigned char cred_id[32] = {
	0xc0, 0xff, 0xee, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,
	14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29};

struct vec {
	unsigned char buf[20000];
	size_t len;
};

static void
put(struct vec *v, const void *p, size_t n)
{
	if (v->len + n > sizeof(v->buf))
		abort();
	memcpy(v->buf + v->len, p, n);
	v->len += n;
}

static void
put_byte(struct vec *v, unsigned b)
{
	unsigned char c = (unsigned char)b;

	put(v, &c, 1);
}

/* a CBOR head of major type mt with argument val */
static void
put_head(struct vec *v, unsigned mt, size_t val)
{
	if (val < 24) {
		put_byte(v, mt << 5 | (unsigned)val);
	} else if (val < 256) {
		put_byte(v, mt << 5 | 24);
		put_byte(v, (unsigned)val);
	} else {
		put_byte(v, mt << 5 | 25);
		put_byte(v, (unsigned)(val >> 8));
		put_byte(v, (unsigned)(val & 255));
	}
}

static void
put_text(struct vec *v, const char *s)
{
	put_head(v, 3, strlen(s));
	put(v, s, strlen(s));
}

static EVP_PKEY *
new_key(const char *type)
{
	return strcmp(type, "EC") == 0 ? EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256") :
	    EVP_PKEY_Q_keygen(NULL, NULL, type);
}

/* The COSE_Key of pk: ES256 {1:2, 3:-7, -1:1, -2:x, -3:y}; EdDSA {1:1,
 * 3:-8, -1:6, -2:x}.  alg_override replaces the algorithm when non-zero. */
static void
put_cose(struct vec *v, EVP_PKEY *pk, int alg_override)
{
	unsigned char pub[65];
	size_t n = 0;

	if (EVP_PKEY_is_a(pk, "EC")) {
		if (EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_PUB_KEY, pub,
		    sizeof(pub), &n) != 1 || n != 65)
			abort();
		put_head(v, 5, 5);
		put_byte(v, 0x01); put_byte(v, 0x02);
		put_byte(v, 0x03);
		if (alg_override == -257) { put_byte(v, 0x39); put_byte(v, 0x01); put_byte(v, 0x00); }
		else put_byte(v, 0x26);
		put_byte(v, 0x20); put_byte(v, 0x01);
		put_byte(v, 0x21); put_head(v, 2, 32); put(v, pub + 1, 32);
		put_byte(v, 0x22); put_head(v, 2, 32); put(v, pub + 33, 32);
	} else {
		n = sizeof(pub);
		if (EVP_PKEY_get_raw_public_key(pk, pub, &n) != 1 || n != 32)
			abort();
		put_head(v, 5, 4);
		put_byte(v, 0x01); put_byte(v, 0x01);
		put_byte(v, 0x03); put_byte(v, 0x27);
		put_byte(v, 0x20); put_byte(v, 0x06);
		put_byte(v, 0x21); put_head(v, 2, 32); put(v, pub, 32);
	}
}

static void
put_auth_head(struct vec *v, const char *rp_id, unsigned flags, uint32_t count)
{
	unsigned char h[32];

	sp_sha256(rp_id, strlen(rp_id), h);
	put(v, h, 32);
	put_byte(v, flags);
	put_byte(v, count >> 24); put_byte(v, (count >> 16) & 255);
	put_byte(v, (count >> 8) & 255); put_byte(v, count & 255);
}

/* registration authData with an attested credential */
static void
make_reg_auth(struct vec *v, EVP_PKEY *pk, const char *rp_id, unsigned flags,
    size_t id_len, int alg_override)
{
	static const unsigned char aaguid[16] = {0xaa, 0xbb};
	unsigned char id[1100];

	memset(id, 0x5a, sizeof(id));
	memcpy(id, cred_id, sizeof(cred_id));
	v->len = 0;
	put_auth_head(v, rp_id, flags, 0);
	put(v, aaguid, 16);
	put_byte(v, (unsigned)(id_len >> 8));
	put_byte(v, (unsigned)(id_len & 255));
	put(v, id, id_len);
	put_cose(v, pk, alg_override);
}

static void
make_att_obj(struct vec *v, const char *fmt, int empty_stmt, const struct vec *auth)
{
	v->len = 0;
	put_head(v, 5, 3);
	put_text(v, "fmt");
	put_text(v, fmt);
	put_text(v, "attStmt");
	if (empty_stmt) {
		put_head(v, 5, 0);
	} else {
		put_head(v, 5, 2);
		put_text(v, "alg");
		put_byte(v, 0x26);
		put_text(v, "sig");
		put_head(v, 2, 3);
		put(v, "abc", 3);
	}
	put_text(v, "authData");
	put_head(v, 2, auth->len);
	put(v, auth->buf, auth->len);
}

static void
make_client_data(struct vec *v, const char *type, const unsigned char *c, size_t clen,
    const char *origin, const char *extra)
{
	struct sp_buf b;
	char tmp[512];
	int n;

	sp_buf_init(&b, 256);
	sp_b64url_encode(&b, c, clen);
	n = snprintf(tmp, sizeof(tmp), "{\"type\":\"%s\",\"challenge\":\"%s\",\"origin\":\"%s\"%s}",
	    type, (char *)b.data, origin, extra);
	sp_buf_free(&b);
	v->len = 0;
	put(v, tmp, (size_t)n);
}

static int
reg(const struct vec *cd, const struct vec *ao, struct sp_webauthn_cred *out,
    struct sp_err *err)
{
	return sp_webauthn_verify_registration(&rp, chal, sizeof(chal), cd->buf, cd->len,
	    ao->buf, ao->len, out, err);
}

static struct vec cd, ad, ao, tmp;

static void
test_registration(void)
{
	struct sp_webauthn_cred c;
	struct sp_err err;
	EVP_PKEY *pk = new_key("EC"), *back;
	const unsigned char *p;

	make_client_data(&cd, "webauthn.create", chal, sizeof(chal), rp.origin,
	    ",\"crossOrigin\":false");
	make_reg_auth(&ad, pk, rp.rp_id, 0x45, sizeof(cred_id), 0);
	make_att_obj(&ao, "none", 1, &ad);
	err.msg[0] = '\0';
	T_EQ_INT(reg(&cd, &ao, &c, &err), SP_OK);
	if (err.msg[0] != '\0')
		fprintf(stderr, "registration: %s\n", err.msg);
	T_EQ_INT(c.id_len, sizeof(cred_id));
	T_EQ_MEM(c.id, cred_id, sizeof(cred_id));
	T_EQ_INT(c.alg, SP_WA_ES256);
	T_EQ_INT(c.sign_count, 0);
	T_EQ_INT(c.flags, 0x45);
	T_CHECK(c.flags & SP_WA_FLAG_UV);
	T_CHECK(strcmp(c.fmt, "none") == 0);
	T_CHECK(c.aaguid[0] == 0xaa && c.aaguid[1] == 0xbb);
	T_EQ_INT(c.public_key_len, 91);
	/* the stored key is the same public key, as SPKI DER */
	p = c.public_key;
	back = d2i_PUBKEY(NULL, &p, (long)c.public_key_len);
	T_CHECK(back != NULL && EVP_PKEY_eq(back, pk) == 1);
	EVP_PKEY_free(back);

	/* no crossOrigin member, BE and BS set, other formats are not checked */
	make_client_data(&cd, "webauthn.create", chal, sizeof(chal), rp.origin, "");
	make_reg_auth(&ad, pk, rp.rp_id, 0x41 | SP_WA_FLAG_BE | SP_WA_FLAG_BS, sizeof(cred_id), 0);
	make_att_obj(&ao, "packed", 0, &ad);
	T_EQ_INT(reg(&cd, &ao, &c, &err), SP_OK);
	T_CHECK(strcmp(c.fmt, "packed") == 0);
	T_CHECK((c.flags & SP_WA_FLAG_BE) && (c.flags & SP_WA_FLAG_BS) && !(c.flags & SP_WA_FLAG_UV));
	/* credential id bounds */
	make_reg_auth(&ad, pk, rp.rp_id, 0x41, 16, 0);
	make_att_obj(&ao, "none", 1, &ad);
	T_EQ_INT(reg(&cd, &ao, &c, &err), SP_OK);
	make_reg_auth(&ad, pk, rp.rp_id, 0x41, 1023, 0);
	make_att_obj(&ao, "none", 1, &ad);
	T_EQ_INT(reg(&cd, &ao, &c, &err), SP_OK);
	T_EQ_INT(c.id_len, 1023);
	EVP_PKEY_free(pk);
}

static void
test_registration_eddsa(void)
{
	struct sp_webauthn_cred c;
	struct sp_err err;
	EVP_PKEY *pk = new_key("ED25519");

	make_client_data(&cd, "webauthn.create", chal, sizeof(chal), rp.origin, "");
	make_reg_auth(&ad, pk, rp.rp_id, 0x41, sizeof(cred_id), 0);
	make_att_obj(&ao, "none", 1, &ad);
	T_EQ_INT(reg(&cd, &ao, &c, &err), SP_OK);
	T_EQ_INT(c.alg, SP_WA_EDDSA);
	T_EQ_INT(c.public_key_len, 44);
	EVP_PKEY_free(pk);
}

static void
test_registration_bad(void)
{
	struct sp_webauthn_cred c;
	struct sp_err err;
	EVP_PKEY *pk = new_key("EC");
	unsigned char other[32];
	size_t i;

	make_client_data(&cd, "webauthn.create", chal, sizeof(chal), rp.origin, "");
	make_reg_auth(&ad, pk, rp.rp_id, 0x45, sizeof(cred_id), 0);
	make_att_obj(&ao, "none", 1, &ad);
	T_EQ_INT(reg(&cd, &ao, &c, &err), SP_OK);

	/* clientDataJSON */
	make_client_data(&cd, "webauthn.create", chal, sizeof(chal), "http://127.0.0.1:8081", "");
	T_EQ_INT(reg(&cd, &ao, &c, &err), SP_ERR_INVALID);
	T_CHECK(strstr(err.msg, "origin") != NULL);
	T_EQ_INT(c.id_len, 0);
	make_client_data(&cd, "webauthn.create", chal, sizeof(chal), "http://127.0.0.1:8080/", "");
	T_EQ_INT(reg(&cd, &ao, &c, &err), SP_ERR_INVALID);
	memcpy(other, chal, sizeof(other));
	other[31] ^= 1;
	make_client_data(&cd, "webauthn.create", other, sizeof(other), rp.origin, "");
	T_EQ_INT(reg(&cd, &ao, &c, &err), SP_ERR_DENIED);
	T_CHECK(strstr(err.msg, "challenge") != NULL);
	make_client_data(&cd, "webauthn.create", chal, 31, rp.origin, "");
	T_EQ_INT(reg(&cd, &ao, &c, &err), SP_ERR_DENIED);
	make_client_data(&cd, "webauthn.get", chal, sizeof(chal), rp.origin, "");
	T_EQ_INT(reg(&cd, &ao, &c, &err), SP_ERR_INVALID);
	T_CHECK(strstr(err.msg, "type") != NULL);
	make_client_data(&cd, "webauthn.create", chal, sizeof(chal), rp.origin,
	    ",\"crossOrigin\":true");
	T_EQ_INT(reg(&cd, &ao, &c, &err), SP_ERR_INVALID);
	make_client_data(&cd, "webauthn.create", chal, sizeof(chal), rp.origin,
	    ",\"crossOrigin\":\"no\"");
	T_EQ_INT(reg(&cd, &ao, &c, &err), SP_ERR_INVALID);
	make_client_data(&cd, "webauthn.create", chal, sizeof(chal), rp.origin,
	    ",\"type\":\"webauthn.create\"");
	T_EQ_INT(reg(&cd, &ao, &c, &err), SP_ERR_INVALID);
	cd.len = 0;
	put(&cd, "[1,2]", 5);
	T_EQ_INT(reg(&cd, &ao, &c, &err), SP_ERR_INVALID);
	cd.len = 0;
	put(&cd, "{\"type\":", 8);
	T_EQ_INT(reg(&cd, &ao, &c, &err), SP_ERR_INVALID);
	make_client_data(&cd, "webauthn.create", chal, sizeof(chal), rp.origin, "");
	memset(tmp.buf, ' ', SP_WA_CLIENT_DATA_MAX + 1);
	memcpy(tmp.buf, cd.buf, cd.len);
	tmp.len = SP_WA_CLIENT_DATA_MAX;
	T_EQ_INT(reg(&tmp, &ao, &c, &err), SP_OK);	/* JSON white space to the limit */
	tmp.len = SP_WA_CLIENT_DATA_MAX + 1;
	T_EQ_INT(reg(&tmp, &ao, &c, &err), SP_ERR_INVALID);
	T_EQ_INT(sp_webauthn_verify_registration(&rp, chal, sizeof(chal), NULL, 0,
	    ao.buf, ao.len, &c, &err), SP_ERR_INVALID);

	/* authenticatorData */
	make_reg_auth(&ad, pk, "127.0.0.2", 0x45, sizeof(cred_id), 0);
	make_att_obj(&ao, "none", 1, &ad);
	T_EQ_INT(reg(&cd, &ao, &c, &err), SP_ERR_INVALID);
	T_CHECK(strstr(err.msg, "rpIdHash") != NULL);
	make_reg_auth(&ad, pk, rp.rp_id, 0x44, sizeof(cred_id), 0);
	make_att_obj(&ao, "none", 1, &ad);
	T_EQ_INT(reg(&cd, &ao, &c, &err), SP_ERR_INVALID);
	T_CHECK(strstr(err.msg, "presence") != NULL);
	make_reg_auth(&ad, pk, rp.rp_id, 0x05, sizeof(cred_id), 0);
	make_att_obj(&ao, "none", 1, &ad);
	T_EQ_INT(reg(&cd, &ao, &c, &err), SP_ERR_INVALID);
	T_CHECK(strstr(err.msg, "AT") != NULL);
	make_reg_auth(&ad, pk, rp.rp_id, 0x41 | SP_WA_FLAG_BS, sizeof(cred_id), 0);
	make_att_obj(&ao, "none", 1, &ad);
	T_EQ_INT(reg(&cd, &ao, &c, &err), SP_ERR_INVALID);
	make_reg_auth(&ad, pk, rp.rp_id, 0x45, 15, 0);
	make_att_obj(&ao, "none", 1, &ad);
	T_EQ_INT(reg(&cd, &ao, &c, &err), SP_ERR_INVALID);
	T_CHECK(strstr(err.msg, "credential id") != NULL);
	make_reg_auth(&ad, pk, rp.rp_id, 0x45, 1024, 0);
	make_att_obj(&ao, "none", 1, &ad);
	T_EQ_INT(reg(&cd, &ao, &c, &err), SP_ERR_INVALID);
	make_reg_auth(&ad, pk, rp.rp_id, 0x45, sizeof(cred_id), -257);
	make_att_obj(&ao, "none", 1, &ad);
	T_EQ_INT(reg(&cd, &ao, &c, &err), SP_ERR_INVALID);
	T_CHECK(strstr(err.msg, "-257") != NULL);
	/* truncated authData, at every length */
	make_reg_auth(&ad, pk, rp.rp_id, 0x45, sizeof(cred_id), 0);
	for (i = 0; i < ad.len; i++) {
		tmp = ad;
		tmp.len = i;
		make_att_obj(&ao, "none", 1, &tmp);
		T_EQ_INT(reg(&cd, &ao, &c, &err), SP_ERR_INVALID);
	}
	/* a byte after authData's end, and extensions flagged but absent */
	tmp = ad;
	put_byte(&tmp, 0);
	make_att_obj(&ao, "none", 1, &tmp);
	T_EQ_INT(reg(&cd, &ao, &c, &err), SP_ERR_INVALID);
	T_CHECK(strstr(err.msg, "trailing") != NULL);
	tmp = ad;
	tmp.buf[32] |= SP_WA_FLAG_ED;
	make_att_obj(&ao, "none", 1, &tmp);
	T_EQ_INT(reg(&cd, &ao, &c, &err), SP_ERR_INVALID);
	/* extensions present and flagged are fine */
	put_head(&tmp, 5, 1);
	put_text(&tmp, "credProtect");
	put_byte(&tmp, 0x02);
	make_att_obj(&ao, "none", 1, &tmp);
	T_EQ_INT(reg(&cd, &ao, &c, &err), SP_OK);
	/* a public key not on the curve */
	tmp = ad;
	tmp.buf[tmp.len - 1] ^= 1;
	make_att_obj(&ao, "none", 1, &tmp);
	T_EQ_INT(reg(&cd, &ao, &c, &err), SP_ERR_INVALID);
	T_CHECK(strstr(err.msg, "public key") != NULL);

	/* attestationObject */
	make_att_obj(&ao, "none", 0, &ad);
	T_EQ_INT(reg(&cd, &ao, &c, &err), SP_ERR_INVALID);
	make_att_obj(&ao, "none", 1, &ad);
	put_byte(&ao, 0);
	T_EQ_INT(reg(&cd, &ao, &c, &err), SP_ERR_INVALID);
	T_CHECK(strstr(err.msg, "attestationObject") != NULL);
	make_att_obj(&ao, "none", 1, &ad);
	for (i = 0; i < 40; i++) {
		tmp = ao;
		tmp.len = i;
		T_EQ_INT(reg(&cd, &tmp, &c, &err), SP_ERR_INVALID);
	}
	tmp = ao;
	tmp.len--;
	T_EQ_INT(reg(&cd, &tmp, &c, &err), SP_ERR_INVALID);
	/* a repeated key: fmt twice */
	tmp.len = 0;
	put_head(&tmp, 5, 4);
	put_text(&tmp, "fmt"); put_text(&tmp, "none");
	put_text(&tmp, "fmt"); put_text(&tmp, "none");
	put(&tmp, ao.buf + 1 + 4 + 5, ao.len - 10);
	T_EQ_INT(reg(&cd, &tmp, &c, &err), SP_ERR_INVALID);
	/* indefinite-length map */
	tmp = ao;
	tmp.buf[0] = 0xbf;
	put_byte(&tmp, 0xff);
	T_EQ_INT(reg(&cd, &tmp, &c, &err), SP_ERR_INVALID);
	/* deep nesting */
	tmp.len = 0;
	for (i = 0; i < 5000; i++)
		put_byte(&tmp, 0x81);
	put_byte(&tmp, 0);
	T_EQ_INT(reg(&cd, &tmp, &c, &err), SP_ERR_INVALID);
	/* over the size limit */
	tmp = ao;
	memset(tmp.buf + tmp.len, 0, SP_WA_ATT_OBJ_MAX + 1 - tmp.len);
	tmp.len = SP_WA_ATT_OBJ_MAX + 1;
	T_EQ_INT(reg(&cd, &tmp, &c, &err), SP_ERR_INVALID);
	T_EQ_INT(sp_webauthn_verify_registration(&rp, chal, sizeof(chal), cd.buf, cd.len,
	    NULL, 0, &c, &err), SP_ERR_INVALID);

	/* arguments */
	make_att_obj(&ao, "none", 1, &ad);
	T_EQ_INT(sp_webauthn_verify_registration(&rp, chal, 15, cd.buf, cd.len,
	    ao.buf, ao.len, &c, &err), SP_ERR_INVALID);
	T_EQ_INT(sp_webauthn_verify_registration(NULL, chal, sizeof(chal), cd.buf, cd.len,
	    ao.buf, ao.len, &c, &err), SP_ERR_INVALID);
	T_EQ_INT(sp_webauthn_verify_registration(&rp, chal, sizeof(chal), cd.buf, cd.len,
	    ao.buf, ao.len, NULL, &err), SP_ERR_INVALID);
	T_EQ_INT(reg(&cd, &ao, &c, NULL), SP_OK);
	EVP_PKEY_free(pk);
}

/* --- assertions ---------------------------------------------------------- */

static void
sign(EVP_PKEY *pk, const struct vec *auth, const struct vec *client, struct vec *sig)
{
	unsigned char msg[4200 + 32];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t n = sizeof(sig->buf);

	memcpy(msg, auth->buf, auth->len);
	sp_sha256(client->buf, client->len, msg + auth->len);
	if (EVP_DigestSignInit(ctx, NULL, EVP_PKEY_is_a(pk, "EC") ? EVP_sha256() : NULL,
	    NULL, pk) != 1 ||
	    EVP_DigestSign(ctx, sig->buf, &n, msg, auth->len + 32) != 1)
		abort();
	sig->len = n;
	EVP_MD_CTX_free(ctx);
}

static struct vec sig;
static unsigned char spki[SP_WA_PUBKEY_MAX];
static size_t spki_len;

static void
stored_key(EVP_PKEY *pk)
{
	unsigned char *p = spki;

	spki_len = (size_t)i2d_PUBKEY(pk, &p);
}

static int
check(int alg, uint32_t stored, struct sp_webauthn_result *res, struct sp_err *err)
{
	struct sp_webauthn_assertion in = {cd.buf, cd.len, ad.buf, ad.len, sig.buf, sig.len};

	return sp_webauthn_verify_assertion(&rp, chal, sizeof(chal), spki, spki_len, alg,
	    stored, &in, res, err);
}

static void
assertion_for(EVP_PKEY *pk, unsigned flags, uint32_t count)
{
	make_client_data(&cd, "webauthn.get", chal, sizeof(chal), rp.origin, ",\"crossOrigin\":false");
	ad.len = 0;
	put_auth_head(&ad, rp.rp_id, flags, count);
	sign(pk, &ad, &cd, &sig);
}

static void
test_assertion(void)
{
	struct sp_webauthn_result res;
	struct sp_err err;
	EVP_PKEY *pk = new_key("EC"), *other = new_key("EC"), *ed = new_key("ED25519");
	unsigned char other_chal[32];
	size_t i;

	stored_key(pk);
	assertion_for(pk, 0x05, 7);
	err.msg[0] = '\0';
	T_EQ_INT(check(SP_WA_ES256, 6, &res, &err), SP_OK);
	if (err.msg[0] != '\0')
		fprintf(stderr, "assertion: %s\n", err.msg);
	T_EQ_INT(res.sign_count, 7);
	T_CHECK(res.flags & SP_WA_FLAG_UV);
	T_EQ_INT(check(SP_WA_ES256, 0, &res, &err), SP_OK);
	/* the counter */
	T_EQ_INT(check(SP_WA_ES256, 7, &res, &err), SP_ERR_REPLAY);
	T_EQ_INT(res.sign_count, 7);
	T_EQ_INT(check(SP_WA_ES256, 100, &res, &err), SP_ERR_REPLAY);
	assertion_for(pk, 0x01, 0);
	T_EQ_INT(check(SP_WA_ES256, 0, &res, &err), SP_OK);	/* counterless authenticator */
	T_CHECK(!(res.flags & SP_WA_FLAG_UV));
	T_EQ_INT(check(SP_WA_ES256, 5, &res, &err), SP_ERR_REPLAY);

	/* signatures */
	assertion_for(pk, 0x05, 8);
	sig.buf[sig.len - 1] ^= 1;
	T_EQ_INT(check(SP_WA_ES256, 7, &res, &err), SP_ERR_DENIED);
	T_CHECK(strstr(err.msg, "signature") != NULL);
	sign(other, &ad, &cd, &sig);
	T_EQ_INT(check(SP_WA_ES256, 7, &res, &err), SP_ERR_DENIED);
	sign(pk, &ad, &cd, &sig);
	ad.buf[36] = 9;		/* counter changed after signing */
	T_EQ_INT(check(SP_WA_ES256, 7, &res, &err), SP_ERR_DENIED);
	sig.len = 0;
	T_EQ_INT(check(SP_WA_ES256, 7, &res, &err), SP_ERR_INVALID);
	sig.len = SP_WA_SIG_MAX + 1;
	T_EQ_INT(check(SP_WA_ES256, 7, &res, &err), SP_ERR_INVALID);

	/* clientDataJSON: signed correctly, but the wrong content */
	assertion_for(pk, 0x05, 8);
	make_client_data(&cd, "webauthn.get", chal, sizeof(chal), "https://127.0.0.1:8080", "");
	sign(pk, &ad, &cd, &sig);
	T_EQ_INT(check(SP_WA_ES256, 7, &res, &err), SP_ERR_INVALID);
	T_CHECK(strstr(err.msg, "origin") != NULL);
	memcpy(other_chal, chal, 32);
	other_chal[0] ^= 0x80;
	make_client_data(&cd, "webauthn.get", other_chal, sizeof(other_chal), rp.origin, "");
	sign(pk, &ad, &cd, &sig);
	T_EQ_INT(check(SP_WA_ES256, 7, &res, &err), SP_ERR_DENIED);
	make_client_data(&cd, "webauthn.create", chal, sizeof(chal), rp.origin, "");
	sign(pk, &ad, &cd, &sig);
	T_EQ_INT(check(SP_WA_ES256, 7, &res, &err), SP_ERR_INVALID);
	make_client_data(&cd, "webauthn.get", chal, sizeof(chal), rp.origin, ",\"crossOrigin\":true");
	sign(pk, &ad, &cd, &sig);
	T_EQ_INT(check(SP_WA_ES256, 7, &res, &err), SP_ERR_INVALID);

	/* authenticatorData */
	make_client_data(&cd, "webauthn.get", chal, sizeof(chal), rp.origin, "");
	ad.len = 0;
	put_auth_head(&ad, "localhost", 0x05, 8);
	sign(pk, &ad, &cd, &sig);
	T_EQ_INT(check(SP_WA_ES256, 7, &res, &err), SP_ERR_INVALID);
	T_CHECK(strstr(err.msg, "rpIdHash") != NULL);
	assertion_for(pk, 0x04, 8);
	T_EQ_INT(check(SP_WA_ES256, 7, &res, &err), SP_ERR_INVALID);
	T_CHECK(strstr(err.msg, "presence") != NULL);
	assertion_for(pk, 0x45, 8);
	T_EQ_INT(check(SP_WA_ES256, 7, &res, &err), SP_ERR_INVALID);
	assertion_for(pk, 0x05, 8);
	for (i = 0; i < 37; i++) {
		ad.len = i;
		T_EQ_INT(check(SP_WA_ES256, 7, &res, &err), SP_ERR_INVALID);
	}
	ad.len = 0;
	put_auth_head(&ad, rp.rp_id, 0x05, 8);
	put_byte(&ad, 0);
	sign(pk, &ad, &cd, &sig);
	T_EQ_INT(check(SP_WA_ES256, 7, &res, &err), SP_ERR_INVALID);
	T_CHECK(strstr(err.msg, "trailing") != NULL);
	ad.len = SP_WA_AUTH_DATA_MAX + 1;
	T_EQ_INT(check(SP_WA_ES256, 7, &res, &err), SP_ERR_INVALID);
	assertion_for(pk, 0x05, 8);
	memset(cd.buf + cd.len, ' ', SP_WA_CLIENT_DATA_MAX + 1 - cd.len);
	cd.len = SP_WA_CLIENT_DATA_MAX + 1;
	T_EQ_INT(check(SP_WA_ES256, 7, &res, &err), SP_ERR_INVALID);

	/* the stored key */
	assertion_for(pk, 0x05, 8);
	T_EQ_INT(check(SP_WA_ES256, 7, &res, &err), SP_OK);
	T_EQ_INT(check(SP_WA_EDDSA, 7, &res, &err), SP_ERR_INVALID);
	T_EQ_INT(check(-257, 7, &res, &err), SP_ERR_INVALID);
	spki_len--;
	T_EQ_INT(check(SP_WA_ES256, 7, &res, &err), SP_ERR_INVALID);
	spki_len = 0;
	T_EQ_INT(check(SP_WA_ES256, 7, &res, &err), SP_ERR_INVALID);

	/* Ed25519 */
	stored_key(ed);
	assertion_for(ed, 0x01, 0);
	T_EQ_INT(check(SP_WA_EDDSA, 0, &res, &err), SP_OK);
	T_EQ_INT(check(SP_WA_ES256, 0, &res, &err), SP_ERR_INVALID);
	sig.buf[0] ^= 1;
	T_EQ_INT(check(SP_WA_EDDSA, 0, &res, &err), SP_ERR_DENIED);
	EVP_PKEY_free(pk);
	EVP_PKEY_free(other);
	EVP_PKEY_free(ed);
}

/* what registration stores is what an assertion is verified with */
static void
test_round_trip(void)
{
	struct sp_webauthn_cred c;
	struct sp_webauthn_result res;
	struct sp_err err;
	EVP_PKEY *pk = new_key("EC");

	make_client_data(&cd, "webauthn.create", chal, sizeof(chal), rp.origin, "");
	make_reg_auth(&ad, pk, rp.rp_id, 0x45, sizeof(cred_id), 0);
	make_att_obj(&ao, "none", 1, &ad);
	T_EQ_INT(reg(&cd, &ao, &c, &err), SP_OK);
	memcpy(spki, c.public_key, c.public_key_len);
	spki_len = c.public_key_len;
	assertion_for(pk, 0x05, 1);
	T_EQ_INT(check(c.alg, c.sign_count, &res, &err), SP_OK);
	T_EQ_INT(res.sign_count, 1);
	EVP_PKEY_free(pk);
}

T_MAIN(test_registration, test_registration_eddsa, test_registration_bad, test_assertion,
    test_round_trip)

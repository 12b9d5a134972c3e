/*
 * crypto_test.c - known answers for SHA-256, HKDF (RFC 5869 case 1),
 * AES-256-GCM round trip and tamper refusal, base64 forms.
 */
#include "t.h"
#include "crypto.h"
#include "sp.h"

static void
test_sha256(void)
{
	unsigned char out[32];
	static const unsigned char abc[32] = {
		0xba,0x78,0x16,0xbf,0x8f,0x01,0xcf,0xea,0x41,0x41,0x40,0xde,0x5d,0xae,0x22,0x23,
		0xb0,0x03,0x61,0xa3,0x96,0x17,0x7a,0x9c,0xb4,0x10,0xff,0x61,0xf2,0x00,0x15,0xad};

	T_EQ_INT(sp_sha256("abc", 3, out), SP_OK);
	T_EQ_MEM(out, abc, 32);
}

static void
test_hkdf_rfc5869(void)
{
	unsigned char ikm[22], salt[13], info[10], okm[42];
	static const unsigned char want[42] = {
		0x3c,0xb2,0x5f,0x25,0xfa,0xac,0xd5,0x7a,0x90,0x43,0x4f,0x64,0xd0,0x36,0x2f,0x2a,
		0x2d,0x2d,0x0a,0x90,0xcf,0x1a,0x5a,0x4c,0x5d,0xb0,0x2d,0x56,0xec,0xc4,0xc5,0xbf,
		0x34,0x00,0x72,0x08,0xd5,0xb8,0x87,0x18,0x58,0x65};
	size_t i;

	memset(ikm, 0x0b, sizeof(ikm));
	for (i = 0; i < sizeof(salt); i++) salt[i] = (unsigned char)i;
	for (i = 0; i < sizeof(info); i++) info[i] = (unsigned char)(0xf0 + i);
	T_EQ_INT(sp_hkdf_sha256(okm, sizeof(okm), salt, sizeof(salt), ikm, sizeof(ikm),
	    info, sizeof(info)), SP_OK);
	T_EQ_MEM(okm, want, 42);
}

static void
test_gcm(void)
{
	unsigned char key[32] = {1}, nonce[12] = {2}, ct[64 + 16], pt[64];
	const char *msg = "attack at dawn";
	size_t n = strlen(msg);

	T_EQ_INT(sp_gcm_seal(key, nonce, "hdr", 3, (const unsigned char *)msg, n, ct), SP_OK);
	T_EQ_INT(sp_gcm_open(key, nonce, "hdr", 3, ct, n + 16, pt), SP_OK);
	T_EQ_MEM(pt, msg, n);
	T_EQ_INT(sp_gcm_open(key, nonce, "hdx", 3, ct, n + 16, pt), SP_ERR_AUTH);
	ct[0] ^= 1;
	T_EQ_INT(sp_gcm_open(key, nonce, "hdr", 3, ct, n + 16, pt), SP_ERR_AUTH);
	T_EQ_INT(sp_gcm_open(key, nonce, "hdr", 3, ct, 10, pt), SP_ERR_AUTH);
	/* empty plaintext still authenticates */
	T_EQ_INT(sp_gcm_seal(key, nonce, NULL, 0, NULL, 0, ct), SP_OK);
	T_EQ_INT(sp_gcm_open(key, nonce, NULL, 0, ct, 16, pt), SP_OK);
}

static void
test_b64(void)
{
	static const struct { const char *in, *out; } cases[] = {
		{"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"},
		{"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
	};
	struct sp_buf b, d;
	unsigned char raw[3];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		sp_buf_init(&b, 1024);
		sp_buf_init(&d, 1024);
		T_EQ_INT(sp_b64_encode(&b, cases[i].in, strlen(cases[i].in), 0), SP_OK);
		T_CHECK(b.len == strlen(cases[i].out) && memcmp(b.data, cases[i].out, b.len) == 0);
		T_EQ_INT(sp_b64_decode(&d, cases[i].out, strlen(cases[i].out)), SP_OK);
		T_CHECK(d.len == strlen(cases[i].in) && memcmp(d.data, cases[i].in, d.len) == 0);
		sp_buf_free(&b);
		sp_buf_free(&d);
	}
	sp_buf_init(&b, 1024);
	T_EQ_INT(sp_b64_encode(&b, "foobarfoobar", 12, 8), SP_OK);
	T_CHECK(strcmp((char *)b.data, "Zm9vYmFy\nZm9vYmFy\n") == 0);
	sp_buf_reset(&b);
	T_EQ_INT(sp_b64_decode(&b, "Zm9v!", 5), SP_ERR_INVALID);
	T_EQ_INT(sp_b64_decode(&b, "Zg==Zg", 6), SP_ERR_INVALID);
	T_EQ_INT(sp_b64_decode(&b, "Zm9v=Zm9v", 9), SP_ERR_INVALID);
	T_EQ_INT(sp_b64_decode(&b, "Zm9v\x80", 5), SP_ERR_INVALID);
	sp_buf_reset(&b);
	T_EQ_INT(sp_b64_decode(&b, "Zm9v\r\nYmFy\n", 11), SP_OK);
	T_CHECK(b.len == 6 && memcmp(b.data, "foobar", 6) == 0);
	sp_buf_reset(&b);
	T_EQ_INT(sp_b64url_encode(&b, "\xfb\xff", 2), SP_OK);
	T_CHECK(strcmp((char *)b.data, "-_8") == 0);
	T_EQ_INT(sp_b64url_decode_exact("-_8", 3, raw, 2), SP_OK);
	T_CHECK(raw[0] == 0xfb && raw[1] == 0xff);
	T_EQ_INT(sp_b64url_decode_exact("-_8", 3, raw, 3), SP_ERR_INVALID);
	T_EQ_INT(sp_b64url_decode_exact("-_9", 3, raw, 2), SP_ERR_INVALID);
	sp_buf_free(&b);
	/* cap is enforced */
	sp_buf_init(&b, 4);
	T_EQ_INT(sp_b64_encode(&b, "foobar", 6, 0), SP_ERR_TOOBIG);
	sp_buf_free(&b);
}

static void
test_hex(void)
{
	unsigned char raw[3];
	char out[7];

	sp_hex_encode((const unsigned char *)"\x00\xab\xff", 3, out);
	T_CHECK(strcmp(out, "00abff") == 0);
	memset(raw, 0, sizeof(raw));
	T_EQ_INT(sp_hex_decode_exact("00aBfF", 6, raw, 3), SP_OK);
	T_CHECK(raw[0] == 0x00 && raw[1] == 0xab && raw[2] == 0xff);
	T_EQ_INT(sp_hex_decode_exact("00abf", 5, raw, 3), SP_ERR_INVALID);
	T_EQ_INT(sp_hex_decode_exact("00abff00", 8, raw, 3), SP_ERR_INVALID);
	T_EQ_INT(sp_hex_decode_exact("00abfg", 6, raw, 3), SP_ERR_INVALID);
	T_EQ_INT(sp_hex_decode_exact("", 0, raw, 0), SP_OK);
}

static void
test_token(void)
{
	char a[64], b[64];

	T_EQ_INT(sp_token_new(a, sizeof(a), "sps_", 16), SP_OK);
	T_EQ_INT(sp_token_new(b, sizeof(b), "sps_", 16), SP_OK);
	T_EQ_INT(strlen(a), 4 + 22);
	T_CHECK(strcmp(a, b) != 0);
	T_EQ_INT(sp_token_new(a, 10, "sps_", 16), SP_ERR_TOOBIG);
}

T_MAIN(test_sha256, test_hkdf_rfc5869, test_gcm, test_b64, test_hex, test_token)

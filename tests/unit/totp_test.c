/*
 * totp_test.c - RFC 6238 appendix B (SHA-1) known answers, the window and
 * reuse rules of sp_totp_verify, base32 (RFC 4648 section 10 vectors, round
 * trips, bad input), the otpauth:// URI and recovery codes.
 */
#include "t.h"
#include "totp.h"
#include "crypto.h"
#include "sp.h"

#include <stdint.h>

static const unsigned char rfc_secret[] = "12345678901234567890";

static void
test_rfc6238(void)
{
	static const struct { uint64_t t; const char *code; } v[] = {
		{59, "94287082"}, {1111111109, "07081804"}, {1111111111, "14050471"},
		{1234567890, "89005924"}, {2000000000, "69279037"},
		{20000000000ULL, "65353130"},
	};
	char code[SP_TOTP_CODE_SIZE];
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		T_EQ_INT(sp_totp_code(rfc_secret, 20, sp_totp_step(v[i].t), 8, code), SP_OK);
		T_CHECK(strcmp(code, v[i].code) == 0);
		/* the 6-digit code is the last six digits of the 8-digit one */
		T_EQ_INT(sp_totp_code(rfc_secret, 20, sp_totp_step(v[i].t), 6, code), SP_OK);
		T_CHECK(strcmp(code, v[i].code + 2) == 0);
	}
	T_EQ_INT(sp_totp_code(rfc_secret, 20, 1, 5, code), SP_ERR_INVALID);
	T_EQ_INT(sp_totp_code(rfc_secret, 20, 1, 9, code), SP_ERR_INVALID);
	T_EQ_INT(sp_totp_code(rfc_secret, 0, 1, 6, code), SP_ERR_INVALID);
	T_EQ_INT(sp_totp_code(NULL, 20, 1, 6, code), SP_ERR_INVALID);
}

static void
test_verify(void)
{
	struct sp_err err;
	uint64_t step = 99;
	const uint64_t t = 1111111111, s = 1111111111 / 30;

	/* "14050471" is the code of step s; the neighbours are computed */
	char prev[SP_TOTP_CODE_SIZE], next[SP_TOTP_CODE_SIZE], far[SP_TOTP_CODE_SIZE];

	T_EQ_INT(sp_totp_code(rfc_secret, 20, s - 1, 8, prev), SP_OK);
	T_EQ_INT(sp_totp_code(rfc_secret, 20, s + 1, 8, next), SP_OK);
	T_EQ_INT(sp_totp_code(rfc_secret, 20, s + 2, 8, far), SP_OK);

	T_EQ_INT(sp_totp_verify(rfc_secret, 20, 8, "14050471", t, 0, &step, &err), SP_OK);
	T_EQ_INT(step, s);
	T_EQ_INT(sp_totp_verify(rfc_secret, 20, 8, "1405 0471", t, 0, &step, &err), SP_OK);
	T_EQ_INT(sp_totp_verify(rfc_secret, 20, 8, " 14 05 04 71 ", t, 0, &step, &err), SP_OK);
	T_EQ_INT(sp_totp_verify(rfc_secret, 20, 8, prev, t, 0, &step, &err), SP_OK);
	T_EQ_INT(step, s - 1);
	T_EQ_INT(sp_totp_verify(rfc_secret, 20, 8, next, t, 0, &step, &err), SP_OK);
	T_EQ_INT(step, s + 1);
	T_EQ_INT(sp_totp_verify(rfc_secret, 20, 8, far, t, 0, &step, &err), SP_ERR_DENIED);
	T_EQ_INT(step, 0);
	/* reuse: the same step, or an earlier one, is refused */
	T_EQ_INT(sp_totp_verify(rfc_secret, 20, 8, "14050471", t, s, &step, &err), SP_ERR_REPLAY);
	T_EQ_INT(sp_totp_verify(rfc_secret, 20, 8, prev, t, s, &step, &err), SP_ERR_REPLAY);
	T_EQ_INT(sp_totp_verify(rfc_secret, 20, 8, next, t, s, &step, &err), SP_OK);
	T_EQ_INT(step, s + 1);
	/* wrong and malformed codes */
	T_EQ_INT(sp_totp_verify(rfc_secret, 20, 8, "14050472", t, 0, &step, &err), SP_ERR_DENIED);
	T_EQ_INT(sp_totp_verify(rfc_secret, 20, 8, "1405047", t, 0, &step, &err), SP_ERR_INVALID);
	T_EQ_INT(sp_totp_verify(rfc_secret, 20, 8, "140504711", t, 0, &step, &err), SP_ERR_INVALID);
	T_EQ_INT(sp_totp_verify(rfc_secret, 20, 8, "1405-0471", t, 0, &step, &err), SP_ERR_INVALID);
	T_EQ_INT(sp_totp_verify(rfc_secret, 20, 8, "", t, 0, &step, &err), SP_ERR_INVALID);
	T_EQ_INT(sp_totp_verify(rfc_secret, 20, 8, "١٤٠٥٠٤٧١", t, 0, &step, &err), SP_ERR_INVALID);
	T_EQ_INT(sp_totp_verify(rfc_secret, 20, 8, NULL, t, 0, &step, &err), SP_ERR_INVALID);
	{
		char spaces[200];

		memset(spaces, ' ', sizeof(spaces));
		memcpy(spaces + 150, "14050471", 8);
		spaces[sizeof(spaces) - 1] = '\0';
		T_EQ_INT(sp_totp_verify(rfc_secret, 20, 8, spaces, t, 0, &step, &err),
		    SP_ERR_INVALID);
	}
	/* 6 digits, the default */
	T_EQ_INT(sp_totp_verify(rfc_secret, 20, SP_TOTP_DIGITS, "050471", t, 0, &step, &err), SP_OK);
	T_EQ_INT(sp_totp_verify(rfc_secret, 20, SP_TOTP_DIGITS, "14050471", t, 0, &step, &err),
	    SP_ERR_INVALID);
	/* near the epoch the window does not wrap */
	T_EQ_INT(sp_totp_verify(rfc_secret, 20, 8, "94287082", 59, 0, &step, &err), SP_OK);
	T_EQ_INT(step, 1);
}

static void
test_base32(void)
{
	static const struct { const char *in, *out; } v[] = {
		{"", ""}, {"f", "MY"}, {"fo", "MZXQ"}, {"foo", "MZXW6"},
		{"foob", "MZXW6YQ"}, {"fooba", "MZXW6YTB"}, {"foobar", "MZXW6YTBOI"},
	};
	unsigned char raw[128], rnd[64];
	struct sp_buf b;
	struct sp_err err;
	size_t i, n;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		sp_buf_init(&b, 256);
		T_EQ_INT(sp_base32_encode(&b, v[i].in, strlen(v[i].in)), SP_OK);
		T_CHECK(b.len == strlen(v[i].out) && memcmp(b.data ? (char *)b.data : "",
		    v[i].out, b.len) == 0);
		T_EQ_INT(sp_base32_decode(v[i].out, strlen(v[i].out), raw, sizeof(raw), &n, &err),
		    SP_OK);
		T_CHECK(n == strlen(v[i].in) && memcmp(raw, v[i].in, n) == 0);
		sp_buf_free(&b);
	}
	/* case-insensitive */
	T_EQ_INT(sp_base32_decode("mzxw6ytboi", 10, raw, sizeof(raw), &n, &err), SP_OK);
	T_CHECK(n == 6 && memcmp(raw, "foobar", 6) == 0);
	/* round trips of every length up to 64 */
	for (i = 0; i <= sizeof(rnd); i++) {
		T_EQ_INT(sp_random(rnd, sizeof(rnd)), SP_OK);
		sp_buf_init(&b, 256);
		T_EQ_INT(sp_base32_encode(&b, rnd, i), SP_OK);
		T_EQ_INT(sp_base32_decode((char *)b.data, b.len, raw, sizeof(raw), &n, &err), SP_OK);
		T_CHECK(n == i && memcmp(raw, rnd, i) == 0);
		sp_buf_free(&b);
	}
	/* bad input */
	T_EQ_INT(sp_base32_decode("MY======", 8, raw, sizeof(raw), &n, &err), SP_ERR_INVALID);
	T_EQ_INT(sp_base32_decode("MY=", 3, raw, sizeof(raw), &n, &err), SP_ERR_INVALID);
	T_EQ_INT(sp_base32_decode("MZXW 6", 6, raw, sizeof(raw), &n, &err), SP_ERR_INVALID);
	T_EQ_INT(sp_base32_decode("MZXW1", 5, raw, sizeof(raw), &n, &err), SP_ERR_INVALID);
	T_EQ_INT(sp_base32_decode("MZXW8", 5, raw, sizeof(raw), &n, &err), SP_ERR_INVALID);
	T_EQ_INT(sp_base32_decode("M", 1, raw, sizeof(raw), &n, &err), SP_ERR_INVALID);
	T_EQ_INT(sp_base32_decode("MZX", 3, raw, sizeof(raw), &n, &err), SP_ERR_INVALID);
	T_EQ_INT(sp_base32_decode("MZ", 2, raw, sizeof(raw), &n, &err), SP_ERR_INVALID);
	T_EQ_INT(sp_base32_decode("MZ\0W6", 5, raw, sizeof(raw), &n, &err), SP_ERR_INVALID);
	T_EQ_INT(sp_base32_decode("MZXW6\x80", 6, raw, sizeof(raw), &n, &err), SP_ERR_INVALID);
	T_EQ_INT(sp_base32_decode("MZXW6YTBOI", 10, raw, 5, &n, &err), SP_ERR_TOOBIG);
	{
		char lng[SP_BASE32_MAX + 8];

		memset(lng, 'A', sizeof(lng));
		T_EQ_INT(sp_base32_decode(lng, SP_BASE32_MAX, raw, sizeof(raw), &n, &err), SP_OK);
		T_EQ_INT(n, SP_BASE32_MAX * 5 / 8);
		T_EQ_INT(sp_base32_decode(lng, SP_BASE32_MAX + 8, raw, sizeof(raw), &n, &err),
		    SP_ERR_INVALID);
	}
	T_EQ_INT(sp_base32_decode(NULL, 0, raw, sizeof(raw), &n, &err), SP_ERR_INVALID);
}

static void
test_uri(void)
{
	struct sp_buf b;
	struct sp_err err;
	char lng[SP_TOTP_LABEL_MAX + 2];

	sp_buf_init(&b, 4096);
	T_EQ_INT(sp_totp_uri(&b, "Example Clinic", "jo.smith@mail.example", rfc_secret, 20, &err),
	    SP_OK);
	T_CHECK(strcmp((char *)b.data,
	    "otpauth://totp/Example%20Clinic:jo.smith%40mail.example"
	    "?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Example%20Clinic"
	    "&algorithm=SHA1&digits=6&period=30") == 0);
	sp_buf_reset(&b);
	T_EQ_INT(sp_totp_uri(&b, "A:B&c=d", "x?y#z/\xc3\xa9", rfc_secret, 20, &err), SP_OK);
	T_CHECK(strncmp((char *)b.data, "otpauth://totp/A%3AB%26c%3Dd:x%3Fy%23z%2F%C3%A9?secret=",
	    55) == 0);
	T_CHECK(strstr((char *)b.data, "&issuer=A%3AB%26c%3Dd&") != NULL);
	sp_buf_reset(&b);
	T_EQ_INT(sp_totp_uri(&b, "", "a", rfc_secret, 20, &err), SP_ERR_INVALID);
	T_EQ_INT(sp_totp_uri(&b, "a", NULL, rfc_secret, 20, &err), SP_ERR_INVALID);
	T_EQ_INT(sp_totp_uri(&b, "a", "b", rfc_secret, 0, &err), SP_ERR_INVALID);
	T_EQ_INT(sp_totp_uri(&b, "a", "b", rfc_secret, SP_TOTP_SECRET_MAX + 1, &err), SP_ERR_INVALID);
	memset(lng, 'x', sizeof(lng));
	lng[sizeof(lng) - 1] = '\0';
	T_EQ_INT(sp_totp_uri(&b, lng, "b", rfc_secret, 20, &err), SP_ERR_INVALID);
	sp_buf_wipe(&b);
	sp_buf_init(&b, 20);
	T_EQ_INT(sp_totp_uri(&b, "a", "b", rfc_secret, 20, &err), SP_ERR_TOOBIG);
	sp_buf_wipe(&b);
}

static void
test_secret(void)
{
	unsigned char a[SP_TOTP_SECRET_LEN], b[SP_TOTP_SECRET_LEN];

	T_EQ_INT(sp_totp_secret_new(a), SP_OK);
	T_EQ_INT(sp_totp_secret_new(b), SP_OK);
	T_CHECK(memcmp(a, b, sizeof(a)) != 0);
}

static void
test_recovery(void)
{
	char codes[10][SP_RECOVERY_SIZE], norm[SP_RECOVERY_NORM_SIZE], other[SP_RECOVERY_NORM_SIZE];
	struct sp_err err;
	size_t i, j;

	T_EQ_INT(sp_recovery_codes_new(codes, 10), SP_OK);
	for (i = 0; i < 10; i++) {
		T_EQ_INT(strlen(codes[i]), 12);
		T_CHECK(codes[i][4] == '-' && codes[i][9] == '-');
		for (j = 0; j < 12; j++)
			T_CHECK(j == 4 || j == 9 || strchr("0123456789abcdefghjkmnpqrstvwxyz",
			    codes[i][j]) != NULL);
		T_EQ_INT(sp_recovery_normalize(codes[i], norm, &err), SP_OK);
		T_EQ_INT(strlen(norm), 10);
		for (j = 0; j < i; j++)
			T_CHECK(strcmp(codes[i], codes[j]) != 0);
	}
	T_EQ_INT(sp_recovery_normalize("abcd-efgh-jk", norm, &err), SP_OK);
	T_CHECK(strcmp(norm, "abcdefghjk") == 0);
	T_EQ_INT(sp_recovery_normalize(" ABCD EFGH-JK ", other, &err), SP_OK);
	T_CHECK(strcmp(norm, other) == 0);
	T_EQ_INT(sp_recovery_normalize("o1l0-iabc-de", norm, &err), SP_OK);
	T_CHECK(strcmp(norm, "01101abcde") == 0);
	T_EQ_INT(sp_recovery_normalize("abcd-efgh-j", norm, &err), SP_ERR_INVALID);
	T_CHECK(norm[0] == '\0');
	T_EQ_INT(sp_recovery_normalize("abcd-efgh-jkm", norm, &err), SP_ERR_INVALID);
	T_EQ_INT(sp_recovery_normalize("abcd-efgh-u1", norm, &err), SP_ERR_INVALID);
	T_EQ_INT(sp_recovery_normalize("abcd_efgh_jk", norm, &err), SP_ERR_INVALID);
	T_EQ_INT(sp_recovery_normalize("", norm, &err), SP_ERR_INVALID);
	T_EQ_INT(sp_recovery_normalize(NULL, norm, &err), SP_ERR_INVALID);
	T_EQ_INT(sp_recovery_codes_new(codes, 0), SP_ERR_INVALID);
	T_EQ_INT(sp_recovery_codes_new(NULL, 1), SP_ERR_INVALID);
	sp_wipe(codes, sizeof(codes));
}

/* The stored form of a recovery code.  The known answers are pinned: a
 * change of either form would make every stored code fail. */
static void
test_recovery_hash(void)
{
	/* Argon2id (8 MiB, 2 passes), salt SHA-256("sealpost recovery
	 * salt:tom@example.org")[0..16), of "0123456789" */
	static const char want[] = "f02beca10c702c6f87d9c35387063d620c3c24c9deb73d66a364ebcc3eed7a50";
	/* SHA-256("recovery:tom@example.org:0123456789"), codes made before */
	static const char want_v1[] = "d3ece937d149436d14db025be7f5294168ce8f2394de7773edc1ffa6e4a09e7e";
	unsigned char h[32], h2[32], v1[32];
	char hex[65];
	size_t i;

	T_EQ_INT(sp_recovery_hash("tom@example.org", "0123456789", h), SP_OK);
	for (i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", h[i]);
	T_CHECK(strcmp(hex, want) == 0);
	sp_recovery_hash_v1("tom@example.org", "0123456789", v1);
	for (i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", v1[i]);
	T_CHECK(strcmp(hex, want_v1) == 0);
	/* the account salts it: the same code of another account differs */
	T_EQ_INT(sp_recovery_hash("ann@example.org", "0123456789", h2), SP_OK);
	T_CHECK(memcmp(h, h2, 32) != 0);
	T_EQ_INT(sp_recovery_hash("tom@example.org", "0123456788", h2), SP_OK);
	T_CHECK(memcmp(h, h2, 32) != 0);
	/* only normalised codes, and never a NULL */
	T_EQ_INT(sp_recovery_hash("tom@example.org", "0123-4567-89", h2), SP_ERR_INVALID);
	T_EQ_INT(sp_recovery_hash(NULL, "0123456789", h2), SP_ERR_INVALID);
	T_EQ_INT(sp_recovery_hash("tom@example.org", NULL, h2), SP_ERR_INVALID);
}

T_MAIN(test_rfc6238, test_verify, test_base32, test_uri, test_secret, test_recovery,
    test_recovery_hash)

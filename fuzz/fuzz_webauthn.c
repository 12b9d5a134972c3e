/*
 * fuzz_webauthn.c - libFuzzer target for the WebAuthn checks.  The input
 * (any bytes) is given whole as an attestationObject, as an assertion's
 * authenticatorData and as a stored public key, each beside a fixed
 * clientDataJSON that passes, so the CBOR and authenticatorData parsers are
 * reached; and split in two (the first two bytes give the split) as
 * clientDataJSON and attestationObject / authenticatorData.  Every call
 * must return a status, never crash; an accepted registration must carry an
 * in-range credential id, a key and a supported algorithm.
 * SECURITY: exercises the code that parses browser and authenticator bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "webauthn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct sp_webauthn_rp rp = {"127.0.0.1", "http://127.0.0.1:8080"};
/* base64url of chal is "MDEyMzQ1Njc4OWFiY2RlZg" */
static const unsigned char chal[16] = "0123456789abcdef";
static const char cd_create[] = "{\"type\":\"webauthn.create\","
    "\"challenge\":\"MDEyMzQ1Njc4OWFiY2RlZg\",\"origin\":\"http://127.0.0.1:8080\"}";
static const char cd_get[] = "{\"type\":\"webauthn.get\","
    "\"challenge\":\"MDEyMzQ1Njc4OWFiY2RlZg\",\"origin\":\"http://127.0.0.1:8080\"}";
/* a P-256 public key, SubjectPublicKeyInfo DER */
static const unsigned char spki[91] = {
	0x30,0x59,0x30,0x13,0x06,0x07,0x2a,0x86,0x48,0xce,0x3d,0x02,
	0x01,0x06,0x08,0x2a,0x86,0x48,0xce,0x3d,0x03,0x01,0x07,0x03,
	0x42,0x00,0x04,0x1a,0x8a,0xe7,0x53,0x86,0x18,0x5b,0xd2,0xbe,
	0xbd,0x80,0xa8,0xf2,0x78,0xa2,0x3d,0xf1,0x11,0x28,0x3c,0xed,
	0xd4,0xb7,0xfb,0x8c,0x08,0xa7,0xe1,0x99,0x31,0x2f,0x03,0xa8,
	0x6a,0x00,0x1c,0x06,0xda,0xd6,0xad,0xd1,0x8b,0x47,0x78,0xd2,
	0xf9,0xfe,0x5a,0xf8,0xe7,0x31,0x5f,0x56,0xab,0xfd,0x66,0xfc,
	0x12,0x2e,0x61,0x4d,0xec,0x3e,0xc9};
static const unsigned char sig[8] = {0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01};

static void
registration(const unsigned char *cd, size_t cd_len, const unsigned char *ao, size_t ao_len)
{
	struct sp_webauthn_cred c;
	struct sp_err err;

	if (sp_webauthn_verify_registration(&rp, chal, sizeof(chal), cd, cd_len, ao, ao_len,
	    &c, &err) == SP_OK) {
		if (c.id_len < SP_WA_CRED_ID_MIN || c.id_len > SP_WA_CRED_ID_MAX ||
		    c.public_key_len == 0 || c.public_key_len > SP_WA_PUBKEY_MAX ||
		    (c.alg != SP_WA_ES256 && c.alg != SP_WA_EDDSA) ||
		    !(c.flags & SP_WA_FLAG_UP) || !(c.flags & SP_WA_FLAG_AT))
			abort();
	}
}

static void
assertion(const unsigned char *cd, size_t cd_len, const unsigned char *ad, size_t ad_len,
    const unsigned char *key, size_t key_len)
{
	struct sp_webauthn_assertion in = {cd, cd_len, ad, ad_len, sig, sizeof(sig)};
	struct sp_webauthn_result res;
	struct sp_err err;

	/* a forged signature must never pass */
	if (sp_webauthn_verify_assertion(&rp, chal, sizeof(chal), key, key_len, SP_WA_ES256,
	    0, &in, &res, &err) == SP_OK)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t k;

	if (size > 20000)
		return 0;
	registration((const unsigned char *)cd_create, strlen(cd_create), data, size);
	assertion((const unsigned char *)cd_get, strlen(cd_get), data, size, spki, sizeof(spki));
	assertion((const unsigned char *)cd_get, strlen(cd_get), data, size, data, size);
	if (size >= 2) {
		k = ((size_t)data[0] << 8 | data[1]) % (size - 1);
		registration(data + 2, k, data + 2 + k, size - 2 - k);
		assertion(data + 2, k, data + 2 + k, size - 2 - k, spki, sizeof(spki));
	}
	return 0;
}

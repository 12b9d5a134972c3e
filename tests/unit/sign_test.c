/*
 * sign_test.c - the organisation signing keys and the envelope signature
 * (sign.h): generating, writing (mode 0600, never over an existing file)
 * and loading PKCS#8 PEM keys, the kid of a known key (RFC 8032 test 1),
 * signatures that match OpenSSL's own over the documented message, and
 * verification that fails on any changed byte of the signature, of either
 * digest or of the public key.  Keys that are not Ed25519 (EC, X25519,
 * encrypted, garbage) are refused.
 */
#include "t.h"
#include "sign.h"
#include "sp.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* RFC 8032 section 7.1, test 1: the seed and its public key. */
static const unsigned char rfc_seed[32] = {
	0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec, 0x2c, 0xc4,
	0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60,
};
static const unsigned char rfc_pub[32] = {
	0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe, 0xd3, 0xc9, 0x64, 0x07, 0x3a,
	0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6, 0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68, 0xf7, 0x07, 0x51, 0x1a,
};
/* base64url of the first 8 bytes of SHA-256(rfc_pub) (also in
 * tests/vectors/envelope-v2.json) */
#define RFC_KID "If4x36FUomE"

static char dir[64];

static void
path_in(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s", dir, name);
}

static int
write_text(const char *name, const void *p, size_t n)
{
	char path[128];
	FILE *f;
	int ok;

	path_in(path, sizeof(path), name);
	if ((f = fopen(path, "wb")) == NULL)
		return -1;
	ok = fwrite(p, 1, n, f) == n;
	return fclose(f) == 0 && ok ? 0 : -1;
}

/* The PKCS#8 PEM of an Ed25519 seed, built by hand (RFC 8410 layout). */
static void
seed_pem(const unsigned char seed[32], struct sp_buf *pem)
{
	static const unsigned char prefix[16] = {
		0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
	};
	unsigned char der[48];

	memcpy(der, prefix, 16);
	memcpy(der + 16, seed, 32);
	sp_buf_init(pem, 4096);
	sp_buf_append_str(pem, "-----BEGIN PRIVATE KEY-----\n");
	sp_b64_encode(pem, der, sizeof(der), 64);
	sp_buf_append_str(pem, "-----END PRIVATE KEY-----\n");
}

/* Writes key (any type) as PEM to name, encrypted with a passphrase when
 * pass is set. */
static int
write_key(const char *name, EVP_PKEY *key, const char *pass)
{
	char path[128];
	FILE *f;
	int ok;

	path_in(path, sizeof(path), name);
	if ((f = fopen(path, "w")) == NULL)
		return -1;
	ok = PEM_write_PrivateKey(f, key, pass ? EVP_aes_256_cbc() : NULL,
	    (unsigned char *)pass, pass ? (int)strlen(pass) : 0, NULL, NULL) == 1;
	return fclose(f) == 0 && ok ? 0 : -1;
}

static void
test_generate_write_load(void)
{
	struct sp_signer *s = NULL, *l = NULL, *other = NULL;
	struct sp_buf pem, pem2, back;
	struct sp_err err;
	unsigned char pub[32], pub2[32];
	char kid[SP_SIGN_KID_LEN + 1], kid2[SP_SIGN_KID_LEN + 1], path[128];
	struct stat st;
	FILE *f;
	size_t i;

	sp_buf_init(&pem, 4096);
	T_EQ_INT(sp_signer_generate(&s, &pem, &err), SP_OK);
	T_CHECK(s != NULL);
	if (s == NULL)
		return;
	T_CHECK(pem.len > 60 && memcmp(pem.data, "-----BEGIN PRIVATE KEY-----\n", 28) == 0);
	sp_signer_pub(s, pub);
	sp_signer_kid(s, kid);
	sp_sign_kid(pub, kid2);
	T_EQ_INT(strlen(kid), SP_SIGN_KID_LEN);
	T_CHECK(strcmp(kid, kid2) == 0);
	for (i = 0; i < SP_SIGN_KID_LEN; i++)
		T_CHECK(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", kid[i]) != NULL);
	/* two keys differ */
	sp_buf_init(&pem2, 4096);
	T_EQ_INT(sp_signer_generate(&other, &pem2, &err), SP_OK);
	sp_signer_pub(other, pub2);
	T_CHECK(memcmp(pub, pub2, 32) != 0);

	/* written mode 0600, exactly the PEM */
	path_in(path, sizeof(path), "org.key");
	T_EQ_INT(sp_signer_write_pem(path, &pem, &err), SP_OK);
	T_EQ_INT(stat(path, &st), 0);
	T_EQ_INT(st.st_mode & 0777, 0600);
	T_EQ_INT(st.st_size, (long long)pem.len);
	/* never over an existing file: refused, the file unchanged */
	T_EQ_INT(sp_signer_write_pem(path, &pem2, &err), SP_ERR_EXISTS);
	T_CHECK(strstr(err.msg, path) != NULL);
	sp_buf_init(&back, 1 << 20);
	f = fopen(path, "rb");
	T_CHECK(f != NULL);
	if (f != NULL) {
		sp_buf_reserve(&back, 8192);
		back.len = fread(back.data, 1, 8192, f);
		fclose(f);
	}
	T_CHECK(back.len == pem.len && memcmp(back.data, pem.data, pem.len) == 0);
	sp_buf_free(&back);
	/* nor through a symbolic link, even a dangling one */
	{
		char link[128], target[128];

		path_in(link, sizeof(link), "link.key");
		path_in(target, sizeof(target), "target.key");
		T_EQ_INT(symlink(target, link), 0);
		T_EQ_INT(sp_signer_write_pem(link, &pem, &err), SP_ERR_EXISTS);
		T_CHECK(access(target, F_OK) != 0);
	}
	/* a directory that does not exist */
	path_in(path, sizeof(path), "no/such/dir.key");
	T_EQ_INT(sp_signer_write_pem(path, &pem, &err), SP_ERR_IO);

	/* loads back to the same key */
	path_in(path, sizeof(path), "org.key");
	T_EQ_INT(sp_signer_load(&l, path, &err), SP_OK);
	T_CHECK(l != NULL);
	if (l != NULL) {
		sp_signer_pub(l, pub2);
		T_EQ_MEM(pub, pub2, 32);
		sp_signer_kid(l, kid2);
		T_CHECK(strcmp(kid, kid2) == 0);
	}
	sp_signer_free(l);
	sp_signer_free(other);
	sp_signer_free(s);
	sp_signer_free(NULL);
	sp_buf_wipe(&pem);
	sp_buf_wipe(&pem2);
}

static void
test_known_key(void)
{
	struct sp_signer *s = NULL;
	struct sp_buf pem, b64;
	struct sp_err err;
	unsigned char pub[32], h[32];
	char kid[SP_SIGN_KID_LEN + 1], path[128];

	seed_pem(rfc_seed, &pem);
	T_EQ_INT(write_text("rfc.key", pem.data, pem.len), 0);
	path_in(path, sizeof(path), "rfc.key");
	T_EQ_INT(sp_signer_load(&s, path, &err), SP_OK);
	T_CHECK(s != NULL);
	if (s == NULL)
		return;
	sp_signer_pub(s, pub);
	T_EQ_MEM(pub, rfc_pub, 32);
	sp_signer_kid(s, kid);
	T_CHECK(strcmp(kid, RFC_KID) == 0);
	/* the kid is base64url of the first 8 bytes of SHA-256(pub) */
	sp_sha256(rfc_pub, 32, h);
	sp_buf_init(&b64, 64);
	sp_b64url_encode(&b64, h, 8);
	T_CHECK(b64.len == SP_SIGN_KID_LEN && memcmp(b64.data, kid, SP_SIGN_KID_LEN) == 0);
	sp_sign_kid(rfc_pub, kid);
	T_CHECK(strcmp(kid, RFC_KID) == 0);
	sp_buf_free(&b64);
	sp_signer_free(s);
	sp_buf_free(&pem);
}

static void
test_sign_verify(void)
{
	struct sp_signer *s = NULL, *other = NULL;
	struct sp_buf pem;
	struct sp_err err;
	unsigned char hs[32], cs[32], sig[64], sig2[64], t[64], pub[32], opub[32];
	unsigned char msg[SP_SIGN_MSG_LEN], hand[SP_SIGN_MSG_LEN];
	char path[128];
	size_t i, n = 64;
	int bit, ok;

	seed_pem(rfc_seed, &pem);
	T_EQ_INT(write_text("rfc2.key", pem.data, pem.len), 0);
	sp_buf_free(&pem);
	path_in(path, sizeof(path), "rfc2.key");
	T_EQ_INT(sp_signer_load(&s, path, &err), SP_OK);
	if (s == NULL)
		return;
	sp_signer_pub(s, pub);
	sp_sha256("header bytes", 12, hs);
	sp_sha256("ciphertext stream", 17, cs);

	/* the signed message: label || SHA-256(header) || SHA-256(ciphertext) */
	sp_sign_envelope_msg(hs, cs, msg);
	T_EQ_INT(SP_SIGN_MSG_LEN, 31 + 64);
	memcpy(hand, "sealpost envelope v2 signature\n", 31);
	memcpy(hand + 31, hs, 32);
	memcpy(hand + 63, cs, 32);
	T_EQ_MEM(msg, hand, sizeof(hand));

	T_EQ_INT(sp_signer_sign_envelope(s, hs, cs, sig, &err), SP_OK);
	T_EQ_INT(sp_sign_verify_envelope(pub, hs, cs, sig), SP_OK);
	/* deterministic, and what OpenSSL signs over the message built by hand */
	T_EQ_INT(sp_signer_sign_envelope(s, hs, cs, sig2, &err), SP_OK);
	T_EQ_MEM(sig, sig2, 64);
	{
		EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, rfc_seed, 32);
		EVP_MD_CTX *md = EVP_MD_CTX_new();

		T_CHECK(k != NULL && md != NULL && EVP_DigestSignInit(md, NULL, NULL, NULL, k) == 1 &&
		    EVP_DigestSign(md, sig2, &n, hand, sizeof(hand)) == 1 && n == 64);
		T_EQ_MEM(sig, sig2, 64);
		EVP_MD_CTX_free(md);
		EVP_PKEY_free(k);
	}

	/* any changed bit of the signature, of either digest, of the key */
	ok = 1;
	for (i = 0; i < 64; i++)
		for (bit = 0; bit < 8; bit += 3) {
			memcpy(t, sig, 64);
			t[i] ^= (unsigned char)(1 << bit);
			if (sp_sign_verify_envelope(pub, hs, cs, t) != SP_ERR_AUTH) {
				fprintf(stderr, "signature byte %zu bit %d changed still verifies\n", i, bit);
				ok = 0;
			}
		}
	T_CHECK(ok);
	ok = 1;
	for (i = 0; i < 32; i++) {
		unsigned char h2[32], c2[32], p2[32];

		memcpy(h2, hs, 32);
		h2[i] ^= 0x01;
		memcpy(c2, cs, 32);
		c2[i] ^= 0x80;
		memcpy(p2, pub, 32);
		p2[i] ^= 0x04;
		if (sp_sign_verify_envelope(pub, h2, cs, sig) != SP_ERR_AUTH ||
		    sp_sign_verify_envelope(pub, hs, c2, sig) != SP_ERR_AUTH ||
		    sp_sign_verify_envelope(p2, hs, cs, sig) != SP_ERR_AUTH) {
			fprintf(stderr, "byte %zu changed still verifies\n", i);
			ok = 0;
		}
	}
	T_CHECK(ok);
	/* the digests swapped, another key, all zeros */
	T_EQ_INT(sp_sign_verify_envelope(pub, cs, hs, sig), SP_ERR_AUTH);
	sp_buf_init(&pem, 4096);
	T_EQ_INT(sp_signer_generate(&other, &pem, &err), SP_OK);
	sp_buf_wipe(&pem);
	sp_signer_pub(other, opub);
	T_EQ_INT(sp_sign_verify_envelope(opub, hs, cs, sig), SP_ERR_AUTH);
	T_EQ_INT(sp_signer_sign_envelope(other, hs, cs, sig2, &err), SP_OK);
	T_EQ_INT(sp_sign_verify_envelope(opub, hs, cs, sig2), SP_OK);
	T_EQ_INT(sp_sign_verify_envelope(pub, hs, cs, sig2), SP_ERR_AUTH);
	memset(t, 0, sizeof(t));
	T_EQ_INT(sp_sign_verify_envelope(pub, hs, cs, t), SP_ERR_AUTH);
	memset(opub, 0, sizeof(opub));
	T_EQ_INT(sp_sign_verify_envelope(opub, hs, cs, t), SP_ERR_AUTH);
	sp_signer_free(other);
	sp_signer_free(s);
}

static void
test_refused_keys(void)
{
	struct sp_signer *s = (struct sp_signer *)1;
	struct sp_err err;
	char path[128];
	EVP_PKEY *k;

	/* no file */
	path_in(path, sizeof(path), "missing.key");
	T_EQ_INT(sp_signer_load(&s, path, &err), SP_ERR_IO);
	T_CHECK(s == NULL);
	T_CHECK(strstr(err.msg, "missing.key") != NULL);
	/* not PEM, an empty file */
	T_EQ_INT(write_text("junk.key", "hello\n", 6), 0);
	path_in(path, sizeof(path), "junk.key");
	T_EQ_INT(sp_signer_load(&s, path, &err), SP_ERR_INVALID);
	T_CHECK(s == NULL);
	T_EQ_INT(write_text("empty.key", "", 0), 0);
	path_in(path, sizeof(path), "empty.key");
	T_EQ_INT(sp_signer_load(&s, path, &err), SP_ERR_INVALID);
	/* an EC (P-256) key */
	k = EVP_EC_gen("P-256");
	T_CHECK(k != NULL);
	T_EQ_INT(write_key("ec.key", k, NULL), 0);
	EVP_PKEY_free(k);
	path_in(path, sizeof(path), "ec.key");
	T_EQ_INT(sp_signer_load(&s, path, &err), SP_ERR_INVALID);
	T_CHECK(s == NULL);
	T_CHECK(strstr(err.msg, "not an Ed25519") != NULL);
	/* an X25519 key (a sibling curve, not a signing key) */
	k = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
	T_CHECK(k != NULL);
	T_EQ_INT(write_key("x25519.key", k, NULL), 0);
	EVP_PKEY_free(k);
	path_in(path, sizeof(path), "x25519.key");
	T_EQ_INT(sp_signer_load(&s, path, &err), SP_ERR_INVALID);
	T_CHECK(strstr(err.msg, "not an Ed25519") != NULL);
	/* an encrypted Ed25519 key: refused, without asking for a passphrase */
	k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, rfc_seed, 32);
	T_CHECK(k != NULL);
	T_EQ_INT(write_key("enc.key", k, "passphrase"), 0);
	EVP_PKEY_free(k);
	path_in(path, sizeof(path), "enc.key");
	T_EQ_INT(sp_signer_load(&s, path, &err), SP_ERR_INVALID);
	T_CHECK(s == NULL);
	/* a public key alone */
	{
		FILE *f;

		k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, rfc_seed, 32);
		path_in(path, sizeof(path), "pub.pem");
		f = fopen(path, "w");
		T_CHECK(f != NULL && PEM_write_PUBKEY(f, k) == 1);
		if (f != NULL)
			fclose(f);
		EVP_PKEY_free(k);
		T_EQ_INT(sp_signer_load(&s, path, &err), SP_ERR_INVALID);
	}
}

/* Removes the scratch directory (its files have known names). */
static void
cleanup(void)
{
	static const char *const names[] = {
		"org.key", "link.key", "rfc.key", "rfc2.key", "junk.key", "empty.key", "ec.key",
		"x25519.key", "enc.key", "pub.pem",
	};
	char path[128];
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		path_in(path, sizeof(path), names[i]);
		unlink(path);
	}
	rmdir(dir);
}

static void
setup(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, sizeof(dir), "%s/sign_test.XXXXXX", tmp != NULL && strlen(tmp) < 40 ? tmp : "/tmp");
	T_CHECK(mkdtemp(dir) != NULL);
}

T_MAIN(setup, test_generate_write_load, test_known_key, test_sign_verify, test_refused_keys, cleanup)

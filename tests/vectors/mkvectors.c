/*
 * mkvectors.c - writes the envelope test vectors from fixed inputs:
 * tests/vectors/envelope-v1.json (format 1, schema in
 * docs/envelope-format.md section 6), with --v2 tests/vectors/
 * envelope-v2.json (format 2, signed, section 7.8), and with --seeds DIR a
 * few seed files for fuzz/fuzz_envelope.c.
 * Not built by default; from the repository root, after `make`:
 *
 *   cc -std=c17 -D_GNU_SOURCE -Isrc/lib -o build/mkvectors tests/vectors/mkvectors.c \
 *      build/libsealpost.a $(pkg-config --cflags --libs gmime-3.0 libmicrohttpd \
 *      jansson libsodium sqlite3 libcurl libhs libcrypto zlib libfido2 libqrencode \
 *      libcbor libpq) -lmilter -lpthread -lm
 *   build/mkvectors > tests/vectors/envelope-v1.json
 *   build/mkvectors --v2 > tests/vectors/envelope-v2.json
 *   build/mkvectors --seeds fuzz/corpus/envelope
 *
 * Every input is fixed (the signing keys come from fixed 32-byte seeds, and
 * Ed25519 signatures are deterministic), so the output is the same on every
 * run.
 */
#include "envelope.h"
#include "sign.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEALED (SP_ENV_CHUNK + SP_GCM_TAG_LEN)
#define HEX_MAX 1024	/* plaintexts up to this size are given in hex */

static void
die(const char *what)
{
	fprintf(stderr, "mkvectors: %s\n", what);
	exit(1);
}

static json_t *
hex(const unsigned char *p, size_t n)
{
	static const char d[] = "0123456789abcdef";
	char *s = malloc(2 * n + 1);
	json_t *v;
	size_t i;

	if (s == NULL)
		die("out of memory");
	for (i = 0; i < n; i++) {
		s[2 * i] = d[p[i] >> 4];
		s[2 * i + 1] = d[p[i] & 15];
	}
	s[2 * n] = '\0';
	v = json_string(s);
	free(s);
	return v;
}

struct vcase {
	const char *name;
	int variant;		/* 0: plain header, 1: non-ASCII org, two recipients */
	const char *text;	/* plaintext, or NULL for the counter pattern */
	size_t len;
};

static const struct vcase cases[] = {
	{ "empty", 0, "", 0 },
	{ "one-byte", 0, "*", 1 },
	{ "text-unicode-header", 1, "Hello, sealpost!\n", 17 },
	{ "chunk-exact", 0, NULL, 65536 },
	{ "chunk-plus-one", 0, NULL, 65537 },
	{ "large", 0, NULL, 200000 },
};

/* The signing key of the format 2 vectors and another organisation's key
 * (the seeds of RFC 8032 section 7.1, tests 1 and 2). */
static const unsigned char sign_seed[32] = {
	0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec, 0x2c, 0xc4,
	0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60,
};
static const unsigned char other_seed[32] = {
	0x4c, 0xcd, 0x08, 0x9b, 0x28, 0xff, 0x96, 0xda, 0x9d, 0xb6, 0xc3, 0x46, 0xec, 0x11, 0x4e, 0x0f,
	0x5b, 0x8a, 0x31, 0x9f, 0x35, 0xab, 0xa6, 0x24, 0xda, 0x8c, 0xf6, 0xed, 0x4f, 0xb8, 0xa6, 0xfb,
};

/* The public key of a seed and its kid. */
static void
seed_pub(const unsigned char seed[32], unsigned char pub[32], char kid[SP_SIGN_KID_LEN + 1])
{
	EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
	size_t n = 32;

	if (k == NULL || EVP_PKEY_get_raw_public_key(k, pub, &n) != 1 || n != 32)
		die("ed25519 key");
	EVP_PKEY_free(k);
	sp_sign_kid(pub, kid);
}

/* Signs the envelope (header bytes, ciphertext) with the key of seed. */
static void
seed_sign(const unsigned char seed[32], const unsigned char *hb, size_t hlen,
    const unsigned char *ct, size_t ctlen, unsigned char sig[64])
{
	unsigned char hs[32], cs[32], msg[SP_SIGN_MSG_LEN];
	EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	size_t n = 64;

	if (sp_sha256(hb, hlen, hs) != SP_OK || sp_sha256(ct, ctlen, cs) != SP_OK)
		die("sha256");
	sp_sign_envelope_msg(hs, cs, msg);
	if (k == NULL || md == NULL || EVP_DigestSignInit(md, NULL, NULL, NULL, k) != 1 ||
	    EVP_DigestSign(md, sig, &n, msg, sizeof(msg)) != 1 || n != 64)
		die("ed25519 sign");
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(k);
}

static const char *const v2_levels[] = { "medium", "high", "low" };

/* The inputs of a case: variant 0 plain header, 1 non-ASCII org and two
 * recipients, 2 (format 2 only) like 0 with level low.  Format 2 headers
 * carry the kid of sign_seed, the variant's level, and verify for variant
 * 1. */
static void
fill_inputs_v(int version, int variant, unsigned char sp[32], unsigned char mp[32], char id[23],
    struct sp_env_header *h, struct sp_buf *hb)
{
	int base = variant == 2 ? 0 : variant;
	static char *to0[] = { "pat@example.org" };
	static char *to1[] = { "pat@example.org", "j\xc3\xbcrgen@m\xc3\xbcnchen.example" };
	unsigned char idraw[16];
	struct sp_buf ids;
	struct sp_err err;
	int i;

	for (i = 0; i < 32; i++) {
		sp[i] = (unsigned char)(i + 32 * base);
		mp[i] = (unsigned char)(0x80 + i + 32 * base);
	}
	for (i = 0; i < 16; i++)
		idraw[i] = (unsigned char)(0x40 + i + variant);
	sp_buf_init(&ids, 64);
	if (sp_b64url_encode(&ids, idraw, 16) != SP_OK || ids.len != 22)
		die("id");
	memcpy(id, ids.data, 23);
	sp_buf_free(&ids);
	memset(h, 0, sizeof(*h));
	h->version = version;
	memcpy(h->id, id, 23);
	h->keyd = "https://keys.example.org";
	h->org = base ? "Cl\xc3\xadnica \xc3\x91" "and\xc3\xba <&> \xf0\x9f\x94\x92" : "Example Clinic";
	h->from = "dr@clinic.example";
	h->to = base ? to1 : to0;
	h->nto = base ? 2 : 1;
	h->created = 1795000000;
	h->expires = base ? 1797592000 : 0;
	for (i = 0; i < 7; i++)
		h->nonce_prefix[i] = (unsigned char)(0xa0 + i + variant);
	if (version == 2) {
		unsigned char pub[32];

		seed_pub(sign_seed, pub, h->kid);
		snprintf(h->level, sizeof(h->level), "%s", v2_levels[variant]);
		h->verify = variant == 1;
	}
	sp_buf_init(hb, SP_ENV_MAX_HEADER);
	if (sp_env_header_encode(h, hb, &err) != SP_OK)
		die(err.msg);
}

static void
fill_inputs(int variant, unsigned char sp[32], unsigned char mp[32], char id[23],
    struct sp_env_header *h, struct sp_buf *hb)
{
	fill_inputs_v(1, variant, sp, mp, id, h, hb);
}

static void
plaintext(const struct vcase *c, struct sp_buf *pt)
{
	size_t i;

	sp_buf_init(pt, c->len + 1);
	if (c->text != NULL) {
		if (sp_buf_append(pt, c->text, c->len) != SP_OK)
			die("plaintext");
		return;
	}
	if (sp_buf_reserve(pt, c->len) != SP_OK)
		die("plaintext");
	for (i = 0; i < c->len; i++)
		pt->data[i] = (unsigned char)(i % 251);
	pt->len = c->len;
}

static void
seal(const unsigned char *key, const struct sp_env_header *h, const struct sp_buf *hb,
    const struct sp_buf *pt, struct sp_buf *ct)
{
	struct sp_env_enc *e;
	struct sp_writer w = { sp_writer_buf, ct };

	sp_buf_init(ct, pt->len + pt->len / 1000 + 64);
	if (sp_env_enc_new(&e, key, h->nonce_prefix, hb->data, hb->len, w) != SP_OK ||
	    sp_env_enc_update(e, pt->data, pt->len) != SP_OK || sp_env_enc_final(e) != SP_OK)
		die("seal");
	sp_env_enc_free(e);
}

static json_t *
tamper(const char *name, const char *cname, const char *op)
{
	json_t *t = json_object();

	json_object_set_new(t, "name", json_string(name));
	json_object_set_new(t, "case", json_string(cname));
	json_object_set_new(t, "op", json_string(op));
	return t;
}

static json_t *
with(json_t *t, const char *k, json_int_t v)
{
	json_object_set_new(t, k, json_integer(v));
	return t;
}

static json_t *
tampers(void)
{
	json_t *a = json_array();
	unsigned char wrong[32];
	int i;
	char name[64];

	json_array_append_new(a, with(with(tamper("flip-first-bit", "text-unicode-header", "flip"),
	    "offset", 0), "mask", 1));
	json_array_append_new(a, with(with(tamper("flip-tag", "one-byte", "flip"),
	    "offset", 16), "mask", 128));
	for (i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "flip-chunk-%d", i);
		json_array_append_new(a, with(with(tamper(name, "large", "flip"),
		    "offset", (json_int_t)i * SEALED + 100), "mask", 4));
	}
	json_array_append_new(a, with(tamper("drop-chunk-1", "large", "drop_chunk"), "index", 1));
	json_array_append_new(a, with(tamper("duplicate-chunk-1", "large", "dup_chunk"), "index", 1));
	json_array_append_new(a, with(with(tamper("swap-chunks-0-1", "large", "swap_chunks"),
	    "a", 0), "b", 1));
	json_array_append_new(a, with(tamper("drop-last-chunk", "large", "truncate"),
	    "len", 3 * SEALED));
	json_array_append_new(a, with(tamper("drop-last-chunk-exact", "chunk-plus-one", "truncate"),
	    "len", SEALED));
	json_array_append_new(a, with(tamper("cut-last-byte", "large", "truncate"),
	    "len", 3 * SEALED + 3392 + 16 - 1));
	json_array_append_new(a, with(tamper("cut-tag", "text-unicode-header", "truncate"),
	    "len", 17));
	json_array_append_new(a, with(tamper("empty-stream", "empty", "truncate"), "len", 0));
	json_array_append_new(a, with(tamper("append-copy-of-chunk-0", "chunk-exact", "append_chunk"),
	    "index", 0));
	json_array_append_new(a, with(tamper("append-copy-of-last", "chunk-plus-one", "append_chunk"),
	    "index", 1));
	memset(wrong, 0, sizeof(wrong));
	{
		json_t *t = tamper("append-bytes", "empty", "append");

		json_object_set_new(t, "hex", hex(wrong, 16));
		json_array_append_new(a, t);
	}
	json_array_append_new(a, with(with(tamper("header-byte", "text-unicode-header", "header_flip"),
	    "offset", 5), "mask", 1));
	json_array_append_new(a, with(with(tamper("header-last-byte", "large", "header_flip"),
	    "offset", -1), "mask", 0x20));
	for (i = 0; i < 32; i++)
		wrong[i] = (unsigned char)(i == 31 ? 0x1e : i);	/* server part with its last bit changed */
	{
		json_t *t = tamper("wrong-server-part", "one-byte", "server_part");

		json_object_set_new(t, "hex", hex(wrong, 32));
		json_array_append_new(a, t);
		t = tamper("wrong-mail-part", "chunk-plus-one", "mail_part");
		for (i = 0; i < 32; i++)
			wrong[i] = (unsigned char)(0x80 + i);
		wrong[0] ^= 0x80;
		json_object_set_new(t, "hex", hex(wrong, 32));
		json_array_append_new(a, t);
	}
	return a;
}

static int
write_file(const char *dir, const char *name, const void *p, size_t n)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "wb")) == NULL)
		return -1;
	if (n > 0 && fwrite(p, 1, n, f) != n) {
		fclose(f);
		return -1;
	}
	return fclose(f);
}

/* Writes one envelope file (and its header) for the fuzzer's seeds. */
static void
seed_envelope(const char *dir, int version, int variant, const char *html_name,
    const char *header_name)
{
	unsigned char sp[32], mp[32], key[32], sig[64];
	char id[23];
	struct sp_env_header h;
	struct sp_buf hb, pt, ct, html;
	struct sp_env_html_params p;
	struct sp_writer w = { sp_writer_buf, &html };
	struct sp_err err;
	/* a 1x1 PNG (one green pixel), so the logo path is seeded too */
	static const unsigned char logo[] = {
		0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48,
		0x44, 0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00,
		0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78,
		0xda, 0x63, 0xe0, 0xaa, 0xb7, 0xff, 0x0f, 0x00, 0x03, 0x27, 0x01, 0xc8, 0x87, 0x95,
		0x6a, 0xb7, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
	};

	fill_inputs_v(version, variant, sp, mp, id, &h, &hb);
	if (sp_env_derive_key_v(version, sp, mp, id, key) != SP_OK)
		die("key");
	plaintext(&cases[variant == 1 ? 2 : 1], &pt);
	seal(key, &h, &hb, &pt, &ct);
	memset(&p, 0, sizeof(p));
	p.header = &h;
	p.header_bytes = hb.data;
	p.header_len = hb.len;
	p.mail_part = mp;
	p.subject_display = variant == 1 ? "Befund \xe2\x80\x94 M\xc3\xa4rz" : NULL;
	if (version == 2) {
		seed_sign(sign_seed, hb.data, hb.len, ct.data, ct.len, sig);
		p.sig = sig;
		p.brand_colour = "#0a7f3f";
		p.brand_logo = logo;
		p.brand_logo_len = sizeof(logo);
	}
	sp_buf_init(&html, 1 << 20);
	if (sp_env_html_write(&p, ct.data, ct.len, w, &err) != SP_OK)
		die(err.msg);
	if (write_file(dir, html_name, html.data, html.len) ||
	    write_file(dir, header_name, hb.data, hb.len))
		die("cannot write seed");
	sp_buf_free(&html);
	sp_buf_free(&hb);
	sp_buf_free(&pt);
	sp_buf_free(&ct);
}

/* Seeds for the envelope fuzzer: small envelopes of both formats and their
 * headers. */
static void
seeds(const char *dir)
{
	seed_envelope(dir, 1, 0, "envelope-small.html", "header.json");
	seed_envelope(dir, 1, 1, "envelope-unicode.html", "header-unicode.json");
	seed_envelope(dir, 2, 0, "envelope-v2.html", "header-v2.json");
	seed_envelope(dir, 2, 1, "envelope-v2-unicode.html", "header-v2-unicode.json");
}

/* --- format 2 ------------------------------------------------------------- */

static const struct vcase cases_v2[] = {
	{ "empty", 0, "", 0 },
	{ "one-byte", 0, "*", 1 },
	{ "text-unicode-header", 1, "Hello, sealpost!\n", 17 },
	{ "level-low", 2, "low", 3 },
	{ "chunk-exact", 0, NULL, 65536 },
	{ "chunk-plus-one", 0, NULL, 65537 },
	{ "large", 0, NULL, 200000 },
};

static json_t *
expect(json_t *t, const char *decrypt, const char *signature)
{
	json_object_set_new(t, "decrypt", json_string(decrypt));
	json_object_set_new(t, "signature", json_string(signature));
	return t;
}

/* The attacker of section 7: a co-recipient knows the message key, writes a
 * header naming its own key, encrypts new text under it and signs. */
static json_t *
tamper_resign(void)
{
	static const char text[] = "Please pay the new account.";
	unsigned char sp[32], mp[32], key[32], sig[64], pub[32];
	char id[23];
	struct sp_env_header h;
	struct sp_buf hb, pt, ct;
	json_t *t = tamper("resigned-by-other-key", "text-unicode-header", "resign");
	struct sp_err err;

	fill_inputs_v(2, 1, sp, mp, id, &h, &hb);
	seed_pub(other_seed, pub, h.kid);
	sp_buf_reset(&hb);
	if (sp_env_header_encode(&h, &hb, &err) != SP_OK)
		die(err.msg);
	if (sp_env_derive_key_v(2, sp, mp, id, key) != SP_OK)
		die("key");
	sp_buf_init(&pt, 100);
	sp_buf_append(&pt, text, sizeof(text) - 1);
	seal(key, &h, &hb, &pt, &ct);
	seed_sign(other_seed, hb.data, hb.len, ct.data, ct.len, sig);
	json_object_set_new(t, "header", hex(hb.data, hb.len));
	json_object_set_new(t, "plaintext", hex(pt.data, pt.len));
	json_object_set_new(t, "ciphertext", hex(ct.data, ct.len));
	json_object_set_new(t, "sig", hex(sig, 64));
	sp_buf_free(&hb);
	sp_buf_free(&pt);
	sp_buf_free(&ct);
	return expect(t, "ok", "fail");
}

static json_t *
tampers_v2(void)
{
	json_t *a = json_array(), *t;
	unsigned char wrong[32];
	int i;

	/* the ciphertext changed: neither decrypts nor verifies */
	json_array_append_new(a, expect(with(with(tamper("flip-first-bit", "text-unicode-header", "flip"),
	    "offset", 0), "mask", 1), "fail", "fail"));
	json_array_append_new(a, expect(with(with(tamper("flip-chunk-2", "large", "flip"),
	    "offset", 2 * SEALED + 7), "mask", 0x40), "fail", "fail"));
	json_array_append_new(a, expect(with(tamper("truncated-last-chunk", "large", "truncate"),
	    "len", 3 * SEALED), "fail", "fail"));
	json_array_append_new(a, expect(with(tamper("truncated-last-byte", "chunk-plus-one", "truncate"),
	    "len", SEALED + 1 + 16 - 1), "fail", "fail"));
	json_array_append_new(a, expect(with(tamper("drop-chunk-0", "large", "drop_chunk"),
	    "index", 0), "fail", "fail"));
	/* the header changed: its digest and the associated data differ */
	json_array_append_new(a, expect(with(with(tamper("header-level-byte", "one-byte", "header_flip"),
	    "offset", -20), "mask", 1), "fail", "fail"));
	json_array_append_new(a, expect(with(with(tamper("header-last-byte", "large", "header_flip"),
	    "offset", -1), "mask", 0x20), "fail", "fail"));
	/* a wrong key part: the signature still covers these bytes */
	for (i = 0; i < 32; i++)
		wrong[i] = (unsigned char)(i == 31 ? 0x1e : i);
	t = tamper("wrong-server-part", "one-byte", "server_part");
	json_object_set_new(t, "hex", hex(wrong, 32));
	json_array_append_new(a, expect(t, "fail", "ok"));
	/* the payload re-encrypted under the same header and key (what any
	 * recipient can do): valid AES-GCM, but the signature's digest differs */
	t = tamper("reencrypted-payload", "one-byte", "reencrypt");
	json_object_set_new(t, "plaintext", hex((const unsigned char *)"!", 1));
	json_array_append_new(a, expect(t, "ok", "fail"));
	t = tamper("reencrypted-longer-payload", "text-unicode-header", "reencrypt");
	json_object_set_new(t, "plaintext", hex((const unsigned char *)"Hello, sealpost?\nPay now.\n", 26));
	json_array_append_new(a, expect(t, "ok", "fail"));
	/* a header re-signed by another organisation's key */
	json_array_append_new(a, tamper_resign());
	/* the signature itself changed, or taken from another envelope */
	json_array_append_new(a, expect(with(with(tamper("sig-flip-first", "one-byte", "sig_flip"),
	    "offset", 0), "mask", 1), "ok", "fail"));
	json_array_append_new(a, expect(with(with(tamper("sig-flip-r", "large", "sig_flip"),
	    "offset", 31), "mask", 0x80), "ok", "fail"));
	json_array_append_new(a, expect(with(with(tamper("sig-flip-s", "empty", "sig_flip"),
	    "offset", 40), "mask", 0x10), "ok", "fail"));
	json_array_append_new(a, expect(with(with(tamper("sig-flip-last", "chunk-exact", "sig_flip"),
	    "offset", 63), "mask", 0x80), "ok", "fail"));
	t = tamper("sig-of-another-envelope", "one-byte", "sig_from");
	json_object_set_new(t, "from", json_string("empty"));
	json_array_append_new(a, expect(t, "ok", "fail"));
	return a;
}

static int
main_v2(void)
{
	json_t *root, *arr, *c;
	unsigned char sp[32], mp[32], key[32], hs[32], cs[32], pub[32], opub[32], sig[64];
	unsigned char msg[SP_SIGN_MSG_LEN];
	char id[23], kid[SP_SIGN_KID_LEN + 1], okid[SP_SIGN_KID_LEN + 1];
	struct sp_env_header h;
	struct sp_buf hb, pt, ct;
	size_t i;
	char *s;

	seed_pub(sign_seed, pub, kid);
	seed_pub(other_seed, opub, okid);
	root = json_object();
	json_object_set_new(root, "format", json_string("sealpost envelope v2 test vectors"));
	json_object_set_new(root, "schema", json_string("docs/envelope-format.md section 7.8"));
	json_object_set_new(root, "sign_seed", hex(sign_seed, 32));
	json_object_set_new(root, "sign_pub", hex(pub, 32));
	json_object_set_new(root, "kid", json_string(kid));
	json_object_set_new(root, "other_seed", hex(other_seed, 32));
	json_object_set_new(root, "other_pub", hex(opub, 32));
	json_object_set_new(root, "other_kid", json_string(okid));
	arr = json_array();
	for (i = 0; i < sizeof(cases_v2) / sizeof(cases_v2[0]); i++) {
		fill_inputs_v(2, cases_v2[i].variant, sp, mp, id, &h, &hb);
		if (sp_env_derive_key_v(2, sp, mp, id, key) != SP_OK)
			die("key");
		plaintext(&cases_v2[i], &pt);
		seal(key, &h, &hb, &pt, &ct);
		if (sp_sha256(hb.data, hb.len, hs) != SP_OK || sp_sha256(ct.data, ct.len, cs) != SP_OK)
			die("sha256");
		sp_sign_envelope_msg(hs, cs, msg);
		seed_sign(sign_seed, hb.data, hb.len, ct.data, ct.len, sig);
		if (sp_sign_verify_envelope(pub, hs, cs, sig) != SP_OK)
			die("signature does not verify");
		c = json_object();
		json_object_set_new(c, "name", json_string(cases_v2[i].name));
		json_object_set_new(c, "server_part", hex(sp, 32));
		json_object_set_new(c, "mail_part", hex(mp, 32));
		json_object_set_new(c, "id", json_string(id));
		json_object_set_new(c, "header", hex(hb.data, hb.len));
		json_object_set_new(c, "np", hex(h.nonce_prefix, 7));
		json_object_set_new(c, "kid", json_string(h.kid));
		json_object_set_new(c, "level", json_string(h.level));
		json_object_set_new(c, "verify", json_boolean(h.verify));
		json_object_set_new(c, "key", hex(key, 32));
		if (pt.len <= HEX_MAX) {
			json_object_set_new(c, "plaintext", hex(pt.data, pt.len));
			json_object_set_new(c, "ciphertext", hex(ct.data, ct.len));
		} else {
			json_t *pat = json_object();

			json_object_set_new(pat, "pattern", json_string("counter"));
			json_object_set_new(pat, "len", json_integer((json_int_t)pt.len));
			json_object_set_new(c, "plaintext", pat);
		}
		json_object_set_new(c, "ciphertext_len", json_integer((json_int_t)ct.len));
		json_object_set_new(c, "header_sha256", hex(hs, 32));
		json_object_set_new(c, "ciphertext_sha256", hex(cs, 32));
		json_object_set_new(c, "signed_message", hex(msg, sizeof(msg)));
		json_object_set_new(c, "sig", hex(sig, 64));
		json_array_append_new(arr, c);
		sp_buf_free(&hb);
		sp_buf_free(&pt);
		sp_buf_free(&ct);
	}
	json_object_set_new(root, "cases", arr);
	json_object_set_new(root, "tamper", tampers_v2());
	if ((s = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER)) == NULL)
		die("json");
	printf("%s\n", s);
	free(s);
	json_decref(root);
	return 0;
}

int
main(int argc, char **argv)
{
	json_t *root, *arr, *c;
	unsigned char sp[32], mp[32], key[32], sum[32];
	char id[23];
	struct sp_env_header h;
	struct sp_buf hb, pt, ct;
	size_t i;
	char *s;

	if (argc == 3 && strcmp(argv[1], "--seeds") == 0) {
		seeds(argv[2]);
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "--v2") == 0)
		return main_v2();
	if (argc != 1) {
		fprintf(stderr, "usage: mkvectors [--v2 | --seeds DIR]\n");
		return 2;
	}
	root = json_object();
	json_object_set_new(root, "format", json_string("sealpost envelope v1 test vectors"));
	json_object_set_new(root, "schema", json_string("docs/envelope-format.md section 6"));
	arr = json_array();
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fill_inputs(cases[i].variant, sp, mp, id, &h, &hb);
		if (sp_env_derive_key(sp, mp, id, key) != SP_OK)
			die("key");
		plaintext(&cases[i], &pt);
		seal(key, &h, &hb, &pt, &ct);
		c = json_object();
		json_object_set_new(c, "name", json_string(cases[i].name));
		json_object_set_new(c, "server_part", hex(sp, 32));
		json_object_set_new(c, "mail_part", hex(mp, 32));
		json_object_set_new(c, "id", json_string(id));
		json_object_set_new(c, "header", hex(hb.data, hb.len));
		json_object_set_new(c, "np", hex(h.nonce_prefix, 7));
		json_object_set_new(c, "key", hex(key, 32));
		if (pt.len <= HEX_MAX) {
			json_object_set_new(c, "plaintext", hex(pt.data, pt.len));
			json_object_set_new(c, "ciphertext", hex(ct.data, ct.len));
		} else {
			json_t *pat = json_object();

			json_object_set_new(pat, "pattern", json_string("counter"));
			json_object_set_new(pat, "len", json_integer((json_int_t)pt.len));
			json_object_set_new(c, "plaintext", pat);
			if (sp_sha256(ct.data, ct.len, sum) != SP_OK)
				die("sha256");
			json_object_set_new(c, "ciphertext_sha256", hex(sum, 32));
		}
		json_object_set_new(c, "ciphertext_len", json_integer((json_int_t)ct.len));
		json_array_append_new(arr, c);
		sp_buf_free(&hb);
		sp_buf_free(&pt);
		sp_buf_free(&ct);
	}
	json_object_set_new(root, "cases", arr);
	json_object_set_new(root, "tamper", tampers());
	if ((s = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER)) == NULL)
		die("json");
	printf("%s\n", s);
	free(s);
	json_decref(root);
	return 0;
}

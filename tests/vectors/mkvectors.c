/*
 * mkvectors.c - writes the envelope test vectors (tests/vectors/
 * envelope-v1.json, schema in docs/envelope-format.md section 6) from fixed
 * inputs, and with --seeds DIR a few seed files for fuzz/fuzz_envelope.c.
 * Not built by default; from the repository root, after `make`:
 *
 *   cc -std=c17 -D_GNU_SOURCE -Isrc/lib -o build/mkvectors tests/vectors/mkvectors.c \
 *      build/libsealpost.a $(pkg-config --cflags --libs gmime-3.0 libmicrohttpd \
 *      jansson libsodium sqlite3 libcurl libhs libcrypto zlib) -lmilter -lpthread -lm
 *   build/mkvectors > tests/vectors/envelope-v1.json
 *   build/mkvectors --seeds fuzz/corpus/envelope
 *
 * Every input is fixed, so the output is the same on every run.
 */
#include "envelope.h"

#include <jansson.h>
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

static void
fill_inputs(int variant, unsigned char sp[32], unsigned char mp[32], char id[23],
    struct sp_env_header *h, struct sp_buf *hb)
{
	static char *to0[] = { "pat@example.org" };
	static char *to1[] = { "pat@example.org", "j\xc3\xbcrgen@m\xc3\xbcnchen.example" };
	unsigned char idraw[16];
	struct sp_buf ids;
	struct sp_err err;
	int i;

	for (i = 0; i < 32; i++) {
		sp[i] = (unsigned char)(i + 32 * variant);
		mp[i] = (unsigned char)(0x80 + i + 32 * variant);
	}
	for (i = 0; i < 16; i++)
		idraw[i] = (unsigned char)(0x40 + i + variant);
	sp_buf_init(&ids, 64);
	if (sp_b64url_encode(&ids, idraw, 16) != SP_OK || ids.len != 22)
		die("id");
	memcpy(id, ids.data, 23);
	sp_buf_free(&ids);
	memset(h, 0, sizeof(*h));
	h->version = 1;
	memcpy(h->id, id, 23);
	h->keyd = "https://keys.example.org";
	h->org = variant ? "Cl\xc3\xadnica \xc3\x91" "and\xc3\xba <&> \xf0\x9f\x94\x92" : "Example Clinic";
	h->from = "dr@clinic.example";
	h->to = variant ? to1 : to0;
	h->nto = variant ? 2 : 1;
	h->created = 1795000000;
	h->expires = variant ? 1797592000 : 0;
	for (i = 0; i < 7; i++)
		h->nonce_prefix[i] = (unsigned char)(0xa0 + i + variant);
	sp_buf_init(hb, SP_ENV_MAX_HEADER);
	if (sp_env_header_encode(h, hb, &err) != SP_OK)
		die(err.msg);
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

/* Seeds for the envelope fuzzer: a complete small envelope, its header,
 * and a header with two recipients. */
static void
seeds(const char *dir)
{
	unsigned char sp[32], mp[32], key[32];
	char id[23];
	struct sp_env_header h;
	struct sp_buf hb, pt, ct, html;
	struct sp_env_html_params p;
	struct sp_writer w = { sp_writer_buf, &html };
	struct sp_err err;
	int v;

	for (v = 0; v < 2; v++) {
		fill_inputs(v, sp, mp, id, &h, &hb);
		if (sp_env_derive_key(sp, mp, id, key) != SP_OK)
			die("key");
		plaintext(&cases[v == 0 ? 1 : 2], &pt);
		seal(key, &h, &hb, &pt, &ct);
		memset(&p, 0, sizeof(p));
		p.header = &h;
		p.header_bytes = hb.data;
		p.header_len = hb.len;
		p.mail_part = mp;
		p.subject_display = v ? "Befund \xe2\x80\x94 M\xc3\xa4rz" : NULL;
		sp_buf_init(&html, 1 << 20);
		if (sp_env_html_write(&p, ct.data, ct.len, w, &err) != SP_OK)
			die(err.msg);
		if (write_file(dir, v ? "envelope-unicode.html" : "envelope-small.html", html.data, html.len) ||
		    write_file(dir, v ? "header-unicode.json" : "header.json", hb.data, hb.len))
			die("cannot write seed");
		sp_buf_free(&html);
		sp_buf_free(&hb);
		sp_buf_free(&pt);
		sp_buf_free(&ct);
	}
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

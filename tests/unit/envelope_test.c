/*
 * envelope_test.c - the envelope format: the shared test vectors of both
 * formats (tests/vectors/envelope-v1.json and envelope-v2.json, also used by
 * the browser code), round trips of many sizes fed in odd pieces, refusal of
 * every kind of tampering (and, in format 2, of re-encrypted and re-signed
 * envelopes), header validation, and the securedoc.html writer and reader
 * (7-bit ASCII, short lines, exact round trip, the signature element,
 * branding, refusal of broken files).
 * Run from the repository root (or set SEALPOST_VECTORS and
 * SEALPOST_VECTORS_V2 to the vector files).
 */
#include "t.h"
#include "assets.h"
#include "envelope.h"
#include "sign.h"
#include "sp.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The payload element as this sealer writes it (docs/envelope-format.md
 * section 4), up to the newline that starts its base64. */
#define PAYLOAD_INPUT "<input type=\"hidden\" id=\"sp-payload\" name=\"c\" value=\"\n"

#define SEALED (SP_ENV_CHUNK + SP_GCM_TAG_LEN)
#define BIG ((size_t)1 << 30)

/* --- helpers ------------------------------------------------------------ */

static uint32_t rng_state = 12345;

static uint32_t
rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 17;
	rng_state ^= rng_state << 5;
	return rng_state;
}

static int
unhex(struct sp_buf *b, const char *s)
{
	size_t i, n = strlen(s);

	sp_buf_init(b, BIG);
	if (n % 2 != 0 || sp_buf_reserve(b, n / 2) != SP_OK)
		return -1;
	for (i = 0; i < n; i += 2) {
		unsigned v;

		if (sscanf(s + i, "%2x", &v) != 1)
			return -1;
		b->data[b->len++] = (unsigned char)v;
	}
	return 0;
}

static void
counter(struct sp_buf *b, size_t n)
{
	size_t i;

	sp_buf_init(b, BIG);
	sp_buf_reserve(b, n);
	for (i = 0; i < n; i++)
		b->data[i] = (unsigned char)(i % 251);
	b->len = n;
}

struct fixture {
	unsigned char sp[SP_KEY_LEN], mp[SP_KEY_LEN], key[SP_KEY_LEN];
	struct sp_env_header h;
	struct sp_buf hb;
	unsigned char sig[SP_SIGN_SIG_LEN];	/* format 2: set by fixture_sign() */
};

static char *fix_to[] = { "pat@example.org", "second@example.net" };

static void
fixture_init(struct fixture *f)
{
	struct sp_err err;

	memset(f, 0, sizeof(*f));
	sp_random(f->sp, sizeof(f->sp));
	sp_random(f->mp, sizeof(f->mp));
	f->h.version = 1;
	memcpy(f->h.id, "AAECAwQFBgcICQoLDA0ODw", 23);
	f->h.keyd = "http://127.0.0.1:8443";
	f->h.org = "Example Clinic";
	f->h.from = "dr@clinic.example";
	f->h.to = fix_to;
	f->h.nto = 2;
	f->h.created = 1795000000;
	sp_random(f->h.nonce_prefix, sizeof(f->h.nonce_prefix));
	sp_buf_init(&f->hb, SP_ENV_MAX_HEADER);
	T_EQ_INT(sp_env_header_encode(&f->h, &f->hb, &err), SP_OK);
	T_EQ_INT(sp_env_derive_key(f->sp, f->mp, f->h.id, f->key), SP_OK);
}

/* Seals pt, fed in pieces whose sizes cycle through piece[]. */
static int
seal_pieces(const unsigned char *key, const unsigned char *np, const struct sp_buf *hb,
    const unsigned char *pt, size_t n, const size_t *piece, size_t npiece, struct sp_buf *ct)
{
	struct sp_env_enc *e;
	struct sp_writer w = { sp_writer_buf, ct };
	size_t off = 0, k = 0, take;
	int st;

	sp_buf_init(ct, BIG);
	if ((st = sp_env_enc_new(&e, key, np, hb->data, hb->len, w)) != SP_OK)
		return st;
	while (off < n) {
		take = piece[k++ % npiece];
		if (take > n - off)
			take = n - off;
		if ((st = sp_env_enc_update(e, pt + off, take)) != SP_OK)
			break;
		off += take;
	}
	if (st == SP_OK)
		st = sp_env_enc_final(e);
	sp_env_enc_free(e);
	return st;
}

static int
seal_all(const struct fixture *f, const unsigned char *pt, size_t n, struct sp_buf *ct)
{
	static const size_t one[] = { 100000 };

	return seal_pieces(f->key, f->h.nonce_prefix, &f->hb, pt, n, one, 1, ct);
}

/* Decrypts and returns the status; on failure also checks out was reset. */
static int
open_ct(const unsigned char *key, const unsigned char *np, const struct sp_buf *hb,
    const unsigned char *ct, size_t n, struct sp_buf *out)
{
	struct sp_err err;
	int st;

	sp_buf_init(out, BIG);
	st = sp_env_decrypt(key, np, hb->data, hb->len, ct, n, out, &err);
	if (st != SP_OK)
		T_EQ_INT(out->len, 0);
	return st;
}

/* --- tamper operations (shared with the vector file) --------------------- */

static size_t
chunk_len(size_t total, size_t i)
{
	size_t off = i * SEALED;

	return total - off < SEALED ? total - off : SEALED;
}

static void
drop_chunk(struct sp_buf *c, size_t i)
{
	size_t off = i * SEALED, n = chunk_len(c->len, i);

	memmove(c->data + off, c->data + off + n, c->len - off - n);
	c->len -= n;
}

static void
insert(struct sp_buf *c, size_t at, const unsigned char *p, size_t n)
{
	unsigned char *copy = malloc(n);

	memcpy(copy, p, n);
	sp_buf_reserve(c, n);
	memmove(c->data + at + n, c->data + at, c->len - at);
	memcpy(c->data + at, copy, n);
	c->len += n;
	free(copy);
}

static void
dup_chunk(struct sp_buf *c, size_t i)
{
	insert(c, i * SEALED + chunk_len(c->len, i), c->data + i * SEALED, chunk_len(c->len, i));
}

static void
swap_chunks(struct sp_buf *c, size_t a, size_t b)
{
	unsigned char tmp[SEALED];

	/* both full-size chunks */
	memcpy(tmp, c->data + a * SEALED, SEALED);
	memcpy(c->data + a * SEALED, c->data + b * SEALED, SEALED);
	memcpy(c->data + b * SEALED, tmp, SEALED);
}

static void
append_chunk(struct sp_buf *c, size_t i)
{
	insert(c, c->len, c->data + i * SEALED, chunk_len(c->len, i));
}

/* --- vectors ------------------------------------------------------------- */

static json_t *
load_vectors_file(const char *env, const char *dflt)
{
	const char *path = getenv(env);
	json_error_t jerr;
	json_t *v;

	if (path == NULL)
		path = dflt;
	v = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (v == NULL)
		fprintf(stderr, "cannot load %s: %s\n", path, jerr.text);
	return v;
}

static json_t *
load_vectors(void)
{
	return load_vectors_file("SEALPOST_VECTORS", "tests/vectors/envelope-v1.json");
}

static json_t *
find_case(json_t *root, const char *name)
{
	json_t *c;
	size_t i;

	json_array_foreach(json_object_get(root, "cases"), i, c)
		if (strcmp(json_string_value(json_object_get(c, "name")), name) == 0)
			return c;
	return NULL;
}

struct vcase {
	struct sp_buf sp, mp, hb, np, key, pt, ct;
	const char *id;
};

static void
vcase_free(struct vcase *v)
{
	sp_buf_free(&v->sp);
	sp_buf_free(&v->mp);
	sp_buf_free(&v->hb);
	sp_buf_free(&v->np);
	sp_buf_free(&v->key);
	sp_buf_free(&v->pt);
	sp_buf_free(&v->ct);
}

/* Loads a case and recomputes its key and ciphertext (checked against the
 * file).  Returns 0 when everything matched. */
static int
vcase_load_v(int version, json_t *c, struct vcase *v)
{
	json_t *pt = json_object_get(c, "plaintext");
	unsigned char key[SP_KEY_LEN], sum[SP_SHA256_LEN];
	static const size_t pieces[] = { 1, 4093, 65537, 7, 30000 };
	struct sp_env_header h;
	struct sp_buf re, want;
	struct sp_err err;
	int bad = 0;

	memset(v, 0, sizeof(*v));
	v->id = json_string_value(json_object_get(c, "id"));
	bad |= unhex(&v->sp, json_string_value(json_object_get(c, "server_part")));
	bad |= unhex(&v->mp, json_string_value(json_object_get(c, "mail_part")));
	bad |= unhex(&v->hb, json_string_value(json_object_get(c, "header")));
	bad |= unhex(&v->np, json_string_value(json_object_get(c, "np")));
	bad |= unhex(&v->key, json_string_value(json_object_get(c, "key")));
	T_EQ_INT(bad, 0);
	T_CHECK(v->id != NULL && v->sp.len == 32 && v->mp.len == 32 && v->np.len == 7 && v->key.len == 32);
	if (bad || v->id == NULL || v->sp.len != 32 || v->mp.len != 32 || v->np.len != 7 || v->key.len != 32)
		return -1;
	if (json_is_string(pt))
		bad |= unhex(&v->pt, json_string_value(pt));
	else
		counter(&v->pt, (size_t)json_integer_value(json_object_get(pt, "len")));

	/* key derivation */
	T_EQ_INT(sp_env_derive_key_v(version, v->sp.data, v->mp.data, v->id, key), SP_OK);
	T_EQ_MEM(key, v->key.data, 32);
	/* the header parses, names the same id and np, and is canonical */
	T_EQ_INT(sp_env_header_decode(v->hb.data, v->hb.len, &h, &err), SP_OK);
	T_EQ_INT(h.version, version);
	T_CHECK(strcmp(h.id, v->id) == 0);
	T_EQ_MEM(h.nonce_prefix, v->np.data, 7);
	sp_buf_init(&re, SP_ENV_MAX_HEADER);
	T_EQ_INT(sp_env_header_encode(&h, &re, &err), SP_OK);
	T_CHECK(re.len == v->hb.len && memcmp(re.data, v->hb.data, re.len) == 0);
	sp_buf_free(&re);
	sp_env_header_clear(&h);
	/* ciphertext, fed in odd pieces */
	T_EQ_INT(seal_pieces(key, v->np.data, &v->hb, v->pt.data, v->pt.len, pieces, 5, &v->ct), SP_OK);
	T_EQ_INT(v->ct.len, json_integer_value(json_object_get(c, "ciphertext_len")));
	if (json_object_get(c, "ciphertext") != NULL) {
		bad |= unhex(&want, json_string_value(json_object_get(c, "ciphertext")));
		T_CHECK(want.len == v->ct.len && memcmp(want.data, v->ct.data, want.len) == 0);
		sp_buf_free(&want);
	} else {
		bad |= unhex(&want, json_string_value(json_object_get(c, "ciphertext_sha256")));
		sp_sha256(v->ct.data, v->ct.len, sum);
		T_CHECK(want.len == 32 && memcmp(want.data, sum, 32) == 0);
		sp_buf_free(&want);
	}
	T_EQ_INT(bad, 0);
	return bad;
}

static int
vcase_load(json_t *c, struct vcase *v)
{
	return vcase_load_v(1, c, v);
}

static void
test_vectors(void)
{
	json_t *root = load_vectors(), *c, *t;
	struct vcase v;
	struct sp_buf out;
	size_t i, ncase = 0, ntamper = 0;

	T_CHECK(root != NULL);
	if (root == NULL)
		return;
	json_array_foreach(json_object_get(root, "cases"), i, c) {
		if (vcase_load(c, &v) == 0) {
			T_EQ_INT(open_ct(v.key.data, v.np.data, &v.hb, v.ct.data, v.ct.len, &out), SP_OK);
			T_CHECK(out.len == v.pt.len && memcmp(out.data, v.pt.data, out.len) == 0);
			sp_buf_free(&out);
			ncase++;
		}
		vcase_free(&v);
	}
	T_CHECK(ncase >= 6);

	json_array_foreach(json_object_get(root, "tamper"), i, t) {
		const char *op = json_string_value(json_object_get(t, "op"));
		const char *name = json_string_value(json_object_get(t, "name"));
		json_int_t off;
		unsigned char key[SP_KEY_LEN];
		struct sp_buf alt;
		int st;

		c = find_case(root, json_string_value(json_object_get(t, "case")));
		T_CHECK(c != NULL && op != NULL);
		if (c == NULL || op == NULL || vcase_load(c, &v) != 0)
			continue;
		memcpy(key, v.key.data, SP_KEY_LEN);
		if (strcmp(op, "flip") == 0) {
			off = json_integer_value(json_object_get(t, "offset"));
			v.ct.data[off] ^= (unsigned char)json_integer_value(json_object_get(t, "mask"));
		} else if (strcmp(op, "truncate") == 0) {
			v.ct.len = (size_t)json_integer_value(json_object_get(t, "len"));
		} else if (strcmp(op, "drop_chunk") == 0) {
			drop_chunk(&v.ct, (size_t)json_integer_value(json_object_get(t, "index")));
		} else if (strcmp(op, "dup_chunk") == 0) {
			dup_chunk(&v.ct, (size_t)json_integer_value(json_object_get(t, "index")));
		} else if (strcmp(op, "swap_chunks") == 0) {
			swap_chunks(&v.ct, (size_t)json_integer_value(json_object_get(t, "a")),
			    (size_t)json_integer_value(json_object_get(t, "b")));
		} else if (strcmp(op, "append_chunk") == 0) {
			append_chunk(&v.ct, (size_t)json_integer_value(json_object_get(t, "index")));
		} else if (strcmp(op, "append") == 0) {
			unhex(&alt, json_string_value(json_object_get(t, "hex")));
			insert(&v.ct, v.ct.len, alt.data, alt.len);
			sp_buf_free(&alt);
		} else if (strcmp(op, "header_flip") == 0) {
			off = json_integer_value(json_object_get(t, "offset"));
			if (off < 0)
				off += (json_int_t)v.hb.len;
			v.hb.data[off] ^= (unsigned char)json_integer_value(json_object_get(t, "mask"));
		} else if (strcmp(op, "server_part") == 0 || strcmp(op, "mail_part") == 0) {
			unhex(&alt, json_string_value(json_object_get(t, "hex")));
			T_EQ_INT(alt.len, 32);
			if (op[0] == 's')
				sp_env_derive_key(alt.data, v.mp.data, v.id, key);
			else
				sp_env_derive_key(v.sp.data, alt.data, v.id, key);
			sp_buf_free(&alt);
		} else {
			T_CHECK(!"unknown tamper op");
		}
		st = open_ct(key, v.np.data, &v.hb, v.ct.data, v.ct.len, &out);
		if (st != SP_ERR_AUTH)
			fprintf(stderr, "tamper case %s: status %d\n", name, st);
		T_EQ_INT(st, SP_ERR_AUTH);
		sp_buf_free(&out);
		vcase_free(&v);
		ntamper++;
	}
	T_CHECK(ntamper >= 15);
	json_decref(root);
}

/* --- round trips and tampering -------------------------------------------- */

static void
test_round_trips(void)
{
	struct fixture f;
	struct sp_buf pt, ct, out;
	size_t sizes[16] = { 0, 1, 65535, 65536, 65537, 3 * 65536, 3 * 65536 + 1, 131071 };
	static const size_t pieces_a[] = { 1, 3, 8191, 65536, 2 };
	static const size_t pieces_b[] = { 65537 };
	static const size_t pieces_c[] = { 17, 65535, 131072 };
	const size_t *pieces[] = { pieces_a, pieces_b, pieces_c };
	const size_t npieces[] = { 5, 1, 3 };
	size_t nsizes = 8, i, chunks;

	fixture_init(&f);
	while (nsizes < 14)
		sizes[nsizes++] = rng() % 400000;
	for (i = 0; i < nsizes; i++) {
		counter(&pt, sizes[i]);
		if (sizes[i] > 0)
			sp_random(pt.data, sizes[i]);
		T_EQ_INT(seal_pieces(f.key, f.h.nonce_prefix, &f.hb, pt.data, pt.len,
		    pieces[i % 3], npieces[i % 3], &ct), SP_OK);
		chunks = sizes[i] == 0 ? 1 : (sizes[i] + SP_ENV_CHUNK - 1) / SP_ENV_CHUNK;
		T_EQ_INT(ct.len, sizes[i] + chunks * SP_GCM_TAG_LEN);
		T_EQ_INT(open_ct(f.key, f.h.nonce_prefix, &f.hb, ct.data, ct.len, &out), SP_OK);
		T_CHECK(out.len == pt.len && (pt.len == 0 || memcmp(out.data, pt.data, pt.len) == 0));
		sp_buf_free(&pt);
		sp_buf_free(&ct);
		sp_buf_free(&out);
	}
	sp_buf_free(&f.hb);
}

static void
test_enc_misuse(void)
{
	struct fixture f;
	struct sp_env_enc *e;
	struct sp_buf ct;
	struct sp_writer w = { sp_writer_buf, &ct };

	fixture_init(&f);
	sp_buf_init(&ct, 1000);
	T_EQ_INT(sp_env_enc_new(&e, f.key, f.h.nonce_prefix, f.hb.data, f.hb.len, w), SP_OK);
	T_EQ_INT(sp_env_enc_update(e, "abc", 3), SP_OK);
	T_EQ_INT(ct.len, 0);	/* nothing is written before the chunk is known */
	T_EQ_INT(sp_env_enc_final(e), SP_OK);
	T_EQ_INT(ct.len, 3 + 16);
	T_EQ_INT(sp_env_enc_final(e), SP_ERR_INVALID);
	T_EQ_INT(sp_env_enc_update(e, "x", 1), SP_ERR_INVALID);
	sp_env_enc_free(e);
	sp_buf_free(&ct);

	/* a writer that fails makes the encryptor fail (stickily) */
	sp_buf_init(&ct, 100);	/* too small for one full chunk */
	T_EQ_INT(sp_env_enc_new(&e, f.key, f.h.nonce_prefix, f.hb.data, f.hb.len, w), SP_OK);
	{
		unsigned char *big = calloc(1, 2 * SP_ENV_CHUNK);

		T_EQ_INT(sp_env_enc_update(e, big, 2 * SP_ENV_CHUNK), SP_ERR_TOOBIG);
		T_EQ_INT(sp_env_enc_final(e), SP_ERR_TOOBIG);
		free(big);
	}
	sp_env_enc_free(e);
	sp_env_enc_free(NULL);
	sp_buf_free(&ct);
	sp_buf_free(&f.hb);
}

static void
expect_auth(const struct fixture *f, const unsigned char *key, const struct sp_buf *hb,
    const struct sp_buf *ct, const char *what)
{
	struct sp_buf out;
	int st = open_ct(key, f->h.nonce_prefix, hb, ct->data, ct->len, &out);

	if (st != SP_ERR_AUTH)
		fprintf(stderr, "tampering not refused: %s (status %d)\n", what, st);
	T_EQ_INT(st, SP_ERR_AUTH);
	sp_buf_free(&out);
}

static void
copy(struct sp_buf *dst, const struct sp_buf *src)
{
	sp_buf_init(dst, BIG);
	sp_buf_append(dst, src->data, src->len);
}

static void
test_tampering(void)
{
	struct fixture f;
	struct sp_buf pt, ct, t, hb2, out;
	unsigned char key[SP_KEY_LEN], other[SP_KEY_LEN];
	size_t i, nchunks, cut;
	static const size_t cuts[] = { 1, 15, 16, 17, SEALED - 1 };
	char what[64];

	fixture_init(&f);
	counter(&pt, 3 * SP_ENV_CHUNK + 100);	/* 4 chunks, the last short */
	T_EQ_INT(seal_all(&f, pt.data, pt.len, &ct), SP_OK);
	nchunks = (ct.len + SEALED - 1) / SEALED;
	T_EQ_INT(nchunks, 4);
	T_EQ_INT(open_ct(f.key, f.h.nonce_prefix, &f.hb, ct.data, ct.len, &out), SP_OK);
	sp_buf_free(&out);

	for (i = 0; i < nchunks; i++) {
		size_t off = i * SEALED, n = chunk_len(ct.len, i);

		/* a flipped bit at the start, the middle and in the tag */
		copy(&t, &ct); t.data[off] ^= 1; snprintf(what, sizeof(what), "flip start of chunk %zu", i);
		expect_auth(&f, f.key, &f.hb, &t, what); sp_buf_free(&t);
		copy(&t, &ct); t.data[off + n / 2] ^= 0x80; snprintf(what, sizeof(what), "flip middle of chunk %zu", i);
		expect_auth(&f, f.key, &f.hb, &t, what); sp_buf_free(&t);
		copy(&t, &ct); t.data[off + n - 1] ^= 0x10; snprintf(what, sizeof(what), "flip tag of chunk %zu", i);
		expect_auth(&f, f.key, &f.hb, &t, what); sp_buf_free(&t);
		/* dropped and duplicated chunks */
		copy(&t, &ct); drop_chunk(&t, i); snprintf(what, sizeof(what), "drop chunk %zu", i);
		expect_auth(&f, f.key, &f.hb, &t, what); sp_buf_free(&t);
		copy(&t, &ct); dup_chunk(&t, i); snprintf(what, sizeof(what), "duplicate chunk %zu", i);
		expect_auth(&f, f.key, &f.hb, &t, what); sp_buf_free(&t);
		/* an extra chunk appended */
		copy(&t, &ct); append_chunk(&t, i); snprintf(what, sizeof(what), "append copy of chunk %zu", i);
		expect_auth(&f, f.key, &f.hb, &t, what); sp_buf_free(&t);
	}
	copy(&t, &ct); swap_chunks(&t, 0, 1); expect_auth(&f, f.key, &f.hb, &t, "swap 0 1"); sp_buf_free(&t);
	copy(&t, &ct); swap_chunks(&t, 1, 2); expect_auth(&f, f.key, &f.hb, &t, "swap 1 2"); sp_buf_free(&t);
	/* truncation: the last chunk removed, then the last bytes */
	copy(&t, &ct); t.len = 3 * SEALED; expect_auth(&f, f.key, &f.hb, &t, "last chunk removed"); sp_buf_free(&t);
	copy(&t, &ct); t.len = 2 * SEALED; expect_auth(&f, f.key, &f.hb, &t, "two chunks removed"); sp_buf_free(&t);
	for (i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		cut = cuts[i];
		copy(&t, &ct); t.len -= cut; snprintf(what, sizeof(what), "last %zu bytes cut", cut);
		expect_auth(&f, f.key, &f.hb, &t, what); sp_buf_free(&t);
	}
	copy(&t, &ct); t.len = 0; expect_auth(&f, f.key, &f.hb, &t, "empty stream"); sp_buf_free(&t);
	copy(&t, &ct); t.len = 15; expect_auth(&f, f.key, &f.hb, &t, "15 bytes"); sp_buf_free(&t);
	/* extra bytes appended */
	copy(&t, &ct); insert(&t, t.len, (const unsigned char *)"\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16);
	expect_auth(&f, f.key, &f.hb, &t, "16 bytes appended"); sp_buf_free(&t);
	/* wrong server part, wrong mail part, wrong id */
	memcpy(other, f.sp, SP_KEY_LEN); other[0] ^= 1;
	sp_env_derive_key(other, f.mp, f.h.id, key);
	expect_auth(&f, key, &f.hb, &ct, "wrong server part");
	memcpy(other, f.mp, SP_KEY_LEN); other[31] ^= 0x80;
	sp_env_derive_key(f.sp, other, f.h.id, key);
	expect_auth(&f, key, &f.hb, &ct, "wrong mail part");
	sp_env_derive_key(f.sp, f.mp, "AAECAwQFBgcICQoLDA0ODx", key);
	expect_auth(&f, key, &f.hb, &ct, "other id");
	/* a changed header byte (each of several positions) */
	for (i = 0; i < f.hb.len; i += f.hb.len / 7) {
		copy(&hb2, &f.hb); hb2.data[i] ^= 0x01; snprintf(what, sizeof(what), "header byte %zu", i);
		expect_auth(&f, f.key, &hb2, &ct, what); sp_buf_free(&hb2);
	}
	copy(&hb2, &f.hb); hb2.len--; expect_auth(&f, f.key, &hb2, &ct, "header shortened"); sp_buf_free(&hb2);

	/* a failed decryption wipes what it had appended, keeping nothing */
	sp_buf_init(&out, BIG);
	sp_buf_append_str(&out, "previous");
	copy(&t, &ct); t.data[3 * SEALED + 5] ^= 1;
	T_EQ_INT(sp_env_decrypt(f.key, f.h.nonce_prefix, f.hb.data, f.hb.len, t.data, t.len, &out, NULL),
	    SP_ERR_AUTH);
	T_EQ_INT(out.len, 0);
	for (i = 0; out.data != NULL && i < out.size; i++)
		if (out.data[i] != 0)
			break;
	T_CHECK(out.data != NULL && i == out.size);
	sp_buf_free(&out);
	sp_buf_free(&t);

	/* the derivation refuses an id that is not 22 characters */
	T_EQ_INT(sp_env_derive_key(f.sp, f.mp, "short", key), SP_ERR_INVALID);
	T_EQ_INT(sp_env_derive_key(f.sp, f.mp, NULL, key), SP_ERR_INVALID);
	sp_buf_free(&pt);
	sp_buf_free(&ct);
	sp_buf_free(&f.hb);
}

/* --- header -------------------------------------------------------------- */

static int
decode_str(const char *s)
{
	struct sp_env_header h;
	struct sp_err err;
	int st = sp_env_header_decode((const unsigned char *)s, strlen(s), &h, &err);

	sp_env_header_clear(&h);
	return st;
}

#define HDR_IDK "\"id\":\"AAECAwQFBgcICQoLDA0ODw\",\"keyd\":\"https://k.example\","
#define HDR_HEAD "{\"v\":1," HDR_IDK
#define HDR_TAIL "\"created\":1,\"expires\":0,\"alg\":\"A256GCM-STREAM-64K\",\"np\":\"AAECAwQFBg\"}"
#define HDR_MID "\"org\":\"O\",\"from\":\"a@b.c\",\"to\":[\"x@y.z\"],"

static void
test_header(void)
{
	struct fixture f;
	struct sp_env_header h;
	struct sp_buf b;
	struct sp_err err;
	char *big;
	size_t i, n;

	fixture_init(&f);
	/* canonical key order, compact, ASCII */
	{
		static const char start[] = "{\"v\":1,\"id\":\"AAECAwQFBgcICQoLDA0ODw\",\"keyd\":\"http://127.0.0.1:8443\","
		    "\"org\":\"Example Clinic\",\"from\":\"dr@clinic.example\",\"to\":[\"pat@example.org\",";

		T_CHECK(f.hb.len > sizeof(start) && memcmp(f.hb.data, start, sizeof(start) - 1) == 0);
		T_CHECK(memmem(f.hb.data, f.hb.len, "\"created\":1795000000,\"expires\":0,\"alg\":\"A256GCM-STREAM-64K\",\"np\":\"", 66) != NULL);
	}
	T_EQ_INT(sp_env_header_decode(f.hb.data, f.hb.len, &h, &err), SP_OK);
	T_CHECK(strcmp(h.keyd, f.h.keyd) == 0 && strcmp(h.org, "Example Clinic") == 0);
	T_CHECK(h.nto == 2 && strcmp(h.to[1], "second@example.net") == 0);
	T_EQ_INT(h.created, 1795000000);
	T_EQ_INT(h.expires, 0);
	T_EQ_MEM(h.nonce_prefix, f.h.nonce_prefix, 7);
	sp_env_header_clear(&h);
	sp_env_header_clear(&h);	/* clearing twice is harmless */

	/* non-ASCII text is written as \u escapes and read back */
	f.h.org = "Cl\xc3\xadnica \xf0\x9f\x94\x92";
	sp_buf_init(&b, SP_ENV_MAX_HEADER);
	T_EQ_INT(sp_env_header_encode(&f.h, &b, &err), SP_OK);
	for (i = 0; i < b.len; i++)
		if (b.data[i] >= 0x80)
			break;
	T_EQ_INT(i, b.len);
	T_CHECK(strstr((char *)b.data, "Cl\\u00EDnica \\uD83D\\uDD12") != NULL);
	T_EQ_INT(sp_env_header_decode(b.data, b.len, &h, &err), SP_OK);
	T_CHECK(h.org != NULL && strcmp(h.org, f.h.org) == 0);
	sp_env_header_clear(&h);
	sp_buf_free(&b);
	/* invalid UTF-8 and bad fields are refused on encoding */
	sp_buf_init(&b, SP_ENV_MAX_HEADER);
	f.h.org = "bad \xff";
	T_EQ_INT(sp_env_header_encode(&f.h, &b, &err), SP_ERR_INVALID);
	f.h.org = "ok";
	f.h.keyd = "ftp://x";
	T_EQ_INT(sp_env_header_encode(&f.h, &b, &err), SP_ERR_INVALID);
	f.h.keyd = "https://k.example";
	f.h.nto = 1;
	f.h.to = NULL;
	T_EQ_INT(sp_env_header_encode(&f.h, &b, &err), SP_ERR_INVALID);
	f.h.to = fix_to;
	f.h.nto = 501;
	T_EQ_INT(sp_env_header_encode(&f.h, &b, &err), SP_ERR_TOOBIG);
	f.h.nto = 2;
	memcpy(f.h.id, "short", 6);
	T_EQ_INT(sp_env_header_encode(&f.h, &b, &err), SP_ERR_INVALID);
	T_EQ_INT(b.len, 0);
	sp_buf_free(&b);

	/* the reference header is accepted ... */
	T_EQ_INT(decode_str(HDR_HEAD HDR_MID HDR_TAIL), SP_OK);
	/* ... and every broken variant refused */
	T_EQ_INT(decode_str(""), SP_ERR_INVALID);
	T_EQ_INT(decode_str("[]"), SP_ERR_INVALID);
	T_EQ_INT(decode_str("{}"), SP_ERR_INVALID);
	T_EQ_INT(decode_str(HDR_HEAD HDR_MID HDR_TAIL " x"), SP_ERR_INVALID);
	T_EQ_INT(decode_str("{\"v\":2," HDR_IDK HDR_MID HDR_TAIL), SP_ERR_INVALID);
	T_EQ_INT(decode_str("{\"v\":1.0," HDR_IDK HDR_MID HDR_TAIL), SP_ERR_INVALID);
	T_EQ_INT(decode_str("{\"v\":\"1\"," HDR_IDK HDR_MID HDR_TAIL), SP_ERR_INVALID);
	T_EQ_INT(decode_str("{\"v\":1,\"v\":1," HDR_IDK HDR_MID HDR_TAIL), SP_ERR_INVALID);	/* duplicate */
	T_EQ_INT(decode_str("{\"v\":1,\"id\":\"AAECAwQFBgcICQoLDA0OD\",\"keyd\":\"https://k.example\","
	    HDR_MID HDR_TAIL), SP_ERR_INVALID);	/* id 21 chars */
	T_EQ_INT(decode_str("{\"v\":1,\"id\":\"AAECAwQFBgcICQoLDA0OD+\",\"keyd\":\"https://k.example\","
	    HDR_MID HDR_TAIL), SP_ERR_INVALID);	/* id not base64url */
	T_EQ_INT(decode_str("{\"v\":1,\"id\":\"AAECAwQFBgcICQoLDA0ODx\",\"keyd\":\"https://k.example\","
	    HDR_MID HDR_TAIL), SP_ERR_INVALID);	/* id with stray low bits */
	T_EQ_INT(decode_str("{\"v\":1,\"id\":\"AAECAwQFBgcICQoLDA0ODw\",\"keyd\":\"javascript:x\","
	    HDR_MID HDR_TAIL), SP_ERR_INVALID);
	T_EQ_INT(decode_str("{\"v\":1,\"id\":\"AAECAwQFBgcICQoLDA0ODw\",\"keyd\":\"https://k.example/\","
	    HDR_MID HDR_TAIL), SP_ERR_INVALID);
	T_EQ_INT(decode_str("{\"v\":1,\"id\":\"AAECAwQFBgcICQoLDA0ODw\",\"keyd\":\"https://k.example; script-src *\","
	    HDR_MID HDR_TAIL), SP_ERR_INVALID);
	T_EQ_INT(decode_str("{\"v\":1,\"id\":\"AAECAwQFBgcICQoLDA0ODw\",\"keyd\":\"http://\","
	    HDR_MID HDR_TAIL), SP_ERR_INVALID);
	/* every recipient a blind copy: none named */
	T_EQ_INT(decode_str(HDR_HEAD "\"org\":\"O\",\"from\":\"a@b.c\",\"to\":[],"  HDR_TAIL), SP_OK);
	T_EQ_INT(decode_str(HDR_HEAD "\"org\":\"O\",\"from\":\"a@b.c\",\"to\":[\"nobody\"],"  HDR_TAIL), SP_ERR_INVALID);
	T_EQ_INT(decode_str(HDR_HEAD "\"org\":\"O\",\"from\":\"a@b.c\",\"to\":[\"a <b@c>\"],"  HDR_TAIL), SP_ERR_INVALID);
	T_EQ_INT(decode_str(HDR_HEAD "\"org\":\"O\",\"from\":\"a@b.c\",\"to\":[1],"  HDR_TAIL), SP_ERR_INVALID);
	T_EQ_INT(decode_str(HDR_HEAD "\"org\":\"O\",\"from\":\"a@b.c\",\"to\":\"x@y.z\","  HDR_TAIL), SP_ERR_INVALID);
	T_EQ_INT(decode_str(HDR_HEAD "\"org\":\"O\\n\",\"from\":\"a@b.c\",\"to\":[\"x@y.z\"],"  HDR_TAIL), SP_ERR_INVALID);
	T_EQ_INT(decode_str(HDR_HEAD "\"org\":\"O\\u0000\",\"from\":\"a@b.c\",\"to\":[\"x@y.z\"],"  HDR_TAIL), SP_ERR_INVALID);
	T_EQ_INT(decode_str(HDR_HEAD "\"org\":\"O\",\"to\":[\"x@y.z\"],"  HDR_TAIL), SP_ERR_INVALID);	/* no from */
	T_EQ_INT(decode_str(HDR_HEAD HDR_MID "\"extra\":1," HDR_TAIL), SP_ERR_INVALID);
	T_EQ_INT(decode_str(HDR_HEAD HDR_MID "\"created\":-1,\"expires\":0,\"alg\":\"A256GCM-STREAM-64K\",\"np\":\"AAECAwQFBg\"}"),
	    SP_ERR_INVALID);
	T_EQ_INT(decode_str(HDR_HEAD HDR_MID "\"created\":1,\"expires\":0,\"alg\":\"A128GCM\",\"np\":\"AAECAwQFBg\"}"),
	    SP_ERR_INVALID);
	T_EQ_INT(decode_str(HDR_HEAD HDR_MID "\"created\":1,\"expires\":0,\"alg\":\"A256GCM-STREAM-64K\",\"np\":\"AAECAwQFBgc\"}"),
	    SP_ERR_INVALID);
	T_EQ_INT(decode_str(HDR_HEAD HDR_MID "\"created\":1,\"expires\":0,\"alg\":\"A256GCM-STREAM-64K\",\"np\":\"AAECAwQF\"}"),
	    SP_ERR_INVALID);

	/* 500 recipients pass, 501 do not; an address of 320 bytes does not */
	big = malloc(SP_ENV_MAX_HEADER + 100);
	for (int count = 500; count <= 501; count++) {
		n = (size_t)snprintf(big, 200, "%s\"org\":\"O\",\"from\":\"a@b.c\",\"to\":[", HDR_HEAD);
		for (i = 0; i < (size_t)count; i++)
			n += (size_t)snprintf(big + n, 40, "%s\"r%zu@e.x\"", i ? "," : "", i);
		n += (size_t)snprintf(big + n, 200, "],%s", HDR_TAIL);
		T_EQ_INT(sp_env_header_decode((unsigned char *)big, n, &h, &err),
		    count == 500 ? SP_OK : SP_ERR_TOOBIG);
		if (count == 500)
			T_EQ_INT(h.nto, 500);
		sp_env_header_clear(&h);
	}
	for (size_t alen = 319; alen <= 320; alen++) {
		n = (size_t)snprintf(big, 200, "%s\"org\":\"O\",\"from\":\"a@b.c\",\"to\":[\"", HDR_HEAD);
		memset(big + n, 'a', alen - 4);
		n += alen - 4;
		n += (size_t)snprintf(big + n, 200, "@b.c\"],%s", HDR_TAIL);
		T_EQ_INT(sp_env_header_decode((unsigned char *)big, n, &h, &err),
		    alen == 319 ? SP_OK : SP_ERR_INVALID);
		sp_env_header_clear(&h);
	}
	/* '&' counts 6 towards the escaped size: 159 of them pass, 160 do not */
	for (size_t namp = 159; namp <= 160; namp++) {
		n = (size_t)snprintf(big, 200, "%s\"org\":\"O\",\"from\":\"a@b.c\",\"to\":[\"", HDR_HEAD);
		memset(big + n, '&', namp);
		n += namp;
		n += (size_t)snprintf(big + n, 200, "@b\"],%s", HDR_TAIL);
		T_EQ_INT(sp_env_header_decode((unsigned char *)big, n, &h, &err),
		    namp == 159 ? SP_OK : SP_ERR_INVALID);
		sp_env_header_clear(&h);
	}
	/* more than 64 KiB is refused before parsing */
	memset(big, ' ', SP_ENV_MAX_HEADER + 1);
	T_EQ_INT(sp_env_header_decode((unsigned char *)big, SP_ENV_MAX_HEADER + 1, &h, &err), SP_ERR_TOOBIG);
	T_CHECK(strstr(err.msg, "64") != NULL || strstr(err.msg, "65536") != NULL);
	free(big);
	sp_buf_free(&f.hb);
}

/* --- securedoc.html ------------------------------------------------------ */

struct wstat {
	struct sp_buf *b;
	size_t maxwrite, nwrites;
};

static int
wstat_write(void *ctx, const void *p, size_t n)
{
	struct wstat *w = ctx;

	w->nwrites++;
	if (n > w->maxwrite)
		w->maxwrite = n;
	return sp_buf_append(w->b, p, n);
}

/* 1 when html is 7-bit ASCII with every line shorter than 998 bytes. */
static int
ascii_short_lines(const struct sp_buf *html, size_t *longest)
{
	size_t i, col = 0;

	*longest = 0;
	for (i = 0; i < html->len; i++) {
		if (html->data[i] >= 0x80 || html->data[i] == 0)
			return 0;
		if (html->data[i] == '\n')
			col = 0;
		else if (++col > *longest)
			*longest = col;
	}
	return *longest < 998;
}

static int
write_html(const struct fixture *f, const struct sp_env_header *h, const struct sp_buf *hb,
    const char *subject, const char *date, const struct sp_buf *ct, struct sp_buf *html,
    struct wstat *ws)
{
	struct sp_env_html_params p;
	struct sp_writer w = { wstat_write, ws };
	struct sp_err err;
	int st;

	memset(&p, 0, sizeof(p));
	p.header = h;
	p.header_bytes = hb->data;
	p.header_len = hb->len;
	p.mail_part = f->mp;
	p.subject_display = subject;
	p.date_display = date;
	sp_buf_init(html, BIG);
	memset(ws, 0, sizeof(*ws));
	ws->b = html;
	st = sp_env_html_write(&p, ct->data, ct->len, w, &err);
	if (st != SP_OK)
		fprintf(stderr, "html write: %s\n", err.msg);
	return st;
}

static void
check_read_back(const struct fixture *f, const struct sp_buf *html, const struct sp_buf *hb,
    const struct sp_buf *ct, const struct sp_buf *pt)
{
	struct sp_env_file ef;
	struct sp_buf out;
	struct sp_err err;
	unsigned char key[SP_KEY_LEN];

	T_EQ_INT(sp_env_html_read(html->data, html->len, &ef, &err), SP_OK);
	T_CHECK(ef.header_bytes.len == hb->len && memcmp(ef.header_bytes.data, hb->data, hb->len) == 0);
	T_EQ_MEM(ef.mail_part, f->mp, SP_KEY_LEN);
	T_CHECK(ef.ct.len == ct->len && memcmp(ef.ct.data, ct->data, ct->len) == 0);
	T_CHECK(strcmp(ef.header.id, f->h.id) == 0);
	/* and it opens with the server part */
	T_EQ_INT(sp_env_derive_key_v(ef.header.version, f->sp, ef.mail_part, ef.header.id, key), SP_OK);
	sp_buf_init(&out, BIG);
	T_EQ_INT(sp_env_decrypt(key, ef.header.nonce_prefix, ef.header_bytes.data, ef.header_bytes.len,
	    ef.ct.data, ef.ct.len, &out, &err), SP_OK);
	T_CHECK(out.len == pt->len && memcmp(out.data, pt->data, pt->len) == 0);
	sp_buf_free(&out);
	sp_env_file_clear(&ef);
	sp_env_file_clear(&ef);
}

static void
test_html_round_trip(void)
{
	struct fixture f;
	struct sp_buf pt, ct, html, b64;
	struct wstat ws;
	unsigned char hash[SP_SHA256_LEN];
	const struct sp_asset *js = sp_asset_find("envelope/envelope.js");
	size_t longest;

	fixture_init(&f);
	counter(&pt, 300000);
	T_EQ_INT(seal_all(&f, pt.data, pt.len, &ct), SP_OK);
	T_EQ_INT(write_html(&f, &f.h, &f.hb, "Lab results <b>", NULL, &ct, &html, &ws), SP_OK);
	T_CHECK(ascii_short_lines(&html, &longest));
	/* the payload is streamed in pieces, not one string */
	T_CHECK(ws.maxwrite < 100000 && ws.nwrites >= 5);
	/* every placeholder filled */
	T_CHECK(strstr((char *)html.data, "{{") == NULL);
	T_CHECK(strstr((char *)html.data, "Lab results &lt;b&gt;") != NULL);
	T_CHECK(strstr((char *)html.data, "Wed, 18 Nov 2026 11:06:40 +0000") != NULL);
	T_CHECK(strstr((char *)html.data, "pat@example.org,\nsecond@example.net") != NULL);
	T_CHECK(strstr((char *)html.data, "http://127.0.0.1:8443/register?email=second@example.net&amp;id=AAECAwQFBgcICQoLDA0ODw") != NULL);
	T_CHECK(strstr((char *)html.data, "\"id\":\"AAECAwQFBgcICQoLDA0ODw\"") != NULL);
	/* the script hash of the CSP is the hash of the inlined script */
	T_CHECK(js != NULL);
	if (js != NULL) {
		sp_sha256(js->data, js->len, hash);
		sp_buf_init(&b64, 100);
		sp_b64_encode(&b64, hash, sizeof(hash), 0);
		T_CHECK(strstr((char *)html.data, (char *)b64.data) != NULL);
		T_CHECK(memmem(html.data, html.len, js->data, js->len) != NULL);
		sp_buf_free(&b64);
	}
	check_read_back(&f, &html, &f.hb, &ct, &pt);
	/* the payload and header texts are exactly base64 in 76-character lines */
	{
		struct sp_buf want;
		const char *a = strstr((char *)html.data, PAYLOAD_INPUT);
		const char *z;

		sp_buf_init(&want, BIG);
		sp_b64_encode(&want, ct.data, ct.len, 76);
		a = a != NULL ? a + strlen(PAYLOAD_INPUT) - 1 : NULL;	/* at the newline */
		z = a != NULL ? strstr(a, "\">") : NULL;
		T_CHECK(z != NULL && (size_t)(z - a - 1) == want.len && memcmp(a + 1, want.data, want.len) == 0);
		sp_buf_reset(&want);
		sp_b64_encode(&want, f.hb.data, f.hb.len, 76);
		a = strstr((char *)html.data, "<textarea id=\"sp-header\"");
		a = a != NULL ? strstr(a, ">\n") : NULL;
		z = a != NULL ? strstr(a, "</textarea>") : NULL;
		T_CHECK(z != NULL && (size_t)(z - a - 2) == want.len && memcmp(a + 2, want.data, want.len) == 0);
		sp_buf_free(&want);
	}

	/* CRLF line ends (a mail client saving the attachment) still read */
	{
		struct sp_buf crlf;
		size_t i;

		sp_buf_init(&crlf, BIG);
		for (i = 0; i < html.len; i++) {
			if (html.data[i] == '\n')
				sp_buf_append(&crlf, "\r", 1);
			sp_buf_append(&crlf, html.data + i, 1);
		}
		check_read_back(&f, &crlf, &f.hb, &ct, &pt);
		sp_buf_free(&crlf);
	}
	sp_buf_free(&html);
	sp_buf_free(&pt);
	sp_buf_free(&ct);

	/* an empty plaintext makes a small envelope that still round-trips */
	counter(&pt, 0);
	T_EQ_INT(seal_all(&f, pt.data, 0, &ct), SP_OK);
	T_EQ_INT(write_html(&f, &f.h, &f.hb, NULL, "Mon, 1 Jan 2027", &ct, &html, &ws), SP_OK);
	T_CHECK(strstr((char *)html.data, "Mon, 1 Jan 2027") != NULL);
	check_read_back(&f, &html, &f.hb, &ct, &pt);
	sp_buf_free(&html);
	sp_buf_free(&pt);
	sp_buf_free(&ct);
	sp_buf_free(&f.hb);
}

/* Many long recipients with non-ASCII names, a long org, invalid UTF-8:
 * the output is still ASCII with short lines, and reads back exactly. */
static void
hostile_text(size_t nto, size_t addrlen)
{
	struct fixture f;
	struct sp_buf pt, ct, html, hb;
	struct wstat ws;
	struct sp_err err;
	char **to = calloc(nto, sizeof(char *));
	char org[1025];
	size_t i, k, longest = 0;

	fixture_init(&f);
	for (i = 0; i < nto; i++) {
		to[i] = malloc(320);
		/* the number, u-umlauts up to addrlen bytes, then "&@x.example" */
		k = (size_t)snprintf(to[i], 320, "%zu", i);
		while (k < addrlen) {
			to[i][k++] = (char)0xc3;
			to[i][k++] = (char)0xbc;
		}
		snprintf(to[i] + k, 320 - k, "&@x.example");
	}
	if (nto > 1) {
		/* the most '&' an address may hold (each is 6 bytes in the meta JSON) */
		memset(to[1], '&', 158);
		snprintf(to[1] + 158, 320 - 158, "@z");
	}
	memset(org, '&', sizeof(org) - 1);
	org[sizeof(org) - 1] = '\0';
	f.h.to = to;
	f.h.nto = nto;
	f.h.org = org;
	sp_buf_init(&hb, SP_ENV_MAX_HEADER);
	T_EQ_INT(sp_env_header_encode(&f.h, &hb, &err), SP_OK);
	counter(&pt, 1000);
	{
		static const size_t one[] = { 1000 };

		T_EQ_INT(seal_pieces(f.key, f.h.nonce_prefix, &hb, pt.data, pt.len, one, 1, &ct), SP_OK);
	}
	T_EQ_INT(write_html(&f, &f.h, &hb, "bad \xff\xfe utf-8 \xe2\x82 and \xf0\x9f\x94\x92 lock\x01",
	    NULL, &ct, &html, &ws), SP_OK);
	T_CHECK(ascii_short_lines(&html, &longest));
	if (longest >= 998)
		fprintf(stderr, "longest line %zu\n", longest);
	T_CHECK(strstr((char *)html.data, "bad &#65533;&#65533; utf-8 &#65533;&#65533; and &#128274; lock ") != NULL);
	T_CHECK(strstr((char *)html.data, "0&#252;&#252;") != NULL);
	T_CHECK(strstr((char *)html.data, "\\u00FC\\u00FC\\u0026@x.example") != NULL);
	T_CHECK(strstr((char *)html.data, "&amp;&amp;&amp;") != NULL);
	check_read_back(&f, &html, &hb, &ct, &pt);
	sp_buf_free(&html);
	sp_buf_free(&pt);
	sp_buf_free(&ct);
	sp_buf_free(&hb);
	for (i = 0; i < nto; i++)
		free(to[i]);
	free(to);
	sp_buf_free(&f.hb);
}

static void
test_html_hostile_text(void)
{
	hostile_text(60, 300);				/* long non-ASCII addresses */
	hostile_text(SP_ENV_MAX_RECIPIENTS, 20);	/* the most recipients */
}

static int
read_str(const char *s, size_t n, struct sp_err *err)
{
	struct sp_env_file ef;
	int st = sp_env_html_read((const unsigned char *)s, n, &ef, err);

	sp_env_file_clear(&ef);
	return st;
}

/* Replaces the first occurrence of from in src with to. */
static void
edit(const struct sp_buf *src, const char *from, const char *to, struct sp_buf *dst);

/* The envelope as older sealers wrote it: the payload in a textarea
 * instead of a hidden input's value. */
static void
as_textarea(const struct sp_buf *src, struct sp_buf *dst)
{
	struct sp_buf t;

	static const char sig[] = "\">\n<textarea id=\"sp-sig\"";

	edit(src, PAYLOAD_INPUT, "<textarea id=\"sp-payload\" name=\"c\" hidden>\n", &t);
	/* the value ends before the signature (format 2) or the buttons */
	if (memmem(t.data, t.len, sig, strlen(sig)) != NULL)
		edit(&t, sig, "</textarea>\n<textarea id=\"sp-sig\"", dst);
	else
		edit(&t, "\">\n<div class=\"actions\">", "</textarea>\n<div class=\"actions\">", dst);
	sp_buf_free(&t);
}

static void
edit(const struct sp_buf *src, const char *from, const char *to, struct sp_buf *dst)
{
	const unsigned char *p = memmem(src->data, src->len, from, strlen(from));
	size_t at;

	sp_buf_init(dst, BIG);
	T_CHECK(p != NULL);
	if (p == NULL)
		return;
	at = (size_t)(p - src->data);
	sp_buf_append(dst, src->data, at);
	sp_buf_append_str(dst, to);
	sp_buf_append(dst, p + strlen(from), src->len - at - strlen(from));
}

static void
expect_refused(const struct sp_buf *b, const char *msg_part)
{
	struct sp_err err;
	int st = read_str((const char *)b->data, b->len, &err);

	T_EQ_INT(st, SP_ERR_INVALID);
	if (st != SP_OK && strstr(err.msg, msg_part) == NULL)
		fprintf(stderr, "message \"%s\" lacks \"%s\"\n", err.msg, msg_part);
	T_CHECK(st == SP_OK || strstr(err.msg, msg_part) != NULL);
}

static void
test_html_read_refuses(void)
{
	struct fixture f;
	struct sp_buf pt, ct, html, t, big;
	struct wstat ws;
	struct sp_err err;
	static const char random_html[] = "<!DOCTYPE html><html><body><p>Hello</p>"
	    "<textarea id=\"other\">x</textarea></body></html>";
	const char *p;
	size_t i;

	fixture_init(&f);
	counter(&pt, 5000);
	T_EQ_INT(seal_all(&f, pt.data, pt.len, &ct), SP_OK);
	T_EQ_INT(write_html(&f, &f.h, &f.hb, "s", NULL, &ct, &html, &ws), SP_OK);

	T_EQ_INT(read_str("", 0, &err), SP_ERR_INVALID);
	T_CHECK(strstr(err.msg, "empty") != NULL);
	T_EQ_INT(read_str(NULL, 0, &err), SP_ERR_INVALID);
	T_EQ_INT(read_str(random_html, sizeof(random_html) - 1, &err), SP_ERR_INVALID);
	T_CHECK(strstr(err.msg, "not a sealpost envelope: no header element") != NULL);

	edit(&html, PAYLOAD_INPUT, "<input type=\"hidden\" id=\"sp-other\" name=\"c\" value=\"\n", &t);
	expect_refused(&t, "no payload element");
	sp_buf_free(&t);
	/* the older form, a textarea: read the same; without its id, refused */
	as_textarea(&html, &big);
	{
		struct sp_env_file ef, old;

		T_EQ_INT(sp_env_html_read(html.data, html.len, &ef, &err), SP_OK);
		T_EQ_INT(sp_env_html_read(big.data, big.len, &old, &err), SP_OK);
		T_CHECK(old.ct.len == ef.ct.len && memcmp(old.ct.data, ef.ct.data, ef.ct.len) == 0);
		T_EQ_INT(old.has_sig, ef.has_sig);
		sp_env_file_clear(&ef);
		sp_env_file_clear(&old);
	}
	edit(&big, "<textarea id=\"sp-payload\"", "<textarea id=\"sp-other\"", &t);
	expect_refused(&t, "no payload element");
	sp_buf_free(&t);
	/* a textarea of the id before the input is the one read (as a
	 * browser would): here, an empty one */
	edit(&html, PAYLOAD_INPUT, "<textarea id=\"sp-payload\" hidden></textarea>" PAYLOAD_INPUT, &t);
	expect_refused(&t, "payload too short");
	sp_buf_free(&t);
	sp_buf_free(&big);
	edit(&html, "<script type=\"application/json\" id=\"sp-meta\">", "<script>", &t);
	expect_refused(&t, "no meta element");
	sp_buf_free(&t);
	edit(&html, "{\"v\":1,\"id\":\"AAECAwQFBgcICQoLDA0ODw\"", "{\"v\":1,\"id\":\"AAECAwQFBgcICQoLDA0OAA\"", &t);
	expect_refused(&t, "meta id differs");
	sp_buf_free(&t);
	edit(&html, "\"mp\":\"", "\"mp\":\"A", &t);
	expect_refused(&t, "mail key part");
	sp_buf_free(&t);
	edit(&html, "\"mp\":\"", "\"mp\":1,\"x\":\"", &t);
	expect_refused(&t, "mail key part");
	sp_buf_free(&t);
	edit(&html, "<script type=\"application/json\" id=\"sp-meta\">{", "<script type=\"application/json\" id=\"sp-meta\">[", &t);
	expect_refused(&t, "meta");
	sp_buf_free(&t);
	/* bad base64 in the payload, in the header */
	p = strstr((char *)html.data, PAYLOAD_INPUT) + strlen(PAYLOAD_INPUT);
	sp_buf_init(&t, BIG);
	sp_buf_append(&t, html.data, html.len);
	t.data[(size_t)(p - (char *)html.data) + 10] = '!';
	expect_refused(&t, "bad payload base64");
	sp_buf_free(&t);
	p = strstr(strstr((char *)html.data, "id=\"sp-header\""), ">\n") + 2;
	sp_buf_init(&t, BIG);
	sp_buf_append(&t, html.data, html.len);
	t.data[(size_t)(p - (char *)html.data) + 3] = '*';
	expect_refused(&t, "bad header base64");
	sp_buf_free(&t);
	/* a payload value that is never closed */
	{
		const char *v = strstr((char *)html.data, PAYLOAD_INPUT);

		sp_buf_init(&t, BIG);
		sp_buf_append(&t, html.data, (size_t)(v - (char *)html.data) + strlen(PAYLOAD_INPUT) + 20);
		expect_refused(&t, "payload element not closed");
		sp_buf_free(&t);
	}
	/* an oversized header: base64 of more than 64 KiB */
	sp_buf_init(&big, BIG);
	sp_buf_append_str(&big, "<textarea id=\"sp-header\" hidden>\n");
	{
		struct sp_buf raw;

		sp_buf_init(&raw, BIG);
		sp_buf_reserve(&raw, SP_ENV_MAX_HEADER + 10);
		memset(raw.data, '{', SP_ENV_MAX_HEADER + 10);
		raw.len = SP_ENV_MAX_HEADER + 10;
		sp_b64_encode(&big, raw.data, raw.len, 76);
		sp_buf_free(&raw);
	}
	sp_buf_append_str(&big, "</textarea>");
	expect_refused(&big, "header");
	sp_buf_free(&big);
	/* a valid header that is not JSON */
	sp_buf_init(&big, BIG);
	sp_buf_append_str(&big, "<textarea id=\"sp-header\" hidden>\naGVsbG8=\n</textarea>");
	expect_refused(&big, "envelope header");
	sp_buf_free(&big);
	/* cut anywhere before the end of the payload: never accepted */
	p = strstr(strstr((char *)html.data, "id=\"sp-payload\""), "\">");
	for (i = 1; i <= 20; i++)
		T_EQ_INT(read_str((const char *)html.data, (size_t)(p - (char *)html.data) * i / 20, &err),
		    SP_ERR_INVALID);

	sp_buf_free(&html);
	sp_buf_free(&pt);
	sp_buf_free(&ct);
	sp_buf_free(&f.hb);
}

static void
test_html_write_refuses(void)
{
	struct fixture f;
	struct sp_buf ct, html, hb2;
	struct wstat ws;
	struct sp_env_header other;
	struct sp_err err;

	fixture_init(&f);
	sp_buf_init(&ct, 100);
	sp_buf_append(&ct, "0123456789abcdef", 16);
	/* header bytes that are not a header */
	sp_buf_init(&hb2, 100);
	sp_buf_append_str(&hb2, "{}");
	T_EQ_INT(write_html(&f, &f.h, &hb2, NULL, NULL, &ct, &html, &ws), SP_ERR_INVALID);
	sp_buf_free(&html);
	sp_buf_free(&hb2);
	/* header struct of another envelope */
	T_EQ_INT(sp_env_header_decode(f.hb.data, f.hb.len, &other, &err), SP_OK);
	memcpy(other.id, "AAECAwQFBgcICQoLDA0OAA", 23);
	T_EQ_INT(write_html(&f, &other, &f.hb, NULL, NULL, &ct, &html, &ws), SP_ERR_INVALID);
	sp_buf_free(&html);
	sp_env_header_clear(&other);
	sp_buf_free(&ct);
	sp_buf_free(&f.hb);
}

/* --- format 2 --------------------------------------------------------------- */

/* A format 2 fixture: level high, verify on, the kid of a fresh key. */
static void
fixture_init_v2(struct fixture *f, struct sp_signer **signer)
{
	struct sp_buf pem;
	struct sp_err err;

	memset(f, 0, sizeof(*f));
	sp_buf_init(&pem, 4096);
	T_EQ_INT(sp_signer_generate(signer, &pem, &err), SP_OK);
	sp_buf_wipe(&pem);
	sp_random(f->sp, sizeof(f->sp));
	sp_random(f->mp, sizeof(f->mp));
	f->h.version = 2;
	memcpy(f->h.id, "AAECAwQFBgcICQoLDA0ODw", 23);
	f->h.keyd = "http://127.0.0.1:8443";
	f->h.org = "Example Clinic";
	f->h.from = "dr@clinic.example";
	f->h.to = fix_to;
	f->h.nto = 2;
	f->h.created = 1795000000;
	sp_random(f->h.nonce_prefix, sizeof(f->h.nonce_prefix));
	sp_signer_kid(*signer, f->h.kid);
	memcpy(f->h.level, "high", 5);
	f->h.verify = 1;
	sp_buf_init(&f->hb, SP_ENV_MAX_HEADER);
	T_EQ_INT(sp_env_header_encode(&f->h, &f->hb, &err), SP_OK);
	T_EQ_INT(sp_env_derive_key_v(2, f->sp, f->mp, f->h.id, f->key), SP_OK);
}

static void
fixture_sign(struct fixture *f, const struct sp_signer *signer, const struct sp_buf *ct)
{
	unsigned char hs[SP_SHA256_LEN], cs[SP_SHA256_LEN];
	struct sp_err err;

	sp_sha256(f->hb.data, f->hb.len, hs);
	sp_sha256(ct->data, ct->len, cs);
	T_EQ_INT(sp_signer_sign_envelope(signer, hs, cs, f->sig, &err), SP_OK);
}

/* Status of verifying sig over (hb, ct) under pub. */
static int
verify_sig(const unsigned char *pub, const unsigned char *hb, size_t hlen,
    const unsigned char *ct, size_t ctlen, const unsigned char *sig)
{
	unsigned char hs[SP_SHA256_LEN], cs[SP_SHA256_LEN];

	sp_sha256(hb, hlen, hs);
	sp_sha256(ct, ctlen, cs);
	return sp_sign_verify_envelope(pub, hs, cs, sig);
}

/* The public key of an Ed25519 seed, and the signature of msg under it,
 * computed with OpenSSL directly (independent of sign.c). */
static void
seed_key(const unsigned char *seed, unsigned char pub[32], const unsigned char *msg,
    size_t mlen, unsigned char sig[64])
{
	EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	size_t n = 32, sn = 64;

	T_CHECK(k != NULL && md != NULL);
	if (k == NULL || md == NULL)
		return;
	T_CHECK(EVP_PKEY_get_raw_public_key(k, pub, &n) == 1 && n == 32);
	if (msg != NULL)
		T_CHECK(EVP_DigestSignInit(md, NULL, NULL, NULL, k) == 1 &&
		    EVP_DigestSign(md, sig, &sn, msg, mlen) == 1 && sn == 64);
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(k);
}

static void
check_hex(json_t *o, const char *k, const unsigned char *p, size_t n)
{
	struct sp_buf b;

	T_EQ_INT(unhex(&b, json_string_value(json_object_get(o, k))), 0);
	T_CHECK(b.len == n && memcmp(b.data, p, n) == 0);
	if (b.len != n || memcmp(b.data, p, n) != 0)
		fprintf(stderr, "vector field %s differs\n", k);
	sp_buf_free(&b);
}

/* Writes the envelope file of a vector case, with its signature. */
static void
vector_html(const struct vcase *v, const unsigned char *sig)
{
	struct sp_env_header h;
	struct sp_env_html_params p;
	struct sp_env_file ef;
	struct sp_buf html;
	struct sp_writer w = { sp_writer_buf, &html };
	struct sp_err err;
	size_t longest;

	T_EQ_INT(sp_env_header_decode(v->hb.data, v->hb.len, &h, &err), SP_OK);
	memset(&p, 0, sizeof(p));
	p.header = &h;
	p.header_bytes = v->hb.data;
	p.header_len = v->hb.len;
	p.mail_part = v->mp.data;
	p.sig = sig;
	sp_buf_init(&html, BIG);
	T_EQ_INT(sp_env_html_write(&p, v->ct.data, v->ct.len, w, &err), SP_OK);
	T_CHECK(ascii_short_lines(&html, &longest));
	T_EQ_INT(sp_env_html_read(html.data, html.len, &ef, &err), SP_OK);
	T_EQ_INT(ef.has_sig, 1);
	T_EQ_MEM(ef.sig, sig, 64);
	T_CHECK(ef.ct.len == v->ct.len && memcmp(ef.ct.data, v->ct.data, v->ct.len) == 0);
	sp_env_file_clear(&ef);
	sp_buf_free(&html);
	sp_env_header_clear(&h);
}

static void
test_vectors_v2(void)
{
	json_t *root = load_vectors_file("SEALPOST_VECTORS_V2", "tests/vectors/envelope-v2.json");
	json_t *c, *t;
	struct vcase v;
	struct sp_buf out, sig, seed, oseed;
	unsigned char pub[32], opub[32], hs[32], cs[32], msg[SP_SIGN_MSG_LEN], mysig[64], k1[32];
	char kid[SP_SIGN_KID_LEN + 1];
	struct sp_env_header h;
	struct sp_err err;
	size_t i, ncase = 0, ntamper = 0;

	T_CHECK(root != NULL);
	if (root == NULL)
		return;
	T_CHECK(strcmp(json_string_value(json_object_get(root, "format")), "sealpost envelope v2 test vectors") == 0);
	/* the keys: public keys and kids recomputed from the seeds */
	T_EQ_INT(unhex(&seed, json_string_value(json_object_get(root, "sign_seed"))), 0);
	T_EQ_INT(unhex(&oseed, json_string_value(json_object_get(root, "other_seed"))), 0);
	T_CHECK(seed.len == 32 && oseed.len == 32);
	seed_key(seed.data, pub, NULL, 0, NULL);
	seed_key(oseed.data, opub, NULL, 0, NULL);
	check_hex(root, "sign_pub", pub, 32);
	check_hex(root, "other_pub", opub, 32);
	sp_sign_kid(pub, kid);
	T_CHECK(strcmp(kid, json_string_value(json_object_get(root, "kid"))) == 0);
	sp_sign_kid(opub, kid);
	T_CHECK(strcmp(kid, json_string_value(json_object_get(root, "other_kid"))) == 0);

	json_array_foreach(json_object_get(root, "cases"), i, c) {
		if (vcase_load_v(2, c, &v) != 0) {
			vcase_free(&v);
			continue;
		}
		T_EQ_INT(open_ct(v.key.data, v.np.data, &v.hb, v.ct.data, v.ct.len, &out), SP_OK);
		T_CHECK(out.len == v.pt.len && memcmp(out.data, v.pt.data, out.len) == 0);
		sp_buf_free(&out);
		/* the format 2 salt: the same parts give another key in format 1 */
		T_EQ_INT(sp_env_derive_key(v.sp.data, v.mp.data, v.id, k1), SP_OK);
		T_CHECK(memcmp(k1, v.key.data, 32) != 0);
		/* the header's format 2 fields */
		T_EQ_INT(sp_env_header_decode(v.hb.data, v.hb.len, &h, &err), SP_OK);
		T_CHECK(strcmp(h.kid, json_string_value(json_object_get(c, "kid"))) == 0);
		T_CHECK(strcmp(h.kid, json_string_value(json_object_get(root, "kid"))) == 0);
		T_CHECK(strcmp(h.level, json_string_value(json_object_get(c, "level"))) == 0);
		T_EQ_INT(h.verify, json_is_true(json_object_get(c, "verify")));
		sp_env_header_clear(&h);
		/* digests, the signed message, the signature */
		sp_sha256(v.hb.data, v.hb.len, hs);
		sp_sha256(v.ct.data, v.ct.len, cs);
		check_hex(c, "header_sha256", hs, 32);
		check_hex(c, "ciphertext_sha256", cs, 32);
		sp_sign_envelope_msg(hs, cs, msg);
		T_CHECK(memcmp(msg, "sealpost envelope v2 signature\n", 31) == 0);
		check_hex(c, "signed_message", msg, sizeof(msg));
		seed_key(seed.data, pub, msg, sizeof(msg), mysig);
		check_hex(c, "sig", mysig, 64);
		T_EQ_INT(unhex(&sig, json_string_value(json_object_get(c, "sig"))), 0);
		T_EQ_INT(sp_sign_verify_envelope(pub, hs, cs, sig.data), SP_OK);
		T_EQ_INT(sp_sign_verify_envelope(opub, hs, cs, sig.data), SP_ERR_AUTH);
		if (v.ct.len < 100000)
			vector_html(&v, sig.data);
		sp_buf_free(&sig);
		vcase_free(&v);
		ncase++;
	}
	T_CHECK(ncase >= 7);

	json_array_foreach(json_object_get(root, "tamper"), i, t) {
		const char *op = json_string_value(json_object_get(t, "op"));
		const char *name = json_string_value(json_object_get(t, "name"));
		const char *want_dec = json_string_value(json_object_get(t, "decrypt"));
		const char *want_sig = json_string_value(json_object_get(t, "signature"));
		unsigned char key[SP_KEY_LEN], np[SP_ENV_NONCE_PREFIX_LEN];
		struct sp_buf alt;
		json_int_t off;
		int dst, sst;

		c = find_case(root, json_string_value(json_object_get(t, "case")));
		T_CHECK(c != NULL && op != NULL && want_dec != NULL && want_sig != NULL);
		if (c == NULL || op == NULL || want_dec == NULL || want_sig == NULL ||
		    vcase_load_v(2, c, &v) != 0)
			continue;
		T_EQ_INT(unhex(&sig, json_string_value(json_object_get(c, "sig"))), 0);
		memcpy(key, v.key.data, SP_KEY_LEN);
		memcpy(np, v.np.data, sizeof(np));
		if (strcmp(op, "flip") == 0) {
			off = json_integer_value(json_object_get(t, "offset"));
			v.ct.data[off] ^= (unsigned char)json_integer_value(json_object_get(t, "mask"));
		} else if (strcmp(op, "truncate") == 0) {
			v.ct.len = (size_t)json_integer_value(json_object_get(t, "len"));
		} else if (strcmp(op, "drop_chunk") == 0) {
			drop_chunk(&v.ct, (size_t)json_integer_value(json_object_get(t, "index")));
		} else if (strcmp(op, "header_flip") == 0) {
			off = json_integer_value(json_object_get(t, "offset"));
			if (off < 0)
				off += (json_int_t)v.hb.len;
			v.hb.data[off] ^= (unsigned char)json_integer_value(json_object_get(t, "mask"));
		} else if (strcmp(op, "server_part") == 0) {
			unhex(&alt, json_string_value(json_object_get(t, "hex")));
			sp_env_derive_key_v(2, alt.data, v.mp.data, v.id, key);
			sp_buf_free(&alt);
		} else if (strcmp(op, "reencrypt") == 0) {
			static const size_t one[] = { 1000 };

			unhex(&alt, json_string_value(json_object_get(t, "plaintext")));
			sp_buf_free(&v.ct);
			T_EQ_INT(seal_pieces(key, np, &v.hb, alt.data, alt.len, one, 1, &v.ct), SP_OK);
			sp_buf_free(&v.pt);
			v.pt = alt;
		} else if (strcmp(op, "resign") == 0) {
			/* the forged header names the other key; the other key's
			 * signature over it is genuine, but not the organisation's */
			sp_buf_free(&v.hb);
			unhex(&v.hb, json_string_value(json_object_get(t, "header")));
			T_EQ_INT(sp_env_header_decode(v.hb.data, v.hb.len, &h, &err), SP_OK);
			T_CHECK(strcmp(h.kid, json_string_value(json_object_get(root, "other_kid"))) == 0);
			memcpy(np, h.nonce_prefix, sizeof(np));
			sp_env_header_clear(&h);
			sp_buf_free(&v.pt);
			unhex(&v.pt, json_string_value(json_object_get(t, "plaintext")));
			sp_buf_free(&v.ct);
			{
				static const size_t one[] = { 1000 };

				T_EQ_INT(seal_pieces(key, np, &v.hb, v.pt.data, v.pt.len, one, 1, &v.ct), SP_OK);
			}
			check_hex(t, "ciphertext", v.ct.data, v.ct.len);
			sp_buf_free(&sig);
			unhex(&sig, json_string_value(json_object_get(t, "sig")));
			sp_sha256(v.hb.data, v.hb.len, hs);
			sp_sha256(v.ct.data, v.ct.len, cs);
			sp_sign_envelope_msg(hs, cs, msg);
			seed_key(oseed.data, opub, msg, sizeof(msg), mysig);
			T_EQ_MEM(mysig, sig.data, 64);
			T_EQ_INT(sp_sign_verify_envelope(opub, hs, cs, sig.data), SP_OK);
		} else if (strcmp(op, "sig_flip") == 0) {
			off = json_integer_value(json_object_get(t, "offset"));
			sig.data[off] ^= (unsigned char)json_integer_value(json_object_get(t, "mask"));
		} else if (strcmp(op, "sig_from") == 0) {
			json_t *o = find_case(root, json_string_value(json_object_get(t, "from")));

			T_CHECK(o != NULL);
			sp_buf_free(&sig);
			unhex(&sig, json_string_value(json_object_get(o, "sig")));
		} else {
			T_CHECK(!"unknown tamper op");
		}
		dst = open_ct(key, np, &v.hb, v.ct.data, v.ct.len, &out);
		if (dst == SP_OK)
			T_CHECK(out.len == v.pt.len && memcmp(out.data, v.pt.data, out.len) == 0);
		sst = verify_sig(pub, v.hb.data, v.hb.len, v.ct.data, v.ct.len, sig.data);
		if ((dst == SP_OK) != (strcmp(want_dec, "ok") == 0) ||
		    (sst == SP_OK) != (strcmp(want_sig, "ok") == 0))
			fprintf(stderr, "tamper case %s: decrypt %d, signature %d\n", name, dst, sst);
		T_EQ_INT(dst, strcmp(want_dec, "ok") == 0 ? SP_OK : SP_ERR_AUTH);
		T_EQ_INT(sst, strcmp(want_sig, "ok") == 0 ? SP_OK : SP_ERR_AUTH);
		sp_buf_free(&out);
		sp_buf_free(&sig);
		vcase_free(&v);
		ntamper++;
	}
	T_CHECK(ntamper >= 15);
	sp_buf_free(&seed);
	sp_buf_free(&oseed);
	json_decref(root);
}

#define V2_TAIL "\"created\":1,\"expires\":0,\"alg\":\"A256GCM-STREAM-64K\",\"np\":\"AAECAwQFBg\""
#define V2_HEAD "{\"v\":2," HDR_IDK HDR_MID V2_TAIL
#define V2_REF V2_HEAD ",\"kid\":\"If4x36FUomE\",\"level\":\"high\",\"verify\":true}"

static void
test_header_v2(void)
{
	struct fixture f;
	struct sp_signer *signer = NULL;
	struct sp_env_header h;
	struct sp_buf b;
	struct sp_err err;
	unsigned char k1[32], k2[32], kv[32];
	char want[256];

	fixture_init_v2(&f, &signer);
	/* canonical: the format 1 keys, then kid, level, verify */
	T_CHECK(memcmp(f.hb.data, "{\"v\":2,\"id\":\"AAECAwQFBgcICQoLDA0ODw\",", 37) == 0);
	snprintf(want, sizeof(want), "\",\"kid\":\"%s\",\"level\":\"high\",\"verify\":true}", f.h.kid);
	T_CHECK(f.hb.len > strlen(want) &&
	    memcmp(f.hb.data + f.hb.len - strlen(want), want, strlen(want)) == 0);
	T_EQ_INT(sp_env_header_decode(f.hb.data, f.hb.len, &h, &err), SP_OK);
	T_EQ_INT(h.version, 2);
	T_CHECK(strcmp(h.kid, f.h.kid) == 0 && strcmp(h.level, "high") == 0 && h.verify == 1);
	sp_env_header_clear(&h);
	/* each level and verify false round-trip */
	{
		static const char *const lv[] = { "high", "medium", "low" };

		for (size_t i = 0; i < 3; i++) {
			memcpy(f.h.level, lv[i], strlen(lv[i]) + 1);
			f.h.verify = (int)(i & 1);
			sp_buf_init(&b, SP_ENV_MAX_HEADER);
			T_EQ_INT(sp_env_header_encode(&f.h, &b, &err), SP_OK);
			T_EQ_INT(sp_env_header_decode(b.data, b.len, &h, &err), SP_OK);
			T_CHECK(strcmp(h.level, lv[i]) == 0 && h.verify == (int)(i & 1));
			T_CHECK(memmem(b.data, b.len, i & 1 ? "\"verify\":true}" : "\"verify\":false}",
			    i & 1 ? 14 : 15) != NULL);
			sp_env_header_clear(&h);
			sp_buf_free(&b);
		}
		memcpy(f.h.level, "high", 5);
		f.h.verify = 1;
	}
	/* the encoder refuses bad format 2 fields, and format 2 fields in format 1 */
	sp_buf_init(&b, SP_ENV_MAX_HEADER);
	memcpy(f.h.kid, "If4x36FUomF", 12);	/* stray low bits */
	T_EQ_INT(sp_env_header_encode(&f.h, &b, &err), SP_ERR_INVALID);
	T_CHECK(strstr(err.msg, "kid") != NULL);
	memcpy(f.h.kid, "If4x36FUom", 11);
	T_EQ_INT(sp_env_header_encode(&f.h, &b, &err), SP_ERR_INVALID);
	memcpy(f.h.kid, "If4x36FUomE", 12);
	memcpy(f.h.level, "HIGH", 5);
	T_EQ_INT(sp_env_header_encode(&f.h, &b, &err), SP_ERR_INVALID);
	T_CHECK(strstr(err.msg, "level") != NULL);
	f.h.level[0] = '\0';
	T_EQ_INT(sp_env_header_encode(&f.h, &b, &err), SP_ERR_INVALID);
	memcpy(f.h.level, "low", 4);
	f.h.verify = 2;
	T_EQ_INT(sp_env_header_encode(&f.h, &b, &err), SP_ERR_INVALID);
	f.h.verify = 0;
	f.h.version = 3;
	T_EQ_INT(sp_env_header_encode(&f.h, &b, &err), SP_ERR_INVALID);
	f.h.version = 1;
	T_EQ_INT(sp_env_header_encode(&f.h, &b, &err), SP_ERR_INVALID);
	T_CHECK(strstr(err.msg, "format 2") != NULL);
	f.h.kid[0] = '\0';
	f.h.level[0] = '\0';
	f.h.verify = 1;
	T_EQ_INT(sp_env_header_encode(&f.h, &b, &err), SP_ERR_INVALID);
	f.h.verify = 0;
	T_EQ_INT(b.len, 0);
	T_EQ_INT(sp_env_header_encode(&f.h, &b, &err), SP_OK);
	T_CHECK(memmem(b.data, b.len, "kid", 3) == NULL);
	sp_buf_free(&b);

	/* the decoder: the reference, then every broken variant */
	T_EQ_INT(decode_str(V2_REF), SP_OK);
	T_EQ_INT(decode_str(V2_HEAD ",\"kid\":\"If4x36FUomE\",\"level\":\"medium\",\"verify\":false}"), SP_OK);
	T_EQ_INT(decode_str(V2_HEAD ",\"kid\":\"If4x36FUomE\",\"level\":\"low\",\"verify\":false}"), SP_OK);
	T_EQ_INT(decode_str(V2_HEAD "}"), SP_ERR_INVALID);	/* format 2 without its fields */
	T_EQ_INT(decode_str(V2_HEAD ",\"kid\":\"If4x36FUomE\",\"level\":\"high\"}"), SP_ERR_INVALID);
	T_EQ_INT(decode_str(V2_HEAD ",\"level\":\"high\",\"verify\":true}"), SP_ERR_INVALID);
	T_EQ_INT(decode_str(V2_HEAD ",\"kid\":\"If4x36FUomF\",\"level\":\"high\",\"verify\":true}"), SP_ERR_INVALID);
	T_EQ_INT(decode_str(V2_HEAD ",\"kid\":\"If4x36FUom\",\"level\":\"high\",\"verify\":true}"), SP_ERR_INVALID);
	T_EQ_INT(decode_str(V2_HEAD ",\"kid\":\"If4x36FUomEA\",\"level\":\"high\",\"verify\":true}"), SP_ERR_INVALID);
	T_EQ_INT(decode_str(V2_HEAD ",\"kid\":\"If4x36FU+mE\",\"level\":\"high\",\"verify\":true}"), SP_ERR_INVALID);
	T_EQ_INT(decode_str(V2_HEAD ",\"kid\":7,\"level\":\"high\",\"verify\":true}"), SP_ERR_INVALID);
	T_EQ_INT(decode_str(V2_HEAD ",\"kid\":\"If4x36FUomE\",\"level\":\"High\",\"verify\":true}"), SP_ERR_INVALID);
	T_EQ_INT(decode_str(V2_HEAD ",\"kid\":\"If4x36FUomE\",\"level\":\"\",\"verify\":true}"), SP_ERR_INVALID);
	T_EQ_INT(decode_str(V2_HEAD ",\"kid\":\"If4x36FUomE\",\"level\":\"highest\",\"verify\":true}"), SP_ERR_INVALID);
	T_EQ_INT(decode_str(V2_HEAD ",\"kid\":\"If4x36FUomE\",\"level\":\"high\",\"verify\":1}"), SP_ERR_INVALID);
	T_EQ_INT(decode_str(V2_HEAD ",\"kid\":\"If4x36FUomE\",\"level\":\"high\",\"verify\":\"true\"}"), SP_ERR_INVALID);
	T_EQ_INT(decode_str(V2_HEAD ",\"kid\":\"If4x36FUomE\",\"level\":\"high\",\"verify\":null}"), SP_ERR_INVALID);
	T_EQ_INT(decode_str(V2_HEAD ",\"kid\":\"If4x36FUomE\",\"level\":\"high\",\"verify\":true,\"x\":1}"), SP_ERR_INVALID);
	T_EQ_INT(decode_str(V2_HEAD ",\"kid\":\"If4x36FUomE\",\"kid\":\"If4x36FUomE\",\"level\":\"high\",\"verify\":true}"),
	    SP_ERR_INVALID);
	/* out of order: kid after level, and np after the format 2 fields */
	T_EQ_INT(decode_str(V2_HEAD ",\"level\":\"high\",\"kid\":\"If4x36FUomE\",\"verify\":true}"), SP_ERR_INVALID);
	T_EQ_INT(decode_str("{\"v\":2," HDR_IDK HDR_MID "\"created\":1,\"expires\":0,\"alg\":\"A256GCM-STREAM-64K\","
	    "\"kid\":\"If4x36FUomE\",\"level\":\"high\",\"verify\":true,\"np\":\"AAECAwQFBg\"}"), SP_ERR_INVALID);
	T_EQ_INT(decode_str("{" HDR_IDK "\"v\":2," HDR_MID V2_TAIL
	    ",\"kid\":\"If4x36FUomE\",\"level\":\"high\",\"verify\":true}"), SP_ERR_INVALID);
	/* format 1 must not carry them */
	T_EQ_INT(decode_str(HDR_HEAD HDR_MID "\"created\":1,\"expires\":0,\"alg\":\"A256GCM-STREAM-64K\","
	    "\"np\":\"AAECAwQFBg\",\"kid\":\"If4x36FUomE\"}"), SP_ERR_INVALID);
	T_EQ_INT(decode_str(HDR_HEAD HDR_MID "\"created\":1,\"expires\":0,\"alg\":\"A256GCM-STREAM-64K\","
	    "\"np\":\"AAECAwQFBg\",\"level\":\"high\"}"), SP_ERR_INVALID);
	T_EQ_INT(decode_str(HDR_HEAD HDR_MID "\"created\":1,\"expires\":0,\"alg\":\"A256GCM-STREAM-64K\","
	    "\"np\":\"AAECAwQFBg\",\"verify\":false}"), SP_ERR_INVALID);
	T_EQ_INT(decode_str("{\"v\":3," HDR_IDK HDR_MID V2_TAIL ",\"kid\":\"If4x36FUomE\",\"level\":\"high\",\"verify\":true}"),
	    SP_ERR_INVALID);
	/* a format 1 header decodes with the format 2 fields empty */
	T_EQ_INT(sp_env_header_decode((const unsigned char *)HDR_HEAD HDR_MID HDR_TAIL,
	    strlen(HDR_HEAD HDR_MID HDR_TAIL), &h, &err), SP_OK);
	T_CHECK(h.version == 1 && h.kid[0] == '\0' && h.level[0] == '\0' && h.verify == 0);
	sp_env_header_clear(&h);
	{
		struct sp_err e2;

		T_EQ_INT(sp_env_header_decode((const unsigned char *)V2_HEAD ",\"level\":\"high\",\"kid\":\"If4x36FUomE\",\"verify\":true}",
		    strlen(V2_HEAD ",\"level\":\"high\",\"kid\":\"If4x36FUomE\",\"verify\":true}"), &h, &e2), SP_ERR_INVALID);
		T_CHECK(strstr(e2.msg, "out of order") != NULL);
		T_EQ_INT(sp_env_header_decode((const unsigned char *)HDR_HEAD HDR_MID "\"created\":1,\"expires\":0,"
		    "\"alg\":\"A256GCM-STREAM-64K\",\"np\":\"AAECAwQFBg\",\"kid\":\"If4x36FUomE\"}",
		    strlen(HDR_HEAD HDR_MID "\"created\":1,\"expires\":0,\"alg\":\"A256GCM-STREAM-64K\","
		    "\"np\":\"AAECAwQFBg\",\"kid\":\"If4x36FUomE\"}"), &h, &e2), SP_ERR_INVALID);
		T_CHECK(strstr(e2.msg, "format 2") != NULL);
	}

	/* the derivation: salt per version, format 1 unchanged */
	T_EQ_INT(sp_env_derive_key_v(1, f.sp, f.mp, f.h.id, k1), SP_OK);
	T_EQ_INT(sp_env_derive_key(f.sp, f.mp, f.h.id, kv), SP_OK);
	T_EQ_MEM(k1, kv, 32);
	T_EQ_INT(sp_env_derive_key_v(2, f.sp, f.mp, f.h.id, k2), SP_OK);
	T_CHECK(memcmp(k1, k2, 32) != 0);
	T_EQ_INT(sp_env_derive_key_v(0, f.sp, f.mp, f.h.id, kv), SP_ERR_INVALID);
	T_EQ_INT(sp_env_derive_key_v(3, f.sp, f.mp, f.h.id, kv), SP_ERR_INVALID);
	T_EQ_INT(sp_env_derive_key_v(2, f.sp, f.mp, "short", kv), SP_ERR_INVALID);
	sp_buf_free(&f.hb);
	sp_signer_free(signer);
}

/* Writes a format 2 envelope with optional branding. */
static int
write_html_v2(const struct fixture *f, const unsigned char *sig, const char *colour,
    const unsigned char *logo, size_t logo_len, const struct sp_buf *ct, struct sp_buf *html)
{
	struct sp_env_html_params p;
	struct sp_writer w = { sp_writer_buf, html };
	struct sp_err err;
	int st;

	memset(&p, 0, sizeof(p));
	p.header = &f->h;
	p.header_bytes = f->hb.data;
	p.header_len = f->hb.len;
	p.mail_part = f->mp;
	p.sig = sig;
	p.brand_colour = colour;
	p.brand_logo = logo;
	p.brand_logo_len = logo_len;
	sp_buf_init(html, BIG);
	st = sp_env_html_write(&p, ct->data, ct->len, w, &err);
	if (st != SP_OK)
		fprintf(stderr, "html write: %s\n", err.msg);
	return st;
}

static int
has(const struct sp_buf *b, const char *s)
{
	return memmem(b->data, b->len, s, strlen(s)) != NULL;
}

static void
test_html_v2(void)
{
	struct fixture f;
	struct sp_signer *signer = NULL;
	struct sp_buf pt, ct, html, t, want, logo;
	struct sp_env_file ef;
	struct sp_err err;
	unsigned char pub[SP_SIGN_PUB_LEN];
	size_t longest, i;
	char *p;

	fixture_init_v2(&f, &signer);
	sp_signer_pub(signer, pub);
	counter(&pt, 70000);
	T_EQ_INT(seal_all(&f, pt.data, pt.len, &ct), SP_OK);
	fixture_sign(&f, signer, &ct);
	/* a PNG-looking logo of 3000 bytes: its base64 needs many lines */
	sp_buf_init(&logo, BIG);
	sp_buf_append(&logo, "\x89PNG\r\n\x1a\n", 8);
	for (i = 8; i < 3000; i++)
		sp_buf_append(&logo, (const unsigned char *)&i, 1);
	T_EQ_INT(write_html_v2(&f, f.sig, "#0A7F3F", logo.data, logo.len, &ct, &html), SP_OK);
	T_CHECK(ascii_short_lines(&html, &longest));
	T_CHECK(strstr((char *)html.data, "{{") == NULL);
	/* the signature element: right after the payload, base64url of the 64 bytes */
	sp_buf_init(&want, 512);
	sp_buf_append_str(&want, "\">\n<textarea id=\"sp-sig\" name=\"s\" hidden>");
	sp_b64url_encode(&want, f.sig, 64);
	sp_buf_append_str(&want, "</textarea>\n<div class=\"actions\">");
	T_CHECK(memmem(html.data, html.len, want.data, want.len) != NULL);
	p = memmem(html.data, html.len, PAYLOAD_INPUT, strlen(PAYLOAD_INPUT));
	T_CHECK(p != NULL && memmem(p, html.len - (size_t)(p - (char *)html.data), want.data, want.len) != NULL);
	T_CHECK(p != NULL && (char *)memmem(html.data, html.len, "id=\"sp-form\"", 12) < p);
	sp_buf_free(&want);
	/* what the envelope shows */
	T_CHECK(has(&html, "<strong>Signed by Example Clinic</strong>"));
	T_CHECK(has(&html, "Security: high &#8212; your password is needed every time."));
	T_CHECK(has(&html, "id=\"sp-verify\">Before the message opens, the sender will ask you a question"
	    " that only you can answer.</p>"));
	/* branding: the colour (lower case) and a text colour that contrasts */
	T_CHECK(has(&html, "header.top { background: #0a7f3f; color: #ffffff;"));
	T_CHECK(has(&html, "<img class=\"logo\" id=\"sp-logo\" alt=\"Example Clinic\" src=\"data:image/png;base64,\n"));
	T_CHECK(has(&html, "img-src data:"));
	sp_buf_init(&want, BIG);
	sp_b64_encode(&want, logo.data, logo.len, 76);
	T_CHECK(want.len > 76 * 10 && has(&html, (char *)want.data));
	sp_buf_free(&want);
	/* reads back with its signature, which verifies */
	T_EQ_INT(sp_env_html_read(html.data, html.len, &ef, &err), SP_OK);
	T_EQ_INT(ef.has_sig, 1);
	T_EQ_MEM(ef.sig, f.sig, 64);
	T_EQ_INT(ef.header.version, 2);
	T_EQ_INT(verify_sig(pub, ef.header_bytes.data, ef.header_bytes.len, ef.ct.data, ef.ct.len, ef.sig), SP_OK);
	sp_env_file_clear(&ef);
	T_EQ_INT(ef.has_sig, 0);
	check_read_back(&f, &html, &f.hb, &ct, &pt);
	/* CRLF and white space inside the signature element still read */
	edit(&html, "name=\"s\" hidden>", "name=\"s\" hidden>\r\n  ", &t);
	T_EQ_INT(sp_env_html_read(t.data, t.len, &ef, &err), SP_OK);
	T_EQ_MEM(ef.sig, f.sig, 64);
	sp_env_file_clear(&ef);
	sp_buf_free(&t);

	/* the reader refuses a format 2 file without its signature, or a bad one */
	edit(&html, "<textarea id=\"sp-sig\"", "<textarea id=\"sp-xxx\"", &t);
	expect_refused(&t, "not a sealpost envelope: no signature");
	sp_buf_free(&t);
	edit(&html, "name=\"s\" hidden>", "name=\"s\" hidden>A", &t);
	expect_refused(&t, "bad signature");
	sp_buf_free(&t);
	p = strstr(strstr((char *)html.data, "id=\"sp-sig\""), ">") + 1;
	sp_buf_init(&t, BIG);
	sp_buf_append(&t, html.data, html.len);
	t.data[(size_t)(p - (char *)html.data) + 85] = '=';
	expect_refused(&t, "bad signature");
	t.data[(size_t)(p - (char *)html.data) + 85] = '+';
	expect_refused(&t, "bad signature");
	sp_buf_free(&t);
	p = strstr(strstr((char *)html.data, "id=\"sp-sig\""), "</textarea>");
	sp_buf_init(&t, BIG);
	sp_buf_append(&t, html.data, (size_t)(p - (char *)html.data));
	expect_refused(&t, "signature element not closed");
	sp_buf_free(&t);
	/* a signature element only before the payload does not count */
	edit(&html, "<textarea id=\"sp-sig\"", "<textarea id=\"sp-xxx\"", &t);
	{
		struct sp_buf t2;

		edit(&t, "<textarea id=\"sp-header\"", "<textarea id=\"sp-sig\" hidden>"
		    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
		    "</textarea><textarea id=\"sp-header\"", &t2);
		expect_refused(&t2, "no signature");
		sp_buf_free(&t2);
	}
	sp_buf_free(&t);
	sp_buf_free(&html);

	/* other levels, verify off, colours that need dark text or are invalid */
	{
		static const struct {
			const char *level, *colour, *css, *text;
			int verify;
		} v[] = {
			{ "medium", "#ffee00", "background: #ffee00; color: #000000;", "Security: medium &#8212;", 0 },
			{ "low", "red", "background: #1f4e79; color: #ffffff;", "Security: low &#8212;", 0 },
			{ "high", "#12345", "background: #1f4e79; color: #ffffff;", "Security: high &#8212;", 1 },
			{ "high", "#12345g", "background: #1f4e79; color: #ffffff;", "Security: high &#8212;", 0 },
			{ "low", "#1234567", "background: #1f4e79; color: #ffffff;", "Security: low &#8212;", 1 },
			{ "low", NULL, "background: #1f4e79; color: #ffffff;", "Security: low &#8212;", 0 },
			{ "medium", "#FFFFFF", "background: #ffffff; color: #000000;", "Security: medium &#8212;", 0 },
		};

		for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
			memcpy(f.h.level, v[i].level, strlen(v[i].level) + 1);
			f.h.verify = v[i].verify;
			sp_buf_reset(&f.hb);
			T_EQ_INT(sp_env_header_encode(&f.h, &f.hb, &err), SP_OK);
			sp_buf_free(&ct);	/* seal_all starts a new buffer */
			T_EQ_INT(seal_all(&f, pt.data, 10, &ct), SP_OK);
			fixture_sign(&f, signer, &ct);
			T_EQ_INT(write_html_v2(&f, f.sig, v[i].colour, NULL, 0, &ct, &html), SP_OK);
			T_CHECK(has(&html, v[i].css));
			T_CHECK(has(&html, v[i].text));
			T_EQ_INT(has(&html, "id=\"sp-verify\""), v[i].verify);
			T_CHECK(!has(&html, "<img"));
			T_EQ_INT(sp_env_html_read(html.data, html.len, &ef, &err), SP_OK);
			T_CHECK(ef.has_sig && strcmp(ef.header.level, v[i].level) == 0 &&
			    ef.header.verify == v[i].verify);
			sp_env_file_clear(&ef);
			sp_buf_free(&html);
		}
	}
	/* a logo that is not a PNG, or too large, is left out */
	T_EQ_INT(write_html_v2(&f, f.sig, NULL, (const unsigned char *)"GIF89a........", 14, &ct, &html), SP_OK);
	T_CHECK(!has(&html, "<img"));
	sp_buf_free(&html);
	sp_buf_reserve(&logo, 300 * 1024);
	memset(logo.data + logo.len, 'x', 300 * 1024 - logo.len);
	logo.len = 300 * 1024;
	T_EQ_INT(write_html_v2(&f, f.sig, NULL, logo.data, logo.len, &ct, &html), SP_OK);
	T_CHECK(!has(&html, "<img"));
	sp_buf_free(&html);
	T_EQ_INT(write_html_v2(&f, f.sig, NULL, logo.data, 256 * 1024, &ct, &html), SP_OK);
	T_CHECK(has(&html, "<img") && ascii_short_lines(&html, &longest));
	sp_buf_free(&html);
	/* a hostile organisation name in alt and "Signed by" is escaped */
	{
		struct fixture g = f;

		g.h.org = "\"><script>x</script> \xf0\x9f\x94\x92";
		sp_buf_init(&g.hb, SP_ENV_MAX_HEADER);
		T_EQ_INT(sp_env_header_encode(&g.h, &g.hb, &err), SP_OK);
		T_EQ_INT(write_html_v2(&g, f.sig, NULL, logo.data, 100, &ct, &html), SP_OK);
		T_CHECK(has(&html, "alt=\"&quot;&gt;&lt;script&gt;x&lt;/script&gt; &#128274;\" src="));
		T_CHECK(has(&html, "Signed by &quot;&gt;&lt;script&gt;x&lt;/script&gt; &#128274;</strong>"));
		sp_buf_free(&html);
		sp_buf_free(&g.hb);
	}

	/* the writer: format 2 needs the signature, format 1 takes none */
	T_EQ_INT(write_html_v2(&f, NULL, NULL, NULL, 0, &ct, &html), SP_ERR_INVALID);
	sp_buf_free(&html);
	{
		struct fixture g;

		fixture_init(&g);
		sp_buf_free(&ct);
		T_EQ_INT(seal_all(&g, pt.data, 10, &ct), SP_OK);
		T_EQ_INT(write_html_v2(&g, f.sig, NULL, NULL, 0, &ct, &html), SP_ERR_INVALID);
		sp_buf_free(&html);
		/* a format 1 file: no signature element, nothing of format 2 shown */
		T_EQ_INT(write_html_v2(&g, NULL, "#336699", NULL, 0, &ct, &html), SP_OK);
		T_CHECK(!has(&html, "<textarea id=\"sp-sig\""));
		T_CHECK(!has(&html, "Signed by") && !has(&html, "Security:") && !has(&html, "sp-verify\""));
		T_CHECK(has(&html, "background: #336699;"));
		T_EQ_INT(sp_env_html_read(html.data, html.len, &ef, &err), SP_OK);
		T_EQ_INT(ef.has_sig, 0);
		sp_env_file_clear(&ef);
		/* ... and a format 1 file that carries one is refused */
		edit(&html, "\">\n<div class=\"actions\">",
		    "\">\n<textarea id=\"sp-sig\" name=\"s\" hidden>"
		    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
		    "</textarea>\n<div class=\"actions\">", &t);
		expect_refused(&t, "a signature in a format 1 envelope");
		sp_buf_free(&t);
		sp_buf_free(&html);
		/* header bytes of format 1 with a format 2 header struct */
		{
			struct fixture m = f;

			m.hb = g.hb;
			T_EQ_INT(write_html_v2(&m, f.sig, NULL, NULL, 0, &ct, &html), SP_ERR_INVALID);
			sp_buf_free(&html);
		}
		sp_buf_free(&g.hb);
	}
	sp_buf_free(&logo);
	sp_buf_free(&pt);
	sp_buf_free(&ct);
	sp_buf_free(&f.hb);
	sp_signer_free(signer);
}

/* The holder tag of a mail part: HKDF-SHA256(ikm mail_part, salt
 * "sealpost/holder", info "holder"); the vector computed with Python's
 * hmac (RFC 5869 by hand); crypto-js.test.mjs checks the browser's. */
static void
test_holder_tag(void)
{
	static const char want[] =
	    "90465f355658b0d8d46cacd7a188865f80058d3c910a89664272553c321c1a52";
	unsigned char mp[SP_KEY_LEN], tag[SP_SHA256_LEN], other[SP_SHA256_LEN];
	char hex[2 * SP_SHA256_LEN + 1];
	size_t i;

	for (i = 0; i < sizeof(mp); i++)
		mp[i] = (unsigned char)i;
	T_EQ_INT(sp_env_holder_tag(mp, tag), SP_OK);
	sp_hex_encode(tag, sizeof(tag), hex);
	T_CHECK(strcmp(hex, want) == 0);
	/* another mail part, another tag */
	mp[0] ^= 1;
	T_EQ_INT(sp_env_holder_tag(mp, other), SP_OK);
	T_CHECK(memcmp(tag, other, sizeof(tag)) != 0);
}

T_MAIN(test_vectors, test_round_trips, test_enc_misuse, test_tampering, test_header,
    test_html_round_trip, test_html_hostile_text, test_html_read_refuses, test_html_write_refuses,
    test_vectors_v2, test_header_v2, test_html_v2, test_holder_tag)

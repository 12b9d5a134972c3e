/*
 * message_build.c - turns a raw RFC 5322 message into an SPC1 container
 * (docs/envelope-format.md section 5): parses it with GMime from a
 * persistent memory stream, so every leaf part knows where its encoded body
 * sits in the raw bytes; stores base64 bodies that re-encode identically as
 * binary blobs and everything else literally; extracts the rendering view
 * (display headers, text and HTML bodies in UTF-8, attachments; the
 * header side is in message_info.c); compresses blobs where
 * that pays; and finally rebuilds the raw message from the container it
 * wrote and compares, falling back to one literal blob on any difference.
 * SECURITY: parses untrusted mail.  sp_msg_check() runs first; the part walk
 * is bounded by SP_MSG_MAX_PARTS and SP_MSG_MAX_DEPTH (the rest stays
 * literal); a message with more nesting markers than GMime should recurse
 * into is parsed for its headers only.
 */
#include "message_internal.h"
#include "crypto.h"
#include "jsonwipe.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gmime/gmime.h>

enum { BLOB_TEXT, BLOB_BIN };

struct bblob {
	const unsigned char *data;	/* stored form (compressed when z); NULL
					 * while a base64 body is not decoded */
	size_t len, ulen;
	int z, kind;
	int owned;		/* data is ours (else it points into raw) */
	const unsigned char *b64;	/* data == NULL: the body in raw, */
	size_t b64len;			/* its length there */
	struct msg_b64fmt f;		/* and its layout */
};

struct bseg {
	size_t blob;
	int b64;
	struct msg_b64fmt f;
	size_t src, used;	/* the bytes of raw the segment stands for */
};

/* A built container not yet written out: its manifest and blobs. */
struct msg_container {
	unsigned char hdr[8];
	char *man;
	size_t mlen;
	struct bblob *blobs;
	size_t nblobs;
	size_t size;
};

struct cand {
	size_t start, end;
	GMimeObject *part;
	size_t blob;		/* SIZE_MAX until it became a segment */
	int lit;		/* an embedded message kept literally */
};

struct build {
	const unsigned char *raw;
	size_t len;
	size_t shift;		/* bytes removed from the parsed input's header block */
	int no_b64;		/* fallback: keep everything literal */
	struct bblob *blobs;
	size_t nblobs, ablobs;
	struct bseg *segs;
	size_t nsegs, asegs;
	struct cand *cands;
	size_t ncands, acands;
	GMimeObject **vparts;
	size_t nvparts, avparts;
	GMimeObject *text, *html;
	size_t walked;
	json_t *parts;		/* manifest "parts" */
	size_t msg_from;	/* where to look for the next attached message */
	size_t msg_budget;	/* bytes the search for them may still scan */
	long text_blob, html_blob;
};

#define GROW(arr, n, a) do { \
	if ((n) == (a)) { \
		size_t na_ = (a) ? (a) * 2 : 16; \
		void *np_ = realloc((arr), na_ * sizeof(*(arr))); \
		if (np_ == NULL) \
			return SP_ERR_NOMEM; \
		(arr) = np_; \
		(a) = na_; \
	} \
} while (0)

static void
blob_release(struct bblob *bl)
{
	if (bl->owned && bl->data != NULL) {
		sp_wipe((void *)(uintptr_t)bl->data, bl->len);
		free((void *)(uintptr_t)bl->data);
	}
	bl->data = NULL;
}

/* Add a blob: taking ownership of data (freed on failure too) when owned,
 * else referring to bytes of raw. */
static int
add_blob_as(struct build *b, const unsigned char *data, size_t len, int kind, int owned,
    size_t *idx)
{
	if (b->nblobs == b->ablobs) {
		size_t na = b->ablobs ? b->ablobs * 2 : 16;
		void *np = realloc(b->blobs, na * sizeof(*b->blobs));
		if (np == NULL) {
			if (owned)
				free((void *)(uintptr_t)data);
			return SP_ERR_NOMEM;
		}
		b->blobs = np;
		b->ablobs = na;
	}
	b->blobs[b->nblobs].data = data;
	b->blobs[b->nblobs].len = len;
	b->blobs[b->nblobs].ulen = len;
	b->blobs[b->nblobs].z = 0;
	b->blobs[b->nblobs].kind = kind;
	b->blobs[b->nblobs].owned = owned;
	b->blobs[b->nblobs].b64 = NULL;
	b->blobs[b->nblobs].b64len = 0;
	*idx = b->nblobs++;
	return SP_OK;
}

static int
add_blob(struct build *b, unsigned char *data, size_t len, int kind, size_t *idx)
{
	return add_blob_as(b, data, len, kind, 1, idx);
}

struct fill {
	unsigned char *d;
	size_t n, cap;
};

/* Copies decoded bytes up to cap, then stops the decoder. */
static int
fill_sink(void *ctx, const void *p, size_t n)
{
	struct fill *f = ctx;
	size_t take = n < f->cap - f->n ? n : f->cap - f->n;

	memcpy(f->d + f->n, p, take);
	f->n += take;
	return f->n == f->cap ? SP_ERR_TOOBIG : SP_OK;
}

/* The first cap decoded bytes of a base64 blob not decoded yet, into d. */
static int
blob_decode(const struct bblob *bl, unsigned char *d, size_t cap)
{
	struct fill f = { d, 0, cap };
	size_t dl;
	int st;

	if (cap == 0)
		return SP_OK;
	st = msg_b64_decode_to(bl->b64, bl->b64len, &bl->f, fill_sink, &f, &dl);
	return (st == SP_OK || st == SP_ERR_TOOBIG) && f.n == cap ? SP_OK : SP_ERR_INTERNAL;
}

/* Decode a base64 blob now: the view or the compressor needs its bytes. */
static int
blob_materialize(struct bblob *bl)
{
	unsigned char *d;
	int st;

	if (bl->data != NULL)
		return SP_OK;
	if ((d = malloc(bl->ulen + 1)) == NULL)
		return SP_ERR_NOMEM;
	if ((st = blob_decode(bl, d, bl->ulen)) != SP_OK) {
		free(d);
		return st;
	}
	bl->data = d;
	bl->owned = 1;
	return SP_OK;
}

/* A literal piece of raw: referred to, not copied. */
static int
add_raw(struct build *b, size_t off, size_t len, int kind, size_t *idx)
{
	return add_blob_as(b, b->raw + off, len, kind, 0, idx);
}

static int
add_copy(struct build *b, const void *p, size_t len, int kind, size_t *idx)
{
	unsigned char *d = malloc(len ? len : 1);

	if (d == NULL)
		return SP_ERR_NOMEM;
	if (len)
		memcpy(d, p, len);
	return add_blob(b, d, len, kind, idx);
}

static int
add_seg(struct build *b, size_t blob, int b64, const struct msg_b64fmt *f, size_t src,
    size_t used)
{
	GROW(b->segs, b->nsegs, b->asegs);
	b->segs[b->nsegs].blob = blob;
	b->segs[b->nsegs].b64 = b64;
	if (f != NULL)
		b->segs[b->nsegs].f = *f;
	b->segs[b->nsegs].src = src;
	b->segs[b->nsegs].used = used;
	b->nsegs++;
	return SP_OK;
}

static int
add_vpart(struct build *b, GMimeObject *o)
{
	GROW(b->vparts, b->nvparts, b->avparts);
	b->vparts[b->nvparts++] = o;
	return SP_OK;
}

static int
add_cand(struct build *b, GMimePart *p, int lit)
{
	GMimeDataWrapper *w = g_mime_part_get_content(p);
	GMimeStream *s, *ms;
	GByteArray *ba;
	gint64 start, end;
	int same;

	if (w == NULL || (s = g_mime_data_wrapper_get_stream(w)) == NULL)
		return SP_OK;
	if (s->bound_start < (gint64)b->shift)
		return SP_OK;
	start = s->bound_start - (gint64)b->shift;
	end = s->bound_end < 0 ? (gint64)b->len : s->bound_end - (gint64)b->shift;
	if (start < 0 || end <= start || (uint64_t)end > (uint64_t)b->len)
		return SP_OK;
	if (lit) {
		/* share the raw bytes only when they are exactly the content */
		if ((ms = g_mime_stream_mem_new()) == NULL)
			return SP_OK;
		g_mime_data_wrapper_write_to_stream(w, ms);
		ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(ms));
		same = (gint64)ba->len == end - start &&
		    memcmp(ba->data, b->raw + start, ba->len) == 0;
		g_object_unref(ms);
		if (!same)
			return SP_OK;
	}
	GROW(b->cands, b->ncands, b->acands);
	b->cands[b->ncands].start = (size_t)start;
	b->cands[b->ncands].end = (size_t)end;
	b->cands[b->ncands].part = GMIME_OBJECT(p);
	b->cands[b->ncands].blob = SIZE_MAX;
	b->cands[b->ncands].lit = lit;
	b->ncands++;
	return SP_OK;
}

/* An attached message (message/rfc822) is best kept as one literal blob
 * that the view shares: find its exact bytes in the raw message (GMime
 * writes an unmodified parsed message back as it read it; when it does not,
 * nothing is found and the part gets a blob of its own). */
static int
add_msg_cand(struct build *b, GMimeObject *o)
{
	GMimeMessage *m = g_mime_message_part_get_message(GMIME_MESSAGE_PART(o));
	GMimeFormatOptions *fo;
	GMimeStream *ms;
	GByteArray *ba;
	const unsigned char *hit = NULL;
	int st = SP_OK, pass;

	if (m == NULL)
		return SP_OK;
	/* GMime writes header line ends in one style: try LF, then CRLF */
	for (pass = 0; pass < 2 && hit == NULL; pass++) {
		if ((ms = g_mime_stream_mem_new()) == NULL)
			return SP_OK;
		fo = g_mime_format_options_new();
		g_mime_format_options_set_newline_format(fo,
		    pass ? GMIME_NEWLINE_FORMAT_DOS : GMIME_NEWLINE_FORMAT_UNIX);
		ba = NULL;
		if (g_mime_object_write_to_stream(GMIME_OBJECT(m), fo, ms) > 0) {
			ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(ms));
			if (ba->len > 0 && ba->len <= b->len - b->msg_from &&
			    b->len - b->msg_from <= b->msg_budget) {
				b->msg_budget -= b->len - b->msg_from;
				hit = memmem(b->raw + b->msg_from, b->len - b->msg_from,
				    ba->data, ba->len);
			}
		}
		g_mime_format_options_free(fo);
		if (hit == NULL)
			g_object_unref(ms);
	}
	if (hit == NULL)
		return SP_OK;
	if (b->ncands == b->acands) {
		size_t na = b->acands ? b->acands * 2 : 16;
		void *np = realloc(b->cands, na * sizeof(*b->cands));
		if (np == NULL) {
			st = SP_ERR_NOMEM;
			goto out;
		}
		b->cands = np;
		b->acands = na;
	}
	b->cands[b->ncands].start = (size_t)(hit - b->raw);
	b->cands[b->ncands].end = (size_t)(hit - b->raw) + ba->len;
	b->cands[b->ncands].part = o;
	b->cands[b->ncands].blob = SIZE_MAX;
	b->cands[b->ncands].lit = 1;
	b->ncands++;
	b->msg_from = (size_t)(hit - b->raw) + ba->len;
out:
	g_object_unref(ms);
	return st;
}

/* Walk the MIME tree; embedded is set inside message/rfc822 parts, which
 * are shown as one attachment but still searched for base64 bodies. */
static int
walk(struct build *b, GMimeObject *o, int depth, int embedded)
{
	int st, i, n;

	if (o == NULL || b->walked >= SP_MSG_MAX_PARTS || depth > SP_MSG_MAX_DEPTH)
		return SP_OK;
	b->walked++;
	if (GMIME_IS_MULTIPART(o)) {
		n = g_mime_multipart_get_count(GMIME_MULTIPART(o));
		for (i = 0; i < n; i++)
			if ((st = walk(b, g_mime_multipart_get_part(GMIME_MULTIPART(o), i), depth + 1, embedded)) != SP_OK)
				return st;
	} else if (GMIME_IS_MESSAGE_PART(o)) {
		GMimeMessage *m = g_mime_message_part_get_message(GMIME_MESSAGE_PART(o));

		if (!embedded && ((st = add_vpart(b, o)) != SP_OK ||
		    (!b->no_b64 && (st = add_msg_cand(b, o)) != SP_OK)))
			return st;
		if (m != NULL)
			return walk(b, g_mime_message_get_mime_part(m), depth + 1, 1);
	} else if (GMIME_IS_PART(o)) {
		GMimePart *p = GMIME_PART(o);
		GMimeContentType *ct = g_mime_object_get_content_type(o);

		if (g_mime_part_get_content_encoding(p) == GMIME_CONTENT_ENCODING_BASE64 &&
		    (st = add_cand(b, p, 0)) != SP_OK)
			return st;
		if (embedded)
			return SP_OK;
		switch (g_mime_part_get_content_encoding(p)) {
		case GMIME_CONTENT_ENCODING_DEFAULT:
		case GMIME_CONTENT_ENCODING_7BIT:
		case GMIME_CONTENT_ENCODING_8BIT:
		case GMIME_CONTENT_ENCODING_BINARY:
			/* not encoded: the view can share the literal bytes */
			if (!b->no_b64 && (st = add_cand(b, p, 1)) != SP_OK)
				return st;
			break;
		default:
			break;
		}
		if (GMIME_IS_TEXT_PART(o) && ct != NULL && !g_mime_part_is_attachment(p)) {
			if (b->text == NULL && g_mime_content_type_is_type(ct, "text", "plain")) {
				b->text = o;
				return SP_OK;
			}
			if (b->html == NULL && g_mime_content_type_is_type(ct, "text", "html")) {
				b->html = o;
				return SP_OK;
			}
		}
		return add_vpart(b, o);
	}
	return SP_OK;
}

static int
cand_cmp(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return y->lit - x->lit;	/* an embedded message before its first part */
}

/* Cut the raw message into literal and base64 segments. */
static int
make_recipe(struct build *b)
{
	size_t pos = 0, i, used, declen, idx;
	struct msg_b64fmt f;
	int st;

	if (!b->no_b64 && b->ncands > 1)
		qsort(b->cands, b->ncands, sizeof(*b->cands), cand_cmp);
	for (i = 0; !b->no_b64 && i < b->ncands; i++) {
		struct cand *c = &b->cands[i];

		if (c->lit) {
			if (c->start < pos)
				continue;
			if (c->start > pos &&
			    ((st = add_raw(b, pos, c->start - pos, BLOB_TEXT, &idx)) != SP_OK ||
			    (st = add_seg(b, idx, 0, NULL, pos, c->start - pos)) != SP_OK))
				return st;
			if ((st = add_raw(b, c->start, c->end - c->start,
			    GMIME_IS_PART(c->part) && !GMIME_IS_TEXT_PART(c->part) ? BLOB_BIN : BLOB_TEXT,
			    &idx)) != SP_OK ||
			    (st = add_seg(b, idx, 0, NULL, c->start, c->end - c->start)) != SP_OK)
				return st;
			c->blob = idx;
			pos = c->end;
			continue;
		}
		/* blank lines before the body stay literal */
		while (c->start < c->end && (b->raw[c->start] == '\n' || b->raw[c->start] == '\r' ||
		    b->raw[c->start] == ' ' || b->raw[c->start] == '\t'))
			c->start++;
		if (c->start < pos || c->start >= c->end)
			continue;	/* overlaps a segment already taken, or empty */
		/* checked now, decoded when written out (or when the view or
		 * the compressor needs its bytes) */
		if (!msg_b64_check(b->raw + c->start, c->end - c->start,
		    b->len - c->start, &declen, &f, &used))
			continue;
		if (c->start > pos &&
		    ((st = add_raw(b, pos, c->start - pos, BLOB_TEXT, &idx)) != SP_OK ||
		    (st = add_seg(b, idx, 0, NULL, pos, c->start - pos)) != SP_OK))
			return st;
		if ((st = add_blob_as(b, NULL, declen, BLOB_BIN, 0, &idx)) != SP_OK ||
		    (st = add_seg(b, idx, 1, &f, c->start, used)) != SP_OK)
			return st;
		b->blobs[idx].b64 = b->raw + c->start;
		b->blobs[idx].b64len = used;
		b->blobs[idx].f = f;
		c->blob = idx;
		pos = c->start + used;
	}
	if (pos < b->len &&
	    ((st = add_raw(b, pos, b->len - pos, BLOB_TEXT, &idx)) != SP_OK ||
	    (st = add_seg(b, idx, 0, NULL, pos, b->len - pos)) != SP_OK))
		return st;
	return SP_OK;
}

/*
 * The proof that the recipe rebuilds raw, in place of rebuilding it: the
 * segments follow each other from offset 0 to the end; a literal segment's
 * blob is raw's own bytes at that offset (referred to, not copied); a base64
 * segment's bytes were accepted by msg_b64_decode_exact(), which takes only
 * the text msg_b64_emit() writes for the decoded bytes in that layout, and
 * its length is the length of that text.  Compressed blobs are checked when
 * they are made (compress_blobs).  decisions/0012-one-parse.md.
 */
static int
recipe_proven(const struct build *b)
{
	size_t i, pos = 0;

	for (i = 0; i < b->nsegs; i++) {
		const struct bseg *g = &b->segs[i];
		const struct bblob *bl = &b->blobs[g->blob];

		if (g->src != pos || g->used > b->len - pos)
			return 0;
		if (g->b64 ? msg_b64_enclen(bl->ulen, &g->f) != g->used :
		    bl->owned || bl->data != b->raw + pos || bl->ulen != g->used)
			return 0;
		pos += g->used;
	}
	return pos == b->len;
}

static json_t *
jstr_take(char *s)
{
	json_t *j = s != NULL ? json_string(s) : json_null();

	g_free(s);
	return j;
}

/* Decoded content of a leaf part (transfer encoding removed) as a blob. */
static int
decoded_blob(struct build *b, GMimeObject *o, size_t *idx)
{
	GMimeStream *ms = g_mime_stream_mem_new();
	GByteArray *ba;
	int st;

	if (ms == NULL)
		return SP_ERR_NOMEM;
	if (GMIME_IS_MESSAGE_PART(o)) {
		GMimeMessage *m = g_mime_message_part_get_message(GMIME_MESSAGE_PART(o));
		if (m != NULL)
			g_mime_object_write_to_stream(GMIME_OBJECT(m), NULL, ms);
	} else if (GMIME_IS_PART(o)) {
		GMimeDataWrapper *w = g_mime_part_get_content(GMIME_PART(o));
		if (w != NULL)
			g_mime_data_wrapper_write_to_stream(w, ms);
	}
	ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(ms));
	st = add_copy(b, ba->data, ba->len, BLOB_BIN, idx);
	g_object_unref(ms);
	return st;
}

/* The blob a recipe segment made of part o, or SIZE_MAX. */
static size_t
cand_blob(const struct build *b, GMimeObject *o)
{
	for (size_t j = 0; j < b->ncands; j++)
		if (b->cands[j].part == o && b->cands[j].blob != SIZE_MAX)
			return b->cands[j].blob;
	return SIZE_MAX;
}

static int
text_blob(struct build *b, GMimeObject *o, long *out)
{
	char *t, *v;
	size_t idx;
	int st;

	*out = -1;
	if (o == NULL)
		return SP_OK;
	t = g_mime_text_part_get_text(GMIME_TEXT_PART(o));
	v = t != NULL ? g_utf8_make_valid(t, -1) : g_strdup("");
	g_free(t);
	if (v == NULL)
		return SP_ERR_NOMEM;
	/* UTF-8 bodies sent as is, or in base64, share the recipe's blob */
	idx = cand_blob(b, o);
	if (idx != SIZE_MAX && b->blobs[idx].len == strlen(v) &&
	    (st = blob_materialize(&b->blobs[idx])) != SP_OK) {
		g_free(v);
		return st;
	}
	if (idx != SIZE_MAX && b->blobs[idx].len == strlen(v) &&
	    memcmp(b->blobs[idx].data, v, b->blobs[idx].len) == 0) {
		g_free(v);
		*out = (long)idx;
		return SP_OK;
	}
	st = add_copy(b, v, strlen(v), BLOB_TEXT, &idx);
	g_free(v);
	if (st == SP_OK)
		*out = (long)idx;
	return st;
}

static char *
part_name(GMimeObject *o)
{
	const char *n;

	if (GMIME_IS_PART(o))
		n = g_mime_part_get_filename(GMIME_PART(o));
	else if ((n = g_mime_object_get_content_disposition_parameter(o, "filename")) == NULL)
		n = g_mime_object_get_content_type_parameter(o, "name");
	return msg_utf8_cut(n, MSG_NAME_MAX);
}

/* The view's parts: every attachment and inline non-body part. */
static int
make_parts(struct build *b)
{
	size_t i, j, idx;
	int st;

	if ((b->parts = json_array()) == NULL)
		return SP_ERR_NOMEM;
	for (i = 0; i < b->nvparts; i++) {
		GMimeObject *o = b->vparts[i];
		GMimeContentType *ct = g_mime_object_get_content_type(o);
		const char *disp = g_mime_object_get_disposition(o);
		const char *cid = g_mime_object_get_content_id(o);
		char *type = ct != NULL ? g_mime_content_type_get_mime_type(ct) : NULL;
		json_t *p;
		int is_inline;

		idx = cand_blob(b, o);
		if (idx == SIZE_MAX && (st = decoded_blob(b, o, &idx)) != SP_OK) {
			g_free(type);
			return st;
		}
		for (j = 0; type != NULL && type[j] != '\0'; j++)
			type[j] = g_ascii_tolower(type[j]);
		is_inline = disp != NULL ? g_ascii_strcasecmp(disp, "inline") == 0 : cid != NULL;
		p = json_object();
		if (p == NULL ||
		    json_object_set_new(p, "name", jstr_take(part_name(o))) != 0 ||
		    json_object_set_new(p, "type", jstr_take(msg_utf8_cut(type != NULL ? type : "application/octet-stream", MSG_NAME_MAX))) != 0 ||
		    json_object_set_new(p, "blob", json_integer((json_int_t)idx)) != 0 ||
		    json_object_set_new(p, "cid", jstr_take(msg_utf8_cut(cid, MSG_NAME_MAX))) != 0 ||
		    json_object_set_new(p, "inline", json_boolean(is_inline)) != 0 ||
		    json_array_append_new(b->parts, p) != 0) {
			g_free(type);
			return SP_ERR_NOMEM;
		}
		g_free(type);
	}
	return SP_OK;
}

/* Compress blobs where that saves at least 10 %. */
static int
compress_blobs(struct build *b)
{
	static _Thread_local unsigned char head[16384];
	size_t i, sample, zl;
	unsigned char *z, *back;
	int r, level, st;

	for (i = 0; i < b->nblobs; i++) {
		struct bblob *bl = &b->blobs[i];

		if (bl->len < 256)
			continue;
		level = 6;
		if (bl->kind == BLOB_BIN || bl->len > ((size_t)1 << 20)) {
			/* a quick sample says whether the bytes compress at all */
			sample = bl->len < 16384 ? bl->len : 16384;
			if (bl->data == NULL) {
				/* a base64 body not decoded: decode the sample only */
				if ((st = blob_decode(bl, head, sample)) != SP_OK)
					return st;
				r = msg_deflate(head, sample, 1, sample - sample / 10, &z, &zl);
			} else {
				r = msg_deflate(bl->data, sample, 1, sample - sample / 10, &z, &zl);
			}
			free(z);
			if (r < 0)
				return SP_ERR_NOMEM;
			if (r == 0)
				continue;
			if ((st = blob_materialize(bl)) != SP_OK)
				return st;
			if (bl->kind == BLOB_BIN && bl->len > ((size_t)1 << 20))
				level = 1;
		}
		r = msg_deflate(bl->data, bl->len, level, bl->len - bl->len / 10, &z, &zl);
		if (r < 0)
			return SP_ERR_NOMEM;
		if (r == 0)
			continue;
		/* the proof for a compressed blob: it inflates to its bytes */
		if (msg_inflate(z, zl, bl->len, &back, NULL) != SP_OK ||
		    memcmp(back, bl->data, bl->len) != 0) {
			if (back != NULL) {
				sp_wipe(back, bl->len);
				free(back);
			}
			free(z);
			continue;
		}
		sp_wipe(back, bl->len);
		free(back);
		blob_release(bl);
		bl->data = z;
		bl->len = zl;
		bl->z = 1;
		bl->owned = 1;
	}
	return SP_OK;
}

static void
build_clear(struct build *b)
{
	size_t i;

	for (i = 0; b->blobs != NULL && i < b->nblobs; i++)
		blob_release(&b->blobs[i]);
	free(b->blobs);
	free(b->segs);
	free(b->cands);
	free(b->vparts);
	json_decref(b->parts);
}

void
msg_container_free(struct msg_container *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->nblobs; i++)
		blob_release(&c->blobs[i]);
	free(c->blobs);
	if (c->man != NULL) {
		sp_wipe(c->man, c->mlen);
		free(c->man);
	}
	free(c);
}

/* The container for b (view taken from m): its manifest is made, and the
 * blobs move from b into *out. */
static int
emit(struct build *b, GMimeMessage *m, struct msg_container **out)
{
	json_t *root, *h, *blobs, *raw, *s;
	struct msg_container *c = NULL;
	char *man = NULL;
	size_t i, off, mlen;
	int st = SP_ERR_NOMEM;

	root = json_object();
	h = json_object();
	blobs = json_array();
	raw = json_array();
	if (root == NULL || h == NULL || blobs == NULL || raw == NULL) {
		json_decref(h);
		json_decref(blobs);
		json_decref(raw);
		goto out;
	}
	json_object_set_new(root, "headers", h);
	if (m != NULL) {
		json_object_set_new(h, "from", jstr_take(msg_addr_display(g_mime_message_get_from(m))));
		json_object_set_new(h, "to", jstr_take(msg_addr_display(g_mime_message_get_to(m))));
		json_object_set_new(h, "cc", jstr_take(msg_addr_display(g_mime_message_get_cc(m))));
		json_object_set_new(h, "date", jstr_take(msg_utf8_dup(g_mime_object_get_header(GMIME_OBJECT(m), "Date"))));
		json_object_set_new(h, "subject", jstr_take(msg_utf8_dup(g_mime_message_get_subject(m))));
	}
	json_object_set_new(root, "text", b->text_blob >= 0 ? json_integer(b->text_blob) : json_null());
	json_object_set_new(root, "html", b->html_blob >= 0 ? json_integer(b->html_blob) : json_null());
	json_object_set(root, "parts", b->parts != NULL ? b->parts : json_array());
	off = 0;
	for (i = 0; i < b->nblobs; i++) {
		s = json_pack("{sIsIsisI}", "off", (json_int_t)off, "len", (json_int_t)b->blobs[i].len,
		    "z", b->blobs[i].z, "ulen", (json_int_t)b->blobs[i].ulen);
		if (s == NULL || json_array_append_new(blobs, s) != 0)
			goto out_arrays;
		off += b->blobs[i].len;
	}
	for (i = 0; i < b->nsegs; i++) {
		if (b->segs[i].b64)
			s = json_pack("{sIsIsssb}", "b64", (json_int_t)b->segs[i].blob,
			    "line", (json_int_t)b->segs[i].f.line,
			    "eol", b->segs[i].f.crlf ? "\r\n" : "\n", "end", b->segs[i].f.end);
		else
			s = json_pack("{sI}", "lit", (json_int_t)b->segs[i].blob);
		if (s == NULL || json_array_append_new(raw, s) != 0)
			goto out_arrays;
	}
	json_object_set_new(root, "blobs", blobs);
	json_object_set_new(root, "raw", raw);
	blobs = raw = NULL;
	if ((man = sp_json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL)
		goto out;
	mlen = strlen(man);
	if (mlen > MSG_MAX_MANIFEST) {
		st = SP_ERR_TOOBIG;
		goto out;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		goto out;
	memcpy(c->hdr, MSG_MAGIC, 4);
	c->hdr[4] = (unsigned char)(mlen >> 24);
	c->hdr[5] = (unsigned char)(mlen >> 16);
	c->hdr[6] = (unsigned char)(mlen >> 8);
	c->hdr[7] = (unsigned char)mlen;
	c->man = man;
	c->mlen = mlen;
	man = NULL;
	c->blobs = b->blobs;
	c->nblobs = b->nblobs;
	c->size = 8 + mlen + off;
	b->blobs = NULL;
	b->nblobs = b->ablobs = 0;
	*out = c;
	st = SP_OK;
	goto out;
out_arrays:
	json_decref(blobs);
	json_decref(raw);
out:
	free(man);
	json_decref(root);
	return st;
}

static int
build_once(const unsigned char *raw, size_t len, size_t shift, GMimeMessage *m, int no_b64,
    struct msg_container **out)
{
	struct build b;
	int st;

	memset(&b, 0, sizeof(b));
	b.raw = raw;
	b.len = len;
	b.shift = shift;
	b.no_b64 = no_b64;
	b.text_blob = b.html_blob = -1;
	b.msg_budget = len < SIZE_MAX / 8 ? len * 4 + ((size_t)1 << 20) : SIZE_MAX;
	if (m != NULL && (st = walk(&b, g_mime_message_get_mime_part(m), 0, 0)) != SP_OK)
		goto out;
	if ((st = make_recipe(&b)) != SP_OK)
		goto out;
	if (!recipe_proven(&b)) {
		st = SP_ERR_INTERNAL;
		goto out;
	}
	if ((st = text_blob(&b, b.text, &b.text_blob)) != SP_OK ||
	    (st = text_blob(&b, b.html, &b.html_blob)) != SP_OK ||
	    (st = make_parts(&b)) != SP_OK ||
	    (st = compress_blobs(&b)) != SP_OK)
		goto out;
	st = emit(&b, m, out);
out:
	build_clear(&b);
	return st;
}

int
msg_container_plan(const struct sp_msg *h, const unsigned char *raw, size_t len,
    size_t shift, struct msg_container **out, struct sp_err *err)
{
	GMimeMessage *m = msg_handle_gmime(h);
	int st = SP_ERR_INTERNAL, pass;

	*out = NULL;
	/* when the recipe cannot be proven to rebuild the input, it is all
	 * kept literally (that recipe is one piece of raw: proven too) */
	for (pass = 0; pass < 2; pass++)
		if ((st = build_once(raw, len, shift, m, pass, out)) != SP_ERR_INTERNAL)
			break;
	if (st == SP_OK)
		return SP_OK;
	if (st == SP_ERR_TOOBIG)
		return sp_err_set(err, st, "container does not fit the output buffer");
	if (st == SP_ERR_NOMEM)
		return sp_err_set(err, st, "out of memory building the container");
	return sp_err_set(err, st, "container does not reproduce the message");
}

size_t
msg_container_size(const struct msg_container *c)
{
	return c->size;
}

int
msg_container_write(const struct msg_container *c, msg_sink sink, void *ctx)
{
	size_t i, dl;
	int st;

	if ((st = sink(ctx, c->hdr, sizeof(c->hdr))) != SP_OK ||
	    (st = sink(ctx, c->man, c->mlen)) != SP_OK)
		return st;
	for (i = 0; i < c->nblobs; i++) {
		const struct bblob *bl = &c->blobs[i];

		if (bl->data == NULL && bl->len > 0)
			st = msg_b64_decode_to(bl->b64, bl->b64len, &bl->f, sink, ctx, &dl);
		else if (bl->len > 0)
			st = sink(ctx, bl->data, bl->len);
		if (st != SP_OK)
			return st;
	}
	return SP_OK;
}

static int
buf_sink(void *ctx, const void *p, size_t n)
{
	return sp_buf_append(ctx, p, n);
}

int
msg_container_build(const struct sp_msg *h, const unsigned char *raw, size_t len,
    size_t shift, struct sp_buf *out, struct sp_err *err)
{
	struct msg_container *c;
	size_t start = out->len;
	int st;

	if ((st = msg_container_plan(h, raw, len, shift, &c, err)) != SP_OK)
		return st;
	if ((st = sp_buf_reserve(out, c->size)) != SP_OK ||
	    (st = msg_container_write(c, buf_sink, out)) != SP_OK) {
		out->len = start;
		if (out->data != NULL)
			out->data[start] = '\0';
		st = sp_err_set(err, st, "container does not fit the output buffer");
	}
	msg_container_free(c);
	return st;
}

int
sp_msg_container_build(const unsigned char *raw, size_t len,
    struct sp_buf *out, struct sp_msg_info *info, struct sp_err *err)
{
	struct sp_msg *h;
	int st;

	if (info != NULL)
		memset(info, 0, sizeof(*info));
	if ((st = sp_msg_open(raw, len, &h, err)) != SP_OK)
		return st;
	if ((info == NULL || (st = sp_msg_info_read(h, info, err)) == SP_OK))
		st = msg_container_build(h, raw, len, 0, out, err);
	if (st != SP_OK && info != NULL)
		sp_msg_info_clear(info);
	sp_msg_free(h);
	return st;
}

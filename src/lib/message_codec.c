/*
 * message_codec.c - the byte codecs of the message container: base64 with a
 * recorded line layout (used to prove a body re-encodes identically and to
 * rebuild it) and raw DEFLATE for blobs.  Encoding uses OpenSSL's
 * EVP_EncodeBlock; decoding accepts only the canonical form in one exact
 * line layout, its lines decoded by b64.c; compression is zlib.
 * SECURITY: works on untrusted bytes; every output is bounded by a length
 * computed up front (base64) or by an explicit limit (zlib).
 */
#include "message_internal.h"
#include "b64.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <zlib.h>

#define B64_CHUNK_IN 3072	/* input bytes per encode step (multiple of 3) */
#define B64_CHUNK_OUT 4096	/* base64 characters per encode step */

size_t
msg_b64_enclen(size_t n, const struct msg_b64fmt *f)
{
	size_t chars, lines, eol;

	if (n == 0 || f->line == 0)
		return 0;
	eol = f->crlf ? 2 : 1;
	chars = (n + 2) / 3 * 4;
	lines = (chars + f->line - 1) / f->line;
	return chars + (lines - 1) * eol + (f->end ? eol : 0);
}

int
msg_b64_emit(const unsigned char *d, size_t n, const struct msg_b64fmt *f,
    msg_sink sink, void *ctx)
{
	unsigned char enc[B64_CHUNK_OUT + 1];
	unsigned char out[B64_CHUNK_OUT * 3 + 8];
	const char *eol = f->crlf ? "\r\n" : "\n";
	size_t eollen = f->crlf ? 2 : 1;
	size_t off, m, k, pos, take, col = 0, o;
	int st;

	if (n == 0 || f->line == 0)
		return SP_OK;
	for (off = 0; off < n; off += m) {
		m = n - off < B64_CHUNK_IN ? n - off : B64_CHUNK_IN;
		k = (size_t)EVP_EncodeBlock(enc, d + off, (int)m);
		o = 0;
		for (pos = 0; pos < k; pos += take) {
			if (col == f->line) {
				memcpy(out + o, eol, eollen);
				o += eollen;
				col = 0;
			}
			take = f->line - col < k - pos ? f->line - col : k - pos;
			memcpy(out + o, enc + pos, take);
			o += take;
			col += take;
		}
		if ((st = sink(ctx, out, o)) != SP_OK)
			return st;
	}
	if (f->end)
		return sink(ctx, eol, eollen);
	return SP_OK;
}


static int
is_b64char(unsigned char ch)
{
	return sp_b64_value[ch] != 0xff || ch == '=';
}

/* The final group q[0..4): 4 characters of which the last one or two may
 * be '='.  Canonical only: the bits the padding leaves unused are zero (so
 * exactly one byte string encodes to it).  Writes 1 to 3 bytes to d and
 * returns their number, or 0 when the group is not canonical base64. */
static size_t
b64_last(const unsigned char *q, unsigned char *d)
{
	const unsigned char *t = sp_b64_value;
	unsigned a = t[q[0]], b = t[q[1]], c = t[q[2]], e = t[q[3]];

	if ((a | b) & 0xc0)
		return 0;
	if (q[3] != '=') {
		if ((c | e) & 0xc0)
			return 0;
		d[0] = (unsigned char)(a << 2 | b >> 4);
		d[1] = (unsigned char)(b << 4 | c >> 2);
		d[2] = (unsigned char)(c << 6 | e);
		return 3;
	}
	if (q[2] != '=') {
		if ((c & 0xc0) || (c & 0x03) != 0)
			return 0;
		d[0] = (unsigned char)(a << 2 | b >> 4);
		d[1] = (unsigned char)(b << 4 | c >> 2);
		return 2;
	}
	if ((b & 0x0f) != 0)
		return 0;
	d[0] = (unsigned char)(a << 2 | b >> 4);
	return 1;
}

#define B64_DEC_STAGE 49152	/* decoded bytes handed to a sink at once */

int
msg_b64_decode_to(const unsigned char *raw, size_t total, const struct msg_b64fmt *f,
    msg_sink sink, void *ctx, size_t *declen)
{
	unsigned char stage[B64_DEC_STAGE];
	size_t eol = f->crlf ? 2 : 1, e = total, pos = 0, o = 0, done = 0, rest, k;
	int st;

	if (f->line < 4 || f->line % 4 != 0 || f->line > MSG_MAX_LINE)
		return SP_ERR_INVALID;
	if (f->end) {
		if (total < eol + 4 || raw[total - 1] != '\n' || (f->crlf && raw[total - 2] != '\r'))
			return SP_ERR_INVALID;
		e -= eol;
	}
	for (;;) {
		rest = e - pos;
		if (rest <= f->line)
			break;
		/* a full line, its line end, and more to come */
		if (rest <= f->line + eol || raw[pos + f->line + eol - 1] != '\n' ||
		    (f->crlf && raw[pos + f->line] != '\r') ||
		    !sp_b64_dec_groups(raw + pos, f->line / 4, stage + o))
			return SP_ERR_INVALID;
		o += f->line / 4 * 3;
		pos += f->line + eol;
		if (B64_DEC_STAGE - o < MSG_MAX_LINE) {
			if (sink != NULL && (st = sink(ctx, stage, o)) != SP_OK)
				return st;
			done += o;
			o = 0;
		}
	}
	/* the last line: whole groups, the final one possibly padded */
	if (rest < 4 || rest % 4 != 0 || !sp_b64_dec_groups(raw + pos, (rest - 4) / 4, stage + o))
		return SP_ERR_INVALID;
	o += (rest - 4) / 4 * 3;
	if ((k = b64_last(raw + e - 4, stage + o)) == 0)
		return SP_ERR_INVALID;
	o += k;
	if (sink != NULL && (st = sink(ctx, stage, o)) != SP_OK)
		return st;
	*declen = done + o;
	return SP_OK;
}

struct copy_ctx {
	unsigned char *d;
	size_t n;
};

static int
copy_sink(void *vctx, const void *p, size_t n)
{
	struct copy_ctx *c = vctx;

	memcpy(c->d + c->n, p, n);
	c->n += n;
	return SP_OK;
}

int
msg_b64_decode_exact(const unsigned char *raw, size_t total, const struct msg_b64fmt *f,
    unsigned char *d, size_t *declen)
{
	struct copy_ctx c = { d, 0 };

	return msg_b64_decode_to(raw, total, f, copy_sink, &c, declen) == SP_OK;
}

int
msg_b64_check(const unsigned char *raw, size_t n, size_t avail,
    size_t *declen, struct msg_b64fmt *fmt, size_t *used)
{
	struct msg_b64fmt f;
	const unsigned char *nl;
	size_t e = n, dl, total;

	/* the body ends at its last base64 character */
	while (e > 0 && !is_b64char(raw[e - 1]))
		e--;
	if (e < 4 || !is_b64char(raw[0]))
		return 0;
	nl = memchr(raw, '\n', e);
	memset(&f, 0, sizeof(f));
	if (nl != NULL) {
		f.line = (size_t)(nl - raw);
		if (f.line > 0 && raw[f.line - 1] == '\r') {
			f.crlf = 1;
			f.line--;
		}
	} else {
		f.line = e;
	}
	/* the layouts every reader accepts (the browser's too) */
	if (f.line < 4 || f.line > MSG_MAX_LINE || f.line % 4 != 0)
		return 0;
	total = e;
	if (f.crlf && avail - e >= 2 && raw[e] == '\r' && raw[e + 1] == '\n') {
		f.end = 1;
		total += 2;
	} else if (!f.crlf && avail - e >= 1 && raw[e] == '\n') {
		f.end = 1;
		total += 1;
	}
	/* Exactly the layout f and canonical base64: then encoding the decoded
	 * bytes with f gives raw[0..total) again (base64 is a bijection between
	 * byte strings and canonical padded texts, and f fixes every line
	 * break), so no re-encoding is needed to prove it. */
	if (msg_b64_decode_to(raw, total, &f, NULL, NULL, &dl) != SP_OK || dl == 0 ||
	    msg_b64_enclen(dl, &f) != total)
		return 0;
	*declen = dl;
	*fmt = f;
	*used = total;
	return 1;
}

int
msg_b64_probe(const unsigned char *raw, size_t n, size_t avail,
    unsigned char **dec, size_t *declen, struct msg_b64fmt *fmt, size_t *used)
{
	unsigned char *d;
	size_t dl;

	*dec = NULL;
	if (!msg_b64_check(raw, n, avail, declen, fmt, used))
		return 0;
	if ((d = malloc(*declen + 1)) == NULL)
		return -1;
	if (!msg_b64_decode_exact(raw, *used, fmt, d, &dl) || dl != *declen) {
		free(d);
		return 0;
	}
	*dec = d;
	return 1;
}

int
msg_deflate(const unsigned char *p, size_t n, int level, size_t limit,
    unsigned char **out, size_t *outlen)
{
	z_stream zs;
	unsigned char *o;
	size_t done = 0, step;
	int zr;

	*out = NULL;
	if (limit == 0)
		return 0;
	if ((o = malloc(limit)) == NULL)
		return -1;
	memset(&zs, 0, sizeof(zs));
	if (deflateInit2(&zs, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
		free(o);
		return -1;
	}
	zs.next_out = o;
	zs.avail_out = limit > UINT_MAX ? UINT_MAX : (uInt)limit;
	for (;;) {
		step = n - done > UINT_MAX ? UINT_MAX : n - done;
		zs.next_in = (unsigned char *)(uintptr_t)(p + done);
		zs.avail_in = (uInt)step;
		zr = deflate(&zs, done + step == n ? Z_FINISH : Z_NO_FLUSH);
		done += step - zs.avail_in;
		if (zr == Z_STREAM_END)
			break;
		if (zs.avail_out == 0 || (zr != Z_OK && zr != Z_BUF_ERROR)) {
			deflateEnd(&zs);
			free(o);
			return 0;
		}
	}
	*outlen = zs.total_out;
	deflateEnd(&zs);
	*out = o;
	return 1;
}

int
msg_inflate(const unsigned char *p, size_t n, size_t ulen,
    unsigned char **out, struct sp_err *err)
{
	z_stream zs;
	unsigned char *o, extra;
	size_t done = 0, step;
	int zr;

	*out = NULL;
	/* DEFLATE cannot expand more than about 1032:1 */
	if (ulen / 1032 > n + 64)
		return sp_err_set(err, SP_ERR_INVALID, "container: blob claims an impossible size");
	if ((o = malloc(ulen + 1)) == NULL)
		return sp_err_set(err, SP_ERR_NOMEM, "container: out of memory");
	memset(&zs, 0, sizeof(zs));
	if (inflateInit2(&zs, -15) != Z_OK) {
		free(o);
		return sp_err_set(err, SP_ERR_NOMEM, "container: inflate init failed");
	}
	zs.next_out = o;
	zs.avail_out = ulen > UINT_MAX ? UINT_MAX : (uInt)ulen;
	for (;;) {
		step = n - done > UINT_MAX ? UINT_MAX : n - done;
		zs.next_in = (unsigned char *)(uintptr_t)(p + done);
		zs.avail_in = (uInt)step;
		if (zs.avail_out == 0) {
			size_t left = ulen - zs.total_out;
			if (left == 0) {
				/* room for one more byte to detect overlong data */
				zs.next_out = &extra;
				zs.avail_out = 1;
			} else {
				zs.next_out = o + zs.total_out;
				zs.avail_out = left > UINT_MAX ? UINT_MAX : (uInt)left;
			}
		}
		zr = inflate(&zs, Z_NO_FLUSH);
		done += step - zs.avail_in;
		if (zr == Z_STREAM_END)
			break;
		if (zr != Z_OK || zs.total_out > ulen ||
		    (done == n && zs.avail_in == 0 && zs.avail_out != 0)) {
			inflateEnd(&zs);
			free(o);
			return sp_err_set(err, SP_ERR_INVALID, "container: corrupt compressed blob");
		}
	}
	if (zs.total_out != ulen || done != n) {
		inflateEnd(&zs);
		free(o);
		return sp_err_set(err, SP_ERR_INVALID, "container: compressed blob has the wrong length");
	}
	inflateEnd(&zs);
	o[ulen] = '\0';
	*out = o;
	return SP_OK;
}

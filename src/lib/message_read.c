/*
 * message_read.c - reads SPC1 payload containers: validates the header,
 * manifest and blob table, rebuilds the original message from the raw
 * recipe (sp_msg_container_raw) and decodes the rendering view
 * (sp_msg_container_view).
 * SECURITY: the container is untrusted (it comes out of an envelope that
 * anyone can forge).  Every offset, length and index is checked against the
 * blob area before use, compressed blobs must inflate to their declared
 * length, and the total output is capped (MSG_MAX_OUTPUT).
 */
#include "message_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int
get_size(json_t *o, const char *key, size_t max, size_t *v)
{
	json_t *j = json_object_get(o, key);
	json_int_t x;

	if (!json_is_integer(j))
		return -1;
	x = json_integer_value(j);
	if (x < 0 || (uint64_t)x > (uint64_t)max)
		return -1;
	*v = (size_t)x;
	return 0;
}

int
msg_reader_open(struct msg_reader *r, const unsigned char *c, size_t len,
    struct sp_err *err)
{
	json_error_t jerr;
	json_t *blobs, *b;
	size_t mlen, i, z;

	memset(r, 0, sizeof(*r));
	if (c == NULL || len < 8)
		return sp_err_set(err, SP_ERR_INVALID, "container: truncated header");
	if (memcmp(c, MSG_MAGIC, 4) != 0)
		return sp_err_set(err, SP_ERR_INVALID, "container: bad magic (not SPC1)");
	mlen = (size_t)c[4] << 24 | (size_t)c[5] << 16 | (size_t)c[6] << 8 | c[7];
	if (mlen > MSG_MAX_MANIFEST)
		return sp_err_set(err, SP_ERR_INVALID, "container: manifest larger than 16 MiB");
	if (mlen > len - 8)
		return sp_err_set(err, SP_ERR_INVALID, "container: manifest runs past the end");
	r->root = json_loadb((const char *)c + 8, mlen, JSON_REJECT_DUPLICATES, &jerr);
	if (r->root == NULL || !json_is_object(r->root)) {
		msg_reader_close(r);
		return sp_err_set(err, SP_ERR_INVALID, "container: manifest is not a JSON object");
	}
	r->area = c + 8 + mlen;
	r->arealen = len - 8 - mlen;
	blobs = json_object_get(r->root, "blobs");
	if (!json_is_array(blobs) || json_array_size(blobs) > MSG_MAX_SEGMENTS) {
		msg_reader_close(r);
		return sp_err_set(err, SP_ERR_INVALID, "container: missing or oversized blob table");
	}
	r->nblobs = json_array_size(blobs);
	if (r->nblobs > 0 && (r->blobs = calloc(r->nblobs, sizeof(*r->blobs))) == NULL) {
		msg_reader_close(r);
		return sp_err_set(err, SP_ERR_NOMEM, "container: out of memory");
	}
	json_array_foreach(blobs, i, b) {
		struct msg_blobref *br = &r->blobs[i];

		if (!json_is_object(b) ||
		    get_size(b, "off", r->arealen, &br->off) != 0 ||
		    get_size(b, "len", r->arealen, &br->len) != 0 ||
		    get_size(b, "z", 1, &z) != 0 ||
		    get_size(b, "ulen", MSG_MAX_OUTPUT, &br->ulen) != 0 ||
		    br->len > r->arealen - br->off ||
		    (z == 0 && br->ulen != br->len)) {
			msg_reader_close(r);
			return sp_err_set(err, SP_ERR_INVALID, "container: blob %zu is out of range or malformed", i);
		}
		br->z = (int)z;
	}
	return SP_OK;
}

void
msg_reader_close(struct msg_reader *r)
{
	json_decref(r->root);
	free(r->blobs);
	memset(r, 0, sizeof(*r));
}

int
msg_reader_index(struct msg_reader *r, json_t *v, size_t *idx,
    struct sp_err *err)
{
	json_int_t x;

	if (!json_is_integer(v))
		return sp_err_set(err, SP_ERR_INVALID, "container: blob reference is not a number");
	x = json_integer_value(v);
	if (x < 0 || (uint64_t)x >= (uint64_t)r->nblobs)
		return sp_err_set(err, SP_ERR_INVALID, "container: blob reference out of range");
	*idx = (size_t)x;
	return SP_OK;
}

int
msg_reader_blob(struct msg_reader *r, size_t idx, const unsigned char **p,
    size_t *n, unsigned char **owned, struct sp_err *err)
{
	struct msg_blobref *br;
	int st;

	*owned = NULL;
	if (idx >= r->nblobs)
		return sp_err_set(err, SP_ERR_INVALID, "container: blob reference out of range");
	br = &r->blobs[idx];
	if (br->z) {
		if ((st = msg_inflate(r->area + br->off, br->len, br->ulen, owned, err)) != SP_OK)
			return st;
		*p = *owned;
	} else {
		*p = r->area + br->off;
	}
	*n = br->ulen;
	return SP_OK;
}

/* One parsed raw recipe entry. */
struct rseg {
	size_t blob;
	int b64;
	struct msg_b64fmt f;
};

static int
parse_recipe(struct msg_reader *r, struct rseg **out, size_t *nout,
    struct sp_err *err)
{
	json_t *raw = json_object_get(r->root, "raw"), *s, *v;
	struct rseg *segs;
	size_t i, total = 0, add;
	const char *eol;
	int st;

	*out = NULL;
	*nout = 0;
	if (!json_is_array(raw) || json_array_size(raw) > MSG_MAX_SEGMENTS)
		return sp_err_set(err, SP_ERR_INVALID, "container: missing or oversized raw recipe");
	if (json_array_size(raw) == 0)
		return SP_OK;
	if ((segs = calloc(json_array_size(raw), sizeof(*segs))) == NULL)
		return sp_err_set(err, SP_ERR_NOMEM, "container: out of memory");
	json_array_foreach(raw, i, s) {
		struct rseg *g = &segs[i];

		if (!json_is_object(s))
			goto bad;
		if ((v = json_object_get(s, "lit")) != NULL) {
			if ((st = msg_reader_index(r, v, &g->blob, err)) != SP_OK)
				goto fail;
			add = r->blobs[g->blob].ulen;
		} else if ((v = json_object_get(s, "b64")) != NULL) {
			if ((st = msg_reader_index(r, v, &g->blob, err)) != SP_OK)
				goto fail;
			g->b64 = 1;
			eol = json_string_value(json_object_get(s, "eol"));
			if (get_size(s, "line", MSG_MAX_LINE, &g->f.line) != 0 ||
			    g->f.line < 4 || g->f.line % 4 != 0 ||
			    eol == NULL || (strcmp(eol, "\n") != 0 && strcmp(eol, "\r\n") != 0) ||
			    !json_is_boolean(json_object_get(s, "end")))
				goto bad;
			g->f.crlf = eol[0] == '\r';
			g->f.end = json_is_true(json_object_get(s, "end"));
			add = msg_b64_enclen(r->blobs[g->blob].ulen, &g->f);
		} else {
			goto bad;
		}
		if (add > MSG_MAX_OUTPUT - total) {
			st = sp_err_set(err, SP_ERR_INVALID, "container: rebuilt message would be too large");
			goto fail;
		}
		total += add;
	}
	*out = segs;
	*nout = json_array_size(raw);
	return SP_OK;
bad:
	st = sp_err_set(err, SP_ERR_INVALID, "container: malformed raw recipe entry %zu", i);
fail:
	free(segs);
	return st;
}

static int
buf_sink(void *ctx, const void *p, size_t n)
{
	return sp_buf_append(ctx, p, n);
}

int
sp_msg_container_raw(const unsigned char *c, size_t len, struct sp_buf *out,
    struct sp_err *err)
{
	struct msg_reader r;
	struct rseg *segs = NULL;
	const unsigned char *p;
	unsigned char *owned;
	size_t nsegs = 0, i, n, start = out->len;
	int st;

	if ((st = msg_reader_open(&r, c, len, err)) != SP_OK)
		return st;
	if ((st = parse_recipe(&r, &segs, &nsegs, err)) != SP_OK)
		goto out;
	for (i = 0; i < nsegs; i++) {
		if ((st = msg_reader_blob(&r, segs[i].blob, &p, &n, &owned, err)) != SP_OK)
			goto out;
		if (segs[i].b64)
			st = msg_b64_emit(p, n, &segs[i].f, buf_sink, out);
		else
			st = sp_buf_append(out, p, n);
		free(owned);
		if (st != SP_OK) {
			sp_err_set(err, st, "container: rebuilt message does not fit the output");
			goto out;
		}
	}
out:
	if (st != SP_OK)
		out->len = start;
	if (out->data != NULL)
		out->data[out->len] = '\0';
	free(segs);
	msg_reader_close(&r);
	return st;
}

/* Copy of an optional JSON string (NULL or a string; anything else fails). */
static int
opt_str(json_t *o, const char *key, char **out, struct sp_err *err)
{
	json_t *v = json_object_get(o, key);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return SP_OK;
	if (!json_is_string(v))
		return sp_err_set(err, SP_ERR_INVALID, "container: \"%s\" is not a string", key);
	if ((*out = strdup(json_string_value(v))) == NULL)
		return sp_err_set(err, SP_ERR_NOMEM, "container: out of memory");
	return SP_OK;
}

/* Decoded bytes of the blob named by JSON value v, as a fresh NUL-terminated
 * copy; *budget is decreased so a forged container cannot make the view
 * reference one big blob many times. */
static int
blob_copy(struct msg_reader *r, json_t *v, unsigned char **data, size_t *len,
    size_t *budget, struct sp_err *err)
{
	const unsigned char *p;
	unsigned char *owned;
	size_t idx, n;
	int st;

	*data = NULL;
	*len = 0;
	if ((st = msg_reader_index(r, v, &idx, err)) != SP_OK)
		return st;
	if (r->blobs[idx].ulen > *budget)
		return sp_err_set(err, SP_ERR_INVALID, "container: view would be too large");
	*budget -= r->blobs[idx].ulen;
	if ((st = msg_reader_blob(r, idx, &p, &n, &owned, err)) != SP_OK)
		return st;
	if (owned != NULL) {
		*data = owned;
	} else {
		if ((*data = malloc(n + 1)) == NULL)
			return sp_err_set(err, SP_ERR_NOMEM, "container: out of memory");
		memcpy(*data, p, n);
		(*data)[n] = '\0';
	}
	*len = n;
	return SP_OK;
}

static int
body_text(struct msg_reader *r, const char *key, char **out, size_t *budget,
    struct sp_err *err)
{
	json_t *v = json_object_get(r->root, key);
	unsigned char *d;
	size_t n;
	int st;

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return SP_OK;
	if ((st = blob_copy(r, v, &d, &n, budget, err)) != SP_OK)
		return st;
	*out = (char *)d;
	return SP_OK;
}

int
sp_msg_container_view(const unsigned char *c, size_t len,
    struct sp_msg_view *v, struct sp_err *err)
{
	struct msg_reader r;
	json_t *hdr, *parts, *p, *in;
	size_t i, budget = MSG_MAX_OUTPUT;
	int st;

	memset(v, 0, sizeof(*v));
	if ((st = msg_reader_open(&r, c, len, err)) != SP_OK)
		return st;
	hdr = json_object_get(r.root, "headers");
	if (hdr != NULL && !json_is_object(hdr)) {
		st = sp_err_set(err, SP_ERR_INVALID, "container: \"headers\" is not an object");
		goto out;
	}
	if (hdr != NULL &&
	    ((st = opt_str(hdr, "from", &v->from, err)) != SP_OK ||
	    (st = opt_str(hdr, "to", &v->to, err)) != SP_OK ||
	    (st = opt_str(hdr, "cc", &v->cc, err)) != SP_OK ||
	    (st = opt_str(hdr, "date", &v->date, err)) != SP_OK ||
	    (st = opt_str(hdr, "subject", &v->subject, err)) != SP_OK))
		goto out;
	if ((st = body_text(&r, "text", &v->text, &budget, err)) != SP_OK ||
	    (st = body_text(&r, "html", &v->html, &budget, err)) != SP_OK)
		goto out;
	parts = json_object_get(r.root, "parts");
	if (parts == NULL || json_is_null(parts))
		goto out;
	if (!json_is_array(parts) || json_array_size(parts) > MSG_MAX_SEGMENTS) {
		st = sp_err_set(err, SP_ERR_INVALID, "container: \"parts\" is not a list");
		goto out;
	}
	if (json_array_size(parts) == 0)
		goto out;
	if ((v->parts = calloc(json_array_size(parts), sizeof(*v->parts))) == NULL) {
		st = sp_err_set(err, SP_ERR_NOMEM, "container: out of memory");
		goto out;
	}
	json_array_foreach(parts, i, p) {
		struct sp_msg_part *mp = &v->parts[i];

		if (!json_is_object(p)) {
			st = sp_err_set(err, SP_ERR_INVALID, "container: part %zu is not an object", i);
			goto out;
		}
		v->nparts = i + 1;
		if ((st = opt_str(p, "name", &mp->name, err)) != SP_OK ||
		    (st = opt_str(p, "type", &mp->type, err)) != SP_OK ||
		    (st = opt_str(p, "cid", &mp->cid, err)) != SP_OK)
			goto out;
		if (mp->type == NULL && (mp->type = strdup("application/octet-stream")) == NULL) {
			st = sp_err_set(err, SP_ERR_NOMEM, "container: out of memory");
			goto out;
		}
		in = json_object_get(p, "inline");
		mp->is_inline = json_is_true(in);
		if ((st = blob_copy(&r, json_object_get(p, "blob"), &mp->data, &mp->len, &budget, err)) != SP_OK)
			goto out;
	}
out:
	msg_reader_close(&r);
	if (st != SP_OK)
		sp_msg_view_clear(v);
	return st;
}

/*
 * milter_rewrite.c - applies a complete new message (the notification mail
 * when sealing, the original message when unsealing) to the message the MTA
 * holds, through the milter protocol: the new header fields are added, the
 * original ones deleted (trace fields stay), the body replaced in chunks.
 * The new message is streamed in through a struct sp_writer, so the body is
 * never copied here.
 * SECURITY: when unsealing, the new message is untrusted mail; the header
 * block is bounded and split only at line starts (no MIME parsing).
 */
#include "milter.h"

#include <string.h>
#include <strings.h>

#include "message.h"

#define REWRITE_CHUNK 65535	/* the milter protocol's largest body chunk */

void
milter_rewrite_init(struct milter_rewrite *rw, const struct milter_ops *ops,
    const struct milter_msg *orig)
{
	memset(rw, 0, sizeof(*rw));
	rw->ops = ops;
	rw->orig = orig;
	rw->leadspc = orig->hdr_leadspc;
	sp_buf_init(&rw->hdr, MILTER_MAX_HEADER_BYTES);
}

void
milter_rewrite_clear(struct milter_rewrite *rw)
{
	sp_buf_wipe(&rw->hdr);
}

/* Add one field "Name: value" (len bytes, folding as CRLF or LF, no final
 * line end) through ops; with dry, only check that it can be. */
static int
add_field(struct milter_rewrite *rw, const char *f, size_t len, int dry)
{
	struct sp_buf name, val;
	const char *colon = memchr(f, ':', len);
	size_t i, vs;
	int st = SP_OK;

	if (colon == NULL || colon == f)
		return SP_ERR_INVALID;	/* not a header field: refuse, never guess */
	sp_buf_init(&name, 1024);
	sp_buf_init(&val, MILTER_MAX_HEADER_BYTES);
	if (sp_buf_append(&name, f, (size_t)(colon - f)) != SP_OK) {
		st = SP_ERR_INVALID;
		goto out;
	}
	for (i = 0; i < name.len; i++) {
		if (name.data[i] <= 0x20 || name.data[i] >= 0x7f) {
			st = SP_ERR_INVALID;
			goto out;
		}
	}
	/* only the milter itself writes the marker, after the rewrite */
	if (strcasecmp((const char *)name.data, MILTER_MARK_HEADER) == 0)
		goto out;
	/* a notification never carries the sender's instructions to the
	 * sealer (a verification secret among them) */
	for (i = 0; rw->drop_controls && milter_control_headers[i] != NULL; i++)
		if (strcasecmp((const char *)name.data, milter_control_headers[i]) == 0)
			goto out;
	vs = (size_t)(colon - f) + 1;
	if (!rw->leadspc && vs < len && f[vs] == ' ')
		vs++;
	if (rw->leadspc && (vs >= len || (f[vs] != ' ' && f[vs] != '\t')))
		sp_buf_append(&val, " ", 1);
	for (i = vs; i < len; i++) {
		if (f[i] == '\r' && i + 1 < len && f[i + 1] == '\n')
			continue;
		if ((st = sp_buf_append(&val, f + i, 1)) != SP_OK)
			goto out;
	}
	if ((st = sp_buf_append(&val, "", 0)) != SP_OK || dry)
		goto out;
	rw->applied++;
	if (rw->ops->addheader(rw->ops->ctx, (const char *)name.data,
	    val.data ? (const char *)val.data : "") != 0)
		st = SP_ERR_IO;
out:
	sp_buf_free(&name);
	sp_buf_wipe(&val);
	return st;
}

/* Split the collected header block (ending with the blank line, or with
 * the message) into fields and add each.  A field runs from a line that
 * does not start with white space to the end (before the line end) of its
 * last continuation.  A byte-order mark and an mbox "From " line before
 * the first field are no header fields: they are left out.  With dry,
 * nothing is added: only checked. */
static int
add_fields_pass(struct milter_rewrite *rw, int dry)
{
	const char *p = (const char *)rw->hdr.data, *end = p + rw->hdr.len;
	const char *start = NULL, *fend = NULL;
	int st;

	p += sp_msg_preamble_len(rw->hdr.data, rw->hdr.len);

	while (p < end) {
		const char *line = p, *nl = memchr(p, '\n', (size_t)(end - p));
		size_t ll;

		if (nl == NULL)
			nl = end;
		ll = (size_t)(nl - line);
		if (ll > 0 && line[ll - 1] == '\r')
			ll--;
		p = nl < end ? nl + 1 : end;
		if (ll == 0)
			break;		/* the blank line */
		if (line[0] == ' ' || line[0] == '\t') {
			if (start == NULL)
				return SP_ERR_INVALID;
			fend = line + ll;	/* continuation of the current field */
			continue;
		}
		if (start != NULL && (st = add_field(rw, start, (size_t)(fend - start), dry)) != SP_OK)
			return st;
		start = line;
		fend = line + ll;
	}
	if (start != NULL)
		return add_field(rw, start, (size_t)(fend - start), dry);
	return SP_OK;
}

/* Every field checked first, then added: a header block that cannot be
 * applied changes nothing of the message the MTA holds. */
static int
add_fields(struct milter_rewrite *rw)
{
	int st = add_fields_pass(rw, 1);

	return st == SP_OK ? add_fields_pass(rw, 0) : st;
}

static int
body_out(struct milter_rewrite *rw, const unsigned char *p, size_t n)
{
	while (n > 0) {
		size_t k = n < REWRITE_CHUNK ? n : REWRITE_CHUNK;

		rw->applied++;
		if (rw->ops->replacebody(rw->ops->ctx, p, k) != 0)
			return SP_ERR_IO;
		rw->body_bytes += k;
		p += k;
		n -= k;
	}
	return SP_OK;
}

/* Does the header block collected in b end with its blank line? */
static int
header_done(const struct sp_buf *b)
{
	const unsigned char *d = b->data;
	size_t n = b->len;

	if (n == 0 || d[n - 1] != '\n')
		return 0;
	if (n == 1 || (n == 2 && d[0] == '\r'))
		return 1;	/* no header fields at all */
	return d[n - 2] == '\n' || (n >= 3 && d[n - 2] == '\r' && d[n - 3] == '\n');
}

int
milter_rewrite_write(void *ctx, const void *p, size_t n)
{
	struct milter_rewrite *rw = ctx;
	const unsigned char *s = p;
	size_t i;
	int st;

	if (rw->failed)
		return SP_ERR_IO;
	/* the header block byte by byte (it is small and bounded), the body
	 * straight through */
	for (i = 0; !rw->in_body && i < n; i++) {
		if ((st = sp_buf_append(&rw->hdr, s + i, 1)) != SP_OK) {
			rw->failed = 1;
			return st;
		}
		if (header_done(&rw->hdr)) {
			rw->in_body = 1;
			if ((st = add_fields(rw)) != SP_OK) {
				rw->failed = 1;
				return st;
			}
		}
	}
	if (i < n && (st = body_out(rw, s + i, n - i)) != SP_OK) {
		rw->failed = 1;
		return st;
	}
	return SP_OK;
}

static int
is_trace(const char *name)
{
	return strcasecmp(name, "Received") == 0 || strcasecmp(name, "Return-Path") == 0;
}

int
milter_rewrite_finish(struct milter_rewrite *rw)
{
	const struct milter_msg *m = rw->orig;
	size_t i, j;

	int st;

	if (rw->failed)
		return SP_ERR_IO;
	/* a message of header fields only, without the blank line: its end
	 * ends the header block, and the body is empty */
	if (!rw->in_body) {
		rw->in_body = 1;
		if ((st = add_fields(rw)) != SP_OK) {
			rw->failed = 1;
			return st;
		}
	}
	rw->applied++;
	if (rw->body_bytes == 0 && rw->ops->replacebody(rw->ops->ctx, (const unsigned char *)"", 0) != 0)
		return SP_ERR_IO;
	/* delete from the last field to the first, so that each index still
	 * names the same field whichever way the MTA renumbers */
	for (i = m->nhdrs; i-- > 0;) {
		int idx = 0;

		if (is_trace(m->hdrs[i].name))
			continue;
		for (j = 0; j <= i; j++)
			if (strcasecmp(m->hdrs[j].name, m->hdrs[i].name) == 0)
				idx++;
		if (rw->ops->chgheader(rw->ops->ctx, m->hdrs[i].name, idx, NULL) != 0)
			return SP_ERR_IO;
	}
	return SP_OK;
}

/*
 * message_handle.c - the message handle (message.h): a message parsed once
 * by GMime, read by the scanner, the container builder and the
 * notification writer.  GMime reads the caller's bytes in place: its
 * memory stream is given a byte array over them that it does not own, and
 * the parser keeps that stream (persistent), so every leaf part knows where
 * its encoded body sits and no body is copied.  A thread may bind one
 * handle so that interfaces taking bytes find it instead of parsing again.
 * SECURITY: parses untrusted mail.  sp_msg_check() runs first; a message
 * with more multipart/message markers than SP_MSG_MAX_PARTS is parsed for
 * its header block only (GMime's parser recurses per nesting level).
 */
#include "message_internal.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct sp_msg {
	atomic_int refs;
	const unsigned char *raw;	/* borrowed */
	size_t len;
	size_t body;			/* where the body starts */
	int headers_only;
	GByteArray *ba;			/* over raw, not owning it */
	GMimeMessage *gm;		/* NULL when GMime found no message */
};

static _Thread_local struct sp_msg *msg_bound_here;

/* Is raw[i] ('/') the end of a "multipart/" or "message/" marker? */
static int
marker_at(const unsigned char *raw, size_t i)
{
	return (i >= 9 && g_ascii_strncasecmp((const char *)raw + i - 9, "multipart", 9) == 0) ||
	    (i >= 7 && g_ascii_strncasecmp((const char *)raw + i - 7, "message", 7) == 0);
}

/* Too many multipart/message markers for GMime's recursive parser?  Both
 * markers end in a letter ('t', 'e') then '/', and that pair is rare in
 * base64 text where a lone '/' is not (one character in 64): 16 bytes at
 * a time are compared with '/' and the bytes before them, as 16 lanes of
 * one vector (GCC vector extensions: SSE2 on x86-64), and only a hit is
 * looked at closer. */
typedef unsigned char byte16 __attribute__((vector_size(16)));
typedef signed char lanes16 __attribute__((vector_size(16)));	/* 0 or -1 each */

static int
too_nested(const unsigned char *raw, size_t len)
{
	size_t i = 1, k, count = 0;
	uint64_t half[2];
	byte16 cur, prev;
	lanes16 hit;

	for (; i + 16 <= len; i += 16) {
		memcpy(&cur, raw + i, 16);
		memcpy(&prev, raw + i - 1, 16);
		prev |= 0x20;
		hit = (cur == '/') & ((prev == 't') | (prev == 'e'));
		memcpy(half, &hit, 16);
		if ((half[0] | half[1]) == 0)
			continue;
		for (k = i; k < i + 16; k++)
			if (raw[k] == '/' && marker_at(raw, k) && ++count > SP_MSG_MAX_PARTS)
				return 1;
	}
	for (; i < len; i++)
		if (raw[i] == '/' && marker_at(raw, i) && ++count > SP_MSG_MAX_PARTS)
			return 1;
	return 0;
}

/* Offset just past the blank line that ends the header block starting at
 * from, or len. */
static size_t
body_start(const unsigned char *raw, size_t len, size_t from)
{
	size_t i;

	for (i = from; i + 1 < len; i++)
		if (raw[i] == '\n' && (raw[i + 1] == '\n' ||
		    (raw[i + 1] == '\r' && i + 2 < len && raw[i + 2] == '\n')))
			return i + (raw[i + 1] == '\n' ? 2 : 3);
	return len;
}

/* Parse h->raw from after its preamble (sp_msg_preamble_len), offsets
 * staying those of raw. */
static void
msg_parse(struct sp_msg *h)
{
	GMimeStream *s;
	GMimeParser *p;
	size_t len = h->len, pre = sp_msg_preamble_len(h->raw, h->len);

	h->body = body_start(h->raw, h->len, pre);
	if (too_nested(h->raw, h->len)) {
		/* headers only: up to the first empty line */
		h->headers_only = 1;
		len = h->body < len ? h->body - (h->raw[h->body - 2] == '\r' ? 2 : 1) : len;
	}
	if (len > G_MAXUINT)
		return;
	/* a byte array over the caller's bytes: the stream reads them in
	 * place and, not owning the array, never frees or grows it */
	h->ba = g_byte_array_new_take((guint8 *)(uintptr_t)h->raw, len);
	s = g_mime_stream_mem_new();
	g_mime_stream_mem_set_byte_array(GMIME_STREAM_MEM(s), h->ba);
	if (pre > 0 && g_mime_stream_seek(s, (gint64)pre, GMIME_STREAM_SEEK_SET) != (gint64)pre) {
		g_object_unref(s);
		return;
	}
	p = g_mime_parser_new_with_stream(s);
	g_mime_parser_set_persist_stream(p, TRUE);
	g_mime_parser_set_format(p, GMIME_FORMAT_MESSAGE);
	h->gm = g_mime_parser_construct_message(p, NULL);
	g_object_unref(p);
	g_object_unref(s);
}

int
sp_msg_open(const unsigned char *raw, size_t len, struct sp_msg **out, struct sp_err *err)
{
	struct sp_msg *h;
	int st;

	*out = NULL;
	if ((st = sp_msg_check(raw, len, err)) != SP_OK)
		return st;
	sp_msg_global_init();
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	atomic_init(&h->refs, 1);
	h->raw = raw;
	h->len = len;
	msg_parse(h);
	*out = h;
	return SP_OK;
}

struct sp_msg *
sp_msg_ref(struct sp_msg *m)
{
	atomic_fetch_add(&m->refs, 1);
	return m;
}

void
sp_msg_free(struct sp_msg *m)
{
	if (m == NULL || atomic_fetch_sub(&m->refs, 1) != 1)
		return;
	if (m->gm != NULL)
		g_object_unref(m->gm);
	/* the stream that used the array went with the message */
	if (m->ba != NULL)
		g_byte_array_free(m->ba, FALSE);
	free(m);
}

int
sp_msg_info_read(const struct sp_msg *m, struct sp_msg_info *info, struct sp_err *err)
{
	int st;

	memset(info, 0, sizeof(*info));
	if ((st = msg_fill_info(m->gm, info)) == SP_OK)
		return SP_OK;
	if (st == SP_ERR_TOOBIG)
		return sp_err_set(err, st, "more than %d recipients in To: and Cc:", SP_MSG_MAX_RECIPIENTS);
	sp_msg_info_clear(info);
	return sp_err_set(err, st, "out of memory reading the recipients");
}

void
sp_msg_bind(struct sp_msg *m)
{
	sp_msg_unbind();
	msg_bound_here = m != NULL ? sp_msg_ref(m) : NULL;
}

void
sp_msg_unbind(void)
{
	struct sp_msg *m = msg_bound_here;

	msg_bound_here = NULL;
	sp_msg_free(m);
}

struct sp_msg *
sp_msg_bound(const unsigned char *raw, size_t len)
{
	struct sp_msg *m = msg_bound_here;

	if (m == NULL || m->raw != raw || m->len != len)
		return NULL;
	return sp_msg_ref(m);
}

GMimeMessage *
msg_handle_gmime(const struct sp_msg *h)
{
	return h->gm;
}

const unsigned char *
msg_handle_bytes(const struct sp_msg *h, size_t *len)
{
	*len = h->len;
	return h->raw;
}

int
msg_handle_headers_only(const struct sp_msg *h)
{
	return h->headers_only;
}

size_t
msg_handle_body(const struct sp_msg *h)
{
	return h->body;
}

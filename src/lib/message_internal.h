/*
 * message_internal.h - internals shared by the message_*.c files: base64
 * re-encoding with a recorded layout, raw DEFLATE helpers and the SPC1
 * container reader.  Not part of the library's public face.
 * SECURITY: the reader validates untrusted containers; see message_read.c.
 */
#ifndef SP_MESSAGE_INTERNAL_H
#define SP_MESSAGE_INTERNAL_H

#include <stddef.h>

#include <gmime/gmime.h>
#include <jansson.h>

#include "message.h"

#define MSG_MAGIC "SPC1"
#define MSG_MAX_MANIFEST ((size_t)16 << 20)	/* manifest bytes */
#define MSG_MAX_SEGMENTS 100000			/* raw recipe entries */
#define MSG_MAX_OUTPUT (SP_MSG_MAX_SIZE * 2)	/* bytes a reader will produce */
#define MSG_DISPLAY_MAX 16384		/* bytes of a display header in the view */
#define MSG_NAME_MAX 1024		/* bytes of a part's name, type, Content-ID */
#define MSG_MAX_LINE 998		/* base64 line length (RFC 5322 line limit);
					   lines are a multiple of 4 characters */

/* The layout of a base64 body: line length in characters, line end, and
 * whether a line end follows the last line. */
struct msg_b64fmt {
	size_t line;
	int crlf;
	int end;
};

/* A sink for produced bytes; returns SP_OK or a status that stops output. */
typedef int (*msg_sink)(void *ctx, const void *p, size_t n);

/* Length of the base64 text msg_b64_emit() writes for n bytes. */
size_t msg_b64_enclen(size_t n, const struct msg_b64fmt *f);

/* Encode d[0..n) as base64 with layout f, writing to sink.  Returns SP_OK or
 * the sink's status. */
int msg_b64_emit(const unsigned char *d, size_t n, const struct msg_b64fmt *f,
    msg_sink sink, void *ctx);

/* Decode raw[0..total), which must be base64 in exactly the layout f (every
 * line but the last f->line characters, each line end f->crlf's, a line end
 * after the last line exactly when f->end) and canonical (padding only at
 * the end, unused bits zero), into d (room for total / 4 * 3 bytes).
 * Returns 1 and sets *declen, or 0 when raw is anything else.  Text it
 * accepts is exactly what msg_b64_emit() writes for the decoded bytes. */
int msg_b64_decode_exact(const unsigned char *raw, size_t total, const struct msg_b64fmt *f,
    unsigned char *d, size_t *declen);

/* The same, the decoded bytes going to sink (NULL: only checked) in pieces
 * of up to 48 KiB.  SP_OK and *declen, SP_ERR_INVALID when raw is not
 * exactly that, or the sink's status. */
int msg_b64_decode_to(const unsigned char *raw, size_t total, const struct msg_b64fmt *f,
    msg_sink sink, void *ctx, size_t *declen);

/* msg_b64_probe() without keeping the decoded bytes: 1 with *declen, *fmt
 * and *used set, 0 when raw[0..n) is not such a body. */
int msg_b64_check(const unsigned char *raw, size_t n, size_t avail,
    size_t *declen, struct msg_b64fmt *fmt, size_t *used);

/* Does raw[0..n) hold a base64 body that re-encodes identically?  On success
 * returns 1 and sets *dec (malloc'd decoded bytes, caller frees), *declen,
 * *fmt and *used (the number of bytes of raw the body covers, at most n plus
 * one line end that follows it within avail bytes).  Returns 0 otherwise
 * (nothing allocated), -1 when out of memory. */
int msg_b64_probe(const unsigned char *raw, size_t n, size_t avail,
    unsigned char **dec, size_t *declen, struct msg_b64fmt *fmt, size_t *used);

/* Raw DEFLATE p[0..n) at level; succeeds (returns 1, *out malloc'd) only
 * when the result is at most limit bytes.  0 when it does not fit, -1 when
 * out of memory. */
int msg_deflate(const unsigned char *p, size_t n, int level, size_t limit,
    unsigned char **out, size_t *outlen);

/* Inflate raw DEFLATE p[0..n) that must give exactly ulen bytes into *out
 * (malloc'd, ulen + 1 bytes with a trailing NUL). */
int msg_inflate(const unsigned char *p, size_t n, size_t ulen,
    unsigned char **out, struct sp_err *err);

/* The handle's parse (message_handle.c). */
GMimeMessage *msg_handle_gmime(const struct sp_msg *h);	/* NULL: GMime found none */
const unsigned char *msg_handle_bytes(const struct sp_msg *h, size_t *len);
/* 1 when only the header block was parsed (the nesting guard). */
int msg_handle_headers_only(const struct sp_msg *h);
/* Offset in the bytes where the body starts (after the blank line). */
size_t msg_handle_body(const struct sp_msg *h);

/* A container built and not yet written: its manifest and its blobs, which
 * are the builder's own bytes (decoded base64, compressed, view text) or
 * pieces of raw referred to in place (so raw must outlive it). */
struct msg_container;
/* Build the container of raw[0..len) from the parse of h (see
 * msg_container_build for raw and shift).  Proven to rebuild raw without
 * rebuilding it (decisions/0012-one-parse.md). */
int msg_container_plan(const struct sp_msg *h, const unsigned char *raw, size_t len,
    size_t shift, struct msg_container **out, struct sp_err *err);
/* Its size in bytes, and the bytes, in order, to sink. */
size_t msg_container_size(const struct msg_container *c);
int msg_container_write(const struct msg_container *c, msg_sink sink, void *ctx);
/* Wipes and frees what c owns (NULL is a no-op). */
void msg_container_free(struct msg_container *c);

/* Build the container of raw[0..len) (appended to out) from the parse of
 * h: raw is h's bytes, or a copy of them from which shift bytes were
 * removed inside the top-level header block (every body offset of the
 * parse moves back by shift).  The container always rebuilds raw exactly. */
int msg_container_build(const struct sp_msg *h, const unsigned char *raw, size_t len,
    size_t shift, struct sp_buf *out, struct sp_err *err);

/* Fill info from m (NULL leaves it empty).  SP_ERR_TOOBIG past
 * SP_MSG_MAX_RECIPIENTS, SP_ERR_NOMEM; info is then partly filled (clear it). */
int msg_fill_info(GMimeMessage *m, struct sp_msg_info *info);

/* A valid UTF-8 copy of s (NULL stays NULL), trimmed, control characters
 * turned into spaces, cut to at most max bytes on a character boundary;
 * g_free() it.  msg_utf8_dup() cuts at MSG_DISPLAY_MAX. */
char *msg_utf8_cut(const char *s, size_t max);
char *msg_utf8_dup(const char *s);

/* Display form of an address list (UTF-8), or NULL when empty; g_free(). */
char *msg_addr_display(InternetAddressList *l);

/* A parsed, validated container (borrowing the caller's bytes). */
struct msg_blobref {
	size_t off, len, ulen;
	int z;
};
struct msg_reader {
	json_t *root;		/* the manifest */
	const unsigned char *area;
	size_t arealen;
	struct msg_blobref *blobs;
	size_t nblobs;
};

/* Parse and validate the container header, manifest and blob table. */
int msg_reader_open(struct msg_reader *r, const unsigned char *c, size_t len,
    struct sp_err *err);
void msg_reader_close(struct msg_reader *r);
/* Blob number idx as plain bytes: *p points into the container or into
 * *owned (malloc'd, caller frees; NULL when not needed); always followed by
 * a NUL when owned. */
int msg_reader_blob(struct msg_reader *r, size_t idx, const unsigned char **p,
    size_t *n, unsigned char **owned, struct sp_err *err);
/* A JSON value that must be a blob index; SP_ERR_INVALID otherwise. */
int msg_reader_index(struct msg_reader *r, json_t *v, size_t *idx,
    struct sp_err *err);

#endif

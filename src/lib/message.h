/*
 * message.h - the message model: turns a raw RFC 5322 message into the
 * payload container that an envelope encrypts, and back.
 *
 * The container (format "SPC1", docs/envelope-format.md section 5) holds a
 * JSON manifest for rendering (display headers, text and HTML bodies decoded
 * to UTF-8, attachments with names and types) and a recipe that rebuilds the
 * original message byte for byte.  Base64 bodies are stored once, as binary,
 * and re-encoded on the way out when that reproduces the original exactly
 * (checked while building); everything else is kept literally.  Parsing uses
 * GMime; nothing here is a hand-written MIME parser.
 * SECURITY: parses untrusted mail; limits below are checked before work.
 */
#ifndef SP_MESSAGE_H
#define SP_MESSAGE_H

#include <stddef.h>

#include "buf.h"
#include "sp.h"

#define SP_MSG_MAX_SIZE ((size_t)256 << 20)	/* raw message bytes */
#define SP_MSG_MAX_PARTS 2000			/* MIME parts walked */
#define SP_MSG_MAX_DEPTH 32			/* multipart nesting */
#define SP_MSG_MAX_RECIPIENTS 500

/* Call once per process before any other sp_msg_ function (g_mime_init). */
void sp_msg_global_init(void);

/* What the sealer needs to know about a message. All strings are UTF-8,
 * owned by the struct, released by sp_msg_info_clear(). */
struct sp_msg_info {
	char *from;		/* bare address of From:, lower-case, or NULL */
	char **rcpt;		/* bare addresses of To: and Cc:, lower-case, unique */
	const char **rcpt_field;	/* "To" or "Cc" for each rcpt (static strings) */
	size_t nrcpt;
	char *subject;		/* decoded Subject:, or NULL */
	char *date;		/* Date: as written, or NULL */
};
void sp_msg_info_clear(struct sp_msg_info *info);

/* Bytes before the first header field that real mail may carry and that
 * are kept byte for byte but not parsed: a UTF-8 byte-order mark and one
 * leading mbox "From " line (in either order).  0 when there are none. */
size_t sp_msg_preamble_len(const unsigned char *raw, size_t len);

/* Is this a mail message at all?  Refuses (SP_ERR_INVALID with a message
 * naming the problem) an empty input, input with no header block, and binary
 * garbage.  A real message with MIME defects is accepted, and so is one with
 * a preamble (sp_msg_preamble_len): the checks start after it. */
int sp_msg_check(const unsigned char *raw, size_t len, struct sp_err *err);

/*
 * One parsed message: raw (borrowed; it must outlive the handle and not
 * change) parsed once by GMime, after sp_msg_check(), with the nesting
 * guard and limits above.  Bodies are not copied: GMime reads them from raw
 * where they sit.  The scanner (policy.h), the container builder and the
 * notification writer (seal.h) all read the same handle.  A handle is used
 * by one thread at a time.
 */
struct sp_msg;
/* SP_OK and *out (one reference), or sp_msg_check()'s refusal. */
int sp_msg_open(const unsigned char *raw, size_t len, struct sp_msg **out,
    struct sp_err *err);
/* One more reference to m (for another reader); returns m. */
struct sp_msg *sp_msg_ref(struct sp_msg *m);
/* Drop one reference (NULL is a no-op). */
void sp_msg_free(struct sp_msg *m);
/* The sealer's info read from m (see sp_msg_info).  SP_ERR_NOMEM (info is
 * cleared then), or SP_ERR_TOOBIG past SP_MSG_MAX_RECIPIENTS: info then
 * holds From, Subject, Date and the first recipients (clear it). */
int sp_msg_info_read(const struct sp_msg *m, struct sp_msg_info *info, struct sp_err *err);

/* Interfaces that take a message as bytes (sp_policy_decide(),
 * sp_seal_message()) find the handle their caller bound in this thread for
 * exactly those bytes, instead of parsing them again.  sp_msg_bind() holds
 * a reference until sp_msg_unbind(); sp_msg_bound() returns a new reference
 * when raw and len are the bound handle's, else NULL. */
void sp_msg_bind(struct sp_msg *m);
void sp_msg_unbind(void);
struct sp_msg *sp_msg_bound(const unsigned char *raw, size_t len);

/* Build the container for raw (appended to out) and fill info (may be NULL).
 * Runs sp_msg_check() first.  The container always rebuilds raw exactly. */
int sp_msg_container_build(const unsigned char *raw, size_t len,
    struct sp_buf *out, struct sp_msg_info *info, struct sp_err *err);

/* Rebuild the original message bytes from a container (appended to out). */
int sp_msg_container_raw(const unsigned char *c, size_t len,
    struct sp_buf *out, struct sp_err *err);

/* A decoded view of a container, for the command line. Owns its memory. */
struct sp_msg_part {
	char *name;		/* file name as sent (UTF-8), may be NULL */
	char *type;		/* MIME type, lower-case */
	char *cid;		/* Content-ID without <>, or NULL */
	int is_inline;
	unsigned char *data;	/* decoded bytes */
	size_t len;
};
struct sp_msg_view {
	char *from, *to, *cc, *date, *subject;	/* display strings or NULL */
	char *text;				/* UTF-8 text body or NULL */
	char *html;				/* UTF-8 HTML body or NULL */
	struct sp_msg_part *parts;
	size_t nparts;
};
int sp_msg_container_view(const unsigned char *c, size_t len,
    struct sp_msg_view *v, struct sp_err *err);
void sp_msg_view_clear(struct sp_msg_view *v);

/* A safe file name for saving an attachment: no path separators, no leading
 * dots, no control characters, at most 200 bytes, never empty (falls back to
 * "attachment-N").  Written NUL-terminated into out. */
void sp_msg_safe_filename(const char *name, size_t index, char *out, size_t outsz);

#endif

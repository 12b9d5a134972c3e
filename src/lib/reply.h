/*
 * reply.h - secure reply, reply all and forward from the portal
 * (docs/decisions/0017-secure-reply.md): who a reply may go to
 * (reply_rules.c, pure functions), and the reply as a MIME message
 * (reply_build.c, GMime) that the key server then seals like any other.
 * SECURITY: the recipients of a reply come from the key server's record of
 * the original, never from the request alone (the portal is no open
 * relay); every text that goes into a header field is checked for line
 * breaks and control characters before it is used.
 */
#ifndef SP_REPLY_H
#define SP_REPLY_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "sp.h"

#define SP_REPLY_MAX_TO 20		/* addresses a request may name */
#define SP_REPLY_MAX_ATTACH 20		/* attachments of one reply */
#define SP_REPLY_SUBJECT_MAX 255	/* bytes of the subject */
#define SP_REPLY_NAME_MAX 255		/* bytes of an attachment's name */
#define SP_REPLY_TYPE_MAX 127		/* bytes of an attachment's media type */
#define SP_REPLY_TEXT_MAX (1 << 20)	/* bytes of the text */
#define SP_REPLY_MSGID_MAX 998		/* bytes of In-Reply-To / References */

enum sp_reply_mode {
	SP_REPLY_REPLY = 0,	/* the original's sender */
	SP_REPLY_ALL = 1,	/* the sender and every recipient, minus the replier */
	SP_REPLY_FORWARD = 2,	/* addresses the organisation allows */
};

/* "reply", "all", "forward" -> mode; -1 for anything else. */
int sp_reply_mode_parse(const char *s);

/* A list of lower-case addresses (owned strings). */
struct sp_reply_addrs {
	char **v;
	size_t n;
};
void sp_reply_addrs_clear(struct sp_reply_addrs *a);

/* Who Reply and Reply All go to, from the record of the original: from
 * its sender, rcpt its nrcpt recipients, replier the signed-in address
 * (all lower-case).  reply_to: the sender unless the replier is the
 * sender; reply_all: the sender and every recipient, without the replier
 * and without repeats, in that order.  SP_ERR_NOMEM. */
int sp_reply_targets(const char *from, const char *const *rcpt, size_t nrcpt,
    const char *replier, struct sp_reply_addrs *reply_to, struct sp_reply_addrs *reply_all);

/* 1 when addr (lower-case) is one of list's. */
int sp_reply_addrs_has(const struct sp_reply_addrs *list, const char *addr);

/* Normalise an organisation's forward list from the command line: "none"
 * or "" clear it; else domains separated by ",", each a host name (labels
 * of letters, digits and '-', not starting or ending with '-', at least
 * two labels), lower-cased, repeats dropped, at most SP_REPLY_FWD_DOMAINS.
 * out (outsz bytes) gets "a.example,b.example".  SP_ERR_INVALID naming the
 * bad domain; SP_ERR_TOOBIG when it does not fit. */
#define SP_REPLY_FWD_DOMAINS 32
int sp_reply_fwd_list_norm(const char *in, char *out, size_t outsz, struct sp_err *err);

/* 1 when addr (lower-case) may receive a forward: its domain (after the
 * last '@', exactly: no subdomains) is one of domains[0..nd) (the
 * organisation's own) or in the comma-separated list fwd. */
int sp_reply_fwd_allowed(const char *addr, const char *const *domains, size_t nd,
    const char *fwd);
/* 1 when domain is one of the comma-separated list fwd (ASCII case
 * folded). */
int sp_reply_fwd_allowed_domain(const char *domain, const char *fwd);

/* 1 when s (n bytes) is one line of text fit for a header field or a
 * file name: valid UTF-8, no control characters (C0, DEL, C1), no line
 * breaks, at least one byte. */
int sp_reply_line_ok(const char *s, size_t n);

/* 1 when s is one or more msg-ids "<left@right>" separated by one space
 * each, with no space before the first or after the last (References),
 * or exactly one when one is set (In-Reply-To): printable
 * ASCII without spaces, '<', '>' inside an id; at most SP_REPLY_MSGID_MAX
 * bytes. */
int sp_reply_msgid_ok(const char *s, int one);

/* One attachment of a reply: its decoded bytes (borrowed). */
struct sp_reply_part {
	const char *name;	/* sp_reply_line_ok() */
	const char *type;	/* "type/subtype"; NULL or invalid: application/octet-stream */
	const unsigned char *data;
	size_t len;
};

/* What the reply says.  Strings are borrowed for the call. */
struct sp_reply_msg {
	const char *from_addr;		/* the replier */
	const char *from_name;		/* the replier's name, or NULL */
	const char *const *to;		/* the chosen recipients (the header's To:) */
	size_t nto;
	const char *subject;		/* sp_reply_line_ok() */
	const char *text;		/* UTF-8 body */
	size_t text_len;
	const char *in_reply_to;	/* NULL or sp_reply_msgid_ok(.., 1) */
	const char *references;		/* NULL or sp_reply_msgid_ok(.., 0) */
	const char *msgid_domain;	/* right side of the new Message-ID */
	int64_t date;			/* unix seconds */
	const struct sp_reply_part *parts;
	size_t nparts;
};

/* Build the reply as an RFC 5322 message with GMime, appended to out:
 * From (with the name, encoded as needed), To, Subject, Date, a fresh
 * Message-ID <RANDOM@msgid_domain>, In-Reply-To and References when given,
 * MIME-Version; a text/plain UTF-8 body (quoted-printable or base64 as
 * GMime chooses), or multipart/mixed with the attachments (base64,
 * Content-Disposition: attachment with the name encoded per RFC 2231).
 * A message/rfc822 attachment is sent as such.  No Bcc: field, ever.
 * SP_ERR_INVALID (err names the field) when a value is not fit for its
 * field; SP_ERR_TOOBIG from out. */
int sp_reply_build(const struct sp_reply_msg *m, struct sp_buf *out, struct sp_err *err);

#endif

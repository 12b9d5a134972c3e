/*
 * transport.h - mail that sealpost itself sends (activation, notices).
 * Transports: "dir" writes each message as a complete .eml file into a
 * directory, atomically (written in the sibling directory outbox.tmp,
 * fsync'd, then renamed); "sendmail" pipes it to `sendmail -i -t`
 * (sp_transport_send) or to `sendmail -i -f FROM -- RCPT...`
 * (sp_transport_send_mime).
 * SECURITY: addresses and subjects are checked for line breaks (header
 * injection); bodies are sent as UTF-8 text/plain, 8bit, CRLF line ends.
 */
#ifndef SP_TRANSPORT_H
#define SP_TRANSPORT_H

#include "sp.h"

struct sp_transport;

/* kind "dir" (arg: outbox directory, created 0700 when missing) or
 * "sendmail" (arg: path of the sendmail program, NULL = /usr/sbin/sendmail).
 * from: the envelope and header sender of every message. */
int sp_transport_new(struct sp_transport **t, const char *kind, const char *arg,
    const char *from, struct sp_err *err);
void sp_transport_free(struct sp_transport *t);

/* Send one text message.  to: one address; subject: one line (ASCII or
 * UTF-8, encoded per RFC 2047 when needed); text: UTF-8 body. */
int sp_transport_send(struct sp_transport *t, const char *to, const char *subject,
    const char *text, struct sp_err *err);

/* Send a ready MIME message (data, len bytes, CRLF or LF line ends) to
 * the SMTP recipients rcpt[0..n), which need not appear in its header
 * (a sender's own copy).  The envelope sender is the transport's from.
 * "dir": NAME.eml in the outbox and, beside it and written first,
 * NAME.rcpt with the recipients one a line (the outbox's record of the
 * SMTP envelope; nothing in the mail names them); "sendmail":
 * `sendmail -i -f FROM -- rcpt...` (never -t).  SP_ERR_INVALID for an
 * address with a control character, a space, no '@' or a leading '-'. */
int sp_transport_send_mime(struct sp_transport *t, const char *const *rcpt, size_t n,
    const void *data, size_t len, struct sp_err *err);

#endif

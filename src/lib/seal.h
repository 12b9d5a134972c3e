/*
 * seal.h - sealing and unsealing whole messages: the orchestration of the
 * message model (message.h), the key server client (keyd_client.h) and the
 * envelope format (envelope.h).  Used by `sealpost seal`, `sealpost open`
 * and sealpost-milter.
 *
 * The notification mail keeps the original From, To, Cc, Date, Subject,
 * Message-ID, In-Reply-To and References; its body is a short notice in text
 * and HTML and the attachment securedoc.html (7bit).  It carries the header
 * "X-Sealpost-Envelope: ID" so that gateways can recognise it.
 * SECURITY: handles message plaintext and key parts; wipes them when done.
 */
#ifndef SP_SEAL_H
#define SP_SEAL_H

#include <stdint.h>

#include "buf.h"
#include "envelope.h"
#include "keyd_client.h"
#include "sign.h"
#include "sp.h"

struct sp_seal_params {
	/* Envelope recipients; when nrcpt is 0 they are taken from To: and Cc:
	 * (a milter passes the SMTP recipients here). */
	const char *const *rcpt;
	size_t nrcpt;
	/* Replacement Subject for the notification mail (e.g. with the
	 * "[secure]" keyword removed), or NULL to keep the original. */
	const char *subject;
	int64_t expires;	/* unix seconds, 0 = key server policy */
	/* The organisation's signing key: the envelope is format 2, signed.
	 * NULL writes format 1 (only accepted for organisations that have no
	 * signing key). */
	const struct sp_signer *signer;
};

/* Seal raw (a complete RFC 5322 message) and write the notification mail to
 * out.  c must carry the organisation token.  id_out receives the envelope
 * id.  Errors: SP_ERR_INVALID (not a mail message: err names the problem),
 * SP_ERR_RETRY (key server unreachable or 5xx: try later), SP_ERR_AUTH (bad
 * token), others from the modules below.  Nothing is written to out on
 * failure before the deposit succeeded. */
int sp_seal_message(struct sp_keyd_client *c, const struct sp_seal_params *p,
    const unsigned char *raw, size_t len, struct sp_writer out,
    char id_out[SP_ENV_ID_STRLEN + 1], struct sp_err *err);

/* Find the envelope in input: either a securedoc.html file itself or a mail
 * that carries one as an attachment.  Fills f (sp_env_html_read). */
int sp_envelope_from_input(const unsigned char *in, size_t len,
    struct sp_env_file *f, struct sp_err *err);

/* Extract the bytes of the securedoc.html attachment from a notification
 * mail (appended to html).  SP_ERR_INVALID when there is none. */
int sp_envelope_extract_html(const unsigned char *mail, size_t len,
    struct sp_buf *html, struct sp_err *err);

/* Open an envelope: release the server part with c's token (a recipient's
 * session or an organisation token), derive the key, decrypt, and append the
 * payload container to container_out (wipe it when done). */
int sp_open_envelope(struct sp_keyd_client *c, const struct sp_env_file *f,
    struct sp_buf *container_out, struct sp_err *err);

#endif

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
 *
 * Sender controls come from header fields of the original message (read
 * here, removed from the sealed copy, never sent anywhere except as the
 * deposit's fields): X-Sealpost-Expires ("30d", "2027-01-31" = the end of
 * that day, 23:59:59 UTC, or an RFC 5322 date), X-Sealpost-Notify ("read"
 * or "none"), X-Sealpost-Verify (a secret the recipient must know; only
 * its Argon2id hash leaves the sealer), X-Sealpost-Verify-Hint (the
 * question shown to the recipient) and X-Sealpost-Level ("high", "medium",
 * "low").
 *
 * With a signing key (format 2) sealing is two calls to the key server:
 * the deposit, then, after encryption and signing, the seal call with the
 * header, the ciphertext digest and the signature.  Nothing is written
 * before both succeeded.  Opening checks the key server against a trusted
 * list before any network use, and after the release checks the envelope
 * against the key server's record (docs/decisions/0009-sender-controls.md)
 * before anything is decrypted.
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
	/* The envelope sender (a milter's MAIL FROM, `seal --from`), or NULL:
	 * the deposit's sender when the message has no From: address (a
	 * bounce); From: wins when it has one. */
	const char *from;
	/* Replacement Subject for the notification mail (e.g. with the
	 * "[secure]" keyword removed), or NULL to keep the original. */
	const char *subject;
	int64_t expires;	/* unix seconds, 0 = key server policy */
	/* The organisation's signing key: the envelope is format 2, signed.
	 * NULL writes format 1 (only accepted for organisations that have no
	 * signing key). */
	const struct sp_signer *signer;
	/* Called when the deposit asked for a copy of the ciphertext and the
	 * key server did not keep it (the seal still succeeds: the attachment
	 * opens as always); msg says why.  NULL: not reported. */
	void (*copy_warning)(void *ctx, const char *id, const char *msg);
	void *copy_warning_ctx;
	/* 1: the mail goes to out while it is made, before the format 2 seal
	 * call, for a caller that discards what out got when
	 * sp_seal_message() fails (a temporary file renamed on success; a
	 * milter, whose failure answer undoes its changes): no copy of the
	 * mail is kept.  0: out gets the whole mail at the end, and only when
	 * everything succeeded. */
	int out_early;
	/* A From: for the notification mail instead of the message's own
	 * From, Sender and Reply-To (a header value, ASCII, RFC 2047-encoded
	 * where needed), and its Reply-To (or NULL): the key server's sealed
	 * replies, which it may not send From: another domain
	 * (docs/decisions/0017-secure-reply.md).  NULL: the message's own. */
	const char *notice_from;
	const char *notice_reply_to;
};

/* Where a sealer deposits the key part and completes the signed envelope:
 * the key server over HTTP (sp_seal_depot_client) or, inside the key
 * server, its own store (keyd_reply.c).  deposit and seal have the
 * contracts of sp_keyd_deposit() and sp_keyd_seal(); copy_put that of
 * sp_keyd_copy_put(), or NULL when the depot keeps no copies.  ctx is
 * passed to each. */
struct sp_seal_depot {
	void *ctx;
	int (*deposit)(void *ctx, const struct sp_deposit_req *req,
	    struct sp_deposit_res *res, struct sp_err *err);
	int (*seal)(void *ctx, const char *id, const unsigned char *header, size_t header_len,
	    const unsigned char ct_sha[SP_SHA256_LEN], const unsigned char sig[SP_SIGN_SIG_LEN],
	    struct sp_err *err);
	int (*copy_put)(void *ctx, const char *id, const unsigned char *data, int fd,
	    uint64_t len, struct sp_err *err);
};
/* d becomes the depot of key server client c (borrowed). */
void sp_seal_depot_client(struct sp_seal_depot *d, struct sp_keyd_client *c);

/* Seal raw (a complete RFC 5322 message) and write the notification mail to
 * out.  c must carry the organisation token.  id_out receives the envelope
 * id.  Errors: SP_ERR_INVALID (not a mail message, or a malformed
 * X-Sealpost-* field: err names the field and the problem), SP_ERR_RETRY
 * (key server unreachable or 5xx at either call: try later), SP_ERR_AUTH
 * (bad token), others from the modules below.  Nothing is written to out
 * unless the envelope was deposited (and, unless p->out_early, sealed:
 * format 2). */
int sp_seal_message(struct sp_keyd_client *c, const struct sp_seal_params *p,
    const unsigned char *raw, size_t len, struct sp_writer out,
    char id_out[SP_ENV_ID_STRLEN + 1], struct sp_err *err);
/* sp_seal_message() into the depot d: the one sealer behind both. */
int sp_seal_message_to(const struct sp_seal_depot *d, const struct sp_seal_params *p,
    const unsigned char *raw, size_t len, struct sp_writer out,
    char id_out[SP_ENV_ID_STRLEN + 1], struct sp_err *err);

/* The sender controls of a message (its X-Sealpost-* header fields). */
struct sp_seal_controls {
	int64_t expires;	/* unix seconds, 0 = not asked */
	int notify_read;	/* 1 "read", 0 "none", -1 not asked */
	char level[8];		/* "high", "medium", "low"; "" not asked */
	char *verify;		/* the normalised secret (owned, wiped), NULL none */
	char *verify_hint;	/* the question (owned), NULL none */
};
/* Read the controls from the header block of raw; now is the current time.
 * Each field may occur once.  SP_ERR_INVALID with a message naming the
 * field and its value (never the secret's) when one is malformed. */
int sp_seal_controls_read(const unsigned char *raw, size_t len, int64_t now,
    struct sp_seal_controls *ctl, struct sp_err *err);
void sp_seal_controls_clear(struct sp_seal_controls *ctl);
/* One X-Sealpost-Expires value: "Nd" (1 to 3650 days from now),
 * "YYYY-MM-DD" (the end of that day, 23:59:59 UTC) or an RFC 5322 date;
 * the result must lie after now and at most 3650 days ahead. */
int sp_seal_parse_expires(const char *value, int64_t now, int64_t *out,
    struct sp_err *err);

/* Find the envelope in input: either a securedoc.html file itself or a mail
 * that carries one as an attachment.  Fills f (sp_env_html_read). */
int sp_envelope_from_input(const unsigned char *in, size_t len,
    struct sp_env_file *f, struct sp_err *err);

/* Extract the bytes of the securedoc.html attachment from a notification
 * mail (appended to html).  SP_ERR_INVALID when there is none. */
int sp_envelope_extract_html(const unsigned char *mail, size_t len,
    struct sp_buf *html, struct sp_err *err);

/* The key servers a reader trusts: normalised URLs
 * (sp_keyd_url_normalize).  Zero-initialise; clear when done. */
struct sp_trust {
	char **url;
	size_t n;
};
#define SP_TRUST_DEFAULT_FILE "/etc/sealpost/trusted-keyd"
int sp_trust_add(struct sp_trust *t, const char *url, struct sp_err *err);
/* Add every URL of a file: one a line, blank lines and '#' comments
 * skipped.  SP_ERR_IO when it cannot be read (errno-style message),
 * SP_ERR_INVALID naming the line of a bad URL. */
int sp_trust_read_file(struct sp_trust *t, const char *path, struct sp_err *err);
/* SP_OK when url is on the list; SP_ERR_DENIED (err names url) when not. */
int sp_trust_check(const struct sp_trust *t, const char *url, struct sp_err *err);
void sp_trust_clear(struct sp_trust *t);

/* What came of opening an envelope. */
enum sp_open_outcome {
	SP_OPEN_OPENED = 0,
	SP_OPEN_UNTRUSTED,	/* the envelope names a key server not trusted: nothing was sent */
	SP_OPEN_FORGED,		/* not a genuine envelope of the organisation it names */
	SP_OPEN_WITHDRAWN,	/* 410 retracted by the sender */
	SP_OPEN_EXPIRED,	/* 410 expired (or shredded) */
	SP_OPEN_VERIFY,		/* 409 a verification answer is needed first */
	SP_OPEN_LOCKED,		/* 423 too many wrong verification answers */
	SP_OPEN_REFUSED,	/* another refusal of the key server (401, 403, 404) */
	SP_OPEN_FAILED,		/* could not ask (SP_ERR_RETRY and the like) */
};
struct sp_open_info {
	enum sp_open_outcome outcome;
	int format;		/* the opened envelope's format: 1 (unsigned) or 2 */
	int bcc;		/* 1: the reader is a blind copy (the envelope does not name it) */
	char *verify_hint;	/* SP_OPEN_VERIFY: the sender's question or NULL (owned) */
	int tries_left;		/* SP_OPEN_VERIFY: -1 unknown */
};
void sp_open_info_clear(struct sp_open_info *info);

/* Open an envelope: when trust is not NULL, refuse (SP_ERR_DENIED,
 * SP_OPEN_UNTRUSTED) an envelope whose key server is not on it before any
 * request is made; release with c's token (a recipient's session or an
 * organisation token); check the envelope against the key server's record
 * (the header's version equals the record's format; for format 2 the
 * digests of header and ciphertext equal the record's, the kids agree and
 * the envelope's signature verifies under the recorded public key:
 * SP_ERR_AUTH, SP_OPEN_FORGED, err "this is not a genuine envelope from
 * ORG: REASON" otherwise); then derive the key, decrypt and append the
 * payload container to container_out (wipe it when done).  info (may be
 * NULL) says what came of it; clear it in every case. */
int sp_open_envelope_checked(struct sp_keyd_client *c, const struct sp_trust *trust,
    const struct sp_env_file *f, struct sp_open_info *info,
    struct sp_buf *container_out, struct sp_err *err);

/* The checks of sp_open_envelope_checked() between the release and the
 * decryption, for a caller that holds the key server's record r itself
 * (the key server's page for browsers without scripts): the header's
 * version equals r's format; for format 2 the digests, key id and
 * signature; for both the id's organisation, sender and recipients.
 * SP_OK, or SP_ERR_AUTH with err "this is not a genuine envelope from
 * ORG: DETAILS" and, when reason is not NULL, *reason the failed check as
 * one static English sentence without the organisation or any number
 * (a page shows it translated: web/i18n "lib.forged_*"); *reason is NULL
 * otherwise. */
int sp_open_check_record(const struct sp_env_file *f, const struct sp_release_res *r,
    const char **reason, struct sp_err *err);

/* sp_open_envelope_checked() without a trusted list: for callers that
 * checked the envelope's key server themselves (the milter opens only its
 * own key server's envelopes). */
int sp_open_envelope(struct sp_keyd_client *c, const struct sp_env_file *f,
    struct sp_buf *container_out, struct sp_err *err);

#endif

/*
 * notice.h - the texts of the mails the key server sends about accounts:
 * activation links and sign-up codes, "an account exists" notes, password reset links,
 * sign-in links, and notices after a password or second-factor change;
 * and the notices to senders: a recipient opened a message (read notice),
 * a recipient ran out of verification answers, a new account was
 * registered for an address that has messages waiting.  Both sealpost-keyd
 * and the `sealpost recipient reset` command use them, so a mail reads the
 * same whoever sends it.
 * SECURITY: a mail never carries text a stranger chose: only the
 * recipient's own address, the server's public URL and a token that the
 * caller made.  Tokens are single-use and expire (the caller's store says
 * when).
 */
#ifndef SP_NOTICE_H
#define SP_NOTICE_H

#include <stdint.h>

#include "buf.h"
#include "sp.h"

enum sp_notice_kind {
	SP_NOTICE_ACTIVATE = 1,		/* token: activation link */
	SP_NOTICE_EXISTS,		/* no token: someone registered an existing address */
	SP_NOTICE_RESET,		/* token: forgot-password link */
	SP_NOTICE_ADMIN_RESET,		/* token: reset asked for by an administrator */
	SP_NOTICE_SIGNIN,		/* token: single-use sign-in link */
	SP_NOTICE_PW_CHANGED,		/* no token: the password was changed */
	SP_NOTICE_FACTOR_ADDED,		/* detail: what was added ("an authenticator app") */
	SP_NOTICE_FACTOR_REMOVED,	/* detail: what was removed */
	SP_NOTICE_RECOVERY_USED,	/* no token: a recovery code was used */
	/* to senders (sp_notice_compose_sender) */
	SP_NOTICE_READ,			/* address opened envelope at when */
	SP_NOTICE_VERIFY_LOCKED,	/* address gave too many wrong verification answers */
	SP_NOTICE_WAITING,		/* an account was registered for address, count waiting */
	/* to recipients again (appended: the values above stay as they were) */
	SP_NOTICE_SIGNUP_CODE,		/* token: the 6-digit code of a short sign-up */
	SP_NOTICE_PROFILE_CHANGED,	/* no token: names, phrase or questions changed */
};

/* Compose the mail of kind for address `to`: subject (one line) into
 * *subject and the UTF-8 text body into body (initialised by the caller
 * with a cap).  public_url: the key server's URL without trailing '/'.
 * token: the link token for the kinds that have one (NULL otherwise).
 * ttl_text: how long the link works: a catalogue key ("notice.ttl.24h")
 * or English words ("24 hours"), or NULL.
 * detail: for FACTOR_*: a catalogue key ("notice.what.passkey") or a fixed
 * phrase of the caller's, never user text.
 * SP_ERR_INVALID for an unknown kind or a missing token. */
int sp_notice_compose(int kind, const char *to, const char *public_url,
    const char *token, const char *ttl_text, const char *detail,
    const char **subject, struct sp_buf *body, struct sp_err *err);
/* sp_notice_compose() in lang (i18n.h; English when not offered).  The
 * subject lives as long as the program.  detail may also be
 * "notice.what.device" TAB agent: a remembered device with its summary. */
int sp_notice_compose_lang(const char *lang, int kind, const char *to,
    const char *public_url, const char *token, const char *ttl_text, const char *detail,
    const char **subject, struct sp_buf *body, struct sp_err *err);

/* What a notice to a sender is about: the recipient's address, the
 * envelope id (READ, VERIFY_LOCKED), the time and, for WAITING, how many
 * of the sender's messages wait for that address.  Borrowed. */
struct sp_notice_sender {
	const char *address;
	const char *envelope;
	int64_t when;		/* unix seconds */
	long count;
};

/* Compose a notice to a sender (kinds READ, VERIFY_LOCKED, WAITING) for
 * the sender's address `to`, as sp_notice_compose().  The mail names the
 * recipient's address, the envelope id and the time (UTC) only: never a
 * subject, a message's content or anything the recipient typed.
 * SP_ERR_INVALID for another kind or a missing address or envelope. */
int sp_notice_compose_sender(int kind, const char *to, const char *public_url,
    const struct sp_notice_sender *info, const char **subject, struct sp_buf *body,
    struct sp_err *err);
/* sp_notice_compose_sender() in lang. */
int sp_notice_compose_sender_lang(const char *lang, int kind, const char *to,
    const char *public_url, const struct sp_notice_sender *info, const char **subject,
    struct sp_buf *body, struct sp_err *err);

#endif

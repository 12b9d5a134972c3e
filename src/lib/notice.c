/*
 * notice.c - the account mails of notice.h, in plain words.
 * SECURITY: only the recipient's address, the public URL, a token and
 * fixed phrases of the caller go into a mail; no name or text that a
 * stranger typed into a form.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "notice.h"

static const char foot[] =
    "\nThis mail was sent by the key server of your secure messages.  We never\n"
    "ask for your password by mail; type it only on the key server's own page.\n";

int
sp_notice_compose(int kind, const char *to, const char *public_url,
    const char *token, const char *ttl_text, const char *detail,
    const char **subject, struct sp_buf *body, struct sp_err *err)
{
	const char *ttl = ttl_text ? ttl_text : "a short time";
	int need_token = kind == SP_NOTICE_ACTIVATE || kind == SP_NOTICE_RESET ||
	    kind == SP_NOTICE_ADMIN_RESET || kind == SP_NOTICE_SIGNIN ||
	    kind == SP_NOTICE_SIGNUP_CODE;
	int rc;

	if (to == NULL || public_url == NULL || (need_token && (token == NULL || *token == '\0')))
		return sp_err_set(err, SP_ERR_INVALID, "notice: missing address or token");
	switch (kind) {
	case SP_NOTICE_ACTIVATE:
		*subject = "Confirm your address for secure messages";
		rc = sp_buf_printf(body, "Hello,\n\nsomeone (we hope you) asked to create an account "
		    "for secure messages\nfor %s.  To confirm that this is your address, open "
		    "this link:\n\n%s/activate?t=%s\n\nThe link works once and expires in %s.  "
		    "If you did not ask for an account,\ndo not open the link: nothing happens "
		    "without it.\n", to, public_url, token, ttl);
		break;
	case SP_NOTICE_SIGNUP_CODE:
		*subject = "Your code to confirm your address for secure messages";
		rc = sp_buf_printf(body, "Hello,\n\nsomeone (we hope you) is creating an account "
		    "for secure messages\nfor %s.  To confirm that this is your address, type "
		    "this code\non the page where you chose your password:\n\n    %s\n\n"
		    "The code works once, in that browser only, and expires in %s.\nIf you did "
		    "not ask for an account, ignore this mail: nothing happens\nwithout the code. "
		    " Never tell the code to anyone, even if they call\nthemselves the sender of "
		    "a message.\n", to, token, ttl);
		break;
	case SP_NOTICE_EXISTS:
		*subject = "Your account for secure messages";
		rc = sp_buf_printf(body, "Hello,\n\nsomeone asked to create an account for secure "
		    "messages for %s,\nbut this address already has one, so nothing was "
		    "changed.\n\nYou can open your secure messages with your password.  If you "
		    "forgot it,\nchoose a new one here:\n\n%s/forgot\n\nIf this was not you, "
		    "you can ignore this mail.\n", to, public_url);
		break;
	case SP_NOTICE_RESET:
	case SP_NOTICE_ADMIN_RESET:
		*subject = "Choose a new password for secure messages";
		rc = sp_buf_printf(body, "Hello,\n\n%s for the account %s.\nTo choose a new password, "
		    "open this link; you will also be asked\nthe answers to your security "
		    "questions:\n\n%s/reset?t=%s\n\nThe link works once and expires in %s.  If "
		    "you did not ask for this,\nignore this mail: your password stays as it "
		    "is.\n", kind == SP_NOTICE_RESET ? "Someone (we hope you) asked to reset the "
		    "password" : "Your administrator started a password reset",
		    to, public_url, token, ttl);
		break;
	case SP_NOTICE_SIGNIN:
		*subject = "Your sign-in link for secure messages";
		rc = sp_buf_printf(body, "Hello,\n\nhere is the sign-in link you asked for (for "
		    "%s).  It lets you sign in\nwith your password even while sign-ins from your "
		    "network are paused\nafter too many wrong passwords:\n\n%s/signin?t=%s\n\n"
		    "The link works once and expires in %s.  If you did not ask for it,\nignore "
		    "this mail: the link is useless without your password.\n",
		    to, public_url, token, ttl);
		break;
	case SP_NOTICE_PW_CHANGED:
		*subject = "Your password for secure messages was changed";
		rc = sp_buf_printf(body, "Hello,\n\nthe password of your account for secure messages "
		    "(%s) was just changed,\nand every signed-in browser was signed out.\n\nIf "
		    "this was you, there is nothing to do.  If it was not, choose a new\npassword "
		    "at once here and tell the organisation that wrote to you:\n\n%s/forgot\n",
		    to, public_url);
		break;
	case SP_NOTICE_FACTOR_ADDED:
	case SP_NOTICE_FACTOR_REMOVED:
		*subject = kind == SP_NOTICE_FACTOR_ADDED ?
		    "A sign-in method was added to your account" :
		    "A sign-in method was removed from your account";
		rc = sp_buf_printf(body, "Hello,\n\n%s %s your account for secure messages (%s).\n\n"
		    "If this was you, there is nothing to do.  If it was not, choose a new\n"
		    "password at once here and tell the organisation that wrote to you:\n\n"
		    "%s/forgot\n", detail ? detail : "A sign-in method",
		    kind == SP_NOTICE_FACTOR_ADDED ? "was added to" : "was removed from",
		    to, public_url);
		break;
	case SP_NOTICE_PROFILE_CHANGED:
		*subject = "Your profile for secure messages was changed";
		rc = sp_buf_printf(body, "Hello,\n\nthe profile of your account for secure messages "
		    "(%s) was just changed:\nyour name, your security phrase or your security "
		    "questions.\n\nIf this was you, there is nothing to do.  If it was not, choose "
		    "a new\npassword at once here and tell the organisation that wrote to you:\n\n"
		    "%s/forgot\n", to, public_url);
		break;
	case SP_NOTICE_RECOVERY_USED:
		*subject = "A recovery code was used to sign in";
		rc = sp_buf_printf(body, "Hello,\n\na recovery code was just used to sign in to your "
		    "account for secure\nmessages (%s).  Each code works once.\n\nIf this was "
		    "not you, choose a new password at once here:\n\n%s/forgot\n",
		    to, public_url);
		break;
	default:
		return sp_err_set(err, SP_ERR_INVALID, "notice: unknown kind %d", kind);
	}
	if (rc == SP_OK)
		rc = sp_buf_append_str(body, foot);
	if (rc != SP_OK)
		return sp_err_set(err, SP_ERR_NOMEM, "notice: out of memory");
	return SP_OK;
}

static const char sender_foot[] =
    "\nThis mail was sent by the key server of your organisation's secure\n"
    "messages.  It never holds the content of a message.\n";

int
sp_notice_compose_sender(int kind, const char *to, const char *public_url,
    const struct sp_notice_sender *info, const char **subject, struct sp_buf *body,
    struct sp_err *err)
{
	char when[64];
	struct tm tm;
	time_t t;
	int rc;

	if (to == NULL || public_url == NULL || info == NULL || info->address == NULL ||
	    (kind != SP_NOTICE_WAITING && info->envelope == NULL))
		return sp_err_set(err, SP_ERR_INVALID, "notice: missing address or envelope");
	t = (time_t)info->when;
	if (gmtime_r(&t, &tm) == NULL || strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC",
	    &tm) == 0)
		snprintf(when, sizeof(when), "%lld", (long long)info->when);
	switch (kind) {
	case SP_NOTICE_READ:
		*subject = "Read notice: your secure message was opened";
		rc = sp_buf_printf(body, "Hello,\n\nyour secure message %s was opened by %s\n"
		    "at %s.\n\nYou receive one such notice per recipient, on the recipient's first "
		    "opening.\n", info->envelope, info->address, when);
		break;
	case SP_NOTICE_VERIFY_LOCKED:
		*subject = "Your secure message is locked after wrong verification answers";
		rc = sp_buf_printf(body, "Hello,\n\nthe verification question of your secure "
		    "message %s was answered\nwrongly too many times for the recipient %s (the "
		    "last time at %s).\nThe message no longer opens for that recipient.\n\n"
		    "If the recipient is who you meant, send the message again (perhaps\nwith a "
		    "question they can answer); if not, someone else may be trying\nto read it: "
		    "retract it.\n", info->envelope, info->address, when);
		break;
	case SP_NOTICE_WAITING:
		*subject = "A new account was registered for one of your recipients";
		rc = sp_buf_printf(body, "Hello,\n\na new account was just registered for %s, "
		    "which has %ld message%s\nfrom you waiting (%s).  If you did not expect this, "
		    "retract them\nor ask the recipient.\n", info->address, info->count,
		    info->count == 1 ? "" : "s", when);
		break;
	default:
		return sp_err_set(err, SP_ERR_INVALID, "notice: unknown sender notice %d", kind);
	}
	if (rc == SP_OK)
		rc = sp_buf_append_str(body, sender_foot);
	if (rc != SP_OK)
		return sp_err_set(err, SP_ERR_NOMEM, "notice: out of memory");
	return SP_OK;
}

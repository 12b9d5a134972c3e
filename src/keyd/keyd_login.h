/*
 * keyd_login.h - signing in (keyd_login.c): the password step, the second
 * step, sessions and their cookie.  Shared by the JSON API (keyd_api.c),
 * the sign-in pages (keyd_account.c) and the security page
 * (keyd_security.c).  Not a library interface.
 */
#ifndef KEYD_LOGIN_H
#define KEYD_LOGIN_H

#include <stdint.h>

#include "keyd_req.h"
#include "release.h"
#include "store.h"

enum keyd_login_status {
	KEYD_LOGIN_OK = 0,	/* session made: token, csrf filled */
	KEYD_LOGIN_MFA,		/* password right, second factor due: mfa_token filled */
	KEYD_LOGIN_BAD,		/* wrong address, password or code (same answer) */
	KEYD_LOGIN_LOCKED,	/* throttled: retry_after seconds */
	KEYD_LOGIN_BUSY,	/* password workers or store busy: try again */
	KEYD_LOGIN_INVALID,	/* malformed field: field names it */
	KEYD_LOGIN_ERROR,	/* internal error (logged) */
};
struct keyd_login {
	int status;
	const char *field;		/* KEYD_LOGIN_INVALID: the field's name */
	const char *why;		/* KEYD_LOGIN_INVALID: what is wrong */
	int64_t retry_after;
	char email[SP_STORE_EMAIL_MAX + 1];
	char token[64];			/* session token (OK) */
	char csrf[SP_STORE_CSRF_MAX + 1];
	char mfa_token[64];		/* MFA */
	int has_totp, npasskeys, nrecovery;
	int via_recovery;
};
/* Check email + password.  signin_token (may be NULL): a mailed sign-in
 * link's token; when valid, the per-client lock is skipped (the account's
 * own lock still holds).  On OK a session is made and its cookie set. */
void keyd_login_password(struct keyd_req *r, const char *email, const char *password,
    const char *signin_token, struct keyd_login *out);
/* Second step: mfa_token and one of code (TOTP), recovery (a recovery
 * code) or assertion (WebAuthn JSON object: id, clientDataJSON,
 * authenticatorData, signature, all base64url). */
void keyd_login_second(struct keyd_req *r, const char *mfa_token, const char *code,
    const char *recovery, void *assertion, struct keyd_login *out);
/* A session for email without a password step (an address just confirmed
 * by the short sign-up, keyd_signup.c; a remembered device,
 * keyd_device.c): out as after a right password (KEYD_LOGIN_OK with token
 * and csrf, the cookie set), or BUSY / ERROR.  how names the way in for
 * the audit record and the session's via ("signup", "device"); a "device"
 * session never counts as a recent password. */
void keyd_login_session(struct keyd_req *r, const char *email, const char *how,
    struct keyd_login *out);
void keyd_login_wipe(struct keyd_login *l);
/* The caller's session: bearer "sps_" token, or the session cookie (then
 * with want_csrf the X-CSRF-Token header or the csrf form field must match
 * the session's).  SP_ERR_AUTH when there is none, SP_ERR_DENIED on a
 * missing or wrong CSRF token. */
int keyd_session_auth(struct keyd_req *r, int want_csrf, struct sp_session *s,
    struct sp_err *err);
void keyd_set_session_cookie(struct keyd_req *r, const char *value, int clear);
/* How session s began, as the release checks weigh it: a remembered
 * device's session, or a password (with its second factor). */
enum sp_release_auth keyd_session_how(const struct sp_session *s);

#endif

/*
 * keyd_security.h - the signed-in recipient's security page and its
 * actions, and the passkey registration API (keyd_security.c).  Route
 * handlers (keyd_router.c).  Not a library interface.
 */
#ifndef KEYD_SECURITY_H
#define KEYD_SECURITY_H

#include "keyd_req.h"

/* /account and /account/...: sub is the rest of the path ("" or "/..."). */
enum MHD_Result keyd_page_account(struct keyd_req *r, const char *sub);
/* POST /api/v1/account/passkeys...: sub is the rest of the path ("" or
 * "/options"; anything else answers 404 after the session check). */
enum MHD_Result keyd_api_passkeys(struct keyd_req *r, const char *sub);
/* 1 when the session's password was typed in the last KEYD_REAUTH_AGE
 * seconds (a remembered device's session never is). */
int keyd_session_fresh(const struct sp_session *s);
/* Whether session s may write the profile now without typing the password
 * again: a fresh session always; a profile the short sign-up left owing
 * (todo) also from a session that began with the password, never from a
 * remembered device's alone (its cookie must not choose a reset's
 * questions). */
int keyd_profile_writable(const struct sp_session *s, int todo);

#endif

/*
 * keyd_account.h - the account pages without a session (keyd_account.c):
 * forgot password, reset, resend activation, sign-in link, sign-in and its
 * second step.  Route handlers (keyd_router.c): arg is unused ("").  Not a
 * library interface.
 */
#ifndef KEYD_ACCOUNT_H
#define KEYD_ACCOUNT_H

#include "keyd_req.h"

enum MHD_Result keyd_page_forgot(struct keyd_req *r, const char *arg);
enum MHD_Result keyd_page_reset(struct keyd_req *r, const char *arg);
enum MHD_Result keyd_page_resend(struct keyd_req *r, const char *arg);
enum MHD_Result keyd_page_signin_link(struct keyd_req *r, const char *arg);
enum MHD_Result keyd_page_signin(struct keyd_req *r, const char *arg);
/* POST /signin/second */
enum MHD_Result keyd_page_signin_mfa(struct keyd_req *r, const char *arg);

#endif

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
/* Issue a reset link for email and queue its mail, as the forgot page does
 * (not counted against the client: the caller does): within the address's
 * three mails an hour, or, when holder is 1 (the asking page proved that it
 * holds a message naming the address), within the three of such pages.
 * SP_OK whether or not the address has an account or a mail left.  Logs
 * "forgot" (with page, when not NULL: which page asked) or, unless the
 * store was only busy (SP_ERR_RETRY), "forgot-failed". */
int keyd_mail_reset(struct keyd_req *r, const char *email, int holder, const char *page,
    struct sp_err *err);
/* 1 when r's client has asked for too many account mails in a row (the
 * forgot, resend and sign-in link pages' count, the form throttle), with
 * r->retry_after set; this request counts. */
int keyd_mailreq_limited(struct keyd_req *r);

#endif

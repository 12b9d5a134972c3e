/*
 * keyd_pages.h - registration and address confirmation pages
 * (keyd_pages.c), and the security questions they offer.  Route handlers
 * (keyd_router.c): arg is unused ("").  Not a library interface.
 */
#ifndef KEYD_PAGES_H
#define KEYD_PAGES_H

#include "keyd_req.h"

extern const char *const keyd_questions[];	/* the security questions, 1-based in accounts */
extern const int keyd_nquestions;

/* GET/POST /register */
enum MHD_Result keyd_page_register(struct keyd_req *r, const char *arg);
/* GET/POST /activate */
enum MHD_Result keyd_page_activate(struct keyd_req *r, const char *arg);
/* A new account for email: every organisation with messages waiting for
 * it is told once (also after a confirmed short sign-up, keyd_signup.c). */
void keyd_notify_waiting(struct keyd *k, const char *email, int64_t now);

#endif

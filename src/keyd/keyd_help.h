/*
 * keyd_help.h - the short help page, GET /help (keyd_help.c), linked from
 * the notice mail, the envelope and the sign-in card.  Route handler
 * (keyd_router.c).  Not a library interface.
 */
#ifndef KEYD_HELP_H
#define KEYD_HELP_H

#include "keyd_req.h"

enum MHD_Result keyd_page_help(struct keyd_req *r, const char *arg);

#endif

/*
 * keyd_open.h - the public pages that need no account (keyd_open.c): the
 * open page (GET /open, POST /online), the portal's static files and the
 * home page.  Route handlers (keyd_router.c).  Not a library interface.
 */
#ifndef KEYD_OPEN_H
#define KEYD_OPEN_H

#include "keyd_req.h"

/* GET /open and POST /online (r->online): arg unused. */
enum MHD_Result keyd_page_open(struct keyd_req *r, const char *arg);
/* GET /static/NAME: name is NAME. */
enum MHD_Result keyd_static(struct keyd_req *r, const char *name);
/* GET /: arg unused. */
enum MHD_Result keyd_page_home(struct keyd_req *r, const char *arg);

#endif

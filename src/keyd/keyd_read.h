/*
 * keyd_read.h - reading a message in a browser that runs no script
 * (keyd_read.c): POST /read, where the key server decrypts one message
 * for one request.  Route handler (keyd_router.c).  Not a library
 * interface.
 */
#ifndef KEYD_READ_H
#define KEYD_READ_H

#include "keyd_req.h"

/* POST /read (r->online: an envelope form): arg unused. */
enum MHD_Result keyd_page_read(struct keyd_req *r, const char *arg);

#endif

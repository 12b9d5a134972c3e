/*
 * keyd_router.h - the routes of sealpost-keyd (keyd_router.c): one static
 * table of {methods, path, handler, flags}, matched in order.  Called by
 * the MHD access handler (keyd_http.c); calls the handlers.  Not a library
 * interface.
 */
#ifndef KEYD_ROUTER_H
#define KEYD_ROUTER_H

#include "keyd_req.h"

/* Flags of a route. */
#define KEYD_ROUTE_API		0x1	/* errors are JSON; the body is never form-decoded */
#define KEYD_ROUTE_ONLINE	0x2	/* the body is an envelope form, /online or /read
					 * (--max-envelope; fields h, c, s and id
					 * filtered to base64) */

#define KEYD_ROUTE_REPLY	0x8	/* a secure reply: the body may carry attachments
					 * (keyd_reply_body_cap of --max-reply-size) */
#define KEYD_ROUTE_STREAM	0x4	/* the body goes to the route's body hook as it
					 * arrives (--max-copy), never into r->body */
#define KEYD_ROUTE_WORKER	0x10	/* a POST runs on a worker (keyd_work.h): a
					 * password check, a decryption, a seal, a
					 * whole envelope written into a page */

/* A body hook: called once with data NULL before the body (it may answer
 * then), then with each piece; SP_ERR_TOOBIG makes the answer 413. */
typedef int keyd_body_fn(struct keyd_req *r, const char *data, size_t n);
/* The body hook of the route for method and url, or NULL. */
keyd_body_fn *keyd_route_body(const char *method, const char *url);

/* The flags of the route for method and url, known before the body
 * arrives: those of the route that serves them; KEYD_ROUTE_API alone when
 * the path is an API path that does not serve the method; 0 for a path no
 * route knows (answered as a page). */
unsigned keyd_route_flags(const char *method, const char *url);

/* Answer r (body complete, r->api set from keyd_route_flags()): the
 * route's handler; 405 with an Allow header when the path is known but the
 * method is not among its routes'; 404 when no route knows the path. */
enum MHD_Result keyd_route(struct keyd_req *r);

#endif

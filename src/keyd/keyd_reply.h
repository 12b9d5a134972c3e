/*
 * keyd_reply.h - secure reply, reply all and forward from the portal
 * (keyd_reply.c, docs/api.md "Replies", docs/decisions/
 * 0017-secure-reply.md): what a signed-in recipient may send, and the
 * sending itself: the key server builds the reply, seals it as an
 * envelope of the original's organisation into its own store, and hands
 * the sealed mail to its mail thread.  GET /api/v1/me too.  Not a library
 * interface.
 */
#ifndef KEYD_REPLY_H
#define KEYD_REPLY_H

#include "keyd_req.h"

/* GET /api/v1/envelopes/{id}/reply */
enum MHD_Result keyd_api_reply_get(struct keyd_req *r, const char *id);
/* POST /api/v1/envelopes/{id}/reply */
enum MHD_Result keyd_api_reply_post(struct keyd_req *r, const char *id);
/* GET /api/v1/me: the signed-in account's address, name and BCC default. */
enum MHD_Result keyd_api_me(struct keyd_req *r, const char *arg);

/* The body cap of the reply route for a key server whose
 * max_reply_size is max: the attachments in base64, the text escaped in
 * JSON, and room for the rest. */
size_t keyd_reply_body_cap(size_t max);

#endif

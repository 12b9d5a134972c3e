/*
 * keyd_copy.h - ciphertext copies on the key server (keyd_copy.c): the
 * sealer's upload (PUT /api/v1/envelopes/{id}/copy, streamed to a temporary
 * file while its SHA-256 is computed), a signed-in recipient's download
 * (GET .../copy and .../copy/data) and list (GET /api/v1/me/envelopes), the
 * deposit answer's offer, and deleting copies on retraction and expiry.
 * Not a library interface.
 */
#ifndef KEYD_COPY_H
#define KEYD_COPY_H

#include <jansson.h>

#include "keyd_req.h"
#include "store.h"

/* Open the blob store url (tmp files in DATA/tmp, created 0700) into
 * k->copies. */
int keyd_copies_open(struct keyd *k, const char *url, const char *data_dir,
    struct sp_err *err);

/* The deposit answer's "copy": {"keep_until","max"} when the organisation
 * keeps copies and the envelope is format 2, else null (a new reference). */
json_t *keyd_copy_offer(struct keyd *k, const struct sp_org *org,
    const struct sp_envelope_rec *e);

/* Delete envelope id's copy, if it has one (retraction as a whole);
 * failures are logged and left to the shred job. */
void keyd_copy_drop(struct keyd *k, const char *id, int64_t org_id, const char *actor);

/* The shred job's part: delete every copy that must go.  The number
 * deleted, or -1 on a failure (logged). */
int keyd_copies_purge(struct keyd *k);

/* Body hook of PUT .../copy (keyd_router.h): called once with data NULL
 * before the body (it may answer at once: then r->answered is set), then
 * with each piece.  Returns SP_OK, or SP_ERR_TOOBIG (over --max-copy: the
 * request is answered 413) or another status (500 at the end). */
int keyd_copy_body(struct keyd_req *r, const char *data, size_t n);

/* PUT /api/v1/envelopes/{id}/copy */
enum MHD_Result keyd_api_copy_put(struct keyd_req *r, const char *id);
/* GET /api/v1/envelopes/{id}/copy */
enum MHD_Result keyd_api_copy_meta(struct keyd_req *r, const char *id);
/* GET /api/v1/envelopes/{id}/copy/data */
enum MHD_Result keyd_api_copy_data(struct keyd_req *r, const char *id);
/* GET /api/v1/me/envelopes */
enum MHD_Result keyd_api_me_envelopes(struct keyd_req *r, const char *arg);
/* GET /messages: the message list page */
enum MHD_Result keyd_page_messages(struct keyd_req *r, const char *arg);

#endif

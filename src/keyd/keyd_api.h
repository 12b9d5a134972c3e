/*
 * keyd_api.h - the machine API of docs/api.md (keyd_api.c): key deposit,
 * log-in and its second step, the session, key release, the verification
 * secret, and /healthz.  The organisations' other routes are keyd_org.h's.
 * Route handlers (keyd_router.c): arg is what the route leaves of the path
 * (the envelope id for release, else "").  Not a library interface.
 */
#ifndef KEYD_API_H
#define KEYD_API_H

#include "keyd_req.h"

/* POST /api/v1/envelopes */
enum MHD_Result keyd_api_deposit(struct keyd_req *r, const char *arg);
/* POST /api/v1/session */
enum MHD_Result keyd_api_login(struct keyd_req *r, const char *arg);
/* GET /api/v1/session */
enum MHD_Result keyd_api_session(struct keyd_req *r, const char *arg);
/* DELETE /api/v1/session */
enum MHD_Result keyd_api_logout(struct keyd_req *r, const char *arg);
/* POST /api/v1/session/mfa */
enum MHD_Result keyd_api_login_second(struct keyd_req *r, const char *arg);
/* POST /api/v1/session/mfa/challenge */
enum MHD_Result keyd_api_mfa_challenge(struct keyd_req *r, const char *arg);
/* POST /api/v1/envelopes/{id}/release: arg is the id (not checked yet). */
enum MHD_Result keyd_api_release(struct keyd_req *r, const char *id);
/* POST /api/v1/envelopes/{id}/verify: arg is the id. */
enum MHD_Result keyd_api_verify(struct keyd_req *r, const char *id);
/* The check of POST .../verify on the calling thread (the page for
 * browsers without scripts): the normalised answer of recipient e->rcpt[ri]
 * to e's question, counted before it is checked, audited, the sender told
 * on the last wrong one.  SP_OK right; SP_ERR_AUTH wrong, *fails the wrong
 * answers so far (SP_STORE_VERIFY_TRIES: locked); else a store error or
 * SP_ERR_RETRY (the password workers were busy: not counted). */
int keyd_api_verify_check(struct keyd_req *r, const struct sp_envelope_rec *e, long ri,
    char *answer, int *fails);
/* GET /healthz: 200, or 503 while the key holder is down. */
enum MHD_Result keyd_api_healthz(struct keyd_req *r, const char *arg);

/* POST /api/v1/envelopes/{id}/seal (keyd_org.c): the checked seal's write
 * (digests and header, one durable write) is queued with the group commit
 * and the connection suspended; the answer (200, or 409 / 404 / a store
 * error) leaves once the write is durable or failed.  The handler first
 * calls keyd_api_seal_resumed(): 1 with *ans set when it was called again
 * for a queued write, 0 for a new request. */
enum MHD_Result keyd_api_seal_write(struct keyd_req *r, const struct sp_org *org,
    const char *id, const unsigned char hsha[SP_SHA256_LEN],
    const unsigned char csha[SP_SHA256_LEN], const unsigned char sig[64], const char *kid,
    const unsigned char *header, size_t len);
int keyd_api_seal_resumed(struct keyd_req *r, enum MHD_Result *ans);

/* How many connections wait, suspended, for their write to be durable. */
int keyd_api_waits(void);

#endif

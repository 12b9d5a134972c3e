/*
 * keyd_org.h - the organisations' side of the machine API (keyd_org.c):
 * the organisation token, its domains, and the routes only an
 * organisation uses: sealing a signed envelope's digests, retracting and
 * un-retracting, listing its envelopes, reading its audit chain; and the
 * public logo of an organisation.  Not a library interface.
 */
#ifndef KEYD_ORG_H
#define KEYD_ORG_H

#include "keyd_req.h"
#include "store.h"

/* The organisation of the request's "Authorization: Bearer spo_..." token.
 * 1 with *org filled; else 0 and *ans is the answer already queued: 401
 * naming what is wrong (missing, malformed, unknown or revoked token), or
 * 503/500 for the store. */
int keyd_org_auth(struct keyd_req *r, struct sp_org *org, enum MHD_Result *ans);
/* The domains of organisation org_id: *dv (n strings, each malloc'd; free
 * with keyd_strv_free()). */
int keyd_org_domains(struct keyd *k, int64_t org_id, char ***dv, size_t *n,
    struct sp_err *err);
void keyd_strv_free(char **v, size_t n);
/* The name shown for an organisation: its display name, else its name. */
const char *keyd_org_display(const struct sp_org *o);
/* 1 when the organisation has a signing key that is not retired. */
int keyd_org_has_live_key(struct keyd *k, int64_t org_id, int *has, struct sp_err *err);
/* A store failure as an answer: 503 busy for SP_ERR_RETRY, else 500
 * (logged). */
enum MHD_Result keyd_store_error(struct keyd_req *r, int st, const struct sp_err *err);

/* POST /api/v1/envelopes/{id}/seal */
enum MHD_Result keyd_api_seal(struct keyd_req *r, const char *id);
/* POST /api/v1/envelopes/{id}/retract and /unretract */
enum MHD_Result keyd_api_retract(struct keyd_req *r, const char *id);
enum MHD_Result keyd_api_unretract(struct keyd_req *r, const char *id);
/* GET /api/v1/envelopes?since=UNIX */
enum MHD_Result keyd_api_envelopes(struct keyd_req *r, const char *arg);
/* GET /api/v1/audit?since=UNIX */
enum MHD_Result keyd_api_audit(struct keyd_req *r, const char *arg);
/* GET /orgs/{id}/logo */
enum MHD_Result keyd_org_logo(struct keyd_req *r, const char *id);

#endif

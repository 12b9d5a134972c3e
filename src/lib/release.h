/*
 * release.h - the key release decision of the key server, as one pure
 * function: may this principal (a signed-in recipient, or an organisation)
 * have the server key part of this envelope now?  No store, no clock, no
 * I/O: the caller looks the principal and the envelope up and passes the
 * time, so every rule is a table row in tests/unit/release_test.c.
 *
 * Order of the checks (docs/api.md, "Release order of checks"):
 *   1. no principal                     SP_RELEASE_NOT_LOGGED_IN  401
 *   2. no envelope (unknown or bad id)  SP_RELEASE_UNKNOWN        404
 *   3. principal is not a recipient     SP_RELEASE_NOT_RECIPIENT  403
 *   4. retracted by its sender          SP_RELEASE_RETRACTED      410
 *   5. expired (expires != 0, <= now)   SP_RELEASE_EXPIRED        410
 * A caller that is not a recipient learns nothing about retraction or
 * expiry.
 *
 * Who is a recipient:
 *   - a recipient principal: its address equals one of the envelope's
 *     recipients, ASCII case folded (both sides are lower-case already:
 *     keyd folds addresses at deposit and at log-in);
 *   - an organisation: one of the envelope's recipients has, after its
 *     last '@', exactly the organisation's domain, ASCII case folded.
 *     Subdomains do not count (x@sub.clinic.example is not in
 *     clinic.example), nor do look-alikes (evil-clinic.example).  The
 *     organisation's id is not compared with the envelope's org_id: the
 *     domain alone decides, so an organisation may release what another
 *     organisation deposited for its people.
 * SECURITY: decides who gets a key part; every branch is unit tested.
 */
#ifndef SP_RELEASE_H
#define SP_RELEASE_H

#include <stdint.h>

#include "store.h"

/* Values are stable: only append. */
enum sp_release_reason {
	SP_RELEASE_OK = 0,
	SP_RELEASE_NOT_LOGGED_IN = 1,
	SP_RELEASE_UNKNOWN = 2,
	SP_RELEASE_NOT_RECIPIENT = 3,
	SP_RELEASE_RETRACTED = 4,
	SP_RELEASE_EXPIRED = 5,
};

enum sp_release_kind {
	SP_RELEASE_RECIPIENT = 1,	/* a signed-in address */
	SP_RELEASE_ORG = 2,		/* an organisation's token */
};

/* Who asks.  Strings are borrowed for the call. */
struct sp_release_principal {
	enum sp_release_kind kind;
	const char *email;	/* SP_RELEASE_RECIPIENT: the session's address */
	int64_t org_id;		/* SP_RELEASE_ORG: not part of the decision (see above) */
	const char *domain;	/* SP_RELEASE_ORG: the organisation's domain */
};

/* The decision for p (NULL: nobody authenticated) on envelope e (NULL:
 * unknown or malformed id) at time now (unix seconds).  A principal
 * without its address or domain (NULL or "") is nobody's recipient. */
enum sp_release_reason sp_release_check(const struct sp_release_principal *p,
    const struct sp_envelope_rec *e, int64_t now);

/* The HTTP status of a reason (200 for SP_RELEASE_OK) and, when msg is not
 * NULL, the sentence of the error answer (a static string). */
unsigned sp_release_status(enum sp_release_reason reason, const char **msg);

#endif

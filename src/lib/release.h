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
 *   3. principal may not have it        SP_RELEASE_NOT_RECIPIENT  403
 *   4. retracted by its sender          SP_RELEASE_RETRACTED      410
 *      (the whole envelope, or for a recipient that recipient)
 *   5. expired (expires != 0, <= now)   SP_RELEASE_EXPIRED        410
 *      or shredded (the key part is gone)
 *   3b. the envelope's level asks for   SP_RELEASE_PASSWORD_NEEDED 401
 *      more than the principal's proof (high: a recipient who came
 *      in with a remembered device only)
 *   6. a verification secret is asked   SP_RELEASE_VERIFY_LOCKED  423
 *      for and this recipient has not   (SP_STORE_VERIFY_TRIES wrong answers)
 *      proved it                        SP_RELEASE_VERIFY_NEEDED  409
 * A caller that may not have the envelope learns nothing about retraction,
 * expiry or verification.
 *
 * Who may have it:
 *   - a recipient principal: its address equals one of the envelope's
 *     recipients, ASCII case folded (both sides are lower-case already:
 *     keyd folds addresses at deposit and at log-in);
 *   - an organisation: the envelopes it deposited itself (e->org_id equals
 *     its id), and replies (kind SP_ENV_KIND_REPLY, sealed by the key
 *     server for a recipient) with a recipient whose domain (exactly the
 *     part after the last '@', ASCII case folded) is one of the
 *     organisation's domains.  Subdomains do not count (x@sub.clinic.example
 *     is not in clinic.example), nor do look-alikes (evil-clinic.example).
 *     A message another organisation deposited is never released to it,
 *     whatever its recipients' domains.
 * Levels (the envelope's, e->level; "" counts as medium): a recipient
 * principal says how it was authenticated (auth).  SP_RELEASE_AUTH_PASSWORD
 * (the password, with a second factor where the account has one) opens
 * every level; SP_RELEASE_AUTH_DEVICE (a remembered device) opens medium
 * and low; SP_RELEASE_AUTH_NONE (nobody signed in: email NULL) opens low
 * only, and only an envelope without a verification secret (that needs a
 * recipient); anything else for it is SP_RELEASE_NOT_LOGGED_IN.
 * Retraction for an organisation: its own envelope only when retracted as
 * a whole; a reply when retracted as a whole or for every recipient in
 * its domains.  Verification secrets concern recipients only.
 * SECURITY: decides who gets a key part; every branch is unit tested.
 */
#ifndef SP_RELEASE_H
#define SP_RELEASE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "store.h"

/* Values are stable: only append. */
enum sp_release_reason {
	SP_RELEASE_OK = 0,
	SP_RELEASE_NOT_LOGGED_IN = 1,
	SP_RELEASE_UNKNOWN = 2,
	SP_RELEASE_NOT_RECIPIENT = 3,
	SP_RELEASE_RETRACTED = 4,
	SP_RELEASE_EXPIRED = 5,
	SP_RELEASE_VERIFY_NEEDED = 6,
	SP_RELEASE_VERIFY_LOCKED = 7,
	SP_RELEASE_PASSWORD_NEEDED = 8,
};

/* How a recipient principal proved who it is.  Values are stable. */
enum sp_release_auth {
	SP_RELEASE_AUTH_PASSWORD = 0,	/* a password sign-in (the default) */
	SP_RELEASE_AUTH_DEVICE = 1,	/* a remembered device's session */
	SP_RELEASE_AUTH_NONE = 2,	/* nobody: a low-level envelope only */
};

enum sp_release_kind {
	SP_RELEASE_RECIPIENT = 1,	/* a signed-in address */
	SP_RELEASE_ORG = 2,		/* an organisation's token */
};

/* Who asks.  Strings are borrowed for the call. */
struct sp_release_principal {
	enum sp_release_kind kind;
	const char *email;	/* SP_RELEASE_RECIPIENT: the session's address */
	int64_t org_id;		/* SP_RELEASE_ORG: the organisation (0: none) */
	const char *domain;	/* SP_RELEASE_ORG: one domain (may be NULL) */
	const char *const *domains;	/* SP_RELEASE_ORG: more domains (ndomains) */
	size_t ndomains;
};

/* The short name of auth for the audit trail ("password", "device",
 * "none"). */
const char *sp_release_auth_name(enum sp_release_auth auth);

/* The decision for p (NULL: nobody authenticated) on envelope e (NULL:
 * unknown or malformed id) at time now (unix seconds).  A principal
 * without its address (NULL or "") is nobody's recipient; an organisation
 * with org_id 0 deposited nothing.  e->rstate may be NULL (no per-recipient
 * state: nothing retracted, opened or verified for anyone). */
enum sp_release_reason sp_release_check(const struct sp_release_principal *p,
    const struct sp_envelope_rec *e, int64_t now);
/* The same for a recipient principal that proved itself by auth (see
 * "Levels" above); sp_release_check() is this with a password sign-in. */
enum sp_release_reason sp_release_check_auth(const struct sp_release_principal *p,
    enum sp_release_auth auth, const struct sp_envelope_rec *e, int64_t now);

/* The index in e->rcpt of the recipient principal p (ASCII case folded),
 * or -1 when p is not a recipient principal or not a recipient of e. */
long sp_release_rcpt_index(const struct sp_release_principal *p,
    const struct sp_envelope_rec *e);

/* 1 when domain (ASCII case folded) is exactly the part of addr after its
 * last '@'. */
int sp_release_addr_in_domain(const char *addr, const char *domain);

/* The HTTP status of a reason (200 for SP_RELEASE_OK) and, when msg is not
 * NULL, the sentence of the error answer (a static string). */
unsigned sp_release_status(enum sp_release_reason reason, const char **msg);

/* The short name of a refusal for the "reason" of an answer ("retracted",
 * "expired", "verify-locked", "verify", "password"), or NULL for the
 * others. */
const char *sp_release_reason_name(enum sp_release_reason reason);

/* The JSON answer of a release (docs/api.md) of v's envelope with the key
 * part part[0..part_len), appended to out in one allocation: id,
 * server_part (base64url), from, recipients (those the envelope names:
 * never a hidden one, a blind copy), bcc (true when reader, the index in
 * v->e.rcpt of the recipient who asks or -1, is a hidden recipient),
 * created, expires, org (the
 * organisation's display name, else its name), format, level, kind,
 * header_sha256 and ct_sha256 (hex), sig (base64url) and kid (all null
 * unless sealed), sig_key (base64url; null unless v->have_key names a key
 * of the envelope's organisation), brand {name, colour (null when none),
 * logo (its URL, null when none)}.  Strings are escaped for JSON; a byte
 * that is not UTF-8 becomes U+FFFD.  SP_OK, or SP_ERR_NOMEM /
 * SP_ERR_TOOBIG from out (whose cap must hold the answer).  The key part
 * is in out: wipe it (sp_buf_wipe). */
int sp_release_answer(struct sp_buf *out, const struct sp_envelope_view *v, long reader,
    const unsigned char *part, size_t part_len);

/* 1 when recipient i of e is hidden (a blind copy: the envelope does not
 * name it, and no answer to another reader does). */
int sp_release_rcpt_hidden(const struct sp_envelope_rec *e, size_t i);

#endif

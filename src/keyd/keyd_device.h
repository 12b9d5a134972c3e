/*
 * keyd_device.h - remembered devices (keyd_device.c): "Remember this
 * device" at sign-in sets a long-lived device cookie; on that browser the
 * sign-in card shows the account's security phrase before the password is
 * typed, and a session without the password opens envelopes of level
 * medium and low (docs/decisions/0015-remembered-devices.md).  The
 * profile's list of devices and its "forget" action.  Not a library
 * interface.
 */
#ifndef KEYD_DEVICE_H
#define KEYD_DEVICE_H

#include "keyd_req.h"
#include "store.h"

#define KEYD_DEVICE_DAYS 90		/* a remembered device's life */

/* The device cookie's name for this server. */
const char *keyd_device_cookie(const struct keyd *k);
/* 1 when the JSON body of r asks to remember this browser
 * ("remember": true). */
int keyd_device_wanted(struct keyd_req *r);
/* Remember this browser for email: a new token (its SHA-256 stored, the
 * token in the cookie of the answer), with the audit record.  A failure is
 * logged and leaves the sign-in as it was. */
void keyd_device_remember(struct keyd_req *r, const char *email);
/* The live device of r's cookie into d: SP_OK, SP_ERR_AUTH when there is
 * none (no cookie, unknown, forgotten or expired), or a store error. */
int keyd_device_of(struct keyd_req *r, struct sp_device *d, struct sp_err *err);
/* Signing out on a remembered browser forgets it (else its device would
 * open a new session at once): when r's device belongs to email, it is
 * deleted and its cookie cleared. */
void keyd_device_forget_this(struct keyd_req *r, const char *email);
/* Clear the device cookie in the answer. */
void keyd_device_clear_cookie(struct keyd_req *r);

/* GET /api/v1/device: {"email", "phrase"} (phrase null when the account
 * shows none) for a valid device cookie, else 404 and nothing.
 * DELETE /api/v1/device: forget this browser (204). */
enum MHD_Result keyd_api_device(struct keyd_req *r, const char *arg);
enum MHD_Result keyd_api_device_forget(struct keyd_req *r, const char *arg);
/* POST /api/v1/session/device: a session from the device cookie, without
 * the password ({"session", "email", "csrf", "via": "device"}); 401 when
 * the browser is not remembered. */
enum MHD_Result keyd_api_device_session(struct keyd_req *r, const char *arg);

/* The profile's "Remembered devices" section into b for session s:
 * can_change adds a "Forget" button per device. */
void keyd_device_section(struct keyd_req *r, const struct sp_session *s, struct sp_buf *b,
    int can_change);
/* The profile's POST /account/devices/forget (field id): SP_OK, or
 * SP_ERR_NOTFOUND when s's account has no such device, or a store error. */
int keyd_device_forget(struct keyd_req *r, const struct sp_session *s);

#endif

/*
 * sp.h - status codes and error messages shared by every libsealpost module.
 *
 * Every library function that can fail returns an int status (SP_OK = 0 on
 * success) and, when the caller passes a non-NULL struct sp_err, a short
 * human-readable message that names the problem.  The library never logs,
 * never exits and never aborts on input.
 *
 * Status values are part of the ABI between modules: never renumber them,
 * only append.
 */
#ifndef SP_H
#define SP_H

#include <stddef.h>

enum sp_status {
	SP_OK = 0,
	SP_ERR_NOMEM = 1,	/* allocation failed */
	SP_ERR_INVALID = 2,	/* malformed input (parse error, bad argument) */
	SP_ERR_AUTH = 3,	/* authentication failed: tampered data, wrong key or password */
	SP_ERR_NOTFOUND = 4,	/* no such object */
	SP_ERR_TOOBIG = 5,	/* input over a configured limit */
	SP_ERR_IO = 6,		/* file or OS error */
	SP_ERR_RETRY = 7,	/* temporary failure: try again later (server down, busy) */
	SP_ERR_CONFIG = 8,	/* broken configuration */
	SP_ERR_DENIED = 9,	/* authenticated but not allowed */
	SP_ERR_EXISTS = 10,	/* object already exists */
	SP_ERR_EXPIRED = 11,	/* object expired or retracted */
	SP_ERR_INTERNAL = 12,	/* a bug or an unexpected library failure */
	SP_ERR_REPLAY = 13,	/* a one-time value seen again (used TOTP step, authenticator counter went back) */
};

struct sp_err {
	char msg[256];
};

/* Format a message into err (no-op when err is NULL).  Returns status, so a
 * caller can write: return sp_err_set(err, SP_ERR_INVALID, "bad %s", x); */
int sp_err_set(struct sp_err *err, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A static, lower-case name for a status ("ok", "invalid input", ...). */
const char *sp_status_str(int status);

/* Message in err, or the status name when err is empty or NULL. */
const char *sp_err_msg(const struct sp_err *err, int status);

#endif

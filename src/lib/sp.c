/*
 * sp.c - status names and error message formatting.
 */
#include "sp.h"

#include <stdarg.h>
#include <stdio.h>

int
sp_err_set(struct sp_err *err, int status, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return status;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return status;
}

const char *
sp_status_str(int status)
{
	switch (status) {
	case SP_OK: return "ok";
	case SP_ERR_NOMEM: return "out of memory";
	case SP_ERR_INVALID: return "invalid input";
	case SP_ERR_AUTH: return "authentication failed";
	case SP_ERR_NOTFOUND: return "not found";
	case SP_ERR_TOOBIG: return "too large";
	case SP_ERR_IO: return "i/o error";
	case SP_ERR_RETRY: return "temporary failure";
	case SP_ERR_CONFIG: return "configuration error";
	case SP_ERR_DENIED: return "permission denied";
	case SP_ERR_EXISTS: return "already exists";
	case SP_ERR_EXPIRED: return "expired or retracted";
	case SP_ERR_INTERNAL: return "internal error";
	case SP_ERR_REPLAY: return "replayed or cloned";
	}
	return "unknown status";
}

const char *
sp_err_msg(const struct sp_err *err, int status)
{
	if (err != NULL && err->msg[0] != '\0')
		return err->msg;
	return sp_status_str(status);
}

/*
 * release.c - the key release decision (release.h): recipient or
 * organisation domain match, then retraction, then expiry.
 * SECURITY: decides who gets a key part; pure, so it is tested row by row.
 */
#include <stddef.h>
#include <string.h>

#include "release.h"

static int
ascii_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* Equal ignoring ASCII case (no locale: the same answer in every program). */
static int
same_ascii_fold(const char *a, const char *b)
{
	for (; *a != '\0' && *b != '\0'; a++, b++)
		if (ascii_lower((unsigned char)*a) != ascii_lower((unsigned char)*b))
			return 0;
	return *a == *b;
}

static int
is_recipient(const struct sp_release_principal *p, const char *rcpt)
{
	const char *at;

	if (rcpt == NULL)
		return 0;
	if (p->kind == SP_RELEASE_RECIPIENT)
		return p->email != NULL && *p->email != '\0' && same_ascii_fold(rcpt, p->email);
	if (p->kind == SP_RELEASE_ORG) {
		at = strrchr(rcpt, '@');
		return at != NULL && p->domain != NULL && *p->domain != '\0' &&
		    same_ascii_fold(at + 1, p->domain);
	}
	return 0;
}

enum sp_release_reason
sp_release_check(const struct sp_release_principal *p, const struct sp_envelope_rec *e,
    int64_t now)
{
	size_t i;
	int ok = 0;

	if (p == NULL)
		return SP_RELEASE_NOT_LOGGED_IN;
	if (e == NULL)
		return SP_RELEASE_UNKNOWN;
	for (i = 0; i < e->nrcpt && !ok; i++)
		ok = is_recipient(p, e->rcpt[i]);
	if (!ok)
		return SP_RELEASE_NOT_RECIPIENT;
	if (e->retracted)
		return SP_RELEASE_RETRACTED;
	if (e->expires != 0 && e->expires <= now)
		return SP_RELEASE_EXPIRED;
	return SP_RELEASE_OK;
}

unsigned
sp_release_status(enum sp_release_reason reason, const char **msg)
{
	static const struct {
		unsigned status;
		const char *msg;
	} t[] = {
		[SP_RELEASE_OK] = {200, "released"},
		[SP_RELEASE_NOT_LOGGED_IN] = {401, "not logged in"},
		[SP_RELEASE_UNKNOWN] = {404, "unknown envelope"},
		[SP_RELEASE_NOT_RECIPIENT] = {403, "not a recipient of this envelope"},
		[SP_RELEASE_RETRACTED] = {410, "this message was retracted by its sender"},
		[SP_RELEASE_EXPIRED] = {410, "this message has expired"},
	};
	unsigned i = (unsigned)reason;

	if (i >= sizeof(t) / sizeof(t[0]) || t[i].msg == NULL) {
		if (msg != NULL)
			*msg = "internal error";
		return 500;
	}
	if (msg != NULL)
		*msg = t[i].msg;
	return t[i].status;
}

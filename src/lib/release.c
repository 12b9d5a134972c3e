/*
 * release.c - the key release decision (release.h): who may have the
 * envelope, then retraction (whole or per recipient), then expiry and
 * shredding, then the verification secret.
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

int
sp_release_addr_in_domain(const char *addr, const char *domain)
{
	const char *at;

	if (addr == NULL || domain == NULL || *domain == '\0' ||
	    (at = strrchr(addr, '@')) == NULL)
		return 0;
	return same_ascii_fold(at + 1, domain);
}

/* 1 when rcpt is in one of the organisation's domains. */
static int
in_org_domains(const struct sp_release_principal *p, const char *rcpt)
{
	size_t i;

	if (sp_release_addr_in_domain(rcpt, p->domain))
		return 1;
	for (i = 0; p->domains != NULL && i < p->ndomains; i++)
		if (sp_release_addr_in_domain(rcpt, p->domains[i]))
			return 1;
	return 0;
}

long
sp_release_rcpt_index(const struct sp_release_principal *p, const struct sp_envelope_rec *e)
{
	size_t i;

	if (p == NULL || e == NULL || p->kind != SP_RELEASE_RECIPIENT || p->email == NULL ||
	    *p->email == '\0')
		return -1;
	for (i = 0; i < e->nrcpt; i++)
		if (e->rcpt[i] != NULL && same_ascii_fold(e->rcpt[i], p->email))
			return (long)i;
	return -1;
}

static int
rcpt_retracted(const struct sp_envelope_rec *e, size_t i)
{
	return e->rstate != NULL && e->rstate[i].retracted;
}

enum sp_release_reason
sp_release_check(const struct sp_release_principal *p, const struct sp_envelope_rec *e,
    int64_t now)
{
	long ri = -1;
	size_t i;
	int ok = 0, live = 0;

	if (p == NULL)
		return SP_RELEASE_NOT_LOGGED_IN;
	if (e == NULL)
		return SP_RELEASE_UNKNOWN;
	if (p->kind == SP_RELEASE_RECIPIENT) {
		if ((ri = sp_release_rcpt_index(p, e)) < 0)
			return SP_RELEASE_NOT_RECIPIENT;
		live = !rcpt_retracted(e, (size_t)ri);
	} else if (p->kind == SP_RELEASE_ORG) {
		if (p->org_id != 0 && e->org_id == p->org_id) {
			ok = 1;
			live = 1;
		} else if (e->kind == SP_ENV_KIND_REPLY) {
			for (i = 0; i < e->nrcpt; i++)
				if (e->rcpt[i] != NULL && in_org_domains(p, e->rcpt[i])) {
					ok = 1;
					if (!rcpt_retracted(e, i))
						live = 1;
				}
		}
		if (!ok)
			return SP_RELEASE_NOT_RECIPIENT;
	} else
		return SP_RELEASE_NOT_RECIPIENT;
	if (e->retracted || !live)
		return SP_RELEASE_RETRACTED;
	if ((e->expires != 0 && e->expires <= now) || e->shredded != 0)
		return SP_RELEASE_EXPIRED;
	if (ri >= 0 && e->verify_hash[0] != '\0' &&
	    (e->rstate == NULL || !e->rstate[ri].verified)) {
		if (e->rstate != NULL && e->rstate[ri].verify_fails >= SP_STORE_VERIFY_TRIES)
			return SP_RELEASE_VERIFY_LOCKED;
		return SP_RELEASE_VERIFY_NEEDED;
	}
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
		[SP_RELEASE_RETRACTED] = {410, "This message was withdrawn by the sender"},
		[SP_RELEASE_EXPIRED] = {410, "This message has expired"},
		[SP_RELEASE_VERIFY_NEEDED] = {409, "the sender asks for a verification answer "
		    "before this message opens"},
		[SP_RELEASE_VERIFY_LOCKED] = {423, "too many wrong verification answers: ask the "
		    "sender to send the message again"},
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

const char *
sp_release_reason_name(enum sp_release_reason reason)
{
	switch (reason) {
	case SP_RELEASE_RETRACTED:
		return "retracted";
	case SP_RELEASE_EXPIRED:
		return "expired";
	case SP_RELEASE_VERIFY_LOCKED:
		return "verify-locked";
	case SP_RELEASE_VERIFY_NEEDED:
		return "verify";
	default:
		return NULL;
	}
}

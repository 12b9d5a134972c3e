/*
 * release_test.c - the key release decision (release.h), one table row per
 * rule: every reason, the order of the checks, case folding, expiry exactly
 * at now, organisations and look-alike or sub- domains.
 */
#include <stddef.h>
#include <string.h>

#include "release.h"
#include "t.h"

#define NOW ((int64_t)1700000000)

enum { NONE, PAT, PAT_UPPER, NOBODY, EMPTY_EMAIL, CLINIC, CLINIC_UPPER, EVIL, SUB_ORG,
	OTHER_ORG_ID, EMPTY_DOMAIN };

static const struct sp_release_principal principals[] = {
	[PAT] = {SP_RELEASE_RECIPIENT, "pat@clinic.example", 0, NULL},
	[PAT_UPPER] = {SP_RELEASE_RECIPIENT, "Pat@Clinic.EXAMPLE", 0, NULL},
	[NOBODY] = {SP_RELEASE_RECIPIENT, "sam@clinic.example", 0, NULL},
	[EMPTY_EMAIL] = {SP_RELEASE_RECIPIENT, "", 0, NULL},
	[CLINIC] = {SP_RELEASE_ORG, NULL, 7, "clinic.example"},
	[CLINIC_UPPER] = {SP_RELEASE_ORG, NULL, 7, "CLINIC.Example"},
	[EVIL] = {SP_RELEASE_ORG, NULL, 8, "evil-clinic.example"},
	[SUB_ORG] = {SP_RELEASE_ORG, NULL, 9, "sub.clinic.example"},
	[OTHER_ORG_ID] = {SP_RELEASE_ORG, NULL, 99, "clinic.example"},
	[EMPTY_DOMAIN] = {SP_RELEASE_ORG, NULL, 7, ""},
};

static const struct {
	const char *what;
	int who;			/* NONE: no principal */
	int envelope;			/* 0: none (unknown id) */
	const char *rcpt[3];		/* recipients, NULL-terminated */
	int retracted;
	int64_t expires;
	enum sp_release_reason want;
	unsigned status;
} cases[] = {
	{"recipient", PAT, 1, {"pat@clinic.example"}, 0, 0, SP_RELEASE_OK, 200},
	{"recipient among others", PAT, 1, {"a@x.example", "pat@clinic.example"}, 0, 0,
	    SP_RELEASE_OK, 200},
	{"recipient, address in another case", PAT_UPPER, 1, {"pat@clinic.example"}, 0, 0,
	    SP_RELEASE_OK, 200},
	{"not a recipient", NOBODY, 1, {"pat@clinic.example"}, 0, 0,
	    SP_RELEASE_NOT_RECIPIENT, 403},
	{"empty address is nobody", EMPTY_EMAIL, 1, {"pat@clinic.example"}, 0, 0,
	    SP_RELEASE_NOT_RECIPIENT, 403},
	{"recipient by domain alone is not enough", PAT, 1, {"other@clinic.example"}, 0, 0,
	    SP_RELEASE_NOT_RECIPIENT, 403},
	{"no principal", NONE, 1, {"pat@clinic.example"}, 0, 0, SP_RELEASE_NOT_LOGGED_IN, 401},
	{"unknown envelope", PAT, 0, {NULL}, 0, 0, SP_RELEASE_UNKNOWN, 404},
	{"no principal before unknown envelope", NONE, 0, {NULL}, 0, 0,
	    SP_RELEASE_NOT_LOGGED_IN, 401},
	{"retracted", PAT, 1, {"pat@clinic.example"}, 1, 0, SP_RELEASE_RETRACTED, 410},
	{"expired", PAT, 1, {"pat@clinic.example"}, 0, NOW - 1, SP_RELEASE_EXPIRED, 410},
	{"expires exactly now: expired", PAT, 1, {"pat@clinic.example"}, 0, NOW,
	    SP_RELEASE_EXPIRED, 410},
	{"expires a second from now", PAT, 1, {"pat@clinic.example"}, 0, NOW + 1,
	    SP_RELEASE_OK, 200},
	{"expires 0: never", PAT, 1, {"pat@clinic.example"}, 0, 0, SP_RELEASE_OK, 200},
	/* order: recipient before retracted before expired */
	{"non-recipient learns nothing of retraction", NOBODY, 1, {"pat@clinic.example"}, 1,
	    NOW - 1, SP_RELEASE_NOT_RECIPIENT, 403},
	{"retracted before expired", PAT, 1, {"pat@clinic.example"}, 1, NOW - 1,
	    SP_RELEASE_RETRACTED, 410},
	/* organisations: the whole domain after the last '@' */
	{"org of a recipient's domain", CLINIC, 1, {"a@x.example", "pat@clinic.example"}, 0, 0,
	    SP_RELEASE_OK, 200},
	{"org domain in another case", CLINIC_UPPER, 1, {"pat@clinic.example"}, 0, 0,
	    SP_RELEASE_OK, 200},
	{"org domain against a recipient in another case", CLINIC, 1, {"pat@CLINIC.example"},
	    0, 0, SP_RELEASE_OK, 200},
	{"org id does not decide", OTHER_ORG_ID, 1, {"pat@clinic.example"}, 0, 0,
	    SP_RELEASE_OK, 200},
	{"org with a look-alike domain", EVIL, 1, {"pat@clinic.example"}, 0, 0,
	    SP_RELEASE_NOT_RECIPIENT, 403},
	{"look-alike the other way round", CLINIC, 1, {"pat@evil-clinic.example"}, 0, 0,
	    SP_RELEASE_NOT_RECIPIENT, 403},
	{"subdomain recipient is not the org's", CLINIC, 1, {"x@sub.clinic.example"}, 0, 0,
	    SP_RELEASE_NOT_RECIPIENT, 403},
	{"parent domain recipient is not the subdomain org's", SUB_ORG, 1,
	    {"pat@clinic.example"}, 0, 0, SP_RELEASE_NOT_RECIPIENT, 403},
	{"subdomain org and its own recipient", SUB_ORG, 1, {"x@sub.clinic.example"}, 0, 0,
	    SP_RELEASE_OK, 200},
	{"domain suffix is not a domain", CLINIC, 1, {"pat@xclinic.example"}, 0, 0,
	    SP_RELEASE_NOT_RECIPIENT, 403},
	{"the last '@' counts", CLINIC, 1, {"\"a@clinic.example\"@evil.example"}, 0, 0,
	    SP_RELEASE_NOT_RECIPIENT, 403},
	{"empty org domain is nobody's", EMPTY_DOMAIN, 1, {"pat@clinic.example"}, 0, 0,
	    SP_RELEASE_NOT_RECIPIENT, 403},
	{"org: retracted", CLINIC, 1, {"pat@clinic.example"}, 1, 0, SP_RELEASE_RETRACTED, 410},
	{"org: expired", CLINIC, 1, {"pat@clinic.example"}, 0, NOW, SP_RELEASE_EXPIRED, 410},
	{"no recipients at all", PAT, 1, {NULL}, 0, 0, SP_RELEASE_NOT_RECIPIENT, 403},
};

static void
test_table(void)
{
	size_t i, n;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sp_envelope_rec e;
		char *rc[3];
		enum sp_release_reason got;

		memset(&e, 0, sizeof(e));
		for (n = 0; n < 3 && cases[i].rcpt[n] != NULL; n++)
			rc[n] = (char *)cases[i].rcpt[n];
		e.rcpt = rc;
		e.nrcpt = n;
		e.org_id = 7;
		e.retracted = cases[i].retracted;
		e.expires = cases[i].expires;
		got = sp_release_check(cases[i].who == NONE ? NULL : &principals[cases[i].who],
		    cases[i].envelope ? &e : NULL, NOW);
		if (got != cases[i].want)
			fprintf(stderr, "case \"%s\":\n", cases[i].what);
		T_EQ_INT(got, cases[i].want);
		T_EQ_INT(sp_release_status(got, NULL), cases[i].status);
	}
}

static void
test_status(void)
{
	static const struct {
		enum sp_release_reason r;
		unsigned status;
		const char *msg;
	} st[] = {
		{SP_RELEASE_OK, 200, "released"},
		{SP_RELEASE_NOT_LOGGED_IN, 401, "not logged in"},
		{SP_RELEASE_UNKNOWN, 404, "unknown envelope"},
		{SP_RELEASE_NOT_RECIPIENT, 403, "not a recipient of this envelope"},
		{SP_RELEASE_RETRACTED, 410, "this message was retracted by its sender"},
		{SP_RELEASE_EXPIRED, 410, "this message has expired"},
		{(enum sp_release_reason)99, 500, "internal error"},
	};
	size_t i;

	for (i = 0; i < sizeof(st) / sizeof(st[0]); i++) {
		const char *msg = NULL;

		T_EQ_INT(sp_release_status(st[i].r, &msg), st[i].status);
		T_CHECK(msg != NULL && strcmp(msg, st[i].msg) == 0);
	}
}

T_MAIN(test_table, test_status)

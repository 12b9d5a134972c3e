/*
 * release_test.c - the key release decision (release.h), one table row per
 * rule: every reason, the order of the checks, case folding, expiry exactly
 * at now, shredding, per-recipient retraction, verification secrets, and
 * organisations: their own envelopes, replies in their domains, never
 * another organisation's message, look-alike or sub- domains; and the
 * answer's JSON text (fields, nulls, escaping, the signing key's owner).
 */
#include <jansson.h>
#include <stddef.h>
#include <string.h>

#include "release.h"
#include "t.h"

#define NOW ((int64_t)1700000000)
#define DEPOSITOR 7		/* the org_id of every envelope in the table */

enum { NONE, PAT, PAT_UPPER, NOBODY, EMPTY_EMAIL, SAM, CLINIC, CLINIC_UPPER, EVIL, SUB_ORG,
	OTHER_ORG, EMPTY_DOMAIN, ORG_ZERO, MULTI_DOMAIN, LIST_ONLY };

static const char *const multi[] = {"bank.example", "clinic.example"};
static const char *const list_only[] = {"clinic.example"};

static const struct sp_release_principal principals[] = {
	[PAT] = {SP_RELEASE_RECIPIENT, "pat@clinic.example", 0, NULL, NULL, 0},
	[PAT_UPPER] = {SP_RELEASE_RECIPIENT, "Pat@Clinic.EXAMPLE", 0, NULL, NULL, 0},
	[NOBODY] = {SP_RELEASE_RECIPIENT, "nobody@clinic.example", 0, NULL, NULL, 0},
	[EMPTY_EMAIL] = {SP_RELEASE_RECIPIENT, "", 0, NULL, NULL, 0},
	[SAM] = {SP_RELEASE_RECIPIENT, "sam@bank.example", 0, NULL, NULL, 0},
	[CLINIC] = {SP_RELEASE_ORG, NULL, 70, "clinic.example", NULL, 0},
	[CLINIC_UPPER] = {SP_RELEASE_ORG, NULL, 70, "CLINIC.Example", NULL, 0},
	[EVIL] = {SP_RELEASE_ORG, NULL, 8, "evil-clinic.example", NULL, 0},
	[SUB_ORG] = {SP_RELEASE_ORG, NULL, 9, "sub.clinic.example", NULL, 0},
	[OTHER_ORG] = {SP_RELEASE_ORG, NULL, DEPOSITOR, "other.example", NULL, 0},
	[EMPTY_DOMAIN] = {SP_RELEASE_ORG, NULL, 70, "", NULL, 0},
	[ORG_ZERO] = {SP_RELEASE_ORG, NULL, 0, "elsewhere.example", NULL, 0},
	[MULTI_DOMAIN] = {SP_RELEASE_ORG, NULL, 70, NULL, multi, 2},
	[LIST_ONLY] = {SP_RELEASE_ORG, NULL, 70, "", list_only, 1},
};

enum { MSG = SP_ENV_KIND_MESSAGE, REPLY = SP_ENV_KIND_REPLY };

/* rstate of a row: bit i of rr = recipient i retracted; of vv = verified;
 * fails = verify_fails of every recipient. */
static const struct {
	const char *what;
	int who;			/* NONE: no principal */
	int envelope;			/* 0: none (unknown id) */
	int kind;			/* MSG or REPLY */
	const char *rcpt[3];		/* recipients, NULL-terminated */
	int retracted;
	int64_t expires;
	int64_t shredded;
	unsigned rr, vv;
	int verify;			/* 1: a verification hash is set */
	int fails;
	int no_rstate;			/* 1: e.rstate NULL */
	enum sp_release_reason want;
	unsigned status;
} cases[] = {
	{"recipient", PAT, 1, MSG, {"pat@clinic.example"}, 0, 0, 0, 0, 0, 0, 0, 0,
	    SP_RELEASE_OK, 200},
	{"recipient among others", PAT, 1, MSG, {"a@x.example", "pat@clinic.example"}, 0, 0, 0,
	    0, 0, 0, 0, 0, SP_RELEASE_OK, 200},
	{"recipient, address in another case", PAT_UPPER, 1, MSG, {"pat@clinic.example"}, 0, 0,
	    0, 0, 0, 0, 0, 0, SP_RELEASE_OK, 200},
	{"recipient without per-recipient state", PAT, 1, MSG, {"pat@clinic.example"}, 0, 0, 0,
	    0, 0, 0, 0, 1, SP_RELEASE_OK, 200},
	{"not a recipient", NOBODY, 1, MSG, {"pat@clinic.example"}, 0, 0, 0, 0, 0, 0, 0, 0,
	    SP_RELEASE_NOT_RECIPIENT, 403},
	{"empty address is nobody", EMPTY_EMAIL, 1, MSG, {"pat@clinic.example"}, 0, 0, 0, 0, 0,
	    0, 0, 0, SP_RELEASE_NOT_RECIPIENT, 403},
	{"recipient by domain alone is not enough", PAT, 1, MSG, {"other@clinic.example"}, 0, 0,
	    0, 0, 0, 0, 0, 0, SP_RELEASE_NOT_RECIPIENT, 403},
	{"no principal", NONE, 1, MSG, {"pat@clinic.example"}, 0, 0, 0, 0, 0, 0, 0, 0,
	    SP_RELEASE_NOT_LOGGED_IN, 401},
	{"unknown envelope", PAT, 0, MSG, {NULL}, 0, 0, 0, 0, 0, 0, 0, 0, SP_RELEASE_UNKNOWN, 404},
	{"no principal before unknown envelope", NONE, 0, MSG, {NULL}, 0, 0, 0, 0, 0, 0, 0, 0,
	    SP_RELEASE_NOT_LOGGED_IN, 401},
	{"retracted", PAT, 1, MSG, {"pat@clinic.example"}, 1, 0, 0, 0, 0, 0, 0, 0,
	    SP_RELEASE_RETRACTED, 410},
	{"expired", PAT, 1, MSG, {"pat@clinic.example"}, 0, NOW - 1, 0, 0, 0, 0, 0, 0,
	    SP_RELEASE_EXPIRED, 410},
	{"expires exactly now: expired", PAT, 1, MSG, {"pat@clinic.example"}, 0, NOW, 0, 0, 0, 0,
	    0, 0, SP_RELEASE_EXPIRED, 410},
	{"expires a second from now", PAT, 1, MSG, {"pat@clinic.example"}, 0, NOW + 1, 0, 0, 0,
	    0, 0, 0, SP_RELEASE_OK, 200},
	{"expires 0: never", PAT, 1, MSG, {"pat@clinic.example"}, 0, 0, 0, 0, 0, 0, 0, 0,
	    SP_RELEASE_OK, 200},
	{"shredded counts as expired", PAT, 1, MSG, {"pat@clinic.example"}, 0, 0, NOW - 5, 0, 0,
	    0, 0, 0, SP_RELEASE_EXPIRED, 410},
	{"shredded with a future expiry still expired", PAT, 1, MSG, {"pat@clinic.example"}, 0,
	    NOW + 100, NOW - 5, 0, 0, 0, 0, 0, SP_RELEASE_EXPIRED, 410},
	/* order: recipient before retracted before expired before verification */
	{"non-recipient learns nothing of retraction", NOBODY, 1, MSG, {"pat@clinic.example"}, 1,
	    NOW - 1, 0, 0, 0, 1, 5, 0, SP_RELEASE_NOT_RECIPIENT, 403},
	{"retracted before expired", PAT, 1, MSG, {"pat@clinic.example"}, 1, NOW - 1, 0, 0, 0, 0,
	    0, 0, SP_RELEASE_RETRACTED, 410},
	{"expired before verification", PAT, 1, MSG, {"pat@clinic.example"}, 0, NOW - 1, 0, 0, 0,
	    1, 0, 0, SP_RELEASE_EXPIRED, 410},
	{"retracted before verification lock", PAT, 1, MSG, {"pat@clinic.example"}, 1, 0, 0, 0, 0,
	    1, 5, 0, SP_RELEASE_RETRACTED, 410},
	/* per-recipient retraction */
	{"retracted for this recipient", PAT, 1, MSG, {"a@x.example", "pat@clinic.example"}, 0, 0,
	    0, 2, 0, 0, 0, 0, SP_RELEASE_RETRACTED, 410},
	{"retracted for another recipient only", PAT, 1, MSG, {"a@x.example",
	    "pat@clinic.example"}, 0, 0, 0, 1, 0, 0, 0, 0, SP_RELEASE_OK, 200},
	{"non-recipient of a per-recipient retraction", NOBODY, 1, MSG, {"pat@clinic.example"}, 0,
	    0, 0, 1, 0, 0, 0, 0, SP_RELEASE_NOT_RECIPIENT, 403},
	/* verification secrets */
	{"verification needed", PAT, 1, MSG, {"pat@clinic.example"}, 0, 0, 0, 0, 0, 1, 0, 0,
	    SP_RELEASE_VERIFY_NEEDED, 409},
	{"verification needed after 4 wrong answers", PAT, 1, MSG, {"pat@clinic.example"}, 0, 0,
	    0, 0, 0, 1, SP_STORE_VERIFY_TRIES - 1, 0, SP_RELEASE_VERIFY_NEEDED, 409},
	{"verification locked after 5 wrong answers", PAT, 1, MSG, {"pat@clinic.example"}, 0, 0,
	    0, 0, 0, 1, SP_STORE_VERIFY_TRIES, 0, SP_RELEASE_VERIFY_LOCKED, 423},
	{"verification proved", PAT, 1, MSG, {"pat@clinic.example"}, 0, 0, 0, 0, 1, 1, 0, 0,
	    SP_RELEASE_OK, 200},
	{"proved by another recipient does not count", PAT, 1, MSG, {"a@x.example",
	    "pat@clinic.example"}, 0, 0, 0, 0, 1, 1, 0, 0, SP_RELEASE_VERIFY_NEEDED, 409},
	{"verification without per-recipient state", PAT, 1, MSG, {"pat@clinic.example"}, 0, 0,
	    0, 0, 0, 1, 0, 1, SP_RELEASE_VERIFY_NEEDED, 409},
	{"verification does not concern the depositing org", OTHER_ORG, 1, MSG,
	    {"pat@clinic.example"}, 0, 0, 0, 0, 0, 1, 5, 0, SP_RELEASE_OK, 200},
	/* organisations: their own envelopes */
	{"org: its own envelope", OTHER_ORG, 1, MSG, {"pat@clinic.example"}, 0, 0, 0, 0, 0, 0, 0,
	    0, SP_RELEASE_OK, 200},
	{"org: another org's message to its domain", CLINIC, 1, MSG, {"a@x.example",
	    "pat@clinic.example"}, 0, 0, 0, 0, 0, 0, 0, 0, SP_RELEASE_NOT_RECIPIENT, 403},
	{"org: another org's message, domain in another case", CLINIC_UPPER, 1, MSG,
	    {"pat@clinic.example"}, 0, 0, 0, 0, 0, 0, 0, 0, SP_RELEASE_NOT_RECIPIENT, 403},
	{"org: own envelope retracted", OTHER_ORG, 1, MSG, {"pat@clinic.example"}, 1, 0, 0, 0, 0,
	    0, 0, 0, SP_RELEASE_RETRACTED, 410},
	{"org: own envelope retracted for every recipient still its own", OTHER_ORG, 1, MSG,
	    {"pat@clinic.example"}, 0, 0, 0, 1, 0, 0, 0, 0, SP_RELEASE_OK, 200},
	{"org: own envelope expired", OTHER_ORG, 1, MSG, {"pat@clinic.example"}, 0, NOW, 0, 0, 0,
	    0, 0, 0, SP_RELEASE_EXPIRED, 410},
	{"org: own envelope shredded", OTHER_ORG, 1, MSG, {"pat@clinic.example"}, 0, 0, NOW, 0,
	    0, 0, 0, 0, SP_RELEASE_EXPIRED, 410},
	{"org id 0 owns nothing", ORG_ZERO, 1, MSG, {"pat@clinic.example"}, 0, 0, 0, 0, 0, 0, 0,
	    0, SP_RELEASE_NOT_RECIPIENT, 403},
	/* organisations: replies with a recipient in one of their domains */
	{"org: reply to its domain", CLINIC, 1, REPLY, {"a@x.example", "pat@clinic.example"}, 0,
	    0, 0, 0, 0, 0, 0, 0, SP_RELEASE_OK, 200},
	{"org: reply, domain in another case", CLINIC_UPPER, 1, REPLY, {"pat@clinic.example"}, 0,
	    0, 0, 0, 0, 0, 0, 0, SP_RELEASE_OK, 200},
	{"org: reply, recipient in another case", CLINIC, 1, REPLY, {"pat@CLINIC.example"}, 0, 0,
	    0, 0, 0, 0, 0, 0, SP_RELEASE_OK, 200},
	{"org: reply to its second domain", MULTI_DOMAIN, 1, REPLY, {"pat@clinic.example"}, 0, 0,
	    0, 0, 0, 0, 0, 0, SP_RELEASE_OK, 200},
	{"org: reply to its first domain", MULTI_DOMAIN, 1, REPLY, {"sam@bank.example"}, 0, 0, 0,
	    0, 0, 0, 0, 0, SP_RELEASE_OK, 200},
	{"org: domain only in the list", LIST_ONLY, 1, REPLY, {"pat@clinic.example"}, 0, 0, 0, 0,
	    0, 0, 0, 0, SP_RELEASE_OK, 200},
	{"org: reply to a domain it does not hold", MULTI_DOMAIN, 1, REPLY, {"x@other.example"},
	    0, 0, 0, 0, 0, 0, 0, 0, SP_RELEASE_NOT_RECIPIENT, 403},
	{"org: look-alike domain", EVIL, 1, REPLY, {"pat@clinic.example"}, 0, 0, 0, 0, 0, 0, 0, 0,
	    SP_RELEASE_NOT_RECIPIENT, 403},
	{"org: look-alike the other way round", CLINIC, 1, REPLY, {"pat@evil-clinic.example"}, 0,
	    0, 0, 0, 0, 0, 0, 0, SP_RELEASE_NOT_RECIPIENT, 403},
	{"org: subdomain recipient is not the org's", CLINIC, 1, REPLY, {"x@sub.clinic.example"},
	    0, 0, 0, 0, 0, 0, 0, 0, SP_RELEASE_NOT_RECIPIENT, 403},
	{"org: parent domain recipient is not the subdomain org's", SUB_ORG, 1, REPLY,
	    {"pat@clinic.example"}, 0, 0, 0, 0, 0, 0, 0, 0, SP_RELEASE_NOT_RECIPIENT, 403},
	{"org: subdomain org and its own recipient", SUB_ORG, 1, REPLY, {"x@sub.clinic.example"},
	    0, 0, 0, 0, 0, 0, 0, 0, SP_RELEASE_OK, 200},
	{"org: domain suffix is not a domain", CLINIC, 1, REPLY, {"pat@xclinic.example"}, 0, 0, 0,
	    0, 0, 0, 0, 0, SP_RELEASE_NOT_RECIPIENT, 403},
	{"org: the last '@' counts", CLINIC, 1, REPLY, {"\"a@clinic.example\"@evil.example"}, 0,
	    0, 0, 0, 0, 0, 0, 0, SP_RELEASE_NOT_RECIPIENT, 403},
	{"org: empty domain is nobody's", EMPTY_DOMAIN, 1, REPLY, {"pat@clinic.example"}, 0, 0, 0,
	    0, 0, 0, 0, 0, SP_RELEASE_NOT_RECIPIENT, 403},
	{"org: reply retracted", CLINIC, 1, REPLY, {"pat@clinic.example"}, 1, 0, 0, 0, 0, 0, 0, 0,
	    SP_RELEASE_RETRACTED, 410},
	{"org: reply retracted for its only recipient", CLINIC, 1, REPLY, {"a@x.example",
	    "pat@clinic.example"}, 0, 0, 0, 2, 0, 0, 0, 0, SP_RELEASE_RETRACTED, 410},
	{"org: reply retracted for another recipient only", CLINIC, 1, REPLY, {"a@x.example",
	    "pat@clinic.example"}, 0, 0, 0, 1, 0, 0, 0, 0, SP_RELEASE_OK, 200},
	{"org: reply, one of two recipients in its domain retracted", CLINIC, 1, REPLY,
	    {"pat@clinic.example", "sam@clinic.example"}, 0, 0, 0, 1, 0, 0, 0, 0, SP_RELEASE_OK,
	    200},
	{"org: reply expired", CLINIC, 1, REPLY, {"pat@clinic.example"}, 0, NOW, 0, 0, 0, 0, 0, 0,
	    SP_RELEASE_EXPIRED, 410},
	{"org: verification does not concern replies to the org", CLINIC, 1, REPLY,
	    {"pat@clinic.example"}, 0, 0, 0, 0, 0, 1, 0, 0, SP_RELEASE_OK, 200},
	/* a recipient of a reply is released as of a message */
	{"recipient of a reply", SAM, 1, REPLY, {"sam@bank.example"}, 0, 0, 0, 0, 0, 0, 0, 0,
	    SP_RELEASE_OK, 200},
	{"no recipients at all", PAT, 1, MSG, {NULL}, 0, 0, 0, 0, 0, 0, 0, 0,
	    SP_RELEASE_NOT_RECIPIENT, 403},
};

static void
test_table(void)
{
	size_t i, n;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sp_envelope_rec e;
		struct sp_envelope_rcpt rs[3];
		char *rc[3];
		enum sp_release_reason got;

		memset(&e, 0, sizeof(e));
		memset(rs, 0, sizeof(rs));
		for (n = 0; n < 3 && cases[i].rcpt[n] != NULL; n++) {
			rc[n] = (char *)cases[i].rcpt[n];
			rs[n].retracted = (cases[i].rr >> n) & 1;
			rs[n].verified = (cases[i].vv >> n) & 1;
			rs[n].verify_fails = cases[i].fails;
		}
		e.rcpt = rc;
		e.rstate = cases[i].no_rstate ? NULL : rs;
		e.nrcpt = n;
		e.org_id = DEPOSITOR;
		e.kind = cases[i].kind;
		e.retracted = cases[i].retracted;
		e.expires = cases[i].expires;
		e.shredded = cases[i].shredded;
		if (cases[i].verify)
			snprintf(e.verify_hash, sizeof(e.verify_hash), "$argon2id$v=19$m=65536,t=2,p=1$x$y");
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
		const char *name;
	} st[] = {
		{SP_RELEASE_OK, 200, "released", NULL},
		{SP_RELEASE_NOT_LOGGED_IN, 401, "not logged in", NULL},
		{SP_RELEASE_UNKNOWN, 404, "unknown envelope", NULL},
		{SP_RELEASE_NOT_RECIPIENT, 403, "not a recipient of this envelope", NULL},
		{SP_RELEASE_RETRACTED, 410, "This message was withdrawn by the sender", "retracted"},
		{SP_RELEASE_EXPIRED, 410, "This message has expired", "expired"},
		{SP_RELEASE_VERIFY_NEEDED, 409, NULL, "verify"},
		{SP_RELEASE_VERIFY_LOCKED, 423, NULL, "verify-locked"},
		{(enum sp_release_reason)99, 500, "internal error", NULL},
	};
	size_t i;

	for (i = 0; i < sizeof(st) / sizeof(st[0]); i++) {
		const char *msg = NULL, *name = sp_release_reason_name(st[i].r);

		T_EQ_INT(sp_release_status(st[i].r, &msg), st[i].status);
		T_CHECK(msg != NULL && (st[i].msg == NULL || strcmp(msg, st[i].msg) == 0));
		T_CHECK((name == NULL && st[i].name == NULL) ||
		    (name != NULL && st[i].name != NULL && strcmp(name, st[i].name) == 0));
	}
}

static void
test_index(void)
{
	char *rc[] = {"a@x.example", "pat@clinic.example"};
	struct sp_envelope_rec e;

	memset(&e, 0, sizeof(e));
	e.rcpt = rc;
	e.nrcpt = 2;
	T_EQ_INT(sp_release_rcpt_index(&principals[PAT], &e), 1);
	T_EQ_INT(sp_release_rcpt_index(&principals[PAT_UPPER], &e), 1);
	T_EQ_INT(sp_release_rcpt_index(&principals[NOBODY], &e), -1);
	T_EQ_INT(sp_release_rcpt_index(&principals[CLINIC], &e), -1);
	T_EQ_INT(sp_release_rcpt_index(NULL, &e), -1);
	T_CHECK(sp_release_addr_in_domain("a@Clinic.Example", "clinic.EXAMPLE"));
	T_CHECK(!sp_release_addr_in_domain("a@sub.clinic.example", "clinic.example"));
	T_CHECK(!sp_release_addr_in_domain("no-at", "clinic.example"));
	T_CHECK(!sp_release_addr_in_domain("a@clinic.example", ""));
	T_CHECK(!sp_release_addr_in_domain("a@clinic.example", NULL));
}

/* A string member of o, or NULL (also when it is JSON null). */
static const char *
jstr(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static json_t *
answer_json_for(const struct sp_envelope_view *v, long reader)
{
	static const unsigned char part[32] = {0xfb, 0xff, 1, 2, 3};
	struct sp_buf b;
	json_error_t je;
	json_t *j;

	sp_buf_init(&b, 1 << 20);
	T_EQ_INT(sp_release_answer(&b, v, reader, part, sizeof(part)), SP_OK);
	j = json_loadb((const char *)b.data, b.len, JSON_REJECT_DUPLICATES, &je);
	if (j == NULL)
		fprintf(stderr, "answer: %s: %.*s\n", je.text, (int)b.len, (const char *)b.data);
	T_CHECK(j != NULL);
	sp_buf_wipe(&b);
	return j;
}

static json_t *
answer_json(const struct sp_envelope_view *v)
{
	return answer_json_for(v, -1);
}

static void
test_answer(void)
{
	struct sp_envelope_view v;
	char *rc[] = {"pat@clinic.example", "sam@bank.example"};
	json_t *j, *br;

	memset(&v, 0, sizeof(v));
	snprintf(v.e.id, sizeof(v.e.id), "AAAAAAAAAAAAAAAAAAAAAA");
	snprintf(v.e.from, sizeof(v.e.from), "doc@clinic.example");
	v.e.rcpt = rc;
	v.e.nrcpt = 2;
	v.e.created = 1000;
	v.e.expires = 0;
	v.e.org_id = 7;
	snprintf(v.org.name, sizeof(v.org.name), "clinic");
	/* unsealed, no brand: nulls, the name shown */
	j = answer_json(&v);
	T_CHECK(strcmp(jstr(j, "id"), "AAAAAAAAAAAAAAAAAAAAAA") == 0);
	T_CHECK(strcmp(jstr(j, "server_part"), "-_8BAgMAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA") == 0);
	T_CHECK(strcmp(jstr(j, "from"), "doc@clinic.example") == 0);
	T_EQ_INT(json_array_size(json_object_get(j, "recipients")), 2);
	T_CHECK(strcmp(json_string_value(json_array_get(json_object_get(j, "recipients"), 1)),
	    "sam@bank.example") == 0);
	T_EQ_INT(json_integer_value(json_object_get(j, "created")), 1000);
	T_EQ_INT(json_integer_value(json_object_get(j, "expires")), 0);
	T_EQ_INT(json_integer_value(json_object_get(j, "format")), 1);
	T_CHECK(strcmp(jstr(j, "org"), "clinic") == 0);
	T_CHECK(strcmp(jstr(j, "level"), "medium") == 0);
	T_CHECK(strcmp(jstr(j, "kind"), "message") == 0);
	T_CHECK(json_is_null(json_object_get(j, "header_sha256")));
	T_CHECK(json_is_null(json_object_get(j, "ct_sha256")));
	T_CHECK(json_is_null(json_object_get(j, "sig")));
	T_CHECK(json_is_null(json_object_get(j, "kid")));
	T_CHECK(json_is_null(json_object_get(j, "sig_key")));
	br = json_object_get(j, "brand");
	T_CHECK(strcmp(jstr(br, "name"), "clinic") == 0);
	T_CHECK(json_is_null(json_object_get(br, "colour")));
	T_CHECK(json_is_null(json_object_get(br, "logo")));
	json_decref(j);

	/* sealed, branded with a name that needs escaping, a key of another
	 * organisation: no sig_key */
	v.e.sealed = 1;
	v.e.format = 2;
	v.e.kind = SP_ENV_KIND_REPLY;
	snprintf(v.e.level, sizeof(v.e.level), "high");
	memset(v.e.header_sha, 0xab, sizeof(v.e.header_sha));
	memset(v.e.ct_sha, 0x01, sizeof(v.e.ct_sha));
	memset(v.e.sig, 0xff, sizeof(v.e.sig));
	snprintf(v.e.kid, sizeof(v.e.kid), "kid12345678");
	snprintf(v.org.display, sizeof(v.org.display), "Dr \"Q\" \\ Caf\xc3\xa9\n\x01\xff!");
	snprintf(v.org.colour, sizeof(v.org.colour), "#102030");
	v.org.has_logo = 1;
	v.have_key = 1;
	v.key.org_id = 8;
	memset(v.key.pub, 0x42, sizeof(v.key.pub));
	j = answer_json(&v);
	T_CHECK(strcmp(jstr(j, "org"), "Dr \"Q\" \\ Caf\xc3\xa9\n\x01\xef\xbf\xbd!") == 0);
	T_EQ_INT(json_integer_value(json_object_get(j, "format")), 2);
	T_CHECK(strcmp(jstr(j, "level"), "high") == 0);
	T_CHECK(strcmp(jstr(j, "kind"), "reply") == 0);
	T_CHECK(strncmp(jstr(j, "header_sha256"), "abababab", 8) == 0 &&
	    strlen(jstr(j, "header_sha256")) == 64);
	T_CHECK(strncmp(jstr(j, "ct_sha256"), "0101", 4) == 0);
	T_CHECK(strlen(jstr(j, "sig")) == 86 && strncmp(jstr(j, "sig"), "____", 4) == 0);
	T_CHECK(strcmp(jstr(j, "kid"), "kid12345678") == 0);
	T_CHECK(json_is_null(json_object_get(j, "sig_key")));
	br = json_object_get(j, "brand");
	T_CHECK(strcmp(jstr(br, "name"), jstr(j, "org")) == 0);
	T_CHECK(strcmp(jstr(br, "colour"), "#102030") == 0);
	T_CHECK(strcmp(jstr(br, "logo"), "/orgs/7/logo") == 0);
	json_decref(j);

	/* the organisation's own key */
	v.key.org_id = 7;
	j = answer_json(&v);
	T_CHECK(jstr(j, "sig_key") != NULL && strncmp(jstr(j, "sig_key"), "QkJC", 4) == 0 &&
	    strlen(jstr(j, "sig_key")) == 43);
	json_decref(j);
	/* a key without a seal is never shown */
	v.e.sealed = 0;
	j = answer_json(&v);
	T_CHECK(json_is_null(json_object_get(j, "sig_key")));
	T_CHECK(json_is_false(json_object_get(j, "bcc")));
	T_CHECK(json_is_null(json_object_get(j, "kid")));
	json_decref(j);
}

/* Blind copies: no answer names a hidden recipient; the hidden reader
 * learns it is one. */
static void
test_answer_blind(void)
{
	struct sp_envelope_view v;
	char *rc[] = {"pat@clinic.example", "kim@bcc.example", "sam@bank.example",
	    "lee@bcc.example"};
	struct sp_envelope_rcpt rs[4] = {{0}};
	json_t *j, *to;
	long who;

	memset(&v, 0, sizeof(v));
	snprintf(v.e.id, sizeof(v.e.id), "AAAAAAAAAAAAAAAAAAAAAA");
	snprintf(v.e.from, sizeof(v.e.from), "doc@clinic.example");
	v.e.rcpt = rc;
	v.e.rstate = rs;
	v.e.nrcpt = 4;
	rs[1].hidden = rs[3].hidden = 1;
	T_CHECK(!sp_release_rcpt_hidden(&v.e, 0) && sp_release_rcpt_hidden(&v.e, 1) &&
	    !sp_release_rcpt_hidden(&v.e, 4));
	for (who = -1; who < 4; who++) {
		j = answer_json_for(&v, who);
		to = json_object_get(j, "recipients");
		T_EQ_INT(json_array_size(to), 2);
		T_CHECK(strcmp(json_string_value(json_array_get(to, 0)), "pat@clinic.example") == 0);
		T_CHECK(strcmp(json_string_value(json_array_get(to, 1)), "sam@bank.example") == 0);
		T_CHECK(json_is_boolean(json_object_get(j, "bcc")) &&
		    json_is_true(json_object_get(j, "bcc")) == (who == 1 || who == 3));
		json_decref(j);
	}
	/* every recipient a blind copy: an empty list */
	rs[0].hidden = rs[2].hidden = 1;
	j = answer_json_for(&v, 2);
	T_EQ_INT(json_array_size(json_object_get(j, "recipients")), 0);
	T_CHECK(json_is_true(json_object_get(j, "bcc")));
	json_decref(j);
	/* a hidden recipient still opens it */
	T_EQ_INT(sp_release_check(&(struct sp_release_principal){SP_RELEASE_RECIPIENT,
	    "kim@bcc.example", 0, NULL, NULL, 0}, &v.e, 10), SP_RELEASE_OK);
}

/* Levels: how the recipient signed in against the envelope's level. */
static void
test_levels(void)
{
	static const struct {
		const char *what;
		const char *level;
		enum sp_release_auth auth;
		const char *email;	/* NULL: nobody */
		int verify, retracted;
		enum sp_release_reason want;
		unsigned withdrawn;	/* per recipient: 1 pat, 2 kim */
	} t[] = {
		{"high, password", "high", SP_RELEASE_AUTH_PASSWORD, "pat@clinic.example", 0, 0,
		    SP_RELEASE_OK, 0},
		{"high, device", "high", SP_RELEASE_AUTH_DEVICE, "pat@clinic.example", 0, 0,
		    SP_RELEASE_PASSWORD_NEEDED, 0},
		{"high, device, not a recipient", "high", SP_RELEASE_AUTH_DEVICE,
		    "nobody@clinic.example", 0, 0, SP_RELEASE_NOT_RECIPIENT, 0},
		{"high, nobody", "high", SP_RELEASE_AUTH_NONE, NULL, 0, 0, SP_RELEASE_NOT_LOGGED_IN, 0},
		{"medium, device", "medium", SP_RELEASE_AUTH_DEVICE, "pat@clinic.example", 0, 0,
		    SP_RELEASE_OK, 0},
		{"medium, nobody", "medium", SP_RELEASE_AUTH_NONE, NULL, 0, 0,
		    SP_RELEASE_NOT_LOGGED_IN, 0},
		{"no level counts as medium, device", "", SP_RELEASE_AUTH_DEVICE,
		    "pat@clinic.example", 0, 0, SP_RELEASE_OK, 0},
		{"no level, nobody", "", SP_RELEASE_AUTH_NONE, NULL, 0, 0, SP_RELEASE_NOT_LOGGED_IN, 0},
		{"low, nobody", "low", SP_RELEASE_AUTH_NONE, NULL, 0, 0, SP_RELEASE_OK, 0},
		{"low, device", "low", SP_RELEASE_AUTH_DEVICE, "pat@clinic.example", 0, 0,
		    SP_RELEASE_OK, 0},
		{"low, nobody, verification asked", "low", SP_RELEASE_AUTH_NONE, NULL, 1, 0,
		    SP_RELEASE_NOT_LOGGED_IN, 0},
		{"low, nobody, retracted", "low", SP_RELEASE_AUTH_NONE, NULL, 0, 1,
		    SP_RELEASE_RETRACTED, 0},
		/* withdrawn from one recipient: whoever holds the mail must sign
		 * in, so that the withdrawn one is refused */
		{"low, nobody, withdrawn from kim", "low", SP_RELEASE_AUTH_NONE, NULL, 0, 0,
		    SP_RELEASE_NOT_LOGGED_IN, 2},
		{"low, pat signed in, withdrawn from kim", "low", SP_RELEASE_AUTH_DEVICE,
		    "pat@clinic.example", 0, 0, SP_RELEASE_OK, 2},
		{"low, kim signed in, withdrawn from kim", "low", SP_RELEASE_AUTH_PASSWORD,
		    "kim@clinic.example", 0, 0, SP_RELEASE_RETRACTED, 2},
		{"low, nobody, withdrawn from both", "low", SP_RELEASE_AUTH_NONE, NULL, 0, 0,
		    SP_RELEASE_RETRACTED, 3},
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct sp_envelope_rec e;
		struct sp_envelope_rcpt rs[2];
		char *rc[2] = {"pat@clinic.example", "kim@clinic.example"};
		struct sp_release_principal p = {SP_RELEASE_RECIPIENT, t[i].email, 0, NULL, NULL, 0};
		enum sp_release_reason got;

		memset(&e, 0, sizeof(e));
		memset(rs, 0, sizeof(rs));
		e.rcpt = rc;
		e.rstate = rs;
		e.nrcpt = 2;
		rs[0].retracted = (t[i].withdrawn & 1) != 0;
		rs[1].retracted = (t[i].withdrawn & 2) != 0;
		e.kind = SP_ENV_KIND_MESSAGE;
		e.retracted = t[i].retracted;
		snprintf(e.level, sizeof(e.level), "%s", t[i].level);
		if (t[i].verify)
			snprintf(e.verify_hash, sizeof(e.verify_hash), "$argon2id$x");
		got = sp_release_check_auth(&p, t[i].auth, &e, NOW);
		if (got != t[i].want)
			fprintf(stderr, "case \"%s\":\n", t[i].what);
		T_EQ_INT(got, t[i].want);
	}
	T_EQ_INT(sp_release_status(SP_RELEASE_PASSWORD_NEEDED, NULL), 401);
	T_CHECK(strcmp(sp_release_reason_name(SP_RELEASE_PASSWORD_NEEDED), "password") == 0);
	T_CHECK(strcmp(sp_release_auth_name(SP_RELEASE_AUTH_DEVICE), "device") == 0);
	T_CHECK(strcmp(sp_release_auth_name(SP_RELEASE_AUTH_NONE), "none") == 0);
	T_CHECK(strcmp(sp_release_auth_name(SP_RELEASE_AUTH_PASSWORD), "password") == 0);
}

T_MAIN(test_table, test_status, test_index, test_answer, test_answer_blind, test_levels)

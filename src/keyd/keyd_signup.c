/*
 * keyd_signup.c - the short sign-up (docs/decisions/0014-first-read.md): a
 * stranger on the open page's card gives the address the message was sent
 * to and a new password (POST /api/v1/signup), types the 6-digit code the
 * key server mails (POST /api/v1/signup/confirm) and is signed in, in the
 * same window, to read.  What registration used to ask besides (names,
 * security phrase, security questions) the account owes afterwards
 * (GET/POST /api/v1/account/profile).
 * SECURITY: the answer to a sign-up is the same, after the same work (one
 * Argon2id hash, one store transaction, one queued mail), whether or not
 * the address has an account: a new address gets its code, a known one a
 * mail that says someone tried and links to forgot-password.  The password
 * is stored only as its Argon2id hash, in a pending registration that
 * becomes the account when its code is typed.  The code is bound to the
 * sign-up handle that only the asking browser holds (128 random bits): the
 * stored token is SHA-256 over handle, address and code, so a code alone,
 * or a code typed elsewhere, opens nothing.  A handle allows
 * KEYD_SIGNUP_TRIES codes and an address 10 before a lock that grows to a
 * day, counted before each check; codes are mailed at most three an hour
 * to an address, and three more to a page that proves it holds a message
 * to that address (envelope_of: the mail part's holder tag, or a signed
 * envelope's ciphertext digest); sign-ups and code tries are limited per
 * client too.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto.h"
#include "field.h"
#include "keyd_account.h"
#include "keyd_lang.h"
#include "keyd_login.h"
#include "keyd_org.h"
#include "keyd_pages.h"
#include "keyd_security.h"
#include "keyd_signup.h"
#include "notice.h"
#include "password.h"

#define HANDLE_PREFIX "spu_"

/* A handle's wrong codes: the last allowed try locks it for longer than a
 * code lives, so the sign-up is dead and a new code must be asked for. */
static const struct sp_throttle_policy code_policy = {
	KEYD_SIGNUP_TRIES, KEYD_SIGNUP_TTL, KEYD_SIGNUP_TTL, KEYD_SIGNUP_TTL, 1,
};
/* An address's codes, over all its sign-ups: 10 tries, then a lock from
 * 15 minutes doubling to a day, remembered a week.  A stranger guessing
 * the codes mailed to someone else's address gets a few hundred tries a
 * year (decision 14). */
static const struct sp_throttle_policy address_policy = {
	10, 15 * 60, 24 * 60 * 60, 7 * 24 * 60 * 60, 0,
};

static const char busy[] = "api.busy";

/* The string member name of j: NULL when absent; *bad 1 when it is there
 * but not a string, or holds a NUL byte. */
static const char *
member(json_t *j, const char *name, int *bad)
{
	json_t *v = json_object_get(j, name);
	const char *s;

	*bad = 0;
	if (v == NULL || json_is_null(v))
		return NULL;
	if ((s = json_string_value(v)) == NULL || strlen(s) != json_string_length(v)) {
		*bad = 1;
		return NULL;
	}
	return s;
}

/* The body of a JSON post from this site: NULL with *ans the refusal. */
static json_t *
post_body(struct keyd_req *r, enum MHD_Result *ans)
{
	json_t *j;
	char key[32];

	if (keyd_cross_site(r)) {
		*ans = keyd_reply_error(r, 403, "api.cross_site");
		return NULL;
	}
	if (keyd_json_bad_utf8(r, key)) {
		*ans = key[0] ? keyd_reply_field(r, key, "api.not_utf8_field") :
		    keyd_reply_error(r, 400, "api.not_utf8");
		return NULL;
	}
	if ((j = keyd_json_body(r, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL)) == NULL)
		*ans = keyd_reply_error(r, 400, "api.not_object");
	return j;
}

/* Count one attempt under key; 0 with *ans the refusal (429 or 503). */
static int
counted(struct keyd_req *r, const char *key, const struct sp_throttle_policy *p,
    const char *msg, enum MHD_Result *ans)
{
	struct sp_err err = {{0}};
	int64_t until = 0, now = (int64_t)time(NULL);
	int st = sp_store_throttle_begin(r->k->store, key, now, p, &until, &err);

	if (st != SP_OK) {
		*ans = keyd_store_error(r, st, &err);
		return 0;
	}
	if (until > now) {
		r->retry_after = until - now;
		*ans = keyd_reply_json(r, 429, json_pack("{s:s,s:s,s:I}", "error", keyd_tmsg(r, msg),
		    "reason", msg, "retry_after", (json_int_t)(until - now)));
		return 0;
	}
	return 1;
}

/* SHA-256 over the handle, the address and the code: the stored
 * activation token. */
static void
signup_token(const char *handle, const char *email, const char *code,
    unsigned char out[SP_SHA256_LEN])
{
	char buf[SP_STORE_EMAIL_MAX + 128];
	int n = snprintf(buf, sizeof(buf), "sealpost-signup\n%s\n%s\n%s", handle, email, code);

	sp_sha256(buf, (size_t)n, out);
	sp_wipe(buf, sizeof(buf));
}

/* KEYD_SIGNUP_CODE_LEN decimal digits, uniform. */
static int
new_code(char out[KEYD_SIGNUP_CODE_LEN + 1])
{
	uint32_t v;

	do {
		if (sp_random(&v, sizeof(v)) != SP_OK)
			return SP_ERR_IO;
	} while (v >= 4294000000u);	/* a multiple of 10^6: no bias */
	snprintf(out, KEYD_SIGNUP_CODE_LEN + 1, "%06u", (unsigned)(v % 1000000u));
	sp_wipe(&v, sizeof(v));
	return SP_OK;
}

int
keyd_holds_mail(struct keyd_req *r, const char *id, const unsigned char *tag,
    const unsigned char *ct_sha, const char *email, char org[SP_STORE_NAME_MAX + 1])
{
	struct sp_envelope_rec e;
	unsigned char want[SP_SHA256_LEN];
	size_t i;
	int holds = 0, named = 0;

	if (org != NULL)
		org[0] = '\0';
	if (id == NULL || !keyd_valid_id(id) ||
	    sp_store_envelope_get(r->k->store, id, &e, NULL) != SP_OK)
		return 0;
	if (org != NULL)
		snprintf(org, SP_STORE_NAME_MAX + 1, "%s", e.org_name);
	/* the same work whether or not the address is a recipient: its time
	 * tells no one who holds an id whether an address is a blind copy */
	if (tag != NULL && sp_store_envelope_holder(r->k->store, id, want, NULL) == SP_OK)
		holds = sp_ct_eq(tag, want, sizeof(want));
	if (ct_sha != NULL && e.sealed)
		holds |= sp_ct_eq(ct_sha, e.ct_sha, SP_SHA256_LEN);
	/* named recipients only: a blind copy's own budget would let a named
	 * recipient, who holds the same mail, learn that the address is one
	 * (its answer would differ from a stranger's) */
	for (i = 0; i < e.nrcpt; i++)
		named |= strcmp(e.rcpt[i], email) == 0 && (e.rstate == NULL || !e.rstate[i].hidden);
	sp_envelope_rec_clear(&e);
	return holds && named;
}

/* keyd_holds_mail with the proof as a page sends it: the holder tag in
 * base64url, the ciphertext's digest in hex (malformed ones count as
 * absent). */
static int
envelope_of(struct keyd_req *r, const char *id, const char *tag_b64, const char *ct_hex,
    const char *email, char org[SP_STORE_NAME_MAX + 1])
{
	unsigned char tag[SP_SHA256_LEN], ct[SP_SHA256_LEN];
	int have_tag = tag_b64 != NULL &&
	    sp_b64url_decode_exact(tag_b64, strlen(tag_b64), tag, sizeof(tag)) == SP_OK;
	int have_ct = ct_hex != NULL &&
	    sp_hex_decode_exact(ct_hex, strlen(ct_hex), ct, sizeof(ct)) == SP_OK;

	return keyd_holds_mail(r, id, have_tag ? tag : NULL, have_ct ? ct : NULL, email, org);
}

/* The body of a sign-up or forgot-password post and its address, lower
 * case, into email: NULL with *ans the refusal. */
static json_t *
email_body(struct keyd_req *r, char email[SP_STORE_EMAIL_MAX + 1], enum MHD_Result *ans)
{
	const char *e;
	int bad;
	json_t *j;

	if ((j = post_body(r, ans)) == NULL)
		return NULL;
	e = member(j, "email", &bad);
	if (bad || e == NULL || keyd_email_lower(e, email, SP_STORE_EMAIL_MAX + 1) != SP_OK) {
		json_decref(j);
		*ans = keyd_reply_field(r, "email", "api.email_invalid");
		return NULL;
	}
	return j;
}

/* envelope_of with the members id, holder and ct_sha256 of j (malformed
 * ones count as absent); org may be NULL. */
static int
proof_in(struct keyd_req *r, json_t *j, const char *email, char org[SP_STORE_NAME_MAX + 1])
{
	int bad, bad_ct, bad_tag;
	const char *id = member(j, "id", &bad);
	const char *ct = member(j, "ct_sha256", &bad_ct);
	const char *tag = member(j, "holder", &bad_tag);

	return envelope_of(r, bad ? NULL : id, bad_tag ? NULL : tag, bad_ct ? NULL : ct, email, org);
}

/* Store the sign-up (or, for a known address, note the attempt) and queue
 * its mail.  The same work either way. */
static int
signup_store(struct keyd_req *r, const char *email, const char *pw, const char *handle,
    struct sp_err *err)
{
	struct sp_account acc;
	struct sp_audit a;
	unsigned char th[SP_SHA256_LEN];
	char code[KEYD_SIGNUP_CODE_LEN + 1];
	int64_t now = (int64_t)time(NULL);
	int st;

	memset(&acc, 0, sizeof(acc));
	snprintf(acc.email, sizeof(acc.email), "%s", email);
	snprintf(acc.language, sizeof(acc.language), "%s", keyd_lang(r));
	acc.created = now;
	acc.profile_todo = 1;
	sp_sha256(handle, strlen(handle), acc.bind_hash);
	if ((st = sp_password_hash(pw, acc.pw_hash, err)) != SP_OK || (st = new_code(code)) != SP_OK) {
		sp_wipe(&acc, sizeof(acc));
		return st;
	}
	signup_token(handle, email, code, th);
	a = (struct sp_audit){now, "signup", email, NULL, r->client, NULL, 0};
	st = sp_store_pending_add(r->k->store, &acc, th, now + KEYD_SIGNUP_TTL, &a, err);
	sp_wipe(&acc, sizeof(acc));
	if (st == SP_OK)
		keyd_notice_lang(r->k, keyd_lang(r), SP_NOTICE_SIGNUP_CODE, email, code,
		    "notice.ttl.15m", NULL);
	else if (st == SP_ERR_EXISTS) {
		a = (struct sp_audit){now, "signup-existing", email, NULL, r->client, NULL, 0};
		sp_store_audit(r->k->store, &a, NULL);
		keyd_notice(r->k, SP_NOTICE_EXISTS, email, NULL, NULL, NULL);
		st = SP_OK;
	}
	sp_wipe(code, sizeof(code));
	return st;
}

enum MHD_Result
keyd_api_signup(struct keyd_req *r, const char *arg)
{
	struct sp_err err = {{0}};
	struct sp_pw_context ctx = {NULL, NULL};
	enum MHD_Result ans;
	char email[SP_STORE_EMAIL_MAX + 1], org[SP_STORE_NAME_MAX + 1], key[SP_STORE_EMAIL_MAX + 16];
	char handle[64], sent[SP_STORE_EMAIL_MAX + 64];
	const char *pw, *pw2;
	int bad, st, holder;
	json_t *j;

	if ((j = email_body(r, email, &ans)) == NULL)
		return ans;
	pw = member(j, "password", &bad);
	if (bad || pw == NULL || *pw == '\0' || strlen(pw) > SP_PW_MAX_BYTES) {
		json_decref(j);
		return keyd_reply_field(r, "password", bad ? "api.no_nul" :
		    pw != NULL && *pw != '\0' ? "api.too_long" :
		    "api.pw_min");
	}
	pw2 = member(j, "password2", &bad);
	if (bad || (pw2 != NULL && strcmp(pw, pw2) != 0)) {
		json_decref(j);
		return keyd_reply_field(r, "password2", "api.pw_mismatch");
	}
	holder = proof_in(r, j, email, org);
	ctx.email = email;
	ctx.org = org[0] ? org : NULL;
	if (sp_password_check(pw, &ctx, &err) != SP_OK) {
		json_decref(j);
		return keyd_reply_field(r, "password", err.msg);
	}
	snprintf(key, sizeof(key), "signup:%s", r->client_key);
	if (!counted(r, key, &r->k->thr_form, "api.too_many_signups", &ans)) {
		json_decref(j);
		return ans;
	}
	/* Codes and "you have an account" notes alike: three mails an hour,
	 * and three more to a page that holds a message to the address. */
	snprintf(key, sizeof(key), "%s:%s", holder ? "mail-holder" : "mail", email);
	if (!counted(r, key, &r->k->thr_mail, "api.codes_sent", &ans)) {
		json_decref(j);
		return ans;
	}
	if (sp_token_new(handle, sizeof(handle), HANDLE_PREFIX, 16) != SP_OK) {
		json_decref(j);
		return keyd_reply_error(r, 500, "err.internal");
	}
	st = signup_store(r, email, pw, handle, &err);
	json_decref(j);
	if (st != SP_OK) {
		sp_wipe(handle, sizeof(handle));
		if (st == SP_ERR_RETRY)
			return keyd_reply_error(r, 503, busy);
		keyd_log("signup-failed", "error", sp_err_msg(&err, st), NULL);
		return keyd_reply_error(r, 500, "err.internal");
	}
	keyd_log("signup", "client", r->client, "holder", holder ? "yes" : "no", NULL);
	keyd_tplain(r, "api.code_sent_to", (struct sp_i18n_var[]){{"email", email}}, 1, sent,
	    sizeof(sent));
	ans = keyd_reply_json(r, 202, json_pack("{s:s,s:s,s:s,s:i}", "signup", handle,
	    "email", email, "sent", sent, "expires_in", KEYD_SIGNUP_TTL));
	sp_wipe(handle, sizeof(handle));
	return ans;
}

/* The card's "forgot your password": the forgot page's reset link, asked
 * for by the open page, which may prove as the sign-up does that it holds
 * a message to the address (its own three mails an hour then).  Counted
 * against the client with the forgot page's requests; the answer is the
 * same whether or not the address has an account or a mail left. */
enum MHD_Result
keyd_api_forgot(struct keyd_req *r, const char *arg)
{
	struct sp_err err = {{0}};
	enum MHD_Result ans;
	char email[SP_STORE_EMAIL_MAX + 1], key[96], sent[SP_STORE_EMAIL_MAX + 128];
	int st, holder;
	json_t *j;

	if ((j = email_body(r, email, &ans)) == NULL)
		return ans;
	snprintf(key, sizeof(key), "mailreq:%s", r->client_key);
	if (!counted(r, key, &r->k->thr_form, "err.too_many_requests", &ans)) {
		json_decref(j);
		return ans;
	}
	holder = proof_in(r, j, email, NULL);
	json_decref(j);
	if ((st = keyd_mail_reset(r, email, holder, NULL, &err)) != SP_OK)
		return keyd_reply_error(r, st == SP_ERR_RETRY ? 503 : 500,
		    st == SP_ERR_RETRY ? busy : "err.internal");
	keyd_tplain(r, "mr.forgot.sent", (struct sp_i18n_var[]){{"email", email}}, 1, sent,
	    sizeof(sent));
	return keyd_reply_json(r, 202, json_pack("{s:s,s:s}", "email", email, "sent", sent));
}

/* The code as typed, without spaces or dashes, into out: 1 when it is
 * KEYD_SIGNUP_CODE_LEN digits. */
static int
clean_code(const char *in, char out[KEYD_SIGNUP_CODE_LEN + 1])
{
	size_t n = 0;

	for (; in != NULL && *in != '\0'; in++) {
		if (*in == ' ' || *in == '-')
			continue;
		if (*in < '0' || *in > '9' || n == KEYD_SIGNUP_CODE_LEN)
			return 0;
		out[n++] = *in;
	}
	out[n] = '\0';
	return n == KEYD_SIGNUP_CODE_LEN;
}

static enum MHD_Result
confirm_refused(struct keyd_req *r, int st, const struct sp_err *err)
{
	switch (st) {
	case SP_ERR_NOTFOUND:
		return keyd_reply_error(r, 401, "api.wrong_code");
	case SP_ERR_EXPIRED:
		return keyd_reply_error(r, 410, "api.code_expired");
	case SP_ERR_EXISTS:
		return keyd_reply_error(r, 409, "api.has_account");
	default:
		return keyd_store_error(r, st, err);
	}
}

enum MHD_Result
keyd_api_signup_confirm(struct keyd_req *r, const char *arg)
{
	struct sp_err err = {{0}};
	struct sp_audit a;
	struct keyd_login l;
	enum MHD_Result ans;
	unsigned char th[SP_SHA256_LEN], hh[SP_SHA256_LEN];
	char code[KEYD_SIGNUP_CODE_LEN + 1], hex[2 * SP_SHA256_LEN + 1], email[SP_STORE_EMAIL_MAX + 1];
	char key_code[96], key_ip[96], key_addr[SP_STORE_EMAIL_MAX + 16];
	const char *handle, *c, *e;
	int64_t now = (int64_t)time(NULL);
	int bad, st;
	json_t *j;

	if ((j = post_body(r, &ans)) == NULL)
		return ans;
	handle = member(j, "signup", &bad);
	if (bad || handle == NULL || strncmp(handle, HANDLE_PREFIX, 4) != 0 ||
	    !keyd_token_shape(handle + 4, 16, 60)) {
		json_decref(j);
		return keyd_reply_field(r, "signup", "api.signup_bad");
	}
	e = member(j, "email", &bad);
	if (bad || e == NULL || keyd_email_lower(e, email, sizeof(email)) != SP_OK) {
		json_decref(j);
		return keyd_reply_field(r, "email", "api.code_address");
	}
	c = member(j, "code", &bad);
	if (bad || !clean_code(c, code)) {
		json_decref(j);
		return keyd_reply_field(r, "code", "api.code_enter");
	}
	sp_sha256(handle, strlen(handle), hh);
	sp_hex_encode(hh, sizeof(hh), hex);
	snprintf(key_code, sizeof(key_code), "code:%.32s", hex);
	snprintf(key_ip, sizeof(key_ip), "ip:%s", r->client_key);
	snprintf(key_addr, sizeof(key_addr), "codes:%s", email);
	signup_token(handle, email, code, th);
	json_decref(j);
	sp_wipe(code, sizeof(code));
	if (!counted(r, key_ip, &r->k->thr_ip, "api.too_many_network", &ans))
		return ans;
	if (!counted(r, key_code, &code_policy, "api.too_many_codes",
	    &ans))
		return ans;
	if (!counted(r, key_addr, &address_policy, "api.too_many_codes_addr", &ans))
		return ans;
	a = (struct sp_audit){now, "activate", NULL, NULL, r->client, "signup code", 0};
	st = sp_store_pending_activate(r->k->store, th, now, email, &a, &err);
	if (st != SP_OK) {
		if (st == SP_ERR_NOTFOUND)
			keyd_log("signup-code-wrong", "client", r->client, NULL);
		return confirm_refused(r, st, &err);
	}
	sp_store_throttle_undo(r->k->store, key_ip, NULL);
	sp_store_throttle_reset(r->k->store, key_code, NULL);
	sp_store_throttle_reset(r->k->store, key_addr, NULL);
	keyd_log("signup-confirmed", "client", r->client, NULL);
	keyd_notify_waiting(r->k, email, now);
	keyd_login_session(r, email, "signup", &l);
	if (l.status != KEYD_LOGIN_OK) {
		keyd_login_wipe(&l);
		return keyd_reply_error(r, 503, "api.confirmed_busy");
	}
	ans = keyd_reply_json(r, 200, json_pack("{s:s,s:s,s:s,s:b}", "session", l.token,
	    "email", l.email, "csrf", l.csrf, "profile_incomplete", 1));
	keyd_login_wipe(&l);
	return ans;
}

/* --- the profile the account still owes ----------------------------------- */

/* reason codes of the API's "missing" (the portal's scripts word them) */
static const char *const owed[] = {
	"your name", "a personal security phrase", "three security questions",
};

static enum MHD_Result
session_or_refusal(struct keyd_req *r, int want_csrf, struct sp_session *s, int *ok)
{
	struct sp_err err = {{0}};
	int st = keyd_session_auth(r, want_csrf, s, &err);

	*ok = st == SP_OK;
	if (st == SP_ERR_AUTH)
		return keyd_reply_error(r, 401, "api.not_logged_in");
	if (st == SP_ERR_DENIED)
		return keyd_reply_error(r, 403, "api.csrf");
	return st == SP_OK ? MHD_YES : keyd_store_error(r, st, &err);
}

enum MHD_Result
keyd_api_profile_get(struct keyd_req *r, const char *arg)
{
	struct sp_err err = {{0}};
	struct sp_session s;
	struct sp_account acc;
	enum MHD_Result ans;
	json_t *missing, *qs;
	int ok, st, i;

	ans = session_or_refusal(r, 0, &s, &ok);
	if (!ok)
		return ans;
	if ((st = sp_store_account_get(r->k->store, s.email, &acc, &err)) != SP_OK)
		return keyd_store_error(r, st, &err);
	missing = json_array();
	qs = json_array();
	for (i = 0; acc.profile_todo && i < (int)(sizeof(owed) / sizeof(owed[0])); i++)
		json_array_append_new(missing, json_string(owed[i]));
	for (i = 0; i < keyd_nquestions; i++)
		json_array_append_new(qs, json_string(keyd_t(r, keyd_questions[i])));
	ans = keyd_reply_json(r, 200, json_pack("{s:s,s:b,s:o,s:o,s:b,s:s}", "email", s.email,
	    "incomplete", acc.profile_todo ? 1 : 0, "missing", missing, "questions", qs,
	    "bcc_default", acc.bcc_default != 0, "language", sp_i18n_lang(acc.language)));
	sp_wipe(&acc, sizeof(acc));
	return ans;
}

/* Text member name of j checked as a form field (field.h) and copied into
 * out (outsz bytes): NULL, or what is wrong with it. */
static const char *
text_into(json_t *j, const char *name, size_t max, char *out, size_t outsz,
    struct sp_err *err)
{
	struct sp_field_rules rules = {max, 0, SP_FIELD_REQUIRED | SP_FIELD_TRIM};
	enum sp_field_reason why = SP_FIELD_R_OK;
	json_t *v = json_object_get(j, name);
	const char *s = json_string_value(v);
	char *norm = NULL;

	if (s == NULL)
		return "api.required";
	if (sp_field_text(s, json_string_length(v), &rules, &norm, &why, err) != SP_OK)
		return why == SP_FIELD_R_REQUIRED ? "api.required" : err->msg[0] ? err->msg :
		    "api.bad_chars";
	snprintf(out, outsz, "%s", norm);
	sp_wipe(norm, strlen(norm));
	free(norm);
	return NULL;
}

const char *
keyd_profile_names_from(json_t *j, struct sp_account *acc, const char **why, struct sp_err *err)
{
	if ((*why = text_into(j, "first_name", SP_STORE_NAME_MAX, acc->first_name,
	    sizeof(acc->first_name), err)) != NULL)
		return "first_name";
	if ((*why = text_into(j, "last_name", SP_STORE_NAME_MAX, acc->last_name,
	    sizeof(acc->last_name), err)) != NULL)
		return "last_name";
	if ((*why = text_into(j, "phrase", SP_STORE_PHRASE_MAX, acc->phrase,
	    sizeof(acc->phrase), err)) != NULL)
		return "phrase";
	acc->phrase_enabled = !json_is_false(json_object_get(j, "phrase_enabled"));
	return NULL;
}

int
keyd_profile_lang_from(const char *v, const char *cur, struct sp_account *acc)
{
	if (v != NULL && *v != '\0' && !sp_i18n_offered(v))
		return 0;
	snprintf(acc->language, sizeof(acc->language), "%s",
	    sp_i18n_lang(v != NULL && *v != '\0' ? v : cur));
	return 1;
}

const char *
keyd_profile_questions_from(json_t *j, struct sp_account *acc, const char **why,
    struct sp_err *err)
{
	static const char *const anames[3] = {"answers[0]", "answers[1]", "answers[2]"};
	json_t *q = json_object_get(j, "questions"), *ans = json_object_get(j, "answers");
	char answer[257];
	int i, k, st;

	if (!json_is_array(q) || json_array_size(q) != 3 || !json_is_array(ans) ||
	    json_array_size(ans) != 3) {
		*why = "api.three_qa";
		return "questions";
	}
	for (i = 0; i < 3; i++) {
		json_t *one = json_object(), *qi = json_array_get(q, (size_t)i);
		json_int_t n = json_is_integer(qi) ? json_integer_value(qi) : 0;

		if (n < 1 || n > keyd_nquestions) {
			json_decref(one);
			*why = "api.q_from_list";
			return "questions";
		}
		for (k = 0; k < i; k++)
			if (acc->question[k] == (int)n) {
				json_decref(one);
				*why = "api.q_differ";
				return "questions";
			}
		acc->question[i] = (int)n;
		json_object_set(one, "a", json_array_get(ans, (size_t)i));
		*why = text_into(one, "a", 256, answer, sizeof(answer), err);
		json_decref(one);
		if (*why != NULL)
			return anames[i];
		st = sp_answer_hash(answer, acc->answer_hash[i], err);
		sp_wipe(answer, sizeof(answer));
		if (st != SP_OK) {
			*why = st == SP_ERR_RETRY ? busy : "api.bad_answer";
			return st == SP_ERR_RETRY ? "" : anames[i];
		}
	}
	return NULL;
}

enum MHD_Result
keyd_api_profile_set(struct keyd_req *r, const char *arg)
{
	struct sp_err err = {{0}};
	struct sp_session s;
	struct sp_account acc, cur;
	struct sp_audit a;
	enum MHD_Result ans;
	const char *field, *why = NULL;
	int ok, st, done;
	json_t *j, *lang;

	ans = session_or_refusal(r, 1, &s, &ok);
	if (!ok)
		return ans;
	if ((j = post_body(r, &ans)) == NULL)
		return ans;
	if ((st = sp_store_account_get(r->k->store, s.email, &cur, &err)) != SP_OK) {
		json_decref(j);
		return keyd_store_error(r, st, &err);
	}
	memset(&acc, 0, sizeof(acc));
	snprintf(acc.email, sizeof(acc.email), "%s", s.email);
	if (!keyd_profile_writable(&s, cur.profile_todo)) {
		sp_wipe(&cur, sizeof(cur));
		json_decref(j);
		return keyd_reply_reason(r, 403, "api.reauth", "reauth");
	}
	done = !cur.profile_todo;
	/* "Automatically BCC me" for replies: as given, else as it was */
	acc.bcc_default = json_is_boolean(json_object_get(j, "bcc_default")) ?
	    json_is_true(json_object_get(j, "bcc_default")) : cur.bcc_default;
	lang = json_object_get(j, "language");
	if (!keyd_profile_lang_from(json_string_value(lang), cur.language, &acc) ||
	    (lang != NULL && !json_is_null(lang) && !json_is_string(lang))) {
		sp_wipe(&cur, sizeof(cur));
		sp_wipe(&acc, sizeof(acc));
		json_decref(j);
		return keyd_reply_field(r, "language", "form.language");
	}
	sp_wipe(&cur, sizeof(cur));
	if ((field = keyd_profile_names_from(j, &acc, &why, &err)) == NULL)
		field = keyd_profile_questions_from(j, &acc, &why, &err);
	json_decref(j);
	if (field != NULL) {
		sp_wipe(&acc, sizeof(acc));
		return *field ? keyd_reply_field(r, field, why) : keyd_reply_error(r, 503, busy);
	}
	a = (struct sp_audit){0, done ? "profile-changed" : "profile-completed", s.email, NULL,
	    r->client, NULL, 0};
	st = sp_store_profile_set(r->k->store, &acc, &a, &err);
	sp_wipe(&acc, sizeof(acc));
	if (st != SP_OK)
		return keyd_store_error(r, st, &err);
	/* the owner hears of every change, the first one included */
	keyd_notice(r->k, SP_NOTICE_PROFILE_CHANGED, s.email, NULL, NULL, NULL);
	/* the answer follows the account's new language unless a choice was
	 * made (keyd_lang.h) */
	r->lang[0] = '\0';
	return keyd_reply_json(r, 200, json_pack("{s:b,s:[]}", "incomplete", 0, "missing"));
}

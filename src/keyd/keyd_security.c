/*
 * keyd_security.c - the signed-in recipient's security page, GET /account,
 * and its actions (POST /account/...): confirm the password again, change
 * it, add or remove an authenticator app (TOTP, with a QR code), make new
 * recovery codes, remove a passkey, forget a remembered device
 * (keyd_device.c), sign out (here or everywhere: every session and every
 * remembered device); and the
 * passkey registration API (POST /api/v1/account/passkeys/options and
 * POST /api/v1/account/passkeys).
 * SECURITY: every action needs the session and its CSRF token; changes of
 * the password or of a factor need the password typed in the last 10
 * minutes (re-authentication), end other sessions where it matters, and a
 * notice mail tells the owner.  Secrets shown once (TOTP secret, recovery
 * codes) are wiped from memory after the answer is sent.
 */
#include <glib.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto.h"
#include "keyd_device.h"
#include "keyd_factors.h"
#include "keyd_lang.h"
#include "keyd_login.h"
#include "keyd_pages.h"
#include "keyd_security.h"
#include "keyd_signup.h"
#include "notice.h"
#include "password.h"
#include "qr.h"
#include "totp.h"
#include "webauthn.h"

static void
esc(struct sp_buf *b, const char *s)
{
	sp_html_escape(b, s, strlen(s));
}

static void
form(struct sp_buf *b, const struct sp_session *s, const char *action, const char *cls)
{
	sp_buf_printf(b, "<form method=\"post\" action=\"%s\" class=\"%s\">"
	    "<input type=\"hidden\" name=\"csrf\" value=\"", action, cls);
	esc(b, s->csrf);
	sp_buf_append_str(b, "\">");
}

int
keyd_session_fresh(const struct sp_session *s)
{
	int64_t t = s->auth_time ? s->auth_time : s->created;

	return (int64_t)time(NULL) - t < KEYD_REAUTH_AGE;
}

int
keyd_profile_writable(const struct sp_session *s, int todo)
{
	return keyd_session_fresh(s) || (todo && keyd_session_how(s) != SP_RELEASE_AUTH_DEVICE);
}

struct pk_rows {
	struct keyd_req *r;
	struct sp_buf *b;
	const struct sp_session *s;
	int n;
	int can_change;
};

static int
pk_row(void *ctx, const struct sp_passkey *pk)
{
	struct pk_rows *p = ctx;
	struct sp_buf id;
	char when[32];
	time_t t = (time_t)pk->created;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d", &tm);
	sp_buf_init(&id, 4096);
	sp_b64url_encode(&id, pk->cred_id, pk->cred_id_len);
	sp_buf_append_str(p->b, "<li class=\"passkey\"><span>");
	keyd_th(p->r, p->b, "acct.pk_added", (struct sp_i18n_var[]){{"name", pk->name[0] ?
	    pk->name : keyd_t(p->r, "acct.passkey")}, {"when", when}}, 2);
	sp_buf_append_str(p->b, "</span>");
	if (p->can_change && id.data != NULL) {
		form(p->b, p->s, "/account/passkeys/remove", "inline");
		sp_buf_append_str(p->b, "<input type=\"hidden\" name=\"id\" value=\"");
		esc(p->b, (const char *)id.data);
		sp_buf_append_str(p->b, "\"><button type=\"submit\" class=\"linkbtn\">");
		keyd_th(p->r, p->b, "acct.remove", NULL, 0);
		sp_buf_append_str(p->b, "</button></form>");
	}
	sp_buf_append_str(p->b, "</li>");
	sp_buf_free(&id);
	p->n++;
	return 0;
}

/* The profile's language: a select of the offered languages (complete
 * catalogues), each in its own words, the account's chosen. */
static void
language_field(struct keyd_req *r, struct sp_buf *b, const char *cur)
{
	const char *const *l = sp_i18n_languages();
	const char *sel = sp_i18n_lang(cur);
	size_t i;

	sp_buf_append_str(b, "<div class=\"field\"><label for=\"pf-lang\">");
	keyd_th(r, b, "reg.language", NULL, 0);
	sp_buf_append_str(b, "</label><select id=\"pf-lang\" name=\"language\">");
	for (i = 0; l[i] != NULL; i++) {
		sp_buf_printf(b, "<option value=\"%s\" lang=\"%s\"%s>", l[i], l[i],
		    strcmp(l[i], sel) == 0 ? " selected" : "");
		sp_i18n_html(b, l[i], "lang.name", NULL, 0);
		sp_buf_append_str(b, "</option>");
	}
	sp_buf_append_str(b, "</select></div>");
}

/* The profile: names, the security phrase and whether remembered devices
 * show it, the security questions; the form to change them once the
 * password was typed lately. */
static void
profile_section(struct keyd_req *r, struct sp_buf *b, const struct sp_session *s,
    const struct sp_account *acc, int ok)
{
	char n[12];
	int i, q;

	keyd_th(r, b, "acct.profile_head_html", NULL, 0);
	if (acc->first_name[0] || acc->last_name[0]) {
		esc(b, acc->first_name);
		sp_buf_append_str(b, " ");
		esc(b, acc->last_name);
	} else
		keyd_th(r, b, "acct.not_given", NULL, 0);
	keyd_th(r, b, "acct.phrase_dt_html", NULL, 0);
	keyd_th(r, b, !acc->phrase[0] ? "acct.not_chosen" : acc->phrase_enabled ?
	    "acct.phrase_shown" : "acct.phrase_hidden", NULL, 0);
	keyd_th(r, b, "acct.questions_dt_html", NULL, 0);
	keyd_th(r, b, acc->question[0] ? "acct.questions_set" : "acct.not_chosen", NULL, 0);
	keyd_th(r, b, "acct.bcc_dt_html", NULL, 0);
	keyd_th(r, b, acc->bcc_default ? "acct.bcc_on" : "acct.bcc_off", NULL, 0);
	keyd_th(r, b, "acct.language_dt_html", NULL, 0);
	sp_i18n_html(b, sp_i18n_lang(acc->language), "lang.name", NULL, 0);
	sp_buf_append_str(b, "</dd></dl>");
	if (!ok) {
		keyd_th(r, b, "acct.confirm_above_html", NULL, 0);
		sp_buf_append_str(b, "</section>");
		return;
	}
	form(b, s, "/account/profile", "form");
	language_field(r, b, acc->language);
	keyd_th(r, b, "acct.profile_form_html", (struct sp_i18n_var[]){
	    {"first", acc->first_name}, {"last", acc->last_name}, {"phrase", acc->phrase},
	    {"checked", acc->phrase_enabled || !acc->phrase[0] ? "checked" : ""},
	    {"bcc", acc->bcc_default ? "checked" : ""}}, 5);
	for (i = 0; i < 3; i++) {
		snprintf(n, sizeof(n), "%d", i + 1);
		keyd_th(r, b, "acct.question_sel_html", (struct sp_i18n_var[]){{"n", n}}, 1);
		for (q = 1; q <= keyd_nquestions; q++) {
			sp_buf_printf(b, "<option value=\"%d\"%s>", q,
			    acc->question[i] == q || (!acc->question[i] && q == i + 1) ? " selected" : "");
			esc(b, keyd_t(r, keyd_questions[q - 1]));
			sp_buf_append_str(b, "</option>");
		}
		keyd_th(r, b, "acct.answer_html", (struct sp_i18n_var[]){{"n", n}}, 1);
	}
	keyd_th(r, b, "acct.profile_save_html", NULL, 0);
}

static enum MHD_Result
overview(struct keyd_req *r, const struct sp_session *s, unsigned status, const char *note,
    const char *error)
{
	struct sp_account acc;
	struct sp_buf b;
	struct pk_rows rows;
	int ok = keyd_session_fresh(s);

	if (sp_store_account_get(r->k->store, s->email, &acc, NULL) != SP_OK)
		return keyd_reply_error(r, 500, "err.internal");
	sp_buf_init(&b, 65536);
	if (note != NULL) {
		sp_buf_append_str(&b, "<p class=\"notice\" role=\"status\">");
		esc(&b, keyd_tmsg(r, note));
		sp_buf_append_str(&b, "</p>");
	}
	keyd_page_alert(&b, keyd_tmsg(r, error));
	keyd_th(r, &b, "acct.signed_in_html", (struct sp_i18n_var[]){{"email", s->email}}, 1);
	profile_section(r, &b, s, &acc, ok);
	if (!ok) {
		keyd_th(r, &b, "acct.reauth_head_html", NULL, 0);
		form(&b, s, "/account/reauth", "form");
		keyd_th(r, &b, "acct.reauth_form_html", NULL, 0);
	}
	/* Password */
	keyd_th(r, &b, "acct.pw_head_html", NULL, 0);
	if (ok) {
		form(&b, s, "/account/password", "form");
		keyd_th(r, &b, "acct.pw_form_html", NULL, 0);
	} else
		keyd_th(r, &b, "acct.pw_confirm_html", NULL, 0);
	sp_buf_append_str(&b, "</section>");
	/* TOTP */
	keyd_th(r, &b, "acct.totp_head_html", NULL, 0);
	if (acc.totp_wrapped_len > 0) {
		keyd_th(r, &b, "acct.totp_on_html", NULL, 0);
		if (ok) {
			form(&b, s, "/account/totp/remove", "inline");
			keyd_th(r, &b, "acct.totp_remove_html", NULL, 0);
		}
	} else {
		keyd_th(r, &b, "acct.totp_off_html", NULL, 0);
		if (ok) {
			form(&b, s, "/account/totp", "inline");
			keyd_th(r, &b, "acct.totp_add_html", NULL, 0);
		}
	}
	sp_buf_append_str(&b, "</section>");
	/* Passkeys */
	keyd_th(r, &b, "acct.pk_head_html", NULL, 0);
	rows = (struct pk_rows){r, &b, s, 0, ok};
	sp_store_passkey_each(r->k->store, s->email, pk_row, &rows, NULL);
	sp_buf_append_str(&b, "</ul>");
	if (rows.n == 0)
		keyd_th(r, &b, "acct.pk_none_html", NULL, 0);
	if (ok)
		keyd_th(r, &b, "acct.pk_add_html", (struct sp_i18n_var[]){{"csrf", s->csrf}}, 1);
	sp_buf_append_str(&b, "</section>");
	/* Recovery codes */
	if (acc.totp_wrapped_len > 0 || acc.npasskeys > 0) {
		char nb[16];

		snprintf(nb, sizeof(nb), "%d", acc.nrecovery);
		keyd_th(r, &b, acc.nrecovery == 1 ? "acct.rc_one_html" : "acct.rc_many_html",
		    (struct sp_i18n_var[]){{"n", nb}}, 1);
		if (ok) {
			form(&b, s, "/account/recovery", "inline");
			keyd_th(r, &b, "acct.rc_new_html", NULL, 0);
		}
		sp_buf_append_str(&b, "</section>");
	}
	keyd_device_section(r, s, &b, ok);
	/* Sign out */
	keyd_th(r, &b, "acct.so_head_html", NULL, 0);
	form(&b, s, "/account/signout", "inline");
	keyd_th(r, &b, "acct.so_html", NULL, 0);
	form(&b, s, "/account/signout-all", "inline");
	keyd_th(r, &b, "acct.so_all_html", NULL, 0);
	sp_buf_append_str(&b, "</section><script type=\"module\" src=\"/static/account.js\"></script>");
	sp_wipe(&acc, sizeof(acc));
	return keyd_page_buf(r, status, keyd_t(r, "acct.title"), &b);
}

/* Ten new recovery codes for email, stored hashed; shown into b once. */
static int
new_codes(struct keyd_req *r, const char *email, struct sp_buf *b, json_t *arr)
{
	char codes[SP_STORE_RECOVERY_CODES][SP_RECOVERY_SIZE];
	unsigned char hashes[SP_STORE_RECOVERY_CODES][SP_SHA256_LEN];
	char norm[SP_RECOVERY_NORM_SIZE];
	struct sp_audit a = {0, "recovery-codes-new", email, NULL, r->client, NULL, 0};
	int i, st;

	if ((st = sp_recovery_codes_new(codes, SP_STORE_RECOVERY_CODES)) != SP_OK)
		return st;
	/* stored as Argon2id (totp.h): ten of them take about 0.2 s, on the
	 * worker that runs this route */
	for (i = 0; i < SP_STORE_RECOVERY_CODES && st == SP_OK; i++) {
		sp_recovery_normalize(codes[i], norm, NULL);
		st = sp_recovery_hash(email, norm, hashes[i]);
	}
	sp_wipe(norm, sizeof(norm));
	if (st == SP_OK)
		st = sp_store_recovery_set(r->k->store, email,
		    (const unsigned char (*)[SP_SHA256_LEN])hashes, SP_STORE_RECOVERY_CODES, &a, NULL);
	sp_wipe(hashes, sizeof(hashes));
	if (st == SP_OK && b != NULL) {
		keyd_th(r, b, "acct.codes_head_html", NULL, 0);
		for (i = 0; i < SP_STORE_RECOVERY_CODES; i++)
			sp_buf_printf(b, "<li><code>%s</code></li>", codes[i]);
		keyd_th(r, b, "acct.codes_done_html", NULL, 0);
	}
	if (st == SP_OK && arr != NULL)
		for (i = 0; i < SP_STORE_RECOVERY_CODES; i++)
			json_array_append_new(arr, json_string(codes[i]));
	sp_wipe(codes, sizeof(codes));
	return st;
}

static enum MHD_Result
totp_begin(struct keyd_req *r, const struct sp_session *s, const char *secret_b32,
    const char *error)
{
	unsigned char secret[SP_TOTP_SECRET_MAX];
	size_t slen = 0;
	struct sp_buf b, uri, b32;
	enum MHD_Result ret;

	sp_buf_init(&b32, 256);
	if (secret_b32 != NULL) {
		if (sp_base32_decode(secret_b32, strlen(secret_b32), secret, sizeof(secret), &slen,
		    NULL) != SP_OK || slen != SP_TOTP_SECRET_LEN)
			return overview(r, s, 400, NULL, "totp.expired");
		sp_buf_append_str(&b32, secret_b32);
	} else {
		if (sp_totp_secret_new(secret) != SP_OK)
			return keyd_reply_error(r, 500, "err.internal");
		slen = SP_TOTP_SECRET_LEN;
		sp_base32_encode(&b32, secret, slen);
	}
	sp_buf_init(&uri, 4096);
	sp_buf_init(&b, 262144);
	sp_totp_uri(&uri, "sealpost", s->email, secret, slen, NULL);
	sp_wipe(secret, sizeof(secret));
	keyd_page_alert(&b, keyd_tmsg(r, error));
	keyd_th(r, &b, "totp.step1_html", NULL, 0);
	if (uri.data == NULL || sp_qr_svg(&b, (const char *)uri.data,
	    keyd_t(r, "totp.qr_label"), NULL) != SP_OK)
		keyd_th(r, &b, "totp.no_qr_html", NULL, 0);
	keyd_th(r, &b, "totp.key_html", (struct sp_i18n_var[]){{"key", b32.data ?
	    (const char *)b32.data : ""}}, 1);
	form(&b, s, "/account/totp/confirm", "form");
	sp_buf_append_str(&b, "<input type=\"hidden\" name=\"secret\" value=\"");
	esc(&b, b32.data ? (const char *)b32.data : "");
	sp_buf_append_str(&b, "\">");
	keyd_th(r, &b, "totp.form_html", NULL, 0);
	sp_buf_wipe(&uri);
	sp_buf_wipe(&b32);
	ret = keyd_page_buf(r, error ? 400 : 200, keyd_t(r, "totp.title"), &b);
	return ret;
}

static enum MHD_Result
totp_confirm(struct keyd_req *r, const struct sp_session *s)
{
	const char *sec = keyd_field(r, "secret"), *code = keyd_field(r, "code");
	unsigned char secret[SP_TOTP_SECRET_MAX], box[SP_KEY_LEN], wrapped[SP_KEYWRAP_LEN];
	char aad[SP_STORE_EMAIL_MAX + 8];
	size_t slen = 0;
	uint32_t kid = 0;
	uint64_t step = 0;
	struct sp_audit a = {0, "totp-added", s->email, NULL, r->client, NULL, 0};
	struct sp_account acc;
	struct sp_buf b;
	int st;

	if (sec == NULL || strlen(sec) > 64 || sp_base32_decode(sec, strlen(sec), secret,
	    sizeof(secret), &slen, NULL) != SP_OK || slen != SP_TOTP_SECRET_LEN)
		return overview(r, s, 400, NULL, "totp.expired");
	if (code == NULL || sp_totp_verify(secret, slen, SP_TOTP_DIGITS, code,
	    (uint64_t)time(NULL), 0, &step, NULL) != SP_OK) {
		sp_wipe(secret, sizeof(secret));
		return totp_begin(r, s, sec, "totp.bad_code");
	}
	memset(box, 0, sizeof(box));
	box[0] = (unsigned char)slen;
	memcpy(box + 1, secret, slen);
	sp_wipe(secret, sizeof(secret));
	snprintf(aad, sizeof(aad), "totp:%s", s->email);
	st = sp_keywrap_wrap(r->k->kw, aad, box, wrapped, &kid, NULL);
	sp_wipe(box, sizeof(box));
	if (st == SP_OK)
		st = sp_store_totp_set(r->k->store, s->email, wrapped, sizeof(wrapped), kid, &a, NULL);
	if (st == SP_OK)
		sp_store_totp_step(r->k->store, s->email, (int64_t)step, NULL);
	if (st != SP_OK)
		return keyd_reply_error(r, st == SP_ERR_RETRY ? 503 : 500, "err.save");
	keyd_notice(r->k, SP_NOTICE_FACTOR_ADDED, s->email, NULL, NULL, "notice.what.totp");
	sp_buf_init(&b, 65536);
	keyd_th(r, &b, "totp.on_html", NULL, 0);
	if (sp_store_account_get(r->k->store, s->email, &acc, NULL) == SP_OK && acc.nrecovery == 0)
		new_codes(r, s->email, &b, NULL);
	else
		keyd_th(r, &b, "totp.back_html", NULL, 0);
	sp_wipe(&acc, sizeof(acc));
	return keyd_page_buf(r, 200, keyd_t(r, "totp.added_title"), &b);
}

static enum MHD_Result
change_password(struct keyd_req *r, const struct sp_session *s)
{
	const char *pw = keyd_field(r, "password"), *pw2 = keyd_field(r, "password2");
	struct sp_pw_context ctx = {s->email, NULL};
	struct sp_err err = {{0}};
	struct sp_audit a = {0, "password-changed", s->email, NULL, r->client, NULL, 0};
	char hash[SP_PW_HASH_LEN];
	int st;

	if (pw == NULL || sp_password_check(pw, &ctx, &err) != SP_OK)
		return overview(r, s, 400, NULL, pw == NULL ? "acct.enter_pw" : err.msg);
	if (pw2 == NULL || strcmp(pw, pw2) != 0)
		return overview(r, s, 400, NULL, "form.password_mismatch");
	if ((st = sp_password_hash(pw, hash, &err)) != SP_OK)
		return keyd_reply_error(r, 503, "err.busy");
	st = sp_store_password_set(r->k->store, s->email, hash, (int64_t)time(NULL), NULL, s->hash,
	    &a, &err);
	sp_wipe(hash, sizeof(hash));
	if (st != SP_OK)
		return keyd_reply_error(r, st == SP_ERR_RETRY ? 503 : 500, "err.save");
	keyd_notice(r->k, SP_NOTICE_PW_CHANGED, s->email, NULL, NULL, NULL);
	return overview(r, s, 200, "acct.pw_changed",
	    NULL);
}

/* A question's number as the form posts it (one or two digits); 0 for
 * anything else. */
static int
question_no(const char *v)
{
	if (v == NULL || v[0] < '0' || v[0] > '9')
		return 0;
	if (v[1] == '\0')
		return v[0] - '0';
	if (v[1] < '0' || v[1] > '9' || v[2] != '\0')
		return 0;
	return (v[0] - '0') * 10 + (v[1] - '0');
}

/* POST /account/profile: the names and phrase; the questions too unless
 * their three answers are left empty. */
static enum MHD_Result
change_profile(struct keyd_req *r, const struct sp_session *s)
{
	static const struct {
		const char *field, *label;
	} labels[] = {
		{"first_name", "js.card.first_name"}, {"last_name", "js.card.last_name"},
		{"phrase", "js.security_phrase"}, {"questions", "reg.security_questions"},
		{"answers[0]", "acct.answer1"}, {"answers[1]", "acct.answer2"},
		{"answers[2]", "acct.answer3"},
	};
	static const char *const qn[3] = {"q1", "q2", "q3"}, *const an[3] = {"a1", "a2", "a3"};
	struct sp_err err = {{0}};
	struct sp_account cur, acc;
	struct sp_audit a;
	const char *field, *why = NULL, *v;
	char msg[256];
	json_t *j, *qs, *as;
	int i, any = 0, st;
	size_t k;

	if (sp_store_account_get(r->k->store, s->email, &cur, &err) != SP_OK)
		return keyd_reply_error(r, 500, "err.internal");
	memset(&acc, 0, sizeof(acc));
	snprintf(acc.email, sizeof(acc.email), "%s", s->email);
	acc.bcc_default = keyd_field(r, "bcc_default") != NULL;
	if (!keyd_profile_lang_from(keyd_field(r, "language"), cur.language, &acc)) {
		sp_wipe(&cur, sizeof(cur));
		sp_wipe(&acc, sizeof(acc));
		return overview(r, s, 400, NULL, keyd_t(r, "form.language"));
	}
	j = json_object();
	qs = json_array();
	as = json_array();
	json_object_set_new(j, "first_name", json_string((v = keyd_field(r, "first_name")) ? v : ""));
	json_object_set_new(j, "last_name", json_string((v = keyd_field(r, "last_name")) ? v : ""));
	json_object_set_new(j, "phrase", json_string((v = keyd_field(r, "phrase")) ? v : ""));
	json_object_set_new(j, "phrase_enabled", json_boolean(keyd_field(r, "phrase_enabled") != NULL));
	for (i = 0; i < 3; i++) {
		v = keyd_field(r, qn[i]);
		json_array_append_new(qs, json_integer(question_no(v)));
		v = keyd_field(r, an[i]);
		any |= v != NULL && *v != '\0';
		json_array_append_new(as, json_string(v != NULL ? v : ""));
	}
	json_object_set_new(j, "questions", qs);
	json_object_set_new(j, "answers", as);
	field = keyd_profile_names_from(j, &acc, &why, &err);
	if (field == NULL && (any || !cur.question[0])) {
		field = keyd_profile_questions_from(j, &acc, &why, &err);
	} else if (field == NULL) {
		for (i = 0; i < 3; i++)
			if ((v = keyd_field(r, qn[i])) != NULL && question_no(v) != cur.question[i]) {
				field = "answers[0]";
				why = "acct.type_answers";
			}
		memcpy(acc.question, cur.question, sizeof(acc.question));
		memcpy(acc.answer_hash, cur.answer_hash, sizeof(acc.answer_hash));
	}
	sp_wipe(&cur, sizeof(cur));
	json_decref(j);
	if (field != NULL) {
		sp_wipe(&acc, sizeof(acc));
		if (*field == '\0')
			return keyd_reply_error(r, 503, "err.busy");
		for (k = 0; k < sizeof(labels) / sizeof(labels[0]); k++)
			if (strcmp(labels[k].field, field) == 0)
				field = keyd_t(r, labels[k].label);
		snprintf(msg, sizeof(msg), "%s: %s.", field, keyd_tmsg(r, why ? why : "form.invalid"));
		return overview(r, s, 400, NULL, msg);
	}
	a = (struct sp_audit){(int64_t)time(NULL), "profile-changed", s->email, NULL, r->client,
	    NULL, 0};
	st = sp_store_profile_set(r->k->store, &acc, &a, &err);
	sp_wipe(&acc, sizeof(acc));
	if (st != SP_OK)
		return keyd_reply_error(r, 500, "err.save");
	keyd_notice(r->k, SP_NOTICE_PROFILE_CHANGED, s->email, NULL, NULL, NULL);
	/* the page follows the account's new language unless a choice was
	 * made (keyd_lang.h) */
	r->lang[0] = '\0';
	return overview(r, s, 200, "acct.profile_saved", NULL);
}

enum MHD_Result
keyd_page_account(struct keyd_req *r, const char *sub)
{
	struct sp_err err = {{0}};
	struct sp_session s;
	struct sp_audit a;
	int post = strcmp(r->method, "POST") == 0, st;
	int64_t now = (int64_t)time(NULL);

	st = keyd_session_auth(r, post, &s, &err);
	if (st == SP_ERR_AUTH)
		return keyd_redirect(r, "/signin?next=/account");
	if (st == SP_ERR_DENIED)
		return keyd_csrf_refused(r);
	if (st != SP_OK)
		return keyd_reply_error(r, 503, "err.busy");
	if (!post)
		return strcmp(sub, "") == 0 ? overview(r, &s, 200, NULL, NULL) :
		    keyd_reply_error(r, 404, "err.no_page");
	if (strcmp(sub, "/signout") == 0 || strcmp(sub, "/signout-all") == 0) {
		a = (struct sp_audit){now, sub[8] ? "logout-everywhere" : "logout", s.email, NULL,
		    r->client, NULL, 0};
		if (sub[8]) {
			/* every session and every remembered device */
			sp_store_signout_all(r->k->store, s.email, NULL, NULL, &a, NULL);
			keyd_device_clear_cookie(r);
		} else {
			sp_store_session_delete(r->k->store, s.hash, &a, NULL);
			keyd_device_forget_this(r, s.email);
		}
		keyd_set_session_cookie(r, "", 1);
		return keyd_page_simple(r, 200, keyd_t(r, "acct.out_title"),
		    keyd_t(r, sub[8] ? "acct.out_all_html" : "acct.out_html"));
	}
	if (strcmp(sub, "/reauth") == 0) {
		struct sp_account acc;
		const char *pw = keyd_field(r, "password");
		char key[SP_STORE_EMAIL_MAX + 8 + 2 * SP_SHA256_LEN], key_email[SP_STORE_EMAIL_MAX + 8];
		int64_t until = 0;

		/* A session that began with the password counts its own tries:
		 * strangers who locked the address by guessing do not keep its
		 * signed-in owner from confirming, and a new such session needs
		 * the password.  A remembered device's session counts against
		 * the address, as a log-in does: its cookie makes new sessions
		 * at will, so a stolen one must not buy endless guesses. */
		snprintf(key_email, sizeof(key_email), "email:%s", s.email);
		if (keyd_session_how(&s) == SP_RELEASE_AUTH_DEVICE) {
			snprintf(key, sizeof(key), "%s", key_email);
		} else {
			memcpy(key, "reauth:", 7);
			sp_hex_encode(s.hash, SP_SHA256_LEN, key + 7);
		}
		if (sp_store_throttle_begin(r->k->store, key, now, &r->k->thr_email, &until, NULL) !=
		    SP_OK || until > now) {
			r->retry_after = until > now ? until - now : 2;
			return keyd_reply_error(r, 429, "err.too_many_pw_wait");
		}
		if (sp_store_account_get(r->k->store, s.email, &acc, &err) != SP_OK)
			return keyd_reply_error(r, 500, "err.internal");
		st = pw != NULL && strlen(pw) <= SP_PW_MAX_BYTES ?
		    sp_password_verify(acc.pw_hash, pw, &err) : SP_ERR_AUTH;
		sp_wipe(&acc, sizeof(acc));
		if (st == SP_ERR_RETRY)
			return keyd_reply_error(r, 503, "err.busy");
		if (st != SP_OK) {
			a = (struct sp_audit){now, "reauth-failed", s.email, NULL, r->client, NULL, 0};
			sp_store_audit(r->k->store, &a, NULL);
			return overview(r, &s, 401, NULL, "acct.pw_wrong");
		}
		sp_store_throttle_reset(r->k->store, key, NULL);
		sp_store_throttle_reset(r->k->store, key_email, NULL);
		sp_store_session_reauth(r->k->store, s.hash, now, NULL);
		s.auth_time = now;
		return overview(r, &s, 200, NULL, NULL);
	}
	if (!keyd_session_fresh(&s))
		return overview(r, &s, 403, NULL, "acct.confirm_first");
	if (strcmp(sub, "/password") == 0)
		return change_password(r, &s);
	if (strcmp(sub, "/profile") == 0)
		return change_profile(r, &s);
	if (strcmp(sub, "/totp") == 0)
		return totp_begin(r, &s, NULL, NULL);
	if (strcmp(sub, "/totp/confirm") == 0)
		return totp_confirm(r, &s);
	if (strcmp(sub, "/totp/remove") == 0) {
		a = (struct sp_audit){now, "totp-removed", s.email, NULL, r->client, NULL, 0};
		if (sp_store_totp_set(r->k->store, s.email, NULL, 0, 0, &a, NULL) != SP_OK)
			return keyd_reply_error(r, 500, "err.save");
		keyd_notice(r->k, SP_NOTICE_FACTOR_REMOVED, s.email, NULL, NULL, "notice.what.totp");
		return overview(r, &s, 200, "acct.totp_removed", NULL);
	}
	if (strcmp(sub, "/recovery") == 0) {
		struct sp_buf b;

		sp_buf_init(&b, 65536);
		if (new_codes(r, s.email, &b, NULL) != SP_OK) {
			sp_buf_free(&b);
			return keyd_reply_error(r, 500, "err.save");
		}
		keyd_notice(r->k, SP_NOTICE_FACTOR_ADDED, s.email, NULL, NULL, "notice.what.codes");
		return keyd_page_buf(r, 200, keyd_t(r, "acct.codes_title"), &b);
	}
	if (strcmp(sub, "/devices/forget") == 0) {
		if ((st = keyd_device_forget(r, &s)) == SP_ERR_NOTFOUND)
			return overview(r, &s, 404, NULL, "acct.no_device");
		if (st != SP_OK)
			return keyd_reply_error(r, 503, "err.save");
		return overview(r, &s, 200, "acct.device_forgotten", NULL);
	}
	if (strcmp(sub, "/passkeys/remove") == 0) {
		unsigned char id[SP_STORE_CRED_ID_MAX];
		long n = keyd_b64url_decode(keyd_field(r, "id"), id, sizeof(id));

		a = (struct sp_audit){now, "passkey-removed", s.email, NULL, r->client, NULL, 0};
		if (n <= 0 || sp_store_passkey_delete(r->k->store, s.email, id, (size_t)n, &a,
		    NULL) != SP_OK)
			return overview(r, &s, 404, NULL, "acct.no_passkey");
		keyd_notice(r->k, SP_NOTICE_FACTOR_REMOVED, s.email, NULL, NULL, "notice.what.passkey");
		return overview(r, &s, 200, "acct.passkey_removed", NULL);
	}
	return keyd_reply_error(r, 404, "err.no_page");
}

/* --- passkey registration API -------------------------------------------- */

enum MHD_Result
keyd_api_passkeys(struct keyd_req *r, const char *sub)
{
	struct sp_err err = {{0}};
	struct sp_session s;
	int st;

	st = keyd_session_auth(r, 1, &s, &err);
	if (st == SP_ERR_AUTH)
		return keyd_reply_error(r, 401, "api.not_logged_in");
	if (st == SP_ERR_DENIED)
		return keyd_reply_error(r, 403, "api.csrf");
	if (st != SP_OK)
		return keyd_reply_error(r, 503, "read.busy");
	if (!keyd_session_fresh(&s))
		return keyd_reply_reason(r, 403, "api.reauth", "reauth");
	if (strcmp(sub, "/options") == 0) {
		char chal[64];
		struct sp_buf uid;
		unsigned char uh[SP_SHA256_LEN];
		enum MHD_Result ret;

		if (keyd_challenge_new(r, s.email, chal) != SP_OK)
			return keyd_reply_error(r, 503, "read.busy");
		/* The user handle: a hash of the address, not the address. */
		sp_sha256(s.email, strlen(s.email), uh);
		sp_buf_init(&uid, 128);
		sp_b64url_encode(&uid, uh, sizeof(uh));
		ret = keyd_reply_json(r, 200, json_pack("{s:s,s:{s:s,s:s},s:{s:s,s:s,s:s},s:[{s:s,s:i},"
		    "{s:s,s:i}],s:o,s:s,s:{s:s,s:s},s:i}", "challenge", chal,
		    "rp", "id", r->k->rp_id, "name", "sealpost",
		    "user", "id", (const char *)uid.data, "name", s.email, "displayName", s.email,
		    "pubKeyCredParams", "type", "public-key", "alg", SP_WA_ES256, "type", "public-key",
		    "alg", SP_WA_EDDSA, "excludeCredentials", keyd_passkey_list_json(r, s.email),
		    "attestation", "none", "authenticatorSelection", "residentKey", "preferred",
		    "userVerification", "preferred", "timeout", 120000));
		sp_buf_free(&uid);
		return ret;
	}
	if (strcmp(sub, "") == 0) {
		json_t *j, *codes = NULL;
		unsigned char *cd = malloc(SP_WA_CLIENT_DATA_MAX), *ao = malloc(SP_WA_ATT_OBJ_MAX);
		unsigned char chal[32];
		long cdn, aon;
		struct sp_webauthn_rp rp = {r->k->rp_id, r->k->origin};
		struct sp_webauthn_cred cred;
		struct sp_passkey pk;
		struct sp_account acc;
		struct sp_audit a = {0, "passkey-added", s.email, NULL, r->client, NULL, 0};
		const char *name;
		enum MHD_Result ret;

		if (cd == NULL || ao == NULL || (j = keyd_json_body(r, 0)) == NULL) {
			free(cd);
			free(ao);
			return keyd_reply_error(r, 400, "api.not_object");
		}
		cdn = keyd_b64url_decode(json_string_value(json_object_get(j, "clientDataJSON")), cd,
		    SP_WA_CLIENT_DATA_MAX);
		aon = keyd_b64url_decode(json_string_value(json_object_get(j, "attestationObject")), ao,
		    SP_WA_ATT_OBJ_MAX);
		name = json_string_value(json_object_get(j, "name"));
		st = SP_ERR_INVALID;
		if (cdn > 0 && aon > 0 && keyd_challenge_take(r, s.email, cd, (size_t)cdn, chal) == SP_OK)
			st = sp_webauthn_verify_registration(&rp, chal, sizeof(chal), cd, (size_t)cdn,
			    ao, (size_t)aon, &cred, &err);
		free(cd);
		free(ao);
		if (st != SP_OK) {
			json_decref(j);
			keyd_log("passkey-refused", "error", sp_err_msg(&err, st), NULL);
			return keyd_reply_field(r, "attestationObject", "api.passkey_check");
		}
		memset(&pk, 0, sizeof(pk));
		memcpy(pk.cred_id, cred.id, cred.id_len);
		pk.cred_id_len = cred.id_len;
		memcpy(pk.pubkey, cred.public_key, cred.public_key_len);
		pk.pubkey_len = cred.public_key_len;
		pk.alg = cred.alg;
		pk.sign_count = cred.sign_count;
		snprintf(pk.email, sizeof(pk.email), "%s", s.email);
		snprintf(pk.name, sizeof(pk.name), "%s", name && *name && strlen(name) < 64 &&
		    g_utf8_validate(name, -1, NULL) ? name : "Passkey");
		pk.created = pk.last_used = (int64_t)time(NULL);
		json_decref(j);
		st = sp_store_passkey_add(r->k->store, &pk, &a, &err);
		if (st == SP_ERR_EXISTS)
			return keyd_reply_error(r, 409, "api.passkey_exists");
		if (st != SP_OK)
			return keyd_reply_error(r, 500, "err.save");
		keyd_notice(r->k, SP_NOTICE_FACTOR_ADDED, s.email, NULL, NULL, "notice.what.passkey");
		if (sp_store_account_get(r->k->store, s.email, &acc, NULL) == SP_OK && acc.nrecovery == 0) {
			codes = json_array();
			new_codes(r, s.email, NULL, codes);
		}
		sp_wipe(&acc, sizeof(acc));
		ret = keyd_reply_json(r, 201, codes ? json_pack("{s:b,s:o}", "ok", 1, "recovery_codes",
		    codes) : json_pack("{s:b}", "ok", 1));
		return ret;
	}
	return keyd_reply_error(r, 404, "api.no_such");
}

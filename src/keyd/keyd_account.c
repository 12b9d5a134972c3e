/*
 * keyd_account.c - the pages that get a recipient back in: forgot password
 * (GET/POST /forgot) and the reset it mails (GET/POST /reset?t=), a new
 * activation mail (GET/POST /resend), a mailed sign-in link for when the
 * client's network is locked out (GET/POST /signin-link), and the
 * server-rendered sign-in (GET/POST /signin, POST /signin/second).
 * SECURITY: the mail-request pages answer the same, in the same time,
 * whether or not the address has an account: the store does the same
 * transaction either way and mail leaves through the queue.  Requests are
 * rate-limited per address and per client.  A reset needs the mailed link
 * AND the security answers; it ends every session and a notice mail tells
 * the owner.  Forms carry the CSRF token; passwords only reach Argon2.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto.h"
#include "keyd_account.h"
#include "keyd_device.h"
#include "keyd_lang.h"
#include "keyd_login.h"
#include "keyd_pages.h"
#include "notice.h"
#include "password.h"

static void
esc(struct sp_buf *b, const char *s)
{
	if (s != NULL)
		sp_html_escape(b, s, strlen(s));
}

static void
hidden(struct sp_buf *b, const char *name, const char *value)
{
	sp_buf_printf(b, "<input type=\"hidden\" name=\"%s\" value=\"", name);
	esc(b, value ? value : "");
	sp_buf_append_str(b, "\">");
}

static void
form_open(struct keyd_req *r, struct sp_buf *b, const char *action)
{
	char csrf[64];

	keyd_csrf_token(r, csrf);
	sp_buf_printf(b, "<form method=\"post\" action=\"%s\" class=\"form\" novalidate>", action);
	hidden(b, "csrf", csrf);
}

static void
email_field(struct keyd_req *r, struct sp_buf *b, const char *value, const char *error,
    int readonly)
{
	error = keyd_tmsg(r, error);
	sp_buf_append_str(b, "<div class=\"field\"><label for=\"email\">");
	keyd_th(r, b, "reg.email_address", NULL, 0);
	sp_buf_append_str(b, "</label><input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"username\" "
	    "spellcheck=\"false\" autocapitalize=\"off\" required aria-describedby=\"email-err\"");
	if (readonly)
		sp_buf_append_str(b, " readonly");
	sp_buf_printf(b, " aria-invalid=\"%s\" value=\"", error && *error ? "true" : "false");
	esc(b, value);
	sp_buf_append_str(b, "\"><p class=\"err\" id=\"email-err\">");
	esc(b, error);
	sp_buf_append_str(b, "</p></div>");
}

/* label and hint: catalogue keys; error: a key or a library message */
static void
pw_field(struct keyd_req *r, struct sp_buf *b, const char *id, const char *label,
    const char *ac, const char *error, const char *hint)
{
	error = keyd_tmsg(r, error);
	sp_buf_printf(b, "<div class=\"field\"><label for=\"%s\">", id);
	keyd_th(r, b, label, NULL, 0);
	sp_buf_append_str(b, "</label>");
	if (hint != NULL) {
		sp_buf_printf(b, "<p class=\"hint\" id=\"%s-hint\">", id);
		keyd_th(r, b, hint, NULL, 0);
		sp_buf_append_str(b, "</p>");
	}
	sp_buf_printf(b, "<input id=\"%s\" name=\"%s\" type=\"password\" autocomplete=\"%s\" "
	    "required aria-invalid=\"%s\" aria-describedby=\"%s%s%s-err\">", id, id, ac,
	    error && *error ? "true" : "false", hint ? id : "", hint ? "-hint " : "", id);
	sp_buf_printf(b, "<p class=\"err\" id=\"%s-err\">", id);
	esc(b, error);
	sp_buf_append_str(b, "</p></div>");
}

/* Count a request of this client against key "PREFIX:CLIENT"; 1 when it
 * is over the limit (then a 429 page is the answer). */
static int
client_limited(struct keyd_req *r, const char *prefix)
{
	char key[96];
	int64_t until = 0, now = (int64_t)time(NULL);

	snprintf(key, sizeof(key), "%s:%s", prefix, r->client_key);
	if (sp_store_throttle_begin(r->k->store, key, now, &r->k->thr_form, &until, NULL) != SP_OK)
		return 0;
	if (until > now) {
		r->retry_after = until - now;
		return 1;
	}
	return 0;
}

/* --- mail requests: forgot, resend, sign-in link ------------------------- */

struct mailreq {
	const char *path;
	const char *title;
	const char *lead;
	const char *button;
	int token_kind;
	int notice_kind;
	int64_t ttl;
	const char *ttl_text;
	const char *sent;	/* answer, {email} = the address */
	const char *event;	/* audit event when issued */
};

/* title, lead, button and sent: catalogue keys */
static const struct mailreq req_forgot = {
	"/forgot", "mr.forgot.title", "mr.forgot.lead", "mr.forgot.button",
	SP_TOKEN_RESET, SP_NOTICE_RESET, KEYD_RESET_TTL, "notice.ttl.1h", "mr.forgot.sent",
	"reset-requested",
};

static const struct mailreq req_resend = {
	"/resend", "mr.resend.title", "mr.resend.lead", "mr.resend.button",
	SP_TOKEN_ACTIVATE, SP_NOTICE_ACTIVATE, KEYD_ACTIVATION_TTL, "notice.ttl.24h", "mr.resend.sent",
	"activation-resent",
};

static const struct mailreq req_signin = {
	"/signin-link", "mr.signin.title", "mr.signin.lead", "mr.signin.button",
	SP_TOKEN_SIGNIN, SP_NOTICE_SIGNIN, KEYD_SIGNIN_TTL, "notice.ttl.15m", "mr.signin.sent",
	"signin-link-requested",
};

static enum MHD_Result
mailreq_form(struct keyd_req *r, const struct mailreq *q, unsigned status,
    const char *email, const char *error)
{
	struct sp_buf b;

	sp_buf_init(&b, 16384);
	sp_buf_append_str(&b, "<p class=\"lead\">");
	keyd_th(r, &b, q->lead, NULL, 0);
	sp_buf_append_str(&b, "</p>");
	form_open(r, &b, q->path);
	email_field(r, &b, email, error, 0);
	sp_buf_append_str(&b, "<button type=\"submit\" class=\"primary\">");
	keyd_th(r, &b, q->button, NULL, 0);
	sp_buf_append_str(&b, "</button></form>");
	if (q == &req_forgot)
		keyd_th(r, &b, "mr.forgot.hint_html", NULL, 0);
	return keyd_page_buf(r, status, keyd_t(r, q->title), &b);
}

/* Issue q's token for email and queue its mail, within the address's
 * mails: three an hour under "mail:EMAIL", or under "mail-holder:EMAIL"
 * when the asking page proved that it holds a message to the address
 * (keyd_holds_mail).  The same work whether or not the address has an
 * account; over the budget nothing is mailed and nothing tells. */
static int
mail_issue(struct keyd_req *r, const struct mailreq *q, const char *email, int holder,
    struct sp_err *err)
{
	struct sp_audit a;
	unsigned char th[SP_SHA256_LEN];
	char token[64], key[SP_STORE_EMAIL_MAX + 16];
	int64_t now = (int64_t)time(NULL);
	int issued = 0, st;

	if ((st = sp_token_new(token, sizeof(token), "", 16)) != SP_OK)
		return st;
	sp_sha256(token, strlen(token), th);
	snprintf(key, sizeof(key), "%s:%s", holder ? "mail-holder" : "mail", email);
	a = (struct sp_audit){now, q->event, email, NULL, r->client, NULL, 0};
	st = sp_store_token_issue(r->k->store, q->token_kind, email, th, now, now + q->ttl, key,
	    &r->k->thr_mail, &issued, &a, err);
	if (st == SP_OK && issued)
		keyd_notice(r->k, q->notice_kind, email, token, q->ttl_text, NULL);
	sp_wipe(token, sizeof(token));
	return st;
}

static enum MHD_Result
mailreq(struct keyd_req *r, const struct mailreq *q)
{
	struct sp_err err = {{0}};
	struct sp_buf b;
	char email[SP_STORE_EMAIL_MAX + 1];
	const char *e;
	int st;

	if (strcmp(r->method, "POST") != 0) {
		e = keyd_arg(r, "email");
		return mailreq_form(r, q, 200, e && keyd_valid_email(e) ? e : "", NULL);
	}
	if (!keyd_csrf_ok(r))
		return keyd_csrf_refused(r);
	e = keyd_field(r, "email");
	if (e == NULL || keyd_email_lower(e, email, sizeof(email)) != SP_OK)
		return mailreq_form(r, q, 400, "", "form.email_invalid");
	if (client_limited(r, "mailreq"))
		return keyd_reply_error(r, 429, "err.too_many_requests");
	if ((st = mail_issue(r, q, email, 0, &err)) != SP_OK) {
		if (st == SP_ERR_RETRY)
			return keyd_reply_error(r, 503, "err.busy");
		keyd_log("store-error", "path", r->url, "error", sp_err_msg(&err, st), NULL);
		return keyd_reply_error(r, 500, "err.internal");
	}
	sp_buf_init(&b, 8192);
	sp_buf_append_str(&b, "<p>");
	keyd_th(r, &b, q->sent, (struct sp_i18n_var[]){{"email", email}}, 1);
	sp_buf_append_str(&b, "</p>");
	keyd_th(r, &b, "mr.spam_hint_html", NULL, 0);
	return keyd_page_buf(r, 200, keyd_t(r, "reg.sent_title"), &b);
}

int
keyd_mailreq_limited(struct keyd_req *r)
{
	return client_limited(r, "mailreq");
}

int
keyd_mail_reset(struct keyd_req *r, const char *email, int holder, const char *page,
    struct sp_err *err)
{
	int st = mail_issue(r, &req_forgot, email, holder, err);
	const char *h = holder ? "yes" : "no";

	if (st == SP_OK && page != NULL)
		keyd_log("forgot", "client", r->client, "holder", h, "page", page, NULL);
	else if (st == SP_OK)
		keyd_log("forgot", "client", r->client, "holder", h, NULL);
	else if (st != SP_ERR_RETRY)
		keyd_log("forgot-failed", "error", sp_err_msg(err, st), NULL);
	return st;
}

enum MHD_Result
keyd_page_forgot(struct keyd_req *r, const char *arg)
{
	return mailreq(r, &req_forgot);
}

enum MHD_Result
keyd_page_resend(struct keyd_req *r, const char *arg)
{
	return mailreq(r, &req_resend);
}

enum MHD_Result
keyd_page_signin_link(struct keyd_req *r, const char *arg)
{
	return mailreq(r, &req_signin);
}

/* --- reset --------------------------------------------------------------- */

static enum MHD_Result
link_problem(struct keyd_req *r, int st, const char *again_path, const char *again_text)
{
	struct sp_buf b;

	if (st == SP_ERR_RETRY)
		return keyd_reply_error(r, 503, "err.busy");
	if (st != SP_ERR_NOTFOUND && st != SP_ERR_EXPIRED)
		return keyd_reply_error(r, 500, "err.internal");
	sp_buf_init(&b, 4096);
	keyd_th(r, &b, st == SP_ERR_EXPIRED ? "link.used_html" : "link.invalid_html", NULL, 0);
	sp_buf_printf(&b, "<p><a href=\"%s\">", again_path);
	keyd_th(r, &b, again_text, NULL, 0);
	sp_buf_append_str(&b, "</a></p>");
	return keyd_page_buf(r, 400, keyd_t(r, "act.bad_title"), &b);
}

struct resetform {
	const char *t;
	char err_pw[200], err_pw2[200], err_ans[200], summary[200];
};

static enum MHD_Result
reset_form(struct keyd_req *r, unsigned status, const struct sp_account *acc,
    const struct resetform *f)
{
	struct sp_buf b;
	int i, nq = 0;

	sp_buf_init(&b, 32768);
	keyd_page_alert(&b, keyd_tmsg(r, f->summary));
	keyd_th(r, &b, "reset.lead_html", (struct sp_i18n_var[]){{"email", acc->email}}, 1);
	form_open(r, &b, "/reset");
	hidden(&b, "t", f->t);
	for (i = 0; i < 3; i++)
		if (acc->question[i] >= 1 && acc->question[i] <= keyd_nquestions)
			nq++;
	if (nq > 0) {
		sp_buf_append_str(&b, "<fieldset><legend>");
		keyd_th(r, &b, "reset.questions", NULL, 0);
		sp_buf_append_str(&b, "</legend>");
		if (f->err_ans[0]) {
			sp_buf_append_str(&b, "<p class=\"err\" id=\"answers-err\">");
			esc(&b, keyd_tmsg(r, f->err_ans));
			sp_buf_append_str(&b, "</p>");
		}
		for (i = 0; i < 3; i++) {
			int q = acc->question[i];

			if (q < 1 || q > keyd_nquestions)
				continue;
			sp_buf_printf(&b, "<div class=\"field\"><label for=\"a%d\">", i + 1);
			esc(&b, keyd_t(r, keyd_questions[q - 1]));
			sp_buf_printf(&b, "</label><input id=\"a%d\" name=\"a%d\" type=\"text\" "
			    "autocomplete=\"off\" required aria-invalid=\"%s\"></div>", i + 1, i + 1,
			    f->err_ans[0] ? "true" : "false");
		}
		keyd_th(r, &b, "reset.answers_hint_html", NULL, 0);
		sp_buf_append_str(&b, "</fieldset>");
	}
	sp_buf_append_str(&b, "<fieldset><legend>");
	keyd_th(r, &b, "js.card.new_password", NULL, 0);
	sp_buf_append_str(&b, "</legend>");
	pw_field(r, &b, "password", "js.card.new_password", "new-password", f->err_pw,
	    "js.card.at_least_8_characters");
	pw_field(r, &b, "password2", "js.card.new_password_again", "new-password", f->err_pw2, NULL);
	sp_buf_append_str(&b, "<button type=\"submit\" class=\"primary\">");
	keyd_th(r, &b, "reset.button", NULL, 0);
	sp_buf_append_str(&b, "</button></form>");
	return keyd_page_buf(r, status, keyd_t(r, "reset.title"), &b);
}

enum MHD_Result
keyd_page_reset(struct keyd_req *r, const char *arg)
{
	struct sp_err err = {{0}};
	struct sp_token_rec tr;
	struct sp_account acc;
	struct sp_audit a;
	struct resetform f;
	struct sp_pw_context ctx = {NULL, NULL};
	unsigned char th[SP_SHA256_LEN];
	char hash[SP_PW_HASH_LEN], key[SP_STORE_EMAIL_MAX + 12];
	const char *pw, *pw2;
	int64_t now = (int64_t)time(NULL), until = 0;
	int st, i, bad = 0, post = strcmp(r->method, "POST") == 0;
	struct sp_buf b;

	memset(&f, 0, sizeof(f));
	if (post && !keyd_csrf_ok(r))
		return keyd_csrf_refused(r);
	f.t = post ? keyd_field(r, "t") : keyd_arg(r, "t");
	if (!keyd_token_shape(f.t, 16, 64))
		return link_problem(r, SP_ERR_NOTFOUND, "/forgot", "link.ask_new");
	sp_sha256(f.t, strlen(f.t), th);
	if ((st = sp_store_token_peek(r->k->store, SP_TOKEN_RESET, th, now, &tr, &err)) != SP_OK)
		return link_problem(r, st, "/forgot", "link.ask_new");
	if ((st = sp_store_account_get(r->k->store, tr.email, &acc, &err)) != SP_OK)
		return link_problem(r, st == SP_ERR_NOTFOUND ? SP_ERR_EXPIRED : st, "/forgot",
		    "link.ask_new");
	if (!post) {
		enum MHD_Result ret = reset_form(r, 200, &acc, &f);

		sp_wipe(&acc, sizeof(acc));
		return ret;
	}
	snprintf(key, sizeof(key), "answers:%s", acc.email);
	if (sp_store_throttle_begin(r->k->store, key, now, &r->k->thr_email, &until, NULL) != SP_OK ||
	    until > now) {
		sp_wipe(&acc, sizeof(acc));
		r->retry_after = until > now ? until - now : 2;
		return keyd_reply_error(r, 429, "err.too_many_answers");
	}
	/* Every answer is checked (no early exit: the time tells nothing). */
	for (i = 0; i < 3; i++) {
		char name[16];
		const char *ans;

		if (acc.question[i] < 1 || acc.answer_hash[i][0] == '\0')
			continue;
		snprintf(name, sizeof(name), "a%d", i + 1);
		ans = keyd_field(r, name);
		st = ans != NULL && *ans != '\0' && strlen(ans) <= 1024 ?
		    sp_answer_verify(acc.answer_hash[i], ans, &err) : SP_ERR_AUTH;
		if (st == SP_ERR_RETRY) {
			sp_store_throttle_undo(r->k->store, key, NULL);
			sp_wipe(&acc, sizeof(acc));
			return keyd_reply_error(r, 503, "err.busy");
		}
		if (st != SP_OK)
			bad = 1;
	}
	if (bad)
		snprintf(f.err_ans, sizeof(f.err_ans), "reset.answers_wrong");
	pw = keyd_field(r, "password");
	pw2 = keyd_field(r, "password2");
	ctx.email = acc.email;
	if (pw == NULL || *pw == '\0')
		snprintf(f.err_pw, sizeof(f.err_pw), "form.password");
	else if (sp_password_check(pw, &ctx, &err) != SP_OK)
		snprintf(f.err_pw, sizeof(f.err_pw), "%.199s", err.msg);
	if (pw2 == NULL || *pw2 == '\0')
		snprintf(f.err_pw2, sizeof(f.err_pw2), "form.password2");
	else if (pw != NULL && strcmp(pw, pw2) != 0)
		snprintf(f.err_pw2, sizeof(f.err_pw2), "form.password_mismatch");
	if (bad || f.err_pw[0] || f.err_pw2[0]) {
		enum MHD_Result ret;

		if (bad) {
			a = (struct sp_audit){now, "reset-answers-wrong", acc.email, NULL, r->client, NULL, 0};
			sp_store_audit(r->k->store, &a, NULL);
		} else
			sp_store_throttle_undo(r->k->store, key, NULL);
		snprintf(f.summary, sizeof(f.summary), "form.some_fields");
		ret = reset_form(r, 400, &acc, &f);
		sp_wipe(&acc, sizeof(acc));
		return ret;
	}
	if ((st = sp_password_hash(pw, hash, &err)) != SP_OK) {
		sp_wipe(&acc, sizeof(acc));
		return keyd_reply_error(r, st == SP_ERR_RETRY ? 503 : 500, st == SP_ERR_RETRY ?
		    "err.busy" : "err.internal");
	}
	a = (struct sp_audit){now, "password-reset", acc.email, NULL, r->client, NULL, 0};
	st = sp_store_password_set(r->k->store, acc.email, hash, now, th, NULL, &a, &err);
	sp_wipe(hash, sizeof(hash));
	if (st != SP_OK) {
		sp_wipe(&acc, sizeof(acc));
		return link_problem(r, st, "/forgot", "link.ask_new");
	}
	sp_store_throttle_reset(r->k->store, key, NULL);
	snprintf(key, sizeof(key), "email:%s", acc.email);
	sp_store_throttle_reset(r->k->store, key, NULL);
	keyd_notice(r->k, SP_NOTICE_PW_CHANGED, acc.email, NULL, NULL, NULL);
	keyd_set_session_cookie(r, "", 1);
	keyd_log("password-reset", "client", r->client, NULL);
	sp_buf_init(&b, 4096);
	keyd_th(r, &b, "reset.done_html", (struct sp_i18n_var[]){{"email", acc.email}}, 1);
	if (acc.totp_wrapped_len > 0 || acc.npasskeys > 0)
		keyd_th(r, &b, "reset.factors_html", NULL, 0);
	sp_wipe(&acc, sizeof(acc));
	return keyd_page_buf(r, 200, keyd_t(r, "reset.done_title"), &b);
}

/* --- server-rendered sign-in --------------------------------------------- */

/* A local path to go to after signing in: "/account..." only. */
static const char *
next_path(const char *n)
{
	if (n != NULL && strncmp(n, "/account", 8) == 0 && strlen(n) < 100 &&
	    strspn(n, "abcdefghijklmnopqrstuvwxyz/-") == strlen(n))
		return n;
	return "/account";
}

static enum MHD_Result
signin_form(struct keyd_req *r, unsigned status, const char *email, const char *t,
    const char *next, const char *error, int locked)
{
	struct sp_buf b;

	sp_buf_init(&b, 16384);
	keyd_page_alert(&b, keyd_tmsg(r, error));
	if (locked)
		keyd_th(r, &b, "signin.locked_html", NULL, 0);
	form_open(r, &b, "/signin");
	hidden(&b, "next", next_path(next));
	if (t != NULL)
		hidden(&b, "t", t);
	email_field(r, &b, email, NULL, t != NULL && email != NULL && *email);
	pw_field(r, &b, "password", "js.card.password", "current-password", NULL, NULL);
	keyd_th(r, &b, "signin.form_html", NULL, 0);
	return keyd_page_buf(r, status, keyd_t(r, "js.card.sign_in"), &b);
}

/* The sign-in form's "Remember this device" box was ticked. */
static int
remember_asked(struct keyd_req *r)
{
	const char *v = keyd_field(r, "remember");

	return v != NULL && strcmp(v, "1") == 0;
}

static enum MHD_Result
second_form(struct keyd_req *r, unsigned status, const struct keyd_login *l,
    const char *next, const char *error)
{
	struct sp_buf b;

	sp_buf_init(&b, 16384);
	keyd_page_alert(&b, keyd_tmsg(r, error));
	keyd_th(r, &b, "read.second_lead_html", NULL, 0);
	if (l->npasskeys > 0)
		keyd_th(r, &b, "signin.passkey_html", NULL, 0);
	form_open(r, &b, "/signin/second");
	hidden(&b, "token", l->mfa_token);
	hidden(&b, "next", next_path(next));
	if (remember_asked(r))
		hidden(&b, "remember", "1");
	if (l->has_totp)
		keyd_th(r, &b, "read.totp_html", NULL, 0);
	if (l->nrecovery > 0)
		keyd_th(r, &b, "signin.recovery_html", NULL, 0);
	if (l->has_totp || l->nrecovery > 0) {
		sp_buf_append_str(&b, "<button type=\"submit\" class=\"primary\">");
		keyd_th(r, &b, "read.continue", NULL, 0);
		sp_buf_append_str(&b, "</button>");
	}
	sp_buf_append_str(&b, "</form><script type=\"module\" src=\"/static/signin.js\"></script>");
	return keyd_page_buf(r, status, keyd_t(r, "read.second_title"), &b);
}

static enum MHD_Result
signin_result(struct keyd_req *r, struct keyd_login *l, const char *email, const char *t,
    const char *next, int second)
{
	enum MHD_Result ret;
	char msg[200];

	switch (l->status) {
	case KEYD_LOGIN_OK:
		/* the box ticked: this browser becomes a remembered device */
		if (remember_asked(r))
			keyd_device_remember(r, l->email);
		ret = keyd_redirect(r, next_path(next));
		break;
	case KEYD_LOGIN_MFA:
		ret = second_form(r, 200, l, next, NULL);
		break;
	case KEYD_LOGIN_LOCKED:
		{
			char sec[24];

			snprintf(sec, sizeof(sec), "%lld", (long long)l->retry_after);
			keyd_tplain(r, "read.locked_for", (struct sp_i18n_var[]){{"s", sec}}, 1,
			    msg, sizeof(msg));
		}
		r->retry_after = l->retry_after;
		ret = signin_form(r, 429, email, t, next, msg, 1);
		break;
	case KEYD_LOGIN_BUSY:
		ret = keyd_reply_error(r, 503, "err.busy");
		break;
	case KEYD_LOGIN_INVALID:
		if (second && l->mfa_token[0] != '\0')
			ret = second_form(r, 400, l, next, l->has_totp ? "read.enter_code" : "js.enter_recovery");
		else
			ret = second ? keyd_reply_field(r, l->field, l->why) :
			    signin_form(r, 400, email, t, next, l->why, 0);
		break;
	case KEYD_LOGIN_BAD:
		if (second && l->why != NULL && strcmp(l->why, "expired") == 0)
			ret = signin_form(r, 401, l->email, NULL, next, "read.too_long", 0);
		else if (second)
			ret = second_form(r, 401, l, next, "read.bad_code");
		else
			ret = signin_form(r, 401, email, t, next, "read.wrong_login", 0);
		break;
	default:
		ret = keyd_reply_error(r, 500, "err.internal");
	}
	keyd_login_wipe(l);
	return ret;
}

enum MHD_Result
keyd_page_signin(struct keyd_req *r, const char *arg)
{
	struct keyd_login l;
	struct sp_token_rec tr;
	unsigned char th[SP_SHA256_LEN];
	const char *t, *email;

	if (strcmp(r->method, "POST") != 0) {
		t = keyd_arg(r, "t");
		if (t != NULL) {
			int st;

			if (!keyd_token_shape(t, 16, 64))
				return link_problem(r, SP_ERR_NOTFOUND, "/signin-link", "link.ask_new");
			sp_sha256(t, strlen(t), th);
			st = sp_store_token_peek(r->k->store, SP_TOKEN_SIGNIN, th, (int64_t)time(NULL),
			    &tr, NULL);
			if (st != SP_OK)
				return link_problem(r, st, "/signin-link", "link.ask_new");
			return signin_form(r, 200, tr.email, t, keyd_arg(r, "next"), NULL, 0);
		}
		return signin_form(r, 200, "", NULL, keyd_arg(r, "next"), NULL, 0);
	}
	if (!keyd_csrf_ok(r))
		return keyd_csrf_refused(r);
	t = keyd_field(r, "t");
	if (t != NULL && !keyd_token_shape(t, 16, 64))
		t = NULL;
	email = keyd_field(r, "email");
	keyd_login_password(r, email, keyd_field(r, "password"), t, &l);
	return signin_result(r, &l, email && keyd_valid_email(email) ? email : "", t,
	    keyd_field(r, "next"), 0);
}

enum MHD_Result
keyd_page_signin_mfa(struct keyd_req *r, const char *arg)
{
	struct keyd_login l;

	if (!keyd_csrf_ok(r))
		return keyd_csrf_refused(r);
	keyd_login_second(r, keyd_field(r, "token"), keyd_field(r, "code"),
	    keyd_field(r, "recovery"), NULL, &l);
	return signin_result(r, &l, NULL, NULL, keyd_field(r, "next"), 1);
}

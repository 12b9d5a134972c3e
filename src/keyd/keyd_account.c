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
email_field(struct sp_buf *b, const char *value, const char *error, int readonly)
{
	sp_buf_append_str(b, "<div class=\"field\"><label for=\"email\">Email address</label>"
	    "<input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"username\" "
	    "spellcheck=\"false\" autocapitalize=\"off\" required aria-describedby=\"email-err\"");
	if (readonly)
		sp_buf_append_str(b, " readonly");
	sp_buf_printf(b, " aria-invalid=\"%s\" value=\"", error && *error ? "true" : "false");
	esc(b, value);
	sp_buf_append_str(b, "\"><p class=\"err\" id=\"email-err\">");
	esc(b, error);
	sp_buf_append_str(b, "</p></div>");
}

static void
pw_field(struct sp_buf *b, const char *id, const char *label, const char *ac,
    const char *error, const char *hint)
{
	sp_buf_printf(b, "<div class=\"field\"><label for=\"%s\">%s</label>", id, label);
	if (hint != NULL)
		sp_buf_printf(b, "<p class=\"hint\" id=\"%s-hint\">%s</p>", id, hint);
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

	snprintf(key, sizeof(key), "%s:%s", prefix, r->client);
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
	const char *sent;	/* answer, %s = the address */
	const char *event;	/* audit event when issued */
};

static const struct mailreq req_forgot = {
	"/forgot", "Forgot your password?",
	"Type the address your secure messages are sent to. We will mail you a link to "
	"choose a new password; you will also need the answers to your security questions.",
	"Send me a link", SP_TOKEN_RESET, SP_NOTICE_RESET, KEYD_RESET_TTL, "1 hour",
	"If %s has an account, we sent a link to it. It works once, for one hour.",
	"reset-requested",
};

static const struct mailreq req_resend = {
	"/resend", "Send the confirmation mail again",
	"Type the address you registered. If a registration is waiting for confirmation, "
	"we will mail you a new link for it.",
	"Send a new link", SP_TOKEN_ACTIVATE, SP_NOTICE_ACTIVATE, KEYD_ACTIVATION_TTL, "24 hours",
	"If a registration of %s is waiting for confirmation, we sent a new link to it.",
	"activation-resent",
};

static const struct mailreq req_signin = {
	"/signin-link", "Sign in with a link by mail",
	"When sign-ins from your network are paused after too many wrong passwords (yours or "
	"someone else's), a link by mail lets you sign in with your password all the same.",
	"Mail me a sign-in link", SP_TOKEN_SIGNIN, SP_NOTICE_SIGNIN, KEYD_SIGNIN_TTL,
	"15 minutes",
	"If %s has an account, we sent a sign-in link to it. It works once, for 15 minutes.",
	"signin-link-requested",
};

static enum MHD_Result
mailreq_form(struct keyd_req *r, const struct mailreq *q, unsigned status,
    const char *email, const char *error)
{
	struct sp_buf b;

	sp_buf_init(&b, 16384);
	sp_buf_printf(&b, "<p class=\"lead\">%s</p>", q->lead);
	form_open(r, &b, q->path);
	email_field(&b, email, error, 0);
	sp_buf_printf(&b, "<button type=\"submit\" class=\"primary\">%s</button></form>",
	    q->button);
	if (q == &req_forgot)
		sp_buf_append_str(&b, "<p class=\"hint\">Not registered yet? Open your secure "
		    "message and choose <strong>Open</strong>. Did not get the confirmation mail? "
		    "<a href=\"/resend\">Send it again</a>.</p>");
	return keyd_page_buf(r, status, q->title, &b);
}

static enum MHD_Result
mailreq(struct keyd_req *r, const struct mailreq *q)
{
	struct sp_err err = {{0}};
	struct sp_audit a;
	struct sp_buf b;
	unsigned char th[SP_SHA256_LEN];
	char email[SP_STORE_EMAIL_MAX + 1], token[64], key[SP_STORE_EMAIL_MAX + 8];
	const char *e;
	int64_t now = (int64_t)time(NULL);
	int issued = 0, st;

	if (strcmp(r->method, "POST") != 0) {
		e = keyd_arg(r, "email");
		return mailreq_form(r, q, 200, e && keyd_valid_email(e) ? e : "", NULL);
	}
	if (!keyd_csrf_ok(r))
		return keyd_csrf_refused(r);
	e = keyd_field(r, "email");
	if (e == NULL || keyd_email_lower(e, email, sizeof(email)) != SP_OK)
		return mailreq_form(r, q, 400, "", "Enter a valid email address, such as "
		    "name@example.org");
	if (client_limited(r, "mailreq"))
		return keyd_reply_error(r, 429, "Too many requests from your network: please try "
		    "again later");
	if ((st = sp_token_new(token, sizeof(token), "", 16)) != SP_OK)
		return keyd_reply_error(r, 500, "internal error");
	sp_sha256(token, strlen(token), th);
	snprintf(key, sizeof(key), "mail:%s", email);
	a = (struct sp_audit){now, q->event, email, NULL, r->client, NULL, 0};
	st = sp_store_token_issue(r->k->store, q->token_kind, email, th, now, now + q->ttl, key,
	    &r->k->thr_mail, &issued, &a, &err);
	if (st != SP_OK) {
		sp_wipe(token, sizeof(token));
		if (st == SP_ERR_RETRY)
			return keyd_reply_error(r, 503, "The server is busy: please try again in a moment");
		keyd_log("store-error", "path", r->url, "error", sp_err_msg(&err, st), NULL);
		return keyd_reply_error(r, 500, "internal error");
	}
	if (issued)
		keyd_notice(r->k, q->notice_kind, email, token, q->ttl_text, NULL);
	sp_wipe(token, sizeof(token));
	sp_buf_init(&b, 8192);
	sp_buf_append_str(&b, "<p>");
	{
		char msg[600];

		snprintf(msg, sizeof(msg), q->sent, email);
		esc(&b, msg);
	}
	sp_buf_append_str(&b, "</p><p class=\"hint\">If no mail arrives within a few minutes, "
	    "look in your spam folder. For your safety we send at most three such mails an "
	    "hour to one address.</p>");
	return keyd_page_buf(r, 200, "Check your mail", &b);
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
		return keyd_reply_error(r, 503, "The server is busy: please try again in a moment");
	if (st != SP_ERR_NOTFOUND && st != SP_ERR_EXPIRED)
		return keyd_reply_error(r, 500, "internal error");
	sp_buf_init(&b, 4096);
	sp_buf_append_str(&b, st == SP_ERR_EXPIRED ?
	    "<p>This link was already used or has expired.</p>" :
	    "<p>This link is not valid. Check that you copied the whole link from the "
	    "mail.</p>");
	sp_buf_printf(&b, "<p><a href=\"%s\">%s</a></p>", again_path, again_text);
	return keyd_page_buf(r, 400, "This link cannot be used", &b);
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
	keyd_page_alert(&b, f->summary);
	sp_buf_append_str(&b, "<p class=\"lead\">Choose a new password for <strong>");
	esc(&b, acc->email);
	sp_buf_append_str(&b, "</strong>.</p>");
	form_open(r, &b, "/reset");
	hidden(&b, "t", f->t);
	for (i = 0; i < 3; i++)
		if (acc->question[i] >= 1 && acc->question[i] <= keyd_nquestions)
			nq++;
	if (nq > 0) {
		sp_buf_append_str(&b, "<fieldset><legend>Your security questions</legend>");
		if (f->err_ans[0]) {
			sp_buf_append_str(&b, "<p class=\"err\" id=\"answers-err\">");
			esc(&b, f->err_ans);
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
		sp_buf_append_str(&b, "<p class=\"hint\">Answers are compared without regard to "
		    "upper and lower case or extra spaces.</p></fieldset>");
	}
	sp_buf_append_str(&b, "<fieldset><legend>New password</legend>");
	pw_field(&b, "password", "New password", "new-password", f->err_pw,
	    "At least 8 characters; a few unrelated words make a good password.");
	pw_field(&b, "password2", "New password again", "new-password", f->err_pw2, NULL);
	sp_buf_append_str(&b, "</fieldset><button type=\"submit\" class=\"primary\">"
	    "Set my new password</button></form>");
	return keyd_page_buf(r, status, "Choose a new password", &b);
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
		return link_problem(r, SP_ERR_NOTFOUND, "/forgot", "Ask for a new link");
	sp_sha256(f.t, strlen(f.t), th);
	if ((st = sp_store_token_peek(r->k->store, SP_TOKEN_RESET, th, now, &tr, &err)) != SP_OK)
		return link_problem(r, st, "/forgot", "Ask for a new link");
	if ((st = sp_store_account_get(r->k->store, tr.email, &acc, &err)) != SP_OK)
		return link_problem(r, st == SP_ERR_NOTFOUND ? SP_ERR_EXPIRED : st, "/forgot",
		    "Ask for a new link");
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
		return keyd_reply_error(r, 429, "Too many wrong answers: please wait a few minutes "
		    "and try again");
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
			return keyd_reply_error(r, 503, "The server is busy: please try again in a moment");
		}
		if (st != SP_OK)
			bad = 1;
	}
	if (bad)
		snprintf(f.err_ans, sizeof(f.err_ans), "One or more answers do not match. Check "
		    "them and try again.");
	pw = keyd_field(r, "password");
	pw2 = keyd_field(r, "password2");
	ctx.email = acc.email;
	if (pw == NULL || *pw == '\0')
		snprintf(f.err_pw, sizeof(f.err_pw), "Enter a password of at least 8 characters");
	else if (sp_password_check(pw, &ctx, &err) != SP_OK)
		snprintf(f.err_pw, sizeof(f.err_pw), "%.199s", err.msg);
	if (pw2 == NULL || *pw2 == '\0')
		snprintf(f.err_pw2, sizeof(f.err_pw2), "Type the password again to confirm it");
	else if (pw != NULL && strcmp(pw, pw2) != 0)
		snprintf(f.err_pw2, sizeof(f.err_pw2), "The two passwords do not match");
	if (bad || f.err_pw[0] || f.err_pw2[0]) {
		enum MHD_Result ret;

		if (bad) {
			a = (struct sp_audit){now, "reset-answers-wrong", acc.email, NULL, r->client, NULL, 0};
			sp_store_audit(r->k->store, &a, NULL);
		} else
			sp_store_throttle_undo(r->k->store, key, NULL);
		snprintf(f.summary, sizeof(f.summary), "Some fields need your attention: see the "
		    "message beside each.");
		ret = reset_form(r, 400, &acc, &f);
		sp_wipe(&acc, sizeof(acc));
		return ret;
	}
	if ((st = sp_password_hash(pw, hash, &err)) != SP_OK) {
		sp_wipe(&acc, sizeof(acc));
		return keyd_reply_error(r, st == SP_ERR_RETRY ? 503 : 500, st == SP_ERR_RETRY ?
		    "The server is busy: please try again in a moment" : "internal error");
	}
	a = (struct sp_audit){now, "password-reset", acc.email, NULL, r->client, NULL, 0};
	st = sp_store_password_set(r->k->store, acc.email, hash, now, th, NULL, &a, &err);
	sp_wipe(hash, sizeof(hash));
	if (st != SP_OK) {
		sp_wipe(&acc, sizeof(acc));
		return link_problem(r, st, "/forgot", "Ask for a new link");
	}
	sp_store_throttle_reset(r->k->store, key, NULL);
	snprintf(key, sizeof(key), "email:%s", acc.email);
	sp_store_throttle_reset(r->k->store, key, NULL);
	keyd_notice(r->k, SP_NOTICE_PW_CHANGED, acc.email, NULL, NULL, NULL);
	keyd_set_session_cookie(r, "", 1);
	keyd_log("password-reset", "client", r->client, NULL);
	sp_buf_init(&b, 4096);
	sp_buf_append_str(&b, "<p>Your new password is set, and every browser that was signed "
	    "in to <strong>");
	esc(&b, acc.email);
	sp_buf_append_str(&b, "</strong> is signed out.</p><p>Go back to your secure message "
	    "and choose <strong>Open</strong>, or <a href=\"/signin\">sign in here</a>.</p>");
	if (acc.totp_wrapped_len > 0 || acc.npasskeys > 0)
		sp_buf_append_str(&b, "<p class=\"hint\">Your authenticator app and passkeys stay "
		    "as they were: you will still be asked for one when you sign in.</p>");
	sp_wipe(&acc, sizeof(acc));
	return keyd_page_buf(r, 200, "Your password is changed", &b);
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
	keyd_page_alert(&b, error);
	if (locked)
		sp_buf_append_str(&b, "<p class=\"hint\">If this is not your doing, someone on your "
		    "network may be guessing passwords. You can still sign in with "
		    "<a href=\"/signin-link\">a link by mail</a>.</p>");
	form_open(r, &b, "/signin");
	hidden(&b, "next", next_path(next));
	if (t != NULL)
		hidden(&b, "t", t);
	email_field(&b, email, NULL, t != NULL && email != NULL && *email);
	pw_field(&b, "password", "Password", "current-password", NULL, NULL);
	sp_buf_append_str(&b, "<div class=\"field check\"><input type=\"checkbox\" id=\"remember\" "
	    "name=\"remember\" value=\"1\"><label for=\"remember\">Remember this device (not on "
	    "a shared computer)</label></div>");
	sp_buf_append_str(&b, "<button type=\"submit\" class=\"primary\">Sign in</button></form>"
	    "<p class=\"hint\"><a href=\"/forgot\">Forgot your password?</a> &middot; "
	    "<a href=\"/signin-link\">Sign in with a link by mail</a></p>");
	return keyd_page_buf(r, status, "Sign in", &b);
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
	keyd_page_alert(&b, error);
	sp_buf_append_str(&b, "<p class=\"lead\">Your password was right. One more step: "
	    "prove it is you with your second factor.</p>");
	if (l->npasskeys > 0)
		sp_buf_append_str(&b, "<p><button type=\"button\" class=\"primary\" "
		    "id=\"sp-passkey\" hidden>Use my passkey</button></p>"
		    "<p class=\"err\" id=\"sp-passkey-err\" role=\"alert\"></p>");
	form_open(r, &b, "/signin/second");
	hidden(&b, "token", l->mfa_token);
	hidden(&b, "next", next_path(next));
	if (remember_asked(r))
		hidden(&b, "remember", "1");
	if (l->has_totp)
		sp_buf_append_str(&b, "<div class=\"field\"><label for=\"code\">Code from your "
		    "authenticator app</label><input id=\"code\" name=\"code\" type=\"text\" "
		    "inputmode=\"numeric\" autocomplete=\"one-time-code\" maxlength=\"8\"></div>");
	if (l->nrecovery > 0)
		sp_buf_append_str(&b, "<details><summary>Use a recovery code instead</summary>"
		    "<div class=\"field\"><label for=\"recovery\">Recovery code</label><input "
		    "id=\"recovery\" name=\"recovery\" type=\"text\" autocomplete=\"off\" "
		    "spellcheck=\"false\"></div></details>");
	if (l->has_totp || l->nrecovery > 0)
		sp_buf_append_str(&b, "<button type=\"submit\" class=\"primary\">Continue</button>");
	sp_buf_append_str(&b, "</form><script type=\"module\" src=\"/static/signin.js\"></script>");
	return keyd_page_buf(r, status, "Sign in: second step", &b);
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
		snprintf(msg, sizeof(msg), "Too many failed attempts: try again in %lld seconds.",
		    (long long)l->retry_after);
		r->retry_after = l->retry_after;
		ret = signin_form(r, 429, email, t, next, msg, 1);
		break;
	case KEYD_LOGIN_BUSY:
		ret = keyd_reply_error(r, 503, "The server is busy: please try again in a moment");
		break;
	case KEYD_LOGIN_INVALID:
		if (second && l->mfa_token[0] != '\0')
			ret = second_form(r, 400, l, next, l->has_totp ? "Enter the code from your "
			    "authenticator app, or a recovery code." : "Enter one of your recovery codes.");
		else
			ret = second ? keyd_reply_field(r, l->field, l->why) :
			    signin_form(r, 400, email, t, next, l->why, 0);
		break;
	case KEYD_LOGIN_BAD:
		if (second && l->why != NULL && strcmp(l->why, "expired") == 0)
			ret = signin_form(r, 401, l->email, NULL, next, "This sign-in took too long: "
			    "please start again.", 0);
		else if (second)
			ret = second_form(r, 401, l, next, "That code is not right. Try again.");
		else
			ret = signin_form(r, 401, email, t, next, "Wrong email address or password.", 0);
		break;
	default:
		ret = keyd_reply_error(r, 500, "internal error");
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
				return link_problem(r, SP_ERR_NOTFOUND, "/signin-link", "Ask for a new link");
			sp_sha256(t, strlen(t), th);
			st = sp_store_token_peek(r->k->store, SP_TOKEN_SIGNIN, th, (int64_t)time(NULL),
			    &tr, NULL);
			if (st != SP_OK)
				return link_problem(r, st, "/signin-link", "Ask for a new link");
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

/*
 * keyd_pages.c - the recipient pages rendered on the server: registration
 * (GET/POST /register) and address confirmation (GET/POST /activate),
 * after which every organisation with messages waiting for the address is
 * told that an account now exists for it.
 * Pages come from the embedded template web/portal/register.html and the
 * plain layout of keyd_page_simple() (keyd_req.h).
 * SECURITY: every form field is untrusted: bounded, UTF-8 checked and
 * HTML-escaped on output; posts need the double-submit CSRF token and a
 * same-site Origin; passwords and answers are only kept as Argon2id hashes;
 * the answer never reveals whether an address already has an account.
 */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "assets.h"
#include "crypto.h"
#include "field.h"
#include "i18n.h"
#include "keyd_lang.h"
#include "keyd_pages.h"
#include "keyd_tmpl.h"
#include "notice.h"
#include "password.h"

/* catalogue keys (i18n.h): the texts in each language */
const char *const keyd_questions[] = {
	"q.1",
	"q.2",
	"q.3",
	"q.4",
	"q.5",
	"q.6",
	"q.7",
	"q.8",
	"q.9",
	"q.10",
};
#define NQUESTIONS 10
const int keyd_nquestions = NQUESTIONS;


/* --- layout and CSRF ----------------------------------------------------- */

/* --- registration -------------------------------------------------------- */

enum { F_EMAIL, F_LANGUAGE, F_FIRST, F_LAST, F_PW, F_PW2, F_PHRASE, F_Q1, F_A1, F_A1C,
	F_Q2, F_A2, F_A2C, F_Q3, F_A3, F_A3C, NF };
static const char *const fnames[NF] = {
	"email", "language", "first_name", "last_name", "password", "password2",
	"phrase", "q1", "a1", "a1c", "q2", "a2", "a2c", "q3", "a3", "a3c",
};
static const char *const vnames[NF] = {
	"V_EMAIL", "V_LANGUAGE", "V_FIRST_NAME", "V_LAST_NAME", "V_PASSWORD", "V_PASSWORD2",
	"V_PHRASE", "V_Q1", "V_A1", "V_A1C", "V_Q2", "V_A2", "V_A2C", "V_Q3", "V_A3", "V_A3C",
};
static const char *const enames[NF] = {
	"E_EMAIL", "E_LANGUAGE", "E_FIRST_NAME", "E_LAST_NAME", "E_PASSWORD", "E_PASSWORD2",
	"E_PHRASE", "E_Q1", "E_A1", "E_A1C", "E_Q2", "E_A2", "E_A2C", "E_Q3", "E_A3", "E_A3C",
};
static const char *const inames[NF] = {
	"I_EMAIL", "I_LANGUAGE", "I_FIRST_NAME", "I_LAST_NAME", "I_PASSWORD", "I_PASSWORD2",
	"I_PHRASE", "I_Q1", "I_A1", "I_A1C", "I_Q2", "I_A2", "I_A2C", "I_Q3", "I_A3", "I_A3C",
};

struct regform {
	const char *v[NF];
	char err[NF][200];
	int phrase_enabled;
	const char *id;
	int email_locked;
	int nerr;
};

/* msg: a catalogue key, or a text of the library (password.h, field.h) */
static void
set_err(struct regform *f, int i, const char *msg)
{
	if (f->err[i][0] == '\0') {
		snprintf(f->err[i], sizeof(f->err[i]), "%s", msg);
		f->nerr++;
	}
}

static void
options_lang(struct sp_buf *b, const char *sel)
{
	const char *const *l = sp_i18n_languages();
	size_t i;

	/* the languages whose catalogue is complete, each in its own words */
	for (i = 0; l[i] != NULL; i++) {
		sp_buf_printf(b, "<option value=\"%s\" lang=\"%s\"%s>", l[i], l[i],
		    sel && strcmp(sel, l[i]) == 0 ? " selected" : "");
		sp_i18n_html(b, l[i], "lang.name", NULL, 0);
		sp_buf_append_str(b, "</option>");
	}
}

static void
options_q(struct sp_buf *b, const char *lang, const char *sel)
{
	int i;
	long s = sel ? strtol(sel, NULL, 10) : 0;

	sp_buf_printf(b, "<option value=\"\"%s>", s ? "" : " selected");
	sp_i18n_html(b, lang, "form.question", NULL, 0);
	sp_buf_append_str(b, "</option>");
	for (i = 0; i < NQUESTIONS; i++) {
		sp_buf_printf(b, "<option value=\"%d\"%s>", i + 1, s == i + 1 ? " selected" : "");
		sp_i18n_html(b, lang, keyd_questions[i], NULL, 0);
		sp_buf_append_str(b, "</option>");
	}
}

static enum MHD_Result
render_register(struct keyd_req *r, unsigned status, struct regform *f)
{
	const struct sp_asset *a = sp_asset_find("portal/register.html");
	struct keyd_var v[3 * NF + 16];
	struct sp_buf body, ol, o1, o2, o3;
	char csrf[64], summary[160], idq[SP_STORE_ID_MAX + 8];
	size_t n = 0;
	int i;
	enum MHD_Result ret;

	if (a == NULL)
		return keyd_reply(r, 503, "text/plain; charset=utf-8", "not built\n", 10, 0);
	keyd_csrf_token(r, csrf);
	sp_buf_init(&ol, 65536);
	sp_buf_init(&o1, 65536);
	sp_buf_init(&o2, 65536);
	sp_buf_init(&o3, 65536);
	options_lang(&ol, f->v[F_LANGUAGE] ? f->v[F_LANGUAGE] : keyd_lang(r));
	options_q(&o1, keyd_lang(r), f->v[F_Q1]);
	options_q(&o2, keyd_lang(r), f->v[F_Q2]);
	options_q(&o3, keyd_lang(r), f->v[F_Q3]);
	for (i = 0; i < NF; i++) {
		v[n++] = (struct keyd_var){vnames[i], f->v[i] ? f->v[i] : "", 0, 0};
		v[n++] = (struct keyd_var){enames[i], keyd_tmsg(r, f->err[i]), 0, 0};
		v[n++] = (struct keyd_var){inames[i], f->err[i][0] ? "true" : "false", 0, 0};
	}
	summary[0] = '\0';
	if (f->nerr > 0) {
		char nb[16];
		struct sp_i18n_var cv = {"count", nb};

		snprintf(nb, sizeof(nb), "%d", f->nerr);
		keyd_tplain(r, f->nerr == 1 ? "reg.summary_one" : "reg.summary_many", &cv, 1,
		    summary, sizeof(summary));
	}
	v[n++] = (struct keyd_var){"SUMMARY", summary, 0, 0};
	v[n++] = (struct keyd_var){"CSRF", csrf, 0, 0};
	v[n++] = (struct keyd_var){"ID", f->id ? f->id : "", 0, 0};
	v[n++] = (struct keyd_var){"EMAIL_ATTRS", f->email_locked ? "readonly" : "", 0, 1};
	/* a reader the message does not name (a blind copy, an alias) gives
	 * its own address: the same form without the one filled in */
	v[n++] = (struct keyd_var){"EMAIL_OTHER_ATTRS", f->email_locked ? "" : "hidden", 0, 1};
	snprintf(idq, sizeof(idq), "%s%s", f->id ? "?id=" : "", f->id ? f->id : "");
	v[n++] = (struct keyd_var){"ID_QUERY", idq, 0, 0};
	v[n++] = (struct keyd_var){"PHRASE_CHECKED", f->phrase_enabled ? "checked" : "", 0, 1};
	v[n++] = (struct keyd_var){"O_LANGUAGE", ol.data ? (const char *)ol.data : "", 0, 1};
	v[n++] = (struct keyd_var){"O_Q1", o1.data ? (const char *)o1.data : "", 0, 1};
	v[n++] = (struct keyd_var){"O_Q2", o2.data ? (const char *)o2.data : "", 0, 1};
	v[n++] = (struct keyd_var){"O_Q3", o3.data ? (const char *)o3.data : "", 0, 1};
	sp_buf_init(&body, (size_t)1 << 20);
	keyd_tmpl_lang(keyd_lang(r), (const char *)a->data, a->len, v, n, &body);
	ret = keyd_page_simple(r, status, keyd_t(r, "reg.title"),
	    body.data ? (const char *)body.data : "");
	sp_buf_wipe(&body);
	sp_buf_free(&ol);
	sp_buf_free(&o1);
	sp_buf_free(&o2);
	sp_buf_free(&o3);
	return ret;
}

/* Text field: required; at most max bytes; valid UTF-8 without NUL bytes,
 * control, bidi override or invisible characters (field.h on the raw
 * bytes, so "A%00B" is seen whole, not as "A"). */
static void
check_text(struct keyd_req *r, struct regform *f, int i, size_t max, const char *missing)
{
	struct sp_field_rules rules = {max, 0, SP_FIELD_REQUIRED | SP_FIELD_TRIM};
	enum sp_field_reason why = SP_FIELD_R_OK;
	struct sp_err err = {{0}};
	size_t n;
	int toolong;
	const char *s = keyd_field_raw(r, fnames[i], &n, &toolong);
	char *out = NULL;

	if (s == NULL || n == 0) {
		set_err(f, i, missing);
		return;
	}
	if (toolong) {
		set_err(f, i, "form.too_long");
		return;
	}
	if (sp_field_text(s, n, &rules, &out, &why, &err) != SP_OK) {
		set_err(f, i, why == SP_FIELD_R_REQUIRED ? missing : err.msg[0] ? err.msg :
		    "form.bad_chars");
		return;
	}
	free(out);
}

static int
same_answer(const char *a, const char *b)
{
	char *na = NULL, *nb = NULL;
	int same;

	if (sp_answer_normalize(a, &na, NULL) != SP_OK ||
	    sp_answer_normalize(b, &nb, NULL) != SP_OK) {
		free(na);
		return 0;
	}
	same = strcmp(na, nb) == 0;
	sp_wipe(na, strlen(na));
	sp_wipe(nb, strlen(nb));
	free(na);
	free(nb);
	return same;
}

static void
validate(struct keyd_req *r, struct regform *f, char email[SP_STORE_EMAIL_MAX + 1])
{
	struct sp_err err = {{0}};
	struct sp_envelope_rec e;
	struct sp_pw_context ctx = {NULL, NULL};
	char org[SP_STORE_NAME_MAX + 1] = "";
	long q[3];
	size_t i;
	int j, k;

	/* A NUL byte or an overlong value in any field: refused beside it
	 * (keyd_field() gave NULL for it; the checks below keep this message). */
	for (i = 0; i < NF; i++) {
		size_t n;
		int toolong;
		const char *raw = keyd_field_raw(r, fnames[i], &n, &toolong);

		if (raw != NULL && toolong)
			set_err(f, (int)i, "form.too_long");
		else if (raw != NULL && memchr(raw, '\0', n) != NULL)
			set_err(f, (int)i, "form.bad_chars");
	}
	if (f->v[F_EMAIL] == NULL || keyd_email_lower(f->v[F_EMAIL], email,
	    SP_STORE_EMAIL_MAX + 1) != SP_OK)
		set_err(f, F_EMAIL, "form.email_invalid");
	if (!sp_i18n_offered(f->v[F_LANGUAGE]))
		set_err(f, F_LANGUAGE, "form.language");
	check_text(r, f, F_FIRST, SP_STORE_NAME_MAX, "form.first_name");
	check_text(r, f, F_LAST, SP_STORE_NAME_MAX, "form.last_name");
	if (f->id && keyd_valid_id(f->id) &&
	    sp_store_envelope_get(r->k->store, f->id, &e, NULL) == SP_OK) {
		snprintf(org, sizeof(org), "%s", e.org_name);
		sp_envelope_rec_clear(&e);
		ctx.org = org;
	}
	ctx.email = f->err[F_EMAIL][0] ? NULL : email;
	if (f->v[F_PW] == NULL || *f->v[F_PW] == '\0')
		set_err(f, F_PW, "form.password");
	else if (sp_password_check(f->v[F_PW], &ctx, &err) != SP_OK)
		set_err(f, F_PW, err.msg);
	if (f->v[F_PW2] == NULL || *f->v[F_PW2] == '\0')
		set_err(f, F_PW2, "form.password2");
	else if (f->v[F_PW] && strcmp(f->v[F_PW], f->v[F_PW2]) != 0)
		set_err(f, F_PW2, "form.password_mismatch");
	check_text(r, f, F_PHRASE, SP_STORE_PHRASE_MAX, "form.phrase");
	for (j = 0; j < 3; j++) {
		int qi = F_Q1 + 3 * j;
		const char *s = f->v[qi];
		char *end;

		q[j] = s && *s ? strtol(s, &end, 10) : 0;
		if (s == NULL || *s == '\0' || *end != '\0' || q[j] < 1 || q[j] > NQUESTIONS) {
			q[j] = 0;
			set_err(f, qi, "form.question");
		}
		for (k = 0; k < j; k++)
			if (q[j] != 0 && q[j] == q[k])
				set_err(f, qi, "form.questions_differ");
		check_text(r, f, qi + 1, 256, "form.answer");
		if (f->err[qi + 1][0] == '\0') {
			char *na = NULL;

			if (sp_answer_normalize(f->v[qi + 1], &na, NULL) != SP_OK)
				set_err(f, qi + 1, "form.answer");
			free(na);
		}
		if (f->v[qi + 2] == NULL || *f->v[qi + 2] == '\0')
			set_err(f, qi + 2, "form.answer2");
		else if (f->err[qi + 1][0] == '\0' && !same_answer(f->v[qi + 1], f->v[qi + 2]))
			set_err(f, qi + 2, "form.answer_mismatch");
	}
}

#define BIND_COOKIE "sp_reg"

static void
set_bind_cookie(struct keyd_req *r, const char *value)
{
	keyd_add_cookie(r, BIND_COOKIE, value, r->k->https ?
	    "Path=/; HttpOnly; SameSite=Lax; Max-Age=86400; Secure" :
	    "Path=/; HttpOnly; SameSite=Lax; Max-Age=86400");
}

static enum MHD_Result
register_done(struct keyd_req *r, const char *email)
{
	struct sp_buf b;
	enum MHD_Result ret;

	struct sp_i18n_var ev = {"email", email};

	sp_buf_init(&b, 4096);
	keyd_th(r, &b, "reg.sent_html", &ev, 1);
	ret = keyd_page_simple(r, 200, keyd_t(r, "reg.sent_title"), b.data ? (const char *)b.data : "");
	sp_buf_free(&b);
	return ret;
}

static enum MHD_Result
register_post(struct keyd_req *r)
{
	struct sp_err err = {{0}};
	struct regform f;
	struct sp_account acc;
	struct sp_audit a;
	char email[SP_STORE_EMAIL_MAX + 1] = "", token[64], bind[64];
	unsigned char th[SP_SHA256_LEN];
	int i, st;
	int64_t now = (int64_t)time(NULL);

	memset(&f, 0, sizeof(f));
	for (i = 0; i < NF; i++)
		f.v[i] = keyd_field(r, fnames[i]);
	f.id = keyd_field(r, "id");
	if (f.id && !keyd_valid_id(f.id))
		f.id = NULL;
	f.phrase_enabled = keyd_field(r, "phrase_enabled") != NULL;
	f.email_locked = f.v[F_EMAIL] != NULL && keyd_valid_email(f.v[F_EMAIL]);
	if (!keyd_csrf_ok(r))
		return keyd_csrf_refused(r);
	{
		/* Registrations cost four password hashes: at most a few per
		 * client and hour, counted before the work. */
		char key[96];
		int64_t until = 0;

		snprintf(key, sizeof(key), "register:%s", r->client_key);
		if (sp_store_throttle_begin(r->k->store, key, now, &r->k->thr_form, &until,
		    NULL) == SP_OK && until > now) {
			r->retry_after = until - now;
			return keyd_reply_error(r, 429, "err.too_many_registrations");
		}
	}
	validate(r, &f, email);
	if (f.nerr > 0) {
		if (f.err[F_PW][0] || f.err[F_PW2][0])
			f.v[F_PW] = f.v[F_PW2] = NULL;
		keyd_log("register-invalid", "client", r->client, NULL);
		return render_register(r, 400, &f);
	}
	memset(&acc, 0, sizeof(acc));
	snprintf(acc.email, sizeof(acc.email), "%s", email);
	snprintf(acc.first_name, sizeof(acc.first_name), "%s", f.v[F_FIRST]);
	snprintf(acc.last_name, sizeof(acc.last_name), "%s", f.v[F_LAST]);
	snprintf(acc.language, sizeof(acc.language), "%s", f.v[F_LANGUAGE]);
	snprintf(acc.phrase, sizeof(acc.phrase), "%s", f.v[F_PHRASE]);
	acc.phrase_enabled = f.phrase_enabled;
	acc.created = now;
	/* The same work whether or not the address has an account: the four
	 * hashes come first, mail leaves through the queue (no timing tells). */
	st = sp_password_hash(f.v[F_PW], acc.pw_hash, &err);
	for (i = 0; i < 3 && st == SP_OK; i++) {
		acc.question[i] = (int)strtol(f.v[F_Q1 + 3 * i], NULL, 10);
		st = sp_answer_hash(f.v[F_A1 + 3 * i], acc.answer_hash[i], &err);
	}
	/* This browser's registration cookie: the activation link opened in
	 * it needs no password; anywhere else it asks for this password. */
	if (st == SP_OK)
		st = sp_token_new(bind, sizeof(bind), "", 16);
	if (st == SP_OK)
		st = sp_token_new(token, sizeof(token), "", 16);
	if (st == SP_OK) {
		/* At most 3 account mails an hour to one address, whoever asks
		 * and from wherever: past them a registration is neither kept
		 * nor mailed (the same page), so the form floods no mailbox and
		 * pushes out no one's earlier registration. */
		char key[SP_STORE_EMAIL_MAX + 8];
		int64_t until = 0;

		snprintf(key, sizeof(key), "mail:%s", email);
		if (sp_store_throttle_begin(r->k->store, key, now, &r->k->thr_mail, &until,
		    NULL) != SP_OK || until != 0) {
			sp_wipe(&acc, sizeof(acc));
			sp_wipe(token, sizeof(token));
			keyd_log("register-mail-limited", "client", r->client, NULL);
			set_bind_cookie(r, bind);
			sp_wipe(bind, sizeof(bind));
			return register_done(r, email);
		}
		sp_sha256(bind, strlen(bind), acc.bind_hash);
		sp_sha256(token, strlen(token), th);
		a = (struct sp_audit){now, "register", email, NULL, r->client, NULL, 0};
		st = sp_store_pending_add(r->k->store, &acc, th, now + KEYD_ACTIVATION_TTL, &a, &err);
	}
	sp_wipe(&acc, sizeof(acc));
	if (st == SP_ERR_EXISTS) {
		/* Same page as a new registration; the owner learns by mail. */
		sp_wipe(token, sizeof(token));
		a = (struct sp_audit){now, "register-existing", email, NULL, r->client, NULL, 0};
		sp_store_audit(r->k->store, &a, NULL);
		keyd_notice(r->k, SP_NOTICE_EXISTS, email, NULL, NULL, NULL);
		set_bind_cookie(r, bind);
		sp_wipe(bind, sizeof(bind));
		return register_done(r, email);
	}
	if (st != SP_OK) {
		sp_wipe(token, sizeof(token));
		sp_wipe(bind, sizeof(bind));
		if (st == SP_ERR_RETRY)
			return keyd_reply_error(r, 503, "err.busy");
		keyd_log("register-failed", "error", sp_err_msg(&err, st), NULL);
		return keyd_reply_error(r, 500, "err.internal");
	}
	keyd_notice_lang(r->k, sp_i18n_lang(f.v[F_LANGUAGE]), SP_NOTICE_ACTIVATE, email, token,
	    "notice.ttl.24h", NULL);
	sp_wipe(token, sizeof(token));
	set_bind_cookie(r, bind);
	sp_wipe(bind, sizeof(bind));
	keyd_log("register", "client", r->client, NULL);
	return register_done(r, email);
}

enum MHD_Result
keyd_page_register(struct keyd_req *r, const char *arg)
{
	struct regform f;
	const char *e;

	if (strcmp(r->method, "POST") == 0)
		return register_post(r);
	memset(&f, 0, sizeof(f));
	e = keyd_arg(r, "email");
	f.id = keyd_arg(r, "id");
	if (f.id && !keyd_valid_id(f.id))
		f.id = NULL;
	if (e != NULL && keyd_valid_email(e)) {
		f.v[F_EMAIL] = e;
		f.email_locked = 1;
	}
	f.v[F_LANGUAGE] = keyd_lang(r);	/* the page's language */
	f.phrase_enabled = 1;
	return render_register(r, 200, &f);
}

/* --- activation ---------------------------------------------------------- */

static enum MHD_Result
activation_problem(struct keyd_req *r, int st, const struct sp_err *err)
{
	if (st == SP_ERR_RETRY)
		return keyd_reply_error(r, 503, "err.busy");
	if (st != SP_ERR_NOTFOUND && st != SP_ERR_EXPIRED && st != SP_ERR_EXISTS)
		return keyd_reply_error(r, 500, "err.internal");
	return keyd_page_simple(r, 400, keyd_t(r, "act.bad_title"), keyd_t(r,
	    st == SP_ERR_EXISTS || (st == SP_ERR_EXPIRED && strstr(err->msg, "used") != NULL) ?
	    "act.used_html" : st == SP_ERR_EXPIRED ? "act.expired_html" : "act.invalid_html"));
}

/* 1 when this browser holds the registration cookie of pending p. */
static int
bound_browser(struct keyd_req *r, const struct sp_account *p)
{
	const char *c = keyd_cookie(r, BIND_COOKIE);
	unsigned char h[SP_SHA256_LEN];

	if (!keyd_token_shape(c, 16, 64))
		return 0;
	sp_sha256(c, strlen(c), h);
	return sp_ct_eq(h, p->bind_hash, SP_SHA256_LEN);
}

static enum MHD_Result
activate_form(struct keyd_req *r, unsigned status, const char *email, const char *t,
    int need_pw, const char *error)
{
	struct sp_buf b;
	char csrf[64];
	enum MHD_Result ret;

	keyd_csrf_token(r, csrf);
	sp_buf_init(&b, 16384);
	if (error != NULL)
		keyd_page_alert(&b, keyd_t(r, error));
	keyd_th(r, &b, "act.confirm_html", (struct sp_i18n_var[]){{"email", email}}, 1);
	sp_buf_append_str(&b, "<form method=\"post\" action=\"/activate\" class=\"form\"><input type=\"hidden\" "
	    "name=\"csrf\" value=\"");
	sp_html_escape(&b, csrf, strlen(csrf));
	sp_buf_append_str(&b, "\"><input type=\"hidden\" name=\"t\" value=\"");
	sp_html_escape(&b, t, strlen(t));
	sp_buf_append_str(&b, "\">");
	if (need_pw)
		keyd_th(r, &b, "act.password_html", NULL, 0);
	sp_buf_append_str(&b, "<button type=\"submit\" class=\"primary\">");
	keyd_th(r, &b, "act.confirm_button", NULL, 0);
	sp_buf_append_str(&b, "</button></form>");
	ret = keyd_page_simple(r, status, keyd_t(r, "act.confirm_title"), b.data ? (const char *)b.data : "");
	sp_buf_free(&b);
	return ret;
}

/* Envelopes waiting for a newly activated address, counted per
 * depositing organisation (at most WAITING_ORGS organisations are told). */
#define WAITING_ORGS 64
struct waiting {
	struct {
		int64_t org_id;
		long count;
		char from[SP_STORE_EMAIL_MAX + 1];	/* the first envelope's sender */
	} org[WAITING_ORGS];
	size_t n;
};

static int
waiting_cb(void *ctx, const struct sp_envelope_rec *e)
{
	struct waiting *w = ctx;
	size_t i;

	if (e->kind == SP_ENV_KIND_REPLY)
		return 0;
	for (i = 0; i < w->n; i++)
		if (w->org[i].org_id == e->org_id) {
			w->org[i].count++;
			return 0;
		}
	if (w->n == WAITING_ORGS)
		return 0;
	w->org[w->n].org_id = e->org_id;
	w->org[w->n].count = 1;
	snprintf(w->org[w->n].from, sizeof(w->org[0].from), "%s", e->from);
	w->n++;
	return 0;
}

/* A new account for email: every organisation with messages waiting for
 * it gets one notice (to its contact, or the sender of its first waiting
 * envelope), so that a sender can retract them if the account is not
 * whom they wrote to. */
void
keyd_notify_waiting(struct keyd *k, const char *email, int64_t now)
{
	struct sp_err err = {{0}};
	struct waiting *w = calloc(1, sizeof(*w));
	struct sp_org o;
	size_t i;
	int st;

	if (w == NULL)
		return;
	if ((st = sp_store_envelope_each_for(k->store, email, now, waiting_cb, w, &err)) != SP_OK) {
		keyd_log("store-error", "path", "activate-waiting", "error", sp_err_msg(&err, st), NULL);
		free(w);
		return;
	}
	for (i = 0; i < w->n; i++) {
		struct sp_notice_sender ns = {email, NULL, now, w->org[i].count};
		const char *to = w->org[i].from, *lang = NULL;

		if (sp_store_org_get_id(k->store, w->org[i].org_id, &o, &err) == SP_OK) {
			if (o.contact[0] != '\0')
				to = o.contact;
			lang = o.policy.language;
		}
		keyd_notice_sender_lang(k, lang, SP_NOTICE_WAITING, to, &ns);
	}
	if (w->n > 0) {
		char nb[24];

		snprintf(nb, sizeof(nb), "%zu", w->n);
		keyd_log("activate-waiting", "orgs", nb, NULL);
	}
	free(w);
}

enum MHD_Result
keyd_page_activate(struct keyd_req *r, const char *arg)
{
	struct sp_err err = {{0}};
	struct sp_audit a;
	struct sp_account p;
	unsigned char th[SP_SHA256_LEN];
	char email[SP_STORE_EMAIL_MAX + 1];
	const char *t, *pw;
	struct sp_buf b;
	int st, post = strcmp(r->method, "POST") == 0;
	int64_t now = (int64_t)time(NULL);
	enum MHD_Result ret;

	if (post) {
		if (!keyd_csrf_ok(r))
			return keyd_csrf_refused(r);
		t = keyd_field(r, "t");
	} else
		t = keyd_arg(r, "t");
	if (!keyd_token_shape(t, 16, 64))
		return activation_problem(r, SP_ERR_NOTFOUND, &err);
	sp_sha256(t, strlen(t), th);
	/* A GET never consumes the token: mail scanners follow links. */
	st = sp_store_pending_by_token(r->k->store, th, now, &p, &err);
	if (st != SP_OK)
		return activation_problem(r, st, &err);
	snprintf(email, sizeof(email), "%s", p.email);
	if (!post) {
		int need_pw = !bound_browser(r, &p);

		sp_wipe(&p, sizeof(p));
		return activate_form(r, 200, email, t, need_pw, NULL);
	}
	if (!bound_browser(r, &p)) {
		/* Not the registering browser: the registration's own password
		 * decides, so a link mailed for someone else's registration of
		 * this address cannot make that registration the account. */
		char key[SP_STORE_EMAIL_MAX + 12];
		int64_t until = 0;

		pw = keyd_field(r, "password");
		snprintf(key, sizeof(key), "activate:%s", email);
		if (sp_store_throttle_begin(r->k->store, key, now, &r->k->thr_email, &until,
		    NULL) != SP_OK || until > now) {
			sp_wipe(&p, sizeof(p));
			r->retry_after = until > now ? until - now : 2;
			return keyd_reply_error(r, 429, "err.too_many_passwords");
		}
		st = pw != NULL && *pw != '\0' && strlen(pw) <= SP_PW_MAX_BYTES ?
		    sp_password_verify(p.pw_hash, pw, &err) : SP_ERR_AUTH;
		sp_wipe(&p, sizeof(p));
		if (st == SP_ERR_RETRY)
			return keyd_reply_error(r, 503, "err.busy");
		if (st != SP_OK) {
			a = (struct sp_audit){now, "activate-refused", email, NULL, r->client,
			    "wrong password", 0};
			sp_store_audit(r->k->store, &a, NULL);
			return activate_form(r, 403, email, t, 1, "act.wrong_password");
		}
		sp_store_throttle_reset(r->k->store, key, NULL);
	} else
		sp_wipe(&p, sizeof(p));
	a = (struct sp_audit){now, "activate", NULL, NULL, r->client, NULL, 0};
	st = sp_store_pending_activate(r->k->store, th, now, email, &a, &err);
	if (st != SP_OK)
		return activation_problem(r, st, &err);
	keyd_add_cookie(r, BIND_COOKIE, "", "Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
	keyd_log("activate", "client", r->client, NULL);
	keyd_notify_waiting(r->k, email, now);
	sp_buf_init(&b, 4096);
	keyd_th(r, &b, "act.done_html", (struct sp_i18n_var[]){{"email", email}}, 1);
	ret = keyd_page_simple(r, 200, keyd_t(r, "act.done_title"),
	    b.data ? (const char *)b.data : "");
	sp_buf_free(&b);
	return ret;
}

/*
 * keyd_read.c - reading a message in a browser that runs no script
 * (POST /read, docs/open-protocol.md "Reading without scripts").
 *
 * The envelope's <noscript> button posts the envelope (h, c, s) and its
 * mail key part (mp) here.  Without a step the answer is the page that
 * says what this way of reading means (the key server decrypts this one
 * message for this request) and asks for the address and password; every
 * later form of the page reposts the envelope with the double-submit CSRF
 * token and a step:
 *   signin   address + password (keyd_login.h); a second factor: TOTP or
 *            recovery code (step code); passkeys need scripts, and the
 *            page says so.  With the field forgot: the reset link by mail
 *            for the address, with the proof that the request holds the
 *            message (the open pages' own budget, decision 14)
 *   answer   the sender's question (the check of POST .../verify)
 *   read     show the message again (the session of the signin step)
 *   part     one attachment as a download (part = its number, from 1)
 * Then the release checks of POST /api/v1/envelopes/{id}/release
 * (release.h), the checks of the open page against the record
 * (sp_open_check_record), decryption in memory, and the message as
 * escaped text: its text part, or the text of its HTML part, never the
 * HTML itself.  Every release and refusal is audited ("release" with
 * detail "no-script").
 * SECURITY: this path hands the key server the mail key part and so the
 * message: it is decrypted for this request only; keys, the container and
 * every copy of its content are wiped before the request ends; nothing of
 * the content is stored or logged (log lines name the id and the client
 * only).  Every field is untrusted: decoded with bounds, escaped on output.
 * No script anywhere; the page's CSP is the key server's one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "assets.h"
#include "crypto.h"
#include "envelope.h"
#include "html.h"
#include "keyd_account.h"
#include "keyd_api.h"
#include "keyd_lang.h"
#include "keyd_login.h"
#include "keyd_org.h"
#include "keyd_read.h"
#include "keyd_signup.h"
#include "keyd_tmpl.h"
#include "message.h"
#include "notice.h"
#include "policy.h"
#include "release.h"
#include "seal.h"

#define READ_TITLE "read.title"
#define READ_SIG_STRLEN 86	/* base64url of a 64-byte signature */

/* One request: the envelope as posted (borrowed from the form) and read. */
struct rd {
	struct keyd_req *r;
	const char *h, *c, *s, *mp;
	char csrf[64];
	char sess_csrf[SP_STORE_CSRF_MAX + 1];	/* the session's, for its sign-out */
	struct sp_env_file f;
	size_t page_cap;		/* room for a page that reposts the envelope */
};

/* --- output -------------------------------------------------------------- */

static void
esc(struct sp_buf *b, const char *s)
{
	if (s != NULL)
		sp_html_escape(b, s, strlen(s));
}

static void
body_init(struct sp_buf *b, const struct rd *d)
{
	sp_buf_init(b, d->page_cap);
}

/* The page around body (wiped and freed), in a buffer as large as the
 * body needs (keyd_page_simple() caps pages at 16 MiB; an envelope may be
 * larger). */
static enum MHD_Result
page(struct keyd_req *r, unsigned status, const char *title, struct sp_buf *body)
{
	enum MHD_Result ret;

	if (body->len == 0) {	/* the page could not be built */
		sp_buf_wipe(body);
		return keyd_reply(r, 500, "text/plain; charset=utf-8", "internal error\n", 15, 0);
	}
	ret = keyd_page_sized(r, status, title, (const char *)body->data, body->len);
	sp_buf_wipe(body);
	return ret;
}

/* A page without the envelope: a sentence or two (escaped) and what to do. */
static enum MHD_Result
plain_page(struct rd *d, unsigned status, const char *title, const char *msg,
    const char *next)
{
	struct sp_buf b;

	sp_buf_init(&b, 65536);
	sp_buf_append_str(&b, "<p>");
	esc(&b, keyd_tmsg(d->r, msg));
	sp_buf_append_str(&b, "</p><p>");
	esc(&b, keyd_tmsg(d->r, next));
	sp_buf_append_str(&b, "</p>");
	return page(d->r, status, keyd_t(d->r, title), &b);
}

static void
hidden(struct sp_buf *b, const char *name, const char *value)
{
	sp_buf_printf(b, "<input type=\"hidden\" name=\"%s\" value=\"", name);
	esc(b, value);
	sp_buf_append_str(b, "\">");
}

/* A form of this page: the CSRF token, the step and the envelope again. */
static void
form_open(struct sp_buf *b, const struct rd *d, const char *step)
{
	sp_buf_append_str(b, "<form method=\"post\" action=\"/read\" "
	    "enctype=\"multipart/form-data\" class=\"form\">");
	hidden(b, "csrf", d->csrf);
	hidden(b, "step", step);
	hidden(b, "mp", d->mp);
	if (d->s != NULL && *d->s != '\0')
		hidden(b, "s", d->s);
	/* hidden inputs, not textareas: a browser loads a large value about
	 * twice as fast (docs/envelope-format.md section 4) */
	hidden(b, "h", d->h);
	hidden(b, "c", d->c);
}

/* What this way of reading means, said before anything is decrypted. */
static void
trust_notice(struct sp_buf *b, struct keyd_req *r)
{
	keyd_th(r, b, "read.trust_html", (struct sp_i18n_var[]){{"keyd", r->k->public_url}}, 1);
}

/* The sign-in form, after error (a catalogue key or a translated text) or
 * notice (a translated text, with its hint); email fills the address. */
static enum MHD_Result
signin_page_with(struct rd *d, unsigned status, const char *error, const char *notice,
    const char *email)
{
	struct sp_buf b;

	body_init(&b, d);
	keyd_page_alert(&b, keyd_tmsg(d->r, error));
	if (notice != NULL) {
		sp_buf_append_str(&b, "<p class=\"notice\" role=\"status\">");
		esc(&b, notice);
		sp_buf_append_str(&b, "</p><p class=\"hint\">");
		esc(&b, keyd_t(d->r, "read.forgot_hint"));
		sp_buf_append_str(&b, "</p>");
	}
	trust_notice(&b, d->r);
	form_open(&b, d, "signin");
	keyd_th(d->r, &b, "read.signin_html", (struct sp_i18n_var[]){{"email", email},
	    {"id", d->f.header.id}}, 2);
	return page(d->r, status, keyd_t(d->r, READ_TITLE), &b);
}

static enum MHD_Result
signin_page(struct rd *d, unsigned status, const char *error, const char *email)
{
	return signin_page_with(d, status, error, NULL, email);
}

/* "Forgot your password?" of the sign-in form, for the address typed: the
 * reset link by mail, as the open page's card asks for it (POST
 * /api/v1/forgot), with the proof that this request holds the message (the
 * holder tag of the mail part it posted), so that strangers who spend the
 * address's account mails do not keep the recipient from it.  Counted
 * against the client with the forgot page's requests; the same answer
 * whether or not the address has an account or a mail left; then the
 * sign-in form again, for after the new password. */
static enum MHD_Result
forgot(struct rd *d, const char *typed)
{
	struct sp_err err = {{0}};
	unsigned char tag[SP_SHA256_LEN];
	char email[SP_STORE_EMAIL_MAX + 1], sent[SP_STORE_EMAIL_MAX + 128];
	int holder, st;

	if (typed == NULL || keyd_email_lower(typed, email, sizeof(email)) != SP_OK)
		return signin_page(d, 400, "read.forgot_email", "");
	if (keyd_mailreq_limited(d->r))
		return signin_page(d, 429, "err.too_many_requests", email);
	holder = sp_env_holder_tag(d->f.mail_part, tag) == SP_OK &&
	    keyd_holds_mail(d->r, d->f.header.id, tag, NULL, email, NULL);
	sp_wipe(tag, sizeof(tag));
	if ((st = keyd_mail_reset(d->r, email, holder, "read", &err)) != SP_OK)
		return keyd_reply_error(d->r, st == SP_ERR_RETRY ? 503 : 500,
		    st == SP_ERR_RETRY ? "err.busy" : "err.internal");
	keyd_tplain(d->r, "mr.forgot.sent", (struct sp_i18n_var[]){{"email", email}}, 1, sent,
	    sizeof(sent));
	return signin_page_with(d, 200, NULL, sent, email);
}

/* The second step of a sign-in: a TOTP code or a recovery code; passkeys
 * need scripts. */
static enum MHD_Result
second_page(struct rd *d, unsigned status, const struct keyd_login *l, const char *error)
{
	struct sp_buf b;

	body_init(&b, d);
	keyd_page_alert(&b, keyd_tmsg(d->r, error));
	if (!l->has_totp && l->nrecovery == 0) {
		keyd_th(d->r, &b, "read.passkey_html", NULL, 0);
		return page(d->r, status, keyd_t(d->r, "read.passkey_title"), &b);
	}
	keyd_th(d->r, &b, "read.second_lead_html", NULL, 0);
	if (l->npasskeys > 0)
		keyd_th(d->r, &b, "read.second_passkey_html", NULL, 0);
	form_open(&b, d, "code");
	hidden(&b, "mfa", l->mfa_token);
	if (l->has_totp)
		keyd_th(d->r, &b, "read.totp_html", NULL, 0);
	if (l->nrecovery > 0)
		keyd_th(d->r, &b, "read.recovery_html", NULL, 0);
	sp_buf_append_str(&b, "<button type=\"submit\" class=\"primary\">");
	keyd_th(d->r, &b, "read.continue", NULL, 0);
	sp_buf_append_str(&b, "</button></form>");
	return page(d->r, status, keyd_t(d->r, "read.second_title"), &b);
}

static enum MHD_Result
question_page(struct rd *d, unsigned status, const struct sp_envelope_rec *e, int fails,
    const char *error)
{
	struct sp_buf b;
	int left = fails < SP_STORE_VERIFY_TRIES ? SP_STORE_VERIFY_TRIES - fails : 0;

	char nb[16];

	snprintf(nb, sizeof(nb), "%d", left);
	body_init(&b, d);
	keyd_page_alert(&b, keyd_tmsg(d->r, error));
	keyd_th(d->r, &b, "read.question_lead_html", NULL, 0);
	form_open(&b, d, "answer");
	keyd_th(d->r, &b, left == 1 ? "read.answer_one_html" : "read.answer_many_html",
	    (struct sp_i18n_var[]){{"hint", e->verify_hint[0] ? e->verify_hint :
	    keyd_t(d->r, "read.answer_expected")}, {"n", nb}}, 2);
	return page(d->r, status, keyd_t(d->r, "read.question_title"), &b);
}

/* "This is not a genuine envelope": nothing of the message, the reason
 * folded away. */
static enum MHD_Result
forged_page(struct rd *d, const char *why)
{
	const char *org = d->f.header.org != NULL && *d->f.header.org ? d->f.header.org :
	    keyd_t(d->r, "read.org_named");
	struct sp_buf b;

	sp_buf_init(&b, 65536);
	keyd_th(d->r, &b, "read.forged_html", (struct sp_i18n_var[]){{"org", org},
	    {"why", keyd_tmsg(d->r, why)}}, 2);
	return page(d->r, 403, keyd_t(d->r, "read.forged_title"), &b);
}

/* --- the envelope as posted ---------------------------------------------- */

/* Read the posted envelope into d->f; NULL, or the reason it is refused. */
static const char *
read_envelope(struct rd *d)
{
	struct sp_env_file *f = &d->f;
	char sig[READ_SIG_STRLEN];
	size_t i, n = 0;

	memset(f, 0, sizeof(*f));
	d->h = keyd_field(d->r, "h");
	d->c = keyd_field(d->r, "c");
	d->s = keyd_field(d->r, "s");
	d->mp = keyd_field(d->r, "mp");
	sp_buf_init(&f->header_bytes, SP_ENV_MAX_HEADER);
	if (d->h == NULL || d->c == NULL || *d->h == '\0' || *d->c == '\0')
		return "read.no_form";
	if (d->mp == NULL || strlen(d->mp) != 43 ||
	    sp_b64url_decode_exact(d->mp, 43, f->mail_part, SP_KEY_LEN) != SP_OK)
		return "read.no_key";
	if (sp_b64_decode(&f->header_bytes, d->h, strlen(d->h)) != SP_OK ||
	    f->header_bytes.len == 0 ||
	    sp_env_header_decode(f->header_bytes.data, f->header_bytes.len, &f->header,
	    NULL) != SP_OK)
		return "read.bad_header";
	sp_buf_init(&f->ct, strlen(d->c) / 4 * 3 + 8);
	if (sp_b64_decode(&f->ct, d->c, strlen(d->c)) != SP_OK || f->ct.len < SP_GCM_TAG_LEN)
		return "read.bad_content";
	for (i = 0; d->s != NULL && d->s[i] != '\0'; i++) {
		if (d->s[i] == '\n')
			continue;
		if (n == sizeof(sig))
			break;
		sig[n++] = d->s[i];
	}
	if (n == READ_SIG_STRLEN && (d->s[i] == '\0') &&
	    sp_b64url_decode_exact(sig, n, f->sig, sizeof(f->sig)) == SP_OK)
		f->has_sig = 1;
	return NULL;
}

/* --- release ------------------------------------------------------------- */

static void
audit(struct keyd_req *r, const char *event, const char *actor, const char *id,
    int64_t org_id, const char *detail)
{
	struct sp_audit a = {(int64_t)time(NULL), event, actor, id, r->client, detail, org_id};

	sp_store_audit(r->k->store, &a, NULL);
	keyd_log(strcmp(event, "release") == 0 ? "read-noscript" : "read-noscript-refused",
	    "id", id ? id : "-", "client", r->client, NULL);
}

/* The key server's record of v as sp_open_check_record() reads it (what
 * the release answer carries; sp_release_answer(): the recipients the
 * envelope names, into shown).  Borrows v's strings. */
static void
record_of(const struct sp_envelope_view *v, struct sp_release_res *rr,
    char *shown[SP_ENV_MAX_RECIPIENTS])
{
	const struct sp_envelope_rec *e = &v->e;
	size_t i;

	memset(rr, 0, sizeof(*rr));
	rr->rcpt = shown;
	for (i = 0; i < e->nrcpt && rr->nrcpt < SP_ENV_MAX_RECIPIENTS; i++)
		if (!sp_release_rcpt_hidden(e, i))
			shown[rr->nrcpt++] = e->rcpt[i];
	rr->http_status = 200;
	rr->format = e->format ? e->format : 1;
	rr->org = (char *)(v->org.display[0] != '\0' ? v->org.display : v->org.name);
	rr->from = (char *)e->from;
	rr->has_digests = e->sealed;
	rr->has_sig = e->sealed;
	if (e->sealed) {
		memcpy(rr->header_sha, e->header_sha, SP_SHA256_LEN);
		memcpy(rr->ct_sha, e->ct_sha, SP_SHA256_LEN);
		memcpy(rr->sig, e->sig, sizeof(rr->sig));
		snprintf(rr->kid, sizeof(rr->kid), "%s", e->kid);
	}
	rr->has_sig_key = v->have_key && e->sealed && v->key.org_id == e->org_id;
	if (rr->has_sig_key)
		memcpy(rr->sig_key, v->key.pub, sizeof(rr->sig_key));
}

/* The refusal of sp_release_check() for a known envelope. */
static enum MHD_Result
refusal(struct rd *d, enum sp_release_reason why, const char *email,
    const struct sp_envelope_rec *e)
{
	const char *msg;
	char text[400];

	sp_release_status(why, &msg);
	audit(d->r, "release-refused", email, e->id, e->org_id, msg);
	switch (why) {
	case SP_RELEASE_NOT_RECIPIENT:
		keyd_tplain(d->r, "read.not_for", (struct sp_i18n_var[]){{"email", email}}, 1, text,
		    sizeof(text));
		return signin_page(d, 403, text, "");
	case SP_RELEASE_RETRACTED:
		return plain_page(d, 410, "js.withdrawn",
		    "read.withdrawn",
		    "read.ask_again_if");
	case SP_RELEASE_EXPIRED:
		return plain_page(d, 410, "js.expired",
		    "read.expired",
		    "read.ask_again_if");
	case SP_RELEASE_VERIFY_LOCKED:
		return plain_page(d, 423, "read.locked_title",
		    "read.locked",
		    "read.ask_again");
	default:
		return plain_page(d, sp_release_status(why, NULL), "read.cannot_open",
		    msg, "read.ask_again_short");
	}
}

/* --- showing the message ------------------------------------------------- */

static void
fact(struct sp_buf *b, const char *name, const char *value)
{
	if (value == NULL || *value == '\0')
		return;
	sp_buf_printf(b, "<dt>%s</dt><dd>", name);
	esc(b, value);
	sp_buf_append_str(b, "</dd>");
}

static void
view_wipe(struct sp_msg_view *v)
{
	size_t i;

	if (v->text != NULL)
		sp_wipe(v->text, strlen(v->text));
	if (v->html != NULL)
		sp_wipe(v->html, strlen(v->html));
	for (i = 0; i < v->nparts; i++)
		if (v->parts[i].data != NULL)
			sp_wipe(v->parts[i].data, v->parts[i].len);
	sp_msg_view_clear(v);
}

static enum MHD_Result
message_page(struct rd *d, const struct sp_msg_view *v, const char *org, int format)
{
	struct sp_buf b, text;
	size_t i;
	char sz[32];

	body_init(&b, d);
	keyd_th(d->r, &b, format >= 2 ? "read.genuine_html" : "read.unsigned_html",
	    (struct sp_i18n_var[]){{"org", org}}, 1);
	sp_buf_append_str(&b, "<dl class=\"facts\">");
	fact(&b, keyd_t(d->r, "js.fact_from"), v->from);
	fact(&b, keyd_t(d->r, "js.fact_to"), v->to);
	fact(&b, keyd_t(d->r, "js.fact_cc"), v->cc);
	fact(&b, keyd_t(d->r, "js.fact_date"), v->date);
	fact(&b, keyd_t(d->r, "env.subject"), v->subject);
	sp_buf_append_str(&b, "</dl>");
	if (v->text == NULL && v->html != NULL)
		keyd_th(d->r, &b, "read.html_only_html", NULL, 0);
	sp_buf_append_str(&b, "<div id=\"sp-text\" style=\"white-space: pre-wrap; "
	    "overflow-wrap: anywhere; border-top: 1px solid #d8dee8; padding-top: 1rem\">");
	if (v->text != NULL)
		esc(&b, v->text);
	else if (v->html != NULL) {
		sp_buf_init(&text, 2 * strlen(v->html) + 16);
		if (sp_policy_html_text(v->html, strlen(v->html), &text) == SP_OK && text.len > 0)
			sp_html_escape(&b, (const char *)text.data, text.len);
		sp_buf_wipe(&text);
	}
	sp_buf_append_str(&b, "</div>");
	if (v->nparts > 0) {
		sp_buf_append_str(&b, "<h2>");
		keyd_th(d->r, &b, "open.attachments", NULL, 0);
		sp_buf_append_str(&b, "</h2>");
		form_open(&b, d, "part");
		sp_buf_append_str(&b, "<ul id=\"sp-parts\">");
		for (i = 0; i < v->nparts; i++) {
			char name[256];

			sp_msg_safe_filename(v->parts[i].name, i + 1, name, sizeof(name));
			snprintf(sz, sizeof(sz), "%zu", v->parts[i].len);
			char no[24];

			snprintf(no, sizeof(no), "%zu", i + 1);
			keyd_th(d->r, &b, "read.part_html", (struct sp_i18n_var[]){{"name", name},
			    {"type", v->parts[i].type}, {"size", sz}, {"no", no}}, 4);
		}
		sp_buf_append_str(&b, "</ul></form>");
	}
	keyd_th(d->r, &b, "read.kept_nothing_html", NULL, 0);
	/* on a computer others use: the session ends here, without scripts */
	if (d->sess_csrf[0] != '\0') {
		sp_buf_append_str(&b, "<form method=\"post\" action=\"/account/signout\" id=\"sp-signout\">");
		hidden(&b, "csrf", d->sess_csrf);
		keyd_th(d->r, &b, "read.signout_html", NULL, 0);
	}
	return page(d->r, 200, keyd_t(d->r, "read.message_title"), &b);
}

static void
wipe_free(void *cls)
{
	struct sp_msg_part *p = cls;

	sp_wipe(p->data, p->len);
	free(p->data);
	free(p);
}

/* A Content-Disposition header for name (a safe file name, UTF-8): an
 * ASCII fallback and the exact name percent-encoded (RFC 6266). */
static void
disposition(const char *name, char *out, size_t outsz)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o, i;

	o = (size_t)snprintf(out, outsz, "attachment; filename=\"");
	for (i = 0; name[i] != '\0' && o + 1 < outsz; i++) {
		unsigned char c = (unsigned char)name[i];

		out[o++] = c < 0x20 || c >= 0x7f || c == '"' || c == '\\' ? '_' : (char)c;
	}
	o += (size_t)snprintf(out + o, o < outsz ? outsz - o : 0, "\"; filename*=UTF-8''");
	for (i = 0; name[i] != '\0' && o + 4 < outsz; i++) {
		unsigned char c = (unsigned char)name[i];

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    strchr("!#$&+-.^_`|~", c) != NULL) {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o < outsz ? o : outsz - 1] = '\0';
}

/* Part number pn (from 1) of v as a download; its bytes leave v. */
static enum MHD_Result
download(struct rd *d, struct sp_msg_view *v, long pn)
{
	struct MHD_Response *resp;
	struct sp_msg_part *p;
	char name[256], cd[1024];

	if (pn < 1 || (size_t)pn > v->nparts)
		return plain_page(d, 404, "read.no_part_title",
		    "read.no_part",
		    "read.no_part_next");
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return keyd_reply_error(d->r, 503, "read.busy");
	sp_msg_safe_filename(v->parts[pn - 1].name, (size_t)pn, name, sizeof(name));
	disposition(name, cd, sizeof(cd));
	p->data = v->parts[pn - 1].data;
	p->len = v->parts[pn - 1].len;
	v->parts[pn - 1].data = NULL;
	v->parts[pn - 1].len = 0;
	resp = MHD_create_response_from_buffer_with_free_callback_cls(p->len,
	    p->data ? (void *)p->data : (void *)"", wipe_free, p);
	if (resp == NULL) {
		wipe_free(p);
		return keyd_reply_error(d->r, 503, "read.busy");
	}
	MHD_add_response_header(resp, "Content-Disposition", cd);
	return keyd_reply_response(d->r, 200, "application/octet-stream", resp);
}

/* The container, decrypted: record the release, then show it. */
static enum MHD_Result
show(struct rd *d, const char *email, struct sp_envelope_view *ev, long ri,
    const struct sp_buf *container, const char *step)
{
	struct sp_err err = {{0}};
	struct sp_envelope_rec *e = &ev->e;
	struct sp_msg_view v;
	struct sp_audit a = {(int64_t)time(NULL), "release", email, e->id, d->r->client,
	    "no-script", e->org_id};
	const char *org = ev->org.display[0] != '\0' ? ev->org.display : ev->org.name;
	enum MHD_Result ret;
	int st, first = 0;

	/* the record of the release is durable before anything is shown */
	if (e->rstate != NULL && e->rstate[ri].opened == 0)
		st = sp_store_envelope_opened(d->r->k->store, e->id, e->rcpt[ri], a.time, &first,
		    &a, &err);
	else
		st = sp_store_audit(d->r->k->store, &a, &err);
	if (st != SP_OK)
		return keyd_store_error(d->r, st, &err);
	keyd_log("read-noscript", "id", e->id, "client", d->r->client, NULL);
	if (first && e->notify_read) {
		struct sp_notice_sender ns = {e->rcpt[ri], e->id, a.time, 0};

		keyd_notice_sender_lang(d->r->k, keyd_org_lang(d->r->k, e->org_id), SP_NOTICE_READ,
		    e->from, &ns);
	}
	if (sp_msg_container_view(container->data, container->len, &v, &err) != SP_OK)
		return plain_page(d, 422, "read.cannot_show",
		    "read.damaged",
		    "read.ask_again_short");
	if (strcmp(step, "part") == 0) {
		const char *pn = keyd_field(d->r, "part");
		char *end = NULL;
		long n = pn != NULL ? strtol(pn, &end, 10) : 0;

		ret = download(d, &v, end != NULL && *end == '\0' ? n : 0);
	} else
		ret = message_page(d, &v, org, e->format);
	view_wipe(&v);
	return ret;
}

/* Every check for email, then decryption and the answer. */
static enum MHD_Result
release_and_show(struct rd *d, const char *email, const char *step)
{
	struct sp_err err = {{0}};
	struct sp_envelope_view ev;
	struct sp_envelope_rec *e = &ev.e;
	struct sp_release_principal p = {SP_RELEASE_RECIPIENT, email, 0, NULL, NULL, 0};
	struct sp_release_res rr;
	char *shown[SP_ENV_MAX_RECIPIENTS];
	struct sp_buf container;
	unsigned char part[SP_KEY_LEN], key[SP_KEY_LEN];
	enum sp_release_reason why;
	enum MHD_Result ret;
	const char *id = d->f.header.id, *reason = NULL;
	long ri;
	int st, fails;

	memset(&ev, 0, sizeof(ev));
	if ((st = sp_store_envelope_view(d->r->k->store, id, &ev, &err)) == SP_ERR_NOTFOUND) {
		audit(d->r, "release-refused", email, id, 0, "unknown envelope");
		return plain_page(d, 404, "read.unknown_title",
		    "read.unknown",
		    "read.ask_again");
	}
	if (st != SP_OK)
		return keyd_store_error(d->r, st, &err);
	why = sp_release_check(&p, e, (int64_t)time(NULL));
	ri = sp_release_rcpt_index(&p, e);
	fails = ri >= 0 && e->rstate != NULL ? e->rstate[ri].verify_fails : 0;
	if (why == SP_RELEASE_VERIFY_NEEDED && strcmp(step, "answer") == 0) {
		const char *fw;
		char *answer = keyd_field_text(d->r, "answer", 256, 1, &fw);

		if (answer == NULL) {
			ret = question_page(d, 400, e, fails, "read.type_answer");
			goto out;
		}
		st = keyd_api_verify_check(d->r, e, ri, answer, &fails);
		sp_wipe(answer, strlen(answer));
		free(answer);
		if (st == SP_ERR_AUTH && fails >= SP_STORE_VERIFY_TRIES)
			why = SP_RELEASE_VERIFY_LOCKED;
		else if (st == SP_ERR_AUTH) {
			ret = question_page(d, 403, e, fails, "js.wrong_answer");
			goto out;
		} else if (st != SP_OK) {
			ret = keyd_store_error(d->r, st, &err);
			goto out;
		} else
			why = SP_RELEASE_OK;
	}
	if (why == SP_RELEASE_VERIFY_NEEDED) {
		ret = question_page(d, 409, e, fails, NULL);
		goto out;
	}
	if (why != SP_RELEASE_OK) {
		ret = refusal(d, why, email, e);
		goto out;
	}
	/* the same checks as the open page, before anything is decrypted */
	record_of(&ev, &rr, shown);
	if ((st = sp_open_check_record(&d->f, &rr, &reason, &err)) != SP_OK) {
		audit(d->r, "release-refused", email, id, e->org_id, "not a genuine envelope (no-script)");
		/* the page names the organisation itself: the reason alone */
		ret = reason != NULL ? forged_page(d, reason) :
		    keyd_reply_error(d->r, 500, "err.internal");
		goto out;
	}
	if ((st = sp_keywrap_unwrap(d->r->k->kw, e->key_id, e->id, e->wrapped, e->wrapped_len,
	    part, &err)) != SP_OK) {
		keyd_log("unwrap-failed", "id", id, "error", sp_err_msg(&err, st), NULL);
		ret = keyd_reply_error(d->r, st == SP_ERR_RETRY ? 503 : 500, st == SP_ERR_RETRY ?
		    "err.busy" : "err.internal");
		goto out;
	}
	st = sp_env_derive_key_v(rr.format, part, d->f.mail_part, id, key);
	sp_wipe(part, sizeof(part));
	sp_buf_init(&container, SP_ENV_MAX_PAYLOAD);
	if (st == SP_OK)
		st = sp_env_decrypt(key, d->f.header.nonce_prefix, d->f.header_bytes.data,
		    d->f.header_bytes.len, d->f.ct.data, d->f.ct.len, &container, &err);
	sp_wipe(key, sizeof(key));
	if (st == SP_ERR_AUTH) {
		audit(d->r, "release-refused", email, id, e->org_id, "does not decrypt (no-script)");
		ret = forged_page(d, "read.no_decrypt");
	} else if (st != SP_OK)
		ret = keyd_reply_error(d->r, 500, "err.internal");
	else
		ret = show(d, email, &ev, ri, &container, step);
	sp_buf_wipe(&container);
out:
	sp_envelope_rec_clear(e);
	return ret;
}

/* --- the route ----------------------------------------------------------- */

static enum MHD_Result
after_login(struct rd *d, struct keyd_login *l, const char *email, int second)
{
	enum MHD_Result ret;
	char msg[200];

	switch (l->status) {
	case KEYD_LOGIN_OK:
		snprintf(d->sess_csrf, sizeof(d->sess_csrf), "%s", l->csrf);
		ret = release_and_show(d, l->email, "read");
		break;
	case KEYD_LOGIN_MFA:
		ret = second_page(d, 200, l, NULL);
		break;
	case KEYD_LOGIN_LOCKED:
		{
			char sec[24];

			snprintf(sec, sizeof(sec), "%lld", (long long)l->retry_after);
			keyd_tplain(d->r, "read.locked_for", (struct sp_i18n_var[]){{"s", sec}}, 1,
			    msg, sizeof(msg));
		}
		d->r->retry_after = l->retry_after;
		ret = signin_page(d, 429, msg, email);
		break;
	case KEYD_LOGIN_BUSY:
		ret = keyd_reply_error(d->r, 503, "err.busy");
		break;
	case KEYD_LOGIN_INVALID:
		ret = second ? second_page(d, 400, l, "read.enter_code") : signin_page(d, 400, l->why, email);
		break;
	case KEYD_LOGIN_BAD:
		if (second && l->why != NULL && strcmp(l->why, "expired") == 0)
			ret = signin_page(d, 401, "read.too_long",
			    l->email);
		else
			ret = second ? second_page(d, 401, l, "read.bad_code") :
			    signin_page(d, 401, "read.wrong_login", email);
		break;
	default:
		ret = keyd_reply_error(d->r, 500, "err.internal");
	}
	keyd_login_wipe(l);
	return ret;
}

enum MHD_Result
keyd_page_read(struct keyd_req *r, const char *arg)
{
	struct sp_err err = {{0}};
	struct keyd_login l;
	struct sp_session s;
	struct rd *d;
	const char *step = keyd_field(r, "step"), *why, *email;
	enum MHD_Result ret;
	int st;

	if ((d = calloc(1, sizeof(*d))) == NULL)
		return keyd_reply_error(r, 503, "read.busy");
	d->r = r;
	if ((why = read_envelope(d)) != NULL) {
		ret = d->f.header_bytes.len > 0 && d->mp != NULL && d->c != NULL ?
		    forged_page(d, why) : plain_page(d, 400, "read.not_secure",
		    why, "read.open_again");
		goto out;
	}
	d->page_cap = strlen(d->h) + strlen(d->c) + 8 * d->f.ct.len + ((size_t)1 << 20);
	keyd_csrf_token(r, d->csrf);
	if (step == NULL) {
		/* from the envelope (another site): nothing happens but this page */
		ret = signin_page(d, 200, NULL, "");
		goto out;
	}
	if (!keyd_csrf_ok(r)) {
		ret = keyd_csrf_refused(r);
		goto out;
	}
	if (strcmp(step, "signin") == 0 && keyd_field(r, "forgot") != NULL) {
		ret = forgot(d, keyd_field(r, "email"));
	} else if (strcmp(step, "signin") == 0) {
		email = keyd_field(r, "email");
		keyd_login_password(r, email, keyd_field(r, "password"), NULL, &l);
		ret = after_login(d, &l, email && keyd_valid_email(email) ? email : "", 0);
	} else if (strcmp(step, "code") == 0) {
		keyd_login_second(r, keyd_field(r, "mfa"), keyd_field(r, "code"),
		    keyd_field(r, "recovery"), NULL, &l);
		ret = after_login(d, &l, NULL, 1);
	} else if (strcmp(step, "read") == 0 || strcmp(step, "part") == 0 ||
	    strcmp(step, "answer") == 0) {
		st = keyd_session_auth(r, 0, &s, &err);
		if (st == SP_ERR_AUTH)
			ret = signin_page(d, 401, "read.ended", "");
		else if (st != SP_OK)
			ret = keyd_store_error(r, st, &err);
		else if (keyd_session_how(&s) == SP_RELEASE_AUTH_DEVICE)
			/* a remembered device's session: here, the password */
			ret = signin_page(d, 401, "read.need_pw", "");
		else {
			snprintf(d->sess_csrf, sizeof(d->sess_csrf), "%s", s.csrf);
			ret = release_and_show(d, s.email, step);
		}
		sp_wipe(&s, sizeof(s));
	} else
		ret = signin_page(d, 400, NULL, "");
out:
	sp_env_file_clear(&d->f);
	sp_wipe(d, sizeof(*d));
	free(d);
	return ret;
}

/*
 * keyd_req.c - one request of sealpost-keyd, the layer below the handlers:
 * lookups of headers, arguments, cookies and form fields; the cross-site
 * and CSRF checks; address and id shapes; and every reply, each with the
 * security headers of docs/api.md and the request's log line.  Nothing here
 * calls a handler or the router.
 * SECURITY: everything looked up here is untrusted input.  Form fields are
 * returned only whole (never cut short at a NUL byte or a size cap); the
 * CSRF token is compared in constant time; answers that may hold secrets
 * are wiped when MHD is done with them; the log gets only the method, path,
 * status and client.
 */
#include <glib.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "assets.h"
#include "crypto.h"
#include "field.h"
#include "html.h"
#include "keyd_lang.h"
#include "keyd_req.h"
#include "keyd_tmpl.h"
#include "jsonwipe.h"

/* --- small lookups ------------------------------------------------------- */

const char *
keyd_header(struct keyd_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *
keyd_arg(struct keyd_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *
keyd_cookie(struct keyd_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, name);
}

const char *
keyd_field_raw(struct keyd_req *r, const char *name, size_t *len, int *toolong)
{
	size_t i;

	*len = 0;
	*toolong = 0;
	for (i = 0; i < r->nfields; i++)
		if (strcmp(r->fields[i].name, name) == 0) {
			*len = r->fields[i].value.len;
			*toolong = r->fields[i].toolong;
			return r->fields[i].value.data ? (const char *)r->fields[i].value.data : "";
		}
	return NULL;
}

const char *
keyd_field(struct keyd_req *r, const char *name)
{
	size_t n;
	int toolong;
	const char *v = keyd_field_raw(r, name, &n, &toolong);

	/* "password=right%00anything" must not become "right" */
	if (v == NULL || toolong || memchr(v, '\0', n) != NULL)
		return NULL;
	return v;
}

char *
keyd_field_text(struct keyd_req *r, const char *name, size_t max, int required,
    const char **why)
{
	size_t i;
	struct sp_err err = {{0}};
	char *out = NULL;

	*why = NULL;
	for (i = 0; i < r->nfields; i++)
		if (strcmp(r->fields[i].name, name) == 0)
			break;
	if (i == r->nfields) {
		if (required)
			*why = "form.required";
		return NULL;
	}
	if (r->fields[i].toolong) {
		*why = sp_field_reason_str(SP_FIELD_R_TOO_LONG);
		return NULL;
	}
	{
		struct sp_field_rules rules = {max * 4, max, required ? SP_FIELD_REQUIRED |
		    SP_FIELD_TRIM : SP_FIELD_TRIM};
		enum sp_field_reason reason = SP_FIELD_R_OK;

		if (sp_field_text(r->fields[i].value.data ? (const char *)r->fields[i].value.data :
		    "", r->fields[i].value.len, &rules, &out, &reason, &err) != SP_OK) {
			*why = sp_field_reason_str(reason);
			return NULL;
		}
	}
	return out;
}

const char *
keyd_session_cookie(const struct keyd *k)
{
	return k->https ? "__Host-sp_session" : "sp_session";
}

int
keyd_cross_site(struct keyd_req *r)
{
	const char *o = keyd_header(r, "Origin");
	const char *s = keyd_header(r, "Sec-Fetch-Site");

	if (s != NULL && strcmp(s, "same-origin") != 0 && strcmp(s, "none") != 0)
		return 1;
	/* Browsers send "Origin: null" on a same-origin form post from a page
	 * whose Referrer-Policy is no-referrer; Sec-Fetch-Site still names it. */
	if (o != NULL && strcmp(o, r->k->origin) != 0 &&
	    !(strcmp(o, "null") == 0 && s != NULL && strcmp(s, "same-origin") == 0))
		return 1;
	return 0;
}

/* Addresses go through the library's one parser (field.h); the key
 * server compares them case-insensitively, so the local part is folded. */
int
keyd_valid_email(const char *s)
{
	char out[SP_ADDR_MAX + 1];

	return s != NULL && sp_addr_parse(s, strlen(s), SP_ADDR_FOLD_LOCAL | SP_ADDR_ALLOW_DOTLESS,
	    out, NULL, NULL) == SP_OK && strlen(out) <= SP_STORE_EMAIL_MAX;
}

int
keyd_email_lower(const char *s, char *out, size_t outsz)
{
	char tmp[SP_ADDR_MAX + 1];

	if (s == NULL || sp_addr_parse(s, strlen(s), SP_ADDR_FOLD_LOCAL | SP_ADDR_ALLOW_DOTLESS,
	    tmp, NULL, NULL) != SP_OK || strlen(tmp) >= outsz)
		return SP_ERR_INVALID;
	snprintf(out, outsz, "%s", tmp);
	return SP_OK;
}

int
keyd_valid_id(const char *id)
{
	unsigned char raw[16];

	return id != NULL && strlen(id) == SP_STORE_ID_MAX &&
	    sp_b64url_decode_exact(id, SP_STORE_ID_MAX, raw, sizeof(raw)) == SP_OK;
}

/* --- replies ------------------------------------------------------------- */

void
keyd_add_cookie(struct keyd_req *r, const char *name, const char *value, const char *attrs)
{
	if (r->ncookies < 3)
		snprintf(r->cookies[r->ncookies++], sizeof(r->cookies[0]), "%s=%s; %s",
		    name, value, attrs);
}

/* One line per answer: method, path, status, client, time taken. */
static void
log_status(struct keyd_req *r, unsigned status)
{
	char st[16], ms[32];

	snprintf(st, sizeof(st), "%u", status);
	snprintf(ms, sizeof(ms), "%lld", (long long)(keyd_now_ms() - r->started_ms));
	keyd_log("request", "method", r->method, "path", r->url, "status", st,
	    "client", r->client, "ms", ms, NULL);
}

static enum MHD_Result
queue(struct keyd_req *r, unsigned status, const char *type, struct MHD_Response *resp,
    int cacheable)
{
	enum MHD_Result ret;
	int i;

	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", type);
	MHD_add_response_header(resp, "Content-Security-Policy", r->csp != NULL ? r->csp : KEYD_CSP);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	if (r->k->https)
		MHD_add_response_header(resp, "Strict-Transport-Security", "max-age=31536000");
	MHD_add_response_header(resp, "Cache-Control",
	    cacheable ? "public, max-age=3600" : "no-store");
	for (i = 0; i < r->ncookies; i++)
		MHD_add_response_header(resp, "Set-Cookie", r->cookies[i]);
	if (r->allow[0] != '\0')
		MHD_add_response_header(resp, "Allow", r->allow);
	if (status == 429 || status == 503) {
		char ra[24];

		snprintf(ra, sizeof(ra), "%lld", (long long)(r->retry_after > 0 ? r->retry_after : 2));
		MHD_add_response_header(resp, "Retry-After", ra);
	}
	if (r->work == KEYD_WORK_RUNNING) {
		/* on a worker: held until the handler's next call (keyd_work.c) */
		if (r->work_resp != NULL)
			MHD_destroy_response(r->work_resp);
		r->work_resp = resp;
		r->work_status = status;
		log_status(r, status);
		return MHD_YES;
	}
	ret = MHD_queue_response(r->conn, status, resp);
	MHD_destroy_response(resp);
	r->answered = 1;
	log_status(r, status);
	return ret;
}

enum MHD_Result
keyd_reply(struct keyd_req *r, unsigned status, const char *type, const void *body,
    size_t len, int cacheable)
{
	return queue(r, status, type, MHD_create_response_from_buffer(len, (void *)body,
	    MHD_RESPMEM_MUST_COPY), cacheable);
}

enum MHD_Result
keyd_reply_response(struct keyd_req *r, unsigned status, const char *type,
    struct MHD_Response *resp)
{
	return queue(r, status, type, resp, 0);
}

/* Bodies may hold secrets (key parts, a re-rendered password field): they
 * are wiped when MHD is done with them. */
struct wipe_ctx {
	void *p;
	size_t n;
};

static void
wipe_free(void *cls)
{
	struct wipe_ctx *w = cls;

	sp_wipe(w->p, w->n);
	free(w->p);
	free(w);
}

static struct MHD_Response *
response_wiped(void *p, size_t n)
{
	struct wipe_ctx *w = malloc(sizeof(*w));
	struct MHD_Response *resp;

	if (w == NULL) {
		sp_wipe(p, n);
		free(p);
		return NULL;
	}
	w->p = p;
	w->n = n;
	if ((resp = MHD_create_response_from_buffer_with_free_callback_cls(n, p, wipe_free,
	    w)) == NULL)
		wipe_free(w);
	return resp;
}

enum MHD_Result
keyd_reply_buf(struct keyd_req *r, unsigned status, const char *type, struct sp_buf *body)
{
	size_t len;
	unsigned char *p = sp_buf_steal(body, &len);

	if (p == NULL)
		return keyd_reply(r, status, type, "", 0, 0);
	return queue(r, status, type, response_wiped(p, len), 0);
}

enum MHD_Result
keyd_reply_json(struct keyd_req *r, unsigned status, void *json)
{
	char *s = sp_json_dumps(json, JSON_COMPACT);
	enum MHD_Result ret;

	json_decref(json);
	if (s == NULL)
		return keyd_reply(r, 500, "application/json", "{\"error\":\"internal error\"}", 26, 0);
	ret = queue(r, status, "application/json", response_wiped(s, strlen(s)), 0);
	return ret;
}

enum MHD_Result
keyd_reply_error(struct keyd_req *r, unsigned status, const char *msg)
{
	/* msg: a catalogue key, or a text of the library: the answer is in
	 * the request's language */
	msg = keyd_tmsg(r, msg);
	if (!r->api) {
		struct sp_buf b;

		sp_buf_init(&b, 4096);
		sp_buf_append_str(&b, "<p>");
		sp_html_escape(&b, msg, strlen(msg));
		sp_buf_append_str(&b, "</p>");
		enum MHD_Result ret = keyd_page_simple(r, status, msg,
		    b.data ? (const char *)b.data : "");
		sp_buf_free(&b);
		return ret;
	}
	return keyd_reply_json(r, status, json_pack("{s:s}", "error", msg));
}

enum MHD_Result
keyd_reply_reason(struct keyd_req *r, unsigned status, const char *msg, const char *reason)
{
	return keyd_reply_json(r, status, json_pack("{s:s,s:s}", "error", keyd_tmsg(r, msg),
	    "reason", reason));
}

enum MHD_Result
keyd_reply_field(struct keyd_req *r, const char *field, const char *why)
{
	why = keyd_tmsg(r, why);
	if (r->api)
		return keyd_reply_json(r, 400, json_pack("{s:s,s:s}", "error", why ? why :
		    "invalid", "field", field));
	{
		struct sp_buf b;
		enum MHD_Result ret;

		sp_buf_init(&b, 8192);
		keyd_th(r, &b, "form.field_invalid_html", (struct sp_i18n_var[]){{"field", field},
		    {"why", why ? why : keyd_t(r, "form.invalid")}}, 2);
		ret = keyd_page_simple(r, 400, keyd_t(r, "form.check_title"),
		    b.data ? (const char *)b.data : "");
		sp_buf_free(&b);
		return ret;
	}
}

enum MHD_Result
keyd_redirect(struct keyd_req *r, const char *path)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(0, (void *)"",
	    MHD_RESPMEM_PERSISTENT);

	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, "Location", path);
	return queue(r, 303, "text/plain; charset=utf-8", resp, 0);
}

/* --- pages and CSRF ----------------------------------------------------- */

void
keyd_page_alert(struct sp_buf *b, const char *msg)
{
	if (msg == NULL || *msg == '\0')
		return;
	sp_buf_append_str(b, "<p class=\"summary\" role=\"alert\">");
	sp_html_escape(b, msg, strlen(msg));
	sp_buf_append_str(b, "</p>");
}

enum MHD_Result
keyd_page_sized(struct keyd_req *r, unsigned status, const char *title,
    const char *html_body, size_t len)
{
	const struct sp_asset *a = sp_asset_find("portal/page.html");
	struct sp_buf out, sw, cat;
	struct keyd_var v[] = {
		{"TITLE", title, 0, 0},
		{"BODY", html_body, len, 1},
		{"LANG", keyd_lang(r), 0, 0},
		{"LANG_SWITCH", "", 0, 1},
		{"I18N", "", 0, 1},
	};
	int st;

	if (a == NULL)
		return keyd_reply(r, 503, "text/plain; charset=utf-8", "not built\n", 10, 0);
	sp_buf_init(&sw, 16384);
	sp_buf_init(&cat, (size_t)1 << 20);
	keyd_lang_switch(r, &sw);
	/* the scripts' texts, only for a page that loads a script: a page
	 * without one carries no script element at all */
	if (memmem(html_body, len, "<script", 7) != NULL) {
		sp_buf_append_str(&cat, "<script type=\"application/json\" id=\"sp-i18n\">");
		sp_i18n_json(&cat, keyd_lang(r), "js.");
		sp_buf_append_str(&cat, "</script>");
	}
	v[3].value = sw.data ? (const char *)sw.data : "";
	v[4].value = cat.data ? (const char *)cat.data : "";
	sp_buf_init(&out, a->len + len + sw.len + cat.len + 65536);
	st = keyd_tmpl_lang(keyd_lang(r), (const char *)a->data, a->len, v, 5, &out);
	sp_buf_free(&sw);
	sp_buf_free(&cat);
	if (st != SP_OK) {
		sp_buf_wipe(&out);
		return keyd_reply(r, 500, "text/plain; charset=utf-8", "internal error\n", 15, 0);
	}
	return keyd_reply_buf(r, status, "text/html; charset=utf-8", &out);
}

enum MHD_Result
keyd_page_simple(struct keyd_req *r, unsigned status, const char *title,
    const char *html_body)
{
	return keyd_page_sized(r, status, title, html_body, strlen(html_body));
}

enum MHD_Result
keyd_page_buf(struct keyd_req *r, unsigned status, const char *title, struct sp_buf *b)
{
	enum MHD_Result ret = keyd_page_simple(r, status, title,
	    b->data ? (const char *)b->data : "");

	sp_buf_wipe(b);
	return ret;
}

const char *
keyd_bearer(struct keyd_req *r)
{
	const char *h = keyd_header(r, "Authorization");

	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		return NULL;
	h += 7;
	while (*h == ' ')
		h++;
	return *h ? h : NULL;
}

int
keyd_token_shape(const char *s, size_t min, size_t max)
{
	size_t n = s ? strlen(s) : 0, i;

	if (n < min || n > max)
		return 0;
	for (i = 0; i < n; i++)
		if (!g_ascii_isalnum(s[i]) && s[i] != '-' && s[i] != '_')
			return 0;
	return 1;
}

void
keyd_csrf_token(struct keyd_req *r, char out[64])
{
	const char *c = keyd_cookie(r, "sp_csrf");

	if (keyd_token_shape(c, 22, 43)) {
		snprintf(out, 64, "%s", c);
		return;
	}
	if (sp_token_new(out, 64, "", 16) != SP_OK)
		out[0] = '\0';
	keyd_add_cookie(r, "sp_csrf", out, r->k->https ?
	    "Path=/; HttpOnly; SameSite=Strict; Secure" : "Path=/; HttpOnly; SameSite=Strict");
}

int
keyd_csrf_ok(struct keyd_req *r)
{
	const char *c = keyd_cookie(r, "sp_csrf");
	const char *f = keyd_field(r, "csrf");
	const char *why = NULL;

	if (f == NULL)
		f = keyd_header(r, "X-CSRF-Token");
	if (keyd_cross_site(r))
		why = "cross-site";
	else if (!keyd_token_shape(c, 22, 43))
		why = "no-cookie";
	else if (f == NULL || strlen(f) != strlen(c) || !sp_ct_eq(c, f, strlen(c)))
		why = "mismatch";
	if (why != NULL)
		keyd_log("csrf-refused", "path", r->url, "reason", why, "origin",
		    keyd_header(r, "Origin"), "fetch_site", keyd_header(r, "Sec-Fetch-Site"),
		    "client", r->client, NULL);
	return why == NULL;
}

enum MHD_Result
keyd_csrf_refused(struct keyd_req *r)
{
	return keyd_page_simple(r, 403, keyd_t(r, "form.expired_title"),
	    keyd_t(r, "form.expired_html"));
}

const char *
keyd_json_str(json_t *j, const char *name, size_t *len, int *bad)
{
	json_t *v = json_object_get(j, name);

	*bad = 0;
	*len = 0;
	if (v == NULL || json_is_null(v))
		return NULL;
	if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
		*bad = 1;
		return NULL;
	}
	*len = json_string_length(v);
	return json_string_value(v);
}

json_t *
keyd_json_body(struct keyd_req *r, size_t flags)
{
	json_error_t je;
	json_t *j;

	if (r->body.len == 0)
		return NULL;
	j = json_loadb((const char *)r->body.data, r->body.len, flags, &je);
	if (j != NULL && !json_is_object(j)) {
		json_decref(j);
		j = NULL;
	}
	return j;
}

/* The parser refuses a body that is not valid UTF-8 as a whole: parse a
 * copy whose bad bytes are replaced by U+FFFD to name the member. */
int
keyd_json_bad_utf8(struct keyd_req *r, char key[32])
{
	const unsigned char *p = r->body.data;
	size_t n = r->body.len;
	json_error_t je;
	json_t *j, *v;
	const char *name;
	gchar *fixed;

	key[0] = '\0';
	if (n == 0 || g_utf8_validate((const gchar *)p, (gssize)n, NULL))
		return 0;
	if ((fixed = g_utf8_make_valid((const gchar *)p, (gssize)n)) == NULL)
		return 1;
	if ((j = json_loads(fixed, JSON_REJECT_DUPLICATES, &je)) != NULL && json_is_object(j))
		json_object_foreach(j, name, v) {
			const char *sv = json_string_value(v);

			if (sv != NULL && strstr(sv, "\xef\xbf\xbd") != NULL && strlen(name) < 32) {
				snprintf(key, 32, "%s", name);
				break;
			}
		}
	json_decref(j);
	sp_wipe(fixed, strlen(fixed));	/* a copy of the body: it may hold a password */
	g_free(fixed);
	return 1;
}

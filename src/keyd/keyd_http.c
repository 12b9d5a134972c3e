/*
 * keyd_http.c - the libmicrohttpd request handler of sealpost-keyd: one
 * context per request, body limits (413 before any work: Content-Length is
 * checked up front and the bytes are counted while they arrive), form
 * decoding through MHD's post processor, routing, and the reply helpers that
 * put the security headers on every answer.
 * SECURITY: everything here is untrusted input.  Bodies and form fields
 * are capped; the log gets only the method, path and status.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crypto.h"
#include "field.h"
#include "keyd.h"

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

static enum MHD_Result
queue(struct keyd_req *r, unsigned status, const char *type, struct MHD_Response *resp,
    int cacheable)
{
	enum MHD_Result ret;
	int i;

	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", type);
	MHD_add_response_header(resp, "Content-Security-Policy", KEYD_CSP);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	if (r->k->https)
		MHD_add_response_header(resp, "Strict-Transport-Security", "max-age=31536000");
	MHD_add_response_header(resp, "Cache-Control",
	    cacheable ? "public, max-age=3600" : "no-store");
	for (i = 0; i < r->ncookies; i++)
		MHD_add_response_header(resp, "Set-Cookie", r->cookies[i]);
	if (status == 429 || status == 503) {
		char ra[24];

		snprintf(ra, sizeof(ra), "%lld", (long long)(r->retry_after > 0 ? r->retry_after : 2));
		MHD_add_response_header(resp, "Retry-After", ra);
	}
	ret = MHD_queue_response(r->conn, status, resp);
	MHD_destroy_response(resp);
	r->answered = 1;
	keyd_log_status(r, status);
	return ret;
}

enum MHD_Result
keyd_reply(struct keyd_req *r, unsigned status, const char *type, const void *body,
    size_t len, int cacheable)
{
	return queue(r, status, type, MHD_create_response_from_buffer(len, (void *)body,
	    MHD_RESPMEM_MUST_COPY), cacheable);
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
	char *s = json_dumps(json, JSON_COMPACT);
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
	if (strncmp(r->url, "/api/", 5) != 0) {
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
			*why = "This field is required";
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

enum MHD_Result
keyd_reply_field(struct keyd_req *r, const char *field, const char *why)
{
	if (strncmp(r->url, "/api/", 5) == 0)
		return keyd_reply_json(r, 400, json_pack("{s:s,s:s}", "error", why ? why :
		    "invalid", "field", field));
	{
		struct sp_buf b;
		enum MHD_Result ret;

		sp_buf_init(&b, 8192);
		sp_buf_append_str(&b, "<p class=\"summary\" role=\"alert\">The field <strong>");
		sp_html_escape(&b, field, strlen(field));
		sp_buf_append_str(&b, "</strong> is not valid: ");
		sp_html_escape(&b, why ? why : "invalid", strlen(why ? why : "invalid"));
		sp_buf_append_str(&b, ".</p><p>Go back, correct it and try again.</p>");
		ret = keyd_page_simple(r, 400, "Please check the form", b.data ? (const char *)b.data : "");
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

/* --- request bodies ------------------------------------------------------ */

static struct keyd_field *
field_get(struct keyd_req *r, const char *key)
{
	size_t i;

	for (i = 0; i < r->nfields; i++)
		if (strcmp(r->fields[i].name, key) == 0)
			return &r->fields[i];
	if (r->nfields == KEYD_MAX_FIELDS || strlen(key) >= sizeof(r->fields[0].name))
		return NULL;
	snprintf(r->fields[r->nfields].name, sizeof(r->fields[0].name), "%s", key);
	sp_buf_init(&r->fields[r->nfields].value,
	    r->online ? r->cap : KEYD_FIELD_MAX);
	return &r->fields[r->nfields++];
}

static enum MHD_Result
post_iter(void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
    const char *content_type, const char *transfer_encoding, const char *data,
    uint64_t off, size_t size)
{
	struct keyd_req *r = cls;
	struct keyd_field *f;
	size_t i;

	if (key == NULL)
		return MHD_YES;
	r->form_bytes += size;
	if (r->form_bytes > r->cap) {
		r->toobig = 1;
		return MHD_NO;
	}
	if (r->online && strcmp(key, "h") != 0 && strcmp(key, "c") != 0)
		return MHD_YES;
	if ((f = field_get(r, key)) == NULL)
		return MHD_YES;
	if (!r->online) {
		/* One field over its cap (the body is within --max-body): the
		 * page names that field; the rest of it is not kept. */
		if (!f->toolong && sp_buf_append(&f->value, data, size) != SP_OK)
			f->toolong = 1;
		return MHD_YES;
	}
	/* /online: keep only the base64 alphabet and line feeds. */
	if (sp_buf_reserve(&f->value, size) != SP_OK) {
		r->toobig = 1;
		return MHD_NO;
	}
	for (i = 0; i < size; i++) {
		unsigned char c = (unsigned char)data[i];

		if (isalnum(c) || c == '+' || c == '/' || c == '=' || c == '\n' ||
		    c == '-' || c == '_')
			f->value.data[f->value.len++] = c;
	}
	f->value.data[f->value.len] = '\0';
	return MHD_YES;
}

static int
is_form(const char *ct)
{
	return ct != NULL && (strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0 ||
	    strncasecmp(ct, "multipart/form-data", 19) == 0);
}

/* --- routing ------------------------------------------------------------- */

static enum MHD_Result
route(struct keyd_req *r)
{
	const char *u = r->url, *m = r->method;
	int get = strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
	int post = strcmp(m, "POST") == 0;

	if (strcmp(u, "/healthz") == 0 && get) {
		/* without its key holder, keyd can neither deposit nor release */
		if (__atomic_load_n(&r->k->kh_pid, __ATOMIC_SEQ_CST) <= 0 ||
		    !sp_keywrap_alive(r->k->kw))
			return keyd_reply(r, 503, "text/plain; charset=utf-8", "key holder down\n",
			    16, 0);
		return keyd_reply(r, 200, "text/plain; charset=utf-8", "ok\n", 3, 0);
	}
	if (strcmp(u, "/api/v1/envelopes") == 0)
		return post ? keyd_api_deposit(r) : keyd_reply_error(r, 405, "method not allowed");
	if (strcmp(u, "/api/v1/session") == 0)
		return keyd_api_session(r);
	if (strncmp(u, "/api/v1/session/mfa", 19) == 0)
		return keyd_api_mfa(r, u + 19);
	if (strncmp(u, "/api/v1/account/passkeys", 24) == 0)
		return keyd_api_passkeys(r, u + 24);
	if (strncmp(u, "/api/v1/envelopes/", 18) == 0) {
		const char *id = u + 18, *slash = strchr(id, '/');
		char idbuf[64];

		if (slash == NULL || strcmp(slash, "/release") != 0 ||
		    (size_t)(slash - id) >= sizeof(idbuf))
			return keyd_reply_error(r, 404, "unknown envelope");
		if (!post)
			return keyd_reply_error(r, 405, "method not allowed");
		snprintf(idbuf, sizeof(idbuf), "%.*s", (int)(slash - id), id);
		return keyd_api_release(r, idbuf);
	}
	if (strncmp(u, "/api/", 5) == 0)
		return keyd_reply_error(r, 404, "no such API");
	if (strcmp(u, "/register") == 0 && (get || post))
		return keyd_page_register(r);
	if (strcmp(u, "/activate") == 0 && (get || post))
		return keyd_page_activate(r);
	if (strcmp(u, "/forgot") == 0 && (get || post))
		return keyd_page_forgot(r);
	if (strcmp(u, "/reset") == 0 && (get || post))
		return keyd_page_reset(r);
	if (strcmp(u, "/resend") == 0 && (get || post))
		return keyd_page_resend(r);
	if (strcmp(u, "/signin-link") == 0 && (get || post))
		return keyd_page_signin_link(r);
	if (strcmp(u, "/signin") == 0 && (get || post))
		return keyd_page_signin(r);
	if (strcmp(u, "/signin/second") == 0 && post)
		return keyd_page_signin_mfa(r);
	if (strcmp(u, "/account") == 0 || strncmp(u, "/account/", 9) == 0)
		return keyd_page_account(r, u + 8);
	if ((strcmp(u, "/open") == 0 && get) || (strcmp(u, "/online") == 0 && post))
		return keyd_page_open(r);
	if (strncmp(u, "/static/", 8) == 0 && get)
		return keyd_static(r, u + 8);
	if (strcmp(u, "/") == 0 && get)
		return keyd_page_simple(r, 200, "sealpost key server",
		    "<p>This server keeps the keys of secure messages. Open a secure "
		    "message from the <code>securedoc.html</code> attachment you received.</p>");
	return keyd_reply_error(r, 404, "This page does not exist");
}


enum MHD_Result
keyd_handler(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct keyd *k = cls;
	struct keyd_req *r = *con_cls;
	const char *cl, *ct;
	char *end;
	unsigned long long n;

	if (r == NULL) {
		if ((r = calloc(1, sizeof(*r))) == NULL)
			return MHD_NO;
		*con_cls = r;
		r->k = k;
		r->conn = conn;
		r->method = method;
		r->url = url;
		r->started_ms = keyd_now_ms();
		keyd_client_addr(r);
		r->online = strcmp(url, "/online") == 0 && strcmp(method, "POST") == 0;
		r->cap = r->online ? k->max_envelope : k->max_body;
		sp_buf_init(&r->body, r->cap);
		if ((cl = keyd_header(r, "Content-Length")) != NULL) {
			n = strtoull(cl, &end, 10);
			if (*cl == '\0' || *end != '\0' || n > r->cap)
				return keyd_reply_error(r, 413, "request body too large");
		}
		ct = keyd_header(r, "Content-Type");
		if (is_form(ct) && strncmp(url, "/api/", 5) != 0) {
			r->pp = MHD_create_post_processor(conn, 65536, post_iter, r);
			if (r->pp == NULL)
				r->badform = 1;
		}
		return MHD_YES;
	}
	if (r->answered) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		if (!r->toobig && !r->badform) {
			if (r->pp != NULL) {
				if (MHD_post_process(r->pp, upload_data, *upload_data_size) != MHD_YES
				    && !r->toobig)
					r->badform = 1;
			} else if (sp_buf_append(&r->body, upload_data, *upload_data_size) != SP_OK)
				r->toobig = 1;
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (r->toobig)
		return keyd_reply_error(r, 413, "request body too large");
	if (r->badform)
		return keyd_reply_error(r, 400, "malformed form");
	return route(r);
}

void
keyd_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct keyd_req *r = *con_cls;
	size_t i;

	if (r == NULL)
		return;
	if (r->pp != NULL)
		MHD_destroy_post_processor(r->pp);
	sp_buf_wipe(&r->body);
	if (r->async_login != NULL) {
		sp_wipe(r->async_login, sizeof(*r->async_login));
		free(r->async_login);
	}
	for (i = 0; i < r->nfields; i++)
		sp_buf_wipe(&r->fields[i].value);
	sp_wipe(r->cookies, sizeof(r->cookies));
	free(r);
	*con_cls = NULL;
}

/*
 * keyd.h - internals shared by the files of sealpost-keyd: the server state,
 * the per-request context, reply helpers, templates and logging.  Not a
 * library interface.
 */
#ifndef KEYD_H
#define KEYD_H

#include <microhttpd.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "html.h"
#include "keywrap.h"
#include "sp.h"
#include "store.h"
#include "transport.h"

#define KEYD_DEFAULT_MAX_BODY ((size_t)1 << 20)
#define KEYD_DEFAULT_MAX_ENVELOPE ((size_t)64 << 20)
#define KEYD_SESSION_IDLE (30 * 60)
#define KEYD_SESSION_MAX (12 * 60 * 60)
#define KEYD_ACTIVATION_TTL (24 * 60 * 60)
#define KEYD_MAX_FIELDS 32
#define KEYD_FIELD_MAX 4096	/* bytes of one ordinary form field */

/* The one Content-Security-Policy of every answer (docs/api.md). */
#define KEYD_CSP "default-src 'none'; script-src 'self'; " \
	"style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; " \
	"connect-src 'self'; frame-src 'self' blob: data:; " \
	"child-src 'self' blob: data:; form-action 'self'; base-uri 'none'; " \
	"frame-ancestors 'none'"

struct keyd {
	struct sp_store *store;
	struct sp_keywrap *kw;
	struct sp_transport *mail;
	char public_url[512];	/* no trailing '/' */
	char origin[512];	/* scheme://host[:port] of public_url */
	int https;
	size_t max_body;
	size_t max_envelope;
	struct sp_throttle_policy thr_email;	/* log-in failures per address */
	struct sp_throttle_policy thr_ip;	/* log-in failures per client */
};

struct keyd_field {
	char name[32];
	struct sp_buf value;
};

struct keyd_req {
	struct keyd *k;
	struct MHD_Connection *conn;
	const char *method;
	const char *url;
	char client[64];
	size_t cap;			/* body limit of this request */
	struct sp_buf body;		/* raw body (JSON requests) */
	struct MHD_PostProcessor *pp;	/* form bodies */
	struct keyd_field fields[KEYD_MAX_FIELDS];
	size_t nfields;
	size_t form_bytes;
	int online;			/* POST /online: fields h, c, base64 only */
	int toobig;
	int badform;
	int answered;
	char cookies[3][320];		/* Set-Cookie values of the answer */
	int ncookies;
	int64_t started_ms;
	int64_t retry_after;		/* seconds, for a 429 or 503 answer */
};

/* keyd_http.c: the MHD access handler (cls = struct keyd *) and the
 * request-completed callback that frees the per-request context. */
enum MHD_Result keyd_handler(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls);
void keyd_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe);

/* keyd_log.c: one line "keyd EVENT key=value ..." to stderr; values pass a
 * printable filter.  Call as keyd_log("request", "method", m, "status", s,
 * NULL) with name/value pairs ending in NULL. */
void keyd_log(const char *event, ...);
void keyd_log_status(struct keyd_req *r, unsigned status);
int64_t keyd_now_ms(void);

/* keyd_http.c: replies.  Each adds the security headers and pending
 * cookies, queues the answer and returns what the MHD handler returns. */
enum MHD_Result keyd_reply(struct keyd_req *r, unsigned status, const char *type,
    const void *body, size_t len, int cacheable);
/* Takes the buffer's storage. */
enum MHD_Result keyd_reply_buf(struct keyd_req *r, unsigned status,
    const char *type, struct sp_buf *body);
enum MHD_Result keyd_reply_json(struct keyd_req *r, unsigned status, void *json);
enum MHD_Result keyd_reply_error(struct keyd_req *r, unsigned status, const char *msg);
void keyd_add_cookie(struct keyd_req *r, const char *name, const char *value,
    const char *attrs);
const char *keyd_header(struct keyd_req *r, const char *name);
const char *keyd_arg(struct keyd_req *r, const char *name);
const char *keyd_cookie(struct keyd_req *r, const char *name);
/* The form field called name (NUL-terminated), or NULL. */
const char *keyd_field(struct keyd_req *r, const char *name);
/* 1 when Origin / Sec-Fetch-Site name another site. */
int keyd_cross_site(struct keyd_req *r);
/* The session cookie's name for this server. */
const char *keyd_session_cookie(const struct keyd *k);
int keyd_valid_email(const char *s);
/* Lower-case copy of an address into out; SP_ERR_INVALID if not valid. */
int keyd_email_lower(const char *s, char *out, size_t outsz);
int keyd_valid_id(const char *id);

/* keyd_api.c */
enum MHD_Result keyd_api_deposit(struct keyd_req *r);
enum MHD_Result keyd_api_session(struct keyd_req *r);
enum MHD_Result keyd_api_release(struct keyd_req *r, const char *id);

/* keyd_pages.c */
enum MHD_Result keyd_page_register(struct keyd_req *r);
enum MHD_Result keyd_page_activate(struct keyd_req *r);
/* A whole page from page.html: title, heading and body fragment (raw). */
enum MHD_Result keyd_page_simple(struct keyd_req *r, unsigned status,
    const char *title, const char *html_body);
/* The CSRF token of this browser: the sp_csrf cookie, or a new one (set as
 * cookie on the answer).  out has room for 64 bytes. */
void keyd_csrf_token(struct keyd_req *r, char out[64]);
/* 1 when a form post carries a valid CSRF token from this site. */
int keyd_csrf_ok(struct keyd_req *r);

/* keyd_open.c */
enum MHD_Result keyd_page_open(struct keyd_req *r);
enum MHD_Result keyd_static(struct keyd_req *r, const char *name);

/* keyd_tmpl.c: replace {{NAME}} in tmpl with the HTML-escaped value of the
 * var of that name (raw: the value is an HTML fragment built by keyd itself
 * from escaped parts).  Unknown names become empty. */
struct keyd_var {
	const char *name;
	const char *value;
	size_t len;		/* 0 = strlen(value) */
	int raw;
};
int keyd_tmpl(const char *tmpl, size_t tlen, const struct keyd_var *vars, size_t nvars,
    struct sp_buf *out);

#endif

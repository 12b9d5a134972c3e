/*
 * keyd_req.h - one request of sealpost-keyd (keyd_req.c): the request
 * context, lookups of its headers, arguments, cookies and form fields,
 * checks shared by every handler (cross-site, CSRF, address and id shapes),
 * and the replies, each with the security headers of docs/api.md.  The
 * layer below the handlers: nothing here calls a handler or the router.
 * Not a library interface.
 */
#ifndef KEYD_REQ_H
#define KEYD_REQ_H

#include <jansson.h>
#include <microhttpd.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "keyd.h"

struct keyd_field {
	char name[32];
	struct sp_buf value;
	int toolong;		/* over KEYD_FIELD_MAX: value holds only its start */
};

enum { KEYD_WORK_NONE, KEYD_WORK_RUNNING, KEYD_WORK_DONE };

struct keyd_req {
	struct keyd *k;
	struct MHD_Connection *conn;
	const char *method;
	const char *url;
	char client[64];		/* client address (forwarded by a trusted proxy) */
	char client_key[72];		/* what the client's limits count: its IPv4
					 * address, or its IPv6 /64 network */
	char peer[64];			/* TCP peer address */
	size_t cap;			/* body limit of this request */
	struct sp_buf body;		/* raw body (JSON requests) */
	struct MHD_PostProcessor *pp;	/* form bodies */
	struct keyd_field fields[KEYD_MAX_FIELDS];
	size_t nfields;
	size_t form_bytes;
	int api;			/* an /api/ route: errors are JSON, never a page */
	int online;			/* POST /online, /read: fields h, c, s, id base64 only */
	int toobig;
	int badform;
	int answered;
	char cookies[3][320];		/* Set-Cookie values of the answer */
	int ncookies;
	char allow[48];			/* Allow header of a 405 answer ("" none) */
	const char *csp;		/* the answer's policy (NULL: KEYD_CSP) */
	int64_t started_ms;
	char lang[12];			/* the answer's language ("" undecided: keyd_lang.h) */
	int64_t retry_after;		/* seconds, for a 429 or 503 answer */
	int async;			/* 1: the answer waits for a write; 2: it is done */
	void *async_data;		/* the wait and its answer (owned) */
	void (*async_free)(void *);	/* frees async_data when the request ends */
	/* a route run by a worker (keyd_work.h): while it runs, its answer is
	 * held here, and queued when libmicrohttpd calls the handler again */
	int work;			/* KEYD_WORK_NONE, _RUNNING, _DONE */
	enum MHD_Result work_ret;	/* what the route's handler returned */
	struct MHD_Response *work_resp;	/* the held answer (owned), or NULL */
	unsigned work_status;
	/* a route whose body is streamed (keyd_router.h): the hook gets it
	 * piece by piece instead of r->body; its state is freed at the end */
	int (*body_fn)(struct keyd_req *r, const char *data, size_t n);
	void *body_state;
	void (*body_free)(void *);
};

/* --- lookups: borrowed strings, valid until the request completes ------- */

const char *keyd_header(struct keyd_req *r, const char *name);
const char *keyd_arg(struct keyd_req *r, const char *name);
const char *keyd_cookie(struct keyd_req *r, const char *name);
/* A form field as a C string; NULL when absent, and also when it holds a
 * NUL byte or was over KEYD_FIELD_MAX (never a value cut short). */
const char *keyd_field(struct keyd_req *r, const char *name);
/* The raw bytes of a form field: NULL when absent; *len its length (NUL
 * bytes included), *toolong 1 when it was over KEYD_FIELD_MAX. */
const char *keyd_field_raw(struct keyd_req *r, const char *name, size_t *len, int *toolong);
/* One form field checked as text (field.h): returns the normalised copy
 * (caller frees) or NULL with *why set. */
char *keyd_field_text(struct keyd_req *r, const char *name, size_t max, int required,
    const char **why);

/* --- checks -------------------------------------------------------------- */

/* 1 when Origin / Sec-Fetch-Site name another site. */
int keyd_cross_site(struct keyd_req *r);
/* The session cookie's name for this server. */
const char *keyd_session_cookie(const struct keyd *k);
int keyd_valid_email(const char *s);
/* Lower-case copy of an address into out; SP_ERR_INVALID if not valid. */
int keyd_email_lower(const char *s, char *out, size_t outsz);
int keyd_valid_id(const char *id);
/* 1 when s is min..max characters of the base64url alphabet. */
int keyd_token_shape(const char *s, size_t min, size_t max);
/* The CSRF token of this browser: the sp_csrf cookie, or a new one (set as
 * cookie on the answer).  out has room for 64 bytes. */
void keyd_csrf_token(struct keyd_req *r, char out[64]);
/* 1 when a form post carries a valid CSRF token from this site. */
int keyd_csrf_ok(struct keyd_req *r);

/* --- replies -------------------------------------------------------------
 * Each adds the security headers, the pending cookies (and Allow, when
 * r->allow is set), queues the answer, logs the request line and returns
 * what the MHD handler returns. */

enum MHD_Result keyd_reply(struct keyd_req *r, unsigned status, const char *type,
    const void *body, size_t len, int cacheable);
/* Takes the buffer's storage (wiped when MHD is done with it). */
enum MHD_Result keyd_reply_buf(struct keyd_req *r, unsigned status,
    const char *type, struct sp_buf *body);
/* Takes the reference to json. */
enum MHD_Result keyd_reply_json(struct keyd_req *r, unsigned status, void *json);
/* Queue a response made elsewhere (e.g. from a file descriptor) with the
 * security headers; takes resp. */
enum MHD_Result keyd_reply_response(struct keyd_req *r, unsigned status, const char *type,
    struct MHD_Response *resp);
/* {"error": msg} on an API route (r->api), else a page saying msg. */
enum MHD_Result keyd_reply_error(struct keyd_req *r, unsigned status, const char *msg);
/* {"error": msg in the request's language, "reason": reason}: a stable
 * code that scripts may branch on (never on the text). */
enum MHD_Result keyd_reply_reason(struct keyd_req *r, unsigned status, const char *msg,
    const char *reason);
/* A 400 answer naming the field: a page, or {"error":..,"field":..}. */
enum MHD_Result keyd_reply_field(struct keyd_req *r, const char *field, const char *why);
/* 303 to a local path. */
enum MHD_Result keyd_redirect(struct keyd_req *r, const char *path);
/* A whole page from page.html: title, heading and body fragment (raw). */
/* A page's error line (<p class="summary" role="alert">, msg escaped) into
 * b; nothing for a NULL or empty msg. */
void keyd_page_alert(struct sp_buf *b, const char *msg);
enum MHD_Result keyd_page_simple(struct keyd_req *r, unsigned status,
    const char *title, const char *html_body);
/* keyd_page_simple() with a body of len bytes, in an answer
 * as large as it needs (an envelope reposted by a page may be large). */
enum MHD_Result keyd_page_sized(struct keyd_req *r, unsigned status, const char *title,
    const char *html_body, size_t len);
/* keyd_page_simple() with the body fragment in b, which is wiped and
 * freed afterwards (it may hold a secret shown once). */
enum MHD_Result keyd_page_buf(struct keyd_req *r, unsigned status, const char *title,
    struct sp_buf *b);
/* The request body as a JSON object, parsed with jansson's flags (e.g.
 * JSON_REJECT_DUPLICATES): a new reference, or NULL when the body is
 * empty, not JSON or not an object. */
json_t *keyd_json_body(struct keyd_req *r, size_t flags);
/* 1 when the body is not valid UTF-8; key gets the top-level member whose
 * string holds the bad bytes ("" when none can be told). */
int keyd_json_bad_utf8(struct keyd_req *r, char key[32]);
/* A string member of j as bytes: NULL when absent or null, with *len its
 * length; *bad 1 when present but not a string, or when it holds a NUL
 * byte. */
const char *keyd_json_str(json_t *j, const char *name, size_t *len, int *bad);
/* The token of an "Authorization: Bearer TOKEN" header, or NULL. */
const char *keyd_bearer(struct keyd_req *r);
/* The page for a form refused by keyd_csrf_ok(). */
enum MHD_Result keyd_csrf_refused(struct keyd_req *r);
/* A Set-Cookie header for the answer (at most 3 per answer). */
void keyd_add_cookie(struct keyd_req *r, const char *name, const char *value,
    const char *attrs);

#endif

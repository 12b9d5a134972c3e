/*
 * keyd_router.c - every route of sealpost-keyd in one table (docs/api.md),
 * matched in order.  The first entry whose path matches decides the path;
 * it and the entries right after it with the same path are the methods the
 * path serves (405 with Allow for any other method).  No entry: 404.
 * SECURITY: the path is untrusted: it is only compared, never used to name
 * a file; an envelope id taken from the path is bounded (63 bytes) here
 * and checked by its handler.
 */
#include <stdio.h>
#include <string.h>

#include "keyd_account.h"
#include "keyd_api.h"
#include "keyd_copy.h"
#include "keyd_device.h"
#include "keyd_help.h"
#include "keyd_leave.h"
#include "keyd_open.h"
#include "keyd_org.h"
#include "keyd_pages.h"
#include "keyd_read.h"
#include "keyd_reply.h"
#include "keyd_router.h"
#include "keyd_security.h"
#include "keyd_signup.h"
#include "keyd_work.h"

/* Methods (bits); M_ANY (0) matches every method. */
enum {
	M_ANY = 0,
	M_GET = 1 << 0,
	M_HEAD = 1 << 1,
	M_POST = 1 << 2,
	M_DELETE = 1 << 3,
	M_PUT = 1 << 4,
};
#define M_PAGE (M_GET | M_HEAD)
#define M_FORM (M_GET | M_HEAD | M_POST)

static const char *const method_names[] = {"GET", "HEAD", "POST", "DELETE", "PUT"};

enum match {
	EXACT,		/* the path itself; arg "" */
	TREE,		/* the path, or the path and "/...": arg "" or "/..." */
	PREFIX,		/* anything that starts with the path: arg is the rest */
	ITEM,		/* "A*B": A, one segment without '/' (under 64 bytes), then
			 * exactly B: arg is the segment */
};

typedef enum MHD_Result route_fn(struct keyd_req *r, const char *arg);

struct route {
	unsigned methods;
	enum match match;
	const char *path;
	route_fn *fn;		/* NULL: 404 with `missing` */
	unsigned flags;		/* KEYD_ROUTE_* */
	const char *missing;		/* catalogue key of the 404 answer */
};

#define API KEYD_ROUTE_API
/* a POST that checks a password or a recovery code (Argon2id), decrypts,
 * seals or carries a whole envelope: on a worker */
#define WORK KEYD_ROUTE_WORKER

static const struct route routes[] = {
	{M_PAGE, EXACT, "/healthz", keyd_api_healthz, 0, NULL},
	{M_POST, EXACT, "/api/v1/envelopes", keyd_api_deposit, API, NULL},
	{M_GET, EXACT, "/api/v1/envelopes", keyd_api_envelopes, API, NULL},
	{M_GET, EXACT, "/api/v1/audit", keyd_api_audit, API, NULL},
	{M_POST, EXACT, "/api/v1/session", keyd_api_login, API | WORK, NULL},
	{M_GET, EXACT, "/api/v1/session", keyd_api_session, API, NULL},
	{M_DELETE, EXACT, "/api/v1/session", keyd_api_logout, API, NULL},
	{M_POST, EXACT, "/api/v1/session/mfa", keyd_api_login_second, API | WORK, NULL},
	{M_POST, EXACT, "/api/v1/session/mfa/challenge", keyd_api_mfa_challenge, API, NULL},
	{M_POST, EXACT, "/api/v1/session/device", keyd_api_device_session, API, NULL},
	{M_GET, EXACT, "/api/v1/device", keyd_api_device, API, NULL},
	{M_DELETE, EXACT, "/api/v1/device", keyd_api_device_forget, API, NULL},
	/* "" and "/options"; other rests answer 404 after the session check */
	{M_POST, PREFIX, "/api/v1/account/passkeys", keyd_api_passkeys, API | WORK, NULL},
	{M_POST, ITEM, "/api/v1/envelopes/*/release", keyd_api_release, API, NULL},
	{M_POST, ITEM, "/api/v1/envelopes/*/verify", keyd_api_verify, API | WORK, NULL},
	{M_POST, ITEM, "/api/v1/envelopes/*/seal", keyd_api_seal, API, NULL},
	{M_POST, ITEM, "/api/v1/envelopes/*/retract", keyd_api_retract, API, NULL},
	{M_POST, ITEM, "/api/v1/envelopes/*/unretract", keyd_api_unretract, API, NULL},
	{M_PUT, ITEM, "/api/v1/envelopes/*/copy", keyd_api_copy_put, API | KEYD_ROUTE_STREAM,
	    NULL},
	{M_GET, ITEM, "/api/v1/envelopes/*/copy", keyd_api_copy_meta, API, NULL},
	{M_GET, ITEM, "/api/v1/envelopes/*/copy/data", keyd_api_copy_data, API, NULL},
	{M_GET, ITEM, "/api/v1/envelopes/*/reply", keyd_api_reply_get, API, NULL},
	{M_POST, ITEM, "/api/v1/envelopes/*/reply", keyd_api_reply_post,
	    API | KEYD_ROUTE_REPLY | WORK, NULL},
	{M_GET, EXACT, "/api/v1/me", keyd_api_me, API, NULL},
	{M_GET, EXACT, "/api/v1/me/envelopes", keyd_api_me_envelopes, API, NULL},
	{M_POST, EXACT, "/api/v1/signup", keyd_api_signup, API | WORK, NULL},
	{M_POST, EXACT, "/api/v1/signup/confirm", keyd_api_signup_confirm, API, NULL},
	{M_POST, EXACT, "/api/v1/forgot", keyd_api_forgot, API, NULL},
	{M_GET, EXACT, "/api/v1/account/profile", keyd_api_profile_get, API, NULL},
	{M_POST, EXACT, "/api/v1/account/profile", keyd_api_profile_set, API | WORK, NULL},
	{M_ANY, PREFIX, "/api/v1/envelopes/", NULL, API, "api.unknown_envelope"},
	{M_ANY, PREFIX, "/api/", NULL, API, "api.no_such"},
	{M_FORM, EXACT, "/register", keyd_page_register, WORK, NULL},
	{M_FORM, EXACT, "/activate", keyd_page_activate, WORK, NULL},
	{M_FORM, EXACT, "/forgot", keyd_page_forgot, 0, NULL},
	{M_FORM, EXACT, "/reset", keyd_page_reset, WORK, NULL},
	{M_FORM, EXACT, "/resend", keyd_page_resend, 0, NULL},
	{M_FORM, EXACT, "/signin-link", keyd_page_signin_link, 0, NULL},
	{M_FORM, EXACT, "/signin", keyd_page_signin, WORK, NULL},
	{M_POST, EXACT, "/signin/second", keyd_page_signin_mfa, WORK, NULL},
	{M_FORM, TREE, "/account", keyd_page_account, WORK, NULL},
	{M_PAGE, EXACT, "/open", keyd_page_open, 0, NULL},
	{M_PAGE, EXACT, "/leave", keyd_page_leave, 0, NULL},
	{M_PAGE, EXACT, "/help", keyd_page_help, 0, NULL},
	{M_POST, EXACT, "/online", keyd_page_open, KEYD_ROUTE_ONLINE | WORK, NULL},
	{M_POST, EXACT, "/read", keyd_page_read, KEYD_ROUTE_ONLINE | WORK, NULL},
	{M_PAGE, PREFIX, "/m/", keyd_page_open, 0, NULL},
	{M_PAGE, EXACT, "/messages", keyd_page_messages, 0, NULL},
	{M_PAGE, PREFIX, "/static/", keyd_static, 0, NULL},
	{M_PAGE, ITEM, "/orgs/*/logo", keyd_org_logo, 0, NULL},
	{M_PAGE, EXACT, "/", keyd_page_home, 0, NULL},
};
#define NROUTES (sizeof(routes) / sizeof(routes[0]))

/* The body hooks of the KEYD_ROUTE_STREAM routes, by handler. */
static const struct {
	route_fn *fn;
	keyd_body_fn *body;
} body_hooks[] = {
	{keyd_api_copy_put, keyd_copy_body},
};

struct hit {
	const struct route *first;	/* the first route whose path matches */
	const struct route *serve;	/* the route that serves the method */
	unsigned allow;			/* methods of first and its siblings */
	const char *arg;
	char seg[64];			/* ITEM: the segment */
};

static unsigned
method_bit(const char *m)
{
	size_t i;

	for (i = 0; i < sizeof(method_names) / sizeof(method_names[0]); i++)
		if (strcmp(m, method_names[i]) == 0)
			return 1u << i;
	return 0;
}

/* 1 when url matches rt's path; h->arg (and h->seg) filled. */
static int
path_match(const struct route *rt, const char *url, struct hit *h)
{
	size_t n = strlen(rt->path);
	const char *star, *seg, *end;

	switch (rt->match) {
	case EXACT:
		h->arg = "";
		return strcmp(url, rt->path) == 0;
	case TREE:
		h->arg = url + n;
		return strncmp(url, rt->path, n) == 0 && (url[n] == '\0' || url[n] == '/');
	case PREFIX:
		h->arg = url + n;
		return strncmp(url, rt->path, n) == 0;
	case ITEM:
		star = strchr(rt->path, '*');
		n = (size_t)(star - rt->path);
		if (strncmp(url, rt->path, n) != 0)
			return 0;
		seg = url + n;
		if ((end = strchr(seg, '/')) == NULL || strcmp(end, star + 1) != 0 ||
		    (size_t)(end - seg) >= sizeof(h->seg))
			return 0;
		snprintf(h->seg, sizeof(h->seg), "%.*s", (int)(end - seg), seg);
		h->arg = h->seg;
		return 1;
	}
	return 0;
}

static int
same_path(const struct route *a, const struct route *b)
{
	return a->match == b->match && strcmp(a->path, b->path) == 0;
}

static void
lookup(const char *method, const char *url, struct hit *h)
{
	unsigned m = method_bit(method);
	size_t i, j;

	memset(h, 0, sizeof(*h));
	for (i = 0; i < NROUTES; i++) {
		if (!path_match(&routes[i], url, h))
			continue;
		h->first = &routes[i];
		for (j = i; j < NROUTES && same_path(&routes[j], &routes[i]); j++) {
			h->allow |= routes[j].methods;
			if (routes[j].methods == M_ANY || (routes[j].methods & m) != 0) {
				h->serve = &routes[j];
				break;
			}
		}
		return;
	}
}

unsigned
keyd_route_flags(const char *method, const char *url)
{
	struct hit h;

	lookup(method, url, &h);
	if (h.serve != NULL)
		return h.serve->flags;
	return h.first != NULL ? h.first->flags & KEYD_ROUTE_API : 0;
}

keyd_body_fn *
keyd_route_body(const char *method, const char *url)
{
	struct hit h;
	size_t i;

	lookup(method, url, &h);
	if (h.serve == NULL || (h.serve->flags & KEYD_ROUTE_STREAM) == 0)
		return NULL;
	for (i = 0; i < sizeof(body_hooks) / sizeof(body_hooks[0]); i++)
		if (body_hooks[i].fn == h.serve->fn)
			return body_hooks[i].body;
	return NULL;
}

enum MHD_Result
keyd_route(struct keyd_req *r)
{
	struct hit h;
	size_t i, o = 0;

	lookup(r->method, r->url, &h);
	if (h.first == NULL)
		return keyd_reply_error(r, 404, "err.no_page");
	if (h.serve == NULL) {
		for (i = 0; i < sizeof(method_names) / sizeof(method_names[0]); i++)
			if ((h.allow & (1u << i)) != 0 && o < sizeof(r->allow))
				o += (size_t)snprintf(r->allow + o, sizeof(r->allow) - o, "%s%s",
				    o ? ", " : "", method_names[i]);
		return keyd_reply_error(r, 405, "api.method");
	}
	if (h.serve->fn == NULL)
		return keyd_reply_error(r, 404, h.serve->missing);
	switch (__atomic_load_n(&r->work, __ATOMIC_ACQUIRE)) {
	case KEYD_WORK_RUNNING:
		return MHD_YES;		/* woken early: the worker still runs */
	case KEYD_WORK_DONE:
		return keyd_work_answer(r);
	}
	if ((h.serve->flags & KEYD_ROUTE_WORKER) != 0 && strcmp(r->method, "POST") == 0) {
		if (keyd_work_submit(r, h.serve->fn, h.arg))
			return MHD_YES;
		/* every worker busy and the queue full: the HTTP thread is
		 * kept for the requests that are cheap to answer */
		r->retry_after = 2;
		return keyd_reply_error(r, 503, r->api ? "api.busy" : "err.busy");
	}
	return h.serve->fn(r, h.arg);
}

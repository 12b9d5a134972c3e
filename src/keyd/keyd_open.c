/*
 * keyd_open.c - the open page (GET /open?id=ID, and POST /online for
 * envelopes opened without JavaScript) and the portal's static files
 * (GET /static/NAME), and the home page (GET /).  The open page is the embedded portal/open.html with
 * its placeholders {{ID}}, {{CSRF}}, {{ONLINE_HEADER}}, {{ONLINE_PAYLOAD}},
 * {{ONLINE_SIG}} (the field s of a format 2 envelope, base64url only) and
 * {{MODE}} ("copy" for GET /m/ID: the page opens the key server's copy).
 * SECURITY: the id is validated; the posted header and ciphertext were
 * filtered to the base64 alphabet while they arrived (keyd_http.c) and are
 * escaped again on output; static names are looked up in the embedded table
 * only (no file system access, no "..").
 */
#include <stdio.h>
#include <string.h>

#include "assets.h"
#include "keyd_lang.h"
#include "keyd_open.h"
#include "keyd_tmpl.h"

#define KEYD_SIG_MAX 128	/* base64url characters of a posted signature (86 today) */

enum MHD_Result
keyd_page_open(struct keyd_req *r, const char *arg)
{
	const struct sp_asset *a = sp_asset_find("portal/open.html");
	const char *id, *h = "", *c = "", *sv;
	char csrf[64], sig[KEYD_SIG_MAX + 1];
	size_t i, n = 0;
	struct sp_buf out;
	int online = r->online, copy;

	if (a == NULL)
		return keyd_reply(r, 503, "text/plain; charset=utf-8", "not built\n", 10, 0);
	/* GET /m/ID: the id is the rest of the path; the page fetches the
	 * key server's copy instead of receiving the envelope */
	copy = strncmp(r->url, "/m/", 3) == 0;
	id = copy ? arg : online ? keyd_field(r, "id") : keyd_arg(r, "id");
	if (id == NULL)
		id = keyd_arg(r, "id");
	if (!keyd_valid_id(id))
		id = "";
	if (online) {
		h = keyd_field(r, "h");
		c = keyd_field(r, "c");
		if (h == NULL || c == NULL || *h == '\0' || *c == '\0')
			return keyd_reply_error(r, 400, "err.online_missing");
		/* the signature of a format 2 envelope: base64url only */
		if ((sv = keyd_field(r, "s")) != NULL)
			for (i = 0; sv[i] != '\0'; i++) {
				unsigned char ch = (unsigned char)sv[i];

				if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
				    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
					continue;
				if (n == KEYD_SIG_MAX)
					return keyd_reply_error(r, 400, "err.online_sig_long");
				sig[n++] = (char)ch;
			}
	}
	sig[n] = '\0';
	keyd_csrf_token(r, csrf);
	{
		struct keyd_var v[] = {
			{"ID", id, 0, 0},
			{"CSRF", csrf, 0, 0},
			{"ONLINE_HEADER", h, 0, 0},
			{"ONLINE_PAYLOAD", c, 0, 0},
			{"ONLINE_SIG", sig, 0, 0},
			{"MODE", copy ? "copy" : "", 0, 0},
		};

		r->csp = KEYD_CSP_OPEN;
		if (keyd_tmpl_page(r, (const char *)a->data, a->len, v, sizeof(v) / sizeof(v[0]),
		    strlen(h) + strlen(c), &out) != SP_OK) {
			sp_buf_free(&out);
			return keyd_reply_error(r, 500, "err.internal");
		}
	}
	return keyd_reply_buf(r, 200, "text/html; charset=utf-8", &out);
}

static const struct {
	const char *ext;
	const char *type;
} types[] = {
	{".js", "text/javascript; charset=utf-8"},
	{".mjs", "text/javascript; charset=utf-8"},
	{".css", "text/css; charset=utf-8"},
	{".svg", "image/svg+xml"},
	{".png", "image/png"},
	{".ico", "image/x-icon"},
	{".woff2", "font/woff2"},
};

enum MHD_Result
keyd_static(struct keyd_req *r, const char *name)
{
	const struct sp_asset *a;
	char path[256];
	size_t i, n = strlen(name), el;

	if (n == 0 || n > 200 || strstr(name, "..") != NULL || name[0] == '/')
		return keyd_reply_error(r, 404, "err.no_file");
	for (i = 0; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') ||
		    (name[i] >= '0' && name[i] <= '9') || name[i] == '-' || name[i] == '_' ||
		    name[i] == '.' || name[i] == '/'))
			return keyd_reply_error(r, 404, "err.no_file");
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		el = strlen(types[i].ext);
		if (n > el && strcmp(name + n - el, types[i].ext) == 0)
			break;
	}
	if (i == sizeof(types) / sizeof(types[0]))
		return keyd_reply_error(r, 404, "err.no_file");
	snprintf(path, sizeof(path), "portal/%s", name);
	if ((a = sp_asset_find(path)) == NULL)
		return keyd_reply_error(r, 404, "err.no_file");
	return keyd_reply(r, 200, types[i].type, a->data, a->len, 1);
}

enum MHD_Result
keyd_page_home(struct keyd_req *r, const char *arg)
{
	return keyd_page_simple(r, 200, keyd_t(r, "home.title"), keyd_t(r, "home.body_html"));
}

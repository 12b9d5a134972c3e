/*
 * keyd_device.c - remembered devices.  At sign-in, "Remember this device"
 * (the JSON field "remember": true) makes a random device token: the
 * browser keeps it in an HttpOnly, SameSite=Strict cookie (Secure behind
 * HTTPS) for KEYD_DEVICE_DAYS days, the store keeps its SHA-256 with the
 * account, a summary of the browser ("Firefox on Windows", from a fixed
 * list: nothing the browser wrote is kept) and the times made and last
 * used.  With that cookie the sign-in card can show the account's
 * security phrase before the password is typed (GET /api/v1/device), and a
 * session begins without the password (POST /api/v1/session/device): its
 * "via" is "device", which the release (release.h) lets open envelopes of
 * level medium and low but never high, and which never counts as a fresh
 * password for the profile's changes.  The profile lists the devices, and
 * forgets one or all of them ("sign out everywhere").
 * SECURITY: the token is 128 random bits, only its hash is stored; the
 * phrase is answered only for a live device cookie (else 404 and nothing,
 * the same for an unknown, forgotten or expired token); every use of a
 * device for a session joins the audit trail, and a new device is told to
 * the account's owner by mail.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto.h"
#include "keyd_device.h"
#include "keyd_lang.h"
#include "keyd_login.h"
#include "notice.h"

const char *
keyd_device_cookie(const struct keyd *k)
{
	return k->https ? "__Host-sp_device" : "sp_device";
}

int
keyd_device_wanted(struct keyd_req *r)
{
	json_t *j = keyd_json_body(r, 0);
	int yes = j != NULL && json_is_true(json_object_get(j, "remember"));

	json_decref(j);
	return yes;
}

/* A short summary of the browser from its User-Agent, from fixed words
 * only (nothing of the header itself is kept or shown). */
static void
agent_summary(const char *ua, char *out, size_t outsz)
{
	static const struct {
		const char *needle, *name;
	} browsers[] = {
		{"Edg/", "Edge"}, {"OPR/", "Opera"}, {"Firefox/", "Firefox"},
		{"Chrome/", "Chrome"}, {"Chromium/", "Chromium"}, {"Safari/", "Safari"},
	}, systems[] = {
		{"iPhone", "iPhone"}, {"iPad", "iPad"}, {"Android", "Android"},
		{"Windows", "Windows"}, {"Mac OS X", "macOS"}, {"CrOS", "ChromeOS"},
		{"Linux", "Linux"},
	};
	const char *b = "A browser", *s = NULL;
	size_t i;

	for (i = 0; ua != NULL && i < sizeof(browsers) / sizeof(browsers[0]); i++)
		if (strstr(ua, browsers[i].needle) != NULL) {
			b = browsers[i].name;
			break;
		}
	for (i = 0; ua != NULL && i < sizeof(systems) / sizeof(systems[0]); i++)
		if (strstr(ua, systems[i].needle) != NULL) {
			s = systems[i].name;
			break;
		}
	if (s != NULL)
		snprintf(out, outsz, "%s on %s", b, s);
	else
		snprintf(out, outsz, "%s", b);
}

static void
set_cookie(struct keyd_req *r, const char *value, int clear)
{
	char attrs[128];

	snprintf(attrs, sizeof(attrs), "Path=/; HttpOnly; SameSite=Strict; Max-Age=%d%s",
	    clear ? 0 : KEYD_DEVICE_DAYS * 24 * 60 * 60, r->k->https ? "; Secure" : "");
	keyd_add_cookie(r, keyd_device_cookie(r->k), value, attrs);
}

void
keyd_device_clear_cookie(struct keyd_req *r)
{
	set_cookie(r, "", 1);
}

void
keyd_device_remember(struct keyd_req *r, const char *email)
{
	struct sp_err err = {{0}};
	struct sp_device d;
	struct sp_audit a;
	char tok[64];
	int64_t now = (int64_t)time(NULL);
	int st;

	/* the browser holds one device cookie: remembered for this account
	 * already, nothing to do; another account's device is forgotten */
	if (keyd_device_of(r, &d, NULL) == SP_OK) {
		if (strcmp(d.email, email) == 0)
			return;
		a = (struct sp_audit){now, "device-forgotten", d.email, NULL, r->client,
		    "another account remembered", 0};
		sp_store_device_delete(r->k->store, d.email, d.id, &a, NULL);
	}
	memset(&d, 0, sizeof(d));
	if (sp_token_new(tok, sizeof(tok), "spd_", 16) != SP_OK) {
		keyd_log("device-error", "error", "no random token", NULL);
		return;
	}
	sp_sha256(tok, strlen(tok), d.hash);
	snprintf(d.email, sizeof(d.email), "%s", email);
	agent_summary(keyd_header(r, "User-Agent"), d.agent, sizeof(d.agent));
	d.created = d.last_used = now;
	d.expires = now + (int64_t)KEYD_DEVICE_DAYS * 24 * 60 * 60;
	a = (struct sp_audit){now, "device-remembered", email, NULL, r->client, d.agent, 0};
	if ((st = sp_store_device_add(r->k->store, &d, &a, &err)) != SP_OK) {
		keyd_log("store-error", "path", r->url, "error", sp_err_msg(&err, st), NULL);
	} else {
		char what[SP_STORE_AGENT_MAX + 32];

		set_cookie(r, tok, 0);
		/* a new way in without the password: the owner hears of it */
		snprintf(what, sizeof(what), "notice.what.device\t%s", d.agent);
		keyd_notice(r->k, SP_NOTICE_FACTOR_ADDED, email, NULL, NULL, what);
	}
	sp_wipe(tok, sizeof(tok));
}

int
keyd_device_of(struct keyd_req *r, struct sp_device *d, struct sp_err *err)
{
	const char *tok = keyd_cookie(r, keyd_device_cookie(r->k));
	unsigned char h[SP_SHA256_LEN];
	int st;

	memset(d, 0, sizeof(*d));
	if (tok == NULL || strncmp(tok, "spd_", 4) != 0 || !keyd_token_shape(tok + 4, 16, 40))
		return SP_ERR_AUTH;
	sp_sha256(tok, strlen(tok), h);
	st = sp_store_device_use(r->k->store, h, (int64_t)time(NULL), d, err);
	return st == SP_ERR_NOTFOUND ? SP_ERR_AUTH : st;
}

/* The answer to a store failure st (logged). */
static enum MHD_Result
store_failed(struct keyd_req *r, int st, const struct sp_err *err)
{
	keyd_log("store-error", "path", r->url, "error", sp_err_msg(err, st), NULL);
	if (st == SP_ERR_RETRY)
		r->retry_after = 2;
	return keyd_reply_error(r, st == SP_ERR_RETRY ? 503 : 500, st == SP_ERR_RETRY ?
	    "read.busy" : "err.internal");
}

/* The device of r, or an answer: 1 with d filled, else 0 with *ans. */
static int
device_or_answer(struct keyd_req *r, struct sp_device *d, unsigned missing,
    enum MHD_Result *ans)
{
	struct sp_err err = {{0}};
	int st = keyd_device_of(r, d, &err);

	if (st == SP_OK)
		return 1;
	if (st == SP_ERR_AUTH) {
		*ans = keyd_reply_error(r, missing, "api.not_remembered");
		return 0;
	}
	*ans = store_failed(r, st, &err);
	return 0;
}

enum MHD_Result
keyd_api_device(struct keyd_req *r, const char *arg)
{
	struct sp_account acc;
	struct sp_device d;
	enum MHD_Result ret;
	json_t *j;

	(void)arg;
	if (!device_or_answer(r, &d, 404, &ret))
		return ret;
	if (sp_store_account_get(r->k->store, d.email, &acc, NULL) != SP_OK) {
		sp_wipe(&acc, sizeof(acc));
		return keyd_reply_error(r, 404, "api.not_remembered");
	}
	j = json_pack("{s:s,s:o}", "email", d.email, "phrase",
	    acc.phrase_enabled && acc.phrase[0] != '\0' ? json_string(acc.phrase) : json_null());
	sp_wipe(&acc, sizeof(acc));
	return keyd_reply_json(r, 200, j);
}

void
keyd_device_forget_this(struct keyd_req *r, const char *email)
{
	struct sp_device d;
	struct sp_audit a;

	if (keyd_device_of(r, &d, NULL) != SP_OK || strcmp(d.email, email) != 0)
		return;
	a = (struct sp_audit){0, "device-forgotten", d.email, NULL, r->client, "signed out", 0};
	sp_store_device_delete(r->k->store, d.email, d.id, &a, NULL);
	keyd_device_clear_cookie(r);
}

enum MHD_Result
keyd_api_device_forget(struct keyd_req *r, const char *arg)
{
	struct sp_err err = {{0}};
	struct sp_device d;
	struct sp_audit a;
	enum MHD_Result ret;
	int st;

	(void)arg;
	if (keyd_cross_site(r))
		return keyd_reply_error(r, 403, "api.cross_site");
	if (!device_or_answer(r, &d, 404, &ret))
		return ret;
	a = (struct sp_audit){0, "device-forgotten", d.email, NULL, r->client, d.agent, 0};
	st = sp_store_device_delete(r->k->store, d.email, d.id, &a, &err);
	if (st != SP_OK && st != SP_ERR_NOTFOUND)
		return store_failed(r, st, &err);
	keyd_device_clear_cookie(r);
	return keyd_reply(r, 204, "application/json", "", 0, 0);
}

enum MHD_Result
keyd_api_device_session(struct keyd_req *r, const char *arg)
{
	struct keyd_login l;
	struct sp_device d;
	enum MHD_Result ret;

	(void)arg;
	if (keyd_cross_site(r))
		return keyd_reply_error(r, 403, "api.cross_site");
	if (!device_or_answer(r, &d, 401, &ret))
		return ret;
	keyd_login_session(r, d.email, "device", &l);
	if (l.status == KEYD_LOGIN_OK)
		ret = keyd_reply_json(r, 200, json_pack("{s:s,s:s,s:s,s:s}", "session", l.token,
		    "email", l.email, "csrf", l.csrf, "via", "device"));
	else if (l.status == KEYD_LOGIN_BUSY)
		ret = keyd_reply_error(r, 503, "read.busy");
	else
		ret = keyd_reply_error(r, 500, "err.internal");
	keyd_login_wipe(&l);
	return ret;
}

/* --- the profile ----------------------------------------------------------- */

struct rows {
	struct keyd_req *r;
	const struct sp_session *s;
	struct sp_buf *b;
	int64_t current;	/* this browser's device id, 0 none */
	int can_change;
	int n;
};

static void
day(int64_t t, char out[16])
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, 16, "%Y-%m-%d", &tm);
}

static int
row(void *ctx, const struct sp_device *d)
{
	struct rows *w = ctx;
	char made[16], used[16];
	const char *self = d->id == w->current ? keyd_t(w->r, "dev.this_browser") : "";
	struct sp_i18n_var v[] = {{"agent", d->agent}, {"made", made}, {"used", used},
	    {"self", self}};

	day(d->created, made);
	day(d->last_used, used);
	sp_buf_printf(w->b, "<li class=\"device\" data-device=\"%lld\"><span>", (long long)d->id);
	keyd_th(w->r, w->b, "dev.row", v, 4);
	sp_buf_append_str(w->b, "</span>");
	if (w->can_change) {
		sp_buf_append_str(w->b, "<form method=\"post\" action=\"/account/devices/forget\" "
		    "class=\"inline\"><input type=\"hidden\" name=\"csrf\" value=\"");
		sp_html_escape(w->b, w->s->csrf, strlen(w->s->csrf));
		sp_buf_printf(w->b, "\"><input type=\"hidden\" name=\"id\" value=\"%lld\">"
		    "<button type=\"submit\" class=\"linkbtn\" aria-label=\"", (long long)d->id);
		keyd_th(w->r, w->b, "dev.forget_label", v, 4);
		sp_buf_append_str(w->b, "\">");
		keyd_th(w->r, w->b, "dev.forget", NULL, 0);
		sp_buf_append_str(w->b, "</button></form>");
	}
	sp_buf_append_str(w->b, "</li>");
	w->n++;
	return 0;
}

void
keyd_device_section(struct keyd_req *r, const struct sp_session *s, struct sp_buf *b,
    int can_change)
{
	struct sp_device cur;
	struct rows w = {r, s, b, 0, can_change, 0};

	if (keyd_device_of(r, &cur, NULL) == SP_OK && strcmp(cur.email, s->email) == 0)
		w.current = cur.id;
	keyd_th(r, b, "dev.head_html", NULL, 0);
	sp_store_device_each(r->k->store, s->email, (int64_t)time(NULL), row, &w, NULL);
	sp_buf_append_str(b, "</ul>");
	if (w.n == 0)
		keyd_th(r, b, "dev.none_html", NULL, 0);
	else {
		char days[16];

		snprintf(days, sizeof(days), "%d", KEYD_DEVICE_DAYS);
		sp_buf_append_str(b, "<p class=\"hint\">");
		keyd_th(r, b, "dev.hint", (struct sp_i18n_var[]){{"days", days}}, 1);
		if (!can_change) {
			sp_buf_append_str(b, " ");
			keyd_th(r, b, "dev.confirm", NULL, 0);
		}
		sp_buf_append_str(b, "</p>");
	}
	sp_buf_append_str(b, "</section>");
}

int
keyd_device_forget(struct keyd_req *r, const struct sp_session *s)
{
	struct sp_err err = {{0}};
	struct sp_audit a;
	const char *f = keyd_field(r, "id");
	char *end = NULL;
	long long id;
	int st;

	if (f == NULL || *f == '\0' || strlen(f) > 18)
		return SP_ERR_NOTFOUND;
	id = strtoll(f, &end, 10);
	if (end == NULL || *end != '\0' || id <= 0)
		return SP_ERR_NOTFOUND;
	a = (struct sp_audit){0, "device-forgotten", s->email, NULL, r->client, NULL, 0};
	st = sp_store_device_delete(r->k->store, s->email, (int64_t)id, &a, &err);
	if (st != SP_OK && st != SP_ERR_NOTFOUND)
		keyd_log("store-error", "path", r->url, "error", sp_err_msg(&err, st), NULL);
	return st;
}

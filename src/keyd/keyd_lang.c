/*
 * keyd_lang.c - the language of a request's answer and the switcher links
 * (keyd_lang.h).
 * SECURITY: the ?lang value and the cookie only ever select one of the
 * offered codes; the switcher's links repeat this page's path and query
 * arguments percent-encoded and HTML-escaped.
 */
#include <stdio.h>
#include <string.h>

#include "html.h"
#include "keyd_lang.h"
#include "keyd_login.h"
#include "store.h"

const char *
keyd_account_lang(struct keyd *k, const char *email)
{
	struct sp_account acc;
	const char *l = NULL;

	if (email == NULL || sp_store_account_get(k->store, email, &acc, NULL) != SP_OK)
		return NULL;
	if (sp_i18n_offered(acc.language))
		l = sp_i18n_lang(acc.language);
	sp_wipe(&acc, sizeof(acc));
	return l;
}

const char *
keyd_org_lang(struct keyd *k, int64_t org_id)
{
	struct sp_org o;

	if (sp_store_org_get_id(k->store, org_id, &o, NULL) != SP_OK ||
	    !sp_i18n_offered(o.policy.language))
		return NULL;
	return sp_i18n_lang(o.policy.language);
}

static const char *
session_lang(struct keyd_req *r)
{
	struct sp_session s;
	const char *l = NULL;

	if (keyd_cookie(r, keyd_session_cookie(r->k)) == NULL)
		return NULL;
	if (keyd_session_auth(r, 0, &s, NULL) == SP_OK)
		l = keyd_account_lang(r->k, s.email);
	sp_wipe(&s, sizeof(s));
	return l;
}

const char *
keyd_lang(struct keyd_req *r)
{
	const char *l;

	if (r->lang[0] != '\0')
		return r->lang;
	if ((l = keyd_arg(r, "lang")) != NULL && sp_i18n_offered(l))
		keyd_add_cookie(r, KEYD_LANG_COOKIE, l, r->k->https ?
		    "Path=/; SameSite=Lax; Max-Age=31536000; Secure" :
		    "Path=/; SameSite=Lax; Max-Age=31536000");
	else if ((l = keyd_cookie(r, KEYD_LANG_COOKIE)) != NULL && sp_i18n_offered(l))
		;
	else if ((l = session_lang(r)) != NULL)
		;
	else if ((l = sp_i18n_accept(keyd_header(r, "Accept-Language"))) != NULL)
		;
	else
		l = SP_I18N_DEFAULT;
	snprintf(r->lang, sizeof(r->lang), "%s", sp_i18n_lang(l));
	return r->lang;
}

const char *
keyd_t(struct keyd_req *r, const char *key)
{
	return sp_i18n_text(keyd_lang(r), key);
}

const char *
keyd_tmsg(struct keyd_req *r, const char *msg)
{
	if (msg == NULL || *msg == '\0')
		return msg;
	return sp_i18n_has(msg) ? keyd_t(r, msg) : sp_i18n_translate(keyd_lang(r), msg);
}

void
keyd_tplain(struct keyd_req *r, const char *key, const struct sp_i18n_var *v, size_t nv,
    char *out, size_t outsz)
{
	struct sp_buf b;

	sp_buf_init(&b, outsz > 1 ? outsz - 1 : 1);
	sp_i18n_plain(&b, keyd_lang(r), key, v, nv);
	snprintf(out, outsz, "%.*s", (int)b.len, b.data ? (const char *)b.data : "");
	sp_buf_free(&b);
}

int
keyd_th(struct keyd_req *r, struct sp_buf *b, const char *key,
    const struct sp_i18n_var *v, size_t nv)
{
	return sp_i18n_html(b, keyd_lang(r), key, v, nv);
}

int
keyd_tmpl_page(struct keyd_req *r, const char *tmpl, size_t tlen, const struct keyd_var *vars,
    size_t nvars, size_t extra, struct sp_buf *out)
{
	struct keyd_var v[KEYD_TMPL_PAGE_VARS + 3];
	struct sp_buf sw, cat;
	int st;

	if (nvars > KEYD_TMPL_PAGE_VARS) {
		sp_buf_init(out, 1);
		return SP_ERR_INVALID;
	}
	sp_buf_init(&sw, 16384);
	sp_buf_init(&cat, (size_t)1 << 20);
	keyd_lang_switch(r, &sw);
	sp_i18n_json(&cat, keyd_lang(r), "js.");
	memcpy(v, vars, nvars * sizeof(v[0]));
	v[nvars] = (struct keyd_var){"LANG", keyd_lang(r), 0, 0};
	v[nvars + 1] = (struct keyd_var){"LANG_SWITCH", sw.data ? (const char *)sw.data : "", 0, 1};
	v[nvars + 2] = (struct keyd_var){"I18N", cat.data ? (const char *)cat.data : "{}", 0, 1};
	sp_buf_init(out, tlen + extra + sw.len + cat.len + 65536);
	st = keyd_tmpl_lang(keyd_lang(r), tmpl, tlen, v, nvars + 3, out);
	sp_buf_free(&sw);
	sp_buf_free(&cat);
	return st;
}

static void
pct(struct sp_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~' || c == '@')
			sp_buf_append(b, s, 1);
		else
			sp_buf_printf(b, "%%%c%c", hex[c >> 4], hex[c & 15]);
	}
}

static enum MHD_Result
arg_cb(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct sp_buf *b = cls;

	if (key == NULL || strcmp(key, "lang") == 0 || b->len > 2048)
		return MHD_YES;
	pct(b, key);
	if (value != NULL) {
		sp_buf_append_str(b, "=");
		pct(b, value);
	}
	sp_buf_append_str(b, "&");
	return MHD_YES;
}

int
keyd_lang_switch(struct keyd_req *r, struct sp_buf *b)
{
	const char *const *l = sp_i18n_languages();
	const char *cur = keyd_lang(r), *id;
	struct sp_buf href;
	size_t i;

	if (l[0] == NULL || l[1] == NULL)
		return SP_OK;
	sp_buf_init(&href, 4096);
	/* a posted page (the no-script open and read) comes back as its GET */
	if (strcmp(r->method, "GET") != 0 && (strcmp(r->url, "/online") == 0 ||
	    strcmp(r->url, "/read") == 0)) {
		sp_buf_append_str(&href, "/open?");
		if ((id = keyd_field(r, "id")) != NULL && keyd_valid_id(id)) {
			sp_buf_append_str(&href, "id=");
			sp_buf_append_str(&href, id);
			sp_buf_append_str(&href, "&");
		}
	} else {
		/* the path, when it is one of this server's shapes (a copy's
		 * link only with a valid id): nothing a stranger typed comes
		 * back; then the query arguments, encoded */
		if (strncmp(r->url, "/m/", 3) == 0 ? keyd_valid_id(r->url + 3) :
		    strlen(r->url) < 64 && strspn(r->url, "abcdefghijklmnopqrstuvwxyz/-") ==
		    strlen(r->url))
			sp_buf_append_str(&href, r->url);
		else
			sp_buf_append_str(&href, "/");
		sp_buf_append_str(&href, "?");
		MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, arg_cb, &href);
	}
	sp_buf_append_str(b, "<nav class=\"langs\" aria-label=\"");
	sp_i18n_html(b, cur, "page.languages", NULL, 0);
	sp_buf_append_str(b, "\">");
	for (i = 0; l[i] != NULL; i++) {
		if (i > 0)
			sp_buf_append_str(b, " <span aria-hidden=\"true\">&#183;</span> ");
		if (strcmp(l[i], cur) == 0) {
			sp_buf_printf(b, "<span lang=\"%s\" aria-current=\"true\">", l[i]);
			sp_i18n_html(b, l[i], "lang.name", NULL, 0);
			sp_buf_append_str(b, "</span>");
			continue;
		}
		sp_buf_printf(b, "<a lang=\"%s\" hreflang=\"%s\" href=\"", l[i], l[i]);
		sp_html_escape(b, href.data ? (const char *)href.data : "/?", href.len);
		sp_buf_printf(b, "lang=%s\">", l[i]);
		sp_i18n_html(b, l[i], "lang.name", NULL, 0);
		sp_buf_append_str(b, "</a>");
	}
	sp_buf_append_str(b, "</nav>");
	sp_buf_free(&href);
	return SP_OK;
}

/*
 * i18n.c - the catalogues of i18n.h: each parsed from the embedded
 * web/i18n/LANG.json when it is first needed (a command that writes one
 * English notice parses English only), checked against English, looked up
 * with fallback.
 * SECURITY: placeholder values are escaped for HTML; only catalogue texts
 * of keys ending in "_html" (written by the project, embedded at build
 * time) go into a page as they are.  Accept-Language is parsed with bounds
 * and only ever selects one of the offered codes.
 */
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "assets.h"
#include "html.h"
#include "i18n.h"
#include "jsonwipe.h"

#define MAX_CATS 16
#define NAME_MAX_LEN 40		/* bytes of a placeholder name */

/* A catalogue: found by its asset's name at the first look-up, parsed
 * (and checked) at the first look-up of its language; English is cats[0]. */
struct cat {
	char code[SP_I18N_LANG_MAX + 1];
	const struct sp_asset *asset;
	json_t *obj;
	int ok;			/* offered: it parsed and has what English has */
	atomic_int ready;	/* obj and ok are set (release / acquire) */
};

static struct cat cats[MAX_CATS];
static size_t ncats;
static const char *offered[MAX_CATS + 1];
static pthread_once_t once = PTHREAD_ONCE_INIT;		/* cats[] found */
static pthread_once_t all_once = PTHREAD_ONCE_INIT;	/* offered[] made */
static pthread_mutex_t parse_lock = PTHREAD_MUTEX_INITIALIZER;

/* The placeholder starting at p ("{name}"): its name's length, or 0. */
static size_t
placeholder(const char *p, const char *end)
{
	const char *q = p + 1;

	if (*p != '{')
		return 0;
	while (q < end && q - p - 1 <= NAME_MAX_LEN &&
	    ((*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') || *q == '_'))
		q++;
	if (q == p + 1 || q >= end || *q != '}' || q - p - 1 > NAME_MAX_LEN)
		return 0;
	return (size_t)(q - p - 1);
}

/* 1 when every placeholder of a also occurs in b. */
static int
placeholders_in(const char *a, const char *b)
{
	const char *p, *ae = a + strlen(a), *be = b + strlen(b), *q;
	size_t n, m;

	for (p = a; p < ae; p++) {
		int found = 0;

		if ((n = placeholder(p, ae)) == 0)
			continue;
		for (q = b; q < be && !found; q++)
			if ((m = placeholder(q, be)) == n && memcmp(p, q, n + 2) == 0)
				found = 1;
		if (!found)
			return 0;
		p += n + 1;
	}
	return 1;
}

static int
check_obj(json_t *en, json_t *o, struct sp_err *err)
{
	const char *key;
	json_t *v, *ev;

	if (!json_is_object(en) || !json_is_object(o))
		return sp_err_set(err, SP_ERR_INVALID, "a catalogue is not a JSON object");
	json_object_foreach(en, key, ev) {
		v = json_object_get(o, key);
		if (!json_is_string(ev))
			return sp_err_set(err, SP_ERR_INVALID, "English \"%s\" is not a string", key);
		if (v == NULL)
			return sp_err_set(err, SP_ERR_INVALID, "missing key \"%s\"", key);
		if (!json_is_string(v))
			return sp_err_set(err, SP_ERR_INVALID, "\"%s\" is not a string", key);
		if (!placeholders_in(json_string_value(ev), json_string_value(v)) ||
		    !placeholders_in(json_string_value(v), json_string_value(ev)))
			return sp_err_set(err, SP_ERR_INVALID, "\"%s\" has other placeholders "
			    "than in English", key);
	}
	json_object_foreach(o, key, v)
		if (json_object_get(en, key) == NULL)
			return sp_err_set(err, SP_ERR_INVALID, "key \"%s\" is not in English", key);
	return SP_OK;
}

int
sp_i18n_check_json(const char *en, size_t enlen, const char *other, size_t olen,
    struct sp_err *err)
{
	json_t *a = json_loadb(en, enlen, JSON_REJECT_DUPLICATES, NULL);
	json_t *b = json_loadb(other, olen, JSON_REJECT_DUPLICATES, NULL);
	int st = a == NULL || b == NULL ?
	    sp_err_set(err, SP_ERR_INVALID, "a catalogue is not valid JSON") :
	    check_obj(a, b, err);

	json_decref(a);
	json_decref(b);
	return st;
}

/* The catalogues among the embedded assets, English first. */
static void
find(void)
{
	const struct sp_asset *a;
	size_t nl;

	for (a = sp_assets; a->name != NULL && ncats < MAX_CATS; a++) {
		nl = strlen(a->name);
		if (nl < 11 || nl > 10 + SP_I18N_LANG_MAX || strncmp(a->name, "i18n/", 5) != 0 ||
		    strcmp(a->name + nl - 5, ".json") != 0)
			continue;
		snprintf(cats[ncats].code, sizeof(cats[0].code), "%.*s", (int)(nl - 10),
		    a->name + 5);
		cats[ncats].asset = a;
		if (strcmp(cats[ncats].code, SP_I18N_DEFAULT) == 0 && ncats > 0) {
			struct cat t = cats[0];

			cats[0] = cats[ncats];
			cats[ncats] = t;
		}
		ncats++;
	}
}

/* Parse cats[i] (and English before it), parse_lock held.  Without a
 * valid English catalogue nothing is offered. */
static void
parse_locked(size_t i)
{
	struct cat *c = &cats[i];
	struct sp_err err = {{0}};

	if (atomic_load_explicit(&c->ready, memory_order_relaxed))
		return;
	if (i > 0)
		parse_locked(0);
	c->obj = json_loadb((const char *)c->asset->data, c->asset->len, JSON_REJECT_DUPLICATES,
	    NULL);
	if (i == 0)
		c->ok = c->obj != NULL && strcmp(c->code, SP_I18N_DEFAULT) == 0;
	else
		c->ok = c->obj != NULL && cats[0].ok && check_obj(cats[0].obj, c->obj, &err) == SP_OK;
	atomic_store_explicit(&c->ready, 1, memory_order_release);
}

static const struct cat *
cat_ready(size_t i)
{
	if (!atomic_load_explicit(&cats[i].ready, memory_order_acquire)) {
		pthread_mutex_lock(&parse_lock);
		parse_locked(i);
		pthread_mutex_unlock(&parse_lock);
	}
	return &cats[i];
}

/* The offered catalogue of lang, or NULL. */
static const struct cat *
cat_get(const char *lang)
{
	size_t i;

	pthread_once(&once, find);
	for (i = 0; lang != NULL && i < ncats; i++)
		if (strcmp(cats[i].code, lang) == 0)
			return cat_ready(i)->ok ? &cats[i] : NULL;
	return NULL;
}

/* Every catalogue parsed: the list of those offered. */
static void
load_all(void)
{
	size_t i, n = 0;

	pthread_once(&once, find);
	for (i = 0; i < ncats; i++)
		if (cat_ready(i)->ok)
			offered[n++] = cats[i].code;
	offered[n] = NULL;
}

static json_t *
cat_of(const char *lang)
{
	const struct cat *c = cat_get(lang);

	return c != NULL ? c->obj : NULL;
}

const char *const *
sp_i18n_languages(void)
{
	pthread_once(&all_once, load_all);
	return offered;
}

int
sp_i18n_offered(const char *lang)
{
	return cat_get(lang) != NULL;
}

const char *
sp_i18n_lang(const char *lang)
{
	const struct cat *c = cat_get(lang);

	return c != NULL ? c->code : SP_I18N_DEFAULT;
}

const char *
sp_i18n_accept(const char *h)
{
	const char *best = NULL, *p = h, *e;
	double bestq = 0;
	size_t i, tl;

	pthread_once(&all_once, load_all);
	while (p != NULL && *p != '\0') {
		char tag[16];
		double q = 1;
		const char *semi;

		while (*p == ' ' || *p == ',')
			p++;
		e = strchr(p, ',');
		if (e == NULL)
			e = p + strlen(p);
		semi = memchr(p, ';', (size_t)(e - p));
		tl = (size_t)((semi ? semi : e) - p);
		while (tl > 0 && p[tl - 1] == ' ')
			tl--;
		if (semi != NULL) {
			const char *qs = semi + 1;

			while (qs < e && *qs == ' ')
				qs++;
			if (e - qs >= 2 && (qs[0] == 'q' || qs[0] == 'Q') && qs[1] == '=') {
				char num[8];
				size_t nl = (size_t)(e - qs - 2);

				snprintf(num, sizeof(num), "%.*s", (int)(nl < 7 ? nl : 7), qs + 2);
				q = strtod(num, NULL);
			}
		}
		if (tl > 0 && tl < sizeof(tag) && q > bestq) {
			snprintf(tag, sizeof(tag), "%.*s", (int)tl, p);
			for (i = 0; offered[i] != NULL; i++) {
				size_t ol = strlen(offered[i]);

				if (strncasecmp(tag, offered[i], ol) == 0 &&
				    (tag[ol] == '\0' || tag[ol] == '-')) {
					best = offered[i];
					bestq = q;
					break;
				}
			}
		}
		p = *e ? e + 1 : e;
	}
	return best;
}

const char *
sp_i18n_text(const char *lang, const char *key)
{
	json_t *o = cat_of(lang), *v;

	if (o != NULL && (v = json_object_get(o, key)) != NULL && json_is_string(v))
		return json_string_value(v);
	if ((o = cat_of(SP_I18N_DEFAULT)) != NULL && (v = json_object_get(o, key)) != NULL &&
	    json_is_string(v))
		return json_string_value(v);
	return key;
}

const char *
sp_i18n_translate(const char *lang, const char *msg)
{
	json_t *en = cat_of(SP_I18N_DEFAULT), *v;
	const char *key;

	if (en == NULL || msg == NULL)
		return msg;
	json_object_foreach(en, key, v)
		if (strncmp(key, "lib.", 4) == 0 && json_is_string(v) &&
		    strcmp(json_string_value(v), msg) == 0)
			return sp_i18n_text(lang, key);
	return msg;
}

int
sp_i18n_has(const char *key)
{
	json_t *o = cat_of(SP_I18N_DEFAULT);

	return o != NULL && json_is_string(json_object_get(o, key));
}

static int
expand(struct sp_buf *out, const char *lang, const char *key,
    const struct sp_i18n_var *v, size_t nv, int html)
{
	const char *t = sp_i18n_text(lang, key), *p = t, *end = t + strlen(t), *s;
	size_t kl = strlen(key), n, i;
	int raw = !html || (kl > 5 && strcmp(key + kl - 5, "_html") == 0);
	int st = SP_OK;

	while (st == SP_OK && p < end) {
		for (s = p; s < end && (*s != '{' || placeholder(s, end) == 0); s++)
			;
		st = raw ? sp_buf_append(out, p, (size_t)(s - p)) : sp_html_escape(out, p,
		    (size_t)(s - p));
		if (st != SP_OK || s == end)
			break;
		n = placeholder(s, end);
		for (i = 0; i < nv; i++)
			if (strlen(v[i].name) == n && memcmp(v[i].name, s + 1, n) == 0)
				break;
		if (i == nv)
			st = raw ? sp_buf_append(out, s, n + 2) : sp_html_escape(out, s, n + 2);
		else if (v[i].value != NULL)
			st = html ? sp_html_escape(out, v[i].value, strlen(v[i].value)) :
			    sp_buf_append_str(out, v[i].value);
		p = s + n + 2;
	}
	return st;
}

int
sp_i18n_plain(struct sp_buf *out, const char *lang, const char *key,
    const struct sp_i18n_var *v, size_t nv)
{
	return expand(out, lang, key, v, nv, 0);
}

int
sp_i18n_html(struct sp_buf *out, const char *lang, const char *key,
    const struct sp_i18n_var *v, size_t nv)
{
	return expand(out, lang, key, v, nv, 1);
}

int
sp_i18n_json(struct sp_buf *out, const char *lang, const char *prefix)
{
	json_t *en = cat_of(SP_I18N_DEFAULT), *sel = json_object(), *v;
	const char *key;
	size_t pl = strlen(prefix), i;
	char *s;
	int st = SP_OK;

	if (sel == NULL)
		return SP_ERR_NOMEM;
	if (en != NULL)
		json_object_foreach(en, key, v)
			if (strncmp(key, prefix, pl) == 0)
				json_object_set_new(sel, key, json_string(sp_i18n_text(lang, key)));
	s = sp_json_dumps(sel, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(sel);
	if (s == NULL)
		return SP_ERR_NOMEM;
	for (i = 0; s[i] != '\0' && st == SP_OK; i++)
		st = s[i] == '<' ? sp_buf_append_str(out, "\\u003c") :
		    s[i] == '>' ? sp_buf_append_str(out, "\\u003e") :
		    s[i] == '&' ? sp_buf_append_str(out, "\\u0026") : sp_buf_append(out, s + i, 1);
	free(s);
	return st;
}

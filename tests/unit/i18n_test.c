/*
 * i18n_test.c - the catalogues and i18n.h: every embedded catalogue has
 * exactly the keys of English with the same placeholders (so a language is
 * never offered half translated), English and Spanish are offered, look-up
 * falls back to English and then to the key, library messages are found by
 * their English text, placeholders are expanded and escaped for HTML, and
 * Accept-Language picks an offered language.  Catalogues are parsed at the
 * first look-up of their language: the first test races those first
 * look-ups from several threads (each catalogue must be parsed once, so
 * the sanitizer run would see a second parse leak, and every thread must
 * see the same texts).
 */
#include <pthread.h>
#include <string.h>

#include "assets.h"
#include "i18n.h"
#include "t.h"

static void
expand(const char *lang, const char *key, const struct sp_i18n_var *v, size_t nv, int html,
    char *out, size_t outsz)
{
	struct sp_buf b;

	sp_buf_init(&b, 65536);
	T_EQ_INT(html ? sp_i18n_html(&b, lang, key, v, nv) : sp_i18n_plain(&b, lang, key, v, nv),
	    SP_OK);
	snprintf(out, outsz, "%.*s", (int)b.len, b.data ? (const char *)b.data : "");
	sp_buf_free(&b);
}

#define RACERS 8

struct racer {
	pthread_barrier_t *start;
	int idx;
	const char *es, *en, *lang, *first;
};

static void *
race(void *arg)
{
	struct racer *r = arg;

	pthread_barrier_wait(r->start);
	/* Spanish first on half of them, English first on the others */
	if (r->idx % 2)
		r->en = sp_i18n_text("en", "seal.sender_unknown");
	r->es = sp_i18n_text("es", "seal.sender_unknown");
	r->lang = sp_i18n_lang("es");
	r->en = sp_i18n_text("en", "seal.sender_unknown");
	r->first = sp_i18n_languages()[0];
	return NULL;
}

static void
test_first_lookups_race(void)
{
	pthread_barrier_t start;
	pthread_t t[RACERS];
	struct racer r[RACERS];
	const char *es, *en;
	int i, same = 0;

	pthread_barrier_init(&start, NULL, RACERS);
	for (i = 0; i < RACERS; i++) {
		r[i] = (struct racer){&start, i, NULL, NULL, NULL, NULL};
		pthread_create(&t[i], NULL, race, &r[i]);
	}
	for (i = 0; i < RACERS; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&start);
	es = sp_i18n_text("es", "seal.sender_unknown");
	en = sp_i18n_text("en", "seal.sender_unknown");
	T_CHECK(strcmp(es, en) != 0);
	for (i = 0; i < RACERS; i++)
		same += r[i].es == es && r[i].en == en && r[i].lang != NULL &&
		    strcmp(r[i].lang, "es") == 0 && r[i].first != NULL && strcmp(r[i].first, "en") == 0;
	T_EQ_INT(same, RACERS);
}

/* Every catalogue embedded from web/i18n/ against English. */
static void
test_catalogues_complete(void)
{
	const struct sp_asset *en = sp_asset_find("i18n/en.json"), *a;
	struct sp_err err = {{0}};
	int n = 0;

	T_CHECK(en != NULL);
	if (en == NULL)
		return;
	for (a = sp_assets; a->name != NULL; a++) {
		if (strncmp(a->name, "i18n/", 5) != 0)
			continue;
		n++;
		if (sp_i18n_check_json((const char *)en->data, en->len, (const char *)a->data,
		    a->len, &err) != SP_OK)
			fprintf(stderr, "catalogue %s: %s\n", a->name, err.msg);
		T_EQ_INT(sp_i18n_check_json((const char *)en->data, en->len,
		    (const char *)a->data, a->len, &err), SP_OK);
	}
	T_CHECK(n >= 2);
	T_CHECK(sp_i18n_offered("en"));
	T_CHECK(sp_i18n_offered("es"));
	T_CHECK(!sp_i18n_offered("fr"));
	T_CHECK(!sp_i18n_offered(NULL));
	T_CHECK(strcmp(sp_i18n_languages()[0], "en") == 0);
}

/* The check itself: a missing key either way, other placeholders, a
 * non-string value and broken JSON are each refused. */
static void
test_check(void)
{
	static const struct {
		const char *en, *other;
		int want;
	} c[] = {
		{"{\"a\":\"x {n}\",\"b\":\"y\"}", "{\"b\":\"Y\",\"a\":\"X {n}\"}", SP_OK},
		{"{\"a\":\"x\",\"b\":\"y\"}", "{\"a\":\"X\"}", SP_ERR_INVALID},
		{"{\"a\":\"x\"}", "{\"a\":\"X\",\"c\":\"Z\"}", SP_ERR_INVALID},
		{"{\"a\":\"x {n}\"}", "{\"a\":\"X\"}", SP_ERR_INVALID},
		{"{\"a\":\"x\"}", "{\"a\":\"X {n}\"}", SP_ERR_INVALID},
		{"{\"a\":\"x {n}\"}", "{\"a\":\"X {m}\"}", SP_ERR_INVALID},
		{"{\"a\":\"x\"}", "{\"a\":1}", SP_ERR_INVALID},
		{"{\"a\":\"x\"}", "{\"a\":", SP_ERR_INVALID},
		{"{\"a\":\"x\"}", "[]", SP_ERR_INVALID},
		{"{\"a\":\"x\",\"a\":\"y\"}", "{\"a\":\"X\"}", SP_ERR_INVALID},
	};
	struct sp_err err = {{0}};
	size_t i;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		T_EQ_INT(sp_i18n_check_json(c[i].en, strlen(c[i].en), c[i].other,
		    strlen(c[i].other), &err), c[i].want);
	sp_i18n_check_json("{\"a\":\"x\",\"b\":\"y\"}", 17, "{\"a\":\"X\"}", 9, &err);
	T_CHECK(strstr(err.msg, "\"b\"") != NULL);
}

static void
test_lookup(void)
{
	T_CHECK(strcmp(sp_i18n_text("es", "lang.name"), "Espa\xc3\xb1ol") == 0);
	T_CHECK(strcmp(sp_i18n_text("en", "lang.name"), "English") == 0);
	/* a language not offered, and none: English */
	T_CHECK(strcmp(sp_i18n_text("fr", "lang.name"), "English") == 0);
	T_CHECK(strcmp(sp_i18n_text(NULL, "lang.name"), "English") == 0);
	/* a missing key: the key itself, never NULL */
	T_CHECK(strcmp(sp_i18n_text("es", "no.such.key"), "no.such.key") == 0);
	T_CHECK(!sp_i18n_has("no.such.key"));
	T_CHECK(sp_i18n_has("lang.name"));
	T_CHECK(strcmp(sp_i18n_lang("es"), "es") == 0);
	T_CHECK(strcmp(sp_i18n_lang("xx"), "en") == 0);
	T_CHECK(strcmp(sp_i18n_lang(NULL), "en") == 0);
	/* a library message the catalogue knows, by its English text */
	T_CHECK(strcmp(sp_i18n_translate("es", "This message has expired"),
	    "Este mensaje ha caducado") == 0);
	T_CHECK(strcmp(sp_i18n_translate("en", "This message has expired"),
	    "This message has expired") == 0);
	T_CHECK(strcmp(sp_i18n_translate("es", "no such text"), "no such text") == 0);
	T_CHECK(sp_i18n_translate("es", NULL) == NULL);
}

static void
test_expand(void)
{
	struct sp_i18n_var v[] = {{"email", "<b>a&b@example.org</b>"}, {"url", NULL}};
	char out[4096];

	/* plain: the value as it is */
	expand("en", "test.placeholder", v, 2, 0, out, sizeof(out));
	T_CHECK(strstr(out, "<b>a&b@example.org</b>") != NULL);
	/* HTML: the value escaped, the text too (not an _html key) */
	expand("en", "test.placeholder", v, 2, 1, out, sizeof(out));
	T_CHECK(strstr(out, "&lt;b&gt;a&amp;b@example.org&lt;/b&gt;") != NULL);
	T_CHECK(strstr(out, "<b>") == NULL);
	T_CHECK(strstr(out, "&quot;") != NULL);
	/* an _html key keeps its markup, its values are still escaped */
	expand("es", "test.placeholder_html", v, 1, 1, out, sizeof(out));
	T_CHECK(strstr(out, "<strong>&lt;b&gt;a&amp;b@example.org&lt;/b&gt;</strong>") != NULL);
	/* a placeholder without a value stays as written; a NULL value is "" */
	expand("en", "test.placeholder", v, 0, 0, out, sizeof(out));
	T_CHECK(strstr(out, "{email}") != NULL);
	expand("en", "test.placeholder", (struct sp_i18n_var[]){{"email", NULL}}, 1, 0, out,
	    sizeof(out));
	T_CHECK(strstr(out, "{email}") == NULL);
	/* a missing key expands to the key */
	expand("es", "no.such.key", v, 2, 1, out, sizeof(out));
	T_CHECK(strcmp(out, "no.such.key") == 0);
}

static void
test_accept(void)
{
	static const struct {
		const char *h, *want;
	} c[] = {
		{"es-ES,es;q=0.9,en;q=0.8", "es"},
		{"es-MX", "es"},
		{"ES", "es"},
		{"fr-FR, en;q=0.5, es;q=0.7", "es"},
		{"fr-FR, es;q=0", NULL},
		{"en-GB,en;q=0.9", "en"},
		{"*", NULL},
		{"", NULL},
		{"esperanto", NULL},
		{"de;q=0.9, en ; q=0.3", "en"},
	};
	size_t i;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		const char *got = sp_i18n_accept(c[i].h);

		T_CHECK(c[i].want == NULL ? got == NULL : got != NULL && strcmp(got, c[i].want) == 0);
	}
	T_CHECK(sp_i18n_accept(NULL) == NULL);
}

static void
test_json(void)
{
	struct sp_buf b;

	sp_buf_init(&b, 1 << 20);
	T_EQ_INT(sp_i18n_json(&b, "es", "test."), SP_OK);
	T_CHECK(b.data != NULL && memchr(b.data, '<', b.len) == NULL);
	T_CHECK(b.data != NULL && strstr((const char *)b.data, "\\u003cstrong\\u003e") != NULL);
	T_CHECK(b.data != NULL && strstr((const char *)b.data, "lang.name") == NULL);
	sp_buf_free(&b);
}

T_MAIN(test_first_lookups_race, test_catalogues_complete, test_check, test_lookup, test_expand, test_accept, test_json)

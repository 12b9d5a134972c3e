/*
 * i18n.h - the texts people read, from the catalogues web/i18n/LANG.json
 * (embedded at build time, assets.h): look-up with English as fallback,
 * placeholder expansion with HTML escaping, the languages offered, and the
 * choice of a language from an Accept-Language header.
 * A catalogue is a flat JSON object "key": "text"; {name} in a text is a
 * placeholder.  A key that ends in "_html" holds an HTML fragment written
 * by the project (inserted as it is); every other text is plain and is
 * escaped by sp_i18n_html().  Placeholder values are always escaped there.
 * A language is offered only when its catalogue is complete: the same keys
 * as English, each with the same placeholders (sp_i18n_check_json()).
 * The catalogues are parsed once, on first use, and never change: every
 * pointer returned lives as long as the program.  Thread-safe.
 */
#ifndef SP_I18N_H
#define SP_I18N_H

#include <stddef.h>

#include "buf.h"
#include "sp.h"

#define SP_I18N_DEFAULT "en"
#define SP_I18N_LANG_MAX 8	/* bytes of a language code */

struct sp_i18n_var {
	const char *name;	/* without braces */
	const char *value;	/* NULL: "" */
};

/* The offered languages (complete catalogues), "en" first, NULL-ended. */
const char *const *sp_i18n_languages(void);
/* 1 when lang is an offered language. */
int sp_i18n_offered(const char *lang);
/* lang when offered, else "en" (a static string either way). */
const char *sp_i18n_lang(const char *lang);
/* The best offered language of an Accept-Language header (q-values
 * honoured, "es-MX" matches "es"), or NULL when none is offered. */
const char *sp_i18n_accept(const char *header);

/* The text of key in lang, else in English, else the key itself. */
const char *sp_i18n_text(const char *lang, const char *key);
/* A message of the library (err.msg, e.g. of password.h) in lang: the
 * catalogue has it under a key "lib.*" whose English text is exactly msg;
 * msg itself when there is none. */
const char *sp_i18n_translate(const char *lang, const char *msg);
/* 1 when key exists in the English catalogue. */
int sp_i18n_has(const char *key);

/* Append the text of key with its placeholders replaced (unknown ones
 * stay as written) to out: as plain text (sp_i18n_plain), or as HTML
 * (sp_i18n_html: the text escaped unless the key ends in "_html", the
 * values always escaped). */
int sp_i18n_plain(struct sp_buf *out, const char *lang, const char *key,
    const struct sp_i18n_var *v, size_t nv);
int sp_i18n_html(struct sp_buf *out, const char *lang, const char *key,
    const struct sp_i18n_var *v, size_t nv);

/* The keys of lang whose name starts with prefix, as one JSON object safe
 * to place inside a <script type="application/json"> element (<, > and &
 * written as \u escapes); appended to out. */
int sp_i18n_json(struct sp_buf *out, const char *lang, const char *prefix);

/* Compare a catalogue (JSON text) with the English one: SP_OK when both
 * have the same keys, every value is a string and each text has the same
 * placeholders as its English text; else SP_ERR_INVALID naming the first
 * difference. */
int sp_i18n_check_json(const char *en, size_t enlen, const char *other, size_t olen,
    struct sp_err *err);

#endif

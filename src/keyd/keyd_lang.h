/*
 * keyd_lang.h - the language of a request's answer (keyd_lang.c) and the
 * language switcher shown on every page.  Not a library interface.
 * The choice, first match wins: "?lang=xx" on the request (which also sets
 * the sp_lang cookie), the sp_lang cookie, the signed-in account's
 * language, the browser's Accept-Language, English.  Only offered
 * languages (i18n.h) are ever chosen.
 */
#ifndef KEYD_LANG_H
#define KEYD_LANG_H

#include "buf.h"
#include "i18n.h"
#include "keyd_req.h"
#include "keyd_tmpl.h"

#define KEYD_LANG_COOKIE "sp_lang"
#define KEYD_TMPL_PAGE_VARS 16	/* vars a caller of keyd_tmpl_page() may give */

/* The request's language code (a static string; decided once). */
const char *keyd_lang(struct keyd_req *r);
/* The catalogue text of key in the request's language (borrowed, lives
 * as long as the program). */
const char *keyd_t(struct keyd_req *r, const char *key);
/* A message in the request's language: msg when it is a catalogue key,
 * a library message the catalogue knows (sp_i18n_translate), else msg. */
const char *keyd_tmsg(struct keyd_req *r, const char *msg);
/* key in the request's language as plain text with placeholders, into
 * out (outsz bytes, cut short when longer: sizes leave room). */
void keyd_tplain(struct keyd_req *r, const char *key, const struct sp_i18n_var *v,
    size_t nv, char *out, size_t outsz);
/* Append key in the request's language, as HTML, with placeholders. */
int keyd_th(struct keyd_req *r, struct sp_buf *b, const char *key,
    const struct sp_i18n_var *v, size_t nv);
/* The switcher: links to this page in every other offered language (they
 * work without scripts); nothing when only one language is offered. */
int keyd_lang_switch(struct keyd_req *r, struct sp_buf *b);
/* Render the page template tmpl with vars and the page's language:
 * {{LANG}}, {{LANG_SWITCH}}, {{I18N}} (the scripts' catalogue, a JSON
 * object) and {{#key}}.  out is initialised here (its cap: the template,
 * extra bytes of values, and the added parts).  SP_OK or an error. */
int keyd_tmpl_page(struct keyd_req *r, const char *tmpl, size_t tlen,
    const struct keyd_var *vars, size_t nvars, size_t extra, struct sp_buf *out);
/* The default language of organisation org_id (offered), or NULL. */
const char *keyd_org_lang(struct keyd *k, int64_t org_id);
/* The account's language of email, or NULL when it has none offered. */
const char *keyd_account_lang(struct keyd *k, const char *email);

#endif

/*
 * keyd_tmpl.h - the page templates' placeholder substitution of
 * sealpost-keyd (keyd_tmpl.c).  Not a library interface.
 */
#ifndef KEYD_TMPL_H
#define KEYD_TMPL_H

#include <stddef.h>

#include "buf.h"

/* Replace {{NAME}} in tmpl with the HTML-escaped value of the var of that
 * name (raw: the value is an HTML fragment built by keyd itself from
 * escaped parts).  Unknown names become empty. */
struct keyd_var {
	const char *name;
	const char *value;
	size_t len;		/* 0 = strlen(value) */
	int raw;
};
int keyd_tmpl(const char *tmpl, size_t tlen, const struct keyd_var *vars, size_t nvars,
    struct sp_buf *out);
/* keyd_tmpl(), and {{#KEY}} replaced with the catalogue text of KEY in
 * lang (i18n.h: escaped unless KEY ends in "_html"). */
int keyd_tmpl_lang(const char *lang, const char *tmpl, size_t tlen,
    const struct keyd_var *vars, size_t nvars, struct sp_buf *out);

#endif

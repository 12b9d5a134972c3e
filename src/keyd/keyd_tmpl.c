/*
 * keyd_tmpl.c - the page templates' placeholder substitution: {{NAME}} is
 * replaced with the HTML-escaped value of NAME, {{#KEY}} with the
 * catalogue text of KEY in the page's language (i18n.h).
 * SECURITY: every value is escaped (& < > " ') unless the caller marks it
 * as a fragment that keyd built itself from escaped parts.
 */
#include <stdio.h>
#include <string.h>

#include "html.h"
#include "i18n.h"
#include "keyd_tmpl.h"
#include "sp.h"

int
keyd_tmpl(const char *t, size_t tlen, const struct keyd_var *vars, size_t nvars,
    struct sp_buf *out)
{
	return keyd_tmpl_lang(SP_I18N_DEFAULT, t, tlen, vars, nvars, out);
}

int
keyd_tmpl_lang(const char *lang, const char *t, size_t tlen, const struct keyd_var *vars,
    size_t nvars, struct sp_buf *out)
{
	const char *p = t, *end = t + tlen, *open, *close;
	size_t i, nl;
	int st = SP_OK;

	while (st == SP_OK && p < end) {
		open = memmem(p, (size_t)(end - p), "{{", 2);
		if (open == NULL) {
			st = sp_buf_append(out, p, (size_t)(end - p));
			break;
		}
		close = memmem(open + 2, (size_t)(end - open - 2), "}}", 2);
		if (close == NULL || close - open > 80) {
			st = sp_buf_append(out, p, (size_t)(open + 2 - p));
			p = open + 2;
			continue;
		}
		if ((st = sp_buf_append(out, p, (size_t)(open - p))) != SP_OK)
			break;
		nl = (size_t)(close - open - 2);
		if (nl > 1 && open[2] == '#') {
			char key[80];

			snprintf(key, sizeof(key), "%.*s", (int)(nl - 1), open + 3);
			st = sp_i18n_html(out, lang, key, NULL, 0);
			p = close + 2;
			continue;
		}
		for (i = 0; i < nvars; i++) {
			if (strlen(vars[i].name) != nl || memcmp(vars[i].name, open + 2, nl) != 0)
				continue;
			if (vars[i].value == NULL)
				break;
			if (vars[i].raw)
				st = sp_buf_append(out, vars[i].value,
				    vars[i].len ? vars[i].len : strlen(vars[i].value));
			else
				st = sp_html_escape(out, vars[i].value,
				    vars[i].len ? vars[i].len : strlen(vars[i].value));
			break;
		}
		p = close + 2;
	}
	return st;
}

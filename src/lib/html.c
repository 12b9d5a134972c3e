/*
 * html.c - HTML escaping shared by the key server's pages and the
 * notification mail.
 * SECURITY: every untrusted value placed into HTML passes through here.
 */
#include "html.h"
#include "sp.h"

int
sp_html_escape(struct sp_buf *out, const char *s, size_t n)
{
	size_t i, start = 0;
	const char *rep;
	int st = SP_OK;

	for (i = 0; i < n && st == SP_OK; i++) {
		switch (s[i]) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&#39;"; break;
		case '\0': rep = ""; break;
		default: continue;
		}
		if ((st = sp_buf_append(out, s + start, i - start)) == SP_OK)
			st = sp_buf_append_str(out, rep);
		start = i + 1;
	}
	if (st == SP_OK)
		st = sp_buf_append(out, s + start, n - start);
	return st;
}

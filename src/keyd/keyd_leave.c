/*
 * keyd_leave.c - GET /leave?to=URL: the open page rewrites every web link of
 * a message to this page, opened in a new tab without opener or referrer,
 * so that one click shows where the link really goes (the host a look-alike
 * text or a "bank.example@other.example" address hides) before a second
 * click goes there.
 * SECURITY: the address is untrusted: only http and https, no characters
 * that could leave an attribute or the page, escaped again on output; the
 * page itself sends no referrer (Referrer-Policy of every answer) and the
 * link to go on carries rel="noopener noreferrer".
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "html.h"
#include "keyd_lang.h"
#include "keyd_leave.h"

int
keyd_leave_url(const char *url, char *host, size_t hostsz)
{
	const char *auth, *end, *at, *h, *colon;
	size_t i, n, hl;

	if (url == NULL || hostsz == 0)
		return 0;
	n = strlen(url);
	if (n == 0 || n > KEYD_LEAVE_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)url[i];

		if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\'' || c == '<' ||
		    c == '>' || c == '\\' || c == '`')
			return 0;
	}
	if (strncasecmp(url, "https://", 8) == 0)
		auth = url + 8;
	else if (strncasecmp(url, "http://", 7) == 0)
		auth = url + 7;
	else
		return 0;
	end = auth + strcspn(auth, "/?#");
	/* the host is what follows the last '@' of the authority */
	for (at = NULL, h = auth; h < end; h++)
		if (*h == '@')
			at = h;
	h = at != NULL ? at + 1 : auth;
	if (*h == '[') {
		const char *close = memchr(h, ']', (size_t)(end - h));

		if (close == NULL)
			return 0;
		hl = (size_t)(close - h) + 1;
	} else {
		colon = memchr(h, ':', (size_t)(end - h));
		hl = (size_t)((colon != NULL ? colon : end) - h);
	}
	if (hl == 0 || hl >= hostsz)
		return 0;
	memcpy(host, h, hl);
	host[hl] = '\0';
	return 1;
}

enum MHD_Result
keyd_page_leave(struct keyd_req *r, const char *arg)
{
	const char *to = keyd_arg(r, "to");
	char host[256];
	struct sp_buf b;
	enum MHD_Result ret;

	(void)arg;
	if (!keyd_leave_url(to, host, sizeof(host)))
		return keyd_page_simple(r, 400, keyd_t(r, "leave.bad_title"),
		    keyd_t(r, "leave.bad_html"));
	/* the address twice, each escaped (at most 5 bytes per byte: "&amp;") */
	sp_buf_init(&b, 10 * strlen(to) + 4096);
	keyd_th(r, &b, "leave.page_html", (struct sp_i18n_var[]){{"host", host}, {"url", to}}, 2);
	if (b.data == NULL) {
		sp_buf_free(&b);
		return keyd_reply_error(r, 500, "err.internal");
	}
	ret = keyd_page_simple(r, 200, keyd_t(r, "leave.title"), (const char *)b.data);
	sp_buf_free(&b);
	return ret;
}

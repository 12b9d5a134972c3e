/*
 * reply_rules.c - who a reply from the portal may go to, and the shape of
 * the texts it carries (reply.h).  Pure functions: no store, no clock.
 * SECURITY: decides which addresses the key server mails on a recipient's
 * behalf; every rule is a row in tests/unit/reply_test.c.
 */
#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include "release.h"
#include "reply.h"

int
sp_reply_mode_parse(const char *s)
{
	if (s == NULL)
		return -1;
	if (strcmp(s, "reply") == 0)
		return SP_REPLY_REPLY;
	if (strcmp(s, "all") == 0)
		return SP_REPLY_ALL;
	if (strcmp(s, "forward") == 0)
		return SP_REPLY_FORWARD;
	return -1;
}

void
sp_reply_addrs_clear(struct sp_reply_addrs *a)
{
	size_t i;

	for (i = 0; a->v != NULL && i < a->n; i++)
		free(a->v[i]);
	free(a->v);
	a->v = NULL;
	a->n = 0;
}

int
sp_reply_addrs_has(const struct sp_reply_addrs *list, const char *addr)
{
	size_t i;

	for (i = 0; i < list->n; i++)
		if (g_ascii_strcasecmp(list->v[i], addr) == 0)
			return 1;
	return 0;
}

/* Append a copy of addr unless it is there already or is skip. */
static int
addrs_add(struct sp_reply_addrs *a, size_t cap, const char *addr, const char *skip)
{
	if (addr == NULL || *addr == '\0' || g_ascii_strcasecmp(addr, skip) == 0 ||
	    sp_reply_addrs_has(a, addr))
		return SP_OK;
	if (a->n >= cap || (a->v[a->n] = strdup(addr)) == NULL)
		return SP_ERR_NOMEM;
	for (char *c = a->v[a->n]; *c != '\0'; c++)
		*c = g_ascii_tolower(*c);
	a->n++;
	return SP_OK;
}

int
sp_reply_targets(const char *from, const char *const *rcpt, size_t nrcpt,
    const char *replier, struct sp_reply_addrs *reply_to, struct sp_reply_addrs *reply_all)
{
	size_t i;
	int st;

	memset(reply_to, 0, sizeof(*reply_to));
	memset(reply_all, 0, sizeof(*reply_all));
	if ((reply_to->v = calloc(1, sizeof(char *))) == NULL ||
	    (reply_all->v = calloc(nrcpt + 1, sizeof(char *))) == NULL)
		goto nomem;
	if ((st = addrs_add(reply_to, 1, from, replier)) != SP_OK ||
	    (st = addrs_add(reply_all, nrcpt + 1, from, replier)) != SP_OK)
		goto nomem;
	for (i = 0; i < nrcpt; i++)
		if ((st = addrs_add(reply_all, nrcpt + 1, rcpt[i], replier)) != SP_OK)
			goto nomem;
	return SP_OK;
nomem:
	sp_reply_addrs_clear(reply_to);
	sp_reply_addrs_clear(reply_all);
	return SP_ERR_NOMEM;
}

/* One host name of at least two labels, lower-cased in place. */
static int
domain_ok(char *d)
{
	size_t i, label = 0, dots = 0, n = strlen(d);

	if (n == 0 || n > 253)
		return 0;
	for (i = 0; i < n; i++) {
		char c = d[i];

		if (c >= 'A' && c <= 'Z')
			d[i] = c = (char)(c - 'A' + 'a');
		if (c == '.') {
			if (label == 0 || d[i - 1] == '-')
				return 0;
			label = 0;
			dots++;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return 0;
		if (c == '-' && label == 0)
			return 0;
		if (++label > 63)
			return 0;
	}
	return label > 0 && d[n - 1] != '-' && dots > 0;
}

int
sp_reply_fwd_list_norm(const char *in, char *out, size_t outsz, struct sp_err *err)
{
	char one[256];
	const char *p = in, *end;
	size_t n, o = 0, count = 0;

	if (outsz == 0)
		return sp_err_set(err, SP_ERR_TOOBIG, "no room for the list");
	out[0] = '\0';
	if (in == NULL || *in == '\0' || strcmp(in, "none") == 0)
		return SP_OK;
	for (;;) {
		end = strchr(p, ',');
		n = end != NULL ? (size_t)(end - p) : strlen(p);
		while (n > 0 && (*p == ' ' || *p == '\t')) {
			p++;
			n--;
		}
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n == 0 || n >= sizeof(one))
			return sp_err_set(err, SP_ERR_INVALID, "'%.*s' is not a domain",
			    (int)(n < 64 ? n : 64), p);
		memcpy(one, p, n);
		one[n] = '\0';
		if (!domain_ok(one))
			return sp_err_set(err, SP_ERR_INVALID, "'%.64s' is not a domain", one);
		if (!sp_reply_fwd_allowed_domain(one, out)) {
			if (++count > SP_REPLY_FWD_DOMAINS)
				return sp_err_set(err, SP_ERR_TOOBIG, "at most %d domains",
				    SP_REPLY_FWD_DOMAINS);
			if (o + n + 2 > outsz)
				return sp_err_set(err, SP_ERR_TOOBIG, "the list is too long");
			if (o > 0)
				out[o++] = ',';
			memcpy(out + o, one, n + 1);
			o += n;
		}
		if (end == NULL)
			break;
		p = end + 1;
	}
	return SP_OK;
}

int
sp_reply_fwd_allowed_domain(const char *domain, const char *fwd)
{
	const char *p = fwd, *end;
	size_t n, dl = strlen(domain);

	while (p != NULL && *p != '\0') {
		end = strchr(p, ',');
		n = end != NULL ? (size_t)(end - p) : strlen(p);
		if (n == dl && g_ascii_strncasecmp(p, domain, n) == 0)
			return 1;
		p = end != NULL ? end + 1 : NULL;
	}
	return 0;
}

int
sp_reply_fwd_allowed(const char *addr, const char *const *domains, size_t nd,
    const char *fwd)
{
	const char *at = strrchr(addr, '@');
	size_t i;

	if (at == NULL || at[1] == '\0')
		return 0;
	for (i = 0; i < nd; i++)
		if (sp_release_addr_in_domain(addr, domains[i]))
			return 1;
	return fwd != NULL && sp_reply_fwd_allowed_domain(at + 1, fwd);
}

int
sp_reply_line_ok(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i;

	if (s == NULL || n == 0 || !g_utf8_validate(s, (gssize)n, NULL))
		return 0;
	for (i = 0; i < n; i++) {
		if (p[i] < 0x20 || p[i] == 0x7f)
			return 0;
		/* C1 controls: U+0080..U+009F are C2 80..C2 9F; U+2028/2029 */
		if (p[i] == 0xc2 && i + 1 < n && p[i + 1] >= 0x80 && p[i + 1] <= 0x9f)
			return 0;
		if (p[i] == 0xe2 && i + 2 < n && p[i + 1] == 0x80 &&
		    (p[i + 2] == 0xa8 || p[i + 2] == 0xa9))
			return 0;
	}
	return 1;
}

int
sp_reply_msgid_ok(const char *s, int one)
{
	size_t i, n, ids = 0;
	int in = 0, at = 0, left = 0;

	if (s == NULL || (n = strlen(s)) == 0 || n > SP_REPLY_MSGID_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!in) {
			/* one space between two ids; none before the first
			 * or after the last */
			if (c == ' ' && ids > 0 && s[i - 1] == '>' && i + 1 < n)
				continue;
			if (c != '<')
				return 0;
			in = 1;
			at = left = 0;
			continue;
		}
		if (c == '>') {
			if (!at || s[i - 1] == '@')
				return 0;
			in = 0;
			ids++;
			continue;
		}
		if (c <= 0x20 || c >= 0x7f || c == '<' || c == '"' || c == '\\')
			return 0;
		if (c == '@') {
			if (at || left == 0)
				return 0;
			at = 1;
		} else if (!at)
			left++;
	}
	return !in && ids > 0 && (!one || ids == 1);
}

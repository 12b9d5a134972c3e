/*
 * maildomains.c - the syntax of a mail domain and the list of public mail
 * domains (maildomains.h).  The built-in list is sorted (bytewise) so a
 * lookup is a binary search; the unit test checks the order.
 * SECURITY: every input is bounded (SP_DOMAIN_MAX, SP_MAILDOMAINS_FILE_MAX);
 * nothing is logged.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "maildomains.h"

/* Free mail providers where anyone can make an address.  Keep sorted. */
static const char *const builtin[] = {
	"126.com",
	"163.com",
	"aim.com",
	"alice.it",
	"aol.co.uk",
	"aol.com",
	"aol.de",
	"aol.fr",
	"att.net",
	"bluewin.ch",
	"btinternet.com",
	"comcast.net",
	"cox.net",
	"email.com",
	"fastmail.com",
	"fastmail.fm",
	"free.fr",
	"freenet.de",
	"gmail.com",
	"gmx.at",
	"gmx.ch",
	"gmx.co.uk",
	"gmx.com",
	"gmx.de",
	"gmx.es",
	"gmx.fr",
	"gmx.it",
	"gmx.net",
	"gmx.us",
	"googlemail.com",
	"hey.com",
	"hotmail.be",
	"hotmail.ca",
	"hotmail.co.jp",
	"hotmail.co.uk",
	"hotmail.com",
	"hotmail.de",
	"hotmail.es",
	"hotmail.fr",
	"hotmail.it",
	"hotmail.nl",
	"hushmail.com",
	"icloud.com",
	"inbox.ru",
	"laposte.net",
	"libero.it",
	"list.ru",
	"live.ca",
	"live.co.uk",
	"live.com",
	"live.com.au",
	"live.de",
	"live.fr",
	"live.it",
	"live.nl",
	"mac.com",
	"mail.com",
	"mail.ru",
	"me.com",
	"msn.com",
	"naver.com",
	"orange.fr",
	"outlook.co.uk",
	"outlook.com",
	"outlook.de",
	"outlook.es",
	"outlook.fr",
	"outlook.it",
	"pm.me",
	"proton.me",
	"protonmail.ch",
	"protonmail.com",
	"qq.com",
	"rambler.ru",
	"rocketmail.com",
	"sbcglobal.net",
	"seznam.cz",
	"sfr.fr",
	"t-online.de",
	"terra.com.br",
	"tuta.io",
	"tutanota.com",
	"tutanota.de",
	"uol.com.br",
	"verizon.net",
	"wanadoo.fr",
	"web.de",
	"ya.ru",
	"yahoo.ca",
	"yahoo.co.id",
	"yahoo.co.in",
	"yahoo.co.jp",
	"yahoo.co.uk",
	"yahoo.com",
	"yahoo.com.ar",
	"yahoo.com.au",
	"yahoo.com.br",
	"yahoo.com.mx",
	"yahoo.com.sg",
	"yahoo.de",
	"yahoo.es",
	"yahoo.fr",
	"yahoo.gr",
	"yahoo.ie",
	"yahoo.in",
	"yahoo.it",
	"yahoo.nl",
	"yahoo.se",
	"yandex.by",
	"yandex.com",
	"yandex.kz",
	"yandex.ru",
	"yandex.ua",
	"ymail.com",
	"zoho.com",
	"zohomail.com",
};

/* For the unit test: the built-in list (maildomains_test.c declares it). */
const char *const *sp_maildomains_builtin(size_t *n);

const char *const *
sp_maildomains_builtin(size_t *n)
{
	*n = sizeof(builtin) / sizeof(builtin[0]);
	return builtin;
}

struct sp_maildomains {
	char **names;	/* canonical, sorted */
	size_t n, cap;
};

static int
is_ldh(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

int
sp_domain_check(const char *s, size_t n, char out[SP_DOMAIN_MAX + 1], struct sp_err *err)
{
	size_t i, label = 0, labels = 0, start = 0;
	int digits = 1;
	char c;

	out[0] = '\0';
	if (s == NULL || n == 0)
		return sp_err_set(err, SP_ERR_INVALID, "the domain is empty");
	if (s[n - 1] == '.')
		n--;
	if (n == 0)
		return sp_err_set(err, SP_ERR_INVALID, "the domain is empty");
	if (n > SP_DOMAIN_MAX)
		return sp_err_set(err, SP_ERR_INVALID, "the domain is longer than %d bytes",
		    SP_DOMAIN_MAX);
	for (i = 0; i <= n; i++) {
		c = i < n ? s[i] : '.';
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c == '.') {
			if (label == 0)
				goto bad_empty;
			if (out[start] == '-' || out[i - 1] == '-')
				goto bad_hyphen;
			if (label > 63)
				return sp_err_set(err, SP_ERR_INVALID,
				    "a label of the domain is longer than 63 bytes");
			labels++;
			if (i < n) {
				out[i] = '.';
				digits = 1;
			}
			label = 0;
			start = i + 1;
			continue;
		}
		if (!is_ldh(c)) {
			out[0] = '\0';
			return sp_err_set(err, SP_ERR_INVALID, "the domain may hold only letters, "
			    "digits, hyphens and dots (use the ASCII form of an international "
			    "name, xn--...)");
		}
		if (c < '0' || c > '9')
			digits = 0;
		out[i] = c;
		label++;
	}
	out[n] = '\0';
	if (labels < 2) {
		out[0] = '\0';
		return sp_err_set(err, SP_ERR_INVALID, "the domain needs at least two labels "
		    "(such as clinic.example)");
	}
	if (digits) {
		out[0] = '\0';
		return sp_err_set(err, SP_ERR_INVALID, "the domain's last label is a number "
		    "(an address, not a domain name)");
	}
	return SP_OK;
bad_empty:
	out[0] = '\0';
	return sp_err_set(err, SP_ERR_INVALID, "the domain has an empty label (two dots, "
	    "or a dot at the start)");
bad_hyphen:
	out[0] = '\0';
	return sp_err_set(err, SP_ERR_INVALID, "a label of the domain starts or ends with "
	    "a hyphen");
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void
sp_maildomains_free(struct sp_maildomains *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->n; i++)
		free(m->names[i]);
	free(m->names);
	free(m);
}

size_t
sp_maildomains_count(const struct sp_maildomains *m)
{
	return m == NULL ? 0 : m->n;
}

static int
add_name(struct sp_maildomains *m, const char *d)
{
	char **p;

	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 64;
		if ((p = realloc(m->names, cap * sizeof(*p))) == NULL)
			return SP_ERR_NOMEM;
		m->names = p;
		m->cap = cap;
	}
	if ((m->names[m->n] = strdup(d)) == NULL)
		return SP_ERR_NOMEM;
	m->n++;
	return SP_OK;
}

/* One line of the file, s[0..n): skip white space and comments, check
 * the domain and add it. */
static int
load_line(struct sp_maildomains *m, const char *path, size_t lineno, const char *s,
    size_t n, struct sp_err *err)
{
	struct sp_err e = {{0}};
	char d[SP_DOMAIN_MAX + 1];
	size_t a = 0, b;

	while (a < n && (s[a] == ' ' || s[a] == '\t'))
		a++;
	for (b = a; b < n && s[b] != '#'; b++)
		;
	while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t' || s[b - 1] == '\r'))
		b--;
	if (b == a)
		return SP_OK;
	if (memchr(s + a, ' ', b - a) != NULL || memchr(s + a, '\t', b - a) != NULL)
		return sp_err_set(err, SP_ERR_INVALID, "%s:%zu: one domain a line", path, lineno);
	if (sp_domain_check(s + a, b - a, d, &e) != SP_OK)
		return sp_err_set(err, SP_ERR_INVALID, "%s:%zu: %s", path, lineno, e.msg);
	if (add_name(m, d) != SP_OK)
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	return SP_OK;
}

int
sp_maildomains_load(struct sp_maildomains **out, const char *path, struct sp_err *err)
{
	struct sp_maildomains *m;
	FILE *f;
	char *data;
	size_t len = 0, n, i, start, lineno = 1;
	int st = SP_OK;

	*out = NULL;
	if ((f = fopen(path, "rb")) == NULL)
		return sp_err_set(err, SP_ERR_IO, "%s: %s", path, strerror(errno));
	if ((data = malloc(SP_MAILDOMAINS_FILE_MAX + 1)) == NULL) {
		fclose(f);
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	}
	while ((n = fread(data + len, 1, SP_MAILDOMAINS_FILE_MAX + 1 - len, f)) > 0) {
		len += n;
		if (len > SP_MAILDOMAINS_FILE_MAX)
			break;
	}
	if (ferror(f))
		st = sp_err_set(err, SP_ERR_IO, "%s: read error", path);
	else if (len > SP_MAILDOMAINS_FILE_MAX)
		st = sp_err_set(err, SP_ERR_TOOBIG, "%s: larger than %d bytes", path,
		    SP_MAILDOMAINS_FILE_MAX);
	fclose(f);
	if (st == SP_OK && memchr(data, '\0', len) != NULL)
		st = sp_err_set(err, SP_ERR_INVALID, "%s: not a text file", path);
	if (st == SP_OK && (m = calloc(1, sizeof(*m))) == NULL)
		st = sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	if (st != SP_OK) {
		free(data);
		return st;
	}
	for (start = 0, i = 0; i <= len && st == SP_OK; i++)
		if (i == len || data[i] == '\n') {
			st = load_line(m, path, lineno++, data + start, i - start, err);
			start = i + 1;
		}
	free(data);
	if (st != SP_OK) {
		sp_maildomains_free(m);
		return st;
	}
	if (m->n > 1)
		qsort(m->names, m->n, sizeof(m->names[0]), cmp_str);
	*out = m;
	return SP_OK;
}

int
sp_maildomain_is_public(const struct sp_maildomains *extra, const char *domain)
{
	char d[SP_DOMAIN_MAX + 1];
	const char *key = d;

	if (domain == NULL || sp_domain_check(domain, strlen(domain), d, NULL) != SP_OK)
		return 0;
	if (bsearch(&key, builtin, sizeof(builtin) / sizeof(builtin[0]), sizeof(builtin[0]),
	    cmp_str) != NULL)
		return 1;
	return extra != NULL && extra->n > 0 &&
	    bsearch(&key, extra->names, extra->n, sizeof(extra->names[0]), cmp_str) != NULL;
}

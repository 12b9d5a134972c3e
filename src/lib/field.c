/*
 * field.c - checking and normalising values from forms and JSON bodies
 * (field.h): free text, email addresses, opaque tokens, whole numbers.
 * SECURITY: every value here comes from strangers.  Input is bounded
 * (SP_FIELD_INPUT_MAX) before any work, checked for NUL and validated as
 * UTF-8 before GLib sees it, never read past its length, and every refusal
 * is a status with a message, never a crash.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <glib.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "field.h"

static const char not_allowed[] = "This contains characters that are not allowed";

/* Set *why and err; the status for reason r. */
static int __attribute__((format(printf, 4, 5)))
refuse(struct sp_err *err, enum sp_field_reason *why, enum sp_field_reason r,
    const char *fmt, ...)
{
	va_list ap;

	if (why != NULL)
		*why = r;
	if (err != NULL) {
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return r == SP_FIELD_R_NOMEM ? SP_ERR_NOMEM : SP_ERR_INVALID;
}

const char *
sp_field_reason_str(enum sp_field_reason r)
{
	switch (r) {
	case SP_FIELD_R_OK: return "ok";
	case SP_FIELD_R_REQUIRED: return "required";
	case SP_FIELD_R_TOO_LONG: return "too_long";
	case SP_FIELD_R_TOO_SHORT: return "too_short";
	case SP_FIELD_R_BAD_UTF8: return "bad_utf8";
	case SP_FIELD_R_NUL: return "nul";
	case SP_FIELD_R_CONTROL: return "control";
	case SP_FIELD_R_BIDI: return "bidi";
	case SP_FIELD_R_INVISIBLE: return "invisible";
	case SP_FIELD_R_BAD_CHAR: return "bad_char";
	case SP_FIELD_R_NOT_NUMBER: return "not_number";
	case SP_FIELD_R_RANGE: return "range";
	case SP_FIELD_R_ADDR_NO_AT: return "addr_no_at";
	case SP_FIELD_R_ADDR_MANY_AT: return "addr_many_at";
	case SP_FIELD_R_ADDR_LOCAL: return "addr_local";
	case SP_FIELD_R_ADDR_DOMAIN: return "addr_domain";
	case SP_FIELD_R_ADDR_DOTLESS: return "addr_dotless";
	case SP_FIELD_R_ADDR_IP: return "addr_ip";
	case SP_FIELD_R_NOMEM: return "nomem";
	case SP_FIELD_R_ARG: return "arg";
	}
	return "unknown";
}

/* --- character classes --------------------------------------------------- */

static int
is_control(gunichar c)
{
	return c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0x2028 || c == 0x2029;
}

/* Embeddings, overrides and isolates: they reorder what is shown. */
static int
is_bidi(gunichar c)
{
	return (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
}

/* Format characters that show nothing and so can hide or split text. */
static int
is_invisible(gunichar c)
{
	return (c >= 0x200b && c <= 0x200f) || (c >= 0x2060 && c <= 0x2064) ||
	    c == 0xfeff || c == 0x00ad || c == 0x061c || c == 0x180e ||
	    (c >= 0xe0000 && c <= 0xe007f);
}

/* A non-ASCII code point allowed in an address: letters, marks, decimal
 * digits.  Look-alike punctuation (fullwidth @ and dots), spaces, symbols,
 * format, private-use and unassigned code points are not. */
static int
addr_unichar_ok(gunichar c)
{
	switch (g_unichar_type(c)) {
	case G_UNICODE_LOWERCASE_LETTER:
	case G_UNICODE_MODIFIER_LETTER:
	case G_UNICODE_OTHER_LETTER:
	case G_UNICODE_TITLECASE_LETTER:
	case G_UNICODE_UPPERCASE_LETTER:
	case G_UNICODE_SPACING_MARK:
	case G_UNICODE_ENCLOSING_MARK:
	case G_UNICODE_NON_SPACING_MARK:
	case G_UNICODE_DECIMAL_NUMBER:
		return 1;
	default:
		return 0;
	}
}

static int
is_mark(gunichar c)
{
	GUnicodeType t = g_unichar_type(c);

	return t == G_UNICODE_SPACING_MARK || t == G_UNICODE_ENCLOSING_MARK ||
	    t == G_UNICODE_NON_SPACING_MARK;
}

/* --- free text ----------------------------------------------------------- */

static int
too_long(struct sp_err *err, enum sp_field_reason *why, size_t max_chars, size_t max_bytes,
    int bytes_only)
{
	if (bytes_only && max_bytes > 0)
		return refuse(err, why, SP_FIELD_R_TOO_LONG,
		    "This is too long: at most %zu bytes (some characters take several)",
		    max_bytes);
	if (max_chars > 0)
		return refuse(err, why, SP_FIELD_R_TOO_LONG,
		    "This is too long: at most %zu characters", max_chars);
	if (max_bytes > 0)
		return refuse(err, why, SP_FIELD_R_TOO_LONG,
		    "This is too long: at most %zu bytes", max_bytes);
	return refuse(err, why, SP_FIELD_R_TOO_LONG, "This is too long");
}

int
sp_field_text(const char *s, size_t n, const struct sp_field_rules *rules,
    char **out, enum sp_field_reason *why, struct sp_err *err)
{
	unsigned flags = rules != NULL ? rules->flags : 0;
	size_t max_bytes = rules != NULL ? rules->max_bytes : 0;
	size_t max_chars = rules != NULL ? rules->max_chars : 0;
	size_t nchars = 0, raw_max = SP_FIELD_INPUT_MAX;
	const char *p, *next, *start, *end;
	char *norm, *r, *w;
	int st = SP_OK;

	if (why != NULL)
		*why = SP_FIELD_R_OK;
	if (out == NULL || (s == NULL && n > 0))
		return refuse(err, why, SP_FIELD_R_ARG, "internal error: bad arguments");
	*out = NULL;
	if (s == NULL)
		s = "";
	/* NFC shrinks text by at most a factor of 3 (Hangul jamo); allow that
	 * and some white space to trim, and refuse anything larger unread. */
	if (max_bytes > 0 && max_bytes <= (SP_FIELD_INPUT_MAX - 256) / 4)
		raw_max = 4 * max_bytes + 256;
	if (n > raw_max)
		return too_long(err, why, max_chars, max_bytes, 0);
	if (memchr(s, '\0', n) != NULL)
		return refuse(err, why, SP_FIELD_R_NUL, "%s", not_allowed);
	if (!g_utf8_validate(s, (gssize)n, NULL))
		return refuse(err, why, SP_FIELD_R_BAD_UTF8,
		    "This contains characters that are not allowed (it is not valid UTF-8 text)");
	if ((norm = g_utf8_normalize(s, (gssize)n, G_NORMALIZE_NFC)) == NULL)
		return refuse(err, why, SP_FIELD_R_BAD_UTF8,
		    "This contains characters that are not allowed (it is not valid UTF-8 text)");

	start = norm;
	end = norm + strlen(norm);
	if (flags & SP_FIELD_TRIM) {
		while (*start != '\0' && g_unichar_isspace(g_utf8_get_char(start)))
			start = g_utf8_next_char(start);
		for (p = end = start; *p != '\0'; p = next) {
			next = g_utf8_next_char(p);
			if (!g_unichar_isspace(g_utf8_get_char(p)))
				end = next;
		}
	}
	if ((r = malloc((size_t)(end - start) + 1)) == NULL) {
		g_free(norm);
		return refuse(err, why, SP_FIELD_R_NOMEM, "out of memory");
	}
	for (p = start, w = r; p < end && st == SP_OK; p = next) {
		gunichar c = g_utf8_get_char(p);

		next = g_utf8_next_char(p);
		if (c == '\r' && (flags & SP_FIELD_MULTILINE)) {
			if (next < end && *next == '\n')
				continue;
			*w++ = '\n';
			nchars++;
			continue;
		}
		if ((c == '\n' || c == '\t') && (flags & SP_FIELD_MULTILINE))
			;
		else if (c == '\n' || c == '\r')
			st = refuse(err, why, SP_FIELD_R_CONTROL, "This must be a single line");
		else if (is_control(c))
			st = refuse(err, why, SP_FIELD_R_CONTROL, "%s", not_allowed);
		else if (is_bidi(c) && !(flags & SP_FIELD_ALLOW_BIDI))
			st = refuse(err, why, SP_FIELD_R_BIDI,
			    "This contains characters that change the direction of text, "
			    "which are not allowed");
		else if (is_invisible(c) && !(flags & SP_FIELD_ALLOW_INVISIBLE))
			st = refuse(err, why, SP_FIELD_R_INVISIBLE,
			    "This contains invisible characters, which are not allowed");
		if (st != SP_OK)
			break;
		memcpy(w, p, (size_t)(next - p));
		w += next - p;
		nchars++;
	}
	g_free(norm);
	if (st == SP_OK) {
		*w = '\0';
		if (w == r && (flags & SP_FIELD_REQUIRED))
			st = refuse(err, why, SP_FIELD_R_REQUIRED, "This field is required");
		else if (max_chars > 0 && nchars > max_chars)
			st = too_long(err, why, max_chars, max_bytes, 0);
		else if (max_bytes > 0 && (size_t)(w - r) > max_bytes)
			st = too_long(err, why, max_chars, max_bytes, 1);
	}
	if (st != SP_OK) {
		free(r);
		return st;
	}
	*out = r;
	return SP_OK;
}

/* --- email addresses ----------------------------------------------------- */

static int
is_atext(unsigned char c)
{
	return g_ascii_isalnum(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

static int
is_ascii_ws(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* Canonical copy of the valid UTF-8 s[0..n): NFC, lower-cased when lower
 * (ASCII first, so the Turkish-locale rule for 'I' cannot apply).
 * g_malloc'd; NULL only when GLib refuses the text. */
static char *
canon_part(const char *s, size_t n, int lower)
{
	char *a, *b;
	size_t i;
	int ascii = 1;

	a = g_strndup(s, n);
	for (i = 0; i < n; i++) {
		if ((unsigned char)a[i] >= 0x80)
			ascii = 0;
		else if (lower)
			a[i] = g_ascii_tolower(a[i]);
	}
	if (ascii)
		return a;
	b = g_utf8_normalize(a, -1, G_NORMALIZE_NFC);
	g_free(a);
	if (b == NULL || !lower)
		return b;
	a = g_utf8_strdown(b, -1);
	g_free(b);
	if (a == NULL)
		return NULL;
	b = g_utf8_normalize(a, -1, G_NORMALIZE_NFC);
	g_free(a);
	return b;
}

/* Message for a part too long: "characters" when it is ASCII (where bytes
 * and characters agree), "bytes" otherwise. */
static const char *
unit(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return "bytes";
	return "characters";
}

static int
check_local(const char *l, size_t n, enum sp_field_reason *why, struct sp_err *err)
{
	const char *p, *end = l + n;
	int prev_dot = 1;

	if (n == 0)
		return refuse(err, why, SP_FIELD_R_ADDR_LOCAL, "the part before @ is empty");
	if (n > SP_ADDR_LOCAL_MAX)
		return refuse(err, why, SP_FIELD_R_ADDR_LOCAL,
		    "the part before @ is too long: at most %d %s", SP_ADDR_LOCAL_MAX, unit(l, n));
	if (l[0] == '"')
		return refuse(err, why, SP_FIELD_R_ADDR_LOCAL,
		    "the part before @ must not be in quotes");
	for (p = l; p < end; ) {
		unsigned char b = (unsigned char)*p;

		if (b == '.') {
			if (prev_dot)
				break;
			prev_dot = 1;
			p++;
			continue;
		}
		if (b < 0x80) {
			if (!is_atext(b))
				return refuse(err, why, SP_FIELD_R_ADDR_LOCAL,
				    "the part before @ contains characters that are not allowed");
			p++;
		} else {
			gunichar c = g_utf8_get_char(p);

			if (!addr_unichar_ok(c) || (prev_dot && is_mark(c)))
				return refuse(err, why, SP_FIELD_R_ADDR_LOCAL,
				    "the part before @ contains characters that are not allowed");
			p = g_utf8_next_char(p);
		}
		prev_dot = 0;
	}
	if (prev_dot)
		return refuse(err, why, SP_FIELD_R_ADDR_LOCAL,
		    "the part before @ must not start or end with a dot or have two dots in a row");
	return SP_OK;
}

static int
not_domain(enum sp_field_reason *why, struct sp_err *err)
{
	return refuse(err, why, SP_FIELD_R_ADDR_DOMAIN, "the part after @ is not a domain name");
}

static int
check_domain(const char *d, size_t n, unsigned flags, enum sp_field_reason *why,
    struct sp_err *err)
{
	const char *p, *ls, *end = d + n;
	size_t labels = 0;
	int digits_only = 1;

	if (n == 0)
		return refuse(err, why, SP_FIELD_R_ADDR_DOMAIN, "the part after @ is empty");
	if (d[n - 1] == '.')
		return refuse(err, why, SP_FIELD_R_ADDR_DOMAIN,
		    "the part after @ must not end with a dot");
	for (ls = p = d; ; ) {
		if (p == end || *p == '.') {
			size_t len = (size_t)(p - ls);

			if (len == 0 || ls[0] == '-' || p[-1] == '-')
				return not_domain(why, err);
			if (len > SP_ADDR_LABEL_MAX)
				return refuse(err, why, SP_FIELD_R_ADDR_DOMAIN,
				    "the part after @ has a piece longer than %d %s",
				    SP_ADDR_LABEL_MAX, unit(ls, len));
			labels++;
			if (p == end)
				break;
			ls = ++p;
			digits_only = 1;
			continue;
		}
		if ((unsigned char)*p < 0x80) {
			if (!g_ascii_isalnum(*p) && *p != '-')
				return not_domain(why, err);
			if (!g_ascii_isdigit(*p))
				digits_only = 0;
			p++;
		} else {
			gunichar c = g_utf8_get_char(p);

			if (!addr_unichar_ok(c) || (p == ls && is_mark(c)))
				return not_domain(why, err);
			digits_only = 0;
			p = g_utf8_next_char(p);
		}
	}
	if (digits_only)
		return not_domain(why, err);
	if (labels < 2 && !(flags & SP_ADDR_ALLOW_DOTLESS))
		return refuse(err, why, SP_FIELD_R_ADDR_DOTLESS,
		    "the part after @ is not a full domain name (like example.org)");
	return SP_OK;
}

/* [a.b.c.d] strictly (no leading zeros), or [IPv6:...] rewritten in its
 * RFC 5952 form.  d[0..n) starts with '['.  Writes the canonical literal
 * (NUL-terminated) into lit. */
static int
check_ip(const char *d, size_t n, char lit[64], enum sp_field_reason *why, struct sp_err *err)
{
	static const char bad[] = "the part after @ is not a valid IP address";
	unsigned char a6[16];
	char text[48];		/* >= INET6_ADDRSTRLEN */
	size_t i, in;
	const char *in_p = d + 1;

	if (n < 3 || d[n - 1] != ']' || (in = n - 2) >= sizeof(text) + 5)
		return refuse(err, why, SP_FIELD_R_ADDR_IP, "%s", bad);
	if (in > 5 && g_ascii_strncasecmp(in_p, "IPv6:", 5) == 0) {
		/* in - 5 < sizeof(text) by the test above */
		memcpy(text, in_p + 5, in - 5);
		text[in - 5] = '\0';
		for (i = 0; text[i] != '\0'; i++)
			if (!g_ascii_isxdigit(text[i]) && text[i] != ':' && text[i] != '.')
				return refuse(err, why, SP_FIELD_R_ADDR_IP, "%s", bad);
		if (inet_pton(AF_INET6, text, a6) != 1 ||
		    inet_ntop(AF_INET6, a6, text, sizeof(text)) == NULL)
			return refuse(err, why, SP_FIELD_R_ADDR_IP, "%s", bad);
		snprintf(lit, 64, "[IPv6:%s]", text);
		return SP_OK;
	} else {
		int parts = 0, digits = 0, val = 0;

		for (i = 0; i <= in; i++) {
			char c = i < in ? in_p[i] : '.';

			if (c == '.') {
				if (digits == 0 || val > 255 || ++parts > 4)
					return refuse(err, why, SP_FIELD_R_ADDR_IP, "%s", bad);
				digits = val = 0;
			} else if (g_ascii_isdigit(c)) {
				if ((digits > 0 && val == 0) || ++digits > 3)
					return refuse(err, why, SP_FIELD_R_ADDR_IP, "%s", bad);
				val = val * 10 + (c - '0');
			} else
				return refuse(err, why, SP_FIELD_R_ADDR_IP, "%s", bad);
		}
		if (parts != 4)
			return refuse(err, why, SP_FIELD_R_ADDR_IP, "%s", bad);
		memcpy(lit, d, n);
		lit[n] = '\0';
		return SP_OK;
	}
}

int
sp_addr_parse(const char *s, size_t n, unsigned flags, char out[SP_ADDR_MAX + 1],
    enum sp_field_reason *why, struct sp_err *err)
{
	const char *at, *dom;
	char *local = NULL, *domain = NULL, lit[64];
	size_t i, ln, dn;
	int st;

	if (why != NULL)
		*why = SP_FIELD_R_OK;
	if (out == NULL || (s == NULL && n > 0))
		return refuse(err, why, SP_FIELD_R_ARG, "internal error: bad arguments");
	out[0] = '\0';
	if (s == NULL)
		s = "";
	if (n > SP_FIELD_INPUT_MAX)
		return refuse(err, why, SP_FIELD_R_TOO_LONG,
		    "the address is too long: at most %d characters", SP_ADDR_MAX);
	while (n > 0 && is_ascii_ws((unsigned char)s[0])) {
		s++;
		n--;
	}
	while (n > 0 && is_ascii_ws((unsigned char)s[n - 1]))
		n--;
	if (n == 0)
		return refuse(err, why, SP_FIELD_R_REQUIRED, "the address is empty");
	if (n > SP_ADDR_MAX)
		return refuse(err, why, SP_FIELD_R_TOO_LONG,
		    "the address is too long: at most %d %s", SP_ADDR_MAX, unit(s, n));
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == ' ' || c == '\t')
			return refuse(err, why, SP_FIELD_R_BAD_CHAR,
			    "the address must not contain spaces");
		if (c < 0x20 || c == 0x7f)
			return refuse(err, why, c == 0 ? SP_FIELD_R_NUL : SP_FIELD_R_CONTROL,
			    "the address contains characters that are not allowed");
		if (c == '<' || c == '>')
			return refuse(err, why, SP_FIELD_R_BAD_CHAR,
			    "write the address alone, without < and >");
		if (c == ',' || c == ';')
			return refuse(err, why, SP_FIELD_R_BAD_CHAR,
			    "write only one address");
	}
	if (!g_utf8_validate(s, (gssize)n, NULL))
		return refuse(err, why, SP_FIELD_R_BAD_UTF8,
		    "the address contains characters that are not allowed (it is not valid UTF-8 text)");
	if ((at = memchr(s, '@', n)) == NULL)
		return refuse(err, why, SP_FIELD_R_ADDR_NO_AT, "the address has no @");
	dom = at + 1;
	dn = n - (size_t)(dom - s);
	if (memchr(dom, '@', dn) != NULL)
		return refuse(err, why, SP_FIELD_R_ADDR_MANY_AT, "the address has more than one @");
	ln = (size_t)(at - s);
	if (ln == 0)
		return refuse(err, why, SP_FIELD_R_ADDR_LOCAL, "the part before @ is empty");

	local = canon_part(s, ln, (flags & SP_ADDR_FOLD_LOCAL) != 0);
	if (local == NULL)
		return refuse(err, why, SP_FIELD_R_BAD_UTF8,
		    "the address contains characters that are not allowed");
	if ((st = check_local(local, strlen(local), why, err)) != SP_OK)
		goto done;
	if (dn > 0 && dom[0] == '[') {
		if (!(flags & SP_ADDR_ALLOW_IP)) {
			st = refuse(err, why, SP_FIELD_R_ADDR_IP,
			    "the part after @ must be a domain name, not an IP address");
			goto done;
		}
		if ((st = check_ip(dom, dn, lit, why, err)) != SP_OK)
			goto done;
		domain = g_strdup(lit);
	} else {
		if ((domain = canon_part(dom, dn, 1)) == NULL) {
			st = refuse(err, why, SP_FIELD_R_BAD_UTF8,
			    "the address contains characters that are not allowed");
			goto done;
		}
		if ((st = check_domain(domain, strlen(domain), flags, why, err)) != SP_OK)
			goto done;
	}
	ln = strlen(local);
	dn = strlen(domain);
	if (ln + 1 + dn > SP_ADDR_MAX) {
		st = refuse(err, why, SP_FIELD_R_TOO_LONG,
		    "the address is too long: at most %d %s", SP_ADDR_MAX, unit(s, n));
		goto done;
	}
	memcpy(out, local, ln);
	out[ln] = '@';
	memcpy(out + ln + 1, domain, dn);
	out[ln + 1 + dn] = '\0';
	st = SP_OK;
done:
	g_free(local);
	g_free(domain);
	return st;
}

/* --- tokens and numbers -------------------------------------------------- */

int
sp_field_token(const char *s, size_t n, size_t min, size_t max,
    enum sp_field_reason *why, struct sp_err *err)
{
	size_t i;

	if (why != NULL)
		*why = SP_FIELD_R_OK;
	if ((s == NULL && n > 0) || max < min)
		return refuse(err, why, SP_FIELD_R_ARG, "internal error: bad arguments");
	if (n == 0 && min > 0)
		return refuse(err, why, SP_FIELD_R_REQUIRED, "This field is required");
	if (n < min)
		return refuse(err, why, SP_FIELD_R_TOO_SHORT,
		    "This is too short: at least %zu characters", min);
	if (n > max)
		return refuse(err, why, SP_FIELD_R_TOO_LONG,
		    "This is too long: at most %zu characters", max);
	for (i = 0; i < n; i++)
		if (!g_ascii_isalnum(s[i]) && s[i] != '-' && s[i] != '_')
			return refuse(err, why, s[i] == '\0' ? SP_FIELD_R_NUL : SP_FIELD_R_BAD_CHAR,
			    "%s", not_allowed);
	return SP_OK;
}

int
sp_field_int(const char *s, size_t n, long long min, long long max, long long *out,
    enum sp_field_reason *why, struct sp_err *err)
{
	char buf[32], *end;
	size_t i = 0, first;
	long long v;
	int neg = 0;

	if (why != NULL)
		*why = SP_FIELD_R_OK;
	if (out == NULL || (s == NULL && n > 0) || max < min)
		return refuse(err, why, SP_FIELD_R_ARG, "internal error: bad arguments");
	*out = 0;
	if (n == 0)
		return refuse(err, why, SP_FIELD_R_REQUIRED, "This field is required");
	if (s[0] == '-') {
		neg = 1;
		i = 1;
	}
	if (i == n)
		return refuse(err, why, SP_FIELD_R_NOT_NUMBER, "This must be a whole number");
	for (first = i; i < n; i++)
		if (!g_ascii_isdigit(s[i]))
			return refuse(err, why, s[i] == '\0' ? SP_FIELD_R_NUL : SP_FIELD_R_NOT_NUMBER,
			    "This must be a whole number");
	if (neg && min >= 0)
		goto range;
	/* Drop leading zeros (keeping one digit): what is left must fit. */
	while (first + 1 < n && s[first] == '0')
		first++;
	if (n - first > 20)
		goto range;
	buf[0] = '-';
	memcpy(buf + neg, s + first, n - first);
	buf[neg + n - first] = '\0';
	errno = 0;
	v = strtoll(buf, &end, 10);
	if (end != buf + neg + (n - first))
		return refuse(err, why, SP_FIELD_R_NOT_NUMBER, "This must be a whole number");
	if (errno == ERANGE || v < min || v > max)
		goto range;
	*out = v;
	return SP_OK;
range:
	return refuse(err, why, SP_FIELD_R_RANGE, "This must be a number from %lld to %lld",
	    min, max);
}

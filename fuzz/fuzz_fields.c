/*
 * fuzz_fields.c - libFuzzer target for the field checkers (field.h), fed the
 * way the key server feeds them: the input is an
 * application/x-www-form-urlencoded body (split on '&' and '=' and
 * percent-decoded here, bounded), or, when it starts with '{', a JSON body
 * (jansson, duplicate keys refused, bounded size) whose every string member
 * and key is checked.  The whole input is also checked as one value.  Every
 * value goes through sp_field_text (several rule sets), sp_addr_parse
 * (several flag sets), sp_field_token and sp_field_int, and the harness
 * aborts when an invariant breaks: accepted text is valid NFC UTF-8 without
 * forbidden characters and within its limits, and checking it again gives
 * it back unchanged; a parsed address is at most SP_ADDR_MAX bytes with one
 * @ and parses again to itself; an accepted token or number matches its
 * alphabet and range; a refusal always carries a reason and a message.
 * SECURITY: exercises the code that checks untrusted form and JSON fields.
 */
#include <glib.h>
#include <jansson.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "field.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define BODY_MAX 65536
#define FIELDS_MAX 512

static const struct sp_field_rules text_rules[] = {
	{512, 128, SP_FIELD_TRIM | SP_FIELD_REQUIRED},
	{0, 0, 0},
	{4096, 2000, SP_FIELD_MULTILINE | SP_FIELD_TRIM},
	{16, 4, SP_FIELD_ALLOW_BIDI | SP_FIELD_ALLOW_INVISIBLE},
	{64, 0, SP_FIELD_MULTILINE | SP_FIELD_ALLOW_INVISIBLE | SP_FIELD_REQUIRED},
};

static const unsigned addr_flags[] = {
	0,
	SP_ADDR_FOLD_LOCAL,
	SP_ADDR_FOLD_LOCAL | SP_ADDR_ALLOW_DOTLESS,
	SP_ADDR_ALLOW_IP | SP_ADDR_ALLOW_DOTLESS,
};

static void
check_refusal(int st, enum sp_field_reason why, const struct sp_err *err)
{
	if (st == SP_OK || why == SP_FIELD_R_OK || err->msg[0] == '\0')
		abort();
}

/* Same tables as field.c, restated so the harness does not trust them. */
static int
forbidden(gunichar c, unsigned flags)
{
	if ((c == '\n' || c == '\t') && (flags & SP_FIELD_MULTILINE))
		return 0;
	if (c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0x2028 || c == 0x2029)
		return 1;
	if (!(flags & SP_FIELD_ALLOW_BIDI) &&
	    ((c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069)))
		return 1;
	if (!(flags & SP_FIELD_ALLOW_INVISIBLE) &&
	    ((c >= 0x200b && c <= 0x200f) || (c >= 0x2060 && c <= 0x2064) || c == 0xfeff))
		return 1;
	return 0;
}

static void
check_text(const char *v, size_t n, const struct sp_field_rules *r)
{
	enum sp_field_reason why;
	struct sp_err err = {{0}};
	char *out = NULL, *again = NULL, *nfc;
	const char *p;
	size_t len;
	int st;

	st = sp_field_text(v, n, r, &out, &why, &err);
	if (st != SP_OK) {
		check_refusal(st, why, &err);
		if (out != NULL)
			abort();
		return;
	}
	if (out == NULL || why != SP_FIELD_R_OK)
		abort();
	len = strlen(out);
	if (!g_utf8_validate(out, (gssize)len, NULL))
		abort();
	if (r->max_bytes > 0 && len > r->max_bytes)
		abort();
	if (r->max_chars > 0 && (size_t)g_utf8_strlen(out, (gssize)len) > r->max_chars)
		abort();
	if ((r->flags & SP_FIELD_REQUIRED) && len == 0)
		abort();
	if (len > 3 * n)	/* NFC grows text by at most 3x */
		abort();
	for (p = out; *p != '\0'; p = g_utf8_next_char(p))
		if (forbidden(g_utf8_get_char(p), r->flags))
			abort();
	if ((r->flags & SP_FIELD_TRIM) && len > 0 &&
	    (g_unichar_isspace(g_utf8_get_char(out)) ||
	     g_unichar_isspace(g_utf8_get_char(g_utf8_find_prev_char(out, out + len)))))
		abort();
	if ((nfc = g_utf8_normalize(out, (gssize)len, G_NORMALIZE_NFC)) == NULL ||
	    strcmp(nfc, out) != 0)
		abort();
	g_free(nfc);
	/* Idempotent: the result passes again, unchanged. */
	if (sp_field_text(out, len, r, &again, &why, &err) != SP_OK || strcmp(again, out) != 0)
		abort();
	free(again);
	free(out);
}

static void
check_addr(const char *v, size_t n, unsigned flags)
{
	enum sp_field_reason why;
	struct sp_err err = {{0}};
	char out[SP_ADDR_MAX + 1], again[SP_ADDR_MAX + 1];
	const char *at, *p;
	size_t len;
	int st;

	memset(out, 'z', sizeof(out));
	st = sp_addr_parse(v, n, flags, out, &why, &err);
	if (st != SP_OK) {
		check_refusal(st, why, &err);
		if (out[0] != '\0')
			abort();
		return;
	}
	len = strnlen(out, sizeof(out));
	if (len == 0 || len > SP_ADDR_MAX || !g_utf8_validate(out, (gssize)len, NULL))
		abort();
	if ((at = strchr(out, '@')) == NULL || strchr(at + 1, '@') != NULL || at == out ||
	    at[1] == '\0' || (size_t)(at - out) > SP_ADDR_LOCAL_MAX)
		abort();
	for (p = out; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (c <= ' ' || c == 0x7f || c == '"' || c == '<' || c == '>' || c == ',' ||
		    c == ';' || c == '\\' || c == '(' || c == ')')
			abort();
		/* The domain is lower-case (bar the IPv6 tag); the local part too
		 * when folded. */
		if (g_ascii_isupper(c) && (p > at || (flags & SP_ADDR_FOLD_LOCAL)) &&
		    !(at[1] == '[' && p > at && p < at + 6))
			abort();
	}
	if (out[len - 1] == '.' || at[-1] == '.' || out[0] == '.' || strstr(out, "..") != NULL)
		abort();
	if (!(flags & SP_ADDR_ALLOW_IP) && at[1] == '[')
		abort();
	if (!(flags & SP_ADDR_ALLOW_DOTLESS) && at[1] != '[' && strchr(at + 1, '.') == NULL)
		abort();
	/* The canonical form is a fixed point. */
	if (sp_addr_parse(out, len, flags, again, &why, &err) != SP_OK || strcmp(again, out) != 0)
		abort();
}

static void
check_token(const char *v, size_t n)
{
	enum sp_field_reason why;
	struct sp_err err = {{0}};
	size_t i;
	int st = sp_field_token(v, n, 1, 64, &why, &err);

	if (st != SP_OK) {
		check_refusal(st, why, &err);
		return;
	}
	if (n < 1 || n > 64)
		abort();
	for (i = 0; i < n; i++)
		if (!g_ascii_isalnum(v[i]) && v[i] != '-' && v[i] != '_')
			abort();
}

static void
check_int(const char *v, size_t n, long long min, long long max)
{
	enum sp_field_reason why;
	struct sp_err err = {{0}};
	long long x = 1;
	size_t i;
	int st = sp_field_int(v, n, min, max, &x, &why, &err);

	if (st != SP_OK) {
		check_refusal(st, why, &err);
		if (x != 0)
			abort();
		return;
	}
	if (x < min || x > max || n == 0)
		abort();
	for (i = 0; i < n; i++)
		if (!g_ascii_isdigit(v[i]) && !(i == 0 && v[i] == '-' && min < 0))
			abort();
}

static void
check_value(const char *v, size_t n)
{
	size_t i;

	for (i = 0; i < sizeof(text_rules) / sizeof(text_rules[0]); i++)
		check_text(v, n, &text_rules[i]);
	for (i = 0; i < sizeof(addr_flags) / sizeof(addr_flags[0]); i++)
		check_addr(v, n, addr_flags[i]);
	check_token(v, n);
	check_int(v, n, -1000, 1000000);
	check_int(v, n, LLONG_MIN, LLONG_MAX);
	check_int(v, n, 0, LLONG_MAX);
}

static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode s[0..n) into out (room for n bytes), '+' as space; a '%'
 * not followed by two hex digits stays as it is.  Returns the length. */
static size_t
form_decode(const char *s, size_t n, char *out)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		int hi, lo;

		if (s[i] == '+')
			out[o++] = ' ';
		else if (s[i] == '%' && i + 2 < n &&
		    (hi = hexval((unsigned char)s[i + 1])) >= 0 &&
		    (lo = hexval((unsigned char)s[i + 2])) >= 0) {
			out[o++] = (char)(hi * 16 + lo);
			i += 2;
		} else
			out[o++] = s[i];
	}
	return o;
}

static void
check_form(const char *s, size_t n)
{
	char *buf = malloc(n + 1);
	const char *p = s, *end = s + n, *amp, *eq;
	int fields = 0;

	if (buf == NULL)
		return;
	for (;;) {
		size_t len;

		if ((amp = memchr(p, '&', (size_t)(end - p))) == NULL)
			amp = end;
		if ((eq = memchr(p, '=', (size_t)(amp - p))) == NULL)
			eq = amp;
		len = form_decode(p, (size_t)(eq - p), buf);	/* the name */
		check_text(buf, len, &text_rules[0]);
		check_token(buf, len);
		if (eq < amp) {
			len = form_decode(eq + 1, (size_t)(amp - eq - 1), buf);
			check_value(buf, len);
		}
		if (amp == end || ++fields >= FIELDS_MAX)
			break;
		p = amp + 1;
	}
	free(buf);
}

static void
check_json(json_t *j, int depth)
{
	const char *key;
	json_t *v;
	size_t i;

	if (depth > 64)
		return;
	if (json_is_string(j))
		check_value(json_string_value(j), json_string_length(j));
	else if (json_is_object(j)) {
		json_object_foreach(j, key, v) {
			check_text(key, strlen(key), &text_rules[0]);
			check_json(v, depth + 1);
		}
	} else if (json_is_array(j)) {
		json_array_foreach(j, i, v)
			check_json(v, depth + 1);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;

	if (size > BODY_MAX)
		return 0;
	check_value(s, size);
	if (size > 0 && s[0] == '{') {
		json_error_t jerr;
		json_t *j = json_loadb(s, size, JSON_REJECT_DUPLICATES, &jerr);

		if (j != NULL) {
			check_json(j, 0);
			json_decref(j);
		}
	} else
		check_form(s, size);
	return 0;
}

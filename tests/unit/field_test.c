/*
 * field_test.c - the form and JSON field checkers: text (UTF-8 validity,
 * NFC, NUL, controls, bidi and invisible characters, trimming, limits in
 * bytes and characters), email addresses (canonical form and refusals),
 * tokens and whole numbers.
 */
#include <stdlib.h>
#include <string.h>

#include "field.h"
#include "t.h"

/* A string literal as pointer + length, so embedded NUL bytes count. */
#define S(x) x, sizeof(x) - 1

enum { NL = SP_FIELD_MULTILINE, TR = SP_FIELD_TRIM, RQ = SP_FIELD_REQUIRED };

static const struct {
	const char *in;
	size_t n;
	size_t max_bytes, max_chars;
	unsigned flags;
	enum sp_field_reason why;	/* SP_FIELD_R_OK: accepted */
	const char *out;		/* expected result when accepted */
	const char *msg;		/* substring of the refusal */
} text_cases[] = {
	{S("Pat"), 0, 0, 0, SP_FIELD_R_OK, "Pat", NULL},
	{S(""), 0, 0, 0, SP_FIELD_R_OK, "", NULL},
	{S(""), 0, 0, RQ, SP_FIELD_R_REQUIRED, NULL, "This field is required"},
	{S("   "), 0, 0, RQ | TR, SP_FIELD_R_REQUIRED, NULL, "required"},
	{S("   "), 0, 0, TR, SP_FIELD_R_OK, "", NULL},
	{S("  Pat Smith \t"), 0, 0, TR, SP_FIELD_R_OK, "Pat Smith", NULL},
	{S("  Pat  "), 0, 0, 0, SP_FIELD_R_OK, "  Pat  ", NULL},
	/* Unicode white space trims too (NBSP, ideographic space). */
	{S("\xc2\xa0Pat\xe3\x80\x80"), 0, 0, TR, SP_FIELD_R_OK, "Pat", NULL},
	/* A trailing newline from a paste is trimmed, not refused. */
	{S("Pat\r\n"), 0, 0, TR, SP_FIELD_R_OK, "Pat", NULL},
	/* NFC: e + combining acute becomes U+00E9. */
	{S("Caf" "e\xcc\x81"), 0, 0, 0, SP_FIELD_R_OK, "Caf\xc3\xa9", NULL},
	{S("e\xcc\x81"), 2, 1, 0, SP_FIELD_R_OK, "\xc3\xa9", NULL},
	/* Hangul jamo L V T compose into one syllable (9 bytes -> 3). */
	{S("\xe1\x84\x92\xe1\x85\xa1\xe1\x86\xab"), 3, 1, 0, SP_FIELD_R_OK, "\xed\x95\x9c", NULL},
	/* NFC, not NFKC: the "fi" ligature and fullwidth letters stay. */
	{S("\xef\xac\x81"), 0, 0, 0, SP_FIELD_R_OK, "\xef\xac\x81", NULL},
	/* Embedded NUL is refused, not truncated. */
	{S("A\0B"), 0, 0, 0, SP_FIELD_R_NUL, NULL, "not allowed"},
	{S("\0"), 0, 0, 0, SP_FIELD_R_NUL, NULL, "not allowed"},
	/* Invalid UTF-8. */
	{S("\xff"), 0, 0, 0, SP_FIELD_R_BAD_UTF8, NULL, "UTF-8"},
	{S("\xc3"), 0, 0, 0, SP_FIELD_R_BAD_UTF8, NULL, NULL},			/* truncated */
	{S("ab\xe2\x82"), 0, 0, 0, SP_FIELD_R_BAD_UTF8, NULL, NULL},		/* truncated */
	{S("\xf0\x9f\x98"), 0, 0, 0, SP_FIELD_R_BAD_UTF8, NULL, NULL},	/* truncated */
	{S("\xc0\xaf"), 0, 0, 0, SP_FIELD_R_BAD_UTF8, NULL, NULL},		/* overlong '/' */
	{S("\xc1\xbf"), 0, 0, 0, SP_FIELD_R_BAD_UTF8, NULL, NULL},		/* overlong */
	{S("\xe0\x80\xaf"), 0, 0, 0, SP_FIELD_R_BAD_UTF8, NULL, NULL},	/* overlong */
	{S("\xf0\x80\x80\xaf"), 0, 0, 0, SP_FIELD_R_BAD_UTF8, NULL, NULL},	/* overlong */
	{S("\xc0\x80"), 0, 0, 0, SP_FIELD_R_BAD_UTF8, NULL, NULL},		/* overlong NUL */
	{S("\xed\xa0\x80"), 0, 0, 0, SP_FIELD_R_BAD_UTF8, NULL, NULL},	/* U+D800 */
	{S("\xed\xbf\xbf"), 0, 0, 0, SP_FIELD_R_BAD_UTF8, NULL, NULL},	/* U+DFFF */
	{S("\xed\xa0\xbd\xed\xb8\x80"), 0, 0, 0, SP_FIELD_R_BAD_UTF8, NULL, NULL}, /* CESU pair */
	{S("\xf4\x90\x80\x80"), 0, 0, 0, SP_FIELD_R_BAD_UTF8, NULL, NULL},	/* > U+10FFFF */
	{S("\xf8\x88\x80\x80\x80"), 0, 0, 0, SP_FIELD_R_BAD_UTF8, NULL, NULL},	/* 5 bytes */
	{S("\x80"), 0, 0, 0, SP_FIELD_R_BAD_UTF8, NULL, NULL},			/* lone continuation */
	{S("\xf0\x9f\x98\x80"), 0, 0, 0, SP_FIELD_R_OK, "\xf0\x9f\x98\x80", NULL},	/* emoji */
	/* Controls. */
	{S("a\x01" "b"), 0, 0, 0, SP_FIELD_R_CONTROL, NULL, "not allowed"},
	{S("a\x1b[31mb"), 0, 0, 0, SP_FIELD_R_CONTROL, NULL, "not allowed"},
	{S("a\x7f"), 0, 0, 0, SP_FIELD_R_CONTROL, NULL, NULL},			/* DEL */
	{S("a\xc2\x85" "b"), 0, 0, 0, SP_FIELD_R_CONTROL, NULL, NULL},	/* C1 NEL */
	{S("a\xc2\x9b" "b"), 0, 0, 0, SP_FIELD_R_CONTROL, NULL, NULL},	/* C1 CSI */
	{S("a\xe2\x80\xa8" "b"), 0, 0, 0, SP_FIELD_R_CONTROL, NULL, NULL},	/* U+2028 */
	{S("a\xe2\x80\xa8" "b"), 0, 0, NL, SP_FIELD_R_CONTROL, NULL, NULL},
	{S("line1\nline2"), 0, 0, 0, SP_FIELD_R_CONTROL, NULL, "single line"},
	{S("a\tb"), 0, 0, 0, SP_FIELD_R_CONTROL, NULL, NULL},
	{S("line1\nline2\tx"), 0, 0, NL, SP_FIELD_R_OK, "line1\nline2\tx", NULL},
	/* Browsers send text areas with CRLF; it becomes LF. */
	{S("a\r\nb\rc"), 0, 0, NL, SP_FIELD_R_OK, "a\nb\nc", NULL},
	{S("a\r\nb\r\n"), 0, 4, NL, SP_FIELD_R_OK, "a\nb\n", NULL},
	{S("a\x0b" "b"), 0, 0, NL, SP_FIELD_R_CONTROL, NULL, NULL},		/* VT */
	/* Bidi overrides and isolates. */
	{S("abc\xe2\x80\xae" "fdp.exe"), 0, 0, 0, SP_FIELD_R_BIDI, NULL, "direction"},
	{S("\xe2\x80\xaa" "x"), 0, 0, 0, SP_FIELD_R_BIDI, NULL, NULL},	/* U+202A */
	{S("x\xe2\x81\xa6" "y"), 0, 0, 0, SP_FIELD_R_BIDI, NULL, NULL},	/* U+2066 */
	{S("x\xe2\x81\xa9"), 0, 0, 0, SP_FIELD_R_BIDI, NULL, NULL},		/* U+2069 */
	{S("x\xe2\x81\xa9"), 0, 0, SP_FIELD_ALLOW_BIDI, SP_FIELD_R_OK, "x\xe2\x81\xa9", NULL},
	/* Invisible format characters. */
	{S("pay\xe2\x80\x8bpal"), 0, 0, 0, SP_FIELD_R_INVISIBLE, NULL, "invisible"},	/* ZWSP */
	{S("\xef\xbb\xbf" "x"), 0, 0, TR, SP_FIELD_R_INVISIBLE, NULL, NULL},		/* BOM */
	{S("x\xe2\x80\x8f"), 0, 0, 0, SP_FIELD_R_INVISIBLE, NULL, NULL},		/* RLM */
	{S("x\xe2\x81\xa0" "y"), 0, 0, 0, SP_FIELD_R_INVISIBLE, NULL, NULL},		/* WJ */
	{S("x\xf3\xa0\x81\x81"), 0, 0, 0, SP_FIELD_R_INVISIBLE, NULL, NULL},		/* tag A */
	/* ZWNJ is part of Persian spelling: a flag allows it. */
	{S("\xd9\x85\xdb\x8c\xe2\x80\x8c\xd8\xb1\xd9\x88\xd9\x85"), 0, 0,
	    SP_FIELD_ALLOW_INVISIBLE, SP_FIELD_R_OK,
	    "\xd9\x85\xdb\x8c\xe2\x80\x8c\xd8\xb1\xd9\x88\xd9\x85", NULL},
	{S("x\xe2\x80\xae"), 0, 0, SP_FIELD_ALLOW_INVISIBLE, SP_FIELD_R_BIDI, NULL, NULL},
	/* Limits: characters vs bytes, after normalisation. */
	{S("abcde"), 0, 5, 0, SP_FIELD_R_OK, "abcde", NULL},
	{S("abcdef"), 0, 5, 0, SP_FIELD_R_TOO_LONG, NULL, "This is too long: at most 5 characters"},
	{S("abcdef"), 5, 0, 0, SP_FIELD_R_TOO_LONG, NULL, "at most 5 bytes"},
	/* Five two-byte characters: 5 characters, 10 bytes. */
	{S("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"), 10, 5, 0, SP_FIELD_R_OK,
	    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", NULL},
	{S("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"), 9, 5, 0, SP_FIELD_R_TOO_LONG, NULL, "bytes"},
	{S("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"), 0, 4, 0, SP_FIELD_R_TOO_LONG, NULL, "4 characters"},
	/* Decomposed input counts after NFC: 6 code points in, 3 out. */
	{S("e\xcc\x81" "e\xcc\x81" "e\xcc\x81"), 0, 3, 0, SP_FIELD_R_OK, "\xc3\xa9\xc3\xa9\xc3\xa9", NULL},
	/* Trimmed white space does not count. */
	{S("   abc   "), 3, 3, TR, SP_FIELD_R_OK, "abc", NULL},
	/* Far past the limit: refused before any work. */
	{S("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	   "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	   "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	   "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"),
	    1, 0, 0, SP_FIELD_R_TOO_LONG, NULL, "too long"},
};

static void
test_text(void)
{
	size_t i;

	for (i = 0; i < sizeof(text_cases) / sizeof(text_cases[0]); i++) {
		struct sp_field_rules rules = {text_cases[i].max_bytes, text_cases[i].max_chars,
		    text_cases[i].flags};
		enum sp_field_reason why = SP_FIELD_R_ARG;
		struct sp_err err = {{0}};
		char *out = (char *)"unset";
		int st = sp_field_text(text_cases[i].in, text_cases[i].n, &rules, &out, &why, &err);
		int ok = text_cases[i].why == SP_FIELD_R_OK;
		int bad = why != text_cases[i].why || (st == SP_OK) != ok ||
		    (!ok && (st != SP_ERR_INVALID || out != NULL || err.msg[0] == '\0')) ||
		    (ok && (out == NULL || strcmp(out, text_cases[i].out) != 0)) ||
		    (text_cases[i].msg && strstr(err.msg, text_cases[i].msg) == NULL);
		if (bad)
			fprintf(stderr, "text case %zu: status %d why %s msg '%s' out '%s'\n", i,
			    st, sp_field_reason_str(why), err.msg, out ? out : "(null)");
		T_CHECK(!bad);
		if (st == SP_OK)
			free(out);
	}
}

static void
test_text_misc(void)
{
	struct sp_err err;
	enum sp_field_reason why;
	char *out, *big;

	/* NULL rules: no limits; NULL with n 0 is the empty string. */
	T_EQ_INT(sp_field_text(S("x"), NULL, &out, NULL, NULL), SP_OK);
	T_CHECK(strcmp(out, "x") == 0);
	free(out);
	T_EQ_INT(sp_field_text(NULL, 0, NULL, &out, &why, &err), SP_OK);
	T_CHECK(out != NULL && out[0] == '\0');
	free(out);
	T_EQ_INT(sp_field_text(NULL, 3, NULL, &out, &why, &err), SP_ERR_INVALID);
	T_EQ_INT(why, SP_FIELD_R_ARG);
	T_EQ_INT(sp_field_text(S("x"), NULL, NULL, &why, &err), SP_ERR_INVALID);
	/* Over SP_FIELD_INPUT_MAX: refused whatever the rules. */
	big = malloc(SP_FIELD_INPUT_MAX + 1);
	T_CHECK(big != NULL);
	if (big != NULL) {
		memset(big, 'a', SP_FIELD_INPUT_MAX + 1);
		T_EQ_INT(sp_field_text(big, SP_FIELD_INPUT_MAX + 1, NULL, &out, &why, &err),
		    SP_ERR_INVALID);
		T_EQ_INT(why, SP_FIELD_R_TOO_LONG);
		T_EQ_INT(sp_field_text(big, SP_FIELD_INPUT_MAX, NULL, &out, &why, &err), SP_OK);
		T_EQ_INT(strlen(out), SP_FIELD_INPUT_MAX);
		free(out);
		free(big);
	}
	T_CHECK(strcmp(sp_field_reason_str(SP_FIELD_R_TOO_LONG), "too_long") == 0);
	T_CHECK(strcmp(sp_field_reason_str((enum sp_field_reason)999), "unknown") == 0);
}

enum { FL = SP_ADDR_FOLD_LOCAL, DL = SP_ADDR_ALLOW_DOTLESS, IP = SP_ADDR_ALLOW_IP };

static const struct {
	const char *in;
	size_t n;
	unsigned flags;
	enum sp_field_reason why;
	const char *out;	/* canonical form when accepted */
	const char *msg;	/* substring of the refusal */
} addr_cases[] = {
	{S("pat@example.org"), 0, SP_FIELD_R_OK, "pat@example.org", NULL},
	{S("A@B.C"), 0, SP_FIELD_R_OK, "A@b.c", NULL},
	{S("A@B.C"), FL, SP_FIELD_R_OK, "a@b.c", NULL},
	{S("Pat.Smith@Example.ORG"), FL, SP_FIELD_R_OK, "pat.smith@example.org", NULL},
	{S("  pat@example.org \r\n"), 0, SP_FIELD_R_OK, "pat@example.org", NULL},
	{S("first.last+tag@sub.example.co.uk"), 0, SP_FIELD_R_OK, "first.last+tag@sub.example.co.uk", NULL},
	{S("a!#$%&'*+-/=?^_`{|}~z@x.org"), 0, SP_FIELD_R_OK, "a!#$%&'*+-/=?^_`{|}~z@x.org", NULL},
	{S("x@a-b.org"), 0, SP_FIELD_R_OK, "x@a-b.org", NULL},
	{S("x@xn--bcher-kva.example"), 0, SP_FIELD_R_OK, "x@xn--bcher-kva.example", NULL},
	{S("x@123.example"), 0, SP_FIELD_R_OK, "x@123.example", NULL},
	{S("1@x.org"), 0, SP_FIELD_R_OK, "1@x.org", NULL},
	/* IDN domain: accepted and lower-cased. */
	{S("pat@b\xc3\xbc" "cher.example"), 0, SP_FIELD_R_OK, "pat@b\xc3\xbc" "cher.example", NULL},
	{S("pat@B\xc3\x9c" "CHER.Example"), 0, SP_FIELD_R_OK, "pat@b\xc3\xbc" "cher.example", NULL},
	/* Decomposed u + diaeresis becomes the NFC form. */
	{S("pat@bu\xcc\x88" "cher.example"), 0, SP_FIELD_R_OK, "pat@b\xc3\xbc" "cher.example", NULL},
	/* UTF-8 local part (RFC 6531), folded only with the flag. */
	{S("J\xc3\xb6rg@example.org"), 0, SP_FIELD_R_OK, "J\xc3\xb6rg@example.org", NULL},
	{S("J\xc3\x96RG@example.org"), FL, SP_FIELD_R_OK, "j\xc3\xb6rg@example.org", NULL},
	{S("\xe7\x94\xb0\xe4\xb8\xad@\xe4\xbe\x8b\xe3\x81\x88.jp"), 0, SP_FIELD_R_OK,
	    "\xe7\x94\xb0\xe4\xb8\xad@\xe4\xbe\x8b\xe3\x81\x88.jp", NULL},
	/* Intranet names only with the flag. */
	{S("greg@inbucket"), 0, SP_FIELD_R_ADDR_DOTLESS, NULL, "not a full domain name"},
	{S("greg@inbucket"), DL, SP_FIELD_R_OK, "greg@inbucket", NULL},
	{S("Guest@LOCALHOST"), DL | FL, SP_FIELD_R_OK, "guest@localhost", NULL},
	/* IP literals only with the flag. */
	{S("pat@[192.0.2.1]"), 0, SP_FIELD_R_ADDR_IP, NULL, "not an IP address"},
	{S("pat@[192.0.2.1]"), IP, SP_FIELD_R_OK, "pat@[192.0.2.1]", NULL},
	{S("pat@[192.0.2.256]"), IP, SP_FIELD_R_ADDR_IP, NULL, NULL},
	{S("pat@[192.0.2.01]"), IP, SP_FIELD_R_ADDR_IP, NULL, NULL},
	{S("pat@[192.0.2]"), IP, SP_FIELD_R_ADDR_IP, NULL, NULL},
	{S("pat@[1.2.3.4.5]"), IP, SP_FIELD_R_ADDR_IP, NULL, NULL},
	{S("pat@[IPv6:2001:DB8:0:0:0:0:0:1]"), IP, SP_FIELD_R_OK, "pat@[IPv6:2001:db8::1]", NULL},
	{S("pat@[ipv6:::1]"), IP, SP_FIELD_R_OK, "pat@[IPv6:::1]", NULL},
	{S("pat@[IPv6:xyz]"), IP, SP_FIELD_R_ADDR_IP, NULL, NULL},
	{S("pat@[192.0.2.1"), IP, SP_FIELD_R_ADDR_IP, NULL, NULL},
	{S("pat@192.0.2.1"), 0, SP_FIELD_R_ADDR_DOMAIN, NULL, "not a domain name"},
	/* Refusals. */
	{S(""), 0, SP_FIELD_R_REQUIRED, NULL, "empty"},
	{S("   "), 0, SP_FIELD_R_REQUIRED, NULL, "empty"},
	{S("pat.example.org"), 0, SP_FIELD_R_ADDR_NO_AT, NULL, "the address has no @"},
	{S("pat@@example.org"), 0, SP_FIELD_R_ADDR_MANY_AT, NULL, "more than one @"},
	{S("a@b@example.org"), 0, SP_FIELD_R_ADDR_MANY_AT, NULL, NULL},
	{S("@example.org"), 0, SP_FIELD_R_ADDR_LOCAL, NULL, "before @ is empty"},
	{S("pat@"), 0, SP_FIELD_R_ADDR_DOMAIN, NULL, "after @ is empty"},
	{S("\"quoted\"@x.org"), 0, SP_FIELD_R_ADDR_LOCAL, NULL, "quotes"},
	{S("a..b@x.org"), 0, SP_FIELD_R_ADDR_LOCAL, NULL, "two dots"},
	{S(".ab@x.org"), 0, SP_FIELD_R_ADDR_LOCAL, NULL, "dot"},
	{S("ab.@x.org"), 0, SP_FIELD_R_ADDR_LOCAL, NULL, "dot"},
	{S("pat@example.org."), 0, SP_FIELD_R_ADDR_DOMAIN, NULL, "end with a dot"},
	{S("pat@.example.org"), 0, SP_FIELD_R_ADDR_DOMAIN, NULL, "not a domain name"},
	{S("pat@example..org"), 0, SP_FIELD_R_ADDR_DOMAIN, NULL, "not a domain name"},
	{S("pat@-bad.org"), 0, SP_FIELD_R_ADDR_DOMAIN, NULL, "not a domain name"},
	{S("pat@bad-.org"), 0, SP_FIELD_R_ADDR_DOMAIN, NULL, NULL},
	{S("pat@exa_mple.org"), 0, SP_FIELD_R_ADDR_DOMAIN, NULL, "not a domain name"},
	{S("pat@exa+mple.org"), 0, SP_FIELD_R_ADDR_DOMAIN, NULL, NULL},
	{S("pat@example.123"), 0, SP_FIELD_R_ADDR_DOMAIN, NULL, NULL},
	{S("pat smith@x.org"), 0, SP_FIELD_R_BAD_CHAR, NULL, "spaces"},
	{S("Pat <pat@x.org>"), 0, SP_FIELD_R_BAD_CHAR, NULL, NULL},
	{S("<pat@x.org>"), 0, SP_FIELD_R_BAD_CHAR, NULL, "without < and >"},
	{S("pat@x.org,jo@x.org"), 0, SP_FIELD_R_BAD_CHAR, NULL, "only one address"},
	{S("pat@x.org;"), 0, SP_FIELD_R_BAD_CHAR, NULL, NULL},
	{S("pat(comment)@x.org"), 0, SP_FIELD_R_ADDR_LOCAL, NULL, "not allowed"},
	{S("pa\\t@x.org"), 0, SP_FIELD_R_ADDR_LOCAL, NULL, NULL},
	{S("pa:t@x.org"), 0, SP_FIELD_R_ADDR_LOCAL, NULL, NULL},
	{S("pa[t]@x.org"), 0, SP_FIELD_R_ADDR_LOCAL, NULL, NULL},
	{S("pat@x.org\0evil.org"), 0, SP_FIELD_R_NUL, NULL, "not allowed"},
	{S("pat\r\n@x.org"), 0, SP_FIELD_R_CONTROL, NULL, NULL},
	{S("pat@x.org\r\nBcc: a@b.c"), 0, SP_FIELD_R_CONTROL, NULL, NULL},
	{S("pat\x7f@x.org"), 0, SP_FIELD_R_CONTROL, NULL, NULL},
	{S("p\xff" "at@x.org"), 0, SP_FIELD_R_BAD_UTF8, NULL, "UTF-8"},
	{S("p\xc0\xaf" "at@x.org"), 0, SP_FIELD_R_BAD_UTF8, NULL, NULL},
	{S("pat@b\xc3" ".example"), 0, SP_FIELD_R_BAD_UTF8, NULL, NULL},
	/* Look-alikes and invisible characters in non-ASCII parts. */
	{S("pat\xef\xbc\xa0x.org"), 0, SP_FIELD_R_ADDR_NO_AT, NULL, NULL},		/* fullwidth @ */
	{S("pat@x\xe3\x80\x82org"), DL, SP_FIELD_R_ADDR_DOMAIN, NULL, NULL},	/* ideographic dot */
	{S("pa\xe2\x80\x8bt@x.org"), 0, SP_FIELD_R_ADDR_LOCAL, NULL, NULL},		/* ZWSP */
	{S("pat\xe2\x80\xae@x.org"), 0, SP_FIELD_R_ADDR_LOCAL, NULL, NULL},		/* RLO */
	{S("pat@ex\xe2\x80\x8d" "ample.org"), 0, SP_FIELD_R_ADDR_DOMAIN, NULL, NULL},	/* ZWJ */
	{S("pat\xc2\xa0x@x.org"), 0, SP_FIELD_R_ADDR_LOCAL, NULL, NULL},		/* NBSP */
	{S("pat\xc2\x85@x.org"), 0, SP_FIELD_R_ADDR_LOCAL, NULL, NULL},		/* C1 */
	{S("\xcc\x81pat@x.org"), 0, SP_FIELD_R_ADDR_LOCAL, NULL, NULL},		/* leading mark */
	{S("pat@\xcc\x81x.org"), 0, SP_FIELD_R_ADDR_DOMAIN, NULL, NULL},
	{S("pat@\xf0\x9f\x98\x80.org"), 0, SP_FIELD_R_ADDR_DOMAIN, NULL, NULL},	/* emoji */
	/* Lengths: local part 64 bytes is the most. */
	{S("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@x.org"), 0,
	    SP_FIELD_R_OK, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@x.org", NULL},
	{S("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@x.org"), 0,
	    SP_FIELD_R_ADDR_LOCAL, NULL, "at most 64 characters"},
	/* 22 two-byte letters = 44 bytes fine; 33 = 66 bytes too long. */
	{S("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	   "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	   "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9@x.org"),
	    0, SP_FIELD_R_ADDR_LOCAL, NULL, "64 bytes"},
	/* A 63-byte label is the most. */
	{S("p@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.org"), 0, SP_FIELD_R_OK,
	    "p@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.org", NULL},
	{S("p@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.org"), 0,
	    SP_FIELD_R_ADDR_DOMAIN, NULL, "longer than 63"},
};

static void
test_addr(void)
{
	size_t i;

	for (i = 0; i < sizeof(addr_cases) / sizeof(addr_cases[0]); i++) {
		enum sp_field_reason why = SP_FIELD_R_ARG, why2;
		struct sp_err err = {{0}};
		char out[SP_ADDR_MAX + 1], again[SP_ADDR_MAX + 1];
		int st, ok = addr_cases[i].why == SP_FIELD_R_OK;

		memset(out, 'z', sizeof(out));
		st = sp_addr_parse(addr_cases[i].in, addr_cases[i].n, addr_cases[i].flags, out,
		    &why, &err);
		int bad = why != addr_cases[i].why || (st == SP_OK) != ok ||
		    (!ok && (st != SP_ERR_INVALID || out[0] != '\0' || err.msg[0] == '\0')) ||
		    (ok && strcmp(out, addr_cases[i].out) != 0) ||
		    (addr_cases[i].msg && strstr(err.msg, addr_cases[i].msg) == NULL);
		if (bad)
			fprintf(stderr, "addr case %zu: status %d why %s msg '%s' out '%s'\n", i,
			    st, sp_field_reason_str(why), err.msg, ok || st == SP_OK ? out : "");
		T_CHECK(!bad);
		if (st == SP_OK) {
			/* The canonical form is a fixed point. */
			T_EQ_INT(sp_addr_parse(out, strlen(out), addr_cases[i].flags, again,
			    &why2, &err), SP_OK);
			T_CHECK(strcmp(out, again) == 0);
		}
	}
}

static void
test_addr_lengths(void)
{
	char in[400], out[SP_ADDR_MAX + 1];
	enum sp_field_reason why;
	struct sp_err err;
	size_t n;

	/* 64 + 1 + 189 = 254 bytes: the longest address. */
	memset(in, 'a', 64);
	in[64] = '@';
	n = 65;
	while (n + 62 < 254) {		/* labels of 61 'b' and a dot */
		memset(in + n, 'b', 61);
		in[n + 61] = '.';
		n += 62;
	}
	memset(in + n, 'c', 254 - n);
	n = 254;
	T_EQ_INT(sp_addr_parse(in, n, 0, out, &why, &err), SP_OK);
	T_EQ_INT(strlen(out), 254);
	in[n++] = 'c';
	T_EQ_INT(sp_addr_parse(in, n, 0, out, &why, &err), SP_ERR_INVALID);
	T_EQ_INT(why, SP_FIELD_R_TOO_LONG);
	T_CHECK(strstr(err.msg, "at most 254") != NULL);
	T_EQ_INT(sp_addr_parse(NULL, 0, 0, out, &why, &err), SP_ERR_INVALID);
	T_EQ_INT(why, SP_FIELD_R_REQUIRED);
	T_EQ_INT(sp_addr_parse(NULL, 1, 0, out, &why, &err), SP_ERR_INVALID);
	T_EQ_INT(why, SP_FIELD_R_ARG);
	/* err and why may be NULL. */
	T_EQ_INT(sp_addr_parse(S("x"), 0, out, NULL, NULL), SP_ERR_INVALID);
}

static const struct {
	const char *in;
	size_t n, min, max;
	enum sp_field_reason why;
} token_cases[] = {
	{S("abcDEF012-_"), 1, 64, SP_FIELD_R_OK},
	{S("AAAAAAAAAAAAAAAAAAAAAA"), 22, 22, SP_FIELD_R_OK},
	{S("AAAAAAAAAAAAAAAAAAAAA"), 22, 22, SP_FIELD_R_TOO_SHORT},
	{S("AAAAAAAAAAAAAAAAAAAAAAA"), 22, 22, SP_FIELD_R_TOO_LONG},
	{S(""), 1, 10, SP_FIELD_R_REQUIRED},
	{S(""), 0, 10, SP_FIELD_R_OK},
	{S("abc="), 1, 10, SP_FIELD_R_BAD_CHAR},
	{S("ab+/"), 1, 10, SP_FIELD_R_BAD_CHAR},
	{S("ab c"), 1, 10, SP_FIELD_R_BAD_CHAR},
	{S("ab.c"), 1, 10, SP_FIELD_R_BAD_CHAR},
	{S("ab\0c"), 1, 10, SP_FIELD_R_NUL},
	{S("ab\xc3\xa9"), 1, 10, SP_FIELD_R_BAD_CHAR},
	{S("abc\n"), 1, 10, SP_FIELD_R_BAD_CHAR},
};

static void
test_token(void)
{
	size_t i;

	for (i = 0; i < sizeof(token_cases) / sizeof(token_cases[0]); i++) {
		enum sp_field_reason why = SP_FIELD_R_ARG;
		struct sp_err err = {{0}};
		int st = sp_field_token(token_cases[i].in, token_cases[i].n, token_cases[i].min,
		    token_cases[i].max, &why, &err);

		int bad = why != token_cases[i].why || (st == SP_OK) != (why == SP_FIELD_R_OK) ||
		    (st != SP_OK && err.msg[0] == '\0');
		if (bad)
			fprintf(stderr, "token case %zu: status %d why %s\n", i, st,
			    sp_field_reason_str(why));
		T_CHECK(!bad);
	}
}

static const struct {
	const char *in;
	size_t n;
	long long min, max;
	enum sp_field_reason why;
	long long v;
} int_cases[] = {
	{S("0"), 0, 10, SP_FIELD_R_OK, 0},
	{S("10"), 0, 10, SP_FIELD_R_OK, 10},
	{S("11"), 0, 10, SP_FIELD_R_RANGE, 0},
	{S("007"), 0, 10, SP_FIELD_R_OK, 7},
	{S("00000000000000000000000000000000000000000000000000042"), 0, 100, SP_FIELD_R_OK, 42},
	{S("-1"), 0, 10, SP_FIELD_R_RANGE, 0},
	{S("-0"), 0, 10, SP_FIELD_R_RANGE, 0},
	{S("-5"), -10, 10, SP_FIELD_R_OK, -5},
	{S("-11"), -10, 10, SP_FIELD_R_RANGE, 0},
	{S("+5"), 0, 10, SP_FIELD_R_NOT_NUMBER, 0},
	{S("-"), -10, 10, SP_FIELD_R_NOT_NUMBER, 0},
	{S("--5"), -10, 10, SP_FIELD_R_NOT_NUMBER, 0},
	{S(""), 0, 10, SP_FIELD_R_REQUIRED, 0},
	{S(" 5"), 0, 10, SP_FIELD_R_NOT_NUMBER, 0},
	{S("5 "), 0, 10, SP_FIELD_R_NOT_NUMBER, 0},
	{S("5x"), 0, 10, SP_FIELD_R_NOT_NUMBER, 0},
	{S("0x5"), 0, 10, SP_FIELD_R_NOT_NUMBER, 0},
	{S("1e3"), 0, 10000, SP_FIELD_R_NOT_NUMBER, 0},
	{S("5.0"), 0, 10, SP_FIELD_R_NOT_NUMBER, 0},
	{S("5\0" "1"), 0, 100, SP_FIELD_R_NUL, 0},
	{S("\xd9\xa5"), 0, 10, SP_FIELD_R_NOT_NUMBER, 0},	/* Arabic-Indic five */
	{S("9223372036854775807"), 0, 9223372036854775807LL, SP_FIELD_R_OK, 9223372036854775807LL},
	{S("9223372036854775808"), 0, 9223372036854775807LL, SP_FIELD_R_RANGE, 0},
	{S("-9223372036854775808"), -9223372036854775807LL - 1, 0, SP_FIELD_R_OK,
	    -9223372036854775807LL - 1},
	{S("-9223372036854775809"), -9223372036854775807LL - 1, 0, SP_FIELD_R_RANGE, 0},
	{S("99999999999999999999999999999"), 0, 10, SP_FIELD_R_RANGE, 0},
};

static void
test_int(void)
{
	size_t i;
	long long v;
	enum sp_field_reason why;
	struct sp_err err;

	for (i = 0; i < sizeof(int_cases) / sizeof(int_cases[0]); i++) {
		int st;

		why = SP_FIELD_R_ARG;
		v = 12345;
		memset(&err, 0, sizeof(err));
		st = sp_field_int(int_cases[i].in, int_cases[i].n, int_cases[i].min,
		    int_cases[i].max, &v, &why, &err);
		int bad = why != int_cases[i].why || (st == SP_OK) != (why == SP_FIELD_R_OK) ||
		    v != int_cases[i].v || (st != SP_OK && err.msg[0] == '\0');
		if (bad)
			fprintf(stderr, "int case %zu: status %d why %s v %lld msg '%s'\n", i, st,
			    sp_field_reason_str(why), v, err.msg);
		T_CHECK(!bad);
	}
	T_EQ_INT(sp_field_int(S("50"), 1, 10, &v, &why, &err), SP_ERR_INVALID);
	T_CHECK(strstr(err.msg, "from 1 to 10") != NULL);
	T_EQ_INT(sp_field_int(S("5"), 10, 1, &v, &why, &err), SP_ERR_INVALID);
	T_EQ_INT(why, SP_FIELD_R_ARG);
}

T_MAIN(test_text, test_text_misc, test_addr, test_addr_lengths, test_token, test_int)

/*
 * log_test.c - the log (log.h): the untrusted-text filter log_clean() (CR/LF
 * injection, quotes and backslashes, UTF-8 bytes, the length cap, quoting
 * of values with spaces, small output buffers), and the form of a line
 * (time stamp, ident, event, level, errno, the second filter over the whole
 * line), captured through log_set_output().
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "t.h"

static const struct {
	const char *in;
	const char *out;
} clean_cases[] = {
	{"plain", "plain"},
	{"", "\"\""},
	{NULL, "-"},
	{"with space", "\"with space\""},
	{"a\r\nkeyd start forged=1", "\"a\\x0d\\x0akeyd start forged=1\""},
	{"x\ny", "x\\x0ay"},
	{"q\"uote", "q\\x22uote"},
	{"back\\slash", "back\\x5cslash"},
	{"tab\there", "tab\\x09here"},
	{"caf\xc3\xa9", "caf\\xc3\\xa9"},
	{"\x7f\x01", "\\x7f\\x01"},
	{"a=b", "a=b"},
	{"say \"hi\"", "\"say \\x22hi\\x22\""},
};

static void
test_clean(void)
{
	char out[LOG_CLEAN_SIZE];
	size_t i;

	for (i = 0; i < sizeof(clean_cases) / sizeof(clean_cases[0]); i++) {
		T_CHECK(log_clean(clean_cases[i].in, out, sizeof(out)) == out);
		if (strcmp(out, clean_cases[i].out) != 0)
			fprintf(stderr, "case %zu: got [%s] want [%s]\n", i, out, clean_cases[i].out);
		T_CHECK(strcmp(out, clean_cases[i].out) == 0);
	}
}

static void
test_clean_cut(void)
{
	char big[1000], out[LOG_CLEAN_SIZE], small[8];
	size_t i;

	/* long values are cut at LOG_VALUE_MAX input bytes, marked "..." */
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_clean(big, out, sizeof(out));
	T_EQ_INT(strlen(out), LOG_VALUE_MAX + 3);
	T_CHECK(strcmp(out + LOG_VALUE_MAX, "...") == 0);
	/* exactly the cap: not cut */
	big[LOG_VALUE_MAX] = '\0';
	log_clean(big, out, sizeof(out));
	T_EQ_INT(strlen(out), LOG_VALUE_MAX);
	/* the worst case fits in LOG_CLEAN_SIZE: every byte escaped, quoted */
	memset(big, '\n', sizeof(big) - 1);
	big[0] = ' ';
	big[sizeof(big) - 1] = '\0';
	log_clean(big, out, sizeof(out));
	T_EQ_INT(strlen(out), 1 + 1 + (LOG_VALUE_MAX - 1) * 4 + 3 + 1);
	T_CHECK(out[strlen(out) - 1] == '"');
	/* a small buffer: cut on a whole escape, never a partial \xN */
	log_clean("ab\n\n\n\n", small, sizeof(small));
	T_CHECK(strcmp(small, "ab...") == 0);
	log_clean("0123456789", small, 5);
	T_CHECK(strcmp(small, "0...") == 0);
	log_clean("0123456789", small, 3);
	T_CHECK(strcmp(small, "01") == 0);
	log_clean("\n", small, 4);
	T_CHECK(strcmp(small, "...") == 0);
	/* no byte outside printable ASCII ever comes out */
	for (i = 1; i < 256; i++)
		big[i - 1] = (char)i;
	big[255] = '\0';
	log_clean(big, out, sizeof(out));
	for (i = 0; out[i] != '\0'; i++)
		T_CHECK(out[i] >= 0x20 && out[i] < 0x7f);
}

/* Run fn with the log pointed at a temporary file; the text in buf. */
static void
capture(void (*fn)(void), char *buf, size_t bufsz)
{
	FILE *f = tmpfile();
	size_t n;

	log_set_output(f);
	fn();
	log_set_output(NULL);
	rewind(f);
	n = fread(buf, 1, bufsz - 1, f);
	buf[n] = '\0';
	fclose(f);
}

static void
emit_lines(void)
{
	char v[LOG_CLEAN_SIZE];

	log_init("sealpost-test", 0, 0);
	log_info("start", "socket=%s n=%d", "inet:1@127.0.0.1", 3);
	log_info("message", "qid=%s reason=%s", "ABC", log_clean("no rule fired", v, sizeof(v)));
	log_debug("hidden", "x=1");
	log_set_debug(1);
	log_debug("shown", "x=%d", 2);
	log_warnx("negotiate", "reason=%s", "refused");
	errno = ENOENT;
	log_warn("open", "path=%s", "/nonexistent");
	/* a caller that forgot log_clean: the line is still one line */
	log_info("forgot", "v=%s", "a\nb\r\x01");
	log_info("stop", NULL);
}

static void
test_lines(void)
{
	char buf[8192], *p, *lines[16];
	size_t n = 0;

	capture(emit_lines, buf, sizeof(buf));
	p = buf;
	while (*p != '\0' && n < 16) {
		char *e = strchr(p, '\n');

		T_CHECK(e != NULL);
		if (e == NULL)
			break;
		*e = '\0';
		lines[n++] = p;
		p = e + 1;
	}
	T_EQ_INT(n, 7);
	if (n != 7)
		return;
	for (size_t i = 0; i < n; i++) {
		/* 2026-01-02T03:04:05Z sealpost-test EVENT ... */
		T_EQ_INT(strlen(lines[i]) > 21, 1);
		T_CHECK(lines[i][4] == '-' && lines[i][10] == 'T' && lines[i][19] == 'Z' && lines[i][20] == ' ');
		T_CHECK(strncmp(lines[i] + 21, "sealpost-test ", 14) == 0);
		for (const char *q = lines[i]; *q; q++)
			T_CHECK(*q >= 0x20 && *q < 0x7f);
	}
	T_CHECK(strcmp(lines[0] + 21, "sealpost-test start socket=inet:1@127.0.0.1 n=3") == 0);
	T_CHECK(strcmp(lines[1] + 21, "sealpost-test message qid=ABC reason=\"no rule fired\"") == 0);
	T_CHECK(strcmp(lines[2] + 21, "sealpost-test shown level=debug x=2") == 0);
	T_CHECK(strcmp(lines[3] + 21, "sealpost-test negotiate level=warning reason=refused") == 0);
	T_CHECK(strncmp(lines[4] + 21, "sealpost-test open level=warning path=/nonexistent errno=\"", 58) == 0);
	T_CHECK(strcmp(lines[5] + 21, "sealpost-test forgot v=a\\x0ab\\x0d\\x01") == 0);
	T_CHECK(strcmp(lines[6] + 21, "sealpost-test stop") == 0);
}

static void
emit_long(void)
{
	static char big[3 * LOG_LINE_MAX];

	memset(big, 'z', sizeof(big) - 1);
	log_info("long", "v=%s", big);
}

static void
test_long_line(void)
{
	static char buf[4 * LOG_LINE_MAX];
	char *nl;

	capture(emit_long, buf, sizeof(buf));
	nl = strchr(buf, '\n');
	T_CHECK(nl != NULL && nl[1] == '\0');
	T_CHECK(nl != NULL && (size_t)(nl - buf) < LOG_LINE_MAX + 32);
	T_CHECK(nl != NULL && nl - buf > 3 && strncmp(nl - 3, "...", 3) == 0);
}

T_MAIN(test_clean, test_clean_cut, test_lines, test_long_line)

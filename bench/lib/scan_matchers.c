/*
 * scan_matchers.c - the measurements behind docs/decisions/0011: Hyperscan
 * alone (no validation) over a corpus file, for the ways a lexicon and the
 * number shapes can be compiled: the regex API against the literal API
 * (hs_compile_lit_multi), block against stream mode, word boundaries in
 * the patterns for short words or all words, the number shapes in the main
 * database (as before) against cheap candidates.  Each line: compile time,
 * database size, best of three scans in 1 MiB blocks (CPU time), matches.
 * usage: scan_matchers CORPUS_FILE LEXICON_FILE   (one word a line)
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hs.h>

#define BLOCK	((size_t)1 << 20)
#define MAXPAT	20000

static const char *buf;
static size_t len;
static unsigned long long nmatch;

/* CPU seconds of this (single-threaded) process. */
static double
cpu(void)
{
	return (double)clock() / CLOCKS_PER_SEC;
}

static int
count(unsigned id, unsigned long long from, unsigned long long to, unsigned fl, void *ctx)
{
	(void)id; (void)from; (void)to; (void)fl; (void)ctx;
	nmatch++;
	return 0;
}

/* A term as the scanner compiles it (policy_scan.c term_expr), with an
 * optional \b before, or \b around with a plural. */
static char *
term(const char *t, int bounds)
{
	size_t cap = strlen(t) * 10 + 32, n = 0;
	char *e = malloc(cap);

	if (e == NULL)
		exit(1);
#define PUT(...) (n += (size_t)snprintf(e + n, cap - n, __VA_ARGS__))
	if (bounds)
		PUT("\\b");
	for (; *t != '\0'; t++) {
		unsigned char c = (unsigned char)*t;

		if (c == ' ')
			PUT("[ \\t\\r\\n]");
		else if (isalnum(c))
			PUT("%c", c);
		else
			PUT("\\x%02x", c);
	}
	if (bounds == 2)
		PUT("(?:e?s)?\\b");
#undef PUT
	return e;
}

static void
run(const char *name, const char **ex, const unsigned *fl, unsigned n, int lit, unsigned mode)
{
	unsigned ids[MAXPAT], i;
	size_t lens[MAXPAT], o, dbsize = 0;
	hs_database_t *db = NULL;
	hs_compile_error_t *ce = NULL;
	hs_scratch_t *s = NULL;
	double t0, tc, best = 1e9, t;
	hs_error_t he;
	int r;

	for (i = 0; i < n; i++) {
		ids[i] = i;
		lens[i] = strlen(ex[i]);
	}
	t0 = cpu();
	he = lit ? hs_compile_lit_multi(ex, fl, ids, lens, n, mode, NULL, &db, &ce) :
	    hs_compile_multi(ex, fl, ids, n, mode, NULL, &db, &ce);
	tc = cpu() - t0;
	if (he != HS_SUCCESS) {
		printf("%-44s does not compile: %s\n", name, ce ? ce->message : "?");
		hs_free_compile_error(ce);
		return;
	}
	hs_database_size(db, &dbsize);
	hs_alloc_scratch(db, &s);
	for (r = 0; r < 3; r++) {
		nmatch = 0;
		t0 = cpu();
		for (o = 0; o < len; o += BLOCK) {
			unsigned k = (unsigned)(len - o < BLOCK ? len - o : BLOCK);

			if (mode == HS_MODE_BLOCK) {
				hs_scan(db, buf + o, k, 0, s, count, NULL);
			} else {
				hs_stream_t *st;

				hs_open_stream(db, 0, &st);
				hs_scan_stream(st, buf + o, k, 0, s, count, NULL);
				hs_close_stream(st, s, count, NULL);
			}
		}
		t = cpu() - t0;
		if (t < best)
			best = t;
	}
	printf("%-44s %5u patterns, compile %5.0f ms, %5zu KB, %6.0f MB/s, %llu matches\n",
	    name, n, tc * 1000, dbsize / 1024, (double)len / 1048576.0 / best, nmatch);
	hs_free_scratch(s);
	hs_free_database(db);
}

static const char *const shapes[] = {	/* the number shapes before 0011 */
	"\\b\\d{3}-\\d{2}-\\d{4}\\b", "\\b\\d{3} \\d{2} \\d{4}\\b", "\\b\\d{9}\\b",
	"\\b\\d(?:[ -]?\\d){12,18}\\b", "\\b[A-TV-Z]\\d[0-9A-Z](?:\\.[0-9A-Z]{1,4})?\\b",
	"\\b\\d{4}[0-9FT]\\b", "\\b(?:\\d{4}-\\d{4}-\\d{2}|\\d{5}-\\d{3}-\\d{2}|\\d{5}-\\d{4}-\\d)\\b",
	"\\b[12]\\d{9}\\b",
	"\\b(?:dob|d\\.o\\.b|date of birth|birth ?date|born(?: on)?)\\W{0,20}"
	"(?:\\d{1,2}[/.-]\\d{1,2}[/.-](?:19|20)\\d{2}|(?:19|20)\\d{2}-\\d{2}-\\d{2}|"
	"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]{0,6}\\.? \\d{1,2},? (?:19|20)\\d{2})\\b",
	"\\b\\d{9}\\b",
};
static const char *const cands[] = {	/* the candidates of 0011 */
	"\\d\\d[ -]?\\d\\d", "[A-TV-Z]\\d[0-9A]", "\\b(?:dob|d\\.o\\.b|date of birth|birth ?date|born)",
};

int
main(int argc, char **argv)
{
	static const char *ex[MAXPAT];
	static unsigned fl[MAXPAT];
	static char *words[MAXPAT];
	char line[256];
	size_t nw = 0, i, got;
	unsigned n;
	FILE *f;
	char *b;

	if (argc != 3) {
		fprintf(stderr, "usage: scan_matchers CORPUS_FILE LEXICON_FILE\n");
		return 2;
	}
	if ((f = fopen(argv[1], "rb")) == NULL || fseek(f, 0, SEEK_END) != 0 ||
	    (len = (size_t)ftell(f)) == 0 || fseek(f, 0, SEEK_SET) != 0 ||
	    (b = malloc(len)) == NULL || (got = fread(b, 1, len, f)) != len) {
		fprintf(stderr, "scan_matchers: cannot read %s\n", argv[1]);
		return 1;
	}
	fclose(f);
	buf = b;
	if ((f = fopen(argv[2], "r")) == NULL) {
		fprintf(stderr, "scan_matchers: cannot read %s\n", argv[2]);
		return 1;
	}
	while (nw < MAXPAT - 16 && fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] != '\0')
			words[nw++] = strdup(line);
	}
	fclose(f);
	printf("matchers: %zu MB, %zu words\n", len >> 20, nw);

	for (n = 0, i = 0; i < nw; i++, n++) {
		ex[n] = words[i];
		fl[n] = HS_FLAG_CASELESS;
	}
	run("words, literal API, block", ex, fl, n, 1, HS_MODE_BLOCK);
	for (n = 0, i = 0; i < nw; i++, n++)
		ex[n] = term(words[i], 0);
	run("words, regex API, block", ex, fl, n, 0, HS_MODE_BLOCK);
	run("words, regex API, stream", ex, fl, n, 0, HS_MODE_STREAM);
	for (i = 0; i < nw; i++)
		fl[i] = HS_FLAG_CASELESS | HS_FLAG_SINGLEMATCH;
	run("words, regex API, SINGLEMATCH, block", ex, fl, n, 0, HS_MODE_BLOCK);
	for (i = 0; i < nw; i++)
		fl[i] = HS_FLAG_CASELESS;
	for (i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++, n++) {
		ex[n] = shapes[i];
		fl[n] = i == 8 ? HS_FLAG_CASELESS : 0;
	}
	run("words + number shapes (before), block", ex, fl, n, 0, HS_MODE_BLOCK);
	n = (unsigned)nw;
	for (i = 0; i < sizeof(cands) / sizeof(cands[0]); i++, n++) {
		ex[n] = cands[i];
		fl[n] = i == 2 ? HS_FLAG_CASELESS : 0;
	}
	run("words + candidates (0011), block", ex, fl, n, 0, HS_MODE_BLOCK);
	run("words + candidates (0011), stream", ex, fl, n, 0, HS_MODE_STREAM);
	for (i = 0; i < nw; i++)
		ex[i] = term(words[i], strlen(words[i]) <= 3 ? 2 : 0);
	run("words (<=3 bytes with \\b) + candidates", ex, fl, n, 0, HS_MODE_STREAM);
	for (i = 0; i < nw; i++)
		ex[i] = term(words[i], 1);
	run("words (all with \\b before) + candidates", ex, fl, n, 0, HS_MODE_STREAM);
	for (n = 0, i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++, n++) {
		ex[n] = shapes[i];
		fl[n] = i == 8 ? HS_FLAG_CASELESS : 0;
	}
	run("number shapes alone (before), block", ex, fl, n, 0, HS_MODE_BLOCK);
	for (n = 0, i = 0; i < sizeof(cands) / sizeof(cands[0]); i++, n++) {
		ex[n] = cands[i];
		fl[n] = i == 2 ? HS_FLAG_CASELESS : 0;
	}
	run("candidates alone (0011), block", ex, fl, n, 0, HS_MODE_BLOCK);
	return 0;
}

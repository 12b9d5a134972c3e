/*
 * bench_scan.c - content scanner throughput: builds a deterministic 200 MB
 * text corpus in memory (common English words, some medical terms, dates,
 * amounts, phone and order numbers, a few card- and SSN-shaped numbers),
 * scans it with the full built-in policy (one Hyperscan pass per 1 MiB
 * block, candidates validated in C) and, in the same run, with memchr for
 * a byte that is absent, over the same buffer.
 * usage: bench_scan [MEGABYTES]   (default 200)
 * prints: scan: policy X MB/s, memchr Y MB/s, ratio Z
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "policy.h"
#include "sp.h"

#define BLOCK ((size_t)1 << 20)

static unsigned long long rng = 0x9e3779b97f4a7c15ull;

static unsigned
next(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

static const char *const words[] = {
	"the", "of", "and", "to", "a", "in", "for", "is", "on", "that", "by", "this",
	"with", "you", "it", "not", "or", "be", "are", "from", "at", "as", "your", "all",
	"have", "new", "more", "an", "was", "we", "will", "home", "can", "us", "about",
	"if", "page", "my", "has", "search", "free", "but", "our", "one", "other", "do",
	"no", "information", "time", "they", "site", "he", "up", "may", "what", "which",
	"their", "news", "out", "use", "any", "there", "see", "only", "so", "his", "when",
	"contact", "here", "business", "who", "web", "also", "now", "help", "get", "view",
	"online", "first", "been", "would", "how", "were", "me", "services", "some",
	"these", "click", "its", "like", "service", "than", "find", "price", "date",
	"back", "top", "people", "had", "list", "name", "just", "over", "state", "year",
	"day", "into", "email", "two", "health", "world", "next", "used", "go", "work",
	"last", "most", "products", "music", "buy", "data", "make", "them", "should",
	"product", "system", "post", "her", "city", "add", "policy", "number", "such",
	"please", "available", "copyright", "support", "message", "after", "best",
	"software", "then", "jan", "good", "video", "well", "where", "info", "rights",
	"public", "books", "high", "school", "through", "each", "links", "she", "review",
	"years", "order", "very", "privacy", "book", "items", "company", "read", "group",
	"need", "many", "user", "said", "does", "set", "under", "general", "research",
	"university", "january", "mail", "full", "map", "reviews", "program", "life",
	"know", "games", "way", "days", "management", "part", "could", "great", "united",
	"hotel", "real", "item", "international", "center", "must", "store", "travel",
	"meeting", "lunch", "report", "Michael", "Johnson", "Sarah", "Room", "Monday",
	"surgery", "patient", "blood", "orange", "recipe", "band", "stroke", "insulin",
	"appointment", "diagnosis", "metformin", "results", "team", "project", "budget",
};

static size_t
put(char *buf, size_t o, const char *s)
{
	size_t n = strlen(s);

	memcpy(buf + o, s, n);
	return o + n;
}

static void
corpus(char *buf, size_t len)
{
	size_t o = 0, nw = sizeof(words) / sizeof(words[0]);
	char tmp[64];

	while (o + 64 < len) {
		unsigned k = next(1000);

		if (k < 960) {
			o = put(buf, o, words[next((unsigned)nw)]);
		} else if (k < 975) {
			snprintf(tmp, sizeof(tmp), "%u/%u/20%02u", 1 + next(12), 1 + next(28), next(30));
			o = put(buf, o, tmp);
		} else if (k < 985) {
			snprintf(tmp, sizeof(tmp), "$%u.%02u", next(5000), next(100));
			o = put(buf, o, tmp);
		} else if (k < 992) {
			snprintf(tmp, sizeof(tmp), "555-%03u-%04u", next(1000), next(10000));
			o = put(buf, o, tmp);
		} else if (k < 996) {
			snprintf(tmp, sizeof(tmp), "%09u", next(1000000000));
			o = put(buf, o, tmp);
		} else if (k < 998) {
			snprintf(tmp, sizeof(tmp), "%03u-%02u-%04u", next(1000), next(100), next(10000));
			o = put(buf, o, tmp);
		} else {
			snprintf(tmp, sizeof(tmp), "4%03u %04u %04u %04u", next(1000), next(10000),
			    next(10000), next(10000));
			o = put(buf, o, tmp);
		}
		buf[o++] = next(12) == 0 ? '\n' : ' ';
	}
	while (o < len)
		buf[o++] = ' ';
}

int
main(int argc, char **argv)
{
	size_t mb = 200, len, off, hits = 0, sealed = 0;
	struct sp_policy *p = NULL;
	struct sp_policy_scratch *s = NULL;
	struct sp_err err = {{0}};
	double t0, tpol, tmem = 1e9;
	char *buf;
	int i, st;

	if (argc > 1) {
		char *end;
		long v = strtol(argv[1], &end, 10);

		if (*end != '\0' || v < 1 || v > 4096) {
			fprintf(stderr, "usage: bench_scan [MEGABYTES]\n");
			return 2;
		}
		mb = (size_t)v;
	}
	len = mb << 20;
	if ((buf = malloc(len)) == NULL) {
		fprintf(stderr, "bench_scan: out of memory\n");
		return 1;
	}
	corpus(buf, len);
	if ((st = sp_policy_load(&p, NULL, &err)) != SP_OK ||
	    (st = sp_policy_scratch_new(p, &s, &err)) != SP_OK) {
		fprintf(stderr, "bench_scan: %s\n", sp_err_msg(&err, st));
		return 1;
	}
	t0 = bench_now();
	for (off = 0; off < len; off += BLOCK) {
		struct sp_policy_result r;
		size_t n = len - off < BLOCK ? len - off : BLOCK;

		if ((st = sp_policy_scan_text(p, s, buf + off, n, &r, &err)) != SP_OK) {
			fprintf(stderr, "bench_scan: %s\n", sp_err_msg(&err, st));
			return 1;
		}
		hits += r.nhits_total;
		sealed += r.action != SP_POLICY_PASS;
		sp_policy_result_clear(&r);
	}
	tpol = bench_now() - t0;
	for (i = 0; i < 5; i++) {
		volatile const void *q;

		t0 = bench_now();
		q = memchr(buf, 0x01, len);
		t0 = bench_now() - t0;
		if (q != NULL) {
			fprintf(stderr, "bench_scan: corpus holds the probe byte\n");
			return 1;
		}
		if (t0 < tmem)
			tmem = t0;
	}
	printf("scan: corpus %zu MB, %zu blocks of 1 MiB, %zu matches kept by validation, %zu blocks would be sealed\n",
	    mb, (len + BLOCK - 1) / BLOCK, hits, sealed);
	printf("scan: policy %.1f MB/s, memchr %.1f MB/s, ratio %.1f\n",
	    (double)mb / tpol, (double)mb / tmem, tpol / tmem);
	sp_policy_scratch_free(s);
	sp_policy_free(p);
	free(buf);
	return 0;
}

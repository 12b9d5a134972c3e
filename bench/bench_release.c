/*
 * bench_release.c - the key server's hot paths against a running key
 * server, from this second process over keep-alive connections:
 *  - key releases per second with a recipient's session (bearer session
 *    token) under THREADS concurrent clients;
 *  - the same client, request and concurrency against a minimal
 *    libmicrohttpd handler (bench_mhd_min at MIN_URL): the baseline;
 *  - deposits per second with 1 and with 8 parallel clients (durable
 *    before each 201: parallel deposits share their commits).
 * Every client is a thread with one curl handle (one keep-alive connection)
 * that sends the same request again and again for SECONDS; only the
 * answers with the expected status count.  One line per figure:
 *   release_per_s N / minimal_per_s N / deposit1_per_s N / deposit8_per_s N
 * then the ratio; bench/release.sh takes the median of three runs.
 * usage: bench_release KEYD_URL ORG_TOKEN EMAIL PASSWORD THREADS SECONDS MIN_URL
 */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#define MAX_THREADS 256

/* One kind of request, sent by every client of a measurement. */
struct load {
	char url[512];
	char auth[320];		/* "Authorization: Bearer ..." */
	const char *body;
	long want;		/* the status that counts */
	double seconds;
};

struct worker {
	const struct load *l;
	long done, failed;
	long first_bad;		/* status of the first unexpected answer */
};

static void *
work(void *arg)
{
	struct worker *w = arg;
	const struct load *l = w->l;
	struct curl_slist *h = NULL;
	CURL *c = curl_easy_init();
	double end = bench_now() + l->seconds;
	long code;

	h = curl_slist_append(h, "Content-Type: application/json");
	h = curl_slist_append(h, "Accept: application/json");
	h = curl_slist_append(h, l->auth);
	curl_easy_setopt(c, CURLOPT_URL, l->url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, l->body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(l->body));
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, bench_sink);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
	while (bench_now() < end) {
		code = 0;
		if (curl_easy_perform(c) == CURLE_OK)
			curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
		if (code == l->want)
			w->done++;
		else if (w->failed++ == 0)
			w->first_bad = code;
	}
	curl_easy_cleanup(c);
	curl_slist_free_all(h);
	return NULL;
}

/* Requests per second of threads clients sending l. */
static double
measure(const struct load *l, int threads, const char *what)
{
	pthread_t t[MAX_THREADS];
	struct worker w[MAX_THREADS];
	double t0 = bench_now(), total = 0;
	long failed = 0, bad = 0;
	int i;

	for (i = 0; i < threads; i++) {
		w[i] = (struct worker){l, 0, 0, 0};
		pthread_create(&t[i], NULL, work, &w[i]);
	}
	for (i = 0; i < threads; i++) {
		pthread_join(t[i], NULL);
		total += (double)w[i].done;
		if (w[i].failed > 0 && failed == 0)
			bad = w[i].first_bad;
		failed += w[i].failed;
	}
	if (failed > 0)
		fprintf(stderr, "bench_release: %s: %ld requests failed (first: status %ld)\n",
		    what, failed, bad);
	return total / (bench_now() - t0);
}

int
main(int argc, char **argv)
{
	struct load rel, min, dep;
	char session[256], id[SP_ENV_ID_STRLEN + 1];
	double r, m, d1, d8;
	int threads;

	if (argc != 8) {
		fprintf(stderr, "usage: bench_release KEYD_URL ORG_TOKEN EMAIL PASSWORD THREADS "
		    "SECONDS MIN_URL\n");
		return 2;
	}
	threads = (int)strtol(argv[5], NULL, 10);
	if (threads < 8 || threads > MAX_THREADS)
		threads = 32;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	/* one log-in; the session token is shared by every connection */
	if (bench_envelope_session("bench_release", argv[1], argv[2], argv[3], argv[4],
	    id, session, sizeof(session)) != 0)
		return 1;
	memset(&rel, 0, sizeof(rel));
	snprintf(rel.url, sizeof(rel.url), "%s/api/v1/envelopes/%s/release", argv[1], id);
	snprintf(rel.auth, sizeof(rel.auth), "Authorization: Bearer %s", session);
	rel.body = "{}";
	rel.want = 200;
	rel.seconds = strtod(argv[6], NULL);
	/* the baseline: the same request, path and headers included */
	min = rel;
	snprintf(min.url, sizeof(min.url), "%s/api/v1/envelopes/%s/release", argv[7], id);
	dep = rel;
	snprintf(dep.url, sizeof(dep.url), "%s/api/v1/envelopes", argv[1]);
	snprintf(dep.auth, sizeof(dep.auth), "Authorization: Bearer %s", argv[2]);
	dep.body = "{\"from\":\"alice@clinic.example\",\"recipients\":[\"pat@example.org\"],"
	    "\"format\":2}";
	dep.want = 201;
	r = measure(&rel, threads, "release");
	m = measure(&min, threads, "minimal handler");
	d1 = measure(&dep, 1, "deposit, 1 client");
	d8 = measure(&dep, 8, "deposit, 8 clients");
	printf("release_per_s %.0f\nminimal_per_s %.0f\ndeposit1_per_s %.0f\n"
	    "deposit8_per_s %.0f\n", r, m, d1, d8);
	printf("# %d keep-alive clients: releases %.0f/s, minimal handler %.0f/s, ratio %.3f;"
	    " deposits %.0f/s (1 client), %.0f/s (8 clients)\n", threads, r, m, r / m, d1, d8);
	return 0;
}

/*
 * bench_release.c - key releases per second against a running key server
 * from this second process over many keep-alive connections, beside the
 * same run's rate for the bare /healthz handler (the HTTP layer's baseline).
 * usage: bench_release KEYD_URL ORG_TOKEN EMAIL PASSWORD THREADS SECONDS
 */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "keyd_client.h"
#include "message.h"

struct worker {
	const char *url, *session, *id;
	double seconds;
	int health;		/* 1: GET /healthz instead of a release */
	long done, failed;
};

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t
sink(char *p, size_t s, size_t n, void *ctx)
{
	(void)p; (void)ctx;
	return s * n;
}

static void *
work(void *arg)
{
	struct worker *w = arg;
	struct sp_keyd_client *c = NULL;
	struct sp_err err;
	unsigned char part[SP_KEY_LEN];
	CURL *h = NULL;
	char url[512];
	double end = now() + w->seconds;

	if (w->health) {
		h = curl_easy_init();
		snprintf(url, sizeof(url), "%s/healthz", w->url);
		curl_easy_setopt(h, CURLOPT_URL, url);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
	} else {
		sp_keyd_client_new(&c, w->url, 10000, &err);
		sp_keyd_client_set_token(c, w->session);
	}
	while (now() < end) {
		int ok;

		if (w->health)
			ok = curl_easy_perform(h) == CURLE_OK;
		else
			ok = sp_keyd_release(c, w->id, part, &err) == SP_OK;
		if (ok)
			w->done++;
		else
			w->failed++;
	}
	if (h != NULL)
		curl_easy_cleanup(h);
	sp_keyd_client_free(c);
	return NULL;
}

static double
measure(struct worker *proto, int threads, long *failed)
{
	pthread_t t[64];
	struct worker w[64];
	double t0 = now(), total = 0;
	int i;

	for (i = 0; i < threads; i++) {
		w[i] = *proto;
		pthread_create(&t[i], NULL, work, &w[i]);
	}
	*failed = 0;
	for (i = 0; i < threads; i++) {
		pthread_join(t[i], NULL);
		total += (double)w[i].done;
		*failed += w[i].failed;
	}
	return total / (now() - t0);
}

int
main(int argc, char **argv)
{
	struct sp_keyd_client *org, *rcpt;
	struct sp_deposit_req dq;
	struct sp_deposit_res dr;
	struct sp_err err = {""};
	struct worker proto = {0};
	const char *to[1];
	char session[256];
	double rel, health;
	long failed, failed2;
	int threads;

	if (argc != 7) {
		fprintf(stderr, "usage: bench_release KEYD_URL ORG_TOKEN EMAIL PASSWORD THREADS SECONDS\n");
		return 2;
	}
	threads = (int)strtol(argv[5], NULL, 10);
	if (threads < 1 || threads > 64)
		threads = 8;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	to[0] = argv[3];
	dq = (struct sp_deposit_req){"alice@clinic.example", to, 1, 0};
	if (sp_keyd_client_new(&org, argv[1], 10000, &err) != SP_OK ||
	    sp_keyd_client_set_token(org, argv[2]) != SP_OK ||
	    sp_keyd_deposit(org, &dq, &dr, &err) != SP_OK) {
		fprintf(stderr, "bench_release: deposit: %s\n", err.msg);
		return 1;
	}
	/* one login; the session token is shared by every connection */
	if (sp_keyd_client_new(&rcpt, argv[1], 10000, &err) != SP_OK ||
	    sp_keyd_login(rcpt, argv[3], argv[4], &err) != SP_OK) {
		fprintf(stderr, "bench_release: login: %s\n", err.msg);
		return 1;
	}
	if (sp_keyd_client_token(rcpt, session, sizeof(session)) != SP_OK) {
		fprintf(stderr, "bench_release: no session token\n");
		return 1;
	}
	proto.url = argv[1];
	proto.session = session;
	proto.id = dr.id;
	proto.seconds = strtod(argv[6], NULL);
	rel = measure(&proto, threads, &failed);
	proto.health = 1;
	health = measure(&proto, threads, &failed2);
	printf("key releases: %.0f/s over %d keep-alive connections (%ld failed)   bare /healthz: %.0f/s   ratio %.3f\n",
	    rel, threads, failed, health, rel / health);
	sp_deposit_res_clear(&dr);
	sp_keyd_client_free(org);
	sp_keyd_client_free(rcpt);
	return failed > 0 ? 1 : 0;
}

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

#include "common.h"
#include "keyd_client.h"

struct worker {
	const char *url, *session, *id;
	double seconds;
	int health;		/* 1: GET /healthz instead of a release */
	long done, failed;
};

static void *
work(void *arg)
{
	struct worker *w = arg;
	struct sp_keyd_client *c = NULL;
	struct sp_err err;
	unsigned char part[SP_KEY_LEN];
	CURL *h = NULL;
	char url[512];
	double end = bench_now() + w->seconds;

	if (w->health) {
		h = curl_easy_init();
		snprintf(url, sizeof(url), "%s/healthz", w->url);
		curl_easy_setopt(h, CURLOPT_URL, url);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, bench_sink);
	} else {
		sp_keyd_client_new(&c, w->url, 10000, &err);
		sp_keyd_client_set_token(c, w->session);
	}
	while (bench_now() < end) {
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
	double t0 = bench_now(), total = 0;
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
	return total / (bench_now() - t0);
}

int
main(int argc, char **argv)
{
	struct worker proto = {0};
	char session[256], id[SP_ENV_ID_STRLEN + 1];
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
	/* one login; the session token is shared by every connection */
	if (bench_envelope_session("bench_release", argv[1], argv[2], argv[3], argv[4],
	    id, session, sizeof(session)) != 0)
		return 1;
	proto.url = argv[1];
	proto.session = session;
	proto.id = id;
	proto.seconds = strtod(argv[6], NULL);
	rel = measure(&proto, threads, &failed);
	proto.health = 1;
	health = measure(&proto, threads, &failed2);
	printf("key releases: %.0f/s over %d keep-alive connections (%ld failed)   bare /healthz: %.0f/s   ratio %.3f\n",
	    rel, threads, failed, health, rel / health);
	return failed > 0 ? 1 : 0;
}

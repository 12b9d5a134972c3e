/*
 * bench_login.c - log-ins per second against a running key server from
 * several concurrent clients, beside the same run's bare Argon2id
 * verifications per second (sp_password_verify: the key server's own call
 * and parameters) on as many threads as the server has Argon2 workers; then
 * the latency of key releases made one after another on one keep-alive
 * connection, alone and while the clients keep logging in (do log-ins
 * starve releases?), once with the JSON log-in and once with the sign-in
 * page's form (POST /signin with its CSRF cookie).  Each figure and its
 * baseline alternate in slices of about a second, so a machine whose load
 * changes during the run skews both alike.
 * usage: bench_login KEYD_URL ORG_TOKEN PASSWORD ARGON_WORKERS CLIENTS SECONDS EMAIL...
 *   every EMAIL has PASSWORD; the first receives the envelope released, the
 *   log-in clients take the others in turn (all of them when only one).
 * SECURITY: sends a test password and session token to the key server on
 * loopback; bench only.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"
#include "jsonwipe.h"
#include "keyd_client.h"
#include "password.h"

#define MAX_THREADS 64
#define MAX_EMAILS 1024
#define MAX_PER_THREAD 1000000L		/* bounds every loop besides its time */
#define MAX_SAMPLES 200000

/* Counts of one kind of request over the slices of a run. */
struct tally {
	double secs;
	long ok, busy, failed;
};

static double
rate(const struct tally *t)
{
	return t->secs > 0 ? (double)t->ok / t->secs : 0;
}

/* --- bare Argon2id verifications (the baseline) --------------------------- */

struct verifier {
	const char *hash, *pw;
	double end;
	long done, failed;
};

static void *
verify_work(void *arg)
{
	struct verifier *v = arg;
	struct sp_err err;
	long n;

	for (n = 0; n < MAX_PER_THREAD && bench_now() < v->end; n++) {
		if (sp_password_verify(v->hash, v->pw, &err) == SP_OK)
			v->done++;
		else
			v->failed++;
	}
	return NULL;
}

/* Verify pw against hash on threads threads for seconds; adds the
 * verifications, failures and elapsed time to the tally. */
static void
verify_slice(const char *hash, const char *pw, int threads, double seconds,
    struct tally *tl)
{
	struct verifier v[MAX_THREADS];
	pthread_t t[MAX_THREADS];
	double t0 = bench_now();
	int i;

	for (i = 0; i < threads; i++) {
		v[i] = (struct verifier){hash, pw, t0 + seconds, 0, 0};
		pthread_create(&t[i], NULL, verify_work, &v[i]);
	}
	for (i = 0; i < threads; i++) {
		pthread_join(t[i], NULL);
		tl->ok += v[i].done;
		tl->failed += v[i].failed;
	}
	tl->secs += bench_now() - t0;
}

/* --- log-ins from concurrent clients ------------------------------------------ */

struct login_load {
	pthread_t t[MAX_THREADS];
	struct login_worker {
		const char *url, *body;
		double end;
		atomic_int *stop;
		long ok, busy, failed;
		const char *origin;	/* the sign-in page's form: the key server's */
	} w[MAX_THREADS];
	int n;
	atomic_int stop;
	double t0;
};

/* The value of the sp_csrf cookie h holds, into out; 0 when it has none. */
static int
csrf_cookie(CURL *h, char *out, size_t outsz)
{
	struct curl_slist *list = NULL, *c;
	const char *v;
	int found = 0;

	if (curl_easy_getinfo(h, CURLINFO_COOKIELIST, &list) != CURLE_OK)
		return 0;
	/* Netscape lines: domain, flag, path, secure, expiry, name, value */
	for (c = list; c != NULL && !found; c = c->next)
		if ((v = strstr(c->data, "\tsp_csrf\t")) != NULL)
			found = snprintf(out, outsz, "%s", v + 9) < (int)outsz;
	curl_slist_free_all(list);
	return found;
}

/* The sign-in page's form, as a browser sends it: its CSRF cookie from a
 * first GET, then csrf=VALUE&body from the key server's origin; a right
 * password answers 303.  The form into form; 0 when the page gave no
 * cookie. */
static int
page_setup(CURL *h, struct login_worker *w, struct curl_slist **hdrs, char *form, size_t formsz)
{
	char csrf[128], origin[600];

	curl_easy_setopt(h, CURLOPT_COOKIEFILE, "");	/* the cookie engine, empty */
	curl_easy_setopt(h, CURLOPT_URL, w->url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, bench_sink);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	if (curl_easy_perform(h) != CURLE_OK || !csrf_cookie(h, csrf, sizeof(csrf)) ||
	    snprintf(form, formsz, "csrf=%s&%s", csrf, w->body) >= (int)formsz)
		return 0;
	snprintf(origin, sizeof(origin), "Origin: %s", w->origin);
	*hdrs = curl_slist_append(NULL, "Content-Type: application/x-www-form-urlencoded");
	*hdrs = curl_slist_append(*hdrs, origin);
	return 1;
}

static void *
login_work(void *arg)
{
	struct login_worker *w = arg;
	struct curl_slist *hdrs = NULL;
	CURL *h = curl_easy_init();
	char form[2048];
	long n, code, want = 200;

	if (w->origin != NULL) {
		if (!page_setup(h, w, &hdrs, form, sizeof(form))) {
			w->failed++;
			curl_easy_cleanup(h);
			curl_slist_free_all(hdrs);
			return NULL;
		}
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, form);
		want = 303;
	} else {
		hdrs = curl_slist_append(NULL, "Content-Type: application/json");
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, w->body);
	}
	curl_easy_setopt(h, CURLOPT_URL, w->url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, bench_sink);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	/* A new connection per log-in, as people logging in come each on
	 * their own.  The server's threads take new connections as they are
	 * free, so log-ins reach every thread as in a real flood; kept-alive
	 * connections would stay on whichever threads took them first, and
	 * the release figure would depend on that draw. */
	curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
	for (n = 0; n < MAX_PER_THREAD && !atomic_load(w->stop) && bench_now() < w->end; n++) {
		code = 0;
		if (curl_easy_perform(h) == CURLE_OK)
			curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
		if (code == want)
			w->ok++;
		else if (code == 503)
			w->busy++;
		else
			w->failed++;
	}
	curl_easy_cleanup(h);
	curl_slist_free_all(hdrs);
	sp_wipe(form, sizeof(form));
	return NULL;
}

/* Start n clients logging in (body i % nbody) until login_stop or seconds
 * have passed: with origin NULL JSON log-ins to url, else the sign-in
 * page's form at url from origin. */
static void
login_start(struct login_load *l, const char *url, const char *origin, char **body, int nbody,
    int n, double seconds)
{
	int i;

	l->n = n;
	atomic_init(&l->stop, 0);
	l->t0 = bench_now();
	for (i = 0; i < n; i++) {
		l->w[i] = (struct login_worker){url, body[i % nbody], l->t0 + seconds,
		    &l->stop, 0, 0, 0, origin};
		pthread_create(&l->t[i], NULL, login_work, &l->w[i]);
	}
}

/* Stop and join; adds successful log-ins, 503s, failures and the elapsed
 * time to the tally. */
static void
login_stop(struct login_load *l, struct tally *tl)
{
	int i;

	atomic_store(&l->stop, 1);
	for (i = 0; i < l->n; i++) {
		pthread_join(l->t[i], NULL);
		tl->ok += l->w[i].ok;
		tl->busy += l->w[i].busy;
		tl->failed += l->w[i].failed;
	}
	tl->secs += bench_now() - l->t0;
}

/* --- key releases one after another ------------------------------------------ */

/* Release id one after another over client c's keep-alive connection for
 * seconds; the latencies (ms) of the successful ones are appended to ms
 * (holding *n, at most MAX_SAMPLES), failures added to *failed. */
static void
release_slice(struct sp_keyd_client *c, const char *id, double seconds,
    double *ms, size_t *n, long *failed)
{
	struct sp_err err = {""};
	unsigned char part[SP_KEY_LEN];
	double end = bench_now() + seconds, t;
	long k;

	for (k = 0; k < MAX_PER_THREAD && *n < MAX_SAMPLES && (t = bench_now()) < end; k++) {
		if (sp_keyd_release(c, id, part, &err) == SP_OK)
			ms[(*n)++] = (bench_now() - t) * 1000.0;
		else
			++*failed;
	}
	sp_wipe(part, sizeof(part));
}

/* email=..&password=..&next=/account, URL-encoded (the page's form). */
static char *
page_body(const char *email, const char *pw)
{
	char *e = curl_easy_escape(NULL, email, 0), *p = curl_easy_escape(NULL, pw, 0), *s = NULL;
	size_t n;

	if (e != NULL && p != NULL && (s = malloc(n = strlen(e) + strlen(p) + 64)) != NULL)
		snprintf(s, n, "email=%s&password=%s&next=%%2Faccount", e, p);
	curl_free(e);
	curl_free(p);
	return s;
}

static char *
login_body(const char *email, const char *pw)
{
	json_t *j = json_pack("{s:s,s:s}", "email", email, "password", pw);
	char *s = j ? sp_json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	return s;
}

/* Releases alone and under n log-in clients (origin: see login_start), in
 * turn for rounds slices; prints the latencies as `what`.  0 when every
 * release and log-in went through. */
static int
release_under(const char *what, struct sp_keyd_client *rel, const char *id, const char *url,
    const char *origin, char **body, int nbody, int n, int rounds, double slice)
{
	static struct login_load load;
	struct tally lt = {0};
	double *alone = malloc(MAX_SAMPLES * sizeof(double)), *loaded = malloc(MAX_SAMPLES * sizeof(double));
	double a50, a99, amax, l50, l99, lmax;
	long fa = 0, fl = 0;
	size_t na = 0, nl = 0;
	int r, rc = 0;

	if (alone == NULL || loaded == NULL) {
		free(alone);
		free(loaded);
		fprintf(stderr, "bench_login: out of memory\n");
		return 1;
	}
	for (r = 0; r < rounds; r++) {
		struct timespec ramp = {0, 300000000L};	/* every client busy */

		release_slice(rel, id, slice, alone, &na, &fa);
		/* the load would end a little after the releases; stopped now */
		login_start(&load, url, origin, body, nbody, n, slice + 2);
		nanosleep(&ramp, NULL);
		release_slice(rel, id, slice, loaded, &nl, &fl);
		login_stop(&load, &lt);
	}
	a50 = bench_percentile(alone, na, 50);
	a99 = bench_percentile(alone, na, 99);
	amax = bench_percentile(alone, na, 100);
	l50 = bench_percentile(loaded, nl, 50);
	l99 = bench_percentile(loaded, nl, 99);
	lmax = bench_percentile(loaded, nl, 100);
	printf("key release one at a time under %s (%d clients, %.1f log-ins/s, %ld answered 503): "
	    "p50 %.2f ms p99 %.2f ms max %.0f ms (%zu releases, %ld failed)"
	    "   alone: p50 %.2f ms p99 %.2f ms max %.0f ms (%zu releases, %ld failed)   p99 ratio %.1f\n",
	    what, n, rate(&lt), lt.busy, l50, l99, lmax, nl, fl, a50, a99, amax, na, fa,
	    a99 > 0 ? l99 / a99 : 0);
	if (na == 0 || nl == 0 || fa > 0 || fl > 0 || lt.failed > 0 || lt.ok == 0)
		rc = 1;
	free(alone);
	free(loaded);
	return rc;
}

static int
arg_int(const char *s, int lo, int hi, int dflt)
{
	char *e;
	long v = strtol(s, &e, 10);

	return *s != '\0' && *e == '\0' && v >= lo && v <= hi ? (int)v : dflt;
}

int
main(int argc, char **argv)
{
	static struct login_load load;
	char *body[MAX_EMAILS], *page[MAX_EMAILS];
	char login_url[512], page_url[512], session[256], id[SP_ENV_ID_STRLEN + 1], hash[SP_PW_HASH_LEN];
	struct sp_keyd_client *rel = NULL;
	struct sp_err err = {""};
	struct tally ver = {0}, log1 = {0};
	double seconds, slice;
	int workers, conns, rounds, nbody = 0, i, r, rc = 0;

	if (argc < 8) {
		fprintf(stderr, "usage: bench_login KEYD_URL ORG_TOKEN PASSWORD ARGON_WORKERS CONNECTIONS SECONDS EMAIL...\n");
		return 2;
	}
	workers = arg_int(argv[4], 1, MAX_THREADS, 2);
	conns = arg_int(argv[5], 1, MAX_THREADS, 8);
	seconds = strtod(argv[6], NULL);
	if (!(seconds > 0 && seconds <= 60))
		seconds = 5;
	rounds = (int)(seconds + 0.5) < 1 ? 1 : (int)(seconds + 0.5);
	slice = seconds / rounds;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	/* the key server's gate: as many Argon2 workers, 2 s wait */
	sp_password_gate_config(workers, 2000);
	snprintf(login_url, sizeof(login_url), "%s/api/v1/session", argv[1]);
	for (i = argc > 8 ? 8 : 7; i < argc && nbody < MAX_EMAILS; i++, nbody++)
		if ((body[nbody] = login_body(argv[i], argv[3])) == NULL ||
		    (page[nbody] = page_body(argv[i], argv[3])) == NULL) {
			fprintf(stderr, "bench_login: out of memory\n");
			return 1;
		}
	if (sp_password_hash(argv[3], hash, &err) != SP_OK) {
		fprintf(stderr, "bench_login: hash: %s\n", err.msg);
		return 1;
	}

	/* 1. log-ins per second beside bare verifications per second */
	for (r = 0; r < rounds; r++) {
		verify_slice(hash, argv[3], workers, slice, &ver);
		login_start(&load, login_url, NULL, body, nbody, conns, slice);
		login_stop(&load, &log1);
	}
	printf("log-ins: %.1f/s from %d clients, a new connection per log-in (%ld answered 503 busy, %ld failed)"
	    "   bare Argon2id verify on %d threads: %.1f/s   ratio %.3f\n",
	    rate(&log1), conns, log1.busy, log1.failed, workers, rate(&ver),
	    rate(&ver) > 0 ? rate(&log1) / rate(&ver) : 0);
	if (ver.failed > 0 || log1.failed > 0 || log1.ok == 0)
		rc = 1;

	/* 2. release latency alone, then under log-in load, in turn: the JSON
	 * log-in, then the sign-in page's form */
	if (bench_envelope_session("bench_login", argv[1], argv[2], argv[7], argv[3],
	    id, session, sizeof(session)) != 0)
		return 1;
	/* one keep-alive connection for every release, as a recipient's
	 * browser keeps one */
	if (sp_keyd_client_new(&rel, argv[1], 10000, &err) != SP_OK ||
	    sp_keyd_client_set_token(rel, session) != SP_OK) {
		fprintf(stderr, "bench_login: client: %s\n", err.msg);
		return 1;
	}
	if (release_under("log-ins", rel, id, login_url, NULL, body, nbody, conns, rounds, slice) != 0)
		rc = 1;
	snprintf(page_url, sizeof(page_url), "%s/signin", argv[1]);
	if (release_under("sign-in page posts", rel, id, page_url, argv[1], page, nbody, conns, rounds,
	    slice) != 0)
		rc = 1;
	sp_keyd_client_free(rel);

	for (i = 0; i < nbody; i++) {
		sp_wipe(body[i], strlen(body[i]));
		free(body[i]);
		sp_wipe(page[i], strlen(page[i]));
		free(page[i]);
	}
	sp_wipe(session, sizeof(session));
	curl_global_cleanup();
	return rc;
}

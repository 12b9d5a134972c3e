/*
 * common.c - helpers shared by the bench programs (see common.h).
 * SECURITY: passes a recipient's password and session token; bench only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common.h"
#include "keyd_client.h"

double
bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

size_t
bench_sink(char *p, size_t size, size_t n, void *ctx)
{
	(void)p; (void)ctx;
	return size * n;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double
bench_percentile(double *v, size_t n, double p)
{
	size_t rank;

	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	rank = (size_t)(p / 100.0 * (double)n + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return v[rank - 1];
}

int
bench_envelope_session(const char *prog, const char *url, const char *org_token,
    const char *email, const char *password, char id[SP_ENV_ID_STRLEN + 1],
    char *session, size_t sessionsz)
{
	struct sp_keyd_client *org = NULL, *rcpt = NULL;
	struct sp_deposit_req dq;
	struct sp_deposit_res dr = {0};
	struct sp_err err = {""};
	const char *to[1];
	int rc = -1;

	to[0] = email;
	/* format 2 (organisations with signing keys take nothing else); a key
	 * release does not need the envelope sealed, so no signature follows */
	sp_deposit_req_init(&dq);
	dq.from = "alice@clinic.example";
	dq.rcpt = to;
	dq.nrcpt = 1;
	dq.format = 2;
	if (sp_keyd_client_new(&org, url, 10000, &err) != SP_OK ||
	    sp_keyd_client_set_token(org, org_token) != SP_OK ||
	    sp_keyd_deposit(org, &dq, &dr, &err) != SP_OK) {
		fprintf(stderr, "%s: deposit: %s\n", prog, err.msg);
		goto out;
	}
	snprintf(id, SP_ENV_ID_STRLEN + 1, "%s", dr.id);
	if (sp_keyd_client_new(&rcpt, url, 10000, &err) != SP_OK ||
	    sp_keyd_login(rcpt, email, password, &err) != SP_OK) {
		fprintf(stderr, "%s: login: %s\n", prog, err.msg);
		goto out;
	}
	if (sp_keyd_client_token(rcpt, session, sessionsz) != SP_OK) {
		fprintf(stderr, "%s: no session token\n", prog);
		goto out;
	}
	rc = 0;
out:
	sp_deposit_res_clear(&dr);
	sp_keyd_client_free(org);
	sp_keyd_client_free(rcpt);
	return rc;
}

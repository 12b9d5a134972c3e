/*
 * common.h - helpers shared by the bench programs (bench/bench_*.c, each
 * linked with bench/common.c by the Makefile): a monotonic clock, a curl
 * body sink, percentiles of latency samples, and the set-up of every
 * key-release bench (deposit one envelope, log its recipient in).
 * SECURITY: passes a recipient's password and session token; bench only.
 */
#ifndef SP_BENCH_COMMON_H
#define SP_BENCH_COMMON_H

#include <stddef.h>

#include "envelope.h"

/* Seconds on the monotonic clock. */
double bench_now(void);

/* CURLOPT_WRITEFUNCTION that drops the body. */
size_t bench_sink(char *p, size_t size, size_t n, void *ctx);

/* The p-th percentile (0..100, nearest rank) of the n samples in v; sorts v
 * in place.  0 when n is 0. */
double bench_percentile(double *v, size_t n, double p);

/* Deposit one envelope for email with the organisation token, then log
 * email in: the envelope id goes to id, the session token to session.
 * 0 on success; on failure a line on stderr naming prog and -1. */
int bench_envelope_session(const char *prog, const char *url, const char *org_token,
    const char *email, const char *password, char id[SP_ENV_ID_STRLEN + 1],
    char *session, size_t sessionsz);

#endif

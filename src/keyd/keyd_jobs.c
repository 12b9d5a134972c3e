/*
 * keyd_jobs.c - the key server's background work, on one thread:
 * crypto-shredding of expired envelopes every --shred-interval seconds
 * (sp_store_envelope_shred_expired, the first run at start), with the
 * store's housekeeping (sp_store_housekeep: throttle counters of no more
 * use, registrations never activated after 30 days), and audit
 * anchors every --anchor-interval seconds: each chain's head (chain, seq,
 * hash) goes to the log and is appended to DATA/audit-anchors as
 * "TIME CHAIN SEQ HASHHEX" (mode 0600, fsync'd), so that a later
 * `sealpost audit verify --anchors` can tell a rewritten chain.
 * SECURITY: the anchors file holds hashes only; shredding destroys key
 * parts for good.  The thread stops at shutdown after the store call it is
 * in; a store error is logged and the work is tried again next time.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "keyd.h"
#include "keyd_copy.h"

#define SHRED_BATCH 500

struct keyd_jobs {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stopping;
};

static int
stopping(struct keyd *k)
{
	int s;

	pthread_mutex_lock(&k->jobs->mu);
	s = k->jobs->stopping;
	pthread_mutex_unlock(&k->jobs->mu);
	return s;
}

/* The store's housekeeping, logged when it removed anything. */
static void
housekeep(struct keyd *k)
{
	struct sp_err err = {{0}};
	struct sp_housekeep_counts c;
	char nc[24], np[24];
	int st;

	if ((st = sp_store_housekeep(k->store, (int64_t)time(NULL), &c, &err)) != SP_OK) {
		keyd_log("housekeep-failed", "error", sp_err_msg(&err, st), NULL);
		return;
	}
	if (c.throttle > 0 || c.pending > 0) {
		snprintf(nc, sizeof(nc), "%d", c.throttle);
		snprintf(np, sizeof(np), "%d", c.pending);
		keyd_log("housekeep", "counters", nc, "registrations", np, NULL);
	}
}

int
keyd_jobs_shred(struct keyd *k)
{
	struct sp_err err = {{0}};
	int n = 0, total = 0, st;
	char nb[24];

	do {
		if ((st = sp_store_envelope_shred_expired(k->store, (int64_t)time(NULL), SHRED_BATCH,
		    &n, &err)) != SP_OK) {
			keyd_log("shred-failed", "error", sp_err_msg(&err, st), NULL);
			return -1;
		}
		total += n;
	} while (n == SHRED_BATCH && (k->jobs == NULL || !stopping(k)));
	if (total > 0) {
		snprintf(nb, sizeof(nb), "%d", total);
		keyd_log("shred", "envelopes", nb, NULL);
	}
	keyd_copies_purge(k);	/* copies go with their keys, and when their time is up */
	housekeep(k);
	return total;
}

struct anchors {
	struct sp_buf lines;
	int64_t now;
	int n;
};

static int
head_cb(void *ctx, int64_t chain, int64_t seq, const unsigned char hash[SP_SHA256_LEN])
{
	struct anchors *an = ctx;
	char hex[2 * SP_SHA256_LEN + 1], cb[24], sb[24];
	size_t i;

	for (i = 0; i < SP_SHA256_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", hash[i]);
	snprintf(cb, sizeof(cb), "%lld", (long long)chain);
	snprintf(sb, sizeof(sb), "%lld", (long long)seq);
	keyd_log("anchor", "chain", cb, "seq", sb, "hash", hex, NULL);
	if (sp_buf_printf(&an->lines, "%lld %lld %lld %s\n", (long long)an->now, (long long)chain,
	    (long long)seq, hex) != SP_OK)
		return 1;
	an->n++;
	return 0;
}

int
keyd_jobs_anchor(struct keyd *k)
{
	struct sp_err err = {{0}};
	struct anchors an;
	char path[4200];
	int fd, st, ret = -1;
	size_t off = 0;
	ssize_t w;

	an.now = (int64_t)time(NULL);
	an.n = 0;
	sp_buf_init(&an.lines, (size_t)16 << 20);
	if ((st = sp_store_audit_heads(k->store, head_cb, &an, &err)) != SP_OK) {
		keyd_log("anchor-failed", "error", sp_err_msg(&err, st), NULL);
		goto out;
	}
	if (an.lines.len == 0) {
		ret = 0;
		goto out;
	}
	snprintf(path, sizeof(path), "%s/audit-anchors", k->data_dir);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)) < 0) {
		keyd_log("anchor-failed", "error", strerror(errno), NULL);
		goto out;
	}
	(void)fchmod(fd, 0600);
	while (off < an.lines.len) {
		if ((w = write(fd, an.lines.data + off, an.lines.len - off)) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		off += (size_t)w;
	}
	if (off != an.lines.len || fsync(fd) != 0)
		keyd_log("anchor-failed", "error", strerror(errno), NULL);
	else
		ret = an.n;
	close(fd);
out:
	sp_buf_free(&an.lines);
	return ret;
}

static void *
jobs_main(void *arg)
{
	struct keyd *k = arg;
	struct keyd_jobs *j = k->jobs;
	struct timespec now, until;
	int64_t next_shred, next_anchor, due, t;

	clock_gettime(CLOCK_MONOTONIC, &now);
	next_shred = k->shred_interval > 0 ? now.tv_sec : INT64_MAX;
	next_anchor = k->anchor_interval > 0 ? now.tv_sec + k->anchor_interval : INT64_MAX;
	for (;;) {
		due = next_shred < next_anchor ? next_shred : next_anchor;
		pthread_mutex_lock(&j->mu);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (!j->stopping && due > now.tv_sec) {
			until.tv_sec = (time_t)due;
			until.tv_nsec = 0;
			pthread_cond_timedwait(&j->cv, &j->mu, &until);
		}
		if (j->stopping) {
			pthread_mutex_unlock(&j->mu);
			break;
		}
		pthread_mutex_unlock(&j->mu);
		clock_gettime(CLOCK_MONOTONIC, &now);
		t = now.tv_sec;
		if (t >= next_shred) {
			keyd_jobs_shred(k);
			next_shred = t + k->shred_interval;
		}
		if (t >= next_anchor) {
			keyd_jobs_anchor(k);
			next_anchor = t + k->anchor_interval;
		}
	}
	return NULL;
}

int
keyd_jobs_start(struct keyd *k, struct sp_err *err)
{
	struct keyd_jobs *j;
	pthread_condattr_t ca;

	if (k->shred_interval <= 0 && k->anchor_interval <= 0)
		return SP_OK;
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	pthread_mutex_init(&j->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&j->cv, &ca);
	pthread_condattr_destroy(&ca);
	k->jobs = j;
	if (pthread_create(&j->thread, NULL, jobs_main, k) != 0) {
		pthread_mutex_destroy(&j->mu);
		pthread_cond_destroy(&j->cv);
		free(j);
		k->jobs = NULL;
		return sp_err_set(err, SP_ERR_IO, "cannot start the background thread");
	}
	return SP_OK;
}

void
keyd_jobs_stop(struct keyd *k)
{
	struct keyd_jobs *j = k->jobs;

	if (j == NULL)
		return;
	pthread_mutex_lock(&j->mu);
	j->stopping = 1;
	pthread_cond_broadcast(&j->cv);
	pthread_mutex_unlock(&j->mu);
	pthread_join(j->thread, NULL);
	pthread_mutex_destroy(&j->mu);
	pthread_cond_destroy(&j->cv);
	free(j);
	k->jobs = NULL;
}

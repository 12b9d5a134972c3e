/*
 * keyd_work.h - the key server's workers (keyd_work.c): a few long-lived
 * threads that run the requests too heavy for an HTTP thread (a password
 * checked with Argon2id, a large envelope decrypted, a reply sealed and
 * handed to the mail system), each while libmicrohttpd holds its
 * connection suspended, so that the other connections of that HTTP thread
 * (key releases among them) go on.  Routes ask for it with
 * KEYD_ROUTE_WORKER (keyd_router.h).
 */
#ifndef KEYD_WORK_H
#define KEYD_WORK_H

#include "keyd.h"
#include "keyd_req.h"

#define KEYD_WORKERS_MIN 4	/* threads: this many, or --argon-workers + 2 */
#define KEYD_WORKERS_MAX 66	/* --argon-workers' most + 2 */
#define KEYD_WORK_QUEUE 64	/* requests waiting for one, at most */

typedef enum MHD_Result keyd_work_fn(struct keyd_req *r, const char *arg);

/* Start n threads (KEYD_WORKERS_MIN to KEYD_WORKERS_MAX; enough that
 * every Argon2id slot of the password gate can be busy while other slow
 * requests run) and stop them (after the HTTP daemon has stopped). */
int keyd_work_start(struct keyd *k, int n, struct sp_err *err);
void keyd_work_stop(struct keyd *k);
/* Requests queued or running (for a clean stop: wait until 0). */
int keyd_work_pending(struct keyd *k);

/* Run fn(r, arg) on a worker: the connection is suspended until it is
 * done, and the answer fn made is queued when libmicrohttpd calls the
 * handler again (keyd_work_answer).  0 when the queue is full or there are
 * no workers (nothing was done: the caller answers). */
int keyd_work_submit(struct keyd_req *r, keyd_work_fn *fn, const char *arg);
/* The worker's answer, from the handler's next call. */
enum MHD_Result keyd_work_answer(struct keyd_req *r);

#endif

/*
 * keyd_work.c - the key server's workers (keyd_work.h): a few threads and
 * a bounded queue of suspended requests.  A worker runs the route's
 * handler as an HTTP thread would, except that the answer is held
 * (keyd_req.c: r->work == KEYD_WORK_RUNNING) instead of queued: only the
 * handler's call from libmicrohttpd may queue an answer, so the worker
 * resumes the connection and that call queues what was held.  The threads
 * live as long as the key server, and with them their store connections.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "keyd_work.h"

struct work_job {
	struct keyd_req *r;
	keyd_work_fn *fn;
	char *arg;			/* the route's argument (an id, a rest of the path) */
	struct work_job *next;
};

struct keyd_work {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct work_job *head, *tail;
	int pending;			/* queued or running */
	int stopping;
	pthread_t th[KEYD_WORKERS_MAX];
	int nth;
};

static void *
worker(void *arg)
{
	struct keyd_work *w = arg;
	struct work_job *j;
	struct keyd_req *r;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (w->head == NULL && !w->stopping)
			pthread_cond_wait(&w->cv, &w->mu);
		if ((j = w->head) == NULL)
			break;		/* stopping, and nothing left */
		w->head = j->next;
		if (w->head == NULL)
			w->tail = NULL;
		pthread_mutex_unlock(&w->mu);
		r = j->r;
		r->work_ret = j->fn(r, j->arg);
		free(j->arg);
		free(j);
		__atomic_store_n(&r->work, KEYD_WORK_DONE, __ATOMIC_RELEASE);
		/* r belongs to libmicrohttpd again from here on */
		MHD_resume_connection(r->conn);
		pthread_mutex_lock(&w->mu);
		w->pending--;
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

int
keyd_work_start(struct keyd *k, int n, struct sp_err *err)
{
	struct keyd_work *w = calloc(1, sizeof(*w));

	if (n < KEYD_WORKERS_MIN)
		n = KEYD_WORKERS_MIN;
	if (n > KEYD_WORKERS_MAX)
		n = KEYD_WORKERS_MAX;
	if (w == NULL)
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	k->work = w;
	for (w->nth = 0; w->nth < n; w->nth++)
		if (pthread_create(&w->th[w->nth], NULL, worker, w) != 0)
			break;
	if (w->nth == 0) {
		keyd_work_stop(k);
		return sp_err_set(err, SP_ERR_NOMEM, "cannot start the worker threads");
	}
	return SP_OK;
}

void
keyd_work_stop(struct keyd *k)
{
	struct keyd_work *w = k->work;
	int i;

	if (w == NULL)
		return;
	pthread_mutex_lock(&w->mu);
	w->stopping = 1;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	for (i = 0; i < w->nth; i++)
		pthread_join(w->th[i], NULL);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
	k->work = NULL;
}

int
keyd_work_pending(struct keyd *k)
{
	struct keyd_work *w = k->work;
	int n;

	if (w == NULL)
		return 0;
	pthread_mutex_lock(&w->mu);
	n = w->pending;
	pthread_mutex_unlock(&w->mu);
	return n;
}

int
keyd_work_submit(struct keyd_req *r, keyd_work_fn *fn, const char *arg)
{
	struct keyd_work *w = r->k->work;
	struct work_job *j;

	if (w == NULL || (j = calloc(1, sizeof(*j))) == NULL)
		return 0;
	if ((j->arg = strdup(arg)) == NULL) {
		free(j);
		return 0;
	}
	j->r = r;
	j->fn = fn;
	pthread_mutex_lock(&w->mu);
	if (w->stopping || w->pending >= KEYD_WORK_QUEUE + w->nth) {
		pthread_mutex_unlock(&w->mu);
		free(j->arg);
		free(j);
		return 0;
	}
	/* suspended before a worker can see it (and resume it) */
	r->work = KEYD_WORK_RUNNING;
	MHD_suspend_connection(r->conn);
	if (w->tail != NULL)
		w->tail->next = j;
	else
		w->head = j;
	w->tail = j;
	w->pending++;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	return 1;
}

enum MHD_Result
keyd_work_answer(struct keyd_req *r)
{
	struct MHD_Response *resp = r->work_resp;
	enum MHD_Result ret;

	r->work = KEYD_WORK_NONE;
	if (resp == NULL)
		return r->work_ret == MHD_YES ? keyd_reply_error(r, 500, "err.internal") : MHD_NO;
	r->work_resp = NULL;
	ret = MHD_queue_response(r->conn, r->work_status, resp);
	MHD_destroy_response(resp);
	r->answered = 1;
	return ret;
}

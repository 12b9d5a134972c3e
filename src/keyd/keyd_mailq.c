/*
 * keyd_mailq.c - the key server's mail sender: requests compose their
 * account mails (notice.h) and queue them; one thread hands them to the
 * mail transport; notices to senders (read notices, verification locks,
 * new accounts with messages waiting) take the same way.  A request's
 * time then never depends on whether a mail was sent, so "is there an
 * account for this address?" cannot be read off the clock, and a slow MTA
 * holds no request.  (A sealed reply is not queued here: keyd_reply.c
 * hands it to the transport before it answers.)
 * A mail the transport refuses (the MTA's queue or the outbox cannot take
 * it just now) is tried again after 5 s, 30 s, 2, 10 and 30 minutes, then
 * logged (without its body) and dropped; a read notice could not be asked
 * for again.  Mails still waiting for a try when the key server stops are
 * dropped, with a log line each.
 * SECURITY: queued mails hold single-use tokens; they are wiped when sent
 * or dropped.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "keyd.h"
#include "keyd_lang.h"
#include "notice.h"

struct qmail {
	char to[SP_STORE_EMAIL_MAX + 1];
	const char *subject;		/* static text of the catalogues (i18n.h) */
	struct sp_buf body;
	int tries;			/* refused so far */
	struct timespec due;		/* CLOCK_MONOTONIC: not tried before */
	struct qmail *next;
};

/* Seconds before the next try, after the first, second, ... refusal. */
static const int retry_after[] = {5, 30, 120, 600, 1800};
#define MAILQ_TRIES ((int)(sizeof(retry_after) / sizeof(retry_after[0])) + 1)

struct keyd_mailq {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;		/* on CLOCK_MONOTONIC */
	struct qmail *head, *tail;
	size_t n;
	int stopping;
};

static void
qmail_free(struct qmail *m)
{
	sp_buf_wipe(&m->body);
	sp_wipe(m, sizeof(*m));
	free(m);
}

static int
ts_before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* The first mail due by now, taken off the queue (q->mu held); NULL with
 * *next the earliest due time of those waiting (tv_sec 0: none waits). */
static struct qmail *
take_due(struct keyd_mailq *q, const struct timespec *now, struct timespec *next)
{
	struct qmail *m, *prev = NULL;

	next->tv_sec = 0;
	next->tv_nsec = 0;
	for (m = q->head; m != NULL; prev = m, m = m->next) {
		if (!ts_before(now, &m->due) || q->stopping) {
			if (prev != NULL)
				prev->next = m->next;
			else
				q->head = m->next;
			if (q->tail == m)
				q->tail = prev;
			m->next = NULL;
			q->n--;
			return m;
		}
		if (next->tv_sec == 0 || ts_before(&m->due, next))
			*next = m->due;
	}
	return NULL;
}

/* Put m at the end of the queue (q->mu held). */
static void
append(struct keyd_mailq *q, struct qmail *m)
{
	m->next = NULL;
	if (q->tail)
		q->tail->next = m;
	else
		q->head = m;
	q->tail = m;
	q->n++;
}

static void *
sender(void *arg)
{
	struct keyd *k = arg;
	struct keyd_mailq *q = k->mailq;
	struct qmail *m;
	struct sp_err err = {{0}};
	struct timespec now, next;
	char tries[16];
	int st, stopping;

	pthread_mutex_lock(&q->mu);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((m = take_due(q, &now, &next)) == NULL) {
			if (q->stopping)
				break;		/* stopping and drained */
			if (next.tv_sec == 0)
				pthread_cond_wait(&q->cv, &q->mu);
			else
				pthread_cond_timedwait(&q->cv, &q->mu, &next);
			continue;
		}
		stopping = q->stopping;
		pthread_mutex_unlock(&q->mu);
		if (stopping && m->tries > 0) {
			/* refused before and not due yet: no more tries */
			snprintf(tries, sizeof(tries), "%d", m->tries);
			keyd_log("mail-dropped", "subject", m->subject, "reason", "stopping",
			    "tries", tries, NULL);
			qmail_free(m);
		} else if ((st = sp_transport_send(k->mail, m->to, m->subject,
		    m->body.data ? (const char *)m->body.data : "", &err)) != SP_OK) {
			m->tries++;
			snprintf(tries, sizeof(tries), "%d", m->tries);
			keyd_log("mail-failed", "subject", m->subject, "error",
			    sp_err_msg(&err, st), "tries", tries, NULL);
			if (m->tries >= MAILQ_TRIES || stopping) {
				keyd_log("mail-dropped", "subject", m->subject, "reason",
				    stopping ? "stopping" : "refused every time", "tries", tries,
				    NULL);
				qmail_free(m);
			} else {
				clock_gettime(CLOCK_MONOTONIC, &m->due);
				m->due.tv_sec += retry_after[m->tries - 1];
				pthread_mutex_lock(&q->mu);
				append(q, m);
				pthread_mutex_unlock(&q->mu);
			}
		} else {
			qmail_free(m);
		}
		pthread_mutex_lock(&q->mu);
	}
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

int
keyd_mailq_start(struct keyd *k, struct sp_err *err)
{
	struct keyd_mailq *q = calloc(1, sizeof(*q));
	pthread_condattr_t ca;

	if (q == NULL)
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	pthread_mutex_init(&q->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q->cv, &ca);
	pthread_condattr_destroy(&ca);
	k->mailq = q;
	if (pthread_create(&q->thread, NULL, sender, k) != 0) {
		pthread_mutex_destroy(&q->mu);
		pthread_cond_destroy(&q->cv);
		free(q);
		k->mailq = NULL;
		return sp_err_set(err, SP_ERR_IO, "cannot start the mail thread");
	}
	return SP_OK;
}

void
keyd_mailq_stop(struct keyd *k)
{
	struct keyd_mailq *q = k->mailq;

	if (q == NULL)
		return;
	pthread_mutex_lock(&q->mu);
	q->stopping = 1;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
	pthread_join(q->thread, NULL);
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->cv);
	free(q);
	k->mailq = NULL;
}

/* Queue m (composed); takes it. */
static int
enqueue(struct keyd *k, struct qmail *m)
{
	struct keyd_mailq *q = k->mailq;

	pthread_mutex_lock(&q->mu);
	if (q->n >= KEYD_MAILQ_MAX || q->stopping) {
		pthread_mutex_unlock(&q->mu);
		keyd_log("mail-dropped", "reason", "queue full", NULL);
		qmail_free(m);
		return SP_ERR_RETRY;
	}
	append(q, m);
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
	return SP_OK;
}

/* A mail to to, with an empty body; NULL when there is no queue or memory. */
static struct qmail *
qmail_new(struct keyd *k, const char *to)
{
	struct qmail *m;

	if (k->mailq == NULL || (m = calloc(1, sizeof(*m))) == NULL)
		return NULL;
	snprintf(m->to, sizeof(m->to), "%s", to);
	sp_buf_init(&m->body, 65536);
	return m;
}

/* Queue m once it is composed (st SP_OK); else log err and drop it. */
static int
enqueue_composed(struct keyd *k, struct qmail *m, int st, const struct sp_err *err)
{
	if (st != SP_OK) {
		keyd_log("mail-failed", "error", sp_err_msg(err, st), NULL);
		qmail_free(m);
		return st;
	}
	return enqueue(k, m);
}

int
keyd_notice(struct keyd *k, int kind, const char *to, const char *token,
    const char *ttl_text, const char *detail)
{
	return keyd_notice_lang(k, NULL, kind, to, token, ttl_text, detail);
}

int
keyd_notice_lang(struct keyd *k, const char *lang, int kind, const char *to,
    const char *token, const char *ttl_text, const char *detail)
{
	struct sp_err err = {{0}};
	struct qmail *m;

	if (lang == NULL && (lang = keyd_account_lang(k, to)) == NULL)
		lang = SP_I18N_DEFAULT;
	if ((m = qmail_new(k, to)) == NULL)
		return SP_ERR_NOMEM;
	return enqueue_composed(k, m, sp_notice_compose_lang(lang, kind, to, k->public_url,
	    token, ttl_text, detail, &m->subject, &m->body, &err), &err);
}

int
keyd_notice_sender(struct keyd *k, int kind, const char *to,
    const struct sp_notice_sender *info)
{
	return keyd_notice_sender_lang(k, NULL, kind, to, info);
}

int
keyd_notice_sender_lang(struct keyd *k, const char *lang, int kind, const char *to,
    const struct sp_notice_sender *info)
{
	struct sp_err err = {{0}};
	struct qmail *m;

	if ((m = qmail_new(k, to)) == NULL)
		return SP_ERR_NOMEM;
	return enqueue_composed(k, m, sp_notice_compose_sender_lang(sp_i18n_lang(lang), kind,
	    to, k->public_url, info, &m->subject, &m->body, &err), &err);
}

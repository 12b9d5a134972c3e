/*
 * keyd_mailq.c - the key server's mail sender: requests compose their
 * account mails (notice.h) and queue them; one thread hands them to the
 * mail transport; notices to senders (read notices, verification locks,
 * new accounts with messages waiting) take the same way.  A request's
 * time then never depends on whether a mail was sent, so "is there an
 * account for this address?" cannot be read off the clock, and a slow MTA
 * holds no request.  (A sealed reply is not queued here: keyd_reply.c
 * hands it to the transport before it answers.)
 * SECURITY: queued mails hold single-use tokens; they are wiped when sent
 * or dropped.  A mail that cannot be sent is logged (without its body) and
 * dropped: every mail here can be asked for again by its recipient.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keyd.h"
#include "keyd_lang.h"
#include "notice.h"

struct qmail {
	char to[SP_STORE_EMAIL_MAX + 1];
	const char *subject;		/* static text of the catalogues (i18n.h) */
	struct sp_buf body;
	struct qmail *next;
};

struct keyd_mailq {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
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

static void *
sender(void *arg)
{
	struct keyd *k = arg;
	struct keyd_mailq *q = k->mailq;
	struct qmail *m;
	struct sp_err err = {{0}};
	int st;

	pthread_mutex_lock(&q->mu);
	for (;;) {
		while (q->head == NULL && !q->stopping)
			pthread_cond_wait(&q->cv, &q->mu);
		if ((m = q->head) == NULL)
			break;		/* stopping and drained */
		q->head = m->next;
		if (q->head == NULL)
			q->tail = NULL;
		q->n--;
		pthread_mutex_unlock(&q->mu);
		if ((st = sp_transport_send(k->mail, m->to, m->subject,
		    m->body.data ? (const char *)m->body.data : "", &err)) != SP_OK)
			keyd_log("mail-failed", "subject", m->subject, "error",
			    sp_err_msg(&err, st), NULL);
		qmail_free(m);
		pthread_mutex_lock(&q->mu);
	}
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

int
keyd_mailq_start(struct keyd *k, struct sp_err *err)
{
	struct keyd_mailq *q = calloc(1, sizeof(*q));

	if (q == NULL)
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
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
	if (q->tail)
		q->tail->next = m;
	else
		q->head = m;
	q->tail = m;
	q->n++;
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

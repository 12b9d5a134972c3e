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
 * it just now) moves into the store's mail queue (store.h), sealed under a
 * key of its own that the key holder wraps, and is tried again after 5 s,
 * 30 s, 2, 10 and 30 minutes, by this key server or, after a restart or
 * from another key server of the cluster, by whichever claims it first;
 * after the last refusal it is logged (without its body) and dropped.  A
 * read notice cannot be asked for again, so it must survive a restart.
 * Only when the store or the key holder cannot take it does a refused mail
 * wait in memory for its tries, as every mail did before; a stop drops
 * those, with a log line each.
 * SECURITY: queued mails hold single-use tokens: in memory they are wiped
 * when sent or dropped; in the store they exist only sealed, and the
 * database, its backups and the key server's data directory without the
 * key holder's master key cannot open them.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto.h"
#include "keyd.h"
#include "keyd_lang.h"
#include "notice.h"

struct qmail {
	char to[SP_STORE_EMAIL_MAX + 1];
	const char *subject;		/* static text of the catalogues (i18n.h) */
	struct sp_buf body;
	int tries;			/* refused so far */
	struct timespec due;		/* CLOCK_MONOTONIC: not tried before */
	int64_t stale;			/* unix time its link or code expires; 0 never */
	struct qmail *next;
};

/* How long the token of a notice of kind works (the TTL its request gave
 * it), 0 for a notice without one: a mail whose link or code has expired
 * is not sent after a refusal. */
static int64_t
token_life(int kind)
{
	switch (kind) {
	case SP_NOTICE_ACTIVATE: return KEYD_ACTIVATION_TTL;
	case SP_NOTICE_RESET: return KEYD_RESET_TTL;
	case SP_NOTICE_SIGNIN: return KEYD_SIGNIN_TTL;
	case SP_NOTICE_SIGNUP_CODE: return KEYD_SIGNUP_TTL;
	default: return 0;
	}
}

/* Seconds before the next try, after the first, second, ... refusal. */
static const int retry_after[] = {5, 30, 120, 600, 1800};
#define MAILQ_TRIES ((int)(sizeof(retry_after) / sizeof(retry_after[0])) + 1)

/* After a mail's tries-th refusal: seconds until its next try, or 0 when
 * it has had every try (the memory and the store's queue alike). */
static int
retry_in(int tries)
{
	return tries >= MAILQ_TRIES ? 0 : retry_after[tries - 1];
}

/* The store's queue: a claimed mail is this key server's for MAILQ_LEASE
 * seconds (then another may take it: this one died); the queue is looked
 * at every MAILQ_POLL seconds at least (mails another key server kept, or
 * an earlier run), and at the due time of each mail this one kept; a mail
 * whose key the key holder cannot unwrap just now, or a queue the store
 * cannot give, waits MAILQ_AWAY seconds. */
#define MAILQ_LEASE 300
#define MAILQ_POLL 10
#define MAILQ_AWAY 30
#define MAILQ_CLAIM 16		/* mails claimed at once */
#define MAILQ_AAD_MAX (SP_STORE_MAILQ_REF_LEN + 8)

struct keyd_mailq {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;		/* on CLOCK_MONOTONIC */
	struct qmail *head, *tail;
	size_t n;
	int stopping;
	time_t store_next;		/* wall clock: look at the store's queue */
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

/* A mail of the store's queue is sealed as nonce || AES-256-GCM(to NUL
 * subject NUL STALE NUL body) || tag under a key of its own (STALE: the
 * unix time its link or code expires, in decimal, 0 never); the key
 * holder wraps that key.  Both use the associated data "mailq:REF". */
static void
mailq_aad(char aad[MAILQ_AAD_MAX], const char *ref)
{
	snprintf(aad, MAILQ_AAD_MAX, "mailq:%.*s", SP_STORE_MAILQ_REF_LEN, ref);
}

/* Move m, refused m->tries times, into the store's queue, due at due. */
static int
keep(struct keyd *k, const struct qmail *m, int64_t due, struct sp_err *err)
{
	struct sp_mailq_rec rec;
	unsigned char key[SP_KEY_LEN], *pt;
	char aad[MAILQ_AAD_MAX], stale[24];
	size_t tl = strlen(m->to), sl = strlen(m->subject), xl, ptlen;
	int st;

	memset(&rec, 0, sizeof(rec));
	xl = (size_t)snprintf(stale, sizeof(stale), "%lld", (long long)m->stale);
	ptlen = tl + 1 + sl + 1 + xl + 1 + m->body.len;
	if (ptlen > SP_STORE_MAILQ_SEALED_MAX - SP_GCM_NONCE_LEN - SP_GCM_TAG_LEN)
		return sp_err_set(err, SP_ERR_TOOBIG, "the mail is too large for the store's queue");
	rec.sealed_len = SP_GCM_NONCE_LEN + ptlen + SP_GCM_TAG_LEN;
	if ((rec.sealed = malloc(rec.sealed_len)) == NULL)
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	if ((st = sp_token_new(rec.ref, sizeof(rec.ref), "", 16)) != SP_OK ||
	    (st = sp_random(key, sizeof(key))) != SP_OK ||
	    (st = sp_random(rec.sealed, SP_GCM_NONCE_LEN)) != SP_OK) {
		st = sp_err_set(err, st, "no randomness");
		goto out;
	}
	mailq_aad(aad, rec.ref);
	/* the plain text after the nonce, sealed where it is */
	pt = rec.sealed + SP_GCM_NONCE_LEN;
	memcpy(pt, m->to, tl + 1);
	memcpy(pt + tl + 1, m->subject, sl + 1);
	memcpy(pt + tl + 1 + sl + 1, stale, xl + 1);
	if (m->body.len > 0)
		memcpy(pt + tl + 1 + sl + 1 + xl + 1, m->body.data, m->body.len);
	if ((st = sp_gcm_seal(key, rec.sealed, aad, strlen(aad), pt, ptlen, pt)) != SP_OK) {
		st = sp_err_set(err, st, "the mail could not be sealed");
		goto out;
	}
	if ((st = sp_keywrap_wrap(k->kw, aad, key, rec.wrapped, &rec.key_id, err)) != SP_OK)
		goto out;
	rec.wrapped_len = SP_KEYWRAP_LEN;
	rec.due = due;
	rec.tries = m->tries;
	st = sp_store_mailq_add(k->store, &rec, err);
out:
	sp_wipe(key, sizeof(key));
	sp_mailq_rec_clear(&rec);	/* wipes what is left of the plain text */
	return st;
}

/* Open a mail of the store's queue into its plain text (*pt, owned, wiped
 * by the caller) and the pointers into it.  SP_ERR_RETRY when the key
 * holder is away. */
static int
unseal(struct keyd *k, const struct sp_mailq_rec *rec, unsigned char **pt, size_t *ptlen,
    const char **to, const char **subject, int64_t *stale, const char **body,
    struct sp_err *err)
{
	unsigned char key[SP_KEY_LEN];
	char aad[MAILQ_AAD_MAX], *num;
	const char *p, *end;
	long long v;
	int st;

	*pt = NULL;
	if (rec->sealed_len < SP_GCM_NONCE_LEN + SP_GCM_TAG_LEN + 4)
		return sp_err_set(err, SP_ERR_AUTH, "damaged");
	mailq_aad(aad, rec->ref);
	if ((st = sp_keywrap_unwrap(k->kw, rec->key_id, aad, rec->wrapped, rec->wrapped_len,
	    key, err)) != SP_OK)
		return st;
	*ptlen = rec->sealed_len - SP_GCM_NONCE_LEN - SP_GCM_TAG_LEN;
	/* one more byte: the body's NUL */
	if ((*pt = calloc(1, *ptlen + 1)) == NULL) {
		sp_wipe(key, sizeof(key));
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	}
	st = sp_gcm_open(key, rec->sealed, aad, strlen(aad), rec->sealed + SP_GCM_NONCE_LEN,
	    rec->sealed_len - SP_GCM_NONCE_LEN, *pt);
	sp_wipe(key, sizeof(key));
	if (st != SP_OK)
		return sp_err_set(err, SP_ERR_AUTH, "it does not open with its key");
	p = (const char *)*pt;
	end = p + *ptlen;
	*to = p;
	if ((p = memchr(p, '\0', (size_t)(end - p))) == NULL || ++p >= end)
		return sp_err_set(err, SP_ERR_AUTH, "damaged");
	*subject = p;
	if ((p = memchr(p, '\0', (size_t)(end - p))) == NULL || ++p >= end)
		return sp_err_set(err, SP_ERR_AUTH, "damaged");
	errno = 0;
	v = strtoll(p, &num, 10);
	if (num == p || *num != '\0' || errno != 0 || v < 0 || (const char *)num >= end)
		return sp_err_set(err, SP_ERR_AUTH, "damaged");
	*stale = (int64_t)v;
	*body = num + 1;
	return SP_OK;
}

/* One mail claimed from the store's queue: sent and deleted, kept for its
 * next try, or dropped after the last; *next (wall clock) is moved to its
 * next try when that is earlier. */
static void
from_store(struct keyd *k, struct sp_mailq_rec *rec, time_t *next)
{
	struct sp_err err = {{0}};
	unsigned char *pt = NULL;
	size_t ptlen = 0;
	const char *to = NULL, *subject = NULL, *body = NULL, *why = NULL;
	char tries[16];
	time_t now = time(NULL), due = 0;
	int64_t stale = 0;
	int st;

	st = unseal(k, rec, &pt, &ptlen, &to, &subject, &stale, &body, &err);
	if (st == SP_ERR_RETRY) {
		/* the key holder is away: not a try */
		due = now + MAILQ_AWAY;
		keyd_log("mail-failed", "ref", rec->ref, "error", sp_err_msg(&err, st), NULL);
	} else if (st != SP_OK) {
		why = "cannot be opened";
		keyd_log("mail-failed", "ref", rec->ref, "error", sp_err_msg(&err, st), NULL);
	} else if (stale != 0 && (int64_t)now >= stale) {
		why = "expired";		/* its link or code no longer works */
	} else if ((st = sp_transport_send(k->mail, to, subject, body, &err)) == SP_OK) {
		snprintf(tries, sizeof(tries), "%d", rec->tries + 1);
		keyd_log("mail-sent", "ref", rec->ref, "subject", subject, "tries", tries, NULL);
	} else {
		rec->tries++;
		snprintf(tries, sizeof(tries), "%d", rec->tries);
		keyd_log("mail-failed", "ref", rec->ref, "subject", subject, "error",
		    sp_err_msg(&err, st), "tries", tries, NULL);
		if (retry_in(rec->tries) == 0)
			why = "refused every time";
		else
			due = now + retry_in(rec->tries);
	}
	if (why != NULL) {
		snprintf(tries, sizeof(tries), "%d", rec->tries);
		keyd_log("mail-dropped", "ref", rec->ref, "reason", why, "tries", tries, NULL);
	}
	/* a mail the store fails to delete comes back when its hold ends:
	 * sent twice rather than lost */
	if ((st = due != 0 ? sp_store_mailq_retry(k->store, rec->ref, rec->tries, due, &err) :
	    sp_store_mailq_delete(k->store, rec->ref, &err)) != SP_OK)
		keyd_log("store-error", "ref", rec->ref, "error", sp_err_msg(&err, st), NULL);
	else if (due != 0 && due < *next)
		*next = due;
	if (pt != NULL) {
		sp_wipe(pt, ptlen + 1);
		free(pt);
	}
}

/* Claim what is due in the store's queue and try it; the wall clock time
 * to look again. */
static time_t
store_round(struct keyd *k)
{
	struct sp_mailq_rec recs[MAILQ_CLAIM];
	struct sp_err err = {{0}};
	time_t now = time(NULL), next = now + MAILQ_POLL;
	int64_t due = 0;
	size_t i, n = 0;
	int st;

	if ((st = sp_store_mailq_claim(k->store, (int64_t)now, MAILQ_LEASE, recs, MAILQ_CLAIM,
	    &n, &due, &err)) != SP_OK) {
		keyd_log("store-error", "error", sp_err_msg(&err, st), NULL);
		return now + MAILQ_AWAY;
	}
	/* the next mail due that nobody holds (after a restart: this one's own) */
	if (due > 0 && due < (int64_t)next)
		next = (time_t)due;
	for (i = 0; i < n; i++) {
		from_store(k, &recs[i], &next);
		sp_mailq_rec_clear(&recs[i]);
	}
	/* a full claim: more may be due */
	return n == MAILQ_CLAIM ? now : next;
}

/* After m's refusal (counted in m->tries): into the store's queue for its
 * next try, else into memory, else dropped.  1 when m is still the
 * caller's (queued in memory again). */
static int
refused(struct keyd *k, struct qmail *m, int stopping)
{
	struct keyd_mailq *q = k->mailq;
	struct sp_err err = {{0}};
	char tries[16];
	time_t due;
	int st;

	snprintf(tries, sizeof(tries), "%d", m->tries);
	if (retry_in(m->tries) == 0) {
		keyd_log("mail-dropped", "subject", m->subject, "reason", "refused every time",
		    "tries", tries, NULL);
		return 0;
	}
	due = time(NULL) + retry_in(m->tries);
	if ((st = keep(k, m, (int64_t)due, &err)) == SP_OK) {
		keyd_log("mail-kept", "subject", m->subject, "tries", tries, NULL);
		pthread_mutex_lock(&q->mu);
		if (due < q->store_next)
			q->store_next = due;
		pthread_mutex_unlock(&q->mu);
		return 0;
	}
	keyd_log("mail-failed", "subject", m->subject, "error", sp_err_msg(&err, st),
	    "kept", "memory", NULL);
	if (stopping) {
		keyd_log("mail-dropped", "subject", m->subject, "reason", "stopping",
		    "tries", tries, NULL);
		return 0;
	}
	clock_gettime(CLOCK_MONOTONIC, &m->due);
	m->due.tv_sec += retry_in(m->tries);
	return 1;
}

static void *
sender(void *arg)
{
	struct keyd *k = arg;
	struct keyd_mailq *q = k->mailq;
	struct qmail *m;
	struct sp_err err = {{0}};
	struct timespec now, next, wake;
	char tries[16];
	time_t wall, store_at;
	int st, stopping;

	pthread_mutex_lock(&q->mu);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((m = take_due(q, &now, &next)) == NULL) {
			if (q->stopping)
				break;		/* stopping and drained */
			wall = time(NULL);
			if (wall >= q->store_next) {
				pthread_mutex_unlock(&q->mu);
				store_at = store_round(k);
				pthread_mutex_lock(&q->mu);
				/* a mail kept meanwhile may be due earlier */
				if (q->store_next <= wall || store_at < q->store_next)
					q->store_next = store_at;
				continue;
			}
			/* until the first due mail in memory or the store's
			 * turn, whichever comes first */
			wake = now;
			wake.tv_sec += q->store_next - wall;
			if (next.tv_sec == 0 || ts_before(&wake, &next))
				next = wake;
			pthread_cond_timedwait(&q->cv, &q->mu, &next);
			continue;
		}
		stopping = q->stopping;
		pthread_mutex_unlock(&q->mu);
		if ((stopping && m->tries > 0) ||
		    (m->stale != 0 && (int64_t)time(NULL) >= m->stale)) {
			/* refused before and not due yet, or its link or code
			 * has expired: no more tries */
			snprintf(tries, sizeof(tries), "%d", m->tries);
			keyd_log("mail-dropped", "subject", m->subject, "reason",
			    stopping ? "stopping" : "expired", "tries", tries, NULL);
			qmail_free(m);
		} else if ((st = sp_transport_send(k->mail, m->to, m->subject,
		    m->body.data ? (const char *)m->body.data : "", &err)) != SP_OK) {
			m->tries++;
			snprintf(tries, sizeof(tries), "%d", m->tries);
			keyd_log("mail-failed", "subject", m->subject, "error",
			    sp_err_msg(&err, st), "tries", tries, NULL);
			if (refused(k, m, stopping)) {
				pthread_mutex_lock(&q->mu);
				append(q, m);
				pthread_mutex_unlock(&q->mu);
			} else {
				qmail_free(m);
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
	if (token != NULL && token_life(kind) > 0)
		m->stale = (int64_t)time(NULL) + token_life(kind);
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

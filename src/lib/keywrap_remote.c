/*
 * keywrap_remote.c - keywrap.h's remote implementation: every wrap, unwrap
 * and reload is one request to the key holder over a socket (khproto.h).
 * Requests are pipelined: each caller sends its frame with its own request
 * id and waits for the answer with that id, so several are in flight on
 * the one connection (at most SP_KH_WINDOW).  There is no reading thread:
 * one waiting caller at a time reads whatever answers have come and hands
 * each to the caller it belongs to; when its own has come it hands the
 * reading on to another waiter.  Each request and its answer have a
 * deadline.  Anything unexpected (timeout, closed socket, an answer to no
 * waiting request or of the wrong type, a frame that does not decode)
 * leaves the stream out of step, so the connection is marked dead, every
 * waiter and every later call is SP_ERR_RETRY (the key server answers 503
 * instead of guessing) until sp_keywrap_reconnect() gives it a new one.
 * SECURITY: a WRAP request and an UNWRAP answer carry a key part: the
 * frames and messages are wiped after use.  An answer is only ever given
 * to the caller whose request id it carries, and only when of the type
 * asked for.  No master key ever reaches this process.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "keywrap_internal.h"
#include "keywrap_remote.h"
#include "khstream.h"

/* One request waiting for its answer: on its caller's stack (fn NULL), or
 * allocated for sp_keywrap_unwrap_async() (fn its callback). */
struct kh_call {
	struct kh_call *next;
	uint32_t id;
	uint16_t want;		/* the answer type expected (or ERROR) */
	int done;		/* answered, or failed with the connection */
	int st;			/* SP_OK: ans is the answer; else SP_ERR_RETRY */
	int64_t deadline;	/* sp_kh_now_ms() */
	struct sp_kh_msg ans;
	pthread_cond_t cv;	/* a waiting caller: done */
	sp_keywrap_done_fn fn;
	void *arg;
};

struct kw_remote {
	struct sp_keywrap base;
	pthread_mutex_t mu;	/* everything below, but rb (the reader's) */
	pthread_mutex_t wmu;	/* one frame written at a time */
	pthread_cond_t slot;	/* a place in the window; the reader idle */
	pthread_cond_t conn;	/* the reader: a new connection, or stop */
	pthread_t reader;
	int have_reader;
	int stop;
	int fd;
	int dead;		/* the stream is out of step: no more calls */
	int starting;		/* a new connection waits for its HELLO answer */
	int reading;		/* the reader is using fd and rb */
	unsigned inflight;	/* calls linked in calls */
	unsigned gen;		/* which connection: one more at each reconnect */
	uint32_t next_id;
	uint32_t current;
	char why[240];		/* why the connection died */
	struct kh_call *calls;
	struct sp_kh_rbuf rb;
};

static void
deadline_ts(int64_t deadline_ms, struct timespec *ts)
{
	ts->tv_sec = (time_t)(deadline_ms / 1000);
	ts->tv_nsec = (long)(deadline_ms % 1000) * 1000000L;
}

static void
cond_init_mono(pthread_cond_t *cv)
{
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(cv, &ca);
	pthread_condattr_destroy(&ca);
}

/* Mark the connection dead (mu held): every waiter is answered RETRY
 * (the reader hands the asynchronous ones their outcome). */
static void
kill_locked(struct kw_remote *kw, const char *why)
{
	struct kh_call *c;

	if (!kw->dead) {
		kw->dead = 1;
		snprintf(kw->why, sizeof(kw->why), "%s", why);
		if (kw->fd >= 0)
			shutdown(kw->fd, SHUT_RDWR);	/* ends the reader's wait */
	}
	for (c = kw->calls; c != NULL; c = c->next) {
		if (!c->done) {
			c->done = 1;
			c->st = SP_ERR_RETRY;
			if (c->fn == NULL)
				pthread_cond_signal(&c->cv);
		}
	}
	pthread_cond_broadcast(&kw->slot);
}

/* Unlink call (mu held). */
static void
unlink_call(struct kw_remote *kw, struct kh_call *call)
{
	struct kh_call **pp;

	for (pp = &kw->calls; *pp != NULL; pp = &(*pp)->next)
		if (*pp == call) {
			*pp = call->next;
			kw->inflight--;
			pthread_cond_broadcast(&kw->slot);
			return;
		}
}

/* The status of a call's outcome, with its message in err. */
static int
outcome(const struct kh_call *c, const char *why, struct sp_err *err)
{
	int st;

	if (c->st != SP_OK)
		return sp_err_set(err, SP_ERR_RETRY, "key holder: %s", why);
	if (c->ans.type != SP_KH_ERROR)
		return SP_OK;
	st = (int)c->ans.status;
	switch (st) {
	case SP_ERR_NOTFOUND:
		return sp_err_set(err, st, "key holder: no such master key");
	case SP_ERR_AUTH:
		return sp_err_set(err, st, "key holder: wrapped key does not authenticate");
	case SP_ERR_RETRY:
		return sp_err_set(err, st, "key holder: busy");
	}
	return sp_err_set(err, SP_ERR_INTERNAL, "key holder refused the request (%s)",
	    sp_status_str(st));
}

/* Unlink the answered asynchronous calls (mu held) and give them their
 * outcome with mu released; returns with mu held.  1 when any was. */
static int
fire_async(struct kw_remote *kw)
{
	struct kh_call *fired = NULL, *c, *next;
	struct sp_err err;
	char why[sizeof(kw->why)];
	int st;

	for (c = kw->calls; c != NULL; c = next) {
		next = c->next;
		if (c->fn != NULL && c->done) {
			unlink_call(kw, c);
			c->next = fired;
			fired = c;
		}
	}
	if (fired == NULL)
		return 0;
	snprintf(why, sizeof(why), "%s", kw->why);
	pthread_mutex_unlock(&kw->mu);
	for (c = fired; c != NULL; c = next) {
		next = c->next;
		memset(&err, 0, sizeof(err));
		st = outcome(c, why, &err);
		c->fn(c->arg, st, st == SP_OK ? c->ans.part : NULL, &err);
		sp_wipe(c, sizeof(*c));
		free(c);
	}
	pthread_mutex_lock(&kw->mu);
	return 1;
}

/* Hand every whole answer held in rb to its caller (mu held).  SP_OK, or
 * SP_ERR_INVALID with the reason in e (the stream is out of step). */
static int
dispatch(struct kw_remote *kw, struct sp_err *e)
{
	struct sp_kh_msg m;
	struct kh_call *c;
	unsigned char *f;
	size_t len;
	int st;

	while ((st = sp_kh_rbuf_frame(&kw->rb, &f, &len, NULL, e)) == SP_OK) {
		st = sp_kh_decode(f, len, &m, e);
		sp_kh_rbuf_drop(&kw->rb, len);
		if (st != SP_OK)
			return st;
		for (c = kw->calls; c != NULL && (c->id != m.id || c->done); c = c->next)
			;
		if (c == NULL || (m.type != c->want && m.type != SP_KH_ERROR)) {
			st = c == NULL ?
			    sp_err_set(e, SP_ERR_INVALID, "answer to request %u, which is not waiting",
			    m.id) :
			    sp_err_set(e, SP_ERR_INVALID, "answer of type %u to request %u", m.type,
			    m.id);
			sp_wipe(&m, sizeof(m));
			return st;
		}
		c->ans = m;
		sp_wipe(&m, sizeof(m));
		c->st = SP_OK;
		c->done = 1;
		if (c->fn == NULL)
			pthread_cond_signal(&c->cv);
	}
	return st == SP_ERR_RETRY ? SP_OK : st;
}

/* The earliest deadline of a call still waiting, or a second from now. */
static int64_t
next_deadline(struct kw_remote *kw, int64_t now)
{
	int64_t d = now + 1000;
	struct kh_call *c;

	for (c = kw->calls; c != NULL; c = c->next)
		if (!c->done && c->deadline < d)
			d = c->deadline;
	return d;
}

/* The connection's one reader: reads whatever answers have come, hands
 * each to its caller, and fails every call once one is late or the stream
 * is out of step. */
static void *
reader_main(void *arg)
{
	struct kw_remote *kw = arg;
	struct sp_err e;
	char why[sizeof(kw->why)];
	int64_t deadline, now;
	int st, fd;

	pthread_mutex_lock(&kw->mu);
	while (!kw->stop) {
		if (fire_async(kw))
			continue;
		if (kw->dead || kw->fd < 0) {
			pthread_cond_wait(&kw->conn, &kw->mu);
			continue;
		}
		fd = kw->fd;
		deadline = next_deadline(kw, sp_kh_now_ms());
		kw->reading = 1;
		pthread_mutex_unlock(&kw->mu);
		memset(&e, 0, sizeof(e));
		st = sp_kh_rbuf_fill(&kw->rb, fd, deadline, &e);
		pthread_mutex_lock(&kw->mu);
		kw->reading = 0;
		if (kw->stop)
			break;
		if (st == SP_OK)
			st = dispatch(kw, &e);
		else if (st == SP_ERR_RETRY && !kw->dead) {
			now = sp_kh_now_ms();
			st = next_deadline(kw, now) <= now ?
			    sp_err_set(&e, SP_ERR_RETRY, "timed out") : SP_OK;
		}
		if (st != SP_OK) {
			snprintf(why, sizeof(why), "%s", sp_err_msg(&e, st));
			kill_locked(kw, why);
		}
		pthread_cond_broadcast(&kw->slot);
	}
	kw->reading = 0;
	pthread_cond_broadcast(&kw->slot);
	pthread_mutex_unlock(&kw->mu);
	return NULL;
}

/* Encode req into frame (its request id set by link_call()). */
static int
encode(struct sp_kh_msg *req, unsigned char *frame, size_t *len, struct sp_err *err)
{
	int st;

	req->id = 0;
	if ((st = sp_kh_encode(req, frame, SP_KH_FRAME_MAX, len, err)) != SP_OK)
		sp_wipe(frame, SP_KH_FRAME_MAX);
	return st;	/* nothing was sent: the connection is fine */
}

/* Give call a request id, put it into frame and link it (mu held).
 * SP_ERR_RETRY when the connection is dead or starting (hello: the call
 * that starts it) or when there is no place (wait: until the deadline). */
static int
link_call(struct kw_remote *kw, struct kh_call *call, unsigned char *frame, int hello,
    int wait, struct sp_err *err)
{
	struct timespec ts;

	deadline_ts(call->deadline, &ts);
	while (wait && !kw->dead && kw->inflight >= SP_KH_WINDOW)
		if (pthread_cond_timedwait(&kw->slot, &kw->mu, &ts) == ETIMEDOUT)
			break;
	if (kw->dead)
		return sp_err_set(err, SP_ERR_RETRY, "key holder: %s", kw->why);
	if ((kw->starting && !hello) || kw->inflight >= SP_KH_WINDOW)
		return sp_err_set(err, SP_ERR_RETRY, "key holder: busy");
	if (++kw->next_id == 0)
		kw->next_id = 1;
	call->id = kw->next_id;
	frame[8] = (unsigned char)(call->id >> 24);
	frame[9] = (unsigned char)(call->id >> 16);
	frame[10] = (unsigned char)(call->id >> 8);
	frame[11] = (unsigned char)call->id;
	call->next = kw->calls;
	kw->calls = call;
	kw->inflight++;
	return SP_OK;
}

/* Send the frame of a call linked on connection gen (mu not held); a
 * failure kills the connection, which answers the call.  Nothing is sent
 * once that connection has died (its calls are answered already): a frame
 * never reaches the next key holder. */
static void
send_call(struct kw_remote *kw, unsigned gen, unsigned char *frame, size_t len,
    int64_t deadline)
{
	struct sp_err e = {{0}};
	char why[sizeof(kw->why)];
	int st = SP_OK, fd, live;

	pthread_mutex_lock(&kw->wmu);
	pthread_mutex_lock(&kw->mu);
	live = gen == kw->gen && !kw->dead;
	fd = kw->fd;
	pthread_mutex_unlock(&kw->mu);
	if (live)
		st = sp_kh_send(fd, frame, len, deadline, &e);
	pthread_mutex_unlock(&kw->wmu);
	sp_wipe(frame, SP_KH_FRAME_MAX);
	if (st != SP_OK) {
		snprintf(why, sizeof(why), "%s", sp_err_msg(&e, st));
		pthread_mutex_lock(&kw->mu);
		kill_locked(kw, why);
		pthread_mutex_unlock(&kw->mu);
	}
}

/* Send req and wait for its answer.  SP_OK with *ans of type want, the key
 * holder's status for an ERROR answer, SP_ERR_INVALID for a request that
 * was refused here (nothing sent), or SP_ERR_RETRY (the connection dead, or
 * no place in the window in time).  hello: the call that brings up a new
 * connection. */
static int
remote_call(struct kw_remote *kw, struct sp_kh_msg *req, uint16_t want,
    struct sp_kh_msg *ans, int hello, struct sp_err *err)
{
	unsigned char frame[SP_KH_FRAME_MAX];
	struct kh_call call;
	struct timespec ts;
	char why[sizeof(kw->why)];
	size_t len;
	unsigned gen;
	int st;

	memset(ans, 0, sizeof(*ans));
	if ((st = encode(req, frame, &len, err)) != SP_OK)
		return st;
	memset(&call, 0, sizeof(call));
	call.want = want;
	call.deadline = sp_kh_now_ms() + SP_KH_TIMEOUT_MS;
	deadline_ts(call.deadline, &ts);
	cond_init_mono(&call.cv);
	pthread_mutex_lock(&kw->mu);
	if ((st = link_call(kw, &call, frame, hello, 1, err)) != SP_OK) {
		pthread_mutex_unlock(&kw->mu);
		pthread_cond_destroy(&call.cv);
		sp_wipe(frame, sizeof(frame));
		return st;
	}
	gen = kw->gen;
	pthread_mutex_unlock(&kw->mu);
	send_call(kw, gen, frame, len, call.deadline);
	pthread_mutex_lock(&kw->mu);
	while (!call.done)
		if (pthread_cond_timedwait(&call.cv, &kw->mu, &ts) == ETIMEDOUT && !call.done)
			kill_locked(kw, "timed out");
	unlink_call(kw, &call);
	snprintf(why, sizeof(why), "%s", kw->why);
	pthread_mutex_unlock(&kw->mu);
	pthread_cond_destroy(&call.cv);
	st = outcome(&call, why, err);
	if (st == SP_OK)
		*ans = call.ans;
	sp_wipe(&call.ans, sizeof(call.ans));
	return st;
}

/* The key id the key holder last named for new wraps. */
static void
set_current(struct kw_remote *kw, uint32_t key_id)
{
	pthread_mutex_lock(&kw->mu);
	kw->current = key_id;
	pthread_mutex_unlock(&kw->mu);
}

static int
remote_wrap(struct sp_keywrap *base, const char *aad, const unsigned char *part,
    unsigned char *out, uint32_t *key_id, struct sp_err *err)
{
	struct kw_remote *kw = (struct kw_remote *)base;
	struct sp_kh_msg req, ans;
	int st;

	if (strlen(aad) > SP_KH_AAD_MAX)
		return sp_err_set(err, SP_ERR_INVALID, "associated data too long");
	memset(&req, 0, sizeof(req));
	req.type = SP_KH_WRAP;
	memcpy(req.aad, aad, strlen(aad) + 1);
	memcpy(req.part, part, SP_KEY_LEN);
	st = remote_call(kw, &req, SP_KH_WRAP_OK, &ans, 0, err);
	if (st == SP_OK) {
		set_current(kw, ans.key_id);
		memcpy(out, ans.wrapped, SP_KEYWRAP_LEN);
		*key_id = ans.key_id;
	}
	sp_wipe(&req, sizeof(req));
	sp_wipe(&ans, sizeof(ans));
	return st;
}

/* An UNWRAP request, checked as the key holder would. */
static int
unwrap_req(struct sp_kh_msg *req, uint32_t key_id, const char *aad,
    const unsigned char *in, size_t inlen, struct sp_err *err)
{
	if (inlen != SP_KEYWRAP_LEN)
		return sp_err_set(err, SP_ERR_AUTH, "wrapped key has the wrong size");
	if (key_id == 0 || key_id > SP_KH_KEY_ID_MAX)
		return sp_err_set(err, SP_ERR_NOTFOUND, "master key %u is not loaded", key_id);
	if (strlen(aad) > SP_KH_AAD_MAX)
		return sp_err_set(err, SP_ERR_INVALID, "associated data too long");
	memset(req, 0, sizeof(*req));
	req->type = SP_KH_UNWRAP;
	req->key_id = key_id;
	memcpy(req->aad, aad, strlen(aad) + 1);
	memcpy(req->wrapped, in, SP_KEYWRAP_LEN);
	return SP_OK;
}

static int
remote_unwrap(struct sp_keywrap *base, uint32_t key_id, const char *aad,
    const unsigned char *in, size_t inlen, unsigned char *part, struct sp_err *err)
{
	struct kw_remote *kw = (struct kw_remote *)base;
	struct sp_kh_msg req, ans;
	int st;

	if ((st = unwrap_req(&req, key_id, aad, in, inlen, err)) != SP_OK)
		return st;
	st = remote_call(kw, &req, SP_KH_UNWRAP_OK, &ans, 0, err);
	if (st == SP_OK)
		memcpy(part, ans.part, SP_KEY_LEN);
	sp_wipe(&req, sizeof(req));
	sp_wipe(&ans, sizeof(ans));
	return st;
}

static uint32_t
remote_current(struct sp_keywrap *base)
{
	struct kw_remote *kw = (struct kw_remote *)base;
	uint32_t c;

	pthread_mutex_lock(&kw->mu);
	c = kw->current;
	pthread_mutex_unlock(&kw->mu);
	return c;
}

static int
remote_alive(struct sp_keywrap *base)
{
	struct kw_remote *kw = (struct kw_remote *)base;
	int alive;

	pthread_mutex_lock(&kw->mu);
	alive = !kw->dead && !kw->starting;
	pthread_mutex_unlock(&kw->mu);
	return alive;
}

static void
remote_free(struct sp_keywrap *base)
{
	struct kw_remote *kw = (struct kw_remote *)base;

	pthread_mutex_lock(&kw->mu);
	kill_locked(kw, "closed");
	kw->stop = 1;
	pthread_cond_broadcast(&kw->conn);
	pthread_mutex_unlock(&kw->mu);
	if (kw->have_reader)
		pthread_join(kw->reader, NULL);
	pthread_mutex_lock(&kw->mu);
	fire_async(kw);		/* none are left when the caller is done */
	pthread_mutex_unlock(&kw->mu);
	if (kw->fd >= 0)
		close(kw->fd);
	sp_kh_rbuf_wipe(&kw->rb);
	pthread_mutex_destroy(&kw->mu);
	pthread_mutex_destroy(&kw->wmu);
	pthread_cond_destroy(&kw->slot);
	pthread_cond_destroy(&kw->conn);
	free(kw);
}

static const struct sp_keywrap_ops remote_ops = {
	remote_wrap, remote_unwrap, remote_current, remote_alive, remote_free,
};

int
sp_keywrap_unwrap_async(struct sp_keywrap *base, uint32_t key_id, const char *aad,
    const unsigned char *in, size_t inlen, sp_keywrap_done_fn done, void *arg,
    struct sp_err *err)
{
	struct kw_remote *kw = (struct kw_remote *)base;
	unsigned char frame[SP_KH_FRAME_MAX];
	struct kh_call *call;
	struct sp_kh_msg req;
	size_t len;
	unsigned gen;
	int st;

	if (base == NULL || base->ops != &remote_ops) {
		/* a local keywrap answers at once */
		unsigned char part[SP_KEY_LEN];

		if ((st = sp_keywrap_unwrap(base, key_id, aad, in, inlen, part, err)) ==
		    SP_ERR_INVALID)
			return st;
		done(arg, st, st == SP_OK ? part : NULL, err);
		sp_wipe(part, sizeof(part));
		return SP_OK;
	}
	if ((st = unwrap_req(&req, key_id, aad, in, inlen, err)) != SP_OK)
		return st;
	st = encode(&req, frame, &len, err);
	sp_wipe(&req, sizeof(req));
	if (st != SP_OK)
		return st;
	if ((call = calloc(1, sizeof(*call))) == NULL) {
		sp_wipe(frame, sizeof(frame));
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	}
	call->want = SP_KH_UNWRAP_OK;
	call->deadline = sp_kh_now_ms() + SP_KH_TIMEOUT_MS;
	call->fn = done;
	call->arg = arg;
	pthread_mutex_lock(&kw->mu);
	if ((st = link_call(kw, call, frame, 0, 0, err)) != SP_OK) {
		pthread_mutex_unlock(&kw->mu);
		free(call);
		sp_wipe(frame, sizeof(frame));
		return st;
	}
	gen = kw->gen;
	pthread_mutex_unlock(&kw->mu);
	/* from here the reader owns call: it calls done */
	send_call(kw, gen, frame, len, sp_kh_now_ms() + SP_KH_TIMEOUT_MS);
	return SP_OK;
}

int
sp_keywrap_reload(struct sp_keywrap *base, uint32_t *key_id, struct sp_err *err)
{
	struct kw_remote *kw = (struct kw_remote *)base;
	struct sp_kh_msg req, ans;
	int st;

	if (base == NULL || base->ops != &remote_ops)
		return sp_err_set(err, SP_ERR_INVALID, "not a key holder connection");
	memset(&req, 0, sizeof(req));
	req.type = SP_KH_RELOAD;
	if ((st = remote_call(kw, &req, SP_KH_RELOAD_OK, &ans, 0, err)) != SP_OK)
		return st;
	set_current(kw, ans.key_id);
	if (key_id != NULL)
		*key_id = ans.key_id;
	return SP_OK;
}

/* Ask a new connection HELLO: SP_OK, or SP_ERR_RETRY with it dead. */
static int
hello(struct kw_remote *kw, struct sp_err *err)
{
	struct sp_kh_msg req, ans;
	int st;

	memset(&req, 0, sizeof(req));
	req.type = SP_KH_HELLO;
	st = remote_call(kw, &req, SP_KH_HELLO_OK, &ans, 1, err);
	pthread_mutex_lock(&kw->mu);
	kw->starting = 0;
	if (st == SP_OK)
		kw->current = ans.key_id;
	else
		kill_locked(kw, "the key holder did not answer HELLO");
	pthread_mutex_unlock(&kw->mu);
	if (st != SP_OK && st != SP_ERR_RETRY)
		st = sp_err_set(err, SP_ERR_RETRY, "the key holder did not answer HELLO");
	return st;
}

static void
nonblocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

int
sp_keywrap_connect(struct sp_keywrap **out, int fd, struct sp_err *err)
{
	struct kw_remote *kw;
	int st;

	*out = NULL;
	if ((kw = calloc(1, sizeof(*kw))) == NULL) {
		close(fd);
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	}
	kw->base.ops = &remote_ops;
	kw->fd = fd;
	kw->starting = 1;
	nonblocking(fd);
	pthread_mutex_init(&kw->mu, NULL);
	pthread_mutex_init(&kw->wmu, NULL);
	cond_init_mono(&kw->slot);
	pthread_cond_init(&kw->conn, NULL);
	if (pthread_create(&kw->reader, NULL, reader_main, kw) != 0) {
		remote_free(&kw->base);
		return sp_err_set(err, SP_ERR_NOMEM, "cannot start the key holder reader");
	}
	kw->have_reader = 1;
	if ((st = hello(kw, err)) != SP_OK) {
		remote_free(&kw->base);
		return st;
	}
	*out = &kw->base;
	return SP_OK;
}

int
sp_keywrap_reconnect(struct sp_keywrap *base, int fd, struct sp_err *err)
{
	struct kw_remote *kw = (struct kw_remote *)base;
	struct timespec ts;

	if (base == NULL || base->ops != &remote_ops) {
		close(fd);
		return sp_err_set(err, SP_ERR_INVALID, "not a key holder connection");
	}
	deadline_ts(sp_kh_now_ms() + SP_KH_TIMEOUT_MS, &ts);
	pthread_mutex_lock(&kw->mu);
	kill_locked(kw, "the key holder has gone");
	/* the old connection's callers were all answered: wait until they
	 * are gone and the reader has let go of the old socket */
	while (kw->calls != NULL || kw->reading)
		if (pthread_cond_timedwait(&kw->slot, &kw->mu, &ts) == ETIMEDOUT)
			break;
	/* no frame is being written to the old socket while it is closed
	 * (wmu before mu, as in send_call()) */
	pthread_mutex_unlock(&kw->mu);
	pthread_mutex_lock(&kw->wmu);
	pthread_mutex_lock(&kw->mu);
	if (kw->calls != NULL || kw->reading || !kw->dead) {
		pthread_mutex_unlock(&kw->mu);
		pthread_mutex_unlock(&kw->wmu);
		close(fd);
		return sp_err_set(err, SP_ERR_RETRY, "callers of the old key holder still wait");
	}
	if (kw->fd >= 0)
		close(kw->fd);
	kw->gen++;
	kw->fd = fd;
	nonblocking(fd);
	sp_kh_rbuf_wipe(&kw->rb);
	kw->dead = 0;
	kw->starting = 1;
	kw->why[0] = '\0';
	pthread_cond_broadcast(&kw->conn);
	pthread_mutex_unlock(&kw->mu);
	pthread_mutex_unlock(&kw->wmu);
	return hello(kw, err);
}

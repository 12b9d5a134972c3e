/*
 * keywrap_remote_test.c - the key server's pipelined client of the key
 * holder (keywrap_remote.h) against key holders served by a thread over a
 * socket pair: many callers at once (waiting and asynchronous) each get the
 * key part of their own request although the answers come in reverse
 * order; every kind of garbage answer (bad magic, an id nobody waits for,
 * the wrong type, a short part, a frame cut off) is refused with
 * SP_ERR_RETRY and no part; a key holder that goes away answers every
 * waiter SP_ERR_RETRY at once; one that says nothing does so at the
 * deadline; and a new connection works again.  A RELOAD answer moves the
 * key id the client reports; a refused RELOAD leaves it and the connection
 * as they were; a RELOAD answered with another type is refused.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "keywrap.h"
#include "keywrap_remote.h"
#include "khproto.h"
#include "khstream.h"
#include "t.h"

static char dir[256];
static struct sp_keywrap *local;

enum lie { HONEST, BAD_MAGIC, OTHER_ID, OTHER_TYPE, SHORT_PART, CUT_OFF, SILENT, HANG_UP,
	RELOAD_FAILS };

/* A key holder in a thread: answers with the local keywrap, each batch of
 * requests in reverse order; lie: what it does to every UNWRAP answer
 * (SILENT: answers nothing after HELLO; HANG_UP: neither, and closes once
 * `after` requests have come).  A RELOAD is answered with key id 5, or
 * ERROR (SP_ERR_CONFIG) with RELOAD_FAILS, or HELLO_OK with OTHER_TYPE. */
struct holder {
	int fd;
	enum lie lie;
	int after;
	pthread_t t;
};

static void
answer(struct holder *h, const struct sp_kh_msg *q, unsigned char *out, size_t *outlen)
{
	struct sp_kh_msg a;
	size_t len = 0;

	memset(&a, 0, sizeof(a));
	a.id = q->id;
	if (q->type == SP_KH_HELLO) {
		a.type = SP_KH_HELLO_OK;
		a.key_id = sp_keywrap_current(local);
	} else if (q->type == SP_KH_WRAP) {
		a.type = SP_KH_WRAP_OK;
		sp_keywrap_wrap(local, q->aad, q->part, a.wrapped, &a.key_id, NULL);
	} else if (q->type == SP_KH_RELOAD) {
		a.type = h->lie == RELOAD_FAILS ? SP_KH_ERROR :
		    h->lie == OTHER_TYPE ? SP_KH_HELLO_OK : SP_KH_RELOAD_OK;
		a.key_id = 5;
		a.status = SP_ERR_CONFIG;
	} else {
		int st = sp_keywrap_unwrap(local, q->key_id, q->aad, q->wrapped, SP_KEYWRAP_LEN,
		    a.part, NULL);

		a.type = st == SP_OK ? SP_KH_UNWRAP_OK : SP_KH_ERROR;
		a.status = (uint32_t)st;
		if (h->lie == OTHER_ID)
			a.id = q->id + 1000;
		if (h->lie == OTHER_TYPE) {
			a.type = SP_KH_HELLO_OK;
			a.key_id = 1;
		}
	}
	sp_kh_encode(&a, out, SP_KH_FRAME_MAX, &len, NULL);
	if (q->type == SP_KH_UNWRAP && h->lie == BAD_MAGIC)
		out[1] = 0x02;
	if (q->type == SP_KH_UNWRAP && h->lie == SHORT_PART) {
		/* the part field one byte short, the lengths made to agree */
		out[7]--;
		out[15]--;
		len--;
	}
	if (q->type == SP_KH_UNWRAP && h->lie == CUT_OFF)
		len = 20;
	*outlen = len;
}

static void *
holder_main(void *arg)
{
	struct holder *h = arg;
	static __thread struct sp_kh_rbuf in;
	struct sp_kh_msg q[64];
	unsigned char out[SP_KH_FRAME_MAX], *f;
	size_t len, flen;
	int n, i, seen = 0;

	memset(&in, 0, sizeof(in));
	for (;;) {
		if (sp_kh_rbuf_fill(&in, h->fd, sp_kh_now_ms() + 10000, NULL) != SP_OK)
			break;
		for (n = 0; n < 64 && sp_kh_rbuf_frame(&in, &f, &flen, NULL, NULL) == SP_OK; n++) {
			sp_kh_decode(f, flen, &q[n], NULL);
			sp_kh_rbuf_drop(&in, flen);
		}
		seen += n;
		if (h->lie == HANG_UP && seen >= h->after)
			break;
		if ((h->lie == SILENT || h->lie == HANG_UP) && seen > 1)
			continue;	/* HELLO answered, nothing more */
		for (i = n - 1; i >= 0; i--) {
			answer(h, &q[i], out, &len);
			if (sp_kh_send(h->fd, out, len, sp_kh_now_ms() + 5000, NULL) != SP_OK)
				goto out;
			if (h->lie == CUT_OFF && q[i].type == SP_KH_UNWRAP)
				goto out;
		}
	}
out:
	close(h->fd);
	return NULL;
}

/* A key holder with lie on a new socket pair: *kw connected to it. */
static void
holder_start(struct holder *h, enum lie lie, int after, int *kwfd)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		abort();
	h->fd = sv[1];
	h->lie = lie;
	h->after = after;
	pthread_create(&h->t, NULL, holder_main, h);
	*kwfd = sv[0];
}

/* Envelope i: its id and its wrapped part (the part is i repeated). */
#define NENV 40
static unsigned char wrapped[NENV][SP_KEYWRAP_LEN];

static void
aad_of(int i, char *aad, size_t n)
{
	snprintf(aad, n, "env-%d", i);
}

static void
setup(void)
{
	struct sp_err err = {{0}};
	unsigned char part[SP_KEY_LEN];
	char aad[32];
	uint32_t id;
	int i;

	snprintf(dir, sizeof(dir), "/tmp/sp-kwremote-test-XXXXXX");
	if (mkdtemp(dir) == NULL || sp_keywrap_load(&local, dir, 1, &err) != SP_OK)
		abort();
	for (i = 0; i < NENV; i++) {
		memset(part, i + 1, sizeof(part));
		aad_of(i, aad, sizeof(aad));
		if (sp_keywrap_wrap(local, aad, part, wrapped[i], &id, &err) != SP_OK)
			abort();
	}
}

static void
cleanup(void)
{
	char cmd[300];

	sp_keywrap_free(local);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

/* One asynchronous unwrap's outcome. */
struct outcome {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done, st;
	unsigned char part[SP_KEY_LEN];
};

static void
on_done(void *arg, int st, const unsigned char *part, const struct sp_err *err)
{
	struct outcome *o = arg;

	(void)err;
	pthread_mutex_lock(&o->mu);
	o->st = st;
	if (part != NULL)
		memcpy(o->part, part, SP_KEY_LEN);
	o->done++;
	pthread_cond_signal(&o->cv);
	pthread_mutex_unlock(&o->mu);
}

static void
outcome_wait(struct outcome *o)
{
	pthread_mutex_lock(&o->mu);
	while (!o->done)
		pthread_cond_wait(&o->cv, &o->mu);
	pthread_mutex_unlock(&o->mu);
}

/* A caller thread: rounds unwraps of envelopes first, first + 1, ...;
 * counts the answers that are right and those that are SP_ERR_RETRY. */
struct caller {
	struct sp_keywrap *kw;
	int first, rounds;
	int right, wrong, retry;
	pthread_t t;
};

static void *
caller_main(void *arg)
{
	struct caller *c = arg;
	struct sp_err err = {{0}};
	unsigned char part[SP_KEY_LEN], want[SP_KEY_LEN];
	char aad[32];
	int r, i, st;

	for (r = 0; r < c->rounds; r++) {
		i = (c->first + r) % NENV;
		aad_of(i, aad, sizeof(aad));
		memset(want, i + 1, sizeof(want));
		memset(part, 0xee, sizeof(part));
		st = sp_keywrap_unwrap(c->kw, 1, aad, wrapped[i], SP_KEYWRAP_LEN, part, &err);
		if (st == SP_OK && memcmp(part, want, SP_KEY_LEN) == 0)
			c->right++;
		else if (st == SP_ERR_RETRY && part[0] == 0xee)
			c->retry++;
		else
			c->wrong++;
	}
	return NULL;
}

static void
test_many_at_once(void)
{
	struct sp_keywrap *kw = NULL;
	struct sp_err err = {{0}};
	struct holder h;
	struct caller c[8];
	static struct outcome o[NENV];
	unsigned char want[SP_KEY_LEN];
	char aad[32];
	int fd, i, right = 0, wrong = 0;

	holder_start(&h, HONEST, 0, &fd);
	T_EQ_INT(sp_keywrap_connect(&kw, fd, &err), SP_OK);
	/* asynchronous unwraps of every envelope, then waiting callers */
	for (i = 0; i < NENV; i++) {
		pthread_mutex_init(&o[i].mu, NULL);
		pthread_cond_init(&o[i].cv, NULL);
		aad_of(i, aad, sizeof(aad));
		T_EQ_INT(sp_keywrap_unwrap_async(kw, 1, aad, wrapped[i], SP_KEYWRAP_LEN, on_done,
		    &o[i], &err), SP_OK);
	}
	for (i = 0; i < 8; i++) {
		c[i] = (struct caller){kw, i * 5, 200, 0, 0, 0, 0};
		pthread_create(&c[i].t, NULL, caller_main, &c[i]);
	}
	for (i = 0; i < 8; i++) {
		pthread_join(c[i].t, NULL);
		right += c[i].right;
		wrong += c[i].wrong + c[i].retry;
	}
	T_EQ_INT(right, 8 * 200);
	T_EQ_INT(wrong, 0);
	for (i = 0; i < NENV; i++) {
		outcome_wait(&o[i]);
		memset(want, i + 1, sizeof(want));
		T_EQ_INT(o[i].st, SP_OK);
		T_EQ_INT(o[i].done, 1);
		T_EQ_MEM(o[i].part, want, SP_KEY_LEN);
	}
	/* a refused unwrap (another envelope's id) leaves the connection up */
	memset(&o[0], 0, sizeof(o[0]));
	T_EQ_INT(sp_keywrap_unwrap_async(kw, 1, "env-1", wrapped[0], SP_KEYWRAP_LEN, on_done,
	    &o[0], &err), SP_OK);
	outcome_wait(&o[0]);
	T_EQ_INT(o[0].st, SP_ERR_AUTH);
	T_EQ_INT(sp_keywrap_alive(kw), 1);
	/* refused here, never sent, done never called */
	T_EQ_INT(sp_keywrap_unwrap_async(kw, 0, "env-1", wrapped[0], SP_KEYWRAP_LEN, on_done,
	    &o[0], &err), SP_ERR_NOTFOUND);
	T_EQ_INT(sp_keywrap_unwrap_async(kw, 1, "bad\naad", wrapped[0], SP_KEYWRAP_LEN, on_done,
	    &o[0], &err), SP_ERR_INVALID);
	T_EQ_INT(o[0].done, 1);
	sp_keywrap_free(kw);
	pthread_join(h.t, NULL);
}

static void
test_garbage(void)
{
	static const enum lie lies[] = {BAD_MAGIC, OTHER_ID, OTHER_TYPE, SHORT_PART, CUT_OFF};
	struct sp_keywrap *kw = NULL;
	struct sp_err err = {{0}};
	struct holder h;
	struct outcome o;
	unsigned char part[SP_KEY_LEN];
	size_t i;
	int fd;

	for (i = 0; i < sizeof(lies) / sizeof(lies[0]); i++) {
		holder_start(&h, lies[i], 0, &fd);
		T_EQ_INT(sp_keywrap_connect(&kw, fd, &err), SP_OK);
		memset(part, 0xee, sizeof(part));
		T_EQ_INT(sp_keywrap_unwrap(kw, 1, "env-3", wrapped[3], SP_KEYWRAP_LEN, part, &err),
		    SP_ERR_RETRY);
		T_EQ_INT(part[0], 0xee);
		T_EQ_INT(sp_keywrap_alive(kw), 0);
		/* dead from then on, at once */
		memset(&o, 0, sizeof(o));
		pthread_mutex_init(&o.mu, NULL);
		pthread_cond_init(&o.cv, NULL);
		T_EQ_INT(sp_keywrap_unwrap_async(kw, 1, "env-3", wrapped[3], SP_KEYWRAP_LEN, on_done,
		    &o, &err), SP_ERR_RETRY);
		T_EQ_INT(sp_keywrap_unwrap(kw, 1, "env-3", wrapped[3], SP_KEYWRAP_LEN, part, &err),
		    SP_ERR_RETRY);
		sp_keywrap_free(kw);
		pthread_join(h.t, NULL);
	}
}

static void
test_gone_and_back(void)
{
	struct sp_keywrap *kw = NULL;
	struct sp_err err = {{0}};
	struct holder h;
	struct caller c[6];
	static struct outcome o[10];
	char aad[32];
	int64_t t0;
	int fd, i, retry = 0, other = 0;

	/* the key holder hangs up once 16 requests (and HELLO) wait */
	holder_start(&h, HANG_UP, 17, &fd);
	T_EQ_INT(sp_keywrap_connect(&kw, fd, &err), SP_OK);
	t0 = sp_kh_now_ms();
	for (i = 0; i < 10; i++) {
		pthread_mutex_init(&o[i].mu, NULL);
		pthread_cond_init(&o[i].cv, NULL);
		aad_of(i, aad, sizeof(aad));
		T_EQ_INT(sp_keywrap_unwrap_async(kw, 1, aad, wrapped[i], SP_KEYWRAP_LEN, on_done,
		    &o[i], &err), SP_OK);
	}
	for (i = 0; i < 6; i++) {
		c[i] = (struct caller){kw, i, 1, 0, 0, 0, 0};
		pthread_create(&c[i].t, NULL, caller_main, &c[i]);
	}
	for (i = 0; i < 6; i++) {
		pthread_join(c[i].t, NULL);
		retry += c[i].retry;
		other += c[i].right + c[i].wrong;
	}
	for (i = 0; i < 10; i++) {
		outcome_wait(&o[i]);
		retry += o[i].st == SP_ERR_RETRY && o[i].done == 1;
	}
	T_EQ_INT(retry, 16);
	T_EQ_INT(other, 0);
	T_CHECK(sp_kh_now_ms() - t0 < 2000);	/* at once, not at the deadline */
	pthread_join(h.t, NULL);
	/* a new key holder on a new connection: everything works again */
	holder_start(&h, HONEST, 0, &fd);
	T_EQ_INT(sp_keywrap_reconnect(kw, fd, &err), SP_OK);
	T_EQ_INT(sp_keywrap_alive(kw), 1);
	c[0] = (struct caller){kw, 0, NENV, 0, 0, 0, 0};
	caller_main(&c[0]);
	T_EQ_INT(c[0].right, NENV);
	sp_keywrap_free(kw);
	pthread_join(h.t, NULL);
}

static void
test_silent(void)
{
	struct sp_keywrap *kw = NULL;
	struct sp_err err = {{0}};
	struct holder h;
	struct outcome o;
	unsigned char part[SP_KEY_LEN];
	int64_t t0;
	int fd;

	/* answers HELLO, then nothing: both kinds of caller fail at the deadline */
	holder_start(&h, SILENT, 0, &fd);
	T_EQ_INT(sp_keywrap_connect(&kw, fd, &err), SP_OK);
	memset(&o, 0, sizeof(o));
	pthread_mutex_init(&o.mu, NULL);
	pthread_cond_init(&o.cv, NULL);
	t0 = sp_kh_now_ms();
	T_EQ_INT(sp_keywrap_unwrap_async(kw, 1, "env-2", wrapped[2], SP_KEYWRAP_LEN, on_done, &o,
	    &err), SP_OK);
	T_EQ_INT(sp_keywrap_unwrap(kw, 1, "env-2", wrapped[2], SP_KEYWRAP_LEN, part, &err),
	    SP_ERR_RETRY);
	outcome_wait(&o);
	T_EQ_INT(o.st, SP_ERR_RETRY);
	T_CHECK(sp_kh_now_ms() - t0 >= SP_KH_TIMEOUT_MS - 100);
	T_CHECK(sp_kh_now_ms() - t0 < SP_KH_TIMEOUT_MS + 2000);
	sp_keywrap_free(kw);
	pthread_join(h.t, NULL);
}

static void
test_reload(void)
{
	struct sp_keywrap *kw = NULL;
	struct sp_err err = {{0}};
	struct holder h;
	unsigned char part[SP_KEY_LEN];
	uint32_t id = 0;
	int fd;

	/* only a key holder's connection takes a RELOAD */
	T_EQ_INT(sp_keywrap_reload(local, &id, &err), SP_ERR_INVALID);
	T_EQ_INT(sp_keywrap_reload(NULL, &id, &err), SP_ERR_INVALID);
	holder_start(&h, HONEST, 0, &fd);
	T_EQ_INT(sp_keywrap_connect(&kw, fd, &err), SP_OK);
	T_EQ_INT(sp_keywrap_current(kw), 1);
	T_EQ_INT(sp_keywrap_reload(kw, &id, &err), SP_OK);
	T_EQ_INT(id, 5);
	T_EQ_INT(sp_keywrap_current(kw), 5);
	T_EQ_INT(sp_keywrap_reload(kw, NULL, &err), SP_OK);
	T_EQ_INT(sp_keywrap_unwrap(kw, 1, "env-4", wrapped[4], SP_KEYWRAP_LEN, part, &err), SP_OK);
	sp_keywrap_free(kw);
	pthread_join(h.t, NULL);
	/* refused: the key holder's status; the key id and the connection stay */
	holder_start(&h, RELOAD_FAILS, 0, &fd);
	T_EQ_INT(sp_keywrap_connect(&kw, fd, &err), SP_OK);
	id = 0;
	T_EQ_INT(sp_keywrap_reload(kw, &id, &err), SP_ERR_INTERNAL);
	T_CHECK(strstr(err.msg, "refused") != NULL);
	T_EQ_INT(id, 0);
	T_EQ_INT(sp_keywrap_current(kw), 1);
	T_EQ_INT(sp_keywrap_alive(kw), 1);
	sp_keywrap_free(kw);
	pthread_join(h.t, NULL);
	/* answered with another type: out of step, dead */
	holder_start(&h, OTHER_TYPE, 0, &fd);
	T_EQ_INT(sp_keywrap_connect(&kw, fd, &err), SP_OK);
	T_EQ_INT(sp_keywrap_reload(kw, &id, &err), SP_ERR_RETRY);
	T_EQ_INT(sp_keywrap_current(kw), 1);
	T_EQ_INT(sp_keywrap_alive(kw), 0);
	sp_keywrap_free(kw);
	pthread_join(h.t, NULL);
}

T_MAIN(setup, test_many_at_once, test_garbage, test_gone_and_back, test_silent, test_reload,
    cleanup)

/*
 * khproto_test.c - the key holder's message format: every message type
 * round trips; the encoder refuses what the decoder would; every malformed
 * frame (bad magic or version, payload over the limit, length mismatch,
 * truncated header or field, unknown type, wrong tag, wrong field length,
 * associated data over the limit or not printable, key id out of range,
 * trailing bytes, a RELOAD with a field, a RELOAD_OK without its key id)
 * is SP_ERR_INVALID; framed reads over a socket pair
 * (whole, truncated, closed, timed out); and the remote keywrap against a
 * key holder served by a thread, including one that answers out of turn.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keywrap.h"
#include "khproto.h"
#include "t.h"

static char dir[256];

static void
setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/sp-khproto-test-XXXXXX");
	if (mkdtemp(dir) == NULL)
		abort();
}

static void
cleanup(void)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

static void
fill(struct sp_kh_msg *m, uint16_t type)
{
	memset(m, 0, sizeof(*m));
	m->type = type;
	m->id = 0x01020304;
	m->key_id = 7;
	m->status = SP_ERR_AUTH;
	snprintf(m->aad, sizeof(m->aad), "AAAAAAAAAAAAAAAAAAAAAA");
	memset(m->part, 0x11, sizeof(m->part));
	memset(m->wrapped, 0x22, sizeof(m->wrapped));
}

static void
test_round_trip(void)
{
	static const uint16_t types[] = {SP_KH_HELLO, SP_KH_WRAP, SP_KH_UNWRAP, SP_KH_RELOAD,
	    SP_KH_HELLO_OK, SP_KH_WRAP_OK, SP_KH_UNWRAP_OK, SP_KH_RELOAD_OK, SP_KH_ERROR};
	unsigned char f[SP_KH_FRAME_MAX];
	struct sp_kh_msg m, d;
	struct sp_err err = {{0}};
	size_t i, len;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		fill(&m, types[i]);
		T_EQ_INT(sp_kh_encode(&m, f, sizeof(f), &len, &err), SP_OK);
		T_CHECK(len >= SP_KH_HDR_LEN && len <= SP_KH_FRAME_MAX);
		T_EQ_INT(sp_kh_decode(f, len, &d, &err), SP_OK);
		T_EQ_INT(d.type, types[i]);
		T_EQ_INT(d.id, 0x01020304);
		switch (types[i]) {
		case SP_KH_WRAP:
			T_CHECK(strcmp(d.aad, m.aad) == 0);
			T_EQ_MEM(d.part, m.part, SP_KEY_LEN);
			break;
		case SP_KH_UNWRAP:
			T_EQ_INT(d.key_id, 7);
			T_CHECK(strcmp(d.aad, m.aad) == 0);
			T_EQ_MEM(d.wrapped, m.wrapped, SP_KEYWRAP_LEN);
			break;
		case SP_KH_HELLO:
		case SP_KH_RELOAD:
			T_EQ_INT(len, SP_KH_HDR_LEN);
			T_EQ_INT(d.key_id, 0);
			break;
		case SP_KH_HELLO_OK:
		case SP_KH_RELOAD_OK:
			T_EQ_INT(d.key_id, 7);
			break;
		case SP_KH_WRAP_OK:
			T_EQ_INT(d.key_id, 7);
			T_EQ_MEM(d.wrapped, m.wrapped, SP_KEYWRAP_LEN);
			break;
		case SP_KH_UNWRAP_OK:
			T_EQ_MEM(d.part, m.part, SP_KEY_LEN);
			break;
		case SP_KH_ERROR:
			T_EQ_INT(d.status, SP_ERR_AUTH);
			break;
		}
	}
	/* the exact layout of a HELLO and a HELLO_OK (docs/keyholder.md) */
	fill(&m, SP_KH_HELLO);
	T_EQ_INT(sp_kh_encode(&m, f, sizeof(f), &len, &err), SP_OK);
	T_EQ_INT(len, 12);
	T_EQ_MEM(f, "\x4b\x01\x00\x01\x00\x00\x00\x00\x01\x02\x03\x04", 12);
	fill(&m, SP_KH_HELLO_OK);
	T_EQ_INT(sp_kh_encode(&m, f, sizeof(f), &len, &err), SP_OK);
	T_EQ_INT(len, 20);
	T_EQ_MEM(f, "\x4b\x01\x80\x01\x00\x00\x00\x08\x01\x02\x03\x04"
	    "\x00\x01\x00\x04\x00\x00\x00\x07", 20);
	/* and of a RELOAD and a RELOAD_OK */
	fill(&m, SP_KH_RELOAD);
	T_EQ_INT(sp_kh_encode(&m, f, sizeof(f), &len, &err), SP_OK);
	T_EQ_INT(len, 12);
	T_EQ_MEM(f, "\x4b\x01\x00\x04\x00\x00\x00\x00\x01\x02\x03\x04", 12);
	fill(&m, SP_KH_RELOAD_OK);
	T_EQ_INT(sp_kh_encode(&m, f, sizeof(f), &len, &err), SP_OK);
	T_EQ_INT(len, 20);
	T_EQ_MEM(f, "\x4b\x01\x80\x04\x00\x00\x00\x08\x01\x02\x03\x04"
	    "\x00\x01\x00\x04\x00\x00\x00\x07", 20);
	/* the largest valid frame: UNWRAP with the longest aad */
	fill(&m, SP_KH_UNWRAP);
	memset(m.aad, 'x', SP_KH_AAD_MAX);
	m.aad[SP_KH_AAD_MAX] = '\0';
	T_EQ_INT(sp_kh_encode(&m, f, sizeof(f), &len, &err), SP_OK);
	T_EQ_INT(len, SP_KH_HDR_LEN + 3 * SP_KH_FIELD_HDR_LEN + 4 + SP_KH_AAD_MAX + SP_KEYWRAP_LEN);
	T_CHECK(len <= SP_KH_FRAME_MAX);
	T_EQ_INT(sp_kh_decode(f, len, &d, &err), SP_OK);
	T_EQ_INT(strlen(d.aad), SP_KH_AAD_MAX);
}

static void
test_encode_refuses(void)
{
	unsigned char f[SP_KH_FRAME_MAX];
	struct sp_kh_msg m;
	size_t len;

	fill(&m, 42);
	T_EQ_INT(sp_kh_encode(&m, f, sizeof(f), &len, NULL), SP_ERR_INVALID);
	fill(&m, SP_KH_WRAP);
	m.aad[0] = '\0';
	T_EQ_INT(sp_kh_encode(&m, f, sizeof(f), &len, NULL), SP_ERR_INVALID);
	fill(&m, SP_KH_WRAP);
	m.aad[3] = '\n';
	T_EQ_INT(sp_kh_encode(&m, f, sizeof(f), &len, NULL), SP_ERR_INVALID);
	fill(&m, SP_KH_UNWRAP);
	m.key_id = 0;
	T_EQ_INT(sp_kh_encode(&m, f, sizeof(f), &len, NULL), SP_ERR_INVALID);
	fill(&m, SP_KH_UNWRAP);
	m.key_id = 0x80000000u;
	T_EQ_INT(sp_kh_encode(&m, f, sizeof(f), &len, NULL), SP_ERR_INVALID);
	fill(&m, SP_KH_ERROR);
	m.status = SP_OK;
	T_EQ_INT(sp_kh_encode(&m, f, sizeof(f), &len, NULL), SP_ERR_INVALID);
	fill(&m, SP_KH_RELOAD_OK);
	m.key_id = 0;
	T_EQ_INT(sp_kh_encode(&m, f, sizeof(f), &len, NULL), SP_ERR_INVALID);
	m.key_id = 0x80000000u;
	T_EQ_INT(sp_kh_encode(&m, f, sizeof(f), &len, NULL), SP_ERR_INVALID);
	fill(&m, SP_KH_WRAP);
	T_EQ_INT(sp_kh_encode(&m, f, 40, &len, NULL), SP_ERR_TOOBIG);
}

static void
put16(unsigned char *p, unsigned v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
}

static void
put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

/* A good WRAP frame into f: its length. */
static size_t
good_wrap(unsigned char *f)
{
	struct sp_kh_msg m;
	size_t len = 0;

	fill(&m, SP_KH_WRAP);
	sp_kh_encode(&m, f, SP_KH_FRAME_MAX, &len, NULL);
	return len;
}

/* RELOAD has no field and RELOAD_OK exactly one, a key id in range. */
static void
test_malformed_reload(void)
{
	unsigned char g[SP_KH_FRAME_MAX + 64];
	struct sp_kh_msg m, d;
	struct sp_err err = {{0}};
	size_t len;

	/* a RELOAD carrying a key id: the RELOAD_OK frame under the request type */
	fill(&m, SP_KH_RELOAD_OK);
	sp_kh_encode(&m, g, sizeof(g), &len, NULL);
	put16(g + 2, SP_KH_RELOAD);
	T_EQ_INT(sp_kh_decode(g, len, &d, &err), SP_ERR_INVALID);
	T_CHECK(strstr(err.msg, "RELOAD: 8 trailing bytes") != NULL);
	T_EQ_INT(d.id, 0x01020304);
	/* a RELOAD with one stray byte */
	fill(&m, SP_KH_RELOAD);
	sp_kh_encode(&m, g, sizeof(g), &len, NULL);
	g[len] = 0;
	put32(g + 4, 1);
	T_EQ_INT(sp_kh_decode(g, len + 1, &d, &err), SP_ERR_INVALID);
	/* a RELOAD_OK without its key id, with another field, with key id 0
	 * or 2^31, with a short key id, with trailing bytes */
	fill(&m, SP_KH_RELOAD);
	sp_kh_encode(&m, g, sizeof(g), &len, NULL);
	put16(g + 2, SP_KH_RELOAD_OK);
	T_EQ_INT(sp_kh_decode(g, len, &d, &err), SP_ERR_INVALID);
	T_CHECK(strstr(err.msg, "RELOAD_OK: field 1 missing") != NULL);
	fill(&m, SP_KH_ERROR);
	sp_kh_encode(&m, g, sizeof(g), &len, NULL);
	put16(g + 2, SP_KH_RELOAD_OK);
	T_EQ_INT(sp_kh_decode(g, len, &d, &err), SP_ERR_INVALID);
	fill(&m, SP_KH_RELOAD_OK);
	sp_kh_encode(&m, g, sizeof(g), &len, NULL);
	T_EQ_INT(sp_kh_decode(g, len, &d, &err), SP_OK);
	put32(g + 16, 0);
	T_EQ_INT(sp_kh_decode(g, len, &d, &err), SP_ERR_INVALID);
	put32(g + 16, 0x80000000u);
	T_EQ_INT(sp_kh_decode(g, len, &d, &err), SP_ERR_INVALID);
	put32(g + 4, 7);
	put16(g + 14, 3);
	T_EQ_INT(sp_kh_decode(g, len - 1, &d, &err), SP_ERR_INVALID);
	fill(&m, SP_KH_RELOAD_OK);
	sp_kh_encode(&m, g, sizeof(g), &len, NULL);
	g[len] = 0;
	put32(g + 4, 9);
	T_EQ_INT(sp_kh_decode(g, len + 1, &d, &err), SP_ERR_INVALID);
	T_CHECK(strstr(err.msg, "trailing") != NULL);
}

static void
test_malformed(void)
{
	unsigned char f[SP_KH_FRAME_MAX + 64], g[SP_KH_FRAME_MAX + 64];
	struct sp_kh_msg d;
	struct sp_err err = {{0}};
	size_t len, n;

	len = good_wrap(f);
	T_EQ_INT(sp_kh_decode(f, len, &d, &err), SP_OK);
	/* WRAP payload: aad field at 12 (tag, len, 22 bytes), part field at 38 */
	T_EQ_INT(len, 12 + 4 + 22 + 4 + 32);

	memcpy(g, f, len); g[0] = 0x4c;				/* bad magic */
	T_EQ_INT(sp_kh_decode(g, len, &d, &err), SP_ERR_INVALID);
	T_EQ_INT(d.id, 0x01020304);				/* id kept for the answer */
	memcpy(g, f, len); g[1] = 0x02;				/* other version */
	T_EQ_INT(sp_kh_decode(g, len, &d, &err), SP_ERR_INVALID);
	memcpy(g, f, len); put32(g + 4, SP_KH_PAYLOAD_MAX + 1);	/* over the limit */
	T_EQ_INT(sp_kh_header(g, NULL, NULL, NULL, &err), SP_ERR_INVALID);
	T_EQ_INT(sp_kh_decode(g, len, &d, &err), SP_ERR_INVALID);
	memcpy(g, f, len); put32(g + 4, (uint32_t)(len - 12 + 1));	/* says longer */
	T_EQ_INT(sp_kh_decode(g, len, &d, &err), SP_ERR_INVALID);
	T_EQ_INT(sp_kh_decode(f, len - 1, &d, &err), SP_ERR_INVALID);	/* truncated */
	for (n = 0; n < SP_KH_HDR_LEN; n++)			/* truncated header */
		T_EQ_INT(sp_kh_decode(f, n, &d, &err), SP_ERR_INVALID);
	memcpy(g, f, len); put16(g + 2, 9);			/* unknown type */
	T_EQ_INT(sp_kh_decode(g, len, &d, &err), SP_ERR_INVALID);
	memcpy(g, f, len); put16(g + 12, SP_KH_F_PART);		/* wrong tag */
	T_EQ_INT(sp_kh_decode(g, len, &d, &err), SP_ERR_INVALID);
	memcpy(g, f, len); put16(g + 12 + 4 + 22 + 2, 31);	/* part of 31 bytes */
	T_EQ_INT(sp_kh_decode(g, len, &d, &err), SP_ERR_INVALID);
	memcpy(g, f, len); put16(g + 14, 200);			/* aad runs past the end */
	T_EQ_INT(sp_kh_decode(g, len, &d, &err), SP_ERR_INVALID);
	memcpy(g, f, len); g[20] = 0x07;			/* aad not printable */
	T_EQ_INT(sp_kh_decode(g, len, &d, &err), SP_ERR_INVALID);
	memcpy(g, f, len); g[20] = 0x80;
	T_EQ_INT(sp_kh_decode(g, len, &d, &err), SP_ERR_INVALID);
	memcpy(g, f, len); put16(g + 14, 0);			/* empty aad */
	memmove(g + 16, g + 38, 36);
	put32(g + 4, 4 + 0 + 4 + 32);
	T_EQ_INT(sp_kh_decode(g, 12 + 40, &d, &err), SP_ERR_INVALID);
	memcpy(g, f, len); g[len] = 0; put32(g + 4, (uint32_t)(len - 12 + 1));	/* trailing */
	T_EQ_INT(sp_kh_decode(g, len + 1, &d, &err), SP_ERR_INVALID);
	T_CHECK(strstr(err.msg, "trailing") != NULL);
	/* aad over the limit (385 bytes) in an otherwise well-formed frame */
	memcpy(g, f, 12);
	put16(g + 12, SP_KH_F_AAD);
	put16(g + 14, SP_KH_AAD_MAX + 1);
	memset(g + 16, 'a', SP_KH_AAD_MAX + 1);
	n = 16 + SP_KH_AAD_MAX + 1;
	put16(g + n, SP_KH_F_PART); put16(g + n + 2, 32); memset(g + n + 4, 1, 32);
	n += 36;
	put32(g + 4, (uint32_t)(n - 12));
	T_EQ_INT(sp_kh_decode(g, n, &d, &err), SP_ERR_INVALID);
	T_CHECK(strstr(err.msg, "at most") != NULL);
	/* key id 0 and 2^31 in an UNWRAP */
	{
		struct sp_kh_msg m;

		fill(&m, SP_KH_UNWRAP);
		sp_kh_encode(&m, g, sizeof(g), &len, NULL);
		T_EQ_INT(sp_kh_decode(g, len, &d, &err), SP_OK);
		put32(g + 16, 0);
		T_EQ_INT(sp_kh_decode(g, len, &d, &err), SP_ERR_INVALID);
		put32(g + 16, 0x80000000u);
		T_EQ_INT(sp_kh_decode(g, len, &d, &err), SP_ERR_INVALID);
	}
	/* a HELLO with a payload, an ERROR with status 0 */
	{
		struct sp_kh_msg m;

		fill(&m, SP_KH_HELLO);
		sp_kh_encode(&m, g, sizeof(g), &len, NULL);
		g[len] = 0;
		put32(g + 4, 1);
		T_EQ_INT(sp_kh_decode(g, len + 1, &d, &err), SP_ERR_INVALID);
		fill(&m, SP_KH_ERROR);
		sp_kh_encode(&m, g, sizeof(g), &len, NULL);
		put32(g + 16, 0);
		T_EQ_INT(sp_kh_decode(g, len, &d, &err), SP_ERR_INVALID);
	}
	test_malformed_reload();
}

static void
test_read(void)
{
	unsigned char f[SP_KH_FRAME_MAX], r[SP_KH_FRAME_MAX];
	struct sp_err err = {{0}};
	size_t len, got;
	int sv[2];

	len = good_wrap(f);
	T_EQ_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	T_EQ_INT(sp_kh_write(sv[0], f, len, 1000, &err), SP_OK);
	T_EQ_INT(sp_kh_read(sv[1], r, &got, 1000, &err), SP_OK);
	T_EQ_INT(got, len);
	T_EQ_MEM(r, f, len);
	/* nothing sent: a timeout */
	T_EQ_INT(sp_kh_read(sv[1], r, &got, 50, &err), SP_ERR_RETRY);
	T_EQ_INT(got, 0);
	/* half a frame: still a timeout, with what was read */
	T_EQ_INT(sp_kh_write(sv[0], f, 20, 1000, &err), SP_OK);
	T_EQ_INT(sp_kh_read(sv[1], r, &got, 100, &err), SP_ERR_RETRY);
	T_EQ_INT(got, 20);
	/* half a frame, then the end: truncated */
	T_EQ_INT(sp_kh_write(sv[0], f, 20, 1000, &err), SP_OK);
	close(sv[0]);
	T_EQ_INT(sp_kh_read(sv[1], r, &got, 1000, &err), SP_ERR_INVALID);
	/* the end before a frame */
	T_EQ_INT(sp_kh_read(sv[1], r, &got, 1000, &err), SP_ERR_NOTFOUND);
	close(sv[1]);
	/* a bad header is refused before its payload is read */
	T_EQ_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	memcpy(r, f, len);
	put32(r + 4, 100000);
	T_EQ_INT(sp_kh_write(sv[0], r, len, 1000, &err), SP_OK);
	T_EQ_INT(sp_kh_read(sv[1], r, &got, 1000, &err), SP_ERR_INVALID);
	T_EQ_INT(got, SP_KH_HDR_LEN);
	close(sv[0]);
	close(sv[1]);
}

/* A key holder in a thread: answers requests with a local keywrap; with
 * bad_id, the answer to the second request carries another id. */
struct holder {
	int fd;
	int bad_id;
	struct sp_keywrap *kw;
};

static void *
holder_main(void *arg)
{
	struct holder *h = arg;
	unsigned char f[SP_KH_FRAME_MAX];
	struct sp_kh_msg q, a;
	size_t len;
	int n = 0;

	while (sp_kh_read(h->fd, f, &len, 5000, NULL) == SP_OK &&
	    sp_kh_decode(f, len, &q, NULL) == SP_OK) {
		memset(&a, 0, sizeof(a));
		a.id = q.id + (h->bad_id && ++n == 2);
		if (q.type == SP_KH_HELLO) {
			a.type = SP_KH_HELLO_OK;
			a.key_id = sp_keywrap_current(h->kw);
		} else if (q.type == SP_KH_WRAP) {
			a.type = SP_KH_WRAP_OK;
			sp_keywrap_wrap(h->kw, q.aad, q.part, a.wrapped, &a.key_id, NULL);
		} else {
			int st = sp_keywrap_unwrap(h->kw, q.key_id, q.aad, q.wrapped,
			    SP_KEYWRAP_LEN, a.part, NULL);

			a.type = st == SP_OK ? SP_KH_UNWRAP_OK : SP_KH_ERROR;
			a.status = (uint32_t)st;
		}
		if (sp_kh_encode(&a, f, sizeof(f), &len, NULL) != SP_OK ||
		    sp_kh_write(h->fd, f, len, 5000, NULL) != SP_OK)
			break;
	}
	close(h->fd);
	return NULL;
}

static void
test_remote(void)
{
	struct sp_keywrap *kw = NULL, *local = NULL;
	struct sp_err err = {{0}};
	struct holder h;
	pthread_t t;
	unsigned char part[SP_KEY_LEN], back[SP_KEY_LEN], w[SP_KEYWRAP_LEN];
	uint32_t id = 0;
	int sv[2], bad;

	T_EQ_INT(sp_keywrap_load(&local, dir, 1, &err), SP_OK);
	memset(part, 0x5a, sizeof(part));
	for (bad = 0; bad <= 1; bad++) {
		T_EQ_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
		h = (struct holder){sv[1], bad, local};
		pthread_create(&t, NULL, holder_main, &h);
		T_EQ_INT(sp_keywrap_connect(&kw, sv[0], &err), SP_OK);
		T_EQ_INT(sp_keywrap_current(kw), 1);
		T_EQ_INT(sp_keywrap_alive(kw), 1);
		if (!bad) {
			T_EQ_INT(sp_keywrap_wrap(kw, "env-1", part, w, &id, &err), SP_OK);
			T_EQ_INT(id, 1);
			T_EQ_INT(sp_keywrap_unwrap(kw, id, "env-1", w, sizeof(w), back, &err), SP_OK);
			T_EQ_MEM(back, part, SP_KEY_LEN);
			T_EQ_INT(sp_keywrap_unwrap(kw, id, "env-2", w, sizeof(w), back, &err),
			    SP_ERR_AUTH);
			T_EQ_INT(sp_keywrap_unwrap(kw, 9, "env-1", w, sizeof(w), back, &err),
			    SP_ERR_NOTFOUND);
			/* refused here, never sent */
			T_EQ_INT(sp_keywrap_wrap(kw, "bad\naad", part, w, &id, &err), SP_ERR_INVALID);
			T_EQ_INT(sp_keywrap_alive(kw), 1);
		} else {
			/* an answer out of turn: the connection is dead from then on */
			T_EQ_INT(sp_keywrap_wrap(kw, "env-1", part, w, &id, &err), SP_ERR_RETRY);
			T_EQ_INT(sp_keywrap_alive(kw), 0);
			T_EQ_INT(sp_keywrap_unwrap(kw, 1, "env-1", w, sizeof(w), back, &err),
			    SP_ERR_RETRY);
		}
		sp_keywrap_free(kw);
		pthread_join(t, NULL);
	}
	/* a key holder that is gone: RETRY */
	T_EQ_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	close(sv[1]);
	T_EQ_INT(sp_keywrap_connect(&kw, sv[0], &err), SP_ERR_RETRY);
	sp_keywrap_free(local);
}

static void
test_add_key(void)
{
	struct sp_keywrap *kw = NULL;
	struct sp_err err = {{0}};
	char sub[300];
	uint32_t id = 0;
	int old = 1;

	/* new layout: DATA/keys; old: master-N.key in DATA itself */
	T_EQ_INT(sp_keywrap_dir(dir, sub, sizeof(sub), &old, &err), SP_OK);
	T_EQ_INT(old, 1);	/* test_remote made master-1.key in dir */
	T_CHECK(strcmp(sub, dir) == 0);
	T_EQ_INT(sp_keywrap_add_key(dir, &id, &err), SP_OK);
	T_EQ_INT(id, 2);
	T_EQ_INT(sp_keywrap_load(&kw, dir, 0, &err), SP_OK);
	T_EQ_INT(sp_keywrap_current(kw), 2);
	sp_keywrap_free(kw);
	snprintf(sub, sizeof(sub), "%s/keys", dir);
	T_EQ_INT(mkdir(sub, 0700), 0);
	T_EQ_INT(sp_keywrap_dir(dir, sub, sizeof(sub), &old, &err), SP_OK);
	T_EQ_INT(old, 0);
	T_CHECK(strstr(sub, "/keys") != NULL);
	T_EQ_INT(sp_keywrap_add_key(sub, &id, &err), SP_OK);
	T_EQ_INT(id, 1);
	/* as many keys as load, then no more: a key that would not load would
	 * keep the key holder from starting */
	while (id < SP_KEYWRAP_MAX_KEYS)
		T_EQ_INT(sp_keywrap_add_key(sub, &id, &err), SP_OK);
	T_EQ_INT(sp_keywrap_load(&kw, sub, 0, &err), SP_OK);
	T_EQ_INT(sp_keywrap_current(kw), SP_KEYWRAP_MAX_KEYS);
	sp_keywrap_free(kw);
	T_EQ_INT(sp_keywrap_add_key(sub, &id, &err), SP_ERR_CONFIG);
	T_CHECK(strstr(err.msg, "key rewrap") != NULL);
	snprintf(sub + strlen(sub), sizeof(sub) - strlen(sub), "/master-%d.key", SP_KEYWRAP_MAX_KEYS + 1);
	T_EQ_INT(access(sub, F_OK), -1);
}

T_MAIN(setup, test_round_trip, test_encode_refuses, test_malformed, test_read, test_remote,
    test_add_key, cleanup)

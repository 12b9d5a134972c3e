/*
 * seal_stream_test.c - the sealing pipeline as a stream: the envelope file
 * written while its ciphertext is made (sp_env_html_write_stream) is the
 * same, byte for byte, as the one written from the whole ciphertext, for
 * every way the ciphertext may come in pieces; the container written from
 * a plan is the container sp_msg_container_build() writes; and a 30 MB
 * message goes from raw bytes to envelope with bounded extra memory (the
 * peak resident size grows by less than the message, where a buffered
 * container, ciphertext and mail took more than twice it).
 */
#include "t.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "crypto.h"
#include "envelope.h"
#include "message.h"
#include "message_internal.h"

struct pieces {
	const unsigned char *ct;
	size_t len;
	size_t step;	/* 0: pieces of varying size */
};

static int
produce_pieces(void *ctx, struct sp_writer out)
{
	struct pieces *p = ctx;
	size_t off = 0, n, k = 0;
	static const size_t sizes[] = { 1, 56, 57, 58, 113, 114, 4095, 65552, 7 };
	int st;

	while (off < p->len) {
		n = p->step ? p->step : sizes[k++ % (sizeof(sizes) / sizeof(sizes[0]))];
		if (n > p->len - off)
			n = p->len - off;
		if ((st = out.write(out.ctx, p->ct + off, n)) != SP_OK)
			return st;
		off += n;
	}
	return SP_OK;
}

static char *to[] = { "pat@example.org" };

static void
header(struct sp_env_header *h, struct sp_buf *hb)
{
	struct sp_err err;

	memset(h, 0, sizeof(*h));
	h->version = 1;
	memcpy(h->id, "AAECAwQFBgcICQoLDA0ODw", 23);
	h->keyd = "http://127.0.0.1:8443";
	h->org = "Example Clinic";
	h->from = "dr@clinic.example";
	h->to = to;
	h->nto = 1;
	h->created = 1795000000;
	memset(h->nonce_prefix, 7, sizeof(h->nonce_prefix));
	sp_buf_init(hb, SP_ENV_MAX_HEADER);
	T_EQ_INT(sp_env_header_encode(h, hb, &err), SP_OK);
}

/* The same file from the whole ciphertext and from pieces of it. */
static void
test_stream_same_bytes(void)
{
	static const size_t lens[] = { 0, 1, 56, 57, 58, 114, 65552, 65553, 200000 };
	static const size_t steps[] = { 0, 1, 57, 1000, 65552 };
	unsigned char mp[SP_KEY_LEN];
	struct sp_env_header h;
	struct sp_env_html_params hp;
	struct sp_buf hb, whole, streamed, ct;
	struct sp_err err;
	struct pieces pc;
	size_t i, j, k;

	header(&h, &hb);
	memset(mp, 3, sizeof(mp));
	memset(&hp, 0, sizeof(hp));
	hp.header = &h;
	hp.header_bytes = hb.data;
	hp.header_len = hb.len;
	hp.mail_part = mp;
	hp.subject_display = "results";
	sp_buf_init(&ct, 1 << 20);
	sp_buf_init(&whole, 1 << 22);
	sp_buf_init(&streamed, 1 << 22);
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		sp_buf_reset(&ct);
		sp_buf_reserve(&ct, lens[i]);
		for (k = 0; k < lens[i]; k++)
			ct.data[k] = (unsigned char)(k * 7 + i);
		ct.len = lens[i];
		sp_buf_reset(&whole);
		T_EQ_INT(sp_env_html_write(&hp, ct.data, ct.len,
		    (struct sp_writer){sp_writer_buf, &whole}, &err), SP_OK);
		for (j = 0; j < sizeof(steps) / sizeof(steps[0]); j++) {
			pc.ct = ct.data;
			pc.len = ct.len;
			pc.step = steps[j];
			sp_buf_reset(&streamed);
			T_EQ_INT(sp_env_html_write_stream(&hp, produce_pieces, &pc,
			    (struct sp_writer){sp_writer_buf, &streamed}, &err), SP_OK);
			T_CHECK(streamed.len == whole.len &&
			    memcmp(streamed.data, whole.data, whole.len) == 0);
		}
	}
	sp_buf_free(&ct);
	sp_buf_free(&whole);
	sp_buf_free(&streamed);
	sp_buf_free(&hb);
}

/* A message with an attachment of att random bytes (base64, 76, CRLF). */
static void
make_message(struct sp_buf *m, size_t att)
{
	unsigned char chunk[57];
	uint32_t x = 99;
	size_t i, k, n;

	sp_buf_append_str(m,
	    "From: Dr Alice <alice@clinic.example>\r\nTo: pat@example.org\r\n"
	    "Subject: results\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n"
	    "Content-Type: text/plain\r\n\r\nYour results are attached.\r\n--b\r\n"
	    "Content-Type: application/octet-stream; name=\"data.bin\"\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n");
	for (i = 0; i < att; i += n) {
		n = att - i < 57 ? att - i : 57;
		for (k = 0; k < n; k++) {
			x = x * 1103515245u + 12345u;
			chunk[k] = (unsigned char)(x >> 16);
		}
		sp_b64_encode(m, chunk, n, 0);
		sp_buf_append_str(m, "\r\n");
	}
	sp_buf_append_str(m, "--b--\r\n");
}

static int
sink_buf(void *ctx, const void *p, size_t n)
{
	return sp_buf_append(ctx, p, n);
}

/* The plan written out is the container sp_msg_container_build() makes. */
static void
test_plan_is_container(void)
{
	struct sp_buf m, c1, c2;
	struct sp_msg *h;
	struct msg_container *plan;
	struct sp_err err;

	sp_buf_init(&m, 1 << 24);
	make_message(&m, 300000);
	sp_buf_init(&c1, 1 << 24);
	sp_buf_init(&c2, 1 << 24);
	T_EQ_INT(sp_msg_container_build(m.data, m.len, &c1, NULL, &err), SP_OK);
	T_EQ_INT(sp_msg_open(m.data, m.len, &h, &err), SP_OK);
	T_EQ_INT(msg_container_plan(h, m.data, m.len, 0, &plan, &err), SP_OK);
	T_EQ_INT(msg_container_size(plan), c1.len);
	T_EQ_INT(msg_container_write(plan, sink_buf, &c2), SP_OK);
	T_CHECK(c1.len == c2.len && memcmp(c1.data, c2.data, c1.len) == 0);
	msg_container_free(plan);
	sp_msg_free(h);
	sp_buf_free(&m);
	sp_buf_free(&c1);
	sp_buf_free(&c2);
}

/* What the envelope writer gets: counted, not kept. */
static int
sink_count(void *ctx, const void *p, size_t n)
{
	*(size_t *)ctx += n;
	return SP_OK;
}

struct pipe {
	const struct msg_container *plan;
	struct sp_env_enc *enc;
	const unsigned char *key, *np, *hdr;
	size_t hdrlen;
};

static int
pipe_plain(void *ctx, const void *p, size_t n)
{
	return sp_env_enc_update(((struct pipe *)ctx)->enc, p, n);
}

static int
pipe_produce(void *ctx, struct sp_writer ct)
{
	struct pipe *x = ctx;
	int st;

	if ((st = sp_env_enc_new(&x->enc, x->key, x->np, x->hdr, x->hdrlen, ct)) != SP_OK ||
	    (st = msg_container_write(x->plan, pipe_plain, x)) != SP_OK)
		return st;
	return sp_env_enc_final(x->enc);
}

static long
max_rss_kb(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

/* A 30 MB message sealed into an envelope with less extra memory than
 * the message itself. */
static void
test_bounded_memory(void)
{
	unsigned char key[SP_KEY_LEN], mp[SP_KEY_LEN];
	struct sp_env_header h;
	struct sp_env_html_params hp;
	struct sp_buf m, hb;
	struct sp_msg *msg;
	struct msg_container *plan;
	struct sp_err err;
	struct pipe x;
	size_t written = 0;
	long before, growth;

	/* one allocation of the exact size: no transient peak before */
	sp_buf_init(&m, (size_t)64 << 20);
	sp_buf_reserve(&m, ((size_t)22 << 20) / 57 * 78 + 1024);
	make_message(&m, (size_t)22 << 20);
	header(&h, &hb);
	memset(key, 1, sizeof(key));
	memset(mp, 2, sizeof(mp));
	before = max_rss_kb();
	T_EQ_INT(sp_msg_open(m.data, m.len, &msg, &err), SP_OK);
	T_EQ_INT(msg_container_plan(msg, m.data, m.len, 0, &plan, &err), SP_OK);
	memset(&x, 0, sizeof(x));
	x.plan = plan;
	x.key = key;
	x.np = h.nonce_prefix;
	x.hdr = hb.data;
	x.hdrlen = hb.len;
	memset(&hp, 0, sizeof(hp));
	hp.header = &h;
	hp.header_bytes = hb.data;
	hp.header_len = hb.len;
	hp.mail_part = mp;
	T_EQ_INT(sp_env_html_write_stream(&hp, pipe_produce, &x,
	    (struct sp_writer){sink_count, &written}, &err), SP_OK);
	growth = max_rss_kb() - before;
	T_CHECK(written > m.len / 10 * 9);
	T_CHECK(growth >= 0 && (size_t)growth * 1024 < m.len / 4);
	printf("bounded memory: message %zu bytes, envelope %zu bytes, peak resident growth %ld KiB\n",
	    m.len, written, growth);
	sp_env_enc_free(x.enc);
	msg_container_free(plan);
	sp_msg_free(msg);
	sp_buf_free(&m);
	sp_buf_free(&hb);
}

T_MAIN(test_stream_same_bytes, test_plan_is_container, test_bounded_memory)

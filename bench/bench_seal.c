/*
 * bench_seal.c - seal throughput against a running key server, beside the
 * bare pipeline of its parts over the same bytes (base64 decode, AES-256-GCM
 * in 64 KiB chunks, base64 encode) measured in the same run, and the sealed
 * size over the original size.
 * usage: bench_seal KEYD_URL ORG_TOKEN [SIGN_KEY.pem]
 * (with the organisation's signing key the envelopes are signed, format 2,
 * two calls to the key server each, as `sealpost seal --sign-key` does)
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "common.h"
#include "crypto.h"
#include "message.h"
#include "seal.h"

/* A message with text and one attachment of att bytes (base64, 76, CRLF). */
static void
make_message(struct sp_buf *m, size_t att)
{
	unsigned char *data = malloc(att);
	size_t i;

	for (i = 0; i < att; i++)
		data[i] = (unsigned char)(rand() & 0xff);
	sp_buf_append_str(m,
	    "From: Dr Alice <alice@clinic.example>\r\nTo: pat@example.org\r\n"
	    "Subject: results\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n"
	    "Content-Type: text/plain\r\n\r\nYour results are attached.\r\n--b\r\n"
	    "Content-Type: application/octet-stream; name=\"data.bin\"\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n");
	for (i = 0; i < att; i += 57) {
		size_t n = att - i < 57 ? att - i : 57;

		sp_b64_encode(m, data + i, n, 0);
		sp_buf_append_str(m, "\r\n");
	}
	sp_buf_append_str(m, "--b--\r\n");
	free(data);
}

/* The bare pipeline over the same bytes: decode, encrypt, encode. */
static double
baseline(const struct sp_buf *m, int iters)
{
	unsigned char key[32] = {1}, nonce[12] = {0};
	struct sp_buf dec, ct, enc;
	double t0 = bench_now();
	size_t off;
	int i;

	for (i = 0; i < iters; i++) {
		sp_buf_init(&dec, m->len);
		sp_buf_init(&ct, m->len + m->len / 1000 + 64);
		sp_buf_init(&enc, 2 * m->len + 64);
		sp_b64_decode(&dec, (const char *)m->data + 400, m->len - 410);
		for (off = 0; off < dec.len || off == 0; off += 65536) {
			size_t n = dec.len - off < 65536 ? dec.len - off : 65536;

			sp_buf_reserve(&ct, n + 16);
			sp_gcm_seal(key, nonce, "h", 1, dec.data + off, n, ct.data + ct.len);
			ct.len += n + 16;
			if (dec.len == 0)
				break;
		}
		sp_b64_encode(&enc, ct.data, ct.len, 76);
		sp_buf_free(&dec);
		sp_buf_free(&ct);
		sp_buf_free(&enc);
	}
	return (double)m->len * iters / (bench_now() - t0) / 1e6;
}

static int
run(struct sp_keyd_client *c, const struct sp_signer *signer, size_t att, int iters,
    const char *label)
{
	struct sp_seal_params p = {0};
	struct sp_buf m, out;
	struct sp_err err = {""};
	char id[SP_ENV_ID_STRLEN + 1];
	double t0, mbs, base;
	size_t sealed = 0;
	int i, st;

	p.signer = signer;
	sp_buf_init(&m, (size_t)1 << 30);
	make_message(&m, att);
	t0 = bench_now();
	for (i = 0; i < iters; i++) {
		sp_buf_init(&out, (size_t)1 << 30);
		st = sp_seal_message(c, &p, m.data, m.len, (struct sp_writer){sp_writer_buf, &out}, id, &err);
		if (st != SP_OK) {
			fprintf(stderr, "bench_seal: %s\n", sp_err_msg(&err, st));
			return 1;
		}
		sealed = out.len;
		sp_buf_free(&out);
	}
	mbs = (double)m.len * iters / (bench_now() - t0) / 1e6;
	base = baseline(&m, iters);
	printf("seal %-6s: %8.1f MB/s   bare pipeline (b64 decode + AES-256-GCM + b64 encode): %8.1f MB/s   ratio %.2f\n",
	    label, mbs, base, mbs / base);
	printf("seal %-6s: sealed mail %zu bytes / original %zu bytes = %.3f\n", label, sealed, m.len,
	    (double)sealed / (double)m.len);
	sp_buf_free(&m);
	return 0;
}

int
main(int argc, char **argv)
{
	struct sp_keyd_client *c;
	struct sp_signer *signer = NULL;
	struct sp_err err = {""};
	int rc;

	if (argc != 3 && argc != 4) {
		fprintf(stderr, "usage: bench_seal KEYD_URL ORG_TOKEN [SIGN_KEY.pem]\n");
		return 2;
	}
	if (argc == 4 && sp_signer_load(&signer, argv[3], &err) != SP_OK) {
		fprintf(stderr, "bench_seal: %s: %s\n", argv[3], err.msg);
		return 1;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	sp_msg_global_init();
	if (sp_keyd_client_new(&c, argv[1], 60000, &err) != SP_OK ||
	    sp_keyd_client_set_token(c, argv[2]) != SP_OK) {
		fprintf(stderr, "bench_seal: %s\n", err.msg);
		return 1;
	}
	srand(1);
	rc = run(c, signer, 10 << 20, 5, "10MB");
	if (rc == 0)
		rc = run(c, signer, 72 * 1024, 200, "100KB");
	sp_keyd_client_free(c);
	sp_signer_free(signer);
	return rc;
}

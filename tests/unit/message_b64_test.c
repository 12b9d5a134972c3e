/*
 * message_b64_test.c - the base64 fast path of the message container
 * (message_codec.c): the decoder accepts exactly the canonical text in one
 * line layout, which is what makes a re-encoding unnecessary.  Every
 * length mod 4, line lengths, CRLF and LF, a final line end or none, and
 * each way a text can fail to be canonical.
 */
#include "t.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "message_internal.h"

static uint32_t rng_state = 12345;

static uint32_t
rng(void)
{
	rng_state = rng_state * 1103515245u + 12345u;
	return rng_state >> 8;
}

static int
buf_sink(void *ctx, const void *p, size_t n)
{
	return sp_buf_append(ctx, p, n);
}

/* Probe text s (n bytes, all of it available); 1 when it is taken. */
static int
probe(const char *s, size_t n, struct sp_buf *dec, struct msg_b64fmt *f, size_t *used)
{
	unsigned char *d;
	size_t dl;
	int r;

	r = msg_b64_probe((const unsigned char *)s, n, n, &d, &dl, f, used);
	if (r == 1) {
		sp_buf_reset(dec);
		sp_buf_append(dec, d, dl);
		free(d);
	}
	return r;
}

static int
probe_str(const char *s)
{
	struct sp_buf dec;
	struct msg_b64fmt f;
	size_t used;
	int r;

	sp_buf_init(&dec, 1 << 20);
	r = probe(s, strlen(s), &dec, &f, &used);
	sp_buf_free(&dec);
	return r;
}

/* Every length (so every length mod 3 of the data and every padding), line
 * lengths from the smallest to the largest, both line ends, with and
 * without a final line end: what the encoder writes is taken back, decoded
 * to the same bytes, and the layout found re-encodes to the same text. */
static void
test_roundtrip_layouts(void)
{
	static const size_t lines[] = { 4, 8, 64, 72, 76, 996 };
	unsigned char data[700];
	struct sp_buf enc, dec, again;
	struct msg_b64fmt f, g;
	size_t n, k, used, bad = 0, checked = 0;
	int crlf, end, one;

	sp_buf_init(&enc, 1 << 20);
	sp_buf_init(&dec, 1 << 20);
	sp_buf_init(&again, 1 << 20);
	for (n = 1; n <= sizeof(data); n += n < 40 ? 1 : 37) {
		for (k = 0; k < n; k++)
			data[k] = (unsigned char)rng();
		for (k = 0; k < sizeof(lines) / sizeof(lines[0]); k++) {
			for (crlf = 0; crlf < 2; crlf++) {
				for (end = 0; end < 2; end++) {
					f.line = lines[k];
					f.crlf = crlf;
					f.end = end;
					sp_buf_reset(&enc);
					msg_b64_emit(data, n, &f, buf_sink, &enc);
					checked++;
					/* one line has no line end inside to tell CRLF from LF:
					 * it is taken as LF and its CRLF stays literal */
					one = (n + 2) / 3 * 4 <= lines[k] && crlf && end;
					if (enc.len != msg_b64_enclen(n, &f) ||
					    probe((const char *)enc.data, enc.len, &dec, &g, &used) != 1 ||
					    used != enc.len - (one ? 2 : 0) || dec.len != n ||
					    memcmp(dec.data, data, n) != 0) {
						/* one line longer than 998 is not a layout */
						if (!(lines[k] == 996 && n > 747)) {
							bad++;
						}
						continue;
					}
					sp_buf_reset(&again);
					msg_b64_emit(dec.data, dec.len, &g, buf_sink, &again);
					if (again.len != used || memcmp(again.data, enc.data, used) != 0)
						bad++;
				}
			}
		}
	}
	T_EQ_INT(bad, 0);
	T_CHECK(checked > 1000);
	sp_buf_free(&enc);
	sp_buf_free(&dec);
	sp_buf_free(&again);
}

/* The decoder agrees with OpenSSL's on valid text. */
static void
test_agrees_with_openssl(void)
{
	unsigned char data[3000], ref[4100];
	struct sp_buf enc, dec;
	struct msg_b64fmt f = { 0, 0, 0 }, g;
	size_t used;
	int i, n, bad = 0;

	sp_buf_init(&enc, 1 << 20);
	sp_buf_init(&dec, 1 << 20);
	for (i = 0; i < 200; i++) {
		n = 1 + (int)(rng() % 740);
		for (int k = 0; k < n; k++)
			data[k] = (unsigned char)rng();
		sp_buf_reset(&enc);
		f.line = 996;	/* one line */
		msg_b64_emit(data, (size_t)n, &f, buf_sink, &enc);
		if (EVP_DecodeBlock(ref, enc.data, (int)enc.len) < 0 ||
		    probe((const char *)enc.data, enc.len, &dec, &g, &used) != 1 ||
		    dec.len != (size_t)n || memcmp(dec.data, ref, (size_t)n) != 0)
			bad++;
	}
	T_EQ_INT(bad, 0);
	sp_buf_free(&enc);
	sp_buf_free(&dec);
}

/* Canonical form: the bits that padding leaves over must be zero. */
static void
test_canonical(void)
{
	T_EQ_INT(probe_str("QQ=="), 1);		/* "A" */
	T_EQ_INT(probe_str("QR=="), 0);		/* "A" with a stray bit */
	T_EQ_INT(probe_str("QUI="), 1);		/* "AB" */
	T_EQ_INT(probe_str("QUJ="), 0);		/* "AB" with a stray bit */
	T_EQ_INT(probe_str("QUJD"), 1);		/* "ABC" */
	T_EQ_INT(probe_str("QUJDRA=="), 1);
	T_EQ_INT(probe_str("QUJDRB=="), 0);
	T_EQ_INT(probe_str("QUJDREU="), 1);
	T_EQ_INT(probe_str("QUJDREV="), 0);
}

/* Padding in the wrong place, missing or too much; stray characters. */
static void
test_padding_errors(void)
{
	T_EQ_INT(probe_str("QQ=A"), 0);
	T_EQ_INT(probe_str("Q==="), 0);
	T_EQ_INT(probe_str("===="), 0);
	T_EQ_INT(probe_str("=QQQ"), 0);
	T_EQ_INT(probe_str("QQ==QUJD"), 0);	/* padding inside the text */
	T_EQ_INT(probe_str("QQ"), 0);		/* padding left out */
	T_EQ_INT(probe_str("QUJ"), 0);
	T_EQ_INT(probe_str("QUJDR"), 0);
	T_EQ_INT(probe_str("QU*D"), 0);
	T_EQ_INT(probe_str("QU\x80\x44"), 0);
	T_EQ_INT(probe_str("QU D"), 0);
	T_EQ_INT(probe_str("QUJD\n"), 1);	/* one line and its line end */
	T_EQ_INT(probe_str("QUJD\r\n"), 1);	/* taken as one LF line: the CRLF stays */
}

/* Line layouts: every line but the last exactly as long as the first, one
 * kind of line end, lengths that are a multiple of 4 up to 998. */
static void
test_lines(void)
{
	struct sp_buf dec;
	struct msg_b64fmt f;
	size_t used;

	sp_buf_init(&dec, 1 << 20);
	T_EQ_INT(probe_str("QUJD\nQUJD\nQQ==\n"), 1);
	T_EQ_INT(probe_str("QUJD\r\nQUJD\r\nQQ==\r\n"), 1);
	T_EQ_INT(probe_str("QUJD\r\nQUJD\nQQ==\r\n"), 0);	/* mixed line ends */
	T_EQ_INT(probe_str("QUJD\nQUJD\r\nQQ==\n"), 0);
	T_EQ_INT(probe_str("QUJDQUJD\nQUJD\nQUJDQUJD\n"), 0);	/* a short line inside */
	T_EQ_INT(probe_str("QUJD\nQUJDQUJD\n"), 0);		/* a long last line */
	T_EQ_INT(probe_str("QUJD\n\nQUJD\n"), 0);		/* an empty line inside */
	T_EQ_INT(probe_str("QUJDQ\nUJDQU\n"), 0);		/* 5 is not a multiple of 4 */
	T_EQ_INT(probe_str("QUJD\nQUJ\nD\n"), 0);
	/* the text ends at its last base64 character; one line end follows */
	T_EQ_INT(probe("QUJD\nQQ==\n\n", 11, &dec, &f, &used), 1);
	T_EQ_INT(used, 10);
	T_CHECK(f.line == 4 && !f.crlf && f.end);
	T_EQ_INT(probe("QUJD\r\nQQ==", 10, &dec, &f, &used), 1);
	T_CHECK(f.line == 4 && f.crlf && !f.end && used == 10 && dec.len == 4);
	/* 1,000 characters on one line: not a layout the readers take */
	{
		char big[1010];

		memset(big, 'A', 1000);
		big[1000] = '\0';
		T_EQ_INT(probe_str(big), 0);
		big[996] = '\n';
		big[997] = '\0';
		T_EQ_INT(probe_str(big), 1);
	}
	sp_buf_free(&dec);
}

/* The exact decoder on its own: refuses a layout it was not told. */
static void
test_decode_exact(void)
{
	unsigned char d[64];
	size_t dl = 0;
	struct msg_b64fmt f = { 4, 0, 1 };

	T_EQ_INT(msg_b64_decode_exact((const unsigned char *)"QUJD\nQQ==\n", 10, &f, d, &dl), 1);
	T_CHECK(dl == 4 && memcmp(d, "ABCA", 4) == 0);
	f.end = 0;
	T_EQ_INT(msg_b64_decode_exact((const unsigned char *)"QUJD\nQQ==\n", 10, &f, d, &dl), 0);
	f.end = 1;
	f.line = 8;
	T_EQ_INT(msg_b64_decode_exact((const unsigned char *)"QUJD\nQQ==\n", 10, &f, d, &dl), 0);
	f.line = 6;
	T_EQ_INT(msg_b64_decode_exact((const unsigned char *)"QUJDQQ==\n", 9, &f, d, &dl), 0);
}

T_MAIN(test_roundtrip_layouts, test_agrees_with_openssl, test_canonical, test_padding_errors,
    test_lines, test_decode_exact)

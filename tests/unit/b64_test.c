/*
 * b64_test.c - base64 in whole groups (b64.c): the vector path and the
 * one-group path against OpenSSL's EVP_EncodeBlock and against each other,
 * at every length around the vector block sizes; every byte value at every
 * position of a text decided the same way; no byte written or read past
 * the lengths given (the buffers are exactly sized, so the sanitizer run
 * sees any overrun; a guard byte after the output checks it here too).
 */
#include "t.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "b64.h"

static uint32_t rng_state = 2026;

static unsigned char
rng_byte(void)
{
	rng_state = rng_state * 1103515245u + 12345u;
	return (unsigned char)(rng_state >> 16);
}

/* The reference text of n bytes: EVP_EncodeBlock, without padding when n
 * is a multiple of 3. */
static unsigned char *
reference(const unsigned char *in, size_t n)
{
	unsigned char *t = malloc(n / 3 * 4 + 1);

	EVP_EncodeBlock(t, in, (int)n);
	return t;
}

/* Encode and decode groups groups in the current mode; 1 when both match
 * the reference and stayed inside their buffers. */
static int
round_trip(size_t groups)
{
	size_t n = groups * 3;
	unsigned char *in = calloc(1, n + 1), *enc = malloc(groups * 4 + 1), *dec = malloc(n + 1);
	unsigned char *ref;
	int ok;

	for (size_t i = 0; i < n; i++)
		in[i] = rng_byte();
	ref = reference(in, n);
	enc[groups * 4] = 0xa5;
	dec[n] = 0x5a;
	sp_b64_enc_groups(in, groups, enc);
	ok = memcmp(enc, ref, groups * 4) == 0 && enc[groups * 4] == 0xa5;
	ok = ok && sp_b64_dec_groups(enc, groups, dec) == 1 && memcmp(dec, in, n) == 0 &&
	    dec[n] == 0x5a;
	free(in);
	free(enc);
	free(dec);
	free(ref);
	return ok;
}

static void
test_round_trip_both_paths(void)
{
	int vec = sp_b64_vector(1), bad = 0;

	if (!vec)
		printf("b64_test: no AVX2 here, the vector path is not tested\n");
	for (int mode = 0; mode < 2; mode++) {
		sp_b64_vector(mode);
		for (size_t g = 0; g <= 200; g++)
			bad += !round_trip(g);
		/* a 76-character line's 19 groups and a large piece */
		bad += !round_trip(19);
		bad += !round_trip(57 * 1024 / 3);
	}
	T_EQ_INT(bad, 0);
	sp_b64_vector(1);
}

/* Every byte value at every position of a 12-group text (one vector block
 * and the tail): accepted exactly when it is in the alphabet, and then
 * decoded the same by both paths. */
static void
test_every_byte_everywhere(void)
{
	const size_t groups = 12, n = groups * 4;
	unsigned char *text = malloc(n), *a = malloc(groups * 3), *b = malloc(groups * 3);
	int wrong_verdict = 0, differ = 0;

	for (size_t i = 0; i < n; i++)
		text[i] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[rng_byte() & 63];
	for (size_t pos = 0; pos < n; pos++) {
		unsigned char keep = text[pos];

		for (int c = 0; c < 256; c++) {
			int in_alphabet = sp_b64_value[c] != 0xff, ra, rb;

			text[pos] = (unsigned char)c;
			sp_b64_vector(1);
			ra = sp_b64_dec_groups(text, groups, a);
			sp_b64_vector(0);
			rb = sp_b64_dec_groups(text, groups, b);
			wrong_verdict += ra != in_alphabet || rb != in_alphabet;
			differ += in_alphabet && memcmp(a, b, groups * 3) != 0;
		}
		text[pos] = keep;
	}
	T_EQ_INT(wrong_verdict, 0);
	T_EQ_INT(differ, 0);
	sp_b64_vector(1);
	free(text);
	free(a);
	free(b);
}

static void
test_alphabet_table(void)
{
	const char *abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	int members = 0;

	for (int c = 0; c < 256; c++)
		members += sp_b64_value[c] != 0xff;
	T_EQ_INT(members, 64);
	for (int v = 0; v < 64; v++)
		T_EQ_INT(sp_b64_value[(unsigned char)abc[v]], v);
	T_EQ_INT(sp_b64_value['='], 0xff);
}

/* A bad character in the one-group tail after vector blocks, and in a
 * vector block followed by a good tail, both fail. */
static void
test_bad_in_block_and_tail(void)
{
	size_t groups = 19;
	unsigned char *text = malloc(groups * 4), *d = malloc(groups * 3);

	for (size_t i = 0; i < groups * 4; i++)
		text[i] = 'Q';
	T_EQ_INT(sp_b64_dec_groups(text, groups, d), 1);
	text[75] = '=';
	T_EQ_INT(sp_b64_dec_groups(text, groups, d), 0);
	text[75] = 'Q';
	text[3] = '\n';
	T_EQ_INT(sp_b64_dec_groups(text, groups, d), 0);
	text[3] = 0xc3;
	T_EQ_INT(sp_b64_dec_groups(text, groups, d), 0);
	/* in the second of two vector blocks */
	text[3] = 'Q';
	text[40] = '*';
	T_EQ_INT(sp_b64_dec_groups(text, groups, d), 0);
	free(text);
	free(d);
}

T_MAIN(test_round_trip_both_paths, test_every_byte_everywhere, test_alphabet_table,
    test_bad_in_block_and_tail)

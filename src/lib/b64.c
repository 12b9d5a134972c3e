/*
 * b64.c - base64 in whole groups (b64.h).  Two paths that give the same
 * results:
 *  - one group at a time, through a table per direction;
 *  - with AVX2, 24 bytes / 32 characters at a time, after the vector
 *    method of W. Muła and D. Lemire ("Faster Base64 Encoding and Decoding
 *    Using AVX2 Instructions", ACM TOW 2018): characters are classified by
 *    their two nibbles with two 16-entry lookups (a byte outside the
 *    alphabet has a bit set in both), turned into 6-bit values by adding
 *    an offset looked up by the high nibble, and packed with two
 *    multiply-adds; encoding runs the same steps backwards.
 * The processor is asked once (__builtin_cpu_supports, which also checks
 * that the system saves the AVX registers).
 * SECURITY: decodes untrusted text.  A vector load or store runs only
 * where all 32 of its bytes lie inside the caller's input or output; the
 * rest goes one group at a time.  Any byte outside the alphabet, '='
 * included, fails the call.
 */
#include "b64.h"

#include <stdatomic.h>
#include <stdint.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define B64_AVX2 1
#include <immintrin.h>
#endif

const char sp_b64_chars[65] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Value of each base64 character, 0xff for every other byte. */
const unsigned char sp_b64_value[256] = {
#define X 0xff
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, 62, X, X, X, 63,
	52, 53, 54, 55, 56, 57, 58, 59, 60, 61, X, X, X, X, X, X,
	X, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
	15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, X, X, X, X, X,
	X, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
	41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
#undef X
};

/* -1 not yet asked, 0 one group at a time, 1 vector */
static atomic_int vector_mode = -1;

static int
cpu_vector(void)
{
#ifdef B64_AVX2
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx2") ? 1 : 0;
#else
	return 0;
#endif
}

static int
vector_on(void)
{
	int m = atomic_load_explicit(&vector_mode, memory_order_relaxed);

	if (m < 0) {
		m = cpu_vector();
		atomic_store_explicit(&vector_mode, m, memory_order_relaxed);
	}
	return m;
}

int
sp_b64_vector(int on)
{
	int m = on ? cpu_vector() : 0;

	atomic_store_explicit(&vector_mode, m, memory_order_relaxed);
	return m;
}

static void
enc_scalar(const unsigned char *in, size_t groups, unsigned char *out)
{
	size_t g;
	uint32_t v;

	for (g = 0; g < groups; g++, in += 3, out += 4) {
		v = (uint32_t)in[0] << 16 | (uint32_t)in[1] << 8 | in[2];
		out[0] = (unsigned char)sp_b64_chars[v >> 18];
		out[1] = (unsigned char)sp_b64_chars[(v >> 12) & 63];
		out[2] = (unsigned char)sp_b64_chars[(v >> 6) & 63];
		out[3] = (unsigned char)sp_b64_chars[v & 63];
	}
}

static int
dec_scalar(const unsigned char *in, size_t groups, unsigned char *out)
{
	const unsigned char *t = sp_b64_value;
	unsigned acc = 0, a, b, c, d;
	size_t g;

	for (g = 0; g < groups; g++, in += 4, out += 3) {
		a = t[in[0]], b = t[in[1]], c = t[in[2]], d = t[in[3]];
		acc |= a | b | c | d;
		out[0] = (unsigned char)(a << 2 | b >> 4);
		out[1] = (unsigned char)(b << 4 | c >> 2);
		out[2] = (unsigned char)(c << 6 | d);
	}
	return (acc & 0xc0) == 0;
}

#ifdef B64_AVX2
/* Both lanes of a 256-bit vector the same 16 bytes. */
#define LANES(...) _mm256_setr_epi8(__VA_ARGS__, __VA_ARGS__)

/* Encode whole blocks of 8 groups while 28 input bytes remain (each block
 * loads 16 bytes at its start and 16 at its 12th byte); the number of
 * groups done. */
__attribute__((target("avx2"))) static size_t
enc_avx2(const unsigned char *in, size_t groups, unsigned char *out)
{
	/* each group's bytes a b c as the 32-bit word b a c b: its two 16-bit
	 * halves hold a:b and b:c, each with two 6-bit values inside */
	const __m256i spread = LANES(1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10);
	/* the ASCII offset per value class: 0 'a'-26, 1..10 '0'-52, 11 '+'-62,
	 * 12 '/'-63, 13 'A' */
	const __m256i offset = LANES(71, -4, -4, -4, -4, -4, -4, -4, -4, -4, -4, -19, -16, 65, 0, 0);
	size_t g = 0;

	for (; (groups - g) * 3 >= 28; g += 8, in += 24, out += 32) {
		__m256i v = _mm256_inserti128_si256(
		    _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)in)),
		    _mm_loadu_si128((const __m128i *)(const void *)(in + 12)), 1);
		__m256i hi, lo, idx, cls;

		v = _mm256_shuffle_epi8(v, spread);
		/* a>>2 and the middle of b:c moved down to bits 0..5 of bytes 0, 2 */
		hi = _mm256_mulhi_epu16(_mm256_and_si256(v, _mm256_set1_epi32(0x0fc0fc00)),
		    _mm256_set1_epi32(0x04000040));
		/* the middle of a:b and c's low six bits moved up to bytes 1, 3 */
		lo = _mm256_mullo_epi16(_mm256_and_si256(v, _mm256_set1_epi32(0x003f03f0)),
		    _mm256_set1_epi32(0x01000010));
		idx = _mm256_or_si256(hi, lo);
		/* class: values 52..63 to 1..12, 0..25 to 13, 26..51 to 0 */
		cls = _mm256_subs_epu8(idx, _mm256_set1_epi8(51));
		cls = _mm256_or_si256(cls, _mm256_and_si256(
		    _mm256_cmpgt_epi8(_mm256_set1_epi8(26), idx), _mm256_set1_epi8(13)));
		_mm256_storeu_si256((__m256i *)(void *)out,
		    _mm256_add_epi8(idx, _mm256_shuffle_epi8(offset, cls)));
	}
	return g;
}

/* Decode whole blocks of 8 groups while 11 groups remain (each block
 * stores 32 bytes of which 24 are its own); the number of groups done,
 * *bad set when a character is outside the alphabet. */
__attribute__((target("avx2"))) static size_t
dec_avx2(const unsigned char *in, size_t groups, unsigned char *out, int *bad)
{
	/* a bit per class of low nibble and of high nibble: a character is
	 * in the alphabet when its two lookups share no bit */
	const __m256i by_lo = LANES(0x15, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
	    0x11, 0x11, 0x13, 0x1a, 0x1b, 0x1b, 0x1b, 0x1a);
	const __m256i by_hi = LANES(0x10, 0x10, 0x01, 0x02, 0x04, 0x08, 0x04, 0x08,
	    0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10);
	/* what to add to a character to get its value, by high nibble; '/'
	 * (high nibble 2, like '+') looks at entry 1 */
	const __m256i shift = LANES(0, 16, 19, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0);
	const __m256i nibble = _mm256_set1_epi8(0x0f);
	/* the three bytes of each 32-bit word, in order, in 12 bytes per lane */
	const __m256i pack = LANES(2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1);
	__m256i wrong = _mm256_setzero_si256();
	size_t g = 0;

	for (; groups - g >= 11; g += 8, in += 32, out += 24) {
		__m256i v = _mm256_loadu_si256((const __m256i *)(const void *)in);
		__m256i hi = _mm256_and_si256(_mm256_srli_epi32(v, 4), nibble);
		__m256i lo = _mm256_and_si256(v, nibble);

		wrong = _mm256_or_si256(wrong, _mm256_and_si256(
		    _mm256_shuffle_epi8(by_lo, lo), _mm256_shuffle_epi8(by_hi, hi)));
		v = _mm256_add_epi8(v, _mm256_shuffle_epi8(shift,
		    _mm256_add_epi8(hi, _mm256_cmpeq_epi8(v, _mm256_set1_epi8('/')))));
		/* four 6-bit values to 12-bit pairs, pairs to one 24-bit value */
		v = _mm256_maddubs_epi16(v, _mm256_set1_epi32(0x01400140));
		v = _mm256_madd_epi16(v, _mm256_set1_epi32(0x00011000));
		v = _mm256_shuffle_epi8(v, pack);
		v = _mm256_permutevar8x32_epi32(v, _mm256_setr_epi32(0, 1, 2, 4, 5, 6, 7, 7));
		_mm256_storeu_si256((__m256i *)(void *)out, v);
	}
	*bad = !_mm256_testz_si256(wrong, wrong);
	return g;
}
#endif

void
sp_b64_enc_groups(const unsigned char *in, size_t groups, unsigned char *out)
{
	size_t g = 0;

#ifdef B64_AVX2
	if (vector_on())
		g = enc_avx2(in, groups, out);
#endif
	enc_scalar(in + g * 3, groups - g, out + g * 4);
}

int
sp_b64_dec_groups(const unsigned char *in, size_t groups, unsigned char *out)
{
	size_t g = 0;

#ifdef B64_AVX2
	int bad = 0;

	if (vector_on()) {
		g = dec_avx2(in, groups, out, &bad);
		if (bad)
			return 0;
	}
#endif
	return dec_scalar(in + g * 4, groups - g, out + g * 3);
}

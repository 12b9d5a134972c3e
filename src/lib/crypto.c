/*
 * crypto.c - checked wrappers over OpenSSL libcrypto (see crypto.h).
 * SECURITY: keys pass through here; nothing is logged; contexts are freed on
 * every path; a failed GCM open wipes its output.
 */
#include "crypto.h"
#include "b64.h"
#include "sp.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>

int
sp_random(void *p, size_t n)
{
	if (n > INT_MAX || RAND_bytes(p, (int)n) != 1)
		return SP_ERR_INTERNAL;
	return SP_OK;
}

int
sp_sha256(const void *p, size_t n, unsigned char out[SP_SHA256_LEN])
{
	unsigned int len = 0;

	if (EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) != 1 || len != SP_SHA256_LEN)
		return SP_ERR_INTERNAL;
	return SP_OK;
}

int
sp_hkdf_sha256(unsigned char *out, size_t outlen, const void *salt, size_t saltlen,
    const void *ikm, size_t ikmlen, const void *info, size_t infolen)
{
	EVP_PKEY_CTX *ctx;
	int ok;

	if (saltlen > INT_MAX || ikmlen > INT_MAX || infolen > INT_MAX)
		return SP_ERR_INVALID;
	if ((ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL)) == NULL)
		return SP_ERR_NOMEM;
	ok = EVP_PKEY_derive_init(ctx) == 1 &&
	    EVP_PKEY_CTX_set_hkdf_md(ctx, EVP_sha256()) == 1 &&
	    EVP_PKEY_CTX_set1_hkdf_salt(ctx, salt, (int)saltlen) == 1 &&
	    EVP_PKEY_CTX_set1_hkdf_key(ctx, ikm, (int)ikmlen) == 1 &&
	    EVP_PKEY_CTX_add1_hkdf_info(ctx, info, (int)infolen) == 1 &&
	    EVP_PKEY_derive(ctx, out, &outlen) == 1;
	EVP_PKEY_CTX_free(ctx);
	return ok ? SP_OK : SP_ERR_INTERNAL;
}

static int
gcm_run(int enc, const unsigned char *key, const unsigned char *nonce,
    const void *aad, size_t aadlen, const unsigned char *in, size_t n,
    unsigned char *out, unsigned char *tag)
{
	EVP_CIPHER_CTX *ctx;
	int len, ok;

	if (n > INT_MAX || aadlen > INT_MAX)
		return SP_ERR_TOOBIG;
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL)
		return SP_ERR_NOMEM;
	ok = EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) == 1 &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, SP_GCM_NONCE_LEN, NULL) == 1 &&
	    EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, enc) == 1;
	if (ok && aadlen > 0)
		ok = EVP_CipherUpdate(ctx, NULL, &len, aad, (int)aadlen) == 1;
	if (ok && n > 0)
		ok = EVP_CipherUpdate(ctx, out, &len, in, (int)n) == 1;
	if (ok && !enc)
		ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, SP_GCM_TAG_LEN, tag) == 1;
	if (ok)
		ok = EVP_CipherFinal_ex(ctx, out + n, &len) == 1;
	if (ok && enc)
		ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, SP_GCM_TAG_LEN, tag) == 1;
	EVP_CIPHER_CTX_free(ctx);
	if (!ok)
		return enc ? SP_ERR_INTERNAL : SP_ERR_AUTH;
	return SP_OK;
}

int
sp_gcm_seal(const unsigned char key[SP_KEY_LEN], const unsigned char nonce[SP_GCM_NONCE_LEN],
    const void *aad, size_t aadlen, const unsigned char *in, size_t ptlen, unsigned char *out)
{
	return gcm_run(1, key, nonce, aad, aadlen, in, ptlen, out, out + ptlen);
}

int
sp_gcm_open(const unsigned char key[SP_KEY_LEN], const unsigned char nonce[SP_GCM_NONCE_LEN],
    const void *aad, size_t aadlen, const unsigned char *in, size_t ctlen, unsigned char *out)
{
	unsigned char tag[SP_GCM_TAG_LEN];
	size_t n;
	int st;

	if (ctlen < SP_GCM_TAG_LEN)
		return SP_ERR_AUTH;
	n = ctlen - SP_GCM_TAG_LEN;
	memcpy(tag, in + n, SP_GCM_TAG_LEN);
	st = gcm_run(0, key, nonce, aad, aadlen, in, n, out, tag);
	if (st != SP_OK && n > 0)
		sp_wipe(out, n);
	return st;
}

static const char b64_url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int
sp_b64_encode(struct sp_buf *out, const void *p, size_t n, size_t line_len)
{
	const unsigned char *in = p;
	size_t groups = (n + 2) / 3, chars, total, col = 0, i = 0, per, take;
	unsigned char *o;
	int st;

	if (groups > SIZE_MAX / 4)
		return SP_ERR_TOOBIG;
	chars = groups * 4;
	total = chars;
	if (line_len > 0) {
		line_len &= ~(size_t)3;		/* whole groups per line */
		if (line_len == 0)
			line_len = 4;
		total += chars / line_len + 1;
	}
	if ((st = sp_buf_reserve(out, total)) != SP_OK)
		return st;
	o = out->data + out->len;
	/* whole groups, a line at a time (all at once when there are no lines) */
	per = line_len > 0 ? line_len / 4 * 3 : n / 3 * 3;
	while (per > 0 && n - i >= 3) {
		take = (n - i) / 3 * 3 < per ? (n - i) / 3 * 3 : per;
		sp_b64_enc_groups(in + i, take / 3, o);
		o += take / 3 * 4;
		i += take;
		col = take / 3 * 4;
		if (line_len > 0 && take == per) {
			*o++ = '\n';
			col = 0;
		}
	}
	if (i < n) {
		unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0);

		o[0] = sp_b64_chars[v >> 18];
		o[1] = sp_b64_chars[(v >> 12) & 63];
		o[2] = i + 1 < n ? sp_b64_chars[(v >> 6) & 63] : '=';
		o[3] = '=';
		o += 4;
		col += 4;
	}
	if (line_len > 0 && col > 0)
		*o++ = '\n';
	out->len = (size_t)(o - out->data);
	out->data[out->len] = '\0';
	return SP_OK;
}

static int
b64_val(unsigned char c, int url)
{
	if (c >= 'A' && c <= 'Z') return c - 'A';
	if (c >= 'a' && c <= 'z') return c - 'a' + 26;
	if (c >= '0' && c <= '9') return c - '0' + 52;
	if (!url && c == '+') return 62;
	if (!url && c == '/') return 63;
	if (url && c == '-') return 62;
	if (url && c == '_') return 63;
	return -1;
}

/* Decoding table: 0-63 alphabet, 64 white space, 65 '=', 255 invalid. */
static unsigned char b64_dec[256];
static pthread_once_t b64_once = PTHREAD_ONCE_INIT;

static void
b64_table_init(void)
{
	int i;

	memset(b64_dec, 255, sizeof(b64_dec));
	for (i = 0; i < 64; i++)
		b64_dec[(unsigned char)sp_b64_chars[i]] = (unsigned char)i;
	b64_dec[' '] = b64_dec['\t'] = b64_dec['\r'] = b64_dec['\n'] = b64_dec['\f'] = 64;
	b64_dec['='] = 65;
}

int
sp_b64_decode(struct sp_buf *out, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n;
	unsigned v = 0;
	int bits = 0, pad = 0, st;
	unsigned char *o;

	pthread_once(&b64_once, b64_table_init);
	if ((st = sp_buf_reserve(out, n / 4 * 3 + 3)) != SP_OK)
		return st;
	o = out->data + out->len;
	while (p < end) {
		unsigned d;

		/* fast path: four alphabet characters at bit offset 0 */
		if (bits == 0 && pad == 0 && end - p >= 4) {
			unsigned a = b64_dec[p[0]], b = b64_dec[p[1]], c = b64_dec[p[2]], e = b64_dec[p[3]];

			if ((a | b | c | e) < 64) {
				unsigned w = a << 18 | b << 12 | c << 6 | e;

				o[0] = (unsigned char)(w >> 16);
				o[1] = (unsigned char)(w >> 8);
				o[2] = (unsigned char)w;
				o += 3;
				p += 4;
				continue;
			}
		}
		d = b64_dec[*p++];
		if (d == 64)
			continue;
		if (d == 65) {
			pad++;
			continue;
		}
		if (pad > 0 || d == 255)
			return SP_ERR_INVALID;
		v = v << 6 | d;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			*o++ = (unsigned char)(v >> bits);
			v &= (1u << bits) - 1;
		}
	}
	if (pad > 2 || bits >= 6 || v != 0)
		return SP_ERR_INVALID;
	out->len = (size_t)(o - out->data);
	out->data[out->len] = '\0';
	return SP_OK;
}

int
sp_b64url_encode(struct sp_buf *out, const void *p, size_t n)
{
	const unsigned char *in = p;
	unsigned v = 0;
	int bits = 0, st;
	size_t i;

	if ((st = sp_buf_reserve(out, (n * 4 + 2) / 3)) != SP_OK)
		return st;
	for (i = 0; i < n; i++) {
		v = v << 8 | in[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			out->data[out->len++] = (unsigned char)b64_url[(v >> bits) & 63];
		}
		v &= (1u << bits) - 1;
	}
	if (bits > 0)
		out->data[out->len++] = (unsigned char)b64_url[(v << (6 - bits)) & 63];
	out->data[out->len] = '\0';
	return SP_OK;
}

int
sp_b64url_decode_exact(const char *s, size_t n, unsigned char *out, size_t outlen)
{
	unsigned v = 0;
	int bits = 0, d;
	size_t i, o = 0;

	if (n != (outlen * 4 + 2) / 3)
		return SP_ERR_INVALID;
	for (i = 0; i < n; i++) {
		if ((d = b64_val((unsigned char)s[i], 1)) < 0)
			return SP_ERR_INVALID;
		v = v << 6 | (unsigned)d;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o == outlen)
				return SP_ERR_INVALID;
			out[o++] = (unsigned char)(v >> bits);
			v &= (1u << bits) - 1;
		}
	}
	if (o != outlen || v != 0)
		return SP_ERR_INVALID;
	return SP_OK;
}

void
sp_hex_encode(const unsigned char *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static int
hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
sp_hex_decode_exact(const char *s, size_t n, unsigned char *out, size_t outlen)
{
	size_t i;
	int hi, lo;

	if (n != 2 * outlen)
		return SP_ERR_INVALID;
	for (i = 0; i < outlen; i++) {
		if ((hi = hex_val(s[2 * i])) < 0 || (lo = hex_val(s[2 * i + 1])) < 0)
			return SP_ERR_INVALID;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return SP_OK;
}

int
sp_ct_eq(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}

void
sp_wipe(void *p, size_t n)
{
	if (p != NULL && n > 0)
		OPENSSL_cleanse(p, n);
}

int
sp_token_new(char *out, size_t outsz, const char *prefix, size_t nbytes)
{
	unsigned char raw[64];
	struct sp_buf b;
	int st;

	if (nbytes > sizeof(raw))
		return SP_ERR_INVALID;
	if ((st = sp_random(raw, nbytes)) != SP_OK)
		return st;
	sp_buf_init(&b, outsz);
	if ((st = sp_buf_append_str(&b, prefix)) == SP_OK)
		st = sp_b64url_encode(&b, raw, nbytes);
	sp_wipe(raw, sizeof(raw));
	if (st == SP_OK && b.len < outsz)
		memcpy(out, b.data, b.len + 1);
	else if (st == SP_OK)
		st = SP_ERR_TOOBIG;
	sp_buf_wipe(&b);
	return st;
}

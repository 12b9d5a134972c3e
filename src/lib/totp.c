/*
 * totp.c - RFC 6238 TOTP codes, base32 secrets, otpauth:// URIs and
 * recovery codes (see totp.h).  HMAC-SHA1 comes from OpenSSL libcrypto,
 * Argon2id (the stored form of recovery codes) from libsodium.
 * SECURITY: secrets and typed codes pass through here; typed input is
 * bounded before it is read, codes are compared with sp_ct_eq over every
 * step of the window, and HMAC output and candidate codes are wiped.
 */
#include "totp.h"
#include "crypto.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

static const char b32_alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/* Crockford's base32 symbols, lower case: no i, l, o, u. */
static const char rc_alpha[] = "0123456789abcdefghjkmnpqrstvwxyz";

int
sp_totp_secret_new(unsigned char secret[SP_TOTP_SECRET_LEN])
{
	return sp_random(secret, SP_TOTP_SECRET_LEN);
}

int
sp_base32_encode(struct sp_buf *out, const void *p, size_t n)
{
	const unsigned char *s = p;
	unsigned int acc = 0, bits = 0;
	char c;
	size_t i;
	int st;

	if ((st = sp_buf_reserve(out, (n * 8 + 4) / 5)) != SP_OK)
		return st;
	for (i = 0; i < n; i++) {
		acc = (acc << 8) | s[i];
		bits += 8;
		while (bits >= 5) {
			bits -= 5;
			c = b32_alpha[(acc >> bits) & 31];
			if ((st = sp_buf_append(out, &c, 1)) != SP_OK)
				return st;
		}
		acc &= (1u << bits) - 1;
	}
	if (bits > 0) {
		c = b32_alpha[(acc << (5 - bits)) & 31];
		if ((st = sp_buf_append(out, &c, 1)) != SP_OK)
			return st;
	}
	return SP_OK;
}

static int
b32_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a';
	if (c >= '2' && c <= '7')
		return c - '2' + 26;
	return -1;
}

int
sp_base32_decode(const char *s, size_t n, unsigned char *out, size_t outsz,
    size_t *outlen, struct sp_err *err)
{
	unsigned int acc = 0, bits = 0;
	size_t i, len = 0;
	int v;

	if (outlen != NULL)
		*outlen = 0;
	if (s == NULL || out == NULL || outlen == NULL)
		return sp_err_set(err, SP_ERR_INVALID, "base32: missing argument");
	if (n > SP_BASE32_MAX)
		return sp_err_set(err, SP_ERR_INVALID, "base32: longer than %d characters",
		    SP_BASE32_MAX);
	switch (n % 8) {
	case 1: case 3: case 6:
		return sp_err_set(err, SP_ERR_INVALID, "base32: impossible length %zu", n);
	}
	if (n * 5 / 8 > outsz)
		return sp_err_set(err, SP_ERR_TOOBIG, "base32: output room too small");
	for (i = 0; i < n; i++) {
		if ((v = b32_value(s[i])) < 0) {
			sp_wipe(out, outsz);
			return sp_err_set(err, SP_ERR_INVALID,
			    "base32: character %zu is not in the alphabet", i + 1);
		}
		acc = (acc << 5) | (unsigned int)v;
		bits += 5;
		if (bits >= 8) {
			bits -= 8;
			out[len++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (acc != 0) {
		sp_wipe(out, outsz);
		return sp_err_set(err, SP_ERR_INVALID, "base32: non-zero trailing bits");
	}
	*outlen = len;
	return SP_OK;
}

static int
pct_encode(struct sp_buf *out, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p = (const unsigned char *)s;
	char e[3];
	int st = SP_OK;

	for (; *p != '\0' && st == SP_OK; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' ||
		    *p == '~') {
			st = sp_buf_append(out, p, 1);
		} else {
			e[0] = '%';
			e[1] = hex[*p >> 4];
			e[2] = hex[*p & 15];
			st = sp_buf_append(out, e, 3);
		}
	}
	return st;
}

static int
label_ok(const char *s)
{
	size_t n;

	if (s == NULL)
		return 0;
	n = strnlen(s, SP_TOTP_LABEL_MAX + 1);
	return n >= 1 && n <= SP_TOTP_LABEL_MAX;
}

int
sp_totp_uri(struct sp_buf *out, const char *issuer, const char *account,
    const unsigned char *secret, size_t secret_len, struct sp_err *err)
{
	int st;

	if (out == NULL || !label_ok(issuer) || !label_ok(account))
		return sp_err_set(err, SP_ERR_INVALID,
		    "totp uri: issuer and account must be 1 to %d bytes", SP_TOTP_LABEL_MAX);
	if (secret == NULL || secret_len == 0 || secret_len > SP_TOTP_SECRET_MAX)
		return sp_err_set(err, SP_ERR_INVALID, "totp uri: bad secret length");
	if ((st = sp_buf_append_str(out, "otpauth://totp/")) != SP_OK ||
	    (st = pct_encode(out, issuer)) != SP_OK ||
	    (st = sp_buf_append_str(out, ":")) != SP_OK ||
	    (st = pct_encode(out, account)) != SP_OK ||
	    (st = sp_buf_append_str(out, "?secret=")) != SP_OK ||
	    (st = sp_base32_encode(out, secret, secret_len)) != SP_OK ||
	    (st = sp_buf_append_str(out, "&issuer=")) != SP_OK ||
	    (st = pct_encode(out, issuer)) != SP_OK ||
	    (st = sp_buf_printf(out, "&algorithm=SHA1&digits=%d&period=%d",
	    SP_TOTP_DIGITS, SP_TOTP_STEP)) != SP_OK)
		return sp_err_set(err, st, "totp uri: %s", sp_status_str(st));
	return SP_OK;
}

uint64_t
sp_totp_step(uint64_t unix_time)
{
	return unix_time / SP_TOTP_STEP;
}

int
sp_totp_code(const unsigned char *secret, size_t secret_len, uint64_t step,
    unsigned digits, char out[SP_TOTP_CODE_SIZE])
{
	unsigned char msg[8], mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0, off, i;
	uint32_t bin, mod = 1;
	int st = SP_OK;

	if (out == NULL)
		return SP_ERR_INVALID;
	out[0] = '\0';
	if (secret == NULL || secret_len == 0 || secret_len > SP_TOTP_SECRET_MAX ||
	    digits < SP_TOTP_DIGITS_MIN || digits > SP_TOTP_DIGITS_MAX)
		return SP_ERR_INVALID;
	for (i = 0; i < 8; i++)
		msg[i] = (unsigned char)(step >> (56 - 8 * i));
	if (HMAC(EVP_sha1(), secret, (int)secret_len, msg, sizeof(msg), mac, &maclen) == NULL ||
	    maclen != 20) {
		st = SP_ERR_INTERNAL;
		goto out;
	}
	/* RFC 4226 section 5.3: dynamic truncation */
	off = mac[19] & 0x0f;
	bin = ((uint32_t)(mac[off] & 0x7f) << 24) | ((uint32_t)mac[off + 1] << 16) |
	    ((uint32_t)mac[off + 2] << 8) | mac[off + 3];
	for (i = 0; i < digits; i++)
		mod *= 10;
	bin %= mod;
	for (i = digits; i > 0; i--) {
		out[i - 1] = (char)('0' + bin % 10);
		bin /= 10;
	}
	out[digits] = '\0';
out:
	sp_wipe(mac, sizeof(mac));
	sp_wipe(&bin, sizeof(bin));
	return st;
}

int
sp_totp_verify(const unsigned char *secret, size_t secret_len, unsigned digits,
    const char *code, uint64_t now, uint64_t last_step, uint64_t *matched_step,
    struct sp_err *err)
{
	char typed[SP_TOTP_CODE_SIZE], want[SP_TOTP_CODE_SIZE];
	uint64_t step, cur = sp_totp_step(now), best = 0;
	size_t i, n = 0;
	int st = SP_OK, fresh = 0, used = 0, eq;
	int d;

	if (matched_step != NULL)
		*matched_step = 0;
	if (secret == NULL || secret_len == 0 || secret_len > SP_TOTP_SECRET_MAX ||
	    digits < SP_TOTP_DIGITS_MIN || digits > SP_TOTP_DIGITS_MAX || code == NULL)
		return sp_err_set(err, SP_ERR_INVALID, "totp: bad argument");
	for (i = 0; code[i] != '\0'; i++) {
		if (i >= SP_TOTP_INPUT_MAX) {
			st = sp_err_set(err, SP_ERR_INVALID, "totp: code too long");
			goto out;
		}
		if (code[i] == ' ')
			continue;
		if (code[i] < '0' || code[i] > '9' || n >= digits) {
			st = sp_err_set(err, SP_ERR_INVALID,
			    "totp: the code must be %u digits", digits);
			goto out;
		}
		typed[n++] = code[i];
	}
	if (n != digits) {
		st = sp_err_set(err, SP_ERR_INVALID, "totp: the code must be %u digits", digits);
		goto out;
	}
	typed[n] = '\0';
	/* every step of the window is computed and compared: no early exit */
	for (d = -SP_TOTP_WINDOW; d <= SP_TOTP_WINDOW; d++) {
		if (d < 0 && cur < (uint64_t)-d)
			continue;
		step = cur + (uint64_t)(int64_t)d;
		if ((st = sp_totp_code(secret, secret_len, step, digits, want)) != SP_OK) {
			st = sp_err_set(err, st, "totp: cannot compute the code");
			goto out;
		}
		eq = sp_ct_eq(typed, want, digits);
		if (eq && step > last_step) {
			fresh = 1;
			best = step;
		} else if (eq) {
			used = 1;
		}
	}
	if (fresh) {
		if (matched_step != NULL)
			*matched_step = best;
		st = SP_OK;
	} else if (used) {
		st = sp_err_set(err, SP_ERR_REPLAY, "totp: this code was already used");
	} else {
		st = sp_err_set(err, SP_ERR_DENIED, "totp: wrong code");
	}
out:
	sp_wipe(typed, sizeof(typed));
	sp_wipe(want, sizeof(want));
	return st;
}

int
sp_recovery_codes_new(char (*codes)[SP_RECOVERY_SIZE], size_t count)
{
	unsigned char r[SP_RECOVERY_CHARS];
	size_t i, j, k;
	int st = SP_OK;

	if (codes == NULL || count == 0 || count > SP_RECOVERY_MAX_COUNT)
		return SP_ERR_INVALID;
	for (i = 0; i < count && st == SP_OK; i++) {
		if ((st = sp_random(r, sizeof(r))) != SP_OK)
			break;
		/* 256 is a multiple of 32: the low five bits are uniform */
		for (j = 0, k = 0; j < SP_RECOVERY_CHARS; j++) {
			if (j == 4 || j == 8)
				codes[i][k++] = '-';
			codes[i][k++] = rc_alpha[r[j] & 31];
		}
		codes[i][k] = '\0';
	}
	sp_wipe(r, sizeof(r));
	if (st != SP_OK)
		sp_wipe(codes, count * sizeof(*codes));
	return st;
}

int
sp_recovery_normalize(const char *code, char out[SP_RECOVERY_NORM_SIZE],
    struct sp_err *err)
{
	size_t i, n = 0;
	char c;

	if (out == NULL)
		return sp_err_set(err, SP_ERR_INVALID, "recovery code: missing argument");
	out[0] = '\0';
	if (code == NULL)
		return sp_err_set(err, SP_ERR_INVALID, "recovery code: missing argument");
	for (i = 0; code[i] != '\0'; i++) {
		c = code[i];
		if (i >= SP_TOTP_INPUT_MAX)
			goto bad;
		if (c == ' ' || c == '-')
			continue;
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c == 'i' || c == 'l')
			c = '1';
		else if (c == 'o')
			c = '0';
		if (c == '\0' || strchr(rc_alpha, c) == NULL || n >= SP_RECOVERY_CHARS)
			goto bad;
		out[n++] = c;
	}
	if (n != SP_RECOVERY_CHARS)
		goto bad;
	out[n] = '\0';
	return SP_OK;
bad:
	sp_wipe(out, SP_RECOVERY_NORM_SIZE);
	out[0] = '\0';
	return sp_err_set(err, SP_ERR_INVALID,
	    "recovery code: expected %d letters and digits", SP_RECOVERY_CHARS);
}

/* Argon2id cost of a recovery code's stored form.  Never change these:
 * every stored code depends on them (a new cost needs a new form, with
 * this one still accepted, as sp_recovery_hash_v1 is). */
#define RC_OPSLIMIT 2
#define RC_MEMLIMIT ((size_t)8 << 20)
#define RC_SALT_LABEL "sealpost recovery salt:"

int
sp_recovery_hash(const char *email, const char *norm, unsigned char out[32])
{
	char buf[sizeof(RC_SALT_LABEL) + 320];
	unsigned char salt[SP_SHA256_LEN];
	size_t el;
	int rc;

	if (email == NULL || norm == NULL || out == NULL)
		return SP_ERR_INVALID;
	el = strlen(email);
	if (el > 320 || strlen(norm) != SP_RECOVERY_CHARS)
		return SP_ERR_INVALID;
	memcpy(buf, RC_SALT_LABEL, sizeof(RC_SALT_LABEL) - 1);
	memcpy(buf + sizeof(RC_SALT_LABEL) - 1, email, el);
	sp_sha256(buf, sizeof(RC_SALT_LABEL) - 1 + el, salt);
	if (sodium_init() < 0) {
		sp_wipe(out, 32);
		return SP_ERR_INTERNAL;
	}
	_Static_assert(crypto_pwhash_SALTBYTES <= SP_SHA256_LEN, "salt from one digest");
	rc = crypto_pwhash(out, 32, norm, SP_RECOVERY_CHARS, salt, RC_OPSLIMIT, RC_MEMLIMIT,
	    crypto_pwhash_ALG_ARGON2ID13);
	sp_wipe(salt, sizeof(salt));
	if (rc != 0) {
		sp_wipe(out, 32);
		return errno == ENOMEM ? SP_ERR_NOMEM : SP_ERR_INTERNAL;
	}
	return SP_OK;
}

void
sp_recovery_hash_v1(const char *email, const char *norm, unsigned char out[32])
{
	char buf[340 + SP_RECOVERY_NORM_SIZE + 16];

	snprintf(buf, sizeof(buf), "recovery:%s:%s", email, norm);
	sp_sha256(buf, strlen(buf), out);
	sp_wipe(buf, sizeof(buf));
}

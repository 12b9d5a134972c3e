/*
 * password.c - password policy and Argon2id hashing (password.h).
 * SECURITY: handles passwords and security answers from untrusted forms;
 * every copy is wiped before it is freed; input is bounded (SP_PW_MAX_BYTES)
 * and validated as UTF-8 before normalisation.
 */
#include <errno.h>
#include <glib.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "assets.h"
#include "crypto.h"
#include "password.h"

/* --- the Argon2 gate ----------------------------------------------------- */

static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_active, gate_max = 2, gate_wait_ms = 2000;

void
sp_password_gate_config(int max_concurrent, int wait_ms)
{
	pthread_mutex_lock(&gate_mu);
	gate_max = max_concurrent > 0 ? max_concurrent : 1;
	gate_wait_ms = wait_ms >= 0 ? wait_ms : 0;
	pthread_mutex_unlock(&gate_mu);
}

static int
gate_enter(struct sp_err *err)
{
	struct timespec until;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &until);
	pthread_mutex_lock(&gate_mu);
	until.tv_sec += gate_wait_ms / 1000;
	until.tv_nsec += (long)(gate_wait_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	while (gate_active >= gate_max && rc == 0)
		rc = pthread_cond_timedwait(&gate_cv, &gate_mu, &until);
	if (gate_active >= gate_max) {
		pthread_mutex_unlock(&gate_mu);
		return sp_err_set(err, SP_ERR_RETRY, "busy, try again");
	}
	gate_active++;
	pthread_mutex_unlock(&gate_mu);
	return SP_OK;
}

static void
gate_leave(void)
{
	pthread_mutex_lock(&gate_mu);
	gate_active--;
	pthread_cond_signal(&gate_cv);
	pthread_mutex_unlock(&gate_mu);
}

/* --- normalisation ------------------------------------------------------- */

static void
gfree_wipe(char *s)
{
	if (s != NULL) {
		sp_wipe(s, strlen(s));
		g_free(s);
	}
}

/* g_malloc'd result, or NULL with err set. */
static char *
nfkc(const char *s, size_t n, struct sp_err *err)
{
	char *r;

	if (n > SP_PW_MAX_BYTES) {
		sp_err_set(err, SP_ERR_INVALID, "The text is too long");
		return NULL;
	}
	if (memchr(s, '\0', n) != NULL || !g_utf8_validate(s, (gssize)n, NULL)) {
		sp_err_set(err, SP_ERR_INVALID, "The text is not valid UTF-8");
		return NULL;
	}
	if ((r = g_utf8_normalize(s, (gssize)n, G_NORMALIZE_NFKC)) == NULL)
		sp_err_set(err, SP_ERR_INVALID, "The text cannot be normalised");
	return r;
}

int
sp_password_normalize(const char *s, size_t n, char **out, struct sp_err *err)
{
	char *g = nfkc(s, n, err);

	*out = NULL;
	if (g == NULL)
		return SP_ERR_INVALID;
	*out = strdup(g);
	gfree_wipe(g);
	return *out ? SP_OK : sp_err_set(err, SP_ERR_NOMEM, "out of memory");
}

/* --- policy -------------------------------------------------------------- */

/* Is folded (case-folded password) exactly a line of the common list? */
static int
is_common(const char *folded)
{
	const struct sp_asset *a = sp_asset_find("portal/common-passwords.txt");
	const char *p, *end, *nl;
	size_t len = strlen(folded), ll, i;

	if (a == NULL)
		return 0;
	p = (const char *)a->data;
	end = p + a->len;
	for (; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		ll = (size_t)(nl - p);
		if (ll > 0 && p[ll - 1] == '\r')
			ll--;
		if (ll != len || ll == 0 || p[0] == '#')
			continue;
		for (i = 0; i < ll; i++)
			if (g_ascii_tolower(p[i]) != folded[i])
				break;
		if (i == ll)
			return 1;
	}
	return 0;
}

/* Does folded contain word (or one of its alphanumeric pieces of at least
 * 4 characters)?  word is case-folded here. */
static int
contains_word(const char *folded, const char *word, size_t wn)
{
	char *w, *p, *start;
	int hit = 0;

	if (word == NULL || wn == 0 || !g_utf8_validate(word, (gssize)wn, NULL))
		return 0;
	if ((w = g_utf8_casefold(word, (gssize)wn)) == NULL)
		return 0;
	if (strlen(w) >= 3 && strstr(folded, w) != NULL)
		hit = 1;
	for (p = start = w; !hit; p++) {
		if (*p == '\0' || !g_ascii_isalnum(*p)) {
			char c = *p;

			*p = '\0';
			if (p - start >= 4 && strstr(folded, start) != NULL)
				hit = 1;
			if (c == '\0')
				break;
			start = p + 1;
		}
	}
	g_free(w);
	return hit;
}

int
sp_password_check(const char *pw, const struct sp_pw_context *ctx, struct sp_err *err)
{
	char *norm, *folded;
	const char *at, *dot;
	glong cps;
	int st = SP_OK;

	if (strlen(pw) > SP_PW_MAX_BYTES)
		return sp_err_set(err, SP_ERR_INVALID,
		    "The password must be at most %d characters long", SP_PW_MAX);
	if ((norm = nfkc(pw, strlen(pw), err)) == NULL)
		return SP_ERR_INVALID;
	cps = g_utf8_strlen(norm, -1);
	if (cps < SP_PW_MIN) {
		gfree_wipe(norm);
		return sp_err_set(err, SP_ERR_INVALID,
		    "The password must be at least %d characters long", SP_PW_MIN);
	}
	if (cps > SP_PW_MAX) {
		gfree_wipe(norm);
		return sp_err_set(err, SP_ERR_INVALID,
		    "The password must be at most %d characters long", SP_PW_MAX);
	}
	folded = g_utf8_casefold(norm, -1);
	gfree_wipe(norm);
	if (folded == NULL)
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	at = ctx && ctx->email ? strchr(ctx->email, '@') : NULL;
	if (is_common(folded))
		st = sp_err_set(err, SP_ERR_INVALID,
		    "This password is too common: choose one that is harder to guess");
	else if (ctx && ctx->email && contains_word(folded, ctx->email,
	    at ? (size_t)(at - ctx->email) : strlen(ctx->email)))
		st = sp_err_set(err, SP_ERR_INVALID,
		    "The password must not contain your email address");
	else if (at != NULL && (dot = strchr(at + 1, '.'), 1) &&
	    contains_word(folded, at + 1, dot ? (size_t)(dot - at - 1) : strlen(at + 1)))
		st = sp_err_set(err, SP_ERR_INVALID,
		    "The password must not contain the name of your email domain");
	else if (ctx && ctx->org && contains_word(folded, ctx->org, strlen(ctx->org)))
		st = sp_err_set(err, SP_ERR_INVALID,
		    "The password must not contain the name of the organisation");
	else if (strstr(folded, "sealpost") != NULL)
		st = sp_err_set(err, SP_ERR_INVALID,
		    "The password must not contain the name of this service");
	gfree_wipe(folded);
	return st;
}

/* --- Argon2id ------------------------------------------------------------ */

static int
hash_norm(const char *norm, char out[SP_PW_HASH_LEN], struct sp_err *err)
{
	int st, rc;

	if (sodium_init() < 0)
		return sp_err_set(err, SP_ERR_INTERNAL, "libsodium failed to start");
	if ((st = gate_enter(err)) != SP_OK)
		return st;
	rc = crypto_pwhash_str(out, norm, strlen(norm), crypto_pwhash_OPSLIMIT_INTERACTIVE,
	    crypto_pwhash_MEMLIMIT_INTERACTIVE);
	gate_leave();
	if (rc != 0)
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory while hashing");
	return SP_OK;
}

static int
verify_norm(const char *hash, const char *norm, struct sp_err *err)
{
	int st, rc;

	if ((st = gate_enter(err)) != SP_OK)
		return st;
	rc = crypto_pwhash_str_verify(hash, norm, strlen(norm));
	gate_leave();
	return rc == 0 ? SP_OK : sp_err_set(err, SP_ERR_AUTH, "wrong password");
}

static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;
static char dummy_hash[SP_PW_HASH_LEN];

static void
dummy_init(void)
{
	unsigned char r[16];

	randombytes_buf(r, sizeof(r));
	if (crypto_pwhash_str(dummy_hash, (const char *)r, sizeof(r),
	    crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
		dummy_hash[0] = '\0';
	sp_wipe(r, sizeof(r));
}

int
sp_password_hash(const char *pw, char out[SP_PW_HASH_LEN], struct sp_err *err)
{
	char *norm = nfkc(pw, strlen(pw), err);
	int st;

	if (norm == NULL)
		return SP_ERR_INVALID;
	st = hash_norm(norm, out, err);
	gfree_wipe(norm);
	return st;
}

int
sp_password_verify(const char *hash, const char *pw, struct sp_err *err)
{
	char *norm;
	int st;

	if (sodium_init() < 0)
		return sp_err_set(err, SP_ERR_INTERNAL, "libsodium failed to start");
	if (hash == NULL || *hash == '\0') {
		pthread_once(&dummy_once, dummy_init);
		hash = dummy_hash;
		st = verify_norm(hash, pw, err);
		return st == SP_ERR_RETRY ? st : sp_err_set(err, SP_ERR_AUTH, "wrong password");
	}
	if ((norm = nfkc(pw, strlen(pw), err)) == NULL) {
		pthread_once(&dummy_once, dummy_init);
		st = verify_norm(dummy_hash, "", err);
		return st == SP_ERR_RETRY ? st : sp_err_set(err, SP_ERR_AUTH, "wrong password");
	}
	st = verify_norm(hash, norm, err);
	gfree_wipe(norm);
	return st;
}

/* --- security answers ---------------------------------------------------- */

int
sp_answer_normalize(const char *s, char **out, struct sp_err *err)
{
	char *norm, *folded, *r, *w;
	const char *p;
	int space = 0;

	*out = NULL;
	if ((norm = nfkc(s, strlen(s), err)) == NULL)
		return SP_ERR_INVALID;
	folded = g_utf8_casefold(norm, -1);
	gfree_wipe(norm);
	if (folded == NULL || (r = malloc(strlen(folded) + 1)) == NULL) {
		gfree_wipe(folded);
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	}
	for (p = folded, w = r; *p; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);
		int len = (int)(g_utf8_next_char(p) - p);

		if (g_unichar_isspace(c)) {
			space = 1;
			continue;
		}
		if (space && w != r)
			*w++ = ' ';
		space = 0;
		memcpy(w, p, (size_t)len);
		w += len;
	}
	*w = '\0';
	gfree_wipe(folded);
	if (*r == '\0') {
		free(r);
		return sp_err_set(err, SP_ERR_INVALID, "The answer is empty");
	}
	*out = r;
	return SP_OK;
}

int
sp_answer_hash(const char *answer, char out[SP_PW_HASH_LEN], struct sp_err *err)
{
	char *n;
	int st;

	if ((st = sp_answer_normalize(answer, &n, err)) != SP_OK)
		return st;
	st = hash_norm(n, out, err);
	sp_wipe(n, strlen(n));
	free(n);
	return st;
}

int
sp_answer_verify(const char *hash, const char *answer, struct sp_err *err)
{
	char *n;
	int st;

	if ((st = sp_answer_normalize(answer, &n, err)) != SP_OK)
		return sp_err_set(err, SP_ERR_AUTH, "wrong answer");
	st = verify_norm(hash, n, err);
	sp_wipe(n, strlen(n));
	free(n);
	return st;
}

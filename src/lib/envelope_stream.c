/*
 * envelope_stream.c - the payload encryption of the envelope format
 * (docs/envelope-format.md section 3): AES-256-GCM over 64 KiB chunks with
 * STREAM nonces (prefix7 || be32 index || last flag) and SHA-256 of the
 * header bytes as associated data.
 *
 * The encryptor holds back one full chunk until it knows whether more data
 * follows, so a plaintext that is an exact multiple of the chunk size ends
 * with a full final chunk and an empty plaintext is one empty final chunk.
 * SECURITY: holds the message key and plaintext chunks (wiped when done);
 * sp_env_decrypt() reads an untrusted ciphertext stream: chunk boundaries
 * follow from the length alone, and any tampering fails with SP_ERR_AUTH
 * before the caller sees a byte of the failed stream.
 */
#include "envelope.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ENV_SEALED (SP_ENV_CHUNK + SP_GCM_TAG_LEN)	/* sealed chunk bytes */
#define ENV_MAX_CHUNKS ((uint64_t)1 << 32)

struct sp_env_enc {
	unsigned char key[SP_KEY_LEN];
	unsigned char np[SP_ENV_NONCE_PREFIX_LEN];
	unsigned char aad[SP_SHA256_LEN];
	unsigned char pt[SP_ENV_CHUNK];		/* plaintext held back */
	unsigned char ct[ENV_SEALED];		/* one sealed chunk */
	size_t have;				/* bytes in pt */
	uint64_t index;				/* next chunk number */
	struct sp_writer out;
	int state;				/* SP_OK, or the sticky failure */
	int done;				/* final chunk written */
};

static void
env_nonce(unsigned char nonce[SP_GCM_NONCE_LEN], const unsigned char *np, uint64_t i, int last)
{
	memcpy(nonce, np, SP_ENV_NONCE_PREFIX_LEN);
	nonce[7] = (unsigned char)(i >> 24);
	nonce[8] = (unsigned char)(i >> 16);
	nonce[9] = (unsigned char)(i >> 8);
	nonce[10] = (unsigned char)i;
	nonce[11] = last ? 0x01 : 0x00;
}

/* Seals the held-back chunk and writes it out. */
static int
env_enc_flush(struct sp_env_enc *e, int last)
{
	unsigned char nonce[SP_GCM_NONCE_LEN];
	int st;

	if (e->index >= ENV_MAX_CHUNKS)
		return SP_ERR_TOOBIG;
	env_nonce(nonce, e->np, e->index, last);
	st = sp_gcm_seal(e->key, nonce, e->aad, sizeof(e->aad), e->pt, e->have, e->ct);
	sp_wipe(e->pt, e->have);
	if (st != SP_OK)
		return st;
	if ((st = e->out.write(e->out.ctx, e->ct, e->have + SP_GCM_TAG_LEN)) != SP_OK)
		return st;
	e->have = 0;
	e->index++;
	return SP_OK;
}

/*
 * Creates an encryptor.  key: the message key (copied; wiped by
 * sp_env_enc_free).  nonce_prefix: the header's np.  header/header_len: the
 * exact header bytes (only their SHA-256 is kept).  out: receives each
 * sealed chunk; it must stay valid until sp_env_enc_final().
 * Result: SP_OK and *enc set (free with sp_env_enc_free), or SP_ERR_NOMEM.
 */
int
sp_env_enc_new(struct sp_env_enc **enc, const unsigned char key[SP_KEY_LEN],
    const unsigned char nonce_prefix[SP_ENV_NONCE_PREFIX_LEN],
    const unsigned char *header, size_t header_len, struct sp_writer out)
{
	struct sp_env_enc *e;
	int st;

	*enc = NULL;
	if (out.write == NULL)
		return SP_ERR_INVALID;
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return SP_ERR_NOMEM;
	if ((st = sp_sha256(header, header_len, e->aad)) != SP_OK) {
		free(e);
		return st;
	}
	memcpy(e->key, key, SP_KEY_LEN);
	memcpy(e->np, nonce_prefix, SP_ENV_NONCE_PREFIX_LEN);
	e->out = out;
	*enc = e;
	return SP_OK;
}

/*
 * Feeds n bytes of plaintext (any piece size).  Full chunks are sealed and
 * written once more data shows they are not the last.  A failure (from the
 * writer or the cipher) is sticky: later calls return it.
 */
int
sp_env_enc_update(struct sp_env_enc *e, const void *p, size_t n)
{
	const unsigned char *in = p;
	size_t take;

	if (e->state != SP_OK)
		return e->state;
	if (e->done)
		return e->state = SP_ERR_INVALID;
	while (n > 0) {
		if (e->have == SP_ENV_CHUNK &&
		    (e->state = env_enc_flush(e, 0)) != SP_OK)
			return e->state;
		take = SP_ENV_CHUNK - e->have;
		if (take > n)
			take = n;
		memcpy(e->pt + e->have, in, take);
		e->have += take;
		in += take;
		n -= take;
	}
	return SP_OK;
}

/* Seals and writes the final chunk (0 to 65,536 bytes).  Exactly once. */
int
sp_env_enc_final(struct sp_env_enc *e)
{
	if (e->state != SP_OK)
		return e->state;
	if (e->done)
		return e->state = SP_ERR_INVALID;
	e->done = 1;
	return e->state = env_enc_flush(e, 1);
}

void
sp_env_enc_free(struct sp_env_enc *e)
{
	if (e == NULL)
		return;
	sp_wipe(e, sizeof(*e));
	free(e);
}

/*
 * Decrypts the whole stream ct/ctlen.  Every chunk but the last is exactly
 * 65,552 bytes; the last is 16 to 65,552 bytes and is opened with the last
 * flag, so a truncated or extended stream fails.  Appends the plaintext to
 * out; on any failure the contents of out are wiped and out is reset.
 */
int
sp_env_decrypt(const unsigned char key[SP_KEY_LEN],
    const unsigned char nonce_prefix[SP_ENV_NONCE_PREFIX_LEN],
    const unsigned char *header, size_t header_len,
    const unsigned char *ct, size_t ctlen, struct sp_buf *out, struct sp_err *err)
{
	unsigned char aad[SP_SHA256_LEN], nonce[SP_GCM_NONCE_LEN];
	size_t off = 0, n;
	uint64_t i = 0;
	int st, last;

	if ((st = sp_sha256(header, header_len, aad)) != SP_OK)
		return sp_err_set(err, st, "envelope: cannot hash the header");
	if (ctlen < SP_GCM_TAG_LEN) {
		st = sp_err_set(err, SP_ERR_AUTH, "envelope: ciphertext truncated");
		goto fail;
	}
	do {
		n = ctlen - off;
		last = n <= ENV_SEALED;
		if (!last)
			n = ENV_SEALED;
		if (i >= ENV_MAX_CHUNKS) {
			st = sp_err_set(err, SP_ERR_AUTH, "envelope: too many chunks");
			goto fail;
		}
		if (n < SP_GCM_TAG_LEN) {
			st = sp_err_set(err, SP_ERR_AUTH, "envelope: ciphertext truncated");
			goto fail;
		}
		if ((st = sp_buf_reserve(out, n - SP_GCM_TAG_LEN)) != SP_OK) {
			sp_err_set(err, st, "envelope: plaintext does not fit");
			goto fail;
		}
		env_nonce(nonce, nonce_prefix, i, last);
		st = sp_gcm_open(key, nonce, aad, sizeof(aad), ct + off, n, out->data + out->len);
		if (st != SP_OK) {
			sp_err_set(err, SP_ERR_AUTH,
			    "envelope: chunk %llu fails authentication (tampered, truncated or wrong key)",
			    (unsigned long long)i);
			st = SP_ERR_AUTH;
			goto fail;
		}
		out->len += n - SP_GCM_TAG_LEN;
		out->data[out->len] = '\0';
		off += n;
		i++;
	} while (!last);
	return SP_OK;
fail:
	if (out->data != NULL)
		sp_wipe(out->data, out->size + 1);
	sp_buf_reset(out);
	return st;
}

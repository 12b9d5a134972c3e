/*
 * sign.c - Ed25519 keys and envelope signatures through OpenSSL's EVP
 * interface (sign.h).  No primitive is implemented here.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "sign.h"

struct sp_signer {
	EVP_PKEY *key;
	unsigned char pub[SP_SIGN_PUB_LEN];
};

static int
signer_take(struct sp_signer **s, EVP_PKEY *key, struct sp_err *err)
{
	struct sp_signer *n;
	size_t len = SP_SIGN_PUB_LEN;

	if (EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) {
		EVP_PKEY_free(key);
		return sp_err_set(err, SP_ERR_INVALID, "not an Ed25519 key");
	}
	if ((n = calloc(1, sizeof(*n))) == NULL) {
		EVP_PKEY_free(key);
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	}
	if (EVP_PKEY_get_raw_public_key(key, n->pub, &len) != 1 || len != SP_SIGN_PUB_LEN) {
		EVP_PKEY_free(key);
		free(n);
		return sp_err_set(err, SP_ERR_INTERNAL, "cannot read the public key");
	}
	n->key = key;
	*s = n;
	return SP_OK;
}

int
sp_signer_from_seed(struct sp_signer **s, const unsigned char seed[SP_SIGN_SEED_LEN],
    struct sp_err *err)
{
	EVP_PKEY *key;

	*s = NULL;
	if ((key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed,
	    SP_SIGN_SEED_LEN)) == NULL)
		return sp_err_set(err, SP_ERR_INTERNAL, "cannot make an Ed25519 key from its seed");
	return signer_take(s, key, err);
}

int
sp_signer_generate(struct sp_signer **s, struct sp_buf *pem, struct sp_err *err)
{
	EVP_PKEY *key = NULL;
	EVP_PKEY_CTX *ctx;
	BIO *bio;
	BUF_MEM *mem = NULL;
	int st;

	*s = NULL;
	if ((ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL)) == NULL ||
	    EVP_PKEY_keygen_init(ctx) != 1 || EVP_PKEY_keygen(ctx, &key) != 1) {
		EVP_PKEY_CTX_free(ctx);
		return sp_err_set(err, SP_ERR_INTERNAL, "cannot make an Ed25519 key");
	}
	EVP_PKEY_CTX_free(ctx);
	if ((bio = BIO_new(BIO_s_secmem())) == NULL ||
	    PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1) {
		BIO_free(bio);
		EVP_PKEY_free(key);
		return sp_err_set(err, SP_ERR_INTERNAL, "cannot write the key as PEM");
	}
	BIO_get_mem_ptr(bio, &mem);
	st = sp_buf_append(pem, mem->data, mem->length);
	BIO_free(bio);
	if (st != SP_OK) {
		EVP_PKEY_free(key);
		return sp_err_set(err, st, "cannot hold the key");
	}
	return signer_take(s, key, err);
}

/* Key files are never encrypted: a file that asks for a passphrase is
 * refused instead of prompting on the terminal. */
static int
signer_no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

int
sp_signer_load(struct sp_signer **s, const char *path, struct sp_err *err)
{
	EVP_PKEY *key;
	FILE *f;

	*s = NULL;
	if ((f = fopen(path, "r")) == NULL)
		return sp_err_set(err, SP_ERR_IO, "signing key %s: %s", path, strerror(errno));
	key = PEM_read_PrivateKey(f, NULL, signer_no_passphrase, NULL);
	fclose(f);
	ERR_clear_error();
	if (key == NULL)
		return sp_err_set(err, SP_ERR_INVALID,
		    "signing key %s: not a PEM private key", path);
	if (signer_take(s, key, err) != SP_OK)
		return sp_err_set(err, SP_ERR_INVALID,
		    "signing key %s: not an Ed25519 private key", path);
	return SP_OK;
}

int
sp_signer_write_pem(const char *path, const struct sp_buf *pem, struct sp_err *err)
{
	size_t off = 0;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0)
		return sp_err_set(err, errno == EEXIST ? SP_ERR_EXISTS : SP_ERR_IO,
		    "signing key %s: %s", path, strerror(errno));
	while (off < pem->len) {
		if ((n = write(fd, pem->data + off, pem->len - off)) < 0) {
			if (errno == EINTR)
				continue;
			close(fd);
			unlink(path);
			return sp_err_set(err, SP_ERR_IO, "signing key %s: %s", path,
			    strerror(errno));
		}
		off += (size_t)n;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		unlink(path);
		return sp_err_set(err, SP_ERR_IO, "signing key %s: %s", path, strerror(errno));
	}
	return SP_OK;
}

void
sp_signer_free(struct sp_signer *s)
{
	if (s == NULL)
		return;
	EVP_PKEY_free(s->key);
	free(s);
}

void
sp_signer_pub(const struct sp_signer *s, unsigned char pub[SP_SIGN_PUB_LEN])
{
	memcpy(pub, s->pub, SP_SIGN_PUB_LEN);
}

void
sp_sign_kid(const unsigned char pub[SP_SIGN_PUB_LEN], char kid[SP_SIGN_KID_LEN + 1])
{
	static const char al[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char h[SP_SHA256_LEN];
	uint64_t v = 0;
	int i;

	sp_sha256(pub, SP_SIGN_PUB_LEN, h);
	for (i = 0; i < 8; i++)
		v = (v << 8) | h[i];
	/* 64 bits as 11 base64url characters: ten of 6 bits, then the last 4
	 * bits shifted left by 2 (what a base64url encoder writes). */
	for (i = 0; i < 10; i++)
		kid[i] = al[(v >> (58 - 6 * i)) & 63];
	kid[10] = al[(v & 15) << 2];
	kid[11] = '\0';
}

void
sp_signer_kid(const struct sp_signer *s, char kid[SP_SIGN_KID_LEN + 1])
{
	sp_sign_kid(s->pub, kid);
}

void
sp_sign_envelope_msg(const unsigned char header_sha[SP_SHA256_LEN],
    const unsigned char ct_sha[SP_SHA256_LEN], unsigned char out[SP_SIGN_MSG_LEN])
{
	size_t l = sizeof(SP_SIGN_LABEL) - 1;

	memcpy(out, SP_SIGN_LABEL, l);
	memcpy(out + l, header_sha, SP_SHA256_LEN);
	memcpy(out + l + SP_SHA256_LEN, ct_sha, SP_SHA256_LEN);
}

int
sp_signer_sign_envelope(const struct sp_signer *s,
    const unsigned char header_sha[SP_SHA256_LEN], const unsigned char ct_sha[SP_SHA256_LEN],
    unsigned char sig[SP_SIGN_SIG_LEN], struct sp_err *err)
{
	unsigned char msg[SP_SIGN_MSG_LEN];
	size_t len = SP_SIGN_SIG_LEN;
	EVP_MD_CTX *md;
	int ok;

	sp_sign_envelope_msg(header_sha, ct_sha, msg);
	if ((md = EVP_MD_CTX_new()) == NULL)
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	ok = EVP_DigestSignInit(md, NULL, NULL, NULL, s->key) == 1 &&
	    EVP_DigestSign(md, sig, &len, msg, sizeof(msg)) == 1 && len == SP_SIGN_SIG_LEN;
	EVP_MD_CTX_free(md);
	if (!ok)
		return sp_err_set(err, SP_ERR_INTERNAL, "cannot sign the envelope");
	return SP_OK;
}

int
sp_sign_verify_envelope(const unsigned char pub[SP_SIGN_PUB_LEN],
    const unsigned char header_sha[SP_SHA256_LEN], const unsigned char ct_sha[SP_SHA256_LEN],
    const unsigned char sig[SP_SIGN_SIG_LEN])
{
	unsigned char msg[SP_SIGN_MSG_LEN];
	EVP_PKEY *key;
	EVP_MD_CTX *md;
	int ok;

	if ((key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub,
	    SP_SIGN_PUB_LEN)) == NULL)
		return SP_ERR_AUTH;
	sp_sign_envelope_msg(header_sha, ct_sha, msg);
	md = EVP_MD_CTX_new();
	ok = md != NULL && EVP_DigestVerifyInit(md, NULL, NULL, NULL, key) == 1 &&
	    EVP_DigestVerify(md, sig, SP_SIGN_SIG_LEN, msg, sizeof(msg)) == 1;
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(key);
	return ok ? SP_OK : SP_ERR_AUTH;
}

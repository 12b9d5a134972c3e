/*
 * keyd_client.h - HTTP(S) client of the key server API (docs/api.md), on
 * libcurl with keep-alive: deposit a message key and complete the deposit
 * of a signed envelope (organisation token), log in as a recipient, prove a
 * verification secret, release a key with the envelope's record.
 * SECURITY: tokens and key parts pass through here; they are wiped when the
 * client is freed and never logged.
 */
#ifndef SP_KEYD_CLIENT_H
#define SP_KEYD_CLIENT_H

#include <stdint.h>

#include "crypto.h"
#include "envelope.h"
#include "sign.h"
#include "sp.h"

struct sp_keyd_client;

/* base_url: key server base URL (no trailing '/').  timeout_ms bounds each
 * request.  Call curl_global_init() once per process first. */
int sp_keyd_client_new(struct sp_keyd_client **c, const char *base_url,
    long timeout_ms, struct sp_err *err);
void sp_keyd_client_free(struct sp_keyd_client *c);
/* Bearer token sent with every request (organisation or session token):
 * 1 to SP_KEYD_TOKEN_MAX visible ASCII characters, else SP_ERR_INVALID. */
#define SP_KEYD_TOKEN_MAX 512
int sp_keyd_client_set_token(struct sp_keyd_client *c, const char *token);

/* Copy the client's current token (e.g. the session after sp_keyd_login)
 * NUL-terminated into out; SP_ERR_NOTFOUND when there is none. */
int sp_keyd_client_token(const struct sp_keyd_client *c, char *out, size_t outsz);

/* The deposit of a message key (POST /api/v1/envelopes).  Every pointer is
 * borrowed for the call. */
struct sp_deposit_req {
	const char *from;
	const char *const *rcpt;
	size_t nrcpt;
	/* NULL, or nrcpt flags: 1 for a recipient the message's To: and Cc: do
	 * not name (a blind copy), sent as "bcc" */
	const unsigned char *hidden;
	int64_t expires;	/* unix seconds, 0 = key server policy */
	int format;		/* 2: a signed envelope follows (sp_keyd_seal); 0 or 1: format 1 */
	int notify_read;	/* 1 read notices, 0 none, -1 the organisation's policy */
	const char *level;	/* "high", "medium", "low", or NULL: policy */
	const char *verify_hash;	/* sp_answer_hash() of the secret, or NULL */
	const char *verify_hint;	/* the question shown to recipients, or NULL */
	/* NULL, or the SP_SHA256_LEN-byte holder tag of the mail part
	 * (sp_env_holder_tag), sent as "holder" */
	const unsigned char *holder;
};
/* Initialise r with every choice left to the key server (format 1). */
void sp_deposit_req_init(struct sp_deposit_req *r);

struct sp_deposit_res {
	char id[SP_ENV_ID_STRLEN + 1];
	unsigned char server_part[SP_KEY_LEN];
	char *org;		/* organisation display name (owned) */
	char *keyd;		/* key server public URL (owned) */
	int64_t created;
	int64_t expires;
	char level[8];		/* "high", "medium", "low"; "" when not answered */
	char language[12];	/* the organisation's default language ("" not answered) */
	int verify;		/* 1: recipients must prove the verification secret */
	char *brand_colour;	/* "#rrggbb" or NULL (owned) */
	unsigned char *brand_logo;	/* PNG bytes or NULL (owned) */
	size_t brand_logo_len;
	/* the organisation keeps a copy of the ciphertext (sp_keyd_copy_put) */
	int copy;
	int64_t copy_keep_until;	/* unix time the key server keeps it until */
	int64_t copy_max;		/* largest copy it takes (bytes) */
};
void sp_deposit_res_clear(struct sp_deposit_res *r);	/* wipes the key part */

/* SP_ERR_AUTH (401), SP_ERR_DENIED (403), SP_ERR_INVALID (400/413),
 * SP_ERR_CONFIG (400 on "format": the organisation signs its envelopes and
 * the request was format 1, so the sealer needs its signing key),
 * SP_ERR_RETRY (cannot connect, timeout, 5xx). */
int sp_keyd_deposit(struct sp_keyd_client *c, const struct sp_deposit_req *req,
    struct sp_deposit_res *res, struct sp_err *err);

/* Complete a format 2 deposit (POST /api/v1/envelopes/{id}/seal): the exact
 * header bytes, SHA-256 of the ciphertext stream and the envelope's
 * signature.  SP_ERR_INVALID (400: the header does not match the record, or
 * the signature does not verify), SP_ERR_DENIED (403), SP_ERR_NOTFOUND (404),
 * SP_ERR_EXISTS (409: sealed already with other values), SP_ERR_RETRY. */
int sp_keyd_seal(struct sp_keyd_client *c, const char *id,
    const unsigned char *header, size_t header_len,
    const unsigned char ct_sha[SP_SHA256_LEN],
    const unsigned char sig[SP_SIGN_SIG_LEN], struct sp_err *err);

/* Upload the ciphertext stream of a sealed format 2 envelope as the key
 * server's copy (PUT /api/v1/envelopes/{id}/copy), after sp_keyd_seal and
 * only when the deposit answer asked for it (res.copy).  The bytes come from
 * data (len bytes, read in place) or, when data is NULL, from fd (len
 * bytes read with pread from offset 0): never copied whole.
 * SP_ERR_TOOBIG (413, or 507: the organisation's quota), SP_ERR_DENIED
 * (403), SP_ERR_INVALID (400: not the sealed ciphertext), SP_ERR_EXISTS
 * (409), SP_ERR_EXPIRED (410), SP_ERR_RETRY. */
int sp_keyd_copy_put(struct sp_keyd_client *c, const char *id, const unsigned char *data,
    int fd, uint64_t len, struct sp_err *err);

/* Log in; on success the session token becomes the client's token. */
int sp_keyd_login(struct sp_keyd_client *c, const char *email,
    const char *password, struct sp_err *err);

/* The answer to a release: the key server's record of the envelope, or on
 * a refusal what the key server said about it. */
struct sp_release_res {
	long http_status;	/* 200, or the refusal's status (0: no answer) */
	unsigned char server_part[SP_KEY_LEN];
	int format;		/* 1 or 2 */
	char *org;		/* the depositing organisation's display name (owned) */
	char *from;		/* owned */
	char **rcpt;		/* owned, nrcpt entries: those the envelope names */
	size_t nrcpt;
	int bcc;		/* 1: the reader is a hidden recipient (a blind copy) */
	int64_t created;
	int64_t expires;
	char level[8];
	char kind[8];		/* "message" or "reply" */
	/* format 2, as recorded when the sealer completed the deposit */
	int has_digests;
	unsigned char header_sha[SP_SHA256_LEN];
	unsigned char ct_sha[SP_SHA256_LEN];
	int has_sig;
	unsigned char sig[SP_SIGN_SIG_LEN];
	char kid[SP_SIGN_KID_LEN + 1];	/* "" none */
	int has_sig_key;
	unsigned char sig_key[SP_SIGN_PUB_LEN];
	/* refusals */
	char reason[24];	/* 410 "retracted" or "expired"; 423 "verify-locked" */
	int verify_needed;	/* 409: a verification secret must be proved first */
	char *verify_hint;	/* 409: the sender's question, or NULL (owned) */
	int tries_left;		/* 409: wrong answers still allowed, -1 unknown */
};
void sp_release_res_clear(struct sp_release_res *r);	/* wipes the key part */

/* Release envelope id with the client's token and read the record.
 * SP_ERR_NOTFOUND (404), SP_ERR_DENIED (403; also 409 with verify_needed
 * and 423 with reason "verify-locked"), SP_ERR_EXPIRED (410, reason says
 * which), SP_ERR_AUTH (401), SP_ERR_RETRY.  res is filled as far as the
 * answer goes; clear it in every case. */
int sp_keyd_release_record(struct sp_keyd_client *c, const char *id,
    struct sp_release_res *res, struct sp_err *err);

/* Only the server part of envelope id (statuses as above). */
int sp_keyd_release(struct sp_keyd_client *c, const char *id,
    unsigned char server_part[SP_KEY_LEN], struct sp_err *err);

/* Prove the verification secret of envelope id (a recipient's session):
 * SP_OK; SP_ERR_AUTH (403: not the sender's answer; *tries_left set when
 * the key server said, else -1); SP_ERR_DENIED (423: locked after too many
 * wrong answers); others as for a release. */
int sp_keyd_verify(struct sp_keyd_client *c, const char *id, const char *answer,
    int *tries_left, struct sp_err *err);

/* Normalise a key server URL for comparison: scheme and host in lower
 * case, the default port (80, 443) dropped, trailing '/' removed.  out gets
 * the NUL-terminated result.  SP_ERR_INVALID for what is not an http(s)
 * URL of a host (user info, query and fragment are refused). */
int sp_keyd_url_normalize(const char *url, char *out, size_t outsz, struct sp_err *err);

#endif

/*
 * keyd_client.h - HTTP(S) client of the key server API (docs/api.md), on
 * libcurl with keep-alive: deposit a message key (organisation token), log
 * in as a recipient, release a key.
 * SECURITY: tokens and key parts pass through here; they are wiped when the
 * client is freed and never logged.
 */
#ifndef SP_KEYD_CLIENT_H
#define SP_KEYD_CLIENT_H

#include <stdint.h>

#include "crypto.h"
#include "envelope.h"
#include "sp.h"

struct sp_keyd_client;

/* base_url: key server base URL (no trailing '/').  timeout_ms bounds each
 * request.  Call curl_global_init() once per process first. */
int sp_keyd_client_new(struct sp_keyd_client **c, const char *base_url,
    long timeout_ms, struct sp_err *err);
void sp_keyd_client_free(struct sp_keyd_client *c);
/* Bearer token sent with every request (organisation or session token). */
int sp_keyd_client_set_token(struct sp_keyd_client *c, const char *token);

/* Copy the client's current token (e.g. the session after sp_keyd_login)
 * NUL-terminated into out; SP_ERR_NOTFOUND when there is none. */
int sp_keyd_client_token(const struct sp_keyd_client *c, char *out, size_t outsz);

struct sp_deposit_req {
	const char *from;
	const char *const *rcpt;
	size_t nrcpt;
	int64_t expires;	/* unix seconds, 0 = key server policy */
};
struct sp_deposit_res {
	char id[SP_ENV_ID_STRLEN + 1];
	unsigned char server_part[SP_KEY_LEN];
	char *org;		/* organisation display name (owned) */
	char *keyd;		/* key server public URL (owned) */
	int64_t created;
	int64_t expires;
};
void sp_deposit_res_clear(struct sp_deposit_res *r);	/* wipes the key part */

/* SP_ERR_AUTH (401), SP_ERR_DENIED (403), SP_ERR_INVALID (400/413),
 * SP_ERR_RETRY (cannot connect, timeout, 5xx). */
int sp_keyd_deposit(struct sp_keyd_client *c, const struct sp_deposit_req *req,
    struct sp_deposit_res *res, struct sp_err *err);

/* Log in; on success the session token becomes the client's token. */
int sp_keyd_login(struct sp_keyd_client *c, const char *email,
    const char *password, struct sp_err *err);

/* Release the server part of envelope id. SP_ERR_NOTFOUND (404),
 * SP_ERR_DENIED (403), SP_ERR_EXPIRED (410), SP_ERR_AUTH (401). */
int sp_keyd_release(struct sp_keyd_client *c, const char *id,
    unsigned char server_part[SP_KEY_LEN], struct sp_err *err);

#endif

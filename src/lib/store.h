/*
 * store.h - the key server's persistent state behind a backend chosen by
 * name ("sqlite" now; "pgsql" later): organisations and their token hashes,
 * envelopes with their wrapped server key parts, recipient accounts,
 * activation tokens, sessions and the audit trail.  Every piece of state
 * lives here so that several key server processes can share one store.
 *
 * Results: SP_OK; SP_ERR_NOTFOUND (no such object); SP_ERR_EXISTS (unique
 * key taken); SP_ERR_EXPIRED (token or session out of date / already used);
 * SP_ERR_RETRY (the database is busy or locked: try again); SP_ERR_CONFIG
 * (broken setup: unknown backend, unusable directory, wrong schema);
 * SP_ERR_IO (anything else the database reports).
 *
 * Every state change and its audit record commit in one transaction.  The
 * handle is safe to use from many threads at once (each thread gets its own
 * database connection).
 * SECURITY: holds only hashes of tokens, passwords and answers, and key
 * parts wrapped under the master key (keywrap.h); the audit trail must never
 * be given secrets.  Every query uses bound parameters.
 */
#ifndef SP_STORE_H
#define SP_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "sp.h"

#define SP_STORE_EMAIL_MAX 320
#define SP_STORE_NAME_MAX 128
#define SP_STORE_DOMAIN_MAX 253
#define SP_STORE_HASH_MAX 128		/* Argon2id string (crypto_pwhash_STRBYTES) */
#define SP_STORE_PHRASE_MAX 256		/* bytes of the security phrase */
#define SP_STORE_LANG_MAX 15
#define SP_STORE_CSRF_MAX 63
#define SP_STORE_WRAPPED_MAX 96		/* nonce + wrapped key part + tag */
#define SP_STORE_ID_MAX 22		/* envelope id, base64url of 16 bytes */

struct sp_store;

/* An audit record: every field borrowed, any may be NULL (time 0 = now). */
struct sp_audit {
	int64_t time;
	const char *event;	/* "deposit", "release", "release-refused", ... */
	const char *actor;	/* email or "org:NAME" */
	const char *envelope;	/* envelope id */
	const char *client;	/* client address */
	const char *detail;	/* free text without secrets */
};

struct sp_org {
	int64_t id;
	char name[SP_STORE_NAME_MAX + 1];
	char domain[SP_STORE_DOMAIN_MAX + 1];
	int64_t created;
};

struct sp_envelope_rec {
	char id[SP_STORE_ID_MAX + 1];
	int64_t org_id;
	char org_name[SP_STORE_NAME_MAX + 1];	/* filled by get */
	char org_domain[SP_STORE_DOMAIN_MAX + 1];	/* filled by get */
	char from[SP_STORE_EMAIL_MAX + 1];
	char **rcpt;			/* lower-case addresses */
	size_t nrcpt;
	int64_t created;
	int64_t expires;		/* 0 = none */
	int retracted;
	uint32_t key_id;		/* master key that wrapped the part */
	unsigned char wrapped[SP_STORE_WRAPPED_MAX];
	size_t wrapped_len;
};
/* Free what sp_store_envelope_get() allocated in e (rcpt); e may be reused. */
void sp_envelope_rec_clear(struct sp_envelope_rec *e);

struct sp_account {
	char email[SP_STORE_EMAIL_MAX + 1];	/* lower-case, unique */
	char first_name[SP_STORE_NAME_MAX + 1];
	char last_name[SP_STORE_NAME_MAX + 1];
	char language[SP_STORE_LANG_MAX + 1];
	char pw_hash[SP_STORE_HASH_MAX + 1];
	char phrase[SP_STORE_PHRASE_MAX + 1];
	int phrase_enabled;
	int question[3];
	char answer_hash[3][SP_STORE_HASH_MAX + 1];
	int activated;
	int failed_logins;
	int64_t created;
};

struct sp_session {
	unsigned char hash[SP_SHA256_LEN];	/* SHA-256 of the session token */
	char email[SP_STORE_EMAIL_MAX + 1];
	char csrf[SP_STORE_CSRF_MAX + 1];
	int64_t created;
	int64_t last_seen;
	int64_t expires;			/* absolute end */
};

/* Open the store of backend `backend` ("sqlite") in directory dir (created
 * mode 0700 if missing), creating or upgrading its schema.  *s is owned by
 * the caller and released with sp_store_close(). */
int sp_store_open(struct sp_store **s, const char *backend, const char *dir,
    struct sp_err *err);
/* Close every connection; no other thread may use s any more.  NULL ok. */
void sp_store_close(struct sp_store *s);

/* Write one audit record on its own (release, refusal, failed login). */
int sp_store_audit(struct sp_store *s, const struct sp_audit *a, struct sp_err *err);
/* Call fn for each audit record, oldest first, until fn returns non-zero.
 * event may be NULL for all events.  The record's strings live during fn. */
int sp_store_audit_each(struct sp_store *s, const char *event,
    int (*fn)(void *ctx, const struct sp_audit *a), void *ctx, struct sp_err *err);

/* Organisations.  token_hash is SHA-256 of the organisation's token. */
int sp_store_org_add(struct sp_store *s, const char *name, const char *domain,
    const unsigned char token_hash[SP_SHA256_LEN], int64_t now, int64_t *id,
    struct sp_err *err);
int sp_store_org_by_token(struct sp_store *s,
    const unsigned char token_hash[SP_SHA256_LEN], struct sp_org *out,
    struct sp_err *err);
int sp_store_org_each(struct sp_store *s,
    int (*fn)(void *ctx, const struct sp_org *o), void *ctx, struct sp_err *err);

/* Envelopes.  add stores e (org_id, from, rcpt, created, expires, key_id,
 * wrapped) and the audit record a in one durable transaction. */
int sp_store_envelope_add(struct sp_store *s, const struct sp_envelope_rec *e,
    const struct sp_audit *a, struct sp_err *err);
/* Fill out (the caller clears it with sp_envelope_rec_clear()). */
int sp_store_envelope_get(struct sp_store *s, const char *id,
    struct sp_envelope_rec *out, struct sp_err *err);
/* Mark retracted (with the audit record). */
int sp_store_envelope_retract(struct sp_store *s, const char *id,
    const struct sp_audit *a, struct sp_err *err);

/* Accounts.  create: SP_ERR_EXISTS when the email is taken.  When
 * token_hash is not NULL an activation token for the account (expiring at
 * token_expires) is stored in the same transaction. */
int sp_store_account_create(struct sp_store *s, const struct sp_account *acc,
    const unsigned char *token_hash, int64_t token_expires,
    const struct sp_audit *a, struct sp_err *err);
int sp_store_account_get(struct sp_store *s, const char *email,
    struct sp_account *out, struct sp_err *err);
/* Count a failed login (when the account exists) and write the audit. */
int sp_store_login_failed(struct sp_store *s, const char *email,
    const struct sp_audit *a, struct sp_err *err);

/* Activation tokens (single use). */
int sp_store_activation_add(struct sp_store *s,
    const unsigned char hash[SP_SHA256_LEN], const char *email,
    int64_t expires, struct sp_err *err);
/* Look a token up without consuming it: SP_ERR_NOTFOUND, SP_ERR_EXPIRED
 * (used or out of date), else SP_OK with its email. */
int sp_store_activation_peek(struct sp_store *s,
    const unsigned char hash[SP_SHA256_LEN], int64_t now,
    char email[SP_STORE_EMAIL_MAX + 1], struct sp_err *err);
/* Consume the token and activate its account in one transaction (with the
 * audit record); same results as peek. */
int sp_store_activation_use(struct sp_store *s,
    const unsigned char hash[SP_SHA256_LEN], int64_t now,
    char email[SP_STORE_EMAIL_MAX + 1], const struct sp_audit *a,
    struct sp_err *err);

/* Sessions.  create also resets the account's failed login counter. */
int sp_store_session_create(struct sp_store *s, const struct sp_session *ss,
    const struct sp_audit *a, struct sp_err *err);
/* Find a live session (idle: seconds since last_seen allowed) and refresh
 * its last_seen to now (written only when it is 30 s or more old).
 * SP_ERR_NOTFOUND when missing, idle or past expiry. */
int sp_store_session_use(struct sp_store *s,
    const unsigned char hash[SP_SHA256_LEN], int64_t now, int64_t idle,
    struct sp_session *out, struct sp_err *err);
int sp_store_session_delete(struct sp_store *s,
    const unsigned char hash[SP_SHA256_LEN], const struct sp_audit *a,
    struct sp_err *err);

/* Log-in throttling, by key ("email:ADDR", "ip:ADDR"; the key need not
 * name an existing account, so a lock reveals nothing).  Consecutive
 * failures are counted; a count whose last failure is over an hour old
 * starts again.  After `free` failures each further failure locks the key
 * for base * 2^(n - free - 1) seconds, at most max. */
struct sp_throttle_policy {
	int free;
	int base;
	int max;
};
/* *locked_until: 0 or the unix time until which the key is locked. */
int sp_store_throttle_check(struct sp_store *s, const char *key, int64_t now,
    int64_t *locked_until, struct sp_err *err);
int sp_store_throttle_fail(struct sp_store *s, const char *key, int64_t now,
    const struct sp_throttle_policy *p, int64_t *locked_until, struct sp_err *err);
int sp_store_throttle_reset(struct sp_store *s, const char *key, struct sp_err *err);

#endif

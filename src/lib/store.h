/*
 * store.h - the key server's persistent state behind a backend chosen by
 * name ("sqlite", "pgsql") or by URL: organisations and their token hashes,
 * envelopes with their wrapped server key parts, recipient accounts,
 * activation tokens, sessions and the audit trail.  Every piece of state
 * lives here so that several key server processes can share one store.
 *
 * Results: SP_OK; SP_ERR_NOTFOUND (no such object); SP_ERR_EXISTS (unique
 * key taken); SP_ERR_EXPIRED (token or session out of date / already used);
 * SP_ERR_RETRY (the database is busy, locked or unreachable: try again);
 * SP_ERR_CONFIG (broken setup: unknown backend, unusable directory, bad URL,
 * refused log-in, wrong schema, a function the backend does not have); SP_ERR_IO (anything else the database
 * reports).
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
#define SP_STORE_CRED_ID_MAX 1023	/* WebAuthn credential id */
#define SP_STORE_PUBKEY_MAX 512		/* stored public key of a passkey */
#define SP_STORE_RECOVERY_CODES 10
#define SP_STORE_PENDING_MAX 80	/* pending registrations kept per address: more
					 * than a day of the key server's mail limit */

struct sp_store;

#define SP_STORE_KID_MAX 11		/* signing key id: base64url of 8 bytes */
#define SP_STORE_COLOUR_MAX 7		/* "#rrggbb" */
#define SP_STORE_LOGO_MAX 65536		/* bytes of a PNG logo */
#define SP_STORE_HINT_MAX 200		/* bytes of a verification question */
#define SP_STORE_VERIFY_TRIES 5		/* wrong verification answers allowed per recipient */

/* An audit record: every field borrowed, any may be NULL (time 0 = now).
 * org_id names the hash chain the record joins: the organisation of the
 * envelope for envelope events (deposit, release, refusals, retraction,
 * shredding, read, verification), 0 for the global chain of account
 * events (registration, activation, log-ins, locks, resets). */
struct sp_audit {
	int64_t time;
	const char *event;	/* "deposit", "release", "release-refused", ... */
	const char *actor;	/* email or "org:NAME" */
	const char *envelope;	/* envelope id */
	const char *client;	/* client address */
	const char *detail;	/* free text without secrets */
	int64_t org_id;		/* chain: 0 global */
};

/* A stored audit record with its place in its chain (audit_scan).  Every
 * record's hash is sp_audit_chain_hash(prev, record): see store.c. */
struct sp_audit_row {
	int64_t rowid;		/* the database's own row id (order of insertion) */
	int64_t chain;		/* org id, 0 global */
	int64_t seq;		/* 1, 2, 3, ... within the chain */
	unsigned char prev[SP_SHA256_LEN];	/* hash of the chain's previous record (zero for seq 1) */
	unsigned char hash[SP_SHA256_LEN];
	struct sp_audit a;	/* strings live during the callback */
};

#define SP_STORE_FWD_MAX 1023		/* bytes of an organisation's forward list */
#define SP_STORE_FWD_DOMAINS 32		/* domains in it */

/* Policy defaults of an organisation, applied at deposit when the sealer
 * asks for nothing else. */
struct sp_org_policy {
	int64_t expire_days;	/* 0: envelopes do not expire */
	int notify_read;	/* 1: read notices for every message */
	int replies;		/* 1: recipients may reply on the portal */
	int forward;		/* 1: recipients may forward on the portal */
	int verify;		/* 1: every message needs a verification secret */
	int keep_copies;	/* days the key server keeps ciphertext copies, 0 none */
	int64_t copy_quota_mb;	/* schema v4: MiB of copies per organisation, 0 no limit */
	char level[8];		/* "high", "medium" (default) or "low" */
	char language[SP_STORE_LANG_MAX + 1];	/* "en" default */
	/* schema v7: where a forward on the portal may go besides the
	 * organisation's own domains: lower-case domains separated by ","
	 * ("" none) */
	char forward_domains[SP_STORE_FWD_MAX + 1];
};

struct sp_org {
	int64_t id;
	char name[SP_STORE_NAME_MAX + 1];	/* unique short name used by the CLI */
	char domain[SP_STORE_DOMAIN_MAX + 1];	/* first domain (by name), "" none */
	int64_t created;
	int64_t removed;			/* 0, or when `org remove` ran */
	/* branding */
	char display[SP_STORE_NAME_MAX + 1];	/* shown on envelopes; "" = name */
	char colour[SP_STORE_COLOUR_MAX + 1];	/* "#rrggbb" or "" */
	int has_logo;
	char contact[SP_STORE_EMAIL_MAX + 1];	/* where organisation notices go; "" = the sender */
	struct sp_org_policy policy;
};

/* A named organisation token (only its SHA-256 is stored). */
struct sp_org_token {
	int64_t org_id;
	char name[SP_STORE_NAME_MAX + 1];
	int64_t created;
	int64_t last_used;	/* 0 never (updated at most once a minute) */
	int64_t revoked;	/* 0 live */
};

/* An organisation's Ed25519 public signing key. */
struct sp_org_key {
	int64_t org_id;
	char kid[SP_STORE_KID_MAX + 1];		/* base64url of the first 8 bytes of SHA-256(pub) */
	unsigned char pub[32];
	int64_t created;
	int64_t retired;	/* 0 live; a retired key no longer signs new envelopes */
	/* schema v7: 1 for the key server's own reply key of the organisation
	 * (docs/decisions/0017-secure-reply.md): it signs only replies sealed by
	 * the key server, never a sealer's deposit.  Its 32-byte Ed25519 seed
	 * is kept wrapped under the master key wrap_key_id (associated data
	 * "replykey:KID"); other keys have no wrapped seed (wrapped_len 0).
	 * An organisation has at most one live reply key (SP_ERR_EXISTS). */
	int reply;
	uint32_t wrap_key_id;
	unsigned char wrapped[SP_STORE_WRAPPED_MAX];
	size_t wrapped_len;
};

enum sp_envelope_kind {
	SP_ENV_KIND_MESSAGE = 0,	/* sealed by an organisation's sealer */
	SP_ENV_KIND_REPLY = 1,		/* a recipient's reply sealed by the key server */
};

/* What the key server knows of one recipient of an envelope. */
struct sp_envelope_rcpt {
	int retracted;		/* 1: withdrawn for this recipient only */
	int64_t opened;		/* first release to this recipient, 0 never */
	int verified;		/* 1: proved the verification secret */
	int verify_fails;	/* wrong answers so far */
	int hidden;		/* 1: a blind copy (schema v9): the message's To: and
				 * Cc: do not name this recipient, so no other
				 * reader of the envelope learns of it */
};

struct sp_envelope_rec {
	char id[SP_STORE_ID_MAX + 1];
	int64_t org_id;
	char org_name[SP_STORE_NAME_MAX + 1];	/* filled by get */
	char org_domain[SP_STORE_DOMAIN_MAX + 1];	/* filled by get */
	char from[SP_STORE_EMAIL_MAX + 1];
	char **rcpt;			/* lower-case addresses */
	struct sp_envelope_rcpt *rstate;	/* filled by get: nrcpt entries; add
					 * reads only hidden from it (NULL: none) */
	size_t nrcpt;
	int64_t created;
	int64_t expires;		/* 0 = none */
	int retracted;
	uint32_t key_id;		/* master key that wrapped the part */
	unsigned char wrapped[SP_STORE_WRAPPED_MAX];
	size_t wrapped_len;		/* 0 after shredding */
	/* schema v3 */
	int kind;			/* enum sp_envelope_kind */
	int format;			/* 1: unsigned (v1 sealer), 2: signed envelope expected */
	int notify_read;		/* 1: mail the sender on each recipient's first open */
	char level[8];			/* "high", "medium", "low" */
	char verify_hash[SP_STORE_HASH_MAX + 1];	/* Argon2id of the normalised secret, "" none */
	char verify_hint[SP_STORE_HINT_MAX + 1];	/* the question shown to the recipient */
	int64_t shredded;		/* 0, or when the key part was destroyed */
	/* set once by sp_store_envelope_seal() (format 2) */
	int sealed;
	unsigned char header_sha[SP_SHA256_LEN];
	unsigned char ct_sha[SP_SHA256_LEN];
	unsigned char sig[64];
	char kid[SP_STORE_KID_MAX + 1];
	/* schema v10: the sealer's holder tag (HMAC-SHA256 under the mail key
	 * part, docs/envelope-format.md), which proves a page holds the mail;
	 * add writes it, get does not read it (sp_store_envelope_holder) */
	int has_holder;
	unsigned char holder[SP_SHA256_LEN];
};
/* Free what sp_store_envelope_get() allocated in e (rcpt, rstate); e may
 * be reused. */
void sp_envelope_rec_clear(struct sp_envelope_rec *e);

struct sp_account {
	char email[SP_STORE_EMAIL_MAX + 1];	/* lower-case, unique */
	char first_name[SP_STORE_NAME_MAX + 1];
	char last_name[SP_STORE_NAME_MAX + 1];
	char language[SP_STORE_LANG_MAX + 1];
	char pw_hash[SP_STORE_HASH_MAX + 1];
	char phrase[SP_STORE_PHRASE_MAX + 1];
	int phrase_enabled;
	int question[3];			/* 0 = none set */
	char answer_hash[3][SP_STORE_HASH_MAX + 1];
	int activated;				/* 1 for accounts; 0 in a pending registration */
	int failed_logins;
	int64_t created;
	int64_t pw_changed;			/* unix time of the last password change */
	/* second factors (filled by get; set with the totp / passkey calls) */
	unsigned char totp_wrapped[SP_STORE_WRAPPED_MAX];	/* empty: no TOTP */
	size_t totp_wrapped_len;
	uint32_t totp_key_id;
	int64_t totp_last_step;			/* last accepted time step */
	int npasskeys;
	int nrecovery;				/* unused recovery codes left */
	/* pending registrations only */
	int64_t pending_id;
	unsigned char bind_hash[SP_SHA256_LEN];	/* SHA-256 of the registering browser's cookie */
	/* schema v5: 1 when the account was made by the short sign-up (address
	 * and password only) and names, phrase and questions are still to be
	 * given (sp_store_profile_set clears it); kept from pending to account */
	int profile_todo;
	/* schema v7: 1 when the portal's "Automatically BCC me" starts ticked
	 * for this account's replies (written by sp_store_profile_set) */
	int bcc_default;
};

struct sp_session {
	unsigned char hash[SP_SHA256_LEN];	/* SHA-256 of the session token */
	char email[SP_STORE_EMAIL_MAX + 1];
	char csrf[SP_STORE_CSRF_MAX + 1];
	int64_t created;
	int64_t last_seen;
	int64_t expires;			/* absolute end */
	int64_t auth_time;			/* last time the password was typed (0 = created) */
	/* schema v6: how the session began ("password", "totp", "passkey",
	 * "recovery-code", "signup", "device"; "" for older sessions, which
	 * all began with a password) */
	char via[16];
};

/* A remembered device (schema v6): a long-lived token in a browser's
 * cookie, only its SHA-256 kept, which opens a session without the
 * password where the envelope's level allows it (docs/decisions/
 * 0015-remembered-devices.md). */
#define SP_STORE_AGENT_MAX 63		/* bytes of the browser's summary */
#define SP_STORE_DEVICES_MAX 20		/* remembered devices kept per account */
struct sp_device {
	int64_t id;				/* the store's number, to forget one */
	unsigned char hash[SP_SHA256_LEN];	/* SHA-256 of the device token */
	char email[SP_STORE_EMAIL_MAX + 1];
	char agent[SP_STORE_AGENT_MAX + 1];	/* "Chrome on Linux" */
	int64_t created;
	int64_t last_used;
	int64_t expires;
};

/* Kinds of single-use tokens (activation links, reset links, sign-in links,
 * second-step log-in tokens, WebAuthn challenges).  Only SHA-256 hashes of
 * tokens are stored. */
enum sp_token_kind {
	SP_TOKEN_ACTIVATE = 1,	/* ref = pending registration id */
	SP_TOKEN_RESET = 2,	/* forgot password: needs an account */
	SP_TOKEN_SIGNIN = 3,	/* mailed sign-in link: needs an account */
	SP_TOKEN_MFA = 4,	/* password checked, second factor due: needs an account */
	SP_TOKEN_CHALLENGE = 5,	/* WebAuthn challenge; email may be "" (before log-in) */
};

struct sp_token_rec {
	int kind;
	char email[SP_STORE_EMAIL_MAX + 1];
	int64_t ref;
	int64_t expires;
	int used;
};

struct sp_passkey {
	unsigned char cred_id[SP_STORE_CRED_ID_MAX];
	size_t cred_id_len;
	char email[SP_STORE_EMAIL_MAX + 1];
	unsigned char pubkey[SP_STORE_PUBKEY_MAX];
	size_t pubkey_len;
	int alg;			/* COSE algorithm (-7 ES256, -8 EdDSA) */
	uint32_t sign_count;
	char name[SP_STORE_NAME_MAX + 1];
	int64_t created;
	int64_t last_used;
};

/* Open the store of backend `backend`, creating or upgrading its schema.
 * *s is owned by the caller and released with sp_store_close().
 *  - "sqlite": dir is a directory (created mode 0700 if missing) holding
 *    keyd.sqlite.  A database of an older schema is upgraded in one
 *    transaction (schema v2: pending registrations move out of the
 *    accounts table; v3: organisations' domains and tokens get tables of
 *    their own, old audit records are chained into chain 0; v4: envelopes gain
 *    the sealed header and their copy's size and keeping time,
 *    organisations a copy quota; v5: accounts and pending registrations
 *    gain profile_todo; v6: sessions gain via, and remembered devices
 *    get a table; v7: organisations gain forward_domains, accounts
 *    bcc_default, signing keys the reply key's columns; v8: the mail
 *    queue gets a table; v9: envelope recipients gain hidden).
 *  - "pgsql": dir is a libpq URI (postgresql://USER:PASSWORD@HOST:PORT/DB
 *    ?PARAM=VALUE...; any libpq connection string works).  An empty
 *    database gets the current schema; two processes may open it at once.  The
 *    server being unreachable is SP_ERR_RETRY; a refused log-in or a
 *    missing database SP_ERR_CONFIG.  Messages never show the password.
 * A schema newer than this program is SP_ERR_CONFIG. */
int sp_store_open(struct sp_store **s, const char *backend, const char *dir,
    struct sp_err *err);
/* Open the store a URL names:
 *  - NULL or "": sqlite in data_dir (data_dir/keyd.sqlite), as before;
 *  - "sqlite:" the same; "sqlite:DIR" or "sqlite:DIR/keyd.sqlite": sqlite
 *    in DIR;
 *  - "postgresql://..." or "postgres://...": pgsql with that URI.
 * Any other URL is SP_ERR_CONFIG (and is not quoted in the message). */
int sp_store_open_url(struct sp_store **s, const char *url, const char *data_dir,
    struct sp_err *err);
/* Close every connection; no other thread may use s any more.  NULL ok. */
void sp_store_close(struct sp_store *s);

/* Write one audit record on its own (release, refusal, failed login). */
int sp_store_audit(struct sp_store *s, const struct sp_audit *a, struct sp_err *err);
/* Call fn for each audit record, oldest first, until fn returns non-zero.
 * event may be NULL for all events.  The record's strings live during fn. */
int sp_store_audit_each(struct sp_store *s, const char *event,
    int (*fn)(void *ctx, const struct sp_audit *a), void *ctx, struct sp_err *err);

/* The audit trail as stored, for export and verification: every record of
 * chain (org id; 0 the global chain; -1 every chain) with time >= since,
 * in insertion order, until fn returns non-zero. */
int sp_store_audit_scan(struct sp_store *s, int64_t chain, int64_t since,
    int (*fn)(void *ctx, const struct sp_audit_row *r), void *ctx, struct sp_err *err);
/* The head (newest record) of every chain, for anchoring. */
int sp_store_audit_heads(struct sp_store *s,
    int (*fn)(void *ctx, int64_t chain, int64_t seq, const unsigned char hash[SP_SHA256_LEN]),
    void *ctx, struct sp_err *err);
/* The hash of one record: SHA-256 over a fixed label, prev, and each field
 * length-prefixed (store.c has the exact layout, docs/audit.md too).  Both
 * backends compute it when they append; verification recomputes it. */
void sp_audit_chain_hash(const unsigned char prev[SP_SHA256_LEN], int64_t chain,
    int64_t seq, const struct sp_audit *a, unsigned char out[SP_SHA256_LEN]);
/* Check every chain: seq runs 1, 2, 3 ... without gaps, each prev is the
 * previous record's hash, each hash recomputes.  SP_OK when all hold; else
 * SP_ERR_INVALID with *bad (when not NULL) set to the first bad record
 * (rowid, chain, seq as found; a deleted record is reported at the record
 * after the gap) and err naming what is wrong.  *n counts the records
 * checked (may be NULL). */
int sp_store_audit_verify(struct sp_store *s, struct sp_audit_row *bad, int64_t *n,
    struct sp_err *err);

/* Organisations.  token_hash is SHA-256 of the organisation's first token
 * (stored as a token named "default"); domain may be NULL or "" (none yet),
 * else it becomes the first domain (SP_ERR_EXISTS when any organisation
 * has it, or when the name is taken). */
int sp_store_org_add(struct sp_store *s, const char *name, const char *domain,
    const unsigned char token_hash[SP_SHA256_LEN], int64_t now, int64_t *id,
    struct sp_err *err);
/* The organisation of a live token (not revoked, organisation not removed);
 * records the token's last use. */
int sp_store_org_by_token(struct sp_store *s,
    const unsigned char token_hash[SP_SHA256_LEN], struct sp_org *out,
    struct sp_err *err);
/* Every organisation not removed, by id. */
int sp_store_org_each(struct sp_store *s,
    int (*fn)(void *ctx, const struct sp_org *o), void *ctx, struct sp_err *err);
/* One organisation by its name or its id (removed ones too). */
int sp_store_org_get(struct sp_store *s, const char *name, struct sp_org *out,
    struct sp_err *err);
int sp_store_org_get_id(struct sp_store *s, int64_t id, struct sp_org *out,
    struct sp_err *err);
/* Write o's branding, contact and policy (by o->id) with the audit. */
int sp_store_org_update(struct sp_store *s, const struct sp_org *o,
    const struct sp_audit *a, struct sp_err *err);
/* Remove: mark removed, revoke every token, release every domain; its
 * envelopes and public keys stay (recipients still open what it sent). */
int sp_store_org_remove(struct sp_store *s, int64_t id, int64_t now,
    const struct sp_audit *a, struct sp_err *err);
/* Logo: a PNG of at most SP_STORE_LOGO_MAX bytes (NULL/0 removes it). get
 * fills out (size cap) and *len; SP_ERR_NOTFOUND when there is none. */
int sp_store_org_logo_set(struct sp_store *s, int64_t id, const unsigned char *png,
    size_t len, const struct sp_audit *a, struct sp_err *err);
int sp_store_org_logo_get(struct sp_store *s, int64_t id, unsigned char *out,
    size_t cap, size_t *len, struct sp_err *err);

/* Domains (lower-case; unique over all organisations: SP_ERR_EXISTS when
 * any organisation holds it; remove: SP_ERR_NOTFOUND when this one does
 * not). */
int sp_store_org_domain_add(struct sp_store *s, int64_t org_id, const char *domain,
    const struct sp_audit *a, struct sp_err *err);
int sp_store_org_domain_remove(struct sp_store *s, int64_t org_id, const char *domain,
    const struct sp_audit *a, struct sp_err *err);
int sp_store_org_domain_each(struct sp_store *s, int64_t org_id,
    int (*fn)(void *ctx, const char *domain), void *ctx, struct sp_err *err);
/* The organisation holding domain: SP_ERR_NOTFOUND when none. */
int sp_store_org_by_domain(struct sp_store *s, const char *domain, struct sp_org *out,
    struct sp_err *err);

/* Tokens: add (SP_ERR_EXISTS when the organisation has a live token of that
 * name, or the hash is known), revoke (SP_ERR_NOTFOUND when no live token
 * has that name), each (revoked ones too, by creation). */
int sp_store_org_token_add(struct sp_store *s, int64_t org_id, const char *name,
    const unsigned char token_hash[SP_SHA256_LEN], int64_t now,
    const struct sp_audit *a, struct sp_err *err);
int sp_store_org_token_revoke(struct sp_store *s, int64_t org_id, const char *name,
    int64_t now, const struct sp_audit *a, struct sp_err *err);
int sp_store_org_token_each(struct sp_store *s, int64_t org_id,
    int (*fn)(void *ctx, const struct sp_org_token *t), void *ctx, struct sp_err *err);

/* Signing keys: add (SP_ERR_EXISTS for a known kid), get by kid,
 * retire (SP_ERR_NOTFOUND when the organisation has no live key kid),
 * each (retired ones too, by creation). */
int sp_store_org_key_add(struct sp_store *s, const struct sp_org_key *k,
    const struct sp_audit *a, struct sp_err *err);
int sp_store_org_key_get(struct sp_store *s, const char *kid, struct sp_org_key *out,
    struct sp_err *err);
int sp_store_org_key_retire(struct sp_store *s, int64_t org_id, const char *kid,
    int64_t now, const struct sp_audit *a, struct sp_err *err);
int sp_store_org_key_each(struct sp_store *s, int64_t org_id,
    int (*fn)(void *ctx, const struct sp_org_key *k), void *ctx, struct sp_err *err);

/* Envelopes.  add stores e (org_id, from, rcpt, created, expires, key_id,
 * wrapped, kind, format (0 is taken as 1), notify_read, level ("" is
 * "medium"), verify_hash, verify_hint) and the audit record a in one
 * durable transaction; the seal and the recipients' state start empty. */
int sp_store_envelope_add(struct sp_store *s, const struct sp_envelope_rec *e,
    const struct sp_audit *a, struct sp_err *err);
/* Fill out (the caller clears it with sp_envelope_rec_clear()). */
int sp_store_envelope_get(struct sp_store *s, const char *id,
    struct sp_envelope_rec *out, struct sp_err *err);
/* Mark retracted (with the audit record). */
int sp_store_envelope_retract(struct sp_store *s, const char *id,
    const struct sp_audit *a, struct sp_err *err);
/* Retract (on 1) or un-retract (on 0) the whole envelope (rcpt NULL) or
 * one recipient of it (rcpt lower-case; SP_ERR_NOTFOUND when not one of
 * its recipients), with the audit record.  A shredded envelope cannot be
 * un-retracted (SP_ERR_EXPIRED). */
int sp_store_envelope_set_retracted(struct sp_store *s, const char *id,
    const char *rcpt, int on, const struct sp_audit *a, struct sp_err *err);
/* Record the signed envelope's digests once (format 2): SP_OK; SP_ERR_EXISTS
 * when it was sealed already with other values (the same values again are
 * SP_OK); SP_ERR_NOTFOUND when id is unknown. */
int sp_store_envelope_seal(struct sp_store *s, const char *id,
    const unsigned char header_sha[SP_SHA256_LEN], const unsigned char ct_sha[SP_SHA256_LEN],
    const unsigned char sig[64], const char *kid, const struct sp_audit *a,
    struct sp_err *err);
/* The same, with the signed envelope's header bytes (header, len: what
 * sp_store_envelope_header_set() stores) in the same write: one durable
 * write for both.  The header's refusals are header_set's. */
int sp_store_envelope_seal_header(struct sp_store *s, const char *id,
    const unsigned char header_sha[SP_SHA256_LEN], const unsigned char ct_sha[SP_SHA256_LEN],
    const unsigned char sig[64], const char *kid, const unsigned char *header, size_t len,
    const struct sp_audit *a, struct sp_err *err);
/* A release to recipient rcpt at now: sets that recipient's opened time
 * when it was 0 and writes the audit record, in one transaction; *first
 * is 1 when this was the recipient's first open (send the read notice). */
int sp_store_envelope_opened(struct sp_store *s, const char *id, const char *rcpt,
    int64_t now, int *first, const struct sp_audit *a, struct sp_err *err);
/* What a key release reads, in one statement: the envelope with its
 * recipients and their state (as sp_store_envelope_get() fills it), its
 * organisation's branding, and the public key named by its seal when that
 * key is one of the organisation's. */
struct sp_envelope_view {
	struct sp_envelope_rec e;	/* clear with sp_envelope_rec_clear(&v.e) */
	struct sp_org org;		/* id, name, domain, display, colour, has_logo (the
					 * contact and policy are not read) */
	int have_key;			/* 1: key is e.kid's, of organisation e.org_id */
	struct sp_org_key key;
};
/* Fill out (SP_ERR_NOTFOUND: unknown envelope); the caller clears out->e. */
int sp_store_envelope_view(struct sp_store *s, const char *id,
    struct sp_envelope_view *out, struct sp_err *err);

/* --- group commit -----------------------------------------------------------
 * The writes a key server answers only once they are durable go through
 * one committer per store: the writes that arrive while a commit runs are
 * made together in the next transaction (one fsync for all), each in a
 * savepoint of its own so that one write's refusal (an id taken, an
 * envelope unknown) fails only that write.  A write is reported SP_OK only
 * after its transaction committed; when the commit fails, every write of
 * that transaction gets the error.  Within one audit chain the records go
 * in the order their writes were queued.  sp_store_audit(),
 * sp_store_envelope_add(), sp_store_envelope_seal() and
 * sp_store_envelope_opened() queue one such write and wait for it;
 * sp_store_write_async() queues one without waiting. */
enum sp_store_write_kind {
	SP_WRITE_AUDIT = 1,	/* a alone: sp_store_audit() */
	SP_WRITE_DEPOSIT = 2,	/* e and a: sp_store_envelope_add() */
	SP_WRITE_SEAL = 3,	/* id, header_sha, ct_sha, sig, kid, a, and header, header_len
				 * (NULL: none): sp_store_envelope_seal(_header)() */
	SP_WRITE_OPENED = 4,	/* id, rcpt, now, a: sp_store_envelope_opened(); sets first */
};

struct sp_store_write {
	int kind;			/* enum sp_store_write_kind */
	const struct sp_audit *a;
	const struct sp_envelope_rec *e;
	const char *id;
	const char *rcpt;
	int64_t now;
	const unsigned char *header_sha;
	const unsigned char *ct_sha;
	const unsigned char *sig;
	const char *kid;
	const unsigned char *header;
	size_t header_len;
	/* the result, set before done runs */
	int status;			/* SP_OK: durable */
	int first;			/* SP_WRITE_OPENED: this was the recipient's first open */
	struct sp_err err;
	/* sp_store_write_async(): called once, on the committer's thread,
	 * when the write is durable or failed; it may free w, and must not
	 * wait for the store itself */
	void (*done)(struct sp_store_write *w);
	void *ctx;			/* the caller's */
	/* the store's own */
	struct sp_store_write *next;
	int finished;
};

/* Queue w and return at once.  w and everything it points to must stay
 * valid until w->done(w) runs (w->done is required).  SP_OK when queued;
 * otherwise nothing was queued and done will not run. */
int sp_store_write_async(struct sp_store *s, struct sp_store_write *w, struct sp_err *err);

/* Verification secret: ok 1 marks rcpt verified; ok 0 counts a wrong
 * answer.  *fails gets the count after this call.  SP_ERR_NOTFOUND when
 * rcpt is not a recipient. */
int sp_store_envelope_verify_result(struct sp_store *s, const char *id, const char *rcpt,
    int ok, int *fails, const struct sp_audit *a, struct sp_err *err);
/* Envelopes of an organisation (org_id) created at or after since, oldest
 * first; the records passed to fn carry rcpt and rstate. */
int sp_store_envelope_each(struct sp_store *s, int64_t org_id, int64_t since,
    int (*fn)(void *ctx, const struct sp_envelope_rec *e), void *ctx, struct sp_err *err);
/* Envelopes that name rcpt and can still open (not shredded, not retracted
 * for it, not expired at now), oldest first. */
int sp_store_envelope_each_for(struct sp_store *s, const char *rcpt, int64_t now,
    int (*fn)(void *ctx, const struct sp_envelope_rec *e), void *ctx, struct sp_err *err);
/* Crypto-shredding: for up to limit (<= 0: no limit) envelopes whose
 * expires is set and at or before now and that still hold a key part
 * (shredded 0), overwrite the wrapped part
 * (zero length, key_id 0), set shredded = now and write one audit record
 * "shred" each (in the envelope's organisation's chain).  Then make the
 * old bytes unreadable from the database files: SQLite runs with
 * secure_delete and checkpoints its WAL (TRUNCATE); PostgreSQL vacuums
 * the envelopes table.  *n gets how many were shredded. */
int sp_store_envelope_shred_expired(struct sp_store *s, int64_t now, int limit, int *n,
    struct sp_err *err);

/* The holder tag deposited with envelope id: SP_OK with out filled;
 * SP_ERR_NOTFOUND when the envelope is unknown or was deposited without
 * one. */
int sp_store_envelope_holder(struct sp_store *s, const char *id,
    unsigned char out[SP_SHA256_LEN], struct sp_err *err);

/* --- master key rotation (`sealpost key rewrap`) ---------------------------
 * A wrapped value and its row: ref is the envelope id (envelopes) or the
 * account's address (TOTP secrets).  The each functions read rows in
 * batches, ordered by ref, and call fn outside any statement, so fn may call
 * the rewrap functions; fn returns non-zero to stop. */
int sp_store_envelope_wrapped_each(struct sp_store *s, uint32_t below_key_id,
    int (*fn)(void *ctx, const char *ref, uint32_t key_id, const unsigned char *wrapped,
    size_t len), void *ctx, struct sp_err *err);
/* One row's new wrapping.  The row is written only while it still holds
 * exactly what was read: old_key_id and the old wrapped bytes (a value set
 * again meanwhile under the same old key, such as an authenticator app
 * enrolled anew, is never replaced by the one read before it). */
struct sp_rewrap {
	const char *ref;
	uint32_t old_key_id;
	const unsigned char *old;	/* the wrapped bytes as read */
	size_t old_len;
	uint32_t new_key_id;
	const unsigned char *wrapped;	/* the same key part wrapped anew */
	size_t len;
};
/* Replace the envelope's wrapped part and key id, only while the row still
 * has r->old_key_id and r->old (SP_ERR_NOTFOUND otherwise: gone, changed or
 * rewrapped already), with the audit record a (may be NULL). */
int sp_store_envelope_rewrap(struct sp_store *s, const struct sp_rewrap *r,
    const struct sp_audit *a, struct sp_err *err);
/* The same for accounts' TOTP secrets (associated data "totp:EMAIL"). */
int sp_store_totp_wrapped_each(struct sp_store *s, uint32_t below_key_id,
    int (*fn)(void *ctx, const char *ref, uint32_t key_id, const unsigned char *wrapped,
    size_t len), void *ctx, struct sp_err *err);
int sp_store_totp_rewrap(struct sp_store *s, const struct sp_rewrap *r,
    const struct sp_audit *a, struct sp_err *err);
/* The same for the organisations' reply signing keys (ref: the kid;
 * associated data "replykey:KID"). */
int sp_store_replykey_wrapped_each(struct sp_store *s, uint32_t below_key_id,
    int (*fn)(void *ctx, const char *ref, uint32_t key_id, const unsigned char *wrapped,
    size_t len), void *ctx, struct sp_err *err);
int sp_store_replykey_rewrap(struct sp_store *s, const struct sp_rewrap *r,
    struct sp_err *err);

/* Accounts.  create makes an activated account directly (an
 * administrator's `recipient add`): SP_ERR_EXISTS when the email is taken.
 * Registration from the web goes through sp_store_pending_add(). */
int sp_store_account_create(struct sp_store *s, const struct sp_account *acc,
    const struct sp_audit *a, struct sp_err *err);
/* The account of email (activated accounts only): SP_ERR_NOTFOUND. */
int sp_store_account_get(struct sp_store *s, const char *email,
    struct sp_account *out, struct sp_err *err);
/* Count a failed login (when the account exists) and write the audit. */
int sp_store_login_failed(struct sp_store *s, const char *email,
    const struct sp_audit *a, struct sp_err *err);

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

/* Throttling, by key ("email:ADDR", "ip:ADDR", "mail:ADDR", ...; the key
 * need not name an existing account, so a lock reveals nothing).  Attempts
 * are counted; a count whose last attempt is `window` seconds old (3600
 * when 0) starts again.  From the `free`-th counted attempt on, each
 * allowed attempt locks the key for base * 2^(n - free) seconds (linear:
 * base * (n - free + 1)), at most max. */
struct sp_throttle_policy {
	int free;
	int base;
	int max;
	int window;
	int linear;
};
/* *locked_until: 0 or the unix time until which the key is locked. */
int sp_store_throttle_check(struct sp_store *s, const char *key, int64_t now,
    int64_t *locked_until, struct sp_err *err);
int sp_store_throttle_fail(struct sp_store *s, const char *key, int64_t now,
    const struct sp_throttle_policy *p, int64_t *locked_until, struct sp_err *err);
int sp_store_throttle_reset(struct sp_store *s, const char *key, struct sp_err *err);
/* Count one attempt atomically, before the work it guards (a password
 * check): every call adds one to the count, also when refused.  When the
 * key is locked, *locked_until gets the lock's end and the attempt must be
 * refused; else *locked_until is 0 and the attempt may go ahead (and may
 * have set a lock for the next ones).  Parallel callers can never get more
 * than `free` attempts through before a lock. */
int sp_store_throttle_begin(struct sp_store *s, const char *key, int64_t now,
    const struct sp_throttle_policy *p, int64_t *locked_until, struct sp_err *err);
/* Take one counted attempt back (a successful log-in from a client
 * address: only failures should count against it).  Never below zero. */
int sp_store_throttle_undo(struct sp_store *s, const char *key, struct sp_err *err);
/* Delete every throttle key that starts with prefix (an administrator's
 * unlock: "email:ADDR").  *n gets the number removed (may be NULL). */
int sp_store_throttle_clear(struct sp_store *s, const char *prefix, int *n,
    struct sp_err *err);

/* --- housekeeping -------------------------------------------------------- */

/* Counters and registrations older than this are of no more use (every
 * throttle policy's window is shorter: a week at most). */
#define SP_STORE_STALE_AGE (30 * 86400)

/* What sp_store_housekeep removed. */
struct sp_housekeep_counts {
	int throttle;		/* counters */
	int pending;		/* registrations never activated */
};

/* Remove, as of now, what is kept for no purpose any more: throttle
 * counters whose last attempt is older than SP_STORE_STALE_AGE and that
 * lock nothing now (the count would start again anyway); the counters of
 * wrong answers to a sender's question ("verify:ID:ADDRESS", which lock
 * for good) once their envelope is shredded or gone; and pending
 * registrations older than SP_STORE_STALE_AGE without an activation link
 * that still works, with their links (the address registers again).
 * Each is one statement; out (may be NULL) gets the counts. */
int sp_store_housekeep(struct sp_store *s, int64_t now, struct sp_housekeep_counts *out,
    struct sp_err *err);

/* --- account lifecycle --------------------------------------------------- */

/* Register: in one transaction, when the address has no (activated)
 * account, store acc as a new pending registration (keeping at most
 * SP_STORE_PENDING_MAX per address: older ones are dropped with their
 * tokens) with an activation token (SHA-256 token_hash, expiring at
 * token_expires) and the audit record.  SP_ERR_EXISTS (and nothing
 * written) when the address already has an account. */
int sp_store_pending_add(struct sp_store *s, const struct sp_account *acc,
    const unsigned char token_hash[SP_SHA256_LEN], int64_t token_expires,
    const struct sp_audit *a, struct sp_err *err);
/* The pending registration an activation token points to (out: pending_id,
 * bind_hash, pw_hash, ... and email), with the token checks of
 * sp_store_token_peek(). */
int sp_store_pending_by_token(struct sp_store *s,
    const unsigned char token_hash[SP_SHA256_LEN], int64_t now,
    struct sp_account *out, struct sp_err *err);
/* Activate: in one transaction, consume the activation token, turn its
 * pending registration into the account, delete every other pending
 * registration of that address and their tokens, and write the audit
 * record (actor defaults to the address).  email gets the address.
 * SP_ERR_NOTFOUND / SP_ERR_EXPIRED as for tokens; SP_ERR_EXISTS when the
 * address has an account already. */
int sp_store_pending_activate(struct sp_store *s,
    const unsigned char token_hash[SP_SHA256_LEN], int64_t now,
    char email[SP_STORE_EMAIL_MAX + 1], const struct sp_audit *a, struct sp_err *err);

/* Complete an account's profile (schema v5): set first_name, last_name,
 * language, phrase, phrase_enabled, question[], answer_hash[] and
 * bcc_default (v7) of
 * acc->email from acc, clear profile_todo, with the audit record, in one
 * transaction.  SP_ERR_NOTFOUND when the address has no account. */
int sp_store_profile_set(struct sp_store *s, const struct sp_account *acc,
    const struct sp_audit *a, struct sp_err *err);

/* Issue a single-use token of kind (not ACTIVATE's first issue: that is
 * sp_store_pending_add) for email, in one transaction:
 *  - ACTIVATE: for the newest pending registration of email (resend);
 *  - RESET, SIGNIN, MFA: only when email has an account;
 *  - CHALLENGE: always (email may be "").
 * When rate_key is not NULL, the request is first counted against it with
 * sp_store_throttle_begin(rate) semantics; a locked key issues nothing.
 * *issued is 1 when the token was stored (then mail it), else 0 (no such
 * account or registration, or rate-limited); the answer to the user must
 * not depend on it.  a (may be NULL) is written only when issued. */
int sp_store_token_issue(struct sp_store *s, int kind, const char *email,
    const unsigned char token_hash[SP_SHA256_LEN], int64_t now, int64_t expires,
    const char *rate_key, const struct sp_throttle_policy *rate, int *issued,
    const struct sp_audit *a, struct sp_err *err);
/* Look a token of kind up without consuming it: SP_ERR_NOTFOUND (unknown or
 * of another kind), SP_ERR_EXPIRED (used or out of date), else SP_OK. */
int sp_store_token_peek(struct sp_store *s, int kind,
    const unsigned char token_hash[SP_SHA256_LEN], int64_t now,
    struct sp_token_rec *out, struct sp_err *err);
/* Consume a token of kind (same results as peek), in one transaction. */
int sp_store_token_use(struct sp_store *s, int kind,
    const unsigned char token_hash[SP_SHA256_LEN], int64_t now,
    struct sp_token_rec *out, const struct sp_audit *a, struct sp_err *err);

/* Set a new password hash (reset or change) in one transaction: update
 * pw_hash and pw_changed, consume the token when token_hash is not NULL
 * (kind RESET; SP_ERR_EXPIRED/NOTFOUND as for tokens), use up every other
 * reset, sign-in and second-step token of the account (a link mailed before
 * the new password must not take the account back), end every session of
 * the account except keep_session (may be NULL), forget every remembered
 * device of the account, and write the audit. */
int sp_store_password_set(struct sp_store *s, const char *email, const char *pw_hash,
    int64_t now, const unsigned char *token_hash, const unsigned char *keep_session,
    const struct sp_audit *a, struct sp_err *err);
/* End every session of email (sign out everywhere, administrator reset).
 * *n gets how many (may be NULL). */
int sp_store_sessions_end(struct sp_store *s, const char *email, int *n,
    const struct sp_audit *a, struct sp_err *err);
/* Record that the session's owner typed the password again now. */
int sp_store_session_reauth(struct sp_store *s, const unsigned char hash[SP_SHA256_LEN],
    int64_t now, struct sp_err *err);

/* --- remembered devices (schema v6) ---------------------------------------
 * add: store d (hash, email, agent, created, last_used, expires; id is
 * ignored) with the audit record a, in one transaction that also drops the
 * expired devices of every account and the account's least recently used
 * ones beyond SP_STORE_DEVICES_MAX.  SP_ERR_NOTFOUND when d->email has no
 * account. */
int sp_store_device_add(struct sp_store *s, const struct sp_device *d,
    const struct sp_audit *a, struct sp_err *err);
/* The live device of token hash (expires > now) into out, its last_used
 * refreshed to now (written when 60 s or more old).  SP_ERR_NOTFOUND when
 * unknown, forgotten or expired. */
int sp_store_device_use(struct sp_store *s, const unsigned char hash[SP_SHA256_LEN],
    int64_t now, struct sp_device *out, struct sp_err *err);
/* Call fn for each live device of email, most recently used first, until
 * fn returns non-zero.  out's hash is zeroed (never shown). */
int sp_store_device_each(struct sp_store *s, const char *email, int64_t now,
    int (*fn)(void *ctx, const struct sp_device *d), void *ctx, struct sp_err *err);
/* Forget email's device id, with the audit record: SP_ERR_NOTFOUND when
 * email has no such device. */
int sp_store_device_delete(struct sp_store *s, const char *email, int64_t id,
    const struct sp_audit *a, struct sp_err *err);
/* Sign out everywhere: end every session and forget every device of email,
 * with the audit record, in one transaction.  *nsessions and *ndevices
 * (may be NULL) get how many. */
int sp_store_signout_all(struct sp_store *s, const char *email, int *nsessions,
    int *ndevices, const struct sp_audit *a, struct sp_err *err);

/* --- second factors ------------------------------------------------------ */

/* Set (wrapped != NULL) or remove (NULL) the account's TOTP secret, with
 * the audit record; removing also deletes the recovery codes when no
 * passkey is left.  last_step starts at 0. */
int sp_store_totp_set(struct sp_store *s, const char *email,
    const unsigned char *wrapped, size_t wrapped_len, uint32_t key_id,
    const struct sp_audit *a, struct sp_err *err);
/* Accept time step `step` for email atomically: SP_OK and recorded when it
 * is newer than the last accepted one, SP_ERR_EXPIRED when it is not (a
 * replayed code). */
int sp_store_totp_step(struct sp_store *s, const char *email, int64_t step,
    struct sp_err *err);
/* Replace the recovery codes (SHA-256 of each normalised code). */
int sp_store_recovery_set(struct sp_store *s, const char *email,
    const unsigned char hashes[][SP_SHA256_LEN], size_t n, const struct sp_audit *a,
    struct sp_err *err);
/* Use one recovery code atomically: SP_OK (now used), SP_ERR_NOTFOUND
 * (unknown or used already).  Using the code also records the audit. */
int sp_store_recovery_use(struct sp_store *s, const char *email,
    const unsigned char hash[SP_SHA256_LEN], const struct sp_audit *a,
    struct sp_err *err);
/* Passkeys.  add: SP_ERR_EXISTS when the credential id is known. */
int sp_store_passkey_add(struct sp_store *s, const struct sp_passkey *pk,
    const struct sp_audit *a, struct sp_err *err);
int sp_store_passkey_get(struct sp_store *s, const unsigned char *cred_id,
    size_t cred_id_len, struct sp_passkey *out, struct sp_err *err);
int sp_store_passkey_each(struct sp_store *s, const char *email,
    int (*fn)(void *ctx, const struct sp_passkey *pk), void *ctx, struct sp_err *err);
/* Record a use: the new signature counter and the time. */
int sp_store_passkey_used(struct sp_store *s, const unsigned char *cred_id,
    size_t cred_id_len, uint32_t sign_count, int64_t now, struct sp_err *err);
/* Delete one of email's passkeys: SP_ERR_NOTFOUND when email has no such. */
int sp_store_passkey_delete(struct sp_store *s, const char *email,
    const unsigned char *cred_id, size_t cred_id_len, const struct sp_audit *a,
    struct sp_err *err);


/* --- ciphertext copies (schema v4) ------------------------------------------
 * A format 2 envelope may have a copy of its ciphertext kept by the key
 * server (the bytes live in a blob store, blobstore.h; the store keeps the
 * exact header bytes, the copy's size and until when it is kept).  The
 * copy is useless without the mail key part, which the key server never
 * has.  An organisation's quota is the sum of copy_size of its envelopes. */
#define SP_STORE_COPY_QUOTA_MB 1024	/* default copy_quota_mb */

struct sp_envelope_copy {
	int64_t org_id;
	unsigned char *header;	/* exact header bytes given at seal (owned), NULL none */
	size_t header_len;
	int64_t size;		/* bytes of the kept ciphertext, 0 none */
	int64_t until;		/* unix time after which it goes, 0 none */
};
/* Free what sp_store_envelope_copy_get() allocated. */
void sp_envelope_copy_clear(struct sp_envelope_copy *c);

/* Keep the exact header bytes of a sealed envelope (1..SP_STORE_HEADER_MAX
 * bytes), once: the same bytes again are SP_OK, other bytes SP_ERR_EXISTS;
 * SP_ERR_NOTFOUND for an unknown id. */
#define SP_STORE_HEADER_MAX 65536
int sp_store_envelope_header_set(struct sp_store *s, const char *id,
    const unsigned char *header, size_t len, struct sp_err *err);
/* The envelope's copy record: SP_ERR_NOTFOUND for an unknown id. */
int sp_store_envelope_copy_get(struct sp_store *s, const char *id,
    struct sp_envelope_copy *out, struct sp_err *err);
/* Record a copy of size bytes (> 0) kept until `until` (0: as long as the
 * envelope), or clear it (size 0), with the audit record a (may be NULL),
 * in one transaction.  When recording and quota > 0, the organisation's
 * other copies plus size must not exceed quota bytes: SP_ERR_TOOBIG and
 * nothing written.  SP_ERR_NOTFOUND for an unknown id. */
int sp_store_envelope_copy_set(struct sp_store *s, const char *id, int64_t size,
    int64_t until, int64_t quota, const struct sp_audit *a, struct sp_err *err);
/* Bytes of the copies of organisation org_id's envelopes. */
int sp_store_org_copy_bytes(struct sp_store *s, int64_t org_id, int64_t *bytes,
    struct sp_err *err);
/* A copy that must go. */
struct sp_copy_ref {
	char id[SP_STORE_ID_MAX + 1];
	int64_t org_id;
	int64_t size;
};
/* Up to max copies that must be deleted at now: past copy_until, envelope
 * expired or shredded, retracted as a whole, or its organisation removed;
 * *n gets how many.  The caller deletes each blob, then clears the record
 * (sp_store_envelope_copy_set size 0). */
int sp_store_copies_doomed(struct sp_store *s, int64_t now, struct sp_copy_ref *out,
    size_t max, size_t *n, struct sp_err *err);

/* --- the mail queue (schema v8) -------------------------------------------
 * Account mails and notices that the mail transport refused, kept for
 * their next try, so that a restart or another key server sends them
 * (keyd_mailq.c).  The caller seals each mail (AES-256-GCM under a key of
 * its own, which the key holder wraps with associated data "mailq:REF"):
 * the store never holds a mail's token or text in the clear. */
#define SP_STORE_MAILQ_REF_LEN 22		/* 16 random bytes, base64url */
#define SP_STORE_MAILQ_SEALED_MAX (256 << 10)	/* a sealed mail, bytes */
struct sp_mailq_rec {
	char ref[SP_STORE_MAILQ_REF_LEN + 1];
	int64_t due;			/* not tried before this unix time */
	int tries;			/* refused so far */
	uint32_t key_id;		/* master key that wrapped the mail's key */
	unsigned char wrapped[SP_STORE_WRAPPED_MAX];
	size_t wrapped_len;
	unsigned char *sealed;		/* owned: sp_mailq_rec_clear() */
	size_t sealed_len;
};
/* Keep m (a new ref); SP_ERR_EXISTS when its ref is taken. */
int sp_store_mailq_add(struct sp_store *s, const struct sp_mailq_rec *m,
    struct sp_err *err);
/* Claim up to max mails due at now (earliest first) that no key server
 * holds: each is held until now + lease, so that no other takes it
 * meanwhile; out[0..*n) get them (clear each).  *next gets the earliest
 * due time of the mails left that nobody holds (0: none). */
int sp_store_mailq_claim(struct sp_store *s, int64_t now, int64_t lease,
    struct sp_mailq_rec *out, size_t max, size_t *n, int64_t *next, struct sp_err *err);
/* A claimed mail refused again: its tries and next due time, no longer
 * held.  SP_ERR_NOTFOUND when it is gone. */
int sp_store_mailq_retry(struct sp_store *s, const char *ref, int tries, int64_t due,
    struct sp_err *err);
/* A mail sent or given up: gone (SP_OK when it already was). */
int sp_store_mailq_delete(struct sp_store *s, const char *ref, struct sp_err *err);
/* What the operator sees of a queued mail (`sealpost mailq`): never its
 * text, which only a key server with its key holder can open. */
struct sp_mailq_info {
	char ref[SP_STORE_MAILQ_REF_LEN + 1];
	int64_t due;			/* next try (unix time) */
	int tries;			/* refused so far */
	int64_t held;			/* a key server holds it until then; 0 none */
};
/* fn for each queued mail, earliest due first, until it returns non-zero. */
int sp_store_mailq_each(struct sp_store *s, int (*fn)(void *ctx, const struct sp_mailq_info *m),
    void *ctx, struct sp_err *err);
/* Make every queued mail due at now (the MTA is back: do not wait for the
 * next try); *n gets how many were moved. */
int sp_store_mailq_flush(struct sp_store *s, int64_t now, int *n, struct sp_err *err);
/* Wipe and free what a claim allocated. */
void sp_mailq_rec_clear(struct sp_mailq_rec *m);
/* Key rotation (`sealpost key rewrap`), as for envelopes: fn(ctx, ref,
 * key_id, wrapped, len) for each queued mail whose key is wrapped under a
 * master key below `below`, until it returns non-zero; rewrap stores the
 * key wrapped again, only while the row still has r->old_key_id and r->old
 * (SP_ERR_NOTFOUND otherwise: sent or changed meanwhile). */
int sp_store_mailq_wrapped_each(struct sp_store *s, uint32_t below,
    int (*fn)(void *ctx, const char *ref, uint32_t key_id, const unsigned char *wrapped,
    size_t len), void *ctx, struct sp_err *err);
int sp_store_mailq_rewrap(struct sp_store *s, const struct sp_rewrap *r, struct sp_err *err);

#endif

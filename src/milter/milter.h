/*
 * milter.h - the internal face of sealpost-milter, shared by its files:
 * configuration (milter_config.c, on conf.h), per-message state
 * (milter_msg.c), rewriting a message through the milter protocol
 * (milter_rewrite.c), the end-of-message decision (milter_decide.c) and the
 * libmilter callbacks (milter_cb.c, milter_main.c).  The log is log.h.
 *
 * The seam: everything but milter_cb.c and milter_main.c works without
 * libmilter.  Modifications go through struct milter_ops, so the decision
 * and rewrite logic is unit-tested with a recording fake
 * (tests/unit/milter_test.c).
 * SECURITY: the per-message state holds untrusted mail and, while sealing,
 * plaintext; the configuration holds the organisation token and its
 * signing key.
 */
#ifndef SP_MILTER_H
#define SP_MILTER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "buf.h"
#include "conf.h"
#include "envelope.h"
#include "sp.h"

struct sp_env_header;
struct sp_keyd_client;
struct sp_policy;
struct sp_policy_scratch;
struct sp_signer;

/* --- configuration (milter_config.c) ------------------------------------ */

enum milter_on_fail {
	MILTER_FAIL_TEMPFAIL = 0,	/* 451: the MTA keeps the mail and retries */
	MILTER_FAIL_PASS = 1,		/* deliver as written (administrator's choice) */
	MILTER_FAIL_REJECT = 2,		/* 554: bounce to the sender */
};

enum milter_log_to { MILTER_LOG_STDERR = 0, MILTER_LOG_SYSLOG = 1 };

#define MILTER_MAX_DOMAINS 64

struct milter_config {
	char socket[512];		/* inet:PORT@HOST or unix:PATH */
	char keyd_url[512];		/* key server base URL */
	char keyd_public_url[512];	/* URL found in our envelopes ("" = keyd_url) */
	char keyd_token[256];		/* organisation token (secret) */
	char keyd_token_file[512];
	char sign_key[512];		/* organisation's Ed25519 key (PEM), "" = unsigned */
	char policy[512];		/* policy file, "" = built-in default */
	char internal_domains[2048];	/* comma or space separated */
	int on_keyd_failure;		/* enum milter_on_fail */
	int on_too_big;			/* enum milter_on_fail */
	int on_unreadable;		/* enum milter_on_fail: the policy cannot read it */
	int64_t max_message_size;	/* bytes buffered per message */
	char user[64];			/* run as this user when started as root */
	int log;			/* enum milter_log_to */
	int64_t timeout_ms;		/* key server request limit */
	int64_t milter_timeout;		/* seconds libmilter waits for the MTA */
	int unseal;			/* 1: unseal inbound replies */
	int debug;			/* 1: also log where the policy matched */
	/* derived */
	char *domains[MILTER_MAX_DOMAINS];	/* point into domains_store */
	size_t ndomains;
	char domains_store[2048];
	struct sp_signer *signer;	/* loaded from sign_key, or NULL (owned) */
};

/* The configuration table (every key, default, range and help). */
extern const struct conf_table milter_conf_table;

/* Zero c and set every default from the table (a broken table is fatalx). */
void milter_config_defaults(struct milter_config *c);

/* Start-up: zero c, apply the defaults, read -c FILE and the command line's
 * --key settings (conf_read()), then milter_config_finish().  cl says what
 * was asked (run, -n, --help, --print-defaults); on --help and
 * --print-defaults nothing is read or checked.  SP_ERR_CONFIG with
 * "file:line: message" or "--key: message" in err. */
int milter_config_read(struct milter_config *c, int argc, char **argv, struct conf_cmdline *cl,
    struct sp_err *err);

/* Read a `key = value` file into c (after milter_config_defaults()), then
 * milter_config_finish().  Unknown keys, bad values and values out of range
 * are SP_ERR_CONFIG with "file:line: message" in err. */
int milter_config_load(struct milter_config *c, const char *path, struct sp_err *err);

/* The checks between keys and the derived values, once everything is read:
 * socket and keyd_url set and well-formed, one token given (read from
 * keyd_token_file when set), keyd_public_url defaulted, the domain list
 * split, the signing key loaded from sign_key (an unreadable file or one
 * that is not an Ed25519 private key is SP_ERR_CONFIG).  Both files are
 * read here, so a daemon started as root reads them before it drops
 * privileges.  path names the source in messages. */
int milter_config_finish(struct milter_config *c, const char *path, struct sp_err *err);

/* --help text made from the table. */
void milter_config_usage(FILE *out);

/* Every key with its default and help, as a configuration file. */
void milter_config_print_defaults(FILE *out);

/* Wipe the token, free the signing key (and what the table allocated). */
void milter_config_clear(struct milter_config *c);

/* Is addr (bare address, any case) in one of the internal domains?  1/0. */
int milter_config_is_internal(const struct milter_config *c, const char *addr);

/* --- per-message state (milter_msg.c) ----------------------------------- */

#define MILTER_MAX_HEADERS 4096		/* header fields kept per message */
#define MILTER_MAX_HEADER_BYTES ((size_t)4 << 20)
#define MILTER_MAX_RCPT SP_ENV_MAX_RECIPIENTS	/* an envelope's most: the MTA sends the rest again */

struct milter_hdr {
	char *name;
	char *value;	/* as the MTA gave it (with leading space when leadspc) */
};

struct milter_msg {
	char qid[64];			/* MTA queue id or "-" */
	char *sender;			/* envelope sender, bare, or NULL */
	char **rcpt;			/* envelope recipients, bare */
	size_t nrcpt;
	struct milter_hdr *hdrs;
	size_t nhdrs, hdrs_cap;
	size_t hdr_bytes;
	int hdr_leadspc;		/* values include the space after ':' */
	int too_many_headers;		/* over MILTER_MAX_HEADERS/BYTES */
	struct sp_buf body;		/* capped at max_message_size */
	int too_big;			/* the body went over the cap */
	uint64_t size;			/* bytes seen (headers + body) */
	struct timespec start;
};

/* Start a message (cap: max body bytes kept). */
void milter_msg_init(struct milter_msg *m, size_t cap);
/* Release everything and wipe the body; m may be reused after init. */
void milter_msg_clear(struct milter_msg *m);
/* Strip <> and surrounding space from an SMTP address argument into a new
 * string (caller frees), lower-case domain kept as given. NULL on NOMEM. */
char *milter_msg_bare_addr(const char *arg);
/* The envelope sender / one more recipient, from the MTA's argument
 * ("<addr>" plus ESMTP parameters); copied.  SP_OK, SP_ERR_NOMEM, and for
 * recipients SP_ERR_TOOBIG over MILTER_MAX_RCPT. */
int milter_msg_set_sender(struct milter_msg *m, const char *arg);
int milter_msg_add_rcpt(struct milter_msg *m, const char *arg);
/* One header field as the MTA passed it (both strings copied).
 * SP_ERR_TOOBIG over MILTER_MAX_HEADERS / MILTER_MAX_HEADER_BYTES: the
 * message is then marked too_many_headers and later fields are dropped. */
int milter_msg_add_header(struct milter_msg *m, const char *name, const char *value);
/* A body chunk (copied).  SP_ERR_TOOBIG over the cap: the body kept so far
 * is wiped and the message is marked too_big. */
int milter_msg_add_body(struct milter_msg *m, const unsigned char *p, size_t n);
/* Rebuild the message bytes as the MTA holds them: every header field as
 * "Name:" value CRLF (folding kept, LF turned into CRLF), a blank line, the
 * body as given.  Appended to out. */
int milter_msg_raw(const struct milter_msg *m, struct sp_buf *out);
/* First value of header name (case-insensitive), leading space skipped;
 * borrowed.  NULL when absent. */
const char *milter_msg_header(const struct milter_msg *m, const char *name);

/* --- rewriting (milter_rewrite.c) --------------------------------------- */

/* What the decision asks the MTA to do.  Each returns 0 on success. */
struct milter_ops {
	int (*chgheader)(void *ctx, const char *name, int index, const char *value);
	int (*addheader)(void *ctx, const char *name, const char *value);
	int (*replacebody)(void *ctx, const unsigned char *p, size_t n);
	void *ctx;
};

/* A writer (struct sp_writer) that takes a complete new message (header
 * block, blank line, body; LF or CRLF) and applies it through ops: the new
 * header fields are added (with a leading space when leadspc), the body is
 * passed to replacebody in chunks.  The original fields are deleted by
 * milter_rewrite_finish().  The marker field is never taken from the new
 * message, and with drop_controls (set after init) neither are the sender's
 * control fields (milter_control_headers).  Bounded: the header block may
 * not exceed MILTER_MAX_HEADER_BYTES. */
struct milter_rewrite {
	const struct milter_ops *ops;
	const struct milter_msg *orig;
	int leadspc;
	int drop_controls;		/* 1 (sealing): never add a sender control field */
	int in_body;
	int failed;
	struct sp_buf hdr;		/* header block collected so far */
	char marker[256];		/* extra header added first, "" = none */
	char marker_name[64];
	uint64_t body_bytes;
	unsigned applied;		/* changes handed to the MTA so far */
};
void milter_rewrite_init(struct milter_rewrite *rw, const struct milter_ops *ops,
    const struct milter_msg *orig);
int milter_rewrite_write(void *ctx, const void *p, size_t n);
/* Delete the original header fields (all but the MTA's trace fields:
 * Received, Return-Path), and make sure the whole new message was seen.
 * SP_OK or SP_ERR_INVALID / SP_ERR_IO. */
int milter_rewrite_finish(struct milter_rewrite *rw);
void milter_rewrite_clear(struct milter_rewrite *rw);

/* --- the decision (milter_decide.c) ------------------------------------- */

/* Read-only state shared by all threads. */
struct milter_global {
	const struct milter_config *cfg;
	const struct sp_policy *policy;
};

/* Used by one thread at a time: the key server client (its connection is
 * kept alive between messages) and the policy scratch, created on first
 * use.  milter_cb.c keeps idle workers in a pool. */
struct milter_worker {
	struct sp_keyd_client *keyd;
	struct sp_policy_scratch *scratch;
};
void milter_worker_clear(struct milter_worker *w);

enum milter_verdict {
	MILTER_CONTINUE = 0,	/* accept (possibly modified) */
	MILTER_TEMPFAIL = 1,
	MILTER_REJECT = 2,
};

struct milter_outcome {
	enum milter_verdict verdict;
	char decision[16];	/* pass, seal, unseal, tempfail, reject */
	char rule[64];		/* rule that fired, "-" when none */
	char reason[256];	/* one line */
	char envelope[32];	/* envelope id or "-" */
	char rcode[4], xcode[8];	/* SMTP reply for tempfail/reject */
	char reply[200];
	char notes[400];	/* policy notes (limits hit, parts skipped), "" = none */
};

/* The end of a message: decide and apply.  Fills o; every failure is an
 * outcome (never an abort).  ops may be called; on a TEMPFAIL/REJECT
 * verdict the MTA discards any modification already made. */
void milter_decide_eom(const struct milter_global *g, struct milter_worker *w,
    struct milter_msg *m, const struct milter_ops *ops, struct milter_outcome *o);

/* May the milter unseal envelope h for message m?  Only when every SMTP
 * recipient of m is an address h names (compared case-insensitively): a
 * release with the organisation token must not hand the message to an
 * internal address the sender did not write to.  SP_OK, or SP_ERR_DENIED
 * with *refused set to the first recipient that is not named (borrowed
 * from m; "" when m has no recipient at all). */
int milter_unseal_allowed(const struct sp_env_header *h, const struct milter_msg *m,
    const char **refused);

/* The sender's control fields (X-Sealpost-Expires, -Notify, -Verify,
 * -Verify-Hint, -Level): instructions to the sealer, never for a reader.
 * When a message is sealed the notification does not carry them; when it
 * passes unsealed, milter_decide_eom() deletes them. */
extern const char *const milter_control_headers[];

/* Log the one line for a finished message (milter_decide.c):
 * "message qid=QID decision=D rule=R envelope=ID time_ms=N size=N rcpts=N
 * reason=\"...\"", and "notes qid=QID notes=\"...\"" when there are notes. */
void milter_log_outcome(const struct milter_msg *m, const struct milter_outcome *o, long ms);

/* --- libmilter glue (milter_cb.c) --------------------------------------- */

/* Register the callbacks with libmilter; g must outlive smfi_main(). 0/-1. */
int milter_cb_register(const struct milter_global *g);
/* Free the idle workers (after smfi_main() returned). */
void milter_cb_cleanup(void);

/* Name of the marker header on unsealed inbound mail. */
#define MILTER_MARK_HEADER "X-Sealpost-Received-Sealed"
#define MILTER_ENV_HEADER "X-Sealpost-Envelope"

#endif

/*
 * keyd.h - the server of sealpost-keyd: its state (struct keyd), named
 * limits, the MHD entry points (keyd_http.c), logging, client addresses and
 * connection limits, the mail sender thread and the key holder.  What
 * keyd_main.c needs; the request layer is keyd_req.h, the routes
 * keyd_router.h, each handler module has its own header.  Not a library
 * interface.
 */
#ifndef KEYD_H
#define KEYD_H

#include <microhttpd.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "buf.h"
#include "html.h"
#include "keywrap.h"
#include "sp.h"
#include "store.h"
#include "transport.h"

#define KEYD_SESSION_IDLE (30 * 60)
#define KEYD_SESSION_MAX (12 * 60 * 60)
#define KEYD_ACTIVATION_TTL (24 * 60 * 60)
#define KEYD_MAX_FIELDS 32
#define KEYD_FIELD_MAX 4096	/* bytes of one ordinary form field */
#define KEYD_RESET_TTL (60 * 60)	/* forgot-password link */
#define KEYD_SIGNIN_TTL (15 * 60)	/* mailed sign-in link */
#define KEYD_SIGNUP_TTL (15 * 60)	/* a short sign-up's mailed code */
#define KEYD_MFA_TTL (5 * 60)		/* between password and second factor */
#define KEYD_CHALLENGE_TTL (5 * 60)	/* WebAuthn ceremony */
#define KEYD_REAUTH_AGE (10 * 60)	/* password typed this recently for changes */
#define KEYD_MAX_PROXIES 16
#define KEYD_MAILQ_MAX 1024		/* mails waiting for the sender thread */

/* The Content-Security-Policy of every answer (docs/api.md), with img
 * extra image sources. */
#define KEYD_CSP_IMG(img) "default-src 'none'; script-src 'self'; " \
	"style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:" img "; " \
	"connect-src 'self'; frame-src 'self' blob: data:; " \
	"child-src 'self' blob: data:; form-action 'self'; base-uri 'none'; " \
	"frame-ancestors 'none'"
#define KEYD_CSP KEYD_CSP_IMG("")
/* The open page's: images from the web may load in the message's frame,
 * whose own policy allows them only when the reader chose to see them
 * (docs/decisions/0016-remote-images.md). */
#define KEYD_CSP_OPEN KEYD_CSP_IMG(" https: http:")

/* An address range (--trusted-proxy). */
struct keyd_cidr {
	int family;			/* AF_INET or AF_INET6 */
	unsigned char addr[16];
	int bits;
};

struct keyd_conns;	/* keyd_net.c: open connections per client address */
struct keyd_mailq;	/* keyd_mailq.c: the mail sender thread */
struct keyd_jobs;	/* keyd_jobs.c: shredding and anchoring in the background */
struct keyd_work;	/* keyd_work.c: the workers of heavy requests */
struct sp_notice_sender;	/* notice.h */
struct sp_blobstore;		/* blobstore.h */

struct keyd {
	struct sp_store *store;
	struct sp_keywrap *kw;
	struct sp_transport *mail;
	char public_url[512];	/* no trailing '/' */
	char origin[512];	/* scheme://host[:port] of public_url */
	int https;
	size_t max_body;
	size_t max_envelope;
	struct sp_throttle_policy thr_email;	/* log-in failures per address */
	struct sp_throttle_policy thr_ip;	/* log-in failures per client */
	struct sp_throttle_policy thr_mail;	/* account mails per address */
	struct sp_throttle_policy thr_form;	/* registrations / mail requests per client */
	struct keyd_cidr proxies[KEYD_MAX_PROXIES];
	int nproxies;
	unsigned max_conns;			/* all connections */
	unsigned max_conns_client;		/* per client address (proxies exempt) */
	struct keyd_conns *conns;
	struct keyd_mailq *mailq;
	struct keyd_work *work;			/* keyd_work.c: heavy requests */
	char rp_id[256];			/* WebAuthn relying party: host of public_url */
	int kh_pid;				/* the key holder (0: none / reaped) */
	char data_dir[4096];			/* audit-anchors lives here */
	int64_t shred_interval;			/* seconds between shredding runs, 0 off */
	int64_t anchor_interval;		/* seconds between audit anchors, 0 off */
	struct keyd_jobs *jobs;
	struct sp_blobstore *copies;		/* ciphertext copies (keyd_copy.c) */
	size_t max_copy;			/* largest copy accepted */
	/* secure reply (keyd_reply.c) */
	size_t max_reply;			/* decoded attachments of one reply */
	struct sp_throttle_policy thr_reply;	/* replies per account */
	struct sp_throttle_policy thr_reply_ip;	/* replies per client */
	char mail_from[321];			/* the sender of the key server's mail */
};

struct keyd_req;	/* keyd_req.h: one request */

/* keyd_config.c: the options (command line, -c FILE), through conf.h. */
struct keyd_config {
	char data_dir[4096];
	char db[1024];			/* store URL; may hold a password */
	char listen[300];
	char public_url[512];		/* "" = http://LISTEN; no trailing '/' */
	int64_t max_body, max_envelope;
	int64_t threads, argon_workers;
	int64_t login_free, login_free_ip, form_free;
	struct keyd_cidr proxies[KEYD_MAX_PROXIES];
	int nproxies;
	int64_t max_connections, max_connections_per_client, idle_timeout;
	char mail_from[321];
	char outbox[4096];
	char sendmail[4096];
	char user[256];
	char keyholder_user[256];
	char keyholder[4096];
	int allow_root;
	int64_t shred_interval, anchor_interval;
	char copies[4200];		/* blob store URL of ciphertext copies; may name a key file */
	int64_t max_copy;
	int64_t max_reply_size, reply_free, reply_free_ip;
	/* the listen address, parsed */
	struct sockaddr_storage listen_addr;
	socklen_t listen_len;
};
struct conf_cmdline;
extern const struct conf_table keyd_conf_table;
/* Defaults, then -c FILE, then the command line (conf_read()); no operands.
 * SP_ERR_CONFIG with "FILE:LINE: key: why" or "--key: why". */
int keyd_config_read(struct keyd_config *c, int argc, char **argv, struct conf_cmdline *cl,
    struct sp_err *err);
/* The derived values: public_url, mail_from, outbox, keyholder_user
 * defaults in c; public URL, origin, WebAuthn id, limits, throttling and
 * proxies in k. */
int keyd_config_finish(struct keyd_config *c, struct keyd *k, struct sp_err *err);
/* "sqlite" or "postgresql": the kind of store db names (for the log; the
 * URL itself is never logged). */
const char *keyd_config_store_kind(const struct keyd_config *c);
/* Wipe the secrets. */
void keyd_config_clear(struct keyd_config *c);


/* keyd_http.c: the MHD access handler (cls = struct keyd *) and the
 * request-completed callback that frees the per-request context. */
enum MHD_Result keyd_handler(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls);
void keyd_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe);

/* keyd_log.c: one line "keyd EVENT key=value ..." through log.h (time
 * stamp in front on stderr); every value passes log_clean().  Call as
 * keyd_log("request", "method", m, "status", s, NULL) with name/value pairs
 * ending in NULL; a NULL value is written "-". */
void keyd_log(const char *event, ...);
int64_t keyd_now_ms(void);

/* keyd_net.c: client addresses and connection limits. */
int keyd_cidr_parse(const char *s, struct keyd_cidr *out);
/* Fill r->peer and r->client: the peer, or when the peer is a trusted
 * proxy, the right-most address of X-Forwarded-For / Forwarded that is not
 * itself a trusted proxy. */
void keyd_client_addr(struct keyd_req *r);
int keyd_conns_new(struct keyd *k);
void keyd_conns_free(struct keyd *k);
/* MHD accept policy and connection notification (cls = struct keyd *). */
enum MHD_Result keyd_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen);
void keyd_conn_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
    enum MHD_ConnectionNotificationCode toe);

/* keyd_mailq.c: account mails leave through one sender thread, so that
 * how long a request takes never depends on whether a mail was sent (no
 * account enumeration by timing) and a slow MTA never holds a request; a
 * mail the transport refuses waits, sealed, in the store's mail queue
 * (store.h) for its next tries, which this or another key server makes. */
int keyd_mailq_start(struct keyd *k, struct sp_err *err);
/* Send what is queued in memory (a refused mail goes to the store's
 * queue), then stop the thread. */
void keyd_mailq_stop(struct keyd *k);
/* Compose the notice of kind (notice.h) to `to` and queue it.  Returns
 * SP_OK when queued; a full queue is logged and dropped (the user can ask
 * again). */
int keyd_notice(struct keyd *k, int kind, const char *to, const char *token,
    const char *ttl_text, const char *detail);
/* keyd_notice() in lang (NULL: the account's language, else English): for
 * a mail to an address that has no account yet. */
int keyd_notice_lang(struct keyd *k, const char *lang, int kind, const char *to,
    const char *token, const char *ttl_text, const char *detail);

/* Compose a notice to a sender (notice.h: SP_NOTICE_READ,
 * SP_NOTICE_VERIFY_LOCKED, SP_NOTICE_WAITING) to `to` and queue it, as
 * keyd_notice(). */
int keyd_notice_sender(struct keyd *k, int kind, const char *to,
    const struct sp_notice_sender *info);
/* keyd_notice_sender() in lang (the organisation's default language;
 * NULL or not offered: English). */
int keyd_notice_sender_lang(struct keyd *k, const char *lang, int kind, const char *to,
    const struct sp_notice_sender *info);

/* keyd_jobs.c: one background thread that shreds the key parts of expired
 * envelopes every k->shred_interval seconds (the first run at start) and
 * writes every audit chain's head to the log and to DATA/audit-anchors
 * every k->anchor_interval seconds.  No thread when both are 0. */
int keyd_jobs_start(struct keyd *k, struct sp_err *err);
/* Stop the thread: it ends after the store call it is in (bounded by the
 * store's own timeouts) and waits for nothing else. */
void keyd_jobs_stop(struct keyd *k);
/* One run of each, for the thread and for tests: the number shredded, or
 * a negative value on a store error (logged). */
int keyd_jobs_shred(struct keyd *k);
int keyd_jobs_anchor(struct keyd *k);

/* keyd_keyholder.c: the key holder process (docs/keyholder.md). */
struct keyd_kh_opts {
	const char *path;	/* the program; NULL: sealpost-keyholder next to keyd */
	const char *data_dir;
	const char *user;	/* --user of the key holder, or NULL */
	int allow_root;
};
/* Start the key holder with one end of a socket pair and connect k->kw to
 * the other (waits for its HELLO answer).  Call before any thread starts. */
int keyd_keyholder_start(struct keyd *k, const struct keyd_kh_opts *o, struct sp_err *err);
/* After SIGCHLD: reap the key holder if it has exited, and log it.  Other
 * children are left alone. */
void keyd_keyholder_reap(struct keyd *k);
/* After SIGHUP: ask the key holder to read its keys again (a RELOAD
 * request over its socket) and log the key id new wraps now use. */
void keyd_keyholder_reload(struct keyd *k);
/* Close the socket (the key holder exits) and wait for it, by its pid:
 * SIGTERM after 5 s, SIGKILL after 5 s more. */
void keyd_keyholder_stop(struct keyd *k);
/* As root: make the data directory and what root made in it (one level
 * down for outbox/ and outbox.tmp/) belong to uid/gid, except the key
 * directory keys/ and master-N.key files, which the key holder owns; what
 * another user owns stays theirs, under any name. */
int keyd_data_chown(const char *dir, uid_t uid, gid_t gid, struct sp_err *err);

#endif

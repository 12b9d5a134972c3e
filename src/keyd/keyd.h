/*
 * keyd.h - internals shared by the files of sealpost-keyd: the server state,
 * the per-request context, reply helpers, templates and logging.  Not a
 * library interface.
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
#define KEYD_MFA_TTL (5 * 60)		/* between password and second factor */
#define KEYD_CHALLENGE_TTL (5 * 60)	/* WebAuthn ceremony */
#define KEYD_REAUTH_AGE (10 * 60)	/* password typed this recently for changes */
#define KEYD_MAX_PROXIES 16
#define KEYD_MAILQ_MAX 1024		/* mails waiting for the sender thread */

/* The one Content-Security-Policy of every answer (docs/api.md). */
#define KEYD_CSP "default-src 'none'; script-src 'self'; " \
	"style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; " \
	"connect-src 'self'; frame-src 'self' blob: data:; " \
	"child-src 'self' blob: data:; form-action 'self'; base-uri 'none'; " \
	"frame-ancestors 'none'"

/* An address range (--trusted-proxy). */
struct keyd_cidr {
	int family;			/* AF_INET or AF_INET6 */
	unsigned char addr[16];
	int bits;
};

struct keyd_conns;	/* keyd_net.c: open connections per client address */
struct keyd_mailq;	/* keyd_mailq.c: the mail sender thread */

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
	char rp_id[256];			/* WebAuthn relying party: host of public_url */
	int login_jobs;				/* log-ins running off the HTTP threads (atomic) */
	int kh_pid;				/* the key holder (0: none / reaped) */
};

#define KEYD_LOGIN_JOBS_MAX 64

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

struct keyd_field {
	char name[32];
	struct sp_buf value;
	int toolong;		/* over KEYD_FIELD_MAX: value holds only its start */
};

struct keyd_req {
	struct keyd *k;
	struct MHD_Connection *conn;
	const char *method;
	const char *url;
	char client[64];		/* client address (forwarded by a trusted proxy) */
	char peer[64];			/* TCP peer address */
	size_t cap;			/* body limit of this request */
	struct sp_buf body;		/* raw body (JSON requests) */
	struct MHD_PostProcessor *pp;	/* form bodies */
	struct keyd_field fields[KEYD_MAX_FIELDS];
	size_t nfields;
	size_t form_bytes;
	int online;			/* POST /online: fields h, c, base64 only */
	int toobig;
	int badform;
	int answered;
	char cookies[3][320];		/* Set-Cookie values of the answer */
	int ncookies;
	int64_t started_ms;
	int64_t retry_after;		/* seconds, for a 429 or 503 answer */
	int async;			/* 1: a worker runs the log-in; 2: it is done */
	struct keyd_login *async_login;	/* the worker's result (owned) */
};

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
void keyd_log_status(struct keyd_req *r, unsigned status);
int64_t keyd_now_ms(void);

/* keyd_http.c: replies.  Each adds the security headers and pending
 * cookies, queues the answer and returns what the MHD handler returns. */
enum MHD_Result keyd_reply(struct keyd_req *r, unsigned status, const char *type,
    const void *body, size_t len, int cacheable);
/* Takes the buffer's storage. */
enum MHD_Result keyd_reply_buf(struct keyd_req *r, unsigned status,
    const char *type, struct sp_buf *body);
enum MHD_Result keyd_reply_json(struct keyd_req *r, unsigned status, void *json);
enum MHD_Result keyd_reply_error(struct keyd_req *r, unsigned status, const char *msg);
void keyd_add_cookie(struct keyd_req *r, const char *name, const char *value,
    const char *attrs);
const char *keyd_header(struct keyd_req *r, const char *name);
const char *keyd_arg(struct keyd_req *r, const char *name);
const char *keyd_cookie(struct keyd_req *r, const char *name);
/* The form field called name (NUL-terminated), or NULL. */
/* A form field as a C string; NULL when absent, and also when it holds a
 * NUL byte or was over KEYD_FIELD_MAX (never a value cut short). */
const char *keyd_field(struct keyd_req *r, const char *name);
/* The raw bytes of a form field: NULL when absent; *len its length (NUL
 * bytes included), *toolong 1 when it was over KEYD_FIELD_MAX. */
const char *keyd_field_raw(struct keyd_req *r, const char *name, size_t *len, int *toolong);
/* 1 when Origin / Sec-Fetch-Site name another site. */
int keyd_cross_site(struct keyd_req *r);
/* The session cookie's name for this server. */
const char *keyd_session_cookie(const struct keyd *k);
int keyd_valid_email(const char *s);
/* Lower-case copy of an address into out; SP_ERR_INVALID if not valid. */
int keyd_email_lower(const char *s, char *out, size_t outsz);
int keyd_valid_id(const char *id);

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
 * account enumeration by timing) and a slow MTA never holds a request. */
int keyd_mailq_start(struct keyd *k, struct sp_err *err);
/* Send what is queued, then stop the thread. */
void keyd_mailq_stop(struct keyd *k);
/* Compose the notice of kind (notice.h) to `to` and queue it.  Returns
 * SP_OK when queued; a full queue is logged and dropped (the user can ask
 * again). */
int keyd_notice(struct keyd *k, int kind, const char *to, const char *token,
    const char *ttl_text, const char *detail);

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
/* After SIGHUP: pass it on to the key holder (it reads its keys again). */
void keyd_keyholder_reload(struct keyd *k);
/* Close the socket (the key holder exits) and wait for it, by its pid:
 * SIGTERM after 5 s, SIGKILL after 5 s more. */
void keyd_keyholder_stop(struct keyd *k);
/* As root: make the data directory and what is in it (one level down for
 * outbox/ and outbox.tmp/) belong to uid/gid, except the key directory
 * keys/ and old-layout master-N.key files, which the key holder owns. */
int keyd_data_chown(const char *dir, uid_t uid, gid_t gid, struct sp_err *err);

/* keyd_login.c: the log-in steps shared by the JSON API and the pages. */
enum keyd_login_status {
	KEYD_LOGIN_OK = 0,	/* session made: token, csrf filled */
	KEYD_LOGIN_MFA,		/* password right, second factor due: mfa_token filled */
	KEYD_LOGIN_BAD,		/* wrong address, password or code (same answer) */
	KEYD_LOGIN_LOCKED,	/* throttled: retry_after seconds */
	KEYD_LOGIN_BUSY,	/* password workers or store busy: try again */
	KEYD_LOGIN_INVALID,	/* malformed field: field names it */
	KEYD_LOGIN_ERROR,	/* internal error (logged) */
};
struct keyd_login {
	int status;
	const char *field;		/* KEYD_LOGIN_INVALID: the field's name */
	const char *why;		/* KEYD_LOGIN_INVALID: what is wrong */
	int64_t retry_after;
	char email[SP_STORE_EMAIL_MAX + 1];
	char token[64];			/* session token (OK) */
	char csrf[SP_STORE_CSRF_MAX + 1];
	char mfa_token[64];		/* MFA */
	int has_totp, npasskeys, nrecovery;
	int via_recovery;
};
/* Check email + password.  signin_token (may be NULL): a mailed sign-in
 * link's token; when valid, the per-client lock is skipped (the account's
 * own lock still holds).  On OK a session is made and its cookie set. */
void keyd_login_password(struct keyd_req *r, const char *email, const char *password,
    const char *signin_token, struct keyd_login *out);
/* Second step: mfa_token and one of code (TOTP), recovery (a recovery
 * code) or assertion (WebAuthn JSON object: id, clientDataJSON,
 * authenticatorData, signature, all base64url). */
void keyd_login_second(struct keyd_req *r, const char *mfa_token, const char *code,
    const char *recovery, void *assertion, struct keyd_login *out);
void keyd_login_wipe(struct keyd_login *l);
/* The caller's session: bearer "sps_" token, or the session cookie (then
 * with want_csrf the X-CSRF-Token header or the csrf form field must match
 * the session's).  SP_ERR_AUTH when there is none, SP_ERR_DENIED on a
 * missing or wrong CSRF token. */
int keyd_session_auth(struct keyd_req *r, int want_csrf, struct sp_session *s,
    struct sp_err *err);
void keyd_set_session_cookie(struct keyd_req *r, const char *value, int clear);
/* WebAuthn: a fresh challenge (base64url into out[64]) stored for email
 * ("" before log-in). */
int keyd_challenge_new(struct keyd_req *r, const char *email, char out[64]);
/* Check and consume the challenge inside clientDataJSON (raw bytes):
 * SP_OK when it was issued by us for email and is fresh; raw gets the
 * challenge bytes (32). */
int keyd_challenge_take(struct keyd_req *r, const char *email,
    const unsigned char *client_data, size_t len, unsigned char raw[32]);

/* keyd_account.c: forgot password, reset, resend activation, sign-in
 * link pages. */
enum MHD_Result keyd_page_forgot(struct keyd_req *r);
enum MHD_Result keyd_page_reset(struct keyd_req *r);
enum MHD_Result keyd_page_resend(struct keyd_req *r);
enum MHD_Result keyd_page_signin_link(struct keyd_req *r);
enum MHD_Result keyd_page_signin(struct keyd_req *r);
enum MHD_Result keyd_page_signin_mfa(struct keyd_req *r);

/* keyd_security.c: the signed-in recipient's security page and its APIs. */
enum MHD_Result keyd_page_account(struct keyd_req *r, const char *sub);
enum MHD_Result keyd_api_passkeys(struct keyd_req *r, const char *sub);
enum MHD_Result keyd_api_mfa(struct keyd_req *r, const char *sub);

/* keyd_http.c: one form field checked as text (field.h): returns the
 * normalised copy (caller frees) or NULL with *why set. */
char *keyd_field_text(struct keyd_req *r, const char *name, size_t max, int required,
    const char **why);
/* A 400 answer naming the field: a page, or {"error":..,"field":..}. */
enum MHD_Result keyd_reply_field(struct keyd_req *r, const char *field, const char *why);
/* 303 to a local path. */
enum MHD_Result keyd_redirect(struct keyd_req *r, const char *path);

/* keyd_api.c */
enum MHD_Result keyd_api_deposit(struct keyd_req *r);
enum MHD_Result keyd_api_session(struct keyd_req *r);
enum MHD_Result keyd_api_release(struct keyd_req *r, const char *id);

/* keyd_pages.c */
extern const char *const keyd_questions[];	/* the security questions, 1-based in accounts */
extern const int keyd_nquestions;
enum MHD_Result keyd_page_register(struct keyd_req *r);
enum MHD_Result keyd_page_activate(struct keyd_req *r);
/* A whole page from page.html: title, heading and body fragment (raw). */
enum MHD_Result keyd_page_simple(struct keyd_req *r, unsigned status,
    const char *title, const char *html_body);
/* The CSRF token of this browser: the sp_csrf cookie, or a new one (set as
 * cookie on the answer).  out has room for 64 bytes. */
void keyd_csrf_token(struct keyd_req *r, char out[64]);
/* 1 when a form post carries a valid CSRF token from this site. */
int keyd_csrf_ok(struct keyd_req *r);
/* The page for a form refused by keyd_csrf_ok(). */
enum MHD_Result keyd_csrf_refused(struct keyd_req *r);
/* 1 when s is min..max characters of the base64url alphabet. */
int keyd_token_shape(const char *s, size_t min, size_t max);

/* keyd_open.c */
enum MHD_Result keyd_page_open(struct keyd_req *r);
enum MHD_Result keyd_static(struct keyd_req *r, const char *name);

/* keyd_tmpl.c: replace {{NAME}} in tmpl with the HTML-escaped value of the
 * var of that name (raw: the value is an HTML fragment built by keyd itself
 * from escaped parts).  Unknown names become empty. */
struct keyd_var {
	const char *name;
	const char *value;
	size_t len;		/* 0 = strlen(value) */
	int raw;
};
int keyd_tmpl(const char *tmpl, size_t tlen, const struct keyd_var *vars, size_t nvars,
    struct sp_buf *out);

#endif

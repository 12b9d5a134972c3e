/*
 * keyd_login.c - signing in: the password step (with per-address and
 * per-client throttling counted atomically before any password work), the
 * second step (TOTP code, recovery code or passkey), and sessions and
 * their cookie.  The JSON API (keyd_api.c) and the
 * server-rendered sign-in pages (keyd_account.c) both use these.
 * SECURITY: the answer to a failed step is the same whether or not the
 * account exists (an Argon2 verify is spent either way and the same
 * counters move); every attempt is counted before it is checked, so
 * parallel guesses cannot exceed the limits; a new session token at every
 * log-in; second-step and challenge tokens are single use, stored hashed.
 */
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "crypto.h"
#include "keyd_factors.h"
#include "keyd_login.h"
#include "notice.h"
#include "password.h"

static void
token_hash(const char *tok, unsigned char out[SP_SHA256_LEN])
{
	sp_sha256(tok, strlen(tok), out);
}

enum sp_release_auth
keyd_session_how(const struct sp_session *s)
{
	return strcmp(s->via, "device") == 0 ? SP_RELEASE_AUTH_DEVICE : SP_RELEASE_AUTH_PASSWORD;
}

int
keyd_session_auth(struct keyd_req *r, int want_csrf, struct sp_session *s,
    struct sp_err *err)
{
	const char *tok = keyd_bearer(r), *csrf;
	unsigned char h[SP_SHA256_LEN];
	int cookie = 0, st;

	memset(s, 0, sizeof(*s));
	if (tok == NULL || strncmp(tok, "sps_", 4) != 0) {
		if ((tok = keyd_cookie(r, keyd_session_cookie(r->k))) == NULL ||
		    strncmp(tok, "sps_", 4) != 0)
			return SP_ERR_AUTH;
		cookie = 1;
	}
	token_hash(tok, h);
	st = sp_store_session_use(r->k->store, h, (int64_t)time(NULL), KEYD_SESSION_IDLE, s, err);
	if (st == SP_ERR_NOTFOUND)
		return SP_ERR_AUTH;
	if (st != SP_OK)
		return st;
	if (cookie && want_csrf) {
		if ((csrf = keyd_header(r, "X-CSRF-Token")) == NULL)
			csrf = keyd_field(r, "csrf");
		if (csrf == NULL || strlen(csrf) != strlen(s->csrf) ||
		    !sp_ct_eq(csrf, s->csrf, strlen(csrf)) || keyd_cross_site(r))
			return SP_ERR_DENIED;
	}
	return SP_OK;
}

void
keyd_set_session_cookie(struct keyd_req *r, const char *value, int clear)
{
	char attrs[128];

	snprintf(attrs, sizeof(attrs), "Path=/; HttpOnly; SameSite=Lax%s%s",
	    r->k->https ? "; Secure" : "", clear ? "; Max-Age=0" : "");
	keyd_add_cookie(r, keyd_session_cookie(r->k), value, attrs);
}

void
keyd_login_wipe(struct keyd_login *l)
{
	sp_wipe(l, sizeof(*l));
}

static void
set_status(struct keyd_login *out, int status)
{
	out->status = status;
}

/* A new session for email, replacing the browser's old one. */
static void
session_start(struct keyd_req *r, const char *email, const char *how, struct keyd_login *out)
{
	struct sp_err err = {{0}};
	struct sp_session s;
	struct sp_audit a;
	const char *old;
	int64_t now = (int64_t)time(NULL);
	int st;

	if ((old = keyd_cookie(r, keyd_session_cookie(r->k))) != NULL) {
		unsigned char oh[SP_SHA256_LEN];

		token_hash(old, oh);
		sp_store_session_delete(r->k->store, oh, NULL, NULL);
	}
	memset(&s, 0, sizeof(s));
	if (sp_token_new(out->token, sizeof(out->token), "sps_", 16) != SP_OK ||
	    sp_token_new(s.csrf, sizeof(s.csrf), "", 16) != SP_OK) {
		set_status(out, KEYD_LOGIN_ERROR);
		return;
	}
	token_hash(out->token, s.hash);
	snprintf(s.email, sizeof(s.email), "%s", email);
	s.created = s.last_seen = s.auth_time = now;
	s.expires = now + KEYD_SESSION_MAX;
	snprintf(s.via, sizeof(s.via), "%s", how);
	/* a remembered device is no password: the profile's changes ask for
	 * it again (auth_time 1 is never recent) */
	if (strcmp(how, "device") == 0)
		s.auth_time = 1;
	a = (struct sp_audit){now, "login", email, NULL, r->client, how, 0};
	if ((st = sp_store_session_create(r->k->store, &s, &a, &err)) != SP_OK) {
		keyd_log("store-error", "path", r->url, "error", sp_err_msg(&err, st), NULL);
		sp_wipe(out->token, sizeof(out->token));
		set_status(out, st == SP_ERR_RETRY ? KEYD_LOGIN_BUSY : KEYD_LOGIN_ERROR);
		return;
	}
	if (out->email != email)
		snprintf(out->email, sizeof(out->email), "%s", email);
	snprintf(out->csrf, sizeof(out->csrf), "%s", s.csrf);
	keyd_set_session_cookie(r, out->token, 0);
	set_status(out, KEYD_LOGIN_OK);
}

void
keyd_login_session(struct keyd_req *r, const char *email, const char *how,
    struct keyd_login *out)
{
	memset(out, 0, sizeof(*out));
	session_start(r, email, how, out);
}

/* Count one attempt under key; 1 when it may go ahead. */
static int
attempt(struct keyd_req *r, const char *key, const struct sp_throttle_policy *p,
    struct keyd_login *out)
{
	struct sp_err err = {{0}};
	int64_t until = 0, now = (int64_t)time(NULL);
	int st = sp_store_throttle_begin(r->k->store, key, now, p, &until, &err);

	if (st != SP_OK) {
		keyd_log("store-error", "path", r->url, "error", sp_err_msg(&err, st), NULL);
		set_status(out, st == SP_ERR_RETRY ? KEYD_LOGIN_BUSY : KEYD_LOGIN_ERROR);
		return 0;
	}
	if (until > now) {
		out->retry_after = until - now;
		set_status(out, KEYD_LOGIN_LOCKED);
		keyd_log("login-throttled", "key", strncmp(key, "ip:", 3) == 0 ? "client" : "account",
		    "client", r->client, NULL);
		if (strncmp(key, "email:", 6) == 0) {
			/* a refused attempt on a locked address joins the audit
			 * trail (the global chain); a client's lock is logged only */
			char detail[48];
			struct sp_audit a = { .time = now, .event = "login-locked",
			    .actor = key + 6, .client = r->client, .detail = detail };

			snprintf(detail, sizeof(detail), "locked until %lld", (long long)until);
			if ((st = sp_store_audit(r->k->store, &a, &err)) != SP_OK)
				keyd_log("store-error", "path", r->url, "error",
				    sp_err_msg(&err, st), NULL);
		}
		return 0;
	}
	return 1;
}

void
keyd_login_password(struct keyd_req *r, const char *email_in, const char *pw,
    const char *signin_token, struct keyd_login *out)
{
	struct sp_err err = {{0}};
	struct sp_account acc;
	struct sp_audit a;
	struct sp_token_rec tr;
	unsigned char sh[SP_SHA256_LEN];
	char key_email[SP_STORE_EMAIL_MAX + 8], key_ip[96], key_link[8 + 2 * SP_SHA256_LEN];
	char detail[32];
	int64_t now = (int64_t)time(NULL);
	int st, found, link = 0;

	memset(out, 0, sizeof(*out));
	memset(&acc, 0, sizeof(acc));
	if (email_in == NULL || keyd_email_lower(email_in, out->email, sizeof(out->email)) != SP_OK) {
		out->field = "email";
		out->why = "enter a valid email address, such as name@example.org";
		set_status(out, KEYD_LOGIN_INVALID);
		return;
	}
	if (pw == NULL || *pw == '\0' || strlen(pw) > SP_PW_MAX_BYTES) {
		out->field = "password";
		out->why = pw == NULL || *pw == '\0' ? "enter your password" : "the password is too long";
		set_status(out, KEYD_LOGIN_INVALID);
		return;
	}
	if (signin_token != NULL && *signin_token != '\0') {
		/* A mailed sign-in link proves the mailbox: its password tries
		 * count against the link alone, not the client's address nor
		 * the account, which strangers may have locked by guessing */
		token_hash(signin_token, sh);
		if (sp_store_token_peek(r->k->store, SP_TOKEN_SIGNIN, sh, now, &tr, NULL) == SP_OK &&
		    strcmp(tr.email, out->email) == 0)
			link = 1;
	}
	snprintf(key_email, sizeof(key_email), "email:%s", out->email);
	snprintf(key_ip, sizeof(key_ip), "ip:%s", r->client_key);
	if (link) {
		memcpy(key_link, "signin:", 7);
		sp_hex_encode(sh, SP_SHA256_LEN, key_link + 7);
		if (!attempt(r, key_link, &r->k->thr_email, out))
			return;
	}
	if (!link && (!attempt(r, key_email, &r->k->thr_email, out) ||
	    !attempt(r, key_ip, &r->k->thr_ip, out)))
		return;
	st = sp_store_account_get(r->k->store, out->email, &acc, &err);
	if (st != SP_OK && st != SP_ERR_NOTFOUND) {
		keyd_log("store-error", "path", r->url, "error", sp_err_msg(&err, st), NULL);
		set_status(out, st == SP_ERR_RETRY ? KEYD_LOGIN_BUSY : KEYD_LOGIN_ERROR);
		return;
	}
	found = st == SP_OK;
	st = sp_password_verify(found ? acc.pw_hash : NULL, pw, &err);
	if (st == SP_ERR_RETRY) {
		/* Not a guess: give the counted attempts back. */
		sp_store_throttle_undo(r->k->store, link ? key_link : key_email, NULL);
		if (!link)
			sp_store_throttle_undo(r->k->store, key_ip, NULL);
		sp_wipe(&acc, sizeof(acc));
		set_status(out, KEYD_LOGIN_BUSY);
		return;
	}
	if (st != SP_OK) {
		snprintf(detail, sizeof(detail), "failures=%d", found ? acc.failed_logins + 1 : 0);
		a = (struct sp_audit){now, "login-failed", found ? out->email : "(unknown)",
		    NULL, r->client, detail, 0};
		sp_store_login_failed(r->k->store, found ? out->email : "", &a, NULL);
		sp_wipe(&acc, sizeof(acc));
		keyd_log("login-failed", "client", r->client, NULL);
		set_status(out, KEYD_LOGIN_BAD);
		return;
	}
	/* the owner is in: the account's lock goes */
	sp_store_throttle_reset(r->k->store, key_email, NULL);
	if (!link)
		sp_store_throttle_undo(r->k->store, key_ip, NULL);
	if (link) {
		sp_store_throttle_reset(r->k->store, key_link, NULL);
		sp_store_token_use(r->k->store, SP_TOKEN_SIGNIN, sh, now, &tr, NULL, NULL);
	}
	out->has_totp = acc.totp_wrapped_len > 0;
	out->npasskeys = acc.npasskeys;
	out->nrecovery = acc.nrecovery;
	sp_wipe(&acc, sizeof(acc));
	if (out->has_totp || out->npasskeys > 0) {
		int issued = 0;

		if (sp_token_new(out->mfa_token, sizeof(out->mfa_token), "spm_", 16) != SP_OK) {
			set_status(out, KEYD_LOGIN_ERROR);
			return;
		}
		token_hash(out->mfa_token, sh);
		a = (struct sp_audit){now, "login-password-ok", out->email, NULL, r->client,
		    "second factor due", 0};
		st = sp_store_token_issue(r->k->store, SP_TOKEN_MFA, out->email, sh, now,
		    now + KEYD_MFA_TTL, NULL, NULL, &issued, &a, &err);
		if (st != SP_OK || !issued) {
			keyd_log("store-error", "path", r->url, "error", sp_err_msg(&err, st), NULL);
			sp_wipe(out->mfa_token, sizeof(out->mfa_token));
			set_status(out, st == SP_ERR_RETRY ? KEYD_LOGIN_BUSY : KEYD_LOGIN_ERROR);
			return;
		}
		set_status(out, KEYD_LOGIN_MFA);
		return;
	}
	session_start(r, out->email, "password", out);
}

void
keyd_login_second(struct keyd_req *r, const char *mfa_token, const char *code,
    const char *recovery, void *assertion, struct keyd_login *out)
{
	struct sp_err err = {{0}};
	struct sp_token_rec tr;
	struct sp_audit a;
	unsigned char th[SP_SHA256_LEN];
	char key[SP_STORE_EMAIL_MAX + 8];
	const char *how = NULL;
	int64_t now = (int64_t)time(NULL);
	int st;

	memset(out, 0, sizeof(*out));
	if (mfa_token == NULL || strncmp(mfa_token, "spm_", 4) != 0 || strlen(mfa_token) > 60) {
		out->field = "mfa_token";
		out->why = "the sign-in step is missing or malformed";
		set_status(out, KEYD_LOGIN_INVALID);
		return;
	}
	token_hash(mfa_token, th);
	st = sp_store_token_peek(r->k->store, SP_TOKEN_MFA, th, now, &tr, &err);
	if (st == SP_ERR_NOTFOUND || st == SP_ERR_EXPIRED) {
		out->why = "expired";
		set_status(out, KEYD_LOGIN_BAD);
		return;
	}
	if (st != SP_OK) {
		set_status(out, st == SP_ERR_RETRY ? KEYD_LOGIN_BUSY : KEYD_LOGIN_ERROR);
		return;
	}
	snprintf(out->email, sizeof(out->email), "%s", tr.email);
	snprintf(out->mfa_token, sizeof(out->mfa_token), "%s", mfa_token);
	{
		struct sp_account acc;

		if (sp_store_account_get(r->k->store, tr.email, &acc, NULL) == SP_OK) {
			out->has_totp = acc.totp_wrapped_len > 0;
			out->npasskeys = acc.npasskeys;
			out->nrecovery = acc.nrecovery;
		}
		sp_wipe(&acc, sizeof(acc));
	}
	snprintf(key, sizeof(key), "mfa:%s", tr.email);
	if (!attempt(r, key, &r->k->thr_email, out))
		return;
	if (code != NULL && *code != '\0') {
		st = keyd_factor_totp_check(r, tr.email, code);
		how = "totp";
	} else if (recovery != NULL && *recovery != '\0') {
		st = keyd_factor_recovery_use(r, tr.email, recovery);
		how = "recovery-code";
		out->via_recovery = st == SP_OK;
	} else if (assertion != NULL) {
		st = keyd_factor_passkey_check(r, tr.email, (json_t *)assertion);
		how = "passkey";
	} else {
		out->field = "code";
		out->why = "enter the code from your authenticator app";
		set_status(out, KEYD_LOGIN_INVALID);
		return;
	}
	if (st != SP_OK) {
		a = (struct sp_audit){now, "login-second-failed", tr.email, NULL, r->client, how, 0};
		sp_store_audit(r->k->store, &a, NULL);
		set_status(out, st == SP_ERR_RETRY ? KEYD_LOGIN_BUSY : KEYD_LOGIN_BAD);
		return;
	}
	if (sp_store_token_use(r->k->store, SP_TOKEN_MFA, th, now, &tr, NULL, &err) != SP_OK) {
		out->why = "expired";
		set_status(out, KEYD_LOGIN_BAD);
		return;
	}
	sp_store_throttle_reset(r->k->store, key, NULL);
	if (out->via_recovery)
		keyd_notice(r->k, SP_NOTICE_RECOVERY_USED, tr.email, NULL, NULL, NULL);
	session_start(r, tr.email, how, out);
}

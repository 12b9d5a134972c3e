/*
 * keyd_api.c - the machine API of docs/api.md: key deposit by an
 * organisation, recipient log-in / session / log-out, key release (the
 * decision is release.h's), and /healthz.
 * SECURITY: authenticates organisations and recipients; tokens are looked
 * up by SHA-256 only; server key parts are generated here, wrapped under the
 * master key before storage and wiped after use; the answer to a failed
 * log-in is the same whether or not the account exists (an Argon2 verify
 * is spent either way); every release and refusal is audited.
 */
#include <ctype.h>
#include <glib.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "crypto.h"
#include "envelope.h"
#include "keyd_api.h"
#include "keyd_factors.h"
#include "keyd_login.h"
#include "password.h"
#include "release.h"

static void
token_hash(const char *tok, unsigned char out[SP_SHA256_LEN])
{
	sp_sha256(tok, strlen(tok), out);
}

static enum MHD_Result
store_error(struct keyd_req *r, int st, const struct sp_err *err)
{
	keyd_log("store-error", "path", r->url, "error", sp_err_msg(err, st), NULL);
	if (st == SP_ERR_RETRY)
		return keyd_reply_error(r, 503, "busy, try again");
	return keyd_reply_error(r, 500, "internal error");
}

/* --- deposit ------------------------------------------------------------- */

enum MHD_Result
keyd_api_deposit(struct keyd_req *r, const char *arg)
{
	struct sp_err err = {{0}};
	struct sp_org org;
	struct sp_envelope_rec e;
	struct sp_audit a;
	unsigned char h[SP_SHA256_LEN], idraw[SP_ENV_ID_LEN], part[SP_KEY_LEN];
	char *rcpt_store[SP_ENV_MAX_RECIPIENTS];
	char actor[SP_STORE_NAME_MAX + 8], detail[64];
	struct sp_buf b64;
	const char *tok = keyd_bearer(r), *from;
	json_t *j = NULL, *rc, *v, *ans;
	json_int_t expires = 0;
	size_t i, n = 0;
	int st;
	enum MHD_Result ret;

	if (tok == NULL || strncmp(tok, "spo_", 4) != 0)
		return keyd_reply_error(r, 401, "unknown or missing organisation token");
	token_hash(tok, h);
	if ((st = sp_store_org_by_token(r->k->store, h, &org, &err)) == SP_ERR_NOTFOUND)
		return keyd_reply_error(r, 401, "unknown or missing organisation token");
	if (st != SP_OK)
		return store_error(r, st, &err);
	if ((j = keyd_json_body(r, JSON_REJECT_DUPLICATES)) == NULL)
		return keyd_reply_error(r, 400, "the body must be a JSON object");
	from = json_string_value(json_object_get(j, "from"));
	rc = json_object_get(j, "recipients");
	v = json_object_get(j, "expires");
	if (from == NULL || !keyd_valid_email(from)) {
		json_decref(j);
		return keyd_reply_error(r, 400, "\"from\" must be an email address");
	}
	if (!json_is_array(rc) || json_array_size(rc) == 0 ||
	    json_array_size(rc) > SP_ENV_MAX_RECIPIENTS) {
		json_decref(j);
		return keyd_reply_error(r, 400, "\"recipients\" must list 1 to 500 addresses");
	}
	if (v != NULL && !json_is_null(v) && (!json_is_integer(v) ||
	    (expires = json_integer_value(v)) < 0)) {
		json_decref(j);
		return keyd_reply_error(r, 400, "\"expires\" must be a unix time or 0");
	}
	memset(&e, 0, sizeof(e));
	for (i = 0; i < json_array_size(rc); i++) {
		const char *s = json_string_value(json_array_get(rc, i));
		char low[SP_STORE_EMAIL_MAX + 1];

		if (s == NULL || keyd_email_lower(s, low, sizeof(low)) != SP_OK ||
		    (rcpt_store[n] = strdup(low)) == NULL) {
			while (n > 0)
				free(rcpt_store[--n]);
			json_decref(j);
			return keyd_reply_error(r, 400, "each recipient must be an email address");
		}
		n++;
	}
	e.rcpt = rcpt_store;
	e.nrcpt = n;
	e.org_id = org.id;
	snprintf(e.from, sizeof(e.from), "%s", from);
	e.created = (int64_t)time(NULL);
	e.expires = (int64_t)expires;
	sp_buf_init(&b64, 128);
	st = sp_random(idraw, sizeof(idraw));
	if (st == SP_OK)
		st = sp_b64url_encode(&b64, idraw, sizeof(idraw));
	if (st == SP_OK) {
		snprintf(e.id, sizeof(e.id), "%s", (const char *)b64.data);
		sp_buf_reset(&b64);
		st = sp_random(part, sizeof(part));
	}
	if (st == SP_OK)
		st = sp_keywrap_wrap(r->k->kw, e.id, part, e.wrapped, &e.key_id, &err);
	e.wrapped_len = SP_KEYWRAP_LEN;
	if (st == SP_OK) {
		snprintf(actor, sizeof(actor), "org:%s", org.name);
		snprintf(detail, sizeof(detail), "recipients=%zu", n);
		a = (struct sp_audit){e.created, "deposit", actor, e.id, r->client, detail, 0};
		st = sp_store_envelope_add(r->k->store, &e, &a, &err);
	}
	for (i = 0; i < n; i++)
		free(rcpt_store[i]);
	json_decref(j);
	if (st != SP_OK) {
		sp_wipe(part, sizeof(part));
		sp_buf_wipe(&b64);
		return store_error(r, st, &err);
	}
	sp_b64url_encode(&b64, part, sizeof(part));
	sp_wipe(part, sizeof(part));
	ans = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I}", "id", e.id, "server_part",
	    b64.data ? (const char *)b64.data : "", "org", org.name, "keyd", r->k->public_url,
	    "created", (json_int_t)e.created, "expires", (json_int_t)e.expires);
	sp_buf_wipe(&b64);
	keyd_log("deposit", "org", org.name, "id", e.id, "client", r->client, NULL);
	ret = keyd_reply_json(r, 201, ans);
	return ret;
}

/* --- sessions ------------------------------------------------------------ */

/* The JSON answer of a log-in step. */
static enum MHD_Result
login_answer(struct keyd_req *r, struct keyd_login *l, int second)
{
	enum MHD_Result ret;
	json_t *m;
	char msg[160];

	switch (l->status) {
	case KEYD_LOGIN_OK:
		ret = keyd_reply_json(r, 200, json_pack("{s:s,s:s,s:s}", "session", l->token,
		    "email", l->email, "csrf", l->csrf));
		break;
	case KEYD_LOGIN_MFA:
		m = json_array();
		if (l->has_totp)
			json_array_append_new(m, json_string("totp"));
		if (l->npasskeys > 0)
			json_array_append_new(m, json_string("passkey"));
		if (l->nrecovery > 0)
			json_array_append_new(m, json_string("recovery"));
		ret = keyd_reply_json(r, 200, json_pack("{s:{s:s,s:o}}", "second_factor",
		    "token", l->mfa_token, "methods", m));
		break;
	case KEYD_LOGIN_INVALID:
		ret = keyd_reply_field(r, l->field, l->why);
		break;
	case KEYD_LOGIN_LOCKED:
		snprintf(msg, sizeof(msg), "too many failed attempts: try again in %lld seconds",
		    (long long)l->retry_after);
		r->retry_after = l->retry_after;
		ret = keyd_reply_json(r, 429, json_pack("{s:s,s:s}", "error", msg,
		    "signin_link", "/signin-link"));
		break;
	case KEYD_LOGIN_BUSY:
		ret = keyd_reply_error(r, 503, "busy, try again");
		break;
	case KEYD_LOGIN_BAD:
		ret = keyd_reply_error(r, 401, l->why && strcmp(l->why, "expired") == 0 ?
		    "this sign-in took too long: start again" : second ?
		    "wrong code or passkey" : "wrong email or password");
		break;
	default:
		ret = keyd_reply_error(r, 500, "internal error");
	}
	keyd_login_wipe(l);
	return ret;
}

/*
 * A log-in spends an Argon2id verify (tens of milliseconds, and up to 2 s
 * waiting for a password worker).  Done on an HTTP thread it would stall
 * every other connection of that thread, key releases included; so the
 * connection is suspended and a short-lived thread does the log-in, then
 * resumes it, and the handler answers with the result.
 */
struct login_job {
	struct keyd_req *r;
	char *email, *pw, *signin;
};

static void
job_free(struct login_job *jb)
{
	if (jb->pw != NULL)
		sp_wipe(jb->pw, strlen(jb->pw));
	if (jb->signin != NULL)
		sp_wipe(jb->signin, strlen(jb->signin));
	free(jb->email);
	free(jb->pw);
	free(jb->signin);
	free(jb);
}

static void *
login_worker(void *arg)
{
	struct login_job *jb = arg;
	struct keyd_req *r = jb->r;
	struct keyd *k = r->k;

	keyd_login_password(r, jb->email, jb->pw, jb->signin, r->async_login);
	job_free(jb);
	r->async = 2;
	/* r belongs to MHD again from here on. */
	MHD_resume_connection(r->conn);
	__atomic_sub_fetch(&k->login_jobs, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static char *
dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* 1 when the log-in went to a worker (the connection is suspended). */
static int
login_async(struct keyd_req *r, const char *e, const char *pw, const char *signin)
{
	struct login_job *jb;
	pthread_attr_t at;
	pthread_t t;

	if (__atomic_add_fetch(&r->k->login_jobs, 1, __ATOMIC_SEQ_CST) > KEYD_LOGIN_JOBS_MAX)
		goto no;
	if ((jb = calloc(1, sizeof(*jb))) == NULL)
		goto no;
	jb->r = r;
	jb->email = dup_or_null(e);
	jb->pw = dup_or_null(pw);
	jb->signin = dup_or_null(signin);
	if ((e && !jb->email) || (pw && !jb->pw) || (signin && !jb->signin) ||
	    (r->async_login = calloc(1, sizeof(*r->async_login))) == NULL) {
		job_free(jb);
		goto no;
	}
	r->async = 1;
	MHD_suspend_connection(r->conn);
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &at, login_worker, jb) != 0) {
		pthread_attr_destroy(&at);
		MHD_resume_connection(r->conn);
		r->async = 0;
		free(r->async_login);
		r->async_login = NULL;
		job_free(jb);
		goto no;
	}
	pthread_attr_destroy(&at);
	return 1;
no:
	__atomic_sub_fetch(&r->k->login_jobs, 1, __ATOMIC_SEQ_CST);
	return 0;
}

enum MHD_Result
keyd_api_login(struct keyd_req *r, const char *arg)
{
	struct keyd_login l;
	json_t *j;
	const char *e, *pw;
	char key[32];

	if (r->async == 1)
		return MHD_YES;		/* woken early: the worker still runs */
	if (r->async == 2) {
		enum MHD_Result ret = login_answer(r, r->async_login, 0);

		free(r->async_login);
		r->async_login = NULL;
		r->async = 0;
		return ret;
	}
	if (keyd_cross_site(r))
		return keyd_reply_error(r, 403, "cross-site request refused");
	if (keyd_json_bad_utf8(r, key)) {
		if (key[0] != '\0')
			return keyd_reply_field(r, key, "is not valid UTF-8 text");
		return keyd_reply_error(r, 400, "the body is not valid UTF-8");
	}
	/* NUL is let through the parser so that it is refused by name below,
	 * never used as the end of a shorter address or password. */
	if ((j = keyd_json_body(r, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL)) == NULL)
		return keyd_reply_error(r, 400, "the body must be a JSON object");
	e = json_string_value(json_object_get(j, "email"));
	pw = json_string_value(json_object_get(j, "password"));
	if (json_object_get(j, "email") != NULL && e == NULL) {
		json_decref(j);
		return keyd_reply_field(r, "email", "must be a string");
	}
	if (json_object_get(j, "password") != NULL && pw == NULL) {
		json_decref(j);
		return keyd_reply_field(r, "password", "must be a string");
	}
	if (e != NULL && strlen(e) != json_string_length(json_object_get(j, "email"))) {
		json_decref(j);
		return keyd_reply_field(r, "email", "contains a NUL character");
	}
	if (pw != NULL && strlen(pw) != json_string_length(json_object_get(j, "password"))) {
		json_decref(j);
		return keyd_reply_field(r, "password", "contains a NUL character");
	}
	if (login_async(r, e, pw, json_string_value(json_object_get(j, "signin")))) {
		json_decref(j);
		return MHD_YES;
	}
	if (__atomic_load_n(&r->k->login_jobs, __ATOMIC_SEQ_CST) >= KEYD_LOGIN_JOBS_MAX) {
		json_decref(j);
		return keyd_reply_error(r, 503, "busy, try again");
	}
	keyd_login_password(r, e, pw, json_string_value(json_object_get(j, "signin")), &l);
	json_decref(j);
	return login_answer(r, &l, 0);
}

/* POST /api/v1/session/mfa {token, code | recovery | assertion}. */
enum MHD_Result
keyd_api_login_second(struct keyd_req *r, const char *arg)
{
	struct keyd_login l;
	json_t *j, *as;

	if (keyd_cross_site(r))
		return keyd_reply_error(r, 403, "cross-site request refused");
	if ((j = keyd_json_body(r, JSON_REJECT_DUPLICATES)) == NULL)
		return keyd_reply_error(r, 400, "the body must be a JSON object");
	as = json_object_get(j, "assertion");
	keyd_login_second(r, json_string_value(json_object_get(j, "token")),
	    json_string_value(json_object_get(j, "code")),
	    json_string_value(json_object_get(j, "recovery")),
	    json_is_object(as) ? as : NULL, &l);
	json_decref(j);
	return login_answer(r, &l, 1);
}

enum MHD_Result
keyd_api_mfa_challenge(struct keyd_req *r, const char *arg)
{
	return keyd_factor_passkey_options(r);
}

enum MHD_Result
keyd_api_session(struct keyd_req *r, const char *arg)
{
	struct sp_err err = {{0}};
	struct sp_session s;
	int st;

	if ((st = keyd_session_auth(r, 0, &s, &err)) == SP_ERR_AUTH)
		return keyd_reply_error(r, 401, "not logged in");
	if (st != SP_OK)
		return store_error(r, st, &err);
	return keyd_reply_json(r, 200, json_pack("{s:s,s:s}", "email", s.email,
	    "csrf", s.csrf));
}

enum MHD_Result
keyd_api_logout(struct keyd_req *r, const char *arg)
{
	struct sp_err err = {{0}};
	struct sp_session s;
	struct sp_audit a;
	int st;

	if ((st = keyd_session_auth(r, 1, &s, &err)) == SP_ERR_AUTH)
		return keyd_reply_error(r, 401, "not logged in");
	if (st == SP_ERR_DENIED)
		return keyd_reply_error(r, 403, "missing or wrong CSRF token");
	if (st != SP_OK)
		return store_error(r, st, &err);
	a = (struct sp_audit){0, "logout", s.email, NULL, r->client, NULL, 0};
	st = sp_store_session_delete(r->k->store, s.hash, &a, &err);
	if (st != SP_OK && st != SP_ERR_NOTFOUND)
		return store_error(r, st, &err);
	keyd_set_session_cookie(r, "", 1);
	return keyd_reply(r, 204, "application/json", "", 0, 0);
}

/* --- health -------------------------------------------------------------- */

enum MHD_Result
keyd_api_healthz(struct keyd_req *r, const char *arg)
{
	/* without its key holder, keyd can neither deposit nor release */
	if (__atomic_load_n(&r->k->kh_pid, __ATOMIC_SEQ_CST) <= 0 ||
	    !sp_keywrap_alive(r->k->kw))
		return keyd_reply(r, 503, "text/plain; charset=utf-8", "key holder down\n", 16, 0);
	return keyd_reply(r, 200, "text/plain; charset=utf-8", "ok\n", 3, 0);
}

/* --- release ------------------------------------------------------------- */

static enum MHD_Result
refuse(struct keyd_req *r, unsigned status, const char *msg, const char *actor,
    const char *id)
{
	struct sp_audit a = {0, "release-refused", actor, id, r->client, msg, 0};

	sp_store_audit(r->k->store, &a, NULL);
	keyd_log("release-refused", "id", id ? id : "-", "reason", msg, "client", r->client, NULL);
	return keyd_reply_error(r, status, msg);
}

enum MHD_Result
keyd_api_release(struct keyd_req *r, const char *id)
{
	struct sp_err err = {{0}};
	struct sp_session s;
	struct sp_org org;
	struct sp_envelope_rec e;
	struct sp_release_principal p = {0};
	struct sp_audit a;
	unsigned char h[SP_SHA256_LEN], part[SP_KEY_LEN];
	char actor[SP_STORE_EMAIL_MAX + 8];
	const char *tok = keyd_bearer(r), *msg;
	const char *known_id = keyd_valid_id(id) ? id : NULL;
	enum sp_release_reason why;
	unsigned status;
	struct sp_buf b64;
	json_t *ans, *rc;
	int st;
	size_t i;
	int64_t now = (int64_t)time(NULL);

	/* who asks: an organisation's token, or a recipient's session */
	if (tok != NULL && strncmp(tok, "spo_", 4) == 0) {
		token_hash(tok, h);
		st = sp_store_org_by_token(r->k->store, h, &org, &err);
		if (st == SP_ERR_NOTFOUND) {
			status = sp_release_status(sp_release_check(NULL, NULL, now), &msg);
			return refuse(r, status, msg, NULL, known_id);
		}
		if (st != SP_OK)
			return store_error(r, st, &err);
		p = (struct sp_release_principal){SP_RELEASE_ORG, NULL, org.id, org.domain, NULL, 0};
		snprintf(actor, sizeof(actor), "org:%s", org.name);
	} else {
		st = keyd_session_auth(r, 1, &s, &err);
		if (st == SP_ERR_AUTH) {
			status = sp_release_status(sp_release_check(NULL, NULL, now), &msg);
			return refuse(r, status, msg, NULL, known_id);
		}
		if (st == SP_ERR_DENIED)
			return refuse(r, 403, "missing or wrong CSRF token", s.email, known_id);
		if (st != SP_OK)
			return store_error(r, st, &err);
		p = (struct sp_release_principal){SP_RELEASE_RECIPIENT, s.email, 0, NULL, NULL, 0};
		snprintf(actor, sizeof(actor), "%s", s.email);
	}
	/* which envelope: a malformed id is an unknown one */
	if (known_id == NULL) {
		status = sp_release_status(sp_release_check(&p, NULL, now), &msg);
		return refuse(r, status, msg, actor, NULL);
	}
	if ((st = sp_store_envelope_get(r->k->store, id, &e, &err)) == SP_ERR_NOTFOUND) {
		status = sp_release_status(sp_release_check(&p, NULL, now), &msg);
		return refuse(r, status, msg, actor, id);
	}
	if (st != SP_OK)
		return store_error(r, st, &err);
	/* recipient or its organisation, not retracted, not expired (release.h) */
	if ((why = sp_release_check(&p, &e, now)) != SP_RELEASE_OK) {
		sp_envelope_rec_clear(&e);
		status = sp_release_status(why, &msg);
		return refuse(r, status, msg, actor, id);
	}
	if ((st = sp_keywrap_unwrap(r->k->kw, e.key_id, e.id, e.wrapped, e.wrapped_len,
	    part, &err)) != SP_OK) {
		keyd_log("unwrap-failed", "id", id, "error", sp_err_msg(&err, st), NULL);
		sp_envelope_rec_clear(&e);
		if (st == SP_ERR_RETRY)
			return keyd_reply_error(r, 503, "busy, try again");
		return keyd_reply_error(r, 500, "internal error");
	}
	a = (struct sp_audit){now, "release", actor, id, r->client, NULL, 0};
	if ((st = sp_store_audit(r->k->store, &a, &err)) != SP_OK) {
		sp_wipe(part, sizeof(part));
		sp_envelope_rec_clear(&e);
		return store_error(r, st, &err);
	}
	sp_buf_init(&b64, 128);
	sp_b64url_encode(&b64, part, sizeof(part));
	sp_wipe(part, sizeof(part));
	rc = json_array();
	for (i = 0; i < e.nrcpt; i++)
		json_array_append_new(rc, json_string(e.rcpt[i]));
	ans = json_pack("{s:s,s:s,s:s,s:s,s:o,s:I,s:I}", "id", e.id, "server_part",
	    b64.data ? (const char *)b64.data : "", "org", e.org_name, "from", e.from,
	    "recipients", rc, "created", (json_int_t)e.created,
	    "expires", (json_int_t)e.expires);
	sp_buf_wipe(&b64);
	sp_envelope_rec_clear(&e);
	keyd_log("release", "id", id, "client", r->client, NULL);
	return keyd_reply_json(r, 200, ans);
}

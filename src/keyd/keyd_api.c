/*
 * keyd_api.c - the machine API of docs/api.md: key deposit by an
 * organisation (its domains, signing and policy rules), recipient log-in /
 * session / log-out, key release (the decision is release.h's) with read
 * notices, the verification secret, and /healthz.
 * SECURITY: authenticates organisations and recipients; tokens are looked
 * up by SHA-256 only; server key parts are generated here, wrapped under the
 * master key before storage and wiped after use; the answer to a failed
 * log-in is the same whether or not the account exists (an Argon2 verify
 * is spent either way); every release and refusal is audited.
 */
#include <ctype.h>
#include <glib.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "crypto.h"
#include "envelope.h"
#include "field.h"
#include "i18n.h"
#include "keyd_api.h"
#include "keyd_copy.h"
#include "keyd_device.h"
#include "keyd_factors.h"
#include "keyd_lang.h"
#include "keyd_login.h"
#include "keyd_security.h"
#include "keyd_org.h"
#include "keywrap_remote.h"
#include "notice.h"
#include "password.h"
#include "release.h"

static enum MHD_Result
store_error(struct keyd_req *r, int st, const struct sp_err *err)
{
	return keyd_store_error(r, st, err);
}

/* --- answers that wait for a durable write ----------------------------- */

/* Room for the longest release answer: 500 recipients of 320 bytes, each
 * escaped, and the rest. */
#define KEYD_RELEASE_ANSWER_MAX ((size_t)4 << 20)

/*
 * A deposit, a release and a release's refusal are answered only once their
 * write (the envelope, the audit record) is on disk.  The HTTP thread does
 * not wait for that: it makes the answer, queues the write with the store's
 * group commit (store.h) and suspends the connection; the committer resumes
 * it when the write is durable or failed, and the handler, called again,
 * sends the answer (or, when a write the answer needs failed, a store
 * error).  So the writes of every connection share their commits, however
 * few HTTP threads there are.
 */
struct keyd_wait {
	struct sp_store_write w;	/* first: the committer hands it back */
	struct keyd_req *r;
	struct sp_audit a;
	char actor[SP_STORE_EMAIL_MAX + 8];
	char id[SP_STORE_ID_MAX + 1];
	char client[64];
	char detail[160];
	char rcpt[SP_STORE_EMAIL_MAX + 1];	/* a release's recipient (its first open) */
	char from[SP_STORE_EMAIL_MAX + 1];	/* where its read notice goes ("" none) */
	char org[SP_STORE_NAME_MAX + 1];	/* a deposit's organisation (the log) */
	const char *event;	/* log line after the answer: "release", "deposit", NULL */
	long reader;		/* a release's recipient: its index in v.e.rcpt, or -1 */
	int needed;		/* 1: no answer but an error without the write */
	unsigned status;
	struct sp_buf body;	/* the answer as JSON text (wiped), when it has data */
	json_t *ans;		/* else the answer; NULL: an error answer of msg */
	const char *msg;	/* a static string */
	struct sp_envelope_rec e;	/* a deposit's record; its rcpt strings owned */
	struct sp_envelope_view v;	/* a release's envelope, until it is answered */
	/* a seal's values (w points at them) */
	unsigned char hsha[SP_SHA256_LEN], csha[SP_SHA256_LEN], sig[64];
	char kid[SP_STORE_KID_MAX + 1];
	unsigned char *header;		/* owned */
};

/* Connections suspended for a write: the key server stops only when none
 * is left (the committer resumes each). */
static int waits_running;

int
keyd_api_waits(void)
{
	return __atomic_load_n(&waits_running, __ATOMIC_SEQ_CST);
}

static void
wait_free(void *p)
{
	struct keyd_wait *wt = p;
	size_t i;

	json_decref(wt->ans);
	sp_buf_wipe(&wt->body);
	for (i = 0; wt->e.rcpt != NULL && i < wt->e.nrcpt; i++)
		free(wt->e.rcpt[i]);
	free(wt->e.rcpt);
	free(wt->e.rstate);
	sp_envelope_rec_clear(&wt->v.e);
	free(wt->header);
	sp_wipe(wt, sizeof(*wt));
	free(wt);
}

/* The committer's call: r belongs to MHD again once resumed. */
static void
wait_done(struct sp_store_write *w)
{
	struct keyd_wait *wt = (struct keyd_wait *)w;
	struct keyd_req *r = wt->r;

	r->async = 2;
	MHD_resume_connection(r->conn);
	__atomic_sub_fetch(&waits_running, 1, __ATOMIC_SEQ_CST);
}

static struct keyd_wait *
wait_new(struct keyd_req *r, int kind, const char *event, const char *actor,
    const char *id, int64_t org_id)
{
	struct keyd_wait *wt = calloc(1, sizeof(*wt));

	if (wt == NULL)
		return NULL;
	wt->r = r;
	wt->w.kind = kind;
	wt->w.done = wait_done;
	wt->w.a = &wt->a;
	snprintf(wt->actor, sizeof(wt->actor), "%s", actor ? actor : "");
	snprintf(wt->id, sizeof(wt->id), "%s", id ? id : "");
	snprintf(wt->client, sizeof(wt->client), "%s", r->client);
	wt->a = (struct sp_audit){0, event, actor ? wt->actor : NULL, id ? wt->id : NULL,
	    wt->client, NULL, org_id};
	return wt;
}

/* Send wt's answer once its write is done. */
static enum MHD_Result
wait_answer(struct keyd_req *r)
{
	struct keyd_wait *wt = r->async_data;
	json_t *ans = wt->ans;

	r->async = 0;
	if (wt->w.kind == SP_WRITE_SEAL && wt->w.status == SP_ERR_EXISTS)
		return keyd_reply_error(r, 409, "this envelope was sealed already with other values");
	if (wt->w.kind == SP_WRITE_SEAL && wt->w.status == SP_ERR_NOTFOUND)
		return keyd_reply_error(r, 404, "unknown envelope");
	if (wt->w.status != SP_OK && wt->needed)
		return keyd_store_error(r, wt->w.status, &wt->w.err);
	if (wt->w.status != SP_OK)
		keyd_log("store-error", "path", r->url, "error", sp_err_msg(&wt->w.err,
		    wt->w.status), NULL);
	if (wt->w.kind == SP_WRITE_OPENED && wt->w.first && wt->from[0] != '\0') {
		struct sp_notice_sender ns = {wt->rcpt, wt->id, wt->a.time, 0};

		keyd_notice_sender_lang(r->k, keyd_org_lang(r->k, wt->a.org_id), SP_NOTICE_READ,
		    wt->from, &ns);
	}
	if (wt->event != NULL && strcmp(wt->event, "deposit") == 0)
		keyd_log("deposit", "org", wt->org, "id", wt->id, "client", r->client, NULL);
	else if (wt->w.kind == SP_WRITE_SEAL)
		keyd_log("seal", "org", wt->org, "id", wt->id, "kid", wt->kid, NULL);
	else if (wt->event != NULL)
		keyd_log(wt->event, "id", wt->id, "client", r->client, NULL);
	if (wt->body.data != NULL)
		return keyd_reply_buf(r, wt->status, "application/json", &wt->body);
	if (ans == NULL)
		return keyd_reply_error(r, wt->status, wt->msg);
	wt->ans = NULL;
	return keyd_reply_json(r, wt->status, ans);
}

/* wt belongs to r from here on and r waits, suspended, for its answer. */
static void
wait_suspend(struct keyd_req *r, struct keyd_wait *wt)
{
	r->async_data = wt;
	r->async_free = wait_free;
	r->async = 1;
	__atomic_add_fetch(&waits_running, 1, __ATOMIC_SEQ_CST);
	MHD_suspend_connection(r->conn);
}

/* Queue wt's write and suspend the connection until it is done; wt belongs
 * to r from here on.  An answer that cannot wait is sent at once: a store
 * error when the write was needed, else the answer without its record. */
static enum MHD_Result
wait_start(struct keyd_req *r, struct keyd_wait *wt)
{
	struct sp_err err = {{0}};
	int st;

	wait_suspend(r, wt);
	if ((st = sp_store_write_async(r->k->store, &wt->w, &err)) != SP_OK) {
		MHD_resume_connection(r->conn);
		__atomic_sub_fetch(&waits_running, 1, __ATOMIC_SEQ_CST);
		wt->w.status = st;
		wt->w.err = err;
		return wait_answer(r);
	}
	return MHD_YES;
}

/* --- the seal's write (keyd_org.c checks the call) ------------------------ */

int
keyd_api_seal_resumed(struct keyd_req *r, enum MHD_Result *ans)
{
	if (r->async == 1)
		*ans = MHD_YES;		/* woken early: the write still runs */
	else if (r->async == 2)
		*ans = wait_answer(r);
	return r->async == 1 || r->async == 2;
}

enum MHD_Result
keyd_api_seal_write(struct keyd_req *r, const struct sp_org *org, const char *id,
    const unsigned char hsha[SP_SHA256_LEN], const unsigned char csha[SP_SHA256_LEN],
    const unsigned char sig[64], const char *kid, const unsigned char *header, size_t len)
{
	char actor[SP_STORE_NAME_MAX + 8], detail[64];
	struct keyd_wait *wt;

	snprintf(actor, sizeof(actor), "org:%s", org->name);
	if ((wt = wait_new(r, SP_WRITE_SEAL, "seal", actor, id, org->id)) == NULL ||
	    len == 0 || (wt->header = malloc(len)) == NULL) {
		if (wt != NULL)
			wait_free(wt);
		return keyd_reply_error(r, 503, "busy, try again");
	}
	memcpy(wt->hsha, hsha, sizeof(wt->hsha));
	memcpy(wt->csha, csha, sizeof(wt->csha));
	memcpy(wt->sig, sig, sizeof(wt->sig));
	memcpy(wt->header, header, len);
	snprintf(wt->kid, sizeof(wt->kid), "%s", kid);
	snprintf(wt->org, sizeof(wt->org), "%s", org->name);
	snprintf(detail, sizeof(detail), "kid=%s", kid);
	snprintf(wt->detail, sizeof(wt->detail), "%s", detail);
	wt->a.detail = wt->detail;
	wt->w.id = wt->id;
	wt->w.header_sha = wt->hsha;
	wt->w.ct_sha = wt->csha;
	wt->w.sig = wt->sig;
	wt->w.kid = wt->kid;
	wt->w.header = wt->header;
	wt->w.header_len = len;
	wt->needed = 1;
	wt->status = 200;
	wt->ans = json_pack("{s:b}", "ok", 1);
	return wait_start(r, wt);
}

/* --- deposit ------------------------------------------------------------- */

/* An Argon2id string as sp_answer_hash() makes it:
 * $argon2id$v=19$m=..,t=..,p=..$SALT$HASH, base64 without padding. */
static int
argon2id_shape(const char *s, size_t n)
{
	size_t i, dollars = 0;

	if (n < 30 || n > SP_STORE_HASH_MAX || strncmp(s, "$argon2id$v=", 12) != 0)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '$')
			dollars++;
		else if (!g_ascii_isalnum(c) && c != '=' && c != ',' && c != '+' && c != '/')
			return 0;
	}
	return dollars == 5 && s[n - 1] != '$';
}

static int
valid_level(const char *s)
{
	return s != NULL && (strcmp(s, "high") == 0 || strcmp(s, "medium") == 0 ||
	    strcmp(s, "low") == 0);
}

/* The organisation's brand for the deposit's answer: colour or null, the
 * logo as standard base64 or null. */
static json_t *
brand_json(struct keyd *k, const struct sp_org *org)
{
	struct sp_err err = {{0}};
	unsigned char *png = NULL;
	size_t len = 0;
	struct sp_buf b;
	json_t *logo = json_null();

	if (org->has_logo && (png = malloc(SP_STORE_LOGO_MAX)) != NULL &&
	    sp_store_org_logo_get(k->store, org->id, png, SP_STORE_LOGO_MAX, &len, &err) == SP_OK &&
	    len > 0) {
		sp_buf_init(&b, SP_STORE_LOGO_MAX * 2);
		if (sp_b64_encode(&b, png, len, 0) == SP_OK && b.data != NULL) {
			json_decref(logo);
			logo = json_stringn((const char *)b.data, b.len);
		}
		sp_buf_free(&b);
	}
	free(png);
	return json_pack("{s:o,s:o}", "colour", org->colour[0] ? json_string(org->colour) :
	    json_null(), "logo", logo ? logo : json_null());
}

/* A deposit's "bcc": absent, or addresses among its recipients rcpt[0..n)
 * (compared in lower case); hidden[i] becomes 1 for each, *nhidden their
 * count.  1 when it is well formed, else 0 with *ans the 400 answer. */
static int
deposit_bcc(struct keyd_req *r, json_t *j, char *const *rcpt, size_t n,
    unsigned char hidden[SP_ENV_MAX_RECIPIENTS], size_t *nhidden, enum MHD_Result *ans)
{
	json_t *bcc = json_object_get(j, "bcc"), *v;
	char low[SP_STORE_EMAIL_MAX + 1];
	size_t i, k;

	memset(hidden, 0, SP_ENV_MAX_RECIPIENTS);
	*nhidden = 0;
	if (bcc == NULL || json_is_null(bcc))
		return 1;
	if (!json_is_array(bcc) || json_array_size(bcc) > n) {
		*ans = keyd_reply_field(r, "bcc", "\"bcc\" must list some of the recipients");
		return 0;
	}
	json_array_foreach(bcc, i, v) {
		const char *s = json_string_value(v);

		if (s == NULL || strlen(s) != json_string_length(v) ||
		    keyd_email_lower(s, low, sizeof(low)) != SP_OK) {
			*ans = keyd_reply_field(r, "bcc", "\"bcc\" must list email addresses");
			return 0;
		}
		for (k = 0; k < n && strcmp(rcpt[k], low) != 0; k++)
			;
		if (k == n) {
			*ans = keyd_reply_field(r, "bcc", "each address of \"bcc\" must be one of "
			    "\"recipients\"");
			return 0;
		}
		for (; k < n; k++)
			if (strcmp(rcpt[k], low) == 0 && !hidden[k]) {
				hidden[k] = 1;
				(*nhidden)++;
			}
	}
	return 1;
}

enum MHD_Result
keyd_api_deposit(struct keyd_req *r, const char *arg)
{
	struct sp_err err = {{0}};
	struct sp_org org;
	struct sp_envelope_rec e;
	struct keyd_wait *wt = NULL;
	unsigned char idraw[SP_ENV_ID_LEN], part[SP_KEY_LEN];
	char *rcpt_store[SP_ENV_MAX_RECIPIENTS];
	unsigned char hidden[SP_ENV_MAX_RECIPIENTS];
	char actor[SP_STORE_NAME_MAX + 8], detail[96], from[SP_STORE_EMAIL_MAX + 1];
	char **domains = NULL;
	struct sp_buf b64;
	const char *fs, *lv, *vh, *hint;
	char *hint_norm = NULL;
	json_t *j = NULL, *rc, *v, *ans;
	json_int_t expires = 0, format = 1;
	size_t i, n = 0, nd = 0, len, nhidden = 0;
	int st, bad, notify, has_key = 0, in_domain = 0;
	enum MHD_Result ret;

	if (r->async == 1)
		return MHD_YES;		/* woken early: the write still runs */
	if (r->async == 2)
		return wait_answer(r);
	if (!keyd_org_auth(r, &org, &ret))
		return ret;
	if ((j = keyd_json_body(r, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL)) == NULL)
		return keyd_reply_error(r, 400, "api.not_object");
	memset(&e, 0, sizeof(e));
	fs = keyd_json_str(j, "from", &len, &bad);
	if (fs == NULL || keyd_email_lower(fs, from, sizeof(from)) != SP_OK) {
		ret = keyd_reply_field(r, "from", "\"from\" must be an email address");
		goto out;
	}
	rc = json_object_get(j, "recipients");
	if (!json_is_array(rc) || json_array_size(rc) == 0 ||
	    json_array_size(rc) > SP_ENV_MAX_RECIPIENTS) {
		ret = keyd_reply_field(r, "recipients", "\"recipients\" must list 1 to 500 addresses");
		goto out;
	}
	v = json_object_get(j, "expires");
	if (v != NULL && !json_is_null(v) && (!json_is_integer(v) ||
	    (expires = json_integer_value(v)) < 0 || expires > ((json_int_t)1 << 40))) {
		ret = keyd_reply_field(r, "expires", "\"expires\" must be a unix time or 0");
		goto out;
	}
	v = json_object_get(j, "format");
	if (v != NULL && !json_is_null(v) && (!json_is_integer(v) ||
	    ((format = json_integer_value(v)) != 1 && format != 2))) {
		ret = keyd_reply_field(r, "format", "\"format\" must be 1 or 2");
		goto out;
	}
	v = json_object_get(j, "notify_read");
	if (v != NULL && !json_is_null(v) && !json_is_boolean(v)) {
		ret = keyd_reply_field(r, "notify_read", "\"notify_read\" must be true or false");
		goto out;
	}
	notify = v != NULL && json_is_boolean(v) ? json_is_true(v) : org.policy.notify_read != 0;
	lv = keyd_json_str(j, "level", &len, &bad);
	if (bad || (lv != NULL && !valid_level(lv))) {
		ret = keyd_reply_field(r, "level", "\"level\" must be high, medium or low");
		goto out;
	}
	if (lv == NULL)
		lv = valid_level(org.policy.level) ? org.policy.level : "medium";
	vh = keyd_json_str(j, "verify", &len, &bad);
	if (bad || (vh != NULL && !argon2id_shape(vh, len))) {
		ret = keyd_reply_field(r, "verify", "\"verify\" must be an Argon2id hash of the "
		    "normalised secret");
		goto out;
	}
	hint = keyd_json_str(j, "verify_hint", &len, &bad);
	if (bad) {
		ret = keyd_reply_field(r, "verify_hint", "\"verify_hint\" must be text");
		goto out;
	}
	if (hint != NULL) {
		struct sp_field_rules rules = {SP_STORE_HINT_MAX, SP_STORE_HINT_MAX, SP_FIELD_TRIM};
		enum sp_field_reason why = SP_FIELD_R_OK;

		if (sp_field_text(hint, len, &rules, &hint_norm, &why, &err) != SP_OK) {
			ret = keyd_reply_field(r, "verify_hint", sp_field_reason_str(why));
			goto out;
		}
		if (vh == NULL && hint_norm[0] != '\0') {
			ret = keyd_reply_field(r, "verify_hint", "a hint needs \"verify\"");
			goto out;
		}
	}
	v = json_object_get(j, "holder");
	if (v != NULL && !json_is_null(v) && (!json_is_string(v) ||
	    sp_b64url_decode_exact(json_string_value(v), json_string_length(v), e.holder,
	    sizeof(e.holder)) != SP_OK)) {
		ret = keyd_reply_field(r, "holder", "\"holder\" must be 32 bytes in base64url");
		goto out;
	}
	e.has_holder = v != NULL && !json_is_null(v);
	for (i = 0; i < json_array_size(rc); i++) {
		const char *s = json_string_value(json_array_get(rc, i));
		char low[SP_STORE_EMAIL_MAX + 1];

		if (s == NULL || strlen(s) != json_string_length(json_array_get(rc, i)) ||
		    keyd_email_lower(s, low, sizeof(low)) != SP_OK ||
		    (rcpt_store[n] = strdup(low)) == NULL) {
			char why[160], shown[68];
			size_t c = 0;

			/* name the value: its printable ASCII start, at most 64
			 * bytes (never a cut UTF-8 sequence in the JSON answer) */
			while (s != NULL && c < 64 && s[c] >= 0x20 && s[c] < 0x7f) {
				shown[c] = s[c];
				c++;
			}
			shown[c] = '\0';
			snprintf(why, sizeof(why), "recipient %zu is not an email address: '%s%s'",
			    i + 1, s != NULL ? shown : "(not a string)",
			    s != NULL && s[c] != '\0' ? "..." : "");
			ret = keyd_reply_field(r, "recipients", why);
			goto out;
		}
		n++;
	}
	/* blind copies: recipients the message's To: and Cc: do not name, whom
	 * no other reader of the envelope may learn of */
	if (!deposit_bcc(r, j, rcpt_store, n, hidden, &nhidden, &ret))
		goto out;
	/* the organisation's rules: signed envelopes, its own domains, its
	 * policy on verification */
	if ((st = keyd_org_has_live_key(r->k, org.id, &has_key, &err)) != SP_OK ||
	    (st = keyd_org_domains(r->k, org.id, &domains, &nd, &err)) != SP_OK) {
		ret = store_error(r, st, &err);
		goto out;
	}
	if (format == 1 && has_key) {
		ret = keyd_reply_field(r, "format", "this organisation signs its envelopes: update "
		    "the sealer");
		goto out;
	}
	for (i = 0; i < nd && !in_domain; i++)
		in_domain = sp_release_addr_in_domain(from, domains[i]);
	if (!in_domain) {
		ret = keyd_reply_json(r, 403, json_pack("{s:s,s:s}", "error", "\"from\" is not an "
		    "address in one of this organisation's domains", "field", "from"));
		goto out;
	}
	if (org.policy.verify && vh == NULL) {
		ret = keyd_reply_field(r, "verify", "this organisation asks a verification secret "
		    "for every message (X-Sealpost-Verify)");
		goto out;
	}
	e.rcpt = rcpt_store;
	e.nrcpt = n;
	e.org_id = org.id;
	snprintf(e.from, sizeof(e.from), "%s", from);	/* as parsed: read notices and replies go there */
	e.created = (int64_t)time(NULL);
	e.expires = (int64_t)expires;
	if (e.expires == 0 && org.policy.expire_days > 0)
		e.expires = e.created + org.policy.expire_days * 86400;
	e.kind = SP_ENV_KIND_MESSAGE;
	e.format = (int)format;
	e.notify_read = notify;
	snprintf(e.level, sizeof(e.level), "%s", lv);
	if (vh != NULL)
		snprintf(e.verify_hash, sizeof(e.verify_hash), "%s", vh);
	if (hint_norm != NULL)
		snprintf(e.verify_hint, sizeof(e.verify_hint), "%s", hint_norm);
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
	snprintf(actor, sizeof(actor), "org:%s", org.name);
	if (st == SP_OK && ((wt = wait_new(r, SP_WRITE_DEPOSIT, "deposit", actor, e.id,
	    org.id)) == NULL || (wt->e.rcpt = calloc(n, sizeof(char *))) == NULL ||
	    (nhidden > 0 && (wt->e.rstate = calloc(n, sizeof(*wt->e.rstate))) == NULL)))
		st = sp_err_set(&err, SP_ERR_RETRY, "out of memory");
	if (st != SP_OK) {
		sp_wipe(part, sizeof(part));
		sp_buf_wipe(&b64);
		if (wt != NULL)
			wait_free(wt);
		ret = store_error(r, st, &err);
		goto out;
	}
	sp_b64url_encode(&b64, part, sizeof(part));
	sp_wipe(part, sizeof(part));
	ans = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:s,s:b,s:o,s:o,s:s}", "id", e.id, "server_part",
	    b64.data ? (const char *)b64.data : "", "org", keyd_org_display(&org),
	    "keyd", r->k->public_url, "created", (json_int_t)e.created,
	    "expires", (json_int_t)e.expires, "level", e.level, "verify", e.verify_hash[0] != '\0',
	    "brand", brand_json(r->k, &org), "copy", keyd_copy_offer(r->k, &org, &e),
	    "language", sp_i18n_lang(org.policy.language));
	sp_buf_wipe(&b64);
	/* the 201 and its key part go out once the deposit is durable: the
	 * write takes the record and the recipients' addresses */
	snprintf(detail, sizeof(detail), "recipients=%zu bcc=%zu format=%d%s%s", n, nhidden,
	    e.format, e.verify_hash[0] ? " verify" : "", e.notify_read ? " notify-read" : "");
	snprintf(wt->detail, sizeof(wt->detail), "%s", detail);
	snprintf(wt->org, sizeof(wt->org), "%s", org.name);
	wt->a.time = e.created;
	wt->a.detail = wt->detail;
	{
		char **rv = wt->e.rcpt;
		struct sp_envelope_rcpt *rs = wt->e.rstate;

		wt->e = e;
		wt->e.rcpt = rv;
		wt->e.rstate = rs;
		memcpy(rv, rcpt_store, n * sizeof(*rv));
		for (i = 0; rs != NULL && i < n; i++)
			rs[i].hidden = hidden[i];
	}
	sp_wipe(e.wrapped, sizeof(e.wrapped));
	n = 0;			/* the recipients' strings are the write's now */
	wt->w.e = &wt->e;
	wt->event = "deposit";
	wt->needed = 1;
	wt->status = 201;
	wt->ans = ans;
	ret = wait_start(r, wt);
out:
	for (i = 0; i < n; i++)
		free(rcpt_store[i]);
	keyd_strv_free(domains, nd);
	free(hint_norm);
	json_decref(j);
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
		/* "remember": true in the body: this browser becomes a
		 * remembered device (keyd_device.c) */
		if (keyd_device_wanted(r))
			keyd_device_remember(r, l->email);
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
		{
			char sec[24];

			snprintf(sec, sizeof(sec), "%lld", (long long)l->retry_after);
			keyd_tplain(r, "api.locked_for", (struct sp_i18n_var[]){{"s", sec}}, 1, msg,
			    sizeof(msg));
		}
		r->retry_after = l->retry_after;
		ret = keyd_reply_json(r, 429, json_pack("{s:s,s:s,s:I}", "error", msg,
		    "signin_link", "/signin-link", "retry_after", (json_int_t)l->retry_after));
		break;
	case KEYD_LOGIN_BUSY:
		ret = keyd_reply_error(r, 503, "read.busy");
		break;
	case KEYD_LOGIN_BAD:
		if (l->why && strcmp(l->why, "expired") == 0)
			ret = keyd_reply_reason(r, 401, "api.mfa_expired", "expired");
		else
			ret = keyd_reply_error(r, 401, second ? "api.wrong_code_passkey" :
			    "api.wrong_login");
		break;
	default:
		ret = keyd_reply_error(r, 500, "err.internal");
	}
	keyd_login_wipe(l);
	return ret;
}

/*
 * A log-in spends an Argon2id verify (tens of milliseconds, and up to 2 s
 * waiting for a password worker): the route runs on a worker (keyd_work.h),
 * never on an HTTP thread, where it would stall every other connection of
 * that thread, key releases included.
 */
enum MHD_Result
keyd_api_login(struct keyd_req *r, const char *arg)
{
	struct keyd_login l;
	json_t *j;
	const char *e, *pw;
	char key[32];

	if (keyd_cross_site(r))
		return keyd_reply_error(r, 403, "api.cross_site");
	if (keyd_json_bad_utf8(r, key)) {
		if (key[0] != '\0')
			return keyd_reply_field(r, key, "api.not_utf8_field");
		return keyd_reply_error(r, 400, "api.not_utf8");
	}
	/* NUL is let through the parser so that it is refused by name below,
	 * never used as the end of a shorter address or password. */
	if ((j = keyd_json_body(r, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL)) == NULL)
		return keyd_reply_error(r, 400, "api.not_object");
	e = json_string_value(json_object_get(j, "email"));
	pw = json_string_value(json_object_get(j, "password"));
	if (json_object_get(j, "email") != NULL && e == NULL) {
		json_decref(j);
		return keyd_reply_field(r, "email", "api.not_string");
	}
	if (json_object_get(j, "password") != NULL && pw == NULL) {
		json_decref(j);
		return keyd_reply_field(r, "password", "api.not_string");
	}
	if (e != NULL && strlen(e) != json_string_length(json_object_get(j, "email"))) {
		json_decref(j);
		return keyd_reply_field(r, "email", "api.nul");
	}
	if (pw != NULL && strlen(pw) != json_string_length(json_object_get(j, "password"))) {
		json_decref(j);
		return keyd_reply_field(r, "password", "api.nul");
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
		return keyd_reply_error(r, 403, "api.cross_site");
	if ((j = keyd_json_body(r, JSON_REJECT_DUPLICATES)) == NULL)
		return keyd_reply_error(r, 400, "api.not_object");
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
	struct sp_account acc;
	int st, todo;

	if ((st = keyd_session_auth(r, 0, &s, &err)) == SP_ERR_AUTH)
		return keyd_reply_error(r, 401, "api.not_logged_in");
	if (st != SP_OK)
		return store_error(r, st, &err);
	/* Whether the profile still owes its names, phrase or questions, so
	 * that a page asks for /api/v1/account/profile only then. */
	st = sp_store_account_get(r->k->store, s.email, &acc, &err);
	if (st == SP_ERR_NOTFOUND)
		return keyd_reply_error(r, 401, "api.not_logged_in");
	if (st != SP_OK)
		return store_error(r, st, &err);
	/* owed, and this session may give it now (else the pages do not
	 * offer it) */
	todo = acc.profile_todo != 0 && keyd_profile_writable(&s, 1);
	sp_wipe(&acc, sizeof(acc));
	return keyd_reply_json(r, 200, json_pack("{s:s,s:s,s:b}", "email", s.email,
	    "csrf", s.csrf, "incomplete", todo));
}

/* The session of a request that needs a login and its CSRF token: 1 with
 * *s filled in, else 0 with *ans the refusal. */
static int
post_session(struct keyd_req *r, struct sp_session *s, enum MHD_Result *ans)
{
	struct sp_err err = {{0}};
	int st;

	if ((st = keyd_session_auth(r, 1, s, &err)) == SP_ERR_AUTH)
		*ans = keyd_reply_error(r, 401, "api.not_logged_in");
	else if (st == SP_ERR_DENIED)
		*ans = keyd_reply_error(r, 403, "api.csrf");
	else if (st != SP_OK)
		*ans = store_error(r, st, &err);
	return st == SP_OK;
}

enum MHD_Result
keyd_api_logout(struct keyd_req *r, const char *arg)
{
	struct sp_err err = {{0}};
	struct sp_session s;
	struct sp_audit a;
	enum MHD_Result ret;
	int st;

	if (!post_session(r, &s, &ret))
		return ret;
	a = (struct sp_audit){0, "logout", s.email, NULL, r->client, NULL, 0};
	st = sp_store_session_delete(r->k->store, s.hash, &a, &err);
	if (st != SP_OK && st != SP_ERR_NOTFOUND)
		return store_error(r, st, &err);
	keyd_device_forget_this(r, s.email);
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

/* An audited refusal.  org_id: the chain (the envelope's organisation, 0
 * when the envelope is unknown). */
static enum MHD_Result
refuse_json(struct keyd_req *r, unsigned status, const char *msg, const char *actor,
    const char *id, int64_t org_id, json_t *ans)
{
	struct keyd_wait *wt = wait_new(r, SP_WRITE_AUDIT, "release-refused", actor, id, org_id);
	const char *en = sp_i18n_text(SP_I18N_DEFAULT, msg);	/* logs and audit: English */

	keyd_log("release-refused", "id", id ? id : "-", "reason", en, "client", r->client, NULL);
	if (wt == NULL) {
		struct sp_audit a = {0, "release-refused", actor, id, r->client, en, org_id};

		sp_store_audit(r->k->store, &a, NULL);
		if (ans != NULL)
			return keyd_reply_json(r, status, ans);
		return keyd_reply_error(r, status, msg);
	}
	/* the record is written before the answer, but a refusal stands
	 * without it */
	snprintf(wt->detail, sizeof(wt->detail), "%s", en);
	wt->a.detail = wt->detail;
	wt->status = status;
	wt->ans = ans;
	wt->msg = msg;
	return wait_start(r, wt);
}

static enum MHD_Result
refuse(struct keyd_req *r, unsigned status, const char *msg, const char *actor,
    const char *id, int64_t org_id)
{
	return refuse_json(r, status, msg, actor, id, org_id, NULL);
}

/* The answer to a refusal of sp_release_check() on a known envelope:
 * 410 and 423 name the reason; 409 carries the verification question. */
static enum MHD_Result
refuse_reason(struct keyd_req *r, enum sp_release_reason why,
    const struct sp_release_principal *p, const struct sp_envelope_rec *e, const char *actor)
{
	const char *msg, *name = sp_release_reason_name(why);
	unsigned status = sp_release_status(why, &msg);
	long ri = sp_release_rcpt_index(p, e);
	int fails = ri >= 0 && e->rstate != NULL ? e->rstate[ri].verify_fails : 0;
	json_t *ans = NULL;

	if (why == SP_RELEASE_VERIFY_NEEDED)
		ans = json_pack("{s:s,s:{s:s,s:i}}", "error", keyd_tmsg(r, msg), "verify", "hint",
		    e->verify_hint, "tries_left", fails < SP_STORE_VERIFY_TRIES ?
		    SP_STORE_VERIFY_TRIES - fails : 0);
	else if (name != NULL)
		ans = json_pack("{s:s,s:s}", "error", keyd_tmsg(r, msg), "reason", name);
	return refuse_json(r, status, msg, actor, e->id, e->org_id, ans);
}

/* What a reader's page claims to open, from the release's body (docs/api.md):
 * the SHA-256 of the envelope's header and ciphertext.  The page sends both;
 * an API client may send none ("{}" or nothing).  For a sealed (format 2)
 * envelope each claim given must be the recorded one: else the page holds
 * another envelope (a forged one, or one changed on the way), and nothing
 * is released or recorded as read.  Fills bad (JSON array of "header",
 * "ciphertext"; NULL when all agree); 0 when the body is malformed. */
static int
claims_check(struct keyd_req *r, const struct sp_envelope_rec *e, json_t **bad)
{
	static const char *const names[] = {"header_sha256", "ct_sha256"};
	static const char *const what[] = {"header", "ciphertext"};
	const unsigned char *rec[2] = {e->header_sha, e->ct_sha};
	unsigned char got[SP_SHA256_LEN];
	json_t *j;
	size_t i;
	int ok = 1;

	*bad = NULL;
	if (r->body.len <= 2)
		return 1;	/* "", "{}": no claim */
	if ((j = keyd_json_body(r, JSON_REJECT_DUPLICATES)) == NULL)
		return 0;
	for (i = 0; i < 2; i++) {
		json_t *v = json_object_get(j, names[i]);

		if (v == NULL)
			continue;
		if (!json_is_string(v) || sp_hex_decode_exact(json_string_value(v),
		    json_string_length(v), got, sizeof(got)) != SP_OK) {
			ok = 0;
			break;
		}
		if (e->sealed && !sp_ct_eq(got, rec[i], SP_SHA256_LEN)) {
			if (*bad == NULL)
				*bad = json_array();
			json_array_append_new(*bad, json_string(what[i]));
		}
	}
	json_decref(j);
	if (!ok) {
		json_decref(*bad);
		*bad = NULL;
	}
	return ok;
}

/* Who asks: an organisation's token (its id and domains), a recipient's
 * session (*auth: how it began), or nobody (no token, no session, from this
 * site: *auth SP_RELEASE_AUTH_NONE, actor "").  1 with p, auth and actor
 * filled (p's strings live in s, org and *domains); 0 with *ans queued. */
static int
release_principal(struct keyd_req *r, const char *known_id, struct sp_session *s,
    struct sp_org *org, char ***domains, size_t *nd, struct sp_release_principal *p,
    enum sp_release_auth *auth, char *actor, size_t actorsz, enum MHD_Result *ans)
{
	struct sp_err err = {{0}};
	const char *tok = keyd_bearer(r), *msg;
	unsigned status;
	int st;

	if (tok != NULL && strncmp(tok, "sps_", 4) != 0) {
		if (!keyd_org_auth(r, org, ans)) {
			/* keyd_org_auth answered; audit the refusal as well */
			struct sp_audit a = {0, "release-refused", NULL, known_id, r->client,
			    "organisation token refused", 0};

			sp_store_audit(r->k->store, &a, NULL);
			return 0;
		}
		if ((st = keyd_org_domains(r->k, org->id, domains, nd, &err)) != SP_OK) {
			*ans = store_error(r, st, &err);
			return 0;
		}
		*p = (struct sp_release_principal){SP_RELEASE_ORG, NULL, org->id, NULL,
		    (const char *const *)*domains, *nd};
		snprintf(actor, actorsz, "org:%s", org->name);
		return 1;
	}
	st = keyd_session_auth(r, 1, s, &err);
	if (st == SP_ERR_AUTH && tok == NULL && !keyd_cross_site(r)) {
		/* nobody signed in: a low-level envelope may still open
		 * (keyd_api_release decides once it has the envelope) */
		*p = (struct sp_release_principal){SP_RELEASE_RECIPIENT, NULL, 0, NULL, NULL, 0};
		*auth = SP_RELEASE_AUTH_NONE;
		actor[0] = '\0';
		return 1;
	}
	if (st == SP_ERR_AUTH) {
		status = sp_release_status(sp_release_check(NULL, NULL, 0), &msg);
		*ans = refuse(r, status, msg, NULL, known_id, 0);
		return 0;
	}
	if (st == SP_ERR_DENIED) {
		*ans = refuse(r, 403, "api.csrf", s->email, known_id, 0);
		return 0;
	}
	if (st != SP_OK) {
		*ans = store_error(r, st, &err);
		return 0;
	}
	*p = (struct sp_release_principal){SP_RELEASE_RECIPIENT, s->email, 0, NULL, NULL, 0};
	*auth = keyd_session_how(s);
	snprintf(actor, actorsz, "%s", s->email);
	return 1;
}

/* A release whose unwrap failed (or whose answer could not be made):
 * answered without its write. */
static void
unwrap_failed(struct keyd_wait *wt, int st, const struct sp_err *err)
{
	keyd_log("unwrap-failed", "id", wt->id, "error", sp_err_msg(err, st), NULL);
	sp_buf_wipe(&wt->body);
	wt->event = NULL;
	wt->needed = 0;
	wt->w.status = SP_OK;
	wt->status = st == SP_ERR_RETRY ? 503 : 500;
	wt->msg = st == SP_ERR_RETRY ? "read.busy" : "err.internal";
}

/* The key holder's answer to a release (on its reader thread, or at once):
 * make the answer and queue the release's write, whose committer resumes
 * the connection; on a failure resume it now. */
static void
unwrapped(void *arg, int st, const unsigned char *part, const struct sp_err *kerr)
{
	struct keyd_wait *wt = arg;
	struct sp_err err = {{0}};

	if (st != SP_OK) {
		unwrap_failed(wt, st, kerr);
		wait_done(&wt->w);
		return;
	}
	sp_buf_init(&wt->body, KEYD_RELEASE_ANSWER_MAX);
	if ((st = sp_release_answer(&wt->body, &wt->v, wt->reader, part, SP_KEY_LEN)) != SP_OK) {
		sp_err_set(&err, st, "the answer could not be made");
		unwrap_failed(wt, SP_ERR_INTERNAL, &err);
		wait_done(&wt->w);
		return;
	}
	if ((st = sp_store_write_async(wt->r->k->store, &wt->w, &err)) != SP_OK) {
		wt->w.status = st;
		wt->w.err = err;
		wait_done(&wt->w);
	}
}

/* Suspend the connection while the key holder unwraps the release's key
 * part (unwrapped() goes on); wt belongs to r from here on. */
static enum MHD_Result
unwrap_start(struct keyd_req *r, struct keyd_wait *wt)
{
	struct sp_err err = {{0}};
	const struct sp_envelope_rec *e = &wt->v.e;
	int st;

	wait_suspend(r, wt);
	if ((st = sp_keywrap_unwrap_async(r->k->kw, e->key_id, e->id, e->wrapped,
	    e->wrapped_len, unwrapped, wt, &err)) != SP_OK) {
		MHD_resume_connection(r->conn);
		__atomic_sub_fetch(&waits_running, 1, __ATOMIC_SEQ_CST);
		unwrap_failed(wt, st, &err);
		return wait_answer(r);
	}
	return MHD_YES;
}

enum MHD_Result
keyd_api_release(struct keyd_req *r, const char *id)
{
	struct sp_err err = {{0}};
	struct sp_session s;
	struct sp_org org;
	struct sp_envelope_view v;
	struct sp_envelope_rec *e = &v.e;
	struct sp_release_principal p = {0};
	enum sp_release_auth auth = SP_RELEASE_AUTH_PASSWORD;
	struct keyd_wait *wt;
	char actor[SP_STORE_EMAIL_MAX + 8];
	char **domains = NULL;
	size_t nd = 0;
	const char *msg;
	const char *known_id = keyd_valid_id(id) ? id : NULL;
	enum sp_release_reason why;
	enum MHD_Result ret;
	unsigned status;
	long ri;
	int st, first_open;
	int64_t now = (int64_t)time(NULL);

	if (r->async == 1)
		return MHD_YES;		/* woken early: the write still runs */
	if (r->async == 2)
		return wait_answer(r);
	if (!release_principal(r, known_id, &s, &org, &domains, &nd, &p, &auth, actor,
	    sizeof(actor), &ret))
		return ret;
	memset(&v, 0, sizeof(v));
	/* which envelope, its recipients, its brand and its signing key, in
	 * one read; a malformed id is an unknown one (and for nobody, 401:
	 * whether an id is known is not told before a sign-in) */
	if (known_id == NULL ||
	    (st = sp_store_envelope_view(r->k->store, id, &v, &err)) == SP_ERR_NOTFOUND) {
		status = sp_release_status(auth == SP_RELEASE_AUTH_NONE ?
		    SP_RELEASE_NOT_LOGGED_IN : sp_release_check(&p, NULL, now), &msg);
		ret = refuse(r, status, msg, actor[0] ? actor : NULL, known_id, 0);
		goto out;
	}
	if (st != SP_OK) {
		ret = store_error(r, st, &err);
		goto out;
	}
	/* may have it, at its level with this sign-in, not retracted, not
	 * expired or shredded, verified (release.h) */
	why = sp_release_check_auth(&p, auth, e, now);
	/* ... and the page holds the envelope recorded: checked before the
	 * verification question too, so a forged page cannot spend its tries */
	if (why == SP_RELEASE_OK || why == SP_RELEASE_VERIFY_NEEDED) {
		json_t *bad = NULL;

		if (!claims_check(r, e, &bad)) {
			ret = keyd_reply_field(r, "header_sha256", "api.release_claims");
			goto out;
		}
		if (bad != NULL) {
			ret = refuse_json(r, 403, "api.not_genuine", actor[0] ? actor : NULL, id,
			    e->org_id, json_pack("{s:s,s:s,s:o}", "error",
			    keyd_tmsg(r, "api.not_genuine"), "reason", "not-genuine", "mismatch", bad));
			goto out;
		}
	}
	if (why != SP_RELEASE_OK) {
		if (why == SP_RELEASE_NOT_LOGGED_IN)
			ret = refuse(r, sp_release_status(why, NULL), "api.not_logged_in", NULL, id, 0);
		else if (why == SP_RELEASE_NOT_RECIPIENT)
			ret = refuse(r, sp_release_status(why, NULL), "api.not_recipient",
			    actor, id, e->org_id);
		else
			ret = refuse_reason(r, why, &p, e, actor[0] ? actor : NULL);
		goto out;
	}
	ri = sp_release_rcpt_index(&p, e);
	/* The first open of a recipient is recorded in one write with its
	 * audit record (it decides the read notice); later releases only add
	 * their audit record.  Both are group-committed. */
	first_open = ri >= 0 && e->rstate != NULL && e->rstate[ri].opened == 0;
	if ((wt = wait_new(r, first_open ? SP_WRITE_OPENED : SP_WRITE_AUDIT, "release",
	    actor[0] ? actor : NULL, id, e->org_id)) == NULL) {
		ret = keyd_reply_error(r, 503, "read.busy");
		goto out;
	}
	wt->a.time = now;
	/* how the release was authenticated: password, device or none */
	snprintf(wt->detail, sizeof(wt->detail), "auth=%s", p.kind == SP_RELEASE_ORG ?
	    "organisation" : sp_release_auth_name(auth));
	wt->a.detail = wt->detail;
	wt->event = "release";
	wt->reader = ri;
	wt->needed = 1;
	wt->status = 200;
	if (first_open) {
		snprintf(wt->rcpt, sizeof(wt->rcpt), "%s", e->rcpt[ri]);
		wt->w.id = wt->id;
		wt->w.rcpt = wt->rcpt;
		wt->w.now = now;
		if (e->notify_read)
			snprintf(wt->from, sizeof(wt->from), "%s", e->from);
	}
	/* the key holder's answer comes to unwrapped(), which makes the
	 * answer and queues the write: the key part leaves only once the
	 * record of its release is durable */
	wt->v = v;
	memset(&v, 0, sizeof(v));
	ret = unwrap_start(r, wt);
out:
	sp_envelope_rec_clear(e);
	keyd_strv_free(domains, nd);
	return ret;
}

/* --- verification secret ------------------------------------------------- */

/*
 * An answer is checked with Argon2id like a password: the route runs on a
 * worker (keyd_work.h), so that an HTTP thread never waits for the
 * password gate.
 */

/* Mail the sender of e (the organisation's contact when it has one) that
 * recipient rcpt is locked out. */
static void
verify_locked_notice(struct keyd *k, const struct sp_envelope_rec *e, const char *rcpt)
{
	struct sp_err err = {{0}};
	struct sp_org o;
	struct sp_notice_sender ns = {rcpt, e->id, (int64_t)time(NULL), 0};
	const char *to = e->from, *lang = NULL;

	if (sp_store_org_get_id(k->store, e->org_id, &o, &err) == SP_OK) {
		if (o.contact[0] != '\0')
			to = o.contact;
		lang = o.policy.language;
	}
	keyd_notice_sender_lang(k, lang, SP_NOTICE_VERIFY_LOCKED, to, &ns);
	keyd_log("verify-locked", "id", e->id, NULL);
}

/* Every answer is counted atomically before it is checked, so that
 * parallel guesses cannot get more than SP_STORE_VERIFY_TRIES checks: the
 * last allowed one locks the count for good (the recipient's verify_fails
 * in the envelope record then says why). */
static const struct sp_throttle_policy verify_policy = {
	SP_STORE_VERIFY_TRIES, 1 << 30, 1 << 30, 1 << 30, 1,
};

int
keyd_api_verify_check(struct keyd_req *r, const struct sp_envelope_rec *e, long ri,
    char *answer, int *fails)
{
	struct keyd *k = r->k;
	struct sp_err err = {{0}};
	struct sp_audit a;
	const char *rcpt = e->rcpt[ri];
	char key[SP_STORE_ID_MAX + SP_STORE_EMAIL_MAX + 16];
	int64_t now = (int64_t)time(NULL), until = 0;
	int st, status;

	*fails = 0;
	snprintf(key, sizeof(key), "verify:%s:%s", e->id, rcpt);
	if ((st = sp_store_throttle_begin(k->store, key, now, &verify_policy, &until, &err)) !=
	    SP_OK) {
		keyd_log("store-error", "path", "verify", "error", sp_err_msg(&err, st), NULL);
		return st;
	}
	if (until > now) {
		*fails = SP_STORE_VERIFY_TRIES;
		return SP_ERR_AUTH;
	}
	st = sp_answer_verify(e->verify_hash, answer, &err);
	if (st != SP_OK && st != SP_ERR_AUTH) {
		/* not checked (the password workers were busy): not counted */
		sp_store_throttle_undo(k->store, key, NULL);
		return st;
	}
	a = (struct sp_audit){0, st == SP_OK ? "verify" : "verify-failed", rcpt, e->id,
	    r->client, NULL, e->org_id};
	if ((status = sp_store_envelope_verify_result(k->store, e->id, rcpt, st == SP_OK, fails,
	    &a, &err)) != SP_OK) {
		keyd_log("store-error", "path", "verify", "error", sp_err_msg(&err, status), NULL);
		return status;
	}
	if (st == SP_OK)
		sp_store_throttle_reset(k->store, key, NULL);	/* proved: the count is done with */
	if (st == SP_ERR_AUTH && *fails == SP_STORE_VERIFY_TRIES)
		verify_locked_notice(k, e, rcpt);
	return st;
}

/* The answer to a check of envelope id's question (keyd_api_verify_check's
 * status and count of failures). */
static enum MHD_Result
verify_answer(struct keyd_req *r, const char *id, int status, int fails)
{
	int left = SP_STORE_VERIFY_TRIES - fails;

	switch (status) {
	case SP_OK:
		keyd_log("verify", "id", id, "client", r->client, NULL);
		return keyd_reply_json(r, 200, json_pack("{s:b}", "ok", 1));
	case SP_ERR_AUTH:
		if (left <= 0)
			return keyd_reply_reason(r, 423, "api.verify_locked", "verify-locked");
		return keyd_reply_json(r, 403, json_pack("{s:s,s:i}", "error",
		    keyd_t(r, "api.verify_wrong"), "tries_left", left));
	case SP_ERR_RETRY:
		return keyd_reply_error(r, 503, "read.busy");
	default:
		return keyd_reply_error(r, 500, "err.internal");
	}
}

enum MHD_Result
keyd_api_verify(struct keyd_req *r, const char *id)
{
	struct sp_err err = {{0}};
	struct sp_session s;
	struct sp_envelope_rec e;
	struct sp_release_principal p;
	const char *msg, *ansv;
	char *norm = NULL;
	enum sp_release_reason why;
	enum MHD_Result ret;
	json_t *j = NULL;
	size_t len;
	long ri;
	int st, bad, fails = 0;

	if (!post_session(r, &s, &ret))
		return ret;
	if (!keyd_valid_id(id))
		return keyd_reply_error(r, 404, "api.unknown_envelope");
	memset(&e, 0, sizeof(e));
	if ((st = sp_store_envelope_get(r->k->store, id, &e, &err)) == SP_ERR_NOTFOUND)
		return keyd_reply_error(r, 404, "api.unknown_envelope");
	if (st != SP_OK)
		return store_error(r, st, &err);
	p = (struct sp_release_principal){SP_RELEASE_RECIPIENT, s.email, 0, NULL, NULL, 0};
	why = sp_release_check_auth(&p, keyd_session_how(&s), &e, (int64_t)time(NULL));
	if (why == SP_RELEASE_OK) {
		/* nothing to prove, or proved already */
		ret = keyd_reply_json(r, 200, json_pack("{s:b}", "ok", 1));
		goto out;
	}
	if (why != SP_RELEASE_VERIFY_NEEDED) {
		const char *name = sp_release_reason_name(why);
		unsigned status = sp_release_status(why, &msg);

		ret = name != NULL ? keyd_reply_json(r, status, json_pack("{s:s,s:s}", "error", msg,
		    "reason", name)) : keyd_reply_error(r, status, msg);
		goto out;
	}
	if ((j = keyd_json_body(r, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL)) == NULL) {
		ret = keyd_reply_error(r, 400, "api.not_object");
		goto out;
	}
	ansv = keyd_json_str(j, "answer", &len, &bad);
	{
		struct sp_field_rules rules = {1024, 256, SP_FIELD_REQUIRED | SP_FIELD_TRIM};
		enum sp_field_reason fr = SP_FIELD_R_OK;

		if (bad || ansv == NULL) {
			ret = keyd_reply_field(r, "answer", "api.answer_required");
			goto out;
		}
		if (sp_field_text(ansv, len, &rules, &norm, &fr, &err) != SP_OK) {
			ret = keyd_reply_field(r, "answer", sp_field_reason_str(fr));
			goto out;
		}
	}
	ri = sp_release_rcpt_index(&p, &e);
	st = keyd_api_verify_check(r, &e, ri, norm, &fails);
	ret = verify_answer(r, e.id, st, fails);
out:
	if (norm != NULL) {
		sp_wipe(norm, strlen(norm));
		free(norm);
	}
	json_decref(j);
	sp_envelope_rec_clear(&e);
	return ret;
}

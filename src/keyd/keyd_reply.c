/*
 * keyd_reply.c - secure reply, reply all and forward (keyd_reply.h).  The
 * replier is the signed-in account, which must be able to release the
 * original now (release.h, its level included); who the reply may go to
 * comes from the key server's record of the original (reply.h).  The
 * reply is built here (reply_build.c), sealed by the one sealer
 * (sp_seal_message_to) into this key server's own store through a depot
 * of this file, signed with the organisation's reply key that only the
 * key server holds (wrapped by the key holder like a server key part),
 * and handed to the mail system before the answer: a reply that could not
 * be is answered 503 (the replier sends again), never lost after a 200.
 * SECURITY: no open relay: every address is checked against the record
 * of the original or the organisation's forward list; replies are
 * throttled per account and per client address; sizes are capped before
 * work; header texts are checked for control characters; the reply key's
 * seed is wiped after each use; the audit record never holds a subject or
 * content.
 */
#include <glib.h>
#include <gmime/gmime.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto.h"
#include "keyd_lang.h"
#include "keyd_login.h"
#include "keyd_org.h"
#include "keyd_reply.h"
#include "message.h"
#include "release.h"
#include "reply.h"
#include "seal.h"
#include "sign.h"

/* Room in the sealed mail beyond the message itself (envelope page,
 * notice, base64 of the ciphertext). */
#define REPLY_MAIL_SLACK ((size_t)4 << 20)

size_t
keyd_reply_body_cap(size_t max)
{
	return max / 3 * 4 + 16 + (size_t)SP_REPLY_TEXT_MAX * 6 + 65536;
}

/* --- the original and who asks ------------------------------------------ */

struct reply_ctx {
	struct keyd *k;
	struct sp_session s;
	struct sp_envelope_view v;
	struct sp_org org;		/* the original's organisation, with its policy */
	char **domains;
	size_t nd;
	struct sp_reply_addrs reply_to, reply_all;
};

static void
reply_ctx_clear(struct reply_ctx *c)
{
	sp_envelope_rec_clear(&c->v.e);
	keyd_strv_free(c->domains, c->nd);
	sp_reply_addrs_clear(&c->reply_to);
	sp_reply_addrs_clear(&c->reply_all);
	sp_wipe(&c->s, sizeof(c->s));
}

/* 1 when the sender withdrew the original from addr (a recipient of it
 * that the envelope names: a blind copy's state is nobody else's
 * business, and a refusal would tell that it was one). */
static int
withdrawn_from(const struct reply_ctx *c, const char *addr)
{
	size_t i;

	for (i = 0; c->v.e.rstate != NULL && i < c->v.e.nrcpt; i++)
		if (c->v.e.rstate[i].retracted && !c->v.e.rstate[i].hidden &&
		    c->v.e.rcpt[i] != NULL &&
		    g_ascii_strcasecmp(c->v.e.rcpt[i], addr) == 0)
			return 1;
	return 0;
}

/* Reply and reply-all targets from the original's sender and those of its
 * recipients it names (never a blind copy) and was not withdrawn from: a
 * reply never takes the message back to someone the sender took it from.
 * 1, or 0 out of memory. */
static int
live_targets(struct reply_ctx *c)
{
	const char **live = calloc(c->v.e.nrcpt + 1, sizeof(*live));
	size_t i, n = 0;
	int st;

	if (live == NULL)
		return 0;
	for (i = 0; i < c->v.e.nrcpt; i++)
		if (c->v.e.rcpt[i] != NULL && (c->v.e.rstate == NULL ||
		    (!c->v.e.rstate[i].retracted && !c->v.e.rstate[i].hidden)))
			live[n++] = c->v.e.rcpt[i];
	st = sp_reply_targets(c->v.e.from, live, n, c->s.email, &c->reply_to, &c->reply_all);
	free(live);
	return st == SP_OK;
}

/* The session, the original, the release checks, the organisation: 1 with
 * c filled, else 0 with *ans queued (the release route's answers). */
static int
reply_load(struct keyd_req *r, const char *id, int want_csrf, struct reply_ctx *c,
    enum MHD_Result *ans)
{
	struct sp_err err = {{0}};
	struct sp_release_principal p = {0};
	enum sp_release_reason why;
	const char *msg, *name;
	int64_t now = (int64_t)time(NULL);
	int st;

	memset(c, 0, sizeof(*c));
	c->k = r->k;
	st = keyd_session_auth(r, want_csrf, &c->s, &err);
	if (st == SP_ERR_AUTH) {
		*ans = keyd_reply_error(r, 401, "api.not_logged_in");
		return 0;
	}
	if (st == SP_ERR_DENIED) {
		*ans = keyd_reply_error(r, 403, "api.csrf");
		return 0;
	}
	if (st != SP_OK) {
		*ans = keyd_store_error(r, st, &err);
		return 0;
	}
	if (!keyd_valid_id(id) ||
	    (st = sp_store_envelope_view(r->k->store, id, &c->v, &err)) == SP_ERR_NOTFOUND) {
		*ans = keyd_reply_error(r, 404, "api.unknown_envelope");
		return 0;
	}
	if (st != SP_OK) {
		*ans = keyd_store_error(r, st, &err);
		return 0;
	}
	p = (struct sp_release_principal){SP_RELEASE_RECIPIENT, c->s.email, 0, NULL, NULL, 0};
	why = sp_release_check_auth(&p, keyd_session_how(&c->s), &c->v.e, now);
	if (why != SP_RELEASE_OK) {
		unsigned status = sp_release_status(why, &msg);

		if (why == SP_RELEASE_NOT_RECIPIENT)
			msg = "api.not_recipient";
		name = sp_release_reason_name(why);
		*ans = name != NULL ? keyd_reply_json(r, status, json_pack("{s:s,s:s}", "error",
		    keyd_tmsg(r, msg), "reason", name)) : keyd_reply_error(r, status, msg);
		return 0;
	}
	if ((st = sp_store_org_get_id(r->k->store, c->v.e.org_id, &c->org, &err)) != SP_OK ||
	    (st = keyd_org_domains(r->k, c->org.id, &c->domains, &c->nd, &err)) != SP_OK) {
		*ans = keyd_store_error(r, st, &err);
		return 0;
	}
	if (!live_targets(c)) {
		*ans = keyd_reply_error(r, 503, "api.busy");
		return 0;
	}
	return 1;
}

static json_t *
addrs_json(const struct sp_reply_addrs *a)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; arr != NULL && i < a->n; i++)
		json_array_append_new(arr, json_string(a->v[i]));
	return arr;
}

/* The domains a forward may go to: the organisation's and its list. */
static json_t *
fwd_domains_json(const struct reply_ctx *c)
{
	json_t *arr = json_array();
	const char *p = c->org.policy.forward_domains, *end;
	size_t i;

	if (arr == NULL || !c->org.policy.forward)
		return arr;
	for (i = 0; i < c->nd; i++)
		json_array_append_new(arr, json_string(c->domains[i]));
	while (*p != '\0') {
		end = strchr(p, ',');
		json_array_append_new(arr, json_stringn(p, end ? (size_t)(end - p) : strlen(p)));
		if (end == NULL)
			break;
		p = end + 1;
	}
	return arr;
}

enum MHD_Result
keyd_api_reply_get(struct keyd_req *r, const char *id)
{
	struct sp_err err = {{0}};
	struct reply_ctx c;
	struct sp_account acc;
	enum MHD_Result ans;
	int bcc = 0;

	if (!reply_load(r, id, 0, &c, &ans)) {
		reply_ctx_clear(&c);
		return ans;
	}
	if (sp_store_account_get(r->k->store, c.s.email, &acc, &err) == SP_OK)
		bcc = acc.bcc_default;
	sp_wipe(&acc, sizeof(acc));
	ans = keyd_reply_json(r, 200, json_pack("{s:b,s:b,s:s,s:o,s:o,s:o,s:I,s:b}",
	    "reply", c.org.policy.replies != 0, "forward", c.org.policy.forward != 0,
	    "from", c.v.e.from, "reply_to", addrs_json(&c.reply_to),
	    "reply_all", addrs_json(&c.reply_all), "forward_domains", fwd_domains_json(&c),
	    "max_bytes", (json_int_t)r->k->max_reply, "bcc_default", bcc));
	reply_ctx_clear(&c);
	return ans;
}

enum MHD_Result
keyd_api_me(struct keyd_req *r, const char *arg)
{
	struct sp_err err = {{0}};
	struct sp_session s;
	struct sp_account acc;
	enum MHD_Result ans;
	char name[2 * SP_STORE_NAME_MAX + 2];
	int st;

	(void)arg;
	if ((st = keyd_session_auth(r, 0, &s, &err)) == SP_ERR_AUTH)
		return keyd_reply_error(r, 401, "api.not_logged_in");
	if (st != SP_OK)
		return keyd_store_error(r, st, &err);
	if ((st = sp_store_account_get(r->k->store, s.email, &acc, &err)) != SP_OK)
		return st == SP_ERR_NOTFOUND ? keyd_reply_error(r, 401, "api.not_logged_in") :
		    keyd_store_error(r, st, &err);
	snprintf(name, sizeof(name), "%s%s%s", acc.first_name,
	    acc.first_name[0] && acc.last_name[0] ? " " : "", acc.last_name);
	ans = keyd_reply_json(r, 200, json_pack("{s:s,s:s,s:s,s:b}", "email", acc.email,
	    "name", name, "language", sp_i18n_lang(acc.language),
	    "bcc_default", acc.bcc_default != 0));
	sp_wipe(&acc, sizeof(acc));
	return ans;
}

/* --- the reply key --------------------------------------------------------- */

static int
reply_key_cb(void *ctx, const struct sp_org_key *key)
{
	struct sp_org_key *out = ctx;

	if (key->reply && key->retired == 0 && key->wrapped_len > 0) {
		*out = *key;
		return 1;
	}
	return 0;
}

/* The organisation's reply key as a signer: the live one, unwrapped by
 * the key holder, or a new one made, wrapped and stored (a key server that
 * made one at the same moment wins: its key is read back). */
static int
reply_signer(struct keyd *k, const struct sp_org *org, struct sp_signer **signer,
    struct sp_err *err)
{
	struct sp_org_key key;
	struct sp_audit a;
	unsigned char seed[SP_SIGN_SEED_LEN];
	char aad[32], detail[32];
	int st, tries;

	*signer = NULL;
	for (tries = 0; tries < 2; tries++) {
		memset(&key, 0, sizeof(key));
		if ((st = sp_store_org_key_each(k->store, org->id, reply_key_cb, &key, err)) != SP_OK)
			return st;
		if (key.kid[0] != '\0') {
			snprintf(aad, sizeof(aad), "replykey:%s", key.kid);
			if ((st = sp_keywrap_unwrap(k->kw, key.wrap_key_id, aad, key.wrapped,
			    key.wrapped_len, seed, err)) == SP_OK)
				st = sp_signer_from_seed(signer, seed, err);
			sp_wipe(seed, sizeof(seed));
			sp_wipe(&key, sizeof(key));
			return st;
		}
		/* none yet: make it */
		if ((st = sp_random(seed, sizeof(seed))) != SP_OK ||
		    (st = sp_signer_from_seed(signer, seed, err)) != SP_OK) {
			sp_wipe(seed, sizeof(seed));
			return sp_err_set(err, st == SP_OK ? SP_ERR_INTERNAL : st, "cannot make a reply key");
		}
		key.org_id = org->id;
		key.reply = 1;
		key.created = (int64_t)time(NULL);
		sp_signer_pub(*signer, key.pub);
		sp_signer_kid(*signer, key.kid);
		snprintf(aad, sizeof(aad), "replykey:%s", key.kid);
		st = sp_keywrap_wrap(k->kw, aad, seed, key.wrapped, &key.wrap_key_id, err);
		sp_wipe(seed, sizeof(seed));
		if (st != SP_OK) {
			sp_signer_free(*signer);
			*signer = NULL;
			return st;
		}
		key.wrapped_len = SP_KEYWRAP_LEN;
		snprintf(detail, sizeof(detail), "kid=%s reply", key.kid);
		a = (struct sp_audit){0, "org-key-reply", "keyd", NULL, NULL, detail, org->id};
		st = sp_store_org_key_add(k->store, &key, &a, err);
		if (st == SP_OK)
			keyd_log("reply-key", "org", org->name, "kid", key.kid, NULL);
		sp_wipe(&key, sizeof(key));
		if (st == SP_OK)
			return SP_OK;
		sp_signer_free(*signer);
		*signer = NULL;
		if (st != SP_ERR_EXISTS)
			return st;
	}
	return sp_err_set(err, SP_ERR_RETRY, "the reply key changed meanwhile");
}

/* --- the depot: this key server's own store -------------------------------- */

struct reply_depot {
	struct keyd *k;
	const struct reply_ctx *c;
	const char *client;
	const char *kid;		/* the reply key's */
	int mode;
	size_t nvisible;		/* recipients named in To: */
	char id[SP_STORE_ID_MAX + 1];
};

static const char *const mode_names[] = {"reply", "all", "forward"};

static int
depot_deposit(void *ctx, const struct sp_deposit_req *req, struct sp_deposit_res *res,
    struct sp_err *err)
{
	struct reply_depot *d = ctx;
	const struct reply_ctx *c = d->c;
	struct sp_envelope_rec e;
	struct sp_audit a;
	struct sp_buf b64;
	unsigned char idraw[SP_ENV_ID_LEN], part[SP_KEY_LEN];
	char detail[160];
	int st;

	memset(&e, 0, sizeof(e));
	memset(res, 0, sizeof(*res));
	e.org_id = c->org.id;
	snprintf(e.from, sizeof(e.from), "%s", req->from);
	e.rcpt = (char **)req->rcpt;
	e.nrcpt = req->nrcpt;
	e.created = (int64_t)time(NULL);
	e.expires = c->org.policy.expire_days > 0 ? e.created + c->org.policy.expire_days * 86400 : 0;
	e.kind = SP_ENV_KIND_REPLY;
	e.format = 2;
	e.notify_read = 0;
	/* the original's level: a reply is as protected as what it answers */
	snprintf(e.level, sizeof(e.level), "%s", c->v.e.level[0] ? c->v.e.level : "medium");
	if (req->holder != NULL) {
		e.has_holder = 1;
		memcpy(e.holder, req->holder, sizeof(e.holder));
	}
	sp_buf_init(&b64, 128);
	if ((st = sp_random(idraw, sizeof(idraw))) == SP_OK &&
	    (st = sp_b64url_encode(&b64, idraw, sizeof(idraw))) == SP_OK) {
		snprintf(e.id, sizeof(e.id), "%s", (const char *)b64.data);
		st = sp_random(part, sizeof(part));
	}
	sp_buf_free(&b64);
	if (st != SP_OK)
		return sp_err_set(err, st, "no randomness");
	if ((st = sp_keywrap_wrap(d->k->kw, e.id, part, e.wrapped, &e.key_id, err)) != SP_OK) {
		sp_wipe(part, sizeof(part));
		return st;
	}
	e.wrapped_len = SP_KEYWRAP_LEN;
	/* the audit record of the reply: who, the original, the new id, how
	 * many; never the subject or the text */
	snprintf(detail, sizeof(detail), "original=%s mode=%s recipients=%zu bcc_me=%s",
	    c->v.e.id, mode_names[d->mode], d->nvisible, req->nrcpt > d->nvisible ? "yes" : "no");
	a = (struct sp_audit){e.created, "reply", c->s.email, e.id, d->client, detail, e.org_id};
	/* the replier's own copy ("BCC me") is a blind copy */
	if (req->hidden != NULL &&
	    (e.rstate = calloc(req->nrcpt, sizeof(*e.rstate))) == NULL)
		st = sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	for (size_t i = 0; e.rstate != NULL && i < req->nrcpt; i++)
		e.rstate[i].hidden = req->hidden[i] != 0;
	if (st == SP_OK)
		st = sp_store_envelope_add(d->k->store, &e, &a, err);
	free(e.rstate);
	sp_wipe(e.wrapped, sizeof(e.wrapped));
	if (st != SP_OK) {
		sp_wipe(part, sizeof(part));
		return st;
	}
	memcpy(res->id, e.id, sizeof(res->id));
	memcpy(res->server_part, part, sizeof(part));
	sp_wipe(part, sizeof(part));
	memcpy(d->id, e.id, sizeof(d->id));
	res->org = strdup(keyd_org_display(&c->org));
	res->keyd = strdup(d->k->public_url);
	res->brand_colour = c->org.colour[0] ? strdup(c->org.colour) : NULL;
	res->created = e.created;
	res->expires = e.expires;
	snprintf(res->level, sizeof(res->level), "%s", e.level);
	/* the notification mail and the envelope: the organisation's language */
	snprintf(res->language, sizeof(res->language), "%s",
	    sp_i18n_lang(c->org.policy.language));
	if (res->org == NULL || res->keyd == NULL) {
		sp_deposit_res_clear(res);
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	}
	return SP_OK;
}

static int
depot_seal(void *ctx, const char *id, const unsigned char *header, size_t header_len,
    const unsigned char ct_sha[SP_SHA256_LEN], const unsigned char sig[SP_SIGN_SIG_LEN],
    struct sp_err *err)
{
	struct reply_depot *d = ctx;
	unsigned char hsha[SP_SHA256_LEN];
	char detail[32];
	struct sp_audit a;
	int st;

	if ((st = sp_sha256(header, header_len, hsha)) != SP_OK)
		return sp_err_set(err, st, "cannot hash the header");
	snprintf(detail, sizeof(detail), "kid=%s", d->kid);
	a = (struct sp_audit){0, "seal", "keyd", id, d->client, detail, d->c->org.id};
	return sp_store_envelope_seal_header(d->k->store, id, hsha, ct_sha, sig, d->kid, header,
	    header_len, &a, err);
}

/* --- the request ----------------------------------------------------------- */

/* A 403 naming the reason (and the address). */
static enum MHD_Result
refuse(struct keyd_req *r, const char *reason, const char *addr, const char *msg)
{
	if (addr != NULL)
		return keyd_reply_json(r, 403, json_pack("{s:s,s:s,s:s}", "error",
		    keyd_tmsg(r, msg), "reason", reason, "address", addr));
	return keyd_reply_json(r, 403, json_pack("{s:s,s:s}", "error", keyd_tmsg(r, msg),
	    "reason", reason));
}

/* 413: the attachments are over the cap (named). */
static enum MHD_Result
attach_large(struct keyd_req *r)
{
	return keyd_reply_json(r, 413, json_pack("{s:s,s:I}", "error",
	    keyd_t(r, "api.reply.attach_large"), "max_bytes", (json_int_t)r->k->max_reply));
}

/* Count one reply against key; 1 when it may go ahead, else 0 with *ans
 * queued (429 with retry_after, or a store error). */
static int
throttle(struct keyd_req *r, const char *prefix, const char *who,
    const struct sp_throttle_policy *p, enum MHD_Result *ans)
{
	struct sp_err err = {{0}};
	char key[SP_STORE_EMAIL_MAX + 80];
	int64_t until = 0, now = (int64_t)time(NULL);
	int st;

	snprintf(key, sizeof(key), "%s:%s", prefix, who);
	if ((st = sp_store_throttle_begin(r->k->store, key, now, p, &until, &err)) != SP_OK) {
		*ans = keyd_store_error(r, st, &err);
		return 0;
	}
	if (until > now) {
		r->retry_after = until - now;
		keyd_log("reply-throttled", "key", prefix, "client", r->client, NULL);
		*ans = keyd_reply_json(r, 429, json_pack("{s:s,s:I}", "error",
		    keyd_t(r, "api.reply.too_many"), "retry_after", (json_int_t)(until - now)));
		return 0;
	}
	return 1;
}

/* What a POST asks for, checked. */
struct reply_req {
	int mode;
	const char *to[SP_REPLY_MAX_TO + 1];	/* lower-case copies in low */
	char low[SP_REPLY_MAX_TO][SP_STORE_EMAIL_MAX + 1];
	size_t nto;
	const char *subject, *text, *in_reply_to, *references;
	size_t text_len;
	int bcc_me;
	struct sp_reply_part parts[SP_REPLY_MAX_ATTACH];
	struct sp_buf bufs[SP_REPLY_MAX_ATTACH];
	size_t nparts;
	size_t bytes;
};

static void
reply_req_clear(struct reply_req *q)
{
	size_t i;

	for (i = 0; i < q->nparts; i++)
		sp_buf_wipe(&q->bufs[i]);
}

/* Parse and check the body: 1, or 0 with *ans queued (400 naming the
 * field, 413 too large). */
static int
reply_parse(struct keyd_req *r, json_t *j, struct reply_req *q, enum MHD_Result *ans)
{
	json_t *v, *a;
	size_t i, len;
	int bad;
	const char *s;

	q->mode = sp_reply_mode_parse(json_string_value(json_object_get(j, "mode")));
	if (q->mode < 0) {
		*ans = keyd_reply_field(r, "mode", "api.reply.mode");
		return 0;
	}
	v = json_object_get(j, "to");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_array(v) || json_array_size(v) == 0 ||
		    json_array_size(v) > SP_REPLY_MAX_TO) {
			*ans = keyd_reply_field(r, "to", "api.reply.to_count");
			return 0;
		}
		for (i = 0; i < json_array_size(v); i++) {
			a = json_array_get(v, i);
			if (!json_is_string(a) || strlen(json_string_value(a)) != json_string_length(a) ||
			    keyd_email_lower(json_string_value(a), q->low[q->nto],
			    sizeof(q->low[0])) != SP_OK) {
				*ans = keyd_reply_field(r, "to", "api.reply.to_addresses");
				return 0;
			}
			q->to[q->nto] = q->low[q->nto];
			q->nto++;
		}
	} else if (q->mode == SP_REPLY_FORWARD) {
		*ans = keyd_reply_field(r, "to", "api.reply.forward_to");
		return 0;
	}
	s = keyd_json_str(j, "subject", &len, &bad);
	if (s == NULL || len > SP_REPLY_SUBJECT_MAX || !sp_reply_line_ok(s, len)) {
		*ans = keyd_reply_field(r, "subject", "api.reply.subject");
		return 0;
	}
	q->subject = s;
	s = keyd_json_str(j, "text", &len, &bad);
	if (bad || (s != NULL && len > SP_REPLY_TEXT_MAX)) {
		*ans = bad ? keyd_reply_field(r, "text", "api.reply.text") :
		    keyd_reply_json(r, 413, json_pack("{s:s}", "error", keyd_t(r, "api.reply.text_long")));
		return 0;
	}
	q->text = s != NULL ? s : "";
	q->text_len = len;
	s = keyd_json_str(j, "in_reply_to", &len, &bad);
	if (bad || (s != NULL && !sp_reply_msgid_ok(s, 1))) {
		*ans = keyd_reply_field(r, "in_reply_to", "api.reply.in_reply_to");
		return 0;
	}
	q->in_reply_to = s;
	s = keyd_json_str(j, "references", &len, &bad);
	if (bad || (s != NULL && !sp_reply_msgid_ok(s, 0))) {
		*ans = keyd_reply_field(r, "references", "api.reply.references");
		return 0;
	}
	q->references = s;
	v = json_object_get(j, "bcc_me");
	if (v != NULL && !json_is_null(v) && !json_is_boolean(v)) {
		*ans = keyd_reply_field(r, "bcc_me", "api.reply.bcc_me");
		return 0;
	}
	q->bcc_me = v != NULL && json_is_true(v);
	v = json_object_get(j, "attachments");
	if (v != NULL && !json_is_null(v) && (!json_is_array(v) ||
	    json_array_size(v) > SP_REPLY_MAX_ATTACH)) {
		if (json_is_array(v))
			*ans = keyd_reply_json(r, 413, json_pack("{s:s}", "error",
			    keyd_t(r, "api.reply.attach_count")));
		else
			*ans = keyd_reply_field(r, "attachments", "api.reply.attach_list");
		return 0;
	}
	for (i = 0; v != NULL && json_is_array(v) && i < json_array_size(v); i++) {
		const char *name, *type, *data;
		size_t nl, tl, dl;
		int b1, b2, b3;

		a = json_array_get(v, i);
		name = keyd_json_str(a, "name", &nl, &b1);
		type = keyd_json_str(a, "type", &tl, &b2);
		data = keyd_json_str(a, "data", &dl, &b3);
		if (!json_is_object(a) || name == NULL || nl > SP_REPLY_NAME_MAX ||
		    !sp_reply_line_ok(name, nl) || strpbrk(name, "/\\") != NULL) {
			*ans = keyd_reply_field(r, "attachments", "api.reply.attach_name");
			return 0;
		}
		if (b2 || (type != NULL && (tl > SP_REPLY_TYPE_MAX || !sp_reply_line_ok(type, tl)))) {
			*ans = keyd_reply_field(r, "attachments", "api.reply.attach_type");
			return 0;
		}
		if (data == NULL || b3) {
			*ans = keyd_reply_field(r, "attachments", "api.reply.attach_data");
			return 0;
		}
		if (dl / 4 * 3 > r->k->max_reply + 3 || q->bytes + dl / 4 * 3 > r->k->max_reply + 3) {
			*ans = attach_large(r);
			return 0;
		}
		sp_buf_init(&q->bufs[i], dl / 4 * 3 + 4);
		q->nparts = i + 1;
		if (sp_b64_decode(&q->bufs[i], data, dl) != SP_OK) {
			*ans = keyd_reply_field(r, "attachments", "api.reply.attach_data");
			return 0;
		}
		q->bytes += q->bufs[i].len;
		if (q->bytes > r->k->max_reply) {
			*ans = attach_large(r);
			return 0;
		}
		q->parts[i] = (struct sp_reply_part){name, type, q->bufs[i].data ?
		    q->bufs[i].data : (const unsigned char *)"", q->bufs[i].len};
	}
	return 1;
}

/* Who the reply goes to: q->to checked against the original (reply, all)
 * or the organisation (forward); filled from the original when the request
 * named nobody.  1, or 0 with *ans queued. */
static int
reply_recipients(struct keyd_req *r, const struct reply_ctx *c, struct reply_req *q,
    enum MHD_Result *ans)
{
	const struct sp_reply_addrs *allowed = q->mode == SP_REPLY_ALL ? &c->reply_all : &c->reply_to;
	size_t i, j;

	for (i = 0; i < q->nto; i++)
		if (withdrawn_from(c, q->to[i])) {
			*ans = refuse(r, "recipient", q->to[i], "api.reply.withdrawn");
			return 0;
		}
	if (q->mode == SP_REPLY_FORWARD) {
		if (!c->org.policy.forward) {
			*ans = refuse(r, "forward-off", NULL, "api.reply.forward_off");
			return 0;
		}
		for (i = 0; i < q->nto; i++)
			if (!sp_reply_fwd_allowed(q->to[i], (const char *const *)c->domains, c->nd,
			    c->org.policy.forward_domains)) {
				*ans = refuse(r, "recipient", q->to[i], "api.reply.forward_addr");
				return 0;
			}
	} else {
		if (!c->org.policy.replies) {
			*ans = refuse(r, "replies-off", NULL, "api.reply.replies_off");
			return 0;
		}
		for (i = 0; i < q->nto; i++)
			if (!sp_reply_addrs_has(allowed, q->to[i])) {
				*ans = refuse(r, "recipient", q->to[i], "api.reply.not_included");
				return 0;
			}
		if (q->nto == 0) {
			for (i = 0; i < allowed->n && q->nto < SP_REPLY_MAX_TO; i++)
				snprintf(q->low[q->nto++], sizeof(q->low[0]), "%s", allowed->v[i]);
			for (i = 0; i < q->nto; i++)
				q->to[i] = q->low[i];
		}
	}
	/* no address twice, nor the replier among them */
	for (i = 0; i < q->nto; i++) {
		if (strcmp(q->to[i], c->s.email) == 0) {
			*ans = keyd_reply_field(r, "to", "api.reply.to_self");
			return 0;
		}
		for (j = 0; j < i; j++)
			if (strcmp(q->to[i], q->to[j]) == 0) {
				*ans = keyd_reply_field(r, "to", "api.reply.to_twice");
				return 0;
			}
	}
	if (q->nto == 0) {
		*ans = keyd_reply_field(r, "to", "api.reply.nobody");
		return 0;
	}
	return 1;
}

/* The notification's From: "NAME via ORG" <mail_from> in lang (the
 * organisation's), encoded. */
static char *
notice_from(const struct keyd *k, const char *lang, const char *name, const char *org)
{
	InternetAddress *ia;
	GMimeFormatOptions *fo;
	struct sp_buf who;
	char *s, *out;

	sp_buf_init(&who, 2 * SP_STORE_NAME_MAX + 1024);
	if (sp_i18n_plain(&who, lang, "seal.via", (struct sp_i18n_var[]){{"name", name},
	    {"org", org}}, 2) != SP_OK || who.data == NULL) {
		sp_buf_free(&who);
		return NULL;
	}
	ia = internet_address_mailbox_new((const char *)who.data, k->mail_from);
	fo = g_mime_format_options_new();
	s = internet_address_to_string(ia, fo, TRUE);
	out = s != NULL ? strdup(s) : NULL;
	g_free(s);
	g_mime_format_options_free(fo);
	g_object_unref(ia);
	sp_buf_free(&who);
	return out;
}

enum MHD_Result
keyd_api_reply_post(struct keyd_req *r, const char *id)
{
	struct sp_err err = {{0}};
	struct reply_ctx c;
	struct reply_req *q = NULL;
	struct sp_account acc;
	struct sp_signer *signer = NULL;
	struct reply_depot dp;
	struct sp_seal_depot depot;
	struct sp_seal_params sp;
	struct sp_reply_msg m;
	struct sp_buf raw, mail;
	const char *rcpt[SP_REPLY_MAX_TO + 1], *dom;
	char name[2 * SP_STORE_NAME_MAX + 2], kid[SP_SIGN_KID_LEN + 1];
	char newid[SP_ENV_ID_STRLEN + 1], *from_hdr = NULL;
	enum MHD_Result ans;
	json_t *j = NULL, *to;
	size_t i, nr;
	int st;

	sp_msg_global_init();
	sp_buf_init(&raw, (size_t)r->k->max_reply * 2 + (size_t)SP_REPLY_TEXT_MAX * 4 + 65536);
	sp_buf_init(&mail, (size_t)r->k->max_reply * 4 + (size_t)SP_REPLY_TEXT_MAX * 4 +
	    REPLY_MAIL_SLACK);
	memset(&acc, 0, sizeof(acc));
	if (!reply_load(r, id, 1, &c, &ans))
		goto out;
	/* every attempt counts, refused ones too: no probing of addresses */
	if (!throttle(r, "reply", c.s.email, &r->k->thr_reply, &ans) ||
	    !throttle(r, "reply-ip", r->client_key, &r->k->thr_reply_ip, &ans))
		goto out;
	if ((j = keyd_json_body(r, JSON_REJECT_DUPLICATES)) == NULL) {
		ans = keyd_reply_error(r, 400, "api.not_object");
		goto out;
	}
	if ((q = calloc(1, sizeof(*q))) == NULL) {
		ans = keyd_reply_error(r, 503, "api.busy");
		goto out;
	}
	if (!reply_parse(r, j, q, &ans) || !reply_recipients(r, &c, q, &ans))
		goto out;
	if ((st = sp_store_account_get(r->k->store, c.s.email, &acc, &err)) != SP_OK) {
		ans = keyd_store_error(r, st, &err);
		goto out;
	}
	snprintf(name, sizeof(name), "%s%s%s", acc.first_name,
	    acc.first_name[0] && acc.last_name[0] ? " " : "", acc.last_name);
	/* the reply as the replier wrote it */
	dom = strrchr(r->k->mail_from, '@');
	m = (struct sp_reply_msg){c.s.email, name[0] ? name : NULL, q->to, q->nto, q->subject,
	    q->text, q->text_len, q->in_reply_to, q->references, dom ? dom + 1 : "localhost",
	    (int64_t)time(NULL), q->parts, q->nparts};
	if ((st = sp_reply_build(&m, &raw, &err)) != SP_OK) {
		ans = st == SP_ERR_TOOBIG ? keyd_reply_json(r, 413, json_pack("{s:s}", "error",
		    keyd_t(r, "api.reply.too_large"))) : keyd_reply_field(r, "reply", err.msg);
		goto out;
	}
	reply_req_clear(q);
	q->nparts = 0;
	/* sealed with the organisation's reply key into this store */
	if ((st = reply_signer(r->k, &c.org, &signer, &err)) != SP_OK) {
		keyd_log("reply-failed", "id", c.v.e.id, "error", sp_err_msg(&err, st), NULL);
		ans = keyd_store_error(r, st, &err);
		goto out;
	}
	sp_signer_kid(signer, kid);
	for (nr = 0; nr < q->nto; nr++)
		rcpt[nr] = q->to[nr];
	if (q->bcc_me)
		rcpt[nr++] = c.s.email;
	dp = (struct reply_depot){r->k, &c, r->client, kid, q->mode, q->nto, ""};
	depot = (struct sp_seal_depot){&dp, depot_deposit, depot_seal, NULL};
	from_hdr = notice_from(r->k, sp_i18n_lang(c.org.policy.language),
	    name[0] ? name : c.s.email, keyd_org_display(&c.org));
	memset(&sp, 0, sizeof(sp));
	sp.rcpt = rcpt;
	sp.nrcpt = nr;
	sp.from = c.s.email;
	sp.signer = signer;
	sp.notice_from = from_hdr;
	sp.notice_reply_to = c.s.email;
	if (from_hdr == NULL) {
		ans = keyd_reply_error(r, 503, "api.busy");
		goto out;
	}
	st = sp_seal_message_to(&depot, &sp, raw.data, raw.len,
	    (struct sp_writer){sp_writer_buf, &mail}, newid, &err);
	sp_buf_wipe(&raw);
	if (st != SP_OK) {
		keyd_log("reply-failed", "id", c.v.e.id, "error", sp_err_msg(&err, st), NULL);
		if (dp.id[0] != '\0') {
			/* deposited, then not sealed: no mail carries its key part,
			 * so it is withdrawn, as a reply the mail system refused */
			struct sp_audit a = {0, "reply-not-sent", c.s.email, dp.id, r->client,
			    "it could not be sealed", c.org.id};
			struct sp_err rerr = {{0}};
			int rst;

			if ((rst = sp_store_envelope_retract(r->k->store, dp.id, &a, &rerr)) != SP_OK)
				keyd_log("store-error", "id", dp.id, "error", sp_err_msg(&rerr, rst), NULL);
			ans = keyd_reply_error(r, 500, "api.reply.not_sealed");
		} else
			ans = keyd_store_error(r, st, &err);
		goto out;
	}
	/* handed to the mail system before the answer: a reply the replier
	 * was told is sent is in the MTA's queue (or the outbox); when it
	 * cannot be, the answer says so and the replier, whose draft stays,
	 * sends again; the envelope sealed for it is retracted (it would open
	 * for nobody anyway: its mail part was only in this mail), and the
	 * audit trail says why */
	if ((st = sp_transport_send_mime(r->k->mail, rcpt, nr, mail.data, mail.len,
	    &err)) != SP_OK) {
		struct sp_audit a = {0, "reply-not-sent", c.s.email, newid, r->client,
		    "the mail system did not take it", c.org.id};
		struct sp_err rerr = {{0}};

		keyd_log("reply-mail-failed", "id", newid, "error", sp_err_msg(&err, st), NULL);
		if ((st = sp_store_envelope_retract(r->k->store, newid, &a, &rerr)) != SP_OK)
			keyd_log("store-error", "id", newid, "error", sp_err_msg(&rerr, st), NULL);
		ans = keyd_reply_error(r, 503, "api.reply.not_sent");
		goto out;
	}
	keyd_log("reply-sent", "id", newid, NULL);
	snprintf(name, sizeof(name), "%zu", q->nto);
	keyd_log("reply", "original", c.v.e.id, "id", newid, "recipients", name, "client",
	    r->client, NULL);
	to = json_array();
	for (i = 0; i < q->nto; i++)
		json_array_append_new(to, json_string(q->to[i]));
	ans = keyd_reply_json(r, 200, json_pack("{s:s,s:o,s:b}", "id", newid, "to", to,
	    "bcc_me", q->bcc_me));
out:
	if (q != NULL) {
		reply_req_clear(q);
		free(q);
	}
	json_decref(j);
	sp_signer_free(signer);
	free(from_hdr);
	sp_buf_wipe(&raw);
	sp_buf_wipe(&mail);
	sp_wipe(&acc, sizeof(acc));
	reply_ctx_clear(&c);
	return ans;
}

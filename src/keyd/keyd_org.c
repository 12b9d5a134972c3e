/*
 * keyd_org.c - the organisations' routes of the machine API (docs/api.md):
 * the organisation token; sealing (the signed envelope's header checked
 * against the deposit, its signature verified under a live key of the
 * depositing organisation, the digests stored once); retraction and
 * un-retraction, whole or per recipient; the organisation's envelopes and
 * its audit chain; and GET /orgs/{id}/logo.
 * SECURITY: an organisation sees and changes only what it deposited:
 * another organisation's envelope answers 404 (403 for /seal), exactly as
 * an unknown one does for retraction; tokens are looked up by SHA-256
 * only; the header, digest and signature are untrusted and bounded before
 * any work; every change writes an audit record in the envelope's
 * organisation's chain.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "crypto.h"
#include "envelope.h"
#include "keyd_api.h"
#include "keyd_copy.h"
#include "keyd_org.h"
#include "release.h"
#include "sign.h"

#define TOKEN_MIN 16		/* base64url characters after "spo_" */
#define TOKEN_MAX 128
#define DOMAINS_MAX 1024	/* domains of one organisation read at a time */

enum MHD_Result
keyd_store_error(struct keyd_req *r, int st, const struct sp_err *err)
{
	keyd_log("store-error", "path", r->url, "error", sp_err_msg(err, st), NULL);
	if (st == SP_ERR_RETRY)
		return keyd_reply_error(r, 503, "busy, try again");
	return keyd_reply_error(r, 500, "internal error");
}

const char *
keyd_org_display(const struct sp_org *o)
{
	return o->display[0] != '\0' ? o->display : o->name;
}

int
keyd_org_auth(struct keyd_req *r, struct sp_org *org, enum MHD_Result *ans)
{
	struct sp_err err = {{0}};
	unsigned char h[SP_SHA256_LEN];
	const char *tok = keyd_bearer(r);
	int st;

	memset(org, 0, sizeof(*org));
	if (tok == NULL) {
		*ans = keyd_reply_error(r, 401, "missing organisation token "
		    "(Authorization: Bearer spo_...)");
		return 0;
	}
	if (strncmp(tok, "spo_", 4) != 0 || !keyd_token_shape(tok + 4, TOKEN_MIN, TOKEN_MAX)) {
		*ans = keyd_reply_error(r, 401, "malformed organisation token");
		return 0;
	}
	sp_sha256(tok, strlen(tok), h);
	st = sp_store_org_by_token(r->k->store, h, org, &err);
	if (st == SP_ERR_NOTFOUND) {
		*ans = keyd_reply_error(r, 401, "unknown or revoked organisation token");
		return 0;
	}
	if (st != SP_OK) {
		*ans = keyd_store_error(r, st, &err);
		return 0;
	}
	return 1;
}

void
keyd_strv_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; v != NULL && i < n; i++)
		free(v[i]);
	free(v);
}

struct domains {
	char **v;
	size_t n;
	int nomem;
};

static int
domain_cb(void *ctx, const char *d)
{
	struct domains *ds = ctx;
	char **nv;

	if (ds->n >= DOMAINS_MAX)
		return 1;
	if ((nv = realloc(ds->v, (ds->n + 1) * sizeof(*nv))) == NULL ||
	    (nv[ds->n] = strdup(d)) == NULL) {
		if (nv != NULL)
			ds->v = nv;
		ds->nomem = 1;
		return 1;
	}
	ds->v = nv;
	ds->n++;
	return 0;
}

int
keyd_org_domains(struct keyd *k, int64_t org_id, char ***dv, size_t *n, struct sp_err *err)
{
	struct domains ds = {NULL, 0, 0};
	int st = sp_store_org_domain_each(k->store, org_id, domain_cb, &ds, err);

	if (st == SP_OK && ds.nomem)
		st = sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	if (st != SP_OK) {
		keyd_strv_free(ds.v, ds.n);
		return st;
	}
	*dv = ds.v;
	*n = ds.n;
	return SP_OK;
}

static int
live_key_cb(void *ctx, const struct sp_org_key *key)
{
	/* the key server's reply key signs no sealer's envelope */
	if (key->retired == 0 && !key->reply) {
		*(int *)ctx = 1;
		return 1;
	}
	return 0;
}

int
keyd_org_has_live_key(struct keyd *k, int64_t org_id, int *has, struct sp_err *err)
{
	*has = 0;
	return sp_store_org_key_each(k->store, org_id, live_key_cb, has, err);
}

/* --- seal ---------------------------------------------------------------- */

static void
ascii_lower(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The header's recipients (lower-cased) and those of the record e the
 * envelope names (not its hidden ones, the blind copies) as the same set
 * of addresses, counted with repetition; the order does not matter. */
static int
same_recipients(char **to, size_t nto, const struct sp_envelope_rec *e)
{
	char **a = NULL, **b = NULL;
	size_t i, k, nshown = 0;
	int same = 0;

	for (i = 0; i < e->nrcpt; i++)
		nshown += !sp_release_rcpt_hidden(e, i);
	if (nto != nshown)
		return 0;
	if (nto == 0)
		return 1;	/* every recipient a blind copy */
	a = calloc(nto, sizeof(*a));
	b = calloc(nto, sizeof(*b));
	if (a == NULL || b == NULL)
		goto out;
	for (i = 0, k = 0; i < nto; i++, k++) {
		while (sp_release_rcpt_hidden(e, k))
			k++;
		if ((a[i] = strdup(to[i] ? to[i] : "")) == NULL ||
		    (b[i] = strdup(e->rcpt[k] ? e->rcpt[k] : "")) == NULL)
			goto out;
		ascii_lower(a[i]);
		ascii_lower(b[i]);
	}
	qsort(a, nto, sizeof(*a), cmp_str);
	qsort(b, nto, sizeof(*b), cmp_str);
	same = 1;
	for (i = 0; i < nto && same; i++)
		same = strcmp(a[i], b[i]) == 0;
out:
	for (i = 0; i < nto; i++) {
		if (a != NULL)
			free(a[i]);
		if (b != NULL)
			free(b[i]);
	}
	free(a);
	free(b);
	return same;
}

/* NULL when the header h says what the record e and organisation o say,
 * else the name of the first field that differs. */
static const char *
header_mismatch(struct keyd *k, const struct sp_env_header *h,
    const struct sp_envelope_rec *e, const struct sp_org *o)
{
	if (h->version != 2)
		return "v";
	if (strcmp(h->id, e->id) != 0)
		return "id";
	if (h->keyd == NULL || strcmp(h->keyd, k->public_url) != 0)
		return "keyd";
	if (h->org == NULL || strcmp(h->org, keyd_org_display(o)) != 0)
		return "org";
	if (h->from == NULL || strcasecmp(h->from, e->from) != 0)
		return "from";
	if (!same_recipients(h->to, h->nto, e))
		return "to";
	if (h->created != e->created)
		return "created";
	if (h->expires != e->expires)
		return "expires";
	if (strcmp(h->level, e->level[0] ? e->level : "medium") != 0)
		return "level";
	if ((h->verify != 0) != (e->verify_hash[0] != '\0'))
		return "verify";
	return NULL;
}

/* The calling organisation (*org) and the envelope id (*e, which the caller
 * clears): 1 when both are found, else 0 with *ans the reply. */
static int
org_envelope(struct keyd_req *r, const char *id, struct sp_org *org,
    struct sp_envelope_rec *e, enum MHD_Result *ans)
{
	struct sp_err err = {{0}};
	int st;

	if (!keyd_org_auth(r, org, ans))
		return 0;
	if (!keyd_valid_id(id)) {
		*ans = keyd_reply_error(r, 404, "unknown envelope");
		return 0;
	}
	memset(e, 0, sizeof(*e));
	if ((st = sp_store_envelope_get(r->k->store, id, e, &err)) == SP_ERR_NOTFOUND)
		*ans = keyd_reply_error(r, 404, "unknown envelope");
	else if (st != SP_OK)
		*ans = keyd_store_error(r, st, &err);
	return st == SP_OK;
}

enum MHD_Result
keyd_api_seal(struct keyd_req *r, const char *id)
{
	struct sp_err err = {{0}};
	struct sp_org org;
	struct sp_org_key key;
	struct sp_envelope_rec e;
	struct sp_env_header h;
	struct sp_buf hb;
	unsigned char hsha[SP_SHA256_LEN], csha[SP_SHA256_LEN], sig[SP_SIGN_SIG_LEN];
	char msg[160];
	const char *hs, *cs, *ss, *bad;
	enum MHD_Result ans;
	json_t *j = NULL;
	int st;

	if (keyd_api_seal_resumed(r, &ans))
		return ans;
	memset(&h, 0, sizeof(h));
	if (!org_envelope(r, id, &org, &e, &ans))
		return ans;
	sp_buf_init(&hb, SP_ENV_MAX_HEADER);
	if (e.org_id != org.id) {
		ans = keyd_reply_error(r, 403, "this envelope belongs to another organisation");
		goto out;
	}
	if (e.kind == SP_ENV_KIND_REPLY) {
		/* a recipient's secure reply: only the key server seals it */
		ans = keyd_reply_error(r, 403, "this envelope is a recipient's reply: the key "
		    "server seals it itself");
		goto out;
	}
	if (e.format != 2) {
		ans = keyd_reply_error(r, 400, "this envelope was deposited as format 1: it takes "
		    "no signature");
		goto out;
	}
	if ((j = keyd_json_body(r, JSON_REJECT_DUPLICATES)) == NULL) {
		ans = keyd_reply_error(r, 400, "the body must be a JSON object");
		goto out;
	}
	hs = json_string_value(json_object_get(j, "header"));
	cs = json_string_value(json_object_get(j, "ct_sha256"));
	ss = json_string_value(json_object_get(j, "sig"));
	if (hs == NULL || *hs == '\0' || strlen(hs) > SP_ENV_MAX_HEADER / 3 * 4 + 4 ||
	    sp_b64_decode(&hb, hs, strlen(hs)) != SP_OK || hb.len == 0) {
		ans = keyd_reply_field(r, "header", "must be the header bytes in base64");
		goto out;
	}
	if (cs == NULL || sp_hex_decode_exact(cs, strlen(cs), csha, sizeof(csha)) != SP_OK) {
		ans = keyd_reply_field(r, "ct_sha256", "must be 64 hexadecimal digits");
		goto out;
	}
	if (ss == NULL || sp_b64url_decode_exact(ss, strlen(ss), sig, sizeof(sig)) != SP_OK) {
		ans = keyd_reply_field(r, "sig", "must be 64 bytes in base64url");
		goto out;
	}
	if ((st = sp_env_header_decode(hb.data, hb.len, &h, &err)) != SP_OK) {
		snprintf(msg, sizeof(msg), "the header is not valid: %s", sp_err_msg(&err, st));
		ans = keyd_reply_field(r, "header", msg);
		goto out;
	}
	if ((bad = header_mismatch(r->k, &h, &e, &org)) != NULL) {
		snprintf(msg, sizeof(msg), "the header does not match the deposit: \"%s\" differs",
		    bad);
		ans = keyd_reply_field(r, "header", msg);
		goto out;
	}
	st = sp_store_org_key_get(r->k->store, h.kid, &key, &err);
	if (st == SP_ERR_NOTFOUND || (st == SP_OK && key.org_id != org.id)) {
		ans = keyd_reply_field(r, "header", "the signing key (kid) is not one of this "
		    "organisation's");
		goto out;
	}
	if (st != SP_OK) {
		ans = keyd_store_error(r, st, &err);
		goto out;
	}
	if (key.retired != 0) {
		ans = keyd_reply_field(r, "header", "the signing key (kid) is retired");
		goto out;
	}
	if (key.reply) {
		ans = keyd_reply_field(r, "header", "the signing key (kid) is the key server's reply "
		    "key: a sealer signs with its own");
		goto out;
	}
	sp_sha256(hb.data, hb.len, hsha);
	if (sp_sign_verify_envelope(key.pub, hsha, csha, sig) != SP_OK) {
		ans = keyd_reply_field(r, "sig", "the signature does not verify");
		goto out;
	}
	/* the digests and the header in one write of the group commit; the
	 * answer leaves once it is durable, this thread meanwhile free */
	ans = keyd_api_seal_write(r, &org, e.id, hsha, csha, sig, key.kid, hb.data, hb.len);
out:
	json_decref(j);
	sp_env_header_clear(&h);
	sp_buf_free(&hb);
	sp_envelope_rec_clear(&e);
	return ans;
}

/* --- retraction ---------------------------------------------------------- */

static enum MHD_Result
retract(struct keyd_req *r, const char *id, int on)
{
	struct sp_err err = {{0}};
	struct sp_org org;
	struct sp_envelope_rec e;
	struct sp_audit a;
	char actor[SP_STORE_NAME_MAX + 8], rcpt[SP_STORE_EMAIL_MAX + 1];
	char detail[SP_STORE_EMAIL_MAX + 16];
	const char *rs = NULL;
	enum MHD_Result ans;
	json_t *j = NULL, *v;
	int st;

	if (!org_envelope(r, id, &org, &e, &ans))
		return ans;
	/* another organisation's envelope reads as an unknown one */
	if (e.org_id != org.id) {
		sp_envelope_rec_clear(&e);
		return keyd_reply_error(r, 404, "unknown envelope");
	}
	if (r->body.len > 0) {
		if ((j = keyd_json_body(r, JSON_REJECT_DUPLICATES)) == NULL) {
			ans = keyd_reply_error(r, 400, "the body must be a JSON object");
			goto out;
		}
		if ((v = json_object_get(j, "recipient")) != NULL && !json_is_null(v)) {
			if (json_string_value(v) == NULL ||
			    strlen(json_string_value(v)) != json_string_length(v) ||
			    keyd_email_lower(json_string_value(v), rcpt, sizeof(rcpt)) != SP_OK) {
				ans = keyd_reply_field(r, "recipient", "must be an email address");
				goto out;
			}
			rs = rcpt;
		}
	}
	snprintf(actor, sizeof(actor), "org:%s", org.name);
	if (rs != NULL)
		snprintf(detail, sizeof(detail), "recipient=%s", rs);
	a = (struct sp_audit){0, on ? "retract" : "unretract", actor, e.id, r->client,
	    rs != NULL ? detail : NULL, e.org_id};
	st = sp_store_envelope_set_retracted(r->k->store, e.id, rs, on, &a, &err);
	if (st == SP_ERR_NOTFOUND && rs != NULL)
		ans = keyd_reply_field(r, "recipient", "is not a recipient of this envelope");
	else if (st == SP_ERR_NOTFOUND)
		ans = keyd_reply_error(r, 404, "unknown envelope");
	else if (st == SP_ERR_EXPIRED)
		ans = keyd_reply_json(r, 410, json_pack("{s:s,s:s}", "error",
		    "This message has expired: its key was destroyed, it cannot be withdrawn back",
		    "reason", "expired"));
	else if (st != SP_OK)
		ans = keyd_store_error(r, st, &err);
	else {
		if (on && rs == NULL)
			keyd_copy_drop(r->k, e.id, e.org_id, actor);	/* gone for good */
		keyd_log(on ? "retract" : "unretract", "org", org.name, "id", e.id, "recipient",
		    rs ? rs : "*", NULL);
		ans = keyd_reply_json(r, 200, json_pack("{s:b}", "ok", 1));
	}
out:
	json_decref(j);
	sp_envelope_rec_clear(&e);
	return ans;
}

enum MHD_Result
keyd_api_retract(struct keyd_req *r, const char *id)
{
	return retract(r, id, 1);
}

enum MHD_Result
keyd_api_unretract(struct keyd_req *r, const char *id)
{
	return retract(r, id, 0);
}

/* --- listings ------------------------------------------------------------ */

/* ?since=UNIX: 0 when absent; -1 when malformed. */
static int64_t
since_arg(struct keyd_req *r)
{
	const char *s = keyd_arg(r, "since");
	int64_t v = 0;
	size_t i, n;

	if (s == NULL || *s == '\0')
		return 0;
	n = strlen(s);
	if (n > 18)
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

static int
envelope_cb(void *ctx, const struct sp_envelope_rec *e)
{
	json_t *arr = ctx, *rc = json_array(), *o;
	size_t i;

	for (i = 0; i < e->nrcpt; i++)
		json_array_append_new(rc, json_pack("{s:s,s:b,s:I,s:b}", "address", e->rcpt[i],
		    "retracted", e->rstate != NULL && e->rstate[i].retracted,
		    "opened", (json_int_t)(e->rstate != NULL ? e->rstate[i].opened : 0),
		    "bcc", sp_release_rcpt_hidden(e, i)));
	o = json_pack("{s:s,s:s,s:o,s:I,s:I,s:b,s:I,s:i,s:b}", "id", e->id, "from", e->from,
	    "recipients", rc, "created", (json_int_t)e->created, "expires",
	    (json_int_t)e->expires, "retracted", e->retracted != 0,
	    "shredded", (json_int_t)e->shredded, "format", e->format ? e->format : 1,
	    "sealed", e->sealed != 0);
	if (o == NULL)
		return 1;
	json_array_append_new(arr, o);
	return 0;
}

static json_t *
str_or_null(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

static int
audit_cb(void *ctx, const struct sp_audit_row *row)
{
	json_t *arr = ctx, *o;
	char hex[2 * SP_SHA256_LEN + 1];

	sp_hex_encode(row->hash, SP_SHA256_LEN, hex);
	o = json_pack("{s:I,s:I,s:o,s:o,s:o,s:o,s:o,s:s}", "seq", (json_int_t)row->seq,
	    "time", (json_int_t)row->a.time, "event", str_or_null(row->a.event),
	    "actor", str_or_null(row->a.actor), "envelope", str_or_null(row->a.envelope),
	    "client", str_or_null(row->a.client), "detail", str_or_null(row->a.detail),
	    "hash", hex);
	if (o == NULL)
		return 1;
	json_array_append_new(arr, o);
	return 0;
}

/* GET of the caller's envelopes (audit 0) or audit records (audit 1) from
 * ?since= on, as {"envelopes"|"records": [...]}. */
static enum MHD_Result
org_list(struct keyd_req *r, int audit)
{
	struct sp_err err = {{0}};
	struct sp_org org;
	enum MHD_Result ans;
	int64_t since;
	json_t *arr;
	int st;

	if (!keyd_org_auth(r, &org, &ans))
		return ans;
	if ((since = since_arg(r)) < 0)
		return keyd_reply_field(r, "since", "must be a unix time");
	arr = json_array();
	if (audit)
		st = sp_store_audit_scan(r->k->store, org.id, since, audit_cb, arr, &err);
	else
		st = sp_store_envelope_each(r->k->store, org.id, since, envelope_cb, arr, &err);
	if (st != SP_OK) {
		json_decref(arr);
		return keyd_store_error(r, st, &err);
	}
	return keyd_reply_json(r, 200, json_pack("{s:o}", audit ? "records" : "envelopes",
	    arr));
}

enum MHD_Result
keyd_api_envelopes(struct keyd_req *r, const char *arg)
{
	return org_list(r, 0);
}

enum MHD_Result
keyd_api_audit(struct keyd_req *r, const char *arg)
{
	return org_list(r, 1);
}

/* --- logo ---------------------------------------------------------------- */

enum MHD_Result
keyd_org_logo(struct keyd_req *r, const char *id)
{
	struct sp_err err = {{0}};
	unsigned char *png;
	int64_t oid = 0;
	size_t i, n = strlen(id), len = 0;
	enum MHD_Result ans;
	int st;

	if (n == 0 || n > 18 || id[0] == '0')
		return keyd_reply_error(r, 404, "no such logo");
	for (i = 0; i < n; i++) {
		if (id[i] < '0' || id[i] > '9')
			return keyd_reply_error(r, 404, "no such logo");
		oid = oid * 10 + (id[i] - '0');
	}
	if ((png = malloc(SP_STORE_LOGO_MAX)) == NULL)
		return keyd_reply_error(r, 500, "internal error");
	st = sp_store_org_logo_get(r->k->store, oid, png, SP_STORE_LOGO_MAX, &len, &err);
	if (st == SP_ERR_NOTFOUND)
		ans = keyd_reply_error(r, 404, "no such logo");
	else if (st != SP_OK)
		ans = keyd_store_error(r, st, &err);
	else
		ans = keyd_reply(r, 200, "image/png", png, len, 1);
	free(png);
	return ans;
}

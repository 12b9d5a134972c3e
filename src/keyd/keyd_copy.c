/*
 * keyd_copy.c - ciphertext copies of format 2 envelopes (docs/api.md):
 * the depositing organisation uploads the ciphertext stream after /seal
 * (PUT /api/v1/envelopes/{id}/copy), which is written to an unlinked
 * temporary file in DATA/tmp while its SHA-256 is computed, checked
 * against the digest recorded at seal and the organisation's quota, then
 * moved into the blob store (blobstore.h) as "<id>.ct".  A signed-in
 * recipient gets the header, signature and size (GET .../copy) and the
 * bytes, streamed from the blob (GET .../copy/data), after the same checks
 * as a key release (release.h); and the list of the envelopes still open
 * for it (GET /api/v1/me/envelopes).  Retraction as a whole, expiry,
 * shredding and the organisation's removal delete the copy (copies.h).
 * SECURITY: the key server cannot decrypt a copy: it never has the mail
 * key part.  Upload bodies are never held in memory (bounded by
 * --max-copy, refused with 413 as soon as they pass it); names of blobs
 * are made from checked ids only; a copy is served only to a signed-in
 * recipient that a release would serve.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "assets.h"
#include "blobstore.h"
#include "copies.h"
#include "crypto.h"
#include "keyd_copy.h"
#include "keyd_lang.h"
#include "keyd_login.h"
#include "keyd_org.h"
#include "keyd_tmpl.h"
#include "release.h"

#define ME_ENVELOPES_MAX 500
#define MIB ((int64_t)1 << 20)

int
keyd_copies_open(struct keyd *k, const char *url, const char *data_dir, struct sp_err *err)
{
	char tmp[4200];

	if (strlen(data_dir) + sizeof("/tmp") > sizeof(tmp))
		return sp_err_set(err, SP_ERR_CONFIG, "data_dir: too long");
	snprintf(tmp, sizeof(tmp), "%s/tmp", data_dir);
	if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
		return sp_err_set(err, SP_ERR_CONFIG, "%.400s: %s", tmp, strerror(errno));
	/* the S3 backend uses libcurl from many threads */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return sp_err_set(err, SP_ERR_INTERNAL, "cannot initialise libcurl");
	return sp_blob_open(&k->copies, url, tmp, err);
}

json_t *
keyd_copy_offer(struct keyd *k, const struct sp_org *org, const struct sp_envelope_rec *e)
{
	if (org->policy.keep_copies <= 0 || e->format != 2 || k->copies == NULL)
		return json_null();
	return json_pack("{s:I,s:I}", "keep_until",
	    (json_int_t)(e->created + (int64_t)org->policy.keep_copies * 86400),
	    "max", (json_int_t)k->max_copy);
}

void
keyd_copy_drop(struct keyd *k, const char *id, int64_t org_id, const char *actor)
{
	struct sp_err err = {{0}};
	struct sp_envelope_copy c;
	int st;

	if (k->copies == NULL)
		return;
	if ((st = sp_store_envelope_copy_get(k->store, id, &c, &err)) == SP_OK && c.size > 0)
		st = sp_copy_delete(k->store, k->copies, id, org_id, actor, "retracted", &err);
	sp_envelope_copy_clear(&c);
	if (st != SP_OK)
		keyd_log("copy-delete-failed", "id", id, "error", sp_err_msg(&err, st), NULL);
	else
		keyd_log("copy-deleted", "id", id, "why", "retracted", NULL);
}

int
keyd_copies_purge(struct keyd *k)
{
	struct sp_err err = {{0}};
	char nb[24];
	int n = 0, st;

	if (k->copies == NULL)
		return 0;
	st = sp_copies_purge(k->store, k->copies, (int64_t)time(NULL), &n, &err);
	if (n > 0) {
		snprintf(nb, sizeof(nb), "%d", n);
		keyd_log("copies-deleted", "copies", nb, NULL);
	}
	if (st != SP_OK) {
		keyd_log("copy-delete-failed", "error", sp_err_msg(&err, st), NULL);
		return -1;
	}
	return n;
}

/* --- upload ---------------------------------------------------------------- */

struct put_state {
	int fd;			/* unlinked temporary file, -1 none */
	EVP_MD_CTX *md;
	uint64_t size;
	int failed;		/* a write or digest failed */
	char failure[120];
};

static void
put_state_free(void *p)
{
	struct put_state *ps = p;

	if (ps == NULL)
		return;
	if (ps->fd >= 0)
		close(ps->fd);
	EVP_MD_CTX_free(ps->md);
	free(ps);
}

/* An unlinked temporary file in DATA/tmp: -1 with errno on failure. */
static int
tmp_file(const struct keyd *k)
{
	char path[4300];
	int fd;

	snprintf(path, sizeof(path), "%s/tmp", k->data_dir);
	if ((fd = open(path, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600)) >= 0)
		return fd;
	snprintf(path, sizeof(path), "%s/tmp/copy-XXXXXX", k->data_dir);
	if ((fd = mkostemp(path, O_CLOEXEC)) >= 0)
		unlink(path);
	return fd;
}

/* The id of a /api/v1/envelopes/{id}/... URL, into out (63 bytes at most). */
static void
url_id(const char *url, char out[64])
{
	const char *p = url + strlen("/api/v1/envelopes/"), *end = strchr(p, '/');
	size_t n = end != NULL ? (size_t)(end - p) : strlen(p);

	snprintf(out, 64, "%.*s", (int)(n < 63 ? n : 63), p);
}

/* 410 naming why for an envelope retracted as a whole, expired or
 * shredded; else 0. */
static enum sp_release_reason
gone_reason(const struct sp_envelope_rec *e, int64_t now)
{
	if (e->retracted)
		return SP_RELEASE_RETRACTED;
	if ((e->expires != 0 && e->expires <= now) || e->shredded != 0)
		return SP_RELEASE_EXPIRED;
	return SP_RELEASE_OK;
}

static enum MHD_Result
reason_answer(struct keyd_req *r, enum sp_release_reason why, const struct sp_envelope_rec *e,
    const char *email)
{
	const char *msg, *name = sp_release_reason_name(why);
	unsigned status = sp_release_status(why, &msg);
	struct sp_release_principal p = {SP_RELEASE_RECIPIENT, email, 0, NULL, NULL, 0};
	long ri;
	int fails;

	if (why == SP_RELEASE_VERIFY_NEEDED && e != NULL) {
		ri = sp_release_rcpt_index(&p, e);
		fails = ri >= 0 && e->rstate != NULL ? e->rstate[ri].verify_fails : 0;
		return keyd_reply_json(r, status, json_pack("{s:s,s:{s:s,s:i}}", "error", msg,
		    "verify", "hint", e->verify_hint, "tries_left",
		    fails < SP_STORE_VERIFY_TRIES ? SP_STORE_VERIFY_TRIES - fails : 0));
	}
	if (name != NULL)
		return keyd_reply_json(r, status, json_pack("{s:s,s:s}", "error", msg, "reason", name));
	return keyd_reply_error(r, status, msg);
}

static enum MHD_Result
quota_answer(struct keyd_req *r)
{
	return keyd_reply_json(r, 507, json_pack("{s:s,s:s}", "error", "the organisation's "
	    "copies are over its quota: this copy is not kept", "reason", "quota"));
}

/* 1 when the organisation's copies plus size would pass its quota. */
static int
over_quota(struct keyd *k, const struct sp_org *org, int64_t size, int *failed)
{
	struct sp_err err = {{0}};
	int64_t used = 0;

	*failed = 0;
	if (org->policy.copy_quota_mb <= 0)
		return 0;
	if (sp_store_org_copy_bytes(k->store, org->id, &used, &err) != SP_OK) {
		*failed = 1;
		return 0;
	}
	return used + size > org->policy.copy_quota_mb * MIB;
}

/* The checks of an upload, before and after its body: the organisation
 * (its token), the envelope (its own, sealed, still open) and its policy.
 * 1 with *org and *e filled (the caller clears e); else 0 with *ans. */
static int
put_check(struct keyd_req *r, const char *id, struct sp_org *org,
    struct sp_envelope_rec *e, enum MHD_Result *ans)
{
	struct sp_err err = {{0}};
	enum sp_release_reason why;
	int st;

	memset(e, 0, sizeof(*e));
	if (!keyd_org_auth(r, org, ans))
		return 0;
	if (!keyd_valid_id(id)) {
		*ans = keyd_reply_error(r, 404, "api.unknown_envelope");
		return 0;
	}
	if ((st = sp_store_envelope_get(r->k->store, id, e, &err)) != SP_OK) {
		*ans = st == SP_ERR_NOTFOUND ? keyd_reply_error(r, 404, "api.unknown_envelope") :
		    keyd_store_error(r, st, &err);
		return 0;
	}
	if (e->org_id != org->id)
		*ans = keyd_reply_error(r, 403, "this envelope belongs to another organisation");
	else if (org->policy.keep_copies <= 0)
		*ans = keyd_reply_json(r, 403, json_pack("{s:s,s:s}", "error", "this organisation "
		    "keeps no copies (sealpost org set NAME --keep-copies DAYS)", "reason",
		    "no-copies"));
	else if (e->format != 2 || !e->sealed)
		*ans = keyd_reply_error(r, 409, e->format != 2 ? "only signed (format 2) envelopes "
		    "have copies" : "the envelope is not sealed yet: POST .../seal first");
	else if ((why = gone_reason(e, (int64_t)time(NULL))) != SP_RELEASE_OK)
		*ans = reason_answer(r, why, e, NULL);
	else if (e->created + (int64_t)org->policy.keep_copies * 86400 <= (int64_t)time(NULL))
		/* a copy kept from now on would be past its keeping time */
		*ans = keyd_reply_json(r, 410, json_pack("{s:s,s:s}", "error", "this envelope's "
		    "keeping time for copies has passed", "reason", "copy-expired"));
	else
		return 1;
	sp_envelope_rec_clear(e);
	return 0;
}

int
keyd_copy_body(struct keyd_req *r, const char *data, size_t n)
{
	struct put_state *ps = r->body_state;
	struct sp_envelope_rec e;
	struct sp_org org;
	enum MHD_Result ans;
	char id[64];
	size_t off;
	ssize_t w;

	if (data == NULL) {
		/* before the body: refuse what will be refused anyway */
		url_id(r->url, id);
		if (!put_check(r, id, &org, &e, &ans))
			return SP_OK;
		sp_envelope_rec_clear(&e);
		if ((ps = calloc(1, sizeof(*ps))) == NULL)
			return SP_ERR_NOMEM;
		ps->fd = -1;
		r->body_state = ps;
		r->body_free = put_state_free;
		if ((ps->md = EVP_MD_CTX_new()) == NULL ||
		    EVP_DigestInit_ex(ps->md, EVP_sha256(), NULL) != 1) {
			ps->failed = 1;
			snprintf(ps->failure, sizeof(ps->failure), "cannot start SHA-256");
		} else if ((ps->fd = tmp_file(r->k)) < 0) {
			ps->failed = 1;
			snprintf(ps->failure, sizeof(ps->failure), "temporary file: %s",
			    strerror(errno));
		}
		return SP_OK;
	}
	if (ps == NULL || ps->failed)
		return SP_OK;
	if (ps->size + n > r->k->max_copy) {
		/* the rest is drained unread; the file goes */
		close(ps->fd);
		ps->fd = -1;
		return SP_ERR_TOOBIG;
	}
	if (EVP_DigestUpdate(ps->md, data, n) != 1) {
		ps->failed = 1;
		snprintf(ps->failure, sizeof(ps->failure), "SHA-256 failed");
		return SP_OK;
	}
	for (off = 0; off < n; off += (size_t)w)
		if ((w = write(ps->fd, data + off, n - off)) < 0) {
			if (errno == EINTR) {
				w = 0;
				continue;
			}
			ps->failed = 1;
			snprintf(ps->failure, sizeof(ps->failure), "temporary file: %s",
			    strerror(errno));
			return SP_OK;
		}
	ps->size += n;
	return SP_OK;
}

enum MHD_Result
keyd_api_copy_put(struct keyd_req *r, const char *id)
{
	struct sp_err err = {{0}};
	struct put_state *ps = r->body_state;
	struct sp_envelope_rec e;
	struct sp_envelope_copy cur;
	struct sp_org org;
	struct sp_audit a;
	unsigned char sha[SP_SHA256_LEN];
	char name[SP_COPY_NAME_LEN], actor[SP_STORE_NAME_MAX + 8], detail[48], sb[24];
	unsigned int shalen = 0;
	enum MHD_Result ans;
	int64_t until;
	int st, failed;

	memset(&cur, 0, sizeof(cur));
	if (!put_check(r, id, &org, &e, &ans))
		return ans;
	if (ps == NULL || ps->failed || EVP_DigestFinal_ex(ps->md, sha, &shalen) != 1) {
		keyd_log("copy-failed", "id", id, "error", ps ? ps->failure : "no state", NULL);
		ans = keyd_reply_error(r, 500, "err.internal");
		goto out;
	}
	if (ps->size == 0 || shalen != SP_SHA256_LEN ||
	    memcmp(sha, e.ct_sha, SP_SHA256_LEN) != 0) {
		ans = keyd_reply_field(r, "copy", "the bytes are not the ciphertext this envelope "
		    "was sealed with (SHA-256 differs)");
		goto out;
	}
	if ((st = sp_store_envelope_copy_get(r->k->store, id, &cur, &err)) != SP_OK) {
		ans = keyd_store_error(r, st, &err);
		goto out;
	}
	if (cur.size == (int64_t)ps->size) {
		/* the same bytes again (the digest is the sealed one) */
		ans = keyd_reply_json(r, 200, json_pack("{s:b,s:I}", "ok", 1, "size",
		    (json_int_t)ps->size));
		goto out;
	}
	if (over_quota(r->k, &org, (int64_t)ps->size, &failed) && !failed) {
		ans = quota_answer(r);
		goto out;
	}
	sp_copy_name(id, name);
	if ((st = sp_blob_put_fd(r->k->copies, name, ps->fd, ps->size, &err)) != SP_OK) {
		keyd_log("copy-failed", "id", id, "error", sp_err_msg(&err, st), NULL);
		ans = st == SP_ERR_RETRY ? keyd_reply_error(r, 503, "read.busy") :
		    keyd_reply_error(r, 500, "err.internal");
		goto out;
	}
	until = e.created + (int64_t)org.policy.keep_copies * 86400;
	snprintf(actor, sizeof(actor), "org:%s", org.name);
	snprintf(detail, sizeof(detail), "size=%llu", (unsigned long long)ps->size);
	a = (struct sp_audit){0, "copy-stored", actor, e.id, r->client, detail, e.org_id};
	st = sp_store_envelope_copy_set(r->k->store, id, (int64_t)ps->size, until,
	    org.policy.copy_quota_mb > 0 ? org.policy.copy_quota_mb * MIB : 0, &a, &err);
	if (st != SP_OK) {
		/* the record decides: without it the blob must not stay */
		sp_blob_delete(r->k->copies, name, NULL);
		ans = st == SP_ERR_TOOBIG ? quota_answer(r) : keyd_store_error(r, st, &err);
		goto out;
	}
	snprintf(sb, sizeof(sb), "%llu", (unsigned long long)ps->size);
	keyd_log("copy-stored", "org", org.name, "id", id, "size", sb, NULL);
	ans = keyd_reply_json(r, 201, json_pack("{s:b,s:I}", "ok", 1, "size",
	    (json_int_t)ps->size));
out:
	sp_envelope_copy_clear(&cur);
	sp_envelope_rec_clear(&e);
	return ans;
}

/* --- download -------------------------------------------------------------- */

/* The checks of a recipient's download: a session, the envelope, the
 * release decision (release.h), and a kept copy.  1 with *e and *c filled
 * (the caller clears both); else 0 with *ans. */
static int
get_check(struct keyd_req *r, const char *id, struct sp_envelope_rec *e,
    struct sp_envelope_copy *c, enum MHD_Result *ans)
{
	struct sp_err err = {{0}};
	struct sp_session s;
	struct sp_release_principal p;
	enum sp_release_reason why;
	int st;

	memset(e, 0, sizeof(*e));
	memset(c, 0, sizeof(*c));
	if ((st = keyd_session_auth(r, 0, &s, &err)) != SP_OK) {
		*ans = st == SP_ERR_AUTH || st == SP_ERR_DENIED ?
		    keyd_reply_error(r, 401, "api.not_logged_in") : keyd_store_error(r, st, &err);
		return 0;
	}
	p = (struct sp_release_principal){SP_RELEASE_RECIPIENT, s.email, 0, NULL, NULL, 0};
	if (!keyd_valid_id(id) ||
	    (st = sp_store_envelope_get(r->k->store, id, e, &err)) == SP_ERR_NOTFOUND) {
		*ans = reason_answer(r, SP_RELEASE_UNKNOWN, NULL, NULL);
		return 0;
	}
	if (st != SP_OK) {
		*ans = keyd_store_error(r, st, &err);
		return 0;
	}
	/* as the release: a high message needs a password session */
	if ((why = sp_release_check_auth(&p, keyd_session_how(&s), e, (int64_t)time(NULL))) !=
	    SP_RELEASE_OK)
		*ans = reason_answer(r, why, e, s.email);
	else if ((st = sp_store_envelope_copy_get(r->k->store, id, c, &err)) != SP_OK)
		*ans = keyd_store_error(r, st, &err);
	else if (c->size <= 0 || c->header == NULL || !e->sealed || r->k->copies == NULL ||
	    (c->until != 0 && c->until <= (int64_t)time(NULL)))
		/* past its keeping time the copy is gone, purged or not yet */
		*ans = keyd_reply_json(r, 404, json_pack("{s:s,s:s}", "error",
		    keyd_t(r, "api.no_copy"), "reason",
		    "no-copy"));
	else
		return 1;
	sp_envelope_rec_clear(e);
	sp_envelope_copy_clear(c);
	return 0;
}

enum MHD_Result
keyd_api_copy_meta(struct keyd_req *r, const char *id)
{
	struct sp_envelope_rec e;
	struct sp_envelope_copy c;
	struct sp_buf hb, sb;
	char hex[2 * SP_SHA256_LEN + 1], data[96];
	enum MHD_Result ans;
	json_t *j;

	if (!get_check(r, id, &e, &c, &ans))
		return ans;
	sp_buf_init(&hb, SP_STORE_HEADER_MAX * 2);
	sp_buf_init(&sb, 256);
	sp_hex_encode(e.ct_sha, SP_SHA256_LEN, hex);
	snprintf(data, sizeof(data), "/api/v1/envelopes/%s/copy/data", e.id);
	if (sp_b64_encode(&hb, c.header, c.header_len, 0) != SP_OK ||
	    sp_b64url_encode(&sb, e.sig, sizeof(e.sig)) != SP_OK || hb.data == NULL ||
	    sb.data == NULL ||
	    (j = json_pack("{s:s,s:s%,s:s%,s:I,s:s,s:s}", "id", e.id, "header",
	    (const char *)hb.data, hb.len, "sig", (const char *)sb.data, sb.len, "size",
	    (json_int_t)c.size, "ct_sha256", hex, "data", data)) == NULL)
		ans = keyd_reply_error(r, 500, "err.internal");
	else
		ans = keyd_reply_json(r, 200, j);
	sp_buf_free(&hb);
	sp_buf_free(&sb);
	sp_envelope_rec_clear(&e);
	sp_envelope_copy_clear(&c);
	return ans;
}

enum MHD_Result
keyd_api_copy_data(struct keyd_req *r, const char *id)
{
	struct sp_err err = {{0}};
	struct sp_envelope_rec e;
	struct sp_envelope_copy c;
	struct MHD_Response *resp;
	char name[SP_COPY_NAME_LEN];
	enum MHD_Result ans;
	uint64_t size = 0;
	int st, fd = -1;

	if (!get_check(r, id, &e, &c, &ans))
		return ans;
	sp_copy_name(e.id, name);
	st = sp_blob_get_fd(r->k->copies, name, &fd, &size, &err);
	sp_envelope_rec_clear(&e);
	sp_envelope_copy_clear(&c);
	if (st == SP_ERR_NOTFOUND)
		return keyd_reply_reason(r, 404, "api.copy_gone", "no-copy");
	if (st != SP_OK) {
		keyd_log("copy-read-failed", "id", id, "error", sp_err_msg(&err, st), NULL);
		return st == SP_ERR_RETRY ? keyd_reply_error(r, 503, "read.busy") :
		    keyd_reply_error(r, 500, "err.internal");
	}
	/* MHD owns fd from here on (closed with the response) */
	if ((resp = MHD_create_response_from_fd(size, fd)) == NULL) {
		close(fd);
		return keyd_reply_error(r, 500, "err.internal");
	}
	return keyd_reply_response(r, 200, "application/octet-stream", resp);
}

/* --- the recipient's list -------------------------------------------------- */

struct me_list {
	struct keyd *k;
	json_t *all;		/* oldest first */
	int64_t org_id;		/* the organisation last looked up */
	char org[SP_STORE_NAME_MAX + 1];
	int failed;
	struct sp_err err;
};

static int
me_cb(void *ctx, const struct sp_envelope_rec *e)
{
	struct me_list *m = ctx;
	struct sp_envelope_copy c;
	struct sp_org o;
	json_t *j;
	int st;

	if (m->org_id != e->org_id) {
		if ((st = sp_store_org_get_id(m->k->store, e->org_id, &o, &m->err)) == SP_OK)
			snprintf(m->org, sizeof(m->org), "%s", keyd_org_display(&o));
		else if (st == SP_ERR_NOTFOUND)
			snprintf(m->org, sizeof(m->org), "%s", e->org_name);
		else {
			m->failed = st;
			return 1;
		}
		m->org_id = e->org_id;
	}
	if ((st = sp_store_envelope_copy_get(m->k->store, e->id, &c, &m->err)) != SP_OK) {
		m->failed = st;
		return 1;
	}
	j = json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:b,s:s}", "id", e->id, "org", m->org,
	    "from", e->from, "created", (json_int_t)e->created, "expires",
	    (json_int_t)e->expires, "size", (json_int_t)c.size, "copy", c.size > 0,
	    "level", e->level[0] ? e->level : "medium");
	sp_envelope_copy_clear(&c);
	if (j == NULL || json_array_append_new(m->all, j) != 0) {
		m->failed = SP_ERR_NOMEM;
		sp_err_set(&m->err, SP_ERR_NOMEM, "out of memory");
		return 1;
	}
	return 0;
}

enum MHD_Result
keyd_api_me_envelopes(struct keyd_req *r, const char *arg)
{
	struct sp_err err = {{0}};
	struct sp_session s;
	struct me_list m;
	json_t *out;
	size_t i, n;
	int st;

	if ((st = keyd_session_auth(r, 0, &s, &err)) != SP_OK)
		return st == SP_ERR_AUTH || st == SP_ERR_DENIED ?
		    keyd_reply_error(r, 401, "api.not_logged_in") : keyd_store_error(r, st, &err);
	memset(&m, 0, sizeof(m));
	m.k = r->k;
	m.org_id = -1;
	if ((m.all = json_array()) == NULL || (out = json_array()) == NULL) {
		json_decref(m.all);
		return keyd_reply_error(r, 500, "err.internal");
	}
	st = sp_store_envelope_each_for(r->k->store, s.email, (int64_t)time(NULL), me_cb, &m,
	    &err);
	if (st == SP_OK && m.failed)
		st = m.failed;
	if (st != SP_OK) {
		json_decref(m.all);
		json_decref(out);
		return keyd_store_error(r, st, m.failed ? &m.err : &err);
	}
	/* newest first, at most ME_ENVELOPES_MAX */
	n = json_array_size(m.all);
	for (i = 0; i < n && i < ME_ENVELOPES_MAX; i++)
		json_array_append(out, json_array_get(m.all, n - 1 - i));
	json_decref(m.all);
	return keyd_reply_json(r, 200, json_pack("{s:o}", "envelopes", out));
}

/* --- the list page --------------------------------------------------------- */

enum MHD_Result
keyd_page_messages(struct keyd_req *r, const char *arg)
{
	const struct sp_asset *a = sp_asset_find("portal/messages.html");
	char csrf[64];
	struct sp_buf out;

	if (a == NULL)
		return keyd_reply(r, 503, "text/plain; charset=utf-8", "not built\n", 10, 0);
	keyd_csrf_token(r, csrf);
	{
		struct keyd_var v[] = {{"CSRF", csrf, 0, 0}};

		if (keyd_tmpl_page(r, (const char *)a->data, a->len, v, 1, 0, &out) != SP_OK) {
			sp_buf_free(&out);
			return keyd_reply_error(r, 500, "err.internal");
		}
	}
	return keyd_reply_buf(r, 200, "text/html; charset=utf-8", &out);
}

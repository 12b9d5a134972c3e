/*
 * keyd_client.c - the key server API client (docs/api.md) on libcurl.
 * One curl easy handle per client, reused, so connections stay alive.
 * SECURITY: the bearer token and released key parts are wiped when the
 * client or result is freed; response bodies are capped and parsed with
 * jansson; nothing here logs.
 */
#include "keyd_client.h"
#include "jsonwipe.h"

#include <curl/curl.h>
#include <errno.h>
#include <strings.h>
#include <unistd.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define KEYD_MAX_RESPONSE (1 << 20)

struct sp_keyd_client {
	CURL *curl;
	char *base;
	char *token;
	long timeout_ms;
};

int
sp_keyd_client_new(struct sp_keyd_client **cp, const char *base_url, long timeout_ms,
    struct sp_err *err)
{
	struct sp_keyd_client *c;
	size_t n;

	*cp = NULL;
	if (base_url == NULL || (strncmp(base_url, "http://", 7) != 0 &&
	    strncmp(base_url, "https://", 8) != 0))
		return sp_err_set(err, SP_ERR_CONFIG, "key server URL must start with http:// or https://");
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	c->base = strdup(base_url);
	c->curl = curl_easy_init();
	if (c->base == NULL || c->curl == NULL) {
		sp_keyd_client_free(c);
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	}
	n = strlen(c->base);
	while (n > 0 && c->base[n - 1] == '/')
		c->base[--n] = '\0';
	c->timeout_ms = timeout_ms > 0 ? timeout_ms : 30000;
	*cp = c;
	return SP_OK;
}

void
sp_keyd_client_free(struct sp_keyd_client *c)
{
	if (c == NULL)
		return;
	if (c->curl != NULL)
		curl_easy_cleanup(c->curl);
	if (c->token != NULL) {
		sp_wipe(c->token, strlen(c->token));
		free(c->token);
	}
	free(c->base);
	free(c);
}

int
sp_keyd_client_set_token(struct sp_keyd_client *c, const char *token)
{
	size_t i, n = token != NULL ? strlen(token) : 0;
	char *t;

	/* one header line's worth of visible ASCII: a token (or a session
	 * from a key server's answer) never becomes a broken request */
	if (n == 0 || n > SP_KEYD_TOKEN_MAX)
		return SP_ERR_INVALID;
	for (i = 0; i < n; i++)
		if (token[i] <= ' ' || token[i] > '~')
			return SP_ERR_INVALID;
	if ((t = strdup(token)) == NULL)
		return SP_ERR_NOMEM;
	if (c->token != NULL) {
		sp_wipe(c->token, strlen(c->token));
		free(c->token);
	}
	c->token = t;
	return SP_OK;
}

int
sp_keyd_client_token(const struct sp_keyd_client *c, char *out, size_t outsz)
{
	if (c->token == NULL)
		return SP_ERR_NOTFOUND;
	if (strlen(c->token) >= outsz)
		return SP_ERR_TOOBIG;
	memcpy(out, c->token, strlen(c->token) + 1);
	return SP_OK;
}

static size_t
on_body(char *p, size_t size, size_t n, void *ctx)
{
	struct sp_buf *b = ctx;

	if (sp_buf_append(b, p, size * n) != SP_OK)
		return 0;	/* makes curl fail with CURLE_WRITE_ERROR */
	return size * n;
}

/* The headers of a request with a body of type (the caller frees *hdrs;
 * auth holds the Authorization line) and the options every request shares:
 * url, the answer into resp, timeouts (timeout_ms for the whole request),
 * http(s) only, no redirects. */
static struct curl_slist *
request_setup(struct sp_keyd_client *c, const char *type, struct sp_buf *url,
    struct sp_buf *auth, struct sp_buf *resp, long timeout_ms)
{
	struct curl_slist *hdrs = NULL;

	hdrs = curl_slist_append(hdrs, type);
	hdrs = curl_slist_append(hdrs, "Accept: application/json");
	if (c->token != NULL && sp_buf_printf(auth, "Authorization: Bearer %s", c->token) == SP_OK)
		hdrs = curl_slist_append(hdrs, (char *)auth->data);
	curl_easy_reset(c->curl);
	curl_easy_setopt(c->curl, CURLOPT_URL, (char *)url->data);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, resp);
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, c->timeout_ms < 10000 ? c->timeout_ms : 10000);
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c->curl, CURLOPT_FOLLOWLOCATION, 0L);
	return hdrs;
}

/* POST path with a JSON body; returns the HTTP status in *code and the
 * parsed JSON answer (may be NULL when the body is not JSON). */
static int
keyd_post(struct sp_keyd_client *c, const char *path, json_t *body, long *code,
    json_t **answer, struct sp_err *err)
{
	struct curl_slist *hdrs = NULL;
	struct sp_buf resp, url, auth;
	char *text = NULL;
	CURLcode rc;
	int st = SP_OK;

	*answer = NULL;
	*code = 0;
	sp_buf_init(&resp, KEYD_MAX_RESPONSE);
	sp_buf_init(&url, 4096);
	sp_buf_init(&auth, 4096);
	if (sp_buf_printf(&url, "%s%s", c->base, path) != SP_OK ||
	    (text = sp_json_dumps(body, JSON_COMPACT)) == NULL) {
		st = sp_err_set(err, SP_ERR_NOMEM, "out of memory");
		goto out;
	}
	hdrs = request_setup(c, "Content-Type: application/json", &url, &auth, &resp,
	    c->timeout_ms);
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, text);
	curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(text));
	rc = curl_easy_perform(c->curl);
	if (rc != CURLE_OK) {
		st = sp_err_set(err, SP_ERR_RETRY, "key server %s: %s", c->base, curl_easy_strerror(rc));
		goto out;
	}
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, code);
	if (resp.len > 0)
		*answer = json_loadb((const char *)resp.data, resp.len, JSON_REJECT_DUPLICATES, NULL);
out:
	curl_slist_free_all(hdrs);
	if (text != NULL) {
		sp_wipe(text, strlen(text));
		free(text);
	}
	sp_buf_wipe(&auth);
	sp_buf_wipe(&resp);
	sp_buf_free(&url);
	return st;
}

/* Map an HTTP error status to a library status with the server's words. */
static int
keyd_status(long code, json_t *answer, const char *what, struct sp_err *err)
{
	const char *msg = json_string_value(json_object_get(answer, "error"));
	int st;

	switch (code) {
	case 400: case 413: st = SP_ERR_INVALID; break;
	case 401: st = SP_ERR_AUTH; break;
	case 403: case 423: st = SP_ERR_DENIED; break;
	case 404: st = SP_ERR_NOTFOUND; break;
	case 409: st = SP_ERR_EXISTS; break;
	case 410: st = SP_ERR_EXPIRED; break;
	default: st = code >= 500 ? SP_ERR_RETRY : SP_ERR_INTERNAL; break;
	}
	return sp_err_set(err, st, "%s: key server answered %ld%s%s", what, code,
	    msg ? ": " : "", msg ? msg : "");
}

static int
get_key_part(json_t *answer, const char *name, unsigned char out[SP_KEY_LEN])
{
	const char *s = json_string_value(json_object_get(answer, name));

	if (s == NULL)
		return SP_ERR_INVALID;
	return sp_b64url_decode_exact(s, strlen(s), out, SP_KEY_LEN);
}

/* An optional field of exactly n bytes in the text form that decode reads
 * (sp_b64url_decode_exact, sp_hex_decode_exact): 1 present, 0 absent or
 * null, -1 malformed. */
static int
get_bytes(json_t *answer, const char *name,
    int (*decode)(const char *, size_t, unsigned char *, size_t), unsigned char *out,
    size_t n)
{
	json_t *v = json_object_get(answer, name);
	const char *s;

	if (v == NULL || json_is_null(v))
		return 0;
	if ((s = json_string_value(v)) == NULL || decode(s, strlen(s), out, n) != SP_OK)
		return -1;
	return 1;
}

/* Copy an optional string field into a fixed buffer: SP_OK (absent or
 * null gives ""), SP_ERR_INVALID when it is not a string or too long. */
static int
get_fixed(json_t *answer, const char *name, char *out, size_t outsz)
{
	json_t *v = json_object_get(answer, name);
	const char *s;

	out[0] = '\0';
	if (v == NULL || json_is_null(v))
		return SP_OK;
	if ((s = json_string_value(v)) == NULL || strlen(s) >= outsz)
		return SP_ERR_INVALID;
	memcpy(out, s, strlen(s) + 1);
	return SP_OK;
}

/* strdup of an optional string field: SP_OK (absent gives NULL),
 * SP_ERR_INVALID when not a string, SP_ERR_NOMEM. */
static int
get_dup(json_t *answer, const char *name, char **out)
{
	json_t *v = json_object_get(answer, name);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return SP_OK;
	if (!json_is_string(v))
		return SP_ERR_INVALID;
	if ((*out = strdup(json_string_value(v))) == NULL)
		return SP_ERR_NOMEM;
	return SP_OK;
}

/* The id goes into a URL path: only base64url characters, exact length. */
static int
id_path(const char *id, const char *verb, char *path, size_t pathsz, struct sp_err *err)
{
	size_t i;

	for (i = 0; id[i] != '\0'; i++)
		if (!((id[i] >= 'A' && id[i] <= 'Z') || (id[i] >= 'a' && id[i] <= 'z') ||
		    (id[i] >= '0' && id[i] <= '9') || id[i] == '-' || id[i] == '_'))
			return sp_err_set(err, SP_ERR_NOTFOUND, "envelope id is malformed");
	if (i != SP_ENV_ID_STRLEN)
		return sp_err_set(err, SP_ERR_NOTFOUND, "envelope id is malformed");
	snprintf(path, pathsz, "/api/v1/envelopes/%s/%s", id, verb);
	return SP_OK;
}

void
sp_deposit_req_init(struct sp_deposit_req *r)
{
	memset(r, 0, sizeof(*r));
	r->format = 1;
	r->notify_read = -1;
}

void
sp_deposit_res_clear(struct sp_deposit_res *r)
{
	sp_wipe(r->server_part, sizeof(r->server_part));
	free(r->org);
	free(r->keyd);
	free(r->brand_colour);
	free(r->brand_logo);
	r->org = r->keyd = r->brand_colour = NULL;
	r->brand_logo = NULL;
	r->brand_logo_len = 0;
}

/* The request body of a deposit. */
static json_t *
deposit_body(const struct sp_deposit_req *req)
{
	json_t *body, *rcpt;
	size_t i;
	int bad = 0;

	if ((rcpt = json_array()) == NULL)
		return NULL;
	for (i = 0; i < req->nrcpt; i++)
		bad |= json_array_append_new(rcpt, json_string(req->rcpt[i]));
	body = json_pack("{s:s, s:o, s:I}", "from", req->from ? req->from : "",
	    "recipients", rcpt, "expires", (json_int_t)req->expires);
	if (body == NULL || bad)
		goto fail;
	for (i = 0; req->hidden != NULL && i < req->nrcpt; i++)
		if (req->hidden[i]) {
			json_t *bcc = json_object_get(body, "bcc");

			if (bcc == NULL) {
				bad |= json_object_set_new(body, "bcc", json_array());
				bcc = json_object_get(body, "bcc");
			}
			bad |= bcc == NULL || json_array_append_new(bcc, json_string(req->rcpt[i]));
		}
	if (req->format >= 2)
		bad |= json_object_set_new(body, "format", json_integer(req->format));
	if (req->notify_read >= 0)
		bad |= json_object_set_new(body, "notify_read", json_boolean(req->notify_read));
	if (req->level != NULL)
		bad |= json_object_set_new(body, "level", json_string(req->level));
	if (req->verify_hash != NULL)
		bad |= json_object_set_new(body, "verify", json_string(req->verify_hash));
	if (req->verify_hint != NULL)
		bad |= json_object_set_new(body, "verify_hint", json_string(req->verify_hint));
	if (req->holder != NULL) {
		struct sp_buf t;

		sp_buf_init(&t, 64);
		bad |= sp_b64url_encode(&t, req->holder, SP_SHA256_LEN) != SP_OK ||
		    json_object_set_new(body, "holder", json_stringn((const char *)t.data, t.len));
		sp_buf_free(&t);
	}
	if (!bad)
		return body;
fail:
	json_decref(body);
	return NULL;
}

/* The branding of a deposit answer: {"colour":..|null,"logo":"<base64>"|null}. */
static int
deposit_brand(json_t *answer, struct sp_deposit_res *res)
{
	json_t *brand = json_object_get(answer, "brand");
	const char *logo;
	struct sp_buf png;
	int st;

	if (brand == NULL || json_is_null(brand))
		return SP_OK;
	if (!json_is_object(brand))
		return SP_ERR_INVALID;
	if ((st = get_dup(brand, "colour", &res->brand_colour)) != SP_OK)
		return st;
	logo = json_string_value(json_object_get(brand, "logo"));
	if (logo == NULL)
		return SP_OK;
	sp_buf_init(&png, KEYD_MAX_RESPONSE);
	if ((st = sp_b64_decode(&png, logo, strlen(logo))) != SP_OK || png.len == 0) {
		sp_buf_free(&png);
		return st != SP_OK ? st : SP_ERR_INVALID;
	}
	res->brand_logo = sp_buf_steal(&png, &res->brand_logo_len);
	return SP_OK;
}

int
sp_keyd_deposit(struct sp_keyd_client *c, const struct sp_deposit_req *req,
    struct sp_deposit_res *res, struct sp_err *err)
{
	json_t *body, *answer = NULL, *verify;
	const char *id, *org, *keyd, *field;
	long code;
	int st;

	memset(res, 0, sizeof(*res));
	if ((body = deposit_body(req)) == NULL)
		return sp_err_set(err, SP_ERR_INVALID,
		    "recipient, sender or verification hint is not valid UTF-8");
	st = keyd_post(c, "/api/v1/envelopes", body, &code, &answer, err);
	json_decref(body);
	if (st != SP_OK)
		return st;
	if (code != 201) {
		st = keyd_status(code, answer, "deposit", err);
		/* 400 on "format": the organisation signs its envelopes and this
		 * sealer has no key, a fault of the sealer's setup, not of the
		 * message */
		field = json_string_value(json_object_get(answer, "field"));
		if (code == 400 && field != NULL && strcmp(field, "format") == 0)
			st = SP_ERR_CONFIG;
		json_decref(answer);
		return st;
	}
	id = json_string_value(json_object_get(answer, "id"));
	org = json_string_value(json_object_get(answer, "org"));
	keyd = json_string_value(json_object_get(answer, "keyd"));
	verify = json_object_get(answer, "verify");
	if (id == NULL || strlen(id) != SP_ENV_ID_STRLEN || org == NULL || keyd == NULL ||
	    get_key_part(answer, "server_part", res->server_part) != SP_OK ||
	    get_fixed(answer, "level", res->level, sizeof(res->level)) != SP_OK ||
	    (verify != NULL && !json_is_boolean(verify)) ||
	    (st = deposit_brand(answer, res)) != SP_OK) {
		json_decref(answer);
		sp_deposit_res_clear(res);
		if (st == SP_ERR_NOMEM)
			return sp_err_set(err, st, "out of memory");
		return sp_err_set(err, SP_ERR_INTERNAL, "deposit: malformed answer from key server");
	}
	memcpy(res->id, id, SP_ENV_ID_STRLEN + 1);
	res->org = strdup(org);
	res->keyd = strdup(keyd);
	res->created = json_integer_value(json_object_get(answer, "created"));
	res->expires = json_integer_value(json_object_get(answer, "expires"));
	res->verify = json_is_true(verify);
	/* optional: older key servers do not answer it (English then) */
	if (json_is_string(json_object_get(answer, "language")) &&
	    json_string_length(json_object_get(answer, "language")) < sizeof(res->language))
		snprintf(res->language, sizeof(res->language), "%s",
		    json_string_value(json_object_get(answer, "language")));
	if (json_is_object(json_object_get(answer, "copy"))) {
		res->copy = 1;
		res->copy_keep_until = json_integer_value(json_object_get(json_object_get(answer,
		    "copy"), "keep_until"));
		res->copy_max = json_integer_value(json_object_get(json_object_get(answer, "copy"),
		    "max"));
	}
	json_decref(answer);
	if (res->org == NULL || res->keyd == NULL) {
		sp_deposit_res_clear(res);
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	}
	return SP_OK;
}

int
sp_keyd_seal(struct sp_keyd_client *c, const char *id, const unsigned char *header,
    size_t header_len, const unsigned char ct_sha[SP_SHA256_LEN],
    const unsigned char sig[SP_SIGN_SIG_LEN], struct sp_err *err)
{
	struct sp_buf hb64, sigb64;
	char path[128], hex[2 * SP_SHA256_LEN + 1];
	json_t *body = NULL, *answer = NULL;
	long code;
	int st;

	if ((st = id_path(id, "seal", path, sizeof(path), err)) != SP_OK)
		return st;
	sp_buf_init(&hb64, 2 * SP_ENV_MAX_HEADER);
	sp_buf_init(&sigb64, 256);
	sp_hex_encode(ct_sha, SP_SHA256_LEN, hex);
	if (sp_b64_encode(&hb64, header, header_len, 0) != SP_OK ||
	    sp_b64url_encode(&sigb64, sig, SP_SIGN_SIG_LEN) != SP_OK ||
	    sp_buf_append(&hb64, "", 1) != SP_OK || sp_buf_append(&sigb64, "", 1) != SP_OK ||
	    (body = json_pack("{s:s, s:s, s:s}", "header", (const char *)hb64.data,
	    "ct_sha256", hex, "sig", (const char *)sigb64.data)) == NULL) {
		st = sp_err_set(err, SP_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((st = keyd_post(c, path, body, &code, &answer, err)) != SP_OK)
		goto out;
	if (code != 200)
		st = keyd_status(code, answer, "seal", err);
	else if (!json_is_true(json_object_get(answer, "ok")))
		st = sp_err_set(err, SP_ERR_INTERNAL, "seal: malformed answer from key server");
out:
	json_decref(body);
	json_decref(answer);
	sp_buf_free(&hb64);
	sp_buf_free(&sigb64);
	return st;
}

int
sp_keyd_login(struct sp_keyd_client *c, const char *email, const char *password,
    struct sp_err *err)
{
	json_t *body, *answer = NULL;
	const char *session;
	long code;
	int st;

	body = json_pack("{s:s, s:s}", "email", email, "password", password);
	if (body == NULL)
		return sp_err_set(err, SP_ERR_INVALID, "email or password is not valid UTF-8");
	st = keyd_post(c, "/api/v1/session", body, &code, &answer, err);
	json_decref(body);
	if (st != SP_OK)
		return st;
	if (code != 200) {
		st = keyd_status(code, answer, "log in", err);
		json_decref(answer);
		return st;
	}
	session = json_string_value(json_object_get(answer, "session"));
	st = session ? sp_keyd_client_set_token(c, session) : SP_ERR_INTERNAL;
	json_decref(answer);
	if (st != SP_OK)
		return sp_err_set(err, st, "log in: malformed answer from key server");
	return SP_OK;
}

void
sp_release_res_clear(struct sp_release_res *r)
{
	size_t i;

	sp_wipe(r->server_part, sizeof(r->server_part));
	free(r->org);
	free(r->from);
	for (i = 0; i < r->nrcpt; i++)
		free(r->rcpt[i]);
	free(r->rcpt);
	free(r->verify_hint);
	memset(r, 0, sizeof(*r));
}

/* The record of a 200 answer into res. */
static int
release_record(json_t *answer, struct sp_release_res *res)
{
	json_t *rcpt = json_object_get(answer, "recipients"), *v;
	json_int_t format = json_integer_value(json_object_get(answer, "format"));
	int hs, cs, sg, pk;
	size_t i;
	int st;

	if (get_key_part(answer, "server_part", res->server_part) != SP_OK)
		return SP_ERR_INVALID;
	/* an older key server answers no format: its envelopes are format 1 */
	res->format = json_object_get(answer, "format") == NULL ? 1 : (int)format;
	if (res->format != 1 && res->format != 2)
		return SP_ERR_INVALID;
	if ((st = get_dup(answer, "org", &res->org)) != SP_OK ||
	    (st = get_dup(answer, "from", &res->from)) != SP_OK ||
	    (st = get_fixed(answer, "level", res->level, sizeof(res->level))) != SP_OK ||
	    (st = get_fixed(answer, "kind", res->kind, sizeof(res->kind))) != SP_OK ||
	    (st = get_fixed(answer, "kid", res->kid, sizeof(res->kid))) != SP_OK)
		return st;
	res->bcc = json_is_true(json_object_get(answer, "bcc"));
	res->created = json_integer_value(json_object_get(answer, "created"));
	res->expires = json_integer_value(json_object_get(answer, "expires"));
	if (json_is_array(rcpt) && json_array_size(rcpt) > 0) {
		if (json_array_size(rcpt) > SP_ENV_MAX_RECIPIENTS)
			return SP_ERR_INVALID;
		if ((res->rcpt = calloc(json_array_size(rcpt), sizeof(*res->rcpt))) == NULL)
			return SP_ERR_NOMEM;
		json_array_foreach(rcpt, i, v) {
			if (!json_is_string(v))
				return SP_ERR_INVALID;
			if ((res->rcpt[res->nrcpt] = strdup(json_string_value(v))) == NULL)
				return SP_ERR_NOMEM;
			res->nrcpt++;
		}
	}
	hs = get_bytes(answer, "header_sha256", sp_hex_decode_exact, res->header_sha,
	    SP_SHA256_LEN);
	cs = get_bytes(answer, "ct_sha256", sp_hex_decode_exact, res->ct_sha, SP_SHA256_LEN);
	sg = get_bytes(answer, "sig", sp_b64url_decode_exact, res->sig, SP_SIGN_SIG_LEN);
	pk = get_bytes(answer, "sig_key", sp_b64url_decode_exact, res->sig_key,
	    SP_SIGN_PUB_LEN);
	if (hs < 0 || cs < 0 || sg < 0 || pk < 0)
		return SP_ERR_INVALID;
	res->has_digests = hs == 1 && cs == 1;
	res->has_sig = sg == 1;
	res->has_sig_key = pk == 1;
	return SP_OK;
}

/* What a refusal says (409 verification, 410 and 423 reasons). */
static void
release_refusal(json_t *answer, struct sp_release_res *res)
{
	json_t *verify = json_object_get(answer, "verify");
	json_t *tries;

	res->tries_left = -1;
	(void)get_fixed(answer, "reason", res->reason, sizeof(res->reason));
	if (res->http_status == 409 && json_is_object(verify)) {
		res->verify_needed = 1;
		(void)get_dup(verify, "hint", &res->verify_hint);
		tries = json_object_get(verify, "tries_left");
		if (json_is_integer(tries))
			res->tries_left = (int)json_integer_value(tries);
	}
}

int
sp_keyd_release_record(struct sp_keyd_client *c, const char *id,
    struct sp_release_res *res, struct sp_err *err)
{
	json_t *body, *answer = NULL;
	char path[128];
	long code;
	int st;

	memset(res, 0, sizeof(*res));
	res->tries_left = -1;
	if ((st = id_path(id, "release", path, sizeof(path), err)) != SP_OK)
		return st;
	if ((body = json_object()) == NULL)
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	st = keyd_post(c, path, body, &code, &answer, err);
	json_decref(body);
	if (st != SP_OK)
		return st;
	res->http_status = code;
	if (code != 200) {
		release_refusal(answer, res);
		st = keyd_status(code, answer, "key release", err);
		/* 409 and 423 concern the verification secret: the recipient
		 * may not have it yet, nothing is wrong with the envelope */
		if (code == 409)
			st = sp_err_set(err, SP_ERR_DENIED,
			    "key release: the sender asks for a verification answer first");
		json_decref(answer);
		return st;
	}
	st = release_record(answer, res);
	json_decref(answer);
	if (st == SP_ERR_NOMEM)
		return sp_err_set(err, st, "out of memory");
	if (st != SP_OK)
		return sp_err_set(err, SP_ERR_INTERNAL, "key release: malformed answer from key server");
	return SP_OK;
}

int
sp_keyd_release(struct sp_keyd_client *c, const char *id,
    unsigned char server_part[SP_KEY_LEN], struct sp_err *err)
{
	struct sp_release_res r;
	int st;

	st = sp_keyd_release_record(c, id, &r, err);
	if (st == SP_OK)
		memcpy(server_part, r.server_part, SP_KEY_LEN);
	sp_release_res_clear(&r);
	return st;
}

int
sp_keyd_verify(struct sp_keyd_client *c, const char *id, const char *answer_text,
    int *tries_left, struct sp_err *err)
{
	json_t *body, *answer = NULL, *tries;
	char path[128];
	long code;
	int st;

	*tries_left = -1;
	if ((st = id_path(id, "verify", path, sizeof(path), err)) != SP_OK)
		return st;
	if ((body = json_pack("{s:s}", "answer", answer_text)) == NULL)
		return sp_err_set(err, SP_ERR_INVALID, "the verification answer is not valid UTF-8");
	st = keyd_post(c, path, body, &code, &answer, err);
	json_decref(body);
	if (st != SP_OK)
		return st;
	tries = json_object_get(answer, "tries_left");
	if (json_is_integer(tries))
		*tries_left = (int)json_integer_value(tries);
	if (code == 200)
		st = SP_OK;
	else if (code == 403)
		st = sp_err_set(err, SP_ERR_AUTH, "that is not the answer the sender gave");
	else
		st = keyd_status(code, answer, "verification", err);
	json_decref(answer);
	return st;
}

static int
lower_ascii(int ch)
{
	return ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch;
}

int
sp_keyd_url_normalize(const char *url, char *out, size_t outsz, struct sp_err *err)
{
	const char *p, *host, *hend, *port = NULL, *path;
	size_t plen, i, n = 0;
	int https;

	if (url == NULL)
		return sp_err_set(err, SP_ERR_INVALID, "no key server URL");
	if (strncasecmp(url, "https://", 8) == 0)
		https = 1;
	else if (strncasecmp(url, "http://", 7) == 0)
		https = 0;
	else
		return sp_err_set(err, SP_ERR_INVALID,
		    "%.200s: a key server URL starts with http:// or https://", url);
	host = url + (https ? 8 : 7);
	for (p = url; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f || *p == '?' ||
		    *p == '#' || *p == '@' || *p == '\\')
			return sp_err_set(err, SP_ERR_INVALID,
			    "%.200s: not a plain key server URL (no user, query, fragment or spaces)", url);
	path = host + strcspn(host, "/");
	if (*host == '[') {
		if ((hend = memchr(host, ']', (size_t)(path - host))) == NULL)
			return sp_err_set(err, SP_ERR_INVALID, "%.200s: bad IPv6 address", url);
		hend++;
	} else {
		hend = host + strcspn(host, ":/");
	}
	if (hend == host)
		return sp_err_set(err, SP_ERR_INVALID, "%.200s: no host", url);
	if (*hend == ':') {
		port = hend + 1;
		if (port == path)
			port = NULL;	/* "host:" */
		for (p = port; p != NULL && p < path; p++)
			if (*p < '0' || *p > '9')
				return sp_err_set(err, SP_ERR_INVALID, "%.200s: bad port", url);
	} else if (hend != path) {
		return sp_err_set(err, SP_ERR_INVALID, "%.200s: bad host", url);
	}
	while (port != NULL && *port == '0' && port + 1 < path)
		port++;
	if (port != NULL && (size_t)(path - port) == (https ? 3 : 2) &&
	    strncmp(port, https ? "443" : "80", (size_t)(path - port)) == 0)
		port = NULL;
	plen = strlen(path);
	while (plen > 0 && path[plen - 1] == '/')
		plen--;
	if (strlen(url) + 1 > outsz)
		return sp_err_set(err, SP_ERR_TOOBIG, "%.200s: key server URL too long", url);
	memcpy(out, https ? "https://" : "http://", https ? 8 : 7);
	n = https ? 8 : 7;
	for (i = 0; host + i < hend; i++)
		out[n++] = (char)lower_ascii((unsigned char)host[i]);
	if (port != NULL) {
		out[n++] = ':';
		memcpy(out + n, port, (size_t)(path - port));
		n += (size_t)(path - port);
	}
	memcpy(out + n, path, plen);
	n += plen;
	out[n] = '\0';
	return SP_OK;
}

/* --- ciphertext copy --------------------------------------------------------- */

/* Where an upload reads from: memory in place, or a file by offset. */
struct copy_src {
	const unsigned char *data;
	int fd;
	uint64_t len, off;
	int failed;
};

static size_t
copy_read(char *buf, size_t size, size_t n, void *ctx)
{
	struct copy_src *s = ctx;
	uint64_t left = s->len - s->off;
	size_t want = size * n < left ? size * n : (size_t)left;
	ssize_t got;

	if (want == 0)
		return 0;
	if (s->data != NULL)
		memcpy(buf, s->data + s->off, want);
	else {
		do
			got = pread(s->fd, buf, want, (off_t)s->off);
		while (got < 0 && errno == EINTR);
		if (got <= 0) {
			s->failed = 1;
			return CURL_READFUNC_ABORT;
		}
		want = (size_t)got;
	}
	s->off += want;
	return want;
}

int
sp_keyd_copy_put(struct sp_keyd_client *c, const char *id, const unsigned char *data,
    int fd, uint64_t len, struct sp_err *err)
{
	struct copy_src src = {data, fd, len, 0, 0};
	struct curl_slist *hdrs = NULL;
	struct sp_buf resp, url, auth;
	json_t *answer = NULL;
	char path[128];
	long code = 0;
	CURLcode rc;
	int st;

	if ((st = id_path(id, "copy", path, sizeof(path), err)) != SP_OK)
		return st;
	sp_buf_init(&resp, KEYD_MAX_RESPONSE);
	sp_buf_init(&url, 4096);
	sp_buf_init(&auth, 4096);
	if (sp_buf_printf(&url, "%s%s", c->base, path) != SP_OK) {
		st = sp_err_set(err, SP_ERR_NOMEM, "out of memory");
		goto out;
	}
	/* a large copy may take longer than one API call: at least 2 minutes */
	hdrs = request_setup(c, "Content-Type: application/octet-stream", &url, &auth, &resp,
	    c->timeout_ms > 120000 ? c->timeout_ms : 120000L);
	hdrs = curl_slist_append(hdrs, "Expect:");
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c->curl, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(c->curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(c->curl, CURLOPT_READFUNCTION, copy_read);
	curl_easy_setopt(c->curl, CURLOPT_READDATA, &src);
	rc = curl_easy_perform(c->curl);
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &code);
	if (rc != CURLE_OK && code == 0) {
		st = src.failed ? sp_err_set(err, SP_ERR_IO, "copy: cannot read the ciphertext") :
		    sp_err_set(err, SP_ERR_RETRY, "key server %s: %s", c->base,
		    curl_easy_strerror(rc));
		goto out;
	}
	if (resp.len > 0)
		answer = json_loadb((const char *)resp.data, resp.len, JSON_REJECT_DUPLICATES, NULL);
	if (code == 507 || code == 413) {
		const char *m = json_string_value(json_object_get(answer, "error"));

		st = sp_err_set(err, SP_ERR_TOOBIG, "copy: key server answered %ld%s%s", code,
		    m ? ": " : "", m ? m : "");
	} else if (code != 200 && code != 201)
		st = keyd_status(code, answer, "copy", err);
	else
		st = SP_OK;
out:
	json_decref(answer);
	curl_slist_free_all(hdrs);
	sp_buf_wipe(&auth);
	sp_buf_free(&resp);
	sp_buf_free(&url);
	return st;
}

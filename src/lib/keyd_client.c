/*
 * keyd_client.c - the key server API client (docs/api.md) on libcurl.
 * One curl easy handle per client, reused, so connections stay alive.
 * SECURITY: the bearer token and released key parts are wiped when the
 * client or result is freed; response bodies are capped and parsed with
 * jansson; nothing here logs.
 */
#include "keyd_client.h"

#include <curl/curl.h>
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
	char *t = strdup(token);

	if (t == NULL)
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
	    (text = json_dumps(body, JSON_COMPACT)) == NULL) {
		st = sp_err_set(err, SP_ERR_NOMEM, "out of memory");
		goto out;
	}
	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	hdrs = curl_slist_append(hdrs, "Accept: application/json");
	if (c->token != NULL) {
		sp_buf_printf(&auth, "Authorization: Bearer %s", c->token);
		hdrs = curl_slist_append(hdrs, (char *)auth.data);
	}
	curl_easy_reset(c->curl);
	curl_easy_setopt(c->curl, CURLOPT_URL, (char *)url.data);
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, text);
	curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(text));
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &resp);
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, c->timeout_ms);
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, c->timeout_ms < 10000 ? c->timeout_ms : 10000);
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c->curl, CURLOPT_FOLLOWLOCATION, 0L);
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
	case 403: st = SP_ERR_DENIED; break;
	case 404: st = SP_ERR_NOTFOUND; break;
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

void
sp_deposit_res_clear(struct sp_deposit_res *r)
{
	sp_wipe(r->server_part, sizeof(r->server_part));
	free(r->org);
	free(r->keyd);
	r->org = r->keyd = NULL;
}

int
sp_keyd_deposit(struct sp_keyd_client *c, const struct sp_deposit_req *req,
    struct sp_deposit_res *res, struct sp_err *err)
{
	json_t *body, *rcpt, *answer = NULL;
	const char *id, *org, *keyd;
	long code;
	size_t i;
	int st;

	memset(res, 0, sizeof(*res));
	if ((rcpt = json_array()) == NULL)
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	for (i = 0; i < req->nrcpt; i++)
		json_array_append_new(rcpt, json_string(req->rcpt[i]));
	body = json_pack("{s:s, s:o, s:I}", "from", req->from ? req->from : "",
	    "recipients", rcpt, "expires", (json_int_t)req->expires);
	if (body == NULL)
		return sp_err_set(err, SP_ERR_INVALID, "recipient or sender is not valid UTF-8");
	st = keyd_post(c, "/api/v1/envelopes", body, &code, &answer, err);
	json_decref(body);
	if (st != SP_OK)
		return st;
	if (code != 201) {
		st = keyd_status(code, answer, "deposit", err);
		json_decref(answer);
		return st;
	}
	id = json_string_value(json_object_get(answer, "id"));
	org = json_string_value(json_object_get(answer, "org"));
	keyd = json_string_value(json_object_get(answer, "keyd"));
	if (id == NULL || strlen(id) != SP_ENV_ID_STRLEN || org == NULL || keyd == NULL ||
	    get_key_part(answer, "server_part", res->server_part) != SP_OK) {
		json_decref(answer);
		sp_deposit_res_clear(res);
		return sp_err_set(err, SP_ERR_INTERNAL, "deposit: malformed answer from key server");
	}
	memcpy(res->id, id, SP_ENV_ID_STRLEN + 1);
	res->org = strdup(org);
	res->keyd = strdup(keyd);
	res->created = json_integer_value(json_object_get(answer, "created"));
	res->expires = json_integer_value(json_object_get(answer, "expires"));
	json_decref(answer);
	if (res->org == NULL || res->keyd == NULL) {
		sp_deposit_res_clear(res);
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	}
	return SP_OK;
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

int
sp_keyd_release(struct sp_keyd_client *c, const char *id,
    unsigned char server_part[SP_KEY_LEN], struct sp_err *err)
{
	json_t *body, *answer = NULL;
	char path[128];
	size_t i;
	long code;
	int st;

	/* the id goes into a URL path: only base64url characters */
	for (i = 0; id[i] != '\0'; i++)
		if (!((id[i] >= 'A' && id[i] <= 'Z') || (id[i] >= 'a' && id[i] <= 'z') ||
		    (id[i] >= '0' && id[i] <= '9') || id[i] == '-' || id[i] == '_'))
			return sp_err_set(err, SP_ERR_NOTFOUND, "envelope id is malformed");
	if (i != SP_ENV_ID_STRLEN)
		return sp_err_set(err, SP_ERR_NOTFOUND, "envelope id is malformed");
	snprintf(path, sizeof(path), "/api/v1/envelopes/%s/release", id);
	if ((body = json_object()) == NULL)
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	st = keyd_post(c, path, body, &code, &answer, err);
	json_decref(body);
	if (st != SP_OK)
		return st;
	if (code != 200) {
		st = keyd_status(code, answer, "key release", err);
		json_decref(answer);
		return st;
	}
	st = get_key_part(answer, "server_part", server_part);
	json_decref(answer);
	if (st != SP_OK)
		return sp_err_set(err, SP_ERR_INTERNAL, "key release: malformed answer from key server");
	return SP_OK;
}

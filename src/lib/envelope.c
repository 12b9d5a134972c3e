/*
 * envelope.c - the envelope header (canonical JSON, docs/envelope-format.md
 * sections 2 and 7.1) and the message key derivation (sections 1 and 7.2).
 *
 * The header is written once by the sealer with jansson in a fixed key order
 * and is authenticated as exact bytes; readers parse it with duplicate keys
 * refused and validate every field's type and bounds.
 * SECURITY: sp_env_header_decode() parses untrusted bytes (the header of a
 * received envelope); every field is bounded before use.  The key derivation
 * handles both key parts and wipes its copy of them.
 */
#include "envelope.h"
#include "jsonwipe.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define ENV_ALG "A256GCM-STREAM-64K"
#define ENV_MAX_ADDR 320	/* an address is shorter than this */
#define ENV_MAX_ADDR_JSON 957	/* bytes of an address escaped in meta JSON */
#define ENV_MAX_KEYD 512	/* key server URL, bytes */
#define ENV_MAX_ORG 1024	/* organisation display name, bytes */
#define ENV_NP_STRLEN 10	/* base64url of the 7-byte nonce prefix */
#define ENV_SALT_V1 "sealpost/v1"
#define ENV_SALT_V2 "sealpost/v2"
#define ENV_INFO "message key "
#define ENV_KID_STRLEN 11	/* base64url of the 8-byte key id */
#define ENV_KID_LEN 8

/* The fields of a header in canonical order: format 1 has the first
 * ENV_NKEYS_V1, format 2 all of them. */
static const char *const env_keys[] = {
	"v", "id", "keyd", "org", "from", "to", "created", "expires", "alg", "np",
	"kid", "level", "verify",
};
#define ENV_NKEYS_V1 10
#define ENV_NKEYS_V2 13

/* The security levels of format 2. */
static const char *const env_levels[] = { "high", "medium", "low" };

void
sp_env_header_clear(struct sp_env_header *h)
{
	size_t i;

	if (h == NULL)
		return;
	free(h->keyd);
	free(h->org);
	free(h->from);
	if (h->to != NULL) {
		for (i = 0; i < h->nto; i++)
			free(h->to[i]);
		free(h->to);
	}
	memset(h, 0, sizeof(*h));
}

static int
env_valid_id(const char *s, size_t n)
{
	unsigned char raw[SP_ENV_ID_LEN];

	return n == SP_ENV_ID_STRLEN &&
	    sp_b64url_decode_exact(s, n, raw, sizeof(raw)) == SP_OK;
}

/* A signing key id: 11 base64url characters that decode to exactly 8 bytes. */
static int
env_valid_kid(const char *s, size_t n)
{
	unsigned char raw[ENV_KID_LEN];

	return n == ENV_KID_STRLEN &&
	    sp_b64url_decode_exact(s, n, raw, sizeof(raw)) == SP_OK;
}

static int
env_valid_level(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < sizeof(env_levels) / sizeof(env_levels[0]); i++)
		if (n == strlen(env_levels[i]) && memcmp(s, env_levels[i], n) == 0)
			return 1;
	return 0;
}

/* An http(s) URL without a trailing '/', made only of characters that are
 * safe in an HTML attribute and in a CSP source list. */
static int
env_valid_keyd(const char *s, size_t n)
{
	size_t i, host;

	if (n > ENV_MAX_KEYD)
		return 0;
	if (n > 8 && memcmp(s, "https://", 8) == 0)
		host = 8;
	else if (n > 7 && memcmp(s, "http://", 7) == 0)
		host = 7;
	else
		return 0;
	if (s[host] == '/' || s[host] == ':' || s[n - 1] == '/')
		return 0;
	for (i = host; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("-._~:/[]%", c) != NULL) ||
		    c == '\0')
			return 0;
	}
	return 1;
}

/* Text of bounded length without ASCII control characters. */
static int
env_valid_text(const char *s, size_t n, size_t max)
{
	size_t i;

	if (n > max)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

/* A mail address: under 320 bytes, one '@' not at either end, no white
 * space, controls or the characters "<>\,; (non-ASCII UTF-8 is allowed).
 * Its form in the envelope's meta JSON (non-ASCII as \uXXXX, '&' as
 * \u0026) must fit in ENV_MAX_ADDR_JSON bytes, so that it sits on one line
 * of the envelope file. */
static int
env_valid_addr(const char *s, size_t n)
{
	size_t i, at = 0, nat = 0, json = 0;

	if (n < 3 || n >= ENV_MAX_ADDR)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= 0x20 || c == 0x7f || strchr("\"<>\\,;", c) != NULL)
			return 0;
		if (c == '@') {
			at = i;
			nat++;
		}
		json += c == '&' ? 6 : c >= 0x80 ? 3 : 1;
	}
	return nat == 1 && at > 0 && at < n - 1 && json <= ENV_MAX_ADDR_JSON;
}

/* Checks the fields of h (used before encoding; decoding checks the same
 * rules on the JSON values). */
static int
env_check(const struct sp_env_header *h, struct sp_err *err)
{
	size_t i;

	if (h->version != 1 && h->version != 2)
		return sp_err_set(err, SP_ERR_INVALID, "envelope header: unsupported version %d", h->version);
	if (h->version == 1 && (h->kid[0] != '\0' || h->level[0] != '\0' || h->verify != 0))
		return sp_err_set(err, SP_ERR_INVALID,
		    "envelope header: kid, level and verify belong to format 2");
	if (h->version == 2) {
		if (!env_valid_kid(h->kid, strnlen(h->kid, sizeof(h->kid))))
			return sp_err_set(err, SP_ERR_INVALID,
			    "envelope header: kid is not 11 base64url characters");
		if (!env_valid_level(h->level, strnlen(h->level, sizeof(h->level))))
			return sp_err_set(err, SP_ERR_INVALID,
			    "envelope header: level is not high, medium or low");
		if (h->verify != 0 && h->verify != 1)
			return sp_err_set(err, SP_ERR_INVALID, "envelope header: verify is not 0 or 1");
	}
	if (!env_valid_id(h->id, strnlen(h->id, sizeof(h->id))))
		return sp_err_set(err, SP_ERR_INVALID, "envelope header: id is not 22 base64url characters");
	if (h->keyd == NULL || !env_valid_keyd(h->keyd, strlen(h->keyd)))
		return sp_err_set(err, SP_ERR_INVALID, "envelope header: keyd is not an http(s) URL");
	if (h->org != NULL && !env_valid_text(h->org, strlen(h->org), ENV_MAX_ORG))
		return sp_err_set(err, SP_ERR_INVALID, "envelope header: bad org");
	if (h->from != NULL && !env_valid_text(h->from, strlen(h->from), ENV_MAX_ADDR - 1))
		return sp_err_set(err, SP_ERR_INVALID, "envelope header: bad from");
	/* no recipient named: every one a blind copy ("undisclosed
	 * recipients"); the key server knows them */
	if (h->nto > 0 && h->to == NULL)
		return sp_err_set(err, SP_ERR_INVALID, "envelope header: no recipients");
	if (h->nto > SP_ENV_MAX_RECIPIENTS)
		return sp_err_set(err, SP_ERR_TOOBIG, "envelope header: more than %d recipients",
		    SP_ENV_MAX_RECIPIENTS);
	for (i = 0; i < h->nto; i++)
		if (h->to[i] == NULL || !env_valid_addr(h->to[i], strlen(h->to[i])))
			return sp_err_set(err, SP_ERR_INVALID, "envelope header: recipient %zu is not a valid address", i);
	if (h->created < 0 || h->expires < 0)
		return sp_err_set(err, SP_ERR_INVALID, "envelope header: negative time");
	return SP_OK;
}

/* json_object_set_new that reports failure (it takes the value either way). */
static int
env_set(json_t *o, const char *k, json_t *v)
{
	return v != NULL && json_object_set_new(o, k, v) == 0;
}

/*
 * Checks h (the rules of docs/envelope-format.md sections 2 and 7.1) and
 * appends its canonical JSON to out: format 1 (h->version 1, kid and level
 * empty, verify 0) or format 2 (kid, level and verify set).  h is borrowed;
 * NULL org or from are written as "".
 * Errors: SP_ERR_INVALID (a field breaks a rule, or is not UTF-8),
 * SP_ERR_TOOBIG (more than 500 recipients, over 64 KiB, or out is full).
 */
int
sp_env_header_encode(const struct sp_env_header *h, struct sp_buf *out, struct sp_err *err)
{
	json_t *o = NULL, *to = NULL;
	struct sp_buf np;
	char *s = NULL;
	size_t i, slen;
	int st, ok;

	if ((st = env_check(h, err)) != SP_OK)
		return st;
	sp_buf_init(&np, 16);
	if ((st = sp_b64url_encode(&np, h->nonce_prefix, SP_ENV_NONCE_PREFIX_LEN)) != SP_OK)
		return sp_err_set(err, st, "envelope header: cannot encode nonce prefix");
	if ((o = json_object()) == NULL || (to = json_array()) == NULL) {
		st = sp_err_set(err, SP_ERR_NOMEM, "envelope header: out of memory");
		goto done;
	}
	ok = 1;
	for (i = 0; ok && i < h->nto; i++)
		ok = json_array_append_new(to, json_string(h->to[i])) == 0;
	ok = ok &&
	    env_set(o, "v", json_integer(h->version)) &&
	    env_set(o, "id", json_string(h->id)) &&
	    env_set(o, "keyd", json_string(h->keyd)) &&
	    env_set(o, "org", json_string(h->org != NULL ? h->org : "")) &&
	    env_set(o, "from", json_string(h->from != NULL ? h->from : "")) &&
	    json_object_set(o, "to", to) == 0 &&
	    env_set(o, "created", json_integer(h->created)) &&
	    env_set(o, "expires", json_integer(h->expires)) &&
	    env_set(o, "alg", json_string(ENV_ALG)) &&
	    env_set(o, "np", json_string((const char *)np.data));
	if (ok && h->version == 2) {
		char kid[ENV_KID_STRLEN + 1];

		memcpy(kid, h->kid, ENV_KID_STRLEN);
		kid[ENV_KID_STRLEN] = '\0';
		ok = env_set(o, "kid", json_string(kid)) &&
		    env_set(o, "level", json_string(h->level)) &&
		    env_set(o, "verify", json_boolean(h->verify));
	}
	if (!ok) {
		/* json_string() refuses invalid UTF-8 as well as failing to allocate. */
		st = sp_err_set(err, SP_ERR_INVALID, "envelope header: a field is not valid UTF-8");
		goto done;
	}
	s = sp_json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
	if (s == NULL) {
		st = sp_err_set(err, SP_ERR_NOMEM, "envelope header: cannot serialise");
		goto done;
	}
	slen = strlen(s);
	if (slen > SP_ENV_MAX_HEADER) {
		st = sp_err_set(err, SP_ERR_TOOBIG, "envelope header: %zu bytes, more than %d",
		    slen, SP_ENV_MAX_HEADER);
		goto done;
	}
	if ((st = sp_buf_append(out, s, slen)) != SP_OK)
		sp_err_set(err, st, "envelope header: output buffer full");
done:
	free(s);
	json_decref(to);
	json_decref(o);
	sp_buf_free(&np);
	return st;
}

/* Copies the string value v (checked by valid) to *dst. */
static int
env_get_str(json_t *v, char **dst)
{
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);

	if (memchr(s, '\0', n) != NULL)
		return SP_ERR_INVALID;
	if ((*dst = strndup(s, n)) == NULL)
		return SP_ERR_NOMEM;
	return SP_OK;
}

static int
env_decode_obj(json_t *o, struct sp_env_header *h, struct sp_err *err)
{
	json_t *v, *e;
	const char *k, *s;
	size_t i, n, known, nkeys, pos;
	int st;

	/* The version first: it says which keys belong. */
	v = json_object_get(o, "v");
	if (!json_is_integer(v) || (json_integer_value(v) != 1 && json_integer_value(v) != 2))
		return sp_err_set(err, SP_ERR_INVALID, "envelope header: unsupported version");
	h->version = (int)json_integer_value(v);
	nkeys = h->version == 1 ? ENV_NKEYS_V1 : ENV_NKEYS_V2;
	pos = 0;
	json_object_foreach(o, k, v) {
		for (known = 0; known < ENV_NKEYS_V2; known++)
			if (strcmp(k, env_keys[known]) == 0)
				break;
		if (known >= nkeys)
			return sp_err_set(err, SP_ERR_INVALID, known < ENV_NKEYS_V2 ?
			    "envelope header: kid, level and verify belong to format 2" :
			    "envelope header: unknown field");
		/* Format 2 headers keep the canonical order (section 7.1). */
		if (h->version == 2 && known != pos)
			return sp_err_set(err, SP_ERR_INVALID,
			    "envelope header: \"%s\" out of order", env_keys[known]);
		pos++;
	}
	for (i = 0; i < nkeys; i++)
		if (json_object_get(o, env_keys[i]) == NULL)
			return sp_err_set(err, SP_ERR_INVALID, "envelope header: missing \"%s\"", env_keys[i]);

	v = json_object_get(o, "alg");
	if (!json_is_string(v) || strcmp(json_string_value(v), ENV_ALG) != 0 ||
	    json_string_length(v) != strlen(ENV_ALG))
		return sp_err_set(err, SP_ERR_INVALID, "envelope header: alg is not %s", ENV_ALG);

	v = json_object_get(o, "id");
	if (!json_is_string(v) || !env_valid_id(json_string_value(v), json_string_length(v)))
		return sp_err_set(err, SP_ERR_INVALID, "envelope header: id is not 22 base64url characters");
	memcpy(h->id, json_string_value(v), SP_ENV_ID_STRLEN);
	h->id[SP_ENV_ID_STRLEN] = '\0';

	v = json_object_get(o, "np");
	if (!json_is_string(v) || json_string_length(v) != ENV_NP_STRLEN ||
	    sp_b64url_decode_exact(json_string_value(v), ENV_NP_STRLEN, h->nonce_prefix,
	    SP_ENV_NONCE_PREFIX_LEN) != SP_OK)
		return sp_err_set(err, SP_ERR_INVALID, "envelope header: np is not a 7-byte base64url value");

	v = json_object_get(o, "keyd");
	if (!json_is_string(v) || !env_valid_keyd(json_string_value(v), json_string_length(v)))
		return sp_err_set(err, SP_ERR_INVALID, "envelope header: keyd is not an http(s) URL");
	if ((st = env_get_str(v, &h->keyd)) != SP_OK)
		return sp_err_set(err, st, "envelope header: bad keyd");

	v = json_object_get(o, "org");
	if (!json_is_string(v) || !env_valid_text(json_string_value(v), json_string_length(v), ENV_MAX_ORG))
		return sp_err_set(err, SP_ERR_INVALID, "envelope header: bad org");
	if ((st = env_get_str(v, &h->org)) != SP_OK)
		return sp_err_set(err, st, "envelope header: bad org");

	v = json_object_get(o, "from");
	if (!json_is_string(v) || !env_valid_text(json_string_value(v), json_string_length(v), ENV_MAX_ADDR - 1))
		return sp_err_set(err, SP_ERR_INVALID, "envelope header: bad from");
	if ((st = env_get_str(v, &h->from)) != SP_OK)
		return sp_err_set(err, st, "envelope header: bad from");

	v = json_object_get(o, "to");
	if (!json_is_array(v))
		return sp_err_set(err, SP_ERR_INVALID, "envelope header: no recipients");
	if ((n = json_array_size(v)) > SP_ENV_MAX_RECIPIENTS)
		return sp_err_set(err, SP_ERR_TOOBIG, "envelope header: more than %d recipients",
		    SP_ENV_MAX_RECIPIENTS);
	if ((h->to = calloc(n + 1, sizeof(*h->to))) == NULL)
		return sp_err_set(err, SP_ERR_NOMEM, "envelope header: out of memory");
	json_array_foreach(v, i, e) {
		if (!json_is_string(e) || !env_valid_addr(s = json_string_value(e), json_string_length(e)))
			return sp_err_set(err, SP_ERR_INVALID, "envelope header: recipient %zu is not a valid address", i);
		if ((st = env_get_str(e, &h->to[i])) != SP_OK)
			return sp_err_set(err, st, "envelope header: out of memory");
		h->nto = i + 1;
	}

	v = json_object_get(o, "created");
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return sp_err_set(err, SP_ERR_INVALID, "envelope header: created is not a time");
	h->created = json_integer_value(v);
	v = json_object_get(o, "expires");
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return sp_err_set(err, SP_ERR_INVALID, "envelope header: expires is not a time");
	h->expires = json_integer_value(v);
	if (h->version == 1)
		return SP_OK;

	v = json_object_get(o, "kid");
	if (!json_is_string(v) || !env_valid_kid(json_string_value(v), json_string_length(v)))
		return sp_err_set(err, SP_ERR_INVALID, "envelope header: kid is not 11 base64url characters");
	memcpy(h->kid, json_string_value(v), ENV_KID_STRLEN);
	h->kid[ENV_KID_STRLEN] = '\0';
	v = json_object_get(o, "level");
	if (!json_is_string(v) || !env_valid_level(json_string_value(v), json_string_length(v)))
		return sp_err_set(err, SP_ERR_INVALID, "envelope header: level is not high, medium or low");
	memcpy(h->level, json_string_value(v), json_string_length(v) + 1);
	v = json_object_get(o, "verify");
	if (!json_is_boolean(v))
		return sp_err_set(err, SP_ERR_INVALID, "envelope header: verify is not true or false");
	h->verify = json_is_true(v) ? 1 : 0;
	return SP_OK;
}

/*
 * Parses header bytes p/n into h, which is overwritten (release an earlier
 * content first) and owns its strings afterwards (sp_env_header_clear).
 * On failure h is left cleared and err names the first broken rule.
 */
int
sp_env_header_decode(const unsigned char *p, size_t n, struct sp_env_header *h,
    struct sp_err *err)
{
	json_error_t jerr;
	json_t *o;
	int st;

	memset(h, 0, sizeof(*h));
	if (n == 0)
		return sp_err_set(err, SP_ERR_INVALID, "envelope header: empty");
	if (n > SP_ENV_MAX_HEADER)
		return sp_err_set(err, SP_ERR_TOOBIG, "envelope header: %zu bytes, more than %d",
		    n, SP_ENV_MAX_HEADER);
	o = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES, &jerr);
	if (o == NULL)
		return sp_err_set(err, SP_ERR_INVALID, "envelope header: not JSON (line %d: %.80s)",
		    jerr.line, jerr.text);
	if (!json_is_object(o))
		st = sp_err_set(err, SP_ERR_INVALID, "envelope header: not a JSON object");
	else
		st = env_decode_obj(o, h, err);
	json_decref(o);
	if (st != SP_OK)
		sp_env_header_clear(h);
	return st;
}

/*
 * key = HKDF-SHA256(salt "sealpost/v<version>", ikm server_part || mail_part,
 * info "message key " || id) for version 1 or 2 (sections 1 and 7.2).  id
 * must be 22 characters and version 1 or 2 (SP_ERR_INVALID).  The caller
 * wipes key when done.
 */
int
sp_env_derive_key_v(int version, const unsigned char server_part[SP_KEY_LEN],
    const unsigned char mail_part[SP_KEY_LEN], const char *id, unsigned char key[SP_KEY_LEN])
{
	unsigned char ikm[2 * SP_KEY_LEN];
	char info[sizeof(ENV_INFO) - 1 + SP_ENV_ID_STRLEN];
	const char *salt;
	int st;

	if (version == 1)
		salt = ENV_SALT_V1;
	else if (version == 2)
		salt = ENV_SALT_V2;
	else
		return SP_ERR_INVALID;
	if (id == NULL || strnlen(id, SP_ENV_ID_STRLEN + 1) != SP_ENV_ID_STRLEN)
		return SP_ERR_INVALID;
	memcpy(ikm, server_part, SP_KEY_LEN);
	memcpy(ikm + SP_KEY_LEN, mail_part, SP_KEY_LEN);
	memcpy(info, ENV_INFO, sizeof(ENV_INFO) - 1);
	memcpy(info + sizeof(ENV_INFO) - 1, id, SP_ENV_ID_STRLEN);
	st = sp_hkdf_sha256(key, SP_KEY_LEN, salt, strlen(salt),
	    ikm, sizeof(ikm), info, sizeof(info));
	sp_wipe(ikm, sizeof(ikm));
	return st;
}

int
sp_env_holder_tag(const unsigned char mail_part[SP_KEY_LEN], unsigned char tag[SP_SHA256_LEN])
{
	static const char salt[] = "sealpost/holder", info[] = "holder";

	return sp_hkdf_sha256(tag, SP_SHA256_LEN, salt, sizeof(salt) - 1, mail_part, SP_KEY_LEN,
	    info, sizeof(info) - 1);
}

/* The format 1 derivation (salt "sealpost/v1"), kept for its callers. */
int
sp_env_derive_key(const unsigned char server_part[SP_KEY_LEN],
    const unsigned char mail_part[SP_KEY_LEN], const char *id, unsigned char key[SP_KEY_LEN])
{
	return sp_env_derive_key_v(1, server_part, mail_part, id, key);
}

/*
 * envelope_read.c - reads an envelope file securedoc.html: extracts the
 * header bytes, the mail key part, the ciphertext stream and, in format 2,
 * the signature (docs/envelope-format.md sections 4 and 7.4).
 *
 * This is a bounded extraction, not an HTML parser: it looks for the exact
 * openings of the elements with fixed ids that sp_env_html_write() writes,
 * and for their closing tags.
 * SECURITY: the input is an untrusted file (any attachment called
 * securedoc.html); every length is checked before use, the ciphertext is
 * capped at SP_ENV_MAX_PAYLOAD, and nothing in it is trusted before the
 * header and payload authenticate at decryption (and, in format 2, the
 * signature verifies under the key server's record: the caller's part).
 */
#include "envelope.h"

#include <jansson.h>
#include <string.h>

#define ENV_TAG_HEADER "<textarea id=\"sp-header\""
#define ENV_TAG_META "<script type=\"application/json\" id=\"sp-meta\">"
#define ENV_TAG_PAYLOAD "<textarea id=\"sp-payload\""
#define ENV_TAG_PAYLOAD_INPUT "<input type=\"hidden\" id=\"sp-payload\" name=\"c\" value=\""
#define ENV_TAG_SIG "<textarea id=\"sp-sig\""
#define ENV_END_TEXTAREA "</textarea>"
#define ENV_END_SCRIPT "</script>"
#define ENV_MAX_START_TAG 256			/* rest of a textarea start tag */
#define ENV_MAX_META ((size_t)1 << 20)		/* meta JSON bytes */
#define ENV_SIG_STRLEN 86			/* base64url of 64 bytes */
#define ENV_MAX_SIG_TEXT 256			/* sig element content, bytes */
/* base64 text of a header: 4/3 of the bytes plus line breaks (CRLF). */
#define ENV_MAX_HEADER_B64 (SP_ENV_MAX_HEADER / 3 * 4 + SP_ENV_MAX_HEADER / 19 + 64)
#define ENV_MAX_PAYLOAD_B64 (SP_ENV_MAX_PAYLOAD / 3 * 4 + SP_ENV_MAX_PAYLOAD / 19 + 64)

/* Finds the content of the element opened by open (a start tag, complete
 * when it ends in '>', else completed by the next '>' within a bound) and
 * closed by close.  Result: 1 with the content in *c and *cn, 0 when
 * absent, -1 when the element is malformed. */
static int
env_element(const unsigned char *s, size_t n, const char *open, const char *close,
    const unsigned char **c, size_t *cn)
{
	const unsigned char *p, *e, *gt;
	size_t olen = strlen(open), rest;

	if ((p = memmem(s, n, open, olen)) == NULL)
		return 0;
	p += olen;
	rest = n - (size_t)(p - s);
	if (open[olen - 1] != '>') {
		if ((gt = memchr(p, '>', rest < ENV_MAX_START_TAG ? rest : ENV_MAX_START_TAG)) == NULL)
			return -1;
		p = gt + 1;
		rest = n - (size_t)(p - s);
	}
	if ((e = memmem(p, rest, close, strlen(close))) == NULL)
		return -1;
	*c = p;
	*cn = (size_t)(e - p);
	return 1;
}

/* The payload element's content: the value of a hidden input (what this
 * sealer writes: browsers load a large one about twice as fast as the same
 * text in a textarea), or the text of a textarea (what older sealers
 * wrote); whichever comes first, as a browser finds the first element of
 * an id.  Results as env_element's. */
static int
env_payload(const unsigned char *s, size_t n, const unsigned char **c, size_t *cn)
{
	const unsigned char *in, *p, *q;
	size_t ilen = strlen(ENV_TAG_PAYLOAD_INPUT);

	if ((in = memmem(s, n, ENV_TAG_PAYLOAD_INPUT, ilen)) == NULL)
		return env_element(s, n, ENV_TAG_PAYLOAD, ENV_END_TEXTAREA, c, cn);
	if (memmem(s, (size_t)(in - s), ENV_TAG_PAYLOAD, strlen(ENV_TAG_PAYLOAD)) != NULL)
		return env_element(s, (size_t)(in - s), ENV_TAG_PAYLOAD, ENV_END_TEXTAREA, c, cn);
	p = in + ilen;
	if ((q = memchr(p, '"', n - (size_t)(p - s))) == NULL)
		return -1;
	*c = p;
	*cn = (size_t)(q - p);
	return 1;
}

static int
env_read_meta(const unsigned char *m, size_t mn, struct sp_env_file *f, struct sp_err *err)
{
	json_error_t jerr;
	json_t *o, *v;
	int st = SP_ERR_INVALID;

	if (mn > ENV_MAX_META)
		return sp_err_set(err, SP_ERR_INVALID, "not a sealpost envelope: meta element too large");
	if ((o = json_loadb((const char *)m, mn, JSON_REJECT_DUPLICATES, &jerr)) == NULL)
		return sp_err_set(err, SP_ERR_INVALID, "not a sealpost envelope: meta is not JSON");
	if (!json_is_object(o)) {
		sp_err_set(err, st, "not a sealpost envelope: meta is not a JSON object");
		goto done;
	}
	v = json_object_get(o, "v");
	if (!json_is_integer(v) || json_integer_value(v) != SP_ENV_VERSION) {
		sp_err_set(err, st, "not a sealpost envelope: unsupported meta version");
		goto done;
	}
	v = json_object_get(o, "id");
	if (!json_is_string(v) || json_string_length(v) != SP_ENV_ID_STRLEN ||
	    memcmp(json_string_value(v), f->header.id, SP_ENV_ID_STRLEN) != 0) {
		sp_err_set(err, st, "not a sealpost envelope: meta id differs from the header id");
		goto done;
	}
	v = json_object_get(o, "keyd");
	if (v != NULL && (!json_is_string(v) || strcmp(json_string_value(v), f->header.keyd) != 0 ||
	    json_string_length(v) != strlen(f->header.keyd))) {
		sp_err_set(err, st, "not a sealpost envelope: meta keyd differs from the header");
		goto done;
	}
	v = json_object_get(o, "mp");
	if (!json_is_string(v) || sp_b64url_decode_exact(json_string_value(v),
	    json_string_length(v), f->mail_part, SP_KEY_LEN) != SP_OK) {
		sp_err_set(err, st, "not a sealpost envelope: bad mail key part");
		goto done;
	}
	st = SP_OK;
done:
	json_decref(o);
	return st;
}

/* The signature element's content: base64url of 64 bytes, ASCII white
 * space ignored.  c/cn come after the payload element. */
static int
env_read_sig(const unsigned char *c, size_t cn, struct sp_env_file *f, struct sp_err *err)
{
	char txt[ENV_SIG_STRLEN];
	size_t i, n = 0;

	if (cn > ENV_MAX_SIG_TEXT)
		return sp_err_set(err, SP_ERR_INVALID, "not a sealpost envelope: bad signature");
	for (i = 0; i < cn; i++) {
		if (strchr(" \t\r\n\f", c[i]) != NULL && c[i] != '\0')
			continue;
		if (n == sizeof(txt))
			return sp_err_set(err, SP_ERR_INVALID, "not a sealpost envelope: bad signature");
		txt[n++] = (char)c[i];
	}
	if (n != ENV_SIG_STRLEN ||
	    sp_b64url_decode_exact(txt, n, f->sig, sizeof(f->sig)) != SP_OK)
		return sp_err_set(err, SP_ERR_INVALID, "not a sealpost envelope: bad signature");
	f->has_sig = 1;
	return SP_OK;
}

static int
env_read(const unsigned char *html, size_t len, struct sp_env_file *f, struct sp_err *err)
{
	const unsigned char *c;
	size_t cn;
	struct sp_buf tmp;
	int r, st;

	if (html == NULL || len == 0)
		return sp_err_set(err, SP_ERR_INVALID, "not a sealpost envelope: empty input");

	/* Header: base64 of the exact header bytes. */
	if ((r = env_element(html, len, ENV_TAG_HEADER, ENV_END_TEXTAREA, &c, &cn)) == 0)
		return sp_err_set(err, SP_ERR_INVALID, "not a sealpost envelope: no header element");
	if (r < 0)
		return sp_err_set(err, SP_ERR_INVALID, "not a sealpost envelope: header element not closed");
	if (cn > ENV_MAX_HEADER_B64)
		return sp_err_set(err, SP_ERR_INVALID, "not a sealpost envelope: header too large");
	sp_buf_init(&tmp, SP_ENV_MAX_HEADER * 2);
	if ((st = sp_b64_decode(&tmp, (const char *)c, cn)) != SP_OK) {
		sp_buf_free(&tmp);
		return sp_err_set(err, st == SP_ERR_NOMEM ? st : SP_ERR_INVALID,
		    "not a sealpost envelope: bad header base64");
	}
	if (tmp.len == 0 || tmp.len > SP_ENV_MAX_HEADER) {
		sp_buf_free(&tmp);
		return sp_err_set(err, SP_ERR_INVALID, "not a sealpost envelope: header empty or over %d bytes",
		    SP_ENV_MAX_HEADER);
	}
	st = sp_buf_append(&f->header_bytes, tmp.data, tmp.len);
	sp_buf_free(&tmp);
	if (st != SP_OK)
		return sp_err_set(err, st, "not a sealpost envelope: out of memory");
	if ((st = sp_env_header_decode(f->header_bytes.data, f->header_bytes.len, &f->header, err)) != SP_OK)
		return st == SP_ERR_NOMEM ? st : SP_ERR_INVALID;

	/* Meta: the mail key part, for the same envelope id. */
	if ((r = env_element(html, len, ENV_TAG_META, ENV_END_SCRIPT, &c, &cn)) == 0)
		return sp_err_set(err, SP_ERR_INVALID, "not a sealpost envelope: no meta element");
	if (r < 0)
		return sp_err_set(err, SP_ERR_INVALID, "not a sealpost envelope: meta element not closed");
	if ((st = env_read_meta(c, cn, f, err)) != SP_OK)
		return st;

	/* Payload: base64 of the ciphertext stream. */
	if ((r = env_payload(html, len, &c, &cn)) == 0)
		return sp_err_set(err, SP_ERR_INVALID, "not a sealpost envelope: no payload element");
	if (r < 0)
		return sp_err_set(err, SP_ERR_INVALID, "not a sealpost envelope: payload element not closed");
	if (cn > ENV_MAX_PAYLOAD_B64)
		return sp_err_set(err, SP_ERR_INVALID, "not a sealpost envelope: payload over %zu bytes",
		    SP_ENV_MAX_PAYLOAD);
	if ((st = sp_b64_decode(&f->ct, (const char *)c, cn)) != SP_OK)
		return sp_err_set(err, st == SP_ERR_NOMEM ? st : SP_ERR_INVALID,
		    "not a sealpost envelope: bad payload base64");
	if (f->ct.len > SP_ENV_MAX_PAYLOAD)
		return sp_err_set(err, SP_ERR_INVALID, "not a sealpost envelope: payload over %zu bytes",
		    SP_ENV_MAX_PAYLOAD);
	if (f->ct.len < SP_GCM_TAG_LEN)
		return sp_err_set(err, SP_ERR_INVALID, "not a sealpost envelope: payload too short");
	f->ct.cap = SP_ENV_MAX_PAYLOAD;

	/* Signature: format 2 has it right after the payload element, format
	 * 1 has none. */
	c += cn;
	r = env_element(c, len - (size_t)(c - html), ENV_TAG_SIG, ENV_END_TEXTAREA, &c, &cn);
	if (f->header.version == 1) {
		if (r != 0)
			return sp_err_set(err, SP_ERR_INVALID,
			    "not a sealpost envelope: a signature in a format 1 envelope");
		return SP_OK;
	}
	if (r == 0)
		return sp_err_set(err, SP_ERR_INVALID, "not a sealpost envelope: no signature");
	if (r < 0)
		return sp_err_set(err, SP_ERR_INVALID, "not a sealpost envelope: signature element not closed");
	return env_read_sig(c, cn, f, err);
}

/*
 * Reads the envelope file html/len into f (overwritten; the caller releases
 * it with sp_env_file_clear()).  On failure f is left cleared (clearing it
 * again is harmless) and err says what is missing or malformed.
 */
int
sp_env_html_read(const unsigned char *html, size_t len, struct sp_env_file *f,
    struct sp_err *err)
{
	int st;

	memset(f, 0, sizeof(*f));
	sp_buf_init(&f->header_bytes, SP_ENV_MAX_HEADER);
	/* The decoder reserves for the base64 text including line breaks. */
	sp_buf_init(&f->ct, ENV_MAX_PAYLOAD_B64 / 4 * 3 + 8);
	if ((st = env_read(html, len, f, err)) != SP_OK)
		sp_env_file_clear(f);
	return st;
}

void
sp_env_file_clear(struct sp_env_file *f)
{
	if (f == NULL)
		return;
	sp_buf_free(&f->header_bytes);
	sp_buf_free(&f->ct);
	sp_env_header_clear(&f->header);
	sp_wipe(f->mail_part, sizeof(f->mail_part));
	f->has_sig = 0;
	memset(f->sig, 0, sizeof(f->sig));
}

/*
 * envelope_html.c - writes the envelope file securedoc.html from the embedded
 * template web/envelope/securedoc.html (docs/envelope-format.md sections 4
 * and 7.4): the header, the mail key part, the payload, in format 2 the
 * signature, and the organisation's colour and logo.
 *
 * Every placeholder value is escaped for HTML; non-ASCII text becomes
 * numeric character references, so the output is 7-bit ASCII.  Output goes
 * through a guard that tracks the current line: long text values are
 * soft-wrapped at a character boundary, and a line of 998 bytes or more, or
 * a byte above 0x7f, is refused, so the file always travels as 7bit mail.
 * The ciphertext is streamed to the writer in pieces, from the caller's
 * buffer or as the caller's producer makes it (sp_env_html_write_stream).
 * SECURITY: header fields (organisation, addresses, subject) are untrusted
 * text from the sender's message; they are only ever written escaped.  The
 * brand colour is written only when it is exactly #rrggbb, the logo only as
 * base64 of bytes that start like a PNG.  The mail key part is written into
 * the file by design (it travels with the mail); temporary copies of it are
 * wiped.
 */
#include "envelope.h"
#include "html.h"
#include "i18n.h"
#include "assets.h"
#include "sign.h"
#include "jsonwipe.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ENV_LINE_MAX 998	/* every line is shorter than this */
#define ENV_WRAP_AT 900		/* soft-wrap text values past this column */
#define ENV_B64_LINE 76
#define ENV_PAYLOAD_PIECE (57 * 1024)	/* whole 76-char lines per piece */
#define ENV_BRAND_DEFAULT "#1f4e79"	/* header bar without a valid brand colour */
#define ENV_MAX_LOGO (256 * 1024)	/* larger logos are left out */

struct env_out {
	struct sp_writer w;
	unsigned char stage[8192];
	size_t nstage;
	size_t col;		/* bytes on the current line */
	int st;			/* sticky failure */
	struct sp_err *err;
};

static int
out_flush(struct env_out *o)
{
	int st;

	if (o->st == SP_OK && o->nstage > 0) {
		if ((st = o->w.write(o->w.ctx, o->stage, o->nstage)) != SP_OK)
			o->st = sp_err_set(o->err, st, "envelope html: cannot write output");
		o->nstage = 0;
	}
	return o->st;
}

/* Writes n bytes, checking that they are ASCII and keep lines short. */
static int
out_put(struct env_out *o, const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t i;

	if (o->st != SP_OK)
		return o->st;
	for (i = 0; i < n; i++) {
		if (s[i] >= 0x80)
			return o->st = sp_err_set(o->err, SP_ERR_INTERNAL,
			    "envelope html: non-ASCII byte in template or script");
		if (s[i] == '\n')
			o->col = 0;
		else if (++o->col >= ENV_LINE_MAX)
			return o->st = sp_err_set(o->err, SP_ERR_INTERNAL,
			    "envelope html: a line of the template or script is %d bytes or longer",
			    ENV_LINE_MAX);
	}
	if (n > sizeof(o->stage) - o->nstage) {
		if (out_flush(o) != SP_OK)
			return o->st;
		if (n > sizeof(o->stage)) {
			int st = o->w.write(o->w.ctx, p, n);

			if (st != SP_OK)
				o->st = sp_err_set(o->err, st, "envelope html: cannot write output");
			return o->st;
		}
	}
	memcpy(o->stage + o->nstage, p, n);
	o->nstage += n;
	return SP_OK;
}

static int
out_str(struct env_out *o, const char *s)
{
	return out_put(o, s, strlen(s));
}

/* Writes one atomic piece of a value that may be broken across lines (text
 * content, or a URL attribute whose newlines browsers strip). */
static int
out_piece(struct env_out *o, const char *s, size_t n)
{
	if (o->col > 0 && o->col + n > ENV_WRAP_AT && out_put(o, "\n", 1) != SP_OK)
		return o->st;
	return out_put(o, s, n);
}

/* Next code point of UTF-8 text s/n at *i; U+FFFD for each invalid byte
 * (overlong forms, surrogates, values past U+10FFFF, cut sequences). */
static unsigned long
utf8_next(const unsigned char *s, size_t n, size_t *i)
{
	unsigned long c = s[*i], min;
	size_t len, k;

	if (c < 0x80) {
		(*i)++;
		return c;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2; c &= 0x1f; min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3; c &= 0x0f; min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4; c &= 0x07; min = 0x10000;
	} else {
		(*i)++;
		return 0xfffd;
	}
	if (n - *i < len) {
		(*i)++;
		return 0xfffd;
	}
	for (k = 1; k < len; k++) {
		if ((s[*i + k] & 0xc0) != 0x80) {
			(*i)++;
			return 0xfffd;
		}
		c = c << 6 | (s[*i + k] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) {
		(*i)++;
		return 0xfffd;
	}
	*i += len;
	return c;
}

/* HTML text (or a quoted attribute value): escaped, non-ASCII as numeric
 * references, controls as spaces; may be soft-wrapped when wrap is set. */
static int
out_text(struct env_out *o, const char *text, int wrap)
{
	const unsigned char *s = (const unsigned char *)(text != NULL ? text : "");
	size_t n = strlen((const char *)s), i = 0;
	char tmp[16];
	unsigned long c;
	int len;

	while (i < n && o->st == SP_OK) {
		c = utf8_next(s, n, &i);
		if (c < 0x20)
			c = ' ';
		else if (c == 0x7f || (c >= 0x80 && c < 0xa0))
			c = 0xfffd;
		switch (c) {
		case '&': len = snprintf(tmp, sizeof(tmp), "&amp;"); break;
		case '<': len = snprintf(tmp, sizeof(tmp), "&lt;"); break;
		case '>': len = snprintf(tmp, sizeof(tmp), "&gt;"); break;
		case '"': len = snprintf(tmp, sizeof(tmp), "&quot;"); break;
		case '\'': len = snprintf(tmp, sizeof(tmp), "&#39;"); break;
		default:
			if (c < 0x80) {
				tmp[0] = (char)c;
				len = 1;
			} else
				len = snprintf(tmp, sizeof(tmp), "&#%lu;", c);
		}
		if (wrap)
			out_piece(o, tmp, (size_t)len);
		else
			out_put(o, tmp, (size_t)len);
	}
	return o->st;
}

/* A URL query value: percent-encoded (unreserved characters and '@' kept);
 * the result needs no HTML escaping and may be soft-wrapped. */
static int
out_query(struct env_out *o, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char tmp[3];

	for (; *s != '\0' && o->st == SP_OK; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("-._~@", c) != NULL) {
			tmp[0] = (char)c;
			out_piece(o, tmp, 1);
		} else {
			tmp[0] = '%';
			tmp[1] = hex[c >> 4];
			tmp[2] = hex[c & 15];
			out_piece(o, tmp, 3);
		}
	}
	return o->st;
}

/* "Mon, 23 Nov 2026 19:20:00 +0000" (English names, UTC). */
static void
env_date(char *dst, size_t n, int64_t t)
{
	static const char *const wd[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const mo[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
	    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || tm.tm_wday < 0 || tm.tm_wday > 6 ||
	    tm.tm_mon < 0 || tm.tm_mon > 11) {
		snprintf(dst, n, "@%lld", (long long)t);
		return;
	}
	snprintf(dst, n, "%s, %02d %s %04d %02d:%02d:%02d +0000", wd[tm.tm_wday],
	    tm.tm_mday, mo[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* A JSON string value, ASCII, with <>& escaped so it is safe in <script>. */
static int
out_json_str(struct env_out *o, const char *s)
{
	json_t *v;
	char *d;
	size_t i;

	if ((v = json_string(s)) == NULL)
		return o->st = sp_err_set(o->err, SP_ERR_INVALID, "envelope html: text is not UTF-8");
	d = sp_json_dumps(v, JSON_ENCODE_ANY | JSON_ENSURE_ASCII | JSON_COMPACT);
	json_decref(v);
	if (d == NULL)
		return o->st = sp_err_set(o->err, SP_ERR_NOMEM, "envelope html: out of memory");
	for (i = 0; d[i] != '\0' && o->st == SP_OK; i++) {
		if (d[i] == '<')
			out_str(o, "\\u003c");
		else if (d[i] == '>')
			out_str(o, "\\u003e");
		else if (d[i] == '&')
			out_str(o, "\\u0026");
		else
			out_put(o, d + i, 1);
	}
	free(d);
	return o->st;
}

static int out_literal(struct env_out *o, const unsigned char *s, size_t n);

struct env_ctx {
	const struct sp_env_html_params *p;
	const struct sp_env_header *h;
	const char *mp;				/* b64url mail part */
	const struct sp_asset *script;		/* envelope.js, at the end */
	const struct sp_asset *early;		/* early.js, before the payload */
	const unsigned char *ct;
	size_t ctlen;
	sp_env_produce_fn produce;		/* or the ciphertext made while writing */
	void *pctx;
};

/* The texts envelope.js writes (the keys it reads from the meta's "t"). */
static const char *const env_js_keys[] = {
	"env.js.damaged", "env.js.handed", "env.js.popup", "env.js.opening", "env.js.unreachable",
	"env.js.no_answer", "env.js.sender_unknown",
};

static int
out_meta(struct env_out *o, const struct env_ctx *x)
{
	size_t i;

	out_str(o, "{\"v\":1,\"id\":");
	out_json_str(o, x->h->id);
	out_str(o, ",\"keyd\":");
	out_json_str(o, x->h->keyd);
	out_str(o, ",\"mp\":");
	out_json_str(o, x->mp);
	out_str(o, ",\"to\":[\n");
	for (i = 0; i < x->h->nto && o->st == SP_OK; i++) {
		out_json_str(o, x->h->to[i]);
		out_str(o, i + 1 < x->h->nto ? ",\n" : "\n");
	}
	/* the script's sentences in the envelope's language */
	out_str(o, "],\"t\":{");
	for (i = 0; i < sizeof(env_js_keys) / sizeof(env_js_keys[0]) && o->st == SP_OK; i++) {
		out_str(o, i ? ",\n" : "\n");
		out_json_str(o, env_js_keys[i]);
		out_str(o, ":");
		out_json_str(o, sp_i18n_text(x->p->lang, env_js_keys[i]));
	}
	return out_str(o, "}}");
}

static int
out_b64(struct env_out *o, const unsigned char *p, size_t n, size_t line)
{
	struct sp_buf b;
	int st;

	sp_buf_init(&b, n / 3 * 4 + n / 40 + 16);
	if ((st = sp_b64_encode(&b, p, n, line)) != SP_OK)
		o->st = sp_err_set(o->err, st, "envelope html: cannot encode base64");
	else
		out_put(o, b.data, b.len);
	sp_buf_free(&b);
	return o->st;
}

/* Base64 of a ciphertext stream that comes in pieces: whole lines of
 * ENV_B64_LINE characters (57 bytes) as soon as they are complete, the
 * rest at the end, so the text is the same as sp_b64_encode() of the whole
 * stream with that line length. */
struct env_b64w {
	struct env_out *o;
	int direct;		/* the payload starts a line: no per-byte check */
	unsigned char rem[57];
	size_t nrem;
	size_t total;
	struct sp_buf b;
};

static int
b64w_lines(struct env_b64w *w, const unsigned char *p, size_t n)
{
	struct env_out *o = w->o;
	int st;

	sp_buf_reset(&w->b);
	if ((st = sp_b64_encode(&w->b, p, n, ENV_B64_LINE)) != SP_OK)
		return o->st = sp_err_set(o->err, st, "envelope html: cannot encode base64");
	if (!w->direct)
		return out_put(o, w->b.data, w->b.len);
	if ((st = o->w.write(o->w.ctx, w->b.data, w->b.len)) != SP_OK)
		o->st = sp_err_set(o->err, st, "envelope html: cannot write output");
	return o->st;
}

static int
b64w_write(void *ctx, const void *p, size_t n)
{
	struct env_b64w *w = ctx;
	const unsigned char *s = p;
	size_t take;

	if (w->o->st != SP_OK)
		return w->o->st;
	if (n > SP_ENV_MAX_PAYLOAD - w->total)
		return w->o->st = sp_err_set(w->o->err, SP_ERR_TOOBIG,
		    "envelope html: ciphertext over %zu bytes", SP_ENV_MAX_PAYLOAD);
	w->total += n;
	if (w->nrem > 0) {
		take = sizeof(w->rem) - w->nrem < n ? sizeof(w->rem) - w->nrem : n;
		memcpy(w->rem + w->nrem, s, take);
		w->nrem += take;
		s += take;
		n -= take;
		if (w->nrem < sizeof(w->rem))
			return SP_OK;
		w->nrem = 0;
		if (b64w_lines(w, w->rem, sizeof(w->rem)) != SP_OK)
			return w->o->st;
	}
	while (n >= sizeof(w->rem)) {
		take = n < ENV_PAYLOAD_PIECE ? n - n % sizeof(w->rem) : ENV_PAYLOAD_PIECE;
		if (b64w_lines(w, s, take) != SP_OK)
			return w->o->st;
		s += take;
		n -= take;
	}
	memcpy(w->rem, s, n);
	w->nrem = n;
	return SP_OK;
}

/* The payload: base64 in lines of ENV_B64_LINE, each ending in '\n'.
 * sp_b64_encode guarantees that shape (ASCII, short lines, a final line
 * end), so when the payload starts a line the pieces go straight to the
 * writer without out_put's per-byte check, through one reused buffer.  The
 * ciphertext is the caller's buffer or is made now, piece by piece, by the
 * caller's producer. */
static int
out_payload(struct env_out *o, const struct env_ctx *x)
{
	struct env_b64w w;
	int st;

	memset(&w, 0, sizeof(w));
	w.o = o;
	w.direct = o->col == 0;
	if (w.direct && out_flush(o) != SP_OK)
		return o->st;
	sp_buf_init(&w.b, ENV_PAYLOAD_PIECE / 3 * 4 + ENV_PAYLOAD_PIECE / 40 + 16);
	if (x->produce != NULL) {
		if ((st = x->produce(x->pctx, (struct sp_writer){b64w_write, &w})) != SP_OK &&
		    o->st == SP_OK)
			o->st = st;	/* the producer set err */
	} else if (x->ctlen > 0) {
		b64w_write(&w, x->ct, x->ctlen);
	}
	if (o->st == SP_OK && w.nrem > 0)
		b64w_lines(&w, w.rem, w.nrem);
	sp_buf_free(&w.b);
	return o->st;
}

/* The brand colour as "#rrggbb" in lower case, or the default when c is
 * not exactly that form. */
static void
env_colour(const char *c, char out[8])
{
	size_t i;

	if (c != NULL && strlen(c) == 7 && c[0] == '#') {
		for (i = 1; i < 7; i++)
			if (!((c[i] >= '0' && c[i] <= '9') || (c[i] >= 'a' && c[i] <= 'f') ||
			    (c[i] >= 'A' && c[i] <= 'F')))
				break;
		if (i == 7) {
			out[0] = '#';
			for (i = 1; i < 7; i++)
				out[i] = (char)(c[i] >= 'A' && c[i] <= 'F' ? c[i] - 'A' + 'a' : c[i]);
			out[7] = '\0';
			return;
		}
	}
	memcpy(out, ENV_BRAND_DEFAULT, 8);
}

static double
env_channel(const char *hex2)
{
	char t[3] = { hex2[0], hex2[1], '\0' };
	double v = (double)strtol(t, NULL, 16) / 255.0;

	return v <= 0.04045 ? v / 12.92 : pow((v + 0.055) / 1.055, 2.4);
}

/* The text colour on the brand colour c ("#rrggbb"): white or black,
 * whichever contrasts more (WCAG relative luminance). */
static const char *
env_ink(const char *c)
{
	double l = 0.2126 * env_channel(c + 1) + 0.7152 * env_channel(c + 3) +
	    0.0722 * env_channel(c + 5);

	return 1.05 / (l + 0.05) >= (l + 0.05) / 0.05 ? "#ffffff" : "#000000";
}

/* The logo: an <img> whose src is a data: URL with the PNG in base64
 * lines of 76 (URL parsers drop the line breaks), alt the organisation.
 * Nothing when there is no logo, it is not a PNG or it is too large. */
static int
out_logo(struct env_out *o, const struct env_ctx *x)
{
	static const unsigned char png[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
	const struct sp_env_html_params *p = x->p;

	if (p->brand_logo == NULL || p->brand_logo_len <= sizeof(png) ||
	    p->brand_logo_len > ENV_MAX_LOGO || memcmp(p->brand_logo, png, sizeof(png)) != 0)
		return o->st;
	out_str(o, "<img class=\"logo\" id=\"sp-logo\" alt=\"");
	out_text(o, x->h->org, 1);
	out_str(o, "\" src=\"data:image/png;base64,\n");
	out_b64(o, p->brand_logo, p->brand_logo_len, ENV_B64_LINE);
	return out_str(o, "\">");
}

static const char *
env_level_key(const char *level)
{
	if (strcmp(level, "high") == 0)
		return "env.level_high";
	if (strcmp(level, "medium") == 0)
		return "env.level_medium";
	return "env.level_low";
}

/* Format 2: the signature element, right after the payload element. */
static int
out_sig(struct env_out *o, const struct env_ctx *x)
{
	struct sp_buf b;
	int st;

	if (x->h->version != 2)
		return o->st;
	sp_buf_init(&b, 128);
	if ((st = sp_b64url_encode(&b, x->p->sig, SP_SIGN_SIG_LEN)) != SP_OK)
		o->st = sp_err_set(o->err, st, "envelope html: cannot encode the signature");
	out_str(o, "\n<textarea id=\"sp-sig\" name=\"s\" hidden>");
	if (o->st == SP_OK)
		out_put(o, b.data, b.len);
	sp_buf_free(&b);
	return out_str(o, "</textarea>");
}

/* The catalogue text of key in the envelope's language with {org},
 * {keyd} and {id} filled in (escaped and soft-wrapped like the other
 * values), non-ASCII as references; the text itself escaped unless key
 * ends in "_html" (i18n.h). */
static int
out_i18n(struct env_out *o, const struct env_ctx *x, const char *key)
{
	const char *t = sp_i18n_text(x->p->lang, key), *p = t, *q;
	const char *names[] = {"org", "keyd", "id"};
	const char *vals[] = {x->h->org, x->h->keyd, x->h->id};
	size_t kl = strlen(key), i, n;
	int html = kl > 5 && strcmp(key + kl - 5, "_html") == 0;
	struct sp_buf b;

	sp_buf_init(&b, 65536);
	while (*p != '\0' && o->st == SP_OK) {
		for (q = p; *q != '\0'; q++) {
			if (*q != '{')
				continue;
			for (i = 0; i < 3; i++)
				if (strncmp(q + 1, names[i], strlen(names[i])) == 0 &&
				    q[1 + strlen(names[i])] == '}')
					break;
			if (i < 3)
				break;
		}
		sp_buf_reset(&b);
		if (html)
			sp_buf_append(&b, p, (size_t)(q - p));
		else
			sp_html_escape(&b, p, (size_t)(q - p));
		out_literal(o, b.data ? b.data : (const unsigned char *)"", b.len);
		if (*q == '\0')
			break;
		for (i = 0; i < 3; i++)
			if (strncmp(q + 1, names[i], strlen(names[i])) == 0 &&
			    q[1 + strlen(names[i])] == '}')
				break;
		n = strlen(names[i]);
		out_text(o, vals[i], i == 0);	/* only the name may wrap, never a URL */
		p = q + n + 2;
	}
	sp_buf_free(&b);
	return o->st;
}

static int
out_placeholder(struct env_out *o, const struct env_ctx *x, const char *name, size_t len)
{
	const struct sp_env_header *h = x->h;
	unsigned char hash[SP_SHA256_LEN];
	const struct sp_asset *js;
	char date[64], colour[8];
	size_t i;

#define IS(s) (len == sizeof(s) - 1 && memcmp(name, s, len) == 0)
	if (len > 1 && name[0] == '#') {
		char key[64];

		snprintf(key, sizeof(key), "%.*s", (int)(len - 1), name + 1);
		return out_i18n(o, x, key);
	}
	if (IS("LANG"))
		return out_str(o, sp_i18n_lang(x->p->lang));
	if (IS("ORG"))
		return out_text(o, h->org, 1);
	if (IS("FROM"))
		return out_text(o, h->from, 1);
	if (IS("TO")) {
		if (h->nto == 0)
			return out_i18n(o, x, "env.to_none");
		for (i = 0; i < h->nto && o->st == SP_OK; i++) {
			if (i > 0)
				out_str(o, ",\n");
			out_text(o, h->to[i], 1);
		}
		return o->st;
	}
	if (IS("DATE")) {
		if (x->p->date_display != NULL)
			return out_text(o, x->p->date_display, 1);
		env_date(date, sizeof(date), h->created);
		return out_str(o, date);
	}
	if (IS("SUBJECT"))
		return out_text(o, x->p->subject_display, 1);
	if (IS("EXPIRES")) {
		if (h->expires == 0)
			return out_i18n(o, x, "env.never");
		env_date(date, sizeof(date), h->expires);
		return out_str(o, date);
	}
	if (IS("KEYD"))
		return out_text(o, h->keyd, 0);
	if (IS("ID"))
		return out_text(o, h->id, 0);
	if (IS("OPEN_URL")) {
		out_text(o, h->keyd, 0);
		out_str(o, "/open?id=");
		return out_text(o, h->id, 0);
	}
	if (IS("ONLINE_ACTION")) {
		out_text(o, h->keyd, 0);
		out_str(o, "/online#mp=");
		return out_str(o, x->mp);
	}
	if (IS("MAIL_PART"))
		return out_str(o, x->mp);
	if (IS("REGISTER_LINKS")) {
		for (i = 0; i < h->nto && o->st == SP_OK; i++) {
			out_str(o, "<li><a href=\"");
			out_text(o, h->keyd, 0);
			out_str(o, "/register?email=");
			out_query(o, h->to[i]);
			out_str(o, "&amp;id=");
			out_text(o, h->id, 0);
			out_str(o, "\" target=\"_blank\">");
			out_text(o, h->to[i], 1);
			out_str(o, "</a></li>\n");
		}
		if (h->nto == 0) {
			/* every recipient a blind copy: the reader gives the address */
			out_str(o, "<li><a href=\"");
			out_text(o, h->keyd, 0);
			out_str(o, "/register?id=");
			out_text(o, h->id, 0);
			out_str(o, "\" target=\"_blank\">");
			out_i18n(o, x, "env.register_yours");
			out_str(o, "</a></li>\n");
		}
		return o->st;
	}
	if (IS("META_JSON"))
		return out_meta(o, x);
	if (IS("HEADER_B64"))
		return out_b64(o, x->p->header_bytes, x->p->header_len, ENV_B64_LINE);
	if (IS("SCRIPT") || IS("EARLY_SCRIPT")) {
		js = IS("SCRIPT") ? x->script : x->early;
		return out_put(o, js->data, js->len);
	}
	if (IS("SCRIPT_HASH") || IS("EARLY_HASH")) {
		js = IS("SCRIPT_HASH") ? x->script : x->early;
		if (sp_sha256(js->data, js->len, hash) != SP_OK)
			return o->st = sp_err_set(o->err, SP_ERR_INTERNAL, "envelope html: cannot hash");
		return out_b64(o, hash, sizeof(hash), 0);
	}
	if (IS("PAYLOAD"))
		return out_payload(o, x);
	if (IS("SIG"))
		return out_sig(o, x);
	if (IS("BRAND_COLOUR") || IS("BRAND_INK")) {
		env_colour(x->p->brand_colour, colour);
		return out_str(o, IS("BRAND_INK") ? env_ink(colour) : colour);
	}
	if (IS("BRAND_LOGO"))
		return out_logo(o, x);
	if (IS("SIGNED_BY")) {
		if (h->version != 2)
			return o->st;
		out_str(o, "<p class=\"note\" id=\"sp-signed\">");
		out_i18n(o, x, "env.signed_html");
		return out_str(o, "</p>");
	}
	if (IS("SECURITY")) {
		if (h->version != 2)
			return o->st;
		out_str(o, "<p class=\"note\" id=\"sp-level\">");
		out_i18n(o, x, env_level_key(h->level));
		return out_str(o, "</p>");
	}
	if (IS("VERIFY_NOTICE")) {
		if (h->version != 2 || !h->verify)
			return o->st;
		out_str(o, "<p class=\"note\" id=\"sp-verify\">");
		out_i18n(o, x, "env.verify");
		return out_str(o, "</p>");
	}
#undef IS
	return o->st = sp_err_set(o->err, SP_ERR_INTERNAL,
	    "envelope html: unknown placeholder {{%.*s}} in template", (int)len, name);
}

/* Length of the placeholder name at s ("{{NAME}}" with NAME in [A-Z0-9_]),
 * or 0 when s does not start a placeholder. */
static size_t
env_placeholder(const unsigned char *s, size_t n)
{
	size_t i = 2;

	if (n < 5 || s[0] != '{' || s[1] != '{')
		return 0;
	if (s[2] == '#')	/* {{#key}}: a catalogue text (i18n.h) */
		for (i = 3; i < n && i < 64 && ((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '.'); i++)
			;
	else
		for (; i < n && i < 40 && ((s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '_'); i++)
			;
	if (i == 2 || i == 3 || i + 1 >= n || s[i] != '}' || s[i + 1] != '}')
		return 0;
	return i - 2;
}

/* Template text between placeholders: non-ASCII becomes references. */
static int
out_literal(struct env_out *o, const unsigned char *s, size_t n)
{
	size_t i = 0, start;
	char tmp[16];
	int len;

	while (i < n && o->st == SP_OK) {
		start = i;
		while (i < n && s[i] < 0x80)
			i++;
		out_put(o, s + start, i - start);
		if (i < n) {
			len = snprintf(tmp, sizeof(tmp), "&#%lu;", utf8_next(s, n, &i));
			out_put(o, tmp, (size_t)len);
		}
	}
	return o->st;
}

static int
env_check_params(const struct sp_env_html_params *p, struct sp_err *err)
{
	struct sp_env_header dec;
	int st;

	if (p == NULL || p->header == NULL || p->header_bytes == NULL || p->mail_part == NULL)
		return sp_err_set(err, SP_ERR_INVALID, "envelope html: missing parameter");
	/* The header bytes must be a valid header for the same envelope. */
	if ((st = sp_env_header_decode(p->header_bytes, p->header_len, &dec, err)) != SP_OK)
		return st;
	if (strcmp(dec.id, p->header->id) != 0 || dec.version != p->header->version ||
	    strncmp(dec.level, p->header->level, sizeof(dec.level)) != 0 ||
	    dec.verify != p->header->verify)
		st = sp_err_set(err, SP_ERR_INVALID, "envelope html: header bytes and header disagree");
	else if (dec.version == 2 && p->sig == NULL)
		st = sp_err_set(err, SP_ERR_INVALID, "envelope html: a format 2 envelope needs its signature");
	else if (dec.version == 1 && p->sig != NULL)
		st = sp_err_set(err, SP_ERR_INVALID, "envelope html: a format 1 envelope has no signature");
	sp_env_header_clear(&dec);
	return st;
}

/* Writes the file: the ciphertext is ct/ctlen, or made by produce. */
static int
env_write(const struct sp_env_html_params *p, const unsigned char *ct, size_t ctlen,
    sp_env_produce_fn produce, void *pctx, struct sp_writer out, struct sp_err *err)
{
	const struct sp_asset *tpl;
	struct env_out *o;
	struct env_ctx x;
	struct sp_buf mp;
	size_t i, start, nlen, npayload = 0;
	int st;

	if ((st = env_check_params(p, err)) != SP_OK)
		return st;
	if (ct == NULL && ctlen > 0)
		return sp_err_set(err, SP_ERR_INVALID, "envelope html: no ciphertext");
	if (ctlen > SP_ENV_MAX_PAYLOAD)
		return sp_err_set(err, SP_ERR_TOOBIG, "envelope html: ciphertext over %zu bytes",
		    SP_ENV_MAX_PAYLOAD);
	if ((tpl = sp_asset_find("envelope/securedoc.html")) == NULL)
		return sp_err_set(err, SP_ERR_INTERNAL, "envelope html: template is not embedded");
	memset(&x, 0, sizeof(x));
	if ((x.script = sp_asset_find("envelope/envelope.js")) == NULL ||
	    (x.early = sp_asset_find("envelope/early.js")) == NULL)
		return sp_err_set(err, SP_ERR_INTERNAL, "envelope html: script is not embedded");
	if (memmem(x.script->data, x.script->len, "</script", 8) != NULL ||
	    memmem(x.script->data, x.script->len, "</SCRIPT", 8) != NULL ||
	    memmem(x.early->data, x.early->len, "</script", 8) != NULL ||
	    memmem(x.early->data, x.early->len, "</SCRIPT", 8) != NULL)
		return sp_err_set(err, SP_ERR_INTERNAL, "envelope html: script contains </script");
	for (i = 0; i < tpl->len; i++)
		if ((nlen = env_placeholder(tpl->data + i, tpl->len - i)) == 7 &&
		    memcmp(tpl->data + i + 2, "PAYLOAD", 7) == 0)
			npayload++;
	if (npayload != 1)
		return sp_err_set(err, SP_ERR_INTERNAL,
		    "envelope html: template has %zu {{PAYLOAD}} placeholders, not 1", npayload);
	if ((o = calloc(1, sizeof(*o))) == NULL)
		return sp_err_set(err, SP_ERR_NOMEM, "envelope html: out of memory");
	o->w = out;
	o->err = err;
	sp_buf_init(&mp, 64);
	if ((st = sp_b64url_encode(&mp, p->mail_part, SP_KEY_LEN)) != SP_OK) {
		o->st = sp_err_set(err, st, "envelope html: cannot encode the mail part");
		goto done;
	}
	x.p = p;
	x.h = p->header;
	x.mp = (const char *)mp.data;
	x.ct = ct;
	x.ctlen = ctlen;
	x.produce = produce;
	x.pctx = pctx;
	for (i = start = 0; i < tpl->len && o->st == SP_OK; ) {
		if ((nlen = env_placeholder(tpl->data + i, tpl->len - i)) == 0) {
			i++;
			continue;
		}
		out_literal(o, tpl->data + start, i - start);
		out_placeholder(o, &x, (const char *)tpl->data + i + 2, nlen);
		i += nlen + 4;
		start = i;
	}
	out_literal(o, tpl->data + start, tpl->len - start);
	out_flush(o);
done:
	st = o->st;
	sp_wipe(o->stage, sizeof(o->stage));
	free(o);
	sp_buf_wipe(&mp);
	return st;
}

/*
 * Writes securedoc.html for the envelope described by p (all borrowed; the
 * header bytes must decode to a header with p->header's id) with the
 * ciphertext stream ct/ctlen, to out.  Errors: SP_ERR_INVALID (bad
 * parameters), SP_ERR_TOOBIG, SP_ERR_INTERNAL (the embedded template or
 * script breaks the 7-bit / short-line promise or names an unknown
 * placeholder), or the writer's status.  On failure out may hold a partial
 * file, which the caller discards.
 */
int
sp_env_html_write(const struct sp_env_html_params *p, const unsigned char *ct, size_t ctlen,
    struct sp_writer out, struct sp_err *err)
{
	return env_write(p, ct, ctlen, NULL, NULL, out, err);
}

int
sp_env_html_write_stream(const struct sp_env_html_params *p, sp_env_produce_fn produce,
    void *ctx, struct sp_writer out, struct sp_err *err)
{
	if (produce == NULL)
		return sp_err_set(err, SP_ERR_INVALID, "envelope html: no ciphertext");
	return env_write(p, NULL, 0, produce, ctx, out, err);
}

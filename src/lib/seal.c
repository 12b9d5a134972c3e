/*
 * seal.c - seal a whole message into a notification mail, and find the
 * envelope in a file or mail (see seal.h).  Orchestrates message.h,
 * keyd_client.h and envelope.h; builds the notification mail's MIME
 * structure itself (it is our own fixed output, not parsed input), reading
 * the original header fields with GMime.  Sender controls are in
 * seal_controls.c, opening in seal_open.c.
 * SECURITY: holds message plaintext (the container) and key parts; both are
 * wiped before return.  Header values copied from the original are checked
 * to contain no bare CR/LF outside folding.
 */
#include "i18n.h"
#include "seal.h"
#include "field.h"
#include "html.h"
#include "message.h"
#include "message_internal.h"
#include "password.h"
#include "seal_copy.h"
#include "seal_internal.h"

#include <gmime/gmime.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SEAL_NOTICE_MAX 65536

/* Original header fields carried over to the notification mail. */
static const char *const carried[] = {
	"From", "Sender", "Reply-To", "To", "Cc", "Date", "Subject", "Message-ID",
	"In-Reply-To", "References",
};

/* A writer that turns "\n" into "\r\n" when crlf is set; converted text
 * goes out through a staging buffer, in large pieces. */
#define EOL_STAGE 65536

struct eol_writer {
	struct sp_writer out;
	int crlf;
	size_t n;
	unsigned char stage[EOL_STAGE];
};

static int
eol_flush(struct eol_writer *w)
{
	int st = SP_OK;

	if (w->n > 0)
		st = w->out.write(w->out.ctx, w->stage, w->n);
	w->n = 0;
	return st;
}

static int
eol_write(void *ctx, const void *p, size_t n)
{
	struct eol_writer *w = ctx;
	const unsigned char *s = p, *nl;
	size_t k;
	int st;

	if (!w->crlf)
		return w->out.write(w->out.ctx, p, n);
	while (n > 0) {
		if (EOL_STAGE - w->n < 2 && (st = eol_flush(w)) != SP_OK)
			return st;
		k = EOL_STAGE - w->n - 1 < n ? EOL_STAGE - w->n - 1 : n;
		if ((nl = memchr(s, '\n', k)) != NULL)
			k = (size_t)(nl - s);
		memcpy(w->stage + w->n, s, k);
		w->n += k;
		s += k;
		n -= k;
		if (nl != NULL) {
			w->stage[w->n++] = '\r';
			w->stage[w->n++] = '\n';
			s++;
			n--;
		}
	}
	return SP_OK;
}

static int
wstr(struct sp_writer *w, const char *s)
{
	return w->write(w->ctx, s, strlen(s));
}

/* Length of the header block (up to and including the blank line). */
size_t
seal_header_block_len(const unsigned char *raw, size_t len, int *crlf)
{
	size_t i;

	*crlf = 0;
	for (i = 0; i < len; i++) {
		if (raw[i] != '\n')
			continue;
		if (i == 0)
			return 1;
		if (i > 0 && raw[i - 1] == '\r')
			*crlf = 1;
		if (i + 1 < len && raw[i + 1] == '\n')
			return i + 2;
		if (i + 2 < len && raw[i + 1] == '\r' && raw[i + 2] == '\n')
			return i + 3;
	}
	return len;
}

/* Parse just the header block with GMime. */
GMimeObject *
seal_parse_headers(const unsigned char *raw, size_t len)
{
	GMimeStream *stream;
	GMimeParser *parser;
	GMimeMessage *msg;

	stream = g_mime_stream_mem_new_with_buffer((const char *)raw, len);
	parser = g_mime_parser_new_with_stream(stream);
	msg = g_mime_parser_construct_message(parser, NULL);
	g_object_unref(parser);
	g_object_unref(stream);
	return (GMimeObject *)msg;
}

/* A raw header value may be folded but must not smuggle in new fields. */
static int
value_is_safe(const char *v)
{
	const char *p;

	for (p = v; *p != '\0'; p++) {
		if (*p == '\r' && p[1] != '\n')
			return 0;
		if (*p == '\n' && p[1] != ' ' && p[1] != '\t' && p[1] != '\0')
			return 0;
	}
	return 1;
}

/* Write a raw header value with its CRLFs as LFs (the writer restores the
 * message's own line ends). */
static int
write_unfolded_eols(struct sp_writer *w, const char *v, size_t n)
{
	size_t i, start = 0;
	int st;

	for (i = 0; i < n; i++) {
		if (v[i] == '\r' && i + 1 < n && v[i + 1] == '\n') {
			if ((st = w->write(w->ctx, v + start, i - start)) != SP_OK)
				return st;
			start = i + 1;
		}
	}
	return w->write(w->ctx, v + start, n - start);
}

/* The carried fields; a message without From: (a bounce) gets
 * "From: SENDER" with the sender of the deposit. */
static int
write_carried_headers(struct sp_writer *w, GMimeObject *hdrs, const struct sp_seal_params *p,
    const char *sender)
{
	GMimeHeaderList *list = g_mime_object_get_header_list(hdrs);
	const char *subject = p->subject;
	int i, n = g_mime_header_list_get_count(list), st = SP_OK;
	size_t k;

	if (p->notice_from != NULL) {
		/* the key server's own sender; replies go to the message's */
		if ((st = wstr(w, "From: ")) == SP_OK && (st = wstr(w, p->notice_from)) == SP_OK)
			st = wstr(w, "\n");
		if (st == SP_OK && p->notice_reply_to != NULL && (st = wstr(w, "Reply-To: ")) == SP_OK &&
		    (st = wstr(w, p->notice_reply_to)) == SP_OK)
			st = wstr(w, "\n");
	} else if (g_mime_object_get_header(hdrs, "From") == NULL && sender != NULL &&
	    (st = wstr(w, "From: ")) == SP_OK && (st = wstr(w, sender)) == SP_OK)
		st = wstr(w, "\n");

	for (i = 0; i < n && st == SP_OK; i++) {
		GMimeHeader *h = g_mime_header_list_get_header_at(list, i);
		const char *name = g_mime_header_get_name(h);
		const char *raw = g_mime_header_get_raw_value(h);
		size_t vlen;

		for (k = 0; k < sizeof(carried) / sizeof(carried[0]); k++)
			if (g_ascii_strcasecmp(name, carried[k]) == 0)
				break;
		if (k == sizeof(carried) / sizeof(carried[0]) || raw == NULL)
			continue;
		if (subject != NULL && g_ascii_strcasecmp(name, "Subject") == 0)
			continue;
		if (p->notice_from != NULL && (g_ascii_strcasecmp(name, "From") == 0 ||
		    g_ascii_strcasecmp(name, "Sender") == 0 || g_ascii_strcasecmp(name, "Reply-To") == 0))
			continue;
		if (!value_is_safe(raw))
			continue;
		vlen = strlen(raw);
		while (vlen > 0 && (raw[vlen - 1] == '\n' || raw[vlen - 1] == '\r'))
			vlen--;
		if ((st = wstr(w, name)) == SP_OK && (st = wstr(w, ":")) == SP_OK &&
		    (raw[0] == ' ' || raw[0] == '\t' || (st = wstr(w, " ")) == SP_OK) &&
		    (st = write_unfolded_eols(w, raw, vlen)) == SP_OK)
			st = wstr(w, "\n");
	}
	if (st == SP_OK && subject != NULL) {
		char *enc = g_mime_utils_header_encode_text(NULL, subject, "utf-8");

		st = wstr(w, "Subject: ");
		if (st == SP_OK)
			st = wstr(w, enc ? enc : "");
		if (st == SP_OK)
			st = wstr(w, "\n");
		g_free(enc);
	}
	return st;
}

/* The short notice in text and HTML (UTF-8), base64-encoded into w. */
static int
write_notice(struct sp_writer *w, const char *boundary, const char *lang, const char *org,
    const char *from, const char *keyd, const char *link)
{
	const char *sender = from ? from : sp_i18n_text(lang, "seal.sender_unknown");
	struct sp_i18n_var v[] = {
		{"org", org}, {"sender", sender}, {"keyd", keyd}, {"link", link},
	};
	struct sp_buf text, html, enc;
	int st;

	sp_buf_init(&text, SEAL_NOTICE_MAX);
	sp_buf_init(&html, SEAL_NOTICE_MAX);
	sp_buf_init(&enc, SEAL_NOTICE_MAX * 2);
	/* the text part: the catalogue's lines with CRLF */
	{
		struct sp_buf t;
		size_t i;

		sp_buf_init(&t, SEAL_NOTICE_MAX);
		sp_i18n_plain(&t, lang, link ? "seal.notice_link" : "seal.notice", v, 4);
		for (i = 0; i < t.len; i++)
			if (t.data[i] == '\n')
				sp_buf_append_str(&text, "\r\n");
			else
				sp_buf_append(&text, t.data + i, 1);
		sp_buf_free(&t);
	}
	sp_buf_append_str(&html, "<!DOCTYPE html><html><body style=\"font-family:sans-serif\">");
	st = sp_i18n_html(&html, lang, link ? "seal.notice_link_html" : "seal.notice_html", v, 4);
	if (st == SP_OK)
		st = sp_buf_append_str(&html, "</body></html>\r\n");
	if (st != SP_OK)
		goto out;
	sp_buf_printf(&enc,
	    "--%s\n"
	    "Content-Type: text/plain; charset=utf-8\n"
	    "Content-Transfer-Encoding: base64\n\n", boundary);
	sp_b64_encode(&enc, text.data, text.len, 76);
	sp_buf_printf(&enc,
	    "--%s\n"
	    "Content-Type: text/html; charset=utf-8\n"
	    "Content-Transfer-Encoding: base64\n\n", boundary);
	sp_b64_encode(&enc, html.data, html.len, 76);
	st = sp_buf_printf(&enc, "--%s--\n", boundary);
	if (st == SP_OK)
		st = w->write(w->ctx, enc.data, enc.len);
out:
	sp_buf_free(&text);
	sp_buf_free(&html);
	sp_buf_free(&enc);
	return st;
}

/* A header value or address fit for an error message: at most 200 bytes,
 * control characters shown as '?'. */
static void
quoted(const char *v, char out[204])
{
	size_t i;

	for (i = 0; v != NULL && v[i] != '\0' && i < 200; i++)
		out[i] = (unsigned char)v[i] < 0x20 || v[i] == 0x7f ? '?' : v[i];
	if (v != NULL && v[i] != '\0')
		out[i++] = '.', out[i++] = '.', out[i++] = '.';
	out[i] = '\0';
}

/* The deposit's sender: the From: address; when the message has none (a
 * bounce: no From:, "From: <>", or a bare name such as MAILER-DAEMON) the
 * envelope sender p->from.  Written canonical into out.  Every refusal
 * names the field and the value. */
static int
pick_sender(const struct sp_seal_params *p, const struct sp_msg_info *info,
    GMimeObject *hdrs, char out[SP_ADDR_MAX + 1], struct sp_err *err)
{
	enum sp_field_reason why = SP_FIELD_R_OK;
	struct sp_err perr = {""};
	const char *fh = hdrs != NULL ? g_mime_object_get_header(hdrs, "From") : NULL;
	char q[204];

	if (info->from != NULL &&
	    sp_addr_parse(info->from, strlen(info->from), SP_ADDR_FOLD_LOCAL | SP_ADDR_ALLOW_DOTLESS,
	    out, &why, &perr) == SP_OK)
		return SP_OK;
	if (info->from != NULL && why != SP_FIELD_R_ADDR_NO_AT) {
		quoted(info->from, q);
		return sp_err_set(err, SP_ERR_INVALID, "From: '%s' is not an email address: %s",
		    q, perr.msg);
	}
	if (p->from != NULL && p->from[0] != '\0') {
		if (sp_addr_parse(p->from, strlen(p->from), SP_ADDR_FOLD_LOCAL | SP_ADDR_ALLOW_DOTLESS,
		    out, NULL, &perr) == SP_OK)
			return SP_OK;
		quoted(p->from, q);
		return sp_err_set(err, SP_ERR_INVALID,
		    "envelope sender '%s' is not an email address: %s", q, perr.msg);
	}
	if (fh != NULL) {
		quoted(fh, q);
		return sp_err_set(err, SP_ERR_INVALID,
		    "From: '%s' holds no email address and no envelope sender was given "
		    "(seal --from ADDR)", q);
	}
	return sp_err_set(err, SP_ERR_INVALID,
	    "the message has no From: and no envelope sender was given (seal --from ADDR)");
}

/* The deposit's recipients: the envelope recipients when given, else the
 * addresses of To: and Cc:; each must be an address the key server takes. */
static int
check_recipients(const struct sp_seal_params *p, const struct sp_msg_info *info,
    GMimeObject *hdrs, struct sp_err *err)
{
	char out[SP_ADDR_MAX + 1], q[204];
	struct sp_err perr = {""};
	const char *v, *field;
	size_t i;

	if (p->nrcpt > 0) {
		for (i = 0; i < p->nrcpt; i++) {
			v = p->rcpt[i] != NULL ? p->rcpt[i] : "";
			if (sp_addr_parse(v, strlen(v), SP_ADDR_FOLD_LOCAL | SP_ADDR_ALLOW_DOTLESS,
			    out, NULL, &perr) != SP_OK) {
				quoted(v, q);
				return sp_err_set(err, SP_ERR_INVALID,
				    "envelope recipient '%s' is not an email address: %s", q, perr.msg);
			}
		}
		return SP_OK;
	}
	for (i = 0; i < info->nrcpt; i++) {
		if (sp_addr_parse(info->rcpt[i], strlen(info->rcpt[i]),
		    SP_ADDR_FOLD_LOCAL | SP_ADDR_ALLOW_DOTLESS, out, NULL, &perr) != SP_OK) {
			quoted(info->rcpt[i], q);
			return sp_err_set(err, SP_ERR_INVALID, "%s: '%s' is not an email address: %s",
			    info->rcpt_field != NULL ? info->rcpt_field[i] : "To", q, perr.msg);
		}
	}
	if (info->nrcpt > 0)
		return SP_OK;
	field = "To";
	v = hdrs != NULL ? g_mime_object_get_header(hdrs, "To") : NULL;
	if (v == NULL && hdrs != NULL && (v = g_mime_object_get_header(hdrs, "Cc")) != NULL)
		field = "Cc";
	if (v != NULL) {
		size_t n = strlen(v);

		quoted(v, q);
		while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\r' || v[n - 1] == '\n'))
			n--;
		/* a group with no members, "undisclosed-recipients:;" */
		if (n > 0 && v[n - 1] == ';' && memchr(v, ':', n) != NULL)
			return sp_err_set(err, SP_ERR_INVALID, "%s: '%s' names no recipient address: "
			    "give the recipients in the envelope (seal --rcpt ADDR)", field, q);
		return sp_err_set(err, SP_ERR_INVALID, "%s: '%s' is not an email address: "
		    "give the recipients in the envelope (seal --rcpt ADDR)", field, q);
	}
	return sp_err_set(err, SP_ERR_INVALID, "the message has no recipients (no To: or Cc:): "
	    "give them in the envelope (seal --rcpt ADDR)");
}

/* The deposit's recipients rcpt[0..n) that the message's To: and Cc:
 * (info) do not name are blind copies: hidden[i] becomes 1 for each; the
 * others go, in order, into shown (*nshown): the recipients the envelope
 * names.  Addresses compare as parsed, ASCII case folded. */
static void
split_blind(const char *const *rcpt, size_t n, const struct sp_msg_info *info,
    unsigned char *hidden, const char **shown, size_t *nshown)
{
	char bare[SP_ADDR_MAX + 1];
	struct sp_err perr = {""};
	size_t i, j;

	*nshown = 0;
	for (i = 0; i < n; i++) {
		const char *v = rcpt[i] != NULL ? rcpt[i] : "";

		if (sp_addr_parse(v, strlen(v), SP_ADDR_FOLD_LOCAL | SP_ADDR_ALLOW_DOTLESS, bare,
		    NULL, &perr) != SP_OK)
			snprintf(bare, sizeof(bare), "%s", v);
		for (j = 0; j < info->nrcpt; j++)
			if (g_ascii_strcasecmp(info->rcpt[j], bare) == 0)
				break;
		hidden[i] = j == info->nrcpt;
		if (!hidden[i])
			shown[(*nshown)++] = rcpt[i];
	}
}

static int
level_ok(const char *l)
{
	return strcmp(l, "high") == 0 || strcmp(l, "medium") == 0 || strcmp(l, "low") == 0;
}

/* The payload of the envelope, made while the envelope is written: the
 * container goes through the encryptor in 64 KiB chunks, each sealed chunk
 * is hashed (format 2 signs the digest) and handed to the envelope writer,
 * which base64-encodes it into the mail; the signature is made as soon as
 * the last chunk is. */
struct seal_payload {
	const struct msg_container *plan;
	const unsigned char *key, *np, *hdr;
	size_t hdrlen;
	int version;
	const struct sp_signer *signer;
	unsigned char csha[SP_SHA256_LEN];
	unsigned char *sig;		/* SP_SIGN_SIG_LEN bytes, format 2 */
	struct sp_writer ct;
	EVP_MD_CTX *md;
	struct sp_env_enc *enc;
	int wst;			/* the envelope writer's failure */
	struct sp_err *err;
	int spool;			/* the key server's copy: an unlinked file, or -1 */
	uint64_t spooled;
};

static int
payload_ct(void *ctx, const void *p, size_t n)
{
	struct seal_payload *x = ctx;

	if (EVP_DigestUpdate(x->md, p, n) != 1)
		return SP_ERR_INTERNAL;
	/* a copy that cannot be spooled is not uploaded (the seal goes on) */
	if (x->spool >= 0 && seal_copy_spool(x->spool, p, n) != SP_OK) {
		close(x->spool);
		x->spool = -1;
	}
	x->spooled += n;
	return x->wst = x->ct.write(x->ct.ctx, p, n);
}

static int
payload_plain(void *ctx, const void *p, size_t n)
{
	return sp_env_enc_update(((struct seal_payload *)ctx)->enc, p, n);
}

static int
payload_produce(void *ctx, struct sp_writer ct)
{
	struct seal_payload *x = ctx;
	unsigned char hsha[SP_SHA256_LEN];
	unsigned int dl = 0;
	int st;

	x->ct = ct;
	if ((x->md = EVP_MD_CTX_new()) == NULL || EVP_DigestInit_ex(x->md, EVP_sha256(), NULL) != 1)
		return sp_err_set(x->err, SP_ERR_NOMEM, "cannot hash the envelope");
	if ((st = sp_env_enc_new(&x->enc, x->key, x->np, x->hdr, x->hdrlen,
	    (struct sp_writer){payload_ct, x})) != SP_OK ||
	    (st = msg_container_write(x->plan, payload_plain, x)) != SP_OK ||
	    (st = sp_env_enc_final(x->enc)) != SP_OK) {
		if (x->wst != SP_OK)
			return x->wst;	/* the writer said why */
		return sp_err_set(x->err, st, "encryption failed: %s", sp_status_str(st));
	}
	if (EVP_DigestFinal_ex(x->md, x->csha, &dl) != 1 || dl != SP_SHA256_LEN)
		return sp_err_set(x->err, SP_ERR_INTERNAL, "cannot hash the envelope");
	if (x->version >= 2) {
		if ((st = sp_sha256(x->hdr, x->hdrlen, hsha)) != SP_OK)
			return sp_err_set(x->err, st, "cannot hash the envelope");
		if ((st = sp_signer_sign_envelope(x->signer, hsha, x->csha, x->sig, x->err)) != SP_OK)
			return st;
	}
	return SP_OK;
}

/* The key server over HTTP as a depot. */
static int
client_deposit(void *ctx, const struct sp_deposit_req *req, struct sp_deposit_res *res,
    struct sp_err *err)
{
	return sp_keyd_deposit(ctx, req, res, err);
}

static int
client_seal(void *ctx, const char *id, const unsigned char *header, size_t header_len,
    const unsigned char ct_sha[SP_SHA256_LEN], const unsigned char sig[SP_SIGN_SIG_LEN],
    struct sp_err *err)
{
	return sp_keyd_seal(ctx, id, header, header_len, ct_sha, sig, err);
}

static int
client_copy_put(void *ctx, const char *id, const unsigned char *data, int fd, uint64_t len,
    struct sp_err *err)
{
	return sp_keyd_copy_put(ctx, id, data, fd, len, err);
}

void
sp_seal_depot_client(struct sp_seal_depot *d, struct sp_keyd_client *c)
{
	*d = (struct sp_seal_depot){c, client_deposit, client_seal, client_copy_put};
}

int
sp_seal_message(struct sp_keyd_client *c, const struct sp_seal_params *p,
    const unsigned char *raw, size_t len, struct sp_writer out,
    char id_out[SP_ENV_ID_STRLEN + 1], struct sp_err *err)
{
	struct sp_seal_depot d;

	sp_seal_depot_client(&d, c);
	return sp_seal_message_to(&d, p, raw, len, out, id_out, err);
}

int
sp_seal_message_to(const struct sp_seal_depot *d, const struct sp_seal_params *p,
    const unsigned char *raw, size_t len, struct sp_writer out,
    char id_out[SP_ENV_ID_STRLEN + 1], struct sp_err *err)
{
	struct sp_buf hdr, tmp, mail, stripped, link;
	struct msg_container *plan = NULL;
	struct seal_payload pay;
	struct sp_msg_info info = {0};
	struct sp_seal_controls ctl = {0};
	struct sp_deposit_req dreq;
	struct sp_deposit_res dres = {0};
	struct sp_env_header h = {0};
	struct sp_env_html_params hp = {0};
	struct eol_writer *ew = NULL;
	struct sp_writer w;
	unsigned char mail_part[SP_KEY_LEN], key[SP_KEY_LEN], rnd[24], holder[SP_SHA256_LEN];
	unsigned char sig[SP_SIGN_SIG_LEN];
	char boundary[64], alt[64], verify_hash[SP_PW_HASH_LEN], from[SP_ADDR_MAX + 1];
	const unsigned char *body;
	const char **shown = NULL;	/* the recipients the envelope names */
	unsigned char *hidden = NULL;	/* per deposit recipient: 1 a blind copy */
	size_t blen, nshown = 0;
	GMimeObject *hdrs = NULL;
	struct sp_msg *msg = NULL;
	int64_t now = (int64_t)time(NULL);
	size_t pre;
	int st, crlf, version = p->signer != NULL ? 2 : 1;

	id_out[0] = '\0';
	ctl.notify_read = -1;
	memset(&pay, 0, sizeof(pay));
	pay.spool = -1;
	sp_buf_init(&hdr, SP_ENV_MAX_HEADER);
	sp_buf_init(&tmp, SP_ENV_MAX_HEADER);
	sp_buf_init(&mail, SP_ENV_MAX_PAYLOAD);
	sp_buf_init(&stripped, SP_MSG_MAX_SIZE);
	sp_buf_init(&link, 4096);
	/* one parse: the handle the caller bound for these bytes (the milter's,
	 * which the policy read), or a new one */
	if ((msg = sp_msg_bound(raw, len)) == NULL && (st = sp_msg_open(raw, len, &msg, err)) != SP_OK)
		goto out;
	hdrs = msg_handle_gmime(msg) != NULL ? GMIME_OBJECT(msg_handle_gmime(msg)) : NULL;
	if ((st = seal_controls_from(hdrs, now, &ctl, err)) != SP_OK)
		goto out;
	if ((st = seal_strip_controls(raw, len, &stripped, &body, &blen)) != SP_OK) {
		sp_err_set(err, st, "cannot copy the message: %s", sp_status_str(st));
		goto out;
	}
	/* the container is not written out: its blobs are the message's own
	 * bytes in place, decoded base64 bodies and compressed text, and go
	 * through the encryptor into the mail while it is written */
	/* with the envelope's recipients given, To: and Cc: only name people
	 * in the notification: more of them than an envelope takes is fine */
	if ((st = sp_msg_info_read(msg, &info, err)) == SP_ERR_TOOBIG && p->nrcpt > 0)
		st = SP_OK;
	if (st != SP_OK ||
	    (st = msg_container_plan(msg, body, blen, len - blen, &plan, err)) != SP_OK)
		goto out;
	/* one allocation for the mail: its size is known up front */
	if (!p->out_early && sp_buf_reserve(&mail, msg_container_size(plan) / 3 * 4 + msg_container_size(plan) / 50 +
	    len / 8 + 262144) != SP_OK) {
		st = sp_err_set(err, SP_ERR_NOMEM, "out of memory");
		goto out;
	}
	/* the header fields (after a BOM or mbox "From " line), for the
	 * notification: the handle's */
	pre = sp_msg_preamble_len(raw, len);
	seal_header_block_len(raw + pre, len - pre, &crlf);
	if (hdrs == NULL) {
		st = sp_err_set(err, SP_ERR_INVALID, "cannot read the message's header fields");
		goto out;
	}
	if ((st = pick_sender(p, &info, hdrs, from, err)) != SP_OK ||
	    (st = check_recipients(p, &info, hdrs, err)) != SP_OK)
		goto out;
	sp_deposit_req_init(&dreq);
	dreq.from = from;
	dreq.rcpt = p->nrcpt > 0 ? p->rcpt : (const char *const *)info.rcpt;
	dreq.nrcpt = p->nrcpt > 0 ? p->nrcpt : info.nrcpt;
	/* the envelope names only the recipients To: and Cc: name; the key
	 * server alone knows the blind copies */
	if ((hidden = calloc(dreq.nrcpt + 1, 1)) == NULL ||
	    (shown = calloc(dreq.nrcpt + 1, sizeof(*shown))) == NULL) {
		st = sp_err_set(err, SP_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (p->nrcpt > 0)
		split_blind(p->rcpt, p->nrcpt, &info, hidden, shown, &nshown);
	else
		for (nshown = 0; nshown < info.nrcpt; nshown++)
			shown[nshown] = info.rcpt[nshown];
	dreq.hidden = nshown < dreq.nrcpt ? hidden : NULL;
	dreq.expires = ctl.expires != 0 ? ctl.expires : p->expires;
	dreq.format = version;
	dreq.notify_read = ctl.notify_read;
	dreq.level = ctl.level[0] != '\0' ? ctl.level : NULL;
	dreq.verify_hint = ctl.verify_hint;
	if (ctl.verify != NULL) {
		/* only the Argon2id hash of the secret leaves the sealer */
		if ((st = sp_answer_hash(ctl.verify, verify_hash, err)) != SP_OK)
			goto out;
		dreq.verify_hash = verify_hash;
	}
	/* the mail part is the sealer's own: its holder tag goes with the
	 * deposit, so that a page holding the mail can show so later */
	if ((st = sp_random(mail_part, sizeof(mail_part))) != SP_OK ||
	    (st = sp_env_holder_tag(mail_part, holder)) != SP_OK) {
		sp_err_set(err, st, "no randomness");
		goto out;
	}
	dreq.holder = holder;
	if ((st = d->deposit(d->ctx, &dreq, &dres, err)) != SP_OK)
		goto out;

	/* header and key */
	h.version = version;
	memcpy(h.id, dres.id, sizeof(h.id));
	h.keyd = dres.keyd;
	h.org = dres.org;
	h.from = from;
	h.to = (char **)shown;
	h.nto = nshown;
	h.created = dres.created ? dres.created : now;
	h.expires = dres.expires;
	if (version >= 2) {
		if (!level_ok(dres.level)) {
			st = sp_err_set(err, SP_ERR_INTERNAL,
			    "deposit: the key server answered no protection level; is it older than this sealer?");
			goto out;
		}
		sp_signer_kid(p->signer, h.kid);
		snprintf(h.level, sizeof(h.level), "%s", dres.level);
		h.verify = dres.verify;
	}
	if ((st = sp_random(h.nonce_prefix, sizeof(h.nonce_prefix))) != SP_OK ||
	    (st = sp_random(rnd, sizeof(rnd))) != SP_OK) {
		sp_err_set(err, st, "no randomness");
		goto out;
	}
	if ((st = sp_env_header_encode(&h, &hdr, err)) != SP_OK)
		goto out;
	if ((st = sp_env_derive_key_v(version, dres.server_part, mail_part, dres.id, key)) != SP_OK) {
		sp_err_set(err, st, "key derivation failed");
		goto out;
	}
	pay.plan = plan;
	pay.key = key;
	pay.np = h.nonce_prefix;
	pay.hdr = hdr.data;
	pay.hdrlen = hdr.len;
	pay.version = version;
	pay.signer = p->signer;
	pay.sig = sig;
	pay.err = err;
	/* the ciphertext as it is made, for the key server's copy */
	pay.spool = version >= 2 && dres.copy && d->copy_put != NULL ? seal_copy_spool_open() : -1;
	pay.spooled = 0;

	/* the notification mail: into a buffer first, so nothing reaches out
	 * unless the whole mail was built and the key server has it all; or,
	 * for a caller that discards out on failure, straight to out */
	if ((ew = calloc(1, sizeof(*ew))) == NULL) {
		st = sp_err_set(err, SP_ERR_NOMEM, "out of memory");
		goto out;
	}
	ew->out = p->out_early ? out : (struct sp_writer){sp_writer_buf, &mail};
	ew->crlf = crlf;
	w = (struct sp_writer){eol_write, ew};
	snprintf(boundary, sizeof(boundary), "=_sealpost_%02x%02x%02x%02x%02x%02x%02x%02x",
	    rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
	snprintf(alt, sizeof(alt), "=_sealpost_alt_%02x%02x%02x%02x%02x%02x%02x%02x",
	    rnd[8], rnd[9], rnd[10], rnd[11], rnd[12], rnd[13], rnd[14], rnd[15]);
	if ((st = write_carried_headers(&w, hdrs, p, from)) != SP_OK)
		goto wfail;
	sp_buf_printf(&tmp, "MIME-Version: 1.0\nX-Sealpost-Envelope: %s\n"
	    "Content-Type: multipart/mixed; boundary=\"%s\"\n\n"
	    "This is a secure message. Open the attachment securedoc.html in a web browser.\n"
	    "--%s\nContent-Type: multipart/alternative; boundary=\"%s\"\n\n",
	    dres.id, boundary, boundary, alt);
	if ((st = w.write(w.ctx, tmp.data, tmp.len)) != SP_OK ||
	    (version >= 2 && dres.copy && (st = seal_copy_link(&dres, mail_part, sizeof(mail_part),
	    shown, nshown, &link)) != SP_OK) ||
	    (st = write_notice(&w, alt, sp_i18n_lang(dres.language), dres.org, from, dres.keyd,
	    link.len ? (const char *)link.data : NULL)) != SP_OK)
		goto wfail;
	sp_buf_reset(&tmp);
	sp_buf_printf(&tmp, "--%s\nContent-Type: text/html; charset=us-ascii; name=\"securedoc.html\"\n"
	    "Content-Disposition: attachment; filename=\"securedoc.html\"\n"
	    "Content-Transfer-Encoding: 7bit\n\n", boundary);
	if ((st = w.write(w.ctx, tmp.data, tmp.len)) != SP_OK)
		goto wfail;
	hp.header = &h;
	hp.header_bytes = hdr.data;
	hp.header_len = hdr.len;
	hp.mail_part = mail_part;
	hp.date_display = info.date;
	hp.subject_display = p->subject ? p->subject : info.subject;
	hp.sig = version >= 2 ? sig : NULL;
	hp.brand_colour = dres.brand_colour;
	hp.lang = sp_i18n_lang(dres.language);
	hp.brand_logo = dres.brand_logo;
	hp.brand_logo_len = dres.brand_logo_len;
	if ((st = sp_env_html_write_stream(&hp, payload_produce, &pay, w, err)) != SP_OK)
		goto out;
	msg_container_free(plan);	/* wiped: the plaintext is needed no more */
	plan = NULL;
	sp_buf_reset(&tmp);
	sp_buf_printf(&tmp, "\n--%s--\n", boundary);
	if ((st = w.write(w.ctx, tmp.data, tmp.len)) != SP_OK || (st = eol_flush(ew)) != SP_OK)
		goto wfail;
	/* format 2: the key server records the digests and the signature;
	 * until it has, no reader would accept the envelope */
	if (version >= 2 &&
	    (st = d->seal(d->ctx, dres.id, hdr.data, hdr.len, pay.csha, sig, err)) != SP_OK)
		goto out;
	if (pay.spool >= 0)
		seal_copy_upload(d, p, &dres, pay.spool, pay.spooled);
	if (!p->out_early && (st = out.write(out.ctx, mail.data, mail.len)) != SP_OK) {
		sp_err_set(err, st, "cannot write the sealed mail");
		goto out;
	}
	memcpy(id_out, dres.id, SP_ENV_ID_STRLEN + 1);
	st = SP_OK;
	goto out;
wfail:
	sp_err_set(err, st, "cannot build the sealed mail: %s", sp_status_str(st));
out:
	free(shown);
	free(hidden);
	sp_msg_free(msg);
	sp_env_enc_free(pay.enc);
	EVP_MD_CTX_free(pay.md);
	free(ew);
	msg_container_free(plan);
	sp_wipe(mail_part, sizeof(mail_part));
	sp_wipe(key, sizeof(key));
	sp_wipe(verify_hash, sizeof(verify_hash));
	sp_buf_wipe(&stripped);
	sp_buf_wipe(&link);
	if (pay.spool >= 0)
		close(pay.spool);
	sp_buf_free(&hdr);
	sp_buf_free(&tmp);
	sp_buf_free(&mail);
	sp_deposit_res_clear(&dres);
	sp_msg_info_clear(&info);
	sp_seal_controls_clear(&ctl);
	return st;
}

/* Find the securedoc.html attachment of a notification mail. */
static int
find_envelope_part(GMimeObject *obj, struct sp_buf *out, int depth)
{
	if (depth > SP_MSG_MAX_DEPTH || obj == NULL)
		return SP_ERR_NOTFOUND;
	if (GMIME_IS_MULTIPART(obj)) {
		GMimeMultipart *mp = (GMimeMultipart *)obj;
		int i, n = g_mime_multipart_get_count(mp);

		for (i = 0; i < n; i++)
			if (find_envelope_part(g_mime_multipart_get_part(mp, i), out, depth + 1) == SP_OK)
				return SP_OK;
		return SP_ERR_NOTFOUND;
	}
	if (GMIME_IS_PART(obj)) {
		const char *name = g_mime_part_get_filename((GMimePart *)obj);
		GMimeDataWrapper *dw = g_mime_part_get_content((GMimePart *)obj);
		GMimeStream *mem;
		GByteArray *arr;
		int st;

		if (name == NULL || g_ascii_strcasecmp(name, "securedoc.html") != 0 || dw == NULL)
			return SP_ERR_NOTFOUND;
		mem = g_mime_stream_mem_new();
		g_mime_data_wrapper_write_to_stream(dw, mem);
		arr = g_mime_stream_mem_get_byte_array((GMimeStreamMem *)mem);
		st = sp_buf_append(out, arr->data, arr->len);
		g_object_unref(mem);
		return st;
	}
	return SP_ERR_NOTFOUND;
}

int
sp_envelope_extract_html(const unsigned char *in, size_t len, struct sp_buf *html,
    struct sp_err *err)
{
	GMimeStream *stream;
	GMimeParser *parser;
	GMimeMessage *msg;
	int st;

	if (sp_msg_check(in, len, err) != SP_OK)
		return sp_err_set(err, SP_ERR_INVALID,
		    "neither a sealpost envelope nor a mail carrying one");
	stream = g_mime_stream_mem_new_with_buffer((const char *)in, len);
	parser = g_mime_parser_new_with_stream(stream);
	msg = g_mime_parser_construct_message(parser, NULL);
	g_object_unref(parser);
	g_object_unref(stream);
	if (msg == NULL)
		return sp_err_set(err, SP_ERR_INVALID, "cannot parse the mail");
	st = find_envelope_part(g_mime_message_get_mime_part(msg), html, 0);
	g_object_unref(msg);
	if (st != SP_OK)
		return sp_err_set(err, SP_ERR_INVALID, "the mail carries no securedoc.html envelope");
	return SP_OK;
}

int
sp_envelope_from_input(const unsigned char *in, size_t len, struct sp_env_file *f,
    struct sp_err *err)
{
	struct sp_buf html;
	int st;

	memset(f, 0, sizeof(*f));
	if (len == 0)
		return sp_err_set(err, SP_ERR_INVALID, "empty input: not an envelope");
	/* an envelope file itself? */
	if (memmem(in, len < 65536 ? len : 65536, "id=\"sp-meta\"", 12) != NULL ||
	    memmem(in, len < 4096 ? len : 4096, "<!DOCTYPE", 9) != NULL ||
	    memmem(in, len < 4096 ? len : 4096, "<html", 5) != NULL)
		return sp_env_html_read(in, len, f, err);
	sp_buf_init(&html, SP_ENV_MAX_PAYLOAD * 2);
	if ((st = sp_envelope_extract_html(in, len, &html, err)) == SP_OK)
		st = sp_env_html_read(html.data, html.len, f, err);
	sp_buf_free(&html);
	return st;
}


/*
 * policy_msg.c - the scanner's view of a message, read from the message
 * handle (message.h) that the sealer reads too, so a message is parsed
 * once: its subject, addresses and header fields for the policy, and a
 * walk of every text part and text-like attachment, decoding base64 and
 * quoted-printable and reducing HTML and office XML to text
 * (policy_text.c), within byte, part and depth budgets.
 * SECURITY: walks untrusted MIME.  Parsing is GMime's (once, in the
 * handle, with its nesting guard); this file only reads decoded streams in
 * bounded chunks, caps what it keeps, and notes what it skipped instead of
 * failing.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "message_internal.h"
#include "policy_internal.h"

struct pol_msg {
	struct sp_msg *h;	/* one reference to the handle */
	GMimeMessage *msg;	/* borrowed from h */
	char *from;
	char **rcpt;
	size_t nrcpt;
};

/* --- addresses ----------------------------------------------------------- */

static int
addr_add(struct pol_msg *m, const char *a, int is_from)
{
	char *c, **nv;
	size_t i;

	if (a == NULL || *a == '\0')
		return SP_OK;
	if (is_from) {
		if (m->from != NULL)
			return SP_OK;
		if ((m->from = strdup(a)) == NULL)
			return SP_ERR_NOMEM;
		for (c = m->from; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		return SP_OK;
	}
	if (m->nrcpt >= SP_MSG_MAX_RECIPIENTS)
		return SP_OK;
	for (i = 0; i < m->nrcpt; i++)
		if (strcasecmp(m->rcpt[i], a) == 0)
			return SP_OK;
	if ((nv = realloc(m->rcpt, (m->nrcpt + 1) * sizeof(*nv))) == NULL)
		return SP_ERR_NOMEM;
	m->rcpt = nv;
	if ((c = strdup(a)) == NULL)
		return SP_ERR_NOMEM;
	m->rcpt[m->nrcpt++] = c;
	for (; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	return SP_OK;
}

static int
addr_list(struct pol_msg *m, InternetAddressList *l, int is_from, int depth)
{
	int i, n, st;

	if (l == NULL || depth > 4)
		return SP_OK;
	n = internet_address_list_length(l);
	for (i = 0; i < n; i++) {
		InternetAddress *ia = internet_address_list_get_address(l, i);

		if (INTERNET_ADDRESS_IS_MAILBOX(ia))
			st = addr_add(m, internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia)), is_from);
		else if (INTERNET_ADDRESS_IS_GROUP(ia))
			st = addr_list(m, internet_address_group_get_members(INTERNET_ADDRESS_GROUP(ia)),
			    is_from, depth + 1);
		else
			st = SP_OK;
		if (st != SP_OK)
			return st;
	}
	return SP_OK;
}

int
pol_msg_open(const unsigned char *raw, size_t len, struct pol_msg **out, struct sp_err *err)
{
	struct pol_msg *m;
	struct sp_msg *h;
	int st;

	*out = NULL;
	/* the handle the caller bound for these bytes, or a new one; either
	 * way the same test as sealing: what cannot be sealed is not decided */
	if ((h = sp_msg_bound(raw, len)) == NULL && (st = sp_msg_open(raw, len, &h, err)) != SP_OK)
		return st;
	if ((m = calloc(1, sizeof(*m))) == NULL) {
		sp_msg_free(h);
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	}
	m->h = h;
	if ((m->msg = msg_handle_gmime(h)) == NULL) {
		pol_msg_free(m);
		return sp_err_set(err, SP_ERR_INVALID, "cannot parse as a mail message");
	}
	if ((st = addr_list(m, g_mime_message_get_from(m->msg), 1, 0)) != SP_OK ||
	    (st = addr_list(m, g_mime_message_get_addresses(m->msg, GMIME_ADDRESS_TYPE_TO), 0, 0)) != SP_OK ||
	    (st = addr_list(m, g_mime_message_get_addresses(m->msg, GMIME_ADDRESS_TYPE_CC), 0, 0)) != SP_OK) {
		pol_msg_free(m);
		return sp_err_set(err, st, "out of memory");
	}
	*out = m;
	return SP_OK;
}

void
pol_msg_free(struct pol_msg *m)
{
	size_t i;

	if (m == NULL)
		return;
	sp_msg_free(m->h);
	for (i = 0; i < m->nrcpt; i++)
		free(m->rcpt[i]);
	free(m->rcpt);
	free(m->from);
	free(m);
}

const char *
pol_msg_subject(const struct pol_msg *m)
{
	return g_mime_message_get_subject(m->msg);
}

const char *
pol_msg_from(const struct pol_msg *m)
{
	return m->from;
}

const char *const *
pol_msg_rcpt(const struct pol_msg *m, size_t *n)
{
	*n = m->nrcpt;
	return (const char *const *)m->rcpt;
}

const char *
pol_msg_header(const struct pol_msg *m, const char *name)
{
	return g_mime_object_get_header(GMIME_OBJECT(m->msg), name);
}

/* --- the walk ------------------------------------------------------------ */

struct walk {
	struct sp_policy_result *r;
	pol_segment_fn fn;
	void *ctx;
	size_t max_bytes, used;
	size_t max_parts, parts;
	int stopped;
	int st;
};

static const char *const text_ext[] = {
	".txt", ".csv", ".tsv", ".json", ".xml", ".html", ".htm", ".md", ".log", ".rtf",
	".ics", ".vcf", ".yaml", ".yml", ".ini", ".eml", ".ical", ".ifb", ".vcard",
};

static const char *const text_app[] = {
	"json", "xml", "csv", "x-csv", "rtf", "x-yaml", "yaml", "ics", "x-ndjson",
	"vcard", "x-vcard", "calendar", "x-ical", "vnd.ms-excel.csv",
};

/* zipped XML documents whose text is read */
static const char *const office_ext[] = { ".docx", ".docm", ".xlsx", ".xlsm", ".odt", ".ods" };

static const char *const office_app[] = {
	"vnd.openxmlformats-officedocument.wordprocessingml.document",
	"vnd.openxmlformats-officedocument.spreadsheetml.sheet",
	"vnd.oasis.opendocument.text", "vnd.oasis.opendocument.spreadsheet",
};

/* iCalendar and vCard fold long lines (RFC 5545 3.1, RFC 6350 3.2): a line
 * break followed by one space or tab is removed, in place. */
static size_t
unfold(unsigned char *d, size_t n)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		if (d[i] == '\r' && i + 2 < n && d[i + 1] == '\n' && (d[i + 2] == ' ' || d[i + 2] == '\t')) {
			i += 2;
			continue;
		}
		if (d[i] == '\n' && i + 1 < n && (d[i + 1] == ' ' || d[i + 1] == '\t')) {
			i += 1;
			continue;
		}
		d[o++] = d[i];
	}
	return o;
}

static int
ends_with_ci(const char *s, const char *suf)
{
	size_t n = strlen(s), k = strlen(suf);

	return n >= k && strcasecmp(s + n - k, suf) == 0;
}

static void
safe_label(char *out, size_t outsz, size_t idx, const char *type, const char *name)
{
	char nm[40];
	size_t i, o = 0;

	if (name != NULL) {
		for (i = 0; name[i] != '\0' && o + 1 < sizeof(nm); i++)
			nm[o++] = (unsigned char)name[i] >= 0x20 && (unsigned char)name[i] < 0x7f ? name[i] : '?';
	}
	nm[o] = '\0';
	if (o > 0)
		snprintf(out, outsz, "part %zu %s %s", idx, type, nm);
	else
		snprintf(out, outsz, "part %zu %s", idx, type);
}

static int
segment(struct walk *w, const char *label, const char *text, size_t len)
{
	int st = w->fn(w->ctx, label, text, len);

	if (st != SP_OK)
		w->st = st;
	return st;
}

static void
walk_part(struct walk *w, GMimePart *part, size_t idx)
{
	GMimeContentType *ct = g_mime_object_get_content_type(GMIME_OBJECT(part));
	const char *type = ct ? g_mime_content_type_get_media_type(ct) : NULL;
	const char *sub = ct ? g_mime_content_type_get_media_subtype(ct) : NULL;
	const char *fname = g_mime_part_get_filename(part);
	GMimeDataWrapper *dw;
	GMimeStream *src, *fs;
	GMimeContentEncoding enc;
	struct sp_buf raw, html;
	char label[160], mt[48], chunk[65536];
	int text = 0, is_html = 0, office = 0, folded = 0, st = SP_OK;
	size_t i, room;
	ssize_t got;

	snprintf(mt, sizeof(mt), "%s/%s", type ? type : "text", sub ? sub : "plain");
	for (i = 0; mt[i] != '\0'; i++)
		mt[i] = (unsigned char)mt[i] >= 0x20 && (unsigned char)mt[i] < 0x7f ?
		    (char)tolower((unsigned char)mt[i]) : '?';
	if (type == NULL || strcasecmp(type, "text") == 0 || GMIME_IS_TEXT_PART(part))
		text = 1;
	else if (strcasecmp(type, "application") == 0 && sub != NULL)
		for (i = 0; i < sizeof(text_app) / sizeof(text_app[0]); i++)
			if (strcasecmp(sub, text_app[i]) == 0)
				text = 1;
	if (fname != NULL)
		for (i = 0; i < sizeof(text_ext) / sizeof(text_ext[0]); i++)
			if (ends_with_ci(fname, text_ext[i]))
				text = 1;
	if (type != NULL && strcasecmp(type, "application") == 0 && sub != NULL)
		for (i = 0; i < sizeof(office_app) / sizeof(office_app[0]); i++)
			if (strcasecmp(sub, office_app[i]) == 0)
				office = 1;
	if (fname != NULL)
		for (i = 0; i < sizeof(office_ext) / sizeof(office_ext[0]); i++)
			if (ends_with_ci(fname, office_ext[i]))
				office = 1;
	if (office)
		text = 1;
	if (!text)
		return;
	folded = (sub != NULL && (strcasecmp(sub, "calendar") == 0 || strcasecmp(sub, "vcard") == 0 ||
	    strcasecmp(sub, "x-vcard") == 0 || strcasecmp(sub, "directory") == 0)) ||
	    (fname != NULL && (ends_with_ci(fname, ".ics") || ends_with_ci(fname, ".vcf") ||
	    ends_with_ci(fname, ".ical") || ends_with_ci(fname, ".vcard")));
	is_html = (sub != NULL && strcasecmp(sub, "html") == 0) ||
	    (fname != NULL && (ends_with_ci(fname, ".html") || ends_with_ci(fname, ".htm")));
	safe_label(label, sizeof(label), idx, mt, fname);
	if (w->used >= w->max_bytes) {
		pol_result_note(w->r, "%s: not scanned, text budget of %zu bytes used up", label, w->max_bytes);
		return;
	}
	if ((dw = g_mime_part_get_content(part)) == NULL || (src = g_mime_data_wrapper_get_stream(dw)) == NULL)
		return;
	enc = g_mime_data_wrapper_get_encoding(dw);
	g_mime_stream_reset(src);
	fs = g_mime_stream_filter_new(src);
	if (enc == GMIME_CONTENT_ENCODING_BASE64 || enc == GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE ||
	    enc == GMIME_CONTENT_ENCODING_UUENCODE) {
		GMimeFilter *f = g_mime_filter_basic_new(enc, FALSE);

		g_mime_stream_filter_add(GMIME_STREAM_FILTER(fs), f);
		g_object_unref(f);
	}
	room = w->max_bytes - w->used;
	sp_buf_init(&raw, room);
	while ((got = g_mime_stream_read(fs, chunk, sizeof(chunk))) > 0) {
		size_t take = (size_t)got;

		if (take > room - raw.len)
			take = room - raw.len;
		if ((st = sp_buf_append(&raw, chunk, take)) != SP_OK)
			break;
		if (take < (size_t)got) {
			pol_result_note(w->r, "%s: only the first %zu bytes scanned (text budget)", label, raw.len);
			break;
		}
	}
	g_object_unref(fs);
	if (st != SP_OK) {
		pol_result_note(w->r, "%s: not scanned (%s)", label, sp_status_str(st));
		sp_buf_free(&raw);
		return;
	}
	if (office) {
		struct sp_buf txt;
		char why[96];

		sp_buf_init(&txt, room);
		st = pol_zip_text(raw.data, raw.len, room, &txt, why, sizeof(why));
		sp_buf_free(&raw);
		if (st != SP_OK) {
			pol_result_note(w->r, "%s: document text not read (%s)", label,
			    st == SP_ERR_INVALID ? why : sp_status_str(st));
		} else {
			w->used += txt.len;
			if (txt.len > 0)
				segment(w, label, (const char *)txt.data, txt.len);
		}
		sp_buf_free(&txt);
		return;
	}
	if (raw.len > 0 && memchr(raw.data, '\0', raw.len < 8192 ? raw.len : 8192) != NULL) {
		pol_result_note(w->r, "%s: binary content, not scanned", label);
		sp_buf_free(&raw);
		return;
	}
	w->used += raw.len;
	if (folded && raw.len > 0)
		raw.len = unfold(raw.data, raw.len);
	if (is_html && raw.len > 0) {
		sp_buf_init(&html, raw.len + 1);
		st = pol_html_to_text((const char *)raw.data, raw.len, &html);
		if (st == SP_OK)
			segment(w, label, html.data ? (const char *)html.data : "", html.len);
		sp_buf_free(&html);
	} else if (raw.len > 0) {
		segment(w, label, (const char *)raw.data, raw.len);
	}
	sp_buf_free(&raw);
}

static void
walk_loose(struct walk *w, size_t idx, const char *what, const char *text)
{
	char label[64];
	size_t n;

	if (text == NULL || w->stopped || w->st != SP_OK || (n = strlen(text)) == 0)
		return;
	if (n > w->max_bytes - w->used) {
		pol_result_note(w->r, "part %zu %s: not scanned, text budget used up", idx, what);
		return;
	}
	w->used += n;
	snprintf(label, sizeof(label), "part %zu %s", idx, what);
	segment(w, label, text, n);
}

static void
walk_obj(struct walk *w, GMimeObject *obj, int depth)
{
	if (obj == NULL || w->stopped || w->st != SP_OK)
		return;
	if (++w->parts > w->max_parts) {
		w->stopped = 1;
		pol_result_note(w->r, "stopped after %zu MIME parts (limit)", w->max_parts);
		return;
	}
	if (depth > SP_POLICY_SCAN_DEPTH) {
		w->stopped = 1;
		pol_result_note(w->r, "MIME nesting deeper than %d, inner parts not scanned", SP_POLICY_SCAN_DEPTH);
		return;
	}
	if (GMIME_IS_MULTIPART(obj)) {
		int i, n = g_mime_multipart_get_count(GMIME_MULTIPART(obj));
		size_t idx = w->parts;

		/* text outside the parts: what a reader sees of a multipart whose
		 * boundary is missing or broken */
		walk_loose(w, idx, "prologue", g_mime_multipart_get_prologue(GMIME_MULTIPART(obj)));
		for (i = 0; i < n && !w->stopped && w->st == SP_OK; i++)
			walk_obj(w, g_mime_multipart_get_part(GMIME_MULTIPART(obj), i), depth + 1);
		walk_loose(w, idx, "epilogue", g_mime_multipart_get_epilogue(GMIME_MULTIPART(obj)));
	} else if (GMIME_IS_MESSAGE_PART(obj)) {
		GMimeMessage *inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));

		if (inner != NULL) {
			const char *subj = g_mime_message_get_subject(inner);
			char label[96];

			if (subj != NULL && *subj != '\0') {
				snprintf(label, sizeof(label), "part %zu subject", w->parts);
				segment(w, label, subj, strlen(subj));
			}
			walk_obj(w, g_mime_message_get_mime_part(inner), depth + 1);
		}
	} else if (GMIME_IS_PART(obj)) {
		walk_part(w, GMIME_PART(obj), w->parts);
	}
}

/* A message whose structure the handle did not parse (more nesting
 * markers than GMime should recurse into): what a reader sees is its body
 * as text, so that is scanned, within the budget. */
static void
walk_unparsed(struct walk *w, const struct sp_msg *h)
{
	const unsigned char *raw;
	size_t len, body, n;

	raw = msg_handle_bytes(h, &len);
	body = msg_handle_body(h);
	n = len - body;
	pol_result_note(w->r, "more than %d MIME parts or nesting markers: the body is scanned as "
	    "plain text", SP_MSG_MAX_PARTS);
	if (n > w->max_bytes - w->used) {
		n = w->max_bytes - w->used;
		pol_result_note(w->r, "body: only the first %zu bytes scanned (text budget)", n);
	}
	w->used += n;
	if (n > 0)
		segment(w, "part 1 body", (const char *)raw + body, n);
}

int
pol_msg_walk(struct pol_msg *m, size_t max_bytes, size_t max_parts,
    pol_segment_fn fn, void *ctx, struct sp_policy_result *r)
{
	struct walk w;

	memset(&w, 0, sizeof(w));
	w.r = r;
	w.fn = fn;
	w.ctx = ctx;
	w.max_bytes = max_bytes;
	w.max_parts = max_parts;
	if (msg_handle_headers_only(m->h))
		walk_unparsed(&w, m->h);
	else
		walk_obj(&w, g_mime_message_get_mime_part(m->msg), 0);
	return w.st;
}

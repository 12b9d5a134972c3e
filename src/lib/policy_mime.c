/*
 * policy_mime.c - the scanner's view of a message: parses it with GMime,
 * gives the policy its subject, addresses and header fields, and walks every
 * text part and text-like attachment, decoding base64 and quoted-printable
 * and reducing HTML to text, within byte, part and depth budgets.
 * SECURITY: walks untrusted MIME.  Parsing is GMime's; this file only reads
 * decoded streams in bounded chunks, caps what it keeps, and notes what it
 * skipped instead of failing.  The HTML reducer is a bounded byte loop.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gmime/gmime.h>

#include "message.h"
#include "policy_internal.h"

struct pol_msg {
	GMimeMessage *msg;
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
	GMimeStream *stream;
	GMimeParser *parser;
	int st;

	*out = NULL;
	/* the same test as sealing: what cannot be sealed is not decided */
	if ((st = sp_msg_check(raw, len, err)) != SP_OK)
		return st;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	stream = g_mime_stream_mem_new_with_buffer((const char *)raw, len);
	parser = g_mime_parser_new_with_stream(stream);
	g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
	m->msg = g_mime_parser_construct_message(parser, NULL);
	g_object_unref(parser);
	g_object_unref(stream);
	if (m->msg == NULL) {
		free(m);
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
	if (m->msg != NULL)
		g_object_unref(m->msg);
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

/* --- HTML to text -------------------------------------------------------- */

static int
put_space(struct sp_buf *out)
{
	if (out->len == 0 || out->data[out->len - 1] == ' ')
		return SP_OK;
	return sp_buf_append(out, " ", 1);
}

static int
put_utf8(struct sp_buf *out, unsigned long cp)
{
	unsigned char u[4];
	size_t n;

	if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		cp = 0xfffd;
	if (cp == 0xa0)
		return put_space(out);
	if (cp < 0x80) {
		u[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (unsigned char)(0xc0 | (cp >> 6));
		u[1] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (unsigned char)(0xe0 | (cp >> 12));
		u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (unsigned char)(0xf0 | (cp >> 18));
		u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return sp_buf_append(out, u, n);
}

static int
ci_prefix(const char *s, size_t n, const char *p)
{
	size_t i;

	for (i = 0; p[i] != '\0'; i++)
		if (i >= n || tolower((unsigned char)s[i]) != p[i])
			return 0;
	return 1;
}

/* Index of the first case-insensitive occurrence of p in s[from, n), or n. */
static size_t
ci_find(const char *s, size_t n, size_t from, const char *p)
{
	size_t i;

	for (i = from; i < n; i++)
		if (ci_prefix(s + i, n - i, p))
			return i;
	return n;
}

static const struct {
	const char *name;
	unsigned long cp;
} entities[] = {
	{"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''},
	{"nbsp", 0xa0}, {"ndash", 0x2013}, {"mdash", 0x2014}, {"hellip", 0x2026},
	{"rsquo", 0x2019}, {"lsquo", 0x2018}, {"rdquo", 0x201d}, {"ldquo", 0x201c},
	{"copy", 0xa9}, {"reg", 0xae}, {"eacute", 0xe9}, {"shy", 0xad}, {"zwsp", 0x200b},
	{"zwj", 0x200d}, {"zwnj", 0x200c}, {"ensp", 0x2002}, {"emsp", 0x2003},
	{"thinsp", 0x2009}, {"hyphen", 0x2010}, {"dash", 0x2010}, {"minus", 0x2212},
	{"colon", ':'}, {"sol", '/'}, {"period", '.'}, {"comma", ','}, {"num", '#'},
	{"lpar", '('}, {"rpar", ')'}, {"plus", '+'}, {"Tab", ' '}, {"NewLine", ' '},
	{"trade", 0x2122}, {"euro", 0x20ac}, {"pound", 0xa3}, {"middot", 0xb7},
	{"bull", 0x2022}, {"laquo", 0xab}, {"raquo", 0xbb}, {"times", 0xd7},
	{"aacute", 0xe1}, {"iacute", 0xed}, {"oacute", 0xf3}, {"uacute", 0xfa},
	{"ntilde", 0xf1}, {"uuml", 0xfc}, {"ouml", 0xf6}, {"auml", 0xe4}, {"szlig", 0xdf},
	{"ccedil", 0xe7}, {"egrave", 0xe8}, {"agrave", 0xe0}, {"deg", 0xb0},
};

/* What a reader sees of a decoded code point: invisible ones vanish, the
 * hyphen and dash look-alikes read as '-', spaces as one space. */
static int
put_cp(struct sp_buf *out, unsigned long cp)
{
	if (cp == 0xad || cp == 0x200b || cp == 0x200c || cp == 0x200d || cp == 0x2060 || cp == 0xfeff)
		return SP_OK;
	if ((cp >= 0x2010 && cp <= 0x2013) || cp == 0x2212)
		return sp_buf_append(out, "-", 1);
	if (cp == 0x09 || cp == 0x0a || cp == 0x0d || (cp >= 0x2000 && cp <= 0x200a) ||
	    cp == 0x202f || cp == 0x205f || cp == 0x3000)
		return put_space(out);
	return put_utf8(out, cp);
}

/* HTML elements that do not break the line: the text on either side reads
 * as one word, so "<b>123</b>45" is "12345". */
static const char *const html_inline[] = {
	"a", "abbr", "b", "bdi", "bdo", "cite", "code", "data", "dfn", "em", "font", "i",
	"ins", "del", "kbd", "mark", "q", "s", "samp", "small", "span", "strong", "sub",
	"sup", "time", "u", "var", "wbr", "o:p", "strike", "tt", "big", "label", "nobr",
};

/* Office XML elements that end a paragraph, cell or line. */
static const char *const xml_break[] = {
	"p", "tab", "br", "cr", "tc", "tr", "si", "c", "row", "h", "table-cell",
	"table-row", "line-break", "s", "list-item", "is", "v", "f",
};

static int
name_in(const char *nm, size_t n, const char *const *list, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++)
		if (strlen(list[i]) == n && strncasecmp(list[i], nm, n) == 0)
			return 1;
	return 0;
}

static int
is_name_char(int c)
{
	return isalnum(c) || c == ':' || c == '-' || c == '_';
}

/* Does the tag in[s, e) (without '<' and '>') carry an inline style or
 * attribute that hides its element? */
static int
tag_hidden(const char *in, size_t s, size_t e)
{
	char st[256];
	size_t i, o = 0, at;

	at = ci_find(in, e, s, "style");
	if (at < e) {
		for (i = at + 5; i < e && o + 1 < sizeof(st); i++)
			if (!isspace((unsigned char)in[i]) && in[i] != '"' && in[i] != '\'')
				st[o++] = (char)tolower((unsigned char)in[i]);
		st[o] = '\0';
		if (strstr(st, "display:none") != NULL || strstr(st, "visibility:hidden") != NULL ||
		    strstr(st, "max-height:0;") != NULL || strstr(st, "opacity:0;") != NULL)
			return 1;
		for (const char *f = st; (f = strstr(f, "font-size:0")) != NULL; f++) {
			char nx = f[11];

			if (nx != '.' && !(nx >= '1' && nx <= '9'))
				return 1;
		}
	}
	/* the boolean attribute hidden, standing alone */
	for (i = s; i + 6 <= e; i++)
		if (ci_prefix(in + i, e - i, "hidden") && isspace((unsigned char)in[i - 1]) &&
		    (i + 6 == e || isspace((unsigned char)in[i + 6]) || in[i + 6] == '/' ||
		    in[i + 6] == '='))
			return 1;
	return 0;
}

/* Index just past the element named nm (n bytes) that opens before from,
 * counting nested elements of the same name; SIZE_MAX when it never closes. */
static size_t
skip_element(const char *in, size_t len, size_t from, const char *nm, size_t n)
{
	size_t i = from;
	int depth = 1;

	while (i < len) {
		size_t lt = i;

		while (lt < len && in[lt] != '<')
			lt++;
		if (lt >= len)
			return SIZE_MAX;
		if (lt + 1 < len && in[lt + 1] == '/' && lt + 2 + n <= len &&
		    strncasecmp(in + lt + 2, nm, n) == 0 &&
		    (lt + 2 + n == len || !is_name_char((unsigned char)in[lt + 2 + n]))) {
			if (--depth == 0) {
				size_t gt = lt;

				while (gt < len && in[gt] != '>')
					gt++;
				return gt < len ? gt + 1 : SIZE_MAX;
			}
		} else if (lt + 1 + n <= len && strncasecmp(in + lt + 1, nm, n) == 0 &&
		    (lt + 1 + n == len || !is_name_char((unsigned char)in[lt + 1 + n]))) {
			size_t gt = lt;

			while (gt < len && in[gt] != '>')
				gt++;
			if (gt < len && in[gt - 1] != '/')
				depth++;
		}
		i = lt + 1;
	}
	return SIZE_MAX;
}

static const char *const html_void[] = {
	"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
	"source", "track", "wbr",
};

static int
markup_to_text(const char *in, size_t n, struct sp_buf *out, int xml)
{
	size_t i = 0;
	int st = SP_OK;

	while (i < n && st == SP_OK) {
		unsigned char c = (unsigned char)in[i];

		if (c == '<') {
			size_t e, ns, ne;
			int closing;

			if (ci_prefix(in + i, n - i, "<!--")) {
				e = ci_find(in, n, i + 4, "-->");
				i = e < n ? e + 3 : n;
				continue;
			}
			if (ci_prefix(in + i, n - i, "<![cdata[")) {
				e = ci_find(in, n, i + 9, "]]>");
				st = sp_buf_append(out, in + i + 9, (e < n ? e : n) - (i + 9));
				i = e < n ? e + 3 : n;
				continue;
			}
			e = i + 1;
			while (e < n && in[e] != '>')
				e++;
			closing = i + 1 < n && in[i + 1] == '/';
			ns = i + 1 + (size_t)closing;
			ne = ns;
			while (ne < e && is_name_char((unsigned char)in[ne]))
				ne++;
			if (!xml && !closing && ne > ns &&
			    (name_in(in + ns, ne - ns, (const char *const[]){"script", "style", "head", "title",
			    "template", "noscript"}, 6) ||
			    (tag_hidden(in, ne, e) && !name_in(in + ns, ne - ns, html_void,
			    sizeof(html_void) / sizeof(html_void[0])) && e > 0 && in[e - 1] != '/'))) {
				char nm[32];
				size_t nl = ne - ns < sizeof(nm) ? ne - ns : sizeof(nm) - 1, past;

				memcpy(nm, in + ns, nl);
				past = skip_element(in, n, e < n ? e + 1 : n, nm, nl);
				/* an element that never closes hides nothing: what a
				 * browser would repair is scanned rather than lost */
				if (past != SIZE_MAX || name_in(nm, nl, (const char *const[]){"script", "style"}, 2)) {
					i = past != SIZE_MAX ? past : n;
					st = put_space(out);
					continue;
				}
			}
			i = e < n ? e + 1 : n;
			if (xml) {
				const char *local = in + ns;
				size_t ln = ne - ns, k;

				for (k = 0; k < ne - ns; k++)
					if (in[ns + k] == ':') {
						local = in + ns + k + 1;
						ln = ne - ns - k - 1;
					}
				if (name_in(local, ln, xml_break, sizeof(xml_break) / sizeof(xml_break[0])) &&
				    (closing || (e > 0 && in[e - 1] == '/') ||
				    (ln == 1 && (*local == 's' || *local == 'p'))))
					st = put_space(out);
			} else if (!name_in(in + ns, ne - ns, html_inline,
			    sizeof(html_inline) / sizeof(html_inline[0]))) {
				st = put_space(out);
			}
		} else if (c == '&') {
			size_t e = i + 1, k;
			unsigned long cp = 0;
			int ok = 0;

			while (e < n && e - i < 12 && in[e] != ';' &&
			    (isalnum((unsigned char)in[e]) || in[e] == '#'))
				e++;
			if (e < n && in[e] == ';' && e > i + 1) {
				if (in[i + 1] == '#') {
					char *end, num[12];
					int hex = e > i + 2 && (in[i + 2] == 'x' || in[i + 2] == 'X');
					size_t s0 = i + 2 + (size_t)hex;

					if (e > s0 && e - s0 < sizeof(num)) {
						memcpy(num, in + s0, e - s0);
						num[e - s0] = '\0';
						cp = strtoul(num, &end, hex ? 16 : 10);
						ok = *end == '\0';
					}
				} else {
					for (k = 0; k < sizeof(entities) / sizeof(entities[0]); k++)
						if (strlen(entities[k].name) == e - i - 1 &&
						    memcmp(entities[k].name, in + i + 1, e - i - 1) == 0) {
							cp = entities[k].cp;
							ok = 1;
							break;
						}
				}
			}
			if (ok) {
				st = put_cp(out, cp);
				i = e + 1;
			} else {
				st = sp_buf_append(out, "&", 1);
				i++;
			}
		} else if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f') {
			st = put_space(out);
			i++;
		} else {
			size_t e = i + 1;

			while (e < n && in[e] != '<' && in[e] != '&' && in[e] != ' ' &&
			    in[e] != '\t' && in[e] != '\r' && in[e] != '\n' && in[e] != '\f')
				e++;
			st = sp_buf_append(out, in + i, e - i);
			i = e;
		}
	}
	return st;
}

int
pol_html_to_text(const char *in, size_t n, struct sp_buf *out)
{
	return markup_to_text(in, n, out, 0);
}

int
pol_xml_to_text(const char *in, size_t n, struct sp_buf *out)
{
	return markup_to_text(in, n, out, 1);
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
	walk_obj(&w, g_mime_message_get_mime_part(m->msg), 0);
	return w.st;
}

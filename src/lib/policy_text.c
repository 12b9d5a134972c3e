/*
 * policy_text.c - what the scanner reads of markup: HTML reduced to the
 * text a reader sees, and office XML (the documents inside DOCX, XLSX, ODT,
 * ODS) reduced to its text.
 * SECURITY: reads untrusted markup; both reducers are bounded byte loops
 * that only ever append to a capped buffer.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "policy_internal.h"

/* --- HTML to text -------------------------------------------------------- */

/* What markup_to_text makes: the scanner's text of HTML (block ends as a
 * space, so that the rules see one line), the text of office XML, or the
 * text of HTML for a reader (block ends as line ends, paragraphs apart). */
enum markup { MARKUP_SCAN, MARKUP_XML, MARKUP_READ };

/* One space between words: none at the start, after a space or at the
 * start of a line. */
static int
put_space(struct sp_buf *out)
{
	if (out->len == 0 || out->data[out->len - 1] == ' ' || out->data[out->len - 1] == '\n')
		return SP_OK;
	return sp_buf_append(out, " ", 1);
}

/* End the line (lines 1) or the paragraph (lines 2): the spaces before
 * go, and the text then ends in at least that many line ends (none at its
 * start).  lines 3 is a line break of its own (<br>): one line end more,
 * so that two make an empty line; never more than two in a row. */
static int
put_break(struct sp_buf *out, int lines)
{
	int have = 0, st;

	while (out->len > 0 && out->data[out->len - 1] == ' ')
		out->len--;
	if (out->len == 0)
		return SP_OK;
	while (have < 2 && (size_t)have < out->len && out->data[out->len - 1 - (size_t)have] == '\n')
		have++;
	if (lines == 3)
		lines = have < 2 ? have + 1 : 2;
	for (; have < lines; have++)
		if ((st = sp_buf_append(out, "\n", 1)) != SP_OK)
			return st;
	return SP_OK;
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

/* skip_element()'s answer when its budget ran out: the element is read
 * as if it hid nothing. */
#define SKIP_GAVE_UP (SIZE_MAX - 1)

/* Index just past the element named nm (n bytes) that opens before from,
 * counting nested elements of the same name; SIZE_MAX when it never closes,
 * SKIP_GAVE_UP when *budget (bytes to examine, shared by every call on one
 * text) ran out first.  Without the budget, a text of many elements that
 * never close would be read to its end once per element. */
static size_t
skip_element(const char *in, size_t len, size_t from, const char *nm, size_t n,
    size_t *budget)
{
	size_t i = from, lt, gt, end = len, past = SIZE_MAX;
	int depth = 1;

	if (*budget == 0)
		return SKIP_GAVE_UP;
	while (i < len) {
		for (lt = i; lt < len && in[lt] != '<'; lt++)
			;
		if (lt >= len)
			break;
		if (lt - from > *budget) {
			past = SKIP_GAVE_UP;
			end = lt;
			break;
		}
		if (lt + 1 < len && in[lt + 1] == '/' && lt + 2 + n <= len &&
		    strncasecmp(in + lt + 2, nm, n) == 0 &&
		    (lt + 2 + n == len || !is_name_char((unsigned char)in[lt + 2 + n]))) {
			if (--depth == 0) {
				for (gt = lt; gt < len && in[gt] != '>'; gt++)
					;
				past = gt < len ? gt + 1 : SIZE_MAX;
				end = gt;
				break;
			}
			i = lt + 1;
		} else if (lt + 1 + n <= len && strncasecmp(in + lt + 1, nm, n) == 0 &&
		    (lt + 1 + n == len || !is_name_char((unsigned char)in[lt + 1 + n]))) {
			for (gt = lt; gt < len && in[gt] != '>'; gt++)
				;
			/* no '>' to the end: no closing tag can end either */
			if (gt >= len)
				break;
			if (in[gt - 1] != '/')
				depth++;
			i = gt + 1;
		} else {
			i = lt + 1;
		}
	}
	*budget -= end - from < *budget ? end - from : *budget;
	return past;
}

/* For a reader: HTML elements that start or end a line, and those that
 * stand apart as paragraphs; every other element that is not inline
 * reads as a space (a table's cells). */
static const char *const html_line[] = {
	"div", "li", "tr", "dt", "dd", "option", "center", "address", "figcaption",
};
static const char *const html_para[] = {
	"p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "ul", "ol", "dl", "table",
	"pre", "hr", "section", "article", "header", "footer", "nav", "aside", "figure",
	"form", "fieldset", "details", "summary", "main",
};

/* The break a reader sees at the tag named in[ns, ne): 0 none (inline or
 * a space), 1 a line end, 2 a paragraph, 3 a line break (put_break). */
static int
read_break(const char *in, size_t ns, size_t ne)
{
	if (ne - ns == 2 && strncasecmp(in + ns, "br", 2) == 0)
		return 3;
	if (name_in(in + ns, ne - ns, html_para, sizeof(html_para) / sizeof(html_para[0])))
		return 2;
	if (name_in(in + ns, ne - ns, html_line, sizeof(html_line) / sizeof(html_line[0])))
		return 1;
	return 0;
}

static const char *const html_void[] = {
	"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
	"source", "track", "wbr",
};

static int
markup_to_text(const char *in, size_t n, struct sp_buf *out, enum markup mode)
{
	const int xml = mode == MARKUP_XML;
	const size_t base = out->len;
	size_t i = 0, budget = n < SIZE_MAX / 8 ? 4 * n + 65536 : SIZE_MAX / 2;
	int st = SP_OK, brk;

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
				past = skip_element(in, n, e < n ? e + 1 : n, nm, nl, &budget);
				/* an element that never closes hides nothing: what a
				 * browser would repair is scanned rather than lost;
				 * past the budget, nothing more is taken as hidden */
				if (past != SKIP_GAVE_UP && (past != SIZE_MAX ||
				    name_in(nm, nl, (const char *const[]){"script", "style"}, 2))) {
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
			} else if (mode == MARKUP_READ && (brk = read_break(in, ns, ne)) > 0) {
				st = put_break(out, brk);
				/* a list item reads with its bullet */
				if (st == SP_OK && !closing && ne - ns == 2 && strncasecmp(in + ns, "li", 2) == 0)
					st = sp_buf_append(out, "\xe2\x80\xa2 ", 4);
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
	/* a reader's text ends with its last word */
	while (mode == MARKUP_READ && st == SP_OK && out->len > base &&
	    (out->data[out->len - 1] == ' ' || out->data[out->len - 1] == '\n'))
		out->len--;
	return st;
}

int
pol_html_to_text(const char *in, size_t n, struct sp_buf *out)
{
	return markup_to_text(in, n, out, MARKUP_SCAN);
}

int
sp_policy_html_text(const char *in, size_t n, struct sp_buf *out)
{
	return markup_to_text(in, n, out, MARKUP_READ);
}

int
pol_xml_to_text(const char *in, size_t n, struct sp_buf *out)
{
	return markup_to_text(in, n, out, MARKUP_XML);
}

/*
 * message_check.c - decides whether input is a mail message at all
 * (sp_msg_check) and turns attachment names into safe file names
 * (sp_msg_safe_filename).
 * SECURITY: both read untrusted bytes; the checks are single bounded passes
 * and the file name never carries a path, a control character or a
 * reserved device name.
 */
#include "message_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Length of the valid UTF-8 sequence at p (1..4), or 0 when invalid. */
static size_t
utf8_len(const unsigned char *p, size_t n)
{
	size_t k, i;
	unsigned cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		k = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		k = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		k = 4, cp = p[0] & 0x07;
	else
		return 0;
	if (n < k)
		return 0;
	for (i = 1; i < k; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((k == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (k == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return k;
}

static size_t
bom_len(const unsigned char *p, size_t n)
{
	return n >= 3 && p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf ? 3 : 0;
}

/* One mbox "From " line (the envelope line of an mbox file, up to and
 * including its line end) at p[0..n), or 0. */
static size_t
mbox_line_len(const unsigned char *p, size_t n)
{
	const unsigned char *nl;

	if (n < 5 || memcmp(p, "From ", 5) != 0 || (nl = memchr(p, '\n', n)) == NULL)
		return 0;
	return (size_t)(nl - p) + 1;
}

size_t
sp_msg_preamble_len(const unsigned char *raw, size_t len)
{
	size_t pre, k;

	if (raw == NULL)
		return 0;
	pre = bom_len(raw, len);
	if ((k = mbox_line_len(raw + pre, len - pre)) > 0) {
		pre += k;
		pre += bom_len(raw + pre, len - pre);
	}
	return pre;
}

int
sp_msg_check(const unsigned char *raw, size_t len, struct sp_err *err)
{
	size_t i, name, hdrlen, bad = 0, pre;

	if (raw == NULL || len == 0)
		return sp_err_set(err, SP_ERR_INVALID, "empty message");
	if (len > SP_MSG_MAX_SIZE)
		return sp_err_set(err, SP_ERR_TOOBIG, "message larger than %zu bytes", SP_MSG_MAX_SIZE);
	/* a byte-order mark and an mbox "From " line are kept, not checked */
	pre = sp_msg_preamble_len(raw, len);
	raw += pre;
	len -= pre;
	if (len == 0)
		return sp_err_set(err, SP_ERR_INVALID, "empty message after its mbox \"From \" line");
	/* the first line must be a header field: printable name, then ':' */
	for (name = 0; name < len && raw[name] > 32 && raw[name] < 127 && raw[name] != ':'; name++)
		;
	i = name;
	while (i < len && (raw[i] == ' ' || raw[i] == '\t'))
		i++;
	if (name == 0 || i >= len || raw[i] != ':')
		return sp_err_set(err, SP_ERR_INVALID,
		    "no header block: the first line is not a header field (Name: value)");
	/* the header block ends at the first empty line */
	for (hdrlen = 0; hdrlen < len; hdrlen++) {
		if (raw[hdrlen] == '\n' && hdrlen + 1 < len &&
		    (raw[hdrlen + 1] == '\n' ||
		    (raw[hdrlen + 1] == '\r' && hdrlen + 2 < len && raw[hdrlen + 2] == '\n'))) {
			hdrlen++;
			break;
		}
	}
	/* Binary data has control characters (about one byte in nine of
	 * random data); text has none but tab, line ends and the escape of
	 * ISO-2022 (raw Japanese headers).  Bytes of 8-bit legacy charsets
	 * (GBK, Latin-1) written raw in headers are text, valid UTF-8 or not. */
	for (i = 0; i < hdrlen; i++) {
		if (raw[i] == 0)
			return sp_err_set(err, SP_ERR_INVALID,
			    "binary data: NUL byte in the header block at offset %zu", pre + i);
		if ((raw[i] < 32 && raw[i] != '\t' && raw[i] != '\r' && raw[i] != '\n' &&
		    raw[i] != 0x1b) || raw[i] == 127)
			bad++;
	}
	if (bad * 20 > hdrlen)
		return sp_err_set(err, SP_ERR_INVALID,
		    "binary data: the header block has %zu control characters in %zu bytes",
		    bad, hdrlen);
	return SP_OK;
}

static int
reserved_name(const char *s, size_t n)
{
	static const char *const dev[] = { "con", "prn", "aux", "nul" };
	size_t base, i;

	for (base = 0; base < n && s[base] != '.'; base++)
		;
	while (base > 0 && s[base - 1] == ' ')
		base--;
	for (i = 0; i < sizeof(dev) / sizeof(dev[0]); i++)
		if (base == 3 && strncasecmp(s, dev[i], 3) == 0)
			return 1;
	if (base == 4 && (strncasecmp(s, "com", 3) == 0 || strncasecmp(s, "lpt", 3) == 0) &&
	    s[3] >= '0' && s[3] <= '9')
		return 1;
	return 0;
}

void
sp_msg_safe_filename(const char *name, size_t index, char *out, size_t outsz)
{
	const unsigned char *s;
	size_t n, i, k, o = 0, cap, start;
	char tmp[256];

	if (out == NULL || outsz == 0)
		return;
	cap = outsz - 1 < 200 ? outsz - 1 : 200;
	out[0] = '\0';
	if (name != NULL) {
		/* keep only the last path component */
		s = (const unsigned char *)name;
		n = strlen(name);
		for (i = 0, start = 0; i < n; i++)
			if (s[i] == '/' || s[i] == '\\')
				start = i + 1;
		s += start;
		n -= start;
		/* no leading dots or blanks */
		while (n > 0 && (s[0] == '.' || s[0] == ' ' || s[0] == '\t'))
			s++, n--;
		for (i = 0; i < n; i += k) {
			k = utf8_len(s + i, n - i);
			if (k == 0 || s[i] < 32 || s[i] == 127) {
				k = 1;
				if (s[i] < 32 || s[i] == 127)
					continue;	/* control characters vanish */
				if (o + 1 > cap || o + 1 >= sizeof(tmp))
					break;
				tmp[o++] = '_';
				continue;
			}
			if (o + k > cap || o + k >= sizeof(tmp))
				break;	/* cap on a character boundary */
			if (k == 1 && strchr("<>:\"|?*", s[i]) != NULL)
				tmp[o++] = '_';
			else
				memcpy(tmp + o, s + i, k), o += k;
		}
		/* no trailing dots or blanks (Windows drops them) */
		while (o > 0 && (tmp[o - 1] == '.' || tmp[o - 1] == ' '))
			o--;
		tmp[o] = '\0';
		if (o > 0 && reserved_name(tmp, o)) {
			if (o + 1 > cap) {
				o = cap - 1;
				while (o > 0 && ((unsigned char)tmp[o] & 0xc0) == 0x80)
					o--;
			}
			memmove(tmp + 1, tmp, o);
			tmp[0] = '_';
			o++;
			tmp[o] = '\0';
		}
	}
	if (o == 0) {
		snprintf(out, outsz, "attachment-%zu", index);
		return;
	}
	memcpy(out, tmp, o);
	out[o] = '\0';
}

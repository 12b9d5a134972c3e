/*
 * policy_zip.c - the text of office documents for the scanner: DOCX
 * (word/document.xml), XLSX (xl/sharedStrings.xml and the sheets' inline
 * strings and values), ODT and ODS (content.xml).  Reads the zip central
 * directory, inflates the wanted members with zlib and reduces their XML to
 * text.
 * SECURITY: reads untrusted archives.  Every offset and length of the
 * directory and local headers is checked against the buffer before use;
 * the member count, the inflated size of each member and of all of them
 * are capped (a zip bomb stops at the cap); ZIP64 and encrypted members are
 * refused rather than guessed.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <zlib.h>

#include "policy_internal.h"

#define ZIP_MAX_MEMBERS	4096		/* central directory entries looked at */
#define ZIP_MAX_WANTED	64		/* members inflated */
#define ZIP_EOCD_MIN	22
#define ZIP_CDH_MIN	46
#define ZIP_LFH_MIN	30

static unsigned
rd16(const unsigned char *p)
{
	return (unsigned)p[0] | (unsigned)p[1] << 8;
}

static unsigned long
rd32(const unsigned char *p)
{
	return (unsigned long)p[0] | (unsigned long)p[1] << 8 |
	    (unsigned long)p[2] << 16 | (unsigned long)p[3] << 24;
}

static int
name_is(const unsigned char *nm, size_t n, const char *s)
{
	return strlen(s) == n && memcmp(nm, s, n) == 0;
}

static int
name_starts(const unsigned char *nm, size_t n, const char *s)
{
	size_t k = strlen(s);

	return n > k && memcmp(nm, s, k) == 0;
}

static int
wanted(const unsigned char *nm, size_t n)
{
	if (name_is(nm, n, "word/document.xml") || name_is(nm, n, "xl/sharedStrings.xml") ||
	    name_is(nm, n, "content.xml"))
		return 1;
	if (n > 4 && memcmp(nm + n - 4, ".xml", 4) == 0 &&
	    (name_starts(nm, n, "xl/worksheets/sheet") || name_starts(nm, n, "word/header") ||
	    name_starts(nm, n, "word/footer") || name_is(nm, n, "word/footnotes.xml")))
		return 1;
	return 0;
}

/* Inflate (or copy) one member's data into xml, at most cap bytes. */
static int
member_data(const unsigned char *d, size_t dn, unsigned method, size_t usize,
    size_t cap, struct sp_buf *xml, char *why, size_t whysz)
{
	z_stream zs;
	unsigned char chunk[16384];
	int zr, st = SP_OK;

	if (method == 0) {
		size_t take = dn < cap ? dn : cap;

		return sp_buf_append(xml, d, take);
	}
	if (method != 8) {
		snprintf(why, whysz, "compression method %u not supported", method);
		return SP_ERR_INVALID;
	}
	(void)usize;
	memset(&zs, 0, sizeof(zs));
	if (inflateInit2(&zs, -15) != Z_OK)
		return SP_ERR_NOMEM;
	zs.next_in = (unsigned char *)(uintptr_t)d;
	zs.avail_in = dn > 0x7fffffffu ? 0x7fffffffu : (uInt)dn;
	do {
		size_t got;

		zs.next_out = chunk;
		zs.avail_out = sizeof(chunk);
		zr = inflate(&zs, Z_NO_FLUSH);
		if (zr != Z_OK && zr != Z_STREAM_END) {
			snprintf(why, whysz, "damaged deflate data");
			st = SP_ERR_INVALID;
			break;
		}
		got = sizeof(chunk) - zs.avail_out;
		if (got > cap - xml->len)
			got = cap - xml->len;
		if ((st = sp_buf_append(xml, chunk, got)) != SP_OK)
			break;
		if (xml->len >= cap)
			break;		/* the cap: the rest is not inflated */
		if (zr == Z_OK && zs.avail_in == 0 && zs.avail_out != 0)
			break;		/* truncated input */
	} while (zr != Z_STREAM_END);
	inflateEnd(&zs);
	return st;
}

int
pol_zip_text(const unsigned char *z, size_t n, size_t cap, struct sp_buf *out,
    char *why, size_t whysz)
{
	size_t eocd, cd, cdsz, i, pos, used = 0;
	unsigned count, k, found = 0;
	int st = SP_OK;

	snprintf(why, whysz, "not a zip archive");
	if (n < ZIP_EOCD_MIN)
		return SP_ERR_INVALID;
	/* the end record is in the last 22 + 65535 bytes */
	for (i = n - ZIP_EOCD_MIN + 1; i-- > 0;) {
		if (n - i > ZIP_EOCD_MIN + 65535u)
			return SP_ERR_INVALID;
		if (rd32(z + i) == 0x06054b50UL)
			break;
		if (i == 0)
			return SP_ERR_INVALID;
	}
	eocd = i;
	count = rd16(z + eocd + 10);
	cdsz = rd32(z + eocd + 12);
	cd = rd32(z + eocd + 16);
	if (count == 0xffff || cd == 0xffffffffUL) {
		snprintf(why, whysz, "ZIP64 archives not supported");
		return SP_ERR_INVALID;
	}
	if (cd > eocd || cdsz > eocd - cd) {
		snprintf(why, whysz, "central directory out of bounds");
		return SP_ERR_INVALID;
	}
	if (count > ZIP_MAX_MEMBERS)
		count = ZIP_MAX_MEMBERS;
	pos = cd;
	for (k = 0; k < count && st == SP_OK && found < ZIP_MAX_WANTED; k++) {
		const unsigned char *h = z + pos, *nm;
		unsigned method, flags, nlen, xlen, clen;
		size_t csize, usize, loff, data;

		if (pos > cd + cdsz || cd + cdsz - pos < ZIP_CDH_MIN || rd32(h) != 0x02014b50UL) {
			snprintf(why, whysz, "damaged central directory");
			return SP_ERR_INVALID;
		}
		flags = rd16(h + 8);
		method = rd16(h + 10);
		csize = rd32(h + 20);
		usize = rd32(h + 24);
		nlen = rd16(h + 28);
		xlen = rd16(h + 30);
		clen = rd16(h + 32);
		loff = rd32(h + 42);
		if (cd + cdsz - pos - ZIP_CDH_MIN < (size_t)nlen + xlen + clen) {
			snprintf(why, whysz, "damaged central directory");
			return SP_ERR_INVALID;
		}
		nm = h + ZIP_CDH_MIN;
		pos += ZIP_CDH_MIN + (size_t)nlen + xlen + clen;
		if (!wanted(nm, nlen))
			continue;
		found++;
		if (flags & 1u) {
			snprintf(why, whysz, "encrypted member");
			return SP_ERR_INVALID;
		}
		/* the local header: its own name and extra lengths */
		if (loff > n || n - loff < ZIP_LFH_MIN || rd32(z + loff) != 0x04034b50UL) {
			snprintf(why, whysz, "member header out of bounds");
			return SP_ERR_INVALID;
		}
		data = loff + ZIP_LFH_MIN + rd16(z + loff + 26) + rd16(z + loff + 28);
		if (data > n || csize > n - data) {
			snprintf(why, whysz, "member data out of bounds");
			return SP_ERR_INVALID;
		}
		if (used >= cap)
			break;
		{
			struct sp_buf xml;

			sp_buf_init(&xml, cap - used);
			st = member_data(z + data, csize, method, usize, cap - used, &xml, why, whysz);
			if (st == SP_OK && xml.len > 0) {
				used += xml.len;
				st = pol_xml_to_text((const char *)xml.data, xml.len, out);
				if (st == SP_OK && out->len < out->cap)
					st = sp_buf_append(out, " ", 1);
			}
			sp_buf_free(&xml);
		}
	}
	if (st == SP_OK && found == 0) {
		snprintf(why, whysz, "no document text in the archive");
		return SP_ERR_INVALID;
	}
	return st;
}

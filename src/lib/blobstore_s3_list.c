/*
 * blobstore_s3_list.c - the S3 backend's reader of ListObjectsV2 answers
 * (blobstore_internal.h): a bounded scanner of the few elements used
 * (<Contents>, <Key>, <Size>, <IsTruncated>, <NextContinuationToken>) in
 * S3's plain element form, not a general XML parser.  Keys that are not
 * valid object names are skipped; anything malformed is an error.
 * SECURITY: the answer is untrusted: the caller caps its size; it must hold
 * no NUL; every search stays inside [xml, xml + len); sizes are checked for
 * overflow; the token is decoded from the five predefined entities only
 * and must be printable.
 */
#include <stdio.h>
#include <string.h>

#include "blobstore_internal.h"

/* The first s in [p, end), or NULL. */
static const char *
find(const char *p, const char *end, const char *s)
{
	size_t n = strlen(s);

	if (p >= end)
		return NULL;
	return memmem(p, (size_t)(end - p), s, n);
}

/* The text of the first <tag>...</tag> in [p, end): *v, *vlen.  0 when
 * absent, -1 when opened and not closed. */
static int
element(const char *p, const char *end, const char *tag, const char **v, size_t *vlen)
{
	char open[40], close[40];
	const char *a, *z;

	snprintf(open, sizeof(open), "<%s>", tag);
	snprintf(close, sizeof(close), "</%s>", tag);
	if ((a = find(p, end, open)) == NULL)
		return 0;
	a += strlen(open);
	if ((z = find(a, end, close)) == NULL)
		return -1;
	*v = a;
	*vlen = (size_t)(z - a);
	return 1;
}

/* Decode the five predefined XML entities of v[0..n) into out (cap with
 * the NUL); anything else after '&' is an error (-1). */
static int
xml_text(const char *v, size_t n, char *out, size_t cap)
{
	static const struct {
		const char *ent;
		char c;
	} ents[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
	size_t i = 0, o = 0, k;

	while (i < n) {
		char c = v[i];

		if (c == '&') {
			for (k = 0; k < sizeof(ents) / sizeof(ents[0]); k++) {
				size_t el = strlen(ents[k].ent);

				if (n - i >= el && memcmp(v + i, ents[k].ent, el) == 0)
					break;
			}
			if (k == sizeof(ents) / sizeof(ents[0]))
				return -1;
			c = ents[k].c;
			i += strlen(ents[k].ent);
		} else {
			i++;
		}
		if (c == '\0' || c == '<' || o + 1 >= cap)
			return -1;
		out[o++] = c;
	}
	out[o] = '\0';
	return 0;
}

int
sp_blob_s3_parse_list(const char *xml, size_t len,
    int (*cb)(void *ud, const char *name, uint64_t size), void *ud,
    char *next, size_t next_cap, struct sp_err *err)
{
	const char *end = xml + len, *p, *blk, *blk_end, *v;
	char name[SP_BLOB_NAME_MAX + 1];
	size_t vlen, i;
	uint64_t size;
	int r, st;

	next[0] = '\0';
	if (memchr(xml, '\0', len) != NULL || find(xml, end, "<ListBucketResult") == NULL)
		return sp_err_set(err, SP_ERR_IO, "the object store's listing is not a "
		    "ListBucketResult");
	for (p = xml; (blk = find(p, end, "<Contents>")) != NULL; p = blk_end) {
		if ((blk_end = find(blk, end, "</Contents>")) == NULL)
			return sp_err_set(err, SP_ERR_IO, "the object store's listing is cut short");
		if (element(blk, blk_end, "Key", &v, &vlen) != 1)
			return sp_err_set(err, SP_ERR_IO, "the object store's listing has an entry "
			    "without a key");
		/* a key that is not an object name (longer, other characters,
		 * entities) is not one of ours */
		if (vlen > SP_BLOB_NAME_MAX)
			continue;
		memcpy(name, v, vlen);
		name[vlen] = '\0';
		if (!sp_blob_name_ok(name))
			continue;
		if (element(blk, blk_end, "Size", &v, &vlen) != 1 || vlen == 0)
			return sp_err_set(err, SP_ERR_IO, "the object store's listing gives %s no "
			    "size", name);
		for (size = 0, i = 0; i < vlen; i++) {
			if (v[i] < '0' || v[i] > '9' ||
			    size > (UINT64_MAX - (uint64_t)(v[i] - '0')) / 10)
				return sp_err_set(err, SP_ERR_IO, "the object store's listing gives %s "
				    "a bad size", name);
			size = size * 10 + (uint64_t)(v[i] - '0');
		}
		if ((st = cb(ud, name, size)) != SP_OK)
			return st;
	}
	r = element(xml, end, "IsTruncated", &v, &vlen);
	if (r < 0)
		return sp_err_set(err, SP_ERR_IO, "the object store's listing is cut short");
	if (r == 0 || vlen != 4 || memcmp(v, "true", 4) != 0)
		return SP_OK;
	if (element(xml, end, "NextContinuationToken", &v, &vlen) != 1 ||
	    xml_text(v, vlen, next, next_cap) != 0 || next[0] == '\0') {
		next[0] = '\0';
		return sp_err_set(err, SP_ERR_IO, "the object store's listing is truncated without "
		    "a usable continuation token");
	}
	for (i = 0; next[i] != '\0'; i++)
		if ((unsigned char)next[i] <= ' ' || (unsigned char)next[i] >= 0x7f) {
			next[0] = '\0';
			return sp_err_set(err, SP_ERR_IO, "the object store's continuation token "
			    "is not printable");
		}
	return SP_OK;
}

/*
 * blobstore.c - the blob store's public face (blobstore.h): store URL
 * parsing, object name checks, and dispatch to the backends
 * (blobstore_dir.c, blobstore_s3.c).
 * SECURITY: names are checked here, before any backend sees them, so no
 * name can climb out of a directory or change an S3 request's path.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "blobstore_internal.h"
#include "crypto.h"

#define URL_PARAM_MAX 1024	/* bytes of one decoded URL parameter */

int
sp_blob_name_ok(const char *name)
{
	size_t i;

	if (name == NULL || name[0] == '\0' || name[0] == '.')
		return 0;
	for (i = 0; name[i] != '\0'; i++) {
		char c = name[i];

		if (i >= SP_BLOB_NAME_MAX)
			return 0;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

/* %-decode s[0..n) into out (cap bytes with the NUL); no NUL allowed. */
static int
url_decode(const char *s, size_t n, char *out, size_t cap)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		int c = (unsigned char)s[i];

		if (c == '%') {
			unsigned char byte;

			if (i + 2 >= n || sp_hex_decode_exact(s + i + 1, 2, &byte, 1) != SP_OK)
				return -1;
			c = byte;
			i += 2;
		}
		if (c == 0 || o + 1 >= cap)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return 0;
}

/* A decimal in [min, max], or -1. */
static long
parse_num(const char *s, long min, long max)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	return v;
}

/* The S3 bucket rule: 3..63 of [a-z0-9.-], starting and ending with a
 * letter or digit. */
static int
bucket_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n < 3 || n > 63 || s[0] == '.' || s[0] == '-' || s[n - 1] == '.' || s[n - 1] == '-')
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '.' || s[i] == '-'))
			return 0;
	return 1;
}

/* http(s)://HOST[:PORT] with an optional trailing '/', nothing else. */
static int
endpoint_ok(char *s)
{
	const char *host;
	size_t n = strlen(s), i;

	if (n > 0 && s[n - 1] == '/')
		s[--n] = '\0';
	if (strncmp(s, "http://", 7) == 0)
		host = s + 7;
	else if (strncmp(s, "https://", 8) == 0)
		host = s + 8;
	else
		return 0;
	if (*host == '\0')
		return 0;
	for (i = 0; host[i] != '\0'; i++)
		if (host[i] == '/' || host[i] == '?' || host[i] == '#' || host[i] == '@' ||
		    (unsigned char)host[i] <= ' ' || (unsigned char)host[i] >= 0x7f)
			return 0;
	return 1;
}

struct s3_params {
	char endpoint[URL_PARAM_MAX];
	char region[64];
	char key_file[URL_PARAM_MAX];
	char timeout[16];
	char max_keys[16];
};

/* Store one "name=value" of the query into p. */
static int
s3_param(struct s3_params *p, const char *kv, size_t n, struct sp_err *err)
{
	static const struct {
		const char *name;
		size_t off, cap;
	} known[] = {
		{"endpoint", offsetof(struct s3_params, endpoint), sizeof(((struct s3_params *)0)->endpoint)},
		{"region", offsetof(struct s3_params, region), sizeof(((struct s3_params *)0)->region)},
		{"key_file", offsetof(struct s3_params, key_file), sizeof(((struct s3_params *)0)->key_file)},
		{"timeout", offsetof(struct s3_params, timeout), sizeof(((struct s3_params *)0)->timeout)},
		{"max_keys", offsetof(struct s3_params, max_keys), sizeof(((struct s3_params *)0)->max_keys)},
	};
	const char *eq = memchr(kv, '=', n);
	size_t klen, i;

	if (eq == NULL)
		return sp_err_set(err, SP_ERR_CONFIG, "store URL: parameter '%.*s' has no value",
		    (int)(n > 40 ? 40 : n), kv);
	klen = (size_t)(eq - kv);
	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		if (strlen(known[i].name) != klen || memcmp(known[i].name, kv, klen) != 0)
			continue;
		if (url_decode(eq + 1, n - klen - 1, (char *)p + known[i].off, known[i].cap) != 0)
			return sp_err_set(err, SP_ERR_CONFIG, "store URL: bad value for %s",
			    known[i].name);
		return SP_OK;
	}
	return sp_err_set(err, SP_ERR_CONFIG, "store URL: unknown parameter '%.*s' (known: "
	    "endpoint, key_file, region, timeout, max_keys)", (int)(klen > 40 ? 40 : klen), kv);
}

static int
open_s3(struct sp_blobstore **out, const char *url, const char *tmpdir, struct sp_err *err)
{
	struct s3_params p;
	struct sp_blob_s3_conf c;
	char bucket[64];
	const char *b = url + strlen("s3://"), *q = strchr(b, '?'), *kv;
	size_t blen = q ? (size_t)(q - b) : strlen(b);
	long v;
	int st;

	memset(&p, 0, sizeof(p));
	if (blen == 0 || blen >= sizeof(bucket))
		return sp_err_set(err, SP_ERR_CONFIG, "store URL: s3://BUCKET?endpoint=URL&"
		    "key_file=PATH expected");
	memcpy(bucket, b, blen);
	bucket[blen] = '\0';
	if (bucket[blen - 1] == '/')
		bucket[blen - 1] = '\0';
	if (!bucket_ok(bucket))
		return sp_err_set(err, SP_ERR_CONFIG, "store URL: '%s' is not a valid bucket name "
		    "(3..63 of a-z 0-9 . -)", bucket);
	for (kv = q ? q + 1 : NULL; kv != NULL && *kv != '\0';) {
		const char *amp = strchr(kv, '&');
		size_t n = amp ? (size_t)(amp - kv) : strlen(kv);

		if (n > 0 && (st = s3_param(&p, kv, n, err)) != SP_OK)
			return st;
		kv = amp ? amp + 1 : NULL;
	}
	if (p.endpoint[0] == '\0' || !endpoint_ok(p.endpoint))
		return sp_err_set(err, SP_ERR_CONFIG, "store URL: endpoint=http(s)://HOST[:PORT] "
		    "is required (no path)");
	if (p.key_file[0] != '/')
		return sp_err_set(err, SP_ERR_CONFIG, "store URL: key_file=/ABSOLUTE/PATH is required");
	memset(&c, 0, sizeof(c));
	c.bucket = bucket;
	c.endpoint = p.endpoint;
	c.key_file = p.key_file;
	c.region = p.region[0] != '\0' ? p.region : "us-east-1";
	if (strpbrk(c.region, ":/ \t") != NULL)
		return sp_err_set(err, SP_ERR_CONFIG, "store URL: bad region '%s'", c.region);
	c.tmpdir = tmpdir != NULL ? tmpdir : "/tmp";
	c.timeout_s = 300;
	if (p.timeout[0] != '\0' && (c.timeout_s = parse_num(p.timeout, 1, 86400)) < 0)
		return sp_err_set(err, SP_ERR_CONFIG, "store URL: timeout is 1..86400 seconds");
	c.max_keys = 1000;
	if (p.max_keys[0] != '\0') {
		if ((v = parse_num(p.max_keys, 1, 1000)) < 0)
			return sp_err_set(err, SP_ERR_CONFIG, "store URL: max_keys is 1..1000");
		c.max_keys = (int)v;
	}
	return sp_blob_s3_open(out, &c, err);
}

int
sp_blob_open(struct sp_blobstore **out, const char *url, const char *tmpdir, struct sp_err *err)
{
	*out = NULL;
	if (url == NULL || *url == '\0')
		return sp_err_set(err, SP_ERR_CONFIG, "no store URL (dir:/PATH or s3://BUCKET?...)");
	if (strncmp(url, "dir:", 4) == 0)
		url += 4;
	else if (strncmp(url, "s3://", 5) == 0)
		return open_s3(out, url, tmpdir, err);
	if (url[0] != '/')
		return sp_err_set(err, SP_ERR_CONFIG, "store URL: use dir:/ABSOLUTE/PATH or "
		    "s3://BUCKET?endpoint=URL&key_file=PATH");
	return sp_blob_dir_open(out, url, err);
}

void
sp_blob_close(struct sp_blobstore *b)
{
	if (b != NULL)
		b->ops->close(b);
}

static int
bad_name(const char *name, struct sp_err *err)
{
	char shown[44];
	size_t i;

	if (name == NULL)
		return sp_err_set(err, SP_ERR_INVALID, "no object name");
	/* the name is the caller's text: shown printable and short */
	for (i = 0; name[i] != '\0' && i < 40; i++)
		shown[i] = (unsigned char)name[i] < 0x20 || (unsigned char)name[i] >= 0x7f ?
		    '?' : name[i];
	memcpy(shown + i, name[i] != '\0' ? "..." : "", name[i] != '\0' ? 4 : 1);
	return sp_err_set(err, SP_ERR_INVALID, "'%s' is not a valid object name (1..%d of "
	    "A-Z a-z 0-9 . _ -, not starting with '.')", shown, SP_BLOB_NAME_MAX);
}

int
sp_blob_put_fd(struct sp_blobstore *b, const char *name, int fd, uint64_t size,
    struct sp_err *err)
{
	if (!sp_blob_name_ok(name))
		return bad_name(name, err);
	if (fd < 0)
		return sp_err_set(err, SP_ERR_INVALID, "no input file");
	return b->ops->put_fd(b, name, fd, size, err);
}

int
sp_blob_get_fd(struct sp_blobstore *b, const char *name, int *fd, uint64_t *size,
    struct sp_err *err)
{
	*fd = -1;
	*size = 0;
	if (!sp_blob_name_ok(name))
		return bad_name(name, err);
	return b->ops->get_fd(b, name, fd, size, err);
}

int
sp_blob_delete(struct sp_blobstore *b, const char *name, struct sp_err *err)
{
	if (!sp_blob_name_ok(name))
		return bad_name(name, err);
	return b->ops->del(b, name, err);
}

int
sp_blob_stat(struct sp_blobstore *b, const char *name, uint64_t *size, struct sp_err *err)
{
	*size = 0;
	if (!sp_blob_name_ok(name))
		return bad_name(name, err);
	return b->ops->stat(b, name, size, err);
}

int
sp_blob_each(struct sp_blobstore *b, int (*cb)(void *ud, const char *name, uint64_t size),
    void *ud, struct sp_err *err)
{
	return b->ops->each(b, cb, ud, err);
}

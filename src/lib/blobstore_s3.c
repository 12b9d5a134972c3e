/*
 * blobstore_s3.c - the blob store's S3-compatible backend: path-style
 * requests (ENDPOINT/BUCKET/NAME) signed with AWS Signature Version 4 by
 * libcurl (CURLOPT_AWS_SIGV4, "aws:amz:REGION:s3").  PUT streams the body
 * from the caller's descriptor; GET streams into an unlinked temporary
 * file; HEAD is stat, DELETE delete, ListObjectsV2 (with continuation
 * tokens) the walk.
 *
 * Payload hash: libcurl 7.88 hashes only an in-memory request body; for a
 * streamed upload it would sign the hash of an empty body.  When the
 * request carries an x-amz-content-sha256 header, libcurl signs its value
 * instead, so every request sets it: the SHA-256 of the upload, computed in
 * a first streaming pass over the descriptor, or of the empty body.  The
 * store thereby checks the upload's integrity too.
 *
 * Listings are read by the bounded scanner in blobstore_s3_list.c.
 *
 * Each call uses an easy handle (and connection) of its own, so the handle
 * is safe to share between threads.
 * SECURITY: the secret is read from a file only its owner may read, handed
 * to libcurl for signing, wiped on close and never put in a message.  The
 * store's answers are untrusted: bodies are capped, error codes are shown
 * only as letters.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blobstore_internal.h"
#include "buf.h"
#include "crypto.h"

#define S3_CONNECT_TIMEOUT_S 5
#define S3_KEY_FILE_MAX 4096		/* bytes of the key file */
#define S3_ERR_BODY_MAX 4096		/* bytes of an error answer kept */
#define S3_LIST_BODY_MAX (8u << 20)	/* bytes of one listing page */
#define S3_TOKEN_MAX 1024		/* bytes of a continuation token */
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct blob_s3 {
	struct sp_blobstore base;
	char *endpoint;		/* no trailing '/' */
	char *bucket;
	char *sigv4;		/* "aws:amz:REGION:s3" */
	char *key_id;
	char *secret;
	char *tmpdir;
	long timeout_s;
	int max_keys;
};

/* One request and what came back. */
struct s3_req {
	const char *method;
	const char *name;	/* object, or NULL for the bucket */
	const char *query;	/* canonical query string, or NULL */
	int in_fd;		/* PUT body, pread from 0 */
	uint64_t in_size, in_off;
	const char *payload_sha;	/* hex */
	int out_fd;		/* 2xx body goes here when >= 0 ... */
	struct sp_buf *body;	/* ... else here, when not NULL */
	uint64_t written;
	struct sp_buf err_body;	/* other answers' bodies, truncated */
	int local_st;		/* a failure on our side, with err set */
	struct sp_err *err;
	CURL *curl;
};

static size_t
on_read(char *p, size_t size, size_t nmemb, void *ud)
{
	struct s3_req *r = ud;
	size_t want = size * nmemb;
	ssize_t n;

	if (want > r->in_size - r->in_off)
		want = (size_t)(r->in_size - r->in_off);
	if (want == 0)
		return 0;
	do
		n = pread(r->in_fd, p, want, (off_t)r->in_off);
	while (n < 0 && errno == EINTR);
	if (n <= 0) {
		r->local_st = sp_err_set(r->err, SP_ERR_IO, "%s: reading the input: %s", r->name,
		    n < 0 ? strerror(errno) : "it ends early");
		return CURL_READFUNC_ABORT;
	}
	r->in_off += (uint64_t)n;
	return (size_t)n;
}

static int
on_seek(void *ud, curl_off_t offset, int origin)
{
	struct s3_req *r = ud;

	if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > r->in_size)
		return CURL_SEEKFUNC_CANTSEEK;
	r->in_off = (uint64_t)offset;
	return CURL_SEEKFUNC_OK;
}

static size_t
on_write(char *p, size_t size, size_t nmemb, void *ud)
{
	struct s3_req *r = ud;
	size_t n = size * nmemb, done = 0;
	long code = 0;

	curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &code);
	if (code < 200 || code > 299) {
		size_t room = S3_ERR_BODY_MAX - r->err_body.len;

		sp_buf_append(&r->err_body, p, n < room ? n : room);
		return n;
	}
	if (r->out_fd >= 0) {
		while (done < n) {
			ssize_t k = write(r->out_fd, p + done, n - done);

			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0) {
				r->local_st = sp_err_set(r->err, SP_ERR_IO, "%s: spooling the "
				    "download: %s", r->name, strerror(errno));
				return 0;
			}
			done += (size_t)k;
		}
		r->written += n;
		return n;
	}
	if (r->body != NULL && sp_buf_append(r->body, p, n) != SP_OK) {
		r->local_st = sp_err_set(r->err, SP_ERR_IO, "the object store's answer is larger "
		    "than %u bytes", S3_LIST_BODY_MAX);
		return 0;
	}
	return n;
}

/* The <Code> of an S3 error answer, letters and digits only, or "". */
static void
error_code(const struct sp_buf *b, char *out, size_t cap)
{
	const char *s, *e;
	size_t i = 0;

	out[0] = '\0';
	if (b->data == NULL || (s = strstr((const char *)b->data, "<Code>")) == NULL)
		return;
	for (s += 6, e = s; *e != '<' && *e != '\0' && i + 1 < cap; e++)
		if ((*e >= 'A' && *e <= 'Z') || (*e >= 'a' && *e <= 'z') || (*e >= '0' && *e <= '9'))
			out[i++] = *e;
	out[i] = '\0';
}

/* Map a finished request to a status (err set unless SP_OK). */
static int
s3_result(struct blob_s3 *s, struct s3_req *r, CURLcode rc, const char *errbuf)
{
	char code[64];
	long http = 0;
	const char *what = r->name ? r->name : s->bucket;

	if (r->local_st != SP_OK)
		return r->local_st;
	if (rc != CURLE_OK) {
		const char *why = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc);

		switch (rc) {
		case CURLE_COULDNT_RESOLVE_HOST:
		case CURLE_COULDNT_RESOLVE_PROXY:
		case CURLE_COULDNT_CONNECT:
		case CURLE_OPERATION_TIMEDOUT:
		case CURLE_SEND_ERROR:
		case CURLE_RECV_ERROR:
		case CURLE_GOT_NOTHING:
		case CURLE_PARTIAL_FILE:
		case CURLE_SSL_CONNECT_ERROR:
			return sp_err_set(r->err, SP_ERR_RETRY, "cannot reach the object store at "
			    "%s: %s", s->endpoint, why);
		case CURLE_PEER_FAILED_VERIFICATION:
		case CURLE_SSL_CACERT_BADFILE:
		case CURLE_UNSUPPORTED_PROTOCOL:
		case CURLE_URL_MALFORMAT:
			return sp_err_set(r->err, SP_ERR_CONFIG, "object store at %s: %s",
			    s->endpoint, why);
		default:
			return sp_err_set(r->err, SP_ERR_IO, "object store at %s: %s", s->endpoint,
			    why);
		}
	}
	curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &http);
	if (http >= 200 && http <= 299)
		return SP_OK;
	error_code(&r->err_body, code, sizeof(code));
	if (http == 404 && strcmp(code, "NoSuchBucket") == 0)
		return sp_err_set(r->err, SP_ERR_CONFIG, "the object store at %s has no bucket %s",
		    s->endpoint, s->bucket);
	if (http == 404)
		return sp_err_set(r->err, SP_ERR_NOTFOUND, "no object %s", what);
	if (http == 401 || http == 403 || (http == 400 && (strcmp(code, "InvalidAccessKeyId") == 0 ||
	    strcmp(code, "SignatureDoesNotMatch") == 0 ||
	    strcmp(code, "AuthorizationHeaderMalformed") == 0)))
		return sp_err_set(r->err, SP_ERR_CONFIG, "the object store at %s refused access to "
		    "bucket %s (HTTP %ld%s%s): check the key file's access key id and secret, the "
		    "region and the bucket's permissions", s->endpoint, s->bucket, http,
		    code[0] ? " " : "", code);
	if (http == 301 || http == 307 || http == 308)
		return sp_err_set(r->err, SP_ERR_CONFIG, "the object store at %s redirects (HTTP "
		    "%ld%s%s): check the endpoint and region", s->endpoint, http, code[0] ? " " : "",
		    code);
	if (http == 408 || http == 429 || http >= 500)
		return sp_err_set(r->err, SP_ERR_RETRY, "the object store at %s is failing or "
		    "busy (HTTP %ld%s%s): try again", s->endpoint, http, code[0] ? " " : "", code);
	return sp_err_set(r->err, SP_ERR_IO, "the object store at %s answered HTTP %ld%s%s to "
	    "%s %s", s->endpoint, http, code[0] ? " " : "", code, r->method, what);
}

/* Run r against s: build the URL, sign, send, map the answer. */
static int
s3_perform(struct blob_s3 *s, struct s3_req *r)
{
	struct sp_buf url, hdr;
	struct curl_slist *hdrs = NULL;
	char errbuf[CURL_ERROR_SIZE];
	CURLcode rc;
	int st;

	errbuf[0] = '\0';
	sp_buf_init(&url, 4096);
	sp_buf_init(&hdr, 128);
	sp_buf_init(&r->err_body, S3_ERR_BODY_MAX);
	st = sp_buf_printf(&url, "%s/%s%s%s%s%s", s->endpoint, s->bucket, r->name ? "/" : "",
	    r->name ? r->name : "", r->query ? "?" : "", r->query ? r->query : "");
	if (st == SP_OK)
		st = sp_buf_printf(&hdr, "x-amz-content-sha256: %s",
		    r->payload_sha ? r->payload_sha : EMPTY_SHA256);
	if (st != SP_OK || (r->curl = curl_easy_init()) == NULL ||
	    (hdrs = curl_slist_append(NULL, (char *)hdr.data)) == NULL) {
		sp_buf_free(&url);
		sp_buf_free(&hdr);
		if (r->curl != NULL)
			curl_easy_cleanup(r->curl);
		r->curl = NULL;
		return sp_err_set(r->err, SP_ERR_NOMEM, "out of memory");
	}
	/* the default "Expect: 100-continue" stays: a refusal arrives before the body */
	curl_easy_setopt(r->curl, CURLOPT_URL, (char *)url.data);
	curl_easy_setopt(r->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(r->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(r->curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(r->curl, CURLOPT_CONNECTTIMEOUT, (long)S3_CONNECT_TIMEOUT_S);
	curl_easy_setopt(r->curl, CURLOPT_TIMEOUT, s->timeout_s);
	curl_easy_setopt(r->curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(r->curl, CURLOPT_AWS_SIGV4, s->sigv4);
	curl_easy_setopt(r->curl, CURLOPT_USERNAME, s->key_id);
	curl_easy_setopt(r->curl, CURLOPT_PASSWORD, s->secret);
	curl_easy_setopt(r->curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(r->curl, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(r->curl, CURLOPT_WRITEDATA, r);
	if (strcmp(r->method, "PUT") == 0) {
		curl_easy_setopt(r->curl, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(r->curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->in_size);
		curl_easy_setopt(r->curl, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(r->curl, CURLOPT_READDATA, r);
		curl_easy_setopt(r->curl, CURLOPT_SEEKFUNCTION, on_seek);
		curl_easy_setopt(r->curl, CURLOPT_SEEKDATA, r);
	} else if (strcmp(r->method, "HEAD") == 0) {
		curl_easy_setopt(r->curl, CURLOPT_NOBODY, 1L);
	} else if (strcmp(r->method, "DELETE") == 0) {
		curl_easy_setopt(r->curl, CURLOPT_CUSTOMREQUEST, "DELETE");
	}
	rc = curl_easy_perform(r->curl);
	st = s3_result(s, r, rc, errbuf);
	curl_slist_free_all(hdrs);
	sp_buf_free(&url);
	sp_buf_free(&hdr);
	sp_buf_free(&r->err_body);
	return st;
}

static void
req_init(struct s3_req *r, const char *method, const char *name, struct sp_err *err)
{
	memset(r, 0, sizeof(*r));
	r->method = method;
	r->name = name;
	r->in_fd = -1;
	r->out_fd = -1;
	r->err = err;
}

static void
req_done(struct s3_req *r)
{
	if (r->curl != NULL)
		curl_easy_cleanup(r->curl);
	r->curl = NULL;
}

/* Hex SHA-256 of size bytes of fd from offset 0, in one streaming pass. */
static int
hash_fd(int fd, uint64_t size, const char *name, char hex[65], struct sp_err *err)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char *buf = malloc(SP_BLOB_COPY_BUF), dig[32];
	uint64_t off = 0;
	int st = SP_OK;

	if (md == NULL || buf == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
		st = sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	while (st == SP_OK && off < size) {
		size_t want = size - off > SP_BLOB_COPY_BUF ? SP_BLOB_COPY_BUF : (size_t)(size - off);
		ssize_t n = pread(fd, buf, want, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			st = sp_err_set(err, SP_ERR_IO, "%s: %s", name, n < 0 ? strerror(errno) :
			    "input ends early");
		else if (EVP_DigestUpdate(md, buf, (size_t)n) != 1)
			st = sp_err_set(err, SP_ERR_INTERNAL, "SHA-256 failed");
		else
			off += (uint64_t)n;
	}
	if (st == SP_OK && EVP_DigestFinal_ex(md, dig, NULL) != 1)
		st = sp_err_set(err, SP_ERR_INTERNAL, "SHA-256 failed");
	if (st == SP_OK)
		sp_hex_encode(dig, sizeof(dig), hex);
	EVP_MD_CTX_free(md);
	free(buf);
	return st;
}

static int
s3_put(struct sp_blobstore *base, const char *name, int fd, uint64_t size, struct sp_err *err)
{
	struct blob_s3 *s = (struct blob_s3 *)base;
	struct s3_req r;
	char sha[65];
	int st;

	if ((st = hash_fd(fd, size, name, sha, err)) != SP_OK)
		return st;
	req_init(&r, "PUT", name, err);
	r.in_fd = fd;
	r.in_size = size;
	r.payload_sha = sha;
	st = s3_perform(s, &r);
	if (st == SP_OK && r.in_off != size)
		st = sp_err_set(err, SP_ERR_IO, "%s: sent %llu of %llu bytes", name,
		    (unsigned long long)r.in_off, (unsigned long long)size);
	req_done(&r);
	return st;
}

/* An unlinked temporary file in dir, open for reading and writing. */
static int
spool_file(const char *dir, struct sp_err *err)
{
	struct sp_buf path;
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	if (fd >= 0)
		return fd;
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
		return -sp_err_set(err, SP_ERR_IO, "%s: %s", dir, strerror(errno));
	/* a file system without O_TMPFILE */
	sp_buf_init(&path, 4096);
	if (sp_buf_printf(&path, "%s/.blob-XXXXXX", dir) != SP_OK)
		return -sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	if ((fd = mkostemp((char *)path.data, O_CLOEXEC)) < 0)
		fd = -sp_err_set(err, SP_ERR_IO, "%s: %s", dir, strerror(errno));
	else
		unlink((char *)path.data);
	sp_buf_free(&path);
	return fd;
}

static int
s3_get(struct sp_blobstore *base, const char *name, int *fd, uint64_t *size,
    struct sp_err *err)
{
	struct blob_s3 *s = (struct blob_s3 *)base;
	struct s3_req r;
	curl_off_t len = -1;
	int st, f = spool_file(s->tmpdir, err);

	if (f < 0)
		return -f;
	req_init(&r, "GET", name, err);
	r.out_fd = f;
	st = s3_perform(s, &r);
	if (st == SP_OK) {
		curl_easy_getinfo(r.curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len);
		if (len >= 0 && (uint64_t)len != r.written)
			st = sp_err_set(err, SP_ERR_RETRY, "%s: received %llu of %lld bytes from %s",
			    name, (unsigned long long)r.written, (long long)len, s->endpoint);
		else if (lseek(f, 0, SEEK_SET) != 0)
			st = sp_err_set(err, SP_ERR_IO, "%s: %s", name, strerror(errno));
	}
	req_done(&r);
	if (st != SP_OK) {
		close(f);
		return st;
	}
	*fd = f;
	*size = r.written;
	return SP_OK;
}

static int
s3_stat(struct sp_blobstore *base, const char *name, uint64_t *size, struct sp_err *err)
{
	struct blob_s3 *s = (struct blob_s3 *)base;
	struct s3_req r;
	curl_off_t len = -1;
	int st;

	req_init(&r, "HEAD", name, err);
	if ((st = s3_perform(s, &r)) == SP_OK) {
		curl_easy_getinfo(r.curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len);
		if (len < 0)
			st = sp_err_set(err, SP_ERR_IO, "%s: the object store at %s sent no length",
			    name, s->endpoint);
		else
			*size = (uint64_t)len;
	}
	req_done(&r);
	if (st != SP_ERR_NOTFOUND)
		return st;
	/* a HEAD answer has no body to tell a missing object from a missing
	 * bucket: ask about the bucket */
	req_init(&r, "HEAD", NULL, NULL);
	if (s3_perform(s, &r) == SP_ERR_NOTFOUND)
		st = sp_err_set(err, SP_ERR_CONFIG, "the object store at %s has no bucket %s",
		    s->endpoint, s->bucket);
	else
		sp_err_set(err, st, "no object %s", name);
	req_done(&r);
	return st;
}

static int
s3_del(struct sp_blobstore *base, const char *name, struct sp_err *err)
{
	struct blob_s3 *s = (struct blob_s3 *)base;
	struct s3_req r;
	int st;

	req_init(&r, "DELETE", name, err);
	st = s3_perform(s, &r);
	req_done(&r);
	return st == SP_ERR_NOTFOUND ? SP_OK : st;
}

/* Append s %-encoded as RFC 3986 asks (unreserved characters kept,
 * upper-case hex), the form Signature Version 4 signs. */
static int
uri_encode(struct sp_buf *b, const char *s)
{
	int st = SP_OK;

	for (; *s != '\0' && st == SP_OK; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~')
			st = sp_buf_append(b, s, 1);
		else
			st = sp_buf_printf(b, "%%%02X", c);
	}
	return st;
}

static int
s3_each(struct sp_blobstore *base, int (*cb)(void *ud, const char *name, uint64_t size),
    void *ud, struct sp_err *err)
{
	struct blob_s3 *s = (struct blob_s3 *)base;
	struct sp_buf query, body;
	struct s3_req r;
	char token[S3_TOKEN_MAX];
	int st;

	token[0] = '\0';
	sp_buf_init(&query, 4 * S3_TOKEN_MAX);
	sp_buf_init(&body, S3_LIST_BODY_MAX);
	do {
		/* parameters in name order: the canonical query */
		sp_buf_reset(&query);
		sp_buf_reset(&body);
		st = SP_OK;
		if (token[0] != '\0' && (st = sp_buf_append_str(&query, "continuation-token=")) ==
		    SP_OK && (st = uri_encode(&query, token)) == SP_OK)
			st = sp_buf_append_str(&query, "&");
		if (st == SP_OK)
			st = sp_buf_printf(&query, "list-type=2&max-keys=%d", s->max_keys);
		if (st != SP_OK) {
			st = sp_err_set(err, SP_ERR_NOMEM, "out of memory");
			break;
		}
		req_init(&r, "GET", NULL, err);
		r.query = (const char *)query.data;
		r.body = &body;
		st = s3_perform(s, &r);
		req_done(&r);
		if (st == SP_OK && body.data == NULL)
			st = sp_err_set(err, SP_ERR_IO, "the object store at %s sent an empty "
			    "listing", s->endpoint);
		if (st == SP_OK)
			st = sp_blob_s3_parse_list((const char *)body.data, body.len, cb, ud, token,
			    sizeof(token), err);
	} while (st == SP_OK && token[0] != '\0');
	sp_buf_free(&query);
	sp_buf_free(&body);
	return st;
}

static void
s3_close(struct sp_blobstore *base)
{
	struct blob_s3 *s = (struct blob_s3 *)base;

	if (s->secret != NULL)
		sp_wipe(s->secret, strlen(s->secret));
	free(s->secret);
	free(s->key_id);
	free(s->endpoint);
	free(s->bucket);
	free(s->sigv4);
	free(s->tmpdir);
	free(s);
	curl_global_cleanup();
}

static const struct sp_blob_ops s3_ops = {
	s3_put, s3_get, s3_del, s3_stat, s3_each, s3_close,
};

/* 1 when s[0..n) is 1..max characters, each accepted by ok(). */
static int
field_ok(const char *s, size_t n, size_t max, int (*ok)(int))
{
	size_t i;

	if (n == 0 || n > max)
		return 0;
	for (i = 0; i < n; i++)
		if (!ok((unsigned char)s[i]))
			return 0;
	return 1;
}

static int
key_id_char(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	    c == '-' || c == '_' || c == '.' || c == '+';
}

static int
secret_char(int c)
{
	return c > ' ' && c < 0x7f;
}

/* The key file: access key id and secret, one a line, owner-only. */
static int
read_key_file(struct blob_s3 *s, const char *path, struct sp_err *err)
{
	char buf[S3_KEY_FILE_MAX + 1];
	struct stat sb;
	size_t len = 0, l1, l2;
	ssize_t n;
	char *nl, *sec, *rest;
	int st = SP_OK, fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return sp_err_set(err, SP_ERR_CONFIG, "S3 key file %s: %s", path, strerror(errno));
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || (sb.st_mode & 077) != 0) {
		close(fd);
		return sp_err_set(err, SP_ERR_CONFIG, "S3 key file %s: not a regular file readable "
		    "only by its owner (chmod 600)", path);
	}
	while (len < sizeof(buf) - 1 && (n = read(fd, buf + len, sizeof(buf) - 1 - len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			st = sp_err_set(err, SP_ERR_CONFIG, "S3 key file %s: %s", path, strerror(errno));
			break;
		}
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	if (st == SP_OK && len >= sizeof(buf) - 1)
		st = sp_err_set(err, SP_ERR_CONFIG, "S3 key file %s: longer than %d bytes", path,
		    S3_KEY_FILE_MAX);
	if (st == SP_OK) {
		/* line 1: key id; line 2: secret; then only empty lines */
		nl = memchr(buf, '\n', len);
		sec = nl ? nl + 1 : buf + len;
		l1 = nl ? (size_t)(nl - buf) : len;
		if (l1 > 0 && buf[l1 - 1] == '\r')
			l1--;
		rest = memchr(sec, '\n', (size_t)(buf + len - sec));
		l2 = rest ? (size_t)(rest - sec) : (size_t)(buf + len - sec);
		if (l2 > 0 && sec[l2 - 1] == '\r')
			l2--;
		if (rest != NULL)
			for (rest++; rest < buf + len && st == SP_OK; rest++)
				if (*rest != '\n' && *rest != '\r')
					st = sp_err_set(err, SP_ERR_CONFIG, "S3 key file %s: more than "
					    "two lines", path);
		if (st == SP_OK && (nl == NULL || !field_ok(buf, l1, 128, key_id_char) ||
		    !field_ok(sec, l2, 256, secret_char)))
			st = sp_err_set(err, SP_ERR_CONFIG, "S3 key file %s: expected two lines, the "
			    "access key id and the secret", path);
		if (st == SP_OK && ((s->key_id = strndup(buf, l1)) == NULL ||
		    (s->secret = strndup(sec, l2)) == NULL))
			st = sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	}
	sp_wipe(buf, sizeof(buf));
	return st;
}

int
sp_blob_s3_open(struct sp_blobstore **out, const struct sp_blob_s3_conf *c, struct sp_err *err)
{
	struct blob_s3 *s;
	struct stat sb;
	int st;

	if (stat(c->tmpdir, &sb) != 0 || !S_ISDIR(sb.st_mode))
		return sp_err_set(err, SP_ERR_CONFIG, "%s: not a directory for downloads", c->tmpdir);
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		free(s);
		return sp_err_set(err, SP_ERR_INTERNAL, "libcurl would not start");
	}
	s->base.ops = &s3_ops;
	s->timeout_s = c->timeout_s;
	s->max_keys = c->max_keys;
	if ((st = read_key_file(s, c->key_file, err)) != SP_OK) {
		s3_close(&s->base);
		return st;
	}
	s->endpoint = strdup(c->endpoint);
	s->bucket = strdup(c->bucket);
	s->tmpdir = strdup(c->tmpdir);
	s->sigv4 = malloc(strlen(c->region) + sizeof("aws:amz::s3"));
	if (s->endpoint == NULL || s->bucket == NULL || s->tmpdir == NULL || s->sigv4 == NULL) {
		s3_close(&s->base);
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	}
	snprintf(s->sigv4, strlen(c->region) + sizeof("aws:amz::s3"), "aws:amz:%s:s3", c->region);
	*out = &s->base;
	return SP_OK;
}

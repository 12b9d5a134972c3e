/*
 * blobstore_test.c - the blob store: object names, store URLs and key
 * files, the directory backend (put, get, stat, delete, each, atomic
 * replace, short input, leftovers, 4 threads at once), the S3 listing
 * scanner, and an S3 store that cannot be reached.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "blobstore.h"
#include "blobstore_internal.h"
#include "t.h"

static char root[256];

static void
path_in(char *out, size_t n, const char *rel)
{
	snprintf(out, n, "%s/%s", root, rel);
}

/* A temporary file holding len bytes of pattern(seed); returns its fd. */
static int
make_input(size_t len, unsigned seed)
{
	char p[300];
	unsigned char buf[4096];
	size_t done = 0, i;
	int fd;

	path_in(p, sizeof(p), "input-XXXXXX");
	fd = mkstemp(p);
	unlink(p);
	while (done < len) {
		size_t n = len - done < sizeof(buf) ? len - done : sizeof(buf);

		for (i = 0; i < n; i++)
			buf[i] = (unsigned char)((done + i) * 31 + seed + ((done + i) >> 11));
		if (write(fd, buf, n) != (ssize_t)n)
			break;
		done += n;
	}
	return fd;
}

/* 1 when fd (from offset 0) holds exactly what make_input(len, seed) made. */
static int
holds_pattern(int fd, size_t len, unsigned seed)
{
	unsigned char buf[4096];
	size_t done = 0, i;
	ssize_t n;

	while ((n = pread(fd, buf, sizeof(buf), (off_t)done)) > 0) {
		for (i = 0; i < (size_t)n; i++)
			if (buf[i] != (unsigned char)((done + i) * 31 + seed + ((done + i) >> 11)))
				return 0;
		done += (size_t)n;
	}
	return n == 0 && done == len;
}

static int
put_text(struct sp_blobstore *b, const char *name, const char *text)
{
	int fd = make_input(0, 0), st;

	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		return SP_ERR_IO;
	st = sp_blob_put_fd(b, name, fd, strlen(text), NULL);
	close(fd);
	return st;
}

/* Entries of dir whose name starts with prefix. */
static int
count_prefixed(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
			n++;
	closedir(d);
	return n;
}

static void
test_names(void)
{
	static const struct {
		const char *name;
		int ok;
	} cases[] = {
		{"x.ct", 1}, {"AbC-09_.z", 1}, {"a", 1}, {"a.", 1}, {"x..y", 1},
		{"", 0}, {"../x", 0}, {"..", 0}, {".", 0}, {".hidden", 0}, {"a/b", 0},
		{"/abs", 0}, {"a b", 0}, {"a\\b", 0}, {"a\nb", 0}, {"a\x01", 0}, {"caf\xc3\xa9", 0},
		{"a:b", 0}, {"a%2fb", 0}, {"a?b", 0}, {"~x", 0},
	};
	char long_name[SP_BLOB_NAME_MAX + 2];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (sp_blob_name_ok(cases[i].name) != cases[i].ok) {
			t_fail++;
			fprintf(stderr, "FAIL name '%s': expected %d\n", cases[i].name, cases[i].ok);
		} else {
			t_pass++;
		}
	T_EQ_INT(sp_blob_name_ok(NULL), 0);
	memset(long_name, 'n', SP_BLOB_NAME_MAX);
	long_name[SP_BLOB_NAME_MAX] = '\0';
	T_EQ_INT(sp_blob_name_ok(long_name), 1);		/* 100 */
	long_name[SP_BLOB_NAME_MAX] = 'n';
	long_name[SP_BLOB_NAME_MAX + 1] = '\0';
	T_EQ_INT(sp_blob_name_ok(long_name), 0);		/* 101 */
}

static void
test_bad_names_refused(void)
{
	static const char *const bad[] = {"../x", "", ".hidden", "a/b",
	    "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"};
	struct sp_blobstore *b = NULL;
	struct sp_err err = {{0}};
	char dir[300];
	uint64_t size;
	size_t i;
	int fd, in = make_input(10, 1);

	T_EQ_INT(strlen(bad[4]), 101);
	path_in(dir, sizeof(dir), "names");
	T_EQ_INT(sp_blob_open(&b, dir, NULL, &err), SP_OK);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		T_EQ_INT(sp_blob_put_fd(b, bad[i], in, 10, &err), SP_ERR_INVALID);
		T_CHECK(strstr(err.msg, "not a valid object name") != NULL);
		T_EQ_INT(sp_blob_get_fd(b, bad[i], &fd, &size, &err), SP_ERR_INVALID);
		T_EQ_INT(fd, -1);
		T_EQ_INT(sp_blob_stat(b, bad[i], &size, &err), SP_ERR_INVALID);
		T_EQ_INT(sp_blob_delete(b, bad[i], &err), SP_ERR_INVALID);
	}
	T_EQ_INT(sp_blob_put_fd(b, NULL, in, 10, &err), SP_ERR_INVALID);
	/* nothing was written anywhere: the directory is empty, the parent
	 * holds no "x" */
	T_EQ_INT(count_prefixed(dir, ""), 2);	/* . and .. */
	T_EQ_INT(count_prefixed(root, "x"), 0);
	sp_blob_close(b);
	close(in);
}

static int
collect(void *ud, const char *name, uint64_t size)
{
	char *out = ud;
	size_t n = strlen(out);

	snprintf(out + n, 512 - n, "%s=%llu;", name, (unsigned long long)size);
	return SP_OK;
}

static int
stop_at_first(void *ud, const char *name, uint64_t size)
{
	(*(int *)ud)++;
	return SP_ERR_EXISTS;
}

/* 1 when listing b gives exactly the "name=size;" entries of want (any order) */
static int
lists_as(struct sp_blobstore *b, const char *want)
{
	char got[512] = "", item[128];
	const char *p = want, *e;
	size_t n_got = 0, n_want = 0, i;

	if (sp_blob_each(b, collect, got, NULL) != SP_OK)
		return 0;
	for (i = 0; got[i]; i++)
		n_got += got[i] == ';';
	for (; (e = strchr(p, ';')) != NULL; p = e + 1, n_want++) {
		snprintf(item, sizeof(item), "%.*s", (int)(e - p + 1), p);
		if (strstr(got, item) == NULL)
			return 0;
	}
	return n_got == n_want;
}

static void
test_dir_basics(void)
{
	struct sp_blobstore *b = NULL;
	struct sp_err err = {{0}};
	char dir[300], sub[340], hidden[340];
	struct stat sb;
	uint64_t size = 99;
	int fd = -1, in, calls = 0;

	/* a missing directory (and its parent) is made 0700 */
	path_in(dir, sizeof(dir), "made/copies");
	T_EQ_INT(sp_blob_open(&b, dir, NULL, &err), SP_OK);
	T_CHECK(stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode) && (sb.st_mode & 0777) == 0700);
	path_in(sub, sizeof(sub), "made");
	T_CHECK(stat(sub, &sb) == 0 && (sb.st_mode & 0777) == 0700);

	T_EQ_INT(sp_blob_stat(b, "a.ct", &size, &err), SP_ERR_NOTFOUND);
	T_CHECK(strstr(err.msg, "no object a.ct") != NULL);
	T_EQ_INT(sp_blob_get_fd(b, "a.ct", &fd, &size, &err), SP_ERR_NOTFOUND);
	T_EQ_INT(fd, -1);
	T_EQ_INT(sp_blob_delete(b, "a.ct", &err), SP_OK);	/* absent is fine */
	T_CHECK(lists_as(b, ""));

	T_EQ_INT(put_text(b, "a.ct", "hello"), SP_OK);
	T_EQ_INT(put_text(b, "b.ct", ""), SP_OK);		/* empty objects exist */
	T_EQ_INT(sp_blob_stat(b, "a.ct", &size, &err), SP_OK);
	T_EQ_INT(size, 5);
	T_EQ_INT(sp_blob_stat(b, "b.ct", &size, &err), SP_OK);
	T_EQ_INT(size, 0);
	snprintf(sub, sizeof(sub), "%s/a.ct", dir);
	T_CHECK(stat(sub, &sb) == 0 && (sb.st_mode & 0777) == 0600);

	T_EQ_INT(sp_blob_get_fd(b, "a.ct", &fd, &size, &err), SP_OK);
	T_EQ_INT(size, 5);
	T_CHECK(fd >= 0 && lseek(fd, 0, SEEK_CUR) == 0);
	T_CHECK((fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
	T_CHECK((fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDONLY);
	{
		char buf[16] = {0};

		T_EQ_INT(read(fd, buf, sizeof(buf)), 5);
		T_CHECK(memcmp(buf, "hello", 5) == 0);
	}
	close(fd);

	/* each: valid names only, regular files only; a status stops it */
	snprintf(hidden, sizeof(hidden), "%s/.hidden", dir);
	in = open(hidden, O_WRONLY | O_CREAT, 0600);
	close(in);
	snprintf(sub, sizeof(sub), "%s/subdir", dir);
	mkdir(sub, 0700);
	T_CHECK(lists_as(b, "a.ct=5;b.ct=0;"));
	T_EQ_INT(sp_blob_each(b, stop_at_first, &calls, &err), SP_ERR_EXISTS);
	T_EQ_INT(calls, 1);
	/* a directory under a valid name is not an object */
	T_EQ_INT(sp_blob_stat(b, "subdir", &size, &err), SP_ERR_IO);

	T_EQ_INT(sp_blob_delete(b, "a.ct", &err), SP_OK);
	T_EQ_INT(sp_blob_stat(b, "a.ct", &size, &err), SP_ERR_NOTFOUND);
	T_CHECK(lists_as(b, "b.ct=0;"));
	sp_blob_close(b);

	/* a symbolic link is never followed */
	path_in(sub, sizeof(sub), "made/copies/link.ct");
	T_EQ_INT(symlink("/etc/hostname", sub), 0);
	T_EQ_INT(sp_blob_open(&b, dir, NULL, &err), SP_OK);
	T_EQ_INT(sp_blob_get_fd(b, "link.ct", &fd, &size, &err), SP_ERR_NOTFOUND);
	T_CHECK(lists_as(b, "b.ct=0;"));
	sp_blob_close(b);
	sp_blob_close(NULL);
}

static void
test_dir_replace_and_short_input(void)
{
	struct sp_blobstore *b = NULL;
	struct sp_err err = {{0}};
	char dir[300], old_tmp[340], new_tmp[340];
	struct timeval tv[2];
	uint64_t size;
	int fd, in;

	path_in(dir, sizeof(dir), "replace");
	T_EQ_INT(sp_blob_open(&b, dir, NULL, &err), SP_OK);
	T_EQ_INT(put_text(b, "x.ct", "the old object"), SP_OK);
	T_EQ_INT(put_text(b, "x.ct", "new"), SP_OK);
	T_EQ_INT(sp_blob_get_fd(b, "x.ct", &fd, &size, &err), SP_OK);
	T_EQ_INT(size, 3);
	close(fd);

	/* input shorter than the size given: an error, the old object stays,
	 * no temporary file is left */
	in = make_input(1000, 7);
	T_EQ_INT(sp_blob_put_fd(b, "x.ct", in, 5000, &err), SP_ERR_IO);
	T_CHECK(strstr(err.msg, "input ends after 1000 of 5000 bytes") != NULL);
	T_EQ_INT(sp_blob_stat(b, "x.ct", &size, &err), SP_OK);
	T_EQ_INT(size, 3);
	T_EQ_INT(count_prefixed(dir, ".tmp-"), 0);
	/* only size bytes are taken from a longer input */
	T_EQ_INT(sp_blob_put_fd(b, "x.ct", in, 600, &err), SP_OK);
	T_EQ_INT(sp_blob_stat(b, "x.ct", &size, &err), SP_OK);
	T_EQ_INT(size, 600);
	close(in);
	/* an input that cannot be read */
	T_EQ_INT(sp_blob_put_fd(b, "x.ct", in, 600, &err), SP_ERR_IO);
	T_EQ_INT(sp_blob_stat(b, "x.ct", &size, &err), SP_OK);
	T_EQ_INT(size, 600);
	sp_blob_close(b);

	/* leftovers of a crash: removed on open once an hour old */
	snprintf(old_tmp, sizeof(old_tmp), "%s/.tmp-1-1", dir);
	snprintf(new_tmp, sizeof(new_tmp), "%s/.tmp-1-2", dir);
	close(open(old_tmp, O_WRONLY | O_CREAT, 0600));
	close(open(new_tmp, O_WRONLY | O_CREAT, 0600));
	gettimeofday(&tv[0], NULL);
	tv[0].tv_sec -= 7200;
	tv[1] = tv[0];
	T_EQ_INT(utimes(old_tmp, tv), 0);
	T_EQ_INT(sp_blob_open(&b, dir, NULL, &err), SP_OK);
	T_CHECK(access(old_tmp, F_OK) != 0);
	T_CHECK(access(new_tmp, F_OK) == 0);
	T_CHECK(lists_as(b, "x.ct=600;"));
	sp_blob_close(b);
}

static void
test_dir_big(void)
{
	const size_t len = 5 * 1024 * 1024 + 123;
	struct sp_blobstore *b = NULL;
	struct sp_err err = {{0}};
	char dir[300];
	uint64_t size;
	int fd, in = make_input(len, 3);

	path_in(dir, sizeof(dir), "big");
	T_EQ_INT(sp_blob_open(&b, dir, NULL, &err), SP_OK);
	/* the input's own offset is neither used nor moved */
	T_CHECK(lseek(in, 77, SEEK_SET) == 77);
	T_EQ_INT(sp_blob_put_fd(b, "big.ct", in, len, &err), SP_OK);
	T_CHECK(lseek(in, 0, SEEK_CUR) == 77);
	T_EQ_INT(sp_blob_get_fd(b, "big.ct", &fd, &size, &err), SP_OK);
	T_EQ_INT(size, len);
	T_CHECK(holds_pattern(fd, len, 3));
	close(fd);
	close(in);
	sp_blob_close(b);
}

/* --- 4 threads on one handle --------------------------------------------- */

#define THREADS 4
#define ROUNDS 25

struct worker {
	struct sp_blobstore *b;
	int id;
	int errors;
};

static int
count_entry(void *ud, const char *name, uint64_t size)
{
	(*(int *)ud)++;
	return SP_OK;
}

/* Every thread writes objects of its own and replaces one shared object
 * with contents whose size and bytes say who wrote them: a reader must see
 * one writer's whole object, never a mixture or a part. */
static void *
work(void *arg)
{
	struct worker *w = arg;
	char name[32];
	uint64_t size;
	int r, fd, n;

	for (r = 0; r < ROUNDS; r++) {
		size_t len = 20000 + (size_t)w->id * 1000;
		int in = make_input(len, (unsigned)w->id);

		snprintf(name, sizeof(name), "own-%d-%d.ct", w->id, r);
		if (sp_blob_put_fd(w->b, name, in, len, NULL) != SP_OK ||
		    sp_blob_put_fd(w->b, "shared.ct", in, len, NULL) != SP_OK)
			w->errors++;
		close(in);
		if (sp_blob_get_fd(w->b, name, &fd, &size, NULL) != SP_OK) {
			w->errors++;
		} else {
			if (size != len || !holds_pattern(fd, len, (unsigned)w->id))
				w->errors++;
			close(fd);
		}
		if (sp_blob_get_fd(w->b, "shared.ct", &fd, &size, NULL) != SP_OK) {
			w->errors++;
		} else {
			int who = (int)((size - 20000) / 1000);

			if (who < 0 || who >= THREADS || !holds_pattern(fd, (size_t)size, (unsigned)who))
				w->errors++;
			close(fd);
		}
		n = 0;
		if (sp_blob_each(w->b, count_entry, &n, NULL) != SP_OK || n < 2)
			w->errors++;
		if (r % 2 == 0 && (sp_blob_delete(w->b, name, NULL) != SP_OK ||
		    sp_blob_stat(w->b, name, &size, NULL) != SP_ERR_NOTFOUND))
			w->errors++;
	}
	return NULL;
}

static void
test_dir_threads(void)
{
	struct sp_blobstore *b = NULL;
	struct worker w[THREADS];
	pthread_t th[THREADS];
	char dir[300];
	int i, n = 0;

	path_in(dir, sizeof(dir), "threads");
	T_EQ_INT(sp_blob_open(&b, dir, NULL, NULL), SP_OK);
	for (i = 0; i < THREADS; i++) {
		w[i].b = b;
		w[i].id = i;
		w[i].errors = 0;
		T_EQ_INT(pthread_create(&th[i], NULL, work, &w[i]), 0);
	}
	for (i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		T_EQ_INT(w[i].errors, 0);
	}
	T_EQ_INT(sp_blob_each(b, count_entry, &n, NULL), SP_OK);
	/* the odd rounds' objects are kept, and shared.ct */
	T_EQ_INT(n, THREADS * (ROUNDS / 2) + 1);
	T_EQ_INT(count_prefixed(dir, ".tmp-"), 0);
	sp_blob_close(b);
}

/* --- URLs and key files --------------------------------------------------- */

static void
write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	if (fd >= 0) {
		if (write(fd, text, strlen(text)) < 0)
			t_fail++;
		fchmod(fd, mode);
		close(fd);
	}
}

static void
test_urls(void)
{
	struct sp_blobstore *b = NULL;
	struct sp_err err = {{0}};
	char key[300], open_key[300], one_line[300], url[1024], file[300];
	size_t i;

	path_in(key, sizeof(key), "s3.key");
	write_file(key, "AKIDEXAMPLE\r\nwJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY\n\n", 0600);
	path_in(open_key, sizeof(open_key), "open.key");
	write_file(open_key, "AKIDEXAMPLE\nsecret-in-an-open-file\n", 0644);
	path_in(one_line, sizeof(one_line), "one.key");
	write_file(one_line, "AKIDEXAMPLE\n", 0600);
	path_in(file, sizeof(file), "a-file");
	write_file(file, "x", 0600);

	{
		const char *bad[] = {
			"", "relative/dir", "dir:relative", "s3://", "s3://ab?endpoint=http://h&key_file=/k",
			"s3://Bad_Bucket?endpoint=http://h&key_file=/k",
			"s3://bucket?key_file=/k",
			"s3://bucket?endpoint=ftp://h&key_file=/k",
			"s3://bucket?endpoint=http://h/path&key_file=/k",
			"s3://bucket?endpoint=http://user@h&key_file=/k",
			"s3://bucket?endpoint=http://h",
			"s3://bucket?endpoint=http://h&key_file=rel",
			"s3://bucket?endpoint=http://h&key_file=/k&colour=red",
			"s3://bucket?endpoint=http://h&key_file=/k&timeout=0",
			"s3://bucket?endpoint=http://h&key_file=/k&timeout=10x",
			"s3://bucket?endpoint=http://h&key_file=/k&max_keys=1001",
			"s3://bucket?endpoint=http://h&key_file=/k&region=a:b",
			"s3://bucket?endpoint=http%3a%2F%2Fh&key_file=%2",
			"s3://bucket?endpoint",
			"s3://bucket?endpoint=http://h&key_file=/nonexistent/key",
		};

		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			int st = sp_blob_open(&b, bad[i], NULL, &err);

			if (st != SP_ERR_CONFIG || b != NULL) {
				t_fail++;
				fprintf(stderr, "FAIL url '%s' gave %d\n", bad[i], st);
			} else {
				t_pass++;
			}
		}
	}
	/* a file is not a directory */
	T_EQ_INT(sp_blob_open(&b, file, NULL, &err), SP_ERR_CONFIG);

	/* key files: owner-only, two lines; the secret never in a message */
	snprintf(url, sizeof(url), "s3://bucket?endpoint=http://127.0.0.1:1&key_file=%s", open_key);
	T_EQ_INT(sp_blob_open(&b, url, NULL, &err), SP_ERR_CONFIG);
	T_CHECK(strstr(err.msg, "readable only by its owner") != NULL);
	T_CHECK(strstr(err.msg, "secret-in") == NULL);
	snprintf(url, sizeof(url), "s3://bucket?endpoint=http://127.0.0.1:1&key_file=%s", one_line);
	T_EQ_INT(sp_blob_open(&b, url, NULL, &err), SP_ERR_CONFIG);
	T_CHECK(strstr(err.msg, "two lines") != NULL);
	snprintf(url, sizeof(url), "s3://bucket?endpoint=http://127.0.0.1:1&key_file=%s", key);
	T_EQ_INT(sp_blob_open(&b, url, "/nonexistent-dir", &err), SP_ERR_CONFIG);

	/* a good URL opens without the network (%-encoding allowed); an
	 * unreachable endpoint is a temporary failure that names it */
	snprintf(url, sizeof(url), "s3://bucket.example-1/?endpoint=http%%3A%%2F%%2F127.0.0.1%%3A1/"
	    "&region=eu-west-1&timeout=5&max_keys=10&key_file=%s", key);
	T_EQ_INT(sp_blob_open(&b, url, root, &err), SP_OK);
	if (b != NULL) {
		uint64_t size;
		int fd, in = make_input(10, 0);

		T_EQ_INT(sp_blob_stat(b, "x.ct", &size, &err), SP_ERR_RETRY);
		T_CHECK(strstr(err.msg, "cannot reach the object store at http://127.0.0.1:1") != NULL);
		T_CHECK(strstr(err.msg, "wJalr") == NULL);
		T_EQ_INT(sp_blob_get_fd(b, "x.ct", &fd, &size, &err), SP_ERR_RETRY);
		T_EQ_INT(fd, -1);
		T_EQ_INT(sp_blob_put_fd(b, "x.ct", in, 10, &err), SP_ERR_RETRY);
		T_EQ_INT(sp_blob_put_fd(b, "x.ct", in, 11, &err), SP_ERR_IO);	/* short */
		T_EQ_INT(sp_blob_delete(b, "x.ct", &err), SP_ERR_RETRY);
		T_EQ_INT(sp_blob_each(b, count_entry, &fd, &err), SP_ERR_RETRY);
		T_EQ_INT(sp_blob_put_fd(b, "../x", in, 10, &err), SP_ERR_INVALID);
		close(in);
		sp_blob_close(b);
	}
	/* the download directory holds no leftovers */
	T_EQ_INT(count_prefixed(root, ".blob-"), 0);
}

/* --- the S3 listing scanner ------------------------------------------------ */

static void
test_s3_list(void)
{
	static const char page1[] =
	    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
	    "<Name>copies</Name><KeyCount>4</KeyCount><MaxKeys>4</MaxKeys>"
	    "<IsTruncated>true</IsTruncated>"
	    "<Contents><Key>a.ct</Key><LastModified>2026-12-01T00:00:00.000Z</LastModified>"
	    "<ETag>&quot;x&quot;</ETag><Size>12345</Size><StorageClass>STANDARD</StorageClass></Contents>"
	    "<Contents><Key>dir/b.ct</Key><Size>1</Size></Contents>"
	    "<Contents><Key>&amp;c.ct</Key><Size>1</Size></Contents>"
	    "<Contents><Size>18446744073709551615</Size><Key>d.ct</Key></Contents>"
	    "<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=&amp;+x</NextContinuationToken>"
	    "</ListBucketResult>";
	static const char last[] =
	    "<ListBucketResult><IsTruncated>false</IsTruncated>"
	    "<Contents><Key>z.ct</Key><Size>0</Size></Contents></ListBucketResult>";
	static const char *const bad[] = {
		"<Error><Code>AccessDenied</Code></Error>",
		"<ListBucketResult><Contents><Key>a.ct</Key><Size>1</Size>",
		"<ListBucketResult><Contents><Key>a.ct</Key></Contents></ListBucketResult>",
		"<ListBucketResult><Contents><Key>a.ct</Key><Size>1x</Size></Contents></ListBucketResult>",
		"<ListBucketResult><Contents><Key>a.ct</Key><Size></Size></Contents></ListBucketResult>",
		"<ListBucketResult><Contents><Key>a.ct</Key><Size>123456789012345678901</Size></Contents></ListBucketResult>",
		"<ListBucketResult><Contents><Key>a.ct</Contents></ListBucketResult>",
		"<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>",
		"<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",
		"<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>a&bogus;</NextContinuationToken></ListBucketResult>",
		"<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>a b</NextContinuationToken></ListBucketResult>",
		"<ListBucketResult><IsTruncated>true",
	};
	char got[512] = "", next[64];
	struct sp_err err = {{0}};
	size_t i;
	int calls = 0;

	T_EQ_INT(sp_blob_s3_parse_list(page1, sizeof(page1) - 1, collect, got, next, sizeof(next),
	    &err), SP_OK);
	T_CHECK(strcmp(got, "a.ct=12345;d.ct=18446744073709551615;") == 0);
	T_CHECK(strcmp(next, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=&+x") == 0);
	got[0] = '\0';
	T_EQ_INT(sp_blob_s3_parse_list(last, sizeof(last) - 1, collect, got, next, sizeof(next),
	    &err), SP_OK);
	T_CHECK(strcmp(got, "z.ct=0;") == 0);
	T_CHECK(next[0] == '\0');
	/* a token longer than the room is refused, not cut */
	T_EQ_INT(sp_blob_s3_parse_list(page1, sizeof(page1) - 1, collect, got, next, 20, &err),
	    SP_ERR_IO);
	T_CHECK(next[0] == '\0');
	T_EQ_INT(sp_blob_s3_parse_list(page1, sizeof(page1) - 1, stop_at_first, &calls, next,
	    sizeof(next), &err), SP_ERR_EXISTS);
	T_EQ_INT(calls, 1);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int st = sp_blob_s3_parse_list(bad[i], strlen(bad[i]), collect, got, next,
		    sizeof(next), &err);

		if (st != SP_ERR_IO) {
			t_fail++;
			fprintf(stderr, "FAIL listing %zu gave %d\n", i, st);
		} else {
			t_pass++;
		}
	}
	/* a NUL inside the answer */
	T_EQ_INT(sp_blob_s3_parse_list("<ListBucketResult>\0", 19, collect, got, next,
	    sizeof(next), &err), SP_ERR_IO);
}

static void
setup(void)
{
	const char *t = getenv("TMPDIR");

	snprintf(root, sizeof(root), "%s/blobstore-test-XXXXXX", t && *t ? t : "/tmp");
	if (mkdtemp(root) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
}

static void
cleanup(void)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", root);
}

T_MAIN(setup, test_names, test_bad_names_refused, test_dir_basics,
    test_dir_replace_and_short_input, test_dir_big, test_dir_threads, test_urls, test_s3_list,
    cleanup)

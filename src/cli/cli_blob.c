/*
 * cli_blob.c - `sealpost blob`: look after the object store that keeps the
 * key server's ciphertext copies (blobstore.h): put, get, rm, ls and stat
 * one object in a store named by URL.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blobstore.h"
#include "cli.h"
#include "sp.h"

enum {
	BLOB_EX_FAIL = 1,
	BLOB_EX_USAGE = 2,
	BLOB_EX_NOTFOUND = 3,
	BLOB_EX_TEMPFAIL = 75,	/* EX_TEMPFAIL */
	BLOB_EX_CONFIG = 78,	/* EX_CONFIG */
};

#define BLOB_IO_BUF 65536

static void
blob_usage(FILE *f)
{
	fprintf(f,
	    "usage: sealpost blob put|get|rm|ls|stat --store URL [--tmpdir DIR] [NAME] [FILE]\n\n"
	    "Looks after the object store where the key server keeps ciphertext copies.\n\n"
	    "  put NAME [FILE]  store FILE (standard input when FILE is missing or '-')\n"
	    "                   as NAME, replacing an older NAME at once\n"
	    "  get NAME [FILE]  write NAME to FILE (standard output when FILE is missing\n"
	    "                   or '-')\n"
	    "  rm NAME          remove NAME (an absent NAME is not an error)\n"
	    "  ls               list the objects: NAME, a tab, the size in bytes\n"
	    "  stat NAME        print the size of NAME in bytes\n\n"
	    "  --store URL      dir:/PATH (or /PATH): a local directory, made 0700 when\n"
	    "                   missing; or an S3-compatible store:\n"
	    "                   s3://BUCKET?endpoint=http(s)://HOST[:PORT]&key_file=PATH\n"
	    "                   [&region=us-east-1][&timeout=300][&max_keys=1000]\n"
	    "                   (key_file: the access key id and the secret, one a line,\n"
	    "                   readable by its owner only)\n"
	    "  --tmpdir DIR     where S3 downloads and standard input are spooled\n"
	    "                   (default: $TMPDIR, else /tmp)\n\n"
	    "NAME is 1..100 of A-Z a-z 0-9 . _ - and does not start with '.'.\n\n"
	    "Exit status: 0 done, 1 failure, 2 usage error or bad name, 3 no such object,\n"
	    "75 temporary failure (the store cannot be reached or is busy: try again),\n"
	    "78 configuration error (bad URL or key file, access refused, no bucket).\n");
}

static int
blob_exit(int st)
{
	switch (st) {
	case SP_OK: return 0;
	case SP_ERR_INVALID: return BLOB_EX_USAGE;
	case SP_ERR_NOTFOUND: return BLOB_EX_NOTFOUND;
	case SP_ERR_RETRY: return BLOB_EX_TEMPFAIL;
	case SP_ERR_CONFIG: return BLOB_EX_CONFIG;
	}
	return BLOB_EX_FAIL;
}

/* Copy in to out until in ends. */
static int
copy_stream(int in, int out, const char *what, struct sp_err *err)
{
	unsigned char buf[BLOB_IO_BUF];
	ssize_t n, w, k;

	for (;;) {
		if ((n = read(in, buf, sizeof(buf))) == 0)
			return SP_OK;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return sp_err_set(err, SP_ERR_IO, "%s: %s", what, strerror(errno));
		for (w = 0; w < n; w += k)
			if ((k = write(out, buf + w, (size_t)(n - w))) < 0) {
				if (errno == EINTR) {
					k = 0;
					continue;
				}
				return sp_err_set(err, SP_ERR_IO, "%s: %s", what, strerror(errno));
			}
	}
}

/* The input of put as a regular file: FILE itself, or standard input (or a
 * FILE that is a pipe) spooled to an unlinked file in tmpdir. */
static int
open_input(const char *path, const char *tmpdir, int *fd, uint64_t *size, struct sp_err *err)
{
	struct stat sb;
	int in = 0, sp, st;
	off_t end;

	if (path != NULL && strcmp(path, "-") != 0 &&
	    (in = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return sp_err_set(err, SP_ERR_IO, "%s: %s", path, strerror(errno));
	if (fstat(in, &sb) == 0 && S_ISREG(sb.st_mode) && in != 0) {
		*fd = in;
		*size = (uint64_t)sb.st_size;
		return SP_OK;
	}
	if ((sp = open(tmpdir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600)) < 0) {
		st = sp_err_set(err, SP_ERR_IO, "%s: %s", tmpdir, strerror(errno));
	} else if ((st = copy_stream(in, sp, path ? path : "standard input", err)) == SP_OK &&
	    (end = lseek(sp, 0, SEEK_END)) < 0) {
		st = sp_err_set(err, SP_ERR_IO, "%s: %s", tmpdir, strerror(errno));
	} else if (st == SP_OK) {
		*fd = sp;
		*size = (uint64_t)end;
	}
	if (st != SP_OK && sp >= 0)
		close(sp);
	if (in != 0)
		close(in);
	return st;
}

/* get: into FILE through a temporary name beside it, or to stdout. */
static int
write_output(int fd, const char *path, struct sp_err *err)
{
	char *tmp;
	size_t n;
	int out, st;

	if (path == NULL || strcmp(path, "-") == 0)
		return copy_stream(fd, 1, "standard output", err);
	n = strlen(path) + 32;
	if ((tmp = malloc(n)) == NULL)
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	snprintf(tmp, n, "%s.tmp-%ld", path, (long)getpid());
	if ((out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
		st = sp_err_set(err, SP_ERR_IO, "%s: %s", tmp, strerror(errno));
		free(tmp);
		return st;
	}
	st = copy_stream(fd, out, path, err);
	if (close(out) != 0 && st == SP_OK)
		st = sp_err_set(err, SP_ERR_IO, "%s: %s", path, strerror(errno));
	if (st == SP_OK && rename(tmp, path) != 0)
		st = sp_err_set(err, SP_ERR_IO, "%s: %s", path, strerror(errno));
	if (st != SP_OK)
		unlink(tmp);
	free(tmp);
	return st;
}

static int
print_entry(void *ud, const char *name, uint64_t size)
{
	(void)ud;
	printf("%s\t%llu\n", name, (unsigned long long)size);
	return SP_OK;
}

static int
run(struct sp_blobstore *b, const char *verb, const char *name, const char *file,
    const char *tmpdir, struct sp_err *err)
{
	uint64_t size;
	int fd, st;

	if (strcmp(verb, "put") == 0) {
		if (!sp_blob_name_ok(name))	/* before reading any input */
			return sp_blob_put_fd(b, name, -1, 0, err);
		if ((st = open_input(file, tmpdir, &fd, &size, err)) != SP_OK)
			return st;
		st = sp_blob_put_fd(b, name, fd, size, err);
		close(fd);
		return st;
	}
	if (strcmp(verb, "get") == 0) {
		if ((st = sp_blob_get_fd(b, name, &fd, &size, err)) != SP_OK)
			return st;
		st = write_output(fd, file, err);
		close(fd);
		return st;
	}
	if (strcmp(verb, "rm") == 0)
		return sp_blob_delete(b, name, err);
	if (strcmp(verb, "stat") == 0) {
		if ((st = sp_blob_stat(b, name, &size, err)) == SP_OK)
			printf("%llu\n", (unsigned long long)size);
		return st;
	}
	return sp_blob_each(b, print_entry, NULL, err);
}

int
cli_blob_main(int argc, char **argv, const struct cli_global *g)
{
	static const char *const verbs[] = {"put", "get", "rm", "ls", "stat"};
	static const int max_args[] = {2, 2, 1, 0, 1};	/* NAME, FILE */
	const char *store = NULL, *tmpdir = getenv("TMPDIR"), *pos[3] = {NULL, NULL, NULL};
	struct sp_blobstore *b = NULL;
	struct sp_err err = {{0}};
	size_t v;
	int i, npos = 0, st;

	(void)g;
	if (cli_wants_help(argc, argv)) {
		blob_usage(stdout);
		return 0;
	}
	for (v = 0; argc >= 2 && v < sizeof(verbs) / sizeof(verbs[0]); v++)
		if (strcmp(argv[1], verbs[v]) == 0)
			break;
	if (argc < 2 || v == sizeof(verbs) / sizeof(verbs[0])) {
		fprintf(stderr, "sealpost blob: put, get, rm, ls or stat expected\n");
		blob_usage(stderr);
		return BLOB_EX_USAGE;
	}
	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--store") == 0 && i + 1 < argc) {
			store = argv[++i];
		} else if (strcmp(argv[i], "--tmpdir") == 0 && i + 1 < argc) {
			tmpdir = argv[++i];
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			fprintf(stderr, "sealpost blob: unknown option %s\n", argv[i]);
			return BLOB_EX_USAGE;
		} else if (npos < 2) {
			pos[npos++] = argv[i];
		} else {
			npos++;
		}
	}
	if (store == NULL || npos > max_args[v] || (max_args[v] > 0 && npos < 1)) {
		fprintf(stderr, "sealpost blob %s: %s\n", verbs[v], store == NULL ?
		    "--store URL is required" : npos > max_args[v] ? "too many arguments" :
		    "NAME is required");
		return BLOB_EX_USAGE;
	}
	if (tmpdir == NULL || *tmpdir == '\0')
		tmpdir = "/tmp";
	/* the URL holds no secret, but its messages name only what is wrong */
	if ((st = sp_blob_open(&b, store, tmpdir, &err)) == SP_OK) {
		st = run(b, verbs[v], pos[0], pos[1], tmpdir, &err);
		sp_blob_close(b);
	}
	if (fflush(stdout) != 0 && st == SP_OK)
		st = sp_err_set(&err, SP_ERR_IO, "standard output: %s", strerror(errno));
	if (st != SP_OK)
		fprintf(stderr, "sealpost blob %s: %s\n", verbs[v], sp_err_msg(&err, st));
	return blob_exit(st);
}

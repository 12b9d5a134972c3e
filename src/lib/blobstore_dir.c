/*
 * blobstore_dir.c - the blob store's local directory backend: each object
 * is a regular file named as the object in one directory (0700).  A put
 * writes a temporary file in the same directory (".tmp-..." names, which
 * are never valid object names), syncs it, renames it over the object and
 * syncs the directory, so readers see the old file or the whole new one and
 * a crash leaves no half object.  Temporary files a crash left behind are
 * removed when a handle opens, once they are an hour old.
 * SECURITY: every access goes through the directory's descriptor with
 * O_NOFOLLOW, on names the dispatcher checked; files are created 0600.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "blobstore_internal.h"

#define TMP_PREFIX ".tmp-"
#define TMP_STALE_S 3600	/* age of a leftover temporary file that is removed */

struct blob_dir {
	struct sp_blobstore base;
	int dirfd;
	char *path;
};

static atomic_ulong tmp_seq;

/* mkdir -p with mode 0700 for every directory made. */
static int
make_dirs(const char *path, struct sp_err *err)
{
	char *p = strdup(path), *s;
	int st = SP_OK;

	if (p == NULL)
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	for (s = p + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;

		*s = '\0';
		if (mkdir(p, 0700) != 0 && errno != EEXIST) {
			st = sp_err_set(err, SP_ERR_CONFIG, "%s: %s", p, strerror(errno));
			break;
		}
		*s = c;
		if (c == '\0')
			break;
	}
	free(p);
	return st;
}

/* Remove temporary files older than TMP_STALE_S (best effort). */
static void
sweep_tmp(int dirfd)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dp = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	struct stat sb;
	time_t now = time(NULL);

	if (dp == NULL) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(dp)) != NULL)
		if (strncmp(de->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) == 0 &&
		    fstatat(dirfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(sb.st_mode) && sb.st_mtime + TMP_STALE_S < now)
			unlinkat(dirfd, de->d_name, 0);
	closedir(dp);
}

/* Copy size bytes from in (offset 0, pread) to out (its own offset):
 * copy_file_range where the kernel and file systems allow it, else a
 * bounded buffer. */
static int
copy_in(int in, int out, uint64_t size, const char *what, struct sp_err *err)
{
	uint64_t done = 0;
	loff_t off = 0;
	unsigned char *buf = NULL;
	int st = SP_OK;

	while (done < size) {
		size_t want = size - done > (1u << 30) ? (1u << 30) : (size_t)(size - done);
		ssize_t n = copy_file_range(in, &off, out, NULL, want, 0);

		if (n > 0) {
			done += (uint64_t)n;
			continue;
		}
		if (n == 0)
			return sp_err_set(err, SP_ERR_IO, "%s: input ends after %llu of %llu bytes",
			    what, (unsigned long long)done, (unsigned long long)size);
		if (errno == EINTR)
			continue;
		if (errno != EXDEV && errno != ENOSYS && errno != EINVAL && errno != EOPNOTSUPP &&
		    errno != EBADF && errno != ETXTBSY && errno != EPERM)
			return sp_err_set(err, SP_ERR_IO, "%s: %s", what, strerror(errno));
		break;
	}
	if (done == size)
		return SP_OK;
	if ((buf = malloc(SP_BLOB_COPY_BUF)) == NULL)
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	while (done < size && st == SP_OK) {
		size_t want = size - done > SP_BLOB_COPY_BUF ? SP_BLOB_COPY_BUF : (size_t)(size - done);
		ssize_t n = pread(in, buf, want, (off_t)done), w = 0;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			st = sp_err_set(err, SP_ERR_IO, "%s: reading the input: %s", what,
			    strerror(errno));
			break;
		}
		if (n == 0) {
			st = sp_err_set(err, SP_ERR_IO, "%s: input ends after %llu of %llu bytes",
			    what, (unsigned long long)done, (unsigned long long)size);
			break;
		}
		while (w < n) {
			ssize_t k = write(out, buf + w, (size_t)(n - w));

			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0) {
				st = sp_err_set(err, SP_ERR_IO, "%s: %s", what, strerror(errno));
				break;
			}
			w += k;
		}
		done += (uint64_t)n;
	}
	free(buf);
	return st;
}

static int
dir_put(struct sp_blobstore *base, const char *name, int fd, uint64_t size, struct sp_err *err)
{
	struct blob_dir *d = (struct blob_dir *)base;
	char tmp[64];
	int out = -1, st, tries;

	for (tries = 0; tries < 100 && out < 0; tries++) {
		snprintf(tmp, sizeof(tmp), TMP_PREFIX "%ld-%lu", (long)getpid(),
		    atomic_fetch_add(&tmp_seq, 1));
		out = openat(d->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		    0600);
		if (out < 0 && errno != EEXIST)
			return sp_err_set(err, SP_ERR_IO, "%s/%s: %s", d->path, tmp, strerror(errno));
	}
	if (out < 0)
		return sp_err_set(err, SP_ERR_IO, "%s: no free temporary name", d->path);
	st = copy_in(fd, out, size, name, err);
	if (st == SP_OK && fsync(out) != 0)
		st = sp_err_set(err, SP_ERR_IO, "%s/%s: %s", d->path, tmp, strerror(errno));
	if (close(out) != 0 && st == SP_OK)
		st = sp_err_set(err, SP_ERR_IO, "%s/%s: %s", d->path, tmp, strerror(errno));
	if (st == SP_OK && renameat(d->dirfd, tmp, d->dirfd, name) != 0)
		st = sp_err_set(err, SP_ERR_IO, "%s/%s: %s", d->path, name, strerror(errno));
	if (st != SP_OK) {
		unlinkat(d->dirfd, tmp, 0);
		return st;
	}
	/* the new name is durable once the directory is synced */
	if (fsync(d->dirfd) != 0)
		return sp_err_set(err, SP_ERR_IO, "%s: %s", d->path, strerror(errno));
	return SP_OK;
}

static int
dir_get(struct sp_blobstore *base, const char *name, int *fd, uint64_t *size,
    struct sp_err *err)
{
	struct blob_dir *d = (struct blob_dir *)base;
	struct stat sb;
	int f = openat(d->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (f < 0 && (errno == ENOENT || errno == ELOOP))
		return sp_err_set(err, SP_ERR_NOTFOUND, "no object %s", name);
	if (f < 0)
		return sp_err_set(err, SP_ERR_IO, "%s/%s: %s", d->path, name, strerror(errno));
	if (fstat(f, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		close(f);
		return sp_err_set(err, SP_ERR_IO, "%s/%s: not a regular file", d->path, name);
	}
	*fd = f;
	*size = (uint64_t)sb.st_size;
	return SP_OK;
}

static int
dir_stat(struct sp_blobstore *base, const char *name, uint64_t *size, struct sp_err *err)
{
	struct blob_dir *d = (struct blob_dir *)base;
	struct stat sb;

	if (fstatat(d->dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
		if (errno == ENOENT)
			return sp_err_set(err, SP_ERR_NOTFOUND, "no object %s", name);
		return sp_err_set(err, SP_ERR_IO, "%s/%s: %s", d->path, name, strerror(errno));
	}
	if (!S_ISREG(sb.st_mode))
		return sp_err_set(err, SP_ERR_IO, "%s/%s: not a regular file", d->path, name);
	*size = (uint64_t)sb.st_size;
	return SP_OK;
}

static int
dir_del(struct sp_blobstore *base, const char *name, struct sp_err *err)
{
	struct blob_dir *d = (struct blob_dir *)base;

	if (unlinkat(d->dirfd, name, 0) != 0) {
		if (errno == ENOENT)
			return SP_OK;
		return sp_err_set(err, SP_ERR_IO, "%s/%s: %s", d->path, name, strerror(errno));
	}
	if (fsync(d->dirfd) != 0)
		return sp_err_set(err, SP_ERR_IO, "%s: %s", d->path, strerror(errno));
	return SP_OK;
}

static int
dir_each(struct sp_blobstore *base, int (*cb)(void *ud, const char *name, uint64_t size),
    void *ud, struct sp_err *err)
{
	struct blob_dir *d = (struct blob_dir *)base;
	/* a descriptor and stream of its own, so walks in threads do not meet */
	int fd = openat(d->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dp = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	struct stat sb;
	int st = SP_OK;

	if (dp == NULL) {
		st = sp_err_set(err, SP_ERR_IO, "%s: %s", d->path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return st;
	}
	for (;;) {
		errno = 0;
		if ((de = readdir(dp)) == NULL) {
			if (errno != 0)
				st = sp_err_set(err, SP_ERR_IO, "%s: %s", d->path, strerror(errno));
			break;
		}
		if (!sp_blob_name_ok(de->d_name))
			continue;
		if (fstatat(d->dirfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
			if (errno == ENOENT)
				continue;	/* deleted meanwhile */
			st = sp_err_set(err, SP_ERR_IO, "%s/%s: %s", d->path, de->d_name,
			    strerror(errno));
			break;
		}
		if (!S_ISREG(sb.st_mode))
			continue;
		if ((st = cb(ud, de->d_name, (uint64_t)sb.st_size)) != SP_OK)
			break;
	}
	closedir(dp);
	return st;
}

static void
dir_close(struct sp_blobstore *base)
{
	struct blob_dir *d = (struct blob_dir *)base;

	close(d->dirfd);
	free(d->path);
	free(d);
}

static const struct sp_blob_ops dir_ops = {
	dir_put, dir_get, dir_del, dir_stat, dir_each, dir_close,
};

int
sp_blob_dir_open(struct sp_blobstore **out, const char *path, struct sp_err *err)
{
	struct blob_dir *d;
	int st;

	if (path[0] != '/')
		return sp_err_set(err, SP_ERR_CONFIG, "%s: not an absolute path", path);
	if ((st = make_dirs(path, err)) != SP_OK)
		return st;
	if ((d = calloc(1, sizeof(*d))) == NULL || (d->path = strdup(path)) == NULL) {
		free(d);
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	}
	d->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->dirfd < 0) {
		st = sp_err_set(err, SP_ERR_CONFIG, "%s: %s", path, strerror(errno));
		free(d->path);
		free(d);
		return st;
	}
	sweep_tmp(d->dirfd);
	d->base.ops = &dir_ops;
	*out = &d->base;
	return SP_OK;
}

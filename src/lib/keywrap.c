/*
 * keywrap.c - master key files and AES-256-GCM wrapping of server key parts
 * (keywrap.h): the local implementation, the key directory of a data
 * directory, adding a key, and the public functions that dispatch to either
 * implementation (the remote one is keywrap_remote.c).
 * SECURITY: reads and creates secret key files; keys are wiped on free.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keywrap_internal.h"

struct kw_local {
	struct sp_keywrap base;
	size_t n;
	uint32_t id[SP_KEYWRAP_MAX_KEYS];
	unsigned char key[SP_KEYWRAP_MAX_KEYS][SP_KEY_LEN];
	uint32_t current;
};

/* "master-N.key" -> N (1..2^31 - 1), else 0. */
static uint32_t
key_file_id(const char *name)
{
	const char *p;
	char *end;
	long v;

	if (strncmp(name, "master-", 7) != 0)
		return 0;
	p = name + 7;
	if (*p < '1' || *p > '9')
		return 0;
	errno = 0;
	v = strtol(p, &end, 10);
	if (errno != 0 || v <= 0 || v > 0x7fffffffL || strcmp(end, ".key") != 0)
		return 0;
	return (uint32_t)v;
}

static int
read_key(int dirfd, const char *dname, const char *name, unsigned char key[SP_KEY_LEN],
    struct sp_err *err)
{
	struct stat sb;
	ssize_t r;
	unsigned char extra;
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return sp_err_set(err, SP_ERR_CONFIG, "%s/%s: %s", dname, name, strerror(errno));
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || (sb.st_mode & 077) != 0) {
		close(fd);
		return sp_err_set(err, SP_ERR_CONFIG,
		    "%s/%s: not a regular file readable only by its owner", dname, name);
	}
	r = read(fd, key, SP_KEY_LEN);
	if (r != SP_KEY_LEN || read(fd, &extra, 1) != 0) {
		close(fd);
		sp_wipe(key, SP_KEY_LEN);
		return sp_err_set(err, SP_ERR_CONFIG, "%s/%s: not a %d-byte key", dname, name,
		    SP_KEY_LEN);
	}
	close(fd);
	return SP_OK;
}

/* Write key to dirfd/name: a temporary file, synced, then linked into
 * place, so the name appears complete or not at all, and link()'s O_EXCL
 * semantics keep two processes starting together from making two keys
 * (SP_ERR_EXISTS: the other won).  As root, the file gets the owner of
 * dirfd/like (the key before it, which the key holder reads) or, without
 * one, dir's owner. */
static int
write_key(int dirfd, const char *dname, const char *name, const char *like,
    const unsigned char key[SP_KEY_LEN], struct sp_err *err)
{
	struct stat dsb;
	char tmp[64];
	int fd, e, have;

	snprintf(tmp, sizeof(tmp), ".%.30s.tmp.%ld", name, (long)getpid());
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return sp_err_set(err, SP_ERR_CONFIG, "%s/%s: %s", dname, tmp, strerror(errno));
	have = like != NULL && fstatat(dirfd, like, &dsb, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISREG(dsb.st_mode);
	if (!have)
		have = fstat(dirfd, &dsb) == 0;
	if (geteuid() == 0 && have && fchown(fd, dsb.st_uid, dsb.st_gid) != 0) {
		e = errno;
		close(fd);
		unlinkat(dirfd, tmp, 0);
		return sp_err_set(err, SP_ERR_IO, "%s/%s: %s", dname, tmp, strerror(e));
	}
	if (write(fd, key, SP_KEY_LEN) != SP_KEY_LEN || fsync(fd) != 0) {
		e = errno;
		close(fd);
		unlinkat(dirfd, tmp, 0);
		return sp_err_set(err, SP_ERR_IO, "%s/%s: %s", dname, tmp, strerror(e));
	}
	close(fd);
	if (linkat(dirfd, tmp, dirfd, name, 0) != 0) {
		e = errno;
		unlinkat(dirfd, tmp, 0);
		if (e == EEXIST)
			return sp_err_set(err, SP_ERR_EXISTS, "%s/%s exists", dname, name);
		return sp_err_set(err, SP_ERR_CONFIG, "%s/%s: %s", dname, name, strerror(e));
	}
	unlinkat(dirfd, tmp, 0);
	/* the new name is durable only once the directory is synced */
	fsync(dirfd);
	return SP_OK;
}

static const unsigned char *
find_key(const struct kw_local *kw, uint32_t id)
{
	size_t i;

	for (i = 0; i < kw->n; i++)
		if (kw->id[i] == id)
			return kw->key[i];
	return NULL;
}

static int
local_wrap(struct sp_keywrap *base, const char *aad, const unsigned char *part,
    unsigned char *out, uint32_t *key_id, struct sp_err *err)
{
	struct kw_local *kw = (struct kw_local *)base;
	const unsigned char *k = find_key(kw, kw->current);
	int st;

	if (k == NULL)
		return sp_err_set(err, SP_ERR_INTERNAL, "no current master key");
	if ((st = sp_random(out, SP_GCM_NONCE_LEN)) != SP_OK)
		return sp_err_set(err, st, "no randomness");
	if ((st = sp_gcm_seal(k, out, aad, strlen(aad), part, SP_KEY_LEN,
	    out + SP_GCM_NONCE_LEN)) != SP_OK)
		return sp_err_set(err, st, "wrapping failed");
	*key_id = kw->current;
	return SP_OK;
}

static int
local_unwrap(struct sp_keywrap *base, uint32_t key_id, const char *aad,
    const unsigned char *in, size_t inlen, unsigned char *part, struct sp_err *err)
{
	struct kw_local *kw = (struct kw_local *)base;
	const unsigned char *k = find_key(kw, key_id);

	if (k == NULL)
		return sp_err_set(err, SP_ERR_NOTFOUND, "master key %u is not loaded", key_id);
	if (inlen != SP_KEYWRAP_LEN)
		return sp_err_set(err, SP_ERR_AUTH, "wrapped key has the wrong size");
	if (sp_gcm_open(k, in, aad, strlen(aad), in + SP_GCM_NONCE_LEN,
	    SP_KEY_LEN + SP_GCM_TAG_LEN, part) != SP_OK)
		return sp_err_set(err, SP_ERR_AUTH, "wrapped key does not authenticate");
	return SP_OK;
}

static uint32_t
local_current(struct sp_keywrap *base)
{
	return ((struct kw_local *)base)->current;
}

static int
local_alive(struct sp_keywrap *base)
{
	return 1;
}

static void
local_free(struct sp_keywrap *base)
{
	sp_wipe(base, sizeof(struct kw_local));
	free(base);
}

static const struct sp_keywrap_ops local_ops = {
	local_wrap, local_unwrap, local_current, local_alive, local_free,
};

int
sp_keywrap_load_at(struct sp_keywrap **out, int dirfd, const char *dname, int create,
    struct sp_err *err)
{
	struct kw_local *kw;
	struct dirent *de;
	DIR *d;
	uint32_t id;
	int st = SP_OK, fd;

	*out = NULL;
	if ((kw = calloc(1, sizeof(*kw))) == NULL)
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	kw->base.ops = &local_ops;
	/* fdopendir() takes its descriptor: give it a copy, rewound */
	if ((fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    (d = fdopendir(fd)) == NULL) {
		st = sp_err_set(err, SP_ERR_CONFIG, "%s: %s", dname, strerror(errno));
		if (fd >= 0)
			close(fd);
		free(kw);
		return st;
	}
	while (st == SP_OK && (de = readdir(d)) != NULL) {
		if ((id = key_file_id(de->d_name)) == 0)
			continue;
		if (kw->n == SP_KEYWRAP_MAX_KEYS) {
			st = sp_err_set(err, SP_ERR_CONFIG, "%s: too many master keys", dname);
			break;
		}
		if ((st = read_key(dirfd, dname, de->d_name, kw->key[kw->n], err)) == SP_OK) {
			kw->id[kw->n++] = id;
			if (id > kw->current)
				kw->current = id;
		}
	}
	closedir(d);
	if (st == SP_OK && kw->n == 0) {
		if (!create)
			st = sp_err_set(err, SP_ERR_CONFIG, "%s: no master key", dname);
		else if ((st = sp_random(kw->key[0], SP_KEY_LEN)) != SP_OK)
			sp_err_set(err, st, "no randomness for the master key");
		else if ((st = write_key(dirfd, dname, "master-1.key", NULL, kw->key[0], err)) ==
		    SP_ERR_EXISTS)
			st = read_key(dirfd, dname, "master-1.key", kw->key[0], err);
		if (st == SP_OK) {
			kw->id[0] = kw->current = 1;
			kw->n = 1;
		}
	}
	if (st != SP_OK) {
		local_free(&kw->base);
		return st;
	}
	*out = &kw->base;
	return SP_OK;
}

int
sp_keywrap_load(struct sp_keywrap **out, const char *dir, int create, struct sp_err *err)
{
	int fd, st;

	*out = NULL;
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return sp_err_set(err, SP_ERR_CONFIG, "%s: %s", dir, strerror(errno));
	st = sp_keywrap_load_at(out, fd, dir, create, err);
	close(fd);
	return st;
}

int
sp_keywrap_dir(const char *data_dir, char *out, size_t outsz, int *old_layout,
    struct sp_err *err)
{
	struct dirent *de;
	struct stat sb;
	DIR *d;
	int old = 0;

	if (old_layout != NULL)
		*old_layout = 0;
	if ((size_t)snprintf(out, outsz, "%s/%s", data_dir, SP_KEYWRAP_SUBDIR) >= outsz)
		return sp_err_set(err, SP_ERR_CONFIG, "data directory path too long");
	if (lstat(out, &sb) == 0 || errno != ENOENT)
		return SP_OK;
	if ((d = opendir(data_dir)) == NULL)
		return SP_OK;	/* the caller will say what is wrong */
	while (!old && (de = readdir(d)) != NULL)
		old = key_file_id(de->d_name) != 0;
	closedir(d);
	if (old) {
		snprintf(out, outsz, "%s", data_dir);
		if (old_layout != NULL)
			*old_layout = 1;
	}
	return SP_OK;
}

int
sp_keywrap_add_key(const char *dir, uint32_t *id, struct sp_err *err)
{
	struct dirent *de;
	unsigned char key[SP_KEY_LEN];
	char name[32], prev[32];
	uint32_t top = 0, v;
	DIR *d;
	int fd, st, nkeys = 0;

	*id = 0;
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return sp_err_set(err, SP_ERR_CONFIG, "%s: %s", dir, strerror(errno));
	if ((d = opendir(dir)) == NULL) {
		close(fd);
		return sp_err_set(err, SP_ERR_CONFIG, "%s: %s", dir, strerror(errno));
	}
	while ((de = readdir(d)) != NULL)
		if ((v = key_file_id(de->d_name)) > 0 && (nkeys++, v > top))
			top = v;
	closedir(d);
	if (nkeys >= SP_KEYWRAP_MAX_KEYS) {
		/* one more would not load: the key holder would not start */
		close(fd);
		return sp_err_set(err, SP_ERR_CONFIG, "%s: %d master keys already, the most that "
		    "load: run `sealpost key rewrap`, then move the old keys away", dir,
		    SP_KEYWRAP_MAX_KEYS);
	}
	if (top >= 0x7fffffffu) {
		close(fd);
		return sp_err_set(err, SP_ERR_CONFIG, "%s: no key id left", dir);
	}
	snprintf(name, sizeof(name), "master-%u.key", top + 1);
	snprintf(prev, sizeof(prev), "master-%u.key", top);
	if ((st = sp_random(key, sizeof(key))) == SP_OK)
		st = write_key(fd, dir, name, top > 0 ? prev : NULL, key, err);
	else
		sp_err_set(err, st, "no randomness for the master key");
	sp_wipe(key, sizeof(key));
	close(fd);
	if (st == SP_OK)
		*id = top + 1;
	return st;
}

void
sp_keywrap_free(struct sp_keywrap *kw)
{
	if (kw != NULL)
		kw->ops->free(kw);
}

uint32_t
sp_keywrap_current(struct sp_keywrap *kw)
{
	return kw->ops->current(kw);
}

int
sp_keywrap_alive(struct sp_keywrap *kw)
{
	return kw->ops->alive(kw);
}

int
sp_keywrap_wrap(struct sp_keywrap *kw, const char *aad,
    const unsigned char part[SP_KEY_LEN], unsigned char out[SP_KEYWRAP_LEN],
    uint32_t *key_id, struct sp_err *err)
{
	return kw->ops->wrap(kw, aad, part, out, key_id, err);
}

int
sp_keywrap_unwrap(struct sp_keywrap *kw, uint32_t key_id, const char *aad,
    const unsigned char *in, size_t inlen, unsigned char part[SP_KEY_LEN],
    struct sp_err *err)
{
	return kw->ops->unwrap(kw, key_id, aad, in, inlen, part, err);
}

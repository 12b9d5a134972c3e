/*
 * keywrap.c - master key files and AES-256-GCM wrapping of server key parts
 * (keywrap.h).
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

#include "keywrap.h"

struct sp_keywrap {
	size_t n;
	uint32_t id[SP_KEYWRAP_MAX_KEYS];
	unsigned char key[SP_KEYWRAP_MAX_KEYS][SP_KEY_LEN];
	uint32_t current;
};

/* "master-N.key" -> N (1..2^31), else 0. */
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
read_key(const char *path, unsigned char key[SP_KEY_LEN], struct sp_err *err)
{
	struct stat sb;
	ssize_t r;
	unsigned char extra;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return sp_err_set(err, SP_ERR_CONFIG, "%s: %s", path, strerror(errno));
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || (sb.st_mode & 077) != 0) {
		close(fd);
		return sp_err_set(err, SP_ERR_CONFIG,
		    "%s: not a regular file readable only by its owner", path);
	}
	r = read(fd, key, SP_KEY_LEN);
	if (r != SP_KEY_LEN || read(fd, &extra, 1) != 0) {
		close(fd);
		sp_wipe(key, SP_KEY_LEN);
		return sp_err_set(err, SP_ERR_CONFIG, "%s: not a %d-byte key", path, SP_KEY_LEN);
	}
	close(fd);
	return SP_OK;
}

static int
create_key(const char *path, unsigned char key[SP_KEY_LEN], struct sp_err *err)
{
	char tmp[4096];
	int fd, st;

	if ((st = sp_random(key, SP_KEY_LEN)) != SP_OK)
		return sp_err_set(err, st, "no randomness for the master key");
	/* Write a temporary file, sync it, then link it into place: the name
	 * appears complete or not at all, and O_EXCL semantics of link() keep
	 * two processes starting together from making two different keys. */
	if ((size_t)snprintf(tmp, sizeof(tmp), "%.4000s.tmp.%ld", path, (long)getpid()) >= sizeof(tmp))
		return sp_err_set(err, SP_ERR_CONFIG, "key path too long");
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return sp_err_set(err, SP_ERR_CONFIG, "%s: %s", tmp, strerror(errno));
	if (write(fd, key, SP_KEY_LEN) != SP_KEY_LEN || fsync(fd) != 0) {
		close(fd);
		unlink(tmp);
		return sp_err_set(err, SP_ERR_IO, "%s: %s", tmp, strerror(errno));
	}
	close(fd);
	if (link(tmp, path) != 0) {
		int e = errno;

		unlink(tmp);
		if (e == EEXIST)
			return read_key(path, key, err);
		return sp_err_set(err, SP_ERR_CONFIG, "%s: %s", path, strerror(e));
	}
	unlink(tmp);
	return SP_OK;
}

int
sp_keywrap_load(struct sp_keywrap **out, const char *dir, int create, struct sp_err *err)
{
	struct sp_keywrap *kw;
	struct dirent *de;
	char path[4096];
	DIR *d;
	uint32_t id;
	int st = SP_OK;

	*out = NULL;
	if (strlen(dir) > 3800)
		return sp_err_set(err, SP_ERR_CONFIG, "data directory path too long");
	if ((kw = calloc(1, sizeof(*kw))) == NULL)
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	if ((d = opendir(dir)) == NULL) {
		free(kw);
		return sp_err_set(err, SP_ERR_CONFIG, "%s: %s", dir, strerror(errno));
	}
	while (st == SP_OK && (de = readdir(d)) != NULL) {
		if ((id = key_file_id(de->d_name)) == 0)
			continue;
		if (kw->n == SP_KEYWRAP_MAX_KEYS) {
			st = sp_err_set(err, SP_ERR_CONFIG, "%s: too many master keys", dir);
			break;
		}
		snprintf(path, sizeof(path), "%.3800s/%.255s", dir, de->d_name);
		if ((st = read_key(path, kw->key[kw->n], err)) == SP_OK) {
			kw->id[kw->n++] = id;
			if (id > kw->current)
				kw->current = id;
		}
	}
	closedir(d);
	if (st == SP_OK && kw->n == 0) {
		if (!create)
			st = sp_err_set(err, SP_ERR_CONFIG, "%s: no master key", dir);
		else {
			snprintf(path, sizeof(path), "%.3800s/master-1.key", dir);
			if ((st = create_key(path, kw->key[0], err)) == SP_OK) {
				kw->id[0] = kw->current = 1;
				kw->n = 1;
			}
		}
	}
	if (st != SP_OK) {
		sp_keywrap_free(kw);
		return st;
	}
	*out = kw;
	return SP_OK;
}

void
sp_keywrap_free(struct sp_keywrap *kw)
{
	if (kw == NULL)
		return;
	sp_wipe(kw, sizeof(*kw));
	free(kw);
}

uint32_t
sp_keywrap_current(const struct sp_keywrap *kw)
{
	return kw->current;
}

static const unsigned char *
find_key(const struct sp_keywrap *kw, uint32_t id)
{
	size_t i;

	for (i = 0; i < kw->n; i++)
		if (kw->id[i] == id)
			return kw->key[i];
	return NULL;
}

int
sp_keywrap_wrap(const struct sp_keywrap *kw, const char *aad,
    const unsigned char part[SP_KEY_LEN], unsigned char out[SP_KEYWRAP_LEN],
    uint32_t *key_id, struct sp_err *err)
{
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

int
sp_keywrap_unwrap(const struct sp_keywrap *kw, uint32_t key_id, const char *aad,
    const unsigned char *in, size_t inlen, unsigned char part[SP_KEY_LEN],
    struct sp_err *err)
{
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

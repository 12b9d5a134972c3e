/*
 * blobstore_internal.h - what the blob store's backends (blobstore_dir.c,
 * blobstore_s3.c) share with the dispatcher (blobstore.c): the operations
 * table every handle starts with, the backends' constructors, the copy
 * buffer size, and the S3 listing parser (exposed for its unit tests).
 * Names reaching a backend have been checked by the dispatcher.
 */
#ifndef SP_BLOBSTORE_INTERNAL_H
#define SP_BLOBSTORE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "blobstore.h"

#define SP_BLOB_COPY_BUF (256 * 1024)	/* bytes copied per read */

struct sp_blob_ops {
	int (*put_fd)(struct sp_blobstore *b, const char *name, int fd, uint64_t size,
	    struct sp_err *err);
	int (*get_fd)(struct sp_blobstore *b, const char *name, int *fd, uint64_t *size,
	    struct sp_err *err);
	int (*del)(struct sp_blobstore *b, const char *name, struct sp_err *err);
	int (*stat)(struct sp_blobstore *b, const char *name, uint64_t *size,
	    struct sp_err *err);
	int (*each)(struct sp_blobstore *b,
	    int (*cb)(void *ud, const char *name, uint64_t size), void *ud,
	    struct sp_err *err);
	void (*close)(struct sp_blobstore *b);
};

/* The first member of every backend's handle. */
struct sp_blobstore {
	const struct sp_blob_ops *ops;
};

/* An absolute directory path; created 0700 with missing parents. */
int sp_blob_dir_open(struct sp_blobstore **out, const char *path, struct sp_err *err);

struct sp_blob_s3_conf {
	const char *bucket;
	const char *endpoint;	/* http(s)://HOST[:PORT], no path */
	const char *region;
	const char *key_file;
	const char *tmpdir;
	long timeout_s;		/* whole request */
	int max_keys;		/* listing page size */
};
int sp_blob_s3_open(struct sp_blobstore **out, const struct sp_blob_s3_conf *conf,
    struct sp_err *err);

/* Parse one ListObjectsV2 answer (xml, len bytes): cb(ud, key, size) for
 * each <Contents> whose <Key> is a valid object name (others are skipped).
 * When the answer says <IsTruncated>true</IsTruncated>, *next (NUL-ended,
 * at most next_cap - 1 bytes) receives NextContinuationToken, else it is
 * set to "".  Malformed answers are SP_ERR_IO; a cb status other than
 * SP_OK stops and is returned. */
int sp_blob_s3_parse_list(const char *xml, size_t len,
    int (*cb)(void *ud, const char *name, uint64_t size), void *ud,
    char *next, size_t next_cap, struct sp_err *err);

#endif

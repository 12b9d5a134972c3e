/*
 * blobstore.h - named byte objects (ciphertext copies) in a local directory
 * or an S3-compatible object store, behind one interface, streamed in and
 * out through file descriptors (never whole in memory).
 *
 * Store URLs:
 *   "dir:/abs/path" or "/abs/path"   a local directory, created 0700 (with
 *       any missing parents) when absent; each object is one file.
 *   "s3://BUCKET?endpoint=URL&key_file=PATH[&region=R][&timeout=S][&max_keys=N]"
 *       an S3-compatible store, path-style addressing (ENDPOINT/BUCKET/NAME),
 *       requests signed with AWS Signature Version 4 (libcurl).  endpoint is
 *       http(s)://HOST[:PORT]; key_file holds two lines, the access key id
 *       and the secret, and must be readable by its owner only; region
 *       defaults to us-east-1; timeout is the limit in seconds for one
 *       request (default 300; connecting is limited to 5 s); max_keys the
 *       page size of listings (1..1000, default 1000).  Values may be
 *       %-encoded; unknown parameters are configuration errors.
 *
 * Names: 1..SP_BLOB_NAME_MAX characters of [A-Za-z0-9._-], not starting
 * with '.'; anything else is SP_ERR_INVALID before any I/O.
 *
 * Results: SP_OK; SP_ERR_INVALID (bad name or argument); SP_ERR_NOTFOUND
 * (no such object); SP_ERR_RETRY (the store cannot be reached or answers
 * "busy": try again; the message names the endpoint); SP_ERR_CONFIG
 * (broken setup: bad URL, unusable directory or key file, access refused,
 * no such bucket); SP_ERR_IO (file or unexpected store errors);
 * SP_ERR_NOMEM.
 *
 * Thread-safe: any number of threads may call on one handle at once (the
 * S3 backend uses one HTTP connection per call).  A program using the S3
 * backend calls curl_global_init() before it starts threads.
 * SECURITY: objects are ciphertext that is useless without the key part the
 * mail carries, so the store need not be trusted for confidentiality.  The
 * S3 secret is wiped when the handle closes and never appears in messages.
 */
#ifndef SP_BLOBSTORE_H
#define SP_BLOBSTORE_H

#include <stdint.h>

#include "sp.h"

#define SP_BLOB_NAME_MAX 100

struct sp_blobstore;

/* Open the store url names.  tmpdir (NULL: /tmp) is
 * where S3 downloads are spooled as unlinked temporary files; the string is
 * copied.  On success *out is a handle the caller closes. */
int sp_blob_open(struct sp_blobstore **out, const char *url, const char *tmpdir,
    struct sp_err *err);
/* Close the handle (NULL is a no-op).  No call may be running on it. */
void sp_blob_close(struct sp_blobstore *b);

/* 1 when name is a valid object name, else 0. */
int sp_blob_name_ok(const char *name);

/* Store size bytes read from fd (with pread from offset 0; fd's own offset
 * is not used or changed) as object name, replacing any older one
 * atomically: readers see the old object or the whole new one.  Input
 * shorter than size is SP_ERR_IO and leaves the old object.  fd stays the
 * caller's. */
int sp_blob_put_fd(struct sp_blobstore *b, const char *name, int fd, uint64_t size,
    struct sp_err *err);
/* Open object name for reading: *fd (O_CLOEXEC, positioned at 0) is the
 * caller's to close, *size its length.  SP_ERR_NOTFOUND when absent.  S3:
 * the object is streamed into an unlinked temporary file in tmpdir. */
int sp_blob_get_fd(struct sp_blobstore *b, const char *name, int *fd, uint64_t *size,
    struct sp_err *err);
/* Remove object name; an absent object is SP_OK. */
int sp_blob_delete(struct sp_blobstore *b, const char *name, struct sp_err *err);
/* The length of object name in *size; SP_ERR_NOTFOUND when absent. */
int sp_blob_stat(struct sp_blobstore *b, const char *name, uint64_t *size,
    struct sp_err *err);
/* Call cb(ud, name, size) for every object with a valid name, in no
 * particular order (name is borrowed for the call).  cb returns SP_OK to go
 * on; any other value stops the walk and is returned.  cb may delete the
 * object it is given; objects added or removed during the walk may or may
 * not be seen. */
int sp_blob_each(struct sp_blobstore *b, int (*cb)(void *ud, const char *name, uint64_t size),
    void *ud, struct sp_err *err);

#endif

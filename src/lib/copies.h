/*
 * copies.h - the key server's ciphertext copies of format 2 envelopes
 * (copies.c): the name of a copy in the blob store, and deleting the copies
 * that must go, blob first, then the store's record with an audit record
 * "copy-deleted" in the envelope's organisation's chain.  Used by the key
 * server (retraction, the shred job) and by the CLI (`expire --run`, `org
 * remove`).
 * SECURITY: a copy is ciphertext the key server cannot decrypt (it lacks
 * the mail key part); deleting it removes what a recipient could still
 * fetch after retraction or expiry.
 */
#ifndef SP_COPIES_H
#define SP_COPIES_H

#include <stdint.h>

#include "blobstore.h"
#include "sp.h"
#include "store.h"

#define SP_COPY_NAME_LEN 32	/* room for "<22 char id>.ct" and its NUL */

/* out gets "<id>.ct"; SP_ERR_INVALID when id is not a well-formed
 * envelope id (22 base64url characters). */
int sp_copy_name(const char *id, char out[SP_COPY_NAME_LEN]);

/* Delete the copy of envelope id (organisation org_id): the blob, then the
 * record (copy_size 0) with the audit record {event "copy-deleted", actor,
 * detail why}.  A missing blob is not an error. */
int sp_copy_delete(struct sp_store *s, struct sp_blobstore *b, const char *id,
    int64_t org_id, const char *actor, const char *why, struct sp_err *err);

/* Delete every copy that must go at now (sp_store_copies_doomed()); *n
 * (may be NULL) gets how many.  Stops at the first failure. */
int sp_copies_purge(struct sp_store *s, struct sp_blobstore *b, int64_t now, int *n,
    struct sp_err *err);

#endif

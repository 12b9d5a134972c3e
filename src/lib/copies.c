/*
 * copies.c - names and deletion of the key server's ciphertext copies
 * (copies.h).
 * SECURITY: ids are checked before they name a blob.
 */
#include <stdio.h>
#include <string.h>

#include "copies.h"

#define PURGE_BATCH 256

int
sp_copy_name(const char *id, char out[SP_COPY_NAME_LEN])
{
	size_t i, n = id != NULL ? strlen(id) : 0;

	out[0] = '\0';
	if (n != SP_STORE_ID_MAX)
		return SP_ERR_INVALID;
	for (i = 0; i < n; i++) {
		char c = id[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_'))
			return SP_ERR_INVALID;
	}
	snprintf(out, SP_COPY_NAME_LEN, "%s.ct", id);
	return SP_OK;
}

int
sp_copy_delete(struct sp_store *s, struct sp_blobstore *b, const char *id,
    int64_t org_id, const char *actor, const char *why, struct sp_err *err)
{
	struct sp_audit a = {0, "copy-deleted", actor, id, NULL, why, org_id};
	char name[SP_COPY_NAME_LEN];
	int st;

	if (sp_copy_name(id, name) != SP_OK)
		return sp_err_set(err, SP_ERR_INVALID, "not an envelope id");
	if ((st = sp_blob_delete(b, name, err)) != SP_OK)
		return st;
	return sp_store_envelope_copy_set(s, id, 0, 0, 0, &a, err);
}

int
sp_copies_purge(struct sp_store *s, struct sp_blobstore *b, int64_t now, int *n,
    struct sp_err *err)
{
	struct sp_copy_ref refs[PURGE_BATCH];
	size_t i, got;
	int st, done = 0;

	if (n != NULL)
		*n = 0;
	do {
		if ((st = sp_store_copies_doomed(s, now, refs, PURGE_BATCH, &got, err)) != SP_OK)
			return st;
		for (i = 0; i < got; i++) {
			if ((st = sp_copy_delete(s, b, refs[i].id, refs[i].org_id, NULL,
			    "retracted, expired or past its keeping time", err)) != SP_OK)
				return st;
			done++;
			if (n != NULL)
				*n = done;
		}
	} while (got == PURGE_BATCH);
	return SP_OK;
}

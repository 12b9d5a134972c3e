/*
 * cli_copies.c - the administrator's side of the key server's ciphertext
 * copies: deleting those that must go after `expire --run`, a retraction
 * of a whole envelope and `org remove` (copies.h), from the blob store the
 * key server uses (--copies, default dir:DATA_DIR/copies).
 * SECURITY: copies are ciphertext; deleting them only removes what could
 * still be fetched.  The URL is never printed (an S3 URL names a key file).
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "blobstore.h"
#include "cli.h"
#include "copies.h"

int
cli_copies_purge(const struct cli_global *g, struct sp_store *s, const char *verb)
{
	struct sp_err err = {{0}};
	struct sp_blobstore *b = NULL;
	struct stat sb;
	char url[4200], tmp[4200];
	int st, n = 0;

	if (g->copies != NULL)
		snprintf(url, sizeof(url), "%s", g->copies);
	else if (g->data_dir != NULL) {
		snprintf(url, sizeof(url), "dir:%.4000s/copies", g->data_dir);
		if (stat(url + 4, &sb) != 0)
			return 0;	/* the key server never kept a copy here */
	} else {
		fprintf(stderr, "sealpost %s: note: copies were not looked at (give --copies URL, "
		    "the key server's --copies)\n", verb);
		return 0;
	}
	snprintf(tmp, sizeof(tmp), "%s/tmp", g->data_dir != NULL ? g->data_dir : "/tmp");
	if (stat(tmp, &sb) != 0)
		snprintf(tmp, sizeof(tmp), "/tmp");
	if ((st = sp_blob_open(&b, url, tmp, &err)) == SP_OK)
		st = sp_copies_purge(s, b, (int64_t)time(NULL), &n, &err);
	sp_blob_close(b);
	if (n > 0)
		printf("deleted %d ciphertext cop%s\n", n, n == 1 ? "y" : "ies");
	if (st != SP_OK) {
		fprintf(stderr, "sealpost %s: copies: %s\n", verb, sp_err_msg(&err, st));
		return 1;
	}
	return 0;
}

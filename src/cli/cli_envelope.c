/*
 * cli_envelope.c - the administrator's commands on deposited envelopes:
 * `sealpost retract ID [--recipient ADDR]` and `unretract` (withdraw an
 * envelope, or one recipient's copy, and give it back), and `sealpost
 * expire --run` (shred the key parts of expired envelopes now, as the key
 * server does every --shred-interval seconds).  Each change is audited in
 * the envelope's organisation's chain with actor "admin".
 * SECURITY: nothing secret is read or printed; shredding overwrites the
 * wrapped key part in the store (store.h), which no command can undo.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../cli/cli.h"
#include "field.h"
#include "store.h"

#define EXPIRE_BATCH 200	/* envelopes shredded per transaction */

static void
usage_retract(FILE *f)
{
	fprintf(f,
	    "usage: sealpost --data-dir DIR | --db URL retract ID [--recipient ADDR]\n"
	    "       sealpost --data-dir DIR | --db URL unretract ID [--recipient ADDR]\n\n"
	    "retract withdraws the envelope ID: the key server no longer releases its\n"
	    "key and the recipient is told \"This message was withdrawn by the sender\".\n"
	    "With --recipient only that recipient's copy is withdrawn.  unretract\n"
	    "gives it back (not after the envelope expired and was shredded).\n");
}

static void
usage_expire(FILE *f)
{
	fprintf(f,
	    "usage: sealpost --data-dir DIR | --db URL expire --run\n\n"
	    "Shreds every expired envelope now: its wrapped key part is overwritten in\n"
	    "the store, so nobody can open it any more (the key server does the same\n"
	    "every --shred-interval seconds).  Prints how many were shredded.  Then\n"
	    "the store's housekeeping: throttle counters of no more use and\n"
	    "registrations never activated after 30 days are removed (printed too).\n");
}

/* Shared by retract and unretract. */
static int
retract_common(int argc, char **argv, const struct cli_global *g, int on)
{
	const char *verb = on ? "retract" : "unretract";
	struct sp_err err = {{0}};
	struct sp_store *s = NULL;
	struct sp_envelope_rec e;
	struct sp_audit a;
	const char *id = NULL, *rcpt_in = NULL;
	char rcpt[SP_ADDR_MAX + 1], detail[SP_ADDR_MAX + 32], when[32];
	int i, st, rc = 1, found;
	size_t k;

	if (cli_wants_help(argc, argv)) {
		usage_retract(stdout);
		return 0;
	}
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--recipient") == 0 && i + 1 < argc)
			rcpt_in = argv[++i];
		else if (strcmp(argv[i], "--") == 0 && i + 1 < argc && id == NULL)
			id = argv[++i];
		else if (id == NULL && (argv[i][0] != '-' ||
		    strlen(argv[i]) == SP_STORE_ID_MAX))
			/* an id may start with '-' (base64url): one of the right
			 * length is taken as the id, never as an option */
			id = argv[i];
		else {
			fprintf(stderr, "sealpost %s: unexpected argument '%s'\n", verb, argv[i]);
			usage_retract(stderr);
			return 2;
		}
	}
	if (id == NULL || sp_field_token(id, strlen(id), 1, SP_STORE_ID_MAX, NULL, &err) != SP_OK) {
		fprintf(stderr, "sealpost %s: ID must be an envelope id (as the deposit answered, "
		    "%d characters)\n", verb, SP_STORE_ID_MAX);
		usage_retract(stderr);
		return 2;
	}
	rcpt[0] = '\0';
	if (rcpt_in != NULL && (sp_addr_parse(rcpt_in, strlen(rcpt_in),
	    SP_ADDR_FOLD_LOCAL | SP_ADDR_ALLOW_DOTLESS, rcpt, NULL, &err) != SP_OK ||
	    strlen(rcpt) > SP_STORE_EMAIL_MAX)) {
		fprintf(stderr, "sealpost %s: --recipient '%s' is not an email address: %s\n", verb,
		    rcpt_in, err.msg);
		return 2;
	}
	if ((st = cli_store_open(g, verb, &s)) != 0)
		return st;
	memset(&e, 0, sizeof(e));
	if ((st = sp_store_envelope_get(s, id, &e, &err)) == SP_ERR_NOTFOUND) {
		fprintf(stderr, "sealpost %s: no envelope %s on this key server\n", verb, id);
		goto out;
	}
	if (st != SP_OK) {
		fprintf(stderr, "sealpost %s: %s\n", verb, sp_err_msg(&err, st));
		goto out;
	}
	if (rcpt[0] != '\0') {
		for (found = 0, k = 0; k < e.nrcpt && !found; k++)
			found = strcmp(e.rcpt[k], rcpt) == 0;
		if (!found) {
			fprintf(stderr, "sealpost %s: %s is not a recipient of envelope %s\n", verb,
			    rcpt, id);
			goto out;
		}
	}
	if (e.shredded != 0 || e.wrapped_len == 0) {
		cli_iso_time(e.shredded, when);
		fprintf(stderr, "sealpost %s: envelope %s expired and was shredded (%s): nobody "
		    "can open it any more%s\n", verb, id, e.shredded ? when : "key part gone",
		    on ? ", so there is nothing to withdraw" : ", so it cannot be given back");
		goto out;
	}
	snprintf(detail, sizeof(detail), "recipient=%s", rcpt[0] ? rcpt : "all");
	a = (struct sp_audit){ .time = (int64_t)time(NULL), .event = verb, .actor = "admin",
	    .envelope = e.id, .client = "cli", .detail = detail, .org_id = e.org_id };
	st = sp_store_envelope_set_retracted(s, e.id, rcpt[0] ? rcpt : NULL, on, &a, &err);
	if (st == SP_ERR_NOTFOUND)
		fprintf(stderr, "sealpost %s: envelope %s or its recipient %s is gone\n", verb, id,
		    rcpt[0] ? rcpt : "");
	else if (st == SP_ERR_EXPIRED)
		fprintf(stderr, "sealpost %s: envelope %s was shredded meanwhile: it cannot be "
		    "given back\n", verb, id);
	else if (st != SP_OK)
		fprintf(stderr, "sealpost %s: %s\n", verb, sp_err_msg(&err, st));
	else {
		printf("%s %s%s%s\n", on ? "retracted" : "unretracted", e.id,
		    rcpt[0] ? " for " : "", rcpt);
		if (!on && rcpt[0] != '\0' && e.retracted)
			fprintf(stderr, "sealpost unretract: note: the whole envelope is still "
			    "retracted (unretract %s without --recipient gives it back)\n", e.id);
		rc = on && rcpt[0] == '\0' ? cli_copies_purge(g, s, verb) : 0;
	}
out:
	sp_envelope_rec_clear(&e);
	sp_store_close(s);
	return rc;
}

int
cli_retract_main(int argc, char **argv, const struct cli_global *g)
{
	return retract_common(argc, argv, g, 1);
}

int
cli_unretract_main(int argc, char **argv, const struct cli_global *g)
{
	return retract_common(argc, argv, g, 0);
}

int
cli_expire_main(int argc, char **argv, const struct cli_global *g)
{
	struct sp_err err = {{0}};
	struct sp_store *s = NULL;
	struct sp_housekeep_counts hk;
	long total = 0;
	int st, n;

	if (cli_wants_help(argc, argv)) {
		usage_expire(stdout);
		return 0;
	}
	if (argc != 2 || strcmp(argv[1], "--run") != 0) {
		if (argc > 1 && strcmp(argv[1], "--run") != 0)
			fprintf(stderr, "sealpost expire: unexpected argument '%s'\n", argv[1]);
		else
			fprintf(stderr, "sealpost expire: say --run to shred expired envelopes now\n");
		usage_expire(stderr);
		return 2;
	}
	if ((st = cli_store_open(g, "expire", &s)) != 0)
		return st;
	do {
		n = 0;
		st = sp_store_envelope_shred_expired(s, (int64_t)time(NULL), EXPIRE_BATCH, &n, &err);
		if (st == SP_OK)
			total += n;
	} while (st == SP_OK && n >= EXPIRE_BATCH);
	if (st != SP_OK) {
		sp_store_close(s);
		fprintf(stderr, "sealpost expire: %s (%ld shredded before)\n", sp_err_msg(&err, st),
		    total);
		return 1;
	}
	printf("shredded %ld expired envelope%s\n", total, total == 1 ? "" : "s");
	if ((st = sp_store_housekeep(s, (int64_t)time(NULL), &hk, &err)) != SP_OK) {
		sp_store_close(s);
		fprintf(stderr, "sealpost expire: housekeeping: %s\n", sp_err_msg(&err, st));
		return 1;
	}
	printf("removed %d stale counter%s and %d registration%s never activated\n", hk.throttle,
	    hk.throttle == 1 ? "" : "s", hk.pending, hk.pending == 1 ? "" : "s");
	st = cli_copies_purge(g, s, "expire");
	sp_store_close(s);
	return st;
}

/*
 * cli_mailq.c - `sealpost mailq [--flush]`: the key server's mail queue
 * (docs/keyd.md, "The mail queue"), the account mails and notices the mail
 * transport refused, each with its count of tries and the time of its next
 * one; --flush makes them all due now, for when the MTA is back (as
 * Postfix's `postqueue -f`): a running key server sends them within ten
 * seconds.
 * SECURITY: a queued mail is sealed; this command sees only its reference,
 * count and times, never its recipient or text.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../cli/cli.h"
#include "store.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: sealpost --data-dir DIR | --db URL mailq [--flush]\n\n"
	    "Lists the account mails and notices that the key server's mail transport\n"
	    "refused and that wait, sealed, in its store for their next try (after 5 s,\n"
	    "30 s, 2, 10 and 30 minutes; dropped after the sixth refusal): one line\n"
	    "each with its reference, the tries so far, the next try, and until when\n"
	    "a key server holds it.  Recipients and text stay sealed.\n\n"
	    "  --flush   make every queued mail due now (the MTA is back): a running\n"
	    "            key server sends them within 10 seconds\n");
}

struct listing {
	time_t now;
	int n;
};

static int
print_one(void *ctx, const struct sp_mailq_info *m)
{
	struct listing *l = ctx;
	char due[32], held[32];

	cli_iso_time(m->due, due);
	cli_iso_time(m->held > l->now ? m->held : 0, held);
	printf("%s  tries %d  next try %s  held until %s\n", m->ref, m->tries, due, held);
	l->n++;
	return 0;
}

int
cli_mailq_main(int argc, char **argv, const struct cli_global *g)
{
	struct sp_err err = {{0}};
	struct sp_store *s = NULL;
	struct listing l = {time(NULL), 0};
	int st, flush = 0, n = 0, i;

	if (cli_wants_help(argc, argv)) {
		usage(stdout);
		return 0;
	}
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--flush") == 0) {
			flush = 1;
		} else {
			fprintf(stderr, "sealpost mailq: unexpected argument '%s'\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if ((st = cli_store_open(g, "mailq", &s)) != 0)
		return st;
	if (flush && (st = sp_store_mailq_flush(s, (int64_t)l.now, &n, &err)) != SP_OK) {
		fprintf(stderr, "sealpost mailq: %s\n", sp_err_msg(&err, st));
		sp_store_close(s);
		return 1;
	}
	if ((st = sp_store_mailq_each(s, print_one, &l, &err)) != SP_OK) {
		fprintf(stderr, "sealpost mailq: %s\n", sp_err_msg(&err, st));
		sp_store_close(s);
		return 1;
	}
	sp_store_close(s);
	printf("%d mail%s queued", l.n, l.n == 1 ? "" : "s");
	if (flush)
		printf("; %d made due now", n);
	printf("\n");
	return 0;
}

/*
 * cli_scan.c - `sealpost scan`: dry-runs the sealing policy on one message
 * read from standard input (or a file) and explains the decision: which rule
 * fired, and where each content match was found (numbers masked).  Exit
 * status follows grep: 0 = would be sealed, 1 = would pass, 2 = error.
 * SECURITY: reads an untrusted message; prints only masked matches and
 * printable text.
 */
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "cli.h"
#include "message.h"
#include "policy.h"
#include "sp.h"

#define SCAN_MAX_RCPT 100

static void
scan_usage(FILE *f)
{
	fprintf(f,
	    "usage: sealpost scan [-c CONFIG] [--from ADDR] [--rcpt ADDR]... [-q] [FILE] < message.eml\n\n"
	    "Dry-runs the sealing policy on a message and explains the decision.\n\n"
	    "  -c, --config FILE  policy file (default: the built-in policy, etc/policy.conf)\n"
	    "  --from ADDR        envelope sender (default: the From: address)\n"
	    "  --rcpt ADDR        envelope recipient, repeatable (default: To: and Cc:)\n"
	    "  -q, --quiet        print nothing, only set the exit status\n"
	    "  -n, --check        load and check the policy, then exit (0 good, 2 bad)\n"
	    "  -h, --help         this help\n\n"
	    "exit status: 0 = would be sealed, 1 = would pass, 2 = error\n");
}

/* Print s with anything unprintable replaced, so mail text cannot drive the
 * terminal. */
static void
print_safe(const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		putchar(c >= 0x20 && c != 0x7f ? c : '?');
	}
}

int
cli_scan_main(int argc, char **argv, const struct cli_global *g)
{
	const char *config = g ? g->config : NULL, *from = NULL, *file = NULL;
	const char *rcpt[SCAN_MAX_RCPT];
	size_t nrcpt = 0, i;
	int quiet = 0, check = 0, a, st, rc = 2;
	struct sp_policy *p = NULL;
	struct sp_policy_scratch *s = NULL;
	struct sp_policy_result r;
	struct sp_buf msg;
	struct sp_err err = {{0}};

	memset(&r, 0, sizeof(r));
	sp_buf_init(&msg, 0);
	for (a = 1; a < argc; a++) {
		const char *o = argv[a];

		if (strcmp(o, "-h") == 0 || strcmp(o, "--help") == 0) {
			scan_usage(stdout);
			return 0;
		} else if ((strcmp(o, "-c") == 0 || strcmp(o, "--config") == 0) && a + 1 < argc) {
			config = argv[++a];
		} else if (strcmp(o, "--from") == 0 && a + 1 < argc) {
			from = argv[++a];
		} else if (strcmp(o, "--rcpt") == 0 && a + 1 < argc) {
			if (nrcpt >= SCAN_MAX_RCPT) {
				fprintf(stderr, "sealpost: scan: more than %d --rcpt\n", SCAN_MAX_RCPT);
				return 2;
			}
			rcpt[nrcpt++] = argv[++a];
		} else if (strcmp(o, "-q") == 0 || strcmp(o, "--quiet") == 0) {
			quiet = 1;
		} else if (strcmp(o, "-n") == 0 || strcmp(o, "--check") == 0) {
			check = 1;
		} else if (o[0] == '-' && o[1] != '\0') {
			fprintf(stderr, "sealpost: scan: unknown option %s (see sealpost scan --help)\n", o);
			return 2;
		} else if (file == NULL) {
			file = o;
		} else {
			fprintf(stderr, "sealpost: scan: one message at a time\n");
			return 2;
		}
	}
	if ((st = sp_policy_load(&p, config, &err)) != SP_OK) {
		fprintf(stderr, "sealpost: scan: policy: %s\n", sp_err_msg(&err, st));
		return 2;
	}
	if (check) {
		if (!quiet)
			printf("policy %s: %zu rules, good\n", config ? config : "(built-in)",
			    sp_policy_rule_count(p));
		sp_policy_free(p);
		return 0;
	}
	if ((st = sp_policy_scratch_new(p, &s, &err)) != SP_OK ||
	    (st = cli_read_file(file, SP_MSG_MAX_SIZE, &msg, &err)) != SP_OK ||
	    (st = sp_policy_decide(p, s, msg.data, msg.len, from, nrcpt ? rcpt : NULL, nrcpt,
	    &r, &err)) != SP_OK) {
		fprintf(stderr, "sealpost: scan: %s\n", sp_err_msg(&err, st));
		goto out;
	}
	rc = r.action == SP_POLICY_PASS ? 1 : 0;
	if (quiet)
		goto out;
	printf("decision: %s\n", r.action == SP_POLICY_PASS ? "pass" :
	    r.action == SP_POLICY_SEAL ? "seal" : "seal and tag subject");
	printf("rule: %s\n", r.rule[0] ? r.rule : "-");
	printf("reason: ");
	print_safe(r.reason);
	putchar('\n');
	if (r.tag[0]) {
		printf("tag: ");
		print_safe(r.tag);
		putchar('\n');
	}
	if (r.subject != NULL) {
		printf("subject after keyword removal: ");
		print_safe(r.subject);
		putchar('\n');
	}
	printf("scanned: %zu bytes of text in %zu segments\n", r.scanned_bytes, r.scanned_parts);
	for (i = 0; i < r.nhits; i++) {
		printf("match: rule %s in ", r.hits[i].rule);
		print_safe(r.hits[i].part);
		printf(" at offset %zu: ", r.hits[i].offset);
		print_safe(r.hits[i].text);
		putchar('\n');
	}
	if (r.nhits_total > r.nhits)
		printf("match: ... %zu more not shown\n", r.nhits_total - r.nhits);
	for (i = 0; i < r.nnotes; i++) {
		printf("note: ");
		print_safe(r.notes[i]);
		putchar('\n');
	}
out:
	sp_policy_result_clear(&r);
	sp_buf_free(&msg);
	sp_policy_scratch_free(s);
	sp_policy_free(p);
	return rc;
}

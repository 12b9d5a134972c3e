/*
 * fuzz_scan.c - libFuzzer target for the policy scanner's MIME walk.  The
 * input is taken as a mail message and decided with the built-in default
 * policy (loaded once): MIME parsing, transfer decoding, HTML reduction and
 * the Hyperscan match callbacks all run on it.  Invariants (abort()
 * otherwise): a decision is made or the input is refused as not mail; the
 * action is one of the three; a number shown in an explanation never
 * reveals more than its last four digits; the scanned text stays within the
 * policy's budget.
 * SECURITY: exercises the scanner on untrusted mail.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "message.h"
#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct sp_policy *pol;
static struct sp_policy_scratch *scr;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sp_policy_result r;
	struct sp_err err;
	size_t i, j;
	int st;

	if (pol == NULL) {
		sp_msg_global_init();
		if (sp_policy_load(&pol, NULL, &err) != SP_OK ||
		    sp_policy_scratch_new(pol, &scr, &err) != SP_OK)
			abort();
	}
	st = sp_policy_decide(pol, scr, data, size, NULL, NULL, 0, &r, &err);
	if (st != SP_OK) {
		if (st != SP_ERR_INVALID && st != SP_ERR_TOOBIG)
			abort();
		return 0;
	}
	if (r.action != SP_POLICY_PASS && r.action != SP_POLICY_SEAL && r.action != SP_POLICY_SEAL_TAG)
		abort();
	if (r.scanned_bytes > SP_POLICY_SCAN_BYTES + size)
		abort();
	if (r.nhits > SP_POLICY_MAX_HITS || r.nnotes > SP_POLICY_MAX_NOTES)
		abort();
	for (i = 0; i < r.nhits; i++) {
		size_t digits = 0;

		if (strcmp(r.hits[i].rule, "ssn") != 0 && strcmp(r.hits[i].rule, "card") != 0)
			continue;
		for (j = 0; r.hits[i].text[j] != '\0'; j++)
			if (r.hits[i].text[j] >= '0' && r.hits[i].text[j] <= '9')
				digits++;
		if (digits > 4)
			abort();
	}
	sp_policy_result_clear(&r);
	return 0;
}

/*
 * fuzz_scan.c - libFuzzer target for the policy scanner's MIME walk and
 * its text extractors.  The input is taken as a mail message and decided
 * with the built-in default policy (loaded once): MIME parsing, transfer
 * decoding, HTML reduction and the Hyperscan match callbacks all run on it.
 * The same bytes then go through each extractor on its own (HTML to text,
 * office XML to text, the DOCX/XLSX/ODT zip reader) and what comes out is
 * scanned as text, so the medical code, routing number and date checks run
 * on it.  Invariants (abort() otherwise): a decision is made or the input is
 * refused as not mail; the action is one of the three; a number shown in an
 * explanation never reveals more than its last four digits; the scanned
 * text stays within the policy's budget; an extractor never writes more
 * text than it was given (the zip reader: than its cap; the reader's text
 * of HTML, with its line ends and bullets: than twice).
 * SECURITY: exercises the scanner on untrusted mail.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "message.h"
#include "policy.h"
#include "policy_internal.h"

#define ZIP_CAP	(1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct sp_policy *pol;
static struct sp_policy_scratch *scr;

static void
check_result(const struct sp_policy_result *r, size_t size)
{
	size_t i, j;

	if (r->action != SP_POLICY_PASS && r->action != SP_POLICY_SEAL && r->action != SP_POLICY_SEAL_TAG)
		abort();
	if (r->scanned_bytes > SP_POLICY_SCAN_BYTES + size)
		abort();
	if (r->nhits > SP_POLICY_MAX_HITS || r->nnotes > SP_POLICY_MAX_NOTES)
		abort();
	for (i = 0; i < r->nhits; i++) {
		size_t digits = 0;

		if (strcmp(r->hits[i].rule, "ssn") != 0 && strcmp(r->hits[i].rule, "card") != 0 &&
		    strcmp(r->hits[i].rule, "routing") != 0 && strcmp(r->hits[i].rule, "medical-codes") != 0)
			continue;
		for (j = 0; r->hits[i].text[j] != '\0'; j++)
			if (r->hits[i].text[j] >= '0' && r->hits[i].text[j] <= '9')
				digits++;
		if (digits > 4)
			abort();
	}
}

/* Run one extractor's output through the scanner as text. */
static void
scan_out(const struct sp_buf *b, size_t size)
{
	struct sp_policy_result r;
	struct sp_err err;

	if (b->len == 0)
		return;
	if (sp_policy_scan_text(pol, scr, (const char *)b->data, b->len, &r, &err) != SP_OK)
		abort();
	check_result(&r, size + ZIP_CAP);
	sp_policy_result_clear(&r);
}

static void
extractors(const uint8_t *data, size_t size)
{
	struct sp_buf out;
	char why[96];
	int st;

	sp_buf_init(&out, size + 1);
	if (pol_html_to_text((const char *)data, size, &out) != SP_OK || out.len > size)
		abort();
	scan_out(&out, size);
	sp_buf_free(&out);
	/* a reader's text: a list item's bullet may make it longer (5 bytes
	 * for "<li>"), never twice as long */
	sp_buf_init(&out, 2 * size + 16);
	if (sp_policy_html_text((const char *)data, size, &out) != SP_OK || out.len > 2 * size)
		abort();
	scan_out(&out, size);
	sp_buf_free(&out);
	sp_buf_init(&out, size + 1);
	if (pol_xml_to_text((const char *)data, size, &out) != SP_OK || out.len > size)
		abort();
	scan_out(&out, size);
	sp_buf_free(&out);
	sp_buf_init(&out, ZIP_CAP + 4096);
	st = pol_zip_text(data, size, ZIP_CAP, &out, why, sizeof(why));
	if (st != SP_OK && st != SP_ERR_INVALID)
		abort();
	if (out.len > ZIP_CAP + 4096)
		abort();
	scan_out(&out, size);
	sp_buf_free(&out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sp_policy_result r;
	struct sp_err err;
	int st;

	if (pol == NULL) {
		sp_msg_global_init();
		if (sp_policy_load(&pol, NULL, &err) != SP_OK ||
		    sp_policy_scratch_new(pol, &scr, &err) != SP_OK)
			abort();
	}
	extractors(data, size);
	st = sp_policy_decide(pol, scr, data, size, NULL, NULL, 0, &r, &err);
	if (st != SP_OK) {
		if (st != SP_ERR_INVALID && st != SP_ERR_TOOBIG)
			abort();
		return 0;
	}
	check_result(&r, size);
	sp_policy_result_clear(&r);
	return 0;
}

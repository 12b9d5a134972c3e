/*
 * policy_test.c - unit tests of the sealing policy: the validators (SSA
 * rules, Luhn, issuer prefixes, masking), the config parser's errors, the
 * built-in default policy against etc/, decisions (triggers, scopes,
 * internal mail, rule order, regex rules, subject cleaning), the committed
 * corpus tests/policy-corpus/ against expected.tsv, the medical code,
 * NPI, routing number and date validators, the reader's view of HTML and
 * office XML, the zip reader's bounds and caps, and bad input (50 MB,
 * 500 parts, deep nesting, empty, malformed, 8-bit) decided in bounded time.
 * Run from the repository root.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "message.h"
#include "policy.h"
#include "policy_internal.h"
#include "sp.h"
#include "t.h"

static struct sp_policy *defpol;
static struct sp_policy_scratch *defscr;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
read_file(const char *path, struct sp_buf *b)
{
	FILE *f = fopen(path, "rb");
	char tmp[65536];
	size_t n;

	sp_buf_init(b, (size_t)64 << 20);
	if (f == NULL)
		return -1;
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		if (sp_buf_append(b, tmp, n) != SP_OK)
			break;
	fclose(f);
	if (b->data == NULL)
		sp_buf_reserve(b, 0);
	return 0;
}

static void
setup(void)
{
	struct sp_err err = {{0}};

	sp_msg_global_init();
	T_EQ_INT(sp_policy_load(&defpol, NULL, &err), SP_OK);
	if (defpol == NULL) {
		fprintf(stderr, "default policy: %s\n", err.msg);
		exit(1);
	}
	T_EQ_INT(sp_policy_scratch_new(defpol, &defscr, &err), SP_OK);
}

/* --- validators ---------------------------------------------------------- */

static void
test_ssn(void)
{
	static const struct { const char *d; int ok; } v[] = {
		{"212456780", 1}, {"001010001", 1}, {"899999999", 1}, {"665123456", 1},
		{"000123456", 0}, {"666123456", 0}, {"900123456", 0}, {"999123456", 0},
		{"212003456", 0}, {"212450000", 0}, {"078051120", 0}, {"219099999", 0},
		{"123456789", 0}, {"111111111", 0}, {"12345678x", 0}, {"21245678 ", 0},
	};
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		if (sp_policy_ssn_valid(v[i].d) != v[i].ok)
			fprintf(stderr, "ssn %s\n", v[i].d);
		T_EQ_INT(sp_policy_ssn_valid(v[i].d), v[i].ok);
	}
}

static void
test_card(void)
{
	static const struct { const char *d; int luhn, ok; } v[] = {
		{"4111111111111111", 1, 1},	/* Visa */
		{"4012888888881881", 1, 1},
		{"4222222222222", 1, 1},	/* Visa, 13 digits */
		{"5500000000000004", 1, 1},	/* Mastercard */
		{"2223000048400011", 1, 1},	/* Mastercard 2-series */
		{"378282246310005", 1, 1},	/* Amex */
		{"6011111111111117", 1, 1},	/* Discover */
		{"3530111333300000", 1, 1},	/* JCB */
		{"30569309025904", 1, 1},	/* Diners */
		{"4111111111111112", 0, 0},	/* Luhn fails */
		{"1234567812345678", 0, 0},
		{"9999999999999995", 1, 0},	/* Luhn ok, no issuer */
		{"0000000000000000", 1, 0},	/* placeholder */
		{"378282246310005000", 0, 0},
		{"411111111111", 0, 0},		/* 12 digits: too short */
		{"41111111111111111111", 0, 0},	/* 20 digits: too long */
		{"5500000000000004001", 0, 0},	/* Mastercard is 16 digits only */
	};
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		size_t n = strlen(v[i].d);

		if (sp_policy_card_valid(v[i].d, n) != v[i].ok)
			fprintf(stderr, "card %s\n", v[i].d);
		if (n >= 13 && n <= 19)
			T_EQ_INT(sp_policy_luhn(v[i].d, n), v[i].luhn);
		T_EQ_INT(sp_policy_card_valid(v[i].d, n), v[i].ok);
	}
	T_EQ_INT(sp_policy_luhn("", 0), 0);
	T_EQ_INT(sp_policy_luhn("79927398713", 11), 1);
	T_EQ_INT(sp_policy_luhn("79927398710", 11), 0);
}

static void
test_mask(void)
{
	char out[64];

	sp_policy_mask("212-45-6780", 11, out, sizeof(out));
	T_CHECK(strcmp(out, "***-**-6780") == 0);
	sp_policy_mask("4111 1111 1111 1111", 19, out, sizeof(out));
	T_CHECK(strcmp(out, "**** **** **** 1111") == 0);
	sp_policy_mask("12\n3", 4, out, sizeof(out));
	T_CHECK(strcmp(out, "12 3") == 0);
	sp_policy_mask("212-45-6780", 11, out, 5);
	T_CHECK(strcmp(out, "***-") == 0);
}

/* --- configuration ------------------------------------------------------- */

static int
load_str(const char *text, struct sp_policy **p, struct sp_err *err)
{
	return sp_policy_load_mem(p, text, strlen(text), "t.conf", "etc", err);
}

static void
test_config_errors(void)
{
	static const struct { const char *text; const char *want; } v[] = {
		{"bogus = 1\n", "t.conf:1: unknown key 'bogus'"},
		{"# c\n\n[rule a]\ntype = ssn\ncolour = red\n", "t.conf:5: unknown key 'colour'"},
		{"[rule a]\naction = seal\n", "t.conf:1: rule 'a' has no type"},
		{"[rule a]\ntype = ssn\naction = burn\n", "t.conf:3: action 'burn'"},
		{"[rule a]\ntype = smell\n", "t.conf:2: type 'smell'"},
		{"[rule a]\ntype = keyword\n", "t.conf:1: rule 'a' needs a key 'keyword'"},
		{"[rule a]\ntype = ssn\n[rule a]\ntype = card\n", "t.conf:3: duplicate rule name"},
		{"[rule a]\ntype = regex\npattern = (unclosed\n", "t.conf:1: rule 'a': pattern does not compile"},
		{"[rule a]\ntype = ssn\nthreshold = 3\n", "t.conf:3: key 'threshold' does not apply"},
		{"[rule a]\ntype = ssn\ntype = card\n", "t.conf:3: key 'type' given twice"},
		{"max_parts = lots\n", "t.conf:1: 'lots' is not a number"},
		{"max_parts = 0\n", "t.conf:1: '0' is not a number from 1"},
		{"internal_domains = a.example b/c\n", "t.conf:1: not a domain name"},
		{"[rule a]\ntype = lexicon\nlexicon = no-such-file.txt\n", "t.conf:3: lexicon:"},
		{"[rule a\n", "t.conf:1: expected a section"},
		{"just words\n", "t.conf:1: expected '=' after 'just'"},
		{"[rule a]\ntype = header\nheader = X Bad\n", "t.conf:3: 'X Bad' is not a header field name"},
	};
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct sp_policy *p = NULL;
		struct sp_err err = {{0}};
		int st = load_str(v[i].text, &p, &err);

		T_EQ_INT(st, SP_ERR_CONFIG);
		T_CHECK(p == NULL);
		if (strstr(err.msg, v[i].want) == NULL) {
			fprintf(stderr, "config case %zu: got '%s', want '%s'\n", i, err.msg, v[i].want);
			T_CHECK(0);
		}
	}
}

static void
test_default_matches_etc(void)
{
	struct sp_buf conf, lex;
	struct sp_policy *p = NULL;
	struct sp_err err = {{0}};
	struct sp_policy_result r;

	/* the file in etc/ loads too, with the lexicon next to it */
	T_EQ_INT(sp_policy_load(&p, "etc/policy.conf", &err), SP_OK);
	if (p != NULL) {
		T_EQ_INT(sp_policy_rule_count(p), sp_policy_rule_count(defpol));
		T_CHECK(strcmp(sp_policy_rule_name(p, 0), "subject-keyword") == 0);
	}
	sp_policy_free(p);
	/* and the built-in copy is the same text: regenerate with
	 * sh src/lib/policy_default.sh when this fails */
	T_EQ_INT(read_file("etc/policy.conf", &conf), 0);
	T_EQ_INT(read_file("etc/lexicon-medical.txt", &lex), 0);
	{
		extern const char pol_default_conf[], pol_default_lexicon[];
		extern const size_t pol_default_conf_len, pol_default_lexicon_len;

		T_EQ_INT(conf.len, pol_default_conf_len);
		T_CHECK(conf.len == pol_default_conf_len && memcmp(conf.data, pol_default_conf, conf.len) == 0);
		T_EQ_INT(lex.len, pol_default_lexicon_len);
		T_CHECK(lex.len == pol_default_lexicon_len && memcmp(lex.data, pol_default_lexicon, lex.len) == 0);
	}
	sp_buf_free(&conf);
	sp_buf_free(&lex);
	/* a policy with no content rule scans nothing and passes */
	T_EQ_INT(load_str("[rule k]\ntype = keyword\nkeyword = !!\n", &p, &err), SP_OK);
	T_EQ_INT(sp_policy_scan_text(p, NULL, "212-45-6780", 11, &r, &err), SP_OK);
	T_EQ_INT(r.action, SP_POLICY_PASS);
	sp_policy_result_clear(&r);
	sp_policy_free(p);
}

/* --- decisions on text --------------------------------------------------- */

static int
text_action(const char *text, char *rule, size_t rulesz)
{
	struct sp_policy_result r;
	struct sp_err err = {{0}};
	int a;

	if (sp_policy_scan_text(defpol, defscr, text, strlen(text), &r, &err) != SP_OK)
		return -1;
	a = (int)r.action;
	if (rule != NULL)
		snprintf(rule, rulesz, "%s", r.rule);
	sp_policy_result_clear(&r);
	return a;
}

static void
test_text_decisions(void)
{
	static const struct { const char *text; int action; const char *rule; } v[] = {
		{"reserve room 6 for surgery for Michael Johnson", SP_POLICY_SEAL_TAG, "medical"},
		{"surgery for Michael Johnson", SP_POLICY_SEAL_TAG, "medical"},
		{"lunch at 6?", SP_POLICY_PASS, ""},
		{"Rocky surgery? no, the band", SP_POLICY_PASS, ""},
		{"blood orange recipe", SP_POLICY_PASS, ""},
		{"Patient Jane Doe, diagnosed with hypertension, takes lisinopril.", SP_POLICY_SEAL_TAG, "medical"},
		{"Mr. Smith: appendectomy on Tuesday", SP_POLICY_SEAL_TAG, "medical"},
		{"Surgeries are up 5% at the Heart Surgery Unit", SP_POLICY_PASS, ""},
		{"ssn 212-45-6780", SP_POLICY_SEAL, "ssn"},
		{"ssn 212-45-67801", SP_POLICY_PASS, ""},
		{"x212-45-6780", SP_POLICY_PASS, ""},
		{"Social Security: 212456780", SP_POLICY_SEAL, "ssn"},
		{"invoice 212456780", SP_POLICY_PASS, ""},
		{"pay with 4111-1111-1111-1111.", SP_POLICY_SEAL, "card"},
		{"pay with 4111-1111-1111-1112.", SP_POLICY_PASS, ""},
		{"numbers 1 4111 1111 1111 1111 2", SP_POLICY_PASS, ""},
		{"", SP_POLICY_PASS, ""},
	};
	size_t i;
	char rule[64];

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		int a = text_action(v[i].text, rule, sizeof(rule));

		if (a != v[i].action || strcmp(rule, v[i].rule) != 0)
			fprintf(stderr, "text case '%s': got %d '%s'\n", v[i].text, a, rule);
		T_EQ_INT(a, v[i].action);
		T_CHECK(strcmp(rule, v[i].rule) == 0);
	}
}

static void
test_hits_masked(void)
{
	struct sp_policy_result r;
	struct sp_err err = {{0}};
	const char *t = "ids: 212-45-6780 and 345 67 8901, card 5500 0000 0000 0004";
	size_t i, nssn = 0, ncard = 0;

	T_EQ_INT(sp_policy_scan_text(defpol, defscr, t, strlen(t), &r, &err), SP_OK);
	T_EQ_INT(r.action, SP_POLICY_SEAL);
	T_CHECK(strcmp(r.rule, "ssn") == 0);
	for (i = 0; i < r.nhits; i++) {
		T_CHECK(strstr(r.hits[i].text, "212") == NULL && strstr(r.hits[i].text, "5500") == NULL);
		if (strcmp(r.hits[i].rule, "ssn") == 0)
			nssn++;
		if (strcmp(r.hits[i].rule, "card") == 0) {
			ncard++;
			T_CHECK(strcmp(r.hits[i].text, "**** **** **** 0004") == 0);
			T_EQ_INT(r.hits[i].offset, 39);
		}
	}
	T_EQ_INT(nssn, 2);
	T_EQ_INT(ncard, 1);
	T_CHECK(strcmp(r.hits[0].text, "***-**-6780") == 0);
	T_EQ_INT(r.hits[0].offset, 5);
	sp_policy_result_clear(&r);
}

/* --- decisions on messages ----------------------------------------------- */

static int
decide(const struct sp_policy *p, const char *msg, const char *sender,
    const char *const *rcpt, size_t nrcpt, struct sp_policy_result *r)
{
	struct sp_policy_scratch *s = NULL;
	struct sp_err err = {{0}};
	int st;

	if (sp_policy_scratch_new(p, &s, &err) != SP_OK)
		return -1;
	st = sp_policy_decide(p, s, (const unsigned char *)msg, strlen(msg), sender, rcpt, nrcpt, r, &err);
	sp_policy_scratch_free(s);
	return st;
}

static void
test_message_decisions(void)
{
	const char *conf =
	    "internal_domains = clinic.example\n"
	    "[rule exempt]\ntype = header\nheader = X-Sealpost\nvalue = none\naction = pass\n"
	    "[rule kw]\ntype = keyword\nkeyword = [secure]\naction = seal_tag\ntag = [Encrypted]\n"
	    "[rule acct]\ntype = regex\npattern = \\bACCT-[0-9]{6}\\b\ncaseless = yes\nsenders = billing.clinic.example\n"
	    "[rule ssn-to-bank]\ntype = ssn\nrecipients = bank.example\n"
	    "[rule med]\ntype = lexicon\nlexicon = builtin:lexicon-medical.txt\nthreshold = 3\nname_bonus = 0\n";
	struct sp_policy *p = NULL;
	struct sp_policy_result r;
	struct sp_err err = {{0}};
	const char *ext[] = {"a@partner.example"};
	const char *bank[] = {"a@partner.example", "b@BANK.example"};
	const char *inside[] = {"a@clinic.example", "b@lab.clinic.example"};

	T_EQ_INT(load_str(conf, &p, &err), SP_OK);
	if (p == NULL) {
		fprintf(stderr, "%s\n", err.msg);
		return;
	}
	/* keyword: seal_tag with the rule's tag, keyword cut from the subject */
	T_EQ_INT(decide(p, "From: x@clinic.example\nTo: a@partner.example\nSubject: Re:  [SECURE]  lab  \n\nhi\n",
	    NULL, NULL, 0, &r), SP_OK);
	T_EQ_INT(r.action, SP_POLICY_SEAL_TAG);
	T_CHECK(strcmp(r.rule, "kw") == 0);
	T_CHECK(strcmp(r.tag, "[Encrypted]") == 0);
	T_CHECK(r.subject != NULL && strcmp(r.subject, "Re:  lab") == 0);
	sp_policy_result_clear(&r);
	/* a folded subject comes back on one line */
	T_EQ_INT(decide(p, "Subject: [secure] lab\n results\n\nhi\n", NULL, ext, 1, &r), SP_OK);
	T_CHECK(r.subject != NULL && strchr(r.subject, '\n') == NULL && strstr(r.subject, "lab") == r.subject);
	sp_policy_result_clear(&r);
	/* a pass rule before it wins */
	T_EQ_INT(decide(p, "X-Sealpost: none\nSubject: [secure] x\n\nhi\n", NULL, ext, 1, &r), SP_OK);
	T_EQ_INT(r.action, SP_POLICY_PASS);
	T_CHECK(strcmp(r.rule, "exempt") == 0);
	sp_policy_result_clear(&r);
	/* internal recipients only: never sealed, even with the keyword */
	T_EQ_INT(decide(p, "Subject: [secure] x\n\nSSN 212-45-6780\n", NULL, inside, 2, &r), SP_OK);
	T_EQ_INT(r.action, SP_POLICY_PASS);
	T_CHECK(strstr(r.reason, "internal") != NULL);
	sp_policy_result_clear(&r);
	/* To:/Cc: used when no envelope recipients are given */
	T_EQ_INT(decide(p, "To: a@clinic.example\nCc: b@CLINIC.example\nSubject: [secure]\n\nx\n", NULL, NULL, 0, &r), SP_OK);
	T_EQ_INT(r.action, SP_POLICY_PASS);
	sp_policy_result_clear(&r);
	/* regex scoped to a sender domain (subdomain match) */
	T_EQ_INT(decide(p, "Subject: invoice\n\nyour acct-123456 is due\n", "billing.clinic.example", ext, 1, &r), SP_OK);
	T_EQ_INT(r.action, SP_POLICY_SEAL);
	T_CHECK(strcmp(r.rule, "acct") == 0);
	sp_policy_result_clear(&r);
	T_EQ_INT(decide(p, "Subject: invoice\n\nyour acct-123456 is due\n", "x@clinic.example", ext, 1, &r), SP_OK);
	T_EQ_INT(r.action, SP_POLICY_PASS);
	sp_policy_result_clear(&r);
	/* SSN rule scoped to recipients: fires only when one is at the bank */
	T_EQ_INT(decide(p, "Subject: f\n\nSSN 212-45-6780\n", NULL, ext, 1, &r), SP_OK);
	T_EQ_INT(r.action, SP_POLICY_PASS);
	sp_policy_result_clear(&r);
	T_EQ_INT(decide(p, "Subject: f\n\nSSN 212-45-6780\n", NULL, bank, 2, &r), SP_OK);
	T_EQ_INT(r.action, SP_POLICY_SEAL);
	T_CHECK(strcmp(r.rule, "ssn-to-bank") == 0);
	sp_policy_result_clear(&r);
	/* lexicon with its own threshold */
	T_EQ_INT(decide(p, "Subject: f\n\nmetformin\n", NULL, ext, 1, &r), SP_OK);
	T_EQ_INT(r.action, SP_POLICY_SEAL);
	T_CHECK(strcmp(r.rule, "med") == 0);
	sp_policy_result_clear(&r);
	/* not mail at all */
	T_EQ_INT(decide(p, "", NULL, ext, 1, &r), SP_ERR_INVALID);
	T_EQ_INT(decide(p, "just a line of text\n", NULL, ext, 1, &r), SP_ERR_INVALID);
	sp_policy_free(p);
}

/* --- medical codes, routing numbers, the reader's view --------------------- */

static void
test_code_validators(void)
{
	T_CHECK(pol_npi_valid("1234567893"));
	T_CHECK(!pol_npi_valid("1234567890"));
	T_CHECK(!pol_npi_valid("3234567893"));		/* NPIs start with 1 or 2 */
	T_CHECK(!pol_npi_valid("12345678x3"));
	T_CHECK(pol_aba_valid("021000021"));
	T_CHECK(pol_aba_valid("011000015"));
	T_CHECK(!pol_aba_valid("021000022"));		/* checksum */
	T_CHECK(!pol_aba_valid("000000000"));
	T_CHECK(!pol_aba_valid("991000021"));		/* no such prefix */
	T_CHECK(pol_icd_valid("E11.9", 5));
	T_CHECK(pol_icd_valid("J45.909", 7));
	T_CHECK(pol_icd_valid("S72.001A", 8));
	T_CHECK(pol_icd_valid("M1A", 3));
	T_CHECK(pol_icd_valid("T36.0X1A", 8));
	T_CHECK(!pol_icd_valid("U07", 3));		/* U is reserved */
	T_CHECK(!pol_icd_valid("B1A", 3));		/* A only in a few categories */
	T_CHECK(!pol_icd_valid("E11.", 4));
	T_CHECK(!pol_icd_valid("E11.9ABC", 8));
	T_CHECK(!pol_icd_valid("E11.99999", 9));
	T_CHECK(pol_date_valid(1961, 4, 12));
	T_CHECK(pol_date_valid(2000, 2, 29));
	T_CHECK(!pol_date_valid(1900, 2, 29));
	T_CHECK(!pol_date_valid(1961, 2, 30));
	T_CHECK(!pol_date_valid(1961, 13, 1));
	T_CHECK(!pol_date_valid(1850, 1, 1));
}

static void
test_code_decisions(void)
{
	static const struct { const char *text; int action; const char *rule; } v[] = {
		{"Dx: E11.9", SP_POLICY_SEAL_TAG, "medical-codes"},
		{"ICD-10 S72.001A on the claim", SP_POLICY_SEAL_TAG, "medical-codes"},
		{"E11.9 in stock", SP_POLICY_PASS, ""},
		{"vitamin B12 per diagnosis", SP_POLICY_PASS, ""},
		{"Dx: SKU-E11.9", SP_POLICY_PASS, ""},
		{"CPT 99213", SP_POLICY_SEAL_TAG, "medical-codes"},
		{"CPT code 3074F", SP_POLICY_SEAL_TAG, "medical-codes"},
		{"invoice 99213", SP_POLICY_PASS, ""},
		{"CPT 992134", SP_POLICY_PASS, ""},
		{"NDC 50580-506-02", SP_POLICY_SEAL_TAG, "medical-codes"},
		{"NDC 0002-3227-30-1", SP_POLICY_PASS, ""},
		{"call 50580-506-02", SP_POLICY_PASS, ""},
		{"NPI: 1234567893", SP_POLICY_SEAL_TAG, "medical-codes"},
		{"NPI: 1234567890", SP_POLICY_PASS, ""},
		{"phone 1234567893", SP_POLICY_PASS, ""},
		{"DOB 1961-04-12, Maria Lopez", SP_POLICY_SEAL_TAG, "medical-codes"},
		{"date of birth: 12.04.1961 (patient)", SP_POLICY_SEAL_TAG, "medical-codes"},
		{"DOB 1961-02-30, Maria Lopez", SP_POLICY_PASS, ""},
		{"Maria Lopez visits on 1961-04-12", SP_POLICY_PASS, ""},
		{"Maria Lopez was born on March 3, 1961", SP_POLICY_SEAL_TAG, "medical-codes"},
		{"DOB: 1961-04-12 (patient)", SP_POLICY_SEAL_TAG, "medical-codes"},
		{"ABA 021000021", SP_POLICY_SEAL, "routing"},
		{"bank account, wire to 021000021", SP_POLICY_SEAL, "routing"},
		{"bank 021000021", SP_POLICY_PASS, ""},
		{"routing 021000022", SP_POLICY_PASS, ""},
		{"routing #021000021", SP_POLICY_PASS, ""},
		{"tracking 021000021", SP_POLICY_PASS, ""},
	};
	size_t i;
	char rule[64];

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		int a = text_action(v[i].text, rule, sizeof(rule));

		if (a != v[i].action || strcmp(rule, v[i].rule) != 0)
			fprintf(stderr, "code case '%s': got %d '%s'\n", v[i].text, a, rule);
		T_EQ_INT(a, v[i].action);
		T_CHECK(strcmp(rule, v[i].rule) == 0);
	}
}

/* mode 0: the scanner's text of HTML, 1: of office XML, 2: a reader's
 * text of HTML (sp_policy_html_text) */
static int
reduced_is(int mode, const char *in, const char *want)
{
	struct sp_buf out;
	int ok;

	sp_buf_init(&out, 1 << 20);
	T_EQ_INT(mode == 1 ? pol_xml_to_text(in, strlen(in), &out) : mode == 2 ?
	    sp_policy_html_text(in, strlen(in), &out) : pol_html_to_text(in, strlen(in), &out), SP_OK);
	ok = out.len == strlen(want) && (out.len == 0 || memcmp(out.data, want, out.len) == 0);
	if (!ok)
		fprintf(stderr, "reduced '%s': got '%.*s', want '%s'\n", in, (int)out.len,
		    out.data ? (const char *)out.data : "", want);
	sp_buf_free(&out);
	return ok;
}

static void
test_reader_view(void)
{
	T_CHECK(reduced_is(0, "<span>123</span>-<b>45</b>-6789", "123-45-6789"));
	T_CHECK(reduced_is(0, "<p>a</p><p>b</p>", "a b "));
	T_CHECK(reduced_is(0, "1&#50;3&#x2D;4&ndash;5&shy;6&#8203;7", "123-4-567"));
	T_CHECK(reduced_is(0, "a<div style=\"display: none\">secret <div>x</div></div>b", "a b"));
	T_CHECK(reduced_is(0, "a<span style='visibility:hidden'>s</span>b", "a b"));
	T_CHECK(reduced_is(0, "a<span style=\"font-size:0\">s</span>b", "a b"));
	T_CHECK(reduced_is(0, "a<span style=\"font-size:0.9em\">s</span>b", "asb"));
	T_CHECK(reduced_is(0, "a<p hidden>s</p>b", "a b"));
	T_CHECK(reduced_is(0, "<head><title>t</title></head>b", "b"));
	T_CHECK(reduced_is(0, "a<div style=\"display:none\">never closed", "a never closed"));
	T_CHECK(reduced_is(0, "a<!-- c -->b<script>x</script>c", "ab c"));
	T_CHECK(reduced_is(1, "<w:p><w:r><w:t>212-45</w:t></w:r><w:r><w:t>-6780</w:t></w:r></w:p><w:p>x</w:p>",
	    "212-45-6780 x "));
	T_CHECK(reduced_is(1, "<text:p>a<text:s/>b</text:p>", "a b "));
}

/* Elements that never close: each would be looked for to the end of the
 * text (a text of such elements read in time of its square).  Past a
 * budget of a few passes over the text, nothing more counts as hidden: what
 * follows is read (the safe direction for the scanner). */
static void
test_unclosed_flood(void)
{
	static const char *const flood[] = {"<title>", "<b hidden>", "<title><title"};
	struct sp_buf in, out;
	size_t f, i;

	for (f = 0; f < sizeof(flood) / sizeof(flood[0]); f++) {
		sp_buf_init(&in, 8 << 20);
		sp_buf_init(&out, 8 << 20);
		for (i = 0; i < 200000; i++)
			T_EQ_INT(sp_buf_append(&in, flood[f], strlen(flood[f])), SP_OK);
		T_EQ_INT(sp_buf_printf(&in, "<span hidden>kept</span> 287-65-4321"), SP_OK);
		T_EQ_INT(pol_html_to_text((const char *)in.data, in.len, &out), SP_OK);
		T_CHECK(out.len >= 11 && memmem(out.data, out.len, "287-65-4321", 11) != NULL);
		if (f < 2)
			T_CHECK(memmem(out.data, out.len, "kept", 4) != NULL);
		sp_buf_free(&in);
		sp_buf_free(&out);
	}
	/* a hidden element that closes is still left out */
	T_CHECK(reduced_is(0, "<title>a<span hidden>s</span>b", "a b"));
}

/* What the page without scripts shows of an HTML-only message: its lines
 * and paragraphs, and still nothing hidden. */
static void
test_reader_lines(void)
{
	T_CHECK(reduced_is(2, "<p>Dear Pat,</p><p>Your <b>results</b><br>are ready.</p>",
	    "Dear Pat,\n\nYour results\nare ready."));
	/* the lines of a webmail's editor, an empty one among them */
	T_CHECK(reduced_is(2, "<div>one</div><div><br></div><div>two</div>", "one\n\ntwo"));
	T_CHECK(reduced_is(2, "<ul><li>a</li><li>b</li></ul>after",
	    "\xe2\x80\xa2 a\n\xe2\x80\xa2 b\n\nafter"));
	T_CHECK(reduced_is(2, "<table><tr><td>Name</td><td>Pat</td></tr><tr><td>Age</td><td>41</td></tr></table>",
	    "Name Pat\nAge 41"));
	T_CHECK(reduced_is(2, "  <p>\n  hello\n  world  </p>  <h1> Title </h1>x ", "hello world\n\nTitle\n\nx"));
	T_CHECK(reduced_is(2, "a<script>x</script><p hidden>s</p>b<span style=\"display:none\">t</span>c",
	    "a b c"));
	T_CHECK(reduced_is(2, "<br><br><br>", ""));
	T_CHECK(reduced_is(2, "x<br><br><br><br>y", "x\n\ny"));
	/* a number broken up by inline markup still reads as one */
	T_CHECK(reduced_is(2, "<p>1<b>2</b>3</p>", "123"));
	/* the scanner's text is unchanged: block ends are spaces */
	T_CHECK(reduced_is(0, "<div>one</div><div><br></div><div>two</div>", "one two "));
}

static void
test_zip_bounds(void)
{
	static const unsigned char eocd_only[22] = { 0x50, 0x4b, 0x05, 0x06 };
	unsigned char bad_cd[22 + 8];
	struct sp_buf out, z;
	char why[96];
	size_t i;

	sp_buf_init(&out, 1 << 20);
	T_EQ_INT(pol_zip_text((const unsigned char *)"hello", 5, 1000, &out, why, sizeof(why)), SP_ERR_INVALID);
	T_EQ_INT(pol_zip_text(eocd_only, sizeof(eocd_only), 1000, &out, why, sizeof(why)), SP_ERR_INVALID);
	T_CHECK(strstr(why, "no document text") != NULL);
	/* a directory that points past the buffer */
	memset(bad_cd, 0, sizeof(bad_cd));
	memcpy(bad_cd + 8, "\x50\x4b\x05\x06", 4);
	bad_cd[8 + 10] = 1;
	bad_cd[8 + 12] = 200;
	T_EQ_INT(pol_zip_text(bad_cd, sizeof(bad_cd), 1000, &out, why, sizeof(why)), SP_ERR_INVALID);
	T_CHECK(strstr(why, "out of bounds") != NULL);
	/* every truncation of a real document fails cleanly or reads less */
	if (read_file("tests/policy-corpus/078-docx-ssn-runs.eml", &z) == 0 && z.data != NULL) {
		struct sp_policy_result r;
		struct sp_err err = {{0}};

		for (i = 0; i < z.len; i += 7) {
			int st = sp_policy_decide(defpol, defscr, z.data, i, NULL, NULL, 0, &r, &err);

			T_CHECK(st == SP_OK || st == SP_ERR_INVALID);
			sp_policy_result_clear(&r);
		}
	}
	sp_buf_free(&z);
	sp_buf_free(&out);
}

/* --- corpus -------------------------------------------------------------- */

static void
test_corpus(void)
{
	struct sp_buf tsv, msg;
	char *line, *save = NULL;
	size_t n = 0, bad = 0;

	T_EQ_INT(read_file("tests/policy-corpus/expected.tsv", &tsv), 0);
	if (tsv.data == NULL)
		return;
	for (line = strtok_r((char *)tsv.data, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		char *f, *dec, *rule, *s2 = NULL, path[512];
		struct sp_policy_result r;
		struct sp_err err = {{0}};
		int st;

		if (line[0] == '#' || line[0] == '\0')
			continue;
		f = strtok_r(line, "\t", &s2);
		dec = strtok_r(NULL, "\t", &s2);
		rule = strtok_r(NULL, "\t", &s2);
		if (f == NULL || dec == NULL || rule == NULL) {
			T_CHECK(!"expected.tsv: bad line");
			continue;
		}
		snprintf(path, sizeof(path), "tests/policy-corpus/%s", f);
		if (read_file(path, &msg) != 0) {
			fprintf(stderr, "corpus: cannot read %s\n", path);
			T_CHECK(0);
			continue;
		}
		st = sp_policy_decide(defpol, defscr, msg.data, msg.len, NULL, NULL, 0, &r, &err);
		n++;
		if (st != SP_OK || strcmp(sp_policy_action_str(r.action), dec) != 0 ||
		    strcmp(r.rule[0] ? r.rule : "-", rule) != 0) {
			fprintf(stderr, "corpus mismatch %s: expected %s %s, got %s %s (%s)\n", f, dec, rule,
			    st == SP_OK ? sp_policy_action_str(r.action) : "error",
			    r.rule[0] ? r.rule : "-", st == SP_OK ? r.reason : err.msg);
			bad++;
		}
		sp_policy_result_clear(&r);
		sp_buf_free(&msg);
	}
	sp_buf_free(&tsv);
	T_CHECK(n >= 60);
	T_EQ_INT(bad, 0);
}

/* --- bad and large input ------------------------------------------------- */

static void
test_large(void)
{
	struct sp_buf b;
	struct sp_policy_result r;
	struct sp_err err = {{0}};
	double t0;
	size_t i;
	int st;

	/* 50 MB of text with an SSN near the start: sealed, the rest noted */
	sp_buf_init(&b, (size_t)64 << 20);
	sp_buf_append_str(&b, "From: a@x.example\nTo: b@y.example\nSubject: big\n\nSSN 212-45-6780\n");
	while (b.len < (size_t)50 << 20)
		sp_buf_append_str(&b, "the quick brown fox jumps over the lazy dog 0123456789 again and again\n");
	t0 = now();
	st = sp_policy_decide(defpol, defscr, b.data, b.len, NULL, NULL, 0, &r, &err);
	T_EQ_INT(st, SP_OK);
	T_EQ_INT(r.action, SP_POLICY_SEAL);
	T_CHECK(r.scanned_bytes <= SP_POLICY_SCAN_BYTES + 64);
	T_CHECK(r.nnotes >= 1);
	T_CHECK(now() - t0 < 60.0);
	sp_policy_result_clear(&r);
	sp_buf_free(&b);

	/* 500 parts, the card in the last one */
	sp_buf_init(&b, (size_t)8 << 20);
	sp_buf_append_str(&b, "From: a@x.example\nTo: b@y.example\nSubject: parts\n"
	    "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"B\"\n\n");
	for (i = 0; i < 500; i++)
		sp_buf_printf(&b, "--B\nContent-Type: text/plain\n\npart %zu %s\n", i,
		    i == 499 ? "card 4111 1111 1111 1111" : "nothing here");
	sp_buf_append_str(&b, "--B--\n");
	t0 = now();
	T_EQ_INT(sp_policy_decide(defpol, defscr, b.data, b.len, NULL, NULL, 0, &r, &err), SP_OK);
	T_EQ_INT(r.action, SP_POLICY_SEAL);
	T_CHECK(strcmp(r.rule, "card") == 0);
	T_CHECK(now() - t0 < 30.0);
	sp_policy_result_clear(&r);
	sp_buf_free(&b);

	/* 3000 parts: walk stops at the part limit and says so */
	sp_buf_init(&b, (size_t)8 << 20);
	sp_buf_append_str(&b, "Subject: many\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"B\"\n\n");
	for (i = 0; i < 3000; i++)
		sp_buf_append_str(&b, "--B\nContent-Type: text/plain\n\nx\n");
	sp_buf_append_str(&b, "--B--\n");
	T_EQ_INT(sp_policy_decide(defpol, defscr, b.data, b.len, NULL, NULL, 0, &r, &err), SP_OK);
	T_EQ_INT(r.action, SP_POLICY_PASS);
	T_CHECK(r.nnotes >= 1 && strstr(r.notes[0], "parts") != NULL);
	sp_policy_result_clear(&r);
	sp_buf_free(&b);

	/* 100 levels of nesting: inner parts skipped with a note, no crash */
	sp_buf_init(&b, (size_t)8 << 20);
	sp_buf_append_str(&b, "Subject: deep\nMIME-Version: 1.0\n");
	for (i = 0; i < 100; i++)
		sp_buf_printf(&b, "Content-Type: multipart/mixed; boundary=\"b%zu\"\n\n--b%zu\n", i, i);
	sp_buf_append_str(&b, "Content-Type: text/plain\n\nSSN 212-45-6780\n");
	T_EQ_INT(sp_policy_decide(defpol, defscr, b.data, b.len, NULL, NULL, 0, &r, &err), SP_OK);
	T_CHECK(r.nnotes >= 1);
	sp_policy_result_clear(&r);
	sp_buf_free(&b);
}

static void
test_bad_input(void)
{
	static const char *const msgs[] = {
		"Subject: empty\n\n",
		"Subject: no body",
		"Content-Type: multipart/mixed; boundary=\n\n--\n--\n",
		"Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\n====\n",
		"Content-Type: text/html\n\n<script>212-45-6780<<<<&#xffffffff;&#0;&amp<!--",
		"Subject: \xff\xfe\x80 caf\xe9 [secure]\nFrom: \xc3\xa9@x\n\nbody\n",
		"Content-Type: message/rfc822\n\nContent-Type: message/rfc822\n\n",
		"From: <>\nTo: ,,,@@@\n\n4111111111111111111111111111111111111111\n",
	};
	size_t i;

	for (i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
		struct sp_policy_result r;
		struct sp_err err = {{0}};

		T_EQ_INT(sp_policy_decide(defpol, defscr, (const unsigned char *)msgs[i], strlen(msgs[i]),
		    NULL, NULL, 0, &r, &err), SP_OK);
		sp_policy_result_clear(&r);
	}
	{
		struct sp_policy_result r;
		struct sp_err err = {{0}};
		const char m[] = "Subject: x\n\n\0\0\0binary 212-45-6780";
		const char h[] = "Subj\0ect: x\n\nhello";

		/* a binary body is noted and not scanned; binary headers are not mail */
		T_EQ_INT(sp_policy_decide(defpol, defscr, (const unsigned char *)m, sizeof(m) - 1,
		    NULL, NULL, 0, &r, &err), SP_OK);
		T_EQ_INT(r.action, SP_POLICY_PASS);
		T_CHECK(r.nnotes == 1 && strstr(r.notes[0], "binary") != NULL);
		sp_policy_result_clear(&r);
		T_EQ_INT(sp_policy_decide(defpol, defscr, (const unsigned char *)h, sizeof(h) - 1,
		    NULL, NULL, 0, &r, &err), SP_ERR_INVALID);
	}
}

/* Two threads share one policy, each with its own scratch. */
static void *
thread_main(void *arg)
{
	struct sp_policy_scratch *s = NULL;
	struct sp_err err = {{0}};
	size_t i, ok = 0;
	const char *m = "Subject: t\n\nreserve room 6 for surgery for Michael Johnson, SSN 212-45-6780\n";

	if (sp_policy_scratch_new(defpol, &s, &err) != SP_OK)
		return NULL;
	for (i = 0; i < 200; i++) {
		struct sp_policy_result r;

		if (sp_policy_decide(defpol, s, (const unsigned char *)m, strlen(m), NULL, NULL, 0, &r, &err) == SP_OK &&
		    r.action == SP_POLICY_SEAL && strcmp(r.rule, "ssn") == 0)
			ok++;
		sp_policy_result_clear(&r);
	}
	sp_policy_scratch_free(s);
	*(size_t *)arg = ok;
	return NULL;
}

static void
test_threads(void)
{
	pthread_t t[2];
	size_t ok[2] = {0, 0};
	int i;

	for (i = 0; i < 2; i++)
		T_EQ_INT(pthread_create(&t[i], NULL, thread_main, &ok[i]), 0);
	for (i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	T_EQ_INT(ok[0], 200);
	T_EQ_INT(ok[1], 200);
}

/* --- streaming and large lexicons --------------------------------------- */

/* Scan text as one segment, or in pieces of step bytes (0: whole), and
 * return the number of hits; the hits go to r. */
static size_t
scan_pieces(const struct sp_policy *p, struct sp_policy_scratch *s, const char *text,
    size_t len, const size_t *cuts, size_t ncuts, struct sp_policy_result *r)
{
	struct sp_err err = {{0}};
	struct pol_state *st;
	size_t i, at = 0;

	memset(r, 0, sizeof(*r));
	st = pol_state_new(p, r);
	T_CHECK(st != NULL);
	if (st == NULL)
		return 0;
	T_EQ_INT(pol_scan_stream_open(st, s, "text", &err), SP_OK);
	for (i = 0; i <= ncuts; i++) {
		size_t end = i < ncuts ? cuts[i] : len;

		T_EQ_INT(pol_scan_stream_chunk(st, text + at, end - at, &err), SP_OK);
		at = end;
	}
	T_EQ_INT(pol_scan_stream_close(st, &err), SP_OK);
	pol_state_free(st);
	return r->nhits_total;
}

static void
test_stream_split(void)
{
	/* an SSN, a card, a routing number, medical terms with a name, an ICD
	 * code in context and a date of birth: each is cut at every byte */
	static const char text[] =
	    "Hello,\nthe SSN is 212-45-6780 and the card 4111 1111 1111 1111.\n"
	    "Wire to routing number 021000021 please.\n"
	    "Patient Jane Doe was diagnosed with type 2 diabetes; start metformin.\n"
	    "Dx: E11.9 per the chart. DOB: 04/12/1961, Mr. Smith.\n";
	size_t len = sizeof(text) - 1, i, whole, pieces;
	struct sp_policy_result r0, r1;
	struct sp_err err = {{0}};
	size_t cut[1], many[64], k;

	T_EQ_INT(sp_policy_scan_text(defpol, defscr, text, len, &r0, &err), SP_OK);
	whole = r0.nhits_total;
	T_CHECK(whole >= 7);
	T_EQ_INT(r0.action, SP_POLICY_SEAL);
	for (i = 1; i < len; i++) {
		cut[0] = i;
		pieces = scan_pieces(defpol, defscr, text, len, cut, 1, &r1);
		if (pieces != whole || r1.nhits != r0.nhits)
			fprintf(stderr, "stream split at %zu: %zu hits, whole %zu\n", i, pieces, whole);
		T_EQ_INT(pieces, whole);
		for (k = 0; k < r0.nhits && k < r1.nhits; k++) {
			T_CHECK(strcmp(r1.hits[k].rule, r0.hits[k].rule) == 0);
			T_EQ_INT(r1.hits[k].offset, r0.hits[k].offset);
			T_CHECK(strcmp(r1.hits[k].text, r0.hits[k].text) == 0);
		}
		sp_policy_result_clear(&r1);
	}
	/* every few bytes a piece */
	for (i = 0; i < 64 && (i + 1) * 5 < len; i++)
		many[i] = (i + 1) * 5;
	T_EQ_INT(scan_pieces(defpol, defscr, text, len, many, i, &r1), whole);
	sp_policy_result_clear(&r1);
	/* pieces far apart: the history and the waiting matches move along */
	{
		size_t big = 3 * 65536, o = 0;
		char *b = malloc(big);
		size_t c3[3] = { 65536 + 5, 2 * 65536 + 3, 2 * 65536 + 40 };

		T_CHECK(b != NULL);
		if (b != NULL) {
			memset(b, 'x', big);
			for (o = 0; o < big; o += 64)
				b[o] = ' ';
			memcpy(b + 65536, " SSN 212-45-6780 ", 17);
			memcpy(b + 2 * 65536 - 40, " metformin and lisinopril refill ", 33);
			T_EQ_INT(scan_pieces(defpol, defscr, b, big, c3, 3, &r1), 4);
			T_EQ_INT(r1.hits[0].offset, 65536 + 5);
			sp_policy_result_clear(&r1);
			free(b);
		}
	}
	sp_policy_result_clear(&r0);
}

/* Context words count only beside a medical term: they are looked for in a
 * second pass, over all text of the message, only when the score depends on
 * them. */
static void
test_context_pass(void)
{
	struct sp_policy_result r;
	struct sp_err err = {{0}};
	static const char two_parts[] =
	    "From: a@x.example\r\nTo: b@y.example\r\nSubject: Reserve room 6\r\n"
	    "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
	    "--b\r\nContent-Type: text/plain\r\n\r\nThe admission is booked.\r\n"
	    "--b\r\nContent-Type: text/plain\r\n\r\nsurgery at ten\r\n--b--\r\n";
	static const char no_term[] =
	    "From: a@x.example\r\nTo: b@y.example\r\nSubject: Reserve room 6\r\n\r\n"
	    "The patient admission is booked at the hospital.\r\n";

	/* surgery 2 + patient 2: the context decides */
	T_EQ_INT(sp_policy_scan_text(defpol, defscr, "The patient had surgery.", 24, &r, &err), SP_OK);
	T_EQ_INT(r.action, SP_POLICY_SEAL_TAG);
	T_CHECK(strstr(r.reason, "context 2") != NULL);
	T_EQ_INT(r.scanned_bytes, 24);
	T_EQ_INT(r.scanned_parts, 1);
	sp_policy_result_clear(&r);
	/* enough without context: no second pass, and the reason says so */
	T_EQ_INT(sp_policy_scan_text(defpol, defscr, "patient on metformin and lisinopril", 35, &r, &err),
	    SP_OK);
	T_EQ_INT(r.action, SP_POLICY_SEAL_TAG);
	T_CHECK(strstr(r.reason, "context words not needed") != NULL);
	sp_policy_result_clear(&r);
	/* the context in the subject and in another part than the term:
	 * surgery 2 + room 1 + reserve 1 + admission 2 + booked 1 */
	T_EQ_INT(decide(defpol, two_parts, NULL, NULL, 0, &r), SP_OK);
	T_EQ_INT(r.action, SP_POLICY_SEAL_TAG);
	T_CHECK(strstr(r.reason, "score 7") != NULL);
	T_EQ_INT(r.scanned_parts, 3);
	sp_policy_result_clear(&r);
	/* context words alone never count */
	T_EQ_INT(decide(defpol, no_term, NULL, NULL, 0, &r), SP_OK);
	T_EQ_INT(r.action, SP_POLICY_PASS);
	sp_policy_result_clear(&r);
}

/* 5,000 generated words as a lexicon: whole words match in any case, at the
 * start and end of the text; inside a longer word they do not. */
static void
test_big_lexicon(void)
{
	char dir[] = "/tmp/sp-policy-lexXXXXXX", lexpath[256], path[256], w[16];
	static const char conf[] = "[rule big]\ntype = lexicon\nlexicon = big.txt\nthreshold = 1\n"
	    "name_bonus = 0\n";
	struct sp_policy *p = NULL;
	struct sp_policy_scratch *s = NULL;
	struct sp_policy_result r;
	struct sp_err err = {{0}};
	FILE *f;
	size_t i, k;
	double t0;
	struct sp_buf text;

	T_CHECK(mkdtemp(dir) != NULL);
	snprintf(lexpath, sizeof(lexpath), "%s/big.txt", dir);
	T_CHECK((f = fopen(lexpath, "w")) != NULL);
	if (f == NULL)
		return;
	fprintf(f, "[terms]\n");
	for (i = 0; i < 5000; i++) {
		/* "zq" and four letters from i: distinct, not English */
		snprintf(w, sizeof(w), "zq%c%c%c%c", 'a' + (int)(i % 26), 'a' + (int)(i / 26 % 26),
		    'a' + (int)(i / 676 % 26), 'k' + (int)(i / 17576));
		fprintf(f, "1 %s\n", w);
	}
	fclose(f);
	t0 = now();
	T_EQ_INT(sp_policy_load_mem(&p, conf, strlen(conf), "t.conf", dir, &err), SP_OK);
	if (p == NULL) {
		fprintf(stderr, "big lexicon: %s\n", err.msg);
		return;
	}
	T_EQ_INT(sp_policy_scratch_new(p, &s, &err), SP_OK);
	/* compiled in bounded time, not minutes */
	T_CHECK(now() - t0 < 20.0);
	/* inside longer words: nothing */
	snprintf(path, sizeof(path), "xzqaaak zqaaakx _zqbaak zqcaak9 9zqdaak");
	T_EQ_INT(sp_policy_scan_text(p, s, path, strlen(path), &r, &err), SP_OK);
	T_EQ_INT(r.nhits_total, 0);
	T_EQ_INT(r.action, SP_POLICY_PASS);
	sp_policy_result_clear(&r);
	/* at the start, in the middle in upper case, at the end; a plural */
	snprintf(path, sizeof(path), "zqaaak, ZQBAAK and Zqcaaks. zqhkhk");
	T_EQ_INT(sp_policy_scan_text(p, s, path, strlen(path), &r, &err), SP_OK);
	T_EQ_INT(r.nhits_total, 4);
	T_EQ_INT(r.action, SP_POLICY_SEAL);
	T_EQ_INT(r.hits[0].offset, 0);
	T_CHECK(strcmp(r.hits[2].text, "Zqcaaks") == 0);
	T_CHECK(strcmp(r.hits[3].text, "zqhkhk") == 0);
	T_EQ_INT(r.hits[3].offset, strlen(path) - 6);
	sp_policy_result_clear(&r);
	/* a word alone is a whole buffer */
	T_EQ_INT(sp_policy_scan_text(p, s, "ZQAAAK", 6, &r, &err), SP_OK);
	T_EQ_INT(r.nhits_total, 1);
	sp_policy_result_clear(&r);
	/* every word, each cut across two pieces, is found once */
	sp_buf_init(&text, (size_t)1 << 20);
	for (i = 0; i < 5000; i++) {
		snprintf(w, sizeof(w), "zq%c%c%c%c ", 'a' + (int)(i % 26), 'a' + (int)(i / 26 % 26),
		    'a' + (int)(i / 676 % 26), 'k' + (int)(i / 17576));
		T_EQ_INT(sp_buf_append(&text, w, 7), SP_OK);
	}
	{
		size_t cuts[5000];

		for (i = 0, k = 0; i < 5000; i++)
			cuts[k++] = i * 7 + 1 + i % 7;
		T_EQ_INT(scan_pieces(p, s, (const char *)text.data, text.len, cuts, k, &r), 5000);
		sp_policy_result_clear(&r);
	}
	sp_buf_free(&text);
	sp_policy_scratch_free(s);
	sp_policy_free(p);
	unlink(lexpath);
	rmdir(dir);
}

static void
teardown(void)
{
	sp_policy_scratch_free(defscr);
	sp_policy_free(defpol);
}

T_MAIN(setup, test_ssn, test_card, test_mask, test_config_errors, test_default_matches_etc,
    test_text_decisions, test_hits_masked, test_message_decisions, test_code_validators,
    test_code_decisions, test_reader_view, test_unclosed_flood, test_reader_lines, test_zip_bounds, test_corpus, test_large,
    test_bad_input, test_threads, test_stream_split, test_context_pass, test_big_lexicon, teardown)

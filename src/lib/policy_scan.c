/*
 * policy_scan.c - the content matcher: compiles every content rule of a
 * policy into one main Hyperscan database (lexicon terms, custom patterns,
 * and cheap candidates for numbers, ICD-10 codes and dates of birth) run in
 * stream mode over all decoded text, and small window databases (number,
 * code and date shapes) run only over the text around a candidate; each
 * match is validated in C (digit-run extents, SSA rules, Luhn and issuer
 * prefix, check digits, word boundaries, context words, lexicon scores, a
 * person's name near a medical term).  A segment is scanned whole, in
 * place, or in pieces as one stream.
 * SECURITY: scans untrusted text; all context reads are bounds-checked
 * against the segment (or the kept view of it), per-decision work per match
 * is bounded, matched numbers are masked before they leave this file.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy_internal.h"

#define POL_MAX_NAME_CHECKS	256	/* person-name look-ups per rule and decision */
#define POL_MAX_RUN		48	/* bytes of a card number with separators */
#define POL_SSN_CONTEXT		48	/* bytes before a bare 9-digit number searched for "SSN" */
#define POL_MED_WINDOW		100	/* bytes either side of a code searched for context words */
#define POL_DOB_CONTEXT		40	/* bytes before a date searched for "DOB", "date of birth" */
#define POL_MAX_CTX_CHECKS	4096	/* context look-ups per rule and decision */

struct pol_rule_state {
	int count;		/* validated matches (ssn, card, regex) */
	int med_sum;		/* lexicon: weights of distinct terms */
	int ctx_sum;		/* lexicon: weights of distinct context words */
	int nmed;		/* lexicon: distinct terms seen */
	int name;		/* lexicon: a person's name near a term */
	int name_checks;
	size_t last_end;	/* card: end of the last run validated in this segment (segment offset) */
	int ctx_checks;		/* medcode, routing: context look-ups done */
	int ctx_counted;	/* lexicon: its context words were looked for */
};

/* A match reported while streaming whose validation waits for the text
 * after it. */
struct pol_cand {
	unsigned id;
	unsigned long long from, to;
};

struct pol_state {
	const struct sp_policy *p;
	struct sp_policy_result *r;
	struct pol_rule_state rs[SP_POLICY_MAX_RULES];
	unsigned char *term_seen;
	const char *seg;		/* text the validators read (the segment, or the view) */
	size_t seglen;
	size_t base;			/* offset of seg[0] in the segment */
	const char *label;
	hs_scratch_t *sub;		/* scratch for the window databases */
	size_t done[POL_NDB];		/* segment offset up to which each window database ran */
	/* streaming */
	hs_stream_t *stream;
	hs_scratch_t *hs;
	char *view;			/* the last bytes seen, then the current piece */
	size_t viewcap;
	int final;			/* no more text: validate everything */
	struct pol_cand *q;		/* matches waiting for their right-hand context */
	size_t nq, qhead, qcap;
	int err;			/* an error inside a callback (SP_ERR_NOMEM) */
	int ctx_pass;			/* second pass: context words only */
};

/* --- compile ------------------------------------------------------------- */

/* Cheap candidates in the main database.  Every SSN, card, CPT, NDC, NPI
 * and routing pattern holds two pairs of digits, side by side or around a
 * blank or dash (a card unless its groups never put two pairs side by
 * side); every ICD-10 code starts with its category; every date of birth
 * with a birth word.  (`\b\d\d`, one candidate per group of digits,
 * made the main database a third slower.) */
#define CAND_NUM	"\\d\\d[ -]?\\d\\d"
#define CAND_ICD	"[A-TV-Z]\\d[0-9A]"
#define CAND_DOB	"\\b(?:dob|d\\.o\\.b|date of birth|birth ?date|born)"

struct pat_list {
	char **exprs;
	unsigned *flags;
	size_t cap;
};

static int
add_pat(struct sp_policy *p, struct pat_list *pl, char *expr, unsigned fl,
    enum pol_pat_kind kind, enum pol_db db, size_t rule, size_t term, struct sp_err *err)
{
	if (expr == NULL)
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	if (p->npats == pl->cap) {
		size_t nc = pl->cap ? pl->cap * 2 : 64;
		char **ne;
		unsigned *nf;
		struct pol_pat *np;

		if ((ne = realloc(pl->exprs, nc * sizeof(*ne))) == NULL) {
			free(expr);
			return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
		}
		pl->exprs = ne;
		if ((nf = realloc(pl->flags, nc * sizeof(*nf))) == NULL) {
			free(expr);
			return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
		}
		pl->flags = nf;
		if ((np = realloc(p->pats, nc * sizeof(*np))) == NULL) {
			free(expr);
			return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
		}
		p->pats = np;
		pl->cap = nc;
	}
	pl->exprs[p->npats] = expr;
	pl->flags[p->npats] = fl;
	p->pats[p->npats].kind = kind;
	p->pats[p->npats].db = db;
	p->pats[p->npats].rule = rule;
	p->pats[p->npats].term = term;
	p->npats++;
	return SP_OK;
}

/* A lexicon term as a Hyperscan expression: every byte that is not a letter
 * or digit is escaped, a space matches one blank or line end. */
static char *
term_expr(const char *t, size_t n)
{
	char *e = malloc(n * 10 + 1), *o = e;
	size_t i;

	if (e == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)t[i];

		if (c == ' ') {
			memcpy(o, "[ \\t\\r\\n]", 9);
			o += 9;
		} else if (isalnum(c)) {
			*o++ = (char)c;
		} else {
			snprintf(o, 5, "\\x%02x", c);
			o += 4;
		}
	}
	*o = '\0';
	return e;
}

/* The patterns of one content rule. */
static int
rule_pats(struct sp_policy *p, struct pat_list *pl, size_t i, struct sp_err *err)
{
	const struct pol_rule *r = &p->rules[i];
	size_t t;
	int st = SP_OK;

#define ADD(expr, fl, kind, db) \
	do { if (st == SP_OK) st = add_pat(p, pl, strdup(expr), fl, kind, db, i, 0, err); } while (0)
	switch (r->type) {
	case POL_SSN:
		ADD("\\b\\d{3}-\\d{2}-\\d{4}\\b", 0, PAT_SSN_DASH, POL_DB_NUM);
		ADD("\\b\\d{3} \\d{2} \\d{4}\\b", 0, PAT_SSN_SPACE, POL_DB_NUM);
		ADD("\\b\\d{9}\\b", 0, PAT_SSN_BARE, POL_DB_NUM);
		break;
	case POL_CARD:
		ADD("\\b\\d(?:[ -]?\\d){12,18}\\b", 0, PAT_CARD, POL_DB_NUM);
		break;
	case POL_LEXICON:
		for (t = r->term_first; t < r->term_first + r->term_count && st == SP_OK; t++)
			st = add_pat(p, pl, term_expr(p->terms[t].text, p->terms[t].len),
			    HS_FLAG_CASELESS, PAT_TERM, p->terms[t].context ? POL_DB_CTX : POL_DB_MAIN,
			    i, t, err);
		break;
	case POL_MEDCODE:
		ADD("\\b[A-TV-Z]\\d[0-9A-Z](?:\\.[0-9A-Z]{1,4})?\\b", 0, PAT_ICD, POL_DB_ICD);
		ADD("\\b\\d{4}[0-9FT]\\b", 0, PAT_CPT, POL_DB_NUM);
		ADD("\\b(?:\\d{4}-\\d{4}-\\d{2}|\\d{5}-\\d{3}-\\d{2}|\\d{5}-\\d{4}-\\d)\\b", 0, PAT_NDC, POL_DB_NUM);
		ADD("\\b[12]\\d{9}\\b", 0, PAT_NPI, POL_DB_NUM);
		/* a date of birth: the birth word is part of the pattern, so
		 * that plain dates cost no callback */
		ADD("\\b(?:dob|d\\.o\\.b|date of birth|birth ?date|born(?: on)?)\\W{0,20}"
		    "(?:\\d{1,2}[/.-]\\d{1,2}[/.-](?:19|20)\\d{2}|(?:19|20)\\d{2}-\\d{2}-\\d{2}|"
		    "(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]{0,6}\\.? \\d{1,2},? (?:19|20)\\d{2})\\b",
		    HS_FLAG_CASELESS, PAT_DOB_NUM, POL_DB_DOB);
		break;
	case POL_ROUTING:
		ADD("\\b\\d{9}\\b", 0, PAT_ROUTING, POL_DB_NUM);
		break;
	case POL_REGEX:
		/* the match start is reported: the only patterns that pay for it */
		ADD(r->pattern, HS_FLAG_SOM_LEFTMOST | (r->caseless ? HS_FLAG_CASELESS : 0u),
		    PAT_REGEX, POL_DB_MAIN);
		break;
	default:
		break;
	}
#undef ADD
	return st;
}

/* Compile the patterns of database db (mode HS_MODE_BLOCK or
 * HS_MODE_STREAM) into *out; NULL when db has no pattern. */
static int
compile_db(struct sp_policy *p, const struct pat_list *pl, enum pol_db db, unsigned mode,
    hs_database_t **out, struct sp_err *err)
{
	const char **ex;
	unsigned *fl, *ids;
	size_t i, n = 0;
	hs_compile_error_t *ce = NULL;
	int st = SP_OK;

	*out = NULL;
	ex = malloc(p->npats * sizeof(*ex));
	fl = malloc(p->npats * sizeof(*fl));
	ids = malloc(p->npats * sizeof(*ids));
	if (ex == NULL || fl == NULL || ids == NULL) {
		st = sp_err_set(err, SP_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < p->npats; i++) {
		if (p->pats[i].db != db)
			continue;
		ex[n] = pl->exprs[i];
		fl[n] = pl->flags[i];
		ids[n++] = (unsigned)i;
		/* custom patterns report their start, in streams too */
		if ((pl->flags[i] & HS_FLAG_SOM_LEFTMOST) && mode == HS_MODE_STREAM)
			mode |= HS_MODE_SOM_HORIZON_LARGE;
	}
	if (n == 0)
		goto out;
	if (hs_compile_multi(ex, fl, ids, (unsigned)n, mode, NULL, out, &ce) != HS_SUCCESS) {
		*out = NULL;
		if (ce != NULL && ce->expression >= 0 && (size_t)ce->expression < n) {
			const struct pol_rule *r = &p->rules[p->pats[ids[ce->expression]].rule];

			st = sp_err_set(err, SP_ERR_CONFIG, "%s:%d: rule '%s': pattern does not compile: %s",
			    p->name, r->line, r->name, ce->message);
		} else {
			st = sp_err_set(err, SP_ERR_CONFIG, "%s: patterns do not compile: %s",
			    p->name, ce ? ce->message : "unknown error");
		}
	}
out:
	if (ce != NULL)
		hs_free_compile_error(ce);
	free(ex);
	free(fl);
	free(ids);
	return st;
}

int
pol_scan_compile(struct sp_policy *p, struct sp_err *err)
{
	struct pat_list pl = {0};
	int cand[POL_NDB] = {0};
	size_t i;
	int st = SP_OK, d;

	for (i = 0; i < p->nrules && st == SP_OK; i++)
		st = rule_pats(p, &pl, i, err);
	for (i = 0; i < p->npats; i++)
		cand[p->pats[i].db] = 1;
	if (st == SP_OK && cand[POL_DB_NUM])
		st = add_pat(p, &pl, strdup(CAND_NUM), 0, PAT_CAND_NUM, POL_DB_MAIN, 0, 0, err);
	if (st == SP_OK && cand[POL_DB_ICD])
		st = add_pat(p, &pl, strdup(CAND_ICD), 0, PAT_CAND_ICD, POL_DB_MAIN, 0, 0, err);
	if (st == SP_OK && cand[POL_DB_DOB])
		st = add_pat(p, &pl, strdup(CAND_DOB), HS_FLAG_CASELESS, PAT_CAND_DOB, POL_DB_MAIN, 0, 0, err);
	/* stream mode for whole segments too: it scans as fast as block mode
	 * here and compiles several times faster (docs/decisions/0011) */
	if (st == SP_OK)
		st = compile_db(p, &pl, POL_DB_MAIN, HS_MODE_STREAM, &p->db, err);
	if (st == SP_OK)
		st = compile_db(p, &pl, POL_DB_CTX, HS_MODE_STREAM, &p->ctxdb, err);
	for (d = POL_DB_NUM; d < POL_DB_CTX && st == SP_OK; d++)
		st = compile_db(p, &pl, (enum pol_db)d, HS_MODE_BLOCK, &p->sub[d], err);
	if (st == SP_OK && p->db == NULL && p->ctxdb != NULL) {
		/* context words without terms never count: nothing to scan */
		hs_free_database(p->ctxdb);
		p->ctxdb = NULL;
	}
	if (st == SP_OK && p->db != NULL &&
	    (hs_alloc_scratch(p->db, &p->proto) != HS_SUCCESS ||
	    (p->ctxdb != NULL && hs_alloc_scratch(p->ctxdb, &p->proto) != HS_SUCCESS)))
		st = sp_err_set(err, SP_ERR_NOMEM, "cannot allocate scanner scratch");
	for (d = POL_DB_NUM; d < POL_DB_CTX && st == SP_OK; d++)
		if (p->sub[d] != NULL && hs_alloc_scratch(p->sub[d], &p->proto_sub) != HS_SUCCESS)
			st = sp_err_set(err, SP_ERR_NOMEM, "cannot allocate scanner scratch");
	for (i = 0; i < p->npats; i++)
		free(pl.exprs[i]);
	free(pl.exprs);
	free(pl.flags);
	return st;
}

void
pol_scan_free(struct sp_policy *p)
{
	int d;

	if (p->proto != NULL)
		hs_free_scratch(p->proto);
	if (p->proto_sub != NULL)
		hs_free_scratch(p->proto_sub);
	if (p->db != NULL)
		hs_free_database(p->db);
	if (p->ctxdb != NULL)
		hs_free_database(p->ctxdb);
	p->ctxdb = NULL;
	for (d = 0; d < POL_NDB; d++)
		if (p->sub[d] != NULL)
			hs_free_database(p->sub[d]);
	p->proto = p->proto_sub = NULL;
	p->db = NULL;
}

int
sp_policy_scratch_new(const struct sp_policy *p, struct sp_policy_scratch **out,
    struct sp_err *err)
{
	struct sp_policy_scratch *s;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	if ((p->proto != NULL && hs_clone_scratch(p->proto, &s->hs) != HS_SUCCESS) ||
	    (p->proto_sub != NULL && hs_clone_scratch(p->proto_sub, &s->sub) != HS_SUCCESS)) {
		sp_policy_scratch_free(s);
		return sp_err_set(err, SP_ERR_NOMEM, "cannot allocate scanner scratch");
	}
	*out = s;
	return SP_OK;
}

void
sp_policy_scratch_free(struct sp_policy_scratch *s)
{
	if (s == NULL)
		return;
	if (s->hs != NULL)
		hs_free_scratch(s->hs);
	if (s->sub != NULL)
		hs_free_scratch(s->sub);
	free(s);
}

/* --- results ------------------------------------------------------------- */

void
pol_result_hit(struct sp_policy_result *r, const char *rule, const char *part,
    size_t offset, const char *text)
{
	struct sp_policy_hit *h;

	r->nhits_total++;
	if (r->nhits >= SP_POLICY_MAX_HITS)
		return;
	h = &r->hits[r->nhits++];
	snprintf(h->rule, sizeof(h->rule), "%s", rule);
	snprintf(h->part, sizeof(h->part), "%s", part);
	h->offset = offset;
	snprintf(h->text, sizeof(h->text), "%s", text);
}

void
pol_result_note(struct sp_policy_result *r, const char *fmt, ...)
{
	va_list ap;

	if (r->nnotes >= SP_POLICY_MAX_NOTES)
		return;
	va_start(ap, fmt);
	vsnprintf(r->notes[r->nnotes++], sizeof(r->notes[0]), fmt, ap);
	va_end(ap);
}

void
sp_policy_result_clear(struct sp_policy_result *r)
{
	if (r == NULL)
		return;
	free(r->subject);
	memset(r, 0, sizeof(*r));
}

/* --- state --------------------------------------------------------------- */

struct pol_state *
pol_state_new(const struct sp_policy *p, struct sp_policy_result *r)
{
	struct pol_state *st = calloc(1, sizeof(*st));

	if (st == NULL)
		return NULL;
	st->p = p;
	st->r = r;
	if (p->nterms > 0 && (st->term_seen = calloc(p->nterms, 1)) == NULL) {
		free(st);
		return NULL;
	}
	return st;
}

void
pol_state_free(struct pol_state *st)
{
	if (st == NULL)
		return;
	if (st->stream != NULL)
		hs_close_stream(st->stream, NULL, NULL, NULL);
	free(st->term_seen);
	free(st->view);
	free(st->q);
	free(st);
}

int
pol_state_ctx_needed(const struct pol_state *st)
{
	size_t i;

	if (st->p->ctxdb == NULL || st->ctx_pass)
		return 0;
	for (i = 0; i < st->p->nrules; i++) {
		const struct pol_rule *r = &st->p->rules[i];
		const struct pol_rule_state *rs = &st->rs[i];

		if (r->type == POL_LEXICON && rs->nmed > 0 &&
		    rs->med_sum + (rs->name ? r->name_bonus : 0) < r->threshold)
			return 1;
	}
	return 0;
}

void
pol_state_ctx_pass(struct pol_state *st)
{
	size_t i;

	st->ctx_pass = 1;
	for (i = 0; i < st->p->nrules; i++)
		if (st->p->rules[i].type == POL_LEXICON)
			st->rs[i].ctx_counted = 1;
}

int
pol_state_fired(const struct pol_state *st, size_t rule, char *why, size_t whysz)
{
	const struct pol_rule *r = &st->p->rules[rule];
	const struct pol_rule_state *rs = &st->rs[rule];
	int score;

	switch (r->type) {
	case POL_SSN:
	case POL_CARD:
	case POL_REGEX:
	case POL_MEDCODE:
	case POL_ROUTING:
		snprintf(why, whysz, "%d valid %s%s (need %d)", rs->count,
		    r->type == POL_SSN ? "social security number" :
		    r->type == POL_CARD ? "card number" :
		    r->type == POL_MEDCODE ? "medical code or date of birth" :
		    r->type == POL_ROUTING ? "bank routing number" : "match",
		    rs->count == 1 ? "" : "s", r->min_count);
		return rs->count >= r->min_count;
	case POL_LEXICON:
		score = rs->nmed > 0 ? rs->med_sum + rs->ctx_sum + (rs->name ? r->name_bonus : 0) : 0;
		if (rs->nmed > 0 && !rs->ctx_counted)
			snprintf(why, whysz, "score %d %s threshold %d (terms %d, context words not needed, "
			    "name nearby %s)", score, score >= r->threshold ? ">=" : "<", r->threshold,
			    rs->med_sum, rs->name ? "yes" : "no");
		else
			snprintf(why, whysz, "score %d %s threshold %d (terms %d, context %d, name nearby %s)",
			    score, score >= r->threshold ? ">=" : "<", r->threshold,
			    rs->med_sum, rs->nmed > 0 ? rs->ctx_sum : 0, rs->name ? "yes" : "no");
		return score >= r->threshold;
	default:
		snprintf(why, whysz, "not a content rule");
		return 0;
	}
}

/* --- validation of candidates -------------------------------------------- */

static int
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int
is_word(int c)
{
	return isalnum(c) || c == '_' || c >= 0x80;
}

static int
is_sep(int c)
{
	return c == '-' || c == ' ' || c == '.' || c == '/';
}

/* Does a number starting at s and ending at e (exclusive) continue into
 * another group of digits on either side (a longer number, a phone number)? */
static int
run_continues(const char *seg, size_t len, size_t s, size_t e)
{
	if (s > 0 && is_digit((unsigned char)seg[s - 1]))
		return 1;
	if (s > 1 && is_sep((unsigned char)seg[s - 1]) && is_digit((unsigned char)seg[s - 2]))
		return 1;
	if (e < len && is_digit((unsigned char)seg[e]))
		return 1;
	if (e + 1 < len && is_sep((unsigned char)seg[e]) && is_digit((unsigned char)seg[e + 1]))
		return 1;
	return 0;
}

static int
ci_contains(const char *h, size_t hn, const char *needle)
{
	size_t nn = strlen(needle), i, j;

	for (i = 0; i + nn <= hn; i++) {
		for (j = 0; j < nn; j++)
			if (tolower((unsigned char)h[i + j]) != needle[j])
				break;
		if (j == nn)
			return 1;
	}
	return 0;
}

static void
record(struct pol_state *st, size_t rule, size_t s, size_t e, int mask)
{
	char txt[64];
	size_t n = e - s;

	if (n > 40)
		n = 40;
	if (mask)
		sp_policy_mask(st->seg + s, n, txt, sizeof(txt));
	else
		snprintf(txt, sizeof(txt), "%.*s", (int)n, st->seg + s);
	for (n = 0; txt[n] != '\0'; n++)
		if ((unsigned char)txt[n] < 0x20)
			txt[n] = ' ';
	pol_result_hit(st->r, st->p->rules[rule].name, st->label, st->base + s, txt);
}

static void
check_ssn(struct pol_state *st, const struct pol_pat *pat, size_t e)
{
	size_t w = pat->kind == PAT_SSN_BARE ? 9 : 11, s, i, k = 0;
	char d[10];

	if (e < w)
		return;
	s = e - w;
	if (run_continues(st->seg, st->seglen, s, e))
		return;
	if (pat->kind == PAT_SSN_BARE) {
		size_t cs = s > POL_SSN_CONTEXT ? s - POL_SSN_CONTEXT : 0;

		if (!ci_contains(st->seg + cs, s - cs, "ssn") &&
		    !ci_contains(st->seg + cs, s - cs, "social security") &&
		    !ci_contains(st->seg + cs, s - cs, "soc sec") &&
		    !ci_contains(st->seg + cs, s - cs, "ss#"))
			return;
	}
	for (i = s; i < e && k < 9; i++)
		if (is_digit((unsigned char)st->seg[i]))
			d[k++] = st->seg[i];
	d[k] = '\0';
	if (k != 9 || !sp_policy_ssn_valid(d))
		return;
	st->rs[pat->rule].count++;
	record(st, pat->rule, s, e, 1);
}

static void
check_card(struct pol_state *st, const struct pol_pat *pat, size_t e)
{
	struct pol_rule_state *rs = &st->rs[pat->rule];
	const char *g = st->seg;
	size_t s = e, i, k = 0;
	char d[20];

	/* the match ends on a digit; a longer run on the right gets its own match */
	if (e < st->seglen && (is_digit((unsigned char)g[e]) ||
	    (e + 1 < st->seglen && (g[e] == ' ' || g[e] == '-') && is_digit((unsigned char)g[e + 1]))))
		return;
	while (s > 0 && e - s < POL_MAX_RUN) {
		if (is_digit((unsigned char)g[s - 1]))
			s--;
		else if (s > 1 && (g[s - 1] == ' ' || g[s - 1] == '-') && is_digit((unsigned char)g[s - 2]))
			s--;
		else
			break;
	}
	if (e - s >= POL_MAX_RUN || st->base + s < rs->last_end)
		return;
	rs->last_end = st->base + e;
	if (s > 0 && is_word((unsigned char)g[s - 1]))
		return;
	for (i = s; i < e; i++) {
		if (is_digit((unsigned char)g[i])) {
			if (k >= 19)
				return;
			d[k++] = g[i];
		}
	}
	if (!sp_policy_card_valid(d, k))
		return;
	rs->count++;
	record(st, pat->rule, s, e, 1);
}

static const char *const name_stop[] = {
	"the", "this", "that", "these", "those", "dear", "hi", "hello", "hey", "thanks",
	"thank", "best", "kind", "warm", "regards", "please", "re", "fw", "fwd", "subject",
	"from", "to", "cc", "date", "sent", "monday", "tuesday", "wednesday", "thursday",
	"friday", "saturday", "sunday", "january", "february", "march", "april", "may",
	"june", "july", "august", "september", "october", "november", "december",
	"room", "floor", "department", "dept", "clinic", "hospital", "center", "centre",
	"medical", "health", "university", "street", "avenue", "road", "suite", "building",
	"unit", "ward", "team", "group", "inc", "llc", "ltd", "company", "office", "north",
	"south", "east", "west", "new", "san", "los", "las", "st", "mount", "lake", "fort",
	"our", "your", "my", "his", "her", "their", "we", "you", "i", "it", "he", "she",
	"they", "and", "or", "but", "for", "at", "in", "on", "of", "with", "no", "yes",
	"ok", "if", "when", "what", "who", "how", "why", "all", "any", "is", "was", "are",
	"be", "will", "can", "let", "see", "note", "notes", "update", "reminder", "meeting",
	"band", "album", "song", "movie", "film", "show", "season", "episode", "game",
	"chapter", "book", "page", "section", "rocky", "star", "wars", "city", "county",
	"state", "united", "states", "america", "american", "national", "general",
	"hall", "park", "school", "college", "church", "bank", "club", "restaurant", "cafe",
	"recipe", "menu", "lunch", "dinner", "breakfast", "party",
};

static int
word_is_stop(const struct sp_policy *p, size_t rule, const char *w, size_t n)
{
	char low[32];
	size_t i;
	const struct pol_rule *r = &p->rules[rule];

	if (n >= sizeof(low))
		return 1;
	for (i = 0; i < n; i++)
		low[i] = (char)tolower((unsigned char)w[i]);
	low[n] = '\0';
	for (i = 0; i < sizeof(name_stop) / sizeof(name_stop[0]); i++)
		if (strcmp(low, name_stop[i]) == 0)
			return 1;
	for (i = r->term_first; i < r->term_first + r->term_count; i++)
		if (p->terms[i].len == n && memcmp(p->terms[i].text, low, n) == 0)
			return 1;
	return 0;
}

/* A capitalised word at s: [A-Z][a-z]+ (2..20 letters).  Returns its length. */
static size_t
cap_word(const char *g, size_t len, size_t s)
{
	size_t n = 1;

	if (s >= len || !isupper((unsigned char)g[s]))
		return 0;
	if (s > 0 && is_word((unsigned char)g[s - 1]))
		return 0;
	while (s + n < len && islower((unsigned char)g[s + n]))
		n++;
	if (n < 2 || n > 20 || (s + n < len && is_word((unsigned char)g[s + n])))
		return 0;
	return n;
}

static int
is_title(const char *w, size_t n)
{
	return (n == 2 && (memcmp(w, "Mr", 2) == 0 || memcmp(w, "Ms", 2) == 0 ||
	    memcmp(w, "Dr", 2) == 0)) || (n == 3 && memcmp(w, "Mrs", 3) == 0) ||
	    (n == 4 && memcmp(w, "Miss", 4) == 0);
}

/* Is there a person's name in g[s, e): a title ("Mr.", "Dr") followed by a
 * capitalised word, or two capitalised words in a row that are neither
 * common words nor terms of the lexicon? */
static int
name_near(const struct pol_state *st, size_t rule, size_t s, size_t e)
{
	const char *g = st->seg;
	size_t i, n1, n2, j;
	int title;

	for (i = s; i < e; i++) {
		if ((n1 = cap_word(g, e, i)) == 0)
			continue;
		title = is_title(g + i, n1);
		j = i + n1;
		if (title && j < e && g[j] == '.')
			j++;
		if (j + 1 >= e || g[j] != ' ' || (n2 = cap_word(g, e, j + 1)) == 0) {
			i += n1 - 1;
			continue;
		}
		if (word_is_stop(st->p, rule, g + j + 1, n2)) {
			i += n1 - 1;
			continue;
		}
		if (title || !word_is_stop(st->p, rule, g + i, n1))
			return 1;
		i += n1 - 1;
	}
	return 0;
}

static void
check_term(struct pol_state *st, const struct pol_pat *pat, size_t e)
{
	const struct pol_term *t = &st->p->terms[pat->term];
	const struct pol_rule *r = &st->p->rules[pat->rule];
	struct pol_rule_state *rs = &st->rs[pat->rule];
	const char *g = st->seg;
	size_t s;

	if (e < t->len)
		return;
	s = e - t->len;
	if (s > 0 && is_word((unsigned char)g[s - 1]))
		return;
	if (e < st->seglen && is_word((unsigned char)g[e])) {
		/* plurals: term + "s" or "es" */
		size_t x = e;

		if (g[x] == 'e' || g[x] == 'E')
			x++;
		if (x < st->seglen && (g[x] == 's' || g[x] == 'S'))
			x++;
		else
			return;
		if (x < st->seglen && is_word((unsigned char)g[x]))
			return;
		e = x;
	}
	if (!st->term_seen[pat->term]) {
		st->term_seen[pat->term] = 1;
		if (t->context) {
			rs->ctx_sum += t->weight;
		} else {
			rs->med_sum += t->weight;
			rs->nmed++;
		}
		record(st, pat->rule, s, e, 0);
	}
	if (!t->context && !rs->name && r->name_bonus > 0 && rs->name_checks < POL_MAX_NAME_CHECKS) {
		size_t w = (size_t)r->window;

		rs->name_checks++;
		rs->name = name_near(st, pat->rule, s > w ? s - w : 0,
		    e + w < st->seglen ? e + w : st->seglen);
	}
}

/* --- medical codes, dates of birth, routing numbers ----------------------- */

/* Context words.  A word of three letters or fewer must stand alone; a
 * longer one may begin a longer word ("diagnos" in "diagnosis"). */
static const char *const ctx_icd[] = { "icd", "diagnos", "dx", "ddx", "comorbid", NULL };
static const char *const ctx_cpt[] = { "cpt", "hcpcs", "procedure code", "billing code", NULL };
static const char *const ctx_ndc[] = { "ndc", "national drug code", NULL };
static const char *const ctx_npi[] = { "npi", "national provider", NULL };
static const char *const ctx_med[] = {
	"patient", "prescri", "medication", "pharmac", "physician", "clinical", "treatment",
	"symptom", "rx", "dosage", "refill", "medical record", "chart", "hospital", "clinic",
	"diagnos", "icd", "cpt", "ndc", "npi", "dob", "insurance claim", NULL };
static const char *const ctx_dob[] = { "dob", "d.o.b", "date of birth", "birth date",
	"birthdate", "born on", "born", NULL };
static const char *const ctx_aba[] = { "routing", "aba", "rtn", "transit number", "routing/transit", NULL };
static const char *const ctx_bank[] = { "bank", "account", "acct", "wire", "ach", "deposit", "checking",
	"savings", NULL };

static int
is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* How many distinct words of list occur in seg[s, e)? */
static int
ctx_count(const struct pol_state *st, size_t s, size_t e, const char *const *list)
{
	const char *g = st->seg;
	int n = 0;
	size_t w, i, j, k;

	for (w = 0; list[w] != NULL; w++) {
		size_t len = strlen(list[w]);

		for (i = s; i + len <= e; i++) {
			if ((g[i] | 0x20) != list[w][0] || (i > 0 && is_alpha((unsigned char)g[i - 1])))
				continue;
			for (j = 1; j < len; j++)
				if (tolower((unsigned char)g[i + j]) != list[w][j])
					break;
			if (j < len)
				continue;
			k = i + len;
			if (len <= 3 && k < st->seglen && is_alpha((unsigned char)g[k]))
				continue;
			n++;
			break;
		}
	}
	return n;
}

static int
ctx_near(const struct pol_state *st, size_t s, size_t e, const char *const *list, int need)
{
	size_t a = s > POL_MED_WINDOW ? s - POL_MED_WINDOW : 0;
	size_t b = e + POL_MED_WINDOW < st->seglen ? e + POL_MED_WINDOW : st->seglen;

	return ctx_count(st, a, b, list) >= need;
}

static int
num2(const char *g, size_t *i, size_t e, int max)
{
	int v = 0, k = 0;

	while (*i < e && is_digit((unsigned char)g[*i]) && k < max) {
		v = v * 10 + (g[*i] - '0');
		(*i)++;
		k++;
	}
	return k > 0 ? v : -1;
}

/* Is g[s, e) a real calendar date (M/D/Y or D/M/Y, Y-M-D, Month D, Y)? */
static int
date_ok(const char *g, size_t s, size_t e, enum pol_pat_kind kind)
{
	size_t i = s;
	int a, b, y;

	if (kind == PAT_DOB_ISO) {
		y = num2(g, &i, e, 4);
		i++;
		a = num2(g, &i, e, 2);
		i++;
		b = num2(g, &i, e, 2);
		return pol_date_valid(y, a, b);
	}
	if (kind == PAT_DOB_NUM) {
		a = num2(g, &i, e, 2);
		i++;
		b = num2(g, &i, e, 2);
		i++;
		y = num2(g, &i, e, 4);
		return pol_date_valid(y, a, b) || pol_date_valid(y, b, a);
	}
	while (i < e && !is_digit((unsigned char)g[i]))
		i++;
	a = num2(g, &i, e, 2);
	return a >= 1 && a <= 31;
}

/* Start of a variable-width match that ends at e (Hyperscan reports ends
 * only; asking it for starts costs a third of the scan speed). */
static size_t
code_start(const struct pol_state *st, enum pol_pat_kind kind, size_t e)
{
	const char *g = st->seg;
	size_t i, best = e;

	switch (kind) {
	case PAT_ICD:
		/* the longest [A-Z][0-9][0-9A-Z](.[0-9A-Z]{1,4})? ending at e */
		for (i = 3; i <= 8 && i <= e; i++) {
			size_t p = e - i;

			if (isupper((unsigned char)g[p]) && is_digit((unsigned char)g[p + 1]) &&
			    (p == 0 || !is_word((unsigned char)g[p - 1])))
				best = p;
		}
		return best;
	case PAT_DOB_NUM:
		/* 1-2 digits, separator, 1-2 digits, separator, 4 digits */
		i = e >= 4 ? e - 4 : 0;
		if (i > 0)
			i--;
		while (i > 0 && e - i < 8 && is_digit((unsigned char)g[i - 1]))
			i--;
		if (i > 0)
			i--;
		while (i > 0 && e - i < 10 && is_digit((unsigned char)g[i - 1]))
			i--;
		return i;
	case PAT_DOB_MON:
		/* month name, optional '.', space, day, optional ',', space, year */
		i = e >= 5 ? e - 5 : 0;
		if (i > 0 && g[i - 1] == ',')
			i--;
		while (i > 0 && e - i < 8 && is_digit((unsigned char)g[i - 1]))
			i--;
		if (i > 0)
			i--;
		if (i > 0 && g[i - 1] == '.')
			i--;
		while (i > 0 && e - i < 19 && is_alpha((unsigned char)g[i - 1]))
			i--;
		return i;
	default:
		return e;
	}
}

static void
check_code(struct pol_state *st, const struct pol_pat *pat, size_t from, size_t e)
{
	struct pol_rule_state *rs = &st->rs[pat->rule];
	const char *g = st->seg;
	size_t s, i, k = 0;
	char d[16];
	int ok = 0;
	enum pol_pat_kind kind = pat->kind;

	switch (pat->kind) {
	case PAT_CPT: s = e >= 5 ? e - 5 : 0; break;
	case PAT_NDC: s = e >= 12 ? e - 12 : 0; break;
	case PAT_NPI:
	case PAT_DOB_ISO: s = e >= 10 ? e - 10 : 0; break;
	case PAT_ROUTING: s = e >= 9 ? e - 9 : 0; break;
	case PAT_DOB_NUM:
		/* which of the three date shapes ends at e */
		kind = PAT_DOB_MON;
		if (e >= 10 && g[e - 3] == '-' && g[e - 6] == '-' && is_digit((unsigned char)g[e - 10]) &&
		    is_digit((unsigned char)g[e - 7]))
			kind = PAT_DOB_ISO;
		else if (e >= 6 && (g[e - 5] == '/' || g[e - 5] == '.' || g[e - 5] == '-'))
			kind = PAT_DOB_NUM;
		s = kind == PAT_DOB_ISO ? e - 10 : code_start(st, kind, e);
		break;
	default: s = code_start(st, pat->kind, e); break;
	}
	(void)from;
	if (s >= e || e > st->seglen)
		return;
	/* part of a longer number, phone number, date range or product code */
	if (pat->kind == PAT_ICD) {
		if (e + 1 < st->seglen && g[e] == '.' && isalnum((unsigned char)g[e + 1]))
			return;		/* the longer match comes next */
		if ((s > 0 && (g[s - 1] == '-' || g[s - 1] == '/' || g[s - 1] == '#')) ||
		    (e < st->seglen && (g[e] == '-' || g[e] == '/')))
			return;
		if (s >= 8 && ci_contains(g + s - 8, 8, "vitamin "))
			return;
	} else if (kind == PAT_DOB_MON) {
		if (e < st->seglen && is_digit((unsigned char)g[e]))
			return;
	} else if (run_continues(g, st->seglen, s, e)) {
		return;
	} else if (s > 0 && (g[s - 1] == '#' || g[s - 1] == '$' || g[s - 1] == '+')) {
		return;
	}
	if (rs->ctx_checks >= POL_MAX_CTX_CHECKS)
		return;
	for (i = s; i < e && k < sizeof(d) - 1; i++)
		if (is_digit((unsigned char)g[i]))
			d[k++] = g[i];
	d[k] = '\0';
	switch (pat->kind) {
	case PAT_ICD:
		if (!pol_icd_valid(g + s, e - s))
			return;
		rs->ctx_checks++;
		ok = ctx_near(st, s, e, ctx_icd, 1) || ctx_near(st, s, e, ctx_med, 2);
		break;
	case PAT_CPT:
		rs->ctx_checks++;
		ok = ctx_near(st, s, e, ctx_cpt, 1);
		break;
	case PAT_NDC:
		rs->ctx_checks++;
		ok = ctx_near(st, s, e, ctx_ndc, 1) || ctx_near(st, s, e, ctx_med, 2);
		break;
	case PAT_NPI:
		if (k != 10 || !pol_npi_valid(d))
			return;
		rs->ctx_checks++;
		ok = ctx_near(st, s, e, ctx_npi, 1);
		break;
	case PAT_DOB_NUM:
	case PAT_DOB_ISO:
	case PAT_DOB_MON:
		if (!date_ok(g, s, e, kind))
			return;
		rs->ctx_checks++;
		ok = ctx_count(st, s > POL_DOB_CONTEXT ? s - POL_DOB_CONTEXT : 0, s, ctx_dob) > 0 &&
		    (ctx_near(st, s, e, ctx_med, 1) ||
		    name_near(st, pat->rule, s > POL_MED_WINDOW ? s - POL_MED_WINDOW : 0,
		    e + POL_MED_WINDOW < st->seglen ? e + POL_MED_WINDOW : st->seglen));
		break;
	case PAT_ROUTING:
		if (k != 9 || !pol_aba_valid(d))
			return;
		rs->ctx_checks++;
		ok = ctx_near(st, s, e, ctx_aba, 1) || ctx_near(st, s, e, ctx_bank, 2);
		break;
	default:
		break;
	}
	if (!ok)
		return;
	rs->count++;
	record(st, pat->rule, s, e, 1);
}

/* Validate one match of a pattern that is not a candidate; from and to are
 * offsets in st->seg. */
static void
validate(struct pol_state *st, const struct pol_pat *pat, size_t from, size_t to)
{
	switch (pat->kind) {
	case PAT_SSN_DASH:
	case PAT_SSN_SPACE:
	case PAT_SSN_BARE:
		check_ssn(st, pat, to);
		break;
	case PAT_CARD:
		check_card(st, pat, to);
		break;
	case PAT_TERM:
		check_term(st, pat, to);
		break;
	case PAT_ICD:
	case PAT_CPT:
	case PAT_NDC:
	case PAT_NPI:
	case PAT_DOB_NUM:
	case PAT_DOB_ISO:
	case PAT_DOB_MON:
	case PAT_ROUTING:
		check_code(st, pat, from, to);
		break;
	case PAT_REGEX:
		st->rs[pat->rule].count++;
		if (from <= to)
			record(st, pat->rule, from, to, 1);
		break;
	default:
		break;
	}
}

/* Hyperscan's word characters (\b), ASCII only. */
static int
is_hsword(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int
is_numch(int c)
{
	return is_digit(c) || c == ' ' || c == '-';
}

#define POL_WIN_AHEAD	256

struct win_ctx {
	struct pol_state *st;
	size_t a;		/* window start in st->seg */
	size_t prev;		/* segment offset already covered by this database */
};

static int
on_window(unsigned int id, unsigned long long from, unsigned long long to,
    unsigned int flags, void *ctx)
{
	struct win_ctx *w = ctx;
	struct pol_state *st = w->st;

	(void)flags;
	if (id >= st->p->npats || w->a + to > st->seglen || st->base + w->a + to <= w->prev)
		return 0;
	validate(st, &st->p->pats[id], w->a + (size_t)from, w->a + (size_t)to);
	return 0;
}

/* A candidate of database db ended at e: run that database over the text
 * around it.  The window is widened to the ends of the words it cuts, so
 * that \b at its edges reads as in the whole text; matches ending where an
 * earlier window of the same database reached are not reported twice. */
static void
window(struct pol_state *st, enum pol_db db, size_t e)
{
	const char *g = st->seg;
	size_t len = st->seglen, a, b, k, x, y;
	struct win_ctx w;

	/* a window reaches at most 96 bytes past its candidate (64 of digits
	 * and 32 of a word): inside the last window there is nothing to do */
	if (st->base + e + 96 <= st->done[db])
		return;
	switch (db) {
	case POL_DB_NUM:
		/* the run of digits, blanks and dashes the candidate is in */
		x = e >= 4 ? e - 4 : 0;
		for (a = x; a > 0 && x - a < 64 && is_numch((unsigned char)g[a - 1]); a--)
			;
		for (b = e; b < len && b - e < 64 && is_numch((unsigned char)g[b]); b++)
			;
		break;
	case POL_DB_ICD:
		a = e >= 3 ? e - 3 : 0;
		for (b = e; b < len && b - e < 8 && (is_hsword((unsigned char)g[b]) || g[b] == '.'); b++)
			;
		break;
	default:
		/* the longest birth word before e, " on", 20 separators, a date */
		a = e >= 13 ? e - 13 : 0;
		b = e + 45 < len ? e + 45 : len;
		break;
	}
	for (k = 0; a > 0 && k < 32 && is_hsword((unsigned char)g[a - 1]); k++)
		a--;
	for (k = 0; b < len && k < 32 && is_hsword((unsigned char)g[b]); k++)
		b++;
	/* candidates come in the order of their ends, so the start of their
	 * windows never goes back: one that the last window covered is done */
	if (st->base + b <= st->done[db] || st->p->sub[db] == NULL || st->sub == NULL)
		return;
	/* a window reaches POL_WIN_AHEAD bytes further, so that a flood of
	 * candidates ("DOB DOB DOB...") costs one window per that many bytes */
	b = b + POL_WIN_AHEAD < len ? b + POL_WIN_AHEAD : len;
	for (k = 0; b < len && k < 32 && is_hsword((unsigned char)g[b]); k++)
		b++;
	w.st = st;
	w.a = a;
	w.prev = st->done[db];
	st->done[db] = st->base + b;
	y = b - a;
	(void)hs_scan(st->p->sub[db], g + a, (unsigned int)y, 0, st->sub, on_window, &w);
}

/* A match of the main database; from and to are offsets in st->seg. */
static void
dispatch(struct pol_state *st, const struct pol_pat *pat, size_t from, size_t to)
{
	switch (pat->kind) {
	case PAT_CAND_NUM:
		window(st, POL_DB_NUM, to);
		break;
	case PAT_CAND_ICD:
		window(st, POL_DB_ICD, to);
		break;
	case PAT_CAND_DOB:
		window(st, POL_DB_DOB, to);
		break;
	default:
		validate(st, pat, from, to);
		break;
	}
}

static void
segment_begin(struct pol_state *st, const char *label)
{
	size_t i;

	st->label = label;
	st->base = 0;
	for (i = 0; i < st->p->nrules; i++)
		st->rs[i].last_end = 0;
	memset(st->done, 0, sizeof(st->done));
	if (!st->ctx_pass)
		st->r->scanned_parts++;
}

/* --- streaming ------------------------------------------------------------ */

/* Text needed after a match before it is validated, and text kept before a
 * new piece: a lexicon term looks up to 2000 bytes (the largest `window`)
 * either side for a name, codes 100 bytes, candidate windows less than
 * 128; a match waiting for its right-hand side still needs its left. */
#define POL_LOOK	(2000 + 256)
#define POL_HIST	(2 * POL_LOOK + 512)

/* Offsets the stream reports are from the segment start; the view holds
 * the segment from st->base on. */
static void
stream_validate(struct pol_state *st, const struct pol_cand *c)
{
	if (c->to < st->base || c->to - st->base > st->seglen)
		return;
	dispatch(st, &st->p->pats[c->id], c->from >= st->base ? (size_t)(c->from - st->base) : 0,
	    (size_t)(c->to - st->base));
}

static void
drain(struct pol_state *st)
{
	while (st->qhead < st->nq &&
	    (st->final || st->q[st->qhead].to + POL_LOOK <= st->base + st->seglen))
		stream_validate(st, &st->q[st->qhead++]);
	if (st->qhead == st->nq)
		st->qhead = st->nq = 0;
}

static int
on_stream(unsigned int id, unsigned long long from, unsigned long long to,
    unsigned int flags, void *ctx)
{
	struct pol_state *st = ctx;
	struct pol_cand c;

	(void)flags;
	if (id >= st->p->npats)
		return 0;
	c.id = id;
	c.from = from;
	c.to = to;
	if (st->nq == st->qhead && (st->final || to + POL_LOOK <= st->base + st->seglen)) {
		stream_validate(st, &c);
		return 0;
	}
	if (st->nq == st->qcap) {
		size_t nc;
		struct pol_cand *nq;

		if (st->qhead > 0) {
			memmove(st->q, st->q + st->qhead, (st->nq - st->qhead) * sizeof(*st->q));
			st->nq -= st->qhead;
			st->qhead = 0;
		}
		if (st->nq == st->qcap) {
			nc = st->qcap ? st->qcap * 2 : 256;
			if ((nq = realloc(st->q, nc * sizeof(*nq))) == NULL) {
				st->err = SP_ERR_NOMEM;
				return 1;
			}
			st->q = nq;
			st->qcap = nc;
		}
	}
	st->q[st->nq++] = c;
	return 0;
}

int
pol_scan_stream_open(struct pol_state *st, struct sp_policy_scratch *s,
    const char *label, struct sp_err *err)
{
	const hs_database_t *db = st->ctx_pass ? st->p->ctxdb : st->p->db;

	if (db == NULL)
		return SP_OK;
	if (s == NULL || s->hs == NULL)
		return sp_err_set(err, SP_ERR_INTERNAL, "no scanner scratch");
	if (st->stream != NULL)
		return sp_err_set(err, SP_ERR_INTERNAL, "a segment is already open");
	if (hs_open_stream(db, 0, &st->stream) != HS_SUCCESS)
		return sp_err_set(err, SP_ERR_NOMEM, "cannot open a scanner stream");
	segment_begin(st, label);
	st->hs = s->hs;
	st->sub = s->sub;
	st->seg = st->view;
	st->seglen = 0;
	st->final = 0;
	st->nq = st->qhead = 0;
	st->err = SP_OK;
	return SP_OK;
}

int
pol_scan_stream_chunk(struct pol_state *st, const char *text, size_t len, struct sp_err *err)
{
	size_t keep;
	hs_error_t he;

	if (st->stream == NULL || len == 0)
		return SP_OK;
	if (len > 0xffffffffu)
		return sp_err_set(err, SP_ERR_TOOBIG, "text piece too large");
	/* keep the last POL_HIST bytes, then the piece */
	keep = st->seglen < POL_HIST ? st->seglen : POL_HIST;
	if (keep + len > st->viewcap) {
		char *nv = realloc(st->view, keep + len);

		if (nv == NULL)
			return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
		st->view = nv;
		st->viewcap = keep + len;
	}
	if (keep < st->seglen)
		memmove(st->view, st->view + (st->seglen - keep), keep);
	st->base += st->seglen - keep;
	memcpy(st->view + keep, text, len);
	st->seg = st->view;
	st->seglen = keep + len;
	if (!st->ctx_pass)
		st->r->scanned_bytes += len;
	drain(st);
	he = hs_scan_stream(st->stream, st->view + keep, (unsigned int)len, 0, st->hs, on_stream, st);
	if (st->err != SP_OK)
		return sp_err_set(err, st->err, "out of memory");
	if (he != HS_SUCCESS)
		return sp_err_set(err, SP_ERR_INTERNAL, "scanner failed (hyperscan error %d)", (int)he);
	return SP_OK;
}

/* A whole segment: one piece, validated where it lies (no copy). */
int
pol_scan_segment(struct pol_state *st, struct sp_policy_scratch *s, const char *label,
    const char *text, size_t len, struct sp_err *err)
{
	hs_error_t he;
	int ret;

	if (len == 0)
		return SP_OK;
	if (len > 0xffffffffu)
		return sp_err_set(err, SP_ERR_TOOBIG, "text segment too large");
	if ((ret = pol_scan_stream_open(st, s, label, err)) != SP_OK || st->stream == NULL)
		return ret;
	st->final = 1;
	st->seg = text;
	st->seglen = len;
	if (!st->ctx_pass)
		st->r->scanned_bytes += len;
	he = hs_scan_stream(st->stream, text, (unsigned int)len, 0, st->hs, on_stream, st);
	if ((ret = pol_scan_stream_close(st, err)) != SP_OK)
		return ret;
	if (he != HS_SUCCESS)
		return sp_err_set(err, SP_ERR_INTERNAL, "scanner failed (hyperscan error %d)", (int)he);
	return SP_OK;
}

int
pol_scan_stream_close(struct pol_state *st, struct sp_err *err)
{
	hs_error_t he;
	int ret = SP_OK;

	if (st->stream == NULL)
		return SP_OK;
	st->final = 1;
	he = hs_close_stream(st->stream, st->err == SP_OK ? st->hs : NULL, on_stream, st);
	st->stream = NULL;
	drain(st);
	if (st->err != SP_OK)
		ret = sp_err_set(err, st->err, "out of memory");
	else if (he != HS_SUCCESS)
		ret = sp_err_set(err, SP_ERR_INTERNAL, "scanner failed (hyperscan error %d)", (int)he);
	st->seg = NULL;
	st->seglen = 0;
	st->nq = st->qhead = 0;
	return ret;
}

/*
 * policy_scan.c - the content matcher: compiles every content rule of a
 * policy (SSN and card candidates, lexicon terms, custom patterns) into one
 * Hyperscan block-mode database, scans decoded text with it in one pass and
 * validates each candidate in C (digit-run extents, SSA rules, Luhn and
 * issuer prefix, word boundaries, lexicon scores, a person's name near a
 * medical term).
 * SECURITY: scans untrusted text; all context reads are bounds-checked
 * against the segment, per-decision work per match is bounded, matched
 * numbers are masked before they leave this file.
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
	size_t last_end;	/* card: end of the last run validated in this segment */
	int ctx_checks;		/* medcode, routing: context look-ups done */
};

struct pol_state {
	const struct sp_policy *p;
	struct sp_policy_result *r;
	struct pol_rule_state rs[SP_POLICY_MAX_RULES];
	unsigned char *term_seen;
	const char *seg;
	size_t seglen;
	const char *label;
};

/* --- compile ------------------------------------------------------------- */

static int
add_pat(struct sp_policy *p, char ***exprs, unsigned **flags, size_t *cap,
    char *expr, unsigned fl, enum pol_pat_kind kind, size_t rule, size_t term,
    struct sp_err *err)
{
	if (expr == NULL)
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	if (p->npats == *cap) {
		size_t nc = *cap ? *cap * 2 : 64;
		char **ne;
		unsigned *nf;
		struct pol_pat *np;

		if ((ne = realloc(*exprs, nc * sizeof(*ne))) == NULL) {
			free(expr);
			return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
		}
		*exprs = ne;
		if ((nf = realloc(*flags, nc * sizeof(*nf))) == NULL) {
			free(expr);
			return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
		}
		*flags = nf;
		if ((np = realloc(p->pats, nc * sizeof(*np))) == NULL) {
			free(expr);
			return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
		}
		p->pats = np;
		*cap = nc;
	}
	(*exprs)[p->npats] = expr;
	(*flags)[p->npats] = fl;
	p->pats[p->npats].kind = kind;
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

int
pol_scan_compile(struct sp_policy *p, struct sp_err *err)
{
	char **exprs = NULL;
	unsigned *flags = NULL, *ids = NULL;
	size_t cap = 0, i, t;
	int st = SP_OK;
	hs_compile_error_t *ce = NULL;

	for (i = 0; i < p->nrules && st == SP_OK; i++) {
		struct pol_rule *r = &p->rules[i];

		switch (r->type) {
		case POL_SSN:
			st = add_pat(p, &exprs, &flags, &cap, strdup("\\b\\d{3}-\\d{2}-\\d{4}\\b"),
			    0, PAT_SSN_DASH, i, 0, err);
			if (st == SP_OK)
				st = add_pat(p, &exprs, &flags, &cap, strdup("\\b\\d{3} \\d{2} \\d{4}\\b"),
				    0, PAT_SSN_SPACE, i, 0, err);
			if (st == SP_OK)
				st = add_pat(p, &exprs, &flags, &cap, strdup("\\b\\d{9}\\b"),
				    0, PAT_SSN_BARE, i, 0, err);
			break;
		case POL_CARD:
			st = add_pat(p, &exprs, &flags, &cap, strdup("\\b\\d(?:[ -]?\\d){12,18}\\b"),
			    0, PAT_CARD, i, 0, err);
			break;
		case POL_LEXICON:
			for (t = r->term_first; t < r->term_first + r->term_count && st == SP_OK; t++)
				st = add_pat(p, &exprs, &flags, &cap,
				    term_expr(p->terms[t].text, p->terms[t].len),
				    HS_FLAG_CASELESS, PAT_TERM, i, t, err);
			break;
		case POL_MEDCODE:
			st = add_pat(p, &exprs, &flags, &cap,
			    strdup("\\b[A-TV-Z]\\d[0-9A-Z](?:\\.[0-9A-Z]{1,4})?\\b"),
			    0, PAT_ICD, i, 0, err);
			if (st == SP_OK)
				st = add_pat(p, &exprs, &flags, &cap, strdup("\\b\\d{4}[0-9FT]\\b"),
				    0, PAT_CPT, i, 0, err);
			if (st == SP_OK)
				st = add_pat(p, &exprs, &flags, &cap,
				    strdup("\\b(?:\\d{4}-\\d{4}-\\d{2}|\\d{5}-\\d{3}-\\d{2}|\\d{5}-\\d{4}-\\d)\\b"),
				    0, PAT_NDC, i, 0, err);
			if (st == SP_OK)
				st = add_pat(p, &exprs, &flags, &cap, strdup("\\b[12]\\d{9}\\b"),
				    0, PAT_NPI, i, 0, err);
			/* a date of birth: the birth word is part of the pattern, so
			 * that plain dates cost no callback */
			if (st == SP_OK)
				st = add_pat(p, &exprs, &flags, &cap,
				    strdup("\\b(?:dob|d\\.o\\.b|date of birth|birth ?date|born(?: on)?)\\W{0,20}"
				    "(?:\\d{1,2}[/.-]\\d{1,2}[/.-](?:19|20)\\d{2}|(?:19|20)\\d{2}-\\d{2}-\\d{2}|"
				    "(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]{0,6}\\.? \\d{1,2},? (?:19|20)\\d{2})\\b"),
				    HS_FLAG_CASELESS, PAT_DOB_NUM, i, 0, err);
			break;
		case POL_ROUTING:
			st = add_pat(p, &exprs, &flags, &cap, strdup("\\b\\d{9}\\b"),
			    0, PAT_ROUTING, i, 0, err);
			break;
		case POL_REGEX:
			st = add_pat(p, &exprs, &flags, &cap, strdup(r->pattern),
			    HS_FLAG_SOM_LEFTMOST | (r->caseless ? HS_FLAG_CASELESS : 0u),
			    PAT_REGEX, i, 0, err);
			break;
		default:
			break;
		}
	}
	if (st == SP_OK && p->npats > 0) {
		if ((ids = malloc(p->npats * sizeof(*ids))) == NULL) {
			st = sp_err_set(err, SP_ERR_NOMEM, "out of memory");
		} else {
			for (i = 0; i < p->npats; i++)
				ids[i] = (unsigned)i;
			if (hs_compile_multi((const char *const *)exprs, flags, ids, (unsigned)p->npats,
			    HS_MODE_BLOCK, NULL, &p->db, &ce) != HS_SUCCESS) {
				if (ce != NULL && ce->expression >= 0 && (size_t)ce->expression < p->npats) {
					const struct pol_rule *r = &p->rules[p->pats[ce->expression].rule];

					st = sp_err_set(err, SP_ERR_CONFIG, "%s:%d: rule '%s': pattern does not compile: %s",
					    p->name, r->line, r->name, ce->message);
				} else {
					st = sp_err_set(err, SP_ERR_CONFIG, "%s: patterns do not compile: %s",
					    p->name, ce ? ce->message : "unknown error");
				}
				p->db = NULL;
			} else if (hs_alloc_scratch(p->db, &p->proto) != HS_SUCCESS) {
				st = sp_err_set(err, SP_ERR_NOMEM, "cannot allocate scanner scratch");
			}
		}
	}
	if (ce != NULL)
		hs_free_compile_error(ce);
	for (i = 0; i < p->npats; i++)
		free(exprs[i]);
	free(exprs);
	free(flags);
	free(ids);
	return st;
}

int
sp_policy_scratch_new(const struct sp_policy *p, struct sp_policy_scratch **out,
    struct sp_err *err)
{
	struct sp_policy_scratch *s;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	if (p->proto != NULL && hs_clone_scratch(p->proto, &s->hs) != HS_SUCCESS) {
		free(s);
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
	free(st->term_seen);
	free(st);
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
	pol_result_hit(st->r, st->p->rules[rule].name, st->label, s, txt);
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
	if (e - s >= POL_MAX_RUN || s < rs->last_end)
		return;
	rs->last_end = e;
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

static int
on_match(unsigned int id, unsigned long long from, unsigned long long to,
    unsigned int flags, void *ctx)
{
	struct pol_state *st = ctx;
	const struct pol_pat *pat;

	(void)flags;
	if (id >= st->p->npats || to > st->seglen)
		return 0;
	pat = &st->p->pats[id];
	switch (pat->kind) {
	case PAT_SSN_DASH:
	case PAT_SSN_SPACE:
	case PAT_SSN_BARE:
		check_ssn(st, pat, (size_t)to);
		break;
	case PAT_CARD:
		check_card(st, pat, (size_t)to);
		break;
	case PAT_TERM:
		check_term(st, pat, (size_t)to);
		break;
	case PAT_ICD:
	case PAT_CPT:
	case PAT_NDC:
	case PAT_NPI:
	case PAT_DOB_NUM:
	case PAT_DOB_ISO:
	case PAT_DOB_MON:
	case PAT_ROUTING:
		check_code(st, pat, (size_t)from, (size_t)to);
		break;
	case PAT_REGEX:
		st->rs[pat->rule].count++;
		if (from <= to)
			record(st, pat->rule, (size_t)from, (size_t)to, 1);
		break;
	}
	return 0;
}

int
pol_scan_segment(struct pol_state *st, hs_scratch_t *hs, const char *label,
    const char *text, size_t len, struct sp_err *err)
{
	size_t i;
	hs_error_t he;

	if (st->p->db == NULL || len == 0)
		return SP_OK;
	if (hs == NULL)
		return sp_err_set(err, SP_ERR_INTERNAL, "no scanner scratch");
	if (len > 0xffffffffu)
		return sp_err_set(err, SP_ERR_TOOBIG, "text segment too large");
	st->seg = text;
	st->seglen = len;
	st->label = label;
	for (i = 0; i < st->p->nrules; i++)
		st->rs[i].last_end = 0;
	st->r->scanned_bytes += len;
	st->r->scanned_parts++;
	he = hs_scan(st->p->db, text, (unsigned int)len, 0, hs, on_match, st);
	st->seg = NULL;
	if (he != HS_SUCCESS)
		return sp_err_set(err, SP_ERR_INTERNAL, "scanner failed (hyperscan error %d)", (int)he);
	return SP_OK;
}

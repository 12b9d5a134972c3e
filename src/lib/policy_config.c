/*
 * policy_config.c - reads a policy file (docs/policy.md) and its lexicons
 * into a struct sp_policy, validates every value with file:line messages,
 * then hands the rule table to policy_scan.c to build the matcher.
 * SECURITY: reads administrator files; every line, value and file is
 * bounded and unknown keys are errors, so a typo cannot silently weaken
 * the policy.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "policy_internal.h"

#define POL_MAX_LINE	4096
#define POL_MAX_TERM	64

struct pol_parse {
	struct sp_policy *p;
	const char *file;	/* for messages */
	const char *base_dir;	/* NULL: current directory */
	int builtin;		/* loading the embedded default */
	int line;
	struct pol_rule *cur;	/* section being read, NULL in the global part */
	unsigned seen;		/* keys already set in the current section */
	int key_line[16];	/* where each of them was set */
};

void
pol_list_free(struct pol_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

int
pol_list_has_domain(const struct pol_list *l, const char *domain)
{
	size_t i, dl, el;

	if (domain == NULL)
		return 0;
	dl = strlen(domain);
	for (i = 0; i < l->n; i++) {
		el = strlen(l->v[i]);
		if (dl == el && strcmp(domain, l->v[i]) == 0)
			return 1;
		if (dl > el && domain[dl - el - 1] == '.' && strcmp(domain + dl - el, l->v[i]) == 0)
			return 1;
	}
	return 0;
}

static int
perr(struct pol_parse *ps, const char *fmt, const char *arg, struct sp_err *err)
{
	char msg[200], a[64];
	size_t n = arg ? strnlen(arg, sizeof(a) - 1) : 0;

	memcpy(a, arg ? arg : "", n);
	a[n] = '\0';
	snprintf(msg, sizeof(msg), fmt, a);
	return sp_err_set(err, SP_ERR_CONFIG, "%s:%d: %s", ps->file, ps->line, msg);
}

/* Split value on blanks and commas into lower-case words. */
static int
list_parse(struct pol_parse *ps, const char *v, struct pol_list *l, struct sp_err *err)
{
	const char *s = v;

	pol_list_free(l);
	while (*s != '\0') {
		size_t n = 0, i;
		char **nv, *w;

		while (*s == ' ' || *s == '\t' || *s == ',')
			s++;
		while (s[n] != '\0' && s[n] != ' ' && s[n] != '\t' && s[n] != ',')
			n++;
		if (n == 0)
			break;
		if (n > 253)
			return perr(ps, "domain too long", NULL, err);
		for (i = 0; i < n; i++)
			if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '-')
				return perr(ps, "not a domain name: '%s'", v, err);
		if (l->n >= 1024)
			return perr(ps, "too many domains", NULL, err);
		if ((nv = realloc(l->v, (l->n + 1) * sizeof(*nv))) == NULL)
			return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
		l->v = nv;
		if ((w = strndup(s, n)) == NULL)
			return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
		for (i = 0; i < n; i++)
			w[i] = (char)tolower((unsigned char)w[i]);
		l->v[l->n++] = w;
		s += n;
	}
	if (l->n == 0)
		return perr(ps, "empty domain list", NULL, err);
	return SP_OK;
}

static int
int_parse(struct pol_parse *ps, const char *v, long long lo, long long hi,
    long long *out, struct sp_err *err)
{
	char *end;
	long long x;

	errno = 0;
	x = strtoll(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || x < lo || x > hi) {
		char msg[160];

		snprintf(msg, sizeof(msg), "'%%s' is not a number from %lld to %lld", lo, hi);
		return perr(ps, msg, v, err);
	}
	*out = x;
	return SP_OK;
}

static int
bool_parse(struct pol_parse *ps, const char *v, int *out, struct sp_err *err)
{
	if (strcmp(v, "yes") == 0 || strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
		*out = 1;
	else if (strcmp(v, "no") == 0 || strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
		*out = 0;
	else
		return perr(ps, "'%s' is not yes or no", v, err);
	return SP_OK;
}

static int
str_set(char **dst, const char *v, struct sp_err *err)
{
	free(*dst);
	if ((*dst = strdup(v)) == NULL)
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	return SP_OK;
}

static int
read_whole(const char *path, struct sp_buf *out, struct sp_err *err)
{
	FILE *f;
	char tmp[65536];
	size_t n;
	int st = SP_OK;

	if ((f = fopen(path, "rb")) == NULL)
		return sp_err_set(err, SP_ERR_IO, "%s: %s", path, strerror(errno));
	sp_buf_init(out, SP_POLICY_MAX_FILE);
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		if ((st = sp_buf_append(out, tmp, n)) != SP_OK)
			break;
	if (st == SP_ERR_TOOBIG)
		sp_err_set(err, st, "%s: larger than %zu bytes", path, SP_POLICY_MAX_FILE);
	else if (st != SP_OK)
		sp_err_set(err, st, "%s: out of memory", path);
	else if (ferror(f))
		st = sp_err_set(err, SP_ERR_IO, "%s: read error", path);
	fclose(f);
	if (st == SP_OK && out->data == NULL)
		st = sp_buf_reserve(out, 0);
	if (st != SP_OK)
		sp_buf_free(out);
	return st;
}

/* Iterate over the lines of text: returns the next line (not NUL-terminated)
 * in *line and *n, or 0 at the end. */
static int
next_line(const char *text, size_t len, size_t *pos, const char **line, size_t *n)
{
	size_t s = *pos, e;

	if (s >= len)
		return 0;
	for (e = s; e < len && text[e] != '\n'; e++)
		;
	*line = text + s;
	*n = e - s;
	if (*n > 0 && text[s + *n - 1] == '\r')
		(*n)--;
	*pos = e < len ? e + 1 : e;
	return 1;
}

/* --- lexicon ------------------------------------------------------------- */

static int
lexicon_add(struct sp_policy *p, size_t rule, const char *t, size_t n, int weight,
    int context, const char *file, int line, struct sp_err *err)
{
	char term[POL_MAX_TERM + 1];
	size_t i, o = 0;
	struct pol_term *nt;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)t[i];

		if (c == ' ' || c == '\t') {
			if (o > 0 && term[o - 1] != ' ')
				term[o++] = ' ';
			continue;
		}
		if (!isalnum(c) && c != '-' && c != '\'' && c != '.' && c != '/' && c != '+')
			return sp_err_set(err, SP_ERR_CONFIG, "%s:%d: character '%c' not allowed in a term",
			    file, line, c >= 0x20 && c < 0x7f ? c : '?');
		if (o >= POL_MAX_TERM)
			return sp_err_set(err, SP_ERR_CONFIG, "%s:%d: term longer than %d bytes",
			    file, line, POL_MAX_TERM);
		term[o++] = (char)tolower(c);
	}
	while (o > 0 && term[o - 1] == ' ')
		o--;
	term[o] = '\0';
	if (o < 2 || !isalnum((unsigned char)term[0]))
		return sp_err_set(err, SP_ERR_CONFIG, "%s:%d: a term needs at least two characters, starting with a letter or digit",
		    file, line);
	for (i = p->rules[rule].term_first; i < p->nterms; i++)
		if (p->terms[i].len == o && memcmp(p->terms[i].text, term, o) == 0)
			return sp_err_set(err, SP_ERR_CONFIG, "%s:%d: duplicate term '%s'", file, line, term);
	if (p->nterms >= SP_POLICY_MAX_TERMS)
		return sp_err_set(err, SP_ERR_CONFIG, "%s:%d: more than %d terms in the policy",
		    file, line, SP_POLICY_MAX_TERMS);
	if ((nt = realloc(p->terms, (p->nterms + 1) * sizeof(*nt))) == NULL)
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	p->terms = nt;
	nt = &p->terms[p->nterms];
	if ((nt->text = strdup(term)) == NULL)
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	nt->len = o;
	nt->weight = weight;
	nt->context = context;
	nt->rule = rule;
	p->nterms++;
	return SP_OK;
}

static int
lexicon_parse(struct sp_policy *p, size_t rule, const char *text, size_t len,
    const char *file, struct sp_err *err)
{
	size_t pos = 0, n;
	const char *l;
	int line = 0, context = 0, st;

	p->rules[rule].term_first = p->nterms;
	while (next_line(text, len, &pos, &l, &n)) {
		char *end;
		long w;
		char num[16];
		size_t i = 0, k;

		line++;
		while (i < n && (l[i] == ' ' || l[i] == '\t'))
			i++;
		if (i == n || l[i] == '#')
			continue;
		if (n - i >= 7 && memcmp(l + i, "[terms]", 7) == 0) {
			context = 0;
			continue;
		}
		if (n - i >= 9 && memcmp(l + i, "[context]", 9) == 0) {
			context = 1;
			continue;
		}
		for (k = 0; i + k < n && k < sizeof(num) - 1 && isdigit((unsigned char)l[i + k]); k++)
			num[k] = l[i + k];
		num[k] = '\0';
		errno = 0;
		w = strtol(num, &end, 10);
		if (k == 0 || errno != 0 || w < 1 || w > 100 || i + k >= n ||
		    (l[i + k] != ' ' && l[i + k] != '\t'))
			return sp_err_set(err, SP_ERR_CONFIG,
			    "%s:%d: expected 'WEIGHT TERM' with a weight from 1 to 100", file, line);
		if ((st = lexicon_add(p, rule, l + i + k, n - i - k, (int)w, context, file, line, err)) != SP_OK)
			return st;
	}
	p->rules[rule].term_count = p->nterms - p->rules[rule].term_first;
	if (p->rules[rule].term_count == 0)
		return sp_err_set(err, SP_ERR_CONFIG, "%s: lexicon has no terms", file);
	return SP_OK;
}

static int
lexicon_load(struct pol_parse *ps, size_t rule, const char *v, struct sp_err *err)
{
	struct sp_buf b;
	char path[4096];
	int st;

	if (strcmp(v, "builtin:lexicon-medical.txt") == 0 ||
	    (ps->builtin && strcmp(v, "lexicon-medical.txt") == 0))
		return lexicon_parse(ps->p, rule, pol_default_lexicon, pol_default_lexicon_len,
		    "builtin:lexicon-medical.txt", err);
	if (v[0] == '/' || ps->base_dir == NULL)
		st = snprintf(path, sizeof(path), "%s", v);
	else
		st = snprintf(path, sizeof(path), "%s/%s", ps->base_dir, v);
	if (st < 0 || (size_t)st >= sizeof(path))
		return perr(ps, "lexicon path too long", NULL, err);
	if ((st = read_whole(path, &b, err)) != SP_OK) {
		char msg[sizeof(err->msg)];

		snprintf(msg, sizeof(msg), "%s", err ? err->msg : "cannot read lexicon");
		return perr(ps, "lexicon: %s", msg, err);
	}
	if (memchr(b.data, '\0', b.len) != NULL)
		st = sp_err_set(err, SP_ERR_CONFIG, "%s: binary file", path);
	else
		st = lexicon_parse(ps->p, rule, (const char *)b.data, b.len, path, err);
	sp_buf_free(&b);
	return st;
}

/* --- keys ---------------------------------------------------------------- */

enum { K_TYPE, K_ACTION, K_TAG, K_SENDERS, K_RECIPIENTS, K_KEYWORD, K_HEADER, K_VALUE,
       K_PATTERN, K_CASELESS, K_MIN_COUNT, K_LEXICON, K_THRESHOLD, K_NAME_BONUS,
       K_WINDOW, K_DESCRIPTION, K_NKEYS };

static const char *const rule_keys[K_NKEYS] = {
	"type", "action", "tag", "senders", "recipients", "keyword", "header", "value",
	"pattern", "caseless", "min_count", "lexicon", "threshold", "name_bonus",
	"window", "description",
};

static int
global_key(struct pol_parse *ps, const char *k, const char *v, struct sp_err *err)
{
	long long x;
	int st;

	if (strcmp(k, "internal_domains") == 0)
		return list_parse(ps, v, &ps->p->internal, err);
	if (strcmp(k, "max_scan_bytes") == 0) {
		if ((st = int_parse(ps, v, 4096, (long long)1 << 30, &x, err)) == SP_OK)
			ps->p->max_scan_bytes = (size_t)x;
		return st;
	}
	if (strcmp(k, "max_parts") == 0) {
		if ((st = int_parse(ps, v, 1, SP_POLICY_SCAN_PARTS, &x, err)) == SP_OK)
			ps->p->max_parts = (size_t)x;
		return st;
	}
	return perr(ps, "unknown key '%s' (global keys: internal_domains, max_scan_bytes, max_parts)", k, err);
}

static int
rule_key(struct pol_parse *ps, const char *k, const char *v, struct sp_err *err)
{
	struct pol_rule *r = ps->cur;
	size_t i;
	long long x;
	int st = SP_OK;

	for (i = 0; i < K_NKEYS; i++)
		if (strcmp(k, rule_keys[i]) == 0)
			break;
	if (i == K_NKEYS)
		return perr(ps, "unknown key '%s' in a rule section", k, err);
	if (ps->seen & (1u << i))
		return perr(ps, "key '%s' given twice in this rule", k, err);
	ps->seen |= 1u << i;
	ps->key_line[i] = ps->line;
	switch (i) {
	case K_TYPE:
		if (strcmp(v, "keyword") == 0) r->type = POL_KEYWORD;
		else if (strcmp(v, "header") == 0) r->type = POL_HEADER;
		else if (strcmp(v, "ssn") == 0) r->type = POL_SSN;
		else if (strcmp(v, "card") == 0) r->type = POL_CARD;
		else if (strcmp(v, "lexicon") == 0) r->type = POL_LEXICON;
		else if (strcmp(v, "regex") == 0) r->type = POL_REGEX;
		else if (strcmp(v, "medcode") == 0) r->type = POL_MEDCODE;
		else if (strcmp(v, "routing") == 0) r->type = POL_ROUTING;
		else return perr(ps, "type '%s' is not keyword, header, ssn, card, lexicon, regex, medcode or routing",
		    v, err);
		break;
	case K_ACTION:
		if (strcmp(v, "seal") == 0) r->action = SP_POLICY_SEAL;
		else if (strcmp(v, "seal_tag") == 0) r->action = SP_POLICY_SEAL_TAG;
		else if (strcmp(v, "pass") == 0) r->action = SP_POLICY_PASS;
		else return perr(ps, "action '%s' is not seal, seal_tag or pass", v, err);
		break;
	case K_TAG:
		if (strlen(v) >= sizeof(r->tag) || v[0] == '\0')
			return perr(ps, "tag must be 1 to 63 bytes", NULL, err);
		memcpy(r->tag, v, strlen(v) + 1);
		break;
	case K_SENDERS: st = list_parse(ps, v, &r->senders, err); break;
	case K_RECIPIENTS: st = list_parse(ps, v, &r->recipients, err); break;
	case K_KEYWORD:
		if (v[0] == '\0' || strlen(v) > 63)
			return perr(ps, "keyword must be 1 to 63 bytes", NULL, err);
		st = str_set(&r->keyword, v, err);
		break;
	case K_HEADER:
		for (i = 0; v[i] != '\0'; i++)
			if (v[i] <= ' ' || v[i] == ':' || (unsigned char)v[i] >= 0x7f)
				return perr(ps, "'%s' is not a header field name", v, err);
		if (i == 0 || i > 76)
			return perr(ps, "header field name must be 1 to 76 bytes", NULL, err);
		st = str_set(&r->header, v, err);
		break;
	case K_VALUE: st = str_set(&r->value, v, err); break;
	case K_PATTERN:
		if (v[0] == '\0')
			return perr(ps, "empty pattern", NULL, err);
		st = str_set(&r->pattern, v, err);
		break;
	case K_CASELESS: st = bool_parse(ps, v, &r->caseless, err); break;
	case K_MIN_COUNT:
		if ((st = int_parse(ps, v, 1, 10000, &x, err)) == SP_OK) r->min_count = (int)x;
		break;
	case K_LEXICON:
		if (v[0] == '\0')
			return perr(ps, "empty lexicon path", NULL, err);
		st = lexicon_load(ps, (size_t)(r - ps->p->rules), v, err);
		break;
	case K_THRESHOLD:
		if ((st = int_parse(ps, v, 1, 100000, &x, err)) == SP_OK) r->threshold = (int)x;
		break;
	case K_NAME_BONUS:
		if ((st = int_parse(ps, v, 0, 100, &x, err)) == SP_OK) r->name_bonus = (int)x;
		break;
	case K_WINDOW:
		if ((st = int_parse(ps, v, 0, 2000, &x, err)) == SP_OK) r->window = (int)x;
		break;
	case K_DESCRIPTION:
		break;
	}
	return st;
}

/* Check the section just finished: required keys for its type. */
static int
rule_finish(struct pol_parse *ps, struct sp_err *err)
{
	struct pol_rule *r = ps->cur;
	int save = ps->line, st = SP_OK;
	unsigned need = 0, allowed = (1u << K_TYPE) | (1u << K_ACTION) | (1u << K_TAG) |
	    (1u << K_SENDERS) | (1u << K_RECIPIENTS) | (1u << K_DESCRIPTION);
	size_t i;

	if (r == NULL)
		return SP_OK;
	ps->line = r->line;
	if (!(ps->seen & (1u << K_TYPE))) {
		st = perr(ps, "rule '%s' has no type", r->name, err);
		goto out;
	}
	switch (r->type) {
	case POL_KEYWORD: need = 1u << K_KEYWORD; break;
	case POL_HEADER: need = 1u << K_HEADER; allowed |= 1u << K_VALUE; break;
	case POL_SSN:
	case POL_CARD:
	case POL_MEDCODE:
	case POL_ROUTING: allowed |= 1u << K_MIN_COUNT; break;
	case POL_REGEX: need = 1u << K_PATTERN; allowed |= (1u << K_CASELESS) | (1u << K_MIN_COUNT); break;
	case POL_LEXICON:
		need = 1u << K_LEXICON;
		allowed |= (1u << K_THRESHOLD) | (1u << K_NAME_BONUS) | (1u << K_WINDOW);
		break;
	}
	allowed |= need;
	for (i = 0; i < K_NKEYS; i++) {
		if ((need & (1u << i)) && !(ps->seen & (1u << i))) {
			char m[160];

			snprintf(m, sizeof(m), "rule '%s' needs a key '%s'", r->name, rule_keys[i]);
			st = perr(ps, "%s", m, err);
			goto out;
		}
		if ((ps->seen & (1u << i)) && !(allowed & (1u << i))) {
			ps->line = ps->key_line[i];
			st = perr(ps, "key '%s' does not apply to this rule's type", rule_keys[i], err);
			goto out;
		}
	}
out:
	ps->line = save;
	return st;
}

static int
section_start(struct pol_parse *ps, const char *s, size_t n, struct sp_err *err)
{
	struct pol_rule *r;
	size_t i, k;
	int st;

	if ((st = rule_finish(ps, err)) != SP_OK)
		return st;
	if (n < 8 || memcmp(s, "[rule ", 6) != 0 || s[n - 1] != ']')
		return perr(ps, "expected a section '[rule NAME]'", NULL, err);
	s += 6;
	n -= 7;
	while (n > 0 && *s == ' ') {
		s++;
		n--;
	}
	while (n > 0 && s[n - 1] == ' ')
		n--;
	if (n == 0 || n > 63)
		return perr(ps, "rule name must be 1 to 63 bytes", NULL, err);
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return perr(ps, "rule names use letters, digits, '-', '_' and '.'", NULL, err);
	if (ps->p->nrules >= SP_POLICY_MAX_RULES)
		return perr(ps, "too many rules", NULL, err);
	for (k = 0; k < ps->p->nrules; k++)
		if (strlen(ps->p->rules[k].name) == n && memcmp(ps->p->rules[k].name, s, n) == 0)
			return perr(ps, "duplicate rule name", NULL, err);
	r = &ps->p->rules[ps->p->nrules++];
	memset(r, 0, sizeof(*r));
	memcpy(r->name, s, n);
	r->action = SP_POLICY_SEAL;
	snprintf(r->tag, sizeof(r->tag), "[secure]");
	r->min_count = 1;
	r->threshold = 4;
	r->name_bonus = 2;
	r->window = 120;
	r->line = ps->line;
	ps->cur = r;
	ps->seen = 0;
	return SP_OK;
}

static int
parse_text(struct pol_parse *ps, const char *text, size_t len, struct sp_err *err)
{
	size_t pos = 0, n;
	const char *l;
	int st;

	if (memchr(text, '\0', len) != NULL)
		return sp_err_set(err, SP_ERR_CONFIG, "%s: binary file", ps->file);
	while (next_line(text, len, &pos, &l, &n)) {
		char key[64], val[POL_MAX_LINE];
		size_t i = 0, k, e;

		ps->line++;
		if (n >= POL_MAX_LINE)
			return perr(ps, "line longer than %s bytes", "4095", err);
		while (i < n && (l[i] == ' ' || l[i] == '\t'))
			i++;
		while (n > i && (l[n - 1] == ' ' || l[n - 1] == '\t'))
			n--;
		if (i == n || l[i] == '#' || l[i] == ';')
			continue;
		if (l[i] == '[') {
			if ((st = section_start(ps, l + i, n - i, err)) != SP_OK)
				return st;
			continue;
		}
		for (k = 0; i + k < n && (islower((unsigned char)l[i + k]) || l[i + k] == '_'); k++)
			;
		if (k == 0 || k >= sizeof(key))
			return perr(ps, "expected 'key = value'", NULL, err);
		memcpy(key, l + i, k);
		key[k] = '\0';
		i += k;
		while (i < n && (l[i] == ' ' || l[i] == '\t'))
			i++;
		if (i == n || l[i] != '=')
			return perr(ps, "expected '=' after '%s'", key, err);
		i++;
		while (i < n && (l[i] == ' ' || l[i] == '\t'))
			i++;
		e = n - i;
		memcpy(val, l + i, e);
		val[e] = '\0';
		st = ps->cur ? rule_key(ps, key, val, err) : global_key(ps, key, val, err);
		if (st != SP_OK)
			return st;
	}
	ps->line++;
	return rule_finish(ps, err);
}

static void
rule_clear(struct pol_rule *r)
{
	pol_list_free(&r->senders);
	pol_list_free(&r->recipients);
	free(r->keyword);
	free(r->header);
	free(r->value);
	free(r->pattern);
}

void
sp_policy_free(struct sp_policy *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->nrules; i++)
		rule_clear(&p->rules[i]);
	for (i = 0; i < p->nterms; i++)
		free(p->terms[i].text);
	free(p->terms);
	free(p->pats);
	pol_list_free(&p->internal);
	pol_scan_free(p);
	free(p);
}

static int
load_mem(struct sp_policy **out, const char *text, size_t len, const char *name,
    const char *base_dir, int builtin, struct sp_err *err)
{
	struct sp_policy *p;
	struct pol_parse ps;
	int st;

	*out = NULL;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->max_scan_bytes = SP_POLICY_SCAN_BYTES;
	p->max_parts = SP_POLICY_SCAN_PARTS;
	memset(&ps, 0, sizeof(ps));
	ps.p = p;
	ps.file = p->name;
	ps.base_dir = base_dir;
	ps.builtin = builtin;
	if ((st = parse_text(&ps, text, len, err)) != SP_OK ||
	    (st = pol_scan_compile(p, err)) != SP_OK) {
		sp_policy_free(p);
		return st;
	}
	*out = p;
	return SP_OK;
}

int
sp_policy_load_mem(struct sp_policy **out, const char *text, size_t len,
    const char *name, const char *base_dir, struct sp_err *err)
{
	return load_mem(out, text, len, name ? name : "policy", base_dir, 0, err);
}

int
sp_policy_load(struct sp_policy **out, const char *path, struct sp_err *err)
{
	struct sp_buf b;
	char dir[4096];
	const char *slash;
	int st;

	if (path == NULL)
		return load_mem(out, pol_default_conf, pol_default_conf_len,
		    "builtin:policy.conf", NULL, 1, err);
	*out = NULL;
	if ((st = read_whole(path, &b, err)) != SP_OK)
		return st;
	slash = strrchr(path, '/');
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	st = load_mem(out, (const char *)b.data, b.len, path, dir, 0, err);
	sp_buf_free(&b);
	return st;
}

size_t
sp_policy_rule_count(const struct sp_policy *p)
{
	return p->nrules;
}

const char *
sp_policy_rule_name(const struct sp_policy *p, size_t i)
{
	return i < p->nrules ? p->rules[i].name : NULL;
}

const char *
sp_policy_action_str(enum sp_policy_action a)
{
	switch (a) {
	case SP_POLICY_SEAL: return "seal";
	case SP_POLICY_SEAL_TAG: return "seal_tag";
	default: return "pass";
	}
}

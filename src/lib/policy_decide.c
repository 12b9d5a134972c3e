/*
 * policy_decide.c - applies a loaded policy to one message: internal-only
 * mail passes, sender triggers (subject keyword, header) are read from the
 * headers, content rules from one scan of the decoded text, rule scopes
 * (sender and recipient domains) are checked, and the first rule in file
 * order that fires decides.  Also cleans the trigger keyword out of the
 * subject for the sealer.
 * SECURITY: handles untrusted mail; everything it keeps for the caller is
 * bounded (fixed-size result fields) and matched numbers are masked.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "policy_internal.h"

/* Case-insensitive search of needle (ASCII) in s; NULL when absent. */
static const char *
ci_strstr(const char *s, const char *needle)
{
	size_t n = strlen(needle), i;

	if (n == 0)
		return NULL;
	for (; *s != '\0'; s++) {
		for (i = 0; i < n; i++)
			if (s[i] == '\0' || tolower((unsigned char)s[i]) != tolower((unsigned char)needle[i]))
				break;
		if (i == n)
			return s;
	}
	return NULL;
}

/* The subject without every occurrence of kw, blanks collapsed at the cut,
 * line ends made blanks, trimmed.  NULL on allocation failure. */
static char *
subject_clean(const char *subj, const char *kw)
{
	size_t n = strlen(subj), kl = strlen(kw), o = 0;
	char *out = malloc(n + 1);
	const char *s = subj, *hit;

	if (out == NULL)
		return NULL;
	while ((hit = ci_strstr(s, kw)) != NULL) {
		memcpy(out + o, s, (size_t)(hit - s));
		o += (size_t)(hit - s);
		s = hit + kl;
		/* avoid a double blank where the keyword was */
		if (o > 0 && (out[o - 1] == ' ' || out[o - 1] == '\t'))
			while (*s == ' ' || *s == '\t')
				s++;
	}
	memcpy(out + o, s, strlen(s));
	o += strlen(s);
	out[o] = '\0';
	/* one line: a folded subject must not carry line ends into a header */
	for (n = 0; n < o; n++)
		if (out[n] == '\r' || out[n] == '\n' || out[n] == '\t')
			out[n] = ' ';
	/* trim */
	while (o > 0 && (out[o - 1] == ' ' || out[o - 1] == '\t'))
		out[--o] = '\0';
	n = 0;
	while (out[n] == ' ' || out[n] == '\t')
		n++;
	if (n > 0)
		memmove(out, out + n, o - n + 1);
	return out;
}

static const char *
domain_of(const char *addr)
{
	const char *at;

	if (addr == NULL)
		return NULL;
	at = strrchr(addr, '@');
	return at ? at + 1 : addr;
}

/* Lower-cased copy of an address's domain into buf. */
static const char *
domain_lc(const char *addr, char *buf, size_t bufsz)
{
	const char *d = domain_of(addr);
	size_t i;

	if (d == NULL)
		return NULL;
	for (i = 0; d[i] != '\0' && d[i] != '>' && i + 1 < bufsz; i++)
		buf[i] = (char)tolower((unsigned char)d[i]);
	buf[i] = '\0';
	return buf;
}

static int
header_matches(const char *have, const char *want)
{
	size_t n, wl;

	if (have == NULL)
		return 0;
	if (want == NULL)
		return 1;
	while (*have == ' ' || *have == '\t')
		have++;
	n = strlen(have);
	while (n > 0 && (have[n - 1] == ' ' || have[n - 1] == '\t' || have[n - 1] == '\r' || have[n - 1] == '\n'))
		n--;
	wl = strlen(want);
	return n == wl && strncasecmp(have, want, n) == 0;
}

static int
in_scope(const struct pol_rule *r, const char *sender, const char *const *rcpt, size_t nrcpt)
{
	char d[256];
	size_t i;

	if (r->senders.n > 0 && !pol_list_has_domain(&r->senders, domain_lc(sender, d, sizeof(d))))
		return 0;
	if (r->recipients.n > 0) {
		for (i = 0; i < nrcpt; i++)
			if (pol_list_has_domain(&r->recipients, domain_lc(rcpt[i], d, sizeof(d))))
				break;
		if (i == nrcpt)
			return 0;
	}
	return 1;
}

struct seg_ctx {
	struct pol_state *st;
	struct sp_policy_scratch *s;
	struct sp_err *err;
};

static int
on_segment(void *ctx, const char *label, const char *text, size_t len)
{
	struct seg_ctx *c = ctx;

	return pol_scan_segment(c->st, c->s, label, text, len, c->err);
}

static void
decide_rules(const struct sp_policy *p, const struct pol_state *st, const struct pol_msg *m,
    const char *subject, const char *sender, const char *const *rcpt, size_t nrcpt,
    struct sp_policy_result *r)
{
	size_t i;
	char why[160];

	for (i = 0; i < p->nrules; i++) {
		const struct pol_rule *ru = &p->rules[i];
		int fired = 0;

		if (m != NULL && !in_scope(ru, sender, rcpt, nrcpt))
			continue;
		switch (ru->type) {
		case POL_KEYWORD:
			fired = subject != NULL && ci_strstr(subject, ru->keyword) != NULL;
			snprintf(why, sizeof(why), "subject contains the keyword %s", ru->keyword);
			break;
		case POL_HEADER:
			fired = m != NULL && header_matches(pol_msg_header(m, ru->header), ru->value);
			snprintf(why, sizeof(why), "header %s%s%s", ru->header,
			    ru->value ? ": " : " present", ru->value ? ru->value : "");
			break;
		default:
			fired = pol_state_fired(st, i, why, sizeof(why));
			break;
		}
		if (!fired)
			continue;
		r->action = ru->action;
		snprintf(r->rule, sizeof(r->rule), "%s", ru->name);
		snprintf(r->reason, sizeof(r->reason), "rule %s: %s", ru->name, why);
		if (ru->action == SP_POLICY_SEAL_TAG)
			snprintf(r->tag, sizeof(r->tag), "%s", ru->tag);
		return;
	}
	r->action = SP_POLICY_PASS;
	snprintf(r->reason, sizeof(r->reason), "no rule fired");
}

int
sp_policy_decide(const struct sp_policy *p, struct sp_policy_scratch *s,
    const unsigned char *raw, size_t len, const char *sender,
    const char *const *rcpt, size_t nrcpt, struct sp_policy_result *r,
    struct sp_err *err)
{
	struct pol_msg *m = NULL;
	struct pol_state *st = NULL;
	struct seg_ctx sc;
	const char *subject;
	char d[256];
	size_t i;
	int ret;

	memset(r, 0, sizeof(*r));
	if ((ret = pol_msg_open(raw, len, &m, err)) != SP_OK)
		return ret;
	if (sender == NULL)
		sender = pol_msg_from(m);
	if (nrcpt == 0)
		rcpt = pol_msg_rcpt(m, &nrcpt);
	subject = pol_msg_subject(m);
	for (i = 0; i < p->nrules && subject != NULL; i++)
		if (p->rules[i].type == POL_KEYWORD && ci_strstr(subject, p->rules[i].keyword) != NULL) {
			if ((r->subject = subject_clean(subject, p->rules[i].keyword)) == NULL) {
				ret = sp_err_set(err, SP_ERR_NOMEM, "out of memory");
				goto out;
			}
			break;
		}
	if (p->internal.n > 0 && nrcpt > 0) {
		for (i = 0; i < nrcpt; i++)
			if (!pol_list_has_domain(&p->internal, domain_lc(rcpt[i], d, sizeof(d))))
				break;
		if (i == nrcpt) {
			r->action = SP_POLICY_PASS;
			snprintf(r->reason, sizeof(r->reason), "all %zu recipient%s internal: never sealed",
			    nrcpt, nrcpt == 1 ? " is" : "s are");
			goto out;
		}
	}
	if ((st = pol_state_new(p, r)) == NULL) {
		ret = sp_err_set(err, SP_ERR_NOMEM, "out of memory");
		goto out;
	}
	sc.st = st;
	sc.s = s;
	sc.err = err;
	if (p->db != NULL) {
		if (subject != NULL && *subject != '\0' &&
		    (ret = on_segment(&sc, "subject", subject, strlen(subject))) != SP_OK)
			goto out;
		if ((ret = pol_msg_walk(m, p->max_scan_bytes, p->max_parts, on_segment, &sc, r)) != SP_OK)
			goto out;
		/* the same text again for the context words, when a lexicon
		 * score depends on them (limits were noted the first time) */
		if (pol_state_ctx_needed(st)) {
			struct sp_policy_result again;

			memset(&again, 0, sizeof(again));
			pol_state_ctx_pass(st);
			if (subject != NULL && *subject != '\0')
				ret = on_segment(&sc, "subject", subject, strlen(subject));
			if (ret == SP_OK)
				ret = pol_msg_walk(m, p->max_scan_bytes, p->max_parts, on_segment, &sc, &again);
			sp_policy_result_clear(&again);
			if (ret != SP_OK)
				goto out;
		}
	}
	decide_rules(p, st, m, subject, sender, rcpt, nrcpt, r);
out:
	pol_state_free(st);
	pol_msg_free(m);
	if (ret != SP_OK) {
		free(r->subject);
		memset(r, 0, sizeof(*r));
	}
	return ret;
}

int
sp_policy_scan_text(const struct sp_policy *p, struct sp_policy_scratch *s,
    const char *text, size_t len, struct sp_policy_result *r, struct sp_err *err)
{
	struct pol_state *st;
	int ret = SP_OK;

	memset(r, 0, sizeof(*r));
	if ((st = pol_state_new(p, r)) == NULL)
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	if (p->db != NULL)
		ret = pol_scan_segment(st, s, "text", text, len, err);
	if (ret == SP_OK && pol_state_ctx_needed(st)) {
		pol_state_ctx_pass(st);
		ret = pol_scan_segment(st, s, "text", text, len, err);
	}
	if (ret == SP_OK)
		decide_rules(p, st, NULL, NULL, NULL, NULL, 0, r);
	pol_state_free(st);
	if (ret != SP_OK)
		memset(r, 0, sizeof(*r));
	return ret;
}

/*
 * policy_internal.h - what the policy_*.c files share and nobody else sees:
 * the loaded rule table, the pattern map of the Hyperscan database, the
 * MIME walk and the embedded default files.
 */
#ifndef SP_POLICY_INTERNAL_H
#define SP_POLICY_INTERNAL_H

#include <stddef.h>

#include <hs.h>

#include "buf.h"
#include "policy.h"
#include "sp.h"

enum pol_type {
	POL_KEYWORD = 0,	/* subject keyword, sender trigger */
	POL_HEADER,		/* header present (with a value), sender trigger */
	POL_SSN,		/* US social security number */
	POL_CARD,		/* payment card number */
	POL_LEXICON,		/* scored term list */
	POL_REGEX,		/* custom Hyperscan pattern */
	POL_MEDCODE,		/* medical codes in a medical context, dates of birth */
	POL_ROUTING,		/* US ABA routing number near banking words */
};

struct pol_list {		/* a list of lower-case words (domains) */
	char **v;
	size_t n;
};

struct pol_rule {
	char name[64];
	enum pol_type type;
	enum sp_policy_action action;
	char tag[64];
	struct pol_list senders;	/* empty: any sender */
	struct pol_list recipients;	/* empty: any recipient */
	char *keyword;			/* POL_KEYWORD */
	char *header;			/* POL_HEADER: field name */
	char *value;			/* POL_HEADER: value, NULL = any */
	char *pattern;			/* POL_REGEX */
	int caseless;			/* POL_REGEX */
	int min_count;			/* SSN, CARD, REGEX: matches needed */
	int threshold;			/* POL_LEXICON */
	int name_bonus;			/* POL_LEXICON: person name near a term */
	int window;			/* POL_LEXICON: bytes either side for that */
	size_t term_first, term_count;	/* POL_LEXICON: slice of sp_policy.terms */
	int line;			/* where the section starts */
};

struct pol_term {
	char *text;			/* lower-case term */
	size_t len;
	int weight;
	int context;			/* 1: context word, counts only beside a term */
	size_t rule;
};

enum pol_pat_kind {
	PAT_SSN_DASH, PAT_SSN_SPACE, PAT_SSN_BARE, PAT_CARD, PAT_TERM, PAT_REGEX,
	PAT_ICD, PAT_CPT, PAT_NDC, PAT_NPI, PAT_DOB_NUM, PAT_DOB_ISO, PAT_DOB_MON, PAT_ROUTING,
	/* candidates in the main database: each opens a small window of text
	 * that the database named by its pol_db is run over */
	PAT_CAND_NUM, PAT_CAND_ICD, PAT_CAND_DOB,
};

/* The databases: the main one runs over all text (lexicon terms, custom
 * patterns, cheap candidates); the window ones only over the windows that
 * the candidates open (numbers, ICD-10 codes, dates of birth); the context
 * one (lexicon context words) only in a second pass over a message whose
 * lexicon score depends on them. */
enum pol_db { POL_DB_MAIN = 0, POL_DB_NUM, POL_DB_ICD, POL_DB_DOB, POL_DB_CTX, POL_NDB };

struct pol_pat {
	enum pol_pat_kind kind;
	enum pol_db db;			/* database the pattern is compiled into */
	size_t rule;
	size_t term;			/* PAT_TERM */
};

struct sp_policy {
	char name[256];			/* file name, for messages */
	struct pol_list internal;	/* internal_domains */
	size_t max_scan_bytes;
	size_t max_parts;
	struct pol_rule rules[SP_POLICY_MAX_RULES];
	size_t nrules;
	struct pol_term *terms;
	size_t nterms;
	struct pol_pat *pats;
	size_t npats;
	hs_database_t *db;		/* main database, stream mode; NULL when no content rule */
	hs_database_t *sub[POL_NDB];	/* window databases NUM, ICD, DOB */
	hs_database_t *ctxdb;		/* context words, stream mode; NULL when none */
	hs_scratch_t *proto;		/* scratch for db and ctxdb, cloned for each thread */
	hs_scratch_t *proto_sub;	/* scratch for the window databases */
};

struct sp_policy_scratch {
	hs_scratch_t *hs;		/* main database */
	hs_scratch_t *sub;		/* window databases, used inside main callbacks */
};

/* --- policy_config.c ---------------------------------------------------- */
void pol_list_free(struct pol_list *l);
/* Is domain (lower-case) equal to, or a subdomain of, an entry of l? */
int pol_list_has_domain(const struct pol_list *l, const char *domain);

/* --- policy_scan.c ------------------------------------------------------ */
/* Build p->pats, the databases and their scratch from the rule table. */
int pol_scan_compile(struct sp_policy *p, struct sp_err *err);
/* Release what pol_scan_compile built. */
void pol_scan_free(struct sp_policy *p);

struct pol_state;			/* per-decision match state */
struct pol_state *pol_state_new(const struct sp_policy *p, struct sp_policy_result *r);
void pol_state_free(struct pol_state *st);
/* Scan one decoded text segment, whole; label names it in explanations. */
int pol_scan_segment(struct pol_state *st, struct sp_policy_scratch *s, const char *label,
    const char *text, size_t len, struct sp_err *err);
/* The same for a segment that arrives in pieces (Hyperscan stream mode: a
 * match split across two pieces is found, and validation sees the text on
 * both sides of the split).  open, then chunk for each piece in order, then
 * close; label must stay valid until close.  Only one segment is open at a
 * time in a pol_state.  close also ends a segment after an error. */
int pol_scan_stream_open(struct pol_state *st, struct sp_policy_scratch *s,
    const char *label, struct sp_err *err);
int pol_scan_stream_chunk(struct pol_state *st, const char *text, size_t len,
    struct sp_err *err);
int pol_scan_stream_close(struct pol_state *st, struct sp_err *err);
/* After a pass over all text: does a lexicon score depend on its context
 * words?  Then the caller scans all text again after pol_state_ctx_pass
 * (same functions; only the context words are matched, nothing counted as
 * scanned).  Context words count only beside a medical term, so most mail
 * never pays for them. */
int pol_state_ctx_needed(const struct pol_state *st);
void pol_state_ctx_pass(struct pol_state *st);
/* Did content rule i fire?  Writes a short why into why (whysz). */
int pol_state_fired(const struct pol_state *st, size_t rule, char *why, size_t whysz);
/* Record an explanation line in r (kept up to SP_POLICY_MAX_HITS). */
void pol_result_hit(struct sp_policy_result *r, const char *rule, const char *part,
    size_t offset, const char *text);
void pol_result_note(struct sp_policy_result *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* --- policy_check.c ----------------------------------------------------- */
/* NPI: 10 digits whose Luhn check over "80840" + the digits holds. */
int pol_npi_valid(const char *d);
/* ABA routing number: 9 digits, a Federal Reserve prefix and the 3-7-1 sum. */
int pol_aba_valid(const char *d);
/* ICD-10-CM code text s (n bytes, upper case, optional dot): the structure
 * of a real code (category letter, digits, placeholder X, 7th character). */
int pol_icd_valid(const char *s, size_t n);
/* A calendar date: month 1-12, day within the month, year 1900-2100. */
int pol_date_valid(int y, int m, int d);

/* --- policy_mime.c ------------------------------------------------------ */
struct pol_msg;
/* Parse raw (borrowed for the life of the pol_msg).  SP_ERR_INVALID when it
 * is not a mail message at all. */
int pol_msg_open(const unsigned char *raw, size_t len, struct pol_msg **out,
    struct sp_err *err);
void pol_msg_free(struct pol_msg *m);
const char *pol_msg_subject(const struct pol_msg *m);	/* decoded, or NULL */
const char *pol_msg_from(const struct pol_msg *m);	/* bare lower-case address, or NULL */
/* To: and Cc: bare lower-case addresses (borrowed). */
const char *const *pol_msg_rcpt(const struct pol_msg *m, size_t *n);
/* Value of the first header field called name (borrowed), or NULL. */
const char *pol_msg_header(const struct pol_msg *m, const char *name);

/* Called for each decoded text segment; returns SP_OK to go on. */
typedef int (*pol_segment_fn)(void *ctx, const char *label, const char *text, size_t len);
/* Walk every text part and text-like attachment, decoded (HTML reduced to
 * text), within the byte and part budgets; skipped parts are noted in r. */
int pol_msg_walk(struct pol_msg *m, size_t max_bytes, size_t max_parts,
    pol_segment_fn fn, void *ctx, struct sp_policy_result *r);
/* Reduce HTML to the text a reader sees (tags and comments dropped, inline
 * tags joining their neighbours, script/style/head and elements hidden by an
 * inline style dropped, entities decoded), appended to out. */
int pol_html_to_text(const char *in, size_t n, struct sp_buf *out);
/* Reduce office XML (WordprocessingML, SpreadsheetML, OpenDocument) to its
 * text: tags dropped, paragraph and cell ends as spaces, entities decoded. */
int pol_xml_to_text(const char *in, size_t n, struct sp_buf *out);

/* --- policy_zip.c ------------------------------------------------------- */
/* Text of a DOCX, XLSX, ODT or ODS file z (n bytes), appended to out, at
 * most cap bytes of inflated XML in all.  SP_ERR_INVALID with a message in
 * why when it is not a readable zip of one of those. */
int pol_zip_text(const unsigned char *z, size_t n, size_t cap, struct sp_buf *out,
    char *why, size_t whysz);

/* --- policy_default.c (generated by src/lib/policy_default.sh) ---------- */
extern const char pol_default_conf[];
extern const size_t pol_default_conf_len;
extern const char pol_default_lexicon[];
extern const size_t pol_default_lexicon_len;

#endif

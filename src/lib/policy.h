/*
 * policy.h - the sealing policy: decides per outbound message whether the
 * gateway seals it, and explains why.
 *
 * A policy is a small configuration file (format in docs/policy.md, shipped
 * default in etc/policy.conf) made of global settings and an ordered list of
 * rules.  Sender triggers (a subject keyword, a header) are checked on the
 * headers; content rules (US social security numbers, payment card numbers,
 * a scored medical lexicon, medical codes, routing numbers, custom regular
 * expressions) are compiled once into Hyperscan databases and matched over
 * the decoded text of every text part and text-like attachment in one pass
 * (cheap candidates open small windows for the number and code shapes);
 * candidates are then validated in C (SSA rules, Luhn, word boundaries).  The first rule in file order
 * that fires decides; mail whose recipients are all internal is never
 * sealed.
 *
 * Threads: a loaded struct sp_policy is read-only and may be shared; each
 * thread needs its own struct sp_policy_scratch.
 * SECURITY: reads untrusted mail; every walk is bounded (bytes, parts,
 * depth) and reports what it skipped instead of failing.
 */
#ifndef SP_POLICY_H
#define SP_POLICY_H

#include <stddef.h>

#include "buf.h"
#include "sp.h"

#define SP_POLICY_MAX_FILE	((size_t)4 << 20)	/* config or lexicon file bytes */
#define SP_POLICY_MAX_RULES	64
#define SP_POLICY_MAX_TERMS	8192			/* lexicon entries in one policy */
#define SP_POLICY_MAX_HITS	32			/* explanations kept per decision */
#define SP_POLICY_MAX_NOTES	8			/* limit/skip notes kept per decision */
#define SP_POLICY_SCAN_BYTES	((size_t)32 << 20)	/* default text bytes scanned */
#define SP_POLICY_SCAN_PARTS	2000			/* MIME parts walked at most */
#define SP_POLICY_SCAN_DEPTH	32			/* multipart nesting walked */

enum sp_policy_action {
	SP_POLICY_PASS = 0,	/* deliver as written */
	SP_POLICY_SEAL = 1,	/* seal the message */
	SP_POLICY_SEAL_TAG = 2,	/* seal, and put the rule's tag in the notice's subject */
};

struct sp_policy;		/* opaque, read-only after load */
struct sp_policy_scratch;	/* opaque, one per thread */

/* One place where a rule matched, for explanations.  Matched text is masked:
 * digits but the last four become '*' for numbers; lexicon terms are shown. */
struct sp_policy_hit {
	char rule[64];		/* rule name */
	char part[96];		/* "subject", "part 2 text/plain", "part 3 lab.csv" */
	size_t offset;		/* byte offset in that part's decoded text */
	char text[64];		/* masked match, e.g. "***-**-6789" */
};

struct sp_policy_result {
	enum sp_policy_action action;
	char rule[64];		/* deciding rule, "" when nothing fired */
	char reason[256];	/* one line: why this action */
	char tag[64];		/* subject tag for SEAL_TAG (e.g. "[secure]"), else "" */
	char *subject;		/* Subject with the trigger keyword removed (malloc'd),
				 * or NULL when no keyword was found */
	struct sp_policy_hit hits[SP_POLICY_MAX_HITS];
	size_t nhits;		/* hits kept */
	size_t nhits_total;	/* hits found (may exceed nhits) */
	char notes[SP_POLICY_MAX_NOTES][128];	/* limits hit, parts skipped */
	size_t nnotes;
	size_t scanned_bytes;	/* decoded text bytes scanned */
	size_t scanned_parts;	/* text segments scanned (subject included) */
};

/*
 * Load a policy.  path: a configuration file, or NULL for the default policy
 * built into the library (identical to etc/policy.conf with
 * etc/lexicon-medical.txt).  On success *out owns the policy (free with
 * sp_policy_free).  Errors: SP_ERR_CONFIG with "file:line: message" for a
 * bad file (unknown key, bad value, pattern that does not compile),
 * SP_ERR_IO when a file cannot be read, SP_ERR_NOMEM.
 */
int sp_policy_load(struct sp_policy **out, const char *path, struct sp_err *err);

/* Load a policy from text in memory.  name is used in messages; base_dir is
 * where relative lexicon paths are looked up (NULL: current directory). */
int sp_policy_load_mem(struct sp_policy **out, const char *text, size_t len,
    const char *name, const char *base_dir, struct sp_err *err);

/* Release a policy (NULL is a no-op).  No scratch may be in use. */
void sp_policy_free(struct sp_policy *p);

/* Number of rules, and the name of rule i (borrowed, lives as long as p). */
size_t sp_policy_rule_count(const struct sp_policy *p);
const char *sp_policy_rule_name(const struct sp_policy *p, size_t i);

/* Scratch space for one thread scanning with p.  *out is owned by the
 * caller (sp_policy_scratch_free); it must not outlive p. */
int sp_policy_scratch_new(const struct sp_policy *p,
    struct sp_policy_scratch **out, struct sp_err *err);
void sp_policy_scratch_free(struct sp_policy_scratch *s);

/*
 * Decide for one raw RFC 5322 message (raw, len; borrowed).  sender is the
 * envelope sender (NULL: the From: address); rcpt/nrcpt the envelope
 * recipients (nrcpt 0: To: and Cc: of the message).  Fills *r, which the
 * caller releases with sp_policy_result_clear().  Returns SP_OK whenever a
 * decision was made (a message with MIME defects still gets one; parts over
 * the limits are skipped and noted in r->notes); SP_ERR_INVALID when raw is
 * not a mail message at all (empty, no header block, binary), SP_ERR_NOMEM,
 * SP_ERR_INTERNAL when the scanner fails.
 */
int sp_policy_decide(const struct sp_policy *p, struct sp_policy_scratch *s,
    const unsigned char *raw, size_t len, const char *sender,
    const char *const *rcpt, size_t nrcpt, struct sp_policy_result *r,
    struct sp_err *err);

/*
 * Scan plain text with every content rule of p, without MIME or scopes:
 * fills *r as sp_policy_decide would for a message whose only part is text
 * (part name "text").  For tests and benchmarks.  Same status codes.
 */
int sp_policy_scan_text(const struct sp_policy *p, struct sp_policy_scratch *s,
    const char *text, size_t len, struct sp_policy_result *r, struct sp_err *err);

/* HTML reduced to the text a reader sees, as the scanner reads it (tags,
 * comments, script, style, head and hidden elements dropped, white space
 * runs as one space, entities decoded), but with its lines: a line break,
 * a <div> or a list item ends a line ('\n'; a list item then starts with
 * "\u2022 "), a paragraph, heading, list or table stands apart (one empty
 * line), no line starts or ends with a space and the text ends with its
 * last word.  Appended to out (whose cap bounds it): for showing a
 * message's HTML as text, never as markup.  SP_OK, or out's SP_ERR_NOMEM /
 * SP_ERR_TOOBIG. */
int sp_policy_html_text(const char *in, size_t n, struct sp_buf *out);

/* Release what a result owns and zero it (safe on a zeroed result). */
void sp_policy_result_clear(struct sp_policy_result *r);

/* "pass", "seal", "seal_tag". */
const char *sp_policy_action_str(enum sp_policy_action a);

/* --- validators, exported for tests -------------------------------------- */

/* Are the first 9 bytes of d (digits only, no separators) a valid SSN by the
 * SSA's rules (area not 000, 666 or 900-999, group not 00, serial not 0000)
 * and not a well-known advertising/sample number?  1 yes, 0 no. */
int sp_policy_ssn_valid(const char *d);

/* Is the digit string d (n digits, 13..19, no separators) a plausible
 * payment card number: Luhn check and a known issuer prefix?  1 / 0. */
int sp_policy_card_valid(const char *d, size_t n);

/* Luhn check over n digits: 1 when the check digit is right. */
int sp_policy_luhn(const char *d, size_t n);

/* Mask s (n bytes) into out (outsz): every digit but the last four becomes
 * '*', other bytes are kept; output is truncated to fit and NUL-terminated. */
void sp_policy_mask(const char *s, size_t n, char *out, size_t outsz);

#endif

/*
 * field.h - the one place where every program checks text that strangers
 * type into forms and JSON bodies: free text, email addresses, opaque tokens
 * and whole numbers.
 *
 * Every checker takes the raw value as pointer + length (so an embedded NUL
 * byte, e.g. from "first_name=A%00B", is seen and refused instead of
 * silently cutting the value short), returns SP_OK or a status, and on
 * refusal fills err with a short sentence fit to show next to the form field
 * and *why (when why is not NULL) with a reason code the caller can map to
 * its own words or to a JSON error name (sp_field_reason_str()).
 *
 * SECURITY: these functions see hostile input; they never read past n,
 * bound their work by SP_FIELD_INPUT_MAX, and never log, exit or abort.
 */
#ifndef SP_FIELD_H
#define SP_FIELD_H

#include <stddef.h>

#include "sp.h"

/* Raw input longer than this (bytes, before trimming) is refused as too
 * long by every checker, whatever its own limits. */
#define SP_FIELD_INPUT_MAX 65536

/* Why a value was refused.  Values are stable: only append. */
enum sp_field_reason {
	SP_FIELD_R_OK = 0,
	SP_FIELD_R_REQUIRED = 1,	/* empty (after trimming) but required */
	SP_FIELD_R_TOO_LONG = 2,	/* over a byte or character limit */
	SP_FIELD_R_TOO_SHORT = 3,	/* under a minimum length (tokens) */
	SP_FIELD_R_BAD_UTF8 = 4,	/* not valid UTF-8 */
	SP_FIELD_R_NUL = 5,		/* contains a NUL byte */
	SP_FIELD_R_CONTROL = 6,		/* C0/C1 control, DEL, U+2028/U+2029 */
	SP_FIELD_R_BIDI = 7,		/* bidi override/isolate character */
	SP_FIELD_R_INVISIBLE = 8,	/* zero-width or other invisible format character */
	SP_FIELD_R_BAD_CHAR = 9,	/* a character outside the field's alphabet */
	SP_FIELD_R_NOT_NUMBER = 10,	/* not a plain decimal whole number */
	SP_FIELD_R_RANGE = 11,		/* a number outside [min, max] */
	SP_FIELD_R_ADDR_NO_AT = 12,	/* address without @ */
	SP_FIELD_R_ADDR_MANY_AT = 13,	/* address with more than one @ */
	SP_FIELD_R_ADDR_LOCAL = 14,	/* the part before @ is malformed */
	SP_FIELD_R_ADDR_DOMAIN = 15,	/* the part after @ is not a domain name */
	SP_FIELD_R_ADDR_DOTLESS = 16,	/* a one-label domain without SP_ADDR_ALLOW_DOTLESS */
	SP_FIELD_R_ADDR_IP = 17,	/* an IP literal without SP_ADDR_ALLOW_IP, or a bad one */
	SP_FIELD_R_NOMEM = 18,		/* out of memory (status SP_ERR_NOMEM) */
	SP_FIELD_R_ARG = 19,		/* bad arguments from the caller (a bug) */
};

/* A stable lower-case name for r ("ok", "required", "too_long", ...), for
 * JSON error bodies and logs.  Never NULL. */
const char *sp_field_reason_str(enum sp_field_reason r);

/* --- free text ----------------------------------------------------------- */

/* Flags for struct sp_field_rules.flags. */
#define SP_FIELD_REQUIRED	0x01u	/* empty (after trimming) is refused */
#define SP_FIELD_TRIM		0x02u	/* drop leading and trailing Unicode white space */
#define SP_FIELD_MULTILINE	0x04u	/* allow \n and \t; \r\n and lone \r become \n */
#define SP_FIELD_ALLOW_BIDI	0x08u	/* allow U+202A..U+202E and U+2066..U+2069 */
#define SP_FIELD_ALLOW_INVISIBLE 0x10u	/* allow U+200B..U+200F, U+2060..U+2064,
					 * U+FEFF, U+00AD, U+061C, U+180E and
					 * U+E0000..U+E007F (tags) */

/* Rules for one text field.  A limit of 0 means "no limit of this kind"
 * (SP_FIELD_INPUT_MAX still applies).  Limits apply to the result: after
 * NFC normalisation, trimming and newline conversion. */
struct sp_field_rules {
	size_t max_bytes;	/* most bytes in the result, not counting its NUL */
	size_t max_chars;	/* most code points in the result */
	unsigned flags;		/* SP_FIELD_* flags above */
};

/* Check and normalise the text field s[0..n) (s may be NULL when n is 0):
 * it must be valid UTF-8 without NUL bytes; it is normalised to NFC, trimmed
 * (SP_FIELD_TRIM), and must then hold no C0/C1 control characters, DEL or
 * U+2028/U+2029 (\n and \t only with SP_FIELD_MULTILINE), no bidi
 * override/isolate characters (unless SP_FIELD_ALLOW_BIDI) and no invisible
 * format characters (unless SP_FIELD_ALLOW_INVISIBLE), and fit the limits.
 * An empty result is refused only with SP_FIELD_REQUIRED.
 *
 * On SP_OK *out is a newly malloc'd NUL-terminated NFC string (possibly
 * empty) that the caller frees with free().  Otherwise *out is NULL and the
 * status is SP_ERR_INVALID (the value is refused; err says why in words for
 * the person, e.g. "This is too long: at most 128 characters"), or
 * SP_ERR_NOMEM.  rules may be NULL (no limits, no flags); why may be NULL. */
int sp_field_text(const char *s, size_t n, const struct sp_field_rules *rules,
    char **out, enum sp_field_reason *why, struct sp_err *err);

/* --- email addresses ----------------------------------------------------- */

#define SP_ADDR_MAX 254		/* bytes in a whole address (RFC 5321 path limit less <>) */
#define SP_ADDR_LOCAL_MAX 64	/* bytes before @ */
#define SP_ADDR_LABEL_MAX 63	/* bytes in one domain label */

/* Flags for sp_addr_parse(). */
#define SP_ADDR_FOLD_LOCAL	0x01u	/* lower-case the local part too */
#define SP_ADDR_ALLOW_DOTLESS	0x02u	/* accept a one-label domain (greg@inbucket) */
#define SP_ADDR_ALLOW_IP	0x04u	/* accept [1.2.3.4] and [IPv6:...] domains */

/* Parse the address a person typed, s[0..n) (s may be NULL when n is 0).
 * Surrounding ASCII white space is dropped; what remains must be a plain
 * addr-spec local@domain, at most SP_ADDR_MAX bytes:
 *  - local part: 1..SP_ADDR_LOCAL_MAX bytes of RFC 5322 atext and dots (no
 *    leading, trailing or double dot), plus non-ASCII letters, marks and
 *    decimal digits when valid UTF-8 (RFC 6531); no quoted strings,
 *    comments, angle brackets, white space, controls or format characters;
 *  - domain: labels of 1..SP_ADDR_LABEL_MAX bytes of letters, digits and
 *    hyphens (non-ASCII letters, marks and digits allowed: U-labels), no
 *    hyphen at either end of a label, at least two labels (one only with
 *    SP_ADDR_ALLOW_DOTLESS), no trailing dot, a last label that is not all
 *    digits; or, with SP_ADDR_ALLOW_IP, [a.b.c.d] or [IPv6:...].
 * Non-ASCII parts are normalised to NFC.  The canonical form written to
 * out (always NUL-terminated, empty on failure) has the domain lower-cased,
 * and the local part too with SP_ADDR_FOLD_LOCAL; IPv6 literals are written
 * in their RFC 5952 form.  Parsing the canonical form again with the same
 * flags gives the same canonical form.
 *
 * Returns SP_OK, SP_ERR_INVALID with a sentence in err ("the address has no
 * @", "the part after @ is not a domain name", ...) and *why set, or
 * SP_ERR_NOMEM. */
int sp_addr_parse(const char *s, size_t n, unsigned flags, char out[SP_ADDR_MAX + 1],
    enum sp_field_reason *why, struct sp_err *err);

/* --- tokens and numbers -------------------------------------------------- */

/* Check an opaque token s[0..n): only the base64url alphabet (A-Z a-z 0-9
 * '-' '_', no padding) and min <= n <= max.  Nothing is copied: on SP_OK the
 * caller may use s[0..n) as it is.  An empty value with min > 0 gives
 * SP_FIELD_R_REQUIRED.  Returns SP_OK or SP_ERR_INVALID (err, *why set). */
int sp_field_token(const char *s, size_t n, size_t min, size_t max,
    enum sp_field_reason *why, struct sp_err *err);

/* Parse the decimal whole number s[0..n) into *out, strictly: only ASCII
 * digits, with a leading '-' only when min < 0 (never '+'), no white space
 * or other characters around it, no overflow, and min <= value <= max.
 * Leading zeros are accepted.  Returns SP_OK, or SP_ERR_INVALID with *out
 * left at 0 (err, *why set: SP_FIELD_R_REQUIRED when empty,
 * SP_FIELD_R_NOT_NUMBER, SP_FIELD_R_RANGE). */
int sp_field_int(const char *s, size_t n, long long min, long long max, long long *out,
    enum sp_field_reason *why, struct sp_err *err);

#endif

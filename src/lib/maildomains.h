/*
 * maildomains.h - mail domain names: the syntax check of a domain an
 * administrator gives an organisation, and the list of public mail
 * domains (free providers where anyone can get an address), which no
 * organisation may hold.
 *
 * The built-in list names the large free providers (gmail.com, outlook.com,
 * yahoo.* country variants, gmx.*, yandex.*, ...) one domain each; a site
 * adds its own with a file of one domain a line ('#' starts a comment).
 * A lookup compares the whole domain, case folded, with the list's names:
 * it never walks up to a parent domain, so "gmail.com.example" and
 * "notgmail.com" are not public, and neither is "mail.gmail.com" (which no
 * organisation can receive mail at anyway).
 * SECURITY: the extension file is trusted by the administrator but still
 * read with a size cap, and every line is checked as a domain name.
 */
#ifndef SP_MAILDOMAINS_H
#define SP_MAILDOMAINS_H

#include <stddef.h>

#include "sp.h"

#define SP_DOMAIN_MAX 253		/* bytes of a domain name */
#define SP_MAILDOMAINS_FILE_MAX (1024 * 1024)	/* bytes of an extension file */

/* Check the domain name s[0..n) and write its canonical form (ASCII,
 * lower case, a single trailing dot dropped) to out: labels of 1..63
 * letters, digits and hyphens, no hyphen at either end of a label, at
 * least two labels, a last label that is not all digits, at most
 * SP_DOMAIN_MAX bytes.  SP_OK, or SP_ERR_INVALID with err saying why
 * (out is then ""). */
int sp_domain_check(const char *s, size_t n, char out[SP_DOMAIN_MAX + 1], struct sp_err *err);

/* A site's own public domains (read from a file); opaque. */
struct sp_maildomains;

/* Read the extension file at path: one domain a line, blank lines and
 * lines starting with '#' skipped (after leading white space), a '#'
 * after the domain starts a comment too.  *m is owned by the caller
 * (sp_maildomains_free).  SP_ERR_IO unreadable; SP_ERR_INVALID naming
 * "PATH:LINE" for a line that is not a domain; SP_ERR_TOOBIG over
 * SP_MAILDOMAINS_FILE_MAX. */
int sp_maildomains_load(struct sp_maildomains **m, const char *path, struct sp_err *err);
void sp_maildomains_free(struct sp_maildomains *m);
/* Number of domains read from the file. */
size_t sp_maildomains_count(const struct sp_maildomains *m);

/* 1 when domain (any case, a trailing dot allowed) is a public mail
 * domain: in the built-in list, or in extra (may be NULL); else 0. */
int sp_maildomain_is_public(const struct sp_maildomains *extra, const char *domain);

#endif

/*
 * html.h - escaping text for HTML element content and quoted attributes.
 */
#ifndef SP_HTML_H
#define SP_HTML_H

#include <stddef.h>

#include "buf.h"

/* Append s[0..n) to out with & < > " ' escaped and NUL bytes dropped.
 * Returns SP_OK or the buffer's status (SP_ERR_TOOBIG past its cap). */
int sp_html_escape(struct sp_buf *out, const char *s, size_t n);

#endif

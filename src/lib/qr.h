/*
 * qr.h - a string as a QR code drawn in SVG (libqrencode, error correction
 * level M, 8-bit mode), for showing an otpauth:// URI on the set-up page.
 *
 * The result is one <svg> element sized by its viewBox in modules (the
 * caller sets its display size with CSS): a white background, a quiet zone
 * of SP_QR_QUIET modules, one <path> holding a rectangle per run of dark
 * modules in a row, shape-rendering="crispEdges", role="img" and the
 * caller's aria-label (HTML-escaped).
 * SECURITY: the text is usually a second-factor secret: the caller wipes
 * the output buffer (sp_buf_wipe) after sending it.
 */
#ifndef SP_QR_H
#define SP_QR_H

#include <stddef.h>

#include "buf.h"
#include "sp.h"

#define SP_QR_TEXT_MAX 1024	/* bytes of text encoded at most */
#define SP_QR_LABEL_MAX 256	/* bytes of aria-label at most */
#define SP_QR_QUIET 4		/* modules of margin on each side */

/* Append the SVG of text (NUL-terminated, 1 to SP_QR_TEXT_MAX bytes) to out,
 * labelled label (NUL-terminated, 1 to SP_QR_LABEL_MAX bytes).  Returns
 * SP_OK; SP_ERR_INVALID for a NULL, empty or too long text or label;
 * SP_ERR_NOMEM; SP_ERR_TOOBIG past out's cap (out is then left as it was);
 * SP_ERR_INTERNAL when libqrencode fails otherwise.  err names the problem. */
int sp_qr_svg(struct sp_buf *out, const char *text, const char *label,
    struct sp_err *err);

#endif

/*
 * qr.c - QR codes as SVG with libqrencode (see qr.h).
 * SECURITY: text may be a TOTP secret URI; the only copy made here is
 * libqrencode's module matrix, which is wiped before it is freed.  The
 * label is HTML-escaped; nothing else from the caller reaches the markup.
 */
#include "qr.h"
#include "crypto.h"
#include "html.h"

#include <errno.h>
#include <qrencode.h>
#include <string.h>

static int
draw(struct sp_buf *out, const QRcode *q, const char *label)
{
	int size = q->width + 2 * SP_QR_QUIET, x, y, run, st;
	const unsigned char *row;

	if ((st = sp_buf_printf(out, "<svg xmlns=\"http://www.w3.org/2000/svg\" "
	    "viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"", size, size)) != SP_OK ||
	    (st = sp_html_escape(out, label, strlen(label))) != SP_OK ||
	    (st = sp_buf_append_str(out, "\" shape-rendering=\"crispEdges\">"
	    "<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/><path fill=\"#000\" d=\"")) != SP_OK)
		return st;
	for (y = 0; y < q->width; y++) {
		row = q->data + (size_t)y * (size_t)q->width;
		x = 0;
		while (x < q->width) {
			if (!(row[x] & 1)) {
				x++;
				continue;
			}
			for (run = 1; x + run < q->width && (row[x + run] & 1); run++)
				;
			if ((st = sp_buf_printf(out, "M%d %dh%dv1h-%dz",
			    x + SP_QR_QUIET, y + SP_QR_QUIET, run, run)) != SP_OK)
				return st;
			x += run;
		}
	}
	return sp_buf_append_str(out, "\"/></svg>");
}

int
sp_qr_svg(struct sp_buf *out, const char *text, const char *label, struct sp_err *err)
{
	QRcode *q;
	size_t n, start;
	int st;

	if (out == NULL || text == NULL || label == NULL)
		return sp_err_set(err, SP_ERR_INVALID, "qr: missing argument");
	n = strnlen(text, SP_QR_TEXT_MAX + 1);
	if (n == 0 || n > SP_QR_TEXT_MAX)
		return sp_err_set(err, SP_ERR_INVALID, "qr: text must be 1 to %d bytes",
		    SP_QR_TEXT_MAX);
	n = strnlen(label, SP_QR_LABEL_MAX + 1);
	if (n == 0 || n > SP_QR_LABEL_MAX)
		return sp_err_set(err, SP_ERR_INVALID, "qr: label must be 1 to %d bytes",
		    SP_QR_LABEL_MAX);
	errno = 0;
	if ((q = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1)) == NULL) {
		if (errno == ENOMEM)
			return sp_err_set(err, SP_ERR_NOMEM, "qr: out of memory");
		if (errno == ERANGE)
			return sp_err_set(err, SP_ERR_INVALID, "qr: text too long for a QR code");
		return sp_err_set(err, SP_ERR_INTERNAL, "qr: encoding failed");
	}
	start = out->len;
	st = draw(out, q, label);
	sp_wipe(q->data, (size_t)q->width * (size_t)q->width);
	QRcode_free(q);
	if (st != SP_OK) {
		if (out->data != NULL)
			sp_wipe(out->data + start, out->len - start);
		out->len = start;
		if (out->data != NULL)
			out->data[start] = '\0';
		return sp_err_set(err, st, "qr: %s", sp_status_str(st));
	}
	return SP_OK;
}

/*
 * qr_test.c - the QR SVG: its frame (svg element, role, escaped label,
 * quiet zone, crisp edges), that the path redraws exactly libqrencode's
 * matrix, and refusal of bad input.
 */
#include "t.h"
#include "qr.h"
#include "sp.h"

#include <qrencode.h>
#include <stdlib.h>

/* Redraw the path's "M x y hN v1 h-N z" runs into a grid and compare with
 * the matrix libqrencode gives for the same text. */
static int
path_matches(const char *svg, const char *text)
{
	QRcode *q = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
	const char *p = strstr(svg, " d=\"");
	unsigned char *grid;
	int x, y, n, n2, used, w, ok = 1;

	if (q == NULL || p == NULL)
		return 0;
	w = q->width;
	grid = calloc((size_t)w * (size_t)w, 1);
	for (p += 4; *p == 'M'; p += used) {
		if (sscanf(p, "M%d %dh%dv1h-%dz%n", &x, &y, &n, &n2, &used) != 4 || n != n2 ||
		    x < 4 || y < 4 || n < 1 || x - 4 + n > w || y - 4 >= w) {
			ok = 0;
			break;
		}
		memset(grid + (size_t)(y - 4) * (size_t)w + (size_t)(x - 4), 1, (size_t)n);
	}
	if (ok && strncmp(p, "\"/></svg>", 9) != 0)
		ok = 0;
	for (x = 0; ok && x < w * w; x++)
		ok = grid[x] == (q->data[x] & 1);
	free(grid);
	QRcode_free(q);
	return ok;
}

static void
test_svg(void)
{
	static const char *uri = "otpauth://totp/Example%20Clinic:jo%40mail.example"
	    "?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Example%20Clinic"
	    "&algorithm=SHA1&digits=6&period=30";
	struct sp_buf b;
	struct sp_err err;

	sp_buf_init(&b, 1 << 20);
	T_EQ_INT(sp_qr_svg(&b, "A", "QR code", &err), SP_OK);
	T_CHECK(strncmp((char *)b.data, "<svg", 4) == 0);
	/* version 1 is 21 modules; 4 of quiet zone either side */
	T_CHECK(strstr((char *)b.data, "viewBox=\"0 0 29 29\"") != NULL);
	T_CHECK(strstr((char *)b.data, "role=\"img\" aria-label=\"QR code\"") != NULL);
	T_CHECK(strstr((char *)b.data, "shape-rendering=\"crispEdges\"") != NULL);
	/* the first run is the top row of the top-left finder pattern */
	T_CHECK(strstr((char *)b.data, "<path fill=\"#000\" d=\"M4 4h7v1h-7z") != NULL);
	T_CHECK(path_matches((char *)b.data, "A"));
	T_EQ_INT(b.len, strlen((char *)b.data));
	T_CHECK(strcmp((char *)b.data + b.len - 6, "</svg>") == 0);

	sp_buf_reset(&b);
	T_EQ_INT(sp_qr_svg(&b, uri, "Scan <this> & \"that\"", &err), SP_OK);
	T_CHECK(strstr((char *)b.data, "aria-label=\"Scan &lt;this&gt; &amp; &quot;that&quot;\"")
	    != NULL);
	T_CHECK(path_matches((char *)b.data, uri));
	/* appends after what the buffer holds */
	sp_buf_reset(&b);
	sp_buf_append_str(&b, "<p>");
	T_EQ_INT(sp_qr_svg(&b, "A", "x", &err), SP_OK);
	T_CHECK(strncmp((char *)b.data, "<p><svg", 7) == 0);
	sp_buf_wipe(&b);
}

static void
test_bad_input(void)
{
	struct sp_buf b;
	struct sp_err err;
	char big[1100];

	sp_buf_init(&b, 1 << 20);
	T_EQ_INT(sp_qr_svg(&b, NULL, "x", &err), SP_ERR_INVALID);
	T_EQ_INT(sp_qr_svg(&b, "A", NULL, &err), SP_ERR_INVALID);
	T_EQ_INT(sp_qr_svg(NULL, "A", "x", &err), SP_ERR_INVALID);
	T_EQ_INT(sp_qr_svg(&b, "", "x", &err), SP_ERR_INVALID);
	T_EQ_INT(sp_qr_svg(&b, "A", "", &err), SP_ERR_INVALID);
	memset(big, 'a', sizeof(big));
	big[1025] = '\0';
	T_EQ_INT(sp_qr_svg(&b, big, "x", &err), SP_ERR_INVALID);
	T_CHECK(strstr(err.msg, "1024") != NULL);
	big[1024] = '\0';
	T_EQ_INT(sp_qr_svg(&b, big, "x", &err), SP_OK);
	T_CHECK(path_matches((char *)b.data, big));
	sp_buf_free(&b);
	/* a buffer too small is left as it was */
	sp_buf_init(&b, 200);
	sp_buf_append_str(&b, "keep");
	T_EQ_INT(sp_qr_svg(&b, "A", "x", &err), SP_ERR_TOOBIG);
	T_EQ_INT(b.len, 4);
	T_CHECK(strcmp((char *)b.data, "keep") == 0);
	sp_buf_free(&b);
}

T_MAIN(test_svg, test_bad_input)

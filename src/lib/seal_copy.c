/*
 * seal_copy.c - the sealer's side of the key server's ciphertext copies:
 * the notification's "Open in your browser" link, whose fragment carries
 * the mail key part (browsers never send a fragment), and the upload of
 * the ciphertext after the envelope was sealed.  A failed upload leaves the
 * mail as it is (the attachment opens as always) and is reported to the
 * caller's copy_warning.
 * SECURITY: the link holds the mail key part, exactly as the attachment of
 * the same mail does; the key server gets the ciphertext only, never the
 * mail key part.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto.h"
#include "seal_copy.h"

static int
unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	    c == '-' || c == '.' || c == '_' || c == '~';
}

int
seal_copy_link(const struct sp_deposit_res *dres, const unsigned char *mail_part,
    size_t mail_part_len, const char *const *rcpt, size_t nrcpt, struct sp_buf *out)
{
	const unsigned char *a;
	int st;

	if ((st = sp_buf_printf(out, "%s/m/%s#mp=", dres->keyd, dres->id)) != SP_OK ||
	    (st = sp_b64url_encode(out, mail_part, mail_part_len)) != SP_OK)
		return st;
	if (nrcpt == 1 && rcpt[0] != NULL) {
		if ((st = sp_buf_append_str(out, "&to=")) != SP_OK)
			return st;
		for (a = (const unsigned char *)rcpt[0]; *a != '\0' && st == SP_OK; a++)
			st = unreserved(*a) ? sp_buf_append(out, a, 1) :
			    sp_buf_printf(out, "%%%02X", *a);
	}
	if (st == SP_OK && (st = sp_buf_append(out, "", 1)) == SP_OK)
		out->len--;
	return st;
}

void
seal_copy_upload(const struct sp_seal_depot *d, const struct sp_seal_params *p,
    const struct sp_deposit_res *dres, int fd, uint64_t len)
{
	struct sp_err err = {""};
	char msg[300];
	int st;

	if (dres->copy_max > 0 && (int64_t)len > dres->copy_max) {
		snprintf(msg, sizeof(msg), "the key server keeps copies of at most %lld bytes; this "
		    "envelope's %llu bytes open from the attachment only", (long long)dres->copy_max,
		    (unsigned long long)len);
		if (p->copy_warning != NULL)
			p->copy_warning(p->copy_warning_ctx, dres->id, msg);
		return;
	}
	if ((st = d->copy_put(d->ctx, dres->id, NULL, fd, len, &err)) == SP_OK)
		return;
	snprintf(msg, sizeof(msg), "the key server did not keep a copy (%s): the message "
	    "opens from its attachment only", sp_err_msg(&err, st));
	if (p->copy_warning != NULL)
		p->copy_warning(p->copy_warning_ctx, dres->id, msg);
}

int
seal_copy_spool_open(void)
{
	const char *dir = getenv("TMPDIR");
	char path[4096];
	int fd, n;

	if (dir == NULL || dir[0] != '/')
		dir = "/tmp";
	if ((fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600)) >= 0)
		return fd;
	n = snprintf(path, sizeof(path), "%s/sealpost-copy-XXXXXX", dir);
	if (n < 0 || (size_t)n >= sizeof(path) || (fd = mkostemp(path, O_CLOEXEC)) < 0)
		return -1;
	unlink(path);
	return fd;
}

int
seal_copy_spool(int fd, const void *p, size_t n)
{
	const unsigned char *b = p;
	ssize_t w;

	while (n > 0) {
		w = write(fd, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return SP_ERR_IO;
		b += w;
		n -= (size_t)w;
	}
	return SP_OK;
}

/*
 * seal_copy.h - the sealer's side of the key server's ciphertext copies
 * (seal_copy.c): the notification's "Open in your browser" link and the
 * upload of the copy after the seal.  Internal to seal.c.
 */
#ifndef SP_SEAL_COPY_H
#define SP_SEAL_COPY_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "keyd_client.h"
#include "seal.h"

/* The link KEYD/m/ID#mp=MAILPART (base64url), with &to=ADDR (percent
 * encoded) when there is exactly one recipient, NUL-terminated into out.
 * The fragment never reaches a server. */
int seal_copy_link(const struct sp_deposit_res *dres, const unsigned char *mail_part,
    size_t mail_part_len, const char *const *rcpt, size_t nrcpt, struct sp_buf *out);

/* A file for the ciphertext while it is made: unlinked, mode 0600, in
 * $TMPDIR (else /tmp); -1 when none can be made (then no copy is sent). */
int seal_copy_spool_open(void);

/* Append n bytes to the spool file fd: SP_OK or SP_ERR_IO. */
int seal_copy_spool(int fd, const void *p, size_t n);

/* Upload the len bytes of the spool file fd (read from offset 0) as the key
 * server's copy of envelope id.  Never fails the seal: a failure goes to
 * p->copy_warning. */
void seal_copy_upload(const struct sp_seal_depot *d, const struct sp_seal_params *p,
    const struct sp_deposit_res *dres, int fd, uint64_t len);

#endif

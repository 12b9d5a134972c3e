/*
 * seal_copy.h - the sealer's side of the key server's ciphertext copies
 * (seal_copy.c): the notification's "Open in your browser" link and the
 * upload of the copy after the seal.  Internal to seal.c.
 */
#ifndef SP_SEAL_COPY_H
#define SP_SEAL_COPY_H

#include <stddef.h>

#include "buf.h"
#include "keyd_client.h"
#include "seal.h"

/* The link KEYD/m/ID#mp=MAILPART (base64url), with &to=ADDR (percent
 * encoded) when there is exactly one recipient, NUL-terminated into out.
 * The fragment never reaches a server. */
int seal_copy_link(const struct sp_deposit_res *dres, const unsigned char *mail_part,
    size_t mail_part_len, const char *const *rcpt, size_t nrcpt, struct sp_buf *out);

/* Upload ct (len bytes, read in place) as the key server's copy of
 * envelope id.  Never fails the seal: a failure goes to p->copy_warning. */
void seal_copy_upload(struct sp_keyd_client *c, const struct sp_seal_params *p,
    const struct sp_deposit_res *dres, const unsigned char *ct, size_t len);

#endif

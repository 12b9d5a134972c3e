/*
 * seal_internal.h - what seal.c and seal_controls.c share; not part of the
 * library's public face.
 */
#ifndef SP_SEAL_INTERNAL_H
#define SP_SEAL_INTERNAL_H

#include <gmime/gmime.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "seal.h"

/* Length of raw's header block, up to and including the blank line (all
 * of raw when there is none); *crlf set when its lines end in CRLF. */
size_t seal_header_block_len(const unsigned char *raw, size_t len, int *crlf);
/* The header block parsed by GMime (g_object_unref it), or NULL. */
GMimeObject *seal_parse_headers(const unsigned char *raw, size_t len);
/* The sender controls read from a parsed header block (NULL: none);
 * sp_seal_controls_read() without the parse. */
int seal_controls_from(GMimeObject *hdrs, int64_t now, struct sp_seal_controls *ctl,
    struct sp_err *err);
/* The message as it is sealed: raw without its X-Sealpost-* control
 * fields.  *out points into raw when there is nothing to remove, else
 * into copy (which the caller wipes). */
int seal_strip_controls(const unsigned char *raw, size_t len, struct sp_buf *copy,
    const unsigned char **out, size_t *outlen);

#endif

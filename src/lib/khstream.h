/*
 * khstream.h - buffered reading of key holder frames (khproto.h) from a
 * stream socket, for both ends of the connection: one read takes whatever
 * the peer has sent (several pipelined requests or answers at once), and
 * whole frames are then taken out of the buffer one by one.
 * SECURITY: the buffer holds frames that carry key parts: taken frames are
 * wiped, and sp_kh_rbuf_wipe() wipes the rest.
 */
#ifndef SP_KHSTREAM_H
#define SP_KHSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include "khproto.h"
#include "sp.h"

#define SP_KH_RBUF_LEN (16 * SP_KH_FRAME_MAX)

struct sp_kh_rbuf {
	size_t start, end;		/* the unread bytes are data[start, end) */
	unsigned char data[SP_KH_RBUF_LEN];
};

/* Milliseconds of the monotonic clock. */
int64_t sp_kh_now_ms(void);

/* Empty b (wiping what it holds). */
void sp_kh_rbuf_wipe(struct sp_kh_rbuf *b);

/* Bytes held that are not yet taken (0: no frame started). */
size_t sp_kh_rbuf_pending(const struct sp_kh_rbuf *b);

/* Read what fd has, at least one byte, waiting until deadline (a
 * sp_kh_now_ms() value; < 0: no limit).  SP_OK; SP_ERR_NOTFOUND when the
 * peer has closed; SP_ERR_RETRY on timeout, or on a signal when there is
 * no deadline; SP_ERR_IO on a read error; SP_ERR_INVALID when the buffer is
 * full (cannot happen while frames are taken as they come). */
int sp_kh_rbuf_fill(struct sp_kh_rbuf *b, int fd, int64_t deadline, struct sp_err *err);

/* The next whole frame held in b: SP_OK with *frame and *len pointing into
 * the buffer (decode it, then sp_kh_rbuf_drop(b, *len)); SP_ERR_RETRY when
 * no whole frame is held yet; SP_ERR_INVALID for a bad header.  *id (may
 * be NULL) gets the frame's request id whenever its header is held. */
int sp_kh_rbuf_frame(struct sp_kh_rbuf *b, unsigned char **frame, size_t *len,
    uint32_t *id, struct sp_err *err);

/* Take (and wipe) the first len bytes: the frame just decoded. */
void sp_kh_rbuf_drop(struct sp_kh_rbuf *b, size_t len);

/* Write len bytes to the non-blocking socket fd by deadline (as above):
 * SP_ERR_RETRY on timeout, SP_ERR_IO when the peer is gone. */
int sp_kh_send(int fd, const unsigned char *buf, size_t len, int64_t deadline,
    struct sp_err *err);

#endif

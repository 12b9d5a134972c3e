/*
 * khproto.h - the messages between the key server and the key holder
 * (docs/keyholder.md): one encoder and one decoder used by both sides.
 *
 * A frame is a 12-byte header (magic/version u16, type u16, payload length
 * u32, request id u32; big-endian) and a payload of typed fields, each
 * tag u16, length u16, value.  Every message type has one fixed list of
 * fields in one order; the decoder checks each tag, each length (exact, or
 * within its named limit), the values (key ids, printable associated data)
 * and that the payload is consumed exactly.  Anything else is
 * SP_ERR_INVALID: there is no lenient mode.
 * SECURITY: decodes bytes from the other process; a WRAP request and an
 * UNWRAP answer carry a message key part (callers wipe struct sp_kh_msg).
 */
#ifndef SP_KHPROTO_H
#define SP_KHPROTO_H

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "keywrap.h"
#include "sp.h"

#define SP_KH_MAGIC 0x4b01		/* 'K', version 1 */
#define SP_KH_HDR_LEN 12
#define SP_KH_FIELD_HDR_LEN 4		/* tag u16, length u16 */
#define SP_KH_AAD_MAX 384		/* bytes of associated data, printable ASCII */
#define SP_KH_PAYLOAD_MAX 512		/* larger than any valid payload (460) */
#define SP_KH_FRAME_MAX (SP_KH_HDR_LEN + SP_KH_PAYLOAD_MAX)
#define SP_KH_KEY_ID_MAX 0x7fffffffu	/* master-N.key: 1 <= N <= 2^31 - 1 */
#define SP_KH_TIMEOUT_MS 5000		/* one request and its answer */

enum sp_kh_type {
	SP_KH_HELLO = 1,		/* -> HELLO_OK(key_id of new wraps) */
	SP_KH_WRAP = 2,			/* aad, part -> WRAP_OK(key_id, wrapped) */
	SP_KH_UNWRAP = 3,		/* key_id, aad, wrapped -> UNWRAP_OK(part) */
	SP_KH_RELOAD = 4,		/* read the keys again -> RELOAD_OK(key_id of new wraps) */
	SP_KH_HELLO_OK = 0x8001,
	SP_KH_WRAP_OK = 0x8002,
	SP_KH_UNWRAP_OK = 0x8003,
	SP_KH_RELOAD_OK = 0x8004,
	SP_KH_ERROR = 0x80ff,		/* status: an sp.h code */
};

enum sp_kh_field {
	SP_KH_F_KEY_ID = 1,		/* u32, 1..SP_KH_KEY_ID_MAX */
	SP_KH_F_AAD = 2,		/* 1..SP_KH_AAD_MAX bytes 0x20..0x7e */
	SP_KH_F_PART = 3,		/* SP_KEY_LEN bytes */
	SP_KH_F_WRAPPED = 4,		/* SP_KEYWRAP_LEN bytes */
	SP_KH_F_STATUS = 5,		/* u32, a non-zero sp.h status */
};

/* One message; only the fields of its type are used. */
struct sp_kh_msg {
	uint16_t type;
	uint32_t id;				/* request id, echoed in the answer */
	uint32_t key_id;
	uint32_t status;
	char aad[SP_KH_AAD_MAX + 1];		/* NUL-terminated */
	unsigned char part[SP_KEY_LEN];
	unsigned char wrapped[SP_KEYWRAP_LEN];
};

/* Encode m into out (outsz >= SP_KH_FRAME_MAX is always enough): *len gets
 * the frame's size.  SP_ERR_INVALID for an unknown type or a field value the
 * decoder would refuse (so a bad request never leaves this process). */
int sp_kh_encode(const struct sp_kh_msg *m, unsigned char *out, size_t outsz,
    size_t *len, struct sp_err *err);

/* Check a frame header: magic and version, payload length at most
 * SP_KH_PAYLOAD_MAX.  *type, *plen and *id (any may be NULL) are filled
 * whenever the header could be read, also on SP_ERR_INVALID. */
int sp_kh_header(const unsigned char hdr[SP_KH_HDR_LEN], uint16_t *type,
    uint32_t *plen, uint32_t *id, struct sp_err *err);

/* Decode exactly one whole frame of len bytes into m (zeroed first).
 * SP_ERR_INVALID names the first problem: bad header, length mismatch,
 * unknown type, wrong tag, wrong field length, bad value, trailing bytes. */
int sp_kh_decode(const unsigned char *frame, size_t len, struct sp_kh_msg *m,
    struct sp_err *err);

/* Read one frame from fd into buf (SP_KH_FRAME_MAX bytes), waiting at most
 * timeout_ms in all (< 0: no limit, for the key holder's wait for the next
 * request; the rest of a started frame is still bounded by
 * SP_KH_TIMEOUT_MS).  *len gets the bytes read (a whole frame on SP_OK).
 * SP_ERR_NOTFOUND: the peer closed before a frame began; SP_ERR_INVALID: a
 * bad header or the peer closed inside a frame (*len >= SP_KH_HDR_LEN when
 * the header was read); SP_ERR_RETRY: timeout; SP_ERR_IO: read error.
 * The frame is not decoded: call sp_kh_decode(). */
int sp_kh_read(int fd, unsigned char *buf, size_t *len, int timeout_ms,
    struct sp_err *err);

/* Write len bytes to fd within timeout_ms: SP_ERR_RETRY on timeout,
 * SP_ERR_IO when the peer is gone. */
int sp_kh_write(int fd, const unsigned char *buf, size_t len, int timeout_ms,
    struct sp_err *err);

#endif

/*
 * khproto.c - encoding, decoding and bounded socket I/O of the key holder's
 * messages (khproto.h, docs/keyholder.md).
 * SECURITY: parses bytes from another process with a cursor and exact
 * bounds; every message type has one field list, consumed exactly.
 */
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "khproto.h"

#define KH_MAX_FIELDS 3

/* The fields of each message type, in order. */
static const struct {
	uint16_t type;
	const char *name;
	int nfields;
	uint16_t field[KH_MAX_FIELDS];
} kh_schema[] = {
	{SP_KH_HELLO, "HELLO", 0, {0}},
	{SP_KH_WRAP, "WRAP", 2, {SP_KH_F_AAD, SP_KH_F_PART}},
	{SP_KH_UNWRAP, "UNWRAP", 3, {SP_KH_F_KEY_ID, SP_KH_F_AAD, SP_KH_F_WRAPPED}},
	{SP_KH_RELOAD, "RELOAD", 0, {0}},
	{SP_KH_HELLO_OK, "HELLO_OK", 1, {SP_KH_F_KEY_ID}},
	{SP_KH_WRAP_OK, "WRAP_OK", 2, {SP_KH_F_KEY_ID, SP_KH_F_WRAPPED}},
	{SP_KH_UNWRAP_OK, "UNWRAP_OK", 1, {SP_KH_F_PART}},
	{SP_KH_RELOAD_OK, "RELOAD_OK", 1, {SP_KH_F_KEY_ID}},
	{SP_KH_ERROR, "ERROR", 1, {SP_KH_F_STATUS}},
};

static int
kh_schema_find(uint16_t type)
{
	size_t i;

	for (i = 0; i < sizeof(kh_schema) / sizeof(kh_schema[0]); i++)
		if (kh_schema[i].type == type)
			return (int)i;
	return -1;
}

static void
put16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
}

static void
put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static uint16_t
get16(const unsigned char *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t
get32(const unsigned char *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static int
aad_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > SP_KH_AAD_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

/* A field's value checks, shared by encoder and decoder. */
static int
field_check(uint16_t tag, const unsigned char *v, size_t n, struct sp_err *err)
{
	uint32_t x;

	switch (tag) {
	case SP_KH_F_KEY_ID:
		if (n != 4)
			return sp_err_set(err, SP_ERR_INVALID, "key id: length %zu, want 4", n);
		x = get32(v);
		if (x == 0 || x > SP_KH_KEY_ID_MAX)
			return sp_err_set(err, SP_ERR_INVALID, "key id %u out of range", x);
		return SP_OK;
	case SP_KH_F_STATUS:
		if (n != 4)
			return sp_err_set(err, SP_ERR_INVALID, "status: length %zu, want 4", n);
		if (get32(v) == SP_OK || get32(v) > 0xffff)
			return sp_err_set(err, SP_ERR_INVALID, "status %u out of range", get32(v));
		return SP_OK;
	case SP_KH_F_AAD:
		if (n > SP_KH_AAD_MAX)
			return sp_err_set(err, SP_ERR_INVALID,
			    "associated data: %zu bytes, at most %d", n, SP_KH_AAD_MAX);
		if (!aad_ok((const char *)v, n))
			return sp_err_set(err, SP_ERR_INVALID,
			    "associated data: empty or not printable ASCII");
		return SP_OK;
	case SP_KH_F_PART:
		if (n != SP_KEY_LEN)
			return sp_err_set(err, SP_ERR_INVALID, "key part: length %zu, want %d",
			    n, SP_KEY_LEN);
		return SP_OK;
	case SP_KH_F_WRAPPED:
		if (n != SP_KEYWRAP_LEN)
			return sp_err_set(err, SP_ERR_INVALID, "wrapped part: length %zu, want %d",
			    n, SP_KEYWRAP_LEN);
		return SP_OK;
	}
	return sp_err_set(err, SP_ERR_INVALID, "unknown field %u", tag);
}

int
sp_kh_encode(const struct sp_kh_msg *m, unsigned char *out, size_t outsz,
    size_t *len, struct sp_err *err)
{
	unsigned char tmp[4];
	const unsigned char *v;
	size_t pos = SP_KH_HDR_LEN, n;
	int s, i, st;

	*len = 0;
	if ((s = kh_schema_find(m->type)) < 0)
		return sp_err_set(err, SP_ERR_INVALID, "unknown message type %u", m->type);
	for (i = 0; i < kh_schema[s].nfields; i++) {
		uint16_t tag = kh_schema[s].field[i];

		switch (tag) {
		case SP_KH_F_KEY_ID: put32(tmp, m->key_id); v = tmp; n = 4; break;
		case SP_KH_F_STATUS: put32(tmp, m->status); v = tmp; n = 4; break;
		case SP_KH_F_AAD:
			v = (const unsigned char *)m->aad;
			n = strnlen(m->aad, sizeof(m->aad));
			break;
		case SP_KH_F_PART: v = m->part; n = SP_KEY_LEN; break;
		default: v = m->wrapped; n = SP_KEYWRAP_LEN; break;
		}
		if ((st = field_check(tag, v, n, err)) != SP_OK)
			return st;
		if (pos + SP_KH_FIELD_HDR_LEN + n > outsz ||
		    pos + SP_KH_FIELD_HDR_LEN + n > SP_KH_FRAME_MAX)
			return sp_err_set(err, SP_ERR_TOOBIG, "frame too large");
		put16(out + pos, tag);
		put16(out + pos + 2, (uint16_t)n);
		memcpy(out + pos + SP_KH_FIELD_HDR_LEN, v, n);
		pos += SP_KH_FIELD_HDR_LEN + n;
	}
	if (outsz < SP_KH_HDR_LEN)
		return sp_err_set(err, SP_ERR_TOOBIG, "frame too large");
	put16(out, SP_KH_MAGIC);
	put16(out + 2, m->type);
	put32(out + 4, (uint32_t)(pos - SP_KH_HDR_LEN));
	put32(out + 8, m->id);
	sp_wipe(tmp, sizeof(tmp));
	*len = pos;
	return SP_OK;
}

int
sp_kh_header(const unsigned char hdr[SP_KH_HDR_LEN], uint16_t *type, uint32_t *plen,
    uint32_t *id, struct sp_err *err)
{
	uint16_t magic = get16(hdr);
	uint32_t n = get32(hdr + 4);

	if (type != NULL)
		*type = get16(hdr + 2);
	if (plen != NULL)
		*plen = n;
	if (id != NULL)
		*id = get32(hdr + 8);
	if (magic != SP_KH_MAGIC)
		return sp_err_set(err, SP_ERR_INVALID, "bad magic or version 0x%04x", magic);
	if (n > SP_KH_PAYLOAD_MAX)
		return sp_err_set(err, SP_ERR_INVALID, "payload of %u bytes, at most %d",
		    n, SP_KH_PAYLOAD_MAX);
	return SP_OK;
}

int
sp_kh_decode(const unsigned char *frame, size_t len, struct sp_kh_msg *m,
    struct sp_err *err)
{
	const unsigned char *p, *end;
	uint32_t plen;
	uint16_t type;
	int s, i, st;

	memset(m, 0, sizeof(*m));
	if (len < SP_KH_HDR_LEN)
		return sp_err_set(err, SP_ERR_INVALID, "truncated header (%zu bytes)", len);
	if ((st = sp_kh_header(frame, &type, &plen, &m->id, err)) != SP_OK)
		return st;
	if ((size_t)plen != len - SP_KH_HDR_LEN)
		return sp_err_set(err, SP_ERR_INVALID, "payload length %u, frame has %zu",
		    plen, len - SP_KH_HDR_LEN);
	if ((s = kh_schema_find(type)) < 0)
		return sp_err_set(err, SP_ERR_INVALID, "unknown message type %u", type);
	m->type = type;
	p = frame + SP_KH_HDR_LEN;
	end = frame + len;
	for (i = 0; i < kh_schema[s].nfields; i++) {
		uint16_t want = kh_schema[s].field[i], tag, n;

		if ((size_t)(end - p) < SP_KH_FIELD_HDR_LEN) {
			st = sp_err_set(err, SP_ERR_INVALID, "%s: field %d missing",
			    kh_schema[s].name, i + 1);
			goto bad;
		}
		tag = get16(p);
		n = get16(p + 2);
		p += SP_KH_FIELD_HDR_LEN;
		if (tag != want) {
			st = sp_err_set(err, SP_ERR_INVALID, "%s: field %d has tag %u, want %u",
			    kh_schema[s].name, i + 1, tag, want);
			goto bad;
		}
		if ((size_t)(end - p) < n) {
			st = sp_err_set(err, SP_ERR_INVALID, "%s: field %d runs past the frame",
			    kh_schema[s].name, i + 1);
			goto bad;
		}
		if ((st = field_check(tag, p, n, err)) != SP_OK)
			goto bad;
		switch (tag) {
		case SP_KH_F_KEY_ID: m->key_id = get32(p); break;
		case SP_KH_F_STATUS: m->status = get32(p); break;
		case SP_KH_F_AAD: memcpy(m->aad, p, n); m->aad[n] = '\0'; break;
		case SP_KH_F_PART: memcpy(m->part, p, n); break;
		case SP_KH_F_WRAPPED: memcpy(m->wrapped, p, n); break;
		}
		p += n;
	}
	if (p != end) {
		st = sp_err_set(err, SP_ERR_INVALID, "%s: %zu trailing bytes",
		    kh_schema[s].name, (size_t)(end - p));
		goto bad;
	}
	return SP_OK;
bad:
	sp_wipe(m, sizeof(*m));
	m->id = get32(frame + 8);
	return st;
}

static int64_t
kh_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for fd to be ready for events until deadline (< 0: forever). */
static int
kh_wait(int fd, short events, int64_t deadline, struct sp_err *err)
{
	struct pollfd pfd;
	int64_t left;
	int r;

	for (;;) {
		left = deadline < 0 ? -1 : deadline - kh_now_ms();
		if (deadline >= 0 && left <= 0)
			return sp_err_set(err, SP_ERR_RETRY, "key holder: timed out");
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		r = poll(&pfd, 1, left < 0 ? -1 : (int)(left > 60000 ? 60000 : left));
		if (r > 0)
			return SP_OK;
		if (r < 0 && errno != EINTR)
			return sp_err_set(err, SP_ERR_IO, "key holder socket: %s", strerror(errno));
		if (r < 0 && deadline < 0)
			return sp_err_set(err, SP_ERR_RETRY, "interrupted");
	}
}

/* Read exactly n bytes to buf + *got; EOF is SP_ERR_NOTFOUND. */
static int
kh_read_n(int fd, unsigned char *buf, size_t *got, size_t n, int64_t deadline,
    struct sp_err *err)
{
	ssize_t r;
	int st;

	while (*got < n) {
		if ((st = kh_wait(fd, POLLIN, deadline, err)) != SP_OK)
			return st;
		r = read(fd, buf + *got, n - *got);
		if (r == 0)
			return sp_err_set(err, SP_ERR_NOTFOUND, "key holder socket closed");
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
				continue;
			return sp_err_set(err, SP_ERR_IO, "key holder socket: %s", strerror(errno));
		}
		*got += (size_t)r;
	}
	return SP_OK;
}

int
sp_kh_read(int fd, unsigned char *buf, size_t *len, int timeout_ms, struct sp_err *err)
{
	int64_t deadline = timeout_ms < 0 ? -1 : kh_now_ms() + timeout_ms;
	uint32_t plen = 0;
	int st;

	*len = 0;
	/* The first byte may be waited for as long as the caller allows. */
	if ((st = kh_read_n(fd, buf, len, 1, deadline, err)) != SP_OK)
		return st;
	if (deadline < 0)
		deadline = kh_now_ms() + SP_KH_TIMEOUT_MS;
	if ((st = kh_read_n(fd, buf, len, SP_KH_HDR_LEN, deadline, err)) != SP_OK)
		return st == SP_ERR_NOTFOUND ?
		    sp_err_set(err, SP_ERR_INVALID, "truncated frame header") : st;
	if ((st = sp_kh_header(buf, NULL, &plen, NULL, err)) != SP_OK)
		return st;
	if ((st = kh_read_n(fd, buf, len, SP_KH_HDR_LEN + (size_t)plen, deadline, err)) != SP_OK)
		return st == SP_ERR_NOTFOUND ?
		    sp_err_set(err, SP_ERR_INVALID, "truncated frame") : st;
	return SP_OK;
}

int
sp_kh_write(int fd, const unsigned char *buf, size_t len, int timeout_ms,
    struct sp_err *err)
{
	int64_t deadline = kh_now_ms() + (timeout_ms < 0 ? SP_KH_TIMEOUT_MS : timeout_ms);
	size_t done = 0;
	ssize_t w;
	int st;

	while (done < len) {
		if ((st = kh_wait(fd, POLLOUT, deadline, err)) != SP_OK)
			return st;
		w = send(fd, buf + done, len - done, MSG_NOSIGNAL);
		if (w < 0 && errno == ENOTSOCK)
			w = write(fd, buf + done, len - done);
		if (w < 0) {
			if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
				continue;
			return sp_err_set(err, SP_ERR_IO, "key holder socket: %s", strerror(errno));
		}
		done += (size_t)w;
	}
	return SP_OK;
}

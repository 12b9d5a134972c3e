/*
 * khstream.c - buffered reading of key holder frames (khstream.h).
 * SECURITY: bytes from the other process are only copied here; a frame's
 * header is checked (sp_kh_header) before its length is trusted, and the
 * payload is decoded by the caller (sp_kh_decode).  Taken bytes are wiped.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "khstream.h"

int64_t
sp_kh_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
sp_kh_rbuf_wipe(struct sp_kh_rbuf *b)
{
	sp_wipe(b->data, b->end);
	b->start = b->end = 0;
}

size_t
sp_kh_rbuf_pending(const struct sp_kh_rbuf *b)
{
	return b->end - b->start;
}

int
sp_kh_rbuf_fill(struct sp_kh_rbuf *b, int fd, int64_t deadline, struct sp_err *err)
{
	struct pollfd pfd;
	int64_t left;
	ssize_t r;
	int n;

	if (b->start > 0) {
		/* what was taken is wiped already: move the rest to the front */
		memmove(b->data, b->data + b->start, b->end - b->start);
		b->end -= b->start;
		sp_wipe(b->data + b->end, b->start);
		b->start = 0;
	}
	if (b->end == sizeof(b->data))
		return sp_err_set(err, SP_ERR_INVALID, "key holder stream: buffer full");
	for (;;) {
		/* the socket is non-blocking: try first, wait only when empty */
		r = read(fd, b->data + b->end, sizeof(b->data) - b->end);
		if (r > 0) {
			b->end += (size_t)r;
			return SP_OK;
		}
		if (r == 0)
			return sp_err_set(err, SP_ERR_NOTFOUND, "key holder socket closed");
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return sp_err_set(err, SP_ERR_IO, "key holder socket: %s", strerror(errno));
		if (errno == EINTR && deadline < 0)
			return sp_err_set(err, SP_ERR_RETRY, "interrupted");
		if (errno == EINTR)
			continue;
		left = deadline < 0 ? -1 : deadline - sp_kh_now_ms();
		if (deadline >= 0 && left <= 0)
			return sp_err_set(err, SP_ERR_RETRY, "key holder: timed out");
		pfd.fd = fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		n = poll(&pfd, 1, left < 0 ? -1 : (int)(left > 60000 ? 60000 : left));
		if (n < 0 && errno == EINTR && deadline < 0)
			return sp_err_set(err, SP_ERR_RETRY, "interrupted");
		if (n < 0 && errno != EINTR)
			return sp_err_set(err, SP_ERR_IO, "key holder socket: %s", strerror(errno));
	}
}

int
sp_kh_rbuf_frame(struct sp_kh_rbuf *b, unsigned char **frame, size_t *len,
    uint32_t *id, struct sp_err *err)
{
	size_t have = b->end - b->start;
	uint32_t plen = 0;
	int st;

	*frame = NULL;
	*len = 0;
	if (have < SP_KH_HDR_LEN)
		return SP_ERR_RETRY;
	if ((st = sp_kh_header(b->data + b->start, NULL, &plen, id, err)) != SP_OK)
		return st;
	if (have < SP_KH_HDR_LEN + (size_t)plen)
		return SP_ERR_RETRY;
	*frame = b->data + b->start;
	*len = SP_KH_HDR_LEN + (size_t)plen;
	return SP_OK;
}

void
sp_kh_rbuf_drop(struct sp_kh_rbuf *b, size_t len)
{
	if (len > b->end - b->start)
		len = b->end - b->start;
	sp_wipe(b->data + b->start, len);
	b->start += len;
	if (b->start == b->end)
		b->start = b->end = 0;
}

int
sp_kh_send(int fd, const unsigned char *buf, size_t len, int64_t deadline,
    struct sp_err *err)
{
	struct pollfd pfd;
	int64_t left;
	size_t done = 0;
	ssize_t w;

	while (done < len) {
		w = send(fd, buf + done, len - done, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0) {
			done += (size_t)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return sp_err_set(err, SP_ERR_IO, "key holder socket: %s", strerror(errno));
		if (w < 0 && errno == EINTR)
			continue;
		left = deadline < 0 ? 60000 : deadline - sp_kh_now_ms();
		if (left <= 0)
			return sp_err_set(err, SP_ERR_RETRY, "key holder: timed out");
		pfd.fd = fd;
		pfd.events = POLLOUT;
		pfd.revents = 0;
		if (poll(&pfd, 1, (int)(left > 60000 ? 60000 : left)) < 0 && errno != EINTR)
			return sp_err_set(err, SP_ERR_IO, "key holder socket: %s", strerror(errno));
	}
	return SP_OK;
}

/*
 * transport.c - outgoing mail for the key server (transport.h).
 * SECURITY: refuses header values with control characters so a recipient
 * address from a form cannot add headers; files are written atomically.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "crypto.h"
#include "transport.h"

#define TR_MAX_MESSAGE (1 << 20)

struct sp_transport {
	int kind;		/* 0 = dir, 1 = sendmail */
	char *arg;
	char *tmpdir;		/* dir: where files are written before rename */
	char *from;
};

static int
safe_header(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

int
sp_transport_new(struct sp_transport **out, const char *kind, const char *arg,
    const char *from, struct sp_err *err)
{
	struct sp_transport *t;
	size_t n;

	*out = NULL;
	if (from == NULL || !safe_header(from) || strchr(from, '@') == NULL)
		return sp_err_set(err, SP_ERR_CONFIG, "transport: bad sender address");
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	if (kind != NULL && strcmp(kind, "dir") == 0 && arg != NULL) {
		t->kind = 0;
		if (mkdir(arg, 0700) != 0 && errno != EEXIST) {
			free(t);
			return sp_err_set(err, SP_ERR_CONFIG, "transport: %s: %s", arg, strerror(errno));
		}
		n = strlen(arg) + sizeof("/../outbox.tmp");
		if ((t->tmpdir = malloc(n)) != NULL)
			snprintf(t->tmpdir, n, "%s/../outbox.tmp", arg);
		if (t->tmpdir && mkdir(t->tmpdir, 0700) != 0 && errno != EEXIST) {
			free(t->tmpdir);
			free(t);
			return sp_err_set(err, SP_ERR_CONFIG, "transport: %s: %s", arg, strerror(errno));
		}
	} else if (kind != NULL && strcmp(kind, "sendmail") == 0) {
		t->kind = 1;
		if (arg == NULL)
			arg = "/usr/sbin/sendmail";
	} else {
		free(t);
		return sp_err_set(err, SP_ERR_CONFIG, "transport: unknown kind '%s'",
		    kind ? kind : "(none)");
	}
	t->arg = strdup(arg);
	t->from = strdup(from);
	if (t->arg == NULL || t->from == NULL || (t->kind == 0 && t->tmpdir == NULL)) {
		sp_transport_free(t);
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	}
	*out = t;
	return SP_OK;
}

void
sp_transport_free(struct sp_transport *t)
{
	if (t == NULL)
		return;
	free(t->arg);
	free(t->tmpdir);
	free(t->from);
	free(t);
}

static int
is_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return 0;
	return 1;
}

static int
build(struct sp_transport *t, const char *to, const char *subject, const char *text,
    struct sp_buf *m, struct sp_err *err)
{
	char date[64], rnd[40];
	const char *dom = strchr(t->from, '@') + 1;
	time_t now = time(NULL);
	struct tm tm;
	const char *p;
	int st;

	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	if ((st = sp_token_new(rnd, sizeof(rnd), "", 16)) != SP_OK)
		return sp_err_set(err, st, "no randomness");
	st = sp_buf_printf(m, "From: %s\r\nTo: %s\r\nDate: %s\r\n"
	    "Message-ID: <%s@%s>\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: 8bit\r\nAuto-Submitted: auto-generated\r\nSubject: ",
	    t->from, to, date, rnd, dom);
	if (st == SP_OK && is_ascii(subject))
		st = sp_buf_append_str(m, subject);
	else if (st == SP_OK) {
		st = sp_buf_append_str(m, "=?utf-8?B?");
		if (st == SP_OK)
			st = sp_b64_encode(m, subject, strlen(subject), 0);
		if (st == SP_OK)
			st = sp_buf_append_str(m, "?=");
	}
	if (st == SP_OK)
		st = sp_buf_append_str(m, "\r\n\r\n");
	for (p = text; st == SP_OK && *p; p++) {
		if (*p == '\n' && (p == text || p[-1] != '\r'))
			st = sp_buf_append(m, "\r\n", 2);
		else
			st = sp_buf_append(m, p, 1);
	}
	if (st == SP_OK && (m->len < 2 || memcmp(m->data + m->len - 2, "\r\n", 2) != 0))
		st = sp_buf_append(m, "\r\n", 2);
	return st == SP_OK ? SP_OK : sp_err_set(err, st, "message too large");
}

static int
write_dir(struct sp_transport *t, const struct sp_buf *m, struct sp_err *err)
{
	char name[96], tmp[4200], dst[4200], rnd[32];
	struct timeval tv;
	struct tm tm;
	int fd, st;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	if ((st = sp_token_new(rnd, sizeof(rnd), "", 6)) != SP_OK)
		return sp_err_set(err, st, "no randomness");
	/* Names sort by time: the oldest message first in a directory listing. */
	snprintf(name, sizeof(name), "%04d%02d%02dT%02d%02d%02d.%06ldZ-%s.eml",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	    tm.tm_sec, (long)tv.tv_usec, rnd);
	if ((size_t)snprintf(tmp, sizeof(tmp), "%.4000s/%s", t->tmpdir, name) >= sizeof(tmp) ||
	    (size_t)snprintf(dst, sizeof(dst), "%.4000s/%s", t->arg, name) >= sizeof(dst))
		return sp_err_set(err, SP_ERR_CONFIG, "outbox path too long");
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0)
		return sp_err_set(err, SP_ERR_IO, "outbox: %s", strerror(errno));
	if (write(fd, m->data, m->len) != (ssize_t)m->len || fsync(fd) != 0) {
		st = sp_err_set(err, SP_ERR_IO, "outbox: %s", strerror(errno));
		close(fd);
		unlink(tmp);
		return st;
	}
	close(fd);
	if (rename(tmp, dst) != 0) {
		st = sp_err_set(err, SP_ERR_IO, "outbox: %s", strerror(errno));
		unlink(tmp);
		return st;
	}
	return SP_OK;
}

static int
write_sendmail(struct sp_transport *t, const struct sp_buf *m, struct sp_err *err)
{
	int fds[2], status;
	pid_t pid;
	size_t off = 0;
	ssize_t w;

	if (pipe(fds) != 0)
		return sp_err_set(err, SP_ERR_RETRY, "sendmail: %s", strerror(errno));
	if ((pid = fork()) < 0) {
		close(fds[0]);
		close(fds[1]);
		return sp_err_set(err, SP_ERR_RETRY, "sendmail: %s", strerror(errno));
	}
	if (pid == 0) {
		dup2(fds[0], 0);
		close(fds[0]);
		close(fds[1]);
		execl(t->arg, "sendmail", "-i", "-t", "-f", t->from, (char *)NULL);
		_exit(127);
	}
	close(fds[0]);
	while (off < m->len) {
		w = write(fds[1], m->data + off, m->len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	close(fds[1]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (off != m->len || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return sp_err_set(err, SP_ERR_RETRY, "sendmail failed");
	return SP_OK;
}

int
sp_transport_send(struct sp_transport *t, const char *to, const char *subject,
    const char *text, struct sp_err *err)
{
	struct sp_buf m;
	int st;

	if (!safe_header(to) || strchr(to, '@') == NULL || !safe_header(subject))
		return sp_err_set(err, SP_ERR_INVALID, "transport: bad address or subject");
	sp_buf_init(&m, TR_MAX_MESSAGE);
	if ((st = build(t, to, subject, text, &m, err)) == SP_OK)
		st = t->kind == 0 ? write_dir(t, &m, err) : write_sendmail(t, &m, err);
	sp_buf_wipe(&m);
	return st;
}

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

/* Write n bytes to a new file tmp (0600), synced. */
static int
write_file(const char *tmp, const void *p, size_t n, struct sp_err *err)
{
	int fd, st;

	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0)
		return sp_err_set(err, SP_ERR_IO, "outbox: %s", strerror(errno));
	if (write(fd, p, n) != (ssize_t)n || fsync(fd) != 0) {
		st = sp_err_set(err, SP_ERR_IO, "outbox: %s", strerror(errno));
		close(fd);
		unlink(tmp);
		return st;
	}
	close(fd);
	return SP_OK;
}

/* Write m as NAME.eml into the outbox; with rcpt (not NULL), its SMTP
 * recipients first as NAME.rcpt beside it (one address a line), so that
 * NAME.rcpt is there when NAME.eml appears. */
static int
write_dir_rcpt(struct sp_transport *t, const void *data, size_t len, const struct sp_buf *rcpt,
    struct sp_err *err)
{
	char name[96], tmp[4200], dst[4200], rtmp[4200], rdst[4200], rnd[32];
	struct timeval tv;
	struct tm tm;
	int st;

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
	if (rcpt != NULL) {
		/* NAME.rcpt: the same name with "rcpt" for "eml" */
		snprintf(rtmp, sizeof(rtmp), "%.*srcpt", (int)(strlen(tmp) - 3), tmp);
		snprintf(rdst, sizeof(rdst), "%.*srcpt", (int)(strlen(dst) - 3), dst);
		if ((st = write_file(rtmp, rcpt->data, rcpt->len, err)) != SP_OK)
			return st;
		if (rename(rtmp, rdst) != 0) {
			st = sp_err_set(err, SP_ERR_IO, "outbox: %s", strerror(errno));
			unlink(rtmp);
			return st;
		}
	}
	if ((st = write_file(tmp, data, len, err)) != SP_OK) {
		if (rcpt != NULL)
			unlink(rdst);
		return st;
	}
	if (rename(tmp, dst) != 0) {
		st = sp_err_set(err, SP_ERR_IO, "outbox: %s", strerror(errno));
		unlink(tmp);
		return st;
	}
	return SP_OK;
}

static int
write_dir(struct sp_transport *t, const struct sp_buf *m, struct sp_err *err)
{
	return write_dir_rcpt(t, m->data, m->len, NULL, err);
}

/* Pipe data to sendmail: with rcpt (n addresses), `sendmail -i -f FROM --
 * rcpt...`; without, `sendmail -i -t -f FROM` (the recipients of the
 * header). */
static int
pipe_sendmail(struct sp_transport *t, const void *data, size_t len, const char *const *rcpt,
    size_t n, struct sp_err *err)
{
	const unsigned char *bytes = data;
	const char **argv;
	int fds[2], status;
	pid_t pid;
	size_t off = 0, i, a = 0;
	ssize_t w;

	if ((argv = calloc(n + 8, sizeof(char *))) == NULL)
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	argv[a++] = "sendmail";
	argv[a++] = "-i";
	if (rcpt == NULL)
		argv[a++] = "-t";
	argv[a++] = "-f";
	argv[a++] = t->from;
	if (rcpt != NULL) {
		argv[a++] = "--";
		for (i = 0; i < n; i++)
			argv[a++] = rcpt[i];
	}
	argv[a] = NULL;

	/* close-on-exec: a sendmail started meanwhile by another thread must
	 * not hold this pipe open (dup2 clears the flag on the child's 0) */
	if (pipe2(fds, O_CLOEXEC) != 0) {
		free(argv);
		return sp_err_set(err, SP_ERR_RETRY, "sendmail: %s", strerror(errno));
	}
	if ((pid = fork()) < 0) {
		close(fds[0]);
		close(fds[1]);
		free(argv);
		return sp_err_set(err, SP_ERR_RETRY, "sendmail: %s", strerror(errno));
	}
	if (pid == 0) {
		/* the pipe as standard input (already 0 when the key server
		 * runs without one: then only its close-on-exec goes) */
		if (fds[0] == 0)
			fcntl(0, F_SETFD, 0);
		else if (dup2(fds[0], 0) != 0)
			_exit(127);
		else
			close(fds[0]);
		close(fds[1]);
		execv(t->arg, (char *const *)argv);
		_exit(127);
	}
	free(argv);
	close(fds[0]);
	while (off < len) {
		w = write(fds[1], bytes + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	close(fds[1]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (off != len || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return sp_err_set(err, SP_ERR_RETRY, "sendmail failed");
	return SP_OK;
}

static int
write_sendmail(struct sp_transport *t, const struct sp_buf *m, struct sp_err *err)
{
	return pipe_sendmail(t, m->data, m->len, NULL, 0, err);
}

int
sp_transport_send_mime(struct sp_transport *t, const char *const *rcpt, size_t n,
    const void *data, size_t len, struct sp_err *err)
{
	struct sp_buf list;
	size_t i;
	int st = SP_OK;

	if (n == 0)
		return sp_err_set(err, SP_ERR_INVALID, "transport: no recipient");
	for (i = 0; i < n; i++)
		if (rcpt[i] == NULL || !safe_header(rcpt[i]) || rcpt[i][0] == '-' ||
		    strchr(rcpt[i], '@') == NULL || strchr(rcpt[i], ' ') != NULL)
			return sp_err_set(err, SP_ERR_INVALID, "transport: bad recipient address");
	if (t->kind == 1)
		return pipe_sendmail(t, data, len, rcpt, n, err);
	sp_buf_init(&list, (size_t)n * 330 + 16);
	for (i = 0; i < n && st == SP_OK; i++)
		st = sp_buf_printf(&list, "%s\n", rcpt[i]);
	if (st == SP_OK)
		st = write_dir_rcpt(t, data, len, &list, err);
	else
		sp_err_set(err, st, "transport: too many recipients");
	sp_buf_free(&list);
	return st;
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

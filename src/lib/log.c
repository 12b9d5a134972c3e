/*
 * log.c - the one log of every sealpost program (log.h): one line per
 * event, "IDENT EVENT key=value ...", to standard error with a UTC time
 * stamp or to syslog (facility mail); the untrusted-text filter
 * log_clean(); fatal() and fatalx() for programs.
 * SECURITY: values may come from mail or the network.  log_clean() makes a
 * value printable ASCII, cut and quoted; the assembled line is filtered
 * again (every byte outside printable ASCII as \xNN), so that a value a
 * caller forgot to clean can still not split or forge a line.
 */
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

static const char hexdigits[] = "0123456789abcdef";

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char log_ident[64] = "sealpost";
static int log_syslog;
static int log_debug_on;
static int log_ready;
static FILE *log_out;		/* NULL = stderr */

void
log_init(const char *ident, int to_syslog, int debug)
{
	pthread_mutex_lock(&log_lock);
	if (ident != NULL)
		snprintf(log_ident, sizeof(log_ident), "%s", ident);
	if (log_syslog && !to_syslog)
		closelog();
	log_syslog = to_syslog;
	log_debug_on = debug;
	if (to_syslog)
		openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
	log_ready = 1;
	pthread_mutex_unlock(&log_lock);
}

int
log_initialized(void)
{
	int r;

	pthread_mutex_lock(&log_lock);
	r = log_ready;
	pthread_mutex_unlock(&log_lock);
	return r;
}

void
log_set_output(FILE *f)
{
	pthread_mutex_lock(&log_lock);
	log_out = f;
	pthread_mutex_unlock(&log_lock);
}

void
log_set_debug(int debug)
{
	pthread_mutex_lock(&log_lock);
	log_debug_on = debug;
	pthread_mutex_unlock(&log_lock);
}

static int
plain(unsigned char c)
{
	return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
}

char *
log_clean(const char *s, char *out, size_t outsz)
{
	size_t i, o = 0, reserve;
	int quote = 0, cut = 0;

	if (outsz == 0)
		return out;
	if (s == NULL)
		s = "-";
	for (i = 0; s[i] != '\0' && i < LOG_VALUE_MAX; i++)
		if (s[i] == ' ')
			quote = 1;
	if (s[0] == '\0')
		quote = 1;
	/* room kept for "..." and the closing quote; dropped when out is tiny */
	reserve = 3 + (size_t)quote;
	if (reserve + (size_t)quote + 1 > outsz)
		reserve = 0, quote = 0;
	if (quote)
		out[o++] = '"';
	for (i = 0; s[i] != '\0'; i++) {
		unsigned char c = (unsigned char)s[i];
		size_t need = plain(c) ? 1 : 4;

		if (i == LOG_VALUE_MAX || o + need + reserve + 1 > outsz) {
			cut = 1;
			break;
		}
		if (need == 1) {
			out[o++] = (char)c;
		} else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hexdigits[c >> 4];
			out[o++] = hexdigits[c & 15];
		}
	}
	if (cut && reserve != 0) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	if (quote)
		out[o++] = '"';
	out[o] = '\0';
	return out;
}

static const char *
level_name(enum log_level level)
{
	switch (level) {
	case LOG_LEVEL_DEBUG: return "debug";
	case LOG_LEVEL_INFO: return "info";
	case LOG_LEVEL_WARNING: return "warning";
	case LOG_LEVEL_FATAL: return "fatal";
	}
	return "info";
}

static int
level_prio(enum log_level level)
{
	switch (level) {
	case LOG_LEVEL_DEBUG: return LOG_DEBUG;
	case LOG_LEVEL_INFO: return LOG_INFO;
	case LOG_LEVEL_WARNING: return LOG_WARNING;
	case LOG_LEVEL_FATAL: return LOG_CRIT;
	}
	return LOG_INFO;
}

/* Append src to line (at *o, size LOG_LINE_MAX) with every byte outside
 * printable ASCII as \xNN; returns 0, or -1 when the line is full. */
static int
put_filtered(char *line, size_t *o, const char *src)
{
	for (; *src != '\0'; src++) {
		unsigned char c = (unsigned char)*src;

		if (c >= 0x20 && c < 0x7f) {
			if (*o + 1 >= LOG_LINE_MAX - 3)
				return -1;
			line[(*o)++] = (char)c;
		} else {
			if (*o + 4 >= LOG_LINE_MAX - 3)
				return -1;
			line[(*o)++] = '\\';
			line[(*o)++] = 'x';
			line[(*o)++] = hexdigits[c >> 4];
			line[(*o)++] = hexdigits[c & 15];
		}
	}
	return 0;
}

void
log_vemit(enum log_level level, int errnum, const char *event, const char *fmt, va_list ap)
{
	char tail[LOG_LINE_MAX], line[LOG_LINE_MAX], stamp[32];
	char ebuf[LOG_CLEAN_SIZE];
	size_t o = 0;
	int full = 0;
	struct tm tm;
	time_t now;
	FILE *f;

	pthread_mutex_lock(&log_lock);
	if (level == LOG_LEVEL_DEBUG && !log_debug_on) {
		pthread_mutex_unlock(&log_lock);
		return;
	}
	tail[0] = '\0';
	if (fmt != NULL)
		vsnprintf(tail, sizeof(tail), fmt, ap);
	/* the ident goes in front on stderr; syslog adds its own */
	if (!log_syslog)
		full |= put_filtered(line, &o, log_ident) || put_filtered(line, &o, " ");
	full |= put_filtered(line, &o, event != NULL && *event != '\0' ? event : "-");
	if (level != LOG_LEVEL_INFO) {
		full |= put_filtered(line, &o, " level=");
		full |= put_filtered(line, &o, level_name(level));
	}
	if (tail[0] != '\0') {
		full |= put_filtered(line, &o, " ");
		full |= put_filtered(line, &o, tail);
	}
	if (errnum != 0) {
		full |= put_filtered(line, &o, " errno=");
		full |= put_filtered(line, &o, log_clean(strerror(errnum), ebuf, sizeof(ebuf)));
	}
	if (full) {
		memcpy(line + o, "...", 3);
		o += 3;
	}
	line[o] = '\0';
	if (log_syslog) {
		syslog(level_prio(level), "%s", line);
	} else {
		f = log_out != NULL ? log_out : stderr;
		now = time(NULL);
		gmtime_r(&now, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
		fprintf(f, "%s %s\n", stamp, line);
		fflush(f);
	}
	pthread_mutex_unlock(&log_lock);
}

#define LOG_FN(name, level, with_errno) \
void \
name(const char *event, const char *fmt, ...) \
{ \
	int saved = errno; \
	va_list ap; \
	va_start(ap, fmt); \
	log_vemit(level, with_errno ? saved : 0, event, fmt, ap); \
	va_end(ap); \
	errno = saved; \
}

LOG_FN(log_debug, LOG_LEVEL_DEBUG, 0)
LOG_FN(log_info, LOG_LEVEL_INFO, 0)
LOG_FN(log_warn, LOG_LEVEL_WARNING, 1)
LOG_FN(log_warnx, LOG_LEVEL_WARNING, 0)

void
fatal(const char *event, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vemit(LOG_LEVEL_FATAL, saved, event, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *event, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(LOG_LEVEL_FATAL, 0, event, fmt, ap);
	va_end(ap);
	exit(1);
}

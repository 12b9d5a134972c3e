/*
 * milter_log.c - the milter's log: one line per event to stderr (with a UTC
 * time stamp) or to syslog (facility mail).  Untrusted text goes through
 * milter_log_clean() first; secrets are never passed here.
 */
#include "milter.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

static int log_to = MILTER_LOG_STDERR;
static const char *log_ident = "sealpost-milter";
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void
milter_log_open(int to, const char *ident)
{
	log_to = to;
	if (ident != NULL)
		log_ident = ident;
	if (to == MILTER_LOG_SYSLOG)
		openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

static void
vlog(int prio, const char *level, const char *fmt, va_list ap)
{
	char line[2048];
	char stamp[32];
	struct tm tm;
	time_t now;

	vsnprintf(line, sizeof(line), fmt, ap);
	if (log_to == MILTER_LOG_SYSLOG) {
		syslog(prio, "%s", line);
		return;
	}
	now = time(NULL);
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	pthread_mutex_lock(&log_lock);
	fprintf(stderr, "%s %s %s: %s\n", stamp, log_ident, level, line);
	fflush(stderr);
	pthread_mutex_unlock(&log_lock);
}

void
milter_log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_INFO, "info", fmt, ap);
	va_end(ap);
}

void
milter_log_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_WARNING, "warning", fmt, ap);
	va_end(ap);
}

void
milter_log_clean(const char *s, char *out, size_t outsz)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	if (outsz == 0)
		return;
	for (; s != NULL && *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch >= 0x20 && ch < 0x7f && ch != '\\' && ch != '"') {
			if (o + 1 >= outsz)
				break;
			out[o++] = (char)ch;
		} else {
			if (o + 4 >= outsz)
				break;
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		}
	}
	out[o] = '\0';
}

void
milter_log_outcome(const struct milter_msg *m, const struct milter_outcome *o, long ms)
{
	char qid[80], rule[80], reason[600];

	milter_log_clean(m->qid, qid, sizeof(qid));
	milter_log_clean(o->rule, rule, sizeof(rule));
	milter_log_clean(o->reason, reason, sizeof(reason));
	for (char *p = qid; *p != '\0'; p++)
		if (*p == ' ')
			*p = '_';
	for (char *p = rule; *p != '\0'; p++)
		if (*p == ' ')
			*p = '_';
	milter_log_info("%s decision=%s rule=%s envelope=%s time_ms=%ld size=%llu rcpts=%zu reason=\"%s\"",
	    qid, o->decision, rule, o->envelope, ms, (unsigned long long)m->size, m->nrcpt, reason);
	if (o->notes[0] != '\0') {
		char notes[1700];

		milter_log_clean(o->notes, notes, sizeof(notes));
		milter_log_info("%s notes=\"%s\"", qid, notes);
	}
}

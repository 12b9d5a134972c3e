/*
 * keyd_log.c - the key server's events through the one log (log.h): one
 * line "keyd EVENT key=value ..." (time stamp in front on stderr) from
 * name/value pairs, each value through log_clean().
 * SECURITY: values may come from the network: log_clean() writes every
 * byte outside printable ASCII (and '"', '\\') as \xNN, quotes values with
 * spaces and cuts them at LOG_VALUE_MAX bytes, so a request cannot forge
 * log lines.  Callers never pass secrets.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "keyd.h"
#include "log.h"

int64_t
keyd_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* keyd_main.c does not call log_init() (yet): the first line sets the
 * ident, unless the program already did. */
static pthread_once_t keyd_log_once = PTHREAD_ONCE_INIT;

static void
keyd_log_start(void)
{
	if (!log_initialized())
		log_init("keyd", 0, 0);
}

void
keyd_log(const char *event, ...)
{
	char tail[LOG_LINE_MAX], v[LOG_CLEAN_SIZE];
	const char *k, *val;
	size_t o = 0;
	va_list ap;

	pthread_once(&keyd_log_once, keyd_log_start);
	tail[0] = '\0';
	va_start(ap, event);
	while ((k = va_arg(ap, const char *)) != NULL) {
		val = va_arg(ap, const char *);
		if (o < sizeof(tail))
			o += (size_t)snprintf(tail + o, sizeof(tail) - o, "%s%s=%s", o ? " " : "", k,
			    log_clean(val, v, sizeof(v)));
	}
	va_end(ap);
	log_info(event, "%s", tail);
}

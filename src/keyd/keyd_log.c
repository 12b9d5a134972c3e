/*
 * keyd_log.c - one log line per event on stderr: "keyd EVENT key=value ...".
 * SECURITY: values may come from the network: every byte outside printable
 * ASCII (and space, '"', '\\') is written as \xNN, values are cut at 200
 * bytes, so a request cannot forge log lines.  Callers never pass secrets.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "keyd.h"

int64_t
keyd_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
put_value(struct sp_buf *b, const char *v)
{
	size_t i;
	int quote = strchr(v, ' ') != NULL || *v == '\0';

	if (quote)
		sp_buf_append_str(b, "\"");
	for (i = 0; v[i] && i < 200; i++) {
		unsigned char c = (unsigned char)v[i];

		if (((c > 0x20 && c < 0x7f) || (quote && c == ' ')) && c != '"' && c != '\\')
			sp_buf_append(b, &v[i], 1);
		else
			sp_buf_printf(b, "\\x%02x", c);
	}
	if (v[i])
		sp_buf_append_str(b, "...");
	if (quote)
		sp_buf_append_str(b, "\"");
}

void
keyd_log(const char *event, ...)
{
	struct sp_buf b;
	const char *k, *v;
	va_list ap;

	sp_buf_init(&b, 4096);
	sp_buf_append_str(&b, "keyd ");
	put_value(&b, event);
	va_start(ap, event);
	while ((k = va_arg(ap, const char *)) != NULL) {
		v = va_arg(ap, const char *);
		sp_buf_printf(&b, " %s=", k);
		put_value(&b, v ? v : "-");
	}
	va_end(ap);
	sp_buf_append_str(&b, "\n");
	if (b.data)
		fwrite(b.data, 1, b.len, stderr);
	sp_buf_free(&b);
}

void
keyd_log_status(struct keyd_req *r, unsigned status)
{
	char st[16], ms[32];

	snprintf(st, sizeof(st), "%u", status);
	snprintf(ms, sizeof(ms), "%lld", (long long)(keyd_now_ms() - r->started_ms));
	keyd_log("request", "method", r->method, "path", r->url, "status", st,
	    "client", r->client, "ms", ms, NULL);
}

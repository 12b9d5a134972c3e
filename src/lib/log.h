/*
 * log.h - the one log of every sealpost program: one line per event,
 *
 *     IDENT EVENT key=value key="value with spaces" ...
 *
 * on standard error with a UTC time stamp in front, or to syslog (facility
 * mail, the priority carrying the level).  Lines of a level other than info
 * carry it as the first key (`level=warning`, `level=debug`, `level=fatal`).
 *
 * The caller gives the event name (a constant) and a printf format for the
 * key=value part; every value that did not come from the program itself
 * passes log_clean() first, which makes it printable ASCII, cuts it and
 * quotes it when needed.  As a second line of defence the whole line is
 * filtered again, so no input can split a line or forge one.  Secrets are
 * never passed here.
 *
 * This is the program side of the library: library modules return a status
 * and never log; fatal() and fatalx() exit and are for programs only.
 * Thread-safe: each line is written whole under a lock.
 * SECURITY: values may be untrusted (mail headers, URLs, client input);
 * see log_clean().
 */
#ifndef SP_LOG_H
#define SP_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#define LOG_VALUE_MAX 400	/* input bytes of one value kept by log_clean */
#define LOG_CLEAN_SIZE (LOG_VALUE_MAX * 4 + 8)	/* room for any cleaned value */
#define LOG_LINE_MAX 4096	/* a longer line is cut (and ends in "...") */

/* Where lines go from now on.  ident names the program in every line
 * ("keyd", "sealpost-milter"; copied, at most 63 bytes); to_syslog 1 opens
 * syslog with facility mail, 0 writes to standard error; debug 1 lets
 * log_debug() lines through.  May be called again (a program that reads
 * its configuration first logs to stderr until then). */
void log_init(const char *ident, int to_syslog, int debug);

/* 1 once log_init() ran. */
int log_initialized(void);

/* Write stderr-style lines to f instead (tests); NULL = standard error
 * again.  f is borrowed until the next call. */
void log_set_output(FILE *f);

/* Change whether log_debug() lines are written. */
void log_set_debug(int debug);

/* Copy untrusted text s into out (outsz bytes) as one log value: every byte
 * outside printable ASCII, and '"' and '\\', written as \xNN (so CR, LF,
 * NUL-free output, UTF-8 bytes escaped); at most LOG_VALUE_MAX bytes of s
 * kept, a cut value ends in "..."; the value is put in double quotes when
 * it holds a space or is empty.  NULL is written as "-".  The result always
 * fits: it is cut on a whole escape when outsz is small (LOG_CLEAN_SIZE is
 * always enough).  Returns out, so it can stand in a log_info() argument
 * list. */
char *log_clean(const char *s, char *out, size_t outsz);

/* One event.  event: a constant name ("start", "request", "message");
 * fmt: printf format of the key=value part, e.g. "qid=%s size=%zu"; NULL
 * for an event without keys. */
void log_debug(const char *event, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_info(const char *event, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A warning about an OS failure: appends errno="strerror(errno)". */
void log_warn(const char *event, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A warning without errno. */
void log_warnx(const char *event, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A start-up or OS failure: logs (with errno, as log_warn) and exits 1. */
void fatal(const char *event, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));
/* A broken invariant (a bug): logs and exits 1. */
void fatalx(const char *event, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

/* The same with a va_list; level is LOG_LEVEL_*; errnum appended as
 * errno="..." when not 0. */
enum log_level { LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARNING, LOG_LEVEL_FATAL };
void log_vemit(enum log_level level, int errnum, const char *event, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

#endif

/*
 * conf_test.c - the typed configuration table (conf.h): every type and its
 * bounds, unknown keys, FILE:LINE messages, lists (replace, append, clear,
 * count, item length), setters, the command line (--key VALUE, --key=VALUE,
 * flags, --no-flag, -c/-n/--help/--print-defaults, the command line over
 * the file), required keys, usage made from the table, and the defaults
 * printed and read back giving the same configuration.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "t.h"

struct tcfg {
	char name[16];
	char url[64];
	int64_t count;
	int64_t size;
	int flag;
	int mode;
	struct conf_list peers;
	char secret[32];
	int port;		/* through a setter */
	int setter_calls;
	int other;		/* not in the table: left alone */
};

static const char *const modes[] = {"off", "soft", "hard", NULL};

static int
set_port(void *cfg, const char *v, struct sp_err *err)
{
	struct tcfg *c = cfg;
	int64_t n = 0;

	for (const char *p = v; *p; p++) {
		if (*p < '0' || *p > '9')
			return sp_err_set(err, SP_ERR_INVALID, "want a port number");
		n = n * 10 + (*p - '0');
		if (n > 65535)
			return sp_err_set(err, SP_ERR_INVALID, "port above 65535");
	}
	c->port = (int)n;
	c->setter_calls++;
	return SP_OK;
}

static const struct conf_entry entries[] = {
	{.name = "name", .type = CONF_STR, CONF_AT(struct tcfg, name), .def = "sealpost",
	    .help = "a short name"},
	{.name = "url", .type = CONF_STR, CONF_AT(struct tcfg, url), .arg = "URL",
	    .help = "where to go", .flags = CONF_REQUIRED},
	{.name = "count", .type = CONF_INT, CONF_AT(struct tcfg, count), .def = "5", .min = -3, .max = 100,
	    .help = "how many"},
	{.name = "max_size", .type = CONF_SIZE, CONF_AT(struct tcfg, size), .def = "64M", .min = 1024,
	    .max = (int64_t)4 << 30, .help = "largest"},
	{.name = "flag", .type = CONF_BOOL, CONF_AT(struct tcfg, flag), .def = "yes", .help = "a switch"},
	{.name = "mode", .type = CONF_ENUM, CONF_AT(struct tcfg, mode), .def = "soft", .names = modes,
	    .help = "how hard"},
	{.name = "peer", .type = CONF_LIST, .off = offsetof(struct tcfg, peers), .size = 12, .max = 3,
	    .def = "a.example, b.example", .help = "peers"},
	{.name = "secret", .type = CONF_STR, CONF_AT(struct tcfg, secret), .help = "a secret",
	    .flags = CONF_SECRET},
	{.name = "port", .type = CONF_STR, .set = set_port, .def = "8080", .arg = "PORT",
	    .help = "a port"},
};

static const struct conf_table table = {
	.prog = "conf-test",
	.usage = "conf-test [-c FILE] [-n] [--KEY VALUE ...]",
	.about = "A table for the tests.",
	.entries = entries,
	.n = sizeof(entries) / sizeof(entries[0]),
};

static void
fresh(struct tcfg *c)
{
	struct sp_err err = {{0}};

	memset(c, 0, sizeof(*c));
	c->other = 77;
	T_EQ_INT(conf_defaults(&table, c, &err), SP_OK);
}

static const char *
write_file(const char *text)
{
	static char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/tmp/conf_test.%ld", (long)getpid());
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	return path;
}

static void
test_defaults(void)
{
	struct tcfg c;

	fresh(&c);
	T_CHECK(strcmp(c.name, "sealpost") == 0);
	T_CHECK(c.url[0] == '\0');
	T_EQ_INT(c.count, 5);
	T_EQ_INT(c.size, 64 << 20);
	T_EQ_INT(c.flag, 1);
	T_EQ_INT(c.mode, 1);
	T_EQ_INT(c.peers.n, 2);
	T_CHECK(c.peers.n == 2 && strcmp(c.peers.items[0], "a.example") == 0 &&
	    strcmp(c.peers.items[1], "b.example") == 0);
	T_EQ_INT(c.port, 8080);
	T_EQ_INT(c.other, 77);
	/* applying the defaults again leaves the same (lists not doubled) */
	T_EQ_INT(conf_defaults(&table, &c, NULL), SP_OK);
	T_EQ_INT(c.peers.n, 2);
	conf_clear(&table, &c);
	T_EQ_INT(c.peers.n, 0);
}

/* conf_set on every type: value, expected status, expected message part. */
static const struct {
	const char *key, *value;
	int status;
	const char *msg;
} set_cases[] = {
	{"name", "abcdefghijklmno", SP_OK, NULL},
	{"name", "abcdefghijklmnop", SP_ERR_CONFIG, "f:1: name: value too long (at most 15 bytes)"},
	{"url", "", SP_OK, NULL},
	{"count", "100", SP_OK, NULL},
	{"count", "-3", SP_OK, NULL},
	{"count", "101", SP_ERR_CONFIG, "f:1: count: 101 is out of range (-3..100)"},
	{"count", "-4", SP_ERR_CONFIG, "out of range"},
	{"count", "5x", SP_ERR_CONFIG, "f:1: count: not a number: '5x'"},
	{"count", "", SP_ERR_CONFIG, "not a number"},
	{"count", "1k", SP_ERR_CONFIG, "not a number"},
	{"count", "99999999999999999999", SP_ERR_CONFIG, "out of range"},
	{"max_size", "1024", SP_OK, NULL},
	{"max_size", "1k", SP_OK, NULL},
	{"max_size", "4G", SP_OK, NULL},
	{"max_size", "5G", SP_ERR_CONFIG, "out of range"},
	{"max_size", "1023", SP_ERR_CONFIG, "f:1: max_size: 1023 is out of range (1024..4294967296)"},
	{"max_size", "2T", SP_ERR_CONFIG, "not a number"},
	{"max_size", "9999999999999999G", SP_ERR_CONFIG, "out of range"},
	{"max-size", "2M", SP_OK, NULL},
	{"flag", "no", SP_OK, NULL},
	{"flag", "true", SP_OK, NULL},
	{"flag", "off", SP_OK, NULL},
	{"flag", "maybe", SP_ERR_CONFIG, "f:1: flag: expected yes or no, not 'maybe'"},
	{"mode", "hard", SP_OK, NULL},
	{"mode", "HARD", SP_ERR_CONFIG, "f:1: mode: 'HARD' is not one of the allowed values (off, soft, hard)"},
	{"peer", "c.example", SP_OK, NULL},
	{"peer", "too.long.example", SP_ERR_CONFIG, "f:1: peer: value too long (at most 11 bytes)"},
	{"port", "25", SP_OK, NULL},
	{"port", "http", SP_ERR_CONFIG, "f:1: port: want a port number"},
	{"bogus", "1", SP_ERR_CONFIG, "f:1: unknown key 'bogus'"},
};

static void
test_set(void)
{
	struct tcfg c;
	struct sp_err err;
	size_t i;

	for (i = 0; i < sizeof(set_cases) / sizeof(set_cases[0]); i++) {
		int st;

		fresh(&c);
		memset(&err, 0, sizeof(err));
		st = conf_set(&table, &c, set_cases[i].key, set_cases[i].value, "f:1", &err);
		if (st != set_cases[i].status || (set_cases[i].msg && !strstr(err.msg, set_cases[i].msg)))
			fprintf(stderr, "case %zu (%s = %s): status %d, message '%s'\n", i,
			    set_cases[i].key, set_cases[i].value, st, err.msg);
		T_EQ_INT(st, set_cases[i].status);
		if (set_cases[i].msg != NULL)
			T_CHECK(strstr(err.msg, set_cases[i].msg) != NULL);
		conf_clear(&table, &c);
	}
	fresh(&c);
	T_EQ_INT(conf_set(&table, &c, "max_size", "3M", NULL, NULL), SP_OK);
	T_EQ_INT(c.size, 3 << 20);
	T_EQ_INT(conf_set(&table, &c, "max_size", "2g", NULL, NULL), SP_OK);
	T_EQ_INT(c.size, (int64_t)2 << 30);
	T_EQ_INT(conf_set(&table, &c, "mode", "off", NULL, NULL), SP_OK);
	T_EQ_INT(c.mode, 0);
	/* lists through conf_set append, up to max; "" clears */
	T_EQ_INT(conf_set(&table, &c, "peer", "c", NULL, NULL), SP_OK);
	T_EQ_INT(c.peers.n, 3);
	T_EQ_INT(conf_set(&table, &c, "peer", "d", NULL, &err), SP_ERR_CONFIG);
	T_CHECK(strstr(err.msg, "peer: more than 3 values") != NULL);
	T_EQ_INT(conf_set(&table, &c, "peer", "", NULL, NULL), SP_OK);
	T_EQ_INT(c.peers.n, 0);
	conf_clear(&table, &c);
}

/* Files: text, expected status, message part. */
static const struct {
	const char *text;
	int status;
	const char *msg;
} file_cases[] = {
	{"# comment\n\n   \nurl = http://x\n", SP_OK, NULL},
	{"url=http://x\ncount=7\n", SP_OK, NULL},
	{"url = http://x\n\nbogus = 1\n", SP_ERR_CONFIG, ":3: unknown key 'bogus'"},
	{"url = http://x\ncount = 500\n", SP_ERR_CONFIG, ":2: count: 500 is out of range (-3..100)"},
	{"no equals sign\n", SP_ERR_CONFIG, ":1: expected 'key = value'"},
	{"mode = fast\n", SP_ERR_CONFIG, ":1: mode: 'fast' is not one of the allowed values"},
	{"flag = 2\n", SP_ERR_CONFIG, ":1: flag: expected yes or no"},
	{"peer = 1\npeer = 2\npeer = 3\npeer = 4\n", SP_ERR_CONFIG, ":4: peer: more than 3 values"},
	{"port = 70000\n", SP_ERR_CONFIG, ":1: port: port above 65535"},
	{"url = http://x # not a comment\n", SP_OK, NULL},
};

static void
test_file(void)
{
	struct tcfg c;
	struct sp_err err;
	const char *p;
	size_t i;
	char big[CONF_MAX_LINE + 100];

	for (i = 0; i < sizeof(file_cases) / sizeof(file_cases[0]); i++) {
		int st;

		fresh(&c);
		memset(&err, 0, sizeof(err));
		p = write_file(file_cases[i].text);
		st = conf_load_file(&table, &c, p, &err);
		if (st != file_cases[i].status || (file_cases[i].msg && !strstr(err.msg, file_cases[i].msg)))
			fprintf(stderr, "file case %zu: status %d, message '%s'\n", i, st, err.msg);
		T_EQ_INT(st, file_cases[i].status);
		if (file_cases[i].msg != NULL) {
			T_CHECK(strstr(err.msg, file_cases[i].msg) != NULL);
			T_CHECK(strncmp(err.msg, p, strlen(p)) == 0);	/* names the file */
		}
		conf_clear(&table, &c);
	}
	/* values: trimmed, '#' inside a value kept, last one wins */
	fresh(&c);
	p = write_file("url =  http://x/#frag  \ncount = 1\ncount = 2\r\n");
	T_EQ_INT(conf_load_file(&table, &c, p, NULL), SP_OK);
	T_CHECK(strcmp(c.url, "http://x/#frag") == 0);
	T_EQ_INT(c.count, 2);
	/* a list named in the file replaces its default */
	T_EQ_INT(c.peers.n, 2);
	p = write_file("peer = x\npeer = y\n");
	T_EQ_INT(conf_load_file(&table, &c, p, NULL), SP_OK);
	T_CHECK(c.peers.n == 2 && strcmp(c.peers.items[0], "x") == 0 && strcmp(c.peers.items[1], "y") == 0);
	p = write_file("peer =\n");
	T_EQ_INT(conf_load_file(&table, &c, p, NULL), SP_OK);
	T_EQ_INT(c.peers.n, 0);
	conf_clear(&table, &c);
	/* a line too long is an error, not two lines */
	memset(big, 'a', sizeof(big) - 2);
	memcpy(big, "name = ", 7);
	big[sizeof(big) - 2] = '\n';
	big[sizeof(big) - 1] = '\0';
	fresh(&c);
	p = write_file(big);
	T_EQ_INT(conf_load_file(&table, &c, p, &err), SP_ERR_CONFIG);
	T_CHECK(strstr(err.msg, ":1: line too long") != NULL);
	unlink(p);
	T_EQ_INT(conf_load_file(&table, &c, "/nonexistent/conf", &err), SP_ERR_CONFIG);
	T_CHECK(strstr(err.msg, "/nonexistent/conf: ") != NULL);
	conf_clear(&table, &c);
}

static int
read_args(struct tcfg *c, struct conf_cmdline *cl, struct sp_err *err, const char *a0, ...)
{
	char *argv[32];
	int argc = 0;
	va_list ap;
	const char *a;

	argv[argc++] = (char *)"conf-test";
	va_start(ap, a0);
	for (a = a0; a != NULL && argc < 31; a = va_arg(ap, const char *))
		argv[argc++] = (char *)a;
	va_end(ap);
	argv[argc] = NULL;
	memset(c, 0, sizeof(*c));
	memset(err, 0, sizeof(*err));
	return conf_read(&table, c, argc, argv, cl, err);
}

static void
test_cmdline(void)
{
	struct tcfg c;
	struct conf_cmdline cl;
	struct sp_err err;
	const char *p;

	T_EQ_INT(read_args(&c, &cl, &err, "--url", "http://a", "--count=9", "--no-flag", "--max-size", "1M",
	    "--peer", "p1", "--peer=p2", "--port", "25", "rest", "--count", "1", NULL), SP_OK);
	T_EQ_INT(cl.action, CONF_RUN);
	T_CHECK(strcmp(c.url, "http://a") == 0);
	T_EQ_INT(c.count, 9);
	T_EQ_INT(c.flag, 0);
	T_EQ_INT(c.size, 1 << 20);
	T_CHECK(c.peers.n == 2 && strcmp(c.peers.items[1], "p2") == 0);
	T_EQ_INT(c.port, 25);
	T_EQ_INT(cl.argi, 12);	/* "rest": operands start there */
	conf_clear(&table, &c);

	/* flags: --flag sets, --flag=no clears, -- ends the options */
	T_EQ_INT(read_args(&c, &cl, &err, "--url=u", "--flag=no", "--flag", "--", "--count", NULL), SP_OK);
	T_EQ_INT(c.flag, 1);
	T_EQ_INT(cl.argi, 5);
	conf_clear(&table, &c);

	/* errors name the option */
	T_EQ_INT(read_args(&c, &cl, &err, "--url", "u", "--count", "1000", NULL), SP_ERR_CONFIG);
	T_CHECK(strcmp(err.msg, "--count: 1000 is out of range (-3..100)") == 0);
	conf_clear(&table, &c);
	T_EQ_INT(read_args(&c, &cl, &err, "--bogus", "1", NULL), SP_ERR_CONFIG);
	T_CHECK(strstr(err.msg, "unknown option --bogus") != NULL);
	T_EQ_INT(read_args(&c, &cl, &err, "--no-count", NULL), SP_ERR_CONFIG);
	T_CHECK(strstr(err.msg, "unknown option --no-count") != NULL);
	T_EQ_INT(read_args(&c, &cl, &err, "-x", NULL), SP_ERR_CONFIG);
	T_CHECK(strstr(err.msg, "unknown option -x") != NULL);
	T_EQ_INT(read_args(&c, &cl, &err, "--url", NULL), SP_ERR_CONFIG);
	T_CHECK(strstr(err.msg, "--url needs a value") != NULL);
	T_EQ_INT(read_args(&c, &cl, &err, "-c", NULL), SP_ERR_CONFIG);
	conf_clear(&table, &c);

	/* required */
	T_EQ_INT(read_args(&c, &cl, &err, "--count", "1", NULL), SP_ERR_CONFIG);
	T_CHECK(strcmp(err.msg, "url is required") == 0);
	conf_clear(&table, &c);

	/* --help and --print-defaults win and read nothing else */
	T_EQ_INT(read_args(&c, &cl, &err, "-c", "/nonexistent", "--help", NULL), SP_OK);
	T_EQ_INT(cl.action, CONF_HELP);
	conf_clear(&table, &c);
	T_EQ_INT(read_args(&c, &cl, &err, "--print-defaults", "--bogus", NULL), SP_OK);
	T_EQ_INT(cl.action, CONF_PRINT_DEFAULTS);
	conf_clear(&table, &c);

	/* -c FILE and -n; the command line wins over the file, wherever it stands */
	p = write_file("url = http://file\ncount = 3\npeer = f1\n");
	T_EQ_INT(read_args(&c, &cl, &err, "--count", "4", "-n", "-c", p, "--peer", "c1", NULL), SP_OK);
	T_EQ_INT(cl.action, CONF_CHECK);
	T_CHECK(cl.file == p);
	T_CHECK(strcmp(c.url, "http://file") == 0);
	T_EQ_INT(c.count, 4);
	T_CHECK(c.peers.n == 1 && strcmp(c.peers.items[0], "c1") == 0);
	conf_clear(&table, &c);
	p = write_file("count = 3\n");
	T_EQ_INT(read_args(&c, &cl, &err, "-c", p, NULL), SP_ERR_CONFIG);
	T_CHECK(strcmp(err.msg + strlen(p), ": url is required") == 0);
	conf_clear(&table, &c);
	unlink(p);
}

static void
test_usage(void)
{
	char buf[8192];
	FILE *f = tmpfile();
	size_t n;

	conf_usage(&table, f);
	rewind(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	T_CHECK(strncmp(buf, "usage: conf-test [-c FILE]", 26) == 0);
	T_CHECK(strstr(buf, "A table for the tests.") != NULL);
	T_CHECK(strstr(buf, "--print-defaults") != NULL);
	T_CHECK(strstr(buf, "  url URL ") != NULL);
	T_CHECK(strstr(buf, "(required)") != NULL);
	T_CHECK(strstr(buf, "(default 5; -3..100)") != NULL);
	T_CHECK(strstr(buf, "(default 64M; 1k..4G, suffixes k M G)") != NULL);
	T_CHECK(strstr(buf, "(default soft; one of off, soft, hard)") != NULL);
	T_CHECK(strstr(buf, "repeatable, up to 3") != NULL);
	T_CHECK(strstr(buf, "a short name") != NULL);
}

/* The defaults printed, read back onto a config holding other values, give
 * the defaults again. */
static void
test_print_defaults(void)
{
	struct tcfg want, got;
	const char *p;
	FILE *f;
	char text[4096];
	size_t n;

	fresh(&want);
	p = write_file("");
	f = fopen(p, "w");
	conf_print_defaults(&table, f);
	fclose(f);
	f = fopen(p, "r");
	n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	T_CHECK(strstr(text, "\n# a short name\nname = sealpost\n") != NULL);
	T_CHECK(strstr(text, "\npeer = a.example\npeer = b.example\n") != NULL);
	T_CHECK(strstr(text, "\nurl =\n") != NULL);

	memset(&got, 0, sizeof(got));
	got.other = 77;
	T_EQ_INT(conf_set(&table, &got, "name", "other", NULL, NULL), SP_OK);
	T_EQ_INT(conf_set(&table, &got, "count", "42", NULL, NULL), SP_OK);
	T_EQ_INT(conf_set(&table, &got, "max_size", "2k", NULL, NULL), SP_OK);
	T_EQ_INT(conf_set(&table, &got, "flag", "no", NULL, NULL), SP_OK);
	T_EQ_INT(conf_set(&table, &got, "mode", "hard", NULL, NULL), SP_OK);
	T_EQ_INT(conf_set(&table, &got, "peer", "z", NULL, NULL), SP_OK);
	T_EQ_INT(conf_set(&table, &got, "port", "1", NULL, NULL), SP_OK);
	T_EQ_INT(conf_load_file(&table, &got, p, NULL), SP_OK);
	unlink(p);
	T_CHECK(strcmp(got.name, want.name) == 0);
	T_CHECK(strcmp(got.url, want.url) == 0);
	T_EQ_INT(got.count, want.count);
	T_EQ_INT(got.size, want.size);
	T_EQ_INT(got.flag, want.flag);
	T_EQ_INT(got.mode, want.mode);
	T_EQ_INT(got.port, want.port);
	T_EQ_INT(got.peers.n, want.peers.n);
	for (size_t i = 0; i < got.peers.n && i < want.peers.n; i++)
		T_CHECK(strcmp(got.peers.items[i], want.peers.items[i]) == 0);
	conf_clear(&table, &got);
	conf_clear(&table, &want);
}

static void
test_secret(void)
{
	struct tcfg c;

	fresh(&c);
	T_EQ_INT(conf_set(&table, &c, "secret", "hunter2", NULL, NULL), SP_OK);
	conf_clear(&table, &c);
	T_CHECK(c.secret[0] == '\0' && memchr(c.secret, 'h', sizeof(c.secret)) == NULL);
}

/* A broken table is found by conf_defaults, not by a crash. */
static void
test_broken_table(void)
{
	static const struct conf_entry bad[] = {
		{.name = "n", .type = CONF_INT, CONF_AT(struct tcfg, count), .def = "7", .min = 0, .max = 5,
		    .help = "x"},
	};
	static const struct conf_table bt = {"bt", "bt", NULL, bad, 1, 0};
	struct tcfg c;
	struct sp_err err = {{0}};

	memset(&c, 0, sizeof(c));
	T_EQ_INT(conf_defaults(&bt, &c, &err), SP_ERR_INTERNAL);
	T_CHECK(strstr(err.msg, "default of n") != NULL);
}

T_MAIN(test_defaults, test_set, test_file, test_cmdline, test_usage, test_print_defaults, test_secret,
    test_broken_table)

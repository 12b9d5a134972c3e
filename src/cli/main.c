/*
 * main.c - `sealpost`, the command line: parses the global options and hands
 * the rest to one verb (cli.h).
 */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jsonwipe.h"
#include "buf.h"
#include "cli.h"
#include "crypto.h"
#include "message.h"
#include "sp.h"
#include "store.h"

static const struct {
	const char *name;
	int (*fn)(int, char **, const struct cli_global *);
	const char *help;
} verbs[] = {
	{"org", cli_org_main, "manage sending organisations and their API tokens"},
	{"recipient", cli_recipient_main, "pre-register recipients"},
	{"seal", cli_seal_main, "seal a message into a notification mail with securedoc.html"},
	{"open", cli_open_main, "open an envelope as a recipient"},
	{"scan", cli_scan_main, "dry-run the sealing policy on a message"},
	{"key", cli_key_main, "rotate the master key and rewrap what is under older keys"},
	{"retract", cli_retract_main, "withdraw an envelope (or one recipient's copy)"},
	{"unretract", cli_unretract_main, "undo a retraction"},
	{"expire", cli_expire_main, "shred the key parts of expired envelopes"},
	{"audit", cli_audit_main, "export, verify and anchor the audit trail"},
	{"blob", cli_blob_main, "put, get, list and remove objects in a ciphertext copy store"},
	{"mailq", cli_mailq_main, "list the key server's refused mails waiting for a try; --flush"},
};

static void
usage(FILE *f)
{
	size_t i;

	fprintf(f,
	    "usage: sealpost [--data-dir DIR] [--db URL] [-c CONFIG] VERB [ARGS...]\n"
	    "       sealpost VERB --help\n\n"
	    "sealpost seals sensitive mail into registered envelopes and opens them.\n\n"
	    "global options:\n"
	    "  --data-dir DIR   key server data directory (for org, recipient, key,\n"
	    "                   retract, unretract, expire, audit, mailq)\n"
	    "  --db URL         the key server's store, as its --db: sqlite:DIR or\n"
	    "                   postgresql://USER@HOST:PORT/DB (default: SQLite in\n"
	    "                   --data-dir)\n"
	    "  -c, --config F   configuration file (for scan)\n"
	    "  --copies URL     the key server's --copies (default dir:DATA_DIR/copies),\n"
	    "                   where expire, retract and org remove delete copies\n"
	    "  --public-domains FILE\n"
	    "                   more public mail domains that no organisation may\n"
	    "                   hold, one a line (for org add, org domain add)\n"
	    "  -h, --help       this help\n\nverbs:\n");
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		fprintf(f, "  %-10s %s\n", verbs[i].name, verbs[i].help);
}

int
cli_read_file(const char *path, size_t cap, struct sp_buf *out, struct sp_err *err)
{
	FILE *f = stdin;
	unsigned char tmp[65536];
	size_t n;
	int st = SP_OK;

	if (path != NULL && strcmp(path, "-") != 0 && (f = fopen(path, "rb")) == NULL)
		return sp_err_set(err, SP_ERR_IO, "%s: %s", path, strerror(errno));
	sp_buf_init(out, cap);
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		if ((st = sp_buf_append(out, tmp, n)) != SP_OK)
			break;
	if (st == SP_ERR_TOOBIG)
		sp_err_set(err, st, "%s: larger than %zu bytes", path ? path : "input", cap);
	else if (st != SP_OK)
		sp_err_set(err, st, "%s: %s", path ? path : "input", sp_status_str(st));
	else if (ferror(f))
		st = sp_err_set(err, SP_ERR_IO, "%s: read error", path ? path : "input");
	if (f != stdin)
		fclose(f);
	if (st != SP_OK)
		sp_buf_free(out);
	else if (out->data == NULL)
		st = sp_buf_reserve(out, 0);
	return st;
}

void
cli_iso_time(long long t, char out[32])
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (t == 0 || gmtime_r(&tt, &tm) == NULL ||
	    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, 32, "%s", t == 0 ? "-" : "?");
}

int
cli_wants_help(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
			return 1;
	return 0;
}

int
cli_has_store(const struct cli_global *g, const char *verb)
{
	if (g->data_dir != NULL || (g->db != NULL && *g->db != '\0' &&
	    strcmp(g->db, "sqlite:") != 0))
		return 1;
	fprintf(stderr, "sealpost %s: --data-dir DIR or --db URL is required (global options, "
	    "before the verb)\n", verb);
	return 0;
}

int
cli_store_open(const struct cli_global *g, const char *verb, struct sp_store **s)
{
	struct sp_err err = {{0}};
	int st;

	*s = NULL;
	if (!cli_has_store(g, verb))
		return 2;
	/* The store's messages never show a URL's password; the URL itself is
	 * not repeated here. */
	if ((st = sp_store_open_url(s, g->db, g->data_dir, &err)) != SP_OK) {
		fprintf(stderr, "sealpost %s: %s\n", verb, sp_err_msg(&err, st));
		return 1;
	}
	return 0;
}

int
cli_read_password(const char *path, struct sp_buf *out, struct sp_err *err)
{
	int st;
	size_t i;

	if (path == NULL)
		return sp_err_set(err, SP_ERR_INVALID, "--password-file is required");
	if ((st = cli_read_file(path, 4096, out, err)) != SP_OK)
		return st;
	for (i = 0; i < out->len; i++)
		if (out->data[i] == '\n' || out->data[i] == '\r')
			break;
	sp_wipe(out->data + i, out->len - i);
	out->len = i;
	out->data[i] = '\0';
	return SP_OK;
}

int
main(int argc, char **argv)
{
	struct cli_global g = {NULL, NULL, NULL, NULL, NULL};
	int i = 1, rc;
	size_t v;

	sp_json_wipe_install();		/* passwords and tokens pass through JSON */
	while (i < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "--data-dir") == 0 && i + 1 < argc) {
			g.data_dir = argv[i + 1];
			i += 2;
		} else if (strcmp(argv[i], "--db") == 0 && i + 1 < argc) {
			g.db = argv[i + 1];
			i += 2;
		} else if (strcmp(argv[i], "--copies") == 0 && i + 1 < argc) {
			g.copies = argv[i + 1];
			i += 2;
		} else if (strcmp(argv[i], "--public-domains") == 0 && i + 1 < argc) {
			g.public_domains = argv[i + 1];
			i += 2;
		} else if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < argc) {
			g.config = argv[i + 1];
			i += 2;
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "sealpost: unknown option %s\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	for (v = 0; v < sizeof(verbs) / sizeof(verbs[0]); v++)
		if (strcmp(argv[i], verbs[v].name) == 0)
			break;
	if (v == sizeof(verbs) / sizeof(verbs[0])) {
		fprintf(stderr, "sealpost: unknown verb '%s' (see sealpost --help)\n", argv[i]);
		return 2;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	sp_msg_global_init();
	rc = verbs[v].fn(argc - i, argv + i, &g);
	curl_global_cleanup();
	return rc;
}

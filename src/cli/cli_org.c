/*
 * cli_org.c - `sealpost org`: add a sending organisation (prints its new API
 * token, the only time it is shown) and list organisations.  Opens the key
 * server's store directly (--db, or SQLite in --data-dir).
 * SECURITY: the token is printed once and only its SHA-256 is stored.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../cli/cli.h"
#include "crypto.h"
#include "store.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: sealpost --data-dir DIR | --db URL org add NAME --domain DOMAIN\n"
	    "       sealpost --data-dir DIR | --db URL org list\n\n"
	    "add   registers a sending organisation and prints its new API token\n"
	    "      (spo_...) on standard output; store it in the gateway's\n"
	    "      configuration: it is shown only this once.  DOMAIN is the\n"
	    "      organisation's mail domain: its token may also release keys of\n"
	    "      envelopes sent to that domain (replies).\n"
	    "list  shows the organisations: id, domain, name.\n");
}

static int
valid_domain(const char *d)
{
	size_t n = strlen(d), i;

	if (n == 0 || n > SP_STORE_DOMAIN_MAX || d[0] == '.' || d[0] == '-' ||
	    strchr(d, '.') == NULL || d[n - 1] == '.')
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)d[i]) && d[i] != '-' && d[i] != '.')
			return 0;
	return 1;
}

static int
print_org(void *ctx, const struct sp_org *o)
{
	(void)ctx;
	printf("%lld\t%s\t%s\n", (long long)o->id, o->domain, o->name);
	return 0;
}

int
cli_org_main(int argc, char **argv, const struct cli_global *g)
{
	struct sp_err err = {{0}};
	struct sp_store *s = NULL;
	const char *name = NULL, *domain = NULL;
	char tok[96], dom[SP_STORE_DOMAIN_MAX + 1];
	unsigned char h[SP_SHA256_LEN];
	int i, st, add;
	size_t k;

	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		}
	if (argc < 2 || (strcmp(argv[1], "add") != 0 && strcmp(argv[1], "list") != 0)) {
		usage(stderr);
		return 2;
	}
	add = strcmp(argv[1], "add") == 0;
	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--domain") == 0 && i + 1 < argc)
			domain = argv[++i];
		else if (argv[i][0] != '-' && name == NULL && add)
			name = argv[i];
		else {
			fprintf(stderr, "sealpost org: unexpected argument '%s'\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (!cli_has_store(g, "org"))
		return 2;
	if (add) {
		if (name == NULL || *name == '\0' || strlen(name) > SP_STORE_NAME_MAX) {
			fprintf(stderr, "sealpost org add: NAME is required (at most %d bytes)\n",
			    SP_STORE_NAME_MAX);
			return 2;
		}
		for (k = 0; name[k]; k++)
			if ((unsigned char)name[k] < 0x20 || name[k] == 0x7f) {
				fprintf(stderr, "sealpost org add: NAME has control characters\n");
				return 2;
			}
		if (domain == NULL || !valid_domain(domain)) {
			fprintf(stderr, "sealpost org add: --domain DOMAIN is required "
			    "(a mail domain such as clinic.example)\n");
			return 2;
		}
		for (k = 0; domain[k]; k++)
			dom[k] = (char)tolower((unsigned char)domain[k]);
		dom[k] = '\0';
	}
	if ((st = cli_store_open(g, "org", &s)) != 0)
		return st;
	if (!add) {
		st = sp_store_org_each(s, print_org, NULL, &err);
		sp_store_close(s);
		if (st != SP_OK) {
			fprintf(stderr, "sealpost org list: %s\n", sp_err_msg(&err, st));
			return 1;
		}
		return 0;
	}
	if ((st = sp_token_new(tok, sizeof(tok), "spo_", 32)) != SP_OK) {
		sp_store_close(s);
		fprintf(stderr, "sealpost org add: no randomness\n");
		return 1;
	}
	sp_sha256(tok, strlen(tok), h);
	st = sp_store_org_add(s, name, dom, h, (int64_t)time(NULL), NULL, &err);
	sp_store_close(s);
	if (st != SP_OK) {
		sp_wipe(tok, sizeof(tok));
		fprintf(stderr, "sealpost org add: %s\n", sp_err_msg(&err, st));
		return 1;
	}
	printf("%s\n", tok);
	sp_wipe(tok, sizeof(tok));
	return 0;
}

/*
 * cli_recipient.c - `sealpost recipient add`: creates an activated recipient
 * account directly in the key server's store (for pre-registered users and
 * tests).  The password comes from a file and must pass the password policy.
 * SECURITY: reads a password; it is wiped after hashing and never printed.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../cli/cli.h"
#include "buf.h"
#include "crypto.h"
#include "password.h"
#include "store.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: sealpost --data-dir DIR recipient add EMAIL --password-file FILE\n"
	    "           [--first NAME] [--last NAME] [--language CODE]\n\n"
	    "Creates an activated recipient account.  FILE holds the password on\n"
	    "its first line; it must follow the password policy (at least 8\n"
	    "characters, not a common password, not containing the address).\n"
	    "The account has no security phrase or questions until the recipient\n"
	    "sets them.\n");
}

int
cli_recipient_main(int argc, char **argv, const struct cli_global *g)
{
	struct sp_err err = {{0}};
	struct sp_store *s = NULL;
	struct sp_account acc;
	struct sp_buf pw;
	struct sp_audit a = {0, "recipient-add", NULL, NULL, "cli", NULL};
	struct sp_pw_context ctx = {NULL, NULL};
	const char *email = NULL, *pwfile = NULL, *first = "", *last = "", *lang = "en";
	int i, st;
	size_t k;

	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		}
	if (argc < 2 || strcmp(argv[1], "add") != 0) {
		usage(stderr);
		return 2;
	}
	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--password-file") == 0 && i + 1 < argc)
			pwfile = argv[++i];
		else if (strcmp(argv[i], "--first") == 0 && i + 1 < argc)
			first = argv[++i];
		else if (strcmp(argv[i], "--last") == 0 && i + 1 < argc)
			last = argv[++i];
		else if (strcmp(argv[i], "--language") == 0 && i + 1 < argc)
			lang = argv[++i];
		else if (argv[i][0] != '-' && email == NULL)
			email = argv[i];
		else {
			fprintf(stderr, "sealpost recipient: unexpected argument '%s'\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (g->data_dir == NULL) {
		fprintf(stderr, "sealpost recipient: --data-dir DIR is required (before 'recipient')\n");
		return 2;
	}
	memset(&acc, 0, sizeof(acc));
	if (email == NULL || strlen(email) > SP_STORE_EMAIL_MAX || strchr(email, '@') == NULL ||
	    strchr(email, ' ') != NULL) {
		fprintf(stderr, "sealpost recipient add: EMAIL must be an email address\n");
		return 2;
	}
	for (k = 0; email[k]; k++)
		acc.email[k] = (char)tolower((unsigned char)email[k]);
	if (strlen(first) > SP_STORE_NAME_MAX || strlen(last) > SP_STORE_NAME_MAX ||
	    strlen(lang) > SP_STORE_LANG_MAX) {
		fprintf(stderr, "sealpost recipient add: name or language too long\n");
		return 2;
	}
	if ((st = cli_read_password(pwfile, &pw, &err)) != SP_OK) {
		fprintf(stderr, "sealpost recipient add: %s\n", sp_err_msg(&err, st));
		return 2;
	}
	ctx.email = acc.email;
	if ((st = sp_password_check((const char *)pw.data, &ctx, &err)) != SP_OK) {
		sp_buf_wipe(&pw);
		fprintf(stderr, "sealpost recipient add: password refused: %s\n",
		    sp_err_msg(&err, st));
		return 1;
	}
	st = sp_password_hash((const char *)pw.data, acc.pw_hash, &err);
	sp_buf_wipe(&pw);
	if (st != SP_OK) {
		fprintf(stderr, "sealpost recipient add: %s\n", sp_err_msg(&err, st));
		return 1;
	}
	snprintf(acc.first_name, sizeof(acc.first_name), "%s", first);
	snprintf(acc.last_name, sizeof(acc.last_name), "%s", last);
	snprintf(acc.language, sizeof(acc.language), "%s", lang);
	acc.activated = 1;
	acc.created = (int64_t)time(NULL);
	a.actor = acc.email;
	if ((st = sp_store_open(&s, "sqlite", g->data_dir, &err)) == SP_OK)
		st = sp_store_account_create(s, &acc, &a, &err);
	sp_store_close(s);
	sp_wipe(&acc, sizeof(acc));
	if (st != SP_OK) {
		fprintf(stderr, "sealpost recipient add: %s\n", sp_err_msg(&err, st));
		return 1;
	}
	return 0;
}

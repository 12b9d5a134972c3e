/*
 * cli_recipient.c - `sealpost recipient add|unlock|reset`: creates an
 * activated recipient account directly in the key server's store (for
 * pre-registered users and tests); lifts the temporary log-in locks of an
 * address; starts a password reset for a recipient (a single-use link by
 * mail, and every session of the account ended).
 * SECURITY: reads a password; it is wiped after hashing and never printed.
 * The reset link's token is stored only as a hash, mailed once and wiped.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../cli/cli.h"
#include "buf.h"
#include "crypto.h"
#include "field.h"
#include "notice.h"
#include "password.h"
#include "store.h"
#include "transport.h"

#define CLI_RESET_TTL (24 * 60 * 60)

static int add_main(int argc, char **argv, const struct cli_global *g);

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: sealpost --data-dir DIR [--db URL] recipient add EMAIL --password-file FILE\n"
	    "           [--first NAME] [--last NAME] [--language CODE]\n"
	    "       sealpost --data-dir DIR [--db URL] recipient unlock EMAIL\n"
	    "       sealpost --data-dir DIR [--db URL] recipient reset EMAIL --public-url URL\n"
	    "           [--outbox DIR | --sendmail PATH] [--mail-from ADDR]\n\n"
	    "add: creates an activated recipient account.  FILE holds the password\n"
	    "on its first line; it must follow the password policy (at least 8\n"
	    "characters, not a common password, not containing the address).\n"
	    "The account has no security phrase or questions until the recipient\n"
	    "sets them.\n\n"
	    "unlock: lifts the temporary locks after wrong passwords, codes or\n"
	    "answers for EMAIL (locks per client network expire by themselves\n"
	    "within 15 minutes).\n\n"
	    "reset: ends every session of EMAIL's account and mails the recipient\n"
	    "a link (valid 24 hours, once) to choose a new password; the security\n"
	    "answers are still asked.  URL is the key server's public URL; the mail\n"
	    "goes to DIR/outbox by default, like the key server's.\n\n"
	    "--db URL names the key server's store as its --db does (then\n"
	    "--data-dir is needed only for reset's default outbox).\n");
}

static int
canonical_email(const char *in, char out[SP_STORE_EMAIL_MAX + 1], const char *verb)
{
	char tmp[SP_ADDR_MAX + 1];
	struct sp_err err = {{0}};

	if (in == NULL || sp_addr_parse(in, strlen(in), SP_ADDR_FOLD_LOCAL | SP_ADDR_ALLOW_DOTLESS,
	    tmp, NULL, &err) != SP_OK || strlen(tmp) > SP_STORE_EMAIL_MAX) {
		fprintf(stderr, "sealpost recipient %s: EMAIL must be an email address%s%s\n", verb,
		    err.msg[0] ? ": " : "", err.msg);
		return -1;
	}
	snprintf(out, SP_STORE_EMAIL_MAX + 1, "%s", tmp);
	return 0;
}

static int
unlock_main(int argc, char **argv, const struct cli_global *g)
{
	static const char *const prefixes[] = {"email:", "mfa:", "answers:", "activate:"};
	struct sp_err err = {{0}};
	struct sp_store *s = NULL;
	char email[SP_STORE_EMAIL_MAX + 1], key[SP_STORE_EMAIL_MAX + 16];
	struct sp_audit a = {0, "recipient-unlock", NULL, NULL, "cli", NULL, 0};
	int st, n, total = 0;
	size_t i;

	if (argc != 3 || canonical_email(argv[2], email, "unlock") != 0) {
		usage(stderr);
		return 2;
	}
	if ((st = cli_store_open(g, "recipient unlock", &s)) != 0)
		return st;
	for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]) && st == SP_OK; i++) {
		/* Whole keys only: "email:ADDR" must not match "email:ADDRx". */
		snprintf(key, sizeof(key), "%s%s", prefixes[i], email);
		n = 0;
		if ((st = sp_store_throttle_reset(s, key, &err)) == SP_OK)
			n = 1;
		total += n;
	}
	if (st == SP_OK) {
		a.actor = email;
		st = sp_store_audit(s, &a, &err);
	}
	sp_store_close(s);
	if (st != SP_OK) {
		fprintf(stderr, "sealpost recipient unlock: %s\n", sp_err_msg(&err, st));
		return 1;
	}
	printf("unlocked %s\n", email);
	(void)total;
	return 0;
}

static int
reset_main(int argc, char **argv, const struct cli_global *g)
{
	struct sp_err err = {{0}};
	struct sp_store *s = NULL;
	struct sp_transport *t = NULL;
	struct sp_buf body, outbox;
	struct sp_audit a = {0, "recipient-reset", NULL, NULL, "cli", "by administrator", 0};
	unsigned char th[SP_SHA256_LEN];
	char email[SP_STORE_EMAIL_MAX + 1], token[64];
	const char *url = NULL, *box = NULL, *sendmail = NULL, *from = "sealpost@localhost";
	const char *subject = NULL;
	int64_t now = (int64_t)time(NULL);
	int i, st, issued = 0, ended = 0;
	size_t n;

	if (argc < 3 || canonical_email(argv[2], email, "reset") != 0) {
		usage(stderr);
		return 2;
	}
	for (i = 3; i < argc; i++) {
		if (strcmp(argv[i], "--public-url") == 0 && i + 1 < argc)
			url = argv[++i];
		else if (strcmp(argv[i], "--outbox") == 0 && i + 1 < argc)
			box = argv[++i];
		else if (strcmp(argv[i], "--sendmail") == 0 && i + 1 < argc)
			sendmail = argv[++i];
		else if (strcmp(argv[i], "--mail-from") == 0 && i + 1 < argc)
			from = argv[++i];
		else {
			fprintf(stderr, "sealpost recipient reset: unexpected argument '%s'\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (url == NULL || (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0) ||
	    strpbrk(url, " \t\r\n\"<>") != NULL || (n = strlen(url)) > 500) {
		fprintf(stderr, "sealpost recipient reset: --public-url URL (the key server's "
		    "http:// or https:// URL) is required\n");
		return 2;
	}
	while (n > 0 && url[n - 1] == '/')
		n--;
	sp_buf_init(&outbox, 8192);
	if (sendmail == NULL && box == NULL) {
		if (g->data_dir == NULL) {
			fprintf(stderr, "sealpost recipient reset: give --outbox DIR or --sendmail "
			    "PATH (without --data-dir there is no DIR/outbox)\n");
			return 2;
		}
		sp_buf_printf(&outbox, "%s/outbox", g->data_dir);
		box = (const char *)outbox.data;
	}
	if ((st = cli_store_open(g, "recipient reset", &s)) != 0) {
		sp_buf_free(&outbox);
		return st;
	}
	st = sp_token_new(token, sizeof(token), "", 16);
	if (st == SP_OK) {
		sp_sha256(token, strlen(token), th);
		a.actor = email;
		st = sp_store_token_issue(s, SP_TOKEN_RESET, email, th, now, now + CLI_RESET_TTL,
		    NULL, NULL, &issued, &a, &err);
	}
	if (st == SP_OK && !issued) {
		fprintf(stderr, "sealpost recipient reset: %s has no account\n", email);
		sp_wipe(token, sizeof(token));
		sp_store_close(s);
		sp_buf_free(&outbox);
		return 1;
	}
	/* every session and every remembered device: a device's cookie would
	 * make a new session at once */
	if (st == SP_OK)
		st = sp_store_signout_all(s, email, &ended, NULL, NULL, &err);
	sp_store_close(s);
	sp_buf_init(&body, 65536);
	if (st == SP_OK) {
		char pub[512];

		snprintf(pub, sizeof(pub), "%.*s", (int)n, url);
		st = sp_notice_compose(SP_NOTICE_ADMIN_RESET, email, pub, token, "24 hours", NULL,
		    &subject, &body, &err);
	}
	sp_wipe(token, sizeof(token));
	if (st == SP_OK)
		st = sp_transport_new(&t, sendmail ? "sendmail" : "dir", sendmail ? sendmail : box,
		    from, &err);
	if (st == SP_OK)
		st = sp_transport_send(t, email, subject, (const char *)body.data, &err);
	sp_transport_free(t);
	sp_buf_wipe(&body);
	sp_buf_free(&outbox);
	if (st != SP_OK) {
		fprintf(stderr, "sealpost recipient reset: %s\n", sp_err_msg(&err, st));
		return 1;
	}
	printf("reset mail sent to %s; %d session%s ended\n", email, ended, ended == 1 ? "" : "s");
	return 0;
}

int
cli_recipient_main(int argc, char **argv, const struct cli_global *g)
{
	int i;

	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		}
	if (argc >= 2 && !cli_has_store(g, "recipient"))
		return 2;
	if (argc >= 2 && strcmp(argv[1], "unlock") == 0)
		return unlock_main(argc, argv, g);
	if (argc >= 2 && strcmp(argv[1], "reset") == 0)
		return reset_main(argc, argv, g);
	return add_main(argc, argv, g);
}

static int
add_main(int argc, char **argv, const struct cli_global *g)
{
	struct sp_err err = {{0}};
	struct sp_store *s = NULL;
	struct sp_account acc;
	struct sp_buf pw;
	struct sp_audit a = {0, "recipient-add", NULL, NULL, "cli", NULL, 0};
	struct sp_pw_context ctx = {NULL, NULL};
	const char *email = NULL, *pwfile = NULL, *first = "", *last = "", *lang = "en";
	int i, st;

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
	if (!cli_has_store(g, "recipient"))
		return 2;
	memset(&acc, 0, sizeof(acc));
	if (canonical_email(email, acc.email, "add") != 0)
		return 2;
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
	if (cli_store_open(g, "recipient add", &s) != 0) {
		sp_wipe(&acc, sizeof(acc));
		return 1;
	}
	st = sp_store_account_create(s, &acc, &a, &err);
	sp_store_close(s);
	sp_wipe(&acc, sizeof(acc));
	if (st != SP_OK) {
		fprintf(stderr, "sealpost recipient add: %s\n", sp_err_msg(&err, st));
		return 1;
	}
	return 0;
}

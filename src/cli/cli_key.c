/*
 * cli_key.c - `sealpost key`: master key rotation, for the administrator.
 * `rotate` adds DATA/keys/master-(N+1).key (written, synced, linked into
 * place, owned like its directory); the key holder wraps new parts with it
 * once it has re-read its keys (SIGHUP to sealpost-keyd or the key holder,
 * or a restart).  `rewrap` then moves every envelope's server part, every
 * account's TOTP secret and the key of every mail in the key server's mail
 * queue wrapped under an older key to the newest, row by row, each only
 * while the row still has the key it was read with.
 * SECURITY: reads the master keys itself (run it as root or as the key
 * holder's user); key parts are unwrapped and wrapped again in this
 * process and wiped at once; nothing secret is printed or audited.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../cli/cli.h"
#include "keywrap.h"
#include "store.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: sealpost --data-dir DIR key rotate\n"
	    "       sealpost --data-dir DIR [--db URL] key rewrap [--dry-run]\n\n"
	    "rotate  adds master key N+1 (DIR/keys/master-N.key, mode 0600, owned like\n"
	    "        DIR/keys).  New deposits use it once the key holder has read it\n"
	    "        again: kill -HUP the pid of sealpost-keyd (it tells the key holder;\n"
	    "        `systemctl reload sealpost-keyd`) or restart sealpost-keyd.\n"
	    "rewrap  wraps every envelope's server key part, every account's TOTP\n"
	    "        secret, the key of every mail in the key server's mail queue and\n"
	    "        every organisation's reply signing key that is under an older\n"
	    "        key again under the newest key.\n"
	    "        (The key holder reads a newer key by itself when asked to unwrap\n"
	    "        under it.)\n"
	    "        Old key files can be moved away once rewrap reports nothing left.\n"
	    "        --dry-run counts what would move.  The master keys are always in\n"
	    "        DIR/keys; the store is --db URL when the key server has one.\n\n"
	    "Both read the master keys: run them as root or as the key holder's user.\n");
}

struct rewrap_ctx {
	struct sp_store *s;
	struct sp_keywrap *kw;
	uint32_t newest;
	/* what moves: envelopes (aad = id), TOTP secrets ("totp:EMAIL"),
	 * queued mails' keys ("mailq:REF"), reply signing keys ("replykey:KID") */
	enum { RW_ENVELOPE, RW_TOTP, RW_MAILQ, RW_REPLYKEY } kind;
	int dry_run;
	long moved, skipped, failed;
};

static int
rewrap_one(void *arg, const char *ref, uint32_t key_id, const unsigned char *wrapped,
    size_t len)
{
	static const char *const prefix[] = {"", "totp:", "mailq:", "replykey:"};
	static const char *const what[] = {"envelope", "TOTP secret of", "queued mail",
	    "reply key"};
	struct rewrap_ctx *c = arg;
	struct sp_err err = {{0}};
	unsigned char part[SP_KEY_LEN], out[SP_KEYWRAP_LEN];
	char aad[SP_STORE_EMAIL_MAX + 8];
	uint32_t new_id = 0;
	int st;

	snprintf(aad, sizeof(aad), "%s%s", prefix[c->kind], ref);
	st = sp_keywrap_unwrap(c->kw, key_id, aad, wrapped, len, part, &err);
	if (st == SP_OK && c->dry_run) {
		sp_wipe(part, sizeof(part));
		c->moved++;
		return 0;
	}
	if (st == SP_OK)
		st = sp_keywrap_wrap(c->kw, aad, part, out, &new_id, &err);
	sp_wipe(part, sizeof(part));
	if (st == SP_OK) {
		const struct sp_rewrap r = {.ref = ref, .old_key_id = key_id, .old = wrapped,
		    .old_len = len, .new_key_id = new_id, .wrapped = out, .len = sizeof(out)};

		if (c->kind == RW_TOTP)
			st = sp_store_totp_rewrap(c->s, &r, NULL, &err);
		else if (c->kind == RW_MAILQ)
			st = sp_store_mailq_rewrap(c->s, &r, &err);
		else if (c->kind == RW_REPLYKEY)
			st = sp_store_replykey_rewrap(c->s, &r, &err);
		else
			st = sp_store_envelope_rewrap(c->s, &r, NULL, &err);
		if (st == SP_ERR_NOTFOUND) {	/* changed meanwhile: not ours to move */
			c->skipped++;
			return 0;
		}
	}
	if (st != SP_OK) {
		fprintf(stderr, "sealpost key rewrap: %s %s (key %u): %s\n",
		    what[c->kind], ref, key_id, sp_err_msg(&err, st));
		c->failed++;
		return st == SP_ERR_RETRY || st == SP_ERR_IO || st == SP_ERR_NOMEM;
	}
	c->moved++;
	return 0;
}

static int
rewrap(const struct cli_global *g, const char *kdir, int dry_run)
{
	struct sp_err err = {{0}};
	struct rewrap_ctx c;
	struct sp_audit a;
	char detail[200];
	long env_moved, totp_moved = 0, mails_moved = 0;
	int st;

	memset(&c, 0, sizeof(c));
	c.dry_run = dry_run;
	if ((st = sp_keywrap_load(&c.kw, kdir, 0, &err)) != SP_OK) {
		fprintf(stderr, "sealpost key rewrap: %s\n", sp_err_msg(&err, st));
		return 1;
	}
	c.newest = sp_keywrap_current(c.kw);
	if (cli_store_open(g, "key rewrap", &c.s) != 0) {
		sp_keywrap_free(c.kw);
		return 1;
	}
	st = sp_store_envelope_wrapped_each(c.s, c.newest, rewrap_one, &c, &err);
	env_moved = c.moved;
	if (st == SP_OK) {
		c.kind = RW_TOTP;
		c.moved = 0;
		st = sp_store_totp_wrapped_each(c.s, c.newest, rewrap_one, &c, &err);
		totp_moved = c.moved;
	}
	if (st == SP_OK) {
		c.kind = RW_MAILQ;
		c.moved = 0;
		st = sp_store_mailq_wrapped_each(c.s, c.newest, rewrap_one, &c, &err);
		mails_moved = c.moved;
	}
	if (st == SP_OK) {
		c.kind = RW_REPLYKEY;
		c.moved = 0;
		st = sp_store_replykey_wrapped_each(c.s, c.newest, rewrap_one, &c, &err);
	}
	if (st != SP_OK) {
		fprintf(stderr, "sealpost key rewrap: %s\n", sp_err_msg(&err, st));
		c.failed++;
	}
	snprintf(detail, sizeof(detail),
	    "key=%u envelopes=%ld totp=%ld mails=%ld replykeys=%ld skipped=%ld failed=%ld%s",
	    c.newest, env_moved, totp_moved, mails_moved, c.kind == RW_REPLYKEY ? c.moved : 0,
	    c.skipped, c.failed, dry_run ? " dry-run" : "");
	if (!dry_run) {
		a = (struct sp_audit){ .time = (int64_t)time(NULL), .event = "key-rewrap",
		    .actor = "admin", .detail = detail };
		if ((st = sp_store_audit(c.s, &a, &err)) != SP_OK) {
			fprintf(stderr, "sealpost key rewrap: audit: %s\n", sp_err_msg(&err, st));
			c.failed++;
		}
	}
	printf("%s %s\n", dry_run ? "would rewrap:" : "rewrapped:", detail);
	sp_store_close(c.s);
	sp_keywrap_free(c.kw);
	return c.failed ? 1 : 0;
}

int
cli_key_main(int argc, char **argv, const struct cli_global *g)
{
	struct sp_err err = {{0}};
	char kdir[4200];
	uint32_t id = 0;
	int i, st, old = 0, dry_run = 0;

	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		}
	if (argc < 2 || (strcmp(argv[1], "rotate") != 0 && strcmp(argv[1], "rewrap") != 0)) {
		usage(stderr);
		return 2;
	}
	for (i = 2; i < argc; i++) {
		if (strcmp(argv[1], "rewrap") == 0 && strcmp(argv[i], "--dry-run") == 0)
			dry_run = 1;
		else {
			fprintf(stderr, "sealpost key: unexpected argument '%s'\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (g->data_dir == NULL) {
		fprintf(stderr, "sealpost key: --data-dir DIR is required (before 'key')\n");
		return 2;
	}
	if ((st = sp_keywrap_dir(g->data_dir, kdir, sizeof(kdir), &old, &err)) != SP_OK) {
		fprintf(stderr, "sealpost key: %s\n", sp_err_msg(&err, st));
		return 1;
	}
	if (strcmp(argv[1], "rewrap") == 0)
		return rewrap(g, kdir, dry_run);
	if ((st = sp_keywrap_add_key(kdir, &id, &err)) != SP_OK) {
		fprintf(stderr, "sealpost key rotate: %s%s\n", sp_err_msg(&err, st),
		    old ? "" : " (the key holder makes the key directory on its first start)");
		return 1;
	}
	printf("%s/master-%u.key\n", kdir, id);
	fprintf(stderr, "sealpost key rotate: master key %u added; new deposits use it once the "
	    "key holder has read it (kill -HUP sealpost-keyd's pid, or restart it); then run "
	    "`sealpost key rewrap`\n", id);
	return 0;
}

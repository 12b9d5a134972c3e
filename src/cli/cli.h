/*
 * cli.h - the verbs of the `sealpost` command line.  Each verb is a function
 * in its own file (cli_VERB.c) that takes the arguments after the verb name
 * (argv[0] is the verb) and the global options, and returns the process exit
 * status.  Verbs print their own --help.
 */
#ifndef SP_CLI_H
#define SP_CLI_H

struct cli_global {
	const char *data_dir;	/* --data-dir, or NULL */
	const char *config;	/* -c / --config, or NULL */
	const char *db;		/* --db URL (store.h's sp_store_open_url), or NULL */
	const char *public_domains;	/* --public-domains FILE (maildomains.h), or NULL */
	const char *copies;	/* --copies URL (the key server's --copies), or NULL */
};

int cli_org_main(int argc, char **argv, const struct cli_global *g);		/* cli_org.c */
int cli_recipient_main(int argc, char **argv, const struct cli_global *g);	/* cli_recipient.c */
int cli_seal_main(int argc, char **argv, const struct cli_global *g);		/* cli_seal.c */
int cli_open_main(int argc, char **argv, const struct cli_global *g);		/* cli_open.c */
int cli_scan_main(int argc, char **argv, const struct cli_global *g);		/* cli_scan.c */
int cli_key_main(int argc, char **argv, const struct cli_global *g);		/* cli_key.c */
int cli_retract_main(int argc, char **argv, const struct cli_global *g);	/* cli_envelope.c */
int cli_unretract_main(int argc, char **argv, const struct cli_global *g);	/* cli_envelope.c */
int cli_expire_main(int argc, char **argv, const struct cli_global *g);		/* cli_envelope.c */
int cli_audit_main(int argc, char **argv, const struct cli_global *g);		/* cli_audit.c */
int cli_blob_main(int argc, char **argv, const struct cli_global *g);		/* cli_blob.c */
int cli_mailq_main(int argc, char **argv, const struct cli_global *g);		/* cli_mailq.c */

/* t as ISO 8601 UTC ("2026-12-01T10:00:00Z") in out; "-" for 0. */
void cli_iso_time(long long t, char out[32]);

/* 1 when argv[1..argc) asks for help (-h or --help anywhere). */
int cli_wants_help(int argc, char **argv);

/* Open the key server's store the global options name: --db URL, else
 * SQLite in --data-dir.  verb names the caller in messages ("org").
 * Prints the error (never the URL) and returns non-zero on failure. */
struct sp_store;
int cli_store_open(const struct cli_global *g, const char *verb, struct sp_store **s);
/* 1 when the global options name a store (--db or --data-dir); else prints
 * that one is required for verb and returns 0. */
int cli_has_store(const struct cli_global *g, const char *verb);

/* Delete the ciphertext copies that must go (retracted, expired, past
 * their time, organisation removed) from the blob store --copies names
 * (default dir:DATA_DIR/copies; nothing to do when that directory does not
 * exist).  Prints what it did; returns 0, or 1 on a failure (printed). */
int cli_copies_purge(const struct cli_global *g, struct sp_store *s, const char *verb);

/* Read a whole file (or stdin when path is NULL or "-") into a buffer with
 * the given cap.  Prints nothing; returns a status with err set. */
struct sp_buf;
struct sp_err;
int cli_read_file(const char *path, size_t cap, struct sp_buf *out, struct sp_err *err);
/* Read a password file: the first line, without its line end. */
int cli_read_password(const char *path, struct sp_buf *out, struct sp_err *err);

#endif

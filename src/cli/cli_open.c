/*
 * cli_open.c - `sealpost open`: open an envelope from the terminal as a
 * recipient (email + password) or as an organisation (token): the key is
 * released by the key server, the payload decrypted, and the message printed
 * (or, with --raw, the original message byte for byte).
 * SECURITY: message text is untrusted: control characters are replaced
 * before they reach the terminal; attachments are saved under safe names,
 * never over an existing file; the password and plaintext are wiped.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "crypto.h"
#include "envelope.h"
#include "keyd_client.h"
#include "message.h"
#include "seal.h"

static void
open_usage(FILE *f)
{
	fprintf(f,
	    "usage: sealpost open (--email ADDR --password-file FILE | --token-file FILE)\n"
	    "                     [--keyd URL] [--raw] [--save-dir DIR] ENVELOPE\n\n"
	    "Opens a sealed message.  ENVELOPE is a securedoc.html file or the mail\n"
	    "that carries it.  The key server named in the envelope (or --keyd, which\n"
	    "must then match it) releases the key to a registered, activated recipient.\n\n"
	    "  --email ADDR          the recipient's address\n"
	    "  --password-file FILE  the recipient's password (first line of FILE)\n"
	    "  --token-file FILE     open as the organisation whose token is in FILE\n"
	    "                        (its domain must be a recipient's domain)\n"
	    "  --keyd URL            the key server you expect (refuses other envelopes)\n"
	    "  --raw                 print the original message byte for byte\n"
	    "  --save-dir DIR        save the attachments into DIR under safe names\n\n"
	    "Exit status: 0 opened, 1 refused or not an envelope, 2 usage error,\n"
	    "75 temporary failure (key server unreachable).\n");
}

/* Print untrusted text: keep newlines and tabs, replace other controls. */
static void
print_safe(FILE *out, const char *s)
{
	for (; s != NULL && *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '\n' || c == '\t' || c >= 0x20) {
			if (c != 0x7f)
				fputc(c, out);
			else
				fputc('?', out);
		} else if (c != '\r') {
			fputc('?', out);
		}
	}
}

static void
print_field(FILE *out, const char *name, const char *value)
{
	if (value == NULL || *value == '\0')
		return;
	fprintf(out, "%s: ", name);
	print_safe(out, value);
	fputc('\n', out);
}

/* Save one attachment as DIR/NAME, or DIR/NAME-2 ... when taken. */
static int
save_part(const char *dir, const struct sp_msg_part *part, size_t index, char *saved,
    size_t savedsz, struct sp_err *err)
{
	char name[256], path[4096];
	int fd = -1, n, i;
	ssize_t w;
	size_t off = 0;

	sp_msg_safe_filename(part->name, index, name, sizeof(name));
	for (i = 1; i <= 100 && fd < 0; i++) {
		n = i == 1 ? snprintf(path, sizeof(path), "%s/%s", dir, name) :
		    snprintf(path, sizeof(path), "%s/%d-%s", dir, i, name);
		if (n < 0 || (size_t)n >= sizeof(path))
			return sp_err_set(err, SP_ERR_INVALID, "save directory path too long");
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0 && errno != EEXIST)
			return sp_err_set(err, SP_ERR_IO, "%s: %s", path, strerror(errno));
	}
	if (fd < 0)
		return sp_err_set(err, SP_ERR_IO, "%s: too many files with this name", name);
	while (off < part->len) {
		w = write(fd, part->data + off, part->len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			close(fd);
			unlink(path);
			return sp_err_set(err, SP_ERR_IO, "%s: %s", path, strerror(errno));
		}
		off += (size_t)w;
	}
	if (close(fd) != 0)
		return sp_err_set(err, SP_ERR_IO, "%s: %s", path, strerror(errno));
	snprintf(saved, savedsz, "%s", path);
	return SP_OK;
}

static int
print_view(const struct sp_buf *container, const char *save_dir, struct sp_err *err)
{
	struct sp_msg_view v = {0};
	char saved[4096];
	size_t i;
	int st;

	if ((st = sp_msg_container_view(container->data, container->len, &v, err)) != SP_OK)
		return st;
	print_field(stdout, "From", v.from);
	print_field(stdout, "To", v.to);
	print_field(stdout, "Cc", v.cc);
	print_field(stdout, "Date", v.date);
	print_field(stdout, "Subject", v.subject);
	fputc('\n', stdout);
	if (v.text != NULL)
		print_safe(stdout, v.text);
	else if (v.html != NULL)
		fputs("(this message has only an HTML body: open the envelope in a browser to read it)\n",
		    stdout);
	if (v.nparts > 0)
		printf("\nAttachments:\n");
	for (i = 0; i < v.nparts; i++) {
		printf("  %zu. ", i + 1);
		print_safe(stdout, v.parts[i].name ? v.parts[i].name : "(no name)");
		printf(" (");
		print_safe(stdout, v.parts[i].type);
		printf(", %zu bytes)", v.parts[i].len);
		if (save_dir != NULL) {
			if ((st = save_part(save_dir, &v.parts[i], i + 1, saved, sizeof(saved), err)) != SP_OK)
				break;
			printf(" saved as ");
			print_safe(stdout, saved);
		}
		printf("\n");
	}
	sp_msg_view_clear(&v);
	return st;
}

int
cli_open_main(int argc, char **argv, const struct cli_global *g)
{
	static const struct option opts[] = {
		{"email", required_argument, NULL, 'e'},
		{"password-file", required_argument, NULL, 'p'},
		{"token-file", required_argument, NULL, 'T'},
		{"keyd", required_argument, NULL, 'k'},
		{"raw", no_argument, NULL, 'r'},
		{"save-dir", required_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *email = NULL, *pwfile = NULL, *tokfile = NULL, *keyd = NULL, *save_dir = NULL;
	struct sp_keyd_client *c = NULL;
	struct sp_buf in, secret, container, raw;
	struct sp_env_file ef;
	struct sp_err err = {""};
	struct stat sb;
	int ch, st, want_raw = 0, rc = 1;

	(void)g;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'e': email = optarg; break;
		case 'p': pwfile = optarg; break;
		case 'T': tokfile = optarg; break;
		case 'k': keyd = optarg; break;
		case 'r': want_raw = 1; break;
		case 's': save_dir = optarg; break;
		case 'h': open_usage(stdout); return 0;
		default: open_usage(stderr); return 2;
		}
	}
	if (optind + 1 != argc || (tokfile == NULL && (email == NULL || pwfile == NULL)) ||
	    (tokfile != NULL && (email != NULL || pwfile != NULL))) {
		fprintf(stderr, "sealpost open: give ENVELOPE and either --email with --password-file, or --token-file\n");
		open_usage(stderr);
		return 2;
	}
	if (save_dir != NULL && (stat(save_dir, &sb) != 0 || !S_ISDIR(sb.st_mode))) {
		fprintf(stderr, "sealpost open: --save-dir %s: not a directory\n", save_dir);
		return 2;
	}
	sp_buf_init(&secret, 4096);
	sp_buf_init(&container, (size_t)SP_MSG_MAX_SIZE * 2);
	sp_buf_init(&raw, (size_t)SP_MSG_MAX_SIZE * 2);
	memset(&ef, 0, sizeof(ef));
	if ((st = cli_read_file(argv[optind], SP_ENV_MAX_PAYLOAD * 2, &in, &err)) != SP_OK) {
		fprintf(stderr, "sealpost open: %s\n", err.msg);
		return 1;
	}
	if ((st = sp_envelope_from_input(in.data, in.len, &ef, &err)) != SP_OK) {
		fprintf(stderr, "sealpost open: %s: %s\n", argv[optind], sp_err_msg(&err, st));
		goto out;
	}
	if (keyd != NULL && strcmp(keyd, ef.header.keyd) != 0) {
		fprintf(stderr, "sealpost open: the envelope names the key server %s, not %s; refusing\n",
		    ef.header.keyd, keyd);
		goto out;
	}
	st = cli_read_password(tokfile ? tokfile : pwfile, &secret, &err);
	if (st != SP_OK) {
		fprintf(stderr, "sealpost open: %s\n", err.msg);
		rc = 2;
		goto out;
	}
	if ((st = sp_keyd_client_new(&c, ef.header.keyd, 60000, &err)) != SP_OK) {
		fprintf(stderr, "sealpost open: %s\n", sp_err_msg(&err, st));
		goto out;
	}
	if (tokfile != NULL)
		st = sp_keyd_client_set_token(c, (const char *)secret.data);
	else
		st = sp_keyd_login(c, email, (const char *)secret.data, &err);
	if (st == SP_OK)
		st = sp_open_envelope(c, &ef, &container, &err);
	if (st != SP_OK) {
		fprintf(stderr, "sealpost open: %s\n", sp_err_msg(&err, st));
		rc = st == SP_ERR_RETRY ? 75 : 1;
		goto out;
	}
	if (want_raw) {
		if ((st = sp_msg_container_raw(container.data, container.len, &raw, &err)) != SP_OK) {
			fprintf(stderr, "sealpost open: %s\n", sp_err_msg(&err, st));
			goto out;
		}
		if (fwrite(raw.data, 1, raw.len, stdout) != raw.len || fflush(stdout) != 0) {
			fprintf(stderr, "sealpost open: stdout: write failed\n");
			goto out;
		}
		if (save_dir != NULL && (st = print_view(&container, save_dir, &err)) != SP_OK) {
			fprintf(stderr, "sealpost open: %s\n", sp_err_msg(&err, st));
			goto out;
		}
	} else if ((st = print_view(&container, save_dir, &err)) != SP_OK) {
		fprintf(stderr, "sealpost open: %s\n", sp_err_msg(&err, st));
		goto out;
	}
	rc = 0;
out:
	sp_keyd_client_free(c);
	sp_env_file_clear(&ef);
	sp_buf_free(&in);
	sp_buf_wipe(&secret);
	sp_buf_wipe(&container);
	sp_buf_wipe(&raw);
	return rc;
}

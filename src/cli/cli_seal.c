/*
 * cli_seal.c - `sealpost seal`: read a message, deposit its key with the key
 * server, write the notification mail with securedoc.html attached.
 * SECURITY: the organisation token comes from the command line or a file;
 * the output file is written atomically (temporary file, then rename) so a
 * failure leaves nothing half-written.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "crypto.h"
#include "envelope.h"
#include "keyd_client.h"
#include "message.h"
#include "seal.h"
#include "sign.h"

static void
seal_usage(FILE *f)
{
	fprintf(f,
	    "usage: sealpost seal --keyd URL (--token TOKEN | --token-file FILE)\n"
	    "                     [--sign-key FILE] [-i IN.eml] [-o OUT.eml]\n"
	    "                     [--html ENVELOPE.html] [--rcpt ADDR]... [--from ADDR]\n"
	    "                     [--subject TEXT] [--expires-days N]\n\n"
	    "Seals a message: its key is deposited with the key server, and the\n"
	    "notification mail (original From/To/Cc/Date/Subject, a short notice,\n"
	    "securedoc.html attached) is written to OUT.eml (default: stdout).\n"
	    "With --sign-key the envelope is signed (format 2) and the key server\n"
	    "records its digests and signature before anything is written; an\n"
	    "organisation with a signing key accepts only signed envelopes.\n\n"
	    "  --keyd URL         key server base URL, e.g. https://keys.example.org\n"
	    "  --token TOKEN      the organisation's API token (sealpost org add)\n"
	    "  --token-file FILE  read the token from the first line of FILE\n"
	    "  --sign-key FILE    the organisation's signing key (PEM, from\n"
	    "                     `sealpost org add --key-out` or `org key rotate`)\n"
	    "  -i IN.eml          the message to seal (default: stdin)\n"
	    "  -o OUT.eml         where to write the notification mail (default: stdout)\n"
	    "  --html FILE        also write the envelope securedoc.html to FILE\n"
	    "  --rcpt ADDR        envelope recipient (repeatable; default: To: and Cc:);\n"
	    "                     one that To: and Cc: do not name is a blind copy: it\n"
	    "                     opens the envelope, which does not name it\n"
	    "  --from ADDR        envelope sender: the sender when the message has no\n"
	    "                     From: address (a bounce); From: wins otherwise\n"
	    "  --subject TEXT     subject of the notification mail (default: original)\n"
	    "  --expires-days N   the key expires after N days (default: key server policy)\n\n"
	    "Header fields of the message that steer the sealing (removed from the\n"
	    "sealed copy; X-Sealpost-Expires wins over --expires-days):\n"
	    "  X-Sealpost-Expires: 30d | 2027-01-31 | an RFC 5322 date\n"
	    "                     (a day ends at 23:59:59 UTC; at most 3650 days ahead)\n"
	    "  X-Sealpost-Notify: read       a read notice per recipient (\"none\": none)\n"
	    "  X-Sealpost-Verify: SECRET     recipients must answer SECRET before opening;\n"
	    "                     only its Argon2id hash reaches the key server\n"
	    "  X-Sealpost-Verify-Hint: TEXT  the question shown to the recipients\n"
	    "  X-Sealpost-Level: high|medium|low  how the portal may remember devices\n\n"
	    "Exit status: 0 sealed, 1 the input is not a mail message or was refused,\n"
	    "2 usage error, 75 temporary failure (key server unreachable: try again).\n");
}

/* Write data to path atomically. */
static int
write_atomic(const char *path, const unsigned char *data, size_t len, struct sp_err *err)
{
	char tmp[4096];
	FILE *f;
	int n;

	n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return sp_err_set(err, SP_ERR_INVALID, "%s: path too long", path);
	if ((f = fopen(tmp, "wb")) == NULL)
		return sp_err_set(err, SP_ERR_IO, "%s: %s", tmp, strerror(errno));
	if ((len > 0 && fwrite(data, 1, len, f) != len) || fflush(f) != 0 ||
	    fsync(fileno(f)) != 0) {
		fclose(f);
		unlink(tmp);
		return sp_err_set(err, SP_ERR_IO, "%s: write failed: %s", path, strerror(errno));
	}
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		unlink(tmp);
		return sp_err_set(err, SP_ERR_IO, "%s: %s", path, strerror(errno));
	}
	return SP_OK;
}

/* The input file mapped read-only (its bytes are read once, in place), or
 * NULL when it is not a regular file (then it is read into a buffer). */
static const unsigned char *
map_input(const char *path, size_t *len)
{
	struct stat sb;
	void *p;
	int fd;

	if (path == NULL || strcmp(path, "-") == 0 || (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return NULL;
	p = MAP_FAILED;
	if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0 &&
	    (uint64_t)sb.st_size <= SP_MSG_MAX_SIZE)
		p = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return NULL;
	madvise(p, (size_t)sb.st_size, MADV_SEQUENTIAL);
	*len = (size_t)sb.st_size;
	return p;
}

/* The mail written as it is made, into PATH.tmp.PID, renamed to PATH when
 * sealing succeeded and removed when it failed. */
struct out_file {
	FILE *f;
	int failed;
};

static int
out_file_write(void *ctx, const void *p, size_t n)
{
	struct out_file *o = ctx;

	if (n > 0 && fwrite(p, 1, n, o->f) != n) {
		o->failed = 1;
		return SP_ERR_IO;
	}
	return SP_OK;
}

static int
exit_for(int st)
{
	if (st == SP_ERR_RETRY)
		return 75;	/* EX_TEMPFAIL */
	return 1;
}

/* The key server did not keep the copy: the mail is sealed all the same. */
static void
copy_warning(void *ctx, const char *id, const char *msg)
{
	fprintf(stderr, "sealpost seal: warning: envelope %s: %s\n", id, msg);
}

int
cli_seal_main(int argc, char **argv, const struct cli_global *g)
{
	static const struct option opts[] = {
		{"keyd", required_argument, NULL, 'k'},
		{"token", required_argument, NULL, 't'},
		{"token-file", required_argument, NULL, 'T'},
		{"html", required_argument, NULL, 'H'},
		{"rcpt", required_argument, NULL, 'r'},
		{"from", required_argument, NULL, 'f'},
		{"subject", required_argument, NULL, 's'},
		{"expires-days", required_argument, NULL, 'e'},
		{"sign-key", required_argument, NULL, 'K'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *keyd = NULL, *token = NULL, *token_file = NULL, *in = NULL, *outp = NULL;
	const char *html_path = NULL, *subject = NULL, *sign_key = NULL, *from = NULL;
	struct sp_signer *signer = NULL;
	const char *rcpt[SP_MSG_MAX_RECIPIENTS];
	struct sp_seal_params sp = {0};
	struct sp_keyd_client *c = NULL;
	struct sp_buf raw, mail, tokbuf;
	struct sp_err err = {""};
	char id[SP_ENV_ID_STRLEN + 1], tmp[4096];
	const unsigned char *mapped = NULL;
	struct out_file of = {NULL, 0};
	size_t nrcpt = 0, mlen = 0;
	long days = 0;
	char *end;
	int ch, st, rc = 1;

	(void)g;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "i:o:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'k': keyd = optarg; break;
		case 't': token = optarg; break;
		case 'T': token_file = optarg; break;
		case 'i': in = optarg; break;
		case 'o': outp = optarg; break;
		case 'H': html_path = optarg; break;
		case 's': subject = optarg; break;
		case 'f': from = optarg; break;
		case 'K': sign_key = optarg; break;
		case 'r':
			if (nrcpt == SP_MSG_MAX_RECIPIENTS) {
				fprintf(stderr, "sealpost seal: at most %d --rcpt\n", SP_MSG_MAX_RECIPIENTS);
				return 2;
			}
			rcpt[nrcpt++] = optarg;
			break;
		case 'e':
			errno = 0;
			days = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || days < 1 || days > 3650) {
				fprintf(stderr, "sealpost seal: --expires-days takes 1 to 3650\n");
				return 2;
			}
			break;
		case 'h': seal_usage(stdout); return 0;
		default: seal_usage(stderr); return 2;
		}
	}
	if (optind != argc || keyd == NULL || (token == NULL) == (token_file == NULL)) {
		fprintf(stderr, "sealpost seal: --keyd and one of --token or --token-file are required\n");
		seal_usage(stderr);
		return 2;
	}
	if (sign_key != NULL && sp_signer_load(&signer, sign_key, &err) != SP_OK) {
		fprintf(stderr, "sealpost seal: --sign-key: %s\n", err.msg);
		return 1;
	}
	sp_buf_init(&tokbuf, 4096);
	if (token_file != NULL) {
		if (cli_read_password(token_file, &tokbuf, &err) != SP_OK) {
			fprintf(stderr, "sealpost seal: %s\n", err.msg);
			sp_signer_free(signer);
			return 2;
		}
		token = (const char *)tokbuf.data;
	}
	sp_buf_init(&raw, SP_MSG_MAX_SIZE);
	if ((mapped = map_input(in, &mlen)) == NULL &&
	    (st = cli_read_file(in, SP_MSG_MAX_SIZE, &raw, &err)) != SP_OK) {
		fprintf(stderr, "sealpost seal: %s\n", err.msg);
		sp_buf_wipe(&tokbuf);
		sp_signer_free(signer);
		return 1;
	}
	sp_buf_init(&mail, SP_ENV_MAX_PAYLOAD * 2);
	if ((st = sp_keyd_client_new(&c, keyd, 60000, &err)) != SP_OK ||
	    (st = sp_keyd_client_set_token(c, token)) != SP_OK) {
		fprintf(stderr, "sealpost seal: %s\n", sp_err_msg(&err, st));
		rc = 2;
		goto out;
	}
	sp.rcpt = rcpt;
	sp.nrcpt = nrcpt;
	sp.from = from;
	sp.subject = subject;
	sp.expires = days > 0 ? (int64_t)time(NULL) + days * 86400 : 0;
	sp.signer = signer;
	sp.copy_warning = copy_warning;
	/* to a file: written as it is made, into a temporary file renamed
	 * only when sealing succeeded */
	if (outp != NULL && strcmp(outp, "-") != 0 && html_path == NULL) {
		int n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", outp, (long)getpid());

		if (n < 0 || (size_t)n >= sizeof(tmp)) {
			fprintf(stderr, "sealpost seal: %s: path too long\n", outp);
			goto out;
		}
		if ((of.f = fopen(tmp, "wb")) == NULL) {
			fprintf(stderr, "sealpost seal: %s: %s\n", tmp, strerror(errno));
			goto out;
		}
		sp.out_early = 1;
	}
	st = sp_seal_message(c, &sp, mapped != NULL ? mapped : raw.data, mapped != NULL ? mlen : raw.len,
	    sp.out_early ? (struct sp_writer){out_file_write, &of} : (struct sp_writer){sp_writer_buf, &mail},
	    id, &err);
	if (st == SP_OK && of.f != NULL && (fflush(of.f) != 0 || fsync(fileno(of.f)) != 0))
		st = sp_err_set(&err, SP_ERR_IO, "%s: write failed: %s", outp, strerror(errno));
	if (of.f != NULL) {
		if (fclose(of.f) != 0 && st == SP_OK)
			st = sp_err_set(&err, SP_ERR_IO, "%s: write failed: %s", outp, strerror(errno));
		of.f = NULL;
		if (st == SP_OK && rename(tmp, outp) != 0)
			st = sp_err_set(&err, SP_ERR_IO, "%s: %s", outp, strerror(errno));
		if (st != SP_OK)
			unlink(tmp);
	}
	if (st != SP_OK) {
		fprintf(stderr, "sealpost seal: %s\n", sp_err_msg(&err, st));
		rc = exit_for(st);
		goto out;
	}
	if (html_path != NULL) {
		struct sp_buf html;

		sp_buf_init(&html, SP_ENV_MAX_PAYLOAD * 2);
		st = sp_envelope_extract_html(mail.data, mail.len, &html, &err);
		if (st == SP_OK)
			st = write_atomic(html_path, html.data, html.len, &err);
		sp_buf_free(&html);
		if (st != SP_OK) {
			fprintf(stderr, "sealpost seal: %s\n", sp_err_msg(&err, st));
			goto out;
		}
	}
	if (sp.out_early)
		st = SP_OK;	/* written already */
	else if (outp != NULL && strcmp(outp, "-") != 0)
		st = write_atomic(outp, mail.data, mail.len, &err);
	else
		st = fwrite(mail.data, 1, mail.len, stdout) == mail.len && fflush(stdout) == 0 ?
		    SP_OK : sp_err_set(&err, SP_ERR_IO, "stdout: write failed");
	if (st != SP_OK) {
		fprintf(stderr, "sealpost seal: %s\n", sp_err_msg(&err, st));
		goto out;
	}
	fprintf(stderr, "sealpost seal: sealed envelope %s%s\n", id,
	    signer != NULL ? " (signed)" : " (unsigned, format 1)");
	rc = 0;
out:
	sp_keyd_client_free(c);
	sp_signer_free(signer);
	if (mapped != NULL)
		munmap((void *)(uintptr_t)mapped, mlen);
	sp_buf_wipe(&raw);
	sp_buf_free(&mail);
	sp_buf_wipe(&tokbuf);
	return rc;
}

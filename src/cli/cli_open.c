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
#include <termios.h>
#include <unistd.h>

#include "cli.h"
#include "crypto.h"
#include "envelope.h"
#include "keyd_client.h"
#include "message.h"
#include "seal.h"

/* Exit statuses (documented in the usage text). */
enum {
	OPEN_EX_OK = 0,
	OPEN_EX_REFUSED = 1,	/* the key server refused, or not an envelope */
	OPEN_EX_USAGE = 2,
	OPEN_EX_FORGED = 3,	/* not a genuine envelope of the organisation it names */
	OPEN_EX_UNTRUSTED = 4,	/* the envelope's key server is not trusted */
	OPEN_EX_WITHDRAWN = 5,
	OPEN_EX_EXPIRED = 6,
	OPEN_EX_VERIFY = 7,	/* a verification answer is needed, or was wrong */
	OPEN_EX_LOCKED = 8,	/* too many wrong verification answers */
	OPEN_EX_TEMPFAIL = 75,
};

#define OPEN_PROMPTS 5		/* verification answers asked at a terminal */

static void
open_usage(FILE *f)
{
	fprintf(f,
	    "usage: sealpost open (--email ADDR --password-file FILE | --token-file FILE)\n"
	    "                     (--keyd URL... | --trusted-keyd-file FILE)\n"
	    "                     [--verify-answer TEXT] [--raw] [--save-dir DIR] ENVELOPE\n\n"
	    "Opens a sealed message.  ENVELOPE is a securedoc.html file or the mail\n"
	    "that carries it.  The key server named in the envelope must be one you\n"
	    "trust; it releases the key to a registered, activated recipient.  Before\n"
	    "anything is decrypted the envelope is checked against the key server's\n"
	    "record: a signed envelope (format 2) must be exactly the one its\n"
	    "organisation signed; an unsigned one (format 1, older sealers) opens\n"
	    "with a warning.  A recipient the envelope does not name (a blind copy,\n"
	    "Bcc) is told so on stderr.\n\n"
	    "  --email ADDR          the recipient's address\n"
	    "  --password-file FILE  the recipient's password (first line of FILE)\n"
	    "  --token-file FILE     open as the organisation whose token is in FILE\n"
	    "                        (it must have sent the envelope)\n"
	    "  --keyd URL            a key server you trust (repeatable); an envelope\n"
	    "                        naming another is refused before anything is sent\n"
	    "  --trusted-keyd-file FILE  trusted key servers, one URL a line, '#'\n"
	    "                        comments (default, when neither option is given:\n"
	    "                        " SP_TRUST_DEFAULT_FILE ")\n"
	    "  --verify-answer TEXT  the answer to the sender's verification question\n"
	    "                        (without it you are asked when stdin is a terminal)\n"
	    "  --raw                 print the original message byte for byte\n"
	    "  --save-dir DIR        save the attachments into DIR under safe names\n\n"
	    "URLs compare by scheme, host and port (default ports dropped) and path,\n"
	    "without a trailing '/'.\n\n"
	    "Exit status: 0 opened, 1 refused by the key server or not an envelope,\n"
	    "2 usage error, 3 not a genuine envelope of the organisation it names,\n"
	    "4 the envelope's key server is not trusted (or none is), 5 withdrawn by\n"
	    "the sender, 6 expired, 7 a verification answer is needed or was wrong,\n"
	    "8 too many wrong verification answers, 75 temporary failure (key server\n"
	    "unreachable).\n");
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

/* Read a verification answer from the terminal without echo (stdin is a
 * terminal).  SP_OK with the answer in out. */
static int
prompt_answer(const char *hint, struct sp_buf *out)
{
	struct termios old, quiet;
	char line[1024];
	int echo_off = 0;
	size_t n;

	fprintf(stderr, "The sender asks for an answer before this message opens.\n");
	if (hint != NULL && *hint != '\0') {
		fprintf(stderr, "Question: ");
		print_safe(stderr, hint);
		fputc('\n', stderr);
	}
	fprintf(stderr, "Answer: ");
	fflush(stderr);
	if (tcgetattr(STDIN_FILENO, &old) == 0) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		echo_off = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
	}
	if (fgets(line, sizeof(line), stdin) == NULL)
		line[0] = '\0';
	if (echo_off)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
	fputc('\n', stderr);
	n = strcspn(line, "\r\n");
	sp_buf_reset(out);
	if (sp_buf_append(out, line, n) != SP_OK || sp_buf_append(out, "", 1) != SP_OK) {
		sp_wipe(line, sizeof(line));
		return SP_ERR_NOMEM;
	}
	out->len = n;
	sp_wipe(line, sizeof(line));
	return n > 0 ? SP_OK : SP_ERR_INVALID;
}

/* The trusted key servers of the options, or the default file. */
static int
load_trust(struct sp_trust *t, const char *const *urls, size_t nurls, const char *file)
{
	struct sp_err err = {""};
	size_t i;

	for (i = 0; i < nurls; i++) {
		if (sp_trust_add(t, urls[i], &err) != SP_OK) {
			fprintf(stderr, "sealpost open: --keyd: %s\n", err.msg);
			return OPEN_EX_USAGE;
		}
	}
	if (file != NULL) {
		if (sp_trust_read_file(t, file, &err) != SP_OK) {
			fprintf(stderr, "sealpost open: --trusted-keyd-file: %s\n", err.msg);
			return OPEN_EX_USAGE;
		}
	} else if (nurls == 0) {
		if (access(SP_TRUST_DEFAULT_FILE, F_OK) != 0) {
			fprintf(stderr, "sealpost open: no trusted key server: give --keyd URL (the key "
			    "server you expect; repeatable) or --trusted-keyd-file FILE (%s does not "
			    "exist)\n", SP_TRUST_DEFAULT_FILE);
			return OPEN_EX_UNTRUSTED;
		}
		if (sp_trust_read_file(t, SP_TRUST_DEFAULT_FILE, &err) != SP_OK) {
			fprintf(stderr, "sealpost open: %s\n", err.msg);
			return OPEN_EX_USAGE;
		}
	}
	if (t->n == 0) {
		fprintf(stderr, "sealpost open: no trusted key server: the list %s is empty; give "
		    "--keyd URL or list the key servers you trust there\n",
		    file ? file : SP_TRUST_DEFAULT_FILE);
		return OPEN_EX_UNTRUSTED;
	}
	return OPEN_EX_OK;
}

static int
exit_for_outcome(enum sp_open_outcome o, int st)
{
	switch (o) {
	case SP_OPEN_OPENED: return OPEN_EX_OK;
	case SP_OPEN_UNTRUSTED: return OPEN_EX_UNTRUSTED;
	case SP_OPEN_FORGED: return OPEN_EX_FORGED;
	case SP_OPEN_WITHDRAWN: return OPEN_EX_WITHDRAWN;
	case SP_OPEN_EXPIRED: return OPEN_EX_EXPIRED;
	case SP_OPEN_VERIFY: return OPEN_EX_VERIFY;
	case SP_OPEN_LOCKED: return OPEN_EX_LOCKED;
	case SP_OPEN_REFUSED: return OPEN_EX_REFUSED;
	case SP_OPEN_FAILED: break;
	}
	return st == SP_ERR_RETRY || st == SP_ERR_IO ? OPEN_EX_TEMPFAIL : OPEN_EX_REFUSED;
}

/* Release, with the verification question answered when the key server
 * asks it.  Returns the exit status; container holds the payload on 0. */
static int
open_with_verification(struct sp_keyd_client *c, const struct sp_trust *trust,
    const struct sp_env_file *ef, const char *given, int can_verify,
    struct sp_buf *container, int *format, int *bcc)
{
	struct sp_open_info info = {0};
	struct sp_buf answer;
	struct sp_err err = {""};
	int st, tries, prompts = 0, used_given = 0, rc;

	sp_buf_init(&answer, 4096);
	for (;;) {
		st = sp_open_envelope_checked(c, trust, ef, &info, container, &err);
		if (st == SP_OK) {
			*format = info.format;
			*bcc = info.bcc;
			rc = OPEN_EX_OK;
			break;
		}
		if (info.outcome != SP_OPEN_VERIFY || !can_verify) {
			fprintf(stderr, "sealpost open: ");
			print_safe(stderr, sp_err_msg(&err, st));
			fputc('\n', stderr);
			rc = exit_for_outcome(info.outcome, st);
			break;
		}
		/* 409: the sender asks for a verification answer first */
		if (given != NULL && !used_given) {
			used_given = 1;
			sp_buf_reset(&answer);
			st = sp_buf_append_str(&answer, given);
		} else if (given == NULL && isatty(STDIN_FILENO) && prompts < OPEN_PROMPTS) {
			prompts++;
			st = prompt_answer(info.verify_hint, &answer);
		} else {
			if (!used_given) {
				fprintf(stderr, "sealpost open: the sender asks for a verification answer "
				    "before this message opens; give it with --verify-answer TEXT");
				if (info.verify_hint != NULL && *info.verify_hint != '\0') {
					fprintf(stderr, " (the question: ");
					print_safe(stderr, info.verify_hint);
					fputc(')', stderr);
				}
				fputc('\n', stderr);
			}
			rc = OPEN_EX_VERIFY;
			break;
		}
		if (st != SP_OK) {
			fprintf(stderr, "sealpost open: no answer given\n");
			continue;
		}
		st = sp_keyd_verify(c, ef->header.id, (const char *)answer.data, &tries, &err);
		sp_buf_wipe(&answer);
		sp_buf_init(&answer, 4096);
		if (st == SP_OK) {
			sp_open_info_clear(&info);
			continue;
		}
		if (st == SP_ERR_AUTH) {
			if (tries >= 0)
				fprintf(stderr, "sealpost open: that is not the answer the sender gave "
				    "(%d tries left)\n", tries);
			else
				fprintf(stderr, "sealpost open: that is not the answer the sender gave\n");
			if (tries == 0) {
				rc = OPEN_EX_LOCKED;
				break;
			}
			sp_open_info_clear(&info);
			continue;
		}
		fprintf(stderr, "sealpost open: %s\n", sp_err_msg(&err, st));
		rc = st == SP_ERR_DENIED ? OPEN_EX_LOCKED :
		    st == SP_ERR_RETRY ? OPEN_EX_TEMPFAIL : OPEN_EX_REFUSED;
		break;
	}
	sp_open_info_clear(&info);
	sp_buf_wipe(&answer);
	return rc;
}

int
cli_open_main(int argc, char **argv, const struct cli_global *g)
{
	static const struct option opts[] = {
		{"email", required_argument, NULL, 'e'},
		{"password-file", required_argument, NULL, 'p'},
		{"token-file", required_argument, NULL, 'T'},
		{"keyd", required_argument, NULL, 'k'},
		{"trusted-keyd-file", required_argument, NULL, 'K'},
		{"verify-answer", required_argument, NULL, 'v'},
		{"raw", no_argument, NULL, 'r'},
		{"save-dir", required_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *email = NULL, *pwfile = NULL, *tokfile = NULL, *save_dir = NULL;
	const char *trust_file = NULL, *answer = NULL;
	const char *keyd[64];
	size_t nkeyd = 0;
	struct sp_trust trust = {0};
	struct sp_keyd_client *c = NULL;
	struct sp_buf in, secret, container, raw;
	struct sp_env_file ef;
	struct sp_err err = {""};
	struct stat sb;
	int ch, st, want_raw = 0, rc = OPEN_EX_REFUSED, format = 0, bcc = 0;

	(void)g;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'e': email = optarg; break;
		case 'p': pwfile = optarg; break;
		case 'T': tokfile = optarg; break;
		case 'k':
			if (nkeyd == sizeof(keyd) / sizeof(keyd[0])) {
				fprintf(stderr, "sealpost open: at most %zu --keyd; use --trusted-keyd-file\n",
				    sizeof(keyd) / sizeof(keyd[0]));
				return OPEN_EX_USAGE;
			}
			keyd[nkeyd++] = optarg;
			break;
		case 'K': trust_file = optarg; break;
		case 'v': answer = optarg; break;
		case 'r': want_raw = 1; break;
		case 's': save_dir = optarg; break;
		case 'h': open_usage(stdout); return OPEN_EX_OK;
		default: open_usage(stderr); return OPEN_EX_USAGE;
		}
	}
	if (optind + 1 != argc || (tokfile == NULL && (email == NULL || pwfile == NULL)) ||
	    (tokfile != NULL && (email != NULL || pwfile != NULL))) {
		fprintf(stderr, "sealpost open: give ENVELOPE and either --email with --password-file, or --token-file\n");
		open_usage(stderr);
		return OPEN_EX_USAGE;
	}
	if (save_dir != NULL && (stat(save_dir, &sb) != 0 || !S_ISDIR(sb.st_mode))) {
		fprintf(stderr, "sealpost open: --save-dir %s: not a directory\n", save_dir);
		return OPEN_EX_USAGE;
	}
	if ((rc = load_trust(&trust, keyd, nkeyd, trust_file)) != OPEN_EX_OK) {
		sp_trust_clear(&trust);
		return rc;
	}
	rc = OPEN_EX_REFUSED;
	sp_buf_init(&secret, 4096);
	sp_buf_init(&container, (size_t)SP_MSG_MAX_SIZE * 2);
	sp_buf_init(&raw, (size_t)SP_MSG_MAX_SIZE * 2);
	memset(&ef, 0, sizeof(ef));
	if ((st = cli_read_file(argv[optind], SP_ENV_MAX_PAYLOAD * 2, &in, &err)) != SP_OK) {
		fprintf(stderr, "sealpost open: %s\n", err.msg);
		sp_trust_clear(&trust);
		return OPEN_EX_REFUSED;
	}
	if ((st = sp_envelope_from_input(in.data, in.len, &ef, &err)) != SP_OK) {
		fprintf(stderr, "sealpost open: %s: %s\n", argv[optind], sp_err_msg(&err, st));
		goto out;
	}
	/* before the password is read or anything is sent */
	if ((st = sp_trust_check(&trust, ef.header.keyd, &err)) != SP_OK) {
		fprintf(stderr, "sealpost open: %s\n", err.msg);
		rc = OPEN_EX_UNTRUSTED;
		goto out;
	}
	st = cli_read_password(tokfile ? tokfile : pwfile, &secret, &err);
	if (st != SP_OK) {
		fprintf(stderr, "sealpost open: %s\n", err.msg);
		rc = OPEN_EX_USAGE;
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
	if (st != SP_OK) {
		fprintf(stderr, "sealpost open: %s\n", sp_err_msg(&err, st));
		rc = st == SP_ERR_RETRY ? OPEN_EX_TEMPFAIL : OPEN_EX_REFUSED;
		goto out;
	}
	if ((rc = open_with_verification(c, &trust, &ef, answer, tokfile == NULL, &container,
	    &format, &bcc)) != OPEN_EX_OK)
		goto out;
	rc = OPEN_EX_REFUSED;
	if (format < 2)
		fprintf(stderr, "sealpost open: unsigned envelope (older format): nothing proves "
		    "who wrote its content\n");
	if (bcc)
		fprintf(stderr, "sealpost open: you received this as a blind copy (Bcc): the other "
		    "recipients do not see your address\n");
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
	rc = OPEN_EX_OK;
out:
	sp_trust_clear(&trust);
	sp_keyd_client_free(c);
	sp_env_file_clear(&ef);
	sp_buf_free(&in);
	sp_buf_wipe(&secret);
	sp_buf_wipe(&container);
	sp_buf_wipe(&raw);
	return rc;
}

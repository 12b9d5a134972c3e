/*
 * transport_test.c - the outbox transport: one complete .eml per message,
 * CRLF line ends, encoded non-ASCII subject, nothing left in the temporary
 * directory, and refusal of header injection.  The sendmail transport,
 * against a stand-in script: its arguments (an explicit recipient list
 * after "--", or -t), the message on its standard input byte for byte, and
 * a failure for an exit status other than 0 or a program that does not
 * read the message.
 */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "transport.h"
#include "t.h"

static void
test_outbox(void)
{
	char dir[64] = "/tmp/sp-transport-test-XXXXXX", outbox[128], tmpd[160], path[400];
	char buf[8192];
	struct sp_transport *t = NULL;
	struct sp_err err;
	struct dirent *de;
	DIR *d;
	FILE *f;
	size_t n = 0, emls = 0;

	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(outbox, sizeof(outbox), "%s/outbox", dir);
	snprintf(tmpd, sizeof(tmpd), "%s/outbox.tmp", dir);
	T_EQ_INT(sp_transport_new(&t, "dir", outbox, "bad sender", &err), SP_ERR_CONFIG);
	T_EQ_INT(sp_transport_new(&t, "pigeon", outbox, "a@b.example", &err), SP_ERR_CONFIG);
	T_EQ_INT(sp_transport_new(&t, "dir", outbox, "keyd@example.org", &err), SP_OK);
	T_EQ_INT(sp_transport_send(t, "pat@example.org\r\nBcc: x@evil.example", "Hi", "x", &err),
	    SP_ERR_INVALID);
	T_EQ_INT(sp_transport_send(t, "pat@example.org", "Hi\nBcc: x@evil.example", "x", &err),
	    SP_ERR_INVALID);
	T_EQ_INT(sp_transport_send(t, "pat@example.org", "Caf\xc3\xa9 ready",
	    "Hello,\nline two\n", &err), SP_OK);
	if ((d = opendir(outbox)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strstr(de->d_name, ".eml") == NULL)
				continue;
			emls++;
			snprintf(path, sizeof(path), "%s/%s", outbox, de->d_name);
			if ((f = fopen(path, "rb")) != NULL) {
				n = fread(buf, 1, sizeof(buf) - 1, f);
				fclose(f);
			}
		}
		closedir(d);
	}
	buf[n] = '\0';
	T_EQ_INT(emls, 1);
	T_CHECK(strstr(buf, "From: keyd@example.org\r\n") != NULL);
	T_CHECK(strstr(buf, "To: pat@example.org\r\n") != NULL);
	T_CHECK(strstr(buf, "Subject: =?utf-8?B?Q2Fmw6kgcmVhZHk=?=\r\n") != NULL);
	T_CHECK(strstr(buf, "\r\n\r\nHello,\r\nline two\r\n") != NULL);
	T_CHECK(strstr(buf, "Bcc") == NULL);
	/* The temporary directory is empty again. */
	n = 0;
	if ((d = opendir(tmpd)) != NULL) {
		while ((de = readdir(d)) != NULL)
			if (de->d_name[0] != '.')
				n++;
		closedir(d);
	}
	T_EQ_INT(n, 0);
	sp_transport_free(t);
	sp_transport_free(NULL);
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	if (system(path) != 0)
		fprintf(stderr, "cleanup failed\n");
}

/* The whole of path into buf (NUL-terminated); its length. */
static size_t
slurp(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "rb");
	size_t n = 0;

	if (f != NULL) {
		n = fread(buf, 1, size - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	return n;
}

/* A stand-in for sendmail in dir: NAME writes its arguments (one a line)
 * to dir/args and, when it reads, its input to dir/mail; then exits with
 * status.  Its path goes to path. */
static void
script(const char *dir, const char *name, int reads, int status, char *path, size_t size)
{
	FILE *f;

	snprintf(path, size, "%s/%s", dir, name);
	if ((f = fopen(path, "w")) == NULL)
		abort();
	fprintf(f, "#!/bin/sh\nprintf '%%s\\n' \"$@\" > '%s/args'\n", dir);
	if (reads)
		fprintf(f, "cat > '%s/mail'\n", dir);
	fprintf(f, "exit %d\n", status);
	if (fclose(f) != 0 || chmod(path, 0700) != 0)
		abort();
}

static void
test_sendmail(void)
{
	char dir[64] = "/tmp/sp-transport-test-XXXXXX", ok[128], fail[128], deaf[128];
	char path[200], buf[200000];
	const char *rcpt[] = {"doc@clinic.example", "pat@example.org"};
	const char *bad[] = {"-oQ/tmp@example.org"};
	struct sp_transport *t = NULL;
	struct sp_err err;
	unsigned char big[150000];

	signal(SIGPIPE, SIG_IGN);	/* as the key server runs */
	if (mkdtemp(dir) == NULL)
		abort();
	script(dir, "ok", 1, 0, ok, sizeof(ok));
	script(dir, "fail", 1, 75, fail, sizeof(fail));
	script(dir, "deaf", 0, 0, deaf, sizeof(deaf));
	snprintf(path, sizeof(path), "%s/args", dir);

	/* a sealed reply: the explicit list after "--", the bytes as given */
	T_EQ_INT(sp_transport_new(&t, "sendmail", ok, "keyd@example.org", &err), SP_OK);
	T_EQ_INT(sp_transport_send_mime(t, rcpt, 2, "Subject: x\r\n\r\nbody\r\n", 21, &err), SP_OK);
	slurp(path, buf, sizeof(buf));
	T_CHECK(strcmp(buf, "-i\n-f\nkeyd@example.org\n--\ndoc@clinic.example\npat@example.org\n") == 0);
	snprintf(path, sizeof(path), "%s/mail", dir);
	T_EQ_INT(slurp(path, buf, sizeof(buf)), 21);
	T_CHECK(strcmp(buf, "Subject: x\r\n\r\nbody\r\n") == 0);
	/* an address that would be an option is refused before sendmail */
	T_EQ_INT(sp_transport_send_mime(t, bad, 1, "x", 1, &err), SP_ERR_INVALID);
	/* an account mail: the recipients from the header (-t) */
	T_EQ_INT(sp_transport_send(t, "pat@example.org", "Hi", "Hello\n", &err), SP_OK);
	snprintf(path, sizeof(path), "%s/args", dir);
	slurp(path, buf, sizeof(buf));
	T_CHECK(strcmp(buf, "-i\n-t\n-f\nkeyd@example.org\n") == 0);
	sp_transport_free(t);

	/* sendmail refused it (EX_TEMPFAIL): a failure to retry */
	T_EQ_INT(sp_transport_new(&t, "sendmail", fail, "keyd@example.org", &err), SP_OK);
	T_EQ_INT(sp_transport_send_mime(t, rcpt, 1, "x\r\n", 3, &err), SP_ERR_RETRY);
	sp_transport_free(t);
	/* a program that exits without reading a large message took nothing */
	memset(big, 'a', sizeof(big));
	T_EQ_INT(sp_transport_new(&t, "sendmail", deaf, "keyd@example.org", &err), SP_OK);
	T_EQ_INT(sp_transport_send_mime(t, rcpt, 1, big, sizeof(big), &err), SP_ERR_RETRY);
	sp_transport_free(t);
	/* a program that is not there */
	snprintf(path, sizeof(path), "%s/missing", dir);
	T_EQ_INT(sp_transport_new(&t, "sendmail", path, "keyd@example.org", &err), SP_OK);
	T_EQ_INT(sp_transport_send_mime(t, rcpt, 1, "x\r\n", 3, &err), SP_ERR_RETRY);
	sp_transport_free(t);
	snprintf(buf, sizeof(buf), "rm -rf '%s'", dir);
	if (system(buf) != 0)
		fprintf(stderr, "cleanup failed\n");
}

T_MAIN(test_outbox, test_sendmail)

/*
 * transport_test.c - the outbox transport: one complete .eml per message,
 * CRLF line ends, encoded non-ASCII subject, nothing left in the temporary
 * directory, and refusal of header injection.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

T_MAIN(test_outbox)

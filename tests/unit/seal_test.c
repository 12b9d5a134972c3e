/*
 * seal_test.c - the sealer's sender controls (X-Sealpost-* fields) and the
 * reader's trusted key servers: table-driven over seal.h and
 * sp_keyd_url_normalize() (keyd_client.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keyd_client.h"
#include "message.h"
#include "seal.h"
#include "t.h"

/* 2026-12-01 00:00:00 UTC */
#define NOW 1796083200LL

static void
test_expires(void)
{
	static const struct {
		const char *in;
		int st;
		long long want;
		const char *msg;	/* substring of the error */
	} cases[] = {
		{"30d", SP_OK, NOW + 30 * 86400LL, NULL},
		{"1D", SP_OK, NOW + 86400LL, NULL},
		{"3650d", SP_OK, NOW + 3650 * 86400LL, NULL},
		{"3651d", SP_ERR_INVALID, 0, "X-Sealpost-Expires: 3651d: give 1d to 3650d"},
		{"0d", SP_ERR_INVALID, 0, "give 1d"},
		{"d", SP_ERR_INVALID, 0, "not a period"},
		{"-3d", SP_ERR_INVALID, 0, "not a period"},
		{"2027-01-31", SP_OK, 1801439999LL, NULL},	/* 23:59:59 UTC that day */
		{"2026-12-01", SP_OK, NOW + 86399LL, NULL},	/* today still counts */
		{"2026-11-30", SP_ERR_INVALID, 0, "X-Sealpost-Expires: 2026-11-30: that is in the past"},
		{"2027-02-29", SP_ERR_INVALID, 0, "no such date"},
		{"2027-13-01", SP_ERR_INVALID, 0, "no such date"},
		{"2027-1-31", SP_ERR_INVALID, 0, "not a period"},
		{"Mon, 01 Feb 2027 12:00:00 +0100", SP_OK, 1801479600LL, NULL},
		{"1 Feb 2027 11:00:00 GMT", SP_OK, 1801479600LL, NULL},
		{"Mon, 01 Feb 2010 12:00:00 +0000", SP_ERR_INVALID, 0, "in the past"},
		{"Mon, 01 Feb 2099 12:00:00 +0000", SP_ERR_INVALID, 0, "more than 3650 days ahead"},
		{"tomorrow", SP_ERR_INVALID, 0, "X-Sealpost-Expires: tomorrow: not a period"},
		{"", SP_ERR_INVALID, 0, "the value is empty"},
	};
	struct sp_err err;
	int64_t t;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&err, 0, sizeof(err));
		t = -1;
		T_EQ_INT(sp_seal_parse_expires(cases[i].in, NOW, &t, &err), cases[i].st);
		if (cases[i].st == SP_OK)
			T_EQ_INT(t, cases[i].want);
		else if (strstr(err.msg, cases[i].msg) == NULL)
			T_CHECK(!fprintf(stderr, "  %s: got \"%s\"\n", cases[i].in, err.msg));
	}
}

static void
test_controls(void)
{
	static const struct {
		const char *fields;
		int st;
		const char *msg;
	} cases[] = {
		{"", SP_OK, NULL},
		{"X-Sealpost-Level: LOW\r\n", SP_OK, NULL},
		{"X-Sealpost-Level: extreme\r\n", SP_ERR_INVALID, "X-Sealpost-Level: extreme"},
		{"X-Sealpost-Notify: read\r\n", SP_OK, NULL},
		{"X-Sealpost-Notify: often\r\n", SP_ERR_INVALID, "X-Sealpost-Notify: often"},
		{"X-Sealpost-Verify: s3cret\r\nX-Sealpost-Verify-Hint: =?UTF-8?B?Q2l0w6k/?=\r\n", SP_OK, NULL},
		{"X-Sealpost-Verify-Hint: alone\r\n", SP_ERR_INVALID, "without X-Sealpost-Verify"},
		{"X-Sealpost-Verify: \r\n", SP_ERR_INVALID, "X-Sealpost-Verify: the value is empty"},
		{"X-Sealpost-Expires: 7d\r\nx-sealpost-expires: 8d\r\n", SP_ERR_INVALID, "appears more than once"},
		{"X-Sealpost-Expires: 7d\r\n", SP_OK, NULL},
	};
	struct sp_seal_controls ctl;
	struct sp_err err;
	char raw[1024];
	size_t i;
	int st;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&err, 0, sizeof(err));
		snprintf(raw, sizeof(raw), "From: a@clinic.example\r\nTo: p@example.org\r\n%s"
		    "Subject: s\r\n\r\nbody\r\n", cases[i].fields);
		st = sp_seal_controls_read((const unsigned char *)raw, strlen(raw), NOW, &ctl, &err);
		T_EQ_INT(st, cases[i].st);
		if (st != SP_OK && strstr(err.msg, cases[i].msg) == NULL)
			T_CHECK(!fprintf(stderr, "  case %zu: got \"%s\"\n", i, err.msg));
		if (st != SP_OK) {
			T_CHECK(ctl.verify == NULL && ctl.verify_hint == NULL);
			continue;
		}
		switch (i) {
		case 0:
			T_EQ_INT(ctl.notify_read, -1);
			T_EQ_INT(ctl.expires, 0);
			T_CHECK(ctl.level[0] == '\0' && ctl.verify == NULL);
			break;
		case 1: T_CHECK(strcmp(ctl.level, "low") == 0); break;
		case 3: T_EQ_INT(ctl.notify_read, 1); break;
		case 5:
			T_CHECK(ctl.verify != NULL && strcmp(ctl.verify, "s3cret") == 0);
			/* RFC 2047 decoded */
			T_CHECK(ctl.verify_hint != NULL && strcmp(ctl.verify_hint, "Cit\xc3\xa9?") == 0);
			break;
		case 9: T_EQ_INT(ctl.expires, NOW + 7 * 86400LL); break;
		}
		sp_seal_controls_clear(&ctl);
	}
}

static void
test_url_normalize(void)
{
	static const struct {
		const char *in;
		const char *want;	/* NULL: refused */
	} cases[] = {
		{"https://keys.example.org", "https://keys.example.org"},
		{"HTTPS://Keys.Example.ORG/", "https://keys.example.org"},
		{"https://keys.example.org:443//", "https://keys.example.org"},
		{"http://127.0.0.1:80", "http://127.0.0.1"},
		{"http://127.0.0.1:8080/", "http://127.0.0.1:8080"},
		{"http://127.0.0.1:0443", "http://127.0.0.1:443"},
		{"https://keys.example.org:8443/base/", "https://keys.example.org:8443/base"},
		{"https://keys.example.org/Base", "https://keys.example.org/Base"},
		{"http://[::1]:8080", "http://[::1]:8080"},
		{"ftp://keys.example.org", NULL},
		{"https://", NULL},
		{"https://user@keys.example.org", NULL},
		{"https://keys.example.org/?x=1", NULL},
		{"https://keys.example.org#frag", NULL},
		{"https://keys.example.org:80a", NULL},
		{"https://keys example.org", NULL},
	};
	struct sp_err err;
	char out[256];
	size_t i;
	int st;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		st = sp_keyd_url_normalize(cases[i].in, out, sizeof(out), &err);
		if (cases[i].want == NULL) {
			T_EQ_INT(st, SP_ERR_INVALID);
		} else {
			T_EQ_INT(st, SP_OK);
			if (st == SP_OK && strcmp(out, cases[i].want) != 0)
				T_CHECK(!fprintf(stderr, "  %s -> %s, want %s\n", cases[i].in, out,
				    cases[i].want));
		}
	}
}

static void
test_trust(void)
{
	struct sp_trust t = {0};
	struct sp_err err;
	char path[] = "/tmp/sealpost-trust-XXXXXX";
	int fd = mkstemp(path);
	FILE *f;

	T_CHECK(fd >= 0);
	if (fd < 0)
		return;
	f = fdopen(fd, "w");
	fputs("# trusted key servers\n\n  https://Keys.Example.org/  \n"
	    "http://127.0.0.1:8080 # not a comment: refused\n", f);
	fclose(f);
	T_EQ_INT(sp_trust_read_file(&t, path, &err), SP_ERR_INVALID);
	T_CHECK(strstr(err.msg, "line 4") != NULL);
	sp_trust_clear(&t);

	f = fopen(path, "w");
	fputs("# trusted key servers\n\n  https://Keys.Example.org/  \nhttp://127.0.0.1:8080\n", f);
	fclose(f);
	T_EQ_INT(sp_trust_read_file(&t, path, &err), SP_OK);
	T_EQ_INT(t.n, 2);
	T_EQ_INT(sp_trust_check(&t, "https://keys.example.org", &err), SP_OK);
	T_EQ_INT(sp_trust_check(&t, "https://keys.example.org:443", &err), SP_OK);
	T_EQ_INT(sp_trust_check(&t, "http://127.0.0.1:8080/", &err), SP_OK);
	T_EQ_INT(sp_trust_check(&t, "http://127.0.0.1:8081", &err), SP_ERR_DENIED);
	T_CHECK(strstr(err.msg, "http://127.0.0.1:8081") != NULL);
	T_EQ_INT(sp_trust_check(&t, "http://keys.example.org", &err), SP_ERR_DENIED);
	T_EQ_INT(sp_trust_check(&t, "https://keys.example.org.evil.example", &err), SP_ERR_DENIED);
	T_EQ_INT(sp_trust_check(&t, "https://keys.example.org/other", &err), SP_ERR_DENIED);
	T_EQ_INT(sp_trust_check(&t, NULL, &err), SP_ERR_DENIED);
	T_EQ_INT(sp_trust_add(&t, "HTTPS://KEYS.EXAMPLE.ORG", &err), SP_OK);
	T_EQ_INT(t.n, 2);	/* the same server once */
	sp_trust_clear(&t);
	T_EQ_INT(sp_trust_check(&t, "https://keys.example.org", &err), SP_ERR_DENIED);
	unlink(path);
	T_EQ_INT(sp_trust_read_file(&t, path, &err), SP_ERR_IO);
}

static void
setup(void)
{
	sp_msg_global_init();	/* GMime reads the header fields */
}

T_MAIN(setup, test_expires, test_controls, test_url_normalize, test_trust)

/*
 * maildomains_test.c - domain syntax (canonical form and refusals), the
 * built-in list of public mail domains (sorted, every entry a valid
 * canonical domain, case folded on lookup, no parent or suffix matches)
 * and the extension file (comments, blank lines, bad lines named by line).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "maildomains.h"
#include "t.h"

const char *const *sp_maildomains_builtin(size_t *n);

static const struct {
	const char *in;
	const char *out;	/* NULL: refused */
	const char *msg;	/* substring of the refusal */
} domain_cases[] = {
	{"clinic.example", "clinic.example", NULL},
	{"Clinic.EXAMPLE", "clinic.example", NULL},
	{"clinic.example.", "clinic.example", NULL},
	{"a-b.c-d.example", "a-b.c-d.example", NULL},
	{"xn--bcher-kva.example", "xn--bcher-kva.example", NULL},
	{"123.example", "123.example", NULL},
	{"", NULL, "empty"},
	{".", NULL, "empty"},
	{"localhost", NULL, "two labels"},
	{"clinic..example", NULL, "empty label"},
	{".clinic.example", NULL, "empty label"},
	{"clinic.example..", NULL, "empty label"},
	{"-clinic.example", NULL, "hyphen"},
	{"clinic-.example", NULL, "hyphen"},
	{"clinic.example-", NULL, "hyphen"},
	{"clinic_x.example", NULL, "letters, digits"},
	{"clinic example", NULL, "letters, digits"},
	{"b\xc3\xbc" "cher.example", NULL, "xn--"},
	{"user@clinic.example", NULL, "letters, digits"},
	{"10.0.0.1", NULL, "number"},
	{"[10.0.0.1]", NULL, "letters"},
};

static void
test_domain_check(void)
{
	char out[SP_DOMAIN_MAX + 1];
	struct sp_err err;
	size_t i;
	int st;

	for (i = 0; i < sizeof(domain_cases) / sizeof(domain_cases[0]); i++) {
		memset(&err, 0, sizeof(err));
		st = sp_domain_check(domain_cases[i].in, strlen(domain_cases[i].in), out, &err);
		if (domain_cases[i].out != NULL) {
			T_EQ_INT(st, SP_OK);
			T_CHECK(strcmp(out, domain_cases[i].out) == 0);
		} else {
			T_EQ_INT(st, SP_ERR_INVALID);
			T_CHECK(out[0] == '\0');
			if (strstr(err.msg, domain_cases[i].msg) == NULL)
				fprintf(stderr, "case %zu (%s): message '%s'\n", i,
				    domain_cases[i].in, err.msg);
			T_CHECK(strstr(err.msg, domain_cases[i].msg) != NULL);
		}
	}
}

static void
test_domain_limits(void)
{
	char in[400], out[SP_DOMAIN_MAX + 1];
	size_t i;

	/* a 63-byte label is fine, 64 is not */
	memset(in, 'a', 63);
	memcpy(in + 63, ".example", 9);
	T_EQ_INT(sp_domain_check(in, strlen(in), out, NULL), SP_OK);
	memset(in, 'a', 64);
	memcpy(in + 64, ".example", 9);
	T_EQ_INT(sp_domain_check(in, strlen(in), out, NULL), SP_ERR_INVALID);
	/* 253 bytes in all is the most: labels "aaa...a." */
	for (i = 0; i < 253; i++)
		in[i] = (i % 50 == 49) ? '.' : 'a';
	in[253] = '\0';
	T_EQ_INT(sp_domain_check(in, 253, out, NULL), SP_OK);
	T_EQ_INT(strlen(out), 253);
	in[253] = 'a';
	in[254] = '\0';
	T_EQ_INT(sp_domain_check(in, 254, out, NULL), SP_ERR_INVALID);
	/* the length is the caller's: bytes after n are not read */
	T_EQ_INT(sp_domain_check("gmail.comXYZ", 9, out, NULL), SP_OK);
	T_CHECK(strcmp(out, "gmail.com") == 0);
	T_EQ_INT(sp_domain_check(NULL, 0, out, NULL), SP_ERR_INVALID);
}

static void
test_builtin_list(void)
{
	char out[SP_DOMAIN_MAX + 1];
	const char *const *b;
	size_t n, i;

	b = sp_maildomains_builtin(&n);
	T_CHECK(n > 50);
	for (i = 0; i < n; i++) {
		/* every entry canonical, and found by the lookup */
		T_EQ_INT(sp_domain_check(b[i], strlen(b[i]), out, NULL), SP_OK);
		T_CHECK(strcmp(out, b[i]) == 0);
		T_CHECK(sp_maildomain_is_public(NULL, b[i]));
		if (i > 0 && strcmp(b[i - 1], b[i]) >= 0) {
			fprintf(stderr, "not sorted: %s before %s\n", b[i - 1], b[i]);
			T_CHECK(0);
		}
	}
}

static const struct {
	const char *domain;
	int public;
} lookup_cases[] = {
	{"gmail.com", 1},
	{"GMAIL.COM", 1},
	{"GMail.Com.", 1},
	{"googlemail.com", 1},
	{"outlook.com", 1},
	{"hotmail.com", 1},
	{"hotmail.co.uk", 1},
	{"live.com", 1},
	{"msn.com", 1},
	{"yahoo.com", 1},
	{"yahoo.co.uk", 1},
	{"yahoo.fr", 1},
	{"icloud.com", 1},
	{"me.com", 1},
	{"mac.com", 1},
	{"aol.com", 1},
	{"gmx.de", 1},
	{"gmx.net", 1},
	{"web.de", 1},
	{"mail.ru", 1},
	{"yandex.ru", 1},
	{"yandex.com", 1},
	{"proton.me", 1},
	{"protonmail.com", 1},
	{"zoho.com", 1},
	{"fastmail.com", 1},
	/* no suffix or parent tricks */
	{"notgmail.com", 0},
	{"gmail.com.clinic.example", 0},
	{"gmail.co", 0},
	{"mail.gmail.com", 0},
	{"com", 0},
	{"clinic.example", 0},
	{"gmail..com", 0},
	{"", 0},
	{NULL, 0},
};

static void
test_lookup(void)
{
	size_t i;

	for (i = 0; i < sizeof(lookup_cases) / sizeof(lookup_cases[0]); i++) {
		if (sp_maildomain_is_public(NULL, lookup_cases[i].domain) != lookup_cases[i].public)
			fprintf(stderr, "lookup %s\n", lookup_cases[i].domain ?
			    lookup_cases[i].domain : "(null)");
		T_EQ_INT(sp_maildomain_is_public(NULL, lookup_cases[i].domain),
		    lookup_cases[i].public);
	}
}

static char *
write_tmp(const char *text)
{
	static char path[64];
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "/tmp/maildomains-test-XXXXXX");
	if ((fd = mkstemp(path)) < 0 || (f = fdopen(fd, "w")) == NULL)
		return NULL;
	fputs(text, f);
	fclose(f);
	return path;
}

static void
test_file(void)
{
	struct sp_maildomains *m = NULL;
	struct sp_err err = {{0}};
	char *p, *msg;

	p = write_tmp("# our own free mail service\n"
	    "\n"
	    "  Mail.Provider.Example  \n"
	    "freemail.example # a comment after it\r\n"
	    "\tother.example.\n"
	    "last.example");
	T_CHECK(p != NULL);
	T_EQ_INT(sp_maildomains_load(&m, p, &err), SP_OK);
	T_EQ_INT(sp_maildomains_count(m), 4);
	T_CHECK(sp_maildomain_is_public(m, "mail.provider.example"));
	T_CHECK(sp_maildomain_is_public(m, "FREEMAIL.example"));
	T_CHECK(sp_maildomain_is_public(m, "other.example"));
	T_CHECK(sp_maildomain_is_public(m, "last.example"));
	T_CHECK(sp_maildomain_is_public(m, "gmail.com"));	/* built-in still */
	T_CHECK(!sp_maildomain_is_public(m, "provider.example"));
	T_CHECK(!sp_maildomain_is_public(m, "x.freemail.example"));
	T_CHECK(!sp_maildomain_is_public(NULL, "freemail.example"));
	sp_maildomains_free(m);
	unlink(p);

	/* an empty file (comments only) is fine */
	p = write_tmp("# nothing yet\n");
	T_EQ_INT(sp_maildomains_load(&m, p, &err), SP_OK);
	T_EQ_INT(sp_maildomains_count(m), 0);
	T_CHECK(!sp_maildomain_is_public(m, "clinic.example"));
	sp_maildomains_free(m);
	unlink(p);

	/* a bad line is named with its number */
	p = write_tmp("ok.example\n# fine\nbad_domain.example\n");
	m = (struct sp_maildomains *)&err;	/* must be reset to NULL */
	T_EQ_INT(sp_maildomains_load(&m, p, &err), SP_ERR_INVALID);
	T_CHECK(m == NULL);
	msg = strstr(err.msg, ":3: ");
	T_CHECK(msg != NULL);
	unlink(p);

	p = write_tmp("two.example three.example\n");
	T_EQ_INT(sp_maildomains_load(&m, p, &err), SP_ERR_INVALID);
	T_CHECK(strstr(err.msg, ":1: one domain a line") != NULL);
	unlink(p);

	T_EQ_INT(sp_maildomains_load(&m, "/nonexistent/public-domains", &err), SP_ERR_IO);
	T_CHECK(strstr(err.msg, "/nonexistent/public-domains") != NULL);
	sp_maildomains_free(NULL);
	T_EQ_INT(sp_maildomains_count(NULL), 0);
}

T_MAIN(test_domain_check, test_domain_limits, test_builtin_list, test_lookup, test_file)

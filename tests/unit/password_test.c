/*
 * password_test.c - the password policy (length in code points after NFKC,
 * the common list, context words) and Argon2id hashing and verification of
 * passwords and security answers, and the gate's busy answer.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "password.h"
#include "t.h"

static const struct sp_pw_context ctx = {"john.smith@acme-mail.example", "Example Clinic"};

static const struct {
	const char *pw;
	int ok;
	const char *reason;	/* substring of the refusal */
} policy_cases[] = {
	{"short", 0, "at least 8"},
	{"seven77", 0, "at least 8"},
	{"eight888x", 1, NULL},
	{"blue kettle morning", 1, NULL},
	/* 8 code points of 2-3 bytes each: length counts characters. */
	{"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 1, NULL},
	{"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xa7\xe3\x81\x99\xe3\x82\x88\xe3\x81\xad\xe3\x80\x82", 1, NULL},
	/* 7 characters even though 14 bytes. */
	{"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 0, "at least 8"},
	{"password", 0, "too common"},
	{"PassWord123", 0, "too common"},
	{"QWERTY123", 0, "too common"},
	{"iloveyou", 0, "too common"},
	/* Fullwidth letters normalise (NFKC) to "password". */
	{"\xef\xbd\x90\xef\xbd\x81\xef\xbd\x93\xef\xbd\x93\xef\xbd\x97\xef\xbd\x8f\xef\xbd\x92\xef\xbd\x84", 0, "too common"},
	{"my john.smith key", 0, "email address"},
	{"xxSMITHxx-2024", 0, "email address"},
	{"acme-mail rocks!", 0, "email domain"},
	{"go clinic go go", 0, "organisation"},
	{"my sealpost pw", 0, "this service"},
	{"\xff\xfe bad utf8 here", 0, "UTF-8"},
};

static void
test_policy(void)
{
	struct sp_err err;
	char longpw[300 * 3 + 1];
	size_t i;

	for (i = 0; i < sizeof(policy_cases) / sizeof(policy_cases[0]); i++) {
		int st;

		memset(&err, 0, sizeof(err));
		st = sp_password_check(policy_cases[i].pw, &ctx, &err);
		if ((st == SP_OK) != policy_cases[i].ok ||
		    (policy_cases[i].reason && !strstr(err.msg, policy_cases[i].reason))) {
			fprintf(stderr, "case %zu '%s': status %d msg '%s'\n", i,
			    policy_cases[i].pw, st, err.msg);
			T_CHECK(0);
		} else
			T_CHECK(1);
	}
	/* 256 code points is the most; 257 is refused. */
	memset(longpw, 'k', 256);
	longpw[256] = '\0';
	longpw[10] = ' ';
	T_EQ_INT(sp_password_check(longpw, NULL, &err), SP_OK);
	longpw[256] = 'k';
	longpw[257] = '\0';
	T_EQ_INT(sp_password_check(longpw, NULL, &err), SP_ERR_INVALID);
	T_CHECK(strstr(err.msg, "at most 256") != NULL);
	/* 256 three-byte characters (768 bytes) are fine too. */
	for (i = 0; i < 256; i++)
		memcpy(longpw + 3 * i, "\xe2\x82\xac", 3);
	longpw[768] = '\0';
	T_EQ_INT(sp_password_check(longpw, NULL, &err), SP_OK);
}

static void
test_normalize(void)
{
	char *n = NULL;
	struct sp_err err;

	/* e + combining acute -> precomposed e-acute. */
	T_EQ_INT(sp_password_normalize("caf\x65\xcc\x81", 6, &n, &err), SP_OK);
	T_CHECK(n && strcmp(n, "caf\xc3\xa9") == 0);
	free(n);
	T_EQ_INT(sp_password_normalize("a\0b", 3, &n, &err), SP_ERR_INVALID);
	T_EQ_INT(sp_answer_normalize("  Fluffy   THE\tCat  ", &n, &err), SP_OK);
	T_CHECK(n && strcmp(n, "fluffy the cat") == 0);
	free(n);
	T_EQ_INT(sp_answer_normalize("   ", &n, &err), SP_ERR_INVALID);
}

static void
test_hash_verify(void)
{
	char h[SP_PW_HASH_LEN], h2[SP_PW_HASH_LEN];
	struct sp_err err;

	T_EQ_INT(sp_password_hash("blue kettle morning", h, &err), SP_OK);
	T_CHECK(strncmp(h, "$argon2id$", 10) == 0);
	T_EQ_INT(sp_password_verify(h, "blue kettle morning", &err), SP_OK);
	T_EQ_INT(sp_password_verify(h, "blue kettle evening", &err), SP_ERR_AUTH);
	T_EQ_INT(sp_password_verify(NULL, "blue kettle morning", &err), SP_ERR_AUTH);
	/* NFKC: the decomposed form verifies against the composed one. */
	T_EQ_INT(sp_password_hash("caf\xc3\xa9 au lait", h2, &err), SP_OK);
	T_EQ_INT(sp_password_verify(h2, "caf\x65\xcc\x81 au lait", &err), SP_OK);
	T_EQ_INT(sp_answer_hash("Fluffy the cat", h, &err), SP_OK);
	T_EQ_INT(sp_answer_verify(h, "  fluffy THE   cat ", &err), SP_OK);
	T_EQ_INT(sp_answer_verify(h, "fluffy the dog", &err), SP_ERR_AUTH);
}

static void *
slow_hash(void *arg)
{
	char h[SP_PW_HASH_LEN];
	struct sp_err err;

	*(int *)arg = sp_password_hash("blue kettle morning", h, &err);
	return NULL;
}

static void
test_gate(void)
{
	pthread_t th[3];
	int st[3], i, busy = 0;

	/* One slot, no waiting: of three concurrent hashes some are refused. */
	sp_password_gate_config(1, 0);
	for (i = 0; i < 3; i++)
		pthread_create(&th[i], NULL, slow_hash, &st[i]);
	for (i = 0; i < 3; i++) {
		pthread_join(th[i], NULL);
		if (st[i] == SP_ERR_RETRY)
			busy++;
		else
			T_EQ_INT(st[i], SP_OK);
	}
	T_CHECK(busy >= 1 && busy <= 2);
	sp_password_gate_config(2, 2000);
}

T_MAIN(test_policy, test_normalize, test_hash_verify, test_gate)

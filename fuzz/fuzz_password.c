/*
 * fuzz_password.c - libFuzzer target for the password policy and the
 * security answer normaliser: the input (any bytes) is checked as a password
 * with a context and normalised as an answer; both must return a status,
 * never crash, and an accepted password must be 8 to 256 code points.
 * SECURITY: exercises the code that handles untrusted form text.
 */
#include <glib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "password.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct sp_pw_context ctx = {"jo.smith@mail.example", "Example Clinic"};
	struct sp_err err;
	char *s, *n = NULL;

	if (size > 4096)
		return 0;
	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (sp_password_check(s, &ctx, &err) == SP_OK) {
		char *norm = NULL;

		if (sp_password_normalize(s, strlen(s), &norm, &err) != SP_OK)
			abort();
		if (g_utf8_strlen(norm, -1) < SP_PW_MIN || g_utf8_strlen(norm, -1) > SP_PW_MAX)
			abort();
		free(norm);
	}
	if (sp_answer_normalize(s, &n, &err) == SP_OK) {
		if (n[0] == '\0' || n[0] == ' ' || n[strlen(n) - 1] == ' ')
			abort();
		free(n);
	}
	free(s);
	return 0;
}

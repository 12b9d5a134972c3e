/*
 * notice_test.c - the mails of notice.h: every account kind composes with
 * its token and link, a missing token or an unknown kind is refused, and
 * the notices to senders (read, verification lock, messages waiting) name
 * the recipient's address, the envelope and the time in UTC, and nothing
 * else.
 */
#include <string.h>

#include "notice.h"
#include "t.h"

#define URL "https://keys.example.org"

static int
has(const struct sp_buf *b, const char *s)
{
	return b->data != NULL && strstr((const char *)b->data, s) != NULL;
}

static void
test_account_kinds(void)
{
	static const struct {
		int kind;
		const char *token;
		const char *want;
	} k[] = {
		{SP_NOTICE_ACTIVATE, "tok1", URL "/activate?t=tok1"},
		{SP_NOTICE_EXISTS, NULL, URL "/forgot"},
		{SP_NOTICE_RESET, "tok2", URL "/reset?t=tok2"},
		{SP_NOTICE_ADMIN_RESET, "tok3", "administrator"},
		{SP_NOTICE_SIGNIN, "tok4", URL "/signin?t=tok4"},
		{SP_NOTICE_PW_CHANGED, NULL, "was just changed"},
		{SP_NOTICE_FACTOR_ADDED, NULL, "was added to"},
		{SP_NOTICE_FACTOR_REMOVED, NULL, "was removed from"},
		{SP_NOTICE_RECOVERY_USED, NULL, "recovery code"},
		{SP_NOTICE_SIGNUP_CODE, "104729", "    104729\n"},
		{SP_NOTICE_PROFILE_CHANGED, NULL, "profile of your account"},
	};
	size_t i;

	for (i = 0; i < sizeof(k) / sizeof(k[0]); i++) {
		struct sp_buf b;
		struct sp_err err = {{0}};
		const char *subject = NULL;

		sp_buf_init(&b, 65536);
		T_EQ_INT(sp_notice_compose(k[i].kind, "pat@example.org", URL, k[i].token, "1 hour",
		    NULL, &subject, &b, &err), SP_OK);
		T_CHECK(subject != NULL && strchr(subject, '\n') == NULL);
		T_CHECK(has(&b, k[i].want));
		T_CHECK(has(&b, "pat@example.org"));
		sp_buf_free(&b);
	}
}

static void
test_refusals(void)
{
	struct sp_buf b;
	struct sp_err err = {{0}};
	const char *subject = NULL;
	struct sp_notice_sender ns = {"pat@example.org", NULL, 0, 1};

	sp_buf_init(&b, 65536);
	T_EQ_INT(sp_notice_compose(SP_NOTICE_ACTIVATE, "pat@example.org", URL, NULL, NULL, NULL,
	    &subject, &b, &err), SP_ERR_INVALID);
	T_EQ_INT(sp_notice_compose(999, "pat@example.org", URL, "t", NULL, NULL, &subject, &b,
	    &err), SP_ERR_INVALID);
	/* sender notices: READ and VERIFY_LOCKED need the envelope */
	T_EQ_INT(sp_notice_compose_sender(SP_NOTICE_READ, "doc@clinic.example", URL, &ns,
	    &subject, &b, &err), SP_ERR_INVALID);
	T_EQ_INT(sp_notice_compose_sender(SP_NOTICE_VERIFY_LOCKED, "doc@clinic.example", URL, &ns,
	    &subject, &b, &err), SP_ERR_INVALID);
	T_EQ_INT(sp_notice_compose_sender(SP_NOTICE_ACTIVATE, "doc@clinic.example", URL, &ns,
	    &subject, &b, &err), SP_ERR_INVALID);
	T_EQ_INT(sp_notice_compose_sender(SP_NOTICE_READ, "doc@clinic.example", URL, NULL,
	    &subject, &b, &err), SP_ERR_INVALID);
	sp_buf_free(&b);
}

static void
test_sender_notices(void)
{
	struct sp_notice_sender read = {"pat@example.org", "AAAAAAAAAAAAAAAAAAAAAA", 1700000000, 0};
	struct sp_notice_sender one = {"new@example.org", NULL, 1700000000, 1};
	struct sp_notice_sender three = {"new@example.org", NULL, 1700000000, 3};
	struct sp_err err = {{0}};
	const char *subject = NULL;
	struct sp_buf b;

	sp_buf_init(&b, 65536);
	T_EQ_INT(sp_notice_compose_sender(SP_NOTICE_READ, "doc@clinic.example", URL, &read,
	    &subject, &b, &err), SP_OK);
	T_CHECK(strstr(subject, "Read notice") != NULL);
	T_CHECK(has(&b, "AAAAAAAAAAAAAAAAAAAAAA"));
	T_CHECK(has(&b, "pat@example.org"));
	T_CHECK(has(&b, "2023-11-14 22:13:20 UTC"));
	sp_buf_reset(&b);
	T_EQ_INT(sp_notice_compose_sender(SP_NOTICE_VERIFY_LOCKED, "doc@clinic.example", URL,
	    &read, &subject, &b, &err), SP_OK);
	T_CHECK(has(&b, "answered\nwrongly too many times for the recipient pat@example.org"));
	T_CHECK(has(&b, "retract it"));
	sp_buf_reset(&b);
	T_EQ_INT(sp_notice_compose_sender(SP_NOTICE_WAITING, "doc@clinic.example", URL, &one,
	    &subject, &b, &err), SP_OK);
	T_CHECK(has(&b, "a new account was just registered for new@example.org, which has 1 "
	    "message\nfrom you waiting"));
	T_CHECK(has(&b, "If you did not expect this, retract them\nor ask the recipient."));
	sp_buf_reset(&b);
	T_EQ_INT(sp_notice_compose_sender(SP_NOTICE_WAITING, "doc@clinic.example", URL, &three,
	    &subject, &b, &err), SP_OK);
	T_CHECK(has(&b, "which has 3 messages\n"));
	sp_buf_free(&b);
}

/* The same mails in Spanish: the link, the address and the lifetime in
 * words of that language; a language not offered is English. */
static void
test_spanish(void)
{
	struct sp_err err = {{0}};
	struct sp_notice_sender w = {"new@example.org", NULL, 1700000000, 3};
	const char *subject = NULL;
	struct sp_buf b;

	sp_buf_init(&b, 65536);
	T_EQ_INT(sp_notice_compose_lang("es", SP_NOTICE_ACTIVATE, "ana@example.org", URL, "tok1",
	    "24 hours", NULL, &subject, &b, &err), SP_OK);
	T_CHECK(strcmp(subject, "Confirme su direcci\xc3\xb3n para los mensajes seguros") == 0);
	T_CHECK(has(&b, URL "/activate?t=tok1"));
	T_CHECK(has(&b, "caduca en 24 horas"));
	T_CHECK(has(&b, "ana@example.org"));
	sp_buf_reset(&b);
	T_EQ_INT(sp_notice_compose_lang("es", SP_NOTICE_FACTOR_ADDED, "ana@example.org", URL, NULL,
	    NULL, "notice.what.device\tFirefox on Linux", &subject, &b, &err), SP_OK);
	T_CHECK(has(&b, "un dispositivo recordado (Firefox on Linux)"));
	sp_buf_reset(&b);
	T_EQ_INT(sp_notice_compose_sender_lang("es", SP_NOTICE_WAITING, "doc@clinic.example", URL,
	    &w, &subject, &b, &err), SP_OK);
	T_CHECK(has(&b, "que tiene 3\nmensajes suyos pendientes"));
	sp_buf_reset(&b);
	T_EQ_INT(sp_notice_compose_lang("fr", SP_NOTICE_EXISTS, "ana@example.org", URL, NULL, NULL,
	    NULL, &subject, &b, &err), SP_OK);
	T_CHECK(strcmp(subject, "Your account for secure messages") == 0);
	sp_buf_free(&b);
}

T_MAIN(test_spanish, test_account_kinds, test_refusals, test_sender_notices)

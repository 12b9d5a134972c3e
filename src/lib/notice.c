/*
 * notice.c - the account mails of notice.h, in plain words, from the
 * catalogues (i18n.h) in the recipient's language.
 * SECURITY: only the recipient's address, the public URL, a token and
 * fixed phrases of the caller go into a mail; no name or text that a
 * stranger typed into a form.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "i18n.h"
#include "notice.h"

/* The words a caller gives for a link's lifetime (ttl_text) or for what
 * changed (detail): a catalogue key (i18n.h), or for callers outside the
 * key server, these English phrases. */
static const struct {
	const char *text, *key;
} phrases[] = {
	{"24 hours", "notice.ttl.24h"}, {"1 hour", "notice.ttl.1h"},
	{"15 minutes", "notice.ttl.15m"},
};

/* The catalogue key of a caller's words, or NULL. */
static const char *
phrase_key(const char *text)
{
	size_t i;

	if (text != NULL && sp_i18n_has(text))
		return text;
	for (i = 0; text != NULL && i < sizeof(phrases) / sizeof(phrases[0]); i++)
		if (strcmp(text, phrases[i].text) == 0)
			return phrases[i].key;
	return NULL;
}

/* "Hello," + the body of key + the footer key, as plain text. */
static int
letter(struct sp_buf *body, const char *lang, const char *key,
    const struct sp_i18n_var *v, size_t nv, const char *foot)
{
	int rc = sp_i18n_plain(body, lang, "notice.hello", NULL, 0);

	if (rc == SP_OK)
		rc = sp_buf_append_str(body, "\n\n");
	if (rc == SP_OK)
		rc = sp_i18n_plain(body, lang, key, v, nv);
	if (rc == SP_OK)
		rc = sp_buf_append_str(body, "\n\n");
	if (rc == SP_OK)
		rc = sp_i18n_plain(body, lang, foot, NULL, 0);
	if (rc == SP_OK)
		rc = sp_buf_append_str(body, "\n");
	return rc;
}

int
sp_notice_compose(int kind, const char *to, const char *public_url,
    const char *token, const char *ttl_text, const char *detail,
    const char **subject, struct sp_buf *body, struct sp_err *err)
{
	return sp_notice_compose_lang(SP_I18N_DEFAULT, kind, to, public_url, token, ttl_text,
	    detail, subject, body, err);
}

int
sp_notice_compose_lang(const char *lang, int kind, const char *to, const char *public_url,
    const char *token, const char *ttl_text, const char *detail,
    const char **subject, struct sp_buf *body, struct sp_err *err)
{
	const char *ttl = ttl_text == NULL ? sp_i18n_text(lang, "notice.ttl.short") :
	    phrase_key(ttl_text) ? sp_i18n_text(lang, phrase_key(ttl_text)) : ttl_text;
	const char *key = NULL, *what = NULL, *tab;
	struct sp_buf wb;
	int need_token = kind == SP_NOTICE_ACTIVATE || kind == SP_NOTICE_RESET ||
	    kind == SP_NOTICE_ADMIN_RESET || kind == SP_NOTICE_SIGNIN ||
	    kind == SP_NOTICE_SIGNUP_CODE;
	int rc;

	if (to == NULL || public_url == NULL || (need_token && (token == NULL || *token == '\0')))
		return sp_err_set(err, SP_ERR_INVALID, "notice: missing address or token");
	switch (kind) {
	case SP_NOTICE_ACTIVATE: key = "notice.activate"; break;
	case SP_NOTICE_SIGNUP_CODE: key = "notice.code"; break;
	case SP_NOTICE_EXISTS: key = "notice.exists"; break;
	case SP_NOTICE_RESET:
	case SP_NOTICE_ADMIN_RESET: key = "notice.reset"; break;
	case SP_NOTICE_SIGNIN: key = "notice.signin"; break;
	case SP_NOTICE_PW_CHANGED: key = "notice.pw_changed"; break;
	case SP_NOTICE_FACTOR_ADDED: key = "notice.factor_added"; break;
	case SP_NOTICE_FACTOR_REMOVED: key = "notice.factor_removed"; break;
	case SP_NOTICE_PROFILE_CHANGED: key = "notice.profile"; break;
	case SP_NOTICE_RECOVERY_USED: key = "notice.recovery"; break;
	default:
		return sp_err_set(err, SP_ERR_INVALID, "notice: unknown kind %d", kind);
	}
	/* detail: a phrase of the caller, or "notice.what.device\tAGENT" */
	sp_buf_init(&wb, 4096);
	if (detail == NULL)
		what = sp_i18n_text(lang, "notice.what.method");
	else if (phrase_key(detail) != NULL)
		what = sp_i18n_text(lang, phrase_key(detail));
	else if ((tab = strchr(detail, '\t')) != NULL) {
		char k[64];
		struct sp_i18n_var av = {"agent", tab + 1};

		snprintf(k, sizeof(k), "%.*s", (int)(tab - detail), detail);
		sp_i18n_plain(&wb, lang, k, &av, 1);
		what = wb.data ? (const char *)wb.data : "";
	} else
		what = detail;
	{
		char sk[64], bk[64];
		struct sp_i18n_var v[] = {
			{"to", to}, {"url", public_url}, {"token", token}, {"ttl", ttl},
			{"what", what}, {"who", sp_i18n_text(lang, kind == SP_NOTICE_RESET ?
			    "notice.reset.who" : "notice.reset.who_admin")},
		};

		snprintf(sk, sizeof(sk), "%s.subject", key);
		snprintf(bk, sizeof(bk), "%s.body", key);
		*subject = sp_i18n_text(lang, sk);
		rc = letter(body, lang, bk, v, sizeof(v) / sizeof(v[0]), "notice.foot");
	}
	sp_buf_free(&wb);
	if (rc != SP_OK)
		return sp_err_set(err, SP_ERR_NOMEM, "notice: out of memory");
	return SP_OK;
}

int
sp_notice_compose_sender(int kind, const char *to, const char *public_url,
    const struct sp_notice_sender *info, const char **subject, struct sp_buf *body,
    struct sp_err *err)
{
	return sp_notice_compose_sender_lang(SP_I18N_DEFAULT, kind, to, public_url, info,
	    subject, body, err);
}

int
sp_notice_compose_sender_lang(const char *lang, int kind, const char *to,
    const char *public_url, const struct sp_notice_sender *info, const char **subject,
    struct sp_buf *body, struct sp_err *err)
{
	char when[64], count[24];
	const char *key;
	struct tm tm;
	time_t t;
	int rc;

	if (to == NULL || public_url == NULL || info == NULL || info->address == NULL ||
	    (kind != SP_NOTICE_WAITING && info->envelope == NULL))
		return sp_err_set(err, SP_ERR_INVALID, "notice: missing address or envelope");
	t = (time_t)info->when;
	if (gmtime_r(&t, &tm) == NULL || strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC",
	    &tm) == 0)
		snprintf(when, sizeof(when), "%lld", (long long)info->when);
	snprintf(count, sizeof(count), "%ld", info->count);
	switch (kind) {
	case SP_NOTICE_READ:
		*subject = sp_i18n_text(lang, "notice.read.subject");
		key = "notice.read.body";
		break;
	case SP_NOTICE_VERIFY_LOCKED:
		*subject = sp_i18n_text(lang, "notice.locked.subject");
		key = "notice.locked.body";
		break;
	case SP_NOTICE_WAITING:
		*subject = sp_i18n_text(lang, "notice.waiting.subject");
		key = info->count == 1 ? "notice.waiting.body_one" : "notice.waiting.body_many";
		break;
	default:
		return sp_err_set(err, SP_ERR_INVALID, "notice: unknown sender notice %d", kind);
	}
	{
		struct sp_i18n_var v[] = {
			{"address", info->address}, {"envelope", info->envelope}, {"when", when},
			{"count", count},
		};

		rc = letter(body, lang, key, v, 4, "notice.sender_foot");
	}
	if (rc != SP_OK)
		return sp_err_set(err, SP_ERR_NOMEM, "notice: out of memory");
	return SP_OK;
}

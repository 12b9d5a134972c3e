/*
 * seal_open.c - open an envelope (seal.h): the trusted key servers, the
 * release, the checks of the envelope against the key server's record
 * (docs/envelope-format.md section 7.6), then decryption.
 * SECURITY: the envelope is untrusted until it matches the record; nothing
 * is decrypted before the checks pass; key parts are wiped.
 */
#include "seal.h"

#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- the trusted key servers ---------------------------------------------- */

#define TRUST_URL_MAX 1024
#define TRUST_MAX 1000

int
sp_trust_add(struct sp_trust *t, const char *url, struct sp_err *err)
{
	char norm[TRUST_URL_MAX];
	char **grown;
	int st;

	if ((st = sp_keyd_url_normalize(url, norm, sizeof(norm), err)) != SP_OK)
		return st;
	if (sp_trust_check(t, norm, NULL) == SP_OK)
		return SP_OK;
	if (t->n >= TRUST_MAX)
		return sp_err_set(err, SP_ERR_TOOBIG, "more than %d trusted key servers", TRUST_MAX);
	if ((grown = realloc(t->url, (t->n + 1) * sizeof(*t->url))) == NULL)
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	t->url = grown;
	if ((t->url[t->n] = strdup(norm)) == NULL)
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	t->n++;
	return SP_OK;
}

int
sp_trust_read_file(struct sp_trust *t, const char *path, struct sp_err *err)
{
	char line[TRUST_URL_MAX + 2], *p, *e;
	FILE *f;
	int st = SP_OK, lineno = 0;

	if ((f = fopen(path, "r")) == NULL)
		return sp_err_set(err, SP_ERR_IO, "%s: %s", path, strerror(errno));
	while (st == SP_OK && fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			st = sp_err_set(err, SP_ERR_INVALID, "%s line %d: too long", path, lineno);
			break;
		}
		for (p = line; *p == ' ' || *p == '\t'; p++)
			;
		for (e = p + strlen(p); e > p && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' ||
		    e[-1] == '\t'); e--)
			;
		*e = '\0';
		if (*p == '\0' || *p == '#')
			continue;
		if ((st = sp_trust_add(t, p, err)) != SP_OK)
			sp_err_set(err, st, "%s line %d: %s", path, lineno, err->msg);
	}
	if (st == SP_OK && ferror(f))
		st = sp_err_set(err, SP_ERR_IO, "%s: read error", path);
	fclose(f);
	return st;
}

int
sp_trust_check(const struct sp_trust *t, const char *url, struct sp_err *err)
{
	char norm[TRUST_URL_MAX];
	struct sp_err ignore;
	size_t i;

	if (url == NULL || sp_keyd_url_normalize(url, norm, sizeof(norm), &ignore) != SP_OK)
		return err ? sp_err_set(err, SP_ERR_DENIED, "the envelope names no valid key server") :
		    SP_ERR_DENIED;
	for (i = 0; t != NULL && i < t->n; i++)
		if (strcmp(t->url[i], norm) == 0)
			return SP_OK;
	return err ? sp_err_set(err, SP_ERR_DENIED,
	    "the envelope names the key server %s, which is not one you trust (--keyd, "
	    "--trusted-keyd-file); nothing was sent to it", norm) : SP_ERR_DENIED;
}

void
sp_trust_clear(struct sp_trust *t)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		free(t->url[i]);
	free(t->url);
	t->url = NULL;
	t->n = 0;
}

/* --- opening --------------------------------------------------------------- */

void
sp_open_info_clear(struct sp_open_info *info)
{
	if (info == NULL)
		return;
	free(info->verify_hint);
	memset(info, 0, sizeof(*info));
	info->verify_hint = NULL;
	info->tries_left = -1;
}

static int
str_eq_nocase(const char *a, const char *b)
{
	return a != NULL && b != NULL && g_ascii_strcasecmp(a, b) == 0;
}

/* A failed check: *reason is why (a static sentence), err says it with
 * the organisation; SP_ERR_AUTH. */
static int
not_genuine(const char *org, const char *why, const char **reason, struct sp_err *err)
{
	*reason = why;
	return sp_err_set(err, SP_ERR_AUTH, "this is not a genuine envelope from %.200s: %s",
	    org, why);
}

/* The checks that apply to both formats (docs/envelope-format.md 7.6, 3):
 * id, organisation, sender and recipients agree with the record
 * (addresses in any case and order). */
static int
check_record_fields(const struct sp_env_file *f, const struct sp_release_res *r,
    const char *org, const char **reason, struct sp_err *err)
{
	const char *why = NULL;
	size_t i, j;

	if (r->org != NULL && (f->header.org == NULL || strcmp(f->header.org, r->org) != 0))
		why = "the key server has it from another organisation";
	else if (r->from != NULL && !str_eq_nocase(f->header.from ? f->header.from : "", r->from))
		why = "the key server has it from another sender";
	else if (r->rcpt != NULL && r->nrcpt != f->header.nto)
		why = "the key server has it for other recipients";
	for (i = 0; why == NULL && r->rcpt != NULL && i < f->header.nto; i++) {
		for (j = 0; j < r->nrcpt; j++)
			if (str_eq_nocase(f->header.to[i], r->rcpt[j]))
				break;
		if (j == r->nrcpt)
			why = "the key server has it for other recipients";
	}
	for (j = 0; why == NULL && r->rcpt != NULL && j < r->nrcpt; j++) {
		for (i = 0; i < f->header.nto; i++)
			if (str_eq_nocase(f->header.to[i], r->rcpt[j]))
				break;
		if (i == f->header.nto)
			why = "the key server has it for other recipients";
	}
	return why != NULL ? not_genuine(org, why, reason, err) : SP_OK;
}

/* Is f the envelope the key server's record r describes? (seal.h) */
int
sp_open_check_record(const struct sp_env_file *f, const struct sp_release_res *r,
    const char **reason, struct sp_err *err)
{
	const char *org = f->header.org != NULL && f->header.org[0] != '\0' ? f->header.org :
	    r->org != NULL ? r->org : "(no organisation)";
	unsigned char hsha[SP_SHA256_LEN], csha[SP_SHA256_LEN];
	char kid[SP_SIGN_KID_LEN + 1];
	const char *why = NULL, *unused;

	if (reason == NULL)
		reason = &unused;
	*reason = NULL;
	if (f->header.version != r->format) {
		*reason = "its format is not the one the key server recorded";
		return sp_err_set(err, SP_ERR_AUTH,
		    "this is not a genuine envelope from %.200s: it says format %d, the key server "
		    "deposited it as format %d", org, f->header.version, r->format);
	}
	if (r->format < 2)
		return check_record_fields(f, r, org, reason, err);
	if (sp_sha256(f->header_bytes.data, f->header_bytes.len, hsha) != SP_OK ||
	    sp_sha256(f->ct.data, f->ct.len, csha) != SP_OK)
		return sp_err_set(err, SP_ERR_INTERNAL, "cannot hash the envelope");
	if (!r->has_digests || !r->has_sig_key || r->kid[0] == '\0')
		why = "the key server holds no signature for it (its sealing was never completed)";
	else if (!sp_ct_eq(hsha, r->header_sha, SP_SHA256_LEN))
		why = "its header is not the one the organisation signed";
	else if (!sp_ct_eq(csha, r->ct_sha, SP_SHA256_LEN))
		why = "its content is not the one the organisation signed (changed, re-encrypted or cut short)";
	else if (!f->has_sig)
		why = "it carries no signature";
	else if (strcmp(f->header.kid, r->kid) != 0)
		why = "it names another signing key than the one the key server recorded";
	else {
		sp_sign_kid(r->sig_key, kid);
		if (strcmp(kid, r->kid) != 0)
			why = "the key server's public key does not match the recorded key id";
		else if (sp_sign_verify_envelope(r->sig_key, hsha, csha, f->sig) != SP_OK)
			why = "its signature does not verify";
	}
	if (why != NULL)
		return not_genuine(org, why, reason, err);
	return check_record_fields(f, r, org, reason, err);
}

static enum sp_open_outcome
refusal_outcome(const struct sp_release_res *r)
{
	if (r->http_status == 410)
		return strcmp(r->reason, "retracted") == 0 ? SP_OPEN_WITHDRAWN : SP_OPEN_EXPIRED;
	if (r->http_status == 409 && r->verify_needed)
		return SP_OPEN_VERIFY;
	if (r->http_status == 423)
		return SP_OPEN_LOCKED;
	if (r->http_status >= 400 && r->http_status < 500)
		return SP_OPEN_REFUSED;
	return SP_OPEN_FAILED;
}

int
sp_open_envelope_checked(struct sp_keyd_client *c, const struct sp_trust *trust,
    const struct sp_env_file *f, struct sp_open_info *info,
    struct sp_buf *container_out, struct sp_err *err)
{
	struct sp_open_info dummy;
	struct sp_release_res r;
	unsigned char key[SP_KEY_LEN];
	int st;

	if (info == NULL)
		info = &dummy;
	memset(info, 0, sizeof(*info));
	info->tries_left = -1;
	info->outcome = SP_OPEN_FAILED;
	if (trust != NULL && (st = sp_trust_check(trust, f->header.keyd, err)) != SP_OK) {
		info->outcome = SP_OPEN_UNTRUSTED;
		return st;
	}
	if ((st = sp_keyd_release_record(c, f->header.id, &r, err)) != SP_OK) {
		info->outcome = refusal_outcome(&r);
		if (info->outcome == SP_OPEN_WITHDRAWN)
			sp_err_set(err, st, "this message was withdrawn by the sender");
		else if (info->outcome == SP_OPEN_EXPIRED)
			sp_err_set(err, st, "this message has expired");
		else if (info->outcome == SP_OPEN_LOCKED)
			sp_err_set(err, st, "too many wrong verification answers: the sender has been told; ask them");
		if (info->outcome == SP_OPEN_VERIFY) {
			info->tries_left = r.tries_left;
			info->verify_hint = r.verify_hint;
			r.verify_hint = NULL;
		}
		sp_release_res_clear(&r);
		if (info == &dummy)
			sp_open_info_clear(&dummy);
		return st;
	}
	info->format = r.format;
	info->bcc = r.bcc;
	if ((st = sp_open_check_record(f, &r, NULL, err)) != SP_OK) {
		info->outcome = st == SP_ERR_AUTH ? SP_OPEN_FORGED : SP_OPEN_FAILED;
		sp_release_res_clear(&r);
		return st;
	}
	st = sp_env_derive_key_v(r.format, r.server_part, f->mail_part, f->header.id, key);
	sp_release_res_clear(&r);
	if (st != SP_OK)
		return sp_err_set(err, st, "key derivation failed");
	st = sp_env_decrypt(key, f->header.nonce_prefix, f->header_bytes.data,
	    f->header_bytes.len, f->ct.data, f->ct.len, container_out, err);
	sp_wipe(key, sizeof(key));
	if (st == SP_ERR_AUTH) {
		info->outcome = SP_OPEN_FORGED;
		return sp_err_set(err, st,
		    "the envelope is not genuine or was damaged: it does not decrypt with its key");
	}
	if (st == SP_OK)
		info->outcome = SP_OPEN_OPENED;
	return st;
}

int
sp_open_envelope(struct sp_keyd_client *c, const struct sp_env_file *f,
    struct sp_buf *container_out, struct sp_err *err)
{
	return sp_open_envelope_checked(c, NULL, f, NULL, container_out, err);
}

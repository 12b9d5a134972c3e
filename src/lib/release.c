/*
 * release.c - the key release decision (release.h): who may have the
 * envelope, then retraction (whole or per recipient), then expiry and
 * shredding, then the verification secret; and the answer's JSON text.
 * SECURITY: decides who gets a key part; pure, so it is tested row by row.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "crypto.h"
#include "release.h"

static int
ascii_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* Equal ignoring ASCII case (no locale: the same answer in every program). */
static int
same_ascii_fold(const char *a, const char *b)
{
	for (; *a != '\0' && *b != '\0'; a++, b++)
		if (ascii_lower((unsigned char)*a) != ascii_lower((unsigned char)*b))
			return 0;
	return *a == *b;
}

int
sp_release_addr_in_domain(const char *addr, const char *domain)
{
	const char *at;

	if (addr == NULL || domain == NULL || *domain == '\0' ||
	    (at = strrchr(addr, '@')) == NULL)
		return 0;
	return same_ascii_fold(at + 1, domain);
}

/* 1 when rcpt is in one of the organisation's domains. */
static int
in_org_domains(const struct sp_release_principal *p, const char *rcpt)
{
	size_t i;

	if (sp_release_addr_in_domain(rcpt, p->domain))
		return 1;
	for (i = 0; p->domains != NULL && i < p->ndomains; i++)
		if (sp_release_addr_in_domain(rcpt, p->domains[i]))
			return 1;
	return 0;
}

long
sp_release_rcpt_index(const struct sp_release_principal *p, const struct sp_envelope_rec *e)
{
	size_t i;

	if (p == NULL || e == NULL || p->kind != SP_RELEASE_RECIPIENT || p->email == NULL ||
	    *p->email == '\0')
		return -1;
	for (i = 0; i < e->nrcpt; i++)
		if (e->rcpt[i] != NULL && same_ascii_fold(e->rcpt[i], p->email))
			return (long)i;
	return -1;
}

static int
rcpt_retracted(const struct sp_envelope_rec *e, size_t i)
{
	return e->rstate != NULL && e->rstate[i].retracted;
}

const char *
sp_release_auth_name(enum sp_release_auth auth)
{
	return auth == SP_RELEASE_AUTH_DEVICE ? "device" :
	    auth == SP_RELEASE_AUTH_NONE ? "none" : "password";
}

/* The envelope's level: 2 high, 1 medium (also "" and anything unknown:
 * deposits only store the three names), 0 low. */
static int
level_rank(const struct sp_envelope_rec *e)
{
	if (strcmp(e->level, "high") == 0)
		return 2;
	return strcmp(e->level, "low") == 0 ? 0 : 1;
}

enum sp_release_reason
sp_release_check(const struct sp_release_principal *p, const struct sp_envelope_rec *e,
    int64_t now)
{
	return sp_release_check_auth(p, SP_RELEASE_AUTH_PASSWORD, e, now);
}

enum sp_release_reason
sp_release_check_auth(const struct sp_release_principal *p, enum sp_release_auth auth,
    const struct sp_envelope_rec *e, int64_t now)
{
	long ri = -1;
	size_t i;
	int ok = 0, live = 0, withdrawn = 0;

	if (p == NULL)
		return SP_RELEASE_NOT_LOGGED_IN;
	if (e == NULL)
		return SP_RELEASE_UNKNOWN;
	if (p->kind == SP_RELEASE_RECIPIENT && auth == SP_RELEASE_AUTH_NONE) {
		/* low: whoever holds the mail, like mail sent over TLS */
		if (level_rank(e) != 0 || e->verify_hash[0] != '\0')
			return SP_RELEASE_NOT_LOGGED_IN;
		/* withdrawn from some recipients: only a sign-in tells them
		 * from the others; withdrawn from all: nobody opens it */
		for (i = 0; i < e->nrcpt; i++)
			if (!rcpt_retracted(e, i))
				live = 1;
			else
				withdrawn = 1;
		if (live && withdrawn)
			return SP_RELEASE_NOT_LOGGED_IN;
	} else if (p->kind == SP_RELEASE_RECIPIENT) {
		if ((ri = sp_release_rcpt_index(p, e)) < 0)
			return SP_RELEASE_NOT_RECIPIENT;
		if (auth != SP_RELEASE_AUTH_PASSWORD && level_rank(e) == 2)
			return SP_RELEASE_PASSWORD_NEEDED;
		live = !rcpt_retracted(e, (size_t)ri);
	} else if (p->kind == SP_RELEASE_ORG) {
		if (p->org_id != 0 && e->org_id == p->org_id) {
			ok = 1;
			live = 1;
		} else if (e->kind == SP_ENV_KIND_REPLY) {
			for (i = 0; i < e->nrcpt; i++)
				if (e->rcpt[i] != NULL && in_org_domains(p, e->rcpt[i])) {
					ok = 1;
					if (!rcpt_retracted(e, i))
						live = 1;
				}
		}
		if (!ok)
			return SP_RELEASE_NOT_RECIPIENT;
	} else
		return SP_RELEASE_NOT_RECIPIENT;
	if (e->retracted || !live)
		return SP_RELEASE_RETRACTED;
	if ((e->expires != 0 && e->expires <= now) || e->shredded != 0)
		return SP_RELEASE_EXPIRED;
	if (ri >= 0 && e->verify_hash[0] != '\0' &&
	    (e->rstate == NULL || !e->rstate[ri].verified)) {
		if (e->rstate != NULL && e->rstate[ri].verify_fails >= SP_STORE_VERIFY_TRIES)
			return SP_RELEASE_VERIFY_LOCKED;
		return SP_RELEASE_VERIFY_NEEDED;
	}
	return SP_RELEASE_OK;
}

unsigned
sp_release_status(enum sp_release_reason reason, const char **msg)
{
	static const struct {
		unsigned status;
		const char *msg;
	} t[] = {
		[SP_RELEASE_OK] = {200, "released"},
		[SP_RELEASE_NOT_LOGGED_IN] = {401, "not logged in"},
		[SP_RELEASE_UNKNOWN] = {404, "unknown envelope"},
		[SP_RELEASE_NOT_RECIPIENT] = {403, "not a recipient of this envelope"},
		[SP_RELEASE_RETRACTED] = {410, "This message was withdrawn by the sender"},
		[SP_RELEASE_EXPIRED] = {410, "This message has expired"},
		[SP_RELEASE_VERIFY_NEEDED] = {409, "the sender asks for a verification answer "
		    "before this message opens"},
		[SP_RELEASE_PASSWORD_NEEDED] = {401, "this message needs your password"},
		[SP_RELEASE_VERIFY_LOCKED] = {423, "too many wrong verification answers: ask the "
		    "sender to send the message again"},
	};
	unsigned i = (unsigned)reason;

	if (i >= sizeof(t) / sizeof(t[0]) || t[i].msg == NULL) {
		if (msg != NULL)
			*msg = "internal error";
		return 500;
	}
	if (msg != NULL)
		*msg = t[i].msg;
	return t[i].status;
}

const char *
sp_release_reason_name(enum sp_release_reason reason)
{
	switch (reason) {
	case SP_RELEASE_RETRACTED:
		return "retracted";
	case SP_RELEASE_EXPIRED:
		return "expired";
	case SP_RELEASE_VERIFY_LOCKED:
		return "verify-locked";
	case SP_RELEASE_VERIFY_NEEDED:
		return "verify";
	case SP_RELEASE_PASSWORD_NEEDED:
		return "password";
	default:
		return NULL;
	}
}

/* --- the answer ---------------------------------------------------------- */

/* Bytes of the valid UTF-8 sequence at p (1 to 4), 0 when it is not one. */
static size_t
utf8_seq(const unsigned char *p)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n, i;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		if (p[0] == 0xe0)
			lo = 0xa0;	/* no overlong forms */
		else if (p[0] == 0xed)
			hi = 0x9f;	/* no surrogates */
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		if (p[0] == 0xf0)
			lo = 0x90;
		else if (p[0] == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

/* s as a JSON string; a byte that is not valid UTF-8 becomes U+FFFD. */
static void
put_str(struct sp_buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	char esc[8];
	size_t run, n;

	sp_buf_append(b, "\"", 1);
	while (*p != '\0') {
		for (run = 0; p[run] >= 0x20 && p[run] < 0x80 && p[run] != '"' && p[run] != '\\';
		    run++)
			;
		if (run > 0) {
			sp_buf_append(b, p, run);
			p += run;
		} else if (*p == '"' || *p == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*p++;
			sp_buf_append(b, esc, 2);
		} else if (*p < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", *p++);
			sp_buf_append(b, esc, 6);
		} else if ((n = utf8_seq(p)) > 0) {
			sp_buf_append(b, p, n);
			p += n;
		} else {
			sp_buf_append(b, "\xef\xbf\xbd", 3);
			p++;
		}
	}
	sp_buf_append(b, "\"", 1);
}

/* ,"key": then s as a JSON string, or null when s is NULL. */
static void
put_field(struct sp_buf *b, const char *key, const char *s)
{
	sp_buf_printf(b, ",\"%s\":", key);
	if (s == NULL)
		sp_buf_append(b, "null", 4);
	else
		put_str(b, s);
}

/* ,"key": then the bytes p[0..n) in lower-case hex (hex 1) or base64url,
 * or null when have is 0. */
static void
put_bytes(struct sp_buf *b, const char *key, int have, const unsigned char *p, size_t n,
    int hex)
{
	char h[2 * 64 + 1];

	sp_buf_printf(b, ",\"%s\":", key);
	if (!have || (hex && n > 64)) {
		sp_buf_append(b, "null", 4);
		return;
	}
	sp_buf_append(b, "\"", 1);
	if (hex) {
		sp_hex_encode(p, n, h);
		sp_buf_append(b, h, 2 * n);
	} else
		sp_b64url_encode(b, p, n);
	sp_buf_append(b, "\"", 1);
}

int
sp_release_rcpt_hidden(const struct sp_envelope_rec *e, size_t i)
{
	return e->rstate != NULL && i < e->nrcpt && e->rstate[i].hidden;
}

int
sp_release_answer(struct sp_buf *b, const struct sp_envelope_view *v, long reader,
    const unsigned char *part, size_t part_len)
{
	const struct sp_envelope_rec *e = &v->e;
	const struct sp_org *o = &v->org;
	const char *shown = o->display[0] != '\0' ? o->display : o->name;
	char logo[64];
	size_t i, shown_n;
	int have_key = v->have_key && e->sealed && v->key.org_id == e->org_id;

	if (sp_buf_reserve(b, 1536 + e->nrcpt * (SP_STORE_EMAIL_MAX / 4)) != SP_OK)
		return SP_ERR_NOMEM;
	sp_buf_append(b, "{\"id\":", 6);
	put_str(b, e->id);
	put_bytes(b, "server_part", 1, part, part_len, 0);
	put_field(b, "from", e->from);
	sp_buf_append_str(b, ",\"recipients\":[");
	for (i = 0, shown_n = 0; i < e->nrcpt; i++) {
		if (sp_release_rcpt_hidden(e, i))
			continue;
		if (shown_n++ > 0)
			sp_buf_append(b, ",", 1);
		put_str(b, e->rcpt[i] != NULL ? e->rcpt[i] : "");
	}
	sp_buf_printf(b, "],\"bcc\":%s,\"created\":%lld,\"expires\":%lld",
	    reader >= 0 && sp_release_rcpt_hidden(e, (size_t)reader) ? "true" : "false",
	    (long long)e->created, (long long)e->expires);
	put_field(b, "org", shown);
	sp_buf_printf(b, ",\"format\":%d", e->format ? e->format : 1);
	put_field(b, "level", e->level[0] ? e->level : "medium");
	put_field(b, "kind", e->kind == SP_ENV_KIND_REPLY ? "reply" : "message");
	put_bytes(b, "header_sha256", e->sealed, e->header_sha, sizeof(e->header_sha), 1);
	put_bytes(b, "ct_sha256", e->sealed, e->ct_sha, sizeof(e->ct_sha), 1);
	put_bytes(b, "sig", e->sealed, e->sig, sizeof(e->sig), 0);
	put_field(b, "kid", e->sealed && e->kid[0] ? e->kid : NULL);
	put_bytes(b, "sig_key", have_key, v->key.pub, sizeof(v->key.pub), 0);
	sp_buf_append_str(b, ",\"brand\":{\"name\":");
	put_str(b, shown);
	put_field(b, "colour", o->colour[0] ? o->colour : NULL);
	snprintf(logo, sizeof(logo), "/orgs/%lld/logo", (long long)e->org_id);
	put_field(b, "logo", o->has_logo ? logo : NULL);
	return sp_buf_append(b, "}}", 2);
}

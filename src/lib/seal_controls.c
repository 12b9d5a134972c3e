/*
 * seal_controls.c - the sender controls of a message: its X-Sealpost-*
 * header fields (seal.h), read before sealing and removed from the copy
 * that is sealed.
 * SECURITY: reads untrusted header values (bounded, decoded by GMime);
 * the verification secret is wiped and never repeated in a message.
 */
#include "seal.h"
#include "message.h"
#include "password.h"
#include "seal_internal.h"

#include <errno.h>
#include <gmime/gmime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEAL_MAX_DAYS 3650
#define SEAL_HINT_MAX 200	/* bytes, as the key server stores it */

static const char *const control_fields[] = {
	"X-Sealpost-Expires", "X-Sealpost-Notify", "X-Sealpost-Verify",
	"X-Sealpost-Verify-Hint", "X-Sealpost-Level",
};

/* 1 when name[0..n) is one of the k names of list (ASCII case folded). */
static int
field_in(const char *name, size_t n, const char *const *list, size_t k)
{
	while (k-- > 0)
		if (strlen(list[k]) == n && g_ascii_strncasecmp(name, list[k], n) == 0)
			return 1;
	return 0;
}

int
sp_seal_parse_expires(const char *v, int64_t now, int64_t *out, struct sp_err *err)
{
	const char *name = "X-Sealpost-Expires";
	GDateTime *dt = NULL;
	int64_t t;
	char *end;
	long n;
	int y, m, d, used = 0;

	*out = 0;
	if (*v == '\0')
		return sp_err_set(err, SP_ERR_INVALID, "%s: the value is empty", name);
	if (v[0] >= '0' && v[0] <= '9' && (v[strlen(v) - 1] == 'd' || v[strlen(v) - 1] == 'D') &&
	    strspn(v, "0123456789") == strlen(v) - 1) {
		errno = 0;
		n = strtol(v, &end, 10);
		if (errno != 0 || n < 1 || n > SEAL_MAX_DAYS)
			return sp_err_set(err, SP_ERR_INVALID, "%s: %s: give 1d to %dd", name, v,
			    SEAL_MAX_DAYS);
		*out = now + (int64_t)n * 86400;
		return SP_OK;
	}
	if (strlen(v) == 10 && sscanf(v, "%4d-%2d-%2d%n", &y, &m, &d, &used) == 3 && used == 10 &&
	    v[4] == '-' && v[7] == '-' && strspn(v, "0123456789-") == 10) {
		/* the whole of that day counts: it ends at 23:59:59 UTC */
		if ((dt = g_date_time_new_utc(y, m, d, 23, 59, 59)) == NULL)
			return sp_err_set(err, SP_ERR_INVALID, "%s: %s: no such date", name, v);
	} else if (strspn(v, "0123456789-") == strlen(v) ||	/* a day not as YYYY-MM-DD */
	    (dt = g_mime_utils_header_decode_date(v)) == NULL ||
	    g_date_time_to_unix(dt) <= 0) {
		if (dt != NULL)
			g_date_time_unref(dt);
		return sp_err_set(err, SP_ERR_INVALID,
		    "%s: %.200s: not a period (\"30d\"), a day (\"2027-01-31\") or an RFC 5322 date",
		    name, v);
	}
	t = g_date_time_to_unix(dt);
	g_date_time_unref(dt);
	if (t <= now)
		return sp_err_set(err, SP_ERR_INVALID, "%s: %.200s: that is in the past", name, v);
	if (t - now > (int64_t)SEAL_MAX_DAYS * 86400)
		return sp_err_set(err, SP_ERR_INVALID, "%s: %.200s: more than %d days ahead", name, v,
		    SEAL_MAX_DAYS);
	*out = t;
	return SP_OK;
}

void
sp_seal_controls_clear(struct sp_seal_controls *ctl)
{
	if (ctl->verify != NULL) {
		sp_wipe(ctl->verify, strlen(ctl->verify));
		free(ctl->verify);
	}
	free(ctl->verify_hint);
	memset(ctl, 0, sizeof(*ctl));
	ctl->notify_read = -1;
}

/* A field's value unfolded, RFC 2047 words decoded, white space trimmed
 * (g_free it).  NULL when the value does not decode. */
static char *
control_value(const char *raw)
{
	char *unfolded = g_mime_utils_header_unfold(raw);
	char *text, *t, *e;

	if (unfolded == NULL)
		return NULL;
	text = g_mime_utils_header_decode_text(NULL, unfolded);
	g_free(unfolded);
	if (text == NULL)
		return NULL;
	for (t = text; *t == ' ' || *t == '\t'; t++)
		;
	for (e = t + strlen(t); e > t && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'); e--)
		;
	memmove(text, t, (size_t)(e - t));
	text[e - t] = '\0';
	return text;
}

static int
has_controls(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

static int
read_one_control(const char *name, char *v, int64_t now, struct sp_seal_controls *ctl,
    struct sp_err *err)
{
	char *norm = NULL;
	int st;

	if (g_ascii_strcasecmp(name, "X-Sealpost-Expires") == 0)
		return sp_seal_parse_expires(v, now, &ctl->expires, err);
	if (g_ascii_strcasecmp(name, "X-Sealpost-Notify") == 0) {
		if (g_ascii_strcasecmp(v, "read") == 0)
			ctl->notify_read = 1;
		else if (g_ascii_strcasecmp(v, "none") == 0)
			ctl->notify_read = 0;
		else
			return sp_err_set(err, SP_ERR_INVALID,
			    "X-Sealpost-Notify: %.200s: give \"read\" (or \"none\")", v);
		return SP_OK;
	}
	if (g_ascii_strcasecmp(name, "X-Sealpost-Level") == 0) {
		if (g_ascii_strcasecmp(v, "high") != 0 && g_ascii_strcasecmp(v, "medium") != 0 &&
		    g_ascii_strcasecmp(v, "low") != 0)
			return sp_err_set(err, SP_ERR_INVALID,
			    "X-Sealpost-Level: %.200s: give high, medium or low", v);
		snprintf(ctl->level, sizeof(ctl->level), "%s", v);
		for (char *p = ctl->level; *p != '\0'; p++)
			*p = g_ascii_tolower(*p);
		return SP_OK;
	}
	if (g_ascii_strcasecmp(name, "X-Sealpost-Verify-Hint") == 0) {
		if (*v == '\0' || strlen(v) > SEAL_HINT_MAX || has_controls(v) ||
		    !g_utf8_validate(v, -1, NULL))
			return sp_err_set(err, SP_ERR_INVALID,
			    "X-Sealpost-Verify-Hint: %.60s%s: give a question of 1 to %d bytes of text",
			    v, strlen(v) > 60 ? "..." : "", SEAL_HINT_MAX);
		if ((ctl->verify_hint = strdup(v)) == NULL)
			return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
		return SP_OK;
	}
	/* X-Sealpost-Verify: the secret itself is never repeated in a message */
	if ((st = sp_answer_normalize(v, &norm, err)) != SP_OK)
		return sp_err_set(err, SP_ERR_INVALID,
		    "X-Sealpost-Verify: the secret is empty or not valid text");
	ctl->verify = norm;
	return SP_OK;
}

int
seal_controls_from(GMimeObject *hdrs, int64_t now, struct sp_seal_controls *ctl,
    struct sp_err *err)
{
	GMimeHeaderList *list;
	unsigned seen = 0;
	int i, n, st = SP_OK;
	size_t k;

	memset(ctl, 0, sizeof(*ctl));
	ctl->notify_read = -1;
	if (hdrs == NULL)
		return SP_OK;	/* sp_msg_check() says what is wrong with it */
	list = g_mime_object_get_header_list(hdrs);
	n = g_mime_header_list_get_count(list);
	for (i = 0; i < n && st == SP_OK; i++) {
		GMimeHeader *h = g_mime_header_list_get_header_at(list, i);
		const char *name = g_mime_header_get_name(h);
		const char *rawv = g_mime_header_get_raw_value(h);
		char *v;

		for (k = 0; k < sizeof(control_fields) / sizeof(control_fields[0]); k++)
			if (g_ascii_strcasecmp(name, control_fields[k]) == 0)
				break;
		if (k == sizeof(control_fields) / sizeof(control_fields[0]))
			continue;
		if (seen & (1u << k)) {
			st = sp_err_set(err, SP_ERR_INVALID, "%s appears more than once", control_fields[k]);
			break;
		}
		seen |= 1u << k;
		if ((v = control_value(rawv ? rawv : "")) == NULL) {
			st = sp_err_set(err, SP_ERR_INVALID, "%s: the value cannot be read",
			    control_fields[k]);
			break;
		}
		if (*v == '\0')
			st = sp_err_set(err, SP_ERR_INVALID, "%s: the value is empty", control_fields[k]);
		else
			st = read_one_control(control_fields[k], v, now, ctl, err);
		sp_wipe(v, strlen(v));
		g_free(v);
	}
	if (st == SP_OK && ctl->verify_hint != NULL && ctl->verify == NULL)
		st = sp_err_set(err, SP_ERR_INVALID,
		    "X-Sealpost-Verify-Hint without X-Sealpost-Verify: give the secret too");
	if (st != SP_OK)
		sp_seal_controls_clear(ctl);
	return st;
}

int
sp_seal_controls_read(const unsigned char *raw, size_t len, int64_t now,
    struct sp_seal_controls *ctl, struct sp_err *err)
{
	GMimeObject *hdrs;
	int crlf, st;
	size_t k;

	k = sp_msg_preamble_len(raw, len);	/* a BOM or mbox "From " line */
	raw += k;
	len -= k;
	hdrs = seal_parse_headers(raw, seal_header_block_len(raw, len, &crlf));
	st = seal_controls_from(hdrs, now, ctl, err);
	if (hdrs != NULL)
		g_object_unref(hdrs);
	return st;
}

/* Fields the sealed message loses besides the controls: every recipient
 * reads the one envelope, so a blind copy's address must not travel in
 * it (RFC 5322 3.6.3: the copy for To: and Cc: goes without Bcc:). */
static const char *const blind_fields[] = {"Bcc", "Resent-Bcc"};

/* 1 when the header line at raw[i..line) starts a control field or a
 * blind copy's field. */
static int
starts_control(const unsigned char *raw, size_t i, size_t line)
{
	size_t name = i, colon;

	if (i >= line || raw[i] == ' ' || raw[i] == '\t')
		return 0;
	while (name < line && raw[name] != ':' && raw[name] != ' ' && raw[name] != '\t')
		name++;
	for (colon = name; colon < line && (raw[colon] == ' ' || raw[colon] == '\t'); colon++)
		;
	return colon < line && raw[colon] == ':' &&
	    (field_in((const char *)raw + i, name - i, control_fields,
	    sizeof(control_fields) / sizeof(control_fields[0])) ||
	    field_in((const char *)raw + i, name - i, blind_fields,
	    sizeof(blind_fields) / sizeof(blind_fields[0])));
}

/* The message as it is sealed: raw without its X-Sealpost-* control fields
 * (the secret of X-Sealpost-Verify must not travel) and without Bcc: and
 * Resent-Bcc:.  *out points into raw when there is nothing to remove, else
 * into copy. */
int
seal_strip_controls(const unsigned char *raw, size_t len, struct sp_buf *copy,
    const unsigned char **out, size_t *outlen)
{
	size_t hlen, i, line, pre = sp_msg_preamble_len(raw, len);
	int crlf, skipping = 0, found = 0, st = SP_OK;

	*out = raw;
	*outlen = len;
	/* the preamble (BOM, mbox "From " line) is kept as it is */
	hlen = pre + seal_header_block_len(raw + pre, len - pre, &crlf);
	for (i = pre; i < hlen && !found; i = line) {
		const unsigned char *nl = memchr(raw + i, '\n', hlen - i);

		line = nl ? (size_t)(nl - raw) + 1 : hlen;
		found = starts_control(raw, i, line);
	}
	if (!found)
		return SP_OK;
	st = sp_buf_append(copy, raw, pre);
	for (i = pre; i < hlen && st == SP_OK; i = line) {
		const unsigned char *nl = memchr(raw + i, '\n', hlen - i);

		line = nl ? (size_t)(nl - raw) + 1 : hlen;
		if (raw[i] != ' ' && raw[i] != '\t')
			skipping = starts_control(raw, i, line);
		if (!skipping)
			st = sp_buf_append(copy, raw + i, line - i);
	}
	if (st == SP_OK)
		st = sp_buf_append(copy, raw + hlen, len - hlen);
	if (st != SP_OK)
		return st;
	*out = copy->data;
	*outlen = copy->len;
	return SP_OK;
}

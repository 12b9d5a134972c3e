/*
 * milter_msg.c - the per-message state of the milter: envelope sender and
 * recipients, header fields exactly as the MTA passed them, and the body in
 * a capped buffer; rebuilds the message bytes for scanning and sealing.
 * SECURITY: everything here is untrusted mail; every list and buffer is
 * bounded, and the body (plaintext) is wiped when the message ends.
 */
#include "milter.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void
milter_msg_init(struct milter_msg *m, size_t cap)
{
	memset(m, 0, sizeof(*m));
	m->qid[0] = '-';
	sp_buf_init(&m->body, cap);
	clock_gettime(CLOCK_MONOTONIC, &m->start);
}

void
milter_msg_clear(struct milter_msg *m)
{
	size_t i;

	free(m->sender);
	for (i = 0; i < m->nrcpt; i++)
		free(m->rcpt[i]);
	free(m->rcpt);
	for (i = 0; i < m->nhdrs; i++) {
		free(m->hdrs[i].name);
		free(m->hdrs[i].value);
	}
	free(m->hdrs);
	sp_buf_wipe(&m->body);
	memset(m, 0, sizeof(*m));
}

char *
milter_msg_bare_addr(const char *arg)
{
	const char *s = arg, *e;
	char *out;

	if (s == NULL)
		s = "";
	while (*s == ' ' || *s == '\t')
		s++;
	if (*s == '<') {
		s++;
		e = strchr(s, '>');
		if (e == NULL)
			e = s + strlen(s);
	} else {
		e = s;
		while (*e != '\0' && *e != ' ' && *e != '\t')
			e++;
	}
	if ((out = malloc((size_t)(e - s) + 1)) == NULL)
		return NULL;
	memcpy(out, s, (size_t)(e - s));
	out[e - s] = '\0';
	for (char *p = out; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	return out;
}

int
milter_msg_set_sender(struct milter_msg *m, const char *arg)
{
	free(m->sender);
	if ((m->sender = milter_msg_bare_addr(arg)) == NULL)
		return SP_ERR_NOMEM;
	return SP_OK;
}

int
milter_msg_add_rcpt(struct milter_msg *m, const char *arg)
{
	char **n, *a;

	if (m->nrcpt >= MILTER_MAX_RCPT)
		return SP_ERR_TOOBIG;
	if ((a = milter_msg_bare_addr(arg)) == NULL)
		return SP_ERR_NOMEM;
	if ((n = realloc(m->rcpt, (m->nrcpt + 1) * sizeof(*n))) == NULL) {
		free(a);
		return SP_ERR_NOMEM;
	}
	m->rcpt = n;
	m->rcpt[m->nrcpt++] = a;
	return SP_OK;
}

int
milter_msg_add_header(struct milter_msg *m, const char *name, const char *value)
{
	size_t nl = strlen(name), vl = strlen(value);

	m->size += nl + vl + 3;
	if (m->too_many_headers)
		return SP_ERR_TOOBIG;
	if (m->nhdrs >= MILTER_MAX_HEADERS || m->hdr_bytes + nl + vl > MILTER_MAX_HEADER_BYTES) {
		m->too_many_headers = 1;
		return SP_ERR_TOOBIG;
	}
	if (m->nhdrs == m->hdrs_cap) {
		size_t cap = m->hdrs_cap ? m->hdrs_cap * 2 : 32;
		struct milter_hdr *n = realloc(m->hdrs, cap * sizeof(*n));

		if (n == NULL)
			return SP_ERR_NOMEM;
		m->hdrs = n;
		m->hdrs_cap = cap;
	}
	m->hdrs[m->nhdrs].name = strdup(name);
	m->hdrs[m->nhdrs].value = strdup(value);
	if (m->hdrs[m->nhdrs].name == NULL || m->hdrs[m->nhdrs].value == NULL) {
		free(m->hdrs[m->nhdrs].name);
		free(m->hdrs[m->nhdrs].value);
		return SP_ERR_NOMEM;
	}
	m->nhdrs++;
	m->hdr_bytes += nl + vl;
	return SP_OK;
}

int
milter_msg_add_body(struct milter_msg *m, const unsigned char *p, size_t n)
{
	m->size += n;
	if (m->too_big)
		return SP_ERR_TOOBIG;
	if (sp_buf_append(&m->body, p, n) != SP_OK) {
		/* keep nothing of a message we will not process */
		m->too_big = 1;
		sp_buf_wipe(&m->body);
		return SP_ERR_TOOBIG;
	}
	return SP_OK;
}

/* Append v with every bare LF turned into CRLF. */
static int
append_crlf(struct sp_buf *out, const char *v)
{
	const char *p = v, *nl;
	int st;

	while ((nl = strchr(p, '\n')) != NULL) {
		size_t n = (size_t)(nl - p);

		if (n > 0 && p[n - 1] == '\r')
			n--;
		if ((st = sp_buf_append(out, p, n)) != SP_OK ||
		    (st = sp_buf_append(out, "\r\n", 2)) != SP_OK)
			return st;
		p = nl + 1;
	}
	return sp_buf_append_str(out, p);
}

int
milter_msg_raw(const struct milter_msg *m, struct sp_buf *out)
{
	size_t i;
	int st;

	for (i = 0; i < m->nhdrs; i++) {
		const char *v = m->hdrs[i].value;

		if ((st = sp_buf_append_str(out, m->hdrs[i].name)) != SP_OK ||
		    (st = sp_buf_append(out, ":", 1)) != SP_OK)
			return st;
		if (!m->hdr_leadspc && v[0] != '\0' && (st = sp_buf_append(out, " ", 1)) != SP_OK)
			return st;
		if ((st = append_crlf(out, v)) != SP_OK ||
		    (st = sp_buf_append(out, "\r\n", 2)) != SP_OK)
			return st;
	}
	if ((st = sp_buf_append(out, "\r\n", 2)) != SP_OK)
		return st;
	if (m->body.len > 0)
		return sp_buf_append(out, m->body.data, m->body.len);
	return SP_OK;
}

const char *
milter_msg_header(const struct milter_msg *m, const char *name)
{
	size_t i;

	for (i = 0; i < m->nhdrs; i++) {
		if (strcasecmp(m->hdrs[i].name, name) == 0) {
			const char *v = m->hdrs[i].value;

			while (*v == ' ' || *v == '\t')
				v++;
			return v;
		}
	}
	return NULL;
}

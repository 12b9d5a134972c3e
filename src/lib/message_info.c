/*
 * message_info.c - what the message model reads from the headers: the
 * sealer's info (from, recipients, subject, date) and display strings cut
 * to a bound.
 * SECURITY: parses untrusted mail; strings are made valid UTF-8, free of
 * control characters and bounded before they reach the manifest.
 */
#include "message_internal.h"

#include <stdlib.h>
#include <string.h>

/* See message_internal.h; the bound keeps the manifest small whatever the
 * headers hold. */
char *
msg_utf8_cut(const char *s, size_t max)
{
	char *v;
	size_t n;

	if (s == NULL)
		return NULL;
	v = g_utf8_make_valid(s, -1);
	if (v == NULL)
		return NULL;
	for (n = 0; v[n] != '\0'; n++)
		if ((unsigned char)v[n] < 0x20 || v[n] == 0x7f)
			v[n] = ' ';	/* display text: no control characters */
	g_strstrip(v);
	if ((n = strlen(v)) > max) {
		n = max;
		while (n > 0 && ((unsigned char)v[n] & 0xc0) == 0x80)
			n--;
		v[n] = '\0';
	}
	return v;
}

char *
msg_utf8_dup(const char *s)
{
	return msg_utf8_cut(s, MSG_DISPLAY_MAX);
}

char *
msg_addr_display(InternetAddressList *l)
{
	char *s, *v;

	if (l == NULL || internet_address_list_length(l) == 0)
		return NULL;
	s = internet_address_list_to_string(l, NULL, FALSE);
	v = msg_utf8_dup(s);
	g_free(s);
	return v;
}

static int
add_rcpt(struct sp_msg_info *info, InternetAddressList *l, const char *field, int depth)
{
	int i, n = l != NULL ? internet_address_list_length(l) : 0, st;

	for (i = 0; i < n; i++) {
		InternetAddress *a = internet_address_list_get_address(l, i);
		const char *addr;
		char *low;
		size_t j;

		if (INTERNET_ADDRESS_IS_GROUP(a)) {
			if (depth < 4 && (st = add_rcpt(info,
			    internet_address_group_get_members(INTERNET_ADDRESS_GROUP(a)), field,
			    depth + 1)) != SP_OK)
				return st;
			continue;
		}
		if (!INTERNET_ADDRESS_IS_MAILBOX(a))
			continue;
		addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a));
		if (addr == NULL || addr[0] == '\0' || !g_utf8_validate(addr, -1, NULL))
			continue;
		if ((low = g_ascii_strdown(addr, -1)) == NULL)
			return SP_ERR_NOMEM;
		for (j = 0; j < info->nrcpt; j++)
			if (strcmp(info->rcpt[j], low) == 0)
				break;
		if (j < info->nrcpt) {
			g_free(low);
			continue;
		}
		if (info->nrcpt >= SP_MSG_MAX_RECIPIENTS) {
			g_free(low);
			return SP_ERR_TOOBIG;
		}
		if (info->nrcpt % 16 == 0) {
			char **nr = realloc(info->rcpt, (info->nrcpt + 16) * sizeof(*nr));
			const char **nf;

			if (nr == NULL) {
				g_free(low);
				return SP_ERR_NOMEM;
			}
			info->rcpt = nr;
			nf = realloc(info->rcpt_field, (info->nrcpt + 16) * sizeof(*nf));
			if (nf == NULL) {
				g_free(low);
				return SP_ERR_NOMEM;
			}
			info->rcpt_field = nf;
		}
		info->rcpt_field[info->nrcpt] = field;
		info->rcpt[info->nrcpt] = strdup(low);
		g_free(low);
		if (info->rcpt[info->nrcpt] == NULL)
			return SP_ERR_NOMEM;
		info->nrcpt++;
	}
	return SP_OK;
}

static char *
first_mailbox(InternetAddressList *l)
{
	int i, n = l != NULL ? internet_address_list_length(l) : 0;

	for (i = 0; i < n; i++) {
		InternetAddress *a = internet_address_list_get_address(l, i);
		const char *addr;

		if (INTERNET_ADDRESS_IS_GROUP(a)) {
			char *s = first_mailbox(internet_address_group_get_members(INTERNET_ADDRESS_GROUP(a)));
			if (s != NULL)
				return s;
			continue;
		}
		if (!INTERNET_ADDRESS_IS_MAILBOX(a))
			continue;
		addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a));
		if (addr != NULL && addr[0] != '\0' && g_utf8_validate(addr, -1, NULL))
			return g_ascii_strdown(addr, -1);
	}
	return NULL;
}

static char *
g_to_malloc(char *s)
{
	char *r;

	if (s == NULL)
		return NULL;
	r = strdup(s);
	g_free(s);
	return r;
}

int
msg_fill_info(GMimeMessage *m, struct sp_msg_info *info)
{
	int st;

	if (m == NULL)
		return SP_OK;
	info->from = g_to_malloc(first_mailbox(g_mime_message_get_from(m)));
	info->subject = g_to_malloc(msg_utf8_dup(g_mime_message_get_subject(m)));
	info->date = g_to_malloc(msg_utf8_dup(g_mime_object_get_header(GMIME_OBJECT(m), "Date")));
	if ((st = add_rcpt(info, g_mime_message_get_to(m), "To", 0)) != SP_OK)
		return st;
	return add_rcpt(info, g_mime_message_get_cc(m), "Cc", 0);
}

/*
 * reply_build.c - a reply from the portal as a MIME message, made with
 * GMime (reply.h): our own output from checked values, never a parse of
 * what the browser sent (except a forwarded message/rfc822 attachment,
 * which GMime parses to carry it as a message part).
 * SECURITY: every header value is checked (sp_reply_line_ok,
 * sp_reply_msgid_ok, addresses without control characters) before GMime
 * encodes it; the message has no Bcc: field.
 */
#include <gmime/gmime.h>
#include <stdio.h>
#include <string.h>

#include "crypto.h"
#include "reply.h"

/* A media type "type/subtype" of token characters, split into t and s. */
static int
media_type_split(const char *in, char *t, size_t tsz, char *s, size_t ssz)
{
	const char *slash, *p;
	size_t n;

	if (in == NULL || strlen(in) > SP_REPLY_TYPE_MAX || (slash = strchr(in, '/')) == NULL)
		return 0;
	for (p = in; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (p == slash)
			continue;
		if (!g_ascii_isalnum(c) && strchr("!#$&-^_.+", c) == NULL)
			return 0;
	}
	n = (size_t)(slash - in);
	if (n == 0 || n >= tsz || slash[1] == '\0' || strlen(slash + 1) >= ssz ||
	    strchr(slash + 1, '/') != NULL)
		return 0;
	memcpy(t, in, n);
	t[n] = '\0';
	snprintf(s, ssz, "%s", slash + 1);
	return 1;
}

static int
addr_ok(const char *a)
{
	return a != NULL && *a != '\0' && strchr(a, '@') != NULL && sp_reply_line_ok(a, strlen(a)) &&
	    strpbrk(a, " <>,;:\"()[]\\") == NULL;
}

/* The attachment as a MIME part: message/rfc822 parsed into a message
 * part when it parses, else a base64 leaf part. */
static GMimeObject *
attachment_part(const struct sp_reply_part *a)
{
	char t[SP_REPLY_TYPE_MAX + 1], s[SP_REPLY_TYPE_MAX + 1];
	GMimeStream *mem;
	GMimeDataWrapper *dw;
	GMimePart *part;
	GMimeObject *obj;

	if (!media_type_split(a->type, t, sizeof(t), s, sizeof(s))) {
		snprintf(t, sizeof(t), "application");
		snprintf(s, sizeof(s), "octet-stream");
	}
	if (g_ascii_strcasecmp(t, "message") == 0 && g_ascii_strcasecmp(s, "rfc822") == 0) {
		GMimeParser *parser;
		GMimeMessage *inner;

		mem = g_mime_stream_mem_new_with_buffer((const char *)a->data, a->len);
		parser = g_mime_parser_new_with_stream(mem);
		inner = g_mime_parser_construct_message(parser, NULL);
		g_object_unref(parser);
		g_object_unref(mem);
		if (inner != NULL) {
			GMimeMessagePart *mp = g_mime_message_part_new_with_message("rfc822", inner);

			g_object_unref(inner);
			obj = GMIME_OBJECT(mp);
			g_mime_object_set_disposition(obj, GMIME_DISPOSITION_ATTACHMENT);
			g_mime_object_set_content_disposition_parameter(obj, "filename", a->name);
			return obj;
		}
		snprintf(t, sizeof(t), "application");
		snprintf(s, sizeof(s), "octet-stream");
	} else if (g_ascii_strcasecmp(t, "message") == 0 || g_ascii_strcasecmp(t, "multipart") == 0) {
		/* composite types are not leaf parts: carried as bytes */
		snprintf(t, sizeof(t), "application");
		snprintf(s, sizeof(s), "octet-stream");
	}
	part = g_mime_part_new_with_type(t, s);
	mem = g_mime_stream_mem_new();
	g_mime_stream_write(mem, (const char *)a->data, a->len);
	g_mime_stream_reset(mem);
	dw = g_mime_data_wrapper_new_with_stream(mem, GMIME_CONTENT_ENCODING_DEFAULT);
	g_mime_part_set_content(part, dw);
	g_object_unref(dw);
	g_object_unref(mem);
	g_mime_part_set_content_encoding(part, GMIME_CONTENT_ENCODING_BASE64);
	obj = GMIME_OBJECT(part);
	g_mime_object_set_disposition(obj, GMIME_DISPOSITION_ATTACHMENT);
	g_mime_part_set_filename(part, a->name);
	return obj;
}

int
sp_reply_build(const struct sp_reply_msg *m, struct sp_buf *out, struct sp_err *err)
{
	GMimeMessage *msg;
	GMimeTextPart *text;
	GMimeObject *body;
	GMimeFormatOptions *fo;
	GMimeStream *mem;
	GByteArray *arr;
	GDateTime *dt;
	InternetAddressList *l;
	char rnd[40], id[300];
	size_t i;
	int st;

	if (!addr_ok(m->from_addr))
		return sp_err_set(err, SP_ERR_INVALID, "from: not an address");
	if (m->from_name != NULL && *m->from_name != '\0' &&
	    !sp_reply_line_ok(m->from_name, strlen(m->from_name)))
		return sp_err_set(err, SP_ERR_INVALID, "from: the name is not one line of text");
	if (m->nto == 0)
		return sp_err_set(err, SP_ERR_INVALID, "to: no recipient");
	for (i = 0; i < m->nto; i++)
		if (!addr_ok(m->to[i]))
			return sp_err_set(err, SP_ERR_INVALID, "to: not an address");
	if (m->subject == NULL || strlen(m->subject) > SP_REPLY_SUBJECT_MAX ||
	    !sp_reply_line_ok(m->subject, strlen(m->subject)))
		return sp_err_set(err, SP_ERR_INVALID, "subject: one line of text, 1 to %d bytes",
		    SP_REPLY_SUBJECT_MAX);
	if (m->text == NULL || m->text_len > SP_REPLY_TEXT_MAX ||
	    !g_utf8_validate(m->text, (gssize)m->text_len, NULL) ||
	    memchr(m->text, '\0', m->text_len) != NULL)
		return sp_err_set(err, SP_ERR_INVALID, "text: UTF-8 text of at most %d bytes",
		    SP_REPLY_TEXT_MAX);
	if (m->in_reply_to != NULL && !sp_reply_msgid_ok(m->in_reply_to, 1))
		return sp_err_set(err, SP_ERR_INVALID, "in_reply_to: not a message id");
	if (m->references != NULL && !sp_reply_msgid_ok(m->references, 0))
		return sp_err_set(err, SP_ERR_INVALID, "references: not a list of message ids");
	if (m->msgid_domain == NULL || strpbrk(m->msgid_domain, " <>@") != NULL ||
	    !sp_reply_line_ok(m->msgid_domain, strlen(m->msgid_domain)))
		return sp_err_set(err, SP_ERR_INVALID, "message id domain");
	for (i = 0; i < m->nparts; i++)
		if (m->parts[i].name == NULL || strlen(m->parts[i].name) > SP_REPLY_NAME_MAX ||
		    !sp_reply_line_ok(m->parts[i].name, strlen(m->parts[i].name)) ||
		    strpbrk(m->parts[i].name, "/\\") != NULL)
			return sp_err_set(err, SP_ERR_INVALID, "attachments: name %zu is not a file name",
			    i + 1);
	if ((st = sp_token_new(rnd, sizeof(rnd), "", 18)) != SP_OK)
		return sp_err_set(err, st, "no randomness");
	snprintf(id, sizeof(id), "%s@%s", rnd, m->msgid_domain);

	msg = g_mime_message_new(TRUE);
	l = g_mime_message_get_addresses(msg, GMIME_ADDRESS_TYPE_FROM);
	internet_address_list_add(l, internet_address_mailbox_new(
	    m->from_name != NULL && *m->from_name != '\0' ? m->from_name : NULL, m->from_addr));
	l = g_mime_message_get_addresses(msg, GMIME_ADDRESS_TYPE_TO);
	for (i = 0; i < m->nto; i++)
		internet_address_list_add(l, internet_address_mailbox_new(NULL, m->to[i]));
	g_mime_message_set_subject(msg, m->subject, "utf-8");
	dt = g_date_time_new_from_unix_utc(m->date);
	g_mime_message_set_date(msg, dt);
	g_date_time_unref(dt);
	g_mime_message_set_message_id(msg, id);
	if (m->in_reply_to != NULL)
		g_mime_object_set_header(GMIME_OBJECT(msg), "In-Reply-To", m->in_reply_to, NULL);
	if (m->references != NULL)
		g_mime_object_set_header(GMIME_OBJECT(msg), "References", m->references, NULL);

	text = g_mime_text_part_new_with_subtype("plain");
	{
		char *t = g_strndup(m->text, m->text_len);

		g_mime_text_part_set_text(text, t);
		g_free(t);
	}
	g_mime_text_part_set_charset(text, "utf-8");
	g_mime_part_set_content_encoding(GMIME_PART(text),
	    g_mime_part_get_best_content_encoding(GMIME_PART(text), GMIME_ENCODING_CONSTRAINT_7BIT));
	if (m->nparts == 0)
		body = GMIME_OBJECT(text);
	else {
		GMimeMultipart *mp = g_mime_multipart_new_with_subtype("mixed");

		g_mime_multipart_add(mp, GMIME_OBJECT(text));
		g_object_unref(text);
		for (i = 0; i < m->nparts; i++) {
			GMimeObject *a = attachment_part(&m->parts[i]);

			g_mime_multipart_add(mp, a);
			g_object_unref(a);
		}
		body = GMIME_OBJECT(mp);
	}
	g_mime_message_set_mime_part(msg, body);
	g_object_unref(body);

	fo = g_mime_format_options_new();
	g_mime_format_options_set_newline_format(fo, GMIME_NEWLINE_FORMAT_DOS);
	mem = g_mime_stream_mem_new();
	g_mime_object_write_to_stream(GMIME_OBJECT(msg), fo, mem);
	arr = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
	st = sp_buf_append(out, arr->data, arr->len);
	sp_wipe(arr->data, arr->len);
	g_object_unref(mem);
	g_mime_format_options_free(fo);
	g_object_unref(msg);
	return st == SP_OK ? SP_OK : sp_err_set(err, st, "the reply is too large");
}

/*
 * reply_test.c - secure reply (reply.h): who Reply and Reply All reach,
 * the forward list and its matching, the shape of header texts and
 * message ids, and the MIME message the key server seals (parsed back with
 * GMime); and the outbox's NAME.rcpt beside NAME.eml
 * (sp_transport_send_mime).
 */
#include <dirent.h>
#include <gmime/gmime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "message.h"
#include "reply.h"
#include "transport.h"
#include "t.h"

static void
test_targets(void)
{
	static const struct {
		const char *from, *rcpt[4], *replier, *to, *all;
	} rows[] = {
		/* a recipient replies: the sender; all: sender + the others */
		{"doc@clinic.example", {"pat@x.example", "sam@y.example", NULL}, "pat@x.example",
		    "doc@clinic.example", "doc@clinic.example sam@y.example"},
		/* the sender itself replies (a reply of the key server): nobody for Reply */
		{"pat@x.example", {"doc@clinic.example", NULL}, "pat@x.example", "",
		    "doc@clinic.example"},
		/* repeats and case: once each, lower case */
		{"Doc@Clinic.example", {"doc@clinic.example", "PAT@x.example", "sam@y.example",
		    "SAM@y.example"}, "pat@x.example", "doc@clinic.example",
		    "doc@clinic.example sam@y.example"},
	};
	size_t i, k, n;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct sp_reply_addrs to, all;
		char got[512];

		for (n = 0; n < 4 && rows[i].rcpt[n] != NULL; n++)
			;
		T_EQ_INT(sp_reply_targets(rows[i].from, rows[i].rcpt, n, rows[i].replier, &to, &all),
		    SP_OK);
		got[0] = '\0';
		for (k = 0; k < to.n; k++)
			snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", k ? " " : "", to.v[k]);
		T_CHECK(strcmp(got, rows[i].to) == 0);
		got[0] = '\0';
		for (k = 0; k < all.n; k++)
			snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", k ? " " : "", all.v[k]);
		if (strcmp(got, rows[i].all) != 0)
			fprintf(stderr, "row %zu: all '%s'\n", i, got);
		T_CHECK(strcmp(got, rows[i].all) == 0);
		T_CHECK(!sp_reply_addrs_has(&all, rows[i].replier));
		sp_reply_addrs_clear(&to);
		sp_reply_addrs_clear(&all);
	}
	T_EQ_INT(sp_reply_mode_parse("reply"), SP_REPLY_REPLY);
	T_EQ_INT(sp_reply_mode_parse("all"), SP_REPLY_ALL);
	T_EQ_INT(sp_reply_mode_parse("forward"), SP_REPLY_FORWARD);
	T_EQ_INT(sp_reply_mode_parse("Reply"), -1);
	T_EQ_INT(sp_reply_mode_parse(NULL), -1);
}

static void
test_forward(void)
{
	static const struct {
		const char *in, *out;
		int st;
	} lists[] = {
		{"none", "", SP_OK},
		{"", "", SP_OK},
		{"Partner.Example", "partner.example", SP_OK},
		{"a.example, b.example,a.example", "a.example,b.example", SP_OK},
		{"a.example,,b.example", NULL, SP_ERR_INVALID},
		{"localhost", NULL, SP_ERR_INVALID},
		{"-a.example", NULL, SP_ERR_INVALID},
		{"a-.example", NULL, SP_ERR_INVALID},
		{"a_b.example", NULL, SP_ERR_INVALID},
		{"a.example\nb.example", NULL, SP_ERR_INVALID},
		{"x@a.example", NULL, SP_ERR_INVALID},
	};
	const char *own[] = {"clinic.example"};
	char out[1024];
	struct sp_err err;
	size_t i;

	for (i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		int st = sp_reply_fwd_list_norm(lists[i].in, out, sizeof(out), &err);

		T_EQ_INT(st, lists[i].st);
		if (st == SP_OK)
			T_CHECK(strcmp(out, lists[i].out) == 0);
	}
	/* too many, and too long for the room */
	{
		char many[2048] = "";

		for (i = 0; i < 40; i++)
			snprintf(many + strlen(many), sizeof(many) - strlen(many), "%sd%zu.example",
			    i ? "," : "", i);
		T_EQ_INT(sp_reply_fwd_list_norm(many, out, sizeof(out), &err), SP_ERR_TOOBIG);
		T_EQ_INT(sp_reply_fwd_list_norm("a.example,b.example", out, 12, &err), SP_ERR_TOOBIG);
	}
	T_CHECK(sp_reply_fwd_allowed("x@clinic.example", own, 1, ""));
	T_CHECK(sp_reply_fwd_allowed("x@CLINIC.example", own, 1, ""));
	T_CHECK(!sp_reply_fwd_allowed("x@sub.clinic.example", own, 1, ""));
	T_CHECK(!sp_reply_fwd_allowed("x@evil-clinic.example", own, 1, ""));
	T_CHECK(sp_reply_fwd_allowed("x@b.example", own, 1, "a.example,b.example"));
	T_CHECK(!sp_reply_fwd_allowed("x@c.example", own, 1, "a.example,b.example"));
	T_CHECK(!sp_reply_fwd_allowed("x@example", own, 1, "a.example,b.example"));
	T_CHECK(!sp_reply_fwd_allowed("x@a.example.evil", own, 1, "a.example"));
	T_CHECK(!sp_reply_fwd_allowed("no-at-sign", own, 1, "a.example"));
	T_CHECK(!sp_reply_fwd_allowed("x@a.example", NULL, 0, NULL));
}

static void
test_texts(void)
{
	T_CHECK(sp_reply_line_ok("Re: results", 11));
	T_CHECK(sp_reply_line_ok("Re: r\xc3\xa9sultats", 13));
	T_CHECK(!sp_reply_line_ok("", 0));
	T_CHECK(!sp_reply_line_ok("a\r\nBcc: x", 9));
	T_CHECK(!sp_reply_line_ok("a\nb", 3));
	T_CHECK(!sp_reply_line_ok("a\tb", 3));
	T_CHECK(!sp_reply_line_ok("a\x7f", 2));
	T_CHECK(!sp_reply_line_ok("a\xc2\x85", 3));	/* NEL */
	T_CHECK(!sp_reply_line_ok("a\xe2\x80\xa8", 4));	/* LINE SEPARATOR */
	T_CHECK(!sp_reply_line_ok("\xff\xfe", 2));
	T_CHECK(sp_reply_msgid_ok("<a@b>", 1));
	T_CHECK(sp_reply_msgid_ok("<a@b> <c.d@e.f>", 0));
	T_CHECK(!sp_reply_msgid_ok("<a@b> <c@d>", 1));
	T_CHECK(!sp_reply_msgid_ok("a@b", 1));
	T_CHECK(!sp_reply_msgid_ok("<ab>", 1));
	T_CHECK(!sp_reply_msgid_ok("<@b>", 1));
	T_CHECK(!sp_reply_msgid_ok("<a@>", 1));
	T_CHECK(!sp_reply_msgid_ok("<a@b", 1));
	T_CHECK(!sp_reply_msgid_ok("<a@b>\r\nBcc: x", 0));
	T_CHECK(!sp_reply_msgid_ok("<a b@c>", 1));
	/* spaces only between ids, one each (a fuzzer found the trailing one) */
	T_CHECK(!sp_reply_msgid_ok("<a@b> ", 0));
	T_CHECK(!sp_reply_msgid_ok(" <a@b>", 0));
	T_CHECK(!sp_reply_msgid_ok("<a@b>  <c@d>", 0));
	T_CHECK(!sp_reply_msgid_ok("<a@b> ", 1));
	T_CHECK(!sp_reply_msgid_ok(" ", 0));
	T_CHECK(!sp_reply_msgid_ok("", 0));
}

/* The text of header name in msg's top header, or NULL. */
static const char *
hdr(GMimeMessage *msg, const char *name)
{
	return g_mime_object_get_header(GMIME_OBJECT(msg), name);
}

static void
test_build(void)
{
	const char *to[] = {"doc@clinic.example", "sam@y.example"};
	unsigned char pdf[300];
	const char *eml = "From: a@b.example\r\nSubject: orig\r\n\r\nthe original\r\n";
	struct sp_reply_part parts[] = {
		{"r\xc3\xa9sultat.pdf", "application/pdf", pdf, sizeof(pdf)},
		{"original.eml", "message/rfc822", (const unsigned char *)eml, strlen(eml)},
		{"odd.bin", "not a type", (const unsigned char *)"xyz", 3},
	};
	struct sp_reply_msg m = {"pat@x.example", "Pat Q\xc3\xbc", to, 2, "Re: r\xc3\xa9sultats",
	    "Thanks.\n> quoted\n", 17, "<orig@clinic.example>", "<orig@clinic.example>",
	    "keyd.example", 1790000000, parts, 3};
	struct sp_buf out;
	struct sp_err err;
	GMimeStream *st;
	GMimeParser *p;
	GMimeMessage *msg;
	GMimeObject *body;
	InternetAddressList *l;
	size_t i;

	for (i = 0; i < sizeof(pdf); i++)
		pdf[i] = (unsigned char)(i * 7);
	sp_buf_init(&out, 1 << 20);
	T_EQ_INT(sp_reply_build(&m, &out, &err), SP_OK);
	T_CHECK(memmem(out.data, out.len, "\r\n\r\n", 4) != NULL);
	T_CHECK(memmem(out.data, out.len, "Bcc", 3) == NULL);
	st = g_mime_stream_mem_new_with_buffer((const char *)out.data, out.len);
	p = g_mime_parser_new_with_stream(st);
	msg = g_mime_parser_construct_message(p, NULL);
	g_object_unref(p);
	g_object_unref(st);
	T_CHECK(msg != NULL);
	if (msg != NULL) {
		l = g_mime_message_get_from(msg);
		T_EQ_INT(internet_address_list_length(l), 1);
		T_CHECK(strcmp(internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(
		    internet_address_list_get_address(l, 0))), "pat@x.example") == 0);
		T_CHECK(strcmp(internet_address_get_name(internet_address_list_get_address(l, 0)),
		    "Pat Q\xc3\xbc") == 0);
		T_EQ_INT(internet_address_list_length(g_mime_message_get_to(msg)), 2);
		T_EQ_INT(internet_address_list_length(g_mime_message_get_cc(msg)), 0);
		T_EQ_INT(internet_address_list_length(g_mime_message_get_bcc(msg)), 0);
		T_CHECK(strcmp(g_mime_message_get_subject(msg), "Re: r\xc3\xa9sultats") == 0);
		T_CHECK(strcmp(hdr(msg, "In-Reply-To"), "<orig@clinic.example>") == 0);
		T_CHECK(strcmp(hdr(msg, "References"), "<orig@clinic.example>") == 0);
		T_CHECK(g_str_has_suffix(g_mime_message_get_message_id(msg), "@keyd.example"));
		body = g_mime_message_get_mime_part(msg);
		T_CHECK(GMIME_IS_MULTIPART(body));
		if (GMIME_IS_MULTIPART(body)) {
			GMimeMultipart *mp = GMIME_MULTIPART(body);
			GMimeObject *a;
			GMimeStream *mem;
			GByteArray *arr;

			T_EQ_INT(g_mime_multipart_get_count(mp), 4);
			T_CHECK(GMIME_IS_TEXT_PART(g_mime_multipart_get_part(mp, 0)));
			if (GMIME_IS_TEXT_PART(g_mime_multipart_get_part(mp, 0))) {
				char *t = g_mime_text_part_get_text(GMIME_TEXT_PART(
				    g_mime_multipart_get_part(mp, 0)));

				T_CHECK(t != NULL && strstr(t, "> quoted") != NULL);
				g_free(t);
			}
			a = g_mime_multipart_get_part(mp, 1);
			T_CHECK(GMIME_IS_PART(a));
			T_CHECK(strcmp(g_mime_part_get_filename(GMIME_PART(a)), "r\xc3\xa9sultat.pdf") == 0);
			T_CHECK(g_mime_part_get_content_encoding(GMIME_PART(a)) ==
			    GMIME_CONTENT_ENCODING_BASE64);
			mem = g_mime_stream_mem_new();
			g_mime_data_wrapper_write_to_stream(g_mime_part_get_content(GMIME_PART(a)), mem);
			arr = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
			T_EQ_INT(arr->len, sizeof(pdf));
			T_CHECK(arr->len == sizeof(pdf) && memcmp(arr->data, pdf, sizeof(pdf)) == 0);
			g_object_unref(mem);
			T_CHECK(GMIME_IS_MESSAGE_PART(g_mime_multipart_get_part(mp, 2)));
			a = g_mime_multipart_get_part(mp, 3);
			T_CHECK(g_mime_content_type_is_type(g_mime_object_get_content_type(a),
			    "application", "octet-stream"));
		}
		g_object_unref(msg);
	}
	/* refused values */
	sp_buf_reset(&out);
	m.subject = "Re: x\r\nBcc: all@evil.example";
	T_EQ_INT(sp_reply_build(&m, &out, &err), SP_ERR_INVALID);
	m.subject = "Re: x";
	m.from_name = "Pat\r\nBcc: x@evil.example";
	T_EQ_INT(sp_reply_build(&m, &out, &err), SP_ERR_INVALID);
	m.from_name = NULL;
	to[1] = "sam@y.example>, all@evil.example";
	T_EQ_INT(sp_reply_build(&m, &out, &err), SP_ERR_INVALID);
	to[1] = "sam@y.example";
	m.in_reply_to = "<a@b>\r\nBcc: x@evil.example";
	T_EQ_INT(sp_reply_build(&m, &out, &err), SP_ERR_INVALID);
	m.in_reply_to = NULL;
	parts[0].name = "../../etc/passwd";
	T_EQ_INT(sp_reply_build(&m, &out, &err), SP_ERR_INVALID);
	parts[0].name = "ok.pdf";
	m.text = "bad \xff utf-8";
	m.text_len = 11;
	T_EQ_INT(sp_reply_build(&m, &out, &err), SP_ERR_INVALID);
	/* no attachments: a single text part */
	m.text = "plain";
	m.text_len = 5;
	m.nparts = 0;
	T_EQ_INT(sp_reply_build(&m, &out, &err), SP_OK);
	T_CHECK(memmem(out.data, out.len, "multipart", 9) == NULL);
	T_CHECK(memmem(out.data, out.len, "charset=utf-8", 13) != NULL);
	sp_buf_free(&out);
}

static void
test_outbox_rcpt(void)
{
	char dir[64] = "/tmp/sp-reply-test-XXXXXX", outbox[128], path[600], buf[512];
	const char *rcpt[] = {"doc@clinic.example", "pat@x.example"};
	const char *bad[] = {"-oQ/tmp/x@evil.example"};
	struct sp_transport *t = NULL;
	struct sp_err err;
	struct dirent *de;
	DIR *d;
	FILE *f;
	int emls = 0, rcpts = 0;
	size_t n;

	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(outbox, sizeof(outbox), "%s/outbox", dir);
	T_EQ_INT(sp_transport_new(&t, "dir", outbox, "keyd@example.org", &err), SP_OK);
	T_EQ_INT(sp_transport_send_mime(t, rcpt, 2, "Subject: x\r\n\r\nbody\r\n", 19, &err), SP_OK);
	T_EQ_INT(sp_transport_send_mime(t, bad, 1, "x", 1, &err), SP_ERR_INVALID);
	T_EQ_INT(sp_transport_send_mime(t, rcpt, 0, "x", 1, &err), SP_ERR_INVALID);
	if ((d = opendir(outbox)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			size_t l = strlen(de->d_name);

			if (l > 4 && strcmp(de->d_name + l - 4, ".eml") == 0)
				emls++;
			if (l > 5 && strcmp(de->d_name + l - 5, ".rcpt") == 0) {
				rcpts++;
				snprintf(path, sizeof(path), "%s/%s", outbox, de->d_name);
				if ((f = fopen(path, "r")) != NULL) {
					n = fread(buf, 1, sizeof(buf) - 1, f);
					buf[n] = '\0';
					fclose(f);
					T_CHECK(strcmp(buf, "doc@clinic.example\npat@x.example\n") == 0);
				}
				/* the mail beside it */
				snprintf(path + strlen(path) - 4, 5, "eml");
				T_CHECK(access(path, R_OK) == 0);
			}
		}
		closedir(d);
	}
	T_EQ_INT(emls, 1);
	T_EQ_INT(rcpts, 1);
	sp_transport_free(t);
}

static void
setup(void)
{
	sp_msg_global_init();
}

T_MAIN(setup, test_targets, test_forward, test_texts, test_build, test_outbox_rcpt)

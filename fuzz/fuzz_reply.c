/*
 * fuzz_reply.c - libFuzzer target for what a secure reply takes from the
 * portal (reply.h) and the language a page takes from its request
 * (i18n.h).  The input is split on NUL bytes into fields: mode, subject,
 * text, In-Reply-To, References, an attachment's name, its type, its
 * bytes, the replier's name, an organisation's forward list and an
 * Accept-Language header.  The harness aborts when an invariant breaks:
 * an accepted line has no control character or line break; accepted
 * msg-ids are bracketed; a normalised forward list normalises to itself;
 * a reply built from accepted fields has exactly one From:, one To: and
 * no Bcc: header and parses as a message again; a refusal carries a
 * message; Accept-Language yields an offered language or nothing.
 * SECURITY: exercises the code that checks and writes untrusted reply
 * fields.
 */
#include <gmime/gmime.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "i18n.h"
#include "reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NFIELDS 11
#define INPUT_MAX 65536

/* Split a copy of the input on NUL into at most NFIELDS strings. */
static void
split(char *copy, size_t size, const char *f[NFIELDS], size_t len[NFIELDS])
{
	size_t i, n = 0, start = 0;

	for (i = 0; i < NFIELDS; i++) {
		f[i] = "";
		len[i] = 0;
	}
	for (i = 0; i <= size && n < NFIELDS; i++)
		if (i == size || copy[i] == '\0') {
			f[n] = copy + start;
			len[n] = i - start;
			n++;
			start = i + 1;
		}
}

static int
line_fine(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f)
			return 0;
	}
	return n > 0;
}

/* How many header fields of the header block of m are called name. */
static int
count_field(const unsigned char *m, size_t len, const char *name)
{
	size_t i = 0, nl = strlen(name);
	int n = 0;

	while (i < len) {
		size_t e = i;

		while (e < len && m[e] != '\n')
			e++;
		if (e == i || (e == i + 1 && m[i] == '\r'))
			break;		/* the blank line: the body follows */
		if (e - i > nl && strncasecmp((const char *)m + i, name, nl) == 0 &&
		    m[i + nl] == ':')
			n++;
		i = e + 1;
	}
	return n;
}

static void
check_build(const char *f[NFIELDS], const size_t len[NFIELDS])
{
	static const char *const to[] = {"doc@clinic.example", "sam@example.org"};
	struct sp_reply_part part = {.name = f[5], .type = f[6],
	    .data = (const unsigned char *)f[7], .len = len[7]};
	struct sp_reply_msg m = {.from_addr = "pat@example.org",
	    .from_name = len[8] ? f[8] : NULL, .to = to, .nto = 2, .subject = f[1],
	    .text = f[2], .text_len = len[2],
	    .in_reply_to = len[3] && sp_reply_msgid_ok(f[3], 1) ? f[3] : NULL,
	    .references = len[4] && sp_reply_msgid_ok(f[4], 0) ? f[4] : NULL,
	    .msgid_domain = "keys.clinic.example", .date = 1798761600,
	    .parts = &part, .nparts = sp_reply_line_ok(f[5], len[5]) ? 1 : 0};
	struct sp_err err = {0};
	struct sp_buf out;
	GMimeStream *mem;
	GMimeParser *parser;
	GMimeMessage *msg;

	if (!sp_reply_line_ok(f[1], len[1]))
		return;
	sp_buf_init(&out, 4u << 20);
	if (sp_reply_build(&m, &out, &err) != SP_OK) {
		if (err.msg[0] == '\0')
			abort();
		sp_buf_free(&out);
		return;
	}
	if (count_field(out.data, out.len, "From") != 1 || count_field(out.data, out.len, "To") != 1 ||
	    count_field(out.data, out.len, "Bcc") != 0 || count_field(out.data, out.len, "Subject") != 1)
		abort();
	mem = g_mime_stream_mem_new_with_buffer((const char *)out.data, out.len);
	parser = g_mime_parser_new_with_stream(mem);
	msg = g_mime_parser_construct_message(parser, NULL);
	if (msg == NULL)
		abort();
	g_object_unref(msg);
	g_object_unref(parser);
	g_object_unref(mem);
	sp_buf_free(&out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	const char *f[NFIELDS];
	size_t len[NFIELDS];
	char *copy, norm[2048], again[2048];
	const char *lang;
	struct sp_err err = {0};
	int mode;

	if (!ready) {
		g_mime_init();
		ready = 1;
	}
	if (size > INPUT_MAX)
		return 0;
	if ((copy = malloc(size + 1)) == NULL)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	split(copy, size, f, len);

	mode = sp_reply_mode_parse(f[0]);
	if (mode != -1 && mode != SP_REPLY_REPLY && mode != SP_REPLY_ALL && mode != SP_REPLY_FORWARD)
		abort();
	if (sp_reply_line_ok(f[1], len[1]) && !line_fine(f[1], len[1]))
		abort();
	if (sp_reply_msgid_ok(f[3], 1) && (f[3][0] != '<' || f[3][len[3] - 1] != '>'))
		abort();
	if (sp_reply_msgid_ok(f[4], 0) && (f[4][0] != '<' || f[4][len[4] - 1] != '>'))
		abort();
	if (sp_reply_fwd_list_norm(f[9], norm, sizeof(norm), &err) == SP_OK) {
		if (sp_reply_fwd_list_norm(norm, again, sizeof(again), &err) != SP_OK ||
		    strcmp(norm, again) != 0)
			abort();
	} else if (err.msg[0] == '\0')
		abort();
	lang = sp_i18n_accept(f[10]);
	if (lang != NULL && !sp_i18n_offered(lang))
		abort();
	check_build(f, len);
	free(copy);
	return 0;
}

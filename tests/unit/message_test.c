/*
 * message_test.c - unit tests of the message model (src/lib/message_*.c):
 * every message of tests/corpus/mail/ must rebuild byte for byte from its
 * container and show the expected view; a large base64 attachment must
 * round-trip and stay compact; sp_msg_check must refuse what is not mail;
 * tampered containers must be refused cleanly; safe file names.
 * Run from the repository root (the corpus path is relative).
 */
#include "t.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <pthread.h>

#include "message.h"
#include "message_internal.h"

#define CORPUS "tests/corpus/mail/"

static unsigned char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *p = NULL;
	long n;

	*len = 0;
	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (p = malloc((size_t)n + 1)) != NULL) {
		*len = fread(p, 1, (size_t)n, f);
		if (*len != (size_t)n) {
			free(p);
			p = NULL;
		}
	}
	fclose(f);
	return p;
}

/* The byte pattern the corpus generator used for binary attachments. */
static int
is_pattern(const unsigned char *p, size_t n, unsigned mul, unsigned add)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != (unsigned char)((i * mul + add) & 0xff))
			return 0;
	return 1;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t
rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Manifest of a container as parsed JSON (caller decrefs), or NULL. */
static json_t *
manifest(const struct sp_buf *c)
{
	size_t ml;

	if (c->len < 8)
		return NULL;
	ml = (size_t)c->data[4] << 24 | (size_t)c->data[5] << 16 | (size_t)c->data[6] << 8 | c->data[7];
	if (ml > c->len - 8)
		return NULL;
	return json_loadb((const char *)c->data + 8, ml, 0, NULL);
}

static size_t
count_b64(const struct sp_buf *c)
{
	json_t *m = manifest(c), *s;
	size_t i, n = 0;

	json_array_foreach(json_object_get(m, "raw"), i, s)
		if (json_object_get(s, "b64") != NULL)
			n++;
	json_decref(m);
	return n;
}

/* Build, rebuild and compare; returns the container (caller frees). */
static int
roundtrip(const unsigned char *raw, size_t len, struct sp_buf *c, struct sp_msg_info *info)
{
	struct sp_buf back;
	struct sp_err err = { { 0 } };
	int st, ok;

	sp_buf_init(c, SP_MSG_MAX_SIZE + (16 << 20));
	sp_buf_init(&back, SP_MSG_MAX_SIZE);
	st = sp_msg_container_build(raw, len, c, info, &err);
	if (st != SP_OK) {
		fprintf(stderr, "build failed: %s\n", sp_err_msg(&err, st));
		sp_buf_free(&back);
		return 0;
	}
	st = sp_msg_container_raw(c->data, c->len, &back, &err);
	ok = st == SP_OK && back.len == len && memcmp(back.data, raw, len) == 0;
	if (!ok)
		fprintf(stderr, "raw rebuild differs (st %d, %zu vs %zu bytes)\n", st, back.len, len);
	sp_buf_free(&back);
	return ok;
}

struct exp_part {
	const char *name, *type, *cid;
	int is_inline;
	size_t len;
	const char *prefix;	/* literal first bytes (or whole content) */
	size_t plen;
	unsigned mul, add;	/* pattern after prefix; mul 0 = none */
};

struct mail_case {
	const char *file;
	const char *from, *subject, *to;
	const char *text, *html;	/* substrings expected, NULL = no body */
	size_t nb64;		/* base64 bodies stored as binary */
	size_t nparts;
	struct exp_part parts[3];
	size_t nrcpt;
	const char *rcpt0;
};

static const struct mail_case cases[] = {
	{ "01-plain-lf.eml", "Alice Example <Alice@Example.org>", "Plain text, LF line ends",
	  "Bob <bob@example.net>, carol@example.net", "plain text message with LF line ends", NULL,
	  0, 0, { { 0 } }, 3, "bob@example.net" },
	{ "02-plain-crlf.eml", "alice@example.org", "Plain text, CRLF line ends", "bob@example.net",
	  "Grüße aus Köln, with CRLF", NULL, 0, 0, { { 0 } }, 1, "bob@example.net" },
	{ "03-html-inline-image.eml", "News Desk <news@example.org>", "HTML with an inline image",
	  "reader@example.net", NULL, "<img src=\"cid:logo1@example.org\">", 1, 1,
	  { { NULL, "image/png", "logo1@example.org", 1, 3008, "\x89PNG\r\n\x1a\n", 8, 7, 3 } },
	  1, "reader@example.net" },
	{ "04-attachments-i18n.eml", "sender@example.org", "Drei Anhänge", "recipient@example.net",
	  "Drei Anhänge anbei.", NULL, 3, 3,
	  { { "übersicht €.txt", "text/plain", NULL, 0, 30, "first attachment: plain ascii\n", 30, 0, 0 },
	    { "été résumé.pdf", "application/pdf", NULL, 0, 5000, "", 0, 13, 1 },
	    { "日本語の表.csv", "text/csv", NULL, 0, 21, "Tabelle; Größe\n1;2\n", 21, 0, 0 } },
	  1, "recipient@example.net" },
	{ "05-nested-alternative.eml", "Team <team@example.org>", "Nested alternative inside mixed",
	  "you@example.net", "Plain alternative.", "<p>HTML alternative.</p>", 1, 1,
	  { { "data.bin", "application/octet-stream", NULL, 0, 1000, "", 0, 7, 3 } }, 1, "you@example.net" },
	{ "06-base64-72-nofinal.eml", "scanner@example.org", "base64 with 72 and 76 character lines",
	  "office@example.net", NULL, NULL, 2, 2,
	  { { "scan72.jpg", "image/jpeg", NULL, 0, 2000, "", 0, 31, 5 },
	    { "last76.zip", "application/zip", NULL, 0, 1234, "", 0, 3, 9 } }, 1, "office@example.net" },
	{ "07-quoted-printable.eml", "René <rene@example.fr>", "Café", "ami@example.net",
	  "Café crème: un texte assez long pour que la ligne soit coupée par le codage quoted-printable, voilà.",
	  NULL, 0, 0, { { 0 } }, 1, "ami@example.net" },
	{ "08-rfc822-attachment.eml", "fwd@example.org", "Fwd: The forwarded one", "boss@example.net",
	  "See the forwarded message.", NULL, 0, 1,
	  { { "forwarded.eml", "message/rfc822", NULL, 0, 0, "From: inner@example.org", 23, 0, 0 } },
	  1, "boss@example.net" },
	{ "09-missing-close-boundary.eml", "broken@example.org", "No closing boundary",
	  "victim@example.net", "Body before a truncated attachment.", NULL, 1, 1,
	  { { "cut.bin", "application/octet-stream", NULL, 0, 600, "", 0, 5, 2 } }, 1, "victim@example.net" },
	{ "10-bad-base64.eml", "sloppy@example.org", "Bad base64 characters", "someone@example.net",
	  "Attached, with junk in the base64.", NULL, 0, 1,
	  { { "junk.bin", "application/octet-stream", NULL, 0, 300, "", 0, 11, 4 } }, 1, "someone@example.net" },
	{ "11-8bit-headers.eml", "Jürgen Müller <juergen@example.de>", "Übergrößenträger – raw UTF-8 in headers",
	  "Zoë <zoe@example.net>", "Ein Text mit Umlauten: äöü.", NULL, 0, 0, { { 0 } }, 1, "zoe@example.net" },
	{ "12-headers-only.eml", "headers@example.org", "Headers only", "only@example.net",
	  "", NULL, 0, 0, { { 0 } }, 1, "only@example.net" },
	{ "13-empty-body.eml", "empty@example.org", "Empty body", "body@example.net",
	  "", NULL, 0, 0, { { 0 } }, 1, "body@example.net" },
	{ "14-mixed-eol-truncated.eml", "mixed@example.org", "Mixed line ends", "eol@example.net",
	  "line one", NULL, 0, 1,
	  { { "t.gif", "image/gif", NULL, 0, 219, "", 0, 17, 1 } }, 1, "eol@example.net" },
	{ "15-alternative-related.eml", "Mac User <mac@example.org>", "Alternative with a related HTML part",
	  "friend@example.net", "See the picture.", "<img src=\"cid:pic@local\">", 1, 1,
	  { { "pic.jpg", "image/jpeg", "pic@local", 1, 1500, "", 0, 29, 7 } }, 1, "friend@example.net" },
};

static int
streq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static void
check_part(const char *file, const struct sp_msg_part *p, const struct exp_part *e)
{
	int ok = streq(p->name, e->name) && streq(p->type, e->type) && streq(p->cid, e->cid) &&
	    p->is_inline == e->is_inline && (e->len == 0 || p->len == e->len) &&
	    p->len >= e->plen && memcmp(p->data, e->prefix, e->plen) == 0 &&
	    (e->mul == 0 || is_pattern(p->data + e->plen, p->len - e->plen, e->mul, e->add));

	if (!ok)
		fprintf(stderr, "%s: part %s/%s/%s inline %d len %zu not as expected\n", file,
		    p->name ? p->name : "-", p->type, p->cid ? p->cid : "-", p->is_inline, p->len);
	T_CHECK(ok);
}

static void
test_corpus(void)
{
	char path[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct mail_case *k = &cases[i];
		struct sp_buf c;
		struct sp_msg_view v;
		struct sp_msg_info info;
		struct sp_err err = { { 0 } };
		unsigned char *raw;
		size_t len;

		snprintf(path, sizeof(path), CORPUS "%s", k->file);
		raw = slurp(path, &len);
		T_CHECK(raw != NULL);
		if (raw == NULL)
			continue;
		T_EQ_INT(sp_msg_check(raw, len, &err), SP_OK);
		T_CHECK(roundtrip(raw, len, &c, &info));
		T_EQ_INT(count_b64(&c), k->nb64);
		T_EQ_INT(sp_msg_container_view(c.data, c.len, &v, &err), SP_OK);
		if (!streq(v.from, k->from) || !streq(v.subject, k->subject) || !streq(v.to, k->to))
			fprintf(stderr, "%s: headers from=%s subject=%s to=%s\n", k->file, v.from, v.subject, v.to);
		T_CHECK(streq(v.from, k->from));
		T_CHECK(streq(v.subject, k->subject));
		T_CHECK(streq(v.to, k->to));
		T_CHECK(v.date != NULL || strcmp(k->file, "14-mixed-eol-truncated.eml") == 0);
		if (k->text != NULL)
			T_CHECK(v.text != NULL && strstr(v.text, k->text) != NULL);
		else
			T_CHECK(v.text == NULL);
		if (k->html != NULL)
			T_CHECK(v.html != NULL && strstr(v.html, k->html) != NULL);
		else
			T_CHECK(v.html == NULL);
		T_EQ_INT(v.nparts, k->nparts);
		for (size_t j = 0; j < v.nparts && j < k->nparts; j++)
			check_part(k->file, &v.parts[j], &k->parts[j]);
		T_EQ_INT(info.nrcpt, k->nrcpt);
		T_CHECK(info.nrcpt > 0 && streq(info.rcpt[0], k->rcpt0));
		T_CHECK(info.from != NULL && strchr(info.from, '@') != NULL);
		T_CHECK(streq(info.subject, k->subject));
		sp_msg_view_clear(&v);
		sp_msg_info_clear(&info);
		sp_buf_free(&c);
		free(raw);
	}
}

/* To + Cc, lower-cased and unique; view keeps the display form. */
static void
test_info(void)
{
	struct sp_buf c;
	struct sp_msg_info info;
	unsigned char *raw;
	size_t len;

	raw = slurp(CORPUS "01-plain-lf.eml", &len);
	T_CHECK(raw != NULL && roundtrip(raw, len, &c, &info));
	T_EQ_INT(info.nrcpt, 3);
	if (info.nrcpt == 3) {
		T_CHECK(streq(info.rcpt[0], "bob@example.net"));
		T_CHECK(streq(info.rcpt[1], "carol@example.net"));
		T_CHECK(streq(info.rcpt[2], "dave@example.net"));
	}
	T_CHECK(streq(info.from, "alice@example.org"));
	T_CHECK(streq(info.date, "Mon, 23 Nov 2026 10:00:00 +0000"));
	sp_msg_info_clear(&info);
	sp_msg_info_clear(&info);	/* twice is harmless */
	sp_buf_free(&c);
	free(raw);
}

static void
test_too_many_recipients(void)
{
	struct sp_buf m, c;
	struct sp_msg_info info;
	struct sp_err err = { { 0 } };

	sp_buf_init(&m, 1 << 20);
	sp_buf_append_str(&m, "From: a@example.org\nTo: ");
	for (int i = 0; i < SP_MSG_MAX_RECIPIENTS + 1; i++)
		sp_buf_printf(&m, "%su%d@example.net", i ? ",\n " : "", i);
	sp_buf_append_str(&m, "\nSubject: many\n\nbody\n");
	sp_buf_init(&c, SP_MSG_MAX_SIZE);
	T_EQ_INT(sp_msg_container_build(m.data, m.len, &c, &info, &err), SP_ERR_TOOBIG);
	T_CHECK(strstr(err.msg, "recipients") != NULL);
	T_EQ_INT(c.len, 0);
	T_EQ_INT(info.nrcpt, 0);
	/* without info, the container still builds */
	T_EQ_INT(sp_msg_container_build(m.data, m.len, &c, NULL, &err), SP_OK);
	sp_buf_free(&c);
	sp_buf_free(&m);
}

/* A message that is mostly one base64 attachment of size n. */
static void
big_message(struct sp_buf *m, unsigned char *att, size_t n)
{
	static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i, col = 0;
	unsigned v;

	sp_buf_init(m, n * 2 + 4096);
	sp_buf_append_str(m,
	    "From: big@example.org\r\nTo: r@example.net\r\nSubject: big\r\n"
	    "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"BIG\"\r\n\r\n"
	    "--BIG\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n"
	    "--BIG\r\nContent-Type: application/octet-stream\r\n"
	    "Content-Disposition: attachment; filename=\"big.bin\"\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n");
	sp_buf_reserve(m, n / 3 * 4 + n / 57 * 2 + 64);
	/* the test's own encoder, independent of the library's */
	for (i = 0; i < n; i += 3) {
		unsigned char q[4];
		size_t k = n - i < 3 ? n - i : 3;

		v = (unsigned)att[i] << 16 | (k > 1 ? (unsigned)att[i + 1] << 8 : 0) | (k > 2 ? att[i + 2] : 0);
		q[0] = (unsigned char)tbl[v >> 18 & 63];
		q[1] = (unsigned char)tbl[v >> 12 & 63];
		q[2] = k > 1 ? (unsigned char)tbl[v >> 6 & 63] : '=';
		q[3] = k > 2 ? (unsigned char)tbl[v & 63] : '=';
		sp_buf_append(m, q, 4);
		col += 4;
		if (col == 76) {
			sp_buf_append(m, "\r\n", 2);
			col = 0;
		}
	}
	if (col)
		sp_buf_append(m, "\r\n", 2);
	sp_buf_append_str(m, "--BIG--\r\n");
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
test_large(void)
{
	size_t sizes[] = { (size_t)10 << 20, (size_t)20 << 20 };

	for (size_t s = 0; s < 2; s++) {
		size_t n = sizes[s];
		unsigned char *att = malloc(n);
		struct sp_buf m, c;
		struct sp_msg_view v;
		struct sp_err err = { { 0 } };
		double t0, t1;

		T_CHECK(att != NULL);
		if (att == NULL)
			return;
		for (size_t i = 0; i + 8 <= n; i += 8) {
			uint64_t r = rng();
			memcpy(att + i, &r, 8);
		}
		big_message(&m, att, n);
		t0 = now();
		T_CHECK(roundtrip(m.data, m.len, &c, NULL));
		t1 = now();
		fprintf(stderr, "large: %zu MiB attachment, message %zu, container %zu bytes (%.4f of the attachment), build+rebuild %.3f s\n",
		    n >> 20, m.len, c.len, (double)c.len / (double)n, t1 - t0);
		T_CHECK(c.len <= n + n / 50);
		T_EQ_INT(count_b64(&c), 1);
#if !defined(__SANITIZE_ADDRESS__)
		if (s == 0) {
			/* 10 MB base64 attachment: well under a second at -O2 */
			struct sp_buf c2;
			sp_buf_init(&c2, SP_MSG_MAX_SIZE);
			t0 = now();
			T_EQ_INT(sp_msg_container_build(m.data, m.len, &c2, NULL, &err), SP_OK);
			t1 = now();
			fprintf(stderr, "large: build of the 10 MiB message %.3f s\n", t1 - t0);
			T_CHECK(t1 - t0 < 1.0);
			sp_buf_free(&c2);
		}
#endif
		T_EQ_INT(sp_msg_container_view(c.data, c.len, &v, &err), SP_OK);
		T_EQ_INT(v.nparts, 1);
		if (v.nparts == 1) {
			T_CHECK(streq(v.parts[0].name, "big.bin"));
			T_EQ_INT(v.parts[0].len, n);
			T_CHECK(v.parts[0].len == n && memcmp(v.parts[0].data, att, n) == 0);
		}
		T_CHECK(streq(v.text, "see attachment"));
		sp_msg_view_clear(&v);
		sp_buf_free(&c);
		sp_buf_free(&m);
		free(att);
	}
}

/* A forwarded message (message/rfc822) holding a base64 attachment: shown
 * as one part with its exact bytes, stored once. */
static void
test_forwarded_n(int copies)
{
	struct sp_buf inner, m, c;
	struct sp_msg_view v;
	struct sp_err err = { { 0 } };
	size_t n = 100000;
	unsigned char *att = malloc(n);

	T_CHECK(att != NULL);
	if (att == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		att[i] = (unsigned char)rng();
	big_message(&inner, att, n);
	sp_buf_init(&m, 1 << 24);
	sp_buf_append_str(&m, "From: fwd@example.org\r\nTo: boss@example.net\r\nSubject: Fwd: big\r\n"
	    "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"F\"\r\n\r\n"
	    "--F\r\nContent-Type: text/plain\r\n\r\nforwarding\r\n"
	    );
	for (int k = 0; k < copies; k++) {
		sp_buf_append_str(&m, "--F\r\nContent-Type: message/rfc822\r\n\r\n");
		sp_buf_append(&m, inner.data, inner.len);
		sp_buf_append_str(&m, "\r\n");
	}
	sp_buf_append_str(&m, "--F--\r\n");
	T_CHECK(roundtrip(m.data, m.len, &c, NULL));
	T_CHECK(c.len < (n + n / 5) * (size_t)copies);
	T_EQ_INT(sp_msg_container_view(c.data, c.len, &v, &err), SP_OK);
	T_EQ_INT(v.nparts, copies);
	for (size_t k = 0; k < v.nparts; k++) {
		T_CHECK(streq(v.parts[k].type, "message/rfc822"));
		T_CHECK(v.parts[k].len == inner.len && memcmp(v.parts[k].data, inner.data, inner.len) == 0);
	}
	T_CHECK(streq(v.text, "forwarding"));
	sp_msg_view_clear(&v);
	sp_buf_free(&c);
	sp_buf_free(&m);
	sp_buf_free(&inner);
	free(att);
}

static void
test_forwarded(void)
{
	test_forwarded_n(1);
	test_forwarded_n(2);
}

/* Base64 layouts that not every reader accepts stay literal, still exact:
 * one 4000-character line, 75-character lines. */
static void
test_odd_layouts(void)
{
	static const size_t lines[] = { 4000, 75, 996 };

	for (size_t k = 0; k < 3; k++) {
		struct sp_buf m, c;
		struct sp_msg_view v;
		struct sp_err err = { { 0 } };
		static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

		sp_buf_init(&m, 1 << 20);
		sp_buf_append_str(&m, "From: a@example.org\nTo: b@example.net\nSubject: layout\n"
		    "Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n");
		for (size_t i = 0; i < 3000; i++) {
			sp_buf_append(&m, &tbl[rng() % 64], 1);
			if ((i + 1) % lines[k] == 0)
				sp_buf_append(&m, "\n", 1);
		}
		sp_buf_append_str(&m, "\n");
		T_CHECK(roundtrip(m.data, m.len, &c, NULL));
		T_EQ_INT(count_b64(&c), k == 2 ? 1 : 0);
		T_EQ_INT(sp_msg_container_view(c.data, c.len, &v, &err), SP_OK);
		T_CHECK(v.nparts == 1 && v.parts[0].len == 2250);
		sp_msg_view_clear(&v);
		sp_buf_free(&c);
		sp_buf_free(&m);
	}
}

/* An attachment sent without encoding (binary): its bytes are stored once. */
static void
test_binary_part(void)
{
	struct sp_buf m, c;
	struct sp_msg_view v;
	struct sp_err err = { { 0 } };
	size_t n = 1 << 20;
	unsigned char *att = malloc(n);

	T_CHECK(att != NULL);
	if (att == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		att[i] = (unsigned char)rng();
	sp_buf_init(&m, 1 << 24);
	sp_buf_append_str(&m, "From: bin@example.org\nTo: x@example.net\nSubject: binary\n"
	    "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"=_Qx7Lz0pWv3\"\n\n"
	    "--=_Qx7Lz0pWv3\nContent-Type: application/x-raw\nContent-Transfer-Encoding: binary\n"
	    "Content-Disposition: attachment; filename=raw.bin\n\n");
	sp_buf_append(&m, att, n);
	sp_buf_append_str(&m, "\n--=_Qx7Lz0pWv3--\n");
	T_CHECK(roundtrip(m.data, m.len, &c, NULL));
	T_CHECK(c.len <= n + n / 50);
	T_EQ_INT(sp_msg_container_view(c.data, c.len, &v, &err), SP_OK);
	T_EQ_INT(v.nparts, 1);
	if (v.nparts == 1)
		T_CHECK(v.parts[0].len == n && memcmp(v.parts[0].data, att, n) == 0);
	sp_msg_view_clear(&v);
	sp_buf_free(&c);
	sp_buf_free(&m);
	free(att);
}

/* Compressible content is deflated; the container stays small. */
static void
test_compression(void)
{
	struct sp_buf m, c;
	unsigned char *att = malloc(200000);

	T_CHECK(att != NULL);
	if (att == NULL)
		return;
	for (size_t i = 0; i < 200000; i++)
		att[i] = (unsigned char)"The quick brown fox jumps over the lazy dog. "[i % 45];
	big_message(&m, att, 200000);
	T_CHECK(roundtrip(m.data, m.len, &c, NULL));
	T_CHECK(c.len < 20000);
	sp_buf_free(&c);
	sp_buf_free(&m);
	free(att);
}

static void
expect_refused(const void *p, size_t n, const char *word)
{
	struct sp_err err = { { 0 } };
	struct sp_buf c;

	T_EQ_INT(sp_msg_check(p, n, &err), SP_ERR_INVALID);
	if (strstr(err.msg, word) == NULL)
		fprintf(stderr, "refusal message \"%s\" lacks \"%s\"\n", err.msg, word);
	T_CHECK(strstr(err.msg, word) != NULL);
	sp_buf_init(&c, 1 << 20);
	T_EQ_INT(sp_msg_container_build(p, n, &c, NULL, &err), SP_ERR_INVALID);
	T_EQ_INT(c.len, 0);
	sp_buf_free(&c);
}

static void
test_check(void)
{
	unsigned char bin[4096];
	struct sp_err err = { { 0 } };
	static const char nul_hdr[] = "From: a@example.org\nSubject: x\0y\n\nbody\n";
	static const char ctl_hdr[] = "X:\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f\x10\x11\x12\x13\n\nb";
	static const char *ok[] = {
		"Subject: hi\n\nbody\n",
		"Subject: hi\r\n\r\nbody\r\n",
		"Subject: only headers",
		"Subject: Gr\xc3\xbc\xc3\x9f" "e\nFrom: J\xc3\xbcrgen <j@example.de>\n\n",
		"Subject: latin1 \xe9t\xe9\n\n",
		"X-Weird : value\n\n",
		/* a legacy client's raw GBK and ISO-2022-JP subjects are text */
		"Subject: [secure] \xb2\xa1\xc0\xfa\xb1\xa8\xb8\xe6\xb2\xa1\xc0\xfa\xb1\xa8\xb8\xe6"
		    "\xb2\xa1\xc0\xfa\xb1\xa8\xb8\xe6\n\nPatient SSN 287-65-4321\n",
		"Subject: \x1b$B%F%9%H\x1b(B\n\n",
	};

	expect_refused("", 0, "empty message");
	expect_refused("hello world\n", 12, "no header block");
	expect_refused("hello world: x\n", 15, "no header block");
	expect_refused(": x\n", 4, "no header block");
	expect_refused("\nSubject: x\n", 12, "no header block");
	/* an mbox "From " line alone, or followed by no header, is no message */
	expect_refused("From alice@example.org Mon Nov 23 10:00:00 2026\n", 48, "empty message");
	expect_refused("From alice@example.org Mon Nov 23 10:00:00 2026\nhello\n", 54, "no header block");
	expect_refused("\xef\xbb\xbfhello world\n", 15, "no header block");
	expect_refused(nul_hdr, sizeof(nul_hdr) - 1, "NUL");
	expect_refused(ctl_hdr, sizeof(ctl_hdr) - 1, "binary");
	for (int tries = 0; tries < 20; tries++) {
		for (size_t i = 0; i < sizeof(bin); i++)
			bin[i] = (unsigned char)rng();
		T_EQ_INT(sp_msg_check(bin, sizeof(bin), &err), SP_ERR_INVALID);
	}
	/* binary garbage behind a plausible first line */
	memcpy(bin, "X-A: b\n", 7);
	for (size_t i = 7; i < sizeof(bin); i++)
		bin[i] = (unsigned char)(rng() | 1);
	T_EQ_INT(sp_msg_check(bin, sizeof(bin), &err), SP_ERR_INVALID);
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		T_EQ_INT(sp_msg_check((const unsigned char *)ok[i], strlen(ok[i]), &err), SP_OK);
	T_EQ_INT(sp_msg_check(bin, SP_MSG_MAX_SIZE + 1, &err), SP_ERR_TOOBIG);
}

/* A byte-order mark and an mbox "From " line before the first header are
 * kept byte for byte; the headers after them are read as usual. */
static void
test_preamble(void)
{
	static const char *const msgs[] = {
		"From alice@example.org Mon Nov 23 10:00:00 2026\nFrom: Alice <Alice@Example.org>\n"
		    "To: bob@example.net\nSubject: mbox line\n\nbody\n",
		"\xef\xbb\xbf" "From: alice@example.org\r\nTo: Bob <bob@example.net>\r\n"
		    "Subject: mbox line\r\n\r\nbody\r\n",
		"\xef\xbb\xbf" "From MAILER-DAEMON Mon Nov 23 10:00:00 2026\r\n\xef\xbb\xbf"
		    "From: alice@example.org\r\nTo: bob@example.net\r\nSubject: mbox line\r\n"
		    "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
		    "--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\n"
		    "Content-Type: application/octet-stream; name=\"a.bin\"\r\n"
		    "Content-Transfer-Encoding: base64\r\n\r\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g\r\n"
		    "--b--\r\n",
	};
	static const size_t pre[] = { 48, 3, 3 + 45 + 3 };

	T_EQ_INT(sp_msg_preamble_len((const unsigned char *)"Subject: x\n\n", 13), 0);
	T_EQ_INT(sp_msg_preamble_len((const unsigned char *)"From x", 6), 0);
	T_EQ_INT(sp_msg_preamble_len(NULL, 0), 0);
	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
		const unsigned char *raw = (const unsigned char *)msgs[i];
		size_t len = strlen(msgs[i]);
		struct sp_err err = { { 0 } };
		struct sp_buf c;
		struct sp_msg_info info;
		struct sp_msg_view v;

		T_EQ_INT(sp_msg_preamble_len(raw, len), pre[i]);
		T_EQ_INT(sp_msg_check(raw, len, &err), SP_OK);
		T_CHECK(roundtrip(raw, len, &c, &info));
		T_CHECK(streq(info.from, "alice@example.org"));
		T_EQ_INT(info.nrcpt, 1);
		T_CHECK(info.nrcpt == 1 && streq(info.rcpt[0], "bob@example.net") &&
		    streq(info.rcpt_field[0], "To"));
		T_CHECK(streq(info.subject, "mbox line"));
		T_EQ_INT(sp_msg_container_view(c.data, c.len, &v, &err), SP_OK);
		T_CHECK(streq(v.subject, "mbox line"));
		if (i == 2) {
			T_EQ_INT(count_b64(&c), 1);
			T_EQ_INT(v.nparts, 1);
		}
		sp_msg_view_clear(&v);
		sp_msg_info_clear(&info);
		sp_buf_free(&c);
	}
}

/* Each recipient says which field it came from; a group with no members
 * (undisclosed-recipients:;) gives none. */
static void
test_rcpt_fields(void)
{
	static const char m1[] = "From: a@example.org\nTo: undisclosed-recipients:;\n"
	    "Subject: s\n\nb\n";
	static const char m2[] = "From: greg@inbucket\nTo: guest@localhost, Team: x@intranet, "
	    "y@example.org;\nCc: GUEST@localhost, z@example.net\nSubject: s\n\nb\n";
	struct sp_buf c;
	struct sp_msg_info info;

	T_CHECK(roundtrip((const unsigned char *)m1, sizeof(m1) - 1, &c, &info));
	T_EQ_INT(info.nrcpt, 0);
	T_CHECK(streq(info.from, "a@example.org"));
	sp_msg_info_clear(&info);
	sp_buf_free(&c);
	T_CHECK(roundtrip((const unsigned char *)m2, sizeof(m2) - 1, &c, &info));
	T_CHECK(streq(info.from, "greg@inbucket"));
	T_EQ_INT(info.nrcpt, 4);
	if (info.nrcpt == 4) {
		T_CHECK(streq(info.rcpt[0], "guest@localhost") && streq(info.rcpt_field[0], "To"));
		T_CHECK(streq(info.rcpt[1], "x@intranet") && streq(info.rcpt_field[1], "To"));
		T_CHECK(streq(info.rcpt[2], "y@example.org") && streq(info.rcpt_field[2], "To"));
		T_CHECK(streq(info.rcpt[3], "z@example.net") && streq(info.rcpt_field[3], "Cc"));
	}
	sp_msg_info_clear(&info);
	sp_buf_free(&c);
}

/* Container from a manifest string and a blob area. */
static void
make_container(struct sp_buf *c, const char *man, const void *area, size_t alen)
{
	size_t ml = strlen(man);
	unsigned char hdr[8] = { 'S', 'P', 'C', '1', (unsigned char)(ml >> 24),
		(unsigned char)(ml >> 16), (unsigned char)(ml >> 8), (unsigned char)ml };

	sp_buf_init(c, 1 << 24);
	sp_buf_append(c, hdr, 8);
	sp_buf_append(c, man, ml);
	sp_buf_append(c, area, alen);
}

static int
raw_status(const struct sp_buf *c, struct sp_buf *out)
{
	struct sp_err err = { { 0 } };
	struct sp_msg_view v;
	int st, st2;

	sp_buf_init(out, 1 << 26);
	st = sp_msg_container_raw(c->data, c->len, out, &err);
	if (st != SP_OK) {
		T_CHECK(err.msg[0] != '\0');
		T_EQ_INT(out->len, 0);
	}
	st2 = sp_msg_container_view(c->data, c->len, &v, &err);
	if (st2 == SP_OK)
		sp_msg_view_clear(&v);
	else
		T_CHECK(v.nparts == 0 && v.text == NULL && v.parts == NULL);
	return st;
}

static void
tampered(const char *man, const void *area, size_t alen, int want)
{
	struct sp_buf c, out;
	int st;

	make_container(&c, man, area, alen);
	st = raw_status(&c, &out);
	if (st != want)
		fprintf(stderr, "container %s: status %d, expected %d\n", man, st, want);
	T_EQ_INT(st, want);
	sp_buf_free(&out);
	sp_buf_free(&c);
}

static void
test_tamper(void)
{
	struct sp_buf c, out, bad;
	struct sp_err err = { { 0 } };
	unsigned char *raw;
	size_t len, i;

	/* hand-made containers: the good ones first */
	tampered("{\"blobs\":[{\"off\":0,\"len\":5,\"z\":0,\"ulen\":5}],\"raw\":[{\"lit\":0}]}", "X: y\n", 5, SP_OK);
	tampered("{\"blobs\":[{\"off\":0,\"len\":3,\"z\":0,\"ulen\":3}],\"raw\":[{\"b64\":0,\"line\":76,\"eol\":\"\\n\",\"end\":true}]}",
	    "abc", 3, SP_OK);
	/* and the bad ones */
	tampered("{\"blobs\":[{\"off\":1,\"len\":5,\"z\":0,\"ulen\":5}],\"raw\":[{\"lit\":0}]}", "X: y\n", 5, SP_ERR_INVALID);
	tampered("{\"blobs\":[{\"off\":0,\"len\":6,\"z\":0,\"ulen\":6}],\"raw\":[{\"lit\":0}]}", "X: y\n", 5, SP_ERR_INVALID);
	tampered("{\"blobs\":[{\"off\":18446744073709551615,\"len\":2,\"z\":0,\"ulen\":2}],\"raw\":[{\"lit\":0}]}", "X: y\n", 5, SP_ERR_INVALID);
	tampered("{\"blobs\":[{\"off\":-1,\"len\":2,\"z\":0,\"ulen\":2}],\"raw\":[{\"lit\":0}]}", "X: y\n", 5, SP_ERR_INVALID);
	tampered("{\"blobs\":[{\"off\":0,\"len\":5,\"z\":0,\"ulen\":5}],\"raw\":[{\"lit\":1}]}", "X: y\n", 5, SP_ERR_INVALID);
	tampered("{\"blobs\":[{\"off\":0,\"len\":5,\"z\":0,\"ulen\":5}],\"raw\":[{\"lit\":-1}]}", "X: y\n", 5, SP_ERR_INVALID);
	tampered("{\"blobs\":[{\"off\":0,\"len\":5,\"z\":0,\"ulen\":5}],\"raw\":[{\"lit\":\"0\"}]}", "X: y\n", 5, SP_ERR_INVALID);
	tampered("{\"blobs\":[{\"off\":0,\"len\":5,\"z\":0,\"ulen\":9}],\"raw\":[{\"lit\":0}]}", "X: y\n", 5, SP_ERR_INVALID);
	tampered("{\"blobs\":[{\"off\":0,\"len\":5,\"z\":2,\"ulen\":5}],\"raw\":[{\"lit\":0}]}", "X: y\n", 5, SP_ERR_INVALID);
	tampered("{\"blobs\":[{\"off\":0,\"len\":5,\"z\":1,\"ulen\":5}],\"raw\":[{\"lit\":0}]}", "X: y\n", 5, SP_ERR_INVALID);
	tampered("{\"blobs\":[{\"off\":0,\"len\":5,\"z\":1,\"ulen\":500000000}],\"raw\":[{\"lit\":0}]}", "X: y\n", 5, SP_ERR_INVALID);
	tampered("{\"blobs\":[{\"off\":0,\"len\":3,\"z\":0,\"ulen\":3}],\"raw\":[{\"b64\":0,\"line\":0,\"eol\":\"\\n\",\"end\":true}]}", "abc", 3, SP_ERR_INVALID);
	tampered("{\"blobs\":[{\"off\":0,\"len\":3,\"z\":0,\"ulen\":3}],\"raw\":[{\"b64\":0,\"line\":76,\"eol\":\"\\r\",\"end\":true}]}", "abc", 3, SP_ERR_INVALID);
	tampered("{\"blobs\":[{\"off\":0,\"len\":3,\"z\":0,\"ulen\":3}],\"raw\":[{\"b64\":0,\"line\":76,\"eol\":\"\\n\"}]}", "abc", 3, SP_ERR_INVALID);
	tampered("{\"blobs\":[{\"off\":0,\"len\":3,\"z\":0,\"ulen\":3}],\"raw\":[{\"zip\":0}]}", "abc", 3, SP_ERR_INVALID);
	tampered("{\"blobs\":[{\"off\":0,\"len\":3,\"z\":0,\"ulen\":3}],\"raw\":[{\"b64\":0,\"line\":6,\"eol\":\"\\n\",\"end\":true}]}", "abc", 3, SP_ERR_INVALID);
	tampered("{\"blobs\":[{\"off\":0,\"len\":3,\"z\":0,\"ulen\":3}],\"raw\":[{\"b64\":0,\"line\":1000,\"eol\":\"\\n\",\"end\":true}]}", "abc", 3, SP_ERR_INVALID);
	tampered("{\"blobs\":[],\"raw\":{}}", "", 0, SP_ERR_INVALID);
	tampered("{\"raw\":[]}", "", 0, SP_ERR_INVALID);
	tampered("[1,2,3]", "", 0, SP_ERR_INVALID);
	tampered("{\"blobs\":[], \"raw\":[] ", "", 0, SP_ERR_INVALID);
	tampered("{\"blobs\":[],\"blobs\":[],\"raw\":[]}", "", 0, SP_ERR_INVALID);
	tampered("{\"blobs\":[{\"off\":0,\"len\":5,\"z\":0,\"ulen\":5}],\"raw\":[{\"lit\":0}],\"parts\":[{\"blob\":3}]}", "X: y\n", 5, SP_OK);

	/* a real container, then truncated at every length and bit-flipped */
	raw = slurp(CORPUS "04-attachments-i18n.eml", &len);
	T_CHECK(raw != NULL && roundtrip(raw, len, &c, NULL));
	for (i = 0; i < c.len; i += (i < 64 ? 1 : 7)) {
		struct sp_msg_view v;
		sp_buf_init(&out, 1 << 24);
		T_EQ_INT(sp_msg_container_raw(c.data, i, &out, &err), SP_ERR_INVALID);
		T_EQ_INT(sp_msg_container_view(c.data, i, &v, &err), SP_ERR_INVALID);
		sp_buf_free(&out);
	}
	sp_buf_init(&bad, 1 << 24);
	sp_buf_append(&bad, c.data, c.len);
	bad.data[0] = 'X';
	sp_buf_init(&out, 1 << 24);
	T_EQ_INT(sp_msg_container_raw(bad.data, bad.len, &out, &err), SP_ERR_INVALID);
	T_CHECK(strstr(err.msg, "magic") != NULL);
	bad.data[0] = 'S';
	bad.data[4] = 0x7f;	/* manifest length far past the end */
	T_EQ_INT(sp_msg_container_raw(bad.data, bad.len, &out, &err), SP_ERR_INVALID);
	bad.data[4] = c.data[4];
	bad.data[8] = (unsigned char)'.';	/* bad JSON */
	T_EQ_INT(sp_msg_container_raw(bad.data, bad.len, &out, &err), SP_ERR_INVALID);
	bad.data[8] = c.data[8];
	/* corrupt a compressed blob: refused or (rarely) a different message, never a crash */
	for (i = 0; i < 200; i++) {
		size_t pos = c.len - 1 - (size_t)(rng() % 1000);
		bad.data[pos] ^= (unsigned char)(1u << (rng() % 8));
		struct sp_buf o2;
		(void)raw_status(&bad, &o2);
		sp_buf_free(&o2);
		memcpy(bad.data, c.data, c.len);
	}
	/* an output buffer too small is an error, not a partial result */
	sp_buf_free(&out);
	sp_buf_init(&out, len - 1);
	T_CHECK(sp_msg_container_raw(c.data, c.len, &out, &err) != SP_OK);
	T_EQ_INT(out.len, 0);
	sp_buf_free(&out);
	sp_buf_free(&bad);
	sp_buf_free(&c);
	free(raw);
}

/* Random damage to corpus messages: whatever builds must rebuild exactly. */
static void
test_mutations(void)
{
	char path[256];
	size_t built = 0, total = 0;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned char *raw, *mut;
		size_t len;

		snprintf(path, sizeof(path), CORPUS "%s", cases[i].file);
		if ((raw = slurp(path, &len)) == NULL)
			continue;
		mut = malloc(len + 1);
		for (int round = 0; round < 40 && mut != NULL; round++) {
			struct sp_buf c, back;
			struct sp_err err = { { 0 } };
			size_t mlen = len, nflip = 1 + rng() % 4;

			memcpy(mut, raw, len);
			for (size_t f = 0; f < nflip; f++) {
				size_t pos = (size_t)(rng() % len);
				switch (rng() % 4) {
				case 0: mut[pos] = (unsigned char)rng(); break;
				case 1: mut[pos] = '\n'; break;
				case 2: mut[pos] = "=-\r :"[rng() % 5]; break;
				default: mlen = pos + 1; break;
				}
			}
			if (mlen > len)
				mlen = len;
			sp_buf_init(&c, SP_MSG_MAX_SIZE);
			sp_buf_init(&back, SP_MSG_MAX_SIZE);
			total++;
			if (sp_msg_container_build(mut, mlen, &c, NULL, &err) == SP_OK) {
				built++;
				T_EQ_INT(sp_msg_container_raw(c.data, c.len, &back, &err), SP_OK);
				T_CHECK(back.len == mlen && memcmp(back.data, mut, mlen) == 0);
			}
			sp_buf_free(&c);
			sp_buf_free(&back);
		}
		free(mut);
		free(raw);
	}
	T_CHECK(built > total / 2);
}

/* Huge header values and names are cut in the view, never refused. */
static void
test_huge_headers(void)
{
	struct sp_buf m, c;
	struct sp_msg_view v;
	struct sp_err err = { { 0 } };

	sp_buf_init(&m, 1 << 26);
	sp_buf_append_str(&m, "From: a@example.org\nTo: b@example.net\nSubject: ");
	for (int i = 0; i < 400000; i++)
		sp_buf_append_str(&m, i % 20 ? "\xc3\xa9" : "\n \x01");
	sp_buf_append_str(&m, "\nContent-Type: multipart/mixed; boundary=z\n\n");
	for (int i = 0; i < 1500; i++) {
		sp_buf_append_str(&m, "--z\nContent-Type: application/x-a\nContent-Disposition: attachment; filename=\"");
		for (int j = 0; j < 2000; j++)
			sp_buf_append_str(&m, j % 2 ? "\"" : "\\");
		sp_buf_append_str(&m, "\"\n\nx\n");
	}
	sp_buf_append_str(&m, "--z--\n");
	T_CHECK(roundtrip(m.data, m.len, &c, NULL));
	T_EQ_INT(sp_msg_container_view(c.data, c.len, &v, &err), SP_OK);
	T_CHECK(v.subject != NULL && strlen(v.subject) <= 16384 && strlen(v.subject) > 10000);
	T_CHECK(v.subject != NULL && strchr(v.subject, '\x01') == NULL);
	T_EQ_INT(v.nparts, 1500);
	T_CHECK(v.nparts > 0 && v.parts[0].name != NULL && strlen(v.parts[0].name) <= 1024);
	sp_msg_view_clear(&v);
	sp_buf_free(&c);
	sp_buf_free(&m);
}

/* Deep nesting: beyond the walk limits the rest stays literal. */
static void
test_nesting(void)
{
	int depths[] = { 40, 1990, 3000 };

	for (size_t d = 0; d < 3; d++) {
		struct sp_buf m, c;
		struct sp_msg_view v;
		struct sp_err err = { { 0 } };
		int i;

		sp_buf_init(&m, 1 << 24);
		sp_buf_append_str(&m, "From: deep@example.org\nTo: x@example.net\nSubject: deep\n");
		for (i = 0; i < depths[d]; i++)
			sp_buf_printf(&m, "Content-Type: multipart/mixed; boundary=\"b%d\"\n\n--b%d\n", i, i);
		sp_buf_append_str(&m, "Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\nAAECAwQF\n");
		for (i = depths[d] - 1; i >= 0; i--)
			sp_buf_printf(&m, "--b%d--\n", i);
		T_CHECK(roundtrip(m.data, m.len, &c, NULL));
		T_EQ_INT(sp_msg_container_view(c.data, c.len, &v, &err), SP_OK);
		T_CHECK(streq(v.subject, "deep"));
		T_EQ_INT(v.nparts, 0);	/* the leaf is past SP_MSG_MAX_DEPTH */
		sp_msg_view_clear(&v);
		sp_buf_free(&c);
		sp_buf_free(&m);
	}
}

/* More parts than SP_MSG_MAX_PARTS: the rest stays literal, still exact. */
static void
test_many_parts(void)
{
	struct sp_buf m, c;
	struct sp_msg_view v;
	struct sp_err err = { { 0 } };
	size_t nb64;

	sp_buf_init(&m, 1 << 24);
	sp_buf_append_str(&m, "From: many@example.org\nTo: x@example.net\nSubject: many parts\n"
	    "Content-Type: multipart/mixed; boundary=\"p\"\n\n");
	for (int i = 0; i < SP_MSG_MAX_PARTS + 100; i++)
		sp_buf_printf(&m, "--p\nContent-Type: application/octet-stream; name=\"f%d\"\n"
		    "Content-Transfer-Encoding: base64\n\n%sAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g\n", i, i % 2 ? "\n" : "");
	sp_buf_append_str(&m, "--p--\n");
	T_CHECK(roundtrip(m.data, m.len, &c, NULL));
	nb64 = count_b64(&c);
	T_EQ_INT(nb64, SP_MSG_MAX_PARTS - 1);	/* the walk counts the multipart too */
	T_EQ_INT(sp_msg_container_view(c.data, c.len, &v, &err), SP_OK);
	T_EQ_INT(v.nparts, SP_MSG_MAX_PARTS - 1);
	T_CHECK(v.nparts > 1 && v.parts[1].len == 33 && streq(v.parts[1].name, "f1"));
	sp_msg_view_clear(&v);
	sp_buf_free(&c);
	sp_buf_free(&m);
}

/* A body with n "multipart/" or "message/" markers, each at another
 * offset modulo 16 and in another case, among base64-like text full of
 * '/' after other letters (and after a 't' not ending a marker): parsed
 * for its header block only exactly when n > SP_MSG_MAX_PARTS. */
static int
headers_only_with(int n)
{
	static const char *const mark[] = { "multipart/", "Message/", "MULTIPART/", "message/" };
	struct sp_buf m;
	struct sp_msg *h = NULL;
	struct sp_err err = { { 0 } };
	int r = -1;

	sp_buf_init(&m, 1 << 24);
	sp_buf_append_str(&m, "From: a@example.org\nTo: b@example.net\nSubject: markers\n\n");
	for (int i = 0; i < n; i++)
		sp_buf_printf(&m, "%.*sab/cd/Ef/xt/%s\n", i % 16, "QUJDREVGR0hJSktM", mark[i % 4]);
	for (int i = 0; i < 300; i++)
		sp_buf_append_str(&m, "ab/cd/ef/gh/part/mess/age/xe/T/\n");
	if (sp_msg_open(m.data, m.len, &h, &err) == SP_OK)
		r = msg_handle_headers_only(h);
	sp_msg_free(h);
	sp_buf_free(&m);
	return r;
}

static void
test_marker_count(void)
{
	T_EQ_INT(headers_only_with(0), 0);
	T_EQ_INT(headers_only_with(SP_MSG_MAX_PARTS), 0);
	T_EQ_INT(headers_only_with(SP_MSG_MAX_PARTS + 1), 1);
}

static void
test_safe_filename(void)
{
	static const struct { const char *in; size_t idx; const char *want; } t[] = {
		{ "report.pdf", 1, "report.pdf" },
		{ "../../etc/passwd", 1, "passwd" },
		{ "C:\\Users\\x\\evil.exe", 1, "evil.exe" },
		{ "dir/", 3, "attachment-3" },
		{ "...hidden", 1, "hidden" },
		{ ".", 2, "attachment-2" },
		{ "", 4, "attachment-4" },
		{ NULL, 5, "attachment-5" },
		{ "a\x01\x1b[31mb\x7f.txt", 1, "a[31mb.txt" },
		{ "what?<x>|y*.txt", 1, "what__x__y_.txt" },
		{ "CON", 1, "_CON" },
		{ "nul.txt", 1, "_nul.txt" },
		{ "com1.log", 1, "_com1.log" },
		{ "console.txt", 1, "console.txt" },
		{ "trailing dots...", 1, "trailing dots" },
		{ "r\xc3\xa9sum\xc3\xa9.pdf", 1, "r\xc3\xa9sum\xc3\xa9.pdf" },
		{ "bad\xff\xfeutf8", 1, "bad__utf8" },
	};
	char out[256], longname[600];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		sp_msg_safe_filename(t[i].in, t[i].idx, out, sizeof(out));
		if (strcmp(out, t[i].want) != 0)
			fprintf(stderr, "safe_filename(%s) = \"%s\", expected \"%s\"\n", t[i].in ? t[i].in : "NULL", out, t[i].want);
		T_CHECK(strcmp(out, t[i].want) == 0);
	}
	/* 300 two-byte characters: capped at 200 bytes on a character boundary */
	for (size_t i = 0; i < 300; i++)
		memcpy(longname + 2 * i, "\xc3\xa9", 2);
	longname[600 - 1] = '\0';
	sp_msg_safe_filename(longname, 1, out, sizeof(out));
	T_EQ_INT(strlen(out), 200);
	T_CHECK((unsigned char)out[198] == 0xc3 && (unsigned char)out[199] == 0xa9);
	/* a small output buffer still gets a terminated, boundary-safe name */
	sp_msg_safe_filename(longname, 1, out, 6);
	T_EQ_INT(strlen(out), 4);
	sp_msg_safe_filename(NULL, 12, out, 8);
	T_CHECK(strcmp(out, "attachm") == 0);
}

/* The milter builds containers from several threads at once. */
static void *
thread_main(void *arg)
{
	size_t *ok = arg;
	char path[256];

	for (int round = 0; round < 5; round++) {
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			struct sp_buf c, back;
			struct sp_msg_view v;
			struct sp_msg_info info;
			struct sp_err err;
			unsigned char *raw;
			size_t len;

			snprintf(path, sizeof(path), CORPUS "%s", cases[i].file);
			if ((raw = slurp(path, &len)) == NULL)
				continue;
			sp_buf_init(&c, SP_MSG_MAX_SIZE);
			sp_buf_init(&back, SP_MSG_MAX_SIZE);
			if (sp_msg_container_build(raw, len, &c, &info, &err) == SP_OK &&
			    sp_msg_container_raw(c.data, c.len, &back, &err) == SP_OK &&
			    back.len == len && memcmp(back.data, raw, len) == 0 &&
			    sp_msg_container_view(c.data, c.len, &v, &err) == SP_OK) {
				if (v.nparts == cases[i].nparts)
					(*ok)++;
				sp_msg_view_clear(&v);
			}
			sp_msg_info_clear(&info);
			sp_buf_free(&c);
			sp_buf_free(&back);
			free(raw);
		}
	}
	return NULL;
}

static void
test_threads(void)
{
	pthread_t th[4];
	size_t ok[4] = { 0 };

	for (int i = 0; i < 4; i++)
		T_EQ_INT(pthread_create(&th[i], NULL, thread_main, &ok[i]), 0);
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		T_EQ_INT(ok[i], 5 * (sizeof(cases) / sizeof(cases[0])));
	}
}

static void
init(void)
{
	static const char m[] = "From: a@example.org\r\nTo: b@example.org\r\n"
	    "Subject: init\r\n\r\nbody\r\n";
	struct sp_msg_info info;
	struct sp_buf c;
	struct sp_err err = { { 0 } };

	/* a second initialisation changes nothing: the library still parses */
	sp_msg_global_init();
	sp_msg_global_init();
	memset(&info, 0, sizeof(info));
	sp_buf_init(&c, 1 << 20);
	T_EQ_INT(sp_msg_container_build((const unsigned char *)m, sizeof(m) - 1, &c, &info, &err),
	    SP_OK);
	T_CHECK(info.from != NULL && streq(info.from, "a@example.org"));
	sp_msg_info_clear(&info);
	sp_buf_free(&c);
}

T_MAIN(init, test_corpus, test_info, test_too_many_recipients, test_check, test_preamble,
    test_rcpt_fields, test_tamper,
    test_safe_filename, test_huge_headers, test_nesting, test_many_parts, test_marker_count, test_forwarded, test_binary_part, test_odd_layouts, test_compression, test_mutations, test_threads, test_large)

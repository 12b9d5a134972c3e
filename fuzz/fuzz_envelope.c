/*
 * fuzz_envelope.c - libFuzzer target for the envelope readers: the input is
 * given to sp_env_html_read() as a securedoc.html file (both formats: the
 * signature element of format 2 included) and to sp_env_header_decode() as
 * header bytes (format 1 and 2 headers).  When the file reads, its
 * ciphertext also goes through sp_env_decrypt() with a fixed key (which
 * must refuse it, as nothing here knows the key), its signature through
 * sp_sign_verify_envelope(), and the file is written again from what was
 * read and must read back to the same parts.
 * SECURITY: exercises the parsers of untrusted envelopes.
 */
#include "envelope.h"
#include "sign.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The key of tests/vectors/envelope-v2.json (RFC 8032 test 1). */
static const unsigned char pub[SP_SIGN_PUB_LEN] = {
	0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe, 0xd3, 0xc9, 0x64, 0x07, 0x3a,
	0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6, 0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68, 0xf7, 0x07, 0x51, 0x1a,
};

/* Writes f back to an envelope file and reads it again: the same header
 * bytes, mail part, ciphertext and signature must come back. */
static void
rewrite(const struct sp_env_file *f)
{
	struct sp_env_html_params p;
	struct sp_env_file g;
	struct sp_buf html;
	struct sp_writer w = { sp_writer_buf, &html };
	struct sp_err err;

	memset(&p, 0, sizeof(p));
	p.header = &f->header;
	p.header_bytes = f->header_bytes.data;
	p.header_len = f->header_bytes.len;
	p.mail_part = f->mail_part;
	p.sig = f->has_sig ? f->sig : NULL;
	p.brand_colour = "#336699";
	sp_buf_init(&html, SP_ENV_MAX_PAYLOAD * 2);
	if (sp_env_html_write(&p, f->ct.data, f->ct.len, w, &err) != SP_OK)
		abort();	/* what was read is always writable */
	if (sp_env_html_read(html.data, html.len, &g, &err) != SP_OK ||
	    g.header_bytes.len != f->header_bytes.len ||
	    memcmp(g.header_bytes.data, f->header_bytes.data, g.header_bytes.len) != 0 ||
	    memcmp(g.mail_part, f->mail_part, SP_KEY_LEN) != 0 ||
	    g.ct.len != f->ct.len || memcmp(g.ct.data, f->ct.data, g.ct.len) != 0 ||
	    g.has_sig != f->has_sig || (g.has_sig && memcmp(g.sig, f->sig, sizeof(g.sig)) != 0))
		abort();
	sp_env_file_clear(&g);
	sp_buf_free(&html);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned char key[SP_KEY_LEN];
	unsigned char hs[SP_SHA256_LEN], cs[SP_SHA256_LEN];
	struct sp_env_header h;
	struct sp_env_file f;
	struct sp_buf out, re;
	struct sp_err err;

	if (sp_env_html_read(data, size, &f, &err) == SP_OK) {
		/* format 2 files carry a signature, format 1 files none */
		if (f.has_sig != (f.header.version == 2))
			abort();
		sp_buf_init(&out, SP_ENV_MAX_PAYLOAD);
		if (sp_env_decrypt(key, f.header.nonce_prefix, f.header_bytes.data,
		    f.header_bytes.len, f.ct.data, f.ct.len, &out, &err) == SP_OK && f.ct.len > 0)
			abort();	/* a forgery under the all-zero key */
		sp_buf_free(&out);
		if (f.has_sig) {
			sp_sha256(f.header_bytes.data, f.header_bytes.len, hs);
			sp_sha256(f.ct.data, f.ct.len, cs);
			(void)sp_sign_verify_envelope(pub, hs, cs, f.sig);
		}
		if (f.ct.len <= (1 << 20))
			rewrite(&f);
	}
	sp_env_file_clear(&f);

	if (sp_env_header_decode(data, size, &h, &err) == SP_OK) {
		/* a header that parses re-encodes to a header that parses */
		sp_buf_init(&re, SP_ENV_MAX_HEADER);
		if (sp_env_header_encode(&h, &re, &err) == SP_OK) {
			struct sp_env_header h2;

			if (sp_env_header_decode(re.data, re.len, &h2, &err) != SP_OK ||
			    strcmp(h2.id, h.id) != 0 || h2.nto != h.nto ||
			    h2.version != h.version || strcmp(h2.kid, h.kid) != 0 ||
			    strcmp(h2.level, h.level) != 0 || h2.verify != h.verify)
				abort();
			sp_env_header_clear(&h2);
		} else if (h.version == 2) {
			abort();	/* every decoded format 2 header encodes */
		}
		sp_buf_free(&re);
	}
	sp_env_header_clear(&h);
	return 0;
}

/*
 * fuzz_envelope.c - libFuzzer target for the envelope readers: the input is
 * given to sp_env_html_read() as a securedoc.html file and to
 * sp_env_header_decode() as header bytes.  When the file reads, its
 * ciphertext also goes through sp_env_decrypt() with a fixed key (which
 * must refuse it, as nothing here knows the key).
 * SECURITY: exercises the parsers of untrusted envelopes.
 */
#include "envelope.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned char key[SP_KEY_LEN];
	struct sp_env_header h;
	struct sp_env_file f;
	struct sp_buf out, re;
	struct sp_err err;

	if (sp_env_html_read(data, size, &f, &err) == SP_OK) {
		sp_buf_init(&out, SP_ENV_MAX_PAYLOAD);
		if (sp_env_decrypt(key, f.header.nonce_prefix, f.header_bytes.data,
		    f.header_bytes.len, f.ct.data, f.ct.len, &out, &err) == SP_OK && f.ct.len > 0)
			abort();	/* a forgery under the all-zero key */
		sp_buf_free(&out);
	}
	sp_env_file_clear(&f);

	if (sp_env_header_decode(data, size, &h, &err) == SP_OK) {
		/* a header that parses re-encodes to a header that parses */
		sp_buf_init(&re, SP_ENV_MAX_HEADER);
		if (sp_env_header_encode(&h, &re, &err) == SP_OK) {
			struct sp_env_header h2;

			if (sp_env_header_decode(re.data, re.len, &h2, &err) != SP_OK ||
			    strcmp(h2.id, h.id) != 0 || h2.nto != h.nto)
				abort();
			sp_env_header_clear(&h2);
		}
		sp_buf_free(&re);
	}
	sp_env_header_clear(&h);
	return 0;
}

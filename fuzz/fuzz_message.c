/*
 * fuzz_message.c - libFuzzer target for the message model.  The input is
 * taken as a mail message: when sp_msg_container_build() accepts it, the
 * container must rebuild the input byte for byte (losslessness is the
 * invariant: abort() otherwise) and its view must decode.  The same input
 * is also given to sp_msg_container_raw() and sp_msg_container_view() as
 * an untrusted container.  The input's whole groups of four bytes are
 * also decoded as base64 by both paths of b64.c (vector and one group at
 * a time), which must agree on the verdict and the bytes, and the bytes
 * must encode back to the input.
 * SECURITY: exercises the parsers of untrusted mail and containers.
 */
#include "b64.h"
#include "message.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__lsan_default_suppressions(void);

/* GMime 3.2.13 itself leaks a small GString when its parser meets some
 * malformed address headers (reproduced with GMime alone: parse, unref,
 * leak).  GLib has no frame pointers, so the fast unwinder sees only
 * realloc <- g_realloc: leaks of memory grown by g_realloc are suppressed.
 * Objects this library forgets to release (g_object_new, g_malloc, malloc)
 * are still reported. */
const char *
__lsan_default_suppressions(void)
{
	return "leak:g_realloc\n";
}

/* Both base64 paths on the input's whole groups (exactly sized buffers,
 * so the sanitizer sees any read or write past them). */
static void
b64_paths(const uint8_t *data, size_t size)
{
	size_t groups = size / 4;
	unsigned char *a = malloc(groups * 3 + 1), *b = malloc(groups * 3 + 1);
	unsigned char *e = malloc(groups * 4 + 1);
	int ra, rb;

	if (a == NULL || b == NULL || e == NULL)
		abort();
	sp_b64_vector(1);
	ra = sp_b64_dec_groups(data, groups, a);
	sp_b64_vector(0);
	rb = sp_b64_dec_groups(data, groups, b);
	if (ra != rb || (ra && memcmp(a, b, groups * 3) != 0))
		abort();
	/* text that decodes encodes back to itself, on both paths */
	if (ra) {
		sp_b64_enc_groups(a, groups, e);
		if (memcmp(e, data, groups * 4) != 0)
			abort();
		sp_b64_vector(1);
		sp_b64_enc_groups(a, groups, e);
		if (memcmp(e, data, groups * 4) != 0)
			abort();
	}
	sp_b64_vector(1);
	free(a);
	free(b);
	free(e);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sp_buf c, back;
	struct sp_msg_view v;
	struct sp_msg_info info;
	struct sp_err err;

	b64_paths(data, size);
	sp_msg_global_init();
	sp_buf_init(&c, SP_MSG_MAX_SIZE + ((size_t)16 << 20));
	sp_buf_init(&back, SP_MSG_MAX_SIZE);
	if (sp_msg_container_build(data, size, &c, &info, &err) == SP_OK) {
		if (sp_msg_container_raw(c.data, c.len, &back, &err) != SP_OK)
			abort();
		if (back.len != size || memcmp(back.data, data, size) != 0)
			abort();
		if (sp_msg_container_view(c.data, c.len, &v, &err) != SP_OK)
			abort();
		sp_msg_view_clear(&v);
		sp_msg_info_clear(&info);
	}
	sp_buf_free(&c);
	sp_buf_free(&back);

	/* the input as an untrusted container */
	sp_buf_init(&back, SP_MSG_MAX_SIZE);
	(void)sp_msg_container_raw(data, size, &back, &err);
	sp_buf_free(&back);
	if (sp_msg_container_view(data, size, &v, &err) == SP_OK)
		sp_msg_view_clear(&v);
	return 0;
}

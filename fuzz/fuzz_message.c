/*
 * fuzz_message.c - libFuzzer target for the message model.  The input is
 * taken as a mail message: when sp_msg_container_build() accepts it, the
 * container must rebuild the input byte for byte (losslessness is the
 * invariant: abort() otherwise) and its view must decode.  The same input
 * is also given to sp_msg_container_raw() and sp_msg_container_view() as
 * an untrusted container.
 * SECURITY: exercises the parsers of untrusted mail and containers.
 */
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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sp_buf c, back;
	struct sp_msg_view v;
	struct sp_msg_info info;
	struct sp_err err;

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

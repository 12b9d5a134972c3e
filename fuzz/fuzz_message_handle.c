/*
 * fuzz_message_handle.c - libFuzzer target for the message handle: the
 * input is parsed once (sp_msg_open) and every reader of the handle runs on
 * it as the milter runs them: the sealer's info, the container plan built
 * from the handle (written out, it must rebuild the input byte for byte:
 * abort() otherwise), the same plan with a header field removed (the
 * shifted offsets of a sealed copy without its sender controls), and the
 * default policy, which finds the handle bound for the same bytes.
 * SECURITY: exercises the parser of untrusted mail and everything that
 * reads its result.
 */
#include "message.h"
#include "message_internal.h"
#include "policy.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__lsan_default_suppressions(void);

/* GMime leaks a small GString on some malformed address headers (see
 * fuzz_message.c). */
const char *
__lsan_default_suppressions(void)
{
	return "leak:g_realloc\n";
}

static struct sp_policy *policy;
static struct sp_policy_scratch *scratch;

/* The container of raw from h must rebuild raw exactly. */
static void
check_plan(struct sp_msg *h, const unsigned char *raw, size_t len, size_t shift)
{
	struct sp_buf c, back;
	struct sp_err err;

	sp_buf_init(&c, SP_MSG_MAX_SIZE + ((size_t)16 << 20));
	sp_buf_init(&back, SP_MSG_MAX_SIZE);
	if (msg_container_build(h, raw, len, shift, &c, &err) == SP_OK &&
	    (sp_msg_container_raw(c.data, c.len, &back, &err) != SP_OK ||
	    back.len != len || memcmp(back.data, raw, len) != 0))
		abort();
	sp_buf_free(&c);
	sp_buf_free(&back);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sp_msg *h;
	struct sp_msg_info info;
	struct sp_policy_result r;
	struct sp_err err;
	const unsigned char *nl;
	unsigned char *cut;
	size_t first;

	sp_msg_global_init();
	if (policy == NULL && (sp_policy_load(&policy, NULL, &err) != SP_OK ||
	    sp_policy_scratch_new(policy, &scratch, &err) != SP_OK))
		abort();
	if (sp_msg_open(data, size, &h, &err) != SP_OK)
		return 0;
	if (sp_msg_info_read(h, &info, &err) == SP_OK)
		sp_msg_info_clear(&info);
	check_plan(h, data, size, 0);
	/* the first line removed, as a sender control field is */
	nl = memchr(data, '\n', size);
	first = nl != NULL ? (size_t)(nl - data) + 1 : 0;
	if (first > 0 && first < size && (cut = malloc(size - first)) != NULL) {
		memcpy(cut, data + first, size - first);
		check_plan(h, cut, size - first, first);
		free(cut);
	}
	sp_msg_bind(h);
	if (sp_policy_decide(policy, scratch, data, size, NULL, NULL, 0, &r, &err) == SP_OK)
		sp_policy_result_clear(&r);
	sp_msg_unbind();
	sp_msg_free(h);
	return 0;
}

/*
 * fuzz_khproto.c - libFuzzer target for the key holder's message decoder:
 * the input (any bytes) is decoded as one frame; it must return a status,
 * never crash; a frame that decodes must encode back to the same bytes
 * (one encoding per message), and its header must pass sp_kh_header().
 * SECURITY: exercises the parser of every request the key holder reads.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "khproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char out[SP_KH_FRAME_MAX];
	struct sp_kh_msg m;
	struct sp_err err;
	size_t len = 0;

	if (size >= SP_KH_HDR_LEN)
		(void)sp_kh_header(data, NULL, NULL, NULL, &err);
	if (sp_kh_decode(data, size, &m, &err) != SP_OK)
		return 0;
	if (size > SP_KH_FRAME_MAX || sp_kh_header(data, NULL, NULL, NULL, &err) != SP_OK)
		abort();
	if (sp_kh_encode(&m, out, sizeof(out), &len, &err) != SP_OK)
		abort();
	if (len != size || memcmp(out, data, size) != 0)
		abort();
	return 0;
}

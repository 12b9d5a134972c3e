/*
 * b64.h - base64 (RFC 4648 section 4, the standard alphabet) in whole
 * groups, 3 bytes to 4 characters and back: the inner loops of the
 * encoder of envelope payloads (crypto.c's sp_b64_encode) and of the
 * decoder of large attachments (message_codec.c).  No line breaks and no
 * padding here; the callers handle both.
 * SECURITY: sp_b64_dec_groups reads untrusted text; both functions read
 * and write only inside the lengths given.
 */
#ifndef SP_B64_H
#define SP_B64_H

#include <stddef.h>

/* The alphabet (value to character), and the value of each character
 * (0..63), 0xff for every other byte. */
extern const char sp_b64_chars[65];
extern const unsigned char sp_b64_value[256];

/* Encode groups * 3 bytes of in as groups * 4 characters at out. */
void sp_b64_enc_groups(const unsigned char *in, size_t groups, unsigned char *out);

/* Decode groups * 4 characters at in into groups * 3 bytes at out.
 * 1 when every character is in the alphabet ('=' is not), else 0 (out
 * then holds bytes of no meaning). */
int sp_b64_dec_groups(const unsigned char *in, size_t groups, unsigned char *out);

/* Where the processor has AVX2 both go 24 bytes (32 characters) at a
 * time, else one group at a time; the two give the same results.
 * sp_b64_vector(0) forces the one-group path, sp_b64_vector(1) uses the
 * vector path where the processor has it (the default); the result is
 * whether the vector path is now used.  For tests and benches. */
int sp_b64_vector(int on);

#endif

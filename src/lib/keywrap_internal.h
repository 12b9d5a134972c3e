/*
 * keywrap_internal.h - the two implementations behind keywrap.h: each
 * starts its own struct with a struct sp_keywrap whose ops the public
 * functions call.
 */
#ifndef SP_KEYWRAP_INTERNAL_H
#define SP_KEYWRAP_INTERNAL_H

#include "keywrap.h"

struct sp_keywrap_ops {
	int (*wrap)(struct sp_keywrap *kw, const char *aad, const unsigned char *part,
	    unsigned char *out, uint32_t *key_id, struct sp_err *err);
	int (*unwrap)(struct sp_keywrap *kw, uint32_t key_id, const char *aad,
	    const unsigned char *in, size_t inlen, unsigned char *part, struct sp_err *err);
	uint32_t (*current)(struct sp_keywrap *kw);
	int (*alive)(struct sp_keywrap *kw);
	void (*free)(struct sp_keywrap *kw);
};

struct sp_keywrap {
	const struct sp_keywrap_ops *ops;
};

#endif

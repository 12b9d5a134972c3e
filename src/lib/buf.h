/*
 * buf.h - a growable byte buffer that always carries its length and a cap.
 *
 * Untrusted bytes live in a struct sp_buf.  Every buffer is created with a
 * mandatory cap: an append that would take it past the cap fails with
 * SP_ERR_TOOBIG and leaves the buffer unchanged.  data is always followed by
 * one NUL byte (not counted in len) so text can be passed to C string APIs
 * after checking it holds no NUL.
 *
 * Ownership: the struct is owned by the caller (usually on the stack); the
 * storage is owned by the buffer and released by sp_buf_free() (or
 * sp_buf_wipe() for secrets).  sp_buf_steal() hands the storage to the caller.
 */
#ifndef SP_BUF_H
#define SP_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct sp_buf {
	unsigned char *data;	/* NULL until the first append */
	size_t len;		/* bytes used */
	size_t size;		/* bytes allocated (excluding the trailing NUL) */
	size_t cap;		/* hard maximum for len */
};

void sp_buf_init(struct sp_buf *b, size_t cap);
/* Ensure room for len + n bytes.  SP_ERR_TOOBIG past cap, SP_ERR_NOMEM. */
int sp_buf_reserve(struct sp_buf *b, size_t n);
int sp_buf_append(struct sp_buf *b, const void *p, size_t n);
int sp_buf_append_str(struct sp_buf *b, const char *s);
int sp_buf_printf(struct sp_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int sp_buf_vprintf(struct sp_buf *b, const char *fmt, va_list ap);
/* Drop the contents, keep the storage. */
void sp_buf_reset(struct sp_buf *b);
/* Release storage; the buffer may be reused after sp_buf_init(). */
void sp_buf_free(struct sp_buf *b);
/* Wipe the bytes, then release storage (for keys, passwords, plaintext). */
void sp_buf_wipe(struct sp_buf *b);
/* Hand the storage (NUL-terminated, may be NULL when empty) to the caller,
 * who frees it with free(); the buffer is left empty. */
unsigned char *sp_buf_steal(struct sp_buf *b, size_t *len);

/* Output sink used by writers that stream large results (sealed mail). */
struct sp_writer {
	/* Returns SP_OK or a status; ctx is the writer's own state. */
	int (*write)(void *ctx, const void *p, size_t n);
	void *ctx;
};
/* A writer that appends to a buffer (ctx = struct sp_buf *). */
int sp_writer_buf(void *ctx, const void *p, size_t n);
/* A writer that writes to a stdio stream (ctx = FILE *). */
int sp_writer_file(void *ctx, const void *p, size_t n);

#endif

/*
 * buf.c - growable, capped byte buffers and the writer sinks.
 * SECURITY: holds untrusted bytes and secrets; every growth is checked
 * against the cap and for size_t overflow; sp_buf_wipe() clears secrets.
 */
#include "buf.h"
#include "sp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
sp_buf_init(struct sp_buf *b, size_t cap)
{
	b->data = NULL;
	b->len = 0;
	b->size = 0;
	b->cap = cap;
}

int
sp_buf_reserve(struct sp_buf *b, size_t n)
{
	size_t need, nsize;
	unsigned char *p;

	if (n > b->cap || b->len > b->cap - n)
		return SP_ERR_TOOBIG;
	need = b->len + n;
	if (need <= b->size && b->data != NULL)
		return SP_OK;
	nsize = b->size < 64 ? 64 : b->size;
	while (nsize < need)
		nsize = nsize > b->cap / 2 ? b->cap : nsize * 2;
	if (nsize < need)
		nsize = need;
	p = realloc(b->data, nsize + 1);
	if (p == NULL)
		return SP_ERR_NOMEM;
	b->data = p;
	b->size = nsize;
	b->data[b->len] = '\0';
	return SP_OK;
}

int
sp_buf_append(struct sp_buf *b, const void *p, size_t n)
{
	int st;

	if (n == 0)
		return sp_buf_reserve(b, 0);
	if ((st = sp_buf_reserve(b, n)) != SP_OK)
		return st;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return SP_OK;
}

int
sp_buf_append_str(struct sp_buf *b, const char *s)
{
	return sp_buf_append(b, s, strlen(s));
}

int
sp_buf_vprintf(struct sp_buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n, st;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return SP_ERR_INVALID;
	if ((st = sp_buf_reserve(b, (size_t)n)) != SP_OK)
		return st;
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return SP_OK;
}

int
sp_buf_printf(struct sp_buf *b, const char *fmt, ...)
{
	va_list ap;
	int st;

	va_start(ap, fmt);
	st = sp_buf_vprintf(b, fmt, ap);
	va_end(ap);
	return st;
}

void
sp_buf_reset(struct sp_buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

void
sp_buf_free(struct sp_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->size = 0;
}

void
sp_buf_wipe(struct sp_buf *b)
{
	if (b->data != NULL)
		explicit_bzero(b->data, b->size + 1);
	sp_buf_free(b);
}

unsigned char *
sp_buf_steal(struct sp_buf *b, size_t *len)
{
	unsigned char *p = b->data;

	if (len != NULL)
		*len = b->len;
	b->data = NULL;
	b->len = b->size = 0;
	return p;
}

int
sp_writer_buf(void *ctx, const void *p, size_t n)
{
	return sp_buf_append(ctx, p, n);
}

int
sp_writer_file(void *ctx, const void *p, size_t n)
{
	if (n > 0 && fwrite(p, 1, n, ctx) != n)
		return SP_ERR_IO;
	return SP_OK;
}

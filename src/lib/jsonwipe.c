/*
 * jsonwipe.c - jansson's allocation functions (jsonwipe.h): each block
 * carries its size in a header of the alignment malloc gives, so that
 * free can wipe exactly the bytes handed out.
 */
#include <jansson.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "jsonwipe.h"

/* the header keeps the block's alignment */
#define HDR sizeof(max_align_t)

static unsigned long long wiped;

static void *
wipe_malloc(size_t n)
{
	unsigned char *p;

	if (n > (size_t)-1 - HDR || (p = malloc(HDR + n)) == NULL)
		return NULL;
	*(size_t *)(void *)p = n;
	return p + HDR;
}

static void
wipe_free(void *q)
{
	unsigned char *p;
	size_t n;

	if (q == NULL)
		return;
	p = (unsigned char *)q - HDR;
	n = *(size_t *)(void *)p;
	sp_wipe(q, n);
	__atomic_add_fetch(&wiped, n, __ATOMIC_RELAXED);
	free(p);
}

void
sp_json_wipe_install(void)
{
	json_set_alloc_funcs(wipe_malloc, wipe_free);
}

unsigned long long
sp_json_wiped_bytes(void)
{
	return __atomic_load_n(&wiped, __ATOMIC_RELAXED);
}

char *
sp_json_dumps(const json_t *j, size_t flags)
{
	json_free_t jfree;
	char *t = json_dumps(j, flags), *out;
	size_t n;

	if (t == NULL)
		return NULL;
	n = strlen(t);
	if ((out = malloc(n + 1)) != NULL)
		memcpy(out, t, n + 1);
	json_get_alloc_funcs(NULL, &jfree);
	sp_wipe(t, n);
	jfree(t);
	return out;
}

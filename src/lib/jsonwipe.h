/*
 * jsonwipe.h - jansson's memory, wiped when it is freed.  JSON bodies and
 * answers carry passwords, security answers, recovery codes and session
 * tokens; jansson copies every string it parses or packs, and frees the
 * copies without clearing them.  With these allocation functions every
 * block jansson frees is wiped first.
 * Call sp_json_wipe_install() once, before the process makes any JSON value.
 */
#ifndef SP_JSONWIPE_H
#define SP_JSONWIPE_H

#include <jansson.h>
#include <stddef.h>

void sp_json_wipe_install(void);
/* json_dumps(), whose text is then the caller's from malloc (free() it),
 * whichever allocation functions jansson has: use this, never json_dumps. */
char *sp_json_dumps(const json_t *j, size_t flags);
/* Bytes wiped so far by the installed free (for tests and diagnostics). */
unsigned long long sp_json_wiped_bytes(void);

#endif

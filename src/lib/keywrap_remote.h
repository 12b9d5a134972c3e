/*
 * keywrap_remote.h - what the key server needs of the remote keywrap
 * (keywrap.h's sp_keywrap_connect) beyond keywrap.h: taking a new key
 * holder's socket once the old key holder has gone away.
 */
#ifndef SP_KEYWRAP_REMOTE_H
#define SP_KEYWRAP_REMOTE_H

#include "keywrap.h"

/* Most requests in flight on one connection; a caller beyond them waits
 * for a slot (within the same deadline). */
#define SP_KH_WINDOW 64

/* Give kw, made by sp_keywrap_connect(), a new connection fd (kw owns it)
 * and ask it HELLO.  The old connection must be dead (sp_keywrap_alive()
 * 0): its waiters have all been answered SP_ERR_RETRY.  SP_OK: calls work
 * again; else kw stays dead (SP_ERR_RETRY) and fd is closed.
 * SP_ERR_INVALID when kw is not remote or still alive. */
int sp_keywrap_reconnect(struct sp_keywrap *kw, int fd, struct sp_err *err);

#endif

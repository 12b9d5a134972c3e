/*
 * privsep.h - what the daemons do to keep their memory and privileges to
 * themselves: no core dumps, no ptrace by the same user, and giving up
 * root for a named user.
 * SECURITY: sp_priv_drop() either leaves the process without any way back
 * to root, or fails (the caller refuses to start).
 */
#ifndef SP_PRIVSEP_H
#define SP_PRIVSEP_H

#include <sys/types.h>

#include "sp.h"

/* prctl(PR_SET_DUMPABLE, 0) (no core file, no ptrace or /proc/PID/mem for
 * the same user) and RLIMIT_CORE 0.  SP_ERR_IO when either fails. */
int sp_priv_harden(struct sp_err *err);

/* The uid and primary gid of user name: SP_ERR_CONFIG when unknown. */
int sp_priv_user(const char *name, uid_t *uid, gid_t *gid, struct sp_err *err);

/* Become uid/gid: setgroups to just gid, setgid, setuid, then check that
 * every id changed and that setuid(0) no longer works.  Restores
 * PR_SET_DUMPABLE 0 (a change of ids may reset it). */
int sp_priv_drop(uid_t uid, gid_t gid, struct sp_err *err);

#endif

/*
 * privsep.c - core dumps off, memory closed, root given up (privsep.h).
 * SECURITY: checks every step of the privilege change, and that it cannot
 * be undone.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "privsep.h"

int
sp_priv_harden(struct sp_err *err)
{
	struct rlimit rl = {0, 0};

	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		return sp_err_set(err, SP_ERR_IO, "prctl(PR_SET_DUMPABLE): %s", strerror(errno));
	if (setrlimit(RLIMIT_CORE, &rl) != 0)
		return sp_err_set(err, SP_ERR_IO, "setrlimit(RLIMIT_CORE): %s", strerror(errno));
	return SP_OK;
}

int
sp_priv_user(const char *name, uid_t *uid, gid_t *gid, struct sp_err *err)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	int e;

	e = getpwnam_r(name, &pw, buf, sizeof(buf), &res);
	if (e != 0 || res == NULL)
		return sp_err_set(err, SP_ERR_CONFIG, "unknown user '%s'%s%s", name,
		    e ? ": " : "", e ? strerror(e) : "");
	*uid = pw.pw_uid;
	*gid = pw.pw_gid;
	return SP_OK;
}

int
sp_priv_drop(uid_t uid, gid_t gid, struct sp_err *err)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	if (uid == 0)
		return sp_err_set(err, SP_ERR_CONFIG, "will not run as a user with uid 0");
	if (setgroups(1, &gid) != 0)
		return sp_err_set(err, SP_ERR_DENIED, "setgroups: %s", strerror(errno));
	if (setresgid(gid, gid, gid) != 0)
		return sp_err_set(err, SP_ERR_DENIED, "setresgid(%ld): %s", (long)gid,
		    strerror(errno));
	if (setresuid(uid, uid, uid) != 0)
		return sp_err_set(err, SP_ERR_DENIED, "setresuid(%ld): %s", (long)uid,
		    strerror(errno));
	if (getresuid(&ru, &eu, &su) != 0 || getresgid(&rg, &eg, &sg) != 0 ||
	    ru != uid || eu != uid || su != uid || rg != gid || eg != gid || sg != gid)
		return sp_err_set(err, SP_ERR_DENIED, "the user change did not take");
	if (setuid(0) == 0 || seteuid(0) == 0)
		return sp_err_set(err, SP_ERR_DENIED, "root could be regained after the change");
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		return sp_err_set(err, SP_ERR_IO, "prctl(PR_SET_DUMPABLE): %s", strerror(errno));
	return SP_OK;
}

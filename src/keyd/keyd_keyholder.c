/*
 * keyd_keyholder.c - the key server's side of the key holder: start
 * sealpost-keyholder with one end of a socket pair, connect keywrap.h's
 * remote implementation to the other end, notice when it exits and start
 * it again (at most once a second, giving up after KH_RESTART_TRIES
 * failed starts in a row), ask it to read its keys again, stop it; and
 * hand the data directory to the key server's user before root is given
 * up.
 * SECURITY: the key server never opens a master key file; the key holder
 * is found next to this program (or given by the administrator) and gets
 * no other descriptor than its socket and the standard ones.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "keyd.h"
#include "keywrap_remote.h"
#include "khstream.h"
#include "privsep.h"

#define KH_CHILD_FD 3
#define KH_RESTART_TRIES 5	/* failed starts in a row before giving up */

/* What a restart needs of the first start's options (the configuration
 * they point into is cleared once keyd runs). */
static struct {
	char path[PATH_MAX];
	char data_dir[PATH_MAX];
	char user[256];
	int have_user;
	int allow_root;
	int64_t last_start;	/* sp_kh_now_ms() of the last start */
	int failed;		/* starts in a row that did not come up */
} kh_saved;

/* DIR_OF(/proc/self/exe)/sealpost-keyholder */
static int
default_path(char *out, size_t outsz)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (n <= 0)
		return -1;
	self[n] = '\0';
	if ((slash = strrchr(self, '/')) == NULL)
		return -1;
	*slash = '\0';
	if ((size_t)snprintf(out, outsz, "%s/sealpost-keyholder", self) >= outsz)
		return -1;
	return 0;
}

/* Start the key holder kh_saved describes: *pid gets its pid, *fd keyd's
 * end of its socket. */
static int
spawn(pid_t *pidp, int *fd, struct sp_err *err)
{
	const char *path = kh_saved.path;
	char fdarg[16], pidbuf[24];
	const char *argv[12];
	int sv[2], n = 0;
	pid_t pid;

	if (access(path, X_OK) != 0)
		return sp_err_set(err, SP_ERR_CONFIG, "%s: %s (give --keyholder PATH)", path,
		    strerror(errno));
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		return sp_err_set(err, SP_ERR_IO, "socketpair: %s", strerror(errno));
	snprintf(fdarg, sizeof(fdarg), "%d", KH_CHILD_FD);
	argv[n++] = path;
	argv[n++] = "--fd";
	argv[n++] = fdarg;
	argv[n++] = "--data-dir";
	argv[n++] = kh_saved.data_dir;
	if (kh_saved.have_user) {
		argv[n++] = "--user";
		argv[n++] = kh_saved.user;
	}
	if (kh_saved.allow_root)
		argv[n++] = "--allow-root";
	argv[n] = NULL;
	if ((pid = fork()) < 0) {
		close(sv[0]);
		close(sv[1]);
		return sp_err_set(err, SP_ERR_IO, "fork: %s", strerror(errno));
	}
	if (pid == 0) {
		/* the child: fd 3 is the socket (dup2 clears close-on-exec),
		 * stdin is /dev/null, everything else closed */
		sigset_t none;
		int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (devnull < 0 || dup2(devnull, 0) < 0 ||
		    (sv[1] == KH_CHILD_FD ? fcntl(sv[1], F_SETFD, 0) : dup2(sv[1], KH_CHILD_FD)) < 0)
			_exit(127);
		close_range(KH_CHILD_FD + 1, ~0U, 0);
		execv(path, (char *const *)argv);
		_exit(127);
	}
	close(sv[1]);
	kh_saved.last_start = sp_kh_now_ms();
	snprintf(pidbuf, sizeof(pidbuf), "%ld", (long)pid);
	keyd_log("keyholder-start", "pid", pidbuf, "path", path, NULL);
	*pidp = pid;
	*fd = sv[0];
	return SP_OK;
}

int
keyd_keyholder_start(struct keyd *k, const struct keyd_kh_opts *o, struct sp_err *err)
{
	pid_t pid;
	int fd, st;

	memset(&kh_saved, 0, sizeof(kh_saved));
	if (o->path != NULL)
		snprintf(kh_saved.path, sizeof(kh_saved.path), "%s", o->path);
	else if (default_path(kh_saved.path, sizeof(kh_saved.path)) != 0)
		return sp_err_set(err, SP_ERR_CONFIG, "cannot find sealpost-keyholder "
		    "(give --keyholder PATH)");
	if ((size_t)snprintf(kh_saved.data_dir, sizeof(kh_saved.data_dir), "%s", o->data_dir) >=
	    sizeof(kh_saved.data_dir))
		return sp_err_set(err, SP_ERR_CONFIG, "data directory name too long");
	if (o->user != NULL) {
		snprintf(kh_saved.user, sizeof(kh_saved.user), "%s", o->user);
		kh_saved.have_user = 1;
	}
	kh_saved.allow_root = o->allow_root;
	if ((st = spawn(&pid, &fd, err)) != SP_OK)
		return st;
	k->kh_pid = (int)pid;
	if ((st = sp_keywrap_connect(&k->kw, fd, err)) != SP_OK) {
		keyd_keyholder_stop(k);
		return st;
	}
	return SP_OK;
}

/* Whether this process can start the key holder again: not once it has
 * given up root when the key holder is to run as another user. */
static int
can_restart(void)
{
	uid_t uid;
	gid_t gid;

	if (!kh_saved.have_user || geteuid() == 0)
		return 1;
	return sp_priv_user(kh_saved.user, &uid, &gid, NULL) == SP_OK && uid == geteuid();
}

/* After the key holder has gone: start another and give its socket to
 * k->kw (the calls waiting on the old one have had SP_ERR_RETRY). */
static void
restart(struct keyd *k)
{
	struct sp_err err = {{0}};
	int64_t wait;
	pid_t pid;
	int fd, st;

	if (k->kw == NULL)
		return;
	if (!can_restart()) {
		keyd_log("keyholder-down", "effect", "deposits and releases answer 503 until "
		    "keyd is restarted", "reason", "the key holder's user needs root to start",
		    NULL);
		return;
	}
	if (kh_saved.failed >= KH_RESTART_TRIES) {
		keyd_log("keyholder-down", "effect", "deposits and releases answer 503 until "
		    "keyd is restarted", "reason", "the key holder did not come up", NULL);
		return;
	}
	keyd_log("keyholder-down", "effect", "deposits and releases answer 503 until the key "
	    "holder is back", NULL);
	/* at most one start a second */
	wait = kh_saved.last_start + 1000 - sp_kh_now_ms();
	if (wait > 0)
		usleep((useconds_t)(wait > 1000 ? 1000 : wait) * 1000);
	kh_saved.failed++;
	if ((st = spawn(&pid, &fd, &err)) != SP_OK) {
		keyd_log("keyholder-restart-failed", "error", sp_err_msg(&err, st), NULL);
		return;
	}
	__atomic_store_n(&k->kh_pid, (int)pid, __ATOMIC_SEQ_CST);
	if ((st = sp_keywrap_reconnect(k->kw, fd, &err)) != SP_OK) {
		/* its exit (or this kill) brings the next try */
		keyd_log("keyholder-restart-failed", "error", sp_err_msg(&err, st), NULL);
		kill(pid, SIGKILL);
		return;
	}
	kh_saved.failed = 0;
	keyd_log("keyholder-back", NULL);
}

static void
log_exit(pid_t pid, int status)
{
	char p[24], how[32];

	snprintf(p, sizeof(p), "%ld", (long)pid);
	if (WIFEXITED(status))
		snprintf(how, sizeof(how), "exit %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(how, sizeof(how), "signal %d", WTERMSIG(status));
	else
		snprintf(how, sizeof(how), "status %d", status);
	keyd_log("keyholder-exit", "pid", p, "how", how, NULL);
}

void
keyd_keyholder_reap(struct keyd *k)
{
	int status;

	if (k->kh_pid > 0 && waitpid((pid_t)k->kh_pid, &status, WNOHANG) == k->kh_pid) {
		log_exit((pid_t)k->kh_pid, status);
		__atomic_store_n(&k->kh_pid, 0, __ATOMIC_SEQ_CST);
		restart(k);
	}
}

/* A RELOAD request over the key holder's socket, not a signal: keyd may
 * have given up root for another user than the key holder's.  This waits
 * for the answer (at most SP_KH_TIMEOUT_MS) on the main thread, which only
 * handles signals; the HTTP threads' requests go on meanwhile. */
void
keyd_keyholder_reload(struct keyd *k)
{
	struct sp_err err = {{0}};
	char p[24], cur[16];
	uint32_t key_id = 0;
	int st;

	snprintf(p, sizeof(p), "%d", k->kh_pid);
	if ((st = sp_keywrap_reload(k->kw, &key_id, &err)) != SP_OK) {
		keyd_log("keyholder-reload-failed", "pid", p, "error", sp_err_msg(&err, st), NULL);
		return;
	}
	snprintf(cur, sizeof(cur), "%u", key_id);
	keyd_log("keyholder-reload", "pid", p, "current", cur, NULL);
}

void
keyd_keyholder_stop(struct keyd *k)
{
	int status, i;
	pid_t pid = (pid_t)k->kh_pid;

	sp_keywrap_free(k->kw);	/* closes the socket: the key holder sees the end */
	k->kw = NULL;
	if (pid <= 0)
		return;
	for (i = 0; i < 1000; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid) {
			log_exit(pid, status);
			k->kh_pid = 0;
			return;
		}
		if (i == 500)
			kill(pid, SIGTERM);
		usleep(10000);
	}
	kill(pid, SIGKILL);
	if (waitpid(pid, &status, 0) == pid)
		log_exit(pid, status);
	k->kh_pid = 0;
}

/* chown at/name (not following symbolic links) when root made it; with
 * depth, also what is in it when it is a directory.  What another user
 * owns is left alone, and so is what is in it: the key holder's key
 * directory stays its own under whatever name keyd's user moved it to,
 * and a master key file under any directory is never handed over. */
static int
chown_entry(int at, const char *name, uid_t uid, gid_t gid, int depth,
    struct sp_err *err)
{
	struct stat sb;
	struct dirent *de;
	DIR *d;
	int fd, st = SP_OK;

	if (strncmp(name, "master-", 7) == 0 || fstatat(at, name, &sb, AT_SYMLINK_NOFOLLOW) != 0 ||
	    sb.st_uid != 0)
		return SP_OK;
	if (fchownat(at, name, uid, gid, AT_SYMLINK_NOFOLLOW) != 0)
		return sp_err_set(err, SP_ERR_CONFIG, "chown %s: %s", name, strerror(errno));
	if (depth == 0 || !S_ISDIR(sb.st_mode))
		return SP_OK;
	if ((fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return sp_err_set(err, SP_ERR_CONFIG, "%s: %s", name, strerror(errno));
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return sp_err_set(err, SP_ERR_CONFIG, "%s: %s", name, strerror(errno));
	}
	while (st == SP_OK && (de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			st = chown_entry(dirfd(d), de->d_name, uid, gid, depth - 1, err);
	closedir(d);
	return st;
}

int
keyd_data_chown(const char *dir, uid_t uid, gid_t gid, struct sp_err *err)
{
	struct dirent *de;
	DIR *d;
	int fd, st = SP_OK;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return sp_err_set(err, SP_ERR_CONFIG, "%s: %s", dir, strerror(errno));
	if (fchown(fd, uid, gid) != 0) {
		st = sp_err_set(err, SP_ERR_CONFIG, "chown %s: %s", dir, strerror(errno));
		close(fd);
		return st;
	}
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return sp_err_set(err, SP_ERR_CONFIG, "%s: %s", dir, strerror(errno));
	}
	while (st == SP_OK && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		    strcmp(de->d_name, SP_KEYWRAP_SUBDIR) == 0 ||
		    strncmp(de->d_name, "master-", 7) == 0)
			continue;
		st = chown_entry(dirfd(d), de->d_name, uid, gid, 1, err);
	}
	closedir(d);
	return st;
}

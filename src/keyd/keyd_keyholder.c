/*
 * keyd_keyholder.c - the key server's side of the key holder: start
 * sealpost-keyholder with one end of a socket pair, connect keywrap.h's
 * remote implementation to the other end, notice when it exits, stop it;
 * and hand the data directory to the key server's user before root is
 * given up.
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

#define KH_CHILD_FD 3

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

int
keyd_keyholder_start(struct keyd *k, const struct keyd_kh_opts *o, struct sp_err *err)
{
	char path[PATH_MAX], fdarg[16], pidbuf[24];
	const char *argv[12];
	int sv[2], n = 0, st;
	pid_t pid;

	if (o->path != NULL)
		snprintf(path, sizeof(path), "%s", o->path);
	else if (default_path(path, sizeof(path)) != 0)
		return sp_err_set(err, SP_ERR_CONFIG, "cannot find sealpost-keyholder "
		    "(give --keyholder PATH)");
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
	argv[n++] = o->data_dir;
	if (o->user != NULL) {
		argv[n++] = "--user";
		argv[n++] = o->user;
	}
	if (o->allow_root)
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
	k->kh_pid = (int)pid;
	snprintf(pidbuf, sizeof(pidbuf), "%ld", (long)pid);
	keyd_log("keyholder-start", "pid", pidbuf, "path", path, NULL);
	if ((st = sp_keywrap_connect(&k->kw, sv[0], err)) != SP_OK) {
		keyd_keyholder_stop(k);
		return st;
	}
	return SP_OK;
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
		keyd_log("keyholder-down", "effect", "deposits and releases answer 503 until "
		    "keyd is restarted", NULL);
		__atomic_store_n(&k->kh_pid, 0, __ATOMIC_SEQ_CST);
	}
}

void
keyd_keyholder_reload(struct keyd *k)
{
	char p[24];

	snprintf(p, sizeof(p), "%d", k->kh_pid);
	if (k->kh_pid > 0 && kill((pid_t)k->kh_pid, SIGHUP) == 0)
		keyd_log("keyholder-reload", "pid", p, NULL);
	else
		keyd_log("keyholder-reload-failed", "pid", p, "error", "no key holder", NULL);
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

/* chown at/name (not following symbolic links); with depth, also what
 * is in it when it is a directory. */
static int
chown_entry(int at, const char *name, uid_t uid, gid_t gid, int depth,
    struct sp_err *err)
{
	struct stat sb;
	struct dirent *de;
	DIR *d;
	int fd, st = SP_OK;

	if (fchownat(at, name, uid, gid, AT_SYMLINK_NOFOLLOW) != 0)
		return sp_err_set(err, SP_ERR_CONFIG, "chown %s: %s", name, strerror(errno));
	if (depth == 0 || fstatat(at, name, &sb, AT_SYMLINK_NOFOLLOW) != 0 ||
	    !S_ISDIR(sb.st_mode))
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

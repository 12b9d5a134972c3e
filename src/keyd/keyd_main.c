/*
 * keyd_main.c - sealpost-keyd, the key server and recipient portal: reads
 * the options (keyd_config.c: command line and -c FILE through conf.h),
 * starts the key holder (keyd_keyholder.c), binds the given address only,
 * gives up root for --user, opens the store (--db, or SQLite in the data
 * directory) and the outbox, starts libmicrohttpd with an internal thread
 * pool on epoll, runs the background jobs (keyd_jobs.c: shredding and
 * audit anchors), and stops cleanly on SIGTERM or SIGINT.  A bad
 * configuration is one line on stderr and exit 2; from the start on, every
 * message goes through log.h.
 * SECURITY: talks to the network and never reads a master key: wrapping and
 * unwrapping go to the key holder over a socket; no core dumps, not
 * ptrace-able; refuses to run as root without --user (or --allow-root); the
 * data directory is created mode 0700.
 */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jsonwipe.h"
#include "conf.h"
#include "blobstore.h"
#include "keyd.h"
#include "keyd_copy.h"
#include "keyd_api.h"
#include "keyd_work.h"
#include "log.h"
#include "password.h"
#include "privsep.h"


static volatile sig_atomic_t stop_signal, child_signal, hup_signal;

static void
on_signal(int sig)
{
	stop_signal = sig;
}

static void
on_child(int sig)
{
	if (sig == SIGHUP)
		hup_signal = 1;
	else
		child_signal = 1;
}

/* The listening socket, bound here (before root is given up) and handed
 * to libmicrohttpd.  -1 with errno on failure. */
static int
listen_socket(const struct sockaddr_storage *ss, socklen_t sl)
{
	int fd, one = 1, e;

	if ((fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    (ss->ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0) ||
	    bind(fd, (const struct sockaddr *)ss, sl) != 0 || listen(fd, 511) != 0) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* A configuration that cannot work: one line naming it, exit 2. */
static void config_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void
config_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "sealpost-keyd: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

/* A start-up step failed: log it (the message through log_clean()). */
static int
start_failed(const char *step, const char *msg)
{
	char v1[LOG_CLEAN_SIZE], v2[LOG_CLEAN_SIZE];

	log_warnx("start-failed", "step=%s error=%s", log_clean(step, v1, sizeof(v1)),
	    log_clean(msg, v2, sizeof(v2)));
	return 1;
}

int
main(int argc, char **argv)
{
	static struct keyd_config cfg;
	struct conf_cmdline cl;
	struct keyd k;
	struct sp_err err = {{0}};
	struct MHD_Daemon *d;
	struct sigaction sa;
	struct keyd_kh_opts kh = {NULL, NULL, NULL, 0};
	const char *where;
	uid_t uid = 0, kh_uid = 0;
	gid_t gid = 0, kh_gid = 0;
	int lfd = -1;
	int st;
	sigset_t set;

	log_init("keyd", 0, 0);
	sp_json_wipe_install();		/* before any JSON value exists */
	memset(&k, 0, sizeof(k));
	if ((st = keyd_config_read(&cfg, argc, argv, &cl, &err)) != SP_OK)
		config_error("%s", sp_err_msg(&err, st));
	if (cl.action == CONF_HELP) {
		conf_usage(&keyd_conf_table, stdout);
		return 0;
	}
	if (cl.action == CONF_PRINT_DEFAULTS) {
		conf_print_defaults(&keyd_conf_table, stdout);
		return 0;
	}
	where = cl.file != NULL ? cl.file : "command line";
	if ((st = keyd_config_finish(&cfg, &k, &err)) != SP_OK)
		config_error("%s: %s", where, sp_err_msg(&err, st));
	if (geteuid() == 0 && cfg.user[0] == '\0' && !cfg.allow_root)
		config_error("refusing to run as root: give --user NAME (the key holder then runs "
		    "as --keyholder-user, default the same user), or --allow-root for tests and "
		    "containers (docs/keyholder.md)");
	if (cfg.user[0] != '\0' && (st = sp_priv_user(cfg.user, &uid, &gid, &err)) != SP_OK)
		config_error("%s: user: %s", where, sp_err_msg(&err, st));
	/* checked here for a clear message; the key holder looks it up itself */
	if (cfg.keyholder_user[0] != '\0' &&
	    (st = sp_priv_user(cfg.keyholder_user, &kh_uid, &kh_gid, &err)) != SP_OK)
		config_error("%s: keyholder_user: %s", where, sp_err_msg(&err, st));
	if (strspn(k.rp_id, "0123456789.") == strlen(k.rp_id) || k.rp_id[0] == '[')
		log_warnx("config", "reason=\"public_url names an IP address: browsers allow passkeys "
		    "only under a host name (TOTP still works)\"");
	if (cl.action == CONF_CHECK) {
		printf("sealpost-keyd: %s: configuration ok\n", where);
		keyd_config_clear(&cfg);
		return 0;
	}

	if ((st = sp_priv_harden(&err)) != SP_OK)
		return start_failed("harden", sp_err_msg(&err, st));
	umask(077);
	if (mkdir(cfg.data_dir, 0700) != 0 && errno != EEXIST) {
		char m[600];

		snprintf(m, sizeof(m), "%.400s: %s", cfg.data_dir, strerror(errno));
		return start_failed("data-dir", m);
	}
	/* The key holder first, while this process has no thread: it alone
	 * reads the master keys (and creates the first one). */
	kh.path = cfg.keyholder[0] != '\0' ? cfg.keyholder : NULL;
	kh.data_dir = cfg.data_dir;
	kh.user = geteuid() == 0 && cfg.keyholder_user[0] != '\0' ? cfg.keyholder_user : NULL;
	kh.allow_root = cfg.allow_root;
	if ((st = keyd_keyholder_start(&k, &kh, &err)) != SP_OK)
		return start_failed("keyholder", sp_err_msg(&err, st));
	if ((lfd = listen_socket(&cfg.listen_addr, cfg.listen_len)) < 0) {
		char m[400];

		snprintf(m, sizeof(m), "cannot listen on %s: %s", cfg.listen, strerror(errno));
		keyd_keyholder_stop(&k);
		return start_failed("listen", m);
	}
	if (cfg.user[0] != '\0' && geteuid() == 0) {
		if ((st = keyd_data_chown(cfg.data_dir, uid, gid, &err)) != SP_OK ||
		    (st = sp_priv_drop(uid, gid, &err)) != SP_OK) {
			close(lfd);
			keyd_keyholder_stop(&k);
			return start_failed("user", sp_err_msg(&err, st));
		}
	}
	/* The store's messages never show a URL's password; the URL is not
	 * repeated here. */
	if ((st = sp_store_open_url(&k.store, cfg.db[0] ? cfg.db : NULL, cfg.data_dir, &err)) != SP_OK) {
		close(lfd);
		keyd_keyholder_stop(&k);
		return start_failed("store", sp_err_msg(&err, st));
	}
	if ((st = keyd_copies_open(&k, cfg.copies, cfg.data_dir, &err)) != SP_OK) {
		start_failed("copies", sp_err_msg(&err, st));
		goto fail_store;
	}
	if (cfg.sendmail[0] != '\0')
		st = sp_transport_new(&k.mail, "sendmail", cfg.sendmail, cfg.mail_from, &err);
	else
		st = sp_transport_new(&k.mail, "dir", cfg.outbox, cfg.mail_from, &err);
	if (st != SP_OK) {
		start_failed("mail", sp_err_msg(&err, st));
		goto fail_store;
	}
	sp_password_gate_config((int)cfg.argon_workers, 2000);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_child;
	sigaction(SIGCHLD, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* Block the stop signals, SIGCHLD and SIGHUP in every thread (the server
	 * threads inherit the mask), so only sigsuspend() below receives
	 * them: no race. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	keyd_keyholder_reap(&k);	/* in case it ended before the handler was in place */
	if (keyd_conns_new(&k) != 0 || (st = keyd_mailq_start(&k, &err)) != SP_OK) {
		start_failed("threads", sp_err_msg(&err, SP_ERR_NOMEM));
		sp_transport_free(k.mail);
		goto fail_store;
	}
	if ((st = keyd_jobs_start(&k, &err)) != SP_OK ||
	    (st = keyd_work_start(&k, (int)cfg.argon_workers + 2, &err)) != SP_OK) {
		start_failed("jobs", sp_err_msg(&err, st));
		keyd_jobs_stop(&k);
		keyd_mailq_stop(&k);
		keyd_conns_free(&k);
		sp_transport_free(k.mail);
		goto fail_store;
	}

	d = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG |
	    MHD_ALLOW_SUSPEND_RESUME,
	    0, keyd_accept, &k, keyd_handler, &k,
	    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)lfd,
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)cfg.threads,
	    MHD_OPTION_NOTIFY_COMPLETED, keyd_completed, &k,
	    MHD_OPTION_NOTIFY_CONNECTION, keyd_conn_notify, &k,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)cfg.idle_timeout,
	    /* keyd_accept() enforces the limits; MHD's own is a backstop
	     * above them, so that every accepted connection is counted. */
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)(cfg.max_connections + 64),
	    MHD_OPTION_END);
	if (d == NULL) {
		char m[400];

		snprintf(m, sizeof(m), "cannot serve on %s", cfg.listen);
		start_failed("http", m);
		keyd_work_stop(&k);
		keyd_jobs_stop(&k);
		keyd_mailq_stop(&k);
		keyd_conns_free(&k);
		sp_transport_free(k.mail);
		goto fail_store;
	}
	{
		char th[24], uidb[24];

		snprintf(th, sizeof(th), "%lld", (long long)cfg.threads);
		snprintf(uidb, sizeof(uidb), "%ld", (long)geteuid());
		keyd_log("start", "listen", cfg.listen, "public_url", k.public_url,
		    "store", keyd_config_store_kind(&cfg), "threads", th, "uid", uidb, NULL);
	}
	keyd_config_clear(&cfg);	/* the store URL is not needed any more */
	sigemptyset(&set);
	while (!stop_signal) {
		sigsuspend(&set);
		if (child_signal) {
			child_signal = 0;
			keyd_keyholder_reap(&k);
		}
		if (hup_signal) {
			hup_signal = 0;
			keyd_keyholder_reload(&k);
		}
	}
	keyd_log("stop", "signal", stop_signal == SIGTERM ? "TERM" : "INT", NULL);
	{
		/* Log-ins and heavy requests on worker threads and answers
		 * waiting for their group-committed write hold suspended
		 * connections: let them finish (each is bounded by the password
		 * gate's or the store's wait). */
		int waited;

		for (waited = 0; waited < 1000 &&
		    (keyd_api_waits() > 0 || keyd_work_pending(&k) > 0); waited++)
			usleep(10000);
	}
	MHD_stop_daemon(d);
	keyd_work_stop(&k);
	keyd_jobs_stop(&k);
	keyd_mailq_stop(&k);
	keyd_conns_free(&k);
	sp_transport_free(k.mail);
	keyd_keyholder_stop(&k);
	sp_blob_close(k.copies);
	sp_store_close(k.store);
	return 0;

fail_store:
	close(lfd);
	keyd_keyholder_stop(&k);
	sp_blob_close(k.copies);
	sp_store_close(k.store);
	return 1;
}

/*
 * keyd_main.c - sealpost-keyd, the key server and recipient portal: reads
 * the options, starts the key holder (keyd_keyholder.c), binds the given
 * address only, gives up root for --user, opens the data directory (store,
 * outbox), starts libmicrohttpd with an internal thread pool on epoll, and
 * stops cleanly on SIGTERM or SIGINT.
 * SECURITY: talks to the network and never reads a master key: wrapping and
 * unwrapping go to the key holder over a socket; no core dumps, not
 * ptrace-able; refuses to run as root without --user (or --allow-root); the
 * data directory is created mode 0700.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keyd.h"
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

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: sealpost-keyd --data-dir DIR [options]\n\n"
	    "The sealpost key server: keeps the server part of every message key,\n"
	    "releases it to the message's recipients, and serves the recipient pages\n"
	    "(register, activate, open).\n\n"
	    "options:\n"
	    "  --data-dir DIR        data directory (created 0700): keyd.sqlite, keys/ (the\n"
	    "                        key holder's), outbox/ (required)\n"
	    "  --db URL              the store: sqlite:DIR or postgresql://USER@HOST:PORT/DB\n"
	    "                        (default: SQLite in --data-dir); the master keys stay\n"
	    "                        in --data-dir either way\n"
	    "  --listen ADDR:PORT    address to bind, only this one (default 127.0.0.1:8080;\n"
	    "                        IPv6 as [::1]:8080)\n"
	    "  --public-url URL      URL under which browsers reach this server (default\n"
	    "                        http://LISTEN); https:// makes cookies Secure, __Host-\n"
	    "  --max-body BYTES      largest request body (default 1048576)\n"
	    "  --max-envelope BYTES  largest POST /online body (default 67108864)\n"
	    "  --threads N           HTTP worker threads (default 4)\n"
	    "  --argon-workers N     concurrent password hashes (default 2); a request\n"
	    "                        that waits over 2 s for one gets 503 busy\n"
	    "  --login-free N        wrong passwords per address before it is locked for\n"
	    "                        30 s, doubling up to 15 min (default 5)\n"
	    "  --login-free-ip N     wrong passwords per client address before it is locked\n"
	    "                        for 30 s more per further failure, at most 15 min; a\n"
	    "                        locked-out recipient can still sign in with a link by\n"
	    "                        mail (default 20)\n"
	    "  --form-free N         registrations and mail requests per client address and\n"
	    "                        hour (default 30)\n"
	    "  --trusted-proxy CIDR  a proxy in front of this server (repeatable, up to 16):\n"
	    "                        from its addresses the client address is read from\n"
	    "                        X-Forwarded-For / Forwarded; from any other peer those\n"
	    "                        headers are ignored\n"
	    "  --max-connections N   open connections in all (default 1000)\n"
	    "  --max-connections-per-client N\n"
	    "                        open connections per client address (default 32;\n"
	    "                        trusted proxies count only against the total)\n"
	    "  --idle-timeout SEC    close a connection idle this long (default 30)\n"
	    "  --mail-from ADDR      sender of activation mail (default sealpost@HOST)\n"
	    "  --outbox DIR          write mail as .eml files to DIR (default DATA/outbox)\n"
	    "  --sendmail PATH       send mail through PATH -i -t instead of the outbox\n"
	    "  --user NAME           give up root for this user once the address is bound;\n"
	    "                        the data directory is made this user's (required when\n"
	    "                        started as root)\n"
	    "  --keyholder-user NAME the key holder's user (default: --user); another user\n"
	    "                        than --user keeps the master keys out of this\n"
	    "                        process's reach (docs/keyholder.md)\n"
	    "  --keyholder PATH      the key holder program (default: sealpost-keyholder\n"
	    "                        next to this program)\n"
	    "  --allow-root          run as root without --user (tests, containers)\n"
	    "  -h, --help            this help\n\n"
	    "signals: TERM and INT stop it; HUP makes the key holder read its keys again\n"
	    "(after `sealpost key rotate`).\n");
}

static int
parse_size(const char *s, size_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *s == '\0' || *end != '\0' || v == 0 || v > ((size_t)1 << 34))
		return -1;
	*out = (size_t)v;
	return 0;
}

static int
parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *sl)
{
	char host[256], port[16];
	const char *colon;
	struct addrinfo hints, *ai = NULL;

	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (rb == NULL || rb[1] != ':' || (size_t)(rb - s - 1) >= sizeof(host))
			return -1;
		snprintf(host, sizeof(host), "%.*s", (int)(rb - s - 1), s + 1);
		colon = rb + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL || (size_t)(colon - s) >= sizeof(host))
			return -1;
		snprintf(host, sizeof(host), "%.*s", (int)(colon - s), s);
	}
	snprintf(port, sizeof(port), "%s", colon + 1);
	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, port, &hints, &ai) != 0 || ai == NULL)
		return -1;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*sl = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

/* origin = scheme://host[:port] of url (url without trailing '/'). */
static int
set_public_url(struct keyd *k, const char *url)
{
	const char *p;
	size_t n = strlen(url);

	while (n > 0 && url[n - 1] == '/')
		n--;
	if (n == 0 || n >= sizeof(k->public_url))
		return -1;
	snprintf(k->public_url, sizeof(k->public_url), "%.*s", (int)n, url);
	if (strncmp(k->public_url, "https://", 8) == 0)
		k->https = 1;
	else if (strncmp(k->public_url, "http://", 7) != 0)
		return -1;
	p = strchr(k->public_url + (k->https ? 8 : 7), '/');
	snprintf(k->origin, sizeof(k->origin), "%.*s",
	    (int)(p ? (size_t)(p - k->public_url) : strlen(k->public_url)), k->public_url);
	for (p = k->public_url; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == '"' || *p == '<' || *p == '>')
			return -1;
	return 0;
}

int
main(int argc, char **argv)
{
	struct keyd k;
	struct sp_err err = {{0}};
	struct sockaddr_storage ss;
	socklen_t sl = 0;
	struct MHD_Daemon *d;
	struct sigaction sa;
	const char *data_dir = NULL, *listen_s = "127.0.0.1:8080", *public_url = NULL;
	const char *mail_from = NULL, *outbox = NULL, *sendmail = NULL;
	const char *user = NULL, *kh_user = NULL, *db = NULL;
	struct keyd_kh_opts kh = {NULL, NULL, NULL, 0};
	uid_t uid = 0, kh_uid = 0;
	gid_t gid = 0, kh_gid = 0;
	int allow_root = 0, lfd = -1;
	char buf[4200], from_buf[300];
	size_t threads = 4, argon = 2, free_email = 5, free_ip = 20, free_form = 30;
	size_t max_conns = 1000, max_client = 32, idle = 30;
	int i, st;
	sigset_t set;

	memset(&k, 0, sizeof(k));
	k.max_body = KEYD_DEFAULT_MAX_BODY;
	k.max_envelope = KEYD_DEFAULT_MAX_ENVELOPE;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			return 0;
		}
		if (strcmp(a, "--allow-root") == 0) {
			allow_root = 1;
			continue;
		}
		if (v == NULL) {
			fprintf(stderr, "sealpost-keyd: %s needs a value (see --help)\n", a);
			return 2;
		}
		if (strcmp(a, "--data-dir") == 0)
			data_dir = v;
		else if (strcmp(a, "--db") == 0)
			db = v;
		else if (strcmp(a, "--listen") == 0)
			listen_s = v;
		else if (strcmp(a, "--public-url") == 0)
			public_url = v;
		else if (strcmp(a, "--mail-from") == 0)
			mail_from = v;
		else if (strcmp(a, "--outbox") == 0)
			outbox = v;
		else if (strcmp(a, "--sendmail") == 0)
			sendmail = v;
		else if (strcmp(a, "--user") == 0)
			user = v;
		else if (strcmp(a, "--keyholder-user") == 0)
			kh_user = v;
		else if (strcmp(a, "--keyholder") == 0)
			kh.path = v;
		else if (strcmp(a, "--trusted-proxy") == 0) {
			if (k.nproxies == KEYD_MAX_PROXIES ||
			    keyd_cidr_parse(v, &k.proxies[k.nproxies]) != 0) {
				fprintf(stderr, "sealpost-keyd: --trusted-proxy %s: want an address or "
				    "ADDRESS/BITS, at most %d\n", v, KEYD_MAX_PROXIES);
				return 2;
			}
			k.nproxies++;
		}
		else if ((strcmp(a, "--max-body") == 0 && parse_size(v, &k.max_body) == 0) ||
		    (strcmp(a, "--max-envelope") == 0 && parse_size(v, &k.max_envelope) == 0) ||
		    (strcmp(a, "--threads") == 0 && parse_size(v, &threads) == 0 && threads <= 256) ||
		    (strcmp(a, "--argon-workers") == 0 && parse_size(v, &argon) == 0 && argon <= 64) ||
		    (strcmp(a, "--login-free") == 0 && parse_size(v, &free_email) == 0 && free_email <= 1000) ||
		    (strcmp(a, "--login-free-ip") == 0 && parse_size(v, &free_ip) == 0 && free_ip <= 100000) ||
		    (strcmp(a, "--form-free") == 0 && parse_size(v, &free_form) == 0 && free_form <= 100000) ||
		    (strcmp(a, "--max-connections") == 0 && parse_size(v, &max_conns) == 0 &&
		    max_conns <= 100000) ||
		    (strcmp(a, "--max-connections-per-client") == 0 && parse_size(v, &max_client) == 0 &&
		    max_client <= 100000) ||
		    (strcmp(a, "--idle-timeout") == 0 && parse_size(v, &idle) == 0 && idle <= 3600))
			;
		else {
			fprintf(stderr, "sealpost-keyd: bad option or value: %s %s (see --help)\n", a, v);
			return 2;
		}
		i++;
	}
	/* Per address: doubling locks from 30 s to 15 min, the count kept an
	 * hour.  Per client: a lock grows by 30 s a failure, at most 15 min,
	 * and the count is forgotten 15 min after the last attempt, so that a
	 * whole office behind one address is never kept out for long. */
	k.thr_email = (struct sp_throttle_policy){(int)free_email, 30, 15 * 60, 3600, 0};
	k.thr_ip = (struct sp_throttle_policy){(int)free_ip, 30, 15 * 60, 15 * 60, 1};
	k.thr_mail = (struct sp_throttle_policy){3, 3600, 3600, 3600, 1};
	k.thr_form = (struct sp_throttle_policy){(int)free_form, 600, 3600, 3600, 1};
	k.max_conns = (unsigned)max_conns;
	k.max_conns_client = (unsigned)max_client;
	if (data_dir == NULL) {
		fprintf(stderr, "sealpost-keyd: --data-dir is required (see --help)\n");
		return 2;
	}
	if (parse_listen(listen_s, &ss, &sl) != 0) {
		fprintf(stderr, "sealpost-keyd: --listen %s: want ADDR:PORT with a numeric address\n",
		    listen_s);
		return 2;
	}
	if (public_url == NULL) {
		snprintf(buf, sizeof(buf), "http://%s", listen_s);
		public_url = buf;
	}
	if (set_public_url(&k, public_url) != 0) {
		fprintf(stderr, "sealpost-keyd: --public-url %s: want http:// or https:// URL\n",
		    public_url);
		return 2;
	}
	if (mail_from == NULL) {
		const char *h = k.origin + (k.https ? 8 : 7);
		size_t hl = strcspn(h, ":/");
		int alpha = 0;
		size_t j;

		for (j = 0; j < hl; j++)
			if ((h[j] >= 'a' && h[j] <= 'z') || (h[j] >= 'A' && h[j] <= 'Z'))
				alpha = 1;
		if (h[0] == '[' || !alpha)
			snprintf(from_buf, sizeof(from_buf), "sealpost@localhost");
		else
			snprintf(from_buf, sizeof(from_buf), "sealpost@%.*s", (int)hl, h);
		mail_from = from_buf;
	}

	if ((st = sp_priv_harden(&err)) != SP_OK) {
		fprintf(stderr, "sealpost-keyd: %s\n", sp_err_msg(&err, st));
		return 1;
	}
	if (geteuid() == 0 && user == NULL && !allow_root) {
		fprintf(stderr, "sealpost-keyd: refusing to run as root: give --user NAME (the key\n"
		    "holder then runs as --keyholder-user, default the same user), or --allow-root\n"
		    "for tests and containers (docs/keyholder.md)\n");
		return 2;
	}
	if (kh_user == NULL)
		kh_user = user;
	if (user != NULL && (st = sp_priv_user(user, &uid, &gid, &err)) != SP_OK) {
		fprintf(stderr, "sealpost-keyd: --user: %s\n", sp_err_msg(&err, st));
		return 2;
	}
	/* checked here for a clear message; the key holder looks it up itself */
	if (kh_user != NULL && (st = sp_priv_user(kh_user, &kh_uid, &kh_gid, &err)) != SP_OK) {
		fprintf(stderr, "sealpost-keyd: --keyholder-user: %s\n", sp_err_msg(&err, st));
		return 2;
	}

	umask(077);
	if (mkdir(data_dir, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "sealpost-keyd: %s: %s\n", data_dir, strerror(errno));
		return 1;
	}
	/* The key holder first, while this process has no thread: it alone
	 * reads the master keys (and creates the first one). */
	kh.data_dir = data_dir;
	kh.user = geteuid() == 0 ? kh_user : NULL;
	kh.allow_root = allow_root;
	if ((st = keyd_keyholder_start(&k, &kh, &err)) != SP_OK) {
		fprintf(stderr, "sealpost-keyd: the key holder did not start: %s\n",
		    sp_err_msg(&err, st));
		return 1;
	}
	if ((lfd = listen_socket(&ss, sl)) < 0) {
		fprintf(stderr, "sealpost-keyd: cannot listen on %s: %s\n", listen_s, strerror(errno));
		keyd_keyholder_stop(&k);
		return 1;
	}
	if (user != NULL && geteuid() == 0) {
		if ((st = keyd_data_chown(data_dir, uid, gid, &err)) != SP_OK ||
		    (st = sp_priv_drop(uid, gid, &err)) != SP_OK) {
			fprintf(stderr, "sealpost-keyd: --user %s: %s\n", user, sp_err_msg(&err, st));
			close(lfd);
			keyd_keyholder_stop(&k);
			return 1;
		}
	}
	/* The store's messages never show a URL's password; the URL is not
	 * repeated here. */
	if ((st = sp_store_open_url(&k.store, db, data_dir, &err)) != SP_OK) {
		fprintf(stderr, "sealpost-keyd: %s\n", sp_err_msg(&err, st));
		close(lfd);
		keyd_keyholder_stop(&k);
		return 1;
	}
	if (sendmail != NULL)
		st = sp_transport_new(&k.mail, "sendmail", sendmail, mail_from, &err);
	else {
		if (outbox == NULL) {
			snprintf(buf, sizeof(buf), "%.4000s/outbox", data_dir);
			outbox = buf;
		}
		st = sp_transport_new(&k.mail, "dir", outbox, mail_from, &err);
	}
	if (st != SP_OK) {
		fprintf(stderr, "sealpost-keyd: %s\n", sp_err_msg(&err, st));
		goto fail_store;
	}
	sp_password_gate_config((int)argon, 2000);
	{
		/* WebAuthn's relying party is the public URL's host name. */
		const char *h = k.origin + (k.https ? 8 : 7);
		size_t hl = h[0] == '[' ? strcspn(h, "]") + 1 : strcspn(h, ":/");

		snprintf(k.rp_id, sizeof(k.rp_id), "%.*s", (int)hl, h);
		if (strspn(k.rp_id, "0123456789.") == strlen(k.rp_id) || k.rp_id[0] == '[')
			fprintf(stderr, "sealpost-keyd: warning: --public-url names an IP address; "
			    "browsers allow passkeys only under a host name (TOTP still works)\n");
	}
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
		fprintf(stderr, "sealpost-keyd: cannot start: %s\n", sp_err_msg(&err, SP_ERR_NOMEM));
		sp_transport_free(k.mail);
		goto fail_store;
	}

	d = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG |
	    MHD_ALLOW_SUSPEND_RESUME,
	    0, keyd_accept, &k, keyd_handler, &k,
	    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)lfd,
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)threads,
	    MHD_OPTION_NOTIFY_COMPLETED, keyd_completed, &k,
	    MHD_OPTION_NOTIFY_CONNECTION, keyd_conn_notify, &k,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)idle,
	    /* keyd_accept() enforces the limits; MHD's own is a backstop
	     * above them, so that every accepted connection is counted. */
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)(max_conns + 64),
	    MHD_OPTION_END);
	if (d == NULL) {
		fprintf(stderr, "sealpost-keyd: cannot listen on %s\n", listen_s);
		keyd_mailq_stop(&k);
		keyd_conns_free(&k);
		sp_transport_free(k.mail);
		goto fail_store;
	}
	{
		char th[16], uidb[24];

		snprintf(th, sizeof(th), "%zu", threads);
		snprintf(uidb, sizeof(uidb), "%ld", (long)geteuid());
		keyd_log("start", "listen", listen_s, "public_url", k.public_url,
		    "threads", th, "uid", uidb, NULL);
	}
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
		/* Log-ins on worker threads hold suspended connections: let them
		 * finish (each is bounded by the password gate's wait). */
		int waited;

		for (waited = 0; waited < 1000 &&
		    __atomic_load_n(&k.login_jobs, __ATOMIC_SEQ_CST) > 0; waited++)
			usleep(10000);
	}
	MHD_stop_daemon(d);
	keyd_mailq_stop(&k);
	keyd_conns_free(&k);
	sp_transport_free(k.mail);
	keyd_keyholder_stop(&k);
	sp_store_close(k.store);
	return 0;

fail_store:
	close(lfd);
	keyd_keyholder_stop(&k);
	sp_store_close(k.store);
	return 1;
}

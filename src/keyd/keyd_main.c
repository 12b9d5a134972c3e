/*
 * keyd_main.c - sealpost-keyd, the key server and recipient portal: reads
 * the options, opens the data directory (store, master key, outbox), starts
 * libmicrohttpd with an internal thread pool on epoll bound to the given
 * address only, and stops cleanly on SIGTERM or SIGINT.
 * SECURITY: holds the master key; binds only the configured address; the
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


static volatile sig_atomic_t stop_signal;

static void
on_signal(int sig)
{
	stop_signal = sig;
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
	    "  --data-dir DIR        data directory (created 0700): keyd.sqlite, master-N.key,\n"
	    "                        outbox/ (required)\n"
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
	    "  --login-free-ip N     the same per client address (default 20)\n"
	    "  --mail-from ADDR      sender of activation mail (default sealpost@HOST)\n"
	    "  --outbox DIR          write mail as .eml files to DIR (default DATA/outbox)\n"
	    "  --sendmail PATH       send mail through PATH -i -t instead of the outbox\n"
	    "  -h, --help            this help\n");
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
	char buf[4200], from_buf[300];
	size_t threads = 4, argon = 2, free_email = 5, free_ip = 20;
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
		if (v == NULL) {
			fprintf(stderr, "sealpost-keyd: %s needs a value (see --help)\n", a);
			return 2;
		}
		if (strcmp(a, "--data-dir") == 0)
			data_dir = v;
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
		else if ((strcmp(a, "--max-body") == 0 && parse_size(v, &k.max_body) == 0) ||
		    (strcmp(a, "--max-envelope") == 0 && parse_size(v, &k.max_envelope) == 0) ||
		    (strcmp(a, "--threads") == 0 && parse_size(v, &threads) == 0 && threads <= 256) ||
		    (strcmp(a, "--argon-workers") == 0 && parse_size(v, &argon) == 0 && argon <= 64) ||
		    (strcmp(a, "--login-free") == 0 && parse_size(v, &free_email) == 0 && free_email <= 1000) ||
		    (strcmp(a, "--login-free-ip") == 0 && parse_size(v, &free_ip) == 0 && free_ip <= 100000))
			;
		else {
			fprintf(stderr, "sealpost-keyd: bad option or value: %s %s (see --help)\n", a, v);
			return 2;
		}
		i++;
	}
	k.thr_email = (struct sp_throttle_policy){(int)free_email, 30, 15 * 60};
	k.thr_ip = (struct sp_throttle_policy){(int)free_ip, 30, 15 * 60};
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

	umask(077);
	if ((st = sp_store_open(&k.store, "sqlite", data_dir, &err)) != SP_OK) {
		fprintf(stderr, "sealpost-keyd: %s\n", sp_err_msg(&err, st));
		return 1;
	}
	if ((st = sp_keywrap_load(&k.kw, data_dir, 1, &err)) != SP_OK) {
		fprintf(stderr, "sealpost-keyd: %s\n", sp_err_msg(&err, st));
		sp_store_close(k.store);
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
		sp_keywrap_free(k.kw);
		sp_store_close(k.store);
		return 1;
	}
	sp_password_gate_config((int)argon, 2000);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* Block the stop signals in every thread (the server threads inherit
	 * the mask), so only sigsuspend() below receives them: no race. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);

	d = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG,
	    0, NULL, NULL, keyd_handler, &k,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)threads,
	    MHD_OPTION_NOTIFY_COMPLETED, keyd_completed, &k,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)60,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)1000,
	    MHD_OPTION_END);
	if (d == NULL) {
		fprintf(stderr, "sealpost-keyd: cannot listen on %s\n", listen_s);
		sp_transport_free(k.mail);
		sp_keywrap_free(k.kw);
		sp_store_close(k.store);
		return 1;
	}
	{
		char th[16];

		snprintf(th, sizeof(th), "%zu", threads);
		keyd_log("start", "listen", listen_s, "public_url", k.public_url,
		    "threads", th, NULL);
	}
	sigemptyset(&set);
	while (!stop_signal)
		sigsuspend(&set);
	keyd_log("stop", "signal", stop_signal == SIGTERM ? "TERM" : "INT", NULL);
	MHD_stop_daemon(d);
	sp_transport_free(k.mail);
	sp_keywrap_free(k.kw);
	sp_store_close(k.store);
	return 0;
	(void)sl;
}

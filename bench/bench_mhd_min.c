/*
 * bench_mhd_min.c - the baseline of the key release bench: a minimal
 * libmicrohttpd server that answers every request with a fixed small JSON
 * body, started with the threading mode and connection settings of
 * sealpost-keyd (src/keyd/keyd_main.c: its own listening socket on
 * 127.0.0.1 with the same backlog, a pool of THREADS threads over epoll,
 * suspend/resume allowed, the same idle timeout and connection limit).  A
 * request body is read and dropped.  It prints "ready PORT" on standard
 * output once it listens and stops on SIGTERM or SIGINT.
 * usage: bench_mhd_min PORT [THREADS]   (PORT 0: any free port)
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MIN_IDLE_TIMEOUT 30	/* keyd's --idle-timeout default */
#define MIN_CONNECTIONS 1000	/* keyd's --max-connections default */

static const char answer[] = "{\"ok\":true,\"id\":\"AAAAAAAAAAAAAAAAAAAAAA\"}";

static enum MHD_Result
handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
    const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	(void)cls; (void)url; (void)method; (void)version; (void)upload;
	if (*con_cls == NULL) {
		*con_cls = (void *)answer;	/* first call: the headers only */
		return MHD_YES;
	}
	if (*upload_size > 0) {
		*upload_size = 0;
		return MHD_YES;
	}
	resp = MHD_create_response_from_buffer(sizeof(answer) - 1, (void *)answer,
	    MHD_RESPMEM_PERSISTENT);
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", "application/json");
	ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}

int
main(int argc, char **argv)
{
	struct MHD_Daemon *d;
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	sigset_t set;
	int sig, fd, one = 1;
	unsigned threads = 4;
	long port;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: bench_mhd_min PORT [THREADS]\n");
		return 2;
	}
	port = strtol(argv[1], NULL, 10);
	if (argc == 3)
		threads = (unsigned)strtoul(argv[2], NULL, 10);
	if (port < 0 || port > 65535 || threads < 1 || threads > 256) {
		fprintf(stderr, "bench_mhd_min: bad port or thread count\n");
		return 2;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);	/* the pool threads inherit it */
	signal(SIGPIPE, SIG_IGN);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 || listen(fd, 511) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &sl) != 0) {
		perror("bench_mhd_min: listen");
		return 1;
	}
	d = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG |
	    MHD_ALLOW_SUSPEND_RESUME, 0, NULL, NULL, handler, NULL,
	    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
	    MHD_OPTION_THREAD_POOL_SIZE, threads,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)MIN_IDLE_TIMEOUT,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)(MIN_CONNECTIONS + 64),
	    MHD_OPTION_END);
	if (d == NULL) {
		fprintf(stderr, "bench_mhd_min: cannot listen on port %ld\n", port);
		return 1;
	}
	printf("ready %u\n", (unsigned)ntohs(sin.sin_port));
	fflush(stdout);
	sigwait(&set, &sig);
	MHD_stop_daemon(d);
	close(fd);
	return 0;
}

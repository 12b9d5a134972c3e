/*
 * keyd_client_test.c - the key server client against what it must not
 * trust: a token that is no header value is refused when it is set, and a
 * key server (or whoever answers on a plain http:// address) that answers a
 * log-in with an overlong or broken session gets an error, not a crash.
 * The answering side is a thread on a loopback socket that sends one
 * fixed answer per connection.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "keyd_client.h"
#include "t.h"

/* One answer to every request on fd, for n connections. */
struct answerer {
	int fd;
	int n;
	const char *body;
};

static void *
answer(void *arg)
{
	struct answerer *a = arg;
	char req[8192], head[256];
	int i, c;

	for (i = 0; i < a->n; i++) {
		if ((c = accept(a->fd, NULL, NULL)) < 0)
			break;
		(void)!read(c, req, sizeof(req));
		snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
		    "Content-Length: %zu\r\nConnection: close\r\n\r\n", strlen(a->body));
		(void)!write(c, head, strlen(head));
		(void)!write(c, a->body, strlen(a->body));
		close(c);
	}
	return NULL;
}

static void
test_token(void)
{
	struct sp_keyd_client *c = NULL;
	struct sp_err err = {{0}};
	char *longtok = malloc(SP_KEYD_TOKEN_MAX + 2), out[SP_KEYD_TOKEN_MAX + 1];

	T_EQ_INT(sp_keyd_client_new(&c, "http://127.0.0.1:1", 1000, &err), SP_OK);
	T_EQ_INT(sp_keyd_client_set_token(c, "spo_abc-DEF_123"), SP_OK);
	T_EQ_INT(sp_keyd_client_set_token(c, ""), SP_ERR_INVALID);
	T_EQ_INT(sp_keyd_client_set_token(c, "spo_a\r\nX-Evil: 1"), SP_ERR_INVALID);
	T_EQ_INT(sp_keyd_client_set_token(c, "spo_a b"), SP_ERR_INVALID);
	T_EQ_INT(sp_keyd_client_set_token(c, "spo_\xc3\xa9"), SP_ERR_INVALID);
	memset(longtok, 'a', SP_KEYD_TOKEN_MAX + 1);
	longtok[SP_KEYD_TOKEN_MAX + 1] = '\0';
	T_EQ_INT(sp_keyd_client_set_token(c, longtok), SP_ERR_INVALID);
	longtok[SP_KEYD_TOKEN_MAX] = '\0';
	T_EQ_INT(sp_keyd_client_set_token(c, longtok), SP_OK);
	/* a refused token leaves the one before */
	T_EQ_INT(sp_keyd_client_set_token(c, "spo_kept"), SP_OK);
	T_EQ_INT(sp_keyd_client_set_token(c, "x\n"), SP_ERR_INVALID);
	T_EQ_INT(sp_keyd_client_token(c, out, sizeof(out)), SP_OK);
	T_CHECK(strcmp(out, "spo_kept") == 0);
	sp_keyd_client_free(c);
	free(longtok);
}

static void
test_login_answers(void)
{
	static char huge[5200];
	const char *bodies[] = {huge, "{\"session\":\"sps_a\\r\\nX: y\"}", "{\"session\":42}"};
	struct sockaddr_in sa = {0};
	socklen_t sl = sizeof(sa);
	size_t i;

	memcpy(huge, "{\"session\":\"sps_", 16);
	memset(huge + 16, 'A', 5000);
	memcpy(huge + 5016, "\"}", 3);
	for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		struct answerer a = {socket(AF_INET, SOCK_STREAM, 0), 1, bodies[i]};
		struct sp_keyd_client *c = NULL;
		struct sp_err err = {{0}};
		char url[64], out[64];
		pthread_t th;

		sa.sin_family = AF_INET;
		sa.sin_port = 0;
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		T_EQ_INT(bind(a.fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
		T_EQ_INT(listen(a.fd, 4), 0);
		getsockname(a.fd, (struct sockaddr *)&sa, &sl);
		snprintf(url, sizeof(url), "http://127.0.0.1:%d", ntohs(sa.sin_port));
		T_EQ_INT(pthread_create(&th, NULL, answer, &a), 0);
		T_EQ_INT(sp_keyd_client_new(&c, url, 5000, &err), SP_OK);
		T_CHECK(sp_keyd_login(c, "pat@example.org", "a password", &err) != SP_OK);
		T_CHECK(strstr(err.msg, "malformed answer") != NULL);
		T_EQ_INT(sp_keyd_client_token(c, out, sizeof(out)), SP_ERR_NOTFOUND);
		pthread_join(th, NULL);
		sp_keyd_client_free(c);
		close(a.fd);
	}
}

static void
setup(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

T_MAIN(setup, test_token, test_login_answers)

/*
 * keyd_net.c - who is asking: the client address of a request (the TCP
 * peer, or the address a trusted proxy forwarded), and the connection
 * limits that keep one client from holding every connection of the server.
 * SECURITY: X-Forwarded-For and Forwarded are believed only from a peer in
 * a --trusted-proxy range, and only up to the first address that is not a
 * trusted proxy (reading from the right), so a client cannot choose the
 * address it is throttled under.  Per-client connection counts are kept
 * by TCP peer; trusted proxies count only against the total limit.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "keyd_req.h"

#define CONN_BUCKETS 1024

struct conn_entry {
	unsigned char addr[16];
	unsigned count;
	struct conn_entry *next;
};

struct keyd_conns {
	pthread_mutex_t mu;
	unsigned total;
	struct conn_entry *bucket[CONN_BUCKETS];
};

int
keyd_cidr_parse(const char *s, struct keyd_cidr *out)
{
	char host[64];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	long bits;
	char *end;

	memset(out, 0, sizeof(*out));
	if (n == 0 || n >= sizeof(host))
		return -1;
	memcpy(host, s, n);
	host[n] = '\0';
	if (inet_pton(AF_INET, host, out->addr) == 1)
		out->family = AF_INET;
	else if (inet_pton(AF_INET6, host, out->addr) == 1)
		out->family = AF_INET6;
	else
		return -1;
	bits = out->family == AF_INET ? 32 : 128;
	if (slash != NULL) {
		long max = bits;

		bits = strtol(slash + 1, &end, 10);
		if (slash[1] == '\0' || *end != '\0' || bits < 0 || bits > max)
			return -1;
	}
	out->bits = (int)bits;
	return 0;
}

static int
cidr_has(const struct keyd_cidr *c, int family, const unsigned char *a)
{
	int full = c->bits / 8, rest = c->bits % 8;

	if (c->family != family)
		return 0;
	if (memcmp(c->addr, a, (size_t)full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	return ((c->addr[full] ^ a[full]) & (0xff << (8 - rest)) & 0xff) == 0;
}

/* family/bytes of a textual address; 0 when it is none. */
static int
addr_bytes(const char *s, unsigned char out[16])
{
	if (inet_pton(AF_INET, s, out) == 1)
		return AF_INET;
	if (inet_pton(AF_INET6, s, out) == 1)
		return AF_INET6;
	return 0;
}

static int
trusted(const struct keyd *k, const char *addr)
{
	unsigned char b[16];
	int fam = addr_bytes(addr, b), i;

	for (i = 0; fam != 0 && i < k->nproxies; i++)
		if (cidr_has(&k->proxies[i], fam, b))
			return 1;
	return 0;
}

/* Copy one address token of a forwarding header into out (without port,
 * brackets or quotes); 0 when it is not an IP address. */
static int
clean_addr(const char *p, size_t n, char out[64])
{
	unsigned char b[16];
	char tmp[64];

	while (n > 0 && (*p == ' ' || *p == '\t' || *p == '"')) {
		p++;
		n--;
	}
	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '"'))
		n--;
	if (n == 0 || n >= sizeof(tmp))
		return 0;
	memcpy(tmp, p, n);
	tmp[n] = '\0';
	if (tmp[0] == '[') {		/* [v6]:port */
		char *rb = strchr(tmp, ']');

		if (rb == NULL)
			return 0;
		*rb = '\0';
		memmove(tmp, tmp + 1, strlen(tmp + 1) + 1);
	} else if (strchr(tmp, ':') == strrchr(tmp, ':') && strchr(tmp, ':') != NULL)
		*strchr(tmp, ':') = '\0';	/* v4:port */
	if (addr_bytes(tmp, b) == 0)
		return 0;
	snprintf(out, 64, "%s", tmp);
	return 1;
}

/* Walk the comma-separated list from the right; take the first address
 * that is not a trusted proxy.  forwarded: the value is RFC 7239 (take the
 * for= parameter of each element). */
static int
from_header(const struct keyd *k, const char *h, int forwarded, char out[64])
{
	size_t end = strlen(h);
	int hops = 0;

	while (end > 0 && hops++ < 32) {
		size_t start = end;
		const char *el;
		size_t n;
		char a[64];

		while (start > 0 && h[start - 1] != ',')
			start--;
		el = h + start;
		n = end - start;
		if (forwarded) {
			const char *f = NULL;
			size_t i;

			for (i = 0; i + 4 <= n; i++)
				if (strncasecmp(el + i, "for=", 4) == 0 &&
				    (i == 0 || el[i - 1] == ';' || el[i - 1] == ' ')) {
					f = el + i + 4;
					break;
				}
			if (f == NULL)
				return 0;
			n = strcspn(f, ";,");
			el = f;
		}
		if (!clean_addr(el, n, a))
			return 0;	/* garbage: keep what we have */
		snprintf(out, 64, "%s", a);
		if (!trusted(k, a))
			return 1;
		end = start > 0 ? start - 1 : 0;
	}
	return 1;
}

/* Every line of header `name`, joined with ", " in the order they came:
 * a proxy that appends its own X-Forwarded-For line (rather than
 * extending the client's) must not leave the client's line to be read. */
struct hdr_join {
	const char *name;
	struct sp_buf *b;
	int n;
};

static enum MHD_Result
hdr_join_one(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct hdr_join *j = cls;

	(void)kind;
	if (key == NULL || value == NULL || strcasecmp(key, j->name) != 0)
		return MHD_YES;
	if (j->n++ > 0)
		sp_buf_append_str(j->b, ", ");
	sp_buf_append_str(j->b, value);
	return MHD_YES;
}

/* 1 and the joined value in b when the header was sent at all. */
static int
header_all(struct keyd_req *r, const char *name, struct sp_buf *b)
{
	struct hdr_join j = {name, b, 0};

	MHD_get_connection_values(r->conn, MHD_HEADER_KIND, hdr_join_one, &j);
	return j.n > 0 && b->data != NULL;
}

/* An IPv6 address other than a mapped IPv4 one, cut to its /64 network in
 * place (one subscriber gets a whole /64, and picks any address in it):
 * 1 when it was cut. */
static int
net64(unsigned char b[16])
{
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	if (memcmp(b, mapped, sizeof(mapped)) == 0)
		return 0;
	memset(b + 8, 0, 8);
	return 1;
}

/* r->client_key from r->client. */
static void
client_key(struct keyd_req *r)
{
	unsigned char b[16];
	char s[INET6_ADDRSTRLEN];

	if (inet_pton(AF_INET6, r->client, b) == 1 && net64(b) &&
	    inet_ntop(AF_INET6, b, s, sizeof(s)) != NULL)
		snprintf(r->client_key, sizeof(r->client_key), "%s/64", s);
	else
		snprintf(r->client_key, sizeof(r->client_key), "%s", r->client);
}

void
keyd_client_addr(struct keyd_req *r)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;
	struct sp_buf h;
	char fwd[64];

	snprintf(r->peer, sizeof(r->peer), "-");
	if (sa != NULL && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
		    r->peer, sizeof(r->peer));
	else if (sa != NULL && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
		    r->peer, sizeof(r->peer));
	snprintf(r->client, sizeof(r->client), "%s", r->peer);
	if (r->k->nproxies == 0 || !trusted(r->k, r->peer)) {
		client_key(r);
		return;
	}
	fwd[0] = '\0';
	/* Headers are bounded by the connection's memory limit; the cap only
	 * guards against surprises (then the address stays the proxy's). */
	sp_buf_init(&h, 65536);
	if (header_all(r, "Forwarded", &h) && from_header(r->k, (const char *)h.data, 1, fwd) &&
	    fwd[0])
		snprintf(r->client, sizeof(r->client), "%s", fwd);
	else {
		sp_buf_reset(&h);
		if (header_all(r, "X-Forwarded-For", &h) &&
		    from_header(r->k, (const char *)h.data, 0, fwd) && fwd[0])
			snprintf(r->client, sizeof(r->client), "%s", fwd);
	}
	sp_buf_free(&h);
	client_key(r);
}

/* --- connection limits --------------------------------------------------- */

int
keyd_conns_new(struct keyd *k)
{
	if ((k->conns = calloc(1, sizeof(*k->conns))) == NULL)
		return -1;
	pthread_mutex_init(&k->conns->mu, NULL);
	return 0;
}

void
keyd_conns_free(struct keyd *k)
{
	size_t i;
	struct conn_entry *e, *n;

	if (k->conns == NULL)
		return;
	for (i = 0; i < CONN_BUCKETS; i++)
		for (e = k->conns->bucket[i]; e != NULL; e = n) {
			n = e->next;
			free(e);
		}
	pthread_mutex_destroy(&k->conns->mu);
	free(k->conns);
	k->conns = NULL;
}

static int
sa_bytes(const struct sockaddr *sa, unsigned char out[16])
{
	memset(out, 0, 16);
	if (sa->sa_family == AF_INET) {
		memcpy(out, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
		return AF_INET;
	}
	if (sa->sa_family == AF_INET6) {
		memcpy(out, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
		return AF_INET6;
	}
	return 0;
}

static unsigned
hash16(const unsigned char a[16])
{
	unsigned h = 2166136261u;
	int i;

	for (i = 0; i < 16; i++)
		h = (h ^ a[i]) * 16777619u;
	return h % CONN_BUCKETS;
}

static int
proxy_sa(const struct keyd *k, int fam, const unsigned char *b)
{
	int i;

	for (i = 0; i < k->nproxies; i++)
		if (cidr_has(&k->proxies[i], fam, b))
			return 1;
	return 0;
}

/* Called by MHD before a connection is accepted: refuse it over the total
 * or the per-client limit.  The count is taken here and given back in
 * keyd_conn_notify(MHD_CONNECTION_NOTIFY_CLOSED). */
enum MHD_Result
keyd_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
	struct keyd *k = cls;
	struct keyd_conns *c = k->conns;
	unsigned char b[16];
	struct conn_entry *e;
	int fam = sa_bytes(addr, b), exempt;
	unsigned h;

	(void)addrlen;
	if (c == NULL || fam == 0)
		return MHD_YES;
	exempt = proxy_sa(k, fam, b);
	if (fam == AF_INET6)
		net64(b);
	h = hash16(b);
	pthread_mutex_lock(&c->mu);
	if (c->total >= k->max_conns) {
		pthread_mutex_unlock(&c->mu);
		keyd_log("connection-refused", "reason", "total-limit", NULL);
		return MHD_NO;
	}
	for (e = c->bucket[h]; e != NULL; e = e->next)
		if (memcmp(e->addr, b, 16) == 0)
			break;
	if (!exempt && e != NULL && e->count >= k->max_conns_client) {
		pthread_mutex_unlock(&c->mu);
		keyd_log("connection-refused", "reason", "client-limit", NULL);
		return MHD_NO;
	}
	if (e == NULL) {
		if ((e = calloc(1, sizeof(*e))) == NULL) {
			pthread_mutex_unlock(&c->mu);
			return MHD_NO;
		}
		memcpy(e->addr, b, 16);
		e->next = c->bucket[h];
		c->bucket[h] = e;
	}
	e->count++;
	c->total++;
	pthread_mutex_unlock(&c->mu);
	return MHD_YES;
}

void
keyd_conn_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
    enum MHD_ConnectionNotificationCode toe)
{
	struct keyd *k = cls;
	struct keyd_conns *c = k->conns;
	const union MHD_ConnectionInfo *ci;
	struct conn_entry *e, **pp;
	unsigned char b[16];
	unsigned h;
	int fam;

	(void)socket_context;
	if (c == NULL || toe != MHD_CONNECTION_NOTIFY_CLOSED)
		return;
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci == NULL || ci->client_addr == NULL || (fam = sa_bytes(ci->client_addr, b)) == 0)
		return;
	if (fam == AF_INET6)
		net64(b);
	h = hash16(b);
	pthread_mutex_lock(&c->mu);
	for (pp = &c->bucket[h]; (e = *pp) != NULL; pp = &e->next)
		if (memcmp(e->addr, b, 16) == 0) {
			if (e->count > 0)
				e->count--;
			if (c->total > 0)
				c->total--;
			if (e->count == 0) {
				*pp = e->next;
				free(e);
			}
			break;
		}
	pthread_mutex_unlock(&c->mu);
}

/*
 * milter_cb.c - the libmilter callbacks of sealpost-milter.  They stay thin:
 * each one moves what the MTA says into the per-message state
 * (milter_msg.c); the end of the message calls milter_decide_eom() with
 * operations that map onto smfi_chgheader/smfi_addheader/smfi_replacebody,
 * then logs one line and answers the MTA.
 * SECURITY: every argument from the MTA is untrusted mail data; nothing
 * from it is logged before log_clean().
 */
#include "milter.h"

#include <libmilter/mfapi.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

struct milter_conn {
	int leadspc;			/* SMFIP_HDR_LEADSPC negotiated */
	int nr_hdr, nr_body;		/* the MTA waits for no reply to a header, a body chunk */
	int lost;			/* a header could not be kept: tempfail at the end */
	struct milter_msg *msg;		/* the current message, or NULL */
};

static const struct milter_global *cb_global;

/* Idle workers (key server client with its open connection, policy
 * scratch).  libmilter runs one thread per MTA connection and those come
 * and go, so workers live in a pool: a message takes one at its end and
 * gives it back, and the key server connection stays alive across MTA
 * connections. */
#define CB_POOL_MAX 64
static pthread_mutex_t cb_pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct milter_worker *cb_pool[CB_POOL_MAX];
static size_t cb_pool_n;

static struct milter_worker *
worker_take(void)
{
	struct milter_worker *w = NULL;

	pthread_mutex_lock(&cb_pool_lock);
	if (cb_pool_n > 0)
		w = cb_pool[--cb_pool_n];
	pthread_mutex_unlock(&cb_pool_lock);
	return w != NULL ? w : calloc(1, sizeof(*w));
}

static void
worker_give(struct milter_worker *w)
{
	pthread_mutex_lock(&cb_pool_lock);
	if (cb_pool_n < CB_POOL_MAX) {
		cb_pool[cb_pool_n++] = w;
		w = NULL;
	}
	pthread_mutex_unlock(&cb_pool_lock);
	if (w != NULL) {
		milter_worker_clear(w);
		free(w);
	}
}

static struct milter_conn *
conn_get(SMFICTX *ctx)
{
	struct milter_conn *c = smfi_getpriv(ctx);

	if (c == NULL && (c = calloc(1, sizeof(*c))) != NULL)
		smfi_setpriv(ctx, c);
	return c;
}

static void
msg_end(struct milter_conn *c)
{
	if (c != NULL && c->msg != NULL) {
		milter_msg_clear(c->msg);
		free(c->msg);
		c->msg = NULL;
	}
}

static sfsistat
tempfail(SMFICTX *ctx, const char *why)
{
	smfi_setreply(ctx, "451", "4.3.0", (char *)why);
	return SMFIS_TEMPFAIL;
}

static sfsistat
cb_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1, unsigned long f2,
    unsigned long f3, unsigned long *pf0, unsigned long *pf1, unsigned long *pf2,
    unsigned long *pf3)
{
	struct milter_conn *c = conn_get(ctx);
	unsigned long want = SMFIF_CHGHDRS | SMFIF_ADDHDRS | SMFIF_CHGBODY;

	if (c == NULL)
		return SMFIS_TEMPFAIL;
	if ((f0 & want) != want) {
		log_warnx("negotiate", "reason=\"the MTA does not allow header and body changes\"");
		return SMFIS_REJECT;	/* libmilter: the filter is not used */
	}
	*pf0 = want;
	/* Every step before the end of the message answers "continue"
	 * (its failures wait for the end): where the MTA allows it, it does
	 * not wait for the header, end-of-header and body answers, which
	 * saves a round trip per header field and body chunk. */
	*pf1 = f1 & (SMFIP_HDR_LEADSPC | SMFIP_NOCONNECT | SMFIP_NOHELO | SMFIP_NOUNKNOWN |
	    SMFIP_NODATA | SMFIP_NOEOH | SMFIP_NR_HDR | SMFIP_NR_BODY);
	c->leadspc = (f1 & SMFIP_HDR_LEADSPC) != 0;
	c->nr_hdr = (*pf1 & SMFIP_NR_HDR) != 0;
	c->nr_body = (*pf1 & SMFIP_NR_BODY) != 0;
	*pf2 = 0;
	*pf3 = 0;
	return SMFIS_CONTINUE;
}

static sfsistat
cb_envfrom(SMFICTX *ctx, char **argv)
{
	struct milter_conn *c = conn_get(ctx);

	if (c == NULL)
		return tempfail(ctx, "out of memory");
	msg_end(c);
	c->lost = 0;
	if ((c->msg = calloc(1, sizeof(*c->msg))) == NULL)
		return tempfail(ctx, "out of memory");
	milter_msg_init(c->msg, (size_t)cb_global->cfg->max_message_size);
	c->msg->hdr_leadspc = c->leadspc;
	if (milter_msg_set_sender(c->msg, argv[0]) != SP_OK)
		return tempfail(ctx, "out of memory");
	return SMFIS_CONTINUE;
}

static sfsistat
cb_envrcpt(SMFICTX *ctx, char **argv)
{
	struct milter_conn *c = smfi_getpriv(ctx);
	int st;

	if (c == NULL || c->msg == NULL)
		return tempfail(ctx, "milter state lost");
	if ((st = milter_msg_add_rcpt(c->msg, argv[0])) == SP_ERR_TOOBIG) {
		smfi_setreply(ctx, "452", "4.5.3", "too many recipients");
		return SMFIS_TEMPFAIL;	/* for this recipient only */
	}
	return st == SP_OK ? SMFIS_CONTINUE : tempfail(ctx, "out of memory");
}

static sfsistat
cb_header(SMFICTX *ctx, char *name, char *value)
{
	struct milter_conn *c = smfi_getpriv(ctx);
	int st;

	if (c == NULL)
		return tempfail(ctx, "milter state lost");
	if (c->msg == NULL)
		c->lost = 1;
	else if ((st = milter_msg_add_header(c->msg, name, value ? value : "")) != SP_OK &&
	    st != SP_ERR_TOOBIG)
		c->lost = 1;
	/* too many fields, and a field lost, are decided at the end */
	return c->nr_hdr ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

static sfsistat
cb_body(SMFICTX *ctx, unsigned char *p, size_t n)
{
	struct milter_conn *c = smfi_getpriv(ctx);

	if (c == NULL)
		return tempfail(ctx, "milter state lost");
	/* over the cap, and a lost message, are decided at the end */
	if (c->msg == NULL)
		c->lost = 1;
	else
		milter_msg_add_body(c->msg, p, n);
	return c->nr_body ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

static int
op_chgheader(void *ctx, const char *name, int index, const char *value)
{
	return smfi_chgheader(ctx, (char *)name, index, (char *)value) == MI_SUCCESS ? 0 : -1;
}

static int
op_addheader(void *ctx, const char *name, const char *value)
{
	return smfi_addheader(ctx, (char *)name, (char *)value) == MI_SUCCESS ? 0 : -1;
}

static int
op_replacebody(void *ctx, const unsigned char *p, size_t n)
{
	return smfi_replacebody(ctx, (unsigned char *)p, (int)n) == MI_SUCCESS ? 0 : -1;
}


static long
elapsed_ms(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)((now.tv_sec - start->tv_sec) * 1000 + (now.tv_nsec - start->tv_nsec) / 1000000);
}

static sfsistat
cb_eom(SMFICTX *ctx)
{
	struct milter_conn *c = smfi_getpriv(ctx);
	struct milter_worker *w;
	struct milter_ops ops = {op_chgheader, op_addheader, op_replacebody, ctx};
	struct milter_outcome o;
	const char *q;

	if (c == NULL || c->msg == NULL)
		return tempfail(ctx, "milter state lost");
	if (c->lost) {
		msg_end(c);
		return tempfail(ctx, "out of memory");
	}
	if ((w = worker_take()) == NULL)
		return tempfail(ctx, "out of memory");
	if ((q = smfi_getsymval(ctx, "i")) != NULL)
		snprintf(c->msg->qid, sizeof(c->msg->qid), "%s", q);
	milter_decide_eom(cb_global, w, c->msg, &ops, &o);
	worker_give(w);
	milter_log_outcome(c->msg, &o, elapsed_ms(&c->msg->start));
	msg_end(c);
	switch (o.verdict) {
	case MILTER_CONTINUE:
		return SMFIS_CONTINUE;
	case MILTER_REJECT:
		smfi_setreply(ctx, o.rcode, o.xcode, o.reply);
		return SMFIS_REJECT;
	default:
		smfi_setreply(ctx, o.rcode[0] ? o.rcode : "451", o.xcode[0] ? o.xcode : "4.3.0",
		    o.reply[0] ? o.reply : "temporary failure, try again later");
		return SMFIS_TEMPFAIL;
	}
}

static sfsistat
cb_abort(SMFICTX *ctx)
{
	msg_end(smfi_getpriv(ctx));
	return SMFIS_CONTINUE;
}

static sfsistat
cb_close(SMFICTX *ctx)
{
	struct milter_conn *c = smfi_getpriv(ctx);

	msg_end(c);
	free(c);
	smfi_setpriv(ctx, NULL);
	return SMFIS_CONTINUE;
}

int
milter_cb_register(const struct milter_global *g)
{
	static struct smfiDesc desc = {
		.xxfi_name = "sealpost-milter",
		.xxfi_version = SMFI_VERSION,
		.xxfi_flags = SMFIF_CHGHDRS | SMFIF_ADDHDRS | SMFIF_CHGBODY,
		.xxfi_envfrom = cb_envfrom,
		.xxfi_envrcpt = cb_envrcpt,
		.xxfi_header = cb_header,
		.xxfi_body = cb_body,
		.xxfi_eom = cb_eom,
		.xxfi_abort = cb_abort,
		.xxfi_close = cb_close,
		.xxfi_negotiate = cb_negotiate,
	};

	cb_global = g;
	return smfi_register(desc) == MI_SUCCESS ? 0 : -1;
}

void
milter_cb_cleanup(void)
{
	pthread_mutex_lock(&cb_pool_lock);
	while (cb_pool_n > 0) {
		struct milter_worker *w = cb_pool[--cb_pool_n];

		milter_worker_clear(w);
		free(w);
	}
	pthread_mutex_unlock(&cb_pool_lock);
}

/*
 * milter_decide.c - what the milter does at the end of a message: unseal an
 * envelope from our key server addressed to our own domains (only for the
 * SMTP recipients its header names), or ask the policy whether to seal,
 * seal (key deposit over the thread's keep-alive key server connection,
 * signed with the organisation's key when sign_key is set) and rewrite the
 * message, or let it pass (without the sender's control fields).
 * Every failure becomes an outcome with an SMTP reply; nothing is dropped
 * and nothing the policy wants sealed is sent in the clear unless the
 * administrator chose on_keyd_failure = pass.  milter_log_outcome() writes
 * the one log line per message.
 * SECURITY: handles message plaintext and the organisation token; the raw
 * copy and the opened container are wiped before return.  An envelope is
 * opened with the organisation's token only for the recipients it names.
 */
#include "milter.h"

#include <gmime/gmime.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "keyd_client.h"
#include "log.h"
#include "message.h"
#include "policy.h"
#include "seal.h"

static void
outcome(struct milter_outcome *o, enum milter_verdict v, const char *decision,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
outcome(struct milter_outcome *o, enum milter_verdict v, const char *decision,
    const char *fmt, ...)
{
	va_list ap;

	o->verdict = v;
	snprintf(o->decision, sizeof(o->decision), "%s", decision);
	va_start(ap, fmt);
	vsnprintf(o->reason, sizeof(o->reason), fmt, ap);
	va_end(ap);
}

static void
reply(struct milter_outcome *o, const char *rcode, const char *xcode, const char *text)
{
	snprintf(o->rcode, sizeof(o->rcode), "%s", rcode);
	snprintf(o->xcode, sizeof(o->xcode), "%s", xcode);
	snprintf(o->reply, sizeof(o->reply), "%s", text);
}

/* Apply an administrator's failure policy (on_keyd_failure, on_too_big,
 * on_unreadable). */
static void
fail_by_policy(struct milter_outcome *o, int how, const char *what, const char *detail)
{
	switch (how) {
	case MILTER_FAIL_PASS:
		outcome(o, MILTER_CONTINUE, "pass", "%s (%s); passed by configuration", what, detail);
		break;
	case MILTER_FAIL_REJECT:
		outcome(o, MILTER_REJECT, "reject", "%s (%s)", what, detail);
		reply(o, "554", "5.3.0", what);
		break;
	default:
		outcome(o, MILTER_TEMPFAIL, "tempfail", "%s (%s)", what, detail);
		reply(o, "451", "4.3.0", what);
		break;
	}
}

void
milter_worker_clear(struct milter_worker *w)
{
	sp_keyd_client_free(w->keyd);
	sp_policy_scratch_free(w->scratch);
	w->keyd = NULL;
	w->scratch = NULL;
}

/* The thread's key server client, created on first use and kept (with its
 * connection) for the next message. */
static int
worker_keyd(const struct milter_global *g, struct milter_worker *w, struct sp_err *err)
{
	int st;

	if (w->keyd != NULL)
		return SP_OK;
	if ((st = sp_keyd_client_new(&w->keyd, g->cfg->keyd_url, (long)g->cfg->timeout_ms, err)) != SP_OK)
		return st;
	if ((st = sp_keyd_client_set_token(w->keyd, g->cfg->keyd_token)) != SP_OK) {
		sp_keyd_client_free(w->keyd);
		w->keyd = NULL;
		return sp_err_set(err, st, "cannot set the key server token");
	}
	return SP_OK;
}

/* The one call into the policy scanner. */
static int
milter_policy_decide(const struct milter_global *g, struct milter_worker *w,
    const struct milter_msg *m, const struct sp_buf *raw, struct sp_policy_result *r,
    struct sp_err *err)
{
	int st;

	if (g->policy == NULL)
		return sp_err_set(err, SP_ERR_INTERNAL, "no policy loaded");
	if (w->scratch == NULL &&
	    (st = sp_policy_scratch_new(g->policy, &w->scratch, err)) != SP_OK)
		return st;
	return sp_policy_decide(g->policy, w->scratch, raw->data ? raw->data : (const unsigned char *)"",
	    raw->len, m->sender && m->sender[0] ? m->sender : NULL,
	    (const char *const *)m->rcpt, m->nrcpt, r, err);
}

static int
all_internal(const struct milter_config *c, const struct milter_msg *m)
{
	size_t i;

	if (m->nrcpt == 0)
		return 0;
	for (i = 0; i < m->nrcpt; i++)
		if (!milter_config_is_internal(c, m->rcpt[i]))
			return 0;
	return 1;
}

const char *const milter_control_headers[] = {
	"X-Sealpost-Expires", "X-Sealpost-Notify", "X-Sealpost-Verify", "X-Sealpost-Verify-Hint",
	"X-Sealpost-Level", NULL,
};

/* Delete every field called name, the last first (so each index still
 * names the same field).  Returns how many were deleted. */
static int
delete_fields(const struct milter_msg *m, const struct milter_ops *ops, const char *name)
{
	size_t i;
	int n = 0, k;

	for (i = 0; i < m->nhdrs; i++)
		if (strcasecmp(m->hdrs[i].name, name) == 0)
			n++;
	for (k = n; k > 0; k--)
		ops->chgheader(ops->ctx, name, k, NULL);
	return n;
}

/* A message that passes unsealed loses the sender's control fields: a
 * verification secret is never sent in the clear.  Noted in o. */
static void
strip_controls(const struct milter_msg *m, const struct milter_ops *ops, struct milter_outcome *o)
{
	size_t i, n = strlen(o->notes);
	int removed = 0;

	for (i = 0; milter_control_headers[i] != NULL; i++)
		removed += delete_fields(m, ops, milter_control_headers[i]);
	if (removed > 0 && n < sizeof(o->notes))
		snprintf(o->notes + n, sizeof(o->notes) - n, "%s%d sender control field%s removed "
		    "(not sealed)", n ? "; " : "", removed, removed == 1 ? "" : "s");
}

/* Remove marker fields that did not come from us (someone could forge "it
 * was sealed"). */
static void
strip_markers(const struct milter_msg *m, const struct milter_ops *ops)
{
	delete_fields(m, ops, MILTER_MARK_HEADER);
}

int
milter_unseal_allowed(const struct sp_env_header *h, const struct milter_msg *m,
    const char **refused)
{
	size_t i, j;

	*refused = "";
	if (m->nrcpt == 0)
		return SP_ERR_DENIED;
	for (i = 0; i < m->nrcpt; i++) {
		for (j = 0; j < h->nto; j++)
			if (h->to[j] != NULL && strcasecmp(m->rcpt[i], h->to[j]) == 0)
				break;
		if (j == h->nto) {
			*refused = m->rcpt[i];
			return SP_ERR_DENIED;
		}
	}
	return SP_OK;
}

/* 1 when raw carries an envelope whose id is the value of its
 * X-Sealpost-Envelope field (value). */
static int
carries_envelope(const struct sp_buf *raw, const char *value)
{
	struct sp_env_file f;
	struct sp_err err = {{0}};
	size_t n;
	int same;

	while (*value == ' ' || *value == '\t')
		value++;
	for (n = strlen(value); n > 0 && strchr(" \t\r\n", value[n - 1]) != NULL; n--)
		;
	memset(&f, 0, sizeof(f));
	if (sp_envelope_from_input(raw->data, raw->len, &f, &err) != SP_OK)
		return 0;
	same = strlen(f.header.id) == n && memcmp(f.header.id, value, n) == 0;
	sp_env_file_clear(&f);
	return same;
}

static void
do_unseal(const struct milter_global *g, struct milter_worker *w, struct milter_msg *m,
    const struct sp_buf *raw, const struct milter_ops *ops, struct milter_outcome *o)
{
	const struct milter_config *c = g->cfg;
	struct sp_env_file f;
	struct sp_buf container, orig;
	struct sp_err err = {{0}};
	struct milter_rewrite rw;
	const char *who;
	char mark[700], qid[LOG_CLEAN_SIZE], env[LOG_CLEAN_SIZE], rcpt[LOG_CLEAN_SIZE];
	int st;

	memset(&f, 0, sizeof(f));
	sp_buf_init(&container, SP_MSG_MAX_SIZE + (16 << 20));
	sp_buf_init(&orig, SP_MSG_MAX_SIZE);
	snprintf(o->rule, sizeof(o->rule), "inbound");
	if ((st = sp_envelope_from_input(raw->data, raw->len, &f, &err)) != SP_OK) {
		outcome(o, MILTER_CONTINUE, "pass", "no readable envelope: %s", sp_err_msg(&err, st));
		strip_markers(m, ops);
		goto out;
	}
	snprintf(o->envelope, sizeof(o->envelope), "%s", f.header.id);
	if (f.header.keyd == NULL || (strcmp(f.header.keyd, c->keyd_public_url) != 0 &&
	    strcmp(f.header.keyd, c->keyd_url) != 0)) {
		outcome(o, MILTER_CONTINUE, "pass", "envelope from another key server, left sealed");
		strip_markers(m, ops);
		goto out;
	}
	/* The whole message is one copy for all its recipients: one that the
	 * envelope does not name leaves it sealed for everyone (those named
	 * can still open it in the portal). */
	if (milter_unseal_allowed(&f.header, m, &who) != SP_OK) {
		outcome(o, MILTER_CONTINUE, "pass", "left sealed: %s is not a recipient named in the "
		    "envelope", who[0] ? who : "(no recipient)");
		log_warnx("unseal-refused", "qid=%s envelope=%s rcpt=%s reason=\"not a recipient named "
		    "in the envelope\"", log_clean(m->qid, qid, sizeof(qid)),
		    log_clean(f.header.id, env, sizeof(env)), log_clean(who, rcpt, sizeof(rcpt)));
		strip_markers(m, ops);
		goto out;
	}
	if ((st = worker_keyd(g, w, &err)) != SP_OK) {
		fail_by_policy(o, MILTER_FAIL_TEMPFAIL, "cannot reach the key server", sp_err_msg(&err, st));
		goto out;
	}
	st = sp_open_envelope(w->keyd, &f, &container, &err);
	if (st == SP_ERR_RETRY || st == SP_ERR_IO) {
		/* delivering it sealed is safe; still, retry by default so the
		 * user gets it readable */
		fail_by_policy(o, c->on_keyd_failure, "key server unavailable, cannot unseal",
		    sp_err_msg(&err, st));
		if (o->verdict == MILTER_CONTINUE)
			strip_markers(m, ops);
		goto out;
	}
	if (st != SP_OK) {
		outcome(o, MILTER_CONTINUE, "pass", "key not released, left sealed: %s",
		    sp_err_msg(&err, st));
		strip_markers(m, ops);
		goto out;
	}
	if ((st = sp_msg_container_raw(container.data, container.len, &orig, &err)) != SP_OK) {
		outcome(o, MILTER_CONTINUE, "pass", "opened envelope holds no message, left sealed: %s",
		    sp_err_msg(&err, st));
		strip_markers(m, ops);
		goto out;
	}
	sp_buf_wipe(&container);
	milter_rewrite_init(&rw, ops, m);
	st = milter_rewrite_write(&rw, orig.data ? orig.data : (const unsigned char *)"", orig.len);
	if (st == SP_OK)
		st = milter_rewrite_finish(&rw);
	milter_rewrite_clear(&rw);
	if (st == SP_ERR_INVALID && rw.applied == 0) {
		/* an original whose header block this milter cannot hand to the
		 * MTA (nothing of it was applied): every retry would fail the
		 * same way, so it is delivered sealed, to be opened in the portal */
		outcome(o, MILTER_CONTINUE, "pass", "left sealed: the original's header block "
		    "cannot be restored here");
		strip_markers(m, ops);
		goto out;
	}
	if (st == SP_OK) {
		snprintf(mark, sizeof(mark), "%s%s; keyd=%s", m->hdr_leadspc ? " " : "",
		    f.header.id, c->keyd_public_url);
		if (ops->addheader(ops->ctx, MILTER_MARK_HEADER, mark) != 0)
			st = SP_ERR_IO;
	}
	if (st != SP_OK) {
		/* the MTA throws away what we changed when we answer tempfail */
		outcome(o, MILTER_TEMPFAIL, "tempfail", "cannot rewrite the unsealed message (%s)",
		    sp_status_str(st));
		reply(o, "451", "4.3.0", "cannot unseal the message now, try again later");
		goto out;
	}
	outcome(o, MILTER_CONTINUE, "unseal", "unsealed for the internal recipients it names");
out:
	sp_env_file_clear(&f);
	sp_buf_wipe(&container);
	sp_buf_wipe(&orig);
}

/* Subject for the notification: the policy's cleaned subject, or for
 * SEAL_TAG the tag before the original (decoded) subject.  Caller frees. */
static char *
notice_subject(const struct milter_msg *m, const struct sp_policy_result *r)
{
	const char *raw = milter_msg_header(m, "Subject");
	char *dec, *out;
	size_t n;

	if (r->action != SP_POLICY_SEAL_TAG || r->tag[0] == '\0')
		return r->subject ? strdup(r->subject) : NULL;
	dec = raw ? g_mime_utils_header_decode_text(NULL, raw) : NULL;
	if (r->subject != NULL) {
		g_free(dec);
		dec = g_strdup(r->subject);
	}
	n = strlen(r->tag) + 2 + (dec ? strlen(dec) : 0);
	if ((out = malloc(n)) != NULL)
		snprintf(out, n, "%s%s%s", r->tag, dec && dec[0] ? " " : "", dec ? dec : "");
	g_free(dec);
	/* folded subjects decode with line ends; the sealer refuses those */
	for (char *p = out; p != NULL && *p != '\0'; p++)
		if (*p == '\r' || *p == '\n')
			*p = ' ';
	return out;
}

/* The key server did not keep the copy: counted and logged; the message is
 * sealed all the same (its attachment opens as always). */
static void
copy_warning(void *ctx, const char *id, const char *msg)
{
	const struct milter_msg *m = ctx;
	char qid[64], env[64], why[320];

	log_warnx("copy-failed", "qid=%s envelope=%s reason=\"%s\"",
	    log_clean(m->qid, qid, sizeof(qid)), log_clean(id, env, sizeof(env)),
	    log_clean(msg, why, sizeof(why)));
}

static void
do_seal(const struct milter_global *g, struct milter_worker *w, struct milter_msg *m,
    const struct sp_buf *raw, const struct sp_policy_result *r, const struct milter_ops *ops,
    struct milter_outcome *o)
{
	struct sp_seal_params sp = {0};
	struct sp_err err = {{0}};
	struct milter_rewrite rw;
	char id[SP_ENV_ID_STRLEN + 1] = "";
	char *subject = notice_subject(m, r);
	int st;

	sp.rcpt = (const char *const *)m->rcpt;
	sp.nrcpt = m->nrcpt;
	sp.from = m->sender;	/* the sender when the message has no From: address */
	sp.subject = subject;
	sp.signer = g->cfg->signer;
	sp.copy_warning = copy_warning;
	sp.copy_warning_ctx = m;
	milter_rewrite_init(&rw, ops, m);
	rw.drop_controls = 1;
	if ((st = worker_keyd(g, w, &err)) == SP_OK)
		st = sp_seal_message(w->keyd, &sp, raw->data, raw->len,
		    (struct sp_writer){milter_rewrite_write, &rw}, id, &err);
	if (st == SP_OK)
		st = milter_rewrite_finish(&rw);
	else if (rw.hdr.len > 0 || rw.in_body)
		st = SP_ERR_IO;	/* half applied: only a tempfail undoes it */
	milter_rewrite_clear(&rw);
	free(subject);
	if (id[0] != '\0')
		snprintf(o->envelope, sizeof(o->envelope), "%s", id);
	switch (st) {
	case SP_OK:
		outcome(o, MILTER_CONTINUE, "seal", "%s", r->reason);
		return;
	case SP_ERR_RETRY:
		fail_by_policy(o, g->cfg->on_keyd_failure, "key server unavailable, message not sealed",
		    sp_err_msg(&err, st));
		return;
	case SP_ERR_CONFIG:
		/* the organisation signs its envelopes and sign_key is not set:
		 * the gateway's fault, not the message's (keyd_client.h) */
		outcome(o, MILTER_TEMPFAIL, "tempfail", "cannot seal: %s (set sign_key)",
		    sp_err_msg(&err, st));
		reply(o, "451", "4.7.0", "secure mail gateway misconfigured, try again later");
		return;
	case SP_ERR_INVALID:
	case SP_ERR_TOOBIG:
		/* the policy wants it sealed and it cannot be: never in the clear */
		outcome(o, MILTER_REJECT, "reject", "cannot seal: %s", sp_err_msg(&err, st));
		reply(o, "554", "5.6.0", "message must be sent securely but cannot be sealed");
		return;
	case SP_ERR_AUTH:
	case SP_ERR_DENIED:
		/* a bad token, or a sender outside the organisation's domains:
		 * the administrator's to fix; the mail waits meanwhile */
		outcome(o, MILTER_TEMPFAIL, "tempfail", "key server refused %s: %s",
		    st == SP_ERR_AUTH ? "our token" : "the deposit", sp_err_msg(&err, st));
		reply(o, "451", "4.7.0", "secure mail gateway misconfigured, try again later");
		return;
	default:
		outcome(o, MILTER_TEMPFAIL, "tempfail", "sealing failed: %s", sp_err_msg(&err, st));
		reply(o, "451", "4.3.0", "cannot seal the message now, try again later");
		return;
	}
}

/* What the scanner skipped or limited (always), and where it matched (with
 * debug), for the log line. */
static void
collect_notes(const struct milter_config *c, const struct sp_policy_result *r,
    struct milter_outcome *o)
{
	size_t i, n = 0;

	for (i = 0; i < r->nnotes && n < sizeof(o->notes); i++)
		n += (size_t)snprintf(o->notes + n, sizeof(o->notes) - n, "%s%s", n ? "; " : "",
		    r->notes[i]);
	for (i = 0; c->debug && i < r->nhits && n < sizeof(o->notes); i++)
		n += (size_t)snprintf(o->notes + n, sizeof(o->notes) - n, "%s%s in %s at %zu: %s",
		    n ? "; " : "", r->hits[i].rule, r->hits[i].part, r->hits[i].offset, r->hits[i].text);
}

void
milter_decide_eom(const struct milter_global *g, struct milter_worker *w,
    struct milter_msg *m, const struct milter_ops *ops, struct milter_outcome *o)
{
	const struct milter_config *c = g->cfg;
	struct sp_policy_result r;
	struct sp_err err = {{0}};
	struct sp_buf raw;
	struct sp_msg *msg = NULL;
	const char *envh;
	int st;

	memset(o, 0, sizeof(*o));
	memset(&r, 0, sizeof(r));
	snprintf(o->rule, sizeof(o->rule), "-");
	snprintf(o->envelope, sizeof(o->envelope), "-");
	sp_buf_init(&raw, (size_t)c->max_message_size + MILTER_MAX_HEADER_BYTES + 65536);

	if (m->too_big || m->too_many_headers) {
		fail_by_policy(o, c->on_too_big, "message too large to scan",
		    m->too_big ? "body over max_message_size" : "too many header fields");
		if (o->verdict == MILTER_REJECT)
			reply(o, "552", "5.3.4", "message too large for the secure mail gateway");
		else if (o->verdict == MILTER_TEMPFAIL)
			reply(o, "452", "4.3.4", "message too large for the secure mail gateway");
		goto out;
	}
	if (milter_msg_raw(m, &raw) != SP_OK) {
		outcome(o, MILTER_TEMPFAIL, "tempfail", "out of memory");
		reply(o, "451", "4.3.0", "temporary failure, try again later");
		goto out;
	}
	/* raw holds the body now: keep one copy, not two */
	sp_buf_wipe(&m->body);
	if ((envh = milter_msg_header(m, MILTER_ENV_HEADER)) != NULL) {
		if (c->unseal && c->ndomains > 0 && all_internal(c, m)) {
			do_unseal(g, w, m, &raw, ops, o);
			goto out;
		}
		/* the field alone proves nothing (a client may keep it on a
		 * mail written from a notice): sealed is a mail that carries
		 * the envelope it names */
		if (carries_envelope(&raw, envh)) {
			outcome(o, MILTER_CONTINUE, "pass", "already sealed");
			strip_markers(m, ops);
			goto out;
		}
	}
	strip_markers(m, ops);
	if (c->ndomains > 0 && all_internal(c, m)) {
		/* mail that stays inside the organisation is never sealed */
		outcome(o, MILTER_CONTINUE, "pass", "all recipients are internal");
		goto out;
	}
	/* parsed once: the policy and the sealer read the same handle */
	if (sp_msg_open(raw.data, raw.len, &msg, &err) == SP_OK)
		sp_msg_bind(msg);
	st = milter_policy_decide(g, w, m, &raw, &r, &err);
	if (st == SP_ERR_INVALID) {
		/* not read, so neither scanned nor sealable: what the sender
		 * asked for or wrote is not known; it goes out only where the
		 * administrator chose so */
		fail_by_policy(o, c->on_unreadable, "message cannot be read by the secure mail gateway",
		    sp_err_msg(&err, st));
		if (o->verdict == MILTER_REJECT)
			reply(o, "554", "5.6.0", "message cannot be read by the secure mail gateway");
		goto out;
	}
	if (st != SP_OK) {
		outcome(o, MILTER_TEMPFAIL, "tempfail", "policy failed: %s", sp_err_msg(&err, st));
		reply(o, "451", "4.3.0", "temporary failure in the secure mail gateway");
		goto out;
	}
	snprintf(o->rule, sizeof(o->rule), "%s", r.rule[0] ? r.rule : "-");
	collect_notes(c, &r, o);
	if (r.action == SP_POLICY_PASS) {
		outcome(o, MILTER_CONTINUE, "pass", "%s", r.reason[0] ? r.reason : "no rule fired");
		goto out;
	}
	do_seal(g, w, m, &raw, &r, ops, o);
out:
	if (o->verdict == MILTER_CONTINUE && strcmp(o->decision, "pass") == 0)
		strip_controls(m, ops, o);
	sp_policy_result_clear(&r);
	sp_msg_unbind();
	sp_msg_free(msg);
	sp_buf_wipe(&raw);
}

void
milter_log_outcome(const struct milter_msg *m, const struct milter_outcome *o, long ms)
{
	char qid[LOG_CLEAN_SIZE], rule[LOG_CLEAN_SIZE], env[LOG_CLEAN_SIZE], reason[LOG_CLEAN_SIZE];

	log_clean(m->qid, qid, sizeof(qid));
	log_info("message", "qid=%s decision=%s rule=%s envelope=%s time_ms=%ld size=%llu rcpts=%zu "
	    "reason=%s", qid, o->decision, log_clean(o->rule, rule, sizeof(rule)),
	    log_clean(o->envelope, env, sizeof(env)), ms, (unsigned long long)m->size, m->nrcpt,
	    log_clean(o->reason, reason, sizeof(reason)));
	if (o->notes[0] != '\0')
		log_info("notes", "qid=%s notes=%s", qid, log_clean(o->notes, reason, sizeof(reason)));
}

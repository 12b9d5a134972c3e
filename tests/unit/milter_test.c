/*
 * milter_test.c - unit tests of sealpost-milter without libmilter: the
 * typed configuration table, the per-message state and the rebuild of the
 * raw message, the rewrite through a recording fake of the milter
 * operations, and the end-of-message decision (pass, tempfail when the key
 * server cannot be reached, the administrator's alternatives, too big,
 * forged markers, unsealing only for the recipients an envelope names, the
 * sender's control fields never passed on), and the signing key setting.
 * The milter's own .c files are compiled in here.
 */
#include "../../src/milter/milter_config.c"
#include "../../src/milter/milter_msg.c"
#include "../../src/milter/milter_rewrite.c"
#include "../../src/milter/milter_decide.c"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/socket.h>
#include <unistd.h>

#include "envelope.h"
#include "sign.h"

#include "t.h"

/* --- a recording fake of the milter operations --------------------------- */

struct rec {
	char log[8192];		/* one line per call */
	struct sp_buf body;
	int fail_after;		/* calls before failing, -1 = never */
	int calls;
};

static int
rec_fail(struct rec *r)
{
	return r->fail_after >= 0 && r->calls++ >= r->fail_after;
}

static int
rec_chg(void *ctx, const char *name, int idx, const char *value)
{
	struct rec *r = ctx;
	size_t n = strlen(r->log);

	snprintf(r->log + n, sizeof(r->log) - n, "chg %s %d %s\n", name, idx, value ? value : "(del)");
	return rec_fail(r) ? -1 : 0;
}

static int
rec_add(void *ctx, const char *name, const char *value)
{
	struct rec *r = ctx;
	size_t n = strlen(r->log);

	snprintf(r->log + n, sizeof(r->log) - n, "add %s=[%s]\n", name, value);
	return rec_fail(r) ? -1 : 0;
}

static int
rec_body(void *ctx, const unsigned char *p, size_t n)
{
	struct rec *r = ctx;

	sp_buf_append(&r->body, p, n);
	return rec_fail(r) ? -1 : 0;
}

static void
rec_init(struct rec *r, struct milter_ops *ops)
{
	memset(r, 0, sizeof(*r));
	r->fail_after = -1;
	sp_buf_init(&r->body, 1 << 24);
	*ops = (struct milter_ops){rec_chg, rec_add, rec_body, r};
}

static const char *
write_file(const char *name, const char *text)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "/tmp/milter_test_%ld_%s", (long)getpid(), name);
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	return path;
}

/* --- configuration -------------------------------------------------------- */

static int
load_text(struct milter_config *c, const char *text, struct sp_err *err)
{
	const char *p = write_file("conf", text);
	int st;

	milter_config_defaults(c);
	st = milter_config_load(c, p, err);
	unlink(p);
	return st;
}

static void
test_config(void)
{
	struct milter_config c;
	struct sp_err err = {{0}};
	const char *tok;

	milter_config_defaults(&c);
	T_CHECK(strcmp(c.socket, "inet:8891@127.0.0.1") == 0);
	T_EQ_INT(c.on_keyd_failure, MILTER_FAIL_TEMPFAIL);
	T_EQ_INT(c.max_message_size, 64 << 20);
	T_EQ_INT(c.unseal, 1);

	T_EQ_INT(load_text(&c, "# comment\n\nsocket = unix:/run/m.sock\nkeyd_url = http://k.example/\n"
	    "keyd_token = spo_x\ninternal_domains = Clinic.Example, lab.example\n"
	    "on_keyd_failure = pass\nmax_message_size = 2M\nlog = syslog\n", &err), SP_OK);
	T_CHECK(strcmp(c.keyd_url, "http://k.example") == 0);
	T_CHECK(strcmp(c.keyd_public_url, "http://k.example") == 0);
	T_EQ_INT(c.on_keyd_failure, MILTER_FAIL_PASS);
	T_EQ_INT(c.max_message_size, 2 << 20);
	T_EQ_INT(c.log, MILTER_LOG_SYSLOG);
	T_EQ_INT(c.ndomains, 2);
	T_CHECK(milter_config_is_internal(&c, "alice@clinic.example"));
	T_CHECK(milter_config_is_internal(&c, "bob@LAB.example"));
	T_CHECK(!milter_config_is_internal(&c, "pat@example.org"));
	T_CHECK(!milter_config_is_internal(&c, "clinic.example"));
	T_CHECK(!milter_config_is_internal(&c, "x@sub.clinic.example"));

	T_EQ_INT(load_text(&c, "keyd_url = http://k\nkeyd_token = t\nbogus = 1\n", &err), SP_ERR_CONFIG);
	T_CHECK(strstr(err.msg, ":3: unknown key 'bogus'") != NULL);
	T_EQ_INT(load_text(&c, "keyd_url = http://k\nkeyd_token = t\ntimeout_ms = 5\n", &err), SP_ERR_CONFIG);
	T_CHECK(strstr(err.msg, ":3: timeout_ms: 5 is out of range") != NULL);
	T_EQ_INT(load_text(&c, "keyd_url = http://k\nkeyd_token = t\ntimeout_ms = 5x\n", &err), SP_ERR_CONFIG);
	T_EQ_INT(load_text(&c, "on_keyd_failure = drop\n", &err), SP_ERR_CONFIG);
	T_CHECK(strstr(err.msg, ":1: on_keyd_failure") != NULL);
	T_EQ_INT(load_text(&c, "keyd_url = http://k\nno equals sign\n", &err), SP_ERR_CONFIG);
	T_CHECK(strstr(err.msg, ":2: expected 'key = value'") != NULL);
	T_EQ_INT(load_text(&c, "keyd_token = t\n", &err), SP_ERR_CONFIG);
	T_CHECK(strstr(err.msg, "keyd_url is required") != NULL);
	T_EQ_INT(load_text(&c, "keyd_url = ftp://k\nkeyd_token = t\n", &err), SP_ERR_CONFIG);
	T_EQ_INT(load_text(&c, "keyd_url = http://k\n", &err), SP_ERR_CONFIG);
	T_CHECK(strstr(err.msg, "keyd_token") != NULL);
	T_EQ_INT(load_text(&c, "keyd_url = http://k\nkeyd_token = t\nsocket = tcp:1\n", &err), SP_ERR_CONFIG);
	T_EQ_INT(load_text(&c, "keyd_url = http://k\nkeyd_token = t\ninternal_domains = a@b.example\n",
	    &err), SP_ERR_CONFIG);
	T_EQ_INT(load_text(&c, "keyd_url = http://k\nkeyd_token = t\nunseal = maybe\n", &err), SP_ERR_CONFIG);

	tok = write_file("tok", "spo_fromfile\n");
	{
		char text[512];

		snprintf(text, sizeof(text), "keyd_url = http://k\nkeyd_token_file = %s\n", tok);
		T_EQ_INT(load_text(&c, text, &err), SP_OK);
		T_CHECK(strcmp(c.keyd_token, "spo_fromfile") == 0);
		snprintf(text, sizeof(text), "keyd_url = http://k\nkeyd_token = a\nkeyd_token_file = %s\n", tok);
		T_EQ_INT(load_text(&c, text, &err), SP_ERR_CONFIG);
	}
	unlink(tok);
	T_EQ_INT(load_text(&c, "keyd_url = http://k\nkeyd_token_file = /nonexistent/tok\n", &err), SP_ERR_CONFIG);
	milter_config_clear(&c);
	T_CHECK(c.keyd_token[0] == '\0');
}

/* --- per-message state ---------------------------------------------------- */

static void
test_msg(void)
{
	struct milter_msg m;
	struct sp_buf raw;
	char *a;

	a = milter_msg_bare_addr(" <Alice@Clinic.Example>");
	T_CHECK(strcmp(a, "alice@clinic.example") == 0);
	free(a);
	a = milter_msg_bare_addr("<>");
	T_CHECK(strcmp(a, "") == 0);
	free(a);

	/* Postfix without SMFIP_HDR_LEADSPC: the space after ':' is dropped */
	milter_msg_init(&m, 1024);
	T_EQ_INT(milter_msg_add_header(&m, "Subject", "hello"), SP_OK);
	T_EQ_INT(milter_msg_add_header(&m, "X-Folded", "one\n\ttwo"), SP_OK);
	T_EQ_INT(milter_msg_add_header(&m, "X-Empty", ""), SP_OK);
	T_EQ_INT(milter_msg_add_body(&m, (const unsigned char *)"body\r\n", 6), SP_OK);
	sp_buf_init(&raw, 4096);
	T_EQ_INT(milter_msg_raw(&m, &raw), SP_OK);
	{
		const char *want = "Subject: hello\r\nX-Folded: one\r\n\ttwo\r\nX-Empty:\r\n\r\nbody\r\n";

		T_EQ_INT(raw.len, strlen(want));
		T_EQ_MEM(raw.data, want, strlen(want));
	}
	T_CHECK(strcmp(milter_msg_header(&m, "subject"), "hello") == 0);
	T_CHECK(milter_msg_header(&m, "To") == NULL);
	/* the body cap: over it, nothing is kept and the message is marked */
	{
		unsigned char big[2048] = {0};

		T_EQ_INT(milter_msg_add_body(&m, big, sizeof(big)), SP_ERR_TOOBIG);
		T_EQ_INT(m.too_big, 1);
		T_EQ_INT(m.body.len, 0);
	}
	sp_buf_free(&raw);
	milter_msg_clear(&m);

	/* with SMFIP_HDR_LEADSPC the value carries its own separator */
	milter_msg_init(&m, 1024);
	m.hdr_leadspc = 1;
	milter_msg_add_header(&m, "To", "  pat@example.org");
	milter_msg_add_header(&m, "X-Tight", "v");
	sp_buf_init(&raw, 4096);
	milter_msg_raw(&m, &raw);
	T_CHECK(raw.len == strlen("To:  pat@example.org\r\nX-Tight:v\r\n\r\n") &&
	    memcmp(raw.data, "To:  pat@example.org\r\nX-Tight:v\r\n\r\n", raw.len) == 0);
	T_CHECK(strcmp(milter_msg_header(&m, "to"), "pat@example.org") == 0);
	sp_buf_free(&raw);
	milter_msg_clear(&m);

	/* recipients are bounded */
	milter_msg_init(&m, 1024);
	for (int i = 0; i < MILTER_MAX_RCPT; i++)
		milter_msg_add_rcpt(&m, "<a@b>");
	T_EQ_INT(milter_msg_add_rcpt(&m, "<a@b>"), SP_ERR_TOOBIG);
	milter_msg_clear(&m);
}

/* --- rewrite ------------------------------------------------------------- */

static void
orig_msg(struct milter_msg *m, int leadspc)
{
	milter_msg_init(m, 1 << 20);
	m->hdr_leadspc = leadspc;
	milter_msg_add_header(m, "Received", leadspc ? " from x" : "from x");
	milter_msg_add_header(m, "To", leadspc ? " a@b" : "a@b");
	milter_msg_add_header(m, "Subject", leadspc ? " s" : "s");
	milter_msg_add_header(m, "to", leadspc ? " c@d" : "c@d");
}

static void
test_rewrite(void)
{
	const char *newmsg = "From: x@y\r\nX-Long: two\r\n\tthree\r\nX-Sealpost-Envelope: ID\r\n\r\n"
	    "line 1\r\nline 2\r\n";
	struct milter_msg m;
	struct milter_rewrite rw;
	struct milter_ops ops;
	struct rec r;
	size_t i;

	/* fed one byte at a time: the split does not depend on write sizes */
	orig_msg(&m, 1);
	rec_init(&r, &ops);
	milter_rewrite_init(&rw, &ops, &m);
	for (i = 0; i < strlen(newmsg); i++)
		T_EQ_INT(milter_rewrite_write(&rw, newmsg + i, 1), SP_OK);
	T_EQ_INT(milter_rewrite_finish(&rw), SP_OK);
	T_CHECK(strcmp(r.log,
	    "add From=[ x@y]\n"
	    "add X-Long=[ two\n\tthree]\n"
	    "add X-Sealpost-Envelope=[ ID]\n"
	    "chg to 2 (del)\n"
	    "chg Subject 1 (del)\n"
	    "chg To 1 (del)\n") == 0);
	T_EQ_INT(r.body.len, strlen("line 1\r\nline 2\r\n"));
	T_EQ_MEM(r.body.data, "line 1\r\nline 2\r\n", r.body.len);
	milter_rewrite_clear(&rw);
	sp_buf_free(&r.body);
	milter_msg_clear(&m);

	/* without LEADSPC the MTA adds the space; LF input works the same */
	orig_msg(&m, 0);
	rec_init(&r, &ops);
	milter_rewrite_init(&rw, &ops, &m);
	{
		const char *t = "A: 1\nX-Sealpost-Received-Sealed: no\nB:2\n\nbody\n";

		T_EQ_INT(milter_rewrite_write(&rw, t, strlen(t)), SP_OK);
	}
	T_EQ_INT(milter_rewrite_finish(&rw), SP_OK);
	T_CHECK(strncmp(r.log, "add A=[1]\nadd B=[2]\nchg", 23) == 0);
	T_EQ_INT(r.body.len, 5);
	milter_rewrite_clear(&rw);
	sp_buf_free(&r.body);

	/* header fields only, no blank line: the end of the message ends the
	 * header block, with an empty body */
	rec_init(&r, &ops);
	milter_rewrite_init(&rw, &ops, &m);
	milter_rewrite_write(&rw, "A: 1\r\nB: 2", 11);
	T_EQ_INT(milter_rewrite_finish(&rw), SP_OK);
	T_CHECK(strncmp(r.log, "add A=[1]\nadd B=[2]\nchg", 23) == 0);
	T_EQ_INT(r.body.len, 0);
	milter_rewrite_clear(&rw);
	sp_buf_free(&r.body);
	/* an mbox "From " line and a byte-order mark before the fields are
	 * no fields: left out, the rest restored */
	rec_init(&r, &ops);
	milter_rewrite_init(&rw, &ops, &m);
	T_EQ_INT(milter_rewrite_write(&rw, "From a@x Mon Nov 23 10:00:00 2026\n\xef\xbb\xbf" "A: 1\n\nbody", 47),
	    SP_OK);
	T_EQ_INT(milter_rewrite_finish(&rw), SP_OK);
	T_CHECK(strncmp(r.log, "add A=[1]\nchg", 13) == 0);
	T_EQ_INT(r.body.len, 4);
	milter_rewrite_clear(&rw);
	sp_buf_free(&r.body);
	/* a line that is no field: refused before anything reaches the MTA */
	rec_init(&r, &ops);
	milter_rewrite_init(&rw, &ops, &m);
	T_CHECK(milter_rewrite_write(&rw, "A: 1\r\nno colon here\r\n\r\nbody", 27) != SP_OK);
	T_CHECK(milter_rewrite_finish(&rw) != SP_OK);
	T_EQ_INT(rw.applied, 0);
	T_CHECK(r.log[0] == '\0' && r.body.len == 0);
	milter_rewrite_clear(&rw);
	sp_buf_free(&r.body);
	/* an MTA error stops the rewrite */
	rec_init(&r, &ops);
	r.fail_after = 0;
	milter_rewrite_init(&rw, &ops, &m);
	T_CHECK(milter_rewrite_write(&rw, "A: 1\r\n\r\nbody", 13) != SP_OK);
	T_CHECK(milter_rewrite_finish(&rw) != SP_OK);
	milter_rewrite_clear(&rw);
	sp_buf_free(&r.body);
	milter_msg_clear(&m);
}

/* Random input in random pieces: never a crash, and when the rewrite
 * succeeds the body passed on is exactly what followed the blank line. */
static void
test_rewrite_random(void)
{
	static const char alpha[] = "ab:: \t\r\n\n\r\nX-Y\x80\xff";
	unsigned seed = 12345;
	struct milter_msg m;
	int iter, ok = 0, bad = 0;

	orig_msg(&m, 1);
	for (iter = 0; iter < 3000; iter++) {
		char in[256];
		size_t n, i, off = 0;
		struct milter_rewrite rw;
		struct milter_ops ops;
		struct rec r;
		int st = SP_OK;

		seed = seed * 1103515245u + 12345u;
		n = (seed >> 16) % sizeof(in);
		for (i = 0; i < n; i++) {
			seed = seed * 1103515245u + 12345u;
			in[i] = alpha[(seed >> 16) % (sizeof(alpha) - 1)];
		}
		rec_init(&r, &ops);
		milter_rewrite_init(&rw, &ops, &m);
		while (off < n && st == SP_OK) {
			size_t k;

			seed = seed * 1103515245u + 12345u;
			k = 1 + (seed >> 16) % 17;
			if (k > n - off)
				k = n - off;
			st = milter_rewrite_write(&rw, in + off, k);
			off += k;
		}
		if (st == SP_OK)
			st = milter_rewrite_finish(&rw);
		if (st == SP_OK) {
			ok++;
			/* the header block ends at its first empty line */
			T_CHECK(r.body.len <= n);
			if (r.body.len > 0)
				T_EQ_MEM(r.body.data, in + n - r.body.len, r.body.len);
		} else {
			bad++;
			T_CHECK(st == SP_ERR_INVALID || st == SP_ERR_IO || st == SP_ERR_TOOBIG);
		}
		milter_rewrite_clear(&rw);
		sp_buf_free(&r.body);
	}
	T_CHECK(ok > 0 && bad > 0);
	milter_msg_clear(&m);
}

/* --- the decision ---------------------------------------------------------- */

static const char policy_text[] =
	"[rule subject-keyword]\ntype = keyword\nkeyword = [secure]\naction = seal\n";

static void envelope_msg(struct milter_msg *m, const char *keyd, char **to, size_t nto,
    char id[SP_ENV_ID_STRLEN + 1]);

static void
mail_msg(struct milter_msg *m, const char *subject)
{
	milter_msg_init(m, 1 << 20);
	m->hdr_leadspc = 1;
	snprintf(m->qid, sizeof(m->qid), "QID1");
	milter_msg_set_sender(m, "<alice@clinic.example>");
	milter_msg_add_rcpt(m, "<pat@example.org>");
	milter_msg_add_header(m, "From", " alice@clinic.example");
	milter_msg_add_header(m, "To", " pat@example.org");
	milter_msg_add_header(m, "Subject", subject);
	milter_msg_add_header(m, "Date", " Mon, 23 Nov 2026 10:00:00 +0000");
	milter_msg_add_body(m, (const unsigned char *)"secret text\r\n", 13);
}

static void
test_decide(void)
{
	struct milter_config c;
	struct milter_global g;
	struct milter_worker w = {0};
	struct milter_msg m;
	struct milter_outcome o;
	struct milter_ops ops;
	struct sp_policy *p = NULL;
	struct sp_err err = {{0}};
	struct rec r;

	/* port 1 on loopback: nothing listens, the connection is refused */
	T_EQ_INT(load_text(&c, "keyd_url = http://127.0.0.1:1\nkeyd_token = spo_t\n"
	    "internal_domains = clinic.example\ntimeout_ms = 2000\n", &err), SP_OK);
	T_EQ_INT(sp_policy_load_mem(&p, policy_text, strlen(policy_text), "test", NULL, &err), SP_OK);
	g.cfg = &c;
	g.policy = p;

	/* ordinary mail: pass, nothing changed */
	mail_msg(&m, " Lunch");
	rec_init(&r, &ops);
	milter_decide_eom(&g, &w, &m, &ops, &o);
	T_EQ_INT(o.verdict, MILTER_CONTINUE);
	T_CHECK(strcmp(o.decision, "pass") == 0);
	T_CHECK(r.log[0] == '\0' && r.body.len == 0);
	milter_msg_clear(&m);
	sp_buf_free(&r.body);

	/* secure mail, key server down: tempfail 451 4.3.0, nothing changed */
	mail_msg(&m, " [secure] Results");
	rec_init(&r, &ops);
	milter_decide_eom(&g, &w, &m, &ops, &o);
	T_EQ_INT(o.verdict, MILTER_TEMPFAIL);
	T_CHECK(strcmp(o.decision, "tempfail") == 0);
	T_CHECK(strcmp(o.rule, "subject-keyword") == 0);
	T_CHECK(strcmp(o.rcode, "451") == 0 && strcmp(o.xcode, "4.3.0") == 0);
	T_CHECK(strstr(o.reason, "key server unavailable") != NULL);
	T_CHECK(r.log[0] == '\0' && r.body.len == 0);
	milter_msg_clear(&m);
	sp_buf_free(&r.body);

	/* the administrator's explicit alternatives */
	c.on_keyd_failure = MILTER_FAIL_REJECT;
	mail_msg(&m, " [secure] Results");
	rec_init(&r, &ops);
	milter_decide_eom(&g, &w, &m, &ops, &o);
	T_EQ_INT(o.verdict, MILTER_REJECT);
	T_CHECK(o.rcode[0] == '5');
	milter_msg_clear(&m);
	c.on_keyd_failure = MILTER_FAIL_PASS;
	mail_msg(&m, " [secure] Results");
	milter_decide_eom(&g, &w, &m, &ops, &o);
	T_EQ_INT(o.verdict, MILTER_CONTINUE);
	T_CHECK(strstr(o.reason, "passed by configuration") != NULL);
	milter_msg_clear(&m);
	c.on_keyd_failure = MILTER_FAIL_TEMPFAIL;
	sp_buf_free(&r.body);

	/* too big: on_too_big (reject by default) with 552 5.3.4 */
	mail_msg(&m, " [secure] Results");
	m.too_big = 1;
	rec_init(&r, &ops);
	milter_decide_eom(&g, &w, &m, &ops, &o);
	T_EQ_INT(o.verdict, MILTER_REJECT);
	T_CHECK(strcmp(o.rcode, "552") == 0 && strcmp(o.xcode, "5.3.4") == 0);
	milter_msg_clear(&m);
	c.on_too_big = MILTER_FAIL_PASS;
	mail_msg(&m, " Results");
	m.too_big = 1;
	milter_decide_eom(&g, &w, &m, &ops, &o);
	T_EQ_INT(o.verdict, MILTER_CONTINUE);
	T_CHECK(strstr(o.reason, "too large") != NULL);
	milter_msg_clear(&m);
	c.on_too_big = MILTER_FAIL_REJECT;
	sp_buf_free(&r.body);

	/* a forged marker is deleted; already-sealed outbound mail passes */
	mail_msg(&m, " hi");
	milter_msg_add_header(&m, MILTER_MARK_HEADER, " forged");
	rec_init(&r, &ops);
	milter_decide_eom(&g, &w, &m, &ops, &o);
	T_EQ_INT(o.verdict, MILTER_CONTINUE);
	T_CHECK(strcmp(r.log, "chg X-Sealpost-Received-Sealed 1 (del)\n") == 0);
	milter_msg_clear(&m);
	sp_buf_free(&r.body);
	/* the envelope field alone is no sealed mail: a [secure] mail that kept
	 * one (written from a notice) is still sealed (here: tempfail, the key
	 * server is down) */
	mail_msg(&m, " [secure] again");
	milter_msg_add_header(&m, MILTER_ENV_HEADER, " abc");
	rec_init(&r, &ops);
	milter_decide_eom(&g, &w, &m, &ops, &o);
	T_EQ_INT(o.verdict, MILTER_TEMPFAIL);
	T_CHECK(strcmp(o.rule, "subject-keyword") == 0);
	milter_msg_clear(&m);
	sp_buf_free(&r.body);
	/* a mail that carries the envelope its field names is sealed already */
	{
		char id[SP_ENV_ID_STRLEN + 1], *to[] = {"pat@example.org"};

		envelope_msg(&m, "http://127.0.0.1:1", to, 1, id);
		milter_msg_add_rcpt(&m, "<pat@example.org>");
		rec_init(&r, &ops);
		milter_decide_eom(&g, &w, &m, &ops, &o);
		T_EQ_INT(o.verdict, MILTER_CONTINUE);
		T_CHECK(strcmp(o.reason, "already sealed") == 0);
		milter_msg_clear(&m);
		sp_buf_free(&r.body);
	}

	/* inbound to an internal address with an envelope header but no
	 * envelope: delivered as it is, with a reason */
	mail_msg(&m, " Re: results");
	free(m.rcpt[0]);
	m.rcpt[0] = strdup("alice@clinic.example");
	milter_msg_add_header(&m, MILTER_ENV_HEADER, " abc");
	rec_init(&r, &ops);
	milter_decide_eom(&g, &w, &m, &ops, &o);
	T_EQ_INT(o.verdict, MILTER_CONTINUE);
	T_CHECK(strstr(o.reason, "no readable envelope") != NULL);
	T_CHECK(r.body.len == 0);
	milter_msg_clear(&m);
	sp_buf_free(&r.body);

	/* internal mail is never sealed, whatever it says */
	mail_msg(&m, " [secure] internal");
	free(m.rcpt[0]);
	m.rcpt[0] = strdup("bob@clinic.example");
	rec_init(&r, &ops);
	milter_decide_eom(&g, &w, &m, &ops, &o);
	T_EQ_INT(o.verdict, MILTER_CONTINUE);
	T_CHECK(strcmp(o.reason, "all recipients are internal") == 0);
	T_CHECK(r.log[0] == '\0' && r.body.len == 0);
	milter_msg_clear(&m);
	sp_buf_free(&r.body);

	/* not a mail message at all (no header fields, binary body): neither
	 * scanned nor sealable, so refused (on_unreadable, reject by default)
	 * with 554 5.6.0 and the reason; it passes only by configuration */
	milter_msg_init(&m, 1 << 20);
	milter_msg_add_rcpt(&m, "<pat@example.org>");
	milter_msg_add_body(&m, (const unsigned char *)"\0\1\2\3", 4);
	rec_init(&r, &ops);
	milter_decide_eom(&g, &w, &m, &ops, &o);
	T_EQ_INT(o.verdict, MILTER_REJECT);
	T_CHECK(strcmp(o.rcode, "554") == 0 && strcmp(o.xcode, "5.6.0") == 0);
	T_CHECK(strstr(o.reason, "cannot be read") != NULL);
	milter_msg_clear(&m);
	c.on_unreadable = MILTER_FAIL_PASS;
	milter_msg_init(&m, 1 << 20);
	milter_msg_add_rcpt(&m, "<pat@example.org>");
	milter_msg_add_body(&m, (const unsigned char *)"\0\1\2\3", 4);
	milter_decide_eom(&g, &w, &m, &ops, &o);
	T_EQ_INT(o.verdict, MILTER_CONTINUE);
	T_CHECK(strstr(o.reason, "passed by configuration") != NULL);
	milter_msg_clear(&m);
	c.on_unreadable = MILTER_FAIL_REJECT;
	sp_buf_free(&r.body);

	/* a legacy client's raw 8-bit subject is text: the keyword counts
	 * (the key server is down here: tempfail, never a pass in the clear) */
#define GBK16 "\xb2\xa1\xc0\xfa\xb1\xa8\xb8\xe6\xb2\xa1\xc0\xfa\xb1\xa8\xb8\xe6" \
	"\xb2\xa1\xc0\xfa\xb1\xa8\xb8\xe6\xb2\xa1\xc0\xfa\xb1\xa8\xb8\xe6"
	mail_msg(&m, " [secure] " GBK16 GBK16 GBK16 GBK16 GBK16);
#undef GBK16
	rec_init(&r, &ops);
	milter_decide_eom(&g, &w, &m, &ops, &o);
	T_EQ_INT(o.verdict, MILTER_TEMPFAIL);
	T_CHECK(strcmp(o.rule, "subject-keyword") == 0);
	milter_msg_clear(&m);
	sp_buf_free(&r.body);

	milter_worker_clear(&w);
	sp_policy_free(p);
	milter_config_clear(&c);
}

static void
test_subject(void)
{
	struct milter_msg m;
	struct sp_policy_result r;
	char *s;

	memset(&r, 0, sizeof(r));
	milter_msg_init(&m, 1024);
	m.hdr_leadspc = 1;
	milter_msg_add_header(&m, "Subject", " =?UTF-8?B?UsOpc3VsdGF0cw==?=");
	/* SEAL: the policy's cleaned subject, or none (keep the original) */
	r.action = SP_POLICY_SEAL;
	T_CHECK(notice_subject(&m, &r) == NULL);
	r.subject = strdup("Results");
	s = notice_subject(&m, &r);
	T_CHECK(s != NULL && strcmp(s, "Results") == 0);
	free(s);
	free(r.subject);
	r.subject = NULL;
	/* SEAL_TAG: the tag before the decoded original subject */
	r.action = SP_POLICY_SEAL_TAG;
	snprintf(r.tag, sizeof(r.tag), "[secure]");
	s = notice_subject(&m, &r);
	T_CHECK(s != NULL && strcmp(s, "[secure] R\xc3\xa9sultats") == 0);
	free(s);
	milter_msg_clear(&m);
}

static void
test_mixed_rcpt(void)
{
	char id[SP_ENV_ID_STRLEN + 1], *to[] = {"alice@clinic.example"};
	struct milter_config c;
	struct milter_global g = {&c, NULL};
	struct milter_worker w = {0};
	struct milter_msg m;
	struct milter_outcome o;
	struct milter_ops ops;
	struct sp_err err = {{0}};
	struct rec r;

	T_EQ_INT(load_text(&c, "keyd_url = http://127.0.0.1:1\nkeyd_token = spo_t\n"
	    "internal_domains = clinic.example\n", &err), SP_OK);
	/* an envelope for internal and external recipients is never opened */
	envelope_msg(&m, "http://127.0.0.1:1", to, 1, id);
	milter_msg_add_rcpt(&m, "<pat@example.org>");
	milter_msg_add_rcpt(&m, "<alice@clinic.example>");
	rec_init(&r, &ops);
	milter_decide_eom(&g, &w, &m, &ops, &o);
	T_EQ_INT(o.verdict, MILTER_CONTINUE);
	T_CHECK(strcmp(o.reason, "already sealed") == 0);
	T_CHECK(r.body.len == 0);
	milter_msg_clear(&m);
	sp_buf_free(&r.body);
	/* unseal = no: left sealed even for internal recipients */
	c.unseal = 0;
	envelope_msg(&m, "http://127.0.0.1:1", to, 1, id);
	milter_msg_add_rcpt(&m, "<alice@clinic.example>");
	rec_init(&r, &ops);
	milter_decide_eom(&g, &w, &m, &ops, &o);
	T_CHECK(strcmp(o.reason, "already sealed") == 0);
	milter_msg_clear(&m);
	sp_buf_free(&r.body);
	milter_worker_clear(&w);
}

/* A key server that accepts connections and never answers: the milter
 * gives up after timeout_ms and answers tempfail; it never hangs. */
static void
test_keyd_silent(void)
{
	struct milter_config c;
	struct milter_global g;
	struct milter_worker w = {0};
	struct milter_msg m;
	struct milter_outcome o;
	struct milter_ops ops;
	struct sp_policy *p = NULL;
	struct sp_err err = {{0}};
	struct sockaddr_in sa = {0};
	socklen_t sl = sizeof(sa);
	struct timespec t0, t1;
	struct rec r;
	char text[256];
	int fd;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	T_EQ_INT(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	T_EQ_INT(listen(fd, 8), 0);	/* the kernel completes the handshake; nobody reads */
	getsockname(fd, (struct sockaddr *)&sa, &sl);
	snprintf(text, sizeof(text), "keyd_url = http://127.0.0.1:%d\nkeyd_token = spo_t\n"
	    "timeout_ms = 500\n", ntohs(sa.sin_port));
	T_EQ_INT(load_text(&c, text, &err), SP_OK);
	T_EQ_INT(sp_policy_load_mem(&p, policy_text, strlen(policy_text), "test", NULL, &err), SP_OK);
	g.cfg = &c;
	g.policy = p;
	mail_msg(&m, " [secure] Results");
	rec_init(&r, &ops);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	milter_decide_eom(&g, &w, &m, &ops, &o);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	T_EQ_INT(o.verdict, MILTER_TEMPFAIL);
	T_CHECK(strcmp(o.rcode, "451") == 0);
	T_CHECK(t1.tv_sec - t0.tv_sec < 5);
	T_CHECK(r.log[0] == '\0' && r.body.len == 0);
	milter_msg_clear(&m);
	sp_buf_free(&r.body);
	milter_worker_clear(&w);
	sp_policy_free(p);
	close(fd);
}

static void
test_log_outcome(void)
{
	struct milter_msg m;
	struct milter_outcome o;
	char buf[4096];
	size_t n;
	FILE *f = tmpfile();

	milter_msg_init(&m, 1024);
	snprintf(m.qid, sizeof(m.qid), "18D4DA73246");
	T_EQ_INT(milter_msg_add_rcpt(&m, "<pat@example.org>"), SP_OK);
	memset(&o, 0, sizeof(o));
	snprintf(o.decision, sizeof(o.decision), "pass");
	snprintf(o.rule, sizeof(o.rule), "-");
	snprintf(o.envelope, sizeof(o.envelope), "-");
	snprintf(o.reason, sizeof(o.reason), "no rule fired\r\nforged decision=seal");
	snprintf(o.notes, sizeof(o.notes), "skipped part \"a\\b\"");
	log_init("sealpost-milter", 0, 0);
	log_set_output(f);
	milter_log_outcome(&m, &o, 12);
	log_set_output(NULL);
	rewind(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	T_CHECK(strstr(buf, "Z sealpost-milter message qid=18D4DA73246 decision=pass rule=- envelope=- "
	    "time_ms=12 size=0 rcpts=1 reason=\"no rule fired\\x0d\\x0aforged decision=seal\"\n") != NULL);
	T_CHECK(strstr(buf, "Z sealpost-milter notes qid=18D4DA73246 notes=\"skipped part \\x22a\\x5cb\\x22\"\n")
	    != NULL);
	T_CHECK(strchr(buf, '\n') != NULL && strchr(strchr(buf, '\n') + 1, '\n') != NULL &&
	    strchr(strchr(buf, '\n') + 1, '\n')[1] == '\0');	/* exactly two lines */
	milter_msg_clear(&m);
}

/* --- the signing key ------------------------------------------------------- */

static void
test_sign_key(void)
{
	struct milter_config c;
	struct conf_cmdline cl;
	struct sp_err err = {{0}};
	struct sp_signer *s = NULL;
	struct sp_buf pem;
	char text[1024], key[256], other[256], kid[SP_SIGN_KID_LEN + 1], kid2[SP_SIGN_KID_LEN + 1];
	const char *junk;
	EVP_PKEY *ec;
	FILE *f;

	sp_buf_init(&pem, 1 << 16);
	T_EQ_INT(sp_signer_generate(&s, &pem, &err), SP_OK);
	sp_signer_kid(s, kid);
	snprintf(key, sizeof(key), "/tmp/milter_test_%ld_sign.pem", (long)getpid());
	unlink(key);
	T_EQ_INT(sp_signer_write_pem(key, &pem, &err), SP_OK);
	sp_buf_wipe(&pem);
	sp_signer_free(s);

	/* without sign_key: runs unsigned */
	T_EQ_INT(load_text(&c, "keyd_url = http://k\nkeyd_token = t\n", &err), SP_OK);
	T_CHECK(c.signer == NULL);
	T_CHECK(c.sign_key[0] == '\0');
	milter_config_clear(&c);

	/* with it: loaded once, the same key */
	snprintf(text, sizeof(text), "keyd_url = http://k\nkeyd_token = t\nsign_key = %s\n", key);
	T_EQ_INT(load_text(&c, text, &err), SP_OK);
	T_CHECK(c.signer != NULL);
	if (c.signer != NULL) {
		sp_signer_kid(c.signer, kid2);
		T_CHECK(strcmp(kid, kid2) == 0);
	}
	milter_config_clear(&c);
	T_CHECK(c.signer == NULL);

	/* --sign-key on the command line, like every key */
	{
		char *argv[] = {"sealpost-milter", "--keyd-url", "http://k", "--keyd-token", "t",
		    "--sign-key", key, NULL};

		T_EQ_INT(milter_config_read(&c, 7, argv, &cl, &err), SP_OK);
		T_CHECK(c.signer != NULL && strcmp(c.sign_key, key) == 0);
		milter_config_clear(&c);
	}

	/* a missing file, a file that is no key, a key of another kind: the
	 * start stops, naming the setting and the file */
	T_EQ_INT(load_text(&c, "keyd_url = http://k\nkeyd_token = t\nsign_key = /nonexistent/k.pem\n",
	    &err), SP_ERR_CONFIG);
	T_CHECK(strstr(err.msg, ": sign_key: signing key /nonexistent/k.pem: No such file") != NULL);
	T_CHECK(c.signer == NULL);
	junk = write_file("junk", "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n");
	snprintf(other, sizeof(other), "%s", junk);
	snprintf(text, sizeof(text), "keyd_url = http://k\nkeyd_token = t\nsign_key = %s\n", other);
	T_EQ_INT(load_text(&c, text, &err), SP_ERR_CONFIG);
	T_CHECK(strstr(err.msg, "not a PEM private key") != NULL);
	T_CHECK(c.signer == NULL);
	ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	T_CHECK(ec != NULL);
	f = fopen(other, "w");
	T_CHECK(f != NULL && PEM_write_PrivateKey(f, ec, NULL, NULL, 0, NULL, NULL) == 1);
	fclose(f);
	EVP_PKEY_free(ec);
	T_EQ_INT(load_text(&c, text, &err), SP_ERR_CONFIG);
	T_CHECK(strstr(err.msg, "not an Ed25519 private key") != NULL);
	T_CHECK(c.signer == NULL);
	unlink(other);
	/* the key is the last thing read: another error leaves none loaded */
	snprintf(text, sizeof(text), "keyd_url = http://k\nkeyd_token = t\nsign_key = %s\n"
	    "internal_domains = a@b.example\n", key);
	T_EQ_INT(load_text(&c, text, &err), SP_ERR_CONFIG);
	T_CHECK(c.signer == NULL);
	unlink(key);
}

/* --- unsealing only for the recipients an envelope names ------------------- */

static void
test_unseal_allowed(void)
{
	char *to[] = {"alice@clinic.example", "Pat@Example.org"};
	struct sp_env_header h;
	struct milter_msg m;
	const char *who = NULL;

	memset(&h, 0, sizeof(h));
	h.to = to;
	h.nto = 2;
	milter_msg_init(&m, 1024);
	T_EQ_INT(milter_unseal_allowed(&h, &m, &who), SP_ERR_DENIED);	/* no recipient */
	T_CHECK(who != NULL && who[0] == '\0');
	milter_msg_add_rcpt(&m, "<alice@clinic.example>");
	T_EQ_INT(milter_unseal_allowed(&h, &m, &who), SP_OK);
	milter_msg_add_rcpt(&m, "<PAT@example.ORG>");	/* case-folded */
	T_EQ_INT(milter_unseal_allowed(&h, &m, &who), SP_OK);
	milter_msg_add_rcpt(&m, "<bob@clinic.example>");
	T_EQ_INT(milter_unseal_allowed(&h, &m, &who), SP_ERR_DENIED);
	T_CHECK(strcmp(who, "bob@clinic.example") == 0);
	milter_msg_clear(&m);
	/* near misses are other addresses */
	milter_msg_init(&m, 1024);
	milter_msg_add_rcpt(&m, "<alice@clinic.example.evil>");
	T_EQ_INT(milter_unseal_allowed(&h, &m, &who), SP_ERR_DENIED);
	milter_msg_clear(&m);
	milter_msg_init(&m, 1024);
	milter_msg_add_rcpt(&m, "<lice@clinic.example>");
	T_EQ_INT(milter_unseal_allowed(&h, &m, &who), SP_ERR_DENIED);
	/* an envelope that names nobody opens for nobody */
	h.nto = 0;
	T_EQ_INT(milter_unseal_allowed(&h, &m, &who), SP_ERR_DENIED);
	milter_msg_clear(&m);
}

/* A notification mail as the milter sees it (header fields and body), with
 * a genuine-looking envelope for keyd naming the recipients to[].  The
 * payload is random: no key server releases it here. */
static void
envelope_msg(struct milter_msg *m, const char *keyd, char **to, size_t nto, char id[SP_ENV_ID_STRLEN + 1])
{
	struct sp_env_header h;
	struct sp_env_html_params hp;
	struct sp_buf hb, html, ct;
	struct sp_err err = {{0}};
	unsigned char mp[SP_KEY_LEN], rnd[SP_ENV_ID_LEN];
	const char *pre = "--b1\r\nContent-Type: text/plain\r\n\r\nA secure message.\r\n"
	    "--b1\r\nContent-Type: text/html; charset=us-ascii; name=\"securedoc.html\"\r\n"
	    "Content-Disposition: attachment; filename=\"securedoc.html\"\r\n"
	    "Content-Transfer-Encoding: 7bit\r\n\r\n";

	memset(&h, 0, sizeof(h));
	h.version = 1;
	sp_random(rnd, sizeof(rnd));
	sp_buf_init(&hb, SP_ENV_MAX_HEADER);
	T_EQ_INT(sp_b64url_encode(&hb, rnd, sizeof(rnd)), SP_OK);
	T_EQ_INT(hb.len, SP_ENV_ID_STRLEN);
	memcpy(h.id, hb.data, SP_ENV_ID_STRLEN);
	h.id[SP_ENV_ID_STRLEN] = '\0';
	sp_buf_reset(&hb);
	memcpy(id, h.id, SP_ENV_ID_STRLEN + 1);
	h.keyd = (char *)keyd;
	h.org = "Example Clinic";
	h.from = "bob@clinic.example";
	h.to = to;
	h.nto = nto;
	h.created = 1795000000;
	sp_random(h.nonce_prefix, sizeof(h.nonce_prefix));
	sp_random(mp, sizeof(mp));
	sp_buf_init(&html, 1 << 20);
	sp_buf_init(&ct, 4096);
	T_EQ_INT(sp_env_header_encode(&h, &hb, &err), SP_OK);
	sp_buf_append(&ct, rnd, sizeof(rnd));
	sp_buf_append(&ct, mp, sizeof(mp));
	memset(&hp, 0, sizeof(hp));
	hp.header = &h;
	hp.header_bytes = hb.data;
	hp.header_len = hb.len;
	hp.mail_part = mp;
	T_EQ_INT(sp_env_html_write(&hp, ct.data, ct.len, (struct sp_writer){sp_writer_buf, &html}, &err),
	    SP_OK);

	milter_msg_init(m, 1 << 22);
	m->hdr_leadspc = 1;
	snprintf(m->qid, sizeof(m->qid), "QID2");
	milter_msg_set_sender(m, "<pat@example.org>");
	milter_msg_add_header(m, "From", " bob@clinic.example");
	milter_msg_add_header(m, "To", " alice@clinic.example");
	milter_msg_add_header(m, "Subject", " Re: results");
	milter_msg_add_header(m, "MIME-Version", " 1.0");
	{
		char v[64];

		snprintf(v, sizeof(v), " %s", h.id);
		milter_msg_add_header(m, MILTER_ENV_HEADER, v);
	}
	milter_msg_add_header(m, "Content-Type", " multipart/mixed; boundary=\"b1\"");
	milter_msg_add_body(m, (const unsigned char *)pre, strlen(pre));
	milter_msg_add_body(m, html.data, html.len);
	milter_msg_add_body(m, (const unsigned char *)"\r\n--b1--\r\n", 10);
	sp_buf_free(&hb);
	sp_buf_free(&html);
	sp_buf_free(&ct);
}

static void
test_unseal_named(void)
{
	struct milter_config c;
	struct milter_global g = {&c, NULL};
	struct milter_worker w = {0};
	struct milter_msg m;
	struct milter_outcome o;
	struct milter_ops ops;
	struct sp_err err = {{0}};
	struct rec r;
	char *to[] = {"alice@clinic.example"};
	char id[SP_ENV_ID_STRLEN + 1], want[256], logbuf[4096];
	size_t n;
	FILE *f;

	/* nothing listens on port 1: an attempt to release fails at once */
	T_EQ_INT(load_text(&c, "keyd_url = http://127.0.0.1:1\nkeyd_token = spo_t\n"
	    "internal_domains = clinic.example\ntimeout_ms = 2000\n", &err), SP_OK);

	/* to the recipient it names: the milter goes on to release the key
	 * (and finds the key server down: tempfail, retried later) */
	envelope_msg(&m, "http://127.0.0.1:1", to, 1, id);
	milter_msg_add_rcpt(&m, "<Alice@Clinic.Example>");
	rec_init(&r, &ops);
	milter_decide_eom(&g, &w, &m, &ops, &o);
	T_EQ_INT(o.verdict, MILTER_TEMPFAIL);
	T_CHECK(strstr(o.reason, "cannot unseal") != NULL);
	T_CHECK(strcmp(o.envelope, id) == 0);
	milter_msg_clear(&m);
	sp_buf_free(&r.body);

	/* an extra internal SMTP recipient the envelope does not name: left
	 * sealed for everyone, no release asked for, the refusal logged */
	envelope_msg(&m, "http://127.0.0.1:1", to, 1, id);
	milter_msg_add_rcpt(&m, "<alice@clinic.example>");
	milter_msg_add_rcpt(&m, "<bob@clinic.example>");
	milter_msg_add_header(&m, MILTER_MARK_HEADER, " forged");
	rec_init(&r, &ops);
	f = tmpfile();
	log_init("sealpost-milter", 0, 0);
	log_set_output(f);
	milter_decide_eom(&g, &w, &m, &ops, &o);
	log_set_output(NULL);
	rewind(f);
	n = fread(logbuf, 1, sizeof(logbuf) - 1, f);
	logbuf[n] = '\0';
	fclose(f);
	T_EQ_INT(o.verdict, MILTER_CONTINUE);
	T_CHECK(strcmp(o.decision, "pass") == 0);
	T_CHECK(strcmp(o.reason, "left sealed: bob@clinic.example is not a recipient named in the "
	    "envelope") == 0);
	T_CHECK(strcmp(o.envelope, id) == 0);
	T_CHECK(strcmp(r.log, "chg X-Sealpost-Received-Sealed 1 (del)\n") == 0);
	T_CHECK(r.body.len == 0);
	snprintf(want, sizeof(want), "sealpost-milter unseal-refused level=warning qid=QID2 envelope=%s "
	    "rcpt=bob@clinic.example reason=", id);
	T_CHECK(strstr(logbuf, want) != NULL);
	milter_msg_clear(&m);
	sp_buf_free(&r.body);

	/* only a recipient it does not name */
	envelope_msg(&m, "http://127.0.0.1:1", to, 1, id);
	milter_msg_add_rcpt(&m, "<bob@clinic.example>");
	rec_init(&r, &ops);
	milter_decide_eom(&g, &w, &m, &ops, &o);
	T_EQ_INT(o.verdict, MILTER_CONTINUE);
	T_CHECK(strstr(o.reason, "bob@clinic.example is not a recipient named") != NULL);
	T_CHECK(r.log[0] == '\0' && r.body.len == 0);
	milter_msg_clear(&m);
	sp_buf_free(&r.body);

	/* another key server's envelope stays sealed before any question of
	 * recipients */
	envelope_msg(&m, "https://keys.elsewhere.example", to, 1, id);
	milter_msg_add_rcpt(&m, "<bob@clinic.example>");
	rec_init(&r, &ops);
	milter_decide_eom(&g, &w, &m, &ops, &o);
	T_CHECK(strstr(o.reason, "another key server") != NULL);
	milter_msg_clear(&m);
	sp_buf_free(&r.body);

	milter_worker_clear(&w);
	milter_config_clear(&c);
}

/* --- the sender's control fields ------------------------------------------- */

static void
test_controls(void)
{
	struct milter_config c;
	struct milter_global g;
	struct milter_worker w = {0};
	struct milter_msg m;
	struct milter_outcome o;
	struct milter_ops ops;
	struct milter_rewrite rw;
	struct sp_policy *p = NULL;
	struct sp_err err = {{0}};
	struct rec r;
	const char *notice = "From: alice@clinic.example\r\nX-Sealpost-Verify: 1984-02-29\r\n"
	    "x-sealpost-level: high\r\nX-Sealpost-Envelope: ID\r\n\r\nnotice\r\n";

	T_EQ_INT(load_text(&c, "keyd_url = http://127.0.0.1:1\nkeyd_token = spo_t\n"
	    "internal_domains = clinic.example\ntimeout_ms = 2000\n", &err), SP_OK);
	T_EQ_INT(sp_policy_load_mem(&p, policy_text, strlen(policy_text), "test", NULL, &err), SP_OK);
	g.cfg = &c;
	g.policy = p;

	/* a message that passes unsealed loses them (the secret is never sent
	 * in the clear); the rest stays as it was */
	mail_msg(&m, " Lunch");
	milter_msg_add_header(&m, "X-Sealpost-Verify", " 1984-02-29");
	milter_msg_add_header(&m, "X-Sealpost-Verify-Hint", " your date of birth");
	milter_msg_add_header(&m, "x-sealpost-verify", " again");
	milter_msg_add_header(&m, "X-Sealpost-Expires", " 30d");
	rec_init(&r, &ops);
	milter_decide_eom(&g, &w, &m, &ops, &o);
	T_EQ_INT(o.verdict, MILTER_CONTINUE);
	T_CHECK(strcmp(o.decision, "pass") == 0);
	T_CHECK(strcmp(r.log,
	    "chg X-Sealpost-Expires 1 (del)\n"
	    "chg X-Sealpost-Verify 2 (del)\n"
	    "chg X-Sealpost-Verify 1 (del)\n"
	    "chg X-Sealpost-Verify-Hint 1 (del)\n") == 0);
	T_CHECK(strstr(o.notes, "4 sender control fields removed") != NULL);
	T_CHECK(r.body.len == 0);
	milter_msg_clear(&m);
	sp_buf_free(&r.body);

	/* mail between internal addresses too */
	mail_msg(&m, " [secure] internal");
	free(m.rcpt[0]);
	m.rcpt[0] = strdup("bob@clinic.example");
	milter_msg_add_header(&m, "X-Sealpost-Level", " high");
	rec_init(&r, &ops);
	milter_decide_eom(&g, &w, &m, &ops, &o);
	T_CHECK(strcmp(o.reason, "all recipients are internal") == 0);
	T_CHECK(strcmp(r.log, "chg X-Sealpost-Level 1 (del)\n") == 0);
	milter_msg_clear(&m);
	sp_buf_free(&r.body);

	/* a tempfail changes nothing (the MTA keeps the message as it was) */
	mail_msg(&m, " [secure] Results");
	milter_msg_add_header(&m, "X-Sealpost-Verify", " 1984-02-29");
	rec_init(&r, &ops);
	milter_decide_eom(&g, &w, &m, &ops, &o);
	T_EQ_INT(o.verdict, MILTER_TEMPFAIL);
	T_CHECK(r.log[0] == '\0');
	milter_msg_clear(&m);
	sp_buf_free(&r.body);

	/* sealing: the original fields go, and the rewrite never adds a
	 * control field, whatever the notification holds */
	mail_msg(&m, " [secure] Results");
	milter_msg_add_header(&m, "X-Sealpost-Verify", " 1984-02-29");
	rec_init(&r, &ops);
	milter_rewrite_init(&rw, &ops, &m);
	rw.drop_controls = 1;
	T_EQ_INT(milter_rewrite_write(&rw, notice, strlen(notice)), SP_OK);
	T_EQ_INT(milter_rewrite_finish(&rw), SP_OK);
	milter_rewrite_clear(&rw);
	T_CHECK(strstr(r.log, "add X-Sealpost-Envelope=[ ID]\n") != NULL);
	T_CHECK(strstr(r.log, "chg X-Sealpost-Verify 1 (del)\n") != NULL);
	T_CHECK(strstr(r.log, "1984") == NULL);
	T_CHECK(strstr(r.log, "add x-sealpost-level") == NULL && strstr(r.log, "high") == NULL);
	milter_msg_clear(&m);
	sp_buf_free(&r.body);

	milter_worker_clear(&w);
	sp_policy_free(p);
	milter_config_clear(&c);
}

static void
setup(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	sp_msg_global_init();
}

T_MAIN(setup, test_config, test_msg, test_rewrite, test_rewrite_random, test_decide, test_subject, test_mixed_rcpt, test_keyd_silent, test_log_outcome,
    test_sign_key, test_unseal_allowed, test_unseal_named, test_controls)

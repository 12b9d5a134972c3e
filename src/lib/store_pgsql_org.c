/*
 * store_pgsql_org.c - the PostgreSQL backend's audit trail and
 * organisations (see store_pgsql_internal.h): appends to the audit chains
 * (pg_audit_insert, inside the caller's transaction), the group commit of
 * a batch of writes, readings of the trail in one snapshot, and
 * organisations with their branding, policy, domains, tokens and signing
 * keys.
 * SECURITY: every statement passes its values as parameters (bytea in
 * binary); tokens arrive here only as SHA-256 hashes.
 */
#include <inttypes.h>
#include <libpq-fe.h>
#include <string.h>
#include <time.h>

#include "store_pgsql_internal.h"

/* --- audit --------------------------------------------------------------- */

/*
 * Append a to its chain (a->org_id) inside the caller's transaction.  The
 * chain's head row is locked first (made when the chain is new), so the
 * appends of one chain queue there, also across key server processes; the
 * record gets seq = head + 1, prev = the head's hash and its own hash over
 * exactly the time that is stored.  A transaction that appends to several
 * chains takes them in ascending order (the group commit sorts, shredding
 * goes by organisation), so two of them never wait for each other.
 */
int
pg_audit_insert(struct pg_cx *cx, const struct sp_audit *a, struct sp_err *err)
{
	static const unsigned char zero[SP_SHA256_LEN];
	unsigned char prev[SP_SHA256_LEN], h[SP_SHA256_LEN];
	struct sp_audit rec;
	PGresult *r;
	int64_t seq = 0;
	int st, n = 0, found, tries;

	if (a == NULL)
		return SP_OK;
	rec = *a;
	if (rec.time == 0)
		rec.time = (int64_t)time(NULL);
	if (rec.event == NULL)
		rec.event = "event";
	if (rec.org_id < 0)
		return sp_err_set(err, SP_ERR_INVALID, "store: bad audit chain");
	/* The chain's head row, locked; a new chain's head is made first, at
	 * seq 0, by whoever comes first (the others find it). */
	for (tries = 0;; tries++) {
		struct pgp p = {0};

		pg_p_int(&p, rec.org_id);
		if ((st = pg_execk(cx, "SELECT seq, hash FROM audit_heads WHERE chain = $1"
		    " FOR UPDATE", &p, &r, "audit chain", err)) != SP_OK)
			return st;
		if ((found = PQntuples(r) > 0)) {
			seq = pg_r_int(r, 0, 0);
			n = pg_r_blob(r, 0, 1, prev, sizeof(prev));
		}
		PQclear(r);
		if (found)
			break;
		if (tries > 0)
			return sp_err_set(err, SP_ERR_IO, "store: audit chain %" PRId64
			    " has no head", rec.org_id);
		pg_p_hash(&p, zero);
		if ((st = pg_exec(cx, "INSERT INTO audit_heads(chain, seq, hash) VALUES ($1, 0, $2)"
		    " ON CONFLICT (chain) DO NOTHING", &p, NULL, "audit chain", err)) != SP_OK)
			return st;
	}
	if (n != SP_SHA256_LEN)
		return n == -2 ? sp_err_set(err, SP_ERR_NOMEM, "out of memory") :
		    sp_err_set(err, SP_ERR_IO, "store: the head of audit chain %" PRId64
		    " is damaged", rec.org_id);
	seq++;
	sp_audit_chain_hash(prev, rec.org_id, seq, &rec, h);
	{
		struct pgp p = {0};

		pg_p_int(&p, rec.time);
		pg_p_text(&p, rec.event);
		pg_p_text(&p, rec.actor);
		pg_p_text(&p, rec.envelope);
		pg_p_text(&p, rec.client);
		pg_p_text(&p, rec.detail);
		pg_p_int(&p, rec.org_id);
		pg_p_int(&p, seq);
		pg_p_hash(&p, prev);
		pg_p_hash(&p, h);
		return pg_execk(cx, "WITH head AS (UPDATE audit_heads SET seq = $8, hash = $10"
		    " WHERE chain = $7) INSERT INTO audit(time, event, actor, envelope_id, client,"
		    " detail, chain, seq, prev, hash)"
		    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
		    &p, NULL, "audit", err);
	}
}

/*
 * The group commit (store.h, store.c): the writes of a batch in one
 * transaction, one WAL flush for all.  Locks are taken in the order every
 * other transaction takes them, rows first, then audit chain heads: first
 * each write's change to its envelope (in a savepoint of its own when there
 * are several, so that a refused write is rolled back alone), then the
 * audit records of the writes that went through, chain by chain in
 * ascending order (each chain's records in the order they were queued).
 * A failed audit append fails the whole transaction.
 */
int
pg_write_batch(void *impl, struct sp_store_write *batch, struct sp_err *err)
{
	struct sp_store_write *w;
	unsigned char due[256];		/* the write at that place still owes its record */
	struct pg_cx cx;
	int64_t chain = 0, next;
	size_t i, n;
	int st, one = batch->next == NULL, audit, started = 0;

	if ((st = pg_tx(impl, &cx, err)) != SP_OK)
		return st;
	for (w = batch, n = 0; w != NULL && st == SP_OK && n < sizeof(due); w = w->next, n++) {
		due[n] = 0;
		if (w->kind == SP_WRITE_AUDIT) {
			due[n] = w->a != NULL;
			continue;
		}
		if (!one && (st = pg_execk(&cx, "SAVEPOINT w", NULL, NULL, "savepoint",
		    err)) != SP_OK)
			break;
		audit = 0;
		w->status = pg_write_state(&cx, w, &audit);
		due[n] = w->status == SP_OK && audit && w->a != NULL;
		if (!one && w->status != SP_OK)
			st = pg_execk(&cx, "ROLLBACK TO SAVEPOINT w", NULL, NULL, "savepoint", err);
		if (!one && st == SP_OK)
			st = pg_execk(&cx, "RELEASE SAVEPOINT w", NULL, NULL, "savepoint", err);
	}
	if (st == SP_OK && w != NULL && !one)
		st = sp_err_set(err, SP_ERR_INTERNAL, "store: batch too long");
	if (one && batch->status != SP_OK) {
		pg_end(&cx, batch->status, NULL);	/* its own refusal: nothing to commit */
		return SP_OK;
	}
	/* the audit records, the lowest chain first */
	for (; st == SP_OK; chain = next, started = 1) {
		int any = 0;

		next = INT64_MAX;
		for (w = batch, i = 0; w != NULL && i < n; w = w->next, i++)
			if (due[i] && (!started || w->a->org_id > chain) && w->a->org_id <= next) {
				next = w->a->org_id;
				any = 1;
			}
		if (!any)
			break;
		for (w = batch, i = 0; w != NULL && i < n && st == SP_OK; w = w->next, i++)
			if (due[i] && w->a->org_id == next)
				st = pg_audit_insert(&cx, w->a, err);
	}
	return pg_end(&cx, st, err);
}

/*
 * Readings of the whole trail see one snapshot: they run on a connection of
 * their own (so fn may use this thread's connection meanwhile) in a
 * REPEATABLE READ transaction, a page at a time by id.  Pages read by
 * separate statements could miss a record that committed after its page
 * was read while a later record of its chain (appended only after that
 * commit) shows on the next page: verification would call it deleted.
 */
static int
pg_snapshot(struct pg *q, struct pg_conn *c, struct pg_cx *cx, struct sp_err *err)
{
	int st;

	memset(c, 0, sizeof(*c));
	memset(cx, 0, sizeof(*cx));
	c->owner = q;
	cx->q = q;
	cx->c = c;
	if ((st = pg_connect(q, &c->db, err)) != SP_OK)
		return st;
	if ((st = pg_exec(cx, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", NULL, NULL,
	    "begin", err)) != SP_OK) {
		PQfinish(c->db);
		c->db = NULL;
	}
	return st;
}

/* End a reading of pg_snapshot() (closing the connection ends it). */
static int
pg_snapshot_end(struct pg_conn *c, int st)
{
	PQfinish(c->db);
	c->db = NULL;
	return st;
}

int
pg_audit_each(void *impl, const char *event, int (*fn)(void *, const struct sp_audit *),
    void *ctx, struct sp_err *err)
{
	struct pg_conn c;
	struct pg_cx cx;
	struct sp_audit a;
	PGresult *r;
	int64_t last = 0;
	int st, i, n, stop = 0;

	if ((st = pg_snapshot(impl, &c, &cx, err)) != SP_OK)
		return st;
	do {
		struct pgp p = {0};

		pg_p_int(&p, last);
		pg_p_text(&p, event);
		pg_p_int(&p, PG_PAGE);
		if ((st = pg_exec(&cx, "SELECT id, time, event, actor, envelope_id, client, detail,"
		    " chain FROM audit WHERE id > $1 AND ($2 IS NULL OR event = $2) ORDER BY id"
		    " LIMIT $3", &p, &r, "audit list", err)) != SP_OK)
			return pg_snapshot_end(&c, st);
		n = PQntuples(r);
		for (i = 0; i < n && !stop; i++) {
			last = pg_r_int(r, i, 0);
			pg_audit_from_row(r, i, 1, &a);
			a.org_id = pg_r_int(r, i, 7);
			stop = fn(ctx, &a) != 0;
		}
		PQclear(r);
	} while (!stop && n == PG_PAGE);
	return pg_snapshot_end(&c, SP_OK);
}

/* The trail as stored, in id order: the order of appends within each chain
 * (an append takes its id after locking the chain's head). */
int
pg_audit_scan(void *impl, int64_t chain, int64_t since,
    int (*fn)(void *, const struct sp_audit_row *), void *ctx, struct sp_err *err)
{
	struct sp_audit_row row;
	struct pg_conn c;
	struct pg_cx cx;
	PGresult *r;
	int64_t last = 0;
	int st = SP_OK, i, n, stop = 0, b1, b2;

	if ((st = pg_snapshot(impl, &c, &cx, err)) != SP_OK)
		return st;
	do {
		struct pgp p = {0};

		pg_p_int(&p, last);
		pg_p_int(&p, chain);
		pg_p_int(&p, since);
		pg_p_int(&p, PG_PAGE);
		if ((st = pg_exec(&cx, "SELECT id, chain, seq, prev, hash, time, event, actor,"
		    " envelope_id, client, detail FROM audit WHERE id > $1"
		    " AND ($2 < 0 OR chain = $2) AND time >= $3 ORDER BY id LIMIT $4", &p, &r,
		    "audit trail", err)) != SP_OK)
			return pg_snapshot_end(&c, st);
		n = PQntuples(r);
		for (i = 0; i < n && !stop; i++) {
			memset(&row, 0, sizeof(row));
			last = row.rowid = pg_r_int(r, i, 0);
			row.chain = row.a.org_id = pg_r_int(r, i, 1);
			row.seq = pg_r_int(r, i, 2);
			b1 = pg_r_blob(r, i, 3, row.prev, sizeof(row.prev));
			b2 = pg_r_blob(r, i, 4, row.hash, sizeof(row.hash));
			if (b1 == -2 || b2 == -2) {
				PQclear(r);
				return pg_snapshot_end(&c, sp_err_set(err, SP_ERR_NOMEM,
				    "out of memory"));
			}
			/* a damaged prev or hash stays zero: verification names it */
			if (b1 != SP_SHA256_LEN)
				memset(row.prev, 0, sizeof(row.prev));
			if (b2 != SP_SHA256_LEN)
				memset(row.hash, 0, sizeof(row.hash));
			pg_audit_from_row(r, i, 5, &row.a);
			stop = fn(ctx, &row) != 0;
		}
		PQclear(r);
	} while (!stop && n == PG_PAGE);
	return pg_snapshot_end(&c, SP_OK);
}

int
pg_audit_heads(void *impl, int (*fn)(void *, int64_t, int64_t, const unsigned char *),
    void *ctx, struct sp_err *err)
{
	unsigned char h[SP_SHA256_LEN];
	struct pg_cx cx;
	PGresult *r;
	int st, i, n, len;

	if ((st = pg_get(impl, &cx, err)) != SP_OK)
		return st;
	if ((st = pg_exec(&cx, "SELECT chain, seq, hash FROM audit_heads WHERE seq > 0"
	    " ORDER BY chain", NULL, &r, "audit heads", err)) != SP_OK)
		return st;
	n = PQntuples(r);
	for (i = 0; i < n; i++) {
		memset(h, 0, sizeof(h));
		if ((len = pg_r_blob(r, i, 2, h, sizeof(h))) != SP_SHA256_LEN) {
			st = pg_blob_err(len, "audit heads", err);
			break;
		}
		if (fn(ctx, pg_r_int(r, i, 0), pg_r_int(r, i, 1), h) != 0)
			break;
	}
	PQclear(r);
	return st;
}

/* --- organisations ------------------------------------------------------- */

/* s is a string of at most max bytes (and not NULL). */
int
pg_fits(const char *s, size_t max)
{
	return s != NULL && strnlen(s, max + 1) <= max;
}

/* An ASCII lower-case copy of s into out (cap bytes with the NUL):
 * SP_ERR_INVALID when s is NULL, empty or too long.  Domains and recipient
 * addresses compare in lower case, as SQLite's lower() does. */
int
pg_ascii_lower(const char *s, char *out, size_t cap, const char *what, struct sp_err *err)
{
	size_t i, n = s != NULL ? strnlen(s, cap) : 0;

	if (n == 0 || n >= cap)
		return sp_err_set(err, SP_ERR_INVALID, "store: bad %s", what);
	for (i = 0; i < n; i++)
		out[i] = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] - 'A' + 'a') : s[i];
	out[n] = '\0';
	return SP_OK;
}

/* Columns of an organisation (o), its first domain by name included. */
#define PG_ORG_COLS "o.id, o.name, coalesce((SELECT min(d.domain) FROM org_domains d" \
	" WHERE d.org_id = o.id), ''), o.created, o.removed, o.display, o.colour," \
	" (o.logo IS NOT NULL)::int, o.contact, o.expire_days, o.notify_read, o.replies," \
	" o.forward, o.verify, o.keep_copies, o.level, o.language, o.copy_quota_mb," \
	" o.forward_domains"

static void
org_from_row(const PGresult *r, int i, struct sp_org *o)
{
	memset(o, 0, sizeof(*o));
	o->id = pg_r_int(r, i, 0);
	pg_r_text(r, i, 1, o->name, sizeof(o->name));
	pg_r_text(r, i, 2, o->domain, sizeof(o->domain));
	o->created = pg_r_int(r, i, 3);
	o->removed = pg_r_int(r, i, 4);
	pg_r_text(r, i, 5, o->display, sizeof(o->display));
	pg_r_text(r, i, 6, o->colour, sizeof(o->colour));
	o->has_logo = pg_r_int(r, i, 7) != 0;
	pg_r_text(r, i, 8, o->contact, sizeof(o->contact));
	o->policy.expire_days = pg_r_int(r, i, 9);
	o->policy.notify_read = (int)pg_r_int(r, i, 10);
	o->policy.replies = (int)pg_r_int(r, i, 11);
	o->policy.forward = (int)pg_r_int(r, i, 12);
	o->policy.verify = (int)pg_r_int(r, i, 13);
	o->policy.keep_copies = (int)pg_r_int(r, i, 14);
	pg_r_text(r, i, 15, o->policy.level, sizeof(o->policy.level));
	pg_r_text(r, i, 16, o->policy.language, sizeof(o->policy.language));
	o->policy.copy_quota_mb = pg_r_int(r, i, 17);
	pg_r_text(r, i, 18, o->policy.forward_domains, sizeof(o->policy.forward_domains));
}

/* Run sql, a query of $1 = id, on this thread's connection; the caller
 * clears *r. */
static int
pg_select_id(void *impl, const char *sql, int64_t id, PGresult **r, const char *what,
    struct sp_err *err)
{
	struct pg_cx cx;
	struct pgp p = {0};
	int st;

	if ((st = pg_get(impl, &cx, err)) != SP_OK)
		return st;
	pg_p_int(&p, id);
	return pg_exec(&cx, sql, &p, r, what, err);
}

/* One organisation by a query of PG_ORG_COLS; out (may be NULL) is filled. */
static int
pg_org_one(struct pg_cx *cx, const char *sql, const struct pgp *p, struct sp_org *out,
    const char *notfound, struct sp_err *err)
{
	PGresult *r;
	int st, n;

	if ((st = pg_exec(cx, sql, p, &r, "organisation", err)) != SP_OK)
		return st;
	if ((n = PQntuples(r)) > 0 && out != NULL)
		org_from_row(r, 0, out);
	PQclear(r);
	return n > 0 ? SP_OK : sp_err_set(err, SP_ERR_NOTFOUND, "%s", notfound);
}

/* Inside a transaction: the organisation id exists and is not removed; its
 * row is share-locked, so a removal waits for what is added to it. */
static int
pg_org_live(struct pg_cx *cx, int64_t id, struct sp_err *err)
{
	struct pgp p = {0};
	int st, found = 0;

	pg_p_int(&p, id);
	if ((st = pg_one(cx, "SELECT 1 FROM orgs WHERE id = $1 AND removed = 0 FOR SHARE", &p,
	    NULL, &found, "organisation", err)) != SP_OK)
		return st;
	return found ? SP_OK : sp_err_set(err, SP_ERR_NOTFOUND, "unknown organisation");
}

int
pg_org_add(void *impl, const char *name, const char *domain,
    const unsigned char *token_hash, int64_t now, int64_t *id, struct sp_err *err)
{
	char dom[SP_STORE_DOMAIN_MAX + 1];
	struct pg_cx cx;
	struct sp_audit a = {now, "org-add", NULL, NULL, NULL, name, 0};
	int64_t v = 0;
	int st, found = 0;

	if (!pg_fits(name, SP_STORE_NAME_MAX) || *name == '\0')
		return sp_err_set(err, SP_ERR_INVALID, "store: bad organisation name");
	if (domain != NULL && *domain != '\0' &&
	    (st = pg_ascii_lower(domain, dom, sizeof(dom), "domain", err)) != SP_OK)
		return st;
	if ((st = pg_tx(impl, &cx, err)) != SP_OK)
		return st;
	{
		struct pgp p = {0};

		pg_p_text(&p, name);
		pg_p_int(&p, now);
		st = pg_one(&cx, "INSERT INTO orgs(name, created) VALUES ($1, $2) RETURNING id",
		    &p, &v, &found, "add organisation", err);
		if (st == SP_ERR_EXISTS)
			sp_err_set(err, st, "an organisation named %s exists", name);
	}
	if (st == SP_OK && domain != NULL && *domain != '\0') {
		struct pgp p = {0};

		pg_p_text(&p, dom);
		pg_p_int(&p, v);
		st = pg_exec(&cx, "INSERT INTO org_domains(domain, org_id) VALUES ($1, $2)", &p,
		    NULL, "add domain", err);
		if (st == SP_ERR_EXISTS)
			sp_err_set(err, st, "the domain %s belongs to an organisation already",
			    dom);
	}
	if (st == SP_OK && token_hash != NULL) {
		struct pgp p = {0};

		pg_p_hash(&p, token_hash);
		pg_p_int(&p, v);
		pg_p_int(&p, now);
		st = pg_exec(&cx, "INSERT INTO org_tokens(hash, org_id, name, created)"
		    " VALUES ($1, $2, 'default', $3)", &p, NULL, "add token", err);
		if (st == SP_ERR_EXISTS)
			sp_err_set(err, st, "this token is in use already");
	}
	a.org_id = v;		/* the organisation's chain starts with its creation */
	if (st == SP_OK)
		st = pg_audit_insert(&cx, &a, err);
	if ((st = pg_end(&cx, st, err)) == SP_OK && id != NULL)
		*id = v;
	return st;
}

/* A live token of an organisation not removed.  Its last use is written
 * when it is a minute old or more; that write is only a record, so its
 * failure does not refuse the token. */
int
pg_org_by_token(void *impl, const unsigned char *token_hash, struct sp_org *out,
    struct sp_err *err)
{
	struct pg_cx cx;
	struct pgp p = {0};
	PGresult *r;
	int64_t now = (int64_t)time(NULL), last = 0;
	int st, n;

	if (token_hash == NULL)
		return sp_err_set(err, SP_ERR_NOTFOUND, "unknown organisation token");
	if ((st = pg_get(impl, &cx, err)) != SP_OK)
		return st;
	pg_p_hash(&p, token_hash);
	if ((st = pg_exec(&cx, "SELECT " PG_ORG_COLS ", t.last_used FROM org_tokens t"
	    " JOIN orgs o ON o.id = t.org_id WHERE t.hash = $1 AND t.revoked = 0"
	    " AND o.removed = 0", &p, &r, "organisation", err)) != SP_OK)
		return st;
	if ((n = PQntuples(r)) > 0) {
		org_from_row(r, 0, out);
		last = pg_r_int(r, 0, PQnfields(r) - 1);	/* t.last_used */
	}
	PQclear(r);
	if (n == 0)
		return sp_err_set(err, SP_ERR_NOTFOUND, "unknown organisation token");
	if (now - last >= 60) {
		struct sp_err ignored;

		pg_p_int(&p, now);
		(void)pg_exec(&cx, "UPDATE org_tokens SET last_used = $2 WHERE hash = $1"
		    " AND last_used <= $2 - 60", &p, NULL, "token use", &ignored);
	}
	return SP_OK;
}

int
pg_org_each(void *impl, int (*fn)(void *, const struct sp_org *), void *ctx,
    struct sp_err *err)
{
	struct pg_cx cx;
	struct sp_org o;
	PGresult *r;
	int64_t last = 0;
	int st, i, n, stop = 0;

	do {
		struct pgp p = {0};

		if ((st = pg_get(impl, &cx, err)) != SP_OK)
			return st;
		pg_p_int(&p, last);
		pg_p_int(&p, PG_PAGE);
		if ((st = pg_exec(&cx, "SELECT " PG_ORG_COLS " FROM orgs o WHERE o.id > $1"
		    " AND o.removed = 0 ORDER BY o.id LIMIT $2", &p, &r, "organisations",
		    err)) != SP_OK)
			return st;
		n = PQntuples(r);
		for (i = 0; i < n && !stop; i++) {
			org_from_row(r, i, &o);
			last = o.id;
			stop = fn(ctx, &o) != 0;
		}
		PQclear(r);
	} while (!stop && n == PG_PAGE);
	return SP_OK;
}

int
pg_org_get(void *impl, const char *name, struct sp_org *out, struct sp_err *err)
{
	struct pg_cx cx;
	struct pgp p = {0};
	int st;

	memset(out, 0, sizeof(*out));
	if ((st = pg_get(impl, &cx, err)) != SP_OK)
		return st;
	pg_p_text(&p, name);
	return pg_org_one(&cx, "SELECT " PG_ORG_COLS " FROM orgs o WHERE o.name = $1", &p, out,
	    "no such organisation", err);
}

int
pg_org_get_id(void *impl, int64_t id, struct sp_org *out, struct sp_err *err)
{
	struct pg_cx cx;
	struct pgp p = {0};
	int st;

	memset(out, 0, sizeof(*out));
	if ((st = pg_get(impl, &cx, err)) != SP_OK)
		return st;
	pg_p_int(&p, id);
	return pg_org_one(&cx, "SELECT " PG_ORG_COLS " FROM orgs o WHERE o.id = $1", &p, out,
	    "no such organisation", err);
}

int
pg_org_update(void *impl, const struct sp_org *o, const struct sp_audit *a,
    struct sp_err *err)
{
	const struct sp_org_policy *pol = &o->policy;
	struct pg_cx cx;
	struct pgp p = {0};
	int st;

	if (!pg_fits(o->display, SP_STORE_NAME_MAX) || !pg_fits(o->colour, SP_STORE_COLOUR_MAX) ||
	    !pg_fits(o->contact, SP_STORE_EMAIL_MAX) || !pg_fits(pol->level, sizeof(pol->level) - 1) ||
	    !pg_fits(pol->language, SP_STORE_LANG_MAX) || pol->expire_days < 0 ||
	    pol->keep_copies < 0)
		return sp_err_set(err, SP_ERR_INVALID, "store: bad organisation settings");
	if ((st = pg_tx(impl, &cx, err)) != SP_OK)
		return st;
	pg_p_int(&p, o->id);
	pg_p_text(&p, o->display);
	pg_p_text(&p, o->colour);
	pg_p_text(&p, o->contact);
	pg_p_int(&p, pol->expire_days);
	pg_p_int(&p, pol->notify_read ? 1 : 0);
	pg_p_int(&p, pol->replies ? 1 : 0);
	pg_p_int(&p, pol->forward ? 1 : 0);
	pg_p_int(&p, pol->verify ? 1 : 0);
	pg_p_int(&p, pol->keep_copies);
	pg_p_text(&p, pol->level[0] ? pol->level : "medium");
	pg_p_text(&p, pol->language[0] ? pol->language : "en");
	pg_p_int(&p, pol->copy_quota_mb > 0 ? pol->copy_quota_mb : 0);
	pg_p_text(&p, pol->forward_domains);
	st = pg_exec(&cx, "UPDATE orgs SET display = $2, colour = $3, contact = $4,"
	    " expire_days = $5, notify_read = $6, replies = $7, forward = $8, verify = $9,"
	    " keep_copies = $10, level = $11, language = $12, copy_quota_mb = $13,"
	    " forward_domains = $14 WHERE id = $1", &p, NULL,
	    "update organisation", err);
	if (st == SP_OK && cx.changes == 0)
		st = sp_err_set(err, SP_ERR_NOTFOUND, "no such organisation");
	if (st == SP_OK)
		st = pg_audit_insert(&cx, a, err);
	return pg_end(&cx, st, err);
}

int
pg_org_remove(void *impl, int64_t id, int64_t now, const struct sp_audit *a,
    struct sp_err *err)
{
	struct pg_cx cx;
	struct pgp p = {0};
	int st;

	if (now == 0)
		now = (int64_t)time(NULL);
	if ((st = pg_tx(impl, &cx, err)) != SP_OK)
		return st;
	pg_p_int(&p, id);
	pg_p_int(&p, now);
	st = pg_exec(&cx, "UPDATE orgs SET removed = $2 WHERE id = $1 AND removed = 0", &p,
	    NULL, "remove organisation", err);
	if (st == SP_OK && cx.changes == 0)
		st = sp_err_set(err, SP_ERR_NOTFOUND, "no such organisation");
	if (st == SP_OK)
		st = pg_exec(&cx, "UPDATE org_tokens SET revoked = $2 WHERE org_id = $1"
		    " AND revoked = 0", &p, NULL, "revoke tokens", err);
	p.n = 1;
	if (st == SP_OK)
		st = pg_exec(&cx, "DELETE FROM org_domains WHERE org_id = $1", &p, NULL,
		    "release domains", err);
	if (st == SP_OK)
		st = pg_audit_insert(&cx, a, err);
	return pg_end(&cx, st, err);
}

int
pg_org_logo_set(void *impl, int64_t id, const unsigned char *png, size_t len,
    const struct sp_audit *a, struct sp_err *err)
{
	struct pg_cx cx;
	struct pgp p = {0};
	int st;

	if (png == NULL)
		len = 0;
	if (len > SP_STORE_LOGO_MAX)
		return sp_err_set(err, SP_ERR_INVALID, "the logo is larger than %d bytes",
		    SP_STORE_LOGO_MAX);
	if ((st = pg_tx(impl, &cx, err)) != SP_OK)
		return st;
	pg_p_int(&p, id);
	pg_p_bin(&p, len > 0 ? png : NULL, len);
	st = pg_exec(&cx, "UPDATE orgs SET logo = $2 WHERE id = $1", &p, NULL, "set logo", err);
	if (st == SP_OK && cx.changes == 0)
		st = sp_err_set(err, SP_ERR_NOTFOUND, "no such organisation");
	if (st == SP_OK)
		st = pg_audit_insert(&cx, a, err);
	return pg_end(&cx, st, err);
}

int
pg_org_logo_get(void *impl, int64_t id, unsigned char *out, size_t cap, size_t *len,
    struct sp_err *err)
{
	struct pg_cx cx;
	struct pgp p = {0};
	PGresult *r;
	int st, n = 0;

	*len = 0;
	if ((st = pg_get(impl, &cx, err)) != SP_OK)
		return st;
	pg_p_int(&p, id);
	if ((st = pg_exec(&cx, "SELECT logo FROM orgs WHERE id = $1 AND logo IS NOT NULL", &p,
	    &r, "logo", err)) != SP_OK)
		return st;
	if (PQntuples(r) == 0) {
		PQclear(r);
		return sp_err_set(err, SP_ERR_NOTFOUND, "no logo");
	}
	n = pg_r_blob(r, 0, 0, out, cap);
	PQclear(r);
	if (n == -1)
		return sp_err_set(err, SP_ERR_INVALID, "store: the logo is larger than %zu bytes",
		    cap);
	if (n < 0)
		return pg_blob_err(n, "logo", err);
	*len = (size_t)n;
	return SP_OK;
}

int
pg_org_domain_add(void *impl, int64_t org_id, const char *domain,
    const struct sp_audit *a, struct sp_err *err)
{
	char dom[SP_STORE_DOMAIN_MAX + 1];
	struct pg_cx cx;
	struct pgp p = {0};
	int st;

	if ((st = pg_ascii_lower(domain, dom, sizeof(dom), "domain", err)) != SP_OK)
		return st;
	if ((st = pg_tx(impl, &cx, err)) != SP_OK)
		return st;
	st = pg_org_live(&cx, org_id, err);
	pg_p_text(&p, dom);
	pg_p_int(&p, org_id);
	if (st == SP_OK) {
		st = pg_exec(&cx, "INSERT INTO org_domains(domain, org_id) VALUES ($1, $2)", &p,
		    NULL, "add domain", err);
		if (st == SP_ERR_EXISTS)
			sp_err_set(err, st, "the domain %s belongs to an organisation already",
			    dom);
	}
	if (st == SP_OK)
		st = pg_audit_insert(&cx, a, err);
	return pg_end(&cx, st, err);
}

int
pg_org_domain_remove(void *impl, int64_t org_id, const char *domain,
    const struct sp_audit *a, struct sp_err *err)
{
	char dom[SP_STORE_DOMAIN_MAX + 1];
	struct pg_cx cx;
	struct pgp p = {0};
	int st;

	if ((st = pg_ascii_lower(domain, dom, sizeof(dom), "domain", err)) != SP_OK)
		return st;
	if ((st = pg_tx(impl, &cx, err)) != SP_OK)
		return st;
	pg_p_text(&p, dom);
	pg_p_int(&p, org_id);
	st = pg_exec(&cx, "DELETE FROM org_domains WHERE domain = $1 AND org_id = $2", &p, NULL,
	    "remove domain", err);
	if (st == SP_OK && cx.changes == 0)
		st = sp_err_set(err, SP_ERR_NOTFOUND, "the organisation has no domain %s", dom);
	if (st == SP_OK)
		st = pg_audit_insert(&cx, a, err);
	return pg_end(&cx, st, err);
}

int
pg_org_domain_each(void *impl, int64_t org_id, int (*fn)(void *, const char *), void *ctx,
    struct sp_err *err)
{
	PGresult *r;
	int st, i, n;

	if ((st = pg_select_id(impl, "SELECT domain FROM org_domains WHERE org_id = $1"
	    " ORDER BY domain", org_id, &r, "domains", err)) != SP_OK)
		return st;
	n = PQntuples(r);
	for (i = 0; i < n; i++)
		if (fn(ctx, PQgetvalue(r, i, 0)) != 0)
			break;
	PQclear(r);
	return SP_OK;
}

int
pg_org_by_domain(void *impl, const char *domain, struct sp_org *out, struct sp_err *err)
{
	char dom[SP_STORE_DOMAIN_MAX + 1];
	struct pg_cx cx;
	struct pgp p = {0};
	int st;

	memset(out, 0, sizeof(*out));
	if (pg_ascii_lower(domain, dom, sizeof(dom), "domain", NULL) != SP_OK)
		return sp_err_set(err, SP_ERR_NOTFOUND, "no organisation has this domain");
	if ((st = pg_get(impl, &cx, err)) != SP_OK)
		return st;
	pg_p_text(&p, dom);
	return pg_org_one(&cx, "SELECT " PG_ORG_COLS " FROM org_domains od"
	    " JOIN orgs o ON o.id = od.org_id WHERE od.domain = $1", &p, out,
	    "no organisation has this domain", err);
}

int
pg_org_token_add(void *impl, int64_t org_id, const char *name,
    const unsigned char *token_hash, int64_t now, const struct sp_audit *a,
    struct sp_err *err)
{
	struct pg_cx cx;
	struct pgp p = {0};
	int st;

	if (!pg_fits(name, SP_STORE_NAME_MAX) || *name == '\0' || token_hash == NULL)
		return sp_err_set(err, SP_ERR_INVALID, "store: bad token name");
	if ((st = pg_tx(impl, &cx, err)) != SP_OK)
		return st;
	st = pg_org_live(&cx, org_id, err);
	pg_p_hash(&p, token_hash);
	pg_p_int(&p, org_id);
	pg_p_text(&p, name);
	pg_p_int(&p, now);
	if (st == SP_OK) {
		st = pg_exec(&cx, "INSERT INTO org_tokens(hash, org_id, name, created)"
		    " VALUES ($1, $2, $3, $4)", &p, NULL, "add token", err);
		if (st == SP_ERR_EXISTS)
			sp_err_set(err, st, "the organisation has a token named %s", name);
	}
	if (st == SP_OK)
		st = pg_audit_insert(&cx, a, err);
	return pg_end(&cx, st, err);
}

/* Stamp now (0: the clock) into the row that sql ($1 = org_id, $2 = name,
 * $3 = now) marks, with the audit record; missing is the message (with one %s
 * for the name) when no live row matches. */
static int
pg_org_mark(void *impl, const char *sql, int64_t org_id, const char *name, int64_t now,
    const char *what, const char *missing, const struct sp_audit *a, struct sp_err *err)
{
	struct pg_cx cx;
	struct pgp p = {0};
	int st;

	if (now == 0)
		now = (int64_t)time(NULL);
	if ((st = pg_tx(impl, &cx, err)) != SP_OK)
		return st;
	pg_p_int(&p, org_id);
	pg_p_text(&p, name);
	pg_p_int(&p, now);
	st = pg_exec(&cx, sql, &p, NULL, what, err);
	if (st == SP_OK && cx.changes == 0)
		st = sp_err_set(err, SP_ERR_NOTFOUND, missing, name);
	if (st == SP_OK)
		st = pg_audit_insert(&cx, a, err);
	return pg_end(&cx, st, err);
}

int
pg_org_token_revoke(void *impl, int64_t org_id, const char *name, int64_t now,
    const struct sp_audit *a, struct sp_err *err)
{
	if (name == NULL)
		return sp_err_set(err, SP_ERR_INVALID, "store: bad token name");
	return pg_org_mark(impl, "UPDATE org_tokens SET revoked = $3 WHERE org_id = $1"
	    " AND name = $2 AND revoked = 0", org_id, name, now, "revoke token",
	    "no live token named %s", a, err);
}

int
pg_org_token_each(void *impl, int64_t org_id, int (*fn)(void *, const struct sp_org_token *),
    void *ctx, struct sp_err *err)
{
	struct sp_org_token t;
	PGresult *r;
	int st, i, n;

	if ((st = pg_select_id(impl, "SELECT org_id, name, created, last_used, revoked"
	    " FROM org_tokens WHERE org_id = $1 ORDER BY created, id", org_id, &r, "tokens",
	    err)) != SP_OK)
		return st;
	n = PQntuples(r);
	for (i = 0; i < n; i++) {
		memset(&t, 0, sizeof(t));
		t.org_id = pg_r_int(r, i, 0);
		pg_r_text(r, i, 1, t.name, sizeof(t.name));
		t.created = pg_r_int(r, i, 2);
		t.last_used = pg_r_int(r, i, 3);
		t.revoked = pg_r_int(r, i, 4);
		if (fn(ctx, &t) != 0)
			break;
	}
	PQclear(r);
	return SP_OK;
}

#define PG_KEY_COLS "org_id, kid, pub, created, retired, reply, wrapped, wrap_key_id"

static int
key_from_row(const PGresult *r, int i, struct sp_org_key *k, struct sp_err *err)
{
	int n;

	memset(k, 0, sizeof(*k));
	k->org_id = pg_r_int(r, i, 0);
	pg_r_text(r, i, 1, k->kid, sizeof(k->kid));
	if ((n = pg_r_blob(r, i, 2, k->pub, sizeof(k->pub))) != (int)sizeof(k->pub))
		return pg_blob_err(n, "signing key", err);
	k->created = pg_r_int(r, i, 3);
	k->retired = pg_r_int(r, i, 4);
	k->reply = (int)pg_r_int(r, i, 5);
	if ((n = pg_r_blob(r, i, 6, k->wrapped, sizeof(k->wrapped))) < 0)
		return pg_blob_err(n, "reply key", err);
	k->wrapped_len = (size_t)n;
	k->wrap_key_id = (uint32_t)pg_r_int(r, i, 7);
	return SP_OK;
}

int
pg_org_key_add(void *impl, const struct sp_org_key *k, const struct sp_audit *a,
    struct sp_err *err)
{
	struct pg_cx cx;
	struct pgp p = {0};
	int st;

	if (!pg_fits(k->kid, SP_STORE_KID_MAX) || k->kid[0] == '\0')
		return sp_err_set(err, SP_ERR_INVALID, "store: bad key id");
	if ((st = pg_tx(impl, &cx, err)) != SP_OK)
		return st;
	st = pg_org_live(&cx, k->org_id, err);
	pg_p_text(&p, k->kid);
	pg_p_int(&p, k->org_id);
	pg_p_bin(&p, k->pub, sizeof(k->pub));
	pg_p_int(&p, k->created ? k->created : (int64_t)time(NULL));
	pg_p_int(&p, k->retired);
	pg_p_int(&p, k->reply ? 1 : 0);
	pg_p_bin(&p, k->wrapped_len > 0 ? k->wrapped : NULL, k->wrapped_len);
	pg_p_int(&p, k->wrap_key_id);
	if (st == SP_OK) {
		st = pg_exec(&cx, "INSERT INTO org_keys(" PG_KEY_COLS ")"
		    " VALUES ($2, $1, $3, $4, $5, $6, $7, $8)", &p, NULL, "add signing key", err);
		if (st == SP_ERR_EXISTS)
			sp_err_set(err, st, "the signing key %s is known", k->kid);
	}
	if (st == SP_OK)
		st = pg_audit_insert(&cx, a, err);
	return pg_end(&cx, st, err);
}

int
pg_org_key_get(void *impl, const char *kid, struct sp_org_key *out, struct sp_err *err)
{
	struct pg_cx cx;
	struct pgp p = {0};
	PGresult *r;
	int st;

	memset(out, 0, sizeof(*out));
	if (kid == NULL)
		return sp_err_set(err, SP_ERR_NOTFOUND, "unknown signing key");
	if ((st = pg_get(impl, &cx, err)) != SP_OK)
		return st;
	pg_p_text(&p, kid);
	if ((st = pg_exec(&cx, "SELECT " PG_KEY_COLS " FROM org_keys WHERE kid = $1", &p, &r,
	    "signing key", err)) != SP_OK)
		return st;
	if (PQntuples(r) == 0)
		st = sp_err_set(err, SP_ERR_NOTFOUND, "unknown signing key");
	else
		st = key_from_row(r, 0, out, err);
	PQclear(r);
	return st;
}

int
pg_org_key_retire(void *impl, int64_t org_id, const char *kid, int64_t now,
    const struct sp_audit *a, struct sp_err *err)
{
	if (kid == NULL)
		return sp_err_set(err, SP_ERR_INVALID, "store: bad key id");
	return pg_org_mark(impl, "UPDATE org_keys SET retired = $3 WHERE org_id = $1"
	    " AND kid = $2 AND retired = 0", org_id, kid, now, "retire signing key",
	    "the organisation has no live key %s", a, err);
}

int
pg_org_key_each(void *impl, int64_t org_id, int (*fn)(void *, const struct sp_org_key *),
    void *ctx, struct sp_err *err)
{
	struct sp_org_key k;
	PGresult *r;
	int st, i, n;

	if ((st = pg_select_id(impl, "SELECT " PG_KEY_COLS " FROM org_keys WHERE org_id = $1"
	    " ORDER BY created, id", org_id, &r, "signing keys", err)) != SP_OK)
		return st;
	n = PQntuples(r);
	for (i = 0; i < n && st == SP_OK; i++)
		if ((st = key_from_row(r, i, &k, err)) == SP_OK && fn(ctx, &k) != 0)
			break;
	PQclear(r);
	return st;
}

/*
 * store_sqlite_org.c - the SQLite backend's audit trail and organisations
 * (see store_sqlite_internal.h): the group commit of a batch of writes,
 * reading the audit chains, and organisations with their domains, logos,
 * API tokens and signing keys.
 * SECURITY: every statement binds its parameters; tokens arrive here only as
 * SHA-256 hashes; the caller wraps key parts before they reach this file.
 */
#include <sqlite3.h>
#include <string.h>
#include <time.h>

#include "store_sqlite_internal.h"

/* --- audit --------------------------------------------------------------- */

/*
 * The group commit (store.h, store.c): the writes of a batch in one
 * BEGIN IMMEDIATE transaction, each in a savepoint of its own when there
 * are several (a refused write is rolled back alone), one COMMIT and so
 * one fsync for all.
 */
int
sq_write_batch(void *impl, struct sp_store_write *batch, struct sp_err *err)
{
	struct sp_store_write *w;
	sqlite3 *db;
	int st, one = batch->next == NULL;

	if ((st = sq_db(impl, &db, err)) != SP_OK || (st = sq_begin(db, err)) != SP_OK)
		return st;
	for (w = batch; w != NULL && st == SP_OK; w = w->next) {
		if (!one && (st = sq_exec_kept(db, "SAVEPOINT w", err)) != SP_OK)
			break;
		w->status = sq_write_one(db, w);
		if (one)
			break;
		if (w->status != SP_OK)
			st = sq_exec_kept(db, "ROLLBACK TO w", err);
		if (st == SP_OK)
			st = sq_exec_kept(db, "RELEASE w", err);
	}
	if (one && batch->status != SP_OK) {
		sq_end(db, batch->status, NULL);	/* its own refusal: nothing to commit */
		return SP_OK;
	}
	return sq_end(db, st, err);
}

int
sq_audit_each(void *impl, const char *event, int (*fn)(void *, const struct sp_audit *),
    void *ctx, struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	struct sp_audit a;
	int s, rc;

	if ((s = sq_db(impl, &db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "SELECT time, event, actor, envelope_id, client, detail,"
	    " chain FROM audit WHERE ?1 IS NULL OR event = ?1 ORDER BY id", &st, err)) != SP_OK)
		return s;
	sq_bind_text(st, 1, event);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		a.org_id = sqlite3_column_int64(st, 6);
		sq_audit_from_cols(st, 0, &a);
		if (fn(ctx, &a) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? SP_OK : sq_status(db, rc, "audit list", err);
}

int
sq_audit_scan(void *impl, int64_t chain, int64_t since,
    int (*fn)(void *, const struct sp_audit_row *), void *ctx, struct sp_err *err)
{
	struct sp_audit_row r;
	sqlite3 *db;
	sqlite3_stmt *st;
	int s, rc;

	if ((s = sq_db(impl, &db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "SELECT id, chain, seq, prev, hash, time, event, actor,"
	    " envelope_id, client, detail FROM audit WHERE (?1 < 0 OR chain = ?1)"
	    " AND time >= ?2 ORDER BY id", &st, err)) != SP_OK)
		return s;
	sqlite3_bind_int64(st, 1, chain);
	sqlite3_bind_int64(st, 2, since);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&r, 0, sizeof(r));
		r.rowid = sqlite3_column_int64(st, 0);
		r.chain = sqlite3_column_int64(st, 1);
		r.seq = sqlite3_column_int64(st, 2);
		/* A damaged prev or hash stays zero and fails verification. */
		if (sq_col_blob(st, 3, r.prev, sizeof(r.prev)) != SP_SHA256_LEN)
			memset(r.prev, 0, sizeof(r.prev));
		if (sq_col_blob(st, 4, r.hash, sizeof(r.hash)) != SP_SHA256_LEN)
			memset(r.hash, 0, sizeof(r.hash));
		sq_audit_from_cols(st, 5, &r.a);
		r.a.org_id = r.chain;
		if (fn(ctx, &r) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? SP_OK : sq_status(db, rc, "audit scan", err);
}

int
sq_audit_heads(void *impl, int (*fn)(void *, int64_t, int64_t, const unsigned char *),
    void *ctx, struct sp_err *err)
{
	unsigned char h[SP_SHA256_LEN];
	sqlite3 *db;
	sqlite3_stmt *st;
	int s, rc;

	if ((s = sq_db(impl, &db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "SELECT chain, seq, hash FROM audit_heads ORDER BY chain",
	    &st, err)) != SP_OK)
		return s;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (sq_col_blob(st, 2, h, sizeof(h)) != SP_SHA256_LEN)
			memset(h, 0, sizeof(h));
		if (fn(ctx, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1), h) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? SP_OK : sq_status(db, rc, "audit heads", err);
}

/* --- organisations ------------------------------------------------------- */

/* Columns of an organisation for org_from_row(); the domain shown is the
 * first by name. */
#define SQ_ORG_COLS "o.id, o.name, coalesce((SELECT min(d.domain) FROM org_domains d" \
	" WHERE d.org_id = o.id), ''), o.created, o.removed, o.display, o.colour," \
	" o.logo IS NOT NULL, o.contact, o.expire_days, o.notify_read, o.replies," \
	" o.forward, o.verify, o.keep_copies, o.level, o.language, o.copy_quota_mb," \
	" o.forward_domains"

static void
org_from_row(sqlite3_stmt *st, struct sp_org *o)
{
	memset(o, 0, sizeof(*o));
	o->id = sqlite3_column_int64(st, 0);
	sq_col_text(st, 1, o->name, sizeof(o->name));
	sq_col_text(st, 2, o->domain, sizeof(o->domain));
	o->created = sqlite3_column_int64(st, 3);
	o->removed = sqlite3_column_int64(st, 4);
	sq_col_text(st, 5, o->display, sizeof(o->display));
	sq_col_text(st, 6, o->colour, sizeof(o->colour));
	o->has_logo = sqlite3_column_int(st, 7);
	sq_col_text(st, 8, o->contact, sizeof(o->contact));
	o->policy.expire_days = sqlite3_column_int64(st, 9);
	o->policy.notify_read = sqlite3_column_int(st, 10);
	o->policy.replies = sqlite3_column_int(st, 11);
	o->policy.forward = sqlite3_column_int(st, 12);
	o->policy.verify = sqlite3_column_int(st, 13);
	o->policy.keep_copies = sqlite3_column_int(st, 14);
	sq_col_text(st, 15, o->policy.level, sizeof(o->policy.level));
	sq_col_text(st, 16, o->policy.language, sizeof(o->policy.language));
	o->policy.copy_quota_mb = sqlite3_column_int64(st, 17);
	sq_col_text(st, 18, o->policy.forward_domains, sizeof(o->policy.forward_domains));
}

/* Lower-case copy of a domain: SP_ERR_INVALID when empty or too long. */
static int
domain_lower(const char *domain, char out[SP_STORE_DOMAIN_MAX + 1], struct sp_err *err)
{
	size_t i, n = domain ? strlen(domain) : 0;

	if (n == 0 || n > SP_STORE_DOMAIN_MAX)
		return sp_err_set(err, SP_ERR_INVALID, "store: bad domain");
	for (i = 0; i < n; i++)
		out[i] = domain[i] >= 'A' && domain[i] <= 'Z' ? (char)(domain[i] - 'A' + 'a') :
		    domain[i];
	out[n] = '\0';
	return SP_OK;
}

/* The organisation whose id or name (id 0) is given, into out (may be
 * NULL), inside the caller's transaction or none.  live: removed ones are
 * not found. */
static int
sq_org_find(sqlite3 *db, int64_t id, const char *name, int live, struct sp_org *out,
    struct sp_err *err)
{
	struct sp_org o;
	sqlite3_stmt *st;
	int s, rc;

	if ((s = sq_kept(db, "SELECT " SQ_ORG_COLS " FROM orgs o WHERE"
	    " (?1 != 0 AND o.id = ?1 OR ?1 = 0 AND o.name = ?2) AND (?3 = 0 OR o.removed = 0)",
	    &st, err)) != SP_OK)
		return s;
	sqlite3_bind_int64(st, 1, name != NULL ? 0 : id);
	sq_bind_text(st, 2, name);
	sqlite3_bind_int(st, 3, live);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		org_from_row(st, out != NULL ? out : &o);
	sq_finish(st);
	if (rc == SQLITE_DONE)
		return name != NULL ?
		    sp_err_set(err, SP_ERR_NOTFOUND, "no organisation named '%s'", name) :
		    sp_err_set(err, SP_ERR_NOTFOUND, "no organisation %lld%s", (long long)id,
		    live ? " (or it was removed)" : "");
	return rc == SQLITE_ROW ? SP_OK : sq_status(db, rc, "organisation", err);
}

int
sq_org_add(void *impl, const char *name, const char *domain,
    const unsigned char *token_hash, int64_t now, int64_t *id, struct sp_err *err)
{
	char dom[SP_STORE_DOMAIN_MAX + 1];
	sqlite3 *db;
	sqlite3_stmt *st;
	struct sp_audit a = {now, "org-add", NULL, NULL, NULL, name, 0};
	int64_t oid = 0;
	int s;

	if (name == NULL || *name == '\0' || strlen(name) > SP_STORE_NAME_MAX)
		return sp_err_set(err, SP_ERR_INVALID, "store: bad organisation name");
	if (domain != NULL && *domain != '\0' && (s = domain_lower(domain, dom, err)) != SP_OK)
		return s;
	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "INSERT INTO orgs(name, created) VALUES (?,?)", &st,
	    err)) == SP_OK) {
		sq_bind_text(st, 1, name);
		sqlite3_bind_int64(st, 2, now);
		if ((s = sq_run(db, st, "add organisation", err)) == SP_ERR_EXISTS)
			sp_err_set(err, s, "an organisation named '%s' exists", name);
		oid = sqlite3_last_insert_rowid(db);
	}
	if (s == SP_OK && domain != NULL && *domain != '\0' && (s = sq_prepare(db,
	    "INSERT INTO org_domains(domain, org_id) VALUES (?,?)", &st, err)) == SP_OK) {
		sq_bind_text(st, 1, dom);
		sqlite3_bind_int64(st, 2, oid);
		if ((s = sq_run(db, st, "add domain", err)) == SP_ERR_EXISTS)
			sp_err_set(err, s, "the domain %s belongs to an organisation already", dom);
	}
	if (s == SP_OK && (s = sq_prepare(db, "INSERT INTO org_tokens(hash, org_id, name,"
	    " created) VALUES (?,?,'default',?)", &st, err)) == SP_OK) {
		sq_bind_hash(st, 1, token_hash);
		sqlite3_bind_int64(st, 2, oid);
		sqlite3_bind_int64(st, 3, now);
		if ((s = sq_run(db, st, "add token", err)) == SP_ERR_EXISTS)
			sp_err_set(err, s, "this token is in use already");
	}
	a.org_id = oid;		/* the organisation's chain starts with its creation */
	if (s == SP_OK)
		s = sq_audit_insert(db, &a, err);
	if ((s = sq_end(db, s, err)) == SP_OK && id != NULL)
		*id = oid;
	return s;
}

/* A token's last use is written at most this often (seconds). */
#define SQ_TOKEN_TOUCH 60

int
sq_org_by_token(void *impl, const unsigned char *token_hash, struct sp_org *out,
    struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t now = (int64_t)time(NULL), last = 0;
	int s, rc;

	if ((s = sq_db(impl, &db, err)) != SP_OK)
		return s;
	if ((s = sq_kept(db, "SELECT " SQ_ORG_COLS ", t.last_used FROM org_tokens t"
	    " JOIN orgs o ON o.id = t.org_id WHERE t.hash = ? AND t.revoked = 0"
	    " AND o.removed = 0", &st, err)) != SP_OK)
		return s;
	sq_bind_hash(st, 1, token_hash);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		org_from_row(st, out);
		last = sqlite3_column_int64(st, sqlite3_column_count(st) - 1);	/* t.last_used */
	}
	sq_finish(st);
	if (rc == SQLITE_DONE)
		return sp_err_set(err, SP_ERR_NOTFOUND, "unknown organisation token");
	if (rc != SQLITE_ROW)
		return sq_status(db, rc, "organisation", err);
	/*
	 * Bookkeeping only, at most once a minute: a busy database does not
	 * refuse the token, nor make it wait.  The update is a write
	 * transaction of its own, and the group commit's committer holds the
	 * write lock almost all the time under parallel deposits: waiting for
	 * it (the busy handler sleeps 1 ms, 2, 5, 10 ...) would hold this
	 * HTTP thread, and a touch that got the lock would make the committer
	 * sleep the same way.  So one try without waiting; when the database
	 * is busy, a later use records it.
	 */
	if (now - last >= SQ_TOKEN_TOUCH && sq_kept(db, "UPDATE org_tokens SET"
	    " last_used = ?2 WHERE hash = ?1 AND last_used <= ?2 - ?3", &st, NULL) == SP_OK) {
		sq_bind_hash(st, 1, token_hash);
		sqlite3_bind_int64(st, 2, now);
		sqlite3_bind_int(st, 3, SQ_TOKEN_TOUCH);
		sqlite3_busy_timeout(db, 0);
		sq_run(db, st, "token use", NULL);
		sqlite3_busy_timeout(db, SQ_BUSY_MS);
	}
	return SP_OK;
}

int
sq_org_each(void *impl, int (*fn)(void *, const struct sp_org *), void *ctx,
    struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	struct sp_org o;
	int s, rc;

	if ((s = sq_db(impl, &db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "SELECT " SQ_ORG_COLS " FROM orgs o WHERE o.removed = 0"
	    " ORDER BY o.id", &st, err)) != SP_OK)
		return s;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		org_from_row(st, &o);
		if (fn(ctx, &o) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? SP_OK : sq_status(db, rc, "organisations", err);
}

int
sq_org_get(void *impl, const char *name, struct sp_org *out, struct sp_err *err)
{
	sqlite3 *db;
	int s;

	if (name == NULL)
		return sp_err_set(err, SP_ERR_INVALID, "store: no organisation name");
	if ((s = sq_db(impl, &db, err)) != SP_OK)
		return s;
	return sq_org_find(db, 0, name, 0, out, err);
}

int
sq_org_get_id(void *impl, int64_t id, struct sp_org *out, struct sp_err *err)
{
	sqlite3 *db;
	int s;

	if ((s = sq_db(impl, &db, err)) != SP_OK)
		return s;
	if (id == 0)
		return sp_err_set(err, SP_ERR_NOTFOUND, "no organisation 0");
	return sq_org_find(db, id, NULL, 0, out, err);
}

int
sq_org_update(void *impl, const struct sp_org *o, const struct sp_audit *a,
    struct sp_err *err)
{
	const struct sp_org_policy *p = &o->policy;
	sqlite3 *db;
	sqlite3_stmt *st;
	int s;

	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "UPDATE orgs SET display = ?2, colour = ?3, contact = ?4,"
	    " expire_days = ?5, notify_read = ?6, replies = ?7, forward = ?8, verify = ?9,"
	    " keep_copies = ?10, level = ?11, language = ?12, copy_quota_mb = ?13,"
	    " forward_domains = ?14 WHERE id = ?1", &st, err)) == SP_OK) {
		sq_bind_text(st, 14, p->forward_domains);
		sqlite3_bind_int64(st, 1, o->id);
		sq_bind_text(st, 2, o->display);
		sq_bind_text(st, 3, o->colour);
		sq_bind_text(st, 4, o->contact);
		sqlite3_bind_int64(st, 5, p->expire_days);
		sqlite3_bind_int(st, 6, p->notify_read ? 1 : 0);
		sqlite3_bind_int(st, 7, p->replies ? 1 : 0);
		sqlite3_bind_int(st, 8, p->forward ? 1 : 0);
		sqlite3_bind_int(st, 9, p->verify ? 1 : 0);
		sqlite3_bind_int(st, 10, p->keep_copies);
		sq_bind_text(st, 11, p->level[0] ? p->level : "medium");
		sq_bind_text(st, 12, p->language[0] ? p->language : "en");
		sqlite3_bind_int64(st, 13, p->copy_quota_mb > 0 ? p->copy_quota_mb : 0);
		if ((s = sq_run(db, st, "update organisation", err)) == SP_OK &&
		    sqlite3_changes(db) == 0)
			s = sp_err_set(err, SP_ERR_NOTFOUND, "no organisation %lld",
			    (long long)o->id);
	}
	if (s == SP_OK)
		s = sq_audit_insert(db, a, err);
	return sq_end(db, s, err);
}

/* Prepare sql, a query of ?1 = id, on this thread's connection (*db). */
static int
sq_select_id(void *impl, const char *sql, int64_t id, sqlite3 **db, sqlite3_stmt **st,
    struct sp_err *err)
{
	int s;

	if ((s = sq_db(impl, db, err)) != SP_OK || (s = sq_prepare(*db, sql, st, err)) != SP_OK)
		return s;
	sqlite3_bind_int64(*st, 1, id);
	return SP_OK;
}

/* Run one statement of ?1 = id (and ?2 = now) inside the caller's
 * transaction; *changed (may be NULL) gets the number of rows it changed. */
static int
sq_run_id(sqlite3 *db, const char *sql, int64_t id, int64_t now, int *changed,
    struct sp_err *err)
{
	sqlite3_stmt *st;
	int s;

	if ((s = sq_prepare(db, sql, &st, err)) != SP_OK)
		return s;
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_bind_parameter_count(st) >= 2)
		sqlite3_bind_int64(st, 2, now);
	if ((s = sq_run(db, st, sql, err)) == SP_OK && changed != NULL)
		*changed = sqlite3_changes(db);
	return s;
}

int
sq_org_remove(void *impl, int64_t id, int64_t now, const struct sp_audit *a,
    struct sp_err *err)
{
	sqlite3 *db;
	int s, n = 0;

	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	if ((s = sq_run_id(db, "UPDATE orgs SET removed = ?2 WHERE id = ?1 AND removed = 0",
	    id, now ? now : (int64_t)time(NULL), &n, err)) == SP_OK && n == 0)
		s = sp_err_set(err, SP_ERR_NOTFOUND, "no organisation %lld (or it was removed)",
		    (long long)id);
	if (s == SP_OK)
		s = sq_run_id(db, "UPDATE org_tokens SET revoked = ?2 WHERE org_id = ?1"
		    " AND revoked = 0", id, now ? now : (int64_t)time(NULL), NULL, err);
	if (s == SP_OK)
		s = sq_run_id(db, "DELETE FROM org_domains WHERE org_id = ?1", id, 0, NULL, err);
	if (s == SP_OK)
		s = sq_audit_insert(db, a, err);
	return sq_end(db, s, err);
}

int
sq_org_logo_set(void *impl, int64_t id, const unsigned char *png, size_t len,
    const struct sp_audit *a, struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s;

	if (png != NULL && len > SP_STORE_LOGO_MAX)
		return sp_err_set(err, SP_ERR_TOOBIG, "the logo is larger than %d bytes",
		    SP_STORE_LOGO_MAX);
	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "UPDATE orgs SET logo = ?2 WHERE id = ?1", &st, err)) == SP_OK) {
		sqlite3_bind_int64(st, 1, id);
		if (png == NULL || len == 0)
			sqlite3_bind_null(st, 2);
		else
			sqlite3_bind_blob(st, 2, png, (int)len, SQLITE_TRANSIENT);
		if ((s = sq_run(db, st, "logo", err)) == SP_OK && sqlite3_changes(db) == 0)
			s = sp_err_set(err, SP_ERR_NOTFOUND, "no organisation %lld", (long long)id);
	}
	if (s == SP_OK)
		s = sq_audit_insert(db, a, err);
	return sq_end(db, s, err);
}

int
sq_org_logo_get(void *impl, int64_t id, unsigned char *out, size_t cap, size_t *len,
    struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s, rc, n = 0;

	*len = 0;
	if ((s = sq_select_id(impl, "SELECT logo FROM orgs WHERE id = ? AND logo IS NOT NULL",
	    id, &db, &st, err)) != SP_OK)
		return s;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		n = sq_col_blob(st, 0, out, cap);
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE)
		return sp_err_set(err, SP_ERR_NOTFOUND, "no logo");
	if (rc != SQLITE_ROW)
		return sq_status(db, rc, "logo", err);
	if (n < 0)
		return sp_err_set(err, SP_ERR_TOOBIG, "the logo is larger than the buffer");
	*len = (size_t)n;
	return SP_OK;
}

int
sq_org_domain_add(void *impl, int64_t org_id, const char *domain,
    const struct sp_audit *a, struct sp_err *err)
{
	char dom[SP_STORE_DOMAIN_MAX + 1];
	sqlite3 *db;
	sqlite3_stmt *st;
	int s;

	if ((s = domain_lower(domain, dom, err)) != SP_OK)
		return s;
	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	if ((s = sq_org_find(db, org_id, NULL, 1, NULL, err)) == SP_OK &&
	    (s = sq_prepare(db, "INSERT INTO org_domains(domain, org_id) VALUES (?,?)",
	    &st, err)) == SP_OK) {
		sq_bind_text(st, 1, dom);
		sqlite3_bind_int64(st, 2, org_id);
		if ((s = sq_run(db, st, "add domain", err)) == SP_ERR_EXISTS)
			sp_err_set(err, s, "the domain %s belongs to an organisation already", dom);
	}
	if (s == SP_OK)
		s = sq_audit_insert(db, a, err);
	return sq_end(db, s, err);
}

int
sq_org_domain_remove(void *impl, int64_t org_id, const char *domain,
    const struct sp_audit *a, struct sp_err *err)
{
	char dom[SP_STORE_DOMAIN_MAX + 1];
	sqlite3 *db;
	sqlite3_stmt *st;
	int s;

	if ((s = domain_lower(domain, dom, err)) != SP_OK)
		return s;
	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "DELETE FROM org_domains WHERE domain = ? AND org_id = ?",
	    &st, err)) == SP_OK) {
		sq_bind_text(st, 1, dom);
		sqlite3_bind_int64(st, 2, org_id);
		if ((s = sq_run(db, st, "remove domain", err)) == SP_OK && sqlite3_changes(db) == 0)
			s = sp_err_set(err, SP_ERR_NOTFOUND, "the organisation has no domain %s", dom);
	}
	if (s == SP_OK)
		s = sq_audit_insert(db, a, err);
	return sq_end(db, s, err);
}

int
sq_org_domain_each(void *impl, int64_t org_id, int (*fn)(void *, const char *), void *ctx,
    struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s, rc;

	if ((s = sq_select_id(impl, "SELECT domain FROM org_domains WHERE org_id = ?"
	    " ORDER BY domain", org_id, &db, &st, err)) != SP_OK)
		return s;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (fn(ctx, (const char *)sqlite3_column_text(st, 0)) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? SP_OK : sq_status(db, rc, "domains", err);
}

int
sq_org_by_domain(void *impl, const char *domain, struct sp_org *out, struct sp_err *err)
{
	char dom[SP_STORE_DOMAIN_MAX + 1];
	sqlite3 *db;
	sqlite3_stmt *st;
	int s, rc;

	if (domain_lower(domain, dom, NULL) != SP_OK)
		return sp_err_set(err, SP_ERR_NOTFOUND, "no organisation holds this domain");
	if ((s = sq_db(impl, &db, err)) != SP_OK)
		return s;
	if ((s = sq_kept(db, "SELECT " SQ_ORG_COLS " FROM org_domains d"
	    " JOIN orgs o ON o.id = d.org_id WHERE d.domain = ? AND o.removed = 0",
	    &st, err)) != SP_OK)
		return s;
	sq_bind_text(st, 1, dom);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		org_from_row(st, out);
	sq_finish(st);
	if (rc == SQLITE_DONE)
		return sp_err_set(err, SP_ERR_NOTFOUND, "no organisation holds %s", dom);
	return rc == SQLITE_ROW ? SP_OK : sq_status(db, rc, "organisation", err);
}

int
sq_org_token_add(void *impl, int64_t org_id, const char *name,
    const unsigned char *token_hash, int64_t now, const struct sp_audit *a,
    struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s;

	if (name == NULL || *name == '\0' || strlen(name) > SP_STORE_NAME_MAX ||
	    token_hash == NULL)
		return sp_err_set(err, SP_ERR_INVALID, "store: bad token name");
	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	if ((s = sq_org_find(db, org_id, NULL, 1, NULL, err)) == SP_OK &&
	    (s = sq_prepare(db, "INSERT INTO org_tokens(hash, org_id, name, created)"
	    " VALUES (?,?,?,?)", &st, err)) == SP_OK) {
		sq_bind_hash(st, 1, token_hash);
		sqlite3_bind_int64(st, 2, org_id);
		sq_bind_text(st, 3, name);
		sqlite3_bind_int64(st, 4, now);
		if ((s = sq_run(db, st, "add token", err)) == SP_ERR_EXISTS)
			sp_err_set(err, s, "the organisation has a live token named '%s'"
			    " (or this token is in use)", name);
	}
	if (s == SP_OK)
		s = sq_audit_insert(db, a, err);
	return sq_end(db, s, err);
}

/* Stamp now (0: the clock) into the row that sql (?1 = org_id, ?2 = name,
 * ?3 = now) marks, with the audit record; missing is the message (with one %s
 * for the name) when no live row matches. */
static int
sq_org_mark(void *impl, const char *sql, int64_t org_id, const char *name, int64_t now,
    const char *what, const char *missing, const struct sp_audit *a, struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s;

	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, sql, &st, err)) == SP_OK) {
		sqlite3_bind_int64(st, 1, org_id);
		sq_bind_text(st, 2, name);
		sqlite3_bind_int64(st, 3, now ? now : (int64_t)time(NULL));
		if ((s = sq_run(db, st, what, err)) == SP_OK && sqlite3_changes(db) == 0)
			s = sp_err_set(err, SP_ERR_NOTFOUND, missing, name ? name : "");
	}
	if (s == SP_OK)
		s = sq_audit_insert(db, a, err);
	return sq_end(db, s, err);
}

int
sq_org_token_revoke(void *impl, int64_t org_id, const char *name, int64_t now,
    const struct sp_audit *a, struct sp_err *err)
{
	return sq_org_mark(impl, "UPDATE org_tokens SET revoked = ?3 WHERE org_id = ?1"
	    " AND name = ?2 AND revoked = 0", org_id, name, now, "revoke token",
	    "no live token named '%s'", a, err);
}

int
sq_org_token_each(void *impl, int64_t org_id, int (*fn)(void *, const struct sp_org_token *),
    void *ctx, struct sp_err *err)
{
	struct sp_org_token t;
	sqlite3 *db;
	sqlite3_stmt *st;
	int s, rc;

	if ((s = sq_select_id(impl, "SELECT org_id, name, created, last_used, revoked"
	    " FROM org_tokens WHERE org_id = ? ORDER BY created, rowid", org_id, &db, &st,
	    err)) != SP_OK)
		return s;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&t, 0, sizeof(t));
		t.org_id = sqlite3_column_int64(st, 0);
		sq_col_text(st, 1, t.name, sizeof(t.name));
		t.created = sqlite3_column_int64(st, 2);
		t.last_used = sqlite3_column_int64(st, 3);
		t.revoked = sqlite3_column_int64(st, 4);
		if (fn(ctx, &t) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? SP_OK : sq_status(db, rc, "tokens", err);
}

/* The columns org_key_from_row reads. */
#define SQ_KEY_COLS "org_id, kid, pub, created, retired, reply, wrapped, wrap_key_id"

static int
org_key_from_row(sqlite3_stmt *st, struct sp_org_key *k)
{
	int n;

	memset(k, 0, sizeof(*k));
	k->org_id = sqlite3_column_int64(st, 0);
	sq_col_text(st, 1, k->kid, sizeof(k->kid));
	k->created = sqlite3_column_int64(st, 3);
	k->retired = sqlite3_column_int64(st, 4);
	k->reply = sqlite3_column_int(st, 5);
	k->wrap_key_id = (uint32_t)sqlite3_column_int64(st, 7);
	if ((n = sq_col_blob(st, 6, k->wrapped, sizeof(k->wrapped))) < 0)
		return -1;
	k->wrapped_len = (size_t)n;
	return sq_col_blob(st, 2, k->pub, sizeof(k->pub)) == (int)sizeof(k->pub) ? 0 : -1;
}

int
sq_org_key_add(void *impl, const struct sp_org_key *k, const struct sp_audit *a,
    struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s;

	if (k->kid[0] == '\0')
		return sp_err_set(err, SP_ERR_INVALID, "store: key without an id");
	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	if ((s = sq_org_find(db, k->org_id, NULL, 1, NULL, err)) == SP_OK &&
	    (s = sq_prepare(db, "INSERT INTO org_keys(kid, org_id, pub, created, retired,"
	    " reply, wrapped, wrap_key_id) VALUES (?,?,?,?,?,?,?,?)", &st, err)) == SP_OK) {
		sq_bind_text(st, 1, k->kid);
		sqlite3_bind_int64(st, 2, k->org_id);
		sqlite3_bind_blob(st, 3, k->pub, sizeof(k->pub), SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 4, k->created);
		sqlite3_bind_int64(st, 5, k->retired);
		sqlite3_bind_int(st, 6, k->reply ? 1 : 0);
		if (k->wrapped_len > 0 && k->wrapped_len <= sizeof(k->wrapped))
			sqlite3_bind_blob(st, 7, k->wrapped, (int)k->wrapped_len, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 8, k->wrap_key_id);
		if ((s = sq_run(db, st, "add key", err)) == SP_ERR_EXISTS)
			sp_err_set(err, s, "a key with id %s exists", k->kid);
	}
	if (s == SP_OK)
		s = sq_audit_insert(db, a, err);
	return sq_end(db, s, err);
}

int
sq_org_key_get(void *impl, const char *kid, struct sp_org_key *out, struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s, rc;

	if ((s = sq_db(impl, &db, err)) != SP_OK)
		return s;
	if ((s = sq_kept(db, "SELECT " SQ_KEY_COLS " FROM org_keys"
	    " WHERE kid = ?", &st, err)) != SP_OK)
		return s;
	sq_bind_text(st, 1, kid);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW && org_key_from_row(st, out) != 0)
		rc = SQLITE_CORRUPT;
	sq_finish(st);
	if (rc == SQLITE_DONE)
		return sp_err_set(err, SP_ERR_NOTFOUND, "unknown signing key");
	return rc == SQLITE_ROW ? SP_OK : sq_status(db, rc, "signing key", err);
}

int
sq_org_key_retire(void *impl, int64_t org_id, const char *kid, int64_t now,
    const struct sp_audit *a, struct sp_err *err)
{
	return sq_org_mark(impl, "UPDATE org_keys SET retired = ?3 WHERE org_id = ?1"
	    " AND kid = ?2 AND retired = 0", org_id, kid, now, "retire key",
	    "the organisation has no live key %s", a, err);
}

int
sq_org_key_each(void *impl, int64_t org_id, int (*fn)(void *, const struct sp_org_key *),
    void *ctx, struct sp_err *err)
{
	struct sp_org_key k;
	sqlite3 *db;
	sqlite3_stmt *st;
	int s, rc;

	if ((s = sq_select_id(impl, "SELECT " SQ_KEY_COLS " FROM org_keys"
	    " WHERE org_id = ? ORDER BY created, rowid", org_id, &db, &st, err)) != SP_OK)
		return s;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (org_key_from_row(st, &k) != 0) {
			rc = SQLITE_CORRUPT;
			break;
		}
		if (fn(ctx, &k) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? SP_OK : sq_status(db, rc, "signing keys", err);
}

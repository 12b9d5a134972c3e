/*
 * store_sqlite.c - the SQLite backend of store.h: one database file
 * DIR/keyd.sqlite in WAL mode with synchronous=FULL (a commit is on disk
 * before it returns), foreign keys on, a busy timeout, and a schema_version
 * table.  Each thread opens its own connection lazily (a pthread key whose
 * destructor closes it), so a pool of server threads never serialises on
 * one connection; writers use BEGIN IMMEDIATE so lock waits happen up front.
 * SECURITY: every statement binds its parameters; tokens arrive here only as
 * SHA-256 hashes; the caller wraps key parts before they reach this file.
 */
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "store_internal.h"

#define SQ_SCHEMA_VERSION 1
#define SQ_BUSY_MS 5000

struct sq;

struct sq_conn {
	sqlite3 *db;
	struct sq *owner;
	struct sq_conn *prev, *next;
};

/* A standalone audit record waiting for the group commit (on the caller's
 * stack until done). */
struct sq_aq_item {
	const struct sp_audit *a;
	struct sq_aq_item *next;
	int done;
	int status;
	struct sp_err err;
};

struct sq {
	char *path;
	pthread_key_t key;
	pthread_mutex_t mu;
	struct sq_conn *conns;
	/* group commit of standalone audit records */
	pthread_mutex_t aq_mu;
	pthread_cond_t aq_cv;
	struct sq_aq_item *aq_head, *aq_tail;
	int aq_flushing;
};

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS orgs ("
    " id INTEGER PRIMARY KEY, name TEXT NOT NULL, domain TEXT NOT NULL,"
    " token_hash BLOB NOT NULL UNIQUE, created INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS envelopes ("
    " id TEXT PRIMARY KEY, org_id INTEGER NOT NULL REFERENCES orgs(id),"
    " sender TEXT NOT NULL, created INTEGER NOT NULL, expires INTEGER NOT NULL,"
    " retracted INTEGER NOT NULL DEFAULT 0, key_id INTEGER NOT NULL,"
    " wrapped BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS envelope_rcpt ("
    " envelope_id TEXT NOT NULL REFERENCES envelopes(id) ON DELETE CASCADE,"
    " pos INTEGER NOT NULL, email TEXT NOT NULL, PRIMARY KEY (envelope_id, pos));"
    "CREATE INDEX IF NOT EXISTS envelope_rcpt_email ON envelope_rcpt(email);"
    "CREATE TABLE IF NOT EXISTS accounts ("
    " email TEXT PRIMARY KEY, first_name TEXT NOT NULL, last_name TEXT NOT NULL,"
    " language TEXT NOT NULL, pw_hash TEXT NOT NULL, phrase TEXT NOT NULL,"
    " phrase_enabled INTEGER NOT NULL, q1 INTEGER NOT NULL, q2 INTEGER NOT NULL,"
    " q3 INTEGER NOT NULL, a1 TEXT NOT NULL, a2 TEXT NOT NULL, a3 TEXT NOT NULL,"
    " activated INTEGER NOT NULL DEFAULT 0, failed_logins INTEGER NOT NULL DEFAULT 0,"
    " created INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS activation_tokens ("
    " hash BLOB PRIMARY KEY, email TEXT NOT NULL, expires INTEGER NOT NULL,"
    " used INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS sessions ("
    " hash BLOB PRIMARY KEY,"
    " email TEXT NOT NULL REFERENCES accounts(email) ON DELETE CASCADE,"
    " csrf TEXT NOT NULL, created INTEGER NOT NULL, last_seen INTEGER NOT NULL,"
    " expires INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS audit ("
    " id INTEGER PRIMARY KEY, time INTEGER NOT NULL, event TEXT NOT NULL,"
    " actor TEXT, envelope_id TEXT, client TEXT, detail TEXT);"
    "CREATE TABLE IF NOT EXISTS throttle ("
    " key TEXT PRIMARY KEY, failures INTEGER NOT NULL, last_failed INTEGER NOT NULL,"
    " locked_until INTEGER NOT NULL);";

static int
sq_status(sqlite3 *db, int rc, const char *what, struct sp_err *err)
{
	int st;

	switch (rc & 0xff) {
	case SQLITE_OK: case SQLITE_DONE: case SQLITE_ROW:
		return SP_OK;
	case SQLITE_BUSY: case SQLITE_LOCKED:
		st = SP_ERR_RETRY;
		break;
	case SQLITE_CONSTRAINT:
		st = SP_ERR_EXISTS;
		break;
	case SQLITE_CANTOPEN: case SQLITE_NOTADB: case SQLITE_READONLY: case SQLITE_PERM:
		st = SP_ERR_CONFIG;
		break;
	case SQLITE_NOMEM:
		st = SP_ERR_NOMEM;
		break;
	default:
		st = SP_ERR_IO;
	}
	return sp_err_set(err, st, "store: %s: %s", what,
	    db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}

static void
sq_conn_destroy(void *p)
{
	struct sq_conn *c = p;
	struct sq *q = c->owner;

	pthread_mutex_lock(&q->mu);
	if (c->prev)
		c->prev->next = c->next;
	else
		q->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	pthread_mutex_unlock(&q->mu);
	sqlite3_close_v2(c->db);
	free(c);
}

static int
sq_exec(sqlite3 *db, const char *sql, struct sp_err *err)
{
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);

	return sq_status(db, rc, sql, err);
}

static int
sq_connect(const char *path, sqlite3 **out, struct sp_err *err)
{
	sqlite3 *db = NULL;
	int rc, st;

	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	    SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		st = sq_status(db, rc, "open", err);
		sqlite3_close_v2(db);
		return st == SP_ERR_RETRY ? st : SP_ERR_CONFIG;
	}
	sqlite3_busy_timeout(db, SQ_BUSY_MS);
	if ((st = sq_exec(db, "PRAGMA foreign_keys=ON", err)) != SP_OK ||
	    (st = sq_exec(db, "PRAGMA synchronous=FULL", err)) != SP_OK) {
		sqlite3_close_v2(db);
		return st;
	}
	*out = db;
	return SP_OK;
}

/* This thread's connection, opened on first use. */
static int
sq_db(struct sq *q, sqlite3 **db, struct sp_err *err)
{
	struct sq_conn *c = pthread_getspecific(q->key);
	int st;

	if (c != NULL) {
		*db = c->db;
		return SP_OK;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	if ((st = sq_connect(q->path, &c->db, err)) != SP_OK) {
		free(c);
		return st;
	}
	c->owner = q;
	pthread_mutex_lock(&q->mu);
	c->next = q->conns;
	if (q->conns)
		q->conns->prev = c;
	q->conns = c;
	pthread_mutex_unlock(&q->mu);
	if (pthread_setspecific(q->key, c) != 0) {
		sq_conn_destroy(c);
		return sp_err_set(err, SP_ERR_NOMEM, "store: thread key");
	}
	*db = c->db;
	return SP_OK;
}

static int
sq_schema(sqlite3 *db, struct sp_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc, s, version = -1;

	if ((s = sq_exec(db, "PRAGMA journal_mode=WAL", err)) != SP_OK)
		return s;
	if ((s = sq_exec(db, "BEGIN IMMEDIATE", err)) != SP_OK)
		return s;
	if ((s = sq_exec(db, schema_sql, err)) != SP_OK)
		goto fail;
	rc = sqlite3_prepare_v2(db, "SELECT max(version) FROM schema_version", -1, &st, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW &&
	    sqlite3_column_type(st, 0) != SQLITE_NULL)
		version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_OK && rc != SQLITE_DONE) {
		s = sq_status(db, rc, "schema version", err);
		goto fail;
	}
	if (version > SQ_SCHEMA_VERSION) {
		s = sp_err_set(err, SP_ERR_CONFIG,
		    "store: schema version %d is newer than this program (%d)",
		    version, SQ_SCHEMA_VERSION);
		goto fail;
	}
	if (version < 0 && (s = sq_exec(db,
	    "INSERT INTO schema_version(version) VALUES (1)", err)) != SP_OK)
		goto fail;
	return sq_exec(db, "COMMIT", err);
fail:
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return s;
}

static int
sq_open(void **impl, const char *dir, struct sp_err *err)
{
	struct sq *q;
	sqlite3 *db;
	size_t n;
	int st;

	if (dir == NULL || *dir == '\0')
		return sp_err_set(err, SP_ERR_CONFIG, "store: no data directory");
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return sp_err_set(err, SP_ERR_CONFIG, "store: %s: %s", dir, strerror(errno));
	if ((q = calloc(1, sizeof(*q))) == NULL)
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	n = strlen(dir) + sizeof("/keyd.sqlite");
	if ((q->path = malloc(n)) == NULL) {
		free(q);
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	}
	snprintf(q->path, n, "%s/keyd.sqlite", dir);
	pthread_mutex_init(&q->mu, NULL);
	pthread_mutex_init(&q->aq_mu, NULL);
	pthread_cond_init(&q->aq_cv, NULL);
	if (pthread_key_create(&q->key, sq_conn_destroy) != 0) {
		pthread_mutex_destroy(&q->mu);
		pthread_mutex_destroy(&q->aq_mu);
		pthread_cond_destroy(&q->aq_cv);
		free(q->path);
		free(q);
		return sp_err_set(err, SP_ERR_NOMEM, "store: thread key");
	}
	*impl = q;
	if ((st = sq_db(q, &db, err)) != SP_OK || (st = sq_schema(db, err)) != SP_OK) {
		sp_store_sqlite_ops.close(q);
		*impl = NULL;
		return st;
	}
	chmod(q->path, 0600);
	return SP_OK;
}

static void
sq_close(void *impl)
{
	struct sq *q = impl;
	struct sq_conn *c, *next;

	if (q == NULL)
		return;
	pthread_key_delete(q->key);
	for (c = q->conns; c != NULL; c = next) {
		next = c->next;
		sqlite3_close_v2(c->db);
		free(c);
	}
	pthread_mutex_destroy(&q->mu);
	pthread_mutex_destroy(&q->aq_mu);
	pthread_cond_destroy(&q->aq_cv);
	free(q->path);
	free(q);
}

/* --- small helpers ------------------------------------------------------- */

static int
sq_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st, struct sp_err *err)
{
	int rc = sqlite3_prepare_v2(db, sql, -1, st, NULL);

	return sq_status(db, rc, "prepare", err);
}

static void
bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s == NULL)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
}

static void
col_text(sqlite3_stmt *st, int i, char *out, size_t outsz)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	snprintf(out, outsz, "%s", t ? (const char *)t : "");
}

/* Step a statement that returns no rows; finalizes it. */
static int
sq_run(sqlite3 *db, sqlite3_stmt *st, const char *what, struct sp_err *err)
{
	int rc = sqlite3_step(st);

	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? SP_OK : sq_status(db, rc, what, err);
}

static int
sq_begin(sqlite3 *db, struct sp_err *err)
{
	return sq_exec(db, "BEGIN IMMEDIATE", err);
}

static int
sq_end(sqlite3 *db, int st, struct sp_err *err)
{
	if (st == SP_OK)
		st = sq_exec(db, "COMMIT", err);
	if (st != SP_OK)
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return st;
}

static int
sq_audit_insert(sqlite3 *db, const struct sp_audit *a, struct sp_err *err)
{
	sqlite3_stmt *st;
	int s;

	if (a == NULL)
		return SP_OK;
	if ((s = sq_prepare(db, "INSERT INTO audit(time, event, actor, envelope_id, client,"
	    " detail) VALUES (?,?,?,?,?,?)", &st, err)) != SP_OK)
		return s;
	sqlite3_bind_int64(st, 1, a->time ? a->time : (int64_t)time(NULL));
	bind_text(st, 2, a->event ? a->event : "event");
	bind_text(st, 3, a->actor);
	bind_text(st, 4, a->envelope);
	bind_text(st, 5, a->client);
	bind_text(st, 6, a->detail);
	return sq_run(db, st, "audit", err);
}

/* --- audit --------------------------------------------------------------- */

/*
 * Standalone audit records (releases, refusals) are committed in groups: a
 * caller queues its record; the first caller that finds no commit running
 * takes the whole queue and writes it in one transaction (one fsync), the
 * others wait until theirs is in.  Every caller returns only after its
 * record is durable.
 */
static int
sq_audit(void *impl, const struct sp_audit *a, struct sp_err *err)
{
	struct sq *q = impl;
	struct sq_aq_item me, *batch, *it, *next;
	sqlite3 *db = NULL;
	struct sp_err berr = {{0}};
	int st;

	memset(&me, 0, sizeof(me));
	me.a = a;
	pthread_mutex_lock(&q->aq_mu);
	if (q->aq_tail)
		q->aq_tail->next = &me;
	else
		q->aq_head = &me;
	q->aq_tail = &me;
	while (!me.done) {
		if (q->aq_flushing) {
			pthread_cond_wait(&q->aq_cv, &q->aq_mu);
			continue;
		}
		q->aq_flushing = 1;
		batch = q->aq_head;
		q->aq_head = q->aq_tail = NULL;
		pthread_mutex_unlock(&q->aq_mu);
		if ((st = sq_db(q, &db, &berr)) == SP_OK && (st = sq_begin(db, &berr)) == SP_OK) {
			for (it = batch; it != NULL && st == SP_OK; it = it->next)
				st = sq_audit_insert(db, it->a, &berr);
			st = sq_end(db, st, &berr);
		}
		pthread_mutex_lock(&q->aq_mu);
		for (it = batch; it != NULL; it = next) {
			next = it->next;
			it->status = st;
			it->err = berr;
			it->done = 1;
		}
		q->aq_flushing = 0;
		pthread_cond_broadcast(&q->aq_cv);
	}
	pthread_mutex_unlock(&q->aq_mu);
	if (me.status != SP_OK && err != NULL)
		*err = me.err;
	return me.status;
}

static int
sq_audit_each(void *impl, const char *event, int (*fn)(void *, const struct sp_audit *),
    void *ctx, struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	struct sp_audit a;
	int s, rc;

	if ((s = sq_db(impl, &db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "SELECT time, event, actor, envelope_id, client, detail"
	    " FROM audit WHERE ?1 IS NULL OR event = ?1 ORDER BY id", &st, err)) != SP_OK)
		return s;
	bind_text(st, 1, event);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		a.time = sqlite3_column_int64(st, 0);
		a.event = (const char *)sqlite3_column_text(st, 1);
		a.actor = (const char *)sqlite3_column_text(st, 2);
		a.envelope = (const char *)sqlite3_column_text(st, 3);
		a.client = (const char *)sqlite3_column_text(st, 4);
		a.detail = (const char *)sqlite3_column_text(st, 5);
		if (fn(ctx, &a) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? SP_OK : sq_status(db, rc, "audit list", err);
}

/* --- organisations ------------------------------------------------------- */

static int
sq_org_add(void *impl, const char *name, const char *domain,
    const unsigned char *token_hash, int64_t now, int64_t *id, struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	struct sp_audit a = {now, "org-add", NULL, NULL, NULL, name};
	int s;

	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "INSERT INTO orgs(name, domain, token_hash, created)"
	    " VALUES (?,?,?,?)", &st, err)) == SP_OK) {
		bind_text(st, 1, name);
		bind_text(st, 2, domain);
		sqlite3_bind_blob(st, 3, token_hash, SP_SHA256_LEN, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 4, now);
		s = sq_run(db, st, "add organisation", err);
	}
	if (s == SP_OK && id != NULL)
		*id = sqlite3_last_insert_rowid(db);
	if (s == SP_OK)
		s = sq_audit_insert(db, &a, err);
	return sq_end(db, s, err);
}

static void
org_from_row(sqlite3_stmt *st, struct sp_org *o)
{
	o->id = sqlite3_column_int64(st, 0);
	col_text(st, 1, o->name, sizeof(o->name));
	col_text(st, 2, o->domain, sizeof(o->domain));
	o->created = sqlite3_column_int64(st, 3);
}

static int
sq_org_by_token(void *impl, const unsigned char *token_hash, struct sp_org *out,
    struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s, rc;

	if ((s = sq_db(impl, &db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "SELECT id, name, domain, created FROM orgs"
	    " WHERE token_hash = ?", &st, err)) != SP_OK)
		return s;
	sqlite3_bind_blob(st, 1, token_hash, SP_SHA256_LEN, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		org_from_row(st, out);
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE)
		return sp_err_set(err, SP_ERR_NOTFOUND, "unknown organisation token");
	return rc == SQLITE_ROW ? SP_OK : sq_status(db, rc, "organisation", err);
}

static int
sq_org_each(void *impl, int (*fn)(void *, const struct sp_org *), void *ctx,
    struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	struct sp_org o;
	int s, rc;

	if ((s = sq_db(impl, &db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "SELECT id, name, domain, created FROM orgs ORDER BY id",
	    &st, err)) != SP_OK)
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

/* --- envelopes ----------------------------------------------------------- */

static int
sq_envelope_add(void *impl, const struct sp_envelope_rec *e, const struct sp_audit *a,
    struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	size_t i;
	int s;

	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "INSERT INTO envelopes(id, org_id, sender, created,"
	    " expires, retracted, key_id, wrapped) VALUES (?,?,?,?,?,0,?,?)", &st, err)) == SP_OK) {
		bind_text(st, 1, e->id);
		sqlite3_bind_int64(st, 2, e->org_id);
		bind_text(st, 3, e->from);
		sqlite3_bind_int64(st, 4, e->created);
		sqlite3_bind_int64(st, 5, e->expires);
		sqlite3_bind_int64(st, 6, e->key_id);
		sqlite3_bind_blob(st, 7, e->wrapped, (int)e->wrapped_len, SQLITE_TRANSIENT);
		s = sq_run(db, st, "add envelope", err);
	}
	for (i = 0; s == SP_OK && i < e->nrcpt; i++) {
		if ((s = sq_prepare(db, "INSERT INTO envelope_rcpt(envelope_id, pos, email)"
		    " VALUES (?,?,?)", &st, err)) != SP_OK)
			break;
		bind_text(st, 1, e->id);
		sqlite3_bind_int64(st, 2, (int64_t)i);
		bind_text(st, 3, e->rcpt[i]);
		s = sq_run(db, st, "add recipient", err);
	}
	if (s == SP_OK)
		s = sq_audit_insert(db, a, err);
	return sq_end(db, s, err);
}

static int
sq_envelope_get(void *impl, const char *id, struct sp_envelope_rec *out,
    struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	const void *blob;
	char **v;
	int s, rc, n;

	memset(out, 0, sizeof(*out));
	if ((s = sq_db(impl, &db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "SELECT e.id, e.org_id, o.name, o.domain, e.sender,"
	    " e.created, e.expires, e.retracted, e.key_id, e.wrapped FROM envelopes e"
	    " JOIN orgs o ON o.id = e.org_id WHERE e.id = ?", &st, err)) != SP_OK)
		return s;
	bind_text(st, 1, id);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		col_text(st, 0, out->id, sizeof(out->id));
		out->org_id = sqlite3_column_int64(st, 1);
		col_text(st, 2, out->org_name, sizeof(out->org_name));
		col_text(st, 3, out->org_domain, sizeof(out->org_domain));
		col_text(st, 4, out->from, sizeof(out->from));
		out->created = sqlite3_column_int64(st, 5);
		out->expires = sqlite3_column_int64(st, 6);
		out->retracted = sqlite3_column_int(st, 7);
		out->key_id = (uint32_t)sqlite3_column_int64(st, 8);
		blob = sqlite3_column_blob(st, 9);
		n = sqlite3_column_bytes(st, 9);
		if (blob == NULL || n <= 0 || (size_t)n > sizeof(out->wrapped))
			rc = SQLITE_CORRUPT;
		else {
			memcpy(out->wrapped, blob, (size_t)n);
			out->wrapped_len = (size_t)n;
		}
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE)
		return sp_err_set(err, SP_ERR_NOTFOUND, "unknown envelope");
	if (rc != SQLITE_ROW)
		return sq_status(db, rc, "envelope", err);
	if ((s = sq_prepare(db, "SELECT email FROM envelope_rcpt WHERE envelope_id = ?"
	    " ORDER BY pos", &st, err)) != SP_OK)
		return s;
	bind_text(st, 1, id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(st, 0);

		if ((v = realloc(out->rcpt, (out->nrcpt + 1) * sizeof(*v))) == NULL) {
			rc = SQLITE_NOMEM;
			break;
		}
		out->rcpt = v;
		if ((v[out->nrcpt] = strdup(t ? (const char *)t : "")) == NULL) {
			rc = SQLITE_NOMEM;
			break;
		}
		out->nrcpt++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		sp_envelope_rec_clear(out);
		return rc == SQLITE_NOMEM ? sp_err_set(err, SP_ERR_NOMEM, "out of memory")
		    : sq_status(db, rc, "recipients", err);
	}
	return SP_OK;
}

static int
sq_envelope_retract(void *impl, const char *id, const struct sp_audit *a,
    struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s;

	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "UPDATE envelopes SET retracted = 1 WHERE id = ?",
	    &st, err)) == SP_OK) {
		bind_text(st, 1, id);
		s = sq_run(db, st, "retract", err);
	}
	if (s == SP_OK && sqlite3_changes(db) == 0)
		s = sp_err_set(err, SP_ERR_NOTFOUND, "unknown envelope");
	if (s == SP_OK)
		s = sq_audit_insert(db, a, err);
	return sq_end(db, s, err);
}

/* --- accounts ------------------------------------------------------------ */

static int
sq_account_create(void *impl, const struct sp_account *acc,
    const unsigned char *token_hash, int64_t token_expires, const struct sp_audit *a,
    struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s, i;

	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "INSERT INTO accounts(email, first_name, last_name,"
	    " language, pw_hash, phrase, phrase_enabled, q1, q2, q3, a1, a2, a3,"
	    " activated, failed_logins, created)"
	    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,0,?)", &st, err)) == SP_OK) {
		bind_text(st, 1, acc->email);
		bind_text(st, 2, acc->first_name);
		bind_text(st, 3, acc->last_name);
		bind_text(st, 4, acc->language);
		bind_text(st, 5, acc->pw_hash);
		bind_text(st, 6, acc->phrase);
		sqlite3_bind_int(st, 7, acc->phrase_enabled ? 1 : 0);
		for (i = 0; i < 3; i++) {
			sqlite3_bind_int(st, 8 + i, acc->question[i]);
			bind_text(st, 11 + i, acc->answer_hash[i]);
		}
		sqlite3_bind_int(st, 14, acc->activated ? 1 : 0);
		sqlite3_bind_int64(st, 15, acc->created ? acc->created : (int64_t)time(NULL));
		s = sq_run(db, st, "add account", err);
		if (s == SP_ERR_EXISTS)
			sp_err_set(err, s, "an account with this address exists");
	}
	if (s == SP_OK && token_hash != NULL && (s = sq_prepare(db, "INSERT INTO"
	    " activation_tokens(hash, email, expires) VALUES (?,?,?)", &st, err)) == SP_OK) {
		sqlite3_bind_blob(st, 1, token_hash, SP_SHA256_LEN, SQLITE_TRANSIENT);
		bind_text(st, 2, acc->email);
		sqlite3_bind_int64(st, 3, token_expires);
		s = sq_run(db, st, "add activation token", err);
	}
	if (s == SP_OK)
		s = sq_audit_insert(db, a, err);
	return sq_end(db, s, err);
}

static int
sq_account_get(void *impl, const char *email, struct sp_account *out,
    struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s, rc, i;

	memset(out, 0, sizeof(*out));
	if ((s = sq_db(impl, &db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "SELECT email, first_name, last_name, language, pw_hash,"
	    " phrase, phrase_enabled, q1, q2, q3, a1, a2, a3, activated, failed_logins,"
	    " created FROM accounts WHERE email = ?", &st, err)) != SP_OK)
		return s;
	bind_text(st, 1, email);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		col_text(st, 0, out->email, sizeof(out->email));
		col_text(st, 1, out->first_name, sizeof(out->first_name));
		col_text(st, 2, out->last_name, sizeof(out->last_name));
		col_text(st, 3, out->language, sizeof(out->language));
		col_text(st, 4, out->pw_hash, sizeof(out->pw_hash));
		col_text(st, 5, out->phrase, sizeof(out->phrase));
		out->phrase_enabled = sqlite3_column_int(st, 6);
		for (i = 0; i < 3; i++) {
			out->question[i] = sqlite3_column_int(st, 7 + i);
			col_text(st, 10 + i, out->answer_hash[i], sizeof(out->answer_hash[i]));
		}
		out->activated = sqlite3_column_int(st, 13);
		out->failed_logins = sqlite3_column_int(st, 14);
		out->created = sqlite3_column_int64(st, 15);
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE)
		return sp_err_set(err, SP_ERR_NOTFOUND, "no such account");
	return rc == SQLITE_ROW ? SP_OK : sq_status(db, rc, "account", err);
}

static int
sq_login_failed(void *impl, const char *email, const struct sp_audit *a,
    struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s;

	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "UPDATE accounts SET failed_logins = failed_logins + 1"
	    " WHERE email = ?", &st, err)) == SP_OK) {
		bind_text(st, 1, email);
		s = sq_run(db, st, "count failure", err);
	}
	if (s == SP_OK)
		s = sq_audit_insert(db, a, err);
	return sq_end(db, s, err);
}

/* --- activation tokens --------------------------------------------------- */

static int
sq_activation_add(void *impl, const unsigned char *hash, const char *email,
    int64_t expires, struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s;

	if ((s = sq_db(impl, &db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "INSERT INTO activation_tokens(hash, email, expires)"
	    " VALUES (?,?,?)", &st, err)) != SP_OK)
		return s;
	sqlite3_bind_blob(st, 1, hash, SP_SHA256_LEN, SQLITE_TRANSIENT);
	bind_text(st, 2, email);
	sqlite3_bind_int64(st, 3, expires);
	return sq_run(db, st, "add activation token", err);
}

/* Look the token up inside the caller's transaction (or none). */
static int
sq_token_check(sqlite3 *db, const unsigned char *hash, int64_t now, char *email,
    struct sp_err *err)
{
	sqlite3_stmt *st;
	int s, rc, used = 0;
	int64_t expires = 0;

	if ((s = sq_prepare(db, "SELECT email, expires, used FROM activation_tokens"
	    " WHERE hash = ?", &st, err)) != SP_OK)
		return s;
	sqlite3_bind_blob(st, 1, hash, SP_SHA256_LEN, SQLITE_TRANSIENT);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		col_text(st, 0, email, SP_STORE_EMAIL_MAX + 1);
		expires = sqlite3_column_int64(st, 1);
		used = sqlite3_column_int(st, 2);
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE)
		return sp_err_set(err, SP_ERR_NOTFOUND, "unknown activation link");
	if (rc != SQLITE_ROW)
		return sq_status(db, rc, "activation token", err);
	if (used)
		return sp_err_set(err, SP_ERR_EXPIRED, "this activation link was already used");
	if (expires <= now)
		return sp_err_set(err, SP_ERR_EXPIRED, "this activation link has expired");
	return SP_OK;
}

static int
sq_activation_peek(void *impl, const unsigned char *hash, int64_t now, char *email,
    struct sp_err *err)
{
	sqlite3 *db;
	int s;

	if ((s = sq_db(impl, &db, err)) != SP_OK)
		return s;
	return sq_token_check(db, hash, now, email, err);
}

static int
sq_activation_use(void *impl, const unsigned char *hash, int64_t now, char *email,
    const struct sp_audit *a, struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	struct sp_audit aa;
	int s;

	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	if ((s = sq_token_check(db, hash, now, email, err)) == SP_OK &&
	    (s = sq_prepare(db, "UPDATE activation_tokens SET used = 1 WHERE hash = ?",
	    &st, err)) == SP_OK) {
		sqlite3_bind_blob(st, 1, hash, SP_SHA256_LEN, SQLITE_TRANSIENT);
		s = sq_run(db, st, "use token", err);
	}
	if (s == SP_OK && (s = sq_prepare(db, "UPDATE accounts SET activated = 1"
	    " WHERE email = ?", &st, err)) == SP_OK) {
		bind_text(st, 1, email);
		s = sq_run(db, st, "activate", err);
	}
	if (s == SP_OK && sqlite3_changes(db) == 0)
		s = sp_err_set(err, SP_ERR_NOTFOUND, "no account for this activation link");
	if (s == SP_OK && a != NULL) {
		aa = *a;
		if (aa.actor == NULL)
			aa.actor = email;
		s = sq_audit_insert(db, &aa, err);
	}
	return sq_end(db, s, err);
}

/* --- sessions ------------------------------------------------------------ */

static int
sq_session_create(void *impl, const struct sp_session *ss, const struct sp_audit *a,
    struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s;

	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "INSERT INTO sessions(hash, email, csrf, created,"
	    " last_seen, expires) VALUES (?,?,?,?,?,?)", &st, err)) == SP_OK) {
		sqlite3_bind_blob(st, 1, ss->hash, SP_SHA256_LEN, SQLITE_TRANSIENT);
		bind_text(st, 2, ss->email);
		bind_text(st, 3, ss->csrf);
		sqlite3_bind_int64(st, 4, ss->created);
		sqlite3_bind_int64(st, 5, ss->last_seen);
		sqlite3_bind_int64(st, 6, ss->expires);
		s = sq_run(db, st, "add session", err);
	}
	if (s == SP_OK && (s = sq_prepare(db, "UPDATE accounts SET failed_logins = 0"
	    " WHERE email = ?", &st, err)) == SP_OK) {
		bind_text(st, 1, ss->email);
		s = sq_run(db, st, "reset failures", err);
	}
	if (s == SP_OK && (s = sq_prepare(db, "DELETE FROM sessions WHERE expires <= ?",
	    &st, err)) == SP_OK) {
		sqlite3_bind_int64(st, 1, ss->created);
		s = sq_run(db, st, "expire sessions", err);
	}
	if (s == SP_OK)
		s = sq_audit_insert(db, a, err);
	return sq_end(db, s, err);
}

/* last_seen is written only when it is this many seconds old, so that a
 * busy session does not cost a write (and an fsync) per request. */
#define SQ_SESSION_TOUCH 30

static int
sq_session_use(void *impl, const unsigned char *hash, int64_t now, int64_t idle,
    struct sp_session *out, struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s, rc;

	memset(out, 0, sizeof(*out));
	if ((s = sq_db(impl, &db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "SELECT email, csrf, created, last_seen, expires FROM sessions"
	    " WHERE hash = ?1 AND expires > ?2 AND last_seen + ?3 > ?2", &st, err)) != SP_OK)
		return s;
	sqlite3_bind_blob(st, 1, hash, SP_SHA256_LEN, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int64(st, 3, idle);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memcpy(out->hash, hash, SP_SHA256_LEN);
		col_text(st, 0, out->email, sizeof(out->email));
		col_text(st, 1, out->csrf, sizeof(out->csrf));
		out->created = sqlite3_column_int64(st, 2);
		out->last_seen = sqlite3_column_int64(st, 3);
		out->expires = sqlite3_column_int64(st, 4);
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE)
		return sp_err_set(err, SP_ERR_NOTFOUND, "no such session");
	if (rc != SQLITE_ROW)
		return sq_status(db, rc, "session", err);
	if (now - out->last_seen < SQ_SESSION_TOUCH)
		return SP_OK;
	if ((s = sq_prepare(db, "UPDATE sessions SET last_seen = ?2 WHERE hash = ?1"
	    " AND last_seen < ?2", &st, err)) != SP_OK)
		return s;
	sqlite3_bind_blob(st, 1, hash, SP_SHA256_LEN, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, now);
	if ((s = sq_run(db, st, "session", err)) == SP_OK)
		out->last_seen = now;
	return s;
}

static int
sq_session_delete(void *impl, const unsigned char *hash, const struct sp_audit *a,
    struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s;

	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "DELETE FROM sessions WHERE hash = ?", &st, err)) == SP_OK) {
		sqlite3_bind_blob(st, 1, hash, SP_SHA256_LEN, SQLITE_TRANSIENT);
		s = sq_run(db, st, "delete session", err);
	}
	if (s == SP_OK && sqlite3_changes(db) == 0)
		s = sp_err_set(err, SP_ERR_NOTFOUND, "no such session");
	if (s == SP_OK)
		s = sq_audit_insert(db, a, err);
	return sq_end(db, s, err);
}

/* --- throttling ---------------------------------------------------------- */

#define SQ_THROTTLE_WINDOW 3600

static int
sq_throttle_check(void *impl, const char *key, int64_t now, int64_t *locked_until,
    struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s, rc;

	*locked_until = 0;
	if ((s = sq_db(impl, &db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "SELECT locked_until FROM throttle WHERE key = ?"
	    " AND locked_until > ?", &st, err)) != SP_OK)
		return s;
	bind_text(st, 1, key);
	sqlite3_bind_int64(st, 2, now);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		*locked_until = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? SP_OK : sq_status(db, rc, "throttle", err);
}

static int
sq_throttle_fail(void *impl, const char *key, int64_t now,
    const struct sp_throttle_policy *p, int64_t *locked_until, struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t failures = 0, last = 0, lock = 0, d;
	int s, rc;

	*locked_until = 0;
	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "SELECT failures, last_failed FROM throttle WHERE key = ?",
	    &st, err)) == SP_OK) {
		bind_text(st, 1, key);
		if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			failures = sqlite3_column_int64(st, 0);
			last = sqlite3_column_int64(st, 1);
		}
		sqlite3_finalize(st);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			s = sq_status(db, rc, "throttle", err);
	}
	if (s == SP_OK) {
		if (last + SQ_THROTTLE_WINDOW <= now)
			failures = 0;
		failures++;
		if (failures > p->free) {
			d = failures - p->free - 1;
			d = d > 20 ? p->max : (int64_t)p->base << d;
			lock = now + (d < p->max ? d : p->max);
		}
		s = sq_prepare(db, "INSERT INTO throttle(key, failures, last_failed, locked_until)"
		    " VALUES (?1, ?2, ?3, ?4) ON CONFLICT(key) DO UPDATE SET failures = ?2,"
		    " last_failed = ?3, locked_until = ?4", &st, err);
	}
	if (s == SP_OK) {
		bind_text(st, 1, key);
		sqlite3_bind_int64(st, 2, failures);
		sqlite3_bind_int64(st, 3, now);
		sqlite3_bind_int64(st, 4, lock);
		s = sq_run(db, st, "throttle", err);
	}
	if ((s = sq_end(db, s, err)) == SP_OK)
		*locked_until = lock;
	return s;
}

static int
sq_throttle_reset(void *impl, const char *key, struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s;

	if ((s = sq_db(impl, &db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "DELETE FROM throttle WHERE key = ?", &st, err)) != SP_OK)
		return s;
	bind_text(st, 1, key);
	return sq_run(db, st, "throttle", err);
}

const struct sp_store_ops sp_store_sqlite_ops = {
	.name = "sqlite",
	.open = sq_open,
	.close = sq_close,
	.audit = sq_audit,
	.audit_each = sq_audit_each,
	.org_add = sq_org_add,
	.org_by_token = sq_org_by_token,
	.org_each = sq_org_each,
	.envelope_add = sq_envelope_add,
	.envelope_get = sq_envelope_get,
	.envelope_retract = sq_envelope_retract,
	.account_create = sq_account_create,
	.account_get = sq_account_get,
	.login_failed = sq_login_failed,
	.activation_add = sq_activation_add,
	.activation_peek = sq_activation_peek,
	.activation_use = sq_activation_use,
	.session_create = sq_session_create,
	.session_use = sq_session_use,
	.session_delete = sq_session_delete,
	.throttle_check = sq_throttle_check,
	.throttle_fail = sq_throttle_fail,
	.throttle_reset = sq_throttle_reset,
};

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

#define SQ_SCHEMA_VERSION 2
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

/* Schema version 1, as it was created before version 2; a fresh database
 * gets it and then the same v1 -> v2 migration as an old one, so both end
 * with the same schema. */
static const char schema_v1_sql[] =
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

/*
 * Version 1 -> 2: pending registrations leave the accounts table for their
 * own (several per address, the newest activation wins); activation tokens
 * become kind 1 of a generic single-use token table; accounts gain the
 * password change time and TOTP; sessions the time of the last password
 * entry; recovery codes and passkeys get tables.  Migrated registrations
 * have no browser binding (bind_hash NULL, read as all zero).
 */
static const char migrate_v2_sql[] =
    "CREATE TABLE pending ("
    " id INTEGER PRIMARY KEY, email TEXT NOT NULL, first_name TEXT NOT NULL,"
    " last_name TEXT NOT NULL, language TEXT NOT NULL, pw_hash TEXT NOT NULL,"
    " phrase TEXT NOT NULL, phrase_enabled INTEGER NOT NULL, q1 INTEGER NOT NULL,"
    " q2 INTEGER NOT NULL, q3 INTEGER NOT NULL, a1 TEXT NOT NULL, a2 TEXT NOT NULL,"
    " a3 TEXT NOT NULL, bind_hash BLOB, created INTEGER NOT NULL);"
    "CREATE INDEX pending_email ON pending(email);"
    "CREATE TABLE tokens ("
    " hash BLOB PRIMARY KEY, kind INTEGER NOT NULL, email TEXT NOT NULL,"
    " ref INTEGER NOT NULL DEFAULT 0, expires INTEGER NOT NULL,"
    " used INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX tokens_ref ON tokens(kind, ref);"
    "CREATE INDEX tokens_expires ON tokens(expires);"
    "INSERT INTO pending(email, first_name, last_name, language, pw_hash, phrase,"
    " phrase_enabled, q1, q2, q3, a1, a2, a3, bind_hash, created)"
    " SELECT email, first_name, last_name, language, pw_hash, phrase, phrase_enabled,"
    " q1, q2, q3, a1, a2, a3, NULL, created FROM accounts WHERE activated = 0"
    " ORDER BY created, email;"
    "INSERT INTO tokens(hash, kind, email, ref, expires, used)"
    " SELECT t.hash, 1, t.email, p.id, t.expires, t.used FROM activation_tokens t"
    " JOIN pending p ON p.email = t.email;"
    "DELETE FROM accounts WHERE activated = 0;"
    "DROP TABLE activation_tokens;"
    "ALTER TABLE accounts ADD COLUMN pw_changed INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE accounts ADD COLUMN totp_wrapped BLOB;"
    "ALTER TABLE accounts ADD COLUMN totp_key_id INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE accounts ADD COLUMN totp_last_step INTEGER NOT NULL DEFAULT 0;"
    "UPDATE accounts SET pw_changed = created;"
    "ALTER TABLE sessions ADD COLUMN auth_time INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE recovery_codes ("
    " email TEXT NOT NULL REFERENCES accounts(email) ON DELETE CASCADE,"
    " hash BLOB NOT NULL, used INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (email, hash));"
    "CREATE TABLE passkeys ("
    " cred_id BLOB PRIMARY KEY,"
    " email TEXT NOT NULL REFERENCES accounts(email) ON DELETE CASCADE,"
    " pubkey BLOB NOT NULL, alg INTEGER NOT NULL, sign_count INTEGER NOT NULL DEFAULT 0,"
    " name TEXT NOT NULL, created INTEGER NOT NULL, last_used INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX passkeys_email ON passkeys(email);"
    "DELETE FROM schema_version;"
    "INSERT INTO schema_version(version) VALUES (2);";

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
	if ((s = sq_exec(db, "CREATE TABLE IF NOT EXISTS schema_version"
	    " (version INTEGER NOT NULL)", err)) != SP_OK)
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
	if (version < 0) {
		if ((s = sq_exec(db, schema_v1_sql, err)) != SP_OK)
			goto fail;
		version = 1;
	}
	if (version < 2 && (s = sq_exec(db, migrate_v2_sql, err)) != SP_OK)
		goto fail;
	if ((s = sq_exec(db, "COMMIT", err)) == SP_OK)
		return SP_OK;
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

static void
bind_hash(sqlite3_stmt *st, int i, const unsigned char *h)
{
	if (h == NULL)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_blob(st, i, h, SP_SHA256_LEN, SQLITE_TRANSIENT);
}

/* Copy blob column i into out: its length, or -1 when it does not fit. */
static int
col_blob(sqlite3_stmt *st, int i, unsigned char *out, size_t outsz)
{
	const void *b = sqlite3_column_blob(st, i);
	int n = sqlite3_column_bytes(st, i);

	if (b == NULL || n <= 0)
		return 0;
	if ((size_t)n > outsz)
		return -1;
	memcpy(out, b, (size_t)n);
	return n;
}

/* Step a statement that returns at most one row (finalizes it): *found
 * tells whether it did, *v (may be NULL) gets its first column. */
static int
sq_one(sqlite3 *db, sqlite3_stmt *st, int64_t *v, int *found, const char *what,
    struct sp_err *err)
{
	int rc = sqlite3_step(st);

	*found = rc == SQLITE_ROW;
	if (rc == SQLITE_ROW && v != NULL)
		*v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? SP_OK : sq_status(db, rc, what, err);
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
	struct sp_audit a = {now, "org-add", NULL, NULL, NULL, name, 0};
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

/* Columns 0-12 of an account or pending row: the profile. */
#define SQ_PROFILE_COLS "email, first_name, last_name, language, pw_hash, phrase," \
	" phrase_enabled, q1, q2, q3, a1, a2, a3"

static void
profile_bind(sqlite3_stmt *st, const struct sp_account *acc)
{
	int i;

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
}

static void
profile_from_row(sqlite3_stmt *st, struct sp_account *out)
{
	int i;

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
}

static int
sq_account_exists(sqlite3 *db, const char *email, int *found, struct sp_err *err)
{
	sqlite3_stmt *st;
	int s;

	if ((s = sq_prepare(db, "SELECT 1 FROM accounts WHERE email = ?", &st, err)) != SP_OK)
		return s;
	bind_text(st, 1, email);
	return sq_one(db, st, NULL, found, "account", err);
}

/* Drop email's pending registrations except the `keep` newest, with their
 * activation tokens (except the token `spare`, may be NULL). */
static int
sq_pending_drop(sqlite3 *db, const char *email, int keep, const unsigned char *spare,
    struct sp_err *err)
{
	static const char *const sql[] = {
		"DELETE FROM tokens WHERE kind = 1 AND (?3 IS NULL OR hash != ?3) AND ref IN"
		" (SELECT id FROM pending WHERE email = ?1 ORDER BY id DESC LIMIT -1 OFFSET ?2)",
		"DELETE FROM pending WHERE id IN"
		" (SELECT id FROM pending WHERE email = ?1 ORDER BY id DESC LIMIT -1 OFFSET ?2)",
	};
	sqlite3_stmt *st;
	size_t i;
	int s = SP_OK;

	for (i = 0; s == SP_OK && i < sizeof(sql) / sizeof(sql[0]); i++) {
		if ((s = sq_prepare(db, sql[i], &st, err)) != SP_OK)
			break;
		bind_text(st, 1, email);
		sqlite3_bind_int(st, 2, keep);
		if (i == 0)
			bind_hash(st, 3, spare);
		s = sq_run(db, st, "drop pending registrations", err);
	}
	return s;
}

/* Tokens are kept a day past their expiry (so that a late click still
 * hears "expired"), then deleted by the next issue. */
#define SQ_TOKEN_KEEP 86400

static int
sq_tokens_expire(sqlite3 *db, int64_t now, struct sp_err *err)
{
	sqlite3_stmt *st;
	int s;

	if ((s = sq_prepare(db, "DELETE FROM tokens WHERE expires <= ?", &st, err)) != SP_OK)
		return s;
	sqlite3_bind_int64(st, 1, now - SQ_TOKEN_KEEP);
	return sq_run(db, st, "expire tokens", err);
}

static int
sq_account_create(void *impl, const struct sp_account *acc, const struct sp_audit *a,
    struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t created = acc->created ? acc->created : (int64_t)time(NULL);
	int s;

	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "INSERT INTO accounts(" SQ_PROFILE_COLS ", activated,"
	    " failed_logins, created, pw_changed)"
	    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,1,0,?14,?15)", &st, err)) == SP_OK) {
		profile_bind(st, acc);
		sqlite3_bind_int64(st, 14, created);
		sqlite3_bind_int64(st, 15, acc->pw_changed ? acc->pw_changed : created);
		s = sq_run(db, st, "add account", err);
		if (s == SP_ERR_EXISTS)
			sp_err_set(err, s, "an account with this address exists");
	}
	/* Registrations of the address could never be activated now. */
	if (s == SP_OK)
		s = sq_pending_drop(db, acc->email, 0, NULL, err);
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
	int s, rc, n;

	memset(out, 0, sizeof(*out));
	if ((s = sq_db(impl, &db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "SELECT " SQ_PROFILE_COLS ", failed_logins, created,"
	    " pw_changed, totp_wrapped, totp_key_id, totp_last_step,"
	    " (SELECT count(*) FROM passkeys p WHERE p.email = a.email),"
	    " (SELECT count(*) FROM recovery_codes r WHERE r.email = a.email AND r.used = 0)"
	    " FROM accounts a WHERE email = ?", &st, err)) != SP_OK)
		return s;
	bind_text(st, 1, email);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		profile_from_row(st, out);
		out->activated = 1;
		out->failed_logins = sqlite3_column_int(st, 13);
		out->created = sqlite3_column_int64(st, 14);
		out->pw_changed = sqlite3_column_int64(st, 15);
		if ((n = col_blob(st, 16, out->totp_wrapped, sizeof(out->totp_wrapped))) < 0)
			rc = SQLITE_CORRUPT;
		else
			out->totp_wrapped_len = (size_t)n;
		out->totp_key_id = (uint32_t)sqlite3_column_int64(st, 17);
		out->totp_last_step = sqlite3_column_int64(st, 18);
		out->npasskeys = sqlite3_column_int(st, 19);
		out->nrecovery = sqlite3_column_int(st, 20);
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE)
		return sp_err_set(err, SP_ERR_NOTFOUND, "no such account");
	if (rc != SQLITE_ROW) {
		sp_wipe(out, sizeof(*out));
		return sq_status(db, rc, "account", err);
	}
	return SP_OK;
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

/* --- single-use tokens --------------------------------------------------- */

static const char *
token_what(int kind)
{
	switch (kind) {
	case SP_TOKEN_ACTIVATE: return "activation link";
	case SP_TOKEN_RESET: return "password reset link";
	case SP_TOKEN_SIGNIN: return "sign-in link";
	case SP_TOKEN_MFA: return "log-in step";
	case SP_TOKEN_CHALLENGE: return "passkey challenge";
	default: return "token";
	}
}

/* Look a token of kind up inside the caller's transaction (or none); out
 * (may be NULL) is filled when the token exists with that kind. */
static int
sq_token_get(sqlite3 *db, int kind, const unsigned char *hash, int64_t now,
    struct sp_token_rec *out, struct sp_err *err)
{
	struct sp_token_rec r;
	sqlite3_stmt *st;
	int s, rc;

	memset(&r, 0, sizeof(r));
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (hash == NULL)
		return sp_err_set(err, SP_ERR_NOTFOUND, "unknown %s", token_what(kind));
	if ((s = sq_prepare(db, "SELECT kind, email, ref, expires, used FROM tokens"
	    " WHERE hash = ?", &st, err)) != SP_OK)
		return s;
	bind_hash(st, 1, hash);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		r.kind = sqlite3_column_int(st, 0);
		col_text(st, 1, r.email, sizeof(r.email));
		r.ref = sqlite3_column_int64(st, 2);
		r.expires = sqlite3_column_int64(st, 3);
		r.used = sqlite3_column_int(st, 4);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sq_status(db, rc, "token", err);
	if (rc == SQLITE_DONE || r.kind != kind)
		return sp_err_set(err, SP_ERR_NOTFOUND, "unknown %s", token_what(kind));
	if (out != NULL)
		*out = r;
	if (r.used)
		return sp_err_set(err, SP_ERR_EXPIRED, "this %s was already used",
		    token_what(kind));
	if (r.expires <= now)
		return sp_err_set(err, SP_ERR_EXPIRED, "this %s has expired", token_what(kind));
	return SP_OK;
}

static int
sq_token_consume(sqlite3 *db, const unsigned char *hash, struct sp_err *err)
{
	sqlite3_stmt *st;
	int s;

	if ((s = sq_prepare(db, "UPDATE tokens SET used = 1 WHERE hash = ? AND used = 0",
	    &st, err)) != SP_OK)
		return s;
	bind_hash(st, 1, hash);
	if ((s = sq_run(db, st, "use token", err)) == SP_OK && sqlite3_changes(db) == 0)
		s = sp_err_set(err, SP_ERR_EXPIRED, "this link was already used");
	return s;
}

static int
sq_token_insert(sqlite3 *db, int kind, const unsigned char *hash, const char *email,
    int64_t ref, int64_t expires, struct sp_err *err)
{
	sqlite3_stmt *st;
	int s;

	if ((s = sq_prepare(db, "INSERT INTO tokens(hash, kind, email, ref, expires, used)"
	    " VALUES (?,?,?,?,?,0)", &st, err)) != SP_OK)
		return s;
	bind_hash(st, 1, hash);
	sqlite3_bind_int(st, 2, kind);
	bind_text(st, 3, email);
	sqlite3_bind_int64(st, 4, ref);
	sqlite3_bind_int64(st, 5, expires);
	return sq_run(db, st, "add token", err);
}

static int sq_throttle_count(sqlite3 *db, const char *key, int64_t now,
    const struct sp_throttle_policy *p, int64_t *locked_until, struct sp_err *err);

static int
sq_token_issue(void *impl, int kind, const char *email, const unsigned char *token_hash,
    int64_t now, int64_t expires, const char *rate_key,
    const struct sp_throttle_policy *rate, int *issued, const struct sp_audit *a,
    struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t ref = 0, lock = 0;
	int s, found = 0;

	if (issued != NULL)
		*issued = 0;
	if (kind < SP_TOKEN_ACTIVATE || kind > SP_TOKEN_CHALLENGE || token_hash == NULL ||
	    (rate_key != NULL && rate == NULL))
		return sp_err_set(err, SP_ERR_INVALID, "store: bad token request");
	if (email == NULL)
		email = "";
	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	s = sq_tokens_expire(db, now, err);
	if (s == SP_OK && rate_key != NULL)
		s = sq_throttle_count(db, rate_key, now, rate, &lock, err);
	if (s == SP_OK && lock == 0) {
		switch (kind) {
		case SP_TOKEN_ACTIVATE:
			if ((s = sq_prepare(db, "SELECT id FROM pending WHERE email = ?"
			    " ORDER BY id DESC LIMIT 1", &st, err)) == SP_OK) {
				bind_text(st, 1, email);
				s = sq_one(db, st, &ref, &found, "pending registration", err);
			}
			break;
		case SP_TOKEN_CHALLENGE:
			found = 1;
			break;
		default:
			s = sq_account_exists(db, email, &found, err);
		}
	}
	if (s == SP_OK && found && lock == 0) {
		s = sq_token_insert(db, kind, token_hash, email, ref, expires, err);
		if (s == SP_OK)
			s = sq_audit_insert(db, a, err);
	}
	if ((s = sq_end(db, s, err)) == SP_OK && issued != NULL)
		*issued = found && lock == 0;
	return s;
}

static int
sq_token_peek(void *impl, int kind, const unsigned char *token_hash, int64_t now,
    struct sp_token_rec *out, struct sp_err *err)
{
	sqlite3 *db;
	int s;

	if ((s = sq_db(impl, &db, err)) != SP_OK)
		return s;
	return sq_token_get(db, kind, token_hash, now, out, err);
}

static int
sq_token_use(void *impl, int kind, const unsigned char *token_hash, int64_t now,
    struct sp_token_rec *out, const struct sp_audit *a, struct sp_err *err)
{
	sqlite3 *db;
	int s;

	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	if ((s = sq_token_get(db, kind, token_hash, now, out, err)) == SP_OK &&
	    (s = sq_token_consume(db, token_hash, err)) == SP_OK) {
		if (out != NULL)
			out->used = 1;
		s = sq_audit_insert(db, a, err);
	}
	return sq_end(db, s, err);
}

/* --- pending registrations ----------------------------------------------- */

static int
sq_pending_add(void *impl, const struct sp_account *acc, const unsigned char *token_hash,
    int64_t token_expires, const struct sp_audit *a, struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t now = acc->created ? acc->created : (int64_t)time(NULL), id = 0;
	int s, found = 0;

	if (token_hash == NULL)
		return sp_err_set(err, SP_ERR_INVALID, "store: registration without a token");
	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	if ((s = sq_account_exists(db, acc->email, &found, err)) == SP_OK && found)
		s = sp_err_set(err, SP_ERR_EXISTS, "an account with this address exists");
	if (s == SP_OK)
		s = sq_tokens_expire(db, now, err);
	if (s == SP_OK && (s = sq_prepare(db, "INSERT INTO pending(" SQ_PROFILE_COLS
	    ", bind_hash, created) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?14,?15)",
	    &st, err)) == SP_OK) {
		profile_bind(st, acc);
		bind_hash(st, 14, acc->bind_hash);
		sqlite3_bind_int64(st, 15, now);
		if ((s = sq_run(db, st, "add registration", err)) == SP_OK)
			id = sqlite3_last_insert_rowid(db);
	}
	if (s == SP_OK)
		s = sq_pending_drop(db, acc->email, SP_STORE_PENDING_MAX, NULL, err);
	if (s == SP_OK)
		s = sq_token_insert(db, SP_TOKEN_ACTIVATE, token_hash, acc->email, id,
		    token_expires, err);
	if (s == SP_OK)
		s = sq_audit_insert(db, a, err);
	return sq_end(db, s, err);
}

/* The pending registration `id` into out (inside the caller's transaction). */
static int
sq_pending_get(sqlite3 *db, int64_t id, struct sp_account *out, struct sp_err *err)
{
	sqlite3_stmt *st;
	int s, rc;

	if ((s = sq_prepare(db, "SELECT " SQ_PROFILE_COLS ", id, bind_hash, created"
	    " FROM pending WHERE id = ?", &st, err)) != SP_OK)
		return s;
	sqlite3_bind_int64(st, 1, id);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		profile_from_row(st, out);
		out->activated = 0;
		out->pending_id = sqlite3_column_int64(st, 13);
		if (col_blob(st, 14, out->bind_hash, sizeof(out->bind_hash)) < 0)
			rc = SQLITE_CORRUPT;
		out->created = sqlite3_column_int64(st, 15);
		out->pw_changed = out->created;
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE)
		return sp_err_set(err, SP_ERR_NOTFOUND, "unknown activation link");
	return rc == SQLITE_ROW ? SP_OK : sq_status(db, rc, "registration", err);
}

static int
sq_pending_by_token(void *impl, const unsigned char *token_hash, int64_t now,
    struct sp_account *out, struct sp_err *err)
{
	struct sp_token_rec r;
	sqlite3 *db;
	int s;

	memset(out, 0, sizeof(*out));
	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_exec(db, "BEGIN", err)) != SP_OK)
		return s;
	if ((s = sq_token_get(db, SP_TOKEN_ACTIVATE, token_hash, now, &r, err)) == SP_OK)
		s = sq_pending_get(db, r.ref, out, err);
	if ((s = sq_end(db, s, err)) != SP_OK)
		sp_wipe(out, sizeof(*out));
	return s;
}

static int
sq_pending_activate(void *impl, const unsigned char *token_hash, int64_t now,
    char *email, const struct sp_audit *a, struct sp_err *err)
{
	struct sp_token_rec r;
	struct sp_account p;
	struct sp_audit aa;
	sqlite3 *db;
	sqlite3_stmt *st;
	int s, found = 0;

	if (email != NULL)
		*email = '\0';
	memset(&p, 0, sizeof(p));
	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	if ((s = sq_token_get(db, SP_TOKEN_ACTIVATE, token_hash, now, &r, err)) == SP_OK)
		s = sq_pending_get(db, r.ref, &p, err);
	if (s == SP_OK && (s = sq_account_exists(db, p.email, &found, err)) == SP_OK && found)
		s = sp_err_set(err, SP_ERR_EXISTS, "an account with this address exists");
	if (s == SP_OK && (s = sq_prepare(db, "INSERT INTO accounts(" SQ_PROFILE_COLS
	    ", activated, failed_logins, created, pw_changed) SELECT " SQ_PROFILE_COLS
	    ", 1, 0, ?2, created FROM pending WHERE id = ?1", &st, err)) == SP_OK) {
		sqlite3_bind_int64(st, 1, r.ref);
		sqlite3_bind_int64(st, 2, now);
		s = sq_run(db, st, "activate", err);
	}
	if (s == SP_OK)
		s = sq_token_consume(db, token_hash, err);
	/* Every registration of the address goes, with its tokens; the used
	 * token stays until it expires, so a second click says "used". */
	if (s == SP_OK)
		s = sq_pending_drop(db, p.email, 0, token_hash, err);
	if (s == SP_OK && a != NULL) {
		aa = *a;
		if (aa.actor == NULL)
			aa.actor = p.email;
		s = sq_audit_insert(db, &aa, err);
	}
	if ((s = sq_end(db, s, err)) == SP_OK && email != NULL)
		snprintf(email, SP_STORE_EMAIL_MAX + 1, "%s", p.email);
	sp_wipe(&p, sizeof(p));
	return s;
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
	    " last_seen, expires, auth_time) VALUES (?,?,?,?,?,?,?)", &st, err)) == SP_OK) {
		sqlite3_bind_blob(st, 1, ss->hash, SP_SHA256_LEN, SQLITE_TRANSIENT);
		bind_text(st, 2, ss->email);
		bind_text(st, 3, ss->csrf);
		sqlite3_bind_int64(st, 4, ss->created);
		sqlite3_bind_int64(st, 5, ss->last_seen);
		sqlite3_bind_int64(st, 6, ss->expires);
		sqlite3_bind_int64(st, 7, ss->auth_time);
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
	if ((s = sq_prepare(db, "SELECT email, csrf, created, last_seen, expires, auth_time"
	    " FROM sessions"
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
		out->auth_time = sqlite3_column_int64(st, 5);
		if (out->auth_time == 0)
			out->auth_time = out->created;
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

static int
sq_password_set(void *impl, const char *email, const char *pw_hash, int64_t now,
    const unsigned char *token_hash, const unsigned char *keep_session,
    const struct sp_audit *a, struct sp_err *err)
{
	struct sp_token_rec r;
	sqlite3 *db;
	sqlite3_stmt *st;
	int s;

	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	if (token_hash != NULL &&
	    (s = sq_token_get(db, SP_TOKEN_RESET, token_hash, now, &r, err)) == SP_OK) {
		if (strcmp(r.email, email) != 0)
			s = sp_err_set(err, SP_ERR_NOTFOUND, "unknown %s",
			    token_what(SP_TOKEN_RESET));
		else
			s = sq_token_consume(db, token_hash, err);
	}
	if (s == SP_OK && (s = sq_prepare(db, "UPDATE accounts SET pw_hash = ?2,"
	    " pw_changed = ?3, failed_logins = 0 WHERE email = ?1", &st, err)) == SP_OK) {
		bind_text(st, 1, email);
		bind_text(st, 2, pw_hash);
		sqlite3_bind_int64(st, 3, now);
		if ((s = sq_run(db, st, "set password", err)) == SP_OK && sqlite3_changes(db) == 0)
			s = sp_err_set(err, SP_ERR_NOTFOUND, "no such account");
	}
	if (s == SP_OK && (s = sq_prepare(db, "DELETE FROM sessions WHERE email = ?1"
	    " AND (?2 IS NULL OR hash != ?2)", &st, err)) == SP_OK) {
		bind_text(st, 1, email);
		bind_hash(st, 2, keep_session);
		s = sq_run(db, st, "end sessions", err);
	}
	if (s == SP_OK)
		s = sq_audit_insert(db, a, err);
	return sq_end(db, s, err);
}

static int
sq_sessions_end(void *impl, const char *email, int *n, const struct sp_audit *a,
    struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s, k = 0;

	if (n != NULL)
		*n = 0;
	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "DELETE FROM sessions WHERE email = ?", &st, err)) == SP_OK) {
		bind_text(st, 1, email);
		if ((s = sq_run(db, st, "end sessions", err)) == SP_OK)
			k = sqlite3_changes(db);
	}
	if (s == SP_OK)
		s = sq_audit_insert(db, a, err);
	if ((s = sq_end(db, s, err)) == SP_OK && n != NULL)
		*n = k;
	return s;
}

static int
sq_session_reauth(void *impl, const unsigned char *hash, int64_t now, struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s;

	if ((s = sq_db(impl, &db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "UPDATE sessions SET auth_time = ? WHERE hash = ?",
	    &st, err)) != SP_OK)
		return s;
	sqlite3_bind_int64(st, 1, now);
	bind_hash(st, 2, hash);
	if ((s = sq_run(db, st, "session", err)) == SP_OK && sqlite3_changes(db) == 0)
		s = sp_err_set(err, SP_ERR_NOTFOUND, "no such session");
	return s;
}

/* --- throttling ---------------------------------------------------------- */

/* The key's row inside the caller's transaction (zeros when missing). */
static int
sq_throttle_read(sqlite3 *db, const char *key, int64_t *count, int64_t *last,
    int64_t *locked, struct sp_err *err)
{
	sqlite3_stmt *st;
	int s, rc;

	*count = *last = *locked = 0;
	if ((s = sq_prepare(db, "SELECT failures, last_failed, locked_until FROM throttle"
	    " WHERE key = ?", &st, err)) != SP_OK)
		return s;
	bind_text(st, 1, key);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		*count = sqlite3_column_int64(st, 0);
		*last = sqlite3_column_int64(st, 1);
		*locked = sqlite3_column_int64(st, 2);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? SP_OK : sq_status(db, rc, "throttle", err);
}

static int
sq_throttle_write(sqlite3 *db, const char *key, int64_t count, int64_t last,
    int64_t locked, struct sp_err *err)
{
	sqlite3_stmt *st;
	int s;

	if ((s = sq_prepare(db, "INSERT INTO throttle(key, failures, last_failed, locked_until)"
	    " VALUES (?1, ?2, ?3, ?4) ON CONFLICT(key) DO UPDATE SET failures = ?2,"
	    " last_failed = ?3, locked_until = ?4", &st, err)) != SP_OK)
		return s;
	bind_text(st, 1, key);
	sqlite3_bind_int64(st, 2, count);
	sqlite3_bind_int64(st, 3, last);
	sqlite3_bind_int64(st, 4, locked);
	return sq_run(db, st, "throttle", err);
}

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
	struct sp_throttle_row row;
	int64_t lock = 0;
	int s;

	*locked_until = 0;
	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	if ((s = sq_throttle_read(db, key, &row.count, &row.last, &row.locked, err)) == SP_OK) {
		sp_throttle_step_fail(p, now, &row);
		lock = row.locked;
		s = sq_throttle_write(db, key, row.count, row.last, row.locked, err);
	}
	if ((s = sq_end(db, s, err)) == SP_OK)
		*locked_until = lock;
	return s;
}

/* throttle_begin's counting, inside the caller's transaction. */
static int
sq_throttle_count(sqlite3 *db, const char *key, int64_t now,
    const struct sp_throttle_policy *p, int64_t *locked_until, struct sp_err *err)
{
	struct sp_throttle_row row;
	int s, refused;

	*locked_until = 0;
	if ((s = sq_throttle_read(db, key, &row.count, &row.last, &row.locked, err)) != SP_OK)
		return s;
	refused = sp_throttle_step_attempt(p, now, &row);
	if ((s = sq_throttle_write(db, key, row.count, row.last, row.locked, err)) == SP_OK && refused)
		*locked_until = row.locked;
	return s;
}

static int
sq_throttle_begin(void *impl, const char *key, int64_t now,
    const struct sp_throttle_policy *p, int64_t *locked_until, struct sp_err *err)
{
	sqlite3 *db;
	int64_t lock = 0;
	int s;

	*locked_until = 0;
	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	s = sq_throttle_count(db, key, now, p, &lock, err);
	if ((s = sq_end(db, s, err)) == SP_OK)
		*locked_until = lock;
	return s;
}

static int
sq_throttle_undo(void *impl, const char *key, struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s;

	if ((s = sq_db(impl, &db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "UPDATE throttle SET failures = failures - 1"
	    " WHERE key = ? AND failures > 0", &st, err)) != SP_OK)
		return s;
	bind_text(st, 1, key);
	return sq_run(db, st, "throttle", err);
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

/* A prefix match without LIKE, so that '%' and '_' in addresses are
 * literal: the range lets the primary key index narrow it down. */
static int
sq_throttle_clear(void *impl, const char *prefix, int *n, struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s;

	if (n != NULL)
		*n = 0;
	if (prefix == NULL)
		return sp_err_set(err, SP_ERR_INVALID, "store: no throttle prefix");
	if ((s = sq_db(impl, &db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "DELETE FROM throttle WHERE key >= ?1"
	    " AND substr(key, 1, length(?1)) = ?1", &st, err)) != SP_OK)
		return s;
	bind_text(st, 1, prefix);
	if ((s = sq_run(db, st, "throttle", err)) == SP_OK && n != NULL)
		*n = sqlite3_changes(db);
	return s;
}

/* --- second factors ------------------------------------------------------ */

static int
sq_totp_set(void *impl, const char *email, const unsigned char *wrapped,
    size_t wrapped_len, uint32_t key_id, const struct sp_audit *a, struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s;

	if (wrapped != NULL && (wrapped_len == 0 || wrapped_len > SP_STORE_WRAPPED_MAX))
		return sp_err_set(err, SP_ERR_INVALID, "store: bad TOTP secret length");
	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "UPDATE accounts SET totp_wrapped = ?2, totp_key_id = ?3,"
	    " totp_last_step = 0 WHERE email = ?1", &st, err)) == SP_OK) {
		bind_text(st, 1, email);
		if (wrapped != NULL)
			sqlite3_bind_blob(st, 2, wrapped, (int)wrapped_len, SQLITE_TRANSIENT);
		else
			sqlite3_bind_null(st, 2);
		sqlite3_bind_int64(st, 3, wrapped != NULL ? key_id : 0);
		if ((s = sq_run(db, st, "set TOTP", err)) == SP_OK && sqlite3_changes(db) == 0)
			s = sp_err_set(err, SP_ERR_NOTFOUND, "no such account");
	}
	if (s == SP_OK && wrapped == NULL && (s = sq_prepare(db, "DELETE FROM recovery_codes"
	    " WHERE email = ?1 AND NOT EXISTS (SELECT 1 FROM passkeys WHERE email = ?1)",
	    &st, err)) == SP_OK) {
		bind_text(st, 1, email);
		s = sq_run(db, st, "delete recovery codes", err);
	}
	if (s == SP_OK)
		s = sq_audit_insert(db, a, err);
	return sq_end(db, s, err);
}

static int
sq_totp_step(void *impl, const char *email, int64_t step, struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s, found = 0;

	if ((s = sq_db(impl, &db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "UPDATE accounts SET totp_last_step = ?2 WHERE email = ?1"
	    " AND totp_wrapped IS NOT NULL AND totp_last_step < ?2", &st, err)) != SP_OK)
		return s;
	bind_text(st, 1, email);
	sqlite3_bind_int64(st, 2, step);
	if ((s = sq_run(db, st, "TOTP step", err)) != SP_OK || sqlite3_changes(db) > 0)
		return s;
	if ((s = sq_prepare(db, "SELECT 1 FROM accounts WHERE email = ?"
	    " AND totp_wrapped IS NOT NULL", &st, err)) != SP_OK)
		return s;
	bind_text(st, 1, email);
	if ((s = sq_one(db, st, NULL, &found, "TOTP step", err)) != SP_OK)
		return s;
	if (!found)
		return sp_err_set(err, SP_ERR_NOTFOUND, "no TOTP for this account");
	return sp_err_set(err, SP_ERR_EXPIRED, "this code was already used");
}

static int
sq_recovery_set(void *impl, const char *email, const unsigned char (*hashes)[SP_SHA256_LEN],
    size_t n, const struct sp_audit *a, struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	size_t i;
	int s, found = 0;

	if (n > 0 && hashes == NULL)
		return sp_err_set(err, SP_ERR_INVALID, "store: no recovery codes");
	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	if ((s = sq_account_exists(db, email, &found, err)) == SP_OK && !found)
		s = sp_err_set(err, SP_ERR_NOTFOUND, "no such account");
	if (s == SP_OK && (s = sq_prepare(db, "DELETE FROM recovery_codes WHERE email = ?",
	    &st, err)) == SP_OK) {
		bind_text(st, 1, email);
		s = sq_run(db, st, "delete recovery codes", err);
	}
	for (i = 0; s == SP_OK && i < n; i++) {
		if ((s = sq_prepare(db, "INSERT INTO recovery_codes(email, hash, used)"
		    " VALUES (?,?,0)", &st, err)) != SP_OK)
			break;
		bind_text(st, 1, email);
		bind_hash(st, 2, hashes[i]);
		s = sq_run(db, st, "add recovery code", err);
	}
	if (s == SP_OK)
		s = sq_audit_insert(db, a, err);
	return sq_end(db, s, err);
}

static int
sq_recovery_use(void *impl, const char *email, const unsigned char *hash,
    const struct sp_audit *a, struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s;

	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "UPDATE recovery_codes SET used = 1 WHERE email = ?"
	    " AND hash = ? AND used = 0", &st, err)) == SP_OK) {
		bind_text(st, 1, email);
		bind_hash(st, 2, hash);
		if ((s = sq_run(db, st, "use recovery code", err)) == SP_OK &&
		    sqlite3_changes(db) == 0)
			s = sp_err_set(err, SP_ERR_NOTFOUND, "unknown or used recovery code");
	}
	if (s == SP_OK)
		s = sq_audit_insert(db, a, err);
	return sq_end(db, s, err);
}

static int
passkey_id_ok(const unsigned char *cred_id, size_t len, struct sp_err *err)
{
	if (cred_id == NULL || len == 0 || len > SP_STORE_CRED_ID_MAX)
		return sp_err_set(err, SP_ERR_INVALID, "store: bad credential id");
	return SP_OK;
}

static int
sq_passkey_add(void *impl, const struct sp_passkey *pk, const struct sp_audit *a,
    struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s, found = 0;

	if ((s = passkey_id_ok(pk->cred_id, pk->cred_id_len, err)) != SP_OK)
		return s;
	if (pk->pubkey_len == 0 || pk->pubkey_len > SP_STORE_PUBKEY_MAX)
		return sp_err_set(err, SP_ERR_INVALID, "store: bad passkey public key");
	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	if ((s = sq_account_exists(db, pk->email, &found, err)) == SP_OK && !found)
		s = sp_err_set(err, SP_ERR_NOTFOUND, "no such account");
	if (s == SP_OK && (s = sq_prepare(db, "INSERT INTO passkeys(cred_id, email, pubkey,"
	    " alg, sign_count, name, created, last_used) VALUES (?,?,?,?,?,?,?,?)",
	    &st, err)) == SP_OK) {
		sqlite3_bind_blob(st, 1, pk->cred_id, (int)pk->cred_id_len, SQLITE_TRANSIENT);
		bind_text(st, 2, pk->email);
		sqlite3_bind_blob(st, 3, pk->pubkey, (int)pk->pubkey_len, SQLITE_TRANSIENT);
		sqlite3_bind_int(st, 4, pk->alg);
		sqlite3_bind_int64(st, 5, pk->sign_count);
		bind_text(st, 6, pk->name);
		sqlite3_bind_int64(st, 7, pk->created ? pk->created : (int64_t)time(NULL));
		sqlite3_bind_int64(st, 8, pk->last_used);
		if ((s = sq_run(db, st, "add passkey", err)) == SP_ERR_EXISTS)
			sp_err_set(err, s, "this passkey is registered already");
	}
	if (s == SP_OK)
		s = sq_audit_insert(db, a, err);
	return sq_end(db, s, err);
}

#define SQ_PASSKEY_COLS "cred_id, email, pubkey, alg, sign_count, name, created, last_used"

static int
passkey_from_row(sqlite3_stmt *st, struct sp_passkey *out)
{
	int n, m;

	memset(out, 0, sizeof(*out));
	n = col_blob(st, 0, out->cred_id, sizeof(out->cred_id));
	col_text(st, 1, out->email, sizeof(out->email));
	m = col_blob(st, 2, out->pubkey, sizeof(out->pubkey));
	if (n < 0 || m < 0)
		return SQLITE_CORRUPT;
	out->cred_id_len = (size_t)n;
	out->pubkey_len = (size_t)m;
	out->alg = sqlite3_column_int(st, 3);
	out->sign_count = (uint32_t)sqlite3_column_int64(st, 4);
	col_text(st, 5, out->name, sizeof(out->name));
	out->created = sqlite3_column_int64(st, 6);
	out->last_used = sqlite3_column_int64(st, 7);
	return SQLITE_ROW;
}

static int
sq_passkey_get(void *impl, const unsigned char *cred_id, size_t cred_id_len,
    struct sp_passkey *out, struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s, rc;

	memset(out, 0, sizeof(*out));
	if ((s = passkey_id_ok(cred_id, cred_id_len, err)) != SP_OK)
		return s == SP_ERR_INVALID ? sp_err_set(err, SP_ERR_NOTFOUND, "unknown passkey") : s;
	if ((s = sq_db(impl, &db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "SELECT " SQ_PASSKEY_COLS " FROM passkeys WHERE cred_id = ?",
	    &st, err)) != SP_OK)
		return s;
	sqlite3_bind_blob(st, 1, cred_id, (int)cred_id_len, SQLITE_TRANSIENT);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		rc = passkey_from_row(st, out);
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE)
		return sp_err_set(err, SP_ERR_NOTFOUND, "unknown passkey");
	return rc == SQLITE_ROW ? SP_OK : sq_status(db, rc, "passkey", err);
}

static int
sq_passkey_each(void *impl, const char *email, int (*fn)(void *, const struct sp_passkey *),
    void *ctx, struct sp_err *err)
{
	struct sp_passkey *pk;
	sqlite3 *db;
	sqlite3_stmt *st;
	int s, rc;

	if ((s = sq_db(impl, &db, err)) != SP_OK)
		return s;
	if ((pk = malloc(sizeof(*pk))) == NULL)
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	if ((s = sq_prepare(db, "SELECT " SQ_PASSKEY_COLS " FROM passkeys WHERE email = ?"
	    " ORDER BY created, rowid", &st, err)) != SP_OK) {
		free(pk);
		return s;
	}
	bind_text(st, 1, email);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((rc = passkey_from_row(st, pk)) != SQLITE_ROW)
			break;
		if (fn(ctx, pk) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_finalize(st);
	free(pk);
	return rc == SQLITE_DONE ? SP_OK : sq_status(db, rc, "passkeys", err);
}

static int
sq_passkey_used(void *impl, const unsigned char *cred_id, size_t cred_id_len,
    uint32_t sign_count, int64_t now, struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s;

	if (passkey_id_ok(cred_id, cred_id_len, err) != SP_OK)
		return sp_err_set(err, SP_ERR_NOTFOUND, "unknown passkey");
	if ((s = sq_db(impl, &db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "UPDATE passkeys SET sign_count = ?, last_used = ?"
	    " WHERE cred_id = ?", &st, err)) != SP_OK)
		return s;
	sqlite3_bind_int64(st, 1, sign_count);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_blob(st, 3, cred_id, (int)cred_id_len, SQLITE_TRANSIENT);
	if ((s = sq_run(db, st, "passkey", err)) == SP_OK && sqlite3_changes(db) == 0)
		s = sp_err_set(err, SP_ERR_NOTFOUND, "unknown passkey");
	return s;
}

static int
sq_passkey_delete(void *impl, const char *email, const unsigned char *cred_id,
    size_t cred_id_len, const struct sp_audit *a, struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s;

	if (passkey_id_ok(cred_id, cred_id_len, err) != SP_OK)
		return sp_err_set(err, SP_ERR_NOTFOUND, "unknown passkey");
	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "DELETE FROM passkeys WHERE cred_id = ? AND email = ?",
	    &st, err)) == SP_OK) {
		sqlite3_bind_blob(st, 1, cred_id, (int)cred_id_len, SQLITE_TRANSIENT);
		bind_text(st, 2, email);
		if ((s = sq_run(db, st, "delete passkey", err)) == SP_OK && sqlite3_changes(db) == 0)
			s = sp_err_set(err, SP_ERR_NOTFOUND, "unknown passkey");
	}
	if (s == SP_OK)
		s = sq_audit_insert(db, a, err);
	return sq_end(db, s, err);
}

/* --- master key rotation ------------------------------------------------- */

#define SQ_REWRAP_BATCH 256

struct sq_wrapped_row {
	char ref[SP_STORE_EMAIL_MAX + 1];
	uint32_t key_id;
	unsigned char wrapped[SP_STORE_WRAPPED_MAX];
	size_t len;
};

/* Rows of sql (?1 below, ?2 after ref, ?3 limit; columns ref, key_id,
 * wrapped) in batches: each batch is read, its statement finalized, then
 * fn is called for its rows, so fn may write to the store. */
static int
sq_wrapped_each(void *impl, const char *sql, uint32_t below,
    int (*fn)(void *, const char *, uint32_t, const unsigned char *, size_t),
    void *ctx, struct sp_err *err)
{
	struct sq_wrapped_row *rows;
	char last[SP_STORE_EMAIL_MAX + 1] = "";
	sqlite3 *db;
	sqlite3_stmt *st;
	size_t n, i;
	int s, rc, stop = 0, bad;

	if ((s = sq_db(impl, &db, err)) != SP_OK)
		return s;
	if ((rows = calloc(SQ_REWRAP_BATCH, sizeof(*rows))) == NULL)
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	do {
		if ((s = sq_prepare(db, sql, &st, err)) != SP_OK)
			break;
		sqlite3_bind_int64(st, 1, below);
		bind_text(st, 2, last);
		sqlite3_bind_int(st, 3, SQ_REWRAP_BATCH);
		n = 0;
		bad = 0;
		while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < SQ_REWRAP_BATCH) {
			int len;

			col_text(st, 0, rows[n].ref, sizeof(rows[n].ref));
			rows[n].key_id = (uint32_t)sqlite3_column_int64(st, 1);
			if ((len = col_blob(st, 2, rows[n].wrapped, sizeof(rows[n].wrapped))) <= 0)
				bad = 1;
			rows[n].len = len > 0 ? (size_t)len : 0;
			n++;
		}
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
			s = sq_status(db, rc, "wrapped values", err);
			break;
		}
		if (bad) {
			s = sp_err_set(err, SP_ERR_IO, "store: a wrapped value is empty or too long");
			break;
		}
		for (i = 0; i < n && !stop; i++)
			stop = fn(ctx, rows[i].ref, rows[i].key_id, rows[i].wrapped, rows[i].len) != 0;
		if (n > 0)
			snprintf(last, sizeof(last), "%s", rows[n - 1].ref);
	} while (n == SQ_REWRAP_BATCH && !stop);
	sp_wipe(rows, SQ_REWRAP_BATCH * sizeof(*rows));
	free(rows);
	return s;
}

static int
sq_rewrap(void *impl, const char *sql, const char *ref, uint32_t old_key_id,
    uint32_t new_key_id, const unsigned char *wrapped, size_t len,
    const struct sp_audit *a, struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s;

	if (wrapped == NULL || len == 0 || len > SP_STORE_WRAPPED_MAX)
		return sp_err_set(err, SP_ERR_INVALID, "store: bad wrapped length");
	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, sql, &st, err)) == SP_OK) {
		bind_text(st, 1, ref);
		sqlite3_bind_int64(st, 2, old_key_id);
		sqlite3_bind_int64(st, 3, new_key_id);
		sqlite3_bind_blob(st, 4, wrapped, (int)len, SQLITE_TRANSIENT);
		if ((s = sq_run(db, st, "rewrap", err)) == SP_OK && sqlite3_changes(db) == 0)
			s = sp_err_set(err, SP_ERR_NOTFOUND, "no such row with key %u", old_key_id);
	}
	if (s == SP_OK)
		s = sq_audit_insert(db, a, err);
	return sq_end(db, s, err);
}

static int
sq_envelope_wrapped_each(void *impl, uint32_t below,
    int (*fn)(void *, const char *, uint32_t, const unsigned char *, size_t),
    void *ctx, struct sp_err *err)
{
	return sq_wrapped_each(impl, "SELECT id, key_id, wrapped FROM envelopes"
	    " WHERE key_id < ?1 AND id > ?2 ORDER BY id LIMIT ?3", below, fn, ctx, err);
}

static int
sq_envelope_rewrap(void *impl, const char *id, uint32_t old_key_id, uint32_t new_key_id,
    const unsigned char *wrapped, size_t len, const struct sp_audit *a, struct sp_err *err)
{
	return sq_rewrap(impl, "UPDATE envelopes SET key_id = ?3, wrapped = ?4"
	    " WHERE id = ?1 AND key_id = ?2", id, old_key_id, new_key_id, wrapped, len, a, err);
}

static int
sq_totp_wrapped_each(void *impl, uint32_t below,
    int (*fn)(void *, const char *, uint32_t, const unsigned char *, size_t),
    void *ctx, struct sp_err *err)
{
	return sq_wrapped_each(impl, "SELECT email, totp_key_id, totp_wrapped FROM accounts"
	    " WHERE totp_wrapped IS NOT NULL AND totp_key_id < ?1 AND email > ?2"
	    " ORDER BY email LIMIT ?3", below, fn, ctx, err);
}

static int
sq_totp_rewrap(void *impl, const char *email, uint32_t old_key_id, uint32_t new_key_id,
    const unsigned char *wrapped, size_t len, const struct sp_audit *a, struct sp_err *err)
{
	return sq_rewrap(impl, "UPDATE accounts SET totp_key_id = ?3, totp_wrapped = ?4"
	    " WHERE email = ?1 AND totp_key_id = ?2 AND totp_wrapped IS NOT NULL",
	    email, old_key_id, new_key_id, wrapped, len, a, err);
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
	.envelope_wrapped_each = sq_envelope_wrapped_each,
	.envelope_rewrap = sq_envelope_rewrap,
	.totp_wrapped_each = sq_totp_wrapped_each,
	.totp_rewrap = sq_totp_rewrap,
	.account_create = sq_account_create,
	.account_get = sq_account_get,
	.login_failed = sq_login_failed,
	.session_create = sq_session_create,
	.session_use = sq_session_use,
	.session_delete = sq_session_delete,
	.throttle_check = sq_throttle_check,
	.throttle_fail = sq_throttle_fail,
	.throttle_reset = sq_throttle_reset,
	.throttle_begin = sq_throttle_begin,
	.throttle_undo = sq_throttle_undo,
	.throttle_clear = sq_throttle_clear,
	.pending_add = sq_pending_add,
	.pending_by_token = sq_pending_by_token,
	.pending_activate = sq_pending_activate,
	.token_issue = sq_token_issue,
	.token_peek = sq_token_peek,
	.token_use = sq_token_use,
	.password_set = sq_password_set,
	.sessions_end = sq_sessions_end,
	.session_reauth = sq_session_reauth,
	.totp_set = sq_totp_set,
	.totp_step = sq_totp_step,
	.recovery_set = sq_recovery_set,
	.recovery_use = sq_recovery_use,
	.passkey_add = sq_passkey_add,
	.passkey_get = sq_passkey_get,
	.passkey_each = sq_passkey_each,
	.passkey_used = sq_passkey_used,
	.passkey_delete = sq_passkey_delete,
};

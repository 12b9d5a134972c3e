/*
 * store_sqlite.c - the SQLite backend of store.h: one database file
 * DIR/keyd.sqlite in WAL mode with synchronous=FULL (a commit is on disk
 * before it returns), foreign keys on, a busy timeout, and a schema_version
 * table.  Each thread opens its own connection lazily (a pthread key whose
 * destructor closes it), so a pool of server threads never serialises on
 * one connection; writers use BEGIN IMMEDIATE so lock waits happen up front
 * (and so the audit chains, whose heads an append reads and moves in its
 * transaction, never fork).  Every connection runs with secure_delete, so
 * a shredded key part is zeroed in the database pages; shredding then
 * empties the WAL (docs/audit.md, decision 9).
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

#define SQ_SCHEMA_VERSION 7
#define SQ_BUSY_MS 5000

#define SQ_KEPT_MAX 32	/* prepared statements kept per connection */

struct sq;

/* A statement prepared once per connection (sq_kept()), found by the
 * address of its SQL text: a string constant. */
struct sq_kept {
	const char *sql;
	sqlite3_stmt *st;
};

struct sq_conn {
	sqlite3 *db;
	struct sq *owner;
	struct sq_conn *prev, *next;
	struct sq_kept kept[SQ_KEPT_MAX];
	int nkept;
};

struct sq {
	char *path;
	pthread_key_t key;
	pthread_mutex_t mu;
	struct sq_conn *conns;
	int ckpt_due;		/* shredded rows may still be in the WAL (under mu) */
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

/*
 * Version 2 -> 3 (decision 9), in two parts around the chaining of the old
 * audit records, which is done in C (sq_chain_old_audit).  Organisations
 * lose their single domain and token to tables of their own (several per
 * organisation; the old ones become the first domain and the token named
 * "default") and gain branding, a contact, policy defaults and a removal
 * time: the table is rebuilt (foreign keys are off during the migration,
 * see sq_schema).  A name used twice keeps its first holder; later ones
 * become NAME-ID.  A domain used twice stays with the older organisation.
 * Envelopes gain the sender controls and the seal; existing ones are
 * format 1 messages.  Audit records gain their chain (all old ones are in
 * chain 0) and place in it.
 */
static const char migrate_v3_sql[] =
    "CREATE TABLE orgs_v3 ("
    " id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, created INTEGER NOT NULL,"
    " removed INTEGER NOT NULL DEFAULT 0, display TEXT NOT NULL DEFAULT '',"
    " colour TEXT NOT NULL DEFAULT '', logo BLOB, contact TEXT NOT NULL DEFAULT '',"
    " expire_days INTEGER NOT NULL DEFAULT 0, notify_read INTEGER NOT NULL DEFAULT 0,"
    " replies INTEGER NOT NULL DEFAULT 1, forward INTEGER NOT NULL DEFAULT 0,"
    " verify INTEGER NOT NULL DEFAULT 0, keep_copies INTEGER NOT NULL DEFAULT 0,"
    " level TEXT NOT NULL DEFAULT 'medium', language TEXT NOT NULL DEFAULT 'en');"
    "INSERT INTO orgs_v3(id, name, created)"
    " SELECT o.id, CASE WHEN EXISTS (SELECT 1 FROM orgs p WHERE p.name = o.name"
    " AND p.id < o.id) THEN o.name || '-' || o.id ELSE o.name END, o.created"
    " FROM orgs o ORDER BY o.id;"
    "CREATE TABLE org_domains ("
    " domain TEXT PRIMARY KEY, org_id INTEGER NOT NULL REFERENCES orgs(id));"
    "CREATE INDEX org_domains_org ON org_domains(org_id);"
    "INSERT OR IGNORE INTO org_domains(domain, org_id)"
    " SELECT lower(domain), id FROM orgs WHERE domain != '' ORDER BY id;"
    "CREATE TABLE org_tokens ("
    " hash BLOB PRIMARY KEY, org_id INTEGER NOT NULL REFERENCES orgs(id),"
    " name TEXT NOT NULL, created INTEGER NOT NULL, last_used INTEGER NOT NULL DEFAULT 0,"
    " revoked INTEGER NOT NULL DEFAULT 0);"
    "CREATE UNIQUE INDEX org_tokens_live ON org_tokens(org_id, name) WHERE revoked = 0;"
    "INSERT INTO org_tokens(hash, org_id, name, created)"
    " SELECT token_hash, id, 'default', created FROM orgs ORDER BY id;"
    "CREATE TABLE org_keys ("
    " kid TEXT PRIMARY KEY, org_id INTEGER NOT NULL REFERENCES orgs(id),"
    " pub BLOB NOT NULL, created INTEGER NOT NULL, retired INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX org_keys_org ON org_keys(org_id);"
    "DROP TABLE orgs;"
    "ALTER TABLE orgs_v3 RENAME TO orgs;"
    "ALTER TABLE envelopes ADD COLUMN kind INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE envelopes ADD COLUMN format INTEGER NOT NULL DEFAULT 1;"
    "ALTER TABLE envelopes ADD COLUMN notify_read INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE envelopes ADD COLUMN level TEXT NOT NULL DEFAULT 'medium';"
    "ALTER TABLE envelopes ADD COLUMN verify_hash TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE envelopes ADD COLUMN verify_hint TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE envelopes ADD COLUMN shredded INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE envelopes ADD COLUMN sealed INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE envelopes ADD COLUMN header_sha BLOB;"
    "ALTER TABLE envelopes ADD COLUMN ct_sha BLOB;"
    "ALTER TABLE envelopes ADD COLUMN sig BLOB;"
    "ALTER TABLE envelopes ADD COLUMN kid TEXT NOT NULL DEFAULT '';"
    "CREATE INDEX envelopes_org ON envelopes(org_id, created);"
    "CREATE INDEX envelopes_expires ON envelopes(expires) WHERE shredded = 0 AND expires > 0;"
    "ALTER TABLE envelope_rcpt ADD COLUMN retracted INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE envelope_rcpt ADD COLUMN opened INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE envelope_rcpt ADD COLUMN verified INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE envelope_rcpt ADD COLUMN verify_fails INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE audit ADD COLUMN chain INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE audit ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE audit ADD COLUMN prev BLOB;"
    "ALTER TABLE audit ADD COLUMN hash BLOB;";

/* After the old records are chained: the head of each chain (the next
 * append reads and moves it inside its transaction) and the version. */
static const char migrate_v3_end_sql[] =
    "CREATE UNIQUE INDEX audit_chain ON audit(chain, seq);"
    "CREATE TABLE audit_heads ("
    " chain INTEGER PRIMARY KEY, seq INTEGER NOT NULL, hash BLOB NOT NULL);"
    "INSERT INTO audit_heads(chain, seq, hash)"
    " SELECT a.chain, a.seq, a.hash FROM audit a"
    " WHERE a.seq = (SELECT max(b.seq) FROM audit b WHERE b.chain = a.chain);"
    "DELETE FROM schema_version;"
    "INSERT INTO schema_version(version) VALUES (3);";

/* Version 3 -> 4: ciphertext copies.  Envelopes keep the exact header
 * bytes given at seal, the size of their copy and until when it is kept;
 * organisations get a quota for their copies (1024 MiB by default). */
static const char migrate_v4_sql[] =
    "ALTER TABLE envelopes ADD COLUMN sealed_header BLOB;"
    "ALTER TABLE envelopes ADD COLUMN copy_size INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE envelopes ADD COLUMN copy_until INTEGER NOT NULL DEFAULT 0;"
    "CREATE INDEX envelopes_copies ON envelopes(org_id) WHERE copy_size > 0;"
    "ALTER TABLE orgs ADD COLUMN copy_quota_mb INTEGER NOT NULL DEFAULT 1024;"
    "DELETE FROM schema_version;"
    "INSERT INTO schema_version(version) VALUES (4);";

/* Version 4 -> 5: the short sign-up.  An account made from an address and
 * a password alone owes its profile (names, phrase, questions). */
static const char migrate_v5_sql[] =
    "ALTER TABLE accounts ADD COLUMN profile_todo INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE pending ADD COLUMN profile_todo INTEGER NOT NULL DEFAULT 0;"
    "DELETE FROM schema_version;"
    "INSERT INTO schema_version(version) VALUES (5);";

/* Version 5 -> 6: remembered devices.  A session says how it began (a
 * device's session may not open a high-level envelope); a device keeps only
 * its token's hash. */
static const char migrate_v6_sql[] =
    "ALTER TABLE sessions ADD COLUMN via TEXT NOT NULL DEFAULT '';"
    "CREATE TABLE devices ("
    " id INTEGER PRIMARY KEY, hash BLOB NOT NULL UNIQUE,"
    " email TEXT NOT NULL REFERENCES accounts(email) ON DELETE CASCADE,"
    " agent TEXT NOT NULL, created INTEGER NOT NULL, last_used INTEGER NOT NULL,"
    " expires INTEGER NOT NULL);"
    "CREATE INDEX devices_email ON devices(email);"
    "DELETE FROM schema_version;"
    "INSERT INTO schema_version(version) VALUES (6);";

/* Version 6 -> 7: secure reply.  Organisations get the domains a forward
 * may go to, accounts their "BCC me" default, signing keys the key
 * server's reply key (its seed wrapped under a master key), at most one
 * live per organisation. */
static const char migrate_v7_sql[] =
    "ALTER TABLE orgs ADD COLUMN forward_domains TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE accounts ADD COLUMN bcc_default INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE org_keys ADD COLUMN reply INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE org_keys ADD COLUMN wrapped BLOB;"
    "ALTER TABLE org_keys ADD COLUMN wrap_key_id INTEGER NOT NULL DEFAULT 0;"
    "CREATE UNIQUE INDEX org_keys_reply ON org_keys(org_id) WHERE reply = 1 AND retired = 0;"
    "DELETE FROM schema_version;"
    "INSERT INTO schema_version(version) VALUES (7);";

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

/* The connection this thread used last (set by sq_db()): where sq_kept()
 * finds the statements of the db it is given. */
static __thread struct sq_conn *sq_cur;

/* Finalize the kept statements and close the connection. */
static void
sq_conn_close(struct sq_conn *c)
{
	int i;

	if (sq_cur == c)
		sq_cur = NULL;
	for (i = 0; i < c->nkept; i++)
		sqlite3_finalize(c->kept[i].st);
	c->nkept = 0;
	sqlite3_close_v2(c->db);
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
	sq_conn_close(c);
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
	    (st = sq_exec(db, "PRAGMA synchronous=FULL", err)) != SP_OK ||
	    (st = sq_exec(db, "PRAGMA secure_delete=ON", err)) != SP_OK) {
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
		sq_cur = c;
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
	sq_cur = c;
	*db = c->db;
	return SP_OK;
}

/* The audit record in columns col.. col + 5 of st (time, event, actor,
 * envelope_id, client, detail); the strings live until the next step. */
static void
audit_from_cols(sqlite3_stmt *st, int col, struct sp_audit *a)
{
	a->time = sqlite3_column_int64(st, col);
	a->event = (const char *)sqlite3_column_text(st, col + 1);
	a->actor = (const char *)sqlite3_column_text(st, col + 2);
	a->envelope = (const char *)sqlite3_column_text(st, col + 3);
	a->client = (const char *)sqlite3_column_text(st, col + 4);
	a->detail = (const char *)sqlite3_column_text(st, col + 5);
}

/* Chain the audit records written before version 3, in id order, into
 * chain 0 (inside the migration's transaction). */
static int
sq_chain_old_audit(sqlite3 *db, struct sp_err *err)
{
	sqlite3_stmt *sel = NULL, *upd = NULL;
	unsigned char prev[SP_SHA256_LEN], hash[SP_SHA256_LEN];
	struct sp_audit a;
	int64_t seq = 0;
	int rc;

	memset(prev, 0, sizeof(prev));
	rc = sqlite3_prepare_v2(db, "SELECT id, time, event, actor, envelope_id, client,"
	    " detail FROM audit ORDER BY id", -1, &sel, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, "UPDATE audit SET chain = 0, seq = ?2, prev = ?3,"
		    " hash = ?4 WHERE id = ?1", -1, &upd, NULL);
	while (rc == SQLITE_OK && (rc = sqlite3_step(sel)) == SQLITE_ROW) {
		memset(&a, 0, sizeof(a));
		audit_from_cols(sel, 1, &a);
		sp_audit_chain_hash(prev, 0, ++seq, &a, hash);
		sqlite3_reset(upd);
		sqlite3_bind_int64(upd, 1, sqlite3_column_int64(sel, 0));
		sqlite3_bind_int64(upd, 2, seq);
		sqlite3_bind_blob(upd, 3, prev, SP_SHA256_LEN, SQLITE_TRANSIENT);
		sqlite3_bind_blob(upd, 4, hash, SP_SHA256_LEN, SQLITE_TRANSIENT);
		if ((rc = sqlite3_step(upd)) == SQLITE_DONE)
			rc = SQLITE_OK;
		memcpy(prev, hash, SP_SHA256_LEN);
	}
	sqlite3_finalize(sel);
	sqlite3_finalize(upd);
	return rc == SQLITE_DONE || rc == SQLITE_OK ? SP_OK :
	    sq_status(db, rc, "chain the audit trail", err);
}

/* Foreign keys still hold after a migration that ran without them. */
static int
sq_fk_check(sqlite3 *db, struct sp_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, "PRAGMA foreign_key_check", -1, &st, NULL);

	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc == SQLITE_ROW)
		return sp_err_set(err, SP_ERR_IO, "store: the upgrade broke a reference"
		    " between tables (nothing was changed)");
	return rc == SQLITE_DONE || rc == SQLITE_OK ? SP_OK : sq_status(db, rc, "check", err);
}

static int
sq_schema(sqlite3 *db, struct sp_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc, s, version = -1;

	if ((s = sq_exec(db, "PRAGMA journal_mode=WAL", err)) != SP_OK)
		return s;
	/* The v3 migration rebuilds the orgs table, which envelopes refer
	 * to: foreign keys are off while it runs (a no-op inside a
	 * transaction, so here), checked before the commit, on again after. */
	if ((s = sq_exec(db, "PRAGMA foreign_keys=OFF", err)) != SP_OK)
		return s;
	if ((s = sq_exec(db, "BEGIN IMMEDIATE", err)) != SP_OK)
		goto out;
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
	if (version < 3 && ((s = sq_exec(db, migrate_v3_sql, err)) != SP_OK ||
	    (s = sq_chain_old_audit(db, err)) != SP_OK ||
	    (s = sq_exec(db, migrate_v3_end_sql, err)) != SP_OK ||
	    (s = sq_fk_check(db, err)) != SP_OK))
		goto fail;
	if (version < 4 && (s = sq_exec(db, migrate_v4_sql, err)) != SP_OK)
		goto fail;
	if (version < 5 && (s = sq_exec(db, migrate_v5_sql, err)) != SP_OK)
		goto fail;
	if (version < 6 && (s = sq_exec(db, migrate_v6_sql, err)) != SP_OK)
		goto fail;
	if (version < 7 && (s = sq_exec(db, migrate_v7_sql, err)) != SP_OK)
		goto fail;
	if ((s = sq_exec(db, "COMMIT", err)) == SP_OK)
		goto out;
fail:
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
out:
	sqlite3_exec(db, "PRAGMA foreign_keys=ON", NULL, NULL, NULL);
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
	if (pthread_key_create(&q->key, sq_conn_destroy) != 0) {
		pthread_mutex_destroy(&q->mu);
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
		sq_conn_close(c);
		free(c);
	}
	pthread_mutex_destroy(&q->mu);
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

/* A statement for sql (a string constant) prepared once on db's
 * connection and kept: reset, without bindings.  Hand it back with
 * sq_finish() (sq_one() and sq_run() do), never sqlite3_finalize().  A
 * statement that is still running (a nested use) or a full cache gives a
 * statement of its own, finalized by sq_finish(). */
static int
sq_kept(sqlite3 *db, const char *sql, sqlite3_stmt **st, struct sp_err *err)
{
	struct sq_conn *c = sq_cur;
	int i, rc;

	if (c == NULL || c->db != db)
		return sq_prepare(db, sql, st, err);
	for (i = 0; i < c->nkept; i++)
		if (c->kept[i].sql == sql) {
			if (sqlite3_stmt_busy(c->kept[i].st))
				return sq_prepare(db, sql, st, err);
			*st = c->kept[i].st;
			return SP_OK;
		}
	if (c->nkept == SQ_KEPT_MAX)
		return sq_prepare(db, sql, st, err);
	rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
	if (rc != SQLITE_OK)
		return sq_status(db, rc, "prepare", err);
	c->kept[c->nkept].sql = sql;
	c->kept[c->nkept].st = *st;
	c->nkept++;
	return SP_OK;
}

/* Done with st: a kept statement is reset for its next use, any other
 * finalized. */
static void
sq_finish(sqlite3_stmt *st)
{
	struct sq_conn *c = sq_cur;
	int i;

	if (c != NULL && st != NULL && sqlite3_db_handle(st) == c->db)
		for (i = 0; i < c->nkept; i++)
			if (c->kept[i].st == st) {
				sqlite3_reset(st);
				sqlite3_clear_bindings(st);
				return;
			}
	sqlite3_finalize(st);
}

/* Run one statement without results (sql a string constant), kept. */
static int
sq_exec_kept(sqlite3 *db, const char *sql, struct sp_err *err)
{
	sqlite3_stmt *st;
	int rc, s;

	if ((s = sq_kept(db, sql, &st, err)) != SP_OK)
		return s;
	rc = sqlite3_step(st);
	sq_finish(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? SP_OK : sq_status(db, rc, sql, err);
}

/* Bind text (len -1) or a blob, NULL as SQL NULL; copied (SQLITE_TRANSIENT)
 * or, for a value that stays put until the statement is reset or finalized
 * (SQLITE_STATIC: every hot path steps and hands back its statement before
 * it returns), bound without a copy. */
static void
bind_bytes(sqlite3_stmt *st, int i, const void *p, int len, void (*keep)(void *))
{
	if (p == NULL)
		sqlite3_bind_null(st, i);
	else if (len < 0)
		sqlite3_bind_text(st, i, p, -1, keep);
	else
		sqlite3_bind_blob(st, i, p, len, keep);
}

static void
bind_text(sqlite3_stmt *st, int i, const char *s)
{
	bind_bytes(st, i, s, -1, SQLITE_TRANSIENT);
}

static void
bind_text_ref(sqlite3_stmt *st, int i, const char *s)
{
	bind_bytes(st, i, s, -1, SQLITE_STATIC);
}

static void
bind_blob_ref(sqlite3_stmt *st, int i, const unsigned char *p, size_t n)
{
	bind_bytes(st, i, p, (int)n, SQLITE_STATIC);
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
	sq_finish(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? SP_OK : sq_status(db, rc, what, err);
}

/* Step a statement that returns no rows; finalizes it. */
static int
sq_run(sqlite3 *db, sqlite3_stmt *st, const char *what, struct sp_err *err)
{
	int rc = sqlite3_step(st);

	/* the status before the reset: a reset clears the message */
	if (rc != SQLITE_DONE) {
		int s = sq_status(db, rc, what, err);

		sq_finish(st);
		return s;
	}
	sq_finish(st);
	return SP_OK;
}

static int
sq_begin(sqlite3 *db, struct sp_err *err)
{
	return sq_exec_kept(db, "BEGIN IMMEDIATE", err);
}

static int
sq_end(sqlite3 *db, int st, struct sp_err *err)
{
	if (st == SP_OK)
		st = sq_exec_kept(db, "COMMIT", err);
	if (st != SP_OK && !sqlite3_get_autocommit(db))
		sq_exec_kept(db, "ROLLBACK", NULL);
	return st;
}

/* Append a to its chain (a->org_id) inside the caller's transaction: the
 * chain's head is read and moved here, and BEGIN IMMEDIATE has made this
 * connection the only writer, so two appends never take the same place.
 * The time and event stored are the ones hashed. */
static int
sq_audit_insert(sqlite3 *db, const struct sp_audit *a, struct sp_err *err)
{
	unsigned char prev[SP_SHA256_LEN], hash[SP_SHA256_LEN];
	struct sp_audit r;
	sqlite3_stmt *st;
	int64_t seq = 0;
	int s, rc;

	if (a == NULL)
		return SP_OK;
	r = *a;
	if (r.time == 0)
		r.time = (int64_t)time(NULL);
	if (r.event == NULL)
		r.event = "event";
	memset(prev, 0, sizeof(prev));
	if ((s = sq_kept(db, "SELECT seq, hash FROM audit_heads WHERE chain = ?",
	    &st, err)) != SP_OK)
		return s;
	sqlite3_bind_int64(st, 1, r.org_id);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		seq = sqlite3_column_int64(st, 0);
		if (col_blob(st, 1, prev, sizeof(prev)) != SP_SHA256_LEN)
			rc = SQLITE_CORRUPT;
	}
	sq_finish(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return rc == SQLITE_CORRUPT ? sp_err_set(err, SP_ERR_IO,
		    "store: the head of audit chain %lld is damaged", (long long)r.org_id) :
		    sq_status(db, rc, "audit head", err);
	seq++;
	sp_audit_chain_hash(prev, r.org_id, seq, &r, hash);
	if ((s = sq_kept(db, "INSERT INTO audit(time, event, actor, envelope_id, client,"
	    " detail, chain, seq, prev, hash) VALUES (?,?,?,?,?,?,?,?,?,?)", &st, err)) != SP_OK)
		return s;
	sqlite3_bind_int64(st, 1, r.time);
	bind_text_ref(st, 2, r.event);
	bind_text_ref(st, 3, r.actor);
	bind_text_ref(st, 4, r.envelope);
	bind_text_ref(st, 5, r.client);
	bind_text_ref(st, 6, r.detail);
	sqlite3_bind_int64(st, 7, r.org_id);
	sqlite3_bind_int64(st, 8, seq);
	bind_blob_ref(st, 9, prev, SP_SHA256_LEN);
	bind_blob_ref(st, 10, hash, SP_SHA256_LEN);
	if ((s = sq_run(db, st, "audit", err)) != SP_OK)
		return s;
	if ((s = sq_kept(db, "INSERT INTO audit_heads(chain, seq, hash) VALUES (?1,?2,?3)"
	    " ON CONFLICT(chain) DO UPDATE SET seq = ?2, hash = ?3", &st, err)) != SP_OK)
		return s;
	sqlite3_bind_int64(st, 1, r.org_id);
	sqlite3_bind_int64(st, 2, seq);
	bind_blob_ref(st, 3, hash, SP_SHA256_LEN);
	return sq_run(db, st, "audit head", err);
}

/* --- audit --------------------------------------------------------------- */

static int sq_write_one(sqlite3 *db, struct sp_store_write *w);

/*
 * The group commit (store.h, store.c): the writes of a batch in one
 * BEGIN IMMEDIATE transaction, each in a savepoint of its own when there
 * are several (a refused write is rolled back alone), one COMMIT and so
 * one fsync for all.
 */
static int
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
	if ((s = sq_prepare(db, "SELECT time, event, actor, envelope_id, client, detail,"
	    " chain FROM audit WHERE ?1 IS NULL OR event = ?1 ORDER BY id", &st, err)) != SP_OK)
		return s;
	bind_text(st, 1, event);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		a.org_id = sqlite3_column_int64(st, 6);
		audit_from_cols(st, 0, &a);
		if (fn(ctx, &a) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? SP_OK : sq_status(db, rc, "audit list", err);
}

static int
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
		if (col_blob(st, 3, r.prev, sizeof(r.prev)) != SP_SHA256_LEN)
			memset(r.prev, 0, sizeof(r.prev));
		if (col_blob(st, 4, r.hash, sizeof(r.hash)) != SP_SHA256_LEN)
			memset(r.hash, 0, sizeof(r.hash));
		audit_from_cols(st, 5, &r.a);
		r.a.org_id = r.chain;
		if (fn(ctx, &r) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? SP_OK : sq_status(db, rc, "audit scan", err);
}

static int
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
		if (col_blob(st, 2, h, sizeof(h)) != SP_SHA256_LEN)
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
	col_text(st, 1, o->name, sizeof(o->name));
	col_text(st, 2, o->domain, sizeof(o->domain));
	o->created = sqlite3_column_int64(st, 3);
	o->removed = sqlite3_column_int64(st, 4);
	col_text(st, 5, o->display, sizeof(o->display));
	col_text(st, 6, o->colour, sizeof(o->colour));
	o->has_logo = sqlite3_column_int(st, 7);
	col_text(st, 8, o->contact, sizeof(o->contact));
	o->policy.expire_days = sqlite3_column_int64(st, 9);
	o->policy.notify_read = sqlite3_column_int(st, 10);
	o->policy.replies = sqlite3_column_int(st, 11);
	o->policy.forward = sqlite3_column_int(st, 12);
	o->policy.verify = sqlite3_column_int(st, 13);
	o->policy.keep_copies = sqlite3_column_int(st, 14);
	col_text(st, 15, o->policy.level, sizeof(o->policy.level));
	col_text(st, 16, o->policy.language, sizeof(o->policy.language));
	o->policy.copy_quota_mb = sqlite3_column_int64(st, 17);
	col_text(st, 18, o->policy.forward_domains, sizeof(o->policy.forward_domains));
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
	bind_text(st, 2, name);
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

static int
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
		bind_text(st, 1, name);
		sqlite3_bind_int64(st, 2, now);
		if ((s = sq_run(db, st, "add organisation", err)) == SP_ERR_EXISTS)
			sp_err_set(err, s, "an organisation named '%s' exists", name);
		oid = sqlite3_last_insert_rowid(db);
	}
	if (s == SP_OK && domain != NULL && *domain != '\0' && (s = sq_prepare(db,
	    "INSERT INTO org_domains(domain, org_id) VALUES (?,?)", &st, err)) == SP_OK) {
		bind_text(st, 1, dom);
		sqlite3_bind_int64(st, 2, oid);
		if ((s = sq_run(db, st, "add domain", err)) == SP_ERR_EXISTS)
			sp_err_set(err, s, "the domain %s belongs to an organisation already", dom);
	}
	if (s == SP_OK && (s = sq_prepare(db, "INSERT INTO org_tokens(hash, org_id, name,"
	    " created) VALUES (?,?,'default',?)", &st, err)) == SP_OK) {
		bind_hash(st, 1, token_hash);
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

static int
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
	bind_hash(st, 1, token_hash);
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
		bind_hash(st, 1, token_hash);
		sqlite3_bind_int64(st, 2, now);
		sqlite3_bind_int(st, 3, SQ_TOKEN_TOUCH);
		sqlite3_busy_timeout(db, 0);
		sq_run(db, st, "token use", NULL);
		sqlite3_busy_timeout(db, SQ_BUSY_MS);
	}
	return SP_OK;
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

static int
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

static int
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

static int
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
		bind_text(st, 14, p->forward_domains);
		sqlite3_bind_int64(st, 1, o->id);
		bind_text(st, 2, o->display);
		bind_text(st, 3, o->colour);
		bind_text(st, 4, o->contact);
		sqlite3_bind_int64(st, 5, p->expire_days);
		sqlite3_bind_int(st, 6, p->notify_read ? 1 : 0);
		sqlite3_bind_int(st, 7, p->replies ? 1 : 0);
		sqlite3_bind_int(st, 8, p->forward ? 1 : 0);
		sqlite3_bind_int(st, 9, p->verify ? 1 : 0);
		sqlite3_bind_int(st, 10, p->keep_copies);
		bind_text(st, 11, p->level[0] ? p->level : "medium");
		bind_text(st, 12, p->language[0] ? p->language : "en");
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

static int
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

static int
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

static int
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
		n = col_blob(st, 0, out, cap);
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

static int
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
		bind_text(st, 1, dom);
		sqlite3_bind_int64(st, 2, org_id);
		if ((s = sq_run(db, st, "add domain", err)) == SP_ERR_EXISTS)
			sp_err_set(err, s, "the domain %s belongs to an organisation already", dom);
	}
	if (s == SP_OK)
		s = sq_audit_insert(db, a, err);
	return sq_end(db, s, err);
}

static int
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
		bind_text(st, 1, dom);
		sqlite3_bind_int64(st, 2, org_id);
		if ((s = sq_run(db, st, "remove domain", err)) == SP_OK && sqlite3_changes(db) == 0)
			s = sp_err_set(err, SP_ERR_NOTFOUND, "the organisation has no domain %s", dom);
	}
	if (s == SP_OK)
		s = sq_audit_insert(db, a, err);
	return sq_end(db, s, err);
}

static int
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

static int
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
	bind_text(st, 1, dom);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		org_from_row(st, out);
	sq_finish(st);
	if (rc == SQLITE_DONE)
		return sp_err_set(err, SP_ERR_NOTFOUND, "no organisation holds %s", dom);
	return rc == SQLITE_ROW ? SP_OK : sq_status(db, rc, "organisation", err);
}

static int
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
		bind_hash(st, 1, token_hash);
		sqlite3_bind_int64(st, 2, org_id);
		bind_text(st, 3, name);
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
		bind_text(st, 2, name);
		sqlite3_bind_int64(st, 3, now ? now : (int64_t)time(NULL));
		if ((s = sq_run(db, st, what, err)) == SP_OK && sqlite3_changes(db) == 0)
			s = sp_err_set(err, SP_ERR_NOTFOUND, missing, name ? name : "");
	}
	if (s == SP_OK)
		s = sq_audit_insert(db, a, err);
	return sq_end(db, s, err);
}

static int
sq_org_token_revoke(void *impl, int64_t org_id, const char *name, int64_t now,
    const struct sp_audit *a, struct sp_err *err)
{
	return sq_org_mark(impl, "UPDATE org_tokens SET revoked = ?3 WHERE org_id = ?1"
	    " AND name = ?2 AND revoked = 0", org_id, name, now, "revoke token",
	    "no live token named '%s'", a, err);
}

static int
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
		col_text(st, 1, t.name, sizeof(t.name));
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
	col_text(st, 1, k->kid, sizeof(k->kid));
	k->created = sqlite3_column_int64(st, 3);
	k->retired = sqlite3_column_int64(st, 4);
	k->reply = sqlite3_column_int(st, 5);
	k->wrap_key_id = (uint32_t)sqlite3_column_int64(st, 7);
	if ((n = col_blob(st, 6, k->wrapped, sizeof(k->wrapped))) < 0)
		return -1;
	k->wrapped_len = (size_t)n;
	return col_blob(st, 2, k->pub, sizeof(k->pub)) == (int)sizeof(k->pub) ? 0 : -1;
}

static int
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
		bind_text(st, 1, k->kid);
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

static int
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
	bind_text(st, 1, kid);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW && org_key_from_row(st, out) != 0)
		rc = SQLITE_CORRUPT;
	sq_finish(st);
	if (rc == SQLITE_DONE)
		return sp_err_set(err, SP_ERR_NOTFOUND, "unknown signing key");
	return rc == SQLITE_ROW ? SP_OK : sq_status(db, rc, "signing key", err);
}

static int
sq_org_key_retire(void *impl, int64_t org_id, const char *kid, int64_t now,
    const struct sp_audit *a, struct sp_err *err)
{
	return sq_org_mark(impl, "UPDATE org_keys SET retired = ?3 WHERE org_id = ?1"
	    " AND kid = ?2 AND retired = 0", org_id, kid, now, "retire key",
	    "the organisation has no live key %s", a, err);
}

static int
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

/* --- envelopes ----------------------------------------------------------- */

/* A deposit (sp_store_envelope_add()) inside the group commit's
 * transaction. */
static int
sq_deposit_write(sqlite3 *db, const struct sp_envelope_rec *e, const struct sp_audit *a,
    struct sp_err *err)
{
	sqlite3_stmt *st;
	size_t i;
	int s;

	if (e == NULL || e->wrapped_len > sizeof(e->wrapped))
		return sp_err_set(err, SP_ERR_INVALID, "store: bad wrapped length");
	if ((s = sq_kept(db, "INSERT INTO envelopes(id, org_id, sender, created,"
	    " expires, retracted, key_id, wrapped, kind, format, notify_read, level,"
	    " verify_hash, verify_hint) VALUES (?,?,?,?,?,0,?,?,?,?,?,?,?,?)", &st,
	    err)) == SP_OK) {
		bind_text_ref(st, 1, e->id);
		sqlite3_bind_int64(st, 2, e->org_id);
		bind_text_ref(st, 3, e->from);
		sqlite3_bind_int64(st, 4, e->created);
		sqlite3_bind_int64(st, 5, e->expires);
		sqlite3_bind_int64(st, 6, e->key_id);
		bind_blob_ref(st, 7, e->wrapped, e->wrapped_len);
		sqlite3_bind_int(st, 8, e->kind);
		sqlite3_bind_int(st, 9, e->format ? e->format : 1);
		sqlite3_bind_int(st, 10, e->notify_read ? 1 : 0);
		bind_text_ref(st, 11, e->level[0] ? e->level : "medium");
		bind_text_ref(st, 12, e->verify_hash);
		bind_text_ref(st, 13, e->verify_hint);
		s = sq_run(db, st, "add envelope", err);
	}
	for (i = 0; s == SP_OK && i < e->nrcpt; i++) {
		if ((s = sq_kept(db, "INSERT INTO envelope_rcpt(envelope_id, pos, email)"
		    " VALUES (?,?,?)", &st, err)) != SP_OK)
			break;
		bind_text_ref(st, 1, e->id);
		sqlite3_bind_int64(st, 2, (int64_t)i);
		bind_text_ref(st, 3, e->rcpt[i]);
		s = sq_run(db, st, "add recipient", err);
	}
	if (s == SP_OK)
		s = sq_audit_insert(db, a, err);
	return s;
}

/* Copy a digest column: 1 when it holds exactly n bytes. */
static int
col_fixed(sqlite3_stmt *st, int i, unsigned char *out, size_t n)
{
	return col_blob(st, i, out, n) == (int)n;
}

/* The envelope columns of SQ_ENV_COLS, from column c on, into out: 0, or
 * SQLITE_CORRUPT when a stored value has a bad length. */
#define SQ_ENV_COLS "e.id, e.org_id, o.name, coalesce((SELECT" \
	" min(d.domain) FROM org_domains d WHERE d.org_id = o.id), ''), e.sender," \
	" e.created, e.expires, e.retracted, e.key_id, e.wrapped, e.kind, e.format," \
	" e.notify_read, e.level, e.verify_hash, e.verify_hint, e.shredded, e.sealed," \
	" e.header_sha, e.ct_sha, e.sig, e.kid"
#define SQ_ENV_NCOLS 22

static int
env_from_cols(sqlite3_stmt *st, int c, struct sp_envelope_rec *out)
{
	int n, rc = 0;

	col_text(st, c, out->id, sizeof(out->id));
	out->org_id = sqlite3_column_int64(st, c + 1);
	col_text(st, c + 2, out->org_name, sizeof(out->org_name));
	col_text(st, c + 3, out->org_domain, sizeof(out->org_domain));
	col_text(st, c + 4, out->from, sizeof(out->from));
	out->created = sqlite3_column_int64(st, c + 5);
	out->expires = sqlite3_column_int64(st, c + 6);
	out->retracted = sqlite3_column_int(st, c + 7);
	out->key_id = (uint32_t)sqlite3_column_int64(st, c + 8);
	if ((n = col_blob(st, c + 9, out->wrapped, sizeof(out->wrapped))) < 0)
		rc = SQLITE_CORRUPT;	/* empty after shredding */
	else
		out->wrapped_len = (size_t)n;
	out->kind = sqlite3_column_int(st, c + 10);
	out->format = sqlite3_column_int(st, c + 11);
	out->notify_read = sqlite3_column_int(st, c + 12);
	col_text(st, c + 13, out->level, sizeof(out->level));
	col_text(st, c + 14, out->verify_hash, sizeof(out->verify_hash));
	col_text(st, c + 15, out->verify_hint, sizeof(out->verify_hint));
	out->shredded = sqlite3_column_int64(st, c + 16);
	out->sealed = sqlite3_column_int(st, c + 17);
	if (out->sealed && (!col_fixed(st, c + 18, out->header_sha, SP_SHA256_LEN) ||
	    !col_fixed(st, c + 19, out->ct_sha, SP_SHA256_LEN) ||
	    !col_fixed(st, c + 20, out->sig, sizeof(out->sig))))
		rc = SQLITE_CORRUPT;
	col_text(st, c + 21, out->kid, sizeof(out->kid));
	return rc;
}

/* Append the recipient in columns c.. c + 4 of st (email, retracted,
 * opened, verified, verify_fails): SQLITE_NOMEM or 0. */
static int
env_add_rcpt(sqlite3_stmt *st, int c, struct sp_envelope_rec *out)
{
	const unsigned char *t = sqlite3_column_text(st, c);
	struct sp_envelope_rcpt *rs;
	char **v;

	if ((v = realloc(out->rcpt, (out->nrcpt + 1) * sizeof(*v))) == NULL)
		return SQLITE_NOMEM;
	out->rcpt = v;
	if ((rs = realloc(out->rstate, (out->nrcpt + 1) * sizeof(*rs))) == NULL)
		return SQLITE_NOMEM;
	out->rstate = rs;
	if ((v[out->nrcpt] = strdup(t ? (const char *)t : "")) == NULL)
		return SQLITE_NOMEM;
	rs[out->nrcpt].retracted = sqlite3_column_int(st, c + 1);
	rs[out->nrcpt].opened = sqlite3_column_int64(st, c + 2);
	rs[out->nrcpt].verified = sqlite3_column_int(st, c + 3);
	rs[out->nrcpt].verify_fails = sqlite3_column_int(st, c + 4);
	out->nrcpt++;
	return 0;
}

static int
sq_envelope_get(void *impl, const char *id, struct sp_envelope_rec *out,
    struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s, rc;

	memset(out, 0, sizeof(*out));
	if ((s = sq_db(impl, &db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "SELECT " SQ_ENV_COLS " FROM envelopes e"
	    " JOIN orgs o ON o.id = e.org_id WHERE e.id = ?", &st, err)) != SP_OK)
		return s;
	bind_text(st, 1, id);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW && env_from_cols(st, 0, out) != 0)
		rc = SQLITE_CORRUPT;
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE)
		return sp_err_set(err, SP_ERR_NOTFOUND, "unknown envelope");
	if (rc != SQLITE_ROW) {
		sp_wipe(out->wrapped, sizeof(out->wrapped));
		return sq_status(db, rc, "envelope", err);
	}
	if ((s = sq_prepare(db, "SELECT email, retracted, opened, verified, verify_fails"
	    " FROM envelope_rcpt WHERE envelope_id = ? ORDER BY pos", &st, err)) != SP_OK) {
		sp_envelope_rec_clear(out);
		return s;
	}
	bind_text(st, 1, id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if ((rc = env_add_rcpt(st, 0, out)) != 0)
			break;
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		sp_envelope_rec_clear(out);
		return rc == SQLITE_NOMEM ? sp_err_set(err, SP_ERR_NOMEM, "out of memory")
		    : sq_status(db, rc, "recipients", err);
	}
	if (out->rstate == NULL && (out->rstate = calloc(1, sizeof(*out->rstate))) == NULL) {
		sp_envelope_rec_clear(out);
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	}
	return SP_OK;
}

/*
 * A key release's read in one statement: the envelope row with its
 * organisation's branding and its signing key (row pos -1), then one row
 * per recipient, in order.
 */
static const char sq_view_sql[] =
    "SELECT -1, " SQ_ENV_COLS ", o.display, o.colour, o.logo IS NOT NULL,"
    " k.pub, k.created, k.retired, NULL, NULL, NULL, NULL, NULL"
    " FROM envelopes e JOIN orgs o ON o.id = e.org_id"
    " LEFT JOIN org_keys k ON e.sealed = 1 AND k.kid = e.kid AND k.org_id = e.org_id"
    " WHERE e.id = ?1"
    " UNION ALL SELECT r.pos, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,"
    " NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,"
    " NULL, NULL, NULL, NULL, r.email, r.retracted, r.opened, r.verified, r.verify_fails"
    " FROM envelope_rcpt r WHERE r.envelope_id = ?1 ORDER BY 1";

static int
sq_envelope_view(void *impl, const char *id, struct sp_envelope_view *out,
    struct sp_err *err)
{
	const int b = 1 + SQ_ENV_NCOLS;		/* the branding's first column */
	struct sp_envelope_rec *e = &out->e;
	sqlite3 *db;
	sqlite3_stmt *st;
	int s, rc, found = 0;

	memset(out, 0, sizeof(*out));
	if ((s = sq_db(impl, &db, err)) != SP_OK ||
	    (s = sq_kept(db, sq_view_sql, &st, err)) != SP_OK)
		return s;
	bind_text_ref(st, 1, id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (sqlite3_column_int64(st, 0) < 0) {
			found = 1;
			if ((rc = env_from_cols(st, 1, e)) != 0)
				break;
			out->org.id = e->org_id;
			snprintf(out->org.name, sizeof(out->org.name), "%s", e->org_name);
			snprintf(out->org.domain, sizeof(out->org.domain), "%s", e->org_domain);
			col_text(st, b, out->org.display, sizeof(out->org.display));
			col_text(st, b + 1, out->org.colour, sizeof(out->org.colour));
			out->org.has_logo = sqlite3_column_int(st, b + 2);
			if (sqlite3_column_type(st, b + 3) != SQLITE_NULL) {
				if (!col_fixed(st, b + 3, out->key.pub, sizeof(out->key.pub))) {
					rc = SQLITE_CORRUPT;
					break;
				}
				out->have_key = 1;
				out->key.org_id = e->org_id;
				snprintf(out->key.kid, sizeof(out->key.kid), "%s", e->kid);
				out->key.created = sqlite3_column_int64(st, b + 4);
				out->key.retired = sqlite3_column_int64(st, b + 5);
			}
		} else if (found && (rc = env_add_rcpt(st, b + 6, e)) != 0)
			break;
	}
	if (rc != SQLITE_DONE)
		s = rc == SQLITE_NOMEM ? sp_err_set(err, SP_ERR_NOMEM, "out of memory") :
		    sq_status(db, rc, "envelope", err);
	else if (!found)
		s = sp_err_set(err, SP_ERR_NOTFOUND, "unknown envelope");
	else if (e->rstate == NULL && (e->rstate = calloc(1, sizeof(*e->rstate))) == NULL)
		s = sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	sq_finish(st);
	if (s != SP_OK)
		sp_envelope_rec_clear(e);
	return s;
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

/* The envelope's shredded time (inside the caller's transaction):
 * SP_ERR_NOTFOUND when it does not exist. */
static int
sq_envelope_shredded(sqlite3 *db, const char *id, int64_t *shredded, struct sp_err *err)
{
	sqlite3_stmt *st;
	int s, found = 0;

	if ((s = sq_prepare(db, "SELECT shredded FROM envelopes WHERE id = ?", &st,
	    err)) != SP_OK)
		return s;
	bind_text(st, 1, id);
	if ((s = sq_one(db, st, shredded, &found, "envelope", err)) == SP_OK && !found)
		s = sp_err_set(err, SP_ERR_NOTFOUND, "unknown envelope");
	return s;
}

/* Run a statement about one recipient (?1 envelope id, ?2 address, ?3
 * value) inside the caller's transaction: SP_ERR_NOTFOUND when it changed
 * no row (not a recipient), else *changed (may be NULL) gets the count. */
static int
sq_rcpt_update(sqlite3 *db, const char *sql, const char *id, const char *rcpt,
    int64_t value, int *changed, struct sp_err *err)
{
	sqlite3_stmt *st;
	int s;

	if ((s = sq_prepare(db, sql, &st, err)) != SP_OK)
		return s;
	bind_text(st, 1, id);
	bind_text(st, 2, rcpt);
	sqlite3_bind_int64(st, 3, value);
	if ((s = sq_run(db, st, "recipient", err)) != SP_OK)
		return s;
	if (changed != NULL)
		*changed = sqlite3_changes(db);
	return SP_OK;
}

/* 1 when rcpt is one of the envelope's recipients. */
static int
sq_is_rcpt(sqlite3 *db, const char *id, const char *rcpt, int *found, struct sp_err *err)
{
	sqlite3_stmt *st;
	int s;

	if ((s = sq_prepare(db, "SELECT 1 FROM envelope_rcpt WHERE envelope_id = ?"
	    " AND email = lower(?)", &st, err)) != SP_OK)
		return s;
	bind_text(st, 1, id);
	bind_text(st, 2, rcpt);
	return sq_one(db, st, NULL, found, "recipient", err);
}

static int
sq_envelope_set_retracted(void *impl, const char *id, const char *rcpt, int on,
    const struct sp_audit *a, struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t shredded = 0;
	int s, n = 0;

	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	if ((s = sq_envelope_shredded(db, id, &shredded, err)) == SP_OK && !on && shredded)
		s = sp_err_set(err, SP_ERR_EXPIRED, "the envelope was shredded: it cannot"
		    " be opened again");
	if (s == SP_OK && rcpt == NULL &&
	    (s = sq_prepare(db, "UPDATE envelopes SET retracted = ? WHERE id = ?", &st,
	    err)) == SP_OK) {
		sqlite3_bind_int(st, 1, on ? 1 : 0);
		bind_text(st, 2, id);
		s = sq_run(db, st, "retract", err);
	}
	if (s == SP_OK && rcpt != NULL && (s = sq_rcpt_update(db, "UPDATE envelope_rcpt"
	    " SET retracted = ?3 WHERE envelope_id = ?1 AND email = lower(?2)", id, rcpt,
	    on ? 1 : 0, &n, err)) == SP_OK && n == 0)
		s = sp_err_set(err, SP_ERR_NOTFOUND, "not a recipient of this envelope");
	if (s == SP_OK)
		s = sq_audit_insert(db, a, err);
	return sq_end(db, s, err);
}

/* A seal (sp_store_envelope_seal()) inside the group commit's
 * transaction. */
static int
sq_seal_write(sqlite3 *db, const struct sp_store_write *w, struct sp_err *err)
{
	unsigned char hs[SP_SHA256_LEN], cs[SP_SHA256_LEN], sg[64];
	char k[SP_STORE_KID_MAX + 1];
	const unsigned char *header_sha = w->header_sha, *ct_sha = w->ct_sha, *sig = w->sig;
	const char *id = w->id, *kid = w->kid;
	sqlite3_stmt *st;
	int s = SP_OK, rc, sealed = 0, same = 0;

	if (kid == NULL || *kid == '\0' || strlen(kid) > SP_STORE_KID_MAX || id == NULL ||
	    header_sha == NULL || ct_sha == NULL || sig == NULL)
		return sp_err_set(err, SP_ERR_INVALID, "store: bad key id");
	if ((s = sq_kept(db, "SELECT sealed, header_sha, ct_sha, sig, kid FROM envelopes"
	    " WHERE id = ?", &st, err)) != SP_OK)
		return s;
	bind_text(st, 1, id);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW && (sealed = sqlite3_column_int(st, 0))) {
		col_text(st, 4, k, sizeof(k));
		same = col_fixed(st, 1, hs, sizeof(hs)) && col_fixed(st, 2, cs, sizeof(cs)) &&
		    col_fixed(st, 3, sg, sizeof(sg)) && memcmp(hs, header_sha, sizeof(hs)) == 0 &&
		    memcmp(cs, ct_sha, sizeof(cs)) == 0 && memcmp(sg, sig, sizeof(sg)) == 0 &&
		    strcmp(k, kid) == 0;
	}
	if (rc == SQLITE_DONE)
		s = sp_err_set(err, SP_ERR_NOTFOUND, "unknown envelope");
	else if (rc != SQLITE_ROW)
		s = sq_status(db, rc, "envelope", err);
	sq_finish(st);
	if (s == SP_OK && sealed && !same)
		s = sp_err_set(err, SP_ERR_EXISTS, "the envelope was sealed already with"
		    " other values");
	else if (s == SP_OK && sealed)
		return SP_OK;	/* a repeated call: nothing new */
	if (s == SP_OK && (s = sq_kept(db, "UPDATE envelopes SET sealed = 1,"
	    " header_sha = ?2, ct_sha = ?3, sig = ?4, kid = ?5 WHERE id = ?1 AND sealed = 0",
	    &st, err)) == SP_OK) {
		bind_text(st, 1, id);
		bind_hash(st, 2, header_sha);
		bind_hash(st, 3, ct_sha);
		sqlite3_bind_blob(st, 4, sig, 64, SQLITE_TRANSIENT);
		bind_text(st, 5, kid);
		s = sq_run(db, st, "seal", err);
	}
	if (s == SP_OK)
		s = sq_audit_insert(db, w->a, err);
	return s;
}

/* A release's open (sp_store_envelope_opened()) inside the group commit's
 * transaction: w->first tells whether it was the recipient's first. */
static int
sq_opened_write(sqlite3 *db, struct sp_store_write *w, struct sp_err *err)
{
	sqlite3_stmt *st;
	int s, n = 0, found = 0;

	if (w->id == NULL || w->rcpt == NULL)
		return sp_err_set(err, SP_ERR_NOTFOUND, "not a recipient of this envelope");
	/* Only the call that finds opened = 0 changes the row: the first. */
	if ((s = sq_kept(db, "UPDATE envelope_rcpt SET opened = ?3"
	    " WHERE envelope_id = ?1 AND email = lower(?2) AND opened = 0", &st, err)) != SP_OK)
		return s;
	bind_text_ref(st, 1, w->id);
	bind_text_ref(st, 2, w->rcpt);
	sqlite3_bind_int64(st, 3, w->now ? w->now : (int64_t)time(NULL));
	if ((s = sq_run(db, st, "recipient", err)) != SP_OK)
		return s;
	n = sqlite3_changes(db);
	if (n == 0 && (s = sq_is_rcpt(db, w->id, w->rcpt, &found, err)) == SP_OK && !found)
		s = sp_err_set(err, SP_ERR_NOTFOUND, "not a recipient of this envelope");
	if (s == SP_OK)
		s = sq_audit_insert(db, w->a, err);
	w->first = s == SP_OK && n > 0;
	return s;
}

static int sq_header_write(sqlite3 *db, const char *id, const unsigned char *header,
    size_t len, struct sp_err *err);

static int
sq_write_one(sqlite3 *db, struct sp_store_write *w)
{
	int st;

	switch (w->kind) {
	case SP_WRITE_AUDIT:
		return sq_audit_insert(db, w->a, &w->err);
	case SP_WRITE_DEPOSIT:
		return sq_deposit_write(db, w->e, w->a, &w->err);
	case SP_WRITE_SEAL:
		if ((st = sq_seal_write(db, w, &w->err)) == SP_OK && w->header != NULL)
			st = sq_header_write(db, w->id, w->header, w->header_len, &w->err);
		return st;
	case SP_WRITE_OPENED:
		return sq_opened_write(db, w, &w->err);
	default:
		return sp_err_set(&w->err, SP_ERR_INTERNAL, "store: unknown write %d", w->kind);
	}
}

static int
sq_envelope_verify_result(void *impl, const char *id, const char *rcpt, int ok, int *fails,
    const struct sp_audit *a, struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t f = 0;
	int s, n = 0, found = 0;

	if (fails != NULL)
		*fails = 0;
	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	if ((s = sq_rcpt_update(db, ok ? "UPDATE envelope_rcpt SET verified = ?3"
	    " WHERE envelope_id = ?1 AND email = lower(?2)" : "UPDATE envelope_rcpt"
	    " SET verify_fails = verify_fails + ?3 WHERE envelope_id = ?1 AND email = lower(?2)",
	    id, rcpt, 1, &n, err)) == SP_OK && n == 0)
		s = sp_err_set(err, SP_ERR_NOTFOUND, "not a recipient of this envelope");
	if (s == SP_OK && (s = sq_prepare(db, "SELECT max(verify_fails) FROM envelope_rcpt"
	    " WHERE envelope_id = ? AND email = lower(?)", &st, err)) == SP_OK) {
		bind_text(st, 1, id);
		bind_text(st, 2, rcpt);
		s = sq_one(db, st, &f, &found, "verification", err);
	}
	if (s == SP_OK)
		s = sq_audit_insert(db, a, err);
	if ((s = sq_end(db, s, err)) == SP_OK && fails != NULL)
		*fails = (int)f;
	return s;
}

#define SQ_ENV_BATCH 64

/* Envelope ids of sql in (created, id) order, in batches: sql gets ?1
 * and ?2 from the caller (bind), ?3 the last created, ?4 the last id, ?5
 * the batch size, and returns id, created.  Each envelope is read whole
 * and passed to fn outside any statement, so fn may use the store. */
static int
sq_envelope_batches(struct sq *q, const char *sql, int64_t p1, const char *p2text,
    int64_t p2, int (*fn)(void *, const struct sp_envelope_rec *), void *ctx,
    struct sp_err *err)
{
	char (*ids)[SP_STORE_ID_MAX + 1];
	char last_id[SP_STORE_ID_MAX + 1] = "";
	int64_t last_created = INT64_MIN;
	struct sp_envelope_rec e;
	sqlite3 *db;
	sqlite3_stmt *st;
	size_t n, i;
	int s, rc, stop = 0;

	if ((s = sq_db(q, &db, err)) != SP_OK)
		return s;
	if ((ids = calloc(SQ_ENV_BATCH, sizeof(*ids))) == NULL)
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	do {
		n = 0;
		if ((s = sq_prepare(db, sql, &st, err)) != SP_OK)
			break;
		if (p2text != NULL)
			bind_text(st, 1, p2text);
		else
			sqlite3_bind_int64(st, 1, p1);
		sqlite3_bind_int64(st, 2, p2);
		sqlite3_bind_int64(st, 3, last_created);
		bind_text(st, 4, last_id);
		sqlite3_bind_int(st, 5, SQ_ENV_BATCH);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < SQ_ENV_BATCH) {
			col_text(st, 0, ids[n], sizeof(ids[n]));
			last_created = sqlite3_column_int64(st, 1);
			n++;
		}
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
			s = sq_status(db, rc, "envelopes", err);
			break;
		}
		if (n > 0)
			snprintf(last_id, sizeof(last_id), "%s", ids[n - 1]);
		for (i = 0; i < n && !stop && s == SP_OK; i++) {
			if ((s = sq_envelope_get(q, ids[i], &e, err)) == SP_ERR_NOTFOUND) {
				s = SP_OK;	/* gone since the batch was read */
				continue;
			}
			if (s == SP_OK)
				stop = fn(ctx, &e) != 0;
			sp_envelope_rec_clear(&e);
		}
	} while (s == SP_OK && n == SQ_ENV_BATCH && !stop);
	free(ids);
	return s;
}

#define SQ_ENV_AFTER " AND (e.created > ?3 OR e.created = ?3 AND e.id > ?4)" \
	" ORDER BY e.created, e.id LIMIT ?5"

static int
sq_envelope_each(void *impl, int64_t org_id, int64_t since,
    int (*fn)(void *, const struct sp_envelope_rec *), void *ctx, struct sp_err *err)
{
	return sq_envelope_batches(impl, "SELECT e.id, e.created FROM envelopes e"
	    " WHERE e.org_id = ?1 AND e.created >= ?2" SQ_ENV_AFTER, org_id, NULL, since,
	    fn, ctx, err);
}

static int
sq_envelope_each_for(void *impl, const char *rcpt, int64_t now,
    int (*fn)(void *, const struct sp_envelope_rec *), void *ctx, struct sp_err *err)
{
	if (rcpt == NULL)
		return sp_err_set(err, SP_ERR_INVALID, "store: no recipient");
	return sq_envelope_batches(impl, "SELECT e.id, e.created FROM envelopes e"
	    " WHERE e.shredded = 0 AND e.retracted = 0 AND (e.expires = 0 OR e.expires > ?2)"
	    " AND EXISTS (SELECT 1 FROM envelope_rcpt r WHERE r.envelope_id = e.id"
	    " AND r.email = lower(?1) AND r.retracted = 0)" SQ_ENV_AFTER, 0, rcpt, now,
	    fn, ctx, err);
}

/* Shredded per transaction when no limit is given. */
#define SQ_SHRED_BATCH 256

static int
sq_envelope_shred_expired(void *impl, int64_t now, int limit, int *n, struct sp_err *err)
{
	struct sq *q = impl;
	struct sp_audit a;
	char detail[64];
	char (*ids)[SP_STORE_ID_MAX + 1];
	int64_t *orgs, *expires;
	sqlite3 *db;
	sqlite3_stmt *st;
	int s, rc, i, k, want, done = 0, ckpt;

	if (n != NULL)
		*n = 0;
	if ((s = sq_db(impl, &db, err)) != SP_OK)
		return s;
	ids = calloc(SQ_SHRED_BATCH, sizeof(*ids));
	orgs = calloc(SQ_SHRED_BATCH, sizeof(*orgs));
	expires = calloc(SQ_SHRED_BATCH, sizeof(*expires));
	if (ids == NULL || orgs == NULL || expires == NULL) {
		s = sp_err_set(err, SP_ERR_NOMEM, "out of memory");
		goto out;
	}
	do {
		want = limit > 0 && limit - done < SQ_SHRED_BATCH ? limit - done : SQ_SHRED_BATCH;
		if ((s = sq_begin(db, err)) != SP_OK)
			break;
		k = 0;
		if ((s = sq_prepare(db, "SELECT id, org_id, expires FROM envelopes"
		    " WHERE shredded = 0 AND expires > 0 AND expires <= ? ORDER BY expires, id"
		    " LIMIT ?", &st, err)) == SP_OK) {
			sqlite3_bind_int64(st, 1, now);
			sqlite3_bind_int(st, 2, want);
			while ((rc = sqlite3_step(st)) == SQLITE_ROW && k < want) {
				col_text(st, 0, ids[k], sizeof(ids[k]));
				orgs[k] = sqlite3_column_int64(st, 1);
				expires[k] = sqlite3_column_int64(st, 2);
				k++;
			}
			sqlite3_finalize(st);
			if (rc != SQLITE_DONE && rc != SQLITE_ROW)
				s = sq_status(db, rc, "expired envelopes", err);
		}
		for (i = 0; i < k && s == SP_OK; i++) {
			if ((s = sq_prepare(db, "UPDATE envelopes SET wrapped = zeroblob(0),"
			    " key_id = 0, shredded = ? WHERE id = ? AND shredded = 0", &st,
			    err)) != SP_OK)
				break;
			sqlite3_bind_int64(st, 1, now);
			bind_text(st, 2, ids[i]);
			if ((s = sq_run(db, st, "shred", err)) != SP_OK)
				break;
			snprintf(detail, sizeof(detail), "expired %lld", (long long)expires[i]);
			a = (struct sp_audit){now, "shred", NULL, ids[i], NULL, detail, orgs[i]};
			s = sq_audit_insert(db, &a, err);
		}
		if ((s = sq_end(db, s, err)) == SP_OK)
			done += k;
	} while (s == SP_OK && k == want && (limit <= 0 || done < limit));
	/* The old page images of the rows leave the WAL; secure_delete has
	 * zeroed them in the database pages.  A reader holding an old
	 * snapshot (longer than the busy timeout) can keep the WAL from
	 * being emptied: then the next run checkpoints again. */
	pthread_mutex_lock(&q->mu);
	ckpt = q->ckpt_due = q->ckpt_due || done > 0;
	pthread_mutex_unlock(&q->mu);
	if (ckpt && sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL,
	    NULL) == SQLITE_OK) {
		pthread_mutex_lock(&q->mu);
		q->ckpt_due = 0;
		pthread_mutex_unlock(&q->mu);
	}
	if (n != NULL)
		*n = done;
out:
	free(ids);
	free(orgs);
	free(expires);
	return s;
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
	    " (SELECT count(*) FROM recovery_codes r WHERE r.email = a.email AND r.used = 0),"
	    " profile_todo, bcc_default FROM accounts a WHERE email = ?", &st, err)) != SP_OK)
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
		out->profile_todo = sqlite3_column_int(st, 21);
		out->bcc_default = sqlite3_column_int(st, 22);
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
	    ", bind_hash, created, profile_todo)"
	    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?14,?15,?16)", &st, err)) == SP_OK) {
		profile_bind(st, acc);
		bind_hash(st, 14, acc->bind_hash);
		sqlite3_bind_int64(st, 15, now);
		sqlite3_bind_int(st, 16, acc->profile_todo ? 1 : 0);
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
	    ", activated, failed_logins, created, pw_changed, profile_todo) SELECT "
	    SQ_PROFILE_COLS ", 1, 0, ?2, created, profile_todo FROM pending WHERE id = ?1",
	    &st, err)) == SP_OK) {
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
	    " last_seen, expires, auth_time, via) VALUES (?,?,?,?,?,?,?,?)", &st, err)) == SP_OK) {
		sqlite3_bind_blob(st, 1, ss->hash, SP_SHA256_LEN, SQLITE_TRANSIENT);
		bind_text(st, 2, ss->email);
		bind_text(st, 3, ss->csrf);
		sqlite3_bind_int64(st, 4, ss->created);
		sqlite3_bind_int64(st, 5, ss->last_seen);
		sqlite3_bind_int64(st, 6, ss->expires);
		sqlite3_bind_int64(st, 7, ss->auth_time);
		bind_text(st, 8, ss->via);
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
	if ((s = sq_kept(db, "SELECT email, csrf, created, last_seen, expires, auth_time, via"
	    " FROM sessions"
	    " WHERE hash = ?1 AND expires > ?2 AND last_seen + ?3 > ?2", &st, err)) != SP_OK)
		return s;
	bind_blob_ref(st, 1, hash, SP_SHA256_LEN);
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
		col_text(st, 6, out->via, sizeof(out->via));
	}
	sq_finish(st);
	if (rc == SQLITE_DONE)
		return sp_err_set(err, SP_ERR_NOTFOUND, "no such session");
	if (rc != SQLITE_ROW)
		return sq_status(db, rc, "session", err);
	if (now - out->last_seen < SQ_SESSION_TOUCH)
		return SP_OK;
	if ((s = sq_kept(db, "UPDATE sessions SET last_seen = ?2 WHERE hash = ?1"
	    " AND last_seen < ?2", &st, err)) != SP_OK)
		return s;
	bind_blob_ref(st, 1, hash, SP_SHA256_LEN);
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
sq_profile_set(void *impl, const struct sp_account *acc, const struct sp_audit *a,
    struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s;

	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	/* profile_bind's parameters; the password (5) is left as it is */
	if ((s = sq_prepare(db, "UPDATE accounts SET first_name = ?2, last_name = ?3,"
	    " language = ?4, phrase = ?6, phrase_enabled = ?7, q1 = ?8, q2 = ?9, q3 = ?10,"
	    " a1 = ?11, a2 = ?12, a3 = ?13, profile_todo = 0, bcc_default = ?14"
	    " WHERE email = ?1", &st, err)) == SP_OK) {
		profile_bind(st, acc);
		sqlite3_bind_int(st, 14, acc->bcc_default ? 1 : 0);
		if ((s = sq_run(db, st, "set profile", err)) == SP_OK && sqlite3_changes(db) == 0)
			s = sp_err_set(err, SP_ERR_NOTFOUND, "no such account");
	}
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
	if (s == SP_OK && (s = sq_prepare(db, "DELETE FROM devices WHERE email = ?",
	    &st, err)) == SP_OK) {
		bind_text(st, 1, email);
		s = sq_run(db, st, "forget devices", err);
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

/* --- remembered devices -------------------------------------------------- */

/* Run sql (one text parameter ?1 = email, one integer ?2) in the caller's
 * transaction; *n (may be NULL) gets the rows changed. */
static int
sq_run_email(sqlite3 *db, const char *sql, const char *email, int64_t x, int *n,
    const char *what, struct sp_err *err)
{
	sqlite3_stmt *st;
	int s;

	if ((s = sq_prepare(db, sql, &st, err)) != SP_OK)
		return s;
	bind_text(st, 1, email);
	if (sqlite3_bind_parameter_count(st) >= 2)
		sqlite3_bind_int64(st, 2, x);
	if ((s = sq_run(db, st, what, err)) == SP_OK && n != NULL)
		*n = sqlite3_changes(db);
	return s;
}

static int
sq_device_add(void *impl, const struct sp_device *d, const struct sp_audit *a,
    struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s, found = 0;

	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	if ((s = sq_account_exists(db, d->email, &found, err)) == SP_OK && !found)
		s = sp_err_set(err, SP_ERR_NOTFOUND, "no such account");
	if (s == SP_OK && (s = sq_prepare(db, "DELETE FROM devices WHERE expires <= ?",
	    &st, err)) == SP_OK) {
		sqlite3_bind_int64(st, 1, d->created);
		s = sq_run(db, st, "expire devices", err);
	}
	if (s == SP_OK)
		s = sq_run_email(db, "DELETE FROM devices WHERE id IN (SELECT id FROM devices"
		    " WHERE email = ?1 ORDER BY last_used DESC, id DESC LIMIT -1 OFFSET ?2)",
		    d->email, SP_STORE_DEVICES_MAX - 1, NULL, "drop devices", err);
	if (s == SP_OK && (s = sq_prepare(db, "INSERT INTO devices(hash, email, agent, created,"
	    " last_used, expires) VALUES (?,?,?,?,?,?)", &st, err)) == SP_OK) {
		bind_hash(st, 1, d->hash);
		bind_text(st, 2, d->email);
		bind_text(st, 3, d->agent);
		sqlite3_bind_int64(st, 4, d->created);
		sqlite3_bind_int64(st, 5, d->last_used);
		sqlite3_bind_int64(st, 6, d->expires);
		s = sq_run(db, st, "add device", err);
	}
	if (s == SP_OK)
		s = sq_audit_insert(db, a, err);
	return sq_end(db, s, err);
}

/* A device's last_used is written only when it is this many seconds old. */
#define SQ_DEVICE_TOUCH 60

static void
device_row(sqlite3_stmt *st, struct sp_device *out)
{
	out->id = sqlite3_column_int64(st, 0);
	col_text(st, 1, out->email, sizeof(out->email));
	col_text(st, 2, out->agent, sizeof(out->agent));
	out->created = sqlite3_column_int64(st, 3);
	out->last_used = sqlite3_column_int64(st, 4);
	out->expires = sqlite3_column_int64(st, 5);
}

static int
sq_device_use(void *impl, const unsigned char *hash, int64_t now, struct sp_device *out,
    struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s, rc;

	memset(out, 0, sizeof(*out));
	if ((s = sq_db(impl, &db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "SELECT id, email, agent, created, last_used, expires"
	    " FROM devices WHERE hash = ?1 AND expires > ?2", &st, err)) != SP_OK)
		return s;
	bind_hash(st, 1, hash);
	sqlite3_bind_int64(st, 2, now);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		device_row(st, out);
		memcpy(out->hash, hash, SP_SHA256_LEN);
	}
	sq_finish(st);
	if (rc == SQLITE_DONE)
		return sp_err_set(err, SP_ERR_NOTFOUND, "no such device");
	if (rc != SQLITE_ROW)
		return sq_status(db, rc, "device", err);
	if (now - out->last_used < SQ_DEVICE_TOUCH)
		return SP_OK;
	if ((s = sq_prepare(db, "UPDATE devices SET last_used = ?2 WHERE id = ?1", &st,
	    err)) != SP_OK)
		return s;
	sqlite3_bind_int64(st, 1, out->id);
	sqlite3_bind_int64(st, 2, now);
	if ((s = sq_run(db, st, "device", err)) == SP_OK)
		out->last_used = now;
	return s;
}

static int
sq_device_each(void *impl, const char *email, int64_t now,
    int (*fn)(void *, const struct sp_device *), void *ctx, struct sp_err *err)
{
	struct sp_device d;
	sqlite3 *db;
	sqlite3_stmt *st;
	int s, rc;

	if ((s = sq_db(impl, &db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "SELECT id, email, agent, created, last_used, expires"
	    " FROM devices WHERE email = ?1 AND expires > ?2 ORDER BY last_used DESC, id DESC",
	    &st, err)) != SP_OK)
		return s;
	bind_text(st, 1, email);
	sqlite3_bind_int64(st, 2, now);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&d, 0, sizeof(d));
		device_row(st, &d);
		if (fn(ctx, &d) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	s = rc == SQLITE_DONE ? SP_OK : sq_status(db, rc, "devices", err);
	sq_finish(st);
	return s;
}

static int
sq_device_delete(void *impl, const char *email, int64_t id, const struct sp_audit *a,
    struct sp_err *err)
{
	sqlite3 *db;
	int s, n = 0;

	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	s = sq_run_email(db, "DELETE FROM devices WHERE email = ?1 AND id = ?2", email, id,
	    &n, "forget device", err);
	if (s == SP_OK && n == 0)
		s = sp_err_set(err, SP_ERR_NOTFOUND, "no such device");
	if (s == SP_OK)
		s = sq_audit_insert(db, a, err);
	return sq_end(db, s, err);
}

static int
sq_signout_all(void *impl, const char *email, int *nsessions, int *ndevices,
    const struct sp_audit *a, struct sp_err *err)
{
	sqlite3 *db;
	int s, ns = 0, nd = 0;

	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	s = sq_run_email(db, "DELETE FROM sessions WHERE email = ?1", email, 0, &ns,
	    "end sessions", err);
	if (s == SP_OK)
		s = sq_run_email(db, "DELETE FROM devices WHERE email = ?1", email, 0, &nd,
		    "forget devices", err);
	if (s == SP_OK)
		s = sq_audit_insert(db, a, err);
	if ((s = sq_end(db, s, err)) == SP_OK) {
		if (nsessions != NULL)
			*nsessions = ns;
		if (ndevices != NULL)
			*ndevices = nd;
	}
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

/* --- housekeeping -------------------------------------------------------- */

/* One statement of sp_store_housekeep (?1 the stale time and ?2 now,
 * where it names them), adding the rows it removed to *n (may be NULL). */
static int
sq_housekeep_one(sqlite3 *db, const char *sql, int64_t now, int *n, struct sp_err *err)
{
	sqlite3_stmt *st;
	int s;

	if ((s = sq_prepare(db, sql, &st, err)) != SP_OK)
		return s;
	if (sqlite3_bind_parameter_count(st) == 2) {
		sqlite3_bind_int64(st, 1, now - SP_STORE_STALE_AGE);
		sqlite3_bind_int64(st, 2, now);
	}
	if ((s = sq_run(db, st, "housekeeping", err)) == SP_OK && n != NULL)
		*n += sqlite3_changes(db);
	return s;
}

/* A question's counter names its envelope: "verify:" and the 22-character
 * id. */
static int
sq_housekeep(void *impl, int64_t now, struct sp_housekeep_counts *out, struct sp_err *err)
{
	sqlite3 *db;
	int s;

	if ((s = sq_db(impl, &db, err)) != SP_OK ||
	    (s = sq_housekeep_one(db, "DELETE FROM throttle WHERE substr(key, 1, 7) <> 'verify:'"
	    " AND last_failed < ?1 AND locked_until <= ?2", now, &out->throttle, err)) != SP_OK ||
	    (s = sq_housekeep_one(db, "DELETE FROM throttle WHERE substr(key, 1, 7) = 'verify:'"
	    " AND NOT EXISTS (SELECT 1 FROM envelopes e WHERE e.id = substr(throttle.key, 8, 22)"
	    " AND e.shredded = 0)", now, &out->throttle, err)) != SP_OK ||
	    (s = sq_housekeep_one(db, "DELETE FROM pending WHERE created < ?1"
	    " AND id NOT IN (SELECT ref FROM tokens WHERE kind = 1 AND expires > ?2)", now,
	    &out->pending, err)) != SP_OK)
		return s;
	/* the links of the registrations that went */
	return sq_housekeep_one(db, "DELETE FROM tokens WHERE kind = 1"
	    " AND ref NOT IN (SELECT id FROM pending)", now, NULL, err);
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
	    " WHERE key_id < ?1 AND shredded = 0 AND id > ?2 ORDER BY id LIMIT ?3", below,
	    fn, ctx, err);
}

static int
sq_envelope_rewrap(void *impl, const char *id, uint32_t old_key_id, uint32_t new_key_id,
    const unsigned char *wrapped, size_t len, const struct sp_audit *a, struct sp_err *err)
{
	return sq_rewrap(impl, "UPDATE envelopes SET key_id = ?3, wrapped = ?4"
	    " WHERE id = ?1 AND key_id = ?2 AND shredded = 0", id, old_key_id, new_key_id,
	    wrapped, len, a, err);
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

/* --- ciphertext copies (schema v4) ---------------------------------------- */

/* Store a sealed envelope's header once, inside the caller's transaction:
 * the same bytes again are SP_OK, other bytes SP_ERR_EXISTS. */
static int
sq_header_write(sqlite3 *db, const char *id, const unsigned char *header, size_t len,
    struct sp_err *err)
{
	sqlite3_stmt *st;
	int s, rc, same = 0, have = 0;

	if ((s = sq_prepare(db, "SELECT sealed_header FROM envelopes WHERE id = ?", &st,
	    err)) != SP_OK)
		return s;
	bind_text(st, 1, id);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW &&
	    (have = sqlite3_column_type(st, 0) != SQLITE_NULL))
		same = (size_t)sqlite3_column_bytes(st, 0) == len &&
		    memcmp(sqlite3_column_blob(st, 0), header, len) == 0;
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE)
		s = sp_err_set(err, SP_ERR_NOTFOUND, "unknown envelope");
	else if (rc != SQLITE_ROW)
		s = sq_status(db, rc, "envelope", err);
	else if (have)
		s = same ? SP_OK : sp_err_set(err, SP_ERR_EXISTS, "the envelope has another"
		    " header already");
	else if ((s = sq_prepare(db, "UPDATE envelopes SET sealed_header = ? WHERE id = ?",
	    &st, err)) == SP_OK) {
		sqlite3_bind_blob(st, 1, header, (int)len, SQLITE_TRANSIENT);
		bind_text(st, 2, id);
		s = sq_run(db, st, "envelope header", err);
	}
	return s;
}

static int
sq_envelope_header_set(void *impl, const char *id, const unsigned char *header,
    size_t len, struct sp_err *err)
{
	sqlite3 *db;
	int s;

	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	return sq_end(db, sq_header_write(db, id, header, len, err), err);
}

static int
sq_envelope_copy_get(void *impl, const char *id, struct sp_envelope_copy *out,
    struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s, rc, n;

	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_prepare(db, "SELECT org_id,"
	    " sealed_header, copy_size, copy_until FROM envelopes WHERE id = ?", &st,
	    err)) != SP_OK)
		return s;
	bind_text(st, 1, id);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		out->org_id = sqlite3_column_int64(st, 0);
		out->size = sqlite3_column_int64(st, 2);
		out->until = sqlite3_column_int64(st, 3);
		if ((n = sqlite3_column_bytes(st, 1)) > 0) {
			if ((out->header = malloc((size_t)n)) == NULL)
				rc = SQLITE_NOMEM;
			else {
				memcpy(out->header, sqlite3_column_blob(st, 1), (size_t)n);
				out->header_len = (size_t)n;
			}
		}
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE)
		return sp_err_set(err, SP_ERR_NOTFOUND, "unknown envelope");
	if (rc != SQLITE_ROW) {
		sp_envelope_copy_clear(out);
		return rc == SQLITE_NOMEM ? sp_err_set(err, SP_ERR_NOMEM, "out of memory") :
		    sq_status(db, rc, "envelope copy", err);
	}
	return SP_OK;
}

/* Sum of copy_size of org_id's envelopes other than id (inside the
 * caller's transaction or none). */
static int
sq_copy_sum(sqlite3 *db, int64_t org_id, const char *id, int64_t *bytes, struct sp_err *err)
{
	sqlite3_stmt *st;
	int s, found = 0;

	if ((s = sq_prepare(db, "SELECT coalesce(sum(copy_size), 0) FROM envelopes"
	    " WHERE org_id = ? AND copy_size > 0 AND id != ?", &st, err)) != SP_OK)
		return s;
	sqlite3_bind_int64(st, 1, org_id);
	bind_text(st, 2, id != NULL ? id : "");
	return sq_one(db, st, bytes, &found, "copy bytes", err);
}

static int
sq_envelope_copy_set(void *impl, const char *id, int64_t size, int64_t until,
    int64_t quota, const struct sp_audit *a, struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t org_id = 0, used = 0;
	int s, found = 0;

	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "SELECT org_id FROM envelopes WHERE id = ?", &st,
	    err)) == SP_OK) {
		bind_text(st, 1, id);
		if ((s = sq_one(db, st, &org_id, &found, "envelope", err)) == SP_OK && !found)
			s = sp_err_set(err, SP_ERR_NOTFOUND, "unknown envelope");
	}
	if (s == SP_OK && size > 0 && quota > 0 &&
	    (s = sq_copy_sum(db, org_id, id, &used, err)) == SP_OK && used + size > quota)
		s = sp_err_set(err, SP_ERR_TOOBIG, "the organisation's copies would exceed its"
		    " quota");
	if (s == SP_OK && (s = sq_prepare(db, "UPDATE envelopes SET copy_size = ?,"
	    " copy_until = ? WHERE id = ?", &st, err)) == SP_OK) {
		sqlite3_bind_int64(st, 1, size);
		sqlite3_bind_int64(st, 2, until);
		bind_text(st, 3, id);
		s = sq_run(db, st, "envelope copy", err);
	}
	if (s == SP_OK && a != NULL)
		s = sq_audit_insert(db, a, err);
	return sq_end(db, s, err);
}

static int
sq_org_copy_bytes(void *impl, int64_t org_id, int64_t *bytes, struct sp_err *err)
{
	sqlite3 *db;
	int s;

	if ((s = sq_db(impl, &db, err)) != SP_OK)
		return s;
	return sq_copy_sum(db, org_id, NULL, bytes, err);
}

static int
sq_copies_doomed(void *impl, int64_t now, struct sp_copy_ref *out, size_t max, size_t *n,
    struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s, rc;

	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_prepare(db, "SELECT e.id,"
	    " e.org_id, e.copy_size FROM envelopes e JOIN orgs o ON o.id = e.org_id"
	    " WHERE e.copy_size > 0 AND (e.retracted != 0 OR e.shredded != 0"
	    " OR (e.expires > 0 AND e.expires <= ?1) OR (e.copy_until > 0 AND e.copy_until <= ?1)"
	    " OR o.removed != 0) ORDER BY e.id LIMIT ?2", &st, err)) != SP_OK)
		return s;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int64(st, 2, (int64_t)max);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < max) {
		col_text(st, 0, out[*n].id, sizeof(out[*n].id));
		out[*n].org_id = sqlite3_column_int64(st, 1);
		out[*n].size = sqlite3_column_int64(st, 2);
		(*n)++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return sq_status(db, rc, "copies", err);
	return SP_OK;
}

const struct sp_store_ops sp_store_sqlite_ops = {
	.name = "sqlite",
	.open = sq_open,
	.close = sq_close,
	.audit_each = sq_audit_each,
	.org_add = sq_org_add,
	.org_by_token = sq_org_by_token,
	.org_each = sq_org_each,
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
	.housekeep = sq_housekeep,
	.pending_add = sq_pending_add,
	.pending_by_token = sq_pending_by_token,
	.pending_activate = sq_pending_activate,
	.token_issue = sq_token_issue,
	.token_peek = sq_token_peek,
	.token_use = sq_token_use,
	.password_set = sq_password_set,
	.profile_set = sq_profile_set,
	.sessions_end = sq_sessions_end,
	.session_reauth = sq_session_reauth,
	.device_add = sq_device_add,
	.device_use = sq_device_use,
	.device_each = sq_device_each,
	.device_delete = sq_device_delete,
	.signout_all = sq_signout_all,
	.totp_set = sq_totp_set,
	.totp_step = sq_totp_step,
	.recovery_set = sq_recovery_set,
	.recovery_use = sq_recovery_use,
	.passkey_add = sq_passkey_add,
	.passkey_get = sq_passkey_get,
	.passkey_each = sq_passkey_each,
	.passkey_used = sq_passkey_used,
	.passkey_delete = sq_passkey_delete,
	.audit_scan = sq_audit_scan,
	.audit_heads = sq_audit_heads,
	.org_get = sq_org_get,
	.org_get_id = sq_org_get_id,
	.org_update = sq_org_update,
	.org_remove = sq_org_remove,
	.org_logo_set = sq_org_logo_set,
	.org_logo_get = sq_org_logo_get,
	.org_domain_add = sq_org_domain_add,
	.org_domain_remove = sq_org_domain_remove,
	.org_domain_each = sq_org_domain_each,
	.org_by_domain = sq_org_by_domain,
	.org_token_add = sq_org_token_add,
	.org_token_revoke = sq_org_token_revoke,
	.org_token_each = sq_org_token_each,
	.org_key_add = sq_org_key_add,
	.org_key_get = sq_org_key_get,
	.org_key_retire = sq_org_key_retire,
	.org_key_each = sq_org_key_each,
	.envelope_set_retracted = sq_envelope_set_retracted,
	.envelope_verify_result = sq_envelope_verify_result,
	.envelope_each = sq_envelope_each,
	.envelope_each_for = sq_envelope_each_for,
	.envelope_shred_expired = sq_envelope_shred_expired,
	.envelope_header_set = sq_envelope_header_set,
	.envelope_copy_get = sq_envelope_copy_get,
	.envelope_copy_set = sq_envelope_copy_set,
	.org_copy_bytes = sq_org_copy_bytes,
	.copies_doomed = sq_copies_doomed,
	.write_batch = sq_write_batch,
	.envelope_view = sq_envelope_view,
};

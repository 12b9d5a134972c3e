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
 * The backend is in five files, store_sqlite_internal.h their private
 * interface: this one holds the schema and its migrations, open and close,
 * the helpers every part uses and the vtable; store_sqlite_org.c the audit
 * trail and organisations; store_sqlite_env.c envelopes, master key
 * rotation and ciphertext copies; store_sqlite_acct.c accounts, single-use
 * tokens, pending registrations and sessions; store_sqlite_auth.c
 * remembered devices, throttling, housekeeping and second factors.
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

#include "store_sqlite_internal.h"

#define SQ_SCHEMA_VERSION 10

#define SQ_KEPT_MAX 32	/* prepared statements kept per connection */

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

/* Version 7 -> 8: the mail queue.  A mail the transport refused waits
 * here, sealed, for its next try (due); held: until when a key server
 * has claimed it (0: free). */
static const char migrate_v8_sql[] =
    "CREATE TABLE mailq ("
    " ref TEXT PRIMARY KEY, due INTEGER NOT NULL, tries INTEGER NOT NULL,"
    " held INTEGER NOT NULL, key_id INTEGER NOT NULL, wrapped BLOB NOT NULL,"
    " sealed BLOB NOT NULL);"
    "CREATE INDEX mailq_due ON mailq(due);"
    "DELETE FROM schema_version;"
    "INSERT INTO schema_version(version) VALUES (8);";

/* Version 8 -> 9: a recipient the message's To: and Cc: do not name (a
 * blind copy) is kept out of what the envelope's other readers see. */
static const char migrate_v9_sql[] =
    "ALTER TABLE envelope_rcpt ADD COLUMN hidden INTEGER NOT NULL DEFAULT 0;"
    "DELETE FROM schema_version;"
    "INSERT INTO schema_version(version) VALUES (9);";

/* Version 9 -> 10: the sealer's holder tag of each envelope (NULL for the
 * envelopes deposited before, and by sealers that send none). */
static const char migrate_v10_sql[] =
    "ALTER TABLE envelopes ADD COLUMN holder BLOB;"
    "DELETE FROM schema_version;"
    "INSERT INTO schema_version(version) VALUES (10);";

int
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

int
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
int
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
void
sq_audit_from_cols(sqlite3_stmt *st, int col, struct sp_audit *a)
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
		sq_audit_from_cols(sel, 1, &a);
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
	if (version < 8 && (s = sq_exec(db, migrate_v8_sql, err)) != SP_OK)
		goto fail;
	if (version < 9 && (s = sq_exec(db, migrate_v9_sql, err)) != SP_OK)
		goto fail;
	if (version < 10 && (s = sq_exec(db, migrate_v10_sql, err)) != SP_OK)
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

int
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
int
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
void
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
int
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

void
sq_bind_text(sqlite3_stmt *st, int i, const char *s)
{
	bind_bytes(st, i, s, -1, SQLITE_TRANSIENT);
}

void
sq_bind_text_ref(sqlite3_stmt *st, int i, const char *s)
{
	bind_bytes(st, i, s, -1, SQLITE_STATIC);
}

void
sq_bind_blob_ref(sqlite3_stmt *st, int i, const unsigned char *p, size_t n)
{
	bind_bytes(st, i, p, (int)n, SQLITE_STATIC);
}

void
sq_col_text(sqlite3_stmt *st, int i, char *out, size_t outsz)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	snprintf(out, outsz, "%s", t ? (const char *)t : "");
}

void
sq_bind_hash(sqlite3_stmt *st, int i, const unsigned char *h)
{
	if (h == NULL)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_blob(st, i, h, SP_SHA256_LEN, SQLITE_TRANSIENT);
}

/* Copy blob column i into out: its length, or -1 when it does not fit. */
int
sq_col_blob(sqlite3_stmt *st, int i, unsigned char *out, size_t outsz)
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
int
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
int
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

int
sq_begin(sqlite3 *db, struct sp_err *err)
{
	return sq_exec_kept(db, "BEGIN IMMEDIATE", err);
}

int
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
int
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
		if (sq_col_blob(st, 1, prev, sizeof(prev)) != SP_SHA256_LEN)
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
	sq_bind_text_ref(st, 2, r.event);
	sq_bind_text_ref(st, 3, r.actor);
	sq_bind_text_ref(st, 4, r.envelope);
	sq_bind_text_ref(st, 5, r.client);
	sq_bind_text_ref(st, 6, r.detail);
	sqlite3_bind_int64(st, 7, r.org_id);
	sqlite3_bind_int64(st, 8, seq);
	sq_bind_blob_ref(st, 9, prev, SP_SHA256_LEN);
	sq_bind_blob_ref(st, 10, hash, SP_SHA256_LEN);
	if ((s = sq_run(db, st, "audit", err)) != SP_OK)
		return s;
	if ((s = sq_kept(db, "INSERT INTO audit_heads(chain, seq, hash) VALUES (?1,?2,?3)"
	    " ON CONFLICT(chain) DO UPDATE SET seq = ?2, hash = ?3", &st, err)) != SP_OK)
		return s;
	sqlite3_bind_int64(st, 1, r.org_id);
	sqlite3_bind_int64(st, 2, seq);
	sq_bind_blob_ref(st, 3, hash, SP_SHA256_LEN);
	return sq_run(db, st, "audit head", err);
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
	.replykey_wrapped_each = sq_replykey_wrapped_each,
	.replykey_rewrap = sq_replykey_rewrap,
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
	.envelope_holder = sq_envelope_holder,
	.envelope_copy_get = sq_envelope_copy_get,
	.envelope_copy_set = sq_envelope_copy_set,
	.org_copy_bytes = sq_org_copy_bytes,
	.copies_doomed = sq_copies_doomed,
	.write_batch = sq_write_batch,
	.envelope_view = sq_envelope_view,
	.mailq_add = sq_mailq_add,
	.mailq_claim = sq_mailq_claim,
	.mailq_retry = sq_mailq_retry,
	.mailq_delete = sq_mailq_delete,
	.mailq_each = sq_mailq_each,
	.mailq_flush = sq_mailq_flush,
	.mailq_wrapped_each = sq_mailq_wrapped_each,
	.mailq_rewrap = sq_mailq_rewrap,
};

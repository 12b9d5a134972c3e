/*
 * store_sqlite_mailq.c - the SQLite backend's mail queue (see
 * store_sqlite_internal.h): mails the transport refused, kept sealed until
 * their next try; a claim holds a mail for one key server at a time.
 * SECURITY: the mails arrive sealed (store.h); nothing here sees their text.
 */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "store_sqlite_internal.h"

int
sq_mailq_add(void *impl, const struct sp_mailq_rec *m, struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s;

	if ((s = sq_db(impl, &db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "INSERT INTO mailq(ref, due, tries, held, key_id, wrapped,"
	    " sealed) VALUES (?,?,?,0,?,?,?)", &st, err)) != SP_OK)
		return s;
	sq_bind_text_ref(st, 1, m->ref);
	sqlite3_bind_int64(st, 2, m->due);
	sqlite3_bind_int64(st, 3, m->tries);
	sqlite3_bind_int64(st, 4, m->key_id);
	sq_bind_blob_ref(st, 5, m->wrapped, m->wrapped_len);
	sq_bind_blob_ref(st, 6, m->sealed, m->sealed_len);
	if ((s = sq_run(db, st, "queue mail", err)) == SP_ERR_EXISTS)
		sp_err_set(err, s, "store: queued mail %s exists", m->ref);
	return s;
}

/* Row st (ref, due, tries, key_id, wrapped, sealed) into m.  A damaged
 * row (a blob empty or too long) comes back without it (wrapped_len or
 * sealed_len 0), so that the caller drops it instead of the queue being
 * stuck on it. */
static int
mailq_row(sqlite3_stmt *st, struct sp_mailq_rec *m, struct sp_err *err)
{
	const void *b = sqlite3_column_blob(st, 5);
	int n = sqlite3_column_bytes(st, 5), w;

	sq_col_text(st, 0, m->ref, sizeof(m->ref));
	m->due = sqlite3_column_int64(st, 1);
	m->tries = (int)sqlite3_column_int64(st, 2);
	m->key_id = (uint32_t)sqlite3_column_int64(st, 3);
	w = sq_col_blob(st, 4, m->wrapped, sizeof(m->wrapped));
	m->wrapped_len = w > 0 ? (size_t)w : 0;
	if (b == NULL || n <= 0 || n > SP_STORE_MAILQ_SEALED_MAX)
		return SP_OK;
	if ((m->sealed = malloc((size_t)n)) == NULL)
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	memcpy(m->sealed, b, (size_t)n);
	m->sealed_len = (size_t)n;
	return SP_OK;
}

int
sq_mailq_claim(void *impl, int64_t now, int64_t lease, struct sp_mailq_rec *out, size_t max,
    size_t *n, int64_t *next, struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	size_t i, got = 0;
	int s, rc, found = 0;

	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	/* one statement, as on PostgreSQL */
	if ((s = sq_prepare(db, "UPDATE mailq SET held = ?2 WHERE ref IN (SELECT ref FROM mailq"
	    " WHERE due <= ?1 AND held <= ?1 ORDER BY due, ref LIMIT ?3)"
	    " RETURNING ref, due, tries, key_id, wrapped, sealed", &st, err)) == SP_OK) {
		sqlite3_bind_int64(st, 1, now);
		sqlite3_bind_int64(st, 2, now + lease);
		sqlite3_bind_int64(st, 3, (int64_t)max);
		while (s == SP_OK && got < max && (rc = sqlite3_step(st)) == SQLITE_ROW)
			if ((s = mailq_row(st, &out[got], err)) == SP_OK)
				got++;
		if (s == SP_OK && got < max && rc != SQLITE_DONE)
			s = sq_status(db, rc, "claim mail", err);
		sq_finish(st);
	}
	if (s == SP_OK && (s = sq_prepare(db, "SELECT min(due) FROM mailq WHERE held <= ?1", &st,
	    err)) == SP_OK) {
		sqlite3_bind_int64(st, 1, now);
		s = sq_one(db, st, next, &found, "queued mails", err);
	}
	if ((s = sq_end(db, s, err)) != SP_OK) {
		for (i = 0; i < got; i++)
			sp_mailq_rec_clear(&out[i]);
		got = 0;
		*next = 0;
	}
	*n = got;
	return s;
}

int
sq_mailq_retry(void *impl, const char *ref, int tries, int64_t due, struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s;

	if ((s = sq_db(impl, &db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "UPDATE mailq SET tries = ?2, due = ?3, held = 0 WHERE ref = ?1",
	    &st, err)) != SP_OK)
		return s;
	sq_bind_text_ref(st, 1, ref);
	sqlite3_bind_int64(st, 2, tries);
	sqlite3_bind_int64(st, 3, due);
	if ((s = sq_run(db, st, "queued mail", err)) == SP_OK && sqlite3_changes(db) == 0)
		s = sp_err_set(err, SP_ERR_NOTFOUND, "store: no queued mail %s", ref);
	return s;
}

int
sq_mailq_delete(void *impl, const char *ref, struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s;

	if ((s = sq_db(impl, &db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "DELETE FROM mailq WHERE ref = ?1", &st, err)) != SP_OK)
		return s;
	sq_bind_text_ref(st, 1, ref);
	return sq_run(db, st, "queued mail", err);
}

int
sq_mailq_each(void *impl, int (*fn)(void *, const struct sp_mailq_info *), void *ctx,
    struct sp_err *err)
{
	struct sp_mailq_info m;
	sqlite3 *db;
	sqlite3_stmt *st;
	int s, rc;

	if ((s = sq_db(impl, &db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "SELECT ref, due, tries, held FROM mailq ORDER BY due, ref", &st,
	    err)) != SP_OK)
		return s;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&m, 0, sizeof(m));
		sq_col_text(st, 0, m.ref, sizeof(m.ref));
		m.due = sqlite3_column_int64(st, 1);
		m.tries = (int)sqlite3_column_int64(st, 2);
		m.held = sqlite3_column_int64(st, 3);
		if (fn(ctx, &m) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	s = rc == SQLITE_DONE ? SP_OK : sq_status(db, rc, "queued mails", err);
	sq_finish(st);
	return s;
}

int
sq_mailq_flush(void *impl, int64_t now, int *n, struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s;

	if ((s = sq_db(impl, &db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, "UPDATE mailq SET due = ?1 WHERE due > ?1", &st, err)) != SP_OK)
		return s;
	sqlite3_bind_int64(st, 1, now);
	if ((s = sq_run(db, st, "queued mails", err)) == SP_OK)
		*n = sqlite3_changes(db);
	return s;
}

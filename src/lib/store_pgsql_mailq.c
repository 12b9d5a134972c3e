/*
 * store_pgsql_mailq.c - the PostgreSQL backend's mail queue (see
 * store_pgsql_internal.h): mails the transport refused, kept sealed until
 * their next try.  A claim is one statement that skips the rows another
 * key server is claiming at the same moment (FOR UPDATE SKIP LOCKED), so
 * that each mail is tried by one key server at a time.
 * SECURITY: the mails arrive sealed (store.h); nothing here sees their text.
 */
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

#include "store_pgsql_internal.h"

int
pg_mailq_add(void *impl, const struct sp_mailq_rec *m, struct sp_err *err)
{
	struct pg_cx cx;
	struct pgp p = {0};
	int st;

	if ((st = pg_get(impl, &cx, err)) != SP_OK)
		return st;
	pg_p_text(&p, m->ref);
	pg_p_int(&p, m->due);
	pg_p_int(&p, m->tries);
	pg_p_int(&p, m->key_id);
	pg_p_bin(&p, m->wrapped, m->wrapped_len);
	pg_p_bin(&p, m->sealed, m->sealed_len);
	if ((st = pg_exec(&cx, "INSERT INTO mailq(ref, due, tries, held, key_id, wrapped, sealed)"
	    " VALUES ($1, $2, $3, 0, $4, $5, $6)", &p, NULL, "queue mail", err)) == SP_ERR_EXISTS)
		sp_err_set(err, st, "store: queued mail %s exists", m->ref);
	return st;
}

int
pg_mailq_claim(void *impl, int64_t now, int64_t lease, struct sp_mailq_rec *out, size_t max,
    size_t *n, int64_t *next, struct sp_err *err)
{
	struct pg_cx cx;
	struct pgp p = {0};
	PGresult *r;
	size_t i, got = 0;
	int st = SP_OK, w, rows;

	if ((st = pg_get(impl, &cx, err)) != SP_OK)
		return st;
	pg_p_int(&p, now);
	pg_p_int(&p, now + lease);
	pg_p_int(&p, (int64_t)max);
	if ((st = pg_exec(&cx, "UPDATE mailq SET held = $2 WHERE ref IN (SELECT ref FROM mailq"
	    " WHERE due <= $1 AND held <= $1 ORDER BY due, ref COLLATE \"C\" LIMIT $3"
	    " FOR UPDATE SKIP LOCKED)"
	    " RETURNING ref, due, tries, key_id, wrapped, sealed", &p, &r, "claim mail",
	    err)) != SP_OK)
		return st;
	rows = PQntuples(r);
	for (i = 0; st == SP_OK && i < (size_t)rows && i < max; i++) {
		struct sp_mailq_rec *m = &out[got];

		pg_r_text(r, (int)i, 0, m->ref, sizeof(m->ref));
		m->due = pg_r_int(r, (int)i, 1);
		m->tries = (int)pg_r_int(r, (int)i, 2);
		m->key_id = (uint32_t)pg_r_int(r, (int)i, 3);
		/* a damaged row (a blob empty or too long) comes back without
		 * it, so that the caller drops it instead of the queue being
		 * stuck on it */
		if ((w = pg_r_blob(r, (int)i, 4, m->wrapped, sizeof(m->wrapped))) == -2)
			st = sp_err_set(err, SP_ERR_NOMEM, "out of memory");
		else if ((st = pg_r_blob_dup(r, (int)i, 5, &m->sealed, &m->sealed_len,
		    err)) == SP_OK && m->sealed_len > SP_STORE_MAILQ_SEALED_MAX) {
			sp_wipe(m->sealed, m->sealed_len);
			free(m->sealed);
			m->sealed = NULL;
			m->sealed_len = 0;
		}
		m->wrapped_len = w > 0 ? (size_t)w : 0;
		got++;
	}
	PQclear(r);
	if (st == SP_OK) {
		struct pgp q = {0};
		int found = 0;

		pg_p_int(&q, now);
		st = pg_one(&cx, "SELECT min(due) FROM mailq WHERE held <= $1", &q, next, &found,
		    "queued mails", err);
	}
	if (st != SP_OK) {
		/* what was claimed comes free again when its hold ends */
		for (i = 0; i < got; i++)
			sp_mailq_rec_clear(&out[i]);
		got = 0;
		*next = 0;
	}
	*n = got;
	return st;
}

int
pg_mailq_retry(void *impl, const char *ref, int tries, int64_t due, struct sp_err *err)
{
	struct pg_cx cx;
	struct pgp p = {0};
	int st;

	if ((st = pg_get(impl, &cx, err)) != SP_OK)
		return st;
	pg_p_text(&p, ref);
	pg_p_int(&p, tries);
	pg_p_int(&p, due);
	if ((st = pg_exec(&cx, "UPDATE mailq SET tries = $2, due = $3, held = 0 WHERE ref = $1",
	    &p, NULL, "queued mail", err)) == SP_OK && cx.changes == 0)
		st = sp_err_set(err, SP_ERR_NOTFOUND, "store: no queued mail %s", ref);
	return st;
}

int
pg_mailq_delete(void *impl, const char *ref, struct sp_err *err)
{
	struct pg_cx cx;
	struct pgp p = {0};
	int st;

	if ((st = pg_get(impl, &cx, err)) != SP_OK)
		return st;
	pg_p_text(&p, ref);
	return pg_exec(&cx, "DELETE FROM mailq WHERE ref = $1", &p, NULL, "queued mail", err);
}

int
pg_mailq_each(void *impl, int (*fn)(void *, const struct sp_mailq_info *), void *ctx,
    struct sp_err *err)
{
	struct sp_mailq_info m;
	struct pg_cx cx;
	PGresult *r;
	int st, i, n;

	if ((st = pg_get(impl, &cx, err)) != SP_OK)
		return st;
	if ((st = pg_exec(&cx, "SELECT ref, due, tries, held FROM mailq ORDER BY due, ref COLLATE \"C\"",
	    NULL, &r, "queued mails", err)) != SP_OK)
		return st;
	n = PQntuples(r);
	for (i = 0; i < n; i++) {
		memset(&m, 0, sizeof(m));
		pg_r_text(r, i, 0, m.ref, sizeof(m.ref));
		m.due = pg_r_int(r, i, 1);
		m.tries = (int)pg_r_int(r, i, 2);
		m.held = pg_r_int(r, i, 3);
		if (fn(ctx, &m) != 0)
			break;
	}
	PQclear(r);
	return SP_OK;
}

int
pg_mailq_flush(void *impl, int64_t now, int *n, struct sp_err *err)
{
	struct pg_cx cx;
	struct pgp p = {0};
	int st;

	if ((st = pg_get(impl, &cx, err)) != SP_OK)
		return st;
	pg_p_int(&p, now);
	if ((st = pg_exec(&cx, "UPDATE mailq SET due = $1 WHERE due > $1", &p, NULL,
	    "queued mails", err)) == SP_OK)
		*n = (int)cx.changes;
	return st;
}

/*
 * store_sqlite_env.c - the SQLite backend's envelopes (see
 * store_sqlite_internal.h): deposits and the other writes of a batch,
 * lookups and listings, retraction, shredding at expiry (which then
 * empties the WAL), master key rotation of wrapped envelope keys and TOTP
 * secrets, and the ciphertext copies of schema v4.
 * SECURITY: every statement binds its parameters; the caller wraps key parts
 * before they reach this file.
 */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store_sqlite_internal.h"

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
	    " verify_hash, verify_hint, holder) VALUES (?,?,?,?,?,0,?,?,?,?,?,?,?,?,?)", &st,
	    err)) == SP_OK) {
		sq_bind_text_ref(st, 1, e->id);
		sqlite3_bind_int64(st, 2, e->org_id);
		sq_bind_text_ref(st, 3, e->from);
		sqlite3_bind_int64(st, 4, e->created);
		sqlite3_bind_int64(st, 5, e->expires);
		sqlite3_bind_int64(st, 6, e->key_id);
		sq_bind_blob_ref(st, 7, e->wrapped, e->wrapped_len);
		sqlite3_bind_int(st, 8, e->kind);
		sqlite3_bind_int(st, 9, e->format ? e->format : 1);
		sqlite3_bind_int(st, 10, e->notify_read ? 1 : 0);
		sq_bind_text_ref(st, 11, e->level[0] ? e->level : "medium");
		sq_bind_text_ref(st, 12, e->verify_hash);
		sq_bind_text_ref(st, 13, e->verify_hint);
		if (e->has_holder)
			sq_bind_blob_ref(st, 14, e->holder, sizeof(e->holder));
		else
			sqlite3_bind_null(st, 14);
		s = sq_run(db, st, "add envelope", err);
	}
	for (i = 0; s == SP_OK && i < e->nrcpt; i++) {
		if ((s = sq_kept(db, "INSERT INTO envelope_rcpt(envelope_id, pos, email, hidden)"
		    " VALUES (?,?,?,?)", &st, err)) != SP_OK)
			break;
		sq_bind_text_ref(st, 1, e->id);
		sqlite3_bind_int64(st, 2, (int64_t)i);
		sq_bind_text_ref(st, 3, e->rcpt[i]);
		sqlite3_bind_int(st, 4, e->rstate != NULL && e->rstate[i].hidden ? 1 : 0);
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
	return sq_col_blob(st, i, out, n) == (int)n;
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

	sq_col_text(st, c, out->id, sizeof(out->id));
	out->org_id = sqlite3_column_int64(st, c + 1);
	sq_col_text(st, c + 2, out->org_name, sizeof(out->org_name));
	sq_col_text(st, c + 3, out->org_domain, sizeof(out->org_domain));
	sq_col_text(st, c + 4, out->from, sizeof(out->from));
	out->created = sqlite3_column_int64(st, c + 5);
	out->expires = sqlite3_column_int64(st, c + 6);
	out->retracted = sqlite3_column_int(st, c + 7);
	out->key_id = (uint32_t)sqlite3_column_int64(st, c + 8);
	if ((n = sq_col_blob(st, c + 9, out->wrapped, sizeof(out->wrapped))) < 0)
		rc = SQLITE_CORRUPT;	/* empty after shredding */
	else
		out->wrapped_len = (size_t)n;
	out->kind = sqlite3_column_int(st, c + 10);
	out->format = sqlite3_column_int(st, c + 11);
	out->notify_read = sqlite3_column_int(st, c + 12);
	sq_col_text(st, c + 13, out->level, sizeof(out->level));
	sq_col_text(st, c + 14, out->verify_hash, sizeof(out->verify_hash));
	sq_col_text(st, c + 15, out->verify_hint, sizeof(out->verify_hint));
	out->shredded = sqlite3_column_int64(st, c + 16);
	out->sealed = sqlite3_column_int(st, c + 17);
	if (out->sealed && (!col_fixed(st, c + 18, out->header_sha, SP_SHA256_LEN) ||
	    !col_fixed(st, c + 19, out->ct_sha, SP_SHA256_LEN) ||
	    !col_fixed(st, c + 20, out->sig, sizeof(out->sig))))
		rc = SQLITE_CORRUPT;
	sq_col_text(st, c + 21, out->kid, sizeof(out->kid));
	return rc;
}

/* Append the recipient in columns c.. c + 5 of st (email, retracted,
 * opened, verified, verify_fails, hidden): SQLITE_NOMEM or 0. */
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
	rs[out->nrcpt].hidden = sqlite3_column_int(st, c + 5) != 0;
	out->nrcpt++;
	return 0;
}

int
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
	sq_bind_text(st, 1, id);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW && env_from_cols(st, 0, out) != 0)
		rc = SQLITE_CORRUPT;
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE)
		return sp_err_set(err, SP_ERR_NOTFOUND, "unknown envelope");
	if (rc != SQLITE_ROW) {
		sp_wipe(out->wrapped, sizeof(out->wrapped));
		return sq_status(db, rc, "envelope", err);
	}
	if ((s = sq_prepare(db, "SELECT email, retracted, opened, verified, verify_fails,"
	    " hidden FROM envelope_rcpt WHERE envelope_id = ? ORDER BY pos", &st, err)) != SP_OK) {
		sp_envelope_rec_clear(out);
		return s;
	}
	sq_bind_text(st, 1, id);
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
    " k.pub, k.created, k.retired, NULL, NULL, NULL, NULL, NULL, NULL"
    " FROM envelopes e JOIN orgs o ON o.id = e.org_id"
    " LEFT JOIN org_keys k ON e.sealed = 1 AND k.kid = e.kid AND k.org_id = e.org_id"
    " WHERE e.id = ?1"
    " UNION ALL SELECT r.pos, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,"
    " NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,"
    " NULL, NULL, NULL, NULL, r.email, r.retracted, r.opened, r.verified, r.verify_fails,"
    " r.hidden FROM envelope_rcpt r WHERE r.envelope_id = ?1 ORDER BY 1";

int
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
	sq_bind_text_ref(st, 1, id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (sqlite3_column_int64(st, 0) < 0) {
			found = 1;
			if ((rc = env_from_cols(st, 1, e)) != 0)
				break;
			out->org.id = e->org_id;
			snprintf(out->org.name, sizeof(out->org.name), "%s", e->org_name);
			snprintf(out->org.domain, sizeof(out->org.domain), "%s", e->org_domain);
			sq_col_text(st, b, out->org.display, sizeof(out->org.display));
			sq_col_text(st, b + 1, out->org.colour, sizeof(out->org.colour));
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

int
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
		sq_bind_text(st, 1, id);
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
	sq_bind_text(st, 1, id);
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
	sq_bind_text(st, 1, id);
	sq_bind_text(st, 2, rcpt);
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
	sq_bind_text(st, 1, id);
	sq_bind_text(st, 2, rcpt);
	return sq_one(db, st, NULL, found, "recipient", err);
}

int
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
		sq_bind_text(st, 2, id);
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
	sq_bind_text(st, 1, id);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW && (sealed = sqlite3_column_int(st, 0))) {
		sq_col_text(st, 4, k, sizeof(k));
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
		sq_bind_text(st, 1, id);
		sq_bind_hash(st, 2, header_sha);
		sq_bind_hash(st, 3, ct_sha);
		sqlite3_bind_blob(st, 4, sig, 64, SQLITE_TRANSIENT);
		sq_bind_text(st, 5, kid);
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
	sq_bind_text_ref(st, 1, w->id);
	sq_bind_text_ref(st, 2, w->rcpt);
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

int
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

int
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
		sq_bind_text(st, 1, id);
		sq_bind_text(st, 2, rcpt);
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
			sq_bind_text(st, 1, p2text);
		else
			sqlite3_bind_int64(st, 1, p1);
		sqlite3_bind_int64(st, 2, p2);
		sqlite3_bind_int64(st, 3, last_created);
		sq_bind_text(st, 4, last_id);
		sqlite3_bind_int(st, 5, SQ_ENV_BATCH);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < SQ_ENV_BATCH) {
			sq_col_text(st, 0, ids[n], sizeof(ids[n]));
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

int
sq_envelope_each(void *impl, int64_t org_id, int64_t since,
    int (*fn)(void *, const struct sp_envelope_rec *), void *ctx, struct sp_err *err)
{
	return sq_envelope_batches(impl, "SELECT e.id, e.created FROM envelopes e"
	    " WHERE e.org_id = ?1 AND e.created >= ?2" SQ_ENV_AFTER, org_id, NULL, since,
	    fn, ctx, err);
}

int
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

int
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
				sq_col_text(st, 0, ids[k], sizeof(ids[k]));
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
			sq_bind_text(st, 2, ids[i]);
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
		sq_bind_text(st, 2, last);
		sqlite3_bind_int(st, 3, SQ_REWRAP_BATCH);
		n = 0;
		bad = 0;
		while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < SQ_REWRAP_BATCH) {
			int len;

			sq_col_text(st, 0, rows[n].ref, sizeof(rows[n].ref));
			rows[n].key_id = (uint32_t)sqlite3_column_int64(st, 1);
			if ((len = sq_col_blob(st, 2, rows[n].wrapped, sizeof(rows[n].wrapped))) <= 0)
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

/* Replace a wrapped value only while its row still has the key id (?2)
 * and the wrapped bytes (?5) it was read with (the caller checked both
 * lengths). */
static int
sq_rewrap(void *impl, const char *sql, const struct sp_rewrap *r, const struct sp_audit *a,
    struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s;

	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	if ((s = sq_prepare(db, sql, &st, err)) == SP_OK) {
		sq_bind_text(st, 1, r->ref);
		sqlite3_bind_int64(st, 2, r->old_key_id);
		sqlite3_bind_int64(st, 3, r->new_key_id);
		sqlite3_bind_blob(st, 4, r->wrapped, (int)r->len, SQLITE_TRANSIENT);
		sqlite3_bind_blob(st, 5, r->old, (int)r->old_len, SQLITE_TRANSIENT);
		if ((s = sq_run(db, st, "rewrap", err)) == SP_OK && sqlite3_changes(db) == 0)
			s = sp_err_set(err, SP_ERR_NOTFOUND, "no such row with key %u and those bytes",
			    r->old_key_id);
	}
	if (s == SP_OK)
		s = sq_audit_insert(db, a, err);
	return sq_end(db, s, err);
}

int
sq_envelope_wrapped_each(void *impl, uint32_t below,
    int (*fn)(void *, const char *, uint32_t, const unsigned char *, size_t),
    void *ctx, struct sp_err *err)
{
	return sq_wrapped_each(impl, "SELECT id, key_id, wrapped FROM envelopes"
	    " WHERE key_id < ?1 AND shredded = 0 AND id > ?2 ORDER BY id LIMIT ?3", below,
	    fn, ctx, err);
}

int
sq_envelope_rewrap(void *impl, const struct sp_rewrap *r, const struct sp_audit *a,
    struct sp_err *err)
{
	return sq_rewrap(impl, "UPDATE envelopes SET key_id = ?3, wrapped = ?4"
	    " WHERE id = ?1 AND key_id = ?2 AND shredded = 0 AND wrapped = ?5", r, a, err);
}

int
sq_totp_wrapped_each(void *impl, uint32_t below,
    int (*fn)(void *, const char *, uint32_t, const unsigned char *, size_t),
    void *ctx, struct sp_err *err)
{
	return sq_wrapped_each(impl, "SELECT email, totp_key_id, totp_wrapped FROM accounts"
	    " WHERE totp_wrapped IS NOT NULL AND totp_key_id < ?1 AND email > ?2"
	    " ORDER BY email LIMIT ?3", below, fn, ctx, err);
}

int
sq_totp_rewrap(void *impl, const struct sp_rewrap *r, const struct sp_audit *a,
    struct sp_err *err)
{
	return sq_rewrap(impl, "UPDATE accounts SET totp_key_id = ?3, totp_wrapped = ?4"
	    " WHERE email = ?1 AND totp_key_id = ?2"
	    " AND totp_wrapped = ?5", r, a, err);
}

/* The organisations' reply signing keys ("replykey:KID"). */
int
sq_replykey_wrapped_each(void *impl, uint32_t below,
    int (*fn)(void *, const char *, uint32_t, const unsigned char *, size_t),
    void *ctx, struct sp_err *err)
{
	return sq_wrapped_each(impl, "SELECT kid, wrap_key_id, wrapped FROM org_keys"
	    " WHERE wrapped IS NOT NULL AND wrap_key_id < ?1 AND kid > ?2 ORDER BY kid LIMIT ?3",
	    below, fn, ctx, err);
}

int
sq_replykey_rewrap(void *impl, const struct sp_rewrap *r, struct sp_err *err)
{
	return sq_rewrap(impl, "UPDATE org_keys SET wrap_key_id = ?3, wrapped = ?4"
	    " WHERE kid = ?1 AND wrap_key_id = ?2 AND wrapped = ?5",
	    r, NULL, err);
}

/* The mail queue's keys ("mailq:REF"), schema v8. */
int
sq_mailq_wrapped_each(void *impl, uint32_t below,
    int (*fn)(void *, const char *, uint32_t, const unsigned char *, size_t),
    void *ctx, struct sp_err *err)
{
	return sq_wrapped_each(impl, "SELECT ref, key_id, wrapped FROM mailq"
	    " WHERE key_id < ?1 AND ref > ?2 ORDER BY ref LIMIT ?3", below, fn, ctx,
	    err);
}

int
sq_mailq_rewrap(void *impl, const struct sp_rewrap *r, struct sp_err *err)
{
	return sq_rewrap(impl, "UPDATE mailq SET key_id = ?3, wrapped = ?4"
	    " WHERE ref = ?1 AND key_id = ?2 AND wrapped = ?5", r, NULL, err);
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
	sq_bind_text(st, 1, id);
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
		sq_bind_text(st, 2, id);
		s = sq_run(db, st, "envelope header", err);
	}
	return s;
}

int
sq_envelope_header_set(void *impl, const char *id, const unsigned char *header,
    size_t len, struct sp_err *err)
{
	sqlite3 *db;
	int s;

	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_begin(db, err)) != SP_OK)
		return s;
	return sq_end(db, sq_header_write(db, id, header, len, err), err);
}

int
sq_envelope_holder(void *impl, const char *id, unsigned char *out, struct sp_err *err)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int s, rc, have = 0;

	if ((s = sq_db(impl, &db, err)) != SP_OK || (s = sq_kept(db, "SELECT holder FROM envelopes"
	    " WHERE id = ?1", &st, err)) != SP_OK)
		return s;
	sq_bind_text_ref(st, 1, id);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		have = col_fixed(st, 0, out, SP_SHA256_LEN);
	sq_finish(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sq_status(db, rc, "envelope holder", err);
	return have ? SP_OK : sp_err_set(err, SP_ERR_NOTFOUND, "no holder tag");
}

int
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
	sq_bind_text(st, 1, id);
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
	sq_bind_text(st, 2, id != NULL ? id : "");
	return sq_one(db, st, bytes, &found, "copy bytes", err);
}

int
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
		sq_bind_text(st, 1, id);
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
		sq_bind_text(st, 3, id);
		s = sq_run(db, st, "envelope copy", err);
	}
	if (s == SP_OK && a != NULL)
		s = sq_audit_insert(db, a, err);
	return sq_end(db, s, err);
}

int
sq_org_copy_bytes(void *impl, int64_t org_id, int64_t *bytes, struct sp_err *err)
{
	sqlite3 *db;
	int s;

	if ((s = sq_db(impl, &db, err)) != SP_OK)
		return s;
	return sq_copy_sum(db, org_id, NULL, bytes, err);
}

int
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
		sq_col_text(st, 0, out[*n].id, sizeof(out[*n].id));
		out[*n].org_id = sqlite3_column_int64(st, 1);
		out[*n].size = sqlite3_column_int64(st, 2);
		(*n)++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return sq_status(db, rc, "copies", err);
	return SP_OK;
}

/*
 * store_pgsql_env.c - the PostgreSQL backend's envelopes (see
 * store_pgsql_internal.h): deposit, reading, retraction, sender controls,
 * listings and shredding of expired envelopes; the rewrapping of envelope
 * keys and TOTP secrets under a new master key; and ciphertext copies with
 * their sealed headers (schema version 4).
 * SECURITY: every statement passes its values as parameters (bytea in
 * binary).
 */
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store_pgsql_internal.h"

/* --- envelopes ----------------------------------------------------------- */

/* Columns 0-21 of an envelope (e) with its organisation (o). */
#define PG_ENV_COLS "e.id, e.org_id, o.name, coalesce((SELECT min(d.domain)" \
	" FROM org_domains d WHERE d.org_id = o.id), ''), e.sender, e.created, e.expires," \
	" e.retracted, e.key_id, e.wrapped, e.kind, e.format, e.notify_read, e.level," \
	" e.verify_hash, e.verify_hint, e.shredded, e.sealed, e.header_sha, e.ct_sha, e.sig," \
	" e.kid"
/* Columns of one recipient (r), 22-26 after PG_ENV_COLS. */
#define PG_RCPT_COLS "r.email, r.retracted, r.opened, r.verified, r.verify_fails, r.hidden"

static int
env_from_row(const PGresult *r, int i, struct sp_envelope_rec *out, struct sp_err *err)
{
	int n;

	memset(out, 0, sizeof(*out));
	pg_r_text(r, i, 0, out->id, sizeof(out->id));
	out->org_id = pg_r_int(r, i, 1);
	pg_r_text(r, i, 2, out->org_name, sizeof(out->org_name));
	pg_r_text(r, i, 3, out->org_domain, sizeof(out->org_domain));
	pg_r_text(r, i, 4, out->from, sizeof(out->from));
	out->created = pg_r_int(r, i, 5);
	out->expires = pg_r_int(r, i, 6);
	out->retracted = (int)pg_r_int(r, i, 7);
	out->key_id = (uint32_t)pg_r_int(r, i, 8);
	/* empty once shredded */
	if ((n = pg_r_blob(r, i, 9, out->wrapped, sizeof(out->wrapped))) < 0)
		return pg_blob_err(n, "envelope", err);
	out->wrapped_len = (size_t)n;
	out->kind = (int)pg_r_int(r, i, 10);
	out->format = (int)pg_r_int(r, i, 11);
	out->notify_read = (int)pg_r_int(r, i, 12);
	pg_r_text(r, i, 13, out->level, sizeof(out->level));
	pg_r_text(r, i, 14, out->verify_hash, sizeof(out->verify_hash));
	pg_r_text(r, i, 15, out->verify_hint, sizeof(out->verify_hint));
	out->shredded = pg_r_int(r, i, 16);
	out->sealed = (int)pg_r_int(r, i, 17);
	if (out->sealed &&
	    ((n = pg_r_blob(r, i, 18, out->header_sha, sizeof(out->header_sha))) != SP_SHA256_LEN ||
	    (n = pg_r_blob(r, i, 19, out->ct_sha, sizeof(out->ct_sha))) != SP_SHA256_LEN ||
	    (n = pg_r_blob(r, i, 20, out->sig, sizeof(out->sig))) != (int)sizeof(out->sig))) {
		sp_wipe(out->wrapped, sizeof(out->wrapped));
		return pg_blob_err(n, "envelope seal", err);
	}
	pg_r_text(r, i, 21, out->kid, sizeof(out->kid));
	return SP_OK;
}

/* Append the recipient of row i (columns from col on: PG_RCPT_COLS). */
static int
env_add_rcpt(struct sp_envelope_rec *e, const PGresult *r, int i, int col,
    struct sp_err *err)
{
	struct sp_envelope_rcpt *rs;
	char **v;

	if ((v = realloc(e->rcpt, (e->nrcpt + 1) * sizeof(*v))) == NULL)
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	e->rcpt = v;
	if ((rs = realloc(e->rstate, (e->nrcpt + 1) * sizeof(*rs))) == NULL)
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	e->rstate = rs;
	if ((v[e->nrcpt] = strdup(PQgetvalue(r, i, col))) == NULL)
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	memset(&rs[e->nrcpt], 0, sizeof(rs[0]));
	rs[e->nrcpt].retracted = (int)pg_r_int(r, i, col + 1);
	rs[e->nrcpt].opened = pg_r_int(r, i, col + 2);
	rs[e->nrcpt].verified = (int)pg_r_int(r, i, col + 3);
	rs[e->nrcpt].verify_fails = (int)pg_r_int(r, i, col + 4);
	rs[e->nrcpt].hidden = pg_r_int(r, i, col + 5) != 0;
	e->nrcpt++;
	return SP_OK;
}

/* A deposit's rows (sp_store_envelope_add()) inside the group commit's
 * transaction; its audit record follows there. */
static int
pg_deposit_rows(struct pg_cx *cx, const struct sp_envelope_rec *e, struct sp_err *err)
{
	size_t i;
	int st;

	if (e == NULL || e->wrapped_len > SP_STORE_WRAPPED_MAX)
		return sp_err_set(err, SP_ERR_INVALID, "store: bad wrapped key length");
	if ((e->kind != SP_ENV_KIND_MESSAGE && e->kind != SP_ENV_KIND_REPLY) ||
	    e->format < 0 || e->format > 2 || !pg_fits(e->level, sizeof(e->level) - 1) ||
	    !pg_fits(e->verify_hash, SP_STORE_HASH_MAX) || !pg_fits(e->verify_hint, SP_STORE_HINT_MAX))
		return sp_err_set(err, SP_ERR_INVALID, "store: bad envelope record");
	{
		struct pgp p = {0};

		pg_p_text(&p, e->id);
		pg_p_int(&p, e->org_id);
		pg_p_text(&p, e->from);
		pg_p_int(&p, e->created);
		pg_p_int(&p, e->expires);
		pg_p_int(&p, e->key_id);
		pg_p_bin(&p, e->wrapped, e->wrapped_len);
		pg_p_int(&p, e->kind);
		pg_p_int(&p, e->format ? e->format : 1);
		pg_p_int(&p, e->notify_read ? 1 : 0);
		pg_p_text(&p, e->level[0] ? e->level : "medium");
		pg_p_text(&p, e->verify_hash);
		pg_p_text(&p, e->verify_hint);
		pg_p_bin(&p, e->has_holder ? e->holder : NULL, sizeof(e->holder));
		st = pg_execk(cx, "INSERT INTO envelopes(id, org_id, sender, created, expires,"
		    " retracted, key_id, wrapped, kind, format, notify_read, level, verify_hash,"
		    " verify_hint, holder)"
		    " VALUES ($1, $2, $3, $4, $5, 0, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
		    &p, NULL, "add envelope", err);
	}
	for (i = 0; st == SP_OK && i < e->nrcpt; i++) {
		struct pgp p = {0};

		pg_p_text(&p, e->id);
		pg_p_int(&p, (int64_t)i);
		pg_p_text(&p, e->rcpt[i]);
		pg_p_int(&p, e->rstate != NULL && e->rstate[i].hidden ? 1 : 0);
		st = pg_execk(cx, "INSERT INTO envelope_rcpt(envelope_id, pos, email, hidden)"
		    " VALUES ($1, $2, $3, $4)", &p, NULL, "add recipient", err);
	}
	return st;
}

int
pg_envelope_get(void *impl, const char *id, struct sp_envelope_rec *out,
    struct sp_err *err)
{
	struct pg_cx cx;
	struct pgp p = {0};
	PGresult *r;
	int st, n, i;

	memset(out, 0, sizeof(*out));
	if ((st = pg_get(impl, &cx, err)) != SP_OK)
		return st;
	pg_p_text(&p, id);
	if ((st = pg_exec(&cx, "SELECT " PG_ENV_COLS " FROM envelopes e"
	    " JOIN orgs o ON o.id = e.org_id WHERE e.id = $1", &p, &r, "envelope", err)) != SP_OK)
		return st;
	if (PQntuples(r) == 0) {
		PQclear(r);
		return sp_err_set(err, SP_ERR_NOTFOUND, "unknown envelope");
	}
	st = env_from_row(r, 0, out, err);
	PQclear(r);
	if (st != SP_OK) {
		sp_envelope_rec_clear(out);
		return st;
	}
	if ((st = pg_exec(&cx, "SELECT " PG_RCPT_COLS " FROM envelope_rcpt r"
	    " WHERE r.envelope_id = $1 ORDER BY r.pos", &p, &r, "recipients", err)) != SP_OK) {
		sp_envelope_rec_clear(out);
		return st;
	}
	n = PQntuples(r);
	for (i = 0; i < n && st == SP_OK; i++)
		st = env_add_rcpt(out, r, i, 0, err);
	PQclear(r);
	if (st != SP_OK)
		sp_envelope_rec_clear(out);
	return st;
}

/*
 * A key release's read in one statement: the envelope row with its
 * organisation's branding and its signing key (pos -1, the last column),
 * then one row per recipient, in order.
 */
static const char pg_view_sql[] =
    "SELECT " PG_ENV_COLS ", o.display, o.colour, (o.logo IS NOT NULL)::int,"
    " k.pub, k.created, k.retired, NULL, NULL, NULL, NULL, NULL, NULL, -1"
    " FROM envelopes e JOIN orgs o ON o.id = e.org_id"
    " LEFT JOIN org_keys k ON e.sealed = 1 AND k.kid = e.kid AND k.org_id = e.org_id"
    " WHERE e.id = $1"
    " UNION ALL SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,"
    " NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,"
    " NULL, NULL, NULL, " PG_RCPT_COLS ", r.pos FROM envelope_rcpt r"
    " WHERE r.envelope_id = $1 ORDER BY 35";

int
pg_envelope_view(void *impl, const char *id, struct sp_envelope_view *out,
    struct sp_err *err)
{
	const int b = 22;		/* the branding's first column */
	struct sp_envelope_rec *e = &out->e;
	struct pg_cx cx;
	struct pgp p = {0};
	PGresult *r;
	int st, i, n, k;

	memset(out, 0, sizeof(*out));
	if ((st = pg_get(impl, &cx, err)) != SP_OK)
		return st;
	pg_p_text(&p, id);
	if ((st = pg_execk(&cx, pg_view_sql, &p, &r, "envelope", err)) != SP_OK)
		return st;
	if ((n = PQntuples(r)) == 0 || pg_r_int(r, 0, 34) != -1) {
		PQclear(r);
		return sp_err_set(err, SP_ERR_NOTFOUND, "unknown envelope");
	}
	if ((st = env_from_row(r, 0, e, err)) == SP_OK) {
		out->org.id = e->org_id;
		snprintf(out->org.name, sizeof(out->org.name), "%s", e->org_name);
		snprintf(out->org.domain, sizeof(out->org.domain), "%s", e->org_domain);
		pg_r_text(r, 0, b, out->org.display, sizeof(out->org.display));
		pg_r_text(r, 0, b + 1, out->org.colour, sizeof(out->org.colour));
		out->org.has_logo = pg_r_int(r, 0, b + 2) != 0;
		if (!PQgetisnull(r, 0, b + 3)) {
			if ((k = pg_r_blob(r, 0, b + 3, out->key.pub, sizeof(out->key.pub))) !=
			    (int)sizeof(out->key.pub))
				st = pg_blob_err(k, "signing key", err);
			out->have_key = st == SP_OK;
			out->key.org_id = e->org_id;
			snprintf(out->key.kid, sizeof(out->key.kid), "%s", e->kid);
			out->key.created = pg_r_int(r, 0, b + 4);
			out->key.retired = pg_r_int(r, 0, b + 5);
		}
	}
	for (i = 1; i < n && st == SP_OK; i++)
		st = env_add_rcpt(e, r, i, b + 6, err);
	PQclear(r);
	if (st == SP_OK && e->rstate == NULL &&
	    (e->rstate = calloc(1, sizeof(*e->rstate))) == NULL)
		st = sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	if (st != SP_OK)
		sp_envelope_rec_clear(e);
	return st;
}

int
pg_envelope_retract(void *impl, const char *id, const struct sp_audit *a,
    struct sp_err *err)
{
	struct pg_cx cx;
	struct pgp p = {0};
	int st;

	if ((st = pg_tx(impl, &cx, err)) != SP_OK)
		return st;
	pg_p_text(&p, id);
	st = pg_exec(&cx, "UPDATE envelopes SET retracted = 1 WHERE id = $1", &p, NULL,
	    "retract", err);
	if (st == SP_OK && cx.changes == 0)
		st = sp_err_set(err, SP_ERR_NOTFOUND, "unknown envelope");
	if (st == SP_OK)
		st = pg_audit_insert(&cx, a, err);
	return pg_end(&cx, st, err);
}

/* Inside a transaction: lock envelope id's row (a shredding or another
 * change of it waits); *shredded gets its shredded time. */
static int
pg_envelope_lock(struct pg_cx *cx, const char *id, int64_t *shredded, struct sp_err *err)
{
	struct pgp p = {0};
	int st, found = 0;

	pg_p_text(&p, id);
	if ((st = pg_one(cx, "SELECT shredded FROM envelopes WHERE id = $1 FOR UPDATE", &p,
	    shredded, &found, "envelope", err)) != SP_OK)
		return st;
	return found ? SP_OK : sp_err_set(err, SP_ERR_NOTFOUND, "unknown envelope");
}

int
pg_envelope_set_retracted(void *impl, const char *id, const char *rcpt, int on,
    const struct sp_audit *a, struct sp_err *err)
{
	char addr[SP_STORE_EMAIL_MAX + 1];
	struct pg_cx cx;
	struct pgp p = {0};
	int64_t shredded = 0;
	int st;

	if (id == NULL)
		return sp_err_set(err, SP_ERR_NOTFOUND, "unknown envelope");
	if (rcpt != NULL && pg_ascii_lower(rcpt, addr, sizeof(addr), "address", NULL) != SP_OK)
		return sp_err_set(err, SP_ERR_NOTFOUND, "not a recipient of this envelope");
	if ((st = pg_tx(impl, &cx, err)) != SP_OK)
		return st;
	st = pg_envelope_lock(&cx, id, &shredded, err);
	if (st == SP_OK && !on && shredded != 0)
		st = sp_err_set(err, SP_ERR_EXPIRED, "this envelope was shredded: it cannot be"
		    " opened again");
	pg_p_text(&p, id);
	pg_p_int(&p, on ? 1 : 0);
	if (st == SP_OK && rcpt == NULL)
		st = pg_exec(&cx, "UPDATE envelopes SET retracted = $2 WHERE id = $1", &p, NULL,
		    "retract", err);
	else if (st == SP_OK) {
		pg_p_text(&p, addr);
		st = pg_exec(&cx, "UPDATE envelope_rcpt SET retracted = $2 WHERE envelope_id = $1"
		    " AND email = $3", &p, NULL, "retract", err);
		if (st == SP_OK && cx.changes == 0)
			st = sp_err_set(err, SP_ERR_NOTFOUND, "not a recipient of this envelope");
	}
	if (st == SP_OK)
		st = pg_audit_insert(&cx, a, err);
	return pg_end(&cx, st, err);
}

/* A seal's change (sp_store_envelope_seal()) inside the group commit's
 * transaction: *audit 1 when it changed the envelope (a repeated seal with
 * the same values changes nothing and writes no record). */
static int
pg_seal_row(struct pg_cx *cx, const struct sp_store_write *w, int *audit,
    struct sp_err *err)
{
	unsigned char h[SP_SHA256_LEN], c[SP_SHA256_LEN], g[64];
	char k[SP_STORE_KID_MAX + 1];
	const unsigned char *header_sha = w->header_sha, *ct_sha = w->ct_sha, *sig = w->sig;
	const char *id = w->id, *kid = w->kid;
	struct pgp p = {0};
	PGresult *r;
	int st, done = 0;

	if (id == NULL || header_sha == NULL || ct_sha == NULL || sig == NULL ||
	    !pg_fits(kid, SP_STORE_KID_MAX) || *kid == '\0')
		return sp_err_set(err, SP_ERR_INVALID, "store: bad seal");
	pg_p_text(&p, id);
	if ((st = pg_execk(cx, "SELECT sealed, header_sha, ct_sha, sig, kid FROM envelopes"
	    " WHERE id = $1 FOR UPDATE", &p, &r, "envelope", err)) == SP_OK) {
		if (PQntuples(r) == 0)
			st = sp_err_set(err, SP_ERR_NOTFOUND, "unknown envelope");
		else if (pg_r_int(r, 0, 0) != 0) {
			memset(h, 0, sizeof(h));
			memset(c, 0, sizeof(c));
			memset(g, 0, sizeof(g));
			pg_r_text(r, 0, 4, k, sizeof(k));
			/* sealed once: the same values again change nothing */
			done = 1;
			if (pg_r_blob(r, 0, 1, h, sizeof(h)) != SP_SHA256_LEN ||
			    pg_r_blob(r, 0, 2, c, sizeof(c)) != SP_SHA256_LEN ||
			    pg_r_blob(r, 0, 3, g, sizeof(g)) != (int)sizeof(g) ||
			    memcmp(h, header_sha, sizeof(h)) != 0 ||
			    memcmp(c, ct_sha, sizeof(c)) != 0 ||
			    memcmp(g, sig, sizeof(g)) != 0 || strcmp(k, kid) != 0)
				st = sp_err_set(err, SP_ERR_EXISTS,
				    "this envelope was sealed already with other values");
		}
		PQclear(r);
	}
	if (st == SP_OK && !done) {
		pg_p_hash(&p, header_sha);
		pg_p_hash(&p, ct_sha);
		pg_p_bin(&p, sig, 64);
		pg_p_text(&p, kid);
		st = pg_execk(cx, "UPDATE envelopes SET sealed = 1, header_sha = $2, ct_sha = $3,"
		    " sig = $4, kid = $5 WHERE id = $1 AND sealed = 0", &p, NULL, "seal", err);
		*audit = st == SP_OK;
	}
	return st;
}

/* Inside a transaction: SP_ERR_NOTFOUND naming what is missing when rcpt
 * is no recipient of envelope id. */
static int
pg_rcpt_missing(struct pg_cx *cx, const char *id, struct sp_err *err)
{
	struct pgp p = {0};
	int st, found = 0;

	pg_p_text(&p, id);
	if ((st = pg_one(cx, "SELECT 1 FROM envelopes WHERE id = $1", &p, NULL, &found,
	    "envelope", err)) != SP_OK)
		return st;
	return sp_err_set(err, SP_ERR_NOTFOUND, found ? "not a recipient of this envelope" :
	    "unknown envelope");
}

/* A release's open (sp_store_envelope_opened()) inside the group
 * commit's transaction: w->first tells whether it was the recipient's
 * first. */
static int
pg_opened_row(struct pg_cx *cx, struct sp_store_write *w, struct sp_err *err)
{
	char addr[SP_STORE_EMAIL_MAX + 1];
	struct pgp p = {0};
	int st, found = 0;

	if (w->id == NULL || w->rcpt == NULL ||
	    pg_ascii_lower(w->rcpt, addr, sizeof(addr), "address", NULL) != SP_OK)
		return sp_err_set(err, SP_ERR_NOTFOUND, "not a recipient of this envelope");
	pg_p_text(&p, w->id);
	pg_p_text(&p, addr);
	pg_p_int(&p, w->now ? w->now : (int64_t)time(NULL));
	/* Parallel first releases: the row lock lets one of them set it. */
	st = pg_execk(cx, "UPDATE envelope_rcpt SET opened = $3 WHERE envelope_id = $1"
	    " AND email = $2 AND opened = 0 RETURNING 1", &p, NULL, "opened", err);
	if (st == SP_OK && cx->changes == 0) {
		p.n = 2;
		st = pg_one(cx, "SELECT 1 FROM envelope_rcpt WHERE envelope_id = $1"
		    " AND email = $2", &p, NULL, &found, "recipient", err);
		if (st == SP_OK && !found)
			st = pg_rcpt_missing(cx, w->id, err);
	} else if (st == SP_OK)
		found = 2;	/* first */
	w->first = st == SP_OK && found == 2;
	return st;
}

/* The change a write makes before its audit record (pg_write_batch()):
 * *audit 1 when its record is due. */
int
pg_write_state(struct pg_cx *cx, struct sp_store_write *w, int *audit)
{
	int st;

	*audit = 0;
	switch (w->kind) {
	case SP_WRITE_DEPOSIT:
		st = pg_deposit_rows(cx, w->e, &w->err);
		*audit = st == SP_OK;
		return st;
	case SP_WRITE_SEAL:
		if ((st = pg_seal_row(cx, w, audit, &w->err)) == SP_OK && w->header != NULL)
			st = pg_header_write(cx, w->id, w->header, w->header_len, &w->err);
		return st;
	case SP_WRITE_OPENED:
		st = pg_opened_row(cx, w, &w->err);
		*audit = st == SP_OK;
		return st;
	default:
		return sp_err_set(&w->err, SP_ERR_INTERNAL, "store: unknown write %d", w->kind);
	}
}

int
pg_envelope_verify_result(void *impl, const char *id, const char *rcpt, int ok, int *fails,
    const struct sp_audit *a, struct sp_err *err)
{
	char addr[SP_STORE_EMAIL_MAX + 1];
	struct pg_cx cx;
	struct pgp p = {0};
	int64_t v = 0;
	int st, found = 0;

	if (fails != NULL)
		*fails = 0;
	if (id == NULL || pg_ascii_lower(rcpt, addr, sizeof(addr), "address", NULL) != SP_OK)
		return sp_err_set(err, SP_ERR_NOTFOUND, "not a recipient of this envelope");
	if ((st = pg_tx(impl, &cx, err)) != SP_OK)
		return st;
	pg_p_text(&p, id);
	pg_p_text(&p, addr);
	st = pg_one(&cx, ok ? "UPDATE envelope_rcpt SET verified = 1 WHERE envelope_id = $1"
	    " AND email = $2 RETURNING verify_fails" : "UPDATE envelope_rcpt SET verify_fails ="
	    " verify_fails + 1 WHERE envelope_id = $1 AND email = $2 RETURNING verify_fails",
	    &p, &v, &found, "verification", err);
	if (st == SP_OK && !found)
		st = pg_rcpt_missing(&cx, id, err);
	if (st == SP_OK)
		st = pg_audit_insert(&cx, a, err);
	if ((st = pg_end(&cx, st, err)) == SP_OK && fails != NULL)
		*fails = (int)v;
	return st;
}

/*
 * Envelopes with their recipients, a page of PG_PAGE envelopes at a time
 * (sql: PG_ENV_COLS then PG_RCPT_COLS, ordered by created, id, pos; $1 and
 * $2 are the caller's, $3/$4 the created and id to continue after, $5 the
 * page size).  fn is called with no statement or transaction open.
 */
static int
pg_envelope_pages(void *impl, const char *sql, int64_t p1, const char *p1s, int64_t p2,
    int64_t created, int (*fn)(void *, const struct sp_envelope_rec *), void *ctx,
    struct sp_err *err)
{
	struct sp_envelope_rec e;
	struct pg_cx cx;
	PGresult *r;
	char last[SP_STORE_ID_MAX + 1] = "";
	int st = SP_OK, i, n, envs, stop = 0, have = 0;

	memset(&e, 0, sizeof(e));
	do {
		struct pgp p = {0};

		if ((st = pg_get(impl, &cx, err)) != SP_OK)
			return st;
		if (p1s != NULL)
			pg_p_text(&p, p1s);
		else
			pg_p_int(&p, p1);
		pg_p_int(&p, p2);
		pg_p_int(&p, created);
		pg_p_text(&p, last);
		pg_p_int(&p, PG_PAGE);
		if ((st = pg_exec(&cx, sql, &p, &r, "envelopes", err)) != SP_OK)
			return st;
		n = PQntuples(r);
		for (i = 0, envs = 0; i <= n && !stop && st == SP_OK; i++) {
			if (have && (i == n || strcmp(PQgetvalue(r, i, 0), e.id) != 0)) {
				created = e.created;
				snprintf(last, sizeof(last), "%s", e.id);
				stop = fn(ctx, &e) != 0;
				sp_envelope_rec_clear(&e);
				have = 0;
			}
			if (i == n || stop)
				break;
			if (!have) {
				if ((st = env_from_row(r, i, &e, err)) != SP_OK)
					break;
				have = 1;
				envs++;
			}
			if (!PQgetisnull(r, i, 22))
				st = env_add_rcpt(&e, r, i, 22, err);
		}
		PQclear(r);
		if (have)
			sp_envelope_rec_clear(&e);
	} while (st == SP_OK && !stop && envs == PG_PAGE);
	return st;
}

int
pg_envelope_each(void *impl, int64_t org_id, int64_t since,
    int (*fn)(void *, const struct sp_envelope_rec *), void *ctx, struct sp_err *err)
{
	return pg_envelope_pages(impl, "SELECT " PG_ENV_COLS ", " PG_RCPT_COLS
	    " FROM (SELECT * FROM envelopes WHERE org_id = $1 AND created >= $2"
	    " AND (created > $3 OR (created = $3 AND id COLLATE \"C\" > $4))"
	    " ORDER BY created, id COLLATE \"C\" LIMIT $5) e JOIN orgs o ON o.id = e.org_id"
	    " LEFT JOIN envelope_rcpt r ON r.envelope_id = e.id"
	    " ORDER BY e.created, e.id COLLATE \"C\", r.pos", org_id, NULL, since, since, fn,
	    ctx, err);
}

int
pg_envelope_each_for(void *impl, const char *rcpt, int64_t now,
    int (*fn)(void *, const struct sp_envelope_rec *), void *ctx, struct sp_err *err)
{
	char addr[SP_STORE_EMAIL_MAX + 1];

	if (rcpt == NULL)
		return sp_err_set(err, SP_ERR_INVALID, "store: no recipient");
	if (pg_ascii_lower(rcpt, addr, sizeof(addr), "address", NULL) != SP_OK)
		return SP_OK;	/* no envelope names it */
	return pg_envelope_pages(impl, "SELECT " PG_ENV_COLS ", " PG_RCPT_COLS
	    " FROM (SELECT * FROM envelopes x WHERE x.shredded = 0 AND x.retracted = 0"
	    " AND (x.expires = 0 OR x.expires > $2) AND EXISTS (SELECT 1 FROM envelope_rcpt y"
	    " WHERE y.envelope_id = x.id AND y.email = $1 AND y.retracted = 0)"
	    " AND (x.created > $3 OR (x.created = $3 AND x.id COLLATE \"C\" > $4))"
	    " ORDER BY x.created, x.id COLLATE \"C\" LIMIT $5) e JOIN orgs o ON o.id = e.org_id"
	    " LEFT JOIN envelope_rcpt r ON r.envelope_id = e.id"
	    " ORDER BY e.created, e.id COLLATE \"C\", r.pos", 0, addr, now, INT64_MIN, fn, ctx,
	    err);
}

/* One envelope due for shredding. */
struct pg_due {
	char id[SP_STORE_ID_MAX + 1];
	int64_t org_id;
	int64_t expires;
};

static int
due_cmp(const void *x, const void *y)
{
	const struct pg_due *a = x, *b = y;

	if (a->org_id != b->org_id)
		return a->org_id < b->org_id ? -1 : 1;
	return strcmp(a->id, b->id);
}

/*
 * Crypto-shredding, PG_PAGE envelopes a transaction (the earliest expired
 * first, up to limit; limit <= 0: all).  The due rows are locked, skipping
 * any another shredder or writer holds (a later run gets them), then
 * shredded in the order of their organisations, so the chain heads are
 * taken in ascending order (see pg_audit_insert).  Each loses its wrapped
 * part and gets a "shred" record in its organisation's chain.  After the
 * commits, VACUUM (which cannot run inside a transaction) reclaims the dead
 * row versions that still held the old bytes.
 */
int
pg_envelope_shred_expired(void *impl, int64_t now, int limit, int *n, struct sp_err *err)
{
	struct pg_due *due;
	struct pg_cx cx;
	struct sp_err verr;
	PGresult *r;
	char detail[40];
	int st = SP_OK, vst, i, k, want, done = 0;

	if (n != NULL)
		*n = 0;
	if (now == 0)
		now = (int64_t)time(NULL);
	if ((due = calloc(PG_PAGE, sizeof(*due))) == NULL)
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	do {
		struct pgp p = {0};

		want = limit > 0 && limit - done < PG_PAGE ? limit - done : PG_PAGE;
		k = 0;
		if ((st = pg_tx(impl, &cx, err)) != SP_OK)
			break;
		pg_p_int(&p, now);
		pg_p_int(&p, want);
		if ((st = pg_exec(&cx, "SELECT id, org_id, expires FROM envelopes"
		    " WHERE shredded = 0 AND expires > 0 AND expires <= $1"
		    " ORDER BY expires, id COLLATE \"C\" LIMIT $2 FOR UPDATE SKIP LOCKED", &p, &r,
		    "expired envelopes", err)) == SP_OK) {
			for (k = 0; k < PQntuples(r) && k < want; k++) {
				pg_r_text(r, k, 0, due[k].id, sizeof(due[k].id));
				due[k].org_id = pg_r_int(r, k, 1);
				due[k].expires = pg_r_int(r, k, 2);
			}
			PQclear(r);
		}
		qsort(due, (size_t)k, sizeof(*due), due_cmp);
		for (i = 0; i < k && st == SP_OK; i++) {
			struct pgp u = {0};
			struct sp_audit a = {now, "shred", NULL, due[i].id, NULL, detail,
			    due[i].org_id};

			pg_p_text(&u, due[i].id);
			pg_p_int(&u, now);
			if ((st = pg_exec(&cx, "UPDATE envelopes SET wrapped = '\\x'::bytea,"
			    " key_id = 0, shredded = $2 WHERE id = $1 AND shredded = 0", &u, NULL,
			    "shred", err)) != SP_OK)
				break;
			snprintf(detail, sizeof(detail), "expired %" PRId64, due[i].expires);
			st = pg_audit_insert(&cx, &a, err);
		}
		if ((st = pg_end(&cx, st, err)) == SP_OK)
			done += k;
	} while (st == SP_OK && k == want && (limit <= 0 || done < limit));
	free(due);
	if (n != NULL)
		*n = done;
	if (done > 0 && ((vst = pg_get(impl, &cx, &verr)) != SP_OK ||
	    (vst = pg_exec(&cx, "VACUUM envelopes", NULL, NULL, "vacuum", &verr)) != SP_OK) &&
	    st == SP_OK)
		st = sp_err_set(err, vst, "store: %d envelopes shredded, but the table was"
		    " not vacuumed: %s", done, verr.msg);
	return st;
}

/* --- master key rotation ------------------------------------------------- */

struct pg_wrapped_row {
	char ref[SP_STORE_EMAIL_MAX + 1];
	uint32_t key_id;
	unsigned char wrapped[SP_STORE_WRAPPED_MAX];
	size_t len;
};

/* Rows of sql ($1 below, $2 after ref, $3 limit; columns ref, key_id,
 * wrapped) in pages: each page is copied out and its result cleared, then
 * fn is called for its rows with no statement or transaction open, so fn
 * may write to the store (on this thread's same connection).  Pages follow
 * ref in the database's own order, so a row rewrapped meanwhile is not
 * seen again and none is skipped. */
static int
pg_wrapped_each(void *impl, const char *sql, uint32_t below,
    int (*fn)(void *, const char *, uint32_t, const unsigned char *, size_t),
    void *ctx, struct sp_err *err)
{
	struct pg_wrapped_row *rows;
	struct pg_cx cx;
	PGresult *r;
	char last[SP_STORE_EMAIL_MAX + 1] = "";
	int st, i, n = 0, len, stop = 0;

	if ((rows = calloc(PG_PAGE, sizeof(*rows))) == NULL)
		return sp_err_set(err, SP_ERR_NOMEM, "out of memory");
	do {
		struct pgp p = {0};

		/* again for each page: fn's calls may have replaced a broken
		 * connection */
		if ((st = pg_get(impl, &cx, err)) != SP_OK)
			break;
		pg_p_int(&p, below);
		pg_p_text(&p, last);
		pg_p_int(&p, PG_PAGE);
		if ((st = pg_exec(&cx, sql, &p, &r, "wrapped values", err)) != SP_OK)
			break;
		n = PQntuples(r);
		if (n > PG_PAGE)
			n = PG_PAGE;
		for (i = 0; i < n && st == SP_OK; i++) {
			pg_r_text(r, i, 0, rows[i].ref, sizeof(rows[i].ref));
			rows[i].key_id = (uint32_t)pg_r_int(r, i, 1);
			if ((len = pg_r_blob(r, i, 2, rows[i].wrapped, sizeof(rows[i].wrapped))) <= 0)
				st = len == -2 ? sp_err_set(err, SP_ERR_NOMEM, "out of memory") :
				    sp_err_set(err, SP_ERR_IO,
				    "store: a wrapped value is empty or too long");
			rows[i].len = len > 0 ? (size_t)len : 0;
		}
		PQclear(r);
		if (st != SP_OK)
			break;
		for (i = 0; i < n && !stop; i++)
			stop = fn(ctx, rows[i].ref, rows[i].key_id, rows[i].wrapped, rows[i].len) != 0;
		if (n > 0)
			snprintf(last, sizeof(last), "%s", rows[n - 1].ref);
	} while (n == PG_PAGE && !stop);
	sp_wipe(rows, PG_PAGE * sizeof(*rows));
	free(rows);
	return st;
}

/* Replace a wrapped value only while its row still has the key id ($2)
 * and the wrapped bytes ($5) it was read with (the caller checked both
 * lengths). */
static int
pg_rewrap(void *impl, const char *sql, const struct sp_rewrap *r, const struct sp_audit *a,
    struct sp_err *err)
{
	struct pg_cx cx;
	struct pgp p = {0};
	int st;

	if ((st = pg_tx(impl, &cx, err)) != SP_OK)
		return st;
	pg_p_text(&p, r->ref);
	pg_p_int(&p, r->old_key_id);
	pg_p_int(&p, r->new_key_id);
	pg_p_bin(&p, r->wrapped, r->len);
	pg_p_bin(&p, r->old, r->old_len);
	st = pg_exec(&cx, sql, &p, NULL, "rewrap", err);
	if (st == SP_OK && cx.changes == 0)
		st = sp_err_set(err, SP_ERR_NOTFOUND, "no such row with key %u and those bytes",
		    r->old_key_id);
	if (st == SP_OK)
		st = pg_audit_insert(&cx, a, err);
	return pg_end(&cx, st, err);
}

int
pg_envelope_wrapped_each(void *impl, uint32_t below,
    int (*fn)(void *, const char *, uint32_t, const unsigned char *, size_t),
    void *ctx, struct sp_err *err)
{
	/* a shredded envelope has nothing left to rewrap */
	return pg_wrapped_each(impl, "SELECT id, key_id, wrapped FROM envelopes"
	    " WHERE key_id < $1 AND id > $2 AND shredded = 0 ORDER BY id LIMIT $3", below, fn,
	    ctx, err);
}

int
pg_envelope_rewrap(void *impl, const struct sp_rewrap *r, const struct sp_audit *a,
    struct sp_err *err)
{
	return pg_rewrap(impl, "UPDATE envelopes SET key_id = $3, wrapped = $4"
	    " WHERE id = $1 AND key_id = $2 AND shredded = 0 AND wrapped = $5", r, a, err);
}

int
pg_totp_wrapped_each(void *impl, uint32_t below,
    int (*fn)(void *, const char *, uint32_t, const unsigned char *, size_t),
    void *ctx, struct sp_err *err)
{
	return pg_wrapped_each(impl, "SELECT email, totp_key_id, totp_wrapped FROM accounts"
	    " WHERE totp_wrapped IS NOT NULL AND totp_key_id < $1 AND email > $2"
	    " ORDER BY email LIMIT $3", below, fn, ctx, err);
}

int
pg_totp_rewrap(void *impl, const struct sp_rewrap *r, const struct sp_audit *a,
    struct sp_err *err)
{
	return pg_rewrap(impl, "UPDATE accounts SET totp_key_id = $3, totp_wrapped = $4"
	    " WHERE email = $1 AND totp_key_id = $2"
	    " AND totp_wrapped = $5", r, a, err);
}

/* The organisations' reply signing keys ("replykey:KID"). */
int
pg_replykey_wrapped_each(void *impl, uint32_t below,
    int (*fn)(void *, const char *, uint32_t, const unsigned char *, size_t),
    void *ctx, struct sp_err *err)
{
	return pg_wrapped_each(impl, "SELECT kid, wrap_key_id, wrapped FROM org_keys"
	    " WHERE wrapped IS NOT NULL AND wrap_key_id < $1 AND kid > $2 ORDER BY kid LIMIT $3",
	    below, fn, ctx, err);
}

int
pg_replykey_rewrap(void *impl, const struct sp_rewrap *r, struct sp_err *err)
{
	return pg_rewrap(impl, "UPDATE org_keys SET wrap_key_id = $3, wrapped = $4"
	    " WHERE kid = $1 AND wrap_key_id = $2 AND wrapped = $5",
	    r, NULL, err);
}

/* The mail queue's keys ("mailq:REF"), schema v8. */
int
pg_mailq_wrapped_each(void *impl, uint32_t below,
    int (*fn)(void *, const char *, uint32_t, const unsigned char *, size_t),
    void *ctx, struct sp_err *err)
{
	return pg_wrapped_each(impl, "SELECT ref, key_id, wrapped FROM mailq"
	    " WHERE key_id < $1 AND ref > $2 ORDER BY ref LIMIT $3", below, fn, ctx,
	    err);
}

int
pg_mailq_rewrap(void *impl, const struct sp_rewrap *r, struct sp_err *err)
{
	return pg_rewrap(impl, "UPDATE mailq SET key_id = $3, wrapped = $4"
	    " WHERE ref = $1 AND key_id = $2 AND wrapped = $5", r, NULL, err);
}

/* --- ciphertext copies (schema v4) ---------------------------------------- */

/* Store a sealed envelope's header once, inside the caller's transaction:
 * the same bytes again are SP_OK, other bytes SP_ERR_EXISTS. */
int
pg_header_write(struct pg_cx *cx, const char *id, const unsigned char *header, size_t len,
    struct sp_err *err)
{
	struct pgp p = {0};
	PGresult *r;
	unsigned char *old = NULL;
	size_t olen = 0;
	int st;

	pg_p_text(&p, id);
	if ((st = pg_exec(cx, "SELECT sealed_header FROM envelopes WHERE id = $1 FOR UPDATE",
	    &p, &r, "envelope", err)) != SP_OK)
		return st;
	if (PQntuples(r) == 0)
		st = sp_err_set(err, SP_ERR_NOTFOUND, "unknown envelope");
	else
		st = pg_r_blob_dup(r, 0, 0, &old, &olen, err);
	PQclear(r);
	if (st == SP_OK && old != NULL) {
		if (olen != len || memcmp(old, header, len) != 0)
			st = sp_err_set(err, SP_ERR_EXISTS, "the envelope has another header already");
	} else if (st == SP_OK) {
		pg_p_bin(&p, header, len);
		st = pg_exec(cx, "UPDATE envelopes SET sealed_header = $2 WHERE id = $1", &p,
		    NULL, "envelope header", err);
	}
	free(old);
	return st;
}

int
pg_envelope_header_set(void *impl, const char *id, const unsigned char *header,
    size_t len, struct sp_err *err)
{
	struct pg_cx cx;
	int st;

	if ((st = pg_tx(impl, &cx, err)) != SP_OK)
		return st;
	return pg_end(&cx, pg_header_write(&cx, id, header, len, err), err);
}

int
pg_envelope_holder(void *impl, const char *id, unsigned char *out, struct sp_err *err)
{
	PGresult *r;
	int st;

	if ((st = pg_select_ref(impl, "SELECT holder FROM envelopes WHERE id = $1", id, &r,
	    "envelope holder", err)) != SP_OK)
		return st;
	if (PQntuples(r) == 0 || pg_r_blob(r, 0, 0, out, SP_SHA256_LEN) != SP_SHA256_LEN)
		st = sp_err_set(err, SP_ERR_NOTFOUND, "no holder tag");
	PQclear(r);
	return st;
}

int
pg_envelope_copy_get(void *impl, const char *id, struct sp_envelope_copy *out,
    struct sp_err *err)
{
	PGresult *r;
	int st;

	if ((st = pg_select_ref(impl, "SELECT org_id, sealed_header, copy_size, copy_until"
	    " FROM envelopes WHERE id = $1", id, &r, "envelope copy", err)) != SP_OK)
		return st;
	if (PQntuples(r) == 0)
		st = sp_err_set(err, SP_ERR_NOTFOUND, "unknown envelope");
	else {
		out->org_id = pg_r_int(r, 0, 0);
		out->size = pg_r_int(r, 0, 2);
		out->until = pg_r_int(r, 0, 3);
		st = pg_r_blob_dup(r, 0, 1, &out->header, &out->header_len, err);
	}
	PQclear(r);
	return st;
}

int
pg_envelope_copy_set(void *impl, const char *id, int64_t size, int64_t until,
    int64_t quota, const struct sp_audit *a, struct sp_err *err)
{
	struct pg_cx cx;
	struct pgp p = {0};
	int64_t org_id = 0, used = 0;
	int st, found = 0;

	if ((st = pg_tx(impl, &cx, err)) != SP_OK)
		return st;
	pg_p_text(&p, id);
	if ((st = pg_one(&cx, "SELECT org_id FROM envelopes WHERE id = $1", &p, &org_id, &found,
	    "envelope", err)) == SP_OK && !found)
		st = sp_err_set(err, SP_ERR_NOTFOUND, "unknown envelope");
	if (st == SP_OK && size > 0 && quota > 0) {
		struct pgp q = {0};

		/* one organisation's copies are recorded one at a time */
		pg_p_int(&q, org_id);
		st = pg_exec(&cx, "SELECT 1 FROM orgs WHERE id = $1 FOR UPDATE", &q, NULL,
		    "organisation", err);
		pg_p_text(&q, id);
		if (st == SP_OK)
			st = pg_one(&cx, "SELECT coalesce(sum(copy_size), 0) FROM envelopes"
			    " WHERE org_id = $1 AND copy_size > 0 AND id <> $2", &q, &used, &found,
			    "copy bytes", err);
		if (st == SP_OK && used + size > quota)
			st = sp_err_set(err, SP_ERR_TOOBIG, "the organisation's copies would exceed"
			    " its quota");
	}
	if (st == SP_OK) {
		pg_p_int(&p, size);
		pg_p_int(&p, until);
		st = pg_exec(&cx, "UPDATE envelopes SET copy_size = $2, copy_until = $3"
		    " WHERE id = $1", &p, NULL, "envelope copy", err);
	}
	if (st == SP_OK && a != NULL)
		st = pg_audit_insert(&cx, a, err);
	return pg_end(&cx, st, err);
}

int
pg_org_copy_bytes(void *impl, int64_t org_id, int64_t *bytes, struct sp_err *err)
{
	struct pg_cx cx;
	struct pgp p = {0};
	int st, found = 0;

	if ((st = pg_get(impl, &cx, err)) != SP_OK)
		return st;
	pg_p_int(&p, org_id);
	return pg_one(&cx, "SELECT coalesce(sum(copy_size), 0) FROM envelopes"
	    " WHERE org_id = $1 AND copy_size > 0", &p, bytes, &found, "copy bytes", err);
}

int
pg_copies_doomed(void *impl, int64_t now, struct sp_copy_ref *out, size_t max, size_t *n,
    struct sp_err *err)
{
	struct pg_cx cx;
	struct pgp p = {0};
	PGresult *r;
	int st, i, rows;

	if ((st = pg_get(impl, &cx, err)) != SP_OK)
		return st;
	pg_p_int(&p, now);
	pg_p_int(&p, (int64_t)max);
	if ((st = pg_exec(&cx, "SELECT e.id, e.org_id, e.copy_size FROM envelopes e"
	    " JOIN orgs o ON o.id = e.org_id WHERE e.copy_size > 0 AND (e.retracted <> 0"
	    " OR e.shredded <> 0 OR (e.expires > 0 AND e.expires <= $1)"
	    " OR (e.copy_until > 0 AND e.copy_until <= $1) OR o.removed <> 0)"
	    " ORDER BY e.id COLLATE \"C\" LIMIT $2", &p, &r, "copies", err)) != SP_OK)
		return st;
	rows = PQntuples(r);
	for (i = 0; i < rows && *n < max; i++) {
		pg_r_text(r, i, 0, out[*n].id, sizeof(out[*n].id));
		out[*n].org_id = pg_r_int(r, i, 1);
		out[*n].size = pg_r_int(r, i, 2);
		(*n)++;
	}
	PQclear(r);
	return SP_OK;
}

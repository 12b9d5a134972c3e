/*
 * keyd_http.c - the libmicrohttpd access handler of sealpost-keyd: one
 * context per request, body limits (413 before any work: Content-Length is
 * checked up front and the bytes are counted while they arrive), form
 * decoding through MHD's post processor; then the router (keyd_router.h)
 * answers.  What the body may be (JSON, a form, the /online form, or a
 * stream handed to the route's body hook piece by piece, never kept) comes
 * from the route's flags, known before the body arrives.
 * SECURITY: everything here is untrusted input.  Bodies and form fields
 * are capped; the log gets only the method, path and status.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crypto.h"
#include "keyd_login.h"
#include "keyd_req.h"
#include "keyd_reply.h"
#include "keyd_router.h"

/* --- request bodies ------------------------------------------------------ */

/* A field of an envelope form (POST /online, POST /read): the header h,
 * the ciphertext c, the signature s and the id, base64 text up to the
 * request's cap.  The other fields of those forms are ordinary ones. */
static int
envelope_field(const struct keyd_req *r, const char *key)
{
	return r->online && (strcmp(key, "h") == 0 || strcmp(key, "c") == 0 ||
	    strcmp(key, "s") == 0 || strcmp(key, "id") == 0);
}

static struct keyd_field *
field_get(struct keyd_req *r, const char *key)
{
	size_t i;

	for (i = 0; i < r->nfields; i++)
		if (strcmp(r->fields[i].name, key) == 0)
			return &r->fields[i];
	if (r->nfields == KEYD_MAX_FIELDS || strlen(key) >= sizeof(r->fields[0].name))
		return NULL;
	snprintf(r->fields[r->nfields].name, sizeof(r->fields[0].name), "%s", key);
	sp_buf_init(&r->fields[r->nfields].value,
	    envelope_field(r, key) ? r->cap : KEYD_FIELD_MAX);
	return &r->fields[r->nfields++];
}

static enum MHD_Result
post_iter(void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
    const char *content_type, const char *transfer_encoding, const char *data,
    uint64_t off, size_t size)
{
	struct keyd_req *r = cls;
	struct keyd_field *f;
	size_t i;

	if (key == NULL)
		return MHD_YES;
	r->form_bytes += size;
	if (r->form_bytes > r->cap) {
		r->toobig = 1;
		return MHD_NO;
	}
	if ((f = field_get(r, key)) == NULL)
		return MHD_YES;
	if (!envelope_field(r, key)) {
		/* One field over its cap (the body is within --max-body): the
		 * page names that field; the rest of it is not kept. */
		if (!f->toolong && sp_buf_append(&f->value, data, size) != SP_OK)
			f->toolong = 1;
		return MHD_YES;
	}
	/* an envelope field: keep only the base64 alphabet and line feeds */
	if (sp_buf_reserve(&f->value, size) != SP_OK) {
		r->toobig = 1;
		return MHD_NO;
	}
	for (i = 0; i < size; i++) {
		unsigned char c = (unsigned char)data[i];

		if (isalnum(c) || c == '+' || c == '/' || c == '=' || c == '\n' ||
		    c == '-' || c == '_')
			f->value.data[f->value.len++] = c;
	}
	f->value.data[f->value.len] = '\0';
	return MHD_YES;
}

static int
is_form(const char *ct)
{
	return ct != NULL && (strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0 ||
	    strncasecmp(ct, "multipart/form-data", 19) == 0);
}

/* --- the MHD access handler ------------------------------------------- */

enum MHD_Result
keyd_handler(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct keyd *k = cls;
	struct keyd_req *r = *con_cls;
	const char *cl, *ct;
	char *end;
	unsigned long long n;
	unsigned flags;

	if (r == NULL) {
		if ((r = calloc(1, sizeof(*r))) == NULL)
			return MHD_NO;
		*con_cls = r;
		r->k = k;
		r->conn = conn;
		r->method = method;
		r->url = url;
		r->started_ms = keyd_now_ms();
		keyd_client_addr(r);
		flags = keyd_route_flags(method, url);
		r->api = (flags & KEYD_ROUTE_API) != 0;
		r->online = (flags & KEYD_ROUTE_ONLINE) != 0;
		r->cap = r->online ? k->max_envelope : k->max_body;
		if ((flags & KEYD_ROUTE_REPLY) != 0)
			r->cap = keyd_reply_body_cap(k->max_reply);
		if ((r->body_fn = keyd_route_body(method, url)) != NULL)
			r->cap = k->max_copy;
		sp_buf_init(&r->body, r->cap);
		if ((cl = keyd_header(r, "Content-Length")) != NULL) {
			n = strtoull(cl, &end, 10);
			if (*cl == '\0' || *end != '\0' || n > r->cap)
				return keyd_reply_error(r, 413, "api.too_large");
		}
		if (r->body_fn != NULL) {
			/* the hook may answer before the body (then it is drained) */
			if (r->body_fn(r, NULL, 0) != SP_OK && !r->answered)
				return keyd_reply_error(r, 500, "err.internal");
			return MHD_YES;
		}
		ct = keyd_header(r, "Content-Type");
		if (is_form(ct) && !r->api) {
			r->pp = MHD_create_post_processor(conn, 65536, post_iter, r);
			if (r->pp == NULL)
				r->badform = 1;
		}
		return MHD_YES;
	}
	if (r->answered) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		if (!r->toobig && !r->badform) {
			if (r->pp != NULL) {
				if (MHD_post_process(r->pp, upload_data, *upload_data_size) != MHD_YES
				    && !r->toobig)
					r->badform = 1;
			} else if (r->body_fn != NULL) {
				if (r->body_fn(r, upload_data, *upload_data_size) == SP_ERR_TOOBIG)
					r->toobig = 1;
			} else if (sp_buf_append(&r->body, upload_data, *upload_data_size) != SP_OK)
				r->toobig = 1;
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (r->toobig)
		return keyd_reply_error(r, 413, "api.too_large");
	if (r->badform)
		return keyd_reply_error(r, 400, "api.bad_form");
	return keyd_route(r);
}

void
keyd_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct keyd_req *r = *con_cls;
	size_t i;

	if (r == NULL)
		return;
	if (r->pp != NULL)
		MHD_destroy_post_processor(r->pp);
	sp_buf_wipe(&r->body);
	if (r->async_data != NULL && r->async_free != NULL)
		r->async_free(r->async_data);
	if (r->work_resp != NULL)
		MHD_destroy_response(r->work_resp);
	if (r->body_state != NULL && r->body_free != NULL)
		r->body_free(r->body_state);
	for (i = 0; i < r->nfields; i++)
		sp_buf_wipe(&r->fields[i].value);
	sp_wipe(r->cookies, sizeof(r->cookies));
	free(r);
	*con_cls = NULL;
}

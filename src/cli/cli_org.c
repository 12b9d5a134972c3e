/*
 * cli_org.c - `sealpost org`: the administrator's commands for sending
 * organisations: add (a token and a signing key), list, show, remove;
 * their domains, named API tokens and signing keys; branding, contact and
 * policy (`org set`).  Opens the key server's store directly (--db, or
 * SQLite in --data-dir).  Every change is audited in the organisation's
 * own chain (actor "admin").
 * SECURITY: a token is printed once and only its SHA-256 is stored; a
 * signing key is written once to a new file of mode 0600 and never read
 * back or stored (the store keeps the public key); a key file written by a
 * command that then fails is removed.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../cli/cli.h"
#include "buf.h"
#include "crypto.h"
#include "field.h"
#include "i18n.h"
#include "maildomains.h"
#include "reply.h"
#include "sign.h"
#include "store.h"

#define ORG_TOKEN_NAME_MAX 32
#define ORG_EXPIRE_DAYS_MAX 3650
#define ORG_COPY_QUOTA_MAX (1 << 30)	/* MiB */
#define ORG_LIST_MAX 100000	/* organisations org list collects */

/* The offered languages (complete catalogues, i18n.h) as "en, es" into
 * out (outsz bytes). */
static void
languages(char *out, size_t outsz)
{
	const char *const *l = sp_i18n_languages();
	size_t i, n = 0;

	out[0] = '\0';
	for (i = 0; l[i] != NULL && n < outsz; i++)
		n += (size_t)snprintf(out + n, outsz - n, "%s%s", i ? ", " : "", l[i]);
}

static void
usage(FILE *f)
{
	char langs[128];

	languages(langs, sizeof(langs));
	fprintf(f,
	    "usage: sealpost --data-dir DIR | --db URL org COMMAND ...\n\n"
	    "  org add NAME --domain DOMAIN --key-out FILE [--display TEXT]\n"
	    "          [--public-domains FILE]\n"
	    "      registers a sending organisation.  Prints its first API token\n"
	    "      (spo_..., named \"default\") alone on standard output: it is shown\n"
	    "      only this once.  Writes a new Ed25519 signing key (PKCS#8 PEM,\n"
	    "      mode 0600) to FILE, which must not exist: the sealer signs with it\n"
	    "      (sealpost seal --sign-key, the milter's sign_key); the key server\n"
	    "      keeps only the public key.\n"
	    "  org list\n"
	    "      id, name, domains, display name and live tokens of each organisation.\n"
	    "  org show NAME\n"
	    "      everything: domains, tokens, signing keys, branding, contact, policy.\n"
	    "  org remove NAME --yes\n"
	    "      revokes every token and releases every domain; envelopes it sent\n"
	    "      still open.\n"
	    "  org domain add NAME DOMAIN [--public-domains FILE] | org domain remove NAME DOMAIN\n"
	    "      mail domains whose addresses may send as the organisation.  Public\n"
	    "      mail domains (gmail.com, outlook.com, ...; more in the file named by\n"
	    "      --public-domains, one a line) and domains of another organisation\n"
	    "      are refused.\n"
	    "  org token create NAME TOKEN-NAME | org token list NAME | org token revoke NAME TOKEN-NAME\n"
	    "      named API tokens (TOKEN-NAME: letters, digits, '.', '_', '-', at most\n"
	    "      %d); create prints the new token once.\n"
	    "  org key rotate NAME --key-out FILE | org key list NAME | org key retire NAME KID\n"
	    "      signing keys: rotate writes a new key to FILE and prints its kid; the\n"
	    "      older keys stay valid until retired (deploy the new key to every\n"
	    "      sealer first).  A KID may begin with '-' (it may also follow --).\n"
	    "  org set NAME [--display TEXT] [--colour #rrggbb|none] [--logo FILE.png|none]\n"
	    "          [--contact ADDR|none] [--expire-days N] [--notify-read on|off]\n"
	    "          [--replies on|off] [--forward on|off] [--verify on|off]\n"
	    "          [--forward-domains DOMAIN,DOMAIN...|none]\n"
	    "          [--level high|medium|low] [--language CODE]\n"
	    "          [--keep-copies DAYS] [--copy-quota MB]\n"
	    "      branding shown on envelopes (logo: a PNG of at most %d bytes), where\n"
	    "      organisation notices go, and the defaults for its envelopes:\n"
	    "      expire-days 0..%d (0: no expiry), read notices, replies and\n"
	    "      forwarding on the portal (a forward goes only to the organisation's\n"
	    "      own domains and those of --forward-domains), a required verification\n"
	    "      secret, the\n"
	    "      security level and the language of mails; keep-copies 0..%d:\n"
	    "      days the key server keeps a ciphertext copy of each signed envelope\n"
	    "      (0: none; recipients then open it in the browser without the\n"
	    "      attachment), copy-quota: MiB of copies (0: no limit, default 1024).\n"
	    "      language: the envelope's and the notification mail's, one of the\n"
	    "      languages whose catalogue is complete: %s.\n",
	    ORG_TOKEN_NAME_MAX, SP_STORE_LOGO_MAX, ORG_EXPIRE_DAYS_MAX, ORG_EXPIRE_DAYS_MAX, langs);
}

/* --- shared checks ---------------------------------------------------------- */

static int usage_err(const char *verb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
usage_err(const char *verb, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "sealpost org %s: ", verb);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see sealpost org --help)\n", stderr);
	return 2;
}

/* A name or display name: field.h text, trimmed, at most
 * SP_STORE_NAME_MAX bytes.  *out is malloc'd. */
static int
check_text(const char *verb, const char *what, const char *in, int required, char **out)
{
	struct sp_field_rules r = { SP_STORE_NAME_MAX, 0,
	    SP_FIELD_TRIM | (required ? SP_FIELD_REQUIRED : 0) };
	struct sp_err err = {{0}};

	if (sp_field_text(in, strlen(in), &r, out, NULL, &err) != SP_OK) {
		fprintf(stderr, "sealpost org %s: %s: %s\n", verb, what, err.msg);
		return 2;
	}
	return 0;
}

static int
check_domain(const char *verb, const char *in, char out[SP_DOMAIN_MAX + 1])
{
	struct sp_err err = {{0}};

	if (sp_domain_check(in, strlen(in), out, &err) != SP_OK ||
	    strlen(out) > SP_STORE_DOMAIN_MAX) {
		fprintf(stderr, "sealpost org %s: '%s' is not a mail domain: %s\n", verb, in,
		    err.msg);
		return 2;
	}
	return 0;
}

/* Refuse a public mail domain (built-in list and --public-domains FILE)
 * and one that an organisation holds already.  self: the organisation
 * asking (0 for a new one).  0 when the domain may be added. */
static int
domain_free(struct sp_store *s, const char *verb, const char *dom, const char *file,
    int64_t self)
{
	struct sp_maildomains *extra = NULL;
	struct sp_err err = {{0}};
	struct sp_org o;
	int st, pub;

	if (file != NULL && (st = sp_maildomains_load(&extra, file, &err)) != SP_OK) {
		fprintf(stderr, "sealpost org %s: --public-domains: %s\n", verb,
		    sp_err_msg(&err, st));
		return 1;
	}
	pub = sp_maildomain_is_public(extra, dom);
	sp_maildomains_free(extra);
	if (pub) {
		fprintf(stderr, "sealpost org %s: %s is a public mail domain: anyone can have an "
		    "address there, so no organisation may send as it\n", verb, dom);
		return 1;
	}
	st = sp_store_org_by_domain(s, dom, &o, &err);
	if (st == SP_OK) {
		if (o.id == self)
			fprintf(stderr, "sealpost org %s: %s already has %s\n", verb, o.name, dom);
		else
			fprintf(stderr, "sealpost org %s: %s is held by another organisation (%s)\n",
			    verb, dom, o.name);
		return 1;
	}
	if (st != SP_ERR_NOTFOUND) {
		fprintf(stderr, "sealpost org %s: %s\n", verb, sp_err_msg(&err, st));
		return 1;
	}
	return 0;
}

static int
check_token_name(const char *verb, const char *n)
{
	size_t i, len = strlen(n);

	if (len == 0 || len > ORG_TOKEN_NAME_MAX)
		return usage_err(verb, "TOKEN-NAME '%s' must have 1 to 32 characters", n);
	for (i = 0; i < len; i++)
		if (!((n[i] >= 'a' && n[i] <= 'z') || (n[i] >= 'A' && n[i] <= 'Z') ||
		    (n[i] >= '0' && n[i] <= '9') || (i > 0 && strchr("._-", n[i]) != NULL)))
			return usage_err(verb, "TOKEN-NAME '%s' may hold only ASCII letters, "
			    "digits, '.', '_' and '-' (not first)", n);
	return 0;
}

/* The organisation named name.  live: refuse a removed one.  0 found. */
static int
find_org(struct sp_store *s, const char *verb, const char *name, int live, struct sp_org *o)
{
	struct sp_err err = {{0}};
	int st = sp_store_org_get(s, name, o, &err);

	if (st == SP_ERR_NOTFOUND) {
		fprintf(stderr, "sealpost org %s: no organisation named '%s' (see sealpost org "
		    "list)\n", verb, name);
		return 1;
	}
	if (st != SP_OK) {
		fprintf(stderr, "sealpost org %s: %s\n", verb, sp_err_msg(&err, st));
		return 1;
	}
	if (live && o->removed != 0) {
		fprintf(stderr, "sealpost org %s: organisation '%s' was removed\n", verb, name);
		return 1;
	}
	return 0;
}

static int
fail(const char *verb, struct sp_err *err, int st)
{
	fprintf(stderr, "sealpost org %s: %s\n", verb, sp_err_msg(err, st));
	return 1;
}

static struct sp_audit
audit_rec(const char *event, int64_t org_id, const char *detail)
{
	return (struct sp_audit){ .time = (int64_t)time(NULL), .event = event, .actor = "admin",
	    .client = "cli", .detail = detail, .org_id = org_id };
}

/* A new signing key: written to path (must not exist), its public half in
 * k (kid, pub).  0 done; else the message is printed. */
static int
new_key(const char *verb, const char *path, struct sp_org_key *k)
{
	struct sp_signer *sg = NULL;
	struct sp_err err = {{0}};
	struct sp_buf pem;
	int st;

	if (access(path, F_OK) == 0) {
		fprintf(stderr, "sealpost org %s: %s exists: a signing key is written only to a "
		    "new file\n", verb, path);
		return 1;
	}
	sp_buf_init(&pem, 4096);
	st = sp_signer_generate(&sg, &pem, &err);
	if (st == SP_OK)
		st = sp_signer_write_pem(path, &pem, &err);
	sp_buf_wipe(&pem);
	sp_buf_free(&pem);
	if (st == SP_OK) {
		sp_signer_pub(sg, k->pub);
		sp_signer_kid(sg, k->kid);
	}
	sp_signer_free(sg);
	if (st != SP_OK)
		return fail(verb, &err, st);
	return 0;
}

/* --- org add ------------------------------------------------------------------ */

static int
add_main(int argc, char **argv, const struct cli_global *g)
{
	struct sp_err err = {{0}};
	struct sp_store *s = NULL;
	struct sp_org o;
	struct sp_org_key k;
	struct sp_audit a;
	const char *name_in = NULL, *domain = NULL, *key_out = NULL, *display_in = NULL;
	const char *pubfile = g->public_domains;
	char *name = NULL, *display = NULL, tok[96], dom[SP_DOMAIN_MAX + 1], detail[64];
	unsigned char h[SP_SHA256_LEN];
	int64_t id = 0, now = (int64_t)time(NULL);
	int i, st, rc = 1, key_written = 0;

	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--domain") == 0 && i + 1 < argc)
			domain = argv[++i];
		else if (strcmp(argv[i], "--key-out") == 0 && i + 1 < argc)
			key_out = argv[++i];
		else if (strcmp(argv[i], "--display") == 0 && i + 1 < argc)
			display_in = argv[++i];
		else if (strcmp(argv[i], "--public-domains") == 0 && i + 1 < argc)
			pubfile = argv[++i];
		else if (argv[i][0] != '-' && name_in == NULL)
			name_in = argv[i];
		else
			return usage_err("add", "unexpected argument '%s'", argv[i]);
	}
	if (name_in == NULL)
		return usage_err("add", "NAME is required");
	if (domain == NULL)
		return usage_err("add", "--domain DOMAIN is required (a mail domain such as "
		    "clinic.example)");
	if (key_out == NULL || *key_out == '\0')
		return usage_err("add", "--key-out FILE is required (where the new signing key "
		    "is written)");
	if (check_domain("add", domain, dom) != 0)
		return 2;
	if (check_text("add", "NAME", name_in, 1, &name) != 0)
		return 2;
	if (display_in != NULL && check_text("add", "--display", display_in, 0, &display) != 0) {
		free(name);
		return 2;
	}
	if (!cli_has_store(g, "org add")) {
		rc = 2;
		goto out;
	}
	if ((st = cli_store_open(g, "org add", &s)) != 0) {
		rc = st;
		goto out;
	}
	st = sp_store_org_get(s, name, &o, &err);
	if (st == SP_OK) {
		fprintf(stderr, "sealpost org add: an organisation named '%s' exists already%s\n",
		    name, o.removed ? " (removed; names are not reused)" : "");
		goto out;
	}
	if (st != SP_ERR_NOTFOUND) {
		fail("add", &err, st);
		goto out;
	}
	if (domain_free(s, "add", dom, pubfile, 0) != 0)
		goto out;
	memset(&k, 0, sizeof(k));
	if (new_key("add", key_out, &k) != 0)
		goto out;
	key_written = 1;
	if (sp_token_new(tok, sizeof(tok), "spo_", 32) != SP_OK) {
		fprintf(stderr, "sealpost org add: no randomness\n");
		goto out;
	}
	sp_sha256(tok, strlen(tok), h);
	if ((st = sp_store_org_add(s, name, dom, h, now, &id, &err)) != SP_OK) {
		if (st == SP_ERR_EXISTS)
			fprintf(stderr, "sealpost org add: the name '%s' or the domain %s was taken "
			    "meanwhile\n", name, dom);
		else
			fail("add", &err, st);
		goto out_tok;
	}
	k.org_id = id;
	k.created = now;
	/* the store audits the organisation itself ("org-add"); the key here */
	snprintf(detail, sizeof(detail), "kid=%s", k.kid);
	a = audit_rec("org-key-add", id, detail);
	st = sp_store_org_key_add(s, &k, &a, &err);
	if (st == SP_OK && display != NULL) {
		if ((st = sp_store_org_get_id(s, id, &o, &err)) == SP_OK) {
			snprintf(o.display, sizeof(o.display), "%s", display);
			a = audit_rec("org-set", id, "display");
			st = sp_store_org_update(s, &o, &a, &err);
		}
	}
	if (st != SP_OK) {
		fail("add", &err, st);
		/* Undo what can be undone: the token and domain go with the
		 * organisation; the name stays taken. */
		a = audit_rec("org-remove", id, "org add failed");
		if (sp_store_org_remove(s, id, now, &a, &err) == SP_OK)
			fprintf(stderr, "sealpost org add: organisation '%s' was removed again; add "
			    "it under another name\n", name);
		goto out_tok;
	}
	printf("%s\n", tok);
	fflush(stdout);
	fprintf(stderr, "sealpost org add: organisation '%s' (id %lld) sends as %s.\n"
	    "  Signing key (kid %s) written to %s (mode 0600): move it to the sealer\n"
	    "  (sealpost seal --sign-key, the milter's sign_key) and keep no other copy.\n"
	    "  The API token above is shown only this once: store it in the gateway's\n"
	    "  configuration now.\n", name, (long long)id, dom, k.kid, key_out);
	key_written = 0;
	rc = 0;
out_tok:
	sp_wipe(tok, sizeof(tok));
out:
	if (key_written && unlink(key_out) == 0)
		fprintf(stderr, "sealpost org add: removed %s again\n", key_out);
	sp_store_close(s);
	free(name);
	free(display);
	return rc;
}

/* --- org list / show / remove ------------------------------------------------- */

struct id_list {
	int64_t *ids;
	size_t n, cap;
	int nomem;
};

static int
collect_org(void *ctx, const struct sp_org *o)
{
	struct id_list *l = ctx;
	int64_t *p;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 32;
		if (cap > ORG_LIST_MAX || (p = realloc(l->ids, cap * sizeof(*p))) == NULL) {
			l->nomem = 1;
			return 1;
		}
		l->ids = p;
		l->cap = cap;
	}
	l->ids[l->n++] = o->id;
	return 0;
}

struct text_join {
	struct sp_buf b;
	const char *sep;
	int n;
};

static int
join_domain(void *ctx, const char *domain)
{
	struct text_join *j = ctx;

	if (j->n++ > 0)
		sp_buf_append_str(&j->b, j->sep);
	sp_buf_append_str(&j->b, domain);
	return 0;
}

static int
count_live_token(void *ctx, const struct sp_org_token *t)
{
	if (t->revoked == 0)
		(*(int *)ctx)++;
	return 0;
}

/* The domains of org_id joined by sep into j (j->b initialised here; the
 * caller frees it). */
static int
domains_of(struct sp_store *s, int64_t org_id, const char *sep, struct text_join *j,
    struct sp_err *err)
{
	int st;

	sp_buf_init(&j->b, 64 * 1024);
	j->sep = sep;
	j->n = 0;
	st = sp_store_org_domain_each(s, org_id, join_domain, j, err);
	if (st == SP_OK)
		st = sp_buf_append(&j->b, "", 1);	/* NUL, not counted below */
	if (st == SP_OK)
		j->b.len--;
	return st;
}

static int
list_main(int argc, const struct cli_global *g)
{
	struct sp_err err = {{0}};
	struct sp_store *s = NULL;
	struct id_list l = {0};
	struct text_join j;
	struct sp_org o;
	size_t i;
	int st, live, rc = 0;

	if (argc != 2)
		return usage_err("list", "takes no arguments");
	if ((st = cli_store_open(g, "org list", &s)) != 0)
		return st;
	st = sp_store_org_each(s, collect_org, &l, &err);
	if (l.nomem)
		st = sp_err_set(&err, SP_ERR_NOMEM, "too many organisations");
	if (st != SP_OK) {
		rc = fail("list", &err, st);
		goto out;
	}
	printf("id\tname\tdomains\tdisplay\ttokens\n");
	for (i = 0; i < l.n; i++) {
		live = 0;
		if ((st = sp_store_org_get_id(s, l.ids[i], &o, &err)) != SP_OK ||
		    (st = sp_store_org_token_each(s, o.id, count_live_token, &live, &err)) != SP_OK) {
			rc = fail("list", &err, st);
			break;
		}
		if ((st = domains_of(s, o.id, ",", &j, &err)) != SP_OK) {
			sp_buf_free(&j.b);
			rc = fail("list", &err, st);
			break;
		}
		printf("%lld\t%s\t%s\t%s\t%d\n", (long long)o.id, o.name,
		    j.n ? (char *)j.b.data : "-", o.display[0] ? o.display : o.name, live);
		sp_buf_free(&j.b);
	}
out:
	free(l.ids);
	sp_store_close(s);
	return rc;
}

/* Print one token: a tab-separated line for `org token list` when
 * *(const int *)ctx, else an indented line for `org show`. */
static int
print_token(void *ctx, const struct sp_org_token *t)
{
	char c[32], u[32], r[32];

	cli_iso_time(t->created, c);
	cli_iso_time(t->last_used, u);
	cli_iso_time(t->revoked, r);
	if (*(const int *)ctx)
		printf("%s\t%s\t%s\t%s\n", t->name, c, t->last_used ? u : "never",
		    t->revoked ? r : "live");
	else
		printf("  %-20s created %s  last used %s  %s%s\n", t->name, c,
		    t->last_used ? u : "never", t->revoked ? "revoked " : "live",
		    t->revoked ? r : "");
	return 0;
}

static int
show_key(void *ctx, const struct sp_org_key *k)
{
	char c[32], r[32];

	(void)ctx;
	cli_iso_time(k->created, c);
	cli_iso_time(k->retired, r);
	printf("  %s  created %s  %s%s%s\n", k->kid, c, k->retired ? "retired " : "live",
	    k->retired ? r : "", k->reply ? "  (the key server's reply key)" : "");
	return 0;
}

static const char *
onoff(int v)
{
	return v ? "on" : "off";
}

static int
show_main(int argc, char **argv, const struct cli_global *g)
{
	static unsigned char logo[SP_STORE_LOGO_MAX];
	struct sp_err err = {{0}};
	struct sp_store *s = NULL;
	struct text_join j;
	struct sp_org o;
	char t1[32];
	size_t logo_len = 0;
	int st, rc = 1, tabular = 0;

	if (argc != 3 || argv[2][0] == '-')
		return usage_err("show", "NAME is required");
	if ((st = cli_store_open(g, "org show", &s)) != 0)
		return st;
	if (find_org(s, "show", argv[2], 0, &o) != 0)
		goto out;
	if ((st = domains_of(s, o.id, ", ", &j, &err)) != SP_OK) {
		sp_buf_free(&j.b);
		fail("show", &err, st);
		goto out;
	}
	if (o.has_logo &&
	    (st = sp_store_org_logo_get(s, o.id, logo, sizeof(logo), &logo_len, &err)) != SP_OK &&
	    st != SP_ERR_NOTFOUND) {
		sp_buf_free(&j.b);
		fail("show", &err, st);
		goto out;
	}
	printf("name: %s\n", o.name);
	printf("id: %lld\n", (long long)o.id);
	cli_iso_time(o.created, t1);
	printf("created: %s\n", t1);
	cli_iso_time(o.removed, t1);
	printf("removed: %s\n", o.removed ? t1 : "no");
	printf("domains: %s\n", j.n ? (char *)j.b.data : "-");
	sp_buf_free(&j.b);
	printf("display: %s\n", o.display[0] ? o.display : o.name);
	printf("colour: %s\n", o.colour[0] ? o.colour : "default");
	if (o.has_logo && logo_len > 0)
		printf("logo: PNG, %zu bytes\n", logo_len);
	else
		printf("logo: none\n");
	printf("contact: %s\n", o.contact[0] ? o.contact : "none (notices go to the sender)");
	printf("expire-days: %lld\n", (long long)o.policy.expire_days);
	printf("notify-read: %s\n", onoff(o.policy.notify_read));
	printf("replies: %s\n", onoff(o.policy.replies));
	printf("forward: %s\n", onoff(o.policy.forward));
	printf("forward-domains: %s\n", o.policy.forward_domains[0] ? o.policy.forward_domains :
	    "none");
	printf("verify: %s\n", onoff(o.policy.verify));
	printf("level: %s\n", o.policy.level[0] ? o.policy.level : "medium");
	printf("language: %s\n", o.policy.language[0] ? o.policy.language : "en");
	printf("keep-copies: %lld\n", (long long)o.policy.keep_copies);
	printf("copy-quota: %lld MiB%s\n", (long long)o.policy.copy_quota_mb,
	    o.policy.copy_quota_mb ? "" : " (no limit)");
	printf("tokens:\n");
	fflush(stdout);
	if ((st = sp_store_org_token_each(s, o.id, print_token, &tabular, &err)) != SP_OK) {
		fail("show", &err, st);
		goto out;
	}
	printf("keys:\n");
	if ((st = sp_store_org_key_each(s, o.id, show_key, NULL, &err)) != SP_OK) {
		fail("show", &err, st);
		goto out;
	}
	rc = 0;
out:
	sp_store_close(s);
	return rc;
}

static int
remove_main(int argc, char **argv, const struct cli_global *g)
{
	struct sp_err err = {{0}};
	struct sp_store *s = NULL;
	struct sp_audit a;
	struct sp_org o;
	const char *name = NULL;
	int i, st, yes = 0, rc = 1;

	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--yes") == 0)
			yes = 1;
		else if (argv[i][0] != '-' && name == NULL)
			name = argv[i];
		else
			return usage_err("remove", "unexpected argument '%s'", argv[i]);
	}
	if (name == NULL)
		return usage_err("remove", "NAME is required");
	if (!yes) {
		fprintf(stderr, "sealpost org remove: removing '%s' revokes every token and releases "
		    "every domain; its envelopes still open.  Repeat with --yes to do it.\n", name);
		return 2;
	}
	if ((st = cli_store_open(g, "org remove", &s)) != 0)
		return st;
	if (find_org(s, "remove", name, 1, &o) != 0)
		goto out;
	a = audit_rec("org-remove", o.id, NULL);
	if ((st = sp_store_org_remove(s, o.id, (int64_t)time(NULL), &a, &err)) != SP_OK) {
		fail("remove", &err, st);
		goto out;
	}
	printf("removed %s\n", o.name);
	rc = cli_copies_purge(g, s, "org remove");
out:
	sp_store_close(s);
	return rc;
}

/* --- org domain ----------------------------------------------------------------- */

static int
domain_main(int argc, char **argv, const struct cli_global *g)
{
	struct sp_err err = {{0}};
	struct sp_store *s = NULL;
	struct sp_audit a;
	struct sp_org o;
	const char *pubfile = g->public_domains, *args[2] = {NULL, NULL};
	char dom[SP_DOMAIN_MAX + 1], detail[300];
	int i, st, add, nargs = 0, rc = 1;

	if (argc < 3 || (strcmp(argv[2], "add") != 0 && strcmp(argv[2], "remove") != 0))
		return usage_err("domain", "say add or remove");
	add = strcmp(argv[2], "add") == 0;
	for (i = 3; i < argc; i++) {
		if (add && strcmp(argv[i], "--public-domains") == 0 && i + 1 < argc)
			pubfile = argv[++i];
		else if (argv[i][0] != '-' && nargs < 2)
			args[nargs++] = argv[i];
		else
			return usage_err("domain", "unexpected argument '%s'", argv[i]);
	}
	if (nargs != 2)
		return usage_err("domain", "NAME and DOMAIN are required");
	if (check_domain(add ? "domain add" : "domain remove", args[1], dom) != 0)
		return 2;
	if ((st = cli_store_open(g, "org domain", &s)) != 0)
		return st;
	if (find_org(s, "domain", args[0], 1, &o) != 0)
		goto out;
	snprintf(detail, sizeof(detail), "domain=%s", dom);
	if (add) {
		if (domain_free(s, "domain add", dom, pubfile, o.id) != 0)
			goto out;
		a = audit_rec("org-domain-add", o.id, detail);
		st = sp_store_org_domain_add(s, o.id, dom, &a, &err);
		if (st == SP_ERR_EXISTS) {
			fprintf(stderr, "sealpost org domain add: %s is held by another "
			    "organisation\n", dom);
			goto out;
		}
	} else {
		a = audit_rec("org-domain-remove", o.id, detail);
		st = sp_store_org_domain_remove(s, o.id, dom, &a, &err);
		if (st == SP_ERR_NOTFOUND) {
			fprintf(stderr, "sealpost org domain remove: %s does not have %s\n", o.name,
			    dom);
			goto out;
		}
	}
	if (st != SP_OK) {
		fail("domain", &err, st);
		goto out;
	}
	printf("%s %s %s\n", o.name, add ? "now has" : "no longer has", dom);
	rc = 0;
out:
	sp_store_close(s);
	return rc;
}

/* --- org token ------------------------------------------------------------------ */

static int
token_main(int argc, char **argv, const struct cli_global *g)
{
	struct sp_err err = {{0}};
	struct sp_store *s = NULL;
	struct sp_audit a;
	struct sp_org o;
	const char *sub = argc > 2 ? argv[2] : "";
	char tok[96], detail[64];
	unsigned char h[SP_SHA256_LEN];
	int st, rc = 1, want, tabular = 1;

	if (strcmp(sub, "create") == 0 || strcmp(sub, "revoke") == 0)
		want = 5;
	else if (strcmp(sub, "list") == 0)
		want = 4;
	else
		return usage_err("token", "say create, list or revoke");
	if (argc != want || argv[3][0] == '-' || (want == 5 && argv[4][0] == '-'))
		return usage_err("token", "%s", want == 5 ? "NAME and TOKEN-NAME are required" :
		    "NAME is required");
	if (want == 5 && check_token_name("token", argv[4]) != 0)
		return 2;
	if ((st = cli_store_open(g, "org token", &s)) != 0)
		return st;
	if (find_org(s, "token", argv[3], strcmp(sub, "list") != 0, &o) != 0)
		goto out;
	if (want == 5)
		snprintf(detail, sizeof(detail), "token=%s", argv[4]);
	if (strcmp(sub, "list") == 0) {
		printf("name\tcreated\tlast used\trevoked\n");
		st = sp_store_org_token_each(s, o.id, print_token, &tabular, &err);
	} else if (strcmp(sub, "revoke") == 0) {
		a = audit_rec("org-token-revoke", o.id, detail);
		st = sp_store_org_token_revoke(s, o.id, argv[4], (int64_t)time(NULL), &a, &err);
		if (st == SP_ERR_NOTFOUND) {
			fprintf(stderr, "sealpost org token revoke: %s has no live token named "
			    "'%s'\n", o.name, argv[4]);
			goto out;
		}
		if (st == SP_OK)
			printf("revoked token %s of %s\n", argv[4], o.name);
	} else {
		if (sp_token_new(tok, sizeof(tok), "spo_", 32) != SP_OK) {
			fprintf(stderr, "sealpost org token create: no randomness\n");
			goto out;
		}
		sp_sha256(tok, strlen(tok), h);
		a = audit_rec("org-token-add", o.id, detail);
		st = sp_store_org_token_add(s, o.id, argv[4], h, (int64_t)time(NULL), &a, &err);
		if (st == SP_OK) {
			printf("%s\n", tok);
			fflush(stdout);
			fprintf(stderr, "sealpost org token create: token '%s' of %s; it is shown "
			    "only this once\n", argv[4], o.name);
		}
		sp_wipe(tok, sizeof(tok));
		if (st == SP_ERR_EXISTS) {
			fprintf(stderr, "sealpost org token create: %s has a live token named "
			    "'%s' already\n", o.name, argv[4]);
			goto out;
		}
	}
	if (st != SP_OK) {
		fail("token", &err, st);
		goto out;
	}
	rc = 0;
out:
	sp_store_close(s);
	return rc;
}

/* --- org key -------------------------------------------------------------------- */

static int
count_live_key(void *ctx, const struct sp_org_key *k)
{
	if (k->retired == 0 && !k->reply)
		(*(int *)ctx)++;
	return 0;
}

static int
list_key(void *ctx, const struct sp_org_key *k)
{
	char c[32], r[32];

	count_live_key(ctx, k);
	cli_iso_time(k->created, c);
	cli_iso_time(k->retired, r);
	printf("%s\t%s\t%s%s\n", k->kid, c, k->retired ? r : "live", k->reply ? " reply" : "");
	return 0;
}

static int
valid_kid(const char *kid)
{
	size_t i;

	if (strlen(kid) != SP_SIGN_KID_LEN)
		return 0;
	for (i = 0; i < SP_SIGN_KID_LEN; i++)
		if (!((kid[i] >= 'a' && kid[i] <= 'z') || (kid[i] >= 'A' && kid[i] <= 'Z') ||
		    (kid[i] >= '0' && kid[i] <= '9') || kid[i] == '-' || kid[i] == '_'))
			return 0;
	return 1;
}

static int
key_main(int argc, char **argv, const struct cli_global *g)
{
	struct sp_err err = {{0}};
	struct sp_store *s = NULL;
	struct sp_org_key k;
	struct sp_audit a;
	struct sp_org o;
	const char *sub = argc > 2 ? argv[2] : "", *name = NULL, *key_out = NULL, *kid = NULL;
	char detail[64];
	int i, st, rc = 1, live = 0, written = 0;

	if (strcmp(sub, "rotate") != 0 && strcmp(sub, "list") != 0 && strcmp(sub, "retire") != 0)
		return usage_err("key", "say rotate, list or retire");
	for (i = 3; i < argc; i++) {
		if (strcmp(sub, "rotate") == 0 && strcmp(argv[i], "--key-out") == 0 && i + 1 < argc)
			key_out = argv[++i];
		else if (argv[i][0] != '-' && name == NULL)
			name = argv[i];
		else if (strcmp(sub, "retire") == 0 && kid == NULL && name != NULL &&
		    strcmp(argv[i], "--") == 0 && i + 1 < argc)
			kid = argv[++i];
		else if (strcmp(sub, "retire") == 0 && kid == NULL && name != NULL &&
		    (argv[i][0] != '-' || valid_kid(argv[i])))
			/* a key id may start with '-' (base64url): one of the
			 * right form after NAME is the id, never an option */
			kid = argv[i];
		else
			return usage_err("key", "unexpected argument '%s'", argv[i]);
	}
	if (name == NULL)
		return usage_err("key", "NAME is required");
	if (strcmp(sub, "rotate") == 0 && (key_out == NULL || *key_out == '\0'))
		return usage_err("key rotate", "--key-out FILE is required");
	if (strcmp(sub, "retire") == 0 && (kid == NULL || !valid_kid(kid)))
		return usage_err("key retire", "KID must be a key id of %s", "11 base64url characters");
	if ((st = cli_store_open(g, "org key", &s)) != 0)
		return st;
	if (find_org(s, "key", name, strcmp(sub, "list") != 0, &o) != 0)
		goto out;
	if (strcmp(sub, "list") == 0) {
		printf("kid\tcreated\tretired\n");
		st = sp_store_org_key_each(s, o.id, list_key, &live, &err);
	} else if (strcmp(sub, "retire") == 0) {
		snprintf(detail, sizeof(detail), "kid=%s", kid);
		a = audit_rec("org-key-retire", o.id, detail);
		st = sp_store_org_key_retire(s, o.id, kid, (int64_t)time(NULL), &a, &err);
		if (st == SP_ERR_NOTFOUND) {
			fprintf(stderr, "sealpost org key retire: %s has no live key %s\n", o.name, kid);
			goto out;
		}
		if (st == SP_OK) {
			printf("retired key %s of %s\n", kid, o.name);
			st = sp_store_org_key_each(s, o.id, count_live_key, &live, &err);
			if (st == SP_OK && live == 0)
				fprintf(stderr, "sealpost org key retire: %s has no live signing key "
				    "left: its sealers cannot deposit until `org key rotate`\n", o.name);
		}
	} else {
		memset(&k, 0, sizeof(k));
		if (new_key("key rotate", key_out, &k) != 0)
			goto out;
		written = 1;
		k.org_id = o.id;
		k.created = (int64_t)time(NULL);
		snprintf(detail, sizeof(detail), "kid=%s", k.kid);
		a = audit_rec("org-key-add", o.id, detail);
		if ((st = sp_store_org_key_add(s, &k, &a, &err)) == SP_OK) {
			written = 0;
			printf("%s\n", k.kid);
			fflush(stdout);
			fprintf(stderr, "sealpost org key rotate: new signing key %s of %s written to "
			    "%s (mode 0600).  The older keys stay valid: give the new file to every "
			    "sealer, then `sealpost org key retire %s OLD-KID`.\n", k.kid, o.name,
			    key_out, o.name);
		}
	}
	if (st != SP_OK) {
		fail("key", &err, st);
		goto out;
	}
	rc = 0;
out:
	if (written && unlink(key_out) == 0)
		fprintf(stderr, "sealpost org key rotate: removed %s again\n", key_out);
	sp_store_close(s);
	return rc;
}

/* --- org set -------------------------------------------------------------------- */

static const unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

static int
parse_onoff(const char *opt, const char *v, int *out)
{
	if (strcmp(v, "on") == 0)
		*out = 1;
	else if (strcmp(v, "off") == 0)
		*out = 0;
	else {
		fprintf(stderr, "sealpost org set: %s takes on or off, not '%s'\n", opt, v);
		return 2;
	}
	return 0;
}

static int
valid_colour(const char *c)
{
	size_t i;

	if (strlen(c) != 7 || c[0] != '#')
		return 0;
	for (i = 1; i < 7; i++)
		if (!((c[i] >= '0' && c[i] <= '9') || (c[i] >= 'a' && c[i] <= 'f') ||
		    (c[i] >= 'A' && c[i] <= 'F')))
			return 0;
	return 1;
}

static void
detail_add(char *d, size_t cap, const char *key)
{
	size_t n = strlen(d);

	snprintf(d + n, cap - n, "%s%s", n ? " " : "", key);
}

/* An on/off option v (-1: not given) into *dst, named by key in detail d. */
static void
set_flag(int v, int *dst, char *d, size_t cap, const char *key)
{
	if (v < 0)
		return;
	*dst = v;
	detail_add(d, cap, key);
}

static int
set_main(int argc, char **argv, const struct cli_global *g)
{
	struct sp_err err = {{0}};
	struct sp_store *s = NULL;
	struct sp_buf logo;
	struct sp_audit a;
	struct sp_org o;
	const char *name = NULL, *display = NULL, *colour = NULL, *logo_path = NULL;
	const char *contact = NULL, *level = NULL, *language = NULL, *fwd = NULL, *v;
	char fwd_norm[SP_STORE_FWD_MAX + 1];
	char *disp = NULL, addr[SP_ADDR_MAX + 1], detail[256] = "";
	long long days = -1, keep = -1, quota = -1;
	int i, st, rc = 1, changes = 0;
	int notify = -1, replies = -1, forward = -1, verify = -1, *flag;

	sp_buf_init(&logo, SP_STORE_LOGO_MAX);
	for (i = 2; i < argc; i++) {
		const char *opt = argv[i];

		if (opt[0] != '-') {
			if (name != NULL)
				return usage_err("set", "unexpected argument '%s'", opt);
			name = opt;
			continue;
		}
		if (i + 1 >= argc)
			return usage_err("set", "%s needs a value", opt);
		v = argv[++i];
		flag = NULL;
		if (strcmp(opt, "--display") == 0)
			display = v;
		else if (strcmp(opt, "--colour") == 0 || strcmp(opt, "--color") == 0)
			colour = v;
		else if (strcmp(opt, "--logo") == 0)
			logo_path = v;
		else if (strcmp(opt, "--contact") == 0)
			contact = v;
		else if (strcmp(opt, "--level") == 0)
			level = v;
		else if (strcmp(opt, "--language") == 0)
			language = v;
		else if (strcmp(opt, "--forward-domains") == 0) {
			if (sp_reply_fwd_list_norm(v, fwd_norm, sizeof(fwd_norm), &err) != SP_OK) {
				fprintf(stderr, "sealpost org set: --forward-domains: %s (give domains "
				    "separated by commas, or none)\n", err.msg);
				return 2;
			}
			fwd = fwd_norm;
		}
		else if (strcmp(opt, "--expire-days") == 0) {
			if (sp_field_int(v, strlen(v), 0, ORG_EXPIRE_DAYS_MAX, &days, NULL, &err) !=
			    SP_OK) {
				fprintf(stderr, "sealpost org set: --expire-days takes a whole number "
				    "of days from 0 to %d, not '%s'\n", ORG_EXPIRE_DAYS_MAX, v);
				return 2;
			}
		} else if (strcmp(opt, "--keep-copies") == 0 || strcmp(opt, "--copy-quota") == 0) {
			int days_opt = strcmp(opt, "--keep-copies") == 0;
			long long max = days_opt ? ORG_EXPIRE_DAYS_MAX : ORG_COPY_QUOTA_MAX;

			if (sp_field_int(v, strlen(v), 0, max, days_opt ? &keep : &quota, NULL, &err) !=
			    SP_OK) {
				fprintf(stderr, "sealpost org set: %s takes a whole number of %s from 0 "
				    "to %lld, not '%s'\n", opt, days_opt ? "days" : "MiB (0: no limit)",
				    max, v);
				return 2;
			}
		} else if (strcmp(opt, "--notify-read") == 0)
			flag = &notify;
		else if (strcmp(opt, "--replies") == 0)
			flag = &replies;
		else if (strcmp(opt, "--forward") == 0)
			flag = &forward;
		else if (strcmp(opt, "--verify") == 0)
			flag = &verify;
		else
			return usage_err("set", "unknown option '%s'", opt);
		if (flag != NULL && parse_onoff(opt, v, flag) != 0)
			return 2;
		changes++;
	}
	if (name == NULL)
		return usage_err("set", "NAME is required");
	if (changes == 0)
		return usage_err("set", "nothing to set: give at least one option");
	if (colour != NULL && strcmp(colour, "none") != 0 && !valid_colour(colour)) {
		fprintf(stderr, "sealpost org set: --colour takes #rrggbb (six hex digits) or none, "
		    "not '%s'\n", colour);
		return 2;
	}
	if (level != NULL && strcmp(level, "high") != 0 && strcmp(level, "medium") != 0 &&
	    strcmp(level, "low") != 0) {
		fprintf(stderr, "sealpost org set: --level takes high, medium or low, not '%s'\n",
		    level);
		return 2;
	}
	if (language != NULL && !sp_i18n_offered(language)) {
		char langs[128];

		languages(langs, sizeof(langs));
		fprintf(stderr, "sealpost org set: --language takes one of %s, not '%s'\n", langs,
		    language);
		return 2;
	}
	addr[0] = '\0';
	if (contact != NULL && strcmp(contact, "none") != 0 &&
	    (sp_addr_parse(contact, strlen(contact), 0, addr, NULL, &err) != SP_OK ||
	    strlen(addr) > SP_STORE_EMAIL_MAX)) {
		fprintf(stderr, "sealpost org set: --contact '%s' is not an email address: %s\n",
		    contact, err.msg);
		return 2;
	}
	if (display != NULL && check_text("set", "--display", display, 0, &disp) != 0)
		return 2;
	if (logo_path != NULL && strcmp(logo_path, "none") != 0) {
		if ((st = cli_read_file(logo_path, SP_STORE_LOGO_MAX, &logo, &err)) != SP_OK) {
			fprintf(stderr, "sealpost org set: --logo: %s%s\n", sp_err_msg(&err, st),
			    st == SP_ERR_TOOBIG ? " (a logo is a small PNG)" : "");
			rc = st == SP_ERR_TOOBIG ? 2 : 1;
			goto out;
		}
		if (logo.len < 33 || memcmp(logo.data, png_sig, 8) != 0 ||
		    memcmp(logo.data + 12, "IHDR", 4) != 0) {
			fprintf(stderr, "sealpost org set: --logo: %s is not a PNG image\n", logo_path);
			rc = 2;
			goto out;
		}
	}
	if ((st = cli_store_open(g, "org set", &s)) != 0) {
		rc = st;
		goto out;
	}
	if (find_org(s, "set", name, 1, &o) != 0)
		goto out;
	if (disp != NULL) {
		snprintf(o.display, sizeof(o.display), "%s", disp);
		detail_add(detail, sizeof(detail), "display");
	}
	if (colour != NULL) {
		snprintf(o.colour, sizeof(o.colour), "%s", strcmp(colour, "none") ? colour : "");
		for (i = 1; o.colour[i] != '\0'; i++)
			if (o.colour[i] >= 'A' && o.colour[i] <= 'F')
				o.colour[i] = (char)(o.colour[i] - 'A' + 'a');
		detail_add(detail, sizeof(detail), "colour");
	}
	if (contact != NULL) {
		snprintf(o.contact, sizeof(o.contact), "%s", addr);
		detail_add(detail, sizeof(detail), "contact");
	}
	if (days >= 0) {
		o.policy.expire_days = days;
		detail_add(detail, sizeof(detail), "expire-days");
	}
	if (keep >= 0) {
		o.policy.keep_copies = (int)keep;
		detail_add(detail, sizeof(detail), "keep-copies");
	}
	if (quota >= 0) {
		o.policy.copy_quota_mb = quota;
		detail_add(detail, sizeof(detail), "copy-quota");
	}
	set_flag(notify, &o.policy.notify_read, detail, sizeof(detail), "notify-read");
	set_flag(replies, &o.policy.replies, detail, sizeof(detail), "replies");
	set_flag(forward, &o.policy.forward, detail, sizeof(detail), "forward");
	set_flag(verify, &o.policy.verify, detail, sizeof(detail), "verify");
	if (level != NULL) {
		snprintf(o.policy.level, sizeof(o.policy.level), "%s", level);
		detail_add(detail, sizeof(detail), "level");
	}
	if (language != NULL) {
		snprintf(o.policy.language, sizeof(o.policy.language), "%s", language);
		detail_add(detail, sizeof(detail), "language");
	}
	if (fwd != NULL) {
		snprintf(o.policy.forward_domains, sizeof(o.policy.forward_domains), "%s", fwd);
		detail_add(detail, sizeof(detail), "forward-domains");
	}
	st = SP_OK;
	if (detail[0] != '\0') {
		a = audit_rec("org-set", o.id, detail);
		st = sp_store_org_update(s, &o, &a, &err);
	}
	if (st == SP_OK && logo_path != NULL) {
		a = audit_rec("org-logo", o.id, logo.len ? "set" : "removed");
		st = sp_store_org_logo_set(s, o.id, logo.len ? logo.data : NULL, logo.len, &a, &err);
	}
	if (st != SP_OK) {
		fail("set", &err, st);
		goto out;
	}
	printf("updated %s\n", o.name);
	rc = 0;
out:
	sp_buf_free(&logo);
	sp_store_close(s);
	free(disp);
	return rc;
}

int
cli_org_main(int argc, char **argv, const struct cli_global *g)
{
	const char *sub = argc > 1 ? argv[1] : "";

	if (cli_wants_help(argc, argv)) {
		usage(stdout);
		return 0;
	}
	if (strcmp(sub, "list") != 0 && strcmp(sub, "add") != 0 && strcmp(sub, "show") != 0 &&
	    strcmp(sub, "remove") != 0 && strcmp(sub, "domain") != 0 &&
	    strcmp(sub, "token") != 0 && strcmp(sub, "key") != 0 && strcmp(sub, "set") != 0) {
		if (*sub)
			fprintf(stderr, "sealpost org: unknown command '%s'\n", sub);
		usage(stderr);
		return 2;
	}
	if (strcmp(sub, "add") != 0 && !cli_has_store(g, "org"))
		return 2;
	if (strcmp(sub, "add") == 0)
		return add_main(argc, argv, g);
	if (strcmp(sub, "list") == 0)
		return list_main(argc, g);
	if (strcmp(sub, "show") == 0)
		return show_main(argc, argv, g);
	if (strcmp(sub, "remove") == 0)
		return remove_main(argc, argv, g);
	if (strcmp(sub, "domain") == 0)
		return domain_main(argc, argv, g);
	if (strcmp(sub, "token") == 0)
		return token_main(argc, argv, g);
	if (strcmp(sub, "key") == 0)
		return key_main(argc, argv, g);
	return set_main(argc, argv, g);
}

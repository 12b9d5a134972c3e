/*
 * cli_audit.c - `sealpost audit`: the audit trail for auditors.
 *   export  every record (of one organisation's chain, or all) as CSV
 *           (RFC 4180, a header line) or JSON ({"records":[...]});
 *   verify  recomputes every chain (store.h sp_store_audit_verify): an
 *           edited, deleted or reordered record is named; with --anchors
 *           FILE, every chain head written down earlier must still be in
 *           the trail with the same hash (a deleted tail shows only so);
 *   anchor  prints the head of every chain and appends it to a file, to
 *           be kept where the database's administrators cannot change it.
 * Anchor lines, as the key server also writes them every --anchor-interval
 * seconds: "UNIXTIME CHAIN SEQ HASH" (hash in hex).  verify also reads the
 * key server's log lines ("... chain=C seq=S hash=H"); '#' lines and blank
 * lines are skipped.
 * SECURITY: the audit trail holds addresses and client addresses but no
 * secrets; an anchor file holds only hashes.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../cli/cli.h"
#include "buf.h"
#include "crypto.h"
#include "field.h"
#include "store.h"
#include "jsonwipe.h"

#define ANCHORS_FILE_MAX (64L * 1024 * 1024)	/* bytes of an anchor file */
#define ANCHOR_LINE_MAX 1024

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: sealpost --data-dir DIR | --db URL audit export [--org NAME] [--since T]\n"
	    "           [--format csv|json]\n"
	    "       sealpost --data-dir DIR | --db URL audit verify [--anchors FILE]\n"
	    "       sealpost --data-dir DIR | --db URL audit anchor [--file FILE]\n\n"
	    "export  writes the audit trail to standard output: every record, or those of\n"
	    "        organisation NAME's chain, from time T on (unix seconds or YYYY-MM-DD,\n"
	    "        UTC).  csv (default): a header line, then one record a line (RFC 4180);\n"
	    "        json: {\"records\":[...]}.  Fields: chain (0 = accounts, else the\n"
	    "        organisation's id), seq, time (ISO 8601 UTC), event, actor, envelope,\n"
	    "        client, detail, prev and hash (hex).\n"
	    "verify  checks every chain: sequence numbers without gaps, each record linked\n"
	    "        to the one before, each hash recomputed.  Exit 0 and \"audit trail\n"
	    "        intact: N records in K chains\"; exit 1 naming the first bad record\n"
	    "        (edited, deleted or moved).  --anchors FILE also checks that every\n"
	    "        chain head written by `audit anchor` (or the key server) is still there\n"
	    "        with the same hash: records deleted from the end of a chain are\n"
	    "        found only so.\n"
	    "anchor  prints the head (chain, seq, hash) of every chain and appends the\n"
	    "        lines to FILE (default DIR/audit-anchors with --data-dir; without\n"
	    "        either, it only prints).  Copy the file somewhere the database's\n"
	    "        administrators cannot write.\n");
}

static int usage_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
usage_err(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "sealpost audit: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see sealpost audit --help)\n", stderr);
	return 2;
}

/* --since: unix seconds or YYYY-MM-DD (midnight UTC).  0 on success. */
static int
parse_since(const char *v, int64_t *out)
{
	long long n;
	struct tm tm;
	char *end;
	time_t t;

	if (sp_field_int(v, strlen(v), 0, 253402300799LL, &n, NULL, NULL) == SP_OK) {
		*out = n;
		return 0;
	}
	memset(&tm, 0, sizeof(tm));
	end = strptime(v, "%Y-%m-%d", &tm);
	if (strlen(v) != 10 || end == NULL || *end != '\0')
		return -1;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -1;
	/* strptime accepts 2026-02-31; refuse what does not round-trip */
	{
		struct tm back;
		char again[16];

		if (gmtime_r(&t, &back) == NULL || strftime(again, sizeof(again), "%Y-%m-%d",
		    &back) == 0 || strcmp(again, v) != 0)
			return -1;
	}
	*out = (int64_t)t;
	return 0;
}

/* --- export -------------------------------------------------------------------- */

struct export_ctx {
	int json;
	long n;
	int err;
};

/* One CSV field, quoted (RFC 4180) when it holds a comma, a quote or a
 * line end. */
static void
csv_field(const char *s, int last)
{
	const char *p;

	if (s == NULL)
		s = "";
	if (strpbrk(s, ",\"\r\n") == NULL)
		fputs(s, stdout);
	else {
		putchar('"');
		for (p = s; *p; p++) {
			if (*p == '"')
				putchar('"');
			putchar(*p);
		}
		putchar('"');
	}
	fputs(last ? "\r\n" : ",", stdout);
}

static json_t *
jstr(const char *s)
{
	return s == NULL ? json_null() : json_string(s);
}

static int
export_one(void *arg, const struct sp_audit_row *r)
{
	struct export_ctx *c = arg;
	char when[32], prev[2 * SP_SHA256_LEN + 1], h[2 * SP_SHA256_LEN + 1], num[32];
	json_t *o;
	char *text;

	cli_iso_time(r->a.time, when);
	sp_hex_encode(r->prev, SP_SHA256_LEN, prev);
	sp_hex_encode(r->hash, SP_SHA256_LEN, h);
	if (!c->json) {
		snprintf(num, sizeof(num), "%lld", (long long)r->chain);
		csv_field(num, 0);
		snprintf(num, sizeof(num), "%lld", (long long)r->seq);
		csv_field(num, 0);
		csv_field(when, 0);
		csv_field(r->a.event, 0);
		csv_field(r->a.actor, 0);
		csv_field(r->a.envelope, 0);
		csv_field(r->a.client, 0);
		csv_field(r->a.detail, 0);
		csv_field(prev, 0);
		csv_field(h, 1);
		c->n++;
		return ferror(stdout) ? (c->err = 1) : 0;
	}
	o = json_object();
	if (o == NULL)
		return c->err = 1;
	json_object_set_new(o, "chain", json_integer(r->chain));
	json_object_set_new(o, "seq", json_integer(r->seq));
	json_object_set_new(o, "time", json_string(when));
	json_object_set_new(o, "event", jstr(r->a.event));
	json_object_set_new(o, "actor", jstr(r->a.actor));
	json_object_set_new(o, "envelope", jstr(r->a.envelope));
	json_object_set_new(o, "client", jstr(r->a.client));
	json_object_set_new(o, "detail", jstr(r->a.detail));
	json_object_set_new(o, "prev", json_string(prev));
	json_object_set_new(o, "hash", json_string(h));
	text = sp_json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
	json_decref(o);
	if (text == NULL)
		return c->err = 1;
	printf("%s%s", c->n ? ",\n" : "\n", text);
	free(text);
	c->n++;
	return ferror(stdout) ? (c->err = 1) : 0;
}

static int
export_main(int argc, char **argv, const struct cli_global *g)
{
	struct sp_err err = {{0}};
	struct sp_store *s = NULL;
	struct export_ctx c = {0};
	struct sp_org o;
	const char *org = NULL, *format = "csv";
	int64_t since = 0, chain = -1;
	int i, st;

	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--org") == 0 && i + 1 < argc)
			org = argv[++i];
		else if (strcmp(argv[i], "--since") == 0 && i + 1 < argc) {
			if (parse_since(argv[++i], &since) != 0)
				return usage_err("--since takes unix seconds or a date YYYY-MM-DD, "
				    "not '%s'", argv[i]);
		} else if (strcmp(argv[i], "--format") == 0 && i + 1 < argc)
			format = argv[++i];
		else
			return usage_err("export: unexpected argument '%s'", argv[i]);
	}
	if (strcmp(format, "csv") != 0 && strcmp(format, "json") != 0)
		return usage_err("--format takes csv or json, not '%s'", format);
	c.json = strcmp(format, "json") == 0;
	if ((st = cli_store_open(g, "audit export", &s)) != 0)
		return st;
	if (org != NULL) {
		if ((st = sp_store_org_get(s, org, &o, &err)) != SP_OK) {
			if (st == SP_ERR_NOTFOUND)
				fprintf(stderr, "sealpost audit export: no organisation named '%s'\n",
				    org);
			else
				fprintf(stderr, "sealpost audit export: %s\n", sp_err_msg(&err, st));
			sp_store_close(s);
			return 1;
		}
		chain = o.id;
	}
	if (c.json)
		fputs("{\"records\":[", stdout);
	else
		fputs("chain,seq,time,event,actor,envelope,client,detail,prev,hash\r\n", stdout);
	st = sp_store_audit_scan(s, chain, since, export_one, &c, &err);
	sp_store_close(s);
	if (c.json)
		fputs(c.n ? "\n]}\n" : "]}\n", stdout);
	if (fflush(stdout) != 0 || c.err) {
		fprintf(stderr, "sealpost audit export: cannot write the output\n");
		return 1;
	}
	if (st != SP_OK) {
		fprintf(stderr, "sealpost audit export: %s (the output is incomplete)\n",
		    sp_err_msg(&err, st));
		return 1;
	}
	return 0;
}

/* --- anchors ------------------------------------------------------------------- */

struct anchor {
	int64_t chain, seq;
	unsigned char hash[SP_SHA256_LEN];
	size_t line;
	int state;		/* 0 not seen, 1 seen and equal, 2 seen and different */
};

struct anchor_set {
	struct anchor *v;
	size_t n, cap;
};

static int
unhex(const char *s, size_t n, unsigned char *out)
{
	size_t i;
	int hi, lo;

	for (i = 0; i < n / 2; i++) {
		hi = s[2 * i];
		lo = s[2 * i + 1];
		hi = hi >= '0' && hi <= '9' ? hi - '0' : hi >= 'a' && hi <= 'f' ? hi - 'a' + 10 : -1;
		lo = lo >= '0' && lo <= '9' ? lo - '0' : lo >= 'a' && lo <= 'f' ? lo - 'a' + 10 : -1;
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

/* One anchor line s[0..n) (not NUL-terminated): "TIME CHAIN SEQ HASH"
 * (what `audit anchor` and the key server write), or any line with
 * chain=, seq= and hash= words (the key server's log line).  1 parsed, 0
 * blank or comment, -1 malformed. */
static int
anchor_parse(const char *s, size_t n, struct anchor *a)
{
	const char *w[32];
	size_t wl[32], i = 0, nw = 0, k;
	int have = 0, kv = 0;
	long long v;

	while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r'))
		i++;
	if (i == n || s[i] == '#')
		return 0;
	while (i < n) {
		while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r'))
			i++;
		if (i == n)
			break;
		for (k = i; k < n && s[k] != ' ' && s[k] != '\t' && s[k] != '\r'; k++)
			;
		if (nw == sizeof(w) / sizeof(w[0]))
			return -1;
		w[nw] = s + i;
		wl[nw++] = k - i;
		if (memchr(s + i, '=', k - i) != NULL)
			kv = 1;
		i = k;
	}
	for (k = 0; k < nw; k++) {
		const char *p = w[k], *val = NULL;
		size_t len = wl[k], vl = 0;
		int field = -1;

		if (kv) {
			if (len > 6 && memcmp(p, "chain=", 6) == 0)
				field = 0, val = p + 6, vl = len - 6;
			else if (len > 4 && memcmp(p, "seq=", 4) == 0)
				field = 1, val = p + 4, vl = len - 4;
			else if (len > 5 && memcmp(p, "hash=", 5) == 0)
				field = 2, val = p + 5, vl = len - 5;
		} else if (nw == 4 && k > 0) {
			field = (int)k - 1;
			val = p;
			vl = len;
		}
		if (field == 0 || field == 1) {
			if (sp_field_int(val, vl, field, INT64_MAX, &v, NULL, NULL) != SP_OK)
				return -1;
			if (field == 0)
				a->chain = v;
			else
				a->seq = v;
		} else if (field == 2) {
			if (vl != 2 * SP_SHA256_LEN || unhex(val, vl, a->hash) != 0)
				return -1;
		} else
			continue;
		have |= 1 << field;
	}
	return have == 7 ? 1 : -1;
}

static int
anchors_load(const char *path, struct anchor_set *set, struct sp_err *err)
{
	struct sp_buf b;
	struct anchor a, *p;
	size_t start = 0, i, line = 1;
	int st, r;

	if ((st = cli_read_file(path, ANCHORS_FILE_MAX, &b, err)) != SP_OK)
		return st;
	for (i = 0; i <= b.len && st == SP_OK; i++) {
		if (i < b.len && b.data[i] != '\n')
			continue;
		memset(&a, 0, sizeof(a));
		if (i - start > ANCHOR_LINE_MAX)
			r = -1;
		else
			r = anchor_parse((const char *)b.data + start, i - start, &a);
		if (r < 0)
			st = sp_err_set(err, SP_ERR_INVALID, "%s:%zu: not an anchor line (TIME CHAIN "
			    "SEQ HASH)", path, line);
		else if (r > 0) {
			if (set->n == set->cap) {
				size_t cap = set->cap ? set->cap * 2 : 64;
				if ((p = realloc(set->v, cap * sizeof(*p))) == NULL) {
					st = sp_err_set(err, SP_ERR_NOMEM, "out of memory");
					break;
				}
				set->v = p;
				set->cap = cap;
			}
			a.line = line;
			set->v[set->n++] = a;
		}
		start = i + 1;
		line++;
	}
	sp_buf_free(&b);
	return st;
}

static int
anchor_cmp(const void *x, const void *y)
{
	const struct anchor *a = x, *b = y;

	if (a->chain != b->chain)
		return a->chain < b->chain ? -1 : 1;
	if (a->seq != b->seq)
		return a->seq < b->seq ? -1 : 1;
	return a->line < b->line ? -1 : a->line > b->line;
}

static int
anchor_check_row(void *ctx, const struct sp_audit_row *r)
{
	struct anchor_set *set = ctx;
	struct anchor key, *hit;
	size_t lo = 0, hi = set->n, mid;

	/* the first anchor with (chain, seq) >= the row's */
	key.chain = r->chain;
	key.seq = r->seq;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (set->v[mid].chain < key.chain ||
		    (set->v[mid].chain == key.chain && set->v[mid].seq < key.seq))
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < set->n && set->v[lo].chain == r->chain && set->v[lo].seq == r->seq; lo++) {
		hit = &set->v[lo];
		if (hit->state != 2)
			hit->state = memcmp(hit->hash, r->hash, SP_SHA256_LEN) == 0 ? 1 : 2;
	}
	return 0;
}

/* 0 when every anchor of path is in the trail with its hash; else prints
 * the first (by line) that is not. */
static int
anchors_verify(struct sp_store *s, const char *path, size_t *checked)
{
	struct sp_err err = {{0}};
	struct anchor_set set = {0};
	const struct anchor *first = NULL;
	size_t i;
	int st;

	if ((st = anchors_load(path, &set, &err)) != SP_OK) {
		fprintf(stderr, "sealpost audit verify: --anchors: %s\n", sp_err_msg(&err, st));
		free(set.v);
		return 1;
	}
	if (set.n > 1)
		qsort(set.v, set.n, sizeof(set.v[0]), anchor_cmp);
	if (set.n > 0 && (st = sp_store_audit_scan(s, -1, 0, anchor_check_row, &set, &err)) !=
	    SP_OK) {
		fprintf(stderr, "sealpost audit verify: %s\n", sp_err_msg(&err, st));
		free(set.v);
		return 1;
	}
	for (i = 0; i < set.n; i++)
		if (set.v[i].state != 1 && (first == NULL || set.v[i].line < first->line))
			first = &set.v[i];
	*checked = set.n;
	if (first != NULL) {
		fprintf(stderr, "sealpost audit verify: audit trail BROKEN: anchor %s:%zu (chain "
		    "%lld, seq %lld): %s\n", path, first->line, (long long)first->chain,
		    (long long)first->seq, first->state == 0 ?
		    "the record is missing (deleted)" :
		    "the record's hash differs (changed, or records before it were)");
		free(set.v);
		return 1;
	}
	free(set.v);
	return 0;
}

static int
count_chain(void *ctx, int64_t chain, int64_t seq, const unsigned char hash[SP_SHA256_LEN])
{
	(void)chain;
	(void)seq;
	(void)hash;
	(*(long *)ctx)++;
	return 0;
}

static int
verify_main(int argc, char **argv, const struct cli_global *g)
{
	struct sp_err err = {{0}};
	struct sp_store *s = NULL;
	struct sp_audit_row bad;
	const char *anchors = NULL;
	int64_t n = 0;
	long chains = 0;
	size_t checked = 0;
	int i, st, rc = 1;

	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--anchors") == 0 && i + 1 < argc)
			anchors = argv[++i];
		else
			return usage_err("verify: unexpected argument '%s'", argv[i]);
	}
	if ((st = cli_store_open(g, "audit verify", &s)) != 0)
		return st;
	memset(&bad, 0, sizeof(bad));
	st = sp_store_audit_verify(s, &bad, &n, &err);
	if (st == SP_ERR_INVALID) {
		fprintf(stderr, "sealpost audit verify: audit trail BROKEN: %s\n",
		    sp_err_msg(&err, st));
		goto out;
	}
	if (st != SP_OK) {
		fprintf(stderr, "sealpost audit verify: %s\n", sp_err_msg(&err, st));
		goto out;
	}
	if ((st = sp_store_audit_heads(s, count_chain, &chains, &err)) != SP_OK) {
		fprintf(stderr, "sealpost audit verify: %s\n", sp_err_msg(&err, st));
		goto out;
	}
	if (anchors != NULL && anchors_verify(s, anchors, &checked) != 0)
		goto out;
	printf("audit trail intact: %lld record%s in %ld chain%s\n", (long long)n,
	    n == 1 ? "" : "s", chains, chains == 1 ? "" : "s");
	if (anchors != NULL)
		printf("anchors: all %zu in %s match\n", checked, anchors);
	rc = 0;
out:
	sp_store_close(s);
	return rc;
}

/* --- anchor -------------------------------------------------------------------- */

static int
anchor_line(void *ctx, int64_t chain, int64_t seq, const unsigned char hash[SP_SHA256_LEN])
{
	struct sp_buf *b = ctx;
	char h[2 * SP_SHA256_LEN + 1];

	sp_hex_encode(hash, SP_SHA256_LEN, h);
	return sp_buf_printf(b, "%lld %lld %lld %s\n", (long long)time(NULL), (long long)chain,
	    (long long)seq, h) != SP_OK;
}

/* A file root just made in a directory of another user (the key
 * server's data directory) becomes that user's, so that the key server,
 * which appends its own anchors there, can still write it. */
static void
owner_of_dir(int fd, const char *file)
{
	struct stat fs, ds;
	char dir[4096];
	const char *slash = strrchr(file, '/');
	size_t n = slash == NULL ? 1 : slash == file ? 1 : (size_t)(slash - file);

	if (geteuid() != 0 || fstat(fd, &fs) != 0 || fs.st_uid != 0 || n >= sizeof(dir))
		return;
	memcpy(dir, slash == NULL ? "." : file, n);
	dir[n] = '\0';
	if (stat(dir, &ds) == 0 && ds.st_uid != 0 && fchown(fd, ds.st_uid, ds.st_gid) != 0)
		fprintf(stderr, "sealpost audit anchor: chown %s: %s\n", file, strerror(errno));
}

static int
anchor_main(int argc, char **argv, const struct cli_global *g)
{
	struct sp_err err = {{0}};
	struct sp_store *s = NULL;
	struct sp_buf b;
	const char *file = NULL;
	char def[4200];
	size_t off = 0;
	ssize_t w;
	int i, st, fd;

	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--file") == 0 && i + 1 < argc)
			file = argv[++i];
		else
			return usage_err("anchor: unexpected argument '%s'", argv[i]);
	}
	if (file == NULL && g->data_dir != NULL) {
		if ((size_t)snprintf(def, sizeof(def), "%s/audit-anchors", g->data_dir) >= sizeof(def))
			return usage_err("--data-dir is too long");
		file = def;
	}
	if ((st = cli_store_open(g, "audit anchor", &s)) != 0)
		return st;
	sp_buf_init(&b, 16L * 1024 * 1024);
	st = sp_store_audit_heads(s, anchor_line, &b, &err);
	sp_store_close(s);
	if (st != SP_OK) {
		fprintf(stderr, "sealpost audit anchor: %s\n", sp_err_msg(&err, st));
		sp_buf_free(&b);
		return 1;
	}
	if (b.len > 0)
		fwrite(b.data, 1, b.len, stdout);
	if (fflush(stdout) != 0) {
		sp_buf_free(&b);
		return 1;
	}
	if (file != NULL && b.len > 0) {
		if ((fd = open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)) < 0) {
			fprintf(stderr, "sealpost audit anchor: %s: %s\n", file, strerror(errno));
			sp_buf_free(&b);
			return 1;
		}
		owner_of_dir(fd, file);
		while (off < b.len) {
			if ((w = write(fd, b.data + off, b.len - off)) < 0) {
				if (errno == EINTR)
					continue;
				break;
			}
			off += (size_t)w;
		}
		if (off < b.len || fsync(fd) != 0) {
			fprintf(stderr, "sealpost audit anchor: %s: %s\n", file, strerror(errno));
			close(fd);
			sp_buf_free(&b);
			return 1;
		}
		close(fd);
		fprintf(stderr, "sealpost audit anchor: appended to %s\n", file);
	}
	sp_buf_free(&b);
	return 0;
}

int
cli_audit_main(int argc, char **argv, const struct cli_global *g)
{
	const char *sub = argc > 1 ? argv[1] : "";

	if (cli_wants_help(argc, argv)) {
		usage(stdout);
		return 0;
	}
	if (strcmp(sub, "export") == 0)
		return export_main(argc, argv, g);
	if (strcmp(sub, "verify") == 0)
		return verify_main(argc, argv, g);
	if (strcmp(sub, "anchor") == 0)
		return anchor_main(argc, argv, g);
	if (*sub)
		fprintf(stderr, "sealpost audit: unknown command '%s'\n", sub);
	usage(stderr);
	return 2;
}

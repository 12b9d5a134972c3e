/*
 * conf.c - the typed configuration table and its one parser (conf.h): the
 * defaults, `key = value` files, the command line, usage and the defaults
 * printed as a configuration file.
 * SECURITY: values are bounded by their entry (string array, list count
 * and item length, number range, suffix overflow); a line over
 * CONF_MAX_LINE is an error, never split; file lines are wiped after use
 * (they may hold a secret), and CONF_SECRET values are never echoed.
 */
#include "conf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"

#define CONF_LIST_ITEM_MAX 1024		/* item limit of a list entry without size */

/* Per source (the file, the command line): which lists were named yet, so
 * the first mention replaces what an earlier source set. */
struct conf_pass {
	unsigned char seen[CONF_MAX_ENTRIES];
};

static int
key_char(char c)
{
	return c == '-' ? '_' : (unsigned char)c;
}

/* Does the key name equal s[0..n) with '-' and '_' the same? */
static int
name_eq(const char *name, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (name[i] == '\0' || key_char(name[i]) != key_char(s[i]))
			return 0;
	return name[n] == '\0';
}

static const struct conf_entry *
find_n(const struct conf_table *t, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (name_eq(t->entries[i].name, s, n))
			return &t->entries[i];
	return NULL;
}

const struct conf_entry *
conf_find(const struct conf_table *t, const char *name)
{
	return find_n(t, name, strlen(name));
}

static void
list_clear(struct conf_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->items[i]);
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

static size_t
list_item_max(const struct conf_entry *e)
{
	return e->size > 1 ? e->size - 1 : CONF_LIST_ITEM_MAX;
}

/* A number with an optional k/M/G suffix (CONF_SIZE), whole string. */
static int
parse_number(const struct conf_entry *e, const char *v, const char *label, int64_t *out,
    struct sp_err *err)
{
	char *end;
	long long n;
	int64_t mult = 1;

	errno = 0;
	n = strtoll(v, &end, 10);
	if (end == v || errno == EINVAL)
		return sp_err_set(err, SP_ERR_CONFIG, "%s: not a number: '%s'", label, v);
	if (e->type == CONF_SIZE) {
		switch (*end) {
		case 'k': case 'K': mult = 1024; end++; break;
		case 'm': case 'M': mult = 1024 * 1024; end++; break;
		case 'g': case 'G': mult = 1024 * 1024 * 1024; end++; break;
		}
	}
	if (*end != '\0')
		return sp_err_set(err, SP_ERR_CONFIG, "%s: not a number: '%s'", label, v);
	if (errno == ERANGE || (n > 0 && n > INT64_MAX / mult) || (n < 0 && n < INT64_MIN / mult))
		return sp_err_set(err, SP_ERR_CONFIG, "%s: %s is out of range (%lld..%lld)", label, v,
		    (long long)e->min, (long long)e->max);
	n *= mult;
	if (n < e->min || n > e->max)
		return sp_err_set(err, SP_ERR_CONFIG, "%s: %lld is out of range (%lld..%lld)", label, n,
		    (long long)e->min, (long long)e->max);
	*out = n;
	return SP_OK;
}

static int
call_setter(const struct conf_entry *e, void *cfg, const char *v, const char *label,
    struct sp_err *err)
{
	struct sp_err e2 = {{0}};
	int st = e->set(cfg, v, &e2);

	if (st != SP_OK)
		return sp_err_set(err, st == SP_ERR_NOMEM ? st : SP_ERR_CONFIG, "%s: %s", label,
		    sp_err_msg(&e2, st));
	return SP_OK;
}

/* Check v against e's type and store it.  label: "FILE:LINE: key" etc. */
static int
store(const struct conf_entry *e, void *cfg, const char *v, const char *label, struct sp_err *err)
{
	char *field = (char *)cfg + e->off;
	size_t len = strlen(v), i;
	int64_t n = 0;
	int st, b;

	switch (e->type) {
	case CONF_STR:
		if (e->set == NULL && len >= e->size)
			return sp_err_set(err, SP_ERR_CONFIG, "%s: value too long (at most %zu bytes)",
			    label, e->size - 1);
		if (e->set != NULL)
			return call_setter(e, cfg, v, label, err);
		memcpy(field, v, len + 1);
		return SP_OK;
	case CONF_INT:
	case CONF_SIZE:
		if ((st = parse_number(e, v, label, &n, err)) != SP_OK)
			return st;
		if (e->set != NULL)
			return call_setter(e, cfg, v, label, err);
		memcpy(field, &n, sizeof(n));
		return SP_OK;
	case CONF_BOOL:
		if (strcmp(v, "yes") == 0 || strcmp(v, "true") == 0 || strcmp(v, "on") == 0 ||
		    strcmp(v, "1") == 0)
			b = 1;
		else if (strcmp(v, "no") == 0 || strcmp(v, "false") == 0 || strcmp(v, "off") == 0 ||
		    strcmp(v, "0") == 0)
			b = 0;
		else
			return sp_err_set(err, SP_ERR_CONFIG, "%s: expected yes or no, not '%s'", label, v);
		if (e->set != NULL)
			return call_setter(e, cfg, b ? "yes" : "no", label, err);
		memcpy(field, &b, sizeof(b));
		return SP_OK;
	case CONF_ENUM:
		for (i = 0; e->names[i] != NULL; i++)
			if (strcmp(v, e->names[i]) == 0)
				break;
		if (e->names[i] == NULL) {
			char allowed[512];
			size_t o = 0;

			allowed[0] = '\0';
			for (size_t j = 0; e->names[j] != NULL && o < sizeof(allowed); j++)
				o += (size_t)snprintf(allowed + o, sizeof(allowed) - o, "%s%s",
				    j ? ", " : "", e->names[j]);
			return sp_err_set(err, SP_ERR_CONFIG,
			    "%s: '%s' is not one of the allowed values (%s)", label, v, allowed);
		}
		if (e->set != NULL)
			return call_setter(e, cfg, v, label, err);
		b = (int)i;
		memcpy(field, &b, sizeof(b));
		return SP_OK;
	case CONF_LIST: {
		struct conf_list *l = (struct conf_list *)(void *)field;
		char **grown, *copy;

		if (len == 0) {
			if (e->set != NULL)
				return call_setter(e, cfg, NULL, label, err);
			list_clear(l);
			return SP_OK;
		}
		if (len > list_item_max(e))
			return sp_err_set(err, SP_ERR_CONFIG, "%s: value too long (at most %zu bytes)",
			    label, list_item_max(e));
		if (e->set != NULL)
			return call_setter(e, cfg, v, label, err);
		if ((int64_t)l->n >= e->max)
			return sp_err_set(err, SP_ERR_CONFIG, "%s: more than %lld values", label,
			    (long long)e->max);
		if ((grown = realloc(l->items, (l->n + 1) * sizeof(*grown))) == NULL)
			return sp_err_set(err, SP_ERR_NOMEM, "%s: out of memory", label);
		l->items = grown;
		if ((copy = strdup(v)) == NULL)
			return sp_err_set(err, SP_ERR_NOMEM, "%s: out of memory", label);
		l->items[l->n++] = copy;
		return SP_OK;
	}
	}
	return sp_err_set(err, SP_ERR_INTERNAL, "%s: bad entry type", label);
}

/* Set entry e, in a pass (or none): a list's first mention clears it. */
static int
set_entry(const struct conf_table *t, void *cfg, const struct conf_entry *e, const char *v,
    const char *label, struct conf_pass *pass, struct sp_err *err)
{
	size_t idx = (size_t)(e - t->entries);
	int st;

	if (e->type == CONF_LIST && pass != NULL && idx < CONF_MAX_ENTRIES && !pass->seen[idx]) {
		pass->seen[idx] = 1;
		if ((st = store(e, cfg, "", label, err)) != SP_OK)
			return st;
	}
	return store(e, cfg, v, label, err);
}

static int
set_default(const struct conf_table *t, void *cfg, const struct conf_entry *e, struct sp_err *err)
{
	char label[300], item[CONF_LIST_ITEM_MAX + 1];
	const char *def = e->def != NULL ? e->def : "";
	const char *p, *c;
	int st;

	snprintf(label, sizeof(label), "%s: default of %s", t->prog, e->name);
	if (e->type != CONF_LIST) {
		if (e->type == CONF_STR && e->set == NULL)
			memset((char *)cfg + e->off, 0, e->size);
		st = store(e, cfg, def, label, err);
	} else {
		if ((st = store(e, cfg, "", label, err)) != SP_OK)
			return st;
		for (p = def; st == SP_OK && *p != '\0'; p = *c ? c + 1 : c) {
			size_t n;

			c = strchr(p, ',');
			if (c == NULL)
				c = p + strlen(p);
			while (*p == ' ')
				p++;
			n = (size_t)(c - p);
			while (n > 0 && p[n - 1] == ' ')
				n--;
			if (n == 0)
				continue;
			if (n >= sizeof(item))
				return sp_err_set(err, SP_ERR_INTERNAL, "%s: item too long", label);
			memcpy(item, p, n);
			item[n] = '\0';
			st = store(e, cfg, item, label, err);
		}
	}
	return st == SP_OK || st == SP_ERR_NOMEM ? st : SP_ERR_INTERNAL;
}

int
conf_defaults(const struct conf_table *t, void *cfg, struct sp_err *err)
{
	size_t i;
	int st;

	if (t->n > CONF_MAX_ENTRIES)
		return sp_err_set(err, SP_ERR_INTERNAL, "%s: more than %d configuration keys", t->prog,
		    CONF_MAX_ENTRIES);
	for (i = 0; i < t->n; i++)
		if ((st = set_default(t, cfg, &t->entries[i], err)) != SP_OK)
			return st;
	return SP_OK;
}

int
conf_set(const struct conf_table *t, void *cfg, const char *name, const char *value,
    const char *where, struct sp_err *err)
{
	const struct conf_entry *e = conf_find(t, name);
	char label[700];

	if (e == NULL) {
		if (where != NULL)
			return sp_err_set(err, SP_ERR_CONFIG, "%s: unknown key '%s'", where, name);
		return sp_err_set(err, SP_ERR_CONFIG, "unknown key '%s'", name);
	}
	if (where != NULL)
		snprintf(label, sizeof(label), "%s: %s", where, e->name);
	else
		snprintf(label, sizeof(label), "%s", e->name);
	return set_entry(t, cfg, e, value, label, NULL, err);
}

static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
		*--e = '\0';
	return s;
}

int
conf_load_file(const struct conf_table *t, void *cfg, const char *path, struct sp_err *err)
{
	struct conf_pass pass;
	FILE *f;
	char line[CONF_MAX_LINE], where[600], label[700];
	unsigned lineno = 0;
	int st = SP_OK;

	if ((f = fopen(path, "r")) == NULL)
		return sp_err_set(err, SP_ERR_CONFIG, "%s: %s", path, strerror(errno));
	memset(&pass, 0, sizeof(pass));
	while (fgets(line, sizeof(line), f) != NULL) {
		const struct conf_entry *e;
		char *s, *eq, *name, *val;

		lineno++;
		snprintf(where, sizeof(where), "%s:%u", path, lineno);
		if (strchr(line, '\n') == NULL && !feof(f)) {
			st = sp_err_set(err, SP_ERR_CONFIG, "%s: line too long (at most %d bytes)", where,
			    CONF_MAX_LINE - 2);
			break;
		}
		s = trim(line);
		if (*s == '\0' || *s == '#')
			continue;
		if ((eq = strchr(s, '=')) == NULL) {
			st = sp_err_set(err, SP_ERR_CONFIG, "%s: expected 'key = value'", where);
			break;
		}
		*eq = '\0';
		name = trim(s);
		val = trim(eq + 1);
		if ((e = conf_find(t, name)) == NULL) {
			st = sp_err_set(err, SP_ERR_CONFIG, "%s: unknown key '%s'", where, name);
			break;
		}
		snprintf(label, sizeof(label), "%s: %s", where, e->name);
		if ((st = set_entry(t, cfg, e, val, label, &pass, err)) != SP_OK)
			break;
	}
	if (st == SP_OK && ferror(f))
		st = sp_err_set(err, SP_ERR_CONFIG, "%s: read error", path);
	sp_wipe(line, sizeof(line));
	fclose(f);
	return st;
}

/* Walk the options of argv.  apply 0: check their form and take -c, -n,
 * --help, --print-defaults; apply 1: set the --key values. */
static int
walk_args(const struct conf_table *t, void *cfg, int argc, char **argv, struct conf_cmdline *cl,
    int apply, struct conf_pass *pass, struct sp_err *err)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *eq, *name, *v;
		const struct conf_entry *e;
		char label[300];
		size_t n;
		int neg = 0, st;

		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (a[0] != '-' || a[1] == '\0')
			break;
		if (strcmp(a, "-c") == 0) {
			if (i + 1 >= argc)
				return sp_err_set(err, SP_ERR_CONFIG, "-c needs a file (see --help)");
			cl->file = argv[++i];
			continue;
		}
		if (strcmp(a, "-n") == 0) {
			cl->action = CONF_CHECK;
			continue;
		}
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			cl->action = CONF_HELP;
			return SP_OK;
		}
		if (strcmp(a, "--print-defaults") == 0) {
			cl->action = CONF_PRINT_DEFAULTS;
			return SP_OK;
		}
		if (a[1] != '-')
			return sp_err_set(err, SP_ERR_CONFIG, "unknown option %s (see --help)", a);
		name = a + 2;
		eq = strchr(name, '=');
		n = eq != NULL ? (size_t)(eq - name) : strlen(name);
		e = find_n(t, name, n);
		if (e == NULL && eq == NULL && n > 3 && strncmp(name, "no", 2) == 0 &&
		    (name[2] == '-' || name[2] == '_')) {
			/* --no-KEY for a boolean */
			const struct conf_entry *b = find_n(t, name + 3, n - 3);

			if (b != NULL && b->type == CONF_BOOL)
				e = b, neg = 1;
		}
		if (e == NULL)
			return sp_err_set(err, SP_ERR_CONFIG, "unknown option --%.*s (see --help)", (int)n,
			    name);
		if (eq != NULL)
			v = eq + 1;
		else if (e->type == CONF_BOOL)
			v = neg ? "no" : "yes";
		else if (i + 1 < argc)
			v = argv[++i];
		else
			return sp_err_set(err, SP_ERR_CONFIG, "--%.*s needs a value (see --help)", (int)n,
			    name);
		if (!apply)
			continue;
		snprintf(label, sizeof(label), "--%.*s", (int)n, name);
		if ((st = set_entry(t, cfg, e, v, label, pass, err)) != SP_OK)
			return st;
	}
	cl->argi = i;
	return SP_OK;
}

int
conf_read(const struct conf_table *t, void *cfg, int argc, char **argv,
    struct conf_cmdline *cl, struct sp_err *err)
{
	struct conf_pass pass;
	int st;

	memset(cl, 0, sizeof(*cl));
	cl->argi = argc;
	memset(&pass, 0, sizeof(pass));
	if ((st = conf_defaults(t, cfg, err)) != SP_OK)
		goto fail;
	if ((st = walk_args(t, cfg, argc, argv, cl, 0, NULL, err)) != SP_OK)
		goto fail;
	if (cl->action == CONF_HELP || cl->action == CONF_PRINT_DEFAULTS)
		return SP_OK;
	if ((t->flags & CONF_T_NO_OPERANDS) && cl->argi < argc) {
		st = sp_err_set(err, SP_ERR_CONFIG, "unexpected argument '%s' (see --help)",
		    argv[cl->argi]);
		goto fail;
	}
	if (cl->file != NULL && (st = conf_load_file(t, cfg, cl->file, err)) != SP_OK)
		goto fail;
	if ((st = walk_args(t, cfg, argc, argv, cl, 1, &pass, err)) != SP_OK)
		goto fail;
	if ((st = conf_check_required(t, cfg, cl->file, err)) != SP_OK)
		goto fail;
	return SP_OK;
fail:
	/* Nothing is left to free after a failure. */
	conf_clear(t, cfg);
	return st;
}

int
conf_check_required(const struct conf_table *t, const void *cfg, const char *where,
    struct sp_err *err)
{
	size_t i;

	for (i = 0; i < t->n; i++) {
		const struct conf_entry *e = &t->entries[i];
		const char *field = (const char *)cfg + e->off;
		int empty;

		if (!(e->flags & CONF_REQUIRED) || e->set != NULL)
			continue;
		if (e->type == CONF_STR)
			empty = field[0] == '\0';
		else if (e->type == CONF_LIST)
			empty = ((const struct conf_list *)(const void *)field)->n == 0;
		else
			continue;
		if (!empty)
			continue;
		if (where != NULL)
			return sp_err_set(err, SP_ERR_CONFIG, "%s: %s is required", where, e->name);
		return sp_err_set(err, SP_ERR_CONFIG, "%s is required", e->name);
	}
	return SP_OK;
}

/* 1048576 -> "1M"; numbers that are no whole k, M or G stay as they are. */
static void
fmt_size(int64_t v, char *out, size_t outsz)
{
	static const char suffix[] = "GMk";
	int64_t unit = (int64_t)1 << 30;

	for (int i = 0; i < 3; i++, unit >>= 10) {
		if (v != 0 && v % unit == 0) {
			snprintf(out, outsz, "%lld%c", (long long)(v / unit), suffix[i]);
			return;
		}
	}
	snprintf(out, outsz, "%lld", (long long)v);
}

static const char *
arg_word(const struct conf_entry *e)
{
	if (e->arg != NULL)
		return e->arg;
	switch (e->type) {
	case CONF_STR: return "TEXT";
	case CONF_INT: return "N";
	case CONF_SIZE: return "BYTES";
	case CONF_BOOL: return "yes|no";
	case CONF_ENUM: return "NAME";
	case CONF_LIST: return "TEXT";
	}
	return "VALUE";
}

/* Help text from column 25 on, wrapped at 79 columns on spaces. */
static void
put_wrapped(FILE *out, const char *text)
{
	const size_t width = 79 - 25;
	const char *p = text;

	while (strlen(p) > width) {
		const char *cut = p + width;

		while (cut > p && *cut != ' ')
			cut--;
		if (cut == p)
			cut = strchr(p + width, ' ');
		if (cut == NULL)
			break;
		fprintf(out, "%.*s\n%25s", (int)(cut - p), p, "");
		p = cut + 1;
	}
	fprintf(out, "%s\n", p);
}

void
conf_usage(const struct conf_table *t, FILE *out)
{
	int dashes = (t->flags & CONF_T_DASHES) != 0;
	size_t i;

	fprintf(out, "usage: %s\n", t->usage);
	if (t->about != NULL)
		fprintf(out, "\n%s\n", t->about);
	fprintf(out, "\noptions:\n");
	fprintf(out, "  %-22s %s\n", "-c FILE",
	    "read `key = value` lines from FILE (the command line wins)");
	fprintf(out, "  %-22s %s\n", "-n", "check the configuration, say so, exit (0 good, 2 bad)");
	fprintf(out, "  %-22s %s\n", "--print-defaults",
	    "print every key with its default: a configuration file");
	fprintf(out, "  %-22s %s\n\n", "-h, --help", "this help");
	fprintf(out, "%s", dashes ?
	    "settings (on the command line, or `key_name = value` in a -c FILE):\n" :
	    "settings (`key = value` in the -c FILE, or --key VALUE / --key=VALUE):\n");
	for (i = 0; i < t->n; i++) {
		const struct conf_entry *e = &t->entries[i];
		char head[260], range[600], lo[32], hi[32], name[100];
		size_t o = 0, j;

		snprintf(name, sizeof(name), "%s", e->name);
		if (dashes)
			for (char *p = name; *p; p++)
				if (*p == '_')
					*p = '-';
		if (dashes && e->type == CONF_BOOL)
			snprintf(head, sizeof(head), "--%s, --no-%s", name, name);
		else
			snprintf(head, sizeof(head), "%s%s %s", dashes ? "--" : "", name, arg_word(e));
		if (strlen(head) < 22)
			fprintf(out, "  %-22s ", head);
		else
			fprintf(out, "  %s\n  %-22s ", head, "");
		put_wrapped(out, e->help);
		range[0] = '\0';
		switch (e->type) {
		case CONF_INT:
			snprintf(range, sizeof(range), "; %lld..%lld", (long long)e->min, (long long)e->max);
			break;
		case CONF_SIZE:
			fmt_size(e->min, lo, sizeof(lo));
			fmt_size(e->max, hi, sizeof(hi));
			snprintf(range, sizeof(range), "; %s..%s, suffixes k M G", lo, hi);
			break;
		case CONF_ENUM:
			o = (size_t)snprintf(range, sizeof(range), "; one of ");
			for (j = 0; e->names[j] != NULL && o < sizeof(range); j++)
				o += (size_t)snprintf(range + o, sizeof(range) - o, "%s%s", j ? ", " : "",
				    e->names[j]);
			break;
		case CONF_LIST:
			snprintf(range, sizeof(range), "; repeatable, up to %lld", (long long)e->max);
			break;
		case CONF_STR:
		case CONF_BOOL:
			break;
		}
		if (e->flags & CONF_REQUIRED)
			fprintf(out, "  %-22s (required%s)\n", "", range);
		else if (e->def != NULL && e->def[0] != '\0')
			fprintf(out, "  %-22s (default %s%s)\n", "", e->def, range);
		else if (range[0] != '\0')
			fprintf(out, "  %-22s (%s)\n", "", range + 2);
	}
}

void
conf_print_defaults(const struct conf_table *t, FILE *out)
{
	size_t i;

	fprintf(out, "# %s: every setting with its default (%s --print-defaults)\n", t->prog, t->prog);
	for (i = 0; i < t->n; i++) {
		const struct conf_entry *e = &t->entries[i];
		const char *def = e->def != NULL ? e->def : "";

		fprintf(out, "\n# %s%s\n", e->help, e->flags & CONF_REQUIRED ? " (required)" : "");
		if (e->type == CONF_LIST && strchr(def, ',') != NULL) {
			const char *p = def, *c;

			for (; *p != '\0'; p = *c ? c + 1 : c) {
				size_t n;

				c = strchr(p, ',');
				if (c == NULL)
					c = p + strlen(p);
				while (*p == ' ')
					p++;
				n = (size_t)(c - p);
				while (n > 0 && p[n - 1] == ' ')
					n--;
				if (n > 0)
					fprintf(out, "%s = %.*s\n", e->name, (int)n, p);
			}
		} else {
			fprintf(out, "%s =%s%s\n", e->name, def[0] ? " " : "", def);
		}
	}
}

void
conf_clear(const struct conf_table *t, void *cfg)
{
	size_t i;

	for (i = 0; i < t->n; i++) {
		const struct conf_entry *e = &t->entries[i];
		char *field = (char *)cfg + e->off;

		if (e->set != NULL)
			continue;
		if (e->type == CONF_LIST)
			list_clear((struct conf_list *)(void *)field);
		else if (e->type == CONF_STR && (e->flags & CONF_SECRET))
			sp_wipe(field, e->size);
	}
}

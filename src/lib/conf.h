/*
 * conf.h - one typed configuration table per program, and the one parser
 * that reads it from every place a setting can come from:
 *
 *   - the defaults, written as text in the table and applied in one place
 *     (conf_defaults());
 *   - a file of `key = value` lines (`-c FILE`): '#' starts a comment line,
 *     blank lines are skipped; unknown keys, bad values and values out of
 *     range are errors naming FILE:LINE and the key;
 *   - the command line: `--key VALUE` or `--key=VALUE` ('-' and '_' are the
 *     same in a key), booleans as flags (`--key`, `--no-key`); the command
 *     line wins over the file;
 *   - `-n` (check and exit), `--help` (usage made from the table) and
 *     `--print-defaults` (every key with its default: a valid file).
 *
 * A table entry says what a setting is (name, type, bounds, default, help)
 * and where it goes: an offset in the program's own config struct, or a
 * setter callback.  The program keeps only what the table cannot say: the
 * checks between keys and the values derived from them.
 *
 * Library rules: every function returns a status with a message in err
 * (SP_ERR_CONFIG for a bad setting) and never logs or exits; printing goes
 * only to the FILE the caller passes.
 * SECURITY: configuration files are trusted by the administrator, but a
 * value is still bounded (strings by their array, lists by count and item
 * length, numbers by min/max) and never overflows.  CONF_SECRET values are
 * never repeated in a message and are wiped by conf_clear().
 */
#ifndef SP_CONF_H
#define SP_CONF_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sp.h"

enum conf_type {
	CONF_STR,	/* char[size] at off; at most size - 1 bytes */
	CONF_INT,	/* int64_t at off; min..max */
	CONF_SIZE,	/* int64_t at off, bytes; min..max; suffixes k, M, G (x1024) */
	CONF_BOOL,	/* int at off; yes/true/on/1 = 1, no/false/off/0 = 0 */
	CONF_ENUM,	/* int at off; the index of the value in names */
	CONF_LIST,	/* struct conf_list at off; repeatable: at most max items,
			 * each at most size - 1 bytes; an empty value clears it */
};

/* Entry flags. */
#define CONF_REQUIRED 0x1u	/* a string or list that must not be empty in the end */
#define CONF_SECRET 0x2u	/* never repeated in a message; wiped by conf_clear() */

/* Table flags. */
#define CONF_T_DASHES 0x1u	/* --help shows keys as --key-name options (option-driven programs) */
#define CONF_T_NO_OPERANDS 0x2u	/* conf_read() refuses arguments after the options */

/* The items of a CONF_LIST (owned by the config; conf_clear() frees). */
struct conf_list {
	size_t n;
	char **items;
};

/* A setter stores one value itself, instead of an offset.  value has passed
 * the type's checks (bounds, names, length); for CONF_LIST it is one item,
 * or NULL to clear the list.  Returns SP_OK, or a status with a message
 * (without the key: conf adds "FILE:LINE: key: " in front). */
typedef int (*conf_set_fn)(void *cfg, const char *value, struct sp_err *err);

struct conf_entry {
	const char *name;	/* the key, lower case with '_' */
	enum conf_type type;
	const char *def;	/* default as written in a file; NULL = empty.
				 * A list's default: items separated by ',' */
	const char *arg;	/* word for the value in --help ("URL"); NULL = from the type */
	const char *help;	/* one line: what it is for */
	size_t off;		/* where the value goes in the config struct ... */
	conf_set_fn set;	/* ... or who stores it (then off is unused) */
	size_t size;		/* CONF_STR: array size; CONF_LIST: item size limit */
	int64_t min, max;	/* CONF_INT, CONF_SIZE: bounds; CONF_LIST: max = most items */
	const char *const *names;	/* CONF_ENUM: the values, NULL-terminated */
	unsigned flags;		/* CONF_REQUIRED, CONF_SECRET */
};

/* Offset and array size of a field, for a table entry:
 *   {.name = "socket", .type = CONF_STR, CONF_AT(struct milter_config, socket), ...} */
#define CONF_AT(type, field) .off = offsetof(type, field), .size = sizeof(((type *)0)->field)

struct conf_table {
	const char *prog;	/* program name for usage and messages ("sealpost-milter") */
	const char *usage;	/* synopsis after "usage: " */
	const char *about;	/* what the program does, a few lines, or NULL */
	const struct conf_entry *entries;
	size_t n;
	unsigned flags;		/* CONF_T_DASHES, CONF_T_NO_OPERANDS */
};

#define CONF_MAX_ENTRIES 128	/* entries per table */
#define CONF_MAX_LINE 4096	/* bytes per file line */

/* What the command line asked for. */
enum conf_action {
	CONF_RUN = 0,		/* run with the configuration read */
	CONF_CHECK,		/* -n: check the configuration and exit */
	CONF_HELP,		/* -h, --help: print conf_usage() and exit 0 */
	CONF_PRINT_DEFAULTS,	/* --print-defaults: print conf_print_defaults() and exit 0 */
};

struct conf_cmdline {
	enum conf_action action;
	const char *file;	/* -c FILE, or NULL (borrowed from argv) */
	int argi;		/* index of the first operand in argv (argc if none) */
};

/* Set every entry of t in cfg to its default: the one place where defaults
 * are applied.  Fields outside the table are left alone (zero the struct
 * first).  A default that does not parse is a broken table:
 * SP_ERR_INTERNAL naming the key. */
int conf_defaults(const struct conf_table *t, void *cfg, struct sp_err *err);

/* The entry for a key ('-' and '_' the same), or NULL. */
const struct conf_entry *conf_find(const struct conf_table *t, const char *name);

/* Set one key from text.  where prefixes a message ("FILE:LINE", or NULL).
 * A list item is appended (an empty value clears the list).  SP_OK, or
 * SP_ERR_CONFIG "WHERE: unknown key 'K'" / "WHERE: K: why". */
int conf_set(const struct conf_table *t, void *cfg, const char *name, const char *value,
    const char *where, struct sp_err *err);

/* Read a `key = value` file into cfg (normally after conf_defaults()).  A
 * key given again wins; a list named in the file replaces the list it had
 * (its default) with the file's items.  Errors name "FILE:LINE". */
int conf_load_file(const struct conf_table *t, void *cfg, const char *path, struct sp_err *err);

/* The whole start-up read: apply the defaults, take -c FILE, -n, -h/--help
 * and --print-defaults from argv, read the file, then apply the command
 * line's --key settings over it, and check CONF_REQUIRED keys.  Options
 * stop at "--" or at the first argument that does not start with '-'
 * (cl->argi).  On --help or --print-defaults it returns SP_OK at once,
 * without reading the file.  Errors: SP_ERR_CONFIG with "FILE:LINE: ..."
 * or "--key: ..." or "unknown option --x"; after an error nothing in cfg
 * needs conf_clear(). */
int conf_read(const struct conf_table *t, void *cfg, int argc, char **argv,
    struct conf_cmdline *cl, struct sp_err *err);

/* SP_ERR_CONFIG "WHERE: K is required" for the first CONF_REQUIRED entry
 * left empty (where NULL: just "K is required"). */
int conf_check_required(const struct conf_table *t, const void *cfg, const char *where,
    struct sp_err *err);

/* Usage made from the table: synopsis, the generic options, and every key
 * with its value word, help, default and range or allowed values. */
void conf_usage(const struct conf_table *t, FILE *out);

/* Every key with its help as a comment and its default, one `key = value`
 * per line: the output read back with conf_load_file() gives the defaults. */
void conf_print_defaults(const struct conf_table *t, FILE *out);

/* Free the lists and wipe CONF_SECRET strings of cfg. */
void conf_clear(const struct conf_table *t, void *cfg);

#endif

/*
 * keyholder_main.c - sealpost-keyholder, the one process that reads the
 * master keys (docs/keyholder.md).  The key server starts it with one end
 * of a socket pair as --fd N; it answers exactly two requests over it,
 * WRAP and UNWRAP (and HELLO, the current key id, and RELOAD), in the order
 * they come (several may be in flight), and nothing else.  It opens the key
 * directory DATA/keys (created 0700, or DATA itself for the old layout),
 * gives up root for --user, then loads the keys, creating master-1.key on
 * first start.  A RELOAD request (keyd's SIGHUP, passed on over the socket,
 * which works whatever users the two run as) or SIGHUP loads the keys again
 * (after `sealpost key rotate`), as does an unwrap under a newer key id
 * than the current one; the end of the socket or SIGTERM ends it.
 * SECURITY: holds every master key; parses requests from the key server,
 * which talks to the network: every frame is decoded strictly (khproto.h),
 * a malformed one is answered with an error and ends the connection; no
 * core dumps, not ptrace-able by its user, key parts wiped after use.
 */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "keywrap.h"
#include "khproto.h"
#include "khstream.h"
#include "conf.h"
#include "log.h"
#include "privsep.h"

static volatile sig_atomic_t got_hup, got_stop;

static void
on_signal(int sig)
{
	if (sig == SIGHUP)
		got_hup = 1;
	else
		got_stop = sig;
}

static void kh_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One line "keyholder EVENT key=value ..." through the programs' one log
 * (log.h, which filters the whole line): fmt starts with the event word. */
static void
kh_log(const char *fmt, ...)
{
	char line[1024], event[32];
	const char *rest;
	size_t n;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	n = strcspn(line, " ");
	snprintf(event, sizeof(event), "%.*s", (int)(n < sizeof(event) ? n : sizeof(event) - 1),
	    line);
	rest = line[n] ? line + n + 1 : "";
	log_info(event, "%s", rest);
}

/* The options, one typed table (conf.h): the command line, -c FILE,
 * -n, --help and --print-defaults all come from it. */
struct kh_config {
	int64_t fd;
	char data_dir[4000];
	char user[256];
	int allow_root;
};

#define AT(f) CONF_AT(struct kh_config, f)
static const struct conf_entry kh_entries[] = {
	{.name = "fd", .type = CONF_INT, AT(fd), .def = "-1", .min = -1, .max = 65535, .arg = "N",
	    .help = "the connected socket to serve (required)"},
	{.name = "data_dir", .type = CONF_STR, AT(data_dir), .arg = "DIR", .flags = CONF_REQUIRED,
	    .help = "the key server's data directory: keys are in DIR/keys/ (created 0700), or "
	    "DIR/master-N.key in the old layout; DIR/keys/master-1.key is created when there "
	    "is no key"},
	{.name = "user", .type = CONF_STR, AT(user), .arg = "NAME",
	    .help = "give up root for this user once the key directory is open (it is made "
	    "this user's); required when started as root, unless --allow-root"},
	{.name = "allow_root", .type = CONF_BOOL, AT(allow_root), .def = "no",
	    .help = "run as root without --user (tests, containers)"},
};
#undef AT

static const struct conf_table kh_table = {
	.prog = "sealpost-keyholder",
	.usage = "sealpost-keyholder --fd N --data-dir DIR [--user NAME] [--allow-root]",
	.about = "The sealpost key holder: the only process that reads the master keys.\n"
	    "sealpost-keyd starts it with one end of a socket pair and asks it to\n"
	    "wrap and unwrap message key parts (docs/keyholder.md); it is not\n"
	    "meant to be started by hand.  A RELOAD request from sealpost-keyd (its\n"
	    "SIGHUP) or HUP loads the keys again (a new key from `sealpost key\n"
	    "rotate` then wraps new parts); TERM ends it.",
	.entries = kh_entries,
	.n = sizeof(kh_entries) / sizeof(kh_entries[0]),
	.flags = CONF_T_DASHES | CONF_T_NO_OPERANDS,
};

/* As root: make the key directory (not the data directory of the old
 * layout, which is the key server's) and its key files the user's. */
static int
own_keys(int dirfd, const char *dname, int old, uid_t uid, gid_t gid)
{
	struct dirent *de;
	DIR *d;
	int fd, rc = 0;

	if (!old && fchown(dirfd, uid, gid) != 0) {
		kh_log("error what=chown dir=%s error=\"%s\"", dname, strerror(errno));
		return -1;
	}
	if ((fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "master-", 7) != 0)
			continue;
		if (fchownat(dirfd, de->d_name, uid, gid, AT_SYMLINK_NOFOLLOW) != 0) {
			kh_log("error what=chown file=%s/%s error=\"%s\"", dname, de->d_name,
			    strerror(errno));
			rc = -1;
		}
	}
	closedir(d);
	return rc;
}

/* Read the keys again (SIGHUP, a RELOAD request, or an unwrap under a key
 * newer than ours).  A failure keeps the keys loaded before: its status. */
static int
reload(struct sp_keywrap **kw, int dirfd, const char *dir, const char *why)
{
	struct sp_keywrap *fresh = NULL;
	struct sp_err err = {{0}};
	int st;

	if ((st = sp_keywrap_load_at(&fresh, dirfd, dir, 0, &err)) == SP_OK) {
		sp_keywrap_free(*kw);
		*kw = fresh;
		kh_log("reload current=%u why=%s", sp_keywrap_current(*kw), why);
	} else
		kh_log("reload-failed why=%s error=\"%s\" (keeping the keys loaded before)", why,
		    sp_err_msg(&err, st));
	return st;
}

/* Answer one decoded request into ans.  Returns 0, or -1 when the request
 * is of a type the key holder does not take (then the connection ends).
 * An unwrap under a key id above the current one reads the keys again
 * first (at most once a second): `sealpost key rewrap` may have moved rows
 * to a key added since the last SIGHUP. */
static int
serve(struct sp_keywrap **kwp, int dirfd, const char *dir, const struct sp_kh_msg *req,
    struct sp_kh_msg *ans)
{
	static time_t last_reload;
	struct sp_keywrap *kw = *kwp;
	struct sp_err err = {{0}};
	int st;

	memset(ans, 0, sizeof(*ans));
	ans->id = req->id;
	switch (req->type) {
	case SP_KH_HELLO:
		ans->type = SP_KH_HELLO_OK;
		ans->key_id = sp_keywrap_current(kw);
		return 0;
	case SP_KH_RELOAD:
		/* the key server's SIGHUP, passed on; reload() logs the outcome */
		if ((st = reload(kwp, dirfd, dir, "request")) != SP_OK) {
			ans->type = SP_KH_ERROR;
			ans->status = (uint32_t)st;
			return 0;
		}
		ans->type = SP_KH_RELOAD_OK;
		ans->key_id = sp_keywrap_current(*kwp);
		return 0;
	case SP_KH_WRAP:
		st = sp_keywrap_wrap(kw, req->aad, req->part, ans->wrapped, &ans->key_id, &err);
		ans->type = SP_KH_WRAP_OK;
		break;
	case SP_KH_UNWRAP:
		if (req->key_id > sp_keywrap_current(kw) && time(NULL) != last_reload) {
			last_reload = time(NULL);
			reload(kwp, dirfd, dir, "newer-key");
			kw = *kwp;
		}
		st = sp_keywrap_unwrap(kw, req->key_id, req->aad, req->wrapped, SP_KEYWRAP_LEN,
		    ans->part, &err);
		ans->type = SP_KH_UNWRAP_OK;
		break;
	default:
		ans->type = SP_KH_ERROR;
		ans->status = SP_ERR_INVALID;
		return -1;
	}
	if (st != SP_OK) {
		sp_wipe(ans, sizeof(*ans));
		ans->id = req->id;
		ans->type = SP_KH_ERROR;
		ans->status = (uint32_t)st;
		kh_log("refused request=%u type=%u status=%d error=\"%s\"", req->id, req->type,
		    st, sp_err_msg(&err, st));
	}
	return 0;
}

/* The answers of one batch of requests, written with one send. */
struct kh_out {
	size_t len;
	unsigned char data[SP_KH_RBUF_LEN];
};

/* Send the answers held in out (then wiped). */
static int
flush(int fd, struct kh_out *out)
{
	struct sp_err err = {{0}};
	int st = SP_OK;

	if (out->len > 0)
		st = sp_kh_send(fd, out->data, out->len, sp_kh_now_ms() + SP_KH_TIMEOUT_MS, &err);
	sp_wipe(out->data, out->len);
	out->len = 0;
	if (st != SP_OK)
		kh_log("reply-failed error=\"%s\"", sp_err_msg(&err, st));
	return st;
}

/* Add ans to out, sending what is there first when it is full. */
static int
reply(int fd, struct kh_out *out, const struct sp_kh_msg *ans)
{
	struct sp_err err = {{0}};
	size_t len;
	int st = SP_OK;

	if (sizeof(out->data) - out->len < SP_KH_FRAME_MAX)
		st = flush(fd, out);
	if (st == SP_OK)
		st = sp_kh_encode(ans, out->data + out->len, sizeof(out->data) - out->len, &len,
		    &err);
	if (st == SP_OK)
		out->len += len;
	else if (st != SP_ERR_IO)
		kh_log("reply-failed error=\"%s\"", sp_err_msg(&err, st));
	return st;
}

/* Take the requests on fd until it ends: whatever has come is read at
 * once, each whole request answered in turn, and the answers sent together
 * (keyd may have several requests in flight).  Returns the exit status: 0
 * when keyd closed its end (or a signal asked to stop), 1 after a malformed
 * request (answered ERROR with its id when the header was read, then the
 * connection ends) or an I/O error. */
static int
serve_stream(int fd, struct sp_keywrap **kw, int dirfd, const char *dir)
{
	static struct sp_kh_rbuf in;
	static struct kh_out out;
	struct sp_err err = {{0}};
	struct sp_kh_msg req, ans;
	unsigned char *f;
	size_t flen;
	uint32_t id = 0;
	int64_t partial = -1;	/* when the request not yet whole began */
	int st, fl, rc = 0;

	if ((fl = fcntl(fd, F_GETFL)) >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	memset(&req, 0, sizeof(req));
	for (;;) {
		if (got_stop)
			break;
		if (got_hup) {
			got_hup = 0;
			reload(kw, dirfd, dir, "hup");
		}
		/* the next request may take as long as it takes; the rest of
		 * a started one at most SP_KH_TIMEOUT_MS */
		st = sp_kh_rbuf_fill(&in, fd, partial < 0 ? -1 : partial + SP_KH_TIMEOUT_MS, &err);
		if (st == SP_ERR_RETRY && partial < 0)
			continue;	/* a signal: look at the flags */
		if (st == SP_ERR_NOTFOUND && sp_kh_rbuf_pending(&in) == 0)
			break;		/* the key server closed its end */
		if (st == SP_ERR_IO) {
			kh_log("error %s", sp_err_msg(&err, st));
			rc = 1;
			break;
		}
		if (st != SP_OK) {
			/* closed inside a request, or its rest did not come */
			sp_kh_rbuf_frame(&in, &f, &flen, &id, NULL);
			req.id = sp_kh_rbuf_pending(&in) >= SP_KH_HDR_LEN ? id : 0;
			sp_err_set(&err, SP_ERR_INVALID, st == SP_ERR_NOTFOUND ? "truncated frame" :
			    "the rest of the frame did not come in time");
			goto malformed;
		}
		while ((st = sp_kh_rbuf_frame(&in, &f, &flen, &id, &err)) == SP_OK) {
			st = sp_kh_decode(f, flen, &req, &err);
			sp_kh_rbuf_drop(&in, flen);
			if (st != SP_OK)
				goto malformed;
			if (serve(kw, dirfd, dir, &req, &ans) != 0) {
				sp_err_set(&err, SP_ERR_INVALID, "message type %u is not a request",
				    req.type);
				goto malformed;
			}
			sp_wipe(&req, sizeof(req));
			st = reply(fd, &out, &ans);
			sp_wipe(&ans, sizeof(ans));
			if (st != SP_OK) {
				rc = 1;
				goto done;
			}
		}
		if (st == SP_ERR_INVALID) {
			memset(&req, 0, sizeof(req));
			req.id = id;
			goto malformed;
		}
		if (sp_kh_rbuf_pending(&in) == 0)
			partial = -1;
		else if (partial < 0)
			partial = sp_kh_now_ms();
		if (flush(fd, &out) != SP_OK) {
			rc = 1;
			goto done;
		}
	}
	goto done;
malformed:
	/* Malformed, truncated or not a request: answer what came before it,
	 * say so, then hang up. */
	kh_log("malformed request=%u error=\"%s\" (closing)", req.id,
	    sp_err_msg(&err, SP_ERR_INVALID));
	memset(&ans, 0, sizeof(ans));
	ans.id = req.id;
	ans.type = SP_KH_ERROR;
	ans.status = SP_ERR_INVALID;
	sp_wipe(&req, sizeof(req));
	if (reply(fd, &out, &ans) == SP_OK)
		flush(fd, &out);
	rc = 1;
done:
	sp_wipe(&out, sizeof(out));
	sp_kh_rbuf_wipe(&in);
	return rc;
}

int
main(int argc, char **argv)
{
	struct sp_err err = {{0}};
	struct sp_keywrap *kw = NULL;
	struct sigaction sa;
	struct stat sb;
	const char *data_dir = NULL, *user = NULL;
	char dir[4096];
	uid_t uid = 0;
	gid_t gid = 0;
	static struct kh_config cfg;
	struct conf_cmdline cl;
	int fd = -1, dirfd, old = 0, allow_root = 0, st, rc = 0;

	log_init("keyholder", 0, 0);

	if ((st = conf_read(&kh_table, &cfg, argc, argv, &cl, &err)) != SP_OK) {
		fprintf(stderr, "sealpost-keyholder: %s\n", sp_err_msg(&err, st));
		return 2;
	}
	if (cl.action == CONF_HELP) {
		conf_usage(&kh_table, stdout);
		return 0;
	}
	if (cl.action == CONF_PRINT_DEFAULTS) {
		conf_print_defaults(&kh_table, stdout);
		return 0;
	}
	if (cfg.fd < 0) {
		fprintf(stderr, "sealpost-keyholder: --fd is required (see --help)\n");
		return 2;
	}
	if (cl.action == CONF_CHECK) {
		printf("sealpost-keyholder: configuration ok\n");
		return 0;
	}
	fd = (int)cfg.fd;
	data_dir = cfg.data_dir;
	user = cfg.user[0] ? cfg.user : NULL;
	allow_root = cfg.allow_root;
	if ((st = sp_priv_harden(&err)) != SP_OK) {
		fprintf(stderr, "sealpost-keyholder: %s\n", sp_err_msg(&err, st));
		return 1;
	}
	if (geteuid() == 0 && user == NULL && !allow_root) {
		fprintf(stderr, "sealpost-keyholder: refusing to run as root: give --user NAME "
		    "(or --allow-root for tests)\n");
		return 2;
	}
	if (user != NULL && (st = sp_priv_user(user, &uid, &gid, &err)) != SP_OK) {
		fprintf(stderr, "sealpost-keyholder: --user: %s\n", sp_err_msg(&err, st));
		return 2;
	}
	if (fstat(fd, &sb) != 0 || !S_ISSOCK(sb.st_mode)) {
		fprintf(stderr, "sealpost-keyholder: --fd %d is not a socket\n", fd);
		return 2;
	}
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	umask(077);

	/* The key directory, opened once: after giving up root the keys are
	 * read (and added on SIGHUP) through this descriptor. */
	if ((st = sp_keywrap_dir(data_dir, dir, sizeof(dir), &old, &err)) != SP_OK) {
		kh_log("error %s", sp_err_msg(&err, st));
		return 1;
	}
	if (!old && mkdir(dir, 0700) != 0 && errno != EEXIST) {
		kh_log("error dir=%s error=\"%s\"", dir, strerror(errno));
		return 1;
	}
	if ((dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
	    fstat(dirfd, &sb) != 0) {
		kh_log("error dir=%s error=\"%s\"", dir, strerror(errno));
		return 1;
	}
	if (!old && (sb.st_mode & 077) != 0) {
		kh_log("error dir=%s error=\"the key directory must be mode 0700\"", dir);
		return 1;
	}
	if (old)
		kh_log("warning dir=%s error=\"old layout: keys in the data directory; move "
		    "master-*.key into %s/keys/ (docs/keyholder.md)\"", dir, data_dir);
	if (user != NULL && geteuid() == 0) {
		if (own_keys(dirfd, dir, old, uid, gid) != 0)
			return 1;
	}
	if (user != NULL && (geteuid() == 0 || getuid() != uid)) {
		if ((st = sp_priv_drop(uid, gid, &err)) != SP_OK) {
			kh_log("error what=user user=%s error=\"%s\"", user, sp_err_msg(&err, st));
			return 1;
		}
	}
	if ((st = sp_keywrap_load_at(&kw, dirfd, dir, 1, &err)) != SP_OK) {
		kh_log("error %s", sp_err_msg(&err, st));
		return 1;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;	/* no SA_RESTART: a wait ends with EINTR */
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	kh_log("start pid=%ld dir=%s current=%u uid=%ld", (long)getpid(), dir,
	    sp_keywrap_current(kw), (long)geteuid());

	rc = serve_stream(fd, &kw, dirfd, dir);
	close(fd);
	close(dirfd);
	sp_keywrap_free(kw);
	kh_log("stop");
	return rc;
}

/*
 * milter_main.c - sealpost-milter: the Postfix/Sendmail mail filter that
 * seals outbound mail the policy marks sensitive and unseals sealed replies
 * addressed to our own domains.
 *
 *   sealpost-milter -c CONFIG [-n] [--KEY VALUE ...]
 *   sealpost-milter --help | --print-defaults
 *
 * Reads the configuration (milter_config.c, through conf.h: with it the
 * token file and the signing key) and the policy, opens the milter socket,
 * drops privileges to the configured user when started as root, and serves
 * the MTA until SIGTERM.  A bad configuration (a missing or bad sign_key
 * too) stops the start with one clear line naming file:line and exit
 * status 2 (-n: 0 when good); a start-up failure after that is logged
 * (fatal) with exit status 1.  Without sign_key it seals unsigned (format
 * 1) and says so in a warning at start.
 * SECURITY: reads the organisation token and signing key before dropping
 * privileges (both files may be root's alone); never runs as root while
 * handling mail.
 */
#include "milter.h"

#include <curl/curl.h>
#include <errno.h>
#include <grp.h>
#include <libmilter/mfapi.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "privsep.h"
#include "message.h"
#include "policy.h"
#include "sign.h"

/* A configuration that cannot work: one line naming it, exit 2. */
static void config_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void
config_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "sealpost-milter: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

/* Drop root for the configured user (groups, gid, then uid), check that
 * root cannot be regained, and stay without core dumps (privsep.h). */
static void
drop_privileges(const struct milter_config *c, const struct passwd *pw)
{
	char user[LOG_CLEAN_SIZE];
	struct sp_err err = {{0}};

	log_clean(c->user, user, sizeof(user));
	if (sp_priv_drop(pw->pw_uid, pw->pw_gid, &err) != SP_OK)
		fatalx("start", "user=%s error=%s", user,
		    log_clean(err.msg, user, sizeof(user)));
}

int
main(int argc, char **argv)
{
	static struct milter_config cfg;
	struct conf_cmdline cl;
	struct milter_global g;
	struct sp_policy *policy = NULL;
	struct sp_err err = {{0}};
	const char *where;
	char v1[LOG_CLEAN_SIZE], v2[LOG_CLEAN_SIZE], v3[LOG_CLEAN_SIZE];
	char kid[SP_SIGN_KID_LEN + 1] = "none";
	struct stat ks;
	int key_shared;
	struct passwd *pw = NULL;
	int st;

	log_init("sealpost-milter", 0, 0);	/* stderr until the configuration says */
	/* No core file or ptrace: the process holds the organisation token
	 * and every message it seals. */
	if (sp_priv_harden(&err) != SP_OK)
		fatalx("start", "error=\"cannot turn core dumps off\"");
	if ((st = milter_config_read(&cfg, argc, argv, &cl, &err)) != SP_OK)
		config_error("%s", sp_err_msg(&err, st));
	if (cl.action == CONF_HELP) {
		milter_config_usage(stdout);
		return 0;
	}
	if (cl.action == CONF_PRINT_DEFAULTS) {
		milter_config_print_defaults(stdout);
		return 0;
	}
	where = cl.file != NULL ? cl.file : "command line";
	if (geteuid() == 0) {
		if (cfg.user[0] == '\0')
			config_error("%s: started as root: set 'user' to an unprivileged user", where);
		if ((pw = getpwnam(cfg.user)) == NULL)
			config_error("%s: user: no such user '%s'", where, cfg.user);
		if (pw->pw_uid == 0)
			config_error("%s: user: '%s' is root; choose an unprivileged user", where, cfg.user);
	}
	sp_msg_global_init();
	if ((st = sp_policy_load(&policy, cfg.policy[0] ? cfg.policy : NULL, &err)) != SP_OK)
		config_error("policy: %s", sp_err_msg(&err, st));
	if (cfg.signer != NULL)
		sp_signer_kid(cfg.signer, kid);
	if (cl.action == CONF_CHECK) {
		printf("sealpost-milter: %s: configuration ok (%zu policy rules, %s%s)\n", where,
		    sp_policy_rule_count(policy), cfg.signer != NULL ? "signing key " :
		    "no sign_key: envelopes unsigned", cfg.signer != NULL ? kid : "");
		sp_policy_free(policy);
		milter_config_clear(&cfg);
		return 0;
	}
	log_init("sealpost-milter", cfg.log == MILTER_LOG_SYSLOG, cfg.debug);
	/* looked at before the switch to user, which may not see the file */
	key_shared = cfg.signer != NULL && stat(cfg.sign_key, &ks) == 0 && (ks.st_mode & 077) != 0;
	log_clean(cfg.socket, v1, sizeof(v1));
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		fatalx("start", "error=\"cannot initialise libcurl\"");
	g.cfg = &cfg;
	g.policy = policy;
	if (smfi_setconn(cfg.socket) != MI_SUCCESS)
		fatalx("start", "socket=%s error=\"cannot use this address\"", v1);
	smfi_settimeout((int)cfg.milter_timeout);
	if (milter_cb_register(&g) != 0)
		fatalx("start", "error=\"cannot register with libmilter\"");
	if (smfi_opensocket(1) != MI_SUCCESS)
		fatalx("start", "socket=%s error=\"cannot listen (in use, or no permission)\"", v1);
	if (pw != NULL) {
		if (strncmp(cfg.socket, "unix:", 5) == 0 || strncmp(cfg.socket, "local:", 6) == 0) {
			const char *sp = strchr(cfg.socket, ':') + 1;

			/* the MTA connects as a member of the user's group */
			if (chown(sp, pw->pw_uid, pw->pw_gid) != 0 || chmod(sp, 0660) != 0)
				fatal("start", "socket=%s error=\"cannot hand it to the user\"", v1);
		}
		drop_privileges(&cfg, pw);
	}
	log_info("start", "socket=%s keyd=%s policy=%s internal_domains=%zu on_keyd_failure=%s "
	    "sign_kid=%s uid=%ld", v1, log_clean(cfg.keyd_url, v2, sizeof(v2)),
	    log_clean(cfg.policy[0] ? cfg.policy : "(built-in)", v3, sizeof(v3)), cfg.ndomains,
	    cfg.on_keyd_failure == MILTER_FAIL_PASS ? "pass" :
	    cfg.on_keyd_failure == MILTER_FAIL_REJECT ? "reject" : "tempfail", kid, (long)getuid());
	if (cfg.signer == NULL)
		log_warnx("start", "sign_key=none reason=\"envelopes are sealed unsigned (format 1); "
		    "a key server refuses them for an organisation that has a signing key\"");
	else if (key_shared)
		log_warnx("start", "sign_key=%s reason=\"the signing key file can be read by others "
		    "than its owner: chmod 600\"", log_clean(cfg.sign_key, v3, sizeof(v3)));
	st = smfi_main();
	log_info("stop", "status=%d", st);
	milter_cb_cleanup();
	sp_policy_free(policy);
	milter_config_clear(&cfg);
	curl_global_cleanup();
	return st == MI_SUCCESS ? 0 : 1;
}

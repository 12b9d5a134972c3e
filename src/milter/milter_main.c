/*
 * milter_main.c - sealpost-milter: the Postfix/Sendmail mail filter that
 * seals outbound mail the policy marks sensitive and unseals sealed replies
 * addressed to our own domains.
 *
 *   sealpost-milter -c CONFIG [-n] [-f]
 *
 * Reads the configuration (milter_config.c) and the policy, opens the
 * milter socket, drops privileges to the configured user when started as
 * root, and serves the MTA until SIGTERM.  A bad configuration stops the
 * start with one clear line naming file:line.
 * SECURITY: reads the organisation token before dropping privileges; never
 * runs as root while handling mail.
 */
#include "milter.h"

#include <curl/curl.h>
#include <errno.h>
#include <grp.h>
#include <libmilter/mfapi.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "message.h"
#include "policy.h"

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: sealpost-milter -c CONFIG [-n]\n"
	    "  -c CONFIG  configuration file (key = value lines)\n"
	    "  -n         check the configuration and the policy, then exit\n"
	    "  --help     this text\n"
	    "configuration keys:\n");
	milter_config_print_defaults(out);
}

static void
die(const char *fmt, const char *a, const char *b)
{
	fprintf(stderr, "sealpost-milter: ");
	fprintf(stderr, fmt, a, b);
	fputc('\n', stderr);
	exit(1);
}

/* Drop root for the configured user (groups, gid, then uid) and check that
 * root cannot be regained. */
static void
drop_privileges(const struct milter_config *c, const struct passwd *pw)
{
	if (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0)
		die("cannot switch to user %s: %s", c->user, strerror(errno));
	if (pw->pw_uid != 0 && setuid(0) == 0)
		die("%s%scould regain root after dropping privileges", "", "");
}

int
main(int argc, char **argv)
{
	static struct milter_config cfg;
	struct milter_global g;
	struct sp_policy *policy = NULL;
	struct sp_err err = {{0}};
	const char *path = NULL;
	struct passwd *pw = NULL;
	int check = 0, i, st;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			path = argv[++i];
		else if (strcmp(argv[i], "-n") == 0)
			check = 1;
		else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (path == NULL) {
		usage(stderr);
		return 2;
	}
	milter_config_defaults(&cfg);
	if ((st = milter_config_load(&cfg, path, &err)) != SP_OK)
		die("%s%s", "", sp_err_msg(&err, st));
	if (geteuid() == 0) {
		if (cfg.user[0] == '\0')
			die("%s: started as root: set 'user' to an unprivileged user%s", path, "");
		if ((pw = getpwnam(cfg.user)) == NULL)
			die("%s: user: no such user '%s'", path, cfg.user);
		if (pw->pw_uid == 0)
			die("%s: user: '%s' is root; choose an unprivileged user", path, cfg.user);
	}
	sp_msg_global_init();
	if ((st = sp_policy_load(&policy, cfg.policy[0] ? cfg.policy : NULL, &err)) != SP_OK)
		die("policy: %s%s", sp_err_msg(&err, st), "");
	if (check) {
		printf("sealpost-milter: %s: configuration ok (%zu policy rules)\n", path,
		    sp_policy_rule_count(policy));
		sp_policy_free(policy);
		milter_config_clear(&cfg);
		return 0;
	}
	milter_log_open(cfg.log, "sealpost-milter");
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		die("%s%scannot initialise libcurl", "", "");
	g.cfg = &cfg;
	g.policy = policy;
	if (smfi_setconn(cfg.socket) != MI_SUCCESS)
		die("socket %s: cannot use this address%s", cfg.socket, "");
	smfi_settimeout((int)cfg.milter_timeout);
	if (milter_cb_register(&g) != 0)
		die("%s%scannot register with libmilter", "", "");
	if (smfi_opensocket(1) != MI_SUCCESS)
		die("socket %s: cannot listen (in use, or no permission)%s", cfg.socket, "");
	if (pw != NULL) {
		if (strncmp(cfg.socket, "unix:", 5) == 0 || strncmp(cfg.socket, "local:", 6) == 0) {
			const char *sp = strchr(cfg.socket, ':') + 1;

			/* the MTA connects as a member of the user's group */
			if (chown(sp, pw->pw_uid, pw->pw_gid) != 0 || chmod(sp, 0660) != 0)
				die("socket %s: cannot hand it to the user: %s", sp, strerror(errno));
		}
		drop_privileges(&cfg, pw);
	}
	milter_log_info("- start socket=%s keyd=%s policy=%s internal_domains=%zu on_keyd_failure=%s uid=%ld",
	    cfg.socket, cfg.keyd_url, cfg.policy[0] ? cfg.policy : "(built-in)", cfg.ndomains,
	    cfg.on_keyd_failure == MILTER_FAIL_PASS ? "pass" :
	    cfg.on_keyd_failure == MILTER_FAIL_REJECT ? "reject" : "tempfail", (long)getuid());
	st = smfi_main();
	milter_log_info("- stop status=%d", st);
	milter_cb_cleanup();
	sp_policy_free(policy);
	milter_config_clear(&cfg);
	curl_global_cleanup();
	return st == MI_SUCCESS ? 0 : 1;
}

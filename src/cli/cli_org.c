/*
 * cli_org.c - placeholder for `sealpost org`, replaced by its implementation.
 */
#include <stdio.h>

#include "../cli/cli.h"

int
cli_org_main(int argc, char **argv, const struct cli_global *g)
{
	(void)argc; (void)argv; (void)g;
	fprintf(stderr, "sealpost: org: not built yet\n");
	return 2;
}

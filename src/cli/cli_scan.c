/*
 * cli_scan.c - placeholder for `sealpost scan`, replaced by its implementation.
 */
#include <stdio.h>

#include "../cli/cli.h"

int
cli_scan_main(int argc, char **argv, const struct cli_global *g)
{
	(void)argc; (void)argv; (void)g;
	fprintf(stderr, "sealpost: scan: not built yet\n");
	return 2;
}

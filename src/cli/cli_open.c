/*
 * cli_open.c - placeholder for `sealpost open`, replaced by its implementation.
 */
#include <stdio.h>

#include "../cli/cli.h"

int
cli_open_main(int argc, char **argv, const struct cli_global *g)
{
	(void)argc; (void)argv; (void)g;
	fprintf(stderr, "sealpost: open: not built yet\n");
	return 2;
}

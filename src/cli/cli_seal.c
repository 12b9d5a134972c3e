/*
 * cli_seal.c - placeholder for `sealpost seal`, replaced by its implementation.
 */
#include <stdio.h>

#include "../cli/cli.h"

int
cli_seal_main(int argc, char **argv, const struct cli_global *g)
{
	(void)argc; (void)argv; (void)g;
	fprintf(stderr, "sealpost: seal: not built yet\n");
	return 2;
}

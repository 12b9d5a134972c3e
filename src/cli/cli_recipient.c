/*
 * cli_recipient.c - placeholder for `sealpost recipient`, replaced by its implementation.
 */
#include <stdio.h>

#include "../cli/cli.h"

int
cli_recipient_main(int argc, char **argv, const struct cli_global *g)
{
	(void)argc; (void)argv; (void)g;
	fprintf(stderr, "sealpost: recipient: not built yet\n");
	return 2;
}

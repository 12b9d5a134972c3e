/*
 * assets.c - look-up in the embedded web/ asset table.
 */
#include "assets.h"

#include <string.h>

const struct sp_asset *
sp_asset_find(const char *name)
{
	const struct sp_asset *a;

	for (a = sp_assets; a->name != NULL; a++)
		if (strcmp(a->name, name) == 0)
			return a;
	return NULL;
}

/*
 * assets.h - the files of web/ embedded at build time (tools/embed.c).
 * Names are paths relative to web/, e.g. "envelope/securedoc.html".
 */
#ifndef SP_ASSETS_H
#define SP_ASSETS_H

#include <stddef.h>

struct sp_asset {
	const char *name;
	const unsigned char *data;	/* NUL-terminated, len excludes the NUL */
	size_t len;
};

extern const struct sp_asset sp_assets[];	/* ends with name == NULL */

/* The asset called name, or NULL. */
const struct sp_asset *sp_asset_find(const char *name);

#endif

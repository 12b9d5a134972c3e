/*
 * message.c - process set-up of the message model (GMime) and the release
 * functions of its result structures.  The rest lives in message_check.c
 * (is it mail, safe file names), message_build.c (raw message -> container),
 * message_info.c (GMime parsing, header info and display strings),
 * message_read.c (container -> raw message and view), message_codec.c
 * (base64 layout and DEFLATE).
 */
#include "message_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <gmime/gmime.h>

static pthread_once_t msg_once = PTHREAD_ONCE_INIT;

static void
msg_init_once(void)
{
	g_mime_init();
}

void
sp_msg_global_init(void)
{
	pthread_once(&msg_once, msg_init_once);
}

void
sp_msg_info_clear(struct sp_msg_info *info)
{
	size_t i;

	if (info == NULL)
		return;
	free(info->from);
	for (i = 0; i < info->nrcpt; i++)
		free(info->rcpt[i]);
	free(info->rcpt);
	free(info->rcpt_field);
	free(info->subject);
	free(info->date);
	memset(info, 0, sizeof(*info));
}

void
sp_msg_view_clear(struct sp_msg_view *v)
{
	size_t i;

	if (v == NULL)
		return;
	free(v->from);
	free(v->to);
	free(v->cc);
	free(v->date);
	free(v->subject);
	free(v->text);
	free(v->html);
	for (i = 0; i < v->nparts; i++) {
		free(v->parts[i].name);
		free(v->parts[i].type);
		free(v->parts[i].cid);
		free(v->parts[i].data);
	}
	free(v->parts);
	memset(v, 0, sizeof(*v));
}

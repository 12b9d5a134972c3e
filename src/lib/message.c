/*
 * message.c - placeholder until the message model lands.
 */
#include "message.h"

void
sp_msg_global_init(void)
{
}

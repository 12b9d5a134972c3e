/*
 * keyd_help.c - GET /help: how a recipient reads a secure message, what the
 * security phrase and "Remember this device" are, what the message's
 * security level means, and where to go when the password is forgotten.
 * A constant page: nothing of the request is shown.
 */
#include "keyd_help.h"
#include "keyd_lang.h"

enum MHD_Result
keyd_page_help(struct keyd_req *r, const char *arg)
{
	(void)arg;
	return keyd_page_simple(r, 200, keyd_t(r, "help.title"), keyd_t(r, "help.body_html"));
}

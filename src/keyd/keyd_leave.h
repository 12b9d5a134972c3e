/*
 * keyd_leave.h - the page between a link in a secure message and the site
 * it leads to (GET /leave?to=URL).
 */
#ifndef KEYD_LEAVE_H
#define KEYD_LEAVE_H

#include "keyd_req.h"

/* The page that shows where a message's link really leads (its host, then
 * the whole address) with one link to go on; 400 for anything but an
 * http(s) address of at most KEYD_LEAVE_MAX bytes. */
enum MHD_Result keyd_page_leave(struct keyd_req *r, const char *arg);

#define KEYD_LEAVE_MAX 4096

/* 1 when url is an address the page goes on to: "http://" or "https://"
 * (ASCII case ignored), a host, no white space, controls, quotes or angle
 * brackets, at most KEYD_LEAVE_MAX bytes.  host gets the host (after any
 * "user@" part, without the port), at most hostsz - 1 bytes. */
int keyd_leave_url(const char *url, char *host, size_t hostsz);

#endif

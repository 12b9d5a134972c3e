/*
 * keyd_help.c - GET /help: how a recipient reads a secure message, what the
 * security phrase and "Remember this device" are, what the message's
 * security level means, and where to go when the password is forgotten.
 * A constant page: nothing of the request is shown.
 */
#include "keyd_help.h"

static const char help_html[] =
    "<section aria-labelledby=\"h-read\"><h2 id=\"h-read\">Reading a secure message</h2>"
    "<ol><li>Open the attachment <b>securedoc.html</b> from the mail in your web browser "
    "(or the \"Open in your browser\" link in the mail, on a phone).</li>"
    "<li>Choose <b>Open</b>. This key server's own page opens.</li>"
    "<li>Sign in with the address the message was sent to and your password. The first "
    "time, choose \"Create your password\" and type the code we mail to you.</li></ol>"
    "<p>Type your password only on this site's own page, never into a file you received by "
    "mail and never in a reply.</p></section>"
    "<section aria-labelledby=\"h-phrase\"><h2 id=\"h-phrase\">Your security phrase</h2>"
    "<p>On a device you chose to remember, the sign-in shows your personal security phrase "
    "before you type your password. <b>If this is not your phrase, do not type your password "
    "there</b>: the page is not ours.</p></section>"
    "<section aria-labelledby=\"h-remember\"><h2 id=\"h-remember\">Remember this device</h2>"
    "<p>Tick \"Remember this device\" when you sign in on a computer that you alone use. "
    "For 90 days that device then shows your phrase, and opens messages whose sender "
    "allows it without your password. You see and forget your remembered devices on "
    "<a href=\"/account\">your account page</a>; \"Sign out everywhere\" forgets them all.</p>"
    "<p>Each message says its security level on the envelope, set by its sender:</p>"
    "<ul><li><b>High</b>: your password every time, also on a remembered device.</li>"
    "<li><b>Medium</b>: a remembered device opens it without your password.</li>"
    "<li><b>Low</b>: it opens without a password. The sender uses it for mail that only "
    "needs to travel encrypted: whoever holds the mail can read it.</li></ul></section>"
    "<section aria-labelledby=\"h-forgot\"><h2 id=\"h-forgot\">Forgot your password?</h2>"
    "<p><a href=\"/forgot\" id=\"sp-help-forgot\">Choose a new password</a>: we mail you a "
    "link, and ask your security questions. No mail with a code or link? "
    "<a href=\"/resend\">Send it again</a>, and look in your spam folder.</p></section>"
    "<section aria-labelledby=\"h-other\"><h2 id=\"h-other\">Something else</h2>"
    "<p>If a message does not open, or you did not expect it, write to its sender at an "
    "address you already know, not by replying to the mail.</p></section>";

enum MHD_Result
keyd_page_help(struct keyd_req *r, const char *arg)
{
	(void)arg;
	return keyd_page_simple(r, 200, "Help with secure messages", help_html);
}

/*
 * keyd_signup.h - the short sign-up of the open page's card (keyd_signup.c):
 * address and password, a 6-digit code by mail, then a session; and the
 * profile the account still owes afterwards.  Route handlers
 * (keyd_router.c): arg is unused ("").  Not a library interface.
 */
#ifndef KEYD_SIGNUP_H
#define KEYD_SIGNUP_H

#include <jansson.h>

#include "keyd_req.h"
#include "store.h"

#define KEYD_SIGNUP_TRIES 5		/* wrong codes before a sign-up is dead */
#define KEYD_SIGNUP_CODE_LEN 6

/* POST /api/v1/signup {email, password, password2?, id?, holder?, ct_sha256?} */
enum MHD_Result keyd_api_signup(struct keyd_req *r, const char *arg);
/* POST /api/v1/forgot {email, id?, holder?, ct_sha256?}: the card's
 * "forgot your password"; 202 whatever the address. */
enum MHD_Result keyd_api_forgot(struct keyd_req *r, const char *arg);
/* Whether the asking page holds the mail of envelope id, for email among
 * its named (not blind) recipients: the proof that gives the open pages
 * their own budget of account mails (docs/decisions/0014-first-read.md).
 * tag: the mail part's holder tag (sp_env_holder_tag; the key server has
 * only the one the sealer deposited); ct_sha: the SHA-256 of the
 * ciphertext the page holds (a signed envelope's recorded one is shown to
 * signed-in recipients only).  Either may be NULL.  org, when not NULL,
 * gets the envelope's organisation ("" for none).  The same work whether
 * or not email is a recipient, so that its time tells nothing of blind
 * copies. */
int keyd_holds_mail(struct keyd_req *r, const char *id, const unsigned char *tag,
    const unsigned char *ct_sha, const char *email, char org[SP_STORE_NAME_MAX + 1]);
/* POST /api/v1/signup/confirm {signup, email, code} */
enum MHD_Result keyd_api_signup_confirm(struct keyd_req *r, const char *arg);
/* GET /api/v1/account/profile: what the account still owes. */
enum MHD_Result keyd_api_profile_get(struct keyd_req *r, const char *arg);
/* POST /api/v1/account/profile {first_name, last_name, phrase,
 * phrase_enabled, questions: [3 numbers], answers: [3 strings], language,
 * bcc_default} (language and bcc_default optional: kept when absent) */
enum MHD_Result keyd_api_profile_set(struct keyd_req *r, const char *arg);

/* The parts of a profile from j, checked as form fields, into acc: the
 * names, the phrase and phrase_enabled (false only when given as false);
 * the three questions (numbers of keyd_questions) and their answers
 * (hashed).  NULL, or the member at fault ("" when the server is busy)
 * with *why. */
const char *keyd_profile_names_from(json_t *j, struct sp_account *acc, const char **why,
    struct sp_err *err);
const char *keyd_profile_questions_from(json_t *j, struct sp_account *acc, const char **why,
    struct sp_err *err);
/* The account's language into acc: v when it is an offered language
 * (i18n.h), cur (an offered one, else English) when v is NULL or empty.
 * 0 when v names a language that is not offered. */
int keyd_profile_lang_from(const char *v, const char *cur, struct sp_account *acc);

#endif

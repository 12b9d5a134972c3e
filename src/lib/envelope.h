/*
 * envelope.h - the sealpost envelope format, versions 1 and 2 (signed)
 * (docs/envelope-format.md).
 *
 * An envelope is: an authenticated header (canonical JSON bytes), a mail key
 * part (32 bytes, travels only with the mail), and a payload encrypted with
 * AES-256-GCM in 64 KiB chunks with STREAM nonces (prefix7 || be32 index ||
 * last flag).  The message key is HKDF-SHA256 of the server part (held by the
 * key server) and the mail part; neither alone decrypts.  Every chunk carries
 * SHA-256(header bytes) as associated data, so a changed header, a flipped
 * bit, a dropped, duplicated, reordered or truncated chunk all fail with
 * SP_ERR_AUTH.
 *
 * This module knows nothing of HTTP or MIME.  It writes and reads the
 * envelope HTML file (securedoc.html) from the embedded template.
 * SECURITY: parses untrusted envelopes; every field is bounded.
 */
#ifndef SP_ENVELOPE_H
#define SP_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "crypto.h"
#include "sp.h"

#define SP_ENV_VERSION 1
#define SP_ENV_CHUNK 65536		/* plaintext bytes per chunk */
#define SP_ENV_NONCE_PREFIX_LEN 7
#define SP_ENV_ID_LEN 16		/* raw bytes; 22 chars base64url */
#define SP_ENV_ID_STRLEN 22
#define SP_ENV_MAX_HEADER 65536		/* header JSON bytes */
#define SP_ENV_MAX_RECIPIENTS 500
#define SP_ENV_MAX_PAYLOAD ((size_t)512 << 20)	/* ciphertext bytes */

struct sp_env_header {
	int version;				/* 1 (SP_ENV_VERSION) or 2: signed */
	char id[SP_ENV_ID_STRLEN + 1];		/* base64url of 16 random bytes */
	char *keyd;				/* key server base URL, no trailing '/' */
	char *org;				/* sending organisation's display name */
	char *from;				/* sender address */
	char **to;				/* recipient addresses (lower-case) */
	size_t nto;
	int64_t created;			/* unix seconds */
	int64_t expires;			/* unix seconds, 0 = none */
	unsigned char nonce_prefix[SP_ENV_NONCE_PREFIX_LEN];
	/* version 2 only (docs/envelope-format.md section 7) */
	char kid[12];				/* signing key id, 11 base64url characters */
	char level[8];				/* "high", "medium" or "low" */
	int verify;				/* 1: a verification secret is required */
};

/* Release the strings owned by h (not h itself). */
void sp_env_header_clear(struct sp_env_header *h);

/* Serialise h into canonical JSON bytes (appended to out). */
int sp_env_header_encode(const struct sp_env_header *h, struct sp_buf *out,
    struct sp_err *err);
/* Parse and validate header JSON bytes into h (h owns its strings after). */
int sp_env_header_decode(const unsigned char *p, size_t n,
    struct sp_env_header *h, struct sp_err *err);

/* key = HKDF-SHA256(ikm = server_part || mail_part, salt = "sealpost/vN",
 *                   info = "message key " || id), N the header's version
 * (1 or 2; anything else is SP_ERR_INVALID). */
int sp_env_derive_key_v(int version, const unsigned char server_part[SP_KEY_LEN],
    const unsigned char mail_part[SP_KEY_LEN], const char *id,
    unsigned char key[SP_KEY_LEN]);
/* The holder tag of a mail part: HKDF-SHA256(ikm = mail_part, salt =
 * "sealpost/holder", info = "holder"), 32 bytes.  The sealer deposits it;
 * a page that holds the mail (the envelope file, or the mail's link)
 * computes it to show the key server that it does.  The key server cannot
 * get the mail part (256 random bits) back from it. */
int sp_env_holder_tag(const unsigned char mail_part[SP_KEY_LEN],
    unsigned char tag[SP_SHA256_LEN]);
/* The same for format 1 (salt "sealpost/v1"). */
int sp_env_derive_key(const unsigned char server_part[SP_KEY_LEN],
    const unsigned char mail_part[SP_KEY_LEN], const char *id,
    unsigned char key[SP_KEY_LEN]);

/* Chunked encryption as a stream: feed plaintext in any pieces; the
 * encryptor emits each sealed chunk (ciphertext || tag) to out. */
struct sp_env_enc;
int sp_env_enc_new(struct sp_env_enc **enc, const unsigned char key[SP_KEY_LEN],
    const unsigned char nonce_prefix[SP_ENV_NONCE_PREFIX_LEN],
    const unsigned char *header, size_t header_len, struct sp_writer out);
int sp_env_enc_update(struct sp_env_enc *enc, const void *p, size_t n);
/* Seals the final chunk (possibly empty).  Must be called exactly once. */
int sp_env_enc_final(struct sp_env_enc *enc);
void sp_env_enc_free(struct sp_env_enc *enc);	/* wipes the key */

/* Decrypt a whole ciphertext stream (concatenated sealed chunks); appends
 * plaintext to out.  SP_ERR_AUTH on any tampering, truncation or wrong key;
 * out is wiped and reset then. */
int sp_env_decrypt(const unsigned char key[SP_KEY_LEN],
    const unsigned char nonce_prefix[SP_ENV_NONCE_PREFIX_LEN],
    const unsigned char *header, size_t header_len,
    const unsigned char *ct, size_t ctlen, struct sp_buf *out, struct sp_err *err);

/* The envelope HTML file.
 * Writing: the caller gives the header (already encoded), the mail part and
 * a callback that streams the ciphertext; the HTML is built from the
 * embedded template web/envelope/securedoc.html. */
struct sp_env_html_params {
	const struct sp_env_header *header;
	const unsigned char *header_bytes;
	size_t header_len;
	const unsigned char *mail_part;		/* SP_KEY_LEN bytes */
	const char *date_display;		/* e.g. original Date: header, may be NULL */
	const char *subject_display;		/* shown in the envelope, may be NULL */
	const unsigned char *sig;		/* version 2: the 64-byte signature (sign.h) */
	const char *brand_colour;		/* "#rrggbb" or NULL: the organisation's colour */
	const unsigned char *brand_logo;	/* PNG bytes or NULL: the organisation's logo */
	size_t brand_logo_len;
	const char *lang;			/* the envelope's language (i18n.h); NULL: English */
};
/* Writes securedoc.html to out: template, header, mail part, then the
 * payload as base64 in 76-character lines.  ct/ctlen is the complete
 * ciphertext stream.  All output is 7-bit ASCII with lines < 998 bytes. */
int sp_env_html_write(const struct sp_env_html_params *p,
    const unsigned char *ct, size_t ctlen, struct sp_writer out, struct sp_err *err);

/* The same file with the ciphertext made while it is written: at the
 * payload, produce(ctx, ct) is called once and must write the whole
 * ciphertext stream to ct, in any pieces (they are base64-encoded as they
 * come, the text being the same as sp_env_html_write() writes for the whole
 * stream); for format 2 it must also fill the signature p->sig points to
 * before it returns (it is written after the payload).  produce's failure
 * (a status, err set by it) ends the write. */
typedef int (*sp_env_produce_fn)(void *ctx, struct sp_writer ct);
int sp_env_html_write_stream(const struct sp_env_html_params *p, sp_env_produce_fn produce,
    void *ctx, struct sp_writer out, struct sp_err *err);

/* Reading an envelope HTML file: extracts the exact header bytes, the parsed
 * header, the mail part and the ciphertext (decoded from base64).
 * SP_ERR_INVALID with a message when it is not a sealpost envelope. */
struct sp_env_file {
	struct sp_buf header_bytes;
	struct sp_env_header header;
	unsigned char mail_part[SP_KEY_LEN];
	struct sp_buf ct;
	int has_sig;				/* version 2: sig holds the envelope's signature */
	unsigned char sig[64];
};
int sp_env_html_read(const unsigned char *html, size_t len,
    struct sp_env_file *f, struct sp_err *err);
void sp_env_file_clear(struct sp_env_file *f);	/* wipes the mail part */

#endif

/*
 * libagentauthz: engine keys and task tokens.
 *
 * Included by <agentauthz.h>, after its error and export definitions; do not
 * include this header on its own. The conventions of agentauthz.h hold for
 * every call here: 0 or a negative AGENTAUTHZ_E* code, a caller-owned
 * agentauthz_error that may be NULL, constructors with an out-parameter,
 * destructors that accept NULL, and no global state.
 *
 * Key file format, version 1 (text, ASCII, LF line ends, exactly four lines
 * in this order; the final newline may be omitted, nothing else may be):
 *
 *     agentauthz-keys v1
 *     sign: <43 base64url characters: the 32-byte Ed25519 seed>
 *     master: <43 base64url characters: the 32-byte master key>
 *     audit: <43 base64url characters: the 32-byte audit key>
 *
 * base64url is RFC 4648 section 5 without padding, canonical (unused bits
 * zero). A key file must be a regular file of at most 4096 bytes with no
 * permission bit for group or other (mode 0600 or 0400).
 *
 * Public key text: "azpk1." followed by the 32-byte Ed25519 public key in
 * base64url without padding (49 characters in all).
 *
 * Task token format, version 1:
 *
 *     aztk.v1.public.<base64url(payload)>.<base64url(signature)>
 *
 * signature is the 64-byte Ed25519 signature of the bytes "aztk.v1.public."
 * followed by the payload bytes, so a signature cannot be moved to another
 * token version or purpose. payload is compact JSON (UTF-8) with exactly
 * these keys, "iss" optional, no others:
 *
 *     {"v":1,"iss":"...","sub":"<identity>","task":"...","sid":"<session>",
 *      "aud":"...","iat":<unix seconds>,"exp":<unix seconds>,
 *      "tools":["...",...],"parent":null|"<parent session>"}
 *
 * iat and exp are integers in [0, 2^53 - 1] with iat <= exp; every string,
 * tool names included, is non-empty valid UTF-8 with no NUL byte; at most
 * AGENTAUTHZ_TOKEN_TOOLS_MAX tools; the whole token at most
 * AGENTAUTHZ_TOKEN_MAX bytes.
 */
#ifndef AGENTAUTHZ_SECRETS_H
#define AGENTAUTHZ_SECRETS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Engine keys                                                         */
/* ------------------------------------------------------------------ */

/*
 * An engine's keys: an Ed25519 signing key pair (task tokens), a master key
 * (derived secrets) and an audit key (the audit log's MAC chain). The bytes
 * live in libsodium guarded memory (guard pages, locked, read-only after
 * setup) and are wiped when the keys are freed. A keys object is immutable:
 * every call taking a const agentauthz_keys * may run concurrently.
 */
typedef struct agentauthz_keys agentauthz_keys;

#define AGENTAUTHZ_PUBKEY_BYTES 32
/* Bytes needed for the public key text with its NUL ("azpk1." + 43 + 1). */
#define AGENTAUTHZ_PUBKEY_TEXT_MAX 50

/*
 * Makes fresh random keys. The caller frees them with agentauthz_keys_free.
 * AGENTAUTHZ_ENOMEM when guarded memory cannot be had, AGENTAUTHZ_ECRYPTO
 * when libsodium cannot be initialised. Thread-safe.
 */
AGENTAUTHZ_API AGENTAUTHZ_WUR int agentauthz_keys_generate(agentauthz_keys **out,
                                                            agentauthz_error *err);

/*
 * Loads keys from the text of a key file (len bytes, not NUL-terminated).
 * A malformed text gives AGENTAUTHZ_ECRYPTO with err's line, column and
 * offset saying where and what was expected; the message never holds key
 * bytes. The input is only read: the caller wipes its own copy. The caller
 * frees the keys with agentauthz_keys_free. Thread-safe.
 */
AGENTAUTHZ_API AGENTAUTHZ_WUR int agentauthz_keys_load(const void *bytes, size_t len,
                                                        agentauthz_keys **out,
                                                        agentauthz_error *err);

/*
 * Loads keys from a key file. Refuses with AGENTAUTHZ_EPERM a file that
 * group or other may read, write or execute, with AGENTAUTHZ_EIO one that
 * is not a regular file or cannot be read, with AGENTAUTHZ_ELIMIT one over
 * 4096 bytes; otherwise as agentauthz_keys_load, with err->path set. The
 * library wipes its read buffer. The caller frees the keys with
 * agentauthz_keys_free. Thread-safe.
 */
AGENTAUTHZ_API AGENTAUTHZ_WUR int agentauthz_keys_load_file(const char *path,
                                                             agentauthz_keys **out,
                                                             agentauthz_error *err);

/*
 * Writes k to a new key file at path, mode 0600. Refuses to replace or
 * follow anything already there (AGENTAUTHZ_EEXIST); AGENTAUTHZ_EIO when
 * the file cannot be written, in which case no partial file is left.
 * Thread-safe (k is only read).
 */
AGENTAUTHZ_API AGENTAUTHZ_WUR int agentauthz_keys_save_file(const agentauthz_keys *k,
                                                             const char *path,
                                                             agentauthz_error *err);

/*
 * Writes the public key as NUL-terminated text ("azpk1.<base64url>") into
 * out, which has cap bytes (at least AGENTAUTHZ_PUBKEY_TEXT_MAX, else
 * AGENTAUTHZ_EINVAL). Thread-safe.
 */
AGENTAUTHZ_API int agentauthz_keys_public(const agentauthz_keys *k, char *out, size_t cap);

/* Copies the raw 32-byte public key into pk. Thread-safe. */
AGENTAUTHZ_API int agentauthz_keys_public_raw(const agentauthz_keys *k,
                                              unsigned char pk[AGENTAUTHZ_PUBKEY_BYTES]);

/* Wipes and frees the keys. NULL is a no-op. No other call on k may be running. */
AGENTAUTHZ_API void agentauthz_keys_free(agentauthz_keys *k);

/*
 * Parses public key text ("azpk1." and 43 base64url characters, nothing
 * else, NUL-terminated) into pk. AGENTAUTHZ_ECRYPTO when malformed, with err
 * saying why. Thread-safe.
 */
AGENTAUTHZ_API AGENTAUTHZ_WUR int agentauthz_pubkey_parse(const char *text,
                                                           unsigned char pk[AGENTAUTHZ_PUBKEY_BYTES],
                                                           agentauthz_error *err);

/* ------------------------------------------------------------------ */
/* Task tokens                                                         */
/* ------------------------------------------------------------------ */

#define AGENTAUTHZ_TOKEN_MAX 8192      /* bytes of a token, without its NUL */
#define AGENTAUTHZ_TOKEN_TOOLS_MAX 256 /* tools of one token */

/*
 * A token's claims. For agentauthz_token_sign the caller owns the struct and
 * its strings (issuer and parent may be NULL; tools may be NULL when
 * tools_count is 0). A struct returned by the library is one allocation the
 * caller frees with agentauthz_token_claims_free, and only so; issuer and
 * parent are NULL when the token has none.
 */
typedef struct agentauthz_token_claims {
    char *identity; /* "sub": the workload identity */
    char *task;     /* "task" */
    char *session;  /* "sid": the session id */
    char *audience; /* "aud" */
    char *issuer;   /* "iss", or NULL */
    char *parent;   /* "parent": the parent session's id, or NULL */
    int64_t iat;    /* issued at, unix seconds */
    int64_t exp;    /* expires at, unix seconds */
    char **tools;   /* the tools the task may call */
    size_t tools_count;
} agentauthz_token_claims;

typedef struct agentauthz_token_verify_options {
    unsigned version;     /* AGENTAUTHZ_TOKEN_VERIFY_OPTIONS_VERSION */
    const char *audience; /* required audience; NULL accepts any (borrowed) */
    int64_t now;          /* unix seconds; 0: the system clock, time(NULL) */
    uint32_t skew;        /* clock skew tolerated, seconds, at most 86400 */
} agentauthz_token_verify_options;

#define AGENTAUTHZ_TOKEN_VERIFY_OPTIONS_VERSION 1
#define AGENTAUTHZ_TOKEN_VERIFY_OPTIONS_INIT {AGENTAUTHZ_TOKEN_VERIFY_OPTIONS_VERSION, NULL, 0, 60}

/*
 * Signs claims with k's signing key. On success *out is a new NUL-terminated
 * token the caller frees with agentauthz_free; on failure *out is NULL.
 * AGENTAUTHZ_EINVAL for claims outside the format above (a missing string,
 * invalid UTF-8, exp before iat, ...), AGENTAUTHZ_ELIMIT when the token
 * would exceed AGENTAUTHZ_TOKEN_MAX. Thread-safe.
 */
AGENTAUTHZ_API AGENTAUTHZ_WUR int agentauthz_token_sign(const agentauthz_keys *k,
                                                         const agentauthz_token_claims *c,
                                                         char **out, agentauthz_error *err);

/*
 * Verifies a token (len bytes) offline with the 32-byte public key pk. The
 * signature is checked before the payload is parsed. Errors:
 * AGENTAUTHZ_ETOKEN malformed (bad prefix or version, bad base64url, wrong
 * length, extra dots, bad JSON, a missing, extra or wrongly typed claim,
 * over AGENTAUTHZ_TOKEN_MAX, or not valid yet: iat > now + skew);
 * AGENTAUTHZ_ESIGNATURE the signature does not verify; AGENTAUTHZ_EEXPIRED
 * now > exp + skew; AGENTAUTHZ_EAUDIENCE the audience is not opt->audience.
 * opt may be NULL (AGENTAUTHZ_TOKEN_VERIFY_OPTIONS_INIT). On success, if
 * out is not NULL, *out receives the claims (free with
 * agentauthz_token_claims_free); on failure *out is NULL. Error messages
 * never quote the token. Thread-safe.
 */
AGENTAUTHZ_API AGENTAUTHZ_WUR int agentauthz_token_verify(
    const unsigned char pk[AGENTAUTHZ_PUBKEY_BYTES], const char *token, size_t len,
    const agentauthz_token_verify_options *opt, agentauthz_token_claims **out,
    agentauthz_error *err);

/* Frees claims the library returned. NULL is a no-op. */
AGENTAUTHZ_API void agentauthz_token_claims_free(agentauthz_token_claims *c);

/*
 * A verifier: a public key, fixed options and a bounded cache of tokens it
 * has verified, so that a token seen again costs a hash and a table lookup
 * instead of a signature check. Expiry and revocation are still checked on
 * every call. Every verifier call may run concurrently with any other on the
 * same verifier, except agentauthz_verifier_free.
 */
typedef struct agentauthz_verifier agentauthz_verifier;

#define AGENTAUTHZ_VERIFIER_CACHE_MAX 1048576u   /* cache_entries bound */
#define AGENTAUTHZ_VERIFIER_REVOKED_MAX 65536u   /* revoked sessions bound */

/*
 * Creates a verifier for pk (copied) with options opt (copied, audience
 * included; NULL: AGENTAUTHZ_TOKEN_VERIFY_OPTIONS_INIT; opt->now is
 * ignored). cache_entries is the table size, 0 for no cache, at most
 * AGENTAUTHZ_VERIFIER_CACHE_MAX. The caller frees it with
 * agentauthz_verifier_free. Thread-safe.
 */
AGENTAUTHZ_API AGENTAUTHZ_WUR int agentauthz_verifier_new(
    const unsigned char pk[AGENTAUTHZ_PUBKEY_BYTES], const agentauthz_token_verify_options *opt,
    size_t cache_entries, agentauthz_verifier **out, agentauthz_error *err);

/*
 * Verifies a token as agentauthz_token_verify does, at time now (unix
 * seconds; 0: the system clock), through the cache. Also fails with
 * AGENTAUTHZ_ESESSION when the token's session or parent session has been
 * revoked on this verifier. out may be NULL; else *out receives claims the
 * caller frees with agentauthz_token_claims_free. Safe concurrently.
 */
AGENTAUTHZ_API AGENTAUTHZ_WUR int agentauthz_verifier_verify(agentauthz_verifier *v,
                                                              const char *token, size_t len,
                                                              int64_t now,
                                                              agentauthz_token_claims **out,
                                                              agentauthz_error *err);

/*
 * Revokes a session id (copied as a hash): every later verify of a token
 * with that "sid" or "parent" fails, cached or not. Idempotent.
 * AGENTAUTHZ_ELIMIT once AGENTAUTHZ_VERIFIER_REVOKED_MAX distinct ids are
 * revoked (a revocation is never dropped to make room). Safe concurrently.
 */
AGENTAUTHZ_API int agentauthz_verifier_revoke(agentauthz_verifier *v, const char *session_id);

/* Frees the verifier and its cache. NULL is a no-op. Not concurrent with other calls on v. */
AGENTAUTHZ_API void agentauthz_verifier_free(agentauthz_verifier *v);

#ifdef __cplusplus
}
#endif

#endif /* AGENTAUTHZ_SECRETS_H */

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
 * Task token format: a JWT (RFC 7519) in the compact JWS serialization
 * (RFC 7515), signed with Ed25519 (RFC 8037, "alg": "EdDSA"), shaped after
 * OAuth Transaction Tokens (draft-ietf-oauth-transaction-tokens):
 *
 *     BASE64URL(header) "." BASE64URL(payload) "." BASE64URL(signature)
 *
 * base64url without padding, canonical. signature is the 64-byte Ed25519
 * signature of the ASCII bytes BASE64URL(header) "." BASE64URL(payload).
 * The header, as the library signs it, is exactly
 *
 *     {"alg":"EdDSA","typ":"txntoken+jwt","kid":"<kid>"}
 *
 * where kid is the RFC 7638 JWK thumbprint of the public key: the base64url
 * SHA-256 of the bytes {"crv":"Ed25519","kty":"OKP","x":"<x>"}, x the
 * base64url public key (43 characters each). The payload is compact JSON
 * (UTF-8), members in this order:
 *
 *     {"iss":"<engine name>","sub":"<identity>","aud":"<audience>",
 *      "iat":<unix seconds>,"exp":<unix seconds>,"txn":"<session id>",
 *      "scope":"<task>","tctx":{"tools":["...",...],
 *      "parent":"<parent session id>","params":{"<name>":<value>,...}}}
 *
 * "iss" is omitted when the engine has no name, "parent" when the session
 * has none, "params" when the task shares no parameter (the policy's
 * token_params). iat and exp are integers in [0, 2^53 - 1] with iat <= exp;
 * every string, tool names included, is non-empty valid UTF-8 with no NUL
 * byte; at most AGENTAUTHZ_TOKEN_TOOLS_MAX tools; the whole token at most
 * AGENTAUTHZ_TOKEN_MAX bytes.
 *
 * A verifier accepts a header with exactly the members "alg" ("EdDSA"),
 * "typ" ("txntoken+jwt" or "application/txntoken+jwt", any case) and "kid"
 * (a key it holds), in any order, and a payload with exactly the claims
 * above ("aud" a string, not a list); any other member is refused.
 *
 * JWK Set (RFC 7517) of a public key, as agentauthz_keys_jwks writes it:
 *
 *     {"keys":[{"kty":"OKP","crv":"Ed25519","x":"<x>","kid":"<kid>",
 *               "alg":"EdDSA","use":"sig"}]}
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

/* Bytes needed for a key id (the JWK thumbprint: 43 characters) with its NUL. */
#define AGENTAUTHZ_KID_TEXT_MAX 44
/* Bytes needed for the JWK Set of one public key with its NUL. */
#define AGENTAUTHZ_JWKS_TEXT_MAX 176
/* The most bytes of JWK Set text agentauthz_verifier_new_jwks reads, and keys it keeps. */
#define AGENTAUTHZ_JWKS_MAX 65536
#define AGENTAUTHZ_JWKS_KEYS_MAX 16

/*
 * Writes the key id of the public key pk, its RFC 7638 JWK thumbprint (43
 * base64url characters), NUL-terminated, into out, which has cap bytes (at
 * least AGENTAUTHZ_KID_TEXT_MAX, else AGENTAUTHZ_EINVAL). Thread-safe.
 */
AGENTAUTHZ_API int agentauthz_pubkey_kid(const unsigned char pk[AGENTAUTHZ_PUBKEY_BYTES],
                                         char *out, size_t cap);

/*
 * Writes the JWK Set of the public key pk (the format above), NUL-terminated,
 * into out, which has cap bytes (at least AGENTAUTHZ_JWKS_TEXT_MAX, else
 * AGENTAUTHZ_EINVAL). A service verifies task tokens with it and any JWT
 * library. Thread-safe.
 */
AGENTAUTHZ_API int agentauthz_pubkey_jwks(const unsigned char pk[AGENTAUTHZ_PUBKEY_BYTES],
                                          char *out, size_t cap);

/* As agentauthz_pubkey_jwks, for k's public key. Thread-safe. */
AGENTAUTHZ_API int agentauthz_keys_jwks(const agentauthz_keys *k, char *out, size_t cap);

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
 * tools_count is 0; params may be NULL, else it is the JSON text of an
 * object, at most AGENTAUTHZ_TOKEN_MAX bytes, written into the token in
 * compact form, and omitted when empty). A struct returned by the library is
 * one allocation the caller frees with agentauthz_token_claims_free, and
 * only so; issuer, parent and params are NULL when the token has none.
 */
typedef struct agentauthz_token_claims {
    char *identity; /* "sub": the workload identity */
    char *task;     /* "scope": the task */
    char *session;  /* "txn": the session id */
    char *audience; /* "aud" */
    char *issuer;   /* "iss", or NULL */
    char *parent;   /* "tctx.parent": the parent session's id, or NULL */
    int64_t iat;    /* issued at, unix seconds */
    int64_t exp;    /* expires at, unix seconds */
    char **tools;   /* "tctx.tools": the tools the task may call */
    size_t tools_count;
    char *params;   /* "tctx.params" as compact JSON object text, or NULL: none */
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
 * Verifies a token (len bytes) offline with the 32-byte public key pk (its
 * key id the thumbprint of pk). The header is checked, then the signature,
 * and only then is the payload parsed. Each refusal has its own code:
 * AGENTAUTHZ_ELIMIT over AGENTAUTHZ_TOKEN_MAX bytes, a header over 1024
 * bytes, or JSON over the parser's bounds (nesting, items);
 * AGENTAUTHZ_EJSON a header or payload that repeats a key;
 * AGENTAUTHZ_EALGORITHM "alg" is "none" or any algorithm but "EdDSA";
 * AGENTAUTHZ_EKEYID "kid" is missing or names no key the verifier holds;
 * AGENTAUTHZ_ETOKENTYPE "typ" is missing or not the transaction token type;
 * AGENTAUTHZ_ESIGNATURE the signature does not verify; AGENTAUTHZ_EEXPIRED
 * now > exp + skew; AGENTAUTHZ_EAUDIENCE the audience is not opt->audience;
 * AGENTAUTHZ_ETOKEN anything else malformed (not three base64url parts,
 * not canonical base64url, not JSON, a "crit" or other unknown header
 * member, a missing, extra or wrongly typed claim, or not valid yet:
 * iat > now + skew). opt may be NULL (AGENTAUTHZ_TOKEN_VERIFY_OPTIONS_INIT).
 * On success, if out is not NULL, *out receives the claims (free with
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
 * As agentauthz_verifier_new, for the Ed25519 keys of a JWK Set (len bytes
 * of JSON text, at most AGENTAUTHZ_JWKS_MAX). A token is verified with the
 * key whose "kid" member (or, without one, whose JWK thumbprint) is the
 * token's "kid". Keys of another type, curve, "use" or "alg" are skipped;
 * a set with none left, more than AGENTAUTHZ_JWKS_KEYS_MAX, a repeated kid,
 * a private key ("d") or a malformed "x" is refused with
 * AGENTAUTHZ_ECRYPTO (AGENTAUTHZ_EJSON for text that is not JSON), err
 * saying why. Thread-safe.
 */
AGENTAUTHZ_API AGENTAUTHZ_WUR int agentauthz_verifier_new_jwks(
    const char *jwks, size_t len, const agentauthz_token_verify_options *opt,
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
 * with that "txn" or "tctx.parent" fails, cached or not. Idempotent.
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

/*
 * The leak scanner (leak.c). Private; to be merged into internal.h.
 *
 * A set of live secrets is compiled once, when the secrets are issued, into
 * an immutable matcher that finds any of them, raw or encoded, in a byte
 * string: az_leak_scan answers "is any secret in here?" for the check, and
 * az_leak_scrub replaces every occurrence in a tool's output with
 * "[redacted:NAME]".
 *
 * What is looked for, for each secret (az_leak_encodings):
 *  - the raw bytes;
 *  - hex, lowercase and uppercase;
 *  - base64 (RFC 4648 standard alphabet) and base64url: for each of the
 *    three byte alignments the secret can have inside a larger encoded text,
 *    the "stable core", the characters that depend on the secret's bytes
 *    only (partial characters at both ends dropped). Padded and unpadded
 *    full encodings contain the alignment-0 core, so they are found too;
 *  - percent-encoding: every byte outside the RFC 3986 unreserved set as %XX
 *    uppercase; the same with lowercase hex; every byte as %XX uppercase.
 * Identical patterns are kept once (the first kind in az_leak_kind order).
 *
 * Secrets shorter than AZ_LEAK_MIN_SECRET (8) bytes are refused with
 * AGENTAUTHZ_EINVAL: the matcher probes 8-byte windows, and a shorter
 * pattern would also match ordinary text far too often to deny on.
 * Mixed-case hex, lowercase-only full percent-encoding and other encodings
 * (nested, split across arguments, compressed) are not detected.
 *
 * The scan cost does not grow with the number of secrets (up to cache
 * effects): it probes one 8-byte window every (m - 7) bytes, m being the
 * shortest secret's length (capped at AZ_LEAK_MAX_STEP), so one short secret
 * slows the scan of the whole set.
 */
#ifndef AZ_LEAK_PRIVATE_H
#define AZ_LEAK_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"

#define AZ_LEAK_MIN_SECRET 8u                    /* shortest secret, bytes      */
#define AZ_LEAK_MAX_SECRET (64u * 1024u)         /* longest secret, bytes       */
#define AZ_LEAK_MAX_SECRETS (1024u * 1024u)      /* secrets of one set          */
#define AZ_LEAK_MAX_BYTES (512u * 1024u * 1024u) /* encoded bytes of one set  */
#define AZ_LEAK_MAX_STEP 64u /* longest probe stride; windows indexed per pattern */
#define AZ_LEAK_MAX_ENC 12u  /* patterns of one secret      */

/* How a pattern encodes its secret. The order is the dedup preference. */
typedef enum az_leak_kind {
    AZ_LEAK_RAW = 0,
    AZ_LEAK_HEX_LOWER,
    AZ_LEAK_HEX_UPPER,
    AZ_LEAK_BASE64,        /* a stable core, standard alphabet */
    AZ_LEAK_BASE64URL,     /* a stable core, URL-safe alphabet */
    AZ_LEAK_PERCENT,       /* reserved bytes as %XX, uppercase */
    AZ_LEAK_PERCENT_LOWER, /* reserved bytes as %xx, lowercase */
    AZ_LEAK_PERCENT_ALL    /* every byte as %XX, uppercase     */
} az_leak_kind;

/* A static name for kind ("raw", "hex", "base64", ...), for reasons and logs. */
const char *az_leak_kind_name(az_leak_kind kind);

/* One pattern written by az_leak_encodings: dst[off .. off + len). */
typedef struct az_leak_enc {
    az_leak_kind kind;
    uint8_t align; /* base64 kinds: the secret's offset mod 3; else 0 */
    size_t off;
    size_t len;
} az_leak_enc;

/*
 * Bytes that az_leak_encodings may write for a secret of len bytes (an
 * upper bound: 22 * len + 6), or 0 when len is outside
 * [AZ_LEAK_MIN_SECRET, AZ_LEAK_MAX_SECRET].
 */
size_t az_leak_encodings_bound(size_t len);

/*
 * Writes every pattern for the secret (len bytes) into dst (cap bytes, at
 * least az_leak_encodings_bound(len)), describes them in enc (at most
 * AZ_LEAK_MAX_ENC entries; *nenc gets the count) and stores the bytes used
 * in *used. Duplicates are dropped. Returns 0, or AGENTAUTHZ_EINVAL for a
 * secret shorter than AZ_LEAK_MIN_SECRET, longer than AZ_LEAK_MAX_SECRET,
 * a NULL argument, or a cap below the bound. dst then holds secret
 * material: the caller keeps it in guarded memory and wipes it.
 * No allocation; thread-safe.
 */
int az_leak_encodings(const unsigned char *secret, size_t len, unsigned char *dst, size_t cap,
                      az_leak_enc enc[AZ_LEAK_MAX_ENC], size_t *nenc, size_t *used);

/* One secret to build a set from. Everything is borrowed during the build. */
typedef struct az_leak_secret {
    uint32_t id;       /* caller-chosen, returned in hits */
    const char *name;  /* NUL-terminated, 1..AZ_MAX_NAME of [A-Za-z0-9_.:-] */
    const void *bytes; /* the secret's value */
    size_t len;        /* AZ_LEAK_MIN_SECRET..AZ_LEAK_MAX_SECRET */
} az_leak_secret;

/* The compiled matcher. Immutable after build. */
typedef struct az_leak_set az_leak_set;

/*
 * Compiles n secrets (n may be 0: a set that never matches) into a new set
 * the caller frees with az_leak_set_free. The encoded patterns live in one
 * libsodium guarded allocation, read-only after the build and wiped on
 * free; the caller's secrets are only read. Returns 0; AGENTAUTHZ_EINVAL for
 * a NULL out, a NULL secrets with n > 0, a bad name or a secret length out
 * of bounds; AGENTAUTHZ_ELIMIT past AZ_LEAK_MAX_SECRETS secrets or
 * AZ_LEAK_MAX_BYTES encoded bytes; AGENTAUTHZ_ENOMEM; AGENTAUTHZ_ECRYPTO
 * when libsodium cannot be initialised or the pages protected. *out is NULL
 * on failure. Thread-safe (no shared state); O(total encoded bytes).
 */
int az_leak_set_build(const az_leak_secret *secrets, size_t n, az_leak_set **out);

/* Wipes and frees the set. NULL is a no-op. No scan may be running on it. */
void az_leak_set_free(az_leak_set *set);

/* The number of patterns and the bytes the set holds (for tests and benches). */
size_t az_leak_set_patterns(const az_leak_set *set);
size_t az_leak_set_memory(const az_leak_set *set);

/* Where a secret was found. name is borrowed from the set, valid while it lives. */
typedef struct az_leak_hit {
    uint32_t id;
    const char *name;
    az_leak_kind kind;
    size_t offset; /* of the matched pattern in the data */
    size_t len;    /* of the matched pattern */
} az_leak_hit;

/*
 * Looks for any pattern of set in data (len bytes). Returns 1 and fills
 * *hit (if not NULL) with some match (any one, not necessarily the first in
 * the data), 0 when none is there or set is NULL, AGENTAUTHZ_EINVAL for
 * NULL data with len > 0. Never allocates. Safe to call concurrently on the
 * same set from any number of threads.
 */
int az_leak_scan(const az_leak_set *set, const void *data, size_t len, az_leak_hit *hit);

/*
 * Appends data to out with every occurrence of every pattern replaced by
 * "[redacted:NAME]". Overlapping matches are replaced together: their union
 * becomes one marker, named after the longest match at the leftmost start;
 * matches that only touch get one marker each. A NULL set copies data.
 * Returns 0, AGENTAUTHZ_EINVAL (NULL out, or NULL data with len > 0),
 * AGENTAUTHZ_ENOMEM, or AGENTAUTHZ_ELIMIT when out would pass its cap; on
 * error out may hold a partial prefix of the result, which the caller
 * discards. Safe to call concurrently on the same set (with distinct outs).
 *
 * Limitation: a secret whose value contains a marker's text could be
 * reassembled from markers and the surrounding text; issued secrets are
 * random and cannot in practice.
 */
int az_leak_scrub(const az_leak_set *set, const void *data, size_t len, az_buf *out);

#endif /* AZ_LEAK_PRIVATE_H */

/*
 * The leak scanner (leak.c). Private; to be merged into internal.h.
 *
 * A set of secrets is compiled into an immutable matcher that finds any of
 * them, raw or encoded, in a byte string: az_leak_scan answers "is any
 * secret in here?" for the check, and az_leak_scrub replaces every
 * occurrence in a tool's output with "[redacted:NAME]". The engine keeps
 * its live secrets in an az_leak_index (below): each secret is encoded once,
 * when issued, and the matcher it publishes is a small recent set chained
 * to a larger base set, whose dead secrets are skipped until a rebuild.
 *
 * What is looked for, for each secret (az_leak_encodings):
 *  - the raw bytes;
 *  - hex, in any case (upper, lower or mixed): plain, and with ':' or ' '
 *    between the bytes ("de:ad:be:ef", "de ad be ef"); C escapes
 *    ("\xde\xad") are decoded by the view below, and found as raw bytes;
 *  - base64 (RFC 4648 standard alphabet) and base64url: for each of the
 *    three byte alignments the secret can have inside a larger encoded text,
 *    the "stable core", the characters that depend on the secret's bytes
 *    only (partial characters at both ends dropped). Padded and unpadded
 *    full encodings contain the alignment-0 core, so they are found too;
 *  - percent-encoding, hex digits in any case: every byte outside the
 *    RFC 3986 unreserved set as %XX; every byte as %XX.
 * Identical patterns are kept once (the first kind in az_leak_kind order).
 * Case is folded where an encoding does not define it: every probe hashes
 * its window with ASCII letters folded to lowercase, and a candidate is
 * verified exactly for raw and base64 patterns, with hex digits compared
 * without case for the hex and percent ones.
 *
 * Then, when the text holds a line break, a backslash or a '%', the same
 * patterns are looked for in a normalised view of it (az_leak_normalise):
 * percent-escapes decoded, through any number of "%25" layers; JSON and C
 * escapes (\uXXXX, \xNN, \/ \\ \") decoded; line breaks (raw, or the
 * escapes \n and \r) removed with the spaces and tabs around them, so
 * that base64 wrapped at any width (MIME's 76 columns with CRLF, PEM's 64
 * with LF, indented YAML blocks) reads as one line. Matches in the view are
 * reported and scrubbed at the input bytes they decode from.
 *
 * Secrets shorter than AZ_LEAK_MIN_SECRET (8) bytes are refused with
 * AGENTAUTHZ_EINVAL: the matcher probes 8-byte windows, and a shorter
 * pattern would also match ordinary text far too often to deny on.
 * Not detected: a secret split across strings (two arguments), compressed
 * or encrypted, transformed (reversed, interleaved), encodings nested
 * beyond one normalisation pass (e.g. base64 of hex, percent-encoded JSON
 * escapes), and other encodings (base32, decimal, ...).
 *
 * The scan cost does not grow with the number of secrets (up to cache
 * effects): it probes one 8-byte window every (m - 7) bytes, m being the
 * shortest secret's length (capped at AZ_LEAK_MAX_STEP), so one short secret
 * slows the scan of the whole set.
 */
#ifndef AZ_LEAK_PRIVATE_H
#define AZ_LEAK_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "internal.h"

#define AZ_LEAK_MIN_SECRET 8u                    /* shortest secret, bytes      */
#define AZ_LEAK_MAX_SECRET (64u * 1024u)         /* longest secret, bytes       */
#define AZ_LEAK_MAX_SECRETS (1024u * 1024u)      /* secrets of one set          */
#define AZ_LEAK_MAX_BYTES (512u * 1024u * 1024u) /* encoded bytes of one set  */
#define AZ_LEAK_MAX_STEP 64u /* longest probe stride; windows indexed per pattern */
#define AZ_LEAK_MAX_ENC 16u  /* patterns of one secret      */
#define AZ_LEAK_MAX_PARTS 2u /* extra parts of one secret (az_leak_secret) */

/* How a pattern encodes its secret. The order is the dedup preference. */
typedef enum az_leak_kind {
    AZ_LEAK_RAW = 0,
    AZ_LEAK_HEX_LOWER, /* hex in any case (verified without case) */
    AZ_LEAK_HEX_UPPER, /* no longer written: AZ_LEAK_HEX_LOWER covers it */
    AZ_LEAK_BASE64,        /* a stable core, standard alphabet */
    AZ_LEAK_BASE64URL,     /* a stable core, URL-safe alphabet */
    AZ_LEAK_PERCENT,       /* reserved bytes as %XX, any case  */
    AZ_LEAK_PERCENT_LOWER, /* no longer written: AZ_LEAK_PERCENT covers it */
    AZ_LEAK_PERCENT_ALL,   /* every byte as %XX, any case      */
    AZ_LEAK_HEX_COLON,     /* hex bytes separated by ':'       */
    AZ_LEAK_HEX_SPACE      /* hex bytes separated by ' '       */
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
 * upper bound: 23 * len + 6), or 0 when len is outside
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

/*
 * One secret to build a set from. Everything is borrowed during the build.
 * parts are distinctive pieces of the value that are a leak on their own
 * (a token's payload and signature without its fixed prefix): each is
 * looked for in all its encodings as well, and reported under the
 * secret's id and name. Parts shorter than AZ_LEAK_MIN_SECRET are ignored.
 * Only az_leak_index_add honours them.
 */
typedef struct az_leak_secret {
    uint32_t id;       /* caller-chosen, returned in hits */
    const char *name;  /* NUL-terminated, 1..AZ_MAX_NAME of [A-Za-z0-9_.:-] */
    const void *bytes; /* the secret's value */
    size_t len;        /* AZ_LEAK_MIN_SECRET..AZ_LEAK_MAX_SECRET */
    const void *parts[AZ_LEAK_MAX_PARTS]; /* within bytes, or NULL */
    size_t part_len[AZ_LEAK_MAX_PARTS];
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

/*
 * Drops a reference to the set (az_leak_set_build and
 * az_leak_set_build_entries return one, az_leak_set_ref adds one); the
 * last wipes and frees it, with its references to entries and to the next
 * set. NULL is a no-op. No scan may be running on it with that reference.
 */
void az_leak_set_free(az_leak_set *set);

/*
 * The number of patterns and the bytes the set holds, its next set's
 * included (for tests and benches; an entry's patterns count in each set
 * that refers to it).
 */
size_t az_leak_set_patterns(const az_leak_set *set);
size_t az_leak_set_memory(const az_leak_set *set);

/* Where a secret was found. name is borrowed from the set, valid while it lives. */
typedef struct az_leak_hit {
    uint32_t id;
    const char *name;
    az_leak_kind kind;
    size_t offset; /* of the matched pattern in the data */
    size_t len;    /* of the matched pattern (of the bytes it decodes from, if decoded) */
    bool decoded;  /* found in the normalised view (az_leak_normalise) */
} az_leak_hit;

/*
 * Looks for any pattern of set, then of its next set, in data (len bytes),
 * then in its normalised view. Matches of dead entries
 * (az_leak_index_kill) are skipped and the scan goes on. Returns 1 and
 * fills *hit (if not NULL) with some live match (any one, not necessarily
 * the first in the data), 0 when none is there or set is NULL,
 * AGENTAUTHZ_EINVAL for NULL data with len > 0, AGENTAUTHZ_ENOMEM when the
 * view (len bytes, on the stack up to 4 KiB) cannot be allocated: the
 * caller treats an error as a hit (fail closed). The view is wiped before
 * it is freed. Safe to call concurrently on the same set from any number of
 * threads.
 */
int az_leak_scan(const az_leak_set *set, const void *data, size_t len, az_leak_hit *hit);

/*
 * Appends data to out with every occurrence of every pattern replaced by
 * "[redacted:NAME]", the patterns of set's next set and dead entries
 * treated as for az_leak_scan. Overlapping matches are replaced together:
 * their union becomes one marker, named after the longest match at the
 * leftmost start (between sets, the first set's on a tie); matches that
 * only touch get one marker each. A NULL set copies data. With a next set
 * the matches are collected before any is written (memory O(len / 8)).
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

/*
 * The normalised view of in (len bytes) that scans also search, written to
 * out (at least len bytes: the view is never longer), its length in
 * *outlen. Returns 1 when the view differs from in, 0 when it does not
 * (out then holds a copy or a prefix of it). No allocation; thread-safe.
 * For tests; az_leak_scan and az_leak_scrub call it themselves.
 */
int az_leak_normalise(const void *in, size_t len, unsigned char *out, size_t *outlen);

/* ---- the engine's evolving matcher ---- */

/*
 * Rebuilding one set over every live secret on each session open and close
 * costs O(all live secrets) each time (203 us with 2 secrets, 21 ms with
 * 1,000 others live, mostly sodium_malloc, mprotect and re-encoding). An
 * az_leak_index instead keeps:
 *  - entries: each secret's patterns, encoded once when it is added, in
 *    pooled guarded memory (az_secpool slots, no sodium_malloc for secrets
 *    up to 186 bytes), with a copy of its name and an atomic live flag.
 *    Sets hold references to their entries, so names and patterns live as
 *    long as any set that refers to them, and only once in memory;
 *  - a base set over many entries, rebuilt rarely, and a small recent set
 *    over the entries added since, rebuilt on each add and chained to the
 *    base: a scan of the recent set goes on into the base;
 *  - liveness: removing a secret clears its entry's live flag, which every
 *    scan and scrub honours at once (a hit on a dead entry is skipped and
 *    the scan continues). Dead entries leave the sets at the next rebuild:
 *    of the recent set at the next add, of the base once the dead pass
 *    AZ_LEAK_DEAD_MIN and half of the base's live entries.
 * The recent set holds at most max(AZ_LEAK_RECENT_MIN, sqrt(8 x base
 * entries)) live entries, at most AZ_LEAK_RECENT_MAX; an add that would pass
 * that folds it into a new base. This balances a recent rebuild, O(recent),
 * against the base rebuild it defers, O(all) every recent-cap adds. The
 * recent set probes at most every AZ_LEAK_RECENT_STEP bytes, so that each
 * of its patterns inserts that many windows: cheap to build, a little
 * slower to scan than the base.
 *
 * An index is not thread-safe: the caller serialises add, kill, tidy, head
 * and free (the engine's secret_lock). The sets it hands out are immutable
 * and may be scanned by any number of threads while it changes.
 */
#define AZ_LEAK_RECENT_MIN 32u
#define AZ_LEAK_RECENT_MAX 1024u
#define AZ_LEAK_RECENT_STEP 8u
#define AZ_LEAK_DEAD_MIN 32u

/* One secret's patterns, name and liveness. Reference counted, thread-safe. */
typedef struct az_leak_entry az_leak_entry;
typedef struct az_leak_index az_leak_index;

/* Whether the entry's secret is live. Thread-safe. */
bool az_leak_entry_live(const az_leak_entry *en);

/*
 * Compiles n entries into a new set that scans them and then next (which
 * may be NULL, and must have no next of its own), probing at most every
 * max_step bytes (1..AZ_LEAK_MAX_STEP). The set holds references to the
 * entries and to next; no pattern byte is copied. Dead entries are left
 * out. 0, EINVAL, ELIMIT past AZ_LEAK_MAX_SECRETS entries, or ENOMEM; *out
 * is NULL on failure. Thread-safe.
 */
int az_leak_set_build_entries(az_leak_entry *const *entries, size_t n, size_t max_step,
                              az_leak_set *next, az_leak_set **out);

/* Another reference to set (which may be NULL); drop it with az_leak_set_free. */
az_leak_set *az_leak_set_ref(az_leak_set *set);

/* A new empty index; free with az_leak_index_free. 0, ENOMEM or ECRYPTO. */
int az_leak_index_new(az_leak_index **out);

/*
 * Drops the index's sets. Entries and sets still referenced elsewhere (by
 * sessions that scanned with them) stay valid; the guarded memory holding
 * their patterns is freed with the last of them. NULL is a no-op.
 */
void az_leak_index_free(az_leak_index *idx);

/*
 * Encodes n secrets (id, name and bytes as for az_leak_set_build; all
 * borrowed during the call) into new live entries and makes them part of
 * the head set. All or nothing: on failure the index is unchanged. On
 * success out[i] (n slots) is secrets[i]'s entry, borrowed: valid until
 * the caller kills it (live entries never leave the index). 0, EINVAL,
 * ELIMIT, ENOMEM or ECRYPTO.
 */
int az_leak_index_add(az_leak_index *idx, const az_leak_secret *secrets, size_t n,
                      az_leak_entry **out);

/*
 * Marks en dead: every scan, through any set, ignores it from now on. The
 * caller must not use en afterwards. O(1); the sets do not change until
 * az_leak_index_tidy or the next add.
 */
void az_leak_index_kill(az_leak_index *idx, az_leak_entry *en);

/*
 * Drops dead entries when they are worth a rebuild: all of them when none
 * is live (the head becomes NULL), else the base's once its dead pass
 * AZ_LEAK_DEAD_MIN and half its live ones. Returns 1 when the head set
 * changed, 0 when not (a failed rebuild keeps the old sets, which still
 * ignore dead entries).
 */
int az_leak_index_tidy(az_leak_index *idx);

/* The current head set (recent chained to base), or NULL; borrowed until the next change. */
az_leak_set *az_leak_index_head(const az_leak_index *idx);

/* Counts for tests and benches. */
typedef struct az_leak_index_stats {
    size_t live;          /* live entries */
    size_t base;          /* entries of the base set, dead ones included */
    size_t base_dead;     /* dead entries still in the base set */
    size_t recent;        /* entries of the recent set, dead ones included */
    size_t base_rebuilds; /* base sets built so far */
} az_leak_index_stats;

void az_leak_index_get_stats(const az_leak_index *idx, az_leak_index_stats *st);

/* ---- retired secrets ---- */

/*
 * A destroyed secret's output may come back after it ended (a tool result
 * after a revoke, a close or an expiry). The index keeps, for each retired
 * secret, fingerprints of its patterns (keyed hashes, never its bytes; see
 * leak.c) until a deadline, so that scrub still finds and redacts it. Only
 * patterns of at least AZ_LEAK_RETIRED_MIN_PATTERN bytes are kept (so a
 * secret of 8 to 11 bytes is kept in its hex forms with separators and its
 * every-byte percent form only). At most AZ_LEAK_RETIRED_MAX secrets are
 * kept: a retirement past that drops the oldest.
 */
#define AZ_LEAK_RETIRED_MIN_PATTERN 23u
#define AZ_LEAK_RETIRED_MAX 1024u

/* The fingerprints of the retired secrets at one time. Immutable, reference counted. */
typedef struct az_leak_retired az_leak_retired;

/*
 * Keeps en's fingerprints until the engine clock passes until, then marks
 * en dead as az_leak_index_kill does. Under the index's lock. Without
 * memory for the fingerprints, en is only killed.
 */
void az_leak_index_retire(az_leak_index *idx, az_leak_entry *en, uint64_t until);

/*
 * The fingerprints of the secrets retired and not expired at now, in *out
 * (a new reference, the caller drops it with az_leak_retired_free; NULL
 * when there are none). Drops expired ones. Under the index's lock. 0 or
 * AGENTAUTHZ_ENOMEM.
 */
int az_leak_index_retired(az_leak_index *idx, uint64_t now, az_leak_retired **out);

/* Retired secrets held (expired ones not dropped yet included); for tests. */
size_t az_leak_index_retired_count(const az_leak_index *idx);

void az_leak_retired_free(az_leak_retired *m);

/*
 * az_leak_scrub, then also every occurrence of a retired secret (not
 * expired at now) in data and in its normalised view, replaced by
 * "[redacted:NAME]" as for live ones. retired may be NULL, set may be NULL.
 */
int az_leak_scrub_retired(const az_leak_set *set, const az_leak_retired *retired, uint64_t now,
                          const void *data, size_t len, az_buf *out);

#endif /* AZ_LEAK_PRIVATE_H */

/*
 * The leak scanner: finds live secrets, raw or encoded, in action payloads
 * and tool output.
 *
 * The set of secrets changes only when secrets are issued or destroyed,
 * while every check scans, so the work is done at build time: every
 * encoding of every secret is written out once, and a q-gram filter over
 * them (Wu-Manber style, q = 8) is built. A full Aho-Corasick automaton
 * over 10,000 secrets in a dozen encodings each would take hundreds of MB;
 * the filter takes a few bytes per pattern byte.
 *
 * How the filter finds every occurrence. Let m be the shortest pattern and
 * s = m - 7 (at most AZ_LEAK_MAX_STEP). The scan hashes the 8-byte window at
 * positions 0, s, 2s, ... An occurrence of a pattern at p spans at least m
 * bytes, so exactly one probe j lies in [p, p + s - 1], and the window at j
 * lies inside the occurrence at offset j - p < s. So inserting, for every
 * pattern, its windows at offsets 0 .. s - 1 is enough, and each occurrence
 * is seen by exactly one probe, which scrub relies on. Inserting the other
 * offsets as well would only add false candidates.
 *
 * A probe tests a blocked Bloom filter: three bits in one 64-bit word, so a
 * probe costs one cache line. Candidates that pass are looked up in a table
 * bucketed by the same word index (counting sort into one array) and each
 * is verified against the pattern's bytes.
 *
 * Sets built by az_leak_set_build own their patterns (one guarded
 * allocation). The engine's sets are built from entries instead: each
 * secret's patterns are written once, at issue, into pool slots, and every
 * set that covers the secret points at them and holds a reference. So a
 * session open builds only the small recent set of the index below (no
 * encoding, no sodium_malloc, no copy of any secret byte), and a close
 * flips the entry's live flag, which the visitors of the walk check on
 * each (rare) verified match.
 *
 * Encodings that cannot be listed pattern by pattern are handled at scan
 * time, at little cost: case, by hashing every window with its letters
 * folded (a few instructions per probe) and verifying hex digits without
 * case; escapes, percent layers and line breaks, by a second walk over a
 * normalised view of the input, written a block at a time into a buffer
 * that stays in cache, and only when the input holds a byte that starts
 * one of them. Destroyed secrets leave keyed fingerprints that scrub looks
 * for (the retired section below).
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "internal.h"
#include "leak_private.h"
#include "secmem_private.h"

#define Q 8u
/* Bloom bits per inserted window; 16 with 3 bits per key gives ~1% false hits. */
#define BLOOM_BITS_PER_KEY 16u
#define OFF_BITS 8u /* an entry is (pattern << 8) | offset, offset < 256 */
#define MAX_PATTERNS (1u << (32u - OFF_BITS))
_Static_assert(AZ_LEAK_MAX_STEP <= (1u << OFF_BITS), "an entry's offset field is too narrow");
#define MARKER_OPEN "[redacted:"
/* An entry's patterns: the secret's and each part's. */
#define ENTRY_MAX_PATS (AZ_LEAK_MAX_ENC * (1u + AZ_LEAK_MAX_PARTS))
#define WALK_BATCH 8u     /* probes whose Bloom words are fetched together */
#define WALK_MIN_STEP 16u /* shortest stride that gains from batching */

#if defined(__GNUC__)
#define AZ_PREFETCH(p) __builtin_prefetch(p)
#else
#define AZ_PREFETCH(p) ((void)(p))
#endif

typedef struct leak_pat {
    const unsigned char *p; /* into set->bytes, or into an entry's slot */
    size_t len;
    uint32_t secret; /* index into set->secrets */
    az_leak_kind kind;
} leak_pat;

/* One secret of a set: its hits' id and name, and whether it is live. */
typedef struct leak_src {
    uint32_t id;
    const char *name;     /* into set->names or the entry */
    az_leak_entry *entry; /* a reference; NULL for az_leak_set_build's sets, always live */
} leak_src;

/* A group of an entry's patterns that share one pool slot. */
typedef struct entry_pat {
    const unsigned char *p; /* into one of the entry's slots */
    size_t len;
    az_leak_kind kind;
} entry_pat;

/* The guarded memory of entries: freed with the index and its last entry. */
typedef struct leak_store {
    _Atomic size_t refs;
    az_secpool *pool;
} leak_store;

struct az_leak_entry {
    _Atomic size_t refs;
    _Atomic bool live;
    uint32_t id;
    unsigned layer;    /* the index's bookkeeping, under its caller's lock */
    leak_store *store; /* a reference */
    entry_pat pats[ENTRY_MAX_PATS];
    size_t npats;
    az_secslot *slots[ENTRY_MAX_PATS];
    size_t nslots;
    size_t bytes; /* of patterns */
    char name[AZ_MAX_NAME + 1];
};

struct az_leak_set {
    _Atomic size_t refs;
    az_leak_set *next;    /* a reference: scanned after this set, or NULL */
    unsigned char *bytes; /* az_leak_set_build: guarded, read-only pattern bytes */
    size_t bytes_cap;
    char (*names)[AZ_MAX_NAME + 1]; /* az_leak_set_build: the names */
    leak_pat *pats;
    size_t npats;
    leak_src *secrets;
    size_t nsecrets;
    size_t step;      /* probe stride, s in the comment above */
    size_t maxpat;    /* the longest pattern */
    uint64_t *bloom;  /* words 64-bit words */
    size_t words;     /* a power of two */
    uint32_t *starts; /* words + 1: bucket w is entries[starts[w] .. starts[w+1]) */
    uint32_t *entries;
    size_t nentries;
};

static const char HEX_LOWER[] = "0123456789abcdef";
static const char HEX_UPPER[] = "0123456789ABCDEF";
static const char B64_STD[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char B64_URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

const char *az_leak_kind_name(az_leak_kind kind)
{
    switch (kind) {
    case AZ_LEAK_RAW:
        return "raw";
    case AZ_LEAK_HEX_LOWER:
    case AZ_LEAK_HEX_UPPER:
    case AZ_LEAK_HEX_COLON:
    case AZ_LEAK_HEX_SPACE:
        return "hex";
    case AZ_LEAK_BASE64:
        return "base64";
    case AZ_LEAK_BASE64URL:
        return "base64url";
    case AZ_LEAK_PERCENT:
    case AZ_LEAK_PERCENT_LOWER:
    case AZ_LEAK_PERCENT_ALL:
        return "percent";
    }
    return "unknown";
}

/* ---- encodings ---- */

size_t az_leak_encodings_bound(size_t len)
{
    if (len < AZ_LEAK_MIN_SECRET || len > AZ_LEAK_MAX_SECRET)
        return 0;
    /*
     * raw L, hex 2L, hex with separators 2 x 3L, base64 6 cores of at most
     * 4L/3 + 1, percent 2 x 3L.
     */
    return 23 * len + 6;
}

static size_t enc_hex(const unsigned char *s, size_t len, const char *digits, unsigned char *dst)
{
    for (size_t i = 0; i < len; i++) {
        dst[2 * i] = (unsigned char)digits[s[i] >> 4];
        dst[2 * i + 1] = (unsigned char)digits[s[i] & 15];
    }
    return 2 * len;
}

/* Hex with sep between the bytes ("de:ad"). */
static size_t enc_hex_sep(const unsigned char *s, size_t len, char sep, unsigned char *dst)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (i)
            dst[n++] = (unsigned char)sep;
        dst[n++] = (unsigned char)HEX_LOWER[s[i] >> 4];
        dst[n++] = (unsigned char)HEX_LOWER[s[i] & 15];
    }
    return n;
}

/*
 * The stable core of the base64 encoding of s preceded by align bytes (mod
 * 3): the characters whose 6 bits all come from s. The encoder's first
 * group of three bytes holds the align prefix bytes and s's first
 * 3 - align: only its characters without prefix bits are kept (the last
 * two for align 1, the last one for align 2). Whole groups of s follow,
 * then the whole characters of its last one or two bytes.
 */
static size_t enc_b64core(const unsigned char *s, size_t len, unsigned align, const char *alpha,
                          unsigned char *dst)
{
    size_t i = 0, n = 0;
    uint32_t v;
    if (align == 1) {
        v = (uint32_t)s[0] << 8 | s[1];
        dst[n++] = (unsigned char)alpha[(v >> 6) & 63u];
        dst[n++] = (unsigned char)alpha[v & 63u];
        i = 2;
    } else if (align == 2) {
        dst[n++] = (unsigned char)alpha[s[0] & 63u];
        i = 1;
    }
    for (; len - i >= 3; i += 3, n += 4) {
        v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        dst[n] = (unsigned char)alpha[v >> 18];
        dst[n + 1] = (unsigned char)alpha[(v >> 12) & 63u];
        dst[n + 2] = (unsigned char)alpha[(v >> 6) & 63u];
        dst[n + 3] = (unsigned char)alpha[v & 63u];
    }
    if (len - i == 1) {
        dst[n++] = (unsigned char)alpha[s[i] >> 2];
    } else if (len - i == 2) {
        v = (uint32_t)s[i] << 8 | s[i + 1];
        dst[n++] = (unsigned char)alpha[v >> 10];
        dst[n++] = (unsigned char)alpha[(v >> 4) & 63u];
    }
    return n;
}

/*
 * RFC 3986 unreserved: ALPHA / DIGIT / "-" / "." / "_" / "~", one bit per
 * byte value: a table, as every secret is percent-encoded three times at
 * issue.
 */
static const uint64_t UNRESERVED[4] = {
    0x03ff600000000000ull, /* "-" "." "0"-"9" */
    0x47fffffe87fffffeull, /* "A"-"Z" "_" "a"-"z" "~" */
    0, 0};

static bool unreserved(unsigned char c)
{
    return (UNRESERVED[c >> 6] >> (c & 63)) & 1u;
}

static size_t enc_pct(const unsigned char *s, size_t len, const char *digits, bool all,
                      unsigned char *dst)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (!all && unreserved(s[i])) {
            dst[n++] = s[i];
            continue;
        }
        dst[n++] = '%';
        dst[n++] = (unsigned char)digits[s[i] >> 4];
        dst[n++] = (unsigned char)digits[s[i] & 15];
    }
    return n;
}

/*
 * Keeps the candidate just written at dst + *used (plen bytes) unless an
 * earlier pattern of the same secret has the same bytes.
 */
static void enc_keep(unsigned char *dst, az_leak_enc *enc, size_t *nenc, size_t *used,
                     az_leak_kind kind, unsigned align, size_t plen)
{
    for (size_t i = 0; i < *nenc; i++)
        if (enc[i].len == plen && memcmp(dst + enc[i].off, dst + *used, plen) == 0)
            return;
    enc[*nenc].kind = kind;
    enc[*nenc].align = (uint8_t)align;
    enc[*nenc].off = *used;
    enc[*nenc].len = plen;
    (*nenc)++;
    *used += plen;
}

int az_leak_encodings(const unsigned char *secret, size_t len, unsigned char *dst, size_t cap,
                      az_leak_enc enc[AZ_LEAK_MAX_ENC], size_t *nenc, size_t *used)
{
    size_t bound = az_leak_encodings_bound(len);
    size_t n = 0, u = 0;
    if (!secret || !dst || !enc || !nenc || !used || bound == 0 || cap < bound)
        return AGENTAUTHZ_EINVAL;
    memcpy(dst, secret, len);
    enc_keep(dst, enc, &n, &u, AZ_LEAK_RAW, 0, len);
    /* Hex and percent digits are verified without case: one pattern covers every case. */
    enc_keep(dst, enc, &n, &u, AZ_LEAK_HEX_LOWER, 0, enc_hex(secret, len, HEX_LOWER, dst + u));
    enc_keep(dst, enc, &n, &u, AZ_LEAK_HEX_COLON, 0, enc_hex_sep(secret, len, ':', dst + u));
    enc_keep(dst, enc, &n, &u, AZ_LEAK_HEX_SPACE, 0, enc_hex_sep(secret, len, ' ', dst + u));
    for (unsigned a = 0; a < 3; a++) {
        enc_keep(dst, enc, &n, &u, AZ_LEAK_BASE64, a,
                 enc_b64core(secret, len, a, B64_STD, dst + u));
        enc_keep(dst, enc, &n, &u, AZ_LEAK_BASE64URL, a,
                 enc_b64core(secret, len, a, B64_URL, dst + u));
    }
    enc_keep(dst, enc, &n, &u, AZ_LEAK_PERCENT, 0, enc_pct(secret, len, HEX_UPPER, false, dst + u));
    enc_keep(dst, enc, &n, &u, AZ_LEAK_PERCENT_ALL, 0,
             enc_pct(secret, len, HEX_UPPER, true, dst + u));
    *nenc = n;
    *used = u;
    return 0;
}

/* ---- hashing ---- */

static inline uint64_t load64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/*
 * The window with ASCII capitals folded to lowercase, eight bytes at once
 * (SWAR): per byte, bit 7 of (low seven bits + 0x80 - 'A') says ">= 'A'",
 * of (low seven bits + 0x80 - 'Z' - 1) says "> 'Z'"; neither sum carries
 * into the next byte. Every window is hashed folded, so that hex and
 * percent-encoding in any case hash like the lowercase pattern.
 */
static inline uint64_t fold64(uint64_t v)
{
    const uint64_t hi = 0x8080808080808080ull, ones = 0x0101010101010101ull;
    uint64_t low = v & ~hi;
    uint64_t ge_a = low + ones * (0x80u - 'A');
    uint64_t gt_z = low + ones * (0x80u - 'Z' - 1u);
    return v | ((ge_a & ~gt_z & ~v & hi) >> 2);
}

static inline unsigned char fold1(unsigned char c)
{
    return (unsigned char)(c | (((unsigned)c - 'A' < 26u) << 5));
}

/*
 * Mixes a window so that both the high bits (the Bloom word) and the low
 * bits (the three bit positions) depend on all 8 bytes.
 */
static inline uint64_t leak_mix(uint64_t g)
{
    uint64_t h = g * 0x9E3779B97F4A7C15ull;
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ull;
    return h ^ (h >> 32);
}

static inline uint64_t bloom_bits(uint64_t h)
{
    return (1ull << (h & 63)) | (1ull << ((h >> 6) & 63)) | (1ull << ((h >> 12) & 63));
}

static inline size_t bloom_word(const az_leak_set *set, uint64_t h)
{
    return (size_t)(h >> 32) & (set->words - 1);
}

/* ---- lifetimes: sets, entries and their guarded memory ---- */

static az_leak_set *set_new(void)
{
    az_leak_set *set = calloc(1, sizeof *set);
    if (set)
        atomic_init(&set->refs, 1);
    return set;
}

static void store_unref(leak_store *st)
{
    if (!st || atomic_fetch_sub_explicit(&st->refs, 1, memory_order_acq_rel) != 1)
        return;
    az_secpool_free(st->pool);
    free(st);
}

static void entry_ref(az_leak_entry *en)
{
    atomic_fetch_add_explicit(&en->refs, 1, memory_order_relaxed);
}

/* The last reference wipes the patterns (az_secpool_release does). */
static void entry_unref(az_leak_entry *en)
{
    if (!en || atomic_fetch_sub_explicit(&en->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < en->nslots; i++)
        az_secpool_release(en->slots[i]);
    store_unref(en->store);
    free(en);
}

bool az_leak_entry_live(const az_leak_entry *en)
{
    return en && atomic_load_explicit(&en->live, memory_order_acquire);
}

/* ---- build ---- */

static bool name_valid(const char *s)
{
    size_t n = 0;
    if (!s)
        return false;
    for (; s[n]; n++) {
        unsigned char c = (unsigned char)s[n];
        if (n >= AZ_MAX_NAME ||
            !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == ':' || c == '-'))
            return false;
    }
    return n > 0;
}

/* Checks the secrets and sums their encoding bounds into *total. */
static int build_check(const az_leak_secret *secrets, size_t n, size_t *total)
{
    size_t sum = 0;
    if (n > AZ_LEAK_MAX_SECRETS)
        return AGENTAUTHZ_ELIMIT;
    for (size_t i = 0; i < n; i++) {
        size_t b = az_leak_encodings_bound(secrets[i].len);
        if (b == 0 || !secrets[i].bytes || !name_valid(secrets[i].name))
            return AGENTAUTHZ_EINVAL;
        if (b > AZ_LEAK_MAX_BYTES - sum)
            return AGENTAUTHZ_ELIMIT;
        sum += b;
    }
    *total = sum;
    return 0;
}

/* Writes every secret's patterns into the guarded area and records them. */
static int build_encode(az_leak_set *set, const az_leak_secret *secrets, size_t n)
{
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        az_leak_enc enc[AZ_LEAK_MAX_ENC];
        size_t nenc = 0, u = 0;
        int rc = az_leak_encodings(secrets[i].bytes, secrets[i].len, set->bytes + used,
                                   set->bytes_cap - used, enc, &nenc, &u);
        if (rc)
            return rc;
        set->secrets[i].id = secrets[i].id;
        memcpy(set->names[i], secrets[i].name, strlen(secrets[i].name) + 1);
        set->secrets[i].name = set->names[i];
        for (size_t k = 0; k < nenc; k++) {
            leak_pat *p = &set->pats[set->npats++];
            p->p = set->bytes + used + enc[k].off;
            p->len = enc[k].len;
            p->secret = (uint32_t)i;
            p->kind = enc[k].kind;
        }
        used += u;
    }
    set->nsecrets = n;
    return 0;
}

/* The probe stride: the shortest pattern minus 7, capped at max_step; notes the longest. */
static size_t build_step(az_leak_set *set, size_t max_step)
{
    size_t m = SIZE_MAX;
    for (size_t i = 0; i < set->npats; i++) {
        if (set->pats[i].len < m)
            m = set->pats[i].len;
        if (set->pats[i].len > set->maxpat)
            set->maxpat = set->pats[i].len;
    }
    m = m - Q + 1;
    return m < max_step ? m : max_step;
}

static size_t pow2_at_least(size_t x)
{
    size_t p = 1;
    while (p < x)
        p *= 2;
    return p;
}

static int build_alloc_index(az_leak_set *set)
{
    /* keys <= the encoded bytes (each pattern is longer than step), so it fits 32 bits. */
    size_t keys = set->npats * set->step;
    if (keys > UINT32_MAX || keys > (SIZE_MAX - 64) / BLOOM_BITS_PER_KEY)
        return AGENTAUTHZ_ELIMIT;
    set->nentries = keys;
    set->words = pow2_at_least(keys * BLOOM_BITS_PER_KEY / 64 + 1);
    set->bloom = calloc(set->words, sizeof *set->bloom);
    set->starts = calloc(set->words + 1, sizeof *set->starts);
    set->entries = malloc(keys * sizeof *set->entries);
    if (!set->bloom || !set->starts || !set->entries)
        return AGENTAUTHZ_ENOMEM;
    return 0;
}

/* The Bloom word of the window at b; the low 32 bits of h pick its bits. */
static inline size_t window_word(const unsigned char *b, size_t mask, uint64_t *h)
{
    *h = leak_mix(fold64(load64(b)));
    return (size_t)(*h >> 32) & mask;
}

/*
 * Sets the Bloom bits of every window at offsets 0 .. step - 1 of every
 * pattern and fills the buckets (a counting sort keyed by the Bloom word).
 * The second pass reads the words the first one noted in words (one per
 * window, or NULL to hash again): hashing is most of a small set's build,
 * which an open pays for.
 */
static void build_index_with(az_leak_set *set, uint32_t *words)
{
    /* Locals: the stores into the arrays could alias set's fields otherwise. */
    uint64_t *bloom = set->bloom, h;
    uint32_t *starts = set->starts, *entries = set->entries;
    size_t step = set->step, mask = set->words - 1, k = 0;
    for (size_t pi = 0; pi < set->npats; pi++)
        for (size_t o = 0; o < step; o++, k++) {
            size_t w = window_word(set->pats[pi].p + o, mask, &h);
            bloom[w] |= bloom_bits(h);
            starts[w]++;
            if (words)
                words[k] = (uint32_t)w;
        }
    for (size_t w = 1; w <= mask + 1; w++)
        starts[w] += starts[w - 1];
    k = 0;
    for (size_t pi = 0; pi < set->npats; pi++)
        for (size_t o = 0; o < step; o++, k++) {
            size_t w = words ? words[k] : window_word(set->pats[pi].p + o, mask, &h);
            entries[--starts[w]] = (uint32_t)(pi << OFF_BITS | o);
        }
}

/*
 * Small sets (an open's recent set) keep the words on the stack. A large
 * one hashes twice: a heap array of its millions of words costs more in
 * page faults than the second hashing does.
 */
#define INDEX_STACK_WORDS 2048u

static void build_index(az_leak_set *set)
{
    uint32_t stackw[INDEX_STACK_WORDS];
    /* words <= 2^31 (keys < 2^32), so a word index fits 32 bits. */
    build_index_with(set, set->nentries <= INDEX_STACK_WORDS ? stackw : NULL);
}

int az_leak_set_build(const az_leak_secret *secrets, size_t n, az_leak_set **out)
{
    az_leak_set *set = NULL;
    size_t total = 0;
    int rc;
    if (!out)
        return AGENTAUTHZ_EINVAL;
    *out = NULL;
    if (!secrets && n)
        return AGENTAUTHZ_EINVAL;
    rc = build_check(secrets, n, &total);
    if (rc)
        return rc;
    if (n * AZ_LEAK_MAX_ENC >= MAX_PATTERNS)
        return AGENTAUTHZ_ELIMIT;
    if (sodium_init() < 0)
        return AGENTAUTHZ_ECRYPTO;
    set = set_new();
    if (!set)
        return AGENTAUTHZ_ENOMEM;
    rc = AGENTAUTHZ_ENOMEM;
    if (n == 0)
        goto done;
    set->bytes_cap = total;
    set->bytes = sodium_malloc(total);
    set->pats = malloc(n * AZ_LEAK_MAX_ENC * sizeof *set->pats);
    set->secrets = calloc(n, sizeof *set->secrets);
    set->names = malloc(n * sizeof *set->names);
    if (!set->bytes || !set->pats || !set->secrets || !set->names)
        goto out;
    rc = build_encode(set, secrets, n);
    if (rc)
        goto out;
    set->step = build_step(set, AZ_LEAK_MAX_STEP);
    rc = build_alloc_index(set);
    if (rc)
        goto out;
    build_index(set);
    rc = AGENTAUTHZ_ECRYPTO;
    if (sodium_mprotect_readonly(set->bytes) != 0)
        goto out;
done:
    *out = set;
    set = NULL;
    rc = 0;
out:
    az_leak_set_free(set);
    return rc;
}

void az_leak_set_free(az_leak_set *set)
{
    if (!set || atomic_fetch_sub_explicit(&set->refs, 1, memory_order_acq_rel) != 1)
        return;
    /* sodium_free wipes the pattern bytes; it needs them writable first. */
    if (set->bytes) {
        sodium_mprotect_readwrite(set->bytes);
        sodium_free(set->bytes);
    }
    for (size_t i = 0; set->secrets && i < set->nsecrets; i++)
        entry_unref(set->secrets[i].entry);
    az_leak_set_free(set->next);
    free(set->pats);
    free(set->secrets);
    free(set->names);
    free(set->bloom);
    free(set->starts);
    free(set->entries);
    free(set);
}

az_leak_set *az_leak_set_ref(az_leak_set *set)
{
    if (set)
        atomic_fetch_add_explicit(&set->refs, 1, memory_order_relaxed);
    return set;
}

size_t az_leak_set_patterns(const az_leak_set *set)
{
    return set ? set->npats + az_leak_set_patterns(set->next) : 0;
}

/* Pattern bytes of entries count once per set that refers to them. */
size_t az_leak_set_memory(const az_leak_set *set)
{
    size_t entry_bytes = 0;
    if (!set)
        return 0;
    for (size_t i = 0; i < set->nsecrets; i++)
        entry_bytes += set->secrets[i].entry ? set->secrets[i].entry->bytes : 0;
    return sizeof *set + set->bytes_cap + entry_bytes + set->npats * sizeof *set->pats +
           set->nsecrets * (sizeof *set->secrets + (set->names ? sizeof *set->names : 0)) +
           set->words * sizeof *set->bloom + (set->words + 1) * sizeof *set->starts +
           set->nentries * sizeof *set->entries + az_leak_set_memory(set->next);
}

/* ---- entries: each secret encoded once, in pooled guarded memory ---- */

/*
 * Patterns go into pool slots of at most SLOT_MAX bytes, the pool's largest
 * class, neighbours sharing a slot: a token's dozen encodings (several KiB)
 * then take a few pooled slots instead of a guarded allocation of their own
 * (about 14 us). Only a single pattern longer than that gets one.
 */
#define SLOT_MAX 4096u
#define SCRATCH_STACK 2048u /* encodings of secrets up to 92 bytes */

/* Copies the patterns written in scratch into slots, grouping neighbours. */
static int entry_fill(az_leak_entry *en, const unsigned char *scratch, const az_leak_enc *enc,
                      size_t nenc)
{
    size_t k = 0;
    while (k < nenc) {
        size_t first = k, size = enc[k++].len;
        const unsigned char *base;
        int rc;
        while (k < nenc && size <= SLOT_MAX && enc[k].len <= SLOT_MAX - size)
            size += enc[k++].len;
        rc = az_secpool_alloc(en->store->pool, size, &en->slots[en->nslots]);
        if (rc)
            return rc;
        rc = az_secpool_write(en->slots[en->nslots++], scratch + enc[first].off, size);
        if (rc)
            return rc;
        base = az_secpool_read(en->slots[en->nslots - 1]);
        for (size_t i = first; i < k; i++, en->npats++) {
            en->pats[en->npats].p = base + (enc[i].off - enc[first].off);
            en->pats[en->npats].len = enc[i].len;
            en->pats[en->npats].kind = enc[i].kind;
        }
        en->bytes += size;
    }
    return 0;
}

static az_leak_entry *entry_alloc(leak_store *st, const az_leak_secret *sec)
{
    az_leak_entry *en = calloc(1, sizeof *en);
    if (!en)
        return NULL;
    atomic_init(&en->refs, 1);
    atomic_init(&en->live, true);
    en->id = sec->id;
    memcpy(en->name, sec->name, strlen(sec->name) + 1);
    atomic_fetch_add_explicit(&st->refs, 1, memory_order_relaxed);
    en->store = st;
    return en;
}

/*
 * A new live entry for sec. The encodings pass through a scratch buffer
 * (on the stack for short secrets), wiped before return, as the secret's
 * own value does on its way into the pool.
 */
/* Whether part k of sec is one to look for (long enough, not empty). */
static bool part_used(const az_leak_secret *sec, size_t k)
{
    return sec->parts[k] && az_leak_encodings_bound(sec->part_len[k]) != 0;
}

/* Encodes bytes into scratch (bound bytes) and adds the patterns to en. */
static int entry_encode(az_leak_entry *en, const void *bytes, size_t len, unsigned char *scratch,
                        size_t bound)
{
    az_leak_enc enc[AZ_LEAK_MAX_ENC];
    size_t nenc = 0, used = 0;
    int rc = az_leak_encodings(bytes, len, scratch, bound, enc, &nenc, &used);
    return rc ? rc : entry_fill(en, scratch, enc, nenc);
}

static int entry_new(leak_store *st, const az_leak_secret *sec, az_leak_entry **out)
{
    size_t bound = az_leak_encodings_bound(sec->len);
    unsigned char stack[SCRATCH_STACK], *scratch = stack;
    az_leak_entry *en = NULL;
    bool written = false;
    int rc = AGENTAUTHZ_EINVAL;
    *out = NULL;
    if (bound == 0 || !sec->bytes || !name_valid(sec->name))
        return rc;
    for (size_t k = 0; k < AZ_LEAK_MAX_PARTS; k++)
        if (part_used(sec, k) && az_leak_encodings_bound(sec->part_len[k]) > bound)
            bound = az_leak_encodings_bound(sec->part_len[k]);
    rc = AGENTAUTHZ_ENOMEM;
    if (bound > sizeof stack && !(scratch = malloc(bound)))
        return rc;
    if (!(en = entry_alloc(st, sec)))
        goto out;
    written = true;
    rc = entry_encode(en, sec->bytes, sec->len, scratch, bound);
    for (size_t k = 0; k < AZ_LEAK_MAX_PARTS && !rc; k++)
        if (part_used(sec, k))
            rc = entry_encode(en, sec->parts[k], sec->part_len[k], scratch, bound);
    if (!rc) {
        *out = en;
        en = NULL;
    }
out:
    /* All of it: a candidate dropped as a duplicate was written past the bytes used. */
    sodium_memzero(scratch, written ? bound : 0);
    if (scratch != stack)
        free(scratch);
    entry_unref(en);
    return rc;
}

/*
 * Records the live entries' patterns in set, which takes a reference to
 * each. Room is made for every entry: one may die while this runs.
 */
static int build_from_entries(az_leak_set *set, az_leak_entry *const *entries, size_t n)
{
    size_t npats = 0;
    for (size_t i = 0; i < n; i++)
        npats += entries[i]->npats;
    if (npats >= MAX_PATTERNS)
        return AGENTAUTHZ_ELIMIT;
    set->pats = malloc((npats ? npats : 1) * sizeof *set->pats);
    set->secrets = calloc(n ? n : 1, sizeof *set->secrets);
    if (!set->pats || !set->secrets)
        return AGENTAUTHZ_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        az_leak_entry *en = entries[i];
        leak_src *src = &set->secrets[set->nsecrets];
        if (!az_leak_entry_live(en))
            continue;
        entry_ref(en);
        src->id = en->id;
        src->name = en->name;
        src->entry = en;
        for (size_t k = 0; k < en->npats; k++, set->npats++) {
            set->pats[set->npats].p = en->pats[k].p;
            set->pats[set->npats].len = en->pats[k].len;
            set->pats[set->npats].kind = en->pats[k].kind;
            set->pats[set->npats].secret = (uint32_t)set->nsecrets;
        }
        set->nsecrets++;
    }
    return 0;
}

static int build_entries_check(az_leak_entry *const *entries, size_t n, size_t max_step,
                               const az_leak_set *next)
{
    if ((!entries && n) || max_step == 0 || max_step > AZ_LEAK_MAX_STEP || (next && next->next))
        return AGENTAUTHZ_EINVAL;
    if (n > AZ_LEAK_MAX_SECRETS)
        return AGENTAUTHZ_ELIMIT;
    for (size_t i = 0; i < n; i++)
        if (!entries[i])
            return AGENTAUTHZ_EINVAL;
    return 0;
}

int az_leak_set_build_entries(az_leak_entry *const *entries, size_t n, size_t max_step,
                              az_leak_set *next, az_leak_set **out)
{
    az_leak_set *set = NULL;
    int rc;
    if (!out)
        return AGENTAUTHZ_EINVAL;
    *out = NULL;
    rc = build_entries_check(entries, n, max_step, next);
    if (rc)
        return rc;
    if (!(set = set_new()))
        return AGENTAUTHZ_ENOMEM;
    rc = build_from_entries(set, entries, n);
    if (!rc && set->npats) {
        set->step = build_step(set, max_step);
        rc = build_alloc_index(set);
        if (!rc)
            build_index(set);
    }
    if (rc) {
        az_leak_set_free(set);
        return rc;
    }
    set->next = az_leak_set_ref(next);
    *out = set;
    return 0;
}

/* ---- the normalised view ---- */

/* Grows *v (*cap elements of size) to hold one more than n; ENOMEM past SIZE_MAX. */
static int grow(void **v, size_t *cap, size_t n, size_t size)
{
    size_t want = *cap ? 2 * *cap : 16;
    void *nv;
    if (n < *cap)
        return 0;
    if (*cap > SIZE_MAX / 2 / size)
        return AGENTAUTHZ_ENOMEM;
    nv = realloc(*v, want * size);
    if (!nv)
        return AGENTAUTHZ_ENOMEM;
    *v = nv;
    *cap = want;
    return 0;
}


/*
 * Where the view differs from the input: view bytes [v, v + vlen) come from
 * input bytes [s, s + slen) (vlen is 0 for removed line breaks). Between
 * two tokens the view is a copy of the input.
 */
typedef struct view_tok {
    size_t v, vlen, s, slen;
} view_tok;

typedef struct leak_view {
    unsigned char *p; /* the view, or its latest block */
    size_t cap;       /* bytes at p */
    size_t len;       /* bytes of view at p */
    size_t base;      /* the view offset of p[0] */
    size_t i;         /* input bytes consumed */
    view_tok *toks; /* kept only when wanted (scrub, locating a hit) */
    size_t ntoks, captoks;
    size_t floor; /* view bytes before this come from tokens or were copied before one */
    bool whole;   /* the buffer holds the whole view: written once for every set */
    bool built;   /* ... and it is written */
    bool want_toks;
    bool changed;
    int rc;
    /* The last percent escape: where it ended and how many "25" layers it had. */
    size_t pct_end;
    size_t pct_layers;
    bool pct_seen;
} leak_view;

/* The bytes that may start a transformation: '\\', '%', '\n', '\r'. */
static inline bool view_special(unsigned char c)
{
    return c == '\\' || c == '%' || c == '\n' || c == '\r';
}

#if defined(__SSE2__)
#include <emmintrin.h>
/* The next special byte at or after i, or len: 16 bytes a step, as memchr does. */
static size_t next_special(const unsigned char *p, size_t i, size_t len)
{
    const __m128i bs = _mm_set1_epi8('\\'), pc = _mm_set1_epi8('%');
    const __m128i lf = _mm_set1_epi8('\n'), cr = _mm_set1_epi8('\r');
    for (; len - i >= 16; i += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, bs), _mm_cmpeq_epi8(x, pc)),
                                 _mm_or_si128(_mm_cmpeq_epi8(x, lf), _mm_cmpeq_epi8(x, cr)));
        unsigned mask = (unsigned)_mm_movemask_epi8(m);
        if (mask)
            return i + (size_t)__builtin_ctz(mask);
    }
    while (i < len && !view_special(p[i]))
        i++;
    return i;
}

/*
 * Copies p[i..) to out until the next special byte or len, which it returns:
 * the copy and the search in one pass. A block may be stored past the
 * special byte; out has room for len - i bytes, so it stays inside.
 */
static size_t copy_to_special(const unsigned char *p, size_t i, size_t len, unsigned char *out)
{
    const __m128i bs = _mm_set1_epi8('\\'), pc = _mm_set1_epi8('%');
    const __m128i lf = _mm_set1_epi8('\n'), cr = _mm_set1_epi8('\r');
    size_t i0 = i;
    for (; len - i >= 16; i += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, bs), _mm_cmpeq_epi8(x, pc)),
                                 _mm_or_si128(_mm_cmpeq_epi8(x, lf), _mm_cmpeq_epi8(x, cr)));
        unsigned mask = (unsigned)_mm_movemask_epi8(m);
        _mm_storeu_si128((__m128i *)(void *)(out + (i - i0)), x);
        if (mask)
            return i + (size_t)__builtin_ctz(mask);
    }
    for (; i < len && !view_special(p[i]); i++)
        out[i - i0] = p[i];
    return i;
}
#else
static size_t next_special(const unsigned char *p, size_t i, size_t len)
{
    while (i < len && !view_special(p[i]))
        i++;
    return i;
}

static size_t copy_to_special(const unsigned char *p, size_t i, size_t len, unsigned char *out)
{
    size_t k = next_special(p, i, len);
    memcpy(out, p + i, k - i);
    return k;
}
#endif

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = fold1(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The value of n hex digits at p (p has n bytes), or -1. */
static long hexn(const unsigned char *p, size_t n)
{
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        int d = hexval(p[i]);
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* Records that view bytes from v->len - vlen come from input [s, s + slen). */
static void view_token(leak_view *v, size_t vlen, size_t s, size_t slen)
{
    v->changed = true;
    v->floor = v->len;
    if (!v->want_toks || v->rc)
        return;
    v->rc = grow((void **)&v->toks, &v->captoks, v->ntoks, sizeof *v->toks);
    if (v->rc)
        return;
    v->toks[v->ntoks++] = (view_tok){v->base + v->len - vlen, vlen, s, slen};
}

/* Appends the UTF-8 form of code point cp (below 0x10000) to the view; the byte for cp < 0x100. */
static size_t view_put_cp(leak_view *v, long cp)
{
    unsigned char *o = v->p + v->len;
    /* \u00XX: the byte XX, as encoders that escape binary data as Latin-1 write it. */
    if (cp < 0x100) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xc0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3f));
        return 2;
    }
    o[0] = (unsigned char)(0xe0 | (cp >> 12));
    o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
    o[2] = (unsigned char)(0x80 | (cp & 0x3f));
    return 3;
}

/*
 * A line break at i (raw, or the escape \n or \r, slen bytes): it goes,
 * with the run of spaces, tabs and line breaks around it. The spaces before
 * it were copied already: up to RETRACT_MAX of them are taken back (never
 * past the last token), so that a walk that lags that far behind the view
 * never sees a byte change. Returns the input offset after the run.
 */
#define RETRACT_MAX 64u

static size_t view_break(leak_view *v, const unsigned char *in, size_t len, size_t i, size_t slen)
{
    size_t back = 0, j = i + slen;
    while (back < RETRACT_MAX && v->len - back > v->floor &&
           (v->p[v->len - back - 1] == ' ' || v->p[v->len - back - 1] == '\t'))
        back++;
    while (j < len && (in[j] == ' ' || in[j] == '\t' || in[j] == '\r' || in[j] == '\n'))
        j++;
    v->len -= back;
    view_token(v, 0, i - back, j - i + back);
    return j;
}

/*
 * "%" then any number of "25" then two hex digits: the byte; "%25..." alone:
 * '%'. Taking every "25" misreads the last byte of a run when it is '%' and
 * hex digits follow ("%2525" then "8B" is a doubly encoded '%' before "8B",
 * not 0x8B encoded three times), so an escape right after another takes the
 * layers of the one before when that reads as a byte.
 */
static size_t view_percent(leak_view *v, const unsigned char *in, size_t len, size_t i)
{
    size_t j = i + 1, layers = 0;
    long b;
    while (len - j >= 2 && in[j] == '2' && in[j + 1] == '5')
        j += 2, layers++;
    if (v->pct_seen && v->pct_end == i && v->pct_layers < layers &&
        hexn(in + i + 1 + 2 * v->pct_layers, 2) >= 0) {
        layers = v->pct_layers;
        j = i + 1 + 2 * layers;
    }
    v->pct_seen = true;
    if (len - j >= 2 && (b = hexn(in + j, 2)) >= 0) {
        v->p[v->len++] = (unsigned char)b;
        view_token(v, 1, i, j + 2 - i);
        v->pct_end = j + 2;
        v->pct_layers = layers;
        return j + 2;
    }
    v->p[v->len++] = '%';
    if (j > i + 1)
        view_token(v, 1, i, j - i);
    /* "%25" alone is '%' escaped once: one layer fewer than the "25"s seen. */
    v->pct_end = j;
    v->pct_layers = layers ? layers - 1 : 0;
    return j;
}

/* A backslash escape at i: JSON's and C's. Anything else is copied as it is. */
static size_t view_escape(leak_view *v, const unsigned char *in, size_t len, size_t i)
{
    unsigned char c = len - i >= 2 ? in[i + 1] : 0;
    long cp;
    size_t n;
    if (c == 'n' || c == 'r')
        return view_break(v, in, len, i, 2);
    if (c == 'u' && len - i >= 6 && (cp = hexn(in + i + 2, 4)) >= 0) {
        n = view_put_cp(v, cp);
        v->len += n;
        view_token(v, n, i, 6);
        return i + 6;
    }
    if (c == 'x' && len - i >= 4 && (cp = hexn(in + i + 2, 2)) >= 0) {
        v->p[v->len++] = (unsigned char)cp;
        view_token(v, 1, i, 4);
        return i + 4;
    }
    if (c == '/' || c == '\\' || c == '"') {
        v->p[v->len++] = c;
        view_token(v, 1, i, 2);
        return i + 2;
    }
    v->p[v->len++] = '\\';
    return i + 1;
}

/* The most view bytes one rule writes (a \uXXXX escape, as UTF-8). */
#define VIEW_TOKEN_MAX 3u

/*
 * Goes on writing the view of in at v->p + v->len until the input ends or
 * the buffer is full. Each rule takes at least as many input bytes as it
 * writes, so the whole view is never longer than the input.
 */
static void view_fill(leak_view *v, const unsigned char *in, size_t len)
{
    while (v->i < len && v->len < v->cap) {
        size_t room = v->cap - v->len;
        size_t lim = len - v->i < room ? len : v->i + room;
        size_t k = copy_to_special(in, v->i, lim, v->p + v->len);
        v->len += k - v->i;
        v->i = k;
        if (k == lim || v->cap - v->len < VIEW_TOKEN_MAX)
            break;
        if (in[k] == '%')
            v->i = view_percent(v, in, len, k);
        else if (in[k] == '\\')
            v->i = view_escape(v, in, len, k);
        else
            v->i = view_break(v, in, len, k, 1);
    }
}

int az_leak_normalise(const void *in, size_t len, unsigned char *out, size_t *outlen)
{
    leak_view v;
    memset(&v, 0, sizeof v);
    if ((!in && len) || !out || !outlen)
        return AGENTAUTHZ_EINVAL;
    v.p = out;
    v.cap = len;
    while (v.i < len) {
        /* The last few bytes: a rule needs room for its output, the view has it. */
        unsigned char tail[2 * VIEW_TOKEN_MAX];
        size_t before = v.len;
        view_fill(&v, in, len);
        if (v.i < len && v.len == before) {
            v.p = tail;
            v.cap = sizeof tail;
            v.len = 0;
            view_fill(&v, in, len);
            memcpy(out + before, tail, v.len);
            v.len += before;
            v.p = out;
            v.cap = len;
        }
    }
    *outlen = v.len;
    return v.changed;
}

/* The input offset where view byte x comes from (its token's first byte). */
static size_t view_src(const leak_view *v, size_t x, bool end)
{
    size_t lo = 0, hi = v->ntoks;
    const view_tok *t;
    /* The last token with t->v <= x. */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v->toks[mid].v <= x)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return x + end;
    t = &v->toks[lo - 1];
    if (x < t->v + t->vlen)
        return end ? t->s + t->slen : t->s;
    return t->s + t->slen + (x - t->v - t->vlen) + end;
}

/* Bytes the walk of set keeps behind the newest of the view (see view_walk). */
static size_t view_lag(const az_leak_set *set)
{
    return set->maxpat + RETRACT_MAX + Q;
}

#define VIEW_STACK 4096u
#define VIEW_BLOCK (64u * 1024u)

/*
 * A buffer for the view of data (len bytes) that set's chain walks: the
 * whole view (len bytes and room for a last rule), or a block and the lag
 * of the walk. v->p stays NULL when data has no special byte (the view is
 * the data) or on ENOMEM (v->rc).
 */
static void view_open(leak_view *v, const az_leak_set *set, const unsigned char *data, size_t len,
                      unsigned char *stack, bool want_toks)
{
    size_t cap = len + VIEW_TOKEN_MAX, lag = 0;
    memset(v, 0, sizeof *v);
    v->want_toks = want_toks;
    if (len == 0 || next_special(data, 0, len) == len)
        return;
    for (; set; set = set->next)
        lag = view_lag(set) > lag ? view_lag(set) : lag;
    if (cap > VIEW_BLOCK + lag)
        cap = VIEW_BLOCK + lag;
    v->cap = cap;
    v->whole = cap == len + VIEW_TOKEN_MAX;
    v->p = cap <= VIEW_STACK ? stack : malloc(cap);
    if (!v->p)
        v->rc = AGENTAUTHZ_ENOMEM;
}

/* The view may hold a secret decoded from its encoding: wiped before it goes. */
static void view_close(leak_view *v, const unsigned char *stack)
{
    if (v->p) {
        sodium_memzero(v->p, v->cap);
        if (v->p != stack)
            free(v->p);
    }
    free(v->toks);
    memset(v, 0, sizeof *v);
}

/* Fills in the whole view of data, tokens kept: to locate a hit found in it. */
static int view_whole(leak_view *v, const unsigned char *data, size_t len)
{
    memset(v, 0, sizeof *v);
    v->want_toks = true;
    v->cap = len + VIEW_TOKEN_MAX;
    if (!(v->p = malloc(v->cap)))
        return AGENTAUTHZ_ENOMEM;
    view_fill(v, data, len);
    return v->rc;
}

/* ---- scanning ---- */

/* One verified occurrence. */
typedef struct leak_match {
    size_t start;
    size_t len;
    uint32_t pat;
} leak_match;

/* Called for each occurrence a probe finds; nonzero stops the probe. */
typedef int (*leak_visit)(void *ctx, const leak_match *m);

/* Which bytes of a pattern of kind compare without case. */
typedef enum fold_mode { FOLD_NONE, FOLD_ALL, FOLD_PERCENT } fold_mode;

static fold_mode kind_fold(az_leak_kind kind)
{
    switch (kind) {
    case AZ_LEAK_HEX_LOWER:
    case AZ_LEAK_HEX_UPPER:
    case AZ_LEAK_HEX_COLON:
    case AZ_LEAK_HEX_SPACE:
        return FOLD_ALL;
    case AZ_LEAK_PERCENT:
    case AZ_LEAK_PERCENT_LOWER:
    case AZ_LEAK_PERCENT_ALL:
        return FOLD_PERCENT;
    default:
        return FOLD_NONE;
    }
}

/*
 * Whether d holds the pattern. Constant time over the pattern, so timing
 * reveals no more than the answer does. Raw bytes and base64 compare
 * exactly; hex digits without case (all of a hex pattern; the two after
 * each '%' of a percent one, whose other bytes are the secret's own and
 * compare exactly: '%' is reserved, so never one of them).
 */
static bool pat_equal(const leak_pat *pat, const unsigned char *d)
{
    const unsigned char *b = pat->p;
    fold_mode mode = kind_fold(pat->kind);
    unsigned diff = 0;
    if (mode == FOLD_NONE)
        return sodium_memcmp(d, b, pat->len) == 0;
    for (size_t i = 0; i < pat->len; i++) {
        bool f = mode == FOLD_ALL || (i >= 1 && b[i - 1] == '%') || (i >= 2 && b[i - 2] == '%');
        unsigned char x = f ? fold1(d[i]) : d[i], y = f ? fold1(b[i]) : b[i];
        diff |= (unsigned)(x ^ y);
    }
    return diff == 0;
}

/*
 * Verifies the candidates in bucket w against the window g (folded) at probe j and
 * calls visit for each real occurrence. Returns the first nonzero visit
 * result, else 0.
 */
static int probe_verify(const az_leak_set *set, const unsigned char *p, size_t len, size_t j,
                        uint64_t g, size_t w, size_t base, leak_visit visit, void *ctx)
{
    for (uint32_t k = set->starts[w]; k < set->starts[w + 1]; k++) {
        uint32_t e = set->entries[k];
        size_t o = e & ((1u << OFF_BITS) - 1);
        const leak_pat *pat = &set->pats[e >> OFF_BITS];
        const unsigned char *b = pat->p;
        leak_match m;
        int rc;
        if (o > j || pat->len > len - (j - o) || fold64(load64(b + o)) != g)
            continue;
        if (!pat_equal(pat, p + j - o))
            continue;
        m.start = base + j - o;
        m.len = pat->len;
        m.pat = e >> OFF_BITS;
        rc = visit(ctx, &m);
        if (rc)
            return rc;
    }
    return 0;
}

/* What a walk does with what it finds. */
typedef struct walker {
    leak_visit visit;       /* each occurrence */
    int (*done)(void *ctx); /* after each probe that had candidates; may be NULL */
    void *ctx;
    size_t base; /* added to the offsets of occurrences (a view walked a block at a time) */
} walker;

/* Whether the Bloom filter may hold the window that hashed to h. */
static inline bool bloom_test(const az_leak_set *set, uint64_t h)
{
    uint64_t want = bloom_bits(h);
    return (set->bloom[bloom_word(set, h)] & want) == want;
}

/* Verifies a probe at j that passed the filter. Returns nonzero to stop. */
static int walk_verify(const az_leak_set *set, const unsigned char *p, size_t len, size_t j,
                       uint64_t h, const walker *wk)
{
    int rc = probe_verify(set, p, len, j, fold64(load64(p + j)), bloom_word(set, h), wk->base,
                          wk->visit, wk->ctx);
    if (!rc && wk->done)
        rc = wk->done(wk->ctx);
    return rc;
}

/*
 * Runs the probes at *j, *j + step, ... up to jmax (and the last window of
 * data) in order; *j is then the next probe. This is the hot loop. With a
 * long stride, probes go in batches whose Bloom words are prefetched first:
 * a large set's filter does not fit in cache, and one probe's load should
 * not wait for the last's. With a short stride the windows overlap and the
 * plain loop is faster. Returns the first nonzero result of the walker.
 */
static int leak_walk_range(const az_leak_set *set, const unsigned char *p, size_t len, size_t *jp,
                           size_t jmax, const walker *wk)
{
    size_t step = set->step, last, j = *jp;
    uint64_t h[WALK_BATCH];
    int rc = 0;
    /* Every pattern is at least step + Q - 1 bytes (build_step): a shorter text holds none. */
    if (set->npats == 0 || len < step + Q - 1 || len - Q < j)
        return 0;
    last = len - Q < jmax ? len - Q : jmax;
    while (step >= WALK_MIN_STEP && j <= last && last - j >= WALK_BATCH * step) {
        for (size_t k = 0; k < WALK_BATCH; k++) {
            h[k] = leak_mix(fold64(load64(p + j + k * step)));
            AZ_PREFETCH(&set->bloom[bloom_word(set, h[k])]);
        }
        for (size_t k = 0; k < WALK_BATCH; k++)
            if (bloom_test(set, h[k]) && (rc = walk_verify(set, p, len, j + k * step, h[k], wk)))
                goto out;
        j += WALK_BATCH * step;
    }
    for (; j <= last; j += step) {
        uint64_t hj = leak_mix(fold64(load64(p + j)));
        if (bloom_test(set, hj) && (rc = walk_verify(set, p, len, j, hj, wk)) != 0)
            break;
    }
out:
    *jp = j;
    return rc;
}

static int leak_walk(const az_leak_set *set, const unsigned char *p, size_t len, const walker *wk)
{
    size_t j = 0;
    return leak_walk_range(set, p, len, &j, SIZE_MAX, wk);
}

/*
 * Walks set over the view of data, written a block at a time into v's
 * buffer so that it stays in cache: the probes run up to the lag behind
 * the newest view byte (a match from a probe reaches at most maxpat bytes
 * on, and a line break takes back at most RETRACT_MAX), then the block
 * slides down, keeping the bytes a pending probe may verify. Offsets given
 * to the walker are the view's (wk->base). The view is written again for
 * each set of a chain.
 */
static int view_walk(const az_leak_set *set, const unsigned char *data, size_t len, leak_view *v,
                     walker *wk)
{
    size_t j = 0, keep;
    int rc = 0;
    if (v->whole) {
        if (!v->built)
            view_fill(v, data, len);
        v->built = true;
        return v->rc ? v->rc : leak_walk(set, v->p, v->len, wk);
    }
    v->len = v->base = v->i = v->floor = v->ntoks = 0;
    v->changed = false;
    if (set->npats == 0)
        return 0;
    for (;;) {
        bool final;
        view_fill(v, data, len);
        if (v->rc)
            return v->rc;
        final = v->i >= len;
        wk->base = v->base;
        rc = leak_walk_range(set, v->p, v->len, &j, final ? SIZE_MAX : v->len - view_lag(set), wk);
        wk->base = 0;
        if (rc || final)
            return rc;
        keep = j > set->step ? j - set->step : 0;
        memmove(v->p, v->p + keep, v->len - keep);
        v->len -= keep;
        v->base += keep;
        v->floor = v->floor > keep ? v->floor - keep : 0;
        j -= keep;
    }
}

/* Whether a hit on the set's secret i counts: dead entries are skipped. */
static bool src_live(const az_leak_set *set, uint32_t i)
{
    const az_leak_entry *en = set->secrets[i].entry;
    return !en || atomic_load_explicit(&en->live, memory_order_acquire);
}

typedef struct scan_ctx {
    const az_leak_set *set;
    az_leak_hit *hit;
} scan_ctx;

static int scan_visit(void *ctx, const leak_match *m)
{
    scan_ctx *c = ctx;
    const leak_pat *pat = &c->set->pats[m->pat];
    if (!src_live(c->set, pat->secret))
        return 0; /* a secret removed since the set was built: look on */
    if (c->hit) {
        c->hit->id = c->set->secrets[pat->secret].id;
        c->hit->name = c->set->secrets[pat->secret].name;
        c->hit->kind = pat->kind;
        c->hit->offset = m->start;
        c->hit->len = m->len;
    }
    return 1;
}

/* Scans data with every set of the chain: its view when v is given, else the bytes as they are. */
static int scan_sets(const az_leak_set *set, const unsigned char *data, size_t len, leak_view *v,
                     az_leak_hit *hit)
{
    scan_ctx c;
    walker wk;
    int rc = 0;
    c.hit = hit;
    wk.visit = scan_visit;
    wk.done = NULL;
    wk.ctx = &c;
    wk.base = 0;
    for (; set && !rc; set = set->next) {
        c.set = set;
        rc = v ? view_walk(set, data, len, v, &wk) : leak_walk(set, data, len, &wk);
    }
    return rc;
}

/*
 * A hit in the view gives the input bytes it decodes from (another pass,
 * keeping the tokens: hits are rare). Without memory for them, it keeps the
 * view's offsets: still a hit.
 */
static void scan_locate(az_leak_hit *hit, const unsigned char *data, size_t len)
{
    leak_view v;
    size_t start, end;
    hit->decoded = true;
    if (view_whole(&v, data, len) == 0 && hit->len && hit->offset + hit->len <= v.len) {
        start = view_src(&v, hit->offset, false);
        end = view_src(&v, hit->offset + hit->len - 1, true);
        hit->offset = start;
        hit->len = end - start;
    }
    view_close(&v, NULL);
}

static bool chain_empty(const az_leak_set *set)
{
    for (; set; set = set->next)
        if (set->npats)
            return false;
    return true;
}

/*
 * One set over an input too long for its whole view (the view goes a block
 * at a time): the walk of the input is kept a block ahead of the view's, so
 * that view_fill reads bytes still in cache rather than reading the input
 * from memory a second time. A match in the input is preferred to one in
 * the view, as when the input is walked first: after a hit in the view the
 * input walk goes on to the end. *decoded says which was found.
 */
static int scan_interleaved(const az_leak_set *set, const unsigned char *data, size_t len,
                            leak_view *v, az_leak_hit *hit, bool *decoded)
{
    scan_ctx c = {set, hit};
    walker wk = {scan_visit, NULL, &c, 0};
    size_t j = 0, jraw = 0, keep;
    int rc = 0;
    *decoded = false;
    for (;;) {
        bool final;
        size_t ahead = len - v->i > VIEW_BLOCK ? v->i + VIEW_BLOCK : len;
        rc = leak_walk_range(set, data, len, &jraw, ahead == len ? SIZE_MAX : ahead - 1, &wk);
        if (rc)
            return rc;
        view_fill(v, data, len);
        if (v->rc)
            return v->rc;
        final = v->i >= len;
        wk.base = v->base;
        rc = leak_walk_range(set, v->p, v->len, &j, final ? SIZE_MAX : v->len - view_lag(set), &wk);
        wk.base = 0;
        if (rc || final)
            break;
        keep = j > set->step ? j - set->step : 0;
        memmove(v->p, v->p + keep, v->len - keep);
        v->len -= keep;
        v->base += keep;
        v->floor = v->floor > keep ? v->floor - keep : 0;
        j -= keep;
    }
    /* The view may end before the input walk does: escapes shrink it. */
    if (rc == 0)
        return leak_walk_range(set, data, len, &jraw, SIZE_MAX, &wk);
    if (rc == 1) {
        az_leak_hit raw;
        int r2;
        *decoded = true;
        c.hit = hit ? &raw : NULL;
        r2 = leak_walk_range(set, data, len, &jraw, SIZE_MAX, &wk);
        if (r2 == 1) {
            *decoded = false;
            if (hit)
                *hit = raw;
        }
    }
    return rc;
}

int az_leak_scan(const az_leak_set *set, const void *data, size_t len, az_leak_hit *hit)
{
    unsigned char stack[VIEW_STACK];
    leak_view v;
    bool decoded = true;
    int rc;
    if (!data && len)
        return AGENTAUTHZ_EINVAL;
    if (hit)
        hit->decoded = false;
    if (chain_empty(set))
        return 0;
    view_open(&v, set, data, len, stack, false);
    rc = v.rc;
    if (!rc && v.p && !v.whole && !set->next) {
        rc = scan_interleaved(set, data, len, &v, hit, &decoded);
    } else if (!rc) {
        rc = scan_sets(set, data, len, NULL, hit);
        decoded = false;
        if (!rc && v.p) {
            rc = scan_sets(set, data, len, &v, hit);
            decoded = true;
        }
    }
    view_close(&v, stack);
    if (rc == 1 && hit && decoded)
        scan_locate(hit, data, len);
    return rc;
}

/* ---- retired secrets: fingerprints kept after a secret is destroyed ---- */

/*
 * When a secret is destroyed its patterns go, but a tool's output may still
 * come back with it. So, for each of its patterns of at least
 * AZ_LEAK_RETIRED_MIN_PATTERN bytes, the index keeps a fingerprint: a keyed
 * SipHash-2-4 of the whole pattern, and a 24-bit keyed tag of each of its
 * 16-byte windows at offsets 0..7 (with letters folded, as for probes).
 * Scrub probes every 8th window of its input and of its view; a window that
 * hits pins where the pattern would start, and the pattern's keyed hash over
 * those bytes confirms it. The key is random per index, in guarded memory.
 * No pattern byte is kept; 16-byte windows carry at least 64 bits of the
 * secret's entropy for hex (96 for base64, 128 raw) and a tag keeps 24, so
 * a fingerprint is no shortcut to a random secret even for someone who
 * reads the key (see retired_tag);
 * a guessable secret (a password chosen by a host) could be confirmed by a
 * guess from its fingerprint, as from any hash of it.
 */
#define RQ 16u   /* bytes of a retired window */
#define RSTEP 8u /* probe stride of the retired scan; windows at offsets 0..RSTEP-1 */
_Static_assert(AZ_LEAK_RETIRED_MIN_PATTERN >= RQ + RSTEP - 1, "a pattern must hold every window");

typedef struct retired_pat {
    unsigned char fp[crypto_shorthash_BYTES]; /* keyed SipHash of the (folded) pattern */
    uint32_t win[RSTEP];  /* tags of the windows at offsets 0..RSTEP-1 (retired_tag) */
    size_t len;
    bool fold; /* hex or percent: letters folded before hashing */
} retired_pat;

typedef struct retired_rec {
    uint64_t until; /* engine clock: kept until then */
    char name[AZ_MAX_NAME + 1];
    retired_pat *pats;
    size_t npats;
} retired_rec;

/* The keys: the window hash's two words and SipHash's key, in one guarded allocation. */
typedef struct retired_key {
    uint64_t k0, k1;
    unsigned char fp[crypto_shorthash_KEYBYTES];
} retired_key;

/* The ring of retired secrets an index keeps, oldest first. */
typedef struct retired_store {
    retired_key *key; /* sodium_malloc'd */
    retired_rec *recs;
    size_t first, n; /* ring of AZ_LEAK_RETIRED_MAX */
    bool dirty;      /* changed since the matcher was built */
    az_leak_retired *matcher;
} retired_store;

/* One window of a pattern in the matcher's table; tag is never 0 (0 is empty). */
typedef struct retired_slot {
    uint32_t tag;
    uint32_t pat;
    uint32_t off;
} retired_slot;

struct az_leak_retired {
    _Atomic size_t refs;
    retired_key *key; /* a copy in guarded memory: the matcher outlives changes to the store */
    retired_pat *pats; /* copies of the records' patterns, in record order */
    uint32_t *pat_rec;
    size_t npats;
    retired_rec *recs; /* names and until; pats not used */
    size_t nrecs;
    retired_slot *table;
    size_t mask;
};

/*
 * The tag of a 16-byte window: 24 bits of a keyed mix, bit 24 set (0 marks
 * an empty slot). Only 24 bits: a window of hex carries 64 bits of the
 * secret, so a tag leaves 2^40 candidates for it, and recovering the
 * overlapping windows of a pattern from their tags costs an enumeration of
 * 2^64 windows even with the key. The table is indexed by the tag's bits.
 */
#define TAG_BITS 24u
static inline uint32_t retired_tag(const retired_key *k, const unsigned char *p)
{
    uint64_t x = (fold64(load64(p)) ^ k->k0) * 0x9E3779B97F4A7C15ull;
    uint64_t y = (fold64(load64(p + 8)) ^ k->k1) * 0xC2B2AE3D27D4EB4Full;
    uint64_t h = x ^ ((y << 31) | (y >> 33));
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 32;
    return (uint32_t)(h >> (64u - TAG_BITS)) | (1u << TAG_BITS);
}

/*
 * The keyed SipHash-2-4 (libsodium's crypto_shorthash, a PRF) of p, its
 * letters folded first when fold is set: the fingerprint that confirms a
 * pattern. 64 bits: a random candidate passes with probability 2^-64.
 * 0 on success, ENOMEM when a folded copy of a long pattern has no room.
 */
#define FOLD_STACK 4096u

static int retired_fp(const retired_key *k, const unsigned char *p, size_t len, bool fold,
                      unsigned char out[crypto_shorthash_BYTES])
{
    unsigned char stack[FOLD_STACK], *f = stack;
    size_t j = 0;
    if (!fold) {
        crypto_shorthash(out, p, len, k->fp);
        return 0;
    }
    if (len > sizeof stack && !(f = malloc(len)))
        return AGENTAUTHZ_ENOMEM;
    for (; j + 8 <= len; j += 8) {
        uint64_t w = fold64(load64(p + j));
        memcpy(f + j, &w, 8);
    }
    for (; j < len; j++)
        f[j] = fold1(p[j]);
    crypto_shorthash(out, f, len, k->fp);
    sodium_memzero(f, len);
    if (f != stack)
        free(f);
    return 0;
}

static int retired_store_new(retired_store **out)
{
    retired_store *rs = calloc(1, sizeof *rs);
    if (!rs)
        return AGENTAUTHZ_ENOMEM;
    rs->key = sodium_malloc(sizeof *rs->key);
    rs->recs = calloc(AZ_LEAK_RETIRED_MAX, sizeof *rs->recs);
    if (!rs->key || !rs->recs) {
        if (rs->key)
            sodium_free(rs->key);
        free(rs->recs);
        free(rs);
        return AGENTAUTHZ_ENOMEM;
    }
    randombytes_buf(rs->key, sizeof *rs->key);
    *out = rs;
    return 0;
}

static void rec_clear(retired_rec *r)
{
    free(r->pats);
    memset(r, 0, sizeof *r);
}

static void retired_store_free(retired_store *rs)
{
    if (!rs)
        return;
    for (size_t i = 0; i < AZ_LEAK_RETIRED_MAX; i++)
        rec_clear(&rs->recs[i]);
    free(rs->recs);
    sodium_free(rs->key);
    az_leak_retired_free(rs->matcher);
    free(rs);
}

/*
 * Whether pattern i of en gets a fingerprint: long enough, and not a
 * percent form of bytes whose raw pattern is kept (scrub decodes percent in
 * its view, where the raw pattern finds it: half the cost of a retirement
 * saved). An entry lists each piece's raw pattern first.
 */
static bool rec_keeps(const az_leak_entry *en, size_t i, size_t *raw_len)
{
    const entry_pat *ep = &en->pats[i];
    if (ep->kind == AZ_LEAK_RAW)
        *raw_len = ep->len;
    if (ep->len < AZ_LEAK_RETIRED_MIN_PATTERN)
        return false;
    return kind_fold(ep->kind) != FOLD_PERCENT || *raw_len < AZ_LEAK_RETIRED_MIN_PATTERN;
}

/* Fingerprints en's kept patterns into r. ENOMEM leaves r for the caller to clear. */
static int rec_fill(const retired_key *k, const az_leak_entry *en, uint64_t until, retired_rec *r)
{
    size_t n = 0, raw_len = 0;
    for (size_t i = 0; i < en->npats; i++)
        n += rec_keeps(en, i, &raw_len);
    if (n && !(r->pats = calloc(n, sizeof *r->pats)))
        return AGENTAUTHZ_ENOMEM;
    raw_len = 0;
    for (size_t i = 0; i < en->npats; i++) {
        const entry_pat *ep = &en->pats[i];
        retired_pat *rp = &r->pats[r->npats];
        if (!rec_keeps(en, i, &raw_len))
            continue;
        rp->len = ep->len;
        rp->fold = kind_fold(ep->kind) != FOLD_NONE;
        if (retired_fp(k, ep->p, ep->len, rp->fold, rp->fp) != 0)
            return AGENTAUTHZ_ENOMEM;
        for (size_t o = 0; o < RSTEP; o++)
            rp->win[o] = retired_tag(k, ep->p + o);
        r->npats++;
    }
    r->until = until;
    memcpy(r->name, en->name, sizeof r->name);
    return 0;
}

/* Adds en's fingerprints to the ring, dropping the oldest when it is full. */
static void retired_add(retired_store *rs, const az_leak_entry *en, uint64_t until)
{
    retired_rec *r;
    if (rs->n == AZ_LEAK_RETIRED_MAX) {
        rec_clear(&rs->recs[rs->first]);
        rs->first = (rs->first + 1) % AZ_LEAK_RETIRED_MAX;
        rs->n--;
    }
    r = &rs->recs[(rs->first + rs->n) % AZ_LEAK_RETIRED_MAX];
    if (rec_fill(rs->key, en, until, r) != 0) {
        rec_clear(r);
        return;
    }
    rs->n++;
    rs->dirty = true;
}

void az_leak_retired_free(az_leak_retired *m)
{
    if (!m || atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1)
        return;
    free(m->pats);
    free(m->pat_rec);
    free(m->recs);
    free(m->table);
    if (m->key)
        sodium_free(m->key);
    free(m);
}

static void matcher_insert(az_leak_retired *m, uint32_t tag, uint32_t pat, uint32_t off)
{
    size_t i = (size_t)tag & m->mask;
    while (m->table[i].tag)
        i = (i + 1) & m->mask;
    m->table[i] = (retired_slot){tag, pat, off};
}

/* Copies the records not expired at now into m and indexes their windows. */
static int matcher_fill(az_leak_retired *m, const retired_store *rs, uint64_t now, size_t npats)
{
    m->pats = malloc((npats ? npats : 1) * sizeof *m->pats);
    m->pat_rec = malloc((npats ? npats : 1) * sizeof *m->pat_rec);
    m->recs = calloc(rs->n ? rs->n : 1, sizeof *m->recs);
    /* At most 2^24 slots: the index comes from the tag's 24 bits (a full table still works). */
    m->mask = pow2_at_least(2 * RSTEP * npats + 1) - 1;
    if (m->mask > (1u << TAG_BITS) - 1)
        m->mask = (1u << TAG_BITS) - 1;
    m->table = calloc(m->mask + 1, sizeof *m->table);
    if (!m->pats || !m->pat_rec || !m->recs || !m->table)
        return AGENTAUTHZ_ENOMEM;
    for (size_t i = 0; i < rs->n; i++) {
        const retired_rec *r = &rs->recs[(rs->first + i) % AZ_LEAK_RETIRED_MAX];
        if (r->until < now)
            continue;
        m->recs[m->nrecs].until = r->until;
        memcpy(m->recs[m->nrecs].name, r->name, sizeof r->name);
        for (size_t k = 0; k < r->npats; k++, m->npats++) {
            m->pats[m->npats] = r->pats[k];
            m->pat_rec[m->npats] = (uint32_t)m->nrecs;
            for (uint32_t o = 0; o < RSTEP; o++)
                matcher_insert(m, r->pats[k].win[o], (uint32_t)m->npats, o);
        }
        m->nrecs++;
    }
    return 0;
}

static int matcher_build(const retired_store *rs, uint64_t now, az_leak_retired **out)
{
    az_leak_retired *m;
    size_t npats = 0;
    int rc;
    *out = NULL;
    for (size_t i = 0; i < rs->n; i++) {
        const retired_rec *r = &rs->recs[(rs->first + i) % AZ_LEAK_RETIRED_MAX];
        npats += r->until >= now ? r->npats : 0;
    }
    if (npats == 0)
        return 0;
    if (!(m = calloc(1, sizeof *m)))
        return AGENTAUTHZ_ENOMEM;
    atomic_init(&m->refs, 1);
    rc = AGENTAUTHZ_ENOMEM;
    if ((m->key = sodium_malloc(sizeof *m->key)) != NULL) {
        *m->key = *rs->key;
        rc = matcher_fill(m, rs, now, npats);
    }
    if (rc) {
        az_leak_retired_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

/* Drops the records expired at now from the front of the ring (they are mostly in order). */
static void retired_expire(retired_store *rs, uint64_t now)
{
    while (rs->n && rs->recs[rs->first].until < now) {
        rec_clear(&rs->recs[rs->first]);
        rs->first = (rs->first + 1) % AZ_LEAK_RETIRED_MAX;
        rs->n--;
        rs->dirty = true;
    }
}

/* A retired pattern confirmed at data[start..): its record is not expired at now. */
static bool retired_confirm(const az_leak_retired *m, uint32_t pat, const unsigned char *p,
                            size_t len, size_t start, uint64_t now)
{
    const retired_pat *rp = &m->pats[pat];
    unsigned char fp[crypto_shorthash_BYTES];
    if (rp->len > len - start || m->recs[m->pat_rec[pat]].until < now)
        return false;
    /* Without memory for a folded copy the candidate counts: redacting too much fails closed. */
    if (retired_fp(m->key, p + start, rp->len, rp->fold, fp) != 0)
        return true;
    return sodium_memcmp(fp, rp->fp, sizeof fp) == 0;
}

/*
 * Calls visit for every confirmed occurrence of a retired pattern in p,
 * with its start, length and the record's name.
 */
typedef int (*retired_visit)(void *ctx, size_t start, size_t len, const char *name);

static int retired_walk(const az_leak_retired *m, const unsigned char *p, size_t len, uint64_t now,
                        retired_visit visit, void *ctx)
{
    int rc;
    if (!m || len < AZ_LEAK_RETIRED_MIN_PATTERN)
        return 0;
    for (size_t j = 0; j + RQ <= len; j += RSTEP) {
        uint32_t tag = retired_tag(m->key, p + j);
        for (size_t i = (size_t)tag & m->mask; m->table[i].tag; i = (i + 1) & m->mask) {
            const retired_slot *sl = &m->table[i];
            if (sl->tag != tag || sl->off > j ||
                !retired_confirm(m, sl->pat, p, len, j - sl->off, now))
                continue;
            rc = visit(ctx, j - sl->off, m->pats[sl->pat].len,
                       m->recs[m->pat_rec[sl->pat]].name);
            if (rc)
                return rc;
        }
    }
    return 0;
}

/* ---- scrubbing ---- */

/*
 * A run: the union of overlapping matches, replaced by one marker named
 * after its first match (leftmost, then longest).
 */
typedef struct scrub_run {
    size_t start, end;
    size_t first_len; /* of the match that names it */
    size_t seq;       /* the order found, to break ties between sets */
    const char *name;
} scrub_run;

/*
 * Scrub state. Each probe's occurrences start in (j - step, j], after those
 * of every earlier probe, so sorting one probe's batch is enough to see
 * occurrences in start order; overlapping ones are merged into the open run.
 * A closed run is written out, or, when runs of several sets must be merged
 * first (collect), kept in runs.
 */
typedef struct scrub_ctx {
    const az_leak_set *set;
    const unsigned char *p;
    az_buf *out;
    size_t emitted; /* input bytes before this are already in out */
    bool open;      /* a run is pending */
    scrub_run run;
    bool collect;
    scrub_run *runs;
    size_t nruns, capruns;
    leak_match *batch; /* the current probe's occurrences */
    size_t nbatch, capbatch;
    const leak_view *view; /* while the view is walked: runs are mapped back to the input */
    const az_leak_retired *retired; /* fingerprints of destroyed secrets, or NULL */
    uint64_t now;
    int rc;
} scrub_ctx;

static int scrub_collect(void *ctx, const leak_match *m)
{
    scrub_ctx *c = ctx;
    if (!src_live(c->set, c->set->pats[m->pat].secret))
        return 0;
    c->rc = grow((void **)&c->batch, &c->capbatch, c->nbatch, sizeof *c->batch);
    if (c->rc)
        return c->rc;
    c->batch[c->nbatch++] = *m;
    return 0;
}

/* Start ascending, then the longest first, then pattern order for determinism. */
static int match_cmp(const void *a, const void *b)
{
    const leak_match *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    if (x->len != y->len)
        return x->len > y->len ? -1 : 1;
    return (x->pat > y->pat) - (x->pat < y->pat);
}

/* Writes the input up to the run, then its marker. */
static int scrub_write(scrub_ctx *c, const scrub_run *r)
{
    int rc = az_buf_append(c->out, c->p + c->emitted, r->start - c->emitted);
    if (!rc)
        rc = az_buf_append(c->out, MARKER_OPEN, sizeof MARKER_OPEN - 1);
    if (!rc)
        rc = az_buf_append(c->out, r->name, strlen(r->name));
    if (!rc)
        rc = az_buf_putc(c->out, ']');
    c->emitted = r->end;
    return rc;
}

/* Closes the open run: writes it, or keeps it when collecting. */
static int scrub_flush(scrub_ctx *c)
{
    int rc;
    if (!c->open)
        return 0;
    c->open = false;
    if (!c->collect)
        return scrub_write(c, &c->run);
    rc = grow((void **)&c->runs, &c->capruns, c->nruns, sizeof *c->runs);
    if (!rc && c->view) {
        size_t start = view_src(c->view, c->run.start, false);
        c->run.end = view_src(c->view, c->run.end - 1, true);
        c->run.start = start;
    }
    if (!rc) {
        c->run.seq = c->nruns;
        c->runs[c->nruns++] = c->run;
    }
    return rc;
}

/* Merges [start, end) into the open run when they overlap, else opens a new run. */
static int scrub_feed(scrub_ctx *c, size_t start, size_t end, size_t first_len, const char *name)
{
    int rc;
    if (c->open && start < c->run.end) {
        if (end > c->run.end)
            c->run.end = end;
        return 0;
    }
    rc = scrub_flush(c);
    c->open = true;
    c->run.start = start;
    c->run.end = end;
    c->run.first_len = first_len;
    c->run.name = name;
    return rc;
}

/* After each probe: its batch, collected by scrub_collect, is merged in start order. */
static int scrub_done(void *ctx)
{
    scrub_ctx *c = ctx;
    if (c->rc)
        return c->rc;
    if (c->nbatch > 1)
        qsort(c->batch, c->nbatch, sizeof *c->batch, match_cmp);
    for (size_t i = 0; i < c->nbatch && !c->rc; i++) {
        const leak_match *m = &c->batch[i];
        const char *name = c->set->secrets[c->set->pats[m->pat].secret].name;
        c->rc = scrub_feed(c, m->start, m->start + m->len, m->len, name);
    }
    c->nbatch = 0;
    return c->rc;
}

/* Runs in the order one set's walk would have fed their first matches. */
static int run_cmp(const void *a, const void *b)
{
    const scrub_run *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    if (x->first_len != y->first_len)
        return x->first_len > y->first_len ? -1 : 1;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

/*
 * A chain of sets: each set's runs are collected, then merged as one set's
 * matches would be. Overlap is transitive through a run (its matches cover
 * it without gaps), so merging runs gives the runs of all the matches, and
 * each is named after its leftmost, longest first match, as with one set.
 */
/* Walks every set of the chain over the input, or over its view when view is not NULL. */
static int scrub_walk_all(scrub_ctx *c, const az_leak_set *set, size_t len, leak_view *view,
                          walker *wk)
{
    int rc = 0;
    for (; set && !rc; set = set->next) {
        c->set = set;
        rc = view ? view_walk(set, c->p, len, view, wk) : leak_walk(set, c->p, len, wk);
        if (!rc)
            rc = scrub_flush(c);
    }
    return rc;
}

/* A retired secret's occurrence becomes a run of its own (mapped back from the view). */
static int scrub_retired_run(void *ctx, size_t start, size_t len, const char *name)
{
    scrub_ctx *c = ctx;
    scrub_run r = {start, start + len, len, 0, name};
    int rc;
    if (c->view) {
        r.start = view_src(c->view, start, false);
        r.end = view_src(c->view, start + len - 1, true);
    }
    rc = grow((void **)&c->runs, &c->capruns, c->nruns, sizeof *c->runs);
    if (rc)
        return rc;
    r.seq = c->nruns;
    c->runs[c->nruns++] = r;
    return 0;
}

/* The retired secrets' runs, in the input and in its whole view. */
static int scrub_retired(scrub_ctx *c, size_t len)
{
    leak_view v;
    int rc = retired_walk(c->retired, c->p, len, c->now, scrub_retired_run, c);
    if (rc || next_special(c->p, 0, len) == len)
        return rc;
    rc = view_whole(&v, c->p, len);
    if (!rc && v.changed) {
        c->view = &v;
        rc = retired_walk(c->retired, v.p, v.len, c->now, scrub_retired_run, c);
        c->view = NULL;
    }
    view_close(&v, NULL);
    return rc;
}

/*
 * The same for the input and then its view, whose runs are mapped back to
 * the input bytes they decode from before they are merged, then the
 * retired secrets' runs.
 */
static int scrub_chain(scrub_ctx *c, const az_leak_set *set, size_t len, leak_view *view,
                       walker *wk)
{
    int rc;
    c->collect = true;
    rc = scrub_walk_all(c, set, len, NULL, wk);
    if (!rc && view) {
        c->view = view;
        rc = scrub_walk_all(c, set, len, view, wk);
        c->view = NULL;
    }
    if (!rc && c->retired)
        rc = scrub_retired(c, len);
    if (rc)
        return rc;
    if (c->nruns > 1)
        qsort(c->runs, c->nruns, sizeof *c->runs, run_cmp);
    c->collect = false;
    for (size_t i = 0; i < c->nruns && !rc; i++)
        rc = scrub_feed(c, c->runs[i].start, c->runs[i].end, c->runs[i].first_len,
                        c->runs[i].name);
    return rc;
}

int az_leak_scrub(const az_leak_set *set, const void *data, size_t len, az_buf *out)
{
    return az_leak_scrub_retired(set, NULL, 0, data, len, out);
}

int az_leak_scrub_retired(const az_leak_set *set, const az_leak_retired *retired, uint64_t now,
                          const void *data, size_t len, az_buf *out)
{
    unsigned char stack[VIEW_STACK];
    leak_view v;
    scrub_ctx c;
    walker wk;
    int rc;
    if (!out || (!data && len))
        return AGENTAUTHZ_EINVAL;
    /* An empty input may come as NULL, on which no offset may be applied. */
    if (len == 0 || (chain_empty(set) && !retired))
        return az_buf_append(out, len ? data : "", len);
    memset(&c, 0, sizeof c);
    c.set = set;
    c.p = data;
    c.out = out;
    c.retired = retired;
    c.now = now;
    wk.visit = scrub_collect;
    wk.done = scrub_done;
    wk.ctx = &c;
    wk.base = 0;
    view_open(&v, set, data, len, stack, true);
    rc = v.rc;
    if (!rc && (!set || set->next || v.p || retired))
        rc = scrub_chain(&c, set, len, v.p ? &v : NULL, &wk);
    else if (!rc)
        rc = leak_walk(set, c.p, len, &wk);
    if (!rc)
        rc = scrub_flush(&c);
    if (!rc)
        rc = az_buf_append(out, c.p + c.emitted, len - c.emitted);
    view_close(&v, stack);
    free(c.batch);
    free(c.runs);
    return rc;
}

/* ---- the index: a base set, a recent set chained to it, liveness ---- */

enum { LAYER_NONE = 0, LAYER_BASE, LAYER_RECENT };

struct az_leak_index {
    leak_store *store;
    az_leak_set *base;   /* a reference, or NULL */
    az_leak_set *recent; /* a reference, or NULL; its next is base */
    size_t live;         /* live entries in base and recent */
    size_t base_dead;    /* dead entries in base */
    size_t base_rebuilds;
    retired_store *retired; /* made at the first retirement */
};

int az_leak_index_new(az_leak_index **out)
{
    az_leak_index *idx = NULL;
    leak_store *st = NULL;
    int rc = AGENTAUTHZ_ENOMEM;
    if (!out)
        return AGENTAUTHZ_EINVAL;
    *out = NULL;
    idx = calloc(1, sizeof *idx);
    st = calloc(1, sizeof *st);
    if (!idx || !st || (rc = az_secpool_new(&st->pool, 0)) != 0)
        goto fail;
    atomic_init(&st->refs, 1);
    idx->store = st;
    *out = idx;
    return 0;
fail:
    free(st);
    free(idx);
    return rc;
}

void az_leak_index_free(az_leak_index *idx)
{
    if (!idx)
        return;
    az_leak_set_free(idx->recent);
    az_leak_set_free(idx->base);
    store_unref(idx->store);
    retired_store_free(idx->retired);
    free(idx);
}

az_leak_set *az_leak_index_head(const az_leak_index *idx)
{
    if (!idx)
        return NULL;
    return idx->recent ? idx->recent : idx->base;
}

void az_leak_index_get_stats(const az_leak_index *idx, az_leak_index_stats *st)
{
    memset(st, 0, sizeof *st);
    if (!idx)
        return;
    st->live = idx->live;
    st->base = idx->base ? idx->base->nsecrets : 0;
    st->base_dead = idx->base_dead;
    st->recent = idx->recent ? idx->recent->nsecrets : 0;
    st->base_rebuilds = idx->base_rebuilds;
}

/* Appends set's live entries (not its next's) to v from index n; the new count. */
static size_t gather(const az_leak_set *set, az_leak_entry **v, size_t n)
{
    for (size_t i = 0; set && i < set->nsecrets; i++)
        if (az_leak_entry_live(set->secrets[i].entry))
            v[n++] = set->secrets[i].entry;
    return n;
}

static size_t count_live(const az_leak_set *set)
{
    size_t n = 0;
    for (size_t i = 0; set && i < set->nsecrets; i++)
        n += az_leak_entry_live(set->secrets[i].entry);
    return n;
}

static void set_layer(const az_leak_set *set, unsigned layer)
{
    for (size_t i = 0; set && i < set->nsecrets; i++)
        set->secrets[i].entry->layer = layer;
}

/*
 * Builds a set over the live entries of from (not its next) and fresh, and
 * chained to next. *out is NULL when there are none.
 */
static int rebuild(const az_leak_set *from1, const az_leak_set *from2, az_leak_entry *const *fresh,
                   size_t n, size_t max_step, az_leak_set *next, az_leak_set **out)
{
    size_t cap = (from1 ? from1->nsecrets : 0) + (from2 ? from2->nsecrets : 0), m;
    az_leak_entry *stackv[64], **v = stackv;
    int rc = 0;
    *out = NULL;
    if (n > SIZE_MAX / sizeof *v - cap)
        return AGENTAUTHZ_ELIMIT;
    if (cap + n > 64 && !(v = malloc((cap + n) * sizeof *v)))
        return AGENTAUTHZ_ENOMEM;
    m = gather(from2, v, gather(from1, v, 0));
    if (n)
        memcpy(v + m, fresh, n * sizeof *v);
    m += n;
    if (m)
        rc = az_leak_set_build_entries(v, m, max_step, next, out);
    if (v != stackv)
        free(v);
    return rc;
}

/* Folds the recent set and fresh into a new base without the dead entries. */
static int rebuild_base(az_leak_index *idx, az_leak_entry *const *fresh, size_t n)
{
    az_leak_set *base = NULL;
    int rc = rebuild(idx->base, idx->recent, fresh, n, AZ_LEAK_MAX_STEP, NULL, &base);
    if (rc)
        return rc;
    az_leak_set_free(idx->recent);
    az_leak_set_free(idx->base);
    idx->recent = NULL;
    idx->base = base;
    idx->base_dead = 0;
    idx->base_rebuilds++;
    set_layer(base, LAYER_BASE);
    return 0;
}

static int rebuild_recent(az_leak_index *idx, az_leak_entry *const *fresh, size_t n)
{
    az_leak_set *recent = NULL;
    int rc = rebuild(idx->recent, NULL, fresh, n, AZ_LEAK_RECENT_STEP, idx->base, &recent);
    if (rc)
        return rc;
    az_leak_set_free(idx->recent);
    idx->recent = recent;
    set_layer(recent, LAYER_RECENT);
    return 0;
}

/* max(AZ_LEAK_RECENT_MIN, sqrt(8 x live base entries)), at most AZ_LEAK_RECENT_MAX. */
static size_t recent_cap(const az_leak_index *idx)
{
    size_t want = idx->base ? 8 * (idx->base->nsecrets - idx->base_dead) : 0;
    size_t lo = AZ_LEAK_RECENT_MIN, hi = AZ_LEAK_RECENT_MAX;
    while (lo < hi) {
        size_t mid = lo + (hi - lo + 1) / 2;
        if (mid * mid <= want)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

int az_leak_index_add(az_leak_index *idx, const az_leak_secret *secrets, size_t n,
                      az_leak_entry **out)
{
    size_t made = 0;
    int rc = 0;
    if (!idx || (n && (!secrets || !out)))
        return AGENTAUTHZ_EINVAL;
    if (n > AZ_LEAK_MAX_SECRETS)
        return AGENTAUTHZ_ELIMIT;
    for (; made < n && !rc; made++)
        rc = entry_new(idx->store, &secrets[made], &out[made]);
    if (!rc && n) {
        if (count_live(idx->recent) + n > recent_cap(idx))
            rc = rebuild_base(idx, out, n);
        else
            rc = rebuild_recent(idx, out, n);
    }
    /* The sets hold the entries now; on failure this frees them. */
    for (size_t i = 0; i < made; i++) {
        entry_unref(out[i]);
        if (rc)
            out[i] = NULL;
    }
    if (!rc)
        idx->live += n;
    return rc;
}

void az_leak_index_kill(az_leak_index *idx, az_leak_entry *en)
{
    if (!idx || !en || !atomic_exchange_explicit(&en->live, false, memory_order_acq_rel))
        return;
    if (idx->live)
        idx->live--;
    if (en->layer == LAYER_BASE)
        idx->base_dead++;
}

int az_leak_index_tidy(az_leak_index *idx)
{
    size_t base_live;
    if (!idx || (!idx->base && !idx->recent))
        return 0;
    if (idx->live == 0) {
        az_leak_set_free(idx->recent);
        az_leak_set_free(idx->base);
        idx->recent = idx->base = NULL;
        idx->base_dead = 0;
        return 1;
    }
    base_live = idx->base ? idx->base->nsecrets - idx->base_dead : 0;
    if (idx->base_dead < AZ_LEAK_DEAD_MIN || idx->base_dead <= base_live / 2)
        return 0;
    return rebuild_base(idx, NULL, 0) == 0;
}

void az_leak_index_retire(az_leak_index *idx, az_leak_entry *en, uint64_t until)
{
    if (!idx || !en || !az_leak_entry_live(en))
        return;
    /* Without memory for its fingerprints the secret is not kept: scrub cannot report it. */
    if (idx->retired || retired_store_new(&idx->retired) == 0)
        retired_add(idx->retired, en, until);
    az_leak_index_kill(idx, en);
}

int az_leak_index_retired(az_leak_index *idx, uint64_t now, az_leak_retired **out)
{
    retired_store *rs;
    az_leak_retired *m = NULL;
    int rc;
    *out = NULL;
    if (!idx || !(rs = idx->retired))
        return 0;
    retired_expire(rs, now);
    if (rs->dirty) {
        rc = matcher_build(rs, now, &m);
        if (rc)
            return rc;
        az_leak_retired_free(rs->matcher);
        rs->matcher = m;
        rs->dirty = false;
    }
    if (rs->matcher)
        atomic_fetch_add_explicit(&rs->matcher->refs, 1, memory_order_relaxed);
    *out = rs->matcher;
    return 0;
}

size_t az_leak_index_retired_count(const az_leak_index *idx)
{
    return idx && idx->retired ? idx->retired->n : 0;
}

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
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "internal.h"
#include "leak_private.h"

#define Q 8u
/* Bloom bits per inserted window; 16 with 3 bits per key gives ~1% false hits. */
#define BLOOM_BITS_PER_KEY 16u
#define OFF_BITS 8u /* an entry is (pattern << 8) | offset, offset < 256 */
#define MAX_PATTERNS (1u << (32u - OFF_BITS))
_Static_assert(AZ_LEAK_MAX_STEP <= (1u << OFF_BITS), "an entry's offset field is too narrow");
#define MARKER_OPEN "[redacted:"
#define WALK_BATCH 8u     /* probes whose Bloom words are fetched together */
#define WALK_MIN_STEP 16u /* shortest stride that gains from batching */

#if defined(__GNUC__)
#define AZ_PREFETCH(p) __builtin_prefetch(p)
#else
#define AZ_PREFETCH(p) ((void)(p))
#endif

typedef struct leak_pat {
    size_t off; /* into set->bytes */
    size_t len;
    uint32_t secret; /* index into set->secrets */
    az_leak_kind kind;
} leak_pat;

typedef struct leak_name {
    uint32_t id;
    char name[AZ_MAX_NAME + 1];
} leak_name;

struct az_leak_set {
    unsigned char *bytes; /* guarded, read-only: every pattern's bytes */
    size_t bytes_cap;
    leak_pat *pats;
    size_t npats;
    leak_name *secrets;
    size_t nsecrets;
    size_t step;      /* probe stride, s in the comment above */
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
    /* raw L, hex 2 x 2L, base64 6 cores of at most 4L/3 + 1, percent 3 x 3L. */
    return 22 * len + 6;
}

static size_t enc_hex(const unsigned char *s, size_t len, const char *digits, unsigned char *dst)
{
    for (size_t i = 0; i < len; i++) {
        dst[2 * i] = (unsigned char)digits[s[i] >> 4];
        dst[2 * i + 1] = (unsigned char)digits[s[i] & 15];
    }
    return 2 * len;
}

/* The 6 bits of s starting at bit index bit (most significant first). */
static unsigned get6(const unsigned char *s, size_t bit)
{
    size_t byte = bit / 8;
    unsigned sh = (unsigned)(bit % 8);
    unsigned v = (unsigned)s[byte] << 8;
    /* The group reaches into the next byte only when it starts past bit 2. */
    if (sh > 2)
        v |= s[byte + 1];
    return (v >> (10 - sh)) & 63u;
}

/*
 * The stable core of the base64 encoding of s preceded by align bytes (mod
 * 3): the characters whose 6 bits all come from s. Character k covers
 * stream bits [6k, 6k + 6), and s covers [8 align, 8 align + 8 len).
 */
static size_t enc_b64core(const unsigned char *s, size_t len, unsigned align, const char *alpha,
                          unsigned char *dst)
{
    size_t lead = 8u * align;
    size_t first = (lead + 5) / 6;
    size_t end = (lead + 8 * len) / 6;
    size_t n = 0;
    for (size_t k = first; k < end; k++)
        dst[n++] = (unsigned char)alpha[get6(s, 6 * k - lead)];
    return n;
}

/* RFC 3986 unreserved: ALPHA / DIGIT / "-" / "." / "_" / "~". */
static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
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
    enc_keep(dst, enc, &n, &u, AZ_LEAK_HEX_LOWER, 0, enc_hex(secret, len, HEX_LOWER, dst + u));
    enc_keep(dst, enc, &n, &u, AZ_LEAK_HEX_UPPER, 0, enc_hex(secret, len, HEX_UPPER, dst + u));
    for (unsigned a = 0; a < 3; a++) {
        enc_keep(dst, enc, &n, &u, AZ_LEAK_BASE64, a,
                 enc_b64core(secret, len, a, B64_STD, dst + u));
        enc_keep(dst, enc, &n, &u, AZ_LEAK_BASE64URL, a,
                 enc_b64core(secret, len, a, B64_URL, dst + u));
    }
    enc_keep(dst, enc, &n, &u, AZ_LEAK_PERCENT, 0, enc_pct(secret, len, HEX_UPPER, false, dst + u));
    enc_keep(dst, enc, &n, &u, AZ_LEAK_PERCENT_LOWER, 0,
             enc_pct(secret, len, HEX_LOWER, false, dst + u));
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
        memcpy(set->secrets[i].name, secrets[i].name, strlen(secrets[i].name) + 1);
        for (size_t k = 0; k < nenc; k++) {
            leak_pat *p = &set->pats[set->npats++];
            p->off = used + enc[k].off;
            p->len = enc[k].len;
            p->secret = (uint32_t)i;
            p->kind = enc[k].kind;
        }
        used += u;
    }
    set->nsecrets = n;
    return 0;
}

/* The probe stride: the shortest pattern minus 7, capped. */
static size_t build_step(const az_leak_set *set)
{
    size_t m = SIZE_MAX;
    for (size_t i = 0; i < set->npats; i++)
        if (set->pats[i].len < m)
            m = set->pats[i].len;
    m = m - Q + 1;
    return m < AZ_LEAK_MAX_STEP ? m : AZ_LEAK_MAX_STEP;
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

/*
 * Sets the Bloom bits of every window at offsets 0 .. step - 1 of every
 * pattern and fills the buckets (a counting sort keyed by the Bloom word).
 */
static void build_index(az_leak_set *set)
{
    for (size_t pi = 0; pi < set->npats; pi++) {
        const unsigned char *b = set->bytes + set->pats[pi].off;
        for (size_t o = 0; o < set->step; o++) {
            uint64_t h = leak_mix(load64(b + o));
            set->bloom[bloom_word(set, h)] |= bloom_bits(h);
            set->starts[bloom_word(set, h)]++;
        }
    }
    for (size_t w = 1; w <= set->words; w++)
        set->starts[w] += set->starts[w - 1];
    for (size_t pi = 0; pi < set->npats; pi++) {
        const unsigned char *b = set->bytes + set->pats[pi].off;
        for (size_t o = 0; o < set->step; o++) {
            size_t w = bloom_word(set, leak_mix(load64(b + o)));
            set->entries[--set->starts[w]] = (uint32_t)(pi << OFF_BITS | o);
        }
    }
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
    set = calloc(1, sizeof *set);
    if (!set)
        return AGENTAUTHZ_ENOMEM;
    rc = AGENTAUTHZ_ENOMEM;
    if (n == 0)
        goto done;
    set->bytes_cap = total;
    set->bytes = sodium_malloc(total);
    set->pats = malloc(n * AZ_LEAK_MAX_ENC * sizeof *set->pats);
    set->secrets = malloc(n * sizeof *set->secrets);
    if (!set->bytes || !set->pats || !set->secrets)
        goto out;
    rc = build_encode(set, secrets, n);
    if (rc)
        goto out;
    set->step = build_step(set);
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
    if (!set)
        return;
    /* sodium_free wipes the pattern bytes; it needs them writable first. */
    if (set->bytes) {
        sodium_mprotect_readwrite(set->bytes);
        sodium_free(set->bytes);
    }
    free(set->pats);
    free(set->secrets);
    free(set->bloom);
    free(set->starts);
    free(set->entries);
    free(set);
}

size_t az_leak_set_patterns(const az_leak_set *set)
{
    return set ? set->npats : 0;
}

size_t az_leak_set_memory(const az_leak_set *set)
{
    if (!set)
        return 0;
    return sizeof *set + set->bytes_cap + set->npats * sizeof *set->pats +
           set->nsecrets * sizeof *set->secrets + set->words * sizeof *set->bloom +
           (set->words + 1) * sizeof *set->starts + set->nentries * sizeof *set->entries;
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

/*
 * Verifies the candidates in bucket w against the window g at probe j and
 * calls visit for each real occurrence. Returns the first nonzero visit
 * result, else 0.
 */
static int probe_verify(const az_leak_set *set, const unsigned char *p, size_t len, size_t j,
                        uint64_t g, size_t w, leak_visit visit, void *ctx)
{
    for (uint32_t k = set->starts[w]; k < set->starts[w + 1]; k++) {
        uint32_t e = set->entries[k];
        size_t o = e & ((1u << OFF_BITS) - 1);
        const leak_pat *pat = &set->pats[e >> OFF_BITS];
        const unsigned char *b = set->bytes + pat->off;
        leak_match m;
        int rc;
        if (o > j || pat->len > len - (j - o) || load64(b + o) != g)
            continue;
        /* Constant time over the pattern, so timing reveals no more than the answer does. */
        if (sodium_memcmp(p + j - o, b, pat->len) != 0)
            continue;
        m.start = j - o;
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
    int rc = probe_verify(set, p, len, j, load64(p + j), bloom_word(set, h), wk->visit, wk->ctx);
    if (!rc && wk->done)
        rc = wk->done(wk->ctx);
    return rc;
}

/*
 * Runs every probe over data in order. This is the hot loop. With a long
 * stride, probes go in batches whose Bloom words are prefetched first: a
 * large set's filter does not fit in cache, and one probe's load should not
 * wait for the last's. With a short stride the windows overlap and the
 * plain loop is faster. Returns the first nonzero result of the walker.
 */
static int leak_walk(const az_leak_set *set, const unsigned char *p, size_t len, const walker *wk)
{
    size_t step = set->step, last, j = 0;
    uint64_t h[WALK_BATCH];
    int rc;
    if (set->npats == 0 || len < Q)
        return 0;
    last = len - Q;
    while (step >= WALK_MIN_STEP && last - j >= WALK_BATCH * step) {
        for (size_t k = 0; k < WALK_BATCH; k++) {
            h[k] = leak_mix(load64(p + j + k * step));
            AZ_PREFETCH(&set->bloom[bloom_word(set, h[k])]);
        }
        for (size_t k = 0; k < WALK_BATCH; k++)
            if (bloom_test(set, h[k]) && (rc = walk_verify(set, p, len, j + k * step, h[k], wk)))
                return rc;
        j += WALK_BATCH * step;
    }
    for (;;) {
        uint64_t hj = leak_mix(load64(p + j));
        if (bloom_test(set, hj) && (rc = walk_verify(set, p, len, j, hj, wk)) != 0)
            return rc;
        if (last - j < step)
            return 0;
        j += step;
    }
}

typedef struct scan_ctx {
    const az_leak_set *set;
    az_leak_hit *hit;
} scan_ctx;

static int scan_visit(void *ctx, const leak_match *m)
{
    scan_ctx *c = ctx;
    const leak_pat *pat = &c->set->pats[m->pat];
    if (c->hit) {
        c->hit->id = c->set->secrets[pat->secret].id;
        c->hit->name = c->set->secrets[pat->secret].name;
        c->hit->kind = pat->kind;
        c->hit->offset = m->start;
        c->hit->len = m->len;
    }
    return 1;
}

int az_leak_scan(const az_leak_set *set, const void *data, size_t len, az_leak_hit *hit)
{
    scan_ctx c;
    walker wk;
    if (!data && len)
        return AGENTAUTHZ_EINVAL;
    if (!set)
        return 0;
    c.set = set;
    c.hit = hit;
    wk.visit = scan_visit;
    wk.done = NULL;
    wk.ctx = &c;
    return leak_walk(set, data, len, &wk);
}

/* ---- scrubbing ---- */

/*
 * Scrub state. Each probe's occurrences start in (j - step, j], after those
 * of every earlier probe, so sorting one probe's batch is enough to see
 * occurrences in start order; overlapping ones are merged into the open run.
 */
typedef struct scrub_ctx {
    const az_leak_set *set;
    const unsigned char *p;
    az_buf *out;
    size_t emitted; /* input bytes before this are already in out */
    bool open;      /* a run is pending */
    size_t run_start, run_end;
    uint32_t run_secret;
    leak_match *batch; /* the current probe's occurrences */
    size_t nbatch, capbatch;
    int rc;
} scrub_ctx;

static int scrub_collect(void *ctx, const leak_match *m)
{
    scrub_ctx *c = ctx;
    if (c->nbatch == c->capbatch) {
        size_t cap = c->capbatch ? 2 * c->capbatch : 16;
        leak_match *nb = realloc(c->batch, cap * sizeof *nb);
        if (!nb) {
            c->rc = AGENTAUTHZ_ENOMEM;
            return c->rc;
        }
        c->batch = nb;
        c->capbatch = cap;
    }
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

/* Writes the input up to the open run, then its marker, and closes it. */
static int scrub_flush(scrub_ctx *c)
{
    const char *name;
    int rc;
    if (!c->open)
        return 0;
    name = c->set->secrets[c->run_secret].name;
    c->open = false;
    rc = az_buf_append(c->out, c->p + c->emitted, c->run_start - c->emitted);
    if (!rc)
        rc = az_buf_append(c->out, MARKER_OPEN, sizeof MARKER_OPEN - 1);
    if (!rc)
        rc = az_buf_append(c->out, name, strlen(name));
    if (!rc)
        rc = az_buf_putc(c->out, ']');
    c->emitted = c->run_end;
    return rc;
}

static int scrub_feed(scrub_ctx *c, const leak_match *m)
{
    int rc;
    if (c->open && m->start < c->run_end) {
        if (m->start + m->len > c->run_end)
            c->run_end = m->start + m->len;
        return 0;
    }
    rc = scrub_flush(c);
    c->open = true;
    c->run_start = m->start;
    c->run_end = m->start + m->len;
    c->run_secret = c->set->pats[m->pat].secret;
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
    for (size_t i = 0; i < c->nbatch && !c->rc; i++)
        c->rc = scrub_feed(c, &c->batch[i]);
    c->nbatch = 0;
    return c->rc;
}

int az_leak_scrub(const az_leak_set *set, const void *data, size_t len, az_buf *out)
{
    scrub_ctx c;
    walker wk;
    int rc;
    if (!out || (!data && len))
        return AGENTAUTHZ_EINVAL;
    /* An empty input may come as NULL, on which no offset may be applied. */
    if (!set || len == 0)
        return az_buf_append(out, len ? data : "", len);
    memset(&c, 0, sizeof c);
    c.set = set;
    c.p = data;
    c.out = out;
    wk.visit = scrub_collect;
    wk.done = scrub_done;
    wk.ctx = &c;
    rc = leak_walk(set, c.p, len, &wk);
    if (!rc)
        rc = scrub_flush(&c);
    if (!rc)
        rc = az_buf_append(out, c.p + c.emitted, len - c.emitted);
    free(c.batch);
    return rc;
}

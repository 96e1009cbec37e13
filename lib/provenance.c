/*
 * The provenance index (provenance.h): preparing an observation, adding it
 * to a session's index within its bounds, and the lookup a from predicate
 * makes.
 */
#include <stdlib.h>
#include <string.h>

#include "leak_private.h"
#include "provenance.h"

#if defined(__has_include)
#if __has_include("extract.h")
#include "extract.h"
#define AZ_HAVE_EXTRACT 1
#endif
#endif

/* ---- hashing ---- */

#define ROLL_B UINT64_C(0x100000001b3)
#define MIX_K UINT64_C(0x9e3779b97f4a7c15)
#define SALT_ICASE UINT64_C(0x5bd1e9955bd1e995)

static inline unsigned char lc(unsigned char c)
{
    return (unsigned char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
}

static inline uint64_t fmix(uint64_t h)
{
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    h *= UINT64_C(0xc4ceb9fe1a85ec53);
    return h ^ (h >> 33);
}

/* ASCII upper case to lower case in the eight bytes of w, others unchanged. */
static inline uint64_t lower8(uint64_t w)
{
    const uint64_t ones = UINT64_C(0x0101010101010101), high = ones * 0x80;
    uint64_t low7 = w & ~high;
    uint64_t ge_a = low7 + ones * (0x80 - 'A');
    uint64_t gt_z = low7 + ones * (0x80 - 'Z' - 1);
    uint64_t upper = (ge_a ^ gt_z) & ~w & high;
    return w | (upper >> 2);
}

static inline uint64_t load8(const char *s)
{
    uint64_t w;
    memcpy(&w, s, 8);
    return w;
}

/* Eight bytes of s, lower-cased for icase. */
static inline uint64_t word8(const char *s, bool icase)
{
    uint64_t w = load8(s);
    return icase ? lower8(w) : w;
}

/* One step of a lane of hash_whole. */
static inline uint64_t lane(uint64_t h, uint64_t w)
{
    h = (h ^ w) * MIX_K;
    return h ^ (h >> 29);
}

/*
 * A hash of the whole of s, eight bytes a step (the last step reads the
 * last eight bytes, overlapping the one before it; len is in the seed);
 * icase hashes its lower-case form.
 */
static inline __attribute__((always_inline)) uint64_t hash_whole_as(const char *s, size_t len,
                                                                    bool icase)
{
    uint64_t h = (uint64_t)len * MIX_K ^ (icase ? SALT_ICASE : 0), w;
    size_t i = 0;
    if (len >= 64) {
        /* Four independent lanes a 32-byte step, so that long strings do not wait on one chain. */
        uint64_t a = h, b = h ^ ROLL_B, c = h ^ SALT_ICASE, d = h ^ MIX_K;
        for (; i + 32 <= len; i += 32) {
            a = lane(a, word8(s + i, icase));
            b = lane(b, word8(s + i + 8, icase));
            c = lane(c, word8(s + i + 16, icase));
            d = lane(d, word8(s + i + 24, icase));
        }
        h = fmix(a) ^ fmix(b + 1) ^ fmix(c + 2) ^ fmix(d + 3);
    }
    for (; i + 8 <= len; i += 8)
        h = lane(h, word8(s + i, icase));
    if (i < len) {
        if (len >= 8)
            w = load8(s + len - 8);
        else
            for (w = 0; i < len; i++)
                w |= (uint64_t)(unsigned char)s[i] << (8 * i);
        if (icase)
            w = lower8(w);
        h = (h ^ w) * MIX_K;
    }
    return fmix(h);
}

/* Compiled once for each case rule, so that the loops hold no test of it. */
/* Not inlined into the checks (as before add_item inlined its own): their code stays as it was. */
__attribute__((noinline)) static uint64_t hash_whole(const char *s, size_t len, bool icase)
{
    return icase ? hash_whole_as(s, len, true) : hash_whole_as(s, len, false);
}

/*
 * The polynomial hash of m bytes (a window), sum of s[i] * ROLL_B^(m-1-i);
 * the rolling step below keeps it. Eight bytes a step with the powers of
 * ROLL_B (the same sum, fewer multiplications waiting on each other).
 */
static inline __attribute__((always_inline)) uint64_t hash_window_as(const char *s, size_t m,
                                                                     bool icase)
{
    const uint64_t b2 = ROLL_B * ROLL_B, b3 = b2 * ROLL_B, b4 = b3 * ROLL_B, b5 = b4 * ROLL_B,
                   b6 = b5 * ROLL_B, b7 = b6 * ROLL_B, b8 = b7 * ROLL_B;
    uint64_t h = 0;
    size_t i = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    for (; i + 8 <= m; i += 8) { /* s[i] is the low byte of w */
        uint64_t w = word8(s + i, icase);
        h = h * b8 + (w & 0xff) * b7 + (w >> 8 & 0xff) * b6 + (w >> 16 & 0xff) * b5 +
            (w >> 24 & 0xff) * b4 + (w >> 32 & 0xff) * b3 + (w >> 40 & 0xff) * b2 +
            (w >> 48 & 0xff) * ROLL_B + (w >> 56);
    }
#endif
    for (; i < m; i++) {
        unsigned char c = (unsigned char)s[i];
        h = h * ROLL_B + (icase ? lc(c) : c);
    }
    return h;
}

/*
 * The same hash, four bytes a step, for the checks and the rest: in a
 * check's rolling lookup the eight-byte form measured slower (about 5% on
 * the bench's from rows), preparing an observation faster.
 */
static uint64_t hash_window(const char *s, size_t m, bool icase)
{
    const uint64_t b2 = ROLL_B * ROLL_B, b3 = b2 * ROLL_B, b4 = b3 * ROLL_B;
    const unsigned char *u = (const unsigned char *)s;
    uint64_t h = 0;
    size_t i = 0;
    if (icase) {
        for (; i + 4 <= m; i += 4)
            h = h * b4 + lc(u[i]) * b3 + lc(u[i + 1]) * b2 + lc(u[i + 2]) * ROLL_B + lc(u[i + 3]);
        for (; i < m; i++)
            h = h * ROLL_B + lc(u[i]);
    } else {
        for (; i + 4 <= m; i += 4)
            h = h * b4 + u[i] * b3 + u[i + 1] * b2 + u[i + 2] * ROLL_B + u[i + 3];
        for (; i < m; i++)
            h = h * ROLL_B + u[i];
    }
    return h;
}

static uint64_t power(uint64_t b, size_t e)
{
    uint64_t r = 1;
    while (e--)
        r *= b;
    return r;
}

/* ---- preparing an observation ---- */

void az_obs_init(az_obs *o, const az_obs_limits *lim, const struct az_leak_set *leaks)
{
    memset(o, 0, sizeof *o);
    o->lim = *lim;
    o->leaks = leaks;
    o->text.max = (size_t)lim->bytes;
}

void az_obs_free(az_obs *o)
{
    az_buf_free(&o->text);
    free(o->items);
    memset(o, 0, sizeof *o);
}

static void drop(az_obs *o, int why)
{
    o->dropped++;
    if (!o->err)
        o->err = why;
}

/* Whether the bytes hold a live secret (an error counts as one: such bytes are not indexed). */
static bool secret_in(const az_obs *o, const char *s, size_t len)
{
    return o->leaks && az_leak_scan(o->leaks, s, len, NULL) != 0;
}

/* Files text[off, off + len) as an item. */
static void add_item(az_obs *o, size_t off, size_t len, bool icase)
{
    const char *s = o->text.p + off;
    az_obs_item *it;
    if (len > UINT32_MAX || secret_in(o, s, len))
        return;
    if (o->n >= o->lim.values) {
        drop(o, AGENTAUTHZ_ELIMIT);
        return;
    }
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 64; /* a KiB of mail holds 20 to 40 */
        az_obs_item *grown = realloc(o->items, cap * sizeof *grown);
        if (!grown) {
            drop(o, AGENTAUTHZ_ENOMEM);
            return;
        }
        o->items = grown;
        o->cap = cap;
    }
    it = &o->items[o->n++];
    it->off = off;
    it->len = (uint32_t)len;
    it->icase = icase;
    it->first_m = len >= o->lim.min_len ? o->lim.min_len : 0;
    /* Both hashes inline, each case rule compiled apart (no test of it in their loops). */
    if (icase) {
        it->hash = hash_whole_as(s, len, true);
        it->first = it->first_m ? hash_window_as(s, it->first_m, true) : 0;
    } else {
        it->hash = hash_whole_as(s, len, false);
        it->first = it->first_m ? hash_window_as(s, it->first_m, false) : 0;
    }
}

/*
 * Words: what lies between white space, control bytes and the punctuation
 * that separates rather than joins ("'`<>()[]{},;|\ : = & ? # ! *), less
 * the joining punctuation at either end (. - / _ + ~ % @). Only a word
 * with a digit is an item of its own: identifiers, account numbers,
 * references, paths with numbers; plain words ("tomorrow") are not, or
 * every long word of an untrusted mail would taint what the agent writes.
 */
/* Byte classes of words: a separator, a digit, joining punctuation trimmed at the ends. */
enum { C_SEP = 1, C_DIGIT = 2, C_TRIM = 4 };

static const uint8_t byte_class[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 0, 4, 1, 1, 1, 1, 1, 4, 1, 4, 4, 4,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1,
    4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 4,
    1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 4, 1,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

/* The word s[a, b) of the string at base, which holds a digit: trimmed, filed when long enough. */
static void add_word(az_obs *o, size_t base, size_t a, size_t b, size_t whole)
{
    const unsigned char *s = (const unsigned char *)o->text.p + base;
    while (a < b && (byte_class[s[a]] & C_TRIM))
        a++;
    while (b > a && (byte_class[s[b - 1]] & C_TRIM))
        b--;
    if (b - a >= o->lim.min_len && b - a != whole)
        add_item(o, base + a, b - a, false);
}

#if defined(__SSE2__)
#include <emmintrin.h>
/* The first digit at or after i, or len: 16 bytes a step. */
static size_t next_digit(const unsigned char *s, size_t i, size_t len)
{
    const __m128i zero = _mm_set1_epi8('0'), nine = _mm_set1_epi8(9);
    for (; len - i >= 16; i += 16) {
        __m128i d = _mm_sub_epi8(_mm_loadu_si128((const __m128i *)(const void *)(s + i)), zero);
        unsigned bits = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(d, nine), d));
        if (bits)
            return i + (size_t)__builtin_ctz(bits);
    }
    while (i < len && !(byte_class[s[i]] & C_DIGIT))
        i++;
    return i;
}
#else
static size_t next_digit(const unsigned char *s, size_t i, size_t len)
{
    while (i < len && !(byte_class[s[i]] & C_DIGIT))
        i++;
    return i;
}
#endif

/*
 * Only words with a digit go further, so the pass goes from digit to
 * digit: the word around one runs back to a separator (no further than
 * the end of the last word) and on to the next, and the search for the
 * next digit resumes after it. Words without a digit are never looked at.
 */
static void add_words(az_obs *o, size_t base, size_t len)
{
    const unsigned char *s = (const unsigned char *)o->text.p + base;
    size_t i = 0, done = 0, min = o->lim.min_len;
    while ((i = next_digit(s, i, len)) < len) {
        size_t a = i;
        while (a > done && !(byte_class[s[a - 1]] & C_SEP))
            a--;
        while (i < len && !(byte_class[s[i]] & C_SEP))
            i++;
        if (i - a >= min)
            add_word(o, base, a, i, len);
        done = i;
    }
}

#ifdef AZ_HAVE_EXTRACT
typedef struct found_item {
    az_extract_kind kind;
    size_t off, len; /* in the string scanned */
} found_item;

typedef struct found_ctx {
    const char *s;
    size_t len;
    found_item *items; /* first the one on the stack, then on the heap */
    size_t n, cap;
    int err;
    found_item stack[64];
} found_ctx;

/* Collects what the extractor finds; the text may move once items are appended to it. */
static int found(void *ctx, az_extract_kind kind, const char *s, size_t len)
{
    found_ctx *f = ctx;
    if (len == f->len && kind == AZ_X_URL)
        return 0; /* the whole string is an item already (hosts and addresses are not: case) */
    if (f->n == f->cap) {
        size_t cap = f->cap * 2;
        found_item *grown = malloc(cap * sizeof *grown);
        if (!grown) {
            f->err = AGENTAUTHZ_ENOMEM;
            return 1;
        }
        memcpy(grown, f->items, f->n * sizeof *grown);
        if (f->items != f->stack)
            free(f->items);
        f->items = grown;
        f->cap = cap;
    }
    f->items[f->n++] = (found_item){kind, (size_t)(s - f->s), len};
    return 0;
}

/* src[0, n) in ASCII lower case into dst, eight bytes a step. */
static void lower_copy(char *dst, const char *src, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w = lower8(load8(src + i));
        memcpy(dst + i, &w, 8);
    }
    for (; i < n; i++)
        dst[i] = (char)lc((unsigned char)src[i]);
}

/* ASCII lower case to upper case in the eight bytes of w, others unchanged. */
static inline uint64_t upper8(uint64_t w)
{
    const uint64_t ones = UINT64_C(0x0101010101010101), high = ones * 0x80;
    uint64_t low7 = w & ~high;
    uint64_t ge_a = low7 + ones * (0x80 - 'a');
    uint64_t gt_z = low7 + ones * (0x80 - 'z' - 1);
    uint64_t lower = (ge_a ^ gt_z) & ~w & high;
    return w ^ (lower >> 2);
}

/* src[0, n) in ASCII upper case into dst, less its spaces (spaces of them); the bytes written. */
static size_t iban_copy(char *dst, const char *src, size_t n, size_t spaces)
{
    size_t i = 0, k = 0;
    if (spaces == 0)
        for (; i + 8 <= n; i += 8) {
            uint64_t w = upper8(load8(src + i));
            memcpy(dst + i, &w, 8);
        }
    for (k = i; i < n; i++) {
        unsigned char c = (unsigned char)src[i];
        if (c != ' ')
            dst[k++] = (char)(c >= 'a' && c <= 'z' ? c - 32 : c);
    }
    return k;
}

/*
 * A normalised copy of a host or address (lower case) or an IBAN (upper
 * case, no spaces), appended to the text; its offset, or SIZE_MAX.
 */
/*
 * Room for extra more bytes (and the NUL) in b, failing exactly as
 * az_buf_append would (buf.c's rule: ELIMIT past the cap, doubling from
 * 64, ENOMEM). Kept here, not in buf.c: a function added there moved the
 * link scanner's code and made hosts() checks 8% slower.
 */
static int text_reserve(az_buf *b, size_t extra)
{
    size_t max = b->max ? b->max : AZ_MAX_INPUT, need, cap;
    char *p;
    if (extra > max || b->len > max - extra)
        return AGENTAUTHZ_ELIMIT;
    need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    if (!(p = realloc(b->p, cap)))
        return AGENTAUTHZ_ENOMEM;
    b->p = p;
    b->cap = cap;
    return 0;
}

static size_t append_normal(az_obs *o, size_t from, size_t len, az_extract_kind kind)
{
    size_t off = o->text.len, spaces = 0, k;
    int rc;
    if (kind == AZ_X_IBAN && memchr(o->text.p + from, ' ', len))
        for (size_t i = 0; i < len; i++)
            spaces += o->text.p[from + i] == ' ';
    /*
     * Room for the copy first (the text may move, and fails as appending
     * it would), then the copy straight into it: it lies after the bytes
     * it is made from.
     */
    if ((rc = text_reserve(&o->text, len - spaces)) != 0) {
        drop(o, rc);
        return SIZE_MAX;
    }
    if (kind != AZ_X_IBAN) {
        lower_copy(o->text.p + off, o->text.p + from, len);
        k = len;
    } else {
        k = iban_copy(o->text.p + off, o->text.p + from, len, spaces);
    }
    o->text.len = off + k;
    o->text.p[o->text.len] = '\0';
    return off;
}

static void add_found(az_obs *o, size_t base, const found_item *fi)
{
    bool icase = fi->kind == AZ_X_HOST || fi->kind == AZ_X_EMAIL;
    size_t least = icase ? AZ_PROV_SHORT_MIN : o->lim.min_len, off;
    if (fi->len < least)
        return;
    if (fi->kind == AZ_X_URL) {
        add_item(o, base + fi->off, fi->len, false);
        return;
    }
    if ((off = append_normal(o, base + fi->off, fi->len, fi->kind)) == SIZE_MAX)
        return;
    if (o->text.len - off >= least)
        add_item(o, off, o->text.len - off, icase);
}

/* What the extractor finds inside the string at text[base, base + len). */
static void add_extracted(az_obs *o, size_t base, size_t len)
{
    found_ctx f;
    int rc;
    f.s = o->text.p + base;
    f.len = len;
    f.items = f.stack;
    f.n = 0;
    f.cap = sizeof f.stack / sizeof *f.stack;
    f.err = 0;
    rc = az_extract(o->text.p + base, len, AZ_X_URL | AZ_X_HOST | AZ_X_EMAIL | AZ_X_IBAN,
                        o->lim.values, found, &f);
    if (rc == AGENTAUTHZ_ELIMIT || f.err)
        drop(o, f.err ? f.err : rc);
    for (size_t i = 0; i < f.n; i++)
        add_found(o, base, &f.items[i]);
    if (f.items != f.stack)
        free(f.items);
}
#endif

void az_obs_add_text(az_obs *o, const char *s, size_t len)
{
    size_t base = o->text.len;
    int rc;
    if (len < AZ_PROV_SHORT_MIN)
        return; /* not even an address could be in it */
    if ((rc = az_buf_append(&o->text, s, len)) != 0) {
        drop(o, rc);
        return;
    }
    if (len >= o->lim.min_len)
        add_item(o, base, len, false);
    add_words(o, base, len);
#ifdef AZ_HAVE_EXTRACT
    add_extracted(o, base, len);
#endif
}

static void add_number(az_obs *o, double d)
{
    char buf[64];
    size_t n = az_number_text(d, buf, sizeof buf);
    if (n >= o->lim.min_len)
        az_obs_add_text(o, buf, n);
}

void az_obs_add_value(az_obs *o, const agentauthz_value *v)
{
    if (!v)
        return;
    if (o->depth >= AZ_MAX_DEPTH) {
        drop(o, AGENTAUTHZ_ELIMIT);
        return;
    }
    o->depth++;
    switch (v->type) {
    case AGENTAUTHZ_STRING: az_obs_add_text(o, v->u.str.p, v->u.str.len); break;
    case AGENTAUTHZ_NUMBER: add_number(o, v->u.num); break;
    case AGENTAUTHZ_LIST:
        for (size_t i = 0; i < v->u.list.n; i++)
            az_obs_add_value(o, v->u.list.items[i]);
        break;
    case AGENTAUTHZ_MAP:
        for (size_t i = 0; i < v->u.map.n; i++)
            az_obs_add_value(o, v->u.map.items[i].val);
        break;
    default: break;
    }
    o->depth--;
}

/* ---- the index ---- */

#define NO_BUCKET UINT32_MAX

typedef struct prov_item {
    const char *p;
    uint32_t len;
    uint32_t keyoff;   /* offset of the window it is filed by */
    uint32_t bucket;   /* in the window table, or NO_BUCKET (shorter than min_len) */
    bool icase;
    uint64_t key;      /* the window's hash */
    uint64_t hash;     /* the whole item's */
    uint64_t labels;
    uint64_t next_key; /* links: an item's sequence number + 1, 0 for none */
    uint64_t next_eq;
} prov_item;

typedef struct prov_entry {
    char *text;
    size_t size;
    uint64_t end; /* the sequence number after its last item */
} prov_entry;

/* A window-table bucket: its chain and how many live items it holds (one cache access). */
typedef struct key_bucket {
    uint64_t head;
    uint64_t count;
} key_bucket;

struct az_prov {
    az_obs_limits lim;
    uint64_t roll_top; /* ROLL_B^(min_len - 1) */
    char *labels[AZ_PROV_MAX_LABELS];
    size_t nlabels;
    prov_item *items; /* ring: item s at items[s & (icap - 1)] */
    size_t icap;
    uint64_t lo, hi;  /* live items: [lo, hi) */
    prov_entry *ents; /* ring of observations */
    size_t ecap;
    uint64_t elo, ehi;
    key_bucket *keys;  /* tcap buckets each */
    uint64_t *eq_heads;
    size_t tcap;
    size_t bytes;
    uint64_t dropped;
    bool incomplete;
};

az_prov *az_prov_new(const az_obs_limits *lim)
{
    az_prov *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->lim = *lim;
    p->roll_top = power(ROLL_B, lim->min_len - 1);
    return p;
}

static void free_tables(az_prov *p)
{
    free(p->keys);
    free(p->eq_heads);
}

void az_prov_free(az_prov *p)
{
    if (!p)
        return;
    for (uint64_t e = p->elo; e < p->ehi; e++)
        free(p->ents[e & (p->ecap - 1)].text);
    free(p->ents);
    free(p->items);
    free_tables(p);
    for (size_t i = 0; i < p->nlabels; i++)
        free(p->labels[i]);
    free(p);
}

void az_prov_mark_dropped(az_prov *p, uint64_t n)
{
    p->dropped += n;
    p->incomplete = true;
}

bool az_prov_incomplete(const az_prov *p)
{
    return p && p->incomplete;
}

void az_prov_stats(const az_prov *p, size_t *items, size_t *bytes, uint64_t *dropped)
{
    *items = p ? (size_t)(p->hi - p->lo) : 0;
    *bytes = p ? p->bytes : 0;
    *dropped = p ? p->dropped : 0;
}

uint64_t az_prov_label_bit(const az_prov *p, const char *name, size_t len)
{
    for (size_t i = 0; p && i < p->nlabels; i++)
        if (strlen(p->labels[i]) == len && memcmp(p->labels[i], name, len) == 0)
            return UINT64_C(1) << i;
    return 0;
}

int az_prov_labels(az_prov *p, const char *const *names, size_t n, uint64_t *mask)
{
    *mask = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t bit = az_prov_label_bit(p, names[i], strlen(names[i]));
        if (!bit) {
            if (p->nlabels >= AZ_PROV_MAX_LABELS)
                return AGENTAUTHZ_ELIMIT;
            if (!(p->labels[p->nlabels] = strdup(names[i])))
                return AGENTAUTHZ_ENOMEM;
            bit = UINT64_C(1) << p->nlabels++;
        }
        *mask |= bit;
    }
    return 0;
}

static inline size_t bucket_of(const az_prov *p, uint64_t h, bool icase)
{
    return (size_t)(fmix(h ^ (icase ? SALT_ICASE : 0)) & (p->tcap - 1));
}

static inline prov_item *item_at(const az_prov *p, uint64_t seq)
{
    return &p->items[seq & (p->icap - 1)];
}

/* The item a link names, or NULL at the chain's end (none, or dropped). */
static inline const prov_item *follow(const az_prov *p, uint64_t link)
{
    return link && link - 1 >= p->lo ? item_at(p, link - 1) : NULL;
}

/* Links item seq into its chains; its window's bucket is found anew when rehash. */
static void link_item(az_prov *p, uint64_t seq, bool rehash)
{
    prov_item *it = item_at(p, seq);
    size_t eb = (size_t)(it->hash & (p->tcap - 1));
    it->next_eq = p->eq_heads[eb];
    p->eq_heads[eb] = seq + 1;
    it->next_key = 0;
    if (it->bucket == NO_BUCKET)
        return;
    if (rehash)
        it->bucket = (uint32_t)bucket_of(p, it->key, it->icase);
    it->next_key = p->keys[it->bucket].head;
    p->keys[it->bucket].head = seq + 1;
    p->keys[it->bucket].count++;
}

static size_t pow2_at_least(size_t n)
{
    size_t c = 16;
    while (c < n)
        c *= 2;
    return c;
}

/* Tables of at least twice want buckets, the live items linked oldest first. */
static int grow_tables(az_prov *p, size_t want)
{
    size_t cap = pow2_at_least(want * 2);
    key_bucket *kb;
    uint64_t *eh;
    if (cap <= p->tcap)
        return 0;
    kb = calloc(cap, sizeof *kb);
    eh = calloc(cap, sizeof *eh);
    if (!kb || !eh) {
        free(kb);
        free(eh);
        return AGENTAUTHZ_ENOMEM;
    }
    free_tables(p);
    p->keys = kb;
    p->eq_heads = eh;
    p->tcap = cap;
    for (uint64_t s = p->lo; s < p->hi; s++)
        link_item(p, s, true);
    return 0;
}

/* A ring of at least want items (the links are sequence numbers: they stay valid). */
static int grow_items(az_prov *p, size_t want)
{
    size_t cap = pow2_at_least(want);
    prov_item *ring;
    if (cap <= p->icap)
        return 0;
    if (!(ring = calloc(cap, sizeof *ring)))
        return AGENTAUTHZ_ENOMEM;
    for (uint64_t s = p->lo; s < p->hi; s++)
        ring[s & (cap - 1)] = *item_at(p, s);
    free(p->items);
    p->items = ring;
    p->icap = cap;
    return 0;
}

static int grow_entries(az_prov *p)
{
    size_t cap;
    prov_entry *ring;
    if (p->ehi - p->elo < p->ecap)
        return 0;
    cap = p->ecap ? p->ecap * 2 : 16;
    if (!(ring = calloc(cap, sizeof *ring)))
        return AGENTAUTHZ_ENOMEM;
    for (uint64_t e = p->elo; e < p->ehi; e++)
        ring[e & (cap - 1)] = p->ents[e & (p->ecap - 1)];
    free(p->ents);
    p->ents = ring;
    p->ecap = cap;
    return 0;
}

/* Drops the oldest observation: its items leave the chains by falling below lo. */
static void evict_oldest(az_prov *p)
{
    prov_entry *e = &p->ents[p->elo & (p->ecap - 1)];
    for (uint64_t s = p->lo; s < e->end; s++) {
        const prov_item *it = item_at(p, s);
        if (it->bucket != NO_BUCKET)
            p->keys[it->bucket].count--;
    }
    p->dropped += e->end - p->lo;
    p->incomplete = true;
    p->lo = e->end;
    p->bytes -= e->size;
    free(e->text);
    e->text = NULL;
    p->elo++;
}

/* A live item equal to o's item it (same bytes, same case rule), or NULL. */
static prov_item *find_equal(az_prov *p, const char *s, const az_obs_item *it)
{
    uint64_t link = p->eq_heads[it->hash & (p->tcap - 1)];
    for (const prov_item *x; (x = follow(p, link)) != NULL; link = x->next_eq)
        if (x->hash == it->hash && x->len == it->len && x->icase == it->icase &&
            memcmp(x->p, s, it->len) == 0)
            return (prov_item *)x;
    return NULL;
}

static void insert(az_prov *p, const char *text, const az_obs_item *it, uint64_t labels)
{
    const char *s = text + it->off;
    prov_item *x = find_equal(p, s, it);
    size_t m = p->lim.min_len;
    if (x) {
        x->labels |= labels;
        return;
    }
    x = item_at(p, p->hi);
    memset(x, 0, sizeof *x);
    x->p = s;
    x->len = it->len;
    x->icase = it->icase;
    x->hash = it->hash;
    x->labels = labels;
    x->bucket = NO_BUCKET;
    if (it->len >= m) {
        /*
         * Filed by its first window, or by its last when the first's chain
         * is crowded and the last's is not as long: items that share a
         * beginning ("https://", a common domain) do not pile up in one
         * chain that every check would walk.
         */
        uint64_t first = it->first_m == m ? it->first : hash_window(s, m, it->icase), end = 0;
        size_t bf = bucket_of(p, first, it->icase), bl = bf;
        bool last = false;
        if (p->keys[bf].count > 2) {
            end = hash_window(s + it->len - m, m, it->icase);
            bl = bucket_of(p, end, it->icase);
            last = p->keys[bl].count < p->keys[bf].count;
        }
        x->key = last ? end : first;
        x->keyoff = last ? it->len - (uint32_t)m : 0;
        x->bucket = (uint32_t)(last ? bl : bf);
    }
    link_item(p, p->hi++, false);
}

static void prefetch_item(const az_prov *p, const az_obs_item *it)
{
    __builtin_prefetch(&p->eq_heads[it->hash & (p->tcap - 1)]);
    if (it->first_m == p->lim.min_len)
        __builtin_prefetch(&p->keys[bucket_of(p, it->first, it->icase)]);
}

/* Room for o: the oldest observations go until its bytes and items fit. */
static int make_room(az_prov *p, const az_obs *o)
{
    int rc;
    if (o->text.len > p->lim.bytes || o->n > p->lim.values)
        return AGENTAUTHZ_ELIMIT;
    while (p->elo < p->ehi &&
           (p->bytes + o->text.len > p->lim.bytes || (p->hi - p->lo) + o->n > p->lim.values))
        evict_oldest(p);
    if ((rc = grow_items(p, (size_t)(p->hi - p->lo) + o->n)) != 0 ||
        (rc = grow_tables(p, (size_t)(p->hi - p->lo) + o->n)) != 0)
        return rc;
    return grow_entries(p);
}

static int record_failed(az_prov *p, const az_obs *o, int rc)
{
    p->dropped += o->n ? o->n : 1;
    p->incomplete = true;
    return rc;
}

int az_prov_add(az_prov *p, az_obs *o, uint64_t labels, bool copy, size_t *indexed)
{
    char *text;
    size_t size = o->text.len;
    uint64_t before = p->hi;
    int rc;
    *indexed = 0;
    if (o->dropped) {
        p->dropped += o->dropped;
        p->incomplete = true;
    }
    if (o->n == 0)
        return o->err;
    if ((rc = make_room(p, o)) != 0)
        return record_failed(p, o, rc);
    if (copy) {
        if (!(text = malloc(size + 1)))
            return record_failed(p, o, AGENTAUTHZ_ENOMEM);
        memcpy(text, o->text.p, size + 1);
    } else {
        text = o->text.p;
        /* Kept for the session's life: without the slack of its growth (fewer pages to touch). */
        if (o->text.cap - size > 256) {
            char *fit = realloc(text, size + 1);
            if (fit)
                text = fit;
        }
        o->text.p = NULL;
        o->text.len = o->text.cap = 0;
    }
    for (size_t i = 0; i < o->n; i++) {
        /* The buckets of an item a few ahead are fetched while this one is filed. */
        if (i + 4 < o->n)
            prefetch_item(p, &o->items[i + 4]);
        insert(p, text, &o->items[i], labels);
    }
    *indexed = (size_t)(p->hi - before);
    if (p->hi == before) {
        free(text);
        return o->err;
    }
    p->ents[p->ehi++ & (p->ecap - 1)] = (prov_entry){text, size, p->hi};
    p->bytes += size;
    return o->err;
}

/* ---- lookups ---- */

static bool bytes_equal(const char *x, const char *item, size_t n, bool icase)
{
    if (!icase)
        return memcmp(x, item, n) == 0;
    for (size_t i = 0; i < n; i++)
        if (lc((unsigned char)x[i]) != (unsigned char)item[i])
            return false;
    return true;
}

static bool equal_to_item(const az_prov *p, uint64_t mask, const char *s, size_t len,
                          bool icase)
{
    uint64_t h = hash_whole(s, len, icase);
    uint64_t link = p->eq_heads[h & (p->tcap - 1)];
    for (const prov_item *x; (x = follow(p, link)) != NULL; link = x->next_eq)
        if ((x->labels & mask) && x->hash == h && x->len == len && x->icase == icase &&
            bytes_equal(s, x->p, len, icase))
            return true;
    return false;
}

/* An item filed by the window at j of s, wholly inside s. */
static bool item_at_window(const az_prov *p, uint64_t mask, const char *s, size_t len, size_t j,
                           uint64_t h, bool icase)
{
    uint64_t link = p->keys[bucket_of(p, h, icase)].head;
    for (const prov_item *x; (x = follow(p, link)) != NULL; link = x->next_key) {
        size_t start;
        if (x->key != h || x->icase != icase || !(x->labels & mask) || x->keyoff > j)
            continue;
        start = j - x->keyoff;
        if (x->len <= len - start && bytes_equal(s + start, x->p, x->len, icase))
            return true;
    }
    return false;
}

/* Whether s contains an item of min_len or more, by a rolling window over it. */
static bool contains_item(const az_prov *p, uint64_t mask, const char *s, size_t len)
{
    size_t m = p->lim.min_len;
    uint64_t hc, hi;
    if (len < m)
        return false;
    hc = hash_window(s, m, false);
    hi = hash_window(s, m, true);
    for (size_t j = 0;; j++) {
        if (item_at_window(p, mask, s, len, j, hc, false) ||
            item_at_window(p, mask, s, len, j, hi, true))
            return true;
        if (j + m >= len)
            return false;
        hc = (hc - (unsigned char)s[j] * p->roll_top) * ROLL_B + (unsigned char)s[j + m];
        hi = (hi - lc((unsigned char)s[j]) * p->roll_top) * ROLL_B + lc((unsigned char)s[j + m]);
    }
}

bool az_prov_find(const az_prov *p, uint64_t mask, const char *s, size_t len)
{
    if (!p || !mask || p->hi == p->lo || len < AZ_PROV_SHORT_MIN)
        return false;
    if (equal_to_item(p, mask, s, len, false) || equal_to_item(p, mask, s, len, true))
        return true;
    return contains_item(p, mask, s, len);
}

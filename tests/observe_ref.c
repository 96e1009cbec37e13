/*
 * The reference preparation of an observation, for differential tests:
 * lib/provenance.c's hashing and az_obs_init / az_obs_add_text / az_obs_free
 * as they were before the observation was made faster (word splitting
 * from digit to digit, chunked normalised copies, four-lane hashing), kept
 * verbatim but for this comment, the includes (and the #ifdef around the
 * extractor, always there), the names of its entry
 * points (ref_obs_*) and the scanner it calls (az_extract_ref, the
 * reference scanner). test_provenance's test_prepare_same_as_reference
 * checks that az_obs_add_text files exactly the items this does (offsets,
 * lengths, case rule, first-window hashes), copies the same normalised
 * text and counts the same drops. The whole-item hash is not compared: its
 * function changed (both the index and its lookups use the new one). Do not
 * "fix" this file: a change of what is indexed goes into both.
 */
#include <stdlib.h>
#include <string.h>

#include "leak_private.h"
#include "provenance.h"
#include "extract_ref.h"
#include "observe_ref.h"

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

/* A hash of the whole of s, eight bytes a step; icase hashes its lower-case form. */
static uint64_t hash_whole(const char *s, size_t len, bool icase)
{
    uint64_t h = (uint64_t)len * MIX_K ^ (icase ? SALT_ICASE : 0);
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        if (icase)
            w = lower8(w);
        h = (h ^ w) * MIX_K;
        h ^= h >> 29;
    }
    if (i < len) {
        uint64_t w = 0;
        memcpy(&w, s + i, len - i);
        if (icase)
            w = lower8(w);
        h = (h ^ w) * MIX_K;
    }
    return fmix(h);
}

/* The polynomial hash of m bytes (a window); the rolling step below keeps it. */
static uint64_t hash_window(const char *s, size_t m, bool icase)
{
    uint64_t h = 0;
    for (size_t i = 0; i < m; i++)
        h = h * ROLL_B + (icase ? lc((unsigned char)s[i]) : (unsigned char)s[i]);
    return h;
}

/* ---- preparing an observation ---- */

void ref_obs_init(az_obs *o, const az_obs_limits *lim, const struct az_leak_set *leaks)
{
    memset(o, 0, sizeof *o);
    o->lim = *lim;
    o->leaks = leaks;
    o->text.max = (size_t)lim->bytes;
}

void ref_obs_free(az_obs *o)
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
        size_t cap = o->cap ? o->cap * 2 : 16;
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
    it->hash = hash_whole(s, len, icase);
    it->first_m = len >= o->lim.min_len ? o->lim.min_len : 0;
    it->first = it->first_m ? hash_window(s, it->first_m, icase) : 0;
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

/* One pass of a table lookup a byte; only words with a digit go further. */
static void add_words(az_obs *o, size_t base, size_t len)
{
    const unsigned char *s = (const unsigned char *)o->text.p + base;
    size_t i = 0, min = o->lim.min_len;
    while (i < len) {
        size_t a;
        unsigned seen = 0;
        while (i < len && (byte_class[s[i]] & C_SEP))
            i++;
        a = i;
        while (i < len && !(byte_class[s[i]] & C_SEP))
            seen |= byte_class[s[i++]];
        if ((seen & C_DIGIT) && i - a >= min)
            add_word(o, base, a, i, len);
    }
}

typedef struct found_item {
    az_extract_kind kind;
    size_t off, len; /* in the string scanned */
} found_item;

typedef struct found_ctx {
    const char *s;
    size_t len;
    found_item *items;
    size_t n, cap;
    int err;
} found_ctx;

/* Collects what the extractor finds; the text may move once items are appended to it. */
static int found(void *ctx, az_extract_kind kind, const char *s, size_t len)
{
    found_ctx *f = ctx;
    if (len == f->len && kind == AZ_X_URL)
        return 0; /* the whole string is an item already (hosts and addresses are not: case) */
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 8;
        found_item *grown = realloc(f->items, cap * sizeof *grown);
        if (!grown) {
            f->err = AGENTAUTHZ_ENOMEM;
            return 1;
        }
        f->items = grown;
        f->cap = cap;
    }
    f->items[f->n++] = (found_item){kind, (size_t)(s - f->s), len};
    return 0;
}

/*
 * A normalised copy of a host or address (lower case) or an IBAN (upper
 * case, no spaces), appended to the text; its offset, or SIZE_MAX.
 */
static size_t append_normal(az_obs *o, size_t from, size_t len, az_extract_kind kind)
{
    size_t off = o->text.len;
    int rc = 0;
    for (size_t i = 0; i < len && rc == 0; i++) {
        unsigned char c = (unsigned char)o->text.p[from + i];
        if (kind == AZ_X_IBAN && c == ' ')
            continue;
        if (kind == AZ_X_IBAN && c >= 'a' && c <= 'z')
            c = (unsigned char)(c - 32);
        rc = az_buf_putc(&o->text, (char)(kind == AZ_X_IBAN ? c : lc(c)));
    }
    if (rc) {
        o->text.len = off;
        o->text.p[off] = '\0';
        drop(o, rc);
        return SIZE_MAX;
    }
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
    found_ctx f = {o->text.p + base, len, NULL, 0, 0, 0};
    int rc = az_extract_ref(o->text.p + base, len, AZ_X_URL | AZ_X_HOST | AZ_X_EMAIL | AZ_X_IBAN,
                        o->lim.values, found, &f);
    if (rc == AGENTAUTHZ_ELIMIT || f.err)
        drop(o, f.err ? f.err : rc);
    for (size_t i = 0; i < f.n; i++)
        add_found(o, base, &f.items[i]);
    free(f.items);
}

void ref_obs_add_text(az_obs *o, const char *s, size_t len)
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
    add_extracted(o, base, len);
}


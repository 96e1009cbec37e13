/*
 * Matchers used by the predicates of a policy: globs, domains, CIDR
 * networks and anchored regular expressions, plus the small parsers of
 * durations and names. Nothing here keeps state between calls, so every
 * function is reentrant; matching never allocates.
 */
#include <arpa/inet.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static void set_msg(char *msg, size_t cap, const char *fmt, ...) AZ_PRINTF(3, 4);

static void set_msg(char *msg, size_t cap, const char *fmt, ...)
{
    va_list ap;
    if (!msg || cap == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, cap, fmt, ap);
    va_end(ap);
}

/* ---- ASCII helpers ---- */

/* Folds ASCII letters only: locale-dependent tolower() would make policy meaning vary. */
static unsigned char fold(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c - 'A' + 'a') : c;
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(unsigned char c)
{
    return fold(c) >= 'a' && fold(c) <= 'z';
}

static bool bytes_eq(const char *a, const char *b, size_t n, bool icase)
{
    size_t i;
    /* Most text is already in one case: the vectorised compare settles it. */
    if (n == 0 || memcmp(a, b, n) == 0)
        return true;
    if (!icase)
        return false;
    for (i = 0; i < n; i++)
        if (fold((unsigned char)a[i]) != fold((unsigned char)b[i]))
            return false;
    return true;
}

bool az_b64url_only(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_'))
            return false;
    return true;
}

bool az_mem_eq(const char *a, size_t alen, const char *b, size_t blen, bool icase)
{
    return alen == blen && bytes_eq(a, b, alen, icase);
}

bool az_has_prefix(const char *s, size_t len, const char *p, size_t plen, bool icase)
{
    return plen <= len && bytes_eq(s, p, plen, icase);
}

bool az_has_suffix(const char *s, size_t len, const char *p, size_t plen, bool icase)
{
    return plen <= len && bytes_eq(s + (len - plen), p, plen, icase);
}

/* ---- globs ---- */

/*
 * A glob is compiled into a list of NFA states, one per token, and matched
 * by running every state at once over the subject (Thompson's
 * construction). The cost is O(subject x pattern) at worst and never
 * exponential, whatever the pattern. az_glob_compile keeps the states on the
 * heap, so that a match neither parses nor allocates; az_glob_match_raw
 * builds them on its stack, as it must work without the heap. The state sets
 * hold as many 64-bit words as the pattern has states, not the maximum.
 *
 * Most policy globs have one of a few shapes (a literal, a literal prefix
 * and suffix around one star, "**" at the end, "**" and a separator before a
 * one-star segment) that byte comparisons decide exactly; those skip the NFA
 * (see glob_shape).
 *
 * Globs see characters, not bytes: a UTF-8 sequence is one character for
 * '?' and classes, and a byte that is not part of a valid sequence is a
 * character on its own.
 */
enum glob_kind {
    G_LIT,    /* one character (off, len) of the pattern                 */
    G_ANY,    /* '?'                                                      */
    G_CLASS,  /* '[...]', the members at (off, len)                       */
    G_NCLASS, /* '[!...]' or '[^...]'                                     */
    G_STAR,   /* '*': stays on any non-separator, or skips                */
    G_DSTAR,  /* '**': stays on anything, or skips                        */
    G_DSENT,  /* "**" + separator at a segment start: skip, or G_DSLOOP  */
    G_DSLOOP  /* inside it: stays on anything, leaves on a separator      */
};

/*
 * The fast paths, each equivalent to the NFA for the patterns glob_shape
 * gives it. P and S are literal texts, SEP the separator, STAR one '*' and
 * STARS "**":
 *   LITERAL  P                  the subject equals P
 *   ALL      STARS              everything (also STAR for tools)
 *   STAR     P STAR S           P, then a run without SEP, then S
 *   DSTAR    P STARS S          P, anything, S (the STARS is not a whole segment)
 *   DSEG     P STARS SEP S      P ends with SEP or is empty: P S, or P anything SEP S
 *   TAIL     STARS SEP P STAR S the subject's last segment is P, a run, S
 *   INNER    STARS SEP P SEP STARS  P SEP starts the subject, or SEP P SEP is in it
 */
enum glob_shape {
    SHAPE_GENERAL,
    SHAPE_LITERAL,
    SHAPE_ALL,
    SHAPE_STAR,
    SHAPE_DSTAR,
    SHAPE_DSEG,
    SHAPE_TAIL,
    SHAPE_INNER
};

typedef struct gstate {
    uint8_t kind;
    uint16_t off;
    uint16_t len;
} gstate;

/*
 * A pattern of n bytes has at most n states (G_DSENT+G_DSLOOP use 3 bytes),
 * plus the accepting state, which has no entry in st.
 */
typedef struct gprog {
    gstate *st;
    size_t n; /* state n is the accepting state */
    const char *pat;
    unsigned char sep;
    bool icase;
} gprog;

#define GSET_WORDS ((AZ_MAX_PATTERN + 1 + 63) / 64)
typedef struct gset {
    uint64_t w[GSET_WORDS];
} gset;

/* The words of a state set that a program of n states (plus accept) uses. */
static size_t gset_words(size_t n)
{
    return n / 64 + 1;
}

typedef struct gerr {
    const char *what;
    size_t at;
} gerr;

/* The length of the character at s: a valid UTF-8 sequence, else one byte. */
static size_t u8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t k = 1, i;
    if (c >= 0xC2 && c <= 0xDF)
        k = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        k = 3;
    else if (c >= 0xF0 && c <= 0xF4)
        k = 4;
    if (k > n)
        return 1;
    for (i = 1; i < k; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 1;
    return k;
}

/* The code point of a character; stray bytes get values above Unicode, so they stay distinct. */
static uint32_t u8_value(const unsigned char *s, size_t k)
{
    static const unsigned char lead_mask[5] = {0, 0x7F, 0x1F, 0x0F, 0x07};
    uint32_t v;
    size_t i;
    if (k == 1 && s[0] >= 0x80)
        return 0x110000u + s[0];
    v = s[0] & lead_mask[k];
    for (i = 1; i < k; i++)
        v = (v << 6) | (s[i] & 0x3Fu);
    return v;
}

static unsigned char glob_sep(az_glob_mode mode)
{
    return mode == AZ_GLOB_TOOL ? '.' : '/';
}

static void gprog_add(gprog *g, uint8_t kind, size_t off, size_t len)
{
    g->st[g->n].kind = kind;
    g->st[g->n].off = (uint16_t)off;
    g->st[g->n].len = (uint16_t)len;
    g->n++;
}

static bool glob_fail(gerr *e, const char *what, size_t at)
{
    e->what = what;
    e->at = at;
    return false;
}

/* Reads one class member character at *j into *cp. */
static bool class_char(const char *p, size_t n, size_t *j, uint32_t *cp)
{
    size_t k;
    if (*j >= n)
        return false;
    k = u8_len((const unsigned char *)p + *j, n - *j);
    *cp = u8_value((const unsigned char *)p + *j, k);
    *j += k;
    return true;
}

/* Validates the class at p[i] == '[' and adds its state; *i moves past the ']'. */
static bool glob_class(gprog *g, const char *p, size_t n, size_t *i, gerr *e)
{
    size_t j = *i + 1, body;
    uint8_t kind = G_CLASS;
    uint32_t lo, hi;
    if (j < n && (p[j] == '!' || p[j] == '^')) {
        kind = G_NCLASS;
        j++;
    }
    body = j;
    for (;;) {
        if (j >= n)
            return glob_fail(e, "unclosed '['", *i);
        if (p[j] == ']' && j > body)
            break;
        /* "[[:alpha:]]" would silently mean "one of [:alph"; refuse it instead. */
        if (p[j] == '[' && j + 1 < n && p[j + 1] == ':')
            return glob_fail(e, "character class names like [:alpha:] are not supported", j);
        if (!class_char(p, n, &j, &lo))
            return glob_fail(e, "unclosed '['", *i);
        if (j + 1 < n && p[j] == '-' && p[j + 1] != ']') {
            j++;
            if (!class_char(p, n, &j, &hi))
                return glob_fail(e, "unclosed '['", *i);
            if (hi < lo)
                return glob_fail(e, "reversed range in '[...]'", *i);
        }
    }
    gprog_add(g, kind, body, j - body);
    *i = j + 1;
    return true;
}

/* Adds the state(s) of a run of one or two '*' at p[*i]. */
static bool glob_stars(gprog *g, const char *p, size_t n, size_t *i, bool seg_start, gerr *e)
{
    size_t run = 0;
    while (*i + run < n && p[*i + run] == '*')
        run++;
    if (run > 2)
        return glob_fail(e, "'***' is not a glob: use '*' or '**'", *i);
    *i += run;
    if (run == 1) {
        gprog_add(g, G_STAR, 0, 0);
    } else if (seg_start && *i < n && (unsigned char)p[*i] == g->sep) {
        /*
         * A "**" that fills a whole segment may match no segment at all,
         * so "/a/", "**", "/b" together match "/a/b".
         */
        gprog_add(g, G_DSENT, 0, 0);
        gprog_add(g, G_DSLOOP, 0, 0);
        (*i)++;
    } else {
        gprog_add(g, G_DSTAR, 0, 0);
    }
    return true;
}

/* Adds the literal character at p[*i]; returns whether it is the separator. */
static void glob_literal(gprog *g, const char *p, size_t n, size_t *i, bool *is_sep)
{
    size_t k = u8_len((const unsigned char *)p + *i, n - *i);
    gprog_add(g, G_LIT, *i, k);
    *is_sep = k == 1 && (unsigned char)p[*i] == g->sep;
    *i += k;
}

static bool glob_token(gprog *g, const char *p, size_t n, size_t *i, bool *seg_start, gerr *e)
{
    bool sep = false, ok;
    if (p[*i] == '*') {
        ok = glob_stars(g, p, n, i, *seg_start, e);
        /* A "**" + separator ends a segment, so a further "**" there fills one too. */
        sep = ok && g->n > 0 && g->st[g->n - 1].kind == G_DSLOOP;
    } else if (p[*i] == '?') {
        gprog_add(g, G_ANY, 0, 0);
        (*i)++;
        ok = true;
    } else if (p[*i] == '[') {
        ok = glob_class(g, p, n, i, e);
    } else {
        glob_literal(g, p, n, i, &sep);
        ok = true;
    }
    *seg_start = sep;
    return ok;
}

/* Validates pat and builds its states in g->st, which has room for min(n, AZ_MAX_PATTERN). */
static bool glob_parse(gprog *g, const char *p, size_t n, az_glob_mode mode, bool icase, gerr *e)
{
    const char *bs;
    size_t i = 0;
    bool seg_start = true;
    g->n = 0;
    g->pat = p;
    g->sep = glob_sep(mode);
    g->icase = icase;
    if (n == 0)
        return glob_fail(e, "empty glob", 0);
    if (n > AZ_MAX_PATTERN)
        return glob_fail(e, "glob longer than 1024 bytes", AZ_MAX_PATTERN);
    /*
     * The glob syntax has no escapes (policy.md): a reader would take '\\*'
     * for a literal star or for a backslash and a star, so neither is guessed.
     */
    bs = memchr(p, '\\', n);
    if (bs)
        return glob_fail(e, "a backslash is not allowed in a glob (globs have no escapes)",
                         (size_t)(bs - p));
    while (i < n)
        if (!glob_token(g, p, n, &i, &seg_start, e))
            return false;
    return true;
}

static bool gset_has(const gset *s, size_t i)
{
    return (s->w[i / 64] >> (i % 64)) & 1u;
}

static void gset_add(gset *s, size_t i)
{
    s->w[i / 64] |= (uint64_t)1 << (i % 64);
}

static bool gset_empty(const gset *s, size_t nw)
{
    size_t i;
    for (i = 0; i < nw; i++)
        if (s->w[i])
            return false;
    return true;
}

/* The bits of word w above bit b (b in 0..63), so a scan sees bits set while scanning. */
static uint64_t bits_above(uint64_t w, size_t b)
{
    return b == 63 ? 0 : w & (~(uint64_t)0 << (b + 1));
}

/*
 * Adds the states reachable without reading a character. Those edges only go
 * forward, so one ascending pass that sees its own additions is enough.
 */
static void glob_closure(const gprog *g, gset *s, size_t nw)
{
    size_t wi, i;
    uint64_t bits;
    for (wi = 0; wi < nw; wi++) {
        for (bits = s->w[wi]; bits; bits = bits_above(s->w[wi], i % 64)) {
            i = wi * 64 + (size_t)__builtin_ctzll(bits);
            if (i >= g->n)
                return;
            if (g->st[i].kind == G_STAR || g->st[i].kind == G_DSTAR || g->st[i].kind == G_DSENT)
                gset_add(s, i + 1);
            if (g->st[i].kind == G_DSENT)
                gset_add(s, i + 2);
        }
    }
}

static bool lit_eq(const gprog *g, const gstate *st, const unsigned char *c, size_t k)
{
    return st->len == k && bytes_eq(g->pat + st->off, (const char *)c, k, g->icase);
}

static bool class_has(const gprog *g, const gstate *st, uint32_t cp)
{
    const char *p = g->pat + st->off;
    size_t n = st->len, j = 0;
    uint32_t lo, hi;
    while (j < n) {
        class_char(p, n, &j, &lo);
        hi = lo;
        if (j + 1 < n && p[j] == '-') {
            j++;
            class_char(p, n, &j, &hi);
        }
        if (cp >= lo && cp <= hi)
            return true;
    }
    return false;
}

/* A class never matches the separator, even "[!a]": it stands for one character of a segment. */
static bool class_match(const gprog *g, const gstate *st, const unsigned char *c, size_t k,
                        bool is_sep)
{
    uint32_t cp = u8_value(c, k);
    bool in;
    if (is_sep)
        return false;
    in = class_has(g, st, cp);
    if (!in && g->icase && k == 1 && is_alpha(c[0]))
        in = class_has(g, st, cp ^ 0x20u);
    return st->kind == G_NCLASS ? !in : in;
}

/* The state that state i moves to on character c, added to next. */
static void glob_step1(const gprog *g, size_t i, const unsigned char *c, size_t k, gset *next)
{
    const gstate *st = &g->st[i];
    bool is_sep = k == 1 && c[0] == g->sep;
    switch (st->kind) {
    case G_LIT:
        if (lit_eq(g, st, c, k))
            gset_add(next, i + 1);
        break;
    case G_ANY:
        if (!is_sep)
            gset_add(next, i + 1);
        break;
    case G_CLASS:
    case G_NCLASS:
        if (class_match(g, st, c, k, is_sep))
            gset_add(next, i + 1);
        break;
    case G_STAR:
        if (!is_sep)
            gset_add(next, i);
        break;
    case G_DSTAR:
        gset_add(next, i);
        break;
    case G_DSLOOP:
        gset_add(next, i);
        if (is_sep)
            gset_add(next, i + 1);
        break;
    default: /* G_DSENT reads nothing: its edges are in glob_closure */
        break;
    }
}

static void glob_step(const gprog *g, const gset *cur, gset *next, size_t nw,
                      const unsigned char *c, size_t k)
{
    size_t wi, i;
    uint64_t bits;
    memset(next->w, 0, nw * sizeof next->w[0]);
    for (wi = 0; wi < nw; wi++) {
        for (bits = cur->w[wi]; bits; bits &= bits - 1) {
            i = wi * 64 + (size_t)__builtin_ctzll(bits);
            if (i < g->n)
                glob_step1(g, i, c, k, next);
        }
    }
    glob_closure(g, next, nw);
}

/* Only the first nw words of a and b are ever read or written. */
static bool glob_run(const gprog *g, const char *s, size_t len)
{
    gset a, b, *cur = &a, *next = &b, *t;
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, nw = gset_words(g->n);
    memset(cur->w, 0, nw * sizeof cur->w[0]);
    gset_add(cur, 0);
    glob_closure(g, cur, nw);
    while (i < len) {
        size_t k = u8_len(u + i, len - i);
        glob_step(g, cur, next, nw, u + i, k);
        if (gset_empty(next, nw))
            return false;
        t = cur;
        cur = next;
        next = t;
        i += k;
    }
    return gset_has(cur, g->n);
}

/* The one rule that is not a glob rule: the tool pattern "*" matches every tool. */
static bool glob_is_all(const char *p, size_t n, az_glob_mode mode)
{
    return (n == 1 && p[0] == '*' && mode == AZ_GLOB_TOOL) ||
           (n == 2 && p[0] == '*' && p[1] == '*');
}

/* ---- linear matching ---- */

/*
 * The NFA costs the subject's length times the states alive, which a glob of
 * many stars keeps high (a 31-star glob took 21 s on 16 MiB). glob_linear
 * splits the pattern into segments (runs of characters, '?' and classes,
 * each of a fixed number of characters) between gaps ('*', "**", and "**" +
 * separator at a segment start), and places the segments left to right,
 * each where it first fits, finding literal text with memmem.
 *
 * Why the first fit is right: a block of segments joined by '*' (the part
 * between two "**" gaps) spans exactly as many separators as it holds, as
 * '*' never crosses one. Of its matches that start between the same two
 * separators of the subject, the leftmost start can take the path of any
 * later one (the text in between holds no separator), so placing each
 * segment leftmost gives the leftmost end, which leaves the most to the
 * rest; and when a block fails from one start it fails from every later
 * start before the next separator, so the search moves past it. A block
 * that must end the subject starts past a known separator: one attempt.
 *
 * Cost: each segment search reads its own run between separators, so the
 * time is linear in the subject, save two cases that stay as the NFA was:
 * a block holding both a separator and a '*' between two "**" gaps (k
 * separators: up to k + 1 passes), and a segment that mixes '?' or classes
 * with text (every place the text is found is checked, icase text found by
 * a plain scan).
 *
 * UTF-8: positions are character starts of the subject as the NFA reads it
 * (a valid sequence is one character, a stray byte one too). A byte that is
 * not a continuation byte always starts a character; char_start settles the
 * others from at most three bytes back; and a segment is compared character
 * by character where it is found.
 */

#define GM_FAIL SIZE_MAX

typedef struct gseg {
    uint16_t a, b;   /* its states [a, b) */
    uint16_t lit;    /* how many of them, from a, are literal characters ... */
    uint16_t off;    /* ... whose bytes are pat[off, off + litlen) */
    uint16_t litlen;
    uint16_t minb;   /* the fewest subject bytes it can match */
    uint16_t maxb;   /* the most */
    uint16_t nsep;   /* literal separators in it */
    uint8_t gap;     /* the gap before it: G_STAR, G_DSTAR, G_DSENT (0: the first) */
} gseg;

typedef struct gmatch {
    const gprog *g;
    const unsigned char *s;
    size_t n;
    gseg *seg;
    size_t nseg;
    /*
     * The last separator search: sep_at is the first separator at or after
     * sep_from (or n). Each segment asks where its run ends; without this a
     * subject with no separator would be read once per segment.
     */
    size_t sep_from, sep_at;
} gmatch;

/* Where a block may start: exactly at lo, anywhere from lo, at lo or just after a separator. */
enum { GM_AT, GM_ANY, GM_SEG };

static bool is_cont(unsigned char c)
{
    return (c & 0xC0) == 0x80;
}

/* Whether a character of s starts at x (or x is the end), as u8_len reads s from its start. */
static bool char_start(const unsigned char *s, size_t n, size_t x)
{
    for (size_t t = 1; t <= 3 && t <= x; t++)
        if (!is_cont(s[x - t]))
            return x - t + u8_len(s + x - t, n - (x - t)) <= x;
    return true;
}

static void gm_seg_add(gseg *sg, const gprog *g, size_t i, bool *lead)
{
    const gstate *st = &g->st[i];
    bool lit = st->kind == G_LIT;
    if (lit && *lead) {
        if (sg->lit == 0)
            sg->off = st->off;
        sg->lit++;
        sg->litlen = (uint16_t)(sg->litlen + st->len);
    } else {
        *lead = false;
    }
    sg->minb = (uint16_t)(sg->minb + (lit ? st->len : 1));
    sg->maxb = (uint16_t)(sg->maxb + (lit ? st->len : 4));
    if (lit && st->len == 1 && (unsigned char)g->pat[st->off] == g->sep)
        sg->nsep++;
}

/* Splits the states into segments and gaps (m->seg has room for g->n + 1). */
static void gm_plan(const gprog *g, gmatch *m)
{
    gseg *cur = &m->seg[0];
    bool lead = true;
    memset(cur, 0, sizeof *cur);
    m->nseg = 1;
    for (size_t i = 0; i < g->n; i++) {
        uint8_t kind = g->st[i].kind;
        if (kind != G_STAR && kind != G_DSTAR && kind != G_DSENT) {
            gm_seg_add(cur, g, i, &lead);
            continue;
        }
        cur->b = (uint16_t)i;
        if (kind == G_DSENT)
            i++; /* its G_DSLOOP */
        cur = &m->seg[m->nseg++];
        memset(cur, 0, sizeof *cur);
        cur->gap = kind;
        cur->a = (uint16_t)(i + 1);
        lead = true;
    }
    cur->b = (uint16_t)g->n;
}

/* The first separator at or after x, or n. */
static size_t gm_next_sep(gmatch *m, size_t x)
{
    const unsigned char *h;
    if (x >= m->sep_from && x <= m->sep_at)
        return m->sep_at;
    h = x < m->n ? memchr(m->s + x, m->g->sep, m->n - x) : NULL;
    m->sep_from = x;
    m->sep_at = h ? (size_t)(h - m->s) : m->n;
    return m->sep_at;
}

/*
 * The first place in hay where the needle (at most AZ_MAX_PATTERN bytes)
 * occurs with ASCII letters folded: Knuth-Morris-Pratt over folded bytes, so
 * that no subject makes it quadratic.
 */
static const char *find_folded(const char *hay, size_t hlen, const char *nd, size_t nlen)
{
    uint16_t fail[AZ_MAX_PATTERN];
    size_t k = 0;
    fail[0] = 0;
    for (size_t i = 1; i < nlen; i++) {
        while (k > 0 && fold((unsigned char)nd[i]) != fold((unsigned char)nd[k]))
            k = fail[k - 1];
        if (fold((unsigned char)nd[i]) == fold((unsigned char)nd[k]))
            k++;
        fail[i] = (uint16_t)k;
    }
    k = 0;
    for (size_t i = 0; i < hlen; i++) {
        while (k > 0 && fold((unsigned char)hay[i]) != fold((unsigned char)nd[k]))
            k = fail[k - 1];
        if (fold((unsigned char)hay[i]) == fold((unsigned char)nd[k]) && ++k == nlen)
            return hay + i + 1 - nlen;
    }
    return NULL;
}

/* The first place in hay where the needle occurs, ASCII letters folded if icase. */
static const char *find_bytes(const char *hay, size_t hlen, const char *nd, size_t nlen, bool icase)
{
    if (nlen > hlen)
        return NULL;
    if (icase && nlen > 0 && nlen <= AZ_MAX_PATTERN) {
        for (size_t i = 0; i < nlen; i++)
            if (is_alpha((unsigned char)nd[i]))
                return find_folded(hay, hlen, nd, nlen);
    }
    return memmem(hay, hlen, nd, nlen);
}

/* The first x in [from, to - nlen] where the pattern bytes at p occur in s, or GM_FAIL. */
static size_t gm_find(gmatch *m, const char *p, size_t nlen, size_t from, size_t to)
{
    const char *h;
    if (to > m->n)
        to = m->n;
    if (from > to)
        return GM_FAIL;
    h = find_bytes((const char *)m->s + from, to - from, p, nlen, m->g->icase);
    return h ? (size_t)((const unsigned char *)h - m->s) : GM_FAIL;
}

/* One character state at the character start x: where it ends, or GM_FAIL. */
static size_t gm_atom(gmatch *m, const gstate *st, size_t x)
{
    size_t k;
    bool is_sep;
    if (x >= m->n)
        return GM_FAIL;
    k = u8_len(m->s + x, m->n - x);
    is_sep = k == 1 && m->s[x] == m->g->sep;
    if (st->kind == G_LIT)
        return lit_eq(m->g, st, m->s + x, k) ? x + k : GM_FAIL;
    if (st->kind == G_ANY)
        return is_sep ? GM_FAIL : x + k;
    return class_match(m->g, st, m->s + x, k, is_sep) ? x + k : GM_FAIL;
}

/*
 * A segment at the character start x: where it ends, or GM_FAIL. Its leading
 * text compares as bytes, then must end where a character of s ends (a
 * trailing lead byte of the pattern must not swallow s's next bytes).
 */
static size_t gm_seg_at(gmatch *m, const gseg *sg, size_t x)
{
    size_t i = sg->a;
    if (sg->litlen) {
        if (m->n - x < sg->litlen ||
            !bytes_eq(m->g->pat + sg->off, (const char *)m->s + x, sg->litlen, m->g->icase) ||
            !char_start(m->s, m->n, x + sg->litlen))
            return GM_FAIL;
        x += sg->litlen;
        i += sg->lit;
    }
    for (; i < sg->b && x != GM_FAIL; i++)
        x = gm_atom(m, &m->g->st[i], x);
    return x;
}

/*
 * The first character start t in [from, last] where the segment matches
 * (*end: where it ends), or GM_FAIL. from is a character start. A segment
 * without a separator must end by stop (the next separator, or n).
 */
static size_t gm_seg_find(gmatch *m, const gseg *sg, size_t from, size_t last, size_t stop,
                          size_t *end)
{
    size_t t = from;
    if (!sg->nsep) {
        if (stop < sg->minb)
            return GM_FAIL;
        if (last > stop - sg->minb)
            last = stop - sg->minb;
    }
    while (t <= last) {
        if (sg->litlen) {
            t = gm_find(m, m->g->pat + sg->off, sg->litlen, t, last + sg->litlen);
            if (t == GM_FAIL || t > last)
                return GM_FAIL;
            if (char_start(m->s, m->n, t) && (*end = gm_seg_at(m, sg, t)) != GM_FAIL)
                return t;
            t++;
            continue;
        }
        if ((*end = gm_seg_at(m, sg, t)) != GM_FAIL)
            return t;
        if (t == m->n)
            break;
        t += u8_len(m->s + t, m->n - t);
    }
    return GM_FAIL;
}

/* Whether a block may start at t under the rule how (lo: where the gap starts). */
static bool gm_start_ok(gmatch *m, int how, size_t lo, size_t t)
{
    return how == GM_ANY || t == lo || (t > 0 && m->s[t - 1] == m->g->sep);
}

/* A segment that must end at end (a character start), starting in [from, last]: end, or GM_FAIL. */
static size_t gm_seg_ending(gmatch *m, const gseg *sg, size_t from, size_t last, size_t end,
                            int how, size_t lo)
{
    size_t t;
    if (end < sg->minb)
        return GM_FAIL;
    t = end - (end < sg->maxb ? end : sg->maxb);
    if (t < from)
        t = from;
    if (last > end - sg->minb)
        last = end - sg->minb;
    for (; t <= last; t++)
        if (gm_start_ok(m, how, lo, t) && char_start(m->s, m->n, t) &&
            gm_seg_at(m, sg, t) == end)
            return end;
    return GM_FAIL;
}

/* The segments after the first of block [sb, se], from x: the block's end, or GM_FAIL. */
static size_t gm_block_rest(gmatch *m, size_t sb, size_t se, size_t x, bool to_end)
{
    for (size_t i = sb + 1; i <= se; i++) {
        size_t f = gm_next_sep(m, x);
        if (i == se && to_end)
            return gm_seg_ending(m, &m->seg[i], x, f, m->n, GM_ANY, x);
        if (gm_seg_find(m, &m->seg[i], x, f, f, &x) == GM_FAIL)
            return GM_FAIL;
    }
    return to_end && x != m->n ? GM_FAIL : x;
}

/*
 * The first start t >= from of the block's first segment under the rule how
 * (*x: where the segment ends), or GM_FAIL. After "**" + separator a start
 * follows a separator (or is lo): text is looked for with the separator
 * before it, which the pattern holds just before the text.
 */
static size_t gm_first(gmatch *m, const gseg *sg, int how, size_t lo, size_t from,
                       size_t *x)
{
    size_t t;
    if (how == GM_ANY)
        return gm_seg_find(m, sg, from, m->n, m->n, x);
    if (from == lo && (*x = gm_seg_at(m, sg, lo)) != GM_FAIL)
        return lo;
    t = from > lo ? from - 1 : lo; /* where a separator before a later start may be */
    for (;;) {
        if (sg->litlen)
            t = gm_find(m, m->g->pat + sg->off - 1, sg->litlen + 1u, t, m->n);
        else if ((t = gm_next_sep(m, t)) == m->n)
            t = GM_FAIL;
        if (t == GM_FAIL)
            return GM_FAIL;
        if ((*x = gm_seg_at(m, sg, t + 1)) != GM_FAIL)
            return t + 1;
        t++;
    }
}

/*
 * A block between two "**" gaps that holds separators, and '*' or more:
 * placing it from each start in turn would read k + 1 runs per start. Its k
 * separators cut it into k + 1 pieces; a match covers k + 1 runs of s in a
 * row: a suffix of the first run (piece 0), whole runs (pieces 1 .. k - 1)
 * and a prefix of the last (piece k). So the runs are read once each, in
 * order, keeping as a bit set which pieces end a partial match there
 * (Shift-And over runs). Equal pieces are checked once per run: a block of
 * many different pieces (more than GM_CLASSES) keeps the slower search.
 */
#define GM_CLASSES 64
#define GM_WORDS ((AZ_MAX_PATTERN + 2 + 63) / 64)

typedef struct gblock {
    gseg sub[AZ_MAX_PATTERN + 1];  /* the block's runs of characters between '*' and separators */
    uint16_t first[AZ_MAX_PATTERN + 2]; /* piece i is sub[first[i], first[i + 1]) */
    uint8_t cls[AZ_MAX_PATTERN + 2];    /* the class of piece i (1 .. k - 1) */
    uint16_t rep[GM_CLASSES];           /* the first piece of each class */
    uint64_t cmask[GM_CLASSES][GM_WORDS]; /* the pieces of each class */
    size_t npieces, nclasses, words;
} gblock;

/* Splits block [sb, se] into pieces at its literal separators. */
static void gb_pieces(gmatch *m, size_t sb, size_t se, gblock *bl)
{
    const gprog *g = m->g;
    size_t nsub = 1;
    gseg *cur = &bl->sub[0];
    bool lead = true;
    memset(cur, 0, sizeof *cur);
    cur->a = m->seg[sb].a;
    bl->first[0] = 0;
    bl->npieces = 1;
    for (size_t i = m->seg[sb].a; i < m->seg[se].b; i++) {
        const gstate *st = &g->st[i];
        bool sep = st->kind == G_LIT && st->len == 1 && (unsigned char)g->pat[st->off] == g->sep;
        if (st->kind != G_STAR && !sep) {
            gm_seg_add(cur, g, i, &lead);
            continue;
        }
        cur->b = (uint16_t)i;
        if (sep)
            bl->first[bl->npieces++] = (uint16_t)nsub;
        cur = &bl->sub[nsub++];
        memset(cur, 0, sizeof *cur);
        cur->a = (uint16_t)(i + 1);
        cur->gap = st->kind == G_STAR ? G_STAR : 0;
        lead = true;
    }
    cur->b = m->seg[se].b;
    bl->first[bl->npieces] = (uint16_t)nsub;
    bl->words = bl->npieces / 64 + 1;
}

/* Whether pieces i and j are the same states. */
static bool gb_same(const gmatch *m, const gblock *bl, size_t i, size_t j)
{
    size_t a = bl->first[i], b = bl->first[i + 1], c = bl->first[j];
    if (bl->first[j + 1] - c != b - a)
        return false;
    for (size_t k = 0; k < b - a; k++) {
        const gseg *x = &bl->sub[a + k], *y = &bl->sub[c + k];
        if (x->b - x->a != y->b - y->a)
            return false;
        for (size_t s = 0; s < (size_t)(x->b - x->a); s++) {
            const gstate *p = &m->g->st[x->a + s], *q = &m->g->st[y->a + s];
            if (p->kind != q->kind || p->len != q->len ||
                memcmp(m->g->pat + p->off, m->g->pat + q->off, p->len) != 0)
                return false;
        }
    }
    return true;
}

/* Groups the whole-run pieces (1 .. k - 1) into classes; false if there are too many. */
static bool gb_classes(const gmatch *m, gblock *bl)
{
    size_t k = bl->npieces - 1;
    bl->nclasses = 0;
    for (size_t i = 1; i < k; i++) {
        size_t c = 0;
        while (c < bl->nclasses && !gb_same(m, bl, bl->rep[c], i))
            c++;
        if (c == bl->nclasses) {
            if (c == GM_CLASSES)
                return false;
            bl->rep[c] = (uint16_t)i;
            memset(bl->cmask[c], 0, sizeof bl->cmask[c]);
            bl->nclasses++;
        }
        bl->cls[i] = (uint8_t)c;
        bl->cmask[c][i / 64] |= (uint64_t)1 << (i % 64);
    }
    return true;
}

/*
 * Piece i from x, the start of a run ending at y: where it ends (the least
 * end, or exactly y when whole), or GM_FAIL.
 */
static size_t gb_piece(gmatch *m, const gblock *bl, size_t i, size_t x, size_t y, bool whole)
{
    size_t a = bl->first[i], b = bl->first[i + 1];
    x = gm_seg_at(m, &bl->sub[a], x);
    for (size_t k = a + 1; k < b && x != GM_FAIL; k++) {
        if (k + 1 == b && whole)
            return gm_seg_ending(m, &bl->sub[k], x, y, y, GM_ANY, x);
        if (gm_seg_find(m, &bl->sub[k], x, y, y, &x) == GM_FAIL)
            return GM_FAIL;
    }
    return x == GM_FAIL || (whole && x != y) ? GM_FAIL : x;
}

/* Whether piece 0 matches a suffix of the run [x, y) that starts where how allows. */
static bool gb_first_piece(gmatch *m, const gblock *bl, size_t x, size_t y, int how, size_t lo)
{
    size_t a = bl->first[0], b = bl->first[1], c;
    if (b - a == 1)
        return gm_seg_ending(m, &bl->sub[a], x, y, y, how, lo) != GM_FAIL;
    if (how != GM_ANY) /* only x itself: lo or just after a separator */
        return gb_piece(m, bl, 0, x, y, true) != GM_FAIL;
    if (gm_seg_find(m, &bl->sub[a], x, y, y, &c) == GM_FAIL)
        return false;
    for (size_t k = a + 1; k < b && c != GM_FAIL; k++) {
        if (k + 1 == b)
            return gm_seg_ending(m, &bl->sub[k], c, y, y, GM_ANY, c) != GM_FAIL;
        if (gm_seg_find(m, &bl->sub[k], c, y, y, &c) == GM_FAIL)
            return false;
    }
    return false;
}

/* One run [x, y): the bit set of pieces that hold on it as whole runs (pieces 1 .. k - 1). */
static void gb_run_mask(gmatch *m, const gblock *bl, size_t x, size_t y, uint64_t *mask)
{
    memset(mask, 0, bl->words * sizeof *mask);
    for (size_t c = 0; c < bl->nclasses; c++) {
        if (gb_piece(m, bl, bl->rep[c], x, y, true) == GM_FAIL)
            continue;
        for (size_t w = 0; w < bl->words; w++)
            mask[w] |= bl->cmask[c][w];
    }
}

/* d = (d << 1) & mask, over words. */
static void gb_shift_and(uint64_t *d, const uint64_t *mask, size_t words)
{
    uint64_t carry = 0;
    for (size_t w = 0; w < words; w++) {
        uint64_t next = d[w] >> 63;
        d[w] = ((d[w] << 1) | carry) & mask[w];
        carry = next;
    }
}

/*
 * The least end of a match of a block with separators (see gblock) from lo,
 * or GM_FAIL; *done is false when the block has too many kinds of pieces.
 */
static size_t gm_block_seps(gmatch *m, size_t sb, size_t se, size_t lo, int how, bool *done)
{
    gblock bl;
    uint64_t d[GM_WORDS], mask[GM_WORDS];
    size_t x = lo, k;
    gb_pieces(m, sb, se, &bl);
    *done = gb_classes(m, &bl);
    if (!*done)
        return GM_FAIL;
    k = bl.npieces - 1;
    memset(d, 0, sizeof d);
    for (;;) {
        size_t y = gm_next_sep(m, x);
        gb_run_mask(m, &bl, x, y, mask);
        /* piece k, a prefix of this run, ends the block after pieces 0 .. k - 1 */
        if ((d[(k - 1) / 64] >> ((k - 1) % 64)) & 1u) {
            size_t q = gb_piece(m, &bl, k, x, y, false);
            if (q != GM_FAIL)
                return q;
        }
        gb_shift_and(d, mask, bl.words);
        if (gb_first_piece(m, &bl, x, y, how, lo))
            d[0] |= 1u;
        if (y == m->n)
            return GM_FAIL;
        x = y + 1;
    }
}

/* Where the (k)th separator from the end of s[lo, n) is, plus one; lo if there are fewer. */
static size_t gm_after_last_seps(gmatch *m, size_t lo, size_t k)
{
    size_t x = m->n;
    for (size_t i = 0; i < k; i++) {
        const unsigned char *h = x > lo ? memrchr(m->s + lo, m->g->sep, x - lo) : NULL;
        if (!h)
            return lo;
        x = (size_t)(h - m->s);
    }
    return x + 1;
}

/* The least end of a match of block [sb, se] starting at lo under how (to_end: ending at n). */
static size_t gm_block(gmatch *m, size_t sb, size_t se, size_t lo, int how, bool to_end)
{
    size_t from = lo, p, x, seps = 0;
    if (how == GM_AT) {
        x = gm_seg_at(m, &m->seg[sb], lo);
        return x == GM_FAIL ? GM_FAIL : gm_block_rest(m, sb, se, x, to_end);
    }
    if (to_end && sb == se)
        return gm_seg_ending(m, &m->seg[sb], lo, m->n, m->n, how, lo);
    for (size_t i = sb; i <= se; i++)
        seps += m->seg[i].nsep;
    if (to_end) {
        from = gm_after_last_seps(m, lo, seps + 1);
    } else if (seps && (sb < se || m->seg[sb].lit < m->seg[sb].b - m->seg[sb].a)) {
        bool done;
        p = gm_block_seps(m, sb, se, lo, how, &done);
        if (done)
            return p;
    }
    for (;;) {
        p = gm_first(m, &m->seg[sb], how, lo, from, &x);
        if (p == GM_FAIL)
            return GM_FAIL;
        x = gm_block_rest(m, sb, se, x, to_end);
        if (x != GM_FAIL || to_end)
            return x; /* a later start of a block that must end s spans too few separators */
        from = gm_next_sep(m, p);
        if (from == m->n)
            return GM_FAIL;
        from++;
    }
}

/* The NFA's answer in time linear in len (see above). */
static bool glob_linear(const gprog *g, const char *s, size_t len)
{
    gseg seg[AZ_MAX_PATTERN + 1];
    gmatch m = {g, (const unsigned char *)s, len, seg, 0, 1, 0};
    size_t pos = 0, sb = 0;
    if (!s)
        m.s = (const unsigned char *)"";
    gm_plan(g, &m);
    while (sb < m.nseg) {
        size_t se = sb;
        int how = sb == 0 ? GM_AT : seg[sb].gap == G_DSENT ? GM_SEG : GM_ANY;
        while (se + 1 < m.nseg && seg[se + 1].gap == G_STAR)
            se++;
        pos = gm_block(&m, sb, se, pos, how, se + 1 == m.nseg);
        if (pos == GM_FAIL)
            return false;
        sb = se + 1;
    }
    return true;
}

/* Compiles pat and runs match on s: the linear matcher, or the reference NFA. */
static int glob_match_by(bool (*match)(const gprog *, const char *, size_t), const char *pat,
                         size_t plen, const char *s, size_t slen, az_glob_mode mode, bool icase)
{
    gstate st[AZ_MAX_PATTERN];
    gprog g;
    gerr e;
    if (!pat || (!s && slen))
        return -1;
    g.st = st;
    if (!glob_parse(&g, pat, plen, mode, icase, &e))
        return -1;
    if (glob_is_all(pat, plen, mode))
        return 1;
    return match(&g, s, slen) ? 1 : 0;
}

int az_glob_match_raw(const char *pat, size_t plen, const char *s, size_t slen, az_glob_mode mode,
                      bool icase)
{
    return glob_match_by(glob_linear, pat, plen, s, slen, mode, icase);
}

int az_glob_match_nfa(const char *pat, size_t plen, const char *s, size_t slen, az_glob_mode mode,
                      bool icase)
{
    return glob_match_by(glob_run, pat, plen, s, slen, mode, icase);
}

/* ---- glob fast paths ---- */

/* The layout of a pattern that glob_shape reads: where its star runs are. */
typedef struct gscan {
    size_t runs;     /* how many runs of '*' */
    size_t at[2];    /* the first two runs: offset ... */
    size_t width[2]; /* ... and length */
} gscan;

static void glob_scan(const char *p, size_t n, gscan *sc)
{
    size_t i = 0;
    memset(sc, 0, sizeof *sc);
    while (i < n) {
        size_t run = 0;
        if (p[i] != '*') {
            i++;
            continue;
        }
        while (i + run < n && p[i + run] == '*')
            run++;
        if (sc->runs < 2) {
            sc->at[sc->runs] = i;
            sc->width[sc->runs] = run;
        }
        sc->runs++;
        i += run;
    }
}

/*
 * Whether a literal prefix (n bytes at p) and suffix (m bytes at q) can be
 * compared as bytes. The byte next to a star must be ASCII: a partial UTF-8
 * sequence there could join the subject's bytes across the star into a
 * character that the NFA would read differently.
 */
static bool ascii_edges(const char *p, size_t n, const char *q, size_t m)
{
    return (n == 0 || (unsigned char)p[n - 1] < 0x80) && (m == 0 || (unsigned char)q[0] < 0x80);
}

/* Whether a segment pattern (a '*' at star) suits the TAIL shape: no separator, ASCII edges. */
static bool seg_star_ok(const char *x, size_t n, size_t star, unsigned char sep)
{
    return !memchr(x, sep, n) && ascii_edges(x, star, x + star + 1, n - star - 1);
}

/* Shapes with one run of stars at sc->at[0]. */
static uint8_t shape_one_run(az_glob *g, const char *p, size_t n, unsigned char sep,
                             const gscan *sc)
{
    size_t a = sc->at[0], b = a + sc->width[0];
    g->fixed = a;
    g->suffix = n - b;
    if (!ascii_edges(p, a, p + b, n - b))
        return SHAPE_GENERAL;
    if (sc->width[0] == 1)
        return SHAPE_STAR;
    /* glob_stars reads "**" + separator at a segment start as a whole segment. */
    if ((a == 0 || (unsigned char)p[a - 1] == sep) && b < n && (unsigned char)p[b] == sep)
        return SHAPE_DSEG;
    return SHAPE_DSTAR;
}

/*
 * "**" + separator + a one-star segment: the subject's last segment must
 * match it. Or "**" SEP P SEP "**" (a directory anywhere, such as .git):
 * the bytes are the characters there, as both ends of "SEP P SEP" are ASCII.
 */
static uint8_t shape_tail(az_glob *g, const char *p, size_t n, unsigned char sep,
                          const gscan *sc)
{
    size_t star;
    if (sc->runs != 2 || sc->at[0] != 0 || sc->width[0] != 2 || n < 3 ||
        (unsigned char)p[2] != sep)
        return SHAPE_GENERAL;
    if (sc->width[1] == 2 && sc->at[1] == n - 2 && n >= 6 && (unsigned char)p[n - 3] == sep) {
        g->fixed = n - 4; /* SEP P SEP at p + 2 */
        return SHAPE_INNER;
    }
    if (sc->width[1] != 1)
        return SHAPE_GENERAL;
    star = sc->at[1] - 3;
    if (!seg_star_ok(p + 3, n - 3, star, sep))
        return SHAPE_GENERAL;
    g->skip = 3;
    g->fixed = star;
    g->suffix = n - 3 - star - 1;
    return SHAPE_TAIL;
}

/*
 * Picks the matcher of a valid pattern. Patterns with '?' or classes
 * always take the NFA: their characters are not their bytes.
 */
static uint8_t glob_shape(az_glob *g, const char *p, size_t n, az_glob_mode mode)
{
    unsigned char sep = glob_sep(mode);
    gscan sc;
    g->fixed = g->suffix = 0;
    g->skip = 0;
    if (glob_is_all(p, n, mode))
        return SHAPE_ALL;
    if (memchr(p, '?', n) || memchr(p, '[', n))
        return SHAPE_GENERAL;
    glob_scan(p, n, &sc);
    if (sc.runs == 0) {
        g->fixed = n;
        return SHAPE_LITERAL;
    }
    if (sc.runs == 1)
        return shape_one_run(g, p, n, sep, &sc);
    return shape_tail(g, p, n, sep, &sc);
}

/* STAR: the subject starts with P, ends with S, and has no separator between them. */
static bool star_match(const char *x, size_t xlen, size_t fixed, size_t suffix,
                       unsigned char sep, bool icase, const char *s, size_t len)
{
    if (len < fixed + suffix || !bytes_eq(s, x, fixed, icase) ||
        !bytes_eq(s + len - suffix, x + xlen - suffix, suffix, icase))
        return false;
    return len == fixed + suffix || !memchr(s + fixed, sep, len - fixed - suffix);
}

/* DSEG: P, then either S at once or anything and SEP S (g->suffix counts the SEP). */
static bool dseg_match(const az_glob *g, const char *s, size_t len)
{
    size_t sfx = g->suffix;
    const char *tail = g->pat + g->len - sfx;
    if (len < g->fixed + sfx - 1 || !bytes_eq(s, g->pat, g->fixed, g->icase))
        return false;
    if (len - g->fixed == sfx - 1)
        return bytes_eq(s + len - (sfx - 1), tail + 1, sfx - 1, g->icase);
    return len - g->fixed >= sfx && bytes_eq(s + len - sfx, tail, sfx, g->icase);
}

static bool tail_match(const az_glob *g, const char *s, size_t len)
{
    unsigned char sep = glob_sep((az_glob_mode)g->mode);
    size_t start = len;
    while (start > 0 && (unsigned char)s[start - 1] != sep)
        start--;
    return star_match(g->pat + g->skip, g->len - g->skip, g->fixed, g->suffix, sep, g->icase,
                      s + start, len - start);
}

/* ---- compiled globs ---- */

/* Keeps the parsed states of a general pattern, so that a match never parses. */
static int glob_keep_prog(az_glob *g, const char *pat, size_t len, az_glob_mode mode, bool icase,
                          gerr *e)
{
    size_t cap = len < AZ_MAX_PATTERN ? len : AZ_MAX_PATTERN;
    gprog prog;
    prog.st = malloc((cap ? cap : 1) * sizeof *prog.st);
    if (!prog.st)
        return AGENTAUTHZ_ENOMEM;
    if (!glob_parse(&prog, pat, len, mode, icase, e)) {
        free(prog.st);
        return -1;
    }
    g->prog = prog.st;
    g->nstates = prog.n;
    return 0;
}

int az_glob_compile(az_glob *g, const char *pat, size_t len, az_glob_mode mode, bool icase,
                    char *msg, size_t msgcap)
{
    gerr e = {NULL, 0};
    int rc;
    if (!g || !pat) {
        set_msg(msg, msgcap, "no glob");
        return -1;
    }
    memset(g, 0, sizeof *g);
    rc = glob_keep_prog(g, pat, len, mode, icase, &e);
    if (rc == -1)
        set_msg(msg, msgcap, "%s (at byte %zu)", e.what, e.at);
    if (rc)
        goto out;
    g->pat = malloc(len + 1);
    if (!g->pat) {
        rc = AGENTAUTHZ_ENOMEM;
        goto out;
    }
    memcpy(g->pat, pat, len);
    g->pat[len] = '\0';
    g->len = len;
    g->mode = (uint8_t)mode;
    g->icase = icase;
    g->shape = glob_shape(g, pat, len, mode);
    if (g->shape != SHAPE_GENERAL) { /* a fast path needs only the text */
        free(g->prog);
        g->prog = NULL;
        g->nstates = 0;
    }
out:
    if (rc == AGENTAUTHZ_ENOMEM)
        set_msg(msg, msgcap, "out of memory");
    if (rc)
        az_glob_free(g);
    return rc;
}

static bool glob_match_prog(const az_glob *g, const char *s, size_t len)
{
    gprog prog;
    prog.st = g->prog;
    prog.n = g->nstates;
    prog.pat = g->pat;
    prog.sep = glob_sep((az_glob_mode)g->mode);
    prog.icase = g->icase;
    return glob_linear(&prog, s, len);
}

bool az_glob_match(const az_glob *g, const char *s, size_t len)
{
    if (!g || !g->pat || (!s && len))
        return false;
    switch (g->shape) {
    case SHAPE_ALL:
        return true;
    case SHAPE_LITERAL:
        return az_mem_eq(g->pat, g->len, s, len, g->icase);
    case SHAPE_STAR:
        return star_match(g->pat, g->len, g->fixed, g->suffix, glob_sep((az_glob_mode)g->mode),
                          g->icase, s, len);
    case SHAPE_DSTAR:
        return len >= g->fixed + g->suffix && az_has_prefix(s, len, g->pat, g->fixed, g->icase) &&
               az_has_suffix(s, len, g->pat + g->len - g->suffix, g->suffix, g->icase);
    case SHAPE_DSEG:
        return dseg_match(g, s, len);
    case SHAPE_TAIL:
        return tail_match(g, s, len);
    case SHAPE_INNER:
        return az_has_prefix(s, len, g->pat + 3, g->fixed - 1, g->icase) ||
               find_bytes(s, len, g->pat + 2, g->fixed, g->icase) != NULL;
    default:
        return g->prog && glob_match_prog(g, s, len);
    }
}

void az_glob_free(az_glob *g)
{
    if (!g)
        return;
    free(g->pat);
    free(g->prog);
    g->pat = NULL;
    g->prog = NULL;
    g->len = 0;
    g->nstates = 0;
}

/* ---- IP addresses ---- */

#define IP_TEXT_MAX 63

/*
 * Whether every byte could belong to an address: inet_pton accepts digits
 * and dots for IPv4, hex digits, colons and dots for IPv6, and nothing else.
 * Host names fail this at their first letter past 'f', without a copy.
 */
static bool ip_chars(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = fold((unsigned char)s[i]);
        if (!is_digit(c) && !(c >= 'a' && c <= 'f') && c != '.' && c != ':')
            return false;
    }
    return true;
}

/* Parses a bare IPv4 or IPv6 address into out (4 or 16 bytes); returns 4, 6 or 0. */
static int ip_parse(const char *s, size_t len, uint8_t out[16])
{
    char tmp[IP_TEXT_MAX + 1];
    int fam;
    memset(out, 0, 16);
    if (!s || len == 0 || len > IP_TEXT_MAX || !ip_chars(s, len))
        return 0;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    fam = memchr(s, ':', len) ? AF_INET6 : AF_INET;
    if (inet_pton(fam, tmp, out) != 1)
        return 0;
    return fam == AF_INET6 ? 6 : 4;
}

static bool ip_is_v4_mapped(const uint8_t a[16])
{
    static const uint8_t pre[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return memcmp(a, pre, sizeof pre) == 0;
}

/* Turns ::ffff:a.b.c.d into a.b.c.d, so one host has one form. */
static int ip_unmap(int fam, uint8_t a[16])
{
    if (fam != 6 || !ip_is_v4_mapped(a))
        return fam;
    memmove(a, a + 12, 4);
    memset(a + 4, 0, 12);
    return 4;
}

static bool prefix_eq(const uint8_t *a, const uint8_t *b, unsigned bits)
{
    size_t full = bits / 8;
    unsigned rest = bits % 8;
    uint8_t mask;
    if (full && memcmp(a, b, full) != 0)
        return false;
    if (!rest)
        return true;
    mask = (uint8_t)(0xFFu << (8 - rest));
    return (a[full] & mask) == (b[full] & mask);
}

/* ---- domains ---- */

static bool dns_char(unsigned char c)
{
    unsigned char l = (unsigned char)(c | 0x20); /* ASCII letters only: '@' and '[' stay out */
    return (l >= 'a' && l <= 'z') || is_digit(c) || c == '-';
}

/* One label s[start..end): 1 to 63 bytes, not starting or ending with '-'. */
static bool dns_label_ok(const char *s, size_t start, size_t end)
{
    return end > start && end - start <= 63 && s[start] != '-' && s[end - 1] != '-';
}

/*
 * A DNS name without its trailing dot: labels of [A-Za-z0-9-], at most 253
 * bytes. One pass, as a check validates the domain of each operand.
 */
static bool dns_name_ok(const char *s, size_t n)
{
    size_t start = 0, i;
    if (n == 0 || n > 253)
        return false;
    for (i = 0; i < n; i++) {
        if (s[i] == '.') {
            if (!dns_label_ok(s, start, i))
                return false;
            start = i + 1;
        } else if (!dns_char((unsigned char)s[i])) {
            return false;
        }
    }
    return dns_label_ok(s, start, n);
}

static size_t strip_dot(const char *s, size_t n)
{
    return (n > 1 && s[n - 1] == '.') ? n - 1 : n;
}

/* An IP literal, with or without the brackets of a URL's IPv6 host. */
static int ip_literal(const char *s, size_t n, uint8_t out[16])
{
    if (n >= 2 && s[0] == '[' && s[n - 1] == ']')
        return ip_parse(s + 1, n - 2, out) == 6 ? 6 : 0;
    return ip_parse(s, n, out);
}

bool az_domain_valid(const char *domain, size_t len)
{
    uint8_t a[16];
    if (!domain || len == 0)
        return false;
    if (ip_literal(domain, len, a))
        return true;
    return dns_name_ok(domain, strip_dot(domain, len));
}

typedef struct host_ref {
    const char *p;
    size_t len;
    bool bracketed; /* an IPv6 literal in [ ] */
} host_ref;

static bool port_ok(const char *s, size_t n)
{
    size_t i;
    unsigned long v = 0;
    if (n == 0 || n > 5)
        return false;
    for (i = 0; i < n; i++) {
        if (!is_digit((unsigned char)s[i]))
            return false;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    return v <= 65535;
}

static bool scheme_char(unsigned char c)
{
    return is_alpha(c) || is_digit(c) || c == '+' || c == '-' || c == '.';
}

/* The length of "scheme://" at the start of v, or 0. */
static size_t scheme_len(const char *v, size_t n)
{
    size_t i = 0;
    if (n == 0 || !is_alpha((unsigned char)v[0]))
        return 0;
    while (i < n && scheme_char((unsigned char)v[i]))
        i++;
    return (i + 3 <= n && memcmp(v + i, "://", 3) == 0) ? i + 3 : 0;
}

/* Splits "host", "host:port", "[v6]", "[v6]:port" or a bare IPv6 address. */
static bool host_port(const char *s, size_t n, host_ref *h)
{
    const char *colon;
    h->bracketed = false;
    if (n && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (!close)
            return false;
        h->p = s;
        h->len = (size_t)(close - s) + 1;
        h->bracketed = true;
        if (h->len == n)
            return true;
        return s[h->len] == ':' && port_ok(s + h->len + 1, n - h->len - 1);
    }
    colon = memchr(s, ':', n);
    h->p = s;
    h->len = n;
    if (!colon)
        return true;
    if (memchr(colon + 1, ':', n - (size_t)(colon - s) - 1)) {
        uint8_t a[16];
        return ip_parse(s, n, a) == 6;
    }
    h->len = (size_t)(colon - s);
    return port_ok(colon + 1, n - h->len - 1);
}

/*
 * Whether s holds a space, a control byte or a NUL: valid URLs and addresses
 * hold none, and a reader in C would stop at a NUL where this one would not.
 */
static bool has_ctl(const char *s, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] == 0x7F)
            return true;
    return false;
}

/* ---- e-mail addresses ---- */

/*
 * The characters of a dot-atom local part: RFC 5322's atext without '!'
 * (bang paths), '%' (the percent hack) and '/', '?', '#' (which would make
 * the text a scheme-less URL to a URL reader).
 */
static bool mailbox_char(unsigned char c)
{
    return is_alpha(c) || is_digit(c) || (c != 0 && strchr("$&'*+-=^_`{|}~", c) != NULL);
}

/* A dot-atom of 1 to 64 bytes: mailbox_char runs joined by single dots. */
static bool local_part_ok(const char *s, size_t n)
{
    if (n == 0 || n > 64 || s[0] == '.' || s[n - 1] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '.' ? s[i - 1] == '.' : !mailbox_char((unsigned char)s[i]))
            return false;
    }
    return true;
}

/*
 * The host of a value read as an e-mail address: only a plain RFC 5321
 * mailbox, local-part@domain with a dot-atom local part and a DNS name (at
 * most 254 bytes in all), has one. Display names, angle brackets, comments,
 * quoted local parts, route syntax, lists and relay hacks are text that mail
 * libraries read in different ways, so they name no host at all.
 */
static bool mailbox_host(const char *v, size_t n, host_ref *h)
{
    const char *at = memchr(v, '@', n);
    size_t local;
    if (!at || n > 254)
        return false;
    local = (size_t)(at - v);
    if (!local_part_ok(v, local))
        return false;
    h->p = at + 1;
    h->len = n - local - 1;
    h->bracketed = false;
    return dns_name_ok(h->p, h->len);
}

/*
 * Finds the host of a URL, host:port or email address. A value without a
 * "scheme://" that holds an '@' anywhere is an e-mail address (mailbox_host).
 * In a URL the authority ends at the first '/', '?' or '#', the user part
 * ends at its last '@' (as browsers read URLs), and an authority holding a
 * backslash is refused, because some URL parsers read '\' as '/' and others
 * do not: the host must not depend on who reads it.
 */
static bool host_extract(const char *v, size_t n, host_ref *h)
{
    size_t start = scheme_len(v, n), end, i;
    if (has_ctl(v, n))
        return false;
    if (start == 0 && memchr(v, '@', n))
        return mailbox_host(v, n, h);
    for (end = start; end < n; end++)
        if (v[end] == '/' || v[end] == '?' || v[end] == '#')
            break;
    for (i = start; i < end; i++) {
        if (v[i] == '\\')
            return false;
        if (v[i] == '@')
            start = i + 1;
    }
    if (start == end || !host_port(v + start, end - start, h))
        return false;
    if (!h->bracketed)
        h->len = strip_dot(h->p, h->len);
    return h->len > 0;
}

int az_domain_prepare(az_domain *d, const char *domain, size_t len)
{
    memset(d, 0, sizeof *d);
    if (!az_domain_valid(domain, len))
        return -1;
    d->family = ip_unmap(ip_literal(domain, len, d->ip), d->ip);
    d->name = domain;
    d->len = d->family ? len : strip_dot(domain, len);
    return 0;
}

/* IP hosts match only the same address: "subdomains" of an address mean nothing. */
static bool ip_host_match(const host_ref *h, const az_domain *d)
{
    uint8_t a[16];
    int fa = ip_unmap(ip_literal(h->p, h->len, a), a);
    return fa != 0 && fa == d->family && memcmp(a, d->ip, 16) == 0;
}

static bool ends_in_number(const char *s, size_t n);

/*
 * Whether v is a bare host name ("api.corp.example"): no scheme, user, port
 * or trailing dot, not an IP address (which has no letter or '-'), and a
 * valid DNS name. The usual destination, settled in one pass; anything else
 * takes host_extract's general path.
 */
static bool bare_dns_name(const char *v, size_t n)
{
    size_t start = 0;
    bool named = false;
    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c == '.') {
            if (!dns_label_ok(v, start, i))
                return false;
            start = i + 1;
        } else if (!is_digit(c)) {
            if (!dns_char(c))
                return false;
            named = true;
        }
    }
    return named && dns_label_ok(v, start, n);
}

int az_domain_match_prepared(const az_domain *d, const char *value, size_t vlen)
{
    host_ref h = {value, vlen, false};
    uint8_t tmp[16];
    if (!value)
        return 0;
    if (!bare_dns_name(value, vlen) || ends_in_number(value, vlen)) {
        if (!host_extract(value, vlen, &h))
            return 0;
        if (h.bracketed || ip_literal(h.p, h.len, tmp))
            return ip_host_match(&h, d);
        if (!memchr(h.p, ':', h.len) && ends_in_number(h.p, h.len))
            return -1; /* "2852039166": an address to HTTP clients, none that all agree on */
        if (d->family || !dns_name_ok(h.p, h.len))
            return 0;
    } else if (d->family) {
        return 0; /* a name never matches an address */
    }
    if (az_mem_eq(h.p, h.len, d->name, d->len, true))
        return 1;
    return h.len > d->len && h.p[h.len - d->len - 1] == '.' &&
           az_has_suffix(h.p, h.len, d->name, d->len, true);
}

int az_domain_match(const char *value, size_t vlen, const char *domain, size_t dlen)
{
    az_domain d;
    if (!domain || az_domain_prepare(&d, domain, dlen) != 0)
        return 0;
    return az_domain_match_prepared(&d, value, vlen);
}

/* ---- CIDR ---- */

/* "0".."max" in decimal, without sign or leading zeros. */
static bool prefix_parse(const char *s, size_t n, unsigned max, unsigned *out)
{
    size_t i;
    unsigned v = 0;
    if (n == 0 || n > 3 || (n > 1 && s[0] == '0'))
        return false;
    for (i = 0; i < n; i++) {
        if (!is_digit((unsigned char)s[i]))
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    *out = v;
    return v <= max;
}

static void mask_host_bits(uint8_t a[16], unsigned prefix)
{
    size_t i;
    for (i = 0; i < 16; i++) {
        if (prefix >= 8) {
            prefix -= 8;
            continue;
        }
        a[i] = (uint8_t)(a[i] & (0xFFu << (8 - prefix)));
        prefix = 0;
    }
}

int az_cidr_parse(az_cidr *c, const char *s, size_t len)
{
    const char *slash;
    size_t alen;
    unsigned prefix, max;
    int fam;
    if (!c || !s || len == 0 || len > IP_TEXT_MAX)
        return AGENTAUTHZ_EINVAL;
    slash = memchr(s, '/', len);
    alen = slash ? (size_t)(slash - s) : len;
    memset(c, 0, sizeof *c);
    fam = ip_parse(s, alen, c->addr);
    if (!fam)
        return AGENTAUTHZ_EINVAL;
    max = fam == 4 ? 32 : 128;
    prefix = max;
    if (slash && !prefix_parse(slash + 1, len - alen - 1, max, &prefix))
        return AGENTAUTHZ_EINVAL;
    /* A network inside ::ffff:0:0/96 is an IPv4 network, as its addresses are IPv4 hosts. */
    if (fam == 6 && prefix >= 96 && ip_is_v4_mapped(c->addr)) {
        fam = ip_unmap(fam, c->addr);
        prefix -= 96;
    }
    mask_host_bits(c->addr, prefix);
    c->family = (uint8_t)fam;
    c->prefix = (uint8_t)prefix;
    return 0;
}

bool az_cidr_contains(const az_cidr *c, const char *ip, size_t len)
{
    uint8_t a[16];
    int fam;
    if (!c)
        return false;
    fam = ip_unmap(ip_parse(ip, len, a), a);
    return fam != 0 && fam == c->family && prefix_eq(a, c->addr, c->prefix);
}

/*
 * Whether URL parsers read a host as an IPv4 address: its last label is all
 * decimal digits, or "0x" and hex digits (the WHATWG URL standard's "ends in
 * a number"; curl and inet_aton read the same forms).
 */
static bool ends_in_number(const char *s, size_t n)
{
    size_t start = n, i;
    while (start > 0 && s[start - 1] != '.')
        start--;
    if (start == n)
        return false;
    if (n - start >= 2 && s[start] == '0' && fold((unsigned char)s[start + 1]) == 'x') {
        for (i = start + 2; i < n; i++) {
            unsigned char c = fold((unsigned char)s[i]);
            if (!is_digit(c) && !(c >= 'a' && c <= 'f'))
                return false;
        }
        return true;
    }
    for (i = start; i < n; i++)
        if (!is_digit((unsigned char)s[i]))
            return false;
    return true;
}

/*
 * The address of a host that host_extract found: 4 or 6 (into a), 0 for a
 * DNS name, -1 for a host that is neither exactly. A numeric host in any form
 * but the dotted quad ("2852039166", "0xa9fea9fe", "0251.0376.0251.0376",
 * "169.254.43518") is -1: HTTP clients read those as addresses, and not all
 * read them alike, so no answer of cidr would be right for every reader.
 */
static int host_address(const host_ref *h, uint8_t a[16])
{
    int fam;
    if (h->bracketed || memchr(h->p, ':', h->len) || ends_in_number(h->p, h->len)) {
        fam = ip_literal(h->p, h->len, a);
        return fam ? fam : -1;
    }
    return dns_name_ok(h->p, h->len) ? 0 : -1;
}

int az_cidr_match(const az_cidr *c, const char *value, size_t len)
{
    uint8_t a[16];
    host_ref h;
    int fam;
    if (!c || !value)
        return -1;
    fam = ip_parse(value, len, a); /* a bare address, the usual case */
    if (!fam) {
        if (!host_extract(value, len, &h))
            return -1;
        fam = host_address(&h, a);
        if (fam <= 0)
            return fam;
    }
    fam = ip_unmap(fam, a);
    return fam == c->family && prefix_eq(a, c->addr, c->prefix);
}

/* ---- regular expressions ---- */

/*
 * The most regex "atoms" an interval may expand a pattern to. glibc copies
 * the subexpression of "x{n}" n times, so "((a{255}){255}){255}" would cost
 * gigabytes at compile time without this bound.
 */
#define REGEX_MAX_WEIGHT 4096u
#define REGEX_MAX_COUNT 1000u

typedef struct re_frame {
    uint64_t sum;  /* atoms in this group so far */
    uint64_t last; /* atoms in the last element, which a quantifier repeats */
} re_frame;

typedef struct re_scan {
    re_frame f[AZ_MAX_REGEX + 1];
    size_t depth;
    const char *why;
} re_scan;

/* Skips the name of "[:name:]", "[.name.]" or "[=name=]" from i; returns the index after or 0. */
static size_t re_skip_name(const char *p, size_t n, size_t i, char delim)
{
    for (; i + 1 < n; i++)
        if (p[i] == delim && p[i + 1] == ']')
            return i + 2;
    return 0;
}

/* Skips a bracket expression at p[i] == '[' as glibc reads it; returns the index after it or 0. */
static size_t re_skip_bracket(const char *p, size_t n, size_t i)
{
    i++;
    if (i < n && p[i] == '^')
        i++;
    if (i < n && p[i] == ']')
        i++;
    while (i < n) {
        if (p[i] == ']')
            return i + 1;
        if (p[i] == '[' && i + 1 < n && (p[i + 1] == ':' || p[i + 1] == '.' || p[i + 1] == '=')) {
            i = re_skip_name(p, n, i + 2, p[i + 1]);
            if (!i)
                return 0;
            continue;
        }
        i++;
    }
    return 0;
}

static bool re_fail(re_scan *sc, const char *why)
{
    sc->why = why;
    return false;
}

static void re_atom(re_scan *sc, uint64_t w)
{
    sc->f[sc->depth].sum += w;
    sc->f[sc->depth].last = w;
}

/* Reads "{m}", "{m,}" or "{m,n}" at p[i]; returns the index after it or 0 if it is not one. */
static size_t re_interval(const char *p, size_t n, size_t i, uint64_t *count)
{
    uint64_t v[2] = {0, 0};
    size_t k = 0, digits = 0;
    for (i++; i < n && p[i] != '}'; i++) {
        if (p[i] == ',' && k == 0) {
            k = 1;
            digits = 0;
            continue;
        }
        if (!is_digit((unsigned char)p[i]))
            return 0;
        /* Saturate rather than give up: glibc reads "{0000001}" as an interval too. */
        digits++;
        v[k] = v[k] > REGEX_MAX_COUNT ? v[k] : v[k] * 10 + (uint64_t)(p[i] - '0');
    }
    if (i >= n)
        return 0;
    /* "{m,}" copies x m times and adds a star. */
    *count = (k == 1 && digits == 0) ? v[0] + 1 : (v[k] > v[0] ? v[k] : v[0]);
    return i + 1;
}

static bool re_repeat(re_scan *sc, uint64_t count)
{
    re_frame *f = &sc->f[sc->depth];
    if (count > REGEX_MAX_COUNT)
        return re_fail(sc, "interval count over 1000");
    if (count == 0)
        return true;
    f->sum += f->last * (count - 1);
    f->last *= count;
    if (f->sum > REGEX_MAX_WEIGHT)
        return re_fail(sc, "pattern expands too much through intervals");
    return true;
}

static bool re_close(re_scan *sc)
{
    uint64_t w;
    if (sc->depth == 0)
        return re_fail(sc, "unmatched ')'");
    w = sc->f[sc->depth].sum ? sc->f[sc->depth].sum : 1;
    sc->depth--;
    re_atom(sc, w);
    if (sc->f[sc->depth].sum > REGEX_MAX_WEIGHT)
        return re_fail(sc, "pattern expands too much through intervals");
    return true;
}

/* Reads the element at p[*i]; false (with sc->why) if the pattern must be refused. */
static bool re_element(re_scan *sc, const char *p, size_t n, size_t *i)
{
    size_t j;
    uint64_t count;
    switch (p[*i]) {
    case '\\':
        if (*i + 1 >= n)
            return re_fail(sc, "trailing '\\'");
        if (p[*i + 1] >= '1' && p[*i + 1] <= '9')
            return re_fail(sc, "back-references are not supported");
        re_atom(sc, 1);
        *i += 2;
        return true;
    case '[':
        j = re_skip_bracket(p, n, *i);
        if (!j)
            return re_fail(sc, "unclosed '['");
        re_atom(sc, 1);
        *i = j;
        return true;
    case '(':
        sc->depth++;
        memset(&sc->f[sc->depth], 0, sizeof sc->f[sc->depth]);
        break;
    case ')':
        if (!re_close(sc))
            return false;
        break;
    case '{':
        j = re_interval(p, n, *i, &count);
        if (j) {
            *i = j;
            return re_repeat(sc, count);
        }
        re_atom(sc, 1);
        break;
    case '|':
        sc->f[sc->depth].last = 0;
        break;
    case '+':
        /* glibc compiles "x+" as "xx*": nested '+' double the pattern at each level. */
        (*i)++;
        return re_repeat(sc, 2);
    case '*':
    case '?':
    case '^':
    case '$':
        break;
    default:
        re_atom(sc, 1);
        break;
    }
    (*i)++;
    return true;
}

/*
 * Checks what regcomp cannot: that the pattern cannot close the group that
 * anchors it (with "a)|(b", "^(a)|(b)$" would match any text starting with
 * "a"), uses no back-references (which make matching exponential), and does
 * not expand past a bound through intervals.
 */
static const char *re_check(const char *p, size_t n, re_scan *sc)
{
    size_t i = 0;
    sc->depth = 0;
    sc->why = NULL;
    memset(&sc->f[0], 0, sizeof sc->f[0]);
    while (i < n)
        if (!re_element(sc, p, n, &i))
            return sc->why;
    return NULL;
}

int az_regex_compile(az_regex *r, const char *pat, size_t len, bool icase, char *msg, size_t msgcap)
{
    char buf[AZ_MAX_REGEX + 5];
    re_scan *sc = NULL;
    const char *why;
    int rc, ret = -1;
    if (!r || !pat) {
        set_msg(msg, msgcap, "no regex");
        return -1;
    }
    r->compiled = false;
    if (len > AZ_MAX_REGEX || memchr(pat, '\0', len)) {
        set_msg(msg, msgcap,
                len > AZ_MAX_REGEX ? "regex longer than 256 bytes" : "regex holds a NUL byte");
        return -1;
    }
    sc = malloc(sizeof *sc);
    if (!sc) {
        set_msg(msg, msgcap, "out of memory");
        return AGENTAUTHZ_ENOMEM;
    }
    why = re_check(pat, len, sc);
    if (why) {
        set_msg(msg, msgcap, "%s", why);
        goto out;
    }
    memcpy(buf, "^(", 2);
    memcpy(buf + 2, pat, len);
    memcpy(buf + 2 + len, ")$", 3);
    rc = regcomp(&r->re, buf, REG_EXTENDED | REG_NOSUB | (icase ? REG_ICASE : 0));
    if (rc != 0) {
        char tmp[128];
        regerror(rc, &r->re, tmp, sizeof tmp);
        set_msg(msg, msgcap, "%s", tmp);
        ret = rc == REG_ESPACE ? AGENTAUTHZ_ENOMEM : -1;
        goto out;
    }
    r->compiled = true;
    ret = 0;
out:
    free(sc);
    return ret;
}

/*
 * REG_STARTEND makes glibc's regexec read exactly len bytes, NULs included,
 * and no strlen. (The regexec interceptor of GCC 12's AddressSanitizer still
 * calls strlen, so under ASan the subject must be NUL-terminated somewhere;
 * value strings always are.)
 */
bool az_regex_match(const az_regex *r, const char *s, size_t len)
{
    regmatch_t m[1];
    if (!r || !r->compiled || (!s && len) || len > (size_t)INT_MAX)
        return false;
    m[0].rm_so = 0;
    m[0].rm_eo = (regoff_t)len;
    return regexec(&r->re, s ? s : "", 1, m, REG_STARTEND) == 0;
}

void az_regex_free(az_regex *r)
{
    if (!r || !r->compiled)
        return;
    regfree(&r->re);
    r->compiled = false;
}

/* ---- durations and names ---- */

static bool unit_seconds(char u, uint64_t *mult)
{
    switch (u) {
    case 's':
        *mult = 1;
        return true;
    case 'm':
        *mult = 60;
        return true;
    case 'h':
        *mult = 3600;
        return true;
    case 'd':
        *mult = 86400;
        return true;
    default:
        return false;
    }
}

int az_parse_duration(const char *s, size_t len, uint64_t *seconds)
{
    uint64_t v = 0, mult = 1;
    size_t i, digits = len;
    if (!s || !seconds || len == 0)
        return AGENTAUTHZ_EINVAL;
    if (!is_digit((unsigned char)s[len - 1])) {
        if (!unit_seconds(s[len - 1], &mult))
            return AGENTAUTHZ_EINVAL;
        digits--;
    }
    if (digits == 0)
        return AGENTAUTHZ_EINVAL;
    for (i = 0; i < digits; i++) {
        if (!is_digit((unsigned char)s[i]))
            return AGENTAUTHZ_EINVAL;
        if (v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
            return AGENTAUTHZ_EINVAL;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > UINT64_MAX / mult)
        return AGENTAUTHZ_EINVAL;
    *seconds = v * mult;
    return 0;
}

bool az_name_valid(const char *s, size_t len)
{
    size_t i;
    if (!s || len == 0 || len > AZ_MAX_NAME)
        return false;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!is_alpha(c) && !is_digit(c) && !memchr("_.:-", c, 4))
            return false;
    }
    return true;
}

bool az_globs_match(const az_glob *g, size_t n, const char *s, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (az_glob_match(&g[i], s, len))
            return true;
    return false;
}

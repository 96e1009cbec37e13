/*
 * The YAML loader: a policy file's text to a tree of az_node, each with the
 * line, column and byte offset where it starts.
 *
 * It drives libyaml's event parser (yaml_parser_parse), not its document
 * loader: the loader expands aliases, so a "billion laughs" file would grow
 * exponentially before we could refuse it, and it neither bounds nesting nor
 * rejects duplicate keys. Building the tree from events on an explicit stack
 * keeps every bound in this file: input size, depth, node count, items per
 * collection and scalar length. Nothing here recurses on input except
 * az_node_free and the key tree, both bounded (depth limit, AVL height).
 */
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "internal.h"

/* The largest integer a double holds exactly; larger ones would silently round. */
#define AZ_INT_EXACT (UINT64_C(1) << 53)

/* ------------------------------------------------------------------ */
/* UTF-8 and positions                                                 */
/* ------------------------------------------------------------------ */

/* A position while walking the text one character at a time. */
typedef struct az_pos {
    size_t off;
    unsigned long line;
    unsigned long column;
} az_pos;

/*
 * Decodes the UTF-8 sequence at s[0..n) into *cp and returns its length, or
 * 0 when it is malformed: a stray continuation byte, truncated, overlong, a
 * surrogate or past U+10FFFF (RFC 3629).
 */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    uint32_t c = s[0], min;
    size_t len;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2, c &= 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3, c &= 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4, c &= 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3Fu);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return len;
}

/* The length of a UTF-8 sequence from its first byte (the text is already valid). */
static size_t utf8_width(unsigned char c)
{
    return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

/* YAML's printable set (YAML 1.2, 5.1), which libyaml's reader enforces too. */
static bool yaml_printable(uint32_t c)
{
    return c == 0x09 || c == 0x0A || c == 0x0D || (c >= 0x20 && c <= 0x7E) || c == 0x85 ||
           (c >= 0xA0 && c <= 0xD7FF) || (c >= 0xE000 && c <= 0xFFFD) || c >= 0x10000;
}

/*
 * Moves p past the character c of width w. libyaml counts \r\n, \r, \n,
 * U+0085, U+2028 and U+2029 as line breaks, and columns in characters; we
 * count the same way so that our marks agree with the ones it reports.
 */
static void pos_advance(az_pos *p, const unsigned char *s, size_t len, uint32_t c, size_t w)
{
    bool crlf = c == '\r' && p->off + 1 < len && s[p->off + 1] == '\n';
    bool brk = c == '\n' || c == '\r' || c == 0x85 || c == 0x2028 || c == 0x2029;
    p->off += w;
    if (brk && !crlf) {
        p->line++;
        p->column = 1;
    } else {
        p->column++;
    }
}

/* A UTF-8 byte order mark is allowed at the very start and is not a character. */
static size_t bom_length(const unsigned char *s, size_t len)
{
    return len >= 3 && s[0] == 0xEF && s[1] == 0xBB && s[2] == 0xBF ? 3 : 0;
}

/* The line and column of byte offset off, walking from the start (error paths only). */
static az_mark mark_at_offset(const unsigned char *s, size_t len, size_t off)
{
    az_pos p = {bom_length(s, len), 1, 1};
    az_mark m;
    while (p.off < off && p.off < len) {
        uint32_t c = 0;
        size_t w = utf8_decode(s + p.off, len - p.off, &c);
        pos_advance(&p, s, len, c, w ? w : 1);
    }
    m.line = p.line;
    m.column = p.column;
    m.offset = off;
    return m;
}

static int prescan_error(az_diag *d, const az_pos *p, unsigned char byte, size_t w, uint32_t c)
{
    az_mark m = {p->line, p->column, p->off};
    if (byte == 0)
        az_diag_error(d, &m, AGENTAUTHZ_EPOLICY, "NUL byte is not allowed");
    else if (!w)
        az_diag_error(d, &m, AGENTAUTHZ_EPOLICY, "invalid UTF-8 (byte 0x%02X)", byte);
    else
        az_diag_error(d, &m, AGENTAUTHZ_EPOLICY, "control character U+%04X is not allowed",
                      (unsigned)c);
    return AGENTAUTHZ_EPOLICY;
}

/*
 * Checks the text before libyaml sees it: its size, NUL bytes, UTF-8 and
 * control characters. libyaml would refuse most of these too, but it gives
 * byte offsets and vague messages; here every refusal has a line:column.
 */
static int prescan(const unsigned char *s, size_t len, az_diag *d)
{
    az_pos p = {bom_length(s, len), 1, 1};
    if (len > AZ_MAX_INPUT) {
        az_mark m = {1, 1, 0};
        az_diag_error(d, &m, AGENTAUTHZ_ELIMIT, "the text is larger than %u bytes",
                      (unsigned)AZ_MAX_INPUT);
        return AGENTAUTHZ_ELIMIT;
    }
    while (p.off < len) {
        uint32_t c = 0;
        size_t w = s[p.off] ? utf8_decode(s + p.off, len - p.off, &c) : 0;
        if (!w || !yaml_printable(c))
            return prescan_error(d, &p, s[p.off], w, c);
        pos_advance(&p, s, len, c, w);
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Duplicate keys: an AVL tree of a map's keys                         */
/* ------------------------------------------------------------------ */

/*
 * A map's keys go into a balanced tree ordered by (length, bytes), so that a
 * map with 65536 keys costs O(n log n) comparisons whatever the keys are. An
 * unkeyed hash table would let a file of colliding keys make it quadratic.
 * Entries are 1-based indices into v (0 is "none"), item indexes the map's
 * items array, so the tree survives the items array being reallocated.
 */
typedef struct az_keynode {
    uint32_t item;
    uint32_t left, right;
    int32_t height;
} az_keynode;

typedef struct az_keyset {
    az_keynode *v;
    size_t n, cap;
    uint32_t root;
} az_keyset;

static int key_cmp(const az_node *a, const az_node *b)
{
    if (a->len != b->len)
        return a->len < b->len ? -1 : 1;
    return memcmp(a->str, b->str, a->len);
}

static int32_t kheight(const az_keyset *ks, uint32_t t)
{
    return t ? ks->v[t].height : 0;
}

static void kfix(az_keyset *ks, uint32_t t)
{
    int32_t l = kheight(ks, ks->v[t].left), r = kheight(ks, ks->v[t].right);
    ks->v[t].height = (l > r ? l : r) + 1;
}

static uint32_t krotate_right(az_keyset *ks, uint32_t t)
{
    uint32_t l = ks->v[t].left;
    ks->v[t].left = ks->v[l].right;
    ks->v[l].right = t;
    kfix(ks, t);
    kfix(ks, l);
    return l;
}

static uint32_t krotate_left(az_keyset *ks, uint32_t t)
{
    uint32_t r = ks->v[t].right;
    ks->v[t].right = ks->v[r].left;
    ks->v[r].left = t;
    kfix(ks, t);
    kfix(ks, r);
    return r;
}

static uint32_t kbalance(az_keyset *ks, uint32_t t)
{
    az_keynode *v = ks->v;
    int32_t bf;
    kfix(ks, t);
    bf = kheight(ks, v[t].left) - kheight(ks, v[t].right);
    if (bf > 1) {
        if (kheight(ks, v[v[t].left].left) < kheight(ks, v[v[t].left].right))
            v[t].left = krotate_left(ks, v[t].left);
        return krotate_right(ks, t);
    }
    if (bf < -1) {
        if (kheight(ks, v[v[t].right].right) < kheight(ks, v[v[t].right].left))
            v[t].right = krotate_right(ks, v[t].right);
        return krotate_left(ks, t);
    }
    return t;
}

/* Inserts entry nw under t; on an equal key sets *dup to the existing entry. */
static uint32_t kinsert(az_keyset *ks, az_node *const *items, uint32_t t, uint32_t nw,
                        uint32_t *dup)
{
    int c;
    if (!t)
        return nw;
    c = key_cmp(items[ks->v[nw].item], items[ks->v[t].item]);
    if (c == 0) {
        *dup = t;
        return t;
    }
    if (c < 0)
        ks->v[t].left = kinsert(ks, items, ks->v[t].left, nw, dup);
    else
        ks->v[t].right = kinsert(ks, items, ks->v[t].right, nw, dup);
    return *dup ? t : kbalance(ks, t);
}

static int keyset_reserve(az_keyset *ks)
{
    size_t need = (ks->n ? ks->n : 1) + 1, cap;
    az_keynode *v;
    if (need <= ks->cap)
        return 0;
    cap = ks->cap ? ks->cap * 2 : 16;
    if (cap > SIZE_MAX / sizeof *v)
        return AGENTAUTHZ_ENOMEM;
    v = realloc(ks->v, cap * sizeof *v);
    if (!v)
        return AGENTAUTHZ_ENOMEM;
    if (!ks->v)
        memset(&v[0], 0, sizeof v[0]); /* entry 0 is the empty tree */
    ks->v = v;
    ks->cap = cap;
    if (!ks->n)
        ks->n = 1;
    return 0;
}

/*
 * Adds items[item] to the set. Returns 0 when the key is new, 1 when it is
 * already there (*first gets the index of the earlier key), or ENOMEM.
 */
static int keyset_add(az_keyset *ks, az_node *const *items, size_t item, size_t *first)
{
    uint32_t nw, dup = 0;
    int rc = keyset_reserve(ks);
    if (rc)
        return rc;
    nw = (uint32_t)ks->n;
    ks->v[nw].item = (uint32_t)item;
    ks->v[nw].left = ks->v[nw].right = 0;
    ks->v[nw].height = 1;
    ks->root = kinsert(ks, items, ks->root, nw, &dup);
    if (dup) {
        *first = ks->v[dup].item;
        return 1;
    }
    ks->n++;
    return 0;
}

static void keyset_free(az_keyset *ks)
{
    free(ks->v);
    memset(ks, 0, sizeof *ks);
}

/* ------------------------------------------------------------------ */
/* The loader                                                          */
/* ------------------------------------------------------------------ */

/* An open sequence or map: the node being filled and its capacity. */
typedef struct az_frame {
    az_node *node;
    size_t cap;
    az_keyset keys; /* maps only */
} az_frame;

typedef struct az_loader {
    az_diag *d;
    const unsigned char *text;
    size_t len;
    size_t bom;
    /* A cursor that maps libyaml's character index to a byte offset. */
    size_t cur_index;
    size_t cur_off;
    az_frame stack[AZ_MAX_DEPTH];
    size_t depth;
    az_node *root;
    size_t nodes;
    size_t docs;
    locale_t c_locale; /* created on the first float, for strtod */
    int rc;            /* the first error's code */
    bool stop;         /* an error made the rest of the text meaningless */
} az_loader;

/*
 * libyaml's mark.index counts characters after the BOM, but az_mark.offset
 * is a byte offset. Events arrive in text order, so a cursor that walks
 * forward (and, rarely, back) from the previous mark costs O(n) in all.
 */
static size_t byte_offset(az_loader *ld, size_t index)
{
    const unsigned char *s = ld->text;
    while (ld->cur_index < index && ld->cur_off < ld->len) {
        ld->cur_off += utf8_width(s[ld->cur_off]);
        ld->cur_index++;
    }
    while (ld->cur_index > index && ld->cur_off > ld->bom) {
        do
            ld->cur_off--;
        while (ld->cur_off > ld->bom && (s[ld->cur_off] & 0xC0) == 0x80);
        ld->cur_index--;
    }
    if (ld->cur_off > ld->len)
        ld->cur_off = ld->len;
    return ld->cur_off;
}

/* libyaml's marks are 0-based; ours are 1-based. */
static az_mark to_mark(az_loader *ld, yaml_mark_t ym)
{
    az_mark m;
    m.line = (unsigned long)ym.line + 1;
    m.column = (unsigned long)ym.column + 1;
    m.offset = byte_offset(ld, ym.index);
    return m;
}

/* Reports an error; a fatal one ends the parse, others let it find more. */
static void ld_error(az_loader *ld, const az_mark *m, int code, bool fatal, const char *msg)
{
    az_diag_error(ld->d, m, code, "%s", msg);
    if (!ld->rc)
        ld->rc = code;
    if (fatal)
        ld->stop = true;
}

static void ld_nomem(az_loader *ld, const az_mark *m)
{
    ld_error(ld, m, AGENTAUTHZ_ENOMEM, true, "out of memory");
}

/* Writes s as a quoted, escaped and possibly shortened string for a message. */
static void quote_text(char *dst, size_t cap, const char *s, size_t len)
{
    size_t o = 0, i = 0;
    dst[o++] = '"';
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        size_t w = 1, adv = 1;
        if (c >= 0x80) {
            w = utf8_width(c);
            adv = w = w < len - i ? w : len - i;
            memcpy(esc, s + i, w);
        } else if (c == '"' || c == '\\') {
            esc[0] = '\\', esc[1] = (char)c, w = 2;
        } else if (c == '\n' || c == '\t' || c == '\r') {
            esc[0] = '\\', esc[1] = c == '\n' ? 'n' : c == '\t' ? 't' : 'r', w = 2;
        } else if (c < 0x20 || c == 0x7F) {
            w = (size_t)snprintf(esc, sizeof esc, "\\u%04x", c);
        } else {
            esc[0] = (char)c;
        }
        /* Keep room for "...", the closing quote and the NUL. */
        if (o + w + 5 > cap) {
            memcpy(dst + o, "...", 3);
            o += 3;
            break;
        }
        memcpy(dst + o, esc, w);
        o += w;
        i += adv;
    }
    dst[o++] = '"';
    dst[o] = '\0';
}

static void duplicate_key(az_loader *ld, const az_node *key, const az_node *first)
{
    char q[96];
    char msg[AGENTAUTHZ_ERROR_MESSAGE_MAX];
    quote_text(q, sizeof q, key->str, key->len);
    snprintf(msg, sizeof msg, "duplicate key %s (first at line %lu)", q, first->mark.line);
    ld_error(ld, &key->mark, AGENTAUTHZ_EPOLICY, false, msg);
}

/* ---- scalar typing (YAML 1.2 core schema, with the policy's restrictions) ---- */

static bool text_is(const char *s, size_t len, const char *lit)
{
    size_t n = strlen(lit);
    return len == n && memcmp(s, lit, n) == 0;
}

static bool is_null(const char *s, size_t len)
{
    return len == 0 || text_is(s, len, "~") || text_is(s, len, "null") || text_is(s, len, "Null") ||
           text_is(s, len, "NULL");
}

static int digit_value(char c, unsigned base)
{
    int v = -1;
    if (c >= '0' && c <= '9')
        v = c - '0';
    else if (c >= 'a' && c <= 'f')
        v = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
        v = c - 'A' + 10;
    return v >= 0 && (unsigned)v < base ? v : -1;
}

/*
 * Matches [-+]?[0-9]+, 0o[0-7]+ or 0x[0-9a-fA-F]+. On a match sets *num and
 * *range (true when the magnitude is past 2^53, where doubles lose integers).
 */
static bool parse_int(const char *s, size_t len, double *num, bool *range)
{
    unsigned base = 10;
    size_t i = 0;
    bool neg = false;
    uint64_t v = 0;
    if (len > 2 && s[0] == '0' && (s[1] == 'o' || s[1] == 'x')) {
        base = s[1] == 'o' ? 8 : 16;
        i = 2;
    } else if (len > 0 && (s[0] == '-' || s[0] == '+')) {
        neg = s[0] == '-';
        i = 1;
    }
    if (i == len)
        return false;
    for (; i < len; i++) {
        int dv = digit_value(s[i], base);
        if (dv < 0)
            return false;
        /* Stop growing once past 2^53 (no overflow), but keep checking digits. */
        if (v <= AZ_INT_EXACT)
            v = v * base + (unsigned)dv;
    }
    *range = v > AZ_INT_EXACT;
    *num = v == 0 ? 0.0 : neg ? -(double)v : (double)v;
    return true;
}

static size_t skip_digits(const char *s, size_t len, size_t i)
{
    while (i < len && s[i] >= '0' && s[i] <= '9')
        i++;
    return i;
}

/* Matches [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static bool is_float(const char *s, size_t len)
{
    size_t i = 0, j;
    bool digits;
    if (i < len && (s[i] == '-' || s[i] == '+'))
        i++;
    j = skip_digits(s, len, i);
    digits = j > i;
    i = j;
    if (i < len && s[i] == '.') {
        j = skip_digits(s, len, i + 1);
        digits = digits || j > i + 1;
        i = j;
    }
    if (!digits)
        return false;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '-' || s[i] == '+'))
            i++;
        j = skip_digits(s, len, i);
        if (j == i)
            return false;
        i = j;
    }
    return i == len;
}

/* Matches [-+]?\.(inf|Inf|INF) and \.(nan|NaN|NAN). */
static bool is_inf_nan(const char *s, size_t len)
{
    const char *t = s;
    size_t n = len;
    if (text_is(s, len, ".nan") || text_is(s, len, ".NaN") || text_is(s, len, ".NAN"))
        return true;
    if (n > 0 && (t[0] == '-' || t[0] == '+'))
        t++, n--;
    return text_is(t, n, ".inf") || text_is(t, n, ".Inf") || text_is(t, n, ".INF");
}

/*
 * Converts a float that is_float accepted. strtod follows the thread's
 * LC_NUMERIC, and a host may have set one whose decimal point is ',', so we
 * switch this thread to the C locale around the call (uselocale is
 * per-thread, so this stays reentrant).
 */
static int to_double(az_loader *ld, const char *s, double *out)
{
    locale_t old;
    if (!ld->c_locale) {
        ld->c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
        if (!ld->c_locale)
            return AGENTAUTHZ_ENOMEM;
    }
    old = uselocale(ld->c_locale);
    *out = strtod(s, NULL);
    uselocale(old);
    return 0;
}

static void resolve_float(az_loader *ld, az_node *n)
{
    n->kind = AZ_SCALAR_FLOAT;
    if (to_double(ld, n->str, &n->num)) {
        n->num = 0;
        ld_nomem(ld, &n->mark);
    } else if (!isfinite(n->num)) {
        n->num = 0;
        ld_error(ld, &n->mark, AGENTAUTHZ_EPOLICY, false, "number out of range");
    }
}

/* Types a plain scalar; quoted and block scalars stay strings. */
static void resolve_plain(az_loader *ld, az_node *n)
{
    bool range = false;
    if (is_null(n->str, n->len)) {
        n->kind = AZ_SCALAR_NULL;
    } else if (text_is(n->str, n->len, "true") || text_is(n->str, n->len, "false")) {
        n->kind = AZ_SCALAR_BOOL;
        n->b = n->str[0] == 't';
    } else if (parse_int(n->str, n->len, &n->num, &range)) {
        n->kind = AZ_SCALAR_INT;
        if (range)
            ld_error(ld, &n->mark, AGENTAUTHZ_EPOLICY, false, "integer out of range");
    } else if (is_inf_nan(n->str, n->len)) {
        n->kind = AZ_SCALAR_FLOAT;
        ld_error(ld, &n->mark, AGENTAUTHZ_EPOLICY, false,
                 "infinite or NaN numbers are not allowed");
    } else if (is_float(n->str, n->len)) {
        resolve_float(ld, n);
    }
}

/* ---- building the tree ---- */

static az_node *new_node(az_loader *ld, az_node_type type, const az_mark *m)
{
    az_node *n;
    if (ld->nodes >= AZ_MAX_NODES) {
        char msg[64];
        snprintf(msg, sizeof msg, "more than %u nodes in one document", (unsigned)AZ_MAX_NODES);
        ld_error(ld, m, AGENTAUTHZ_ELIMIT, true, msg);
        return NULL;
    }
    n = calloc(1, sizeof *n);
    if (!n) {
        ld_nomem(ld, m);
        return NULL;
    }
    ld->nodes++;
    n->type = type;
    n->mark = *m;
    n->kind = AZ_SCALAR_STRING;
    return n;
}

static int frame_grow(az_frame *f)
{
    size_t cap;
    az_node **items;
    if (f->node->n < f->cap)
        return 0;
    cap = f->cap ? f->cap * 2 : 8;
    if (cap < f->cap || cap > SIZE_MAX / sizeof *items)
        return AGENTAUTHZ_ENOMEM;
    items = realloc(f->node->items, cap * sizeof *items);
    if (!items)
        return AGENTAUTHZ_ENOMEM;
    f->node->items = items;
    f->cap = cap;
    return 0;
}

static bool frame_full(az_loader *ld, const az_frame *f, const az_mark *m)
{
    bool map = f->node->type == AZ_NODE_MAP;
    size_t max = map ? 2 * (size_t)AZ_MAX_ITEMS : AZ_MAX_ITEMS;
    char msg[64];
    if (f->node->n < max)
        return false;
    snprintf(msg, sizeof msg, "more than %u %s", (unsigned)AZ_MAX_ITEMS,
             map ? "entries in one map" : "items in one sequence");
    ld_error(ld, m, AGENTAUTHZ_ELIMIT, true, msg);
    return true;
}

/* Checks the key just appended to the map of frame f: a scalar, not seen before. */
static void check_key(az_loader *ld, az_frame *f)
{
    size_t at = f->node->n - 1, first = 0;
    const az_node *key = f->node->items[at];
    int rc;
    if (key->type != AZ_NODE_SCALAR) {
        ld_error(ld, &key->mark, AGENTAUTHZ_EPOLICY, false, "map keys must be scalars");
        return;
    }
    rc = keyset_add(&f->keys, f->node->items, at, &first);
    if (rc == 1)
        duplicate_key(ld, key, f->node->items[first]);
    else if (rc)
        ld_nomem(ld, &key->mark);
}

/*
 * Hands node to the tree: the root, an item of the open sequence, or the
 * next key or value of the open map. Takes ownership also on failure.
 */
static bool attach(az_loader *ld, az_node *node)
{
    az_frame *f;
    if (!ld->depth) {
        if (ld->root) { /* unreachable: a second document is refused first */
            az_node_free(node);
            return false;
        }
        ld->root = node;
        return true;
    }
    f = &ld->stack[ld->depth - 1];
    if (frame_full(ld, f, &node->mark) || frame_grow(f)) {
        if (!ld->stop)
            ld_nomem(ld, &node->mark);
        az_node_free(node);
        return false;
    }
    f->node->items[f->node->n++] = node;
    if (f->node->type == AZ_NODE_MAP && f->node->n % 2 == 1)
        check_key(ld, f);
    return true;
}

/* Anchors end the parse (aliases cannot be expanded safely); tags are reported. */
static bool props_ok(az_loader *ld, const yaml_char_t *anchor, const yaml_char_t *tag,
                     const az_mark *m)
{
    if (anchor) {
        ld_error(ld, m, AGENTAUTHZ_EPOLICY, true, "anchors and aliases are not allowed");
        return false;
    }
    if (tag)
        ld_error(ld, m, AGENTAUTHZ_EPOLICY, false, "tags are not allowed");
    return true;
}

static void on_scalar(az_loader *ld, const yaml_event_t *ev, const az_mark *m)
{
    const char *v = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    az_node *n;
    if (!props_ok(ld, ev->data.scalar.anchor, ev->data.scalar.tag, m))
        return;
    if (len > AZ_MAX_SCALAR) {
        char msg[64];
        snprintf(msg, sizeof msg, "scalar longer than %u bytes", (unsigned)AZ_MAX_SCALAR);
        ld_error(ld, m, AGENTAUTHZ_ELIMIT, true, msg);
        return;
    }
    n = new_node(ld, AZ_NODE_SCALAR, m);
    if (!n)
        return;
    n->str = malloc(len + 1);
    if (!n->str) {
        free(n);
        ld_nomem(ld, m);
        return;
    }
    memcpy(n->str, v, len);
    n->str[len] = '\0';
    n->len = len;
    /* Only an escape ("\0") can put a NUL here; later stages treat names as C strings. */
    if (memchr(v, 0, len))
        ld_error(ld, m, AGENTAUTHZ_EPOLICY, false, "NUL characters are not allowed in scalars");
    else if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
        resolve_plain(ld, n);
    attach(ld, n);
}

static void on_start(az_loader *ld, az_node_type type, const yaml_char_t *anchor,
                     const yaml_char_t *tag, const az_mark *m)
{
    az_node *n;
    az_frame *f;
    if (!props_ok(ld, anchor, tag, m))
        return;
    if (ld->depth >= AZ_MAX_DEPTH) {
        char msg[64];
        snprintf(msg, sizeof msg, "nesting deeper than %d levels", AZ_MAX_DEPTH);
        ld_error(ld, m, AGENTAUTHZ_ELIMIT, true, msg);
        return;
    }
    n = new_node(ld, type, m);
    if (!n || !attach(ld, n))
        return;
    f = &ld->stack[ld->depth++];
    memset(f, 0, sizeof *f);
    f->node = n;
}

static void on_end(az_loader *ld)
{
    if (!ld->depth)
        return;
    ld->depth--;
    keyset_free(&ld->stack[ld->depth].keys);
}

static void on_document(az_loader *ld, const yaml_event_t *ev, const az_mark *m)
{
    if (ld->docs++) {
        ld_error(ld, m, AGENTAUTHZ_EPOLICY, true, "several documents in one file are not allowed");
        return;
    }
    if (ev->data.document_start.version_directive ||
        ev->data.document_start.tag_directives.start != ev->data.document_start.tag_directives.end)
        ld_error(ld, m, AGENTAUTHZ_EPOLICY, false, "directives (%YAML, %TAG) are not allowed");
}

static void on_event(az_loader *ld, const yaml_event_t *ev)
{
    az_mark m = to_mark(ld, ev->start_mark);
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        on_document(ld, ev, &m);
        break;
    case YAML_ALIAS_EVENT:
        ld_error(ld, &m, AGENTAUTHZ_EPOLICY, true, "anchors and aliases are not allowed");
        break;
    case YAML_SCALAR_EVENT:
        on_scalar(ld, ev, &m);
        break;
    case YAML_SEQUENCE_START_EVENT:
        on_start(ld, AZ_NODE_SEQ, ev->data.sequence_start.anchor, ev->data.sequence_start.tag, &m);
        break;
    case YAML_MAPPING_START_EVENT:
        on_start(ld, AZ_NODE_MAP, ev->data.mapping_start.anchor, ev->data.mapping_start.tag, &m);
        break;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        on_end(ld);
        break;
    default:
        break;
    }
}

/* Reports libyaml's own error with its position and "problem context" text. */
static void syntax_error(az_loader *ld, const yaml_parser_t *p)
{
    char msg[AGENTAUTHZ_ERROR_MESSAGE_MAX];
    const char *problem = p->problem ? p->problem : "invalid YAML";
    az_mark m;
    if (p->error == YAML_MEMORY_ERROR) {
        ld_nomem(ld, NULL);
        return;
    }
    if (p->error == YAML_READER_ERROR)
        m = mark_at_offset(ld->text, ld->len, p->problem_offset);
    else
        m = to_mark(ld, p->problem_mark);
    if (p->context)
        snprintf(msg, sizeof msg, "%s %s", problem, p->context);
    else
        snprintf(msg, sizeof msg, "%s", problem);
    ld_error(ld, &m, AGENTAUTHZ_EPOLICY, true, msg);
}

static void run(az_loader *ld)
{
    yaml_parser_t parser;
    yaml_event_t ev;
    bool end = false;
    if (!yaml_parser_initialize(&parser)) {
        ld_nomem(ld, NULL);
        return;
    }
    yaml_parser_set_input_string(&parser, ld->text, ld->len);
    while (!ld->stop && !end) {
        if (!yaml_parser_parse(&parser, &ev)) {
            syntax_error(ld, &parser);
            break;
        }
        on_event(ld, &ev);
        end = ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
}

/* No document, or one that is only an empty plain scalar ("---" alone). */
static bool is_empty(const az_node *root)
{
    return !root || (root->type == AZ_NODE_SCALAR && root->kind == AZ_SCALAR_NULL && !root->len);
}

int az_yaml_parse(const char *text, size_t len, az_diag *d, az_node **out)
{
    az_loader ld;
    if (!out)
        return AGENTAUTHZ_EINVAL;
    *out = NULL;
    if (!d || (!text && len))
        return AGENTAUTHZ_EINVAL;
    memset(&ld, 0, sizeof ld);
    ld.d = d;
    ld.text = (const unsigned char *)(text ? text : "");
    ld.len = len;
    ld.rc = prescan(ld.text, len, d);
    if (ld.rc)
        return ld.rc;
    ld.bom = ld.cur_off = bom_length(ld.text, len);
    run(&ld);
    if (!ld.rc && is_empty(ld.root)) {
        az_mark m = {1, 1, 0};
        ld_error(&ld, &m, AGENTAUTHZ_EPOLICY, true, "empty policy document");
    }
    while (ld.depth)
        on_end(&ld);
    if (ld.c_locale)
        freelocale(ld.c_locale);
    if (ld.rc)
        az_node_free(ld.root);
    else
        *out = ld.root;
    return ld.rc;
}

/* Recursion is bounded: az_yaml_parse never builds a tree deeper than AZ_MAX_DEPTH. */
void az_node_free(az_node *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n; i++)
        az_node_free(n->items[i]);
    free(n->items);
    free(n->str);
    free(n);
}

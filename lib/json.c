/*
 * A strict RFC 8259 JSON parser into agentauthz_value trees, and the UTF-8
 * validator the library uses everywhere.
 *
 * The parser is recursive descent; the recursion is bounded by the nesting
 * check (AZ_MAX_DEPTH containers, two frames each). Positions are tracked
 * as byte offsets only, and turned into line and column when an error is
 * reported, which keeps the hot loops simple.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strtod_l */
#endif
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "internal.h"

/* The longest number token accepted; real numbers are far shorter. */
#define JSON_NUMBER_MAX 1024

/* Objects up to this size are checked for duplicate keys pairwise, larger ones by sorting. */
#define SMALL_OBJECT 16

/* Keys quoted in error messages are cut to this many bytes. */
#define KEY_QUOTE_MAX 64

typedef struct jp {
    const char *s;
    size_t len;
    size_t pos;
    const char *path;
    agentauthz_error *err;
    az_buf str;    /* scratch for the string being decoded */
    locale_t cloc; /* the "C" locale for strtod_l, made on first use */
    size_t nodes;  /* values created so far */
    az_arena *ar;  /* where the values go; NULL: the heap */
} jp;

/* ------------------------------------------------------------------ */
/* UTF-8                                                               */
/* ------------------------------------------------------------------ */

/*
 * The length of the well-formed UTF-8 sequence at s (Unicode table 3-7),
 * or 0 if it is ill-formed: overlong forms, UTF-16 surrogates and code
 * points above U+10FFFF are all refused by the bounds on the second byte.
 */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xBF;
    size_t need;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        need = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        need = 3;
    else if (c >= 0xF0 && c <= 0xF4)
        need = 4;
    else
        return 0;
    if (c == 0xE0)
        lo = 0xA0;
    else if (c == 0xED)
        hi = 0x9F;
    else if (c == 0xF0)
        lo = 0x90;
    else if (c == 0xF4)
        hi = 0x8F;
    if (n < need || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < need; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return need;
}

size_t az_utf8_check(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        size_t n = u[i] < 0x80 ? 1 : utf8_seq(u + i, len - i);
        if (!n)
            return i;
        i += n;
    }
    return len;
}

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

static int jp_fail(jp *p, int code, size_t off, const char *fmt, ...) AZ_PRINTF(4, 5);

static int jp_fail(jp *p, int code, size_t off, const char *fmt, ...)
{
    char msg[AGENTAUTHZ_ERROR_MESSAGE_MAX];
    unsigned long line = 1;
    size_t start = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    for (size_t i = 0; i < off && i < p->len; i++) {
        if (p->s[i] == '\n') {
            line++;
            start = i + 1;
        }
    }
    return az_error_set(p->err, code, p->path, line, (unsigned long)(off - start + 1), off, "%s",
                        msg);
}

/* Reports "expected WHAT, found X" at the current position. */
static int jp_expect(jp *p, const char *what)
{
    unsigned char c;
    if (p->pos >= p->len)
        return jp_fail(p, AGENTAUTHZ_EJSON, p->pos, "expected %s, found end of input", what);
    c = (unsigned char)p->s[p->pos];
    if (c > 0x20 && c < 0x7f)
        return jp_fail(p, AGENTAUTHZ_EJSON, p->pos, "expected %s, found '%c'", what, c);
    return jp_fail(p, AGENTAUTHZ_EJSON, p->pos, "expected %s, found byte 0x%02x", what, c);
}

/* Turns a buffer or allocation failure into a reported error. */
static int jp_rc(jp *p, int rc, size_t off)
{
    if (rc == AGENTAUTHZ_ENOMEM)
        return jp_fail(p, rc, off, "out of memory");
    if (rc == AGENTAUTHZ_ELIMIT)
        return jp_fail(p, rc, off, "string longer than %u bytes", AZ_MAX_INPUT);
    return rc ? jp_fail(p, rc, off, "internal error") : 0;
}

/* Counts one more value against AZ_MAX_NODES, the bound on memory per text. */
static int jp_node(jp *p)
{
    if (++p->nodes > AZ_MAX_NODES)
        return jp_fail(p, AGENTAUTHZ_ELIMIT, p->pos, "more than %u values in one JSON text",
                       AZ_MAX_NODES);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Lexical helpers                                                     */
/* ------------------------------------------------------------------ */

static int peek(const jp *p)
{
    return p->pos < p->len ? (unsigned char)p->s[p->pos] : -1;
}

static void skip_ws(jp *p)
{
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->pos++;
    }
}

/* Locale-free, unlike isdigit. */
static bool is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static int hex_val(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/*
 * Values go to the heap, or into an arena (an action's storage), where
 * nothing is freed one by one: the jp_* helpers pick the one in use.
 */
static agentauthz_value *jp_value(jp *p, agentauthz_type type)
{
    if (p->ar)
        return az_value_new_in(p->ar, type);
    if (type == AGENTAUTHZ_LIST)
        return agentauthz_value_list();
    if (type == AGENTAUTHZ_MAP)
        return agentauthz_value_map();
    return agentauthz_value_null();
}

static agentauthz_value *jp_bool(jp *p, bool b)
{
    return p->ar ? az_value_bool_in(p->ar, b) : agentauthz_value_bool(b);
}

static void jp_free(const jp *p, agentauthz_value *v)
{
    if (!p->ar)
        agentauthz_value_free(v);
}

/* Reports a failed allocation: out of memory, or an arena past its cap. */
static int jp_nomem(jp *p, size_t off)
{
    if (p->ar && p->ar->err == AGENTAUTHZ_ELIMIT)
        return jp_fail(p, AGENTAUTHZ_ELIMIT, off, "values larger than %u MiB in all",
                       (unsigned)(AZ_MAX_ARENA >> 20));
    return jp_rc(p, AGENTAUTHZ_ENOMEM, off);
}

/* ------------------------------------------------------------------ */
/* Literals and numbers                                                */
/* ------------------------------------------------------------------ */

static bool match_word(const jp *p, const char *w, size_t n)
{
    return p->len - p->pos >= n && memcmp(p->s + p->pos, w, n) == 0;
}

static int parse_literal(jp *p, agentauthz_value **out)
{
    int rc = jp_node(p);
    if (rc)
        return rc;
    if (match_word(p, "true", 4)) {
        *out = jp_bool(p, true);
        p->pos += 4;
    } else if (match_word(p, "false", 5)) {
        *out = jp_bool(p, false);
        p->pos += 5;
    } else if (match_word(p, "null", 4)) {
        *out = jp_value(p, AGENTAUTHZ_NULL);
        p->pos += 4;
    } else {
        return jp_fail(p, AGENTAUTHZ_EJSON, p->pos,
                       "invalid literal: expected true, false or null");
    }
    return *out ? 0 : jp_nomem(p, p->pos);
}

static void skip_digits(jp *p)
{
    while (p->pos < p->len && is_digit(p->s[p->pos]))
        p->pos++;
}

/* Checks the number grammar; *simple says the token is a plain integer. */
static int scan_number(jp *p, bool *simple)
{
    *simple = true;
    if (peek(p) == '-')
        p->pos++;
    if (!is_digit(peek(p)))
        return jp_expect(p, "a digit after '-'");
    if (peek(p) == '0') {
        p->pos++;
        if (is_digit(peek(p)))
            return jp_fail(p, AGENTAUTHZ_EJSON, p->pos, "leading zeros are not allowed");
    }
    skip_digits(p);
    if (peek(p) == '.') {
        *simple = false;
        p->pos++;
        if (!is_digit(peek(p)))
            return jp_expect(p, "a digit after '.'");
        skip_digits(p);
    }
    if (peek(p) == 'e' || peek(p) == 'E') {
        *simple = false;
        p->pos++;
        if (peek(p) == '+' || peek(p) == '-')
            p->pos++;
        if (!is_digit(peek(p)))
            return jp_expect(p, "a digit in the exponent");
        skip_digits(p);
    }
    return 0;
}

/*
 * Integers of up to 19 digits fit a uint64_t, and converting that to double
 * rounds correctly, so they skip strtod. Everything else goes through
 * strtod_l in the "C" locale, because strtod obeys the host's LC_NUMERIC.
 */
static int convert_number(jp *p, size_t start, bool simple, double *d)
{
    const char *s = p->s + start;
    size_t n = p->pos - start;
    bool neg = s[0] == '-';
    char buf[JSON_NUMBER_MAX + 1];
    if (simple && n - neg <= 19) {
        uint64_t u = 0;
        for (size_t i = neg; i < n; i++)
            u = u * 10 + (uint64_t)(s[i] - '0');
        *d = neg ? -(double)u : (double)u;
        return 0;
    }
    if (n > JSON_NUMBER_MAX)
        return jp_fail(p, AGENTAUTHZ_ELIMIT, start, "number longer than %d bytes", JSON_NUMBER_MAX);
    if (!p->cloc)
        p->cloc = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    if (!p->cloc)
        return jp_rc(p, AGENTAUTHZ_ENOMEM, start);
    memcpy(buf, s, n);
    buf[n] = '\0';
    *d = strtod_l(buf, NULL, p->cloc);
    if (!isfinite(*d))
        return jp_fail(p, AGENTAUTHZ_EJSON, start, "number out of range for a double");
    return 0;
}

static int parse_number(jp *p, agentauthz_value **out)
{
    size_t start = p->pos;
    bool simple;
    double d;
    int rc = jp_node(p);
    if (!rc)
        rc = scan_number(p, &simple);
    if (!rc)
        rc = convert_number(p, start, simple, &d);
    if (rc)
        return rc;
    *out = p->ar ? az_value_number_in(p->ar, d) : agentauthz_value_number(d);
    return *out ? 0 : jp_nomem(p, start);
}

/* ------------------------------------------------------------------ */
/* Strings                                                             */
/* ------------------------------------------------------------------ */

static int put_utf8(az_buf *b, uint32_t cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return az_buf_append(b, u, n);
}

/* Reads 4 hex digits at offset at; -1 if there are not 4 of them. */
static int hex4(const jp *p, size_t at, uint32_t *cp)
{
    uint32_t v = 0;
    if (at > p->len || p->len - at < 4)
        return -1;
    for (size_t i = 0; i < 4; i++) {
        int d = hex_val(p->s[at + i]);
        if (d < 0)
            return -1;
        v = (v << 4) | (uint32_t)d;
    }
    *cp = v;
    return 0;
}

/* A \uXXXX escape at offset at (the backslash), with its low surrogate if any. */
static int parse_uescape(jp *p, size_t at)
{
    uint32_t cp, lo;
    if (hex4(p, at + 2, &cp))
        return jp_fail(p, AGENTAUTHZ_EJSON, at, "expected 4 hex digits after \\u");
    p->pos = at + 6;
    if (cp >= 0xDC00 && cp <= 0xDFFF)
        return jp_fail(p, AGENTAUTHZ_EJSON, at, "lone low surrogate \\u%04x in string",
                       (unsigned)cp);
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (!match_word(p, "\\u", 2) || hex4(p, p->pos + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF)
            return jp_fail(p, AGENTAUTHZ_EJSON, at,
                           "lone high surrogate \\u%04x in string: expected a \\uDC00-\\uDFFF "
                           "escape after it",
                           (unsigned)cp);
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        p->pos += 6;
    }
    return jp_rc(p, put_utf8(&p->str, cp), at);
}

static int parse_escape(jp *p)
{
    static const char from[] = "\"\\/bfnrt";
    static const char to[] = "\"\\/\b\f\n\r\t";
    size_t at = p->pos;
    const char *hit;
    char c;
    p->pos++;
    if (p->pos >= p->len)
        return jp_expect(p, "an escape character after '\\'");
    c = p->s[p->pos];
    if (c == 'u')
        return parse_uescape(p, at);
    hit = c ? strchr(from, c) : NULL;
    if (!hit)
        return jp_expect(p, "one of \" \\ / b f n r t u after '\\'");
    p->pos++;
    return jp_rc(p, az_buf_putc(&p->str, to[hit - from]), at);
}

static int parse_utf8(jp *p)
{
    const unsigned char *u = (const unsigned char *)p->s + p->pos;
    size_t n = utf8_seq(u, p->len - p->pos);
    if (!n)
        return jp_fail(p, AGENTAUTHZ_EJSON, p->pos, "invalid UTF-8 in string");
    p->pos += n;
    return jp_rc(p, az_buf_append(&p->str, u, n), p->pos - n);
}

/* Bytes that stand for themselves inside a string. */
static bool plain_byte(unsigned char c)
{
    return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

/* Decodes the string at p->pos (its opening quote) into p->str. */
static int parse_string(jp *p)
{
    const unsigned char *u = (const unsigned char *)p->s;
    int rc = 0;
    p->str.len = 0;
    p->pos++;
    while (!rc) {
        size_t run = p->pos;
        while (run < p->len && plain_byte(u[run]))
            run++;
        rc = jp_rc(p, az_buf_append(&p->str, u + p->pos, run - p->pos), p->pos);
        p->pos = run;
        if (rc)
            break;
        if (run >= p->len)
            return jp_expect(p, "'\"' to end the string");
        if (u[run] == '"') {
            p->pos++;
            return 0;
        }
        if (u[run] == '\\')
            rc = parse_escape(p);
        else if (u[run] < 0x20)
            rc = jp_fail(p, AGENTAUTHZ_EJSON, run,
                         "control character 0x%02x in string: it must be escaped", u[run]);
        else
            rc = parse_utf8(p);
    }
    return rc;
}

static int parse_string_value(jp *p, agentauthz_value **out)
{
    size_t at = p->pos;
    int rc = jp_node(p);
    if (!rc)
        rc = parse_string(p);
    if (rc)
        return rc;
    if (p->ar)
        *out = az_value_stringn_in(p->ar, p->str.p ? p->str.p : "", p->str.len);
    else
        *out = agentauthz_value_stringn(p->str.p ? p->str.p : "", p->str.len);
    return *out ? 0 : jp_nomem(p, at);
}

/* ------------------------------------------------------------------ */
/* Containers                                                          */
/* ------------------------------------------------------------------ */

static int parse_value(jp *p, int depth, agentauthz_value **out, const char *what);

/* Checks the bounds for a container opening at p->pos, at nesting depth. */
static int open_container(jp *p, int depth)
{
    if (depth > AZ_MAX_DEPTH)
        return jp_fail(p, AGENTAUTHZ_ELIMIT, p->pos, "nesting deeper than %d", AZ_MAX_DEPTH);
    return jp_node(p);
}

static int array_item(jp *p, int depth, agentauthz_value *list, const char *what)
{
    agentauthz_value *item = NULL;
    size_t at = p->pos;
    int rc;
    if (list->u.list.n >= AZ_MAX_ITEMS)
        return jp_fail(p, AGENTAUTHZ_ELIMIT, at, "more than %d items in one array", AZ_MAX_ITEMS);
    rc = parse_value(p, depth, &item, what);
    if (rc)
        return rc;
    if (p->ar)
        return az_value_list_push_in(p->ar, list, item) ? jp_nomem(p, at) : 0;
    /* The list takes item whatever happens. */
    return jp_rc(p, agentauthz_value_list_append(list, item), at);
}

static int parse_array(jp *p, int depth, agentauthz_value **out)
{
    agentauthz_value *list = NULL;
    const char *what = "a value or ']'";
    int rc = open_container(p, depth);
    if (rc)
        return rc;
    list = jp_value(p, AGENTAUTHZ_LIST);
    if (!list)
        return jp_nomem(p, p->pos);
    p->pos++;
    skip_ws(p);
    if (peek(p) == ']') {
        p->pos++;
        goto done;
    }
    for (;;) {
        rc = array_item(p, depth, list, what);
        if (rc)
            goto out;
        skip_ws(p);
        if (peek(p) == ']') {
            p->pos++;
            break;
        }
        if (peek(p) != ',') {
            rc = jp_expect(p, "',' or ']' after array element");
            goto out;
        }
        p->pos++;
        skip_ws(p);
        what = "a value after ',' (no trailing commas)";
    }
done:
    *out = list;
    list = NULL;
out:
    jp_free(p, list);
    return rc;
}

/* Keeps one key offset per member, for duplicate reports; grows with the map. */
typedef struct members {
    agentauthz_value *map;
    size_t *offs;
} members;

/* members_reserve in an arena: grown copies, the old arrays left to the reset. */
static int members_reserve_in(jp *p, members *m, size_t cap, size_t at)
{
    agentauthz_value *map = m->map;
    size_t n = map->u.map.n;
    az_kv *items = az_arena_alloc(p->ar, cap * sizeof *items);
    size_t *offs = items ? az_arena_alloc(p->ar, cap * sizeof *offs) : NULL;
    if (!offs)
        return jp_nomem(p, at);
    if (n) {
        memcpy(items, map->u.map.items, n * sizeof *items);
        memcpy(offs, m->offs, n * sizeof *offs);
    }
    map->u.map.items = items;
    m->offs = offs;
    map->u.map.cap = cap;
    return 0;
}

static int members_reserve(jp *p, members *m, size_t at)
{
    agentauthz_value *map = m->map;
    size_t n = map->u.map.n, cap = map->u.map.cap;
    az_kv *items;
    size_t *offs;
    if (n < cap)
        return 0;
    cap = cap ? cap * 2 : 4;
    if (cap > AZ_MAX_ITEMS)
        cap = AZ_MAX_ITEMS;
    if (p->ar)
        return members_reserve_in(p, m, cap, at);
    items = realloc(map->u.map.items, cap * sizeof *items);
    if (!items)
        return jp_rc(p, AGENTAUTHZ_ENOMEM, at);
    map->u.map.items = items;
    offs = realloc(m->offs, cap * sizeof *offs);
    if (!offs)
        return jp_rc(p, AGENTAUTHZ_ENOMEM, at);
    m->offs = offs;
    map->u.map.cap = cap;
    return 0;
}

/* Adds key (klen bytes) and val to the map, which owns both from now on, also on failure. */
static int members_add(jp *p, members *m, char *key, size_t klen, agentauthz_value *val, size_t at)
{
    agentauthz_value *map = m->map;
    az_kv *kv;
    int rc = members_reserve(p, m, at);
    if (rc) {
        if (!p->ar)
            free(key);
        jp_free(p, val);
        return rc;
    }
    m->offs[map->u.map.n] = at;
    kv = &map->u.map.items[map->u.map.n++];
    kv->key = key;
    kv->klen = klen;
    kv->val = val;
    return 0;
}

/* A NUL-terminated copy of the decoded string in p->str. */
static char *copy_str(const jp *p)
{
    char *k;
    if (p->ar)
        return az_arena_dup(p->ar, p->str.p, p->str.len);
    k = malloc(p->str.len + 1);
    if (!k)
        return NULL;
    if (p->str.len)
        memcpy(k, p->str.p, p->str.len);
    k[p->str.len] = '\0';
    return k;
}

static int parse_member(jp *p, int depth, members *m, const char *what)
{
    agentauthz_value *val = NULL;
    char *key = NULL;
    size_t klen = 0, at = p->pos;
    int rc;
    if (peek(p) != '"')
        return jp_expect(p, what);
    if (m->map->u.map.n >= AZ_MAX_ITEMS)
        return jp_fail(p, AGENTAUTHZ_ELIMIT, at, "more than %d members in one object",
                       AZ_MAX_ITEMS);
    rc = parse_string(p);
    if (rc)
        return rc;
    /* The value's strings reuse p->str, so the key is copied out first. */
    klen = p->str.len;
    key = copy_str(p);
    if (!key)
        return jp_nomem(p, at);
    skip_ws(p);
    if (peek(p) != ':')
        rc = jp_expect(p, "':' after object member name");
    if (!rc) {
        p->pos++;
        skip_ws(p);
        rc = parse_value(p, depth, &val, "a value after ':'");
    }
    if (rc) {
        if (!p->ar)
            free(key);
        return rc;
    }
    return members_add(p, m, key, klen, val, at);
}

/* Reports the duplicate key at offset at: quoted, escaped and cut short if long. */
static int fail_duplicate(jp *p, const az_kv *kv, size_t at)
{
    az_buf q = {NULL, 0, 0, 0};
    size_t n = kv->klen;
    int rc;
    if (n > KEY_QUOTE_MAX) {
        n = KEY_QUOTE_MAX;
        /* Do not cut a UTF-8 sequence in half. */
        while (n > 0 && ((unsigned char)kv->key[n] & 0xC0) == 0x80)
            n--;
    }
    if (az_buf_json_string(&q, kv->key, n) != 0)
        rc = jp_fail(p, AGENTAUTHZ_EJSON, at, "duplicate key");
    else
        rc = jp_fail(p, AGENTAUTHZ_EJSON, at, "duplicate key %s%s", q.p,
                     n < kv->klen ? " (cut short)" : "");
    az_buf_free(&q);
    return rc;
}

static bool same_key(const az_kv *a, const az_kv *b)
{
    return a->klen == b->klen && (a->klen == 0 || memcmp(a->key, b->key, a->klen) == 0);
}

typedef struct keyref {
    const az_kv *kv;
    size_t off;
} keyref;

/* By key bytes, then by position, so a run of equal keys lists them in text order. */
static int keyref_cmp(const void *a, const void *b)
{
    const keyref *x = a, *y = b;
    size_t n = x->kv->klen < y->kv->klen ? x->kv->klen : y->kv->klen;
    int c = n ? memcmp(x->kv->key, y->kv->key, n) : 0;
    if (c)
        return c;
    if (x->kv->klen != y->kv->klen)
        return x->kv->klen < y->kv->klen ? -1 : 1;
    return (x->off > y->off) - (x->off < y->off);
}

/*
 * Large objects are checked by sorting, so that 65536 keys cost n log n and
 * not n^2. Either way the report names the duplicate that comes first in
 * the text.
 */
static int check_sorted(jp *p, const members *m)
{
    size_t n = m->map->u.map.n, best = SIZE_MAX;
    const az_kv *dup = NULL;
    keyref *r = malloc(n * sizeof *r);
    if (!r)
        return jp_rc(p, AGENTAUTHZ_ENOMEM, p->pos);
    for (size_t i = 0; i < n; i++) {
        r[i].kv = &m->map->u.map.items[i];
        r[i].off = m->offs[i];
    }
    qsort(r, n, sizeof *r, keyref_cmp);
    for (size_t i = 1; i < n; i++) {
        if (same_key(r[i - 1].kv, r[i].kv) && r[i].off < best) {
            best = r[i].off;
            dup = r[i].kv;
        }
    }
    free(r);
    return dup ? fail_duplicate(p, dup, best) : 0;
}

static int check_duplicates(jp *p, const members *m)
{
    const az_kv *items = m->map->u.map.items;
    size_t n = m->map->u.map.n;
    if (n > SMALL_OBJECT)
        return check_sorted(p, m);
    for (size_t j = 1; j < n; j++)
        for (size_t i = 0; i < j; i++)
            if (same_key(&items[i], &items[j]))
                return fail_duplicate(p, &items[j], m->offs[j]);
    return 0;
}

static int parse_members(jp *p, int depth, members *m)
{
    const char *what = "a member name (string) or '}'";
    for (;;) {
        int rc = parse_member(p, depth, m, what);
        if (rc)
            return rc;
        skip_ws(p);
        if (peek(p) == '}') {
            p->pos++;
            return check_duplicates(p, m);
        }
        if (peek(p) != ',')
            return jp_expect(p, "',' or '}' after object member");
        p->pos++;
        skip_ws(p);
        what = "a member name (string) after ',' (no trailing commas)";
    }
}

static int parse_object(jp *p, int depth, agentauthz_value **out)
{
    members m = {NULL, NULL};
    int rc = open_container(p, depth);
    if (rc)
        return rc;
    m.map = jp_value(p, AGENTAUTHZ_MAP);
    if (!m.map)
        return jp_nomem(p, p->pos);
    p->pos++;
    skip_ws(p);
    if (peek(p) == '}')
        p->pos++;
    else
        rc = parse_members(p, depth, &m);
    if (!rc) {
        *out = m.map;
        m.map = NULL;
    }
    if (!p->ar) {
        agentauthz_value_free(m.map);
        free(m.offs);
    }
    return rc;
}

/* One value at p->pos; depth is the nesting of the enclosing containers. */
static int parse_value(jp *p, int depth, agentauthz_value **out, const char *what)
{
    int c = peek(p);
    *out = NULL;
    if (c == '{')
        return parse_object(p, depth + 1, out);
    if (c == '[')
        return parse_array(p, depth + 1, out);
    if (c == '"')
        return parse_string_value(p, out);
    if (c == '-' || is_digit(c))
        return parse_number(p, out);
    if (c == 't' || c == 'f' || c == 'n')
        return parse_literal(p, out);
    return jp_expect(p, what);
}

/* Parses the whole text of p into *out; on failure *out stays NULL. */
static int parse_text(jp *p, agentauthz_value **out)
{
    agentauthz_value *v = NULL;
    int rc;
    *out = NULL;
    if (!p->s && p->len)
        return az_error_set(p->err, AGENTAUTHZ_EINVAL, p->path, 0, 0, 0, "NULL text");
    if (p->len > AZ_MAX_INPUT)
        return az_error_set(p->err, AGENTAUTHZ_ELIMIT, p->path, 0, 0, 0,
                            "JSON text longer than %u bytes", AZ_MAX_INPUT);
    if (!p->s)
        p->s = "";
    skip_ws(p);
    rc = parse_value(p, 0, &v, "a JSON value");
    skip_ws(p);
    if (!rc && p->pos < p->len)
        rc = jp_expect(p, "end of input after the JSON value");
    if (!rc) {
        *out = v;
        v = NULL;
    }
    jp_free(p, v);
    return rc;
}

int az_json_parse(const char *text, size_t len, const char *path, agentauthz_value **out,
                  agentauthz_error *err)
{
    jp p;
    int rc;
    if (!out)
        return az_error_set(err, AGENTAUTHZ_EINVAL, path, 0, 0, 0, "no output pointer");
    memset(&p, 0, sizeof p);
    p.s = text;
    p.len = len;
    p.path = path;
    p.err = err;
    rc = parse_text(&p, out);
    az_buf_free(&p.str);
    if (p.cloc)
        freelocale(p.cloc);
    return rc;
}

/* Scratch kept this large at most between parses; larger is wiped and freed. */
#define REUSE_STR_MAX 4096u

int az_json_parse_in(az_arena *ar, az_json_reuse *reuse, const char *text, size_t len,
                     agentauthz_value **out, agentauthz_error *err)
{
    jp p;
    int rc;
    memset(&p, 0, sizeof p);
    p.s = text;
    p.len = len;
    p.err = err;
    p.ar = ar;
    p.str = reuse->str;
    p.cloc = (locale_t)reuse->cloc;
    rc = parse_text(&p, out);
    /* The scratch held the text's strings, which may be secret. */
    if (p.str.p)
        sodium_memzero(p.str.p, p.str.cap);
    if (p.str.cap > REUSE_STR_MAX)
        az_buf_free(&p.str);
    reuse->str = p.str;
    reuse->cloc = (void *)p.cloc;
    return rc;
}

void az_json_reuse_free(az_json_reuse *reuse)
{
    if (reuse->str.p)
        sodium_memzero(reuse->str.p, reuse->str.cap);
    az_buf_free(&reuse->str);
    if (reuse->cloc)
        freelocale((locale_t)reuse->cloc);
    reuse->cloc = NULL;
}

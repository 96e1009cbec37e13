/*
 * JSON-like values: constructors, containers, accessors, deep copy,
 * equality, canonical hashing and compact JSON rendering.
 *
 * Values parsed from JSON are at most AZ_MAX_DEPTH deep, but a host can
 * build deeper ones through the API. Freeing therefore never recurses, and
 * the recursive walks (copy, equality, hashing, rendering) refuse values
 * nested deeper than AZ_MAX_DEPTH, so that no value can exhaust the stack.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "internal.h"

/* Maps up to this size are compared by linear lookups; larger ones are sorted first. */
#define SMALL_MAP 16

static bool is_container(const agentauthz_value *v)
{
    return v->type == AGENTAUTHZ_LIST || v->type == AGENTAUTHZ_MAP;
}

/* ------------------------------------------------------------------ */
/* Constructors                                                        */
/* ------------------------------------------------------------------ */

static agentauthz_value *value_new(agentauthz_type type)
{
    agentauthz_value *v = calloc(1, sizeof *v);
    if (v)
        v->type = type;
    return v;
}

agentauthz_value *agentauthz_value_null(void)
{
    return value_new(AGENTAUTHZ_NULL);
}

agentauthz_value *agentauthz_value_bool(int b)
{
    agentauthz_value *v = value_new(AGENTAUTHZ_BOOL);
    if (v)
        v->u.b = b != 0;
    return v;
}

agentauthz_value *agentauthz_value_number(double n)
{
    agentauthz_value *v;
    /* JSON cannot represent NaN or infinities, so they never enter a value. */
    if (!isfinite(n))
        return NULL;
    v = value_new(AGENTAUTHZ_NUMBER);
    if (v)
        v->u.num = n;
    return v;
}

agentauthz_value *agentauthz_value_stringn(const char *s, size_t len)
{
    agentauthz_value *v = NULL;
    char *p = NULL;
    if ((!s && len) || len == SIZE_MAX)
        return NULL;
    p = malloc(len + 1);
    if (!p)
        return NULL;
    if (len)
        memcpy(p, s, len);
    p[len] = '\0';
    v = value_new(AGENTAUTHZ_STRING);
    if (!v) {
        free(p);
        return NULL;
    }
    v->u.str.p = p;
    v->u.str.len = len;
    return v;
}

agentauthz_value *agentauthz_value_string(const char *s)
{
    return s ? agentauthz_value_stringn(s, strlen(s)) : NULL;
}

agentauthz_value *agentauthz_value_list(void)
{
    return value_new(AGENTAUTHZ_LIST);
}

agentauthz_value *agentauthz_value_map(void)
{
    return value_new(AGENTAUTHZ_MAP);
}

/* ------------------------------------------------------------------ */
/* Containers                                                          */
/* ------------------------------------------------------------------ */

/* The next capacity for an array holding n items, or 0 past the item bound. */
static size_t next_cap(size_t n, size_t cap)
{
    if (n < cap)
        return cap;
    if (n >= AZ_MAX_ITEMS)
        return 0;
    cap = cap ? cap * 2 : 4;
    return cap > AZ_MAX_ITEMS ? AZ_MAX_ITEMS : cap;
}

static int list_reserve(agentauthz_value *list)
{
    size_t cap = next_cap(list->u.list.n, list->u.list.cap);
    agentauthz_value **items;
    if (!cap)
        return AGENTAUTHZ_ELIMIT;
    if (cap == list->u.list.cap)
        return 0;
    items = realloc(list->u.list.items, cap * sizeof *items);
    if (!items)
        return AGENTAUTHZ_ENOMEM;
    list->u.list.items = items;
    list->u.list.cap = cap;
    return 0;
}

static int map_reserve(agentauthz_value *map)
{
    size_t cap = next_cap(map->u.map.n, map->u.map.cap);
    az_kv *items;
    if (!cap)
        return AGENTAUTHZ_ELIMIT;
    if (cap == map->u.map.cap)
        return 0;
    items = realloc(map->u.map.items, cap * sizeof *items);
    if (!items)
        return AGENTAUTHZ_ENOMEM;
    map->u.map.items = items;
    map->u.map.cap = cap;
    return 0;
}

/*
 * A container is refused as its own item: the failure path frees the item,
 * and freeing the container the caller still holds would be worse than a
 * leak. Deeper cycles cannot be detected cheaply and are the caller's bug.
 */
int agentauthz_value_list_append(agentauthz_value *list, agentauthz_value *item)
{
    int rc;
    if (!item)
        return AGENTAUTHZ_ENOMEM;
    if (list == item)
        return AGENTAUTHZ_EINVAL;
    if (!list || list->type != AGENTAUTHZ_LIST) {
        agentauthz_value_free(item);
        return AGENTAUTHZ_EINVAL;
    }
    rc = list_reserve(list);
    if (rc) {
        agentauthz_value_free(item);
        return rc;
    }
    list->u.list.items[list->u.list.n++] = item;
    return 0;
}

static az_kv *map_find(const agentauthz_value *map, const char *key, size_t klen)
{
    for (size_t i = 0; i < map->u.map.n; i++) {
        az_kv *kv = &map->u.map.items[i];
        if (kv->klen == klen && (klen == 0 || memcmp(kv->key, key, klen) == 0))
            return kv;
    }
    return NULL;
}

static int map_add(agentauthz_value *map, const char *key, size_t klen, agentauthz_value *item)
{
    az_kv *kv;
    char *k;
    int rc = map_reserve(map);
    if (rc)
        return rc;
    k = malloc(klen + 1);
    if (!k)
        return AGENTAUTHZ_ENOMEM;
    memcpy(k, key, klen + 1);
    kv = &map->u.map.items[map->u.map.n++];
    kv->key = k;
    kv->klen = klen;
    kv->val = item;
    return 0;
}

int agentauthz_value_map_set(agentauthz_value *map, const char *key, agentauthz_value *item)
{
    az_kv *kv;
    int rc;
    if (!item)
        return AGENTAUTHZ_ENOMEM;
    if (map == item)
        return AGENTAUTHZ_EINVAL;
    if (!map || map->type != AGENTAUTHZ_MAP || !key) {
        agentauthz_value_free(item);
        return AGENTAUTHZ_EINVAL;
    }
    kv = map_find(map, key, strlen(key));
    if (kv) {
        /* Replacing in place keeps the key's original position. */
        agentauthz_value_free(kv->val);
        kv->val = item;
        return 0;
    }
    rc = map_add(map, key, strlen(key), item);
    if (rc)
        agentauthz_value_free(item);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Freeing without recursion                                           */
/* ------------------------------------------------------------------ */

/* Frees a value's own storage; its children must be gone already. */
static void node_release(agentauthz_value *v)
{
    if (v->type == AGENTAUTHZ_STRING)
        free(v->u.str.p);
    else if (v->type == AGENTAUTHZ_LIST)
        free(v->u.list.items);
    else if (v->type == AGENTAUTHZ_MAP)
        free(v->u.map.items);
    free(v);
}

/* Detaches and returns the last child of a container, or NULL if there is none. */
static agentauthz_value *pop_child(agentauthz_value *v)
{
    az_kv *kv;
    if (v->type == AGENTAUTHZ_LIST && v->u.list.n)
        return v->u.list.items[--v->u.list.n];
    if (v->type != AGENTAUTHZ_MAP || !v->u.map.n)
        return NULL;
    kv = &v->u.map.items[--v->u.map.n];
    free(kv->key);
    kv->key = NULL;
    return kv->val;
}

/* The slot a child was just popped from: free, so it can hold a link. */
static agentauthz_value **link_slot(agentauthz_value *v)
{
    if (v->type == AGENTAUTHZ_LIST)
        return &v->u.list.items[v->u.list.n];
    return &v->u.map.items[v->u.map.n].val;
}

/*
 * Frees a tree of any depth with no recursion and no allocation: the
 * containers waiting for their remaining children form a stack linked
 * through the slot each one just vacated.
 */
void agentauthz_value_free(agentauthz_value *v)
{
    agentauthz_value *stack = NULL;
    while (v) {
        agentauthz_value *child = pop_child(v);
        if (child) {
            *link_slot(v) = stack;
            stack = v;
            v = child;
            continue;
        }
        node_release(v);
        v = stack;
        if (v)
            stack = *link_slot(v);
    }
}

void agentauthz_free(void *p)
{
    free(p);
}

/* ------------------------------------------------------------------ */
/* Deep copy                                                           */
/* ------------------------------------------------------------------ */

static agentauthz_value *copy_at(const agentauthz_value *v, int depth);

static agentauthz_value *copy_list(const agentauthz_value *v, int depth)
{
    agentauthz_value *c = agentauthz_value_list();
    size_t n = v->u.list.n;
    if (!c || !n)
        return c;
    c->u.list.items = malloc(n * sizeof *c->u.list.items);
    if (!c->u.list.items)
        goto fail;
    c->u.list.cap = n;
    for (size_t i = 0; i < n; i++) {
        agentauthz_value *item = copy_at(v->u.list.items[i], depth + 1);
        if (!item)
            goto fail;
        c->u.list.items[c->u.list.n++] = item;
    }
    return c;
fail:
    agentauthz_value_free(c);
    return NULL;
}

static agentauthz_value *copy_map(const agentauthz_value *v, int depth)
{
    agentauthz_value *c = agentauthz_value_map();
    size_t n = v->u.map.n;
    if (!c || !n)
        return c;
    c->u.map.items = malloc(n * sizeof *c->u.map.items);
    if (!c->u.map.items)
        goto fail;
    c->u.map.cap = n;
    for (size_t i = 0; i < n; i++) {
        const az_kv *kv = &v->u.map.items[i];
        agentauthz_value *item = copy_at(kv->val, depth + 1);
        if (!item)
            goto fail;
        /* map_add copies klen + 1 bytes, so keys with embedded NULs survive. */
        if (map_add(c, kv->key, kv->klen, item)) {
            agentauthz_value_free(item);
            goto fail;
        }
    }
    return c;
fail:
    agentauthz_value_free(c);
    return NULL;
}

static agentauthz_value *copy_at(const agentauthz_value *v, int depth)
{
    switch (v->type) {
    case AGENTAUTHZ_NULL:
        return agentauthz_value_null();
    case AGENTAUTHZ_BOOL:
        return agentauthz_value_bool(v->u.b);
    case AGENTAUTHZ_NUMBER:
        return agentauthz_value_number(v->u.num);
    case AGENTAUTHZ_STRING:
        return agentauthz_value_stringn(v->u.str.p, v->u.str.len);
    default:
        break;
    }
    if (depth > AZ_MAX_DEPTH)
        return NULL;
    if (v->type == AGENTAUTHZ_LIST)
        return copy_list(v, depth);
    if (v->type == AGENTAUTHZ_MAP)
        return copy_map(v, depth);
    return NULL;
}

agentauthz_value *agentauthz_value_copy(const agentauthz_value *v)
{
    return v ? copy_at(v, 1) : NULL;
}

/* ------------------------------------------------------------------ */
/* Accessors                                                           */
/* ------------------------------------------------------------------ */

agentauthz_type agentauthz_value_type(const agentauthz_value *v)
{
    return v ? v->type : AGENTAUTHZ_NULL;
}

int agentauthz_value_get_bool(const agentauthz_value *v)
{
    return v && v->type == AGENTAUTHZ_BOOL && v->u.b;
}

double agentauthz_value_get_number(const agentauthz_value *v)
{
    return v && v->type == AGENTAUTHZ_NUMBER ? v->u.num : 0.0;
}

const char *agentauthz_value_get_string(const agentauthz_value *v, size_t *len)
{
    bool ok = v && v->type == AGENTAUTHZ_STRING;
    if (len)
        *len = ok ? v->u.str.len : 0;
    return ok ? v->u.str.p : NULL;
}

size_t agentauthz_value_length(const agentauthz_value *v)
{
    if (v && v->type == AGENTAUTHZ_LIST)
        return v->u.list.n;
    if (v && v->type == AGENTAUTHZ_MAP)
        return v->u.map.n;
    return 0;
}

const agentauthz_value *agentauthz_value_list_get(const agentauthz_value *v, size_t i)
{
    if (!v || v->type != AGENTAUTHZ_LIST || i >= v->u.list.n)
        return NULL;
    return v->u.list.items[i];
}

const agentauthz_value *az_value_map_getn(const agentauthz_value *map, const char *key, size_t klen)
{
    const az_kv *kv;
    if (!map || map->type != AGENTAUTHZ_MAP || (!key && klen))
        return NULL;
    kv = map_find(map, key, klen);
    return kv ? kv->val : NULL;
}

const agentauthz_value *agentauthz_value_map_get(const agentauthz_value *v, const char *key)
{
    return key ? az_value_map_getn(v, key, strlen(key)) : NULL;
}

const char *agentauthz_value_map_key(const agentauthz_value *v, size_t i)
{
    if (!v || v->type != AGENTAUTHZ_MAP || i >= v->u.map.n)
        return NULL;
    return v->u.map.items[i].key;
}

const agentauthz_value *agentauthz_value_map_value(const agentauthz_value *v, size_t i)
{
    if (!v || v->type != AGENTAUTHZ_MAP || i >= v->u.map.n)
        return NULL;
    return v->u.map.items[i].val;
}

/* ------------------------------------------------------------------ */
/* Equality and hashing                                                */
/* ------------------------------------------------------------------ */

static int kv_cmp(const void *a, const void *b)
{
    const az_kv *x = *(const az_kv *const *)a;
    const az_kv *y = *(const az_kv *const *)b;
    size_t n = x->klen < y->klen ? x->klen : y->klen;
    int c = n ? memcmp(x->key, y->key, n) : 0;
    if (c)
        return c;
    return (x->klen > y->klen) - (x->klen < y->klen);
}

/* A scratch array of the map's entries sorted by key bytes, or NULL when out of memory. */
static const az_kv **sorted_entries(const agentauthz_value *map)
{
    size_t n = map->u.map.n;
    const az_kv **e = malloc((n ? n : 1) * sizeof *e);
    if (!e)
        return NULL;
    for (size_t i = 0; i < n; i++)
        e[i] = &map->u.map.items[i];
    qsort(e, n, sizeof *e, kv_cmp);
    return e;
}

static bool equal_at(const agentauthz_value *a, const agentauthz_value *b, int depth);

/* Small maps: one lookup per key. Keys are unique, so equal counts mean equal key sets. */
static bool map_equal_small(const agentauthz_value *a, const agentauthz_value *b, int depth)
{
    for (size_t i = 0; i < a->u.map.n; i++) {
        const az_kv *kv = &a->u.map.items[i];
        const agentauthz_value *w = az_value_map_getn(b, kv->key, kv->klen);
        if (!w || !equal_at(kv->val, w, depth + 1))
            return false;
    }
    return true;
}

/*
 * Large maps are compared in sorted order, so that a hostile map of 65536
 * keys costs n log n and not n^2. Out of memory answers "not equal", the
 * safe answer for approvals.
 */
static bool map_equal_sorted(const agentauthz_value *a, const agentauthz_value *b, int depth)
{
    const az_kv **x = sorted_entries(a);
    const az_kv **y = sorted_entries(b);
    bool eq = x && y;
    for (size_t i = 0; eq && i < a->u.map.n; i++)
        eq = kv_cmp(&x[i], &y[i]) == 0 && equal_at(x[i]->val, y[i]->val, depth + 1);
    free(x);
    free(y);
    return eq;
}

static bool equal_at(const agentauthz_value *a, const agentauthz_value *b, int depth)
{
    if (a->type != b->type)
        return false;
    if (is_container(a) && depth > AZ_MAX_DEPTH)
        return false;
    switch (a->type) {
    case AGENTAUTHZ_NULL:
        return true;
    case AGENTAUTHZ_BOOL:
        return a->u.b == b->u.b;
    case AGENTAUTHZ_NUMBER:
        return a->u.num == b->u.num;
    case AGENTAUTHZ_STRING:
        return a->u.str.len == b->u.str.len &&
               (a->u.str.len == 0 || memcmp(a->u.str.p, b->u.str.p, a->u.str.len) == 0);
    case AGENTAUTHZ_LIST:
        if (a->u.list.n != b->u.list.n)
            return false;
        for (size_t i = 0; i < a->u.list.n; i++)
            if (!equal_at(a->u.list.items[i], b->u.list.items[i], depth + 1))
                return false;
        return true;
    case AGENTAUTHZ_MAP:
        if (a->u.map.n != b->u.map.n)
            return false;
        if (a->u.map.n <= SMALL_MAP)
            return map_equal_small(a, b, depth);
        return map_equal_sorted(a, b, depth);
    }
    return false;
}

bool az_value_equal(const agentauthz_value *a, const agentauthz_value *b)
{
    if (!a || !b)
        return a == b;
    return equal_at(a, b, 1);
}

static int hash_bytes(crypto_generichash_state *st, const void *p, size_t n)
{
    if (crypto_generichash_update(st, p, n) != 0)
        return AGENTAUTHZ_ECRYPTO;
    return 0;
}

/* Sizes and numbers go in as 8 little-endian bytes, the same on every host. */
static int hash_u64(crypto_generichash_state *st, uint64_t x)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(x >> (8 * i));
    return hash_bytes(st, b, sizeof b);
}

static int hash_at(const agentauthz_value *v, crypto_generichash_state *st, int depth);

static int hash_string(crypto_generichash_state *st, const char *s, size_t len)
{
    int rc = hash_u64(st, (uint64_t)len);
    return rc ? rc : hash_bytes(st, s, len);
}

static int hash_number(crypto_generichash_state *st, double d)
{
    uint64_t bits = 0;
    /* -0.0 equals 0.0, so both hash as +0.0, whose bits are all zero. */
    if (d != 0.0)
        memcpy(&bits, &d, sizeof bits);
    return hash_u64(st, bits);
}

static int hash_list(const agentauthz_value *v, crypto_generichash_state *st, int depth)
{
    int rc = hash_u64(st, (uint64_t)v->u.list.n);
    for (size_t i = 0; !rc && i < v->u.list.n; i++)
        rc = hash_at(v->u.list.items[i], st, depth + 1);
    return rc;
}

static int hash_map(const agentauthz_value *v, crypto_generichash_state *st, int depth)
{
    const az_kv **e = sorted_entries(v);
    int rc;
    if (!e)
        return AGENTAUTHZ_ENOMEM;
    rc = hash_u64(st, (uint64_t)v->u.map.n);
    for (size_t i = 0; !rc && i < v->u.map.n; i++) {
        rc = hash_string(st, e[i]->key, e[i]->klen);
        if (!rc)
            rc = hash_at(e[i]->val, st, depth + 1);
    }
    free(e);
    return rc;
}

static int hash_at(const agentauthz_value *v, crypto_generichash_state *st, int depth)
{
    unsigned char tag = (unsigned char)v->type;
    int rc;
    if (is_container(v) && depth > AZ_MAX_DEPTH)
        return AGENTAUTHZ_ELIMIT;
    rc = hash_bytes(st, &tag, 1);
    if (rc)
        return rc;
    switch (v->type) {
    case AGENTAUTHZ_NULL:
        return 0;
    case AGENTAUTHZ_BOOL:
        tag = v->u.b ? 1 : 0;
        return hash_bytes(st, &tag, 1);
    case AGENTAUTHZ_NUMBER:
        return hash_number(st, v->u.num);
    case AGENTAUTHZ_STRING:
        return hash_string(st, v->u.str.p, v->u.str.len);
    case AGENTAUTHZ_LIST:
        return hash_list(v, st, depth);
    case AGENTAUTHZ_MAP:
        return hash_map(v, st, depth);
    }
    return AGENTAUTHZ_EINVAL;
}

int az_value_hash(const agentauthz_value *v, struct crypto_generichash_blake2b_state *st)
{
    if (!v || !st)
        return AGENTAUTHZ_EINVAL;
    return hash_at(v, st, 1);
}

/* ------------------------------------------------------------------ */
/* Rendering                                                           */
/* ------------------------------------------------------------------ */

/*
 * printf's decimal point follows the host's LC_NUMERIC. Rather than switch
 * locales (not reentrant), the digits are kept and whatever the locale put
 * between them is replaced by '.'.
 */
static int write_double(az_buf *b, double d)
{
    char tmp[64], out[64];
    size_t o = 0;
    int n = snprintf(tmp, sizeof tmp, "%.17g", d);
    if (n < 0 || (size_t)n >= sizeof tmp)
        return AGENTAUTHZ_EINVAL;
    for (int i = 0; i < n; i++) {
        char c = tmp[i];
        bool keep = (c >= '0' && c <= '9') || c == '-' || c == '+' || c == 'e';
        if (keep)
            out[o++] = c;
        else if (o == 0 || out[o - 1] != '.')
            out[o++] = '.';
    }
    return az_buf_append(b, out, o);
}

static int write_number(az_buf *b, double d)
{
    if (!isfinite(d))
        return AGENTAUTHZ_EINVAL;
    if (d == trunc(d) && fabs(d) < AZ_EXACT_INT_LIMIT)
        return az_buf_printf(b, "%lld", (long long)d);
    return write_double(b, d);
}

/* The text write_number gives, into a caller's buffer: provenance compares numbers by it. */
size_t az_number_text(double d, char *buf, size_t cap)
{
    char small[64];
    az_buf b = {small, 0, sizeof small, sizeof small - 1};
    size_t n;
    small[0] = '\0';
    if (cap == 0 || write_number(&b, d) != 0 || b.p != small || b.len >= cap)
        return 0;
    n = b.len;
    memcpy(buf, small, n);
    buf[n] = '\0';
    return n;
}

/*
 * Strings made through the API may hold invalid UTF-8. Each bad byte is
 * rendered as U+FFFD so that the output is always valid JSON.
 */
static int write_string(az_buf *b, const char *s, size_t len)
{
    az_buf clean = {NULL, 0, 0, 0};
    size_t i = 0;
    int rc = 0;
    if (az_utf8_check(s, len) == len)
        return az_buf_json_string(b, s, len);
    while (!rc && i < len) {
        size_t ok = az_utf8_check(s + i, len - i);
        rc = az_buf_append(&clean, s + i, ok);
        i += ok;
        if (!rc && i < len) {
            rc = az_buf_append(&clean, "\xEF\xBF\xBD", 3);
            i++;
        }
    }
    if (!rc)
        rc = az_buf_json_string(b, clean.p, clean.len);
    az_buf_free(&clean);
    return rc;
}

static int write_at(az_buf *b, const agentauthz_value *v, int depth);

static int write_list(az_buf *b, const agentauthz_value *v, int depth)
{
    int rc = az_buf_putc(b, '[');
    for (size_t i = 0; !rc && i < v->u.list.n; i++) {
        if (i)
            rc = az_buf_putc(b, ',');
        if (!rc)
            rc = write_at(b, v->u.list.items[i], depth + 1);
    }
    return rc ? rc : az_buf_putc(b, ']');
}

static int write_map(az_buf *b, const agentauthz_value *v, int depth)
{
    int rc = az_buf_putc(b, '{');
    for (size_t i = 0; !rc && i < v->u.map.n; i++) {
        const az_kv *kv = &v->u.map.items[i];
        if (i)
            rc = az_buf_putc(b, ',');
        if (!rc)
            rc = write_string(b, kv->key, kv->klen);
        if (!rc)
            rc = az_buf_putc(b, ':');
        if (!rc)
            rc = write_at(b, kv->val, depth + 1);
    }
    return rc ? rc : az_buf_putc(b, '}');
}

static int write_at(az_buf *b, const agentauthz_value *v, int depth)
{
    if (is_container(v) && depth > AZ_MAX_DEPTH)
        return AGENTAUTHZ_ELIMIT;
    switch (v->type) {
    case AGENTAUTHZ_NULL:
        return az_buf_append(b, "null", 4);
    case AGENTAUTHZ_BOOL:
        return v->u.b ? az_buf_append(b, "true", 4) : az_buf_append(b, "false", 5);
    case AGENTAUTHZ_NUMBER:
        return write_number(b, v->u.num);
    case AGENTAUTHZ_STRING:
        return write_string(b, v->u.str.p, v->u.str.len);
    case AGENTAUTHZ_LIST:
        return write_list(b, v, depth);
    case AGENTAUTHZ_MAP:
        return write_map(b, v, depth);
    }
    return AGENTAUTHZ_EINVAL;
}

int az_value_write_json(az_buf *b, const agentauthz_value *v)
{
    if (!b || !v)
        return AGENTAUTHZ_EINVAL;
    return write_at(b, v, 1);
}

int agentauthz_value_to_json(const agentauthz_value *v, char **out, size_t *len)
{
    az_buf b = {NULL, 0, 0, 0};
    int rc;
    if (out)
        *out = NULL;
    if (len)
        *len = 0;
    if (!v || !out)
        return AGENTAUTHZ_EINVAL;
    rc = write_at(&b, v, 1);
    if (rc) {
        az_buf_free(&b);
        return rc;
    }
    *out = b.p;
    if (len)
        *len = b.len;
    return 0;
}

int agentauthz_value_parse_json(const char *text, size_t len, agentauthz_value **out,
                                agentauthz_error *err)
{
    return az_json_parse(text, len, NULL, out, err);
}

/* ------------------------------------------------------------------ */
/* Values in an arena (an action's storage, kept across resets)        */
/* ------------------------------------------------------------------ */

/*
 * These build the same trees as the constructors above, but every node,
 * string and array lives in the arena: nothing is freed one by one (the
 * reset takes it all back), and a failure leaves garbage the reset clears.
 */

agentauthz_value *az_value_new_in(az_arena *ar, agentauthz_type type)
{
    agentauthz_value *v = az_arena_alloc(ar, sizeof *v);
    if (v) {
        memset(v, 0, sizeof *v);
        v->type = type;
    }
    return v;
}

/* The node and its bytes in one allocation: one bump instead of two. */
agentauthz_value *az_value_stringn_in(az_arena *ar, const char *s, size_t len)
{
    agentauthz_value *v;
    char *p;
    if (len > SIZE_MAX - sizeof *v - 1) {
        ar->err = AGENTAUTHZ_ELIMIT;
        return NULL;
    }
    if (!(v = az_arena_alloc(ar, sizeof *v + len + 1)))
        return NULL;
    p = (char *)(v + 1);
    if (len)
        memcpy(p, s, len);
    p[len] = '\0';
    memset(v, 0, sizeof *v);
    v->type = AGENTAUTHZ_STRING;
    v->u.str.p = p;
    v->u.str.len = len;
    return v;
}

agentauthz_value *az_value_number_in(az_arena *ar, double n)
{
    agentauthz_value *v;
    if (!isfinite(n))
        return NULL;
    if ((v = az_value_new_in(ar, AGENTAUTHZ_NUMBER)) != NULL)
        v->u.num = n;
    return v;
}

agentauthz_value *az_value_bool_in(az_arena *ar, bool b)
{
    agentauthz_value *v = az_value_new_in(ar, AGENTAUTHZ_BOOL);
    if (v)
        v->u.b = b;
    return v;
}

/* Makes room for one more of the n items of size sz at *items: a grown copy in the arena. */
static int grow_in(az_arena *ar, void **items, size_t n, size_t *cap, size_t sz)
{
    size_t c = next_cap(n, *cap);
    void *p;
    if (!c)
        return AGENTAUTHZ_ELIMIT;
    if (c == *cap)
        return 0;
    if (!(p = az_arena_alloc(ar, c * sz)))
        return az_arena_error(ar);
    if (n)
        memcpy(p, *items, n * sz);
    *items = p;
    *cap = c;
    return 0;
}

int az_value_list_push_in(az_arena *ar, agentauthz_value *list, agentauthz_value *item)
{
    void *items = list->u.list.items;
    int rc = grow_in(ar, &items, list->u.list.n, &list->u.list.cap, sizeof(agentauthz_value *));
    if (rc)
        return rc;
    list->u.list.items = items;
    list->u.list.items[list->u.list.n++] = item;
    return 0;
}

/* Appends key (klen bytes, not copied) and item, without looking for the key. */
int az_value_map_append_in(az_arena *ar, agentauthz_value *map, char *key, size_t klen,
                           agentauthz_value *item)
{
    void *items = map->u.map.items;
    az_kv *kv;
    int rc = grow_in(ar, &items, map->u.map.n, &map->u.map.cap, sizeof(az_kv));
    if (rc)
        return rc;
    map->u.map.items = items;
    kv = &map->u.map.items[map->u.map.n++];
    kv->key = key;
    kv->klen = klen;
    kv->val = item;
    return 0;
}

int az_value_map_put_in(az_arena *ar, agentauthz_value *map, const char *key, size_t klen,
                        agentauthz_value *item)
{
    az_kv *kv = map_find(map, key, klen);
    char *k;
    if (kv) {
        /* Replacing in place keeps the key's original position. */
        kv->val = item;
        return 0;
    }
    if (!(k = az_arena_dup(ar, key, klen)))
        return az_arena_error(ar);
    return az_value_map_append_in(ar, map, k, klen, item);
}

static agentauthz_value *copy_in_at(az_arena *ar, const agentauthz_value *v, int depth);

static agentauthz_value *copy_list_in(az_arena *ar, const agentauthz_value *v, int depth)
{
    agentauthz_value *c = az_value_new_in(ar, AGENTAUTHZ_LIST);
    size_t n = v->u.list.n;
    if (!c || !n)
        return c;
    if (!(c->u.list.items = az_arena_alloc(ar, n * sizeof *c->u.list.items)))
        return NULL;
    c->u.list.cap = n;
    for (; c->u.list.n < n; c->u.list.n++)
        if (!(c->u.list.items[c->u.list.n] = copy_in_at(ar, v->u.list.items[c->u.list.n], depth + 1)))
            return NULL;
    return c;
}

static agentauthz_value *copy_map_in(az_arena *ar, const agentauthz_value *v, int depth)
{
    agentauthz_value *c = az_value_new_in(ar, AGENTAUTHZ_MAP);
    size_t n = v->u.map.n;
    if (!c || !n)
        return c;
    if (!(c->u.map.items = az_arena_alloc(ar, n * sizeof *c->u.map.items)))
        return NULL;
    c->u.map.cap = n;
    for (; c->u.map.n < n; c->u.map.n++) {
        const az_kv *from = &v->u.map.items[c->u.map.n];
        az_kv *to = &c->u.map.items[c->u.map.n];
        to->klen = from->klen;
        if (!(to->key = az_arena_dup(ar, from->key, from->klen)) ||
            !(to->val = copy_in_at(ar, from->val, depth + 1)))
            return NULL;
    }
    return c;
}

static agentauthz_value *copy_in_at(az_arena *ar, const agentauthz_value *v, int depth)
{
    switch (v->type) {
    case AGENTAUTHZ_NULL: return az_value_new_in(ar, AGENTAUTHZ_NULL);
    case AGENTAUTHZ_BOOL: return az_value_bool_in(ar, v->u.b);
    case AGENTAUTHZ_NUMBER: return az_value_number_in(ar, v->u.num);
    case AGENTAUTHZ_STRING: return az_value_stringn_in(ar, v->u.str.p, v->u.str.len);
    default: break;
    }
    if (depth > AZ_MAX_DEPTH) {
        ar->err = AGENTAUTHZ_ELIMIT;
        return NULL;
    }
    if (v->type == AGENTAUTHZ_LIST)
        return copy_list_in(ar, v, depth);
    if (v->type == AGENTAUTHZ_MAP)
        return copy_map_in(ar, v, depth);
    ar->err = AGENTAUTHZ_EINVAL;
    return NULL;
}

agentauthz_value *az_value_copy_in(az_arena *ar, const agentauthz_value *v)
{
    return copy_in_at(ar, v, 1);
}

/*
 * libFuzzer harness for the link scanner (lib/extract.c). The input is the
 * text. It scans it for every kind and checks:
 *  - every slice lies inside the text (and is not empty), and a host
 *    inside the last URL or address reported before it;
 *  - URLs, addresses and IBAN-like tokens come in text order, and URLs
 *    do not overlap;
 *  - the kinds are independent: a scan for one kind reports exactly the
 *    items of that kind that the full scan reported;
 *  - max_items: a scan stopped at half the items reports that prefix and
 *    returns AGENTAUTHZ_ELIMIT;
 *  - the number of items is bounded by the length of the text;
 *  - the items are exactly those of the reference scanner
 *    (tests/extract_ref.c, the scanner before its fast skip), in order.
 * Any broken property aborts.
 *
 * Build: tests/fuzz/build-libfuzzer.sh (build/fuzz/fuzz_extract).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "extract.h"
#include "../extract_ref.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_LOG 4096

typedef struct item {
    az_extract_kind kind;
    size_t off, len;
} item;

typedef struct log {
    const char *t;
    size_t n;
    item it[MAX_LOG];
    size_t count;
    size_t url_off, url_len;     /* the last URL */
    size_t mail_off, mail_len;   /* the last address */
    size_t last_start[16];       /* by kind: the start of the last item */
    bool full;                   /* every kind scanned: hosts have their URL or address */
} log_t;

static bool inside(size_t off, size_t len, size_t o, size_t l)
{
    return l > 0 && off >= o && off + len <= o + l;
}

static void check_item(log_t *l, az_extract_kind kind, size_t off, size_t len)
{
    if (kind == AZ_X_HOST) {
        if (l->full && !inside(off, len, l->url_off, l->url_len) &&
            !inside(off, len, l->mail_off, l->mail_len))
            abort();
        return;
    }
    if (off < l->last_start[kind])
        abort();
    l->last_start[kind] = off;
    if (kind == AZ_X_URL) {
        if (off < l->url_off + l->url_len)
            abort();
        l->url_off = off;
        l->url_len = len;
    } else if (kind == AZ_X_EMAIL) {
        l->mail_off = off;
        l->mail_len = len;
    }
}

static int record(void *ctx, az_extract_kind kind, const char *s, size_t len)
{
    log_t *l = ctx;
    size_t off;
    if (s < l->t || (size_t)(s - l->t) > l->n || len > l->n - (size_t)(s - l->t))
        abort();
    if (len == 0)
        abort();
    off = (size_t)(s - l->t);
    check_item(l, kind, off, len);
    if (l->count < MAX_LOG)
        l->it[l->count] = (item){kind, off, len};
    l->count++;
    return 0;
}

static log_t *scan_with(int (*fn)(const char *, size_t, unsigned, size_t, az_extract_fn, void *),
                        const char *t, size_t n, unsigned mask, size_t max, int *rc)
{
    log_t *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->t = t;
    l->n = n;
    l->full = (mask & 5u) == 5u;
    *rc = fn(t, n, mask, max, record, l);
    return l;
}

static log_t *scan(const char *t, size_t n, unsigned mask, size_t max, int *rc)
{
    return scan_with(az_extract, t, n, mask, max, rc);
}

/* The same items as the reference scanner, and the same count past MAX_LOG. */
static void same_as_ref(const log_t *all, const char *t, size_t n)
{
    int rc;
    log_t *ref = scan_with(az_extract_ref, t, n, AZ_X_URL | AZ_X_HOST | AZ_X_EMAIL | AZ_X_IBAN,
                           SIZE_MAX, &rc);
    if (!ref)
        return;
    if (rc != 0 || ref->count != all->count ||
        memcmp(ref->it, all->it, (all->count < MAX_LOG ? all->count : MAX_LOG) * sizeof(item)))
        abort();
    free(ref);
}

/* The items of all that are of kind k equal one's. */
static void same_kind(const log_t *all, const log_t *one, az_extract_kind k)
{
    size_t i, j = 0;
    for (i = 0; i < all->count && i < MAX_LOG; i++) {
        if (all->it[i].kind != k)
            continue;
        if (j >= one->count || memcmp(&all->it[i], &one->it[j], sizeof(item)) != 0)
            abort();
        j++;
    }
    if (all->count <= MAX_LOG && j != one->count)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *t = (const char *)data;
    const unsigned kinds[] = {AZ_X_URL, AZ_X_HOST, AZ_X_EMAIL, AZ_X_IBAN};
    unsigned all_mask = AZ_X_URL | AZ_X_HOST | AZ_X_EMAIL | AZ_X_IBAN;
    log_t *all, *one;
    int rc;
    size_t k;
    all = scan(t, size, all_mask, SIZE_MAX, &rc);
    if (!all)
        return 0;
    if (rc != 0 || all->count > 3 * size + 1)
        abort();
    same_as_ref(all, t, size);
    for (k = 0; k < sizeof kinds / sizeof *kinds; k++) {
        one = scan(t, size, kinds[k], SIZE_MAX, &rc);
        if (!one)
            break;
        if (rc != 0)
            abort();
        same_kind(all, one, (az_extract_kind)kinds[k]);
        free(one);
    }
    if (all->count > 0 && all->count <= MAX_LOG) {
        size_t half = all->count / 2;
        one = scan(t, size, all_mask, half, &rc);
        if (one) {
            if (rc != AGENTAUTHZ_ELIMIT || one->count != half ||
                memcmp(one->it, all->it, half * sizeof(item)) != 0)
                abort();
            free(one);
        }
    }
    free(all);
    return 0;
}

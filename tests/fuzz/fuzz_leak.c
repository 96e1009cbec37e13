/*
 * Fuzz harness for the leak scanner, checked against a naive reference.
 *
 * Input: one control byte c; then 1 + (c & 3) secrets, each a length byte
 * (8 + b % 33 bytes) followed by its bytes; the rest is the data. When
 * c & 4, one encoding of one secret (chosen by the upper bits of c) is
 * spliced into the middle of the data, so that hits are common.
 *
 * The reference compares as the matcher does (hex and percent digits
 * without case) and searches the data and its normalised view
 * (az_leak_normalise); scrub is compared byte for byte when the view is
 * the data.
 *
 * For each input: az_leak_scan must report a hit exactly when a naive
 * memmem-style search over every pattern finds one, and the hit must be a
 * real occurrence; az_leak_scrub must equal a naive scrub (every occurrence
 * found by brute force, merged by the same rules); and the scrubbed output,
 * rescanned, must hold no secret (unless a pattern could be rebuilt from
 * marker text, which random secrets never are). Any failure aborts.
 *
 * Build for libFuzzer with -DAZ_LIBFUZZER:
 *   clang -g -DAZ_LIBFUZZER -fsanitize=fuzzer,address,undefined -Iinclude -Ilib \
 *         lib/leak.c lib/buf.c lib/error.c tests/fuzz/fuzz_leak.c \
 *         $(pkg-config --cflags --libs libsodium) -o fuzz_leak
 * Without AZ_LIBFUZZER a main() replays the files named on the command line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "internal.h"
#include "leak_private.h"

#define MAX_SECRETS 4
#define MAX_LEN 40
#define MAX_DATA (64u * 1024u)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct pattern {
    const unsigned char *p;
    size_t len;
    size_t secret;
    az_leak_kind kind;
} pattern;

typedef struct occ {
    size_t start, len, pat;
} occ;

typedef struct fuzz_case {
    az_leak_secret s[MAX_SECRETS];
    char names[MAX_SECRETS][24];
    unsigned char enc[MAX_SECRETS][23 * MAX_LEN + 6];
    pattern pats[MAX_SECRETS * AZ_LEAK_MAX_ENC];
    size_t nsec, npats;
    unsigned char *data;
    size_t len;
    unsigned char *view; /* az_leak_normalise of data */
    size_t vlen;
    int changed; /* the view differs from data */
} fuzz_case;

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_leak: %s\n", what);
    abort();
}

/* Reads the secrets; returns the number of bytes consumed, or 0 if too short. */
static size_t read_secrets(fuzz_case *fc, const uint8_t *d, size_t size)
{
    size_t pos = 1, n = 1 + (d[0] & 3u);
    for (size_t i = 0; i < n; i++) {
        size_t len;
        if (pos >= size)
            return 0;
        len = 8 + d[pos++] % 33u;
        if (size - pos < len)
            return 0;
        snprintf(fc->names[i], sizeof fc->names[i], "s%zu", i);
        fc->s[i] = (az_leak_secret){
            .id = (uint32_t)(7 * i), .name = fc->names[i], .bytes = d + pos, .len = len};
        pos += len;
    }
    fc->nsec = n;
    return pos;
}

/* Lists every pattern of every secret, in the set's own order. */
static void list_patterns(fuzz_case *fc)
{
    for (size_t i = 0; i < fc->nsec; i++) {
        az_leak_enc enc[AZ_LEAK_MAX_ENC];
        size_t n = 0, used = 0;
        if (az_leak_encodings(fc->s[i].bytes, fc->s[i].len, fc->enc[i], sizeof fc->enc[i], enc, &n,
                              &used) != 0)
            fail("encodings refused a valid secret");
        for (size_t k = 0; k < n; k++)
            fc->pats[fc->npats++] = (pattern){fc->enc[i] + enc[k].off, enc[k].len, i, enc[k].kind};
    }
}

/* The data, with one pattern spliced into its middle when the control byte asks. */
static int make_data(fuzz_case *fc, uint8_t c, const uint8_t *d, size_t size)
{
    const pattern *p = &fc->pats[(c >> 3) % fc->npats];
    size_t half = size / 2, extra = (c & 4) ? p->len : 0;
    fc->data = malloc(size + extra + 1);
    if (!fc->data)
        return -1;
    memcpy(fc->data, d, half);
    if (extra)
        memcpy(fc->data + half, p->p, extra);
    memcpy(fc->data + half + extra, d + half, size - half);
    fc->len = size + extra;
    return 0;
}

static int occ_cmp(const void *a, const void *b)
{
    const occ *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    if (x->len != y->len)
        return x->len > y->len ? -1 : 1;
    return (x->pat > y->pat) - (x->pat < y->pat);
}

/* ASCII letters folded to lowercase. */
static unsigned char fold(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

/*
 * Whether buf holds p, as the matcher compares: raw and base64 exactly;
 * hex without case; percent with the two digits after each '%' without case.
 */
static int pat_at(const pattern *p, const unsigned char *buf)
{
    int hex = p->kind == AZ_LEAK_HEX_LOWER || p->kind == AZ_LEAK_HEX_UPPER ||
              p->kind == AZ_LEAK_HEX_COLON || p->kind == AZ_LEAK_HEX_SPACE;
    int pct = p->kind == AZ_LEAK_PERCENT || p->kind == AZ_LEAK_PERCENT_LOWER ||
              p->kind == AZ_LEAK_PERCENT_ALL;
    for (size_t i = 0; i < p->len; i++) {
        int f = hex || (pct && ((i >= 1 && p->p[i - 1] == '%') || (i >= 2 && p->p[i - 2] == '%')));
        if ((f ? fold(buf[i]) : buf[i]) != (f ? fold(p->p[i]) : p->p[i]))
            return 0;
    }
    return 1;
}

/* Every occurrence of every pattern in buf, by brute force, sorted. */
static occ *naive_find(const fuzz_case *fc, const unsigned char *buf, size_t len, size_t *n)
{
    size_t cap = 16, k = 0;
    occ *o = malloc(cap * sizeof *o);
    if (!o)
        fail("out of memory");
    for (size_t pi = 0; pi < fc->npats; pi++)
        for (size_t j = 0; fc->pats[pi].len <= len && j <= len - fc->pats[pi].len; j++) {
            if (!pat_at(&fc->pats[pi], buf + j))
                continue;
            if (k == cap) {
                occ *grown = realloc(o, (cap *= 2) * sizeof *o);
                if (!grown)
                    fail("out of memory");
                o = grown;
            }
            o[k++] = (occ){j, fc->pats[pi].len, pi};
        }
    qsort(o, k, sizeof *o, occ_cmp);
    *n = k;
    return o;
}

/* The reference scrub: the documented merge rules over the brute-force occurrences. */
static void naive_scrub(const fuzz_case *fc, const occ *o, size_t n, az_buf *out)
{
    size_t emitted = 0, i = 0;
    while (i < n) {
        size_t start = o[i].start, end = o[i].start + o[i].len;
        const char *name = fc->names[fc->pats[o[i].pat].secret];
        for (i++; i < n && o[i].start < end; i++)
            if (o[i].start + o[i].len > end)
                end = o[i].start + o[i].len;
        if (az_buf_append(out, fc->data + emitted, start - emitted) ||
            az_buf_printf(out, "[redacted:%s]", name))
            fail("reference scrub failed");
        emitted = end;
    }
    if (az_buf_append(out, fc->data + emitted, fc->len - emitted))
        fail("reference scrub failed");
}

/* Whether some pattern could be rebuilt from marker text after a scrub. */
static int marker_ambiguous(const fuzz_case *fc)
{
    for (size_t pi = 0; pi < fc->npats; pi++) {
        const pattern *p = &fc->pats[pi];
        if (memchr(p->p, '[', p->len) || memchr(p->p, ']', p->len))
            return 1;
        for (size_t i = 0; i < fc->nsec; i++) {
            char m[48];
            int ml = snprintf(m, sizeof m, "[redacted:%s]", fc->names[i]);
            for (size_t j = 0; p->len <= (size_t)ml && j <= (size_t)ml - p->len; j++)
                if (memcmp(m + j, p->p, p->len) == 0)
                    return 1;
        }
    }
    return 0;
}

/* nocc: occurrences in the data and in its view (the scan looks in both). */
static void check_scan(const fuzz_case *fc, const az_leak_set *set, size_t nocc)
{
    az_leak_hit hit;
    int rc = az_leak_scan(set, fc->data, fc->len, &hit);
    if (rc != (nocc > 0))
        fail("scan disagrees with the naive search");
    if (rc == 1 && hit.decoded) {
        if (hit.offset > fc->len || hit.len > fc->len - hit.offset || !fc->changed)
            fail("decoded hit lies outside the data");
        return;
    }
    if (rc == 1) {
        size_t i = hit.id / 7;
        if (hit.id % 7 || i >= fc->nsec || strcmp(hit.name, fc->names[i]) != 0 ||
            hit.offset > fc->len || hit.len > fc->len - hit.offset)
            fail("hit names no secret or lies outside the data");
        for (size_t pi = 0; pi < fc->npats; pi++)
            if (fc->pats[pi].secret == i && fc->pats[pi].kind == hit.kind &&
                fc->pats[pi].len == hit.len && pat_at(&fc->pats[pi], fc->data + hit.offset))
                return;
        fail("hit is not an occurrence of the secret");
    }
}

static void check_scrub(const fuzz_case *fc, const az_leak_set *set, const occ *o, size_t n)
{
    az_buf got = {0}, want = {0};
    got.max = want.max = 64u * MAX_DATA;
    if (az_leak_scrub(set, fc->data, fc->len, &got) != 0)
        fail("scrub failed");
    naive_scrub(fc, o, n, &want);
    /* With a view, matches found in it add markers the reference does not model. */
    if (!fc->changed && (got.len != want.len || memcmp(got.p, want.p, got.len) != 0))
        fail("scrub differs from the reference");
    if (!marker_ambiguous(fc) && az_leak_scan(set, got.p, got.len, NULL) != 0)
        fail("scrubbed output still holds a secret");
    az_buf_free(&got);
    az_buf_free(&want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_case *fc;
    az_leak_set *set = NULL;
    size_t pos, nocc = 0;
    if (size < 1 || size > MAX_DATA || !(fc = malloc(sizeof *fc)))
        return 0;
    memset(fc, 0, sizeof *fc);
    pos = read_secrets(fc, data, size);
    if (pos == 0 || az_leak_set_build(fc->s, fc->nsec, &set) != 0) {
        free(fc);
        return 0;
    }
    list_patterns(fc);
    if (make_data(fc, data[0], data + pos, size - pos) == 0 &&
        (fc->view = malloc(fc->len + 1)) != NULL) {
        occ *o = naive_find(fc, fc->data, fc->len, &nocc), *vo;
        size_t nvocc = 0;
        fc->changed = az_leak_normalise(fc->data, fc->len, fc->view, &fc->vlen);
        if (fc->changed < 0)
            fail("normalise failed");
        vo = naive_find(fc, fc->view, fc->vlen, &nvocc);
        check_scan(fc, set, nocc + nvocc);
        check_scrub(fc, set, o, nocc);
        free(o);
        free(vo);
    }
    free(fc->view);
    free(fc->data);
    free(fc);
    az_leak_set_free(set);
    return 0;
}

#ifndef AZ_LIBFUZZER
static int replay(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = malloc(MAX_DATA + 1);
    size_t n;
    if (!f || !buf) {
        fprintf(stderr, "%s: cannot read\n", path);
        free(buf);
        if (f)
            fclose(f);
        return 1;
    }
    n = fread(buf, 1, MAX_DATA + 1, f);
    fclose(f);
    LLVMFuzzerTestOneInput(buf, n);
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    int rc = 0;
    for (int i = 1; i < argc; i++)
        rc |= replay(argv[i]);
    return rc;
}
#endif

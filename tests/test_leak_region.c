/*
 * The leak scanner walks the normalised view only around the bytes where it
 * differs from the input (regions, lib/leak.c). This suite checks it
 * against the reference that writes and walks the whole view
 * (az_leak_scan_whole, az_leak_scrub_whole): on random inputs full of
 * escapes, line breaks and planted secrets in every encoding (some split
 * by line breaks, some long enough to span the scan's chunks), scan must
 * give the same answer and scrub the same bytes, for plain sets and for the
 * engine's chained sets with dead entries.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "internal.h"
#include "leak_private.h"

#define NSEC 6

typedef struct tbuf {
    unsigned char *p;
    size_t len, cap;
} tbuf;

static void tb_put(tbuf *b, const void *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        ck_assert_ptr_nonnull(b->p);
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void tb_str(tbuf *b, const char *s)
{
    tb_put(b, s, strlen(s));
}

static unsigned rnd(unsigned n)
{
    return randombytes_uniform(n);
}

/* Noise rich in the bytes that start or stop a rule. */
static void tb_noise(tbuf *b, size_t n)
{
    static const char alpha[] = "%%%\\\\\\\n\n\r  \t25uxX0aF/\"\\nABCz+-_=:";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = rnd(3) ? (unsigned char)alpha[rnd(sizeof alpha - 1)]
                                 : (unsigned char)rnd(256);
        tb_put(b, &c, 1);
    }
}

/* A line break of some kind, with spaces around it sometimes. */
static void tb_break(tbuf *b)
{
    static const char *const eol[] = {"\n", "\r\n", "\\n", "\\r\\n", " \n  ", "\t\r\n\t", "\n\n"};
    tb_str(b, eol[rnd(sizeof eol / sizeof *eol)]);
}

static void tb_hex(tbuf *b, const unsigned char *s, size_t len, int sep, bool brk)
{
    static const char lo[] = "0123456789abcdef", up[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        char h[2] = {(rnd(2) ? lo : up)[s[i] >> 4], (rnd(2) ? lo : up)[s[i] & 15]};
        if (i && sep)
            tb_put(b, sep == 1 ? ":" : " ", 1);
        if (brk && rnd((unsigned)len) == 0)
            tb_break(b);
        tb_put(b, h, 2);
    }
}

static void tb_escaped(tbuf *b, const unsigned char *s, size_t len, int how)
{
    static const char d[] = "0123456789abcdef";
    char e[16];
    for (size_t i = 0; i < len; i++) {
        switch (how) {
        case 0: snprintf(e, sizeof e, "\\x%02x", s[i]); break;
        case 1: snprintf(e, sizeof e, "\\u00%02X", s[i]); break;
        case 2: snprintf(e, sizeof e, "%%%c%c", d[s[i] >> 4], d[s[i] & 15]); break;
        case 3: snprintf(e, sizeof e, "%%25%02X", s[i]); break;
        case 4: snprintf(e, sizeof e, "%%2525%02x", s[i]); break;
        default:
            /* JSON string escapes where they apply, the byte otherwise. */
            if (s[i] != '"' && s[i] != '\\' && s[i] != '/') {
                tb_put(b, s + i, 1);
                continue;
            }
            snprintf(e, sizeof e, "\\%c", s[i]);
        }
        tb_str(b, e);
    }
}

static void tb_b64(tbuf *b, const unsigned char *s, size_t len, bool url, size_t width)
{
    size_t pre = rnd(3), n;
    unsigned char in[128];
    char out[256];
    randombytes_buf(in, pre);
    memcpy(in + pre, s, len);
    sodium_bin2base64(out, sizeof out, in, pre + len,
                      url ? sodium_base64_VARIANT_URLSAFE : sodium_base64_VARIANT_ORIGINAL);
    n = strlen(out);
    for (size_t i = 0; i < n; i += width) {
        if (i)
            tb_break(b);
        tb_put(b, out + i, n - i < width ? n - i : width);
    }
}

/* One planted occurrence of s, in a random encoding, sometimes broken by a line break. */
static void tb_plant(tbuf *b, const unsigned char *s, size_t len)
{
    size_t cut;
    switch (rnd(10)) {
    case 0: tb_put(b, s, len); break;
    case 1:
        cut = 1 + rnd((unsigned)len - 1);
        tb_put(b, s, cut);
        tb_break(b);
        tb_put(b, s + cut, len - cut);
        break;
    case 2: tb_hex(b, s, len, (int)rnd(3), rnd(2)); break;
    case 3: tb_escaped(b, s, len, (int)rnd(6)); break;
    case 4: tb_b64(b, s, len, rnd(2), 4 + rnd(40)); break;
    case 5: tb_b64(b, s, len, false, 76); break;
    case 6: {
        /* A part of it only. */
        size_t a = rnd((unsigned)len / 2), n = len - a - rnd((unsigned)(len - a) / 2);
        tb_put(b, s + a, n);
        break;
    }
    case 7: tb_escaped(b, s, len, 1); break;
    default: tb_hex(b, s, len, 0, true); break;
    }
}

typedef struct secrets {
    az_leak_secret s[NSEC];
    unsigned char bytes[NSEC][40];
    char names[NSEC][8];
    size_t n;
} secrets;

/* Binary, text-like (base64 alphabet) or JSON-ish secrets of 8 to 40 bytes. */
static void secrets_make(secrets *sc, size_t n)
{
    static const char text[] = "ABCDEFabcdef0123456789+/-_\"\\%.~ \n";
    sc->n = n;
    for (size_t i = 0; i < n; i++) {
        size_t len = 8 + rnd(33);
        unsigned kind = rnd(3);
        for (size_t k = 0; k < len; k++)
            sc->bytes[i][k] = kind == 0 ? (unsigned char)rnd(256)
                                        : (unsigned char)text[rnd(kind == 1 ? 26 : sizeof text - 1)];
        snprintf(sc->names[i], sizeof sc->names[i], "s%zu", i);
        sc->s[i] = (az_leak_secret){.id = (uint32_t)i, .name = sc->names[i], .bytes = sc->bytes[i],
                                    .len = len};
    }
}

/* An input: noise with secrets planted (or not), long ones across scan chunks. */
static void input_make(tbuf *b, const secrets *sc, bool lng)
{
    size_t pieces = lng ? 40 + rnd(40) : 1 + rnd(6);
    b->len = 0;
    for (size_t k = 0; k < pieces; k++) {
        tb_noise(b, lng ? 1000 + rnd(8000) : rnd(200));
        if (sc->n && rnd(3) == 0) {
            const az_leak_secret *s = &sc->s[rnd((unsigned)sc->n)];
            tb_plant(b, s->bytes, s->len);
        }
    }
}

static void compare(const az_leak_set *set, const tbuf *in)
{
    az_leak_hit h1, h2;
    az_buf o1 = {0}, o2 = {0};
    int r1 = az_leak_scan(set, in->p, in->len, &h1);
    int r2 = az_leak_scan_whole(set, in->p, in->len, &h2);
    ck_assert_int_eq(r1, r2);
    ck_assert_int_eq(az_leak_scan(set, in->p, in->len, NULL), r2);
    ck_assert_int_eq(az_leak_scrub(set, in->p, in->len, &o1), 0);
    ck_assert_int_eq(az_leak_scrub_whole(set, in->p, in->len, &o2), 0);
    ck_assert_uint_eq(o1.len, o2.len);
    ck_assert(memcmp(o1.p, o2.p, o1.len) == 0);
    az_buf_free(&o1);
    az_buf_free(&o2);
}

START_TEST(test_regions_match_whole_view_plain_sets)
{
    tbuf in = {0};
    for (int round = 0; round < 300; round++) {
        secrets sc;
        az_leak_set *set = NULL;
        secrets_make(&sc, 1 + rnd(NSEC));
        ck_assert_int_eq(az_leak_set_build(sc.s, sc.n, &set), 0);
        for (int k = 0; k < 20; k++) {
            input_make(&in, &sc, k == 0 && round % 10 == 0);
            compare(set, &in);
        }
        az_leak_set_free(set);
    }
    free(in.p);
}
END_TEST

/* The engine's chain: a base set and a recent one, some entries dead. */
START_TEST(test_regions_match_whole_view_chains)
{
    tbuf in = {0};
    for (int round = 0; round < 60; round++) {
        az_leak_index *idx = NULL;
        secrets sc[3];
        az_leak_entry *en[3][NSEC];
        ck_assert_int_eq(az_leak_index_new(&idx), 0);
        for (int a = 0; a < 3; a++) {
            secrets_make(&sc[a], 1 + rnd(NSEC));
            ck_assert_int_eq(az_leak_index_add(idx, sc[a].s, sc[a].n, en[a]), 0);
        }
        if (rnd(2))
            az_leak_index_kill(idx, en[rnd(3)][0]);
        for (int k = 0; k < 20; k++) {
            input_make(&in, &sc[rnd(3)], k == 0 && round % 5 == 0);
            compare(az_leak_index_head(idx), &in);
        }
        az_leak_index_free(idx);
    }
    free(in.p);
}
END_TEST

/* Inputs made of rule bytes only: every byte a token or next to one. */
START_TEST(test_regions_dense_escapes)
{
    tbuf in = {0};
    for (int round = 0; round < 200; round++) {
        secrets sc;
        az_leak_set *set = NULL;
        secrets_make(&sc, 1 + rnd(3));
        ck_assert_int_eq(az_leak_set_build(sc.s, sc.n, &set), 0);
        in.len = 0;
        for (size_t k = 0; k < 30; k++) {
            const az_leak_secret *s = &sc.s[rnd((unsigned)sc.n)];
            if (rnd(2))
                tb_escaped(&in, s->bytes, s->len, (int)rnd(5));
            else
                tb_break(&in);
        }
        compare(set, &in);
        az_leak_set_free(set);
    }
    free(in.p);
}
END_TEST

static Suite *region_suite(void)
{
    Suite *s = suite_create("leak_region");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_regions_match_whole_view_plain_sets);
    tcase_add_test(tc, test_regions_match_whole_view_chains);
    tcase_add_test(tc, test_regions_dense_escapes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr;
    int failed;
    if (sodium_init() < 0)
        return EXIT_FAILURE;
    sr = srunner_create(region_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

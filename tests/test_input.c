/*
 * Tests of lib/input.c: path normalisation (against a reference written
 * the obvious way: split at '/', a stack of segments), its refusals and
 * bounds, URLs, and SPIFFE ID validation.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define CAP AZ_MAX_PATH

/*
 * The reference for a value that is no URL: NULL and the normalised text in
 * out (ref_len bytes), or "refused". every: the value is path-like whatever
 * it holds (an argument), else only with a '/' or '\\' in it.
 */
static const char *reference(const char *s, size_t len, bool every, char *out, size_t *olen)
{
    const char *seg[256];
    size_t seglen[256], nseg = 0, o = 0, i = 0;
    bool absolute = len > 0 && s[0] == '/';
    if (len == 0 || (!every && !memchr(s, '/', len) && !memchr(s, '\\', len))) {
        memcpy(out, s, len);
        *olen = len;
        return NULL;
    }
    if (memchr(s, '\0', len) || memchr(s, '\\', len))
        return "refused";
    while (i <= len) {
        size_t j = i;
        while (j < len && s[j] != '/')
            j++;
        if (j - i == 2 && s[i] == '.' && s[i + 1] == '.') {
            if (nseg == 0)
                return "refused";
            nseg--;
        } else if (j > i && !(j - i == 1 && s[i] == '.')) {
            seg[nseg] = s + i;
            seglen[nseg++] = j - i;
        }
        i = j + 1;
    }
    if (absolute)
        out[o++] = '/';
    for (size_t k = 0; k < nseg; k++) {
        if (k > 0)
            out[o++] = '/';
        memcpy(out + o, seg[k], seglen[k]);
        o += seglen[k];
    }
    if (!absolute && nseg == 0)
        out[o++] = '.';
    *olen = o;
    return NULL;
}

static void expect_same(const char *s, size_t len, bool every)
{
    char want[512], buf[CAP + 1];
    const char *out = NULL, *why, *rwhy;
    size_t wlen = 0, olen = 0;
    rwhy = reference(s, len, every, want, &wlen);
    why = every ? az_path_normalize_arg(s, len, buf, CAP, &out, &olen)
                : az_path_normalize_resource(s, len, buf, CAP, &out, &olen);
    ck_assert_msg((why == NULL) == (rwhy == NULL), "\"%.*s\" (%s): %s, expected %s", (int)len,
                  s, every ? "argument" : "resource", why ? why : "accepted",
                  rwhy ? "refused" : "accepted");
    if (why)
        return;
    ck_assert_msg(olen == wlen && memcmp(out, want, wlen) == 0,
                  "\"%.*s\" (%s) -> \"%.*s\", expected \"%.*s\"", (int)len, s,
                  every ? "argument" : "resource", (int)olen, out, (int)wlen, want);
    /* unchanged values are not copied */
    if (olen == len && memcmp(out, s, len) == 0 && !(len == 1 && s[0] == '.'))
        ck_assert_ptr_eq(out, s);
}

/* Every string of up to 6 bytes over the bytes that matter (a non-URL alphabet). */
START_TEST(test_exhaustive_short)
{
    static const char alphabet[] = {'/', '.', 'a', '\\', '\0', 'b'};
    const size_t k = sizeof alphabet;
    char s[8];
    for (size_t len = 0; len <= 6; len++) {
        size_t total = 1;
        for (size_t i = 0; i < len; i++)
            total *= k;
        for (size_t n = 0; n < total; n++) {
            size_t x = n;
            for (size_t i = 0; i < len; i++, x /= k)
                s[i] = alphabet[x % k];
            expect_same(s, len, false);
            expect_same(s, len, true);
        }
    }
}
END_TEST

/*
 * Longer random values, mostly ordinary path bytes with a few dots and
 * slashes, so that the word-at-a-time scan sees suspects at every offset.
 * A fixed seed: the same values on every run.
 */
START_TEST(test_random_long)
{
    static const char alphabet[] = "/./..//abcdefghij._-/";
    unsigned long long state = 0x9e3779b97f4a7c15ull;
    char s[80];
    for (int n = 0; n < 200000; n++) {
        size_t len;
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        len = (size_t)(state >> 33) % sizeof s;
        for (size_t i = 0; i < len; i++) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            s[i] = alphabet[(state >> 33) % (sizeof alphabet - 1)];
        }
        if (len && (state >> 20) % 7 == 0)
            s[(state >> 40) % len] = (state >> 30) % 2 ? '\\' : '\0';
        expect_same(s, len, false);
        expect_same(s, len, true);
    }
}
END_TEST

/* One suspect byte at every offset of an otherwise normal long path. */
START_TEST(test_suspect_at_every_offset)
{
    static const char *const inserts[] = {"/", ".", "\\", "./", "../"};
    char s[64];
    for (size_t k = 0; k < sizeof inserts / sizeof inserts[0]; k++)
        for (size_t at = 0; at < 40; at++) {
            size_t n = strlen(inserts[k]), len = 0;
            memcpy(s, "/aaaa/bbbb/cccc/dddd/eeee/ffff/gggg/hhhh/", 41);
            len = 41;
            memmove(s + at + n, s + at, len - at);
            memcpy(s + at, inserts[k], n);
            len += n;
            expect_same(s, len, false);
            expect_same(s, len - 1, false); /* without the trailing '/' */
        }
}
END_TEST

typedef struct url_case {
    const char *in;
    const char *out; /* NULL: refused */
} url_case;

static const url_case url_cases[] = {
    {"https://h", "https://h"},
    {"https://h/", "https://h/"},
    {"https://h//", "https://h/"},
    {"https://h/a/./b/../c/", "https://h/a/c"},
    {"https://h/a/%2e/b/%2E%2e/c", "https://h/a/c"},
    {"https://h/a/.%2e/b", "https://h/b"},
    {"https://h/a/%2e%2e%2e/b", "https://h/a/%2e%2e%2e/b"},
    {"https://h/..", NULL},
    {"https://h/a/%2e%2e/%2e%2e", NULL},
    {"https://h/a?x=/../..#/../", "https://h/a?x=/../..#/../"},
    {"https://h/a/../b?x=/../..", "https://h/b?x=/../.."},
    {"https://h/a#/../b", "https://h/a#/../b"},
    {"https://h?/../x", "https://h?/../x"},
    {"https://h/a%2Fb", "https://h/a%2Fb"},
    {"https://h/a/..%2Fb", NULL},
    {"https://h/a/%2f../b", NULL},
    {"https://h/a/%2e%2e%2f", NULL},
    {"https://h/a%2F%2e/b", NULL},
    {"https://h/a/x%2f.y", "https://h/a/x%2f.y"},
    {"https://h/a\\b", NULL},
    {"https://h/a%5cb", NULL},
    {"https://h/a%00b", NULL},
    {"https://h/a?q=a\\b", "https://h/a?q=a\\b"},
    {"file:///etc/../kb/x", "file:///kb/x"},
    {"file:///kb/x?/../../y", "file:///y"},
    {"File://host/kb/../../x", NULL},
    {"s3://bucket/a/./b", "s3://bucket/a/b"},
    {"x-y+z.1://h/a/../b", "x-y+z.1://h/b"},
    {"1x://h/a/../b", "1x:/h/b"},
    {"vault:support/../admin", "admin"},
    {"support.orders", "support.orders"},
    {"..", ".."},
    {"C:\\x", NULL},
};

START_TEST(test_url_case)
{
    const url_case *c = &url_cases[_i];
    char buf[CAP + 1];
    const char *out = NULL, *why;
    size_t olen = 0;
    why = az_path_normalize_resource(c->in, strlen(c->in), buf, CAP, &out, &olen);
    if (!c->out) {
        ck_assert_msg(why != NULL, "%s: accepted as \"%.*s\"", c->in, (int)olen, out);
        return;
    }
    ck_assert_msg(why == NULL, "%s: %s", c->in, why ? why : "");
    ck_assert_msg(olen == strlen(c->out) && memcmp(out, c->out, olen) == 0,
                  "%s -> \"%.*s\", expected \"%s\"", c->in, (int)olen, out, c->out);
}
END_TEST

/* The output bound: exactly cap bytes fit; one more is refused, whatever part overflows. */
START_TEST(test_bounds)
{
    static char s[CAP + 64], buf[CAP + 1];
    const char *out = NULL, *why;
    size_t olen = 0;
    memset(s, 'a', sizeof s);
    s[0] = '/';
    s[CAP] = '/'; /* CAP + 1 bytes with a trailing '/': CAP once normalised */
    why = az_path_normalize_resource(s, CAP + 1, buf, CAP, &out, &olen);
    ck_assert_msg(why == NULL, "%s", why);
    ck_assert_uint_eq(olen, CAP);
    ck_assert_ptr_eq(out, buf);
    s[CAP] = 'a';
    s[CAP + 1] = '/'; /* CAP + 1 once normalised */
    why = az_path_normalize_resource(s, CAP + 2, buf, CAP, &out, &olen);
    ck_assert_ptr_nonnull(why);
    ck_assert_ptr_nonnull(strstr(why, "4096"));
    ck_assert_ptr_eq(out, s);
    ck_assert_uint_eq(olen, CAP + 2);
    /* a URL's query counts too */
    memcpy(s, "https://h/a//b?", 15);
    why = az_path_normalize_resource(s, CAP + 2, buf, CAP, &out, &olen);
    ck_assert_ptr_nonnull(why);
    /* already normal: no bound, no copy */
    memcpy(s, "https://h/a/bb?", 15);
    s[CAP + 1] = 'a';
    why = az_path_normalize_resource(s, sizeof s, buf, CAP, &out, &olen);
    ck_assert_ptr_null(why);
    ck_assert_ptr_eq(out, s);
}
END_TEST

START_TEST(test_spiffe)
{
    static const char *const good[] = {
        "spiffe://corp.example", "spiffe://corp.example/a", "spiffe://c-1_x.y/A.b-c_d/e",
        "not-spiffe://x/", "spiffe:/x/", "agent/../x/", "",
    };
    static const char *const bad[] = {
        "spiffe://corp.example/", "spiffe://corp.example//a", "spiffe://corp.example/a/",
        "spiffe://corp.example/.", "spiffe://corp.example/a/..", "spiffe://corp.example/a?b",
        "spiffe://corp.example/a#b", "spiffe://corp.example/a%2e", "spiffe://Corp.example/a",
        "spiffe://corp.example:1/a", "spiffe://u@corp.example/a", "spiffe://", "spiffe:///a",
        "Spiffe://corp.example/a", "spiffe://corp.example/a b", "spiffe://corp.example/\x7f",
    };
    char why[200];
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        ck_assert_msg(az_spiffe_check(good[i], why, sizeof why) == 0, "%s: %s", good[i], why);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why[0] = '\0';
        ck_assert_msg(az_spiffe_check(bad[i], why, sizeof why) == -1, "%s accepted", bad[i]);
        ck_assert_msg(why[0] != '\0', "%s: no reason", bad[i]);
    }
}
END_TEST

static Suite *input_suite(void)
{
    Suite *s = suite_create("input");
    TCase *tc = tcase_create("paths");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_exhaustive_short);
    tcase_add_test(tc, test_random_long);
    tcase_add_test(tc, test_suspect_at_every_offset);
    tcase_add_loop_test(tc, test_url_case, 0, (int)(sizeof url_cases / sizeof url_cases[0]));
    tcase_add_test(tc, test_bounds);
    suite_add_tcase(s, tc);
    tc = tcase_create("spiffe");
    tcase_add_test(tc, test_spiffe);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(input_suite());
    int failed;
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

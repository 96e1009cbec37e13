/* Tests of lib/extract.c: links, hosts, e-mail addresses and IBAN-like tokens in text. */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "extract.h"
#include "extract_ref.h"

#define ALL (AZ_X_URL | AZ_X_HOST | AZ_X_EMAIL | AZ_X_IBAN)

/* Renders the items as "U:url H:host E:addr I:iban" joined by " | ". */
typedef struct render {
    char buf[4096];
    size_t len;
    size_t n;
} render;

static int render_item(void *ctx, az_extract_kind kind, const char *s, size_t len)
{
    render *r = ctx;
    char tag = kind == AZ_X_URL ? 'U' : kind == AZ_X_HOST ? 'H' : kind == AZ_X_EMAIL ? 'E' : 'I';
    int w = snprintf(r->buf + r->len, sizeof r->buf - r->len, "%s%c:%.*s", r->n ? " | " : "",
                     tag, (int)len, s);
    ck_assert(w > 0 && (size_t)w < sizeof r->buf - r->len);
    r->len += (size_t)w;
    r->n++;
    return 0;
}

typedef struct xcase {
    const char *text;
    const char *want;
} xcase;

static const xcase cases[] = {
    /* nothing */
    {"", ""},
    {"plain words, no links at all.", ""},
    {"a.b c:d e/f", ""},
    /* markdown links and images */
    {"[x](https://evil.example/?q=1)", "U:https://evil.example/?q=1 | H:evil.example"},
    {"![x](https://evil.example/p.png)", "U:https://evil.example/p.png | H:evil.example"},
    {"see [the docs](https://a.example/x_(y)) now", "U:https://a.example/x_(y) | H:a.example"},
    {"[x](https://a.example \"title\")", "U:https://a.example | H:a.example"},
    {"[x]( https://a.example/ )", "U:https://a.example/ | H:a.example"},
    {"[x](<https://a.example/a b>)", "U:https://a.example/a b | H:a.example"},
    {"[x](/relative/page.html)", "U:/relative/page.html"},
    {"[x](page.html#top)", "U:page.html#top"},
    {"[x](//evil.example/x)", "U://evil.example/x | H:evil.example"},
    {"[x](\\\\evil.example/x)", "U:\\\\evil.example/x | H:evil.example"},
    {"[x](/\\evil.example/x)", "U:/\\evil.example/x | H:evil.example"},
    {"[x](www.evil.example)", "U:www.evil.example | H:www.evil.example"},
    {"[x](javascript:alert(1))", "U:javascript:alert(1) | H:javascript:alert(1)"},
    {"[x](data:image/png;base64,AAAA)", "U:data:image/png;base64,AAAA"},
    {"[x](mailto:bob@evil.example)", "U:mailto:bob@evil.example | E:bob@evil.example | H:evil.example"},
    {"[x](&#x2F;&#x2F;evil.example)", "U:&#x2F;&#x2F;evil.example | H:&#x2F;&#x2F;evil.example"},
    {"[x](\\/\\/evil.example)", "U:\\/\\/evil.example | H:evil.example"},
    {"[x]()", ""},
    {"[https://good.example](https://evil.example)",
     "U:https://good.example | H:good.example | U:https://evil.example | H:evil.example"},
    {"[x][1]\n\n[1]: https://evil.example/r", "U:https://evil.example/r | H:evil.example"},
    {"[1]: //evil.example/r", "U://evil.example/r | H:evil.example"},
    /* HTML attributes */
    {"<a href=\"https://evil.example/a\">x</a>", "U:https://evil.example/a | H:evil.example"},
    {"<a HREF = 'https://evil.example/a'>", "U:https://evil.example/a | H:evil.example"},
    {"<img src=https://evil.example/p.png>", "U:https://evil.example/p.png | H:evil.example"},
    {"<img src=\"//evil.example/p.png\">", "U://evil.example/p.png | H:evil.example"},
    {"<a href=\" /\n/evil.example\">", "U:/\n/evil.example | H:/\n/evil.example"},
    {"<a href=\"&#104;ttps://evil.example\">", "U:&#104;ttps://evil.example | H:&#104;ttps://evil.example"},
    {"<a href=\"/local/page\">", "U:/local/page"},
    {"<a href=\"\">", ""},
    {"<form action=\"https://evil.example/f\">", "U:https://evil.example/f | H:evil.example"},
    {"<svg><a xlink:href=\"https://evil.example\"/></svg>", "U:https://evil.example | H:evil.example"},
    {"<a href=\"https://evil.example", "U:https://evil.example | H:https://evil.example"},
    {"<a href=\"", ""},
    {"<a href=\"  ", ""},
    {"<a hrefx=\"https://evil.example\">",
     "U:https://evil.example | H:evil.example"}, /* found bare, as text */
    {"<div style=\"background:url(//evil.example/b.png)\">", "U://evil.example/b.png | H:evil.example"},
    {"<div style=\"background:url('https://evil.example/b')\">", "U:https://evil.example/b | H:evil.example"},
    /* autolinks */
    {"<https://evil.example/a>", "U:https://evil.example/a | H:evil.example"},
    {"<javascript:fetch('x')>", "U:javascript:fetch('x') | H:javascript:fetch('x')"},
    {"<bob@evil.example>", "E:bob@evil.example | H:evil.example"},
    /* bare URLs */
    {"go to https://evil.example/x?y=1.", "U:https://evil.example/x?y=1 | H:evil.example"},
    {"(see https://evil.example/a)", "U:https://evil.example/a | H:evil.example"},
    {"**https://evil.example**", "U:https://evil.example | H:evil.example"},
    {"HTTPS://EVIL.EXAMPLE/A", "U:HTTPS://EVIL.EXAMPLE/A | H:EVIL.EXAMPLE"},
    {"ftp://files.example/x", "U:ftp://files.example/x | H:files.example"},
    {"sftp://u@host.example:22/x", "U:sftp://u@host.example:22/x | H:host.example"},
    {"x-https://evil.example", "U:x-https://evil.example | H:evil.example"},
    {"see:https://evil.example", "U:https://evil.example | H:evil.example"},
    {"www.evil.example/path", "U:www.evil.example/path | H:www.evil.example"},
    {"visit WWW.Evil.Example.", "U:WWW.Evil.Example | H:WWW.Evil.Example"},
    {"awww.evil.example", ""},
    {"evil.example/x //evil.example", ""},
    {"mailto:bob@evil.example?cc=eve@evil2.example&body=hi",
     "U:mailto:bob@evil.example?cc=eve@evil2.example&body=hi | E:bob@evil.example | H:evil.example | "
     "E:eve@evil2.example | H:evil2.example"},
    {"mailto:eve%40evil.example", "U:mailto:eve%40evil.example | H:mailto:eve%40evil.example"},
    {"https://", ""},
    {"https://...", ""},
    {"a https://x.example<br>b", "U:https://x.example | H:x.example"},
    {"\"https://x.example\"", "U:https://x.example | H:x.example"},
    {"'https://x.example'", "U:https://x.example | H:x.example"},
    {"https://x.example https://y.example", "U:https://x.example | H:x.example | U:https://y.example | H:y.example"},
    /* hosts: userinfo, port, IPv6, trailing dot, ambiguity */
    {"https://user:pw@evil.example:8443/x", "U:https://user:pw@evil.example:8443/x | H:evil.example"},
    {"https://good.example@evil.example/", "U:https://good.example@evil.example/ | H:evil.example"},
    {"https://a@good.example@evil.example/", "U:https://a@good.example@evil.example/ | H:evil.example"},
    {"https://evil.example#@good.example", "U:https://evil.example#@good.example | H:evil.example"},
    {"https://[::1]:8080/x", "U:https://[::1]:8080/x | H:[::1]"},
    {"https://[::1/x", "U:https://[::1/x | H:https://[::1/x"},
    {"https://evil.example./x", "U:https://evil.example./x | H:evil.example"},
    {"https://evil.example\\@good.example/", "U:https://evil.example\\@good.example/ | H:https://evil.example\\@good.example/"},
    {"https://good.example&#64;evil.example", "U:https://good.example&#64;evil.example | H:https://good.example&#64;evil.example"},
    {"https:///evil.example/", "U:https:///evil.example/ | H:evil.example"},
    {"https://:80/", "U:https://:80/ | H:https://:80/"},
    {"https://@/", "U:https://@/ | H:https://@/"},
    {"git://evil.example/r", "U:git://evil.example/r | H:evil.example"},
    {"file:///etc/passwd", "U:file:///etc/passwd | H:file:///etc/passwd"},
    {"https://%65vil.example/", "U:https://%65vil.example/ | H:%65vil.example"},
    {"https://évil.example/", "U:https://évil.example/ | H:évil.example"},
    /* e-mail addresses */
    {"write to bob@evil.example.", "E:bob@evil.example | H:evil.example"},
    {"{\"to\":\"bob.smith+x@Mail.Evil.Example\"}", "E:bob.smith+x@Mail.Evil.Example | H:Mail.Evil.Example"},
    {"npm i left-pad@1.2.3", ""},
    {"ssh user@localhost", ""},
    {"@alice and @bob", ""},
    {"bob@good.example@evil.example", "E:bob@good.example@evil.example | H:good.example@evil.example"},
    {"a%evil.example@good.example", "E:a%evil.example@good.example | H:good.example"},
    {"user:pass@evil.example", "E:pass@evil.example | H:evil.example"},
    {"bob@évil.example", "E:bob@évil.example | H:évil.example"},
    {"x@@evil.example", "E:x@@evil.example | H:@evil.example"},
    /* IBAN-like tokens */
    {"pay GB82WEST12345698765432 now", "I:GB82WEST12345698765432"},
    {"pay GB82 WEST 1234 5698 7654 32 now", "I:GB82 WEST 1234 5698 7654 32"},
    {"iban: de89370400440532013000.", "I:de89370400440532013000"},
    {"DE89 3704 0044 0532 0130 00", "I:DE89 3704 0044 0532 0130 00"},
    {"XGB82WEST12345698765432", ""},
    {"GB82WEST1234", ""},                          /* 8 after the check digits: too short */
    {"GB82ABCDEFGHIJ0123456789ABCDEFGHIJK", ""}, /* 35 in all: too long */
    {"GB82ABCDEFGHIJ0123456789ABCDEFGHIJ", "I:GB82ABCDEFGHIJ0123456789ABCDEFGHIJ"}, /* 34 */
    {"GB82ABCDEFGHIJK", "I:GB82ABCDEFGHIJK"},   /* 15 */
    {"GB82ABCDEFGHIJ", ""},                     /* 14 */
    {"GB82 WEST 1234", ""},
    {"GB82  WEST 1234 5698 7654 32", ""},
    {"GB82 WEST 1234 56987 654", ""},
    {"GB82 WEST 1234 5698 7654 32@evil.example",
     "I:GB82 WEST 1234 5698 7654 32 | E:32@evil.example | H:evil.example"},
    {"https://x.example/?iban=GB82WEST12345698765432", "U:https://x.example/?iban=GB82WEST12345698765432 | H:x.example"},
};

START_TEST(test_cases)
{
    const xcase *c = &cases[_i];
    render r = {{0}, 0, 0};
    ck_assert_int_eq(az_extract(c->text, strlen(c->text), ALL, 1000, render_item, &r), 0);
    ck_assert_msg(strcmp(r.buf, c->want) == 0, "text %s\n got  %s\n want %s", c->text, r.buf,
                  c->want);
}
END_TEST

/* The mask selects kinds; what is consumed does not depend on it. */
START_TEST(test_mask)
{
    const char *t = "[x](https://a.example) bob@b.example GB82WEST12345698765432 mailto:c@d.example";
    render r = {{0}, 0, 0};
    ck_assert_int_eq(az_extract(t, strlen(t), AZ_X_HOST, 100, render_item, &r), 0);
    ck_assert_str_eq(r.buf, "H:a.example | H:b.example | H:d.example");
    memset(&r, 0, sizeof r);
    ck_assert_int_eq(az_extract(t, strlen(t), AZ_X_EMAIL, 100, render_item, &r), 0);
    ck_assert_str_eq(r.buf, "E:bob@b.example | E:c@d.example");
    memset(&r, 0, sizeof r);
    ck_assert_int_eq(az_extract(t, strlen(t), AZ_X_URL | AZ_X_IBAN, 100, render_item, &r), 0);
    ck_assert_str_eq(r.buf, "U:https://a.example | I:GB82WEST12345698765432 | U:mailto:c@d.example");
    memset(&r, 0, sizeof r);
    ck_assert_int_eq(az_extract(t, strlen(t), 0, 0, render_item, &r), 0);
    ck_assert_uint_eq(r.n, 0);
}
END_TEST

static int stop_at_second(void *ctx, az_extract_kind kind, const char *s, size_t len)
{
    size_t *n = ctx;
    (void)kind;
    (void)s;
    (void)len;
    return ++*n == 2 ? 7 : 0;
}

START_TEST(test_limits)
{
    const char *t = "https://a.example https://b.example";
    render r = {{0}, 0, 0};
    size_t n = 0;
    /* exactly max_items items: 0; one more: ELIMIT after max_items callbacks */
    ck_assert_int_eq(az_extract(t, strlen(t), ALL, 4, render_item, &r), 0);
    ck_assert_uint_eq(r.n, 4);
    memset(&r, 0, sizeof r);
    ck_assert_int_eq(az_extract(t, strlen(t), ALL, 3, render_item, &r), AGENTAUTHZ_ELIMIT);
    ck_assert_uint_eq(r.n, 3);
    memset(&r, 0, sizeof r);
    ck_assert_int_eq(az_extract(t, strlen(t), ALL, 0, render_item, &r), AGENTAUTHZ_ELIMIT);
    ck_assert_uint_eq(r.n, 0);
    ck_assert_int_eq(az_extract(t, strlen(t), ALL, 100, stop_at_second, &n), 7);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(az_extract(NULL, 0, ALL, 10, render_item, &r), 0);
    ck_assert_int_eq(az_extract(NULL, 1, ALL, 10, render_item, &r), AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(az_extract(t, strlen(t), ALL, 10, NULL, NULL), AGENTAUTHZ_EINVAL);
}
END_TEST

/* Slices stay inside the text, whatever the bytes (NULs included). */
typedef struct bounds {
    const char *t;
    size_t n, items;
} bounds;

static int check_bounds(void *ctx, az_extract_kind kind, const char *s, size_t len)
{
    bounds *b = ctx;
    (void)kind;
    ck_assert(s >= b->t && len <= b->n && (size_t)(s - b->t) <= b->n - len);
    b->items++;
    return 0;
}

START_TEST(test_nul_bytes)
{
    static const char t[] = "https://a.example\0https://b\0.example\0bob@c\0.example";
    bounds b = {t, sizeof t - 1, 0};
    ck_assert_int_eq(az_extract(t, sizeof t - 1, ALL, 100, check_bounds, &b), 0);
    ck_assert_uint_eq(b.items, 4); /* two URLs, two hosts; "c\0.example" is no domain */
}
END_TEST

/*
 * Hostile text of 1 MiB: long runs of what starts a candidate. A scanner
 * that went back over the text would take hours here (and time out); this
 * one reads each byte a few times.
 */
static const char *const hostile_units[] = {
    "[", "(", "](", "](<", "]: ", "<", "<a", "http", "http:", "https://", "://", "@", "a@", "@a",
    "a@b", "a@b.", "www.", "href=", "href=\"", "src='", "url(", "mailto:", "GB82 ", "GB82WEST",
    "\\", "&#", ")", "[x](", "a.b@c.d@", "1", "x:", "](h://", "a", " ", "<h:",
};

START_TEST(test_hostile)
{
    const char *unit = hostile_units[_i];
    size_t ul = strlen(unit), n = 1024 * 1024, k;
    char *t = malloc(n);
    bounds b;
    ck_assert_ptr_nonnull(t);
    for (k = 0; k < n; k++)
        t[k] = unit[k % ul];
    b = (bounds){t, n, 0};
    ck_assert_int_ge(az_extract(t, n, ALL, SIZE_MAX, check_bounds, &b), 0);
    free(t);
}
END_TEST

/* A pseudo-random mix of the hostile units, many seeds. */
START_TEST(test_hostile_mix)
{
    size_t n = 256 * 1024, k = 0, nunits = sizeof hostile_units / sizeof *hostile_units;
    uint64_t x = 0x9E3779B97F4A7C15u * (uint64_t)(_i + 1);
    char *t = malloc(n);
    bounds b;
    ck_assert_ptr_nonnull(t);
    while (k < n) {
        const char *u;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        u = hostile_units[x % nunits];
        for (; *u && k < n; u++)
            t[k++] = *u;
    }
    b = (bounds){t, n, 0};
    ck_assert_int_ge(az_extract(t, n, ALL, SIZE_MAX, check_bounds, &b), 0);
    free(t);
}
END_TEST

/* ---- the same items as the reference scanner (tests/extract_ref.c) ---- */

#define LOG_MAX 8192

typedef struct xlog {
    const char *t;
    size_t n, stop_at; /* the callback returns 7 at item stop_at (0: never) */
    struct {
        az_extract_kind kind;
        size_t off, len;
    } it[LOG_MAX];
} xlog;

static int log_item(void *ctx, az_extract_kind kind, const char *s, size_t len)
{
    xlog *l = ctx;
    ck_assert_uint_lt(l->n, LOG_MAX);
    l->it[l->n].kind = kind;
    l->it[l->n].off = (size_t)(s - l->t);
    l->it[l->n].len = len;
    return ++l->n == l->stop_at ? 7 : 0;
}

/* az_extract and az_extract_ref on t: the same return value and the same items, in order. */
static void same_as_ref(const char *t, size_t n, unsigned mask, size_t max, size_t stop_at)
{
    static xlog a, b;
    int ra, rb;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    a.t = b.t = t;
    a.stop_at = b.stop_at = stop_at;
    ra = az_extract(t, n, mask, max, log_item, &a);
    rb = az_extract_ref(t, n, mask, max, log_item, &b);
    if (ra != rb || a.n != b.n || memcmp(a.it, b.it, a.n * sizeof a.it[0]) != 0) {
        size_t k = 0;
        while (k < a.n && k < b.n && memcmp(&a.it[k], &b.it[k], sizeof a.it[0]) == 0)
            k++;
        ck_abort_msg("differs from the reference (rc %d/%d, %zu/%zu items, first at %zu) on "
                     "%zu bytes, mask %u, max %zu: \"%.*s\"",
                     ra, rb, a.n, b.n, k, n, mask, max, (int)(n < 300 ? n : 300), t);
    }
}

/* Units that start, half-start or end items, prose, and bytes of every class. */
static const char *const diff_units[] = {
    "the ", "invoice ", "please ", "payment ", "with ", "and ", "for ", "shipping ", "a",
    "w", "ww", "WWW.", "www.", "Www.", ".", "..", "w.", "href", "HREF", " = ", "=", "src",
    "srcset", "Src =", "action", "formaction", "poster", "background", "url", "URL(", "(",
    ")", "mailto", "MailTo:", ":", "://", "http", "https", "ftp", "ws", "javascript:", "<",
    ">", "]", "[", "](", "]:", "] :", "\"", "'", "@", "a@b", "user12@example.com",
    "x@1.2.3", "GB82", "gb82", "GB82WEST1234", "5698 7654 32", " ", "  ", "\t", "\n", "\r",
    "\x01", "\x7f", "\xc3\xa9", "\xff", "0", "12", "345", "INV-2024-000123", "&#", "&", "\\",
    "//", "/", "?", "#", "!", ",", ";", "-", "_", "~", "%", "*", "+", "b", "f", "h", "m",
    "p", "s", "u", "Z", "ab", "x1", "=\"", "='", "site7.example/p/42", "[x](<a b>)",
};

static uint64_t xs(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* Random mixes of the units, random bytes among them, every mask, limits and stops. */
START_TEST(test_same_as_reference)
{
    static char t[2048];
    size_t nunits = sizeof diff_units / sizeof *diff_units;
    uint64_t x = 0x2545F4914F6CDD1Du * (uint64_t)(_i + 1);
    for (int round = 0; round < 2500; round++) {
        size_t want = xs(&x) % sizeof t, n = 0;
        unsigned mask = (xs(&x) % 4) ? ALL : (unsigned)(xs(&x) % 16);
        size_t max = (xs(&x) % 4) ? SIZE_MAX : xs(&x) % 12, stop = (xs(&x) % 8) ? 0 : xs(&x) % 10;
        while (n < want) {
            uint64_t r = xs(&x);
            if (r % 16 == 0) {
                t[n++] = (char)(r >> 8);
                continue;
            }
            for (const char *u = diff_units[(r >> 8) % nunits]; *u && n < want; u++)
                t[n++] = *u;
        }
        /* every alignment of the 16-byte steps, and every tail length */
        for (size_t k = 0; k < 3 && k <= n; k++)
            same_as_ref(t + k, n - k, mask, max, stop);
    }
}
END_TEST

/* The table cases, the hostile units (whole and cut at every length) and the fuzz corpus. */
START_TEST(test_same_as_reference_fixed)
{
    const char *top = getenv("top_srcdir");
    char dir[4096], path[4400];
    static char buf[65536];
    DIR *d;
    struct dirent *de;
    size_t files = 0;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        for (size_t k = 0; k <= strlen(cases[i].text); k++)
            same_as_ref(cases[i].text, k, ALL, SIZE_MAX, 0);
    for (size_t i = 0; i < sizeof hostile_units / sizeof *hostile_units; i++) {
        size_t ul = strlen(hostile_units[i]);
        for (size_t k = 0; k < 300; k++)
            buf[k] = hostile_units[i][k % ul];
        for (size_t k = 0; k <= 300; k++)
            same_as_ref(buf, k, ALL, SIZE_MAX, 0);
    }
    snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus/extract", top ? top : ".");
    if (!(d = opendir(dir))) {
        printf("test_extract: no corpus at %s: corpus comparison skipped\n", dir);
        return;
    }
    while ((de = readdir(d)) != NULL) {
        FILE *f;
        size_t n;
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        ck_assert_ptr_nonnull(f = fopen(path, "rb"));
        n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        same_as_ref(buf, n, ALL, SIZE_MAX, 0);
        files++;
    }
    closedir(d);
    ck_assert_uint_gt(files, 0);
}
END_TEST

static Suite *extract_suite(void)
{
    Suite *s = suite_create("extract");
    TCase *tc = tcase_create("rules");
    TCase *hostile = tcase_create("hostile");
    TCase *same = tcase_create("same as the reference");
    tcase_add_loop_test(tc, test_cases, 0, (int)(sizeof cases / sizeof *cases));
    tcase_add_test(tc, test_mask);
    tcase_add_test(tc, test_limits);
    tcase_add_test(tc, test_nul_bytes);
    tcase_set_timeout(hostile, 30);
    tcase_add_loop_test(hostile, test_hostile, 0,
                        (int)(sizeof hostile_units / sizeof *hostile_units));
    tcase_add_loop_test(hostile, test_hostile_mix, 0, 8);
    tcase_set_timeout(same, 60);
    tcase_add_loop_test(same, test_same_as_reference, 0, 8);
    tcase_add_test(same, test_same_as_reference_fixed);
    suite_add_tcase(s, tc);
    suite_add_tcase(s, hostile);
    suite_add_tcase(s, same);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(extract_suite());
    int failed;
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

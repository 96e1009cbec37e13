/* Tests of lib/extract.c: links, hosts, e-mail addresses and IBAN-like tokens in text. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "extract.h"

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

static Suite *extract_suite(void)
{
    Suite *s = suite_create("extract");
    TCase *tc = tcase_create("rules");
    TCase *hostile = tcase_create("hostile");
    tcase_add_loop_test(tc, test_cases, 0, (int)(sizeof cases / sizeof *cases));
    tcase_add_test(tc, test_mask);
    tcase_add_test(tc, test_limits);
    tcase_add_test(tc, test_nul_bytes);
    tcase_set_timeout(hostile, 30);
    tcase_add_loop_test(hostile, test_hostile, 0,
                        (int)(sizeof hostile_units / sizeof *hostile_units));
    tcase_add_loop_test(hostile, test_hostile_mix, 0, 8);
    suite_add_tcase(s, tc);
    suite_add_tcase(s, hostile);
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

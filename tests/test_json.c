/*
 * The "json" suite: values (value.c) and the strict JSON parser (json.c).
 * Meant to run under AddressSanitizer too, which turns the ownership tests
 * into leak checks and the exact-size input buffers into overread checks.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "internal.h"

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

/* Copies text to a heap buffer of exactly len bytes, so ASan sees any overread. */
static char *exact(const char *text, size_t len)
{
    char *p = malloc(len ? len : 1);
    ck_assert_ptr_nonnull(p);
    if (len)
        memcpy(p, text, len);
    return p;
}

static int parse_n(const char *text, size_t len, agentauthz_value **out, agentauthz_error *e)
{
    char *copy = exact(text, len);
    int rc = az_json_parse(copy, len, NULL, out, e);
    free(copy);
    return rc;
}

static agentauthz_value *parse_ok(const char *text)
{
    agentauthz_value *v = NULL;
    agentauthz_error e;
    int rc;
    memset(&e, 0, sizeof e);
    rc = parse_n(text, strlen(text), &v, &e);
    ck_assert_msg(rc == 0, "parse of '%s' failed: %d %lu:%lu %s", text, rc, e.line, e.column,
                  e.message);
    ck_assert_ptr_nonnull(v);
    return v;
}

static void expect_errn(const char *text, size_t len, int code, unsigned long line,
                        unsigned long col, const char *msg)
{
    agentauthz_value *v = (agentauthz_value *)&v; /* a sentinel that must become NULL */
    agentauthz_error e;
    int rc;
    memset(&e, 0, sizeof e);
    rc = parse_n(text, len, &v, &e);
    ck_assert_msg(rc == code, "'%.*s': rc %d, want %d (%s)", (int)len, text, rc, code, e.message);
    ck_assert_ptr_null(v);
    ck_assert_int_eq(e.code, code);
    ck_assert_msg(e.line == line && e.column == col, "'%.*s': at %lu:%lu, want %lu:%lu (%s)",
                  (int)len, text, e.line, e.column, line, col, e.message);
    ck_assert_msg(strstr(e.message, msg) != NULL, "'%.*s': message '%s' lacks '%s'", (int)len, text,
                  e.message, msg);
    ck_assert_str_eq(e.path, "");
}

static void expect_err(const char *text, int code, unsigned long line, unsigned long col,
                       const char *msg)
{
    expect_errn(text, strlen(text), code, line, col, msg);
}

/* Renders v and checks the text. */
static void expect_json(const agentauthz_value *v, const char *want)
{
    char *out = NULL;
    size_t len = 0;
    ck_assert_int_eq(agentauthz_value_to_json(v, &out, &len), 0);
    ck_assert_str_eq(out, want);
    ck_assert_uint_eq(len, strlen(want));
    agentauthz_free(out);
}

/* Parses text, renders it, and checks the rendering. */
static void roundtrip(const char *text, const char *want)
{
    agentauthz_value *v = parse_ok(text);
    agentauthz_value *w;
    char *out = NULL;
    size_t len = 0;
    expect_json(v, want);
    ck_assert_int_eq(agentauthz_value_to_json(v, &out, &len), 0);
    w = parse_ok(out);
    ck_assert(az_value_equal(v, w));
    agentauthz_free(out);
    agentauthz_value_free(v);
    agentauthz_value_free(w);
}

static void hash_of(const agentauthz_value *v, unsigned char h[32])
{
    crypto_generichash_state st;
    ck_assert_int_eq(crypto_generichash_init(&st, NULL, 0, 32), 0);
    ck_assert_int_eq(az_value_hash(v, &st), 0);
    ck_assert_int_eq(crypto_generichash_final(&st, h, 32), 0);
}

/* Checks equality both ways and that the hashes agree with it. */
static void expect_same(const char *a, const char *b, bool same)
{
    agentauthz_value *x = parse_ok(a), *y = parse_ok(b);
    unsigned char hx[32], hy[32];
    ck_assert_msg(az_value_equal(x, y) == same, "%s vs %s", a, b);
    ck_assert_msg(az_value_equal(y, x) == same, "%s vs %s", b, a);
    hash_of(x, hx);
    hash_of(y, hy);
    ck_assert_msg((memcmp(hx, hy, 32) == 0) == same, "hash of %s vs %s", a, b);
    agentauthz_value_free(x);
    agentauthz_value_free(y);
}

/* A string in quotes around the given raw bytes. */
static char *quoted(const char *bytes, size_t n, size_t *len)
{
    char *s = malloc(n + 2);
    ck_assert_ptr_nonnull(s);
    s[0] = '"';
    memcpy(s + 1, bytes, n);
    s[n + 1] = '"';
    *len = n + 2;
    return s;
}

/* ------------------------------------------------------------------ */
/* Values                                                              */
/* ------------------------------------------------------------------ */

START_TEST(test_constructors)
{
    agentauthz_value *v;
    size_t len = 99;

    v = agentauthz_value_null();
    ck_assert_int_eq(agentauthz_value_type(v), AGENTAUTHZ_NULL);
    agentauthz_value_free(v);

    v = agentauthz_value_bool(42);
    ck_assert_int_eq(agentauthz_value_type(v), AGENTAUTHZ_BOOL);
    ck_assert_int_eq(agentauthz_value_get_bool(v), 1);
    agentauthz_value_free(v);

    v = agentauthz_value_number(-2.5);
    ck_assert_int_eq(agentauthz_value_type(v), AGENTAUTHZ_NUMBER);
    ck_assert(agentauthz_value_get_number(v) == -2.5);
    agentauthz_value_free(v);

    ck_assert_ptr_null(agentauthz_value_number(NAN));
    ck_assert_ptr_null(agentauthz_value_number(INFINITY));
    ck_assert_ptr_null(agentauthz_value_number(-INFINITY));
    ck_assert_ptr_null(agentauthz_value_string(NULL));
    ck_assert_ptr_null(agentauthz_value_stringn(NULL, 3));

    v = agentauthz_value_stringn("a\0b", 3);
    ck_assert_int_eq(memcmp(agentauthz_value_get_string(v, &len), "a\0b", 4), 0);
    ck_assert_uint_eq(len, 3);
    agentauthz_value_free(v);

    v = agentauthz_value_stringn(NULL, 0);
    ck_assert_str_eq(agentauthz_value_get_string(v, &len), "");
    ck_assert_uint_eq(len, 0);
    agentauthz_value_free(v);

    v = agentauthz_value_string("héllo");
    ck_assert_str_eq(agentauthz_value_get_string(v, NULL), "héllo");
    agentauthz_value_free(v);

    agentauthz_value_free(NULL);
    agentauthz_free(NULL);
}
END_TEST

START_TEST(test_wrong_type_accessors)
{
    agentauthz_value *n = agentauthz_value_number(3);
    agentauthz_value *s = agentauthz_value_string("x");
    agentauthz_value *l = agentauthz_value_list();
    agentauthz_value *m = agentauthz_value_map();
    size_t len = 7;

    ck_assert_int_eq(agentauthz_value_type(NULL), AGENTAUTHZ_NULL);
    ck_assert_int_eq(agentauthz_value_get_bool(n), 0);
    ck_assert(agentauthz_value_get_number(s) == 0.0);
    ck_assert_ptr_null(agentauthz_value_get_string(l, &len));
    ck_assert_uint_eq(len, 0);
    ck_assert_ptr_null(agentauthz_value_get_string(NULL, NULL));
    ck_assert_uint_eq(agentauthz_value_length(s), 0);
    ck_assert_uint_eq(agentauthz_value_length(NULL), 0);
    ck_assert_ptr_null(agentauthz_value_list_get(m, 0));
    ck_assert_ptr_null(agentauthz_value_list_get(l, 0));
    ck_assert_ptr_null(agentauthz_value_map_get(l, "a"));
    ck_assert_ptr_null(agentauthz_value_map_get(m, NULL));
    ck_assert_ptr_null(agentauthz_value_map_key(l, 0));
    ck_assert_ptr_null(agentauthz_value_map_value(m, 0));
    ck_assert_ptr_null(az_value_map_getn(s, "x", 1));
    ck_assert_ptr_null(az_value_map_getn(m, NULL, 1));
    agentauthz_value_free(n);
    agentauthz_value_free(s);
    agentauthz_value_free(l);
    agentauthz_value_free(m);
}
END_TEST

START_TEST(test_containers)
{
    agentauthz_value *m = agentauthz_value_map();
    agentauthz_value *l = agentauthz_value_list();

    ck_assert_int_eq(agentauthz_value_list_append(l, agentauthz_value_number(1)), 0);
    ck_assert_int_eq(agentauthz_value_list_append(l, agentauthz_value_string("two")), 0);
    ck_assert_int_eq(agentauthz_value_list_append(l, agentauthz_value_null()), 0);
    ck_assert_uint_eq(agentauthz_value_length(l), 3);
    ck_assert_str_eq(agentauthz_value_get_string(agentauthz_value_list_get(l, 1), NULL), "two");
    ck_assert_ptr_null(agentauthz_value_list_get(l, 3));

    ck_assert_int_eq(agentauthz_value_map_set(m, "a", agentauthz_value_number(1)), 0);
    ck_assert_int_eq(agentauthz_value_map_set(m, "b", l), 0);
    ck_assert_int_eq(agentauthz_value_map_set(m, "c", agentauthz_value_bool(0)), 0);
    /* Replacing keeps the key's position. */
    ck_assert_int_eq(agentauthz_value_map_set(m, "a", agentauthz_value_string("new")), 0);
    ck_assert_uint_eq(agentauthz_value_length(m), 3);
    ck_assert_str_eq(agentauthz_value_map_key(m, 0), "a");
    ck_assert_str_eq(agentauthz_value_map_key(m, 2), "c");
    ck_assert_str_eq(agentauthz_value_get_string(agentauthz_value_map_value(m, 0), NULL), "new");
    ck_assert_ptr_null(agentauthz_value_map_get(m, "zz"));
    ck_assert_ptr_eq(agentauthz_value_map_get(m, "b"), l);
    expect_json(m, "{\"a\":\"new\",\"b\":[1,\"two\",null],\"c\":false}");
    agentauthz_value_free(m);
}
END_TEST

/* Every failing call must free the item: ASan's leak checker is the judge. */
START_TEST(test_ownership_on_failure)
{
    agentauthz_value *l = agentauthz_value_list();
    agentauthz_value *m = agentauthz_value_map();
    agentauthz_value *s = agentauthz_value_string("x");

    ck_assert_int_eq(agentauthz_value_list_append(l, NULL), AGENTAUTHZ_ENOMEM);
    ck_assert_int_eq(agentauthz_value_map_set(m, "k", NULL), AGENTAUTHZ_ENOMEM);
    ck_assert_int_eq(agentauthz_value_list_append(NULL, agentauthz_value_string("leak?")),
                     AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(agentauthz_value_list_append(m, agentauthz_value_string("leak?")),
                     AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(agentauthz_value_list_append(s, agentauthz_value_list()), AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(agentauthz_value_map_set(NULL, "k", agentauthz_value_null()),
                     AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(agentauthz_value_map_set(l, "k", agentauthz_value_null()), AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(agentauthz_value_map_set(m, NULL, agentauthz_value_map()), AGENTAUTHZ_EINVAL);
    /* A container as its own item is refused and left alone, still usable. */
    ck_assert_int_eq(agentauthz_value_list_append(l, l), AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(agentauthz_value_map_set(m, "self", m), AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(agentauthz_value_list_append(l, agentauthz_value_bool(1)), 0);
    ck_assert_uint_eq(agentauthz_value_length(l), 1);
    ck_assert_uint_eq(agentauthz_value_length(m), 0);
    agentauthz_value_free(l);
    agentauthz_value_free(m);
    agentauthz_value_free(s);
}
END_TEST

START_TEST(test_list_limit)
{
    agentauthz_value *l = agentauthz_value_list();
    for (size_t i = 0; i < AZ_MAX_ITEMS; i++)
        ck_assert_int_eq(agentauthz_value_list_append(l, agentauthz_value_null()), 0);
    ck_assert_int_eq(agentauthz_value_list_append(l, agentauthz_value_string("one too many")),
                     AGENTAUTHZ_ELIMIT);
    ck_assert_uint_eq(agentauthz_value_length(l), AZ_MAX_ITEMS);
    agentauthz_value_free(l);
}
END_TEST

/* A map filled to the bound (through the parser: map_set is a linear scan). */
START_TEST(test_map_limit)
{
    size_t cap = (size_t)AZ_MAX_ITEMS * 16 + 16, len = 0;
    char *text = malloc(cap);
    agentauthz_value *m;
    ck_assert_ptr_nonnull(text);
    text[len++] = '{';
    for (unsigned i = 0; i < AZ_MAX_ITEMS; i++)
        len += (size_t)snprintf(text + len, cap - len, "%s\"k%u\":%u", i ? "," : "", i, i);
    text[len++] = '}';
    text[len] = '\0';
    m = parse_ok(text);
    ck_assert_uint_eq(agentauthz_value_length(m), AZ_MAX_ITEMS);
    ck_assert(agentauthz_value_get_number(agentauthz_value_map_get(m, "k65535")) == 65535);
    ck_assert_int_eq(agentauthz_value_map_set(m, "new", agentauthz_value_null()),
                     AGENTAUTHZ_ELIMIT);
    ck_assert_int_eq(agentauthz_value_map_set(m, "k7", agentauthz_value_bool(1)), 0);
    ck_assert_int_eq(agentauthz_value_get_bool(agentauthz_value_map_get(m, "k7")), 1);
    agentauthz_value_free(m);

    /* One member more is refused, at that member's key. */
    len--;
    len += (size_t)snprintf(text + len, cap - len, ",\"over\":1}");
    expect_errn(text, len, AGENTAUTHZ_ELIMIT, 1, len - 8, "more than 65536 members");
    free(text);
}
END_TEST

START_TEST(test_copy)
{
    agentauthz_value *v = parse_ok("{\"a\":[1,\"x\\u0000y\",{\"b\":null}],\"c\":true,"
                                   "\"k\\u0000\":-0.5}");
    agentauthz_value *c = agentauthz_value_copy(v);
    const agentauthz_value *k;
    ck_assert_ptr_nonnull(c);
    ck_assert(az_value_equal(v, c));
    k = az_value_map_getn(c, "k\0", 2);
    ck_assert_ptr_nonnull(k);
    ck_assert(agentauthz_value_get_number(k) == -0.5);
    /* The copy is independent of the original. */
    ck_assert_int_eq(agentauthz_value_map_set(c, "c", agentauthz_value_bool(0)), 0);
    ck_assert(!az_value_equal(v, c));
    ck_assert_int_eq(agentauthz_value_get_bool(agentauthz_value_map_get(v, "c")), 1);
    ck_assert_ptr_null(agentauthz_value_copy(NULL));
    agentauthz_value_free(v);
    agentauthz_value_free(c);
}
END_TEST

/* Builds depth nested lists through the API: deeper than the parser allows. */
static agentauthz_value *deep_list(size_t depth)
{
    agentauthz_value *v = agentauthz_value_number(7);
    for (size_t i = 0; i < depth; i++) {
        agentauthz_value *l = agentauthz_value_list();
        ck_assert_int_eq(agentauthz_value_list_append(l, v), 0);
        v = l;
    }
    return v;
}

START_TEST(test_deep_api_values)
{
    /*
     * Freeing must not recurse: 250000 levels would need well over the usual
     * 8 MiB of stack if it did.
     */
    agentauthz_value *huge = deep_list(250000);
    agentauthz_value *at64 = deep_list(AZ_MAX_DEPTH), *at65 = deep_list(AZ_MAX_DEPTH + 1);
    agentauthz_value *c;
    crypto_generichash_state st;
    char *out = (char *)"sentinel";

    agentauthz_value_free(huge);

    c = agentauthz_value_copy(at64);
    ck_assert(az_value_equal(at64, c));
    agentauthz_value_free(c);
    ck_assert_int_eq(agentauthz_value_to_json(at64, &out, NULL), 0);
    ck_assert_uint_eq(strlen(out), 2 * AZ_MAX_DEPTH + 1);
    agentauthz_free(out);

    /* Beyond the bound every walk refuses instead of recursing further. */
    ck_assert_ptr_null(agentauthz_value_copy(at65));
    ck_assert(!az_value_equal(at65, at65));
    ck_assert_int_eq(agentauthz_value_to_json(at65, &out, NULL), AGENTAUTHZ_ELIMIT);
    ck_assert_ptr_null(out);
    crypto_generichash_init(&st, NULL, 0, 32);
    ck_assert_int_eq(az_value_hash(at65, &st), AGENTAUTHZ_ELIMIT);
    agentauthz_value_free(at64);
    agentauthz_value_free(at65);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Rendering                                                           */
/* ------------------------------------------------------------------ */

static void expect_number(double d, const char *want)
{
    agentauthz_value v = az_value_view_number(d);
    az_buf b = {NULL, 0, 0, 0};
    ck_assert_int_eq(az_value_write_json(&b, &v), 0);
    ck_assert_str_eq(b.p, want);
    az_buf_free(&b);
}

START_TEST(test_render_numbers)
{
    char want[64];
    expect_number(0.0, "0");
    expect_number(-0.0, "0");
    expect_number(1.0, "1");
    expect_number(-42.0, "-42");
    expect_number(0.5, "0.5");
    expect_number(0.1, "0.10000000000000001");
    expect_number(9007199254740991.0, "9007199254740991");
    expect_number(-9007199254740991.0, "-9007199254740991");
    expect_number(9007199254740992.0, "9007199254740992");
    expect_number(1e20, "1e+20");
    expect_number(1e300, "1.0000000000000001e+300");
    expect_number(5e-324, "4.9406564584124654e-324");
    snprintf(want, sizeof want, "%.17g", -1.5e-7);
    expect_number(-1.5e-7, want);
}
END_TEST

START_TEST(test_render_errors)
{
    agentauthz_value nan = az_value_view_number(NAN);
    agentauthz_value *v = agentauthz_value_null();
    az_buf b = {NULL, 0, 0, 0};
    char *out = (char *)"sentinel";
    size_t len = 9;
    ck_assert_int_eq(az_value_write_json(&b, &nan), AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(az_value_write_json(&b, NULL), AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(az_value_write_json(NULL, v), AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(agentauthz_value_to_json(NULL, &out, &len), AGENTAUTHZ_EINVAL);
    ck_assert_ptr_null(out);
    ck_assert_uint_eq(len, 0);
    ck_assert_int_eq(agentauthz_value_to_json(v, NULL, &len), AGENTAUTHZ_EINVAL);
    az_buf_free(&b);
    agentauthz_value_free(v);
}
END_TEST

/* API strings may be invalid UTF-8; the rendering must still be valid JSON. */
START_TEST(test_render_invalid_utf8)
{
    agentauthz_value *m = agentauthz_value_map();
    agentauthz_value *back;
    char *out = NULL;
    ck_assert_int_eq(
        agentauthz_value_map_set(m, "k\xff", agentauthz_value_string("a\xc3(\xed\xa0\x80z")), 0);
    expect_json(m, "{\"k\xEF\xBF\xBD\":\"a\xEF\xBF\xBD(\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBDz\"}");
    ck_assert_int_eq(agentauthz_value_to_json(m, &out, NULL), 0);
    back = parse_ok(out);
    ck_assert_uint_eq(agentauthz_value_length(back), 1);
    agentauthz_free(out);
    agentauthz_value_free(back);
    agentauthz_value_free(m);
}
END_TEST

START_TEST(test_roundtrip_types)
{
    roundtrip("null", "null");
    roundtrip("true", "true");
    roundtrip("false", "false");
    roundtrip("0", "0");
    roundtrip("-0", "0");
    roundtrip("-17", "-17");
    roundtrip("1.5", "1.5");
    roundtrip("1E+2", "100");
    roundtrip("2.5e-3", "0.0025000000000000001");
    roundtrip("123456789012345678901234567890", "1.2345678901234568e+29");
    roundtrip("\"\"", "\"\"");
    roundtrip("\"plain\"", "\"plain\"");
    roundtrip("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\\"\\\\/\\u0008\\u000c\\n\\r\\t\"");
    roundtrip("\"a\\u0000b\"", "\"a\\u0000b\"");
    roundtrip("\"\\u007f\\u001f\"", "\"\\u007f\\u001f\"");
    roundtrip("\"\\u00e9\\u20AC\\ud83d\\ude00\"", "\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\"");
    roundtrip("\"\xC3\xA9\xF4\x8F\xBF\xBF\"", "\"\xC3\xA9\xF4\x8F\xBF\xBF\"");
    roundtrip("[]", "[]");
    roundtrip("{}", "{}");
    roundtrip(" \t\r\n[ 1 , [ 2 , [ 3 ] ] , { \"a\" : { \"b\" : null } } ] \n",
              "[1,[2,[3]],{\"a\":{\"b\":null}}]");
    roundtrip("{\"b\":1,\"a\":2}", "{\"b\":1,\"a\":2}");
    roundtrip("{\"\":\"\",\"k\\u0000\":[]}", "{\"\":\"\",\"k\\u0000\":[]}");
}
END_TEST

/* ------------------------------------------------------------------ */
/* Equality and hashing                                                */
/* ------------------------------------------------------------------ */

START_TEST(test_equality_and_hash)
{
    static const char *const distinct[] = {"null",  "false", "true", "0",   "1",    "\"\"",
                                           "\"0\"", "[]",    "{}",   "[0]", "[[]]", "{\"\":null}"};
    size_t n = sizeof distinct / sizeof distinct[0];

    expect_same("{\"a\":1,\"b\":[1,2]}", "{\"b\":[1.0,2e0],\"a\":1.00}", true);
    expect_same("1", "1.0", true);
    expect_same("100", "1e2", true);
    expect_same("0", "-0", true);
    expect_same("[-0.0]", "[0]", true);
    expect_same("{\"x\":{\"y\":[{\"z\":-0}]}}", "{\"x\":{\"y\":[{\"z\":0.0}]}}", true);
    expect_same("[1,2]", "[2,1]", false);
    expect_same("{\"a\":1}", "{\"a\":1,\"b\":2}", false);
    expect_same("{\"a\":1}", "{\"b\":1}", false);
    expect_same("{\"a\":1}", "{\"a\":2}", false);
    expect_same("\"a\\u0000b\"", "\"a\\u0000c\"", false);
    expect_same("\"a\"", "\"a\\u0000\"", false);
    expect_same("[\"ab\"]", "[\"a\",\"b\"]", false);
    expect_same("{\"ab\":\"c\"}", "{\"a\":\"bc\"}", false);
    expect_same("[[1],2]", "[[1,2]]", false);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            expect_same(distinct[i], distinct[j], i == j);
    ck_assert(az_value_equal(NULL, NULL));
    {
        agentauthz_value *z = agentauthz_value_null();
        ck_assert(!az_value_equal(NULL, z));
        ck_assert(!az_value_equal(z, NULL));
        agentauthz_value_free(z);
    }
}
END_TEST

/* Builds {"k0":0,...} with n keys, in forward or reverse order, one value changed if asked. */
static char *big_object(unsigned n, bool reverse, unsigned changed)
{
    size_t cap = (size_t)n * 24 + 8, len = 0;
    char *s = malloc(cap);
    ck_assert_ptr_nonnull(s);
    s[len++] = '{';
    for (unsigned i = 0; i < n; i++) {
        unsigned k = reverse ? n - 1 - i : i;
        len += (size_t)snprintf(s + len, cap - len, "%s\"k%u\":%u", i ? "," : "", k,
                                k == changed ? k + 1 : k);
    }
    s[len++] = '}';
    s[len] = '\0';
    return s;
}

START_TEST(test_equality_big_maps)
{
    char *a = big_object(1000, false, UINT32_MAX);
    char *b = big_object(1000, true, UINT32_MAX);
    char *c = big_object(1000, true, 500);
    char *d = big_object(10, true, UINT32_MAX);
    char *e = big_object(10, false, UINT32_MAX);
    expect_same(a, b, true);
    expect_same(a, c, false);
    expect_same(d, e, true);
    expect_same(a, e, false);
    free(a);
    free(b);
    free(c);
    free(d);
    free(e);
}
END_TEST

START_TEST(test_hash_args)
{
    crypto_generichash_state st;
    agentauthz_value *v = agentauthz_value_null();
    crypto_generichash_init(&st, NULL, 0, 32);
    ck_assert_int_eq(az_value_hash(NULL, &st), AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(az_value_hash(v, NULL), AGENTAUTHZ_EINVAL);
    agentauthz_value_free(v);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Parsing: successes                                                  */
/* ------------------------------------------------------------------ */

START_TEST(test_parse_numbers)
{
    static const struct {
        const char *text;
        double want;
    } cases[] = {
        {"0", 0.0},
        {"-0", -0.0},
        {"7", 7.0},
        {"-123", -123.0},
        {"0.5", 0.5},
        {"1e3", 1000.0},
        {"1E-2", 0.01},
        {"-1.25e+1", -12.5},
        {"1e308", 1e308},
        {"1.7976931348623157e308", 1.7976931348623157e308},
        {"1e-400", 0.0},
        {"4.9e-324", 4.9e-324},
        {"9007199254740993", 9007199254740992.0},
        {"9999999999999999999", 1e19},
        {"18446744073709551616", 18446744073709551616.0},
        {"0e0", 0.0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        agentauthz_value *v = parse_ok(cases[i].text);
        double d = agentauthz_value_get_number(v);
        ck_assert_int_eq(agentauthz_value_type(v), AGENTAUTHZ_NUMBER);
        ck_assert_msg(d == cases[i].want, "%s gave %.17g", cases[i].text, d);
        ck_assert_int_eq(!!signbit(d), !!signbit(cases[i].want));
        agentauthz_value_free(v);
    }
}
END_TEST

START_TEST(test_parse_long_numbers)
{
    char text[1200];
    agentauthz_value *v;
    memset(text, '0', sizeof text);
    text[0] = '1';
    text[1] = '.';
    text[1023] = '1'; /* 1024 bytes: 1.000...01, which rounds to 1 */
    text[1024] = '\0';
    v = parse_ok(text);
    ck_assert(agentauthz_value_get_number(v) == 1.0);
    agentauthz_value_free(v);
    text[1024] = '1';
    expect_errn(text, 1025, AGENTAUTHZ_ELIMIT, 1, 1, "number longer than 1024 bytes");
}
END_TEST

START_TEST(test_parse_strings)
{
    agentauthz_value *v =
        parse_ok("{\"a\\u0000b\":1,\"a\":2,\"\\ud834\\udd1e\":\"\\uD834\\uDD1E\"}");
    const agentauthz_value *s;
    size_t len = 0;
    ck_assert_uint_eq(agentauthz_value_length(v), 3);
    ck_assert(agentauthz_value_get_number(az_value_map_getn(v, "a\0b", 3)) == 1);
    ck_assert(agentauthz_value_get_number(agentauthz_value_map_get(v, "a")) == 2);
    ck_assert_ptr_null(az_value_map_getn(v, "a\0", 2));
    s = agentauthz_value_map_get(v, "\xF0\x9D\x84\x9E");
    ck_assert_str_eq(agentauthz_value_get_string(s, &len), "\xF0\x9D\x84\x9E");
    ck_assert_uint_eq(len, 4);
    agentauthz_value_free(v);

    v = parse_ok("\"\\u0000\"");
    ck_assert_int_eq(memcmp(agentauthz_value_get_string(v, &len), "\0", 2), 0);
    ck_assert_uint_eq(len, 1);
    agentauthz_value_free(v);
}
END_TEST

START_TEST(test_parse_valid_utf8)
{
    static const char *const ok[] = {"\x7f",         "\xC2\x80",         "\xDF\xBF",
                                     "\xE0\xA0\x80", "\xED\x9F\xBF",     "\xEE\x80\x80",
                                     "\xEF\xBF\xBF", "\xF0\x90\x80\x80", "\xF4\x8F\xBF\xBF"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        size_t n = strlen(ok[i]), len = 0, got = 0;
        char *text = quoted(ok[i], n, &len);
        agentauthz_value *v = NULL;
        agentauthz_error e;
        ck_assert_uint_eq(az_utf8_check(ok[i], n), n);
        ck_assert_int_eq(parse_n(text, len, &v, &e), 0);
        ck_assert_int_eq(memcmp(agentauthz_value_get_string(v, &got), ok[i], n), 0);
        ck_assert_uint_eq(got, n);
        agentauthz_value_free(v);
        free(text);
    }
}
END_TEST

/* ------------------------------------------------------------------ */
/* Parsing: errors                                                     */
/* ------------------------------------------------------------------ */

START_TEST(test_syntax_errors)
{
    static const struct {
        const char *text;
        unsigned long line, col;
        const char *msg;
    } cases[] = {
        {"", 1, 1, "expected a JSON value, found end of input"},
        {"   ", 1, 4, "expected a JSON value"},
        {"[", 1, 2, "expected a value or ']', found end of input"},
        {"{", 1, 2, "expected a member name (string) or '}'"},
        {"[1,2", 1, 5, "expected ',' or ']' after array element, found end of input"},
        {"[1 2]", 1, 4, "expected ',' or ']' after array element, found '2'"},
        {"[1,]", 1, 4, "expected a value after ','"},
        {"[,1]", 1, 2, "expected a value or ']', found ','"},
        {"{\"a\":1,}", 1, 8, "expected a member name (string) after ','"},
        {"{\"a\" 1}", 1, 6, "expected ':' after object member name, found '1'"},
        {"{\"a\":}", 1, 6, "expected a value after ':'"},
        {"{\"a\":1 \"b\":2}", 1, 8, "expected ',' or '}' after object member, found '\"'"},
        {"{1:2}", 1, 2, "expected a member name (string) or '}', found '1'"},
        {"{'a':1}", 1, 2, "found '''"},
        {"[1] x", 1, 5, "expected end of input after the JSON value, found 'x'"},
        {"{\"a\":1}{}", 1, 8, "expected end of input"},
        {"1 2", 1, 3, "expected end of input"},
        {"// c\n1", 1, 1, "expected a JSON value, found '/'"},
        {"/* c */ 1", 1, 1, "found '/'"},
        {"[1] // c", 1, 5, "expected end of input"},
        {"01", 1, 2, "leading zeros are not allowed"},
        {"-01", 1, 3, "leading zeros"},
        {"-", 1, 2, "expected a digit after '-', found end of input"},
        {"-x", 1, 2, "expected a digit after '-', found 'x'"},
        {"1.", 1, 3, "expected a digit after '.'"},
        {"1.e5", 1, 3, "expected a digit after '.'"},
        {"1e", 1, 3, "expected a digit in the exponent"},
        {"1e+", 1, 4, "expected a digit in the exponent"},
        {".5", 1, 1, "expected a JSON value, found '.'"},
        {"+1", 1, 1, "found '+'"},
        {"NaN", 1, 1, "found 'N'"},
        {"Infinity", 1, 1, "found 'I'"},
        {"-Infinity", 1, 2, "expected a digit after '-'"},
        {"0x10", 1, 2, "expected end of input"},
        {"1e309", 1, 1, "number out of range"},
        {"-1e309", 1, 1, "number out of range"},
        {"[1, 2e99999999999999999999]", 1, 5, "number out of range"},
        {"tru", 1, 1, "invalid literal: expected true, false or null"},
        {"nul", 1, 1, "invalid literal"},
        {"fals", 1, 1, "invalid literal"},
        {"True", 1, 1, "expected a JSON value, found 'T'"},
        {"truex", 1, 5, "expected end of input"},
        {"[truefalse]", 1, 6, "expected ',' or ']'"},
        {"\"abc", 1, 5, "expected '\"' to end the string, found end of input"},
        {"\"a\tb\"", 1, 3, "control character 0x09 in string"},
        {"\"a\nb\"", 1, 3, "control character 0x0a"},
        {"\"\\x\"", 1, 3, "expected one of \" \\ / b f n r t u after '\\', found 'x'"},
        {"\"\\", 1, 3, "expected an escape character after '\\', found end of input"},
        {"\"\\u12G4\"", 1, 2, "expected 4 hex digits after \\u"},
        {"\"\\u12\"", 1, 2, "expected 4 hex digits"},
        {"\"\\u12", 1, 2, "expected 4 hex digits"},
        {"\"\\ud800\"", 1, 2, "lone high surrogate \\ud800"},
        {"\"\\udbff\\u0041\"", 1, 2, "lone high surrogate \\udbff"},
        {"\"\\ud800\\ud800\"", 1, 2, "lone high surrogate"},
        {"\"\\ud800\\", 1, 2, "lone high surrogate"},
        {"\"\\udc00\"", 1, 2, "lone low surrogate \\udc00"},
        {"\"ok\\uDFFF\"", 1, 4, "lone low surrogate \\udfff"},
        {"\xEF\xBB\xBF{}", 1, 1, "expected a JSON value, found byte 0xef"},
        {"\xC3\xA9", 1, 1, "found byte 0xc3"},
        {"{\"to\":1,\"to\":2}", 1, 9, "duplicate key \"to\""},
        {"{\"a\":{\"b\":1,\"b\":1}}", 1, 13, "duplicate key \"b\""},
        {"{\"a\\u0000\":1,\"a\\u0000\":2}", 1, 14, "duplicate key \"a\\u0000\""},
        {"{\"\\\"q\\n\":1,\"\\\"q\\n\":2}", 1, 12, "duplicate key \"\\\"q\\n\""},
        {"{\"x\":1,\"y\":2,\"y\":3,\"x\":4}", 1, 14, "duplicate key \"y\""},
        {"{\"\\u0061\":1,\"a\":2}", 1, 13, "duplicate key \"a\""},
        {"{\n  \"a\": 1,\n  \"b\": ?\n}", 3, 8, "expected a value after ':', found '?'"},
        {"[\r\n1,\r\n x]", 3, 2, "expected a value after ','"},
        {"[1]\n\n]", 3, 1, "expected end of input"},
        {"\n\n\n", 4, 1, "found end of input"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_err(cases[i].text, AGENTAUTHZ_EJSON, cases[i].line, cases[i].col, cases[i].msg);
    expect_errn("\0", 1, AGENTAUTHZ_EJSON, 1, 1, "found byte 0x00");
    expect_errn("\"a\0b\"", 5, AGENTAUTHZ_EJSON, 1, 3, "control character 0x00");
    expect_errn("[1]\0", 4, AGENTAUTHZ_EJSON, 1, 4, "expected end of input");
}
END_TEST

START_TEST(test_duplicate_key_quote_is_cut)
{
    char text[440];
    char key[201];
    memset(key, 'k', 200);
    key[200] = '\0';
    snprintf(text, sizeof text, "{\"%s\":1,\"%s\":2}", key, key);
    expect_err(text, AGENTAUTHZ_EJSON, 1, 207, "(cut short)");
    /* A cut never splits a UTF-8 sequence: 63 ASCII bytes, then a 2-byte character. */
    memset(key, 'k', 63);
    memcpy(key + 63, "\xC3\xA9xyz", 6);
    snprintf(text, sizeof text, "{\"%s\":1,\"%s\":2}", key, key);
    expect_err(text, AGENTAUTHZ_EJSON, 1, 75,
               "\"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk\" (cut short)");
}
END_TEST

START_TEST(test_invalid_utf8)
{
    static const struct {
        const char *bytes;
        size_t bad; /* offset of the bad byte in bytes */
    } cases[] = {
        {"\x80", 0},             /* lone continuation byte */
        {"\xBF", 0},             /* lone continuation byte */
        {"\xC0\xAF", 0},         /* overlong '/' */
        {"\xC1\xBF", 0},         /* overlong */
        {"\xE0\x80\xAF", 0},     /* overlong 3-byte */
        {"\xE0\x9F\xBF", 0},     /* overlong 3-byte */
        {"\xF0\x80\x80\xAF", 0}, /* overlong 4-byte */
        {"\xF0\x8F\xBF\xBF", 0}, /* overlong 4-byte */
        {"\xED\xA0\x80", 0},     /* UTF-16 high surrogate in UTF-8 */
        {"\xED\xBF\xBF", 0},     /* UTF-16 low surrogate in UTF-8 */
        {"\xF4\x90\x80\x80", 0}, /* above U+10FFFF */
        {"\xF5\x80\x80\x80", 0}, /* lead byte past F4 */
        {"\xF8\x88\x80\x80\x80", 0},
        {"\xFE", 0},
        {"\xFF", 0},
        {"ab\xC3", 2},         /* truncated before the closing quote */
        {"ab\xE2\x82", 2},     /* truncated 3-byte */
        {"\xF0\x9F\x98", 0},   /* truncated 4-byte */
        {"a\xC3\x28", 1},      /* bad continuation */
        {"\xE2\x28\xA1", 0},   /* bad second byte */
        {"\xE2\x82\x28", 0},   /* bad third byte */
        {"ok\xC3\xA9\xFF", 4}, /* valid then invalid */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = strlen(cases[i].bytes), len = 0;
        char *text = quoted(cases[i].bytes, n, &len);
        ck_assert_uint_eq(az_utf8_check(cases[i].bytes, n), cases[i].bad);
        expect_errn(text, len, AGENTAUTHZ_EJSON, 1, cases[i].bad + 2, "invalid UTF-8 in string");
        free(text);
    }
    ck_assert_uint_eq(az_utf8_check("", 0), 0);
    ck_assert_uint_eq(az_utf8_check("abc", 3), 3);
    ck_assert_uint_eq(az_utf8_check("\xE2\x82\xAC\xE2\x82", 5), 3);
}
END_TEST

START_TEST(test_depth)
{
    size_t n = 100000;
    char *text = malloc(2 * n);
    agentauthz_value *v;
    ck_assert_ptr_nonnull(text);
    memset(text, '[', n);
    memset(text + n, ']', n);
    /* 64 levels parse; the 65th is refused at its bracket, without reading further. */
    expect_errn(text, 2 * n, AGENTAUTHZ_ELIMIT, 1, 65, "nesting deeper than 64");
    expect_errn(text, n, AGENTAUTHZ_ELIMIT, 1, 65, "nesting deeper than 64");
    memcpy(text + AZ_MAX_DEPTH, text + n, AZ_MAX_DEPTH);
    ck_assert_int_eq(parse_n(text, 2 * AZ_MAX_DEPTH, &v, NULL), 0);
    ck_assert_int_eq(agentauthz_value_type(v), AGENTAUTHZ_LIST);
    agentauthz_value_free(v);
    free(text);

    /* Objects count too. */
    {
        char obj[2000];
        size_t len = 0;
        for (int i = 0; i < AZ_MAX_DEPTH + 1; i++)
            len += (size_t)snprintf(obj + len, sizeof obj - len, "{\"a\":");
        obj[len++] = '1';
        memset(obj + len, '}', AZ_MAX_DEPTH + 1);
        len += AZ_MAX_DEPTH + 1;
        expect_errn(obj, len, AGENTAUTHZ_ELIMIT, 1, 5 * AZ_MAX_DEPTH + 1, "nesting deeper");
        ck_assert_int_eq(parse_n(obj + 5, len - 6, &v, NULL), 0);
        agentauthz_value_free(v);
    }
}
END_TEST

START_TEST(test_array_limit)
{
    size_t n = AZ_MAX_ITEMS + 1, len = 2 * n + 1;
    char *text = malloc(len);
    agentauthz_value *v;
    ck_assert_ptr_nonnull(text);
    text[0] = '[';
    for (size_t i = 0; i < n; i++) {
        text[1 + 2 * i] = '0';
        text[2 + 2 * i] = i + 1 < n ? ',' : ']';
    }
    /* The 65537th item, at offset 1 + 2 * 65536, is one too many. */
    expect_errn(text, len, AGENTAUTHZ_ELIMIT, 1, 2 + 2 * (size_t)AZ_MAX_ITEMS,
                "more than 65536 items in one array");
    text[2 * AZ_MAX_ITEMS] = ']';
    ck_assert_int_eq(parse_n(text, 2 * AZ_MAX_ITEMS + 1, &v, NULL), 0);
    ck_assert_uint_eq(agentauthz_value_length(v), AZ_MAX_ITEMS);
    agentauthz_value_free(v);
    free(text);
}
END_TEST

/* 17 arrays of 65536 numbers: over a million values, refused to bound memory. */
START_TEST(test_node_limit)
{
    size_t per = AZ_MAX_ITEMS, lists = AZ_MAX_NODES / per + 1;
    size_t cap = lists * (2 * per + 2) + 2, len = 0;
    char *text = malloc(cap);
    ck_assert_ptr_nonnull(text);
    text[len++] = '[';
    for (size_t l = 0; l < lists; l++) {
        text[len++] = l ? ',' : '[';
        if (l)
            text[len++] = '[';
        for (size_t i = 0; i < per; i++) {
            text[len++] = '0';
            text[len++] = i + 1 < per ? ',' : ']';
        }
    }
    text[len++] = ']';
    ck_assert_uint_le(len, cap);
    {
        agentauthz_value *v = (agentauthz_value *)&v;
        agentauthz_error e;
        ck_assert_int_eq(parse_n(text, len, &v, &e), AGENTAUTHZ_ELIMIT);
        ck_assert_ptr_null(v);
        ck_assert_ptr_nonnull(strstr(e.message, "more than 1048576 values"));
    }
    free(text);
}
END_TEST

START_TEST(test_big_inputs)
{
    size_t n = AZ_MAX_INPUT;
    char *text = malloc(n + 1);
    agentauthz_value *v = NULL;
    agentauthz_error e;
    char *out = NULL;
    size_t len = 0;
    ck_assert_ptr_nonnull(text);

    /* Exactly the bound: one string filling 16 MiB parses and renders back. */
    memset(text, 'a', n);
    text[0] = text[n - 1] = '"';
    memcpy(text + 1, "\\n\\u00e9", 8);
    ck_assert_int_eq(az_json_parse(text, n, NULL, &v, &e), 0);
    ck_assert_uint_eq(strlen(agentauthz_value_get_string(v, &len)), n - 2 - 8 + 3);
    ck_assert_int_eq(agentauthz_value_to_json(v, &out, &len), 0);
    ck_assert_uint_eq(len, n - 4);
    agentauthz_free(out);
    agentauthz_value_free(v);

    /* One byte more is refused before anything is read. */
    text[n] = ' ';
    v = (agentauthz_value *)&v;
    ck_assert_int_eq(az_json_parse(text, n + 1, "big.json", &v, &e), AGENTAUTHZ_ELIMIT);
    ck_assert_ptr_null(v);
    ck_assert_str_eq(e.path, "big.json");
    ck_assert_uint_eq(e.line, 0);
    ck_assert_ptr_nonnull(strstr(e.message, "longer than 16777216 bytes"));

    /* A string of 16 MiB of DEL bytes renders to six times that: refused, no crash. */
    memset(text, 0x7f, n);
    v = agentauthz_value_stringn(text, n / 2);
    ck_assert_int_eq(agentauthz_value_to_json(v, &out, &len), AGENTAUTHZ_ELIMIT);
    ck_assert_ptr_null(out);
    agentauthz_value_free(v);
    free(text);
}
END_TEST

START_TEST(test_api_misuse)
{
    agentauthz_value *v = (agentauthz_value *)&v;
    agentauthz_error e;
    memset(&e, 0, sizeof e);
    ck_assert_int_eq(agentauthz_value_parse_json(NULL, 5, &v, &e), AGENTAUTHZ_EINVAL);
    ck_assert_ptr_null(v);
    ck_assert_int_eq(e.code, AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(agentauthz_value_parse_json("1", 1, NULL, &e), AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(agentauthz_value_parse_json(NULL, 0, &v, &e), AGENTAUTHZ_EJSON);
    /* No error struct: still a clean failure. */
    ck_assert_int_eq(agentauthz_value_parse_json("[1,", 3, &v, NULL), AGENTAUTHZ_EJSON);
    ck_assert_ptr_null(v);
    /* Paths label errors; the public wrapper has none. */
    ck_assert_int_eq(az_json_parse("[", 1, "args.json", &v, &e), AGENTAUTHZ_EJSON);
    ck_assert_str_eq(e.path, "args.json");
    ck_assert_uint_eq(e.offset, 1);
    ck_assert_int_eq(agentauthz_value_parse_json("[", 1, &v, &e), AGENTAUTHZ_EJSON);
    ck_assert_str_eq(e.path, "");
    /* Text need not be NUL-terminated: only len bytes count. */
    ck_assert_int_eq(agentauthz_value_parse_json("[1]garbage", 3, &v, &e), 0);
    ck_assert_uint_eq(agentauthz_value_length(v), 1);
    agentauthz_value_free(v);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Deterministic fuzzing                                               */
/* ------------------------------------------------------------------ */

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

static size_t rng_below(uint64_t *s, size_t n)
{
    return n ? (size_t)(rng_next(s) % n) : 0;
}

static const char *const seeds[] = {
    "{\"tool\":\"send_email\",\"to\":[\"a@b.example\",\"c@d.example\"],\"n\":3,\"x\":null}",
    "[1,-0,2.5e-3,1E+2,true,false,null,\"\\u00e9\\ud83d\\ude00\\n\",{},[]]",
    "{\"a\":{\"b\":{\"c\":[[[{\"d\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"}]]]}}}",
    "\"h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80\"",
    "  [ 123456789012345678901234567890 , -1.7976931348623157e308 , 5e-324 ]  ",
    "{\"k\\u0000\":\"v\\u0000\",\"\":\"\",\"dup?\":1,\"dup\":2}",
};

/* Mutates buf (len bytes, room for cap) in place; returns the new length. */
static size_t mutate(uint64_t *rng, char *buf, size_t len, size_t cap)
{
    static const char interesting[] = "{}[],:\"\\u0123456789eE+-.tfnl \n\t\x00\x7f\x80\xbf\xc3"
                                      "\xed\xa0\xf0\xf4\xff";
    size_t ops = 1 + rng_below(rng, 4);
    for (size_t k = 0; k < ops; k++) {
        size_t at = rng_below(rng, len + 1);
        char c = rng_below(rng, 2) ? interesting[rng_below(rng, sizeof interesting - 1)]
                                   : (char)rng_next(rng);
        switch (rng_below(rng, 4)) {
        case 0: /* replace */
            if (at < len)
                buf[at] = c;
            break;
        case 1: /* delete */
            if (at < len) {
                memmove(buf + at, buf + at + 1, len - at - 1);
                len--;
            }
            break;
        case 2: /* insert */
            if (len < cap) {
                memmove(buf + at + 1, buf + at, len - at);
                buf[at] = c;
                len++;
            }
            break;
        default: { /* duplicate a slice */
            size_t from = rng_below(rng, len + 1);
            size_t n = rng_below(rng, len - from + 1);
            if (n > cap - len)
                n = cap - len;
            memmove(buf + at + n, buf + at, len - at);
            memmove(buf + at, buf + (from >= at ? from + n : from), n);
            len += n;
            break;
        }
        }
    }
    return len;
}

/* A successful parse must render, re-parse equal, hash the same and render identically. */
static void check_stable(const agentauthz_value *v)
{
    agentauthz_value *w = NULL;
    char *out = NULL, *out2 = NULL;
    size_t len = 0, len2 = 0;
    unsigned char h1[32], h2[32];
    agentauthz_error e;
    ck_assert_int_eq(agentauthz_value_to_json(v, &out, &len), 0);
    ck_assert_msg(agentauthz_value_parse_json(out, len, &w, &e) == 0, "re-parse of %s: %s", out,
                  e.message);
    ck_assert(az_value_equal(v, w));
    hash_of(v, h1);
    hash_of(w, h2);
    ck_assert_int_eq(memcmp(h1, h2, 32), 0);
    ck_assert_int_eq(agentauthz_value_to_json(w, &out2, &len2), 0);
    ck_assert_str_eq(out, out2);
    agentauthz_free(out);
    agentauthz_free(out2);
    agentauthz_value_free(w);
}

START_TEST(test_fuzz_loop)
{
    uint64_t rng = 0x9E3779B97F4A7C15u;
    size_t ok = 0, failed = 0;
    enum { CAP = 4096, ITERATIONS = 20000 };
    for (int it = 0; it < ITERATIONS; it++) {
        const char *seed = seeds[rng_below(&rng, sizeof seeds / sizeof seeds[0])];
        char work[CAP];
        size_t len = strlen(seed);
        char *input;
        agentauthz_value *v = NULL;
        agentauthz_error e;
        int rc;
        memcpy(work, seed, len);
        len = mutate(&rng, work, len, CAP);
        input = exact(work, len);
        rc = az_json_parse(input, len, NULL, &v, &e);
        if (rc == 0) {
            ok++;
            check_stable(v);
            agentauthz_value_free(v);
        } else {
            failed++;
            ck_assert_msg(rc == AGENTAUTHZ_EJSON || rc == AGENTAUTHZ_ELIMIT, "rc %d", rc);
            ck_assert_ptr_null(v);
            ck_assert_uint_ge(e.line, 1);
            ck_assert_uint_ge(e.column, 1);
            ck_assert_uint_le(e.offset, len);
            ck_assert_uint_gt(strlen(e.message), 0);
        }
        free(input);
    }
    /* The mutator must exercise both outcomes, or the loop tests nothing. */
    ck_assert_uint_gt(ok, ITERATIONS / 50);
    ck_assert_uint_gt(failed, ITERATIONS / 2);
}
END_TEST

/* ------------------------------------------------------------------ */

static Suite *json_suite(void)
{
    Suite *s = suite_create("json");
    TCase *values = tcase_create("values");
    TCase *render = tcase_create("render");
    TCase *equal = tcase_create("equality");
    TCase *parse = tcase_create("parse");
    TCase *errors = tcase_create("errors");
    TCase *limits = tcase_create("limits");
    TCase *fuzz = tcase_create("fuzz");

    tcase_add_test(values, test_constructors);
    tcase_add_test(values, test_wrong_type_accessors);
    tcase_add_test(values, test_containers);
    tcase_add_test(values, test_ownership_on_failure);
    tcase_add_test(values, test_list_limit);
    tcase_add_test(values, test_copy);
    tcase_add_test(values, test_deep_api_values);
    tcase_set_timeout(values, 60);

    tcase_add_test(render, test_render_numbers);
    tcase_add_test(render, test_render_errors);
    tcase_add_test(render, test_render_invalid_utf8);
    tcase_add_test(render, test_roundtrip_types);

    tcase_add_test(equal, test_equality_and_hash);
    tcase_add_test(equal, test_equality_big_maps);
    tcase_add_test(equal, test_hash_args);

    tcase_add_test(parse, test_parse_numbers);
    tcase_add_test(parse, test_parse_long_numbers);
    tcase_add_test(parse, test_parse_strings);
    tcase_add_test(parse, test_parse_valid_utf8);
    tcase_add_test(parse, test_api_misuse);

    tcase_add_test(errors, test_syntax_errors);
    tcase_add_test(errors, test_duplicate_key_quote_is_cut);
    tcase_add_test(errors, test_invalid_utf8);

    tcase_add_test(limits, test_depth);
    tcase_add_test(limits, test_array_limit);
    tcase_add_test(limits, test_map_limit);
    tcase_add_test(limits, test_node_limit);
    tcase_add_test(limits, test_big_inputs);
    tcase_set_timeout(limits, 120);

    tcase_add_test(fuzz, test_fuzz_loop);
    tcase_set_timeout(fuzz, 120);

    suite_add_tcase(s, values);
    suite_add_tcase(s, render);
    suite_add_tcase(s, equal);
    suite_add_tcase(s, parse);
    suite_add_tcase(s, errors);
    suite_add_tcase(s, limits);
    suite_add_tcase(s, fuzz);
    return s;
}

int main(void)
{
    SRunner *sr;
    int failed;
    if (sodium_init() < 0)
        return 1;
    sr = srunner_create(json_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

/*
 * The leak scanner: every encoding found at every offset and alignment,
 * no false positives, buffer edges, exact scrub output, scrub leaves
 * nothing behind, large sets, bounds, and concurrent scans.
 */
#include <check.h>
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "internal.h"
#include "leak_private.h"

#define MAXSEC 64

/* Secrets for one test: names and bytes owned by the fixture. */
typedef struct fixture {
    az_leak_secret s[MAXSEC];
    char names[MAXSEC][16];
    unsigned char bytes[MAXSEC][1100];
    size_t n;
} fixture;

static void fx_add(fixture *f, const void *bytes, size_t len)
{
    size_t i = f->n++;
    ck_assert_uint_lt(i, MAXSEC);
    ck_assert_uint_le(len, sizeof f->bytes[i]);
    snprintf(f->names[i], sizeof f->names[i], "sec%zu", i);
    memcpy(f->bytes[i], bytes, len);
    f->s[i].id = (uint32_t)(1000 + i);
    f->s[i].name = f->names[i];
    f->s[i].bytes = f->bytes[i];
    f->s[i].len = len;
}

static void fx_random(fixture *f, size_t count, size_t len)
{
    unsigned char b[1100];
    for (size_t i = 0; i < count; i++) {
        randombytes_buf(b, len);
        fx_add(f, b, len);
    }
}

static az_leak_set *fx_build(const fixture *f)
{
    az_leak_set *set = NULL;
    ck_assert_int_eq(az_leak_set_build(f->s, f->n, &set), 0);
    ck_assert_ptr_nonnull(set);
    return set;
}

/* A growable test buffer (tests only: abort on OOM is fine here). */
typedef struct tbuf {
    unsigned char *p;
    size_t len, cap;
} tbuf;

static void tb_put(tbuf *b, const void *d, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        ck_assert_ptr_nonnull(b->p);
    }
    memcpy(b->p + b->len, d, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void tb_str(tbuf *b, const char *s)
{
    tb_put(b, s, strlen(s));
}

/* Random text from an alphabet that cannot form hex, base64 or raw secrets by chance. */
static void tb_noise(tbuf *b, size_t n)
{
    unsigned char c;
    for (size_t i = 0; i < n; i++) {
        c = (unsigned char)(' ' + randombytes_uniform(95));
        tb_put(b, &c, 1);
    }
}

/* Test-side percent-encoding (libsodium has none): mode 0 upper, 1 lower, 2 all. */
static void tb_pct(tbuf *b, const unsigned char *s, size_t len, int mode)
{
    const char *d = mode == 1 ? "0123456789abcdef" : "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = s[i];
        if (mode != 2 && (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~')) {
            tb_put(b, &c, 1);
        } else {
            char e[3] = {'%', d[c >> 4], d[c & 15]};
            tb_put(b, e, 3);
        }
    }
}

static void tb_hex(tbuf *b, const unsigned char *s, size_t len, int upper)
{
    char *h = malloc(2 * len + 1);
    ck_assert_ptr_nonnull(h);
    sodium_bin2hex(h, 2 * len + 1, s, len);
    for (size_t i = 0; upper && h[i]; i++)
        h[i] = (char)toupper((unsigned char)h[i]);
    tb_str(b, h);
    free(h);
}

static void tb_b64(tbuf *b, const unsigned char *s, size_t len, int variant)
{
    size_t cap = sodium_base64_encoded_len(len, variant);
    char *e = malloc(cap);
    ck_assert_ptr_nonnull(e);
    sodium_bin2base64(e, cap, s, len, variant);
    tb_str(b, e);
    free(e);
}

static const int B64_VARIANTS[4] = {
    sodium_base64_VARIANT_ORIGINAL, sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
    sodium_base64_VARIANT_URLSAFE, sodium_base64_VARIANT_URLSAFE_NO_PADDING};

/* Scans b and asserts a hit on secret i of f (and nothing else). */
static void expect_hit(const az_leak_set *set, const fixture *f, size_t i, const tbuf *b)
{
    az_leak_hit hit;
    memset(&hit, 0, sizeof hit);
    ck_assert_int_eq(az_leak_scan(set, b->p, b->len, &hit), 1);
    ck_assert_uint_eq(hit.id, f->s[i].id);
    ck_assert_str_eq(hit.name, f->names[i]);
    ck_assert_uint_le(hit.offset + hit.len, b->len);
    ck_assert_uint_ge(hit.len, 8);
}

/* ---- encodings ---- */

START_TEST(test_encodings_match_libsodium)
{
    unsigned char s[40], dst[23 * 40 + 6];
    char hex[81], b64[64];
    az_leak_enc enc[AZ_LEAK_MAX_ENC];
    size_t n = 0, used = 0, len = 8 + (size_t)_i;
    int seen_b64 = 0;
    randombytes_buf(s, len);
    ck_assert_int_eq(az_leak_encodings(s, len, dst, sizeof dst, enc, &n, &used), 0);
    ck_assert_uint_le(n, AZ_LEAK_MAX_ENC);
    ck_assert_uint_le(used, az_leak_encodings_bound(len));
    sodium_bin2hex(hex, sizeof hex, s, len);
    sodium_bin2base64(b64, sizeof b64, s, len, sodium_base64_VARIANT_ORIGINAL);
    ck_assert_int_eq(enc[0].kind, AZ_LEAK_RAW);
    ck_assert_mem_eq(dst + enc[0].off, s, len);
    ck_assert_int_eq(enc[1].kind, AZ_LEAK_HEX_LOWER);
    ck_assert_uint_eq(enc[1].len, 2 * len);
    ck_assert_mem_eq(dst + enc[1].off, hex, 2 * len);
    for (size_t k = 0; k < n; k++) {
        /* The alignment-0 core is the full encoding minus the trailing partial character. */
        if (enc[k].kind == AZ_LEAK_BASE64 && enc[k].align == 0) {
            ck_assert_uint_eq(enc[k].len, 8 * len / 6);
            ck_assert_mem_eq(dst + enc[k].off, b64, enc[k].len);
            seen_b64 = 1;
        }
        ck_assert_uint_ge(enc[k].len, 8);
        /* No two patterns are the same. */
        for (size_t j = 0; j < k; j++)
            ck_assert(enc[j].len != enc[k].len ||
                      memcmp(dst + enc[j].off, dst + enc[k].off, enc[k].len) != 0);
    }
    ck_assert(seen_b64);
}
END_TEST

START_TEST(test_encodings_dedup_and_bounds)
{
    /* Alphanumeric: both "reserved only" percent forms equal the raw bytes. */
    const unsigned char s[] = "abcdefgh12345678";
    unsigned char dst[23 * 16 + 6], small[10];
    az_leak_enc enc[AZ_LEAK_MAX_ENC];
    size_t n = 0, used = 0;
    ck_assert_int_eq(az_leak_encodings(s, 16, dst, sizeof dst, enc, &n, &used), 0);
    for (size_t k = 0; k < n; k++) {
        ck_assert_int_ne(enc[k].kind, AZ_LEAK_PERCENT);
        ck_assert_int_ne(enc[k].kind, AZ_LEAK_PERCENT_LOWER);
    }
    ck_assert_int_eq(enc[n - 1].kind, AZ_LEAK_PERCENT_ALL);
    ck_assert_uint_eq(enc[n - 1].len, 48);
    ck_assert_mem_eq(dst + enc[n - 1].off, "%61%62%63%64", 12);
    /* Refusals: too short, too long, too small a destination, NULLs. */
    ck_assert_int_eq(az_leak_encodings(s, 7, dst, sizeof dst, enc, &n, &used), AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(az_leak_encodings(s, 16, small, sizeof small, enc, &n, &used),
                     AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(az_leak_encodings(NULL, 16, dst, sizeof dst, enc, &n, &used),
                     AGENTAUTHZ_EINVAL);
    ck_assert_uint_eq(az_leak_encodings_bound(7), 0);
    ck_assert_uint_eq(az_leak_encodings_bound(AZ_LEAK_MAX_SECRET + 1), 0);
    ck_assert_uint_eq(az_leak_encodings_bound(8), 23 * 8 + 6);
    ck_assert_str_eq(az_leak_kind_name(AZ_LEAK_BASE64URL), "base64url");
    ck_assert_str_eq(az_leak_kind_name(AZ_LEAK_PERCENT_ALL), "percent");
}
END_TEST

/*
 * A test-side reference of az_leak_encodings, written for clarity: every
 * candidate in az_leak_kind order, the base64 cores cut from libsodium's
 * encoding of the secret behind align zero bytes, duplicates dropped.
 */
typedef struct ref_enc {
    az_leak_kind kind[3 * AZ_LEAK_MAX_ENC];
    unsigned align[3 * AZ_LEAK_MAX_ENC];
    tbuf pat[3 * AZ_LEAK_MAX_ENC];
    size_t n;
} ref_enc;

static void ref_keep(ref_enc *r, az_leak_kind kind, unsigned align, tbuf *b)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->pat[i].len == b->len && memcmp(r->pat[i].p, b->p, b->len) == 0) {
            free(b->p);
            return;
        }
    r->kind[r->n] = kind;
    r->align[r->n] = align;
    r->pat[r->n++] = *b;
}

/* The characters of the encoding whose 6 bits all come from the secret's bytes. */
static void ref_b64core(tbuf *out, const unsigned char *s, size_t len, unsigned align, int variant)
{
    unsigned char *in = calloc(1, len + 2);
    tbuf e = {0};
    ck_assert_ptr_nonnull(in);
    memcpy(in + align, s, len);
    tb_b64(&e, in, align + len, variant);
    for (size_t k = 0; k < e.len; k++)
        if (6 * k >= 8 * align && 6 * k + 6 <= 8 * (align + len))
            tb_put(out, &e.p[k], 1);
    free(e.p);
    free(in);
}

static void ref_encodings(ref_enc *r, const unsigned char *s, size_t len)
{
    tbuf b;
    memset(r, 0, sizeof *r);
    b = (tbuf){0};
    tb_put(&b, s, len);
    ref_keep(r, AZ_LEAK_RAW, 0, &b);
    /* Hex in lowercase only: the matcher folds case (uppercase and mixed are found too). */
    b = (tbuf){0};
    tb_hex(&b, s, len, 0);
    ref_keep(r, AZ_LEAK_HEX_LOWER, 0, &b);
    for (int form = 0; form < 2; form++) {
        b = (tbuf){0};
        for (size_t i = 0; i < len; i++) {
            char h[8];
            snprintf(h, sizeof h, "%s%02x", i ? (form ? " " : ":") : "", s[i]);
            tb_str(&b, h);
        }
        ref_keep(r, (az_leak_kind)(AZ_LEAK_HEX_COLON + form), 0, &b);
    }
    for (unsigned a = 0; a < 3; a++)
        for (int url = 0; url < 2; url++) {
            b = (tbuf){0};
            ref_b64core(&b, s, len, a,
                        url ? sodium_base64_VARIANT_URLSAFE_NO_PADDING
                            : sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
            ref_keep(r, url ? AZ_LEAK_BASE64URL : AZ_LEAK_BASE64, a, &b);
        }
    /* Uppercase only: lowercase and mixed-case hex digits are found by folding. */
    for (int mode = 0; mode < 3; mode += 2) {
        b = (tbuf){0};
        tb_pct(&b, s, len, mode);
        ref_keep(r, (az_leak_kind)(AZ_LEAK_PERCENT + mode), 0, &b);
    }
}

/* az_leak_encodings gives exactly the reference's patterns, packed in order. */
static void expect_reference(const unsigned char *s, size_t len)
{
    size_t bound = az_leak_encodings_bound(len), n = 0, used = 0, off = 0;
    unsigned char *dst = malloc(bound);
    az_leak_enc enc[AZ_LEAK_MAX_ENC];
    ref_enc r;
    ck_assert_ptr_nonnull(dst);
    ref_encodings(&r, s, len);
    ck_assert_int_eq(az_leak_encodings(s, len, dst, bound, enc, &n, &used), 0);
    ck_assert_uint_eq(n, r.n);
    for (size_t k = 0; k < n; k++) {
        ck_assert_int_eq(enc[k].kind, r.kind[k]);
        ck_assert_uint_eq(enc[k].align, r.align[k]);
        ck_assert_uint_eq(enc[k].off, off);
        ck_assert_uint_eq(enc[k].len, r.pat[k].len);
        ck_assert_mem_eq(dst + enc[k].off, r.pat[k].p, enc[k].len);
        off += enc[k].len;
        free(r.pat[k].p);
    }
    ck_assert_uint_eq(used, off);
    free(dst);
}

/* Random, text-like, every byte value, and degenerate secrets, at lengths 8 to 72 and long. */
START_TEST(test_encodings_match_reference)
{
    static const char text[] = "ABCxyz019-._~+/%= &?";
    unsigned char s[1024];
    size_t len = _i < 65 ? 8 + (size_t)_i : (size_t)(_i - 64) * 200;
    randombytes_buf(s, len);
    expect_reference(s, len);
    for (size_t i = 0; i < len; i++)
        s[i] = (unsigned char)text[randombytes_uniform(sizeof text - 1)];
    expect_reference(s, len);
    for (size_t i = 0; i < len; i++)
        s[i] = (unsigned char)(i * 7 + (size_t)_i);
    expect_reference(s, len);
    memset(s, 'a', len);
    expect_reference(s, len);
    memset(s, 0xfb, len); /* base64 of 0xfb bytes is all '+' and '/' */
    expect_reference(s, len);
}
END_TEST

/* ---- detection ---- */

/* Every direct encoding of every secret, at offsets 0..3 inside random text. */
START_TEST(test_detect_every_encoding)
{
    fixture f = {0};
    az_leak_set *set;
    size_t len = 8 + (size_t)_i * 5;
    fx_random(&f, 20, len);
    set = fx_build(&f);
    for (size_t i = 0; i < f.n; i++)
        for (int form = 0; form < 10; form++)
            for (size_t off = 0; off < 4; off++) {
                tbuf b = {0};
                tb_noise(&b, off);
                if (form == 0)
                    tb_put(&b, f.bytes[i], len);
                else if (form <= 2)
                    tb_hex(&b, f.bytes[i], len, form == 2);
                else if (form <= 6)
                    tb_b64(&b, f.bytes[i], len, B64_VARIANTS[form - 3]);
                else
                    tb_pct(&b, f.bytes[i], len, form - 7);
                tb_noise(&b, 3 - off + (size_t)randombytes_uniform(50));
                expect_hit(set, &f, i, &b);
                free(b.p);
            }
    az_leak_set_free(set);
}
END_TEST

/* The secret inside a larger base64 text, at each of the three byte alignments. */
START_TEST(test_detect_base64_alignments)
{
    fixture f = {0};
    az_leak_set *set;
    size_t len = 8 + (size_t)_i * 3;
    fx_random(&f, 10, len);
    set = fx_build(&f);
    for (size_t i = 0; i < f.n; i++)
        for (size_t pre = 0; pre < 9; pre++)
            for (int v = 0; v < 4; v++) {
                unsigned char raw[200];
                tbuf b = {0}, out = {0};
                size_t post = (size_t)randombytes_uniform(7);
                randombytes_buf(raw, sizeof raw);
                memcpy(raw + pre, f.bytes[i], len);
                tb_b64(&b, raw, pre + len + post, B64_VARIANTS[v]);
                /* Inside JSON, at some text offset, too. */
                tb_str(&out, "{\"data\":\"");
                tb_put(&out, b.p, b.len);
                tb_str(&out, "\"}");
                expect_hit(set, &f, i, &b);
                expect_hit(set, &f, i, &out);
                free(b.p);
                free(out.p);
            }
    az_leak_set_free(set);
}
END_TEST

START_TEST(test_detect_percent_in_url)
{
    fixture f = {0};
    az_leak_set *set;
    const unsigned char tricky[] = "p@ss w/rd&x=1?#%";
    fx_random(&f, 10, 24);
    fx_add(&f, tricky, sizeof tricky - 1);
    set = fx_build(&f);
    for (size_t i = 0; i < f.n; i++)
        for (int mode = 0; mode < 3; mode++) {
            tbuf b = {0};
            tb_str(&b, "https://api.example.com/v1/upload?user=bob&token=");
            tb_pct(&b, f.bytes[i], f.s[i].len, mode);
            tb_str(&b, "&next=%2Fhome");
            expect_hit(set, &f, i, &b);
            free(b.p);
        }
    az_leak_set_free(set);
}
END_TEST

START_TEST(test_hit_fields)
{
    fixture f = {0};
    az_leak_set *set;
    az_leak_hit hit;
    tbuf b = {0};
    fx_add(&f, "correct horse battery", 21);
    set = fx_build(&f);
    tb_str(&b, "0123456789");
    tb_hex(&b, f.bytes[0], 21, 1);
    ck_assert_int_eq(az_leak_scan(set, b.p, b.len, &hit), 1);
    ck_assert_uint_eq(hit.id, 1000);
    ck_assert_str_eq(hit.name, "sec0");
    /* Uppercase hex is found by the (only) hex pattern, whose digits compare without case. */
    ck_assert_int_eq(hit.kind, AZ_LEAK_HEX_LOWER);
    ck_assert_uint_eq(hit.offset, 10);
    ck_assert_uint_eq(hit.len, 42);
    /* The hit pointer is optional. */
    ck_assert_int_eq(az_leak_scan(set, b.p, b.len, NULL), 1);
    free(b.p);
    az_leak_set_free(set);
}
END_TEST

/* At the very start and end, for every buffer length over a few probe strides. */
START_TEST(test_edges_of_buffer)
{
    fixture f = {0};
    az_leak_set *set;
    unsigned char buf[200];
    size_t len = 8 + (size_t)_i * 7;
    az_leak_hit hit;
    fx_random(&f, 3, len);
    set = fx_build(&f);
    for (size_t total = len; total <= len + 3 * len && total <= sizeof buf; total++) {
        memset(buf, '.', total);
        memcpy(buf, f.bytes[1], len);
        ck_assert_int_eq(az_leak_scan(set, buf, total, &hit), 1);
        ck_assert_uint_eq(hit.offset, 0);
        memset(buf, '.', total);
        memcpy(buf + total - len, f.bytes[2], len);
        ck_assert_int_eq(az_leak_scan(set, buf, total, &hit), 1);
        ck_assert_uint_eq(hit.id, 1002);
        ck_assert_uint_eq(hit.offset, total - len);
        /* The same secret cut short by one byte at either end is not a leak. */
        ck_assert_int_eq(az_leak_scan(set, buf, total - 1, &hit), 0);
        ck_assert_int_eq(az_leak_scan(set, buf + total - len + 1, len - 1, &hit), 0);
    }
    az_leak_set_free(set);
}
END_TEST

START_TEST(test_short_and_empty_buffers)
{
    fixture f = {0};
    az_leak_set *set, *empty = NULL;
    az_buf out = {0};
    fx_random(&f, 2, 16);
    set = fx_build(&f);
    for (size_t n = 0; n < 16; n++)
        ck_assert_int_eq(az_leak_scan(set, f.bytes[0], n, NULL), 0);
    ck_assert_int_eq(az_leak_scan(set, NULL, 0, NULL), 0);
    ck_assert_int_eq(az_leak_scan(set, NULL, 5, NULL), AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(az_leak_scan(NULL, f.bytes[0], 16, NULL), 0);
    ck_assert_int_eq(az_leak_set_build(NULL, 0, &empty), 0);
    ck_assert_int_eq(az_leak_scan(empty, f.bytes[0], 16, NULL), 0);
    ck_assert_uint_eq(az_leak_set_patterns(empty), 0);
    ck_assert_int_eq(az_leak_scrub(empty, "abcdefghijkl", 12, &out), 0);
    ck_assert_str_eq(out.p, "abcdefghijkl");
    out.len = 0;
    ck_assert_int_eq(az_leak_scrub(set, NULL, 0, &out), 0);
    ck_assert_uint_eq(out.len, 0);
    ck_assert_int_eq(az_leak_scrub(set, NULL, 3, &out), AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(az_leak_scrub(set, "x", 1, NULL), AGENTAUTHZ_EINVAL);
    az_buf_free(&out);
    az_leak_set_free(empty);
    az_leak_set_free(set);
    az_leak_set_free(NULL);
}
END_TEST

/* ---- no false positives ---- */

START_TEST(test_no_false_positive_10mb)
{
    const size_t total = 10u * 1024u * 1024u;
    unsigned char *buf = malloc(total);
    az_leak_secret *s = calloc(1000, sizeof *s);
    unsigned char(*bytes)[32] = malloc(1000 * 32);
    char(*names)[16] = malloc(1000 * 16);
    az_leak_set *set = NULL;
    az_buf out = {0};
    ck_assert(buf && s && bytes && names);
    for (size_t i = 0; i < 1000; i++) {
        randombytes_buf(bytes[i], 32);
        snprintf(names[i], 16, "k%zu", i);
        s[i] = (az_leak_secret){
            .id = (uint32_t)i, .name = names[i], .bytes = bytes[i], .len = 32};
    }
    ck_assert_int_eq(az_leak_set_build(s, 1000, &set), 0);
    ck_assert_uint_ge(az_leak_set_patterns(set), 1000 * 10);
    randombytes_buf(buf, total);
    ck_assert_int_eq(az_leak_scan(set, buf, total, NULL), 0);
    /* Random hex and base64 text, the alphabets of most patterns. */
    for (size_t i = 0; i < total; i++)
        buf[i] = (unsigned char)"0123456789abcdef"[buf[i] & 15];
    ck_assert_int_eq(az_leak_scan(set, buf, total, NULL), 0);
    randombytes_buf(buf, total);
    for (size_t i = 0; i < total; i++)
        buf[i] = (unsigned char)"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
            [buf[i] & 63];
    ck_assert_int_eq(az_leak_scan(set, buf, total, NULL), 0);
    out.max = total + 1;
    ck_assert_int_eq(az_leak_scrub(set, buf, total, &out), 0);
    ck_assert_uint_eq(out.len, total);
    ck_assert_mem_eq(out.p, buf, total);
    az_buf_free(&out);
    az_leak_set_free(set);
    free(buf);
    free(s);
    free(bytes);
    free(names);
}
END_TEST

/* ---- scrub ---- */

static char *scrub_str(const az_leak_set *set, const char *in)
{
    az_buf out = {0};
    ck_assert_int_eq(az_leak_scrub(set, in, strlen(in), &out), 0);
    ck_assert_ptr_nonnull(out.p);
    return out.p;
}

#define ASSERT_SCRUB(set, in, want)      \
    do {                                 \
        char *got_ = scrub_str(set, in); \
        ck_assert_str_eq(got_, want);    \
        free(got_);                      \
    } while (0)

START_TEST(test_scrub_exact)
{
    fixture f = {0};
    az_leak_set *set;
    tbuf b = {0};
    char want[256];
    fx_add(&f, "sup3rs3cr3tAAAA", 15); /* sec0 */
    fx_add(&f, "XYZ_0123456789", 14);  /* sec1 */
    fx_add(&f, "abcdefghij", 10);      /* sec2 */
    fx_add(&f, "ghijklmnop", 10);      /* sec3 */
    fx_add(&f, "qrstuvwx", 8);         /* sec4 */
    fx_add(&f, "qrstuvwxyz12", 12);    /* sec5 */
    set = fx_build(&f);
    ASSERT_SCRUB(set, "nothing here at all", "nothing here at all");
    ASSERT_SCRUB(set, "a=sup3rs3cr3tAAAA b=XYZ_0123456789.",
                 "a=[redacted:sec0] b=[redacted:sec1].");
    /* Overlapping occurrences of two secrets: one marker over the union. */
    ASSERT_SCRUB(set, "<abcdefghijklmnop>", "<[redacted:sec2]>");
    /* Adjacent occurrences: one marker each. */
    ASSERT_SCRUB(set, "sup3rs3cr3tAAAAsup3rs3cr3tAAAA", "[redacted:sec0][redacted:sec0]");
    /* The longest match wins at a position. */
    ASSERT_SCRUB(set, "qrstuvwxyz12!", "[redacted:sec5]!");
    ASSERT_SCRUB(set, "qrstuvwxyz1", "[redacted:sec4]yz1");
    /* Hex and percent forms. */
    tb_str(&b, "k=");
    tb_hex(&b, f.bytes[1], 14, 0);
    tb_str(&b, "&u=");
    tb_pct(&b, f.bytes[1], 14, 2);
    ASSERT_SCRUB(set, (char *)b.p, "k=[redacted:sec1]&u=[redacted:sec1]");
    /*
     * Padded base64 of a 15-byte secret: 20 characters, all from the
     * secret; of a 14-byte one: 18 core characters, then a partial one and
     * "=", which stay.
     */
    b.len = 0;
    tb_b64(&b, f.bytes[0], 15, sodium_base64_VARIANT_ORIGINAL);
    ck_assert_uint_eq(b.len, 20);
    ASSERT_SCRUB(set, (char *)b.p, "[redacted:sec0]");
    b.len = 0;
    tb_b64(&b, f.bytes[1], 14, sodium_base64_VARIANT_ORIGINAL);
    ck_assert_uint_eq(b.len, 20);
    snprintf(want, sizeof want, "[redacted:sec1]%c=", b.p[18]);
    ASSERT_SCRUB(set, (char *)b.p, want);
    free(b.p);
    az_leak_set_free(set);
}
END_TEST

/* ---- evasions: encodings an agent can be talked into (issue 9, item 12) ---- */

/* Hex with case flipped at random: at least one capital and one small letter. */
static void tb_hex_mixed(tbuf *b, const unsigned char *s, size_t len, const char *sep,
                         const char *prefix)
{
    static const char d[] = "0123456789abcdef";
    int seen = 0;
    for (size_t i = 0; i < len; i++) {
        char h[3] = {d[s[i] >> 4], d[s[i] & 15], 0};
        for (int k = 0; k < 2; k++)
            if (h[k] >= 'a' && (seen == 0 || (seen == 1 && h[k] != 'a') || randombytes_uniform(2)))
                h[k] = (char)toupper((unsigned char)h[k]), seen |= 1;
        if (i && sep)
            tb_str(b, sep);
        if (prefix)
            tb_str(b, prefix);
        tb_str(b, h);
    }
}

/* base64 of s behind pre random bytes, wrapped at width columns with eol. */
static void tb_b64_wrapped(tbuf *b, const unsigned char *s, size_t len, size_t pre, size_t width,
                           const char *eol, const char *indent)
{
    unsigned char in[600];
    tbuf e = {0};
    ck_assert_uint_le(pre + len, sizeof in);
    randombytes_buf(in, pre);
    memcpy(in + pre, s, len);
    tb_b64(&e, in, pre + len, sodium_base64_VARIANT_ORIGINAL);
    for (size_t i = 0; i < e.len; i += width) {
        if (i) {
            tb_str(b, eol);
            tb_str(b, indent);
        }
        tb_put(b, e.p + i, e.len - i < width ? e.len - i : width);
    }
    free(e.p);
}

/* Writes evasion how of s into b (between noise); returns its name. */
static const char *tb_evasion(tbuf *b, const unsigned char *s, size_t len, int how)
{
    static const char d[] = "0123456789abcdef";
    size_t pre = randombytes_uniform(3);
    switch (how) {
    case 0: tb_hex_mixed(b, s, len, NULL, NULL); return "mixed-case hex";
    case 1: tb_hex_mixed(b, s, len, ":", NULL); return "hex with ':'";
    case 2: tb_hex_mixed(b, s, len, " ", NULL); return "hex with spaces";
    case 3: tb_hex_mixed(b, s, len, NULL, "\\x"); return "\\xNN escapes";
    case 4: tb_pct(b, s, len, 1); return "percent, lowercase, reserved";
    case 5:
        for (size_t i = 0; i < len; i++) {
            char e[4] = {'%', d[s[i] >> 4], d[s[i] & 15], 0};
            tb_str(b, e);
        }
        return "percent, lowercase, every byte";
    case 6:
        for (size_t i = 0; i < len; i++) {
            char e[6] = {'%', '2', '5', "0123456789ABCDEF"[s[i] >> 4],
                         "0123456789ABCDEF"[s[i] & 15], 0};
            tb_str(b, e);
        }
        return "double percent-encoding";
    case 7:
        for (size_t i = 0; i < len; i++) {
            char e[8] = {'%', '2', '5', '2', '5', d[s[i] >> 4], d[s[i] & 15], 0};
            tb_str(b, e);
        }
        return "triple percent-encoding";
    case 8: tb_b64_wrapped(b, s, len, pre, 76, "\r\n", ""); return "MIME base64";
    case 9: tb_b64_wrapped(b, s, len, pre, 64, "\n", ""); return "PEM base64";
    case 10: tb_b64_wrapped(b, s, len, pre, 16, "\n", "    "); return "indented base64";
    case 11: tb_b64_wrapped(b, s, len, pre, 64, "\\n", ""); return "base64 with JSON \\n";
    case 12:
        for (size_t i = 0; i < len; i++) {
            char e[8];
            snprintf(e, sizeof e, "\\u00%02x", s[i]);
            tb_str(b, e);
        }
        return "JSON \\u00XX";
    default:
        for (size_t i = 0; i < len; i++) {
            char e[8];
            snprintf(e, sizeof e, "\\u00%02X", s[i]);
            tb_str(b, e);
        }
        return "JSON \\u00XX, capitals";
    }
}
#define EVASIONS 14

/* Each evasion is found by scan and removed by scrub, for secrets of several lengths. */
START_TEST(test_evasions_caught)
{
    fixture f = {0};
    az_leak_set *set;
    static const size_t lens[] = {8, 13, 24, 32, 47, 100};
    for (size_t k = 0; k < sizeof lens / sizeof *lens; k++)
        fx_random(&f, 1, lens[k]);
    set = fx_build(&f);
    for (size_t i = 0; i < f.n; i++)
        for (int round = 0; round < 4; round++) {
            tbuf b = {0};
            az_buf out = {0};
            const char *what;
            /* The space keeps a backslash of the noise from escaping the first one of \\xNN. */
            tb_noise(&b, randombytes_uniform(5));
            tb_str(&b, " ");
            what = tb_evasion(&b, f.bytes[i], f.s[i].len, _i);
            tb_noise(&b, randombytes_uniform(5));
            ck_assert_msg(az_leak_scan(set, b.p, b.len, NULL) == 1, "%s of sec%zu missed", what,
                          i);
            expect_hit(set, &f, i, &b);
            out.max = 4 * b.len + 64;
            ck_assert_int_eq(az_leak_scrub(set, b.p, b.len, &out), 0);
            ck_assert_msg(memmem(out.p, out.len, "[redacted:sec", 13) != NULL,
                          "%s of sec%zu not scrubbed", what, i);
            ck_assert_msg(az_leak_scan(set, out.p, out.len, NULL) == 0,
                          "%s of sec%zu left after scrub", what, i);
            az_buf_free(&out);
            free(b.p);
        }
    az_leak_set_free(set);
}
END_TEST

/* Scrub replaces exactly the input bytes a decoded match comes from. */
START_TEST(test_scrub_decoded_positions)
{
    fixture f = {0};
    az_leak_set *set;
    tbuf b = {0};
    fx_add(&f, "opensesame-42", 13);
    set = fx_build(&f);
    ASSERT_SCRUB(set, "a=open%73esame-42&b", "a=[redacted:sec0]&b");
    ASSERT_SCRUB(set, "a=open%2573esame-42&b", "a=[redacted:sec0]&b");
    ASSERT_SCRUB(set, "{\"k\":\"\\u006fpensesame-4\\u0032\"}", "{\"k\":\"[redacted:sec0]\"}");
    ASSERT_SCRUB(set, "x\\x6fpensesame\\x2d42 y", "x[redacted:sec0] y");
    ASSERT_SCRUB(set, "6F70656E73\n  6573616D652D3432!", "[redacted:sec0]!");
    ASSERT_SCRUB(set, "6f:70:65:6E:73:65:73:61:6d:65:2D:34:32.", "[redacted:sec0].");
    /* Not a secret: the text around a line break is left as it is. */
    ASSERT_SCRUB(set, "open\nsesame-42", "[redacted:sec0]");
    ASSERT_SCRUB(set, "plain text\n  with lines\r\n", "plain text\n  with lines\r\n");
    free(b.p);
    az_leak_set_free(set);
}
END_TEST

/* The view: each rule, and text it must leave alone. */
START_TEST(test_normalise_rules)
{
    static const struct {
        const char *in, *out;
        int changed;
    } cases[] = {
        {"abc", "abc", 0},
        {"a%41b", "aAb", 1},
        {"a%2541b%252525%34%31", "aAb%41", 1},
        {"100%", "100%", 0},
        {"%zz %4", "%zz %4", 0},
        {"\\u0041\\u00e9\\u20ac", "A\xe9\xe2\x82\xac", 1},
        {"\\x41\\x4G\\q\\/\\\\\\\"", "A\\x4G\\q/\\\"", 1},
        {"ab  \r\n   cd\nef", "abcdef", 1},
        {"ab\\ncd\\r\\nef", "abcdef", 1},
        {"a b\tc", "a b\tc", 0},
        /* A run's last '%' keeps the run's layers though hex digits follow
         * (test_evasions_caught missed such a secret about once a hundred runs). */
        {"%255C%25258BCE", "\\%8BCE", 1},
        {"%25255C%2525258B", "\\%8B", 1},
        {"%5C%258B", "\\%8B", 1},
        /* Alone, the same bytes are 0x8B encoded three times. */
        {"%25258B", "\x8b", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        unsigned char out[64];
        size_t len = strlen(cases[i].in), outlen = 99;
        ck_assert_int_eq(az_leak_normalise(cases[i].in, len, out, &outlen), cases[i].changed);
        ck_assert_uint_eq(outlen, strlen(cases[i].out));
        ck_assert_mem_eq(out, cases[i].out, outlen);
    }
}
END_TEST

/* The view is written a block at a time for long inputs: a match across blocks is found. */
START_TEST(test_evasion_across_blocks)
{
    fixture f = {0};
    az_leak_set *set;
    tbuf b = {0};
    size_t at = 64 * 1024 - 40 + (size_t)_i * 13;
    fx_random(&f, 3, 32);
    set = fx_build(&f);
    tb_noise(&b, at);
    tb_b64_wrapped(&b, f.bytes[1], 32, 1, 20, "\r\n", "  ");
    tb_str(&b, "\n");
    tb_noise(&b, 200 * 1024);
    expect_hit(set, &f, 1, &b);
    {
        az_buf out = {0};
        out.max = 2 * b.len;
        ck_assert_int_eq(az_leak_scrub(set, b.p, b.len, &out), 0);
        ck_assert_int_eq(az_leak_scan(set, out.p, out.len, NULL), 0);
        ck_assert_uint_lt(out.len, b.len);
        az_buf_free(&out);
    }
    free(b.p);
    az_leak_set_free(set);
}
END_TEST

/*
 * Inputs longer than one block of the view: the input walk runs a block
 * ahead of the view's. Escapes that shrink a lot ("%252525...41") let the
 * view finish while the input walk is still far behind: a raw secret at the
 * end must still be found (as raw: the input's match comes first), even
 * one that holds "%41" and "\\n" and so is not in the view; and with an
 * encoded one early and a raw one late, the raw one is reported.
 */
START_TEST(test_long_input_walks_interleave)
{
    fixture f = {0};
    az_leak_set *set;
    tbuf b = {0};
    az_leak_hit hit;
    for (int k = 0; k < 2; k++) {
        unsigned char v[32];
        randombytes_buf(v, sizeof v);
        memcpy(v + 10, "%41", 3);
        memcpy(v + 20, "\\n", 2);
        fx_add(&f, v, sizeof v);
    }
    set = fx_build(&f);
    for (int k = 0; k < 40000; k++)
        tb_str(&b, _i ? "%2525252541\n" : "%25252525252525252541");
    tb_noise(&b, 1000);
    tb_put(&b, f.bytes[_i], 32);
    tb_noise(&b, 100);
    memset(&hit, 0, sizeof hit);
    ck_assert_int_eq(az_leak_scan(set, b.p, b.len, &hit), 1);
    ck_assert_uint_eq(hit.id, f.s[_i].id);
    ck_assert(!hit.decoded);
    ck_assert_uint_eq(hit.offset, b.len - 132);
    /* An encoded secret in the first block, the raw one still at the end. */
    b.len = 0;
    tb_noise(&b, 100);
    tb_b64_wrapped(&b, f.bytes[1 - _i], 32, 0, 10, "\n", "");
    for (int k = 0; k < 40000; k++)
        tb_str(&b, "%2525252541");
    tb_put(&b, f.bytes[_i], 32);
    memset(&hit, 0, sizeof hit);
    ck_assert_int_eq(az_leak_scan(set, b.p, b.len, &hit), 1);
    ck_assert_uint_eq(hit.id, f.s[_i].id);
    ck_assert(!hit.decoded);
    free(b.p);
    az_leak_set_free(set);
}
END_TEST

START_TEST(test_scrub_leaves_nothing)
{
    fixture f = {0};
    az_leak_set *set;
    tbuf b = {0};
    az_buf out = {0};
    size_t count = 0;
    fx_random(&f, 8, 12);
    fx_random(&f, 8, 33);
    fx_random(&f, 4, 300);
    set = fx_build(&f);
    for (int round = 0; round < 400; round++) {
        size_t i = randombytes_uniform((uint32_t)f.n);
        size_t len = f.s[i].len;
        int form = (int)randombytes_uniform(10);
        tb_noise(&b, randombytes_uniform(4));
        if (form == 0)
            tb_put(&b, f.bytes[i], len);
        else if (form <= 2)
            tb_hex(&b, f.bytes[i], len, form == 2);
        else if (form <= 6)
            tb_b64(&b, f.bytes[i], len, B64_VARIANTS[form - 3]);
        else
            tb_pct(&b, f.bytes[i], len, form - 7);
    }
    ck_assert_int_eq(az_leak_scan(set, b.p, b.len, NULL), 1);
    out.max = 4 * b.len;
    ck_assert_int_eq(az_leak_scrub(set, b.p, b.len, &out), 0);
    ck_assert_int_eq(az_leak_scan(set, out.p, out.len, NULL), 0);
    for (const char *q = out.p; (q = strstr(q, "[redacted:sec")) != NULL; q++)
        count++;
    /* Adjacent occurrences of one secret may in rare cases overlap and merge. */
    ck_assert_uint_ge(count, 380);
    ck_assert_uint_le(count, 400);
    /* Scrubbing the scrubbed output changes nothing. */
    {
        az_buf again = {0};
        again.max = 4 * b.len;
        ck_assert_int_eq(az_leak_scrub(set, out.p, out.len, &again), 0);
        ck_assert_uint_eq(again.len, out.len);
        ck_assert_mem_eq(again.p, out.p, out.len);
        az_buf_free(&again);
    }
    az_buf_free(&out);
    free(b.p);
    az_leak_set_free(set);
}
END_TEST

START_TEST(test_scrub_limit)
{
    fixture f = {0};
    az_leak_set *set;
    az_buf out = {0};
    fx_add(&f, "abcdefgh", 8);
    set = fx_build(&f);
    /* The marker is longer than the secret: the output grows past the cap. */
    out.max = 20;
    ck_assert_int_eq(az_leak_scrub(set, "abcdefgh abcdefgh", 17, &out), AGENTAUTHZ_ELIMIT);
    az_buf_free(&out);
    /* Every position a match: 1000 'a's against a secret of eight 'a's. */
    {
        fixture g = {0};
        az_leak_set *s2;
        char in[1000];
        memset(in, 'a', sizeof in);
        fx_add(&g, "aaaaaaaa", 8);
        s2 = fx_build(&g);
        out.max = 0;
        ck_assert_int_eq(az_leak_scrub(s2, in, sizeof in, &out), 0);
        ck_assert_str_eq(out.p, "[redacted:sec0]");
        az_buf_free(&out);
        az_leak_set_free(s2);
    }
    az_leak_set_free(set);
}
END_TEST

/* ---- build ---- */

START_TEST(test_build_refusals)
{
    fixture f = {0};
    az_leak_set *set = (az_leak_set *)&f; /* must be reset to NULL on failure */
    char longname[AZ_MAX_NAME + 2];
    static unsigned char big[AZ_LEAK_MAX_SECRET + 1];
    fx_add(&f, "1234567", 7);
    ck_assert_int_eq(az_leak_set_build(f.s, 1, &set), AGENTAUTHZ_EINVAL);
    ck_assert_ptr_null(set);
    f.s[0].len = 0;
    ck_assert_int_eq(az_leak_set_build(f.s, 1, &set), AGENTAUTHZ_EINVAL);
    f.s[0].bytes = big;
    f.s[0].len = sizeof big;
    ck_assert_int_eq(az_leak_set_build(f.s, 1, &set), AGENTAUTHZ_EINVAL);
    f.s[0].len = AZ_LEAK_MAX_SECRET;
    ck_assert_int_eq(az_leak_set_build(f.s, 1, &set), 0);
    az_leak_set_free(set);
    f.s[0].bytes = NULL;
    ck_assert_int_eq(az_leak_set_build(f.s, 1, &set), AGENTAUTHZ_EINVAL);
    f.s[0].bytes = "12345678";
    f.s[0].len = 8;
    f.s[0].name = "";
    ck_assert_int_eq(az_leak_set_build(f.s, 1, &set), AGENTAUTHZ_EINVAL);
    f.s[0].name = "bad]name";
    ck_assert_int_eq(az_leak_set_build(f.s, 1, &set), AGENTAUTHZ_EINVAL);
    f.s[0].name = NULL;
    ck_assert_int_eq(az_leak_set_build(f.s, 1, &set), AGENTAUTHZ_EINVAL);
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    f.s[0].name = longname;
    ck_assert_int_eq(az_leak_set_build(f.s, 1, &set), AGENTAUTHZ_EINVAL);
    longname[AZ_MAX_NAME] = 0;
    ck_assert_int_eq(az_leak_set_build(f.s, 1, &set), 0);
    az_leak_set_free(set);
    ck_assert_int_eq(az_leak_set_build(NULL, 1, &set), AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(az_leak_set_build(f.s, 1, NULL), AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(az_leak_set_build(f.s, AZ_LEAK_MAX_SECRETS + 1, &set), AGENTAUTHZ_ELIMIT);
}
END_TEST

/* Secrets of mixed lengths: one 8-byte secret makes every position a probe. */
START_TEST(test_mixed_and_long_secrets)
{
    fixture f = {0};
    az_leak_set *set;
    unsigned char buf[3000];
    fx_random(&f, 2, 8);
    fx_random(&f, 2, 1000); /* stride capped at AZ_LEAK_MAX_STEP when alone */
    set = fx_build(&f);
    for (size_t i = 0; i < f.n; i++)
        for (size_t off = 0; off < 300; off += 37) {
            memset(buf, ' ', sizeof buf);
            memcpy(buf + off, f.bytes[i], f.s[i].len);
            ck_assert_int_eq(az_leak_scan(set, buf, off + f.s[i].len + 5, NULL), 1);
        }
    az_leak_set_free(set);
    memmove(&f.s[0], &f.s[2], 2 * sizeof f.s[0]);
    f.n = 2;
    set = fx_build(&f);
    for (size_t off = 0; off < 600; off++) {
        memset(buf, ' ', sizeof buf);
        memcpy(buf + off, f.s[1].bytes, 1000);
        ck_assert_int_eq(az_leak_scan(set, buf, off + 1000, NULL), 1);
        ck_assert_int_eq(az_leak_scan(set, buf, off + 999, NULL), 0);
    }
    az_leak_set_free(set);
}
END_TEST

START_TEST(test_ten_thousand_secrets)
{
    const size_t n = 10000;
    az_leak_secret *s = calloc(n, sizeof *s);
    unsigned char(*bytes)[32] = malloc(n * 32);
    char(*names)[16] = malloc(n * 16);
    unsigned char *buf = malloc(1u << 20);
    az_leak_set *set = NULL;
    az_leak_hit hit;
    tbuf b = {0};
    ck_assert(s && bytes && names && buf);
    for (size_t i = 0; i < n; i++) {
        randombytes_buf(bytes[i], 32);
        snprintf(names[i], 16, "k%zu", i);
        s[i] = (az_leak_secret){
            .id = (uint32_t)(i * 3), .name = names[i], .bytes = bytes[i], .len = 32};
    }
    ck_assert_int_eq(az_leak_set_build(s, n, &set), 0);
    randombytes_buf(buf, 1u << 20);
    ck_assert_int_eq(az_leak_scan(set, buf, 1u << 20, NULL), 0);
    for (size_t i = 0; i < n; i += 997) {
        b.len = 0;
        tb_noise(&b, 100);
        tb_b64(&b, bytes[i], 32, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        ck_assert_int_eq(az_leak_scan(set, b.p, b.len, &hit), 1);
        ck_assert_uint_eq(hit.id, i * 3);
        ck_assert_str_eq(hit.name, names[i]);
        /* A core without '-' or '_' is the same as the standard one, kept as that. */
        ck_assert(hit.kind == AZ_LEAK_BASE64URL || hit.kind == AZ_LEAK_BASE64);
    }
    free(b.p);
    az_leak_set_free(set);
    free(s);
    free(bytes);
    free(names);
    free(buf);
}
END_TEST

/* ---- threads ---- */

typedef struct thread_arg {
    const az_leak_set *set;
    const unsigned char *hitbuf, *missbuf;
    size_t len;
    int errors;
} thread_arg;

static void *scan_thread(void *p)
{
    thread_arg *a = p;
    az_leak_hit hit;
    for (int k = 0; k < 300; k++) {
        if (az_leak_scan(a->set, a->hitbuf, a->len, &hit) != 1 || hit.id != 1005)
            a->errors++;
        if (az_leak_scan(a->set, a->missbuf, a->len, &hit) != 0)
            a->errors++;
    }
    return NULL;
}

START_TEST(test_threads)
{
    fixture f = {0};
    az_leak_set *set;
    static unsigned char hitbuf[65536], missbuf[65536];
    thread_arg a[2];
    pthread_t t[2];
    fx_random(&f, 40, 32);
    set = fx_build(&f);
    randombytes_buf(missbuf, sizeof missbuf);
    memcpy(hitbuf, missbuf, sizeof hitbuf);
    memcpy(hitbuf + 50000, f.bytes[5], 32);
    for (int i = 0; i < 2; i++) {
        a[i] = (thread_arg){set, hitbuf, missbuf, sizeof hitbuf, 0};
        ck_assert_int_eq(pthread_create(&t[i], NULL, scan_thread, &a[i]), 0);
    }
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(pthread_join(t[i], NULL), 0);
        ck_assert_int_eq(a[i].errors, 0);
    }
    az_leak_set_free(set);
}
END_TEST

static Suite *leak_suite(void)
{
    Suite *s = suite_create("leak");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_encodings_match_libsodium, 0, 33);
    tcase_add_test(tc, test_encodings_dedup_and_bounds);
    tcase_add_loop_test(tc, test_encodings_match_reference, 0, 70);
    tcase_add_loop_test(tc, test_detect_every_encoding, 0, 6);
    tcase_add_loop_test(tc, test_detect_base64_alignments, 0, 6);
    tcase_add_test(tc, test_detect_percent_in_url);
    tcase_add_test(tc, test_hit_fields);
    tcase_add_loop_test(tc, test_edges_of_buffer, 0, 5);
    tcase_add_test(tc, test_short_and_empty_buffers);
    tcase_add_test(tc, test_no_false_positive_10mb);
    tcase_add_test(tc, test_scrub_exact);
    tcase_add_test(tc, test_scrub_leaves_nothing);
    tcase_add_loop_test(tc, test_evasions_caught, 0, EVASIONS);
    tcase_add_test(tc, test_scrub_decoded_positions);
    tcase_add_test(tc, test_normalise_rules);
    tcase_add_loop_test(tc, test_evasion_across_blocks, 0, 8);
    tcase_add_loop_test(tc, test_long_input_walks_interleave, 0, 2);
    tcase_add_test(tc, test_scrub_limit);
    tcase_add_test(tc, test_build_refusals);
    tcase_add_test(tc, test_mixed_and_long_secrets);
    tcase_add_test(tc, test_ten_thousand_secrets);
    tcase_add_test(tc, test_threads);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr;
    int failed;
    if (sodium_init() < 0)
        return EXIT_FAILURE;
    sr = srunner_create(leak_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

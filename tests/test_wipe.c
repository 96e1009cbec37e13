/*
 * Secret material is wiped before its memory is freed (issue 9, item 14).
 *
 * This suite is linked with -Wl,--wrap=free: every free() of the library
 * (linked in statically) and of this file goes through __wrap_free, which,
 * while watching, looks in the block about to be freed for the bytes of
 * the secrets under watch and counts a block that still holds one. The
 * scenario then goes through everything that handles secrets: issuing (a
 * token is signed into a heap string, then copied into guarded memory),
 * leases, substitution, scrubbing and leak scans (whose normalised view is
 * on the heap for large inputs), and session close.
 */
#include <malloc.h>
#include <sodium.h>

#include "testutil.h"

void __real_free(void *p);
void __wrap_free(void *p);

#define NEEDLES 8

/*
 * The watch: set by the test in this (forked) process only. Volatile:
 * glibc declares free() a leaf, so the compiler may assume a call to it
 * reads none of this file's data, and drop or move the stores around it.
 */
static struct {
    volatile int on;
    const unsigned char *volatile needle[NEEDLES];
    volatile size_t len[NEEDLES];
    volatile size_t n;
    volatile int found; /* blocks freed with a needle in them */
} watch;

static bool holds(const unsigned char *p, size_t size, const unsigned char *needle, size_t len)
{
    return len && size >= len && memmem(p, size, needle, len) != NULL;
}

void __wrap_free(void *p)
{
    if (p && watch.on) {
        size_t size = malloc_usable_size(p);
        for (size_t i = 0; i < watch.n; i++)
            if (holds(p, size, watch.needle[i], watch.len[i]))
                watch.found++;
    }
    __real_free(p);
}

static void watch_add(const void *needle, size_t len)
{
    ck_assert_uint_lt(watch.n, NEEDLES);
    watch.needle[watch.n] = needle;
    watch.len[watch.n] = len;
    watch.n = watch.n + 1;
}

static const char *const policy =
    "agentauthz: 1\n"
    "identities:\n"
    "  - { match: \"agent/*\", roles: [worker] }\n"
    "secrets:\n"
    "  db: { provider: random, bytes: 32, tools: [db.query] }\n"
    "  tok: { provider: token, audience: \"https://api.example\", tools: [http.get] }\n"
    "tasks:\n"
    "  work: { roles: [worker], secrets: [db, tok] }\n"
    "rules:\n"
    "  - { id: ok, effect: allow, tools: [db.query, http.get, send] }\n";

static size_t lease_copy(agentauthz_session *s, agentauthz_action *a, const char *name,
                         unsigned char *out, size_t cap)
{
    agentauthz_decision d;
    agentauthz_lease *l = NULL;
    const unsigned char *v;
    size_t len = 0;
    ck_assert_int_eq(agentauthz_check(s, a, &d), 0);
    ck_assert_int_eq(d.effect, AGENTAUTHZ_ALLOW);
    ck_assert_int_eq(agentauthz_lease_acquire(s, a, &d, name, &l, NULL), 0);
    v = agentauthz_lease_value(l, &len);
    ck_assert_uint_le(len, cap);
    memcpy(out, v, len);
    agentauthz_lease_release(l);
    return len;
}

/*
 * A token's text, freed while it still begins with the token header (the
 * base64url of {"alg":"EdDSA","typ":"txntoken+jwt","kid":"), is found at open.
 */
START_TEST(test_issued_token_wiped)
{
    static const char header[] = "eyJhbGciOiJFZERTQSIsInR5cCI6InR4bnRva2VuK2p3dCIsImtpZCI6";
    agentauthz_engine *e = engine_with(NULL, policy, NULL);
    agentauthz_session *s;
    watch_add(header, sizeof header - 1);
    watch.on = 1;
    s = open_session(e, "agent/1", "work", NULL);
    watch.on = 0;
    ck_assert_int_eq(watch.found, 0);
    agentauthz_session_close(s);
    agentauthz_engine_free(e);
}
END_TEST

/* Values and their hex, in every path that handles them, up to close. */
START_TEST(test_secret_paths_wiped)
{
    agentauthz_engine *e = engine_with(NULL, policy, NULL);
    agentauthz_session *s = open_session(e, "agent/1", "work", NULL);
    agentauthz_action *q = action_from_json("{\"tool\":\"db.query\"}");
    agentauthz_action *get = action_from_json("{\"tool\":\"http.get\"}");
    agentauthz_action *send;
    agentauthz_secret_buffer *b = NULL;
    agentauthz_decision d;
    unsigned char db[64], tok[4096];
    char hex[130], *big, *out = NULL;
    size_t dlen, tlen, outlen, blen = 3 * 8192;
    dlen = lease_copy(s, q, "db", db, sizeof db);
    tlen = lease_copy(s, get, "tok", tok, sizeof tok);
    sodium_bin2hex(hex, sizeof hex, db, dlen);
    watch_add(db, dlen);
    watch_add(hex, 2 * dlen);
    watch_add(tok + tlen - 40, 40); /* the signature's end */
    /* Large enough for the normalised view to be on the heap; percent-encoded. */
    big = malloc(blen + 1);
    ck_assert_ptr_nonnull(big);
    memset(big, 'x', blen);
    for (size_t i = 0; i < dlen; i++)
        snprintf(big + 5000 + 3 * i, 4, "%%%02X", db[i]);
    big[5000 + 3 * dlen] = '\n';
    big[blen] = '\0';
    send = action_from_json("{\"tool\":\"send\"}");
    ck_assert_int_eq(agentauthz_action_set_payload(send, big, blen), 0);
    watch.on = 1;
    ck_assert_int_eq(agentauthz_check(s, send, &d), 0);
    ck_assert_str_eq(d.rule, "leak");
    ck_assert_int_eq(agentauthz_check(s, q, &d), 0);
    ck_assert_int_eq(agentauthz_substitute(s, q, &d, "x ${secret:db} y", 16, &b, NULL), 0);
    agentauthz_secret_buffer_free(b);
    ck_assert_int_eq(agentauthz_scrub(s, big, blen, &out, &outlen, NULL), 0);
    ck_assert_ptr_null(memmem(out, outlen, big + 5000, 3 * dlen));
    agentauthz_free(out);
    agentauthz_session_close(s);
    agentauthz_engine_free(e);
    watch.on = 0;
    ck_assert_int_eq(watch.found, 0);
    agentauthz_action_free(send);
    agentauthz_action_free(q);
    agentauthz_action_free(get);
    free(big);
}
END_TEST

/* The watch itself works: an unwiped block holding a needle is counted. */
START_TEST(test_watch_sees_unwiped)
{
    char *p = malloc(64);
    volatile char *v = p;
    ck_assert_ptr_nonnull(p);
    /* Through a volatile pointer: a plain store before free() may be left out. */
    for (size_t i = 0; i < 16; i++)
        v[i] = "0123456789abcdef"[i];
    watch_add("456789ab", 8);
    watch.on = 1;
    free(p);
    watch.on = 0;
    ck_assert_int_eq(watch.found, 1);
}
END_TEST

static Suite *wipe_suite(void)
{
    Suite *s = suite_create("wipe");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_watch_sees_unwiped);
    tcase_add_test(tc, test_issued_token_wiped);
    tcase_add_test(tc, test_secret_paths_wiped);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(wipe_suite());
}

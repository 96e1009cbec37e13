/*
 * The leak index (lib/leak.c): secrets encoded once into entries, a base
 * set and a recent set chained to it, liveness flags instead of rebuilds.
 * Scans and scrubs through the chain must answer exactly as one set built
 * from the live secrets would; dead secrets are ignored with the scan going
 * on to live ones after them; the base is rebuilt when dead entries pile
 * up; thousands of sessions opened and closed in random order leave leaks
 * detected for exactly the live ones, through the index and through
 * agentauthz_check.
 */
#include <pthread.h>
#include <sodium.h>

#include "leak_private.h"
#include "testutil.h"

#define SECRET_LEN 32

typedef struct tsec {
    unsigned char v[SECRET_LEN];
    char name[24];
    az_leak_entry *en; /* borrowed from the index while live */
    bool live;
} tsec;

/* A small deterministic generator, so that a failure can be replayed. */
static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void tsec_init(tsec *s, size_t i)
{
    randombytes_buf(s->v, sizeof s->v);
    snprintf(s->name, sizeof s->name, "s%zu", i);
    s->en = NULL;
    s->live = false;
}

/* Adds secrets[0 .. n) to the index in one call. */
static void add(az_leak_index *idx, tsec *secs, size_t n)
{
    az_leak_secret *in = calloc(n, sizeof *in);
    az_leak_entry **out = calloc(n, sizeof *out);
    ck_assert_ptr_nonnull(in);
    ck_assert_ptr_nonnull(out);
    for (size_t i = 0; i < n; i++) {
        in[i].id = (uint32_t)i;
        in[i].name = secs[i].name;
        in[i].bytes = secs[i].v;
        in[i].len = sizeof secs[i].v;
    }
    ck_assert_int_eq(az_leak_index_add(idx, in, n, out), 0);
    for (size_t i = 0; i < n; i++) {
        ck_assert_ptr_nonnull(out[i]);
        ck_assert(az_leak_entry_live(out[i]));
        secs[i].en = out[i];
        secs[i].live = true;
    }
    free(in);
    free(out);
}

static void kill_secret(az_leak_index *idx, tsec *s)
{
    ck_assert(s->live);
    az_leak_index_kill(idx, s->en);
    s->en = NULL;
    s->live = false;
}

/* Appends an encoding of s to buf at *len: 0 raw, 1 hex, 2 base64, 3 uppercase hex. */
static void put(unsigned char *buf, size_t *len, const tsec *s, unsigned how)
{
    char tmp[2 * SECRET_LEN + 8];
    switch (how % 4) {
    case 0:
        memcpy(buf + *len, s->v, sizeof s->v);
        *len += sizeof s->v;
        return;
    case 2:
        sodium_bin2base64(tmp, sizeof tmp, s->v, sizeof s->v, sodium_base64_VARIANT_ORIGINAL);
        break;
    default:
        sodium_bin2hex(tmp, sizeof tmp, s->v, sizeof s->v);
        for (size_t i = 0; how % 4 == 3 && tmp[i]; i++)
            if (tmp[i] >= 'a' && tmp[i] <= 'f')
                tmp[i] = (char)(tmp[i] - 'a' + 'A');
        break;
    }
    memcpy(buf + *len, tmp, strlen(tmp));
    *len += strlen(tmp);
}

static void put_text(unsigned char *buf, size_t *len, const char *t)
{
    memcpy(buf + *len, t, strlen(t));
    *len += strlen(t);
}

/* Scans text around one encoding of s with the index's head; 1 and the name on a hit. */
static int found(const az_leak_index *idx, const tsec *s, unsigned how)
{
    unsigned char buf[256];
    size_t len = 0;
    az_leak_hit hit;
    int rc;
    put_text(buf, &len, "{\"q\": \"");
    put(buf, &len, s, how);
    put_text(buf, &len, "\"}");
    memset(&hit, 0, sizeof hit);
    rc = az_leak_scan(az_leak_index_head(idx), buf, len, &hit);
    ck_assert_int_ge(rc, 0);
    if (rc == 1)
        ck_assert_str_eq(hit.name, s->name);
    return rc;
}

static az_leak_index *index_new(void)
{
    az_leak_index *idx = NULL;
    ck_assert_int_eq(az_leak_index_new(&idx), 0);
    ck_assert_ptr_nonnull(idx);
    return idx;
}

/* ---- liveness ---- */

START_TEST(test_dead_skipped_scan_goes_on)
{
    az_leak_index *idx = index_new();
    tsec base[AZ_LEAK_RECENT_MIN + 8], recent[3];
    unsigned char buf[512];
    size_t len = 0;
    az_leak_hit hit;
    az_leak_index_stats st;
    for (size_t i = 0; i < sizeof base / sizeof *base; i++)
        tsec_init(&base[i], i);
    for (size_t i = 0; i < 3; i++)
        tsec_init(&recent[i], 100 + i);
    ck_assert_ptr_null(az_leak_index_head(idx));
    /* More than the recent set may hold goes straight into a base. */
    add(idx, base, sizeof base / sizeof *base);
    add(idx, recent, 3);
    az_leak_index_get_stats(idx, &st);
    ck_assert_uint_eq(st.base, sizeof base / sizeof *base);
    ck_assert_uint_eq(st.recent, 3);
    ck_assert_uint_eq(st.live, sizeof base / sizeof *base + 3);

    /* A dead secret in the recent set, then a live one of the base: the scan goes on. */
    kill_secret(idx, &recent[0]);
    ck_assert(!az_leak_entry_live(NULL));
    put(buf, &len, &recent[0], 1);
    put_text(buf, &len, " and ");
    put(buf, &len, &base[5], 2);
    ck_assert_int_eq(az_leak_scan(az_leak_index_head(idx), buf, len, &hit), 1);
    ck_assert_str_eq(hit.name, "s5");
    ck_assert_int_eq(hit.kind, AZ_LEAK_BASE64);

    /* A dead secret of the base before a live one of the recent set. */
    kill_secret(idx, &base[7]);
    len = 0;
    put(buf, &len, &base[7], 0);
    put(buf, &len, &recent[1], 3);
    ck_assert_int_eq(az_leak_scan(az_leak_index_head(idx), buf, len, &hit), 1);
    ck_assert_str_eq(hit.name, "s101");
    /* Uppercase hex: the hex pattern, verified without case. */
    ck_assert_int_eq(hit.kind, AZ_LEAK_HEX_LOWER);

    /* Dead secrets alone are not found, in any encoding. */
    len = 0;
    put(buf, &len, &base[7], 0);
    put(buf, &len, &recent[0], 2);
    put(buf, &len, &base[7], 3);
    ck_assert_int_eq(az_leak_scan(az_leak_index_head(idx), buf, len, &hit), 0);
    for (unsigned how = 0; how < 4; how++) {
        ck_assert_int_eq(found(idx, &base[7], how), 0);
        ck_assert_int_eq(found(idx, &recent[0], how), 0);
        ck_assert_int_eq(found(idx, &base[8], how), 1);
        ck_assert_int_eq(found(idx, &recent[2], how), 1);
    }
    az_leak_index_free(idx);
}
END_TEST

/* The next add drops the recent set's dead; killing every secret empties the index. */
START_TEST(test_dead_dropped)
{
    az_leak_index *idx = index_new();
    tsec s[4];
    az_leak_index_stats st;
    for (size_t i = 0; i < 4; i++)
        tsec_init(&s[i], i);
    add(idx, s, 2);
    kill_secret(idx, &s[0]);
    ck_assert_int_eq(az_leak_index_tidy(idx), 0); /* one live: nothing worth a rebuild */
    add(idx, s + 2, 1);
    az_leak_index_get_stats(idx, &st);
    ck_assert_uint_eq(st.recent, 2); /* s1 and s2; s0 left */
    ck_assert_uint_eq(st.live, 2);
    kill_secret(idx, &s[1]);
    kill_secret(idx, &s[2]);
    ck_assert_int_eq(az_leak_index_tidy(idx), 1);
    ck_assert_ptr_null(az_leak_index_head(idx));
    az_leak_index_get_stats(idx, &st);
    ck_assert_uint_eq(st.live + st.base + st.recent + st.base_dead, 0);
    ck_assert_int_eq(az_leak_index_tidy(idx), 0);
    ck_assert_int_eq(found(idx, &s[1], 0), 0);
    az_leak_index_free(idx);
}
END_TEST

/* A set that a session still holds stays valid after the index moved on and was freed. */
START_TEST(test_sets_outlive_index)
{
    az_leak_index *idx = index_new();
    tsec s[2];
    az_leak_set *held;
    unsigned char buf[128];
    size_t len = 0;
    az_leak_hit hit;
    az_buf out = {0};
    for (size_t i = 0; i < 2; i++)
        tsec_init(&s[i], i);
    add(idx, s, 2);
    held = az_leak_set_ref(az_leak_index_head(idx));
    kill_secret(idx, &s[0]);
    ck_assert_int_eq(az_leak_index_tidy(idx), 0);
    az_leak_index_free(idx);
    put(buf, &len, &s[0], 1);
    put(buf, &len, &s[1], 1);
    ck_assert_int_eq(az_leak_scan(held, buf, len, &hit), 1);
    ck_assert_str_eq(hit.name, "s1");
    ck_assert_int_eq(az_leak_scrub(held, buf, len, &out), 0);
    ck_assert_uint_eq(out.len, 2 * SECRET_LEN + strlen("[redacted:s1]"));
    ck_assert_mem_eq(out.p, buf, 2 * SECRET_LEN);
    az_buf_free(&out);
    az_leak_set_free(held);
}
END_TEST

/* ---- scrubbing through the chain ---- */

/* Scrubs buf with the index's head and with one set built from the live secrets; same output. */
static void scrub_same(const az_leak_index *idx, tsec *all, size_t n, const unsigned char *buf,
                       size_t len)
{
    az_leak_secret *in = calloc(n, sizeof *in);
    az_leak_set *flat = NULL;
    az_buf a = {0}, b = {0};
    size_t m = 0;
    ck_assert_ptr_nonnull(in);
    for (size_t i = 0; i < n; i++)
        if (all[i].live) {
            in[m].id = (uint32_t)i;
            in[m].name = all[i].name;
            in[m].bytes = all[i].v;
            in[m++].len = sizeof all[i].v;
        }
    ck_assert_int_eq(az_leak_set_build(in, m, &flat), 0);
    ck_assert_int_eq(az_leak_scrub(az_leak_index_head(idx), buf, len, &a), 0);
    ck_assert_int_eq(az_leak_scrub(flat, buf, len, &b), 0);
    ck_assert_uint_eq(a.len, b.len);
    ck_assert_mem_eq(a.p, b.p, a.len);
    az_buf_free(&a);
    az_buf_free(&b);
    az_leak_set_free(flat);
    free(in);
}

START_TEST(test_scrub_chain_equals_one_set)
{
    enum { NBASE = AZ_LEAK_RECENT_MIN + 4, N = NBASE + 6 };
    az_leak_index *idx = index_new();
    tsec s[N];
    unsigned char *buf = malloc(64 * 1024);
    uint64_t seed = 0x1234567u + (uint64_t)_i;
    size_t len = 0;
    ck_assert_ptr_nonnull(buf);
    for (size_t i = 0; i < N; i++)
        tsec_init(&s[i], i);
    /* s[NBASE] (recent) overlaps s[0] (base): its first 16 bytes are s[0]'s last 16. */
    memcpy(s[NBASE].v, s[0].v + 16, 16);
    /* s[NBASE + 1] (recent) shares s[1]'s (base) first 12 bytes: candidates that fail. */
    memcpy(s[NBASE + 1].v, s[1].v, 12);
    add(idx, s, NBASE);
    add(idx, s + NBASE, N - NBASE);
    kill_secret(idx, &s[3]);
    kill_secret(idx, &s[NBASE + 2]);
    /* The overlaps, then random text with encodings of live and dead secrets. */
    put(buf, &len, &s[0], 0);
    memcpy(buf + len, s[NBASE].v + 16, 16);
    len += 16;
    put_text(buf, &len, " | ");
    memcpy(buf + len, s[1].v, 12);
    memcpy(buf + len + 12, s[NBASE + 1].v + 12, 20);
    len += 32;
    put_text(buf, &len, " | ");
    put(buf, &len, &s[1], 0);
    while (len < 60 * 1024) {
        uint64_t r = rnd(&seed);
        if (r % 3 == 0) {
            put(buf, &len, &s[(r >> 8) % N], (unsigned)(r >> 32));
        } else {
            size_t k = (size_t)(r >> 16) % 200;
            for (size_t j = 0; j < k; j++)
                buf[len++] = (unsigned char)(32 + rnd(&seed) % 95);
        }
    }
    scrub_same(idx, s, N, buf, len);
    /* After the base is rebuilt (the chain is gone), the same again. */
    for (size_t i = 4; i < 4 + AZ_LEAK_DEAD_MIN + 2 && i < NBASE; i++)
        kill_secret(idx, &s[i]);
    ck_assert_int_eq(az_leak_index_tidy(idx), 1);
    scrub_same(idx, s, N, buf, len);
    free(buf);
    az_leak_index_free(idx);
}
END_TEST

/* ---- churn ---- */

/* The index's counts agree with the test's, and dead entries stay within their bound. */
static void check_stats(const az_leak_index *idx, size_t live)
{
    az_leak_index_stats st;
    az_leak_index_get_stats(idx, &st);
    ck_assert_uint_eq(st.live, live);
    ck_assert_uint_le(st.base_dead, st.base);
    ck_assert(st.base_dead < AZ_LEAK_DEAD_MIN || st.base_dead <= (st.base - st.base_dead) / 2);
    ck_assert_uint_le(st.recent, AZ_LEAK_RECENT_MAX);
    ck_assert_uint_le(st.base + st.recent - st.base_dead, live + AZ_LEAK_RECENT_MAX);
}

START_TEST(test_base_rebuilt_after_churn)
{
    enum { N = 4000 };
    az_leak_index *idx = index_new();
    tsec *s = calloc(N, sizeof *s);
    size_t live = 0, rebuilds_before;
    uint64_t seed = 42;
    az_leak_index_stats st;
    ck_assert_ptr_nonnull(s);
    /* Long-lived sessions: 2 secrets each, about 300 open at a time. */
    for (size_t i = 0; i + 1 < N; i += 2) {
        tsec_init(&s[i], i);
        tsec_init(&s[i + 1], i + 1);
        add(idx, s + i, 2);
        live += 2;
        if (i >= 600) {
            size_t victim = (size_t)(rnd(&seed) % (i / 2)) * 2;
            if (s[victim].live) {
                kill_secret(idx, &s[victim]);
                kill_secret(idx, &s[victim + 1]);
                live -= 2;
            }
            az_leak_index_tidy(idx);
        }
        check_stats(idx, live);
    }
    az_leak_index_get_stats(idx, &st);
    ck_assert_uint_ge(st.base_rebuilds, 10);
    /* Closing most of what is left rebuilds the base without the dead. */
    rebuilds_before = st.base_rebuilds;
    for (size_t i = 0; i < N && live > 40; i++)
        if (s[i].live) {
            kill_secret(idx, &s[i]);
            live--;
            az_leak_index_tidy(idx);
            check_stats(idx, live);
        }
    az_leak_index_get_stats(idx, &st);
    ck_assert_uint_gt(st.base_rebuilds, rebuilds_before);
    for (size_t i = 0; i < N; i++)
        ck_assert_int_eq(found(idx, &s[i], (unsigned)i), s[i].live ? 1 : 0);
    free(s);
    az_leak_index_free(idx);
}
END_TEST

/*
 * 10,000 sessions of 2 secrets opened and closed in random order: at
 * checkpoints every secret ever issued is looked for, and only the live
 * ones are found.
 */
START_TEST(test_ten_thousand_sessions_random_order)
{
    enum { SESSIONS = 10000, N = 2 * SESSIONS };
    az_leak_index *idx = index_new();
    tsec *s = calloc(N, sizeof *s);
    size_t *open = calloc(SESSIONS, sizeof *open), nopen = 0, next = 0, step = 0, live = 0;
    uint64_t seed = 7;
    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_nonnull(open);
    while (next < SESSIONS || nopen) {
        bool do_open = next < SESSIONS && (nopen == 0 || rnd(&seed) % 100 < 55);
        if (do_open) {
            tsec_init(&s[2 * next], 2 * next);
            tsec_init(&s[2 * next + 1], 2 * next + 1);
            add(idx, s + 2 * next, 2);
            open[nopen++] = next++;
            live += 2;
        } else {
            size_t k = (size_t)(rnd(&seed) % nopen), sess = open[k];
            open[k] = open[--nopen];
            kill_secret(idx, &s[2 * sess]);
            kill_secret(idx, &s[2 * sess + 1]);
            live -= 2;
            az_leak_index_tidy(idx);
        }
        if (++step % 2500 == 0 || (next == SESSIONS && nopen == 0)) {
            check_stats(idx, live);
            for (size_t i = 0; i < 2 * next; i++)
                ck_assert_msg(found(idx, &s[i], (unsigned)(i + step)) == (s[i].live ? 1 : 0),
                              "secret %zu (%s) at step %zu", i, s[i].live ? "live" : "dead", step);
        }
    }
    ck_assert_ptr_null(az_leak_index_head(idx));
    free(open);
    free(s);
    az_leak_index_free(idx);
}
END_TEST

/* ---- the same through the engine ---- */

static const char *const host_policy = "agentauthz: 1\n"
                                       "secrets:\n"
                                       "  h: { provider: host, tools: [use] }\n"
                                       "  r: { provider: random, bytes: 16, tools: [use] }\n"
                                       "tasks:\n"
                                       "  t: { secrets: [h, r] }\n"
                                       "  plain: {}\n"
                                       "rules:\n"
                                       "  - { id: ok, effect: allow, tools: [send, use] }\n";

typedef struct host_values {
    unsigned char (*v)[SECRET_LEN];
    size_t next, n;
} host_values;

/* Hands out the test's values in order, so that the test knows each session's secret. */
static int host_issue(void *ctx, const agentauthz_secret_request *req, unsigned char *buf,
                      size_t cap, size_t *len)
{
    host_values *h = ctx;
    (void)req;
    if (h->next >= h->n || cap < SECRET_LEN)
        return -1;
    memcpy(buf, h->v[h->next++], SECRET_LEN);
    *len = SECRET_LEN;
    return 0;
}

/* Whether a check of a payload holding value (hex) is denied for a leak. */
static bool leak_denied(agentauthz_session *probe, const unsigned char *value)
{
    char hex[2 * SECRET_LEN + 1], payload[2 * SECRET_LEN + 32];
    agentauthz_action *a = NULL;
    agentauthz_decision d;
    sodium_bin2hex(hex, sizeof hex, value, SECRET_LEN);
    snprintf(payload, sizeof payload, "token=%s;", hex);
    ck_assert_int_eq(agentauthz_action_new(&a), 0);
    ck_assert_int_eq(agentauthz_action_set_tool(a, "send"), 0);
    ck_assert_int_eq(agentauthz_action_set_payload(a, payload, strlen(payload)), 0);
    ck_assert_int_eq(agentauthz_check(probe, a, &d), 0);
    agentauthz_action_free(a);
    if (d.effect == AGENTAUTHZ_DENY) {
        ck_assert_str_eq(d.rule, "leak");
        ck_assert_ptr_nonnull(strstr(d.reason, "secret \"h\""));
        return true;
    }
    ck_assert_int_eq(d.effect, AGENTAUTHZ_ALLOW);
    return false;
}

START_TEST(test_engine_ten_thousand_sessions)
{
    enum { SESSIONS = 10000 };
    agentauthz_engine_options opt = AGENTAUTHZ_ENGINE_OPTIONS_INIT;
    agentauthz_engine *e = NULL;
    agentauthz_session **ss = calloc(SESSIONS, sizeof *ss), *probe = NULL;
    host_values h = {calloc(SESSIONS, SECRET_LEN), 0, SESSIONS};
    size_t *open = calloc(SESSIONS, sizeof *open), nopen = 0, next = 0, step = 0;
    uint64_t seed = 99;
    agentauthz_error err;
    ck_assert_ptr_nonnull(ss);
    ck_assert_ptr_nonnull(h.v);
    ck_assert_ptr_nonnull(open);
    randombytes_buf(h.v, (size_t)SESSIONS * SECRET_LEN);
    opt.secret_issue = host_issue;
    opt.secret_ctx = &h;
    ck_assert_int_eq(agentauthz_engine_new(&e, &opt, &err), 0);
    ck_assert_int_eq(
        agentauthz_engine_load_string(e, "p", host_policy, strlen(host_policy), NULL, &err), 0);
    probe = open_session(e, "x", "plain", NULL);
    while (next < SESSIONS || nopen) {
        if (next < SESSIONS && (nopen == 0 || rnd(&seed) % 100 < 60)) {
            ck_assert_int_eq(agentauthz_session_open(e, "x", "t", NULL, &ss[next], &err), 0);
            open[nopen++] = next++;
        } else {
            size_t k = (size_t)(rnd(&seed) % nopen);
            agentauthz_session_close(ss[open[k]]);
            ss[open[k]] = NULL;
            open[k] = open[--nopen];
        }
        if (++step % 2000 == 0) {
            /* A sample of everything issued so far, live and closed. */
            for (size_t j = 0; j < 100; j++) {
                size_t i = (size_t)(rnd(&seed) % next);
                ck_assert_msg(leak_denied(probe, h.v[i]) == (ss[i] != NULL), "session %zu %s", i,
                              ss[i] ? "open" : "closed");
            }
        }
    }
    for (size_t i = 0; i < SESSIONS; i += 97)
        ck_assert(!leak_denied(probe, h.v[i]));
    agentauthz_session_close(probe);
    agentauthz_engine_free(e);
    free(open);
    free(h.v);
    free(ss);
}
END_TEST

/* Opens and closes race checks on another session, which must see every live secret. */
typedef struct race {
    agentauthz_engine *e;
    host_values h;
    _Atomic int stop, bad;
} race;

static void *churn(void *arg)
{
    race *r = arg;
    for (int i = 0; i < 300 && !r->bad; i++) {
        agentauthz_session *s = NULL;
        if (agentauthz_session_open(r->e, "x", "t", NULL, &s, NULL) != 0)
            r->bad = 1;
        agentauthz_session_close(s);
    }
    r->stop = 1;
    return NULL;
}

START_TEST(test_checks_race_churn)
{
    agentauthz_engine_options opt = AGENTAUTHZ_ENGINE_OPTIONS_INIT;
    race r;
    pthread_t t;
    agentauthz_session *holder, *probe;
    unsigned char held[SECRET_LEN];
    memset(&r, 0, sizeof r);
    r.h.n = 1000;
    r.h.v = calloc(r.h.n, SECRET_LEN);
    ck_assert_ptr_nonnull(r.h.v);
    randombytes_buf(r.h.v, r.h.n * SECRET_LEN);
    opt.secret_issue = host_issue;
    opt.secret_ctx = &r.h;
    ck_assert_int_eq(agentauthz_engine_new(&r.e, &opt, NULL), 0);
    ck_assert_int_eq(
        agentauthz_engine_load_string(r.e, "p", host_policy, strlen(host_policy), NULL, NULL), 0);
    holder = open_session(r.e, "x", "t", NULL); /* holds h.v[0] throughout */
    memcpy(held, r.h.v[0], SECRET_LEN);
    probe = open_session(r.e, "x", "plain", NULL);
    ck_assert_int_eq(pthread_create(&t, NULL, churn, &r), 0);
    while (!r.stop)
        if (!leak_denied(probe, held))
            r.bad = 2;
    pthread_join(t, NULL);
    ck_assert_int_eq(r.bad, 0);
    ck_assert(leak_denied(probe, held));
    agentauthz_session_close(holder);
    ck_assert(!leak_denied(probe, held));
    agentauthz_session_close(probe);
    agentauthz_engine_free(r.e);
    free(r.h.v);
}
END_TEST

/* ---- building blocks ---- */

START_TEST(test_build_entries_refusals)
{
    az_leak_index *idx = index_new();
    tsec s[2];
    az_leak_set *set = NULL, *chained = NULL;
    az_leak_entry *en[2];
    az_leak_secret bad = {.name = "bad name!", .bytes = "0123456789abcdef", .len = 16};
    az_leak_secret shorty = {.name = "short", .bytes = "0123456", .len = 7};
    az_leak_entry *out[1] = {NULL};
    for (size_t i = 0; i < 2; i++)
        tsec_init(&s[i], i);
    add(idx, s, 2);
    en[0] = s[0].en;
    en[1] = s[1].en;
    ck_assert_int_eq(az_leak_set_build_entries(en, 2, 8, NULL, NULL), AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(az_leak_set_build_entries(NULL, 2, 8, NULL, &set), AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(az_leak_set_build_entries(en, 2, 0, NULL, &set), AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(az_leak_set_build_entries(en, 2, AZ_LEAK_MAX_STEP + 1, NULL, &set),
                     AGENTAUTHZ_EINVAL);
    ck_assert_ptr_null(set);
    ck_assert_int_eq(az_leak_set_build_entries(en, 1, AZ_LEAK_MAX_STEP, NULL, &set), 0);
    ck_assert_int_eq(az_leak_set_build_entries(en + 1, 1, 8, set, &chained), 0);
    /* Chains are two sets long at most. */
    {
        az_leak_set *third = NULL;
        ck_assert_int_eq(az_leak_set_build_entries(en, 1, 8, chained, &third), AGENTAUTHZ_EINVAL);
        ck_assert_ptr_null(third);
    }
    {
        az_leak_set *alone = NULL;
        ck_assert_int_eq(az_leak_set_build_entries(en + 1, 1, 8, NULL, &alone), 0);
        ck_assert_uint_eq(az_leak_set_patterns(chained),
                          az_leak_set_patterns(set) + az_leak_set_patterns(alone));
        ck_assert_uint_gt(az_leak_set_memory(chained), az_leak_set_memory(alone));
        az_leak_set_free(alone);
    }
    az_leak_set_free(chained);
    az_leak_set_free(set);
    /* An add that fails leaves the index as it was. */
    ck_assert_int_eq(az_leak_index_add(idx, &bad, 1, out), AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(az_leak_index_add(idx, &shorty, 1, out), AGENTAUTHZ_EINVAL);
    ck_assert_ptr_null(out[0]);
    ck_assert_int_eq(az_leak_index_add(NULL, &shorty, 1, out), AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(az_leak_index_add(idx, NULL, 1, out), AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(az_leak_index_add(idx, NULL, 0, NULL), 0);
    ck_assert_int_eq(found(idx, &s[0], 1), 1);
    ck_assert_int_eq(found(idx, &s[1], 2), 1);
    az_leak_index_kill(idx, NULL);
    az_leak_index_kill(NULL, s[0].en);
    ck_assert_int_eq(az_leak_index_new(NULL), AGENTAUTHZ_EINVAL);
    az_leak_index_free(NULL);
    ck_assert_ptr_null(az_leak_index_head(NULL));
    az_leak_index_free(idx);
}
END_TEST

/* Every base64 core, at every alignment, is the matching slice of libsodium's encoding. */
START_TEST(test_b64_cores_every_alignment)
{
    size_t len = 8 + (size_t)_i;
    unsigned char s[64], padded[66], dst[23 * 64 + 6];
    char full[128];
    az_leak_enc enc[AZ_LEAK_MAX_ENC];
    size_t n = 0, used = 0;
    int seen[3] = {0, 0, 0};
    randombytes_buf(s, len);
    ck_assert_int_eq(az_leak_encodings(s, len, dst, sizeof dst, enc, &n, &used), 0);
    for (size_t k = 0; k < n; k++) {
        size_t a = enc[k].align, first = (8 * a + 5) / 6, end = (8 * a + 8 * len) / 6;
        if (enc[k].kind != AZ_LEAK_BASE64)
            continue;
        memset(padded, 0, a);
        memcpy(padded + a, s, len);
        sodium_bin2base64(full, sizeof full, padded, a + len, sodium_base64_VARIANT_ORIGINAL);
        ck_assert_uint_eq(enc[k].len, end - first);
        ck_assert_mem_eq(dst + enc[k].off, full + first, end - first);
        seen[a] = 1;
    }
    ck_assert(seen[0] && seen[1] && seen[2]);
}
END_TEST

/* Percent-encoding keeps exactly RFC 3986's unreserved bytes. */
START_TEST(test_percent_unreserved_bytes)
{
    unsigned char s[8], dst[23 * 8 + 6];
    az_leak_enc enc[AZ_LEAK_MAX_ENC];
    size_t n = 0, used = 0;
    for (unsigned c = 0; c < 256; c++) {
        bool unres = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                     c == '-' || c == '.' || c == '_' || c == '~';
        bool seen = false;
        memset(s, (int)c, sizeof s);
        s[0] = '%'; /* keeps the percent form apart from the raw one */
        ck_assert_int_eq(az_leak_encodings(s, sizeof s, dst, sizeof dst, enc, &n, &used), 0);
        for (size_t k = 0; k < n; k++)
            if (enc[k].kind == AZ_LEAK_PERCENT) {
                ck_assert_uint_eq(enc[k].len, 3 + 7 * (unres ? 1 : 3));
                seen = true;
            }
        ck_assert(seen);
    }
}
END_TEST

/* Scrubs buf with the index's live and retired secrets at now: whether name was redacted. */
static bool scrub_names(az_leak_index *idx, uint64_t now, const unsigned char *buf, size_t len,
                        const char *name)
{
    az_leak_retired *gone = NULL;
    az_buf out = {0};
    char marker[40];
    bool hit;
    ck_assert_int_eq(az_leak_index_retired(idx, now, &gone), 0);
    out.max = 4 * len + 64;
    ck_assert_int_eq(az_leak_scrub_retired(az_leak_index_head(idx), gone, now, buf, len, &out), 0);
    snprintf(marker, sizeof marker, "[redacted:%s]", name);
    hit = out.p && memmem(out.p, out.len, marker, strlen(marker)) != NULL;
    az_buf_free(&out);
    az_leak_retired_free(gone);
    return hit;
}

/*
 * Retired secrets: found until their deadline, at most AZ_LEAK_RETIRED_MAX
 * of them (the oldest dropped first), only long patterns kept.
 */
START_TEST(test_retired_bounded)
{
    az_leak_index *idx = NULL;
    size_t n = AZ_LEAK_RETIRED_MAX + 3;
    tsec *secs = calloc(n, sizeof *secs);
    unsigned char buf[256];
    size_t len;
    ck_assert_ptr_nonnull(secs);
    ck_assert_int_eq(az_leak_index_new(&idx), 0);
    for (size_t i = 0; i < n; i++)
        tsec_init(&secs[i], i);
    add(idx, secs, n);
    for (size_t i = 0; i < n; i++) {
        /* s3 until 100, the others until 1000 */
        az_leak_index_retire(idx, secs[i].en, i == 3 ? 100 : 1000);
        secs[i].live = false;
    }
    ck_assert_uint_eq(az_leak_index_retired_count(idx), AZ_LEAK_RETIRED_MAX);
    /* the three oldest were dropped; s3 lives until 100; the newest is there */
    len = 0;
    put(buf, &len, &secs[0], 1);
    ck_assert(!scrub_names(idx, 50, buf, len, "s0"));
    len = 0;
    put(buf, &len, &secs[3], 3);
    ck_assert(scrub_names(idx, 50, buf, len, "s3"));
    ck_assert(!scrub_names(idx, 101, buf, len, "s3"));
    len = 0;
    put(buf, &len, &secs[n - 1], 2);
    ck_assert(scrub_names(idx, 101, buf, len, "s1026"));
    /* a dead secret is not looked for by scans: the fingerprints are for scrub only */
    ck_assert_int_eq(az_leak_scan(az_leak_index_head(idx), buf, len, NULL), 0);
    /* raw 32 bytes: a pattern long enough to be kept */
    len = 0;
    put(buf, &len, &secs[n - 2], 0);
    ck_assert(scrub_names(idx, 101, buf, len, "s1025"));
    az_leak_index_free(idx);
    free(secs);
}
END_TEST

/*
 * Every pattern of a retired secret of 32 bytes (base64url cores and hex
 * with spaces included: they share the fingerprints of base64's cores and
 * of hex with ':'), in mixed case where case is free, is still redacted,
 * and a near miss (one byte changed) is not.
 */
START_TEST(test_retired_every_form)
{
    for (int round = 0; round < 20; round++) {
        az_leak_index *idx = NULL;
        tsec sec;
        unsigned char enc[23 * SECRET_LEN + 6], buf[1200];
        az_leak_enc e[AZ_LEAK_MAX_ENC];
        size_t n = 0, used = 0;
        ck_assert_int_eq(az_leak_index_new(&idx), 0);
        tsec_init(&sec, 7);
        add(idx, &sec, 1);
        ck_assert_int_eq(az_leak_encodings(sec.v, sizeof sec.v, enc, sizeof enc, e, &n, &used), 0);
        az_leak_index_retire(idx, sec.en, 1000);
        for (size_t k = 0; k < n; k++) {
            size_t len = 0;
            if (e[k].len < AZ_LEAK_RETIRED_MIN_PATTERN)
                continue;
            put_text(buf, &len, "out: ");
            memcpy(buf + len, enc + e[k].off, e[k].len);
            /* Case is free in hex digits: flip every other letter of hex and every-byte percent. */
            for (size_t i = 0; (e[k].kind == AZ_LEAK_HEX_LOWER || e[k].kind == AZ_LEAK_HEX_COLON ||
                                e[k].kind == AZ_LEAK_HEX_SPACE || e[k].kind == AZ_LEAK_PERCENT_ALL) &&
                               i < e[k].len;
                 i += 2)
                if (buf[len + i] >= 'a' && buf[len + i] <= 'f')
                    buf[len + i] = (unsigned char)(buf[len + i] - 'a' + 'A');
            len += e[k].len;
            put_text(buf, &len, " end");
            ck_assert_msg(scrub_names(idx, 10, buf, len, "s7"), "kind %d len %zu", (int)e[k].kind,
                          e[k].len);
            /* A near miss: one bit of the middle byte flipped. */
            buf[5 + e[k].len / 2] ^= 0x01;
            ck_assert_msg(!scrub_names(idx, 10, buf, len, "s7"),
                          "near miss of kind %d", (int)e[k].kind);
        }
        az_leak_index_free(idx);
    }
}
END_TEST

static Suite *leak_live_suite(void)
{
    Suite *s = suite_create("leak_live");
    TCase *tc = tcase_create("index");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_dead_skipped_scan_goes_on);
    tcase_add_test(tc, test_dead_dropped);
    tcase_add_test(tc, test_sets_outlive_index);
    tcase_add_loop_test(tc, test_scrub_chain_equals_one_set, 0, 4);
    tcase_add_test(tc, test_base_rebuilt_after_churn);
    tcase_add_test(tc, test_ten_thousand_sessions_random_order);
    tcase_add_test(tc, test_engine_ten_thousand_sessions);
    tcase_add_test(tc, test_checks_race_churn);
    tcase_add_test(tc, test_build_entries_refusals);
    tcase_add_loop_test(tc, test_b64_cores_every_alignment, 0, 40);
    tcase_add_test(tc, test_percent_unreserved_bytes);
    tcase_add_test(tc, test_retired_bounded);
    tcase_add_test(tc, test_retired_every_form);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    return run_suite(leak_live_suite());
}

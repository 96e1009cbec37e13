/*
 * What the engine-level fuzz harnesses share: fixed keys and clocks (so that
 * an input replays to the same decisions), a `host` secret provider with
 * values the harness can recompute, an audit sink that checks every record,
 * a small deterministic generator, and the invariants of a decision.
 *
 * Everything here is static: each harness is one translation unit plus
 * replay.c. A broken property aborts, which is how libFuzzer and the
 * replay driver both report it.
 */
#ifndef AZ_FUZZ_COMMON_H
#define AZ_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include <agentauthz.h>

#define FZ_WALL_NS UINT64_C(1700000000000000000) /* 2023-11-14, in Unix ns */
#define FZ_NOW_S INT64_C(1700000000)

/* A fixed key file: seed, master and audit keys of all zeros. */
static const char fz_key_text[] = "agentauthz-keys v1\n"
                                  "sign: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"
                                  "master: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"
                                  "audit: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n";

static inline void fz_fail(const char *harness, const char *what)
{
    fprintf(stderr, "%s: %s\n", harness, what);
    abort();
}

#define FZ_REQUIRE(cond)                                                                        \
    do {                                                                                       \
        if (!(cond))                                                                           \
            fz_fail(__FILE__, "property failed: " #cond);                                      \
    } while (0)

/* The fixed keys, loaded once and kept for the process (harness state only). */
static inline const agentauthz_keys *fz_keys(void)
{
    static agentauthz_keys *k;
    if (!k && (sodium_init() < 0 ||
               agentauthz_keys_load(fz_key_text, sizeof fz_key_text - 1, &k, NULL) != 0))
        fz_fail("fuzz", "cannot load the fixed keys");
    return k;
}

/* ---- clocks ---- */

typedef struct fz_clock {
    uint64_t mono; /* nanoseconds, moved by the harness */
} fz_clock;

static inline uint64_t fz_mono(void *ctx)
{
    return ((const fz_clock *)ctx)->mono;
}

static inline uint64_t fz_wall(void *ctx)
{
    return FZ_WALL_NS + ((const fz_clock *)ctx)->mono;
}

/* ---- the `host` provider: a value the harness can recompute ---- */

static inline uint64_t fz_fnv(const void *p, size_t n, uint64_t h)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 1099511628211u;
    return h;
}

/*
 * "hostSECRET" and 16 hex digits of a hash of the secret's name and the
 * session's id: alphanumeric (so no scrub marker can rebuild it), 26 bytes,
 * and different in every session.
 */
#define FZ_HOST_LEN 26
static inline size_t fz_host_value(const char *secret, const char *session, char out[FZ_HOST_LEN + 1])
{
    uint64_t h = 1469598103934665603u;
    h = fz_fnv(secret, strlen(secret) + 1, h);
    h = fz_fnv(session, strlen(session) + 1, h);
    snprintf(out, FZ_HOST_LEN + 1, "hostSECRET%016llx", (unsigned long long)h);
    return FZ_HOST_LEN;
}

static inline int fz_host_issue(void *ctx, const agentauthz_secret_request *req, unsigned char *buf,
                         size_t cap, size_t *len)
{
    char v[FZ_HOST_LEN + 1];
    size_t n = fz_host_value(req->secret, req->session, v);
    (void)ctx;
    if (cap < n)
        return -1;
    memcpy(buf, v, n);
    *len = n;
    return 0;
}

/* ---- the audit sink: every record one line of one JSON object ---- */

typedef struct fz_audit {
    size_t records;
    const char *forbidden[8]; /* texts no record may hold (secret values) */
    size_t forbidden_len[8];
    size_t nforbidden;
} fz_audit;

static inline int fz_audit_record(const char *line, size_t len, void *ctx)
{
    fz_audit *a = ctx;
    agentauthz_value *v = NULL;
    FZ_REQUIRE(len >= 2 && line[len - 1] == '\n');
    FZ_REQUIRE(memchr(line, '\n', len - 1) == NULL);
    FZ_REQUIRE(agentauthz_value_parse_json(line, len - 1, &v, NULL) == 0);
    FZ_REQUIRE(agentauthz_value_type(v) == AGENTAUTHZ_MAP);
    agentauthz_value_free(v);
    for (size_t i = 0; i < a->nforbidden; i++)
        FZ_REQUIRE(a->forbidden_len[i] == 0 ||
                   memmem(line, len, a->forbidden[i], a->forbidden_len[i]) == NULL);
    a->records++;
    return 0;
}

/* ---- an engine with all of the above ---- */

static inline agentauthz_engine *fz_engine(fz_clock *clock, fz_audit *audit)
{
    agentauthz_engine_options o = AGENTAUTHZ_ENGINE_OPTIONS_INIT;
    agentauthz_audit_options ao = AGENTAUTHZ_AUDIT_OPTIONS_INIT;
    agentauthz_engine *e = NULL;
    o.clock = fz_mono;
    o.clock_ctx = clock;
    o.wall_clock = fz_wall;
    o.wall_clock_ctx = clock;
    o.keys = fz_keys();
    o.secret_issue = fz_host_issue;
    o.name = "fuzz";
    if (agentauthz_engine_new(&e, &o, NULL) != 0)
        fz_fail("fuzz", "cannot create an engine");
    if (audit) {
        ao.callback = fz_audit_record;
        ao.ctx = audit;
        if (agentauthz_engine_set_audit(e, &ao, NULL) != 0)
            fz_fail("fuzz", "cannot start the audit log");
    }
    return e;
}

/* ---- a small deterministic generator (xorshift64*) ---- */

typedef struct fz_rng {
    uint64_t s;
} fz_rng;

static inline void fz_rng_seed(fz_rng *r, const void *p, size_t n)
{
    r->s = fz_fnv(p, n, 1469598103934665603u) | 1u;
}

static inline uint64_t fz_next(fz_rng *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 2685821657736338717u;
}

static inline size_t fz_pick(fz_rng *r, size_t n)
{
    return n ? (size_t)(fz_next(r) % n) : 0;
}

/* ---- decisions ---- */

/*
 * Whatever a check returns: the effect is one of the three; a failed check
 * (negative return) is a deny; the rule is named; the strings end in NUL
 * within their arrays.
 */
static inline void fz_check_decision(int rc, const agentauthz_decision *d)
{
    FZ_REQUIRE(rc <= 0);
    FZ_REQUIRE(d->effect == AGENTAUTHZ_ALLOW || d->effect == AGENTAUTHZ_DENY ||
               d->effect == AGENTAUTHZ_ASK);
    FZ_REQUIRE(rc == 0 || d->effect == AGENTAUTHZ_DENY);
    FZ_REQUIRE(memchr(d->rule, 0, sizeof d->rule) != NULL && d->rule[0] != '\0');
    FZ_REQUIRE(memchr(d->reason, 0, sizeof d->reason) != NULL);
}

/* An error the library filled: a code, a message, both terminated. */
static inline void fz_check_error(int rc, const agentauthz_error *err)
{
    FZ_REQUIRE(rc < 0 && err->code == rc);
    FZ_REQUIRE(memchr(err->message, 0, sizeof err->message) != NULL && err->message[0] != '\0');
    FZ_REQUIRE(memchr(err->path, 0, sizeof err->path) != NULL);
}

#endif /* AZ_FUZZ_COMMON_H */

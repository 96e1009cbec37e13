/*
 * Fuzz harness for leases, substitution and scrubbing on a live engine,
 * checked against a model of the fixed policy below.
 *
 * The input is a program: each op is one byte (op % 9) followed by its
 * operands, and drives up to two sessions through checks (with payloads
 * that may carry a live secret), lease acquire and release, substitution of
 * a template, scrubbing of an output (with live secrets spliced in raw, hex
 * or base64), clock moves, revocation, close and reopen.
 *
 * Every secret's value is known to the harness: `host` values are
 * recomputed (fuzz_common.h), the others are leased once at open through
 * the API, as a tool runtime would. Properties, any failure aborts:
 *  - a check's effect and rule are the model's: the rule's effect for the
 *    tool, "leak" when the action carries a live secret, "session" once
 *    the session has ended;
 *  - a lease is granted exactly when the model says so (session open,
 *    secret held and live, decision one of the session's last 16 allowed
 *    for that tool, tool bound to the secret), with the model's error code
 *    otherwise, and its value is the secret's;
 *  - substitution succeeds exactly when every placeholder may be leased,
 *    and then equals the template with each placeholder replaced;
 *    otherwise its code is the first failing placeholder's;
 *  - a scrubbed output holds no live secret's value;
 *  - audit records are single JSON lines that hold no secret value.
 */
#include "fuzz_common.h"

#define NSLOTS 2
#define NSECRETS 4
#define RING 16
#define MAX_LEASES 8
#define HISTORY 24
#define MAX_VALUE 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char policy[] =
    "agentauthz: 1\n"
    "secrets:\n"
    "  gh: { provider: host, ttl: 5m, tools: [\"github.*\"] }\n"
    "  db: { provider: random, bytes: 16, tools: [db.query] }\n"
    "  api: { provider: derived, tools: [http.get] }\n"
    "  tok: { provider: token, audience: \"https://api.example\", tools: [http.post] }\n"
    "tasks:\n"
    "  work: { secrets: [gh, db, api, tok] }\n"
    "  other: { secrets: [gh, db] }\n"
    "rules:\n"
    "  - { id: gh, effect: allow, tools: [\"github.*\"] }\n"
    "  - { id: db, effect: allow, tools: [db.query] }\n"
    "  - { id: http, effect: allow, tools: [http.get, http.post] }\n"
    "  - { id: deploy, effect: ask, tools: [deploy] }\n"
    "  - { id: rm, effect: deny, tools: [rm] }\n";

#define SESSION_TTL_NS (UINT64_C(15) * 60u * 1000000000u)
#define GH_TTL_NS (UINT64_C(5) * 60u * 1000000000u)

/* The secrets, with the tool each is bound to; "nope" is in no task. */
static const char *const secret_names[NSECRETS + 1] = {"gh", "db", "api", "tok", "nope"};
static const char *const tools[] = {"github.push", "db.query", "http.get", "http.post",
                                    "deploy",      "rm",       "x"};
#define NTOOLS (sizeof tools / sizeof tools[0])
/* bound[tool][secret] */
static const int bound[NTOOLS][NSECRETS] = {
    {1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}, {0, 0, 0, 1}, {0}, {0}, {0}};
static const agentauthz_effect tool_effect[NTOOLS] = {
    AGENTAUTHZ_ALLOW, AGENTAUTHZ_ALLOW, AGENTAUTHZ_ALLOW, AGENTAUTHZ_ALLOW,
    AGENTAUTHZ_ASK,   AGENTAUTHZ_DENY,  AGENTAUTHZ_DENY};
static const char *const tool_rule[NTOOLS] = {"gh", "db", "http", "http", "deploy", "rm", "default"};

typedef struct msecret {
    int held;
    unsigned char value[MAX_VALUE];
    size_t len;
    uint64_t expires_ns;
    int destroyed; /* the engine has destroyed it (out of its leak index) */
} msecret;

typedef struct slot {
    agentauthz_session *s;
    int open;  /* the model's: not closed, revoked or seen expired */
    int task;  /* 0 work, 1 other */
    uint64_t opened_ns;
    msecret sec[NSECRETS];
    struct {
        uint64_t seq;
        size_t tool;
    } ring[RING];
    size_t ring_next;
} slot;

typedef struct hist {
    agentauthz_action *a;
    size_t tool;
    agentauthz_decision d;
} hist;

typedef struct world {
    agentauthz_engine *e;
    fz_clock clock;
    fz_audit audit;
    slot slots[NSLOTS];
    hist h[HISTORY];
    size_t nh;
    agentauthz_lease *leases[MAX_LEASES];
    const uint8_t *in;
    size_t len, pos;
} world;

static uint8_t next_byte(world *w)
{
    return w->pos < w->len ? w->in[w->pos++] : 0;
}

/* A chunk of the input: a length byte (times mul) and that many bytes. */
static const uint8_t *next_chunk(world *w, size_t mul, size_t *n)
{
    size_t want = (size_t)next_byte(w) * mul;
    const uint8_t *p = w->in + w->pos;
    if (want > w->len - w->pos)
        want = w->len - w->pos;
    w->pos += want;
    *n = want;
    return p;
}

/* Whether a lease may still hand the secret out: held, not destroyed, TTL not passed. */
static int live(const world *w, const slot *sl, size_t i)
{
    return sl->s && sl->sec[i].held && !sl->sec[i].destroyed &&
           w->clock.mono < sl->sec[i].expires_ns;
}

/*
 * Whether the engine still scans for it: held and not destroyed (expiry is
 * lazy). Only once its value is known (while the harness learns it, not).
 */
static int indexed(const slot *sl, size_t i)
{
    return sl->s && sl->sec[i].held && !sl->sec[i].destroyed && sl->sec[i].len > 0;
}

static void destroy_all(slot *sl)
{
    for (size_t i = 0; i < NSECRETS; i++)
        sl->sec[i].destroyed = 1;
}

/* What the engine does on a check or a lease: destroys the session's expired secrets. */
static void expire(const world *w, slot *sl)
{
    for (size_t i = 0; i < NSECRETS; i++)
        if (w->clock.mono >= sl->sec[i].expires_ns)
            sl->sec[i].destroyed = 1;
}

/* Whether a check finds the session live: it ends when its TTL has passed. */
static int session_ok(const world *w, slot *sl)
{
    if (sl->open && w->clock.mono - sl->opened_ns >= SESSION_TTL_NS) {
        sl->open = 0;
        destroy_all(sl);
    }
    if (sl->open)
        expire(w, sl);
    return sl->open;
}

static void forbid_values(world *w)
{
    w->audit.nforbidden = 0;
    for (size_t k = 0; k < NSLOTS; k++)
        for (size_t i = 0; i < NSECRETS && w->audit.nforbidden < 8; i++)
            if (w->slots[k].s && w->slots[k].sec[i].held) {
                w->audit.forbidden[w->audit.nforbidden] = (const char *)w->slots[k].sec[i].value;
                w->audit.forbidden_len[w->audit.nforbidden++] = w->slots[k].sec[i].len;
            }
}

/* ---- checks ---- */

static void note_allowed(slot *sl, uint64_t seq, size_t tool)
{
    sl->ring[sl->ring_next % RING].seq = seq;
    sl->ring[sl->ring_next % RING].tool = tool;
    sl->ring_next++;
}

static int any_indexed_in(const world *w, const unsigned char *p, size_t n)
{
    for (size_t k = 0; k < NSLOTS; k++)
        for (size_t i = 0; i < NSECRETS; i++)
            if (indexed(&w->slots[k], i) &&
                memmem(p, n, w->slots[k].sec[i].value, w->slots[k].sec[i].len))
                return 1;
    return 0;
}

/* A live secret's value, spliced raw into buf at the middle of data. */
static size_t splice(const world *w, uint8_t which, const uint8_t *data, size_t n,
                     unsigned char *buf, size_t cap)
{
    const msecret *m = NULL;
    size_t half = n / 2, o = 0;
    for (size_t t = 0; t < NSLOTS * NSECRETS && !m; t++) {
        size_t idx = (which + t) % (NSLOTS * NSECRETS);
        if (indexed(&w->slots[idx / NSECRETS], idx % NSECRETS))
            m = &w->slots[idx / NSECRETS].sec[idx % NSECRETS];
    }
    memcpy(buf, data, half);
    o = half;
    if (m && o + m->len + (n - half) <= cap) {
        if ((which & 0x30) == 0x10 && o + 2 * m->len + (n - half) <= cap) {
            sodium_bin2hex((char *)buf + o, 2 * m->len + 1, m->value, m->len);
            o += 2 * m->len;
        } else if ((which & 0x30) == 0x20 &&
                   o + sodium_base64_ENCODED_LEN(m->len, sodium_base64_VARIANT_ORIGINAL) +
                           (n - half) <= cap) {
            sodium_bin2base64((char *)buf + o, cap - o, m->value, m->len,
                              sodium_base64_VARIANT_ORIGINAL);
            o += strlen((char *)buf + o);
        } else {
            memcpy(buf + o, m->value, m->len);
            o += m->len;
        }
    }
    memcpy(buf + o, data + half, n - half);
    return o + (n - half);
}

static hist *new_hist(world *w)
{
    hist *h = &w->h[w->nh % HISTORY];
    if (!h->a)
        FZ_REQUIRE(agentauthz_action_new(&h->a) == 0);
    agentauthz_action_reset(h->a);
    w->nh++;
    return h;
}

/*
 * The model's decision of a check on slot sl of tool t carrying payload p
 * (in which an encoded secret may have been spliced, which the model does
 * not decode: then "leak" is also accepted).
 */
static void expect_check(world *w, slot *sl, size_t t, const unsigned char *p, size_t n,
                         agentauthz_effect *effect, const char **rule)
{
    if (!session_ok(w, sl)) {
        *effect = AGENTAUTHZ_DENY;
        *rule = "session";
    } else if (any_indexed_in(w, p, n)) {
        *effect = AGENTAUTHZ_DENY;
        *rule = "leak";
    } else {
        *effect = tool_effect[t];
        *rule = tool_rule[t];
    }
}

static void do_check_on(world *w, slot *sl, size_t t, const unsigned char *p, size_t n,
                        int encoded)
{
    hist *h = new_hist(w);
    agentauthz_effect want;
    const char *rule;
    int rc;
    expect_check(w, sl, t, p, n, &want, &rule);
    FZ_REQUIRE(agentauthz_action_set_tool(h->a, tools[t]) == 0);
    FZ_REQUIRE(agentauthz_action_set_payload(h->a, p, n) == 0);
    h->tool = t;
    rc = agentauthz_check(sl->s, h->a, &h->d);
    fz_check_decision(rc, &h->d);
    FZ_REQUIRE(rc == 0);
    if (encoded && h->d.effect == AGENTAUTHZ_DENY && strcmp(h->d.rule, "leak") == 0)
        return;
    if (h->d.effect != want || strcmp(h->d.rule, rule) != 0) {
        fprintf(stderr, "check %s: got %s (rule %s: %s), the model says %s (rule %s)\n", tools[t],
                agentauthz_effect_name(h->d.effect), h->d.rule, h->d.reason,
                agentauthz_effect_name(want), rule);
        fz_fail("fuzz_secrets", "a decision differs from the model");
    }
    if (h->d.effect == AGENTAUTHZ_ALLOW)
        note_allowed(sl, h->d.seq, t);
}

static void op_check(world *w)
{
    uint8_t b = next_byte(w), which = next_byte(w);
    slot *sl = &w->slots[b & 1];
    size_t n, t = (size_t)(b >> 1) % NTOOLS;
    const uint8_t *p = next_chunk(w, 1, &n);
    unsigned char buf[2 * 256 + 2 * MAX_VALUE + 8];
    if (!sl->s)
        return;
    n = (b & 0x80) ? splice(w, which, p, n, buf, sizeof buf) : (memcpy(buf, p, n), n);
    do_check_on(w, sl, t, buf, n, (b & 0x80) && (which & 0x30));
}

/* ---- leases ---- */

static int recently_allowed(const slot *sl, const hist *h)
{
    if (h->d.effect != AGENTAUTHZ_ALLOW || h->d.seq == 0)
        return 0;
    for (size_t i = 0; i < RING && i < sl->ring_next; i++)
        if (sl->ring[i].seq == h->d.seq && strcmp(tools[sl->ring[i].tool], tools[h->tool]) == 0)
            return 1;
    return 0;
}

/* The model's answer to a lease of secret i (NSECRETS: one the task does not list). */
static int expect_lease(world *w, slot *sl, const hist *h, size_t i)
{
    if (!sl->open)
        return AGENTAUTHZ_ESESSION;
    if (i >= NSECRETS || !sl->sec[i].held)
        return AGENTAUTHZ_ENOTFOUND;
    expire(w, sl);
    if (!live(w, sl, i))
        return AGENTAUTHZ_ESESSION;
    if (!recently_allowed(sl, h) || !bound[h->tool][i])
        return AGENTAUTHZ_EDENIED;
    return 0;
}

static const hist *pick_hist(world *w, uint8_t b)
{
    size_t back;
    if (w->nh == 0)
        return NULL;
    back = (size_t)b % (w->nh < HISTORY ? w->nh : HISTORY);
    return &w->h[(w->nh - 1 - back) % HISTORY];
}

static void op_lease(world *w)
{
    uint8_t b = next_byte(w), c = next_byte(w);
    slot *sl = &w->slots[b & 1];
    const hist *h = pick_hist(w, c);
    size_t i = (size_t)(b >> 1) % (NSECRETS + 1), len = 0;
    agentauthz_lease *l = NULL;
    agentauthz_error err;
    const unsigned char *v;
    int rc, want;
    if (!sl->s || !h)
        return;
    want = expect_lease(w, sl, h, i);
    memset(&err, 0, sizeof err);
    rc = agentauthz_lease_acquire(sl->s, h->a, &h->d, secret_names[i], &l, &err);
    FZ_REQUIRE(rc == want);
    if (rc) {
        FZ_REQUIRE(l == NULL);
        fz_check_error(rc, &err);
        return;
    }
    v = agentauthz_lease_value(l, &len);
    FZ_REQUIRE(v && len == sl->sec[i].len && memcmp(v, sl->sec[i].value, len) == 0);
    FZ_REQUIRE(agentauthz_lease_valid(l));
    agentauthz_lease_release(w->leases[c % MAX_LEASES]);
    w->leases[c % MAX_LEASES] = l;
}

static void op_release(world *w)
{
    uint8_t b = next_byte(w);
    agentauthz_lease_release(w->leases[b % MAX_LEASES]);
    w->leases[b % MAX_LEASES] = NULL;
}

/* ---- substitution ---- */

static size_t secret_index(const char *name, size_t n)
{
    for (size_t i = 0; i < NSECRETS; i++)
        if (strlen(secret_names[i]) == n && memcmp(secret_names[i], name, n) == 0)
            return i;
    return NSECRETS;
}

static int name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '.' || c == ':' || c == '-';
}

static int name_valid(const char *s, size_t n)
{
    if (n == 0 || n > 128)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!name_char(s[i]))
            return 0;
    return 1;
}

/* The model of substitution: 0 with the text in out, or the first failure's code. */
static int expect_substitute(world *w, slot *sl, const hist *h, const char *t, size_t n,
                             unsigned char *out, size_t *olen)
{
    static const char ph[] = "${secret:";
    size_t i = 0, o = 0;
    while (i < n) {
        const char *start = memmem(t + i, n - i, ph, sizeof ph - 1), *name, *close;
        size_t lit = start ? (size_t)(start - (t + i)) : n - i, k;
        int rc;
        memcpy(out + o, t + i, lit);
        o += lit;
        i += lit;
        if (!start)
            break;
        name = start + sizeof ph - 1;
        close = memchr(name, '}', (size_t)(t + n - name));
        if (!close || !name_valid(name, (size_t)(close - name)))
            return AGENTAUTHZ_EINVAL;
        k = secret_index(name, (size_t)(close - name));
        if ((rc = expect_lease(w, sl, h, k)) != 0)
            return rc;
        memcpy(out + o, sl->sec[k].value, sl->sec[k].len);
        o += sl->sec[k].len;
        i = (size_t)(close + 1 - t);
    }
    *olen = o;
    return 0;
}

static void op_substitute(world *w)
{
    uint8_t b = next_byte(w), c = next_byte(w);
    slot *sl = &w->slots[b & 1];
    const hist *h = pick_hist(w, c);
    size_t n, want_len = 0, got_len = 0;
    const char *t = (const char *)next_chunk(w, 1 + (b >> 6), &n);
    agentauthz_secret_buffer *out = NULL;
    agentauthz_error err;
    unsigned char *want;
    const unsigned char *got;
    int rc, want_rc;
    if (!sl->s || !h)
        return;
    /* Each placeholder is at least 11 bytes and a value at most MAX_VALUE. */
    want = malloc(n + (n / 11 + 1) * MAX_VALUE + 1);
    FZ_REQUIRE(want != NULL);
    want_rc = expect_substitute(w, sl, h, t, n, want, &want_len);
    memset(&err, 0, sizeof err);
    rc = agentauthz_substitute(sl->s, h->a, &h->d, t, n, &out, &err);
    FZ_REQUIRE(rc == want_rc);
    if (rc == 0) {
        got = agentauthz_secret_buffer_data(out, &got_len);
        FZ_REQUIRE(got && got_len == want_len && memcmp(got, want, want_len) == 0);
    } else {
        FZ_REQUIRE(out == NULL);
        fz_check_error(rc, &err);
    }
    agentauthz_secret_buffer_free(out);
    free(want);
}

/* ---- scrubbing ---- */

static void op_scrub(world *w)
{
    uint8_t b = next_byte(w), which = next_byte(w);
    slot *sl = &w->slots[b & 1];
    size_t n, outlen = 0;
    const uint8_t *p = next_chunk(w, 1 + (b >> 6), &n);
    unsigned char *buf = malloc(n + 2 * MAX_VALUE + 8);
    char *out = NULL;
    agentauthz_error err;
    FZ_REQUIRE(buf != NULL);
    if (!sl->s) {
        free(buf);
        return;
    }
    n = (b & 2) ? splice(w, which, p, n, buf, n + 2 * MAX_VALUE + 8) : (memcpy(buf, p, n), n);
    memset(&err, 0, sizeof err);
    FZ_REQUIRE(agentauthz_scrub(sl->s, buf, n, &out, &outlen, &err) == 0);
    FZ_REQUIRE(out != NULL && out[outlen] == '\0');
    FZ_REQUIRE(!any_indexed_in(w, (const unsigned char *)out, outlen));
    agentauthz_free(out);
    free(buf);
}

/* ---- sessions ---- */

/* Learns each held secret's value: host ones by recomputing, the others by a lease. */
static void learn_values(world *w, slot *sl)
{
    for (size_t i = 0; i < NSECRETS; i++) {
        msecret *m = &sl->sec[i];
        agentauthz_lease *l = NULL;
        const unsigned char *v;
        size_t t = 0;
        if (!m->held)
            continue;
        if (i == 0) {
            m->len = fz_host_value("gh", agentauthz_session_id(sl->s), (char *)m->value);
            continue;
        }
        while (!bound[t][i])
            t++;
        do_check_on(w, sl, t, (const unsigned char *)"", 0, 0);
        FZ_REQUIRE(agentauthz_lease_acquire(sl->s, w->h[(w->nh - 1) % HISTORY].a,
                                            &w->h[(w->nh - 1) % HISTORY].d, secret_names[i], &l,
                                            NULL) == 0);
        v = agentauthz_lease_value(l, &m->len);
        FZ_REQUIRE(v && m->len > 0 && m->len <= MAX_VALUE);
        memcpy(m->value, v, m->len);
        agentauthz_lease_release(l);
    }
}

static void op_open(world *w)
{
    uint8_t b = next_byte(w);
    slot *sl = &w->slots[b & 1];
    agentauthz_error err;
    if (sl->s)
        return;
    memset(sl, 0, sizeof *sl);
    sl->task = (b >> 1) & 1;
    memset(&err, 0, sizeof err);
    if (agentauthz_session_open(w->e, "spiffe://fuzz.example/agent", sl->task ? "other" : "work",
                                NULL, &sl->s, &err) != 0)
        fz_fail("fuzz_secrets", err.message);
    sl->open = 1;
    sl->opened_ns = w->clock.mono;
    for (size_t i = 0; i < NSECRETS; i++) {
        sl->sec[i].held = sl->task == 0 || i < 2;
        sl->sec[i].expires_ns = sl->opened_ns + (i == 0 ? GH_TTL_NS : SESSION_TTL_NS);
    }
    learn_values(w, sl);
    forbid_values(w);
}

static void op_end(world *w)
{
    uint8_t b = next_byte(w);
    slot *sl = &w->slots[b & 1];
    if (!sl->s)
        return;
    if (b & 2) {
        FZ_REQUIRE(agentauthz_session_revoke(sl->s) == 0);
        sl->open = 0;
        destroy_all(sl);
        return;
    }
    /* Leases hold their session: the handle may close under them. */
    agentauthz_session_close(sl->s);
    memset(sl, 0, sizeof *sl);
    forbid_values(w);
}

static void op_advance(world *w)
{
    w->clock.mono += (uint64_t)(next_byte(w) % 8) * 60u * 1000000000u;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static void (*const ops[])(world *) = {op_check, op_lease,   op_release, op_substitute,
                                           op_scrub, op_open,    op_end,     op_advance,
                                           op_check};
    world *w;
    if (size > 16384 || !(w = calloc(1, sizeof *w)))
        return 0;
    w->in = data;
    w->len = size;
    w->e = fz_engine(&w->clock, &w->audit);
    if (agentauthz_engine_load_string(w->e, "secrets.yaml", policy, sizeof policy - 1, NULL,
                                      NULL) != 0)
        fz_fail("fuzz_secrets", "the fixed policy does not load");
    /* Slot 0 starts open on task work, so that short inputs reach the calls. */
    {
        static const uint8_t open0[] = {0};
        const uint8_t *in = w->in;
        size_t len = w->len, pos = w->pos;
        w->in = open0, w->len = 1, w->pos = 0;
        op_open(w);
        w->in = in, w->len = len, w->pos = pos;
    }
    for (size_t steps = 0; w->pos < w->len && steps < 256; steps++)
        ops[next_byte(w) % (sizeof ops / sizeof ops[0])](w);
    for (size_t i = 0; i < MAX_LEASES; i++)
        agentauthz_lease_release(w->leases[i]);
    for (size_t i = 0; i < NSLOTS; i++)
        agentauthz_session_close(w->slots[i].s);
    for (size_t i = 0; i < HISTORY; i++)
        agentauthz_action_free(w->h[i].a);
    agentauthz_engine_free(w->e);
    free(w);
    return 0;
}

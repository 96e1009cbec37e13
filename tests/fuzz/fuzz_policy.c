/*
 * Fuzz harness for policy compile and evaluate: the input is a policy text,
 * loaded with agentauthz_engine_load_string into an engine that already
 * holds a fixed policy. Then, when it loads, a few checks are made.
 *
 * The session: the first identities entry whose glob a name derived from
 * it matches (any name when the policy has no identities), and the first
 * task that this identity may open, with parameters of the declared types.
 * The actions: built by a generator seeded with the input's last bytes from
 * the policy's own tool patterns, catalogue and predicate literals (so that
 * rules fire), each sometimes bent a little (a suffix, a path climb, case),
 * plus fixed hostile values.
 *
 * Properties, any failure aborts:
 *  - a failed load returns an error code with a message and leaves the
 *    policy in force as it was (same hash, same generation);
 *  - a load either succeeds or fails, with the same result when repeated;
 *  - every decision is allow, deny or ask, names a rule, and a check that
 *    returns an error is a deny;
 *  - after an approval of an ask, the same action is no longer an ask;
 *  - with on_deny: revoke, a deny ends the session (next check: rule
 *    "session"); past a task's `calls` limit every check is a deny;
 *  - a session open that fails says why; every audit record is one line
 *    of one JSON object and holds no value of the session's host secrets.
 *
 * Build for libFuzzer (see tests/fuzz/README.md); without it, replay.c
 * replays the corpus in tests/fuzz/corpus/policy under make check.
 */
#include "fuzz_common.h"

#include "internal.h"
#include "session.h"

#define FUZZ_MAX (64u * 1024u)
#define NCHECKS 6
#define POOL_MAX 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char base_policy[] = "agentauthz: 1\n"
                                  "rules:\n"
                                  "  - { id: base, effect: allow, tools: [base.tool] }\n";

/* Strings and numbers the policy mentions, for building actions that match it. */
typedef struct pool {
    const char *s[POOL_MAX];
    size_t ns;
    double num[POOL_MAX];
    size_t nnum;
    const char *tools[POOL_MAX];
    size_t ntools;
    char tool_buf[POOL_MAX][160];
} pool;

typedef struct fuzz_run {
    agentauthz_engine *e;
    const az_policy *p;
    fz_clock clock;
    fz_audit audit;
    fz_rng rng;
    pool pool;
    char host_values[8][FZ_HOST_LEN + 1];
} fuzz_run;

static const char *const fixed_strings[] = {
    "/kb/howto.md",       "/kb/../etc/passwd",      "/kb/.ENV",
    "",                   "/",                      "..",
    "bob@corp.example",   "<bob@evil.com>@corp.example", "bob@evil.com,alice@corp.example",
    "http://169.254.169.254/latest/meta-data/",     "169.254.169.254:80",
    "[::1]:443",          "https://api.corp.example/v1", "corp.example.",
    "main",               "github.repo.push",       "secret",
    "internal",           "\xc3\xa9t\xc3\xa9",        "a\\b",
};

static void pool_add_string(pool *pl, const char *s)
{
    if (pl->ns < POOL_MAX && s)
        pl->s[pl->ns++] = s;
}

/* A name that a glob plausibly matches: each wildcard becomes one letter. */
static void glob_instance(const char *pat, size_t len, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 2 < cap; i++) {
        char c = pat[i];
        if (c == '*') {
            while (i + 1 < len && pat[i + 1] == '*')
                i++;
            out[o++] = 'a';
        } else if (c == '?') {
            out[o++] = 'a';
        } else if (c == '[') {
            size_t j = i + 1;
            if (j < len && (pat[j] == '!' || pat[j] == '^'))
                j++;
            out[o++] = j < len ? pat[j] : 'a';
            while (j + 1 < len && pat[j + 1] != ']')
                j++;
            i = j + 1;
        } else if (c == '\\' && i + 1 < len) {
            out[o++] = pat[++i];
        } else {
            out[o++] = c;
        }
    }
    out[o] = '\0';
}

static void collect_pred(pool *pl, const az_pred *pr, int depth)
{
    if (depth > 8)
        return;
    for (size_t i = 0; i < pr->nitems; i++) {
        const agentauthz_value *v = pr->items[i].lit;
        if (agentauthz_value_type(v) == AGENTAUTHZ_STRING)
            pool_add_string(pl, agentauthz_value_get_string(v, NULL));
        else if (agentauthz_value_type(v) == AGENTAUTHZ_NUMBER && pl->nnum < POOL_MAX)
            pl->num[pl->nnum++] = agentauthz_value_get_number(v);
    }
    for (size_t k = 0; k < pr->nkids; k++)
        collect_pred(pl, &pr->kids[k], depth + 1);
}

static void collect_where(pool *pl, const az_where *w, int depth)
{
    if (depth > 8)
        return;
    for (size_t i = 0; i < w->nconds; i++)
        collect_pred(pl, &w->conds[i].pred, 0);
    for (size_t i = 0; i < w->nany; i++)
        collect_where(pl, &w->any[i], depth + 1);
    if (w->not_)
        collect_where(pl, w->not_, depth + 1);
}

static void add_tool(pool *pl, const char *pat, size_t len)
{
    if (pl->ntools >= POOL_MAX)
        return;
    glob_instance(pat, len, pl->tool_buf[pl->ntools], sizeof pl->tool_buf[0]);
    if (pl->tool_buf[pl->ntools][0]) {
        pl->tools[pl->ntools] = pl->tool_buf[pl->ntools];
        pl->ntools++;
    }
}

static void collect(pool *pl, const az_policy *p)
{
    memset(pl, 0, sizeof *pl);
    for (size_t i = 0; i < p->nrules; i++) {
        const az_rule *r = &p->rules[i];
        for (size_t t = 0; t < r->ntools; t++)
            add_tool(pl, r->tools[t].pat, r->tools[t].len);
        collect_where(pl, &r->where, 0);
    }
    for (size_t i = 0; i < p->ntools; i++)
        add_tool(pl, p->tools[i].name, strlen(p->tools[i].name));
    for (size_t i = 0; i < sizeof fixed_strings / sizeof fixed_strings[0]; i++)
        pool_add_string(pl, fixed_strings[i]);
    add_tool(pl, "read_file", 9);
}

/* A string from the pool, sometimes bent one step away from it. */
static agentauthz_value *some_string(fuzz_run *r)
{
    const char *s = r->pool.s[fz_pick(&r->rng, r->pool.ns)];
    char buf[512];
    switch (fz_pick(&r->rng, 8)) {
    case 0:
        snprintf(buf, sizeof buf, "%sx", s);
        break;
    case 1:
        snprintf(buf, sizeof buf, "%s/../..", s);
        break;
    case 2:
        snprintf(buf, sizeof buf, "%s", s);
        for (char *c = buf; *c; c++)
            if (*c >= 'a' && *c <= 'z')
                *c = (char)(*c - 32);
        break;
    default:
        return agentauthz_value_string(s);
    }
    return agentauthz_value_string(buf);
}

static agentauthz_value *some_value(fuzz_run *r, int depth)
{
    size_t k = fz_pick(&r->rng, depth > 1 ? 6 : 8);
    agentauthz_value *v;
    double n;
    switch (k) {
    case 0:
        return agentauthz_value_null();
    case 1:
        return agentauthz_value_bool((int)fz_pick(&r->rng, 2));
    case 2:
    case 3:
        n = r->pool.nnum ? r->pool.num[fz_pick(&r->rng, r->pool.nnum)] : 1000;
        return agentauthz_value_number(n + (double)fz_pick(&r->rng, 3) - 1);
    case 6:
        v = agentauthz_value_list();
        for (size_t i = fz_pick(&r->rng, 3); v && i > 0; i--)
            if (agentauthz_value_list_append(v, some_value(r, depth + 1)) != 0)
                break;
        return v;
    case 7:
        v = agentauthz_value_map();
        if (v)
            (void)agentauthz_value_map_set(v, "k", some_value(r, depth + 1));
        return v;
    default:
        return some_string(r);
    }
}

/* args.a.b.c: {"a": {"b": {"c": value}}}. */
static void set_arg_path(fuzz_run *r, agentauthz_action *a, const az_cond *c)
{
    agentauthz_value *v = some_value(r, 0);
    char key[AZ_MAX_NAME + 1];
    for (size_t i = c->npath; v && i > 1; i--) {
        agentauthz_value *m = agentauthz_value_map();
        snprintf(key, sizeof key, "%.*s", (int)(c->plen[i - 1] > AZ_MAX_NAME ? AZ_MAX_NAME : c->plen[i - 1]),
                 c->path[i - 1]);
        if (!m || agentauthz_value_map_set(m, key, v) != 0) {
            agentauthz_value_free(m);
            return;
        }
        v = m;
    }
    snprintf(key, sizeof key, "%.*s", (int)(c->plen[0] > AZ_MAX_NAME ? AZ_MAX_NAME : c->plen[0]),
             c->path[0]);
    (void)agentauthz_action_set_arg(a, key, v);
}

static void set_args(fuzz_run *r, agentauthz_action *a)
{
    for (size_t i = 0; i < r->p->nrules; i++) {
        const az_where *w = &r->p->rules[i].where;
        for (size_t k = 0; k < w->nconds; k++)
            if (w->conds[k].field == AZ_F_ARGS && w->conds[k].npath > 0 && fz_pick(&r->rng, 3))
                set_arg_path(r, a, &w->conds[k]);
    }
}

static void set_string_field(fuzz_run *r, agentauthz_action *a,
                             int (*set)(agentauthz_action *, const char *))
{
    agentauthz_value *v = some_string(r);
    if (v)
        (void)set(a, agentauthz_value_get_string(v, NULL));
    agentauthz_value_free(v);
}

static void build_action(fuzz_run *r, agentauthz_action *a)
{
    const char *tool = r->pool.ntools ? r->pool.tools[fz_pick(&r->rng, r->pool.ntools)] : "t";
    agentauthz_action_reset(a);
    FZ_REQUIRE(agentauthz_action_set_tool(a, tool) == 0);
    if (fz_pick(&r->rng, 2))
        set_string_field(r, a, agentauthz_action_set_resource);
    for (size_t i = fz_pick(&r->rng, 4); i > 0; i--)
        set_string_field(r, a, agentauthz_action_add_destination);
    for (size_t i = fz_pick(&r->rng, 3); i > 0; i--)
        set_string_field(r, a, agentauthz_action_add_label);
    if (fz_pick(&r->rng, 4) == 0) {
        const char *s = r->pool.s[fz_pick(&r->rng, r->pool.ns)];
        (void)agentauthz_action_set_payload(a, s, strlen(s));
    }
    set_args(r, a);
}

/* Parameters of the declared types. */
static agentauthz_value *make_params(fuzz_run *r, const az_task *t)
{
    agentauthz_value *m;
    if (t->nparams == 0)
        return NULL;
    m = agentauthz_value_map();
    for (size_t i = 0; m && i < t->nparams; i++) {
        agentauthz_value *v;
        switch (t->params[i].type) {
        case AGENTAUTHZ_NUMBER:
            v = agentauthz_value_number(r->pool.nnum ? r->pool.num[0] : 100);
            break;
        case AGENTAUTHZ_BOOL:
            v = agentauthz_value_bool(1);
            break;
        case AGENTAUTHZ_LIST:
            v = agentauthz_value_list();
            if (v)
                (void)agentauthz_value_list_append(v, agentauthz_value_string("main"));
            break;
        default:
            v = some_string(r);
            break;
        }
        if (agentauthz_value_map_set(m, t->params[i].name, v) != 0)
            break;
    }
    return m;
}

/* The identity: the first entry's instance that its own glob matches. */
static void pick_identity(const az_policy *p, char *out, size_t cap)
{
    snprintf(out, cap, "spiffe://fuzz.example/agent");
    for (size_t i = 0; i < p->nidentities; i++) {
        const az_glob *g = &p->identities[i].match;
        glob_instance(g->pat, g->len, out, cap);
        if (az_glob_match(g, out, strlen(out)))
            return;
    }
    snprintf(out, cap, "spiffe://fuzz.example/agent");
}

/* The values of the session's host secrets, which no audit record may hold. */
static void note_host_secrets(fuzz_run *r, const az_task *t, const agentauthz_session *s)
{
    r->audit.nforbidden = 0;
    for (size_t i = 0; i < t->nsecrets && r->audit.nforbidden < 8; i++) {
        const az_secret_decl *sd = &r->p->secrets[t->secrets[i]];
        size_t k = r->audit.nforbidden;
        if (sd->provider != AZ_PROVIDER_HOST)
            continue;
        r->audit.forbidden_len[k] = fz_host_value(sd->name, agentauthz_session_id(s), r->host_values[k]);
        r->audit.forbidden[k] = r->host_values[k];
        r->audit.nforbidden++;
    }
}

static agentauthz_session *open_session(fuzz_run *r, size_t *task_out)
{
    char identity[512];
    pick_identity(r->p, identity, sizeof identity);
    for (size_t t = 0; t < r->p->ntasks; t++) {
        agentauthz_session_options so = AGENTAUTHZ_SESSION_OPTIONS_INIT;
        agentauthz_session *s = NULL;
        agentauthz_error err;
        agentauthz_value *params = make_params(r, &r->p->tasks[t]);
        int rc;
        memset(&err, 0, sizeof err);
        so.params = params;
        rc = agentauthz_session_open(r->e, identity, r->p->tasks[t].name, &so, &s, &err);
        agentauthz_value_free(params);
        if (rc == 0) {
            FZ_REQUIRE(s != NULL);
            note_host_secrets(r, &r->p->tasks[t], s);
            *task_out = t;
            return s;
        }
        FZ_REQUIRE(s == NULL);
        fz_check_error(rc, &err);
    }
    return NULL;
}

static int revokes_on_deny(const az_policy *p, const az_task *t)
{
    return t->on_deny < 0 ? p->revoke_on_deny : t->on_deny == 1;
}

static void run_checks(fuzz_run *r, agentauthz_session *s, const az_task *t)
{
    agentauthz_action *a = NULL;
    int ended = 0;
    FZ_REQUIRE(agentauthz_action_new(&a) == 0);
    for (uint64_t k = 1; k <= NCHECKS; k++) {
        agentauthz_decision d;
        int rc;
        build_action(r, a);
        rc = agentauthz_check(s, a, &d);
        fz_check_decision(rc, &d);
        if (getenv("AZ_FUZZ_VERBOSE"))
            fprintf(stderr, "check %s: %s %s (%s)\n", t->name, agentauthz_effect_name(d.effect),
                    d.rule, d.reason);
        if (ended)
            FZ_REQUIRE(d.effect == AGENTAUTHZ_DENY && strcmp(d.rule, "session") == 0);
        if (t->has_calls && k > t->calls)
            FZ_REQUIRE(d.effect == AGENTAUTHZ_DENY);
        if (d.effect == AGENTAUTHZ_DENY && revokes_on_deny(r->p, t))
            ended = 1;
        if (d.effect == AGENTAUTHZ_ASK && agentauthz_approve(s, a, AGENTAUTHZ_APPROVE_ONCE) == 0) {
            rc = agentauthz_check(s, a, &d);
            fz_check_decision(rc, &d);
            FZ_REQUIRE(d.effect != AGENTAUTHZ_ASK);
            k++;
            if (d.effect == AGENTAUTHZ_DENY && revokes_on_deny(r->p, t))
                ended = 1;
        }
        if (fz_pick(&r->rng, 4) == 0)
            r->clock.mono += UINT64_C(60) * 1000000000u; /* a minute passes */
    }
    agentauthz_action_free(a);
}

static void same_info(const agentauthz_policy_info *a, const agentauthz_policy_info *b)
{
    FZ_REQUIRE(strcmp(a->hash, b->hash) == 0 && a->generation == b->generation &&
               a->rules == b->rules && a->tasks == b->tasks);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_run *r;
    agentauthz_policy_info before, after;
    agentauthz_error err;
    const char *text = (const char *)data;
    size_t task = 0;
    int rc, rc2;
    if (size > FUZZ_MAX || !(r = calloc(1, sizeof *r)))
        return 0;
    r->e = fz_engine(&r->clock, &r->audit);
    if (agentauthz_engine_load_string(r->e, "base.yaml", base_policy, sizeof base_policy - 1, NULL,
                                      NULL) != 0 ||
        agentauthz_engine_policy_info(r->e, &before) != 0)
        fz_fail("fuzz_policy", "the base policy does not load");
    memset(&err, 0, sizeof err);
    rc = agentauthz_engine_load_string(r->e, "fuzz.yaml", text ? text : "", size, NULL, &err);
    if (rc != 0) {
        fz_check_error(rc, &err);
        FZ_REQUIRE(agentauthz_engine_policy_info(r->e, &after) == 0);
        same_info(&before, &after);
        /* Deterministic: the same text fails the same way. */
        rc2 = agentauthz_engine_load_string(r->e, "fuzz.yaml", text ? text : "", size, NULL, NULL);
        FZ_REQUIRE(rc2 == rc);
        goto out;
    }
    FZ_REQUIRE(agentauthz_engine_policy_info(r->e, &after) == 0);
    FZ_REQUIRE(after.generation == before.generation + 1);
    r->p = atomic_load(&r->e->policy);
    collect(&r->pool, r->p);
    fz_rng_seed(&r->rng, data + (size > 16 ? size - 16 : 0), size > 16 ? 16 : size);
    {
        agentauthz_session *s = open_session(r, &task);
        if (s) {
            run_checks(r, s, &r->p->tasks[task]);
            agentauthz_session_close(s);
        }
    }
out:
    agentauthz_engine_free(r->e);
    free(r);
    return 0;
}

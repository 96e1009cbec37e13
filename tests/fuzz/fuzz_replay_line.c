/*
 * Fuzz harness for the trace lines of `agentauthz replay` (cli/replay_line.c,
 * linked as tests/cli/test_cli_payload does) against a fixed policy.
 *
 * The input is a trace: lines of JSON. Each is parsed as the command does
 * (agentauthz_value_parse_json, replay_line_parse), then replayed: a clock
 * line moves the engine's clock; an action line opens its session on first
 * use, builds the action with replay_line_action, approves it when asked
 * and checks it, and may close the session.
 *
 * Properties, any failure aborts:
 *  - a refused line has a message; an accepted one has the fields its kind
 *    needs, of the types the parser promises;
 *  - the built action carries exactly the line's arguments (same JSON);
 *  - every decision is allow, deny or ask with a rule, a failed check a
 *    deny, and an approved action is not asked again;
 *  - the whole trace replayed again on a fresh engine gives the same
 *    decisions and errors, line for line.
 */
#include "fuzz_common.h"

#include "replay.h"

#define MAX_SESSIONS 8
#define MAX_TRACE (64u * 1024u)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char policy[] =
    "agentauthz: 1\n"
    "identities:\n"
    "  - { match: \"spiffe://corp.example/agents/support/*\", roles: [support] }\n"
    "  - { match: \"spiffe://corp.example/agents/coder\", roles: [coder] }\n"
    "lists:\n"
    "  inside: [corp.example]\n"
    "tools:\n"
    "  read_file: { produces: [internal] }\n"
    "  send_email: { sink: true }\n"
    "secrets:\n"
    "  gh: { provider: host, tools: [\"github.*\"] }\n"
    "tasks:\n"
    "  triage: { roles: [support], limits: { calls: 20, per_tool: { send_email: 2 } } }\n"
    "  refund:\n"
    "    roles: [support]\n"
    "    params: { email: string, max: number }\n"
    "  code: { roles: [coder], secrets: [gh], on_deny: revoke, otherwise: ask }\n"
    "rules:\n"
    "  - { id: read-kb, effect: allow, tools: [read_file], where: { resource: { glob: \"/kb/**\" } } }\n"
    "  - { id: dotenv, effect: deny, tools: [\"*\"], where: { resource: { glob: \"**/.env*\" } } }\n"
    "  - id: mail\n"
    "    effect: allow\n"
    "    tools: [send_email]\n"
    "    where: { destination: { each: { domain: { list: inside } } } }\n"
    "  - id: exfil\n"
    "    effect: deny\n"
    "    tools: [\"*\"]\n"
    "    where:\n"
    "      session.labels: { has: internal }\n"
    "      tool.sink: true\n"
    "      destination: { not: { domain: [corp.example] } }\n"
    "  - id: refund\n"
    "    effect: allow\n"
    "    tasks: [refund]\n"
    "    tools: [payments.refund]\n"
    "    where:\n"
    "      args.email: { eq: { param: email }, icase: true }\n"
    "      args.amount: { lte: { param: max } }\n"
    "  - { id: big, effect: ask, tools: [send_money], where: { args.amount: { gt: 1000 } } }\n"
    "  - { id: push, effect: allow, tasks: [code], tools: [\"github.*\"], where: { args.branch: { ne: main } } }\n"
    "  - { id: meta, effect: deny, tools: [\"*\"], where: { destination: { cidr: [169.254.0.0/16] } } }\n";

typedef struct rsess {
    char *name;
    agentauthz_session *s; /* NULL: refused or closed */
} rsess;

typedef struct run {
    agentauthz_engine *e;
    fz_clock clock;
    fz_audit audit;
    agentauthz_action *a;
    rsess sessions[MAX_SESSIONS];
    size_t n;
    uint64_t digest; /* of every line's outcome */
} run;

static void note(run *r, const void *p, size_t n)
{
    r->digest = fz_fnv(p, n, r->digest);
}

static void note_str(run *r, const char *s)
{
    note(r, s, strlen(s) + 1);
}

static char *json_of(const agentauthz_value *v)
{
    char *out = NULL;
    if (agentauthz_value_to_json(v, &out, NULL) != 0)
        fz_fail("fuzz_replay_line", "cannot render a value");
    return out;
}

/* The parser's promises about an accepted line. */
static void check_line(const replay_line *l)
{
    if (l->has_advance) {
        FZ_REQUIRE(l->tool == NULL);
        return;
    }
    FZ_REQUIRE(l->session && l->tool);
    FZ_REQUIRE(!l->destination || agentauthz_value_type(l->destination) == AGENTAUTHZ_STRING ||
               agentauthz_value_type(l->destination) == AGENTAUTHZ_LIST);
    FZ_REQUIRE(!l->labels || agentauthz_value_type(l->labels) == AGENTAUTHZ_LIST);
    FZ_REQUIRE(!l->args || agentauthz_value_type(l->args) == AGENTAUTHZ_MAP);
    FZ_REQUIRE(!l->params || agentauthz_value_type(l->params) == AGENTAUTHZ_MAP);
    FZ_REQUIRE(l->approve == 0 || l->approve == AGENTAUTHZ_APPROVE_ONCE ||
               l->approve == AGENTAUTHZ_APPROVE_SESSION);
}

/* The action holds the line's arguments, as JSON. */
static void check_action_args(const replay_line *l, const agentauthz_action *a)
{
    const agentauthz_value *got = agentauthz_action_args(a);
    char *want_json, *got_json;
    if (!l->args || agentauthz_value_length(l->args) == 0) {
        FZ_REQUIRE(!got || agentauthz_value_length(got) == 0);
        return;
    }
    FZ_REQUIRE(got != NULL);
    want_json = json_of(l->args);
    got_json = json_of(got);
    FZ_REQUIRE(strcmp(want_json, got_json) == 0);
    agentauthz_free(want_json);
    agentauthz_free(got_json);
}

static rsess *session_for(run *r, const replay_line *l)
{
    agentauthz_session_options so = AGENTAUTHZ_SESSION_OPTIONS_INIT;
    agentauthz_error err;
    rsess *rs;
    int rc;
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->sessions[i].name, l->session) == 0)
            return &r->sessions[i];
    if (!l->identity || !l->task || r->n == MAX_SESSIONS)
        return NULL;
    rs = &r->sessions[r->n];
    memset(&err, 0, sizeof err);
    so.ttl_ns = l->ttl_ns;
    so.params = l->params;
    rc = agentauthz_session_open(r->e, l->identity, l->task, &so, &rs->s, &err);
    note(r, &rc, sizeof rc);
    if (rc != 0)
        fz_check_error(rc, &err);
    if (!(rs->name = strdup(l->session)))
        fz_fail("fuzz_replay_line", "out of memory");
    r->n++;
    return rs;
}

static void do_action(run *r, const replay_line *l)
{
    agentauthz_decision d;
    rsess *rs = session_for(r, l);
    int rc;
    if (!rs || !rs->s) {
        note_str(r, rs ? "refused" : "not open");
        return;
    }
    rc = replay_line_action(l, r->a);
    note(r, &rc, sizeof rc);
    if (rc != 0)
        return;
    check_action_args(l, r->a);
    if (l->approve && (rc = agentauthz_approve(rs->s, r->a, (agentauthz_approval)l->approve)) != 0) {
        note(r, &rc, sizeof rc);
        return;
    }
    rc = agentauthz_check(rs->s, r->a, &d);
    fz_check_decision(rc, &d);
    if (l->approve)
        FZ_REQUIRE(d.effect != AGENTAUTHZ_ASK);
    note(r, &d.effect, sizeof d.effect);
    note_str(r, d.rule);
    note_str(r, d.reason);
    if (l->close) {
        agentauthz_session_close(rs->s);
        rs->s = NULL;
    }
}

static void do_line(run *r, const char *text, size_t len)
{
    agentauthz_value *obj = NULL;
    char msg[600];
    replay_line l;
    memset(msg, 0, sizeof msg);
    if (agentauthz_value_parse_json(text, len, &obj, NULL) != 0) {
        note_str(r, "json");
        return;
    }
    if (replay_line_parse(obj, &l, msg, sizeof msg) != 0) {
        FZ_REQUIRE(msg[0] != '\0' && memchr(msg, 0, sizeof msg));
        note_str(r, msg);
    } else {
        check_line(&l);
        if (l.has_advance) {
            if (l.advance_ns > UINT64_MAX / 4 - r->clock.mono)
                note_str(r, "clock out of range");
            else
                r->clock.mono += l.advance_ns;
        } else {
            do_action(r, &l);
        }
    }
    agentauthz_value_free(obj);
}

static uint64_t replay_trace(const char *text, size_t size)
{
    run r;
    size_t start = 0;
    memset(&r, 0, sizeof r);
    r.digest = 1469598103934665603u;
    r.e = fz_engine(&r.clock, &r.audit);
    if (agentauthz_engine_load_string(r.e, "replay.yaml", policy, sizeof policy - 1, NULL, NULL) !=
            0 ||
        agentauthz_action_new(&r.a) != 0)
        fz_fail("fuzz_replay_line", "cannot set up");
    while (start <= size) {
        const char *nl = memchr(text + start, '\n', size - start);
        size_t end = nl ? (size_t)(nl - text) : size;
        if (end > start)
            do_line(&r, text + start, end - start);
        start = end + 1;
    }
    for (size_t i = 0; i < r.n; i++) {
        agentauthz_session_close(r.sessions[i].s);
        free(r.sessions[i].name);
    }
    agentauthz_action_free(r.a);
    agentauthz_engine_free(r.e);
    return r.digest;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t first;
    if (size > MAX_TRACE)
        return 0;
    first = replay_trace((const char *)data, size);
    FZ_REQUIRE(replay_trace((const char *)data, size) == first);
    return 0;
}

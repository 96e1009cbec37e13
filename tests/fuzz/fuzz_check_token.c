/*
 * Fuzz harness for agentauthz_check_token: a downstream service checks an
 * action carried by a task token against its own fixed policy.
 *
 * Input: one byte choosing the action (tool and resource), then the rest,
 * tried twice: as a whole token text, and as a claims payload that the
 * harness signs with the fixed key (so that the claims reach the policy).
 *
 * Properties, any failure aborts:
 *  - the decision is allow, deny or ask; any error is a deny with rule
 *    "session";
 *  - the token's verdict is agentauthz_token_verify's with the same key,
 *    time and skew: a token that does not verify returns that error;
 *  - a verified token whose tools name no pattern at all that could match
 *    the tool is denied (rule "session") with 0;
 *  - otherwise the decision is the one a session opened directly for the
 *    token's identity and task (TTL up to the token's expiry) gives for the
 *    same action, or a deny "session" when no such session may open;
 *  - once the verifier revokes the token's session, the same check
 *    returns AGENTAUTHZ_ESESSION and a deny.
 */
#include "fuzz_common.h"
#include "fuzz_jws.h"

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char policy[] =
    "agentauthz: 1\n"
    "identities:\n"
    "  - { match: \"spiffe://corp.example/agents/*\", roles: [agent] }\n"
    "  - { match: \"spiffe://corp.example/admin\", roles: [admin] }\n"
    "tasks:\n"
    "  triage: { roles: [agent] }\n"
    "  admin: { roles: [admin], params: { repo: string } }\n"
    "  open: {}\n"
    "rules:\n"
    "  - { id: read, effect: allow, tools: [read_file], where: { resource: { glob: \"/kb/**\" } } }\n"
    "  - { id: gh, effect: allow, tasks: [triage], tools: [\"github.*\"] }\n"
    "  - { id: deploy, effect: ask, tools: [deploy] }\n"
    "  - { id: rm, effect: deny, tools: [rm] }\n"
    "  - id: no-env\n"
    "    effect: deny\n"
    "    tools: [\"*\"]\n"
    "    where: { resource: { glob: \"**/.env*\" } }\n";

static const char *const tools[] = {"read_file", "github.push", "github.repo.push", "deploy",
                                    "rm",        "x",           "read_file.x",      "*"};
static const char *const resources[] = {NULL, "/kb/a.md", "/kb/../etc/passwd", "/kb/.env",
                                        "/etc/passwd"};

typedef struct harness {
    agentauthz_engine *e;
    fz_clock clock;
    unsigned char pk[32];
    agentauthz_verifier *v; /* a fresh one for each token tried */
    agentauthz_action *a;
    const char *tool;
} harness;

/* Whether some pattern of the token could match tool (exactly, or as a glob). */
static int may_name(const agentauthz_token_claims *c, const char *tool)
{
    for (size_t i = 0; i < c->tools_count; i++)
        if (strcmp(c->tools[i], tool) == 0 || strpbrk(c->tools[i], "*?[\\"))
            return 1;
    return 0;
}

static int names_exactly(const agentauthz_token_claims *c, const char *tool)
{
    for (size_t i = 0; i < c->tools_count; i++)
        if (strcmp(c->tools[i], tool) == 0)
            return 1;
    return 0;
}

/* The decision of a session opened directly for the claims, as check_token opens one. */
static void direct(harness *h, const agentauthz_token_claims *c, int *rc_out,
                   agentauthz_decision *d)
{
    agentauthz_session_options so = AGENTAUTHZ_SESSION_OPTIONS_INIT;
    agentauthz_session *s = NULL;
    int64_t left = c->exp - FZ_NOW_S;
    so.ttl_ns = left > 0 ? (uint64_t)left * 1000000000u : 1;
    if (agentauthz_session_open(h->e, c->identity, c->task, &so, &s, NULL) != 0) {
        *rc_out = 1; /* no session: check_token denies with rule "session" */
        return;
    }
    *rc_out = agentauthz_check(s, h->a, d);
    agentauthz_session_close(s);
}

static void try_token(harness *h, const char *t, size_t len)
{
    agentauthz_token_verify_options o = AGENTAUTHZ_TOKEN_VERIFY_OPTIONS_INIT;
    agentauthz_token_claims *c = NULL;
    agentauthz_decision d, want;
    agentauthz_error err;
    int rc, vrc, drc = 0;
    o.now = FZ_NOW_S;
    agentauthz_verifier_free(h->v);
    h->v = NULL;
    if (agentauthz_verifier_new(h->pk, &o, 4, &h->v, NULL) != 0)
        fz_fail("fuzz_check_token", "cannot make a verifier");
    vrc = agentauthz_token_verify(h->pk, t, len, &o, &c, NULL);
    memset(&err, 0, sizeof err);
    rc = agentauthz_check_token(h->e, h->v, t, len, h->a, &d, &err);
    fz_check_decision(rc, &d);
    if (rc != 0)
        FZ_REQUIRE(strcmp(d.rule, "session") == 0);
    if (vrc != 0) {
        FZ_REQUIRE(rc == vrc && c == NULL);
        fz_check_error(rc, &err);
        return;
    }
    FZ_REQUIRE(rc == 0);
    if (!may_name(c, h->tool)) {
        FZ_REQUIRE(d.effect == AGENTAUTHZ_DENY && strcmp(d.rule, "session") == 0);
    } else if (names_exactly(c, h->tool)) {
        memset(&want, 0, sizeof want);
        direct(h, c, &drc, &want);
        if (drc == 1)
            FZ_REQUIRE(d.effect == AGENTAUTHZ_DENY && strcmp(d.rule, "session") == 0);
        else
            FZ_REQUIRE(drc == rc && d.effect == want.effect && strcmp(d.rule, want.rule) == 0);
    }
    /* Revoked at the verifier: the same token is refused from now on. */
    FZ_REQUIRE(agentauthz_verifier_revoke(h->v, c->session) == 0);
    rc = agentauthz_check_token(h->e, h->v, t, len, h->a, &d, NULL);
    FZ_REQUIRE(rc == AGENTAUTHZ_ESESSION && d.effect == AGENTAUTHZ_DENY);
    agentauthz_token_claims_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    harness h;
    char *t;
    if (size < 1 || size > 2 * AGENTAUTHZ_TOKEN_MAX)
        return 0;
    memset(&h, 0, sizeof h);
    h.e = fz_engine(&h.clock, NULL);
    if (agentauthz_engine_load_string(h.e, "downstream.yaml", policy, sizeof policy - 1, NULL,
                                      NULL) != 0 ||
        agentauthz_keys_public_raw(fz_keys(), h.pk) != 0 || agentauthz_action_new(&h.a) != 0)
        fz_fail("fuzz_check_token", "cannot set up");
    h.tool = tools[data[0] % (sizeof tools / sizeof tools[0])];
    FZ_REQUIRE(agentauthz_action_set_tool(h.a, h.tool) == 0);
    if (resources[(data[0] >> 3) % 5])
        FZ_REQUIRE(agentauthz_action_set_resource(h.a, resources[(data[0] >> 3) % 5]) == 0);
    try_token(&h, (const char *)data + 1, size - 1);
    t = fz_sign_payload(fz_keys(), data + 1, size - 1);
    try_token(&h, t, strlen(t));
    free(t);
    agentauthz_action_free(h.a);
    agentauthz_verifier_free(h.v);
    agentauthz_engine_free(h.e);
    return 0;
}

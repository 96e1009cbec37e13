/*
 * Writes the seed logs of tests/fuzz/corpus/audit: real audit logs of an
 * engine with the fixed keys of fuzz_common.h, so that the fuzz_audit
 * harness starts from intact chains. Not built by make check; rerun it when
 * the record format changes (see tests/fuzz/README.md):
 *
 *   cc -D_GNU_SOURCE -Ibuild/include -Iinclude -Ilib tests/fuzz/gen_audit_seeds.c \
 *      build/lib/.libs/libagentauthz_internal.a -lyaml -lsodium -lpthread -lm \
 *      -o /tmp/gen_audit_seeds && /tmp/gen_audit_seeds tests/fuzz/corpus/audit
 *
 * It writes the logs one-check and sessions; the other seeds of the corpus
 * were cut from sessions (a prefix, then edits: truncated, reordered,
 * duplicated, deleted and edited records, a rotation split at form feeds,
 * CRLF line ends, and so on).
 */
#include <unistd.h>

#include "fuzz_common.h"

static const char policy[] =
    "agentauthz: 1\n"
    "name: audited\n"
    "secrets:\n"
    "  db: { provider: random, bytes: 16, tools: [db.query] }\n"
    "tasks:\n"
    "  work: { secrets: [db] }\n"
    "rules:\n"
    "  - { id: q, effect: allow, tools: [db.query] }\n"
    "  - { id: ask, effect: ask, tools: [deploy] }\n"
    "  - { id: rm, effect: deny, tools: [rm], reason: \"no \\\"rm\\\"\\n here\" }\n";

/* Runs a few sessions with the audit log at path; n_checks checks each. */
static void write_log(const char *path, size_t sessions, size_t n_checks)
{
    static const char *const tools[] = {"db.query", "deploy", "rm", "x\xc3\xa9"};
    agentauthz_audit_options ao = AGENTAUTHZ_AUDIT_OPTIONS_INIT;
    fz_clock clock = {0};
    agentauthz_engine *e = fz_engine(&clock, NULL);
    agentauthz_action *a = NULL;
    ao.path = path;
    if (agentauthz_engine_set_audit(e, &ao, NULL) != 0 ||
        agentauthz_engine_load_string(e, "p.yaml", policy, sizeof policy - 1, NULL, NULL) != 0 ||
        agentauthz_action_new(&a) != 0)
        fz_fail("gen_audit_seeds", "set-up failed");
    for (size_t k = 0; k < sessions; k++) {
        agentauthz_session *s = NULL;
        if (agentauthz_session_open(e, "spiffe://fuzz.example/agent", "work", NULL, &s, NULL))
            fz_fail("gen_audit_seeds", "open failed");
        for (size_t i = 0; i < n_checks; i++) {
            agentauthz_decision d;
            agentauthz_lease *l = NULL;
            agentauthz_action_reset(a);
            (void)agentauthz_action_set_tool(a, tools[i % 4]);
            (void)agentauthz_action_set_resource(a, "/kb/a\tb.md");
            (void)agentauthz_action_set_arg(a, "n", agentauthz_value_number((double)i));
            (void)!agentauthz_check(s, a, &d);
            if (d.effect == AGENTAUTHZ_ASK)
                (void)agentauthz_approve(s, a, AGENTAUTHZ_APPROVE_ONCE);
            if (agentauthz_lease_acquire(s, a, &d, "db", &l, NULL) == 0)
                agentauthz_lease_release(l);
            clock.mono += 1000000000u;
        }
        if (k % 2)
            (void)agentauthz_session_revoke(s);
        agentauthz_session_close(s);
    }
    agentauthz_action_free(a);
    agentauthz_engine_free(e);
}

int main(int argc, char **argv)
{
    char path[4096];
    if (argc != 2) {
        fprintf(stderr, "usage: gen_audit_seeds DIR\n");
        return 2;
    }
    snprintf(path, sizeof path, "%s/one-check", argv[1]);
    unlink(path);
    write_log(path, 1, 1);
    snprintf(path, sizeof path, "%s/sessions", argv[1]);
    unlink(path);
    write_log(path, 3, 5);
    return 0;
}

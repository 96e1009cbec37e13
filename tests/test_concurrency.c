/*
 * Threads checking (on their own sessions and on one shared session) while
 * another thread reloads the policy back and forth: every decision must be
 * one of the two policies' answers, never a crash, a torn state or an allow
 * that neither policy gives. Run under ThreadSanitizer by `make check`.
 */
#include <pthread.h>

#include "testutil.h"

#define CHECKERS 4
#define CHECKS 4000
#define RELOADS 200

static const char *const policy_a =
    "agentauthz: 1\ntasks: { t: {} }\n"
    "rules:\n"
    "  - { id: a-read, effect: allow, tools: [read], where: { resource: { glob: \"/kb/**\" } } }\n"
    "  - { id: a-deny, effect: deny, tools: [\"*\"], where: { resource: { glob: \"**/.env\" } } }\n";

static const char *const policy_b =
    "agentauthz: 1\ntasks: { t: {} }\n"
    "rules:\n"
    "  - { id: b-read, effect: allow, tools: [read, \"gh.*\"] }\n"
    "  - { id: b-deny, effect: deny, tools: [\"*\"], where: { resource: { glob: \"**/.env\" } } }\n";

typedef struct shared {
    agentauthz_engine *e;
    agentauthz_session *common;
    _Atomic int bad;
    _Atomic int done;
} shared;

static void *checker(void *arg)
{
    shared *sh = arg;
    agentauthz_session *own = NULL;
    agentauthz_action *ok = NULL, *env = NULL;
    agentauthz_decision d;
    if (agentauthz_session_open(sh->e, "agent", "t", NULL, &own, NULL) != 0 ||
        agentauthz_action_new(&ok) != 0 || agentauthz_action_new(&env) != 0) {
        sh->bad++;
        goto out;
    }
    if (agentauthz_action_set_tool(ok, "read") || agentauthz_action_set_resource(ok, "/kb/a") ||
        agentauthz_action_set_tool(env, "read") || agentauthz_action_set_resource(env, "/app/.env"))
        sh->bad++;
    for (int i = 0; i < CHECKS; i++) {
        agentauthz_session *s = (i & 1) ? own : sh->common;
        if (agentauthz_check(s, ok, &d) != 0 || d.effect != AGENTAUTHZ_ALLOW ||
            (strcmp(d.rule, "a-read") != 0 && strcmp(d.rule, "b-read") != 0))
            sh->bad++;
        if (agentauthz_check(s, env, &d) != 0 || d.effect != AGENTAUTHZ_DENY ||
            (strcmp(d.rule, "a-deny") != 0 && strcmp(d.rule, "b-deny") != 0))
            sh->bad++;
    }
out:
    agentauthz_action_free(ok);
    agentauthz_action_free(env);
    agentauthz_session_close(own);
    return NULL;
}

static void *reloader(void *arg)
{
    shared *sh = arg;
    for (int i = 0; i < RELOADS && !sh->done; i++) {
        const char *p = (i & 1) ? policy_a : policy_b;
        if (agentauthz_engine_load_string(sh->e, "p", p, strlen(p), NULL, NULL) != 0)
            sh->bad++;
        if (agentauthz_engine_load_string(sh->e, "bad", "rules: [", 8, NULL, NULL) == 0)
            sh->bad++;
    }
    return NULL;
}

static void *opener(void *arg)
{
    shared *sh = arg;
    size_t expired;
    for (int i = 0; i < 500 && !sh->done; i++) {
        agentauthz_session *s = NULL;
        if (agentauthz_session_open(sh->e, "agent", "t", NULL, &s, NULL) != 0)
            sh->bad++;
        if (i % 7 == 0)
            agentauthz_session_revoke(s);
        if (agentauthz_engine_sweep(sh->e, &expired) != 0)
            sh->bad++;
        agentauthz_session_close(s);
    }
    return NULL;
}

START_TEST(test_checks_during_reload)
{
    shared sh;
    pthread_t checkers[CHECKERS], reload, open;
    memset(&sh, 0, sizeof sh);
    sh.e = engine_with(NULL, policy_a, NULL);
    sh.common = open_session(sh.e, "agent", "t", NULL);
    for (int i = 0; i < CHECKERS; i++)
        ck_assert_int_eq(pthread_create(&checkers[i], NULL, checker, &sh), 0);
    ck_assert_int_eq(pthread_create(&reload, NULL, reloader, &sh), 0);
    ck_assert_int_eq(pthread_create(&open, NULL, opener, &sh), 0);
    for (int i = 0; i < CHECKERS; i++)
        pthread_join(checkers[i], NULL);
    sh.done = 1;
    pthread_join(reload, NULL);
    pthread_join(open, NULL);
    ck_assert_int_eq(sh.bad, 0);
    agentauthz_session_close(sh.common);
    agentauthz_engine_free(sh.e);
}
END_TEST

static Suite *concurrency_suite(void)
{
    Suite *s = suite_create("concurrency");
    TCase *tc = tcase_create("reload");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_checks_during_reload);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(concurrency_suite());
}

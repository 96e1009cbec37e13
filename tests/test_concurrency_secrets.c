/*
 * Revocation racing leases: one thread leases and releases a session's
 * secret in a loop while another revokes the session. The holder must see
 * either a valid lease or a refusal, and a lease it holds goes invalid when
 * the session ends; nothing is freed under it. Opens and closes on other
 * threads rebuild the engine's leak matcher while checks scan with it.
 */
#include <pthread.h>

#include "testutil.h"

static const char *const policy =
    "agentauthz: 1\n"
    "secrets: { db: { provider: random, tools: [db.query] } }\n"
    "tasks: { t: { secrets: [db] } }\n"
    "rules: [ { id: ok, effect: allow, tools: [db.query, send] } ]\n";

typedef struct race {
    agentauthz_engine *e;
    agentauthz_session *s;
    _Atomic int bad;
    _Atomic int stop;
    _Atomic int leases;
} race;

static void *leaser(void *arg)
{
    race *r = arg;
    agentauthz_action *a = NULL;
    if (agentauthz_action_new(&a) != 0 || agentauthz_action_set_tool(a, "db.query") != 0) {
        r->bad++;
        return NULL;
    }
    while (!r->stop) {
        agentauthz_decision d;
        agentauthz_lease *l = NULL;
        int rc;
        if (agentauthz_check(r->s, a, &d) != 0)
            r->bad++;
        rc = agentauthz_lease_acquire(r->s, a, &d, "db", &l, NULL);
        if (rc == 0) {
            r->leases++;
            (void)agentauthz_lease_valid(l); /* may turn false at any moment */
            agentauthz_lease_release(l);
        } else if (rc != AGENTAUTHZ_ESESSION && rc != AGENTAUTHZ_EDENIED) {
            r->bad++;
        } else if (d.effect == AGENTAUTHZ_ALLOW && rc == AGENTAUTHZ_EDENIED) {
            r->bad++; /* an allowed, bound lease can only fail because the session ended */
        }
        if (rc != 0)
            break;
    }
    agentauthz_action_free(a);
    return NULL;
}

static void *churner(void *arg)
{
    race *r = arg;
    for (int i = 0; i < 200 && !r->stop; i++) {
        agentauthz_session *s = NULL;
        agentauthz_action *a = NULL;
        agentauthz_decision d;
        if (agentauthz_session_open(r->e, "x", "t", NULL, &s, NULL) != 0 ||
            agentauthz_action_new(&a) != 0 || agentauthz_action_set_tool(a, "send") != 0 ||
            agentauthz_action_set_payload(a, "hello", 5) != 0 || agentauthz_check(s, a, &d) != 0 ||
            d.effect != AGENTAUTHZ_ALLOW)
            r->bad++;
        agentauthz_action_free(a);
        agentauthz_session_close(s);
    }
    return NULL;
}

START_TEST(test_revoke_races_lease)
{
    for (int round = 0; round < 20; round++) {
        race r;
        pthread_t t1, t2;
        memset(&r, 0, sizeof r);
        r.e = engine_with(NULL, policy, NULL);
        r.s = open_session(r.e, "x", "t", NULL);
        ck_assert_int_eq(pthread_create(&t1, NULL, leaser, &r), 0);
        ck_assert_int_eq(pthread_create(&t2, NULL, churner, &r), 0);
        while (r.leases < 5 * (round % 4))
            sched_yield();
        ck_assert_int_eq(agentauthz_session_revoke(r.s), 0);
        pthread_join(t1, NULL);
        r.stop = 1;
        pthread_join(t2, NULL);
        ck_assert_int_eq(r.bad, 0);
        agentauthz_session_close(r.s);
        agentauthz_engine_free(r.e);
    }
}
END_TEST

static Suite *race_suite(void)
{
    Suite *s = suite_create("concurrency_secrets");
    TCase *tc = tcase_create("lease");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_revoke_races_lease);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(race_suite());
}

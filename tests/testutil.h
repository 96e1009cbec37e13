/* Helpers shared by the Check suites: engines on a fake clock, actions from JSON. */
#ifndef AZ_TESTUTIL_H
#define AZ_TESTUTIL_H

#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentauthz.h"

typedef struct fake_clock {
    uint64_t ns;
} fake_clock;

static inline uint64_t fake_clock_now(void *ctx)
{
    return ((fake_clock *)ctx)->ns;
}

static inline void fake_clock_advance(fake_clock *c, double seconds)
{
    c->ns += (uint64_t)(seconds * 1e9);
}

/* An engine on clock c (NULL: the real one) with policy text loaded, or NULL. */
static inline agentauthz_engine *engine_with(fake_clock *c, const char *policy,
                                             agentauthz_error *err)
{
    agentauthz_engine_options opt = AGENTAUTHZ_ENGINE_OPTIONS_INIT;
    agentauthz_engine *e = NULL;
    agentauthz_error local;
    if (!err)
        err = &local;
    opt.clock = c ? fake_clock_now : NULL;
    opt.clock_ctx = c;
    ck_assert_int_eq(agentauthz_engine_new(&e, &opt, err), 0);
    if (policy && agentauthz_engine_load_string(e, "test.yaml", policy, strlen(policy), NULL,
                                                err) != 0) {
        agentauthz_engine_free(e);
        return NULL;
    }
    return e;
}

/*
 * Builds an action from a JSON object with the keys tool, resource,
 * destination (string or list), labels, args and payload.
 */
static inline agentauthz_action *action_from_json(const char *json)
{
    agentauthz_value *v = NULL;
    agentauthz_action *a = NULL;
    agentauthz_error err;
    const agentauthz_value *x;
    ck_assert_msg(agentauthz_value_parse_json(json, strlen(json), &v, &err) == 0,
                  "bad test JSON %s: %s", json, err.message);
    ck_assert_int_eq(agentauthz_action_new(&a), 0);
    if ((x = agentauthz_value_map_get(v, "tool")) != NULL)
        ck_assert_int_eq(agentauthz_action_set_tool(a, agentauthz_value_get_string(x, NULL)), 0);
    if ((x = agentauthz_value_map_get(v, "resource")) != NULL)
        ck_assert_int_eq(
            agentauthz_action_set_resource(a, agentauthz_value_get_string(x, NULL)), 0);
    if ((x = agentauthz_value_map_get(v, "destination")) != NULL) {
        if (agentauthz_value_type(x) == AGENTAUTHZ_STRING)
            ck_assert_int_eq(
                agentauthz_action_add_destination(a, agentauthz_value_get_string(x, NULL)), 0);
        /* A list stays a list, also with one item or none. */
        if (agentauthz_value_type(x) == AGENTAUTHZ_LIST)
            ck_assert_int_eq(agentauthz_action_set_destinations(a, NULL, 0), 0);
        for (size_t i = 0; agentauthz_value_type(x) == AGENTAUTHZ_LIST &&
                           i < agentauthz_value_length(x);
             i++)
            ck_assert_int_eq(agentauthz_action_add_destination(
                                 a, agentauthz_value_get_string(agentauthz_value_list_get(x, i),
                                                                NULL)),
                             0);
    }
    if ((x = agentauthz_value_map_get(v, "labels")) != NULL)
        for (size_t i = 0; i < agentauthz_value_length(x); i++)
            ck_assert_int_eq(agentauthz_action_add_label(
                                 a, agentauthz_value_get_string(agentauthz_value_list_get(x, i),
                                                                NULL)),
                             0);
    if ((x = agentauthz_value_map_get(v, "payload")) != NULL) {
        size_t len = 0;
        const char *p = agentauthz_value_get_string(x, &len);
        ck_assert_int_eq(agentauthz_action_set_payload(a, p, len), 0);
    }
    if ((x = agentauthz_value_map_get(v, "args")) != NULL)
        for (size_t i = 0; i < agentauthz_value_length(x); i++)
            ck_assert_int_eq(agentauthz_action_set_arg(
                                 a, agentauthz_value_map_key(x, i),
                                 agentauthz_value_copy(agentauthz_value_map_value(x, i))),
                             0);
    agentauthz_value_free(v);
    return a;
}

static inline agentauthz_value *json_value(const char *json)
{
    agentauthz_value *v = NULL;
    agentauthz_error err;
    ck_assert_msg(agentauthz_value_parse_json(json, strlen(json), &v, &err) == 0,
                  "bad test JSON %s: %s", json, err.message);
    return v;
}

/* Checks the JSON action in s and asserts the effect and rule. */
static inline void expect_decision(agentauthz_session *s, const char *action,
                                   agentauthz_effect effect, const char *rule)
{
    agentauthz_action *a = action_from_json(action);
    agentauthz_decision d;
    int rc = agentauthz_check(s, a, &d);
    ck_assert_msg(rc == 0, "check of %s failed: %d", action, rc);
    ck_assert_msg(d.effect == effect && (!rule || strcmp(d.rule, rule) == 0),
                  "%s: expected %s (%s), got %s (%s: %s)", action,
                  agentauthz_effect_name(effect), rule ? rule : "any",
                  agentauthz_effect_name(d.effect), d.rule, d.reason);
    agentauthz_action_free(a);
}

/* Opens a session or fails the test. params is JSON or NULL. */
static inline agentauthz_session *open_session(agentauthz_engine *e, const char *identity,
                                               const char *task, const char *params)
{
    agentauthz_session_options opt = AGENTAUTHZ_SESSION_OPTIONS_INIT;
    agentauthz_session *s = NULL;
    agentauthz_error err;
    agentauthz_value *p = params ? json_value(params) : NULL;
    int rc;
    opt.params = p;
    rc = agentauthz_session_open(e, identity, task, &opt, &s, &err);
    agentauthz_value_free(p);
    ck_assert_msg(rc == 0, "open %s/%s failed: %s", identity, task, err.message);
    return s;
}

static inline int run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    int failed;
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif

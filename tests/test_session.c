/*
 * Sessions: who may open what, parameters binding the user's intent, TTLs
 * and their clamps, expiry, revocation, reload applying to live sessions,
 * and the sweep.
 */
#include "testutil.h"

static const char *const policy =
    "agentauthz: 1\n"
    "defaults: { session_ttl: 10m, max_session_ttl: 1h }\n"
    "identities:\n"
    "  - { match: \"spiffe://corp.example/agents/support/*\", roles: [support] }\n"
    "  - { match: \"spiffe://corp.example/agents/coder\", roles: [coder, reader] }\n"
    "tasks:\n"
    "  triage: { roles: [support], max_ttl: 30m }\n"
    "  code: { roles: [coder] }\n"
    "  open-to-all: {}\n"
    "  refund:\n"
    "    roles: [support]\n"
    "    params: { customer: string, max: number, ok: bool, repos: list }\n"
    "rules:\n"
    "  - { id: all, effect: allow, tools: [\"*\"] }\n"
    "  - id: refund-own\n"
    "    effect: deny\n"
    "    tasks: [refund]\n"
    "    tools: [refund]\n"
    "    where: { args.customer: { ne: { param: customer } } }\n";

static const char *const support = "spiffe://corp.example/agents/support/7";

static int try_open(agentauthz_engine *e, const char *id, const char *task, const char *params,
                    agentauthz_error *err)
{
    agentauthz_session_options opt = AGENTAUTHZ_SESSION_OPTIONS_INIT;
    agentauthz_session *s = NULL;
    agentauthz_value *p = params ? json_value(params) : NULL;
    int rc;
    opt.params = p;
    rc = agentauthz_session_open(e, id, task, &opt, &s, err);
    agentauthz_value_free(p);
    ck_assert_int_eq(rc != 0, s == NULL);
    agentauthz_session_close(s);
    return rc;
}

START_TEST(test_open_refusals)
{
    agentauthz_engine *e = engine_with(NULL, policy, NULL);
    agentauthz_error err;
    ck_assert_int_eq(try_open(e, support, "triage", NULL, &err), 0);
    ck_assert_int_eq(try_open(e, support, "nope", NULL, &err), AGENTAUTHZ_ENOTASK);
    ck_assert_ptr_nonnull(strstr(err.message, "nope"));
    ck_assert_int_eq(try_open(e, "spiffe://evil/agent", "open-to-all", NULL, &err),
                     AGENTAUTHZ_EIDENTITY);
    ck_assert_int_eq(try_open(e, support, "code", NULL, &err), AGENTAUTHZ_EIDENTITY);
    ck_assert_int_eq(try_open(e, "spiffe://corp.example/agents/support/7/x", "triage", NULL,
                              &err),
                     AGENTAUTHZ_EIDENTITY);
    ck_assert_int_eq(try_open(e, "spiffe://corp.example/agents/coder", "code", NULL, &err), 0);
    ck_assert_int_eq(try_open(e, NULL, "code", NULL, &err), AGENTAUTHZ_EINVAL);
    agentauthz_engine_free(e);
}
END_TEST

/* Identities that start with "spiffe://" must be SPIFFE IDs (issue 9, item 7). */
typedef struct spiffe_case {
    const char *id;
    const char *why; /* part of the error, or NULL for a valid ID */
} spiffe_case;

static const spiffe_case spiffe_cases[] = {
    {"spiffe://corp.example/agents/support/7", NULL},
    {"spiffe://corp.example/agents/support/", "does not end with '/'"},
    {"spiffe://corp.example/agents/support//7", "no empty path segment"},
    {"spiffe://corp.example/agents/support/.", "no '.' or '..' path segment"},
    {"spiffe://corp.example/agents/support/..", "no '.' or '..' path segment"},
    {"spiffe://corp.example/agents/../agents/support/7", "no '.' or '..' path segment"},
    {"spiffe://corp.example/agents/support/7?x=1", "no query or fragment"},
    {"spiffe://corp.example/agents/support/7#f", "no query or fragment"},
    {"spiffe://corp.example/agents/support/%37", "no percent-encoding"},
    {"spiffe://corp.example/agents/support/7 ", "byte 0x20"},
    {"spiffe://corp.example/agents/support/7\xc3\xa9", "byte 0xc3"},
    {"spiffe://corp.example/agents/support/a:b", "':' is not allowed in a SPIFFE ID's path"},
    {"spiffe://Corp.example/agents/support/7", "trust domain is lowercase"},
    {"spiffe://corp.example:443/agents/support/7", "':' is not allowed in a SPIFFE ID's trust"},
    {"spiffe://bob@corp.example/agents/support/7", "'@' is not allowed"},
    {"spiffe:///agents/support/7", "needs a trust domain"},
    {"spiffe://", "needs a trust domain"},
    {"SPIFFE://corp.example/agents/support/7", "scheme is lowercase"},
    {"spiffe://corp.example/agents/support/A-b_c.7", NULL},
};

START_TEST(test_spiffe_ids)
{
    agentauthz_engine *e = engine_with(NULL, policy, NULL);
    const spiffe_case *c = &spiffe_cases[_i];
    agentauthz_error err;
    int rc = try_open(e, c->id, "open-to-all", NULL, &err);
    if (!c->why) {
        ck_assert_msg(rc == 0, "%s: %s", c->id, err.message);
    } else {
        ck_assert_msg(rc == AGENTAUTHZ_EIDENTITY && strstr(err.message, c->why) &&
                          strstr(err.message, "invalid SPIFFE ID"),
                      "%s: rc %d, %s", c->id, rc, err.message);
    }
    agentauthz_engine_free(e);
}
END_TEST

/* 2048 bytes is the bound; identities that are not SPIFFE IDs are not checked. */
START_TEST(test_spiffe_bounds)
{
    agentauthz_engine *e = engine_with(NULL, policy, NULL);
    agentauthz_engine *open = engine_with(NULL, "agentauthz: 1\ntasks: { t: {} }\nrules: []\n",
                                          NULL);
    agentauthz_session *parent = NULL, *child = NULL;
    agentauthz_error err;
    char id[2050];
    size_t n = strlen(support);
    memcpy(id, support, n);
    memset(id + n, 'a', sizeof id - n - 1);
    id[2048] = '\0';
    ck_assert_int_eq(try_open(e, id, "open-to-all", NULL, &err), 0);
    id[2048] = 'a';
    id[2049] = '\0';
    ck_assert_int_eq(try_open(e, id, "open-to-all", NULL, &err), AGENTAUTHZ_EIDENTITY);
    ck_assert_ptr_nonnull(strstr(err.message, "at most 2048 bytes"));
    ck_assert_int_eq(try_open(open, "agent/../x/", "t", NULL, &err), 0);
    ck_assert_int_eq(try_open(open, "spiffe:corp.example/", "t", NULL, &err), 0);
    ck_assert_int_eq(try_open(open, "spiffe://corp.example/", "t", NULL, &err),
                     AGENTAUTHZ_EIDENTITY);
    agentauthz_engine_free(open);
    /* a delegated session's identity too */
    ck_assert_int_eq(agentauthz_session_open(e, support, "triage", NULL, &parent, &err), 0);
    ck_assert_int_eq(agentauthz_session_delegate(parent, "spiffe://corp.example/agents/support/",
                                                 "triage", NULL, &child, &err),
                     AGENTAUTHZ_EIDENTITY);
    ck_assert_ptr_null(child);
    ck_assert_ptr_nonnull(strstr(err.message, "does not end with '/'"));
    ck_assert_int_eq(agentauthz_session_delegate(parent, "spiffe://corp.example/agents/support/8",
                                                 "triage", NULL, &child, &err),
                     0);
    agentauthz_session_close(child);
    agentauthz_session_close(parent);
    agentauthz_engine_free(e);
}
END_TEST

START_TEST(test_empty_identities_admit_nobody)
{
    agentauthz_engine *e = engine_with(
        NULL, "agentauthz: 1\nidentities: []\ntasks: { t: {} }\nrules: []\n", NULL);
    agentauthz_error err;
    ck_assert_int_eq(try_open(e, "anyone", "t", NULL, &err), AGENTAUTHZ_EIDENTITY);
    agentauthz_engine_free(e);
    e = engine_with(NULL, "agentauthz: 1\ntasks: { t: {} }\nrules: []\n", NULL);
    ck_assert_int_eq(try_open(e, "anyone", "t", NULL, &err), 0);
    agentauthz_engine_free(e);
}
END_TEST

START_TEST(test_params)
{
    agentauthz_engine *e = engine_with(NULL, policy, NULL);
    agentauthz_error err;
    agentauthz_session *s;
    const char *good = "{\"customer\":\"c1\",\"max\":5,\"ok\":true,\"repos\":[\"a\",\"b\"]}";
    ck_assert_int_eq(try_open(e, support, "refund", good, &err), 0);
    ck_assert_int_eq(try_open(e, support, "refund", NULL, &err), AGENTAUTHZ_EPARAM);
    ck_assert_int_eq(try_open(e, support, "refund",
                              "{\"customer\":\"c1\",\"max\":\"5\",\"ok\":true,\"repos\":[]}", &err),
                     AGENTAUTHZ_EPARAM);
    ck_assert_ptr_nonnull(strstr(err.message, "max"));
    ck_assert_int_eq(try_open(e, support, "refund",
                              "{\"customer\":\"c1\",\"max\":5,\"ok\":\"true\",\"repos\":[]}", &err),
                     AGENTAUTHZ_EPARAM);
    ck_assert_int_eq(try_open(e, support, "refund",
                              "{\"customer\":\"c1\",\"max\":5,\"ok\":true,\"repos\":[{}]}", &err),
                     AGENTAUTHZ_EPARAM);
    ck_assert_int_eq(
        try_open(e, support, "refund",
                 "{\"customer\":\"c1\",\"max\":5,\"ok\":true,\"repos\":[],\"extra\":1}", &err),
        AGENTAUTHZ_EPARAM);
    ck_assert_ptr_nonnull(strstr(err.message, "extra"));
    ck_assert_int_eq(try_open(e, support, "triage", "{\"customer\":\"c1\"}", &err),
                     AGENTAUTHZ_EPARAM);
    ck_assert_int_eq(try_open(e, support, "refund", "[1]", &err), AGENTAUTHZ_EPARAM);
    /* the bound parameter, not the agent's argument, decides */
    s = open_session(e, support, "refund", good);
    expect_decision(s, "{\"tool\":\"refund\",\"args\":{\"customer\":\"c1\"}}", AGENTAUTHZ_ALLOW,
                    "all");
    expect_decision(s, "{\"tool\":\"refund\",\"args\":{\"customer\":\"c2\"}}", AGENTAUTHZ_DENY,
                    "refund-own");
    agentauthz_session_close(s);
    agentauthz_engine_free(e);
}
END_TEST

static void expect_ttl(agentauthz_engine *e, fake_clock *c, const char *task, double request_s,
                       double ttl_s)
{
    agentauthz_session_options opt = AGENTAUTHZ_SESSION_OPTIONS_INIT;
    agentauthz_session *s = NULL;
    opt.ttl_ns = (uint64_t)(request_s * 1e9);
    ck_assert_int_eq(agentauthz_session_open(e, support, task, &opt, &s, NULL), 0);
    fake_clock_advance(c, ttl_s - 1);
    expect_decision(s, "{\"tool\":\"x\"}", AGENTAUTHZ_ALLOW, "all");
    fake_clock_advance(c, 1); /* a session expires when its age reaches its TTL */
    expect_decision(s, "{\"tool\":\"x\"}", AGENTAUTHZ_DENY, "session");
    agentauthz_session_close(s);
}

/*
 * Issue 9, item 17: a parameter used as a glob, CIDR, domain or len_lte
 * bound is checked when the session opens, as the literal in its place is
 * at load; before, the session opened and every check that reached the
 * rule was denied as "a condition could not be evaluated".
 */
static const char *const operand_policy =
    "agentauthz: 1\n"
    "tasks:\n"
    "  t:\n"
    "    params: { pat: string, nets: list, dom: string, few: number, pre: list }\n"
    "  other:\n"
    "    params: { pat: string }\n"
    "rules:\n"
    "  - id: by-pattern\n"
    "    effect: allow\n"
    "    tasks: [t]\n"
    "    tools: [x]\n"
    "    where:\n"
    "      resource: { glob: { param: pat } }\n"
    "      destination: { cidr: [10.0.0.0/8, { param: nets }] }\n"
    "      args.to: { domain: { param: dom } }\n"
    "      args.q: { len_lte: { param: few } }\n"
    "      args.p: { prefix: { param: pre } }\n"
    "  - { id: other, effect: allow, tasks: [other], tools: [x], where: { args.a: { param: pat } } }\n";

static void expect_operand_refused(agentauthz_engine *e, const char *params, const char *want)
{
    agentauthz_error err;
    memset(&err, 0, sizeof err);
    ck_assert_int_eq(try_open(e, support, "t", params, &err), AGENTAUTHZ_EPARAM);
    ck_assert_msg(strstr(err.message, want) != NULL, "%s: expected \"%s\", got %s", params, want,
                  err.message);
}

START_TEST(test_param_operands_checked_at_open)
{
    agentauthz_engine *e = engine_with(NULL, operand_policy, NULL);
    agentauthz_error err;
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(try_open(e, support, "t",
                              "{\"pat\":\"/kb/**\",\"nets\":[\"192.168.0.0/16\",\"::1\"],"
                              "\"dom\":\"corp.example\",\"few\":3,\"pre\":[\"/a\",\"/b\"]}",
                              &err),
                     0);
    expect_operand_refused(e,
                           "{\"pat\":\"/kb/[\",\"nets\":[],\"dom\":\"corp.example\",\"few\":3,"
                           "\"pre\":[]}",
                           "parameter \"pat\", used as a glob by rule \"by-pattern\" at "
                           "test.yaml:13:34: ");
    expect_operand_refused(e,
                           "{\"pat\":\"/kb/*\",\"nets\":[\"10.0.0.0/8\",\"10.0.0.0/33\"],"
                           "\"dom\":\"corp.example\",\"few\":3,\"pre\":[]}",
                           "parameter \"nets\" (item 2), used as a CIDR by rule \"by-pattern\" "
                           "at test.yaml:14:50: expected an address/prefix");
    expect_operand_refused(e,
                           "{\"pat\":\"/kb/*\",\"nets\":[5],\"dom\":\"corp.example\",\"few\":3,"
                           "\"pre\":[]}",
                           "parameter \"nets\" (item 1), used as a CIDR by rule \"by-pattern\" "
                           "at test.yaml:14:50: expected a string");
    expect_operand_refused(e,
                           "{\"pat\":\"/kb/*\",\"nets\":[],\"dom\":\"corp..example\",\"few\":3,"
                           "\"pre\":[]}",
                           "parameter \"dom\", used as a domain by rule \"by-pattern\"");
    expect_operand_refused(e,
                           "{\"pat\":\"/kb/*\",\"nets\":[],\"dom\":\"corp.example\",\"few\":2.5,"
                           "\"pre\":[]}",
                           "parameter \"few\", used as a length bound");
    expect_operand_refused(e,
                           "{\"pat\":\"/kb/*\",\"nets\":[],\"dom\":\"corp.example\",\"few\":-1,"
                           "\"pre\":[]}",
                           "expected a non-negative integer");
    expect_operand_refused(e,
                           "{\"pat\":\"/kb/*\",\"nets\":[],\"dom\":\"corp.example\",\"few\":1,"
                           "\"pre\":[\"/a\",true]}",
                           "parameter \"pre\" (item 2), used as a string");
    expect_operand_refused(e, "{\"pat\":\"[\",\"nets\":[],\"dom\":\"a\",\"few\":1,\"pre\":[]}",
                           "glob");
    /* issue 16 item 2: globs have no escapes, so a backslash in a glob parameter is refused */
    expect_operand_refused(e,
                           "{\"pat\":\"/kb/\\\\*\",\"nets\":[],\"dom\":\"a\",\"few\":1,"
                           "\"pre\":[]}",
                           "parameter \"pat\", used as a glob by rule \"by-pattern\" at "
                           "test.yaml:13:34: a backslash is not allowed in a glob");
    /* the error carries the place of {param: NAME} too */
    ck_assert_int_eq(try_open(e, support, "t",
                              "{\"pat\":\"a[\",\"nets\":[],\"dom\":\"a\",\"few\":1,\"pre\":[]}",
                              &err),
                     AGENTAUTHZ_EPARAM);
    ck_assert_str_eq(err.path, "test.yaml");
    ck_assert_uint_eq(err.line, 13);
    ck_assert_uint_eq(err.column, 34);
    /* the same value is fine where no rule of the task uses it as a pattern */
    ck_assert_int_eq(try_open(e, support, "other", "{\"pat\":\"/kb/[\"}", &err), 0);
    agentauthz_engine_free(e);
}
END_TEST

START_TEST(test_ttl_clamps)
{
    fake_clock c = {1000};
    agentauthz_engine *e = engine_with(&c, policy, NULL);
    expect_ttl(e, &c, "triage", 0, 600);          /* defaults.session_ttl */
    expect_ttl(e, &c, "triage", 120, 120);        /* requested */
    expect_ttl(e, &c, "triage", 7200, 1800);      /* task max_ttl */
    expect_ttl(e, &c, "open-to-all", 7200, 3600); /* defaults.max_session_ttl */
    agentauthz_engine_free(e);
    e = engine_with(&c, "agentauthz: 1\ntasks: { t: {} }\nrules: [ { id: all, effect: allow, "
                        "tools: [\"*\"] } ]\n",
                    NULL);
    {
        agentauthz_session *s = open_session(e, "x", "t", NULL);
        fake_clock_advance(&c, 15 * 60 - 1);
        expect_decision(s, "{\"tool\":\"x\"}", AGENTAUTHZ_ALLOW, "all");
        fake_clock_advance(&c, 1); /* 15m without any default */
        expect_decision(s, "{\"tool\":\"x\"}", AGENTAUTHZ_DENY, "session");
        agentauthz_session_close(s);
    }
    agentauthz_engine_free(e);
}
END_TEST

START_TEST(test_revoke_and_reasons)
{
    agentauthz_engine *e = engine_with(NULL, policy, NULL);
    agentauthz_session *s = open_session(e, support, "triage", NULL);
    agentauthz_action *a = action_from_json("{\"tool\":\"x\"}");
    agentauthz_decision d;
    ck_assert_uint_eq(strlen(agentauthz_session_id(s)), 32);
    ck_assert_int_eq(agentauthz_session_revoke(s), 0);
    ck_assert_int_eq(agentauthz_session_revoke(s), 0);
    ck_assert_int_eq(agentauthz_check(s, a, &d), 0);
    ck_assert_int_eq(d.effect, AGENTAUTHZ_DENY);
    ck_assert_str_eq(d.rule, "session");
    ck_assert_str_eq(d.reason, "session revoked");
    ck_assert_int_eq(agentauthz_check(NULL, a, &d), AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(d.effect, AGENTAUTHZ_DENY);
    ck_assert_int_eq(agentauthz_check(s, NULL, &d), AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(d.effect, AGENTAUTHZ_DENY);
    agentauthz_action_free(a);
    agentauthz_session_close(s);
    agentauthz_session_close(NULL);
    agentauthz_engine_free(e);
}
END_TEST

START_TEST(test_reload_applies_to_live_sessions)
{
    fake_clock c = {0};
    agentauthz_engine *e = engine_with(
        &c,
        "agentauthz: 1\ntools: { read: { produces: [internal] } }\n"
        "tasks: { t: { limits: { calls: 3 } }, u: {} }\n"
        "rules: [ { id: v1, effect: allow, tools: [\"*\"] } ]\n",
        NULL);
    const char *v2 = "agentauthz: 1\ntasks: { t: { limits: { calls: 3 } } }\n"
                     "rules: [ { id: v2, effect: allow, tools: [x], "
                     "where: { session.labels: { has: internal } } } ]\n";
    agentauthz_session *s = open_session(e, "a", "t", NULL);
    agentauthz_session *u = open_session(e, "a", "u", NULL);
    expect_decision(s, "{\"tool\":\"read\"}", AGENTAUTHZ_ALLOW, "v1");
    ck_assert_int_eq(agentauthz_engine_load_string(e, "v2", v2, strlen(v2), NULL, NULL), 0);
    /* labels and counters survive the reload */
    expect_decision(s, "{\"tool\":\"x\"}", AGENTAUTHZ_ALLOW, "v2");
    expect_decision(s, "{\"tool\":\"y\"}", AGENTAUTHZ_DENY, "default");
    expect_decision(s, "{\"tool\":\"x\"}", AGENTAUTHZ_DENY, "limit");
    /* a session whose task is gone is denied from then on */
    expect_decision(u, "{\"tool\":\"x\"}", AGENTAUTHZ_DENY, "session");
    agentauthz_session_close(s);
    agentauthz_session_close(u);
    agentauthz_engine_free(e);
}
END_TEST

START_TEST(test_sweep)
{
    fake_clock c = {0};
    agentauthz_engine *e = engine_with(&c, policy, NULL);
    agentauthz_session *short_s, *long_s;
    agentauthz_session_options opt = AGENTAUTHZ_SESSION_OPTIONS_INIT;
    size_t expired = 99;
    opt.ttl_ns = 60000000000u;
    ck_assert_int_eq(agentauthz_session_open(e, support, "triage", &opt, &short_s, NULL), 0);
    long_s = open_session(e, support, "triage", NULL);
    ck_assert_int_eq(agentauthz_engine_sweep(e, &expired), 0);
    ck_assert_uint_eq(expired, 0);
    fake_clock_advance(&c, 60);
    ck_assert_int_eq(agentauthz_engine_sweep(e, &expired), 0);
    ck_assert_uint_eq(expired, 1);
    ck_assert_int_eq(agentauthz_engine_sweep(e, &expired), 0);
    ck_assert_uint_eq(expired, 0);
    expect_decision(short_s, "{\"tool\":\"x\"}", AGENTAUTHZ_DENY, "session");
    expect_decision(long_s, "{\"tool\":\"x\"}", AGENTAUTHZ_ALLOW, "all");
    agentauthz_session_close(short_s);
    /* an engine freed with a session still open ends it; the handle can still be closed */
    agentauthz_engine_free(e);
    agentauthz_session_close(long_s);
}
END_TEST

START_TEST(test_no_policy)
{
    agentauthz_engine *e = engine_with(NULL, NULL, NULL);
    agentauthz_error err;
    agentauthz_policy_info info;
    ck_assert_int_eq(try_open(e, "a", "t", NULL, &err), AGENTAUTHZ_ENOPOLICY);
    ck_assert_int_eq(agentauthz_engine_policy_info(e, &info), AGENTAUTHZ_ENOPOLICY);
    ck_assert_str_eq(agentauthz_version(), AGENTAUTHZ_VERSION_STRING);
    ck_assert_str_eq(agentauthz_strerror(AGENTAUTHZ_EPOLICY), "invalid policy");
    agentauthz_engine_free(e);
    agentauthz_engine_free(NULL);
}
END_TEST

/*
 * Issue 11, item 4: a parameter declared optional may be absent (or null)
 * at open, and then every predicate over it, as field or operand, is
 * false, whatever the predicate (ne and not_in too); not inverts as usual,
 * and exists: false says it is absent. A list parameter may be empty, and
 * an empty list is present: in over it is false, not_in true.
 */
static const char *const optional_policy =
    "agentauthz: 1\n"
    "tasks:\n"
    "  travel:\n"
    "    params:\n"
    "      flight: string\n"
    "      hotel: { type: string, optional: true }\n"
    "      extras: { type: list, optional: true }\n"
    "      nights: { type: number, optional: true }\n"
    "      guests: list\n"
    "rules:\n"
    "  - { id: flight, effect: allow, tasks: [travel], tools: [book_flight],\n"
    "      where: { args.flight: { eq: { param: flight } } } }\n"
    "  - { id: hotel, effect: allow, tasks: [travel], tools: [book_hotel],\n"
    "      where: { args.hotel: { eq: { param: hotel } } } }\n"
    "  - { id: hotel-other, effect: deny, tasks: [travel], tools: [book_hotel],\n"
    "      where: { args.hotel: { ne: { param: hotel } } } }\n"
    "  - { id: too-long, effect: deny, tasks: [travel], tools: [book_hotel],\n"
    "      where: { args.nights: { gt: { param: nights } } } }\n"
    "  - { id: no-hotel-asked, effect: ask, tasks: [travel], tools: [book_hotel],\n"
    "      where: { session.params.hotel: { exists: false } } }\n"
    "  - { id: extras, effect: allow, tasks: [travel], tools: [add_extra],\n"
    "      where: { args.extra: { in: { param: extras } } } }\n"
    "  - { id: not-extra, effect: ask, tasks: [travel], tools: [add_extra],\n"
    "      where: { args.extra: { not: { in: { param: extras } } } } }\n"
    "  - { id: guests, effect: allow, tasks: [travel], tools: [add_guest],\n"
    "      where: { args.name: { in: { param: guests } } } }\n"
    "  - { id: stranger, effect: deny, tasks: [travel], tools: [add_guest],\n"
    "      where: { args.name: { not_in: { param: guests } } } }\n";

START_TEST(test_optional_params)
{
    agentauthz_engine *e = engine_with(NULL, optional_policy, NULL);
    agentauthz_error err;
    agentauthz_session *s;
    const char *absent[] = {"{\"flight\":\"LH1\",\"guests\":[]}",
                            "{\"flight\":\"LH1\",\"guests\":[],\"hotel\":null,\"extras\":null,"
                            "\"nights\":null}"};
    ck_assert_ptr_nonnull(e);
    for (size_t i = 0; i < 2; i++) {
        s = open_session(e, support, "travel", absent[i]);
        expect_decision(s, "{\"tool\":\"book_flight\",\"args\":{\"flight\":\"LH1\"}}",
                        AGENTAUTHZ_ALLOW, "flight");
        /* eq and ne over the absent hotel are both false; exists: false holds */
        expect_decision(s, "{\"tool\":\"book_hotel\",\"args\":{\"hotel\":\"Ritz\",\"nights\":9}}",
                        AGENTAUTHZ_ASK, "no-hotel-asked");
        /* in over an absent list is false, and not inverts it */
        expect_decision(s, "{\"tool\":\"add_extra\",\"args\":{\"extra\":\"spa\"}}",
                        AGENTAUTHZ_ASK, "not-extra");
        /* an empty list is present: in is false, not_in true */
        expect_decision(s, "{\"tool\":\"add_guest\",\"args\":{\"name\":\"eve\"}}",
                        AGENTAUTHZ_DENY, "stranger");
        agentauthz_session_close(s);
    }
    s = open_session(e, support, "travel",
                     "{\"flight\":\"LH1\",\"guests\":[\"ann\"],\"hotel\":\"Ritz\","
                     "\"extras\":[\"spa\"],\"nights\":3}");
    expect_decision(s, "{\"tool\":\"book_hotel\",\"args\":{\"hotel\":\"Ritz\",\"nights\":3}}",
                    AGENTAUTHZ_ALLOW, "hotel");
    expect_decision(s, "{\"tool\":\"book_hotel\",\"args\":{\"hotel\":\"Ritz \",\"nights\":3}}",
                    AGENTAUTHZ_DENY, "hotel-other");
    expect_decision(s, "{\"tool\":\"book_hotel\",\"args\":{\"hotel\":\"Ritz\",\"nights\":4}}",
                    AGENTAUTHZ_DENY, "too-long");
    expect_decision(s, "{\"tool\":\"add_extra\",\"args\":{\"extra\":\"spa\"}}", AGENTAUTHZ_ALLOW,
                    "extras");
    expect_decision(s, "{\"tool\":\"add_guest\",\"args\":{\"name\":\"ann\"}}", AGENTAUTHZ_ALLOW,
                    "guests");
    agentauthz_session_close(s);
    /* required ones stay required; optional ones keep their type */
    ck_assert_int_eq(try_open(e, support, "travel", "{\"guests\":[]}", &err), AGENTAUTHZ_EPARAM);
    ck_assert_ptr_nonnull(strstr(err.message, "needs parameter \"flight\""));
    ck_assert_int_eq(try_open(e, support, "travel", "{\"flight\":\"LH1\"}", &err),
                     AGENTAUTHZ_EPARAM);
    ck_assert_int_eq(try_open(e, support, "travel", "{\"flight\":null,\"guests\":[]}", &err),
                     AGENTAUTHZ_EPARAM);
    ck_assert_int_eq(
        try_open(e, support, "travel", "{\"flight\":\"LH1\",\"guests\":[],\"hotel\":5}", &err),
        AGENTAUTHZ_EPARAM);
    ck_assert_ptr_nonnull(strstr(err.message, "\"hotel\" must be a string"));
    ck_assert_int_eq(
        try_open(e, support, "travel", "{\"flight\":\"LH1\",\"guests\":[],\"room\":\"x\"}", &err),
        AGENTAUTHZ_EPARAM);
    agentauthz_engine_free(e);
}
END_TEST

static Suite *session_suite(void)
{
    Suite *s = suite_create("session");
    TCase *tc = tcase_create("session");
    tcase_add_test(tc, test_open_refusals);
    tcase_add_test(tc, test_empty_identities_admit_nobody);
    tcase_add_loop_test(tc, test_spiffe_ids, 0,
                        (int)(sizeof spiffe_cases / sizeof spiffe_cases[0]));
    tcase_add_test(tc, test_spiffe_bounds);
    tcase_add_test(tc, test_params);
    tcase_add_test(tc, test_optional_params);
    tcase_add_test(tc, test_param_operands_checked_at_open);
    tcase_add_test(tc, test_ttl_clamps);
    tcase_add_test(tc, test_revoke_and_reasons);
    tcase_add_test(tc, test_reload_applies_to_live_sessions);
    tcase_add_test(tc, test_sweep);
    tcase_add_test(tc, test_no_policy);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(session_suite());
}

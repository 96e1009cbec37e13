/*
 * The payload of a replay line and of a test step reaches the action that
 * is checked, so that the leak rule works end to end from the command's
 * inputs: a live secret of the engine in the payload (here hex-encoded, as
 * a trace holds text) is a deny with rule "leak". The secret is leased
 * through the public API, as a tool runtime would, and never printed.
 *
 * Built with the command's own replay_line.c and testfile.c (and what they
 * use): the command's shell tests cannot know a secret's value, since
 * every provider the command can use makes fresh random or session-bound
 * values.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <agentauthz.h>

#include "replay.h"
#include "testfile.h"

#define SECRET_MAX 64

static const char policy[] = "agentauthz: 1\n"
                             "secrets:\n"
                             "  db: { provider: random, bytes: 24, tools: [db.query] }\n"
                             "tasks:\n"
                             "  work: { secrets: [db] }\n"
                             "rules:\n"
                             "  - { id: query, effect: allow, tools: [db.query] }\n"
                             "  - { id: upload, effect: allow, tools: [upload] }\n";

/* An engine with one session whose secret has been leased as hex text. */
typedef struct fixture {
    agentauthz_engine *e;
    agentauthz_session *s;
    agentauthz_action *a;
    char hex[2 * SECRET_MAX + 1];
} fixture;

static void to_hex(const unsigned char *p, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * len] = '\0';
}

/* Checks db.query (allowed) and leases the secret, as a tool runtime does. */
static void lease_secret(fixture *f)
{
    agentauthz_decision d;
    agentauthz_lease *l = NULL;
    agentauthz_error err;
    const unsigned char *v;
    size_t len = 0;
    ck_assert_int_eq(agentauthz_action_set_tool(f->a, "db.query"), 0);
    ck_assert_int_eq(agentauthz_check(f->s, f->a, &d), 0);
    ck_assert_str_eq(d.rule, "query");
    ck_assert_int_eq(agentauthz_lease_acquire(f->s, f->a, &d, "db", &l, &err), 0);
    v = agentauthz_lease_value(l, &len);
    ck_assert_ptr_nonnull(v);
    ck_assert_uint_eq(len, 24);
    to_hex(v, len, f->hex);
    agentauthz_lease_release(l);
}

static void setup(fixture *f)
{
    agentauthz_error err;
    memset(f, 0, sizeof *f);
    memset(&err, 0, sizeof err);
    ck_assert_int_eq(agentauthz_engine_new(&f->e, NULL, &err), 0);
    ck_assert_msg(
        agentauthz_engine_load_string(f->e, "p.yaml", policy, strlen(policy), NULL, &err) == 0,
        "%s", err.message);
    ck_assert_int_eq(agentauthz_session_open(f->e, "spiffe://x/a", "work", NULL, &f->s, &err), 0);
    ck_assert_int_eq(agentauthz_action_new(&f->a), 0);
    lease_secret(f);
}

static void teardown(fixture *f)
{
    agentauthz_action_free(f->a);
    agentauthz_session_close(f->s);
    agentauthz_engine_free(f->e);
}

/*
 * Replays one line (JSON text) through the command's parser and action
 * builder into f->a and checks it. Returns the parse status; *d and *plen
 * (the payload's length as parsed) are set when it parsed.
 */
static int replay_text(fixture *f, const char *json, agentauthz_decision *d, size_t *plen,
                       char *msg, size_t cap)
{
    agentauthz_value *obj = NULL;
    agentauthz_error err;
    replay_line l;
    int rc;
    ck_assert_int_eq(agentauthz_value_parse_json(json, strlen(json), &obj, &err), 0);
    rc = replay_line_parse(obj, &l, msg, cap);
    if (rc == 0) {
        *plen = l.payload_len;
        ck_assert_int_eq(replay_line_action(&l, f->a), 0);
        ck_assert_int_eq(agentauthz_check(f->s, f->a, d), 0);
    }
    agentauthz_value_free(obj);
    return rc;
}

/* A replay line whose payload carries the secret, with the given prefix. */
static void replay_with_payload(fixture *f, const char *prefix, agentauthz_decision *d,
                                size_t *plen)
{
    char json[512], msg[256];
    snprintf(json, sizeof json, "{\"session\":\"s\",\"tool\":\"upload\",\"payload\":\"%s%s\"}",
             prefix, f->hex);
    ck_assert_int_eq(replay_text(f, json, d, plen, msg, sizeof msg), 0);
}

START_TEST(replay_payload_leak_denied)
{
    fixture f;
    agentauthz_decision d;
    size_t plen = 0;
    setup(&f);
    replay_with_payload(&f, "body: ", &d, &plen);
    ck_assert_uint_eq(plen, strlen("body: ") + strlen(f.hex));
    ck_assert_int_eq(d.effect, AGENTAUTHZ_DENY);
    ck_assert_str_eq(d.rule, "leak");
    /* The reason names where the secret was found, never its value. */
    ck_assert_ptr_null(strstr(d.reason, f.hex));
    teardown(&f);
}
END_TEST

START_TEST(replay_payload_with_nul_is_bytes)
{
    fixture f;
    agentauthz_decision d;
    size_t plen = 0;
    setup(&f);
    /* A NUL before the secret must not cut the payload short. */
    replay_with_payload(&f, "x\\u0000", &d, &plen);
    ck_assert_uint_eq(plen, 2 + strlen(f.hex));
    ck_assert_str_eq(d.rule, "leak");
    teardown(&f);
}
END_TEST

START_TEST(replay_payload_harmless_allowed)
{
    fixture f;
    agentauthz_decision d;
    char msg[256];
    size_t plen = 0;
    setup(&f);
    ck_assert_int_eq(replay_text(&f,
                                 "{\"session\":\"s\",\"tool\":\"upload\",\"payload\":\"hello\"}",
                                 &d, &plen, msg, sizeof msg),
                     0);
    ck_assert_uint_eq(plen, 5);
    ck_assert_int_eq(d.effect, AGENTAUTHZ_ALLOW);
    ck_assert_str_eq(d.rule, "upload");
    ck_assert_int_eq(replay_text(&f, "{\"session\":\"s\",\"tool\":\"upload\",\"payload\":null}", &d,
                                 &plen, msg, sizeof msg),
                     0);
    ck_assert_uint_eq(plen, 0);
    ck_assert_str_eq(d.rule, "upload");
    teardown(&f);
}
END_TEST

START_TEST(replay_payload_must_be_a_string)
{
    fixture f;
    agentauthz_decision d;
    char msg[256] = "";
    size_t plen = 0;
    setup(&f);
    ck_assert_int_eq(replay_text(&f, "{\"session\":\"s\",\"tool\":\"upload\",\"payload\":[\"x\"]}",
                                 &d, &plen, msg, sizeof msg),
                     -1);
    ck_assert_str_eq(msg, "\"payload\" must be a string");
    ck_assert_int_eq(replay_text(&f, "{\"session\":\"s\",\"tool\":\"upload\",\"payload\":7}", &d,
                                 &plen, msg, sizeof msg),
                     -1);
    teardown(&f);
}
END_TEST

/* Writes a tests file with a leaking step and a harmless one; returns its path. */
static void write_tests_file(const fixture *f, char *path, size_t cap)
{
    FILE *out = NULL;
    int fd;
    snprintf(path, cap, "%s/test_cli_payload.XXXXXX.yaml",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    fd = mkstemps(path, 5);
    ck_assert_int_ge(fd, 0);
    out = fdopen(fd, "w");
    ck_assert_ptr_nonnull(out);
    fprintf(out,
            "tests:\n"
            "  - name: leak\n"
            "    identity: spiffe://x/a\n"
            "    task: work\n"
            "    steps:\n"
            "      - { tool: upload, payload: \"token=%s\", expect: deny, rule: leak }\n"
            "      - { tool: upload, payload: \"nothing here\", expect: allow }\n",
            f->hex);
    ck_assert_int_eq(fclose(out), 0);
}

START_TEST(test_step_payload_leak_denied)
{
    fixture f;
    tfile tf;
    agentauthz_error err;
    agentauthz_decision d;
    char path[512];
    setup(&f);
    write_tests_file(&f, path, sizeof path);
    memset(&tf, 0, sizeof tf);
    ck_assert_msg(tfile_load(path, &tf, &err) == 0, "%s", err.message);
    unlink(path);
    ck_assert_uint_eq(tf.ncases, 1);
    ck_assert_uint_eq(tf.cases[0].nsteps, 2);
    ck_assert_uint_eq(tf.cases[0].steps[0].payload_len, strlen("token=") + strlen(f.hex));
    ck_assert_int_eq(tfile_step_action(&tf.cases[0].steps[0], f.a), 0);
    ck_assert_int_eq(agentauthz_check(f.s, f.a, &d), 0);
    ck_assert_str_eq(d.rule, "leak");
    ck_assert_int_eq(tfile_step_action(&tf.cases[0].steps[1], f.a), 0);
    ck_assert_int_eq(agentauthz_check(f.s, f.a, &d), 0);
    ck_assert_str_eq(d.rule, "upload");
    tfile_free(&tf);
    teardown(&f);
}
END_TEST

static Suite *payload_suite(void)
{
    Suite *s = suite_create("cli_payload");
    TCase *tc = tcase_create("payload");
    tcase_add_test(tc, replay_payload_leak_denied);
    tcase_add_test(tc, replay_payload_with_nul_is_bytes);
    tcase_add_test(tc, replay_payload_harmless_allowed);
    tcase_add_test(tc, replay_payload_must_be_a_string);
    tcase_add_test(tc, test_step_payload_leak_denied);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(payload_suite());
    int failed;
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/*
 * Session ids and random secrets from the engine's generator, through the
 * public API: well formed and distinct (delegated children included), of
 * the declared length on both of the generator's paths (short requests
 * from its stream, long ones expanded from a key), and not repeated by a
 * forked child process.
 */
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

static const char *const policy =
    "agentauthz: 1\n"
    "identities:\n"
    "  - { match: \"agent/*\", roles: [worker] }\n"
    "secrets:\n"
    "  small: { provider: random, bytes: 32, tools: [db.query] }\n"
    "  big: { provider: random, bytes: 1024, tools: [db.query] }\n"
    "tasks:\n"
    "  work: { roles: [worker], secrets: [small, big] }\n"
    "  plain: {}\n"
    "rules:\n"
    "  - { id: ok, effect: allow, tools: [db.query] }\n";

#define N 500

static agentauthz_session *open_task(agentauthz_engine *e, const char *task)
{
    agentauthz_session *s = NULL;
    agentauthz_error err;
    ck_assert_msg(agentauthz_session_open(e, "agent/1", task, NULL, &s, &err) == 0, "%s",
                  err.message);
    return s;
}

static int is_id(const char *id)
{
    size_t n = 0;
    for (; id[n]; n++)
        if (!((id[n] >= '0' && id[n] <= '9') || (id[n] >= 'a' && id[n] <= 'f')))
            return 0;
    return n == 32;
}

static int cmp_id(const void *a, const void *b)
{
    return memcmp(a, b, 33);
}

/* Sorts the ids and asserts that no two are equal (one assertion: each one writes a pipe). */
static void expect_distinct(char (*ids)[33], size_t n)
{
    size_t dup = 0;
    qsort(ids, n, sizeof ids[0], cmp_id);
    for (size_t i = 1; i < n; i++)
        dup += memcmp(ids[i - 1], ids[i], 33) == 0;
    ck_assert_uint_eq(dup, 0);
}

START_TEST(test_ids_distinct)
{
    static char ids[2 * N][33];
    agentauthz_engine *e = engine_with(NULL, policy, NULL);
    size_t bad = 0;
    ck_assert_ptr_nonnull(e);
    for (size_t i = 0; i < N; i++) {
        agentauthz_session *s = open_task(e, "plain"), *child = NULL;
        agentauthz_error err;
        ck_assert_int_eq(agentauthz_session_delegate(s, "agent/2", "plain", NULL, &child, &err), 0);
        bad += (size_t)!is_id(agentauthz_session_id(s));
        bad += (size_t)!is_id(agentauthz_session_id(child));
        memcpy(ids[2 * i], agentauthz_session_id(s), 33);
        memcpy(ids[2 * i + 1], agentauthz_session_id(child), 33);
        agentauthz_session_close(child);
        agentauthz_session_close(s);
    }
    ck_assert_uint_eq(bad, 0);
    expect_distinct(ids, 2 * N);
    agentauthz_engine_free(e);
}
END_TEST

/* Copies the session's secret name into out (at most cap bytes); its length. */
static size_t lease_copy(agentauthz_session *s, const char *name, unsigned char *out, size_t cap)
{
    agentauthz_action *a = action_from_json("{\"tool\": \"db.query\"}");
    agentauthz_lease *l = NULL;
    agentauthz_decision d;
    agentauthz_error err;
    const unsigned char *v;
    size_t len = 0;
    ck_assert_int_eq(agentauthz_check(s, a, &d), 0);
    ck_assert_int_eq(d.effect, AGENTAUTHZ_ALLOW);
    ck_assert_msg(agentauthz_lease_acquire(s, a, &d, name, &l, &err) == 0, "%s", err.message);
    v = agentauthz_lease_value(l, &len);
    ck_assert_ptr_nonnull(v);
    ck_assert_uint_le(len, cap);
    memcpy(out, v, len);
    agentauthz_lease_release(l);
    agentauthz_action_free(a);
    return len;
}

static int cmp32(const void *a, const void *b)
{
    return memcmp(a, b, 32);
}

/* Both sizes come out at their declared length, and no two values are alike. */
START_TEST(test_secrets_distinct)
{
    static unsigned char small[N][32], big[2][1024];
    agentauthz_engine *e = engine_with(NULL, policy, NULL);
    size_t dup = 0;
    ck_assert_ptr_nonnull(e);
    for (size_t i = 0; i < N; i++) {
        agentauthz_session *s = open_task(e, "work");
        ck_assert_uint_eq(lease_copy(s, "small", small[i], sizeof small[i]), 32);
        if (i < 2)
            ck_assert_uint_eq(lease_copy(s, "big", big[i], sizeof big[i]), 1024);
        agentauthz_session_close(s);
    }
    qsort(small, N, sizeof small[0], cmp32);
    for (size_t i = 1; i < N; i++)
        dup += memcmp(small[i - 1], small[i], 32) == 0;
    ck_assert_uint_eq(dup, 0);
    ck_assert(memcmp(big[0], big[1], 1024) != 0);
    ck_assert(memcmp(big[0], big[0] + 512, 512) != 0);
    agentauthz_engine_free(e);
}
END_TEST

/* What a session opened in a forked child got: its id and its small secret. */
typedef struct drawn {
    char id[33];
    unsigned char small[32];
} drawn;

static void draw(agentauthz_engine *e, drawn *out)
{
    agentauthz_session *s = open_task(e, "work");
    memcpy(out->id, agentauthz_session_id(s), sizeof out->id);
    ck_assert_uint_eq(lease_copy(s, "small", out->small, sizeof out->small), 32);
    agentauthz_session_close(s);
}

static void draw_in_child(agentauthz_engine *e, drawn *out)
{
    int fd[2], status = 0;
    pid_t pid;
    ck_assert_int_eq(pipe(fd), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        drawn d;
        draw(e, &d);
        _exit(write(fd[1], &d, sizeof d) == (ssize_t)sizeof d ? 0 : 1);
    }
    close(fd[1]);
    ck_assert_int_eq(read(fd[0], out, sizeof *out), (ssize_t)sizeof *out);
    close(fd[0]);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/*
 * After a fork, parent and children draw different ids and secrets: a
 * generator copied into the child would hand it the parent's next ones.
 */
START_TEST(test_fork)
{
    agentauthz_engine *e = engine_with(NULL, policy, NULL);
    drawn warm, c1, c2, mine;
    ck_assert_ptr_nonnull(e);
    draw(e, &warm);
    draw_in_child(e, &c1);
    draw_in_child(e, &c2);
    draw(e, &mine);
    ck_assert_str_ne(c1.id, mine.id);
    ck_assert_str_ne(c2.id, mine.id);
    ck_assert_str_ne(c1.id, c2.id);
    ck_assert(memcmp(c1.small, mine.small, 32) != 0);
    ck_assert(memcmp(c2.small, mine.small, 32) != 0);
    ck_assert(memcmp(c1.small, c2.small, 32) != 0);
    agentauthz_engine_free(e);
}
END_TEST

static Suite *session_random_suite(void)
{
    Suite *s = suite_create("session_random");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_ids_distinct);
    tcase_add_test(tc, test_secrets_distinct);
    tcase_add_test(tc, test_fork);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(session_random_suite());
    int failed;
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

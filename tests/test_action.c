/*
 * Actions (issue 16): storage kept across agentauthz_action_reset, setters
 * that copy into it without a malloc per field once it fits, wiping of what
 * a reset takes back, and the arena's cap. Decisions on a reused action are
 * those on a fresh one.
 */
#include <math.h>

#include "testutil.h"

#include "internal.h"
#include "session.h"

/*
 * Counting allocations: the test program's malloc, calloc and realloc
 * replace the C library's for the whole process (the library included) and
 * count the calls. glibc only, and not under a sanitizer, which has its own.
 */
#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#define COUNTS_ALLOCATIONS 1
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void __libc_free(void *p);
static size_t allocations;
static size_t fail_at; /* when non-zero, the allocation with this count fails */
static long live;      /* blocks handed out and not yet freed */

static bool fails(void)
{
    return ++allocations == fail_at;
}

void *malloc(size_t n)
{
    void *p = fails() ? NULL : __libc_malloc(n);
    live += p != NULL;
    return p;
}

void *calloc(size_t n, size_t size)
{
    void *p = fails() ? NULL : __libc_calloc(n, size);
    live += p != NULL;
    return p;
}

void *realloc(void *p, size_t n)
{
    void *q = fails() ? NULL : __libc_realloc(p, n);
    live += q != NULL && p == NULL;
    return q;
}

void free(void *p)
{
    live -= p != NULL;
    __libc_free(p);
}
#endif

static const char args_json[] =
    "{\"path\":\"/var/spool/t1/job-7\",\"n\":2.5e3,\"deep\":{\"a\":[1,true,null,\"x\"],"
    "\"b\":{\"c\":\"d\"}},\"big\":[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19]}";

/*
 * Fills a with every kind of field, through every setter; returns 0 or the
 * first failure. (No ck_assert inside: Check allocates on every assertion.)
 */
static int fill(agentauthz_action *a, const agentauthz_value *extra, int i)
{
    static const char *const dests[] = {"a@corp.example", "b@corp.example"};
    char tool[32];
    int rc;
    snprintf(tool, sizeof tool, "svc%d.op", i % 7);
    rc = agentauthz_action_set_tool(a, tool);
    rc = rc ? rc : agentauthz_action_set_resource(a, "/data/t1/f2.txt");
    rc = rc ? rc : agentauthz_action_add_destination(a, "ops@corp.example");
    rc = rc ? rc : agentauthz_action_add_destination(a, "x@corp.example");
    rc = rc ? rc : agentauthz_action_add_label(a, "internal");
    rc = rc ? rc : agentauthz_action_set_payload(a, "hello", 5);
    rc = rc ? rc : agentauthz_action_set_args_json(a, args_json, sizeof args_json - 1, NULL);
    rc = rc ? rc : agentauthz_action_set_arg_string(a, "user", "user-7", 6);
    rc = rc ? rc : agentauthz_action_set_arg_number(a, "limit", 10);
    rc = rc ? rc : agentauthz_action_set_arg_bool(a, "dry", 1);
    rc = rc ? rc : agentauthz_action_copy_arg(a, "extra", extra);
    rc = rc ? rc : agentauthz_action_set_arg_string(a, "user", "user-8", 6);
    if (i % 2)
        rc = rc ? rc : agentauthz_action_set_destinations(a, dests, 2);
    return rc;
}

static char *args_text(const agentauthz_action *a)
{
    char *json = NULL;
    ck_assert_int_eq(agentauthz_value_to_json(agentauthz_action_args(a), &json, NULL), 0);
    return json;
}

START_TEST(test_reuse_builds_the_same_action)
{
    agentauthz_value *extra = json_value("{\"k\":[1,{\"z\":\"w\"}]}");
    agentauthz_action *fresh = NULL, *reused = NULL;
    ck_assert_int_eq(agentauthz_action_new(&reused), 0);
    for (int i = 0; i < 50; i++) {
        char *x, *y;
        ck_assert_int_eq(agentauthz_action_new(&fresh), 0);
        agentauthz_action_reset(reused);
        ck_assert_int_eq(fill(fresh, extra, i), 0);
        ck_assert_int_eq(fill(reused, extra, i), 0);
        x = args_text(fresh);
        y = args_text(reused);
        ck_assert_str_eq(x, y);
        ck_assert_str_eq(x, "{\"path\":\"/var/spool/t1/job-7\",\"n\":2500,\"deep\":{\"a\":[1,true,"
                            "null,\"x\"],\"b\":{\"c\":\"d\"}},\"big\":[0,1,2,3,4,5,6,7,8,9,10,11,"
                            "12,13,14,15,16,17,18,19],\"user\":\"user-8\",\"limit\":10,\"dry\":true,"
                            "\"extra\":{\"k\":[1,{\"z\":\"w\"}]}}");
        agentauthz_free(x);
        agentauthz_free(y);
        agentauthz_action_free(fresh);
    }
    agentauthz_action_free(reused);
    agentauthz_value_free(extra);
}
END_TEST

START_TEST(test_no_allocation_after_warm_up)
{
#ifdef COUNTS_ALLOCATIONS
    agentauthz_value *extra = json_value("{\"k\":[1,{\"z\":\"w\"}]}");
    agentauthz_action *a = NULL;
    size_t before, after;
    int rc = 0;
    ck_assert_int_eq(agentauthz_action_new(&a), 0);
    for (int i = 0; i < 4; i++) { /* warm-up: the storage grows to fit */
        agentauthz_action_reset(a);
        ck_assert_int_eq(fill(a, extra, i), 0);
    }
    before = allocations;
    for (int i = 0; i < 1000 && !rc; i++) {
        agentauthz_action_reset(a);
        rc = fill(a, extra, i);
    }
    /* Replacing the arguments again and again without a reset does not grow the storage. */
    for (int i = 0; i < 10000 && !rc; i++)
        rc = agentauthz_action_set_args_json(a, args_json, sizeof args_json - 1, NULL);
    after = allocations;
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_eq(after - before, 0);
    agentauthz_action_free(a);
    agentauthz_value_free(extra);
#endif
}
END_TEST

/*
 * Every allocation of building an action fails in turn: each setter then
 * returns an error (never crashes), the action stays usable (a reset and a
 * rebuild give the full action), and nothing leaks.
 */
START_TEST(test_allocation_failures)
{
#ifdef COUNTS_ALLOCATIONS
    agentauthz_value *extra = json_value("{\"k\":[1,{\"z\":\"w\"}]}");
    agentauthz_action *ref = NULL;
    char *want;
    bool completed = false;
    ck_assert_int_eq(agentauthz_action_new(&ref), 0);
    ck_assert_int_eq(fill(ref, extra, 1), 0);
    want = args_text(ref);
    agentauthz_action_free(ref);
    for (size_t n = 1; !completed; n++) {
        /* No ck_assert until the counts are taken: Check allocates on every assertion. */
        agentauthz_action *a = NULL;
        long before = live, leaked;
        char *got = NULL;
        int rc, rebuilt = -1, same = 0, whole = 0;
        allocations = 0;
        fail_at = n;
        rc = agentauthz_action_new(&a);
        if (!rc)
            rc = fill(a, extra, 1);
        fail_at = 0;
        completed = rc == 0;
        /* A setter that reports success did its whole job. */
        if (!rc && agentauthz_value_to_json(agentauthz_action_args(a), &got, NULL) == 0)
            whole = strcmp(got, want) == 0;
        agentauthz_free(got);
        got = NULL;
        if (a) {
            agentauthz_action_reset(a);
            rebuilt = fill(a, extra, 1);
            if (!rebuilt && agentauthz_value_to_json(agentauthz_action_args(a), &got, NULL) == 0)
                same = strcmp(got, want) == 0;
            agentauthz_free(got);
            agentauthz_action_free(a);
        }
        leaked = live - before;
        ck_assert_msg(rc == 0 || rc == AGENTAUTHZ_ENOMEM, "allocation %zu: rc %d", n, rc);
        ck_assert_msg(rc || whole, "allocation %zu: success with a partial action", n);
        ck_assert_msg(!a || (rebuilt == 0 && same), "allocation %zu: rebuilt %d", n, rebuilt);
        ck_assert_msg(leaked == 0, "allocation %zu: %ld blocks leaked", n, leaked);
    }
    agentauthz_free(want);
    agentauthz_value_free(extra);
#endif
}
END_TEST

/*
 * The storage's cap in every position: with the arenas capped at each size
 * in turn, building fails with ELIMIT at the first allocation past the cap,
 * in whichever setter makes it (each setter's failure path), or succeeds
 * with the whole action; never a partial success. Then the cap is lifted
 * and the same action, reset, builds in full.
 */
START_TEST(test_storage_cap_sweep)
{
    agentauthz_value *extra = json_value("{\"k\":[1,{\"z\":\"w\"}]}");
    agentauthz_action *a = NULL;
    char *want = NULL, *got;
    int seen_fail = 0;
    ck_assert_int_eq(agentauthz_action_new(&a), 0);
    ck_assert_int_eq(fill(a, extra, 1), 0);
    want = args_text(a);
    agentauthz_action_free(a);
    for (size_t cap = 0; cap <= 8192; cap += 16) {
        int rc;
        ck_assert_int_eq(agentauthz_action_new(&a), 0);
        a->fields.max = a->args_mem[0].max = a->args_mem[1].max = cap ? cap : 1;
        rc = fill(a, extra, 1);
        ck_assert_msg(rc == 0 || rc == AGENTAUTHZ_ELIMIT, "cap %zu: rc %d", cap, rc);
        seen_fail |= rc != 0;
        if (!rc) {
            got = args_text(a);
            ck_assert_str_eq(got, want);
            agentauthz_free(got);
        }
        a->fields.max = a->args_mem[0].max = a->args_mem[1].max = 0;
        agentauthz_action_reset(a);
        ck_assert_int_eq(fill(a, extra, 1), 0);
        got = args_text(a);
        ck_assert_str_eq(got, want);
        agentauthz_free(got);
        agentauthz_action_free(a);
    }
    ck_assert(seen_fail);
    agentauthz_free(want);
    agentauthz_value_free(extra);
}
END_TEST

/* A reset wipes what it takes back: the old bytes are zero in the kept storage. */
START_TEST(test_reset_wipes)
{
    static const char secret[] = "sk-0123456789abcdef0123456789abcdef";
    agentauthz_action *a = NULL;
    const char *payload, *tool;
    az_chunk *chunk;
    ck_assert_int_eq(agentauthz_action_new(&a), 0);
    ck_assert_int_eq(agentauthz_action_set_tool(a, secret), 0);
    ck_assert_int_eq(agentauthz_action_set_payload(a, secret, sizeof secret - 1), 0);
    ck_assert_int_eq(agentauthz_action_set_arg_string(a, "k", secret, sizeof secret - 1), 0);
    ck_assert_int_eq(agentauthz_action_add_label(a, secret), 0);
    payload = a->payload.p;
    tool = a->tool.p;
    chunk = a->args_mem[a->args_cur].head;
    ck_assert_ptr_nonnull(chunk);
    /* A shorter value leaves no tail of the longer one behind. */
    ck_assert_int_eq(agentauthz_action_set_tool(a, "x"), 0);
    for (size_t i = 1; i < sizeof secret; i++)
        ck_assert_int_eq(tool[i], 0);
    agentauthz_action_reset(a);
    ck_assert_ptr_eq(a->payload.p, payload); /* kept for reuse */
    for (size_t i = 0; i < sizeof secret; i++)
        ck_assert_int_eq(payload[i], 0);
    ck_assert_ptr_null(memmem(a->args_mem[0].head, 64, "sk-", 3));
    ck_assert_ptr_eq(a->args_mem[a->args_cur].head, chunk);
    ck_assert_ptr_null(agentauthz_action_args(a));
    agentauthz_action_free(a);
}
END_TEST

START_TEST(test_arena_cap_and_reuse)
{
    az_arena ar;
    void *p, *q;
    memset(&ar, 0, sizeof ar);
    ar.max = 4096;
    ck_assert_ptr_nonnull(p = az_arena_alloc(&ar, 1000));
    memset(p, 'x', 1000);
    ck_assert_ptr_nonnull(az_arena_alloc(&ar, 1000));
    ck_assert_ptr_null(az_arena_alloc(&ar, 4000)); /* past the cap */
    ck_assert_int_eq(az_arena_error(&ar), AGENTAUTHZ_ELIMIT);
    ck_assert_ptr_null(az_arena_alloc(&ar, SIZE_MAX - 3));
    az_arena_reset(&ar);
    ck_assert_ptr_nonnull(q = az_arena_alloc(&ar, 1000));
    ck_assert_ptr_eq(p, q); /* the same chunk, wiped */
    for (size_t i = 0; i < 1000; i++)
        ck_assert_int_eq(((unsigned char *)q)[i], 0);
    /* A chunk too small for a request is replaced within the cap. */
    az_arena_reset(&ar);
    ck_assert_ptr_nonnull(az_arena_alloc(&ar, 4000));
    ck_assert_uint_le(ar.total, 4096);
    az_arena_free(&ar);
    ck_assert_uint_eq(ar.total, 0);
}
END_TEST

START_TEST(test_bad_input_leaves_arguments)
{
    agentauthz_action *a = NULL;
    agentauthz_error err;
    char *json;
    ck_assert_int_eq(agentauthz_action_new(&a), 0);
    ck_assert_int_eq(agentauthz_action_set_args_json(a, "{\"a\":1}", 7, &err), 0);
    ck_assert_int_eq(agentauthz_action_set_args_json(a, "{\"a\":", 5, &err), AGENTAUTHZ_EJSON);
    ck_assert_int_eq(agentauthz_action_set_args_json(a, "[1]", 3, &err), AGENTAUTHZ_EJSON);
    ck_assert_int_eq(agentauthz_action_set_args_json(a, "{\"a\":1,\"a\":2}", 13, &err),
                     AGENTAUTHZ_EJSON);
    ck_assert_int_eq(agentauthz_action_set_arg_number(a, "n", NAN), AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(agentauthz_action_set_arg_number(a, "n", INFINITY), AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(agentauthz_action_set_arg_string(a, "s", NULL, 1), AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(agentauthz_action_set_arg_string(NULL, "s", "x", 1), AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(agentauthz_action_set_arg_bool(a, NULL, 1), AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(agentauthz_action_copy_arg(a, "c", NULL), AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(agentauthz_action_set_arg(a, "c", NULL), AGENTAUTHZ_ENOMEM);
    json = args_text(a);
    ck_assert_str_eq(json, "{\"a\":1}");
    agentauthz_free(json);
    /* A string argument may hold NUL bytes. */
    ck_assert_int_eq(agentauthz_action_set_arg_string(a, "s", "a\0b", 3), 0);
    {
        size_t len = 0;
        const char *s = agentauthz_value_get_string(
            agentauthz_value_map_get(agentauthz_action_args(a), "s"), &len);
        ck_assert_uint_eq(len, 3);
        ck_assert_int_eq(memcmp(s, "a\0b", 3), 0);
    }
    agentauthz_action_free(a);
}
END_TEST

static Suite *action_suite(void)
{
    Suite *s = suite_create("action");
    TCase *tc = tcase_create("action");
    tcase_add_test(tc, test_reuse_builds_the_same_action);
    tcase_add_test(tc, test_no_allocation_after_warm_up);
    tcase_add_test(tc, test_allocation_failures);
    tcase_add_test(tc, test_storage_cap_sweep);
    tcase_add_test(tc, test_reset_wipes);
    tcase_add_test(tc, test_arena_cap_and_reuse);
    tcase_add_test(tc, test_bad_input_leaves_arguments);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(action_suite());
}

/* The guarded-memory pool: slots, wiping, class boundaries, bounds, threads. */
#include <check.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "secmem_private.h"

/* The pool mode of the test case running: each TCase's fixture sets it. */
static unsigned pool_flags;

static void protect_mode(void)
{
    pool_flags = AZ_SECPOOL_PROTECT;
}

static void fast_mode(void)
{
    pool_flags = 0;
}

static int all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(seed + i * 7 + 1);
}

START_TEST(test_round_trip)
{
    az_secpool *p = NULL;
    az_secslot *s = NULL;
    ck_assert_int_eq(az_secpool_new(&p, pool_flags), 0);
    ck_assert_int_eq(az_secpool_alloc(p, 32, &s), 0);
    ck_assert_uint_eq(az_secpool_size(s), 32);
    ck_assert(all_zero(az_secpool_read(s), 32));
    ck_assert_int_eq(az_secpool_write(s, "0123456789abcdef0123456789abcdef", 32), 0);
    ck_assert_mem_eq(az_secpool_read(s), "0123456789abcdef0123456789abcdef", 32);
    /* A shorter write leaves no trace of the longer one. */
    ck_assert_int_eq(az_secpool_write(s, "xy", 2), 0);
    ck_assert_mem_eq(az_secpool_read(s), "xy", 2);
    ck_assert(all_zero(az_secpool_read(s) + 2, 62));
    az_secpool_release(s);
    az_secpool_free(p);
}
END_TEST

START_TEST(test_wiped_on_release)
{
    az_secpool *p = NULL;
    az_secslot *s = NULL, *t = NULL;
    const unsigned char *mem;
    unsigned char secret[200];
    fill(secret, sizeof secret, 3);
    ck_assert_int_eq(az_secpool_new(&p, pool_flags), 0);
    ck_assert_int_eq(az_secpool_alloc(p, sizeof secret, &s), 0);
    ck_assert_int_eq(az_secpool_write(s, secret, sizeof secret), 0);
    mem = az_secpool_read(s);
    az_secpool_release(s);
    /* The free list is last-in first-out, so the same slot comes back. */
    ck_assert_int_eq(az_secpool_alloc(p, 256, &t), 0);
    ck_assert_ptr_eq(az_secpool_read(t), mem);
    ck_assert(all_zero(az_secpool_read(t), 256));
    az_secpool_release(t);
    az_secpool_free(p);
}
END_TEST

static const size_t sizes[] = {1, 63, 64, 65, 255, 256, 257, 1023, 1024, 1025, 4095, 4096,
                               4097, 65536, 65537, AZ_SECPOOL_MAX_SECRET};

START_TEST(test_class_boundaries)
{
    size_t n = sizes[_i];
    az_secpool *p = NULL;
    az_secslot *s = NULL;
    unsigned char *buf = malloc(n);
    ck_assert_ptr_nonnull(buf);
    fill(buf, n, (unsigned)_i);
    ck_assert_int_eq(az_secpool_new(&p, pool_flags), 0);
    ck_assert_int_eq(az_secpool_alloc(p, n, &s), 0);
    ck_assert(all_zero(az_secpool_read(s), n));
    ck_assert_int_eq(az_secpool_write(s, buf, n), 0);
    ck_assert_int_eq(memcmp(az_secpool_read(s), buf, n), 0);
    ck_assert_int_eq(az_secpool_write(s, buf, n + 1), AGENTAUTHZ_EINVAL);
    az_secpool_release(s);
    az_secpool_free(p);
    free(buf);
}
END_TEST

START_TEST(test_bad_args)
{
    az_secpool *p = NULL;
    az_secslot *s = (az_secslot *)&p;
    ck_assert_int_eq(az_secpool_new(NULL, pool_flags), AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(az_secpool_new(&p, 0x80), AGENTAUTHZ_EINVAL);
    ck_assert_ptr_null(p);
    ck_assert_int_eq(az_secpool_new(&p, pool_flags), 0);
    ck_assert_int_eq(az_secpool_alloc(p, 0, &s), AGENTAUTHZ_EINVAL);
    ck_assert_ptr_null(s);
    ck_assert_int_eq(az_secpool_alloc(p, AZ_SECPOOL_MAX_SECRET + 1, &s), AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(az_secpool_alloc(p, SIZE_MAX, &s), AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(az_secpool_alloc(NULL, 8, &s), AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(az_secpool_alloc(p, 8, NULL), AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(az_secpool_write(NULL, "x", 1), AGENTAUTHZ_EINVAL);
    ck_assert_ptr_null(az_secpool_read(NULL));
    ck_assert_uint_eq(az_secpool_size(NULL), 0);
    az_secpool_release(NULL);
    az_secpool_free(NULL);
    ck_assert_int_eq(az_secpool_alloc(p, 8, &s), 0);
    ck_assert_int_eq(az_secpool_write(s, NULL, 1), AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(az_secpool_write(s, NULL, 0), 0);
    az_secpool_release(s);
    az_secpool_free(p);
}
END_TEST

/* Thousands of slots across many regions, released out of order, twice. */
START_TEST(test_many)
{
    /* mprotect on locked memory is slow in some VMs: fewer rounds when protecting. */
    const size_t N = pool_flags ? 600 : 3000;
    az_secpool *p = NULL;
    az_secslot **s = calloc(N, sizeof *s);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(az_secpool_new(&p, pool_flags), 0);
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < N; i++) {
            size_t n = 1 + (i * 37) % 300;
            unsigned char v[300];
            fill(v, n, (unsigned)i);
            ck_assert_int_eq(az_secpool_alloc(p, n, &s[i]), 0);
            ck_assert(all_zero(az_secpool_read(s[i]), n));
            ck_assert_int_eq(az_secpool_write(s[i], v, n), 0);
        }
        for (size_t i = 0; i < N; i++) {
            size_t j = (i * 7919) % N; /* a permutation: 7919 is prime to N */
            unsigned char v[300];
            size_t n = 1 + (j * 37) % 300;
            fill(v, n, (unsigned)j);
            ck_assert_int_eq(memcmp(az_secpool_read(s[j]), v, n), 0);
            az_secpool_release(s[j]);
        }
    }
    az_secpool_free(p);
    free(s);
}
END_TEST

START_TEST(test_limit)
{
    az_secpool *p = NULL;
    az_secslot *s[5] = {NULL};
    ck_assert_int_eq(az_secpool_new(&p, pool_flags), 0);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(az_secpool_alloc(p, AZ_SECPOOL_MAX_SECRET, &s[i]), 0);
    ck_assert_int_eq(az_secpool_alloc(p, AZ_SECPOOL_MAX_SECRET, &s[4]), AGENTAUTHZ_ELIMIT);
    ck_assert_int_eq(az_secpool_alloc(p, 64, &s[4]), AGENTAUTHZ_ELIMIT);
    az_secpool_release(s[0]);
    ck_assert_int_eq(az_secpool_alloc(p, 64, &s[0]), 0);
    /* The pool is freed with live slots: it wipes and frees them all. */
    az_secpool_free(p);
}
END_TEST

/* A slot is read-only outside a write: writing through the pointer faults. */
START_TEST(test_read_only)
{
    az_secpool *p = NULL;
    az_secslot *s = NULL;
    int status = 0;
    pid_t pid;
    ck_assert_int_eq(az_secpool_new(&p, pool_flags), 0);
    ck_assert_int_eq(az_secpool_alloc(p, 16, &s), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* The fault is expected: keep the sanitizer's report of it quiet. */
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0)
            dup2(devnull, 2);
        volatile unsigned char *w = (volatile unsigned char *)(uintptr_t)az_secpool_read(s);
        w[0] = 1;
        _exit(0);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(!(WIFEXITED(status) && WEXITSTATUS(status) == 0));
    az_secpool_release(s);
    az_secpool_free(p);
}
END_TEST

struct worker {
    az_secpool *pool;
    unsigned seed;
    int failures;
};

static void *worker_run(void *arg)
{
    struct worker *w = arg;
    unsigned rounds = pool_flags ? 200 : 2000;
    for (unsigned i = 0; i < rounds; i++) {
        size_t n = 1 + (i * 131 + w->seed) % 5000;
        unsigned char v[5000];
        az_secslot *s = NULL;
        fill(v, n, w->seed + i);
        if (az_secpool_alloc(w->pool, n, &s) != 0 || !all_zero(az_secpool_read(s), n) ||
            az_secpool_write(s, v, n) != 0 || memcmp(az_secpool_read(s), v, n) != 0)
            w->failures++;
        az_secpool_release(s);
    }
    return NULL;
}

START_TEST(test_threads)
{
    enum { T = 4 };
    pthread_t th[T];
    struct worker w[T];
    az_secpool *p = NULL;
    ck_assert_int_eq(az_secpool_new(&p, pool_flags), 0);
    for (unsigned i = 0; i < T; i++) {
        w[i] = (struct worker){p, i * 1000, 0};
        ck_assert_int_eq(pthread_create(&th[i], NULL, worker_run, &w[i]), 0);
    }
    for (unsigned i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(w[i].failures, 0);
    }
    az_secpool_free(p);
}
END_TEST

static TCase *mode_case(const char *name, void (*mode)(void))
{
    TCase *tc = tcase_create(name);
    tcase_add_checked_fixture(tc, mode, NULL);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_wiped_on_release);
    tcase_add_loop_test(tc, test_class_boundaries, 0, (int)(sizeof sizes / sizeof sizes[0]));
    tcase_add_test(tc, test_bad_args);
    tcase_add_test(tc, test_many);
    tcase_add_test(tc, test_limit);
    tcase_add_test(tc, test_threads);
    return tc;
}

static Suite *secmem_suite(void)
{
    Suite *s = suite_create("secmem");
    TCase *protect = mode_case("protect", protect_mode);
    /* Only a protecting pool traps a stray write. */
    tcase_add_test(protect, test_read_only);
    suite_add_tcase(s, protect);
    suite_add_tcase(s, mode_case("fast", fast_mode));
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(secmem_suite());
    int failed;
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

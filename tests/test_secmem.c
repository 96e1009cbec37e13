/*
 * The guarded-memory pool: slots, wiping, class boundaries, bounds, threads;
 * and its random generator: sizes, distribution, threads, fork.
 */
#include <check.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

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

/* ---- the generator ---- */

/*
 * Every request size around the stream's edges (a refill hands out 992
 * bytes; requests over 256 bytes are expanded from a key): the bytes land
 * where asked and nowhere else, and two draws differ.
 */
START_TEST(test_random_sizes)
{
    static const size_t lens[] = {1, 8, 16, 31, 32, 33, 255, 256, 257, 991, 992, 993, 5000};
    az_secpool *p = NULL;
    ck_assert_int_eq(az_secpool_new(&p, 0), 0);
    for (int round = 0; round < 3; round++)
        for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
            size_t n = lens[i];
            unsigned char a[5016], b[5016];
            memset(a, 0xAA, sizeof a);
            memset(b, 0xAA, sizeof b);
            az_secpool_random(p, a + 8, n);
            az_secpool_random(p, b + 8, n);
            for (size_t k = 0; k < 8; k++) {
                ck_assert_uint_eq(a[k], 0xAA);
                ck_assert_uint_eq(a[8 + n + k], 0xAA);
            }
            if (n >= 8)
                ck_assert(memcmp(a + 8, b + 8, n) != 0);
            if (n >= 16)
                ck_assert(!all_zero(a + 8, n));
        }
    {
        unsigned char untouched = 0xAA;
        az_secpool_random(p, NULL, 16); /* no-ops */
        az_secpool_random(p, &untouched, 0);
        ck_assert_uint_eq(untouched, 0xAA);
    }
    az_secpool_free(p);
}
END_TEST

/*
 * Several MiB in requests of 1 to 300 bytes, through thousands of refills
 * and at least one reseed: every byte value about equally often, and never
 * a run of 16 zero bytes (the stream wipes what it hands out, and handing
 * out wiped bytes is the bug this catches).
 */
START_TEST(test_random_distribution)
{
    enum { TOTAL = 5u << 20 };
    az_secpool *p = NULL;
    size_t count[256] = {0}, done = 0, zeros = 0, longest = 0, i = 0;
    unsigned char buf[300];
    double expect = TOTAL / 256.0;
    ck_assert_int_eq(az_secpool_new(&p, 0), 0);
    while (done < TOTAL) {
        size_t n = 1 + (i++ * 37) % sizeof buf;
        n = n < TOTAL - done ? n : TOTAL - done;
        az_secpool_random(p, buf, n);
        /* No ck_assert per byte: each one writes to Check's pipe. */
        for (size_t k = 0; k < n; k++) {
            count[buf[k]]++;
            zeros = buf[k] ? 0 : zeros + 1;
            longest = zeros > longest ? zeros : longest;
        }
        done += n;
    }
    ck_assert_uint_lt(longest, 16);
    /* 8 standard deviations: never fails by chance. */
    for (size_t v = 0; v < 256; v++) {
        double d = (double)count[v] - expect;
        ck_assert(d * d < 64 * expect);
    }
    az_secpool_free(p);
}
END_TEST

/* A pool-less request still gets random bytes (from randombytes_buf). */
START_TEST(test_random_no_pool)
{
    unsigned char a[32], b[32];
    az_secpool_random(NULL, a, sizeof a);
    az_secpool_random(NULL, b, sizeof b);
    ck_assert(memcmp(a, b, sizeof a) != 0);
}
END_TEST

#define DRAWS 2000

struct drawer {
    az_secpool *pool;
    unsigned char (*out)[16];
};

static void *drawer_run(void *arg)
{
    struct drawer *d = arg;
    for (size_t i = 0; i < DRAWS; i++)
        az_secpool_random(d->pool, d->out[i], sizeof d->out[i]);
    return NULL;
}

static int cmp16(const void *a, const void *b)
{
    return memcmp(a, b, 16);
}

/* Threads drawing at once never get the same bytes. */
START_TEST(test_random_threads)
{
    enum { T = 4 };
    static unsigned char out[T * DRAWS][16];
    pthread_t th[T];
    struct drawer d[T];
    az_secpool *p = NULL;
    ck_assert_int_eq(az_secpool_new(&p, 0), 0);
    for (unsigned i = 0; i < T; i++) {
        d[i] = (struct drawer){p, out + i * DRAWS};
        ck_assert_int_eq(pthread_create(&th[i], NULL, drawer_run, &d[i]), 0);
    }
    for (unsigned i = 0; i < T; i++)
        ck_assert_int_eq(pthread_join(th[i], NULL), 0);
    qsort(out, T * DRAWS, sizeof out[0], cmp16);
    for (size_t i = 1; i < T * DRAWS; i++)
        ck_assert(memcmp(out[i - 1], out[i], sizeof out[0]) != 0);
    az_secpool_free(p);
}
END_TEST

/* Draws n bytes (at most 300) in a child process and returns them through a pipe. */
static void child_draw(az_secpool *p, size_t n, unsigned char out[300])
{
    int fd[2], status = 0;
    pid_t pid;
    ck_assert_int_eq(pipe(fd), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        unsigned char v[300];
        az_secpool_random(p, v, n);
        _exit(write(fd[1], v, n) == (ssize_t)n ? 0 : 1);
    }
    close(fd[1]);
    ck_assert_int_eq(read(fd[0], out, n), (ssize_t)n);
    close(fd[0]);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/*
 * A forked child does not repeat its parent's stream: without the wiped
 * page it would draw exactly the bytes the parent draws next. Also for a
 * request expanded from a key.
 */
START_TEST(test_random_fork)
{
    static const size_t lens[] = {32, 300};
    az_secpool *p = NULL;
    ck_assert_int_eq(az_secpool_new(&p, 0), 0);
    for (size_t i = 0; i < 2; i++) {
        unsigned char warm[32], c1[300], c2[300], mine[300];
        size_t n = lens[i];
        az_secpool_random(p, warm, sizeof warm); /* the generator is seeded before the fork */
        child_draw(p, n, c1);
        child_draw(p, n, c2);
        az_secpool_random(p, mine, n);
        ck_assert(memcmp(c1, mine, n) != 0);
        ck_assert(memcmp(c2, mine, n) != 0);
        ck_assert(memcmp(c1, c2, n) != 0);
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

static TCase *random_case(void)
{
    TCase *tc = tcase_create("random");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_random_sizes);
    tcase_add_test(tc, test_random_distribution);
    tcase_add_test(tc, test_random_no_pool);
    tcase_add_test(tc, test_random_threads);
    tcase_add_test(tc, test_random_fork);
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
    suite_add_tcase(s, random_case());
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

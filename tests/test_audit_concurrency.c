/*
 * The audit log under concurrency: four threads append 10,000 records each
 * while a fifth renames the file and reopens it every few milliseconds.
 * Afterwards the rotated files, read in order, must verify as one gapless
 * chain of 40,000 records; each thread's records must appear in the order it
 * wrote them; and the callback sink must have seen exactly the bytes of the
 * files. Run for each flush policy.
 */
#include <check.h>
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "audit_private.h"
#include "internal.h"

#define THREADS 4
#define PER_THREAD 10000
#define MAX_FILES 4096

static char g_dir[256];


typedef struct shared {
    az_audit *a;
    char path[512];
    int done; /* workers finished; read and written under lock */
    pthread_mutex_t lock;
    int emit_failures;
    int reopen_failures;
    size_t rotations;
    char (*files)[520]; /* rotated files, oldest first */
    az_buf seen;        /* what the callback received (called under the log's lock) */
    size_t calls;
} shared;

typedef struct worker {
    shared *sh;
    int id;
} worker;

static int collect(const char *line, size_t len, void *ctx)
{
    shared *sh = ctx;
    sh->calls++;
    if (az_buf_append(&sh->seen, line, len) != 0)
        sh->emit_failures++;
    return 0;
}

static void *work(void *arg)
{
    worker *w = arg;
    char session[32], tool[32];
    az_audit_event ev;
    int failures = 0;
    snprintf(session, sizeof session, "thread-%d", w->id);
    for (int i = 0; i < PER_THREAD; i++) {
        memset(&ev, 0, sizeof ev);
        ev.kind = AZ_AUDIT_CHECK;
        ev.time_ns = (uint64_t)time(NULL) * 1000000000ull;
        ev.session = session;
        snprintf(tool, sizeof tool, "tool.%d", i % 7);
        ev.tool = tool;
        ev.decision = (i & 1) ? "allow" : "deny";
        ev.rule = "r";
        ev.check_seq = (uint64_t)i + 1;
        if (az_audit_emit(w->sh->a, &ev) != 0)
            failures++;
    }
    pthread_mutex_lock(&w->sh->lock);
    w->sh->emit_failures += failures;
    pthread_mutex_unlock(&w->sh->lock);
    return NULL;
}

static int workers_done(shared *sh)
{
    int done;
    pthread_mutex_lock(&sh->lock);
    done = sh->done;
    pthread_mutex_unlock(&sh->lock);
    return done;
}

/* Renames the live file away and reopens, every 2 ms, as logrotate would. */
static void *rotate(void *arg)
{
    shared *sh = arg;
    struct timespec ts = {0, 2000000};
    while (!workers_done(sh) && sh->rotations < MAX_FILES) {
        char *dst = sh->files[sh->rotations];
        nanosleep(&ts, NULL);
        snprintf(dst, sizeof sh->files[0], "%s.%04zu", sh->path, sh->rotations);
        if (rename(sh->path, dst) != 0 || az_audit_reopen(sh->a, NULL) != 0)
            sh->reopen_failures++;
        sh->rotations++;
    }
    return NULL;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *p = NULL;
    long n;
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    rewind(f);
    ck_assert_int_ge(n, 0);
    p = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(fread(p, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return p;
}

/* Checks each thread's records come in its own order, and returns the files' bytes. */
static void check_order(const char *const *paths, size_t n, az_buf *all)
{
    uint64_t next[THREADS] = {0};
    for (size_t f = 0; f < n; f++) {
        size_t len, i = 0;
        char *text = slurp(paths[f], &len);
        ck_assert_int_eq(az_buf_append(all, text, len), 0);
        while (i < len) {
            char *nl = memchr(text + i, '\n', len - i);
            char *s;
            int id;
            unsigned long long seq;
            ck_assert_ptr_nonnull(nl);
            *nl = '\0';
            /* The log's own records (start, checkpoints) belong to no thread. */
            if (!strstr(text + i, "\"event\":\"check\"")) {
                i = (size_t)(nl - text) + 1;
                continue;
            }
            s = strstr(text + i, "\"session\":\"thread-");
            ck_assert_ptr_nonnull(s);
            id = s[18] - '0';
            ck_assert(id >= 0 && id < THREADS);
            s = strstr(text + i, "\"check_seq\":");
            ck_assert_ptr_nonnull(s);
            seq = strtoull(s + 12, NULL, 10);
            ck_assert_uint_eq(seq, next[id] + 1);
            next[id] = seq;
            i = (size_t)(nl - text) + 1;
        }
        free(text);
    }
    for (int t = 0; t < THREADS; t++)
        ck_assert_uint_eq(next[t], PER_THREAD);
}

static void run(const char *name, agentauthz_audit_flush flush, size_t every)
{
    agentauthz_audit_options o = AGENTAUTHZ_AUDIT_OPTIONS_INIT;
    agentauthz_audit_report rep;
    agentauthz_error e;
    pthread_t th[THREADS], rot;
    worker w[THREADS];
    shared *sh = calloc(1, sizeof *sh);
    agentauthz_keys *keys = NULL;
    az_audit_writer wr = {NULL, "conc", NULL, NULL};
    az_audit_verifier pub = {NULL, NULL, NULL, 0};
    agentauthz_audit_result res;
    const char **paths;
    az_buf all = {NULL, 0, 0, 64u * 1024u * 1024u};
    size_t n;
    int rc;
    ck_assert_ptr_nonnull(sh);
    sh->files = calloc(MAX_FILES + 1, sizeof sh->files[0]);
    paths = calloc(MAX_FILES + 1, sizeof *paths);
    ck_assert(sh->files && paths);
    sh->seen.max = 64u * 1024u * 1024u;
    pthread_mutex_init(&sh->lock, NULL);
    snprintf(sh->path, sizeof sh->path, "%s/%s", g_dir, name);
    o.path = sh->path;
    o.flush = flush;
    o.flush_every = every;
    o.callback = collect;
    o.ctx = sh;
    ck_assert_int_eq(agentauthz_keys_generate(&keys, NULL), 0);
    wr.keys = keys;
    ck_assert_int_eq(az_audit_new(&sh->a, &o, &wr, &e), 0);
    ck_assert_int_eq(pthread_create(&rot, NULL, rotate, sh), 0);
    for (int t = 0; t < THREADS; t++) {
        w[t].sh = sh;
        w[t].id = t;
        ck_assert_int_eq(pthread_create(&th[t], NULL, work, &w[t]), 0);
    }
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    pthread_mutex_lock(&sh->lock);
    sh->done = 1;
    pthread_mutex_unlock(&sh->lock);
    pthread_join(rot, NULL);
    pub.pubkey = az_keys_public_key(keys);
    /* The checks, the start record and the checkpoints (every 1,000 and at each reopen). */
    ck_assert_uint_gt(az_audit_seq(sh->a), THREADS * PER_THREAD + THREADS * PER_THREAD / 1000);
    az_audit_free(sh->a);

    ck_assert_int_eq(sh->emit_failures, 0);
    ck_assert_int_eq(sh->reopen_failures, 0);
    ck_assert_uint_ge(sh->rotations, 3);
    n = sh->rotations;
    for (size_t i = 0; i < n; i++)
        paths[i] = sh->files[i];
    paths[n++] = sh->path;
    rc = az_audit_verify_key(az_keys_audit_key(keys), paths, n, &rep, &e);
    ck_assert_msg(rc == 0, "%s:%lu: %s", rep.path, rep.line, rep.reason);
    ck_assert_uint_eq(rep.records, rep.last_seq);
    /* The public key alone checks every file, up to the closing checkpoint. */
    rc = az_audit_verify_with(&pub, paths, n, &res, &e);
    ck_assert_msg(rc == 0, "%s:%lu: %s", res.report.path, res.report.line, res.report.reason);
    ck_assert_uint_eq(res.signed_seq, rep.last_seq);
    check_order(paths, n, &all);
    ck_assert_uint_eq(sh->calls, rep.records);
    ck_assert_uint_eq(sh->seen.len, all.len);
    ck_assert(memcmp(sh->seen.p, all.p, all.len) == 0);
    az_buf_free(&all);
    az_buf_free(&sh->seen);
    agentauthz_keys_free(keys);
    pthread_mutex_destroy(&sh->lock);
    free(sh->files);
    free(paths);
    free(sh);
}

START_TEST(test_rotate_flush_record)
{
    run("record.log", AGENTAUTHZ_AUDIT_FLUSH_RECORD, 0);
}
END_TEST

START_TEST(test_rotate_flush_none)
{
    run("none.log", AGENTAUTHZ_AUDIT_FLUSH_NONE, 0);
}
END_TEST

START_TEST(test_rotate_flush_every_n)
{
    run("every.log", AGENTAUTHZ_AUDIT_FLUSH_EVERY_N, 16);
}
END_TEST

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        char path[1024];
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        unlink(path);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

static Suite *audit_concurrency_suite(void)
{
    Suite *s = suite_create("audit_concurrency");
    TCase *tc = tcase_create("rotation");
    tcase_add_test(tc, test_rotate_flush_record);
    tcase_add_test(tc, test_rotate_flush_none);
    tcase_add_test(tc, test_rotate_flush_every_n);
    tcase_set_timeout(tc, 300);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    SRunner *sr;
    int failed;
    snprintf(g_dir, sizeof g_dir, "%s/test_audit_conc.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_dir) || sodium_init() < 0)
        return 1;
    sr = srunner_create(audit_concurrency_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    remove_dir(g_dir);
    return failed ? 1 : 0;
}

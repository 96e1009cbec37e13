/*
 * Micro-benchmark of the leak scanner (not a test): scan and scrub
 * throughput over a 64 MiB random buffer with no hits, build time and
 * memory, for sets of 10, 1,000 and 10,000 random secrets.
 *
 * Build: gcc -std=c11 -D_GNU_SOURCE -O2 -Iinclude -Ilib lib/leak.c lib/buf.c \
 *        lib/error.c bench/leak_bench.c $(pkg-config --cflags --libs libsodium) \
 *        -o /tmp/leak_bench
 * Run:   /tmp/leak_bench [secret length, default 32]
 *
 * Times are CPU time of the thread (CLOCK_THREAD_CPUTIME_ID), best of
 * several runs, so that other processes on a shared machine count as
 * little as possible.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <sodium.h>

#include "internal.h"
#include "leak_private.h"

#define BUF_BYTES (64u * 1024u * 1024u)
#define RUNS 5

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct secrets {
    az_leak_secret *s;
    unsigned char *bytes;
    char (*names)[24];
} secrets;

static int secrets_make(secrets *sc, size_t n, size_t len)
{
    sc->s = calloc(n, sizeof *sc->s);
    sc->bytes = malloc(n * len);
    sc->names = malloc(n * sizeof *sc->names);
    if (!sc->s || !sc->bytes || !sc->names)
        return -1;
    randombytes_buf(sc->bytes, n * len);
    for (size_t i = 0; i < n; i++) {
        snprintf(sc->names[i], sizeof sc->names[i], "s%zu", i);
        sc->s[i] = (az_leak_secret){
            .id = (uint32_t)i, .name = sc->names[i], .bytes = sc->bytes + i * len, .len = len};
    }
    return 0;
}

static void secrets_free(secrets *sc)
{
    free(sc->s);
    free(sc->bytes);
    free(sc->names);
}

static double best_scan(const az_leak_set *set, const unsigned char *buf, int *hits)
{
    double best = 1e9;
    for (int r = 0; r < RUNS; r++) {
        double t0 = now();
        *hits += az_leak_scan(set, buf, BUF_BYTES, NULL);
        double dt = now() - t0;
        if (dt < best)
            best = dt;
    }
    return best;
}

static double best_scrub(const az_leak_set *set, const unsigned char *buf, int *errors)
{
    double best = 1e9;
    az_buf out = {0};
    out.max = BUF_BYTES;
    /* The output buffer is reused, as a caller would, so page faults do not count. */
    for (int r = 0; r < 3; r++) {
        double t0 = now(), dt;
        out.len = 0;
        *errors += az_leak_scrub(set, buf, BUF_BYTES, &out) != 0 || out.len != BUF_BYTES;
        dt = now() - t0;
        if (dt < best)
            best = dt;
    }
    az_buf_free(&out);
    return best;
}

static int bench_one(size_t n, size_t len, const unsigned char *buf)
{
    secrets sc;
    az_leak_set *set = NULL;
    double t0, build, scan, scrub;
    int hits = 0, errors = 0;
    if (secrets_make(&sc, n, len) != 0)
        return 1;
    t0 = now();
    if (az_leak_set_build(sc.s, n, &set) != 0) {
        secrets_free(&sc);
        return 1;
    }
    build = now() - t0;
    scan = best_scan(set, buf, &hits);
    scrub = best_scrub(set, buf, &errors);
    printf("%6zu secrets x %3zu B: %7zu patterns, build %8.2f ms, memory %8.2f MiB, "
           "scan %7.0f MB/s, scrub %6.0f MB/s%s\n",
           n, len, az_leak_set_patterns(set), build * 1e3,
           (double)az_leak_set_memory(set) / (1024.0 * 1024.0), BUF_BYTES / scan / 1e6,
           BUF_BYTES / scrub / 1e6, hits || errors ? "  (UNEXPECTED HITS)" : "");
    az_leak_set_free(set);
    secrets_free(&sc);
    return hits || errors;
}

int main(int argc, char **argv)
{
    static const size_t counts[] = {10, 1000, 10000};
    size_t len = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 32;
    unsigned char *buf;
    int rc = 0;
    if (sodium_init() < 0)
        return 1;
    buf = malloc(BUF_BYTES);
    if (!buf)
        return 1;
    randombytes_buf(buf, BUF_BYTES);
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++)
        rc |= bench_one(counts[i], len, buf);
    free(buf);
    return rc;
}

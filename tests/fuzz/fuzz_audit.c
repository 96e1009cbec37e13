/*
 * Fuzz harness for audit log verification (agentauthz_audit_verify) with
 * the fixed audit key of fuzz_common.h (all zeros; the seeds in
 * tests/fuzz/corpus/audit are real logs written with it).
 *
 * The input is split at form feeds (0x0C, which a record never holds raw)
 * into up to four files of a rotated log, oldest first, each handed to the
 * verifier as a memory file (/proc/self/fd/N of a memfd).
 *
 * Properties, any failure aborts:
 *  - the result is 0 (intact) or AGENTAUTHZ_ETAMPER, never another code
 *    for bytes that can be read;
 *  - intact: problem "intact" and one record per line in all;
 *  - broken: a problem other than "intact", a reason, the index of one of
 *    the files, and no more records counted than there are lines;
 *  - an intact log verifies the same as one file (rotation keeps the
 *    chain), and changing any one byte of it is detected.
 */
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_common.h"

#define MAX_FILES 4
#define MAX_SIZE (256u * 1024u)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct logset {
    int fd[MAX_FILES];
    char path[MAX_FILES][64];
    const char *paths[MAX_FILES];
    size_t n;
} logset;

static void add_file(logset *l, const uint8_t *p, size_t n)
{
    int fd = memfd_create("audit", MFD_CLOEXEC);
    if (fd < 0)
        fz_fail("fuzz_audit", "memfd_create failed");
    if (n && write(fd, p, n) != (ssize_t)n)
        fz_fail("fuzz_audit", "cannot write a memory file");
    l->fd[l->n] = fd;
    snprintf(l->path[l->n], sizeof l->path[0], "/proc/self/fd/%d", fd);
    l->paths[l->n] = l->path[l->n];
    l->n++;
}

static void close_files(logset *l)
{
    for (size_t i = 0; i < l->n; i++)
        close(l->fd[i]);
    l->n = 0;
}

/* Splits data at form feeds into at most MAX_FILES files (the last keeps the rest). */
static void split(logset *l, const uint8_t *data, size_t size)
{
    size_t start = 0;
    for (size_t i = 0; i < size && l->n + 1 < MAX_FILES; i++)
        if (data[i] == '\f') {
            add_file(l, data + start, i - start);
            start = i + 1;
        }
    add_file(l, data + start, size - start);
}

static size_t count_lines(const uint8_t *p, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += p[i] == '\n';
    return k;
}

static int verify(const logset *l, agentauthz_audit_report *rep)
{
    agentauthz_error err;
    int rc;
    memset(&err, 0, sizeof err);
    rc = agentauthz_audit_verify(fz_keys(), l->paths, l->n, rep, &err);
    FZ_REQUIRE(rc == 0 || rc == AGENTAUTHZ_ETAMPER);
    if (rc) {
        fz_check_error(rc, &err);
        FZ_REQUIRE(rep->problem != AGENTAUTHZ_AUDIT_INTACT);
        FZ_REQUIRE(rep->reason[0] != '\0' && memchr(rep->reason, 0, sizeof rep->reason));
        FZ_REQUIRE(rep->file < l->n);
        FZ_REQUIRE(strcmp(agentauthz_audit_problem_name(rep->problem), "unknown") != 0);
    } else {
        FZ_REQUIRE(rep->problem == AGENTAUTHZ_AUDIT_INTACT);
    }
    return rc;
}

/* The whole log, form feeds removed, as one file. */
static uint8_t *joined(const uint8_t *data, size_t size, size_t *n)
{
    uint8_t *out = malloc(size + 1);
    size_t k = 0;
    FZ_REQUIRE(out != NULL);
    for (size_t i = 0; i < size; i++)
        if (data[i] != '\f')
            out[k++] = data[i];
    *n = k;
    return out;
}

/* Changes one byte of an intact log, where the input's hash says, and expects a refusal. */
static void tamper(const uint8_t *one, size_t n)
{
    uint8_t *copy, x;
    uint64_t h = fz_fnv(one, n, 1469598103934665603u);
    agentauthz_audit_report rep;
    logset l;
    size_t at;
    if (n == 0)
        return;
    at = (size_t)(h % n);
    x = (uint8_t)(h >> 32);
    if (x == 0)
        x = 0x20; /* any change will do: a case flip too */
    copy = malloc(n);
    FZ_REQUIRE(copy != NULL);
    memcpy(copy, one, n);
    copy[at] ^= x;
    memset(&l, 0, sizeof l);
    add_file(&l, copy, n);
    if (verify(&l, &rep) == 0) {
        fprintf(stderr, "fuzz_audit: byte %zu changed from 0x%02x to 0x%02x, still intact\n", at,
                one[at], copy[at]);
        fz_fail("fuzz_audit", "a changed log verifies");
    }
    close_files(&l);
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    agentauthz_audit_report rep, rep1;
    logset l;
    uint8_t *one;
    size_t n;
    int rc;
    if (size > MAX_SIZE)
        return 0;
    memset(&l, 0, sizeof l);
    split(&l, data, size);
    rc = verify(&l, &rep);
    close_files(&l);
    if (rc == 0)
        FZ_REQUIRE(rep.records == count_lines(data, size));
    else
        FZ_REQUIRE(rep.records <= count_lines(data, size));
    if (rc != 0)
        return 0;
    one = joined(data, size, &n);
    add_file(&l, one, n);
    FZ_REQUIRE(verify(&l, &rep1) == 0 && rep1.records == rep.records &&
               rep1.last_seq == rep.last_seq);
    close_files(&l);
    tamper(one, n);
    free(one);
    return 0;
}

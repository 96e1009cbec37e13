/*
 * Fuzz harness for the tests files of `agentauthz test` (cli/testfile.c and
 * the YAML tree it reads, cli/ytree.c), run against a fixed policy.
 *
 * The input is a tests file, handed to tfile_load as a memory file
 * (/proc/self/fd/N of a memfd). When it loads, each test runs as the
 * command runs it: one session per test, its steps checked in order.
 *
 * Properties, any failure aborts:
 *  - a refused file gives -1 with an error code, a message and a position
 *    inside the file (line and column 0 only for the document as a whole);
 *  - a loaded file has at least one test, each with a name, an identity, a
 *    task and at least one step; each step is a clock move, or has a tool
 *    and an expected effect of allow, deny or ask;
 *  - every decision is allow, deny or ask with a rule, a failed check a
 *    deny, and an approved step is not asked again;
 *  - loading and running the same file twice gives the same outcome.
 */
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_common.h"

#include "testfile.h"

#define MAX_FILE (64u * 1024u)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char policy[] =
    "agentauthz: 1\n"
    "identities:\n"
    "  - { match: \"spiffe://corp.example/agents/support/*\", roles: [support] }\n"
    "tools:\n"
    "  read_file: { produces: [internal] }\n"
    "  send_email: { sink: true }\n"
    "tasks:\n"
    "  triage-ticket: { roles: [support], max_ttl: 30m, limits: { calls: 10 } }\n"
    "  refund: { params: { max: number, who: string } }\n"
    "  careful: { on_deny: revoke, otherwise: ask }\n"
    "rules:\n"
    "  - { id: read-kb, effect: allow, tools: [read_file], where: { resource: { glob: \"/kb/**\" } } }\n"
    "  - { id: dotenv, effect: deny, tools: [\"*\"], where: { resource: { glob: \"**/.env*\" } } }\n"
    "  - id: mail\n"
    "    effect: allow\n"
    "    tools: [send_email]\n"
    "    where: { destination: { each: { domain: [corp.example] } } }\n"
    "  - { id: big, effect: ask, tools: [send_money], where: { args.amount: { gt: 1000 } } }\n"
    "  - id: refund\n"
    "    effect: allow\n"
    "    tasks: [refund]\n"
    "    tools: [refund]\n"
    "    where: { args.amount: { lte: { param: max } }, args.to: { eq: { param: who } } }\n"
    "  - { id: labels, effect: deny, tools: [\"*\"], where: { labels: { has: secret } } }\n";

/*
 * The last line an error may name: the file's lines, and one more when the
 * text does not end with a line break (libyaml then marks the end of input
 * on the next line, as tests/fuzz/fuzz_yaml.c also allows).
 */
static size_t last_line(const uint8_t *p, size_t n)
{
    size_t k = 1;
    for (size_t i = 0; i < n; i++)
        k += p[i] == '\n' || (p[i] == '\r' && (i + 1 == n || p[i + 1] != '\n'));
    return k + (n > 0 && p[n - 1] != '\n' && p[n - 1] != '\r');
}

static void check_loaded(const tfile *tf)
{
    FZ_REQUIRE(tf->ncases >= 1);
    for (size_t i = 0; i < tf->ncases; i++) {
        const tcase *c = &tf->cases[i];
        FZ_REQUIRE(c->name && c->identity && c->task && c->nsteps >= 1);
        for (size_t k = 0; k < c->nsteps; k++) {
            const tstep *s = &c->steps[k];
            FZ_REQUIRE(s->at != NULL);
            if (s->is_advance)
                continue;
            FZ_REQUIRE(s->tool != NULL);
            FZ_REQUIRE(s->expect == AGENTAUTHZ_ALLOW || s->expect == AGENTAUTHZ_DENY ||
                       s->expect == AGENTAUTHZ_ASK);
            FZ_REQUIRE(!s->args || agentauthz_value_type(s->args) == AGENTAUTHZ_MAP);
        }
    }
}

/* Runs every test; returns a digest of every outcome. */
static uint64_t run_tests(const tfile *tf)
{
    fz_clock clock = {0};
    fz_audit audit;
    agentauthz_engine *e;
    agentauthz_action *a = NULL;
    uint64_t h = 1469598103934665603u;
    memset(&audit, 0, sizeof audit);
    e = fz_engine(&clock, &audit);
    if (agentauthz_engine_load_string(e, "p.yaml", policy, sizeof policy - 1, NULL, NULL) != 0 ||
        agentauthz_action_new(&a) != 0)
        fz_fail("fuzz_testfile", "cannot set up");
    for (size_t i = 0; i < tf->ncases; i++) {
        const tcase *c = &tf->cases[i];
        agentauthz_session_options so = AGENTAUTHZ_SESSION_OPTIONS_INIT;
        agentauthz_session *s = NULL;
        agentauthz_error err;
        int rc;
        memset(&err, 0, sizeof err);
        so.ttl_ns = c->ttl_ns;
        so.params = c->params;
        rc = agentauthz_session_open(e, c->identity, c->task, &so, &s, &err);
        h = fz_fnv(&rc, sizeof rc, h);
        if (rc) {
            fz_check_error(rc, &err);
            continue;
        }
        for (size_t k = 0; k < c->nsteps; k++) {
            const tstep *st = &c->steps[k];
            agentauthz_decision d;
            if (st->is_advance) {
                if (st->advance_ns <= UINT64_MAX / 4 - clock.mono)
                    clock.mono += st->advance_ns;
                continue;
            }
            rc = tfile_step_action(st, a);
            if (rc == 0 && st->approve)
                rc = agentauthz_approve(s, a, (agentauthz_approval)st->approve);
            h = fz_fnv(&rc, sizeof rc, h);
            if (rc)
                continue;
            rc = agentauthz_check(s, a, &d);
            fz_check_decision(rc, &d);
            if (st->approve)
                FZ_REQUIRE(d.effect != AGENTAUTHZ_ASK);
            h = fz_fnv(&d.effect, sizeof d.effect, h);
            h = fz_fnv(d.rule, strlen(d.rule), h);
        }
        agentauthz_session_close(s);
    }
    agentauthz_action_free(a);
    agentauthz_engine_free(e);
    return h;
}

/* Loads (and runs, when it loads) the file at path; a digest of the outcome. */
static uint64_t load_and_run(const char *path, const uint8_t *data, size_t size)
{
    tfile tf;
    agentauthz_error err;
    uint64_t h;
    if (tfile_load(path, &tf, &err) != 0) {
        FZ_REQUIRE(err.code < 0 && err.message[0] != '\0');
        FZ_REQUIRE(memchr(err.message, 0, sizeof err.message) != NULL);
        FZ_REQUIRE(err.line <= last_line(data, size) && (err.line == 0) == (err.column == 0));
        h = fz_fnv(err.message, strlen(err.message), err.line * 1000003u + err.column);
    } else {
        check_loaded(&tf);
        h = run_tests(&tf);
    }
    tfile_free(&tf);
    return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd;
    uint64_t first;
    if (size > MAX_FILE)
        return 0;
    fd = memfd_create("tests.yaml", MFD_CLOEXEC);
    if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size))
        fz_fail("fuzz_testfile", "cannot write a memory file");
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    first = load_and_run(path, data, size);
    FZ_REQUIRE(load_and_run(path, data, size) == first);
    close(fd);
    return 0;
}

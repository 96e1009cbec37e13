/*
 * agentauthz test POLICY... TESTS.yaml...: policy unit tests. Each test runs
 * its steps in one session, on a clock that moves only by "advance" steps.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "testfile.h"

typedef struct trun {
    agentauthz_engine *e;
    agentauthz_action *action;
    uint64_t clock; /* nanoseconds; read by cli_manual_clock */
    size_t passed, failed;
} trun;

void cli_help_test(FILE *out)
{
    fputs("Usage: agentauthz test [--keys FILE [--audit LOG]] POLICY... TESTS.yaml...\n"
          "\n"
          "Runs policy unit tests. An argument ending in .yaml or .yml whose top level\n"
          "is a map with the key 'tests' is a tests file; every other argument is part\n"
          "of the policy (files or directories of *.yaml/*.yml).\n"
          "\n"
          "tests:\n"
          "  - name: support reads the knowledge base but cannot mail outside\n"
          "    identity: spiffe://corp.example/agents/support/7\n"
          "    task: triage-ticket           # also: ttl: 10m, params: {KEY: VALUE}\n"
          "    steps:\n"
          "      - { tool: read_file, resource: /kb/howto.md, expect: allow }\n"
          "      - { tool: send_email, args: { to: [eve@evil.example] }, expect: deny, rule: "
          "default }\n"
          "      - { advance: 31m }\n"
          "      - { tool: read_file, resource: /kb/howto.md, expect: deny }\n"
          "\n"
          "A step has tool and expect (allow, deny or ask), and may have resource,\n"
          "destination (a string or a list), args, labels, payload, rule (the rule\n"
          "expected to decide) and approve (true or session: approve the action before\n"
          "checking it). { advance: DURATION } moves the clock (90s, 31m, 2h, 1d, or\n"
          "plain seconds). { observe: { tool: T, output: VALUE, labels: [L, ...] } }\n"
          "records what tool T returned, for from and not_from (a FAIL when it cannot\n"
          "be recorded whole). All steps of a test share one session; when it may not be\n"
          "opened, every action is a deny with rule \"session\".\n"
          "\n"
          "Prints a FAIL line for each failing step, then 'N passed, N failed'.\n"
          "\n",
          out);
    cli_help_engine_opts(out);
    fputs("Exit status: 0 all passed, 1 a test failed, 2 bad usage, a policy that\n"
          "does not load, an invalid tests file, or keys or an audit log that cannot\n"
          "be used.\n",
          out);
}

static void print_fail(const tcase *c, size_t step, const tstep *s, const agentauthz_decision *d)
{
    printf("FAIL %s: step %zu: expected %s", c->name, step, agentauthz_effect_name(s->expect));
    if (s->rule)
        printf(" (rule %s)", s->rule);
    printf(", got %s (rule %s)\n", agentauthz_effect_name(d->effect), d->rule);
}

/*
 * Decides one action step. Returns -1, after printing why, when the action
 * could not even be built or approved.
 */
static int run_action(trun *t, agentauthz_session *s, const char *refused, const tstep *st,
                      agentauthz_decision *d, const tcase *c, size_t k)
{
    int rc;
    if (!s) {
        cli_session_deny(d, refused);
        return 0;
    }
    rc = tfile_step_action(st, t->action);
    if (rc == 0 && st->approve)
        rc = agentauthz_approve(s, t->action, (agentauthz_approval)st->approve);
    if (rc != 0) {
        printf("FAIL %s: step %zu: %s\n", c->name, k, agentauthz_strerror(rc));
        return -1;
    }
    /* A negative return leaves a deny in d, which the expectation judges. */
    (void)!agentauthz_check(s, t->action, d);
    return 0;
}

/*
 * Records a tool's output for the session (observe step). Returns -1, after
 * printing why, when it could not be recorded whole.
 */
static int run_observe(trun *t, agentauthz_session *s, const tstep *st, const tcase *c,
                       size_t k)
{
    const char *labels[64];
    size_t n = st->obs_labels ? st->obs_labels->n : 0;
    agentauthz_error err;
    int rc;
    if (!s)
        return 0; /* a refused session: its every action is denied anyway */
    if (n > 64) {
        printf("FAIL %s: step %zu: observe: more than 64 labels\n", c->name, k);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        labels[i] = st->obs_labels->items[i]->str;
    agentauthz_action_reset(t->action);
    memset(&err, 0, sizeof err);
    rc = agentauthz_action_set_tool(t->action, st->obs_tool);
    if (rc == 0)
        rc = agentauthz_session_observe_value(s, t->action, st->output, labels, n, &err);
    if (rc == 0)
        return 0;
    printf("FAIL %s: step %zu: observe: %s\n", c->name, k,
           err.message[0] ? err.message : agentauthz_strerror(rc));
    return -1;
}

/* Runs every step; returns 1 when all of them met their expectation. */
static int run_steps(trun *t, const tcase *c, agentauthz_session *s, const char *refused)
{
    int ok = 1;
    for (size_t i = 0; i < c->nsteps; i++) {
        const tstep *st = &c->steps[i];
        agentauthz_decision d;
        if (st->is_advance) {
            if (cli_clock_advance(&t->clock, st->advance_ns) != 0) {
                printf("FAIL %s: step %zu: the clock would overflow\n", c->name, i + 1);
                return 0;
            }
            continue;
        }
        if (st->is_observe) {
            if (run_observe(t, s, st, c, i + 1) != 0)
                ok = 0;
            continue;
        }
        if (run_action(t, s, refused, st, &d, c, i + 1) != 0) {
            ok = 0;
            continue;
        }
        if (d.effect != st->expect || (st->rule && strcmp(st->rule, d.rule) != 0)) {
            print_fail(c, i + 1, st, &d);
            ok = 0;
        }
    }
    return ok;
}

/* Runs one test in its own session. Returns CLI_OK or CLI_USAGE. */
static int run_case(trun *t, const tcase *c)
{
    agentauthz_session_options so = AGENTAUTHZ_SESSION_OPTIONS_INIT;
    agentauthz_session *s = NULL;
    agentauthz_error err;
    const char *refused = NULL;
    int rc;

    memset(&err, 0, sizeof err);
    so.ttl_ns = c->ttl_ns;
    so.params = c->params;
    rc = agentauthz_session_open(t->e, c->identity, c->task, &so, &s, &err);
    if (rc != 0 && !cli_open_refused(rc))
        return cli_fatal("test '%s': %s", c->name,
                         err.message[0] ? err.message : agentauthz_strerror(rc));
    if (rc != 0)
        refused = err.message[0] ? err.message : agentauthz_strerror(rc);
    if (run_steps(t, c, s, refused))
        t->passed++;
    else
        t->failed++;
    agentauthz_session_close(s);
    return CLI_OK;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* A tests file: a .yaml/.yml file whose top-level map has "tests". */
static int is_tests_file(const char *path)
{
    char *text = NULL;
    size_t len = 0;
    int yes;
    if (!ends_with(path, ".yaml") && !ends_with(path, ".yml"))
        return 0;
    if (cli_read_file(path, &text, &len) != 0)
        return 0; /* The policy loader will say why it cannot be read. */
    yes = ytree_has_top_key(text, len, "tests");
    free(text);
    return yes;
}

typedef struct targs {
    const char **policy, **tests;
    size_t npolicy, ntests;
    tfile *files;
} targs;

static int split_args(const cli_common *c, targs *ta)
{
    int rc = CLI_OK;
    for (size_t i = 0; i < c->nargs && rc == CLI_OK; i++) {
        if (is_tests_file(c->args[i]))
            rc = cli_strv_push(&ta->tests, &ta->ntests, c->args[i], "tests files");
        else
            rc = cli_strv_push(&ta->policy, &ta->npolicy, c->args[i], "policy paths");
    }
    if (rc == CLI_OK && ta->npolicy == 0)
        rc = cli_usage("test: missing POLICY");
    if (rc == CLI_OK && ta->ntests == 0)
        rc = cli_usage("test: missing TESTS.yaml (a file with a top-level 'tests' key)");
    return rc;
}

/* Loads every tests file before running any, so a typo stops the run early. */
static int load_tests(targs *ta)
{
    ta->files = calloc(ta->ntests, sizeof *ta->files);
    if (!ta->files)
        return cli_fatal("%s", agentauthz_strerror(AGENTAUTHZ_ENOMEM));
    for (size_t i = 0; i < ta->ntests; i++) {
        agentauthz_error err;
        if (tfile_load(ta->tests[i], &ta->files[i], &err) != 0) {
            cli_print_diag(stderr, &err, "error");
            return CLI_USAGE;
        }
    }
    return CLI_OK;
}

static int run_all(targs *ta, cli_common *common)
{
    trun t;
    cli_diag_count count = {0, 0};
    int code = 0, rc = CLI_USAGE;

    memset(&t, 0, sizeof t);
    if (agentauthz_action_new(&t.action) != 0)
        return cli_fatal("%s", agentauthz_strerror(AGENTAUTHZ_ENOMEM));
    if (cli_engine_load(&t.e, common, ta->policy, ta->npolicy, cli_manual_clock, &t.clock, &count,
                        &code) != 0)
        goto out;
    rc = CLI_OK;
    for (size_t i = 0; i < ta->ntests && rc == CLI_OK; i++)
        for (size_t j = 0; j < ta->files[i].ncases && rc == CLI_OK; j++)
            rc = run_case(&t, &ta->files[i].cases[j]);
    if (rc == CLI_OK) {
        printf("%zu passed, %zu failed\n", t.passed, t.failed);
        rc = t.failed ? CLI_FAIL : CLI_OK;
    }
out:
    agentauthz_engine_free(t.e);
    agentauthz_action_free(t.action);
    return rc;
}

static void free_targs(targs *ta)
{
    for (size_t i = 0; ta->files && i < ta->ntests; i++)
        tfile_free(&ta->files[i]);
    free(ta->files);
    free(ta->policy);
    free(ta->tests);
}

int cli_cmd_test(int argc, char **argv)
{
    cli_common common = CLI_COMMON_INIT(1);
    targs ta;
    int rc = cli_parse_options(argc, argv, NULL, 0, NULL, &common, cli_help_test);
    if (rc != CLI_OK)
        return rc == CLI_HELP_SHOWN ? CLI_OK : rc;
    memset(&ta, 0, sizeof ta);
    rc = split_args(&common, &ta);
    if (rc == CLI_OK)
        rc = load_tests(&ta);
    if (rc == CLI_OK)
        rc = run_all(&ta, &common);
    free_targs(&ta);
    cli_common_free(&common);
    return rc;
}

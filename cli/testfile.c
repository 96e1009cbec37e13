/*
 * Tests files: a map with one key, "tests", a list of tests, each with a
 * name, an identity, a task, optional ttl and params, and steps. As in
 * the policy language, anything not described is an error, so that a
 * misspelt "expect" never makes a test pass by checking nothing.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "testfile.h"

typedef int (*step_fn)(tstep *s, const ynode *v, agentauthz_error *err);
typedef int (*case_fn)(tcase *c, const ynode *v, agentauthz_error *err);

/* A string field: a scalar that is not null and holds no NUL byte. */
static int get_text(const ynode *v, const char **out, const char *what, agentauthz_error *err)
{
    if (v->kind != YN_SCALAR || ytree_is_null(v))
        return ytree_error(err, v, "'%s' must be a string", what);
    if (strlen(v->str) != v->len)
        return ytree_error(err, v, "'%s' contains a NUL byte", what);
    *out = v->str;
    return 0;
}

static int get_duration(const ynode *v, uint64_t *ns, const char *what, agentauthz_error *err)
{
    if (v->kind != YN_SCALAR || !v->plain || cli_parse_duration(v->str, v->len, ns) != 0)
        return ytree_error(err, v,
                           "'%s' must be a duration: an integer followed by s, m, h or d "
                           "(90s, 31m), or plain seconds",
                           what);
    return 0;
}

static int get_texts(const ynode *v, const char *what, agentauthz_error *err)
{
    const char *s = NULL;
    if (v->kind != YN_SEQ)
        return ytree_error(err, v, "'%s' must be a list of strings", what);
    for (size_t i = 0; i < v->n; i++)
        if (get_text(v->items[i], &s, what, err) != 0)
            return -1;
    return 0;
}

static int st_tool(tstep *s, const ynode *v, agentauthz_error *err)
{
    return get_text(v, &s->tool, "tool", err);
}

static int st_resource(tstep *s, const ynode *v, agentauthz_error *err)
{
    return get_text(v, &s->resource, "resource", err);
}

static int st_destination(tstep *s, const ynode *v, agentauthz_error *err)
{
    const char *text = NULL;
    s->destination = v;
    if (v->kind == YN_SEQ)
        return get_texts(v, "destination", err);
    return get_text(v, &text, "destination", err);
}

static int st_labels(tstep *s, const ynode *v, agentauthz_error *err)
{
    s->labels = v;
    return get_texts(v, "labels", err);
}

static int st_args(tstep *s, const ynode *v, agentauthz_error *err)
{
    if (v->kind != YN_MAP)
        return ytree_error(err, v, "'args' must be a map");
    return ytree_to_value(v, &s->args, err);
}

static int st_payload(tstep *s, const ynode *v, agentauthz_error *err)
{
    if (v->kind != YN_SCALAR)
        return ytree_error(err, v, "'payload' must be a string");
    s->payload = v->str;
    s->payload_len = v->len;
    return 0;
}

static int st_approve(tstep *s, const ynode *v, agentauthz_error *err)
{
    if (v->kind == YN_SCALAR && v->plain && strcmp(v->str, "true") == 0)
        s->approve = AGENTAUTHZ_APPROVE_ONCE;
    else if (v->kind == YN_SCALAR && v->plain && strcmp(v->str, "false") == 0)
        s->approve = 0;
    else if (v->kind == YN_SCALAR && strcmp(v->str, "session") == 0)
        s->approve = AGENTAUTHZ_APPROVE_SESSION;
    else
        return ytree_error(err, v, "'approve' must be true, false or session");
    return 0;
}

static int st_expect(tstep *s, const ynode *v, agentauthz_error *err)
{
    static const agentauthz_effect effects[] = {AGENTAUTHZ_ALLOW, AGENTAUTHZ_DENY, AGENTAUTHZ_ASK};
    for (size_t i = 0; v->kind == YN_SCALAR && i < 3; i++) {
        if (strcmp(v->str, agentauthz_effect_name(effects[i])) == 0) {
            s->expect = effects[i];
            return 0;
        }
    }
    return ytree_error(err, v, "'expect' must be allow, deny or ask");
}

static int st_rule(tstep *s, const ynode *v, agentauthz_error *err)
{
    return get_text(v, &s->rule, "rule", err);
}

/* observe: { tool: TOOL, output: VALUE, labels: [LABEL, ...] } */
static int st_observe(tstep *s, const ynode *v, agentauthz_error *err)
{
    const ynode *output = NULL;
    s->is_observe = 1;
    if (v->kind != YN_MAP)
        return ytree_error(err, v, "'observe' must be a map of tool, output and labels");
    for (size_t i = 0; i + 1 < v->n; i += 2) {
        const ynode *k = v->items[i], *x = v->items[i + 1];
        const char *key = k->kind == YN_SCALAR ? k->str : "?";
        int rc;
        if (strcmp(key, "tool") == 0)
            rc = get_text(x, &s->obs_tool, "tool", err);
        else if (strcmp(key, "labels") == 0)
            rc = get_texts(x, "labels", err);
        else if (strcmp(key, "output") == 0)
            rc = 0;
        else
            return ytree_error(err, k,
                               "unknown key '%.64s' in observe (expected tool, output or "
                               "labels)",
                               key);
        if (rc != 0)
            return -1;
        if (strcmp(key, "labels") == 0)
            s->obs_labels = x;
        if (strcmp(key, "output") == 0)
            output = x;
    }
    if (!s->obs_tool || !output)
        return ytree_error(err, v, "'observe' needs 'tool' and 'output'");
    return ytree_to_value(output, &s->output, err);
}

static int st_advance(tstep *s, const ynode *v, agentauthz_error *err)
{
    s->is_advance = 1;
    return get_duration(v, &s->advance_ns, "advance", err);
}

static const struct {
    const char *key;
    step_fn fn;
} step_fields[] = {
    {"tool", st_tool},       {"resource", st_resource}, {"destination", st_destination},
    {"args", st_args},       {"labels", st_labels},     {"payload", st_payload},
    {"approve", st_approve}, {"expect", st_expect},     {"rule", st_rule},
    {"advance", st_advance}, {"observe", st_observe},
};

#define NSTEP_FIELDS (sizeof step_fields / sizeof step_fields[0])

static size_t step_field(const ynode *k)
{
    for (size_t i = 0; k->kind == YN_SCALAR && i < NSTEP_FIELDS; i++)
        if (strcmp(step_fields[i].key, k->str) == 0)
            return i;
    return NSTEP_FIELDS;
}

/* What each kind of step requires, once its keys are read. */
static int check_step(const ynode *n, const tstep *s, size_t nkeys, int has_expect,
                      agentauthz_error *err)
{
    if (s->is_advance && nkeys != 1)
        return ytree_error(err, n, "an advance step takes no other keys");
    if (s->is_observe && nkeys != 1)
        return ytree_error(err, n, "an observe step takes no other keys");
    if (s->is_advance || s->is_observe)
        return 0;
    if (!s->tool)
        return ytree_error(err, n, "a step needs 'tool' (or 'advance')");
    if (!has_expect)
        return ytree_error(err, n, "a step needs 'expect' (allow, deny or ask)");
    return 0;
}

static int parse_step(const ynode *n, tstep *s, agentauthz_error *err)
{
    int has_expect = 0;
    s->at = n;
    if (n->kind != YN_MAP)
        return ytree_error(err, n, "a step must be a map");
    for (size_t i = 0; i + 1 < n->n; i += 2) {
        size_t f = step_field(n->items[i]);
        if (f == NSTEP_FIELDS)
            return ytree_error(err, n->items[i],
                               "unknown key '%.64s' in a step (expected tool, resource, "
                               "destination, args, labels, payload, approve, expect, rule, "
                               "observe or advance)",
                               n->items[i]->kind == YN_SCALAR ? n->items[i]->str : "?");
        if (step_fields[f].fn(s, n->items[i + 1], err) != 0)
            return -1;
        has_expect |= step_fields[f].fn == st_expect;
    }
    return check_step(n, s, n->n / 2, has_expect, err);
}

static int tc_name(tcase *c, const ynode *v, agentauthz_error *err)
{
    return get_text(v, &c->name, "name", err);
}

static int tc_identity(tcase *c, const ynode *v, agentauthz_error *err)
{
    return get_text(v, &c->identity, "identity", err);
}

static int tc_task(tcase *c, const ynode *v, agentauthz_error *err)
{
    return get_text(v, &c->task, "task", err);
}

static int tc_ttl(tcase *c, const ynode *v, agentauthz_error *err)
{
    if (get_duration(v, &c->ttl_ns, "ttl", err) != 0)
        return -1;
    if (c->ttl_ns == 0)
        return ytree_error(err, v, "'ttl' must be more than 0");
    return 0;
}

static int tc_params(tcase *c, const ynode *v, agentauthz_error *err)
{
    if (v->kind != YN_MAP)
        return ytree_error(err, v, "'params' must be a map");
    return ytree_to_value(v, &c->params, err);
}

static int tc_steps(tcase *c, const ynode *v, agentauthz_error *err)
{
    if (v->kind != YN_SEQ || v->n == 0)
        return ytree_error(err, v, "'steps' must be a non-empty list");
    c->steps = calloc(v->n, sizeof *c->steps);
    if (!c->steps)
        return ytree_error(err, v, "%s", agentauthz_strerror(AGENTAUTHZ_ENOMEM));
    for (; c->nsteps < v->n; c->nsteps++)
        if (parse_step(v->items[c->nsteps], &c->steps[c->nsteps], err) != 0) {
            c->nsteps++; /* so that its args are freed */
            return -1;
        }
    return 0;
}

static const struct {
    const char *key;
    case_fn fn;
} case_fields[] = {
    {"name", tc_name}, {"identity", tc_identity}, {"task", tc_task},
    {"ttl", tc_ttl},   {"params", tc_params},     {"steps", tc_steps},
};

#define NCASE_FIELDS (sizeof case_fields / sizeof case_fields[0])

static int parse_case(const ynode *n, tcase *c, agentauthz_error *err)
{
    if (n->kind != YN_MAP)
        return ytree_error(err, n, "a test must be a map");
    for (size_t i = 0; i + 1 < n->n; i += 2) {
        const ynode *k = n->items[i];
        size_t f = 0;
        while (f < NCASE_FIELDS &&
               !(k->kind == YN_SCALAR && strcmp(case_fields[f].key, k->str) == 0))
            f++;
        if (f == NCASE_FIELDS)
            return ytree_error(err, k,
                               "unknown key '%.64s' in a test (expected name, identity, task, "
                               "ttl, params or steps)",
                               k->kind == YN_SCALAR ? k->str : "?");
        if (case_fields[f].fn(c, n->items[i + 1], err) != 0)
            return -1;
    }
    if (!c->name || !c->identity || !c->task || !c->steps)
        return ytree_error(err, n, "a test needs 'name', 'identity', 'task' and 'steps'");
    return 0;
}

static int parse_top(tfile *tf, agentauthz_error *err)
{
    const ynode *root = tf->root, *tests = NULL;
    if (root->kind != YN_MAP)
        return ytree_error(err, root, "a tests file must be a map with the key 'tests'");
    for (size_t i = 0; i + 1 < root->n; i += 2) {
        const ynode *k = root->items[i];
        if (k->kind != YN_SCALAR || strcmp(k->str, "tests") != 0)
            return ytree_error(err, k, "unknown key '%.64s' (expected tests)",
                               k->kind == YN_SCALAR ? k->str : "?");
        tests = root->items[i + 1];
    }
    if (!tests || tests->kind != YN_SEQ || tests->n == 0)
        return ytree_error(err, tests ? tests : root, "'tests' must be a non-empty list");
    tf->cases = calloc(tests->n, sizeof *tf->cases);
    if (!tf->cases)
        return ytree_error(err, tests, "%s", agentauthz_strerror(AGENTAUTHZ_ENOMEM));
    for (; tf->ncases < tests->n; tf->ncases++)
        if (parse_case(tests->items[tf->ncases], &tf->cases[tf->ncases], err) != 0) {
            tf->ncases++; /* so that what it holds is freed */
            return -1;
        }
    return 0;
}

int tfile_load(const char *path, tfile *tf, agentauthz_error *err)
{
    size_t len = 0;
    memset(tf, 0, sizeof *tf);
    memset(err, 0, sizeof *err);
    snprintf(err->path, sizeof err->path, "%s", path);
    if (cli_read_file(path, &tf->text, &len) != 0) {
        err->code = AGENTAUTHZ_EIO;
        snprintf(err->message, sizeof err->message, "%s",
                 errno == EFBIG ? "file larger than 16 MiB" : strerror(errno));
        return -1;
    }
    if (ytree_parse(path, tf->text, len, &tf->root, err) != 0)
        return -1;
    return parse_top(tf, err);
}

void tfile_free(tfile *tf)
{
    for (size_t i = 0; i < tf->ncases; i++) {
        tcase *c = &tf->cases[i];
        for (size_t j = 0; j < c->nsteps; j++) {
            agentauthz_value_free(c->steps[j].args);
            agentauthz_value_free(c->steps[j].output);
        }
        free(c->steps);
        agentauthz_value_free(c->params);
    }
    free(tf->cases);
    ytree_free(tf->root);
    free(tf->text);
    memset(tf, 0, sizeof *tf);
}

static int add_strings(agentauthz_action *a, const ynode *list,
                       int (*add)(agentauthz_action *, const char *), bool dest)
{
    int rc = 0;
    if (!list)
        return 0;
    if (list->kind == YN_SCALAR)
        return add(a, list->str);
    /* A list of destinations stays a list, also with one item or none (issue 9, item 1). */
    if (dest)
        rc = agentauthz_action_set_destinations(a, NULL, 0);
    for (size_t i = 0; rc == 0 && i < list->n; i++)
        rc = add(a, list->items[i]->str);
    return rc;
}

int tfile_step_action(const tstep *s, agentauthz_action *a)
{
    const agentauthz_value *args = s->args;
    int rc;
    agentauthz_action_reset(a);
    rc = agentauthz_action_set_tool(a, s->tool);
    if (rc == 0 && s->resource)
        rc = agentauthz_action_set_resource(a, s->resource);
    if (rc == 0)
        rc = add_strings(a, s->destination, agentauthz_action_add_destination, true);
    if (rc == 0)
        rc = add_strings(a, s->labels, agentauthz_action_add_label, false);
    if (rc == 0 && s->payload)
        rc = agentauthz_action_set_payload(a, s->payload, s->payload_len);
    for (size_t i = 0; rc == 0 && args && i < agentauthz_value_length(args); i++)
        rc = agentauthz_action_copy_arg(a, agentauthz_value_map_key(args, i),
                                        agentauthz_value_map_value(args, i));
    return rc;
}

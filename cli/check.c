/*
 * agentauthz check POLICY... --identity ID --task TASK --tool TOOL ...:
 * opens one session, checks one action and prints the decision as JSON.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

typedef struct check_opts {
    const char *identity, *task, *tool, *resource, *args_json, *payload;
    const char **dests, **labels, **args, **params;
    size_t ndests, nlabels, nargs, nparams;
} check_opts;

void cli_help_check(FILE *out)
{
    fputs("Usage: agentauthz check POLICY... --identity ID --task TASK --tool TOOL\n"
          "           [--param KEY=JSON]... [--resource R] [--destination D]...\n"
          "           [--arg KEY=JSON]... [--args JSON] [--label L]... [--payload TEXT]\n"
          "           [--keys FILE [--audit LOG]]\n"
          "\n"
          "Opens one session, checks one action and prints the decision as one JSON\n"
          "object: {\"decision\":\"allow|deny|ask\",\"rule\":\"ID\",\"reason\":\"...\"}.\n"
          "\n"
          "Values are strict JSON: --arg to='[\"a@b.example\"]', --arg n=5, and strings\n"
          "quoted as JSON: --arg s='\"text\"'. --args gives a JSON object of arguments;\n"
          "--arg entries are applied on top of it. --destination and --label may repeat.\n"
          "--payload sets the action's payload to TEXT as given (not JSON).\n"
          "--param binds the task's parameters; an optional one may be left out. When\n"
          "the session may not be opened (unknown task, identity not admitted, wrong\n"
          "parameters) the decision is a deny with rule \"session\".\n"
          "\n",
          out);
    cli_help_engine_opts(out);
    fputs("Exit status: 0 whatever the decision, 2 bad usage, a policy that does not\n"
          "load, or keys or an audit log that cannot be used.\n",
          out);
}

static int set_once(const char **slot, const char *value, const char *name)
{
    if (*slot)
        return cli_usage("check: option '%s' given twice", name);
    *slot = value;
    return CLI_OK;
}

static int set_identity(void *c, const char *v)
{
    return set_once(&((check_opts *)c)->identity, v, "--identity");
}
static int set_task(void *c, const char *v)
{
    return set_once(&((check_opts *)c)->task, v, "--task");
}
static int set_tool(void *c, const char *v)
{
    return set_once(&((check_opts *)c)->tool, v, "--tool");
}
static int set_resource(void *c, const char *v)
{
    return set_once(&((check_opts *)c)->resource, v, "--resource");
}
static int set_payload(void *c, const char *v)
{
    return set_once(&((check_opts *)c)->payload, v, "--payload");
}
static int set_args(void *c, const char *v)
{
    return set_once(&((check_opts *)c)->args_json, v, "--args");
}
static int add_dest(void *c, const char *v)
{
    check_opts *o = c;
    return cli_strv_push(&o->dests, &o->ndests, v, "--destination options");
}
static int add_label(void *c, const char *v)
{
    check_opts *o = c;
    return cli_strv_push(&o->labels, &o->nlabels, v, "--label options");
}
static int add_arg(void *c, const char *v)
{
    check_opts *o = c;
    return cli_strv_push(&o->args, &o->nargs, v, "--arg options");
}
static int add_param(void *c, const char *v)
{
    check_opts *o = c;
    return cli_strv_push(&o->params, &o->nparams, v, "--param options");
}

static const cli_opt check_table[] = {
    {"--identity", 1, set_identity}, {"--task", 1, set_task},        {"--tool", 1, set_tool},
    {"--resource", 1, set_resource}, {"--destination", 1, add_dest}, {"--label", 1, add_label},
    {"--arg", 1, add_arg},           {"--args", 1, set_args},        {"--param", 1, add_param},
    {"--payload", 1, set_payload},
};

/*
 * Splits "KEY=JSON" into a new key string and a parsed value. A value that
 * is not JSON is a usage error: the usual mistake is an unquoted string.
 */
static int parse_kv(const char *opt, const char *kv, char **key, agentauthz_value **val)
{
    const char *eq = strchr(kv, '=');
    agentauthz_error err;
    memset(&err, 0, sizeof err);
    if (!eq || eq == kv)
        return cli_usage("check: %s needs KEY=JSON, got '%s'", opt, kv);
    if (agentauthz_value_parse_json(eq + 1, strlen(eq + 1), val, &err) != 0)
        return cli_usage("check: %s %.*s: the value is not JSON (%s); quote strings as JSON, "
                         "e.g. %s %.*s='\"text\"'",
                         opt, (int)(eq - kv), kv, err.message, opt, (int)(eq - kv), kv);
    *key = strndup(kv, (size_t)(eq - kv));
    if (!*key) {
        agentauthz_value_free(*val);
        *val = NULL;
        return cli_fatal("%s", agentauthz_strerror(AGENTAUTHZ_ENOMEM));
    }
    return CLI_OK;
}

/* Reports a library failure while building the action; always CLI_USAGE. */
static int lib_failed(const char *what, int code)
{
    return cli_fatal("check: %s: %s", what, agentauthz_strerror(code));
}

/* Copies every entry of the --args object into the action. */
static int apply_args_object(agentauthz_action *a, const char *json)
{
    agentauthz_value *obj = NULL;
    agentauthz_error err;
    int rc = CLI_OK;
    memset(&err, 0, sizeof err);
    if (agentauthz_value_parse_json(json, strlen(json), &obj, &err) != 0)
        return cli_usage("check: --args is not JSON: %lu:%lu: %s", err.line, err.column,
                         err.message);
    if (agentauthz_value_type(obj) != AGENTAUTHZ_MAP) {
        rc = cli_usage("check: --args must be a JSON object");
        goto out;
    }
    for (size_t i = 0; i < agentauthz_value_length(obj) && rc == CLI_OK; i++) {
        int lrc = agentauthz_action_copy_arg(a, agentauthz_value_map_key(obj, i),
                                             agentauthz_value_map_value(obj, i));
        if (lrc != 0)
            rc = lib_failed("--args", lrc);
    }
out:
    agentauthz_value_free(obj);
    return rc;
}

static int apply_arg(agentauthz_action *a, const char *kv)
{
    char *key = NULL;
    agentauthz_value *val = NULL;
    int rc = parse_kv("--arg", kv, &key, &val);
    if (rc != CLI_OK)
        return rc;
    rc = agentauthz_action_set_arg(a, key, val);
    free(key);
    return rc == 0 ? CLI_OK : lib_failed("--arg", rc);
}

static int apply_strings(agentauthz_action *a, const check_opts *o)
{
    int rc = agentauthz_action_set_tool(a, o->tool);
    if (rc == 0 && o->resource)
        rc = agentauthz_action_set_resource(a, o->resource);
    for (size_t i = 0; rc == 0 && i < o->ndests; i++)
        rc = agentauthz_action_add_destination(a, o->dests[i]);
    for (size_t i = 0; rc == 0 && i < o->nlabels; i++)
        rc = agentauthz_action_add_label(a, o->labels[i]);
    if (rc == 0 && o->payload)
        rc = agentauthz_action_set_payload(a, o->payload, strlen(o->payload));
    return rc == 0 ? CLI_OK : lib_failed("the action", rc);
}

static int build_action(const check_opts *o, agentauthz_action **out)
{
    agentauthz_action *a = NULL;
    int rc = agentauthz_action_new(&a);
    if (rc != 0)
        return lib_failed("the action", rc);
    rc = apply_strings(a, o);
    if (rc == CLI_OK && o->args_json)
        rc = apply_args_object(a, o->args_json);
    for (size_t i = 0; rc == CLI_OK && i < o->nargs; i++)
        rc = apply_arg(a, o->args[i]);
    if (rc != CLI_OK) {
        agentauthz_action_free(a);
        return rc;
    }
    *out = a;
    return CLI_OK;
}

static int build_params(const check_opts *o, agentauthz_value **out)
{
    agentauthz_value *map = NULL;
    if (o->nparams == 0)
        return CLI_OK;
    map = agentauthz_value_map();
    if (!map)
        return lib_failed("--param", AGENTAUTHZ_ENOMEM);
    for (size_t i = 0; i < o->nparams; i++) {
        char *key = NULL;
        agentauthz_value *val = NULL;
        int rc = parse_kv("--param", o->params[i], &key, &val);
        if (rc == CLI_OK && (rc = agentauthz_value_map_set(map, key, val)) != 0)
            rc = lib_failed("--param", rc);
        free(key);
        if (rc != CLI_OK) {
            agentauthz_value_free(map);
            return rc;
        }
    }
    *out = map;
    return CLI_OK;
}

static void print_decision(const agentauthz_decision *d)
{
    fputc('{', stdout);
    cli_json_decision(stdout, d);
    fputs("}\n", stdout);
}

/* Opens the session and checks; a refused open is reported as a deny. */
static int decide(agentauthz_engine *e, const check_opts *o, const agentauthz_value *params,
                  const agentauthz_action *a)
{
    agentauthz_session_options so = AGENTAUTHZ_SESSION_OPTIONS_INIT;
    agentauthz_session *s = NULL;
    agentauthz_decision d;
    agentauthz_error err;
    int rc;

    memset(&err, 0, sizeof err);
    so.params = params;
    rc = agentauthz_session_open(e, o->identity, o->task, &so, &s, &err);
    if (rc != 0 && !cli_open_refused(rc))
        return cli_fatal("check: %s", err.message[0] ? err.message : agentauthz_strerror(rc));
    if (rc != 0) {
        cli_session_deny(&d, err.message[0] ? err.message : agentauthz_strerror(rc));
    } else {
        /* A negative return still leaves a deny in d, which is what we print. */
        (void)!agentauthz_check(s, a, &d);
    }
    print_decision(&d);
    agentauthz_session_close(s);
    return CLI_OK;
}

static int run_check(const check_opts *o, cli_common *common)
{
    agentauthz_engine *e = NULL;
    agentauthz_action *a = NULL;
    agentauthz_value *params = NULL;
    cli_diag_count count = {0, 0};
    int code = 0;
    int rc = build_params(o, &params);
    if (rc == CLI_OK)
        rc = build_action(o, &a);
    if (rc != CLI_OK)
        goto out;
    if (cli_engine_load(&e, common, common->args, common->nargs, NULL, NULL, &count, &code) != 0) {
        rc = CLI_USAGE;
        goto out;
    }
    rc = decide(e, o, params, a);
out:
    agentauthz_engine_free(e);
    agentauthz_action_free(a);
    agentauthz_value_free(params);
    return rc;
}

static int validate(const check_opts *o, const cli_common *common)
{
    if (common->nargs == 0)
        return cli_usage("check: missing POLICY");
    if (!o->identity)
        return cli_usage("check: missing --identity");
    if (!o->task)
        return cli_usage("check: missing --task");
    if (!o->tool)
        return cli_usage("check: missing --tool");
    return CLI_OK;
}

static void free_opts(check_opts *o)
{
    free(o->dests);
    free(o->labels);
    free(o->args);
    free(o->params);
}

int cli_cmd_check(int argc, char **argv)
{
    check_opts o;
    cli_common common = CLI_COMMON_INIT(1);
    int rc;
    memset(&o, 0, sizeof o);
    rc = cli_parse_options(argc, argv, check_table, sizeof check_table / sizeof check_table[0], &o,
                           &common, cli_help_check);
    if (rc == CLI_OK)
        rc = validate(&o, &common);
    if (rc == CLI_OK)
        rc = run_check(&o, &common);
    free_opts(&o);
    cli_common_free(&common);
    return rc == CLI_HELP_SHOWN ? CLI_OK : rc;
}

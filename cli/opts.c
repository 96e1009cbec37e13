/*
 * The option parser shared by every subcommand. Options common to check,
 * replay and test (--keys FILE and --audit FILE) are in common_opts below,
 * so that each subcommand that runs an engine gets them for free.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_usage(const char *fmt, ...)
{
    va_list ap;
    fputs("agentauthz: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nTry 'agentauthz --help' for more information.\n", stderr);
    return CLI_USAGE;
}

int cli_fatal(const char *fmt, ...)
{
    va_list ap;
    fputs("agentauthz: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CLI_USAGE;
}

int cli_strv_push(const char ***v, size_t *n, const char *s, const char *what)
{
    const char **grown = NULL;
    /* The bound keeps a hostile command line from growing memory without end. */
    if (*n >= CLI_MAX_PATHS)
        return cli_usage("too many %s (at most %u)", what, (unsigned)CLI_MAX_PATHS);
    grown = realloc(*v, (*n + 1) * sizeof **v);
    if (!grown)
        return cli_fatal("%s", agentauthz_strerror(AGENTAUTHZ_ENOMEM));
    grown[(*n)++] = s;
    *v = grown;
    return CLI_OK;
}

void cli_common_free(cli_common *common)
{
    free(common->args);
    common->args = NULL;
    common->nargs = 0;
    agentauthz_keys_free(common->keys);
    common->keys = NULL;
}

static int set_keys(void *ctx, const char *value)
{
    cli_common *c = ctx;
    if (c->keys_path)
        return cli_usage("option '--keys' given twice");
    c->keys_path = value;
    return CLI_OK;
}

static int set_audit(void *ctx, const char *value)
{
    cli_common *c = ctx;
    if (c->audit_path)
        return cli_usage("option '--audit' given twice");
    c->audit_path = value;
    return CLI_OK;
}

int cli_run_verb(int argc, char **argv, const char *verb, int (*run)(int argc, char **argv),
                 void (*help)(FILE *out))
{
    if (argc < 2)
        return cli_usage("%s: missing subcommand (%s)", argv[0], verb);
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        help(stdout);
        return CLI_OK;
    }
    if (strcmp(argv[1], verb) != 0)
        return cli_usage("%s: unknown subcommand '%s' (expected %s)", argv[0], argv[1], verb);
    return run(argc - 1, argv + 1);
}

/* Options that every subcommand running an engine shares. */
static const cli_opt common_opts[] = {
    {"--keys", 1, set_keys},
    {"--audit", 1, set_audit},
};
static const size_t ncommon_opts = sizeof common_opts / sizeof common_opts[0];

/* Finds the option named by arg, which may be "--name" or "--name=value". */
static const cli_opt *find_opt(const cli_opt *opts, size_t nopts, const char *arg,
                               const char **inline_value)
{
    const char *eq = strchr(arg, '=');
    size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
    for (size_t i = 0; i < nopts; i++) {
        if (strlen(opts[i].name) == len && strncmp(opts[i].name, arg, len) == 0) {
            *inline_value = eq ? eq + 1 : NULL;
            return &opts[i];
        }
    }
    return NULL;
}

/* Applies one option at argv[*i]; advances *i past its value. */
static int apply_opt(int argc, char **argv, int *i, const cli_opt *o, const char *inline_value,
                     void *ctx)
{
    const char *value = inline_value;
    if (!o->takes_value) {
        if (inline_value)
            return cli_usage("option '%s' takes no value", o->name);
        return o->set(ctx, NULL);
    }
    if (!value) {
        if (*i + 1 >= argc)
            return cli_usage("option '%s' needs a value", o->name);
        value = argv[++*i];
    }
    return o->set(ctx, value);
}

static int parse_one(int argc, char **argv, int *i, const cli_opt *opts, size_t nopts, void *ctx,
                     cli_common *common)
{
    const char *arg = argv[*i];
    const char *inline_value = NULL;
    const cli_opt *o = find_opt(opts, nopts, arg, &inline_value);
    if (o)
        return apply_opt(argc, argv, i, o, inline_value, ctx);
    o = common->engine_opts ? find_opt(common_opts, ncommon_opts, arg, &inline_value) : NULL;
    if (o)
        return apply_opt(argc, argv, i, o, inline_value, common);
    return cli_usage("%s: unknown option '%s'", argv[0], arg);
}

int cli_parse_options(int argc, char **argv, const cli_opt *opts, size_t nopts, void *ctx,
                      cli_common *common, void (*help)(FILE *out))
{
    int rc = CLI_OK;
    int options_done = 0;
    for (int i = 1; i < argc && rc == CLI_OK; i++) {
        const char *arg = argv[i];
        /* "-" alone is a positional argument: standard input for replay. */
        if (options_done || arg[0] != '-' || arg[1] == '\0') {
            rc = cli_strv_push(&common->args, &common->nargs, arg, "arguments");
        } else if (strcmp(arg, "--") == 0) {
            options_done = 1;
        } else if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            help(stdout);
            rc = CLI_HELP_SHOWN;
        } else {
            rc = parse_one(argc, argv, &i, opts, nopts, ctx, common);
        }
    }
    /*
     * A log keyed by fresh keys that die with the process could never be
     * verified by anyone, so it is refused rather than written in vain.
     */
    if (rc == CLI_OK && common->audit_path && !common->keys_path)
        rc = cli_usage("%s: --audit needs --keys FILE: the audit log is keyed by the keys "
                       "file's audit key, and without it the log could never be verified",
                       argv[0]);
    if (rc != CLI_OK)
        cli_common_free(common);
    return rc;
}

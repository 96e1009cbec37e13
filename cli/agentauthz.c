/*
 * agentauthz(1): write, debug and test policies, and drive the library from
 * a shell. The subcommands live in a table, so that adding one does not
 * touch the dispatch.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

typedef struct cli_command {
    const char *name;
    int (*run)(int argc, char **argv);
    void (*help)(FILE *out);
} cli_command;

static const cli_command commands[] = {
    {"lint", cli_cmd_lint, cli_help_lint},       {"check", cli_cmd_check, cli_help_check},
    {"replay", cli_cmd_replay, cli_help_replay}, {"test", cli_cmd_test, cli_help_test},
    {"audit", cli_cmd_audit, cli_help_audit},    {"token", cli_cmd_token, cli_help_token},
    {"keygen", cli_cmd_keygen, cli_help_keygen}, {"keys", cli_cmd_keys, cli_help_keys},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

void cli_help_main(FILE *out)
{
    fputs("Usage: agentauthz COMMAND [OPTIONS] [ARGS]\n"
          "\n"
          "Authorizes AI agents' tool calls against a policy (see agentauthz-policy(5)).\n"
          "\n"
          "Commands:\n"
          "  lint POLICY...              report every error and warning of a policy\n"
          "  check POLICY... OPTIONS     decide one action and print the decision as JSON\n"
          "  replay POLICY... [TRACE]    decide a JSON-lines trace of actions\n"
          "  test POLICY... TESTS.yaml   run policy unit tests\n"
          "  audit verify (--keys FILE | --pubkey KEY) [--engine NAME] [--expect-last SEQ] LOG...\n"
          "                              verify the MAC chain of an audit log\n"
          "  token verify (--pubkey KEY | --jwks FILE) TOKEN\n"
          "                              verify a task token and print its claims\n"
          "  token sign --keys FILE --identity ID --task TASK --audience AUD [--ttl D]\n"
          "             [--tool NAME]...  sign a task token (for tests and scripts)\n"
          "  keygen --out FILE           write a new key file, print the public key\n"
          "  keys jwks --keys FILE       print the public key as a JWK Set\n"
          "\n"
          "A POLICY is a file or a directory of *.yaml/*.yml files; several of them\n"
          "are loaded together as one policy. check, replay and test also take\n"
          "--keys FILE (the engine's keys, from keygen) and --audit LOG (append the\n"
          "run's audit log to LOG; needs --keys).\n"
          "\n"
          "Options:\n"
          "  -h, --help     show this help (or COMMAND --help for a command's)\n"
          "  -V, --version  show the library version\n"
          "\n"
          "Exit status: 0 success, 1 a policy or test failure, 2 bad usage or\n"
          "unreadable input.\n",
          out);
}

void cli_help_engine_opts(FILE *out)
{
    fputs("Keys and audit:\n"
          "  --keys FILE   the engine's keys, from a key file written by 'agentauthz\n"
          "                keygen' (mode 0600: a file group or others may access is\n"
          "                refused); without it, fresh keys are made for the run\n"
          "  --audit LOG   append the run's audit log to LOG (created with mode 0600;\n"
          "                an existing log is continued), MAC-chained with the audit\n"
          "                key of --keys, which it needs; check it with 'agentauthz\n"
          "                audit verify --keys FILE LOG'\n"
          "\n",
          out);
}

static const cli_command *find_command(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

/* "agentauthz help [COMMAND]" is the same as --help. */
static int run_help(int argc, char **argv)
{
    const cli_command *c = NULL;
    if (argc < 3) {
        cli_help_main(stdout);
        return CLI_OK;
    }
    c = find_command(argv[2]);
    if (!c)
        return cli_usage("unknown command '%s'", argv[2]);
    c->help(stdout);
    return CLI_OK;
}

static int finish(int status)
{
    /* A full disk or a closed pipe must not look like success. */
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fputs("agentauthz: error writing to standard output\n", stderr);
        return CLI_USAGE;
    }
    return status;
}

int main(int argc, char **argv)
{
    const cli_command *c = NULL;
    const char *name = argc > 1 ? argv[1] : NULL;

    if (!name)
        return cli_usage("missing command");
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0)
        return finish(run_help(argc, argv));
    if (strcmp(name, "--version") == 0 || strcmp(name, "-V") == 0) {
        printf("agentauthz %s\n", agentauthz_version());
        return finish(CLI_OK);
    }
    if (name[0] == '-')
        return cli_usage("unknown option '%s'", name);
    c = find_command(name);
    if (!c)
        return cli_usage("unknown command '%s'", name);
    return finish(c->run(argc - 1, argv + 1));
}

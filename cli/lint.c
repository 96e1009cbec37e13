/* agentauthz lint POLICY...: report every error and warning of a policy. */
#include "cli.h"

void cli_help_lint(FILE *out)
{
    fputs("Usage: agentauthz lint POLICY...\n"
          "\n"
          "Loads the files (or directories of *.yaml/*.yml files) as one policy and\n"
          "reports every error and warning as FILE:LINE:COL: error|warning: MESSAGE.\n"
          "Prints 'ok: N rules, N tasks, N secrets' when the policy is valid.\n"
          "\n"
          "Exit status: 0 valid (warnings do not fail), 1 the policy has errors,\n"
          "2 bad usage or unreadable files.\n",
          out);
}

/* Which exit status a failed load gives: unreadable input is not a policy error. */
static int load_status(int code)
{
    if (code == AGENTAUTHZ_EIO || code == AGENTAUTHZ_ENOMEM || code == AGENTAUTHZ_EINVAL)
        return CLI_USAGE;
    return CLI_FAIL;
}

static int lint_paths(cli_common *common)
{
    agentauthz_engine *e = NULL;
    agentauthz_policy_info info;
    cli_diag_count count = {0, 0};
    int code = 0, rc;

    if (cli_engine_load(&e, common, common->args, common->nargs, NULL, NULL, &count, &code) != 0)
        return load_status(code);
    rc = agentauthz_engine_policy_info(e, &info);
    if (rc == 0)
        printf("ok: %zu rules, %zu tasks, %zu secrets\n", info.rules, info.tasks, info.secrets);
    else
        rc = cli_fatal("%s", agentauthz_strerror(rc));
    agentauthz_engine_free(e);
    return rc;
}

int cli_cmd_lint(int argc, char **argv)
{
    cli_common common = CLI_COMMON_INIT(0);
    int rc = cli_parse_options(argc, argv, NULL, 0, NULL, &common, cli_help_lint);
    if (rc == CLI_HELP_SHOWN)
        return CLI_OK;
    if (rc != CLI_OK)
        return rc;
    if (common.nargs == 0)
        rc = cli_usage("lint: missing POLICY");
    else
        rc = lint_paths(&common);
    cli_common_free(&common);
    return rc;
}

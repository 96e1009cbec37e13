/*
 * agentauthz audit verify --keys FILE LOG...: checks the MAC chain of an
 * audit log (the files of a rotated log, oldest first) and reports the
 * first broken, reordered or missing record by file and line.
 */
#include <inttypes.h>
#include <string.h>

#include "cli.h"

typedef struct audit_opts {
    const char *keys;
} audit_opts;

void cli_help_audit(FILE *out)
{
    fputs("Usage: agentauthz audit verify --keys FILE LOG...\n"
          "\n"
          "Verifies the MAC chain of an audit log written by the library (by 'check',\n"
          "'replay' or 'test' with --audit, or by a host with agentauthz_engine_set_audit)\n"
          "with the audit key of the key file FILE. A rotated log is given as its files\n"
          "from the oldest to the newest: the chain must start at the first record of\n"
          "the first file and run through every file without a gap.\n"
          "\n"
          "Prints 'ok: N records' when every record verifies. Otherwise prints the\n"
          "first bad record as FILE:LINE: error: PROBLEM: REASON, where PROBLEM is\n"
          "malformed, truncated, mac mismatch (an edited record, or another key),\n"
          "sequence gap (records or files deleted, reordered or duplicated) or prev\n"
          "mismatch. Records cut off the end of a log leave no trace: compare N with\n"
          "what you expect.\n"
          "\n"
          "Exit status: 0 intact, 1 broken, 2 bad usage, unreadable files or keys.\n",
          out);
}

static int set_keys(void *c, const char *v)
{
    audit_opts *o = c;
    if (o->keys)
        return cli_usage("audit verify: option '--keys' given twice");
    o->keys = v;
    return CLI_OK;
}

static const cli_opt audit_table[] = {
    {"--keys", 1, set_keys},
};

static int report_broken(const agentauthz_audit_report *rep)
{
    fprintf(stderr, "%s:%lu: error: %s: %s\n", rep->path, rep->line,
            agentauthz_audit_problem_name(rep->problem), rep->reason);
    return CLI_FAIL;
}

static int verify_logs(const char *keys_path, const cli_common *common)
{
    agentauthz_keys *keys = NULL;
    agentauthz_audit_report rep;
    agentauthz_error err;
    int code = 0, rc;

    memset(&rep, 0, sizeof rep);
    memset(&err, 0, sizeof err);
    if (cli_keys_load(keys_path, &keys, &code) != 0)
        return CLI_USAGE;
    rc = agentauthz_audit_verify(keys, common->args, common->nargs, &rep, &err);
    if (rc == 0) {
        printf("ok: %" PRIu64 " records\n", rep.records);
    } else if (rc == AGENTAUTHZ_ETAMPER) {
        rc = report_broken(&rep);
    } else {
        /* Unreadable input is not evidence of tampering: exit 2, not 1. */
        err.code = rc;
        cli_print_diag(stderr, &err, "error");
        rc = CLI_USAGE;
    }
    agentauthz_keys_free(keys);
    return rc;
}

static int audit_verify(int argc, char **argv)
{
    audit_opts o = {NULL};
    cli_common common = CLI_COMMON_INIT(0);
    int rc = cli_parse_options(argc, argv, audit_table, sizeof audit_table / sizeof audit_table[0],
                               &o, &common, cli_help_audit);
    if (rc == CLI_OK && !o.keys)
        rc = cli_usage("audit verify: missing --keys FILE (the key file whose audit key "
                       "wrote the log)");
    if (rc == CLI_OK && common.nargs == 0)
        rc = cli_usage("audit verify: missing LOG");
    if (rc == CLI_OK)
        rc = verify_logs(o.keys, &common);
    cli_common_free(&common);
    return rc == CLI_HELP_SHOWN ? CLI_OK : rc;
}

int cli_cmd_audit(int argc, char **argv)
{
    return cli_run_verb(argc, argv, "verify", audit_verify, cli_help_audit);
}

/*
 * agentauthz audit verify (--keys FILE | --pubkey KEY) [--engine NAME]
 * [--expect-last SEQ] LOG...: checks an audit log (the files of a rotated
 * log, oldest first) and reports the first broken, reordered, missing or
 * foreign record by file and line.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

#include "cli.h"

typedef struct audit_opts {
    const char *keys;
    const char *pubkey;
    const char *engine;
    const char *expect_last;
} audit_opts;

void cli_help_audit(FILE *out)
{
    fputs("Usage: agentauthz audit verify (--keys FILE | --pubkey KEY) [--engine NAME]\n"
          "                               [--expect-last SEQ] LOG...\n"
          "\n"
          "Verifies an audit log written by the library (by 'check', 'replay' or 'test'\n"
          "with --audit, or by a host with agentauthz_engine_set_audit). A rotated log is\n"
          "given as its files from the oldest to the newest: the chain must start at the\n"
          "log's start record, in the first file, and run through every file without a\n"
          "gap; every file must hold at least one record.\n"
          "\n"
          "  --keys FILE        the engine's key file: every record's MAC is checked with\n"
          "                     its audit key, and the log must be this engine's (its\n"
          "                     public key signed the start, resume and checkpoint records)\n"
          "  --pubkey KEY       the engine's public key (azpk1... text, or a file holding\n"
          "                     it): without --keys, the hash chain and the signatures are\n"
          "                     checked, which covers the records up to the last signed one;\n"
          "                     records after it are reported as not verified\n"
          "  --engine NAME      the log must have been started by the engine named NAME\n"
          "  --expect-last SEQ  the log must end at record SEQ (detects records cut off\n"
          "                     the end, which leave no other trace)\n"
          "\n"
          "Prints 'ok: N records' and what was verified when the log is intact. Otherwise\n"
          "prints the first bad record as FILE:LINE: error: PROBLEM: REASON, where PROBLEM\n"
          "is malformed, truncated, mac mismatch (an edited record, or another key),\n"
          "sequence gap (records or files deleted, reordered or duplicated), prev\n"
          "mismatch, empty log, unexpected end, engine mismatch, log id mismatch (logs\n"
          "spliced), bad signature or unsigned (a version 1 log where a signature or an\n"
          "engine is needed).\n"
          "\n"
          "Exit status: 0 intact, 1 broken, 2 bad usage, unreadable files or keys.\n",
          out);
}

static int set_once(const char **slot, const char *v, const char *name)
{
    if (*slot)
        return cli_usage("audit verify: option '%s' given twice", name);
    *slot = v;
    return CLI_OK;
}

static int set_keys(void *c, const char *v)
{
    return set_once(&((audit_opts *)c)->keys, v, "--keys");
}

static int set_pubkey(void *c, const char *v)
{
    return set_once(&((audit_opts *)c)->pubkey, v, "--pubkey");
}

static int set_engine(void *c, const char *v)
{
    return set_once(&((audit_opts *)c)->engine, v, "--engine");
}

static int set_expect_last(void *c, const char *v)
{
    return set_once(&((audit_opts *)c)->expect_last, v, "--expect-last");
}

static const cli_opt audit_table[] = {
    {"--keys", 1, set_keys},
    {"--pubkey", 1, set_pubkey},
    {"--engine", 1, set_engine},
    {"--expect-last", 1, set_expect_last},
};

static int report_broken(const agentauthz_audit_report *rep)
{
    fprintf(stderr, "%s:%lu: error: %s: %s\n", rep->path, rep->line,
            agentauthz_audit_problem_name(rep->problem), rep->reason);
    return CLI_FAIL;
}

static void report_ok(const agentauthz_audit_result *res, bool mac)
{
    const agentauthz_audit_report *rep = &res->report;
    printf("ok: %" PRIu64 " records\n", rep->records);
    if (res->schema == 1) {
        printf("version 1 log: MAC chain only (no engine binding, log id or signatures)\n");
        return;
    }
    printf("log %s: records 1..%" PRIu64 " covered by the engine's signature", res->log_id,
           res->signed_seq);
    if (res->signed_seq == rep->last_seq)
        printf("\n");
    else if (mac)
        printf("; %" PRIu64 " after the last checkpoint verified by their MACs only\n",
               rep->last_seq - res->signed_seq);
    else
        printf("; %" PRIu64 " after the last checkpoint NOT verified (no audit key)\n",
               rep->last_seq - res->signed_seq);
}

static int verify_logs(const audit_opts *o, const cli_common *common)
{
    agentauthz_audit_verify_options vo = AGENTAUTHZ_AUDIT_VERIFY_OPTIONS_INIT;
    agentauthz_audit_result res = AGENTAUTHZ_AUDIT_RESULT_INIT;
    agentauthz_keys *keys = NULL;
    unsigned char pk[AGENTAUTHZ_PUBKEY_BYTES];
    agentauthz_error err;
    int code = 0, rc;

    memset(&err, 0, sizeof err);
    if (o->expect_last &&
        (cli_parse_uint(o->expect_last, UINT64_MAX, &vo.expect_last) != 0 || !vo.expect_last))
        return cli_usage("audit verify: --expect-last %s: expected a record number (1 or more)",
                         o->expect_last);
    if (o->pubkey && (rc = cli_load_pubkey("audit verify", o->pubkey, pk)) != CLI_OK)
        return rc;
    if (o->keys && cli_keys_load(o->keys, &keys, &code) != 0)
        return CLI_USAGE;
    vo.keys = keys;
    vo.pubkey = o->pubkey ? pk : NULL;
    vo.engine = o->engine;
    rc = agentauthz_audit_verify_ext(&vo, common->args, common->nargs, &res, &err);
    if (rc == 0) {
        report_ok(&res, keys != NULL);
    } else if (rc == AGENTAUTHZ_ETAMPER) {
        rc = report_broken(&res.report);
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
    audit_opts o = {NULL, NULL, NULL, NULL};
    cli_common common = CLI_COMMON_INIT(0);
    int rc = cli_parse_options(argc, argv, audit_table, sizeof audit_table / sizeof audit_table[0],
                               &o, &common, cli_help_audit);
    if (rc == CLI_OK && !o.keys && !o.pubkey)
        rc = cli_usage("audit verify: missing --keys FILE (the key file whose audit key "
                       "wrote the log) or --pubkey KEY (the engine's public key)");
    if (rc == CLI_OK && common.nargs == 0)
        rc = cli_usage("audit verify: missing LOG");
    if (rc == CLI_OK)
        rc = verify_logs(&o, &common);
    cli_common_free(&common);
    return rc == CLI_HELP_SHOWN ? CLI_OK : rc;
}

int cli_cmd_audit(int argc, char **argv)
{
    return cli_run_verb(argc, argv, "verify", audit_verify, cli_help_audit);
}

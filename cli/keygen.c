/*
 * agentauthz keygen --out FILE: writes a new key file and prints only the
 * public key, which is all that may be shared.
 */
#include <string.h>

#include "cli.h"

typedef struct keygen_opts {
    const char *out;
} keygen_opts;

void cli_help_keygen(FILE *out)
{
    fputs("Usage: agentauthz keygen --out FILE\n"
          "\n"
          "Writes a new key file: an Ed25519 signing key pair (task tokens), a master\n"
          "key (derived secrets) and an audit key (the audit log's MAC chain). The\n"
          "file is created with mode 0600; an existing file (or link) at FILE is never\n"
          "overwritten. Prints only the public key (azpk1....), which verifies the\n"
          "engine's task tokens: 'agentauthz token verify --pubkey KEY TOKEN'.\n"
          "\n"
          "Give the file to check, replay and test with --keys FILE, and to\n"
          "'agentauthz audit verify --keys FILE LOG'.\n"
          "\n"
          "Exit status: 0 written, 2 bad usage or the file cannot be created.\n",
          out);
}

static int set_out(void *c, const char *v)
{
    keygen_opts *o = c;
    if (o->out)
        return cli_usage("keygen: option '--out' given twice");
    o->out = v;
    return CLI_OK;
}

static const cli_opt keygen_table[] = {
    {"--out", 1, set_out},
};

static int lib_error(agentauthz_error *err, int rc, const char *path)
{
    err->code = rc;
    if (!err->path[0] && path)
        snprintf(err->path, sizeof err->path, "%s", path);
    cli_print_diag(stderr, err, "error");
    return CLI_USAGE;
}

static int keygen(const char *path)
{
    agentauthz_keys *k = NULL;
    agentauthz_error err;
    char pub[AGENTAUTHZ_PUBKEY_TEXT_MAX];
    int rc;

    memset(&err, 0, sizeof err);
    rc = agentauthz_keys_generate(&k, &err);
    if (rc != 0)
        return lib_error(&err, rc, NULL);
    rc = agentauthz_keys_save_file(k, path, &err);
    if (rc == AGENTAUTHZ_EEXIST)
        snprintf(err.message, sizeof err.message,
                 "refusing to overwrite an existing file; choose another name");
    if (rc == 0)
        rc = agentauthz_keys_public(k, pub, sizeof pub);
    if (rc == 0)
        printf("%s\n", pub);
    agentauthz_keys_free(k);
    return rc == 0 ? CLI_OK : lib_error(&err, rc, path);
}

int cli_cmd_keygen(int argc, char **argv)
{
    keygen_opts o = {NULL};
    cli_common common = CLI_COMMON_INIT(0);
    int rc =
        cli_parse_options(argc, argv, keygen_table, sizeof keygen_table / sizeof keygen_table[0],
                          &o, &common, cli_help_keygen);
    if (rc == CLI_OK && common.nargs > 0)
        rc = cli_usage("keygen: unexpected argument '%s' (the file is given with --out)",
                       common.args[0]);
    if (rc == CLI_OK && !o.out)
        rc = cli_usage("keygen: missing --out FILE");
    if (rc == CLI_OK)
        rc = keygen(o.out);
    cli_common_free(&common);
    return rc == CLI_HELP_SHOWN ? CLI_OK : rc;
}

/*
 * agentauthz keygen --out FILE: writes a new key file and prints only the
 * public key, which is all that may be shared. agentauthz keys jwks --keys
 * FILE: prints that public key as a JWK Set.
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

/* ---- keys jwks --keys FILE ---- */

void cli_help_keys(FILE *out)
{
    fputs("Usage: agentauthz keys jwks --keys FILE\n"
          "\n"
          "Prints the public key of a key file as a JWK Set (RFC 7517), one line:\n"
          "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":..,\"kid\":..,\"alg\":\"EdDSA\",\n"
          "\"use\":\"sig\"}]}\n"
          "kid is the key's RFC 7638 thumbprint, the kid of every task token the key\n"
          "signs. A service verifies task tokens with it and any JWT library, or with\n"
          "'agentauthz token verify --jwks FILE'. Nothing secret is printed.\n"
          "\n"
          "Exit status: 0 printed, 2 bad usage or an unusable key file.\n",
          out);
}

static int set_keys_path(void *c, const char *v)
{
    keygen_opts *o = c;
    if (o->out)
        return cli_usage("keys jwks: option '--keys' given twice");
    o->out = v;
    return CLI_OK;
}

static const cli_opt keys_table[] = {
    {"--keys", 1, set_keys_path},
};

static int keys_jwks(int argc, char **argv)
{
    keygen_opts o = {NULL};
    cli_common common = CLI_COMMON_INIT(0);
    agentauthz_keys *k = NULL;
    char jwks[AGENTAUTHZ_JWKS_TEXT_MAX];
    int code = 0;
    int rc = cli_parse_options(argc, argv, keys_table, sizeof keys_table / sizeof keys_table[0],
                               &o, &common, cli_help_keys);
    if (rc == CLI_OK && common.nargs > 0)
        rc = cli_usage("keys jwks: unexpected argument '%s' (the file is given with --keys)",
                       common.args[0]);
    if (rc == CLI_OK && !o.out)
        rc = cli_usage("keys jwks: missing --keys FILE");
    if (rc == CLI_OK && cli_keys_load(o.out, &k, &code) != 0)
        rc = CLI_USAGE;
    if (rc == CLI_OK && agentauthz_keys_jwks(k, jwks, sizeof jwks) != 0)
        rc = cli_fatal("keys jwks: %s", agentauthz_strerror(AGENTAUTHZ_EINVAL));
    if (rc == CLI_OK)
        printf("%s\n", jwks);
    agentauthz_keys_free(k);
    cli_common_free(&common);
    return rc == CLI_HELP_SHOWN ? CLI_OK : rc;
}

int cli_cmd_keys(int argc, char **argv)
{
    return cli_run_verb(argc, argv, "jwks", keys_jwks, cli_help_keys);
}

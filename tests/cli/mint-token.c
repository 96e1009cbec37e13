/*
 * mint-token: signs a task token with the keys of a key file, so that the
 * shell tests of "agentauthz token verify" have real tokens to verify.
 * Built by "make check" only; it uses the public API alone.
 *
 * Usage: mint-token KEYS IDENTITY TASK SESSION AUDIENCE IAT EXP ISSUER PARENT [TOOL...]
 * ISSUER and PARENT are "-" for none. Prints the token and a newline.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <agentauthz.h>

#define NFIXED 10 /* argv[0] and the nine fixed arguments */

/* Parses a non-negative decimal integer; -1 when it is not one. */
static int parse_time(const char *s, int64_t *out)
{
    char *end = NULL;
    long long v;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < 0)
        return -1;
    *out = (int64_t)v;
    return 0;
}

static const char *opt_str(const char *s)
{
    return strcmp(s, "-") == 0 ? NULL : s;
}

static int fill_claims(int argc, char **argv, agentauthz_token_claims *c)
{
    memset(c, 0, sizeof *c);
    c->identity = argv[2];
    c->task = argv[3];
    c->session = argv[4];
    c->audience = argv[5];
    if (parse_time(argv[6], &c->iat) != 0 || parse_time(argv[7], &c->exp) != 0) {
        fputs("mint-token: IAT and EXP must be Unix times\n", stderr);
        return -1;
    }
    c->issuer = (char *)opt_str(argv[8]);
    c->parent = (char *)opt_str(argv[9]);
    c->tools = argv + NFIXED;
    c->tools_count = (size_t)(argc - NFIXED);
    return 0;
}

int main(int argc, char **argv)
{
    agentauthz_keys *keys = NULL;
    agentauthz_token_claims c;
    agentauthz_error err;
    char *token = NULL;
    int rc = 2;

    memset(&err, 0, sizeof err);
    if (argc < NFIXED) {
        fputs("usage: mint-token KEYS IDENTITY TASK SESSION AUDIENCE IAT EXP ISSUER PARENT "
              "[TOOL...]\n",
              stderr);
        return 2;
    }
    if (fill_claims(argc, argv, &c) != 0)
        return 2;
    if (agentauthz_keys_load_file(argv[1], &keys, &err) != 0 ||
        agentauthz_token_sign(keys, &c, &token, &err) != 0) {
        fprintf(stderr, "mint-token: %s\n", err.message);
        goto out;
    }
    printf("%s\n", token);
    rc = fflush(stdout) == 0 ? 0 : 2;
out:
    agentauthz_free(token);
    agentauthz_keys_free(keys);
    return rc;
}

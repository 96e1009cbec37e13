/*
 * agentauthz token verify --pubkey KEY [--audience AUD] TOKEN: verifies a
 * task token offline and prints its claims as JSON, or why it is refused.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* A public key file holds one line of 49 characters; anything bigger is not one. */
#define PUBKEY_FILE_MAX 4096
/* Token times are integers below 2^53 (the token format's bound). */
#define UNIX_MAX 9007199254740991u
#define SKEW_MAX 86400u

typedef struct token_opts {
    const char *pubkey, *audience, *skew, *now;
} token_opts;

void cli_help_token(FILE *out)
{
    fputs("Usage: agentauthz token verify --pubkey KEY [--audience AUD] [--skew SECONDS]\n"
          "                               [--now UNIX] TOKEN\n"
          "\n"
          "Verifies a task token (aztk.v1.public....) offline with the engine's public\n"
          "key and prints its claims as one JSON object:\n"
          "{\"identity\":..,\"task\":..,\"session\":..,\"audience\":..,\"issuer\":..|null,\n"
          " \"parent\":..|null,\"iat\":N,\"exp\":N,\"tools\":[..]}\n"
          "\n"
          "KEY is the public key text that 'agentauthz keygen' printed (azpk1....) or\n"
          "the name of a file holding it. TOKEN is the token, or '-' to read it from\n"
          "standard input. --audience requires that audience. --skew tolerates that\n"
          "much clock difference (default 60, at most 86400). --now verifies at that\n"
          "Unix time instead of the system clock (for tests).\n"
          "\n"
          "A refused token prints 'error: invalid|expired|wrong audience|malformed:\n"
          "MESSAGE' on standard error (invalid: the signature does not verify).\n"
          "\n"
          "Exit status: 0 valid, 1 refused, 2 bad usage or an unusable KEY.\n",
          out);
}

static int set_once(const char **slot, const char *value, const char *name)
{
    if (*slot)
        return cli_usage("token verify: option '%s' given twice", name);
    *slot = value;
    return CLI_OK;
}

static int set_pubkey(void *c, const char *v)
{
    return set_once(&((token_opts *)c)->pubkey, v, "--pubkey");
}
static int set_audience(void *c, const char *v)
{
    return set_once(&((token_opts *)c)->audience, v, "--audience");
}
static int set_skew(void *c, const char *v)
{
    return set_once(&((token_opts *)c)->skew, v, "--skew");
}
static int set_now(void *c, const char *v)
{
    return set_once(&((token_opts *)c)->now, v, "--now");
}

static const cli_opt token_table[] = {
    {"--pubkey", 1, set_pubkey},
    {"--audience", 1, set_audience},
    {"--skew", 1, set_skew},
    {"--now", 1, set_now},
};

static void trim_space(const char *s, size_t *len)
{
    while (*len > 0 && (s[*len - 1] == '\n' || s[*len - 1] == '\r' || s[*len - 1] == ' ' ||
                        s[*len - 1] == '\t'))
        (*len)--;
}

/*
 * Reads a small file into buf (cap bytes, NUL-terminated). Returns 0, or -1
 * with errno set (EFBIG when it is not small).
 */
static int read_small(const char *path, char *buf, size_t cap, size_t *len)
{
    FILE *f = fopen(path, "rb");
    int saved;
    if (!f)
        return -1;
    *len = fread(buf, 1, cap, f);
    saved = ferror(f) ? (errno ? errno : EIO) : *len == cap ? EFBIG : 0;
    fclose(f);
    if (saved) {
        errno = saved;
        return -1;
    }
    buf[*len] = '\0';
    return 0;
}

static int parse_pubkey(const char *verb, const char *text, const char *from,
                        unsigned char pk[AGENTAUTHZ_PUBKEY_BYTES])
{
    agentauthz_error err;
    memset(&err, 0, sizeof err);
    if (agentauthz_pubkey_parse(text, pk, &err) == 0)
        return CLI_OK;
    /* The usual mistake is to give the key file itself, which holds secrets. */
    if (strncmp(text, "agentauthz-keys", 15) == 0)
        return cli_fatal("%s: --pubkey %s is a key file; give the public key that "
                         "'agentauthz keygen' printed instead",
                         verb, from);
    return cli_fatal("%s: --pubkey %s: %s", verb, from, err.message);
}

/* KEY is the public key text, or a file that holds it (and a newline). */
int cli_load_pubkey(const char *verb, const char *key, unsigned char pk[AGENTAUTHZ_PUBKEY_BYTES])
{
    char buf[PUBKEY_FILE_MAX + 1];
    size_t len = 0;
    int rc;
    if (strncmp(key, "azpk1.", 6) == 0)
        return parse_pubkey(verb, key, "text", pk);
    if (read_small(key, buf, PUBKEY_FILE_MAX, &len) != 0)
        return cli_fatal("%s: --pubkey %s: %s (give the public key text, azpk1...., "
                         "or a file holding it)",
                         verb, key,
                         errno == EFBIG ? "too large for a public key" : strerror(errno));
    trim_space(buf, &len);
    buf[len] = '\0';
    if (strlen(buf) != len)
        rc = cli_fatal("%s: --pubkey %s: the file holds a NUL byte", verb, key);
    else
        rc = parse_pubkey(verb, buf, key, pk);
    /* A key file given by mistake holds secrets: do not leave them on the stack. */
    explicit_bzero(buf, sizeof buf);
    return rc;
}

static void json_field(const char *key, const char *v)
{
    printf(",\"%s\":", key);
    if (v)
        cli_json_string(stdout, v, strlen(v));
    else
        fputs("null", stdout);
}

static void print_claims(const agentauthz_token_claims *c)
{
    fputs("{\"identity\":", stdout);
    cli_json_string(stdout, c->identity, strlen(c->identity));
    json_field("task", c->task);
    json_field("session", c->session);
    json_field("audience", c->audience);
    json_field("issuer", c->issuer);
    json_field("parent", c->parent);
    printf(",\"iat\":%" PRId64 ",\"exp\":%" PRId64 ",\"tools\":[", c->iat, c->exp);
    for (size_t i = 0; i < c->tools_count; i++) {
        if (i)
            fputc(',', stdout);
        cli_json_string(stdout, c->tools[i], strlen(c->tools[i]));
    }
    fputs("]}\n", stdout);
}

/* What a refusal is called on the error line; NULL when it is not a refusal. */
static const char *refusal(int code)
{
    switch (code) {
    case AGENTAUTHZ_ESIGNATURE:
        return "invalid";
    case AGENTAUTHZ_EEXPIRED:
        return "expired";
    case AGENTAUTHZ_EAUDIENCE:
        return "wrong audience";
    case AGENTAUTHZ_ETOKEN:
        return "malformed";
    default:
        return NULL;
    }
}

static int verify(const unsigned char *pk, const char *token, size_t len,
                  const agentauthz_token_verify_options *vo)
{
    agentauthz_token_claims *claims = NULL;
    agentauthz_error err;
    const char *why;
    int rc;
    memset(&err, 0, sizeof err);
    rc = agentauthz_token_verify(pk, token, len, vo, &claims, &err);
    if (rc == 0) {
        print_claims(claims);
        agentauthz_token_claims_free(claims);
        return CLI_OK;
    }
    /* The library's messages never quote the token, so they are safe to print. */
    why = refusal(rc);
    if (!why)
        return cli_fatal("token verify: %s",
                         err.message[0] ? err.message : agentauthz_strerror(rc));
    fprintf(stderr, "error: %s: %s\n", why, err.message[0] ? err.message : agentauthz_strerror(rc));
    return CLI_FAIL;
}

/* TOKEN is the text itself, or "-" for standard input (one line). */
static int run_verify(const token_opts *o, const char *arg,
                      const agentauthz_token_verify_options *vo)
{
    unsigned char pk[AGENTAUTHZ_PUBKEY_BYTES];
    char *text = NULL;
    size_t len;
    int rc = cli_load_pubkey("token verify", o->pubkey, pk);
    if (rc != CLI_OK)
        return rc;
    if (strcmp(arg, "-") != 0)
        return verify(pk, arg, strlen(arg), vo);
    if (cli_read_file("-", &text, &len) != 0)
        return cli_fatal("token verify: standard input: %s",
                         errno == EFBIG ? "too large" : strerror(errno));
    trim_space(text, &len);
    rc = verify(pk, text, len, vo);
    /* A token is a bearer credential: wiped before its buffer is freed. */
    explicit_bzero(text, len);
    free(text);
    return rc;
}

static int make_options(const token_opts *o, agentauthz_token_verify_options *vo)
{
    uint64_t v = 0;
    vo->audience = o->audience;
    if (o->skew) {
        if (cli_parse_uint(o->skew, SKEW_MAX, &v) != 0)
            return cli_usage("token verify: --skew must be 0 to %u seconds, got '%s'", SKEW_MAX,
                             o->skew);
        vo->skew = (uint32_t)v;
    }
    if (o->now) {
        /* 0 would mean "the system clock" to the library: refuse it rather than surprise. */
        if (cli_parse_uint(o->now, UNIX_MAX, &v) != 0 || v == 0)
            return cli_usage("token verify: --now must be a Unix time from 1 to 2^53-1, "
                             "got '%s'",
                             o->now);
        vo->now = (int64_t)v;
    }
    return CLI_OK;
}

static int token_verify(int argc, char **argv)
{
    token_opts o;
    agentauthz_token_verify_options vo = AGENTAUTHZ_TOKEN_VERIFY_OPTIONS_INIT;
    cli_common common = CLI_COMMON_INIT(0);
    int rc;
    memset(&o, 0, sizeof o);
    rc = cli_parse_options(argc, argv, token_table, sizeof token_table / sizeof token_table[0], &o,
                           &common, cli_help_token);
    if (rc == CLI_OK && !o.pubkey)
        rc = cli_usage("token verify: missing --pubkey KEY");
    if (rc == CLI_OK && common.nargs != 1)
        rc =
            cli_usage("token verify: expected one TOKEN (or '-'), got %zu arguments", common.nargs);
    if (rc == CLI_OK)
        rc = make_options(&o, &vo);
    if (rc == CLI_OK)
        rc = run_verify(&o, common.args[0], &vo);
    cli_common_free(&common);
    return rc == CLI_HELP_SHOWN ? CLI_OK : rc;
}

int cli_cmd_token(int argc, char **argv)
{
    return cli_run_verb(argc, argv, "verify", token_verify, cli_help_token);
}

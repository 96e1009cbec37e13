/*
 * agentauthz token verify (--pubkey KEY | --jwks FILE) [--audience AUD] TOKEN:
 * verifies a task token (a JWT) offline and prints its claims as JSON, or
 * why it is refused. agentauthz token sign: signs the claims it is given
 * with a key file's signing key, for tests and scripts.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "cli.h"

/* A public key file holds one line of 49 characters; anything bigger is not one. */
#define PUBKEY_FILE_MAX 4096
/* Token times are integers below 2^53 (the token format's bound). */
#define UNIX_MAX 9007199254740991u
#define SKEW_MAX 86400u

typedef struct token_opts {
    const char *pubkey, *jwks, *audience, *skew, *now;
} token_opts;

void cli_help_token(FILE *out)
{
    fputs("Usage: agentauthz token verify (--pubkey KEY | --jwks FILE) [--audience AUD]\n"
          "                               [--skew SECONDS] [--now UNIX] TOKEN\n"
          "       agentauthz token sign --keys FILE --identity ID --task TASK --audience AUD\n"
          "                             [--ttl DURATION] [--tool NAME]... [--issuer NAME]\n"
          "                             [--parent ID] [--session ID] [--params JSON]\n"
          "                             [--now UNIX]\n"
          "\n"
          "verify checks a task token (a JWT signed with EdDSA, typ txntoken+jwt)\n"
          "offline with the engine's public key and prints its claims as one JSON\n"
          "object, with the token's own claim names:\n"
          "{\"iss\":..,\"sub\":..,\"aud\":..,\"iat\":N,\"exp\":N,\"txn\":..,\"scope\":..,\n"
          " \"tctx\":{\"tools\":[..],\"parent\":..,\"params\":{..}}}\n"
          "(iss, parent and params only when the token has them).\n"
          "\n"
          "KEY is the public key text that 'agentauthz keygen' printed (azpk1....) or\n"
          "the name of a file holding it; FILE is a JWK Set ('agentauthz keys jwks').\n"
          "TOKEN is the token, or '-' to read it from standard input. --audience\n"
          "requires that audience. --skew tolerates that much clock difference\n"
          "(default 60, at most 86400). --now verifies at that Unix time instead of\n"
          "the system clock (for tests).\n"
          "\n"
          "A refused token prints 'error: REASON: MESSAGE' on standard error, REASON\n"
          "one of invalid (the signature does not verify), expired, wrong audience,\n"
          "algorithm refused, unknown key, wrong type, too large, malformed.\n"
          "\n"
          "sign signs exactly the claims it is given with the signing key of the key\n"
          "file (no policy is consulted: the verifier's own policy decides what the\n"
          "identity and task may do) and prints the token. --ttl is the lifetime\n"
          "(default 5m), --tool adds a tool name or glob, --params a JSON object of\n"
          "task parameters; --session is the txn claim (default: 32 random hex\n"
          "digits); --now is the issue time (default: the system clock).\n"
          "\n"
          "Exit status: 0 valid or signed, 1 refused, 2 bad usage or an unusable KEY,\n"
          "FILE or key file.\n",
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
static int set_jwks(void *c, const char *v)
{
    return set_once(&((token_opts *)c)->jwks, v, "--jwks");
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
    {"--jwks", 1, set_jwks},
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

static void json_member(const char *key, const char *v)
{
    printf(",\"%s\":", key);
    cli_json_string(stdout, v, strlen(v));
}

/* The claims as the token holds them: the same names, order and omissions. */
static void print_claims(const agentauthz_token_claims *c)
{
    fputc('{', stdout);
    if (c->issuer) {
        fputs("\"iss\":", stdout);
        cli_json_string(stdout, c->issuer, strlen(c->issuer));
        fputc(',', stdout);
    }
    fputs("\"sub\":", stdout);
    cli_json_string(stdout, c->identity, strlen(c->identity));
    json_member("aud", c->audience);
    printf(",\"iat\":%" PRId64 ",\"exp\":%" PRId64, c->iat, c->exp);
    json_member("txn", c->session);
    json_member("scope", c->task);
    fputs(",\"tctx\":{\"tools\":[", stdout);
    for (size_t i = 0; i < c->tools_count; i++) {
        if (i)
            fputc(',', stdout);
        cli_json_string(stdout, c->tools[i], strlen(c->tools[i]));
    }
    fputc(']', stdout);
    if (c->parent)
        json_member("parent", c->parent);
    /* The library writes params as compact, valid JSON. */
    if (c->params)
        printf(",\"params\":%s", c->params);
    fputs("}}\n", stdout);
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
    case AGENTAUTHZ_EALGORITHM:
        return "algorithm refused";
    case AGENTAUTHZ_EKEYID:
        return "unknown key";
    case AGENTAUTHZ_ETOKENTYPE:
        return "wrong type";
    case AGENTAUTHZ_ELIMIT:
        return "too large";
    case AGENTAUTHZ_ETOKEN:
    case AGENTAUTHZ_EJSON:
        return "malformed";
    default:
        return NULL;
    }
}

static int verify(agentauthz_verifier *v, const char *token, size_t len, int64_t now)
{
    agentauthz_token_claims *claims = NULL;
    agentauthz_error err;
    const char *why;
    int rc;
    memset(&err, 0, sizeof err);
    rc = agentauthz_verifier_verify(v, token, len, now, &claims, &err);
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

/* A verifier (no cache: one token) for --pubkey or --jwks. */
static int make_verifier(const token_opts *o, const agentauthz_token_verify_options *vo,
                         agentauthz_verifier **v)
{
    unsigned char pk[AGENTAUTHZ_PUBKEY_BYTES];
    agentauthz_error err;
    char *text = NULL;
    size_t len = 0;
    int rc;
    memset(&err, 0, sizeof err);
    if (o->pubkey) {
        if ((rc = cli_load_pubkey("token verify", o->pubkey, pk)) != CLI_OK)
            return rc;
        rc = agentauthz_verifier_new(pk, vo, 0, v, &err);
    } else {
        if (cli_read_file(o->jwks, &text, &len) != 0)
            return cli_fatal("token verify: --jwks %s: %s", o->jwks,
                             errno == EFBIG ? "too large for a JWK Set" : strerror(errno));
        rc = agentauthz_verifier_new_jwks(text, len, vo, 0, v, &err);
        free(text);
        if (rc)
            return cli_fatal("token verify: --jwks %s: %s", o->jwks, err.message);
    }
    return rc ? cli_fatal("token verify: %s", err.message) : CLI_OK;
}

/* TOKEN is the text itself, or "-" for standard input (one line). */
static int run_verify(const token_opts *o, const char *arg,
                      const agentauthz_token_verify_options *vo)
{
    agentauthz_verifier *v = NULL;
    char *text = NULL;
    size_t len;
    int rc = make_verifier(o, vo, &v);
    if (rc != CLI_OK)
        return rc;
    if (strcmp(arg, "-") != 0) {
        rc = verify(v, arg, strlen(arg), vo->now);
    } else if (cli_read_file("-", &text, &len) != 0) {
        rc = cli_fatal("token verify: standard input: %s",
                       errno == EFBIG ? "too large" : strerror(errno));
    } else {
        trim_space(text, &len);
        rc = verify(v, text, len, vo->now);
        /* A token is a bearer credential: wiped before its buffer is freed. */
        explicit_bzero(text, len);
        free(text);
    }
    agentauthz_verifier_free(v);
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
    if (rc == CLI_OK && !o.pubkey == !o.jwks)
        rc = cli_usage(o.pubkey ? "token verify: give --pubkey KEY or --jwks FILE, not both"
                                : "token verify: missing --pubkey KEY (or --jwks FILE)");
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

/* ---- token sign ---- */

#define DEFAULT_TTL_S 300u

typedef struct sign_opts {
    const char *keys, *identity, *task, *audience, *ttl, *issuer, *parent, *session, *params,
        *now;
    const char **tools;
    size_t ntools;
} sign_opts;

#define SIGN_SETTER(field, flag)                                                               \
    static int sign_##field(void *c, const char *v)                                            \
    {                                                                                          \
        if (((sign_opts *)c)->field)                                                           \
            return cli_usage("token sign: option '%s' given twice", flag);                     \
        ((sign_opts *)c)->field = v;                                                           \
        return CLI_OK;                                                                         \
    }
SIGN_SETTER(keys, "--keys")
SIGN_SETTER(identity, "--identity")
SIGN_SETTER(task, "--task")
SIGN_SETTER(audience, "--audience")
SIGN_SETTER(ttl, "--ttl")
SIGN_SETTER(issuer, "--issuer")
SIGN_SETTER(parent, "--parent")
SIGN_SETTER(session, "--session")
SIGN_SETTER(params, "--params")
SIGN_SETTER(now, "--now")

static int sign_tool(void *c, const char *v)
{
    sign_opts *o = c;
    return cli_strv_push(&o->tools, &o->ntools, v, "--tool options");
}

static const cli_opt sign_table[] = {
    {"--keys", 1, sign_keys},         {"--identity", 1, sign_identity},
    {"--task", 1, sign_task},         {"--audience", 1, sign_audience},
    {"--ttl", 1, sign_ttl},           {"--tool", 1, sign_tool},
    {"--issuer", 1, sign_issuer},     {"--parent", 1, sign_parent},
    {"--session", 1, sign_session},   {"--params", 1, sign_params},
    {"--now", 1, sign_now},
};

/* iat and exp from --now and --ttl. */
static int sign_times(const sign_opts *o, agentauthz_token_claims *c)
{
    uint64_t now = 0, ttl_ns = (uint64_t)DEFAULT_TTL_S * 1000000000u;
    if (o->now && cli_parse_uint(o->now, UNIX_MAX, &now) != 0)
        return cli_usage("token sign: --now must be a Unix time from 0 to 2^53-1, got '%s'",
                         o->now);
    if (!o->now)
        now = (uint64_t)time(NULL);
    if (o->ttl && cli_parse_duration(o->ttl, strlen(o->ttl), &ttl_ns) != 0)
        return cli_usage("token sign: --ttl must be a duration (90s, 15m, 2h, 1d), got '%s'",
                         o->ttl);
    if (ttl_ns / 1000000000u > UNIX_MAX - now)
        return cli_usage("token sign: --ttl reaches past 2^53-1 seconds");
    c->iat = (int64_t)now;
    c->exp = (int64_t)(now + ttl_ns / 1000000000u);
    return CLI_OK;
}

/* A fresh session id as the engine makes them: 32 hex digits. */
static int random_session(char out[33])
{
    unsigned char b[16];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b)
        return cli_fatal("token sign: no randomness for a session id: %s", strerror(errno));
    for (size_t i = 0; i < sizeof b; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
    return CLI_OK;
}

static int sign_run(const sign_opts *o)
{
    agentauthz_token_claims c;
    agentauthz_keys *k = NULL;
    agentauthz_error err;
    char sid[33], *token = NULL;
    int code = 0, rc;
    memset(&c, 0, sizeof c);
    memset(&err, 0, sizeof err);
    if ((rc = sign_times(o, &c)) != CLI_OK)
        return rc;
    if (!o->session && (rc = random_session(sid)) != CLI_OK)
        return rc;
    c.identity = (char *)o->identity;
    c.task = (char *)o->task;
    c.audience = (char *)o->audience;
    c.session = (char *)(o->session ? o->session : sid);
    c.issuer = (char *)o->issuer;
    c.parent = (char *)o->parent;
    c.params = (char *)o->params;
    c.tools = (char **)o->tools;
    c.tools_count = o->ntools;
    if (cli_keys_load(o->keys, &k, &code) != 0)
        return CLI_USAGE;
    rc = agentauthz_token_sign(k, &c, &token, &err);
    agentauthz_keys_free(k);
    if (rc)
        return cli_fatal("token sign: %s", err.message);
    printf("%s\n", token);
    explicit_bzero(token, strlen(token));
    agentauthz_free(token);
    return CLI_OK;
}

static int token_sign(int argc, char **argv)
{
    sign_opts o;
    cli_common common = CLI_COMMON_INIT(0);
    int rc;
    memset(&o, 0, sizeof o);
    rc = cli_parse_options(argc, argv, sign_table, sizeof sign_table / sizeof sign_table[0], &o,
                           &common, cli_help_token);
    if (rc == CLI_OK && common.nargs != 0)
        rc = cli_usage("token sign: unexpected argument '%s'", common.args[0]);
    if (rc == CLI_OK && (!o.keys || !o.identity || !o.task || !o.audience))
        rc = cli_usage("token sign: needs --keys FILE, --identity ID, --task TASK and "
                       "--audience AUD");
    if (rc == CLI_OK)
        rc = sign_run(&o);
    free(o.tools);
    cli_common_free(&common);
    return rc == CLI_HELP_SHOWN ? CLI_OK : rc;
}

int cli_cmd_token(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "sign") == 0)
        return token_sign(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "verify") != 0 && argv[1][0] != '-')
        return cli_usage("token: unknown subcommand '%s' (expected verify or sign)", argv[1]);
    return cli_run_verb(argc, argv, "verify", token_verify, cli_help_token);
}

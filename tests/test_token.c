/* Task tokens: signing, verification, tampering, time, audience, hostile input, the verifier. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "internal.h"
#include "agentauthz/secrets.h"

#define IAT 1700000000
#define EXP (IAT + 3600)

static agentauthz_keys *keys;
static unsigned char pk[32];

static void setup(void)
{
    ck_assert_int_eq(agentauthz_keys_generate(&keys, NULL), 0);
    ck_assert_int_eq(agentauthz_keys_public_raw(keys, pk), 0);
}

static void teardown(void)
{
    agentauthz_keys_free(keys);
    keys = NULL;
}

static char *tools2[] = {"read_ticket", "send_email"};

static agentauthz_token_claims sample(void)
{
    agentauthz_token_claims c = {0};
    c.identity = "spiffe://corp.example/agents/support/7";
    c.task = "triage-ticket";
    c.session = "0123456789abcdef0123456789abcdef";
    c.audience = "ticket-service";
    c.iat = IAT;
    c.exp = EXP;
    c.tools = tools2;
    c.tools_count = 2;
    return c;
}

static agentauthz_token_verify_options opts_at(int64_t now, const char *aud)
{
    agentauthz_token_verify_options o = AGENTAUTHZ_TOKEN_VERIFY_OPTIONS_INIT;
    o.now = now;
    o.audience = aud;
    o.skew = 60;
    return o;
}

static char *sign(const agentauthz_token_claims *c)
{
    char *t = NULL;
    agentauthz_error err;
    ck_assert_msg(agentauthz_token_sign(keys, c, &t, &err) == 0, "%s", err.message);
    ck_assert_ptr_nonnull(t);
    return t;
}

static int verify_at(const char *t, size_t len, int64_t now, const char *aud,
                     agentauthz_token_claims **out, agentauthz_error *err)
{
    agentauthz_token_verify_options o = opts_at(now, aud);
    return agentauthz_token_verify(pk, t, len, &o, out, err);
}

static int verify_str(const char *t, int64_t now)
{
    return verify_at(t, strlen(t), now, NULL, NULL, NULL);
}

/* A token over an arbitrary payload, signed with the test keys, for claim checks. */
static char *sign_raw(const char *payload)
{
    size_t plen = strlen(payload), mlen = 15 + plen;
    unsigned char *msg = malloc(mlen), sig[64];
    char *t = malloc(15 + plen * 2 + 100);
    size_t at;
    ck_assert_ptr_nonnull(msg);
    ck_assert_ptr_nonnull(t);
    memcpy(msg, "aztk.v1.public.", 15);
    memcpy(msg + 15, payload, plen);
    ck_assert_int_eq(az_keys_sign(keys, msg, mlen, sig), 0);
    memcpy(t, msg, 15);
    sodium_bin2base64(t + 15, plen * 2 + 4, (const unsigned char *)payload, plen,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    at = strlen(t);
    t[at++] = '.';
    sodium_bin2base64(t + at, 90, sig, 64, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    free(msg);
    return t;
}

START_TEST(test_round_trip)
{
    agentauthz_token_claims c = sample(), *got = NULL;
    agentauthz_error err;
    char *t = sign(&c);
    ck_assert(strncmp(t, "aztk.v1.public.", 15) == 0);
    ck_assert_ptr_null(strchr(strchr(t + 15, '.') + 1, '.'));
    ck_assert_uint_le(strlen(t), AGENTAUTHZ_TOKEN_MAX);
    ck_assert_int_eq(verify_at(t, strlen(t), IAT + 5, "ticket-service", &got, &err), 0);
    ck_assert_str_eq(got->identity, c.identity);
    ck_assert_str_eq(got->task, c.task);
    ck_assert_str_eq(got->session, c.session);
    ck_assert_str_eq(got->audience, c.audience);
    ck_assert_ptr_null(got->issuer);
    ck_assert_ptr_null(got->parent);
    ck_assert_int_eq(got->iat, IAT);
    ck_assert_int_eq(got->exp, EXP);
    ck_assert_uint_eq(got->tools_count, 2);
    ck_assert_str_eq(got->tools[0], "read_ticket");
    ck_assert_str_eq(got->tools[1], "send_email");
    agentauthz_token_claims_free(got);
    /* out may be NULL: verify only. */
    ck_assert_int_eq(verify_at(t, strlen(t), IAT + 5, NULL, NULL, &err), 0);
    agentauthz_free(t);
}
END_TEST

START_TEST(test_round_trip_optional)
{
    agentauthz_token_claims c = sample(), *got = NULL;
    char *t;
    c.issuer = "engine-\"1\"\\\n\xc3\xa9";
    c.parent = "parent-session";
    c.tools = NULL;
    c.tools_count = 0;
    c.exp = c.iat; /* a token valid for one instant (plus skew) */
    t = sign(&c);
    ck_assert_int_eq(verify_at(t, strlen(t), IAT, NULL, &got, NULL), 0);
    ck_assert_str_eq(got->issuer, c.issuer);
    ck_assert_str_eq(got->parent, "parent-session");
    ck_assert_uint_eq(got->tools_count, 0);
    agentauthz_token_claims_free(got);
    agentauthz_free(t);
}
END_TEST

/* Replaces the character at i with another base64url character. */
static void flip(char *t, size_t i)
{
    t[i] = t[i] == 'A' ? 'B' : 'A';
}

START_TEST(test_tamper)
{
    agentauthz_token_claims c = sample();
    char *t = sign(&c), *u;
    size_t len = strlen(t), dot = (size_t)(strrchr(t, '.') - t);
    for (size_t i = 0; i < len; i++) {
        char *m = strdup(t);
        int rc;
        ck_assert_ptr_nonnull(m);
        if (i < 15 && m[i] == '.')
            m[i] = '_';
        else if (i < 15)
            m[i] ^= 0x20;
        else if (i == dot)
            m[i] = 'A';
        else
            flip(m, i);
        rc = verify_str(m, IAT + 1);
        if (i < 15 || i == dot)
            ck_assert_msg(rc == AGENTAUTHZ_ETOKEN, "header byte %zu: %d", i, rc);
        else
            /* The last character of each part may become non-canonical. */
            ck_assert_msg(rc == AGENTAUTHZ_ESIGNATURE || rc == AGENTAUTHZ_ETOKEN,
                          "byte %zu: %d", i, rc);
        if (i > 15 && i + 2 < dot)
            ck_assert_msg(rc == AGENTAUTHZ_ESIGNATURE, "payload byte %zu: %d", i, rc);
        free(m);
    }
    /* Another token's payload under this token's signature, and the reverse. */
    c.task = "other-task";
    u = sign(&c);
    {
        size_t udot = (size_t)(strrchr(u, '.') - u);
        char swapped[2 * AGENTAUTHZ_TOKEN_MAX];
        snprintf(swapped, sizeof swapped, "%.*s%s", (int)udot, u, t + dot);
        ck_assert_int_eq(verify_str(swapped, IAT + 1), AGENTAUTHZ_ESIGNATURE);
        snprintf(swapped, sizeof swapped, "%.*s%s", (int)dot, t, u + udot);
        ck_assert_int_eq(verify_str(swapped, IAT + 1), AGENTAUTHZ_ESIGNATURE);
        /* The signature does not move to another version or purpose. */
        snprintf(swapped, sizeof swapped, "aztk.v2.public.%s", t + 15);
        ck_assert_int_eq(verify_str(swapped, IAT + 1), AGENTAUTHZ_ETOKEN);
        snprintf(swapped, sizeof swapped, "aztk.v1.local.%s", t + 15);
        ck_assert_int_eq(verify_str(swapped, IAT + 1), AGENTAUTHZ_ETOKEN);
    }
    ck_assert_int_eq(verify_str(u, IAT + 1), 0);
    /* Another key. */
    {
        unsigned char other[32], osk[64];
        agentauthz_token_verify_options o = opts_at(IAT + 1, NULL);
        crypto_sign_keypair(other, osk);
        ck_assert_int_eq(agentauthz_token_verify(other, t, len, &o, NULL, NULL),
                         AGENTAUTHZ_ESIGNATURE);
    }
    agentauthz_free(t);
    agentauthz_free(u);
}
END_TEST

START_TEST(test_time)
{
    agentauthz_token_claims c = sample();
    char *t = sign(&c);
    agentauthz_error err;
    size_t len = strlen(t);
    ck_assert_int_eq(verify_at(t, len, EXP, NULL, NULL, &err), 0);
    ck_assert_int_eq(verify_at(t, len, EXP + 60, NULL, NULL, &err), 0);
    ck_assert_int_eq(verify_at(t, len, EXP + 61, NULL, NULL, &err), AGENTAUTHZ_EEXPIRED);
    ck_assert_int_eq(err.code, AGENTAUTHZ_EEXPIRED);
    ck_assert_int_eq(verify_at(t, len, EXP + 100000, NULL, NULL, &err), AGENTAUTHZ_EEXPIRED);
    ck_assert_int_eq(verify_at(t, len, IAT - 60, NULL, NULL, &err), 0);
    ck_assert_int_eq(verify_at(t, len, IAT - 61, NULL, NULL, &err), AGENTAUTHZ_ETOKEN);
    ck_assert_ptr_nonnull(strstr(err.message, "not valid yet"));
    /* Zero skew. */
    {
        agentauthz_token_verify_options o = opts_at(EXP + 1, NULL);
        o.skew = 0;
        ck_assert_int_eq(agentauthz_token_verify(pk, t, len, &o, NULL, NULL), AGENTAUTHZ_EEXPIRED);
        o.now = IAT - 1;
        ck_assert_int_eq(agentauthz_token_verify(pk, t, len, &o, NULL, NULL), AGENTAUTHZ_ETOKEN);
        o.now = IAT;
        ck_assert_int_eq(agentauthz_token_verify(pk, t, len, &o, NULL, NULL), 0);
        o.skew = 86401;
        ck_assert_int_eq(agentauthz_token_verify(pk, t, len, &o, NULL, NULL), AGENTAUTHZ_EINVAL);
        o.skew = 0;
        o.version = 99;
        ck_assert_int_eq(agentauthz_token_verify(pk, t, len, &o, NULL, NULL), AGENTAUTHZ_EINVAL);
        o.version = AGENTAUTHZ_TOKEN_VERIFY_OPTIONS_VERSION;
        o.now = -5;
        ck_assert_int_eq(agentauthz_token_verify(pk, t, len, &o, NULL, NULL), AGENTAUTHZ_EINVAL);
    }
    /* now == 0 reads the system clock; opt == NULL takes the defaults. */
    agentauthz_free(t);
    c.iat = (int64_t)time(NULL) - 10;
    c.exp = c.iat + 600;
    t = sign(&c);
    ck_assert_int_eq(verify_at(t, strlen(t), 0, NULL, NULL, NULL), 0);
    ck_assert_int_eq(agentauthz_token_verify(pk, t, strlen(t), NULL, NULL, NULL), 0);
    ck_assert_int_eq(verify_str(t, c.exp + 61), AGENTAUTHZ_EEXPIRED);
    agentauthz_free(t);
}
END_TEST

START_TEST(test_audience)
{
    agentauthz_token_claims c = sample(), *got = (agentauthz_token_claims *)&got;
    char *t = sign(&c);
    agentauthz_error err;
    ck_assert_int_eq(verify_at(t, strlen(t), IAT, "ticket-service", NULL, NULL), 0);
    ck_assert_int_eq(verify_at(t, strlen(t), IAT, "billing-service", &got, &err),
                     AGENTAUTHZ_EAUDIENCE);
    ck_assert_ptr_null(got);
    ck_assert_int_eq(err.code, AGENTAUTHZ_EAUDIENCE);
    ck_assert_int_eq(verify_at(t, strlen(t), IAT, "ticket-servic", NULL, NULL),
                     AGENTAUTHZ_EAUDIENCE);
    ck_assert_int_eq(verify_at(t, strlen(t), IAT, "", NULL, NULL), AGENTAUTHZ_EAUDIENCE);
    /* An expired token for another audience reports the expiry. */
    ck_assert_int_eq(verify_at(t, strlen(t), EXP + 61, "x", NULL, NULL), AGENTAUTHZ_EEXPIRED);
    agentauthz_free(t);
}
END_TEST

START_TEST(test_malformed)
{
    agentauthz_token_claims c = sample();
    char *t = sign(&c), buf[AGENTAUTHZ_TOKEN_MAX + 64];
    size_t len = strlen(t), dot = (size_t)(strrchr(t, '.') - t);
    agentauthz_error err;
    char *huge;
    /* Every truncation fails, with a frame error or a bad signature, never success. */
    for (size_t i = 0; i < len; i++) {
        int rc = verify_at(t, i, IAT, NULL, NULL, &err);
        ck_assert_msg(rc == AGENTAUTHZ_ETOKEN || rc == AGENTAUTHZ_ESIGNATURE, "cut %zu: %d", i, rc);
        ck_assert_ptr_null(strstr(err.message, "aztk.v1.public.ey"));
    }
    ck_assert_int_eq(verify_at("", 0, IAT, NULL, NULL, NULL), AGENTAUTHZ_ETOKEN);
    ck_assert_int_eq(verify_at(NULL, 0, IAT, NULL, NULL, NULL), AGENTAUTHZ_ETOKEN);
    ck_assert_int_eq(verify_at(NULL, 5, IAT, NULL, NULL, NULL), AGENTAUTHZ_EINVAL);
    /* Extra dots, anywhere. */
    snprintf(buf, sizeof buf, "%s.", t);
    ck_assert_int_eq(verify_str(buf, IAT), AGENTAUTHZ_ETOKEN);
    snprintf(buf, sizeof buf, "%.*s.%s", (int)dot, t, t + dot);
    ck_assert_int_eq(verify_str(buf, IAT), AGENTAUTHZ_ETOKEN);
    snprintf(buf, sizeof buf, "aztk.v1.public..%s", t + 15);
    ck_assert_int_eq(verify_str(buf, IAT), AGENTAUTHZ_ETOKEN);
    /* Bad base64: padding, standard alphabet, spaces, a NUL inside. */
    snprintf(buf, sizeof buf, "%.*s=%s", (int)dot, t, t + dot);
    ck_assert_int_eq(verify_str(buf, IAT), AGENTAUTHZ_ETOKEN);
    snprintf(buf, sizeof buf, "%s", t);
    buf[20] = '+';
    ck_assert_int_eq(verify_str(buf, IAT), AGENTAUTHZ_ETOKEN);
    buf[20] = ' ';
    ck_assert_int_eq(verify_str(buf, IAT), AGENTAUTHZ_ETOKEN);
    buf[20] = '\0';
    ck_assert_int_eq(verify_at(buf, len, IAT, NULL, NULL, NULL), AGENTAUTHZ_ETOKEN);
    snprintf(buf, sizeof buf, "%s", t);
    buf[len - 3] = '*';
    ck_assert_int_eq(verify_str(buf, IAT), AGENTAUTHZ_ETOKEN);
    /* Signature of the wrong length. */
    snprintf(buf, sizeof buf, "%sAAAA", t);
    ck_assert_int_eq(verify_str(buf, IAT), AGENTAUTHZ_ETOKEN);
    /* Huge: over the bound, without reading past it. */
    huge = malloc(1u << 20);
    ck_assert_ptr_nonnull(huge);
    memset(huge, 'A', 1u << 20);
    memcpy(huge, t, len);
    ck_assert_int_eq(verify_at(huge, AGENTAUTHZ_TOKEN_MAX + 1, IAT, NULL, NULL, &err),
                     AGENTAUTHZ_ETOKEN);
    ck_assert_int_eq(verify_at(huge, 1u << 20, IAT, NULL, NULL, &err), AGENTAUTHZ_ETOKEN);
    free(huge);
    ck_assert_int_eq(agentauthz_token_verify(NULL, t, len, NULL, NULL, NULL), AGENTAUTHZ_EINVAL);
    agentauthz_free(t);
}
END_TEST

/* Payloads the engine might have signed wrongly: all refused after the signature. */
static const char *bad_payloads[] = {
    "",
    "not json",
    "[]",
    "\"str\"",
    "{}",
    "{\"v\":1,\"sub\":\"a\",\"task\":\"t\",\"sid\":\"s\",\"aud\":\"x\",\"iat\":1,\"exp\":2,"
    "\"tools\":[]}",
    "{\"v\":2,\"sub\":\"a\",\"task\":\"t\",\"sid\":\"s\",\"aud\":\"x\",\"iat\":1,\"exp\":2,"
    "\"tools\":[],\"parent\":null}",
    "{\"v\":1,\"sub\":\"a\",\"task\":\"t\",\"sid\":\"s\",\"aud\":\"x\",\"iat\":1,\"exp\":2,"
    "\"tools\":[],\"parent\":null,\"admin\":true}",
    "{\"v\":1,\"sub\":\"\",\"task\":\"t\",\"sid\":\"s\",\"aud\":\"x\",\"iat\":1,\"exp\":2,"
    "\"tools\":[],\"parent\":null}",
    "{\"v\":1,\"sub\":\"a\\u0000b\",\"task\":\"t\",\"sid\":\"s\",\"aud\":\"x\",\"iat\":1,"
    "\"exp\":2,\"tools\":[],\"parent\":null}",
    "{\"v\":1,\"sub\":7,\"task\":\"t\",\"sid\":\"s\",\"aud\":\"x\",\"iat\":1,\"exp\":2,"
    "\"tools\":[],\"parent\":null}",
    "{\"v\":1,\"sub\":\"a\",\"task\":\"t\",\"sid\":\"s\",\"aud\":\"x\",\"iat\":1.5,\"exp\":2,"
    "\"tools\":[],\"parent\":null}",
    "{\"v\":1,\"sub\":\"a\",\"task\":\"t\",\"sid\":\"s\",\"aud\":\"x\",\"iat\":-1,\"exp\":2,"
    "\"tools\":[],\"parent\":null}",
    "{\"v\":1,\"sub\":\"a\",\"task\":\"t\",\"sid\":\"s\",\"aud\":\"x\",\"iat\":3,\"exp\":2,"
    "\"tools\":[],\"parent\":null}",
    "{\"v\":1,\"sub\":\"a\",\"task\":\"t\",\"sid\":\"s\",\"aud\":\"x\",\"iat\":1,"
    "\"exp\":9007199254740992,\"tools\":[],\"parent\":null}",
    "{\"v\":1,\"sub\":\"a\",\"task\":\"t\",\"sid\":\"s\",\"aud\":\"x\",\"iat\":1,\"exp\":\"2\","
    "\"tools\":[],\"parent\":null}",
    "{\"v\":1,\"sub\":\"a\",\"task\":\"t\",\"sid\":\"s\",\"aud\":\"x\",\"iat\":1,\"exp\":2,"
    "\"tools\":\"x\",\"parent\":null}",
    "{\"v\":1,\"sub\":\"a\",\"task\":\"t\",\"sid\":\"s\",\"aud\":\"x\",\"iat\":1,\"exp\":2,"
    "\"tools\":[\"\"],\"parent\":null}",
    "{\"v\":1,\"sub\":\"a\",\"task\":\"t\",\"sid\":\"s\",\"aud\":\"x\",\"iat\":1,\"exp\":2,"
    "\"tools\":[1],\"parent\":null}",
    "{\"v\":1,\"sub\":\"a\",\"task\":\"t\",\"sid\":\"s\",\"aud\":\"x\",\"iat\":1,\"exp\":2,"
    "\"tools\":[],\"parent\":5}",
    "{\"v\":1,\"sub\":\"a\",\"task\":\"t\",\"sid\":\"s\",\"aud\":\"x\",\"iat\":1,\"exp\":2,"
    "\"tools\":[],\"parent\":\"\"}",
    "{\"v\":1,\"iss\":null,\"sub\":\"a\",\"task\":\"t\",\"sid\":\"s\",\"aud\":\"x\",\"iat\":1,"
    "\"exp\":2,\"tools\":[],\"parent\":null}",
    "{\"v\":1,\"sub\":\"a\",\"sub\":\"b\",\"task\":\"t\",\"sid\":\"s\",\"aud\":\"x\",\"iat\":1,"
    "\"exp\":2,\"tools\":[],\"parent\":null}",
    "{\"v\":1,\"sub\":\"a\",\"task\":\"t\",\"sid\":\"s\",\"aud\":\"x\",\"iat\":1,\"exp\":2,"
    "\"tools\":[],\"parent\":null} x",
    "{\"v\":1,\"sub\":\"a\xff\",\"task\":\"t\",\"sid\":\"s\",\"aud\":\"x\",\"iat\":1,\"exp\":2,"
    "\"tools\":[],\"parent\":null}",
    "{\"v\":\"1\",\"sub\":\"a\",\"task\":\"t\",\"sid\":\"s\",\"aud\":\"x\",\"iat\":1,\"exp\":2,"
    "\"tools\":[],\"parent\":null}",
};

START_TEST(test_bad_claims)
{
    char *t = sign_raw(bad_payloads[_i]);
    agentauthz_error err;
    int rc = verify_at(t, strlen(t), 1, NULL, NULL, &err);
    ck_assert_msg(rc == AGENTAUTHZ_ETOKEN, "payload %d: %d %s", _i, rc, err.message);
    free(t);
}
END_TEST

START_TEST(test_good_raw_claims)
{
    /* The control for test_bad_claims: the same shape, correct, with whitespace. */
    char *t = sign_raw("{ \"parent\":\"p\", \"v\":1.0,\"sub\":\"a\",\"task\":\"t\",\"sid\":\"s\","
                       "\"aud\":\"x\",\"iat\":1,\"exp\":2e0,\"tools\":[\"a\",\"b\"],\"iss\":\"i\"}");
    agentauthz_token_claims *got = NULL;
    ck_assert_int_eq(verify_at(t, strlen(t), 1, "x", &got, NULL), 0);
    ck_assert_str_eq(got->parent, "p");
    ck_assert_str_eq(got->issuer, "i");
    ck_assert_int_eq(got->exp, 2);
    ck_assert_uint_eq(got->tools_count, 2);
    agentauthz_token_claims_free(got);
    free(t);
}
END_TEST

START_TEST(test_sign_refuses)
{
    agentauthz_token_claims c;
    char *t = (char *)&c, *many[AGENTAUTHZ_TOKEN_TOOLS_MAX + 1], *big;
    agentauthz_error err;
    c = sample();
    c.identity = NULL;
    ck_assert_int_eq(agentauthz_token_sign(keys, &c, &t, &err), AGENTAUTHZ_EINVAL);
    ck_assert_ptr_null(t);
    c = sample();
    c.audience = "";
    ck_assert_int_eq(agentauthz_token_sign(keys, &c, &t, &err), AGENTAUTHZ_EINVAL);
    c = sample();
    c.task = "bad\xc3";
    ck_assert_int_eq(agentauthz_token_sign(keys, &c, &t, &err), AGENTAUTHZ_EINVAL);
    c = sample();
    c.parent = "";
    ck_assert_int_eq(agentauthz_token_sign(keys, &c, &t, &err), AGENTAUTHZ_EINVAL);
    c = sample();
    c.exp = c.iat - 1;
    ck_assert_int_eq(agentauthz_token_sign(keys, &c, &t, &err), AGENTAUTHZ_EINVAL);
    c = sample();
    c.iat = -1;
    ck_assert_int_eq(agentauthz_token_sign(keys, &c, &t, &err), AGENTAUTHZ_EINVAL);
    c = sample();
    c.exp = INT64_MAX;
    ck_assert_int_eq(agentauthz_token_sign(keys, &c, &t, &err), AGENTAUTHZ_EINVAL);
    c = sample();
    c.tools = NULL;
    ck_assert_int_eq(agentauthz_token_sign(keys, &c, &t, &err), AGENTAUTHZ_EINVAL);
    c = sample();
    for (size_t i = 0; i <= AGENTAUTHZ_TOKEN_TOOLS_MAX; i++)
        many[i] = "t";
    c.tools = many;
    c.tools_count = AGENTAUTHZ_TOKEN_TOOLS_MAX + 1;
    ck_assert_int_eq(agentauthz_token_sign(keys, &c, &t, &err), AGENTAUTHZ_EINVAL);
    c.tools_count = AGENTAUTHZ_TOKEN_TOOLS_MAX;
    ck_assert_int_eq(agentauthz_token_sign(keys, &c, &t, &err), 0);
    ck_assert_int_eq(verify_str(t, IAT), 0);
    agentauthz_free(t);
    many[3] = "";
    ck_assert_int_eq(agentauthz_token_sign(keys, &c, &t, &err), AGENTAUTHZ_EINVAL);
    c = sample();
    big = malloc(7000);
    ck_assert_ptr_nonnull(big);
    memset(big, 'x', 6999);
    big[6999] = '\0';
    c.identity = big;
    ck_assert_int_eq(agentauthz_token_sign(keys, &c, &t, &err), AGENTAUTHZ_ELIMIT);
    ck_assert_ptr_null(t);
    /* The largest identity that fits gives a token of at most the bound, which verifies. */
    for (size_t n = 6000; n > 5000; n--) {
        big[n] = '\0';
        if (agentauthz_token_sign(keys, &c, &t, &err) == 0) {
            ck_assert_uint_le(strlen(t), AGENTAUTHZ_TOKEN_MAX);
            ck_assert_uint_gt(strlen(t), AGENTAUTHZ_TOKEN_MAX - 8);
            ck_assert_int_eq(verify_str(t, IAT), 0);
            agentauthz_free(t);
            break;
        }
        ck_assert_int_eq(err.code, AGENTAUTHZ_ELIMIT);
    }
    free(big);
    c = sample();
    ck_assert_int_eq(agentauthz_token_sign(NULL, &c, &t, &err), AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(agentauthz_token_sign(keys, NULL, &t, &err), AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(agentauthz_token_sign(keys, &c, NULL, &err), AGENTAUTHZ_EINVAL);
}
END_TEST

/* ---- the verifier ---- */

static agentauthz_verifier *new_verifier(size_t entries, const char *aud)
{
    agentauthz_verifier *v = NULL;
    agentauthz_token_verify_options o = opts_at(0, aud);
    ck_assert_int_eq(agentauthz_verifier_new(pk, &o, entries, &v, NULL), 0);
    return v;
}

START_TEST(test_verifier_cache)
{
    agentauthz_verifier *cached = new_verifier(64, "ticket-service");
    agentauthz_verifier *plain = new_verifier(0, "ticket-service");
    agentauthz_token_claims c = sample(), *got = NULL;
    char *t = sign(&c);
    ck_assert_int_eq(agentauthz_verifier_verify(cached, t, strlen(t), IAT, &got, NULL), 0);
    ck_assert_str_eq(got->session, c.session);
    agentauthz_token_claims_free(got);
    got = NULL;
    ck_assert_int_eq(agentauthz_verifier_verify(cached, t, strlen(t), IAT, &got, NULL), 0);
    ck_assert_str_eq(got->identity, c.identity);
    ck_assert_str_eq(got->tools[1], "send_email");
    ck_assert_int_eq(got->exp, EXP);
    agentauthz_token_claims_free(got);
    /*
     * A hit skips the signature check, so it must be the very token that was
     * verified: any other text, however close, is verified in full and
     * refused. (The speed of a hit is the benchmark's business.)
     */
    {
        size_t len = strlen(t);
        char *edited = malloc(len + 2);
        ck_assert_ptr_nonnull(edited);
        for (size_t at = 0; at < len; at += len / 7 + 1) {
            memcpy(edited, t, len + 1);
            edited[at] = edited[at] == 'A' ? 'B' : 'A';
            ck_assert_int_ne(agentauthz_verifier_verify(cached, edited, len, IAT, NULL, NULL), 0);
        }
        memcpy(edited, t, len + 1);
        edited[len] = 'A';
        edited[len + 1] = '\0';
        ck_assert_int_ne(agentauthz_verifier_verify(cached, edited, len + 1, IAT, NULL, NULL), 0);
        ck_assert_int_ne(agentauthz_verifier_verify(cached, t, len - 1, IAT, NULL, NULL), 0);
        free(edited);
    }
    ck_assert_int_eq(agentauthz_verifier_verify(cached, t, strlen(t), IAT, NULL, NULL), 0);
    ck_assert_int_eq(agentauthz_verifier_verify(plain, t, strlen(t), IAT, NULL, NULL), 0);
    agentauthz_verifier_free(cached);
    agentauthz_verifier_free(plain);
    agentauthz_free(t);
}
END_TEST

START_TEST(test_verifier_expiry)
{
    agentauthz_verifier *v = new_verifier(16, NULL);
    agentauthz_token_claims c = sample();
    char *t = sign(&c);
    size_t len = strlen(t);
    ck_assert_int_eq(agentauthz_verifier_verify(v, t, len, IAT + 1, NULL, NULL), 0);
    ck_assert_int_eq(agentauthz_verifier_verify(v, t, len, EXP + 60, NULL, NULL), 0);
    ck_assert_int_eq(agentauthz_verifier_verify(v, t, len, EXP + 61, NULL, NULL),
                     AGENTAUTHZ_EEXPIRED);
    ck_assert_int_eq(agentauthz_verifier_verify(v, t, len, EXP + 61, NULL, NULL),
                     AGENTAUTHZ_EEXPIRED);
    ck_assert_int_eq(agentauthz_verifier_verify(v, t, len, IAT + 1, NULL, NULL), 0);
    ck_assert_int_eq(agentauthz_verifier_verify(v, t, len, IAT - 61, NULL, NULL),
                     AGENTAUTHZ_ETOKEN);
    agentauthz_verifier_free(v);
    agentauthz_free(t);
}
END_TEST

START_TEST(test_verifier_revoke)
{
    agentauthz_verifier *v = new_verifier(16, NULL);
    agentauthz_token_claims c = sample();
    char *parent, *child, *other;
    agentauthz_error err;
    c.session = "parent-sid";
    parent = sign(&c);
    c.session = "child-sid";
    c.parent = "parent-sid";
    child = sign(&c);
    c.session = "other-sid";
    c.parent = NULL;
    other = sign(&c);
    ck_assert_int_eq(agentauthz_verifier_verify(v, parent, strlen(parent), IAT, NULL, NULL), 0);
    ck_assert_int_eq(agentauthz_verifier_verify(v, child, strlen(child), IAT, NULL, NULL), 0);
    ck_assert_int_eq(agentauthz_verifier_verify(v, other, strlen(other), IAT, NULL, NULL), 0);
    ck_assert_int_eq(agentauthz_verifier_revoke(v, "parent-sid"), 0);
    ck_assert_int_eq(agentauthz_verifier_revoke(v, "parent-sid"), 0);
    ck_assert_int_eq(agentauthz_verifier_verify(v, parent, strlen(parent), IAT, NULL, &err),
                     AGENTAUTHZ_ESESSION);
    ck_assert_int_eq(err.code, AGENTAUTHZ_ESESSION);
    ck_assert_int_eq(agentauthz_verifier_verify(v, child, strlen(child), IAT, NULL, NULL),
                     AGENTAUTHZ_ESESSION);
    ck_assert_int_eq(agentauthz_verifier_verify(v, other, strlen(other), IAT, NULL, NULL), 0);
    /* A revoked session is refused on the miss path too. */
    ck_assert_int_eq(agentauthz_verifier_revoke(v, "other-sid"), 0);
    {
        agentauthz_verifier *fresh = new_verifier(0, NULL);
        ck_assert_int_eq(agentauthz_verifier_revoke(fresh, "other-sid"), 0);
        ck_assert_int_eq(agentauthz_verifier_verify(fresh, other, strlen(other), IAT, NULL, NULL),
                         AGENTAUTHZ_ESESSION);
        agentauthz_verifier_free(fresh);
    }
    ck_assert_int_eq(agentauthz_verifier_verify(v, other, strlen(other), IAT, NULL, NULL),
                     AGENTAUTHZ_ESESSION);
    ck_assert_int_eq(agentauthz_verifier_revoke(v, NULL), AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(agentauthz_verifier_revoke(NULL, "x"), AGENTAUTHZ_EINVAL);
    agentauthz_verifier_free(v);
    agentauthz_free(parent);
    agentauthz_free(child);
    agentauthz_free(other);
}
END_TEST

START_TEST(test_verifier_revoke_bound)
{
    agentauthz_verifier *v = new_verifier(4, NULL);
    char id[32];
    for (unsigned i = 0; i < AGENTAUTHZ_VERIFIER_REVOKED_MAX; i++) {
        snprintf(id, sizeof id, "s%u", i);
        ck_assert_int_eq(agentauthz_verifier_revoke(v, id), 0);
    }
    ck_assert_int_eq(agentauthz_verifier_revoke(v, "one-more"), AGENTAUTHZ_ELIMIT);
    ck_assert_int_eq(agentauthz_verifier_revoke(v, "s7"), 0);
    agentauthz_verifier_free(v);
}
END_TEST

START_TEST(test_verifier_errors)
{
    agentauthz_verifier *v = new_verifier(1, "ticket-service"), *w = (agentauthz_verifier *)&w;
    agentauthz_token_verify_options o = opts_at(0, NULL);
    agentauthz_token_claims c = sample(), *got = (agentauthz_token_claims *)&got;
    char *a, *b, *bad;
    a = sign(&c);
    c.session = "second";
    b = sign(&c);
    c.audience = "elsewhere";
    bad = sign(&c);
    /* One slot: a and b keep replacing each other and both still verify. */
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(agentauthz_verifier_verify(v, a, strlen(a), IAT, NULL, NULL), 0);
        ck_assert_int_eq(agentauthz_verifier_verify(v, b, strlen(b), IAT, NULL, NULL), 0);
    }
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(agentauthz_verifier_verify(v, bad, strlen(bad), IAT, &got, NULL),
                         AGENTAUTHZ_EAUDIENCE);
        ck_assert_ptr_null(got);
    }
    bad[20] = bad[20] == 'A' ? 'B' : 'A';
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(agentauthz_verifier_verify(v, bad, strlen(bad), IAT, NULL, NULL),
                         AGENTAUTHZ_ESIGNATURE);
    ck_assert_int_eq(agentauthz_verifier_verify(v, a, AGENTAUTHZ_TOKEN_MAX + 1, IAT, NULL, NULL),
                     AGENTAUTHZ_ETOKEN);
    ck_assert_int_eq(agentauthz_verifier_verify(v, a, strlen(a), -1, NULL, NULL),
                     AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(agentauthz_verifier_verify(NULL, a, strlen(a), IAT, NULL, NULL),
                     AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(agentauthz_verifier_new(pk, &o, AGENTAUTHZ_VERIFIER_CACHE_MAX + 1, &w, NULL),
                     AGENTAUTHZ_EINVAL);
    ck_assert_ptr_null(w);
    o.version = 0;
    ck_assert_int_eq(agentauthz_verifier_new(pk, &o, 1, &w, NULL), AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(agentauthz_verifier_new(NULL, NULL, 1, &w, NULL), AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(agentauthz_verifier_new(pk, NULL, 1, &w, NULL), 0);
    agentauthz_verifier_free(w);
    agentauthz_verifier_free(NULL);
    agentauthz_verifier_free(v);
    agentauthz_free(a);
    agentauthz_free(b);
    agentauthz_free(bad);
}
END_TEST

#define NTOKENS 8

struct shared {
    agentauthz_verifier *v;
    char *tokens[NTOKENS];
    int failures;
    pthread_mutex_t lock;
};

static void *hammer(void *arg)
{
    struct shared *s = arg;
    int bad = 0;
    for (int i = 0; i < 3000; i++) {
        size_t k = (size_t)(i * 5 + 3) % NTOKENS;
        agentauthz_token_claims *got = NULL;
        int rc = agentauthz_verifier_verify(s->v, s->tokens[k], strlen(s->tokens[k]), IAT, &got,
                                            NULL);
        char want[16];
        snprintf(want, sizeof want, "sid-%zu", k);
        /* Session 0 is revoked before the threads start. */
        if (k == 0 ? rc != AGENTAUTHZ_ESESSION : (rc != 0 || strcmp(got->session, want) != 0))
            bad++;
        agentauthz_token_claims_free(got);
    }
    pthread_mutex_lock(&s->lock);
    s->failures += bad;
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

START_TEST(test_verifier_threads)
{
    struct shared s;
    pthread_t th[4];
    agentauthz_token_claims c = sample();
    char sid[NTOKENS][16];
    s.v = new_verifier(3, NULL); /* smaller than the token set: constant replacement */
    s.failures = 0;
    pthread_mutex_init(&s.lock, NULL);
    for (size_t i = 0; i < NTOKENS; i++) {
        snprintf(sid[i], sizeof sid[i], "sid-%zu", i);
        c.session = sid[i];
        s.tokens[i] = sign(&c);
    }
    ck_assert_int_eq(agentauthz_verifier_revoke(s.v, "sid-0"), 0);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, hammer, &s), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    ck_assert_int_eq(s.failures, 0);
    for (size_t i = 0; i < NTOKENS; i++)
        agentauthz_free(s.tokens[i]);
    agentauthz_verifier_free(s.v);
    pthread_mutex_destroy(&s.lock);
}
END_TEST

static Suite *token_suite(void)
{
    Suite *s = suite_create("token");
    TCase *tc = tcase_create("token");
    TCase *tv = tcase_create("verifier");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_checked_fixture(tv, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_set_timeout(tv, 120);
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_round_trip_optional);
    tcase_add_test(tc, test_tamper);
    tcase_add_test(tc, test_time);
    tcase_add_test(tc, test_audience);
    tcase_add_test(tc, test_malformed);
    tcase_add_loop_test(tc, test_bad_claims, 0,
                        (int)(sizeof bad_payloads / sizeof bad_payloads[0]));
    tcase_add_test(tc, test_good_raw_claims);
    tcase_add_test(tc, test_sign_refuses);
    tcase_add_test(tv, test_verifier_cache);
    tcase_add_test(tv, test_verifier_expiry);
    tcase_add_test(tv, test_verifier_revoke);
    tcase_add_test(tv, test_verifier_revoke_bound);
    tcase_add_test(tv, test_verifier_errors);
    tcase_add_test(tv, test_verifier_threads);
    suite_add_tcase(s, tc);
    suite_add_tcase(s, tv);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(token_suite());
    int failed;
    if (sodium_init() < 0)
        return EXIT_FAILURE;
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

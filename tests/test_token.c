/*
 * Task tokens (JWTs): signing, verification, tampering, time, audience, each refusal of a
 * hostile header or payload, the JWK Set, the verifier and its key sets.
 */
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

#define B64 sodium_base64_VARIANT_URLSAFE_NO_PADDING

/* base64url of n bytes, malloc'ed. */
static char *b64u(const void *p, size_t n)
{
    size_t cap = sodium_base64_ENCODED_LEN(n, B64);
    char *out = malloc(cap);
    ck_assert_ptr_nonnull(out);
    sodium_bin2base64(out, cap, (const unsigned char *)p, n, B64);
    return out;
}

/* Decodes base64url text of n characters into a new NUL-terminated string. */
static char *unb64u(const char *s, size_t n)
{
    char *out = malloc(n + 1);
    size_t got = 0;
    ck_assert_ptr_nonnull(out);
    ck_assert_int_eq(sodium_base642bin((unsigned char *)out, n, s, n, NULL, &got, NULL, B64), 0);
    out[got] = '\0';
    return out;
}

/* A compact JWS of the exact header and payload texts, signed with k (any header). */
static char *jws_with(const agentauthz_keys *k, const char *header, const char *payload)
{
    char *h = b64u(header, strlen(header)), *p = b64u(payload, strlen(payload)), *sig64;
    size_t len = strlen(h) + 1 + strlen(p);
    char *t = malloc(len + 100);
    unsigned char sig[64];
    ck_assert_ptr_nonnull(t);
    snprintf(t, len + 1, "%s.%s", h, p);
    ck_assert_int_eq(az_keys_sign(k, (const unsigned char *)t, len, sig), 0);
    sig64 = b64u(sig, sizeof sig);
    snprintf(t + len, 100, ".%s", sig64);
    free(h);
    free(p);
    free(sig64);
    return t;
}

/* The header the library writes for the test keys, in buf. */
static const char *good_header(char *buf, size_t cap)
{
    char kid[AGENTAUTHZ_KID_TEXT_MAX];
    ck_assert_int_eq(agentauthz_pubkey_kid(pk, kid, sizeof kid), 0);
    snprintf(buf, cap, "{\"alg\":\"EdDSA\",\"typ\":\"txntoken+jwt\",\"kid\":\"%s\"}", kid);
    return buf;
}

#define GOOD_PAYLOAD                                                                           \
    "{\"sub\":\"a\",\"aud\":\"x\",\"iat\":1,\"exp\":2,\"txn\":\"s\",\"scope\":\"t\","          \
    "\"tctx\":{\"tools\":[]}}"

/* A token over an arbitrary payload with the good header, for claim checks. */
static char *sign_raw(const char *payload)
{
    char h[160];
    return jws_with(keys, good_header(h, sizeof h), payload);
}

/* A token with an arbitrary header (%s: the test key's kid) over the good payload. */
static char *sign_header(const char *fmt)
{
    char kid[AGENTAUTHZ_KID_TEXT_MAX], h[2048];
    ck_assert_int_eq(agentauthz_pubkey_kid(pk, kid, sizeof kid), 0);
    snprintf(h, sizeof h, fmt, kid);
    return jws_with(keys, h, GOOD_PAYLOAD);
}

/* Verifies t at time 1 and checks the code; the message never quotes the token's parts. */
static void expect_refused(const char *t, int code, const char *why)
{
    agentauthz_error err;
    agentauthz_token_claims *got = (agentauthz_token_claims *)&got;
    const char *d1 = strchr(t, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    int rc;
    memset(&err, 0, sizeof err);
    rc = verify_at(t, strlen(t), 1, NULL, &got, &err);
    ck_assert_msg(rc == code, "%s: got %d (%s), want %d", why, rc, err.message, code);
    ck_assert_int_eq(err.code, code);
    ck_assert_ptr_null(got);
    ck_assert_msg(strstr(err.message, why) != NULL, "message \"%s\" lacks \"%s\"", err.message,
                  why);
    if (d1 && d1 - t > 8)
        ck_assert_ptr_null(strstr(err.message, "eyJ"));
    if (d2 && d2 - d1 > 8) {
        char part[9];
        memcpy(part, d1 + 1, 8);
        part[8] = '\0';
        ck_assert_ptr_null(strstr(err.message, part));
    }
}

START_TEST(test_round_trip)
{
    agentauthz_token_claims c = sample(), *got = NULL;
    agentauthz_error err;
    char *t = sign(&c), *hdr, *payload, want[160];
    const char *d1 = strchr(t, '.'), *d2 = strchr(d1 + 1, '.');
    ck_assert_ptr_null(strchr(d2 + 1, '.'));
    ck_assert_uint_le(strlen(t), AGENTAUTHZ_TOKEN_MAX);
    /* The exact header and payload texts of the format (secrets.h). */
    hdr = unb64u(t, (size_t)(d1 - t));
    ck_assert_str_eq(hdr, good_header(want, sizeof want));
    payload = unb64u(d1 + 1, (size_t)(d2 - d1 - 1));
    ck_assert_str_eq(payload, "{\"sub\":\"spiffe://corp.example/agents/support/7\","
                              "\"aud\":\"ticket-service\",\"iat\":1700000000,\"exp\":1700003600,"
                              "\"txn\":\"0123456789abcdef0123456789abcdef\","
                              "\"scope\":\"triage-ticket\","
                              "\"tctx\":{\"tools\":[\"read_ticket\",\"send_email\"]}}");
    ck_assert_uint_eq(strlen(d2 + 1), 86);
    ck_assert_int_eq(verify_at(t, strlen(t), IAT + 5, "ticket-service", &got, &err), 0);
    ck_assert_str_eq(got->identity, c.identity);
    ck_assert_str_eq(got->task, c.task);
    ck_assert_str_eq(got->session, c.session);
    ck_assert_str_eq(got->audience, c.audience);
    ck_assert_ptr_null(got->issuer);
    ck_assert_ptr_null(got->parent);
    ck_assert_ptr_null(got->params);
    ck_assert_int_eq(got->iat, IAT);
    ck_assert_int_eq(got->exp, EXP);
    ck_assert_uint_eq(got->tools_count, 2);
    ck_assert_str_eq(got->tools[0], "read_ticket");
    ck_assert_str_eq(got->tools[1], "send_email");
    agentauthz_token_claims_free(got);
    /* out may be NULL: verify only. */
    ck_assert_int_eq(verify_at(t, strlen(t), IAT + 5, NULL, NULL, &err), 0);
    free(hdr);
    free(payload);
    agentauthz_free(t);
}
END_TEST

START_TEST(test_round_trip_optional)
{
    agentauthz_token_claims c = sample(), *got = NULL;
    char *t, *payload;
    const char *d1, *d2;
    c.issuer = "engine-\"1\"\\\n\xc3\xa9";
    c.parent = "parent-session";
    c.params = " { \"ticket\" : \"T-1\", \"n\": 3.0, \"tags\": [\"a\", true, null] } ";
    c.tools = NULL;
    c.tools_count = 0;
    c.exp = c.iat; /* a token valid for one instant (plus skew) */
    t = sign(&c);
    d1 = strchr(t, '.');
    d2 = strchr(d1 + 1, '.');
    payload = unb64u(d1 + 1, (size_t)(d2 - d1 - 1));
    ck_assert_str_eq(payload, "{\"iss\":\"engine-\\\"1\\\"\\\\\\n\xc3\xa9\","
                              "\"sub\":\"spiffe://corp.example/agents/support/7\","
                              "\"aud\":\"ticket-service\",\"iat\":1700000000,\"exp\":1700000000,"
                              "\"txn\":\"0123456789abcdef0123456789abcdef\","
                              "\"scope\":\"triage-ticket\",\"tctx\":{\"tools\":[],"
                              "\"parent\":\"parent-session\","
                              "\"params\":{\"ticket\":\"T-1\",\"n\":3,\"tags\":[\"a\",true,null]}}}");
    ck_assert_int_eq(verify_at(t, strlen(t), IAT, NULL, &got, NULL), 0);
    ck_assert_str_eq(got->issuer, c.issuer);
    ck_assert_str_eq(got->parent, "parent-session");
    ck_assert_str_eq(got->params, "{\"ticket\":\"T-1\",\"n\":3,\"tags\":[\"a\",true,null]}");
    ck_assert_uint_eq(got->tools_count, 0);
    agentauthz_token_claims_free(got);
    agentauthz_free(t);
    free(payload);
    /* An empty params object is left out, as none. */
    c.params = "{}";
    t = sign(&c);
    ck_assert_int_eq(verify_at(t, strlen(t), IAT, NULL, &got, NULL), 0);
    ck_assert_ptr_null(got->params);
    agentauthz_token_claims_free(got);
    agentauthz_free(t);
}
END_TEST

/* RFC 8037 appendix A.3: the JWK thumbprint of the example Ed25519 key. */
START_TEST(test_kid_rfc8037)
{
    static const char x[] = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
    unsigned char rfc_pk[32];
    char kid[AGENTAUTHZ_KID_TEXT_MAX], jwks[AGENTAUTHZ_JWKS_TEXT_MAX];
    size_t got = 0;
    ck_assert_int_eq(sodium_base642bin(rfc_pk, 32, x, 43, NULL, &got, NULL, B64), 0);
    ck_assert_uint_eq(got, 32);
    ck_assert_int_eq(agentauthz_pubkey_kid(rfc_pk, kid, sizeof kid), 0);
    ck_assert_str_eq(kid, "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    ck_assert_int_eq(agentauthz_pubkey_kid(rfc_pk, kid, AGENTAUTHZ_KID_TEXT_MAX - 1),
                     AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(agentauthz_pubkey_jwks(rfc_pk, jwks, sizeof jwks), 0);
    ck_assert_str_eq(jwks, "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
                           "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\","
                           "\"kid\":\"kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k\","
                           "\"alg\":\"EdDSA\",\"use\":\"sig\"}]}");
    ck_assert_uint_lt(strlen(jwks), AGENTAUTHZ_JWKS_TEXT_MAX);
    ck_assert_int_eq(agentauthz_pubkey_jwks(rfc_pk, jwks, strlen(jwks)), AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(agentauthz_pubkey_jwks(NULL, jwks, sizeof jwks), AGENTAUTHZ_EINVAL);
    /* The keys' JWK Set is their public key's. */
    {
        char a[AGENTAUTHZ_JWKS_TEXT_MAX], b[AGENTAUTHZ_JWKS_TEXT_MAX];
        ck_assert_int_eq(agentauthz_keys_jwks(keys, a, sizeof a), 0);
        ck_assert_int_eq(agentauthz_pubkey_jwks(pk, b, sizeof b), 0);
        ck_assert_str_eq(a, b);
        ck_assert_int_eq(agentauthz_keys_jwks(NULL, a, sizeof a), AGENTAUTHZ_EINVAL);
    }
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
    size_t len = strlen(t), d1 = (size_t)(strchr(t, '.') - t), dot = (size_t)(strrchr(t, '.') - t);
    for (size_t i = 0; i < len; i++) {
        char *m = strdup(t);
        int rc;
        ck_assert_ptr_nonnull(m);
        if (i == d1 || i == dot)
            m[i] = 'A';
        else
            flip(m, i);
        rc = verify_str(m, IAT + 1);
        ck_assert_msg(rc != 0, "byte %zu accepted", i);
        /* The last character of each part may become non-canonical. */
        if (i > d1 && i + 2 < dot)
            ck_assert_msg(rc == AGENTAUTHZ_ESIGNATURE, "payload byte %zu: %d", i, rc);
        if (i > dot + 1 && i + 2 < len)
            ck_assert_msg(rc == AGENTAUTHZ_ESIGNATURE, "signature byte %zu: %d", i, rc);
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
    }
    ck_assert_int_eq(verify_str(u, IAT + 1), 0);
    agentauthz_free(t);
    agentauthz_free(u);
}
END_TEST

/* The signature is checked before the payload is parsed: a bad one never reaches the parser. */
START_TEST(test_signature_before_payload)
{
    char *t = sign_raw("not json at all"), *d;
    /* Signed, the payload is refused as JSON ... */
    expect_refused(t, AGENTAUTHZ_ETOKEN, "the payload is not valid JSON");
    /* ... unsigned, as a bad signature, whatever the payload holds. */
    d = strrchr(t, '.');
    flip(d, 5);
    expect_refused(t, AGENTAUTHZ_ESIGNATURE, "signature does not verify");
    free(t);
}
END_TEST

START_TEST(test_other_key)
{
    agentauthz_keys *other = NULL;
    agentauthz_token_claims c = sample();
    char *t, *forged;
    char h[160];
    ck_assert_int_eq(agentauthz_keys_generate(&other, NULL), 0);
    /* Signed by another key, naming it: its kid is not the verifier's. */
    ck_assert_int_eq(agentauthz_token_sign(other, &c, &t, NULL), 0);
    expect_refused(t, AGENTAUTHZ_EKEYID, "names no key this verifier holds");
    /* Signed by another key, naming ours: the signature fails. */
    forged = jws_with(other, good_header(h, sizeof h), GOOD_PAYLOAD);
    expect_refused(forged, AGENTAUTHZ_ESIGNATURE, "signature does not verify");
    agentauthz_free(t);
    free(forged);
    agentauthz_keys_free(other);
}
END_TEST

START_TEST(test_alg_none)
{
    char *t = sign_header("{\"alg\":\"none\",\"typ\":\"txntoken+jwt\",\"kid\":\"%s\"}");
    expect_refused(t, AGENTAUTHZ_EALGORITHM, "\"alg\": \"none\"");
    free(t);
    t = sign_header("{\"alg\":\"NoNe\",\"typ\":\"txntoken+jwt\",\"kid\":\"%s\"}");
    expect_refused(t, AGENTAUTHZ_EALGORITHM, "\"alg\": \"none\"");
    free(t);
    /* An unsigned token as RFC 7519 6.1 writes it: an empty signature. */
    {
        char kid[AGENTAUTHZ_KID_TEXT_MAX], h[160], *h64, *p64, buf[1024];
        ck_assert_int_eq(agentauthz_pubkey_kid(pk, kid, sizeof kid), 0);
        snprintf(h, sizeof h, "{\"alg\":\"none\",\"typ\":\"txntoken+jwt\",\"kid\":\"%s\"}", kid);
        h64 = b64u(h, strlen(h));
        p64 = b64u(GOOD_PAYLOAD, strlen(GOOD_PAYLOAD));
        snprintf(buf, sizeof buf, "%s.%s.", h64, p64);
        expect_refused(buf, AGENTAUTHZ_EALGORITHM, "\"alg\": \"none\"");
        free(h64);
        free(p64);
    }
}
END_TEST

static const char *other_algs[] = {"HS256", "RS256", "ES256", "PS256", "Ed25519",
                                   "eddsa", "EdDSA ", "EDDSA", "ES256K", ""};

START_TEST(test_alg_other)
{
    char fmt[256], *t;
    snprintf(fmt, sizeof fmt, "{\"alg\":\"%s\",\"typ\":\"txntoken+jwt\",\"kid\":\"%%s\"}",
             other_algs[_i]);
    t = sign_header(fmt);
    expect_refused(t, AGENTAUTHZ_EALGORITHM, "algorithm is not EdDSA");
    free(t);
}
END_TEST

START_TEST(test_alg_missing)
{
    char *t = sign_header("{\"typ\":\"txntoken+jwt\",\"kid\":\"%s\"}");
    expect_refused(t, AGENTAUTHZ_EALGORITHM, "no \"alg\"");
    free(t);
    t = sign_header("{\"alg\":[\"EdDSA\"],\"typ\":\"txntoken+jwt\",\"kid\":\"%s\"}");
    expect_refused(t, AGENTAUTHZ_EALGORITHM, "no \"alg\"");
    free(t);
}
END_TEST

START_TEST(test_kid_missing)
{
    char *t = sign_header("{\"alg\":\"EdDSA\",\"typ\":\"txntoken+jwt\"}%.0s");
    expect_refused(t, AGENTAUTHZ_EKEYID, "no \"kid\"");
    free(t);
    t = sign_header("{\"alg\":\"EdDSA\",\"typ\":\"txntoken+jwt\",\"kid\":null}%.0s");
    expect_refused(t, AGENTAUTHZ_EKEYID, "no \"kid\"");
    free(t);
}
END_TEST

START_TEST(test_kid_unknown)
{
    char kid[AGENTAUTHZ_KID_TEXT_MAX], h[256], *t;
    ck_assert_int_eq(agentauthz_pubkey_kid(pk, kid, sizeof kid), 0);
    /* One character away, one shorter, one longer, another case: all unknown. */
    for (int k = 0; k < 4; k++) {
        char near[64];
        snprintf(near, sizeof near, "%s", kid);
        if (k == 0)
            near[10] = near[10] == 'A' ? 'B' : 'A';
        else if (k == 1)
            near[42] = '\0';
        else if (k == 2)
            strcat(near, "A");
        else
            for (char *q = near; *q; q++)
                *q = (char)(*q >= 'a' && *q <= 'z' ? *q - 32 : *q >= 'A' && *q <= 'Z' ? *q + 32 : *q);
        snprintf(h, sizeof h, "{\"alg\":\"EdDSA\",\"typ\":\"txntoken+jwt\",\"kid\":\"%s\"}", near);
        t = jws_with(keys, h, GOOD_PAYLOAD);
        expect_refused(t, AGENTAUTHZ_EKEYID, "names no key this verifier holds");
        free(t);
    }
    /* The control: the exact kid verifies. */
    t = sign_raw(GOOD_PAYLOAD);
    ck_assert_int_eq(verify_str(t, 1), 0);
    free(t);
}
END_TEST

static const char *bad_typs[] = {
    "{\"alg\":\"EdDSA\",\"kid\":\"%s\"}",
    "{\"alg\":\"EdDSA\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
    "{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}",
    "{\"alg\":\"EdDSA\",\"typ\":\"txntoken+jwt \",\"kid\":\"%s\"}",
    "{\"alg\":\"EdDSA\",\"typ\":\"txntoken+jws\",\"kid\":\"%s\"}",
    "{\"alg\":\"EdDSA\",\"typ\":\"application/txntoken+jwtx\",\"kid\":\"%s\"}",
    "{\"alg\":\"EdDSA\",\"typ\":\"application/jwt\",\"kid\":\"%s\"}",
    "{\"alg\":\"EdDSA\",\"typ\":\"text/txntoken+jwt\",\"kid\":\"%s\"}",
    "{\"alg\":\"EdDSA\",\"typ\":\"\",\"kid\":\"%s\"}",
    "{\"alg\":\"EdDSA\",\"typ\":7,\"kid\":\"%s\"}",
};

START_TEST(test_typ_wrong)
{
    char *t = sign_header(bad_typs[_i]);
    expect_refused(t, AGENTAUTHZ_ETOKENTYPE, _i ? "not txntoken+jwt" : "no \"typ\"");
    free(t);
}
END_TEST

/* The near misses of test_typ_wrong that are the token type, and any member order. */
START_TEST(test_typ_accepted)
{
    static const char *good[] = {
        "{\"alg\":\"EdDSA\",\"typ\":\"txntoken+jwt\",\"kid\":\"%s\"}",
        "{\"alg\":\"EdDSA\",\"typ\":\"TxnToken+JWT\",\"kid\":\"%s\"}",
        "{\"alg\":\"EdDSA\",\"typ\":\"application/txntoken+jwt\",\"kid\":\"%s\"}",
        "{\"alg\":\"EdDSA\",\"typ\":\"Application/TXNTOKEN+jwt\",\"kid\":\"%s\"}",
        "{ \"kid\" : \"%s\", \"typ\":\"txntoken+jwt\",\n\"alg\":\"EdDSA\" }",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char *t = sign_header(good[i]);
        agentauthz_error err;
        ck_assert_msg(verify_at(t, strlen(t), 1, NULL, NULL, &err) == 0, "%zu: %s", i,
                      err.message);
        free(t);
    }
}
END_TEST

START_TEST(test_crit)
{
    char *t = sign_header("{\"alg\":\"EdDSA\",\"typ\":\"txntoken+jwt\",\"kid\":\"%s\","
                          "\"crit\":[\"exp\"],\"exp\":1}");
    expect_refused(t, AGENTAUTHZ_ETOKEN, "\"crit\"");
    free(t);
    t = sign_header("{\"crit\":[],\"alg\":\"EdDSA\",\"typ\":\"txntoken+jwt\",\"kid\":\"%s\"}");
    expect_refused(t, AGENTAUTHZ_ETOKEN, "\"crit\"");
    free(t);
}
END_TEST

/* A header member the format does not define, such as one naming another key, is refused. */
START_TEST(test_header_extra)
{
    static const char *extra[] = {
        "{\"alg\":\"EdDSA\",\"typ\":\"txntoken+jwt\",\"kid\":\"%s\",\"jku\":\"https://x/\"}",
        "{\"alg\":\"EdDSA\",\"typ\":\"txntoken+jwt\",\"kid\":\"%s\",\"jwk\":{}}",
        "{\"alg\":\"EdDSA\",\"typ\":\"txntoken+jwt\",\"kid\":\"%s\",\"b64\":false}",
        "{\"alg\":\"EdDSA\",\"typ\":\"txntoken+jwt\",\"kid\":\"%s\",\"cty\":\"JWT\"}",
    };
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++) {
        char *t = sign_header(extra[i]);
        expect_refused(t, AGENTAUTHZ_ETOKEN, "member other than alg, typ and kid");
        free(t);
    }
    {
        char *t = sign_header("[\"EdDSA\",\"%s\"]");
        expect_refused(t, AGENTAUTHZ_ETOKEN, "not a JSON object");
        free(t);
        t = sign_header("{\"alg\":\"EdDSA\",\"typ\":\"txntoken+jwt\",\"kid\":\"%s\"");
        expect_refused(t, AGENTAUTHZ_ETOKEN, "the header is not valid JSON");
        free(t);
    }
}
END_TEST

START_TEST(test_duplicate_header_key)
{
    char *t = sign_header("{\"alg\":\"EdDSA\",\"typ\":\"txntoken+jwt\",\"kid\":\"%s\","
                          "\"alg\":\"none\"}");
    expect_refused(t, AGENTAUTHZ_EJSON, "header has a duplicate key");
    free(t);
    t = sign_header("{\"alg\":\"EdDSA\",\"kid\":\"x\",\"typ\":\"txntoken+jwt\",\"kid\":\"%s\"}");
    expect_refused(t, AGENTAUTHZ_EJSON, "header has a duplicate key");
    free(t);
}
END_TEST

START_TEST(test_duplicate_payload_key)
{
    static const char *dups[] = {
        "{\"sub\":\"a\",\"sub\":\"root\",\"aud\":\"x\",\"iat\":1,\"exp\":2,\"txn\":\"s\","
        "\"scope\":\"t\",\"tctx\":{\"tools\":[]}}",
        "{\"sub\":\"a\",\"aud\":\"x\",\"iat\":1,\"exp\":2,\"txn\":\"s\",\"scope\":\"t\","
        "\"tctx\":{\"tools\":[],\"tools\":[\"*\"]}}",
        "{\"sub\":\"a\",\"aud\":\"x\",\"iat\":1,\"exp\":2,\"txn\":\"s\",\"scope\":\"t\","
        "\"tctx\":{\"tools\":[],\"params\":{\"p\":1,\"p\":2}}}",
    };
    for (size_t i = 0; i < sizeof dups / sizeof dups[0]; i++) {
        char *t = sign_raw(dups[i]);
        expect_refused(t, AGENTAUTHZ_EJSON, "payload has a duplicate key");
        free(t);
    }
}
END_TEST

START_TEST(test_oversized)
{
    agentauthz_token_claims c = sample();
    char *t = sign(&c), *huge;
    size_t len = strlen(t);
    agentauthz_error err;
    huge = malloc(1u << 20);
    ck_assert_ptr_nonnull(huge);
    memset(huge, 'A', 1u << 20);
    memcpy(huge, t, len);
    ck_assert_int_eq(verify_at(huge, AGENTAUTHZ_TOKEN_MAX + 1, IAT, NULL, NULL, &err),
                     AGENTAUTHZ_ELIMIT);
    ck_assert_ptr_nonnull(strstr(err.message, "at most 8192 bytes"));
    ck_assert_int_eq(verify_at(huge, 1u << 20, IAT, NULL, NULL, &err), AGENTAUTHZ_ELIMIT);
    free(huge);
    /* The near miss: the token itself, at its length. */
    ck_assert_int_eq(verify_at(t, len, IAT, NULL, NULL, NULL), 0);
    agentauthz_free(t);
    /* A header over 1024 bytes, in a token under the bound. */
    {
        char fmt[1400];
        snprintf(fmt, sizeof fmt,
                 "{\"alg\":\"EdDSA\",\"typ\":\"txntoken+jwt\",\"kid\":\"%%s\",\"x\":\"%0990d\"}", 0);
        t = sign_header(fmt);
        ck_assert_uint_le(strlen(t), AGENTAUTHZ_TOKEN_MAX);
        expect_refused(t, AGENTAUTHZ_ELIMIT, "header is over 1024 bytes");
        free(t);
    }
}
END_TEST

/* JSON over the parser's bounds, in the header and in the (signed) payload. */
START_TEST(test_json_bounds)
{
    char deep[200], fmt[400], payload[400], *t;
    size_t n = 0;
    for (int i = 0; i < 70; i++)
        deep[n++] = '[';
    for (int i = 0; i < 70; i++)
        deep[n++] = ']';
    deep[n] = '\0';
    snprintf(fmt, sizeof fmt, "{\"alg\":\"EdDSA\",\"typ\":\"txntoken+jwt\",\"kid\":\"%%s\",\"d\":%s}",
             deep);
    t = sign_header(fmt);
    expect_refused(t, AGENTAUTHZ_ELIMIT, "header is over the JSON bounds");
    free(t);
    snprintf(payload, sizeof payload,
             "{\"sub\":\"a\",\"aud\":\"x\",\"iat\":1,\"exp\":2,\"txn\":\"s\",\"scope\":\"t\","
             "\"tctx\":{\"tools\":[],\"params\":{\"p\":%s}}}",
             deep);
    t = sign_raw(payload);
    expect_refused(t, AGENTAUTHZ_ELIMIT, "payload is over the JSON bounds");
    free(t);
    /* The near miss: nesting within the bound is read. */
    snprintf(payload, sizeof payload,
             "{\"sub\":\"a\",\"aud\":\"x\",\"iat\":1,\"exp\":2,\"txn\":\"s\",\"scope\":\"t\","
             "\"tctx\":{\"tools\":[],\"params\":{\"p\":%.40s%.40s}}}",
             deep, deep + 70);
    t = sign_raw(payload);
    ck_assert_int_eq(verify_str(t, 1), 0);
    free(t);
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
    size_t len = strlen(t), d1 = (size_t)(strchr(t, '.') - t), dot = (size_t)(strrchr(t, '.') - t);
    agentauthz_error err;
    /* Every truncation fails, never success, and no message quotes the token. */
    for (size_t i = 0; i < len; i++) {
        int rc = verify_at(t, i, IAT, NULL, NULL, &err);
        ck_assert_msg(rc != 0, "cut %zu accepted", i);
        ck_assert_ptr_null(strstr(err.message, "eyJ"));
    }
    ck_assert_int_eq(verify_at("", 0, IAT, NULL, NULL, NULL), AGENTAUTHZ_ETOKEN);
    ck_assert_int_eq(verify_at(NULL, 0, IAT, NULL, NULL, NULL), AGENTAUTHZ_ETOKEN);
    ck_assert_int_eq(verify_at(NULL, 5, IAT, NULL, NULL, NULL), AGENTAUTHZ_EINVAL);
    /* Extra dots, anywhere: four parts, five (a JWE), empty parts. */
    snprintf(buf, sizeof buf, "%s.", t);
    ck_assert_int_eq(verify_str(buf, IAT), AGENTAUTHZ_ETOKEN);
    snprintf(buf, sizeof buf, "%s.AAAA.AAAA", t);
    ck_assert_int_eq(verify_str(buf, IAT), AGENTAUTHZ_ETOKEN);
    snprintf(buf, sizeof buf, "%.*s.%s", (int)dot, t, t + dot);
    ck_assert_int_eq(verify_str(buf, IAT), AGENTAUTHZ_ETOKEN);
    snprintf(buf, sizeof buf, "%s", t + d1);
    ck_assert_int_eq(verify_str(buf, IAT), AGENTAUTHZ_ETOKEN);
    snprintf(buf, sizeof buf, "%.*s.%s", (int)d1, t, t + dot);
    ck_assert_int_eq(verify_str(buf, IAT), AGENTAUTHZ_ETOKEN);
    snprintf(buf, sizeof buf, "%.*s", (int)dot, t);
    ck_assert_int_eq(verify_str(buf, IAT), AGENTAUTHZ_ETOKEN);
    /* Bad base64: padding, standard alphabet, spaces, a NUL inside, in each part. */
    snprintf(buf, sizeof buf, "%.*s=%s", (int)dot, t, t + dot);
    ck_assert_int_eq(verify_str(buf, IAT), AGENTAUTHZ_ETOKEN);
    snprintf(buf, sizeof buf, "%.*s=%s", (int)d1, t, t + d1);
    ck_assert_int_eq(verify_str(buf, IAT), AGENTAUTHZ_ETOKEN);
    for (size_t at = 5; at < len; at += d1) {
        snprintf(buf, sizeof buf, "%s", t);
        if (buf[at] == '.')
            continue;
        buf[at] = '+';
        ck_assert_int_eq(verify_str(buf, IAT), AGENTAUTHZ_ETOKEN);
        buf[at] = ' ';
        ck_assert_int_eq(verify_str(buf, IAT), AGENTAUTHZ_ETOKEN);
        buf[at] = '\0';
        ck_assert_int_eq(verify_at(buf, len, IAT, NULL, NULL, NULL), AGENTAUTHZ_ETOKEN);
    }
    /* Signature of the wrong length. */
    snprintf(buf, sizeof buf, "%sAAAA", t);
    ck_assert_int_eq(verify_str(buf, IAT), AGENTAUTHZ_ETOKEN);
    ck_assert_int_eq(agentauthz_token_verify(NULL, t, len, NULL, NULL, NULL), AGENTAUTHZ_EINVAL);
    agentauthz_free(t);
}
END_TEST

/* Payloads a key holder might have signed wrongly: all refused after the signature. */
static const char *bad_payloads[] = {
    "",
    "[]",
    "\"str\"",
    "{}",
    /* each required claim missing in turn */
    "{\"aud\":\"x\",\"iat\":1,\"exp\":2,\"txn\":\"s\",\"scope\":\"t\",\"tctx\":{\"tools\":[]}}",
    "{\"sub\":\"a\",\"iat\":1,\"exp\":2,\"txn\":\"s\",\"scope\":\"t\",\"tctx\":{\"tools\":[]}}",
    "{\"sub\":\"a\",\"aud\":\"x\",\"exp\":2,\"txn\":\"s\",\"scope\":\"t\",\"tctx\":{\"tools\":[]}}",
    "{\"sub\":\"a\",\"aud\":\"x\",\"iat\":1,\"txn\":\"s\",\"scope\":\"t\",\"tctx\":{\"tools\":[]}}",
    "{\"sub\":\"a\",\"aud\":\"x\",\"iat\":1,\"exp\":2,\"scope\":\"t\",\"tctx\":{\"tools\":[]}}",
    "{\"sub\":\"a\",\"aud\":\"x\",\"iat\":1,\"exp\":2,\"txn\":\"s\",\"tctx\":{\"tools\":[]}}",
    "{\"sub\":\"a\",\"aud\":\"x\",\"iat\":1,\"exp\":2,\"txn\":\"s\",\"scope\":\"t\"}",
    "{\"sub\":\"a\",\"aud\":\"x\",\"iat\":1,\"exp\":2,\"txn\":\"s\",\"scope\":\"t\",\"tctx\":{}}",
    /* ill-typed */
    "{\"sub\":7,\"aud\":\"x\",\"iat\":1,\"exp\":2,\"txn\":\"s\",\"scope\":\"t\",\"tctx\":{\"tools\":[]}}",
    "{\"sub\":\"a\",\"aud\":[\"x\"],\"iat\":1,\"exp\":2,\"txn\":\"s\",\"scope\":\"t\","
    "\"tctx\":{\"tools\":[]}}",
    "{\"sub\":\"\",\"aud\":\"x\",\"iat\":1,\"exp\":2,\"txn\":\"s\",\"scope\":\"t\",\"tctx\":{\"tools\":[]}}",
    "{\"sub\":\"a\\u0000b\",\"aud\":\"x\",\"iat\":1,\"exp\":2,\"txn\":\"s\",\"scope\":\"t\","
    "\"tctx\":{\"tools\":[]}}",
    "{\"sub\":\"a\",\"aud\":\"x\",\"iat\":1.5,\"exp\":2,\"txn\":\"s\",\"scope\":\"t\","
    "\"tctx\":{\"tools\":[]}}",
    "{\"sub\":\"a\",\"aud\":\"x\",\"iat\":-1,\"exp\":2,\"txn\":\"s\",\"scope\":\"t\","
    "\"tctx\":{\"tools\":[]}}",
    "{\"sub\":\"a\",\"aud\":\"x\",\"iat\":3,\"exp\":2,\"txn\":\"s\",\"scope\":\"t\","
    "\"tctx\":{\"tools\":[]}}",
    "{\"sub\":\"a\",\"aud\":\"x\",\"iat\":1,\"exp\":9007199254740992,\"txn\":\"s\",\"scope\":\"t\","
    "\"tctx\":{\"tools\":[]}}",
    "{\"sub\":\"a\",\"aud\":\"x\",\"iat\":1,\"exp\":\"2\",\"txn\":\"s\",\"scope\":\"t\","
    "\"tctx\":{\"tools\":[]}}",
    "{\"sub\":\"a\",\"aud\":\"x\",\"iat\":1,\"exp\":2,\"txn\":\"s\",\"scope\":\"t\",\"tctx\":[]}",
    "{\"sub\":\"a\",\"aud\":\"x\",\"iat\":1,\"exp\":2,\"txn\":\"s\",\"scope\":\"t\","
    "\"tctx\":{\"tools\":\"x\"}}",
    "{\"sub\":\"a\",\"aud\":\"x\",\"iat\":1,\"exp\":2,\"txn\":\"s\",\"scope\":\"t\","
    "\"tctx\":{\"tools\":[\"\"]}}",
    "{\"sub\":\"a\",\"aud\":\"x\",\"iat\":1,\"exp\":2,\"txn\":\"s\",\"scope\":\"t\","
    "\"tctx\":{\"tools\":[1]}}",
    "{\"sub\":\"a\",\"aud\":\"x\",\"iat\":1,\"exp\":2,\"txn\":\"s\",\"scope\":\"t\","
    "\"tctx\":{\"tools\":[],\"parent\":5}}",
    "{\"sub\":\"a\",\"aud\":\"x\",\"iat\":1,\"exp\":2,\"txn\":\"s\",\"scope\":\"t\","
    "\"tctx\":{\"tools\":[],\"parent\":\"\"}}",
    "{\"sub\":\"a\",\"aud\":\"x\",\"iat\":1,\"exp\":2,\"txn\":\"s\",\"scope\":\"t\","
    "\"tctx\":{\"tools\":[],\"parent\":null}}",
    "{\"sub\":\"a\",\"aud\":\"x\",\"iat\":1,\"exp\":2,\"txn\":\"s\",\"scope\":\"t\","
    "\"tctx\":{\"tools\":[],\"params\":[1]}}",
    "{\"iss\":null,\"sub\":\"a\",\"aud\":\"x\",\"iat\":1,\"exp\":2,\"txn\":\"s\",\"scope\":\"t\","
    "\"tctx\":{\"tools\":[]}}",
    /* claims the format does not define, at the top and in tctx */
    "{\"sub\":\"a\",\"aud\":\"x\",\"iat\":1,\"exp\":2,\"txn\":\"s\",\"scope\":\"t\","
    "\"tctx\":{\"tools\":[]},\"nbf\":5}",
    "{\"sub\":\"a\",\"aud\":\"x\",\"iat\":1,\"exp\":2,\"txn\":\"s\",\"scope\":\"t\","
    "\"tctx\":{\"tools\":[],\"admin\":true}}",
    /* the old format's claim names */
    "{\"v\":1,\"sub\":\"a\",\"task\":\"t\",\"sid\":\"s\",\"aud\":\"x\",\"iat\":1,\"exp\":2,"
    "\"tools\":[],\"parent\":null}",
    /* not JSON */
    "{\"sub\":\"a\",\"aud\":\"x\",\"iat\":1,\"exp\":2,\"txn\":\"s\",\"scope\":\"t\","
    "\"tctx\":{\"tools\":[]}} x",
    "{\"sub\":\"a\xff\",\"aud\":\"x\",\"iat\":1,\"exp\":2,\"txn\":\"s\",\"scope\":\"t\","
    "\"tctx\":{\"tools\":[]}}",
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
    /* The control for test_bad_claims: the same shape, correct, with whitespace, reordered. */
    char *t = sign_raw("{ \"tctx\": {\"parent\":\"p\", \"tools\":[\"a\",\"b\"], \"params\":{}},"
                       "\"scope\":\"t\",\"sub\":\"a\",\"txn\":\"s\","
                       "\"aud\":\"x\",\"iat\":1,\"exp\":2e0,\"iss\":\"i\"}");
    agentauthz_token_claims *got = NULL;
    ck_assert_int_eq(verify_at(t, strlen(t), 1, "x", &got, NULL), 0);
    ck_assert_str_eq(got->parent, "p");
    ck_assert_str_eq(got->issuer, "i");
    ck_assert_str_eq(got->session, "s");
    ck_assert_str_eq(got->task, "t");
    ck_assert_ptr_null(got->params);
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
    /* params: the JSON text of an object, nothing else. */
    c = sample();
    c.params = "[1]";
    ck_assert_int_eq(agentauthz_token_sign(keys, &c, &t, &err), AGENTAUTHZ_EINVAL);
    c.params = "{\"a\":1";
    ck_assert_int_eq(agentauthz_token_sign(keys, &c, &t, &err), AGENTAUTHZ_EINVAL);
    c.params = "{\"a\":1,\"a\":2}";
    ck_assert_int_eq(agentauthz_token_sign(keys, &c, &t, &err), AGENTAUTHZ_EINVAL);
    ck_assert_ptr_null(t);
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
    flip(bad, (size_t)(strchr(bad, '.') - bad) + 20);
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(agentauthz_verifier_verify(v, bad, strlen(bad), IAT, NULL, NULL),
                         AGENTAUTHZ_ESIGNATURE);
    ck_assert_int_eq(agentauthz_verifier_verify(v, a, AGENTAUTHZ_TOKEN_MAX + 1, IAT, NULL, NULL),
                     AGENTAUTHZ_ELIMIT);
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

/* ---- key sets: JWK Sets for a verifier ---- */

static agentauthz_verifier *jwks_verifier(const char *jwks, agentauthz_error *err, int *rc)
{
    agentauthz_verifier *v = NULL;
    agentauthz_token_verify_options o = opts_at(0, NULL);
    *rc = agentauthz_verifier_new_jwks(jwks, strlen(jwks), &o, 8, &v, err);
    return v;
}

START_TEST(test_verifier_jwks)
{
    agentauthz_keys *k2 = NULL, *k3 = NULL;
    char j1[AGENTAUTHZ_JWKS_TEXT_MAX], j2[AGENTAUTHZ_JWKS_TEXT_MAX], set[1024];
    agentauthz_token_claims c = sample();
    agentauthz_verifier *v;
    agentauthz_error err;
    char *t1, *t2, *t3;
    int rc;
    ck_assert_int_eq(agentauthz_keys_generate(&k2, NULL), 0);
    ck_assert_int_eq(agentauthz_keys_generate(&k3, NULL), 0);
    ck_assert_int_eq(agentauthz_keys_jwks(keys, j1, sizeof j1), 0);
    ck_assert_int_eq(agentauthz_keys_jwks(k2, j2, sizeof j2), 0);
    /* Two keys in one set (key rotation), plus a key of another type that is skipped. */
    snprintf(set, sizeof set,
             "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"},%.*s,%.*s]}",
             (int)strlen(j1) - 11, j1 + 9, (int)strlen(j2) - 11, j2 + 9);
    v = jwks_verifier(set, &err, &rc);
    ck_assert_msg(rc == 0, "%s", err.message);
    t1 = sign(&c);
    ck_assert_int_eq(agentauthz_token_sign(k2, &c, &t2, NULL), 0);
    ck_assert_int_eq(agentauthz_token_sign(k3, &c, &t3, NULL), 0);
    ck_assert_int_eq(agentauthz_verifier_verify(v, t1, strlen(t1), IAT, NULL, NULL), 0);
    ck_assert_int_eq(agentauthz_verifier_verify(v, t2, strlen(t2), IAT, NULL, NULL), 0);
    ck_assert_int_eq(agentauthz_verifier_verify(v, t3, strlen(t3), IAT, NULL, &err),
                     AGENTAUTHZ_EKEYID);
    agentauthz_verifier_free(v);
    /* The library's own JWK Set, as written, verifies its tokens and no other key's. */
    v = jwks_verifier(j2, &err, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(agentauthz_verifier_verify(v, t2, strlen(t2), IAT, NULL, NULL), 0);
    ck_assert_int_eq(agentauthz_verifier_verify(v, t1, strlen(t1), IAT, NULL, NULL),
                     AGENTAUTHZ_EKEYID);
    agentauthz_verifier_free(v);
    /* A set that names the key "k1": tokens are looked up by that kid. */
    {
        char x[44], *named;
        const char *at = strstr(j1, "\"x\":\"") + 5;
        memcpy(x, at, 43);
        x[43] = '\0';
        snprintf(set, sizeof set,
                 "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\",\"kid\":\"k1\"}]}",
                 x);
        v = jwks_verifier(set, &err, &rc);
        ck_assert_msg(rc == 0, "%s", err.message);
        named = jws_with(keys, "{\"alg\":\"EdDSA\",\"typ\":\"txntoken+jwt\",\"kid\":\"k1\"}",
                         GOOD_PAYLOAD);
        ck_assert_int_eq(agentauthz_verifier_verify(v, named, strlen(named), 1, NULL, NULL), 0);
        ck_assert_int_eq(agentauthz_verifier_verify(v, t1, strlen(t1), IAT, NULL, NULL),
                         AGENTAUTHZ_EKEYID);
        agentauthz_verifier_free(v);
        free(named);
        /* A kid JSON must escape: the header is parsed, and the escaped kid matches. */
        snprintf(set, sizeof set,
                 "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\",\"kid\":\"k\\\"1\"}]}",
                 x);
        v = jwks_verifier(set, &err, &rc);
        ck_assert_msg(rc == 0, "%s", err.message);
        named = jws_with(keys, "{\"alg\":\"EdDSA\",\"typ\":\"txntoken+jwt\",\"kid\":\"k\\\"1\"}",
                         GOOD_PAYLOAD);
        ck_assert_int_eq(agentauthz_verifier_verify(v, named, strlen(named), 1, NULL, NULL), 0);
        free(named);
        named = jws_with(keys, "{\"alg\":\"EdDSA\",\"typ\":\"txntoken+jwt\",\"kid\":\"k\\\"2\"}",
                         GOOD_PAYLOAD);
        ck_assert_int_eq(agentauthz_verifier_verify(v, named, strlen(named), 1, NULL, NULL),
                         AGENTAUTHZ_EKEYID);
        free(named);
        agentauthz_verifier_free(v);
        /* Without a kid, the key is named by its thumbprint. */
        snprintf(set, sizeof set, "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\"}]}",
                 x);
        v = jwks_verifier(set, &err, &rc);
        ck_assert_int_eq(rc, 0);
        ck_assert_int_eq(agentauthz_verifier_verify(v, t1, strlen(t1), IAT, NULL, NULL), 0);
        agentauthz_verifier_free(v);
    }
    agentauthz_free(t1);
    agentauthz_free(t2);
    agentauthz_free(t3);
    agentauthz_keys_free(k2);
    agentauthz_keys_free(k3);
}
END_TEST

#define X_RFC "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"

static const struct {
    const char *jwks;
    int code;
    const char *why;
} bad_jwks[] = {
    {"", AGENTAUTHZ_EJSON, "expected"},
    {"[]", AGENTAUTHZ_ECRYPTO, "\"keys\" list"},
    {"{\"keys\":{}}", AGENTAUTHZ_ECRYPTO, "\"keys\" list"},
    {"{\"keys\":[]}", AGENTAUTHZ_ECRYPTO, "no Ed25519 signing key"},
    {"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"a\",\"y\":\"b\"}]}", AGENTAUTHZ_ECRYPTO,
     "no Ed25519 signing key"},
    {"{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" X_RFC "\",\"use\":\"enc\"}]}",
     AGENTAUTHZ_ECRYPTO, "no Ed25519 signing key"},
    {"{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"" X_RFC "\"}]}", AGENTAUTHZ_ECRYPTO,
     "no Ed25519 signing key"},
    {"{\"keys\":[7]}", AGENTAUTHZ_ECRYPTO, "key 1: not a JSON object"},
    {"{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" X_RFC "\",\"d\":\"" X_RFC "\"}]}",
     AGENTAUTHZ_ECRYPTO, "private key"},
    {"{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" X_RFC "A\"}]}", AGENTAUTHZ_ECRYPTO,
     "\"x\" must be 43"},
    {"{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURp\"}]}",
     AGENTAUTHZ_ECRYPTO, "\"x\" must be 43"},
    {"{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" X_RFC "\",\"kid\":\"\"}]}",
     AGENTAUTHZ_ECRYPTO, "\"kid\" must be"},
    {"{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" X_RFC "\",\"kid\":\"a\"},"
     "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" X_RFC "\",\"kid\":\"a\"}]}",
     AGENTAUTHZ_ECRYPTO, "key 2: its \"kid\" is another key's"},
    {"{\"keys\":[{\"kty\":\"OKP\",\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" X_RFC "\"}]}",
     AGENTAUTHZ_EJSON, "duplicate key"},
};

START_TEST(test_verifier_jwks_refused)
{
    agentauthz_verifier *v;
    agentauthz_error err;
    int rc;
    memset(&err, 0, sizeof err);
    v = jwks_verifier(bad_jwks[_i].jwks, &err, &rc);
    ck_assert_msg(rc == bad_jwks[_i].code, "%d: %d %s", _i, rc, err.message);
    ck_assert_ptr_null(v);
    ck_assert_msg(strstr(err.message, bad_jwks[_i].why) != NULL, "%d: %s", _i, err.message);
}
END_TEST

START_TEST(test_verifier_jwks_bounds)
{
    char *set = malloc(AGENTAUTHZ_JWKS_MAX + 2), *at;
    agentauthz_verifier *v = (agentauthz_verifier *)&v;
    agentauthz_error err;
    int rc;
    ck_assert_ptr_nonnull(set);
    /* AGENTAUTHZ_JWKS_KEYS_MAX keys are kept, one more is refused. */
    for (int n = AGENTAUTHZ_JWKS_KEYS_MAX; n <= AGENTAUTHZ_JWKS_KEYS_MAX + 1; n++) {
        at = set + sprintf(set, "{\"keys\":[");
        for (int i = 0; i < n; i++)
            at += sprintf(at, "%s{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" X_RFC
                              "\",\"kid\":\"k%d\"}",
                          i ? "," : "", i);
        sprintf(at, "]}");
        v = jwks_verifier(set, &err, &rc);
        if (n == AGENTAUTHZ_JWKS_KEYS_MAX) {
            ck_assert_int_eq(rc, 0);
            agentauthz_verifier_free(v);
        } else {
            ck_assert_int_eq(rc, AGENTAUTHZ_ECRYPTO);
            ck_assert_ptr_nonnull(strstr(err.message, "more than 16"));
        }
    }
    memset(set, ' ', AGENTAUTHZ_JWKS_MAX + 1);
    memcpy(set, "{\"keys\":[]}", 11);
    ck_assert_int_eq(agentauthz_verifier_new_jwks(set, AGENTAUTHZ_JWKS_MAX + 1, NULL, 0, &v, &err),
                     AGENTAUTHZ_ELIMIT);
    ck_assert_ptr_null(v);
    ck_assert_int_eq(agentauthz_verifier_new_jwks(NULL, 4, NULL, 0, &v, &err), AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(agentauthz_verifier_new_jwks(set, 11, NULL, 0, NULL, &err),
                     AGENTAUTHZ_EINVAL);
    free(set);
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
    tcase_add_test(tc, test_kid_rfc8037);
    tcase_add_test(tc, test_tamper);
    tcase_add_test(tc, test_signature_before_payload);
    tcase_add_test(tc, test_other_key);
    tcase_add_test(tc, test_alg_none);
    tcase_add_loop_test(tc, test_alg_other, 0, (int)(sizeof other_algs / sizeof other_algs[0]));
    tcase_add_test(tc, test_alg_missing);
    tcase_add_test(tc, test_kid_missing);
    tcase_add_test(tc, test_kid_unknown);
    tcase_add_loop_test(tc, test_typ_wrong, 0, (int)(sizeof bad_typs / sizeof bad_typs[0]));
    tcase_add_test(tc, test_typ_accepted);
    tcase_add_test(tc, test_crit);
    tcase_add_test(tc, test_header_extra);
    tcase_add_test(tc, test_duplicate_header_key);
    tcase_add_test(tc, test_duplicate_payload_key);
    tcase_add_test(tc, test_oversized);
    tcase_add_test(tc, test_json_bounds);
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
    tcase_add_test(tv, test_verifier_jwks);
    tcase_add_loop_test(tv, test_verifier_jwks_refused, 0,
                        (int)(sizeof bad_jwks / sizeof bad_jwks[0]));
    tcase_add_test(tv, test_verifier_jwks_bounds);
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

/*
 * Ed25519 public keys as JOSE sees them: the RFC 7638 JWK thumbprint that
 * names a key in a token's "kid", the RFC 7517 JWK Set a service verifies
 * tokens with, and the parser of such sets for agentauthz_verifier_new_jwks.
 *
 * Key bytes here are public; still, no message quotes the input.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "internal.h"
#include "agentauthz/secrets.h"

#define B64_VARIANT sodium_base64_VARIANT_URLSAFE_NO_PADDING
#define X_LEN 43 /* 32 bytes in base64url */

static void pk_b64(const unsigned char *pk, char x[X_LEN + 1])
{
    sodium_bin2base64(x, X_LEN + 1, pk, AZ_KEY_BYTES, B64_VARIANT);
}

void az_jwk_kid(const unsigned char *pk, char kid[AZ_KID_LEN + 1])
{
    /* RFC 7638 3.2: the required members only, in lexicographic order, no space. */
    char member[sizeof "{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"\"}" + X_LEN];
    unsigned char h[crypto_hash_sha256_BYTES];
    char x[X_LEN + 1];
    int n;
    pk_b64(pk, x);
    n = snprintf(member, sizeof member, "{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"%s\"}", x);
    crypto_hash_sha256(h, (const unsigned char *)member, (unsigned long long)n);
    sodium_bin2base64(kid, AZ_KID_LEN + 1, h, sizeof h, B64_VARIANT);
}

size_t az_jwk_header(const char *kid, char *out, size_t cap)
{
    int n = snprintf(out, cap, "{\"alg\":\"EdDSA\",\"typ\":\"txntoken+jwt\",\"kid\":\"%s\"}", kid);
    return (n > 0 && (size_t)n < cap) ? (size_t)n : 0;
}

/* A kid JSON writes as it is: printable ASCII but '"' and '\\'. */
static bool kid_plain(const az_jwk *k)
{
    for (size_t i = 0; i < k->kid_len; i++)
        if (k->kid[i] < 0x20 || k->kid[i] > 0x7e || k->kid[i] == '"' || k->kid[i] == '\\')
            return false;
    return true;
}

/* Precomputes the key's canonical header in base64url, when there is one. */
static void jwk_finish(az_jwk *k)
{
    char h[AZ_JWK_HDR_MAX + 1];
    size_t n;
    k->hdr64_len = 0;
    if (!kid_plain(k) || (n = az_jwk_header(k->kid, h, sizeof h)) == 0)
        return;
    sodium_bin2base64(k->hdr64, sizeof k->hdr64, (const unsigned char *)h, n, B64_VARIANT);
    k->hdr64_len = strlen(k->hdr64);
}

void az_jwk_from_pk(const unsigned char *pk, az_jwk *out)
{
    memset(out, 0, sizeof *out);
    memcpy(out->pk, pk, AZ_KEY_BYTES);
    az_jwk_kid(pk, out->kid);
    out->kid_len = AZ_KID_LEN;
    jwk_finish(out);
}

int agentauthz_pubkey_kid(const unsigned char pk[AGENTAUTHZ_PUBKEY_BYTES], char *out, size_t cap)
{
    if (!pk || !out || cap < AGENTAUTHZ_KID_TEXT_MAX)
        return AGENTAUTHZ_EINVAL;
    az_jwk_kid(pk, out);
    return 0;
}

int agentauthz_pubkey_jwks(const unsigned char pk[AGENTAUTHZ_PUBKEY_BYTES], char *out, size_t cap)
{
    char x[X_LEN + 1], kid[AZ_KID_LEN + 1];
    int n;
    if (!pk || !out || cap < AGENTAUTHZ_JWKS_TEXT_MAX)
        return AGENTAUTHZ_EINVAL;
    pk_b64(pk, x);
    az_jwk_kid(pk, kid);
    n = snprintf(out, cap,
                 "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\",\"kid\":\"%s\","
                 "\"alg\":\"EdDSA\",\"use\":\"sig\"}]}",
                 x, kid);
    return (n > 0 && (size_t)n < cap) ? 0 : AGENTAUTHZ_EINVAL;
}

int agentauthz_keys_jwks(const agentauthz_keys *k, char *out, size_t cap)
{
    if (!k)
        return AGENTAUTHZ_EINVAL;
    return agentauthz_pubkey_jwks(az_keys_public_key(k), out, cap);
}

/* ------------------------------------------------------------------ */
/* Reading a JWK Set                                                   */
/* ------------------------------------------------------------------ */

static int jwks_error(agentauthz_error *err, size_t i, const char *what)
{
    return az_error_set(err, AGENTAUTHZ_ECRYPTO, NULL, 0, 0, 0, "invalid JWK Set: key %zu: %s",
                        i + 1, what);
}

static const agentauthz_value *member(const agentauthz_value *m, const char *key)
{
    return az_value_map_getn(m, key, strlen(key));
}

static bool is_str(const agentauthz_value *v, const char *s)
{
    return v && v->type == AGENTAUTHZ_STRING && az_mem_eq(v->u.str.p, v->u.str.len, s, strlen(s), false);
}

/* 1: an Ed25519 signing key to keep, 0: a key for something else, to skip. */
static int usable(const agentauthz_value *m)
{
    const agentauthz_value *use = member(m, "use"), *alg = member(m, "alg");
    if (!is_str(member(m, "kty"), "OKP") || !is_str(member(m, "crv"), "Ed25519"))
        return 0;
    if ((use && !is_str(use, "sig")) || (alg && !is_str(alg, "EdDSA")))
        return 0;
    return 1;
}

static int read_key(const agentauthz_value *m, size_t i, az_jwk *k, agentauthz_error *err)
{
    const agentauthz_value *x = member(m, "x"), *kid = member(m, "kid");
    size_t got = 0;
    const char *end = NULL;
    if (member(m, "d"))
        return jwks_error(err, i, "it holds a private key (\"d\"); publish the public key only");
    if (!x || x->type != AGENTAUTHZ_STRING || x->u.str.len != X_LEN ||
        !az_b64url_only(x->u.str.p, X_LEN) ||
        sodium_base642bin(k->pk, sizeof k->pk, x->u.str.p, X_LEN, NULL, &got, &end,
                          B64_VARIANT) != 0 ||
        got != sizeof k->pk || end != x->u.str.p + X_LEN)
        return jwks_error(err, i, "\"x\" must be 43 canonical base64url characters");
    if (!kid) {
        az_jwk_kid(k->pk, k->kid);
        k->kid_len = AZ_KID_LEN;
        jwk_finish(k);
        return 0;
    }
    if (kid->type != AGENTAUTHZ_STRING || kid->u.str.len == 0 ||
        kid->u.str.len > AZ_JWK_KID_MAX || memchr(kid->u.str.p, '\0', kid->u.str.len))
        return jwks_error(err, i, "\"kid\" must be a string of 1 to 128 bytes");
    memcpy(k->kid, kid->u.str.p, kid->u.str.len);
    k->kid[kid->u.str.len] = '\0';
    k->kid_len = kid->u.str.len;
    jwk_finish(k);
    return 0;
}

static bool kid_taken(const az_jwk *keys, size_t n, const az_jwk *k)
{
    for (size_t i = 0; i < n; i++)
        if (az_mem_eq(keys[i].kid, keys[i].kid_len, k->kid, k->kid_len, false))
            return true;
    return false;
}

static int read_keys(const agentauthz_value *list, az_jwk *keys, size_t *n, agentauthz_error *err)
{
    for (size_t i = 0; i < list->u.list.n; i++) {
        const agentauthz_value *m = list->u.list.items[i];
        az_jwk k;
        int rc;
        if (m->type != AGENTAUTHZ_MAP)
            return jwks_error(err, i, "not a JSON object");
        if (!usable(m))
            continue;
        memset(&k, 0, sizeof k);
        if ((rc = read_key(m, i, &k, err)) != 0)
            return rc;
        if (kid_taken(keys, *n, &k))
            return jwks_error(err, i, "its \"kid\" is another key's too");
        if (*n >= AGENTAUTHZ_JWKS_KEYS_MAX)
            return az_error_set(err, AGENTAUTHZ_ECRYPTO, NULL, 0, 0, 0,
                                "invalid JWK Set: more than %d Ed25519 keys",
                                AGENTAUTHZ_JWKS_KEYS_MAX);
        keys[(*n)++] = k;
    }
    return 0;
}

int az_jwks_parse(const char *text, size_t len, az_jwk *keys, size_t *n, agentauthz_error *err)
{
    agentauthz_value *v = NULL;
    const agentauthz_value *list;
    int rc;
    *n = 0;
    if (len > AGENTAUTHZ_JWKS_MAX)
        return az_error_set(err, AGENTAUTHZ_ELIMIT, NULL, 0, 0, 0,
                            "a JWK Set is at most %d bytes", AGENTAUTHZ_JWKS_MAX);
    if ((rc = az_json_parse(text, len, NULL, &v, err)) != 0)
        return rc;
    list = v->type == AGENTAUTHZ_MAP ? member(v, "keys") : NULL;
    if (!list || list->type != AGENTAUTHZ_LIST)
        rc = az_error_set(err, AGENTAUTHZ_ECRYPTO, NULL, 0, 0, 0,
                          "invalid JWK Set: expected an object with a \"keys\" list");
    else
        rc = read_keys(list, keys, n, err);
    if (!rc && *n == 0)
        rc = az_error_set(err, AGENTAUTHZ_ECRYPTO, NULL, 0, 0, 0,
                          "invalid JWK Set: no Ed25519 signing key (kty OKP, crv Ed25519)");
    agentauthz_value_free(v);
    return rc;
}

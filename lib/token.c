/*
 * Task tokens, JWTs signed with Ed25519 (format in agentauthz/secrets.h):
 * signing, offline verification, and a verifier with a bounded cache, a
 * JWK Set of keys and a revocation set.
 *
 * Verification checks the frame and the small header (algorithm, type, key
 * id), then the Ed25519 signature, and only then parses the payload, so
 * that the claims parser never sees bytes the key holder did not sign. A
 * token is a bearer credential: no error message quotes it.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "internal.h"
#include "agentauthz/secrets.h"

#define SIG_B64_LEN 86 /* 64 bytes in base64url without padding */
#define TS_MAX 9007199254740991LL /* 2^53 - 1: exact as a JSON number */
#define SKEW_MAX 86400u
#define B64_VARIANT sodium_base64_VARIANT_URLSAFE_NO_PADDING
#define SID_BYTES 16  /* a revoked session: BLAKE2b-128 of its id */

/* Verification settings after defaults are applied. */
typedef struct vopts {
    const char *audience;
    int64_t now;
    int64_t skew;
} vopts;

/* ------------------------------------------------------------------ */
/* Claims                                                              */
/* ------------------------------------------------------------------ */

void agentauthz_token_claims_free(agentauthz_token_claims *c)
{
    free(c);
}

static bool add_size(size_t *total, size_t n)
{
    if (n > SIZE_MAX - *total)
        return false;
    *total += n;
    return true;
}

static bool add_str(size_t *total, const char *s)
{
    return !s || (add_size(total, strlen(s)) && add_size(total, 1));
}

static char *put_str(char **at, const char *s)
{
    char *d = *at;
    size_t n;
    if (!s)
        return NULL;
    n = strlen(s) + 1;
    memcpy(d, s, n);
    *at += n;
    return d;
}

static bool packed_size(const agentauthz_token_claims *c, size_t *total)
{
    const char *s[] = {c->identity, c->task,   c->session, c->audience,
                       c->issuer,   c->parent, c->params};
    bool ok = true;
    *total = sizeof *c;
    if (c->tools_count > SIZE_MAX / sizeof(char *))
        return false;
    ok = add_size(total, c->tools_count * sizeof(char *));
    for (size_t i = 0; ok && i < sizeof s / sizeof s[0]; i++)
        ok = add_str(total, s[i]);
    for (size_t i = 0; ok && i < c->tools_count; i++)
        ok = add_str(total, c->tools[i]);
    return ok;
}

/*
 * Copies claims into one allocation: the struct, then the tools array, then
 * the strings. One block makes the copy the cache hands out cheap and lets
 * agentauthz_token_claims_free be a single free.
 */
static agentauthz_token_claims *claims_pack(const agentauthz_token_claims *c)
{
    size_t total;
    agentauthz_token_claims *d;
    char *at;
    if (!packed_size(c, &total) || !(d = malloc(total)))
        return NULL;
    *d = *c;
    d->tools = c->tools_count ? (char **)(d + 1) : NULL;
    at = (char *)(d + 1) + c->tools_count * sizeof(char *);
    d->identity = put_str(&at, c->identity);
    d->task = put_str(&at, c->task);
    d->session = put_str(&at, c->session);
    d->audience = put_str(&at, c->audience);
    d->issuer = put_str(&at, c->issuer);
    d->parent = put_str(&at, c->parent);
    d->params = put_str(&at, c->params);
    for (size_t i = 0; i < c->tools_count; i++)
        d->tools[i] = put_str(&at, c->tools[i]);
    return d;
}

/* ------------------------------------------------------------------ */
/* Signing                                                             */
/* ------------------------------------------------------------------ */

static int claim_invalid(agentauthz_error *err, const char *what)
{
    return az_error_set(err, AGENTAUTHZ_EINVAL, NULL, 0, 0, 0, "invalid claims: %s", what);
}

/* A claim string: present unless optional, non-empty, UTF-8. */
static bool str_ok(const char *s, bool optional)
{
    size_t n;
    if (!s)
        return optional;
    n = strlen(s);
    return n > 0 && az_utf8_check(s, n) == n;
}

static int check_claims(const agentauthz_token_claims *c, agentauthz_error *err)
{
    if (!str_ok(c->identity, false) || !str_ok(c->task, false) || !str_ok(c->session, false) ||
        !str_ok(c->audience, false))
        return claim_invalid(err, "identity, task, session and audience must be non-empty UTF-8");
    if (!str_ok(c->issuer, true) || !str_ok(c->parent, true))
        return claim_invalid(err, "issuer and parent must be NULL or non-empty UTF-8");
    if (c->iat < 0 || c->iat > TS_MAX || c->exp < c->iat || c->exp > TS_MAX)
        return claim_invalid(err, "need 0 <= iat <= exp <= 2^53 - 1");
    if (c->tools_count > AGENTAUTHZ_TOKEN_TOOLS_MAX)
        return claim_invalid(err, "too many tools");
    if (c->tools_count && !c->tools)
        return claim_invalid(err, "tools is NULL");
    for (size_t i = 0; i < c->tools_count; i++)
        if (!str_ok(c->tools[i], false))
            return claim_invalid(err, "every tool must be a non-empty UTF-8 string");
    return 0;
}

/* Parses c->params (NULL: none) into *out, a map; NULL when there is none. */
static int sign_params(const agentauthz_token_claims *c, agentauthz_value **out,
                       agentauthz_error *err)
{
    size_t n;
    int rc;
    *out = NULL;
    if (!c->params)
        return 0;
    n = strnlen(c->params, AGENTAUTHZ_TOKEN_MAX + 1);
    if (n > AGENTAUTHZ_TOKEN_MAX)
        return az_error_set(err, AGENTAUTHZ_ELIMIT, NULL, 0, 0, 0,
                            "the token would exceed %d bytes", AGENTAUTHZ_TOKEN_MAX);
    rc = az_json_parse(c->params, n, NULL, out, NULL);
    if (rc == AGENTAUTHZ_ENOMEM)
        return az_error_set(err, rc, NULL, 0, 0, 0, "out of memory signing a token");
    if (rc || (*out)->type != AGENTAUTHZ_MAP) {
        agentauthz_value_free(*out);
        *out = NULL;
        return claim_invalid(err, "params must be NULL or the JSON text of an object");
    }
    return 0;
}

static int put_member(az_buf *b, const char *key, const char *s)
{
    int rc = az_buf_printf(b, ",\"%s\":", key);
    return rc ? rc : az_buf_json_string(b, s, strlen(s));
}

static int put_tctx(az_buf *b, const agentauthz_token_claims *c, const agentauthz_value *params)
{
    int rc = az_buf_append(b, ",\"tctx\":{\"tools\":[", 18);
    for (size_t i = 0; i < c->tools_count && !rc; i++) {
        if (i)
            rc = az_buf_putc(b, ',');
        if (!rc)
            rc = az_buf_json_string(b, c->tools[i], strlen(c->tools[i]));
    }
    if (!rc)
        rc = az_buf_putc(b, ']');
    if (!rc && c->parent)
        rc = put_member(b, "parent", c->parent);
    if (!rc && params && params->u.map.n) {
        rc = az_buf_append(b, ",\"params\":", 10);
        if (!rc)
            rc = az_value_write_json(b, params);
    }
    return rc ? rc : az_buf_append(b, "}}", 2);
}

/* Writes the payload JSON, claims in the documented order. */
static int build_payload(az_buf *b, const agentauthz_token_claims *c,
                         const agentauthz_value *params)
{
    int rc = az_buf_putc(b, '{');
    if (!rc && c->issuer) {
        rc = az_buf_append(b, "\"iss\":", 6);
        if (!rc)
            rc = az_buf_json_string(b, c->issuer, strlen(c->issuer));
        if (!rc)
            rc = az_buf_putc(b, ',');
    }
    if (!rc)
        rc = az_buf_append(b, "\"sub\":", 6);
    if (!rc)
        rc = az_buf_json_string(b, c->identity, strlen(c->identity));
    if (!rc)
        rc = put_member(b, "aud", c->audience);
    if (!rc)
        rc = az_buf_printf(b, ",\"iat\":%lld,\"exp\":%lld", (long long)c->iat, (long long)c->exp);
    if (!rc)
        rc = put_member(b, "txn", c->session);
    if (!rc)
        rc = put_member(b, "scope", c->task);
    return rc ? rc : put_tctx(b, c, params);
}

/* The header as signed: the one JSON text this library writes for k's kid. */
static size_t header_json(const unsigned char *pk, char *out, size_t cap)
{
    char kid[AZ_KID_LEN + 1];
    az_jwk_kid(pk, kid);
    return az_jwk_header(kid, out, cap);
}

static size_t b64_len(size_t n)
{
    return sodium_base64_ENCODED_LEN(n, B64_VARIANT) - 1;
}

/* Encodes header "." payload, signs those bytes, and appends "." signature. */
static int encode_token(const agentauthz_keys *k, const az_buf *payload, char **out)
{
    char header[128], *t;
    unsigned char sig[64];
    size_t hlen = header_json(az_keys_public_key(k), header, sizeof header);
    size_t h64 = b64_len(hlen), p64 = b64_len(payload->len);
    size_t signed_len = h64 + 1 + p64, total = signed_len + 1 + SIG_B64_LEN;
    int rc;
    if (payload->len > AGENTAUTHZ_TOKEN_MAX || total > AGENTAUTHZ_TOKEN_MAX)
        return AGENTAUTHZ_ELIMIT;
    if (!(t = malloc(total + 1)))
        return AGENTAUTHZ_ENOMEM;
    sodium_bin2base64(t, h64 + 1, (const unsigned char *)header, hlen, B64_VARIANT);
    t[h64] = '.';
    sodium_bin2base64(t + h64 + 1, p64 + 1, (const unsigned char *)payload->p, payload->len,
                      B64_VARIANT);
    rc = az_keys_sign(k, (const unsigned char *)t, signed_len, sig);
    if (rc) {
        sodium_memzero(t, total);
        free(t);
        return rc;
    }
    t[signed_len] = '.';
    sodium_bin2base64(t + signed_len + 1, SIG_B64_LEN + 1, sig, sizeof sig, B64_VARIANT);
    sodium_memzero(sig, sizeof sig);
    *out = t;
    return 0;
}

int agentauthz_token_sign(const agentauthz_keys *k, const agentauthz_token_claims *c, char **out,
                          agentauthz_error *err)
{
    az_buf payload = {NULL, 0, 0, AGENTAUTHZ_TOKEN_MAX};
    agentauthz_value *params = NULL;
    int rc;
    if (!out)
        return az_error_set(err, AGENTAUTHZ_EINVAL, NULL, 0, 0, 0, "out is NULL");
    *out = NULL;
    if (!k || !c)
        return az_error_set(err, AGENTAUTHZ_EINVAL, NULL, 0, 0, 0, "keys or claims is NULL");
    rc = check_claims(c, err);
    if (!rc)
        rc = sign_params(c, &params, err);
    if (rc)
        return rc;
    rc = build_payload(&payload, c, params);
    if (!rc)
        rc = encode_token(k, &payload, out);
    if (rc == AGENTAUTHZ_ELIMIT)
        az_error_set(err, rc, NULL, 0, 0, 0, "the token would exceed %d bytes",
                     AGENTAUTHZ_TOKEN_MAX);
    else if (rc)
        az_error_set(err, rc, NULL, 0, 0, 0, "cannot sign the token: %s",
                     agentauthz_strerror(rc));
    /* A bearer token's payload does not stay behind in freed memory. */
    if (payload.p)
        sodium_memzero(payload.p, payload.len);
    az_buf_free(&payload);
    agentauthz_value_free(params);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Verification: the frame, the header and the signature               */
/* ------------------------------------------------------------------ */

static int frame_error(agentauthz_error *err, size_t off, const char *what)
{
    return az_error_set(err, AGENTAUTHZ_ETOKEN, NULL, 1, (unsigned long)off + 1, off,
                        "malformed token: %s", what);
}

static int size_error(agentauthz_error *err)
{
    return az_error_set(err, AGENTAUTHZ_ELIMIT, NULL, 0, 0, 0, "a token is at most %d bytes",
                        AGENTAUTHZ_TOKEN_MAX);
}

/* Where the three parts of a compact JWS are in the token text. */
typedef struct jws {
    size_t h64;   /* header: t[0, h64) */
    size_t p_off; /* payload: t[p_off, p_off + p64) */
    size_t p64;
    size_t s_off; /* signature: t[s_off, s_off + s64) */
    size_t s64;
} jws;

static int split_token(const char *t, size_t len, jws *j, agentauthz_error *err)
{
    const char *d1 = memchr(t, '.', len), *d2, *d3;
    if (!d1)
        return frame_error(err, len, "expected three base64url parts separated by '.'");
    d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - t));
    if (!d2)
        return frame_error(err, len, "expected three base64url parts separated by '.'");
    d3 = memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - t));
    if (d3)
        return frame_error(err, (size_t)(d3 - t),
                           "more than three parts (an encrypted JWT is not a task token)");
    j->h64 = (size_t)(d1 - t);
    j->p_off = j->h64 + 1;
    j->p64 = (size_t)(d2 - d1 - 1);
    j->s_off = (size_t)(d2 + 1 - t);
    if (j->h64 == 0)
        return frame_error(err, 0, "empty header");
    if (j->p64 == 0)
        return frame_error(err, j->p_off, "empty payload");
    j->s64 = len - j->s_off;
    return 0;
}

/* Decodes base64url digits only (az_b64url_only: one token, one text). */
static bool b64_decode(const char *s, size_t n, unsigned char *out, size_t cap, size_t *got)
{
    const char *end = NULL;
    if (!az_b64url_only(s, n))
        return false;
    return sodium_base642bin(out, cap, s, n, NULL, got, &end, B64_VARIANT) == 0 && end == s + n;
}

/*
 * Parses a decoded part as JSON. Its own code for each way the JSON itself
 * is refused; the parser's message is not passed on, since it quotes the
 * duplicate key, a part of the token.
 */
static int parse_part(const char *what, const unsigned char *s, size_t n,
                      agentauthz_value **out, agentauthz_error *err)
{
    agentauthz_error jerr;
    int rc;
    memset(&jerr, 0, sizeof jerr);
    rc = az_json_parse((const char *)s, n, NULL, out, &jerr);
    if (!rc)
        return 0;
    if (rc == AGENTAUTHZ_ENOMEM)
        return az_error_set(err, rc, NULL, 0, 0, 0, "out of memory verifying a token");
    if (rc == AGENTAUTHZ_ELIMIT)
        return az_error_set(err, rc, NULL, 0, 0, 0,
                            "the token's %s is over the JSON bounds (nesting, items or length)",
                            what);
    if (rc == AGENTAUTHZ_EJSON && strncmp(jerr.message, "duplicate key", 13) == 0)
        return az_error_set(err, rc, NULL, 0, 0, 0, "the token's %s has a duplicate key", what);
    return az_error_set(err, AGENTAUTHZ_ETOKEN, NULL, 0, 0, 0,
                        "malformed token: the %s is not valid JSON", what);
}

static const agentauthz_value *get(const agentauthz_value *m, const char *key)
{
    return az_value_map_getn(m, key, strlen(key));
}

static bool str_is(const agentauthz_value *v, const char *s, bool icase)
{
    return v && v->type == AGENTAUTHZ_STRING &&
           az_mem_eq(v->u.str.p, v->u.str.len, s, strlen(s), icase);
}

static bool member_known(const az_kv *kv, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (az_mem_eq(kv->key, kv->klen, names[i], strlen(names[i]), false))
            return true;
    return false;
}

static int header_alg(const agentauthz_value *h, agentauthz_error *err)
{
    const agentauthz_value *alg = get(h, "alg");
    if (!alg || alg->type != AGENTAUTHZ_STRING)
        return az_error_set(err, AGENTAUTHZ_EALGORITHM, NULL, 0, 0, 0,
                            "the token's header has no \"alg\" string");
    if (str_is(alg, "none", true))
        return az_error_set(err, AGENTAUTHZ_EALGORITHM, NULL, 0, 0, 0,
                            "the token is unsigned (\"alg\": \"none\"): refused");
    if (!str_is(alg, "EdDSA", false))
        return az_error_set(err, AGENTAUTHZ_EALGORITHM, NULL, 0, 0, 0,
                            "the token's algorithm is not EdDSA (only Ed25519 signatures "
                            "are accepted)");
    return 0;
}

/* RFC 7515 4.1.9: the "application/" prefix may be left out; media types ignore case. */
static int header_typ(const agentauthz_value *h, agentauthz_error *err)
{
    const agentauthz_value *typ = get(h, "typ");
    if (!typ)
        return az_error_set(err, AGENTAUTHZ_ETOKENTYPE, NULL, 0, 0, 0,
                            "the token's header has no \"typ\" (expected txntoken+jwt)");
    if (!str_is(typ, "txntoken+jwt", true) && !str_is(typ, "application/txntoken+jwt", true))
        return az_error_set(err, AGENTAUTHZ_ETOKENTYPE, NULL, 0, 0, 0,
                            "the token's type is not txntoken+jwt (not a transaction token)");
    return 0;
}

static int header_kid(const agentauthz_value *h, const az_jwk *keys, size_t nkeys,
                      const az_jwk **key, agentauthz_error *err)
{
    const agentauthz_value *kid = get(h, "kid");
    if (!kid || kid->type != AGENTAUTHZ_STRING)
        return az_error_set(err, AGENTAUTHZ_EKEYID, NULL, 0, 0, 0,
                            "the token's header has no \"kid\" string");
    for (size_t i = 0; i < nkeys; i++)
        if (az_mem_eq(kid->u.str.p, kid->u.str.len, keys[i].kid, keys[i].kid_len, false)) {
            *key = &keys[i];
            return 0;
        }
    return az_error_set(err, AGENTAUTHZ_EKEYID, NULL, 0, 0, 0,
                        "the token's \"kid\" names no key this verifier holds");
}

/* Checks the decoded header and picks the key its "kid" names. */
static int check_header(const agentauthz_value *h, const az_jwk *keys, size_t nkeys,
                        const az_jwk **key, agentauthz_error *err)
{
    static const char *const known[] = {"alg", "typ", "kid"};
    int rc;
    if (h->type != AGENTAUTHZ_MAP)
        return frame_error(err, 0, "the header is not a JSON object");
    if ((rc = header_alg(h, err)) != 0)
        return rc;
    if (get(h, "crit"))
        return frame_error(err, 0, "the header has \"crit\": no JWS extension is supported");
    for (size_t i = 0; i < h->u.map.n; i++)
        if (!member_known(&h->u.map.items[i], known, 3))
            return frame_error(err, 0, "the header has a member other than alg, typ and kid");
    if ((rc = header_typ(h, err)) != 0)
        return rc;
    return header_kid(h, keys, nkeys, key, err);
}

#define HEADER_MAX 1024 /* decoded header bytes; the library's is 95 */

static int read_header(const char *t, const jws *j, const az_jwk *keys, size_t nkeys,
                       const az_jwk **key, agentauthz_error *err)
{
    unsigned char buf[HEADER_MAX];
    agentauthz_value *h = NULL;
    size_t n = 0;
    int rc;
    if (j->h64 > b64_len(HEADER_MAX))
        return az_error_set(err, AGENTAUTHZ_ELIMIT, NULL, 0, 0, 0,
                            "the token's header is over %d bytes", HEADER_MAX);
    if (!b64_decode(t, j->h64, buf, sizeof buf, &n))
        return frame_error(err, 0, "the header is not canonical base64url");
    rc = parse_part("header", buf, n, &h, err);
    if (!rc)
        rc = check_header(h, keys, nkeys, key, err);
    agentauthz_value_free(h);
    return rc;
}

/*
 * The key whose canonical header (the one the library writes, byte for
 * byte) the token carries, or NULL. That header is known to pass every
 * check read_header makes, so it need not be parsed again: the common case
 * costs a compare instead of a JSON parse.
 */
static const az_jwk *canonical_header(const char *t, const jws *j, const az_jwk *keys,
                                      size_t nkeys)
{
    for (size_t i = 0; i < nkeys; i++)
        if (keys[i].hdr64_len && keys[i].hdr64_len == j->h64 &&
            memcmp(keys[i].hdr64, t, j->h64) == 0)
            return &keys[i];
    return NULL;
}

static int check_signature(const az_jwk *key, const char *t, const jws *j,
                           agentauthz_error *err)
{
    unsigned char sig[64];
    size_t slen = 0;
    int rc;
    /* After the header: an unsigned token (empty signature) is refused for its "alg". */
    if (j->s64 != SIG_B64_LEN)
        return frame_error(err, j->s_off, "the signature must be 86 base64url characters");
    if (!b64_decode(t + j->s_off, SIG_B64_LEN, sig, sizeof sig, &slen) || slen != sizeof sig)
        return frame_error(err, j->s_off, "the signature is not canonical base64url");
    rc = crypto_sign_verify_detached(sig, (const unsigned char *)t, j->s_off - 1, key->pk);
    /* The signature is what makes the token a credential: not left on the stack. */
    sodium_memzero(sig, sizeof sig);
    if (rc != 0)
        return az_error_set(err, AGENTAUTHZ_ESIGNATURE, NULL, 0, 0, 0,
                            "the token's signature does not verify with its key");
    return 0;
}

/* ------------------------------------------------------------------ */
/* Verification: the claims                                            */
/* ------------------------------------------------------------------ */

static int claims_error(agentauthz_error *err, const char *what)
{
    return az_error_set(err, AGENTAUTHZ_ETOKEN, NULL, 0, 0, 0, "malformed token claims: %s",
                        what);
}

/* A non-empty JSON string with no NUL inside (it becomes a C string). */
static bool json_str(const agentauthz_value *v)
{
    return v && v->type == AGENTAUTHZ_STRING && v->u.str.len > 0 &&
           memchr(v->u.str.p, '\0', v->u.str.len) == NULL;
}

static bool json_time(const agentauthz_value *v, int64_t *out)
{
    double d;
    if (!v || v->type != AGENTAUTHZ_NUMBER)
        return false;
    d = v->u.num;
    if (!(d >= 0 && d <= (double)TS_MAX) || (double)(int64_t)d != d)
        return false;
    *out = (int64_t)d;
    return true;
}

static bool only_members(const agentauthz_value *m, const char *const *names, size_t n)
{
    for (size_t i = 0; i < m->u.map.n; i++)
        if (!member_known(&m->u.map.items[i], names, n))
            return false;
    return true;
}

/* Fills tools (room for AGENTAUTHZ_TOKEN_TOOLS_MAX) from the "tools" list. */
static int read_tools(const agentauthz_value *l, char **tools, size_t *n, agentauthz_error *err)
{
    if (!l || l->type != AGENTAUTHZ_LIST)
        return claims_error(err, "\"tctx\".\"tools\" must be a list");
    if (l->u.list.n > AGENTAUTHZ_TOKEN_TOOLS_MAX)
        return claims_error(err, "too many tools");
    for (size_t i = 0; i < l->u.list.n; i++) {
        if (!json_str(l->u.list.items[i]))
            return claims_error(err, "every tool must be a non-empty string");
        tools[i] = l->u.list.items[i]->u.str.p;
    }
    *n = l->u.list.n;
    return 0;
}

/* Reads "tctx": the tools, the parent session and the shared parameters (into pb). */
static int read_tctx(const agentauthz_value *x, agentauthz_token_claims *c, char **tools,
                     az_buf *pb, agentauthz_error *err)
{
    static const char *const known[] = {"tools", "parent", "params"};
    const agentauthz_value *parent, *params;
    int rc;
    if (!x || x->type != AGENTAUTHZ_MAP)
        return claims_error(err, "\"tctx\" must be an object");
    if (!only_members(x, known, 3))
        return claims_error(err, "\"tctx\" has a member other than tools, parent and params");
    parent = get(x, "parent");
    if (parent && !json_str(parent))
        return claims_error(err, "\"tctx\".\"parent\" must be a non-empty string if present");
    c->parent = parent ? parent->u.str.p : NULL;
    params = get(x, "params");
    if (params && params->type != AGENTAUTHZ_MAP)
        return claims_error(err, "\"tctx\".\"params\" must be an object if present");
    if (params && params->u.map.n) {
        if ((rc = az_value_write_json(pb, params)) != 0)
            return az_error_set(err, rc, NULL, 0, 0, 0, "out of memory verifying a token");
        c->params = pb->p;
    }
    c->tools = tools;
    return read_tools(get(x, "tools"), tools, &c->tools_count, err);
}

/* Checks the shape of the payload and fills c with views into m. */
static int read_claims(const agentauthz_value *m, agentauthz_token_claims *c, char **tools,
                       az_buf *pb, agentauthz_error *err)
{
    static const char *const known[] = {"iss", "sub", "aud", "iat", "exp", "txn", "scope", "tctx"};
    const agentauthz_value *iss;
    if (m->type != AGENTAUTHZ_MAP)
        return claims_error(err, "the payload must be a JSON object");
    if (!only_members(m, known, sizeof known / sizeof known[0]))
        return claims_error(err, "the payload has a claim this format does not define");
    if (!json_str(get(m, "sub")) || !json_str(get(m, "scope")) || !json_str(get(m, "txn")) ||
        !json_str(get(m, "aud")))
        return claims_error(err, "\"sub\", \"aud\", \"txn\" and \"scope\" must be non-empty "
                                 "strings");
    iss = get(m, "iss");
    if (iss && !json_str(iss))
        return claims_error(err, "\"iss\" must be a non-empty string if present");
    if (!json_time(get(m, "iat"), &c->iat) || !json_time(get(m, "exp"), &c->exp) ||
        c->exp < c->iat)
        return claims_error(err, "\"iat\" and \"exp\" must be integers, 0 <= iat <= exp < 2^53");
    c->identity = get(m, "sub")->u.str.p;
    c->task = get(m, "scope")->u.str.p;
    c->session = get(m, "txn")->u.str.p;
    c->audience = get(m, "aud")->u.str.p;
    c->issuer = iss ? iss->u.str.p : NULL;
    return read_tctx(get(m, "tctx"), c, tools, pb, err);
}

/* The checks that the cache must repeat on every hit. */
static int check_times(int64_t iat, int64_t exp, const vopts *o, agentauthz_error *err)
{
    if (o->now > exp + o->skew)
        return az_error_set(err, AGENTAUTHZ_EEXPIRED, NULL, 0, 0, 0,
                            "the token expired %lld seconds ago",
                            (long long)(o->now - exp));
    if (iat - o->skew > o->now)
        return az_error_set(err, AGENTAUTHZ_ETOKEN, NULL, 0, 0, 0,
                            "the token is not valid yet: issued %lld seconds in the future",
                            (long long)(iat - o->now));
    return 0;
}

static int check_claims_now(const agentauthz_token_claims *c, const vopts *o,
                            agentauthz_error *err)
{
    int rc = check_times(c->iat, c->exp, o, err);
    if (!rc && o->audience && strcmp(o->audience, c->audience) != 0)
        rc = az_error_set(err, AGENTAUTHZ_EAUDIENCE, NULL, 0, 0, 0,
                          "the token is for another audience");
    return rc;
}

/* The most payload bytes a token of AGENTAUTHZ_TOKEN_MAX bytes can carry. */
#define PAYLOAD_MAX ((AGENTAUTHZ_TOKEN_MAX - 2 - SIG_B64_LEN) / 4 * 3 + 2)

/* The payload of a token, decoded (before the signature check: decoding is not parsing). */
typedef struct payload {
    unsigned char b[PAYLOAD_MAX];
    size_t len;
} payload;

static int decode_payload(const char *t, const jws *j, payload *p, agentauthz_error *err)
{
    if (!b64_decode(t + j->p_off, j->p64, p->b, sizeof p->b, &p->len))
        return frame_error(err, j->p_off, "the payload is not canonical base64url");
    return 0;
}

/* Parses the signed payload into packed claims and checks them against o. */
static int read_payload(const payload *p, const vopts *o, agentauthz_token_claims **out,
                        agentauthz_error *err)
{
    az_buf pb = {NULL, 0, 0, AGENTAUTHZ_TOKEN_MAX};
    agentauthz_value *m = NULL;
    agentauthz_token_claims c;
    char *tools[AGENTAUTHZ_TOKEN_TOOLS_MAX];
    int rc = parse_part("payload", p->b, p->len, &m, err);
    memset(&c, 0, sizeof c);
    if (!rc)
        rc = read_claims(m, &c, tools, &pb, err);
    if (!rc)
        rc = check_claims_now(&c, o, err);
    if (!rc && !(*out = claims_pack(&c)))
        rc = az_error_set(err, AGENTAUTHZ_ENOMEM, NULL, 0, 0, 0, "out of memory verifying a token");
    agentauthz_value_free(m);
    az_buf_free(&pb);
    return rc;
}

/*
 * Verifies a token fully with the key set keys; *out receives packed
 * claims. The header is read first (it names the algorithm and the key),
 * then the signature is checked, and only then is the payload parsed.
 */
static int verify_full(const az_jwk *keys, size_t nkeys, const char *t, size_t len,
                       const vopts *o, agentauthz_token_claims **out, agentauthz_error *err)
{
    const az_jwk *key = NULL;
    payload p;
    jws j = {0, 0, 0, 0, 0};
    int rc;
    if (len > AGENTAUTHZ_TOKEN_MAX)
        return size_error(err);
    p.len = 0;
    rc = split_token(t, len, &j, err);
    if (!rc && !(key = canonical_header(t, &j, keys, nkeys)))
        rc = read_header(t, &j, keys, nkeys, &key, err);
    if (!rc)
        rc = decode_payload(t, &j, &p, err);
    if (!rc)
        rc = check_signature(key, t, &j, err);
    if (!rc)
        rc = read_payload(&p, o, out, err);
    /* The claims of a bearer token do not stay on the stack. */
    sodium_memzero(p.b, p.len);
    return rc;
}

/*
 * The system's Unix time in whole seconds. Not time(NULL): glibc serves it
 * from the coarse clock, which lags CLOCK_REALTIME by up to a tick, so a
 * token stamped by a host from the precise clock a moment earlier could read
 * as issued a second in the future.
 */
static int64_t unix_seconds_now(void)
{
    return (int64_t)(az_realtime_ns() / 1000000000u);
}

static int resolve_opts(const agentauthz_token_verify_options *opt, vopts *o,
                        agentauthz_error *err)
{
    agentauthz_token_verify_options def = AGENTAUTHZ_TOKEN_VERIFY_OPTIONS_INIT;
    if (!opt)
        opt = &def;
    if (opt->version != AGENTAUTHZ_TOKEN_VERIFY_OPTIONS_VERSION || opt->skew > SKEW_MAX ||
        opt->now < 0)
        return az_error_set(err, AGENTAUTHZ_EINVAL, NULL, 0, 0, 0,
                            "bad verify options (version, skew over 86400 or negative now)");
    o->audience = opt->audience;
    o->now = opt->now ? opt->now : unix_seconds_now();
    o->skew = opt->skew;
    return 0;
}

int agentauthz_token_verify(const unsigned char pk[AGENTAUTHZ_PUBKEY_BYTES], const char *token,
                            size_t len, const agentauthz_token_verify_options *opt,
                            agentauthz_token_claims **out, agentauthz_error *err)
{
    agentauthz_token_claims *c = NULL;
    az_jwk key;
    vopts o;
    int rc;
    if (out)
        *out = NULL;
    if (!pk || (!token && len))
        return az_error_set(err, AGENTAUTHZ_EINVAL, NULL, 0, 0, 0, "pk or token is NULL");
    rc = resolve_opts(opt, &o, err);
    if (rc)
        return rc;
    /* Idempotent and cheap once done; the host may never have called it. */
    if (sodium_init() < 0)
        return az_error_set(err, AGENTAUTHZ_ECRYPTO, NULL, 0, 0, 0, "libsodium init failed");
    az_jwk_from_pk(pk, &key);
    rc = verify_full(&key, 1, token ? token : "", len, &o, &c, err);
    if (!rc && out)
        *out = c;
    else
        agentauthz_token_claims_free(c);
    return rc;
}

/* ------------------------------------------------------------------ */
/* The verifier: a cache of verified tokens and a revocation set       */
/* ------------------------------------------------------------------ */

/*
 * A verified token. A lookup first compares key, a SipHash of the token
 * under the verifier's secret key, then the token itself: nobody who lacks
 * the key can make a different token reach the byte compare (the chance is
 * 2^-64), so the compare need not be constant-time, and it is exact.
 */
typedef struct cache_entry {
    bool used;
    bool has_parent;
    uint64_t key;
    char *token; /* a copy of the token's text */
    size_t len;
    unsigned char sid[SID_BYTES];
    unsigned char parent[SID_BYTES];
    agentauthz_token_claims *claims; /* packed; the caller gets copies */
} cache_entry;

/* Open addressing over session hashes; cap is a power of two, at most half full. */
typedef struct revoked_set {
    unsigned char (*keys)[SID_BYTES];
    bool *used;
    size_t cap, n;
} revoked_set;

struct agentauthz_verifier {
    pthread_mutex_t lock;
    az_jwk keys[AGENTAUTHZ_JWKS_KEYS_MAX]; /* the key set; tokens name one by "kid" */
    size_t nkeys;
    /* A random salt for the session hashes, so that nobody can aim session
       ids at one revocation chain. A salt rather than a key: BLAKE2b hashes
       a key as one more 128-byte block, a salt rides in the parameter block
       for free. */
    unsigned char salt[crypto_generichash_blake2b_SALTBYTES];
    /* The cache's secret key (token_key): SipHash-2-4 hashes a 430-byte
       token in a sixth of the time BLAKE2b takes, and a cache hit is mostly
       this hash. */
    unsigned char cache_key[crypto_shorthash_KEYBYTES];
    char *audience;
    int64_t skew;
    cache_entry *cache;
    size_t ncache;
    revoked_set revoked;
};

static void salted_hash(const agentauthz_verifier *v, const char *personal, const void *in,
                        size_t len, unsigned char *out, size_t outlen)
{
    unsigned char pers[crypto_generichash_blake2b_PERSONALBYTES] = {0};
    memcpy(pers, personal, strlen(personal));
    crypto_generichash_blake2b_salt_personal(out, outlen, in, len, NULL, 0, v->salt, pers);
}

static void sid_hash(const agentauthz_verifier *v, const char *sid, unsigned char out[SID_BYTES])
{
    salted_hash(v, "aztk-sid", sid, strlen(sid), out, SID_BYTES);
}

static size_t slot_of(const unsigned char *h, size_t cap)
{
    uint64_t x;
    memcpy(&x, h, sizeof x);
    return (size_t)(x % cap);
}

static uint64_t token_key(const agentauthz_verifier *v, const char *token, size_t len)
{
    unsigned char h[crypto_shorthash_BYTES];
    uint64_t k;
    crypto_shorthash(h, (const unsigned char *)token, len, v->cache_key);
    memcpy(&k, h, sizeof k);
    return k;
}

/* The index of key in the set, or of the empty slot where it would go. */
static size_t revoked_find(const revoked_set *r, const unsigned char *key)
{
    size_t i = slot_of(key, r->cap);
    while (r->used[i] && sodium_memcmp(r->keys[i], key, SID_BYTES) != 0)
        i = (i + 1) & (r->cap - 1);
    return i;
}

static bool revoked_has(const revoked_set *r, const unsigned char *key)
{
    return r->n && r->used[revoked_find(r, key)];
}

static void revoked_put(revoked_set *r, const unsigned char *key)
{
    size_t i = revoked_find(r, key);
    if (r->used[i])
        return;
    memcpy(r->keys[i], key, SID_BYTES);
    r->used[i] = true;
    r->n++;
}

static int revoked_grow(revoked_set *r)
{
    revoked_set g = {NULL, NULL, r->cap ? r->cap * 2 : 64, 0};
    g.keys = calloc(g.cap, sizeof *g.keys);
    g.used = calloc(g.cap, sizeof *g.used);
    if (!g.keys || !g.used) {
        free(g.keys);
        free(g.used);
        return AGENTAUTHZ_ENOMEM;
    }
    for (size_t i = 0; i < r->cap; i++)
        if (r->used[i])
            revoked_put(&g, r->keys[i]);
    free(r->keys);
    free(r->used);
    *r = g;
    return 0;
}

static bool entry_revoked(const agentauthz_verifier *v, const cache_entry *e)
{
    return revoked_has(&v->revoked, e->sid) ||
           (e->has_parent && revoked_has(&v->revoked, e->parent));
}

static void entry_clear(cache_entry *e)
{
    agentauthz_token_claims_free(e->claims);
    free(e->token);
    memset(e, 0, sizeof *e);
}

/* Makes a verifier for the key set keys (copied). */
static int verifier_make(const az_jwk *keys, size_t nkeys,
                         const agentauthz_token_verify_options *opt, size_t cache_entries,
                         agentauthz_verifier **out, agentauthz_error *err)
{
    agentauthz_verifier *v = NULL;
    vopts o;
    int rc = resolve_opts(opt, &o, err);
    if (rc)
        return rc;
    if (sodium_init() < 0)
        return az_error_set(err, AGENTAUTHZ_ECRYPTO, NULL, 0, 0, 0, "libsodium init failed");
    rc = AGENTAUTHZ_ENOMEM;
    v = calloc(1, sizeof *v);
    if (!v)
        goto out;
    if (pthread_mutex_init(&v->lock, NULL) != 0) {
        free(v);
        v = NULL;
        goto out;
    }
    memcpy(v->keys, keys, nkeys * sizeof *keys);
    v->nkeys = nkeys;
    randombytes_buf(v->salt, sizeof v->salt);
    crypto_shorthash_keygen(v->cache_key);
    v->skew = o.skew;
    if (o.audience && !(v->audience = strdup(o.audience)))
        goto out;
    /* ncache counts entries that exist: verifier_free walks that many. */
    if (cache_entries && !(v->cache = calloc(cache_entries, sizeof *v->cache)))
        goto out;
    v->ncache = cache_entries;
    rc = revoked_grow(&v->revoked);
out:
    if (rc) {
        agentauthz_verifier_free(v);
        v = NULL;
        az_error_set(err, rc, NULL, 0, 0, 0, "out of memory creating a verifier");
    }
    *out = v;
    return rc;
}

int agentauthz_verifier_new(const unsigned char pk[AGENTAUTHZ_PUBKEY_BYTES],
                            const agentauthz_token_verify_options *opt, size_t cache_entries,
                            agentauthz_verifier **out, agentauthz_error *err)
{
    az_jwk key;
    if (!out)
        return az_error_set(err, AGENTAUTHZ_EINVAL, NULL, 0, 0, 0, "out is NULL");
    *out = NULL;
    if (!pk || cache_entries > AGENTAUTHZ_VERIFIER_CACHE_MAX)
        return az_error_set(err, AGENTAUTHZ_EINVAL, NULL, 0, 0, 0,
                            "pk is NULL or cache_entries over %u", AGENTAUTHZ_VERIFIER_CACHE_MAX);
    az_jwk_from_pk(pk, &key);
    return verifier_make(&key, 1, opt, cache_entries, out, err);
}

int agentauthz_verifier_new_jwks(const char *jwks, size_t len,
                                 const agentauthz_token_verify_options *opt, size_t cache_entries,
                                 agentauthz_verifier **out, agentauthz_error *err)
{
    az_jwk keys[AGENTAUTHZ_JWKS_KEYS_MAX];
    size_t n = 0;
    int rc;
    if (!out)
        return az_error_set(err, AGENTAUTHZ_EINVAL, NULL, 0, 0, 0, "out is NULL");
    *out = NULL;
    if ((!jwks && len) || cache_entries > AGENTAUTHZ_VERIFIER_CACHE_MAX)
        return az_error_set(err, AGENTAUTHZ_EINVAL, NULL, 0, 0, 0,
                            "jwks is NULL or cache_entries over %u", AGENTAUTHZ_VERIFIER_CACHE_MAX);
    rc = az_jwks_parse(jwks ? jwks : "", len, keys, &n, err);
    if (!rc)
        rc = verifier_make(keys, n, opt, cache_entries, out, err);
    return rc;
}

void agentauthz_verifier_free(agentauthz_verifier *v)
{
    if (!v)
        return;
    for (size_t i = 0; v->cache && i < v->ncache; i++)
        entry_clear(&v->cache[i]);
    free(v->cache);
    free(v->revoked.keys);
    free(v->revoked.used);
    free(v->audience);
    pthread_mutex_destroy(&v->lock);
    free(v);
}

int agentauthz_verifier_revoke(agentauthz_verifier *v, const char *session_id)
{
    unsigned char key[SID_BYTES];
    int rc = 0;
    if (!v || !session_id)
        return AGENTAUTHZ_EINVAL;
    sid_hash(v, session_id, key);
    pthread_mutex_lock(&v->lock);
    if (revoked_has(&v->revoked, key))
        goto out;
    if (v->revoked.n >= AGENTAUTHZ_VERIFIER_REVOKED_MAX) {
        rc = AGENTAUTHZ_ELIMIT;
        goto out;
    }
    if ((v->revoked.n + 1) * 2 > v->revoked.cap)
        rc = revoked_grow(&v->revoked);
    if (!rc)
        revoked_put(&v->revoked, key);
out:
    pthread_mutex_unlock(&v->lock);
    return rc;
}

#define CACHE_MISS 1

static int revoked_error(agentauthz_error *err)
{
    return az_error_set(err, AGENTAUTHZ_ESESSION, NULL, 0, 0, 0,
                        "the token's session has been revoked");
}

/*
 * Looks the token up. A hit repeats every check that depends on the moment
 * or on the revocation set; the signature, shape and audience were checked
 * when the entry was made and cannot have changed. Returns CACHE_MISS when
 * the token is not there. Called with the lock held.
 */
static int cache_hit(agentauthz_verifier *v, uint64_t key, const char *token, size_t len,
                     const vopts *o, agentauthz_token_claims **out, agentauthz_error *err)
{
    cache_entry *e = &v->cache[key % v->ncache];
    int rc;
    if (!e->used || e->key != key || e->len != len || memcmp(e->token, token, len) != 0)
        return CACHE_MISS;
    rc = check_times(e->claims->iat, e->claims->exp, o, err);
    if (rc == AGENTAUTHZ_EEXPIRED)
        entry_clear(e);
    if (rc)
        return rc;
    if (entry_revoked(v, e))
        return revoked_error(err);
    if (out && !(*out = claims_pack(e->claims)))
        return az_error_set(err, AGENTAUTHZ_ENOMEM, NULL, 0, 0, 0, "out of memory");
    return 0;
}

/*
 * Fills a new cache entry from verified claims (outside the lock). The
 * token is copied only when there is a cache to keep it; without memory for
 * the copy the entry is not kept (cache_store skips an unused entry).
 */
static void entry_prepare(const agentauthz_verifier *v, cache_entry *e, uint64_t key,
                          const char *token, size_t len, agentauthz_token_claims *c)
{
    memset(e, 0, sizeof *e);
    e->key = key;
    e->token = v->ncache ? malloc(len ? len : 1) : NULL;
    e->used = e->token != NULL;
    if (e->used) {
        memcpy(e->token, token, len);
        e->len = len;
    }
    sid_hash(v, c->session, e->sid);
    e->has_parent = c->parent != NULL;
    if (c->parent)
        sid_hash(v, c->parent, e->parent);
    e->claims = c;
}

/*
 * After a full verification: refuses a revoked session, else stores the
 * entry (replacing whatever held its slot) and hands the caller a copy.
 * Takes ownership of e->claims in every case.
 */
static int cache_store(agentauthz_verifier *v, cache_entry *e, agentauthz_token_claims **out,
                       agentauthz_error *err)
{
    int rc = 0;
    pthread_mutex_lock(&v->lock);
    if (entry_revoked(v, e)) {
        rc = revoked_error(err);
        goto out;
    }
    if (!v->ncache) {
        if (out) {
            *out = e->claims;
            e->claims = NULL;
        }
        goto out;
    }
    if (out && !(*out = claims_pack(e->claims))) {
        rc = az_error_set(err, AGENTAUTHZ_ENOMEM, NULL, 0, 0, 0, "out of memory");
        goto out;
    }
    if (e->used) {
        cache_entry *slot = &v->cache[e->key % v->ncache];
        entry_clear(slot);
        *slot = *e;
        e->claims = NULL;
        e->token = NULL;
    }
out:
    pthread_mutex_unlock(&v->lock);
    agentauthz_token_claims_free(e->claims);
    free(e->token);
    return rc;
}

int agentauthz_verifier_verify(agentauthz_verifier *v, const char *token, size_t len, int64_t now,
                               agentauthz_token_claims **out, agentauthz_error *err)
{
    agentauthz_token_claims *c = NULL;
    cache_entry e;
    uint64_t key;
    vopts o;
    int rc;
    if (out)
        *out = NULL;
    if (!v || (!token && len) || now < 0)
        return az_error_set(err, AGENTAUTHZ_EINVAL, NULL, 0, 0, 0,
                            "verifier or token is NULL, or now is negative");
    if (!token)
        token = "";
    if (len > AGENTAUTHZ_TOKEN_MAX)
        return size_error(err);
    o.audience = v->audience;
    o.now = now ? now : unix_seconds_now();
    o.skew = v->skew;
    key = v->ncache ? token_key(v, token, len) : 0;
    if (v->ncache) {
        pthread_mutex_lock(&v->lock);
        rc = cache_hit(v, key, token, len, &o, out, err);
        pthread_mutex_unlock(&v->lock);
        if (rc != CACHE_MISS)
            return rc;
    }
    rc = verify_full(v->keys, v->nkeys, token, len, &o, &c, err);
    if (rc)
        return rc;
    entry_prepare(v, &e, key, token, len, c);
    return cache_store(v, &e, out, err);
}

/*
 * Signing for the token harnesses: a compact JWS of any header and payload
 * bytes with the harness's keys, so that inputs reach the checks behind the
 * signature. Test code only; uses the library's private signing call.
 */
#ifndef FUZZ_JWS_H
#define FUZZ_JWS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "internal.h"
#include "agentauthz/secrets.h"

#define FZ_B64 sodium_base64_VARIANT_URLSAFE_NO_PADDING

/* b64(header) "." b64(payload) "." b64(signature over the first two), malloc'ed. */
static inline char *fz_sign_jws(const agentauthz_keys *k, const void *header, size_t hlen,
                                const void *payload, size_t plen)
{
    size_t h64 = sodium_base64_ENCODED_LEN(hlen, FZ_B64);
    size_t p64 = sodium_base64_ENCODED_LEN(plen, FZ_B64);
    char *t = malloc(h64 + p64 + 90);
    unsigned char sig[64];
    size_t at;
    if (!t)
        abort();
    sodium_bin2base64(t, h64, header, hlen, FZ_B64);
    at = strlen(t);
    t[at++] = '.';
    sodium_bin2base64(t + at, p64, payload, plen, FZ_B64);
    at += strlen(t + at);
    if (az_keys_sign(k, (const unsigned char *)t, at, sig))
        abort();
    t[at++] = '.';
    sodium_bin2base64(t + at, 87, sig, sizeof sig, FZ_B64);
    return t;
}

/* The header the library signs with k, in buf (at least 128 bytes); its length. */
static inline size_t fz_good_header(const agentauthz_keys *k, char *buf, size_t cap)
{
    unsigned char pk[32];
    char kid[AGENTAUTHZ_KID_TEXT_MAX];
    if (agentauthz_keys_public_raw(k, pk) || agentauthz_pubkey_kid(pk, kid, sizeof kid))
        abort();
    return (size_t)snprintf(buf, cap, "{\"alg\":\"EdDSA\",\"typ\":\"txntoken+jwt\",\"kid\":\"%s\"}",
                            kid);
}

/* A token of the good header over payload bytes. */
static inline char *fz_sign_payload(const agentauthz_keys *k, const void *payload, size_t plen)
{
    char h[128];
    size_t hlen = fz_good_header(k, h, sizeof h);
    return fz_sign_jws(k, h, hlen, payload, plen);
}

#endif /* FUZZ_JWS_H */

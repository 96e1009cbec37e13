/*
 * Fuzz harness for task tokens.
 *
 * Each input is tried three ways: as a whole token (exercising the frame,
 * base64url and header checks, which run before the signature); as a
 * payload that the harness signs under the library's header with a fixed
 * key, so that the claims parser behind the signature check is reached
 * too; and, when it holds a newline, as a header (before it) and a payload
 * (after it) that the harness signs, so that hostile headers are signed
 * like good ones. A payload that verifies must survive a
 * sign and verify round trip with the same claims, the caching verifier
 * must agree with the plain verify, and a token that verifies holds no
 * byte outside its alphabet.
 *
 * Build for libFuzzer with -DAZ_LIBFUZZER -fsanitize=fuzzer,address; without
 * AZ_LIBFUZZER a main() replays the files named on the command line (a
 * corpus), so that make check can run it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "fuzz_jws.h"

#define NOW 1700000000

/* A fixed key file: the seed, master and audit keys are all zeros. */
static const char key_text[] = "agentauthz-keys v1\n"
                               "sign: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"
                               "master: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"
                               "audit: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n";

typedef struct harness {
    agentauthz_keys *keys;
    unsigned char pk[32];
    agentauthz_verifier *verifier;
} harness;

static harness *get_harness(void)
{
    static harness h;
    static int ready;
    agentauthz_token_verify_options o = AGENTAUTHZ_TOKEN_VERIFY_OPTIONS_INIT;
    if (ready)
        return &h;
    if (sodium_init() < 0 || agentauthz_keys_load(key_text, sizeof key_text - 1, &h.keys, NULL) ||
        agentauthz_keys_public_raw(h.keys, h.pk) ||
        agentauthz_verifier_new(h.pk, &o, 4, &h.verifier, NULL))
        abort();
    ready = 1;
    return &h;
}

static void same_claims(const agentauthz_token_claims *a, const agentauthz_token_claims *b)
{
    if (strcmp(a->identity, b->identity) || strcmp(a->task, b->task) ||
        strcmp(a->session, b->session) || strcmp(a->audience, b->audience) ||
        (!a->issuer != !b->issuer) || (a->issuer && strcmp(a->issuer, b->issuer)) ||
        (!a->parent != !b->parent) || (a->parent && strcmp(a->parent, b->parent)) ||
        (!a->params != !b->params) || (a->params && strcmp(a->params, b->params)) ||
        a->iat != b->iat || a->exp != b->exp || a->tools_count != b->tools_count)
        abort();
    for (size_t i = 0; i < a->tools_count; i++)
        if (strcmp(a->tools[i], b->tools[i]))
            abort();
}

/* A verified payload re-signed through the API verifies to the same claims. */
static void round_trip(const harness *h, const agentauthz_token_claims *c)
{
    agentauthz_token_verify_options o = AGENTAUTHZ_TOKEN_VERIFY_OPTIONS_INIT;
    agentauthz_token_claims *again = NULL;
    char *t = NULL;
    int rc = agentauthz_token_sign(h->keys, c, &t, NULL);
    if (rc == AGENTAUTHZ_ELIMIT)
        return; /* a compact re-encoding can only be shorter, but escapes can grow */
    o.now = c->iat;
    if (rc || agentauthz_token_verify(h->pk, t, strlen(t), &o, &again, NULL))
        abort();
    same_claims(c, again);
    agentauthz_token_claims_free(again);
    agentauthz_free(t);
}

/*
 * A token that verifies is written in its own alphabet only: base64url and
 * the two dots, so that one token has one text (no byte outside the
 * alphabet may stand for a base64url digit).
 */
static void token_alphabet(const char *t, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!((t[i] >= 'A' && t[i] <= 'Z') || (t[i] >= 'a' && t[i] <= 'z') ||
              (t[i] >= '0' && t[i] <= '9') || t[i] == '-' || t[i] == '_' || t[i] == '.'))
            abort();
}

static void try_token(harness *h, const char *t, size_t len)
{
    agentauthz_token_verify_options o = AGENTAUTHZ_TOKEN_VERIFY_OPTIONS_INIT;
    agentauthz_token_claims *c = NULL, *cached = NULL;
    int rc, rc2;
    o.now = NOW;
    rc = agentauthz_token_verify(h->pk, t, len, &o, &c, NULL);
    rc2 = agentauthz_verifier_verify(h->verifier, t, len, NOW, &cached, NULL);
    if (rc != rc2 || !c != !cached || (rc == 0) != (c != NULL))
        abort();
    rc2 = agentauthz_verifier_verify(h->verifier, t, len, NOW, NULL, NULL);
    if (rc != rc2)
        abort();
    if (c) {
        token_alphabet(t, len);
        same_claims(c, cached);
        round_trip(h, c);
    }
    agentauthz_token_claims_free(c);
    agentauthz_token_claims_free(cached);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    harness *h = get_harness();
    const uint8_t *nl;
    char *t;
    if (size > 2 * AGENTAUTHZ_TOKEN_MAX)
        return 0;
    try_token(h, (const char *)data, size);
    t = fz_sign_payload(h->keys, data, size);
    try_token(h, t, strlen(t));
    free(t);
    nl = size ? memchr(data, '\n', size) : NULL;
    if (nl) {
        size_t hlen = (size_t)(nl - data);
        t = fz_sign_jws(h->keys, data, hlen, nl + 1, size - hlen - 1);
        try_token(h, t, strlen(t));
        free(t);
    }
    return 0;
}

#ifndef AZ_LIBFUZZER
static int replay(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = malloc(2 * AGENTAUTHZ_TOKEN_MAX + 1);
    size_t n;
    if (!f || !buf) {
        fprintf(stderr, "%s: cannot read\n", path);
        free(buf);
        if (f)
            fclose(f);
        return 1;
    }
    n = fread(buf, 1, 2 * AGENTAUTHZ_TOKEN_MAX + 1, f);
    fclose(f);
    LLVMFuzzerTestOneInput(buf, n);
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    int rc = 0;
    for (int i = 1; i < argc; i++)
        rc |= replay(argv[i]);
    return rc;
}
#endif

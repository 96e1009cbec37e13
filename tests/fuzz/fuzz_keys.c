/*
 * Fuzz harness for key files and public key text (lib/keys.c), checked
 * against a reference reading of the formats in agentauthz/secrets.h.
 *
 * Each input is tried as a key file (agentauthz_keys_load, and through a
 * private file with agentauthz_keys_load_file) and as public key text
 * (agentauthz_pubkey_parse, up to the first NUL).
 *
 * Properties, any failure aborts:
 *  - a key file loads exactly when the reference accepts it (the header
 *    line, then sign, master and audit lines of 43 canonical base64url
 *    characters each, an optional final newline, nothing else, at most
 *    4096 bytes), and then its keys are the reference's: the public key is
 *    the one derived from the seed, the audit key the decoded one;
 *  - the file and the memory loaders agree;
 *  - a refusal is AGENTAUTHZ_ECRYPTO (ELIMIT when over 4096 bytes) with a
 *    message that quotes no key text (no 16-character base64url run of
 *    the input) and a position inside the input;
 *  - the loaded keys sign a token that verifies with the public key text
 *    they print, and that text parses back to the same bytes;
 *  - public key text parses exactly when the reference accepts it
 *    ("azpk1." and 43 canonical base64url characters), to its bytes.
 */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_common.h"

#include "internal.h"

#define KEYFILE_MAX 4096
#define B64 sodium_base64_VARIANT_URLSAFE_NO_PADDING

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct refkeys {
    unsigned char seed[32], master[32], audit[32];
} refkeys;

/* Exactly 43 canonical base64url characters into 32 bytes. */
static int ref_b64(const char *s, size_t n, unsigned char out[32])
{
    char again[45];
    size_t got = 0;
    if (n != 43)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_'))
            return -1;
    if (sodium_base642bin(out, 32, s, n, NULL, &got, NULL, B64) != 0 || got != 32)
        return -1;
    /* Canonical: encoding the bytes again gives the same text. */
    sodium_bin2base64(again, sizeof again, out, 32, B64);
    return memcmp(again, s, 43) == 0 ? 0 : -1;
}

static int ref_line(const char **p, const char *end, const char *label, unsigned char out[32])
{
    size_t ll = strlen(label);
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    const char *stop = nl ? nl : end;
    if ((size_t)(stop - *p) != ll + 2 + 43 || memcmp(*p, label, ll) != 0 ||
        memcmp(*p + ll, ": ", 2) != 0 || ref_b64(*p + ll + 2, 43, out) != 0)
        return -1;
    *p = nl ? nl + 1 : end;
    return nl || strcmp(label, "audit") == 0 ? 0 : -1;
}

static int ref_keyfile(const char *s, size_t n, refkeys *k)
{
    static const char header[] = "agentauthz-keys v1\n";
    const char *p = s, *end = s + n;
    if (n > KEYFILE_MAX || n < sizeof header - 1 || memcmp(s, header, sizeof header - 1) != 0)
        return -1;
    p += sizeof header - 1;
    if (ref_line(&p, end, "sign", k->seed) || ref_line(&p, end, "master", k->master) ||
        ref_line(&p, end, "audit", k->audit))
        return -1;
    return p == end ? 0 : -1;
}

/* No run of 16 base64url characters of the message appears in the input. */
static void quotes_no_key(const char *msg, const uint8_t *in, size_t n)
{
    size_t run = 0;
    for (const char *c = msg; *c; c++) {
        int b = (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
                *c == '-' || *c == '_';
        run = b ? run + 1 : 0;
        if (run >= 16)
            FZ_REQUIRE(memmem(in, n, c - 15, 16) == NULL);
    }
}

/* Signs a token with k and verifies it with the public key k prints. */
static void sign_round_trip(const agentauthz_keys *k)
{
    agentauthz_token_claims c, *back = NULL;
    agentauthz_token_verify_options o = AGENTAUTHZ_TOKEN_VERIFY_OPTIONS_INIT;
    char text[AGENTAUTHZ_PUBKEY_TEXT_MAX], *tok = NULL;
    char *tools[] = {"read_file"};
    unsigned char pk[32], raw[32];
    memset(&c, 0, sizeof c);
    c.identity = "spiffe://fuzz.example/a";
    c.task = "t";
    c.session = "0123456789abcdef0123456789abcdef";
    c.audience = "aud";
    c.iat = FZ_NOW_S;
    c.exp = FZ_NOW_S + 60;
    c.tools = tools;
    c.tools_count = 1;
    o.now = FZ_NOW_S;
    FZ_REQUIRE(agentauthz_keys_public(k, text, sizeof text) == 0);
    FZ_REQUIRE(strlen(text) == 49);
    FZ_REQUIRE(agentauthz_pubkey_parse(text, pk, NULL) == 0);
    FZ_REQUIRE(agentauthz_keys_public_raw(k, raw) == 0 && memcmp(pk, raw, 32) == 0);
    FZ_REQUIRE(agentauthz_token_sign(k, &c, &tok, NULL) == 0);
    FZ_REQUIRE(agentauthz_token_verify(pk, tok, strlen(tok), &o, &back, NULL) == 0);
    agentauthz_token_claims_free(back);
    agentauthz_free(tok);
}

static void same_keys(const agentauthz_keys *k, const refkeys *r)
{
    unsigned char pk[32], sk[64];
    FZ_REQUIRE(crypto_sign_seed_keypair(pk, sk, r->seed) == 0);
    FZ_REQUIRE(memcmp(az_keys_public_key(k), pk, 32) == 0);
    FZ_REQUIRE(memcmp(az_keys_master_key(k), r->master, 32) == 0);
    FZ_REQUIRE(memcmp(az_keys_audit_key(k), r->audit, 32) == 0);
    sodium_memzero(sk, sizeof sk);
}

static void check_refusal(int rc, const agentauthz_error *err, const uint8_t *data, size_t size)
{
    fz_check_error(rc, err);
    FZ_REQUIRE(rc == (size > KEYFILE_MAX ? AGENTAUTHZ_ELIMIT : AGENTAUTHZ_ECRYPTO));
    FZ_REQUIRE(err->offset <= size);
    quotes_no_key(err->message, data, size);
}

/* The same bytes through a private file; returns what agentauthz_keys_load_file says. */
static int load_via_file(const uint8_t *data, size_t size, agentauthz_keys **k,
                         agentauthz_error *err)
{
    char path[] = "/tmp/fuzz_keys.XXXXXX";
    int fd = mkstemp(path), rc;
    if (fd < 0)
        fz_fail("fuzz_keys", "cannot make a temporary file");
    if ((size && write(fd, data, size) != (ssize_t)size) || close(fd) != 0)
        fz_fail("fuzz_keys", "cannot write a temporary file");
    rc = agentauthz_keys_load_file(path, k, err);
    unlink(path);
    return rc;
}

static void try_keyfile(const uint8_t *data, size_t size)
{
    refkeys ref;
    agentauthz_keys *k = NULL, *kf = NULL;
    agentauthz_error err, ferr;
    int want = ref_keyfile((const char *)data, size, &ref), rc, frc;
    memset(&err, 0, sizeof err);
    memset(&ferr, 0, sizeof ferr);
    rc = agentauthz_keys_load(data, size, &k, &err);
    FZ_REQUIRE((rc == 0) == (want == 0));
    FZ_REQUIRE((rc == 0) == (k != NULL));
    if (size <= KEYFILE_MAX + 8) {
        frc = load_via_file(data, size, &kf, &ferr);
        FZ_REQUIRE(frc == rc);
        if (rc)
            FZ_REQUIRE(strcmp(err.message, ferr.message) == 0 && err.line == ferr.line &&
                       err.column == ferr.column);
        else
            same_keys(kf, &ref);
        agentauthz_keys_free(kf);
    }
    if (rc) {
        check_refusal(rc, &err, data, size);
        return;
    }
    same_keys(k, &ref);
    sign_round_trip(k);
    agentauthz_keys_free(k);
    sodium_memzero(&ref, sizeof ref);
}

static void try_pubkey(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    unsigned char pk[32], ref[32];
    agentauthz_error err;
    size_t n;
    int rc, want;
    FZ_REQUIRE(text != NULL);
    memcpy(text, data, size);
    text[size] = '\0';
    n = strlen(text);
    want = n == 49 && memcmp(text, "azpk1.", 6) == 0 && ref_b64(text + 6, 43, ref) == 0;
    memset(&err, 0, sizeof err);
    rc = agentauthz_pubkey_parse(text, pk, &err);
    FZ_REQUIRE((rc == 0) == want);
    if (rc == 0)
        FZ_REQUIRE(memcmp(pk, ref, 32) == 0);
    else
        FZ_REQUIRE(rc == AGENTAUTHZ_ECRYPTO && err.code == rc && err.message[0]);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 2 * KEYFILE_MAX || sodium_init() < 0)
        return 0;
    try_keyfile(data, size);
    try_pubkey(data, size);
    return 0;
}

/*
 * libFuzzer harness for the JSON parser (az_json_parse).
 *
 * Beyond "no crash, no leak", it checks the properties the rest of the
 * library relies on: a failed parse leaves no value and a sane error
 * position; a successful one renders to JSON that parses back to an equal
 * value with the same canonical hash, and renders identically again.
 *
 * Build, for example:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Ilib \
 *     tests/fuzz/fuzz_json.c lib/json.c lib/value.c lib/arena.c lib/buf.c lib/error.c \
 *     $(pkg-config --cflags --libs libsodium) -lm -o fuzz_json
 *   ./fuzz_json tests/fuzz/corpus/json
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborting is how a harness reports a broken property to libFuzzer. */
static void require(int ok)
{
    if (!ok)
        abort();
}

static void hash_of(const agentauthz_value *v, unsigned char h[32])
{
    crypto_generichash_state st;
    require(crypto_generichash_init(&st, NULL, 0, 32) == 0);
    require(az_value_hash(v, &st) == 0);
    require(crypto_generichash_final(&st, h, 32) == 0);
}

static void check_failure(int rc, const agentauthz_value *v, const agentauthz_error *e, size_t size)
{
    require(rc == AGENTAUTHZ_EJSON || rc == AGENTAUTHZ_ELIMIT || rc == AGENTAUTHZ_ENOMEM);
    require(v == NULL);
    require(e->code == rc);
    require(e->offset <= size);
    require(e->line >= 1 && e->column >= 1);
    require(e->message[0] != '\0');
}

static void check_stable(const agentauthz_value *v)
{
    agentauthz_value *w = NULL;
    agentauthz_error e;
    char *out = NULL, *out2 = NULL;
    size_t len = 0, len2 = 0;
    unsigned char h1[32], h2[32];

    require(agentauthz_value_to_json(v, &out, &len) == 0);
    require(az_utf8_check(out, len) == len);
    require(az_json_parse(out, len, NULL, &w, &e) == 0);
    require(az_value_equal(v, w));
    hash_of(v, h1);
    hash_of(w, h2);
    require(memcmp(h1, h2, sizeof h1) == 0);
    require(agentauthz_value_to_json(w, &out2, &len2) == 0);
    require(len == len2 && memcmp(out, out2, len) == 0);
    agentauthz_free(out);
    agentauthz_free(out2);
    agentauthz_value_free(w);
}

/*
 * The arena parse (an action's arguments, issue 16) agrees with the heap
 * parse: the same verdict and error, an equal value, and again after a
 * reset of the same arena and scratch.
 */
static void check_arena(const uint8_t *data, size_t size, int rc, const agentauthz_value *v,
                        const agentauthz_error *e)
{
    az_arena ar;
    az_json_reuse reuse;
    memset(&ar, 0, sizeof ar);
    memset(&reuse, 0, sizeof reuse);
    for (int round = 0; round < 2; round++) {
        agentauthz_value *w = NULL;
        agentauthz_error e2;
        int rc2 = az_json_parse_in(&ar, &reuse, (const char *)data, size, &w, &e2);
        require(rc2 == rc);
        if (rc) {
            require(w == NULL && e2.code == e->code && e2.offset == e->offset);
        } else {
            require(az_value_equal(v, w));
        }
        az_arena_reset(&ar);
    }
    az_arena_free(&ar);
    az_json_reuse_free(&reuse);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    agentauthz_value *v = NULL;
    agentauthz_error e;
    int rc = az_json_parse((const char *)data, size, NULL, &v, &e);
    check_arena(data, size, rc, v, &e);
    if (rc) {
        check_failure(rc, v, &e, size);
        return 0;
    }
    check_stable(v);
    agentauthz_value_free(v);
    return 0;
}

/*
 * libFuzzer harness for agentauthz_session_observe and from (issue 11).
 *
 * Input: one byte choosing the task (and so observe_min_len and the
 * bounds), one byte choosing text or JSON, then the output. Beyond "no
 * crash, no leak", it checks:
 *  - observe returns 0, ELIMIT or ENOMEM; a second session that observes the
 *    same output ends with the same counts (items, bytes, drops);
 *  - when nothing was dropped, the whole text (at least min_len bytes) and
 *    every word with a digit (split and trimmed by a reference tokenizer
 *    written from agentauthz-policy(5)) are found, and a check whose
 *    argument is one of them is denied by the from rule;
 *  - when something was dropped, every check that reaches the from rule is
 *    denied by it, found or not (fail closed);
 *  - nothing shorter than 4 bytes is ever found.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "provenance.h"
#include "session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char policy[] =
    "agentauthz: 1\n"
    "tasks:\n"
    "  t4: { limits: { observe_min_len: 4 } }\n"
    "  t8: {}\n"
    "  t12: { limits: { observe_min_len: 12 } }\n"
    "  small: { limits: { observed_values: 8, observed_bytes: 256 } }\n"
    "rules:\n"
    "  - { id: no, effect: deny, tools: [use], where: { args.v: { from: [untrusted] } } }\n"
    "  - { id: ok, effect: allow, tools: [\"*\"] }\n";

static const char *const tasks[] = {"t4", "t8", "t12", "small"};
static const size_t min_lens[] = {4, 8, 12, 8};

static agentauthz_engine *engine(void)
{
    static agentauthz_engine *e;
    if (!e && (agentauthz_engine_new(&e, NULL, NULL) != 0 ||
               agentauthz_engine_load_string(e, "p", policy, sizeof policy - 1, NULL, NULL) != 0))
        fz_fail("fuzz_observe", "cannot set up the engine");
    return e;
}

static agentauthz_session *open_task(size_t t)
{
    agentauthz_session *s = NULL;
    FZ_REQUIRE(agentauthz_session_open(engine(), "agent", tasks[t], NULL, &s, NULL) == 0);
    return s;
}

static int observe(agentauthz_session *s, const uint8_t *out, size_t len, bool as_json)
{
    static const char *const labels[] = {"untrusted"};
    agentauthz_value *v = NULL;
    int rc;
    if (!as_json)
        return agentauthz_session_observe(s, NULL, out, len, labels, 1, NULL);
    if (agentauthz_value_parse_json((const char *)out, len, &v, NULL) != 0)
        return 0;
    rc = agentauthz_session_observe_value(s, NULL, v, labels, 1, NULL);
    agentauthz_value_free(v);
    return rc;
}

/* The check of tool "use" with args.v = s (n bytes): its decision. */
static agentauthz_decision check_value(agentauthz_session *s, const char *p, size_t n)
{
    agentauthz_action *a = NULL;
    agentauthz_decision d;
    FZ_REQUIRE(agentauthz_action_new(&a) == 0);
    FZ_REQUIRE(agentauthz_action_set_tool(a, "use") == 0);
    FZ_REQUIRE(agentauthz_action_set_arg_string(a, "v", p, n) == 0);
    (void)!agentauthz_check(s, a, &d);
    agentauthz_action_free(a);
    return d;
}

/* agentauthz-policy(5), PROVENANCE: what separates words, and what is trimmed off them. */
static bool ref_separates(uint8_t c)
{
    return c <= ' ' || c == 0x7f || (c && strchr("\"'`<>()[]{},;|\\:=&?#!*", c) != NULL);
}

static bool ref_trims(uint8_t c)
{
    return c && strchr(".-/_+~%@", c) != NULL;
}

/* Every word with a digit of at least m bytes must be found (and denied by the rule). */
static void words_found(agentauthz_session *s, const uint8_t *p, size_t len, size_t m)
{
    size_t i = 0;
    while (i < len) {
        size_t a, b;
        bool digit = false;
        while (i < len && ref_separates(p[i]))
            i++;
        a = i;
        while (i < len && !ref_separates(p[i]))
            i++;
        b = i;
        while (a < b && ref_trims(p[a]))
            a++;
        while (b > a && ref_trims(p[b - 1]))
            b--;
        for (size_t k = a; k < b; k++)
            digit = digit || (p[k] >= '0' && p[k] <= '9');
        if (!digit || b - a < m)
            continue;
        FZ_REQUIRE(az_prov_find(s->prov, 1, (const char *)p + a, b - a));
        FZ_REQUIRE(strcmp(check_value(s, (const char *)p + a, b - a).rule, "no") == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    agentauthz_session *s, *twin;
    size_t t, m, items[2], bytes[2];
    uint64_t dropped[2];
    bool as_json;
    int rc;
    if (size < 2)
        return 0;
    t = data[0] % 4;
    m = min_lens[t];
    as_json = data[1] & 1;
    data += 2;
    size -= 2;
    s = open_task(t);
    twin = open_task(t);
    rc = observe(s, data, size, as_json);
    FZ_REQUIRE(rc == 0 || rc == AGENTAUTHZ_ELIMIT || rc == AGENTAUTHZ_ENOMEM);
    FZ_REQUIRE(observe(twin, data, size, as_json) == rc);
    az_prov_stats(s->prov, &items[0], &bytes[0], &dropped[0]);
    az_prov_stats(twin->prov, &items[1], &bytes[1], &dropped[1]);
    FZ_REQUIRE(items[0] == items[1] && bytes[0] == bytes[1] && dropped[0] == dropped[1]);
    FZ_REQUIRE((rc != 0) <= az_prov_incomplete(s->prov));
    FZ_REQUIRE(!az_prov_find(s->prov, 1, (const char *)data, size < 3 ? size : 3));
    if (az_prov_incomplete(s->prov)) {
        /* Found or not, the from rule cannot let a value through. */
        FZ_REQUIRE(strcmp(check_value(s, "zz-not-observed-99", 18).rule, "no") == 0);
        FZ_REQUIRE(strcmp(check_value(s, (const char *)data, size).rule, "no") == 0);
    } else if (!as_json) {
        if (size >= m) {
            FZ_REQUIRE(az_prov_find(s->prov, 1, (const char *)data, size));
            FZ_REQUIRE(strcmp(check_value(s, (const char *)data, size).rule, "no") == 0);
        }
        words_found(s, data, size, m);
    }
    agentauthz_session_close(s);
    agentauthz_session_close(twin);
    return 0;
}

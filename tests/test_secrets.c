/*
 * Task secrets through the public API: issuing by every provider, leases
 * and their refusals, placeholders, scrubbing, leak detection in every
 * encoding and in nested arguments, destruction at every kind of end,
 * delegation that tries to widen scope, and task tokens checked downstream.
 */
#include <ctype.h>
#include <sodium.h>
#include <unistd.h>

#include "testutil.h"

static const char *const policy =
    "agentauthz: 1\n"
    "identities:\n"
    "  - { match: \"agent/*\", roles: [worker] }\n"
    "secrets:\n"
    "  db: { provider: random, bytes: 32, tools: [db.query] }\n"
    "  gh: { provider: host, ttl: 10m, tools: [\"github.*\", git.push] }\n"
    "  api: { provider: derived, tools: [http.get] }\n"
    "  tok: { provider: token, audience: \"https://api.example\", tools: [http.get] }\n"
    "  short: { provider: random, ttl: 1m, tools: [db.query] }\n"
    "tasks:\n"
    "  work: { roles: [worker], secrets: [db, gh, api, tok, short] }\n"
    "  narrow: { roles: [worker], secrets: [db] }\n"
    "  plain: {}\n"
    "rules:\n"
    "  - { id: ok, effect: allow, tools: [db.query, http.get, \"github.*\", git.push, send, read] }\n"
    "  - { id: no-drop, effect: deny, tools: [db.query], where: { args.sql: { prefix: DROP } } }\n"
    "  - { id: narrow-read, effect: allow, tasks: [narrow], tools: [read, db.query] }\n";

typedef struct host_ctx {
    int issued, revoked;
    unsigned char value[24];
} host_ctx;

static int host_issue(void *ctx, const agentauthz_secret_request *req, unsigned char *buf,
                      size_t cap, size_t *len)
{
    host_ctx *h = ctx;
    ck_assert_str_eq(req->secret, "gh");
    ck_assert_uint_ge(cap, sizeof h->value);
    memcpy(buf, h->value, sizeof h->value);
    *len = sizeof h->value;
    h->issued++;
    return 0;
}

static void host_revoke(void *ctx, const agentauthz_secret_request *req)
{
    host_ctx *h = ctx;
    ck_assert_str_eq(req->secret, "gh");
    h->revoked++;
}

typedef struct fixture {
    fake_clock clock;
    host_ctx host;
    agentauthz_engine *e;
} fixture;

static void setup_engine(fixture *f)
{
    agentauthz_engine_options opt = AGENTAUTHZ_ENGINE_OPTIONS_INIT;
    agentauthz_error err;
    memset(f, 0, sizeof *f);
    memcpy(f->host.value, "ghp_0123456789abcdefghij", sizeof f->host.value);
    opt.clock = fake_clock_now;
    opt.clock_ctx = &f->clock;
    opt.secret_issue = host_issue;
    opt.secret_revoke = host_revoke;
    opt.secret_ctx = &f->host;
    ck_assert_int_eq(agentauthz_engine_new(&f->e, &opt, &err), 0);
    ck_assert_int_eq(agentauthz_engine_load_string(f->e, "p", policy, strlen(policy), NULL, &err),
                     0);
}

/* Checks a JSON action and asserts it was allowed; returns the decision. */
static agentauthz_decision allowed(agentauthz_session *s, agentauthz_action *a)
{
    agentauthz_decision d;
    ck_assert_int_eq(agentauthz_check(s, a, &d), 0);
    ck_assert_msg(d.effect == AGENTAUTHZ_ALLOW, "%s: %s", d.rule, d.reason);
    return d;
}

/* Copies a leased secret out, for tests that look for it elsewhere. */
static size_t lease_copy(agentauthz_session *s, const char *tool, const char *name,
                         unsigned char *out, size_t cap)
{
    char json[128];
    agentauthz_action *a;
    agentauthz_decision d;
    agentauthz_lease *l = NULL;
    const unsigned char *v;
    size_t len = 0;
    snprintf(json, sizeof json, "{\"tool\":\"%s\"}", tool);
    a = action_from_json(json);
    d = allowed(s, a);
    ck_assert_int_eq(agentauthz_lease_acquire(s, a, &d, name, &l, NULL), 0);
    v = agentauthz_lease_value(l, &len);
    ck_assert_ptr_nonnull(v);
    ck_assert_uint_le(len, cap);
    memcpy(out, v, len);
    agentauthz_lease_release(l);
    agentauthz_action_free(a);
    return len;
}

START_TEST(test_lease_rules)
{
    fixture f;
    agentauthz_session *s;
    agentauthz_action *q, *get, *drop;
    agentauthz_decision d, denied;
    agentauthz_lease *l = NULL;
    agentauthz_error err;
    size_t len;
    setup_engine(&f);
    s = open_session(f.e, "agent/1", "work", NULL);
    ck_assert_int_eq(f.host.issued, 1);
    q = action_from_json("{\"tool\":\"db.query\",\"args\":{\"sql\":\"SELECT 1\"}}");
    get = action_from_json("{\"tool\":\"http.get\"}");
    drop = action_from_json("{\"tool\":\"db.query\",\"args\":{\"sql\":\"DROP TABLE x\"}}");
    d = allowed(s, q);
    ck_assert_int_eq(agentauthz_lease_acquire(s, q, &d, "db", &l, &err), 0);
    ck_assert_ptr_nonnull(agentauthz_lease_value(l, &len));
    ck_assert_uint_eq(len, 32);
    ck_assert_int_eq(agentauthz_lease_valid(l), 1);
    agentauthz_lease_release(l);
    /* a secret bound to other tools */
    ck_assert_int_eq(agentauthz_lease_acquire(s, q, &d, "gh", &l, &err), AGENTAUTHZ_EDENIED);
    ck_assert_ptr_null(l);
    ck_assert_ptr_nonnull(strstr(err.message, "not bound"));
    /* a decision that was not an allow of this session */
    ck_assert_int_eq(agentauthz_check(s, drop, &denied), 0);
    ck_assert_int_eq(denied.effect, AGENTAUTHZ_DENY);
    ck_assert_int_eq(agentauthz_lease_acquire(s, drop, &denied, "db", &l, &err),
                     AGENTAUTHZ_EDENIED);
    denied.effect = AGENTAUTHZ_ALLOW; /* a forged decision */
    ck_assert_int_eq(agentauthz_lease_acquire(s, drop, &denied, "db", &l, &err),
                     AGENTAUTHZ_EDENIED);
    /* an allowed decision of another tool */
    ck_assert_int_eq(agentauthz_lease_acquire(s, get, &d, "api", &l, &err), AGENTAUTHZ_EDENIED);
    ck_assert_int_eq(agentauthz_lease_acquire(s, q, &d, "nope", &l, &err), AGENTAUTHZ_ENOTFOUND);
    /* a secret's own TTL */
    fake_clock_advance(&f.clock, 61);
    d = allowed(s, q);
    ck_assert_int_eq(agentauthz_lease_acquire(s, q, &d, "short", &l, &err), AGENTAUTHZ_ESESSION);
    ck_assert_int_eq(agentauthz_lease_acquire(s, q, &d, "db", &l, &err), 0);
    /* the session ends while the lease is held: the holder sees it wiped */
    agentauthz_session_revoke(s);
    ck_assert_int_eq(agentauthz_lease_valid(l), 0);
    ck_assert_ptr_null(agentauthz_lease_value(l, &len));
    ck_assert_int_eq(f.host.revoked, 1);
    agentauthz_lease_release(l);
    ck_assert_int_eq(agentauthz_lease_acquire(s, q, &d, "db", &l, &err), AGENTAUTHZ_ESESSION);
    agentauthz_session_close(s);
    ck_assert_int_eq(f.host.revoked, 1); /* exactly once */
    agentauthz_action_free(q);
    agentauthz_action_free(get);
    agentauthz_action_free(drop);
    agentauthz_engine_free(f.e);
}
END_TEST

START_TEST(test_host_revoked_at_every_end)
{
    fixture f;
    agentauthz_session *s;
    setup_engine(&f);
    s = open_session(f.e, "agent/1", "work", NULL);
    agentauthz_session_close(s);
    ck_assert_int_eq(f.host.revoked, 1);
    s = open_session(f.e, "agent/1", "work", NULL);
    fake_clock_advance(&f.clock, 16 * 60);
    expect_decision(s, "{\"tool\":\"read\"}", AGENTAUTHZ_DENY, "session");
    ck_assert_int_eq(f.host.revoked, 2); /* expiry, on the next touch */
    agentauthz_session_close(s);
    s = open_session(f.e, "agent/1", "work", NULL);
    fake_clock_advance(&f.clock, 16 * 60);
    ck_assert_int_eq(agentauthz_engine_sweep(f.e, NULL), 0);
    ck_assert_int_eq(f.host.revoked, 3); /* expiry, by the sweep */
    agentauthz_session_close(s);
    ck_assert_int_eq(f.host.issued, 3);
    ck_assert_int_eq(f.host.revoked, 3);
    agentauthz_engine_free(f.e);
}
END_TEST

/* Encodes value in the way named, for leak tests. */
static void encode(const unsigned char *v, size_t len, int how, char *out, size_t cap)
{
    switch (how) {
    case 0: memcpy(out, v, len); out[len] = '\0'; break;
    case 1: sodium_bin2hex(out, cap, v, len); break;
    case 2: sodium_bin2base64(out, cap, v, len, sodium_base64_VARIANT_ORIGINAL); break;
    case 3: sodium_bin2base64(out, cap, v, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING); break;
    default: {
        size_t o = 0;
        for (size_t i = 0; i < len; i++)
            o += (size_t)snprintf(out + o, cap - o, "%%%02X", v[i]);
        break;
    }
    }
}

START_TEST(test_leaks_in_every_encoding)
{
    fixture f;
    agentauthz_session *s, *other;
    unsigned char value[64];
    char enc[512], json[1200];
    size_t len;
    setup_engine(&f);
    s = open_session(f.e, "agent/1", "work", NULL);
    other = open_session(f.e, "agent/2", "plain", NULL);
    len = lease_copy(s, "db.query", "db", value, sizeof value);
    for (int how = 0; how < 5; how++) {
        agentauthz_action *a;
        agentauthz_decision d;
        encode(value, len, how, enc, sizeof enc);
        /* nested in arguments, in another session of the same engine */
        a = action_from_json("{\"tool\":\"send\"}");
        ck_assert_int_eq(agentauthz_action_set_arg(a, "body", agentauthz_value_map()), 0);
        {
            agentauthz_value *list = agentauthz_value_list();
            agentauthz_value *m = agentauthz_value_map();
            char text[600];
            size_t elen = how == 0 ? len : strlen(enc), tlen;
            memcpy(text, "prefix ", 7);
            memcpy(text + 7, enc, elen);
            memcpy(text + 7 + elen, " suffix", 7);
            tlen = elen + 14;
            ck_assert_int_eq(
                agentauthz_value_list_append(list, agentauthz_value_stringn(text, tlen)), 0);
            ck_assert_int_eq(agentauthz_value_map_set(m, "deep", list), 0);
            ck_assert_int_eq(agentauthz_action_set_arg(a, "body", m), 0);
        }
        ck_assert_int_eq(agentauthz_check(other, a, &d), 0);
        ck_assert_msg(d.effect == AGENTAUTHZ_DENY && strcmp(d.rule, "leak") == 0,
                      "encoding %d not caught: %s %s", how, d.rule, d.reason);
        ck_assert_ptr_nonnull(strstr(d.reason, "\"db\""));
        /* raw random bytes may hold a NUL, so compare the whole encoding, not a C string */
        ck_assert_ptr_null(memmem(d.reason, strlen(d.reason), enc, how == 0 ? len : strlen(enc)));
        agentauthz_action_free(a);
        /* in the payload */
        a = action_from_json("{\"tool\":\"send\"}");
        memcpy(json, "data=", 5);
        memcpy(json + 5, enc, how == 0 ? len : strlen(enc));
        ck_assert_int_eq(agentauthz_action_set_payload(a, json, 5 + (how == 0 ? len : strlen(enc))),
                         0);
        ck_assert_int_eq(agentauthz_check(s, a, &d), 0);
        ck_assert_str_eq(d.rule, "leak");
        agentauthz_action_free(a);
    }
    /* once the session has ended its secrets are no longer looked for */
    agentauthz_session_close(s);
    encode(value, len, 1, enc, sizeof enc);
    snprintf(json, sizeof json, "{\"tool\":\"send\",\"payload\":\"%s\"}", enc);
    expect_decision(other, json, AGENTAUTHZ_ALLOW, "ok");
    agentauthz_session_close(other);
    agentauthz_engine_free(f.e);
}
END_TEST

START_TEST(test_substitute_and_scrub)
{
    fixture f;
    agentauthz_session *s;
    agentauthz_action *get, *q;
    agentauthz_decision dg, dq;
    agentauthz_secret_buffer *b = NULL;
    agentauthz_error err;
    unsigned char api[64];
    char hex[200], expect[300], *out = NULL, output[400];
    const unsigned char *data;
    size_t len, alen, outlen;
    const char *req = "GET /x HTTP/1.1\r\nAuthorization: Bearer ${secret:api}\r\n";
    setup_engine(&f);
    s = open_session(f.e, "agent/1", "work", NULL);
    alen = lease_copy(s, "http.get", "api", api, sizeof api);
    get = action_from_json("{\"tool\":\"http.get\"}");
    q = action_from_json("{\"tool\":\"db.query\"}");
    dg = allowed(s, get);
    ck_assert_int_eq(agentauthz_substitute(s, get, &dg, req, strlen(req), &b, &err), 0);
    data = agentauthz_secret_buffer_data(b, &len);
    ck_assert_uint_eq(len, strlen(req) - strlen("${secret:api}") + alen);
    ck_assert_int_eq(memcmp(data + 39, api, alen), 0);
    agentauthz_secret_buffer_free(b);
    /* refused placeholders give nothing at all */
    dq = allowed(s, q);
    ck_assert_int_eq(agentauthz_substitute(s, q, &dq, req, strlen(req), &b, &err),
                     AGENTAUTHZ_EDENIED);
    ck_assert_ptr_null(b);
    ck_assert_int_eq(agentauthz_substitute(s, get, &dg, "x ${secret:api", 14, &b, &err),
                     AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(agentauthz_substitute(s, get, &dg, "${secret:nope}", 14, &b, &err),
                     AGENTAUTHZ_ENOTFOUND);
    ck_assert_int_eq(agentauthz_substitute(s, get, &dg, "no placeholders", 15, &b, &err), 0);
    agentauthz_secret_buffer_free(b);
    /* scrubbing tool output in every encoding */
    sodium_bin2hex(hex, sizeof hex, api, alen);
    snprintf(output, sizeof output, "token=%s done", hex);
    ck_assert_int_eq(agentauthz_scrub(s, output, strlen(output), &out, &outlen, &err), 0);
    snprintf(expect, sizeof expect, "token=[redacted:api] done");
    ck_assert_str_eq(out, expect);
    ck_assert_uint_eq(outlen, strlen(expect));
    agentauthz_free(out);
    for (int how = 0; how < 5; how++) {
        char enc[300];
        size_t elen;
        encode(api, alen, how, enc, sizeof enc);
        /* the raw form is binary: it may hold NUL bytes */
        elen = how == 0 ? alen : strlen(enc);
        ck_assert_int_eq(agentauthz_scrub(s, enc, elen, &out, &outlen, &err), 0);
        /* the message never shows the output: it would hold the secret on failure */
        ck_assert_msg(memmem(out, outlen, "[redacted:api]", 14) != NULL,
                      "encoding %d not scrubbed", how);
        agentauthz_free(out);
    }
    agentauthz_action_free(get);
    agentauthz_action_free(q);
    agentauthz_session_close(s);
    agentauthz_engine_free(f.e);
}
END_TEST

START_TEST(test_derived_is_recomputable)
{
    fixture f;
    agentauthz_session *s;
    agentauthz_keys *keys = NULL;
    agentauthz_engine_options opt = AGENTAUTHZ_ENGINE_OPTIONS_INIT;
    unsigned char got[64], want[32];
    static const char label[] = "agentauthz-derived-v1";
    crypto_generichash_state st;
    const unsigned char *master;
    size_t len;
    ck_assert_int_eq(agentauthz_keys_generate(&keys, NULL), 0);
    memset(&f, 0, sizeof f);
    opt.keys = keys;
    opt.secret_issue = host_issue;
    opt.secret_ctx = &f.host;
    ck_assert_int_eq(agentauthz_engine_new(&f.e, &opt, NULL), 0);
    ck_assert_int_eq(agentauthz_engine_load_string(f.e, "p", policy, strlen(policy), NULL, NULL),
                     0);
    s = open_session(f.e, "agent/1", "work", NULL);
    len = lease_copy(s, "http.get", "api", got, sizeof got);
    ck_assert_uint_eq(len, 32);
    /* what a service holding the master key computes (libagentauthz(3)) */
    {
        char keyfile[] = "/tmp/azkeysXXXXXX";
        int fd = mkstemp(keyfile);
        FILE *fp;
        char line[256], *b64;
        size_t mlen;
        unsigned char mk[32];
        close(fd);
        unlink(keyfile);
        ck_assert_int_eq(agentauthz_keys_save_file(keys, keyfile, NULL), 0);
        fp = fopen(keyfile, "r");
        ck_assert_ptr_nonnull(fp);
        while (fgets(line, sizeof line, fp))
            if (strncmp(line, "master: ", 8) == 0)
                break;
        fclose(fp);
        unlink(keyfile);
        b64 = line + 8;
        b64[strcspn(b64, "\n")] = '\0';
        ck_assert_int_eq(sodium_base642bin(mk, sizeof mk, b64, strlen(b64), NULL, &mlen, NULL,
                                           sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                         0);
        master = mk;
        crypto_generichash_init(&st, master, 32, 32);
        crypto_generichash_update(&st, (const unsigned char *)label, sizeof label);
        crypto_generichash_update(&st, (const unsigned char *)agentauthz_session_id(s),
                                  strlen(agentauthz_session_id(s)) + 1);
        crypto_generichash_update(&st, (const unsigned char *)"api", 3);
        crypto_generichash_final(&st, want, 32);
    }
    ck_assert_int_eq(memcmp(got, want, 32), 0);
    agentauthz_session_close(s);
    agentauthz_engine_free(f.e);
    agentauthz_keys_free(keys);
}
END_TEST

START_TEST(test_token_secret_verifies_downstream)
{
    fixture f;
    agentauthz_session *s;
    agentauthz_verifier *v = NULL;
    agentauthz_token_verify_options vo = AGENTAUTHZ_TOKEN_VERIFY_OPTIONS_INIT;
    agentauthz_token_claims *c = NULL;
    agentauthz_engine *downstream;
    agentauthz_action *a;
    agentauthz_decision d;
    unsigned char pk[32], token[4096];
    size_t len;
    setup_engine(&f);
    s = open_session(f.e, "agent/1", "work", NULL);
    len = lease_copy(s, "http.get", "tok", token, sizeof token - 1);
    token[len] = '\0';
    ck_assert_int_eq(agentauthz_engine_public_key(f.e, pk), 0);
    vo.audience = "https://api.example";
    ck_assert_int_eq(agentauthz_token_verify(pk, (char *)token, len, &vo, &c, NULL), 0);
    ck_assert_str_eq(c->identity, "agent/1");
    ck_assert_str_eq(c->task, "work");
    ck_assert_str_eq(c->session, agentauthz_session_id(s));
    ck_assert_uint_ge(c->tools_count, 1);
    agentauthz_token_claims_free(c);
    /* a downstream service re-checks against its own policy in one call */
    ck_assert_int_eq(agentauthz_verifier_new(pk, &vo, 16, &v, NULL), 0);
    downstream = engine_with(NULL, policy, NULL);
    a = action_from_json("{\"tool\":\"http.get\"}");
    ck_assert_int_eq(agentauthz_check_token(downstream, v, (char *)token, len, a, &d, NULL), 0);
    ck_assert_int_eq(d.effect, AGENTAUTHZ_ALLOW);
    agentauthz_action_free(a);
    a = action_from_json("{\"tool\":\"rm\"}");
    ck_assert_int_eq(agentauthz_check_token(downstream, v, (char *)token, len, a, &d, NULL), 0);
    ck_assert_int_eq(d.effect, AGENTAUTHZ_DENY);
    ck_assert_str_eq(d.rule, "session");
    token[len / 2] ^= 1;
    ck_assert_int_ne(agentauthz_check_token(downstream, v, (char *)token, len, a, &d, NULL), 0);
    ck_assert_int_eq(d.effect, AGENTAUTHZ_DENY);
    agentauthz_action_free(a);
    agentauthz_verifier_free(v);
    agentauthz_engine_free(downstream);
    agentauthz_session_close(s);
    agentauthz_engine_free(f.e);
}
END_TEST

/* Checks a in s and asserts a leak deny naming the secret; frees a. */
static void expect_leak(agentauthz_session *s, agentauthz_action *a, const char *name,
                        const char *what)
{
    agentauthz_decision d;
    char quoted[64];
    ck_assert_int_eq(agentauthz_check(s, a, &d), 0);
    ck_assert_msg(d.effect == AGENTAUTHZ_DENY && strcmp(d.rule, "leak") == 0,
                  "%s not caught: %s %s", what, d.rule, d.reason);
    snprintf(quoted, sizeof quoted, "\"%s\"", name);
    ck_assert_ptr_nonnull(strstr(d.reason, quoted));
    agentauthz_action_free(a);
}

/* A secret in the tool name or in a label leaks as well as one in the arguments (item 12). */
START_TEST(test_leak_in_tool_and_labels)
{
    fixture f;
    agentauthz_session *s, *other;
    unsigned char value[64];
    char hex[160], tool[200];
    agentauthz_action *a;
    size_t len;
    setup_engine(&f);
    s = open_session(f.e, "agent/1", "work", NULL);
    other = open_session(f.e, "agent/2", "plain", NULL);
    len = lease_copy(s, "db.query", "db", value, sizeof value);
    sodium_bin2hex(hex, sizeof hex, value, len);
    snprintf(tool, sizeof tool, "github.%s", hex);
    a = action_from_json("{\"tool\":\"send\"}");
    ck_assert_int_eq(agentauthz_action_set_tool(a, tool), 0);
    expect_leak(s, a, "db", "a secret in the tool name");
    a = action_from_json("{\"tool\":\"send\"}");
    ck_assert_int_eq(agentauthz_action_add_label(a, "ok"), 0);
    ck_assert_int_eq(agentauthz_action_add_label(a, hex), 0);
    expect_leak(other, a, "db", "a secret in a label");
    /* near miss: the same label with one hex digit changed is no leak */
    hex[5] = hex[5] == '0' ? '1' : '0';
    a = action_from_json("{\"tool\":\"send\"}");
    ck_assert_int_eq(agentauthz_action_add_label(a, hex), 0);
    {
        agentauthz_decision d;
        ck_assert_int_eq(agentauthz_check(s, a, &d), 0);
        ck_assert_int_eq(d.effect, AGENTAUTHZ_ALLOW);
    }
    agentauthz_action_free(a);
    agentauthz_session_close(other);
    agentauthz_session_close(s);
    agentauthz_engine_free(f.e);
}
END_TEST

/*
 * A task token names the engine as "iss" and carries the task's token_params
 * (only those) with the session's values; a task without token_params shares none.
 */
START_TEST(test_token_issuer_and_params)
{
    static const char share_policy[] =
        "agentauthz: 1\n"
        "identities:\n"
        "  - { match: \"agent/*\", roles: [worker] }\n"
        "secrets:\n"
        "  tok: { provider: token, audience: aud, tools: [http.get] }\n"
        "tasks:\n"
        "  share:\n"
        "    token_params: [ticket, n]\n"
        "    roles: [worker]\n"
        "    secrets: [tok]\n"
        "    params: { ticket: string, n: number, note: string, tags: list }\n"
        "  keep: { roles: [worker], secrets: [tok], params: { ticket: string } }\n"
        "rules:\n"
        "  - { id: ok, effect: allow, tools: [http.get] }\n";
    agentauthz_engine_options opt = AGENTAUTHZ_ENGINE_OPTIONS_INIT;
    agentauthz_token_verify_options vo = AGENTAUTHZ_TOKEN_VERIFY_OPTIONS_INIT;
    agentauthz_token_claims *c = NULL;
    agentauthz_engine *e = NULL;
    agentauthz_session *s;
    unsigned char pk[32], token[4096];
    size_t len;
    opt.name = "orchestrator-1";
    ck_assert_int_eq(agentauthz_engine_new(&e, &opt, NULL), 0);
    ck_assert_int_eq(agentauthz_engine_load_string(e, "p", share_policy, strlen(share_policy),
                                                   NULL, NULL),
                     0);
    ck_assert_int_eq(agentauthz_engine_public_key(e, pk), 0);
    s = open_session(e, "agent/1", "share",
                     "{\"note\":\"private\",\"ticket\":\"T-7\",\"n\":2,\"tags\":[\"a\"]}");
    len = lease_copy(s, "http.get", "tok", token, sizeof token - 1);
    ck_assert_int_eq(agentauthz_token_verify(pk, (char *)token, len, &vo, &c, NULL), 0);
    ck_assert_str_eq(c->issuer, "orchestrator-1");
    ck_assert_str_eq(c->params, "{\"ticket\":\"T-7\",\"n\":2}");
    agentauthz_token_claims_free(c);
    agentauthz_session_close(s);
    /* The near miss: a task without token_params shares nothing. */
    s = open_session(e, "agent/1", "keep", "{\"ticket\":\"T-7\"}");
    len = lease_copy(s, "http.get", "tok", token, sizeof token - 1);
    ck_assert_int_eq(agentauthz_token_verify(pk, (char *)token, len, &vo, &c, NULL), 0);
    ck_assert_ptr_null(c->params);
    agentauthz_token_claims_free(c);
    agentauthz_session_close(s);
    agentauthz_engine_free(e);
}
END_TEST

/* A token's payload or signature without the JWT's header is still a leak. */
START_TEST(test_token_parts_alone)
{
    fixture f;
    agentauthz_session *s;
    unsigned char token[4096];
    char text[4200], *out = NULL;
    const char *dot1, *dot2;
    agentauthz_action *a;
    size_t len, outlen;
    setup_engine(&f);
    s = open_session(f.e, "agent/1", "work", NULL);
    len = lease_copy(s, "http.get", "tok", token, sizeof token - 1);
    token[len] = '\0';
    dot1 = strchr((const char *)token, '.') + 1;
    dot2 = strrchr((const char *)token, '.');
    ck_assert_ptr_nonnull(dot2);
    /* the signature alone */
    snprintf(text, sizeof text, "sig=%s;", dot2 + 1);
    a = action_from_json("{\"tool\":\"send\"}");
    ck_assert_int_eq(agentauthz_action_set_payload(a, text, strlen(text)), 0);
    expect_leak(s, a, "tok", "a token's signature");
    /* the payload alone */
    snprintf(text, sizeof text, "claims=%.*s;", (int)(dot2 - dot1), dot1);
    a = action_from_json("{\"tool\":\"send\"}");
    ck_assert_int_eq(agentauthz_action_set_payload(a, text, strlen(text)), 0);
    expect_leak(s, a, "tok", "a token's payload");
    /* and scrubbed from output */
    snprintf(text, sizeof text, "x %s y", dot2 + 1);
    ck_assert_int_eq(agentauthz_scrub(s, text, strlen(text), &out, &outlen, NULL), 0);
    ck_assert_str_eq(out, "x [redacted:tok] y");
    agentauthz_free(out);
    agentauthz_session_close(s);
    agentauthz_engine_free(f.e);
}
END_TEST

/* Mixed-case hex, and hex wrapped over lines, are scrubbed from tool output. */
START_TEST(test_scrub_mixed_case_hex)
{
    fixture f;
    agentauthz_session *s;
    unsigned char api[64];
    char hex[160], output[400], *out = NULL;
    size_t alen, outlen;
    setup_engine(&f);
    s = open_session(f.e, "agent/1", "work", NULL);
    alen = lease_copy(s, "http.get", "api", api, sizeof api);
    sodium_bin2hex(hex, sizeof hex, api, alen);
    for (size_t i = 0; hex[i]; i++)
        if (hex[i] >= 'a' && i % 2)
            hex[i] = (char)(hex[i] - 'a' + 'A');
    snprintf(output, sizeof output, "token=%s done", hex);
    ck_assert_int_eq(agentauthz_scrub(s, output, strlen(output), &out, &outlen, NULL), 0);
    ck_assert_str_eq(out, "token=[redacted:api] done");
    agentauthz_free(out);
    snprintf(output, sizeof output, "token=%.20s\n  %s done", hex, hex + 20);
    ck_assert_int_eq(agentauthz_scrub(s, output, strlen(output), &out, &outlen, NULL), 0);
    ck_assert_str_eq(out, "token=[redacted:api] done");
    agentauthz_free(out);
    agentauthz_session_close(s);
    agentauthz_engine_free(f.e);
}
END_TEST

/* Scrubs text in s and returns whether it came back redacted for secret name. */
static bool scrubbed(agentauthz_session *s, const char *text, const char *name, const char *want)
{
    char *out = NULL, marker[64];
    size_t outlen;
    bool hit;
    ck_assert_int_eq(agentauthz_scrub(s, text, strlen(text), &out, &outlen, NULL), 0);
    snprintf(marker, sizeof marker, "[redacted:%s]", name);
    hit = strstr(out, marker) != NULL;
    if (want)
        ck_assert_str_eq(out, want);
    agentauthz_free(out);
    return hit;
}

/*
 * Output that returns after its session ended (close, revoke, expiry) is
 * still redacted, from the destroyed secrets' fingerprints, for the grace
 * period (the policy's longest secret TTL: 15 minutes here), and no longer
 * after it (item 13).
 */
START_TEST(test_scrub_after_end)
{
    fixture f;
    agentauthz_session *s, *scrubber;
    unsigned char value[64], b64[120];
    char hex[160], text[400];
    size_t len;
    setup_engine(&f);
    scrubber = open_session(f.e, "agent/9", "plain", NULL);
    for (int end = 0; end < 3; end++) {
        s = open_session(f.e, "agent/1", "work", NULL);
        len = lease_copy(s, "db.query", "db", value, sizeof value);
        sodium_bin2hex(hex, sizeof hex, value, len);
        sodium_bin2base64((char *)b64, sizeof b64, value, len, sodium_base64_VARIANT_ORIGINAL);
        if (end == 0)
            agentauthz_session_close(s);
        else if (end == 1)
            ck_assert_int_eq(agentauthz_session_revoke(s), 0);
        else
            fake_clock_advance(&f.clock, 16 * 60); /* the session and its secrets expire */
        if (end == 2) /* expiry is noticed by the next call on the session */
            expect_decision(s, "{\"tool\":\"read\"}", AGENTAUTHZ_DENY, NULL);
        snprintf(text, sizeof text, "result: %s.", hex);
        ck_assert_msg(scrubbed(scrubber, text, "db", "result: [redacted:db]."),
                      "end %d: hex of a destroyed secret not redacted", end);
        /* in mixed case, and wrapped base64 */
        hex[3] = (char)toupper((unsigned char)hex[3]);
        snprintf(text, sizeof text, "x=%s", hex);
        ck_assert(scrubbed(scrubber, text, "db", "x=[redacted:db]"));
        snprintf(text, sizeof text, "%.20s\r\n%s", (char *)b64, (char *)b64 + 20);
        ck_assert_msg(scrubbed(scrubber, text, "db", NULL), "end %d: wrapped base64", end);
        /* near miss: one digit changed is left alone */
        hex[10] = hex[10] == '0' ? '1' : '0';
        snprintf(text, sizeof text, "result: %s.", hex);
        ck_assert(!scrubbed(scrubber, text, "db", text));
        /* after the grace period the fingerprints are gone */
        fake_clock_advance(&f.clock, 16 * 60);
        hex[10] = hex[10] == '0' ? '1' : '0';
        snprintf(text, sizeof text, "result: %s.", hex);
        ck_assert(!scrubbed(scrubber, text, "db", text));
        if (end != 0)
            agentauthz_session_close(s);
        /* the scrubber's own session must outlive the clock */
        agentauthz_session_close(scrubber);
        scrubber = open_session(f.e, "agent/9", "plain", NULL);
    }
    agentauthz_session_close(scrubber);
    agentauthz_engine_free(f.e);
}
END_TEST

START_TEST(test_delegation_narrows)
{
    fixture f;
    agentauthz_session *parent, *child, *grandchild;
    agentauthz_delegate_options opt = AGENTAUTHZ_DELEGATE_OPTIONS_INIT;
    const char *tools[] = {"read", "db.query"};
    const char *secrets[] = {"db", "gh"};
    agentauthz_error err;
    unsigned char pv[64], cv[64];
    size_t plen, clen;
    setup_engine(&f);
    parent = open_session(f.e, "agent/1", "work", NULL);
    opt.tools = tools;
    opt.ntools = 2;
    opt.secrets = secrets;
    opt.nsecrets = 2;
    ck_assert_int_eq(agentauthz_session_delegate(parent, "agent/sub", "narrow", &opt, &child, &err),
                     0);
    /* tools outside the delegation are denied even where the child's task allows them */
    expect_decision(child, "{\"tool\":\"send\"}", AGENTAUTHZ_DENY, "session");
    expect_decision(child, "{\"tool\":\"read\"}", AGENTAUTHZ_ALLOW, "ok");
    /* the parent's deny holds for the child */
    expect_decision(child, "{\"tool\":\"db.query\",\"args\":{\"sql\":\"DROP x\"}}",
                    AGENTAUTHZ_DENY, "no-drop");
    /* secrets: only those named, held by the parent and listed by the child's task */
    plen = lease_copy(parent, "db.query", "db", pv, sizeof pv);
    clen = lease_copy(child, "db.query", "db", cv, sizeof cv);
    ck_assert_uint_eq(plen, clen);
    ck_assert_int_eq(memcmp(pv, cv, plen), 0);
    {
        agentauthz_action *a = action_from_json("{\"tool\":\"github.issue\"}");
        agentauthz_decision d;
        agentauthz_lease *l = NULL;
        ck_assert_int_eq(agentauthz_check(child, a, &d), 0);
        ck_assert_int_eq(d.effect, AGENTAUTHZ_DENY);
        ck_assert_int_eq(agentauthz_lease_acquire(child, a, &d, "gh", &l, &err),
                         AGENTAUTHZ_ENOTFOUND);
        agentauthz_action_free(a);
    }
    /* a grandchild cannot widen what its parent was given */
    opt.tools = (const char *[]){"*"};
    opt.ntools = 1;
    opt.nsecrets = 0;
    ck_assert_int_eq(
        agentauthz_session_delegate(child, "agent/subsub", "narrow", &opt, &grandchild, &err), 0);
    expect_decision(grandchild, "{\"tool\":\"send\"}", AGENTAUTHZ_DENY, "session");
    expect_decision(grandchild, "{\"tool\":\"read\"}", AGENTAUTHZ_ALLOW, "ok");
    /* ending the root ends every descendant */
    agentauthz_session_revoke(parent);
    expect_decision(child, "{\"tool\":\"read\"}", AGENTAUTHZ_DENY, "session");
    expect_decision(grandchild, "{\"tool\":\"read\"}", AGENTAUTHZ_DENY, "session");
    {
        agentauthz_session *late = NULL;
        ck_assert_int_eq(
            agentauthz_session_delegate(parent, "agent/x", "narrow", NULL, &late, &err),
            AGENTAUTHZ_ESESSION);
        ck_assert_ptr_null(late);
    }
    agentauthz_session_close(grandchild);
    agentauthz_session_close(child);
    agentauthz_session_close(parent);
    agentauthz_engine_free(f.e);
}
END_TEST

START_TEST(test_delegation_ttl_and_depth)
{
    fixture f;
    agentauthz_session *chain[AGENTAUTHZ_DELEGATION_DEPTH_MAX + 1];
    agentauthz_delegate_options opt = AGENTAUTHZ_DELEGATE_OPTIONS_INIT;
    agentauthz_session_options so = AGENTAUTHZ_SESSION_OPTIONS_INIT;
    agentauthz_session *extra = NULL;
    agentauthz_error err;
    int n = 1;
    setup_engine(&f);
    so.ttl_ns = 60000000000u;
    ck_assert_int_eq(agentauthz_session_open(f.e, "agent/1", "plain", &so, &chain[0], &err), 0);
    opt.ttl_ns = 3600000000000u; /* asks for more than the parent has */
    while (agentauthz_session_delegate(chain[n - 1], "agent/1", "plain", &opt, &chain[n], &err) ==
           0)
        n++;
    ck_assert_int_eq(n, AGENTAUTHZ_DELEGATION_DEPTH_MAX);
    ck_assert_int_eq(agentauthz_session_delegate(chain[n - 1], "agent/1", "plain", &opt, &extra,
                                                 &err),
                     AGENTAUTHZ_ELIMIT);
    fake_clock_advance(&f.clock, 60);
    expect_decision(chain[n - 1], "{\"tool\":\"read\"}", AGENTAUTHZ_DENY, "session");
    while (n--)
        agentauthz_session_close(chain[n]);
    agentauthz_engine_free(f.e);
}
END_TEST

static Suite *secrets_suite(void)
{
    Suite *s = suite_create("secrets");
    TCase *tc = tcase_create("secrets");
    tcase_add_test(tc, test_lease_rules);
    tcase_add_test(tc, test_host_revoked_at_every_end);
    tcase_add_test(tc, test_leaks_in_every_encoding);
    tcase_add_test(tc, test_substitute_and_scrub);
    tcase_add_test(tc, test_derived_is_recomputable);
    tcase_add_test(tc, test_token_secret_verifies_downstream);
    tcase_add_test(tc, test_leak_in_tool_and_labels);
    tcase_add_test(tc, test_token_parts_alone);
    tcase_add_test(tc, test_token_issuer_and_params);
    tcase_add_test(tc, test_scrub_mixed_case_hex);
    tcase_add_test(tc, test_scrub_after_end);
    tcase_add_test(tc, test_delegation_narrows);
    tcase_add_test(tc, test_delegation_ttl_and_depth);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    return run_suite(secrets_suite());
}

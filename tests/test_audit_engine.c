/*
 * The audit log as the engine writes it: one record for every session
 * event, check, approval, lease and refusal; the chain verifies; no secret
 * value appears in it, in any encoding, even for arguments logged in clear.
 */
#include <sodium.h>
#include <unistd.h>

#include "testutil.h"

static const char *const policy =
    "agentauthz: 1\n"
    "name: audited\n"
    "audit: { clear_args: [to] }\n"
    "secrets: { db: { provider: random, tools: [db.query] } }\n"
    "tasks: { t: { secrets: [db] } }\n"
    "rules:\n"
    "  - { id: ok, effect: allow, tools: [db.query, send] }\n"
    "  - { id: pay, effect: ask, tools: [pay] }\n";

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static int count_events(const char *log, const char *event)
{
    char needle[64];
    int n = 0;
    snprintf(needle, sizeof needle, "\"event\":\"%s\"", event);
    for (const char *p = log; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

static void assert_absent(const char *log, size_t len, const unsigned char *v, size_t vlen)
{
    char enc[256];
    ck_assert_ptr_null(memmem(log, len, v, vlen));
    sodium_bin2hex(enc, sizeof enc, v, vlen);
    ck_assert_ptr_null(strstr(log, enc));
    sodium_bin2base64(enc, sizeof enc, v, vlen, sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
    ck_assert_ptr_null(strstr(log, enc));
    sodium_bin2base64(enc, sizeof enc, v, vlen, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    ck_assert_ptr_null(strstr(log, enc));
}

START_TEST(test_every_event_recorded_and_verified)
{
    char path[] = "/tmp/azauditXXXXXX";
    fake_clock c = {0};
    agentauthz_engine *e = engine_with(&c, policy, NULL);
    agentauthz_audit_options ao = AGENTAUTHZ_AUDIT_OPTIONS_INIT;
    agentauthz_audit_report rep;
    agentauthz_keys *keys = NULL;
    agentauthz_session *s, *s2;
    agentauthz_action *q, *pay, *send;
    agentauthz_decision d;
    agentauthz_lease *l = NULL;
    unsigned char secret[64];
    size_t slen = 0, loglen;
    char *log, leakjson[512], hex[200];
    const char *paths[1];
    int fd = mkstemp(path);
    agentauthz_engine_options eo = AGENTAUTHZ_ENGINE_OPTIONS_INIT;
    close(fd);
    agentauthz_engine_free(e);
    ck_assert_int_eq(agentauthz_keys_generate(&keys, NULL), 0);
    eo.clock = fake_clock_now;
    eo.clock_ctx = &c;
    eo.keys = keys;
    eo.name = "test-engine";
    ck_assert_int_eq(agentauthz_engine_new(&e, &eo, NULL), 0);
    ao.path = path;
    ck_assert_int_eq(agentauthz_engine_set_audit(e, &ao, NULL), 0);
    ck_assert_int_eq(agentauthz_engine_load_string(e, "p", policy, strlen(policy), NULL, NULL), 0);
    s = open_session(e, "agent", "t", NULL);
    q = action_from_json("{\"tool\":\"db.query\",\"args\":{\"sql\":\"SELECT 1\"}}");
    ck_assert_int_eq(agentauthz_check(s, q, &d), 0);
    ck_assert_int_eq(agentauthz_lease_acquire(s, q, &d, "db", &l, NULL), 0);
    memcpy(secret, agentauthz_lease_value(l, &slen), 32);
    slen = 32;
    agentauthz_lease_release(l);
    send = action_from_json("{\"tool\":\"send\"}");
    ck_assert_int_eq(agentauthz_lease_acquire(s, send, &d, "db", &l, NULL), AGENTAUTHZ_EDENIED);
    /* the agent tries to mail the secret out, in clear-logged and digested arguments */
    sodium_bin2hex(hex, sizeof hex, secret, slen);
    snprintf(leakjson, sizeof leakjson, "{\"to\":\"x%s\",\"body\":\"%s\"}", hex, hex);
    ck_assert_int_eq(agentauthz_action_set_args_json(send, leakjson, strlen(leakjson), NULL), 0);
    ck_assert_int_eq(agentauthz_check(s, send, &d), 0);
    ck_assert_str_eq(d.rule, "leak");
    pay = action_from_json("{\"tool\":\"pay\",\"args\":{\"to\":\"bob\"}}");
    ck_assert_int_eq(agentauthz_check(s, pay, &d), 0);
    ck_assert_int_eq(d.effect, AGENTAUTHZ_ASK);
    ck_assert_int_eq(agentauthz_approve(s, pay, AGENTAUTHZ_APPROVE_ONCE), 0);
    ck_assert_int_eq(agentauthz_check(s, pay, &d), 0);
    ck_assert_int_eq(d.effect, AGENTAUTHZ_ALLOW);
    ck_assert_int_eq(agentauthz_session_revoke(s), 0);
    agentauthz_session_close(s);
    s = open_session(e, "agent", "t", NULL);
    agentauthz_session_close(s);
    s2 = open_session(e, "agent", "t", NULL);
    fake_clock_advance(&c, 3600);
    ck_assert_int_eq(agentauthz_engine_sweep(e, NULL), 0);
    agentauthz_session_close(s2);
    ck_assert_int_eq(agentauthz_engine_set_audit(e, NULL, NULL), 0); /* flushes */
    log = slurp(path, &loglen);
    ck_assert_int_eq(count_events(log, "reload"), 1);
    ck_assert_int_eq(count_events(log, "open"), 3);
    ck_assert_int_eq(count_events(log, "check"), 4);
    ck_assert_int_eq(count_events(log, "lease"), 1);
    ck_assert_int_eq(count_events(log, "lease_refused"), 1);
    ck_assert_int_eq(count_events(log, "approve"), 1);
    ck_assert_int_eq(count_events(log, "revoke"), 1);
    ck_assert_int_eq(count_events(log, "close"), 1);
    ck_assert_int_eq(count_events(log, "expire"), 1);
    ck_assert_ptr_nonnull(strstr(log, "\"bob\""));      /* named in clear_args */
    ck_assert_ptr_null(strstr(log, "SELECT 1"));        /* digested by default */
    ck_assert_ptr_nonnull(strstr(log, "test-engine"));
    ck_assert_ptr_nonnull(strstr(log, "audited"));
    assert_absent(log, loglen, secret, slen);
    paths[0] = path;
    ck_assert_int_eq(agentauthz_audit_verify(keys, paths, 1, &rep, NULL), 0);
    /* 14 events, the start record and the checkpoint at set_audit(NULL) */
    ck_assert_uint_eq(rep.records, 16);
    ck_assert_int_eq(count_events(log, "start"), 1);
    ck_assert_int_eq(count_events(log, "checkpoint"), 1);
    /* an edit anywhere is detected at its line */
    {
        char *at = strstr(log, "\"decision\":\"deny\"");
        FILE *f;
        ck_assert_ptr_nonnull(at);
        memcpy(at + 12, "allo", 4);
        f = fopen(path, "wb");
        fwrite(log, 1, loglen, f);
        fclose(f);
        ck_assert_int_eq(agentauthz_audit_verify(keys, paths, 1, &rep, NULL), AGENTAUTHZ_ETAMPER);
        ck_assert_uint_gt(rep.line, 1);
    }
    free(log);
    unlink(path);
    agentauthz_action_free(q);
    agentauthz_action_free(pay);
    agentauthz_action_free(send);
    agentauthz_engine_free(e);
    agentauthz_keys_free(keys);
}
END_TEST

/* A callback sink that refuses the records it is told to. */
typedef struct refusing_sink {
    bool refuse;
    size_t taken, refused;
    FILE *copy; /* the records taken, for verification */
} refusing_sink;

static int refusing_take(const char *line, size_t len, void *ctx)
{
    refusing_sink *k = ctx;
    if (k->refuse) {
        k->refused++;
        return 1;
    }
    k->taken++;
    ck_assert_uint_eq(fwrite(line, 1, len, k->copy), len);
    return 0;
}

/*
 * An engine of policy (keys, a fake clock) whose audit log goes to a
 * refusing sink, which copies what it takes into a temporary file.
 */
typedef struct refusing_engine {
    char path[32];
    fake_clock clock;
    agentauthz_keys *keys;
    agentauthz_engine *e;
    refusing_sink k;
} refusing_engine;

static void refusing_engine_open(refusing_engine *r)
{
    agentauthz_engine_options eo = AGENTAUTHZ_ENGINE_OPTIONS_INIT;
    agentauthz_audit_options ao = AGENTAUTHZ_AUDIT_OPTIONS_INIT;
    int fd;
    memset(r, 0, sizeof *r);
    snprintf(r->path, sizeof r->path, "/tmp/azauditrfXXXXXX");
    ck_assert_int_ge(fd = mkstemp(r->path), 0);
    ck_assert_ptr_nonnull(r->k.copy = fdopen(fd, "wb"));
    ck_assert_int_eq(agentauthz_keys_generate(&r->keys, NULL), 0);
    eo.clock = fake_clock_now;
    eo.clock_ctx = &r->clock;
    eo.keys = r->keys;
    ck_assert_int_eq(agentauthz_engine_new(&r->e, &eo, NULL), 0);
    ck_assert_int_eq(agentauthz_engine_load_string(r->e, "p", policy, strlen(policy), NULL, NULL),
                     0);
    ao.callback = refusing_take;
    ao.ctx = &r->k;
    ck_assert_int_eq(agentauthz_engine_set_audit(r->e, &ao, NULL), 0);
}

/*
 * Stops the log (the sink takes its closing checkpoint, so before the copy
 * is closed), frees the engine, and checks that what the sink took is a
 * whole chain: the refused records left no gap.
 */
static void refusing_engine_close(refusing_engine *r)
{
    const char *paths[1] = {r->path};
    agentauthz_audit_report rep;
    ck_assert_int_eq(agentauthz_engine_set_audit(r->e, NULL, NULL), 0);
    agentauthz_engine_free(r->e);
    ck_assert_int_eq(fclose(r->k.copy), 0);
    ck_assert_int_eq(agentauthz_audit_verify(r->keys, paths, 1, &rep, NULL), 0);
    ck_assert_uint_eq(rep.records, r->k.taken);
    unlink(r->path);
    agentauthz_keys_free(r->keys);
}

/*
 * A callback that refuses a record is a failed write: the check it is about
 * is denied, the record is taken back so that the log still verifies, and
 * the next record is offered again.
 */
START_TEST(test_refusing_callback_denies)
{
    refusing_engine r;
    agentauthz_session *s;
    agentauthz_action *q;
    agentauthz_decision d;
    refusing_engine_open(&r);
    s = open_session(r.e, "agent", "t", NULL);
    q = action_from_json("{\"tool\":\"send\"}");
    ck_assert_int_eq(agentauthz_check(s, q, &d), 0);
    ck_assert_int_eq(d.effect, AGENTAUTHZ_ALLOW);
    r.k.refuse = true;
    ck_assert_int_eq(agentauthz_check(s, q, &d), AGENTAUTHZ_EIO);
    ck_assert_int_eq(d.effect, AGENTAUTHZ_DENY);
    ck_assert_str_eq(d.reason, "the audit record could not be written");
    r.k.refuse = false;
    ck_assert_int_eq(agentauthz_check(s, q, &d), 0);
    ck_assert_int_eq(d.effect, AGENTAUTHZ_ALLOW);
    agentauthz_session_close(s);
    ck_assert_uint_eq(r.k.refused, 1);
    agentauthz_action_free(q);
    refusing_engine_close(&r);
}
END_TEST

/*
 * Issue 16, item 1, for every other piece of session state: an allow whose
 * record cannot be written is a deny, and a deny changes nothing an allow
 * would. Before, the labels were added, the one-time approval used up and
 * the check noted as allowed (so a lease was handed out on it) before the
 * record was written.
 */
START_TEST(test_unrecorded_allow_changes_nothing)
{
    static const char *const text =
        "agentauthz: 1\n"
        "tools: { get: { produces: [got] } }\n"
        "secrets: { db: { provider: random, tools: [db.query] } }\n"
        "tasks: { t: { secrets: [db] }, lim: { limits: { calls: 3, per_tool: { get: 1 } } } }\n"
        "rules:\n"
        "  - { id: ok, effect: allow, tools: [db.query, get, tag] }\n"
        "  - { id: saw-got, effect: allow, tools: [probe], where: { session.labels: { has: got } } }\n"
        "  - { id: saw-x, effect: allow, tools: [probe2], where: { session.labels: { has: x } } }\n"
        "  - { id: pay, effect: ask, tools: [pay] }\n";
    agentauthz_audit_options ao = AGENTAUTHZ_AUDIT_OPTIONS_INIT;
    agentauthz_engine *e = engine_with(NULL, text, NULL);
    refusing_sink k = {false, 0, 0, NULL};
    agentauthz_action *get = action_from_json("{\"tool\":\"get\"}");
    agentauthz_action *tag = action_from_json("{\"tool\":\"tag\",\"labels\":[\"x\"]}");
    agentauthz_action *pay = action_from_json("{\"tool\":\"pay\"}");
    agentauthz_action *q = action_from_json("{\"tool\":\"db.query\"}");
    agentauthz_session *s;
    agentauthz_decision d;
    agentauthz_lease *l = NULL;
    ck_assert_ptr_nonnull(e);
    ck_assert_ptr_nonnull(k.copy = tmpfile());
    ao.callback = refusing_take;
    ao.ctx = &k;
    ck_assert_int_eq(agentauthz_engine_set_audit(e, &ao, NULL), 0);
    s = open_session(e, "agent", "t", NULL);
    ck_assert_ptr_nonnull(s);
    /* labels of the tool's catalogue entry and of the action */
    k.refuse = true;
    ck_assert_int_eq(agentauthz_check(s, get, &d), AGENTAUTHZ_EIO);
    ck_assert_int_eq(agentauthz_check(s, tag, &d), AGENTAUTHZ_EIO);
    k.refuse = false;
    expect_decision(s, "{\"tool\":\"probe\"}", AGENTAUTHZ_DENY, "default");
    expect_decision(s, "{\"tool\":\"probe2\"}", AGENTAUTHZ_DENY, "default");
    /* a one-time approval is used by the allow that stands, not by the one that failed */
    ck_assert_int_eq(agentauthz_approve(s, pay, AGENTAUTHZ_APPROVE_ONCE), 0);
    k.refuse = true;
    ck_assert_int_eq(agentauthz_check(s, pay, &d), AGENTAUTHZ_EIO);
    ck_assert_int_eq(d.effect, AGENTAUTHZ_DENY);
    k.refuse = false;
    expect_decision(s, "{\"tool\":\"pay\"}", AGENTAUTHZ_ALLOW, "pay");
    expect_decision(s, "{\"tool\":\"pay\"}", AGENTAUTHZ_ASK, "pay");
    /* a lease needs a check that was allowed, even by a host that ignores the deny */
    k.refuse = true;
    ck_assert_int_eq(agentauthz_check(s, q, &d), AGENTAUTHZ_EIO);
    k.refuse = false;
    ck_assert_uint_gt(d.seq, 0);
    d.effect = AGENTAUTHZ_ALLOW;
    ck_assert_int_eq(agentauthz_lease_acquire(s, q, &d, "db", &l, NULL), AGENTAUTHZ_EDENIED);
    ck_assert_ptr_null(l);
    /* the same state does change once the records are written */
    ck_assert_int_eq(agentauthz_check(s, q, &d), 0);
    ck_assert_int_eq(agentauthz_lease_acquire(s, q, &d, "db", &l, NULL), 0);
    agentauthz_lease_release(l);
    expect_decision(s, "{\"tool\":\"get\"}", AGENTAUTHZ_ALLOW, "ok");
    expect_decision(s, "{\"tool\":\"probe\"}", AGENTAUTHZ_ALLOW, "saw-got");
    agentauthz_session_close(s);
    /* the counters are the exception, as policy.md says: every check counts, denied ones too */
    s = open_session(e, "agent", "lim", NULL);
    k.refuse = true;
    ck_assert_int_eq(agentauthz_check(s, get, &d), AGENTAUTHZ_EIO);
    k.refuse = false;
    expect_decision(s, "{\"tool\":\"get\"}", AGENTAUTHZ_DENY, "limit");
    expect_decision(s, "{\"tool\":\"tag\"}", AGENTAUTHZ_ALLOW, "ok");
    expect_decision(s, "{\"tool\":\"tag\"}", AGENTAUTHZ_DENY, "limit");
    agentauthz_session_close(s);
    ck_assert_int_eq(agentauthz_engine_set_audit(e, NULL, NULL), 0);
    fclose(k.copy);
    agentauthz_action_free(get);
    agentauthz_action_free(tag);
    agentauthz_action_free(pay);
    agentauthz_action_free(q);
    agentauthz_engine_free(e);
}
END_TEST

/* Keys from a sign seed byte and an audit key byte (the master key does not matter). */
static agentauthz_keys *keys_of(unsigned char sign, unsigned char audit)
{
    unsigned char b[32];
    char t[512], s1[64], s2[64], s3[64];
    agentauthz_keys *k = NULL;
    memset(b, sign, sizeof b);
    sodium_bin2base64(s1, sizeof s1, b, 32, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    memset(b, 0x77, sizeof b);
    sodium_bin2base64(s2, sizeof s2, b, 32, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    memset(b, audit, sizeof b);
    sodium_bin2base64(s3, sizeof s3, b, 32, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    snprintf(t, sizeof t, "agentauthz-keys v1\nsign: %s\nmaster: %s\naudit: %s\n", s1, s2, s3);
    ck_assert_int_eq(agentauthz_keys_load(t, strlen(t), &k, NULL), 0);
    return k;
}

/* An engine named name with keys k, logging to path; one session and one check. */
static void write_engine_log(const char *name, const agentauthz_keys *k, const char *path)
{
    fake_clock c = {0};
    agentauthz_engine_options eo = AGENTAUTHZ_ENGINE_OPTIONS_INIT;
    agentauthz_audit_options ao = AGENTAUTHZ_AUDIT_OPTIONS_INIT;
    agentauthz_engine *e = NULL;
    agentauthz_session *s;
    agentauthz_action *q = action_from_json("{\"tool\":\"send\"}");
    agentauthz_decision d;
    eo.clock = fake_clock_now;
    eo.clock_ctx = &c;
    eo.keys = k;
    eo.name = name;
    ck_assert_int_eq(agentauthz_engine_new(&e, &eo, NULL), 0);
    ao.path = path;
    ck_assert_int_eq(agentauthz_engine_set_audit(e, &ao, NULL), 0);
    ck_assert_int_eq(agentauthz_engine_load_string(e, "p", policy, strlen(policy), NULL, NULL), 0);
    s = open_session(e, "agent", "t", NULL);
    ck_assert_int_eq(agentauthz_check(s, q, &d), 0);
    agentauthz_session_close(s);
    agentauthz_action_free(q);
    agentauthz_engine_free(e); /* writes the closing checkpoint */
}

static int verify_ext(const agentauthz_keys *k, const unsigned char *pk, const char *engine,
                      uint64_t last, const char *path, agentauthz_audit_result *res)
{
    agentauthz_audit_verify_options vo = AGENTAUTHZ_AUDIT_VERIFY_OPTIONS_INIT;
    const char *paths[1] = {path};
    agentauthz_audit_result r = AGENTAUTHZ_AUDIT_RESULT_INIT;
    int rc;
    vo.keys = k;
    vo.pubkey = pk;
    vo.engine = engine;
    vo.expect_last = last;
    rc = agentauthz_audit_verify_ext(&vo, paths, 1, &r, NULL);
    *res = r;
    return rc;
}

/*
 * Two engines that share an audit key (one key file copied, then the
 * signing key regenerated, or a shared audit key on purpose): the MACs of
 * one's log verify under the other's key, but the log is not the other's.
 */
START_TEST(test_log_bound_to_engine)
{
    char path[] = "/tmp/azauditengXXXXXX";
    agentauthz_keys *ka = keys_of(0x0a, 0x42), *kb = keys_of(0x0b, 0x42);
    unsigned char pka[AGENTAUTHZ_PUBKEY_BYTES];
    agentauthz_audit_result res;
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    unlink(path);
    write_engine_log("engine-a", ka, path);
    ck_assert_int_eq(agentauthz_keys_public_raw(ka, pka), 0);
    ck_assert_int_eq(verify_ext(ka, NULL, NULL, 0, path, &res), 0);
    ck_assert_uint_eq(res.schema, 2);
    ck_assert_uint_eq(res.signed_seq, res.report.last_seq);
    ck_assert_int_eq(verify_ext(kb, NULL, NULL, 0, path, &res), AGENTAUTHZ_ETAMPER);
    ck_assert_int_eq(res.report.problem, AGENTAUTHZ_AUDIT_ENGINE);
    ck_assert_uint_eq(res.report.line, 1);
    ck_assert_int_eq(verify_ext(ka, NULL, "engine-a", 0, path, &res), 0);
    ck_assert_int_eq(verify_ext(NULL, pka, "engine-a", 0, path, &res), 0);
    ck_assert_int_eq(verify_ext(ka, NULL, "engine-b", 0, path, &res), AGENTAUTHZ_ETAMPER);
    ck_assert_int_eq(res.report.problem, AGENTAUTHZ_AUDIT_ENGINE);
    /* The same file taken over by B: its resume record names B. */
    write_engine_log("engine-b", kb, path);
    ck_assert_int_eq(verify_ext(ka, NULL, NULL, 0, path, &res), AGENTAUTHZ_ETAMPER);
    ck_assert_int_eq(res.report.problem, AGENTAUTHZ_AUDIT_ENGINE);
    ck_assert_uint_gt(res.report.line, 1);
    unlink(path);
    /* The same engine resuming its own file: one log, one id. */
    write_engine_log("engine-a", ka, path);
    write_engine_log("engine-a", ka, path);
    ck_assert_int_eq(verify_ext(ka, NULL, "engine-a", 0, path, &res), 0);
    ck_assert_int_eq(verify_ext(NULL, pka, NULL, 0, path, &res), 0);
    ck_assert_uint_eq(res.signed_seq, res.report.last_seq);
    unlink(path);
    agentauthz_keys_free(ka);
    agentauthz_keys_free(kb);
}
END_TEST

/* A log cut at a record boundary verifies, but not against the last number the host knows. */
START_TEST(test_truncated_at_boundary)
{
    char path[] = "/tmp/azaudittrXXXXXX";
    agentauthz_keys *k = keys_of(0x0c, 0x43);
    agentauthz_audit_result res;
    uint64_t last;
    size_t len, cut;
    char *log;
    FILE *f;
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    unlink(path);
    write_engine_log("engine-c", k, path);
    ck_assert_int_eq(verify_ext(k, NULL, NULL, 0, path, &res), 0);
    last = res.report.last_seq;
    ck_assert_int_eq(verify_ext(k, NULL, NULL, last, path, &res), 0);
    log = slurp(path, &len);
    for (cut = len - 1; cut > 0 && log[cut - 1] != '\n'; cut--)
        ;
    f = fopen(path, "wb");
    ck_assert_uint_eq(fwrite(log, 1, cut, f), cut);
    fclose(f);
    /* no trace without --expect-last */
    ck_assert_int_eq(verify_ext(k, NULL, NULL, 0, path, &res), 0);
    ck_assert_int_eq(verify_ext(k, NULL, NULL, last, path, &res), AGENTAUTHZ_ETAMPER);
    ck_assert_int_eq(res.report.problem, AGENTAUTHZ_AUDIT_END);
    ck_assert_uint_eq(res.report.last_seq, last - 1);
    /* Cut down to nothing: an empty log. */
    f = fopen(path, "wb");
    fclose(f);
    ck_assert_int_eq(verify_ext(k, NULL, NULL, 0, path, &res), AGENTAUTHZ_ETAMPER);
    ck_assert_int_eq(res.report.problem, AGENTAUTHZ_AUDIT_EMPTY);
    free(log);
    unlink(path);
    agentauthz_keys_free(k);
}
END_TEST

/*
 * An approval takes effect only once its record is written: when the sink
 * refuses the approve record, approve fails, the next identical check is
 * still an ask (not an allow with no approve record in the log), and a
 * one-time approval is not widened to the session.
 */
START_TEST(test_refused_approve_record_grants_nothing)
{
    refusing_engine r;
    agentauthz_session *s;
    agentauthz_action *pay;
    agentauthz_decision d;
    refusing_engine_open(&r);
    s = open_session(r.e, "agent", "t", NULL);
    pay = action_from_json("{\"tool\":\"pay\",\"args\":{\"to\":\"bob\"}}");
    /* a refused one-time approval */
    r.k.refuse = true;
    ck_assert_int_eq(agentauthz_approve(s, pay, AGENTAUTHZ_APPROVE_ONCE), AGENTAUTHZ_EIO);
    r.k.refuse = false;
    ck_assert_int_eq(agentauthz_check(s, pay, &d), 0);
    ck_assert_int_eq(d.effect, AGENTAUTHZ_ASK);
    /* a refused session-wide approval */
    r.k.refuse = true;
    ck_assert_int_eq(agentauthz_approve(s, pay, AGENTAUTHZ_APPROVE_SESSION), AGENTAUTHZ_EIO);
    r.k.refuse = false;
    ck_assert_int_eq(agentauthz_check(s, pay, &d), 0);
    ck_assert_int_eq(d.effect, AGENTAUTHZ_ASK);
    /* a written one-time approval, then a refused widening of it to the session */
    ck_assert_int_eq(agentauthz_approve(s, pay, AGENTAUTHZ_APPROVE_ONCE), 0);
    r.k.refuse = true;
    ck_assert_int_eq(agentauthz_approve(s, pay, AGENTAUTHZ_APPROVE_SESSION), AGENTAUTHZ_EIO);
    r.k.refuse = false;
    ck_assert_int_eq(agentauthz_check(s, pay, &d), 0);
    ck_assert_int_eq(d.effect, AGENTAUTHZ_ALLOW); /* the one-time approval, used up */
    ck_assert_int_eq(agentauthz_check(s, pay, &d), 0);
    ck_assert_int_eq(d.effect, AGENTAUTHZ_ASK);   /* not widened */
    agentauthz_session_close(s);
    ck_assert_uint_eq(r.k.refused, 3);
    agentauthz_action_free(pay);
    refusing_engine_close(&r);
}
END_TEST

/*
 * A secret is handed out only once its lease record is written: with the
 * sink refusing, a lease and a substitution fail and give nothing out.
 */
START_TEST(test_refused_lease_record_withholds_secret)
{
    refusing_engine r;
    agentauthz_session *s;
    agentauthz_action *q;
    agentauthz_decision d;
    agentauthz_lease *l = NULL;
    agentauthz_secret_buffer *b = NULL;
    refusing_engine_open(&r);
    s = open_session(r.e, "agent", "t", NULL);
    q = action_from_json("{\"tool\":\"db.query\"}");
    ck_assert_int_eq(agentauthz_check(s, q, &d), 0);
    ck_assert_int_eq(d.effect, AGENTAUTHZ_ALLOW);
    r.k.refuse = true;
    ck_assert_int_eq(agentauthz_lease_acquire(s, q, &d, "db", &l, NULL), AGENTAUTHZ_EIO);
    ck_assert_ptr_null(l);
    ck_assert_int_eq(agentauthz_substitute(s, q, &d, "${secret:db}", 12, &b, NULL),
                     AGENTAUTHZ_EIO);
    ck_assert_ptr_null(b);
    r.k.refuse = false;
    ck_assert_int_eq(agentauthz_lease_acquire(s, q, &d, "db", &l, NULL), 0);
    agentauthz_lease_release(l);
    ck_assert_int_eq(agentauthz_substitute(s, q, &d, "${secret:db}", 12, &b, NULL), 0);
    agentauthz_secret_buffer_free(b);
    agentauthz_session_close(s);
    ck_assert_uint_eq(r.k.refused, 2);
    agentauthz_action_free(q);
    refusing_engine_close(&r);
}
END_TEST

/* A session whose open record is refused does not open (its secrets would be in no log). */
START_TEST(test_refused_open_record_opens_nothing)
{
    refusing_engine r;
    agentauthz_session *s = NULL, *child = NULL;
    agentauthz_error err;
    refusing_engine_open(&r);
    r.k.refuse = true;
    ck_assert_int_eq(agentauthz_session_open(r.e, "agent", "t", NULL, &s, &err), AGENTAUTHZ_EIO);
    ck_assert_ptr_null(s);
    ck_assert_ptr_nonnull(strstr(err.message, "open record"));
    r.k.refuse = false;
    s = open_session(r.e, "agent", "t", NULL);
    r.k.refuse = true;
    ck_assert_int_eq(agentauthz_session_delegate(s, "agent", "t", NULL, &child, &err),
                     AGENTAUTHZ_EIO);
    ck_assert_ptr_null(child);
    r.k.refuse = false;
    agentauthz_session_close(s);
    refusing_engine_close(&r);
}
END_TEST

/* Collects the records a callback sink is given, as one text. */
static int collect_take(const char *line, size_t len, void *ctx)
{
    FILE *f = ctx;
    ck_assert_uint_eq(fwrite(line, 1, len, f), len);
    return 0;
}

/*
 * A check record shows the resource as given and, when path normalisation
 * changed it, the resource the rules saw (issue 9, item 3).
 */
START_TEST(test_record_shows_checked_resource)
{
    agentauthz_audit_options ao = AGENTAUTHZ_AUDIT_OPTIONS_INIT;
    agentauthz_engine *e = engine_with(NULL, policy, NULL);
    agentauthz_session *s;
    agentauthz_action *a;
    agentauthz_decision d;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(f);
    ao.callback = collect_take;
    ao.ctx = f;
    ck_assert_int_eq(agentauthz_engine_set_audit(e, &ao, NULL), 0);
    s = open_session(e, "agent", "t", NULL);
    a = action_from_json("{\"tool\":\"send\",\"resource\":\"/kb/x/../y//\"}");
    ck_assert_int_eq(agentauthz_check(s, a, &d), 0);
    ck_assert_int_eq(agentauthz_action_set_resource(a, "/kb/z"), 0);
    ck_assert_int_eq(agentauthz_check(s, a, &d), 0);
    ck_assert_int_eq(agentauthz_action_set_resource(a, "/kb/../../z"), 0);
    ck_assert_int_eq(agentauthz_check(s, a, &d), 0);
    ck_assert_str_eq(d.rule, "input");
    agentauthz_session_close(s);
    ck_assert_int_eq(agentauthz_engine_set_audit(e, NULL, NULL), 0);
    fclose(f);
    ck_assert_ptr_nonnull(
        strstr(text, "\"resource\":\"/kb/x/../y//\",\"resource_checked\":\"/kb/y\","));
    ck_assert_ptr_nonnull(strstr(text, "\"resource\":\"/kb/z\",\"decision\""));
    ck_assert_ptr_nonnull(strstr(text, "\"resource\":\"/kb/../../z\",\"decision\":\"deny\","
                                       "\"rule\":\"input\""));
    ck_assert_int_eq(count_events(text, "check"), 3);
    free(text);
    agentauthz_action_free(a);
    agentauthz_engine_free(e);
}
END_TEST

static Suite *audit_engine_suite(void)
{
    Suite *s = suite_create("audit_engine");
    TCase *tc = tcase_create("engine");
    tcase_add_test(tc, test_every_event_recorded_and_verified);
    tcase_add_test(tc, test_refusing_callback_denies);
    tcase_add_test(tc, test_unrecorded_allow_changes_nothing);
    tcase_add_test(tc, test_refused_approve_record_grants_nothing);
    tcase_add_test(tc, test_refused_lease_record_withholds_secret);
    tcase_add_test(tc, test_refused_open_record_opens_nothing);
    tcase_add_test(tc, test_record_shows_checked_resource);
    tcase_add_test(tc, test_log_bound_to_engine);
    tcase_add_test(tc, test_truncated_at_boundary);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    return run_suite(audit_engine_suite());
}

/*
 * The audit log: record shapes for every event kind, the MAC chain, every
 * kind of tampering, flush policies, sinks, write errors, resuming,
 * rotation, argument digests and redaction. The last test reads every log
 * this suite wrote and fails if any secret value used by a test appears.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "audit_private.h"
#include "internal.h"

/* After agentauthz.h (through internal.h), as that header requires. */
#include "agentauthz/secrets.h"

/* The suite's scratch directory, set by main before any test runs. */
static char g_dir[256];

static const unsigned char KEY[32] = {
    0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x01,
    0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x12,
};

/* The engine keys of the logs this suite writes: audit key KEY (set by main). */
static agentauthz_keys *g_keys;
static az_audit_writer g_w;

/* Keys with the given audit key and a signing key made from seed_byte. */
static agentauthz_keys *keys_with(const unsigned char audit[32], unsigned char seed_byte)
{
    unsigned char seed[32], master[32];
    char text[512], b1[64], b2[64], b3[64];
    agentauthz_keys *k = NULL;
    memset(seed, seed_byte, sizeof seed);
    memset(master, 0x5a, sizeof master);
    sodium_bin2base64(b1, sizeof b1, seed, 32, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_bin2base64(b2, sizeof b2, master, 32, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_bin2base64(b3, sizeof b3, audit, 32, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    snprintf(text, sizeof text, "agentauthz-keys v1\nsign: %s\nmaster: %s\naudit: %s\n", b1, b2,
             b3);
    /* Also called from main, where ck_assert cannot be: the caller checks for NULL. */
    if (agentauthz_keys_load(text, strlen(text), &k, NULL) != 0)
        return NULL;
    return k;
}

static az_audit_writer writer_of(const agentauthz_keys *k, const char *engine)
{
    az_audit_writer w = {k, engine, NULL, NULL};
    return w;
}

/* Every secret value a test hands to the audit log; none may reach a file. */
static const char *const SECRETS[] = {
    "s3cr3t-alpha-7f9e2c01", "tok_live_Zm9vYmFyYmF6cXV4",
    "hunter2-Pa55-word-XYZ", "alice.private@example.org", /* a digested argument value */
    "4111111111111111",                                   /* a digested card number */
};
#define NSECRETS (sizeof SECRETS / sizeof SECRETS[0])

static bool scan_secrets(const char *s, size_t len, void *ctx)
{
    (void)ctx;
    /* Only the first three are secrets the engine issued; the others are plain arguments. */
    for (size_t i = 0; i < 3; i++)
        if (memmem(s, len, SECRETS[i], strlen(SECRETS[i])))
            return true;
    return false;
}

static void path_for(char *out, size_t cap, const char *name)
{
    int n = snprintf(out, cap, "%s/%s", g_dir, name);
    ck_assert(n > 0 && (size_t)n < cap);
}

static az_audit *open_log_cb(const char *path, agentauthz_audit_flush flush, size_t every,
                             agentauthz_audit_fn cb, void *ctx)
{
    agentauthz_audit_options o = AGENTAUTHZ_AUDIT_OPTIONS_INIT;
    agentauthz_error e;
    az_audit *a = NULL;
    int rc;
    o.path = path;
    o.flush = flush;
    o.flush_every = every;
    o.callback = cb;
    o.ctx = ctx;
    rc = az_audit_new(&a, &o, &g_w, &e);
    ck_assert_msg(rc == 0, "az_audit_new: %d %s", rc, e.message);
    ck_assert_ptr_nonnull(a);
    return a;
}

static az_audit *open_log(const char *path, agentauthz_audit_flush flush)
{
    return open_log_cb(path, flush, 0, NULL, NULL);
}

static void fill_check(az_audit_event *ev, uint64_t i)
{
    memset(ev, 0, sizeof *ev);
    ev->kind = AZ_AUDIT_CHECK;
    ev->time_ns = 1700000000000000000ull + i;
    ev->engine = "test-engine";
    ev->policy_name = "support-bot";
    ev->policy_hash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    ev->session = "0123456789abcdef0123456789abcdef";
    ev->identity = "spiffe://corp.example/agents/support/1";
    ev->task = "triage-ticket";
    ev->tool = "read_file";
    ev->resource = "/kb/article.md";
    ev->decision = (i % 3 == 0) ? "deny" : "allow";
    ev->rule = "read-kb";
    ev->reason = "";
    ev->check_seq = i + 1;
    ev->scan = scan_secrets;
}

static void emit_n(az_audit *a, size_t n)
{
    az_audit_event ev;
    for (size_t i = 0; i < n; i++) {
        fill_check(&ev, i);
        ck_assert_int_eq(az_audit_emit(a, &ev), 0);
    }
}

static void make_log(const char *path, size_t n)
{
    az_audit *a;
    unlink(path);
    a = open_log(path, AGENTAUTHZ_AUDIT_FLUSH_RECORD);
    emit_n(a, n);
    az_audit_free(a);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *p;
    long n;
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    ck_assert_int_ge(n, 0);
    rewind(f);
    p = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(fread(p, 1, (size_t)n, f), (size_t)n);
    p[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return p;
}

static void write_file(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    fclose(f);
}

static off_t file_size(const char *path)
{
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    return st.st_size;
}

#define MAXL 64
typedef struct lines {
    char *text;
    size_t n;
    const char *p[MAXL];
    size_t len[MAXL]; /* newline included */
} lines;

static void read_lines(const char *path, lines *l)
{
    size_t len, i = 0;
    l->text = slurp(path, &len);
    l->n = 0;
    while (i < len) {
        const char *nl = memchr(l->text + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - l->text) + 1 : len;
        ck_assert_uint_lt(l->n, MAXL);
        l->p[l->n] = l->text + i;
        l->len[l->n++] = end - i;
        i = end;
    }
}

/* Writes the lines of l in the given order (indexes; -1 ends). */
static void write_order(const char *path, const lines *l, const int *order)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    for (size_t i = 0; order[i] >= 0; i++)
        fwrite(l->p[order[i]], 1, l->len[order[i]], f);
    fclose(f);
}

static void expect_intact(const char *const *paths, size_t n, uint64_t records)
{
    agentauthz_audit_report rep;
    agentauthz_error e;
    int rc = az_audit_verify_key(KEY, paths, n, &rep, &e);
    ck_assert_msg(rc == 0, "verify: %d %s (%s:%lu)", rc, rep.reason, rep.path, rep.line);
    ck_assert_int_eq(rep.problem, AGENTAUTHZ_AUDIT_INTACT);
    ck_assert_uint_eq(rep.records, records);
    ck_assert_uint_eq(rep.last_seq, records);
}

static size_t line_count(const char *path);
static void check_start_and_end(const lines *l);

/* Intact but for its end: the verifier expected record want last. */
static void expect_end(const char *const *paths, size_t n, uint64_t want, uint64_t got)
{
    az_audit_verifier v = {KEY, NULL, NULL, want};
    agentauthz_audit_result res;
    agentauthz_error e;
    int rc = az_audit_verify_with(&v, paths, n, &res, &e);
    ck_assert_int_eq(rc, AGENTAUTHZ_ETAMPER);
    ck_assert_int_eq(res.report.problem, AGENTAUTHZ_AUDIT_END);
    ck_assert_uint_eq(res.report.last_seq, got);
    ck_assert_str_eq(res.report.path, paths[n - 1]);
    ck_assert_ptr_nonnull(strstr(res.report.reason, "expected last"));
    v.expect_last = got;
    ck_assert_int_eq(az_audit_verify_with(&v, paths, n, &res, &e), 0);
}

static void expect_broken(const char *const *paths, size_t n, agentauthz_audit_problem p,
                          size_t file, unsigned long line)
{
    agentauthz_audit_report rep;
    agentauthz_error e;
    int rc = az_audit_verify_key(KEY, paths, n, &rep, &e);
    ck_assert_int_eq(rc, AGENTAUTHZ_ETAMPER);
    ck_assert_msg(rep.problem == p, "problem %s, expected %s: %s",
                  agentauthz_audit_problem_name(rep.problem), agentauthz_audit_problem_name(p),
                  rep.reason);
    ck_assert_uint_eq(rep.file, file);
    ck_assert_str_eq(rep.path, paths[file]);
    ck_assert_uint_eq(rep.line, line);
    ck_assert_int_eq(e.code, AGENTAUTHZ_ETAMPER);
    ck_assert_uint_eq(e.line, line);
    ck_assert_str_eq(e.path, paths[file]);
    /* The records verified: those of the files before, and the lines before in this one. */
    for (size_t i = 0; i < file; i++)
        line += line_count(paths[i]);
    ck_assert_uint_eq(rep.records, line - 1);
}

static agentauthz_value *parse_line(const char *line, size_t len)
{
    agentauthz_value *v = NULL;
    agentauthz_error e;
    ck_assert_uint_gt(len, 0);
    ck_assert_int_eq(line[len - 1], '\n');
    ck_assert_ptr_null(memchr(line, '\n', len - 1));
    ck_assert_msg(az_json_parse(line, len - 1, NULL, &v, &e) == 0, "json: %s", e.message);
    ck_assert_int_eq(agentauthz_value_type(v), AGENTAUTHZ_MAP);
    return v;
}

static const char *get_str(const agentauthz_value *m, const char *key)
{
    const agentauthz_value *v = agentauthz_value_map_get(m, key);
    ck_assert_msg(v != NULL, "missing key %s", key);
    ck_assert_int_eq(agentauthz_value_type(v), AGENTAUTHZ_STRING);
    return agentauthz_value_get_string(v, NULL);
}

static double get_num(const agentauthz_value *m, const char *key)
{
    const agentauthz_value *v = agentauthz_value_map_get(m, key);
    ck_assert_msg(v != NULL, "missing key %s", key);
    ck_assert_int_eq(agentauthz_value_type(v), AGENTAUTHZ_NUMBER);
    return agentauthz_value_get_number(v);
}

/* The record's keys, in order, joined by ','. */
static void key_order(const agentauthz_value *m, char *out, size_t cap)
{
    size_t pos = 0;
    out[0] = '\0';
    for (size_t i = 0; i < agentauthz_value_length(m); i++) {
        int n =
            snprintf(out + pos, cap - pos, "%s%s", i ? "," : "", agentauthz_value_map_key(m, i));
        ck_assert(n > 0 && (size_t)n < cap - pos);
        pos += (size_t)n;
    }
}

/* ------------------------------------------------------------------ */
/* Record shapes                                                       */
/* ------------------------------------------------------------------ */

START_TEST(test_check_record_shape)
{
    char path[512], order[512];
    az_audit *a;
    az_audit_event ev;
    lines l;
    agentauthz_value *dest = agentauthz_value_list(), *args = agentauthz_value_map(), *r;
    const char *clear[] = {"subject"};
    const agentauthz_value *arg;
    path_for(path, sizeof path, "shape_check.log");
    ck_assert_int_eq(agentauthz_value_list_append(dest, agentauthz_value_string("a@corp.example")),
                     0);
    ck_assert_int_eq(agentauthz_value_list_append(dest, agentauthz_value_string("b@corp.example")),
                     0);
    ck_assert_int_eq(agentauthz_value_map_set(args, "to", agentauthz_value_string(SECRETS[3])), 0);
    ck_assert_int_eq(agentauthz_value_map_set(args, "subject", agentauthz_value_string("Hi")), 0);
    a = open_log(path, AGENTAUTHZ_AUDIT_FLUSH_RECORD);
    fill_check(&ev, 0);
    ev.time_ns = 1700000000123456789ull;
    ev.parent = "fedcba9876543210fedcba9876543210";
    ev.tool = "send_email";
    ev.destination = dest;
    ev.decision = "ask";
    ev.rule = "big-mail";
    ev.reason = "needs \"a\" human\n";
    ev.check_seq = 7;
    ev.args = args;
    ev.clear_args = clear;
    ev.nclear = 1;
    ck_assert_int_eq(az_audit_emit(a, &ev), 0);
    ck_assert_uint_eq(az_audit_seq(a), 2); /* after the start record */
    az_audit_free(a);

    read_lines(path, &l);
    ck_assert_uint_eq(l.n, 3); /* start, check, closing checkpoint */
    check_start_and_end(&l);
    r = parse_line(l.p[1], l.len[1]);
    key_order(r, order, sizeof order);
    ck_assert_str_eq(order, "v,seq,log,time,event,engine,policy,session,parent,identity,task,tool,"
                            "resource,destination,decision,rule,reason,check_seq,args,prev,mac");
    ck_assert(get_num(r, "v") == 2);
    ck_assert(get_num(r, "seq") == 2);
    ck_assert_str_eq(get_str(r, "time"), "2023-11-14T22:13:20.123456789Z");
    ck_assert_str_eq(get_str(r, "event"), "check");
    ck_assert_str_eq(get_str(r, "engine"), "test-engine");
    ck_assert_str_eq(get_str(agentauthz_value_map_get(r, "policy"), "name"), "support-bot");
    ck_assert_str_eq(get_str(agentauthz_value_map_get(r, "policy"), "hash"), ev.policy_hash);
    ck_assert_str_eq(get_str(r, "session"), ev.session);
    ck_assert_str_eq(get_str(r, "parent"), ev.parent);
    ck_assert_str_eq(get_str(r, "identity"), ev.identity);
    ck_assert_str_eq(get_str(r, "task"), "triage-ticket");
    ck_assert_str_eq(get_str(r, "tool"), "send_email");
    ck_assert_str_eq(get_str(r, "resource"), "/kb/article.md");
    ck_assert_uint_eq(agentauthz_value_length(agentauthz_value_map_get(r, "destination")), 2);
    ck_assert_str_eq(
        agentauthz_value_get_string(
            agentauthz_value_list_get(agentauthz_value_map_get(r, "destination"), 1), NULL),
        "b@corp.example");
    ck_assert_str_eq(get_str(r, "decision"), "ask");
    ck_assert_str_eq(get_str(r, "rule"), "big-mail");
    ck_assert_str_eq(get_str(r, "reason"), "needs \"a\" human\n");
    ck_assert(get_num(r, "check_seq") == 7);
    arg = agentauthz_value_map_get(agentauthz_value_map_get(r, "args"), "to");
    ck_assert_uint_eq(strlen(get_str(arg, "digest")), 64);
    ck_assert_ptr_null(agentauthz_value_map_get(arg, "value"));
    arg = agentauthz_value_map_get(agentauthz_value_map_get(r, "args"), "subject");
    ck_assert_str_eq(get_str(arg, "value"), "Hi");
    ck_assert_uint_eq(strlen(get_str(r, "prev")), 64);
    ck_assert_str_ne(get_str(r, "prev"),
                     "0000000000000000000000000000000000000000000000000000000000000000");
    ck_assert_uint_eq(strlen(get_str(r, "mac")), 64);
    ck_assert_ptr_null(strstr(l.text, SECRETS[3]));
    agentauthz_value_free(r);
    agentauthz_value_free(dest);
    agentauthz_value_free(args);
    free(l.text);
}
END_TEST

/*
 * The first line of l is a start record naming g_keys' public key and the
 * engine, the last a checkpoint, and every line carries the same log id.
 */
static void check_start_and_end(const lines *l)
{
    char order[256], pk[AGENTAUTHZ_PUBKEY_TEXT_MAX], log[40];
    agentauthz_value *r = parse_line(l->p[0], l->len[0]);
    key_order(r, order, sizeof order);
    ck_assert_str_eq(order, "v,seq,log,time,event,engine,key,sig,prev,mac");
    ck_assert(get_num(r, "seq") == 1);
    ck_assert_str_eq(get_str(r, "event"), "start");
    ck_assert_str_eq(get_str(r, "engine"), "test-engine");
    ck_assert_int_eq(agentauthz_keys_public(g_keys, pk, sizeof pk), 0);
    ck_assert_str_eq(get_str(r, "key"), pk);
    ck_assert_uint_eq(strlen(get_str(r, "sig")), 128);
    ck_assert_uint_eq(strlen(get_str(r, "log")), 32);
    snprintf(log, sizeof log, "%s", get_str(r, "log"));
    ck_assert_str_eq(get_str(r, "prev"),
                     "0000000000000000000000000000000000000000000000000000000000000000");
    agentauthz_value_free(r);
    r = parse_line(l->p[l->n - 1], l->len[l->n - 1]);
    key_order(r, order, sizeof order);
    ck_assert_str_eq(order, "v,seq,log,time,event,sig,prev,mac");
    ck_assert_str_eq(get_str(r, "event"), "checkpoint");
    ck_assert(get_num(r, "seq") == (double)l->n);
    agentauthz_value_free(r);
    for (size_t i = 0; i < l->n; i++) {
        r = parse_line(l->p[i], l->len[i]);
        ck_assert_str_eq(get_str(r, "log"), log);
        agentauthz_value_free(r);
    }
}

/* One record of each kind, with the fields that kind carries. */
static void fill_kind(az_audit_event *ev, az_audit_kind k)
{
    memset(ev, 0, sizeof *ev);
    ev->kind = k;
    ev->time_ns = 1000000000ull * (unsigned)k;
    ev->policy_name = "p";
    ev->policy_hash = "00ff";
    ev->scan = scan_secrets;
    if (k == AZ_AUDIT_RELOAD)
        return;
    ev->session = "s1";
    ev->identity = "id";
    ev->task = "t";
    if (k == AZ_AUDIT_OPEN)
        ev->parent = "s0";
    if (k == AZ_AUDIT_CHECK || k == AZ_AUDIT_APPROVE) {
        ev->tool = "tool";
        ev->decision = k == AZ_AUDIT_CHECK ? "deny" : "allow";
        ev->rule = "r";
        ev->check_seq = 3;
    }
    if (k == AZ_AUDIT_REVOKE || k == AZ_AUDIT_EXPIRE || k == AZ_AUDIT_LEASE_REFUSED)
        ev->reason = "why";
    if (k == AZ_AUDIT_LEASE || k == AZ_AUDIT_LEASE_REFUSED) {
        ev->tool = "db.query";
        ev->secret = "scratch_db";
    }
    if (k == AZ_AUDIT_OBSERVE) {
        ev->tool = "read_inbox";
        ev->reason = "labels untrusted: 1 values indexed";
    }
}

START_TEST(test_every_kind)
{
    static const char *const expect[AZ_AUDIT_START] = {
        "v,seq,log,time,event,policy,session,parent,identity,task,prev,mac",
        "v,seq,log,time,event,policy,session,identity,task,prev,mac",
        "v,seq,log,time,event,policy,session,identity,task,reason,prev,mac",
        "v,seq,log,time,event,policy,session,identity,task,reason,prev,mac",
        "v,seq,log,time,event,policy,session,identity,task,tool,decision,rule,check_seq,prev,mac",
        "v,seq,log,time,event,policy,session,identity,task,tool,decision,rule,check_seq,prev,mac",
        "v,seq,log,time,event,policy,session,identity,task,tool,secret,prev,mac",
        "v,seq,log,time,event,policy,session,identity,task,tool,reason,secret,prev,mac",
        "v,seq,log,time,event,policy,prev,mac",
        "v,seq,log,time,event,policy,session,identity,task,tool,reason,prev,mac",
    };
    static const char *const names[AZ_AUDIT_KIND_COUNT] = {
        "open",   "close",   "revoke", "expire", "check",     "approve", "lease", "lease_refused",
        "reload", "observe", "start",  "resume", "checkpoint",
    };
    char path[512], order[512];
    const char *paths[1] = {path};
    az_audit_event ev;
    az_audit *a;
    lines l;
    path_for(path, sizeof path, "kinds.log");
    a = open_log(path, AGENTAUTHZ_AUDIT_FLUSH_NONE);
    for (int k = 0; k < AZ_AUDIT_START; k++) {
        fill_kind(&ev, (az_audit_kind)k);
        ck_assert_int_eq(az_audit_emit(a, &ev), 0);
    }
    /* The log writes its own start, resume and checkpoint records: a host cannot. */
    for (int k = AZ_AUDIT_START; k < AZ_AUDIT_KIND_COUNT; k++) {
        fill_kind(&ev, (az_audit_kind)k);
        ck_assert_int_eq(az_audit_emit(a, &ev), AGENTAUTHZ_EINVAL);
    }
    az_audit_free(a);
    read_lines(path, &l);
    ck_assert_uint_eq(l.n, AZ_AUDIT_START + 2);
    check_start_and_end(&l);
    for (size_t k = 0; k < AZ_AUDIT_START; k++) {
        agentauthz_value *r = parse_line(l.p[k + 1], l.len[k + 1]);
        key_order(r, order, sizeof order);
        ck_assert_str_eq(order, expect[k]);
        ck_assert_str_eq(get_str(r, "event"), names[k]);
        ck_assert(get_num(r, "seq") == (double)(k + 2));
        agentauthz_value_free(r);
    }
    for (int k = 0; k < AZ_AUDIT_KIND_COUNT; k++)
        ck_assert_str_eq(az_audit_kind_name((az_audit_kind)k), names[k]);
    ck_assert_str_eq(az_audit_kind_name(AZ_AUDIT_KIND_COUNT), "unknown");
    free(l.text);
    expect_intact(paths, 1, AZ_AUDIT_START + 2);
}
END_TEST

START_TEST(test_hostile_strings)
{
    char path[512];
    char *big = malloc(100000);
    agentauthz_value *dest = agentauthz_value_list(), *r;
    az_audit_event ev;
    az_audit *a;
    lines l;
    const char *s;
    ck_assert_ptr_nonnull(big);
    memset(big, 'x', 99999);
    big[99999] = '\0';
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(agentauthz_value_list_append(dest, agentauthz_value_string("h.example")),
                         0);
    path_for(path, sizeof path, "hostile.log");
    a = open_log(path, AGENTAUTHZ_AUDIT_FLUSH_RECORD);
    fill_check(&ev, 0);
    ev.tool = "bad\xff\xfe utf8 \xc3\x28 \xed\xa0\x80 \x01\x7f \"q\" \\ \r\n\t end \xe2\x82\xac";
    ev.resource = big;
    ev.destination = dest;
    ck_assert_int_eq(az_audit_emit(a, &ev), 0);
    az_audit_free(a);
    read_lines(path, &l);
    ck_assert_uint_eq(l.n, 3);
    ck_assert_uint_lt(l.len[1], 16384);
    r = parse_line(l.p[1], l.len[1]);
    ck_assert_str_eq(get_str(r, "tool"), "bad\xef\xbf\xbd\xef\xbf\xbd utf8 \xef\xbf\xbd( "
                                         "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd \x01\x7f \"q\" \\ "
                                         "\r\n\t end \xe2\x82\xac");
    s = get_str(r, "resource");
    ck_assert_uint_eq(strlen(s), AZ_AUDIT_STR_MAX + strlen("[truncated: 99999 bytes]"));
    ck_assert_str_eq(s + AZ_AUDIT_STR_MAX, "[truncated: 99999 bytes]");
    ck_assert_uint_eq(agentauthz_value_length(agentauthz_value_map_get(r, "destination")), 17);
    ck_assert_str_eq(
        agentauthz_value_get_string(
            agentauthz_value_list_get(agentauthz_value_map_get(r, "destination"), 16), NULL),
        "[+84 more]");
    agentauthz_value_free(r);
    agentauthz_value_free(dest);
    free(l.text);
    free(big);
}
END_TEST

START_TEST(test_truncation_keeps_characters_whole)
{
    char path[512];
    /* 3-byte characters across the cap: the cut must fall between two of them. */
    size_t n = 3 * 2000;
    char *s = malloc(n + 1);
    az_audit_event ev;
    az_audit *a;
    agentauthz_value *r;
    lines l;
    const char *got;
    ck_assert_ptr_nonnull(s);
    for (size_t i = 0; i < n; i += 3)
        memcpy(s + i, "\xe2\x82\xac", 3);
    s[n] = '\0';
    path_for(path, sizeof path, "trunc_utf8.log");
    a = open_log(path, AGENTAUTHZ_AUDIT_FLUSH_RECORD);
    fill_check(&ev, 0);
    ev.reason = s;
    ck_assert_int_eq(az_audit_emit(a, &ev), 0);
    az_audit_free(a);
    read_lines(path, &l);
    r = parse_line(l.p[1], l.len[1]); /* strict UTF-8 parse: fails on a split character */
    got = get_str(r, "reason");
    ck_assert_uint_eq(strlen(got), (AZ_AUDIT_STR_MAX / 3) * 3 + strlen("[truncated: 6000 bytes]"));
    agentauthz_value_free(r);
    free(l.text);
    free(s);
}
END_TEST

START_TEST(test_bad_arguments)
{
    agentauthz_audit_options o = AGENTAUTHZ_AUDIT_OPTIONS_INIT;
    agentauthz_error e;
    az_audit *a = (az_audit *)&o;
    az_audit_event ev;
    agentauthz_value *num = agentauthz_value_number(1), *list = agentauthz_value_list();
    char path[512];
    const char *paths[1] = {path};
    az_audit_writer nokeys = {NULL, "x", NULL, NULL};
    path_for(path, sizeof path, "badargs.log");
    ck_assert_int_eq(az_audit_new(&a, NULL, &g_w, &e), AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(az_audit_new(&a, &o, &g_w, &e), AGENTAUTHZ_EINVAL); /* no sink */
    o.path = path;
    ck_assert_int_eq(az_audit_new(&a, &o, NULL, &e), AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(az_audit_new(&a, &o, &nokeys, &e), AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(az_audit_new(NULL, &o, &g_w, &e), AGENTAUTHZ_EINVAL);
    o.flush = AGENTAUTHZ_AUDIT_FLUSH_EVERY_N;
    ck_assert_int_eq(az_audit_new(&a, &o, &g_w, &e), AGENTAUTHZ_EINVAL); /* flush_every 0 */
    o.flush = (agentauthz_audit_flush)7;
    ck_assert_int_eq(az_audit_new(&a, &o, &g_w, NULL), AGENTAUTHZ_EINVAL);
    o.flush = AGENTAUTHZ_AUDIT_FLUSH_RECORD;
    o.version = 99;
    ck_assert_int_eq(az_audit_new(&a, &o, &g_w, &e), AGENTAUTHZ_EINVAL);
    o.version = AGENTAUTHZ_AUDIT_OPTIONS_VERSION;
    o.path = "/nonexistent-dir/x/audit.log";
    ck_assert_int_eq(az_audit_new(&a, &o, &g_w, &e), AGENTAUTHZ_EIO);
    ck_assert_ptr_null(a);
    ck_assert_str_eq(e.path, "/nonexistent-dir/x/audit.log");

    a = open_log(path, AGENTAUTHZ_AUDIT_FLUSH_RECORD);
    fill_check(&ev, 0);
    ck_assert_int_eq(az_audit_emit(NULL, &ev), AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(az_audit_emit(a, NULL), AGENTAUTHZ_EINVAL);
    ev.kind = AZ_AUDIT_KIND_COUNT;
    ck_assert_int_eq(az_audit_emit(a, &ev), AGENTAUTHZ_EINVAL);
    fill_check(&ev, 0);
    ev.args = num; /* not a map */
    ck_assert_int_eq(az_audit_emit(a, &ev), AGENTAUTHZ_EINVAL);
    ev.args = NULL;
    ev.destination = num; /* neither string nor list */
    ck_assert_int_eq(az_audit_emit(a, &ev), AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(agentauthz_value_list_append(list, agentauthz_value_number(2)), 0);
    ev.destination = list; /* a list of non-strings */
    ck_assert_int_eq(az_audit_emit(a, &ev), AGENTAUTHZ_EINVAL);
    ck_assert_uint_eq(az_audit_seq(a), 1); /* the start record only */
    ck_assert_int_eq(az_audit_reopen(NULL, &e), AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(az_audit_flush(NULL, &e), AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(az_audit_close(NULL, &e), AGENTAUTHZ_EINVAL);
    ck_assert_uint_eq(az_audit_seq(NULL), 0);
    az_audit_free(a);
    az_audit_free(NULL);
    /* Nothing after the signed start record: no checkpoint at close. */
    expect_intact(paths, 1, 1);
    agentauthz_value_free(num);
    agentauthz_value_free(list);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Arguments                                                           */
/* ------------------------------------------------------------------ */

static const agentauthz_value *record_arg(const agentauthz_value *r, const char *name)
{
    const agentauthz_value *v = agentauthz_value_map_get(agentauthz_value_map_get(r, "args"), name);
    ck_assert_msg(v != NULL, "no arg %s", name);
    return v;
}

START_TEST(test_args_digest_and_clear)
{
    char path[512], path2[512];
    const char *clear[] = {"amount", "note", "blob", "nested"};
    agentauthz_value *args = agentauthz_value_map(), *nested = agentauthz_value_map(), *r1, *r2,
                     *r3;
    char *bigtext = calloc(1, 6000);
    az_audit_event ev;
    az_audit *a;
    unsigned char other_key[32];
    agentauthz_keys *ok;
    az_audit_writer ow;
    agentauthz_audit_options o = AGENTAUTHZ_AUDIT_OPTIONS_INIT;
    lines l, l2;
    ck_assert_ptr_nonnull(bigtext);
    memset(bigtext, 'b', 5999);
    ck_assert_int_eq(agentauthz_value_map_set(args, "to", agentauthz_value_string(SECRETS[3])), 0);
    ck_assert_int_eq(agentauthz_value_map_set(args, "card", agentauthz_value_string(SECRETS[4])),
                     0);
    ck_assert_int_eq(agentauthz_value_map_set(args, "amount", agentauthz_value_number(12.5)), 0);
    ck_assert_int_eq(agentauthz_value_map_set(args, "note", agentauthz_value_string(SECRETS[0])),
                     0);
    ck_assert_int_eq(agentauthz_value_map_set(args, "blob", agentauthz_value_string(bigtext)), 0);
    ck_assert_int_eq(agentauthz_value_map_set(nested, "k", agentauthz_value_string(SECRETS[1])), 0);
    ck_assert_int_eq(agentauthz_value_map_set(args, "nested", nested), 0);
    ck_assert_int_eq(agentauthz_value_map_set(args, SECRETS[2], agentauthz_value_bool(1)), 0);
    path_for(path, sizeof path, "args.log");
    a = open_log(path, AGENTAUTHZ_AUDIT_FLUSH_RECORD);
    fill_check(&ev, 0);
    ev.args = args;
    ev.clear_args = clear;
    ev.nclear = 4;
    ck_assert_int_eq(az_audit_emit(a, &ev), 0);
    ck_assert_int_eq(az_audit_emit(a, &ev), 0);
    az_audit_free(a);

    /* The same arguments under another audit key: the digests must differ. */
    memcpy(other_key, KEY, sizeof other_key);
    other_key[0] ^= 1;
    path_for(path2, sizeof path2, "args_otherkey.log");
    o.path = path2;
    ok = keys_with(other_key, 0x01);
    ow = writer_of(ok, "test-engine");
    ck_assert_int_eq(az_audit_new(&a, &o, &ow, NULL), 0);
    ck_assert_int_eq(az_audit_emit(a, &ev), 0);
    az_audit_free(a);
    agentauthz_keys_free(ok);

    read_lines(path, &l);
    read_lines(path2, &l2);
    r1 = parse_line(l.p[1], l.len[1]);
    r2 = parse_line(l.p[2], l.len[2]);
    r3 = parse_line(l2.p[1], l2.len[1]);
    /* Digested by default; equal values give equal digests within one key. */
    ck_assert_str_eq(get_str(record_arg(r1, "to"), "digest"),
                     get_str(record_arg(r2, "to"), "digest"));
    ck_assert_str_ne(get_str(record_arg(r1, "to"), "digest"),
                     get_str(record_arg(r3, "to"), "digest"));
    ck_assert_str_ne(get_str(record_arg(r1, "to"), "digest"),
                     get_str(record_arg(r1, "card"), "digest"));
    ck_assert_uint_eq(agentauthz_value_length(record_arg(r1, "to")), 1);
    /* Named arguments in clear, unless they hold a secret or are too big. */
    ck_assert(get_num(record_arg(r1, "amount"), "value") == 12.5);
    ck_assert_uint_eq(strlen(get_str(record_arg(r1, "note"), "digest")), 64);
    ck_assert(
        agentauthz_value_get_bool(agentauthz_value_map_get(record_arg(r1, "note"), "redacted")));
    ck_assert_ptr_null(agentauthz_value_map_get(record_arg(r1, "note"), "value"));
    ck_assert(
        agentauthz_value_get_bool(agentauthz_value_map_get(record_arg(r1, "blob"), "oversize")));
    ck_assert(
        agentauthz_value_get_bool(agentauthz_value_map_get(record_arg(r1, "nested"), "redacted")));
    /* An argument name holding a secret is replaced by its index. */
    ck_assert_uint_eq(strlen(get_str(record_arg(r1, "[redacted #6]"), "digest")), 64);
    for (size_t i = 0; i < NSECRETS; i++) {
        ck_assert_ptr_null(strstr(l.text, SECRETS[i]));
        ck_assert_ptr_null(strstr(l2.text, SECRETS[i]));
    }
    ck_assert_ptr_null(strstr(l.text, "bbbbbbbbbb"));
    agentauthz_value_free(r1);
    agentauthz_value_free(r2);
    agentauthz_value_free(r3);
    agentauthz_value_free(args);
    free(l.text);
    free(l2.text);
    free(bigtext);
}
END_TEST

/* The digest is keyed: it is not the plain BLAKE2b of the canonical value. */
START_TEST(test_args_digest_is_keyed)
{
    char path[512], plain[65];
    agentauthz_value *args = agentauthz_value_map(), *r;
    const agentauthz_value *v;
    crypto_generichash_blake2b_state st;
    unsigned char h[32];
    az_audit_event ev;
    az_audit *a;
    lines l;
    ck_assert_int_eq(agentauthz_value_map_set(args, "pin", agentauthz_value_string("1234")), 0);
    v = agentauthz_value_map_get(args, "pin");
    crypto_generichash_blake2b_init(&st, NULL, 0, 32);
    ck_assert_int_eq(az_value_hash(v, &st), 0);
    crypto_generichash_blake2b_final(&st, h, 32);
    sodium_bin2hex(plain, sizeof plain, h, 32);
    path_for(path, sizeof path, "digest_keyed.log");
    a = open_log(path, AGENTAUTHZ_AUDIT_FLUSH_RECORD);
    fill_check(&ev, 0);
    ev.args = args;
    ck_assert_int_eq(az_audit_emit(a, &ev), 0);
    az_audit_free(a);
    read_lines(path, &l);
    r = parse_line(l.p[1], l.len[1]);
    ck_assert_str_ne(get_str(record_arg(r, "pin"), "digest"), plain);
    ck_assert_ptr_null(strstr(l.text, plain));
    ck_assert_ptr_null(strstr(l.text, "1234\""));
    agentauthz_value_free(r);
    agentauthz_value_free(args);
    free(l.text);
}
END_TEST

START_TEST(test_args_too_many)
{
    char path[512], key[128];
    const char *paths[1] = {path};
    agentauthz_value *args = agentauthz_value_map(), *r;
    az_audit_event ev;
    az_audit *a;
    lines l;
    /* 4000 arguments with 100-byte names: about 700 KiB of digests. */
    for (int i = 0; i < 4000; i++) {
        snprintf(key, sizeof key, "%090d-arg-%04d", 0, i);
        ck_assert_int_eq(agentauthz_value_map_set(args, key, agentauthz_value_number(i)), 0);
    }
    path_for(path, sizeof path, "args_many.log");
    a = open_log(path, AGENTAUTHZ_AUDIT_FLUSH_RECORD);
    fill_check(&ev, 0);
    ev.args = args;
    ck_assert_int_eq(az_audit_emit(a, &ev), 0);
    az_audit_free(a);
    read_lines(path, &l);
    ck_assert_uint_eq(l.n, 3);
    r = parse_line(l.p[1], l.len[1]);
    ck_assert_ptr_null(agentauthz_value_map_get(r, "args"));
    ck_assert_uint_eq(strlen(get_str(r, "args_digest")), 64);
    ck_assert(get_num(r, "args_count") == 4000);
    agentauthz_value_free(r);
    agentauthz_value_free(args);
    free(l.text);
    expect_intact(paths, 1, 3);
}
END_TEST

START_TEST(test_redaction_of_fields)
{
    char path[512], res[128];
    agentauthz_value *dest = agentauthz_value_list(), *r;
    az_audit_event ev;
    az_audit *a;
    lines l;
    snprintf(res, sizeof res, "https://api.example/x?token=%s", SECRETS[1]);
    ck_assert_int_eq(agentauthz_value_list_append(dest, agentauthz_value_string("ok.example")), 0);
    ck_assert_int_eq(agentauthz_value_list_append(dest, agentauthz_value_string(SECRETS[0])), 0);
    path_for(path, sizeof path, "redact.log");
    a = open_log(path, AGENTAUTHZ_AUDIT_FLUSH_RECORD);
    fill_check(&ev, 0);
    ev.resource = res;
    ev.destination = dest;
    ev.reason = SECRETS[2];
    ck_assert_int_eq(az_audit_emit(a, &ev), 0);
    az_audit_free(a);
    read_lines(path, &l);
    r = parse_line(l.p[1], l.len[1]);
    ck_assert_str_eq(get_str(r, "resource"), "[redacted]");
    ck_assert_str_eq(get_str(r, "reason"), "[redacted]");
    ck_assert_str_eq(
        agentauthz_value_get_string(
            agentauthz_value_list_get(agentauthz_value_map_get(r, "destination"), 0), NULL),
        "ok.example");
    ck_assert_str_eq(
        agentauthz_value_get_string(
            agentauthz_value_list_get(agentauthz_value_map_get(r, "destination"), 1), NULL),
        "[redacted]");
    for (size_t i = 0; i < NSECRETS; i++)
        ck_assert_ptr_null(strstr(l.text, SECRETS[i]));
    agentauthz_value_free(r);
    agentauthz_value_free(dest);
    free(l.text);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Tampering                                                           */
/* ------------------------------------------------------------------ */

/*
 * A fresh log of 10 checks at name (12 records with its start and closing
 * checkpoint); its lines in *l and its path in path.
 */
static void tamper_base(const char *name, char *path, size_t cap, lines *l)
{
    const char *paths[1] = {path};
    path_for(path, cap, name);
    make_log(path, 10);
    expect_intact(paths, 1, 12);
    read_lines(path, l);
    ck_assert_uint_eq(l->n, 12);
}

START_TEST(test_tamper_edit_field)
{
    char path[512];
    const char *paths[1] = {path};
    lines l;
    char *at;
    tamper_base("t_edit.log", path, sizeof path, &l);
    /* Line 5 (check 4) is a deny: turn it into an allow. */
    at = strstr((char *)l.p[4], "\"decision\":\"deny\"");
    ck_assert_ptr_nonnull(at);
    ck_assert(at < l.p[5]);
    memcpy(at, "\"decision\":\"allw\"", 17);
    write_file(path, l.text, strlen(l.text));
    expect_broken(paths, 1, AGENTAUTHZ_AUDIT_MAC, 0, 5);
    free(l.text);
}
END_TEST

START_TEST(test_tamper_edit_seq_and_mac)
{
    char path[512];
    const char *paths[1] = {path};
    lines l;
    char *at;
    tamper_base("t_seq.log", path, sizeof path, &l);
    at = strstr((char *)l.p[6], "\"seq\":7,");
    ck_assert_ptr_nonnull(at);
    at[6] = '8'; /* the MAC covers seq */
    write_file(path, l.text, strlen(l.text));
    expect_broken(paths, 1, AGENTAUTHZ_AUDIT_MAC, 0, 7);
    at[6] = '7';
    at = (char *)l.p[2] + l.len[2] - 4; /* a hex digit of the MAC */
    *at = *at == '0' ? '1' : '0';
    write_file(path, l.text, strlen(l.text));
    expect_broken(paths, 1, AGENTAUTHZ_AUDIT_MAC, 0, 3);
    *at = 'G'; /* not hex at all */
    write_file(path, l.text, strlen(l.text));
    expect_broken(paths, 1, AGENTAUTHZ_AUDIT_MALFORMED, 0, 3);
    free(l.text);
}
END_TEST

START_TEST(test_tamper_delete)
{
    char path[512];
    const char *paths[1] = {path};
    const int order[] = {0, 1, 2, 4, 5, 6, 7, 8, 9, -1};
    const int first[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, -1};
    lines l;
    tamper_base("t_delete.log", path, sizeof path, &l);
    write_order(path, &l, order);
    expect_broken(paths, 1, AGENTAUTHZ_AUDIT_SEQ, 0, 4);
    write_order(path, &l, first);
    expect_broken(paths, 1, AGENTAUTHZ_AUDIT_SEQ, 0, 1);
    free(l.text);
}
END_TEST

START_TEST(test_tamper_reorder)
{
    char path[512];
    const char *paths[1] = {path};
    const int order[] = {0, 1, 2, 3, 4, 6, 5, 7, 8, 9, -1};
    lines l;
    tamper_base("t_reorder.log", path, sizeof path, &l);
    write_order(path, &l, order);
    expect_broken(paths, 1, AGENTAUTHZ_AUDIT_SEQ, 0, 6);
    free(l.text);
}
END_TEST

START_TEST(test_tamper_duplicate)
{
    char path[512];
    const char *paths[1] = {path};
    const int order[] = {0, 1, 2, 3, 4, 5, 5, 6, 7, 8, 9, -1};
    const int last[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, -1};
    lines l;
    tamper_base("t_dup.log", path, sizeof path, &l);
    write_order(path, &l, order);
    expect_broken(paths, 1, AGENTAUTHZ_AUDIT_SEQ, 0, 7);
    write_order(path, &l, last);
    expect_broken(paths, 1, AGENTAUTHZ_AUDIT_SEQ, 0, 11);
    free(l.text);
}
END_TEST

START_TEST(test_tamper_truncate)
{
    char path[512];
    const char *paths[1] = {path};
    lines l;
    size_t cut;
    tamper_base("t_trunc.log", path, sizeof path, &l);
    cut = (size_t)(l.p[9] - l.text) + l.len[9] / 2;
    write_file(path, l.text, cut);
    expect_broken(paths, 1, AGENTAUTHZ_AUDIT_TRUNCATED, 0, 10);
    /* Cut just before the final newline: a complete-looking record that is not. */
    write_file(path, l.text, strlen(l.text) - 1);
    expect_broken(paths, 1, AGENTAUTHZ_AUDIT_TRUNCATED, 0, 12);
    /* Cut at a line boundary: undetectable by the chain alone... */
    write_file(path, l.text, (size_t)(l.p[9] - l.text));
    expect_intact(paths, 1, 9);
    /* ...but not by a verifier that knows where the log ends. */
    expect_end(paths, 1, 12, 9);
    free(l.text);
}
END_TEST

START_TEST(test_tamper_splice_other_chain)
{
    /* A record from another log under the same key: valid MAC, wrong prev. */
    char path[512], other[512];
    const char *paths[1] = {path};
    lines l, o;
    az_audit_event ev;
    az_audit *a;
    FILE *f;
    tamper_base("t_splice.log", path, sizeof path, &l);
    path_for(other, sizeof other, "t_splice_other.log");
    a = open_log(other, AGENTAUTHZ_AUDIT_FLUSH_RECORD);
    for (int i = 0; i < 3; i++) {
        fill_check(&ev, 0);
        ev.tool = "something_else";
        ck_assert_int_eq(az_audit_emit(a, &ev), 0);
    }
    az_audit_free(a);
    read_lines(other, &o);
    f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fwrite(l.p[0], 1, l.len[0], f);
    fwrite(o.p[1], 1, o.len[1], f); /* seq 2, MAC valid, of another log */
    fclose(f);
    expect_broken(paths, 1, AGENTAUTHZ_AUDIT_LOG_ID, 0, 2);
    free(l.text);
    free(o.text);
}
END_TEST

START_TEST(test_tamper_malformed)
{
    char path[512];
    const char *paths[1] = {path};
    lines l;
    char *big;
    FILE *f;
    const char *junk[] = {"\n", "garbage\n", "{\"v\":2,\"seq\":1,\"x\":1}\n",
                          "{\"v\":1,\"seq\":01,\"time\":\"\"}\n",
                          "{\"v\":1,\"seq\":99999999999999999999999,\"time\":1}\n"};
    tamper_base("t_malformed.log", path, sizeof path, &l);
    for (size_t j = 0; j < sizeof junk / sizeof junk[0]; j++) {
        f = fopen(path, "wb");
        ck_assert_ptr_nonnull(f);
        fwrite(l.p[0], 1, l.len[0], f);
        fputs(junk[j], f);
        fwrite(l.p[1], 1, l.len[1], f);
        fclose(f);
        expect_broken(paths, 1, AGENTAUTHZ_AUDIT_MALFORMED, 0, 2);
    }
    /* A line over 1 MiB is refused without reading it all into memory. */
    big = malloc(AZ_AUDIT_LINE_MAX + 10);
    ck_assert_ptr_nonnull(big);
    memset(big, 'a', AZ_AUDIT_LINE_MAX + 9);
    big[AZ_AUDIT_LINE_MAX + 9] = '\n';
    f = fopen(path, "wb");
    fwrite(l.p[0], 1, l.len[0], f);
    fwrite(big, 1, AZ_AUDIT_LINE_MAX + 10, f);
    fclose(f);
    expect_broken(paths, 1, AGENTAUTHZ_AUDIT_MALFORMED, 0, 2);
    free(big);
    free(l.text);
}
END_TEST

START_TEST(test_wrong_key)
{
    char path[512];
    const char *paths[1] = {path};
    unsigned char other[32];
    agentauthz_audit_report rep;
    lines l;
    tamper_base("t_key.log", path, sizeof path, &l);
    memcpy(other, KEY, sizeof other);
    other[31] ^= 0x80;
    ck_assert_int_eq(az_audit_verify_key(other, paths, 1, &rep, NULL), AGENTAUTHZ_ETAMPER);
    ck_assert_int_eq(rep.problem, AGENTAUTHZ_AUDIT_MAC);
    ck_assert_uint_eq(rep.line, 1);
    ck_assert_uint_eq(rep.records, 0);
    free(l.text);
}
END_TEST

/* Three rotated files of 5 records each. */
static void make_rotated(const char *base, char p[3][512])
{
    char cur[256];
    az_audit *a;
    path_for(cur, sizeof cur, base);
    unlink(cur);
    a = open_log(cur, AGENTAUTHZ_AUDIT_FLUSH_NONE);
    for (int i = 0; i < 3; i++) {
        snprintf(p[i], 512, "%s.%d", cur, i);
        emit_n(a, 5);
        ck_assert_int_eq(rename(cur, p[i]), 0);
        ck_assert_int_eq(az_audit_reopen(a, NULL), 0);
    }
    az_audit_free(a);
    ck_assert_uint_eq(line_count(cur), 1); /* the reopened file's checkpoint */
    unlink(cur);
}

START_TEST(test_tamper_rotated_files)
{
    char p[3][512];
    make_rotated("rot.log", p);
    {
        const char *all[3] = {p[0], p[1], p[2]};
        const char *drop_first[2] = {p[1], p[2]};
        const char *drop_middle[2] = {p[0], p[2]};
        const char *swap[3] = {p[1], p[0], p[2]};
        const char *swap_last[3] = {p[0], p[2], p[1]};
        const char *twice[4] = {p[0], p[1], p[1], p[2]};
        /* start + 5 + checkpoint at the reopen, then checkpoint + 5 + checkpoint twice */
        ck_assert_uint_eq(line_count(p[0]), 7);
        ck_assert_uint_eq(line_count(p[1]), 7);
        ck_assert_uint_eq(line_count(p[2]), 7);
        expect_intact(all, 3, 21);
        expect_intact(all, 2, 14);
        expect_broken(drop_first, 2, AGENTAUTHZ_AUDIT_SEQ, 0, 1);
        expect_broken(drop_middle, 2, AGENTAUTHZ_AUDIT_SEQ, 1, 1);
        expect_broken(swap, 3, AGENTAUTHZ_AUDIT_SEQ, 0, 1);
        expect_broken(swap_last, 3, AGENTAUTHZ_AUDIT_SEQ, 1, 1);
        expect_broken(twice, 4, AGENTAUTHZ_AUDIT_SEQ, 2, 1);
    }
}
END_TEST

START_TEST(test_verify_arguments)
{
    char path[512];
    const char *paths[2] = {path, NULL};
    const char *missing[1] = {"/nonexistent/audit.log"};
    agentauthz_audit_report rep;
    agentauthz_error e;
    path_for(path, sizeof path, "verify_args.log");
    make_log(path, 2);
    ck_assert_int_eq(az_audit_verify_key(NULL, paths, 1, &rep, &e), AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(az_audit_verify_key(KEY, NULL, 1, &rep, &e), AGENTAUTHZ_EINVAL);
    ck_assert_int_eq(az_audit_verify_key(KEY, paths, 2, &rep, &e), AGENTAUTHZ_EINVAL);
    /* No file at all is not a log that verifies. */
    ck_assert_int_eq(az_audit_verify_key(KEY, NULL, 0, &rep, &e), AGENTAUTHZ_EINVAL);
    ck_assert_uint_eq(rep.records, 0);
    ck_assert_int_eq(az_audit_verify_key(KEY, paths, 1, NULL, NULL), 0);
    ck_assert_int_eq(az_audit_verify_key(KEY, missing, 1, &rep, &e), AGENTAUTHZ_EIO);
    ck_assert_str_eq(e.path, "/nonexistent/audit.log");
    ck_assert_int_eq(agentauthz_audit_verify(NULL, paths, 1, &rep, &e), AGENTAUTHZ_EINVAL);
    {
        agentauthz_audit_verify_options vo = AGENTAUTHZ_AUDIT_VERIFY_OPTIONS_INIT;
        agentauthz_audit_result res = AGENTAUTHZ_AUDIT_RESULT_INIT;
        ck_assert_int_eq(agentauthz_audit_verify_ext(&vo, paths, 1, &res, &e), AGENTAUTHZ_EINVAL);
        ck_assert_int_eq(agentauthz_audit_verify_ext(NULL, paths, 1, &res, &e), AGENTAUTHZ_EINVAL);
        vo.keys = g_keys;
        ck_assert_int_eq(agentauthz_audit_verify_ext(&vo, paths, 1, &res, &e), 0);
        ck_assert_uint_eq(res.report.records, 4);
        ck_assert_uint_eq(res.schema, 2);
        ck_assert_uint_eq(res.signed_seq, 4);
        ck_assert_uint_eq(res.checkpoints, 2);
        ck_assert_uint_eq(strlen(res.log_id), 32);
        ck_assert_int_eq(agentauthz_audit_verify_ext(&vo, paths, 1, NULL, &e), 0);
        ck_assert_int_eq(agentauthz_audit_verify_ext(&vo, paths, 0, &res, &e), AGENTAUTHZ_EINVAL);
        res.version = 7;
        ck_assert_int_eq(agentauthz_audit_verify_ext(&vo, paths, 1, &res, &e), AGENTAUTHZ_EINVAL);
        vo.version = 9;
        res.version = AGENTAUTHZ_AUDIT_RESULT_VERSION;
        ck_assert_int_eq(agentauthz_audit_verify_ext(&vo, paths, 1, &res, &e), AGENTAUTHZ_EINVAL);
    }
    ck_assert_str_eq(agentauthz_audit_problem_name(AGENTAUTHZ_AUDIT_INTACT), "intact");
    ck_assert_str_eq(agentauthz_audit_problem_name(AGENTAUTHZ_AUDIT_PREV), "prev mismatch");
    ck_assert_str_eq(agentauthz_audit_problem_name(AGENTAUTHZ_AUDIT_EMPTY), "empty log");
    ck_assert_str_eq(agentauthz_audit_problem_name(AGENTAUTHZ_AUDIT_UNSIGNED), "unsigned");
    ck_assert_str_eq(agentauthz_audit_problem_name((agentauthz_audit_problem)42), "unknown");
}
END_TEST

/* The public call, with a real key set. */
START_TEST(test_public_verify)
{
    char path[512];
    const char *paths[1] = {path};
    agentauthz_keys *k = NULL, *k2 = NULL;
    az_audit_writer w;
    agentauthz_audit_options o = AGENTAUTHZ_AUDIT_OPTIONS_INIT;
    agentauthz_audit_report rep;
    az_audit_event ev;
    az_audit *a = NULL;
    ck_assert_int_eq(agentauthz_keys_generate(&k, NULL), 0);
    ck_assert_int_eq(agentauthz_keys_generate(&k2, NULL), 0);
    path_for(path, sizeof path, "public.log");
    o.path = path;
    w = writer_of(k, NULL);
    ck_assert_int_eq(az_audit_new(&a, &o, &w, NULL), 0);
    fill_check(&ev, 0);
    ck_assert_int_eq(az_audit_emit(a, &ev), 0);
    ck_assert_int_eq(az_audit_emit(a, &ev), 0);
    az_audit_free(a);
    ck_assert_int_eq(agentauthz_audit_verify(k, paths, 1, &rep, NULL), 0);
    ck_assert_uint_eq(rep.records, 4); /* start, 2 checks, checkpoint */
    ck_assert_int_eq(agentauthz_audit_verify(k2, paths, 1, &rep, NULL), AGENTAUTHZ_ETAMPER);
    ck_assert_int_eq(rep.problem, AGENTAUTHZ_AUDIT_MAC);
    agentauthz_keys_free(k);
    agentauthz_keys_free(k2);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Flush policies and sinks                                            */
/* ------------------------------------------------------------------ */

static size_t line_count(const char *path)
{
    size_t len, n = 0;
    char *t = slurp(path, &len);
    for (size_t i = 0; i < len; i++)
        n += t[i] == '\n';
    free(t);
    return n;
}

START_TEST(test_flush_none)
{
    char path[512];
    const char *paths[1] = {path};
    az_audit *a;
    path_for(path, sizeof path, "flush_none.log");
    a = open_log(path, AGENTAUTHZ_AUDIT_FLUSH_NONE);
    emit_n(a, 50); /* well under 64 KiB */
    ck_assert_int_eq(file_size(path), 0);
    ck_assert_int_eq(az_audit_flush(a, NULL), 0);
    ck_assert_uint_eq(line_count(path), 51); /* the start record and 50 */
    emit_n(a, 3);
    ck_assert_uint_eq(line_count(path), 51);
    az_audit_free(a);
    ck_assert_uint_eq(line_count(path), 55); /* and 3, and the closing checkpoint */
    expect_intact(paths, 1, 55);
}
END_TEST

START_TEST(test_flush_none_buffer_bound)
{
    char path[512];
    az_audit *a;
    az_audit_event ev;
    size_t n = 0;
    path_for(path, sizeof path, "flush_none_bound.log");
    a = open_log(path, AGENTAUTHZ_AUDIT_FLUSH_NONE);
    while (file_size(path) == 0) {
        fill_check(&ev, n++);
        ck_assert_int_eq(az_audit_emit(a, &ev), 0);
        ck_assert_uint_lt(n, 10000);
    }
    /* The first write happens once 64 KiB are pending, not before. */
    ck_assert_int_ge(file_size(path), AZ_AUDIT_BUFFER);
    ck_assert_int_lt(file_size(path), AZ_AUDIT_BUFFER + 2048);
    az_audit_free(a);
    ck_assert_uint_eq(line_count(path), n + 2);
}
END_TEST

START_TEST(test_flush_record)
{
    char path[512];
    az_audit *a;
    az_audit_event ev;
    agentauthz_audit_options o = AGENTAUTHZ_AUDIT_OPTIONS_INIT;
    path_for(path, sizeof path, "flush_record.log");
    o.path = path;
    o.fsync = 1;
    ck_assert_int_eq(az_audit_new(&a, &o, &g_w, NULL), 0);
    for (size_t i = 1; i <= 5; i++) {
        fill_check(&ev, i);
        ck_assert_int_eq(az_audit_emit(a, &ev), 0);
        ck_assert_uint_eq(line_count(path), i + 1);
    }
    az_audit_free(a);
    ck_assert_uint_eq(line_count(path), 7);
}
END_TEST

START_TEST(test_flush_every_n)
{
    char path[512];
    const char *paths[1] = {path};
    az_audit *a;
    az_audit_event ev;
    /* The start record is the first of the first three. */
    const size_t expect[] = {0, 3, 3, 3, 6, 6, 6};
    path_for(path, sizeof path, "flush_every.log");
    a = open_log_cb(path, AGENTAUTHZ_AUDIT_FLUSH_EVERY_N, 3, NULL, NULL);
    for (size_t i = 0; i < 7; i++) {
        fill_check(&ev, i);
        ck_assert_int_eq(az_audit_emit(a, &ev), 0);
        ck_assert_uint_eq(line_count(path), expect[i]);
    }
    az_audit_free(a);
    ck_assert_uint_eq(line_count(path), 9);
    expect_intact(paths, 1, 9);
}
END_TEST

typedef struct collector {
    az_buf all;
    size_t calls;
    bool bad;
} collector;

static int collect(const char *line, size_t len, void *ctx)
{
    collector *c = ctx;
    c->calls++;
    if (len == 0 || line[len - 1] != '\n' || memchr(line, '\n', len - 1))
        c->bad = true;
    if (az_buf_append(&c->all, line, len) != 0)
        c->bad = true;
    return 0;
}

START_TEST(test_callback_sink)
{
    char path[512], cbpath[512];
    const char *paths[1] = {cbpath};
    collector c = {{NULL, 0, 0, 0}, 0, false};
    collector only = {{NULL, 0, 0, 0}, 0, false};
    agentauthz_audit_options o = AGENTAUTHZ_AUDIT_OPTIONS_INIT;
    az_audit *a;
    size_t len;
    char *text;
    path_for(path, sizeof path, "callback.log");
    a = open_log_cb(path, AGENTAUTHZ_AUDIT_FLUSH_NONE, 0, collect, &c);
    emit_n(a, 20);
    /* The callback gets every record at once, whatever the file's flush policy. */
    ck_assert_uint_eq(c.calls, 21);
    az_audit_free(a);
    ck_assert_uint_eq(c.calls, 22); /* the closing checkpoint */
    text = slurp(path, &len);
    ck_assert(!c.bad);
    ck_assert_uint_eq(c.all.len, len);
    ck_assert_mem_eq(c.all.p, text, len);
    free(text);
    az_buf_free(&c.all);

    /* A callback alone, no file: the lines it gets verify. */
    o.callback = collect;
    o.ctx = &only;
    ck_assert_int_eq(az_audit_new(&a, &o, &g_w, NULL), 0);
    emit_n(a, 12);
    ck_assert_int_eq(az_audit_reopen(a, NULL), 0); /* nothing to reopen */
    ck_assert_int_eq(az_audit_flush(a, NULL), 0);
    az_audit_free(a);
    ck_assert_uint_eq(only.calls, 14);
    path_for(cbpath, sizeof cbpath, "callback_only.log");
    write_file(cbpath, only.all.p, only.all.len);
    expect_intact(paths, 1, 14);
    az_buf_free(&only.all);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Write errors, resume, rotation                                      */
/* ------------------------------------------------------------------ */

/*
 * Makes every later write to a file past its current size fail (EFBIG), as
 * a full disk would; *saved gets the limit to restore.
 */
static void limit_file_size(const char *path, struct rlimit *saved)
{
    struct rlimit lim;
    signal(SIGXFSZ, SIG_IGN);
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, saved), 0);
    lim.rlim_cur = (rlim_t)file_size(path); /* the soft limit only, so that it can be raised */
    lim.rlim_max = saved->rlim_max;
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
}

START_TEST(test_write_error_record)
{
    char real[512];
    const char *paths[1] = {real};
    collector c = {{NULL, 0, 0, 0}, 0, false};
    struct rlimit saved;
    agentauthz_error e;
    az_audit *a;
    path_for(real, sizeof real, "eio_real.log");
    unlink(real);
    a = open_log_cb(real, AGENTAUTHZ_AUDIT_FLUSH_RECORD, 0, collect, &c);
    ck_assert_uint_eq(c.calls, 1); /* the start record */
    {
        az_audit_event ev;
        int rc[3];
        fill_check(&ev, 0);
        /* No assertion while the limit holds: Check's own messages go to a file too. */
        limit_file_size(real, &saved);
        rc[0] = az_audit_emit(a, &ev);
        rc[1] = az_audit_emit(a, &ev); /* sticky */
        rc[2] = az_audit_flush(a, &e);
        /* The operator fixes the disk: the log goes on after a reopen. */
        ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &saved), 0);
        ck_assert_int_eq(rc[0], AGENTAUTHZ_EIO);
        ck_assert_int_eq(rc[1], AGENTAUTHZ_EIO);
        ck_assert_int_eq(rc[2], AGENTAUTHZ_EIO);
        ck_assert_int_eq(e.code, AGENTAUTHZ_EIO);
        /* The failed records are not in the chain, and no sink saw them. */
        ck_assert_uint_eq(az_audit_seq(a), 1);
        ck_assert_uint_eq(c.calls, 1);
    }
    ck_assert_int_eq(az_audit_reopen(a, &e), 0);
    emit_n(a, 4);
    az_audit_free(a);
    /* start, the reopened file's checkpoint, 4, the closing checkpoint */
    ck_assert_uint_eq(c.calls, 7);
    expect_intact(paths, 1, 7);
    az_buf_free(&c.all);
}
END_TEST

START_TEST(test_write_error_buffered)
{
    char real[512];
    const char *paths[1] = {real};
    struct rlimit saved;
    agentauthz_error e;
    az_audit *a;
    az_audit_event ev;
    int rc[7];
    path_for(real, sizeof real, "eio_none_real.log");
    unlink(real);
    a = open_log(real, AGENTAUTHZ_AUDIT_FLUSH_NONE);
    fill_check(&ev, 9);
    /* No assertion while the limit holds: Check's own messages go to a file too. */
    limit_file_size(real, &saved); /* nothing more can be written */
    for (int i = 0; i < 5; i++)
        rc[i] = az_audit_emit(a, &ev); /* buffered: accepted */
    rc[5] = az_audit_flush(a, &e);
    rc[6] = az_audit_emit(a, &ev);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &saved), 0);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(rc[i], 0);
    ck_assert_int_eq(rc[5], AGENTAUTHZ_EIO);
    ck_assert_int_eq(rc[6], AGENTAUTHZ_EIO);
    ck_assert_uint_eq(az_audit_seq(a), 6);
    /* Reopening on a working file writes the start and the five accepted records there. */
    ck_assert_int_eq(az_audit_reopen(a, &e), 0);
    ck_assert_uint_eq(line_count(real), 6); /* the new checkpoint stays buffered */
    emit_n(a, 2);
    az_audit_free(a);
    expect_intact(paths, 1, 10);
}
END_TEST

/* The file sink never follows a symbolic link, at open or at a reopen. */
START_TEST(test_symlink_refused)
{
    char link[512], real[512], moved[520];
    agentauthz_audit_options o = AGENTAUTHZ_AUDIT_OPTIONS_INIT;
    agentauthz_error e;
    az_audit *a = NULL;
    az_audit_event ev;
    struct stat st;
    path_for(link, sizeof link, "planted.link");
    path_for(real, sizeof real, "planted_target.log");
    snprintf(moved, sizeof moved, "%s.1", link);
    unlink(link);
    unlink(real);
    ck_assert_int_eq(symlink(real, link), 0);
    o.path = link;
    memset(&e, 0, sizeof e);
    ck_assert_int_eq(az_audit_new(&a, &o, &g_w, &e), AGENTAUTHZ_EIO);
    ck_assert_ptr_null(a);
    ck_assert_str_eq(e.path, link);
    ck_assert_ptr_nonnull(strstr(e.message, "symbolic link"));
    ck_assert_int_eq(lstat(real, &st), -1); /* the target was not created */
    /* A link to a file that exists: not followed either. */
    write_file(real, "", 0);
    ck_assert_int_eq(az_audit_new(&a, &o, &g_w, &e), AGENTAUTHZ_EIO);
    ck_assert_int_eq(file_size(real), 0);
    /* A link planted after a rotation: the reopen refuses it and the log fails closed. */
    ck_assert_int_eq(unlink(link), 0);
    a = open_log(link, AGENTAUTHZ_AUDIT_FLUSH_RECORD);
    ck_assert_int_eq(rename(link, moved), 0);
    ck_assert_int_eq(symlink(real, link), 0);
    ck_assert_int_eq(az_audit_reopen(a, &e), AGENTAUTHZ_EIO);
    ck_assert_ptr_nonnull(strstr(e.message, "symbolic link"));
    fill_check(&ev, 0);
    ck_assert_int_eq(az_audit_emit(a, &ev), AGENTAUTHZ_EIO);
    az_audit_free(a);
    ck_assert_int_eq(file_size(real), 0);
    unlink(link);
    unlink(moved);
}
END_TEST

/*
 * A write that stops inside a record (the file size limit here, a full disk
 * in life): the cut record's remainder is dropped at reopen, the next file
 * starts with a whole record, and the verifier points at the cut line.
 */
START_TEST(test_write_error_partial)
{
    char path[512], old[520];
    const char *both[2] = {old, path};
    struct rlimit lim, saved;
    agentauthz_error e;
    az_audit *a;
    size_t len;
    char *text;
    int rc, flushed;
    path_for(path, sizeof path, "partial.log");
    snprintf(old, sizeof old, "%s.0", path);
    a = open_log(path, AGENTAUTHZ_AUDIT_FLUSH_NONE);
    emit_n(a, 10); /* about 5 KiB with the start record, buffered */
    signal(SIGXFSZ, SIG_IGN);
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &saved), 0);
    lim.rlim_cur = 2000; /* the soft limit only, so that it can be raised again */
    lim.rlim_max = saved.rlim_max;
    /* No assertion while the limit holds: Check's own messages go to a file too. */
    rc = setrlimit(RLIMIT_FSIZE, &lim);
    flushed = az_audit_flush(a, &e);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &saved), 0);
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(flushed, AGENTAUTHZ_EIO);
    ck_assert_int_eq(file_size(path), 2000);
    ck_assert_uint_eq(az_audit_seq(a), 11);
    ck_assert_int_eq(rename(path, old), 0);
    ck_assert_int_eq(az_audit_reopen(a, &e), 0);
    emit_n(a, 2);
    az_audit_free(a);
    text = slurp(path, &len);
    ck_assert_int_eq(strncmp(text, "{\"v\":2,\"seq\":", 13), 0);
    ck_assert_int_eq(text[len - 1], '\n');
    free(text);
    {
        agentauthz_audit_report rep;
        ck_assert_int_eq(az_audit_verify_key(KEY, both, 2, &rep, NULL), AGENTAUTHZ_ETAMPER);
        ck_assert_int_eq(rep.problem, AGENTAUTHZ_AUDIT_TRUNCATED);
        ck_assert_uint_eq(rep.file, 0);
        ck_assert_uint_eq(rep.line, rep.records + 1);
        ck_assert_uint_gt(rep.records, 0);
        ck_assert_uint_lt(rep.records, 11);
    }
}
END_TEST

START_TEST(test_reopen_fails)
{
    char dir[256], path[512];
    agentauthz_error e;
    az_audit *a;
    az_audit_event ev;
    path_for(dir, sizeof dir, "gone");
    mkdir(dir, 0700);
    snprintf(path, sizeof path, "%s/audit.log", dir);
    a = open_log(path, AGENTAUTHZ_AUDIT_FLUSH_RECORD);
    emit_n(a, 1);
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(rmdir(dir), 0);
    ck_assert_int_eq(az_audit_reopen(a, &e), AGENTAUTHZ_EIO);
    ck_assert_str_eq(e.path, path);
    fill_check(&ev, 1);
    ck_assert_int_eq(az_audit_emit(a, &ev), AGENTAUTHZ_EIO); /* fail closed */
    az_audit_free(a);
}
END_TEST

START_TEST(test_resume_continues_chain)
{
    char path[512];
    const char *paths[1] = {path};
    az_audit *a;
    path_for(path, sizeof path, "resume_ok.log");
    make_log(path, 5); /* start, 5, checkpoint */
    a = open_log(path, AGENTAUTHZ_AUDIT_FLUSH_NONE);
    ck_assert_uint_eq(az_audit_seq(a), 8); /* and the resume record */
    emit_n(a, 3);
    az_audit_free(a); /* and a checkpoint: 12 */
    a = open_log(path, AGENTAUTHZ_AUDIT_FLUSH_RECORD);
    ck_assert_uint_eq(az_audit_seq(a), 13);
    az_audit_free(a); /* nothing after the resume record: no checkpoint */
    expect_intact(paths, 1, 13);
}
END_TEST

static void expect_resume_refused(const char *path, const unsigned char *key)
{
    agentauthz_audit_options o = AGENTAUTHZ_AUDIT_OPTIONS_INIT;
    agentauthz_error e;
    az_audit *a = NULL;
    agentauthz_keys *k = keys_with(key, 0x01);
    az_audit_writer w = writer_of(k, "test-engine");
    o.path = path;
    ck_assert_int_eq(az_audit_new(&a, &o, &w, &e), AGENTAUTHZ_ETAMPER);
    agentauthz_keys_free(k);
    ck_assert_ptr_null(a);
    ck_assert_int_eq(e.code, AGENTAUTHZ_ETAMPER);
    ck_assert_str_eq(e.path, path);
}

START_TEST(test_resume_refuses_tampered)
{
    char path[512];
    unsigned char other[32];
    lines l;
    char *at, *big;
    size_t len;
    FILE *f;
    path_for(path, sizeof path, "resume_bad.log");
    make_log(path, 4);
    read_lines(path, &l);
    len = strlen(l.text);
    /* Another key. */
    memcpy(other, KEY, sizeof other);
    other[5] ^= 4;
    expect_resume_refused(path, other);
    /* The last record edited. */
    ck_assert_uint_eq(l.n, 6);
    at = strstr((char *)l.p[5], "checkpoint");
    ck_assert_ptr_nonnull(at);
    at[0] = 'C';
    write_file(path, l.text, len);
    expect_resume_refused(path, KEY);
    at[0] = 'c';
    /* The last line cut. */
    write_file(path, l.text, len - 10);
    expect_resume_refused(path, KEY);
    /* Garbage at the end. */
    write_file(path, "not a record\n", 13);
    expect_resume_refused(path, KEY);
    /* A last line longer than any record. */
    big = malloc(AZ_AUDIT_LINE_MAX + 100);
    ck_assert_ptr_nonnull(big);
    memset(big, 'z', AZ_AUDIT_LINE_MAX + 99);
    big[AZ_AUDIT_LINE_MAX + 99] = '\n';
    f = fopen(path, "wb");
    fwrite(l.text, 1, len, f);
    fwrite(big, 1, AZ_AUDIT_LINE_MAX + 100, f);
    fclose(f);
    expect_resume_refused(path, KEY);
    /* The intact file resumes again. */
    write_file(path, l.text, len);
    az_audit_free(open_log(path, AGENTAUTHZ_AUDIT_FLUSH_RECORD));
    free(big);
    free(l.text);
}
END_TEST

START_TEST(test_reopen_same_file)
{
    char path[512];
    const char *paths[1] = {path};
    az_audit *a;
    path_for(path, sizeof path, "reopen_same.log");
    a = open_log(path, AGENTAUTHZ_AUDIT_FLUSH_NONE);
    emit_n(a, 4);
    ck_assert_int_eq(az_audit_reopen(a, NULL), 0);
    /* reopen writes what was buffered and a checkpoint (the new file's own stays buffered) */
    ck_assert_uint_eq(line_count(path), 6);
    emit_n(a, 4);
    ck_assert_int_eq(az_audit_reopen(a, NULL), 0);
    az_audit_free(a);
    expect_intact(paths, 1, 13);
}
END_TEST

START_TEST(test_file_mode)
{
    char path[512];
    struct stat st;
    path_for(path, sizeof path, "mode.log");
    make_log(path, 1);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Whose log, where it ends, and what the public key alone can check   */
/* ------------------------------------------------------------------ */

static void make_log_with(const char *path, size_t n, const az_audit_writer *w, size_t every)
{
    agentauthz_audit_options o = AGENTAUTHZ_AUDIT_OPTIONS_INIT;
    az_audit *a = NULL;
    unlink(path);
    o.path = path;
    o.checkpoint_every = every;
    ck_assert_int_eq(az_audit_new(&a, &o, w, NULL), 0);
    emit_n(a, n);
    az_audit_free(a);
}

/* Verifies with what a verifier may know; 0 or the problem, with the line in *line. */
static int verify_as(const char *const *paths, size_t n, const unsigned char *mac_key,
                     const unsigned char *pk, const char *engine, agentauthz_audit_result *res)
{
    az_audit_verifier v = {mac_key, pk, engine, 0};
    int rc = az_audit_verify_with(&v, paths, n, res, NULL);
    if (rc == 0)
        return 0;
    ck_assert_int_eq(rc, AGENTAUTHZ_ETAMPER);
    return (int)res->report.problem;
}

#define PK_A az_keys_public_key(g_keys)

START_TEST(test_empty_log)
{
    char path[512], p[3][512];
    const char *paths[1] = {path};
    agentauthz_audit_report rep;
    agentauthz_audit_result res;
    path_for(path, sizeof path, "empty.log");
    write_file(path, "", 0);
    ck_assert_int_eq(az_audit_verify_key(KEY, paths, 1, &rep, NULL), AGENTAUTHZ_ETAMPER);
    ck_assert_int_eq(rep.problem, AGENTAUTHZ_AUDIT_EMPTY);
    ck_assert_uint_eq(rep.line, 1);
    ck_assert_str_eq(rep.path, path);
    ck_assert_int_eq(agentauthz_audit_verify(g_keys, paths, 1, &rep, NULL), AGENTAUTHZ_ETAMPER);
    ck_assert_int_eq(rep.problem, AGENTAUTHZ_AUDIT_EMPTY);
    ck_assert_int_eq(verify_as(paths, 1, NULL, PK_A, NULL, &res), AGENTAUTHZ_AUDIT_EMPTY);
    /* An emptied file among the files of a rotated log. */
    make_rotated("rot_empty.log", p);
    {
        const char *with_empty[4] = {p[0], p[1], path, p[2]};
        const char *empty_last[4] = {p[0], p[1], p[2], path};
        expect_broken(with_empty, 4, AGENTAUTHZ_AUDIT_EMPTY, 2, 1);
        expect_broken(empty_last, 4, AGENTAUTHZ_AUDIT_EMPTY, 3, 1);
    }
}
END_TEST

START_TEST(test_other_engine_same_audit_key)
{
    char path[512], shared[512];
    const char *paths[1] = {path}, *shared_paths[1] = {shared};
    agentauthz_keys *kb = keys_with(KEY, 0x02); /* same audit key, another signing key */
    az_audit_writer wb = writer_of(kb, "engine-b");
    agentauthz_audit_report rep;
    agentauthz_audit_result res;
    az_audit *a;
    ck_assert_ptr_nonnull(kb);
    path_for(path, sizeof path, "engine_b.log");
    make_log_with(path, 3, &wb, 1000);
    /* Every MAC verifies under the shared audit key: the log is B's all the same. */
    ck_assert_int_eq(az_audit_verify_key(KEY, paths, 1, &rep, NULL), 0);
    ck_assert_int_eq(agentauthz_audit_verify(g_keys, paths, 1, &rep, NULL), AGENTAUTHZ_ETAMPER);
    ck_assert_int_eq(rep.problem, AGENTAUTHZ_AUDIT_ENGINE);
    ck_assert_uint_eq(rep.line, 1);
    ck_assert_int_eq(verify_as(paths, 1, KEY, PK_A, NULL, &res), AGENTAUTHZ_AUDIT_ENGINE);
    ck_assert_int_eq(verify_as(paths, 1, NULL, PK_A, NULL, &res), AGENTAUTHZ_AUDIT_ENGINE);
    ck_assert_int_eq(agentauthz_audit_verify(kb, paths, 1, &rep, NULL), 0);
    /* By name: the exact name only. */
    ck_assert_int_eq(verify_as(paths, 1, KEY, NULL, "engine-b", &res), 0);
    ck_assert_int_eq(verify_as(paths, 1, KEY, NULL, "test-engine", &res), AGENTAUTHZ_AUDIT_ENGINE);
    ck_assert_int_eq(verify_as(paths, 1, KEY, NULL, "engine-", &res), AGENTAUTHZ_AUDIT_ENGINE);
    ck_assert_int_eq(verify_as(paths, 1, KEY, NULL, "engine-bb", &res), AGENTAUTHZ_AUDIT_ENGINE);
    ck_assert_int_eq(verify_as(paths, 1, KEY, NULL, "", &res), AGENTAUTHZ_AUDIT_ENGINE);
    ck_assert_int_eq(verify_as(paths, 1, NULL, az_keys_public_key(kb), "engine-b", &res), 0);
    /* A's log continued by B (the same file, the same audit key). */
    path_for(shared, sizeof shared, "engine_shared.log");
    make_log_with(shared, 3, &g_w, 1000); /* start, 3, checkpoint */
    {
        agentauthz_audit_options o = AGENTAUTHZ_AUDIT_OPTIONS_INIT;
        o.path = shared;
        ck_assert_int_eq(az_audit_new(&a, &o, &wb, NULL), 0);
        emit_n(a, 2);
        az_audit_free(a);
    }
    ck_assert_int_eq(verify_as(shared_paths, 1, KEY, PK_A, NULL, &res), AGENTAUTHZ_AUDIT_ENGINE);
    ck_assert_uint_eq(res.report.line, 6); /* B's resume record */
    ck_assert_int_eq(verify_as(shared_paths, 1, NULL, PK_A, NULL, &res), AGENTAUTHZ_AUDIT_ENGINE);
    ck_assert_uint_eq(res.report.line, 6);
    agentauthz_keys_free(kb);
}
END_TEST

/* Options of version 1 (before checkpoint_every) get the default cadence, whatever follows them. */
START_TEST(test_options_version1)
{
    char path[512];
    const char *paths[1] = {path};
    agentauthz_audit_options o = AGENTAUTHZ_AUDIT_OPTIONS_INIT;
    az_audit *a = NULL;
    path_for(path, sizeof path, "opts_v1.log");
    unlink(path);
    o.path = path;
    o.version = 1;
    o.checkpoint_every = 3; /* not part of a version 1 struct: ignored */
    ck_assert_int_eq(az_audit_new(&a, &o, &g_w, NULL), 0);
    emit_n(a, 10);
    az_audit_free(a);
    ck_assert_uint_eq(line_count(path), 12); /* start, 10, closing checkpoint */
    expect_intact(paths, 1, 12);
    o.version = 2; /* now it counts: start, then 3 checks and a checkpoint, three times */
    unlink(path);
    ck_assert_int_eq(az_audit_new(&a, &o, &g_w, NULL), 0);
    emit_n(a, 9);
    az_audit_free(a); /* nothing after the last checkpoint: none at close */
    ck_assert_uint_eq(line_count(path), 13);
    expect_intact(paths, 1, 13);
}
END_TEST

/* Rewrites the prev field of lines from..n-1 to link to the line before, as a forger would. */
static void relink(lines *l, size_t from)
{
    for (size_t i = from; i < l->n; i++) {
        az_audit_frame f, g;
        const char *why;
        unsigned char d[32];
        char hex[65];
        ck_assert_int_eq(az_audit_frame_parse(l->p[i - 1], l->len[i - 1] - 1, &f, &why), 0);
        ck_assert_int_eq(az_audit_digest(l->p[i - 1], f.signed_len, d), 0);
        sodium_bin2hex(hex, sizeof hex, d, sizeof d);
        ck_assert_int_eq(az_audit_frame_parse(l->p[i], l->len[i] - 1, &g, &why), 0);
        memcpy((char *)l->p[i] + g.signed_len - 65, hex, 64);
    }
}

static void write_lines(const char *path, const lines *l, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    for (size_t i = 0; i < n; i++)
        fwrite(l->p[i], 1, l->len[i], f);
    fclose(f);
}

static void expect_event(const lines *l, size_t i, const char *event)
{
    agentauthz_value *r = parse_line(l->p[i], l->len[i]);
    ck_assert_str_eq(get_str(r, "event"), event);
    agentauthz_value_free(r);
}

START_TEST(test_pubkey_only)
{
    char path[512];
    const char *paths[1] = {path};
    agentauthz_audit_result res;
    lines l;
    char *at;
    path_for(path, sizeof path, "pubkey.log");
    /* start (1), checks 2-5, checkpoint 6, checks 7-10, checkpoint 11, checks 12-13, close 14 */
    make_log_with(path, 10, &g_w, 4);
    read_lines(path, &l);
    ck_assert_uint_eq(l.n, 14);
    expect_event(&l, 5, "checkpoint");
    expect_event(&l, 10, "checkpoint");
    expect_event(&l, 13, "checkpoint");
    ck_assert_int_eq(verify_as(paths, 1, NULL, PK_A, NULL, &res), 0);
    ck_assert_uint_eq(res.report.records, 14);
    ck_assert_uint_eq(res.signed_seq, 14);
    ck_assert_uint_eq(res.checkpoints, 4);
    /* Without the closing checkpoint the last records are intact but not signed. */
    write_lines(path, &l, 13);
    ck_assert_int_eq(verify_as(paths, 1, NULL, PK_A, NULL, &res), 0);
    ck_assert_uint_eq(res.report.last_seq, 13);
    ck_assert_uint_eq(res.signed_seq, 11);
    /* An edit before the last checkpoint: the next record's link breaks... */
    at = strstr((char *)l.p[2], "\"decision\":\"allow\"");
    ck_assert_ptr_nonnull(at);
    memcpy(at, "\"decision\":\"alloW\"", 18);
    write_lines(path, &l, 14);
    ck_assert_int_eq(verify_as(paths, 1, NULL, PK_A, NULL, &res), AGENTAUTHZ_AUDIT_PREV);
    ck_assert_uint_eq(res.report.line, 4);
    ck_assert_int_eq(verify_as(paths, 1, KEY, PK_A, NULL, &res), AGENTAUTHZ_AUDIT_MAC);
    ck_assert_uint_eq(res.report.line, 3);
    /* ...and with every link recomputed (no key needed), the checkpoint's signature. */
    relink(&l, 3);
    write_lines(path, &l, 14);
    ck_assert_int_eq(verify_as(paths, 1, NULL, PK_A, NULL, &res), AGENTAUTHZ_AUDIT_SIGNATURE);
    ck_assert_uint_eq(res.report.line, 6);
    ck_assert_uint_eq(res.signed_seq, 1);
    free(l.text);
}
END_TEST

START_TEST(test_forged_checkpoint)
{
    char path[512];
    const char *paths[1] = {path};
    agentauthz_audit_result res;
    agentauthz_keys *evil = keys_with(KEY, 0x66);
    unsigned char msg[AZ_AUDIT_SIGMSG_BYTES], sig[64];
    char hex[129];
    az_audit_frame f;
    const char *why;
    lines l;
    ck_assert_ptr_nonnull(evil);
    path_for(path, sizeof path, "forged.log");
    make_log_with(path, 10, &g_w, 4);
    read_lines(path, &l);
    ck_assert_uint_eq(l.n, 14);
    /* The checkpoint at line 6 signed again with another key: a well-formed signature. */
    ck_assert_int_eq(az_audit_frame_parse(l.p[5], l.len[5] - 1, &f, &why), 0);
    ck_assert_uint_gt(f.sig_at, 0);
    ck_assert_int_eq(az_audit_sig_message(l.p[5], &f, msg), 0);
    ck_assert_int_eq(az_keys_sign(evil, msg, sizeof msg, sig), 0);
    sodium_bin2hex(hex, sizeof hex, sig, sizeof sig);
    memcpy((char *)l.p[5] + f.sig_at + 8, hex, 128);
    relink(&l, 6);
    write_lines(path, &l, 14);
    ck_assert_int_eq(verify_as(paths, 1, NULL, PK_A, NULL, &res), AGENTAUTHZ_AUDIT_SIGNATURE);
    ck_assert_uint_eq(res.report.line, 6);
    ck_assert_ptr_nonnull(strstr(res.report.reason, "checkpoint signature"));
    ck_assert_int_eq(verify_as(paths, 1, KEY, PK_A, NULL, &res), AGENTAUTHZ_AUDIT_MAC);
    /* A checkpoint with its signature taken out is not a checkpoint. */
    free(l.text);
    make_log_with(path, 10, &g_w, 4);
    read_lines(path, &l);
    ck_assert_int_eq(az_audit_frame_parse(l.p[5], l.len[5] - 1, &f, &why), 0);
    {
        FILE *out = fopen(path, "wb");
        ck_assert_ptr_nonnull(out);
        for (size_t i = 0; i < l.n; i++) {
            if (i != 5) {
                fwrite(l.p[i], 1, l.len[i], out);
                continue;
            }
            fwrite(l.p[i], 1, f.sig_at, out);
            fwrite(l.p[i] + f.sig_at + 8 + 129, 1, l.len[i] - f.sig_at - 8 - 129, out);
        }
        fclose(out);
    }
    ck_assert_int_eq(verify_as(paths, 1, NULL, PK_A, NULL, &res), AGENTAUTHZ_AUDIT_MALFORMED);
    ck_assert_uint_eq(res.report.line, 6);
    /* A start record signed by a forger who rewrote the whole log: not the engine's. */
    free(l.text);
    {
        az_audit_writer ew = writer_of(evil, "test-engine");
        make_log_with(path, 3, &ew, 1000);
    }
    ck_assert_int_eq(verify_as(paths, 1, NULL, PK_A, NULL, &res), AGENTAUTHZ_AUDIT_ENGINE);
    ck_assert_uint_eq(res.report.line, 1);
    agentauthz_keys_free(evil);
}
END_TEST

/* A version 1 line: {"v":1,"seq":N,"time":...,"event":"check","prev":...,"mac":...}. */
static void v1_line(FILE *f, uint64_t seq, unsigned char prev[32])
{
    char line[512], hex[65];
    unsigned char mac[32];
    int n;
    sodium_bin2hex(hex, sizeof hex, prev, 32);
    n = snprintf(line, sizeof line,
                 "{\"v\":1,\"seq\":%llu,\"time\":\"2024-01-01T00:00:00.000000000Z\",\"event\":"
                 "\"check\",\"prev\":\"%s\"",
                 (unsigned long long)seq, hex);
    ck_assert_int_eq(az_audit_mac_v1(KEY, prev, line, (size_t)n, mac), 0);
    sodium_bin2hex(hex, sizeof hex, mac, 32);
    fprintf(f, "%s,\"mac\":\"%s\"}\n", line, hex);
    memcpy(prev, mac, 32);
}

START_TEST(test_version1_log)
{
    char path[512];
    const char *paths[1] = {path};
    agentauthz_audit_verify_options vo = AGENTAUTHZ_AUDIT_VERIFY_OPTIONS_INIT;
    agentauthz_audit_result res = AGENTAUTHZ_AUDIT_RESULT_INIT;
    agentauthz_audit_options o = AGENTAUTHZ_AUDIT_OPTIONS_INIT;
    agentauthz_error e;
    unsigned char prev[32] = {0};
    az_audit *a = NULL;
    FILE *f;
    path_for(path, sizeof path, "v1.log");
    f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    for (uint64_t i = 1; i <= 3; i++)
        v1_line(f, i, prev);
    fclose(f);
    /* Old logs verify with the audit key, by their MAC chain. */
    vo.keys = g_keys;
    ck_assert_int_eq(agentauthz_audit_verify_ext(&vo, paths, 1, &res, NULL), 0);
    ck_assert_uint_eq(res.schema, 1);
    ck_assert_uint_eq(res.report.records, 3);
    ck_assert_uint_eq(res.signed_seq, 0);
    ck_assert_str_eq(res.log_id, "");
    /* ...but carry no engine and no signature. */
    ck_assert_int_eq(verify_as(paths, 1, NULL, PK_A, NULL, &res), AGENTAUTHZ_AUDIT_UNSIGNED);
    ck_assert_int_eq(verify_as(paths, 1, KEY, NULL, "test-engine", &res),
                     AGENTAUTHZ_AUDIT_UNSIGNED);
    /* A version 1 record after version 2 ones is not a continuation. */
    make_log_with(path, 0, &g_w, 1000); /* the start record only */
    f = fopen(path, "ab");
    ck_assert_ptr_nonnull(f);
    memset(prev, 0, sizeof prev);
    v1_line(f, 2, prev);
    fclose(f);
    ck_assert_int_eq(verify_as(paths, 1, KEY, NULL, NULL, &res), AGENTAUTHZ_AUDIT_MALFORMED);
    ck_assert_uint_eq(res.report.line, 2);
    /* A version 1 file is not resumed: it must be rotated first. */
    o.path = path;
    memset(&e, 0, sizeof e);
    ck_assert_int_eq(az_audit_new(&a, &o, &g_w, &e), AGENTAUTHZ_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.message, "version 1"));
    ck_assert_ptr_null(a);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Secrets never reach a log                                           */
/* ------------------------------------------------------------------ */

/* Runs last: every file this suite wrote, searched for every secret value. */
START_TEST(test_no_secret_in_any_log)
{
    DIR *d = opendir(g_dir);
    struct dirent *de;
    size_t files = 0;
    ck_assert_ptr_nonnull(d);
    while ((de = readdir(d)) != NULL) {
        char path[1024];
        struct stat st;
        size_t len;
        char *text;
        snprintf(path, sizeof path, "%s/%s", g_dir, de->d_name);
        if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        text = slurp(path, &len);
        for (size_t i = 0; i < NSECRETS; i++)
            ck_assert_msg(memmem(text, len, SECRETS[i], strlen(SECRETS[i])) == NULL,
                          "secret %zu found in %s", i, path);
        free(text);
        files++;
    }
    closedir(d);
    ck_assert_uint_ge(files, 20);
}
END_TEST

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        char path[1024];
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (unlink(path) != 0)
            rmdir(path);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

static Suite *audit_suite(void)
{
    Suite *s = suite_create("audit");
    TCase *shape = tcase_create("records");
    TCase *tamper = tcase_create("tamper");
    TCase *sinks = tcase_create("sinks");
    TCase *binding = tcase_create("binding");
    TCase *last = tcase_create("secrets");
    tcase_add_test(shape, test_check_record_shape);
    tcase_add_test(shape, test_every_kind);
    tcase_add_test(shape, test_hostile_strings);
    tcase_add_test(shape, test_truncation_keeps_characters_whole);
    tcase_add_test(shape, test_bad_arguments);
    tcase_add_test(shape, test_args_digest_and_clear);
    tcase_add_test(shape, test_args_digest_is_keyed);
    tcase_add_test(shape, test_args_too_many);
    tcase_add_test(shape, test_redaction_of_fields);
    tcase_add_test(tamper, test_tamper_edit_field);
    tcase_add_test(tamper, test_tamper_edit_seq_and_mac);
    tcase_add_test(tamper, test_tamper_delete);
    tcase_add_test(tamper, test_tamper_reorder);
    tcase_add_test(tamper, test_tamper_duplicate);
    tcase_add_test(tamper, test_tamper_truncate);
    tcase_add_test(tamper, test_tamper_splice_other_chain);
    tcase_add_test(tamper, test_tamper_malformed);
    tcase_add_test(tamper, test_wrong_key);
    tcase_add_test(tamper, test_tamper_rotated_files);
    tcase_add_test(tamper, test_verify_arguments);
    tcase_add_test(tamper, test_public_verify);
    tcase_add_test(sinks, test_flush_none);
    tcase_add_test(sinks, test_flush_none_buffer_bound);
    tcase_add_test(sinks, test_flush_record);
    tcase_add_test(sinks, test_flush_every_n);
    tcase_add_test(sinks, test_callback_sink);
    tcase_add_test(sinks, test_write_error_record);
    tcase_add_test(sinks, test_write_error_buffered);
    tcase_add_test(sinks, test_symlink_refused);
    tcase_add_test(sinks, test_write_error_partial);
    tcase_add_test(sinks, test_reopen_fails);
    tcase_add_test(sinks, test_resume_continues_chain);
    tcase_add_test(sinks, test_resume_refuses_tampered);
    tcase_add_test(sinks, test_reopen_same_file);
    tcase_add_test(sinks, test_file_mode);
    tcase_add_test(last, test_no_secret_in_any_log);
    tcase_set_timeout(tamper, 60);
    tcase_set_timeout(shape, 60);
    tcase_add_test(binding, test_empty_log);
    tcase_add_test(binding, test_options_version1);
    tcase_add_test(binding, test_other_engine_same_audit_key);
    tcase_add_test(binding, test_pubkey_only);
    tcase_add_test(binding, test_forged_checkpoint);
    tcase_add_test(binding, test_version1_log);
    suite_add_tcase(s, shape);
    suite_add_tcase(s, tamper);
    suite_add_tcase(s, sinks);
    suite_add_tcase(s, binding);
    suite_add_tcase(s, last);
    return s;
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    SRunner *sr;
    int failed;
    snprintf(g_dir, sizeof g_dir, "%s/test_audit.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_dir) || sodium_init() < 0)
        return 1;
    g_keys = keys_with(KEY, 0x01);
    if (!g_keys)
        return 1;
    g_w = writer_of(g_keys, "test-engine");
    sr = srunner_create(audit_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    agentauthz_keys_free(g_keys);
    remove_dir(g_dir);
    return failed ? 1 : 0;
}

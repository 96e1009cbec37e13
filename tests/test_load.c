/*
 * Tests for the YAML loader (lib/load.c): marks, core-schema typing, every
 * refusal with its line and column, several errors from one file, bounds and
 * hostile inputs, and ownership (run under ASan to catch leaks).
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

#define MAX_ERRS 16

/* The errors one parse reported, in order. */
typedef struct errs {
    agentauthz_error e[MAX_ERRS];
    size_t n; /* how many were reported (may exceed MAX_ERRS) */
    agentauthz_error first;
} errs;

static void collect(const agentauthz_error *e, int is_warning, void *ctx)
{
    errs *er = ctx;
    ck_assert_int_eq(is_warning, 0);
    if (er->n < MAX_ERRS)
        er->e[er->n] = *e;
    er->n++;
}

/* Parses len bytes of text; *out gets the tree, er the errors. */
static int parse_n(const char *text, size_t len, errs *er, az_node **out)
{
    az_diag d;
    int rc;
    memset(er, 0, sizeof *er);
    memset(&d, 0, sizeof d);
    d.fn = collect;
    d.ctx = er;
    d.first = &er->first;
    d.path = "test.yaml";
    *out = (az_node *)(uintptr_t)1; /* must be overwritten, also on failure */
    rc = az_yaml_parse(text, len, &d, out);
    ck_assert_uint_eq(d.errors, er->n);
    if (rc) {
        ck_assert_ptr_null(*out);
        ck_assert_uint_ge(er->n, 1);
        ck_assert_int_eq(er->first.code, rc);
        ck_assert_int_eq(er->e[0].code, rc);
    } else {
        ck_assert_ptr_nonnull(*out);
        ck_assert_uint_eq(er->n, 0);
    }
    return rc;
}

static int parse(const char *text, errs *er, az_node **out)
{
    return parse_n(text, strlen(text), er, out);
}

/* Parses text that must be valid and returns its tree. */
static az_node *parse_ok(const char *text)
{
    errs er;
    az_node *n = NULL;
    int rc = parse(text, &er, &n);
    ck_assert_msg(rc == 0, "unexpected error %lu:%lu %s", er.first.line, er.first.column,
                  er.first.message);
    return n;
}

/* The value under key in map (keys compared as text), or NULL. */
static const az_node *get(const az_node *map, const char *key)
{
    ck_assert_int_eq(map->type, AZ_NODE_MAP);
    for (size_t i = 0; i + 1 < map->n; i += 2)
        if (map->items[i]->len == strlen(key) && memcmp(map->items[i]->str, key, strlen(key)) == 0)
            return map->items[i + 1];
    return NULL;
}

static const az_node *key_at(const az_node *map, size_t i)
{
    ck_assert_uint_lt(2 * i, map->n);
    return map->items[2 * i];
}

static void assert_mark(const az_mark *m, unsigned long line, unsigned long col, size_t off)
{
    ck_assert_uint_eq(m->line, line);
    ck_assert_uint_eq(m->column, col);
    ck_assert_uint_eq(m->offset, off);
}

static void assert_scalar(const az_node *n, az_scalar_kind kind, const char *text)
{
    ck_assert_ptr_nonnull(n);
    ck_assert_int_eq(n->type, AZ_NODE_SCALAR);
    ck_assert_int_eq(n->kind, kind);
    ck_assert_uint_eq(n->len, strlen(text));
    ck_assert_str_eq(n->str, text);
}

/* A buffer of n copies of unit (with prefix and suffix), for generated inputs. */
static char *repeat(const char *prefix, const char *unit, size_t n, const char *suffix, size_t *len)
{
    size_t pl = strlen(prefix), ul = strlen(unit), sl = strlen(suffix);
    char *s = malloc(pl + ul * n + sl + 1);
    char *p = s;
    ck_assert_ptr_nonnull(s);
    memcpy(p, prefix, pl);
    p += pl;
    for (size_t i = 0; i < n; i++, p += ul)
        memcpy(p, unit, ul);
    memcpy(p, suffix, sl);
    p += sl;
    *p = '\0';
    *len = (size_t)(p - s);
    return s;
}

/* ------------------------------------------------------------------ */

static const char example[] =
    "agentauthz: 1                      # required: format version\n"
    "name: support-bot                  # optional: shows up in audit records\n"
    "\n"
    "defaults:\n"
    "  session_ttl: 15m                 # TTL of a session opened without one\n"
    "  max_session_ttl: 1h              # no session may live longer\n"
    "  on_deny: continue                # continue | revoke  (revoke = end the session on any "
    "deny)\n"
    "\n"
    "identities:                        # who may open sessions (workload identities)\n"
    "  - match: \"spiffe://corp.example/agents/support/*\"   # glob over the identity string\n"
    "    roles: [support]\n"
    "  - match: \"spiffe://corp.example/agents/coder\"\n"
    "    roles: [coder, reader]\n"
    "\n"
    "lists:                             # named lists, used wherever a predicate takes a list\n"
    "  company_domains: [corp.example, corp-mail.example]\n"
    "  payees: [GB29NWBK60161331926819, DE89370400440532013000]\n"
    "\n"
    "tools:                             # optional catalogue of tools and what they do to data\n"
    "  read_file:    { produces: [internal] }   # labels added to the session after an allowed "
    "call\n"
    "  get_secret:   { produces: [secret] }\n"
    "  send_email:   { sink: true }             # data can leave through this tool\n"
    "  http.post:    { sink: true }\n"
    "\n"
    "secrets:                           # per-task ephemeral credentials (see \"Secrets\")\n"
    "  scratch_db: { provider: random, bytes: 32, ttl: 30m, tools: [db.query] }\n"
    "  github:     { provider: host, ttl: 10m, tools: [\"github.*\", git.push] }\n"
    "  api_key:    { provider: derived, ttl: 15m, tools: [http.get] }\n"
    "  task_token: { provider: token, ttl: 15m, audience: \"https://api.corp.example\" }\n"
    "\n"
    "tasks:                             # task profiles a session is opened for\n"
    "  triage-ticket:\n"
    "    roles: [support]               # roles allowed to open this task\n"
    "    max_ttl: 30m\n"
    "    secrets: [scratch_db, task_token]\n"
    "    limits:\n"
    "      calls: 100                   # checks allowed per session, all tools together\n"
    "      per_tool: { send_email: 3 }\n"
    "    on_deny: revoke                # overrides defaults.on_deny\n"
    "    otherwise: deny                # deny | ask: the decision when no rule matches (default "
    "deny)\n"
    "  refund-customer:\n"
    "    roles: [support]\n"
    "    params:                        # values the orchestrator binds when it opens the session\n"
    "      customer_email: string       # (string | number | bool | list), all required\n"
    "      max_refund: number\n"
    "\n"
    "rules:\n"
    "  - id: read-kb                    # required, unique\n"
    "    effect: allow                  # allow | deny | ask\n"
    "    tasks: [triage-ticket]         # optional scope: only sessions of these tasks\n"
    "    roles: [support]               # optional scope: only identities holding one of these "
    "roles\n"
    "    tools: [read_file]             # required: tool names or globs (\"github.*\", \"*\")\n"
    "    where:                         # optional: every condition must hold\n"
    "      resource: { glob: \"/kb/**\" }\n"
    "  - id: never-dotenv\n"
    "    effect: deny\n"
    "    tools: [\"*\"]\n"
    "    where:\n"
    "      resource: { glob: \"**/.env*\" }\n"
    "    reason: dotenv files hold credentials      # optional, returned with the decision\n"
    "  - id: email-inside\n"
    "    effect: allow\n"
    "    tools: [send_email]\n"
    "    where:\n"
    "      args.to: { each: { any: [ { domain: { list: company_domains } }, { in: "
    "[ops@partner.example] } ] } }\n"
    "  - id: big-payment\n"
    "    effect: ask\n"
    "    tools: [send_money]\n"
    "    where:\n"
    "      args.amount: { gt: 1000 }\n"
    "  - id: refund-only-that-customer\n"
    "    effect: allow\n"
    "    tasks: [refund-customer]\n"
    "    tools: [payments.refund]\n"
    "    where:\n"
    "      args.email: { eq: { param: customer_email }, icase: true }\n"
    "      args.amount: { lte: { param: max_refund } }\n"
    "  - id: no-exfil-after-secret\n"
    "    effect: deny\n"
    "    tools: [\"*\"]\n"
    "    where:\n"
    "      session.labels: { has: secret }\n"
    "      tool.sink: true\n"
    "      destination: { not: { domain: [corp.example] } }\n";

START_TEST(t_policy_example)
{
    az_node *root = parse_ok(example);
    static const char *const top[] = {"agentauthz", "name",    "defaults", "identities", "lists",
                                      "tools",      "secrets", "tasks",    "rules"};
    const az_node *rules, *tasks, *t, *r, *w;
    ck_assert_int_eq(root->type, AZ_NODE_MAP);
    ck_assert_uint_eq(root->n, 2 * 9);
    for (size_t i = 0; i < 9; i++)
        assert_scalar(key_at(root, i), AZ_SCALAR_STRING, top[i]);
    ck_assert_int_eq(get(root, "agentauthz")->kind, AZ_SCALAR_INT);
    ck_assert(get(root, "agentauthz")->num == 1.0);
    assert_scalar(get(root, "name"), AZ_SCALAR_STRING, "support-bot");
    /* "rules:" is on line 47 of the example; the first rule's "id" on 48. */
    assert_mark(&key_at(root, 8)->mark, 47, 1, (size_t)(strstr(example, "\nrules:") - example) + 1);
    rules = get(root, "rules");
    ck_assert_int_eq(rules->type, AZ_NODE_SEQ);
    ck_assert_uint_eq(rules->n, 6);
    ck_assert_uint_eq(rules->items[0]->mark.line, 48);
    ck_assert_uint_eq(rules->items[0]->mark.column, 5);
    assert_scalar(get(rules->items[0], "id"), AZ_SCALAR_STRING, "read-kb");
    assert_scalar(get(rules->items[1], "reason"), AZ_SCALAR_STRING,
                  "dotenv files hold credentials");
    w = get(rules->items[5], "where");
    ck_assert_int_eq(get(w, "tool.sink")->kind, AZ_SCALAR_BOOL);
    ck_assert(get(w, "tool.sink")->b);
    ck_assert_uint_eq(get(w, "tool.sink")->mark.line, 83);
    r = get(get(rules->items[3], "where"), "args.amount");
    ck_assert(get(r, "gt")->kind == AZ_SCALAR_INT && get(r, "gt")->num == 1000.0);
    /* A flow sequence with a quoted item and a plain one. */
    t = get(rules->items[5], "tools");
    ck_assert_int_eq(t->type, AZ_NODE_SEQ);
    assert_scalar(t->items[0], AZ_SCALAR_STRING, "*");
    tasks = get(root, "tasks");
    t = get(get(tasks, "triage-ticket"), "limits");
    ck_assert(get(t, "calls")->kind == AZ_SCALAR_INT && get(t, "calls")->num == 100.0);
    ck_assert_uint_eq(get(t, "calls")->mark.line, 37);
    ck_assert(get(get(t, "per_tool"), "send_email")->num == 3.0);
    assert_scalar(get(get(root, "defaults"), "session_ttl"), AZ_SCALAR_STRING, "15m");
    ck_assert(get(get(get(root, "secrets"), "scratch_db"), "bytes")->num == 32.0);
    assert_scalar(get(get(root, "lists"), "payees")->items[0], AZ_SCALAR_STRING,
                  "GB29NWBK60161331926819");
    az_node_free(root);
}
END_TEST

START_TEST(t_marks)
{
    const char *text = "a: 1\nb:\n  - x\n  - {c: d}\n";
    az_node *root = parse_ok(text);
    const az_node *seq, *m;
    assert_mark(&root->mark, 1, 1, 0);
    assert_mark(&root->items[0]->mark, 1, 1, 0);
    assert_mark(&root->items[1]->mark, 1, 4, 3);
    assert_mark(&root->items[2]->mark, 2, 1, 5);
    seq = root->items[3];
    ck_assert_int_eq(seq->type, AZ_NODE_SEQ);
    assert_mark(&seq->mark, 3, 3, 10);
    assert_mark(&seq->items[0]->mark, 3, 5, 12);
    m = seq->items[1];
    ck_assert_int_eq(m->type, AZ_NODE_MAP);
    assert_mark(&m->mark, 4, 5, 18);
    assert_mark(&m->items[0]->mark, 4, 6, 19);
    assert_mark(&m->items[1]->mark, 4, 9, 22);
    ck_assert_ptr_null(root->str);
    az_node_free(root);
}
END_TEST

/* Columns count characters, offsets count bytes; a BOM and \r\n are handled. */
START_TEST(t_marks_encoding)
{
    az_node *root = parse_ok("\xC3\xA9: \xC3\xBC\nk: v");
    assert_scalar(root->items[1], AZ_SCALAR_STRING, "\xC3\xBC");
    assert_mark(&root->items[1]->mark, 1, 4, 4);
    assert_mark(&root->items[2]->mark, 2, 1, 7);
    assert_mark(&root->items[3]->mark, 2, 4, 10);
    az_node_free(root);

    root = parse_ok("\xEF\xBB\xBF"
                    "a: 1\r\nb: \xE2\x82\xAC x\r\nc: 2");
    assert_mark(&root->items[0]->mark, 1, 1, 3);
    assert_mark(&root->items[2]->mark, 2, 1, 9);
    assert_scalar(root->items[3], AZ_SCALAR_STRING, "\xE2\x82\xAC x");
    assert_mark(&root->items[3]->mark, 2, 4, 12);
    assert_mark(&root->items[4]->mark, 3, 1, 19);
    az_node_free(root);

    /* A 4-byte character, then a mark far past it. */
    root = parse_ok("- \xF0\x9F\x98\x80\xF0\x9F\x98\x80\n- z");
    assert_mark(&root->items[1]->mark, 2, 3, 13);
    az_node_free(root);
}
END_TEST

/* ---- typing ---- */

typedef struct typing_case {
    const char *text;
    az_scalar_kind kind;
    double num;
    bool b;
} typing_case;

static const typing_case typing[] = {
    {"~", AZ_SCALAR_NULL, 0, false},
    {"null", AZ_SCALAR_NULL, 0, false},
    {"Null", AZ_SCALAR_NULL, 0, false},
    {"NULL", AZ_SCALAR_NULL, 0, false},
    {"", AZ_SCALAR_NULL, 0, false},
    {"nULL", AZ_SCALAR_STRING, 0, false},
    {"true", AZ_SCALAR_BOOL, 0, true},
    {"false", AZ_SCALAR_BOOL, 0, false},
    {"True", AZ_SCALAR_STRING, 0, false},
    {"FALSE", AZ_SCALAR_STRING, 0, false},
    {"yes", AZ_SCALAR_STRING, 0, false},
    {"no", AZ_SCALAR_STRING, 0, false},
    {"on", AZ_SCALAR_STRING, 0, false},
    {"off", AZ_SCALAR_STRING, 0, false},
    {"y", AZ_SCALAR_STRING, 0, false},
    {"0", AZ_SCALAR_INT, 0, false},
    {"-0", AZ_SCALAR_INT, 0, false},
    {"42", AZ_SCALAR_INT, 42, false},
    {"+42", AZ_SCALAR_INT, 42, false},
    {"-17", AZ_SCALAR_INT, -17, false},
    {"007", AZ_SCALAR_INT, 7, false},
    {"0o17", AZ_SCALAR_INT, 15, false},
    {"0o8", AZ_SCALAR_STRING, 0, false},
    {"0x1F", AZ_SCALAR_INT, 31, false},
    {"0xff", AZ_SCALAR_INT, 255, false},
    {"0xg", AZ_SCALAR_STRING, 0, false},
    {"0x", AZ_SCALAR_STRING, 0, false},
    {"0o", AZ_SCALAR_STRING, 0, false},
    {"-0x1", AZ_SCALAR_STRING, 0, false},
    {"9007199254740992", AZ_SCALAR_INT, 9007199254740992.0, false},
    {"-9007199254740992", AZ_SCALAR_INT, -9007199254740992.0, false},
    {"0x20000000000000", AZ_SCALAR_INT, 9007199254740992.0, false},
    {"1_000", AZ_SCALAR_STRING, 0, false},
    {"1,000", AZ_SCALAR_STRING, 0, false},
    {"1.5", AZ_SCALAR_FLOAT, 1.5, false},
    {"-1.5", AZ_SCALAR_FLOAT, -1.5, false},
    {"+.5", AZ_SCALAR_FLOAT, 0.5, false},
    {".5", AZ_SCALAR_FLOAT, 0.5, false},
    {"1.", AZ_SCALAR_FLOAT, 1, false},
    {"1e3", AZ_SCALAR_FLOAT, 1000, false},
    {"1E-2", AZ_SCALAR_FLOAT, 0.01, false},
    {"2.5e+2", AZ_SCALAR_FLOAT, 250, false},
    {"1e-400", AZ_SCALAR_FLOAT, 0, false},
    {".", AZ_SCALAR_STRING, 0, false},
    {"+", AZ_SCALAR_STRING, 0, false},
    {"1e", AZ_SCALAR_STRING, 0, false},
    {"e3", AZ_SCALAR_STRING, 0, false},
    {".e3", AZ_SCALAR_STRING, 0, false},
    {"1.2.3", AZ_SCALAR_STRING, 0, false},
    {"10.0.0.0/8", AZ_SCALAR_STRING, 0, false},
    {"15m", AZ_SCALAR_STRING, 0, false},
    {"+.nan", AZ_SCALAR_STRING, 0, false},
    {".infinity", AZ_SCALAR_STRING, 0, false},
    {"2001-12-14", AZ_SCALAR_STRING, 0, false},
    {"hello world", AZ_SCALAR_STRING, 0, false},
};

START_TEST(t_typing)
{
    const typing_case *c = &typing[_i];
    char text[64];
    az_node *root;
    const az_node *v;
    snprintf(text, sizeof text, "v: %s\n", c->text);
    root = parse_ok(text);
    v = root->items[1];
    ck_assert_msg(v->kind == c->kind, "%s: kind %d, expected %d", c->text, v->kind, c->kind);
    ck_assert_str_eq(v->str, c->text);
    ck_assert_uint_eq(v->len, strlen(c->text));
    if (c->kind == AZ_SCALAR_INT || c->kind == AZ_SCALAR_FLOAT)
        ck_assert_msg(v->num == c->num, "%s: %g", c->text, v->num);
    if (c->kind == AZ_SCALAR_BOOL)
        ck_assert_int_eq(v->b, c->b);
    az_node_free(root);
}
END_TEST

/* Quoted and block scalars are strings, whatever they spell. */
START_TEST(t_typing_quoted)
{
    az_node *root = parse_ok("a: \"1\"\nb: 'true'\nc: \"\"\nd: |\n  null\ne: >-\n  42\n"
                             "f: \"a\\tb\"\ng: ''\n");
    assert_scalar(get(root, "a"), AZ_SCALAR_STRING, "1");
    assert_scalar(get(root, "b"), AZ_SCALAR_STRING, "true");
    assert_scalar(get(root, "c"), AZ_SCALAR_STRING, "");
    assert_scalar(get(root, "d"), AZ_SCALAR_STRING, "null\n");
    assert_scalar(get(root, "e"), AZ_SCALAR_STRING, "42");
    assert_scalar(get(root, "f"), AZ_SCALAR_STRING, "a\tb");
    assert_scalar(get(root, "g"), AZ_SCALAR_STRING, "");
    /* A key with no value is an empty plain scalar: null. */
    az_node_free(root);
    root = parse_ok("a:\nb: 1\n");
    ck_assert_int_eq(get(root, "a")->kind, AZ_SCALAR_NULL);
    ck_assert_uint_eq(get(root, "a")->len, 0);
    az_node_free(root);
}
END_TEST

/* ---- refusals: one error each, at an exact place ---- */

typedef struct error_case {
    const char *text;
    size_t len; /* 0: strlen(text) */
    int code;
    unsigned long line, column;
    size_t offset;
    const char *message; /* exact */
} error_case;

#define EP AGENTAUTHZ_EPOLICY
#define EL AGENTAUTHZ_ELIMIT

static const error_case error_cases[] = {
    /* libyaml syntax errors: its problem and context, at the problem mark. */
    {"a: 1\n b: 2\n", 0, EP, 2, 3, 7, "mapping values are not allowed in this context"},
    {"key: [1, 2", 0, EP, 2, 1, 10,
     "did not find expected ',' or ']' while parsing a flow sequence"},
    {"a:\n  b: 1\n c: 2\n", 0, EP, 3, 2, 11,
     "did not find expected key while parsing a block mapping"},
    {"a: \"unterminated\n", 0, EP, 2, 1, 17,
     "found unexpected end of stream while scanning a quoted scalar"},
    {"a: @x\n", 0, EP, 1, 4, 3,
     "found character that cannot start any token while scanning for the next token"},
    {"a: \"\\q\"\n", 0, EP, 1, 5, 4,
     "found unknown escape character while parsing a quoted scalar"},
    {"\t- a\n", 0, EP, 1, 1, 0,
     "found character that cannot start any token while scanning for the next token"},
    /* Bytes refused before parsing. */
    {"a: 1\nb: x\0y\n", 12, EP, 2, 5, 9, "NUL byte is not allowed"},
    {"\0", 1, EP, 1, 1, 0, "NUL byte is not allowed"},
    {"a: \xFF\n", 0, EP, 1, 4, 3, "invalid UTF-8 (byte 0xFF)"},
    {"\xC3\xA9: \xC3\n", 0, EP, 1, 4, 4, "invalid UTF-8 (byte 0xC3)"},
    {"a: \xC0\xAF\n", 0, EP, 1, 4, 3, "invalid UTF-8 (byte 0xC0)"},
    {"a: \xE0\x80\xAF\n", 0, EP, 1, 4, 3, "invalid UTF-8 (byte 0xE0)"},
    {"a: \xED\xA0\x80\n", 0, EP, 1, 4, 3, "invalid UTF-8 (byte 0xED)"},
    {"a: \xF4\x90\x80\x80\n", 0, EP, 1, 4, 3, "invalid UTF-8 (byte 0xF4)"},
    {"a: \x80\n", 0, EP, 1, 4, 3, "invalid UTF-8 (byte 0x80)"},
    {"a: x\xE2\x82", 0, EP, 1, 5, 4, "invalid UTF-8 (byte 0xE2)"},
    {"\xFF\xFE"
     "a\0:\0",
     6, EP, 1, 1, 0, "invalid UTF-8 (byte 0xFF)"},
    {"a: 1\r\nb: \xFF", 0, EP, 2, 4, 9, "invalid UTF-8 (byte 0xFF)"},
    {"a: 1\rb: \xFF", 0, EP, 2, 4, 8, "invalid UTF-8 (byte 0xFF)"},
    {"a: \x01\n", 0, EP, 1, 4, 3, "control character U+0001 is not allowed"},
    {"a: \x7F\n", 0, EP, 1, 4, 3, "control character U+007F is not allowed"},
    {"a: \xC2\x80\n", 0, EP, 1, 4, 3, "control character U+0080 is not allowed"},
    {"a: \xEF\xBF\xBE\n", 0, EP, 1, 4, 3, "control character U+FFFE is not allowed"},
    /* Tags, directives, anchors, aliases, documents. */
    {"a: !!str 1\n", 0, EP, 1, 4, 3, "tags are not allowed"},
    {"a: !foo x\n", 0, EP, 1, 4, 3, "tags are not allowed"},
    {"!!map {a: 1}\n", 0, EP, 1, 1, 0, "tags are not allowed"},
    {"a: ! x\n", 0, EP, 1, 4, 3, "tags are not allowed"},
    {"- !!seq [1]\n", 0, EP, 1, 3, 2, "tags are not allowed"},
    {"%YAML 1.1\n---\na: 1\n", 0, EP, 1, 1, 0, "directives (%YAML, %TAG) are not allowed"},
    {"%TAG !e! tag:example.com,2000:\n---\na: 1\n", 0, EP, 1, 1, 0,
     "directives (%YAML, %TAG) are not allowed"},
    {"a: &x 1\nb: *x\n", 0, EP, 1, 4, 3, "anchors and aliases are not allowed"},
    {"a: *x\n", 0, EP, 1, 4, 3, "anchors and aliases are not allowed"},
    {"x: 1\ny: &a [1]\n", 0, EP, 2, 4, 8, "anchors and aliases are not allowed"},
    {"&a {a: 1}\n", 0, EP, 1, 1, 0, "anchors and aliases are not allowed"},
    {"? &k a\n: 1\n", 0, EP, 1, 3, 2, "anchors and aliases are not allowed"},
    {"a: 1\n---\nb: 2\n", 0, EP, 2, 1, 5, "several documents in one file are not allowed"},
    {"a: 1\n...\n---\nb: 2\n", 0, EP, 3, 1, 9, "several documents in one file are not allowed"},
    {"--- a\n--- b\n", 0, EP, 2, 1, 6, "several documents in one file are not allowed"},
    /* Keys. */
    {"? [a]\n: 1\n", 0, EP, 1, 3, 2, "map keys must be scalars"},
    {"{[a]: 1}\n", 0, EP, 1, 2, 1, "map keys must be scalars"},
    {"? {a: 1}\n: 1\n", 0, EP, 1, 3, 2, "map keys must be scalars"},
    {"rules: 1\nname: x\nrules: 2\n", 0, EP, 3, 1, 17, "duplicate key \"rules\" (first at line 1)"},
    {"a: 1\n\"a\": 2\n", 0, EP, 2, 1, 5, "duplicate key \"a\" (first at line 1)"},
    {"x:\n  a: 1\n  b: 2\n  'a': 3\n", 0, EP, 4, 3, 19, "duplicate key \"a\" (first at line 2)"},
    {"{a: 1, b: 2, a: 3}\n", 0, EP, 1, 14, 13, "duplicate key \"a\" (first at line 1)"},
    {"\"q\\\"\\n\\u0001\": 1\n\"q\\\"\\n\\u0001\": 2\n", 0, EP, 2, 1, 17,
     "duplicate key \"q\\\"\\n\\u0001\" (first at line 1)"},
    {"? \n: 1\n? \n: 2\n", 0, EP, 3, 2, 8, "duplicate key \"\" (first at line 1)"},
    /* Numbers the schema refuses. */
    {"a: 9007199254740993\n", 0, EP, 1, 4, 3, "integer out of range"},
    {"a: -9007199254740993\n", 0, EP, 1, 4, 3, "integer out of range"},
    {"a: 0x20000000000001\n", 0, EP, 1, 4, 3, "integer out of range"},
    {"a: 99999999999999999999999999999\n", 0, EP, 1, 4, 3, "integer out of range"},
    {"a: .inf\n", 0, EP, 1, 4, 3, "infinite or NaN numbers are not allowed"},
    {"a: -.Inf\n", 0, EP, 1, 4, 3, "infinite or NaN numbers are not allowed"},
    {"a: +.INF\n", 0, EP, 1, 4, 3, "infinite or NaN numbers are not allowed"},
    {"a: .nan\n", 0, EP, 1, 4, 3, "infinite or NaN numbers are not allowed"},
    {"a: .NaN\n", 0, EP, 1, 4, 3, "infinite or NaN numbers are not allowed"},
    {"a: 1e999\n", 0, EP, 1, 4, 3, "number out of range"},
    {"a: \"x\\0y\"\n", 0, EP, 1, 4, 3, "NUL characters are not allowed in scalars"},
    /* Empty documents. */
    {"", 0, EP, 1, 1, 0, "empty policy document"},
    {"# only a comment\n\n", 0, EP, 1, 1, 0, "empty policy document"},
    {"---\n", 0, EP, 1, 1, 0, "empty policy document"},
    {"--- \n...\n", 0, EP, 1, 1, 0, "empty policy document"},
    {"\xEF\xBB\xBF", 0, EP, 1, 1, 0, "empty policy document"},
    {"   \n  \n", 0, EP, 1, 1, 0, "empty policy document"},
};

START_TEST(t_errors)
{
    const error_case *c = &error_cases[_i];
    size_t len = c->len ? c->len : strlen(c->text);
    errs er;
    az_node *n;
    int rc = parse_n(c->text, len, &er, &n);
    ck_assert_msg(rc == c->code, "case %d: rc %d, expected %d", _i, rc, c->code);
    ck_assert_msg(er.n == 1, "case %d: %zu errors (first: %s)", _i, er.n, er.e[0].message);
    ck_assert_str_eq(er.first.message, c->message);
    ck_assert_msg(er.first.line == c->line && er.first.column == c->column,
                  "case %d: at %lu:%lu, expected %lu:%lu", _i, er.first.line, er.first.column,
                  c->line, c->column);
    ck_assert_uint_eq(er.first.offset, c->offset);
    ck_assert_str_eq(er.first.path, "test.yaml");
}
END_TEST

/* Semantic errors do not stop the parse: every one is reported, in order. */
START_TEST(t_multiple_errors)
{
    errs er;
    az_node *n;
    int rc = parse("a: 1\na: 2\nb: !!str x\nb: 3\nc: {d: 1, d: 2}\ne: .nan\n"
                   "f: 99999999999999999999\ng: &x 1\nh: 1\nh: 2\n",
                   &er, &n);
    ck_assert_int_eq(rc, AGENTAUTHZ_EPOLICY);
    ck_assert_uint_eq(er.n, 7);
    ck_assert_str_eq(er.e[0].message, "duplicate key \"a\" (first at line 1)");
    ck_assert_uint_eq(er.e[0].line, 2);
    ck_assert_str_eq(er.e[1].message, "tags are not allowed");
    ck_assert_uint_eq(er.e[1].line, 3);
    ck_assert_str_eq(er.e[2].message, "duplicate key \"b\" (first at line 3)");
    ck_assert_uint_eq(er.e[2].line, 4);
    ck_assert_str_eq(er.e[3].message, "duplicate key \"d\" (first at line 5)");
    ck_assert_uint_eq(er.e[3].column, 11);
    ck_assert_str_eq(er.e[4].message, "infinite or NaN numbers are not allowed");
    ck_assert_str_eq(er.e[5].message, "integer out of range");
    /* The anchor ends the parse: the duplicate "h" after it is not reached. */
    ck_assert_str_eq(er.e[6].message, "anchors and aliases are not allowed");
    ck_assert_uint_eq(er.e[6].line, 8);
    ck_assert_str_eq(er.first.message, er.e[0].message);

    /* Two duplicate keys, two errors; a syntax error after them ends it. */
    rc = parse("rules: 1\nrules: 2\nname: a\nname: b\nx: [\n", &er, &n);
    ck_assert_int_eq(rc, AGENTAUTHZ_EPOLICY);
    ck_assert_uint_eq(er.n, 3);
    ck_assert_uint_eq(er.e[0].line, 2);
    ck_assert_uint_eq(er.e[1].line, 4);
    ck_assert_uint_eq(er.e[2].line, 6);

    /* A limit error after a semantic one: the first error's code is returned. */
    {
        size_t len;
        char *s = repeat("a: 1\na: 2\nb: ", "[", 70, "", &len);
        rc = parse_n(s, len, &er, &n);
        ck_assert_int_eq(rc, AGENTAUTHZ_EPOLICY);
        ck_assert_uint_eq(er.n, 2);
        ck_assert_int_eq(er.e[1].code, AGENTAUTHZ_ELIMIT);
        free(s);
    }
}
END_TEST

/* Diagnostics already counted (an earlier file of the same load) do not confuse us. */
START_TEST(t_shared_diag)
{
    agentauthz_error first;
    az_diag d = {NULL, NULL, &first, "two.yaml", 3, 1};
    az_node *n = NULL;
    ck_assert_int_eq(az_yaml_parse("a: 1\n", 5, &d, &n), 0);
    ck_assert_ptr_nonnull(n);
    ck_assert_uint_eq(d.errors, 3);
    az_node_free(n);
    ck_assert_int_eq(az_yaml_parse("a: 1\na: 1\n", 10, &d, &n), AGENTAUTHZ_EPOLICY);
    ck_assert_ptr_null(n);
    ck_assert_uint_eq(d.errors, 4);
}
END_TEST

START_TEST(t_bad_args)
{
    az_diag d;
    az_node *n = NULL;
    memset(&d, 0, sizeof d);
    ck_assert_int_eq(az_yaml_parse("a: 1", 4, &d, NULL), AGENTAUTHZ_EINVAL);
    n = (az_node *)(uintptr_t)1;
    ck_assert_int_eq(az_yaml_parse("a: 1", 4, NULL, &n), AGENTAUTHZ_EINVAL);
    ck_assert_ptr_null(n);
    ck_assert_int_eq(az_yaml_parse(NULL, 4, &d, &n), AGENTAUTHZ_EINVAL);
    ck_assert_ptr_null(n);
    /* NULL with length 0 is an empty text, not misuse; and no callback is fine. */
    ck_assert_int_eq(az_yaml_parse(NULL, 0, &d, &n), AGENTAUTHZ_EPOLICY);
    ck_assert_uint_eq(d.errors, 1);
    az_node_free(NULL);
}
END_TEST

/* ---- bounds ---- */

START_TEST(t_depth)
{
    errs er;
    az_node *n;
    size_t len;
    char *s;
    const az_node *p;
    int depth = 0;
    /* 64 levels are fine; the 65th is refused at its own '['. */
    s = malloc(129);
    memset(s, '[', 64);
    memset(s + 64, ']', 64);
    len = 128;
    ck_assert_int_eq(parse_n(s, len, &er, &n), 0);
    for (p = n; p->type == AZ_NODE_SEQ && p->n; p = p->items[0])
        depth++;
    ck_assert_int_eq(depth, 63);
    az_node_free(n);
    free(s);
    s = repeat("x: ", "[", 65, "", &len);
    ck_assert_int_eq(parse_n(s, len, &er, &n), AGENTAUTHZ_ELIMIT);
    ck_assert_uint_eq(er.n, 1);
    ck_assert_str_eq(er.first.message, "nesting deeper than 64 levels");
    ck_assert_uint_eq(er.first.line, 1);
    ck_assert_uint_eq(er.first.column, 3 + 64);
    ck_assert_uint_eq(er.first.offset, 3 + 63);
    free(s);

    /* Block nesting: 64 maps are fine, 65 are not (line 65, where it starts). */
    {
        char *b = malloc(65 * 70 + 16);
        size_t o = 0;
        for (int i = 0; i < 65; i++) {
            o += (size_t)sprintf(b + o, "%*sk%d:\n", i, "", i);
        }
        o += (size_t)sprintf(b + o, "%*sv\n", 65, "");
        ck_assert_int_eq(parse_n(b, o, &er, &n), AGENTAUTHZ_ELIMIT);
        ck_assert_uint_eq(er.first.line, 65);
        ck_assert_uint_eq(er.first.column, 65);
        /* Cut off the last level: 64 maps with a scalar inside. */
        o = 0;
        for (int i = 0; i < 64; i++)
            o += (size_t)sprintf(b + o, "%*sk%d:\n", i, "", i);
        o += (size_t)sprintf(b + o, "%*sv\n", 64, "");
        ck_assert_int_eq(parse_n(b, o, &er, &n), 0);
        az_node_free(n);
        free(b);
    }
}
END_TEST

START_TEST(t_scalar_limit)
{
    errs er;
    az_node *n;
    size_t len;
    char *s = repeat("a: ", "x", AZ_MAX_SCALAR, "\n", &len);
    ck_assert_int_eq(parse_n(s, len, &er, &n), 0);
    ck_assert_uint_eq(n->items[1]->len, AZ_MAX_SCALAR);
    az_node_free(n);
    free(s);
    s = repeat("a: 1\nb: \"", "x", AZ_MAX_SCALAR + 1, "\"\n", &len);
    ck_assert_int_eq(parse_n(s, len, &er, &n), AGENTAUTHZ_ELIMIT);
    ck_assert_str_eq(er.first.message, "scalar longer than 65536 bytes");
    ck_assert_uint_eq(er.first.line, 2);
    ck_assert_uint_eq(er.first.column, 4);
    free(s);
}
END_TEST

START_TEST(t_items_limit)
{
    errs er;
    az_node *n;
    size_t len;
    char *s = repeat("[", "0,", AZ_MAX_ITEMS, "]", &len);
    ck_assert_int_eq(parse_n(s, len, &er, &n), 0);
    ck_assert_uint_eq(n->n, AZ_MAX_ITEMS);
    az_node_free(n);
    free(s);
    s = repeat("[", "0,", AZ_MAX_ITEMS + 1, "]", &len);
    ck_assert_int_eq(parse_n(s, len, &er, &n), AGENTAUTHZ_ELIMIT);
    ck_assert_str_eq(er.first.message, "more than 65536 items in one sequence");
    ck_assert_uint_eq(er.first.column, 2 + 2 * AZ_MAX_ITEMS);
    ck_assert_uint_eq(er.first.offset, 1 + 2 * AZ_MAX_ITEMS);
    free(s);

    /* A map: 65536 distinct keys pass, the 65537th is refused. */
    s = malloc((AZ_MAX_ITEMS + 1) * 16);
    len = 0;
    for (unsigned i = 0; i < AZ_MAX_ITEMS; i++)
        len += (size_t)sprintf(s + len, "k%u: %u\n", i, i);
    ck_assert_int_eq(parse_n(s, len, &er, &n), 0);
    ck_assert_uint_eq(n->n, 2 * (size_t)AZ_MAX_ITEMS);
    az_node_free(n);
    len += (size_t)sprintf(s + len, "k%u: 0\n", (unsigned)AZ_MAX_ITEMS);
    ck_assert_int_eq(parse_n(s, len, &er, &n), AGENTAUTHZ_ELIMIT);
    ck_assert_str_eq(er.first.message, "more than 65536 entries in one map");
    ck_assert_uint_eq(er.first.line, AZ_MAX_ITEMS + 1);
    ck_assert_uint_eq(er.first.column, 1);
    free(s);
}
END_TEST

/* Duplicate detection stays exact over many keys in any order. */
START_TEST(t_many_keys)
{
    errs er;
    az_node *n;
    size_t len = 0;
    char *s = malloc(AZ_MAX_ITEMS * 24);
    /* Keys in a scrambled order, then three repeats of earlier ones. */
    for (unsigned i = 0; i < AZ_MAX_ITEMS - 3; i++)
        len += (size_t)sprintf(s + len, "%u: 1\n", (i * 40503u) % 65537u);
    len += (size_t)sprintf(s + len, "%u: 1\n", (0 * 40503u) % 65537u);
    len += (size_t)sprintf(s + len, "%u: 1\n", (77 * 40503u) % 65537u);
    len += (size_t)sprintf(s + len, "%u: 1\n", (65000 * 40503u) % 65537u);
    ck_assert_int_eq(parse_n(s, len, &er, &n), AGENTAUTHZ_EPOLICY);
    ck_assert_uint_eq(er.n, 3);
    ck_assert_uint_eq(er.e[0].line, AZ_MAX_ITEMS - 2);
    ck_assert_str_eq(er.e[0].message, "duplicate key \"0\" (first at line 1)");
    ck_assert_uint_eq(er.e[1].line, AZ_MAX_ITEMS - 1);
    ck_assert_str_eq(er.e[2].message, "duplicate key \"8173\" (first at line 65001)");
    /* Same-length keys that share long prefixes. */
    len = 0;
    for (unsigned i = 0; i < 5000; i++)
        len += (size_t)sprintf(s + len, "kkkkkkkkkkkkkkkk%05u: 1\n", 4999 - i);
    ck_assert_int_eq(parse_n(s, len, &er, &n), 0);
    az_node_free(n);
    free(s);
}
END_TEST

START_TEST(t_input_limit)
{
    errs er;
    az_node *n;
    char *s = malloc((size_t)AZ_MAX_INPUT + 1);
    memset(s, ' ', (size_t)AZ_MAX_INPUT + 1);
    s[0] = 'a', s[1] = ':';
    ck_assert_int_eq(parse_n(s, (size_t)AZ_MAX_INPUT + 1, &er, &n), AGENTAUTHZ_ELIMIT);
    ck_assert_uint_eq(er.first.line, 1);
    ck_assert_uint_eq(er.first.column, 1);
    ck_assert_uint_eq(er.n, 1);
    /* Exactly the limit is accepted (a key and a lot of trailing blanks). */
    ck_assert_int_eq(parse_n(s, AZ_MAX_INPUT, &er, &n), 0);
    ck_assert_int_eq(n->items[1]->kind, AZ_SCALAR_NULL);
    az_node_free(n);
    free(s);
}
END_TEST

START_TEST(t_node_limit)
{
    errs er;
    az_node *n;
    /* 17 sequences of 65000 items: 1105018 nodes, past the 1048576 bound. */
    size_t len, one;
    char *row = repeat("[", "0,", 65000, "],", &one);
    char *s = malloc(one * 17 + 4);
    len = 0;
    s[len++] = '[';
    for (int i = 0; i < 17; i++, len += one)
        memcpy(s + len, row, one);
    s[len++] = ']';
    ck_assert_int_eq(parse_n(s, len, &er, &n), AGENTAUTHZ_ELIMIT);
    ck_assert_str_eq(er.first.message, "more than 1048576 nodes in one document");
    ck_assert_uint_eq(er.n, 1);
    free(row);
    free(s);
}
END_TEST

/*
 * ---- hostile inputs: each must end with an error and free everything ----
 * (and end fast: the test case's timeout fails one that runs away; how fast
 * is the benchmark's business, not a timed assertion's)
 */

static void assert_refused_fast(const char *s, size_t len, int code, const char *msg)
{
    errs er;
    az_node *n;
    int rc = parse_n(s, len, &er, &n);
    ck_assert_msg(rc == code, "%.20s: rc %d (%s), expected %d", s, rc, er.first.message, code);
    if (msg)
        ck_assert_str_eq(er.first.message, msg);
    az_node_free(n);
}

START_TEST(t_hostile_deep)
{
    size_t len;
    char *s = repeat("", "[", 100000, "", &len);
    assert_refused_fast(s, len, AGENTAUTHZ_ELIMIT, "nesting deeper than 64 levels");
    free(s);
    s = repeat("", "{a: ", 100000, "", &len);
    assert_refused_fast(s, len, AGENTAUTHZ_ELIMIT, "nesting deeper than 64 levels");
    free(s);
    s = repeat("", "- ", 100000, "x", &len);
    assert_refused_fast(s, len, AGENTAUTHZ_ELIMIT, "nesting deeper than 64 levels");
    free(s);
    s = repeat("", "[\n", 100000, "", &len);
    assert_refused_fast(s, len, AGENTAUTHZ_ELIMIT, "nesting deeper than 64 levels");
    free(s);
    /* The largest text of '[': still refused at depth 65, without reading it all. */
    s = malloc(AZ_MAX_INPUT);
    memset(s, '[', AZ_MAX_INPUT);
    assert_refused_fast(s, AZ_MAX_INPUT, AGENTAUTHZ_ELIMIT, "nesting deeper than 64 levels");
    free(s);
}
END_TEST

START_TEST(t_hostile_aliases)
{
    /* "Billion laughs": refused at the first anchor, nothing is expanded. */
    char text[4096];
    size_t o = (size_t)sprintf(text, "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for (int i = 1; i < 10; i++)
        o += (size_t)sprintf(text + o, "a%d: &a%d [*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d]\n",
                             i, i, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
    assert_refused_fast(text, o, AGENTAUTHZ_EPOLICY, "anchors and aliases are not allowed");
    /* Aliases of an anchor that does not exist are refused too. */
    assert_refused_fast("[*a, *a, *a]", 12, AGENTAUTHZ_EPOLICY,
                        "anchors and aliases are not allowed");
}
END_TEST

START_TEST(t_hostile_big)
{
    /* 64 MiB of scalar: refused by size before libyaml sees a byte. */
    size_t big = 64u * 1024u * 1024u;
    char *s = malloc(big);
    memset(s, 'x', big);
    assert_refused_fast(s, big, AGENTAUTHZ_ELIMIT, "the text is larger than 16777216 bytes");
    /* A scalar of almost 16 MiB: inside the text bound, refused as a scalar. */
    memcpy(s, "k: \"", 4);
    s[AZ_MAX_INPUT - 1] = '"';
    assert_refused_fast(s, AZ_MAX_INPUT, AGENTAUTHZ_ELIMIT, "scalar longer than 65536 bytes");
    /* A plain multi-line scalar and a long number. */
    memcpy(s, "k:  ", 4);
    for (size_t i = 100; i < AZ_MAX_INPUT; i += 100)
        s[i] = '\n', s[i + 1] = ' ';
    assert_refused_fast(s, AZ_MAX_INPUT, AGENTAUTHZ_ELIMIT, "scalar longer than 65536 bytes");
    memset(s, '7', AZ_MAX_SCALAR);
    memcpy(s, "k: 0.", 5);
    assert_refused_fast(s, AZ_MAX_SCALAR, 0, NULL);
    memcpy(s, "k: 17", 5);
    assert_refused_fast(s, AZ_MAX_SCALAR, AGENTAUTHZ_EPOLICY, "integer out of range");
    s[AZ_MAX_SCALAR - 2] = 'e';
    assert_refused_fast(s, AZ_MAX_SCALAR, AGENTAUTHZ_EPOLICY, "number out of range");
    free(s);
}
END_TEST

/* Random bytes and mutated policies: no crash, no leak, consistent results. */
START_TEST(t_hostile_garbage)
{
    uint64_t x = 0x9E3779B97F4A7C15u;
    char buf[512];
    errs er;
    az_node *n;
    size_t exlen = strlen(example);
    char *m = malloc(exlen);
    for (int round = 0; round < 3000; round++) {
        size_t len = (size_t)(round % 512);
        for (size_t i = 0; i < len; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            /* Mostly YAML punctuation, sometimes any byte. */
            buf[i] = (x >> 8) % 4 ? "[]{}:,-?&*!|>'\"#%@ \n\tab1.~"[(x >> 16) % 27] : (char)x;
        }
        (void)parse_n(buf, len, &er, &n);
        az_node_free(n);
    }
    for (int round = 0; round < 300; round++) {
        memcpy(m, example, exlen);
        for (int k = 0; k < 4; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            m[(x >> 20) % exlen] = "[]{}:,-?&*! \n'\"#x"[(x >> 8) % 17];
        }
        (void)parse_n(m, exlen, &er, &n);
        az_node_free(n);
    }
    free(m);
}
END_TEST

static Suite *load_suite(void)
{
    Suite *s = suite_create("load");
    TCase *tc = tcase_create("parse");
    TCase *big = tcase_create("bounds");
    tcase_add_test(tc, t_policy_example);
    tcase_add_test(tc, t_marks);
    tcase_add_test(tc, t_marks_encoding);
    tcase_add_loop_test(tc, t_typing, 0, (int)(sizeof typing / sizeof typing[0]));
    tcase_add_test(tc, t_typing_quoted);
    tcase_add_loop_test(tc, t_errors, 0, (int)(sizeof error_cases / sizeof error_cases[0]));
    tcase_add_test(tc, t_multiple_errors);
    tcase_add_test(tc, t_shared_diag);
    tcase_add_test(tc, t_bad_args);
    suite_add_tcase(s, tc);
    /* The bound tests build large inputs; sanitizer builds need time. */
    tcase_set_timeout(big, 120);
    tcase_add_test(big, t_depth);
    tcase_add_test(big, t_scalar_limit);
    tcase_add_test(big, t_items_limit);
    tcase_add_test(big, t_many_keys);
    tcase_add_test(big, t_input_limit);
    tcase_add_test(big, t_node_limit);
    tcase_add_test(big, t_hostile_deep);
    tcase_add_test(big, t_hostile_aliases);
    tcase_add_test(big, t_hostile_big);
    tcase_add_test(big, t_hostile_garbage);
    suite_add_tcase(s, big);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(load_suite());
    int failed;
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/*
 * YAML trees to a compiled policy: strict validation of every key, type and
 * reference (policy.md, "Errors"), then the tool index that lets a check
 * look only at the rules that can apply to its tool.
 *
 * Validation never stops at the first error: every finding goes to the
 * diagnostics, so that `agentauthz lint` can show all of them at once.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "extract.h"
#include "internal.h"

/* The state of one compilation. */
typedef struct cc {
    az_diag *d;
    az_policy *p;
    const az_source *src;
    az_node **roots;
    size_t nfiles;
    /* named lists: the YAML nodes, expanded where referenced */
    const az_node **list_keys;
    const az_node **list_vals;
    size_t nlists;
    bool defaults_seen[5]; /* session_ttl, max_session_ttl, on_deny, limits, uncatalogued_tools */
    /*
     * The rule ids seen so far, for the duplicate check: open addressing over
     * az_hash_bytes, each slot a rule index + 1 (0: empty). NULL if it could
     * not be allocated, and then the check scans the rules instead.
     */
    uint32_t *ids;
    size_t ids_cap; /* a power of two, at least twice the rules */
    bool resource_field; /* the predicate being compiled is on resource */
    /* The separator of the globs of the condition being compiled: '.' on tool. */
    az_glob_mode glob_mode;
} cc;

/* The rule being compiled, for parameter checks: its task scope and where it is. */
typedef struct rule_scope {
    const uint32_t *tasks;
    size_t ntasks;
    size_t rule;    /* its index in the policy's rules */
    az_field field; /* the field of the condition being compiled */
    const char *derived; /* "links", "hosts" or "emails" when it is a derived field, else NULL */
} rule_scope;

static void fail(cc *c, const az_node *n, const char *fmt, ...) AZ_PRINTF(3, 4);

static void fail(cc *c, const az_node *n, const char *fmt, ...)
{
    char msg[AGENTAUTHZ_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    az_diag_error(c->d, n ? &n->mark : NULL, AGENTAUTHZ_EPOLICY, "%s", msg);
}

static void *xcalloc(size_t n, size_t size)
{
    return calloc(n ? n : 1, size);
}

static char *xstrndup(const char *s, size_t len)
{
    char *r = malloc(len + 1);
    if (r) {
        memcpy(r, s, len);
        r[len] = '\0';
    }
    return r;
}

static void oom(cc *c, const az_node *n)
{
    az_diag_error(c->d, n ? &n->mark : NULL, AGENTAUTHZ_ENOMEM, "out of memory");
}

/*
 * The matchers return -1 for a bad pattern and ENOMEM when memory runs
 * out; the latter must not be reported as the user's mistake.
 */
static int pattern_rc(int rc, char *msg, size_t cap)
{
    if (rc == AGENTAUTHZ_ENOMEM)
        snprintf(msg, cap, "out of memory");
    return rc;
}

/* ---- node helpers ---- */

static bool is_string(const az_node *n)
{
    return n->type == AZ_NODE_SCALAR && n->kind == AZ_SCALAR_STRING;
}

static bool key_is(const az_node *k, const char *s)
{
    size_t len = strlen(s);
    return k->len == len && memcmp(k->str, s, len) == 0;
}

static bool expect_map(cc *c, const az_node *n, const char *what)
{
    if (n->type == AZ_NODE_MAP)
        return true;
    fail(c, n, "%s must be a map", what);
    return false;
}

static bool expect_seq(cc *c, const az_node *n, const char *what)
{
    if (n->type == AZ_NODE_SEQ)
        return true;
    fail(c, n, "%s must be a list", what);
    return false;
}

static bool expect_name(cc *c, const az_node *n, const char *what)
{
    if (!is_string(n)) {
        fail(c, n, "%s must be a name (a string)", what);
        return false;
    }
    if (!az_name_valid(n->str, n->len)) {
        fail(c, n, "invalid %s \"%.128s\": names are 1 to 128 of A-Z a-z 0-9 _ . : -", what,
             n->str);
        return false;
    }
    return true;
}

static bool expect_bool(cc *c, const az_node *n, const char *what, bool *out)
{
    if (n->type != AZ_NODE_SCALAR || n->kind != AZ_SCALAR_BOOL) {
        fail(c, n, "%s must be true or false", what);
        return false;
    }
    *out = n->b;
    return true;
}

static bool expect_count(cc *c, const az_node *n, const char *what, uint64_t *out)
{
    if (n->type != AZ_NODE_SCALAR || n->kind != AZ_SCALAR_INT || n->num < 0 ||
        n->num > AZ_EXACT_INT_LIMIT) {
        fail(c, n, "%s must be a non-negative integer", what);
        return false;
    }
    *out = (uint64_t)n->num;
    return true;
}

static bool expect_duration(cc *c, const az_node *n, const char *what, uint64_t *out)
{
    bool ok = false;
    if (n->type == AZ_NODE_SCALAR && n->kind == AZ_SCALAR_INT && n->num > 0 &&
        n->num <= AZ_EXACT_INT_LIMIT) {
        *out = (uint64_t)n->num;
        ok = true;
    } else if (is_string(n) && az_parse_duration(n->str, n->len, out) == 0 && *out > 0) {
        ok = true;
    }
    if (!ok)
        fail(c, n, "%s must be a positive duration such as 90s, 15m, 2h or 1d", what);
    else if (*out > UINT64_MAX / 1000000000u) {
        fail(c, n, "%s is too long", what);
        ok = false;
    }
    return ok;
}

/* Reports keys of map n that are not in allowed (a NULL-terminated list). */
static void check_keys(cc *c, const az_node *n, const char *what, const char *const *allowed)
{
    for (size_t i = 0; i < n->n; i += 2) {
        const az_node *k = n->items[i];
        size_t j = 0;
        while (allowed[j] && !key_is(k, allowed[j]))
            j++;
        if (!allowed[j])
            fail(c, k, "unknown key \"%.128s\" in %s", k->str, what);
    }
}

static const az_node *map_get(const az_node *map, const char *key)
{
    for (size_t i = 0; map->type == AZ_NODE_MAP && i < map->n; i += 2)
        if (key_is(map->items[i], key))
            return map->items[i + 1];
    return NULL;
}

static const az_node *map_key(const az_node *map, const char *key)
{
    for (size_t i = 0; map->type == AZ_NODE_MAP && i < map->n; i += 2)
        if (key_is(map->items[i], key))
            return map->items[i];
    return NULL;
}

/* ---- name tables ---- */

static int find_name(char *const *names, size_t n, const char *s, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(names[i]) == len && memcmp(names[i], s, len) == 0)
            return (int)i;
    return -1;
}

int az_policy_find_task(const az_policy *p, const char *name)
{
    for (size_t i = 0; i < p->ntasks; i++)
        if (strcmp(p->tasks[i].name, name) == 0)
            return (int)i;
    return -1;
}

int az_policy_find_role(const az_policy *p, const char *name)
{
    return find_name(p->roles, p->nroles, name, strlen(name));
}

static int find_secret(const az_policy *p, const char *s, size_t len)
{
    for (size_t i = 0; i < p->nsecrets; i++)
        if (strlen(p->secrets[i].name) == len && memcmp(p->secrets[i].name, s, len) == 0)
            return (int)i;
    return -1;
}

static int find_list(const cc *c, const char *s, size_t len)
{
    for (size_t i = 0; i < c->nlists; i++)
        if (c->list_keys[i]->len == len && memcmp(c->list_keys[i]->str, s, len) == 0)
            return (int)i;
    return -1;
}

static int add_role(cc *c, const az_node *n)
{
    int i = find_name(c->p->roles, c->p->nroles, n->str, n->len);
    char **grown;
    if (i >= 0)
        return i;
    grown = realloc(c->p->roles, (c->p->nroles + 1) * sizeof *grown);
    if (!grown)
        return -1;
    c->p->roles = grown;
    grown[c->p->nroles] = xstrndup(n->str, n->len);
    if (!grown[c->p->nroles])
        return -1;
    return (int)c->p->nroles++;
}

/*
 * Resolves a list of role names into indices. define: roles named by
 * identities entries define them; elsewhere an unknown role is an error.
 */
static bool compile_roles(cc *c, const az_node *n, bool define, uint32_t **out, size_t *nout)
{
    bool ok = true;
    if (!expect_seq(c, n, "roles"))
        return false;
    *out = xcalloc(n->n, sizeof **out);
    if (!*out) {
        oom(c, n);
        return false;
    }
    for (size_t i = 0; i < n->n; i++) {
        const az_node *r = n->items[i];
        int idx;
        if (!expect_name(c, r, "role")) {
            ok = false;
            continue;
        }
        idx = define ? add_role(c, r) : find_name(c->p->roles, c->p->nroles, r->str, r->len);
        if (idx < 0 && define) {
            oom(c, r);
            return false;
        }
        if (idx < 0) {
            fail(c, r, "unknown role \"%s\": no identities entry grants it", r->str);
            ok = false;
            continue;
        }
        (*out)[(*nout)++] = (uint32_t)idx;
    }
    return ok;
}

/* Compiles a list of tool names or globs (tool mode: '.' separates). */
static bool compile_tool_globs(cc *c, const az_node *n, const char *what, az_glob **out,
                               size_t *nout)
{
    bool ok = true;
    if (!expect_seq(c, n, what))
        return false;
    if (n->n == 0) {
        fail(c, n, "%s must not be empty", what);
        return false;
    }
    *out = xcalloc(n->n, sizeof **out);
    if (!*out) {
        oom(c, n);
        return false;
    }
    for (size_t i = 0; i < n->n; i++) {
        const az_node *t = n->items[i];
        char msg[160];
        if (!is_string(t) || t->len == 0) {
            fail(c, t, "a tool must be a name or glob (a string)");
            ok = false;
        } else if (pattern_rc(az_glob_compile(&(*out)[*nout], t->str, t->len, AZ_GLOB_TOOL,
                                              false, msg, sizeof msg),
                              msg, sizeof msg) != 0) {
            fail(c, t, "bad tool glob \"%.128s\": %s", t->str, msg);
            ok = false;
        } else {
            (*nout)++;
        }
    }
    return ok;
}

/* ---- pass 1: declarations ---- */

/* A count in [lo, hi] for limits.what; false after reporting. */
static bool expect_bound(cc *c, const az_node *n, const char *what, uint64_t lo, uint64_t hi,
                         uint64_t *out)
{
    if (!expect_count(c, n, what, out))
        return false;
    if (*out >= lo && *out <= hi)
        return true;
    fail(c, n, "%s must be between %llu and %llu", what, (unsigned long long)lo,
         (unsigned long long)hi);
    return false;
}

/* observe_min_len, observed_values, observed_bytes of a limits map, over what *lim holds. */
static void compile_observe_limits(cc *c, const az_node *n, az_obs_limits *lim)
{
    const az_node *x;
    uint64_t v;
    if ((x = map_get(n, "observe_min_len")) != NULL &&
        expect_bound(c, x, "observe_min_len", AZ_OBSERVE_MIN_LEN_LO, AZ_OBSERVE_MIN_LEN_HI, &v))
        lim->min_len = (uint32_t)v;
    if ((x = map_get(n, "observed_values")) != NULL &&
        expect_bound(c, x, "observed_values", 1, AZ_OBSERVED_VALUES_HI, &v))
        lim->values = (uint32_t)v;
    if ((x = map_get(n, "observed_bytes")) != NULL &&
        expect_bound(c, x, "observed_bytes", 1, AZ_OBSERVED_BYTES_HI, &v))
        lim->bytes = v;
}

/* defaults: limits: the bounds of observed output every task starts from. */
static void compile_default_limits(cc *c, const az_node *v)
{
    static const char *const keys[] = {"observe_min_len", "observed_values", "observed_bytes",
                                       NULL};
    if (!expect_map(c, v, "defaults.limits"))
        return;
    check_keys(c, v, "defaults.limits", keys);
    compile_observe_limits(c, v, &c->p->observe);
}

static void compile_defaults(cc *c, const az_node *n)
{
    static const char *const keys[] = {"session_ttl", "max_session_ttl", "on_deny", "limits",
                                       "uncatalogued_tools", NULL};
    if (!expect_map(c, n, "defaults"))
        return;
    check_keys(c, n, "defaults", keys);
    for (size_t i = 0; i < n->n; i += 2) {
        const az_node *k = n->items[i], *v = n->items[i + 1];
        size_t slot = key_is(k, "session_ttl")       ? 0
                      : key_is(k, "max_session_ttl") ? 1
                      : key_is(k, "on_deny")         ? 2
                      : key_is(k, "limits")          ? 3
                                                     : 4;
        if (!key_is(k, keys[slot]))
            continue;
        if (c->defaults_seen[slot])
            fail(c, k, "defaults.%s is already set in another file", keys[slot]);
        c->defaults_seen[slot] = true;
        if (slot == 0)
            expect_duration(c, v, "defaults.session_ttl", &c->p->session_ttl_s);
        else if (slot == 1)
            expect_duration(c, v, "defaults.max_session_ttl", &c->p->max_session_ttl_s);
        else if (slot == 3)
            compile_default_limits(c, v);
        else if (slot == 4 && is_string(v) && (key_is(v, "allow") || key_is(v, "deny")))
            c->p->deny_uncatalogued = key_is(v, "deny");
        else if (slot == 4)
            fail(c, v, "uncatalogued_tools must be allow or deny");
        else if (is_string(v) && (key_is(v, "continue") || key_is(v, "revoke")))
            c->p->revoke_on_deny = key_is(v, "revoke");
        else
            fail(c, v, "on_deny must be continue or revoke");
    }
}

static void compile_identities(cc *c, const az_node *n)
{
    static const char *const keys[] = {"match", "roles", NULL};
    az_identity *grown;
    c->p->has_identities = true;
    if (!expect_seq(c, n, "identities"))
        return;
    grown = realloc(c->p->identities, (c->p->nidentities + n->n + 1) * sizeof *grown);
    if (!grown) {
        oom(c, n);
        return;
    }
    c->p->identities = grown;
    for (size_t i = 0; i < n->n; i++) {
        const az_node *e = n->items[i], *m, *r;
        az_identity *id = &c->p->identities[c->p->nidentities];
        char msg[160];
        if (!expect_map(c, e, "an identities entry"))
            continue;
        check_keys(c, e, "an identities entry", keys);
        m = map_get(e, "match");
        r = map_get(e, "roles");
        memset(id, 0, sizeof *id);
        if (!m || !r) {
            fail(c, e, "an identities entry needs match and roles");
            continue;
        }
        if (!is_string(m) || m->len == 0) {
            fail(c, m, "match must be a glob over identity strings");
            continue;
        }
        if (pattern_rc(az_glob_compile(&id->match, m->str, m->len, AZ_GLOB_PATH, false, msg,
                                       sizeof msg),
                       msg, sizeof msg) != 0) {
            fail(c, m, "bad identity glob \"%.128s\": %s", m->str, msg);
            continue;
        }
        c->p->nidentities++;
        compile_roles(c, r, true, &id->roles, &id->nroles);
    }
}

static void collect_lists(cc *c, const az_node *n)
{
    const az_node **k, **v;
    if (!expect_map(c, n, "lists"))
        return;
    k = realloc(c->list_keys, (c->nlists + n->n / 2 + 1) * sizeof *k);
    if (k)
        c->list_keys = k;
    v = realloc(c->list_vals, (c->nlists + n->n / 2 + 1) * sizeof *v);
    if (v)
        c->list_vals = v;
    if (!k || !v) {
        oom(c, n);
        return;
    }
    for (size_t i = 0; i < n->n; i += 2) {
        const az_node *key = n->items[i], *val = n->items[i + 1];
        bool ok = expect_name(c, key, "list name") && expect_seq(c, val, "a list");
        if (ok && find_list(c, key->str, key->len) >= 0) {
            fail(c, key, "list \"%s\" is defined twice", key->str);
            ok = false;
        }
        for (size_t j = 0; ok && j < val->n; j++)
            if (val->items[j]->type != AZ_NODE_SCALAR ||
                val->items[j]->kind == AZ_SCALAR_NULL) {
                fail(c, val->items[j], "list items must be strings, numbers or booleans");
                ok = false;
            }
        if (ok) {
            c->list_keys[c->nlists] = key;
            c->list_vals[c->nlists++] = val;
        }
    }
}

/*
 * One entry of a tool's paths, resources or destinations (key): an argument
 * named as in args.<path>, each dotted segment 1 to 128 bytes, at most
 * AZ_MAX_DEPTH segments.
 */
static bool path_arg_ok(cc *c, const az_node *n, const char *key)
{
    const char *p, *end;
    size_t segments = 0;
    if (!is_string(n)) {
        fail(c, n, "an entry of %s must be an argument name (a string)", key);
        return false;
    }
    for (p = n->str, end = n->str + n->len; p <= end; segments++) {
        const char *dot = memchr(p, '.', (size_t)(end - p));
        size_t len = dot ? (size_t)(dot - p) : (size_t)(end - p);
        if (len == 0 || len > AZ_MAX_NAME || memchr(p, '\0', len)) {
            fail(c, n, "bad argument \"%.128s\" in %s: a segment is empty, over %d bytes "
                       "or holds a NUL byte", n->str, key, AZ_MAX_NAME);
            return false;
        }
        p += len + 1;
    }
    if (segments > AZ_MAX_DEPTH) {
        fail(c, n, "bad argument \"%.128s\" in %s: deeper than %d", n->str, key, AZ_MAX_DEPTH);
        return false;
    }
    return true;
}

static bool arg_listed(char *const *args, size_t n, const char *name, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(args[i]) == len && memcmp(args[i], name, len) == 0)
            return true;
    return false;
}

/*
 * paths, resources or destinations: [ARG, ...], argument names of the tool
 * (agentauthz-policy(5), PATHS and "Resource and destination arguments").
 */
static void compile_tool_args(cc *c, const az_node *n, const char *key, char ***out,
                              size_t *nout)
{
    if (!expect_seq(c, n, key))
        return;
    if (!(*out = xcalloc(n->n, sizeof **out))) {
        oom(c, n);
        return;
    }
    for (size_t i = 0; i < n->n; i++) {
        const az_node *a = n->items[i];
        if (!path_arg_ok(c, a, key))
            continue;
        if (arg_listed(*out, *nout, a->str, a->len)) {
            fail(c, a, "argument \"%.128s\" is listed twice in %s", a->str, key);
            continue;
        }
        if (!((*out)[*nout] = xstrndup(a->str, a->len))) {
            oom(c, a);
            return;
        }
        (*nout)++;
    }
}

/*
 * A resource argument is a path argument too (its strings normalised for
 * args.<path> conditions as for resource); an argument is a resource or a
 * destination, not both.
 */
static void merge_resource_args(cc *c, const az_node *v, az_tool_entry *t)
{
    const az_node *dn = map_get(v, "destinations");
    char **grown;
    for (size_t i = 0; dn && dn->type == AZ_NODE_SEQ && i < dn->n; i++)
        if (is_string(dn->items[i]) &&
            arg_listed(t->resources, t->nresources, dn->items[i]->str, dn->items[i]->len))
            fail(c, dn->items[i], "argument \"%.128s\" is listed in both resources and "
                                  "destinations", dn->items[i]->str);
    if (!t->nresources)
        return;
    if (!(grown = realloc(t->paths, (t->npaths + t->nresources) * sizeof *grown))) {
        oom(c, v);
        return;
    }
    t->paths = grown;
    for (size_t i = 0; i < t->nresources; i++) {
        const char *r = t->resources[i];
        if (arg_listed(t->paths, t->npaths, r, strlen(r)))
            continue;
        if (!(t->paths[t->npaths] = strdup(r))) {
            oom(c, v);
            return;
        }
        t->npaths++;
    }
}

/*
 * output: [LABEL...], the labels an observation of the tool's output gets
 * (agentauthz_session_observe). "param" is the pseudo-label of from.
 */
static void compile_tool_output(cc *c, const az_node *n, az_tool_entry *t)
{
    if (!expect_seq(c, n, "output"))
        return;
    if (n->n > 64) {
        fail(c, n, "output takes at most 64 labels");
        return;
    }
    if (!(t->output = agentauthz_value_list())) {
        oom(c, n);
        return;
    }
    for (size_t i = 0; i < n->n; i++) {
        const az_node *l = n->items[i];
        if (!expect_name(c, l, "label"))
            continue;
        if (key_is(l, "param"))
            fail(c, l, "\"param\" is not an output label: from: [param] stands for the task's "
                       "parameters");
        else if (agentauthz_value_list_append(t->output, agentauthz_value_stringn(l->str,
                                                                                  l->len)) != 0)
            oom(c, l);
    }
}

static void compile_tool_entry(cc *c, const az_node *k, const az_node *v, az_tool_entry *t)
{
    static const char *const keys[] = {"produces",  "sink",         "paths", "output",
                                       "resources", "destinations", NULL};
    const az_node *prod;
    t->name = xstrndup(k->str, k->len);
    t->produces = agentauthz_value_list();
    if (!t->name || !t->produces) {
        oom(c, k);
        return;
    }
    if (!expect_map(c, v, "a tool entry"))
        return;
    check_keys(c, v, "a tool entry", keys);
    if (map_get(v, "sink"))
        expect_bool(c, map_get(v, "sink"), "sink", &t->sink);
    if (map_get(v, "paths"))
        compile_tool_args(c, map_get(v, "paths"), "paths", &t->paths, &t->npaths);
    if (map_get(v, "resources"))
        compile_tool_args(c, map_get(v, "resources"), "resources", &t->resources,
                          &t->nresources);
    if (map_get(v, "destinations"))
        compile_tool_args(c, map_get(v, "destinations"), "destinations", &t->dests,
                          &t->ndests);
    merge_resource_args(c, v, t);
    if (map_get(v, "output"))
        compile_tool_output(c, map_get(v, "output"), t);
    prod = map_get(v, "produces");
    if (!prod || !expect_seq(c, prod, "produces"))
        return;
    for (size_t i = 0; i < prod->n; i++)
        if (expect_name(c, prod->items[i], "label") &&
            agentauthz_value_list_append(t->produces, agentauthz_value_stringn(
                                                          prod->items[i]->str,
                                                          prod->items[i]->len)) != 0)
            oom(c, prod->items[i]);
}

static void compile_tools(cc *c, const az_node *n)
{
    az_tool_entry *grown;
    if (!expect_map(c, n, "tools"))
        return;
    grown = realloc(c->p->tools, (c->p->ntools + n->n / 2 + 1) * sizeof *grown);
    if (!grown) {
        oom(c, n);
        return;
    }
    c->p->tools = grown;
    for (size_t i = 0; i < n->n; i += 2) {
        const az_node *k = n->items[i];
        if (!expect_name(c, k, "tool name"))
            continue;
        for (size_t j = 0; j < c->p->ntools; j++)
            if (strlen(c->p->tools[j].name) == k->len &&
                memcmp(c->p->tools[j].name, k->str, k->len) == 0)
                fail(c, k, "tool \"%s\" is catalogued twice", k->str);
        memset(&grown[c->p->ntools], 0, sizeof *grown);
        compile_tool_entry(c, k, n->items[i + 1], &grown[c->p->ntools]);
        /* Out of memory for the name: not an entry (every reader takes the name for a string). */
        if (grown[c->p->ntools].name)
            c->p->ntools++;
        else {
            agentauthz_value_free(grown[c->p->ntools].produces);
            agentauthz_value_free(grown[c->p->ntools].output);
        }
    }
}

static bool parse_provider(cc *c, const az_node *v, az_provider *out)
{
    static const char *const names[] = {"random", "derived", "token", "host"};
    for (size_t i = 0; i < 4; i++)
        if (is_string(v) && key_is(v, names[i])) {
            *out = (az_provider)i;
            return true;
        }
    fail(c, v, "provider must be random, derived, token or host");
    return false;
}

static void compile_secret(cc *c, const az_node *k, const az_node *v, az_secret_decl *s)
{
    static const char *const keys[] = {"provider", "bytes", "ttl", "tools", "audience", NULL};
    const az_node *prov = map_get(v, "provider"), *x;
    uint64_t bytes = 0;
    s->name = xstrndup(k->str, k->len);
    s->bytes = 32;
    if (!s->name) {
        oom(c, k);
        return;
    }
    check_keys(c, v, "a secret", keys);
    if (!prov) {
        fail(c, v, "secret \"%s\" needs a provider", s->name);
        return;
    }
    parse_provider(c, prov, &s->provider);
    if ((x = map_get(v, "bytes")) != NULL) {
        if (s->provider != AZ_PROVIDER_RANDOM)
            fail(c, x, "bytes applies only to the random provider");
        else if (expect_count(c, x, "bytes", &bytes) && (bytes < 16 || bytes > 1024))
            fail(c, x, "bytes must be between 16 and 1024");
        else
            s->bytes = (size_t)bytes;
    }
    if ((x = map_get(v, "ttl")) != NULL)
        expect_duration(c, x, "ttl", &s->ttl_s);
    if ((x = map_get(v, "tools")) != NULL)
        compile_tool_globs(c, x, "tools", &s->tools, &s->ntools);
    if ((x = map_get(v, "audience")) != NULL) {
        if (s->provider != AZ_PROVIDER_TOKEN)
            fail(c, x, "audience applies only to the token provider");
        else if (!is_string(x) || x->len == 0 || x->len > 1024)
            fail(c, x, "audience must be a non-empty string");
        else if (!(s->audience = xstrndup(x->str, x->len)))
            oom(c, x);
    } else if (s->provider == AZ_PROVIDER_TOKEN) {
        fail(c, v, "a token secret needs an audience");
    }
}

static void compile_secrets(cc *c, const az_node *n)
{
    az_secret_decl *grown;
    if (!expect_map(c, n, "secrets"))
        return;
    grown = realloc(c->p->secrets, (c->p->nsecrets + n->n / 2 + 1) * sizeof *grown);
    if (!grown) {
        oom(c, n);
        return;
    }
    c->p->secrets = grown;
    for (size_t i = 0; i < n->n; i += 2) {
        const az_node *k = n->items[i], *v = n->items[i + 1];
        if (!expect_name(c, k, "secret name") || !expect_map(c, v, "a secret"))
            continue;
        if (find_secret(c->p, k->str, k->len) >= 0) {
            fail(c, k, "secret \"%s\" is defined twice", k->str);
            continue;
        }
        memset(&grown[c->p->nsecrets], 0, sizeof *grown);
        compile_secret(c, k, v, &grown[c->p->nsecrets]);
        /* Out of memory for the name: not an entry (find_secret takes the name for a string). */
        if (grown[c->p->nsecrets].name)
            c->p->nsecrets++;
    }
}

static void compile_task_secrets(cc *c, const az_node *n, az_task *t)
{
    if (!expect_seq(c, n, "secrets"))
        return;
    t->secrets = xcalloc(n->n, sizeof *t->secrets);
    if (!t->secrets) {
        oom(c, n);
        return;
    }
    for (size_t i = 0; i < n->n; i++) {
        const az_node *s = n->items[i];
        int idx;
        if (!expect_name(c, s, "secret name"))
            continue;
        idx = find_secret(c->p, s->str, s->len);
        if (idx < 0)
            fail(c, s, "unknown secret \"%s\"", s->str);
        else
            t->secrets[t->nsecrets++] = (uint32_t)idx;
    }
}

static void compile_limits(cc *c, const az_node *n, az_task *t)
{
    static const char *const keys[] = {"calls",           "per_tool",       "observe_min_len",
                                       "observed_values", "observed_bytes", NULL};
    const az_node *pt;
    if (!expect_map(c, n, "limits"))
        return;
    check_keys(c, n, "limits", keys);
    compile_observe_limits(c, n, &t->observe);
    if (map_get(n, "calls"))
        t->has_calls = expect_count(c, map_get(n, "calls"), "calls", &t->calls);
    pt = map_get(n, "per_tool");
    if (!pt || !expect_map(c, pt, "per_tool"))
        return;
    t->per_tool = xcalloc(pt->n / 2, sizeof *t->per_tool);
    if (!t->per_tool) {
        oom(c, pt);
        return;
    }
    for (size_t i = 0; i < pt->n; i += 2) {
        az_tool_limit *l = &t->per_tool[t->nper_tool];
        if (!expect_name(c, pt->items[i], "tool name") ||
            !expect_count(c, pt->items[i + 1], "a per-tool limit", &l->limit))
            continue;
        if (!(l->tool = xstrndup(pt->items[i]->str, pt->items[i]->len))) {
            oom(c, pt);
            return;
        }
        t->nper_tool++;
    }
}

static bool parse_param_type(const az_node *v, agentauthz_type *out)
{
    static const struct {
        const char *name;
        agentauthz_type type;
    } types[] = {{"string", AGENTAUTHZ_STRING},
                 {"number", AGENTAUTHZ_NUMBER},
                 {"bool", AGENTAUTHZ_BOOL},
                 {"list", AGENTAUTHZ_LIST}};
    for (size_t i = 0; i < 4; i++)
        if (is_string(v) && key_is(v, types[i].name)) {
            *out = types[i].type;
            return true;
        }
    return false;
}

/*
 * One declaration: a type name, or the map form {type: T, optional: BOOL}
 * (issue 11, item 4). False after reporting why not.
 */
static bool compile_param_decl(cc *c, const az_node *v, az_param_decl *pd)
{
    static const char *const keys[] = {"type", "optional", NULL};
    const az_node *type, *optional;
    if (v->type != AZ_NODE_MAP) {
        if (parse_param_type(v, &pd->type))
            return true;
        fail(c, v, "a parameter type must be string, number, bool or list, or a map "
                   "{type: T, optional: true}");
        return false;
    }
    check_keys(c, v, "a parameter", keys);
    if (!(type = map_get(v, "type"))) {
        fail(c, v, "a parameter needs a type");
        return false;
    }
    if (!parse_param_type(type, &pd->type)) {
        fail(c, type, "a parameter type must be string, number, bool or list");
        return false;
    }
    optional = map_get(v, "optional");
    return !optional || expect_bool(c, optional, "optional", &pd->optional);
}

static void compile_params(cc *c, const az_node *n, az_task *t)
{
    if (!expect_map(c, n, "params"))
        return;
    t->params = xcalloc(n->n / 2, sizeof *t->params);
    if (!t->params) {
        oom(c, n);
        return;
    }
    for (size_t i = 0; i < n->n; i += 2) {
        az_param_decl *pd = &t->params[t->nparams];
        if (!expect_name(c, n->items[i], "parameter name"))
            continue;
        memset(pd, 0, sizeof *pd);
        if (!compile_param_decl(c, n->items[i + 1], pd))
            continue;
        if (!(pd->name = xstrndup(n->items[i]->str, n->items[i]->len))) {
            oom(c, n);
            return;
        }
        t->nparams++;
    }
}

/* The index of the parameter named n in t's params, or -1. */
static long param_index(const az_task *t, const az_node *n)
{
    for (size_t i = 0; i < t->nparams; i++)
        if (key_is(n, t->params[i].name))
            return (long)i;
    return -1;
}

/*
 * token_params: [NAME, ...], the parameters of the task whose bound values
 * go into its task tokens ("tctx"."params"), each a declared parameter, once.
 */
static void compile_token_params(cc *c, const az_node *n, az_task *t)
{
    if (!expect_seq(c, n, "token_params"))
        return;
    t->token_params = xcalloc(n->n ? n->n : 1, sizeof *t->token_params);
    if (!t->token_params) {
        oom(c, n);
        return;
    }
    for (size_t i = 0; i < n->n; i++) {
        const az_node *x = n->items[i];
        long idx;
        bool seen = false;
        if (!expect_name(c, x, "parameter name"))
            continue;
        idx = param_index(t, x);
        if (idx < 0) {
            fail(c, x, "token_params: \"%s\" is not a parameter of task \"%s\"", x->str,
                 t->name);
            continue;
        }
        for (size_t j = 0; j < t->ntoken_params && !seen; j++)
            seen = t->token_params[j] == (uint32_t)idx;
        if (seen)
            fail(c, x, "token_params: \"%s\" is listed twice", x->str);
        else
            t->token_params[t->ntoken_params++] = (uint32_t)idx;
    }
}

static void compile_task_field(cc *c, const az_node *k, const az_node *v, az_task *t)
{
    if (key_is(k, "roles"))
        compile_roles(c, v, false, &t->roles, &t->nroles);
    else if (key_is(k, "max_ttl"))
        expect_duration(c, v, "max_ttl", &t->max_ttl_s);
    else if (key_is(k, "secrets"))
        compile_task_secrets(c, v, t);
    else if (key_is(k, "limits"))
        compile_limits(c, v, t);
    else if (key_is(k, "params"))
        compile_params(c, v, t);
    else if (key_is(k, "on_deny")) {
        if (is_string(v) && (key_is(v, "continue") || key_is(v, "revoke")))
            t->on_deny = key_is(v, "revoke");
        else
            fail(c, v, "on_deny must be continue or revoke");
    } else if (key_is(k, "otherwise")) {
        if (is_string(v) && (key_is(v, "deny") || key_is(v, "ask")))
            t->ask_otherwise = key_is(v, "ask");
        else
            fail(c, v, "otherwise must be deny or ask");
    }
}

static void compile_tasks(cc *c, const az_node *n)
{
    static const char *const keys[] = {"roles",   "max_ttl",   "secrets",      "limits", "params",
                                       "on_deny", "otherwise", "token_params", NULL};
    az_task *grown;
    if (!expect_map(c, n, "tasks"))
        return;
    grown = realloc(c->p->tasks, (c->p->ntasks + n->n / 2 + 1) * sizeof *grown);
    if (!grown) {
        oom(c, n);
        return;
    }
    c->p->tasks = grown;
    for (size_t i = 0; i < n->n; i += 2) {
        const az_node *k = n->items[i], *v = n->items[i + 1];
        az_task *t = &grown[c->p->ntasks];
        if (!expect_name(c, k, "task name") || !expect_map(c, v, "a task"))
            continue;
        if (az_policy_find_task(c->p, k->str) >= 0) {
            fail(c, k, "task \"%s\" is defined twice", k->str);
            continue;
        }
        memset(t, 0, sizeof *t);
        t->on_deny = -1;
        t->observe = c->p->observe;
        if (!(t->name = xstrndup(k->str, k->len))) {
            oom(c, k);
            return;
        }
        c->p->ntasks++;
        check_keys(c, v, "a task", keys);
        for (size_t j = 0; j < v->n; j += 2)
            compile_task_field(c, v->items[j], v->items[j + 1], t);
        /* After the fields: token_params names parameters, wherever params is written. */
        if (map_get(v, "token_params"))
            compile_token_params(c, map_get(v, "token_params"), t);
    }
}

/* ---- pass 2: rules and conditions ---- */

/*
 * How each operator takes its operand: one scalar, a list, either, or
 * something of its own (a predicate, a flag, types, a count).
 */
typedef enum form {
    FORM_SCALAR,
    FORM_NUMBER,
    FORM_LIST,
    FORM_SCALAR_OR_LIST,
    FORM_PATTERN, /* a literal string: regexes are compiled at load */
    FORM_PRED,
    FORM_PREDS,
    FORM_BOOL,
    FORM_TYPES,
    FORM_COUNT
} form;

typedef struct op_info {
    const char *name;
    az_op op;
    form form;
    bool icase_ok;
} op_info;

static const op_info op_table[] = {
    {"eq", AZ_OP_EQ, FORM_SCALAR, true},
    {"ne", AZ_OP_NE, FORM_SCALAR, true},
    {"in", AZ_OP_IN, FORM_LIST, true},
    {"not_in", AZ_OP_NOT_IN, FORM_LIST, true},
    {"glob", AZ_OP_GLOB, FORM_SCALAR_OR_LIST, true},
    {"prefix", AZ_OP_PREFIX, FORM_SCALAR_OR_LIST, true},
    {"suffix", AZ_OP_SUFFIX, FORM_SCALAR_OR_LIST, true},
    {"domain", AZ_OP_DOMAIN, FORM_SCALAR_OR_LIST, false},
    {"cidr", AZ_OP_CIDR, FORM_SCALAR_OR_LIST, false},
    {"regex", AZ_OP_REGEX, FORM_PATTERN, false},
    {"lt", AZ_OP_LT, FORM_NUMBER, false},
    {"lte", AZ_OP_LTE, FORM_NUMBER, false},
    {"gt", AZ_OP_GT, FORM_NUMBER, false},
    {"gte", AZ_OP_GTE, FORM_NUMBER, false},
    {"has", AZ_OP_HAS, FORM_SCALAR_OR_LIST, false},
    {"each", AZ_OP_EACH, FORM_PRED, false},
    {"some", AZ_OP_SOME, FORM_PRED, false},
    {"exists", AZ_OP_EXISTS, FORM_BOOL, false},
    {"type", AZ_OP_TYPE, FORM_TYPES, false},
    {"len_lte", AZ_OP_LEN_LTE, FORM_COUNT, false},
    {"not", AZ_OP_NOT, FORM_PRED, false},
    {"any", AZ_OP_ANY, FORM_PREDS, false},
    {"all", AZ_OP_ALL, FORM_PREDS, false},
    {"from", AZ_OP_FROM, FORM_SCALAR_OR_LIST, false},
    {"not_from", AZ_OP_NOT_FROM, FORM_SCALAR_OR_LIST, false},
};

static const op_info *find_op(const az_node *k)
{
    for (size_t i = 0; i < sizeof op_table / sizeof op_table[0]; i++)
        if (key_is(k, op_table[i].name))
            return &op_table[i];
    return NULL;
}

static agentauthz_value *scalar_value(const az_node *n)
{
    switch (n->kind) {
    case AZ_SCALAR_STRING: return agentauthz_value_stringn(n->str, n->len);
    case AZ_SCALAR_INT:
    case AZ_SCALAR_FLOAT: return agentauthz_value_number(n->num);
    case AZ_SCALAR_BOOL: return agentauthz_value_bool(n->b);
    case AZ_SCALAR_NULL: return agentauthz_value_null();
    }
    return NULL;
}

static const az_param_decl *task_param(const az_task *t, const char *name, size_t len)
{
    for (size_t i = 0; i < t->nparams; i++)
        if (strlen(t->params[i].name) == len && memcmp(t->params[i].name, name, len) == 0)
            return &t->params[i];
    return NULL;
}

/*
 * A parameter may be used only by a rule scoped to tasks that all declare
 * it with one type; returns that type, or -1 after reporting why not.
 */
static int scoped_param_type(cc *c, const az_node *n, const rule_scope *scope)
{
    int type = -1;
    if (!expect_name(c, n, "parameter name"))
        return -1;
    if (scope->ntasks == 0) {
        fail(c, n, "parameter \"%s\" used by a rule that is not scoped to tasks declaring it",
             n->str);
        return -1;
    }
    for (size_t i = 0; i < scope->ntasks; i++) {
        const az_task *t = &c->p->tasks[scope->tasks[i]];
        const az_param_decl *pd = task_param(t, n->str, n->len);
        if (!pd) {
            fail(c, n, "unknown parameter \"%s\": task \"%s\" does not declare it", n->str,
                 t->name);
            return -1;
        }
        if (type >= 0 && (int)pd->type != type) {
            fail(c, n, "parameter \"%s\" has different types in the rule's tasks", n->str);
            return -1;
        }
        type = (int)pd->type;
    }
    return type;
}

static const char *op_name(az_op op);
static const char *field_name(az_field f);

/* Fields whose value is a list of strings: has on them looks for strings. */
static bool string_list_field(az_field f)
{
    return f == AZ_F_ROLES || f == AZ_F_LABELS || f == AZ_F_SESSION_LABELS ||
           f == AZ_F_TOOL_PRODUCES;
}

/*
 * What a predicate takes where {param: NAME} stands, or NULL when a
 * parameter of type t fits there (policy.md: "with a fitting type"). whole:
 * the parameter is the predicate's operand, not an item of a literal list
 * (an item of in's list may be a scalar; in itself takes a list).
 */
static const char *param_misfit(az_op op, bool whole, bool strings, agentauthz_type t)
{
    bool str = t == AGENTAUTHZ_STRING, list = t == AGENTAUTHZ_LIST;
    switch (op) {
    case AZ_OP_EQ:
    case AZ_OP_NE: return list ? "a string, number or bool" : NULL;
    case AZ_OP_IN:
    case AZ_OP_NOT_IN: return whole && !list ? "a list" : NULL;
    case AZ_OP_GLOB:
    case AZ_OP_PREFIX:
    case AZ_OP_SUFFIX:
    case AZ_OP_DOMAIN:
    case AZ_OP_CIDR: return str || list ? NULL : "a string or a list of strings";
    case AZ_OP_LT:
    case AZ_OP_LTE:
    case AZ_OP_GT:
    case AZ_OP_GTE:
    case AZ_OP_LEN_LTE: return t == AGENTAUTHZ_NUMBER ? NULL : "a number";
    case AZ_OP_HAS:
        return strings && !str && !list ? "a string or a list of strings" : NULL;
    default: return "no parameter";
    }
}

static const char *param_type_name(agentauthz_type t)
{
    switch (t) {
    case AGENTAUTHZ_STRING: return "a string";
    case AGENTAUTHZ_NUMBER: return "a number";
    case AGENTAUTHZ_BOOL: return "a bool";
    case AGENTAUTHZ_LIST: return "a list";
    default: return "a value";
    }
}

/*
 * Whether the parameter's value needs a look when a session opens: what the
 * literal in its place would have been refused for at load (a bad glob,
 * CIDR, domain or count, a list item that is not a string).
 */
static bool checked_at_open(az_op op, agentauthz_type t)
{
    switch (op) {
    case AZ_OP_GLOB:
    case AZ_OP_DOMAIN:
    case AZ_OP_CIDR:
    case AZ_OP_LEN_LTE: return true;
    case AZ_OP_PREFIX:
    case AZ_OP_SUFFIX: return t == AGENTAUTHZ_LIST;
    default: return false;
    }
}

static void note_param_use(cc *c, const az_node *n, const rule_scope *scope, az_op op,
                           const char *param)
{
    az_policy *p = c->p;
    az_param_use *grown = realloc(p->param_uses, (p->nparam_uses + 1) * sizeof *grown);
    if (!grown) {
        oom(c, n);
        return;
    }
    p->param_uses = grown;
    grown[p->nparam_uses].rule = (uint32_t)scope->rule;
    grown[p->nparam_uses].op = op;
    grown[p->nparam_uses].param = param;
    grown[p->nparam_uses].mark = n->mark;
    p->nparam_uses++;
}

static az_item *new_item(cc *c, const az_node *n, az_pred *p)
{
    az_item *grown;
    if (p->nitems >= AZ_MAX_ITEMS) {
        fail(c, n, "more than %d values in one predicate", AZ_MAX_ITEMS);
        return NULL;
    }
    grown = realloc(p->items, (p->nitems + 1) * sizeof *grown);
    if (!grown) {
        oom(c, n);
        return NULL;
    }
    p->items = grown;
    memset(&grown[p->nitems], 0, sizeof *grown);
    return &grown[p->nitems++];
}

static bool literal_fits(cc *c, const az_node *n, az_op op)
{
    bool is_number = n->kind == AZ_SCALAR_INT || n->kind == AZ_SCALAR_FLOAT;
    switch (op) {
    case AZ_OP_LT:
    case AZ_OP_LTE:
    case AZ_OP_GT:
    case AZ_OP_GTE:
        if (!is_number)
            fail(c, n, "expected a number");
        return is_number;
    case AZ_OP_GLOB:
    case AZ_OP_PREFIX:
    case AZ_OP_SUFFIX:
    case AZ_OP_DOMAIN:
    case AZ_OP_CIDR:
    case AZ_OP_REGEX:
        if (!is_string(n))
            fail(c, n, "expected a string");
        return is_string(n);
    case AZ_OP_FROM:
    case AZ_OP_NOT_FROM:
        if (is_string(n) && az_name_valid(n->str, n->len))
            return true;
        fail(c, n, "from and not_from take labels (names such as untrusted) or param");
        return false;
    default: return true;
    }
}

/* Prepares a literal for its operator: globs, CIDRs and regexes compile now. */
static bool prepare_literal(cc *c, const az_node *n, const az_pred *p, az_item *it)
{
    char msg[200];
    switch (p->op) {
    case AZ_OP_GLOB:
        if (pattern_rc(az_glob_compile(&it->glob, n->str, n->len, c->glob_mode, p->icase, msg,
                                       sizeof msg),
                       msg, sizeof msg) == 0)
            return true;
        fail(c, n, "bad glob \"%.128s\": %s", n->str, msg);
        return false;
    case AZ_OP_CIDR:
        if (az_cidr_parse(&it->cidr, n->str, n->len) == 0)
            return true;
        fail(c, n, "bad CIDR \"%.128s\": expected an address/prefix such as 10.0.0.0/8",
             n->str);
        return false;
    case AZ_OP_REGEX:
        if (pattern_rc(az_regex_compile(&it->regex, n->str, n->len, false, msg, sizeof msg), msg,
                       sizeof msg) == 0)
            return true;
        fail(c, n, "bad regex \"%.128s\": %s", n->str, msg);
        return false;
    case AZ_OP_DOMAIN:
        if (az_domain_prepare(&it->domain, it->lit->u.str.p, it->lit->u.str.len) == 0)
            return true;
        fail(c, n, "bad domain \"%.128s\"", n->str);
        return false;
    default: return true;
    }
}

/*
 * A resource is checked normalised (agentauthz-policy(5), PATHS), so an
 * operand that compares the whole of it, but is not in normal form, never
 * matches: in a deny rule, a hole. Lint says so.
 */
static void warn_not_normal(cc *c, const az_node *n, az_op op)
{
    char buf[AZ_MAX_PATH + 1];
    const char *out = NULL, *why;
    size_t len = 0;
    if (!c->resource_field || !is_string(n) ||
        (op != AZ_OP_EQ && op != AZ_OP_NE && op != AZ_OP_IN && op != AZ_OP_NOT_IN &&
         op != AZ_OP_GLOB))
        return;
    why = az_path_normalize_resource(n->str, n->len, buf, AZ_MAX_PATH, &out, &len);
    if (why)
        az_diag_warn(c->d, &n->mark,
                     "resource operand \"%.128s\" never matches: such a resource is refused "
                     "(%s)", n->str, why);
    else if (out != n->str)
        az_diag_warn(c->d, &n->mark,
                     "resource operand \"%.128s\" never matches: resources are checked "
                     "normalised; write \"%.*s\"", n->str, (int)(len < 128 ? len : 128), out);
}

static bool add_literal(cc *c, const az_node *n, az_pred *p)
{
    az_item *it;
    if (n->type != AZ_NODE_SCALAR) {
        fail(c, n, "expected a scalar, a {list: NAME} or a {param: NAME}");
        return false;
    }
    if (n->kind == AZ_SCALAR_NULL) {
        /* A null argument is absent (agentauthz-policy(5)): no predicate could match one. */
        fail(c, n, "null is not a value to compare with: a null argument counts as absent "
                   "(use exists: false)");
        return false;
    }
    if (!literal_fits(c, n, p->op) || !(it = new_item(c, n, p)))
        return false;
    if (!(it->lit = scalar_value(n))) {
        oom(c, n);
        return false;
    }
    warn_not_normal(c, n, p->op);
    return prepare_literal(c, n, p, it);
}

static bool add_param(cc *c, const az_node *n, const rule_scope *scope, az_pred *p, bool whole)
{
    int type = scoped_param_type(c, n, scope);
    const char *takes;
    az_item *it;
    if (type < 0)
        return false;
    takes = param_misfit(p->op, whole, scope->derived || string_list_field(scope->field),
                         (agentauthz_type)type);
    if (takes) {
        if (p->op == AZ_OP_HAS)
            fail(c, n, "parameter \"%s\" is %s, but has on %s%s takes %s", n->str,
                 param_type_name((agentauthz_type)type),
                 scope->derived ? scope->derived : field_name(scope->field),
                 scope->derived ? "()" : "", takes);
        else
            fail(c, n, "parameter \"%s\" is %s, but %s takes %s", n->str,
                 param_type_name((agentauthz_type)type), op_name(p->op), takes);
        return false;
    }
    if (!(it = new_item(c, n, p)))
        return false;
    if (!(it->param = xstrndup(n->str, n->len))) {
        oom(c, n);
        return false;
    }
    it->glob_mode = (uint8_t)c->glob_mode;
    p->has_param = true;
    if (checked_at_open(p->op, (agentauthz_type)type))
        note_param_use(c, n, scope, p->op, it->param);
    return true;
}

static bool add_list_ref(cc *c, const az_node *n, az_pred *p)
{
    int idx;
    bool ok = true;
    if (!expect_name(c, n, "list name"))
        return false;
    idx = find_list(c, n->str, n->len);
    if (idx < 0) {
        fail(c, n, "unknown list \"%s\"", n->str);
        return false;
    }
    for (size_t i = 0; i < c->list_vals[idx]->n; i++)
        ok = add_literal(c, c->list_vals[idx]->items[i], p) && ok;
    return ok;
}

/* A one-key map {list: NAME} or {param: NAME}; returns the key or NULL. */
static const char *reference_kind(const az_node *n)
{
    if (n->type != AZ_NODE_MAP || n->n != 2)
        return NULL;
    if (key_is(n->items[0], "list"))
        return "list";
    if (key_is(n->items[0], "param"))
        return "param";
    return NULL;
}

/* One operand, or (whole false) one item of a literal list of operands. */
static bool add_item(cc *c, const az_node *n, const rule_scope *scope, az_pred *p, bool whole)
{
    const char *ref = reference_kind(n);
    if (ref && ref[0] == 'l')
        return add_list_ref(c, n->items[1], p);
    if (ref)
        return add_param(c, n->items[1], scope, p, whole);
    return add_literal(c, n, p);
}

static bool compile_operand(cc *c, const az_node *n, form f, const rule_scope *scope,
                            az_pred *p)
{
    const char *ref = reference_kind(n);
    bool ok = true;
    if (f == FORM_PATTERN) {
        if (n->type != AZ_NODE_SCALAR) {
            fail(c, n, "regex takes one literal pattern");
            return false;
        }
        return add_literal(c, n, p);
    }
    if (n->type == AZ_NODE_SEQ) {
        if (f == FORM_SCALAR || f == FORM_NUMBER) {
            fail(c, n, "expected a single value, not a list");
            return false;
        }
        if (n->n == 0) {
            fail(c, n, "the list must not be empty");
            return false;
        }
        for (size_t i = 0; i < n->n; i++)
            ok = add_item(c, n->items[i], scope, p, false) && ok;
        return ok;
    }
    if (ref && ref[0] == 'l' && (f == FORM_SCALAR || f == FORM_NUMBER)) {
        fail(c, n, "expected a single value, not a list");
        return false;
    }
    if (!ref && n->type == AZ_NODE_SCALAR && f == FORM_LIST) {
        fail(c, n, "expected a list");
        return false;
    }
    return add_item(c, n, scope, p, true);
}

static bool compile_pred(cc *c, const az_node *n, const rule_scope *scope, az_pred *p);

static bool compile_kids(cc *c, const az_node *n, form f, const rule_scope *scope,
                         az_pred *p)
{
    size_t count = 1;
    bool ok = true;
    if (f == FORM_PREDS) {
        if (!expect_seq(c, n, "any/all"))
            return false;
        if (n->n == 0) {
            fail(c, n, "any/all need at least one predicate");
            return false;
        }
        count = n->n;
    }
    p->kids = xcalloc(count, sizeof *p->kids);
    if (!p->kids) {
        oom(c, n);
        return false;
    }
    for (size_t i = 0; i < count; i++, p->nkids++)
        ok = compile_pred(c, f == FORM_PREDS ? n->items[i] : n, scope, &p->kids[i]) && ok;
    return ok;
}

static bool add_type(cc *c, const az_node *n, az_pred *p)
{
    static const char *const names[] = {"null", "bool", "number", "string", "list", "map"};
    size_t t = 1;
    while (t < 6 && !(is_string(n) && key_is(n, names[t])))
        t++;
    if (t == 6) {
        fail(c, n, "type must be string, number, bool, list or map");
        return false;
    }
    p->types |= 1u << t;
    return true;
}

/* A type name, or a {list: NAME} of them (policy.md: wherever a predicate takes a list). */
static bool add_types(cc *c, const az_node *n, az_pred *p)
{
    const char *ref = reference_kind(n);
    const az_node *name;
    bool ok = true;
    int idx;
    if (!ref)
        return add_type(c, n, p);
    if (ref[0] == 'p') {
        fail(c, n, "type takes type names or a {list: NAME} of them, not a {param: NAME}");
        return false;
    }
    name = n->items[1];
    if (!expect_name(c, name, "list name"))
        return false;
    if ((idx = find_list(c, name->str, name->len)) < 0) {
        fail(c, name, "unknown list \"%s\"", name->str);
        return false;
    }
    for (size_t i = 0; i < c->list_vals[idx]->n; i++)
        ok = add_type(c, c->list_vals[idx]->items[i], p) && ok;
    return ok;
}

static bool compile_types(cc *c, const az_node *n, az_pred *p)
{
    const az_node *const *items = n->type == AZ_NODE_SEQ ? (const az_node *const *)n->items : &n;
    size_t count = n->type == AZ_NODE_SEQ ? n->n : 1;
    bool ok = count > 0;
    if (!ok)
        fail(c, n, "type needs at least one type name");
    for (size_t i = 0; i < count; i++)
        ok = add_types(c, items[i], p) && ok;
    return ok;
}

static bool compile_op(cc *c, const op_info *op, const az_node *v, const rule_scope *scope,
                       bool icase, az_pred *p)
{
    const char *ref;
    uint64_t count;
    p->op = op->op;
    p->icase = icase && op->icase_ok;
    switch (op->form) {
    case FORM_PRED:
    case FORM_PREDS: return compile_kids(c, v, op->form, scope, p);
    case FORM_BOOL: return expect_bool(c, v, op->name, &p->flag);
    case FORM_TYPES: return compile_types(c, v, p);
    case FORM_COUNT:
        ref = reference_kind(v);
        if (ref && ref[0] == 'p') /* a scalar, so a {param: NAME} may stand for it */
            return add_param(c, v->items[1], scope, p, true);
        if (!expect_count(c, v, op->name, &count))
            return false;
        p->limit = (double)count;
        return true;
    default: return compile_operand(c, v, op->form, scope, p);
    }
}

/* {param: NAME} alone means eq for a scalar parameter and in for a list. */
static bool compile_bare_param(cc *c, const az_node *n, const rule_scope *scope, az_pred *p)
{
    int type = scoped_param_type(c, n, scope);
    if (type < 0)
        return false;
    p->op = type == AGENTAUTHZ_LIST ? AZ_OP_IN : AZ_OP_EQ;
    return add_param(c, n, scope, p, true);
}

static bool read_icase(cc *c, const az_node *n, bool *icase, bool *seen)
{
    const az_node *v = map_get(n, "icase");
    *seen = v != NULL;
    *icase = false;
    return !v || expect_bool(c, v, "icase", icase);
}

static size_t count_ops(cc *c, const az_node *n, bool *ok, bool *icase_used)
{
    size_t ops = 0;
    for (size_t i = 0; i < n->n; i += 2) {
        const op_info *op = find_op(n->items[i]);
        if (key_is(n->items[i], "icase"))
            continue;
        if (!op) {
            fail(c, n->items[i], "unknown predicate \"%.128s\"", n->items[i]->str);
            *ok = false;
            continue;
        }
        *icase_used = *icase_used || op->icase_ok;
        ops++;
    }
    return ops;
}

static bool compile_pred_map(cc *c, const az_node *n, const rule_scope *scope, az_pred *p)
{
    bool icase, icase_seen, icase_used = false, ok = true;
    size_t ops, k = 0;
    if (!read_icase(c, n, &icase, &icase_seen))
        ok = false;
    ops = count_ops(c, n, &ok, &icase_used);
    if (icase_seen && !icase_used) {
        fail(c, map_key(n, "icase"), "icase applies only to eq, ne, in, not_in, glob, prefix "
                                     "and suffix");
        ok = false;
    }
    if (ops == 0) {
        if (ok)
            fail(c, n, "expected a predicate such as eq, in, glob or domain");
        return false;
    }
    if (!ok)
        return false;
    if (ops == 1) {
        for (size_t i = 0; i < n->n; i += 2)
            if (!key_is(n->items[i], "icase"))
                return compile_op(c, find_op(n->items[i]), n->items[i + 1], scope, icase, p);
    }
    /* Several predicates in one map must all hold. */
    p->op = AZ_OP_ALL;
    p->kids = xcalloc(ops, sizeof *p->kids);
    if (!p->kids) {
        oom(c, n);
        return false;
    }
    for (size_t i = 0; i < n->n; i += 2) {
        if (key_is(n->items[i], "icase"))
            continue;
        ok = compile_op(c, find_op(n->items[i]), n->items[i + 1], scope, icase,
                        &p->kids[k++]) && ok;
        p->nkids = k;
    }
    return ok;
}

static bool compile_pred(cc *c, const az_node *n, const rule_scope *scope, az_pred *p)
{
    const char *ref = reference_kind(n);
    if (n->type == AZ_NODE_SCALAR) {
        p->op = AZ_OP_EQ;
        return add_literal(c, n, p);
    }
    if (n->type == AZ_NODE_SEQ || (ref && ref[0] == 'l')) {
        p->op = AZ_OP_IN;
        return compile_operand(c, n, FORM_LIST, scope, p);
    }
    if (ref)
        return compile_bare_param(c, n->items[1], scope, p);
    return compile_pred_map(c, n, scope, p);
}

static const struct {
    const char *name;
    az_field field;
} field_table[] = {
    {"identity", AZ_F_IDENTITY},
    {"roles", AZ_F_ROLES},
    {"task", AZ_F_TASK},
    {"tool", AZ_F_TOOL},
    {"resource", AZ_F_RESOURCE},
    {"destination", AZ_F_DESTINATION},
    {"labels", AZ_F_LABELS},
    {"session.labels", AZ_F_SESSION_LABELS},
    {"session.calls", AZ_F_SESSION_CALLS},
    {"session.age", AZ_F_SESSION_AGE},
    {"tool.sink", AZ_F_TOOL_SINK},
    {"tool.produces", AZ_F_TOOL_PRODUCES},
};

static const char *field_name(az_field f)
{
    for (size_t i = 0; i < sizeof field_table / sizeof field_table[0]; i++)
        if (field_table[i].field == f)
            return field_table[i].name;
    if (f == AZ_F_PAYLOAD)
        return "payload";
    return f == AZ_F_ARGS ? "args" : "session.params";
}

/* The derived fields: links(F), hosts(F), emails(F) (agentauthz-policy(5), LINKS IN TEXT). */
static const struct {
    const char *name;
    unsigned kind;
} derive_table[] = {{"links", AZ_X_URL}, {"hosts", AZ_X_HOST}, {"emails", AZ_X_EMAIL}};

static const char *derive_name(unsigned kind)
{
    for (size_t i = 0; i < sizeof derive_table / sizeof derive_table[0]; i++)
        if (derive_table[i].kind == kind)
            return derive_table[i].name;
    return NULL;
}

static const char *op_name(az_op op)
{
    for (size_t i = 0; i < sizeof op_table / sizeof op_table[0]; i++)
        if (op_table[i].op == op)
            return op_table[i].name;
    return "?";
}

static bool add_segment(cc *c, const az_node *k, az_cond *cond, const char *s, size_t len)
{
    if (len == 0 || len > AZ_MAX_NAME) {
        fail(c, k, "bad field \"%.128s\": empty or overlong path segment", k->str);
        return false;
    }
    cond->path[cond->npath] = xstrndup(s, len);
    if (!cond->path[cond->npath]) {
        oom(c, k);
        return false;
    }
    cond->plen[cond->npath++] = len;
    return true;
}

static bool parse_args_path(cc *c, const az_node *k, az_cond *cond)
{
    const char *s = k->str + 5, *end = k->str + k->len;
    size_t segments = 1;
    for (const char *q = s; q < end; q++)
        segments += *q == '.';
    if (segments > AZ_MAX_DEPTH) {
        fail(c, k, "argument path deeper than %d", AZ_MAX_DEPTH);
        return false;
    }
    cond->path = xcalloc(segments, sizeof *cond->path);
    cond->plen = xcalloc(segments, sizeof *cond->plen);
    if (!cond->path || !cond->plen) {
        oom(c, k);
        return false;
    }
    cond->field = AZ_F_ARGS;
    while (s <= end) {
        const char *dot = memchr(s, '.', (size_t)(end - s));
        size_t len = dot ? (size_t)(dot - s) : (size_t)(end - s);
        if (!add_segment(c, k, cond, s, len))
            return false;
        s += len + 1;
    }
    return true;
}

static bool parse_session_param(cc *c, const az_node *k, const rule_scope *scope,
                                az_cond *cond)
{
    az_node name = *k;
    name.str = k->str + 15;
    name.len = k->len - 15;
    if (scoped_param_type(c, &name, scope) < 0)
        return false;
    cond->field = AZ_F_SESSION_PARAM;
    cond->path = xcalloc(1, sizeof *cond->path);
    cond->plen = xcalloc(1, sizeof *cond->plen);
    if (!cond->path || !cond->plen) {
        oom(c, k);
        return false;
    }
    return add_segment(c, k, cond, name.str, name.len);
}

static bool parse_plain_field(cc *c, const az_node *k, const rule_scope *scope, az_cond *cond)
{
    for (size_t i = 0; i < sizeof field_table / sizeof field_table[0]; i++)
        if (key_is(k, field_table[i].name)) {
            cond->field = field_table[i].field;
            return true;
        }
    if (k->len > 5 && memcmp(k->str, "args.", 5) == 0)
        return parse_args_path(c, k, cond);
    if (k->len > 15 && memcmp(k->str, "session.params.", 15) == 0)
        return parse_session_param(c, k, scope, cond);
    if (key_is(k, "payload"))
        fail(c, k, "payload is read through links(payload), hosts(payload) or emails(payload)");
    else
        fail(c, k, "unknown field \"%.128s\" in where", k->str);
    return false;
}

/* The length of "links(", "hosts(" or "emails(" at the start of k, with its kind; or 0. */
static size_t derive_open(const az_node *k, unsigned *kind)
{
    for (size_t i = 0; i < sizeof derive_table / sizeof derive_table[0]; i++) {
        size_t n = strlen(derive_table[i].name);
        if (k->len > n && memcmp(k->str, derive_table[i].name, n) == 0 && k->str[n] == '(') {
            *kind = derive_table[i].kind;
            return n + 1;
        }
    }
    return 0;
}

/*
 * links(F), hosts(F), emails(F): F is a field that holds text, args.<path>,
 * destination, resource or payload, written without spaces.
 */
static bool parse_derived(cc *c, const az_node *k, size_t open, const rule_scope *scope,
                          az_cond *cond)
{
    const char *name = derive_name(cond->derive);
    az_node inner = *k;
    bool ok;
    if (k->str[k->len - 1] != ')') {
        fail(c, k, "%s( needs its closing parenthesis: %s(args.body)", name, name);
        return false;
    }
    if (!(inner.str = xstrndup(k->str + open, k->len - open - 1))) {
        oom(c, k);
        return false;
    }
    inner.len = k->len - open - 1;
    if (key_is(&inner, "payload")) {
        cond->field = AZ_F_PAYLOAD;
        ok = true;
    } else if (key_is(&inner, "destination") || key_is(&inner, "resource") ||
               (inner.len > 5 && memcmp(inner.str, "args.", 5) == 0)) {
        ok = parse_plain_field(c, &inner, scope, cond);
    } else {
        fail(c, k, "%s() reads args.<path>, destination, resource or payload, not \"%.128s\"",
             name, inner.str);
        ok = false;
    }
    free((char *)inner.str);
    return ok;
}

static bool parse_field(cc *c, const az_node *k, const rule_scope *scope, az_cond *cond)
{
    size_t open = derive_open(k, &cond->derive);
    if (open)
        return parse_derived(c, k, open, scope, cond);
    return parse_plain_field(c, k, scope, cond);
}

/*
 * Lint: a derived field is a list of strings, so some predicates on it are
 * most likely not what the author meant.
 */
static void lint_derived(cc *c, const az_node *k, const az_cond *cond)
{
    const az_pred *p = &cond->pred;
    const char *what = derive_name(cond->derive);
    if (p->op == AZ_OP_EQ)
        az_diag_warn(c->d, &k->mark,
                     "%.128s is a list: eq holds only when it holds at least one item and "
                     "every one equals the operand; to look for one, use has or some",
                     k->str);
    else if (p->op >= AZ_OP_LT && p->op <= AZ_OP_GTE)
        az_diag_warn(c->d, &k->mark, "%.128s holds strings: %s never holds", k->str,
                     op_name(p->op));
    else if (p->op == AZ_OP_TYPE && !(p->types & (1u << AGENTAUTHZ_LIST)))
        az_diag_warn(c->d, &k->mark, "%.128s is a list (or absent): this type never holds",
                     k->str);
    else if (p->op == AZ_OP_EXISTS && !p->flag)
        az_diag_warn(c->d, &k->mark,
                     "%.128s: exists: false holds when the field is absent, not when it holds "
                     "no %s; use len_lte: 0",
                     k->str, what);
}

static bool compile_where(cc *c, const az_node *n, const rule_scope *scope, az_where *w);

static bool compile_where_any(cc *c, const az_node *v, const rule_scope *scope, az_where *w)
{
    bool ok = true;
    if (!expect_seq(c, v, "any"))
        return false;
    if (v->n == 0) {
        fail(c, v, "any needs at least one condition group");
        return false;
    }
    w->any = xcalloc(v->n, sizeof *w->any);
    if (!w->any) {
        oom(c, v);
        return false;
    }
    for (size_t i = 0; i < v->n; i++, w->nany++)
        ok = compile_where(c, v->items[i], scope, &w->any[i]) && ok;
    return ok;
}

static bool compile_where(cc *c, const az_node *n, const rule_scope *scope, az_where *w)
{
    bool ok = true;
    if (!expect_map(c, n, "where"))
        return false;
    w->conds = xcalloc(n->n / 2, sizeof *w->conds);
    if (!w->conds) {
        oom(c, n);
        return false;
    }
    for (size_t i = 0; i < n->n; i += 2) {
        const az_node *k = n->items[i], *v = n->items[i + 1];
        if (key_is(k, "any")) {
            ok = compile_where_any(c, v, scope, w) && ok;
        } else if (key_is(k, "not")) {
            w->not_ = xcalloc(1, sizeof *w->not_);
            if (!w->not_) {
                oom(c, v);
                return false;
            }
            ok = compile_where(c, v, scope, w->not_) && ok;
        } else {
            az_cond *cond = &w->conds[w->nconds++];
            rule_scope here = *scope;
            if (parse_field(c, k, scope, cond)) {
                bool compiled;
                here.field = cond->field;
                here.derived = derive_name(cond->derive);
                c->resource_field = cond->field == AZ_F_RESOURCE && !cond->derive;
                /* policy.md, Values: over tool names '.' plays the role of '/'. */
                c->glob_mode = cond->field == AZ_F_TOOL ? AZ_GLOB_TOOL : AZ_GLOB_PATH;
                compiled = compile_pred(c, v, &here, &cond->pred);
                if (compiled && cond->derive)
                    lint_derived(c, k, cond);
                ok = compiled && ok;
                c->resource_field = false;
                c->glob_mode = AZ_GLOB_PATH;
            } else {
                ok = false;
            }
        }
    }
    return ok;
}

static bool compile_rule_effect(cc *c, const az_node *v, az_rule *r)
{
    if (is_string(v) && key_is(v, "allow"))
        r->effect = AGENTAUTHZ_ALLOW;
    else if (is_string(v) && key_is(v, "deny"))
        r->effect = AGENTAUTHZ_DENY;
    else if (is_string(v) && key_is(v, "ask"))
        r->effect = AGENTAUTHZ_ASK;
    else {
        fail(c, v, "effect must be allow, deny or ask");
        return false;
    }
    return true;
}

/* The slot of id (len bytes) in c->ids: the rule holding it, or an empty slot. */
static uint32_t *id_slot(const cc *c, const char *id, size_t len)
{
    size_t mask = c->ids_cap - 1;
    for (size_t i = (size_t)az_hash_bytes(id, len) & mask;; i = (i + 1) & mask) {
        const char *other;
        if (!c->ids[i])
            return &c->ids[i];
        other = c->p->rules[c->ids[i] - 1].id;
        if (strlen(other) == len && memcmp(other, id, len) == 0)
            return &c->ids[i];
    }
}

/* Whether one of the first upto rules has the id v. */
static bool id_taken(const cc *c, const az_node *v, size_t upto)
{
    if (c->ids)
        return *id_slot(c, v->str, v->len) != 0;
    for (size_t i = 0; i < upto; i++)
        if (c->p->rules[i].id && key_is(v, c->p->rules[i].id))
            return true;
    return false;
}

/* Records the id of rule index (set and unique), so that later rules see it. */
static void id_add(cc *c, size_t index)
{
    const char *id = c->p->rules[index].id;
    if (c->ids)
        *id_slot(c, id, strlen(id)) = (uint32_t)index + 1;
}

static bool rule_id_ok(cc *c, const az_node *v, size_t upto)
{
    static const char *const reserved[] = {"default", "limit", "leak", "session", "input"};
    if (!expect_name(c, v, "rule id"))
        return false;
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (key_is(v, reserved[i])) {
            fail(c, v, "rule id \"%s\" is reserved for the engine's own decisions", v->str);
            return false;
        }
    if (id_taken(c, v, upto)) {
        fail(c, v, "duplicate rule id \"%s\"", v->str);
        return false;
    }
    return true;
}

static void compile_rule_tasks(cc *c, const az_node *v, az_rule *r)
{
    if (!expect_seq(c, v, "tasks"))
        return;
    r->tasks = xcalloc(v->n, sizeof *r->tasks);
    if (!r->tasks) {
        oom(c, v);
        return;
    }
    for (size_t i = 0; i < v->n; i++) {
        const az_node *t = v->items[i];
        int idx;
        if (!expect_name(c, t, "task name"))
            continue;
        idx = az_policy_find_task(c->p, t->str);
        if (idx < 0)
            fail(c, t, "unknown task \"%s\"", t->str);
        else
            r->tasks[r->ntasks++] = (uint32_t)idx;
    }
}

static void compile_rule(cc *c, const az_node *n, az_rule *r, size_t index)
{
    static const char *const keys[] = {"id",    "effect", "tasks", "roles",
                                       "tools", "where",  "reason", NULL};
    const az_node *id = map_get(n, "id"), *effect = map_get(n, "effect"),
                  *tools = map_get(n, "tools"), *x;
    r->mark = n->mark;
    check_keys(c, n, "a rule", keys);
    if (!id)
        fail(c, n, "a rule needs an id");
    else if (rule_id_ok(c, id, index) && !(r->id = xstrndup(id->str, id->len)))
        oom(c, id);
    else if (r->id)
        id_add(c, index);
    if (!effect)
        fail(c, n, "a rule needs an effect (allow, deny or ask)");
    else
        compile_rule_effect(c, effect, r);
    if (!tools)
        fail(c, n, "a rule needs tools");
    else
        compile_tool_globs(c, tools, "tools", &r->tools, &r->ntools);
    if ((x = map_get(n, "tasks")) != NULL)
        compile_rule_tasks(c, x, r);
    if ((x = map_get(n, "roles")) != NULL)
        compile_roles(c, x, false, &r->roles, &r->nroles);
    if ((x = map_get(n, "reason")) != NULL) {
        if (!is_string(x) || x->len >= AGENTAUTHZ_REASON_MAX)
            fail(c, x, "reason must be a string of at most %d bytes",
                 AGENTAUTHZ_REASON_MAX - 1);
        else if (!(r->reason = xstrndup(x->str, x->len)))
            oom(c, x);
    }
    if ((x = map_get(n, "where")) != NULL) {
        rule_scope scope = {r->tasks, r->ntasks, index, AZ_F_IDENTITY, NULL};
        r->has_where = true;
        compile_where(c, x, &scope, &r->where);
    }
}

static void compile_rules(cc *c, const az_node *n, size_t file)
{
    if (!expect_seq(c, n, "rules"))
        return;
    for (size_t i = 0; i < n->n; i++) {
        az_rule *r = &c->p->rules[c->p->nrules];
        memset(r, 0, sizeof *r);
        r->file = file;
        c->p->nrules++;
        if (expect_map(c, n->items[i], "a rule"))
            compile_rule(c, n->items[i], r, c->p->nrules - 1);
    }
}

/* ---- top level ---- */

static void check_version(cc *c, const az_node *root)
{
    const az_node *v = map_get(root, "agentauthz");
    if (!v)
        fail(c, root, "missing \"agentauthz: 1\" (the format version)");
    else if (v->type != AZ_NODE_SCALAR || v->kind != AZ_SCALAR_INT || v->num != 1)
        fail(c, v, "unsupported format version: expected agentauthz: 1");
    if (!map_get(root, "rules"))
        fail(c, root, "missing rules (a list, may be empty)");
}

static void compile_name(cc *c, const az_node *v)
{
    if (!is_string(v) || v->len == 0 || v->len > AZ_MAX_NAME) {
        fail(c, v, "name must be a string of 1 to %d bytes", AZ_MAX_NAME);
        return;
    }
    if (c->p->name && strcmp(c->p->name, v->str) != 0) {
        fail(c, v, "name \"%s\" differs from \"%s\" given in another file", v->str,
             c->p->name);
        return;
    }
    if (!c->p->name && !(c->p->name = xstrndup(v->str, v->len)))
        oom(c, v);
}

/* audit: { clear_args: [NAME...] } names arguments the audit log shows in clear. */
static void compile_audit(cc *c, const az_node *n)
{
    static const char *const keys[] = {"clear_args", NULL};
    const az_node *list;
    char **grown;
    if (!expect_map(c, n, "audit"))
        return;
    check_keys(c, n, "audit", keys);
    if (!(list = map_get(n, "clear_args")) || !expect_seq(c, list, "clear_args"))
        return;
    grown = realloc(c->p->clear_args, (c->p->nclear + list->n + 1) * sizeof *grown);
    if (!grown) {
        oom(c, list);
        return;
    }
    c->p->clear_args = grown;
    for (size_t i = 0; i < list->n; i++)
        if (expect_name(c, list->items[i], "argument name") &&
            !(grown[c->p->nclear++] = xstrndup(list->items[i]->str, list->items[i]->len)))
            oom(c, list->items[i]);
}

static void pass1_file(cc *c, const az_node *root)
{
    static const char *const keys[] = {"agentauthz", "name",    "defaults", "identities",
                                       "lists",      "tools",   "secrets",  "tasks",
                                       "rules",      "audit",   NULL};
    if (!expect_map(c, root, "a policy document"))
        return;
    check_keys(c, root, "the policy", keys);
    check_version(c, root);
    for (size_t i = 0; i < root->n; i += 2) {
        const az_node *k = root->items[i], *v = root->items[i + 1];
        if (key_is(k, "name"))
            compile_name(c, v);
        else if (key_is(k, "defaults"))
            compile_defaults(c, v);
        else if (key_is(k, "identities"))
            compile_identities(c, v);
        else if (key_is(k, "lists"))
            collect_lists(c, v);
        else if (key_is(k, "tools"))
            compile_tools(c, v);
        else if (key_is(k, "secrets"))
            compile_secrets(c, v);
        else if (key_is(k, "audit"))
            compile_audit(c, v);
    }
}

static void pass1_tasks(cc *c, const az_node *root)
{
    const az_node *t = map_get(root, "tasks");
    if (t)
        compile_tasks(c, t);
}

static size_t count_rules(cc *c)
{
    size_t n = 0;
    for (size_t i = 0; i < c->nfiles; i++) {
        const az_node *r = c->roots[i] ? map_get(c->roots[i], "rules") : NULL;
        if (r && r->type == AZ_NODE_SEQ)
            n += r->n;
    }
    return n;
}

static void set_file(cc *c, size_t i)
{
    c->d->path = c->src[i].path;
}

/*
 * Sizes the id table for n rules. Failing is not an error: the duplicate
 * check then falls back to a scan, which is slower but gives the same answer.
 */
static void ids_alloc(cc *c, size_t n)
{
    size_t cap = 16;
    while (cap < n * 2 && cap < (SIZE_MAX >> 2))
        cap *= 2;
    c->ids = calloc(cap, sizeof *c->ids);
    c->ids_cap = c->ids ? cap : 0;
}

static void compile_all(cc *c)
{
    /* Secrets and roles must be known before tasks and rules refer to them. */
    for (size_t i = 0; i < c->nfiles; i++)
        if (c->roots[i]) {
            set_file(c, i);
            pass1_file(c, c->roots[i]);
        }
    for (size_t i = 0; i < c->nfiles; i++)
        if (c->roots[i] && c->roots[i]->type == AZ_NODE_MAP) {
            set_file(c, i);
            pass1_tasks(c, c->roots[i]);
        }
    c->p->rules = xcalloc(count_rules(c), sizeof *c->p->rules);
    if (!c->p->rules) {
        oom(c, NULL);
        return;
    }
    ids_alloc(c, count_rules(c));
    for (size_t i = 0; i < c->nfiles; i++) {
        const az_node *r = c->roots[i] ? map_get(c->roots[i], "rules") : NULL;
        set_file(c, i);
        if (r)
            compile_rules(c, r, i);
    }
}

static int hash_sources(const az_source *src, size_t n, char hex[65])
{
    crypto_generichash_state st;
    unsigned char h[32];
    if (crypto_generichash_init(&st, NULL, 0, sizeof h) != 0)
        return AGENTAUTHZ_ECRYPTO;
    for (size_t i = 0; i < n; i++) {
        unsigned char len[8];
        for (size_t b = 0; b < 8; b++)
            len[b] = (unsigned char)((uint64_t)src[i].len >> (8 * b));
        crypto_generichash_update(&st, len, sizeof len);
        crypto_generichash_update(&st, (const unsigned char *)src[i].text, src[i].len);
    }
    crypto_generichash_final(&st, h, sizeof h);
    sodium_bin2hex(hex, 65, h, sizeof h);
    return 0;
}

static int parse_sources(cc *c)
{
    int first = 0;
    for (size_t i = 0; i < c->nfiles; i++) {
        int rc;
        set_file(c, i);
        rc = az_yaml_parse(c->src[i].text, c->src[i].len, c->d, &c->roots[i]);
        if (rc && !first)
            first = rc;
    }
    return first;
}

static int record_files(cc *c)
{
    c->p->files = xcalloc(c->nfiles, sizeof *c->p->files);
    if (!c->p->files)
        return AGENTAUTHZ_ENOMEM;
    for (size_t i = 0; i < c->nfiles; i++) {
        const char *path = c->src[i].path ? c->src[i].path : "";
        if (!(c->p->files[i] = xstrndup(path, strlen(path))))
            return AGENTAUTHZ_ENOMEM;
        c->p->nfiles++;
    }
    return 0;
}

int az_policy_build_index(az_policy *p);

static void free_roots(cc *c)
{
    for (size_t i = 0; c->roots && i < c->nfiles; i++)
        az_node_free(c->roots[i]);
    free(c->roots);
    c->roots = NULL;
}

int az_policy_compile(const az_source *src, size_t n, az_diag *d, az_policy **out)
{
    cc c;
    int rc = AGENTAUTHZ_ENOMEM;
    const char *saved_path = d->path;
    size_t errors_before = d->errors;
    agentauthz_error first;
    *out = NULL;
    memset(&c, 0, sizeof c);
    c.d = d;
    c.src = src;
    c.nfiles = n;
    /* Counted from the start, so that the unref at out frees it on every path. */
    if ((c.p = calloc(1, sizeof *c.p)) != NULL)
        atomic_init(&c.p->refs, 1);
    c.roots = xcalloc(n, sizeof *c.roots);
    if (!c.p || !c.roots)
        goto out;
    c.p->session_ttl_s = 15 * 60;
    c.p->observe = (az_obs_limits){AZ_OBSERVE_MIN_LEN, AZ_OBSERVED_VALUES, AZ_OBSERVED_BYTES};
    if ((rc = record_files(&c)) != 0 || (rc = hash_sources(src, n, c.p->hash)) != 0)
        goto out;
    rc = parse_sources(&c);
    if (rc == 0)
        compile_all(&c);
    /*
     * The tree is freed before the index is built, not after: freeing walks
     * every node, and would push the new policy out of the cache just
     * before the first checks on it.
     */
    free_roots(&c);
    if (rc == 0 && d->errors == errors_before && (rc = az_policy_build_index(c.p)) != 0)
        az_diag_error(d, NULL, rc, "out of memory while indexing the policy");
    if (d->errors == errors_before) {
        az_policy_lint(c.p, d);
        *out = c.p;
        c.p = NULL;
        rc = 0;
    } else if (rc == 0) {
        rc = (d->first && d->first->code) ? d->first->code : AGENTAUTHZ_EPOLICY;
    }
out:
    AZ_UNUSED(first);
    /* A failure no finding explains (memory, hashing) still fills the caller's error. */
    if (rc && d->errors == errors_before)
        az_diag_error(d, NULL, rc, "%s", agentauthz_strerror(rc));
    free_roots(&c);
    free(c.list_keys);
    free(c.list_vals);
    free(c.ids);
    az_policy_unref(c.p);
    d->path = saved_path;
    return rc;
}

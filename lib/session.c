/*
 * Task sessions: opening (who may open what, with which parameters and
 * TTL), the per-check state (counters, labels, approvals) and the check
 * itself, which runs the engine's own decisions before the rules'.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "provenance.h"
#include "session.h"

/* ---- views: a session under one policy ---- */

static int view_roles(az_view *v, const az_policy *p, const char *identity)
{
    size_t words = p->nroles / 64 + 1, len = strlen(identity);
    bool admitted = !p->has_identities;
    v->role_bits = calloc(words, sizeof *v->role_bits);
    v->roles = agentauthz_value_list();
    if (!v->role_bits || !v->roles)
        return AGENTAUTHZ_ENOMEM;
    for (size_t i = 0; i < p->nidentities; i++) {
        const az_identity *id = &p->identities[i];
        if (!az_glob_match(&id->match, identity, len))
            continue;
        admitted = true;
        for (size_t j = 0; j < id->nroles; j++)
            v->role_bits[id->roles[j] / 64] |= UINT64_C(1) << (id->roles[j] % 64);
    }
    for (size_t r = 0; r < p->nroles; r++)
        if ((v->role_bits[r / 64] & (UINT64_C(1) << (r % 64))) &&
            agentauthz_value_list_append(v->roles, agentauthz_value_string(p->roles[r])) != 0)
            return AGENTAUTHZ_ENOMEM;
    if (!admitted)
        snprintf(v->refused, sizeof v->refused, "identity matches no identities entry");
    return 0;
}

static bool holds_task_role(const az_view *v, const az_task *t)
{
    if (t->nroles == 0)
        return true;
    for (size_t i = 0; i < t->nroles; i++)
        if (v->role_bits[t->roles[i] / 64] & (UINT64_C(1) << (t->roles[i] % 64)))
            return true;
    return false;
}

void az_view_clear(az_view *v)
{
    az_policy_unref(v->p);
    free(v->role_bits);
    agentauthz_value_free(v->roles);
    memset(v, 0, sizeof *v);
}

/*
 * Resolves the session's task and roles under p (taking a reference to p).
 * A policy that refuses the session is not an error: v->refused says why.
 */
int az_view_build(az_view *v, az_policy *p, const char *identity, const char *task)
{
    int rc;
    memset(v, 0, sizeof *v);
    az_policy_ref(p);
    v->p = p;
    v->task = az_policy_find_task(p, task);
    rc = view_roles(v, p, identity);
    if (rc) {
        az_view_clear(v);
        return rc;
    }
    if (v->task < 0)
        snprintf(v->refused, sizeof v->refused, "task \"%.100s\" is not in the policy", task);
    else if (!v->refused[0] && !holds_task_role(v, &p->tasks[v->task]))
        snprintf(v->refused, sizeof v->refused,
                 "identity holds none of the roles of task \"%.100s\"", task);
    return 0;
}

/* ---- parameters ---- */

static bool param_type_ok(const agentauthz_value *v, agentauthz_type want)
{
    if (v->type != want)
        return false;
    for (size_t i = 0; want == AGENTAUTHZ_LIST && i < v->u.list.n; i++) {
        agentauthz_type t = v->u.list.items[i]->type;
        if (t != AGENTAUTHZ_STRING && t != AGENTAUTHZ_NUMBER && t != AGENTAUTHZ_BOOL)
            return false;
    }
    return true;
}

static const char *type_name(agentauthz_type t)
{
    static const char *const names[] = {"null", "bool", "number", "string", "list", "map"};
    return names[t];
}

static int check_uses(const az_view *v, const agentauthz_value *params, agentauthz_error *err);

static int check_params(const az_view *view, const agentauthz_value *params,
                        agentauthz_error *err)
{
    const az_task *t = &view->p->tasks[view->task];
    size_t given = params ? agentauthz_value_length(params) : 0;
    if (params && params->type != AGENTAUTHZ_MAP)
        return az_error_set(err, AGENTAUTHZ_EPARAM, "", 0, 0, 0, "params must be a map");
    for (size_t i = 0; i < t->nparams; i++) {
        const az_param_decl *pd = &t->params[i];
        const agentauthz_value *v = params ? agentauthz_value_map_get(params, pd->name) : NULL;
        if (pd->optional && (!v || v->type == AGENTAUTHZ_NULL))
            continue; /* absent: no predicate over it holds (az_param_absent) */
        if (!v)
            return az_error_set(err, AGENTAUTHZ_EPARAM, "", 0, 0, 0,
                                "task \"%s\" needs parameter \"%s\" (%s)", t->name, pd->name,
                                type_name(pd->type));
        if (!param_type_ok(v, pd->type))
            return az_error_set(err, AGENTAUTHZ_EPARAM, "", 0, 0, 0,
                                "parameter \"%s\" must be a %s%s", pd->name,
                                type_name(pd->type),
                                pd->type == AGENTAUTHZ_LIST ? " of scalars" : "");
    }
    for (size_t i = 0; i < given; i++) {
        const char *key = agentauthz_value_map_key(params, i);
        bool declared = false;
        for (size_t j = 0; j < t->nparams && !declared; j++)
            declared = strcmp(t->params[j].name, key) == 0;
        if (!declared)
            return az_error_set(err, AGENTAUTHZ_EPARAM, "", 0, 0, 0,
                                "task \"%s\" does not declare parameter \"%.128s\"", t->name,
                                key);
    }
    return check_uses(view, params, err);
}

/*
 * ---- parameters used as operands ----
 *
 * A parameter that stands for a glob, CIDR, domain or length bound is held
 * to what the literal in its place is held to at load, when the session
 * opens: a session whose parameter could never be evaluated does not open,
 * rather than denying every check as "a condition could not be evaluated".
 */

static bool rule_has_task(const az_rule *r, int task)
{
    for (size_t i = 0; i < r->ntasks; i++)
        if ((int)r->tasks[i] == task)
            return true;
    return false;
}

static const char *use_what(az_op op)
{
    switch (op) {
    case AZ_OP_GLOB: return "a glob";
    case AZ_OP_CIDR: return "a CIDR";
    case AZ_OP_DOMAIN: return "a domain";
    case AZ_OP_LEN_LTE: return "a length bound";
    default: return "a string";
    }
}

/* 0 when x can stand for the operand of op; -1 with why; ENOMEM. */
static int operand_ok(az_op op, const agentauthz_value *x, char *why, size_t cap)
{
    char msg[160];
    az_glob g;
    az_cidr cidr;
    az_domain dom;
    int rc;
    if (op == AZ_OP_LEN_LTE) {
        double n = x->type == AGENTAUTHZ_NUMBER ? x->u.num : -1;
        if (n >= 0 && n <= AZ_EXACT_INT_LIMIT && n == (double)(uint64_t)n)
            return 0;
        snprintf(why, cap, "expected a non-negative integer");
        return -1;
    }
    if (x->type != AGENTAUTHZ_STRING) {
        snprintf(why, cap, "expected a string");
        return -1;
    }
    switch (op) {
    case AZ_OP_GLOB:
        rc = az_glob_compile(&g, x->u.str.p, x->u.str.len, AZ_GLOB_PATH, false, msg, sizeof msg);
        if (rc == 0)
            az_glob_free(&g);
        else if (rc != AGENTAUTHZ_ENOMEM)
            snprintf(why, cap, "%s", msg);
        return rc;
    case AZ_OP_CIDR:
        if (az_cidr_parse(&cidr, x->u.str.p, x->u.str.len) == 0)
            return 0;
        snprintf(why, cap, "expected an address/prefix such as 10.0.0.0/8");
        return -1;
    case AZ_OP_DOMAIN:
        if (az_domain_prepare(&dom, x->u.str.p, x->u.str.len) == 0)
            return 0;
        snprintf(why, cap, "expected a host name or IP address");
        return -1;
    default: return 0;
    }
}

/* One use: the value, or each item of a list value. */
static int check_use(const az_policy *p, const az_param_use *u, const agentauthz_value *v,
                     agentauthz_error *err)
{
    const az_rule *r = &p->rules[u->rule];
    const char *file = r->file < p->nfiles ? p->files[r->file] : "";
    char why[200], item[48] = "";
    int rc = 0;
    size_t n = v->type == AGENTAUTHZ_LIST ? v->u.list.n : 1, i;
    for (i = 0; i < n && rc == 0; i++)
        rc = operand_ok(u->op, v->type == AGENTAUTHZ_LIST ? v->u.list.items[i] : v, why,
                        sizeof why);
    if (rc == AGENTAUTHZ_ENOMEM)
        return az_error_set(err, rc, "", 0, 0, 0, "out of memory");
    if (rc == 0)
        return 0;
    if (v->type == AGENTAUTHZ_LIST)
        snprintf(item, sizeof item, " (item %zu)", i);
    return az_error_set(err, AGENTAUTHZ_EPARAM, file, u->mark.line, u->mark.column,
                        u->mark.offset,
                        "parameter \"%s\"%s, used as %s by rule \"%s\" at %s:%lu:%lu: %s",
                        u->param, item, use_what(u->op), r->id ? r->id : "?", file,
                        u->mark.line, u->mark.column, why);
}

static int check_uses(const az_view *v, const agentauthz_value *params, agentauthz_error *err)
{
    const az_policy *p = v->p;
    for (size_t i = 0; i < p->nparam_uses; i++) {
        const az_param_use *u = &p->param_uses[i];
        const agentauthz_value *x;
        int rc;
        if (!rule_has_task(&p->rules[u->rule], v->task))
            continue;
        x = params ? az_value_map_getn(params, u->param, strlen(u->param)) : NULL;
        if (x && x->type != AGENTAUTHZ_NULL && (rc = check_use(p, u, x, err)) != 0)
            return rc;
    }
    return 0;
}

/* ---- opening ---- */

static uint64_t clamp_ttl_ns(const az_policy *p, const az_task *t, uint64_t requested_ns)
{
    uint64_t ttl = requested_ns ? requested_ns : p->session_ttl_s * 1000000000u;
    if (t->max_ttl_s && ttl > t->max_ttl_s * 1000000000u)
        ttl = t->max_ttl_s * 1000000000u;
    if (p->max_session_ttl_s && ttl > p->max_session_ttl_s * 1000000000u)
        ttl = p->max_session_ttl_s * 1000000000u;
    return ttl;
}

static int refuse_open(const az_view *v, agentauthz_error *err)
{
    int code = v->task < 0 ? AGENTAUTHZ_ENOTASK : AGENTAUTHZ_EIDENTITY;
    return az_error_set(err, code, "", 0, 0, 0, "%s", v->refused);
}

static void secrets_free(agentauthz_session *s)
{
    for (size_t i = 0; i < s->nsecrets; i++) {
        if (s->secrets[i].slot)
            az_secpool_release(s->secrets[i].slot);
        free(s->secrets[i].name);
    }
    free(s->secrets);
    az_leak_ref_unref(s->leaks);
}

static void session_free(agentauthz_session *s)
{
    secrets_free(s);
    az_prov_free(s->prov);
    for (size_t i = 0; i < s->ntools; i++)
        az_glob_free(&s->tools[i]);
    free(s->tools);
    free(s->children);
    az_session_unref(s->parent);
    az_view_clear(&s->view);
    for (size_t i = 0; i < s->ncounters; i++)
        free(s->counters[i].tool);
    free(s->counters);
    free(s->approvals);
    agentauthz_value_free(s->labels);
    agentauthz_value_free(s->params);
    az_arena_free(&s->derived);
    free(s->identity);
    free(s->task);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

void az_session_unref(agentauthz_session *s)
{
    if (s && atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1)
        session_free(s);
}

/*
 * 128 random bits in hex, from the engine's generator rather than a
 * getrandom call, which would cost as much as the rest of an open.
 */
static void new_id(agentauthz_session *s, agentauthz_engine *e)
{
    unsigned char rnd[16];
    az_secpool_random(e->pool, rnd, sizeof rnd);
    sodium_bin2hex(s->id, sizeof s->id, rnd, sizeof rnd);
}

/* A new session of e's, with its id; not yet linked into e. */
agentauthz_session *az_session_alloc(agentauthz_engine *e, const char *identity,
                                     const char *task, const agentauthz_value *params)
{
    agentauthz_session *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    atomic_init(&s->refs, 1);
    if (pthread_mutex_init(&s->lock, NULL) != 0) {
        free(s);
        return NULL;
    }
    s->identity = strdup(identity);
    s->task = strdup(task);
    s->labels = agentauthz_value_list();
    s->params = params ? agentauthz_value_copy(params) : agentauthz_value_map();
    if (!s->identity || !s->task || !s->labels || !s->params) {
        session_free(s);
        return NULL;
    }
    new_id(s, e);
    return s;
}

static void engine_link(agentauthz_engine *e, agentauthz_session *s)
{
    pthread_mutex_lock(&e->lock);
    s->e = e;
    s->next = e->sessions;
    if (e->sessions)
        e->sessions->prev = s;
    e->sessions = s;
    pthread_mutex_unlock(&e->lock);
}

static bool bounded_string(const char *s, size_t max)
{
    return s && memchr(s, '\0', max + 1) != NULL;
}

/*
 * An identity that says it is a SPIFFE ID must be one: a glob of one star
 * after "spiffe://td/agents/" would otherwise admit "spiffe://td/agents/"
 * or "spiffe://td/agents/..", which no SPIFFE issuer hands out.
 */
int az_identity_check(const char *identity, agentauthz_error *err)
{
    char why[200];
    if (az_spiffe_check(identity, why, sizeof why) == 0)
        return 0;
    return az_error_set(err, AGENTAUTHZ_EIDENTITY, "", 0, 0, 0, "invalid SPIFFE ID \"%.200s%s\": %s",
                        identity, strlen(identity) > 200 ? "..." : "", why);
}

int az_session_refuse_or_check(const az_view *v, const agentauthz_value *params,
                               agentauthz_error *err)
{
    if (v->refused[0])
        return refuse_open(v, err);
    return check_params(v, params, err);
}

uint64_t az_clamp_ttl_ns(const az_policy *p, int task, uint64_t requested_ns)
{
    return clamp_ttl_ns(p, &p->tasks[task], requested_ns);
}

int agentauthz_session_open(agentauthz_engine *e, const char *identity, const char *task,
                            const agentauthz_session_options *opt, agentauthz_session **out,
                            agentauthz_error *err)
{
    return az_session_open(e, identity, task, opt, true, out, err);
}

int az_session_open(agentauthz_engine *e, const char *identity, const char *task,
                    const agentauthz_session_options *opt, bool issue, agentauthz_session **out,
                    agentauthz_error *err)
{
    agentauthz_session *s = NULL;
    az_policy *p = NULL;
    az_view view;
    int rc;
    if (out)
        *out = NULL;
    if (!e || !out || !bounded_string(identity, 4096) || !bounded_string(task, AZ_MAX_NAME))
        return az_error_set(err, AGENTAUTHZ_EINVAL, "", 0, 0, 0,
                            "need an engine, an identity (at most 4096 bytes) and a task");
    if ((rc = az_identity_check(identity, err)) != 0)
        return rc;
    if (!(p = az_engine_policy_ref(e)))
        return az_error_set(err, AGENTAUTHZ_ENOPOLICY, "", 0, 0, 0, "no policy is loaded");
    rc = az_view_build(&view, p, identity, task);
    az_policy_unref(p);
    if (rc)
        return az_error_set(err, rc, "", 0, 0, 0, "out of memory");
    if (view.refused[0]) {
        rc = refuse_open(&view, err);
        goto fail;
    }
    if ((rc = check_params(&view, opt ? opt->params : NULL, err)) != 0)
        goto fail;
    if (!(s = az_session_alloc(e, identity, task, opt ? opt->params : NULL))) {
        rc = az_error_set(err, AGENTAUTHZ_ENOMEM, "", 0, 0, 0, "out of memory");
        goto fail;
    }
    s->view = view;
    s->e = e;
    s->opened_ns = az_engine_now(e);
    s->ttl_ns = clamp_ttl_ns(view.p, &view.p->tasks[view.task], opt ? opt->ttl_ns : 0);
    s->no_secrets = !issue;
    return az_session_start(s, out, err);
fail:
    az_view_clear(&view);
    return rc;
}

static void abort_open(agentauthz_session *s);

/*
 * Issues the secrets of a session set up by open or delegate, and links it.
 * A session whose open record cannot be written does not open: its secrets,
 * checks and approvals would belong to no session in the log.
 */
int az_session_start(agentauthz_session *s, agentauthz_session **out, agentauthz_error *err)
{
    int rc = s->parent || s->no_secrets ? 0 : az_secrets_issue(s, err);
    if (rc) {
        s->e = NULL;
        az_session_unref(s);
        return rc;
    }
    engine_link(s->e, s);
    if ((rc = az_audit_session(s, AZ_AUDIT_OPEN, NULL, NULL, NULL)) != 0) {
        abort_open(s);
        return az_error_set(err, rc, "", 0, 0, 0, "the session's open record could not be written");
    }
    *out = s;
    return 0;
}

const char *agentauthz_session_id(const agentauthz_session *s)
{
    return s ? s->id : NULL;
}

/* ---- ending ---- */

/* The live children of s, each with a reference; the caller holds s->lock. */
static agentauthz_session **take_children(agentauthz_session *s, size_t *n)
{
    agentauthz_session **kids = NULL;
    *n = 0;
    if (s->nchildren && (kids = calloc(s->nchildren, sizeof *kids)) != NULL)
        for (size_t i = 0; i < s->nchildren; i++) {
            atomic_fetch_add_explicit(&s->children[i]->refs, 1, memory_order_relaxed);
            kids[(*n)++] = s->children[i];
        }
    return kids;
}

/*
 * Ends an open session with state and reason; the caller holds s->lock.
 * Its secrets are destroyed at once, and so are its descendants: a parent
 * takes its children's locks under its own, never the other way round.
 */
void az_session_end(agentauthz_session *s, az_state state, const char *why)
{
    static const az_audit_kind kinds[] = {AZ_AUDIT_OPEN, AZ_AUDIT_CLOSE, AZ_AUDIT_REVOKE,
                                          AZ_AUDIT_EXPIRE};
    agentauthz_session **kids;
    size_t n;
    if (s->state != AZ_OPEN)
        return;
    s->state = state;
    snprintf(s->ended_why, sizeof s->ended_why, "%s", why);
    az_secrets_destroy(s);
    az_audit_session(s, kinds[state], NULL, NULL, NULL);
    kids = take_children(s, &n);
    for (size_t i = 0; i < n; i++) {
        pthread_mutex_lock(&kids[i]->lock);
        az_session_end(kids[i], AZ_REVOKED, "parent session ended");
        pthread_mutex_unlock(&kids[i]->lock);
        az_session_unref(kids[i]);
    }
    free(kids);
}

int agentauthz_session_revoke(agentauthz_session *s)
{
    if (!s)
        return AGENTAUTHZ_EINVAL;
    pthread_mutex_lock(&s->lock);
    az_session_end(s, AZ_REVOKED, "session revoked");
    pthread_mutex_unlock(&s->lock);
    return 0;
}

static void engine_unlink(agentauthz_session *s)
{
    agentauthz_engine *e = s->e;
    if (!e)
        return;
    pthread_mutex_lock(&e->lock);
    if (s->prev)
        s->prev->next = s->next;
    else if (e->sessions == s)
        e->sessions = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->prev = s->next = NULL;
    s->e = NULL;
    pthread_mutex_unlock(&e->lock);
}

static void parent_unlink(agentauthz_session *s)
{
    agentauthz_session *p = s->parent;
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    for (size_t i = 0; i < p->nchildren; i++)
        if (p->children[i] == s) {
            p->children[i] = p->children[--p->nchildren];
            break;
        }
    pthread_mutex_unlock(&p->lock);
}

/* Ends a session whose open was not recorded, with no close record either. */
static void abort_open(agentauthz_session *s)
{
    pthread_mutex_lock(&s->lock);
    s->state = AZ_CLOSED;
    snprintf(s->ended_why, sizeof s->ended_why, "session closed");
    az_secrets_destroy(s);
    pthread_mutex_unlock(&s->lock);
    parent_unlink(s);
    engine_unlink(s);
    az_session_unref(s);
}

void agentauthz_session_close(agentauthz_session *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    az_session_end(s, AZ_CLOSED, "session closed");
    pthread_mutex_unlock(&s->lock);
    parent_unlink(s);
    engine_unlink(s);
    az_session_unref(s);
}

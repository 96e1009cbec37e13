/*
 * agentauthz_check: the engine's own decisions (session state, limits),
 * then the rules', then what an allow does to the session (labels) and what
 * a deny does (revocation under on_deny: revoke). Approvals turn an ask
 * into an allow for one exact action.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "session.h"

static void copy_bounded(char *dst, size_t cap, const char *src)
{
    size_t n = src ? strlen(src) : 0;
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src ? src : "", n);
    dst[n] = '\0';
}

static void decide(agentauthz_decision *d, agentauthz_effect effect, const char *rule,
                   const char *reason)
{
    d->effect = effect;
    copy_bounded(d->rule, sizeof d->rule, rule);
    copy_bounded(d->reason, sizeof d->reason, reason);
}

/* Fail-closed until decided; constant sizes, so the copies compile to a few stores. */
static void decide_internal_error(agentauthz_decision *d)
{
    static const char rule[] = "default", reason[] = "internal error";
    d->effect = AGENTAUTHZ_DENY;
    memcpy(d->rule, rule, sizeof rule);
    memcpy(d->reason, reason, sizeof reason);
}

const char *agentauthz_effect_name(agentauthz_effect effect)
{
    switch (effect) {
    case AGENTAUTHZ_ALLOW: return "allow";
    case AGENTAUTHZ_ASK: return "ask";
    default: return "deny";
    }
}

/* ---- session state ---- */

/* Moves the session onto the policy in force, if a reload replaced it; s->lock is held. */
int az_session_refresh_view(agentauthz_session *s)
{
    az_policy *cur = atomic_load_explicit(&s->e->policy, memory_order_acquire);
    az_view fresh;
    int rc;
    if (cur == s->view.p)
        return 0;
    if (!(cur = az_engine_policy_ref(s->e)))
        return AGENTAUTHZ_ENOPOLICY;
    rc = az_view_build(&fresh, cur, s->identity, s->task);
    az_policy_unref(cur);
    if (rc)
        return rc;
    az_view_clear(&s->view);
    s->view = fresh;
    return 0;
}

/* The engine's step 1: a session that ended, or that the policy no longer admits. */
static bool session_refused(agentauthz_session *s, uint64_t now, agentauthz_decision *d)
{
    if (s->state == AZ_OPEN && now - s->opened_ns >= s->ttl_ns)
        az_session_end(s, AZ_EXPIRED, "session expired");
    if (s->state == AZ_OPEN && s->view.refused[0])
        az_session_end(s, AZ_REVOKED, s->view.refused);
    if (s->state == AZ_OPEN)
        return false;
    decide(d, AGENTAUTHZ_DENY, "session", s->ended_why);
    return true;
}

static az_counter *tool_counter(agentauthz_session *s, const char *tool)
{
    az_counter *grown;
    for (size_t i = 0; i < s->ncounters; i++)
        if (strcmp(s->counters[i].tool, tool) == 0)
            return &s->counters[i];
    grown = realloc(s->counters, (s->ncounters + 1) * sizeof *grown);
    if (!grown)
        return NULL;
    s->counters = grown;
    grown[s->ncounters].tool = strdup(tool);
    grown[s->ncounters].n = 0;
    if (!grown[s->ncounters].tool)
        return NULL;
    return &grown[s->ncounters++];
}

/*
 * The engine's step 2. Every check counts, denied ones too; per-tool
 * counters exist only for the tools the task limits, so that a check of an
 * unlimited tool never allocates.
 */
static int limits_exceeded(agentauthz_session *s, const agentauthz_action *a,
                           agentauthz_decision *d)
{
    const az_task *t = &s->view.p->tasks[s->view.task];
    char why[AGENTAUTHZ_REASON_MAX];
    for (size_t i = 0; i < t->nper_tool; i++) {
        az_counter *c;
        if (strcmp(t->per_tool[i].tool, a->tool.p) != 0)
            continue;
        if (!(c = tool_counter(s, a->tool.p)))
            return AGENTAUTHZ_ENOMEM;
        if (++c->n > t->per_tool[i].limit) {
            snprintf(why, sizeof why, "%.128s limited to %llu calls per session", a->tool.p,
                     (unsigned long long)t->per_tool[i].limit);
            decide(d, AGENTAUTHZ_DENY, "limit", why);
            return 1;
        }
    }
    if (t->has_calls && s->calls > t->calls) {
        snprintf(why, sizeof why, "session limited to %llu calls",
                 (unsigned long long)t->calls);
        decide(d, AGENTAUTHZ_DENY, "limit", why);
        return 1;
    }
    return 0;
}

/* ---- approvals ---- */

static int hash_string(crypto_generichash_state *st, const char *s, size_t len, bool present)
{
    agentauthz_value v = az_value_view_string(s ? s : "", len);
    unsigned char tag = present;
    crypto_generichash_update(st, &tag, 1);
    return present ? az_value_hash(&v, st) : 0;
}

static int hash_value(crypto_generichash_state *st, const agentauthz_value *v)
{
    unsigned char tag = v != NULL;
    crypto_generichash_update(st, &tag, 1);
    return v ? az_value_hash(v, st) : 0;
}

/* The identity of an action for approvals: tool, resource, destinations, arguments. */
static int action_hash(const agentauthz_action *a, unsigned char out[32])
{
    crypto_generichash_state st;
    int rc;
    crypto_generichash_init(&st, NULL, 0, 32);
    rc = hash_string(&st, a->tool.p, a->tool.len, true);
    if (!rc)
        rc = hash_string(&st, a->resource.p, a->resource.len, a->has_resource);
    if (!rc)
        rc = hash_value(&st, a->dest);
    if (!rc)
        rc = hash_value(&st, a->args);
    crypto_generichash_final(&st, out, 32);
    return rc;
}

static az_approval *find_approval(agentauthz_session *s, const unsigned char h[32])
{
    for (size_t i = 0; i < s->napprovals; i++)
        if (sodium_memcmp(s->approvals[i].hash, h, 32) == 0)
            return &s->approvals[i];
    return NULL;
}

/*
 * What an allowed check changes in its session, held back until the check
 * stands (its audit record written): a one-time approval is used up and the
 * allow is noted for leases only then, and the labels added tentatively are
 * taken back if it turns into a deny. A denied or failed check changes
 * nothing but the counters that every check moves.
 */
typedef struct az_pending {
    size_t approval;      /* index of the one-time approval it uses, or SIZE_MAX */
    size_t labels_before; /* length of session.labels before it, or SIZE_MAX */
} az_pending;

#define AZ_PENDING_INIT {SIZE_MAX, SIZE_MAX}

/* Whether a pending approval covers the action; a one-time one is noted in pend, not used up. */
static int take_approval(agentauthz_session *s, const agentauthz_action *a, bool *approved,
                         az_pending *pend)
{
    unsigned char h[32];
    az_approval *ap;
    int rc;
    *approved = false;
    if (s->napprovals == 0)
        return 0;
    if ((rc = action_hash(a, h)) != 0)
        return rc;
    if (!(ap = find_approval(s, h)))
        return 0;
    *approved = true;
    if (ap->scope == AGENTAUTHZ_APPROVE_ONCE)
        pend->approval = (size_t)(ap - s->approvals);
    return 0;
}

/*
 * Where an approval of h with scope would go: an existing entry (widened to
 * the session when scope says so) or a new one at s->approvals[s->napprovals].
 * Changes nothing the checks see; the caller holds s->lock.
 */
static int approval_slot(agentauthz_session *s, const unsigned char h[32], az_approval **ap)
{
    if ((*ap = find_approval(s, h)) != NULL)
        return 0;
    if (s->napprovals >= AZ_MAX_APPROVALS)
        return AGENTAUTHZ_ELIMIT;
    if (!s->approvals && !(s->approvals = calloc(AZ_MAX_APPROVALS, sizeof *s->approvals)))
        return AGENTAUTHZ_ENOMEM;
    return 0;
}

/*
 * An approval takes effect only once its audit record is written: a host
 * whose approve failed must be able to rely on the action still being an
 * ask, and the log must hold a record for every approval that was used.
 */
int agentauthz_approve(agentauthz_session *s, const agentauthz_action *a,
                       agentauthz_approval scope)
{
    unsigned char h[32];
    az_approval *ap = NULL;
    int rc;
    if (!s || !a || !a->tool.len ||
        (scope != AGENTAUTHZ_APPROVE_ONCE && scope != AGENTAUTHZ_APPROVE_SESSION))
        return AGENTAUTHZ_EINVAL;
    if ((rc = action_hash(a, h)) != 0)
        return rc;
    pthread_mutex_lock(&s->lock);
    if ((rc = approval_slot(s, h, &ap)) == 0 && s->e)
        rc = az_audit_session(s, AZ_AUDIT_APPROVE, a, NULL, NULL);
    if (!rc && ap && scope == AGENTAUTHZ_APPROVE_SESSION) {
        ap->scope = scope;
    } else if (!rc && !ap) {
        memcpy(s->approvals[s->napprovals].hash, h, 32);
        s->approvals[s->napprovals++].scope = scope;
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* ---- labels ---- */

static bool has_label(const agentauthz_value *labels, const agentauthz_value *l)
{
    for (size_t i = 0; i < labels->u.list.n; i++)
        if (az_value_equal(labels->u.list.items[i], l))
            return true;
    return false;
}

static int add_labels(agentauthz_session *s, const agentauthz_value *from)
{
    for (size_t i = 0; from && i < from->u.list.n; i++) {
        const agentauthz_value *l = from->u.list.items[i];
        if (has_label(s->labels, l))
            continue;
        if (s->labels->u.list.n >= AZ_MAX_LABELS)
            return AGENTAUTHZ_ELIMIT;
        if (agentauthz_value_list_append(s->labels, agentauthz_value_copy(l)) != 0)
            return AGENTAUTHZ_ENOMEM;
    }
    return 0;
}

/* Takes back the labels added after the first n. */
static void labels_truncate(agentauthz_session *s, size_t n)
{
    agentauthz_value *l = s->labels;
    while (l->u.list.n > n)
        agentauthz_value_free(l->u.list.items[--l->u.list.n]);
}

/*
 * After an allow, the session has read what the tool produces and what the
 * inputs carried. All or nothing: labels past the session's bound (or out
 * of memory) deny the action and leave session.labels as it was, so that a
 * denied action never taints the session.
 */
static int taint_session(agentauthz_session *s, const az_eval *ev, az_pending *pend,
                         agentauthz_decision *d)
{
    size_t before = s->labels->u.list.n;
    int rc = add_labels(s, ev->entry ? ev->entry->produces : NULL);
    if (!rc)
        rc = add_labels(s, ev->a->labels);
    if (!rc) {
        pend->labels_before = before;
        return 0;
    }
    labels_truncate(s, before);
    if (rc == AGENTAUTHZ_ELIMIT) {
        char why[AGENTAUTHZ_REASON_MAX];
        snprintf(why, sizeof why, "the action's labels would take the session past %d labels",
                 AZ_MAX_LABELS);
        decide(d, AGENTAUTHZ_DENY, "session", why);
        return 0;
    }
    decide(d, AGENTAUTHZ_DENY, "session", "the session's labels could not be recorded");
    return rc;
}

/* The check stands as decided: an allow takes its approval and is noted for leases. */
static void settle(agentauthz_session *s, const agentauthz_action *a, const agentauthz_decision *d,
                   const az_pending *pend)
{
    if (d->effect != AGENTAUTHZ_ALLOW) {
        if (pend->labels_before != SIZE_MAX)
            labels_truncate(s, pend->labels_before);
        return;
    }
    if (pend->approval != SIZE_MAX)
        s->approvals[pend->approval] = s->approvals[--s->napprovals];
    az_secrets_note_allowed(s, d->seq, a);
}

/* ---- the check ---- */

static void decide_default(agentauthz_session *s, agentauthz_decision *d)
{
    const az_task *t = &s->view.p->tasks[s->view.task];
    decide(d, t->ask_otherwise ? AGENTAUTHZ_ASK : AGENTAUTHZ_DENY, "default",
           "no rule matched");
}

/* How restrictive an effect is: deny < ask < allow. */
static int strength(agentauthz_effect e)
{
    return e == AGENTAUTHZ_ALLOW ? 2 : e == AGENTAUTHZ_ASK ? 1 : 0;
}

static bool tool_delegated(const agentauthz_session *s, const agentauthz_action *a)
{
    return !s->tools || az_globs_match(s->tools, s->ntools, a->tool.p, a->tool.len);
}

/* The delegation step: a tool outside the session's delegated tools is denied. */
static bool undelegated_tool(const agentauthz_session *s, const agentauthz_action *a,
                             agentauthz_decision *d)
{
    if (tool_delegated(s, a))
        return false;
    decide(d, AGENTAUTHZ_DENY, "session", "tool not delegated to this session");
    return true;
}

/*
 * Input no rule should see (agentauthz-policy(5), PATHS): a path-like
 * resource or path argument that climbs above its root or holds a byte a
 * glob cannot be written for. A deny with the engine's rule "input".
 */
static void decide_input(const az_eval *ev, agentauthz_decision *d)
{
    char why[AGENTAUTHZ_REASON_MAX];
    if (ev->input_arg)
        snprintf(why, sizeof why, "argument \"%.128s\": %s", ev->input_arg, ev->input_why);
    else
        snprintf(why, sizeof why, "resource: %s", ev->input_why);
    decide(d, AGENTAUTHZ_DENY, "input", why);
}

/*
 * defaults: {uncatalogued_tools: deny}: a tool the catalogue does not list
 * is denied before the rules, since nobody said which of its arguments are
 * resources or destinations (agentauthz-policy(5)).
 */
static bool uncatalogued_tool(const az_eval *ev, agentauthz_decision *d)
{
    char why[AGENTAUTHZ_REASON_MAX];
    if (ev->entry || !ev->s->view.p->deny_uncatalogued)
        return false;
    snprintf(why, sizeof why, "tool \"%.128s\" is not in the policy's catalogue", ev->a->tool.p);
    decide(d, AGENTAUTHZ_DENY, "catalogue", why);
    return true;
}

/*
 * Policy.md's step 4: the matching rules' verdict, or the task's default.
 * Returns 0, or the internal error (out of memory) that forced a deny.
 */
static int rules_verdict(agentauthz_session *s, az_eval *ev, agentauthz_decision *d)
{
    const az_rule *rule = NULL;
    agentauthz_effect effect;
    if (az_eval_rules(ev, &rule, &effect) != 0)
        decide(d, AGENTAUTHZ_DENY, rule ? rule->id : "default",
               ev->eval_why ? ev->eval_why
                            : "a condition could not be evaluated (invalid parameter pattern, "
                              "missing parameter, a value whose host cidr or domain cannot "
                              "read, or provenance the session dropped)");
    else if (!rule)
        decide_default(s, d);
    else
        decide(d, effect, rule->id, rule->reason);
    return ev->eval_err;
}

/*
 * The values a catalogued tool's check is made for (agentauthz-policy(5),
 * "Resource and destination arguments"): the resources (the action's own
 * first, then the catalogued arguments'), and the destinations as one list
 * (the action's own items, then the arguments') followed by each of them
 * alone (as a list of one). Views into the action; at most one allocation.
 */
typedef struct az_values {
    const agentauthz_value **res; /* nres resource values */
    size_t nres;
    const agentauthz_value **dst; /* ndst destination values */
    size_t ndst;
    agentauthz_value all; /* a list view on dst */
    const agentauthz_value **mem; /* small, or the heap when more are needed */
    const agentauthz_value *small[32];
} az_values;

static int values_collect(const az_eval *ev, az_values *vals)
{
    const az_tool_entry *t = ev->entry;
    const agentauthz_value *hd = ev->a->dest;
    size_t nhost = !hd ? 0 : hd->type == AGENTAUTHZ_LIST ? hd->u.list.n : 1;
    size_t nres = az_eval_arg_values(ev, t->resources, t->nresources, NULL, SIZE_MAX);
    size_t ndst = az_eval_arg_values(ev, t->dests, t->ndests, NULL, SIZE_MAX);
    size_t need = nres + nhost + ndst; /* each at most AZ_MAX_ARG_VALUES */
    vals->mem = vals->small;
    if (need > sizeof vals->small / sizeof *vals->small &&
        !(vals->mem = calloc(need, sizeof *vals->mem)))
        return AGENTAUTHZ_ENOMEM;
    vals->res = vals->mem;
    vals->nres = az_eval_arg_values(ev, t->resources, t->nresources, vals->res, nres);
    vals->dst = vals->mem + nres;
    vals->ndst = az_eval_arg_values(ev, t->dests, t->ndests, vals->dst + nhost, ndst);
    if (!vals->ndst) /* no catalogued destination: the action's, as it is */
        return 0;
    for (size_t i = 0; i < nhost; i++)
        vals->dst[i] = hd->type == AGENTAUTHZ_LIST ? hd->u.list.items[i] : hd;
    vals->ndst += nhost;
    memset(&vals->all, 0, sizeof vals->all);
    vals->all.type = AGENTAUTHZ_LIST;
    vals->all.u.list.items = (agentauthz_value **)vals->dst;
    vals->all.u.list.n = vals->all.u.list.cap = vals->ndst;
    return 0;
}

/* Keeps in best the more restrictive of best and d; the earlier on a tie. */
static void keep_stricter(agentauthz_decision *best, const agentauthz_decision *d, bool first)
{
    if (first || strength(d->effect) < strength(best->effect))
        decide(best, d->effect, d->rule, d->reason);
}

/* The destination variants of one resource: the list, then each value. 0 or an error. */
static int dest_verdicts(agentauthz_session *s, az_eval *ev, const az_values *vals,
                         agentauthz_decision *best, bool *first)
{
    agentauthz_decision d;
    agentauthz_value one = vals->all; /* a list of one: count rules still count recipients */
    int rc;
    for (size_t j = 0; j <= vals->ndst; j++) {
        if (j > 0) {
            one.u.list.items = (agentauthz_value **)&vals->dst[j - 1];
            one.u.list.n = one.u.list.cap = 1;
        }
        if (vals->ndst)
            ev->dest = j == 0 ? &vals->all : &one;
        ev->eval_why = NULL;
        ev->eval_err = 0;
        d.seq = 0;
        rc = rules_verdict(s, ev, &d);
        keep_stricter(best, &d, *first);
        *first = false;
        if (rc || best->effect == AGENTAUTHZ_DENY)
            return rc ? rc : 1;
        if (!vals->ndst)
            break;
    }
    return 0;
}

/*
 * The rules' verdict over every value of a catalogued tool's resource and
 * destination arguments: the most restrictive, the first deny ending it.
 * Pure, like rules_verdict: the check's effects are made once, by the
 * caller, for the decision it returns.
 */
static int values_verdict(agentauthz_session *s, az_eval *ev, agentauthz_decision *d)
{
    az_values vals;
    bool first = true;
    size_t nres;
    int rc = values_collect(ev, &vals);
    if (rc) {
        decide(d, AGENTAUTHZ_DENY, "default", "internal error");
        return rc;
    }
    /* The action's own resource (or none) first, unless only arguments give one. */
    nres = vals.nres + (ev->a->has_resource || !vals.nres);
    for (size_t i = 0, skip = nres - vals.nres; i < nres && !rc; i++) {
        az_eval_set_resource(ev, i < skip ? NULL : vals.res[i - skip]);
        rc = dest_verdicts(s, ev, &vals, d, &first);
    }
    az_eval_set_resource(ev, NULL);
    ev->dest = ev->a->dest;
    if (vals.mem != vals.small)
        free(vals.mem);
    return rc > 0 ? 0 : rc;
}

/* rules_verdict, per value for a tool whose catalogue entry names resource or destination args. */
static int rules_verdict_all(agentauthz_session *s, az_eval *ev, agentauthz_decision *d)
{
    if (!ev->entry || (!ev->entry->nresources && !ev->entry->ndests) || !ev->a->args)
        return rules_verdict(s, ev, d);
    return values_verdict(s, ev, d);
}

/* The rules' verdict in s, changing nothing; the caller holds s->lock. */
static int dry_run(agentauthz_session *s, const agentauthz_action *a, agentauthz_decision *d)
{
    uint64_t now = az_engine_now(s->e);
    az_eval ev;
    int rc;
    if ((rc = az_session_refresh_view(s)) != 0 || session_refused(s, now, d) ||
        undelegated_tool(s, a, d))
        return rc;
    if (az_eval_init(&ev, s, a, now)) {
        decide_input(&ev, d);
        return 0;
    }
    if (uncatalogued_tool(&ev, d))
        return 0;
    return rules_verdict_all(s, &ev, d);
}

/*
 * What the ancestors of a delegated session say about the action: the most
 * restrictive of their verdicts. Each ancestor is locked alone, before the
 * child, so that locks are only ever nested parent over child.
 */
static int ancestors_verdict(agentauthz_session *parent, const agentauthz_action *a,
                             agentauthz_decision *verdict)
{
    decide(verdict, AGENTAUTHZ_ALLOW, "", "");
    for (agentauthz_session *p = parent; p; p = p->parent) {
        agentauthz_decision d;
        int rc;
        decide(&d, AGENTAUTHZ_DENY, "session", "parent session ended");
        pthread_mutex_lock(&p->lock);
        rc = p->e ? dry_run(p, a, &d) : 0;
        pthread_mutex_unlock(&p->lock);
        if (rc)
            return rc;
        if (strength(d.effect) < strength(verdict->effect)) {
            char reason[AGENTAUTHZ_REASON_MAX];
            snprintf(reason, sizeof reason, "delegated from a parent session: %.470s", d.reason);
            decide(verdict, d.effect, d.rule, reason);
        }
    }
    return 0;
}

static int decide_by_rules(agentauthz_session *s, az_eval *ev, const agentauthz_decision *up,
                           agentauthz_decision *d, az_pending *pend)
{
    bool approved;
    int rc;
    if ((rc = rules_verdict_all(s, ev, d)) != 0)
        return rc;
    if (up && strength(up->effect) < strength(d->effect))
        decide(d, up->effect, up->rule, up->reason);
    if (d->effect == AGENTAUTHZ_ASK) {
        if ((rc = take_approval(s, ev->a, &approved, pend)) != 0)
            return rc;
        if (approved)
            decide(d, AGENTAUTHZ_ALLOW, d->rule, "approved by the host");
    }
    return 0;
}

static bool revokes_on_deny(const agentauthz_session *s)
{
    const az_task *t = &s->view.p->tasks[s->view.task];
    return t->on_deny < 0 ? s->view.p->revoke_on_deny : t->on_deny == 1;
}

/* Policy.md's decision steps 2 to 4, once the session is known to be live. */
static int decide_live(agentauthz_session *s, const agentauthz_action *a,
                       const agentauthz_decision *up, uint64_t now, agentauthz_decision *d,
                       az_pending *pend)
{
    az_eval ev;
    int rc;
    if ((rc = limits_exceeded(s, a, d)) != 0)
        return rc < 0 ? rc : 0;
    if (undelegated_tool(s, a, d) || az_secrets_scan(s, a, d))
        return 0;
    if (az_eval_init(&ev, s, a, now)) {
        decide_input(&ev, d);
        return 0;
    }
    if (uncatalogued_tool(&ev, d))
        return 0;
    if ((rc = decide_by_rules(s, &ev, up, d, pend)) != 0)
        return rc;
    if (d->effect != AGENTAUTHZ_ALLOW)
        return 0;
    return taint_session(s, &ev, pend, d);
}

static int check_locked(agentauthz_session *s, const agentauthz_action *a,
                        const agentauthz_decision *up, agentauthz_decision *d,
                        az_pending *pend)
{
    uint64_t now = az_engine_now(s->e);
    int rc;
    if ((rc = az_session_refresh_view(s)) != 0 || session_refused(s, now, d))
        return rc;
    if (s->nsecrets)
        az_secrets_expire(s, now);
    d->seq = ++s->calls;
    return decide_live(s, a, up, now, d, pend);
}

int agentauthz_check(agentauthz_session *s, const agentauthz_action *a,
                     agentauthz_decision *d)
{
    agentauthz_decision up;
    az_pending pend = AZ_PENDING_INIT;
    int rc = 0;
    if (!d)
        return AGENTAUTHZ_EINVAL;
    decide_internal_error(d);
    d->seq = 0;
    if (!s || !a || !a->tool.len) {
        decide(d, AGENTAUTHZ_DENY, "default", "invalid session or action");
        return AGENTAUTHZ_EINVAL;
    }
    if (s->parent && (rc = ancestors_verdict(s->parent, a, &up)) != 0)
        return rc;
    pthread_mutex_lock(&s->lock);
    if (s->e)
        rc = check_locked(s, a, s->parent ? &up : NULL, d, &pend);
    else
        decide(d, AGENTAUTHZ_DENY, "session", "session closed");
    if (rc) {
        d->effect = AGENTAUTHZ_DENY;
        copy_bounded(d->reason, sizeof d->reason, "internal error");
    }
    if (s->e && az_audit_session(s, AZ_AUDIT_CHECK, a, d, NULL) != 0 &&
        d->effect != AGENTAUTHZ_DENY) {
        decide(d, AGENTAUTHZ_DENY, "default", "the audit record could not be written");
        rc = AGENTAUTHZ_EIO;
    }
    if (s->e)
        settle(s, a, d, &pend);
    if (d->effect == AGENTAUTHZ_DENY && s->state == AZ_OPEN && s->view.p &&
        s->view.task >= 0 && revokes_on_deny(s))
        az_session_end(s, AZ_REVOKED, "session revoked after a deny (on_deny: revoke)");
    pthread_mutex_unlock(&s->lock);
    return rc;
}

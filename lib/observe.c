/*
 * agentauthz_session_observe: a tool's output, recorded for the session
 * (and its ancestors) under labels, so that later checks can ask where an
 * argument's value came from (agentauthz-policy(5), PROVENANCE).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "leak_private.h"
#include "provenance.h"
#include "session.h"

#define MAX_NAMES (2 * AZ_PROV_MAX_LABELS)

/* The labels of one observation: the caller's, then the catalogue's for the tool. */
typedef struct obs_labels {
    const char *names[MAX_NAMES];
    size_t n;
} obs_labels;

static bool label_seen(const obs_labels *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->names[i], name) == 0)
            return true;
    return false;
}

static int check_labels(const char *const *labels, size_t n, obs_labels *out,
                        agentauthz_error *err)
{
    if (n > AZ_PROV_MAX_LABELS || (n && !labels))
        return az_error_set(err, AGENTAUTHZ_EINVAL, "", 0, 0, 0,
                            "at most %d labels, none NULL", AZ_PROV_MAX_LABELS);
    for (size_t i = 0; i < n; i++) {
        const char *l = labels[i];
        if (!l || !az_name_valid(l, strnlen(l, AZ_MAX_NAME + 1)))
            return az_error_set(err, AGENTAUTHZ_EINVAL, "", 0, 0, 0,
                                "label %zu is not a name (1 to 128 of A-Z a-z 0-9 _ . : -)",
                                i);
        if (strcmp(l, "param") == 0)
            return az_error_set(err, AGENTAUTHZ_EINVAL, "", 0, 0, 0,
                                "\"param\" is not an output label: it stands for the "
                                "session's task parameters");
        if (!label_seen(out, l))
            out->names[out->n++] = l;
    }
    return 0;
}

/* The catalogue's output labels of the action's tool, added to l; the caller holds s->lock. */
static void catalogue_labels(const agentauthz_session *s, const agentauthz_action *a,
                             obs_labels *l)
{
    const az_tool_index *idx;
    const agentauthz_value *out;
    if (!a || !a->tool.len || !s->view.p)
        return;
    idx = az_policy_lookup_tool(s->view.p, a->tool.p, a->tool.len);
    out = idx && idx->entry ? idx->entry->output : NULL;
    for (size_t i = 0; out && i < out->u.list.n && l->n < MAX_NAMES; i++)
        if (!label_seen(l, out->u.list.items[i]->u.str.p))
            l->names[l->n++] = out->u.list.items[i]->u.str.p;
}

static az_obs_limits task_limits(const agentauthz_session *s)
{
    const az_view *v = &s->view;
    az_obs_limits lim = {AZ_OBSERVE_MIN_LEN, AZ_OBSERVED_VALUES, AZ_OBSERVED_BYTES};
    if (v->p && v->task >= 0)
        lim = v->p->tasks[v->task].observe;
    return lim;
}

/* The engine's live secrets with a reference (az_leak_ref_unref), or NULL. */
static az_leak_ref *leaks_ref(agentauthz_engine *e)
{
    az_leak_ref *r;
    pthread_mutex_lock(&e->lock);
    r = atomic_load_explicit(&e->leaks, memory_order_acquire);
    if (r)
        atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
    pthread_mutex_unlock(&e->lock);
    return r;
}

/* What an observation needs from its session, read under its lock. */
typedef struct obs_setup {
    obs_labels labels;
    az_obs_limits lim;
    az_leak_ref *leaks;
} obs_setup;

static int setup(agentauthz_session *s, const agentauthz_action *a, obs_setup *su,
                 agentauthz_error *err)
{
    int rc = 0;
    pthread_mutex_lock(&s->lock);
    if (!s->e || s->state != AZ_OPEN || az_engine_now(s->e) - s->opened_ns >= s->ttl_ns)
        rc = az_error_set(err, AGENTAUTHZ_ESESSION, "", 0, 0, 0, "the session has ended");
    /* The catalogue's labels and the bounds are the policy's in force, as for a check. */
    if (!rc && (rc = az_session_refresh_view(s)) != 0) {
        s->observe_lost = true; /* output that could not be recorded: checks fail closed */
        rc = az_error_set(err, rc, "", 0, 0, 0, "the session's policy view could not be rebuilt");
    }
    if (!rc && s->view.refused[0])
        rc = az_error_set(err, AGENTAUTHZ_ESESSION, "", 0, 0, 0, "%s", s->view.refused);
    if (!rc) {
        catalogue_labels(s, a, &su->labels);
        su->lim = task_limits(s);
        su->leaks = leaks_ref(s->e);
    }
    pthread_mutex_unlock(&s->lock);
    if (!rc && su->labels.n == 0)
        rc = az_error_set(err, AGENTAUTHZ_EINVAL, "", 0, 0, 0,
                          "no label for this output: pass labels, or give the tool output "
                          "labels in the policy's catalogue");
    return rc;
}

/* Adds the prepared observation to one session's index; the caller holds s->lock. */
static int record_in(agentauthz_session *s, const obs_setup *su, az_obs *o, bool copy,
                     size_t *indexed)
{
    uint64_t mask;
    int rc;
    az_obs_limits lim = task_limits(s);
    *indexed = 0;
    if (o->n == 0 && o->dropped == 0)
        return 0; /* nothing worth an index (short values only) */
    if (!s->prov && !(s->prov = az_prov_new(&lim))) {
        s->observe_lost = true; /* no index to mark: from_op reads this instead */
        return AGENTAUTHZ_ENOMEM;
    }
    if ((rc = az_prov_labels(s->prov, su->labels.names, su->labels.n, &mask)) != 0) {
        /* Not recorded: what a from would have found is missing. */
        az_prov_mark_dropped(s->prov, o->n ? o->n : 1);
        return rc;
    }
    return az_prov_add(s->prov, o, mask, copy, indexed);
}

/*
 * Into the session's ancestors (each locked alone, as checks lock them),
 * then the session: what a sub-agent has read, its parents' rules see too.
 * The first error is returned, but every session gets what could be recorded.
 */
static int record_all(agentauthz_session *s, const obs_setup *su, az_obs *o, size_t *indexed)
{
    int first = 0;
    for (agentauthz_session *p = s->parent; p; p = p->parent) {
        size_t n;
        int rc;
        pthread_mutex_lock(&p->lock);
        rc = p->e ? record_in(p, su, o, true, &n) : 0;
        pthread_mutex_unlock(&p->lock);
        if (rc && !first)
            first = rc;
    }
    pthread_mutex_lock(&s->lock);
    {
        int rc = s->e ? record_in(s, su, o, false, indexed) : AGENTAUTHZ_ESESSION;
        if (rc && !first)
            first = rc;
    }
    pthread_mutex_unlock(&s->lock);
    return first;
}

static void join_labels(const obs_labels *l, char *buf, size_t cap)
{
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < l->n && off < cap; i++) {
        int n = snprintf(buf + off, cap - off, "%s%s", i ? "," : "", l->names[i]);
        if (n < 0)
            break;
        off += (size_t)n;
    }
}

static int audit(agentauthz_session *s, const agentauthz_action *a, const obs_setup *su,
                 const agentauthz_value *output, size_t indexed, int rc)
{
    char labels[300], reason[AGENTAUTHZ_REASON_MAX];
    size_t items, bytes;
    uint64_t dropped;
    int arc;
    if (!s->e || !atomic_load_explicit(&s->e->audit, memory_order_acquire))
        return 0; /* no log: no record to build, no lock to take */
    join_labels(&su->labels, labels, sizeof labels);
    pthread_mutex_lock(&s->lock);
    az_prov_stats(s->prov, &items, &bytes, &dropped);
    snprintf(reason, sizeof reason,
             "labels %s: %zu values indexed%s; session: %zu values, %zu bytes, %llu dropped",
             labels, indexed, rc ? " (some dropped)" : "", items, bytes,
             (unsigned long long)dropped);
    arc = az_audit_observe(s, a && a->tool.len ? a->tool.p : NULL, output, reason);
    pthread_mutex_unlock(&s->lock);
    return arc;
}

static int observe(agentauthz_session *s, const agentauthz_action *a, const char *text,
                   size_t len, const agentauthz_value *value, const char *const *labels,
                   size_t nlabels, agentauthz_error *err)
{
    obs_setup su;
    az_obs o;
    agentauthz_value view;
    size_t indexed = 0;
    int rc, arc;
    memset(&su, 0, sizeof su);
    if (!s || (!text && !value && len) || (a && !a->tool.len))
        return az_error_set(err, AGENTAUTHZ_EINVAL, "", 0, 0, 0,
                            "need a session, output, and an action with a tool (or NULL)");
    if (!value && len > AZ_MAX_INPUT)
        return az_error_set(err, AGENTAUTHZ_ELIMIT, "", 0, 0, 0,
                            "output over %u bytes", AZ_MAX_INPUT);
    if ((rc = check_labels(labels, nlabels, &su.labels, err)) != 0 ||
        (rc = setup(s, a, &su, err)) != 0)
        return rc;
    az_obs_init(&o, &su.lim, su.leaks ? su.leaks->set : NULL);
    if (value)
        az_obs_add_value(&o, value);
    else
        az_obs_add_text(&o, text ? text : "", len);
    rc = record_all(s, &su, &o, &indexed);
    az_obs_free(&o);
    az_leak_ref_unref(su.leaks);
    view = az_value_view_string(text ? text : "", value ? 0 : len);
    arc = audit(s, a, &su, value ? value : &view, indexed, rc);
    if (rc)
        return az_error_set(err, rc, "", 0, 0, 0,
                            "the output could not be recorded whole (%s): from and not_from "
                            "checks that do not find their value now fail closed",
                            agentauthz_strerror(rc));
    if (arc)
        return az_error_set(err, arc, "", 0, 0, 0,
                            "the observe record could not be written to the audit log");
    return 0;
}

int agentauthz_session_observe(agentauthz_session *s, const agentauthz_action *a,
                               const void *output, size_t len, const char *const *labels,
                               size_t nlabels, agentauthz_error *err)
{
    return observe(s, a, output, len, NULL, labels, nlabels, err);
}

int agentauthz_session_observe_value(agentauthz_session *s, const agentauthz_action *a,
                                     const agentauthz_value *output,
                                     const char *const *labels, size_t nlabels,
                                     agentauthz_error *err)
{
    if (!output)
        return az_error_set(err, AGENTAUTHZ_EINVAL, "", 0, 0, 0, "need an output value");
    return observe(s, a, NULL, 0, output, labels, nlabels, err);
}

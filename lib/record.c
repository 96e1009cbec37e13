/*
 * Audit records of the engine's events: builds the event from the session,
 * action and decision, and hands it to the audit log when one is set.
 */
#include <stdio.h>
#include <string.h>

#include "leak_private.h"
#include "session.h"

/* Redacts a clear-logged argument that holds a live secret. */
static bool holds_secret(const char *s, size_t len, void *ctx)
{
    const az_leak_ref *r = ctx;
    az_leak_hit hit;
    return r && len && az_leak_scan(r->set, s, len, &hit) == 1;
}

/*
 * The action as given, and the resource as the rules saw it when path
 * normalisation changed it (into buf, AZ_MAX_PATH + 1 bytes): the record
 * shows both what the agent asked for and what was checked.
 */
static void describe_action(az_audit_event *ev, const agentauthz_action *a, char *buf)
{
    const char *p;
    size_t n;
    if (!a)
        return;
    ev->tool = a->tool.p;
    ev->resource = a->has_resource ? a->resource.p : NULL;
    ev->destination = a->dest;
    ev->args = a->args;
    if (!a->has_resource || az_path_normalize_resource(a->resource.p, a->resource.len, buf,
                                                       AZ_MAX_PATH, &p, &n) != NULL ||
        p != buf)
        return;
    buf[n] = '\0';
    ev->resource_checked = buf;
}

static void describe_policy(az_audit_event *ev, const az_policy *p)
{
    if (!p)
        return;
    ev->policy_name = p->name;
    ev->policy_hash = p->hash;
    ev->clear_args = (const char *const *)p->clear_args;
    ev->nclear = p->nclear;
}

static int emit(agentauthz_engine *e, az_audit_event *ev)
{
    int rc = 0;
    /* Without a log a check takes no engine-wide lock at all. */
    if (!atomic_load_explicit(&e->audit, memory_order_acquire))
        return 0;
    pthread_rwlock_rdlock(&e->audit_lock);
    if (e->audit) {
        ev->time_ns = az_engine_wall(e);
        ev->engine = e->name;
        rc = az_audit_emit(e->audit, ev);
    }
    pthread_rwlock_unlock(&e->audit_lock);
    return rc;
}

static void describe_session(az_audit_event *ev, agentauthz_session *s, az_audit_kind kind)
{
    memset(ev, 0, sizeof *ev);
    ev->kind = kind;
    ev->session = s->id;
    ev->parent = s->parent ? s->parent->id : NULL;
    ev->identity = s->identity;
    ev->task = s->task;
    ev->scan = holds_secret;
    ev->scan_ctx = s->leaks;
    describe_policy(ev, s->view.p);
}

int az_audit_session(agentauthz_session *s, az_audit_kind kind, const agentauthz_action *a,
                     const agentauthz_decision *d, const char *secret)
{
    az_audit_event ev;
    char checked[AZ_MAX_PATH + 1];
    /* Without a log, a check builds no event (emit looks again under the lock). */
    if (!s->e || !atomic_load_explicit(&s->e->audit, memory_order_acquire))
        return 0;
    describe_session(&ev, s, kind);
    ev.secret = secret;
    describe_action(&ev, a, checked);
    if (kind == AZ_AUDIT_CLOSE || kind == AZ_AUDIT_REVOKE || kind == AZ_AUDIT_EXPIRE)
        ev.reason = s->ended_why;
    if (d) {
        ev.decision = agentauthz_effect_name(d->effect);
        ev.rule = d->rule;
        ev.reason = d->reason;
        ev.check_seq = d->seq;
    }
    return emit(s->e, &ev);
}

int az_session_audit_lease(agentauthz_session *s, const agentauthz_action *a,
                           const char *secret, int rc, const agentauthz_error *err)
{
    agentauthz_decision d;
    int arc;
    memset(&d, 0, sizeof d);
    d.effect = rc ? AGENTAUTHZ_DENY : AGENTAUTHZ_ALLOW;
    strcpy(d.rule, "lease");
    if (rc && err)
        snprintf(d.reason, sizeof d.reason, "%s", err->message);
    pthread_mutex_lock(&s->lock);
    arc = az_audit_session(s, rc ? AZ_AUDIT_LEASE_REFUSED : AZ_AUDIT_LEASE, a, &d, secret);
    pthread_mutex_unlock(&s->lock);
    return arc;
}

/*
 * An observation: the tool, and the output as one argument "output" that
 * is always digested (the policy's clear_args do not apply), so that no
 * observed value reaches the log in clear; reason says what was indexed.
 */
int az_audit_observe(agentauthz_session *s, const char *tool, const agentauthz_value *output,
                     const char *reason)
{
    az_audit_event ev;
    az_kv kv = {(char *)"output", 6, (agentauthz_value *)output};
    agentauthz_value args;
    if (!s->e || !atomic_load_explicit(&s->e->audit, memory_order_acquire))
        return 0;
    describe_session(&ev, s, AZ_AUDIT_OBSERVE);
    memset(&args, 0, sizeof args);
    args.type = AGENTAUTHZ_MAP;
    args.u.map.items = &kv;
    args.u.map.n = args.u.map.cap = 1;
    ev.tool = tool;
    ev.args = &args;
    ev.clear_args = NULL;
    ev.nclear = 0;
    ev.reason = reason;
    return emit(s->e, &ev);
}

void az_audit_engine(agentauthz_engine *e, az_audit_kind kind)
{
    az_audit_event ev;
    az_policy *p = az_engine_policy_ref(e);
    memset(&ev, 0, sizeof ev);
    ev.kind = kind;
    describe_policy(&ev, p);
    emit(e, &ev);
    az_policy_unref(p);
}

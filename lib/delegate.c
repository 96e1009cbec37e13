/*
 * Delegation to sub-agents, and the downstream check of an action carried
 * with a task token.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session.h"

static int copy_tools(agentauthz_session *child, const agentauthz_delegate_options *opt,
                      agentauthz_error *err)
{
    if (!opt || !opt->tools)
        return 0;
    if (opt->ntools == 0 || opt->ntools > AZ_MAX_ITEMS)
        return az_error_set(err, AGENTAUTHZ_EINVAL, "", 0, 0, 0,
                            "delegated tools must be a non-empty list");
    if (!(child->tools = calloc(opt->ntools, sizeof *child->tools)))
        return az_error_set(err, AGENTAUTHZ_ENOMEM, "", 0, 0, 0, "out of memory");
    for (size_t i = 0; i < opt->ntools; i++, child->ntools++) {
        char msg[160];
        const char *t = opt->tools[i];
        if (!t || az_glob_compile(&child->tools[i], t, strlen(t), AZ_GLOB_TOOL, false, msg,
                                  sizeof msg) != 0)
            return az_error_set(err, AGENTAUTHZ_EINVAL, "", 0, 0, 0, "bad delegated tool: %s",
                                t ? msg : "NULL");
    }
    return 0;
}

/* Links the child under the parent, which must still be open. */
static int adopt(agentauthz_session *parent, agentauthz_session *child, agentauthz_error *err)
{
    agentauthz_session **grown;
    if (parent->state != AZ_OPEN)
        return az_error_set(err, AGENTAUTHZ_ESESSION, "", 0, 0, 0, "%s", parent->ended_why);
    grown = realloc(parent->children, (parent->nchildren + 1) * sizeof *grown);
    if (!grown)
        return az_error_set(err, AGENTAUTHZ_ENOMEM, "", 0, 0, 0, "out of memory");
    parent->children = grown;
    grown[parent->nchildren++] = child;
    atomic_fetch_add_explicit(&parent->refs, 1, memory_order_relaxed);
    child->parent = parent;
    child->depth = parent->depth + 1;
    return 0;
}

static void disown(agentauthz_session *parent, agentauthz_session *child)
{
    for (size_t i = 0; i < parent->nchildren; i++)
        if (parent->children[i] == child) {
            parent->children[i] = parent->children[--parent->nchildren];
            return;
        }
}

/* Sets up the child under the parent's lock: TTL, tools, secrets, links. */
static int delegate_locked(agentauthz_session *parent, agentauthz_session *child,
                           const agentauthz_delegate_options *opt, agentauthz_error *err)
{
    uint64_t now = az_engine_now(parent->e), parent_end = parent->opened_ns + parent->ttl_ns;
    int rc;
    if (parent->depth + 1 >= AGENTAUTHZ_DELEGATION_DEPTH_MAX)
        return az_error_set(err, AGENTAUTHZ_ELIMIT, "", 0, 0, 0,
                            "delegation deeper than %d levels", AGENTAUTHZ_DELEGATION_DEPTH_MAX);
    if (parent->state != AZ_OPEN || now >= parent_end)
        return az_error_set(err, AGENTAUTHZ_ESESSION, "", 0, 0, 0, "the parent session has ended");
    child->e = parent->e;
    child->opened_ns = now;
    child->ttl_ns = az_clamp_ttl_ns(child->view.p, child->view.task, opt ? opt->ttl_ns : 0);
    if (child->ttl_ns > parent_end - now)
        child->ttl_ns = parent_end - now;
    if ((rc = copy_tools(child, opt, err)) != 0 || (rc = adopt(parent, child, err)) != 0)
        return rc;
    if ((rc = az_secrets_inherit(child, parent, opt, err)) != 0) {
        disown(parent, child);
        return rc;
    }
    return 0;
}

int agentauthz_session_delegate(agentauthz_session *parent, const char *identity,
                                const char *task, const agentauthz_delegate_options *opt,
                                agentauthz_session **out, agentauthz_error *err)
{
    agentauthz_session *child;
    az_policy *p;
    az_view view;
    int rc;
    if (out)
        *out = NULL;
    if (!parent || !parent->e || !identity || !task || !out ||
        (opt && opt->version != AGENTAUTHZ_DELEGATE_OPTIONS_VERSION))
        return az_error_set(err, AGENTAUTHZ_EINVAL, "", 0, 0, 0, "missing argument");
    if ((rc = az_identity_check(identity, err)) != 0)
        return rc;
    if (!(p = az_engine_policy_ref(parent->e)))
        return az_error_set(err, AGENTAUTHZ_ENOPOLICY, "", 0, 0, 0, "no policy is loaded");
    rc = az_view_build(&view, p, identity, task);
    az_policy_unref(p);
    if (rc)
        return az_error_set(err, rc, "", 0, 0, 0, "out of memory");
    if ((rc = az_session_refuse_or_check(&view, opt ? opt->params : NULL, err)) != 0 ||
        !(child = az_session_alloc(parent->e, identity, task, opt ? opt->params : NULL))) {
        az_view_clear(&view);
        return rc ? rc : az_error_set(err, AGENTAUTHZ_ENOMEM, "", 0, 0, 0, "out of memory");
    }
    child->view = view;
    pthread_mutex_lock(&parent->lock);
    rc = delegate_locked(parent, child, opt, err);
    pthread_mutex_unlock(&parent->lock);
    if (rc) {
        child->e = NULL;
        az_session_unref(child);
        return rc;
    }
    return az_session_start(child, out, err);
}

/* ---- downstream: a check carried by a task token ---- */

/* 1 when one of the token's tools matches the action's, 0 when none does, or an error. */
static int token_names_tool(const agentauthz_token_claims *c, const agentauthz_action *a)
{
    for (size_t i = 0; i < c->tools_count; i++) {
        az_glob g;
        char msg[64];
        bool match;
        int rc = az_glob_compile(&g, c->tools[i], strlen(c->tools[i]), AZ_GLOB_TOOL, false, msg,
                                 sizeof msg);
        /* Out of memory is not "this tool is not named": the caller must see the error. */
        if (rc == AGENTAUTHZ_ENOMEM)
            return rc;
        if (rc != 0)
            continue;
        match = az_glob_match(&g, a->tool.p, a->tool.len);
        az_glob_free(&g);
        if (match)
            return 1;
    }
    return 0;
}

/* An open that failed for want of memory, I/O or crypto, not because the policy refuses it. */
static bool internal_error(int rc)
{
    return rc == AGENTAUTHZ_ENOMEM || rc == AGENTAUTHZ_EIO || rc == AGENTAUTHZ_ECRYPTO;
}

static void deny(agentauthz_decision *d, const char *rule, const char *reason)
{
    memset(d, 0, sizeof *d);
    d->effect = AGENTAUTHZ_DENY;
    snprintf(d->rule, sizeof d->rule, "%s", rule);
    snprintf(d->reason, sizeof d->reason, "%s", reason);
}

static int check_claims(agentauthz_engine *e, const agentauthz_token_claims *c,
                        const agentauthz_action *a, agentauthz_decision *d,
                        agentauthz_error *err)
{
    agentauthz_session_options opt = AGENTAUTHZ_SESSION_OPTIONS_INIT;
    agentauthz_session *s = NULL;
    int64_t left = c->exp - (int64_t)(az_engine_wall(e) / 1000000000u);
    int rc;
    if ((rc = token_names_tool(c, a)) <= 0) {
        deny(d, "session", rc ? "internal error" : "the task token does not name this tool");
        return rc ? az_error_set(err, rc, "", 0, 0, 0, "out of memory") : 0;
    }
    opt.ttl_ns = left > 0 ? (uint64_t)left * 1000000000u : 1;
    if ((rc = az_session_open(e, c->identity, c->task, &opt, false, &s, err)) != 0) {
        deny(d, "session", err ? err->message : "the token's session cannot be opened here");
        return internal_error(rc) ? rc : 0;
    }
    rc = agentauthz_check(s, a, d);
    agentauthz_session_close(s);
    return rc;
}

int agentauthz_check_token(agentauthz_engine *e, agentauthz_verifier *v, const char *token,
                           size_t len, const agentauthz_action *a, agentauthz_decision *d,
                           agentauthz_error *err)
{
    agentauthz_token_claims *c = NULL;
    int rc;
    if (!d)
        return AGENTAUTHZ_EINVAL;
    deny(d, "session", "invalid task token");
    if (!e || !v || !token || !a || !a->tool.len)
        return az_error_set(err, AGENTAUTHZ_EINVAL, "", 0, 0, 0, "missing argument");
    rc = agentauthz_verifier_verify(v, token, len, (int64_t)(az_engine_wall(e) / 1000000000u),
                                    &c, err);
    if (rc == 0)
        rc = check_claims(e, c, a, d, err);
    else
        deny(d, "session", err ? err->message : agentauthz_strerror(rc));
    agentauthz_token_claims_free(c);
    return rc;
}

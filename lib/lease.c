/*
 * Handing secrets to tools: leases and placeholder substitution, each only
 * for an action the session checked and allowed, whose tool the secret is
 * bound to; and scrubbing secrets out of tool output.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "leak_private.h"
#include "session.h"

struct agentauthz_lease {
    agentauthz_session *s; /* holds a reference */
    az_secret *sec;
};

struct agentauthz_secret_buffer {
    az_secslot *slot; /* pooled guarded memory */
    size_t len;
};

static az_secret *find_secret(agentauthz_session *s, const char *name, size_t len)
{
    for (size_t i = 0; i < s->nsecrets; i++)
        if (strlen(s->secrets[i].name) == len && memcmp(s->secrets[i].name, name, len) == 0)
            return &s->secrets[i];
    return NULL;
}

static const az_secret_decl *find_decl(const az_policy *p, const char *name)
{
    for (size_t i = 0; i < p->nsecrets; i++)
        if (strcmp(p->secrets[i].name, name) == 0)
            return &p->secrets[i];
    return NULL;
}

static bool tool_bound(const az_secret_decl *decl, const agentauthz_action *a)
{
    return az_globs_match(decl->tools, decl->ntools, a->tool.p, a->tool.len);
}

static bool recently_allowed(const agentauthz_session *s, const agentauthz_action *a,
                             const agentauthz_decision *d)
{
    uint64_t h = az_hash_bytes(a->tool.p, a->tool.len);
    if (d->effect != AGENTAUTHZ_ALLOW || d->seq == 0)
        return false;
    for (size_t i = 0; i < AZ_ALLOWED_RING; i++)
        if (s->allowed[i].seq == d->seq && s->allowed[i].tool_hash == h)
            return true;
    return false;
}

/*
 * Whether the named secret may go to this action now; the caller holds
 * s->lock. Returns 0 with *out set, or an error filled in err.
 */
static int may_release(agentauthz_session *s, const agentauthz_action *a,
                       const agentauthz_decision *d, const char *name, size_t nlen,
                       az_secret **out, agentauthz_error *err)
{
    const az_secret_decl *decl;
    az_secret *sec = find_secret(s, name, nlen);
    if (s->state != AZ_OPEN)
        return az_error_set(err, AGENTAUTHZ_ESESSION, "", 0, 0, 0, "%s", s->ended_why);
    if (!sec)
        return az_error_set(err, AGENTAUTHZ_ENOTFOUND, "", 0, 0, 0,
                            "the session holds no secret \"%.*s\"", (int)(nlen > 128 ? 128 : nlen),
                            name);
    az_secrets_expire(s, az_engine_now(s->e));
    if (!atomic_load(&sec->live))
        return az_error_set(err, AGENTAUTHZ_ESESSION, "", 0, 0, 0, "secret \"%s\" has expired",
                            sec->name);
    if (!recently_allowed(s, a, d))
        return az_error_set(err, AGENTAUTHZ_EDENIED, "", 0, 0, 0,
                            "secret \"%s\" refused: the action was not checked and allowed in "
                            "this session",
                            sec->name);
    decl = find_decl(s->view.p, sec->name);
    if (!decl || !tool_bound(decl, a))
        return az_error_set(err, AGENTAUTHZ_EDENIED, "", 0, 0, 0,
                            "secret \"%s\" refused: not bound to tool \"%.128s\"", sec->name,
                            a->tool.p);
    *out = sec;
    return 0;
}

int agentauthz_lease_acquire(agentauthz_session *s, const agentauthz_action *a,
                             const agentauthz_decision *d, const char *secret,
                             agentauthz_lease **out, agentauthz_error *err)
{
    az_secret *sec = NULL;
    agentauthz_lease *l;
    agentauthz_error local;
    int rc, arc;
    if (out)
        *out = NULL;
    if (!err)
        err = &local; /* the audit record of a refusal needs the reason */
    if (!s || !a || !d || !secret || !out || !s->e || !a->tool.len)
        return az_error_set(err, AGENTAUTHZ_EINVAL, "", 0, 0, 0, "missing argument");
    if (!(l = calloc(1, sizeof *l)))
        return az_error_set(err, AGENTAUTHZ_ENOMEM, "", 0, 0, 0, "out of memory");
    pthread_mutex_lock(&s->lock);
    rc = may_release(s, a, d, secret, strlen(secret), &sec, err);
    if (!rc) {
        pthread_mutex_lock(&s->e->secret_lock);
        sec->leases++;
        pthread_mutex_unlock(&s->e->secret_lock);
        atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
        l->s = s;
        l->sec = sec;
    }
    pthread_mutex_unlock(&s->lock);
    /*
     * The secret goes out only once its lease record is written, so that
     * the log accounts for every secret handed out (as for approvals).
     */
    if ((arc = az_session_audit_lease(s, a, secret, rc, err)) != 0 && !rc) {
        agentauthz_lease_release(l);
        return az_error_set(err, arc, "", 0, 0, 0, "the lease's audit record could not be written");
    }
    if (rc) {
        free(l);
        return rc;
    }
    *out = l;
    return 0;
}

const unsigned char *agentauthz_lease_value(const agentauthz_lease *l, size_t *len)
{
    if (len)
        *len = 0;
    if (!l || !atomic_load(&l->sec->live))
        return NULL;
    if (len)
        *len = l->sec->len;
    return az_secpool_read(l->sec->slot);
}

int agentauthz_lease_valid(const agentauthz_lease *l)
{
    return l && atomic_load(&l->sec->live);
}

void agentauthz_lease_release(agentauthz_lease *l)
{
    agentauthz_engine *e;
    if (!l)
        return;
    e = l->s->e;
    if (e) {
        pthread_mutex_lock(&e->secret_lock);
        if (--l->sec->leases == 0 && !atomic_load(&l->sec->live)) {
            az_secpool_release(l->sec->slot);
            l->sec->slot = NULL;
        }
        pthread_mutex_unlock(&e->secret_lock);
    }
    az_session_unref(l->s);
    free(l);
}

/* ---- placeholders ---- */

static const char placeholder[] = "${secret:";
#define PLACEHOLDER_LEN (sizeof placeholder - 1)

/* Records a placeholder's secret as handed out, or refused, in the audit log; 0 or its error. */
static int audit_placeholder(agentauthz_session *s, const agentauthz_action *a,
                             const char *name, size_t nlen, int rc, const agentauthz_error *err)
{
    agentauthz_decision d;
    char secret[AZ_MAX_NAME + 1];
    snprintf(secret, sizeof secret, "%.*s", (int)(nlen > AZ_MAX_NAME ? AZ_MAX_NAME : nlen), name);
    memset(&d, 0, sizeof d);
    d.effect = rc ? AGENTAUTHZ_DENY : AGENTAUTHZ_ALLOW;
    snprintf(d.rule, sizeof d.rule, "substitute");
    if (rc && err)
        snprintf(d.reason, sizeof d.reason, "%s", err->message);
    return az_audit_session(s, rc ? AZ_AUDIT_LEASE_REFUSED : AZ_AUDIT_LEASE, a, &d, secret);
}

/* One pass over text: with out NULL it only validates and sizes. */
static int substitute_pass(agentauthz_session *s, const agentauthz_action *a,
                           const agentauthz_decision *d, const char *text, size_t len,
                           unsigned char *out, size_t *outlen, agentauthz_error *err)
{
    size_t i = 0, o = 0;
    while (i < len) {
        const char *start = len - i >= PLACEHOLDER_LEN ? memmem(text + i, len - i, placeholder,
                                                                 PLACEHOLDER_LEN)
                                                        : NULL;
        size_t lit = start ? (size_t)(start - (text + i)) : len - i, nlen;
        const char *name, *close;
        az_secret *sec = NULL;
        int rc, arc;
        if (out)
            memcpy(out + o, text + i, lit);
        o += lit;
        i += lit;
        if (!start)
            break;
        name = start + PLACEHOLDER_LEN;
        close = memchr(name, '}', (size_t)(text + len - name));
        nlen = close ? (size_t)(close - name) : 0;
        if (!close || !az_name_valid(name, nlen))
            return az_error_set(err, AGENTAUTHZ_EINVAL, "", 0, 0, i,
                                "malformed placeholder at byte %zu", i);
        rc = may_release(s, a, d, name, nlen, &sec, err);
        /* A secret goes into the output only once its lease record is written. */
        if ((rc || out) && (arc = audit_placeholder(s, a, name, nlen, rc, err)) != 0 && !rc)
            return az_error_set(err, arc, "", 0, 0, 0,
                                "the lease's audit record could not be written");
        if (rc)
            return rc;
        if (out)
            memcpy(out + o, az_secpool_read(sec->slot), sec->len);
        o += sec->len;
        i = (size_t)(close + 1 - text);
    }
    *outlen = o;
    return 0;
}

/* Moves the substituted text from a scratch buffer into pooled guarded memory. */
static int buffer_seal(agentauthz_engine *e, const unsigned char *text, size_t len,
                       agentauthz_secret_buffer **out)
{
    agentauthz_secret_buffer *b = calloc(1, sizeof *b);
    int rc = b ? 0 : AGENTAUTHZ_ENOMEM;
    if (!rc) {
        pthread_mutex_lock(&e->secret_lock);
        rc = az_secpool_alloc(e->pool, len ? len : 1, &b->slot);
        if (!rc)
            rc = az_secpool_write(b->slot, text, len);
        pthread_mutex_unlock(&e->secret_lock);
    }
    if (rc) {
        if (b)
            az_secpool_release(b->slot);
        free(b);
        return rc;
    }
    b->len = len;
    *out = b;
    return 0;
}

int agentauthz_substitute(agentauthz_session *s, const agentauthz_action *a,
                          const agentauthz_decision *d, const char *text, size_t len,
                          agentauthz_secret_buffer **out, agentauthz_error *err)
{
    unsigned char *scratch = NULL;
    size_t need = 0;
    agentauthz_error local;
    int rc;
    if (out)
        *out = NULL;
    if (!err)
        err = &local;
    if (!s || !a || !d || (!text && len) || !out || !s->e || len > AZ_MAX_INPUT)
        return az_error_set(err, AGENTAUTHZ_EINVAL, "", 0, 0, 0, "missing or oversized argument");
    pthread_mutex_lock(&s->lock);
    rc = substitute_pass(s, a, d, text, len, NULL, &need, err);
    if (!rc && !(scratch = malloc(need ? need : 1)))
        rc = az_error_set(err, AGENTAUTHZ_ENOMEM, "", 0, 0, 0, "out of memory");
    if (!rc)
        rc = substitute_pass(s, a, d, text, len, scratch, &need, err);
    pthread_mutex_unlock(&s->lock);
    if (!rc && (rc = buffer_seal(s->e, scratch, need, out)) != 0)
        az_error_set(err, rc, "", 0, 0, 0, "no guarded memory for the output");
    if (scratch) {
        sodium_memzero(scratch, need);
        free(scratch);
    }
    return rc;
}

const unsigned char *agentauthz_secret_buffer_data(const agentauthz_secret_buffer *b, size_t *len)
{
    if (len)
        *len = b ? b->len : 0;
    return b ? az_secpool_read(b->slot) : NULL;
}

void agentauthz_secret_buffer_free(agentauthz_secret_buffer *b)
{
    if (!b)
        return;
    az_secpool_release(b->slot); /* wipes the slot */
    free(b);
}

/* ---- scrubbing ---- */

int agentauthz_scrub(agentauthz_session *s, const void *data, size_t len, char **out,
                     size_t *outlen, agentauthz_error *err)
{
    az_leak_ref *r;
    az_leak_retired *gone = NULL;
    az_buf b = {0};
    uint64_t now;
    int rc = 0;
    if (out)
        *out = NULL;
    if (!s || (!data && len) || !out || !s->e)
        return az_error_set(err, AGENTAUTHZ_EINVAL, "", 0, 0, 0, "missing argument");
    pthread_mutex_lock(&s->e->lock);
    r = atomic_load(&s->e->leaks);
    if (r)
        atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
    pthread_mutex_unlock(&s->e->lock);
    /* The fingerprints of secrets destroyed within their grace period (secret.c). */
    now = az_engine_now(s->e);
    pthread_mutex_lock(&s->e->secret_lock);
    rc = az_leak_index_retired(s->e->leak_index, now, &gone);
    pthread_mutex_unlock(&s->e->secret_lock);
    /* r->set is the index's head: the recent set, then the base; dead secrets are left alone. */
    if (!rc)
        rc = az_leak_scrub_retired(r ? r->set : NULL, gone, now, data, len, &b);
    if (!rc && !b.p)
        rc = az_buf_append(&b, "", 0);
    az_leak_retired_free(gone);
    az_leak_ref_unref(r);
    if (rc) {
        az_buf_free(&b);
        return az_error_set(err, rc, "", 0, 0, 0, "cannot scrub: %s", agentauthz_strerror(rc));
    }
    *out = b.p;
    if (outlen)
        *outlen = b.len;
    return 0;
}

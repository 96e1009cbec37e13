/*
 * Task secrets: issued at session open from the task's `secrets`, held in
 * pooled guarded memory, handed out only through leases and placeholder
 * substitution for allowed actions of the secret's tools, destroyed (wiped,
 * the host told) when the session ends, and looked for in every action by
 * one engine-wide multi-pattern matcher.
 *
 * The matcher is an az_leak_index (leak_private.h): a secret is encoded
 * once when issued, an open rebuilds only a small recent set, and a close
 * only marks the secret dead, so neither costs O(all live secrets).
 *
 * Locking: the engine's secret_lock guards every slot, the leak index, the
 * lease counts and the publication of the matcher; it is taken after a
 * session's lock, never before it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "leak_private.h"
#include "session.h"

/* ---- the engine-wide matcher ---- */

void az_leak_ref_unref(az_leak_ref *r)
{
    if (!r || atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) != 1)
        return;
    az_leak_set_free(r->set);
    free(r);
}

/*
 * Publishes the leak index's head; the caller holds secret_lock, so heads
 * are published in the order the index changed. Sessions move onto it at
 * their next check (current_leaks). On failure the previous head stays
 * published: it still finds every secret it knew, and ignores the dead.
 */
static int publish(agentauthz_engine *e)
{
    az_leak_set *head = az_leak_index_head(e->leak_index);
    az_leak_ref *fresh = NULL, *old;
    if (head) {
        if (!(fresh = calloc(1, sizeof *fresh)))
            return AGENTAUTHZ_ENOMEM;
        atomic_init(&fresh->refs, 1);
        fresh->set = az_leak_set_ref(head);
    }
    pthread_mutex_lock(&e->lock);
    old = atomic_exchange_explicit(&e->leaks, fresh, memory_order_acq_rel);
    pthread_mutex_unlock(&e->lock);
    az_leak_ref_unref(old);
    return 0;
}

/* The arguments of one az_leak_index_add, on the stack for a few secrets. */
#define REGISTER_STACK 8u

/*
 * A token (a JWT, HEADER.PAYLOAD.SIGNATURE, see token.c) is a leak without
 * its header too: its payload and its signature are looked for on their
 * own, as parts of the secret. The header is not: it is the same for every
 * token of the engine's key, and public.
 */
static void token_parts(az_leak_secret *in)
{
    const unsigned char *t = in->bytes, *d1, *d2;
    d1 = memchr(t, '.', in->len);
    if (!d1)
        return;
    d2 = memchr(d1 + 1, '.', in->len - (size_t)(d1 + 1 - t));
    if (!d2)
        return;
    in->parts[0] = d1 + 1;
    in->part_len[0] = (size_t)(d2 - (d1 + 1));
    in->parts[1] = d2 + 1;
    in->part_len[1] = in->len - (size_t)(d2 + 1 - t);
}

/* Fills in from the live secrets of secs; the caller holds secret_lock. */
static size_t register_inputs(const az_secret *secs, size_t n, az_leak_secret *in)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (!atomic_load(&secs[i].live) || !secs[i].slot)
            continue;
        memset(&in[m], 0, sizeof in[m]);
        in[m].id = (uint32_t)i;
        in[m].name = secs[i].name;
        in[m].bytes = az_secpool_read(secs[i].slot);
        in[m].len = secs[i].len;
        if (secs[i].provider == AZ_PROVIDER_TOKEN)
            token_parts(&in[m]);
        m++;
    }
    return m;
}

/* Records each entry in its secret, in the order register_inputs took them. */
static void register_entries(az_secret *secs, const az_leak_secret *in, size_t m,
                             az_leak_entry **entries)
{
    for (size_t k = 0; k < m; k++)
        secs[in[k].id].leak = entries[k];
}

/*
 * Adds a session's new live secrets to the engine's leak index (encoding
 * each once) and publishes it. All or nothing; the caller destroys the
 * secrets on failure, which also takes back a registration whose
 * publication failed.
 */
static int register_secrets(agentauthz_engine *e, az_secret *secs, size_t n)
{
    az_leak_secret in_stack[REGISTER_STACK], *in = in_stack;
    az_leak_entry *out_stack[REGISTER_STACK], **out = out_stack;
    size_t m;
    int rc = AGENTAUTHZ_ENOMEM;
    if (n > REGISTER_STACK) {
        in = calloc(n, sizeof *in);
        out = calloc(n, sizeof *out);
        if (!in || !out)
            goto out;
    }
    pthread_mutex_lock(&e->secret_lock);
    rc = e->leak_index ? 0 : az_leak_index_new(&e->leak_index);
    m = rc ? 0 : register_inputs(secs, n, in);
    if (!rc && m)
        rc = az_leak_index_add(e->leak_index, in, m, out);
    if (!rc && m) {
        register_entries(secs, in, m, out);
        rc = publish(e);
    }
    pthread_mutex_unlock(&e->secret_lock);
out:
    if (in != in_stack)
        free(in);
    if (out != out_stack)
        free(out);
    return rc;
}

/*
 * After secrets were marked dead: lets the index drop them when that is
 * worth a rebuild, and publishes the result.
 */
static void tidy(agentauthz_engine *e)
{
    pthread_mutex_lock(&e->secret_lock);
    if (az_leak_index_tidy(e->leak_index))
        publish(e);
    pthread_mutex_unlock(&e->secret_lock);
}

void az_engine_secrets_free(agentauthz_engine *e)
{
    az_leak_ref_unref(atomic_load(&e->leaks));
    az_leak_index_free(e->leak_index);
    az_secpool_free(e->pool);
}

/* ---- issuing ---- */

static void request_for(const agentauthz_session *s, const az_secret *sec,
                        agentauthz_secret_request *req)
{
    req->secret = sec->name;
    req->session = s->id;
    req->identity = s->identity;
    req->task = s->task;
    req->ttl_ns = sec->expires_ns - s->opened_ns;
}

/*
 * From the engine pool's generator (az_secpool_random): a getrandom call
 * per open would cost more than the rest of issuing its secrets.
 */
static int issue_random(agentauthz_engine *e, unsigned char *buf, size_t bytes, size_t *len)
{
    az_secpool_random(e->pool, buf, bytes);
    *len = bytes;
    return 0;
}

/*
 * derived = BLAKE2b-256 keyed with the master key over
 * "agentauthz-derived-v1" NUL session-id NUL secret-name: libsodium's
 * generic hash, the primitive its crypto_kdf is built on, so a service
 * holding the master key recomputes the value from the session id alone.
 */
static int issue_derived(const agentauthz_session *s, const az_secret *sec,
                         const unsigned char *master, unsigned char *buf, size_t *len)
{
    static const char label[] = "agentauthz-derived-v1";
    crypto_generichash_state st;
    if (crypto_generichash_init(&st, master, AZ_KEY_BYTES, 32) != 0)
        return AGENTAUTHZ_ECRYPTO;
    crypto_generichash_update(&st, (const unsigned char *)label, sizeof label);
    crypto_generichash_update(&st, (const unsigned char *)s->id, strlen(s->id) + 1);
    crypto_generichash_update(&st, (const unsigned char *)sec->name, strlen(sec->name));
    crypto_generichash_final(&st, buf, 32);
    *len = 32;
    return 0;
}

/* The tool patterns of the allow and ask rules that can apply to the session's task. */
static size_t task_tools(const az_policy *p, int task, const char **tools, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < p->nrules; i++) {
        const az_rule *r = &p->rules[i];
        bool in = r->ntasks == 0 && r->effect != AGENTAUTHZ_DENY;
        for (size_t t = 0; t < r->ntasks && !in && r->effect != AGENTAUTHZ_DENY; t++)
            in = (int)r->tasks[t] == task;
        for (size_t j = 0; in && j < r->ntools && n < cap; j++) {
            bool seen = false;
            for (size_t k = 0; k < n && !seen; k++)
                seen = strcmp(tools[k], r->tools[j].pat) == 0;
            if (!seen)
                tools[n++] = r->tools[j].pat;
        }
    }
    return n;
}

/*
 * The task's shareable parameters (token_params) with the session's bound
 * values, as a JSON object text in b; b stays empty when there are none.
 */
static int token_params_json(const agentauthz_session *s, az_buf *b)
{
    const az_task *t = &s->view.p->tasks[s->view.task];
    bool first = true;
    int rc = 0;
    for (size_t i = 0; i < t->ntoken_params && !rc; i++) {
        const char *name = t->params[t->token_params[i]].name;
        const agentauthz_value *v = az_value_map_getn(s->params, name, strlen(name));
        if (!v)
            continue;
        rc = az_buf_putc(b, first ? '{' : ',');
        if (!rc)
            rc = az_buf_json_string(b, name, strlen(name));
        if (!rc)
            rc = az_buf_putc(b, ':');
        if (!rc)
            rc = az_value_write_json(b, v);
        first = false;
    }
    return (rc || first) ? rc : az_buf_putc(b, '}');
}

static int issue_token(const agentauthz_session *s, const az_secret *sec,
                       const az_secret_decl *decl, unsigned char *buf, size_t cap, size_t *len)
{
    const char *tools[AGENTAUTHZ_TOKEN_TOOLS_MAX];
    agentauthz_token_claims c;
    uint64_t now = az_engine_wall(s->e) / 1000000000u;
    az_buf params = {NULL, 0, 0, AGENTAUTHZ_TOKEN_MAX};
    char *token = NULL;
    int rc;
    memset(&c, 0, sizeof c);
    c.identity = s->identity;
    c.task = s->task;
    c.session = (char *)s->id;
    c.audience = decl->audience;
    c.parent = s->parent ? s->parent->id : NULL;
    c.iat = (int64_t)now;
    c.exp = (int64_t)(now + (sec->expires_ns - s->opened_ns + 999999999u) / 1000000000u);
    c.tools = (char **)tools;
    c.tools_count = task_tools(s->view.p, s->view.task, tools, AGENTAUTHZ_TOKEN_TOOLS_MAX);
    c.issuer = s->e->name;
    if ((rc = token_params_json(s, &params)) != 0)
        goto out;
    c.params = params.p;
    if ((rc = agentauthz_token_sign(s->e->keys, &c, &token, NULL)) != 0)
        goto out;
    *len = strlen(token);
    if (*len > cap)
        rc = AGENTAUTHZ_ELIMIT;
    else
        memcpy(buf, token, *len);
    /* The token is the secret: its heap copy is wiped before it goes back to malloc. */
    sodium_memzero(token, strlen(token));
    agentauthz_free(token);
out:
    az_buf_free(&params);
    return rc;
}

static int issue_host(agentauthz_session *s, az_secret *sec, unsigned char *buf, size_t cap,
                      size_t *len)
{
    agentauthz_secret_request req;
    if (!s->e->secret_issue)
        return AGENTAUTHZ_EPROVIDER;
    request_for(s, sec, &req);
    *len = 0;
    if (s->e->secret_issue(s->e->secret_ctx, &req, buf, cap, len) != 0 || *len < 8 ||
        *len > cap)
        return AGENTAUTHZ_EPROVIDER;
    sec->host_issued = true;
    return 0;
}

/* Produces a secret's value into buf (AZ_HOST_SECRET_MAX bytes). */
static int produce(agentauthz_session *s, az_secret *sec, const az_secret_decl *decl,
                   unsigned char *buf, size_t *len)
{
    switch (decl->provider) {
    case AZ_PROVIDER_RANDOM: return issue_random(s->e, buf, decl->bytes, len);
    case AZ_PROVIDER_DERIVED: return issue_derived(s, sec, az_keys_master_key(s->e->keys), buf, len);
    case AZ_PROVIDER_TOKEN: return issue_token(s, sec, decl, buf, AZ_HOST_SECRET_MAX, len);
    case AZ_PROVIDER_HOST: return issue_host(s, sec, buf, AZ_HOST_SECRET_MAX, len);
    }
    return AGENTAUTHZ_EINVAL;
}

static uint64_t secret_ttl_ns(const agentauthz_session *s, const az_secret_decl *decl)
{
    uint64_t ttl = decl->ttl_s ? decl->ttl_s * 1000000000u : s->ttl_ns;
    return ttl < s->ttl_ns ? ttl : s->ttl_ns;
}

/* Stores value in a pool slot and marks the secret live (register_secrets indexes it). */
static int store(agentauthz_engine *e, az_secret *sec, const unsigned char *value, size_t len)
{
    int rc;
    pthread_mutex_lock(&e->secret_lock);
    rc = az_secpool_alloc(e->pool, len, &sec->slot);
    if (!rc)
        rc = az_secpool_write(sec->slot, value, len);
    if (!rc) {
        sec->len = len;
        atomic_store(&sec->live, true);
    } else {
        az_secpool_release(sec->slot);
        sec->slot = NULL;
    }
    pthread_mutex_unlock(&e->secret_lock);
    return rc;
}

static int issue_one(agentauthz_session *s, az_secret *sec, const az_secret_decl *decl)
{
    unsigned char buf[AZ_HOST_SECRET_MAX];
    size_t len = 0;
    int rc;
    sec->provider = decl->provider;
    sec->owner = s;
    sec->expires_ns = s->opened_ns + secret_ttl_ns(s, decl);
    if (!(sec->name = strdup(decl->name)))
        return AGENTAUTHZ_ENOMEM;
    rc = produce(s, sec, decl, buf, &len);
    if (!rc)
        rc = store(s->e, sec, buf, len);
    /* A host callback may write anywhere in buf; the others write len bytes at most. */
    sodium_memzero(buf, decl->provider == AZ_PROVIDER_HOST || len > sizeof buf ? sizeof buf : len);
    return rc;
}

/*
 * Issues the task's secrets. All or nothing: when one fails, those already
 * issued are destroyed and the open fails, so that no session runs with a
 * secret the leak scanner does not know.
 */
int az_secrets_issue(agentauthz_session *s, agentauthz_error *err)
{
    const az_task *t = &s->view.p->tasks[s->view.task];
    int rc = 0;
    if (t->nsecrets == 0)
        return 0;
    if (!(s->secrets = calloc(t->nsecrets, sizeof *s->secrets)))
        return az_error_set(err, AGENTAUTHZ_ENOMEM, "", 0, 0, 0, "out of memory");
    for (size_t i = 0; i < t->nsecrets && !rc; i++, s->nsecrets++)
        rc = issue_one(s, &s->secrets[i], &s->view.p->secrets[t->secrets[i]]);
    if (!rc)
        rc = register_secrets(s->e, s->secrets, s->nsecrets);
    if (rc) {
        az_secrets_destroy(s);
        return az_error_set(err, rc, "", 0, 0, 0, "cannot issue secret \"%s\": %s",
                            s->secrets[s->nsecrets - 1].name ? s->secrets[s->nsecrets - 1].name
                                                              : "?",
                            agentauthz_strerror(rc));
    }
    return 0;
}

/* ---- destruction ---- */

/*
 * How long a destroyed secret's fingerprints are kept: the longest TTL a
 * secret of the policy can have (its max_session_ttl, else its default
 * session TTL), and at least this secret's own TTL.
 */
static uint64_t retire_grace_ns(const agentauthz_session *s, const az_secret *sec)
{
    const az_policy *p = s->view.p;
    uint64_t own = sec->expires_ns - s->opened_ns;
    uint64_t most = p ? (p->max_session_ttl_s ? p->max_session_ttl_s : p->session_ttl_s) : 0;
    most = most > UINT64_MAX / 1000000000u ? UINT64_MAX : most * 1000000000u;
    return most > own ? most : own;
}

/* Wipes one secret; its slot goes back to the pool once no lease holds it. */
static bool destroy_one(agentauthz_session *s, az_secret *sec)
{
    agentauthz_secret_request req;
    agentauthz_engine *e = s->e;
    uint64_t now, grace;
    if (!atomic_load(&sec->live))
        return false;
    atomic_store(&sec->live, false);
    if (sec->host_issued && e->secret_revoke) {
        request_for(s, sec, &req);
        e->secret_revoke(e->secret_ctx, &req);
    }
    now = az_engine_now(e);
    grace = retire_grace_ns(s, sec);
    pthread_mutex_lock(&e->secret_lock);
    /*
     * Scans ignore it from now on; the index drops its patterns later (tidy)
     * and keeps their fingerprints for the grace period, for scrub.
     */
    az_leak_index_retire(e->leak_index, sec->leak,
                         grace > UINT64_MAX - now ? UINT64_MAX : now + grace);
    sec->leak = NULL;
    if (sec->slot && az_secpool_write(sec->slot, NULL, 0) != 0)
        sec->len = 0;
    if (sec->leases == 0) {
        az_secpool_release(sec->slot);
        sec->slot = NULL;
    }
    pthread_mutex_unlock(&e->secret_lock);
    return true;
}

void az_secrets_destroy(agentauthz_session *s)
{
    bool any = false;
    if (!s->e)
        return;
    for (size_t i = 0; i < s->nsecrets; i++)
        any = destroy_one(s, &s->secrets[i]) || any;
    if (any)
        tidy(s->e);
}

void az_secrets_expire(agentauthz_session *s, uint64_t now)
{
    bool any = false;
    for (size_t i = 0; i < s->nsecrets; i++)
        if (atomic_load(&s->secrets[i].live) && now >= s->secrets[i].expires_ns)
            any = destroy_one(s, &s->secrets[i]) || any;
    if (any)
        tidy(s->e);
}

/* ---- leak scanning on the check path ---- */

/* Moves the session onto the engine's current matcher (rarely: after a change). */
static az_leak_ref *current_leaks(agentauthz_session *s)
{
    agentauthz_engine *e = s->e;
    az_leak_ref *cur = atomic_load_explicit(&e->leaks, memory_order_acquire);
    if (cur == s->leaks)
        return cur;
    pthread_mutex_lock(&e->lock);
    cur = atomic_load_explicit(&e->leaks, memory_order_acquire);
    if (cur)
        atomic_fetch_add_explicit(&cur->refs, 1, memory_order_relaxed);
    pthread_mutex_unlock(&e->lock);
    az_leak_ref_unref(s->leaks);
    s->leaks = cur;
    return cur;
}

/* hit->name is the matcher's copy, valid while the session holds the matcher. */
static int deny_leak(const az_leak_hit *hit, const char *where, agentauthz_decision *d)
{
    const char *name = hit->name ? hit->name : "?";
    d->effect = AGENTAUTHZ_DENY;
    snprintf(d->rule, sizeof d->rule, "leak");
    snprintf(d->reason, sizeof d->reason, "secret \"%s\" found in the %s (%s%s)", name, where,
             az_leak_kind_name(hit->kind), hit->decoded ? ", decoded" : "");
    return 1;
}

/* A scan that cannot run (out of memory for its view) denies: fail closed. */
static int scan_bytes(const az_leak_ref *r, const void *p, size_t len, const char *where,
                      agentauthz_decision *d)
{
    az_leak_hit hit;
    int rc = len ? az_leak_scan(r->set, p, len, &hit) : 0;
    if (rc == 1)
        return deny_leak(&hit, where, d);
    if (rc < 0) {
        d->effect = AGENTAUTHZ_DENY;
        snprintf(d->rule, sizeof d->rule, "leak");
        snprintf(d->reason, sizeof d->reason, "the %s could not be scanned for secrets: %s", where,
                 agentauthz_strerror(rc));
        return 1;
    }
    return 0;
}

static int scan_value(const az_leak_ref *r, const agentauthz_value *v, const char *where,
                      agentauthz_decision *d)
{
    int found = 0;
    if (!v)
        return 0;
    switch (v->type) {
    case AGENTAUTHZ_STRING: return scan_bytes(r, v->u.str.p, v->u.str.len, where, d);
    case AGENTAUTHZ_LIST:
        for (size_t i = 0; i < v->u.list.n && !found; i++)
            found = scan_value(r, v->u.list.items[i], where, d);
        return found;
    case AGENTAUTHZ_MAP:
        for (size_t i = 0; i < v->u.map.n && !found; i++)
            found = scan_bytes(r, v->u.map.items[i].key, v->u.map.items[i].klen, where, d) ||
                    scan_value(r, v->u.map.items[i].val, where, d);
        return found;
    default: return 0;
    }
}

int az_secrets_scan(agentauthz_session *s, const agentauthz_action *a, agentauthz_decision *d)
{
    const az_leak_ref *r = current_leaks(s);
    if (!r)
        return 0;
    /* Every string the action carries: a secret in a tool name or a label leaks as well. */
    return scan_bytes(r, a->payload.p, a->payload.len, "payload", d) ||
           scan_value(r, a->args, "arguments", d) ||
           (a->has_resource && scan_bytes(r, a->resource.p, a->resource.len, "resource", d)) ||
           scan_value(r, a->dest, "destination", d) ||
           scan_bytes(r, a->tool.p, a->tool.len, "tool name", d) ||
           scan_value(r, a->labels, "labels", d);
}

void az_secrets_note_allowed(agentauthz_session *s, uint64_t seq, const agentauthz_action *a)
{
    az_allowed *slot = &s->allowed[s->allowed_next++ % AZ_ALLOWED_RING];
    slot->seq = seq;
    slot->tool_hash = az_hash_bytes(a->tool.p, a->tool.len);
}

/* ---- delegation ---- */

static bool named(const agentauthz_delegate_options *opt, const char *name)
{
    for (size_t i = 0; opt && opt->secrets && i < opt->nsecrets; i++)
        if (opt->secrets[i] && strcmp(opt->secrets[i], name) == 0)
            return true;
    return false;
}

static bool task_lists(const agentauthz_session *s, const char *name)
{
    const az_task *t = &s->view.p->tasks[s->view.task];
    for (size_t i = 0; i < t->nsecrets; i++)
        if (strcmp(s->view.p->secrets[t->secrets[i]].name, name) == 0)
            return true;
    return false;
}

/* Copies one live parent secret into the child, under the parent's lock. */
static int inherit_one(agentauthz_session *child, const az_secret *from, az_secret *to)
{
    agentauthz_engine *e = child->e;
    int rc;
    to->provider = from->provider;
    to->owner = child;
    to->expires_ns = from->expires_ns < child->opened_ns + child->ttl_ns
                         ? from->expires_ns
                         : child->opened_ns + child->ttl_ns;
    if (!(to->name = strdup(from->name)))
        return AGENTAUTHZ_ENOMEM;
    pthread_mutex_lock(&e->secret_lock);
    rc = az_secpool_alloc(e->pool, from->len, &to->slot);
    if (!rc)
        rc = az_secpool_write(to->slot, az_secpool_read(from->slot), from->len);
    if (!rc) {
        to->len = from->len;
        atomic_store(&to->live, true);
    }
    pthread_mutex_unlock(&e->secret_lock);
    return rc;
}

int az_secrets_inherit(agentauthz_session *child, agentauthz_session *parent,
                       const agentauthz_delegate_options *opt, agentauthz_error *err)
{
    int rc = 0;
    if (!opt || !opt->nsecrets || !parent->nsecrets)
        return 0;
    if (!(child->secrets = calloc(parent->nsecrets, sizeof *child->secrets)))
        return az_error_set(err, AGENTAUTHZ_ENOMEM, "", 0, 0, 0, "out of memory");
    for (size_t i = 0; i < parent->nsecrets && !rc; i++) {
        const az_secret *from = &parent->secrets[i];
        if (!atomic_load(&from->live) || !named(opt, from->name) || !task_lists(child, from->name))
            continue;
        rc = inherit_one(child, from, &child->secrets[child->nsecrets++]);
    }
    if (!rc)
        rc = register_secrets(child->e, child->secrets, child->nsecrets);
    if (rc) {
        az_secrets_destroy(child);
        return az_error_set(err, rc, "", 0, 0, 0, "cannot hand secrets down: %s",
                            agentauthz_strerror(rc));
    }
    return 0;
}

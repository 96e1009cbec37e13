/* C helpers of the Go binding: see shim.h for why they exist. */
#include "shim.h"

#include <string.h>

uint64_t az_go_clock_read(void *ctx)
{
    return __atomic_load_n((const uint64_t *)ctx, __ATOMIC_ACQUIRE);
}

void az_go_clock_store(void *ctx, uint64_t ns)
{
    __atomic_store_n((uint64_t *)ctx, ns, __ATOMIC_RELEASE);
}

void az_go_clock_add(void *ctx, uint64_t ns)
{
    uint64_t *p = ctx, old = __atomic_load_n(p, __ATOMIC_ACQUIRE), next;
    /* A compare-and-swap loop, so that a saturated clock never wraps to the past. */
    do {
        next = old > UINT64_MAX - ns ? UINT64_MAX : old + ns;
    } while (!__atomic_compare_exchange_n(p, &old, next, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
}

int az_go_engine_new(agentauthz_engine **out, const agentauthz_keys *keys, uint64_t *clock,
                     uint64_t *wall_clock, const char *name, agentauthz_error *err)
{
    agentauthz_engine_options opt = AGENTAUTHZ_ENGINE_OPTIONS_INIT;
    opt.keys = keys;
    if (clock) {
        opt.clock = az_go_clock_read;
        opt.clock_ctx = clock;
    }
    if (wall_clock) {
        opt.wall_clock = az_go_clock_read;
        opt.wall_clock_ctx = wall_clock;
    }
    opt.name = name;
    return agentauthz_engine_new(out, &opt, err);
}

az_go_diags *az_go_diags_new(void)
{
    return calloc(1, sizeof(az_go_diags));
}

void az_go_diags_free(az_go_diags *d)
{
    if (!d)
        return;
    free(d->items);
    free(d->warning);
    free(d);
}

const agentauthz_error *az_go_diag_at(const az_go_diags *d, size_t i)
{
    return d && i < d->n ? &d->items[i] : NULL;
}

/* Makes room for one more diagnostic; 0 when there is none (kept as dropped). */
static int diags_grow(az_go_diags *d)
{
    size_t cap;
    agentauthz_error *items;
    int *warning;
    if (d->n < d->cap)
        return 1;
    if (d->cap >= AZ_GO_DIAGS_MAX)
        return 0;
    cap = d->cap ? d->cap * 2 : 8;
    if (cap > AZ_GO_DIAGS_MAX)
        cap = AZ_GO_DIAGS_MAX;
    if (!(items = realloc(d->items, cap * sizeof *items)))
        return 0;
    d->items = items;
    if (!(warning = realloc(d->warning, cap * sizeof *warning)))
        return 0;
    d->warning = warning;
    d->cap = cap;
    return 1;
}

/* The load callback: copies each diagnostic, since the library's is borrowed. */
static void diag_collect(const agentauthz_error *diag, int is_warning, void *ctx)
{
    az_go_diags *d = ctx;
    if (!diags_grow(d)) {
        d->dropped++;
        return;
    }
    d->items[d->n] = *diag;
    d->warning[d->n] = is_warning;
    d->n++;
}

int az_go_load(agentauthz_engine *e, const char *const *paths, size_t npaths,
               az_go_diags *diags, agentauthz_error *err)
{
    agentauthz_load_options opt = AGENTAUTHZ_LOAD_OPTIONS_INIT;
    opt.on_diag = diags ? diag_collect : NULL;
    opt.ctx = diags;
    return agentauthz_engine_load(e, paths, npaths, &opt, err);
}

int az_go_load_string(agentauthz_engine *e, const char *name, const char *text, size_t len,
                      az_go_diags *diags, agentauthz_error *err)
{
    agentauthz_load_options opt = AGENTAUTHZ_LOAD_OPTIONS_INIT;
    opt.on_diag = diags ? diag_collect : NULL;
    opt.ctx = diags;
    return agentauthz_engine_load_string(e, name, text, len, &opt, err);
}

int az_go_session_open(agentauthz_engine *e, const char *identity, const char *task,
                       const char *params_json, size_t params_len, uint64_t ttl_ns,
                       agentauthz_session **out, agentauthz_error *err)
{
    agentauthz_session_options opt = AGENTAUTHZ_SESSION_OPTIONS_INIT;
    agentauthz_value *params = NULL;
    int rc;
    *out = NULL;
    if (params_json) {
        rc = agentauthz_value_parse_json(params_json, params_len, &params, err);
        if (rc)
            return rc;
    }
    opt.ttl_ns = ttl_ns;
    opt.params = params;
    rc = agentauthz_session_open(e, identity, task, &opt, out, err);
    agentauthz_value_free(params);
    return rc;
}

az_go_scratch *az_go_scratch_new(void)
{
    az_go_scratch *sc = calloc(1, sizeof *sc);
    if (sc && agentauthz_action_new(&sc->action) != 0) {
        free(sc);
        return NULL;
    }
    return sc;
}

void az_go_scratch_free(az_go_scratch *sc)
{
    if (!sc)
        return;
    agentauthz_action_free(sc->action);
    free(sc);
}

/*
 * The next NUL-terminated string of the packed strings, or NULL when the
 * packing is broken. Go packs them, but the bound keeps a mistake there from
 * reading past the buffer.
 */
static const char *next_string(const char *strings, size_t len, size_t *pos)
{
    const char *s, *nul;
    if (*pos >= len)
        return NULL;
    s = strings + *pos;
    nul = memchr(s, '\0', len - *pos);
    if (!nul)
        return NULL;
    *pos += (size_t)(nul - s) + 1;
    return s;
}

/* Adds count strings with add (destinations or labels). */
static int add_strings(agentauthz_action *a, int (*add)(agentauthz_action *, const char *),
                       const char *strings, size_t len, size_t *pos, size_t count)
{
    size_t i;
    for (i = 0; i < count; i++) {
        const char *s = next_string(strings, len, pos);
        int rc;
        if (!s)
            return AGENTAUTHZ_EINVAL;
        if ((rc = add(a, s)) != 0)
            return rc;
    }
    return 0;
}

/*
 * The next n bytes of text (len bytes) at *pos, which a NUL must follow, or
 * NULL when the records and the text disagree. Go packs both, but the
 * bounds keep a mistake there from reading past the buffer.
 */
static const char *take_text(const char *text, size_t len, size_t *pos, uint64_t n)
{
    const char *p = text + *pos;
    if (*pos >= len || n >= len - *pos || p[n] != '\0')
        return NULL;
    *pos += (size_t)n + 1;
    return p;
}

/*
 * Sets one flat argument, whose text (if any) is at *pos, with the setter
 * of its kind: they copy into the action's own storage, so a check does not
 * allocate once that storage has grown to fit.
 */
static int set_flat_arg(agentauthz_action *a, const char *key, const az_go_arg *arg,
                        const char *text, size_t len, size_t *pos)
{
    const char *p;
    double d;
    switch (arg->kind) {
    case AZ_GO_ARG_STRING:
        if (!(p = take_text(text, len, pos, arg->value)))
            return AGENTAUTHZ_EINVAL;
        return agentauthz_action_set_arg_string(a, key, p, (size_t)arg->value);
    case AZ_GO_ARG_NUMBER:
        memcpy(&d, &arg->value, sizeof d);
        return agentauthz_action_set_arg_number(a, key, d);
    case AZ_GO_ARG_BOOL:
        return agentauthz_action_set_arg_bool(a, key, arg->value != 0);
    }
    return AGENTAUTHZ_EINVAL;
}

/*
 * Sets flat arguments (strings, numbers and booleans, the common case)
 * without a JSON text: setting them directly saves the parse, about a
 * third of a check's cost. The result is the same map
 * agentauthz_action_set_args_json would make from the same arguments.
 */
static int set_flat_args(agentauthz_action *a, const char *text, size_t len, const az_go_arg *args,
                         size_t nargs)
{
    size_t i, pos = 0;
    for (i = 0; i < nargs; i++) {
        const char *key = take_text(text, len, &pos, args[i].key_len);
        int rc;
        /* A NUL inside the key would make the library see a shorter key. */
        if (!key || memchr(key, '\0', (size_t)args[i].key_len))
            return AGENTAUTHZ_EINVAL;
        if ((rc = set_flat_arg(a, key, &args[i], text, len, &pos)) != 0)
            return rc;
    }
    return 0;
}

int az_go_action_fill(uintptr_t scratch, const char *strings, const az_go_arg *args,
                      const unsigned char *payload)
{
    az_go_scratch *sc = (az_go_scratch *)scratch;
    const az_go_packed *shape = &sc->shape;
    const char *text = strings + shape->args_off;
    agentauthz_action *a = sc->action;
    size_t pos = 0;
    const char *s;
    int rc;
    agentauthz_action_reset(a);
    /*
     * Go reads the error only when its code is the failure's, and the library
     * writes every field when it sets one: clearing the code is enough, and
     * cheaper than clearing a kilobyte on every check.
     */
    sc->err.code = 0;
    sc->err.path[0] = sc->err.message[0] = '\0';
    if (!(s = next_string(strings, shape->strings_len, &pos)))
        return AGENTAUTHZ_EINVAL;
    if ((rc = agentauthz_action_set_tool(a, s)) != 0)
        return rc;
    if (shape->has_resource) {
        if (!(s = next_string(strings, shape->strings_len, &pos)))
            return AGENTAUTHZ_EINVAL;
        if ((rc = agentauthz_action_set_resource(a, s)) != 0)
            return rc;
    }
    if (shape->dest_list && (rc = agentauthz_action_set_destinations(a, NULL, 0)) != 0)
        return rc;
    if ((rc = add_strings(a, agentauthz_action_add_destination, strings, shape->strings_len, &pos,
                          shape->ndest)) != 0)
        return rc;
    if ((rc = add_strings(a, agentauthz_action_add_label, strings, shape->strings_len, &pos,
                          shape->nlabels)) != 0)
        return rc;
    if (shape->payload_len && (rc = agentauthz_action_set_payload(a, payload, shape->payload_len)))
        return rc;
    if (shape->has_args && shape->flat_args)
        return set_flat_args(a, text, shape->args_len, args, shape->nargs);
    if (shape->has_args)
        return agentauthz_action_set_args_json(a, text, shape->args_len, &sc->err);
    return 0;
}

/* A deny for an action the binding could not build, as agentauthz_check writes its own. */
static void deny(agentauthz_decision *d, const char *reason)
{
    memset(d, 0, sizeof *d);
    d->effect = AGENTAUTHZ_DENY;
    strcpy(d->rule, "default");
    strncpy(d->reason, reason, sizeof d->reason - 1);
}

int az_go_check(uintptr_t scratch, const char *buf, const az_go_arg *args,
                const unsigned char *payload)
{
    az_go_scratch *sc = (az_go_scratch *)scratch;
    int rc = az_go_action_fill(scratch, buf, args, payload);
    if (rc) {
        deny(&sc->decision, "the action could not be built");
        return rc;
    }
    return agentauthz_check(sc->session, sc->action, &sc->decision);
}

void az_go_decision_set(az_go_scratch *sc, int effect, uint64_t seq)
{
    memset(&sc->decision, 0, sizeof sc->decision);
    sc->decision.effect = (agentauthz_effect)effect;
    sc->decision.seq = seq;
}

int az_go_token_verify(const char *pubkey, const char *token, size_t len, const char *audience,
                       uint32_t skew, int64_t now, agentauthz_token_claims **out,
                       agentauthz_error *err)
{
    agentauthz_token_verify_options opt = AGENTAUTHZ_TOKEN_VERIFY_OPTIONS_INIT;
    unsigned char pk[AGENTAUTHZ_PUBKEY_BYTES];
    int rc;
    *out = NULL;
    if ((rc = agentauthz_pubkey_parse(pubkey, pk, err)) != 0)
        return rc;
    opt.audience = audience;
    opt.skew = skew;
    opt.now = now;
    return agentauthz_token_verify(pk, token, len, &opt, out, err);
}

int az_go_token_verify_jwks(const char *jwks, size_t jlen, const char *token, size_t len,
                            const char *audience, uint32_t skew, int64_t now,
                            agentauthz_token_claims **out, agentauthz_error *err)
{
    agentauthz_token_verify_options opt = AGENTAUTHZ_TOKEN_VERIFY_OPTIONS_INIT;
    agentauthz_verifier *v = NULL;
    int rc;
    *out = NULL;
    opt.audience = audience;
    opt.skew = skew;
    if ((rc = agentauthz_verifier_new_jwks(jwks, jlen, &opt, 0, &v, err)) != 0)
        return rc;
    rc = agentauthz_verifier_verify(v, token, len, now, out, err);
    agentauthz_verifier_free(v);
    return rc;
}

int az_go_pubkey_jwks(const char *pubkey, char *out, size_t cap, int kid, agentauthz_error *err)
{
    unsigned char pk[AGENTAUTHZ_PUBKEY_BYTES];
    int rc = agentauthz_pubkey_parse(pubkey, pk, err);
    if (rc)
        return rc;
    return kid ? agentauthz_pubkey_kid(pk, out, cap) : agentauthz_pubkey_jwks(pk, out, cap);
}

const char *az_go_claims_tool(const agentauthz_token_claims *c, size_t i)
{
    return c && i < c->tools_count ? c->tools[i] : NULL;
}

int az_go_token_sign(const agentauthz_keys *k, const char *identity, const char *task,
                     const char *session, const char *audience, const char *issuer,
                     const char *parent, const char *params, int64_t iat, int64_t exp,
                     const char *tools, size_t ntools, size_t tools_len, char **out,
                     agentauthz_error *err)
{
    agentauthz_token_claims c;
    size_t i, pos = 0;
    int rc = AGENTAUTHZ_ENOMEM;
    *out = NULL;
    if (ntools > AGENTAUTHZ_TOKEN_TOOLS_MAX)
        return AGENTAUTHZ_ELIMIT;
    memset(&c, 0, sizeof c);
    if (ntools && !(c.tools = calloc(ntools, sizeof *c.tools)))
        goto out;
    for (i = 0; i < ntools; i++) {
        if (!(c.tools[i] = (char *)next_string(tools, tools_len, &pos))) {
            rc = AGENTAUTHZ_EINVAL;
            goto out;
        }
    }
    /* The struct's strings are not const because the library's own copies are freed. */
    c.identity = (char *)identity;
    c.task = (char *)task;
    c.session = (char *)session;
    c.audience = (char *)audience;
    c.issuer = (char *)issuer;
    c.parent = (char *)parent;
    c.params = (char *)params;
    c.iat = iat;
    c.exp = exp;
    c.tools_count = ntools;
    rc = agentauthz_token_sign(k, &c, out, err);
out:
    free(c.tools);
    return rc;
}

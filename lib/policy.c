/*
 * The compiled policy as an object: its lifetime (reference counted, so a
 * reload can swap it while checks still run on the old one), the tool index
 * and the lint warnings.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---- freeing ---- */

static void pred_free(az_pred *p);

static void item_free(az_item *it)
{
    agentauthz_value_free(it->lit);
    free(it->param);
    az_glob_free(&it->glob);
    az_regex_free(&it->regex);
}

static void pred_free(az_pred *p)
{
    for (size_t i = 0; i < p->nitems; i++)
        item_free(&p->items[i]);
    free(p->items);
    for (size_t i = 0; i < p->nkids; i++)
        pred_free(&p->kids[i]);
    free(p->kids);
}

static void where_free(az_where *w)
{
    for (size_t i = 0; i < w->nconds; i++) {
        for (size_t j = 0; j < w->conds[i].npath; j++)
            free(w->conds[i].path[j]);
        free(w->conds[i].path);
        free(w->conds[i].plen);
        pred_free(&w->conds[i].pred);
    }
    free(w->conds);
    for (size_t i = 0; i < w->nany; i++)
        where_free(&w->any[i]);
    free(w->any);
    if (w->not_)
        where_free(w->not_);
    free(w->not_);
}

static void globs_free(az_glob *g, size_t n)
{
    for (size_t i = 0; i < n; i++)
        az_glob_free(&g[i]);
    free(g);
}

static void rules_free(az_policy *p)
{
    for (size_t i = 0; i < p->nrules; i++) {
        az_rule *r = &p->rules[i];
        free(r->id);
        free(r->reason);
        free(r->tasks);
        free(r->roles);
        globs_free(r->tools, r->ntools);
        where_free(&r->where);
    }
    free(p->rules);
}

static void tasks_free(az_policy *p)
{
    for (size_t i = 0; i < p->ntasks; i++) {
        az_task *t = &p->tasks[i];
        free(t->name);
        free(t->roles);
        free(t->secrets);
        for (size_t j = 0; j < t->nper_tool; j++)
            free(t->per_tool[j].tool);
        free(t->per_tool);
        for (size_t j = 0; j < t->nparams; j++)
            free(t->params[j].name);
        free(t->params);
        free(t->token_params);
    }
    free(p->tasks);
}

static void catalogue_free(az_policy *p)
{
    for (size_t i = 0; i < p->nidentities; i++) {
        az_glob_free(&p->identities[i].match);
        free(p->identities[i].roles);
    }
    free(p->identities);
    for (size_t i = 0; i < p->nroles; i++)
        free(p->roles[i]);
    free(p->roles);
    for (size_t i = 0; i < p->ntools; i++) {
        free(p->tools[i].name);
        agentauthz_value_free(p->tools[i].produces);
        agentauthz_value_free(p->tools[i].output);
        for (size_t j = 0; j < p->tools[i].npaths; j++)
            free(p->tools[i].paths[j]);
        free(p->tools[i].paths);
        for (size_t j = 0; j < p->tools[i].nresources; j++)
            free(p->tools[i].resources[j]);
        free(p->tools[i].resources);
        for (size_t j = 0; j < p->tools[i].ndests; j++)
            free(p->tools[i].dests[j]);
        free(p->tools[i].dests);
    }
    free(p->tools);
    for (size_t i = 0; i < p->nsecrets; i++) {
        free(p->secrets[i].name);
        free(p->secrets[i].audience);
        globs_free(p->secrets[i].tools, p->secrets[i].ntools);
    }
    free(p->secrets);
}

static void index_free(az_policy *p)
{
    for (size_t i = 0; p->index && i < p->index_cap; i++) {
        free(p->index[i].name);
        free(p->index[i].rules);
        free(p->index[i].cands);
    }
    free(p->index);
    free(p->glob_rules);
    free(p->glob_cands);
}

static void policy_free(az_policy *p)
{
    rules_free(p);
    tasks_free(p);
    catalogue_free(p);
    index_free(p);
    for (size_t i = 0; i < p->nclear; i++)
        free(p->clear_args[i]);
    free(p->clear_args);
    free(p->param_uses);
    for (size_t i = 0; i < p->nfiles; i++)
        free(p->files[i]);
    free(p->files);
    free(p->name);
    free(p);
}

void az_policy_ref(az_policy *p)
{
    atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
}

void az_policy_unref(az_policy *p)
{
    if (p && atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) == 1)
        policy_free(p);
}

/* ---- the tool index ---- */

/* The finaliser of MurmurHash3: every input bit reaches every output bit. */
static uint64_t hash_mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdu;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53u;
    h ^= h >> 33;
    return h;
}

/*
 * Eight bytes per step, as a check hashes its tool name: a byte-at-a-time
 * hash cost a check as much as the index probe. The value is only ever
 * compared within one process, so byte order does not matter.
 */
uint64_t az_hash_bytes(const char *s, size_t len)
{
    uint64_t h = 0x9e3779b97f4a7c15u ^ (uint64_t)len, w;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        memcpy(&w, s + i, 8);
        h = (h ^ w) * 0x87c37b91114253d5u;
        h ^= h >> 31;
    }
    for (w = 0; i < len; i++)
        w = (w << 8) | (unsigned char)s[i];
    return hash_mix(h ^ w);
}

static bool is_literal_pattern(const az_glob *g)
{
    if (g->mode == AZ_GLOB_TOOL && g->len == 1 && g->pat[0] == '*')
        return false;
    return strpbrk(g->pat, "*?[\\") == NULL;
}

static bool rule_is_literal(const az_rule *r)
{
    for (size_t i = 0; i < r->ntools; i++)
        if (!is_literal_pattern(&r->tools[i]))
            return false;
    return true;
}

static az_tool_index *index_slot(const az_policy *p, const char *name, size_t len,
                                 uint64_t h)
{
    size_t mask = p->index_cap - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        az_tool_index *e = &p->index[i];
        if (!e->name || (e->hash == h && e->len == len && memcmp(e->name, name, len) == 0))
            return e;
    }
}

const az_tool_index *az_policy_lookup_tool(const az_policy *p, const char *tool, size_t len)
{
    const az_tool_index *e;
    if (!p->index_cap)
        return NULL;
    e = index_slot(p, tool, len, az_hash_bytes(tool, len));
    return e->name ? e : NULL;
}

static int index_add_name(az_policy *p, const char *name, const az_tool_entry *entry)
{
    size_t len = strlen(name);
    uint64_t h = az_hash_bytes(name, len);
    az_tool_index *e = index_slot(p, name, len, h);
    if (!e->name) {
        e->name = malloc(len + 1);
        if (!e->name)
            return AGENTAUTHZ_ENOMEM;
        memcpy(e->name, name, len + 1);
        e->len = len;
        e->hash = h;
    }
    if (entry)
        e->entry = entry;
    return 0;
}

static size_t count_names(const az_policy *p)
{
    size_t n = p->ntools;
    for (size_t i = 0; i < p->nrules; i++)
        n += p->rules[i].ntools;
    return n;
}

static int index_names(az_policy *p)
{
    size_t names = count_names(p), cap = 16;
    int rc = 0;
    while (cap < names * 2)
        cap *= 2;
    p->index = calloc(cap, sizeof *p->index);
    if (!p->index)
        return AGENTAUTHZ_ENOMEM;
    p->index_cap = cap;
    for (size_t i = 0; i < p->ntools && !rc; i++)
        rc = index_add_name(p, p->tools[i].name, &p->tools[i]);
    for (size_t i = 0; i < p->nrules && !rc; i++)
        for (size_t j = 0; j < p->rules[i].ntools && !rc; j++)
            if (is_literal_pattern(&p->rules[i].tools[j]))
                rc = index_add_name(p, p->rules[i].tools[j].pat, NULL);
    return rc;
}


static int posting_add(az_tool_index *e, uint32_t rule)
{
    uint32_t *grown;
    if (e->nrules && e->rules[e->nrules - 1] == rule)
        return 0;
    if ((e->nrules & (e->nrules - 1)) == 0) { /* grow at powers of two */
        grown = realloc(e->rules, (e->nrules ? e->nrules * 2 : 1) * sizeof *grown);
        if (!grown)
            return AGENTAUTHZ_ENOMEM;
        e->rules = grown;
    }
    e->rules[e->nrules++] = rule;
    return 0;
}

/* Records each rule whose tools are all plain names under those names, in order. */
static int index_literal_rules(az_policy *p)
{
    int rc = 0;
    for (size_t i = 0; i < p->nrules && !rc; i++) {
        const az_rule *r = &p->rules[i];
        if (!rule_is_literal(r))
            continue;
        for (size_t j = 0; j < r->ntools && !rc; j++) {
            const az_glob *g = &r->tools[j];
            rc = posting_add(index_slot(p, g->pat, g->len, az_hash_bytes(g->pat, g->len)),
                             (uint32_t)i);
        }
    }
    return rc;
}

/* Merges the glob rules that match e's name into its postings, keeping file order. */
static int index_merge_globs(az_policy *p, az_tool_index *e)
{
    size_t n = e->nrules, a = 0, k = 0;
    uint32_t *merged = malloc((n + p->nglob_rules + 1) * sizeof *merged);
    if (!merged)
        return AGENTAUTHZ_ENOMEM;
    for (size_t g = 0; g < p->nglob_rules; g++) {
        uint32_t r = p->glob_rules[g];
        if (!az_globs_match(p->rules[r].tools, p->rules[r].ntools, e->name, e->len))
            continue;
        while (a < n && e->rules[a] < r)
            merged[k++] = e->rules[a++];
        merged[k++] = r;
    }
    while (a < n)
        merged[k++] = e->rules[a++];
    free(e->rules);
    e->rules = merged;
    e->nrules = k;
    return 0;
}

static int index_glob_rules(az_policy *p)
{
    p->glob_rules = calloc(p->nrules ? p->nrules : 1, sizeof *p->glob_rules);
    if (!p->glob_rules)
        return AGENTAUTHZ_ENOMEM;
    for (size_t i = 0; i < p->nrules; i++)
        if (!rule_is_literal(&p->rules[i]))
            p->glob_rules[p->nglob_rules++] = (uint32_t)i;
    return 0;
}

/* The task and role lists of a rule as bit masks, when every index fits in 64 bits. */
static void cand_fill(const az_policy *p, uint32_t rule, az_cand *c)
{
    const az_rule *r = &p->rules[rule];
    bool flat = r->has_where && !r->where.nany && !r->where.not_ && r->where.nconds <= UINT16_MAX;
    memset(c, 0, sizeof *c);
    c->rule = rule;
    c->effect = (uint8_t)r->effect;
    c->flags = (uint8_t)((r->ntasks == 0 ? AZ_CAND_ANY_TASK : 0) |
                         (r->nroles == 0 ? AZ_CAND_ANY_ROLE : 0) |
                         (p->ntasks <= 64 ? AZ_CAND_TASK_MASK : 0) |
                         (p->nroles <= 64 ? AZ_CAND_ROLE_MASK : 0) |
                         (r->has_where ? AZ_CAND_WHERE : 0) | (flat ? AZ_CAND_CONDS : 0));
    if (flat) {
        c->conds = r->where.conds;
        c->nconds = (uint16_t)r->where.nconds;
    }
    for (size_t j = 0; (c->flags & AZ_CAND_TASK_MASK) && j < r->ntasks; j++)
        c->task_mask |= UINT64_C(1) << r->tasks[j];
    for (size_t j = 0; (c->flags & AZ_CAND_ROLE_MASK) && j < r->nroles; j++)
        c->role_mask |= UINT64_C(1) << r->roles[j];
}

static az_cand *cands_make(const az_policy *p, const uint32_t *rules, size_t n)
{
    az_cand *c = calloc(n ? n : 1, sizeof *c);
    for (size_t i = 0; c && i < n; i++)
        cand_fill(p, rules[i], &c[i]);
    return c;
}

static int index_cands(az_policy *p)
{
    if (!(p->glob_cands = cands_make(p, p->glob_rules, p->nglob_rules)))
        return AGENTAUTHZ_ENOMEM;
    for (size_t i = 0; i < p->index_cap; i++) {
        az_tool_index *e = &p->index[i];
        if (e->name && !(e->cands = cands_make(p, e->rules, e->nrules)))
            return AGENTAUTHZ_ENOMEM;
    }
    return 0;
}

/*
 * Precomputes, for every tool name the policy mentions, the rules that can
 * apply to it, so that a check visits only those. A tool the policy never
 * names can only be matched by glob rules, which are kept apart.
 */
int az_policy_build_index(az_policy *p)
{
    int rc = index_names(p);
    if (!rc)
        rc = index_glob_rules(p);
    if (!rc)
        rc = index_literal_rules(p);
    for (size_t i = 0; i < p->index_cap && !rc; i++)
        if (p->index[i].name)
            rc = index_merge_globs(p, &p->index[i]);
    return rc ? rc : index_cands(p);
}

/* ---- lint ---- */

static bool has_u32(const uint32_t *v, size_t n, uint32_t x)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == x)
            return true;
    return false;
}

static bool subset_u32(const uint32_t *a, size_t na, const uint32_t *b, size_t nb)
{
    for (size_t i = 0; i < na; i++)
        if (!has_u32(b, nb, a[i]))
            return false;
    return true;
}

static bool intersects_u32(const uint32_t *a, size_t na, const uint32_t *b, size_t nb)
{
    for (size_t i = 0; i < na; i++)
        if (has_u32(b, nb, a[i]))
            return true;
    return false;
}

/* Whether deny rule d applies wherever r does, without conditions. */
static bool deny_covers(const az_rule *d, const az_rule *r)
{
    if (d->effect != AGENTAUTHZ_DENY || d->has_where || d == r)
        return false;
    if (d->ntasks && (!r->ntasks || !subset_u32(r->tasks, r->ntasks, d->tasks, d->ntasks)))
        return false;
    if (d->nroles && (!r->nroles || !subset_u32(r->roles, r->nroles, d->roles, d->nroles)))
        return false;
    for (size_t i = 0; i < r->ntools; i++) {
        bool covered = false;
        for (size_t j = 0; j < d->ntools && !covered; j++)
            covered = (d->tools[j].len == r->tools[i].len &&
                       memcmp(d->tools[j].pat, r->tools[i].pat, d->tools[j].len) == 0) ||
                      (is_literal_pattern(&r->tools[i]) &&
                       az_glob_match(&d->tools[j], r->tools[i].pat, r->tools[i].len));
        if (!covered)
            return false;
    }
    return true;
}

/* Whether some task in r's scope can be opened by an identity holding one of r's roles. */
static bool roles_reachable(const az_policy *p, const az_rule *r)
{
    if (!r->nroles || !r->ntasks)
        return true;
    for (size_t i = 0; i < r->ntasks; i++) {
        const az_task *t = &p->tasks[r->tasks[i]];
        if (!t->nroles || intersects_u32(t->roles, t->nroles, r->roles, r->nroles))
            return true;
    }
    return false;
}

static void warn_rule(const az_policy *p, const az_rule *r, az_diag *d, const char *why,
                      const char *other)
{
    const char *saved = d->path;
    d->path = p->files[r->file];
    if (other)
        az_diag_warn(d, &r->mark, "rule \"%s\" %s \"%s\"", r->id, why, other);
    else
        az_diag_warn(d, &r->mark, "rule \"%s\" %s", r->id, why);
    d->path = saved;
}

/*
 * The rules that may shadow r, in file order. A deny covers r only if it
 * covers r's first tool: a plain name's index entry lists every rule with a
 * tool that matches the name, and a glob can only be covered by the same
 * glob, which only a glob rule holds. NULL means every rule (no index).
 */
static const uint32_t *shadow_candidates(const az_policy *p, const az_rule *r, size_t *n)
{
    const az_tool_index *e;
    if (!p->index_cap || !p->glob_rules || r->ntools == 0)
        return NULL;
    if (!is_literal_pattern(&r->tools[0])) {
        *n = p->nglob_rules;
        return p->glob_rules;
    }
    e = az_policy_lookup_tool(p, r->tools[0].pat, r->tools[0].len);
    if (!e)
        return NULL;
    *n = e->nrules;
    return e->rules;
}

/* The first deny rule, in file order, that shadows r, or NULL. */
static const az_rule *shadowing_deny(const az_policy *p, const az_rule *r)
{
    size_t n = 0;
    const uint32_t *cand = shadow_candidates(p, r, &n);
    if (!cand) {
        for (size_t j = 0; j < p->nrules; j++)
            if (deny_covers(&p->rules[j], r))
                return &p->rules[j];
        return NULL;
    }
    for (size_t j = 0; j < n; j++)
        if (deny_covers(&p->rules[cand[j]], r))
            return &p->rules[cand[j]];
    return NULL;
}

/*
 * With defaults.uncatalogued_tools: deny, an allow or ask rule naming a tool
 * the catalogue lacks can never decide for it: the check is denied first.
 */
static void warn_uncatalogued(const az_policy *p, const az_rule *r, az_diag *d)
{
    if (!p->deny_uncatalogued || r->effect == AGENTAUTHZ_DENY)
        return;
    for (size_t i = 0; i < r->ntools; i++) {
        const az_tool_index *e;
        if (!is_literal_pattern(&r->tools[i]))
            continue;
        e = az_policy_lookup_tool(p, r->tools[i].pat, r->tools[i].len);
        if (!e || !e->entry)
            warn_rule(p, r, d, "names a tool that uncatalogued_tools: deny always denies:",
                      r->tools[i].pat);
    }
}

void az_policy_lint(const az_policy *p, az_diag *d)
{
    for (size_t i = 0; i < p->nrules; i++) {
        const az_rule *r = &p->rules[i];
        const az_rule *deny;
        if (!roles_reachable(p, r)) {
            warn_rule(p, r, d, "can never match: none of its roles may open its tasks", NULL);
            continue;
        }
        warn_uncatalogued(p, r, d);
        if (r->effect == AGENTAUTHZ_DENY)
            continue;
        if ((deny = shadowing_deny(p, r)) != NULL)
            warn_rule(p, r, d, "is fully shadowed by deny rule", deny->id);
    }
}

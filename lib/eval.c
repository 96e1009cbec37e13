/*
 * The decision procedure of policy.md ("Decision", step 4): which rules
 * match an action, and which of them decides. Nothing here allocates:
 * every value a condition looks at is either owned by the session, the
 * action or the policy, or is a view on the caller's stack.
 *
 * Predicates return 1 (holds), 0 (does not) or -1 (cannot be evaluated,
 * e.g. a task parameter used as a glob is not a valid glob). The caller
 * turns -1 into a deny: an error never allows.
 */
#include <string.h>

#include "extract.h"
#include "provenance.h"
#include "session.h"

/* An argument; a JSON null is absent, for every predicate (agentauthz-policy(5)). */
static const agentauthz_value *args_path(const agentauthz_value *v, const az_cond *c)
{
    for (size_t i = 0; v && i < c->npath; i++)
        v = az_value_map_getn(v, c->path[i], c->plen[i]);
    return v && v->type == AGENTAUTHZ_NULL ? NULL : v;
}

/* Whether the condition's args.<path> is the catalogue's dotted path d. */
static bool cond_is_path(const char *d, const az_cond *c)
{
    for (size_t i = 0; i < c->npath; i++) {
        if (i && *d++ != '.')
            return false;
        if (strncmp(d, c->path[i], c->plen[i]) != 0)
            return false;
        d += c->plen[i];
    }
    return *d == '\0';
}

static bool cond_on_path_arg(const az_eval *ev, const az_cond *c)
{
    if (c->field != AZ_F_ARGS || !ev->entry)
        return false;
    for (size_t i = 0; i < ev->entry->npaths; i++)
        if (cond_is_path(ev->entry->paths[i], c))
            return true;
    return false;
}

/*
 * x as a predicate sees it: in a condition on a path argument, a string is
 * normalised (into ev->arg_buf, seen through *view). NULL when it cannot
 * be; az_eval_init has refused such an action already.
 */
static const agentauthz_value *as_checked(az_eval *ev, const agentauthz_value *x,
                                          agentauthz_value *view)
{
    const char *p;
    size_t n;
    if (!ev->as_path || x->type != AGENTAUTHZ_STRING)
        return x;
    if (az_path_normalize_arg(x->u.str.p, x->u.str.len, ev->arg_buf, AZ_MAX_PATH, &p, &n))
        return NULL;
    if (p == ev->arg_buf)
        ev->arg_buf[n] = '\0';
    *view = az_value_view_string(p, n);
    return view;
}

/*
 * The session's parameter, or NULL when it is absent. A null stands for an
 * absent optional parameter (session open accepts it only for those).
 */
static const agentauthz_value *session_param(const az_eval *ev, const char *name, size_t len)
{
    const agentauthz_value *v = az_value_map_getn(ev->s->params, name, len);
    return v && v->type == AGENTAUTHZ_NULL ? NULL : v;
}

/* Whether the task in force declares the parameter optional (issue 11, item 4). */
static bool param_optional(const az_eval *ev, const char *name)
{
    const az_view *v = &ev->s->view;
    const az_task *t;
    if (v->task < 0)
        return false;
    t = &v->p->tasks[v->task];
    for (size_t i = 0; i < t->nparams; i++)
        if (strcmp(t->params[i].name, name) == 0)
            return t->params[i].optional;
    return false;
}

/*
 * The identity and the task are measured only when a condition looks at
 * them: few rules do, and every check would otherwise pay two strlen calls.
 */
static const agentauthz_value *field_value(az_eval *ev, const az_cond *c)
{
    const agentauthz_session *s = ev->s;
    switch (c->field) {
    case AZ_F_IDENTITY:
        ev->identity = az_value_view_string(s->identity, strlen(s->identity));
        return &ev->identity;
    case AZ_F_ROLES: return s->view.roles;
    case AZ_F_TASK:
        ev->task = az_value_view_string(s->task, strlen(s->task));
        return &ev->task;
    case AZ_F_TOOL: return &ev->tool;
    case AZ_F_RESOURCE: return ev->has_resource ? &ev->resource : NULL;
    case AZ_F_DESTINATION: return ev->dest;
    case AZ_F_ARGS: return args_path(ev->a->args, c);
    case AZ_F_LABELS: return ev->a->labels ? ev->a->labels : &ev->empty;
    case AZ_F_SESSION_LABELS: return s->labels;
    case AZ_F_SESSION_CALLS: return &ev->calls;
    case AZ_F_SESSION_AGE: return &ev->age;
    case AZ_F_SESSION_PARAM: return session_param(ev, c->path[0], c->plen[0]);
    case AZ_F_TOOL_SINK: return ev->entry ? &ev->sink : NULL;
    case AZ_F_TOOL_PRODUCES: return ev->entry ? ev->entry->produces : NULL;
    case AZ_F_PAYLOAD:
        if (!ev->a->payload.len)
            return NULL;
        ev->payload = az_value_view_string(ev->a->payload.p, ev->a->payload.len);
        return &ev->payload;
    }
    return NULL;
}

/* ---- operands: literals and session parameters, flattened ---- */

typedef struct operand_iter {
    const az_pred *p;
    size_t item;  /* the next item of p */
    const agentauthz_value *list; /* a list parameter being walked */
    size_t elem;
    size_t yielded; /* operands returned so far */
    bool absent;    /* an optional parameter was absent: it stands for no value */
} operand_iter;

#define OPERAND_ITER(p) {(p), 0, NULL, 0, 0, false}

/*
 * The next operand value, with the item it came from (whose prepared glob,
 * CIDR or regex is valid only when item->lit is set). NULL at the end; an
 * item naming a parameter the session lacks sets *missing, unless the task
 * declares it optional: then it adds no operand and sets it->absent.
 */
static const agentauthz_value *next_operand_raw(az_eval *ev, operand_iter *it,
                                                const az_item **from, bool *missing)
{
    for (;;) {
        const az_item *item;
        const agentauthz_value *v;
        if (it->list && it->elem < it->list->u.list.n) {
            *from = &it->p->items[it->item - 1];
            return it->list->u.list.items[it->elem++];
        }
        it->list = NULL;
        if (it->item >= it->p->nitems)
            return NULL;
        item = &it->p->items[it->item++];
        *from = item;
        if (item->lit)
            return item->lit;
        v = session_param(ev, item->param, strlen(item->param));
        if (!v && param_optional(ev, item->param)) {
            it->absent = true;
            continue;
        }
        if (!v) {
            *missing = true;
            return NULL;
        }
        if (v->type != AGENTAUTHZ_LIST)
            return v;
        it->list = v;
        it->elem = 0;
    }
}

static const agentauthz_value *next_operand(az_eval *ev, operand_iter *it,
                                            const az_item **from, bool *missing)
{
    const agentauthz_value *o = next_operand_raw(ev, it, from, missing);
    it->yielded += o != NULL;
    return o;
}

/*
 * Whether the operands ran out with none at all because an optional
 * parameter was absent: then the predicate is false, whatever it is (ne and
 * not_in too), as any predicate over an absent value is.
 */
static bool operands_absent(const operand_iter *it)
{
    return it->absent && it->yielded == 0;
}

static bool is_str(const agentauthz_value *v)
{
    return v->type == AGENTAUTHZ_STRING;
}

static bool values_eq(const agentauthz_value *x, const agentauthz_value *y, bool icase)
{
    if (icase && is_str(x) && is_str(y))
        return az_mem_eq(x->u.str.p, x->u.str.len, y->u.str.p, y->u.str.len, true);
    return az_value_equal(x, y);
}

static int match_glob(const az_item *from, const agentauthz_value *x,
                      const agentauthz_value *o, bool icase)
{
    if (from->lit)
        return az_glob_match(&from->glob, x->u.str.p, x->u.str.len);
    return az_glob_match_raw(o->u.str.p, o->u.str.len, x->u.str.p, x->u.str.len,
                             (az_glob_mode)from->glob_mode, icase);
}

static int match_cidr(const az_item *from, const agentauthz_value *x,
                      const agentauthz_value *o)
{
    az_cidr parsed;
    if (from->lit)
        return az_cidr_match(&from->cidr, x->u.str.p, x->u.str.len);
    if (az_cidr_parse(&parsed, o->u.str.p, o->u.str.len) != 0)
        return -1;
    return az_cidr_match(&parsed, x->u.str.p, x->u.str.len);
}

/* One string operator applied to the string x and one operand o. */
static int string_op(const az_pred *p, const az_item *from, const agentauthz_value *x,
                     const agentauthz_value *o)
{
    const char *s = x->u.str.p;
    size_t len = x->u.str.len;
    if (!is_str(o))
        return 0;
    switch (p->op) {
    case AZ_OP_GLOB: return match_glob(from, x, o, p->icase);
    case AZ_OP_PREFIX: return az_has_prefix(s, len, o->u.str.p, o->u.str.len, p->icase);
    case AZ_OP_SUFFIX: return az_has_suffix(s, len, o->u.str.p, o->u.str.len, p->icase);
    case AZ_OP_DOMAIN:
        if (from->lit)
            return az_domain_match_prepared(&from->domain, s, len);
        return az_domain_match(s, len, o->u.str.p, o->u.str.len);
    case AZ_OP_CIDR: return match_cidr(from, x, o);
    case AZ_OP_REGEX: return az_regex_match(&from->regex, s, len);
    default: return 0;
    }
}

static int number_op(az_op op, double x, const agentauthz_value *o)
{
    if (o->type != AGENTAUTHZ_NUMBER)
        return 0;
    switch (op) {
    case AZ_OP_LT: return x < o->u.num;
    case AZ_OP_LTE: return x <= o->u.num;
    case AZ_OP_GT: return x > o->u.num;
    case AZ_OP_GTE: return x >= o->u.num;
    default: return 0;
    }
}

/* One operand's verdict on the scalar x. */
static int operand_op(const az_pred *p, const az_item *from, const agentauthz_value *x,
                      const agentauthz_value *o)
{
    switch (p->op) {
    case AZ_OP_EQ:
    case AZ_OP_NE:
    case AZ_OP_IN:
    case AZ_OP_NOT_IN: return values_eq(x, o, p->icase);
    case AZ_OP_LT:
    case AZ_OP_LTE:
    case AZ_OP_GT:
    case AZ_OP_GTE: return x->type == AGENTAUTHZ_NUMBER && number_op(p->op, x->u.num, o);
    default: return is_str(x) ? string_op(p, from, x, o) : 0;
    }
}

static bool negated_op(az_op op)
{
    return op == AZ_OP_NE || op == AZ_OP_NOT_IN;
}

static int literal_op(const az_pred *p, const agentauthz_value *x, bool negated)
{
    for (size_t i = 0; i < p->nitems; i++) {
        int r = operand_op(p, &p->items[i], x, p->items[i].lit);
        if (r < 0)
            return -1;
        if (r)
            return !negated;
    }
    return negated;
}

/*
 * A scalar operator on the scalar x: true when some operand says so, except
 * ne and not_in, which hold when no operand is equal.
 */
static int scalar_op(az_eval *ev, const az_pred *p, const agentauthz_value *x)
{
    operand_iter it = OPERAND_ITER(p);
    const agentauthz_value *o;
    const az_item *from = NULL;
    bool missing = false, negated = negated_op(p->op);
    if (!p->has_param) /* literals only, the usual case: no parameter to resolve */
        return literal_op(p, x, negated);
    while ((o = next_operand(ev, &it, &from, &missing)) != NULL) {
        int r = operand_op(p, from, x, o);
        if (r < 0)
            return -1;
        if (r)
            return !negated;
    }
    if (missing)
        return -1;
    return operands_absent(&it) ? 0 : negated;
}

/* Whether x (as the predicates see it) equals o: 1, 0 or -1. */
static int element_is(az_eval *ev, const agentauthz_value *x, const agentauthz_value *o)
{
    agentauthz_value view;
    if (!(x = as_checked(ev, x, &view)))
        return -1;
    return az_value_equal(x, o);
}

/* Whether the list v (or the scalar v, a list of one) holds o: 1, 0 or -1. */
static int list_holds(az_eval *ev, const agentauthz_value *v, const agentauthz_value *o)
{
    if (v->type != AGENTAUTHZ_LIST)
        return element_is(ev, v, o);
    for (size_t i = 0; i < v->u.list.n; i++) {
        int r = element_is(ev, v->u.list.items[i], o);
        if (r != 0)
            return r;
    }
    return 0;
}

/*
 * A list contains every operand. A scalar is a list of one, as for each and
 * some: a deny written for several recipients must catch a single one.
 */
static int has_op(az_eval *ev, const az_pred *p, const agentauthz_value *v)
{
    operand_iter it = OPERAND_ITER(p);
    const agentauthz_value *o;
    const az_item *from = NULL;
    bool missing = false;
    if (v->type == AGENTAUTHZ_MAP || v->type == AGENTAUTHZ_NULL)
        return 0;
    while ((o = next_operand(ev, &it, &from, &missing)) != NULL) {
        int r = list_holds(ev, v, o);
        if (r != 1)
            return r;
    }
    if (missing)
        return -1;
    return operands_absent(&it) ? 0 : 1;
}

/* A null element is absent, as a null argument is. */
static const agentauthz_value *element(const agentauthz_value *v, size_t i)
{
    const agentauthz_value *x = v->u.list.items[i];
    return x->type == AGENTAUTHZ_NULL ? NULL : x;
}

static int eval_pred(az_eval *ev, const az_pred *p, const agentauthz_value *v);

/*
 * each (all elements) or some (one element) of a non-empty list. A scalar
 * is a list of one: a single recipient must not slip past a rule written
 * for several (issue 9, item 1).
 */
static int elements_op(az_eval *ev, const az_pred *p, const agentauthz_value *v, bool every)
{
    if (!v || v->type == AGENTAUTHZ_MAP || v->type == AGENTAUTHZ_NULL)
        return 0;
    if (v->type != AGENTAUTHZ_LIST)
        return eval_pred(ev, &p->kids[0], v);
    if (v->u.list.n == 0)
        return 0;
    for (size_t i = 0; i < v->u.list.n; i++) {
        int r = eval_pred(ev, &p->kids[0], element(v, i));
        if (r < 0)
            return -1;
        if (every != (r == 1))
            return !every;
    }
    return every;
}

/* any (first true wins) or all (first false loses) of the kids. */
static int group_op(az_eval *ev, const az_pred *p, const agentauthz_value *v, bool any)
{
    for (size_t i = 0; i < p->nkids; i++) {
        int r = eval_pred(ev, &p->kids[i], v);
        if (r < 0)
            return -1;
        if (any == (r == 1))
            return any;
    }
    return !any;
}

/* len_lte: the bound is the literal, or the number parameter (checked at open) it names. */
static int length_op(az_eval *ev, const az_pred *p, const agentauthz_value *v)
{
    double limit = p->limit;
    agentauthz_value view;
    if (p->has_param) {
        const char *name = p->items[0].param;
        const agentauthz_value *n = session_param(ev, name, strlen(name));
        if (!n && param_optional(ev, name))
            return 0;
        if (!n || n->type != AGENTAUTHZ_NUMBER)
            return -1;
        limit = n->u.num;
    }
    if (v && v->type == AGENTAUTHZ_STRING) {
        if (!(v = as_checked(ev, v, &view)))
            return -1;
        return (double)v->u.str.len <= limit;
    }
    if (v && v->type == AGENTAUTHZ_LIST)
        return (double)v->u.list.n <= limit;
    return 0;
}

/* A scalar operator on one scalar, which a null (absent) never satisfies. */
static int scalar_leaf(az_eval *ev, const az_pred *p, const agentauthz_value *x)
{
    agentauthz_value view;
    if (!x)
        return 0;
    if (!(x = as_checked(ev, x, &view)))
        return -1;
    return scalar_op(ev, p, x);
}

/* A string or number operator on a value: on a list, every element must pass. */
static int value_op(az_eval *ev, const az_pred *p, const agentauthz_value *v)
{
    if (!v || v->type == AGENTAUTHZ_MAP)
        return 0;
    if (v->type != AGENTAUTHZ_LIST)
        return scalar_leaf(ev, p, v->type == AGENTAUTHZ_NULL ? NULL : v);
    if (v->u.list.n == 0)
        return 0;
    for (size_t i = 0; i < v->u.list.n; i++) {
        int r = scalar_leaf(ev, p, element(v, i));
        if (r != 1)
            return r;
    }
    return 1;
}

/*
 * ---- from and not_from (agentauthz-policy(5), PROVENANCE) ----
 *
 * Only a rule that names them reaches this code: a check with none looks
 * at no provenance at all.
 */

typedef struct from_query {
    uint64_t mask; /* the observed labels named that the session knows */
    bool param;    /* "param": the session's task parameters */
    bool observed; /* some other label is named */
} from_query;

static void from_labels(const az_eval *ev, const az_pred *p, from_query *q)
{
    q->mask = 0;
    q->param = q->observed = false;
    for (size_t i = 0; i < p->nitems; i++) {
        const agentauthz_value *l = p->items[i].lit;
        if (l->u.str.len == 5 && memcmp(l->u.str.p, "param", 5) == 0) {
            q->param = true;
            continue;
        }
        q->observed = true;
        q->mask |= az_prov_label_bit(ev->s->prov, l->u.str.p, l->u.str.len);
    }
}

/* A string or number's text as provenance compares it (numbers canonical); false otherwise. */
static bool leaf_text(const agentauthz_value *v, char *buf, size_t cap, const char **s, size_t *n)
{
    if (v->type == AGENTAUTHZ_STRING) {
        *s = v->u.str.p;
        *n = v->u.str.len;
        return true;
    }
    if (v->type != AGENTAUTHZ_NUMBER)
        return false;
    *s = buf;
    *n = az_number_text(v->u.num, buf, cap);
    return *n > 0;
}

/* Whether the text equals a task parameter: a string, a number, or an item of a list one. */
static bool equals_param(const agentauthz_value *pv, const char *s, size_t n, unsigned depth)
{
    char buf[64];
    const char *t;
    size_t tn;
    if (pv->type == AGENTAUTHZ_LIST && depth == 0) {
        for (size_t i = 0; i < pv->u.list.n; i++)
            if (equals_param(pv->u.list.items[i], s, n, 1))
                return true;
        return false;
    }
    return leaf_text(pv, buf, sizeof buf, &t, &tn) && tn == n && memcmp(t, s, n) == 0;
}

static bool from_params(const agentauthz_value *params, const char *s, size_t n)
{
    for (size_t i = 0; params && i < params->u.map.n; i++)
        if (equals_param(params->u.map.items[i].val, s, n, 0))
            return true;
    return false;
}

static bool text_from(const az_eval *ev, const from_query *q, const char *s, size_t n)
{
    return (q->param && from_params(ev->s->params, s, n)) ||
           (q->mask && az_prov_find(ev->s->prov, q->mask, s, n));
}

/* One string or number: as given, and as the other predicates see it (a path normalised). */
static bool leaf_from(az_eval *ev, const from_query *q, const agentauthz_value *x)
{
    char buf[64];
    agentauthz_value view;
    const agentauthz_value *checked;
    const char *s;
    size_t n;
    if (!leaf_text(x, buf, sizeof buf, &s, &n))
        return false;
    if (text_from(ev, q, s, n))
        return true;
    checked = as_checked(ev, x, &view);
    return checked && checked != x && text_from(ev, q, checked->u.str.p, checked->u.str.len);
}

/* Some string or number in v, at any depth, is from the labels: 1, 0, or -1 when too deep. */
static int value_from(az_eval *ev, const from_query *q, const agentauthz_value *v,
                      unsigned depth)
{
    size_t n = v->type == AGENTAUTHZ_LIST ? v->u.list.n : v->type == AGENTAUTHZ_MAP ? v->u.map.n : 0;
    if (depth > AZ_MAX_DEPTH)
        return -1;
    if (v->type != AGENTAUTHZ_LIST && v->type != AGENTAUTHZ_MAP)
        return leaf_from(ev, q, v);
    for (size_t i = 0; i < n; i++) {
        const agentauthz_value *x =
            v->type == AGENTAUTHZ_LIST ? v->u.list.items[i] : v->u.map.items[i].val;
        int r = value_from(ev, q, x, depth + 1);
        if (r != 0)
            return r;
    }
    return 0;
}

/*
 * from holds when some string or number of the value (the value itself,
 * or any element or member) is from one of the labels; not_from when the
 * value is present and none is. Absent (or null), both are false. When
 * the session has dropped observations, a value not found might have been
 * observed: neither answer can be given and the check is denied (-1).
 */
static int from_op(az_eval *ev, const az_pred *p, const agentauthz_value *v)
{
    const agentauthz_session *s = ev->s;
    from_query q;
    int r;
    if (!v || v->type == AGENTAUTHZ_NULL)
        return 0;
    from_labels(ev, p, &q);
    r = value_from(ev, &q, v, 0);
    if (r == 0 && ev->has_resource && v == &ev->resource)
        r = text_from(ev, &q, ev->res_raw, ev->res_raw_len); /* as given, too */
    if (r == 0 && q.observed && (s->observe_lost || az_prov_incomplete(s->prov)))
        return -1;
    return r < 0 ? r : p->op == AZ_OP_NOT_FROM ? !r : r;
}

static int eval_pred(az_eval *ev, const az_pred *p, const agentauthz_value *v)
{
    int r;
    switch (p->op) {
    case AZ_OP_NOT:
        r = eval_pred(ev, &p->kids[0], v);
        return r < 0 ? r : !r;
    case AZ_OP_ANY: return group_op(ev, p, v, true);
    case AZ_OP_ALL: return group_op(ev, p, v, false);
    case AZ_OP_EACH: return elements_op(ev, p, v, true);
    case AZ_OP_SOME: return elements_op(ev, p, v, false);
    case AZ_OP_EXISTS: return (v != NULL) == p->flag;
    case AZ_OP_TYPE: return v && (p->types & (1u << v->type)) != 0;
    case AZ_OP_LEN_LTE: return length_op(ev, p, v);
    case AZ_OP_HAS: return v ? has_op(ev, p, v) : 0;
    case AZ_OP_FROM:
    case AZ_OP_NOT_FROM: return from_op(ev, p, v);
    default: return value_op(ev, p, v);
    }
}

/* ---- derived fields: links(F), hosts(F), emails(F) ---- */

typedef struct derive_ctx {
    az_arena *ar;
    agentauthz_value *list;
    int err;         /* why derive_item stopped the scan */
    const char *why; /* why the list could not be built, for the decision */
} derive_ctx;

/* Host names compare as the domain predicate reads them: ASCII case folded. */
static void fold_ascii(char *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] >= 'A' && p[i] <= 'Z')
            p[i] = (char)(p[i] - 'A' + 'a');
}

static int derive_item(void *ctx, az_extract_kind kind, const char *s, size_t len)
{
    derive_ctx *d = ctx;
    agentauthz_value *v = az_value_stringn_in(d->ar, s, len);
    if (!v || az_value_list_push_in(d->ar, d->list, v) != 0) {
        d->err = az_arena_error(d->ar);
        return 1;
    }
    if (kind == AZ_X_HOST)
        fold_ascii(v->u.str.p, len);
    return 0;
}

/* The items of one text, up to AZ_MAX_DERIVED in the list: 0, ELIMIT or ENOMEM. */
static int derive_text(derive_ctx *d, const char *s, size_t len, unsigned kind)
{
    int rc = az_extract(s, len, kind, AZ_MAX_DERIVED - d->list->u.list.n, derive_item, d);
    if (rc == AGENTAUTHZ_ELIMIT)
        d->why = "a condition could not be evaluated: more than 1024 links, hosts or e-mail "
                 "addresses in one field";
    return rc == 1 ? d->err : rc;
}

/* Every string of v: itself, the items of a list, the keys and values of a map. */
static int derive_walk(derive_ctx *d, const agentauthz_value *v, unsigned kind, unsigned depth)
{
    int rc = 0;
    if (depth > AZ_MAX_DEPTH) {
        d->why = "a condition could not be evaluated: a value nested deeper than 64 levels";
        return AGENTAUTHZ_ELIMIT;
    }
    switch (v->type) {
    case AGENTAUTHZ_STRING: return derive_text(d, v->u.str.p, v->u.str.len, kind);
    case AGENTAUTHZ_LIST:
        for (size_t i = 0; i < v->u.list.n && !rc; i++)
            rc = derive_walk(d, v->u.list.items[i], kind, depth + 1);
        return rc;
    case AGENTAUTHZ_MAP:
        for (size_t i = 0; i < v->u.map.n && !rc; i++) {
            const az_kv *kv = &v->u.map.items[i];
            rc = derive_text(d, kv->key, kv->klen, kind);
            if (!rc)
                rc = derive_walk(d, kv->val, kind, depth + 1);
        }
        return rc;
    default: return 0; /* numbers, bools and nulls hold no text */
    }
}

/*
 * The list a derived field stands for, in the session's scratch arena
 * (reset first: one derived list is alive at a time). An absent field
 * stays absent (NULL). -1 when it cannot be built (over a bound, out of
 * memory): the check is then denied, whatever the rule's effect.
 */
static int derived_value(az_eval *ev, const az_cond *c, const agentauthz_value *raw,
                         const agentauthz_value **out)
{
    derive_ctx d = {ev->scratch, NULL, 0, NULL};
    int rc;
    *out = NULL;
    if (!raw)
        return 0;
    az_arena_reset(d.ar);
    if (!(d.list = az_value_new_in(d.ar, AGENTAUTHZ_LIST)))
        rc = az_arena_error(d.ar);
    else
        rc = derive_walk(&d, raw, c->derive, 0);
    if (rc) {
        /* A bound is the policy's answer; running out of memory is the engine's failure. */
        ev->eval_why = d.why ? d.why : "a condition could not be evaluated: out of memory";
        ev->eval_err = rc == AGENTAUTHZ_ELIMIT ? 0 : rc;
        return -1;
    }
    *out = d.list;
    return 0;
}

static int eval_derived(az_eval *ev, const az_cond *c, const agentauthz_value *raw)
{
    const agentauthz_value *list;
    ev->as_path = false; /* the items are links, hosts and addresses, not paths */
    if (derived_value(ev, c, raw, &list) != 0)
        return -1;
    return eval_pred(ev, &c->pred, list);
}

/*
 * One condition. The usual one, a scalar operator with literal operands
 * applied to a scalar, goes straight to its operands: the same verdict
 * eval_pred would reach through value_op and scalar_op.
 */
static int eval_cond(az_eval *ev, const az_cond *c)
{
    const az_pred *p = &c->pred;
    const agentauthz_value *v = field_value(ev, c);
    agentauthz_value view;
    if (c->derive)
        return eval_derived(ev, c, v);
    ev->as_path = ev->entry && ev->entry->npaths && cond_on_path_arg(ev, c);
    if (az_op_is_scalar(p->op) && !p->has_param) {
        if (!v || v->type == AGENTAUTHZ_MAP)
            return 0;
        if (v->type != AGENTAUTHZ_LIST) {
            if (!(v = as_checked(ev, v, &view)))
                return -1;
            return literal_op(p, v, negated_op(p->op));
        }
    }
    return eval_pred(ev, p, v);
}

/* Conditions that must all hold: 1, 0 at the first that does not, -1 on an error. */
static int eval_conds(az_eval *ev, const az_cond *conds, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int r = eval_cond(ev, &conds[i]);
        if (r != 1)
            return r;
    }
    return 1;
}

static int eval_where(az_eval *ev, const az_where *w)
{
    int r = eval_conds(ev, w->conds, w->nconds);
    if (r != 1)
        return r;
    if (w->nany) {
        int any = 0;
        for (size_t i = 0; i < w->nany && any != 1; i++) {
            r = eval_where(ev, &w->any[i]);
            if (r < 0)
                return r;
            any = r;
        }
        if (!any)
            return 0;
    }
    if (w->not_) {
        r = eval_where(ev, w->not_);
        return r < 0 ? r : !r;
    }
    return 1;
}

/* ---- scope and the decision ---- */

/*
 * Whether the session's task and roles are in the rule's scope. When the
 * policy has at most 64 tasks (or roles), the candidate carries them as a
 * bit mask (az_policy_build_index) and one AND decides.
 */
static bool task_in_scope(const az_cand *c, const az_rule *r, int task)
{
    if (c->flags & AZ_CAND_ANY_TASK)
        return true;
    if (c->flags & AZ_CAND_TASK_MASK)
        return task >= 0 && task < 64 && ((c->task_mask >> task) & 1u);
    for (size_t i = 0; i < r->ntasks; i++)
        if ((int)r->tasks[i] == task)
            return true;
    return false;
}

static bool role_in_scope(const az_cand *c, const az_rule *r, const az_view *v)
{
    if (c->flags & AZ_CAND_ANY_ROLE)
        return true;
    if (c->flags & AZ_CAND_ROLE_MASK)
        return (v->role_bits[0] & c->role_mask) != 0;
    for (size_t i = 0; i < r->nroles; i++)
        if (v->role_bits[r->roles[i] / 64] & (UINT64_C(1) << (r->roles[i] % 64)))
            return true;
    return false;
}

/*
 * The scope test of the loop below: with at most 64 tasks and 64 roles (the
 * usual case) two ANDs against the session's task bit and role word, which
 * the loop computes once; else the rule's own lists.
 */
static inline bool cand_in_scope(const az_cand *c, const az_rule *r, const az_view *v,
                                 uint64_t task_bit, uint64_t roles)
{
    const uint8_t masks = AZ_CAND_TASK_MASK | AZ_CAND_ROLE_MASK;
    if ((c->flags & masks) != masks)
        return task_in_scope(c, r, v->task) && role_in_scope(c, r, v);
    return ((c->flags & AZ_CAND_ANY_TASK) || (c->task_mask & task_bit)) &&
           ((c->flags & AZ_CAND_ANY_ROLE) || (c->role_mask & roles));
}

/* ---- input refused before the rules ---- */

/* The resource as the rules see it: a path-like one normalised. 0, or 1 when refused. */
static int check_resource(az_eval *ev)
{
    const agentauthz_action *a = ev->a;
    const char *p;
    size_t n;
    ev->resource = az_value_view_string(a->resource.p ? a->resource.p : "", a->resource.len);
    ev->has_resource = a->has_resource;
    ev->res_raw = ev->resource.u.str.p;
    ev->res_raw_len = a->resource.len;
    if (!a->has_resource)
        return 0;
    ev->input_why = az_path_normalize_resource(a->resource.p, a->resource.len,
                                               ev->resource_buf, AZ_MAX_PATH, &p, &n);
    if (ev->input_why)
        return 1;
    if (p == ev->resource_buf)
        ev->resource_buf[n] = '\0';
    ev->resource = az_value_view_string(p, n);
    return 0;
}

/* The argument at the dotted path d, or NULL (absent or null). */
static const agentauthz_value *dotted_arg(const agentauthz_value *v, const char *d)
{
    while (v && v->type != AGENTAUTHZ_NULL) {
        const char *dot = strchr(d, '.');
        size_t len = dot ? (size_t)(dot - d) : strlen(d);
        v = az_value_map_getn(v, d, len);
        if (!dot)
            break;
        d = dot + 1;
    }
    return v && v->type != AGENTAUTHZ_NULL ? v : NULL;
}

static const char *path_refused(az_eval *ev, const agentauthz_value *x)
{
    const char *p;
    size_t n;
    if (x->type != AGENTAUTHZ_STRING)
        return NULL;
    return az_path_normalize_arg(x->u.str.p, x->u.str.len, ev->arg_buf, AZ_MAX_PATH, &p, &n);
}

/*
 * The arguments the catalogue marks as paths: each string (or string in a
 * list) must normalise. 0, or 1 with the first refusal.
 */
static int check_path_args(az_eval *ev)
{
    for (size_t i = 0; i < ev->entry->npaths; i++) {
        const agentauthz_value *v = dotted_arg(ev->a->args, ev->entry->paths[i]);
        if (!v)
            continue;
        ev->input_arg = ev->entry->paths[i];
        if (v->type != AGENTAUTHZ_LIST) {
            if ((ev->input_why = path_refused(ev, v)) != NULL)
                return 1;
            continue;
        }
        for (size_t j = 0; j < v->u.list.n; j++)
            if ((ev->input_why = path_refused(ev, v->u.list.items[j])) != NULL)
                return 1;
    }
    ev->input_arg = NULL;
    return 0;
}

/*
 * The catalogued resource and destination arguments hold a string or a list
 * of strings (null or absent: no value), at most AZ_MAX_ARG_VALUES in all
 * for each kind: anything else is refused before the rules, so that no
 * value escapes the per-value checks. 0, or 1 with the refusal.
 */
static int check_kind_args(az_eval *ev, char *const *names, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        const agentauthz_value *v = dotted_arg(ev->a->args, names[i]);
        bool list = v && v->type == AGENTAUTHZ_LIST;
        size_t k = !v ? 0 : list ? v->u.list.n : 1;
        ev->input_arg = names[i];
        for (size_t j = 0; j < k; j++)
            if ((list ? v->u.list.items[j] : v)->type != AGENTAUTHZ_STRING) {
                ev->input_why = "a resource or destination argument must be a string or a "
                                "list of strings";
                return 1;
            }
        total += k;
        if (total > AZ_MAX_ARG_VALUES) {
            ev->input_why = "over 1024 resource or destination values"; /* AZ_MAX_ARG_VALUES */
            return 1;
        }
    }
    ev->input_arg = NULL;
    return 0;
}

size_t az_eval_arg_values(const az_eval *ev, char *const *names, size_t n,
                          const agentauthz_value **out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const agentauthz_value *v = dotted_arg(ev->a->args, names[i]);
        if (v && v->type == AGENTAUTHZ_LIST) {
            for (size_t j = 0; j < v->u.list.n && k < cap; j++, k++)
                if (out)
                    out[k] = v->u.list.items[j];
        } else if (v && k < cap) {
            if (out)
                out[k] = v;
            k++;
        }
    }
    return k;
}

void az_eval_set_resource(az_eval *ev, const agentauthz_value *v)
{
    const char *p;
    size_t n;
    if (!v) {
        (void)check_resource(ev); /* accepted by az_eval_init already */
        return;
    }
    ev->has_resource = true;
    ev->res_raw = v->u.str.p;
    ev->res_raw_len = v->u.str.len;
    if (az_path_normalize_arg(v->u.str.p, v->u.str.len, ev->resource_buf, AZ_MAX_PATH, &p, &n)) {
        p = "";
        n = 0; /* unreachable: az_eval_init refused it through paths */
    } else if (p == ev->resource_buf) {
        ev->resource_buf[n] = '\0';
    }
    ev->resource = az_value_view_string(p, n);
}

int az_eval_init(az_eval *ev, agentauthz_session *s, const agentauthz_action *a, uint64_t now)
{
    ev->s = s;
    ev->a = a;
    ev->now = now;
    ev->idx = az_policy_lookup_tool(s->view.p, a->tool.p, a->tool.len);
    ev->entry = ev->idx ? ev->idx->entry : NULL;
    ev->identity = az_value_view_string("", 0); /* measured by field_value when needed */
    ev->task = az_value_view_string("", 0);
    ev->tool = az_value_view_string(a->tool.p, a->tool.len);
    ev->calls = az_value_view_number((double)s->calls);
    ev->age = az_value_view_number((double)(now - s->opened_ns) / 1e9);
    memset(&ev->empty, 0, sizeof ev->empty);
    ev->empty.type = AGENTAUTHZ_LIST;
    ev->sink = az_value_view_bool(ev->entry && ev->entry->sink);
    ev->input_why = NULL;
    ev->input_arg = NULL;
    ev->scratch = &s->derived;
    ev->eval_why = NULL;
    ev->eval_err = 0;
    ev->as_path = false;
    ev->dest = a->dest;
    if (check_resource(ev))
        return 1;
    if (!ev->entry || !a->args)
        return 0;
    if (ev->entry->npaths && check_path_args(ev))
        return 1;
    return check_kind_args(ev, ev->entry->resources, ev->entry->nresources) ||
           check_kind_args(ev, ev->entry->dests, ev->entry->ndests);
}

/* A candidate's conditions: from the candidate itself when they are flat. */
static int eval_candidate(az_eval *ev, const az_cand *c, const az_rule *r)
{
    if (c->flags & AZ_CAND_CONDS)
        return eval_conds(ev, c->conds, c->nconds);
    return (c->flags & AZ_CAND_WHERE) ? eval_where(ev, &r->where) : 1;
}

/*
 * Deny beats ask beats allow; among rules of the deciding effect the first
 * in file order names the decision. The first matching deny ends the scan.
 *
 * The tool was looked up once per check, by az_eval_init, with its
 * catalogue entry.
 */
int az_eval_rules(az_eval *ev, const az_rule **rule, agentauthz_effect *effect)
{
    const az_policy *p = ev->s->view.p;
    const az_tool_index *idx = ev->idx;
    const az_cand *cand = idx ? idx->cands : p->glob_cands;
    size_t n = idx ? idx->nrules : p->nglob_rules;
    const az_rule *ask = NULL, *allow = NULL;
    const az_view *view = &ev->s->view;
    const uint64_t task_bit = view->task >= 0 && view->task < 64 ? UINT64_C(1) << view->task : 0;
    const uint64_t roles = view->role_bits[0];
    for (size_t i = 0; i < n; i++) {
        const az_cand *c = &cand[i];
        const az_rule *r = &p->rules[c->rule];
        int m;
        if (c->effect != AGENTAUTHZ_DENY && (c->effect == AGENTAUTHZ_ASK ? ask : allow))
            continue; /* an earlier rule of this effect already names the decision */
        if (!cand_in_scope(c, r, view, task_bit, roles) ||
            (!idx && !az_globs_match(r->tools, r->ntools, ev->a->tool.p, ev->a->tool.len)))
            continue;
        m = eval_candidate(ev, c, r);
        *rule = r;
        if (m < 0)
            return -1;
        if (!m)
            continue;
        if (c->effect == AGENTAUTHZ_DENY) {
            *effect = AGENTAUTHZ_DENY;
            return 0;
        }
        if (c->effect == AGENTAUTHZ_ASK)
            ask = r;
        else
            allow = r;
    }
    *rule = ask ? ask : allow;
    *effect = ask ? AGENTAUTHZ_ASK : allow ? AGENTAUTHZ_ALLOW : AGENTAUTHZ_DENY;
    return 0;
}

/*
 * Actions: what an agent is about to do, built by the host before a check.
 *
 * An action keeps its storage across agentauthz_action_reset: strings in
 * buffers, values in arenas (issue 16). A host that resets one action per
 * check therefore builds it without a malloc per field once the storage has
 * grown to fit. What a reset takes back is wiped first, since arguments and
 * payloads may carry data the host wants kept secret.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "internal.h"
#include "session.h"

int agentauthz_action_new(agentauthz_action **out)
{
    if (!out)
        return AGENTAUTHZ_EINVAL;
    *out = calloc(1, sizeof **out);
    return *out ? 0 : AGENTAUTHZ_ENOMEM;
}

/* Empties b, wiping its bytes and keeping its memory. */
static void buf_clear(az_buf *b)
{
    if (b->p) {
        sodium_memzero(b->p, b->len);
        b->p[0] = '\0';
    }
    b->len = 0;
}

/*
 * Replaces the contents of b with s, keeping b's memory for reuse. What the
 * old contents had beyond the new ones is wiped, so that the bytes past len
 * are always zero and a reset need only wipe len bytes.
 */
static int buf_set(az_buf *b, const void *s, size_t len)
{
    size_t old = b->len;
    int rc;
    b->len = 0;
    rc = az_buf_append(b, s, len);
    if (b->p && old > b->len)
        sodium_memzero(b->p + b->len, old - b->len);
    return rc;
}

void agentauthz_action_reset(agentauthz_action *a)
{
    if (!a)
        return;
    buf_clear(&a->tool);
    buf_clear(&a->resource);
    buf_clear(&a->payload);
    a->has_resource = false;
    a->dest = a->labels = a->args = NULL;
    az_arena_reset(&a->fields);
    az_arena_reset(&a->args_mem[0]);
    az_arena_reset(&a->args_mem[1]);
}

void agentauthz_action_free(agentauthz_action *a)
{
    if (!a)
        return;
    agentauthz_action_reset(a);
    az_buf_free(&a->tool);
    az_buf_free(&a->resource);
    az_buf_free(&a->payload);
    az_arena_free(&a->fields);
    az_arena_free(&a->args_mem[0]);
    az_arena_free(&a->args_mem[1]);
    az_json_reuse_free(&a->json);
    free(a);
}

int agentauthz_action_set_tool(agentauthz_action *a, const char *tool)
{
    if (!a || !tool)
        return AGENTAUTHZ_EINVAL;
    return buf_set(&a->tool, tool, strlen(tool));
}

int agentauthz_action_set_resource(agentauthz_action *a, const char *resource)
{
    int rc;
    if (!a)
        return AGENTAUTHZ_EINVAL;
    if (!resource) {
        a->has_resource = false;
        return 0;
    }
    rc = buf_set(&a->resource, resource, strlen(resource));
    a->has_resource = rc == 0;
    return rc;
}

int agentauthz_action_set_payload(agentauthz_action *a, const void *data, size_t len)
{
    if (!a || (!data && len))
        return AGENTAUTHZ_EINVAL;
    return buf_set(&a->payload, data, len);
}

/*
 * Adds s to a string-or-list slot: one string stays a string (unless
 * always_list), more become a list. On failure the slot is unchanged.
 */
static int add_to_list(az_arena *ar, agentauthz_value **slot, const char *s, bool always_list)
{
    agentauthz_value *item = az_value_stringn_in(ar, s, strlen(s)), *list;
    if (!item)
        return az_arena_error(ar);
    if (!*slot && !always_list) {
        *slot = item;
        return 0;
    }
    if (*slot && (*slot)->type == AGENTAUTHZ_LIST) {
        if ((*slot)->u.list.n >= AZ_MAX_LABELS)
            return AGENTAUTHZ_ELIMIT;
        return az_value_list_push_in(ar, *slot, item);
    }
    if (!(list = az_value_new_in(ar, AGENTAUTHZ_LIST)))
        return az_arena_error(ar);
    if ((*slot && az_value_list_push_in(ar, list, *slot) != 0) ||
        az_value_list_push_in(ar, list, item) != 0)
        return az_arena_error(ar);
    *slot = list;
    return 0;
}

int agentauthz_action_add_destination(agentauthz_action *a, const char *dest)
{
    if (!a || !dest)
        return AGENTAUTHZ_EINVAL;
    return add_to_list(&a->fields, &a->dest, dest, false);
}

int agentauthz_action_set_destinations(agentauthz_action *a, const char *const *dests, size_t n)
{
    agentauthz_value *list;
    if (!a || (!dests && n))
        return AGENTAUTHZ_EINVAL;
    if (n > AZ_MAX_LABELS)
        return AGENTAUTHZ_ELIMIT;
    for (size_t i = 0; i < n; i++)
        if (!dests[i])
            return AGENTAUTHZ_EINVAL;
    if (!(list = az_value_new_in(&a->fields, AGENTAUTHZ_LIST)))
        return az_arena_error(&a->fields);
    for (size_t i = 0; i < n; i++) {
        agentauthz_value *item = az_value_stringn_in(&a->fields, dests[i], strlen(dests[i]));
        if (!item || az_value_list_push_in(&a->fields, list, item) != 0)
            return az_arena_error(&a->fields);
    }
    a->dest = list;
    return 0;
}

int agentauthz_action_add_label(agentauthz_action *a, const char *label)
{
    if (!a || !label)
        return AGENTAUTHZ_EINVAL;
    return add_to_list(&a->fields, &a->labels, label, true);
}

/* ---- arguments ---- */

static az_arena *args_arena(agentauthz_action *a)
{
    return &a->args_mem[a->args_cur];
}

/* Sets key to v, a value already in the arguments' arena (NULL: its allocation failed). */
static int put_arg(agentauthz_action *a, const char *key, agentauthz_value *v)
{
    az_arena *ar = args_arena(a);
    if (!v)
        return az_arena_error(ar);
    if (!a->args && !(a->args = az_value_new_in(ar, AGENTAUTHZ_MAP)))
        return az_arena_error(ar);
    return az_value_map_put_in(ar, a->args, key, strlen(key), v);
}

int agentauthz_action_set_arg(agentauthz_action *a, const char *key, agentauthz_value *value)
{
    int rc;
    if (!a || !key) {
        agentauthz_value_free(value);
        return AGENTAUTHZ_EINVAL;
    }
    if (!value)
        return AGENTAUTHZ_ENOMEM;
    rc = put_arg(a, key, az_value_copy_in(args_arena(a), value));
    agentauthz_value_free(value);
    return rc;
}

int agentauthz_action_copy_arg(agentauthz_action *a, const char *key,
                               const agentauthz_value *value)
{
    if (!a || !key || !value)
        return AGENTAUTHZ_EINVAL;
    return put_arg(a, key, az_value_copy_in(args_arena(a), value));
}

int agentauthz_action_set_arg_string(agentauthz_action *a, const char *key, const char *s,
                                     size_t len)
{
    if (!a || !key || (!s && len) || len == SIZE_MAX)
        return AGENTAUTHZ_EINVAL;
    return put_arg(a, key, az_value_stringn_in(args_arena(a), s ? s : "", len));
}

int agentauthz_action_set_arg_number(agentauthz_action *a, const char *key, double n)
{
    if (!a || !key || !isfinite(n))
        return AGENTAUTHZ_EINVAL;
    return put_arg(a, key, az_value_number_in(args_arena(a), n));
}

int agentauthz_action_set_arg_bool(agentauthz_action *a, const char *key, int b)
{
    if (!a || !key)
        return AGENTAUTHZ_EINVAL;
    return put_arg(a, key, az_value_bool_in(args_arena(a), b != 0));
}

/*
 * Parses into the spare arena and swaps only on success, so that a bad
 * text leaves the arguments as they were, and a host that replaces the
 * arguments again and again without a reset does not grow the storage.
 */
int agentauthz_action_set_args_json(agentauthz_action *a, const char *json, size_t len,
                                    agentauthz_error *err)
{
    agentauthz_value *v = NULL;
    az_arena *spare;
    int rc;
    if (!a || !json)
        return az_error_set(err, AGENTAUTHZ_EINVAL, "", 0, 0, 0, "no action or no JSON text");
    spare = &a->args_mem[a->args_cur ^ 1u];
    az_arena_reset(spare);
    rc = az_json_parse_in(spare, &a->json, json, len, &v, err);
    if (!rc && v->type != AGENTAUTHZ_MAP)
        rc = az_error_set(err, AGENTAUTHZ_EJSON, "", 1, 1, 0, "arguments must be a JSON object");
    if (rc) {
        az_arena_reset(spare);
        return rc;
    }
    az_arena_reset(args_arena(a));
    a->args_cur ^= 1u;
    a->args = v;
    return 0;
}

const agentauthz_value *agentauthz_action_args(const agentauthz_action *a)
{
    return a ? a->args : NULL;
}

/* Actions: what an agent is about to do, built by the host before a check. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "session.h"

int agentauthz_action_new(agentauthz_action **out)
{
    if (!out)
        return AGENTAUTHZ_EINVAL;
    *out = calloc(1, sizeof **out);
    return *out ? 0 : AGENTAUTHZ_ENOMEM;
}

void agentauthz_action_reset(agentauthz_action *a)
{
    if (!a)
        return;
    a->tool.len = 0;
    a->resource.len = 0;
    a->has_resource = false;
    a->payload.len = 0;
    agentauthz_value_free(a->dest);
    agentauthz_value_free(a->labels);
    agentauthz_value_free(a->args);
    a->dest = a->labels = a->args = NULL;
    if (a->tool.p)
        a->tool.p[0] = '\0';
}

void agentauthz_action_free(agentauthz_action *a)
{
    if (!a)
        return;
    agentauthz_action_reset(a);
    az_buf_free(&a->tool);
    az_buf_free(&a->resource);
    az_buf_free(&a->payload);
    free(a);
}

/* Replaces the contents of b with s, keeping b's memory for reuse. */
static int buf_set(az_buf *b, const void *s, size_t len)
{
    b->len = 0;
    return az_buf_append(b, s, len);
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

/* Adds s to a string-or-list slot: one string stays a string, more become a list. */
static int add_to_list(agentauthz_value **slot, const char *s, bool always_list)
{
    agentauthz_value *item = agentauthz_value_string(s), *list;
    if (!item)
        return AGENTAUTHZ_ENOMEM;
    if (!*slot && !always_list) {
        *slot = item;
        return 0;
    }
    if (*slot && (*slot)->type == AGENTAUTHZ_LIST) {
        if ((*slot)->u.list.n >= AZ_MAX_LABELS) {
            agentauthz_value_free(item);
            return AGENTAUTHZ_ELIMIT;
        }
        return agentauthz_value_list_append(*slot, item);
    }
    list = agentauthz_value_list();
    if (!list) {
        agentauthz_value_free(item);
        return AGENTAUTHZ_ENOMEM;
    }
    if (*slot && agentauthz_value_list_append(list, *slot) != 0) {
        *slot = NULL;
        agentauthz_value_free(list);
        agentauthz_value_free(item);
        return AGENTAUTHZ_ENOMEM;
    }
    *slot = list;
    return agentauthz_value_list_append(list, item);
}

int agentauthz_action_add_destination(agentauthz_action *a, const char *dest)
{
    if (!a || !dest)
        return AGENTAUTHZ_EINVAL;
    return add_to_list(&a->dest, dest, false);
}

int agentauthz_action_set_destinations(agentauthz_action *a, const char *const *dests, size_t n)
{
    agentauthz_value *list = NULL;
    int rc = 0;
    if (!a || (!dests && n))
        return AGENTAUTHZ_EINVAL;
    if (n > AZ_MAX_LABELS)
        return AGENTAUTHZ_ELIMIT;
    for (size_t i = 0; i < n; i++)
        if (!dests[i])
            return AGENTAUTHZ_EINVAL;
    if (!(list = agentauthz_value_list()))
        return AGENTAUTHZ_ENOMEM;
    for (size_t i = 0; i < n && !rc; i++)
        rc = agentauthz_value_list_append(list, agentauthz_value_string(dests[i]));
    if (rc) {
        agentauthz_value_free(list);
        return rc;
    }
    agentauthz_value_free(a->dest);
    a->dest = list;
    return 0;
}

int agentauthz_action_add_label(agentauthz_action *a, const char *label)
{
    if (!a || !label)
        return AGENTAUTHZ_EINVAL;
    return add_to_list(&a->labels, label, true);
}

int agentauthz_action_set_arg(agentauthz_action *a, const char *key, agentauthz_value *value)
{
    if (!a || !key) {
        agentauthz_value_free(value);
        return AGENTAUTHZ_EINVAL;
    }
    if (!a->args && !(a->args = agentauthz_value_map())) {
        agentauthz_value_free(value);
        return AGENTAUTHZ_ENOMEM;
    }
    return agentauthz_value_map_set(a->args, key, value);
}

int agentauthz_action_set_args_json(agentauthz_action *a, const char *json, size_t len,
                                    agentauthz_error *err)
{
    agentauthz_value *v = NULL;
    int rc;
    if (!a || !json)
        return az_error_set(err, AGENTAUTHZ_EINVAL, "", 0, 0, 0, "no action or no JSON text");
    rc = az_json_parse(json, len, NULL, &v, err);
    if (rc)
        return rc;
    if (v->type != AGENTAUTHZ_MAP) {
        agentauthz_value_free(v);
        return az_error_set(err, AGENTAUTHZ_EJSON, "", 1, 1, 0,
                            "arguments must be a JSON object");
    }
    agentauthz_value_free(a->args);
    a->args = v;
    return 0;
}

const agentauthz_value *agentauthz_action_args(const agentauthz_action *a)
{
    return a ? a->args : NULL;
}

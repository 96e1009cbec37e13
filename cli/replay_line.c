/*
 * The fields of one replay line. Parsing is strict: a misspelt key or a
 * value of the wrong type is reported as an error line rather than
 * silently replayed as a different action.
 */
#include <stdio.h>
#include <string.h>

#include "replay.h"

typedef int (*field_fn)(replay_line *l, const agentauthz_value *v, char *msg, size_t cap);

/* Strings that become C strings must not hide a NUL byte. */
static int get_cstring(const agentauthz_value *v, const char **out, const char *key, char *msg,
                       size_t cap)
{
    size_t len = 0;
    const char *s = NULL;
    if (agentauthz_value_type(v) != AGENTAUTHZ_STRING) {
        snprintf(msg, cap, "\"%s\" must be a string", key);
        return -1;
    }
    s = agentauthz_value_get_string(v, &len);
    if (strlen(s) != len) {
        snprintf(msg, cap, "\"%s\" contains a NUL byte", key);
        return -1;
    }
    *out = s;
    return 0;
}

static int is_null(const agentauthz_value *v)
{
    return agentauthz_value_type(v) == AGENTAUTHZ_NULL;
}

/* Session names are kept for the whole replay, so their size is bounded. */
#define REPLAY_MAX_SESSION_NAME 1024

static int f_session(replay_line *l, const agentauthz_value *v, char *msg, size_t cap)
{
    if (get_cstring(v, &l->session, "session", msg, cap) != 0)
        return -1;
    if (strlen(l->session) > REPLAY_MAX_SESSION_NAME) {
        snprintf(msg, cap, "\"session\" is longer than %d bytes", REPLAY_MAX_SESSION_NAME);
        return -1;
    }
    return 0;
}

static int f_identity(replay_line *l, const agentauthz_value *v, char *msg, size_t cap)
{
    return get_cstring(v, &l->identity, "identity", msg, cap);
}

static int f_task(replay_line *l, const agentauthz_value *v, char *msg, size_t cap)
{
    return get_cstring(v, &l->task, "task", msg, cap);
}

static int f_tool(replay_line *l, const agentauthz_value *v, char *msg, size_t cap)
{
    return get_cstring(v, &l->tool, "tool", msg, cap);
}

static int f_resource(replay_line *l, const agentauthz_value *v, char *msg, size_t cap)
{
    if (is_null(v))
        return 0;
    return get_cstring(v, &l->resource, "resource", msg, cap);
}

static int string_list(const agentauthz_value *v, const char *key, char *msg, size_t cap)
{
    const char *s = NULL;
    if (agentauthz_value_type(v) != AGENTAUTHZ_LIST) {
        snprintf(msg, cap, "\"%s\" must be a list of strings", key);
        return -1;
    }
    for (size_t i = 0; i < agentauthz_value_length(v); i++)
        if (get_cstring(agentauthz_value_list_get(v, i), &s, key, msg, cap) != 0)
            return -1;
    return 0;
}

static int f_destination(replay_line *l, const agentauthz_value *v, char *msg, size_t cap)
{
    const char *s = NULL;
    if (is_null(v))
        return 0;
    if (agentauthz_value_type(v) == AGENTAUTHZ_STRING) {
        l->destination = v;
        return get_cstring(v, &s, "destination", msg, cap);
    }
    if (agentauthz_value_type(v) != AGENTAUTHZ_LIST) {
        snprintf(msg, cap, "\"destination\" must be a string or a list of strings");
        return -1;
    }
    l->destination = v;
    return string_list(v, "destination", msg, cap);
}

static int f_labels(replay_line *l, const agentauthz_value *v, char *msg, size_t cap)
{
    l->labels = v;
    return string_list(v, "labels", msg, cap);
}

static int f_args(replay_line *l, const agentauthz_value *v, char *msg, size_t cap)
{
    if (is_null(v))
        return 0;
    if (agentauthz_value_type(v) != AGENTAUTHZ_MAP) {
        snprintf(msg, cap, "\"args\" must be an object");
        return -1;
    }
    l->args = v;
    return 0;
}

static int f_params(replay_line *l, const agentauthz_value *v, char *msg, size_t cap)
{
    if (agentauthz_value_type(v) != AGENTAUTHZ_MAP) {
        snprintf(msg, cap, "\"params\" must be an object");
        return -1;
    }
    l->params = v;
    return 0;
}

static int f_payload(replay_line *l, const agentauthz_value *v, char *msg, size_t cap)
{
    if (is_null(v))
        return 0;
    if (agentauthz_value_type(v) != AGENTAUTHZ_STRING) {
        snprintf(msg, cap, "\"payload\" must be a string");
        return -1;
    }
    /* The payload is bytes: embedded NULs are kept. */
    l->payload = agentauthz_value_get_string(v, &l->payload_len);
    return 0;
}

static int f_seconds(const agentauthz_value *v, uint64_t *ns, const char *key, int zero_ok,
                     char *msg, size_t cap)
{
    double sec = agentauthz_value_get_number(v);
    if (agentauthz_value_type(v) != AGENTAUTHZ_NUMBER || cli_seconds_to_ns(sec, ns) != 0 ||
        (!zero_ok && *ns == 0)) {
        snprintf(msg, cap, "\"%s\" must be a %s number of seconds", key,
                 zero_ok ? "non-negative" : "positive");
        return -1;
    }
    return 0;
}

static int f_ttl(replay_line *l, const agentauthz_value *v, char *msg, size_t cap)
{
    return f_seconds(v, &l->ttl_ns, "ttl", 0, msg, cap);
}

static int f_advance(replay_line *l, const agentauthz_value *v, char *msg, size_t cap)
{
    l->has_advance = 1;
    return f_seconds(v, &l->advance_ns, "advance", 1, msg, cap);
}

static int f_close(replay_line *l, const agentauthz_value *v, char *msg, size_t cap)
{
    if (agentauthz_value_type(v) != AGENTAUTHZ_BOOL) {
        snprintf(msg, cap, "\"close\" must be true or false");
        return -1;
    }
    l->close = agentauthz_value_get_bool(v) != 0;
    return 0;
}

static int f_approve(replay_line *l, const agentauthz_value *v, char *msg, size_t cap)
{
    const char *s = NULL;
    if (agentauthz_value_type(v) == AGENTAUTHZ_BOOL) {
        l->approve = agentauthz_value_get_bool(v) ? AGENTAUTHZ_APPROVE_ONCE : 0;
        return 0;
    }
    if (agentauthz_value_type(v) == AGENTAUTHZ_STRING) {
        s = agentauthz_value_get_string(v, NULL);
        if (strcmp(s, "session") == 0) {
            l->approve = AGENTAUTHZ_APPROVE_SESSION;
            return 0;
        }
    }
    snprintf(msg, cap, "\"approve\" must be true, false or \"session\"");
    return -1;
}

static int f_observe(replay_line *l, const agentauthz_value *v, char *msg, size_t cap)
{
    l->observe = v;
    if (agentauthz_value_type(v) != AGENTAUTHZ_MAP) {
        snprintf(msg, cap, "\"observe\" must be an object of tool, output and labels");
        return -1;
    }
    for (size_t i = 0; i < agentauthz_value_length(v); i++) {
        const char *key = agentauthz_value_map_key(v, i);
        const agentauthz_value *x = agentauthz_value_map_value(v, i);
        if (strcmp(key, "tool") == 0) {
            if (get_cstring(x, &l->obs_tool, "observe.tool", msg, cap) != 0)
                return -1;
        } else if (strcmp(key, "labels") == 0) {
            if (string_list(x, "observe.labels", msg, cap) != 0)
                return -1;
            l->obs_labels = x;
        } else if (strcmp(key, "output") == 0) {
            l->output = x;
        } else {
            snprintf(msg, cap, "unknown key \"%.64s\" in \"observe\"", key);
            return -1;
        }
    }
    if (!l->obs_tool || !l->output) {
        snprintf(msg, cap, "\"observe\" needs \"tool\" and \"output\"");
        return -1;
    }
    return 0;
}

static const struct {
    const char *key;
    field_fn fn;
} fields[] = {
    {"session", f_session}, {"identity", f_identity}, {"task", f_task},
    {"tool", f_tool},       {"resource", f_resource}, {"destination", f_destination},
    {"args", f_args},       {"labels", f_labels},     {"payload", f_payload},
    {"ttl", f_ttl},         {"params", f_params},     {"advance", f_advance},
    {"close", f_close},     {"approve", f_approve},  {"observe", f_observe},
};

static int parse_field(replay_line *l, const char *key, const agentauthz_value *v, char *msg,
                       size_t cap)
{
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (strcmp(fields[i].key, key) == 0)
            return fields[i].fn(l, v, msg, cap);
    snprintf(msg, cap, "unknown key \"%.64s\"", key);
    return -1;
}

/* What each kind of line requires, checked once all fields are read. */
static int check_shape(const replay_line *l, char *msg, size_t cap)
{
    if (l->has_advance) {
        if (l->tool) {
            snprintf(msg, cap, "a line cannot both advance the clock and name a tool");
            return -1;
        }
        return 0;
    }
    if (!l->session) {
        snprintf(msg, cap, "missing \"session\"");
        return -1;
    }
    if (l->observe) {
        if (l->tool || l->resource || l->destination || l->args || l->labels || l->payload ||
            l->approve || l->close) {
            snprintf(msg, cap, "an observe line takes no action keys (tool, resource, "
                               "destination, args, labels, payload, approve, close)");
            return -1;
        }
        return 0;
    }
    if (!l->tool) {
        snprintf(msg, cap, "missing \"tool\"");
        return -1;
    }
    return 0;
}

int replay_line_parse(const agentauthz_value *obj, replay_line *l, char *msg, size_t cap)
{
    memset(l, 0, sizeof *l);
    if (agentauthz_value_type(obj) != AGENTAUTHZ_MAP) {
        snprintf(msg, cap, "a line must be a JSON object");
        return -1;
    }
    for (size_t i = 0; i < agentauthz_value_length(obj); i++)
        if (parse_field(l, agentauthz_value_map_key(obj, i), agentauthz_value_map_value(obj, i),
                        msg, cap) != 0)
            return -1;
    return check_shape(l, msg, cap);
}

static int add_destinations(agentauthz_action *a, const agentauthz_value *d)
{
    int rc = 0;
    if (!d)
        return 0;
    if (agentauthz_value_type(d) == AGENTAUTHZ_STRING)
        return agentauthz_action_add_destination(a, agentauthz_value_get_string(d, NULL));
    /* A list stays a list, also with one item or none (issue 9, item 1). */
    rc = agentauthz_action_set_destinations(a, NULL, 0);
    for (size_t i = 0; rc == 0 && i < agentauthz_value_length(d); i++)
        rc = agentauthz_action_add_destination(
            a, agentauthz_value_get_string(agentauthz_value_list_get(d, i), NULL));
    return rc;
}

static int add_args(agentauthz_action *a, const agentauthz_value *args)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && args && i < agentauthz_value_length(args); i++)
        rc = agentauthz_action_copy_arg(a, agentauthz_value_map_key(args, i),
                                        agentauthz_value_map_value(args, i));
    return rc;
}

int replay_line_action(const replay_line *l, agentauthz_action *a)
{
    int rc;
    agentauthz_action_reset(a);
    rc = agentauthz_action_set_tool(a, l->tool);
    if (rc == 0 && l->resource)
        rc = agentauthz_action_set_resource(a, l->resource);
    if (rc == 0)
        rc = add_destinations(a, l->destination);
    for (size_t i = 0; rc == 0 && l->labels && i < agentauthz_value_length(l->labels); i++)
        rc = agentauthz_action_add_label(
            a, agentauthz_value_get_string(agentauthz_value_list_get(l->labels, i), NULL));
    if (rc == 0 && l->payload)
        rc = agentauthz_action_set_payload(a, l->payload, l->payload_len);
    if (rc == 0)
        rc = add_args(a, l->args);
    return rc;
}

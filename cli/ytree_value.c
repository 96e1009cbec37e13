/*
 * YAML nodes to agentauthz values, typed by the YAML 1.2 core schema, as
 * the policy language types its own scalars: a plain scalar may be null, a
 * boolean or a number; a quoted one is always a string.
 */
#include <stdlib.h>
#include <string.h>

#include "ytree.h"

static int is_one_of(const char *s, const char *const *words)
{
    for (; *words; words++)
        if (strcmp(s, *words) == 0)
            return 1;
    return 0;
}

int ytree_is_null(const ynode *n)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
    return n->kind == YN_SCALAR && n->plain && is_one_of(n->str, nulls);
}

static int all_digits(const char *s, const char *set)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!strchr(set, *s))
            return 0;
    return 1;
}

/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static int is_decimal(const char *s)
{
    size_t before = 0, after = 0;
    if (*s == '-' || *s == '+')
        s++;
    for (; *s >= '0' && *s <= '9'; s++)
        before++;
    if (*s == '.')
        for (s++; *s >= '0' && *s <= '9'; s++)
            after++;
    if (before == 0 && after == 0)
        return 0;
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '-' || *s == '+')
            s++;
        return all_digits(s, "0123456789");
    }
    return *s == '\0';
}

static int is_infinity_or_nan(const char *s)
{
    static const char *const words[] = {".inf", ".Inf", ".INF", ".nan", ".NaN", ".NAN", NULL};
    if (*s == '-' || *s == '+')
        s++;
    return is_one_of(s, words);
}

/* Returns 1 and sets *num when s is a core-schema number. */
static int parse_number(const char *s, double *num)
{
    if (strncmp(s, "0x", 2) == 0 && all_digits(s + 2, "0123456789abcdefABCDEF")) {
        *num = (double)strtoull(s + 2, NULL, 16);
        return 1;
    }
    if (strncmp(s, "0o", 2) == 0 && all_digits(s + 2, "01234567")) {
        *num = (double)strtoull(s + 2, NULL, 8);
        return 1;
    }
    if (!is_decimal(s))
        return 0;
    *num = strtod(s, NULL);
    return 1;
}

static int scalar_value(const ynode *n, agentauthz_value **out, agentauthz_error *err)
{
    static const char *const trues[] = {"true", "True", "TRUE", NULL};
    static const char *const falses[] = {"false", "False", "FALSE", NULL};
    double num = 0;
    if (!n->plain)
        *out = agentauthz_value_stringn(n->str, n->len);
    else if (ytree_is_null(n))
        *out = agentauthz_value_null();
    else if (is_one_of(n->str, trues) || is_one_of(n->str, falses))
        *out = agentauthz_value_bool(is_one_of(n->str, trues));
    else if (is_infinity_or_nan(n->str))
        return ytree_error(err, n, "numbers must be finite");
    else if (parse_number(n->str, &num))
        *out = agentauthz_value_number(num); /* NULL when it overflows to infinity */
    else
        *out = agentauthz_value_stringn(n->str, n->len);
    if (!*out)
        return ytree_error(err, n,
                           "cannot convert '%.64s': a number out of range, or out of "
                           "memory",
                           n->str);
    return 0;
}

static int seq_value(const ynode *n, agentauthz_value **out, agentauthz_error *err)
{
    agentauthz_value *list = agentauthz_value_list();
    if (!list)
        return ytree_error(err, n, "%s", agentauthz_strerror(AGENTAUTHZ_ENOMEM));
    for (size_t i = 0; i < n->n; i++) {
        agentauthz_value *item = NULL;
        int rc = ytree_to_value(n->items[i], &item, err);
        if (rc == 0 && (rc = agentauthz_value_list_append(list, item)) != 0)
            ytree_error(err, n->items[i], "%s", agentauthz_strerror(rc));
        if (rc != 0) {
            agentauthz_value_free(list);
            return -1;
        }
    }
    *out = list;
    return 0;
}

static int map_value(const ynode *n, agentauthz_value **out, agentauthz_error *err)
{
    agentauthz_value *map = agentauthz_value_map();
    if (!map)
        return ytree_error(err, n, "%s", agentauthz_strerror(AGENTAUTHZ_ENOMEM));
    for (size_t i = 0; i + 1 < n->n; i += 2) {
        const ynode *k = n->items[i];
        agentauthz_value *item = NULL;
        int rc = -1;
        if (k->kind != YN_SCALAR || strlen(k->str) != k->len)
            ytree_error(err, k, "a key must be a string without NUL bytes");
        else if ((rc = ytree_to_value(n->items[i + 1], &item, err)) == 0 &&
                 (rc = agentauthz_value_map_set(map, k->str, item)) != 0)
            ytree_error(err, k, "%s", agentauthz_strerror(rc));
        if (rc != 0) {
            agentauthz_value_free(map);
            return -1;
        }
    }
    *out = map;
    return 0;
}

int ytree_to_value(const ynode *n, agentauthz_value **out, agentauthz_error *err)
{
    *out = NULL;
    switch (n->kind) {
    case YN_SCALAR:
        return scalar_value(n, out, err);
    case YN_SEQ:
        return seq_value(n, out, err);
    default:
        return map_value(n, out, err);
    }
}

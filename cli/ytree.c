/*
 * YAML to a tree with marks, on libyaml's event parser. libyaml 0.2.5
 * neither limits depth nor rejects duplicate keys, so this file does both.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "ytree.h"

typedef struct ybuild {
    ynode *stack[CLI_MAX_DEPTH];
    size_t depth;
    size_t nodes;
    size_t documents;
    ynode *root;
    agentauthz_error *err;
} ybuild;

int ytree_error(agentauthz_error *err, const ynode *n, const char *fmt, ...)
{
    va_list ap;
    if (err->code != 0)
        return -1; /* The first error is the one reported. */
    err->code = AGENTAUTHZ_EINVAL;
    err->line = n ? n->line : 1;
    err->column = n ? n->column : 1;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return -1;
}

static int mark_error(agentauthz_error *err, const yaml_mark_t *m, const char *msg)
{
    ynode at;
    memset(&at, 0, sizeof at);
    at.line = (unsigned long)m->line + 1;
    at.column = (unsigned long)m->column + 1;
    return ytree_error(err, &at, "%s", msg);
}

void ytree_free(ynode *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n; i++)
        ytree_free(n->items[i]);
    free(n->items);
    free(n->str);
    free(n);
}

static ynode *new_node(ybuild *b, ykind kind, const yaml_mark_t *m)
{
    ynode *n = NULL;
    if (b->nodes >= CLI_MAX_NODES) {
        mark_error(b->err, m, "too many nodes in one document");
        return NULL;
    }
    n = calloc(1, sizeof *n);
    if (!n) {
        mark_error(b->err, m, agentauthz_strerror(AGENTAUTHZ_ENOMEM));
        return NULL;
    }
    n->kind = kind;
    n->line = (unsigned long)m->line + 1;
    n->column = (unsigned long)m->column + 1;
    b->nodes++;
    return n;
}

/* Adds n under the open container, or makes it the root; takes n. */
static int attach(ybuild *b, ynode *n)
{
    ynode *parent = b->depth ? b->stack[b->depth - 1] : NULL;
    size_t max = parent && parent->kind == YN_MAP ? 2 * (size_t)CLI_MAX_ITEMS : CLI_MAX_ITEMS;
    if (!parent) {
        b->root = n;
        return 0;
    }
    if (parent->n >= max) {
        ytree_free(n);
        return ytree_error(b->err, parent, "more than %u items", (unsigned)CLI_MAX_ITEMS);
    }
    if (parent->n == parent->cap) {
        size_t ncap = parent->cap ? parent->cap * 2 : 8;
        ynode **grown = realloc(parent->items, ncap * sizeof *grown);
        if (!grown) {
            ytree_free(n);
            return ytree_error(b->err, parent, "%s", agentauthz_strerror(AGENTAUTHZ_ENOMEM));
        }
        parent->items = grown;
        parent->cap = ncap;
    }
    parent->items[parent->n++] = n;
    return 0;
}

/* Anchors, aliases and tags make a file mean more than it shows: refused. */
static int refuse_extras(ybuild *b, const yaml_event_t *ev, const yaml_char_t *anchor,
                         const yaml_char_t *tag)
{
    if (anchor)
        return mark_error(b->err, &ev->start_mark, "anchors are not allowed");
    if (tag)
        return mark_error(b->err, &ev->start_mark, "tags are not allowed");
    return 0;
}

static int on_scalar(ybuild *b, const yaml_event_t *ev)
{
    ynode *n = NULL;
    if (refuse_extras(b, ev, ev->data.scalar.anchor, ev->data.scalar.tag) != 0)
        return -1;
    if (!(n = new_node(b, YN_SCALAR, &ev->start_mark)))
        return -1;
    n->len = ev->data.scalar.length;
    n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    n->str = malloc(n->len + 1);
    if (!n->str) {
        ytree_free(n);
        return mark_error(b->err, &ev->start_mark, agentauthz_strerror(AGENTAUTHZ_ENOMEM));
    }
    memcpy(n->str, ev->data.scalar.value, n->len);
    n->str[n->len] = '\0';
    return attach(b, n);
}

static int on_start(ybuild *b, const yaml_event_t *ev, ykind kind)
{
    const yaml_char_t *anchor =
        kind == YN_MAP ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor;
    const yaml_char_t *tag =
        kind == YN_MAP ? ev->data.mapping_start.tag : ev->data.sequence_start.tag;
    ynode *n = NULL;
    if (refuse_extras(b, ev, anchor, tag) != 0)
        return -1;
    if (b->depth >= CLI_MAX_DEPTH)
        return mark_error(b->err, &ev->start_mark, "nesting deeper than 64 levels");
    if (!(n = new_node(b, kind, &ev->start_mark)) || attach(b, n) != 0)
        return -1;
    b->stack[b->depth++] = n;
    return 0;
}

static int cmp_keys(const void *pa, const void *pb)
{
    const ynode *a = *(const ynode *const *)pa, *b = *(const ynode *const *)pb;
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->str, b->str, n);
    if (c != 0)
        return c;
    if (a->len != b->len)
        return a->len < b->len ? -1 : 1;
    /* Equal keys sort in file order, so the later one is reported. */
    if (a->line != b->line)
        return a->line < b->line ? -1 : 1;
    return a->column < b->column ? -1 : a->column > b->column;
}

/* Sorting makes the duplicate check O(n log n) on a hostile 65536-key map. */
static int check_duplicates(ybuild *b, const ynode *map)
{
    size_t nkeys = map->n / 2, k = 0;
    const ynode **keys = NULL;
    int rc = 0;
    if (nkeys < 2)
        return 0;
    keys = malloc(nkeys * sizeof *keys);
    if (!keys)
        return ytree_error(b->err, map, "%s", agentauthz_strerror(AGENTAUTHZ_ENOMEM));
    for (size_t i = 0; i < map->n; i += 2)
        if (map->items[i]->kind == YN_SCALAR)
            keys[k++] = map->items[i];
    qsort(keys, k, sizeof *keys, cmp_keys);
    for (size_t i = 1; i < k && rc == 0; i++)
        if (keys[i]->len == keys[i - 1]->len &&
            memcmp(keys[i]->str, keys[i - 1]->str, keys[i]->len) == 0)
            rc = ytree_error(b->err, keys[i], "duplicate key '%.128s'", keys[i]->str);
    free(keys);
    return rc;
}

static int on_end(ybuild *b)
{
    ynode *n = b->stack[--b->depth];
    return n->kind == YN_MAP ? check_duplicates(b, n) : 0;
}

static int on_document(ybuild *b, const yaml_event_t *ev)
{
    if (b->documents++ > 0)
        return mark_error(b->err, &ev->start_mark, "a file holds one document only");
    if (ev->data.document_start.version_directive ||
        ev->data.document_start.tag_directives.start != ev->data.document_start.tag_directives.end)
        return mark_error(b->err, &ev->start_mark, "directives are not allowed");
    return 0;
}

/* Returns 1 at the end of the stream, 0 to go on, -1 on error. */
static int on_event(ybuild *b, const yaml_event_t *ev)
{
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        return on_document(b, ev);
    case YAML_ALIAS_EVENT:
        return mark_error(b->err, &ev->start_mark, "aliases are not allowed");
    case YAML_SCALAR_EVENT:
        return on_scalar(b, ev);
    case YAML_SEQUENCE_START_EVENT:
        return on_start(b, ev, YN_SEQ);
    case YAML_MAPPING_START_EVENT:
        return on_start(b, ev, YN_MAP);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        return on_end(b);
    case YAML_STREAM_END_EVENT:
        return 1;
    default:
        return 0;
    }
}

/* libyaml gives reader errors (bad UTF-8, NUL bytes) as an offset only. */
static void offset_mark(const char *text, size_t len, size_t offset, yaml_mark_t *m)
{
    m->line = 0;
    m->column = 0;
    for (size_t i = 0; i < offset && i < len; i++) {
        if (text[i] == '\n') {
            m->line++;
            m->column = 0;
        } else if (((unsigned char)text[i] & 0xC0) != 0x80) {
            m->column++;
        }
    }
}

static int parser_error(const yaml_parser_t *p, const char *text, size_t len, agentauthz_error *err)
{
    char msg[AGENTAUTHZ_ERROR_MESSAGE_MAX];
    yaml_mark_t m = p->problem_mark;
    if (p->error == YAML_READER_ERROR)
        offset_mark(text, len, p->problem_offset, &m);
    if (p->error == YAML_MEMORY_ERROR)
        snprintf(msg, sizeof msg, "%s", agentauthz_strerror(AGENTAUTHZ_ENOMEM));
    else if (p->context)
        snprintf(msg, sizeof msg, "%s %s", p->problem ? p->problem : "syntax error", p->context);
    else
        snprintf(msg, sizeof msg, "%s", p->problem ? p->problem : "syntax error");
    return mark_error(err, &m, msg);
}

/*
 * libyaml reports a bad UTF-8 sequence at the octet after its lead byte and
 * a NUL byte as a control character; point at the byte itself instead.
 */
static int check_bytes(const char *text, size_t len, agentauthz_error *err)
{
    size_t off = len;
    int bad = cli_find_bad_utf8(text, len, &off);
    const char *nul = memchr(text, '\0', len);
    char msg[64];
    yaml_mark_t m;
    if (nul && (size_t)(nul - text) < off) {
        offset_mark(text, len, (size_t)(nul - text), &m);
        return mark_error(err, &m, "NUL byte is not allowed");
    }
    if (!bad)
        return 0;
    offset_mark(text, len, off, &m);
    snprintf(msg, sizeof msg, "invalid UTF-8 (byte 0x%02X)", (unsigned char)text[off]);
    return mark_error(err, &m, msg);
}

int ytree_parse(const char *path, const char *text, size_t len, ynode **out, agentauthz_error *err)
{
    yaml_parser_t p;
    ybuild b;
    int rc = 0;

    memset(&b, 0, sizeof b);
    b.err = err;
    snprintf(err->path, sizeof err->path, "%s", path);
    if (check_bytes(text, len, err) != 0)
        return -1;
    if (!yaml_parser_initialize(&p))
        return ytree_error(err, NULL, "%s", agentauthz_strerror(AGENTAUTHZ_ENOMEM));
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    while (rc == 0) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            rc = parser_error(&p, text, len, err);
            break;
        }
        rc = on_event(&b, &ev);
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    if (rc < 0 || !b.root) {
        ytree_free(b.root);
        return rc < 0 ? -1 : ytree_error(err, NULL, "the file is empty");
    }
    *out = b.root;
    return 0;
}

/* Tracks the top-level keys of a document by events, without a tree. */
typedef struct topscan {
    int depth, root_is_map, want_key, found;
} topscan;

static int scan_event(topscan *t, const yaml_event_t *ev, const char *key)
{
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        if (t->depth == 1 && t->root_is_map && t->want_key &&
            strcmp((const char *)ev->data.scalar.value, key) == 0)
            t->found = 1;
        break;
    case YAML_MAPPING_START_EVENT:
    case YAML_SEQUENCE_START_EVENT:
        if (t->depth == 0) {
            t->root_is_map = ev->type == YAML_MAPPING_START_EVENT;
            t->want_key = 1;
        }
        /* A nested node ends at its end event, where the top level moves on. */
        return ++t->depth > CLI_MAX_DEPTH;
    case YAML_MAPPING_END_EVENT:
    case YAML_SEQUENCE_END_EVENT:
        t->depth--;
        break;
    case YAML_ALIAS_EVENT:
        break;
    case YAML_STREAM_START_EVENT:
    case YAML_DOCUMENT_START_EVENT:
        return 0;
    default:
        return 1; /* The first document has ended. */
    }
    /* A node at the top level has ended: keys and values alternate. */
    if (t->depth == 1)
        t->want_key = !t->want_key;
    return t->found;
}

/*
 * A file that breaks before its keys are read (bad UTF-8, a syntax error)
 * is still a tests file when a line starts with "KEY:", so that its error
 * is reported by the tests parser rather than by the policy loader.
 */
static int has_key_line(const char *text, size_t len, const char *key)
{
    size_t klen = strlen(key);
    for (size_t i = 0; i + klen < len; i++) {
        if ((i == 0 || text[i - 1] == '\n') && memcmp(text + i, key, klen) == 0 &&
            text[i + klen] == ':')
            return 1;
    }
    return 0;
}

int ytree_has_top_key(const char *text, size_t len, const char *key)
{
    yaml_parser_t p;
    topscan t = {0, 0, 0, 0};
    int stop = 0;
    if (!yaml_parser_initialize(&p))
        return 0;
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    while (!stop) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            t.found = t.found || has_key_line(text, len, key);
            break;
        }
        stop = scan_event(&t, &ev, key);
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    return t.found;
}

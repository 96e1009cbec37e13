/*
 * libFuzzer harness for the YAML loader (az_yaml_parse).
 *
 * Beyond "no crash, no leak, no hang", it checks the properties the policy
 * compiler relies on. A failed parse leaves no tree and reports its first
 * error with a sane position. A successful one gives a tree no deeper than
 * AZ_MAX_DEPTH, with maps of scalar, distinct keys, NUL-terminated scalars
 * whose typing agrees with their text, and marks that increase in document
 * order and whose line and column match the byte offset.
 *
 * Build, for example:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Ilib \
 *     tests/fuzz/fuzz_yaml.c lib/load.c lib/buf.c lib/error.c \
 *     $(pkg-config --cflags --libs yaml-0.1) -lm -o fuzz_yaml
 *   ./fuzz_yaml tests/fuzz/corpus/yaml
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct walk {
    const uint8_t *text;
    size_t size;
    size_t last_offset; /* marks never go backwards in pre-order */
} walk;

/* Aborting is how a harness reports a broken property to libFuzzer. */
static void require(int ok)
{
    if (!ok)
        abort();
}

/*
 * Recomputes the line and column of a byte offset on its own (columns in
 * characters, line breaks as libyaml counts them, a leading BOM skipped).
 */
static uint8_t at(const uint8_t *s, size_t size, size_t i)
{
    return i < size ? s[i] : 0;
}

static void line_col(const uint8_t *s, size_t size, size_t off, unsigned long *line,
                     unsigned long *col)
{
    size_t i = size >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    *line = 1;
    *col = 1;
    for (; i < off; i++) {
        uint8_t c = s[i], c1 = at(s, size, i + 1), c2 = at(s, size, i + 2);
        if ((c & 0xC0) == 0x80)
            continue;
        if (c == '\n' || (c == '\r' && c1 != '\n') || (c == 0xC2 && c1 == 0x85) ||
            (c == 0xE2 && c1 == 0x80 && (c2 == 0xA8 || c2 == 0xA9))) {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

/* Whether line and column agree with the byte offset. */
static int position_ok(const walk *w, unsigned long mline, unsigned long mcol, size_t off)
{
    unsigned long line, col;
    if (off > w->size)
        return 0;
    line_col(w->text, w->size, off, &line, &col);
    /* At the end of a text without a final line break, libyaml marks the next line. */
    if (off == w->size && col > 1 && mline == line + 1 && mcol == 1)
        return 1;
    return mline == line && mcol == col;
}

static void check_mark(walk *w, const az_mark *m)
{
    require(m->offset >= w->last_offset);
    w->last_offset = m->offset;
    require(position_ok(w, m->line, m->column, m->offset));
}

static void check_scalar(const az_node *n)
{
    require(n->str != NULL && n->str[n->len] == '\0');
    require(memchr(n->str, 0, n->len) == NULL);
    require(n->items == NULL && n->n == 0);
    switch (n->kind) {
    case AZ_SCALAR_INT:
        require(n->num == floor(n->num) && fabs(n->num) <= 9007199254740992.0);
        break;
    case AZ_SCALAR_FLOAT:
        require(isfinite(n->num));
        break;
    case AZ_SCALAR_BOOL:
        require(strcmp(n->str, n->b ? "true" : "false") == 0);
        break;
    case AZ_SCALAR_NULL:
        require(n->len <= 4);
        break;
    case AZ_SCALAR_STRING:
        break;
    }
}

static void check_keys(const az_node *n)
{
    require(n->n % 2 == 0);
    /* Quadratic, but fuzz inputs are small. */
    for (size_t i = 0; i < n->n; i += 2) {
        const az_node *k = n->items[i];
        require(k->type == AZ_NODE_SCALAR);
        for (size_t j = 0; j < i; j += 2)
            require(k->len != n->items[j]->len || memcmp(k->str, n->items[j]->str, k->len));
    }
}

static void check_node(walk *w, const az_node *n, int depth)
{
    require(n != NULL);
    check_mark(w, &n->mark);
    if (n->type == AZ_NODE_SCALAR) {
        check_scalar(n);
        return;
    }
    require(depth <= AZ_MAX_DEPTH);
    require(n->str == NULL && n->n <= 2 * (size_t)AZ_MAX_ITEMS);
    if (n->type == AZ_NODE_MAP)
        check_keys(n);
    for (size_t i = 0; i < n->n; i++)
        check_node(w, n->items[i], depth + 1);
}

static void check_failure(int rc, const az_node *tree, const az_diag *d, const agentauthz_error *e,
                          const walk *w)
{
    require(rc == AGENTAUTHZ_EPOLICY || rc == AGENTAUTHZ_ELIMIT || rc == AGENTAUTHZ_ENOMEM);
    require(tree == NULL);
    require(d->errors >= 1);
    require(e->code == rc);
    require(e->message[0] != '\0');
    require(rc == AGENTAUTHZ_ENOMEM || position_ok(w, e->line, e->column, e->offset));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    agentauthz_error first;
    az_diag d;
    az_node *tree = NULL;
    walk w = {data, size, 0};
    int rc;
    memset(&d, 0, sizeof d);
    memset(&first, 0, sizeof first);
    d.first = &first;
    d.path = "fuzz.yaml";
    rc = az_yaml_parse((const char *)data, size, &d, &tree);
    if (rc) {
        check_failure(rc, tree, &d, &first, &w);
        return 0;
    }
    require(d.errors == 0);
    check_node(&w, tree, 1);
    az_node_free(tree);
    return 0;
}

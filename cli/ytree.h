/*
 * A small YAML tree with marks, for the test files of "agentauthz test".
 * The policy loader of the library is not public, so the command reads its
 * own YAML, with the same bounds and refusals: no anchors, aliases, tags,
 * directives or second documents; no duplicate keys; bounded depth, size
 * and item counts.
 */
#ifndef AZ_CLI_YTREE_H
#define AZ_CLI_YTREE_H

#include "cli.h"

typedef enum ykind { YN_SCALAR, YN_SEQ, YN_MAP } ykind;

typedef struct ynode {
    ykind kind;
    unsigned long line, column; /* 1-based */
    char *str;                  /* a scalar's text, NUL-terminated */
    size_t len;
    int plain;            /* the scalar was unquoted: typed by the core schema */
    struct ynode **items; /* a sequence's items; a map's keys and values, alternating */
    size_t n, cap;
} ynode;

/*
 * Parses text (len bytes) into a tree the caller frees with ytree_free.
 * On error returns -1 and fills err (path, line, column, message).
 */
int ytree_parse(const char *path, const char *text, size_t len, ynode **out, agentauthz_error *err);
void ytree_free(ynode *n);

/*
 * Whether the document's top level is a map with a "tests" key. Reads only
 * as far as needed, and says no on any error.
 */
int ytree_has_top_key(const char *text, size_t len, const char *key);

/* True for a plain scalar the core schema reads as null: "", "~", "null". */
int ytree_is_null(const ynode *n);

/*
 * Converts a node to a value by the YAML 1.2 core schema (only plain
 * scalars are typed; quoted ones are strings). Returns 0, or -1 with err
 * filled (path taken from err->path).
 */
int ytree_to_value(const ynode *n, agentauthz_value **out, agentauthz_error *err);

/* Fills err for node n (or the document start when n is NULL); returns -1. */
int ytree_error(agentauthz_error *err, const ynode *n, const char *fmt, ...) CLI_PRINTF(3, 4);

#endif /* AZ_CLI_YTREE_H */

/* The tests files of "agentauthz test", parsed into cases and steps. */
#ifndef AZ_CLI_TESTFILE_H
#define AZ_CLI_TESTFILE_H

#include "ytree.h"

/* One step: an action to check, a tool's output to observe, or a move of the clock. */
typedef struct tstep {
    const ynode *at; /* the step's node, for its line */
    int is_observe;            /* observe: { tool, output, labels } */
    const char *obs_tool;      /* borrowed from the tree */
    agentauthz_value *output;  /* owned */
    const ynode *obs_labels;   /* a sequence of scalars, or NULL */
    int is_advance;
    uint64_t advance_ns;
    const char *tool, *resource; /* borrowed from the tree */
    const ynode *destination;    /* a scalar or a sequence of scalars */
    const ynode *labels;         /* a sequence of scalars */
    agentauthz_value *args;      /* owned; NULL when none */
    const char *payload;
    size_t payload_len;
    int approve; /* 0 or an agentauthz_approval */
    agentauthz_effect expect;
    const char *rule; /* NULL: any rule */
} tstep;

typedef struct tcase {
    const char *name, *identity, *task; /* borrowed from the tree */
    uint64_t ttl_ns;
    agentauthz_value *params; /* owned; NULL when none */
    tstep *steps;
    size_t nsteps;
} tcase;

typedef struct tfile {
    char *text;
    ynode *root;
    tcase *cases;
    size_t ncases;
} tfile;

/*
 * Reads and checks a tests file. Returns 0, or -1 with err filled: the
 * caller prints it as FILE:LINE:COL: error: MESSAGE. Free with
 * tfile_free, also after a failure.
 */
int tfile_load(const char *path, tfile *tf, agentauthz_error *err);
void tfile_free(tfile *tf);

/*
 * Resets a and fills it from the action step s: tool, resource,
 * destinations, labels, payload (bytes, NULs kept) and arguments. Returns
 * 0 or a library error code.
 */
int tfile_step_action(const tstep *s, agentauthz_action *a);

#endif /* AZ_CLI_TESTFILE_H */

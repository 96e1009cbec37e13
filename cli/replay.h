/* One line of a replay trace, between its parser and the replay loop. */
#ifndef AZ_CLI_REPLAY_H
#define AZ_CLI_REPLAY_H

#include "cli.h"

/*
 * The fields of one line. Every pointer is borrowed from the parsed JSON
 * value and valid while it lives; absent fields are NULL or 0.
 */
typedef struct replay_line {
    const char *session, *identity, *task, *tool, *resource;
    const agentauthz_value *destination; /* a string or a list of strings */
    const agentauthz_value *labels;      /* a list of strings */
    const agentauthz_value *args;        /* a map */
    const agentauthz_value *params;      /* a map */
    const char *payload;
    size_t payload_len;
    uint64_t ttl_ns;     /* 0: the policy's default */
    uint64_t advance_ns; /* with has_advance: a clock line */
    int has_advance;
    int close;
    int approve; /* 0, AGENTAUTHZ_APPROVE_ONCE or AGENTAUTHZ_APPROVE_SESSION */
    /* an observe line: {"observe": {"tool": T, "output": VALUE, "labels": [L, ...]}} */
    const agentauthz_value *observe; /* the object, or NULL */
    const char *obs_tool;
    const agentauthz_value *output;
    const agentauthz_value *obs_labels; /* a list of strings, or NULL */
} replay_line;

/*
 * Reads the fields of obj into *l. Returns 0, or -1 with a message for
 * the error line in msg.
 */
int replay_line_parse(const agentauthz_value *obj, replay_line *l, char *msg, size_t cap);

/* Resets a and fills it from l. Returns 0 or a library error code. */
int replay_line_action(const replay_line *l, agentauthz_action *a);

#endif /* AZ_CLI_REPLAY_H */

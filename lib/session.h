/*
 * Private structures of the engine, its sessions and actions, shared by
 * engine.c, session.c, eval.c and action.c.
 */
#ifndef AZ_SESSION_H
#define AZ_SESSION_H

#include <pthread.h>
#include <stdatomic.h>

#include "internal.h"

struct agentauthz_action {
    az_buf tool;
    az_buf resource;
    bool has_resource;
    az_buf payload;
    agentauthz_value *dest;   /* a string, a list of strings, or NULL */
    agentauthz_value *labels; /* a list, or NULL */
    agentauthz_value *args;   /* a map, or NULL */
};

/*
 * What a session is under one policy: its task and roles resolved to that
 * policy's indices. Rebuilt when a check finds that the policy changed.
 */
typedef struct az_view {
    az_policy *p;          /* holds a reference */
    int task;              /* index into p->tasks, or -1 */
    uint64_t *role_bits;   /* one bit per role of p */
    agentauthz_value *roles; /* the role names, a list */
    char refused[160];     /* why the policy refuses the session, "" if it admits it */
} az_view;

typedef struct az_counter {
    char *tool;
    uint64_t n;
} az_counter;

typedef struct az_approval {
    unsigned char hash[32];
    agentauthz_approval scope;
} az_approval;

typedef enum az_state { AZ_OPEN, AZ_CLOSED, AZ_REVOKED, AZ_EXPIRED } az_state;

#define AZ_MAX_APPROVALS 256

struct agentauthz_session {
    _Atomic size_t refs; /* the handle, plus a sweep in progress */
    agentauthz_engine *e;
    pthread_mutex_t lock;
    char id[33];
    char *identity;
    char *task;
    uint64_t opened_ns;
    uint64_t ttl_ns;
    az_state state;
    char ended_why[160];
    uint64_t calls;
    az_counter *counters;
    size_t ncounters;
    agentauthz_value *labels; /* session.labels, a list */
    agentauthz_value *params; /* a map */
    az_approval *approvals;
    size_t napprovals;
    az_view view;
    struct agentauthz_session *prev, *next; /* the engine's list */
};

struct agentauthz_engine {
    _Atomic(az_policy *) policy;
    pthread_mutex_t lock; /* reloads, the session list, policy hand-over */
    agentauthz_clock_fn clock;
    void *clock_ctx;
    uint64_t generation;
    agentauthz_session *sessions;
};

uint64_t az_engine_now(const agentauthz_engine *e);
/* The policy in force with a new reference, or NULL. */
az_policy *az_engine_policy_ref(agentauthz_engine *e);

/* session.c */
int az_view_build(az_view *v, az_policy *p, const char *identity, const char *task);
void az_view_clear(az_view *v);
void az_session_end(agentauthz_session *s, az_state state, const char *why);
void az_session_unref(agentauthz_session *s);

/* eval.c: the rules' decision for an action; s->lock is held. */
typedef struct az_eval {
    const agentauthz_session *s;
    const agentauthz_action *a;
    uint64_t now;
    const az_tool_entry *entry;
    agentauthz_value identity, task, tool, resource, calls, age, sink, empty;
} az_eval;

void az_eval_init(az_eval *ev, const agentauthz_session *s, const agentauthz_action *a,
                  uint64_t now);
/* Returns the deciding rule (or NULL for the default) and its effect; -1 on error. */
int az_eval_rules(az_eval *ev, const az_rule **rule, agentauthz_effect *effect);

#endif /* AZ_SESSION_H */

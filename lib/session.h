/*
 * Private structures of the engine, its sessions and actions, shared by
 * engine.c, session.c, eval.c and action.c.
 */
#ifndef AZ_SESSION_H
#define AZ_SESSION_H

#include <pthread.h>
#include <stdatomic.h>

#include "internal.h"
#include "audit_private.h"
#include "secmem_private.h"

/*
 * An action keeps its storage across agentauthz_action_reset (issue 16):
 * the strings in buffers, the values in arenas, so that refilling it for
 * the next check does not allocate. Reset wipes what was used.
 */
struct agentauthz_action {
    az_buf tool;
    az_buf resource;
    bool has_resource;
    az_buf payload;
    agentauthz_value *dest;   /* a string, a list of strings, or NULL; in fields */
    agentauthz_value *labels; /* a list, or NULL; in fields */
    agentauthz_value *args;   /* a map, or NULL; in args_mem[args_cur] */
    az_arena fields;          /* dest and labels */
    /*
     * The arguments' arena, and a spare: set_args_json parses into the
     * spare and swaps only on success, so a bad text leaves the arguments
     * as they were.
     */
    az_arena args_mem[2];
    unsigned args_cur;
    az_json_reuse json; /* the parser's scratch */
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
#define AZ_ALLOWED_RING 16 /* recent allowed checks a lease may refer to */
#define AZ_HOST_SECRET_MAX 4096

/*
 * One issued secret. Its bytes live in a guarded pool slot; the record lives
 * as long as its session (leases hold a session reference). slot, live,
 * leak and leases are guarded by the engine's secret_lock.
 */
typedef struct az_secret {
    char *name;
    az_provider provider;
    az_secslot *slot;     /* NULL once released to the pool */
    size_t len;
    uint64_t expires_ns;  /* monotonic */
    _Atomic bool live;
    size_t leases;        /* outstanding leases on the slot */
    bool host_issued;     /* call the revoke callback at destruction */
    struct agentauthz_session *owner;
    /*
     * Its entry in the engine's leak index (borrowed: the index keeps live
     * entries), or NULL before it is registered and once it is destroyed.
     * The matcher's sets keep their own references to the entry, with a
     * copy of the name, so nothing they hold points into this record.
     */
    struct az_leak_entry *leak;
} az_secret;

typedef struct az_allowed {
    uint64_t seq;
    uint64_t tool_hash;
} az_allowed;

/*
 * The engine's leak matcher as published to sessions, shared immutable and
 * reference counted: set is the index's head at publication (a reference;
 * scanning it covers the recent and base sets and skips dead secrets).
 */
typedef struct az_leak_ref {
    _Atomic size_t refs;
    struct az_leak_set *set;
} az_leak_ref;

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
    /* secrets */
    az_secret *secrets;
    size_t nsecrets;
    az_allowed allowed[AZ_ALLOWED_RING];
    size_t allowed_next;
    az_leak_ref *leaks; /* the matcher this session last scanned with (a reference) */
    /* delegation */
    struct agentauthz_session *parent;   /* holds a reference */
    struct agentauthz_session **children; /* not references: unlinked at close */
    size_t nchildren;
    unsigned depth;
    bool no_secrets; /* a downstream one-check session issues none */
    az_glob *tools; /* the delegated tools, or NULL for all */
    size_t ntools;
    /* provenance: what its tools returned (observe.c); NULL until the first observation */
    struct az_prov *prov;
    bool observe_lost; /* an observation found no index to go into (out of memory) */
    /*
     * Scratch for the lists of links(), hosts() and emails() during a check
     * (s->lock held): kept across checks, so that only the first check that
     * uses them allocates.
     */
    az_arena derived;
};

struct agentauthz_engine {
    _Atomic(az_policy *) policy;
    pthread_mutex_t lock; /* reloads, the session list, policy hand-over */
    agentauthz_clock_fn clock;
    void *clock_ctx;
    agentauthz_clock_fn wall_clock;
    void *wall_clock_ctx;
    uint64_t generation;
    /*
     * Replaced policies, each with the engine's reference, freed by a later
     * load or sweep once no session holds them: freeing a large policy takes
     * milliseconds, which must not land on the check that lets go of it last.
     */
    az_policy **retired;
    size_t nretired;
    agentauthz_session *sessions;
    /* secrets: never held together with lock, except lock inside secret_lock */
    pthread_mutex_t secret_lock;
    const agentauthz_keys *keys;
    agentauthz_keys *own_keys;
    az_secpool *pool;
    agentauthz_secret_issue_fn secret_issue;
    agentauthz_secret_revoke_fn secret_revoke;
    void *secret_ctx;
    struct az_leak_index *leak_index; /* every live secret; NULL until the first */
    _Atomic(az_leak_ref *) leaks;     /* its head, published; NULL when none is live */
    /* audit */
    char *name;
    pthread_rwlock_t audit_lock; /* read: emit; write: replace the log */
    az_audit *_Atomic audit; /* set under audit_lock; NULL: no log, no lock taken */
};

uint64_t az_engine_now(const agentauthz_engine *e);
/* The policy in force with a new reference, or NULL. */
az_policy *az_engine_policy_ref(agentauthz_engine *e);

uint64_t az_engine_wall(const agentauthz_engine *e);

/* secret.c */
int az_secrets_issue(agentauthz_session *s, agentauthz_error *err);
/* Destroys every secret of s; the caller holds s->lock. */
void az_secrets_destroy(agentauthz_session *s);
/* Destroys the secrets whose own TTL has passed; the caller holds s->lock. */
void az_secrets_expire(agentauthz_session *s, uint64_t now);
/* The leak step of a check: 1 and a deny in d when a live secret is in a. */
int az_secrets_scan(agentauthz_session *s, const agentauthz_action *a, agentauthz_decision *d);
void az_secrets_note_allowed(agentauthz_session *s, uint64_t seq, const agentauthz_action *a);
void az_leak_ref_unref(az_leak_ref *r);
void az_engine_secrets_free(agentauthz_engine *e);
/* Copies the named parent secrets that the child's task lists into the child. */
int az_secrets_inherit(agentauthz_session *child, agentauthz_session *parent,
                       const agentauthz_delegate_options *opt, agentauthz_error *err);

/* session.c */
agentauthz_session *az_session_alloc(agentauthz_engine *e, const char *identity,
                                     const char *task, const agentauthz_value *params);
int az_session_open(agentauthz_engine *e, const char *identity, const char *task,
                    const agentauthz_session_options *opt, bool issue, agentauthz_session **out,
                    agentauthz_error *err);
int az_session_start(agentauthz_session *s, agentauthz_session **out, agentauthz_error *err);
/* 0, or AGENTAUTHZ_EIDENTITY when identity starts with "spiffe://" but is no valid SPIFFE ID. */
int az_identity_check(const char *identity, agentauthz_error *err);
int az_session_refuse_or_check(const az_view *v, const agentauthz_value *params,
                               agentauthz_error *err);
uint64_t az_clamp_ttl_ns(const az_policy *p, int task, uint64_t requested_ns);
int az_view_build(az_view *v, az_policy *p, const char *identity, const char *task);
void az_view_clear(az_view *v);
void az_session_end(agentauthz_session *s, az_state state, const char *why);
void az_session_unref(agentauthz_session *s);

/* check.c: moves s onto the policy in force (s->lock held); 0 or ENOMEM/ENOPOLICY */
int az_session_refresh_view(agentauthz_session *s);

/* record.c: audit records of session events; 0 or the audit's error */
int az_audit_session(agentauthz_session *s, az_audit_kind kind, const agentauthz_action *a,
                     const agentauthz_decision *d, const char *secret);
int az_audit_observe(agentauthz_session *s, const char *tool, const agentauthz_value *output,
                     const char *reason);
int az_session_audit_lease(agentauthz_session *s, const agentauthz_action *a,
                           const char *secret, int rc, const agentauthz_error *err);
void az_audit_engine(agentauthz_engine *e, az_audit_kind kind);

/* eval.c: the rules' decision for an action; s->lock is held. */
typedef struct az_eval {
    const agentauthz_session *s;
    const agentauthz_action *a;
    uint64_t now;
    const az_tool_index *idx;   /* the tool's candidate rules, or NULL */
    const az_tool_entry *entry; /* its catalogue entry, or NULL */
    agentauthz_value identity, task, tool, resource, calls, age, sink, empty, payload;
    az_arena *scratch;    /* the session's, for derived fields */
    const char *eval_why; /* why a condition could not be evaluated, or NULL */
    int eval_err;         /* an internal error (ENOMEM) behind it, or 0 */
    /* Input refused before the rules (rule "input"): why, and the argument or NULL. */
    const char *input_why;
    const char *input_arg;
    bool as_path; /* the condition being evaluated is on a path argument */
    /*
     * The resource and destination the rules see: the action's, or one
     * value of a catalogued argument (agentauthz-policy(5), "Resource and
     * destination arguments"); res_raw is the resource as given.
     */
    bool has_resource;
    const char *res_raw;
    size_t res_raw_len;
    const agentauthz_value *dest;
    /*
     * Normalised paths, on the caller's stack: the resource's (for the
     * whole check) and one argument string's (for one predicate at a time).
     */
    char resource_buf[AZ_MAX_PATH + 1];
    char arg_buf[AZ_MAX_PATH + 1];
} az_eval;

/*
 * Sets up ev for one check: looks the tool up, normalises a path-like
 * resource and checks the path arguments the catalogue marks. Returns 0,
 * or 1 when that input is refused (ev->input_why says why).
 */
int az_eval_init(az_eval *ev, agentauthz_session *s, const agentauthz_action *a, uint64_t now);
/*
 * The rules see v (a string of a catalogued resource argument, checked by
 * az_eval_init) as the resource, or the action's own when v is NULL.
 */
void az_eval_set_resource(az_eval *ev, const agentauthz_value *v);
/*
 * The string values of the catalogued arguments names[0..n) of ev's action,
 * in order (a list argument's items in turn), into out (cap entries), or
 * only counted when out is NULL. Returns how many.
 */
size_t az_eval_arg_values(const az_eval *ev, char *const *names, size_t n,
                          const agentauthz_value **out, size_t cap);
/* Returns the deciding rule (or NULL for the default) and its effect; -1 on error. */
int az_eval_rules(az_eval *ev, const az_rule **rule, agentauthz_effect *effect);

#endif /* AZ_SESSION_H */

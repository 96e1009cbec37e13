/*
 * libagentauthz: in-process runtime authorization for AI agents.
 *
 * This header is the whole public API. Conventions, for every call:
 *
 *  - Functions that can fail return 0 on success or a negative AGENTAUTHZ_E*
 *    code, and fill the caller-owned agentauthz_error when one is passed
 *    (NULL is allowed everywhere an error pointer is taken).
 *  - Constructors take an out-parameter; destructors accept NULL.
 *  - Misuse (a NULL handle, a handle in the wrong state) returns
 *    AGENTAUTHZ_EINVAL. The library never aborts the host process.
 *  - No global state: every call is reentrant. Thread-safety is stated per
 *    call; "engine-safe" means the call may run concurrently with any other
 *    call on the same engine, including a policy reload.
 *  - Secret values never appear in an error message, a decision, a value
 *    rendered to JSON, or anything else the library prints or returns
 *    (except the lease and substitution calls whose job is to hand them out).
 */
#ifndef AGENTAUTHZ_H
#define AGENTAUTHZ_H

#include <stddef.h>
#include <stdint.h>

#include <agentauthz/version.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && __GNUC__ >= 4
#define AGENTAUTHZ_API __attribute__((visibility("default")))
#define AGENTAUTHZ_WUR __attribute__((warn_unused_result))
#else
#define AGENTAUTHZ_API
#define AGENTAUTHZ_WUR
#endif

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

/* Error codes. Values are never reused for another meaning. */
#define AGENTAUTHZ_OK 0
#define AGENTAUTHZ_EINVAL -1      /* misuse: NULL handle, bad argument   */
#define AGENTAUTHZ_ENOMEM -2      /* out of memory                       */
#define AGENTAUTHZ_EIO -3         /* a file could not be read or written */
#define AGENTAUTHZ_EPOLICY -4     /* the policy is invalid               */
#define AGENTAUTHZ_ENOPOLICY -5   /* no policy is loaded                 */
#define AGENTAUTHZ_ENOTASK -6     /* the task is not in the policy       */
#define AGENTAUTHZ_EIDENTITY -7   /* the identity may not open the task  */
#define AGENTAUTHZ_EPARAM -8      /* task parameters missing or wrong    */
#define AGENTAUTHZ_EJSON -9       /* malformed JSON text                 */
#define AGENTAUTHZ_ELIMIT -10     /* a size, depth or count bound hit    */
#define AGENTAUTHZ_ESESSION -11   /* the session is closed/revoked/expired */
#define AGENTAUTHZ_ENOTFOUND -12  /* no such secret, key or entry        */
#define AGENTAUTHZ_EDENIED -13    /* refused: not allowed by the policy  */
#define AGENTAUTHZ_ECRYPTO -14    /* libsodium failed or a key is bad    */
#define AGENTAUTHZ_ETOKEN -15     /* a token is malformed                */
#define AGENTAUTHZ_ESIGNATURE -16 /* a token's signature does not verify */
#define AGENTAUTHZ_EEXPIRED -17   /* a token has expired                 */
#define AGENTAUTHZ_EAUDIENCE -18  /* a token is for another audience     */
#define AGENTAUTHZ_EPERM -19      /* a file's permissions are too open   */
#define AGENTAUTHZ_EEXIST -20     /* refusing to overwrite a file        */
#define AGENTAUTHZ_EPROVIDER -21  /* the host's secret provider failed   */
#define AGENTAUTHZ_ETAMPER -22    /* an audit log's MAC chain is broken  */
#define AGENTAUTHZ_EALGORITHM -23 /* a token's "alg" is not EdDSA       */
#define AGENTAUTHZ_EKEYID -24     /* a token's "kid" is not a known key  */
#define AGENTAUTHZ_ETOKENTYPE -25 /* a token's "typ" is not txntoken+jwt */

#define AGENTAUTHZ_ERROR_PATH_MAX 512
#define AGENTAUTHZ_ERROR_MESSAGE_MAX 512

/*
 * A precise error. line and column are 1-based and 0 when they do not
 * apply; offset is the byte offset into the input. path is "" when no file
 * is involved. Caller-owned: any storage duration, no cleanup needed.
 */
typedef struct agentauthz_error {
    int code;
    char path[AGENTAUTHZ_ERROR_PATH_MAX];
    unsigned long line;
    unsigned long column;
    size_t offset;
    char message[AGENTAUTHZ_ERROR_MESSAGE_MAX];
} agentauthz_error;

/* A static string naming code ("invalid policy"). Thread-safe. */
AGENTAUTHZ_API const char *agentauthz_strerror(int code);

/* The library version, "MAJOR.MINOR.PATCH" (static). Thread-safe. */
AGENTAUTHZ_API const char *agentauthz_version(void);

/* ------------------------------------------------------------------ */
/* JSON-like values (action arguments, task parameters)               */
/* ------------------------------------------------------------------ */

typedef struct agentauthz_value agentauthz_value;

typedef enum agentauthz_type {
    AGENTAUTHZ_NULL = 0,
    AGENTAUTHZ_BOOL,
    AGENTAUTHZ_NUMBER,
    AGENTAUTHZ_STRING,
    AGENTAUTHZ_LIST,
    AGENTAUTHZ_MAP
} agentauthz_type;

/*
 * Constructors. Each returns a new value the caller owns (free with
 * agentauthz_value_free, or hand it to a call that takes ownership), or NULL
 * when out of memory. Strings are copied; agentauthz_value_stringn accepts
 * embedded NUL bytes. Numbers must be finite (NaN and infinities give NULL).
 * Thread-safe: values are plain data; a value may be read by many threads
 * at once but must not be modified while another thread reads it.
 */
AGENTAUTHZ_API agentauthz_value *agentauthz_value_null(void);
AGENTAUTHZ_API agentauthz_value *agentauthz_value_bool(int b);
AGENTAUTHZ_API agentauthz_value *agentauthz_value_number(double n);
AGENTAUTHZ_API agentauthz_value *agentauthz_value_string(const char *s);
AGENTAUTHZ_API agentauthz_value *agentauthz_value_stringn(const char *s, size_t len);
AGENTAUTHZ_API agentauthz_value *agentauthz_value_list(void);
AGENTAUTHZ_API agentauthz_value *agentauthz_value_map(void);

/*
 * Appends item to list, or sets key in map (replacing an earlier value for
 * the same key). Ownership of item passes to the container in every case,
 * also when the call fails (then item is freed), so that calls can be
 * chained with constructors: agentauthz_value_list_append(l,
 * agentauthz_value_string("x")) never leaks. A NULL item gives
 * AGENTAUTHZ_ENOMEM. Bounded: AGENTAUTHZ_ELIMIT past 65536 items.
 */
AGENTAUTHZ_API int agentauthz_value_list_append(agentauthz_value *list, agentauthz_value *item);
AGENTAUTHZ_API int agentauthz_value_map_set(agentauthz_value *map, const char *key, agentauthz_value *item);

/* Frees v and everything it contains. NULL is a no-op. */
AGENTAUTHZ_API void agentauthz_value_free(agentauthz_value *v);

/* A deep copy, or NULL when out of memory. */
AGENTAUTHZ_API agentauthz_value *agentauthz_value_copy(const agentauthz_value *v);

/*
 * Parses one JSON text (RFC 8259, strict: UTF-8 only, no comments, no
 * trailing commas, no duplicate keys, nesting at most 64, at most 16 MiB).
 * On success *out is a new value the caller frees. On failure *out is NULL
 * and err says where (line, column, offset) and what was expected.
 */
AGENTAUTHZ_API AGENTAUTHZ_WUR int agentauthz_value_parse_json(const char *text, size_t len,
                                                               agentauthz_value **out,
                                                               agentauthz_error *err);

/*
 * Renders v as compact JSON into a new NUL-terminated buffer the caller
 * frees with agentauthz_free. *len (if not NULL) receives its length.
 */
AGENTAUTHZ_API AGENTAUTHZ_WUR int agentauthz_value_to_json(const agentauthz_value *v, char **out,
                                                            size_t *len);

/* Accessors. All results are borrowed from v and valid while v lives. */
AGENTAUTHZ_API agentauthz_type agentauthz_value_type(const agentauthz_value *v);
AGENTAUTHZ_API int agentauthz_value_get_bool(const agentauthz_value *v);
AGENTAUTHZ_API double agentauthz_value_get_number(const agentauthz_value *v);
/* The string (NUL-terminated; *len, if not NULL, gets the byte length). */
AGENTAUTHZ_API const char *agentauthz_value_get_string(const agentauthz_value *v, size_t *len);
/* The number of items of a list or entries of a map; 0 for scalars. */
AGENTAUTHZ_API size_t agentauthz_value_length(const agentauthz_value *v);
AGENTAUTHZ_API const agentauthz_value *agentauthz_value_list_get(const agentauthz_value *v,
                                                                  size_t i);
AGENTAUTHZ_API const agentauthz_value *agentauthz_value_map_get(const agentauthz_value *v,
                                                                 const char *key);
/* The i-th entry of a map, in insertion order. */
AGENTAUTHZ_API const char *agentauthz_value_map_key(const agentauthz_value *v, size_t i);
AGENTAUTHZ_API const agentauthz_value *agentauthz_value_map_value(const agentauthz_value *v,
                                                                   size_t i);

/* Frees memory the library returned with "free with agentauthz_free". */
AGENTAUTHZ_API void agentauthz_free(void *p);

/* Engine keys, task tokens and the audit log have headers of their own. */
#include <agentauthz/secrets.h>
#include <agentauthz/audit.h>

/* ------------------------------------------------------------------ */
/* Engine and policy                                                   */
/* ------------------------------------------------------------------ */

typedef struct agentauthz_engine agentauthz_engine;

/* What the host's secret provider is asked to issue or revoke. Borrowed. */
typedef struct agentauthz_secret_request {
    const char *secret;   /* the secret's name in the policy */
    const char *session;  /* the session's id */
    const char *identity; /* the session's workload identity */
    const char *task;     /* the session's task */
    uint64_t ttl_ns;      /* how long the value must stay valid */
} agentauthz_secret_request;

/*
 * Issues a `host` secret: writes at most cap bytes (cap is 4096) into buf
 * and their count into *len (at least 8, so that leaks of it can be
 * detected), and returns 0; non-zero refuses, and the session open fails
 * with AGENTAUTHZ_EPROVIDER. Called with no library lock held, possibly from
 * several threads at once.
 */
typedef int (*agentauthz_secret_issue_fn)(void *ctx, const agentauthz_secret_request *req,
                                          unsigned char *buf, size_t cap, size_t *len);
/*
 * Revokes what issue issued, exactly once per issued secret. Called with the
 * session's lock held: it must not call into the library for that session.
 */
typedef void (*agentauthz_secret_revoke_fn)(void *ctx, const agentauthz_secret_request *req);

/*
 * A clock: monotonic nanoseconds. The default is CLOCK_MONOTONIC. Tests
 * inject their own to move time by hand. Must be thread-safe if the engine
 * is used from several threads.
 */
typedef uint64_t (*agentauthz_clock_fn)(void *ctx);

typedef struct agentauthz_engine_options {
    unsigned version;               /* AGENTAUTHZ_ENGINE_OPTIONS_VERSION */
    agentauthz_clock_fn clock;      /* TTLs; NULL: the monotonic clock */
    void *clock_ctx;
    agentauthz_clock_fn wall_clock; /* Unix ns for tokens and audit; NULL: CLOCK_REALTIME */
    void *wall_clock_ctx;
    const agentauthz_keys *keys;    /* borrowed, must outlive the engine; NULL: fresh keys */
    agentauthz_secret_issue_fn secret_issue;   /* the `host` provider, or NULL */
    agentauthz_secret_revoke_fn secret_revoke; /* may be NULL */
    void *secret_ctx;
    const char *name;               /* the engine's name in audit records (copied), or NULL */
} agentauthz_engine_options;

#define AGENTAUTHZ_ENGINE_OPTIONS_VERSION 1
#define AGENTAUTHZ_ENGINE_OPTIONS_INIT                                                        \
    {AGENTAUTHZ_ENGINE_OPTIONS_VERSION, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL}

/*
 * Creates an engine with no policy loaded (every session open fails with
 * AGENTAUTHZ_ENOPOLICY until a load succeeds). opt may be NULL. The caller
 * frees the engine with agentauthz_engine_free after closing its sessions.
 */
AGENTAUTHZ_API AGENTAUTHZ_WUR int agentauthz_engine_new(agentauthz_engine **out,
                                                         const agentauthz_engine_options *opt,
                                                         agentauthz_error *err);

/*
 * Frees the engine and its policy. Sessions still open are ended (their
 * handles stay valid for agentauthz_session_close only). Not thread-safe:
 * no other call on this engine may be running. NULL is a no-op.
 */
AGENTAUTHZ_API void agentauthz_engine_free(agentauthz_engine *e);

/*
 * One finding of a policy load: an error, or a warning (is_warning != 0)
 * such as a rule that can never match. The struct is borrowed for the
 * duration of the callback.
 */
typedef void (*agentauthz_diag_fn)(const agentauthz_error *diag, int is_warning, void *ctx);

typedef struct agentauthz_load_options {
    unsigned version;           /* AGENTAUTHZ_LOAD_OPTIONS_VERSION */
    agentauthz_diag_fn on_diag; /* called for every error and warning; may be NULL */
    void *ctx;
} agentauthz_load_options;

#define AGENTAUTHZ_LOAD_OPTIONS_VERSION 1
#define AGENTAUTHZ_LOAD_OPTIONS_INIT {AGENTAUTHZ_LOAD_OPTIONS_VERSION, NULL, NULL}

/*
 * Loads a policy from files and directories (a directory contributes its
 * *.yaml and *.yml files, in name order) as one policy, validates and
 * compiles it, and swaps it in atomically. All or nothing: on any error the
 * previously loaded policy stays in force, err holds the first error and
 * opt->on_diag has been called for every error found. Engine-safe: checks
 * running on other threads finish on the policy they started with.
 */
AGENTAUTHZ_API AGENTAUTHZ_WUR int agentauthz_engine_load(agentauthz_engine *e,
                                                          const char *const *paths,
                                                          size_t npaths,
                                                          const agentauthz_load_options *opt,
                                                          agentauthz_error *err);

/* As agentauthz_engine_load, from a text in memory; name labels errors. */
AGENTAUTHZ_API AGENTAUTHZ_WUR int agentauthz_engine_load_string(
    agentauthz_engine *e, const char *name, const char *text, size_t len,
    const agentauthz_load_options *opt, agentauthz_error *err);

#define AGENTAUTHZ_NAME_MAX 129 /* names are at most 128 bytes */

/* What is loaded. Filled by agentauthz_engine_policy_info. */
typedef struct agentauthz_policy_info {
    char name[AGENTAUTHZ_NAME_MAX]; /* the policy's name, "" if none */
    char hash[65];                  /* hex BLAKE2b-256 of the loaded texts */
    size_t rules, tasks, secrets, identities;
    uint64_t generation; /* 1 for the first successful load, +1 each reload */
} agentauthz_policy_info;

/* Describes the policy in force. AGENTAUTHZ_ENOPOLICY if none. Engine-safe. */
AGENTAUTHZ_API int agentauthz_engine_policy_info(agentauthz_engine *e,
                                                 agentauthz_policy_info *out);

/*
 * Ends every session whose TTL has passed (as a check on it would), so that
 * their state is released without waiting for a touch. *expired, if not
 * NULL, receives how many were ended. Engine-safe; call it from a timer.
 */
AGENTAUTHZ_API int agentauthz_engine_sweep(agentauthz_engine *e, size_t *expired);

/*
 * Copies the engine's Ed25519 public key (the one task tokens verify with).
 * Thread-safe.
 */
AGENTAUTHZ_API int agentauthz_engine_public_key(const agentauthz_engine *e,
                                                unsigned char pk[AGENTAUTHZ_PUBKEY_BYTES]);

/*
 * Writes the engine's public key as a JWK Set (agentauthz_keys_jwks) into
 * out, which has cap bytes (at least AGENTAUTHZ_JWKS_TEXT_MAX, else
 * AGENTAUTHZ_EINVAL). Thread-safe.
 */
AGENTAUTHZ_API int agentauthz_engine_jwks(const agentauthz_engine *e, char *out, size_t cap);

/*
 * Starts writing the audit log (agentauthz_engine_set_audit(3)):
 * every session event, check, approval and lease from now on, MAC-chained
 * with the engine keys' audit key. opt NULL stops it. Replaces an earlier
 * log. When a record cannot be written the check it records is denied.
 * Engine-safe.
 */
AGENTAUTHZ_API AGENTAUTHZ_WUR int agentauthz_engine_set_audit(agentauthz_engine *e,
                                                               const agentauthz_audit_options *opt,
                                                               agentauthz_error *err);

/*
 * Reopens the audit file (after it was renamed by log rotation); the MAC
 * chain continues in the new file. Call it from a SIGHUP handler's thread,
 * not from the handler. Engine-safe.
 */
AGENTAUTHZ_API int agentauthz_engine_audit_reopen(agentauthz_engine *e, agentauthz_error *err);

/* ------------------------------------------------------------------ */
/* Sessions                                                            */
/* ------------------------------------------------------------------ */

typedef struct agentauthz_session agentauthz_session;

typedef struct agentauthz_session_options {
    unsigned version;                /* AGENTAUTHZ_SESSION_OPTIONS_VERSION */
    uint64_t ttl_ns;                 /* 0: the policy's default */
    const agentauthz_value *params;  /* a map, or NULL; borrowed, copied */
} agentauthz_session_options;

#define AGENTAUTHZ_SESSION_OPTIONS_VERSION 1
#define AGENTAUTHZ_SESSION_OPTIONS_INIT {AGENTAUTHZ_SESSION_OPTIONS_VERSION, 0, NULL}

/*
 * Opens a session for a workload identity and a task. Fails with
 * AGENTAUTHZ_ENOTASK (unknown task), AGENTAUTHZ_EIDENTITY (no identities
 * entry matches, the identity holds none of the task's roles, or it starts
 * with "spiffe://" and is not a valid SPIFFE ID),
 * AGENTAUTHZ_EPARAM (a required parameter missing, a parameter undeclared or
 * of the wrong type; an optional one may be left out or null)
 * or AGENTAUTHZ_ENOPOLICY, with err saying why. The TTL is clamped by the
 * task's max_ttl and defaults.max_session_ttl. The caller ends it with
 * agentauthz_session_close. Engine-safe.
 */
AGENTAUTHZ_API AGENTAUTHZ_WUR int agentauthz_session_open(agentauthz_engine *e,
                                                           const char *identity,
                                                           const char *task,
                                                           const agentauthz_session_options *opt,
                                                           agentauthz_session **out,
                                                           agentauthz_error *err);

/*
 * Revokes the session: every later check on it is denied (rule "session",
 * reason "session revoked"). The handle stays valid until closed.
 * Idempotent. Safe concurrently with checks on the same session.
 */
AGENTAUTHZ_API int agentauthz_session_revoke(agentauthz_session *s);

/*
 * Ends the session (if it has not ended) and releases the caller's handle.
 * No other call on this handle may be running or made afterwards.
 * NULL is a no-op.
 */
AGENTAUTHZ_API void agentauthz_session_close(agentauthz_session *s);

/*
 * The session's id: 32 lowercase hex characters from a random 128-bit value.
 * Borrowed; valid until agentauthz_session_close. Thread-safe.
 */
AGENTAUTHZ_API const char *agentauthz_session_id(const agentauthz_session *s);

/* ------------------------------------------------------------------ */
/* Actions                                                             */
/* ------------------------------------------------------------------ */

typedef struct agentauthz_action agentauthz_action;

/*
 * An action is what an agent is about to do: a tool call with its resource,
 * destination(s), input labels, payload bytes and arguments. The caller
 * owns it and frees it with agentauthz_action_free; agentauthz_action_reset
 * empties it for reuse without giving back its memory. An action is not
 * thread-safe to modify, but may be checked by several threads at once.
 * Every setter copies its input into storage the action keeps across
 * resets (wiped by the reset), so a loop that resets one action per check
 * does not allocate once that storage fits. Bounds: strings at most 16 MiB
 * each, at most 1024 labels and 1024 destinations, values (arguments,
 * destinations, labels) at most 256 MiB between resets.
 */
AGENTAUTHZ_API AGENTAUTHZ_WUR int agentauthz_action_new(agentauthz_action **out);
AGENTAUTHZ_API void agentauthz_action_free(agentauthz_action *a);
AGENTAUTHZ_API void agentauthz_action_reset(agentauthz_action *a);
AGENTAUTHZ_API int agentauthz_action_set_tool(agentauthz_action *a, const char *tool);
AGENTAUTHZ_API int agentauthz_action_set_resource(agentauthz_action *a, const char *resource);
/*
 * Adds a destination. The first one added to an action without a
 * destination is a single destination (a string); a second one makes the
 * destination a list of both. Once the destination is a list, each call
 * appends to it.
 */
AGENTAUTHZ_API int agentauthz_action_add_destination(agentauthz_action *a, const char *dest);
/*
 * Replaces the destination with a list of the n strings of dests (copied),
 * which stays a list also with one item or none (n == 0, dests may then be
 * NULL). Use it whenever the caller's destination is a list. On failure
 * (EINVAL for a NULL item, ELIMIT past 1024) the destination is unchanged.
 */
AGENTAUTHZ_API int agentauthz_action_set_destinations(agentauthz_action *a,
                                                      const char *const *dests, size_t n);
AGENTAUTHZ_API int agentauthz_action_add_label(agentauthz_action *a, const char *label);
AGENTAUTHZ_API int agentauthz_action_set_payload(agentauthz_action *a, const void *data,
                                                 size_t len);
/* Sets one argument; ownership of value passes to the action, also on failure. */
AGENTAUTHZ_API int agentauthz_action_set_arg(agentauthz_action *a, const char *key,
                                             agentauthz_value *value);
/*
 * Set one argument from a borrowed value (deep-copied), a string of len
 * bytes (copied; may hold NULs), a finite number or a boolean, replacing an
 * earlier value of key. They copy into the action's own storage, so a host
 * that resets one action per check builds it without allocating; EINVAL for
 * NULL a, key or value, s NULL with len, a number that is not finite.
 */
AGENTAUTHZ_API int agentauthz_action_copy_arg(agentauthz_action *a, const char *key,
                                              const agentauthz_value *value);
AGENTAUTHZ_API int agentauthz_action_set_arg_string(agentauthz_action *a, const char *key,
                                                    const char *s, size_t len);
AGENTAUTHZ_API int agentauthz_action_set_arg_number(agentauthz_action *a, const char *key,
                                                    double n);
AGENTAUTHZ_API int agentauthz_action_set_arg_bool(agentauthz_action *a, const char *key, int b);
/* Replaces all arguments with the JSON object text (parsed as agentauthz_value_parse_json). */
AGENTAUTHZ_API AGENTAUTHZ_WUR int agentauthz_action_set_args_json(agentauthz_action *a,
                                                                   const char *json, size_t len,
                                                                   agentauthz_error *err);
/* The action's arguments map (borrowed; NULL when none were set). */
AGENTAUTHZ_API const agentauthz_value *agentauthz_action_args(const agentauthz_action *a);

/* ------------------------------------------------------------------ */
/* Checks                                                              */
/* ------------------------------------------------------------------ */

typedef enum agentauthz_effect {
    AGENTAUTHZ_DENY = 0,
    AGENTAUTHZ_ALLOW = 1,
    AGENTAUTHZ_ASK = 2
} agentauthz_effect;

#define AGENTAUTHZ_REASON_MAX 512

/*
 * A decision. rule is the id of the deciding rule, or one of the engine's
 * own: "session", "limit", "leak", "input" (a path-like resource or path
 * argument refused before the rules, agentauthz-policy(5) PATHS),
 * "default". reason is the rule's reason
 * ("" if it has none) or the engine's explanation. seq numbers the checks of
 * a session from 1. Caller-owned; the strings are copies, valid as long as
 * the struct.
 */
typedef struct agentauthz_decision {
    agentauthz_effect effect;
    char rule[AGENTAUTHZ_NAME_MAX];
    char reason[AGENTAUTHZ_REASON_MAX];
    uint64_t seq;
} agentauthz_decision;

/*
 * Decides the action in the session, at this moment, under the policy in
 * force. *d is set to a deny before anything else happens, so every
 * failure is a deny; the return value is 0 when the decision was reached
 * by the policy and a negative code when an internal error forced the deny.
 * Counts toward the session's limits; an allow adds labels to the session;
 * a deny in an on_deny: revoke task revokes it. No heap allocation on the
 * common path. Safe concurrently with any call on the same session other
 * than close, and with reloads.
 */
AGENTAUTHZ_API AGENTAUTHZ_WUR int agentauthz_check(agentauthz_session *s,
                                                    const agentauthz_action *a,
                                                    agentauthz_decision *d);

/* The name of an effect: "allow", "deny" or "ask" (static). */
AGENTAUTHZ_API const char *agentauthz_effect_name(agentauthz_effect effect);

typedef enum agentauthz_approval {
    AGENTAUTHZ_APPROVE_ONCE = 1,   /* the next identical check only */
    AGENTAUTHZ_APPROVE_SESSION = 2 /* every identical check from now on */
} agentauthz_approval;

/*
 * Records a human approval of this exact action (tool, resource,
 * destinations and arguments, compared as JSON values). An approval only
 * turns an "ask" into an "allow", never a deny. The usual flow: a check
 * returns ask, the host asks a human, calls agentauthz_approve, and checks
 * again. At most 256 approvals are pending per session (AGENTAUTHZ_ELIMIT).
 * Safe concurrently with checks on the same session.
 */
AGENTAUTHZ_API int agentauthz_approve(agentauthz_session *s, const agentauthz_action *a,
                                      agentauthz_approval scope);

/* ------------------------------------------------------------------ */
/* Provenance: what the session's tools returned                       */
/* ------------------------------------------------------------------ */

/*
 * Records a tool's output for the session, so that the policy's from and
 * not_from predicates can ask whether an argument's value came from it
 * (agentauthz-policy(5), PROVENANCE; agentauthz_session_observe(3)). The
 * output is labelled with labels (n names, copied) and with the output
 * labels the policy's catalogue gives a's tool (a may be NULL: the
 * caller's labels only); at least one label is needed (EINVAL), "param" is
 * reserved. agentauthz_session_observe takes the output as text (any
 * bytes, at most 16 MiB); _observe_value takes a parsed value and indexes
 * each string and number in it. The session's ancestors record it too.
 * Within the task's limits (observe_min_len, observed_values,
 * observed_bytes) the oldest observations are dropped first. Returns 0;
 * AGENTAUTHZ_ELIMIT or ENOMEM when the output could not be recorded whole
 * (what was taken is kept; later from and not_from checks that do not find
 * their value are denied: they could be wrong); ESESSION for an ended
 * session; EIO when the audit record could not be written (the
 * observation stands). No observed value reaches the audit log but as a
 * keyed digest. Thread-safe: concurrent with checks and observations on
 * the same session.
 */
AGENTAUTHZ_API int agentauthz_session_observe(agentauthz_session *s, const agentauthz_action *a,
                                              const void *output, size_t len,
                                              const char *const *labels, size_t nlabels,
                                              agentauthz_error *err);
AGENTAUTHZ_API int agentauthz_session_observe_value(agentauthz_session *s,
                                                    const agentauthz_action *a,
                                                    const agentauthz_value *output,
                                                    const char *const *labels, size_t nlabels,
                                                    agentauthz_error *err);

/* ------------------------------------------------------------------ */
/* Secrets: leases, placeholders, scrubbing                            */
/* ------------------------------------------------------------------ */

/*
 * A session's secrets are issued when it opens (per the task's `secrets`)
 * and destroyed when it closes, is revoked or expires (or the secret's own
 * TTL passes). The agent never needs to hold them: the tool runtime leases
 * one for an action that was checked and allowed, or has placeholders
 * substituted into an outgoing request, and scrubs tool output.
 */
typedef struct agentauthz_lease agentauthz_lease;

/*
 * Leases the session's secret named secret for the action a, which d must
 * be the allowing decision of (one of the session's last 16 allowed
 * checks, of the same tool), and whose tool must match the secret's
 * `tools`. Anything else is refused with AGENTAUTHZ_EDENIED (recorded as a
 * denied lease in the audit log); AGENTAUTHZ_ENOTFOUND for a secret the
 * session does not hold, AGENTAUTHZ_ESESSION when it has ended. The caller
 * releases the lease with agentauthz_lease_release. Thread-safe.
 */
AGENTAUTHZ_API AGENTAUTHZ_WUR int agentauthz_lease_acquire(agentauthz_session *s,
                                                            const agentauthz_action *a,
                                                            const agentauthz_decision *d,
                                                            const char *secret,
                                                            agentauthz_lease **out,
                                                            agentauthz_error *err);

/*
 * The leased bytes, in guarded memory (guard pages, locked, wiped on
 * release; read them, never write them), and their length. When the
 * session ends (on any thread) while the lease is held, the bytes are wiped
 * to zeros in place, the pointer stays readable until release, and this call
 * returns NULL from then on; agentauthz_lease_valid returns 0.
 */
AGENTAUTHZ_API const unsigned char *agentauthz_lease_value(const agentauthz_lease *l,
                                                           size_t *len);
AGENTAUTHZ_API int agentauthz_lease_valid(const agentauthz_lease *l);
/* Releases the lease. NULL is a no-op. */
AGENTAUTHZ_API void agentauthz_lease_release(agentauthz_lease *l);

/* Guarded memory holding a request with secrets substituted. */
typedef struct agentauthz_secret_buffer agentauthz_secret_buffer;

/*
 * Copies text, replacing each ${secret:NAME} with that secret's value, for
 * an action allowed by d (as for agentauthz_lease_acquire, for every secret
 * named). All or nothing: any refused placeholder fails the whole call with
 * AGENTAUTHZ_EDENIED and no output; an unterminated or malformed
 * placeholder gives AGENTAUTHZ_EINVAL. The caller frees the buffer with
 * agentauthz_secret_buffer_free, which wipes it. Thread-safe.
 */
AGENTAUTHZ_API AGENTAUTHZ_WUR int agentauthz_substitute(agentauthz_session *s,
                                                         const agentauthz_action *a,
                                                         const agentauthz_decision *d,
                                                         const char *text, size_t len,
                                                         agentauthz_secret_buffer **out,
                                                         agentauthz_error *err);
AGENTAUTHZ_API const unsigned char *agentauthz_secret_buffer_data(
    const agentauthz_secret_buffer *b, size_t *len);
AGENTAUTHZ_API void agentauthz_secret_buffer_free(agentauthz_secret_buffer *b);

/*
 * Copies a tool's output with every live secret of the engine's sessions,
 * raw or hex, base64, base64url or percent-encoded, replaced by
 * [redacted:NAME]. *out (NUL-terminated, *outlen bytes) is freed by the
 * caller with agentauthz_free. Thread-safe.
 */
AGENTAUTHZ_API AGENTAUTHZ_WUR int agentauthz_scrub(agentauthz_session *s, const void *data,
                                                    size_t len, char **out, size_t *outlen,
                                                    agentauthz_error *err);

/* ------------------------------------------------------------------ */
/* Delegation and downstream checks                                    */
/* ------------------------------------------------------------------ */

typedef struct agentauthz_delegate_options {
    unsigned version;               /* AGENTAUTHZ_DELEGATE_OPTIONS_VERSION */
    uint64_t ttl_ns;                /* 0: the task's default; never past the parent's end */
    const agentauthz_value *params; /* the child task's parameters, or NULL */
    const char *const *tools;       /* tool names or globs the child may use; NULL: all */
    size_t ntools;
    const char *const *secrets;     /* parent secrets to hand down; NULL: none */
    size_t nsecrets;
} agentauthz_delegate_options;

#define AGENTAUTHZ_DELEGATE_OPTIONS_VERSION 1
#define AGENTAUTHZ_DELEGATE_OPTIONS_INIT {AGENTAUTHZ_DELEGATE_OPTIONS_VERSION, 0, NULL, NULL, 0, NULL, 0}
#define AGENTAUTHZ_DELEGATION_DEPTH_MAX 8

/*
 * Opens a child session for a sub-agent, as agentauthz_session_open does
 * for identity and task, and narrower than its parent: every check on the
 * child must also be allowed by the parent's policy view (a dry run that
 * changes nothing in the parent), its tools are limited to opt->tools and
 * to the tools its ancestors were limited to, its secrets are copies of the
 * named parent secrets that the child's task also lists, and it ends no
 * later than the parent. Ending the parent ends every descendant. At most
 * AGENTAUTHZ_DELEGATION_DEPTH_MAX levels (AGENTAUTHZ_ELIMIT). Thread-safe.
 */
AGENTAUTHZ_API AGENTAUTHZ_WUR int agentauthz_session_delegate(
    agentauthz_session *parent, const char *identity, const char *task,
    const agentauthz_delegate_options *opt, agentauthz_session **out, agentauthz_error *err);

/*
 * For a downstream service: verifies a task token with verifier v (offline,
 * its cache and revocations included), then checks the action for the
 * token's identity and task against this engine's own policy, in a
 * one-check session that lives no longer than the token, and denies
 * (rule "session") a tool the token does not name. Returns the token's
 * error (ETOKEN, ESIGNATURE, EEXPIRED, EAUDIENCE, ESESSION) with a deny in
 * *d, or 0 with the policy's decision. Engine-safe.
 */
AGENTAUTHZ_API AGENTAUTHZ_WUR int agentauthz_check_token(agentauthz_engine *e,
                                                          agentauthz_verifier *v,
                                                          const char *token, size_t len,
                                                          const agentauthz_action *a,
                                                          agentauthz_decision *d,
                                                          agentauthz_error *err);

#ifdef __cplusplus
}
#endif

#endif /* AGENTAUTHZ_H */

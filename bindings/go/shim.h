/*
 * C helpers of the Go binding. Each one does in a single cgo call what would
 * otherwise take several, because every crossing from Go into C costs tens
 * of nanoseconds and a check must stay under a microsecond. None of them
 * keeps a pointer to Go memory past its return.
 */
#ifndef AZ_GO_SHIM_H
#define AZ_GO_SHIM_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <agentauthz.h>

/* Reads the fake clock's nanoseconds, which live in C memory at ctx. */
uint64_t az_go_clock_read(void *ctx);
/* Stores ns into the fake clock at ctx. */
void az_go_clock_store(void *ctx, uint64_t ns);
/* Adds ns to the fake clock at ctx, saturating at UINT64_MAX. */
void az_go_clock_add(void *ctx, uint64_t ns);

/* Engine options with the fields the binding sets. keys and clocks may be NULL. */
int az_go_engine_new(agentauthz_engine **out, const agentauthz_keys *keys, uint64_t *clock,
                     uint64_t *wall_clock, const char *name, agentauthz_error *err);

/* The diagnostics of one policy load, copied out of the callback. */
typedef struct az_go_diags {
    agentauthz_error *items;
    int *warning;
    size_t n, cap;
    size_t dropped; /* diagnostics past AZ_GO_DIAGS_MAX, counted but not kept */
} az_go_diags;

#define AZ_GO_DIAGS_MAX 256

az_go_diags *az_go_diags_new(void);
void az_go_diags_free(az_go_diags *d);
const agentauthz_error *az_go_diag_at(const az_go_diags *d, size_t i);

/* agentauthz_engine_load with the diagnostics collected into diags. */
int az_go_load(agentauthz_engine *e, const char *const *paths, size_t npaths,
               az_go_diags *diags, agentauthz_error *err);
/* agentauthz_engine_load_string with the diagnostics collected into diags. */
int az_go_load_string(agentauthz_engine *e, const char *name, const char *text, size_t len,
                      az_go_diags *diags, agentauthz_error *err);

/* Opens a session; params_json (len bytes, may be NULL) is a JSON object. */
int az_go_session_open(agentauthz_engine *e, const char *identity, const char *task,
                       const char *params_json, size_t params_len, uint64_t ttl_ns,
                       agentauthz_session **out, agentauthz_error *err);

/*
 * The shape of a packed action. strings holds, NUL-terminated and in this
 * order, the tool, the resource (when has_resource), ndest destinations and
 * nlabels labels, in strings_len bytes. When has_args, args_len bytes at
 * args_off of the same buffer are a JSON object, or when flat_args is
 * non-zero the text of nargs flat arguments described by as many az_go_arg
 * records (see az_go_arg); payload has payload_len bytes. When dest_list,
 * the destinations are a list (also with one or none), else there are none.
 */
typedef struct az_go_packed {
    size_t strings_len;
    size_t ndest;
    size_t nlabels;
    size_t args_off;
    size_t args_len;
    size_t nargs;
    size_t payload_len;
    int has_resource;
    int dest_list;
    int has_args;
    int flat_args;
} az_go_packed;

/* Kinds of flat arguments. */
#define AZ_GO_ARG_STRING 's'
#define AZ_GO_ARG_NUMBER 'n'
#define AZ_GO_ARG_BOOL 'b'

/*
 * One flat argument: a string, a finite number or a boolean under a key.
 * The text of the arguments holds, record after record, the key and a NUL,
 * then for a string its value bytes and a NUL; the records themselves hold
 * only integers, so that Go fills them in place and hands them to C without
 * a pointer check, and the text holds no binary bytes, so that Go validates
 * it as UTF-8 in one pass.
 */
typedef struct az_go_arg {
    uint64_t key_len; /* bytes of the key, its NUL not counted */
    uint64_t value;   /* a string's length, a number's IEEE 754 bits, a boolean's 0 or 1 */
    uint64_t kind;    /* AZ_GO_ARG_* */
} az_go_arg;

/*
 * Per-call scratch memory of the binding, reused through a pool: an action,
 * the session of the check under way, the shape of the packed action Go
 * writes in place, and room for a decision and an error, so that a check
 * allocates nothing in C on its common path and passes no pointer that cgo
 * has to check.
 */
typedef struct az_go_scratch {
    agentauthz_action *action;
    agentauthz_session *session;
    az_go_packed shape;
    agentauthz_decision decision;
    agentauthz_error err;
} az_go_scratch;

az_go_scratch *az_go_scratch_new(void);
void az_go_scratch_free(az_go_scratch *sc);

/*
 * The functions of the check's path take their az_go_scratch as an integer
 * (scratch, the address az_go_scratch_new returned). cgo checks every
 * pointer argument whose target may hold pointers by looking it up in the
 * Go heap, and a pointer to an incomplete type (agentauthz_session) it
 * first boxes in an allocation: the scratch is C memory and needs neither,
 * so it goes as an integer and carries the session, which Go writes into it
 * just before the call. buf (the packed action), args (nargs records) and
 * payload are Go memory that holds no pointers, borrowed for the call only.
 */

/* Resets the action and fills it from the packed action (buf, shaped by the scratch's shape). */
int az_go_action_fill(uintptr_t scratch, const char *buf, const az_go_arg *args,
                      const unsigned char *payload);

/*
 * Fills the action and checks it in the scratch's session, the decision in
 * its decision (a deny whenever the result is negative, also when the
 * action could not be built).
 */
int az_go_check(uintptr_t scratch, const char *buf, const az_go_arg *args,
                const unsigned char *payload);

/* Writes the parts of a decision that leases and substitutions look at. */
void az_go_decision_set(az_go_scratch *sc, int effect, uint64_t seq);

/* agentauthz_token_verify with a public key given as text. */
int az_go_token_verify(const char *pubkey, const char *token, size_t len, const char *audience,
                       uint32_t skew, int64_t now, agentauthz_token_claims **out,
                       agentauthz_error *err);

/* agentauthz_token_verify with the keys of a JWK Set (a verifier without a cache). */
int az_go_token_verify_jwks(const char *jwks, size_t jlen, const char *token, size_t len,
                            const char *audience, uint32_t skew, int64_t now,
                            agentauthz_token_claims **out, agentauthz_error *err);

/* The JWK Set (jwks) or the key id (kid) of a public key given as text. */
int az_go_pubkey_jwks(const char *pubkey, char *out, size_t cap, int kid, agentauthz_error *err);

/* The i-th tool of claims c. */
const char *az_go_claims_tool(const agentauthz_token_claims *c, size_t i);

/* Builds claims from Go's strings for agentauthz_token_sign (tools: ntools NUL-terminated strings). */
int az_go_token_sign(const agentauthz_keys *k, const char *identity, const char *task,
                     const char *session, const char *audience, const char *issuer,
                     const char *parent, const char *params, int64_t iat, int64_t exp,
                     const char *tools, size_t ntools, size_t tools_len, char **out,
                     agentauthz_error *err);

#endif /* AZ_GO_SHIM_H */

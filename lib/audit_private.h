/*
 * The audit log's private interface, between audit.c, audit_verify.c and
 * the engine and session code. To be merged into internal.h.
 */
#ifndef AZ_AUDIT_PRIVATE_H
#define AZ_AUDIT_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agentauthz.h"
#include "agentauthz/audit.h"
#include "internal.h"

#define AZ_AUDIT_LINE_MAX (1024u * 1024u) /* one record, newline included */
#define AZ_AUDIT_STR_MAX 4096u            /* one string field, escaped */
#define AZ_AUDIT_DEST_MAX 16u             /* destinations written in full */
#define AZ_AUDIT_ARGS_MAX (512u * 1024u)  /* the "args" object */
#define AZ_AUDIT_BUFFER (64u * 1024u)     /* the file sink's write buffer */
#define AZ_AUDIT_MAC_BYTES 32u
#define AZ_AUDIT_HEX (2u * AZ_AUDIT_MAC_BYTES)
#define AZ_AUDIT_LOG_ID_BYTES 16u
#define AZ_AUDIT_SIG_BYTES 64u
#define AZ_AUDIT_SCHEMA 2u /* the version this library writes */

typedef enum az_audit_kind {
    AZ_AUDIT_OPEN = 0,
    AZ_AUDIT_CLOSE,
    AZ_AUDIT_REVOKE,
    AZ_AUDIT_EXPIRE,
    AZ_AUDIT_CHECK,
    AZ_AUDIT_APPROVE,
    AZ_AUDIT_LEASE,
    AZ_AUDIT_LEASE_REFUSED,
    AZ_AUDIT_RELOAD,
    AZ_AUDIT_OBSERVE,    /* a tool's output recorded for provenance (digest only) */
    AZ_AUDIT_START,      /* the first record of a log: engine, key, log id; signed */
    AZ_AUDIT_RESUME,     /* an engine continues a log from its file; signed */
    AZ_AUDIT_CHECKPOINT, /* signs the hash chain so far */
    AZ_AUDIT_KIND_COUNT
} az_audit_kind;

/*
 * Says whether s (len bytes) contains the value of a secret the engine has
 * issued. Strings it flags are written as "[redacted]" (or, for arguments
 * logged in clear, as a digest), so a secret that an agent copies into a
 * resource, a destination or an argument never reaches the log.
 */
typedef bool (*az_audit_scan_fn)(const char *s, size_t len, void *ctx);

/*
 * One event. Every pointer is borrowed for the call and may be NULL, which
 * omits the field; check_seq 0 omits it too. Strings are NUL-terminated.
 * destination is a string or a list of strings; args is a map.
 */
typedef struct az_audit_event {
    az_audit_kind kind;
    uint64_t time_ns; /* wall clock, Unix nanoseconds */
    const char *engine;
    const char *policy_name;
    const char *policy_hash; /* hex BLAKE2b-256 of the loaded policy */
    const char *session;
    const char *parent;
    const char *identity;
    const char *task;
    const char *tool;
    const char *resource;
    const char *resource_checked; /* the resource normalised, when that changed it */
    const agentauthz_value *destination;
    const char *decision; /* "allow", "deny" or "ask" */
    const char *rule;
    const char *reason;
    uint64_t check_seq; /* the check's number within its session */
    const char *secret; /* a secret's name (lease events); never its value */
    const agentauthz_value *args;
    const char *const *clear_args; /* argument names the policy logs in clear */
    size_t nclear;
    az_audit_scan_fn scan; /* may be NULL: nothing is redacted */
    void *scan_ctx;
} az_audit_event;

typedef struct az_audit az_audit;

/*
 * Who writes a log: the engine's keys (the audit key MACs every record, the
 * Ed25519 key signs the start, resume and checkpoint records; borrowed, they
 * must outlive the log), its name (copied; NULL for none) and the wall clock
 * that times the records the log writes by itself (NULL: CLOCK_REALTIME).
 */
typedef struct az_audit_writer {
    const agentauthz_keys *keys;
    const char *engine;
    agentauthz_clock_fn wall;
    void *wall_ctx;
} az_audit_writer;

/*
 * Creates an audit log writing to the sinks in opt. A new log (no file, or
 * an empty one) starts with a signed start record that names the engine and
 * a fresh random log id. A non-empty file at opt->path is resumed: its last
 * line must be a version 2 record whose MAC verifies (else
 * AGENTAUTHZ_ETAMPER), seq, log id and chain continue from it, and a signed
 * resume record names the engine that continues it. A path that is a
 * symbolic link is refused (AGENTAUTHZ_EIO, "is a symbolic link"). The
 * caller frees with az_audit_free.
 */
int az_audit_new(az_audit **out, const agentauthz_audit_options *opt, const az_audit_writer *w,
                 agentauthz_error *err);

/*
 * Ends the log's use as the engine's current log: writes a checkpoint (when
 * records follow the last signed one) and flushes. The log stays usable.
 * Thread-safe.
 */
int az_audit_close(az_audit *a, agentauthz_error *err);

/*
 * Appends one record. Returns 0, AGENTAUTHZ_EIO when the file sink failed
 * (sticky until az_audit_reopen), AGENTAUTHZ_ENOMEM or AGENTAUTHZ_EINVAL. The
 * engine must deny the action it was recording when this fails. Thread-safe:
 * records from all threads get one total order.
 */
int az_audit_emit(az_audit *a, const az_audit_event *ev);

/* Writes the buffered records now (and fsyncs if asked). Thread-safe. */
int az_audit_flush(az_audit *a, agentauthz_error *err);

/*
 * Writes a checkpoint and what is buffered to the old file, closes it and
 * opens its path again (after a rotation by rename), clearing a sticky
 * write error. The chain and seq go on in the new file. Thread-safe,
 * but not async-signal-safe: a SIGHUP handler should set a flag that a
 * thread acts on.
 */
int az_audit_reopen(az_audit *a, agentauthz_error *err);

/* The number of the last record appended (0 before the first). Thread-safe. */
uint64_t az_audit_seq(az_audit *a);

/*
 * Writes a checkpoint (when records follow the last signed one), flushes
 * what is buffered and frees. NULL is a no-op. Not thread-safe.
 */
void az_audit_free(az_audit *a);

/* The name of an event kind as it appears in records ("check"). */
const char *az_audit_kind_name(az_audit_kind k);

/* ---- record framing, shared by the writer and the verifier ---- */

/*
 * A record line (newline excluded) split into the parts the chains need.
 * Version 2: '{"v":2,"seq":N,"log":"<32 hex>",' BODY [',"sig":"<128 hex>"']
 * ',"prev":"<64 hex>","mac":"<64 hex>"}'. signed_len counts the bytes before
 * ',"mac":'; sig_at is the offset of ',"sig":' (0 without a signature);
 * event/event_len the value of the body's "event" field (NULL if none).
 * Version 1 records ('{"v":1,...') have no log, sig or event.
 */
typedef struct az_audit_frame {
    unsigned version;
    uint64_t seq;
    unsigned char log[AZ_AUDIT_LOG_ID_BYTES];
    unsigned char prev[AZ_AUDIT_MAC_BYTES];
    unsigned char mac[AZ_AUDIT_MAC_BYTES];
    unsigned char sig[AZ_AUDIT_SIG_BYTES];
    size_t signed_len;
    size_t body_at; /* where the body starts */
    size_t sig_at;
    const char *event;
    size_t event_len;
} az_audit_frame;

/* Splits a line; 0, or -1 with a static reason in *why. */
int az_audit_frame_parse(const char *line, size_t len, az_audit_frame *f, const char **why);

/* Version 1: mac = BLAKE2b-256 keyed by key over prev || line[0..signed_len). */
int az_audit_mac_v1(const unsigned char key[32], const unsigned char prev[32], const char *line,
                    size_t signed_len, unsigned char mac[32]);

/*
 * Version 2: digest = BLAKE2b-256 (unkeyed) of line[0..signed_len), the link
 * the next record's prev holds; mac = BLAKE2b-256 keyed by key over digest.
 */
int az_audit_digest(const char *line, size_t signed_len, unsigned char digest[32]);
int az_audit_mac(const unsigned char key[32], const unsigned char digest[32],
                 unsigned char mac[32]);

/*
 * The 40-byte message a version 2 signature covers: "azaudit2" followed by
 * BLAKE2b-256 of line[0..signed_len) without its ',"sig":"..."' field.
 */
#define AZ_AUDIT_SIGMSG_BYTES 40u
int az_audit_sig_message(const char *line, const az_audit_frame *f,
                         unsigned char msg[AZ_AUDIT_SIGMSG_BYTES]);

/*
 * The JSON string value of field name ("key", "engine") in the body of a
 * signed record: *at and *len give its escaped text between the quotes.
 * 0, or -1 when the field is missing.
 */
int az_audit_body_string(const char *line, const az_audit_frame *f, const char *name,
                         size_t *at, size_t *len);

/* Appends s (len bytes) escaped as the writer escapes a string field, no quotes. */
int az_audit_escape(az_buf *b, const char *s, size_t len);

/*
 * What the verifier knows. mac_key NULL: public-key mode (pubkey required):
 * the hash chain and the signatures are checked, not the MACs. pubkey NULL:
 * signatures are checked with the key the log names at its start.
 */
typedef struct az_audit_verifier {
    const unsigned char *mac_key;
    const unsigned char *pubkey;
    const char *engine;
    uint64_t expect_last;
} az_audit_verifier;

/* The core of agentauthz_audit_verify_ext; res->version must be set. */
int az_audit_verify_with(const az_audit_verifier *v, const char *const *paths, size_t n,
                         agentauthz_audit_result *res, agentauthz_error *err);

/*
 * The core of agentauthz_audit_verify, with the audit key itself (so it can
 * be tested without an agentauthz_keys): MACs and signatures (with the key
 * the log names) are checked.
 */
int az_audit_verify_key(const unsigned char key[32], const char *const *paths, size_t n,
                        agentauthz_audit_report *rep, agentauthz_error *err);

#endif /* AZ_AUDIT_PRIVATE_H */

/*
 * libagentauthz: the tamper-evident audit log.
 *
 * Included from agentauthz.h, whose conventions apply: functions return 0
 * or a negative AGENTAUTHZ_E* code and fill the caller's agentauthz_error
 * when one is passed (NULL is allowed).
 *
 * The engine writes one JSON line per event (session open, close, revoke,
 * expiry, every check and approval, every secret lease and refusal, policy
 * reloads). Each line carries a keyed BLAKE2b MAC over itself and the MAC of
 * the line before, so deleting, reordering, duplicating or editing any line
 * is detected by agentauthz_audit_verify. The schema is described in
 * agentauthz_engine_set_audit(3). Argument values are logged as keyed digests, never
 * in clear unless the policy names them, and secret values never appear.
 */
#ifndef AGENTAUTHZ_AUDIT_H
#define AGENTAUTHZ_AUDIT_H

#ifndef AGENTAUTHZ_H
#error "include <agentauthz.h>, not <agentauthz/audit.h>"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* The engine's keys (see agentauthz.h); only its audit key is used here. */
struct agentauthz_keys;

/* When the file sink hands its buffered records to the kernel. */
typedef enum agentauthz_audit_flush {
    /* Buffered: written when 64 KiB are pending, at a reopen and at free. */
    AGENTAUTHZ_AUDIT_FLUSH_NONE = 0,
    /* One write() per record, before the check returns. */
    AGENTAUTHZ_AUDIT_FLUSH_RECORD = 1,
    /* One write() per flush_every records (and whenever 64 KiB are pending). */
    AGENTAUTHZ_AUDIT_FLUSH_EVERY_N = 2
} agentauthz_audit_flush;

/*
 * A record sink. line points to len bytes: one complete record followed by
 * its newline ('\n' is line[len - 1]); it is not NUL-terminated and is
 * borrowed for the duration of the call. Calls are made one at a time, in
 * the log's order, while the log's lock is held: the callback must be quick
 * (queue the line, do not wait on the network) and must not call back into
 * the engine, which would deadlock.
 *
 * Returns 0 when it took the record. Anything else is a failed write: the
 * action the record is about is denied ("the audit record could not be
 * written"), and the record is taken back from the chain unless the file
 * sink had already started to write it.
 */
typedef int (*agentauthz_audit_fn)(const char *line, size_t len, void *ctx);

/*
 * Where and how records are written. path and callback may both be set;
 * with neither, no audit log is kept. path is borrowed during the call
 * that takes the options (a copy is kept for reopening). The file is opened
 * O_WRONLY|O_APPEND|O_CREAT with mode 0600; an existing non-empty file is
 * resumed: its last record must verify, and the chain continues from it.
 */
typedef struct agentauthz_audit_options {
    unsigned version;             /* AGENTAUTHZ_AUDIT_OPTIONS_VERSION */
    const char *path;             /* an append-only file, or NULL */
    agentauthz_audit_flush flush; /* the file's flush policy */
    size_t flush_every;           /* records per write with _EVERY_N (>= 1) */
    int fsync;                    /* non-zero: fsync(2) after every write */
    agentauthz_audit_fn callback; /* called with every record, or NULL */
    void *ctx;                    /* passed to callback */
} agentauthz_audit_options;

#define AGENTAUTHZ_AUDIT_OPTIONS_VERSION 1
#define AGENTAUTHZ_AUDIT_OPTIONS_INIT                                                           \
    {                                                                                           \
        AGENTAUTHZ_AUDIT_OPTIONS_VERSION, NULL, AGENTAUTHZ_AUDIT_FLUSH_RECORD, 0, 0, NULL, NULL \
    }

/* What is wrong with the first bad record found by agentauthz_audit_verify. */
typedef enum agentauthz_audit_problem {
    AGENTAUTHZ_AUDIT_INTACT = 0,    /* nothing: every record verified */
    AGENTAUTHZ_AUDIT_MALFORMED = 1, /* not a record: bad shape, version or length */
    AGENTAUTHZ_AUDIT_TRUNCATED = 2, /* the file ends inside a line */
    AGENTAUTHZ_AUDIT_MAC = 3,       /* the record's MAC does not verify: edited */
    AGENTAUTHZ_AUDIT_SEQ = 4,       /* unexpected sequence number: a record or file
                                       deleted, reordered or duplicated */
    AGENTAUTHZ_AUDIT_PREV = 5       /* the record does not follow the one before */
} agentauthz_audit_problem;

#define AGENTAUTHZ_AUDIT_REASON_MAX 256

/*
 * The outcome of a verification. Caller-owned. records counts the records
 * that verified (all of them when intact); last_seq is the sequence number
 * of the last of those (0 if none). When a problem is found, file is its
 * index in the paths given, path its name and line its 1-based line number.
 */
typedef struct agentauthz_audit_report {
    agentauthz_audit_problem problem;
    uint64_t records;
    uint64_t last_seq;
    size_t file;
    char path[AGENTAUTHZ_ERROR_PATH_MAX];
    unsigned long line;
    char reason[AGENTAUTHZ_AUDIT_REASON_MAX];
} agentauthz_audit_report;

/*
 * Verifies the audit log in paths[0..n), the files of a rotated log from the
 * oldest to the newest, with the audit key in keys. The chain must start at
 * the first record of paths[0] (sequence number 1), run through every file in
 * order without a gap and end with a complete line. Files are streamed line
 * by line; a line may be at most 1 MiB. Returns 0 when intact,
 * AGENTAUTHZ_ETAMPER when a record is bad (rep and err say which and why),
 * AGENTAUTHZ_EIO when a file cannot be read, AGENTAUTHZ_EINVAL on misuse.
 * rep may be NULL. The last records of a log can be cut off without a trace
 * (nothing follows them); compare last_seq with what the host expects.
 * Thread-safe.
 */
AGENTAUTHZ_API AGENTAUTHZ_WUR int agentauthz_audit_verify(const struct agentauthz_keys *keys,
                                                          const char *const *paths, size_t n,
                                                          agentauthz_audit_report *rep,
                                                          agentauthz_error *err);

/* The name of a problem: "intact", "malformed", "truncated", ... (static). */
AGENTAUTHZ_API const char *agentauthz_audit_problem_name(agentauthz_audit_problem p);

#ifdef __cplusplus
}
#endif

#endif /* AGENTAUTHZ_AUDIT_H */

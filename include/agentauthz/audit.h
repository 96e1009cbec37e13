/*
 * libagentauthz: the tamper-evident audit log.
 *
 * Included from agentauthz.h, whose conventions apply: functions return 0
 * or a negative AGENTAUTHZ_E* code and fill the caller's agentauthz_error
 * when one is passed (NULL is allowed).
 *
 * The engine writes one JSON line per event (session open, close, revoke,
 * expiry, every check and approval, every secret lease and refusal, policy
 * reloads). A log starts with a record, signed with the engine's Ed25519
 * key, that names the engine and a random log id every record repeats. Each
 * line carries the BLAKE2b hash of the line before and a keyed BLAKE2b MAC,
 * so deleting, reordering, duplicating or editing any line is detected by
 * agentauthz_audit_verify; signed checkpoint records (every N records, at a
 * reopen and at close) let the holder of the public key alone check the log
 * up to its last checkpoint. The schema (version 2) is described in
 * agentauthz_engine_set_audit(3). Argument values are logged as keyed
 * digests, never in clear unless the policy names them, and secret values
 * never appear.
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
 * The log's own start (or resume) record is handed over during
 * agentauthz_engine_set_audit, which fails when it is refused.
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
 * O_WRONLY|O_APPEND|O_CREAT|O_NOFOLLOW|O_CLOEXEC with mode 0600: a symbolic
 * link at path is refused (AGENTAUTHZ_EIO). An existing non-empty file is
 * resumed: its last record must be a version 2 record that verifies, and
 * the chain continues from it after a signed resume record.
 *
 * Version 2 adds checkpoint_every: a signed checkpoint record follows every
 * checkpoint_every records (0: none but those at a reopen and at close).
 * Options of version 1 get the default, AGENTAUTHZ_AUDIT_CHECKPOINT_EVERY.
 */
typedef struct agentauthz_audit_options {
    unsigned version;             /* AGENTAUTHZ_AUDIT_OPTIONS_VERSION */
    const char *path;             /* an append-only file, or NULL */
    agentauthz_audit_flush flush; /* the file's flush policy */
    size_t flush_every;           /* records per write with _EVERY_N (>= 1) */
    int fsync;                    /* non-zero: fsync(2) after every write */
    agentauthz_audit_fn callback; /* called with every record, or NULL */
    void *ctx;                    /* passed to callback */
    size_t checkpoint_every;      /* version 2: records between checkpoints; 0: none */
} agentauthz_audit_options;

#define AGENTAUTHZ_AUDIT_CHECKPOINT_EVERY 1000
#define AGENTAUTHZ_AUDIT_OPTIONS_VERSION 2
#define AGENTAUTHZ_AUDIT_OPTIONS_INIT                                                           \
    {                                                                                           \
        AGENTAUTHZ_AUDIT_OPTIONS_VERSION, NULL, AGENTAUTHZ_AUDIT_FLUSH_RECORD, 0, 0, NULL, NULL, \
            AGENTAUTHZ_AUDIT_CHECKPOINT_EVERY                                                   \
    }

/* What is wrong with the first bad record found by agentauthz_audit_verify. */
typedef enum agentauthz_audit_problem {
    AGENTAUTHZ_AUDIT_INTACT = 0,    /* nothing: every record verified */
    AGENTAUTHZ_AUDIT_MALFORMED = 1, /* not a record: bad shape, version or length */
    AGENTAUTHZ_AUDIT_TRUNCATED = 2, /* the file ends inside a line */
    AGENTAUTHZ_AUDIT_MAC = 3,       /* the record's MAC does not verify: edited */
    AGENTAUTHZ_AUDIT_SEQ = 4,       /* unexpected sequence number: a record or file
                                       deleted, reordered or duplicated */
    AGENTAUTHZ_AUDIT_PREV = 5,      /* the record does not follow the one before */
    AGENTAUTHZ_AUDIT_EMPTY = 6,     /* a file holds no record: an empty log */
    AGENTAUTHZ_AUDIT_END = 7,       /* the log does not end at the expected record */
    AGENTAUTHZ_AUDIT_ENGINE = 8,    /* the log is another engine's (key or name) */
    AGENTAUTHZ_AUDIT_LOG_ID = 9,    /* a record of another log (logs spliced) */
    AGENTAUTHZ_AUDIT_SIGNATURE = 10, /* a start, resume or checkpoint signature fails */
    AGENTAUTHZ_AUDIT_UNSIGNED = 11  /* a version 1 log, where a signature is needed */
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
 * rep may be NULL. Every file must hold at least one record (else
 * AGENTAUTHZ_AUDIT_EMPTY), the first must be the log's start record, signed
 * by the public key of keys (else AGENTAUTHZ_AUDIT_ENGINE), and every
 * signature must verify. n == 0 is AGENTAUTHZ_EINVAL. The last records of a
 * log can be cut off without a trace (nothing follows them): pass the last
 * sequence number the host wrote to agentauthz_audit_verify_ext. A version 1
 * log (written by an earlier release) is checked by its MAC chain alone.
 * Thread-safe.
 */
AGENTAUTHZ_API AGENTAUTHZ_WUR int agentauthz_audit_verify(const struct agentauthz_keys *keys,
                                                          const char *const *paths, size_t n,
                                                          agentauthz_audit_report *rep,
                                                          agentauthz_error *err);

/*
 * What the verifier knows about the log. keys or pubkey (or both) must be
 * set. With keys, every record's MAC is checked with the audit key, and the
 * log must be the engine's whose public key keys hold (or pubkey, when set).
 * With pubkey alone (AGENTAUTHZ_PUBKEY_BYTES, borrowed), the hash chain and
 * the signatures are checked without the audit key: records up to the last
 * signed one are verified, later ones are reported as unsigned in
 * agentauthz_audit_result.signed_seq. engine: the name the log's start record
 * must carry (NULL: any). expect_last: the sequence number the log must end
 * at (0: any), which detects records cut off the end.
 */
typedef struct agentauthz_audit_verify_options {
    unsigned version;                   /* AGENTAUTHZ_AUDIT_VERIFY_OPTIONS_VERSION */
    const struct agentauthz_keys *keys; /* borrowed, or NULL */
    const unsigned char *pubkey;        /* 32 bytes, borrowed, or NULL */
    const char *engine;                 /* expected engine name, or NULL */
    uint64_t expect_last;               /* expected last sequence number, or 0 */
} agentauthz_audit_verify_options;

#define AGENTAUTHZ_AUDIT_VERIFY_OPTIONS_VERSION 1
#define AGENTAUTHZ_AUDIT_VERIFY_OPTIONS_INIT                                                    \
    {AGENTAUTHZ_AUDIT_VERIFY_OPTIONS_VERSION, NULL, NULL, NULL, 0}

#define AGENTAUTHZ_AUDIT_LOG_ID_TEXT 33 /* 32 hex digits and a NUL */

/*
 * The outcome of agentauthz_audit_verify_ext. Caller-owned; the caller sets
 * version (AGENTAUTHZ_AUDIT_RESULT_INIT) and the library fills the rest.
 * schema: 1 or 2 (0 when no record was read); log_id: the log's id (empty
 * for version 1); signed_seq: the last record a verified signature covers
 * (records after it, last_seq - signed_seq, are verified only by their MACs,
 * or not at all with pubkey alone); checkpoints: signed records seen.
 */
typedef struct agentauthz_audit_result {
    unsigned version; /* AGENTAUTHZ_AUDIT_RESULT_VERSION */
    agentauthz_audit_report report;
    unsigned schema;
    uint64_t signed_seq;
    uint64_t checkpoints;
    char log_id[AGENTAUTHZ_AUDIT_LOG_ID_TEXT];
} agentauthz_audit_result;

#define AGENTAUTHZ_AUDIT_RESULT_VERSION 1
#define AGENTAUTHZ_AUDIT_RESULT_INIT                                                            \
    {                                                                                           \
        AGENTAUTHZ_AUDIT_RESULT_VERSION, {AGENTAUTHZ_AUDIT_INTACT, 0, 0, 0, {0}, 0, {0}}, 0, 0, 0, \
            {0}                                                                                 \
    }

/*
 * agentauthz_audit_verify with what the verifier knows (opt, required).
 * Returns 0 when intact, AGENTAUTHZ_ETAMPER when the log is broken, not the
 * expected engine's or does not end where expected (res->report says which
 * and why), AGENTAUTHZ_EIO when a file cannot be read, AGENTAUTHZ_EINVAL on
 * misuse (no key at all, n == 0, a bad version). res may be NULL.
 * Thread-safe.
 */
AGENTAUTHZ_API AGENTAUTHZ_WUR int
agentauthz_audit_verify_ext(const agentauthz_audit_verify_options *opt, const char *const *paths,
                            size_t n, agentauthz_audit_result *res, agentauthz_error *err);

/* The name of a problem: "intact", "malformed", "truncated", ... (static). */
AGENTAUTHZ_API const char *agentauthz_audit_problem_name(agentauthz_audit_problem p);

#ifdef __cplusplus
}
#endif

#endif /* AGENTAUTHZ_AUDIT_H */

/*
 * Shared pieces of the agentauthz command. The command is built on the
 * public API only (agentauthz.h); nothing here reaches into lib/.
 */
#ifndef AZ_CLI_H
#define AZ_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <agentauthz.h>

#if defined(__GNUC__)
#define CLI_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define CLI_PRINTF(f, a)
#endif

/* Exit statuses, as cli.md defines them. */
#define CLI_OK 0    /* success                                      */
#define CLI_FAIL 1  /* a policy or test failure the command found   */
#define CLI_USAGE 2 /* bad usage or unreadable input                */

/* Returned by the option parser when --help was printed: exit 0. */
#define CLI_HELP_SHOWN (-1)

/* Input bounds of the command, matching the library's own. */
#define CLI_MAX_INPUT (16u * 1024u * 1024u) /* a file, a line, a JSON text */
#define CLI_MAX_DEPTH 64                    /* YAML nesting in test files  */
#define CLI_MAX_ITEMS 65536                 /* items of one list or map    */
#define CLI_MAX_NODES (1024u * 1024u)       /* YAML nodes of one test file */
#define CLI_MAX_LIST 1024                   /* repeated options, labels    */
#define CLI_MAX_PATHS 4096                  /* POLICY arguments            */

/* ---- subcommands (one file each) ---- */

int cli_cmd_lint(int argc, char **argv);
int cli_cmd_check(int argc, char **argv);
int cli_cmd_replay(int argc, char **argv);
int cli_cmd_test(int argc, char **argv);
int cli_cmd_audit(int argc, char **argv);
int cli_cmd_token(int argc, char **argv);
int cli_cmd_keygen(int argc, char **argv);
int cli_cmd_keys(int argc, char **argv);

/* ---- options (opts.c) ---- */

/*
 * One option of a subcommand. set() stores value (NULL for a flag) into
 * ctx and returns 0, or prints a usage error and returns CLI_USAGE.
 */
typedef struct cli_opt {
    const char *name; /* "--tool" */
    int takes_value;
    int (*set)(void *ctx, const char *value);
} cli_opt;

/*
 * What every subcommand shares: the positional arguments (policy paths
 * and, for replay and test, their input files), and for the subcommands
 * that run an engine (check, replay, test) the --keys and --audit options
 * and the keys loaded from --keys.
 */
typedef struct cli_common {
    const char **args; /* borrowed from argv; the array is owned */
    size_t nargs;
    int engine_opts;        /* set before parsing: accept --keys and --audit */
    const char *keys_path;  /* --keys FILE, borrowed from argv, or NULL */
    const char *audit_path; /* --audit FILE, borrowed from argv, or NULL */
    agentauthz_keys *keys;  /* loaded by cli_engine_load; owned, outlives the engine */
} cli_common;

/* A cli_common for a subcommand that runs an engine (1) or not (0). */
#define CLI_COMMON_INIT(engine_opts)             \
    {                                            \
        NULL, 0, (engine_opts), NULL, NULL, NULL \
    }

/*
 * Parses argv[1..] (argv[0] is the subcommand name) against opts and the
 * options every subcommand shares (--help, and --keys and --audit when
 * common->engine_opts is set; --audit without --keys is a usage error). "--opt value" and
 * "--opt=value" are both accepted, and "--" ends the options. Positional
 * arguments go to common->args, which the caller frees with
 * cli_common_free. Returns 0, CLI_HELP_SHOWN after printing help, or
 * CLI_USAGE after printing a usage error.
 */
int cli_parse_options(int argc, char **argv, const cli_opt *opts, size_t nopts, void *ctx,
                      cli_common *common, void (*help)(FILE *out));
/* Frees the argument array and the keys; the engine must be freed first. */
void cli_common_free(cli_common *common);

/*
 * Runs "COMMAND VERB ARGS..." for a command with a single verb (audit
 * verify, token verify): argv[0] is COMMAND; run gets argv from VERB on.
 * "COMMAND --help" prints help. Returns run's status or CLI_USAGE.
 */
int cli_run_verb(int argc, char **argv, const char *verb, int (*run)(int argc, char **argv),
                 void (*help)(FILE *out));

/* Prints "agentauthz: MESSAGE" and a hint to stderr; returns CLI_USAGE. */
int cli_usage(const char *fmt, ...) CLI_PRINTF(1, 2);

/* Prints "agentauthz: MESSAGE" to stderr; returns CLI_USAGE. */
int cli_fatal(const char *fmt, ...) CLI_PRINTF(1, 2);

/*
 * Reads an engine's public key given as its text (azpk1....) or as a file
 * holding it; errors are printed as "VERB: --pubkey ...". CLI_OK or the
 * exit status.
 */
int cli_load_pubkey(const char *verb, const char *key, unsigned char pk[AGENTAUTHZ_PUBKEY_BYTES]);

/* Appends a borrowed string to a bounded array of strings. 0 or CLI_USAGE. */
int cli_strv_push(const char ***v, size_t *n, const char *s, const char *what);

/* Help texts, also printed by "agentauthz --help". */
void cli_help_main(FILE *out);
void cli_help_lint(FILE *out);
void cli_help_check(FILE *out);
void cli_help_replay(FILE *out);
void cli_help_test(FILE *out);
void cli_help_audit(FILE *out);
void cli_help_token(FILE *out);
void cli_help_keygen(FILE *out);
void cli_help_keys(FILE *out);
/* The paragraph on --keys and --audit that check, replay and test share. */
void cli_help_engine_opts(FILE *out);

/* ---- policy loading and output (util.c) ---- */

/* Counts what loading reported, for the exit status. */
typedef struct cli_diag_count {
    size_t errors;
    size_t warnings;
} cli_diag_count;

/*
 * Creates an engine (clock may be NULL for the monotonic clock) with the
 * keys of common->keys_path (loaded into common->keys; fresh keys without
 * it), starts its audit log at common->audit_path if set, and loads paths
 * into it as one policy, printing every error and warning as
 * FILE:LINE:COL: error|warning: MESSAGE. The audit log starts before the
 * load so that the reload record is its first. On failure *code holds the
 * library's error code and the engine is freed. Returns 0 or -1.
 */
int cli_engine_load(agentauthz_engine **out, cli_common *common, const char *const *paths,
                    size_t npaths, agentauthz_clock_fn clock, void *clock_ctx,
                    cli_diag_count *count, int *code);

/*
 * Loads a key file, printing why it cannot be used (too open permissions,
 * unreadable, malformed). Returns 0, or -1 with the library's code in *code.
 */
int cli_keys_load(const char *path, agentauthz_keys **out, int *code);

/* Parses a decimal integer in [0, max] (digits only). Returns 0 or -1. */
int cli_parse_uint(const char *s, uint64_t max, uint64_t *out);

/* Prints one diagnostic in the FILE:LINE:COL: KIND: MESSAGE form. */
void cli_print_diag(FILE *out, const agentauthz_error *e, const char *kind);

/*
 * Writes s[0..len) as a JSON string literal, quotes included. Invalid
 * UTF-8 bytes become U+FFFD so that the output is always valid JSON.
 */
void cli_json_string(FILE *out, const char *s, size_t len);

/* True, with the byte offset, when s[0..len) is not valid UTF-8. */
int cli_find_bad_utf8(const char *s, size_t len, size_t *offset);

/* Writes "decision":"..","rule":"..","reason":".." (no braces). */
void cli_json_decision(FILE *out, const agentauthz_decision *d);

/* A decision made by the command itself: a deny with rule "session". */
void cli_session_deny(agentauthz_decision *d, const char *reason);

/* True when the session open failed for a reason the policy gave. */
int cli_open_refused(int code);

/*
 * Parses a duration ("90s", "15m", "2h", "1d", or plain seconds) into
 * nanoseconds. Returns 0, or -1 when malformed or out of range.
 */
int cli_parse_duration(const char *s, size_t len, uint64_t *ns);

/* Converts finite non-negative seconds to nanoseconds; -1 if out of range. */
int cli_seconds_to_ns(double seconds, uint64_t *ns);

/*
 * Reads a whole file (or stdin for "-") of at most CLI_MAX_INPUT bytes into
 * a new NUL-terminated buffer the caller frees. Returns 0, or -1 with errno
 * set (EFBIG when too large).
 */
int cli_read_file(const char *path, char **out, size_t *len);

/* Clock for replay and test: *(uint64_t *)ctx nanoseconds. */
uint64_t cli_manual_clock(void *ctx);

/* Adds nanoseconds to a manual clock; -1 when it would overflow. */
int cli_clock_advance(uint64_t *clock, uint64_t ns);

#endif /* AZ_CLI_H */

/*
 * Private interfaces shared by the files of lib/. Nothing here is exported.
 * Every name is prefixed az_.
 */
#ifndef AZ_INTERNAL_H
#define AZ_INTERNAL_H

#include <regex.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agentauthz.h"

#define AZ_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define AZ_UNUSED(x) ((void)(x))

/* Input bounds (documented in agentauthz-policy(5) and libagentauthz(3)). */
#define AZ_MAX_INPUT (16u * 1024u * 1024u) /* a policy file or JSON text */
#define AZ_MAX_DEPTH 64                    /* nesting of YAML and JSON   */
#define AZ_MAX_ITEMS 65536                 /* items of one list or map   */
#define AZ_MAX_NODES (1024u * 1024u)       /* nodes of one document      */
#define AZ_MAX_SCALAR (64u * 1024u)        /* one YAML scalar            */
#define AZ_MAX_NAME 128                    /* ids, roles, tasks, labels  */
#define AZ_MAX_PATTERN 1024                /* one glob                   */
#define AZ_MAX_REGEX 256                   /* one regex                  */
#define AZ_MAX_LABELS 1024                 /* labels of a session/action */
#define AZ_MAX_PATH 4096                   /* a path once normalised     */
#define AZ_MAX_ARG_VALUES 1024             /* catalogued resource or destination values of a check */
#define AZ_MAX_DERIVED 1024                /* items of links()/hosts()/emails() of one field */
#define AZ_MAX_SPIFFE_ID 2048              /* an identity "spiffe://..." */

/* 2^53: below it every integral double is exact and prints as an integer. */
#define AZ_EXACT_INT_LIMIT 9007199254740992.0

/*
 * Bounds of a session's observed output (agentauthz-policy(5), limits:
 * observe_min_len, observed_values, observed_bytes): defaults and ranges.
 */
#define AZ_OBSERVE_MIN_LEN 8
#define AZ_OBSERVE_MIN_LEN_LO 4
#define AZ_OBSERVE_MIN_LEN_HI 1024
#define AZ_OBSERVED_VALUES 65536
#define AZ_OBSERVED_VALUES_HI (1024u * 1024u)
#define AZ_OBSERVED_BYTES (8u * 1024u * 1024u)
#define AZ_OBSERVED_BYTES_HI (256u * 1024u * 1024u)

typedef struct az_obs_limits {
    uint32_t min_len; /* shortest value indexed */
    uint32_t values;  /* items indexed at once */
    uint64_t bytes;   /* bytes of output kept at once */
} az_obs_limits;

/* ---- errors and diagnostics (error.c) ---- */

/* Fills err (if not NULL) and returns code. */
int az_error_set(agentauthz_error *err, int code, const char *path, unsigned long line,
                 unsigned long column, size_t offset, const char *fmt, ...) AZ_PRINTF(7, 8);

typedef struct az_mark {
    unsigned long line;   /* 1-based */
    unsigned long column; /* 1-based */
    size_t offset;
} az_mark;

/*
 * Collects the findings of one load: every error and warning goes to the
 * caller's callback; the first error is kept in *first.
 */
typedef struct az_diag {
    agentauthz_diag_fn fn;
    void *ctx;
    agentauthz_error *first; /* may be NULL */
    const char *path;        /* the file being read */
    size_t errors;
    size_t warnings;
} az_diag;

void az_diag_error(az_diag *d, const az_mark *m, int code, const char *fmt, ...) AZ_PRINTF(4, 5);
void az_diag_warn(az_diag *d, const az_mark *m, const char *fmt, ...) AZ_PRINTF(3, 4);

/* ---- growable buffer with a hard cap (buf.c) ---- */

typedef struct az_buf {
    char *p;    /* always NUL-terminated when not NULL */
    size_t len;
    size_t cap;
    size_t max; /* hard cap on len; 0 means AZ_MAX_INPUT */
} az_buf;

int az_buf_append(az_buf *b, const void *data, size_t len); /* 0 or ENOMEM/ELIMIT */
int az_buf_putc(az_buf *b, char c);
int az_buf_printf(az_buf *b, const char *fmt, ...) AZ_PRINTF(2, 3);
void az_buf_free(az_buf *b);
/* Appends s as a JSON string literal, quotes included. */
int az_buf_json_string(az_buf *b, const char *s, size_t len);

/* ---- arenas (arena.c) ---- */

/* The default hard cap of an arena: room for the largest JSON text's values. */
#define AZ_MAX_ARENA (256u * 1024u * 1024u)

typedef struct az_chunk az_chunk;

/*
 * Memory kept across resets and handed out by bumping a pointer; nothing is
 * freed before the reset. Zero-initialised it is empty and ready.
 */
typedef struct az_arena {
    az_chunk *head; /* every chunk, in the order they are filled */
    az_chunk *cur;  /* the chunk being filled; NULL when nothing was handed out */
    size_t total;   /* bytes in all chunks */
    size_t max;     /* hard cap on total; 0 means AZ_MAX_ARENA */
    int err;        /* why the last allocation failed: ENOMEM or ELIMIT */
} az_arena;

/* n bytes aligned for any type, or NULL (az_arena_error says why). */
void *az_arena_alloc(az_arena *ar, size_t n);
/* A NUL-terminated copy of the len bytes at s. */
void *az_arena_dup(az_arena *ar, const void *s, size_t len);
/* Wipes what was handed out and keeps the chunks for reuse. */
void az_arena_reset(az_arena *ar);
/* Wipes and frees everything; the arena is empty and usable again. */
void az_arena_free(az_arena *ar);
/* The code of the last failed allocation (ENOMEM when unknown). */
int az_arena_error(const az_arena *ar);

/* ---- values (value.c) and JSON (json.c) ---- */

typedef struct az_kv {
    char *key;
    size_t klen;
    struct agentauthz_value *val;
} az_kv;

struct agentauthz_value {
    agentauthz_type type;
    union {
        bool b;
        double num;
        struct {
            char *p; /* NUL-terminated; may hold NULs inside */
            size_t len;
        } str;
        struct {
            struct agentauthz_value **items;
            size_t n, cap;
        } list;
        struct {
            az_kv *items;
            size_t n, cap;
        } map;
    } u;
};

/* A string value that borrows s: never freed, used for views on the stack. */
static inline agentauthz_value az_value_view_string(const char *s, size_t len)
{
    agentauthz_value v;
    v.type = AGENTAUTHZ_STRING;
    v.u.str.p = (char *)s;
    v.u.str.len = len;
    return v;
}

static inline agentauthz_value az_value_view_number(double n)
{
    agentauthz_value v;
    v.type = AGENTAUTHZ_NUMBER;
    v.u.num = n;
    return v;
}

static inline agentauthz_value az_value_view_bool(bool b)
{
    agentauthz_value v;
    v.type = AGENTAUTHZ_BOOL;
    v.u.b = b;
    return v;
}

/* The value under key (klen bytes) in map, or NULL (also when not a map). */
const agentauthz_value *az_value_map_getn(const agentauthz_value *map, const char *key,
                                          size_t klen);
/* JSON equality: maps ignore key order, numbers compare numerically. */
bool az_value_equal(const agentauthz_value *a, const agentauthz_value *b);
/*
 * Feeds a canonical encoding of v (maps sorted by key, numbers as IEEE
 * doubles) to a BLAKE2b state, so equal values hash equally. ENOMEM possible
 * for maps (sorting needs a scratch array).
 */
struct crypto_generichash_blake2b_state;
int az_value_hash(const agentauthz_value *v, struct crypto_generichash_blake2b_state *st);
/* Appends v as compact JSON. */
int az_value_write_json(az_buf *b, const agentauthz_value *v);
/*
 * A finite number as JSON writes it ("1500", "0.5", "1e+300"), into buf
 * (at least 32 bytes, NUL-terminated); its length, or 0 for NaN/infinity.
 */
size_t az_number_text(double d, char *buf, size_t cap);

/*
 * Values in an arena (value.c): the same trees, with every node, string and
 * array in ar, never freed one by one. NULL or an error code from
 * az_arena_error on failure (number_in: NULL also for NaN or infinities).
 */
agentauthz_value *az_value_new_in(az_arena *ar, agentauthz_type type);
agentauthz_value *az_value_stringn_in(az_arena *ar, const char *s, size_t len);
agentauthz_value *az_value_number_in(az_arena *ar, double n);
agentauthz_value *az_value_bool_in(az_arena *ar, bool b);
int az_value_list_push_in(az_arena *ar, agentauthz_value *list, agentauthz_value *item);
/* Sets key (copied) to item, replacing an earlier value in place. */
int az_value_map_put_in(az_arena *ar, agentauthz_value *map, const char *key, size_t klen,
                        agentauthz_value *item);
/* Appends key (already in ar) and item without looking for the key. */
int az_value_map_append_in(az_arena *ar, agentauthz_value *map, char *key, size_t klen,
                           agentauthz_value *item);
/* A deep copy in ar of v (at most AZ_MAX_DEPTH deep). */
agentauthz_value *az_value_copy_in(az_arena *ar, const agentauthz_value *v);

/*
 * Parses JSON text strictly. On error returns AGENTAUTHZ_EJSON (or
 * ELIMIT/ENOMEM) and fills err with line, column, offset and a message that
 * says what was expected. path labels the error (may be NULL).
 */
int az_json_parse(const char *text, size_t len, const char *path, agentauthz_value **out,
                  agentauthz_error *err);

/* What a caller that parses often keeps between parses, so that a parse does not allocate. */
typedef struct az_json_reuse {
    az_buf str; /* the string scratch (wiped after each parse) */
    void *cloc; /* the "C" locale_t for strtod_l, or NULL */
} az_json_reuse;

/*
 * As az_json_parse, with the values in the arena ar and the scratch in
 * reuse. On failure *out is NULL and what was built is left to the arena's
 * reset.
 */
int az_json_parse_in(az_arena *ar, az_json_reuse *reuse, const char *text, size_t len,
                     agentauthz_value **out, agentauthz_error *err);
void az_json_reuse_free(az_json_reuse *reuse);

/* Validates UTF-8; returns the offset of the first bad byte or len if valid. */
size_t az_utf8_check(const char *s, size_t len);

/* ---- YAML documents (load.c) ---- */

typedef enum az_node_type { AZ_NODE_SCALAR, AZ_NODE_SEQ, AZ_NODE_MAP } az_node_type;

/* How a scalar resolves under the YAML 1.2 core schema (quoted: string). */
typedef enum az_scalar_kind {
    AZ_SCALAR_STRING,
    AZ_SCALAR_INT,
    AZ_SCALAR_FLOAT,
    AZ_SCALAR_BOOL,
    AZ_SCALAR_NULL
} az_scalar_kind;

typedef struct az_node {
    az_node_type type;
    az_mark mark;
    /* scalars */
    az_scalar_kind kind;
    char *str; /* the scalar's text, NUL-terminated */
    size_t len;
    double num; /* INT and FLOAT */
    bool b;     /* BOOL */
    /* sequences: items[0..n); maps: items[2i] key, items[2i+1] value */
    struct az_node **items;
    size_t n;
} az_node;

/*
 * Parses one YAML file's text into a tree. Refuses (reporting through d,
 * each with its line and column): syntax errors, NUL bytes, invalid UTF-8,
 * tags, directives, anchors, aliases, more than one document, duplicate map
 * keys, non-scalar map keys, nesting deeper than AZ_MAX_DEPTH, more than
 * AZ_MAX_NODES nodes, scalars over AZ_MAX_SCALAR, texts over AZ_MAX_INPUT.
 * An empty document gives *out == NULL and an error. Returns 0 or the code of
 * the first error. The caller frees the tree with az_node_free.
 */
int az_yaml_parse(const char *text, size_t len, az_diag *d, az_node **out);
void az_node_free(az_node *n);

/* ---- matching (match.c) ---- */

typedef enum az_glob_mode {
    AZ_GLOB_PATH = 0, /* '/' separates segments */
    AZ_GLOB_TOOL = 1  /* '.' separates segments; exactly "*" matches all */
} az_glob_mode;

typedef struct az_glob {
    char *pat; /* owned copy */
    size_t len;
    uint8_t mode;
    bool icase;
    uint8_t shape; /* private: which matcher runs (match.c's glob_shape) */
    uint8_t skip;  /* private: bytes of a leading "**" + separator the fast path drops */
    size_t fixed;  /* private: length of the literal prefix */
    size_t suffix; /* private: length of the literal suffix */
    void *prog;    /* private: the compiled states of a general glob, or NULL */
    size_t nstates; /* private: how many states prog holds */
} az_glob;

/*
 * Validates and prepares a glob. A bad pattern returns -1 (AGENTAUTHZ_EINVAL)
 * with msg (msgcap bytes) saying why; AGENTAUTHZ_ENOMEM when out of memory.
 */
int az_glob_compile(az_glob *g, const char *pat, size_t len, az_glob_mode mode, bool icase,
                    char *msg, size_t msgcap);
bool az_glob_match(const az_glob *g, const char *s, size_t len);
/* Whether any of the n globs matches s. */
bool az_globs_match(const az_glob *g, size_t n, const char *s, size_t len);
void az_glob_free(az_glob *g);
/*
 * Matches an uncompiled pattern (a task parameter used as a glob). Returns
 * 1 match, 0 no match, -1 invalid pattern. No heap allocation.
 */
int az_glob_match_raw(const char *pat, size_t plen, const char *s, size_t slen,
                      az_glob_mode mode, bool icase);
/*
 * The same answer by the reference NFA (time: len x states), which the
 * matchers above are tested against. Not for checks.
 */
int az_glob_match_nfa(const char *pat, size_t plen, const char *s, size_t slen,
                      az_glob_mode mode, bool icase);

/*
 * Whether the host in value (a host, host:port, URL with or without scheme,
 * or email address) equals domain or is a subdomain of it, ASCII
 * case-insensitively: 1 or 0. A value with no parseable host never matches.
 * -1 for a host that URL parsers read as an IPv4 address in a legacy form
 * ("2852039166", "0xa9fea9fe", "169.254.43518"): the caller must deny, as
 * for cidr, since no answer would be right for every reader.
 */
int az_domain_match(const char *value, size_t vlen, const char *domain, size_t dlen);
/* Whether domain is a syntactically valid host name (for policy checks). */
bool az_domain_valid(const char *domain, size_t len);

/*
 * A domain operand validated once, at compile time, so that a check only
 * parses the value's host. name points into the caller's string, which must
 * outlive the struct.
 */
typedef struct az_domain {
    const char *name; /* without its trailing dot */
    size_t len;
    int family; /* 4 or 6 for an IP literal (v4-mapped v6 as 4), else 0 */
    uint8_t ip[16];
} az_domain;

/* 0, or -1 when domain is not a valid host name or IP literal. */
int az_domain_prepare(az_domain *d, const char *domain, size_t len);
/* az_domain_match against a prepared domain. */
int az_domain_match_prepared(const az_domain *d, const char *value, size_t vlen);

typedef struct az_cidr {
    uint8_t family; /* 4 or 6 */
    uint8_t prefix;
    uint8_t addr[16];
} az_cidr;

/*
 * Parses "10.0.0.0/8", "2001:db8::/32" or a bare address (full-length
 * prefix); 0 or AGENTAUTHZ_EINVAL.
 */
int az_cidr_parse(az_cidr *c, const char *s, size_t len);
/* Whether the address text (v4, v6, or v4-mapped v6) lies inside c. */
bool az_cidr_contains(const az_cidr *c, const char *ip, size_t len);
/*
 * cidr on a value: the address, or the host of a URL, host:port, [IPv6]:port
 * or e-mail address, lies inside c (1) or not (0: outside, or a DNS name).
 * -1 when the value has no host, or one that is not exactly an address or a
 * DNS name (a legacy numeric form such as "2852039166", a zone id, a
 * malformed URL): the caller must deny.
 */
int az_cidr_match(const az_cidr *c, const char *value, size_t len);

typedef struct az_regex {
    regex_t re;
    bool compiled;
} az_regex;

/* Compiles a POSIX ERE anchored at both ends; patterns over AZ_MAX_REGEX refused. */
int az_regex_compile(az_regex *r, const char *pat, size_t len, bool icase, char *msg,
                     size_t msgcap);
bool az_regex_match(const az_regex *r, const char *s, size_t len);
void az_regex_free(az_regex *r);

/* ASCII helpers. */
bool az_mem_eq(const char *a, size_t alen, const char *b, size_t blen, bool icase);
bool az_has_prefix(const char *s, size_t len, const char *p, size_t plen, bool icase);
bool az_has_suffix(const char *s, size_t len, const char *p, size_t plen, bool icase);
/*
 * Whether s holds base64url digits only. libsodium 1.0.18 decodes a byte
 * from 0x80 up as if it were '_', so a decoder that trusts it alone would
 * read one key or token from many texts.
 */
bool az_b64url_only(const char *s, size_t n);

/* ---- durations and names (match.c) ---- */

/* "90s", "15m", "2h", "1d" or plain seconds; 0 on success. */
int az_parse_duration(const char *s, size_t len, uint64_t *seconds);
/* [A-Za-z0-9_.:-]{1,128} */
bool az_name_valid(const char *s, size_t len);

/* ---- input refused or normalised before the rules (input.c) ---- */

/*
 * Normalises a path-like resource (a URL "scheme://...", or a value with a
 * '/' or '\' in it; anything else is left as it is): "." segments, empty
 * segments and a trailing '/' are dropped and ".." pops a segment, within
 * the path (a URL's path, up to its query or fragment). *out is s itself
 * when nothing changes, else buf (cap bytes, not NUL-terminated). Returns
 * NULL, or why the value is refused (a static string): ".." above the
 * path's start, a NUL or a backslash in the path, "%5C" or "%00" in a URL's
 * path, or a result over cap bytes. No heap allocation.
 */
const char *az_path_normalize_resource(const char *s, size_t len, char *buf, size_t cap,
                                       const char **out, size_t *outlen);
/* The same for an argument the catalogue marks as a path: every string is path-like. */
const char *az_path_normalize_arg(const char *s, size_t len, char *buf, size_t cap,
                                  const char **out, size_t *outlen);
/*
 * 0 when id does not start with "spiffe://" (in any case) or is a valid
 * SPIFFE ID; else -1 with why (cap bytes) saying what is wrong.
 */
int az_spiffe_check(const char *id, char *why, size_t cap);

/* ---- the compiled policy (compile.c) ---- */

/* Where a condition looks (policy.md, "What a condition can look at"). */
typedef enum az_field {
    AZ_F_IDENTITY,
    AZ_F_ROLES,
    AZ_F_TASK,
    AZ_F_TOOL,
    AZ_F_RESOURCE,
    AZ_F_DESTINATION,
    AZ_F_ARGS,
    AZ_F_LABELS,
    AZ_F_SESSION_LABELS,
    AZ_F_SESSION_CALLS,
    AZ_F_SESSION_AGE,
    AZ_F_SESSION_PARAM,
    AZ_F_TOOL_SINK,
    AZ_F_TOOL_PRODUCES,
    AZ_F_PAYLOAD /* only inside links(), hosts() and emails() */
} az_field;

/* The scalar operators come first, AZ_OP_EQ to AZ_OP_GTE: see az_op_is_scalar. */
typedef enum az_op {
    AZ_OP_EQ,
    AZ_OP_NE,
    AZ_OP_IN,
    AZ_OP_NOT_IN,
    AZ_OP_GLOB,
    AZ_OP_PREFIX,
    AZ_OP_SUFFIX,
    AZ_OP_DOMAIN,
    AZ_OP_CIDR,
    AZ_OP_REGEX,
    AZ_OP_LT,
    AZ_OP_LTE,
    AZ_OP_GT,
    AZ_OP_GTE,
    AZ_OP_HAS,
    AZ_OP_EACH,
    AZ_OP_SOME,
    AZ_OP_EXISTS,
    AZ_OP_TYPE,
    AZ_OP_LEN_LTE,
    AZ_OP_NOT,
    AZ_OP_ANY,
    AZ_OP_ALL,
    AZ_OP_FROM,    /* observed under a label (provenance.h) */
    AZ_OP_NOT_FROM
} az_op;

/* An operator that compares one scalar with its operands (eq ... gte). */
static inline bool az_op_is_scalar(az_op op)
{
    return op <= AZ_OP_GTE;
}

/*
 * One operand of a predicate: a literal scalar, prepared for the operator
 * (a compiled glob, CIDR or regex), or a reference to a session parameter
 * that is resolved at check time.
 */
typedef struct az_item {
    agentauthz_value *lit; /* NULL for a parameter reference */
    char *param;           /* parameter name, or NULL */
    az_glob glob;          /* AZ_OP_GLOB literals */
    az_cidr cidr;          /* AZ_OP_CIDR literals */
    az_domain domain;      /* AZ_OP_DOMAIN literals */
    az_regex regex;        /* AZ_OP_REGEX literals */
    uint8_t glob_mode;     /* az_glob_mode of a glob parameter ('.' on the tool field) */
} az_item;

typedef struct az_pred {
    az_op op;
    bool icase;
    bool flag;      /* exists */
    unsigned types; /* type: a mask of 1 << agentauthz_type */
    double limit;   /* len_lte */
    az_item *items;
    size_t nitems;
    bool has_param; /* some item names a session parameter (else all are literals) */
    struct az_pred *kids; /* not (1), any/all (n), each/some (1), several ops (all) */
    size_t nkids;
} az_pred;

typedef struct az_cond {
    az_field field;
    /*
     * 0, or the az_extract_kind (extract.h) of a derived field: links(F),
     * hosts(F) or emails(F), the list of what the scanner finds in F.
     */
    unsigned derive;
    char **path; /* args.<path> segments, or the parameter name */
    size_t *plen;
    size_t npath;
    az_pred pred;
} az_cond;

typedef struct az_where {
    az_cond *conds;
    size_t nconds;
    struct az_where *any; /* any: [ {where}... ] */
    size_t nany;
    struct az_where *not_; /* not: {where} */
} az_where;

typedef struct az_rule {
    char *id;
    agentauthz_effect effect;
    char *reason;
    uint32_t *tasks; /* task indices; none: every task */
    size_t ntasks;
    uint32_t *roles; /* role indices; none: every identity */
    size_t nroles;
    az_glob *tools;
    size_t ntools;
    az_where where;
    bool has_where;
    az_mark mark; /* where the rule starts, for lint warnings */
    size_t file;  /* index into az_policy.files */
} az_rule;

/*
 * What a check reads of a candidate rule before its conditions, kept beside
 * the other candidates of the same tool (az_policy_build_index): skipping a
 * rule out of scope, or one whose effect is already decided, touches no
 * az_rule, and a tool's candidates share a few adjacent cache lines.
 */
enum {
    AZ_CAND_ANY_TASK = 1,  /* the rule names no task */
    AZ_CAND_ANY_ROLE = 2,  /* the rule names no role */
    AZ_CAND_TASK_MASK = 4, /* task_mask holds the rule's tasks (policy has <= 64) */
    AZ_CAND_ROLE_MASK = 8, /* role_mask holds the rule's roles (policy has <= 64) */
    AZ_CAND_WHERE = 16,    /* the rule has conditions */
    AZ_CAND_CONDS = 32     /* ... and they are all in conds (no any, no not) */
};

/* 32 bytes: two candidates to a cache line. */
typedef struct az_cand {
    uint64_t task_mask;   /* bit t: task t is in scope */
    uint64_t role_mask;   /* bit r: role r is in scope */
    const az_cond *conds; /* with AZ_CAND_CONDS: the rule's where.conds (the rule owns them) */
    uint32_t rule;        /* index into az_policy.rules */
    uint16_t nconds;
    uint8_t effect;       /* agentauthz_effect */
    uint8_t flags;        /* AZ_CAND_* */
} az_cand;

/*
 * A parameter whose value must be checked when a session opens, as the
 * literal in its place is at load: a glob, CIDR or domain operand must parse,
 * a list standing for strings must hold only strings, a len_lte bound must
 * be a count. Kept per policy so that an open looks at these uses only.
 */
typedef struct az_param_use {
    uint32_t rule;     /* index into az_policy.rules */
    az_op op;
    const char *param; /* the item's name (the rule owns it) */
    az_mark mark;      /* where {param: NAME} is written */
} az_param_use;

typedef struct az_param_decl {
    char *name;
    agentauthz_type type; /* STRING, NUMBER, BOOL or LIST */
    bool optional;        /* may be absent (or null) at open: then no predicate over it holds */
} az_param_decl;

typedef struct az_tool_limit {
    char *tool;
    uint64_t limit;
} az_tool_limit;

typedef struct az_task {
    char *name;
    uint32_t *roles;
    size_t nroles;
    uint64_t max_ttl_s; /* 0: none */
    uint32_t *secrets;
    size_t nsecrets;
    bool has_calls;
    uint64_t calls;
    az_tool_limit *per_tool;
    size_t nper_tool;
    int on_deny;   /* -1: the default's, 0 continue, 1 revoke */
    bool ask_otherwise;
    az_param_decl *params;
    size_t nparams;
    az_obs_limits observe; /* the defaults' unless the task's limits say otherwise */
    uint32_t *token_params; /* token_params: indexes into params, shared in task tokens */
    size_t ntoken_params;
} az_task;

typedef enum az_provider {
    AZ_PROVIDER_RANDOM,
    AZ_PROVIDER_DERIVED,
    AZ_PROVIDER_TOKEN,
    AZ_PROVIDER_HOST
} az_provider;

typedef struct az_secret_decl {
    char *name;
    az_provider provider;
    size_t bytes;
    uint64_t ttl_s; /* 0: the session's */
    az_glob *tools;
    size_t ntools;
    char *audience;
} az_secret_decl;

typedef struct az_identity {
    az_glob match;
    uint32_t *roles;
    size_t nroles;
} az_identity;

typedef struct az_tool_entry {
    char *name;
    bool sink;
    agentauthz_value *produces; /* a list of label strings */
    agentauthz_value *output;   /* labels of what it returns (observe), a list or NULL */
    char **paths; /* arguments that hold paths, dotted as in args.<path> */
    size_t npaths;
    char **resources; /* arguments that name resources (also in paths) */
    size_t nresources;
    char **dests; /* arguments that name destinations */
    size_t ndests;
} az_tool_entry;

/* Candidate rules for one tool name, in file order. */
typedef struct az_tool_index {
    char *name;
    size_t len;
    uint64_t hash;
    uint32_t *rules;
    size_t nrules;
    az_cand *cands; /* rules[i] prepared for a check; nrules of them */
    const az_tool_entry *entry; /* catalogue entry, or NULL */
} az_tool_index;

typedef struct az_policy {
    _Atomic size_t refs;
    char **files; /* the paths the policy was loaded from */
    size_t nfiles;
    char *name;
    char hash[65];
    uint64_t session_ttl_s;
    uint64_t max_session_ttl_s; /* 0: none */
    bool revoke_on_deny;
    bool deny_uncatalogued; /* defaults.uncatalogued_tools: deny */
    az_obs_limits observe; /* defaults: limits */
    bool has_identities;
    az_identity *identities;
    size_t nidentities;
    char **roles; /* every role name, indexed */
    size_t nroles;
    az_tool_entry *tools;
    size_t ntools;
    az_secret_decl *secrets;
    size_t nsecrets;
    az_task *tasks;
    size_t ntasks;
    az_rule *rules;
    size_t nrules;
    /* The index: open addressing over tool names. */
    az_tool_index *index;
    size_t index_cap; /* a power of two */
    uint32_t *glob_rules; /* rules with a non-literal tool pattern */
    size_t nglob_rules;
    az_cand *glob_cands; /* glob_rules prepared for a check */
    char **clear_args; /* audit: argument names logged in clear */
    size_t nclear;
    az_param_use *param_uses; /* parameters validated at session open */
    size_t nparam_uses;
} az_policy;

/* One file of a policy being loaded. */
typedef struct az_source {
    const char *path;
    const char *text;
    size_t len;
} az_source;

/*
 * Parses, validates and compiles sources into a policy with one reference.
 * Reports every error through d; returns 0 or the first error's code.
 */
int az_policy_compile(const az_source *src, size_t n, az_diag *d, az_policy **out);
void az_policy_ref(az_policy *p);
void az_policy_unref(az_policy *p);
int az_policy_find_task(const az_policy *p, const char *name);
int az_policy_find_role(const az_policy *p, const char *name);
const az_tool_index *az_policy_lookup_tool(const az_policy *p, const char *tool, size_t len);
uint64_t az_hash_bytes(const char *s, size_t len);
/* Lint warnings: rules that never match or are shadowed by a deny. */
void az_policy_lint(const az_policy *p, az_diag *d);

/* ---- engine keys (keys.c) ---- */

/*
 * struct agentauthz_keys is private to keys.c. The key bytes live in
 * libsodium guarded memory, readable only (sodium_mprotect_readonly).
 */
#define AZ_KEY_BYTES 32
const unsigned char *az_keys_public_key(const agentauthz_keys *k); /* 32 bytes */
const unsigned char *az_keys_master_key(const agentauthz_keys *k); /* 32 bytes */
const unsigned char *az_keys_audit_key(const agentauthz_keys *k);  /* 32 bytes */
/* Ed25519 detached signature of m with the engine's signing key. */
int az_keys_sign(const agentauthz_keys *k, const unsigned char *m, size_t len,
                 unsigned char sig[64]);

/* ---- JWK thumbprints and JWK Sets (jwk.c) ---- */

#define AZ_KID_LEN 43      /* a JWK thumbprint: SHA-256 in base64url */
#define AZ_JWK_KID_MAX 128 /* the longest "kid" a JWK Set may give a key */
/* {"alg":"EdDSA","typ":"txntoken+jwt","kid":"<kid>"} at most, in base64url */
#define AZ_JWK_HDR_MAX (AZ_JWK_KID_MAX + 48)
#define AZ_JWK_HDR64_MAX ((AZ_JWK_HDR_MAX + 2) / 3 * 4)

/* A public key of a key set and the id tokens name it by. */
typedef struct az_jwk {
    unsigned char pk[AZ_KEY_BYTES];
    char kid[AZ_JWK_KID_MAX + 1];
    size_t kid_len;
    /* The base64url of the header the library writes for this key (0: none,
       for a kid that JSON would escape): a token that carries exactly it
       needs no header parse. */
    char hdr64[AZ_JWK_HDR64_MAX + 1];
    size_t hdr64_len;
} az_jwk;

/* The RFC 7638 thumbprint of an Ed25519 public key, NUL-terminated. */
void az_jwk_kid(const unsigned char *pk, char kid[AZ_KID_LEN + 1]);
/* A key set of one key, named by its thumbprint. */
void az_jwk_from_pk(const unsigned char *pk, az_jwk *out);
/* The header the library signs for kid, in out (AZ_JWK_HDR_MAX + 1 bytes); its length. */
size_t az_jwk_header(const char *kid, char *out, size_t cap);
/*
 * Reads the Ed25519 keys of a JWK Set into keys (room for
 * AGENTAUTHZ_JWKS_KEYS_MAX); the rules are agentauthz_verifier_new_jwks's.
 */
int az_jwks_parse(const char *text, size_t len, az_jwk *keys, size_t *n, agentauthz_error *err);

/* CLOCK_REALTIME in Unix ns (0 if the clock cannot be read); engine.c. */
uint64_t az_realtime_ns(void);

#endif /* AZ_INTERNAL_H */

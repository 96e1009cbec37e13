/*
 * Verification of the audit log (the record schema is described at the top
 * of audit.c): the MAC of every record (with the audit key), the hash chain
 * that links each record to the one before, the log id every record
 * carries, and the Ed25519 signatures of the start, resume and checkpoint
 * records (with the engine's public key). Without the audit key (public-key
 * mode) the hash chain and the signatures are checked, which covers every
 * record up to the last signed one. Files are streamed line by line through
 * a bounded line buffer, so a log of any size is checked in constant memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "audit_private.h"
#include "internal.h"

#define CHUNK (64u * 1024u)
#define READ_TRUNCATED 2 /* the file ends inside a line */

typedef struct line_reader {
    int fd;
    char *chunk;
    size_t pos, end;
    bool eof;
    az_buf line;
    unsigned long lineno;
} line_reader;

typedef struct chain {
    const az_audit_verifier *v;
    unsigned schema;  /* of the first record; 0 before it */
    uint64_t seq;     /* expected next */
    unsigned char prev[AZ_AUDIT_MAC_BYTES];
    unsigned char log[AZ_AUDIT_LOG_ID_BYTES];
    unsigned char key[AGENTAUTHZ_PUBKEY_BYTES]; /* the key the start record names */
    agentauthz_audit_result *res;
    agentauthz_audit_report *rep;
} chain;

const char *agentauthz_audit_problem_name(agentauthz_audit_problem p)
{
    switch (p) {
    case AGENTAUTHZ_AUDIT_INTACT:
        return "intact";
    case AGENTAUTHZ_AUDIT_MALFORMED:
        return "malformed";
    case AGENTAUTHZ_AUDIT_TRUNCATED:
        return "truncated";
    case AGENTAUTHZ_AUDIT_MAC:
        return "mac mismatch";
    case AGENTAUTHZ_AUDIT_SEQ:
        return "sequence gap";
    case AGENTAUTHZ_AUDIT_PREV:
        return "prev mismatch";
    case AGENTAUTHZ_AUDIT_EMPTY:
        return "empty log";
    case AGENTAUTHZ_AUDIT_END:
        return "unexpected end";
    case AGENTAUTHZ_AUDIT_ENGINE:
        return "engine mismatch";
    case AGENTAUTHZ_AUDIT_LOG_ID:
        return "log id mismatch";
    case AGENTAUTHZ_AUDIT_SIGNATURE:
        return "bad signature";
    case AGENTAUTHZ_AUDIT_UNSIGNED:
        return "unsigned";
    default:
        return "unknown";
    }
}

/* Refills the chunk; 0, or AGENTAUTHZ_EIO. */
static int reader_fill(line_reader *r)
{
    ssize_t n;
    do
        n = read(r->fd, r->chunk, CHUNK);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return AGENTAUTHZ_EIO;
    r->pos = 0;
    r->end = (size_t)n;
    r->eof = n == 0;
    return 0;
}

/*
 * The next line, without its newline, in r->line. Returns 1 for a line, 0 at
 * the end of the file, READ_TRUNCATED for a last line without a newline,
 * AGENTAUTHZ_ELIMIT for a line over the bound, AGENTAUTHZ_EIO.
 */
static int reader_next(line_reader *r)
{
    r->line.len = 0;
    r->lineno++;
    for (;;) {
        const char *nl;
        size_t take;
        int rc = r->pos == r->end ? reader_fill(r) : 0;
        if (rc)
            return rc;
        if (r->eof)
            return r->line.len ? READ_TRUNCATED : 0;
        nl = memchr(r->chunk + r->pos, '\n', r->end - r->pos);
        take = nl ? (size_t)(nl - (r->chunk + r->pos)) : r->end - r->pos;
        rc = az_buf_append(&r->line, r->chunk + r->pos, take);
        if (rc)
            return rc;
        r->pos += take + (nl ? 1 : 0);
        if (nl)
            return 1;
    }
}

/* Records the first problem in the report and err; returns AGENTAUTHZ_ETAMPER. */
static int report(chain *c, size_t file, const char *path, unsigned long line,
                  agentauthz_audit_problem p, const char *reason, agentauthz_error *err)
{
    agentauthz_audit_report *rep = c->rep;
    size_t n = strlen(path);
    rep->problem = p;
    rep->file = file;
    if (n >= sizeof rep->path)
        n = sizeof rep->path - 1;
    memcpy(rep->path, path, n);
    rep->path[n] = '\0';
    rep->line = line;
    snprintf(rep->reason, sizeof rep->reason, "%s", reason);
    return az_error_set(err, AGENTAUTHZ_ETAMPER, path, line, 0, 0, "audit log broken: %s", reason);
}

typedef struct why_buf {
    char *p;
    size_t cap;
} why_buf;

static agentauthz_audit_problem say(why_buf *w, agentauthz_audit_problem p, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static agentauthz_audit_problem say(why_buf *w, agentauthz_audit_problem p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->p, w->cap, fmt, ap);
    va_end(ap);
    return p;
}

/* A record of a version 1 log: the MAC covers the previous MAC and the line. */
static agentauthz_audit_problem check_v1(chain *c, const char *line, const az_audit_frame *f,
                                         why_buf *w)
{
    unsigned char mac[AZ_AUDIT_MAC_BYTES];
    if (!c->v->mac_key)
        return say(w, AGENTAUTHZ_AUDIT_UNSIGNED,
                   "a version 1 log has no signatures: verify it with the audit key");
    if (c->v->engine)
        return say(w, AGENTAUTHZ_AUDIT_UNSIGNED,
                   "a version 1 log names no engine at its start: it cannot be checked "
                   "against an expected engine");
    if (az_audit_mac_v1(c->v->mac_key, f->prev, line, f->signed_len, mac) != 0 ||
        sodium_memcmp(mac, f->mac, sizeof mac) != 0)
        return say(w, AGENTAUTHZ_AUDIT_MAC,
                   "record %" PRIu64 ": MAC mismatch (edited, or another key)", f->seq);
    if (f->seq != c->seq)
        return say(w, AGENTAUTHZ_AUDIT_SEQ,
                   "record %" PRIu64 " where %" PRIu64
                   " was expected (records or files deleted, reordered or duplicated)",
                   f->seq, c->seq);
    if (sodium_memcmp(f->prev, c->prev, sizeof f->prev) != 0)
        return say(w, AGENTAUTHZ_AUDIT_PREV, "record %" PRIu64 " does not follow the record before",
                   f->seq);
    memcpy(c->prev, f->mac, sizeof c->prev);
    return AGENTAUTHZ_AUDIT_INTACT;
}

static bool event_is(const az_audit_frame *f, const char *name)
{
    size_t n = strlen(name);
    return f->event && f->event_len == n && memcmp(f->event, name, n) == 0;
}

/* The key a start or resume record names, decoded. */
static int record_key(const char *line, const az_audit_frame *f,
                      unsigned char key[AGENTAUTHZ_PUBKEY_BYTES])
{
    char text[AGENTAUTHZ_PUBKEY_TEXT_MAX];
    size_t at, len;
    if (az_audit_body_string(line, f, "key", &at, &len) != 0 || len >= sizeof text)
        return -1;
    memcpy(text, line + at, len);
    text[len] = '\0';
    return agentauthz_pubkey_parse(text, key, NULL) == 0 ? 0 : -1;
}

/* Whether the start record's engine field is the expected name, escaped as the writer does. */
static bool engine_matches(const char *line, const az_audit_frame *f, const char *name)
{
    az_buf b = {NULL, 0, 0, AZ_AUDIT_LINE_MAX};
    size_t at, len;
    bool ok = false;
    if (az_audit_body_string(line, f, "engine", &at, &len) != 0)
        return false;
    /* The engine keeps at most AZ_MAX_NAME bytes of its name. */
    if (az_audit_escape(&b, name, strnlen(name, AZ_MAX_NAME)) == 0)
        ok = b.len == len && (len == 0 || memcmp(b.p, line + at, len) == 0);
    az_buf_free(&b);
    return ok;
}

/* The start record: the key and the name of the engine whose log this is. */
static agentauthz_audit_problem check_start(chain *c, const char *line, const az_audit_frame *f,
                                            why_buf *w)
{
    if (!event_is(f, "start"))
        return say(w, AGENTAUTHZ_AUDIT_MALFORMED, "the log does not begin with a start record");
    if (record_key(line, f, c->key) != 0)
        return say(w, AGENTAUTHZ_AUDIT_MALFORMED, "the start record has no valid key");
    if (c->v->pubkey && sodium_memcmp(c->key, c->v->pubkey, sizeof c->key) != 0)
        return say(w, AGENTAUTHZ_AUDIT_ENGINE,
                   "the log was started by another engine (another public key)");
    if (c->v->engine && !engine_matches(line, f, c->v->engine))
        return say(w, AGENTAUTHZ_AUDIT_ENGINE, "the log was started by another engine (name)");
    memcpy(c->log, f->log, sizeof c->log);
    sodium_bin2hex(c->res->log_id, sizeof c->res->log_id, f->log, sizeof f->log);
    return AGENTAUTHZ_AUDIT_INTACT;
}

/* The signature of a start, resume or checkpoint record, with the log's key. */
static agentauthz_audit_problem check_signed(chain *c, const char *line, const az_audit_frame *f,
                                             why_buf *w)
{
    unsigned char msg[AZ_AUDIT_SIGMSG_BYTES], key[AGENTAUTHZ_PUBKEY_BYTES];
    bool known = event_is(f, "start") || event_is(f, "resume") || event_is(f, "checkpoint");
    if (known != (f->sig_at != 0))
        return say(w, AGENTAUTHZ_AUDIT_MALFORMED, "record %" PRIu64 ": %s", f->seq,
                   known ? "a start, resume or checkpoint record without a signature"
                         : "a signature on a record that takes none");
    if (!known)
        return AGENTAUTHZ_AUDIT_INTACT;
    if (event_is(f, "start") && f->seq != 1)
        return say(w, AGENTAUTHZ_AUDIT_MALFORMED,
                   "record %" PRIu64 ": a start record inside the log", f->seq);
    if (event_is(f, "resume") &&
        (record_key(line, f, key) != 0 || sodium_memcmp(key, c->key, sizeof key) != 0))
        return say(w, AGENTAUTHZ_AUDIT_ENGINE,
                   "record %" PRIu64 ": the log was continued by another engine", f->seq);
    if (az_audit_sig_message(line, f, msg) != 0 ||
        crypto_sign_verify_detached(f->sig, msg, sizeof msg, c->key) != 0)
        return say(w, AGENTAUTHZ_AUDIT_SIGNATURE,
                   "record %" PRIu64 ": the %.*s signature does not verify (forged or edited)",
                   f->seq, (int)f->event_len, f->event);
    c->res->signed_seq = f->seq;
    c->res->checkpoints++;
    return AGENTAUTHZ_AUDIT_INTACT;
}

/* A record of a version 2 log: MAC, sequence, log id, hash link, signature. */
static agentauthz_audit_problem check_v2(chain *c, const char *line, const az_audit_frame *f,
                                         why_buf *w)
{
    unsigned char digest[AZ_AUDIT_MAC_BYTES], mac[AZ_AUDIT_MAC_BYTES];
    agentauthz_audit_problem p;
    char id[2 * AZ_AUDIT_LOG_ID_BYTES + 1];
    if (az_audit_digest(line, f->signed_len, digest) != 0)
        return say(w, AGENTAUTHZ_AUDIT_MALFORMED, "record %" PRIu64 ": cannot hash", f->seq);
    if (c->v->mac_key && (az_audit_mac(c->v->mac_key, digest, mac) != 0 ||
                          sodium_memcmp(mac, f->mac, sizeof mac) != 0))
        return say(w, AGENTAUTHZ_AUDIT_MAC,
                   "record %" PRIu64 ": MAC mismatch (edited, or another key)", f->seq);
    if (f->seq != c->seq)
        return say(w, AGENTAUTHZ_AUDIT_SEQ,
                   "record %" PRIu64 " where %" PRIu64
                   " was expected (records or files deleted, reordered or duplicated)",
                   f->seq, c->seq);
    if (f->seq == 1 && (p = check_start(c, line, f, w)) != AGENTAUTHZ_AUDIT_INTACT)
        return p;
    if (sodium_memcmp(f->log, c->log, sizeof c->log) != 0) {
        sodium_bin2hex(id, sizeof id, f->log, sizeof f->log);
        return say(w, AGENTAUTHZ_AUDIT_LOG_ID,
                   "record %" PRIu64 " belongs to another log (log id %s, not %s): logs spliced",
                   f->seq, id, c->res->log_id);
    }
    if (sodium_memcmp(f->prev, c->prev, sizeof f->prev) != 0)
        return say(w, AGENTAUTHZ_AUDIT_PREV, "record %" PRIu64 " does not follow the record before",
                   f->seq);
    p = check_signed(c, line, f, w);
    if (p == AGENTAUTHZ_AUDIT_INTACT)
        memcpy(c->prev, digest, sizeof c->prev);
    return p;
}

/* Checks one record against the chain; 0 and advances, or the problem. */
static agentauthz_audit_problem check_record(chain *c, const char *line, size_t len, char *why,
                                             size_t whycap)
{
    az_audit_frame f;
    why_buf w = {why, whycap};
    const char *msg = NULL;
    agentauthz_audit_problem p;
    if (az_audit_frame_parse(line, len, &f, &msg) != 0)
        return say(&w, AGENTAUTHZ_AUDIT_MALFORMED, "malformed record: %s", msg);
    if (!c->schema)
        c->schema = c->res->schema = f.version;
    if (f.version != c->schema)
        return say(&w, AGENTAUTHZ_AUDIT_MALFORMED, "a version %u record in a version %u log",
                   f.version, c->schema);
    p = f.version == 1 ? check_v1(c, line, &f, &w) : check_v2(c, line, &f, &w);
    if (p != AGENTAUTHZ_AUDIT_INTACT)
        return p;
    c->seq++;
    c->rep->records++;
    c->rep->last_seq = f.seq;
    return AGENTAUTHZ_AUDIT_INTACT;
}

/* Maps what the reader said about a line to a problem, or 0 to go on. */
static int read_problem(chain *c, size_t file, const char *path, line_reader *r, int rc,
                        agentauthz_error *err)
{
    if (rc == READ_TRUNCATED)
        return report(c, file, path, r->lineno, AGENTAUTHZ_AUDIT_TRUNCATED,
                      "the file ends inside a line (cut off mid-record)", err);
    if (rc == AGENTAUTHZ_ELIMIT)
        return report(c, file, path, r->lineno, AGENTAUTHZ_AUDIT_MALFORMED,
                      "line longer than 1 MiB", err);
    if (rc == AGENTAUTHZ_EIO)
        return az_error_set(err, AGENTAUTHZ_EIO, path, r->lineno, 0, 0, "read: %s",
                            strerror(errno));
    if (rc < 0)
        return az_error_set(err, rc, path, r->lineno, 0, 0, "%s", agentauthz_strerror(rc));
    return 0;
}

static int verify_lines(chain *c, size_t file, const char *path, line_reader *r,
                        agentauthz_error *err)
{
    char why[AGENTAUTHZ_AUDIT_REASON_MAX];
    int rc;
    while ((rc = reader_next(r)) == 1) {
        agentauthz_audit_problem p =
            check_record(c, r->line.p ? r->line.p : "", r->line.len, why, sizeof why);
        if (p != AGENTAUTHZ_AUDIT_INTACT)
            return report(c, file, path, r->lineno, p, why, err);
    }
    rc = read_problem(c, file, path, r, rc, err);
    /* A log always holds its start record, and a rotated file what was written after the
       rotation: a file without a record is a log emptied, or the wrong file. */
    if (!rc && r->lineno == 1)
        rc = report(c, file, path, 1, AGENTAUTHZ_AUDIT_EMPTY, "the file holds no record", err);
    return rc;
}

static int verify_file(chain *c, size_t file, const char *path, unsigned long *lines,
                       agentauthz_error *err)
{
    line_reader r;
    int rc;
    memset(&r, 0, sizeof r);
    r.line.max = AZ_AUDIT_LINE_MAX - 1;
    r.chunk = malloc(CHUNK);
    if (!r.chunk)
        return az_error_set(err, AGENTAUTHZ_ENOMEM, path, 0, 0, 0, "out of memory");
    r.fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r.fd < 0) {
        rc = az_error_set(err, AGENTAUTHZ_EIO, path, 0, 0, 0, "open: %s", strerror(errno));
        goto out;
    }
    rc = verify_lines(c, file, path, &r, err);
    *lines = r.lineno - 1;
    close(r.fd);
out:
    free(r.chunk);
    az_buf_free(&r.line);
    return rc;
}

/* With expect_last, a log that ends elsewhere was cut off (or outgrew what the host knew). */
static int check_end(chain *c, size_t file, const char *path, unsigned long lines,
                     agentauthz_error *err)
{
    char why[AGENTAUTHZ_AUDIT_REASON_MAX];
    uint64_t last = c->rep->last_seq, want = c->v->expect_last;
    if (!want || last == want)
        return 0;
    snprintf(why, sizeof why,
             "the log ends at record %" PRIu64 " where record %" PRIu64 " was expected last (%s)",
             last, want,
             last < want ? "records cut off the end" : "records after the expected end");
    return report(c, file, path, lines, AGENTAUTHZ_AUDIT_END, why, err);
}

int az_audit_verify_with(const az_audit_verifier *v, const char *const *paths, size_t n,
                         agentauthz_audit_result *res, agentauthz_error *err)
{
    chain c;
    unsigned long lines = 0;
    int rc = 0;
    memset(res, 0, sizeof *res);
    res->version = AGENTAUTHZ_AUDIT_RESULT_VERSION;
    if (!v || (!v->mac_key && !v->pubkey) || !n || !paths)
        return az_error_set(err, AGENTAUTHZ_EINVAL, NULL, 0, 0, 0,
                            !n ? "audit verify: no log file given" : "audit verify: bad arguments");
    for (size_t i = 0; i < n; i++)
        if (!paths[i])
            return az_error_set(err, AGENTAUTHZ_EINVAL, NULL, 0, 0, 0, "audit verify: NULL path");
    if (sodium_init() < 0)
        return az_error_set(err, AGENTAUTHZ_ECRYPTO, NULL, 0, 0, 0, "libsodium init failed");
    memset(&c, 0, sizeof c);
    c.v = v;
    c.seq = 1;
    c.res = res;
    c.rep = &res->report;
    for (size_t i = 0; i < n && !rc; i++)
        rc = verify_file(&c, i, paths[i], &lines, err);
    return rc ? rc : check_end(&c, n - 1, paths[n - 1], lines, err);
}

int az_audit_verify_key(const unsigned char key[32], const char *const *paths, size_t n,
                        agentauthz_audit_report *rep, agentauthz_error *err)
{
    az_audit_verifier v = {key, NULL, NULL, 0};
    agentauthz_audit_result res;
    int rc;
    if (!key) {
        if (rep)
            memset(rep, 0, sizeof *rep);
        return az_error_set(err, AGENTAUTHZ_EINVAL, NULL, 0, 0, 0, "audit verify: no key");
    }
    rc = az_audit_verify_with(&v, paths, n, &res, err);
    if (rep)
        *rep = res.report;
    return rc;
}

int agentauthz_audit_verify(const struct agentauthz_keys *keys, const char *const *paths, size_t n,
                            agentauthz_audit_report *rep, agentauthz_error *err)
{
    agentauthz_audit_verify_options o = AGENTAUTHZ_AUDIT_VERIFY_OPTIONS_INIT;
    agentauthz_audit_result res = AGENTAUTHZ_AUDIT_RESULT_INIT;
    int rc;
    if (!keys) {
        if (rep)
            memset(rep, 0, sizeof *rep);
        return az_error_set(err, AGENTAUTHZ_EINVAL, NULL, 0, 0, 0, "audit verify: no keys");
    }
    o.keys = keys;
    rc = agentauthz_audit_verify_ext(&o, paths, n, &res, err);
    if (rep)
        *rep = res.report;
    return rc;
}

int agentauthz_audit_verify_ext(const agentauthz_audit_verify_options *opt,
                                const char *const *paths, size_t n, agentauthz_audit_result *res,
                                agentauthz_error *err)
{
    az_audit_verifier v = {NULL, NULL, NULL, 0};
    agentauthz_audit_result local;
    if (!res)
        res = &local;
    else if (res->version != AGENTAUTHZ_AUDIT_RESULT_VERSION)
        return az_error_set(err, AGENTAUTHZ_EINVAL, NULL, 0, 0, 0,
                            "audit verify: unknown result version %u", res->version);
    if (!opt || opt->version != AGENTAUTHZ_AUDIT_VERIFY_OPTIONS_VERSION ||
        (!opt->keys && !opt->pubkey)) {
        memset(res, 0, sizeof *res);
        res->version = AGENTAUTHZ_AUDIT_RESULT_VERSION;
        return az_error_set(err, AGENTAUTHZ_EINVAL, NULL, 0, 0, 0,
                            "audit verify: bad options (keys or a public key is needed)");
    }
    v.mac_key = opt->keys ? az_keys_audit_key(opt->keys) : NULL;
    v.pubkey = opt->pubkey ? opt->pubkey : az_keys_public_key(opt->keys);
    v.engine = opt->engine;
    v.expect_last = opt->expect_last;
    return az_audit_verify_with(&v, paths, n, res, err);
}

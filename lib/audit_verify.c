/*
 * Verification of the audit log's MAC chain (the record schema is described
 * at the top of audit.c). Files are streamed line by line through a bounded
 * line buffer, so a log of any size is checked in constant memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
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
    const unsigned char *key;
    uint64_t seq; /* expected next */
    unsigned char prev[AZ_AUDIT_MAC_BYTES];
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

/* Checks one record against the chain; 0 and advances, or the problem. */
static agentauthz_audit_problem check_record(chain *c, const char *line, size_t len, char *why,
                                             size_t whycap)
{
    az_audit_frame f;
    unsigned char mac[AZ_AUDIT_MAC_BYTES];
    const char *msg = NULL;
    if (az_audit_frame_parse(line, len, &f, &msg) != 0) {
        snprintf(why, whycap, "malformed record: %s", msg);
        return AGENTAUTHZ_AUDIT_MALFORMED;
    }
    if (az_audit_mac(c->key, f.prev, line, f.signed_len, mac) != 0 ||
        sodium_memcmp(mac, f.mac, sizeof mac) != 0) {
        snprintf(why, whycap, "record %" PRIu64 ": MAC mismatch (edited, or another key)", f.seq);
        return AGENTAUTHZ_AUDIT_MAC;
    }
    if (f.seq != c->seq) {
        snprintf(why, whycap,
                 "record %" PRIu64 " where %" PRIu64
                 " was expected (records or files deleted, reordered or duplicated)",
                 f.seq, c->seq);
        return AGENTAUTHZ_AUDIT_SEQ;
    }
    if (sodium_memcmp(f.prev, c->prev, sizeof f.prev) != 0) {
        snprintf(why, whycap, "record %" PRIu64 " does not follow the record before", f.seq);
        return AGENTAUTHZ_AUDIT_PREV;
    }
    c->seq++;
    memcpy(c->prev, f.mac, sizeof c->prev);
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
    return read_problem(c, file, path, r, rc, err);
}

static int verify_file(chain *c, size_t file, const char *path, agentauthz_error *err)
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
    close(r.fd);
out:
    free(r.chunk);
    az_buf_free(&r.line);
    return rc;
}

int az_audit_verify_key(const unsigned char key[32], const char *const *paths, size_t n,
                        agentauthz_audit_report *rep, agentauthz_error *err)
{
    agentauthz_audit_report local;
    chain c;
    int rc = 0;
    if (!rep)
        rep = &local;
    memset(rep, 0, sizeof *rep);
    if (!key || (n && !paths))
        return az_error_set(err, AGENTAUTHZ_EINVAL, NULL, 0, 0, 0, "audit verify: bad arguments");
    if (sodium_init() < 0)
        return az_error_set(err, AGENTAUTHZ_ECRYPTO, NULL, 0, 0, 0, "libsodium init failed");
    memset(&c, 0, sizeof c);
    c.key = key;
    c.seq = 1;
    c.rep = rep;
    for (size_t i = 0; i < n && !rc; i++) {
        if (!paths[i])
            return az_error_set(err, AGENTAUTHZ_EINVAL, NULL, 0, 0, 0, "audit verify: NULL path");
        rc = verify_file(&c, i, paths[i], err);
    }
    return rc;
}

int agentauthz_audit_verify(const struct agentauthz_keys *keys, const char *const *paths, size_t n,
                            agentauthz_audit_report *rep, agentauthz_error *err)
{
    if (!keys) {
        if (rep)
            memset(rep, 0, sizeof *rep);
        return az_error_set(err, AGENTAUTHZ_EINVAL, NULL, 0, 0, 0, "audit verify: no keys");
    }
    return az_audit_verify_key(az_keys_audit_key(keys), paths, n, rep, err);
}

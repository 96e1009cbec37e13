/*
 * The tamper-evident audit log: record formatting, the MAC chain and the
 * file and callback sinks. Verification is in audit_verify.c.
 *
 * Record schema, version 1 (for libagentauthz-audit(5)). One record is one
 * line of UTF-8 JSON ending in '\n', at most 1 MiB with the newline. Keys
 * appear in this order; keys marked * are omitted when they do not apply:
 *
 *   v          1, the schema version
 *   seq        the record's number: 1 for the first record of a log, +1 for
 *              each record after, across rotated files
 *   time       the event's wall time, RFC 3339 UTC with nanoseconds
 *              ("2025-01-31T12:00:00.000000001Z")
 *   event      open | close | revoke | expire | check | approve | lease |
 *              lease_refused | reload
 *   engine*    the engine's name
 *   policy*    {"name": policy name*, "hash": hex BLAKE2b-256 of the policy*}
 *   session*   the session id;  parent*: the parent session's id
 *   identity*, task*, tool*, resource*
 *   resource_checked*  the resource as the rules saw it, when path
 *              normalisation changed it (agentauthz-policy(5), PATHS)
 *   destination*  a string, or a list of strings (the first 16, then one
 *              item "[+N more]")
 *   decision*  allow | deny | ask;  rule*: the deciding rule's id;
 *   reason*    the reason given
 *   check_seq* the check's number within its session
 *   secret*    a secret's name (lease events); never its value
 *   args*      {"<name>": {"digest": hex}, ...}: each argument as a keyed
 *              BLAKE2b-256 of its canonical value, or {"value": JSON} for an
 *              argument the policy logs in clear. A clear value that holds a
 *              secret becomes {"digest": hex, "redacted": true}, one over
 *              4 KiB of JSON {"digest": hex, "oversize": true}.
 *   args_digest*, args_count*  instead of args, when args would exceed
 *              512 KiB: one digest of the whole argument map and its size
 *   prev       hex MAC of the record before (64 zeros for seq 1)
 *   mac        hex BLAKE2b-256 keyed with the audit key over the 32 bytes of
 *              the previous MAC followed by this line up to and including
 *              the prev field (everything before ',"mac":')
 *
 * Strings are escaped as JSON; invalid UTF-8 becomes U+FFFD. A string field
 * longer than 4 KiB escaped is cut at a character boundary and ends with
 * "[truncated: N bytes]" (N the original length), and a string holding the
 * value of a secret (as the engine's scanner says) is written "[redacted]",
 * so no record can outgrow the line bound or leak a secret. Argument
 * digests use a key derived from the audit key (crypto_kdf, context
 * "azaudarg", id 1), so a low-entropy value cannot be found by hashing
 * guesses without the key. Rotation writes no record: the chain continues
 * in the reopened file.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "audit_private.h"
#include "internal.h"

#define PREFIX "{\"v\":1,\"seq\":"
#define PREFIX_LEN (sizeof PREFIX - 1)
#define PREV_KEY ",\"prev\":\""
#define PREV_KEY_LEN (sizeof PREV_KEY - 1)
#define MAC_KEY ",\"mac\":\""
#define MAC_KEY_LEN (sizeof MAC_KEY - 1)
/* ',"prev":"<64 hex>"' and ',"mac":"<64 hex>"}' */
#define PREV_PART (PREV_KEY_LEN + AZ_AUDIT_HEX + 1)
#define MAC_PART (MAC_KEY_LEN + AZ_AUDIT_HEX + 2)
/* Room left for the framing around a body: prefix, seq, prev, mac, '\n'. */
#define BODY_MAX (AZ_AUDIT_LINE_MAX - 256u)

struct az_audit {
    pthread_mutex_t lock;
    char *path;
    int fd; /* -1 without a file sink */
    agentauthz_audit_flush flush;
    size_t flush_every;
    bool fsync;
    agentauthz_audit_fn cb;
    void *ctx;
    unsigned char *keys; /* guarded: the MAC key, then the argument-digest key */
    uint64_t seq;        /* the last record appended */
    unsigned char prev[AZ_AUDIT_MAC_BYTES];
    az_buf out;     /* records not yet written to the file */
    size_t written; /* bytes of out already written */
    size_t pending; /* records in out */
    int error;      /* sticky write error, cleared by reopen */
    int errnum;     /* errno of that error, for messages */
    bool has_lock;  /* the mutex was initialised (for az_audit_free) */
};

static const char *const kind_names[AZ_AUDIT_KIND_COUNT] = {
    "open", "close", "revoke", "expire", "check", "approve", "lease", "lease_refused", "reload",
};

const char *az_audit_kind_name(az_audit_kind k)
{
    return (unsigned)k < AZ_AUDIT_KIND_COUNT ? kind_names[k] : "unknown";
}

/* ---- framing ---- */

int az_audit_mac(const unsigned char key[32], const unsigned char prev[32], const char *line,
                 size_t signed_len, unsigned char mac[32])
{
    crypto_generichash_blake2b_state st;
    int rc = crypto_generichash_blake2b_init(&st, key, 32, 32);
    if (!rc)
        rc = crypto_generichash_blake2b_update(&st, prev, 32);
    if (!rc)
        rc = crypto_generichash_blake2b_update(&st, (const unsigned char *)line, signed_len);
    if (!rc)
        rc = crypto_generichash_blake2b_final(&st, mac, 32);
    sodium_memzero(&st, sizeof st);
    return rc ? AGENTAUTHZ_ECRYPTO : 0;
}

/* Strict lowercase hex, as the writer produces it; anything else is malformed. */
static int hex_decode(const char *s, unsigned char out[AZ_AUDIT_MAC_BYTES])
{
    for (size_t i = 0; i < AZ_AUDIT_HEX; i++) {
        char c = s[i];
        unsigned v;
        if (c >= '0' && c <= '9')
            v = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v = (unsigned)(c - 'a' + 10);
        else
            return -1;
        out[i / 2] = (unsigned char)((i % 2) ? (out[i / 2] | v) : (v << 4));
    }
    return 0;
}

/* Parses the decimal seq after the prefix; *end gets the offset of the ','. */
static int parse_seq(const char *line, size_t len, uint64_t *seq, size_t *end)
{
    size_t i = PREFIX_LEN;
    uint64_t v = 0;
    if (i >= len || line[i] < '1' || line[i] > '9')
        return -1;
    for (; i < len && line[i] >= '0' && line[i] <= '9'; i++) {
        unsigned d = (unsigned)(line[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    if (i >= len || line[i] != ',')
        return -1;
    *seq = v;
    *end = i;
    return 0;
}

int az_audit_frame_parse(const char *line, size_t len, az_audit_frame *f, const char **why)
{
    size_t comma = 0, prev_at;
    *why = "not an audit record";
    if (len < PREFIX_LEN + 2 + PREV_PART + MAC_PART || memcmp(line, PREFIX, PREFIX_LEN) != 0)
        return -1;
    *why = "bad sequence number";
    if (parse_seq(line, len, &f->seq, &comma) != 0)
        return -1;
    *why = "bad mac field";
    f->signed_len = len - MAC_PART;
    if (memcmp(line + f->signed_len, MAC_KEY, MAC_KEY_LEN) != 0 ||
        memcmp(line + len - 2, "\"}", 2) != 0 ||
        hex_decode(line + f->signed_len + MAC_KEY_LEN, f->mac) != 0)
        return -1;
    *why = "bad prev field";
    if (f->signed_len < comma + 1 + PREV_PART)
        return -1;
    prev_at = f->signed_len - PREV_PART;
    if (memcmp(line + prev_at, PREV_KEY, PREV_KEY_LEN) != 0 || line[f->signed_len - 1] != '"' ||
        hex_decode(line + prev_at + PREV_KEY_LEN, f->prev) != 0)
        return -1;
    *why = NULL;
    return 0;
}

/* ---- string escaping ---- */

/* The length (1-4) of the valid UTF-8 character at s, or 0 if it is invalid. */
static size_t utf8_char(const unsigned char *s, size_t len)
{
    uint32_t cp, min;
    size_t n;
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF)
        n = 2, cp = s[0] & 0x1Fu, min = 0x80;
    else if (s[0] >= 0xE0 && s[0] <= 0xEF)
        n = 3, cp = s[0] & 0x0Fu, min = 0x800;
    else if (s[0] >= 0xF0 && s[0] <= 0xF4)
        n = 4, cp = s[0] & 0x07u, min = 0x10000;
    else
        return 0;
    if (n > len)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3Fu);
    }
    return (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) ? 0 : n;
}

/*
 * Escapes the character at s into esc (at most 6 bytes) and returns how many
 * input bytes it used. An invalid byte becomes U+FFFD, so every record is
 * valid UTF-8 whatever the host passed.
 */
static size_t escape_char(const unsigned char *s, size_t len, char esc[8], size_t *elen)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = utf8_char(s, len);
    unsigned char c = s[0];
    if (n == 0) {
        memcpy(esc, "\\ufffd", 6);
        *elen = 6;
        return 1;
    }
    if (n > 1 || (c >= 0x20 && c != 0x7f && c != '"' && c != '\\')) {
        memcpy(esc, s, n);
        *elen = n;
        return n;
    }
    esc[0] = '\\';
    *elen = 2;
    if (c == '"' || c == '\\')
        esc[1] = (char)c;
    else if (c == '\n')
        esc[1] = 'n';
    else if (c == '\t')
        esc[1] = 't';
    else if (c == '\r')
        esc[1] = 'r';
    else {
        memcpy(esc + 1, "u00", 3);
        esc[4] = hex[c >> 4];
        esc[5] = hex[c & 15];
        *elen = 6;
    }
    return 1;
}

static bool is_secret(const az_audit_event *ev, const char *s, size_t len)
{
    return ev->scan && ev->scan(s, len, ev->scan_ctx);
}

/* The length of the run at s of bytes JSON takes as they are (printable ASCII). */
static size_t plain_run(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len && (unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7f && s[i] != '"' &&
           s[i] != '\\')
        i++;
    return i;
}

/*
 * Appends the escaped form of s[*i..len) until the output reaches
 * AZ_AUDIT_STR_MAX bytes (*out counts them). Plain runs are copied whole,
 * which is most of every record, and the rest one character at a time.
 */
static int put_escaped(az_buf *b, const char *s, size_t len, size_t *i, size_t *out)
{
    int rc = 0;
    while (!rc && *i < len) {
        char esc[8];
        size_t elen, used, run = plain_run(s + *i, len - *i);
        if (run > AZ_AUDIT_STR_MAX - *out)
            run = AZ_AUDIT_STR_MAX - *out;
        if (run) {
            rc = az_buf_append(b, s + *i, run);
            *out += run;
            *i += run;
            continue;
        }
        used = escape_char((const unsigned char *)s + *i, len - *i, esc, &elen);
        if (*out + elen > AZ_AUDIT_STR_MAX)
            break;
        rc = az_buf_append(b, esc, elen);
        *out += elen;
        *i += used;
    }
    return rc;
}

/* Appends s as a JSON string, capped at AZ_AUDIT_STR_MAX bytes, secrets redacted. */
static int put_str(az_buf *b, const char *s, size_t len, const az_audit_event *ev)
{
    size_t i = 0, out = 0;
    int rc;
    if (is_secret(ev, s, len))
        return az_buf_append(b, "\"[redacted]\"", 12);
    rc = az_buf_putc(b, '"');
    if (!rc)
        rc = put_escaped(b, s, len, &i, &out);
    if (!rc && i < len)
        rc = az_buf_printf(b, "[truncated: %zu bytes]", len);
    return rc ? rc : az_buf_putc(b, '"');
}

/* Appends ,"name":"value" when value is not NULL. */
static int put_field(az_buf *b, const char *name, const char *value, const az_audit_event *ev)
{
    int rc;
    if (!value)
        return 0;
    rc = az_buf_printf(b, ",\"%s\":", name);
    return rc ? rc : put_str(b, value, strlen(value), ev);
}

/* ---- fields ---- */

static int put_time(az_buf *b, uint64_t ns)
{
    struct tm tm;
    time_t secs = (time_t)(ns / 1000000000u);
    if (!gmtime_r(&secs, &tm))
        return AGENTAUTHZ_EINVAL;
    return az_buf_printf(b, "\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%09" PRIu64 "Z\"",
                         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                         tm.tm_sec, ns % 1000000000u);
}

static int put_policy(az_buf *b, const az_audit_event *ev)
{
    int rc;
    if (!ev->policy_name && !ev->policy_hash)
        return 0;
    rc = az_buf_append(b, ",\"policy\":{", 11);
    if (!rc && ev->policy_name) {
        rc = az_buf_append(b, "\"name\":", 7);
        if (!rc)
            rc = put_str(b, ev->policy_name, strlen(ev->policy_name), ev);
    }
    if (!rc && ev->policy_hash) {
        rc =
            az_buf_append(b, ev->policy_name ? ",\"hash\":" : "\"hash\":", ev->policy_name ? 8 : 7);
        if (!rc)
            rc = put_str(b, ev->policy_hash, strlen(ev->policy_hash), ev);
    }
    return rc ? rc : az_buf_putc(b, '}');
}

static int put_destination(az_buf *b, const agentauthz_value *v, const az_audit_event *ev)
{
    size_t n, i;
    int rc;
    if (!v)
        return 0;
    if (v->type != AGENTAUTHZ_STRING && v->type != AGENTAUTHZ_LIST)
        return AGENTAUTHZ_EINVAL;
    rc = az_buf_append(b, ",\"destination\":", 15);
    if (rc || v->type == AGENTAUTHZ_STRING)
        return rc ? rc : put_str(b, v->u.str.p, v->u.str.len, ev);
    n = v->u.list.n;
    rc = az_buf_putc(b, '[');
    for (i = 0; !rc && i < n && i < AZ_AUDIT_DEST_MAX; i++) {
        const agentauthz_value *item = v->u.list.items[i];
        if (!item || item->type != AGENTAUTHZ_STRING)
            return AGENTAUTHZ_EINVAL;
        rc = i ? az_buf_putc(b, ',') : 0;
        if (!rc)
            rc = put_str(b, item->u.str.p, item->u.str.len, ev);
    }
    if (!rc && n > AZ_AUDIT_DEST_MAX)
        rc = az_buf_printf(b, ",\"[+%zu more]\"", n - AZ_AUDIT_DEST_MAX);
    return rc ? rc : az_buf_putc(b, ']');
}

/* ---- arguments ---- */

static int value_digest(const az_audit *a, const agentauthz_value *v, char hex[AZ_AUDIT_HEX + 1])
{
    crypto_generichash_blake2b_state st;
    unsigned char h[AZ_AUDIT_MAC_BYTES];
    int rc = crypto_generichash_blake2b_init(&st, a->keys + AZ_KEY_BYTES, AZ_KEY_BYTES, sizeof h)
                 ? AGENTAUTHZ_ECRYPTO
                 : 0;
    if (!rc)
        rc = az_value_hash(v, &st);
    if (!rc && crypto_generichash_blake2b_final(&st, h, sizeof h) != 0)
        rc = AGENTAUTHZ_ECRYPTO;
    if (!rc)
        sodium_bin2hex(hex, AZ_AUDIT_HEX + 1, h, sizeof h);
    sodium_memzero(&st, sizeof st);
    return rc;
}

/*
 * Whether any string or key inside v holds a secret. A value nested deeper
 * than AZ_MAX_DEPTH cannot be scanned within bounds, so it counts as
 * holding one: the log then keeps only its digest.
 */
static bool value_has_secret(const az_audit_event *ev, const agentauthz_value *v, unsigned depth)
{
    size_t i;
    if (!ev->scan || !v)
        return false;
    if (depth > AZ_MAX_DEPTH)
        return true;
    if (v->type == AGENTAUTHZ_STRING)
        return is_secret(ev, v->u.str.p, v->u.str.len);
    for (i = 0; v->type == AGENTAUTHZ_LIST && i < v->u.list.n; i++)
        if (value_has_secret(ev, v->u.list.items[i], depth + 1))
            return true;
    for (i = 0; v->type == AGENTAUTHZ_MAP && i < v->u.map.n; i++)
        if (is_secret(ev, v->u.map.items[i].key, v->u.map.items[i].klen) ||
            value_has_secret(ev, v->u.map.items[i].val, depth + 1))
            return true;
    return false;
}

static bool is_clear(const az_audit_event *ev, const char *key, size_t klen)
{
    for (size_t i = 0; ev->clear_args && i < ev->nclear; i++) {
        const char *name = ev->clear_args[i];
        if (name && strlen(name) == klen && memcmp(name, key, klen) == 0)
            return true;
    }
    return false;
}

/* {"digest":"..."} followed by an optional flag such as ,"redacted":true */
static int put_digest(az_buf *b, const az_audit *a, const agentauthz_value *v, const char *flag)
{
    char hex[AZ_AUDIT_HEX + 1];
    int rc = value_digest(a, v, hex);
    return rc ? rc : az_buf_printf(b, "{\"digest\":\"%s\"%s}", hex, flag);
}

/* An argument logged in clear, unless it holds a secret or is too large. */
static int put_clear(az_buf *b, const az_audit *a, const az_audit_event *ev,
                     const agentauthz_value *v)
{
    az_buf tmp = {NULL, 0, 0, AZ_AUDIT_STR_MAX};
    int rc;
    if (value_has_secret(ev, v, 0))
        return put_digest(b, a, v, ",\"redacted\":true");
    rc = az_value_write_json(&tmp, v);
    if (rc == AGENTAUTHZ_ELIMIT)
        rc = put_digest(b, a, v, ",\"oversize\":true");
    else if (!rc)
        rc = az_buf_printf(b, "{\"value\":%s}", tmp.p ? tmp.p : "null");
    az_buf_free(&tmp);
    return rc;
}

static int put_arg(az_buf *b, const az_audit *a, const az_audit_event *ev, size_t i)
{
    const az_kv *kv = &ev->args->u.map.items[i];
    int rc = i ? az_buf_putc(b, ',') : 0;
    if (rc)
        return rc;
    /* A redacted name gets its index, so that two never collide as JSON keys. */
    if (is_secret(ev, kv->key, kv->klen))
        rc = az_buf_printf(b, "\"[redacted #%zu]\"", i);
    else
        rc = put_str(b, kv->key, kv->klen, ev);
    if (!rc)
        rc = az_buf_putc(b, ':');
    if (rc)
        return rc;
    if (is_clear(ev, kv->key, kv->klen))
        return put_clear(b, a, ev, kv->val);
    return put_digest(b, a, kv->val, "");
}

static int format_args(az_buf *b, const az_audit *a, const az_audit_event *ev)
{
    int rc = az_buf_append(b, ",\"args\":{", 9);
    for (size_t i = 0; !rc && i < ev->args->u.map.n; i++)
        rc = put_arg(b, a, ev, i);
    return rc ? rc : az_buf_putc(b, '}');
}

/*
 * Writes the arguments; when they would take more than AZ_AUDIT_ARGS_MAX
 * (an agent sending thousands of arguments), one digest of the whole map
 * stands for them, so the record still fits its line and is still written.
 */
static int put_args(az_buf *b, const az_audit *a, const az_audit_event *ev)
{
    az_buf sect = {NULL, 0, 0, AZ_AUDIT_ARGS_MAX};
    char hex[AZ_AUDIT_HEX + 1];
    int rc;
    if (!ev->args)
        return 0;
    if (ev->args->type != AGENTAUTHZ_MAP)
        return AGENTAUTHZ_EINVAL;
    rc = format_args(&sect, a, ev);
    if (!rc) {
        rc = az_buf_append(b, sect.p, sect.len);
    } else if (rc == AGENTAUTHZ_ELIMIT) {
        rc = value_digest(a, ev->args, hex);
        if (!rc)
            rc = az_buf_printf(b, ",\"args_digest\":\"%s\",\"args_count\":%zu", hex,
                               ev->args->u.map.n);
    }
    az_buf_free(&sect);
    return rc;
}

/* Everything between '{"v":1,"seq":N,' and ',"prev":...', built outside the lock. */
static int format_body(const az_audit_event *ev, az_buf *b)
{
    int rc = put_time(b, ev->time_ns);
    if (!rc)
        rc = az_buf_printf(b, ",\"event\":\"%s\"", az_audit_kind_name(ev->kind));
    if (!rc)
        rc = put_field(b, "engine", ev->engine, ev);
    if (!rc)
        rc = put_policy(b, ev);
    if (!rc)
        rc = put_field(b, "session", ev->session, ev);
    if (!rc)
        rc = put_field(b, "parent", ev->parent, ev);
    if (!rc)
        rc = put_field(b, "identity", ev->identity, ev);
    if (!rc)
        rc = put_field(b, "task", ev->task, ev);
    if (!rc)
        rc = put_field(b, "tool", ev->tool, ev);
    if (!rc)
        rc = put_field(b, "resource", ev->resource, ev);
    if (!rc)
        rc = put_field(b, "resource_checked", ev->resource_checked, ev);
    if (!rc)
        rc = put_destination(b, ev->destination, ev);
    return rc;
}

static int format_tail(const az_audit *a, const az_audit_event *ev, az_buf *b)
{
    int rc = put_field(b, "decision", ev->decision, ev);
    if (!rc)
        rc = put_field(b, "rule", ev->rule, ev);
    if (!rc)
        rc = put_field(b, "reason", ev->reason, ev);
    if (!rc && ev->check_seq)
        rc = az_buf_printf(b, ",\"check_seq\":%" PRIu64, ev->check_seq);
    if (!rc)
        rc = put_field(b, "secret", ev->secret, ev);
    if (!rc)
        rc = put_args(b, a, ev);
    return rc;
}

/* ---- the file sink ---- */

/* Writes out[written..len). On failure the error is sticky and the rest stays buffered. */
static int write_out(az_audit *a)
{
    while (a->written < a->out.len) {
        ssize_t n = write(a->fd, a->out.p + a->written, a->out.len - a->written);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            a->errnum = n < 0 ? errno : ENOSPC;
            return a->error = AGENTAUTHZ_EIO;
        }
        a->written += (size_t)n;
    }
    /* A pipe or character device cannot be synced (EINVAL); that is not a loss. */
    if (a->fsync && fsync(a->fd) != 0 && errno != EINVAL) {
        a->errnum = errno;
        return a->error = AGENTAUTHZ_EIO;
    }
    return 0;
}

static void out_reset(az_audit *a)
{
    a->out.len = 0;
    a->written = 0;
    a->pending = 0;
    if (a->out.p)
        a->out.p[0] = '\0';
}

static bool flush_due(const az_audit *a)
{
    if (a->fd < 0)
        return false;
    if (a->flush == AGENTAUTHZ_AUDIT_FLUSH_RECORD)
        return true;
    if (a->flush == AGENTAUTHZ_AUDIT_FLUSH_EVERY_N && a->pending >= a->flush_every)
        return true;
    return a->out.len - a->written >= AZ_AUDIT_BUFFER;
}

/* ---- appending a record (under the lock) ---- */

static int frame_record(az_audit *a, const az_buf *body, uint64_t seq, unsigned char mac[32])
{
    size_t start = a->out.len;
    char hex[AZ_AUDIT_HEX + 1];
    int rc = az_buf_printf(&a->out, PREFIX "%" PRIu64 ",", seq);
    if (!rc)
        rc = az_buf_append(&a->out, body->p, body->len);
    sodium_bin2hex(hex, sizeof hex, a->prev, sizeof a->prev);
    if (!rc)
        rc = az_buf_printf(&a->out, PREV_KEY "%s\"", hex);
    if (!rc)
        rc = az_audit_mac(a->keys, a->prev, a->out.p + start, a->out.len - start, mac);
    if (!rc) {
        sodium_bin2hex(hex, sizeof hex, mac, AZ_AUDIT_MAC_BYTES);
        rc = az_buf_printf(&a->out, MAC_KEY "%s\"}\n", hex);
    }
    return rc;
}

/*
 * Appends one record to the chain and hands it to the sinks. A record the
 * file sink could not start to write, or the callback refused, is taken back
 * (seq and prev restored), so the engine denies an action whose record is
 * not in the log; one that the file holds part of stays in the chain (the
 * verifier will report a cut line), and its action is denied all the same.
 */
static int append_record(az_audit *a, const az_buf *body)
{
    size_t start = a->out.len;
    unsigned char mac[AZ_AUDIT_MAC_BYTES], old[AZ_AUDIT_MAC_BYTES];
    int rc = frame_record(a, body, a->seq + 1, mac);
    if (rc)
        goto undo;
    memcpy(old, a->prev, sizeof old);
    memcpy(a->prev, mac, sizeof mac);
    a->seq++;
    a->pending++;
    if (flush_due(a) && (rc = write_out(a)) != 0)
        goto taken_back;
    /* The callback comes after the file, so that it never sees a record taken back. */
    if (a->cb && a->cb(a->out.p + start, a->out.len - start, a->ctx) != 0) {
        rc = AGENTAUTHZ_EIO;
        goto taken_back;
    }
    if (a->fd < 0 || a->written == a->out.len)
        out_reset(a);
    return 0;
taken_back:
    if (a->written > start)
        return rc; /* the file holds part of it: it stays in the chain */
    memcpy(a->prev, old, sizeof old);
    a->seq--;
    a->pending--;
undo:
    a->out.len = start;
    if (a->out.p)
        a->out.p[start] = '\0';
    return rc;
}

int az_audit_emit(az_audit *a, const az_audit_event *ev)
{
    az_buf body = {NULL, 0, 0, BODY_MAX};
    int rc;
    if (!a || !ev || (unsigned)ev->kind >= AZ_AUDIT_KIND_COUNT)
        return AGENTAUTHZ_EINVAL;
    rc = format_body(ev, &body);
    if (!rc)
        rc = format_tail(a, ev, &body);
    if (rc)
        goto out;
    pthread_mutex_lock(&a->lock);
    rc = a->error ? a->error : append_record(a, &body);
    pthread_mutex_unlock(&a->lock);
out:
    az_buf_free(&body);
    return rc;
}

/* ---- flush, reopen, resume ---- */

static int io_error(const az_audit *a, agentauthz_error *err, const char *what)
{
    return az_error_set(err, AGENTAUTHZ_EIO, a->path, 0, 0, 0, "audit log: %s: %s", what,
                        strerror(a->errnum));
}

static int flush_locked(az_audit *a, agentauthz_error *err)
{
    if (a->error)
        return io_error(a, err, "an earlier write failed");
    if (a->fd < 0 || a->written == a->out.len)
        return 0;
    if (write_out(a) != 0)
        return io_error(a, err, "write");
    out_reset(a);
    return 0;
}

int az_audit_flush(az_audit *a, agentauthz_error *err)
{
    int rc;
    if (!a)
        return az_error_set(err, AGENTAUTHZ_EINVAL, NULL, 0, 0, 0, "audit log: no log");
    pthread_mutex_lock(&a->lock);
    rc = flush_locked(a, err);
    pthread_mutex_unlock(&a->lock);
    return rc;
}

/*
 * After a write that stopped inside a record, the rest of that record cannot
 * be completed in another file; skip it, so that the new file starts with a
 * whole record (the verifier reports the cut line in the old file).
 */
static void skip_partial(az_audit *a)
{
    const char *nl;
    if (a->written == 0 || a->out.p[a->written - 1] == '\n')
        return;
    nl = memchr(a->out.p + a->written, '\n', a->out.len - a->written);
    a->written = nl ? (size_t)(nl - a->out.p) + 1 : a->out.len;
}

static int reopen_locked(az_audit *a, agentauthz_error *err)
{
    int fd;
    if (!a->error && a->fd >= 0)
        write_out(a); /* a failure here leaves the records buffered for the new file */
    if (a->fd >= 0)
        close(a->fd);
    a->fd = -1;
    fd = open(a->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        a->errnum = errno;
        a->error = AGENTAUTHZ_EIO;
        return io_error(a, err, "open");
    }
    a->fd = fd;
    a->error = 0;
    skip_partial(a);
    if (write_out(a) != 0)
        return io_error(a, err, "write");
    out_reset(a);
    return 0;
}

int az_audit_reopen(az_audit *a, agentauthz_error *err)
{
    int rc;
    if (!a)
        return az_error_set(err, AGENTAUTHZ_EINVAL, NULL, 0, 0, 0, "audit log: no log");
    if (!a->path)
        return 0;
    pthread_mutex_lock(&a->lock);
    rc = reopen_locked(a, err);
    pthread_mutex_unlock(&a->lock);
    return rc;
}

uint64_t az_audit_seq(az_audit *a)
{
    uint64_t seq;
    if (!a)
        return 0;
    pthread_mutex_lock(&a->lock);
    seq = a->seq;
    pthread_mutex_unlock(&a->lock);
    return seq;
}

static int pread_all(int fd, char *buf, size_t len, off_t at)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = pread(fd, buf + got, len - got, at + (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0)
            errno = EIO; /* the file shrank under us */
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    return 0;
}

static int tamper(const az_audit *a, agentauthz_error *err, const char *why)
{
    return az_error_set(err, AGENTAUTHZ_ETAMPER, a->path, 0, 0, 0, "audit log: cannot resume: %s",
                        why);
}

/* Checks the last line of buf (the file's tail) and continues the chain from it. */
static int resume_from(az_audit *a, const char *buf, size_t len, bool whole, agentauthz_error *err)
{
    az_audit_frame f;
    unsigned char mac[AZ_AUDIT_MAC_BYTES];
    const char *why, *start;
    size_t i;
    if (buf[len - 1] != '\n')
        return tamper(a, err, "the last line is incomplete");
    for (i = len - 1; i > 0 && buf[i - 1] != '\n'; i--)
        ;
    if (i == 0 && !whole)
        return tamper(a, err, "the last line is too long");
    start = buf + i;
    if (az_audit_frame_parse(start, len - 1 - i, &f, &why) != 0)
        return tamper(a, err, why);
    if (az_audit_mac(a->keys, f.prev, start, f.signed_len, mac) != 0)
        return az_error_set(err, AGENTAUTHZ_ECRYPTO, a->path, 0, 0, 0, "audit log: MAC failed");
    if (sodium_memcmp(mac, f.mac, sizeof mac) != 0)
        return tamper(a, err, "the last record's MAC does not verify (edited, or another key)");
    a->seq = f.seq;
    memcpy(a->prev, f.mac, sizeof a->prev);
    return 0;
}

/* Reads at most one line's worth of the file's end and resumes from its last record. */
static int resume(az_audit *a, agentauthz_error *err)
{
    struct stat st;
    char *buf = NULL;
    size_t size, want;
    int rc;
    if (fstat(a->fd, &st) != 0) {
        a->errnum = errno;
        return io_error(a, err, "stat");
    }
    if (!S_ISREG(st.st_mode) || st.st_size <= 0)
        return 0;
    size = (size_t)st.st_size;
    want = size < AZ_AUDIT_LINE_MAX + 1 ? size : AZ_AUDIT_LINE_MAX + 1;
    buf = malloc(want);
    if (!buf)
        return az_error_set(err, AGENTAUTHZ_ENOMEM, a->path, 0, 0, 0, "out of memory");
    if (pread_all(a->fd, buf, want, (off_t)(size - want)) != 0) {
        a->errnum = errno;
        rc = io_error(a, err, "read");
        goto out;
    }
    rc = resume_from(a, buf, want, want == size, err);
out:
    free(buf);
    return rc;
}

/* ---- construction ---- */

static int check_options(const agentauthz_audit_options *opt, const unsigned char *key)
{
    if (!opt || !key || opt->version != AGENTAUTHZ_AUDIT_OPTIONS_VERSION)
        return -1;
    if (!opt->path && !opt->callback)
        return -1;
    if (opt->flush != AGENTAUTHZ_AUDIT_FLUSH_NONE && opt->flush != AGENTAUTHZ_AUDIT_FLUSH_RECORD &&
        opt->flush != AGENTAUTHZ_AUDIT_FLUSH_EVERY_N)
        return -1;
    return (opt->flush == AGENTAUTHZ_AUDIT_FLUSH_EVERY_N && opt->flush_every == 0) ? -1 : 0;
}

/* The MAC key and a derived key for argument digests, in guarded read-only memory. */
static int make_keys(az_audit *a, const unsigned char key[32])
{
    a->keys = sodium_malloc(2 * AZ_KEY_BYTES);
    if (!a->keys)
        return AGENTAUTHZ_ENOMEM;
    memcpy(a->keys, key, AZ_KEY_BYTES);
    if (crypto_kdf_derive_from_key(a->keys + AZ_KEY_BYTES, AZ_KEY_BYTES, 1, "azaudarg", key) != 0)
        return AGENTAUTHZ_ECRYPTO;
    return sodium_mprotect_readonly(a->keys) != 0 ? AGENTAUTHZ_ECRYPTO : 0;
}

static int open_file(az_audit *a, const char *path, agentauthz_error *err)
{
    a->path = strdup(path);
    if (!a->path)
        return az_error_set(err, AGENTAUTHZ_ENOMEM, path, 0, 0, 0, "out of memory");
    /* Read access too, to check the last record of a file being resumed. */
    a->fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (a->fd < 0) {
        a->errnum = errno;
        return io_error(a, err, "open");
    }
    return resume(a, err);
}

static int audit_init(az_audit *a, const agentauthz_audit_options *opt, const unsigned char key[32],
                      agentauthz_error *err)
{
    int rc;
    a->fd = -1;
    a->flush = opt->flush;
    a->flush_every = opt->flush_every;
    a->fsync = opt->fsync != 0;
    a->cb = opt->callback;
    a->ctx = opt->ctx;
    a->out.max = AZ_AUDIT_BUFFER + AZ_AUDIT_LINE_MAX;
    if (pthread_mutex_init(&a->lock, NULL) != 0)
        return az_error_set(err, AGENTAUTHZ_ENOMEM, NULL, 0, 0, 0, "audit log: no mutex");
    a->has_lock = true;
    rc = make_keys(a, key);
    if (rc)
        return az_error_set(err, rc, NULL, 0, 0, 0, "audit log: cannot set up the key");
    return opt->path ? open_file(a, opt->path, err) : 0;
}

int az_audit_new(az_audit **out, const agentauthz_audit_options *opt, const unsigned char key[32],
                 agentauthz_error *err)
{
    az_audit *a = NULL;
    int rc;
    if (!out || check_options(opt, key) != 0)
        return az_error_set(err, AGENTAUTHZ_EINVAL, NULL, 0, 0, 0, "audit log: bad options");
    *out = NULL;
    if (sodium_init() < 0)
        return az_error_set(err, AGENTAUTHZ_ECRYPTO, NULL, 0, 0, 0, "libsodium init failed");
    a = calloc(1, sizeof *a);
    if (!a)
        return az_error_set(err, AGENTAUTHZ_ENOMEM, NULL, 0, 0, 0, "out of memory");
    rc = audit_init(a, opt, key, err);
    if (rc) {
        az_audit_free(a);
        return rc;
    }
    *out = a;
    return 0;
}

void az_audit_free(az_audit *a)
{
    if (!a)
        return;
    if (a->fd >= 0) {
        if (!a->error)
            write_out(a);
        close(a->fd);
    }
    if (a->keys) {
        sodium_mprotect_readwrite(a->keys);
        sodium_free(a->keys);
    }
    if (a->has_lock)
        pthread_mutex_destroy(&a->lock);
    az_buf_free(&a->out);
    free(a->path);
    free(a);
}

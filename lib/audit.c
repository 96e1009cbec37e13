/*
 * The tamper-evident audit log: record formatting, the MAC chain and the
 * file and callback sinks. Verification is in audit_verify.c.
 *
 * Record schema, version 2 (documented in agentauthz_engine_set_audit(3)).
 * One record is one line of UTF-8 JSON ending in '\n', at most 1 MiB with
 * the newline. Keys appear in this order; keys marked * are omitted when
 * they do not apply:
 *
 *   v          2, the schema version
 *   seq        the record's number: 1 for the start record of a log, +1 for
 *              each record after, across rotated files
 *   log        the log's id, 32 hex digits, random at its start
 *   time       the event's wall time, RFC 3339 UTC with nanoseconds
 *              ("2025-01-31T12:00:00.000000001Z")
 *   event      open | close | revoke | expire | check | approve | lease |
 *              lease_refused | reload, and the log's own records: start |
 *              resume | checkpoint
 *   engine*    the engine's name
 *   key*       start and resume: the engine's public key, "azpk1...."
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
 *   sig*       start, resume, checkpoint: hex Ed25519 signature of
 *              "azaudit2" || BLAKE2b-256(signed part without the sig field)
 *   prev       hex BLAKE2b-256 (unkeyed) of the signed part of the record
 *              before (64 zeros for seq 1): the chain a holder of the public
 *              key alone can recompute, and that checkpoints sign
 *   mac        hex BLAKE2b-256 keyed with the audit key over the 32 bytes of
 *              this record's own BLAKE2b-256
 *
 * The signed part is the line up to and including the prev field
 * (everything before ',"mac":'). Strings are escaped as JSON; invalid UTF-8
 * becomes U+FFFD. A string field longer than 4 KiB escaped is cut at a
 * character boundary and ends with "[truncated: N bytes]" (N the original
 * length), and a string holding the value of a secret (as the engine's
 * scanner says) is written "[redacted]", so no record can outgrow the line
 * bound or leak a secret. Argument digests use a key derived from the audit
 * key (crypto_kdf, context "azaudarg", id 1), so a low-entropy value cannot
 * be found by hashing guesses without the key. Version 1 logs (prev the MAC
 * of the record before, mac keyed over it and the signed part; no log, key,
 * sig or start record) are still verified, never appended to.
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

#define PREFIX_V1 "{\"v\":1,\"seq\":"
#define PREFIX "{\"v\":2,\"seq\":"
#define PREFIX_LEN (sizeof PREFIX - 1)
#define LOG_KEY ",\"log\":\""
#define LOG_KEY_LEN (sizeof LOG_KEY - 1)
#define LOG_HEX (2u * AZ_AUDIT_LOG_ID_BYTES)
#define PREV_KEY ",\"prev\":\""
#define PREV_KEY_LEN (sizeof PREV_KEY - 1)
#define MAC_KEY ",\"mac\":\""
#define MAC_KEY_LEN (sizeof MAC_KEY - 1)
#define SIG_KEY ",\"sig\":\""
#define SIG_KEY_LEN (sizeof SIG_KEY - 1)
#define SIG_HEX (2u * AZ_AUDIT_SIG_BYTES)
#define EVENT_KEY ",\"event\":\""
#define EVENT_KEY_LEN (sizeof EVENT_KEY - 1)
/* ',"log":"<32 hex>",' ',"prev":"<64 hex>"', ',"mac":"<64 hex>"}', ',"sig":"<128 hex>"' */
#define LOG_PART (LOG_KEY_LEN + LOG_HEX + 2)
#define PREV_PART (PREV_KEY_LEN + AZ_AUDIT_HEX + 1)
#define MAC_PART (MAC_KEY_LEN + AZ_AUDIT_HEX + 2)
#define SIG_PART (SIG_KEY_LEN + SIG_HEX + 1)
/* Room left for the framing around a body: prefix, seq, log, sig, prev, mac, '\n'. */
#define BODY_MAX (AZ_AUDIT_LINE_MAX - 512u)
/* The domain of the audit log's signatures (tokens sign other messages). */
#define SIG_DOMAIN "azaudit2"

struct az_audit {
    pthread_mutex_t lock;
    char *path;
    int fd; /* -1 without a file sink */
    agentauthz_audit_flush flush;
    size_t flush_every;
    size_t checkpoint_every; /* 0: checkpoints only at a reopen and at close */
    bool fsync;
    agentauthz_audit_fn cb;
    void *ctx;
    const agentauthz_keys *signer; /* borrowed: signs start, resume, checkpoint */
    char *engine;                  /* the engine's name, or NULL */
    agentauthz_clock_fn wall;
    void *wall_ctx;
    unsigned char *keys; /* guarded: the MAC key, then the argument-digest key */
    unsigned char log[AZ_AUDIT_LOG_ID_BYTES];
    char log_hex[LOG_HEX + 1];
    uint64_t seq;        /* the last record appended */
    uint64_t signed_seq; /* the last signed record appended */
    unsigned char prev[AZ_AUDIT_MAC_BYTES]; /* the digest of the last record */
    az_buf out;     /* records not yet written to the file */
    size_t written; /* bytes of out already written */
    size_t pending; /* records in out */
    int error;      /* sticky write error, cleared by reopen */
    int errnum;     /* errno of that error, for messages */
    bool has_lock;  /* the mutex was initialised (for az_audit_free) */
};

static const char *const kind_names[AZ_AUDIT_KIND_COUNT] = {
    "open",   "close",  "revoke", "expire",     "check", "approve", "lease", "lease_refused",
    "reload", "observe", "start", "resume", "checkpoint",
};

const char *az_audit_kind_name(az_audit_kind k)
{
    return (unsigned)k < AZ_AUDIT_KIND_COUNT ? kind_names[k] : "unknown";
}

/* ---- framing ---- */

int az_audit_mac_v1(const unsigned char key[32], const unsigned char prev[32], const char *line,
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

int az_audit_digest(const char *line, size_t signed_len, unsigned char digest[32])
{
    return crypto_generichash_blake2b(digest, 32, (const unsigned char *)line, signed_len, NULL,
                                      0) != 0
               ? AGENTAUTHZ_ECRYPTO
               : 0;
}

int az_audit_mac(const unsigned char key[32], const unsigned char digest[32],
                 unsigned char mac[32])
{
    return crypto_generichash_blake2b(mac, 32, digest, 32, key, 32) != 0 ? AGENTAUTHZ_ECRYPTO : 0;
}

int az_audit_sig_message(const char *line, const az_audit_frame *f,
                         unsigned char msg[AZ_AUDIT_SIGMSG_BYTES])
{
    crypto_generichash_blake2b_state st;
    const unsigned char *l = (const unsigned char *)line;
    size_t after = f->sig_at + SIG_PART;
    int rc;
    if (!f->sig_at || after > f->signed_len)
        return AGENTAUTHZ_EINVAL;
    memcpy(msg, SIG_DOMAIN, 8);
    rc = crypto_generichash_blake2b_init(&st, NULL, 0, 32);
    if (!rc)
        rc = crypto_generichash_blake2b_update(&st, l, f->sig_at);
    if (!rc)
        rc = crypto_generichash_blake2b_update(&st, l + after, f->signed_len - after);
    if (!rc)
        rc = crypto_generichash_blake2b_final(&st, msg + 8, 32);
    return rc ? AGENTAUTHZ_ECRYPTO : 0;
}

/* Strict lowercase hex, as the writer produces it; anything else is malformed. */
static int hex_decode(const char *s, unsigned char *out, size_t nbytes)
{
    for (size_t i = 0; i < 2 * nbytes; i++) {
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

/* The ',"log":"<hex>",' field after seq (version 2); the body starts after it. */
static int parse_log(const char *line, size_t len, size_t comma, az_audit_frame *f)
{
    if (len < comma + LOG_PART || memcmp(line + comma, LOG_KEY, LOG_KEY_LEN) != 0 ||
        hex_decode(line + comma + LOG_KEY_LEN, f->log, AZ_AUDIT_LOG_ID_BYTES) != 0 ||
        memcmp(line + comma + LOG_KEY_LEN + LOG_HEX, "\",", 2) != 0)
        return -1;
    f->body_at = comma + LOG_PART;
    return 0;
}

/* The ',"sig":"<hex>"' field that ends a signed record's body, if there is one. */
static void parse_sig(const char *line, size_t prev_at, az_audit_frame *f)
{
    size_t at;
    f->sig_at = 0;
    if (prev_at < f->body_at + SIG_PART)
        return;
    at = prev_at - SIG_PART;
    /* A string value cannot hold this: its quotes would be escaped. */
    if (memcmp(line + at, SIG_KEY, SIG_KEY_LEN) == 0 && line[prev_at - 1] == '"' &&
        hex_decode(line + at + SIG_KEY_LEN, f->sig, AZ_AUDIT_SIG_BYTES) == 0)
        f->sig_at = at;
}

/*
 * The event name: the body starts '"time":"<time>","event":"<name>"', both
 * values written by the writer without escapes.
 */
static void parse_event(const char *line, size_t end, az_audit_frame *f)
{
    const char *p = line + f->body_at, *stop = line + end, *q;
    f->event = NULL;
    f->event_len = 0;
    if ((size_t)(stop - p) < 8 || memcmp(p, "\"time\":\"", 8) != 0)
        return;
    q = memchr(p + 8, '"', (size_t)(stop - p - 8));
    if (!q || (size_t)(stop - q) < EVENT_KEY_LEN + 1 ||
        memcmp(q, "\"" EVENT_KEY, 1 + EVENT_KEY_LEN) != 0)
        return;
    p = q + 1 + EVENT_KEY_LEN;
    q = memchr(p, '"', (size_t)(stop - p));
    if (!q)
        return;
    f->event = p;
    f->event_len = (size_t)(q - p);
}

/* The ',"prev":...,"mac":...}' tail shared by both versions. */
static int parse_tail(const char *line, size_t len, size_t min, az_audit_frame *f,
                      size_t *prev_at, const char **why)
{
    *why = "bad mac field";
    f->signed_len = len - MAC_PART;
    if (memcmp(line + f->signed_len, MAC_KEY, MAC_KEY_LEN) != 0 ||
        memcmp(line + len - 2, "\"}", 2) != 0 ||
        hex_decode(line + f->signed_len + MAC_KEY_LEN, f->mac, AZ_AUDIT_MAC_BYTES) != 0)
        return -1;
    *why = "bad prev field";
    if (f->signed_len < min + PREV_PART)
        return -1;
    *prev_at = f->signed_len - PREV_PART;
    if (memcmp(line + *prev_at, PREV_KEY, PREV_KEY_LEN) != 0 || line[f->signed_len - 1] != '"' ||
        hex_decode(line + *prev_at + PREV_KEY_LEN, f->prev, AZ_AUDIT_MAC_BYTES) != 0)
        return -1;
    return 0;
}

int az_audit_frame_parse(const char *line, size_t len, az_audit_frame *f, const char **why)
{
    size_t comma = 0, prev_at = 0;
    memset(f, 0, sizeof *f);
    *why = "not an audit record";
    if (len < PREFIX_LEN + 2 + PREV_PART + MAC_PART)
        return -1;
    if (memcmp(line, PREFIX, PREFIX_LEN) == 0)
        f->version = 2;
    else if (memcmp(line, PREFIX_V1, PREFIX_LEN) == 0)
        f->version = 1;
    else
        return -1;
    *why = "bad sequence number";
    if (parse_seq(line, len, &f->seq, &comma) != 0)
        return -1;
    *why = "bad log field";
    if (f->version == 2 && parse_log(line, len, comma, f) != 0)
        return -1;
    if (parse_tail(line, len, f->version == 2 ? f->body_at : comma + 1, f, &prev_at, why) != 0)
        return -1;
    if (f->version == 2) {
        parse_sig(line, prev_at, f);
        parse_event(line, f->sig_at ? f->sig_at : prev_at, f);
    }
    *why = NULL;
    return 0;
}

/*
 * Finds ',"name":"' in a signed record's body (start and resume records are
 * written by this file, with no field that could hold that text unescaped)
 * and the end of its string value.
 */
int az_audit_body_string(const char *line, const az_audit_frame *f, const char *name,
                         size_t *at, size_t *len)
{
    char key[32];
    size_t klen, i, end = f->sig_at ? f->sig_at : f->signed_len;
    int n = snprintf(key, sizeof key, ",\"%s\":\"", name);
    const char *p;
    if (n <= 0 || (size_t)n >= sizeof key || end <= f->body_at)
        return -1;
    klen = (size_t)n;
    p = memmem(line + f->body_at, end - f->body_at, key, klen);
    if (!p)
        return -1;
    *at = (size_t)(p - line) + klen;
    for (i = *at; i < end && line[i] != '"'; i++)
        if (line[i] == '\\')
            i++;
    if (i >= end)
        return -1;
    *len = i - *at;
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

int az_audit_escape(az_buf *b, const char *s, size_t len)
{
    size_t i = 0, out = 0;
    return put_escaped(b, s, len, &i, &out);
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

/*
 * Signs the record being framed at out[start..): the message covers the
 * line so far and the prev field (everything the record's MAC covers but
 * the signature), and the ',"sig":"..."' field goes in before prev.
 */
static int insert_sig(az_audit *a, size_t start, size_t prev_at)
{
    char prevpart[PREV_PART], hex[SIG_HEX + 1];
    unsigned char msg[AZ_AUDIT_SIGMSG_BYTES], sig[AZ_AUDIT_SIG_BYTES];
    crypto_generichash_blake2b_state st;
    int rc = crypto_generichash_blake2b_init(&st, NULL, 0, 32);
    if (!rc)
        rc = crypto_generichash_blake2b_update(&st, (const unsigned char *)a->out.p + start,
                                               a->out.len - start);
    if (!rc)
        rc = crypto_generichash_blake2b_final(&st, msg + 8, 32);
    if (rc)
        return AGENTAUTHZ_ECRYPTO;
    memcpy(msg, SIG_DOMAIN, 8);
    rc = az_keys_sign(a->signer, msg, sizeof msg, sig);
    if (rc)
        return rc;
    memcpy(prevpart, a->out.p + prev_at, PREV_PART);
    a->out.len = prev_at;
    sodium_bin2hex(hex, sizeof hex, sig, sizeof sig);
    rc = az_buf_printf(&a->out, SIG_KEY "%s\"", hex);
    return rc ? rc : az_buf_append(&a->out, prevpart, PREV_PART);
}

/* Frames body as record seq (signed when sign is set); *digest gets its link. */
static int frame_record(az_audit *a, const az_buf *body, bool sign, uint64_t seq,
                        unsigned char digest[32])
{
    size_t start = a->out.len, prev_at;
    char hex[AZ_AUDIT_HEX + 1];
    unsigned char mac[AZ_AUDIT_MAC_BYTES];
    int rc = az_buf_printf(&a->out, PREFIX "%" PRIu64 LOG_KEY "%s\",", seq, a->log_hex);
    if (!rc)
        rc = az_buf_append(&a->out, body->p, body->len);
    prev_at = a->out.len;
    sodium_bin2hex(hex, sizeof hex, a->prev, sizeof a->prev);
    if (!rc)
        rc = az_buf_printf(&a->out, PREV_KEY "%s\"", hex);
    if (!rc && sign)
        rc = insert_sig(a, start, prev_at);
    if (!rc)
        rc = az_audit_digest(a->out.p + start, a->out.len - start, digest);
    if (!rc)
        rc = az_audit_mac(a->keys, digest, mac);
    if (!rc) {
        sodium_bin2hex(hex, sizeof hex, mac, sizeof mac);
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
static int append_record(az_audit *a, const az_buf *body, bool sign)
{
    size_t start = a->out.len;
    unsigned char digest[AZ_AUDIT_MAC_BYTES], old[AZ_AUDIT_MAC_BYTES];
    int rc = frame_record(a, body, sign, a->seq + 1, digest);
    if (rc)
        goto undo;
    memcpy(old, a->prev, sizeof old);
    memcpy(a->prev, digest, sizeof digest);
    a->seq++;
    a->pending++;
    if (flush_due(a) && (rc = write_out(a)) != 0)
        goto taken_back;
    /* The callback comes after the file, so that it never sees a record taken back. */
    if (a->cb && a->cb(a->out.p + start, a->out.len - start, a->ctx) != 0) {
        rc = AGENTAUTHZ_EIO;
        goto taken_back;
    }
    if (sign)
        a->signed_seq = a->seq;
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

static uint64_t wall_now(const az_audit *a)
{
    return a->wall ? a->wall(a->wall_ctx) : az_realtime_ns();
}

/*
 * A record the log writes by itself, signed with the engine's key: start and
 * resume name the engine (its name and public key), a checkpoint signs the
 * chain so far (its prev field is the digest of the record before, which
 * links back to the start), so a holder of the public key alone can check
 * every record up to it.
 */
static int append_signed(az_audit *a, az_audit_kind kind, uint64_t time_ns)
{
    az_buf body = {NULL, 0, 0, BODY_MAX};
    az_audit_event ev;
    char pk[AGENTAUTHZ_PUBKEY_TEXT_MAX];
    int rc;
    memset(&ev, 0, sizeof ev);
    rc = put_time(&body, time_ns);
    if (!rc)
        rc = az_buf_printf(&body, ",\"event\":\"%s\"", az_audit_kind_name(kind));
    if (!rc && kind != AZ_AUDIT_CHECKPOINT) {
        rc = put_field(&body, "engine", a->engine, &ev);
        if (!rc)
            rc = agentauthz_keys_public(a->signer, pk, sizeof pk);
        if (!rc)
            rc = az_buf_printf(&body, ",\"key\":\"%s\"", pk);
    }
    if (!rc)
        rc = append_record(a, &body, true);
    az_buf_free(&body);
    return rc;
}

/* A checkpoint when records follow the last signed one (at a reopen and at close). */
static int checkpoint_if_due(az_audit *a)
{
    if (a->error || a->seq == a->signed_seq)
        return a->error;
    return append_signed(a, AZ_AUDIT_CHECKPOINT, wall_now(a));
}

/*
 * Every checkpoint_every records, a checkpoint. One that cannot be written
 * does not undo the record before it, which is in the log: the next record
 * tries again (a failed file write is sticky and denies it anyway).
 */
static void checkpoint_periodic(az_audit *a, uint64_t time_ns)
{
    if (a->checkpoint_every && a->seq - a->signed_seq >= a->checkpoint_every)
        (void)append_signed(a, AZ_AUDIT_CHECKPOINT, time_ns);
}

int az_audit_emit(az_audit *a, const az_audit_event *ev)
{
    az_buf body = {NULL, 0, 0, BODY_MAX};
    int rc;
    if (!a || !ev || (unsigned)ev->kind >= AZ_AUDIT_KIND_COUNT || ev->kind >= AZ_AUDIT_START)
        return AGENTAUTHZ_EINVAL;
    rc = format_body(ev, &body);
    if (!rc)
        rc = format_tail(a, ev, &body);
    if (rc)
        goto out;
    pthread_mutex_lock(&a->lock);
    rc = a->error ? a->error : append_record(a, &body, false);
    if (!rc)
        checkpoint_periodic(a, ev->time_ns);
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

/*
 * O_NOFOLLOW: a symbolic link planted at the log's path (by whoever can
 * write its directory) must not redirect the records into another file.
 */
static int open_log_file(const char *path, int flags)
{
    return open(path, flags | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
}

/* The error of a failed open; a symbolic link gets its own words. */
static int open_error(az_audit *a, agentauthz_error *err)
{
    struct stat st;
    if (a->errnum == ELOOP && lstat(a->path, &st) == 0 && S_ISLNK(st.st_mode))
        return az_error_set(err, AGENTAUTHZ_EIO, a->path, 0, 0, 0,
                            "audit log: open: the path is a symbolic link (refused)");
    return io_error(a, err, "open");
}

/*
 * A reopened file starts with a checkpoint: no file of a log is ever empty
 * (so an emptied file is evidence), and each file can be checked by the
 * public key from its first line.
 */
static int begin_file(az_audit *a, agentauthz_error *err)
{
    int rc = append_signed(a, AZ_AUDIT_CHECKPOINT, wall_now(a));
    if (rc == AGENTAUTHZ_EIO && a->error)
        return io_error(a, err, "write");
    return rc ? az_error_set(err, rc, a->path, 0, 0, 0,
                             "audit log: the checkpoint of the reopened file was not written")
              : 0;
}

static int reopen_locked(az_audit *a, agentauthz_error *err)
{
    int fd;
    /* The old file ends with a checkpoint: a pubkey-only verifier checks all of it. */
    if (!a->error && a->fd >= 0 && checkpoint_if_due(a) == 0)
        write_out(a); /* a failure here leaves the records buffered for the new file */
    if (a->fd >= 0)
        close(a->fd);
    a->fd = -1;
    fd = open_log_file(a->path, O_WRONLY);
    if (fd < 0) {
        a->errnum = errno;
        a->error = AGENTAUTHZ_EIO;
        return open_error(a, err);
    }
    a->fd = fd;
    a->error = 0;
    skip_partial(a);
    if (write_out(a) != 0)
        return io_error(a, err, "write");
    out_reset(a);
    return begin_file(a, err);
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

int az_audit_close(az_audit *a, agentauthz_error *err)
{
    int rc;
    if (!a)
        return az_error_set(err, AGENTAUTHZ_EINVAL, NULL, 0, 0, 0, "audit log: no log");
    pthread_mutex_lock(&a->lock);
    rc = checkpoint_if_due(a);
    if (rc && !a->error)
        rc = az_error_set(err, rc, a->path, 0, 0, 0, "audit log: the checkpoint was not written");
    else
        rc = flush_locked(a, err);
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
    unsigned char mac[AZ_AUDIT_MAC_BYTES], digest[AZ_AUDIT_MAC_BYTES];
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
    if (f.version != AZ_AUDIT_SCHEMA)
        return az_error_set(err, AGENTAUTHZ_EINVAL, a->path, 0, 0, 0,
                            "audit log: cannot resume: the file holds a version %u log; "
                            "rotate it (rename it away) to start a version 2 log",
                            f.version);
    if (az_audit_digest(start, f.signed_len, digest) != 0 ||
        az_audit_mac(a->keys, digest, mac) != 0)
        return az_error_set(err, AGENTAUTHZ_ECRYPTO, a->path, 0, 0, 0, "audit log: MAC failed");
    if (sodium_memcmp(mac, f.mac, sizeof mac) != 0)
        return tamper(a, err, "the last record's MAC does not verify (edited, or another key)");
    a->seq = f.seq;
    a->signed_seq = f.sig_at ? f.seq : 0;
    memcpy(a->log, f.log, sizeof a->log);
    memcpy(a->prev, digest, sizeof a->prev);
    return 0;
}

/*
 * Reads at most one line's worth of the file's end and resumes from its last
 * record; *resumed says whether the file held one.
 */
static int resume(az_audit *a, bool *resumed, agentauthz_error *err)
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
    *resumed = rc == 0;
out:
    free(buf);
    return rc;
}

/* ---- construction ---- */

static int check_options(const agentauthz_audit_options *opt, const az_audit_writer *w)
{
    if (!opt || !w || !w->keys || opt->version < 1 ||
        opt->version > AGENTAUTHZ_AUDIT_OPTIONS_VERSION)
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

static int open_file(az_audit *a, const char *path, bool *resumed, agentauthz_error *err)
{
    a->path = strdup(path);
    if (!a->path)
        return az_error_set(err, AGENTAUTHZ_ENOMEM, path, 0, 0, 0, "out of memory");
    /* Read access too, to check the last record of a file being resumed. */
    a->fd = open_log_file(path, O_RDWR);
    if (a->fd < 0) {
        a->errnum = errno;
        return open_error(a, err);
    }
    return resume(a, resumed, err);
}

/* The first record: start (and a random id) for a new log, resume for an old one. */
static int begin(az_audit *a, bool resumed, agentauthz_error *err)
{
    int rc;
    if (!resumed) {
        randombytes_buf(a->log, sizeof a->log);
        memset(a->prev, 0, sizeof a->prev);
    }
    sodium_bin2hex(a->log_hex, sizeof a->log_hex, a->log, sizeof a->log);
    rc = append_signed(a, resumed ? AZ_AUDIT_RESUME : AZ_AUDIT_START, wall_now(a));
    if (rc == AGENTAUTHZ_EIO && a->error)
        return io_error(a, err, "write");
    if (rc)
        return az_error_set(err, rc, a->path, 0, 0, 0, "audit log: the %s record was not written",
                            resumed ? "resume" : "start");
    return 0;
}

static int audit_init(az_audit *a, const agentauthz_audit_options *opt, const az_audit_writer *w,
                      agentauthz_error *err)
{
    bool resumed = false;
    int rc;
    a->fd = -1;
    a->flush = opt->flush;
    a->flush_every = opt->flush_every;
    a->checkpoint_every = opt->version >= 2 ? opt->checkpoint_every
                                            : AGENTAUTHZ_AUDIT_CHECKPOINT_EVERY;
    a->fsync = opt->fsync != 0;
    a->cb = opt->callback;
    a->ctx = opt->ctx;
    a->signer = w->keys;
    a->wall = w->wall;
    a->wall_ctx = w->wall_ctx;
    a->out.max = AZ_AUDIT_BUFFER + AZ_AUDIT_LINE_MAX;
    if (pthread_mutex_init(&a->lock, NULL) != 0)
        return az_error_set(err, AGENTAUTHZ_ENOMEM, NULL, 0, 0, 0, "audit log: no mutex");
    a->has_lock = true;
    if (w->engine && !(a->engine = strndup(w->engine, AZ_MAX_NAME)))
        return az_error_set(err, AGENTAUTHZ_ENOMEM, NULL, 0, 0, 0, "out of memory");
    rc = make_keys(a, az_keys_audit_key(w->keys));
    if (rc)
        return az_error_set(err, rc, NULL, 0, 0, 0, "audit log: cannot set up the key");
    rc = opt->path ? open_file(a, opt->path, &resumed, err) : 0;
    return rc ? rc : begin(a, resumed, err);
}

int az_audit_new(az_audit **out, const agentauthz_audit_options *opt, const az_audit_writer *w,
                 agentauthz_error *err)
{
    az_audit *a = NULL;
    int rc;
    if (!out || check_options(opt, w) != 0)
        return az_error_set(err, AGENTAUTHZ_EINVAL, NULL, 0, 0, 0, "audit log: bad options");
    *out = NULL;
    if (sodium_init() < 0)
        return az_error_set(err, AGENTAUTHZ_ECRYPTO, NULL, 0, 0, 0, "libsodium init failed");
    a = calloc(1, sizeof *a);
    if (!a)
        return az_error_set(err, AGENTAUTHZ_ENOMEM, NULL, 0, 0, 0, "out of memory");
    rc = audit_init(a, opt, w, err);
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
    /* A log that began ends with a checkpoint, so that its end is signed. */
    if (a->log_hex[0])
        checkpoint_if_due(a);
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
    free(a->engine);
    free(a->path);
    free(a);
}

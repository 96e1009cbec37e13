/*
 * Loading a policy with diagnostics, JSON output, durations, files and the
 * hand-moved clock: what several subcommands need.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

void cli_print_diag(FILE *out, const agentauthz_error *e, const char *kind)
{
    const char *msg = e->message[0] ? e->message : agentauthz_strerror(e->code);
    const char *path = e->path[0] ? e->path : "agentauthz";
    /* Errors that are about a whole file (unreadable, too big) have no line. */
    if (e->line && e->column)
        fprintf(out, "%s:%lu:%lu: %s: %s\n", path, e->line, e->column, kind, msg);
    else if (e->line) /* A whole line (of an audit log), not a place in it. */
        fprintf(out, "%s:%lu: %s: %s\n", path, e->line, kind, msg);
    else
        fprintf(out, "%s: %s: %s\n", path, kind, msg);
}

static void on_diag(const agentauthz_error *diag, int is_warning, void *ctx)
{
    cli_diag_count *count = ctx;
    cli_print_diag(stderr, diag, is_warning ? "warning" : "error");
    if (is_warning)
        count->warnings++;
    else
        count->errors++;
}

int cli_keys_load(const char *path, agentauthz_keys **out, int *code)
{
    agentauthz_error err;
    int rc;
    memset(&err, 0, sizeof err);
    rc = agentauthz_keys_load_file(path, out, &err);
    if (rc == 0)
        return 0;
    /* The library's message names the file and never holds key bytes. */
    err.code = rc;
    if (!err.path[0])
        snprintf(err.path, sizeof err.path, "%s", path);
    cli_print_diag(stderr, &err, "error");
    *code = rc;
    return -1;
}

/* Starts the audit log: one write per record, so a crash loses none. */
static int start_audit(agentauthz_engine *e, const char *path, agentauthz_error *err)
{
    agentauthz_audit_options ao = AGENTAUTHZ_AUDIT_OPTIONS_INIT;
    ao.path = path;
    ao.flush = AGENTAUTHZ_AUDIT_FLUSH_RECORD;
    return agentauthz_engine_set_audit(e, &ao, err);
}

/* Creates the engine with the keys and audit log common asks for. */
static int engine_new(agentauthz_engine **e, const cli_common *common, agentauthz_clock_fn clock,
                      void *clock_ctx, agentauthz_error *err)
{
    agentauthz_engine_options eo = AGENTAUTHZ_ENGINE_OPTIONS_INIT;
    int rc;
    eo.clock = clock;
    eo.clock_ctx = clock_ctx;
    eo.keys = common->keys;
    rc = agentauthz_engine_new(e, &eo, err);
    if (rc == 0 && common->audit_path)
        rc = start_audit(*e, common->audit_path, err);
    return rc;
}

int cli_engine_load(agentauthz_engine **out, cli_common *common, const char *const *paths,
                    size_t npaths, agentauthz_clock_fn clock, void *clock_ctx,
                    cli_diag_count *count, int *code)
{
    agentauthz_load_options lo = AGENTAUTHZ_LOAD_OPTIONS_INIT;
    agentauthz_engine *e = NULL;
    agentauthz_error err;
    int rc;

    memset(&err, 0, sizeof err);
    if (common->keys_path && !common->keys &&
        cli_keys_load(common->keys_path, &common->keys, code) != 0) {
        count->errors++;
        return -1;
    }
    lo.on_diag = on_diag;
    lo.ctx = count;
    rc = engine_new(&e, common, clock, clock_ctx, &err);
    if (rc == 0)
        rc = agentauthz_engine_load(e, paths, npaths, &lo, &err);
    if (rc == 0) {
        *out = e;
        return 0;
    }
    /* Print the failure unless the diagnostics callback already did. */
    if (count->errors == 0) {
        err.code = rc;
        cli_print_diag(stderr, &err, "error");
        count->errors++;
    }
    *code = rc;
    agentauthz_engine_free(e);
    return -1;
}

/* The length of the valid UTF-8 sequence at s, or 0 if it is not valid. */
static size_t utf8_len(const unsigned char *s, size_t avail)
{
    size_t n;
    uint32_t cp;
    if (s[0] < 0xC2 || s[0] > 0xF4)
        return 0;
    n = s[0] < 0xE0 ? 2 : s[0] < 0xF0 ? 3 : 4;
    if (avail < n)
        return 0;
    cp = s[0] & (0x3Fu >> (n - 1));
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3Fu);
    }
    /* Overlong forms, surrogates and values past U+10FFFF are not UTF-8. */
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

int cli_find_bad_utf8(const char *s, size_t len, size_t *offset)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        size_t n = p[i] < 0x80 ? 1 : utf8_len(p + i, len - i);
        if (n == 0) {
            *offset = i;
            return 1;
        }
        i += n;
    }
    return 0;
}

static void json_escape_ascii(FILE *out, unsigned char c)
{
    switch (c) {
    case '"':
        fputs("\\\"", out);
        break;
    case '\\':
        fputs("\\\\", out);
        break;
    case '\n':
        fputs("\\n", out);
        break;
    case '\r':
        fputs("\\r", out);
        break;
    case '\t':
        fputs("\\t", out);
        break;
    case '\b':
        fputs("\\b", out);
        break;
    case '\f':
        fputs("\\f", out);
        break;
    default:
        if (c < 0x20 || c == 0x7F)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
}

void cli_json_string(FILE *out, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    fputc('"', out);
    while (i < len) {
        size_t n;
        if (p[i] < 0x80) {
            json_escape_ascii(out, p[i++]);
            continue;
        }
        n = utf8_len(p + i, len - i);
        if (n == 0) {
            fputs("\\ufffd", out);
            i++;
            continue;
        }
        fwrite(p + i, 1, n, out);
        i += n;
    }
    fputc('"', out);
}

void cli_json_decision(FILE *out, const agentauthz_decision *d)
{
    fputs("\"decision\":", out);
    cli_json_string(out, agentauthz_effect_name(d->effect),
                    strlen(agentauthz_effect_name(d->effect)));
    fputs(",\"rule\":", out);
    cli_json_string(out, d->rule, strnlen(d->rule, sizeof d->rule));
    fputs(",\"reason\":", out);
    cli_json_string(out, d->reason, strnlen(d->reason, sizeof d->reason));
}

void cli_session_deny(agentauthz_decision *d, const char *reason)
{
    memset(d, 0, sizeof *d);
    d->effect = AGENTAUTHZ_DENY;
    snprintf(d->rule, sizeof d->rule, "session");
    snprintf(d->reason, sizeof d->reason, "%s", reason);
}

int cli_open_refused(int code)
{
    return code == AGENTAUTHZ_ENOTASK || code == AGENTAUTHZ_EIDENTITY || code == AGENTAUTHZ_EPARAM;
}

static int unit_seconds(char unit, uint64_t *mult)
{
    switch (unit) {
    case 's':
        *mult = 1;
        return 0;
    case 'm':
        *mult = 60;
        return 0;
    case 'h':
        *mult = 3600;
        return 0;
    case 'd':
        *mult = 86400;
        return 0;
    default:
        return -1;
    }
}

int cli_parse_duration(const char *s, size_t len, uint64_t *ns)
{
    uint64_t v = 0, mult = 1;
    size_t i = 0;
    if (len == 0 || s[0] < '0' || s[0] > '9')
        return -1;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        uint64_t digit = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - digit) / 10)
            return -1;
        v = v * 10 + digit;
    }
    if (i < len && (i + 1 != len || unit_seconds(s[i], &mult) != 0))
        return -1;
    /* Seconds to nanoseconds, checked: a duration must not wrap the clock. */
    if (v > UINT64_MAX / mult / 1000000000u)
        return -1;
    *ns = v * mult * 1000000000u;
    return 0;
}

int cli_seconds_to_ns(double seconds, uint64_t *ns)
{
    /* 2^64 ns is about 584 years; refuse anything near it. */
    if (!isfinite(seconds) || seconds < 0 || seconds > 1.8e10)
        return -1;
    *ns = (uint64_t)(seconds * 1e9);
    return 0;
}

int cli_parse_uint(const char *s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    if (!s[0])
        return -1;
    for (; *s; s++) {
        uint64_t digit;
        if (*s < '0' || *s > '9')
            return -1;
        digit = (uint64_t)(*s - '0');
        /* v * 10 + digit <= max, checked without overflow. */
        if (digit > max || v > (max - digit) / 10)
            return -1;
        v = v * 10 + digit;
    }
    *out = v;
    return 0;
}

uint64_t cli_manual_clock(void *ctx)
{
    return *(const uint64_t *)ctx;
}

int cli_clock_advance(uint64_t *clock, uint64_t ns)
{
    if (ns > UINT64_MAX - *clock)
        return -1;
    *clock += ns;
    return 0;
}

/* Reads f to the end into a growing buffer capped at CLI_MAX_INPUT. */
static int read_stream(FILE *f, char **out, size_t *len)
{
    size_t cap = 0, n = 0;
    char *buf = NULL;
    errno = 0;
    for (;;) {
        size_t got;
        if (cap - n < 2) {
            size_t ncap = cap ? cap * 2 : 65536;
            char *grown = NULL;
            if (cap > CLI_MAX_INPUT) {
                free(buf);
                errno = EFBIG;
                return -1;
            }
            grown = realloc(buf, ncap);
            if (!grown) {
                free(buf);
                errno = ENOMEM;
                return -1;
            }
            buf = grown;
            cap = ncap;
        }
        got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f) || n > CLI_MAX_INPUT) {
        int saved = ferror(f) ? (errno ? errno : EIO) : EFBIG;
        free(buf);
        errno = saved;
        return -1;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

int cli_read_file(const char *path, char **out, size_t *len)
{
    FILE *f = NULL;
    int rc, saved;
    if (strcmp(path, "-") == 0)
        return read_stream(stdin, out, len);
    f = fopen(path, "rb");
    if (!f)
        return -1;
    rc = read_stream(f, out, len);
    saved = errno;
    fclose(f);
    errno = saved;
    return rc;
}

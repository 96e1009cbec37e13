/* Errors and load diagnostics. */
#include <stdio.h>
#include <string.h>

#include "internal.h"

static void copy_path(char *dst, size_t cap, const char *path)
{
    size_t n = path ? strlen(path) : 0;
    if (n >= cap)
        n = cap - 1;
    if (n)
        memcpy(dst, path, n);
    dst[n] = '\0';
}

static int error_vset(agentauthz_error *err, int code, const char *path, unsigned long line,
                      unsigned long column, size_t offset, const char *fmt, va_list ap)
{
    if (!err)
        return code;
    err->code = code;
    copy_path(err->path, sizeof err->path, path);
    err->line = line;
    err->column = column;
    err->offset = offset;
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    return code;
}

int az_error_set(agentauthz_error *err, int code, const char *path, unsigned long line,
                 unsigned long column, size_t offset, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_vset(err, code, path, line, column, offset, fmt, ap);
    va_end(ap);
    return code;
}

static void diag_emit(az_diag *d, const az_mark *m, int code, int warning, const char *fmt,
                      va_list ap)
{
    agentauthz_error e;
    az_mark none = {0, 0, 0};
    if (!m)
        m = &none;
    error_vset(&e, code, d->path, m->line, m->column, m->offset, fmt, ap);
    if (!warning && d->errors == 0 && d->first)
        *d->first = e;
    if (warning)
        d->warnings++;
    else
        d->errors++;
    if (d->fn)
        d->fn(&e, warning, d->ctx);
}

void az_diag_error(az_diag *d, const az_mark *m, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_emit(d, m, code, 0, fmt, ap);
    va_end(ap);
}

void az_diag_warn(az_diag *d, const az_mark *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_emit(d, m, 0, 1, fmt, ap);
    va_end(ap);
}

const char *agentauthz_strerror(int code)
{
    switch (code) {
    case AGENTAUTHZ_OK: return "success";
    case AGENTAUTHZ_EINVAL: return "invalid argument";
    case AGENTAUTHZ_ENOMEM: return "out of memory";
    case AGENTAUTHZ_EIO: return "input/output error";
    case AGENTAUTHZ_EPOLICY: return "invalid policy";
    case AGENTAUTHZ_ENOPOLICY: return "no policy loaded";
    case AGENTAUTHZ_ENOTASK: return "unknown task";
    case AGENTAUTHZ_EIDENTITY: return "identity not admitted";
    case AGENTAUTHZ_EPARAM: return "invalid task parameters";
    case AGENTAUTHZ_EJSON: return "invalid JSON";
    case AGENTAUTHZ_ELIMIT: return "limit exceeded";
    case AGENTAUTHZ_ESESSION: return "session ended";
    case AGENTAUTHZ_ENOTFOUND: return "not found";
    case AGENTAUTHZ_EDENIED: return "denied";
    case AGENTAUTHZ_ECRYPTO: return "cryptographic failure";
    case AGENTAUTHZ_ETOKEN: return "malformed token";
    case AGENTAUTHZ_ESIGNATURE: return "bad token signature";
    case AGENTAUTHZ_EEXPIRED: return "token expired";
    case AGENTAUTHZ_EAUDIENCE: return "token for another audience";
    case AGENTAUTHZ_EPERM: return "file permissions too open";
    case AGENTAUTHZ_EEXIST: return "file exists";
    case AGENTAUTHZ_EPROVIDER: return "secret provider failed";
    case AGENTAUTHZ_ETAMPER: return "audit log tampered";
    case AGENTAUTHZ_EALGORITHM: return "token algorithm refused";
    case AGENTAUTHZ_EKEYID: return "unknown token key id";
    case AGENTAUTHZ_ETOKENTYPE: return "not a transaction token";
    default: return "unknown error";
    }
}

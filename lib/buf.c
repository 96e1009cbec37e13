/* A growable byte buffer with a hard cap, so input can never grow it without bound. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static size_t buf_max(const az_buf *b)
{
    return b->max ? b->max : AZ_MAX_INPUT;
}

static int buf_reserve(az_buf *b, size_t extra)
{
    size_t need, cap;
    char *p;
    if (extra > buf_max(b) || b->len > buf_max(b) - extra)
        return AGENTAUTHZ_ELIMIT;
    need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    p = realloc(b->p, cap);
    if (!p)
        return AGENTAUTHZ_ENOMEM;
    b->p = p;
    b->cap = cap;
    return 0;
}

int az_buf_append(az_buf *b, const void *data, size_t len)
{
    int rc = buf_reserve(b, len);
    if (rc)
        return rc;
    if (len)
        memcpy(b->p + b->len, data, len);
    b->len += len;
    b->p[b->len] = '\0';
    return 0;
}

int az_buf_putc(az_buf *b, char c)
{
    return az_buf_append(b, &c, 1);
}

int az_buf_printf(az_buf *b, const char *fmt, ...)
{
    va_list ap;
    char small[256];
    int n;
    int rc;
    va_start(ap, fmt);
    n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return AGENTAUTHZ_EINVAL;
    if ((size_t)n < sizeof small)
        return az_buf_append(b, small, (size_t)n);
    rc = buf_reserve(b, (size_t)n);
    if (rc)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void az_buf_free(az_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

int az_buf_json_string(az_buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    int rc = az_buf_putc(b, '"');
    for (size_t i = 0; i < len && !rc; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            rc = az_buf_append(b, esc, 2);
        } else if (c == '\n') {
            rc = az_buf_append(b, "\\n", 2);
        } else if (c == '\t') {
            rc = az_buf_append(b, "\\t", 2);
        } else if (c == '\r') {
            rc = az_buf_append(b, "\\r", 2);
        } else if (c < 0x20 || c == 0x7f) {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            rc = az_buf_append(b, esc, 6);
        } else {
            rc = az_buf_putc(b, (char)c);
        }
    }
    return rc ? rc : az_buf_putc(b, '"');
}

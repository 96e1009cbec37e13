/*
 * Input that a check or an open refuses before any rule sees it
 * (agentauthz-policy(5), PATHS and OPENING A SESSION): path-like values are
 * normalised so that a glob sees the path a file system or web server would
 * reach, and SPIFFE IDs are validated so that a glob over them cannot be
 * satisfied by an ID no SPIFFE implementation would issue.
 *
 * Nothing here allocates: a normalised path is written into the caller's
 * buffer, and only when it differs from the input.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* ---- path-like values ---- */

/* Where the path of a value lies, and how its dot segments are spelt. */
typedef struct path_span {
    size_t start; /* first byte of the path (its root '/' when absolute) */
    size_t end;   /* one past its last byte: a URL's query or fragment stays out */
    bool absolute;
    bool url; /* "%2e" counts as "." in a segment (RFC 3986, section 6.2.2.2) */
} path_span;

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* The length of "scheme://" at the start of s (RFC 3986 scheme syntax), or 0. */
static size_t url_scheme_len(const char *s, size_t len)
{
    size_t i = 0;
    if (len == 0 || !is_alpha(s[0]))
        return 0;
    while (i < len && (is_alpha(s[i]) || is_digit(s[i]) || s[i] == '+' || s[i] == '-' ||
                       s[i] == '.'))
        i++;
    if (len - i < 3 || memcmp(s + i, "://", 3) != 0)
        return 0;
    return i + 3;
}

/*
 * A URL's path runs from the first '/' after the authority to its query or
 * fragment; a file URL's runs to the end, since a file has neither and a
 * tool that strips "file://" opens the rest as it stands.
 */
static void url_span(const char *s, size_t len, size_t scheme, path_span *sp)
{
    bool file = scheme == 7 && az_mem_eq(s, 4, "file", 4, true);
    size_t i = scheme;
    while (i < len && s[i] != '/' && s[i] != '?' && s[i] != '#')
        i++;
    sp->start = i;
    sp->end = i;
    sp->absolute = true;
    sp->url = true;
    if (i == len || s[i] != '/')
        return; /* no path: nothing to normalise */
    if (file) {
        sp->end = len;
        return;
    }
    while (sp->end < len && s[sp->end] != '?' && s[sp->end] != '#')
        sp->end++;
}

/* 1 for a "." segment, 2 for "..", else 0; in a URL, "%2e" spells a dot. */
static int dot_segment(const char *seg, size_t n, bool url)
{
    int dots = 0;
    for (size_t i = 0; i < n; dots++) {
        if (seg[i] == '.')
            i++;
        else if (url && n - i >= 3 && seg[i] == '%' && seg[i + 1] == '2' &&
                 (seg[i + 2] == 'e' || seg[i + 2] == 'E'))
            i += 3;
        else
            return 0;
        if (dots == 2)
            return 0;
    }
    return dots;
}

/* 3 when p[i] starts an encoded '/' ("%2F" or "%2f"), else 0. */
static size_t encoded_slash(const char *p, size_t n, size_t i)
{
    return n - i >= 3 && p[i] == '%' && p[i + 1] == '2' && (p[i + 2] == 'f' || p[i + 2] == 'F')
               ? 3
               : 0;
}

/*
 * Whether a URL path hides a dot segment behind an encoded '/'
 * ("/a/..%2Fb", "/a%2F../b"): a server that decodes "%2F" before it
 * resolves dot segments (nginx does) climbs where the policy saw a name.
 */
static bool hidden_dot_segment(const char *p, size_t n)
{
    size_t start = 0, i = 0;
    bool left_encoded = false;
    while (i <= n) {
        size_t enc = i < n ? encoded_slash(p, n, i) : 0;
        if (i < n && p[i] != '/' && !enc) {
            i++;
            continue;
        }
        if ((left_encoded || enc) && i > start && dot_segment(p + start, i - start, true))
            return true;
        left_encoded = enc != 0;
        i += enc ? enc : 1;
        start = i;
    }
    return false;
}

/* The refusals that no normalisation can repair. */
static const char *path_refusal(const char *s, const path_span *sp)
{
    const char *p = s + sp->start;
    size_t n = sp->end - sp->start;
    if (memchr(p, '\0', n))
        return "path contains a NUL byte";
    if (memchr(p, '\\', n))
        return "path contains a backslash";
    for (size_t i = 0; sp->url && i + 2 < n; i++)
        if (p[i] == '%' && ((p[i + 1] == '5' && (p[i + 2] == 'c' || p[i + 2] == 'C')) ||
                            (p[i + 1] == '0' && p[i + 2] == '0')))
            return "URL path contains an encoded backslash or NUL (%5C, %00)";
    if (sp->url && hidden_dot_segment(p, n))
        return "URL path hides a dot segment behind an encoded '/' (%2F)";
    return NULL;
}

/* Whether the path needs no change: no empty, "." or ".." segment and no trailing '/'. */
static bool path_is_normal(const char *s, const path_span *sp)
{
    size_t i = sp->start + (sp->absolute ? 1 : 0);
    if (sp->end == sp->start)
        return true;
    if (sp->absolute && sp->end - sp->start == 1)
        return true; /* the root alone */
    while (i <= sp->end) {
        const char *slash = memchr(s + i, '/', sp->end - i);
        size_t n = slash ? (size_t)(slash - (s + i)) : sp->end - i;
        if (n == 0 || dot_segment(s + i, n, sp->url))
            return false;
        i += n + 1;
    }
    return true;
}

/* Appends n bytes to out (cap bytes); false when they do not fit. */
static bool put(char *out, size_t cap, size_t *len, const char *p, size_t n)
{
    if (n > cap - *len)
        return false;
    memcpy(out + *len, p, n);
    *len += n;
    return true;
}

/*
 * Rewrites the path of s into out (cap is AZ_MAX_PATH, which the message
 * names): segments pushed and popped as a shell's cd would, never above
 * root (the path's first byte). Returns NULL, or why the path is refused.
 */
static const char *rewrite(const char *s, size_t len, const path_span *sp, char *out,
                           size_t cap, size_t *olen)
{
    static const char *const too_long = "path longer than 4096 bytes once normalised";
    size_t i = sp->start + (sp->absolute ? 1 : 0), root;
    *olen = 0;
    if (!put(out, cap, olen, s, sp->start) || (sp->absolute && !put(out, cap, olen, "/", 1)))
        return too_long;
    root = *olen;
    while (i < sp->end) {
        const char *slash = memchr(s + i, '/', sp->end - i);
        size_t n = slash ? (size_t)(slash - (s + i)) : sp->end - i;
        int dots = n ? dot_segment(s + i, n, sp->url) : 1;
        i += n + 1;
        if (dots == 1)
            continue;
        if (dots == 2) {
            if (*olen == root)
                return "path climbs above its root (..)";
            while (*olen > root && out[*olen - 1] != '/')
                (*olen)--;
            if (*olen > root)
                (*olen)--; /* the separator before the popped segment */
            continue;
        }
        if ((*olen > root && !put(out, cap, olen, "/", 1)) || !put(out, cap, olen, s + i - n - 1, n))
            return too_long;
    }
    if (*olen == root && !sp->absolute && !put(out, cap, olen, ".", 1))
        return too_long;
    if (!put(out, cap, olen, s + sp->end, len - sp->end))
        return too_long;
    return NULL;
}

static const char *normalize_span(const char *s, size_t len, const path_span *sp, char *buf,
                                  size_t cap, const char **out, size_t *outlen)
{
    const char *why = path_refusal(s, sp);
    *out = s;
    *outlen = len;
    if (why || path_is_normal(s, sp))
        return why;
    if ((why = rewrite(s, len, sp, buf, cap, outlen)) != NULL) {
        *outlen = len;
        return why;
    }
    *out = buf;
    return NULL;
}

/* Whether a "." or ".." segment starts at s[i], which is a '.'. */
static bool dot_segment_at(const char *s, size_t len, size_t i)
{
    size_t n = i + 1 < len && s[i + 1] == '.' ? 2 : 1;
    return i + n == len || s[i + n] == '/';
}

/*
 * Whether a path that is no URL must be rewritten: an empty, "." or ".."
 * segment, or a trailing '/'. Exact, for what surely_normal lets through.
 */
static bool plain_needs_rewrite(const char *s, size_t len)
{
    const char *end = s + len, *p = s;
    if (len > 0 && s[0] == '.' && dot_segment_at(s, len, 0))
        return true;
    while ((p = memchr(p, '/', (size_t)(end - p))) != NULL) {
        size_t i = (size_t)(p - s);
        if (i + 1 == len)
            return len > 1;
        if (p[1] == '/' || (p[1] == '.' && dot_segment_at(s, len, i + 1)))
            return true;
        p++;
    }
    return false;
}

#define ONES UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)

/*
 * The high bit of each byte of w that equals c, and possibly of a byte
 * above one that does (a borrow): never a miss, sometimes a false alarm.
 */
static uint64_t bytes_eq(uint64_t w, unsigned char c)
{
    uint64_t x = w ^ (ONES * c);
    return (x - ONES) & ~x & HIGHS;
}

/* Whether s[i] and s[i + 1] (when there is one) may need a look: see surely_normal. */
static bool byte_suspect(const char *s, size_t len, size_t i)
{
    char c = s[i];
    return c == '\\' || c == '\0' ||
           (c == '/' && i + 1 < len && (s[i + 1] == '/' || s[i + 1] == '.'));
}

/* The same for the eight bytes at s + i and the byte after each. */
static bool word_suspect(const char *s, size_t i)
{
    uint64_t w, next;
    memcpy(&w, s + i, 8);
    memcpy(&next, s + i + 1, 8);
    return (bytes_eq(w, '\\') | bytes_eq(w, 0) |
            (bytes_eq(w, '/') & (bytes_eq(next, '/') | bytes_eq(next, '.')))) != 0;
}

/*
 * Whether s is surely normal as it stands: no backslash, no NUL, no '/'
 * followed by '/' or '.', eight bytes at a time. Every check asks it of its
 * resource, so the usual path ("/data/t3/report.txt") is settled in a few
 * word operations; a false alarm only sends s to the exact scan.
 */
static bool surely_normal(const char *s, size_t len)
{
    if (len == 0)
        return true;
    if (s[0] == '.' || s[len - 1] == '/')
        return false;
    if (len < 9) {
        char pad[9]; /* a short value, padded with a byte that is never suspect */
        memset(pad, 'a', sizeof pad);
        memcpy(pad, s, len);
        return !word_suspect(pad, 0);
    }
    /* Words at 0, 8, 16, ... and a last one ending one byte short, overlapping. */
    for (size_t i = 0; i < len - 9; i += 8)
        if (word_suspect(s, i))
            return false;
    return !word_suspect(s, len - 9) && !byte_suspect(s, len, len - 1);
}

/*
 * A value that is no URL: 0 when there is nothing to do (no '/' or '\\' in
 * a resource, or a path already normal), 1 when the path must be
 * rewritten, -1 when it is refused (*why says why). every: the value is
 * path-like whatever it holds (a path argument).
 */
static int plain_scan(const char *s, size_t len, bool every, const char **why)
{
    bool backslash;
    if (surely_normal(s, len))
        return 0;
    backslash = memchr(s, '\\', len) != NULL;
    if (!every && !backslash && !memchr(s, '/', len))
        return 0;
    *why = memchr(s, '\0', len)  ? "path contains a NUL byte"
           : backslash           ? "path contains a backslash"
                                 : NULL;
    if (*why)
        return -1;
    return plain_needs_rewrite(s, len);
}

/* A value that is no URL: scanned once, rewritten only when it must be. */
static const char *normalize_plain(const char *s, size_t len, bool every, char *buf,
                                   size_t cap, const char **out, size_t *outlen)
{
    const char *why = NULL;
    path_span sp = {0, len, len > 0 && s[0] == '/', false};
    *out = s;
    *outlen = len;
    if (plain_scan(s, len, every, &why) <= 0)
        return why;
    if ((why = rewrite(s, len, &sp, buf, cap, outlen)) != NULL) {
        *outlen = len;
        return why;
    }
    *out = buf;
    return NULL;
}

static const char *normalize(const char *s, size_t len, bool every, char *buf, size_t cap,
                             const char **out, size_t *outlen)
{
    path_span sp;
    size_t scheme = url_scheme_len(s, len);
    if (!scheme)
        return normalize_plain(s, len, every, buf, cap, out, outlen);
    url_span(s, len, scheme, &sp);
    return normalize_span(s, len, &sp, buf, cap, out, outlen);
}

const char *az_path_normalize_resource(const char *s, size_t len, char *buf, size_t cap,
                                       const char **out, size_t *outlen)
{
    return normalize(s, len, false, buf, cap, out, outlen);
}

const char *az_path_normalize_arg(const char *s, size_t len, char *buf, size_t cap,
                                  const char **out, size_t *outlen)
{
    return normalize(s, len, true, buf, cap, out, outlen);
}

/* ---- SPIFFE IDs ---- */

static bool spiffe_domain_char(char c)
{
    return (c >= 'a' && c <= 'z') || is_digit(c) || c == '.' || c == '-' || c == '_';
}

static bool spiffe_path_char(char c)
{
    return is_alpha(c) || is_digit(c) || c == '.' || c == '-' || c == '_';
}

/* Why the byte c is not allowed in a SPIFFE ID's trust domain or path. */
static int bad_char(char c, bool domain, char *why, size_t cap)
{
    const char *what = domain ? "trust domain" : "path";
    if (c == '?' || c == '#')
        snprintf(why, cap, "a SPIFFE ID has no query or fragment ('%c')", c);
    else if (c == '%')
        snprintf(why, cap, "a SPIFFE ID has no percent-encoding");
    else if (c >= 'A' && c <= 'Z' && domain)
        snprintf(why, cap, "a SPIFFE ID's trust domain is lowercase");
    else if ((unsigned char)c > 0x20 && (unsigned char)c < 0x7f)
        snprintf(why, cap, "'%c' is not allowed in a SPIFFE ID's %s", c, what);
    else
        snprintf(why, cap, "byte 0x%02x is not allowed in a SPIFFE ID's %s", (unsigned char)c,
                 what);
    return -1;
}

static int spiffe_segments(const char *p, size_t n, char *why, size_t cap)
{
    size_t i = 0;
    while (i < n) {
        size_t start = ++i; /* past the '/' */
        while (i < n && p[i] != '/') {
            if (!spiffe_path_char(p[i]))
                return bad_char(p[i], false, why, cap);
            i++;
        }
        if (i == start) {
            snprintf(why, cap, i == n ? "a SPIFFE ID does not end with '/'"
                                      : "a SPIFFE ID has no empty path segment");
            return -1;
        }
        if (dot_segment(p + start, i - start, false)) {
            snprintf(why, cap, "a SPIFFE ID has no '.' or '..' path segment");
            return -1;
        }
    }
    return 0;
}

int az_spiffe_check(const char *id, char *why, size_t cap)
{
    static const char scheme[] = "spiffe://";
    size_t len = strlen(id), i = sizeof scheme - 1, start;
    if (!az_has_prefix(id, len, scheme, sizeof scheme - 1, true))
        return 0;
    if (memcmp(id, scheme, sizeof scheme - 1) != 0) {
        snprintf(why, cap, "a SPIFFE ID's scheme is lowercase \"spiffe://\"");
        return -1;
    }
    if (len > AZ_MAX_SPIFFE_ID) {
        snprintf(why, cap, "a SPIFFE ID is at most %u bytes", (unsigned)AZ_MAX_SPIFFE_ID);
        return -1;
    }
    for (start = i; i < len && id[i] != '/'; i++)
        if (!spiffe_domain_char(id[i]))
            return bad_char(id[i], true, why, cap);
    if (i == start) {
        snprintf(why, cap, "a SPIFFE ID needs a trust domain");
        return -1;
    }
    return spiffe_segments(id + i, len - i, why, cap);
}

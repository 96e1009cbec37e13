/*
 * The link scanner: URLs, their hosts, e-mail addresses and IBAN-like
 * tokens found in free text, for the links(), hosts() and emails() fields
 * and for observed tool output (issue 11).
 *
 * Text is untrusted and may be hostile, so the scanner is one left-to-right
 * pass that never backtracks: an item that is reported is consumed (the
 * scan resumes after it, and items never overlap except a URL's own host
 * and a mailto: URL's addresses), and a candidate that fails has looked at
 * bytes that no other failing candidate looks at again, so every byte is
 * examined a bounded number of times.
 *
 * The rules, stated once more in agentauthz-policy(5):
 *
 * URLs
 *  - Link destinations, reported whatever they hold (any scheme, relative):
 *    markdown "](dest" and "](<dest>" (links and images), reference
 *    definitions "]: dest", autolinks "<scheme:...>", the HTML attributes
 *    href, src, srcset, action, formaction, poster and background (quoted
 *    or not, ASCII case-insensitive, spaces around '='), and CSS "url(...)".
 *    A markdown destination ends at a space or control byte or at an
 *    unbalanced ')'; a quoted attribute value at its closing quote (one
 *    that is never closed runs to the end of the text); an unquoted one at
 *    a space or '>'.
 *  - Bare URLs: "scheme://" (any scheme; the scheme is the run of
 *    letters, digits, '+', '-', '.' before "://", from its first letter),
 *    "www." at the start of a word, and "mailto:" at the start of a word.
 *    A bare URL ends at a space, a control byte, '<', '>', '"', '`' or
 *    "](", and then loses trailing ? ! . , : ; * _ ~ ' and unbalanced ')',
 *    as GitHub's autolinker does. A bare host without scheme or "www."
 *    ("evil.example/x") and a bare "//host" are not links.
 *
 * Hosts, right after their URL
 *  - http, https, ws, wss, ftp: after "scheme:", any run of '/' and '\'
 *    is skipped (as browsers do); other schemes and "//host" (protocol-
 *    relative, also "\\host") need "//"; "www." starts the authority. The
 *    authority ends at '/', '?' or '#'; the host is what follows its last
 *    '@', without the port, an IPv6 literal with its brackets, without one
 *    trailing dot.
 *  - mailto: the addresses in the URL (see e-mail), each with its host.
 *  - data: and tel: URLs and plain relative destinations have no host.
 *  - Anything whose host cannot be read without ambiguity reports the whole
 *    URL as its host, a text that no domain operand matches: an authority
 *    holding '\' or '&' (a character reference or escape that a renderer
 *    would decode), an empty host, another scheme without "//"
 *    (javascript:), a relative destination holding ':', '&' or '\' before
 *    its query, a destination holding control bytes, a mailto: holding '%'
 *    or "&#", an attribute value never closed.
 *
 * E-mail addresses: at each '@', the local part is the run before it of
 * letters, digits, bytes >= 0x80 and ! # $ % & * + - = ^ _ ~ . (without & =
 * inside mailto:); the domain is the run after it of letters, digits, bytes
 * >= 0x80, '.', '-', '_', continued across further '@' (a@b@c is one
 * address whose host is "b@c", which names no host a domain matches), less
 * trailing dots. It is an address when the local part is not empty and some
 * domain run holds an inner dot and a byte that is not a digit or dot (so
 * "npm i x@1.2.3" and "user@localhost" are not).
 *
 * IBAN-like tokens, at a position not preceded by a letter or digit: two
 * letters, two digits, then either 11 to 30 letters and digits with no
 * letter or digit after them (compact), or groups separated by single
 * spaces, each of four letters and digits but the last of one to four, 11
 * to 30 in all (printed form). Letters in either case.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "agentauthz.h"
#include "extract.h"

typedef struct scan {
    const char *t;
    size_t n;
    unsigned mask;
    size_t max, count;
    az_extract_fn fn;
    void *ctx;
    int rc; /* nonzero: stop, and return this */
} scan;

/* ---- character classes (ASCII only, never the locale's) ---- */

/*
 * One table lookup per byte instead of a chain of comparisons: the scan
 * classifies every byte of the text. The table is computed by the compiler
 * from the definitions below, so it cannot drift from them.
 */
enum {
    C_ALNUM = 1,   /* A-Z a-z 0-9 */
    C_SCHEME = 2,  /* a scheme's bytes: alnum + - . */
    C_LOCAL = 4,   /* a local part's: alnum, >= 0x80, ! # $ % & * + - = ^ _ ~ . */
    C_DOMAIN = 8,  /* a domain's: alnum, >= 0x80, . - _ */
    C_NAME = 16,   /* an attribute name's: alnum _ - */
    C_STOP = 32,   /* ends a bare URL: space, control, < > " ` (C_BARE holds them) */
    C_SPACE = 64,  /* space or control byte (<= 0x20, 0x7F) */
    C_DECODE = 128, /* & and \, which a renderer may decode into other bytes */
    C_TRIGGER = 256, /* ] < : @, which may start a link or an address */
    C_WORD = 512,    /* first letters of href src srcset action formaction poster
                        background url( mailto: www. (any case) */
    C_AUTH = 1024,   /* what an authority's scan stops at: / ? # @ : & \ control */
    C_BARE = 2048    /* what may end a bare URL: its stop bytes and ] (of "](") */
};

#define X_ALNUM(c) (((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z') || ((c) >= '0' && (c) <= '9'))
#define X_SPACE(c) ((c) <= 0x20 || (c) == 0x7F)
#define X_LOCAL(c)                                                                             \
    (X_ALNUM(c) || (c) >= 0x80 || (c) == '!' || (c) == '#' || (c) == '$' || (c) == '%' ||     \
     (c) == '&' || (c) == '*' || (c) == '+' || (c) == '-' || (c) == '=' || (c) == '^' ||      \
     (c) == '_' || (c) == '~' || (c) == '.')
#define X_WORD(l)                                                                              \
    ((l) == 'a' || (l) == 'b' || (l) == 'f' || (l) == 'h' || (l) == 'm' || (l) == 'p' ||       \
     (l) == 's' || (l) == 'u' || (l) == 'w')
#define X_CLASS(c)                                                                             \
    ((X_ALNUM(c) ? C_ALNUM : 0) |                                                              \
     (X_ALNUM(c) || (c) == '+' || (c) == '-' || (c) == '.' ? C_SCHEME : 0) |                   \
     (X_LOCAL(c) ? C_LOCAL : 0) |                                                              \
     (X_ALNUM(c) || (c) >= 0x80 || (c) == '.' || (c) == '-' || (c) == '_' ? C_DOMAIN : 0) |    \
     (X_ALNUM(c) || (c) == '_' || (c) == '-' ? C_NAME : 0) |                                  \
     (X_SPACE(c) || (c) == '<' || (c) == '>' || (c) == '"' || (c) == '`' ? C_STOP : 0) |     \
     (X_SPACE(c) ? C_SPACE : 0) | ((c) == '&' || (c) == '\\' ? C_DECODE : 0) |                  \
     ((c) == ']' || (c) == '<' || (c) == ':' || (c) == '@' ? C_TRIGGER : 0) |                   \
     (X_WORD((c) | 0x20) ? C_WORD : 0) |                                                      \
     ((c) == '/' || (c) == '?' || (c) == '#' || (c) == '@' || (c) == ':' || (c) == '&' ||        \
              (c) == '\\' || (c) < 0x20 || (c) == 0x7F                                          \
          ? C_AUTH                                                                             \
          : 0) |                                                                               \
     (X_SPACE(c) || (c) == '<' || (c) == '>' || (c) == '"' || (c) == '`' || (c) == ']' ? C_BARE : 0))
#define X_R4(b) X_CLASS(b), X_CLASS(b + 1), X_CLASS(b + 2), X_CLASS(b + 3)
#define X_R16(b) X_R4(b), X_R4(b + 4), X_R4(b + 8), X_R4(b + 12)
#define X_R64(b) X_R16(b), X_R16(b + 16), X_R16(b + 32), X_R16(b + 48)

static const unsigned short byte_class[256] = {X_R64(0), X_R64(64), X_R64(128), X_R64(192)};

static bool has_class(unsigned char c, unsigned cls)
{
    return (byte_class[c] & cls) != 0;
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_alnum(unsigned char c)
{
    return has_class(c, C_ALNUM);
}

static bool is_space(unsigned char c)
{
    return has_class(c, C_SPACE);
}

static bool scheme_char(unsigned char c)
{
    return has_class(c, C_SCHEME);
}

/* Characters of an attribute or CSS function name: one before a name means it is not one. */
static bool name_char(unsigned char c)
{
    return has_class(c, C_NAME);
}

static bool local_char(unsigned char c, bool mailto)
{
    return has_class(c, C_LOCAL) && !(mailto && (c == '&' || c == '='));
}

static bool domain_char(unsigned char c)
{
    return has_class(c, C_DOMAIN);
}

static unsigned char fold(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c - 'A' + 'a') : c;
}

/* Whether t[i..lim) starts with the lowercase word w, ASCII case-insensitively. */
static bool starts_ci(const char *t, size_t i, size_t lim, const char *w)
{
    for (size_t k = 0; w[k]; k++)
        if (i + k >= lim || fold((unsigned char)t[i + k]) != (unsigned char)w[k])
            return false;
    return true;
}

/* Whether t[a..b) holds a byte of the class (one lookup a byte). */
static bool has_class_in(const char *t, size_t a, size_t b, unsigned cls)
{
    for (size_t i = a; i < b; i++)
        if (has_class((unsigned char)t[i], cls))
            return true;
    return false;
}

static bool has_ctl(const char *t, size_t a, size_t b)
{
    for (size_t i = a; i < b; i++)
        if ((unsigned char)t[i] < 0x20 || (unsigned char)t[i] == 0x7F)
            return true;
    return false;
}

/* ---- reporting ---- */

static void emit(scan *s, az_extract_kind kind, size_t a, size_t b)
{
    if (s->rc || !(s->mask & (unsigned)kind))
        return;
    if (s->count == s->max) {
        s->rc = AGENTAUTHZ_ELIMIT;
        return;
    }
    s->count++;
    s->rc = s->fn(s->ctx, kind, s->t + a, b - a);
}

/* ---- e-mail addresses ---- */

/* Whether t[a..b) reads as a domain: an inner dot and a byte that is neither digit nor dot. */
static bool domain_like(const char *t, size_t a, size_t b)
{
    bool dot = false, named = false;
    for (size_t i = a; i < b; i++) {
        unsigned char c = (unsigned char)t[i];
        if (c == '.')
            dot = dot || (i > a && i + 1 < b);
        else if (!is_digit(c))
            named = true;
    }
    return dot && named;
}

/*
 * The address whose '@' is at t[at], its local part starting at loc, within
 * [.., lim). Returns the end of what was consumed (the address, or a run
 * that holds none), or 0 when nothing was.
 */
static size_t email_at(scan *s, size_t loc, size_t at, size_t lim)
{
    const char *t = s->t;
    size_t k = at, seg, end;
    bool named = false;
    if (loc == at)
        return 0;
    do {
        seg = ++k;
        while (k < lim && domain_char((unsigned char)t[k]))
            k++;
        end = k;
        while (end > seg && t[end - 1] == '.')
            end--;
        named = named || domain_like(t, seg, end);
    } while (k < lim && t[k] == '@');
    if (!named)
        return k;
    emit(s, AZ_X_EMAIL, loc, end);
    emit(s, AZ_X_HOST, at + 1, end);
    return end;
}

/* The addresses of a mailto: URL's text t[a..b): "to" list and query alike. */
static void mailto_emails(scan *s, size_t a, size_t b)
{
    size_t i = a, loc = a, e;
    while (i < b && !s->rc) {
        if (s->t[i] == '@' && (e = email_at(s, loc, i, b)) != 0) {
            i = loc = e;
            continue;
        }
        if (!local_char((unsigned char)s->t[i], true))
            loc = i + 1;
        i++;
    }
}

/* ---- hosts of URLs ---- */

/* The length of the scheme at u[a..b) (letters first, then ':'), or 0. */
static size_t scheme_at(const char *t, size_t a, size_t b)
{
    size_t k = a;
    if (k >= b || !is_alpha((unsigned char)t[k]))
        return 0;
    while (k < b && scheme_char((unsigned char)t[k]))
        k++;
    return (k < b && t[k] == ':') ? k - a : 0;
}

static bool scheme_is(const char *t, size_t a, size_t len, const char *name)
{
    return strlen(name) == len && starts_ci(t, a, a + len, name);
}

/* http, https, ws, wss, ftp: by length first, as most schemes are http or https. */
static bool special_scheme(const char *t, size_t a, size_t len)
{
    switch (len) {
    case 2: return starts_ci(t, a, a + len, "ws");
    case 3: return starts_ci(t, a, a + len, "wss") || starts_ci(t, a, a + len, "ftp");
    case 4: return starts_ci(t, a, a + len, "http");
    case 5: return starts_ci(t, a, a + len, "https");
    default: return false;
    }
}

static size_t skip_slashes(const char *t, size_t k, size_t b)
{
    while (k < b && (t[k] == '/' || t[k] == '\\'))
        k++;
    return k;
}

/*
 * Reports the host of the authority starting at t[a] of the URL t[u..b):
 * false when it cannot be read without ambiguity (the caller then reports
 * the whole URL).
 */
static bool authority_host(scan *s, size_t a, size_t b)
{
    const char *t = s->t;
    size_t end, h = a, k, colon = SIZE_MAX; /* the first ':' after the last '@' */
    for (end = a; end < b; end++) {
        unsigned char c = (unsigned char)t[end];
        if (!has_class(c, C_AUTH))
            continue; /* most bytes: one lookup */
        if (c == '/' || c == '?' || c == '#')
            break;
        if (c == '@') {
            h = end + 1;
            colon = SIZE_MAX;
        } else if (c == ':') {
            if (colon == SIZE_MAX)
                colon = end;
        } else
            return false; /* & \ or a control byte */
    }
    if (h < end && t[h] == '[') {
        const char *close = memchr(t + h, ']', end - h);
        if (!close)
            return false;
        k = (size_t)(close - t) + 1;
    } else {
        k = colon == SIZE_MAX ? end : colon;
        if (k - h > 1 && t[k - 1] == '.')
            k--;
    }
    if (k == h)
        return false;
    emit(s, AZ_X_HOST, h, k);
    return true;
}

/* A relative destination's host: none, unless a renderer could decode it into one. */
static bool relative_ok(const char *t, size_t a, size_t b)
{
    size_t end = a;
    while (end < b && t[end] != '?' && t[end] != '#')
        end++;
    return !has_class_in(t, a, end, C_DECODE) && !memchr(t + a, ':', end - a);
}

/* The host part of a URL t[a..b) (explicit: a link destination). */
static void url_hosts(scan *s, size_t a, size_t b, bool explicit)
{
    const char *t = s->t;
    size_t sl = scheme_at(t, a, b), body = a + sl + 1;
    bool ok = true;
    if (explicit && has_ctl(t, a, b))
        ok = false;
    else if (sl && special_scheme(t, a, sl))
        ok = authority_host(s, skip_slashes(t, body, b), b);
    else if (sl && scheme_is(t, a, sl, "mailto")) {
        if (memchr(t + body, '%', b - body) || memmem(t + body, b - body, "&#", 2))
            ok = false;
        else
            mailto_emails(s, body, b);
    } else if (sl && (scheme_is(t, a, sl, "data") || scheme_is(t, a, sl, "tel")))
        ok = true;
    else if (sl)
        ok = b - body >= 2 && t[body] == '/' && t[body + 1] == '/' &&
             authority_host(s, body + 2, b);
    else if (b - a >= 2 && (t[a] == '/' || t[a] == '\\') && (t[a + 1] == '/' || t[a + 1] == '\\'))
        ok = authority_host(s, skip_slashes(t, a, b), b);
    else if (starts_ci(t, a, b, "www."))
        ok = authority_host(s, a, b);
    else
        ok = relative_ok(t, a, b);
    if (!ok)
        emit(s, AZ_X_HOST, a, b);
}

static void report_url(scan *s, size_t a, size_t b, bool explicit)
{
    emit(s, AZ_X_URL, a, b);
    if (s->mask & (AZ_X_HOST | AZ_X_EMAIL))
        url_hosts(s, a, b, explicit);
}

/* ---- where URLs are ---- */

/* The count of byte c in t[a..b). */
static size_t count_byte(const char *t, size_t a, size_t b, char c)
{
    size_t n = 0;
    for (size_t i = a; i < b; i++)
        n += t[i] == c;
    return n;
}

/*
 * Drops a bare URL's trailing punctuation, t[a..b) with b > min. The
 * parentheses are counted only when one is to be dropped (most URLs end in
 * a letter or digit).
 */
static size_t trim_url(const char *t, size_t min, size_t b, size_t a)
{
    size_t open = 0, close = 0;
    bool counted = false;
    while (b > min) {
        char c = t[b - 1];
        if (c == ')' && !counted) {
            open = count_byte(t, a, b, '(');
            close = count_byte(t, a, b, ')');
            counted = true;
        }
        if (c == '?' || c == '!' || c == '.' || c == ',' || c == ':' || c == ';' || c == '*' ||
            c == '_' || c == '~' || c == '\'')
            b--;
        else if (c == ')' && close > open) {
            b--;
            close--;
        } else
            break;
    }
    return b;
}

/* The end of a bare URL's run from k: a stop byte or "](". */
static size_t bare_end(const char *t, size_t k, size_t n)
{
    for (;; k++) {
        while (k < n && !has_class((unsigned char)t[k], C_BARE))
            k++;
        if (k >= n || t[k] != ']' || (k + 1 < n && t[k + 1] == '('))
            return k;
    }
}

/* A bare URL t[a..) whose text must go beyond min; returns the end consumed or 0. */
static size_t bare_url(scan *s, size_t a, size_t min)
{
    size_t end = trim_url(s->t, min, bare_end(s->t, min, s->n), a);
    if (end <= min)
        return 0;
    report_url(s, a, end, false);
    return end;
}

/* "scheme://" with its ':' at t[colon], the run of scheme bytes starting at run. */
static size_t scheme_url(scan *s, size_t run, size_t colon)
{
    while (run < colon && !is_alpha((unsigned char)s->t[run]))
        run++;
    if (run == colon)
        return 0;
    return bare_url(s, run, colon + 3);
}

static size_t skip_space(const char *t, size_t k, size_t n)
{
    while (k < n && is_space((unsigned char)t[k]))
        k++;
    return k;
}

/* "<dest>" at t[k] == '<': up to '>' on the same line, with no '<'. */
static size_t angle_dest(scan *s, size_t k)
{
    size_t e = k + 1;
    while (e < s->n && s->t[e] != '>' && s->t[e] != '<' && s->t[e] != '\n')
        e++;
    if (e >= s->n || s->t[e] != '>' || e == k + 1)
        return 0;
    report_url(s, k + 1, e, true);
    return e + 1;
}

/* A markdown destination from t[k]: balanced parentheses, backslash escapes. */
static size_t md_dest(scan *s, size_t k)
{
    const char *t = s->t;
    size_t e, depth = 0;
    k = skip_space(t, k, s->n);
    if (k < s->n && t[k] == '<')
        return angle_dest(s, k);
    for (e = k; e < s->n && !is_space((unsigned char)t[e]); e++) {
        if (t[e] == '\\' && e + 1 < s->n && !is_space((unsigned char)t[e + 1]))
            e++;
        else if (t[e] == '(')
            depth++;
        else if (t[e] == ')' && depth-- == 0)
            break;
    }
    if (e == k)
        return 0;
    report_url(s, k, e, true);
    return e;
}

/* "]:" then at least one space: a reference definition's destination. */
static size_t ref_def(scan *s, size_t k)
{
    if (k >= s->n || (s->t[k] != ' ' && s->t[k] != '\t'))
        return 0;
    return md_dest(s, k);
}

/* "<scheme:...>" at t[i] == '<', scheme 2 to 32 bytes. */
static size_t autolink(scan *s, size_t i)
{
    const char *t = s->t;
    size_t sl = scheme_at(t, i + 1, s->n < i + 34 ? s->n : i + 34), e;
    if (sl < 2)
        return 0;
    for (e = i + 1 + sl + 1; e < s->n && !is_space((unsigned char)t[e]) && t[e] != '<' && t[e] != '>';
         e++)
        ;
    if (e >= s->n || t[e] != '>')
        return 0;
    report_url(s, i + 1, e, true);
    return e + 1;
}

/*
 * A quoted value from its opening quote at t[k]: trimmed of spaces inside
 * the quotes. One never closed runs to the end of the text and is reported
 * as ambiguous (a host of its own text).
 */
static size_t quoted_dest(scan *s, size_t k)
{
    const char *t = s->t, *close = memchr(t + k + 1, t[k], s->n - k - 1);
    size_t a = skip_space(t, k + 1, s->n), b = close ? (size_t)(close - t) : s->n;
    if (!close) {
        if (a < s->n) {
            emit(s, AZ_X_URL, a, s->n);
            emit(s, AZ_X_HOST, a, s->n);
        }
        return s->n;
    }
    while (b > a && is_space((unsigned char)t[b - 1]))
        b--;
    if (b > a)
        report_url(s, a, b, true);
    return (size_t)(close - t) + 1;
}

/* An attribute's value after its name, at t[k]: spaces, '=', spaces, value. */
static size_t attr_value(scan *s, size_t k)
{
    const char *t = s->t;
    size_t e;
    k = skip_space(t, k, s->n);
    if (k >= s->n || t[k] != '=')
        return 0;
    k = skip_space(t, k + 1, s->n);
    if (k < s->n && (t[k] == '"' || t[k] == '\''))
        return quoted_dest(s, k);
    for (e = k; e < s->n && !is_space((unsigned char)t[e]) && t[e] != '>'; e++)
        ;
    if (e == k)
        return 0;
    report_url(s, k, e, true);
    return e;
}

/* CSS url(...) after "url(" at t[k]. */
static size_t css_url(scan *s, size_t k)
{
    const char *t = s->t;
    size_t e;
    k = skip_space(t, k, s->n);
    if (k < s->n && (t[k] == '"' || t[k] == '\''))
        return quoted_dest(s, k);
    for (e = k; e < s->n && !is_space((unsigned char)t[e]) && t[e] != ')'; e++)
        ;
    if (e == k)
        return 0;
    report_url(s, k, e, true);
    return e;
}

/* The attributes whose value is a link, by first letter (lowercase). */
typedef struct link_word {
    const char *word;
    size_t len;
} link_word;

static const link_word attrs_a[] = {{"action", 6}}, attrs_b[] = {{"background", 10}},
                       attrs_f[] = {{"formaction", 10}}, attrs_h[] = {{"href", 4}},
                       attrs_p[] = {{"poster", 6}}, attrs_s[] = {{"src", 3}, {"srcset", 6}};

/* A link attribute's name starting at t[i]; the end of its value consumed, or 0. */
static size_t attr_at(scan *s, size_t i, const link_word *w, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (starts_ci(s->t, i, s->n, w[k].word) &&
            (i + w[k].len == s->n || !name_char((unsigned char)s->t[i + w[k].len])))
            return attr_value(s, i + w[k].len);
    return 0;
}

#define ATTRS(a) (a), sizeof(a) / sizeof(a)[0]

/* Link syntax starting with a letter at the start of a word (dispatched on that letter). */
static size_t word_link(scan *s, size_t i)
{
    const char *t = s->t;
    char prev = i ? t[i - 1] : ' ';
    switch (fold((unsigned char)t[i])) {
    case 'a': return attr_at(s, i, ATTRS(attrs_a));
    case 'b': return attr_at(s, i, ATTRS(attrs_b));
    case 'f': return attr_at(s, i, ATTRS(attrs_f));
    case 'h': return attr_at(s, i, ATTRS(attrs_h));
    case 'p': return attr_at(s, i, ATTRS(attrs_p));
    case 's': return attr_at(s, i, ATTRS(attrs_s));
    case 'u': return starts_ci(t, i, s->n, "url(") ? css_url(s, i + 4) : 0;
    case 'm':
        if (starts_ci(t, i, s->n, "mailto:") && !scheme_char((unsigned char)prev))
            return bare_url(s, i, i + 7);
        return 0;
    case 'w':
        if (starts_ci(t, i, s->n, "www.") && prev != '.' && prev != '@' && prev != '/' &&
            prev != ':')
            return bare_url(s, i, i + 4);
        return 0;
    default: return 0;
    }
}

/* ---- IBAN-like tokens ---- */

static size_t alnum_run(const char *t, size_t k, size_t n, size_t cap)
{
    size_t m = 0;
    while (k + m < n && m < cap && is_alnum((unsigned char)t[k + m]))
        m++;
    return m;
}

/* The printed form's groups after "CCdd" ending at t[k] == ' '; the end, or 0. */
static size_t iban_groups(const char *t, size_t k, size_t n)
{
    size_t bban = 0, end = 0, m;
    while (k < n && t[k] == ' ') {
        m = alnum_run(t, k + 1, n, 5);
        if (m == 0 || m > 4 || bban + m > 30)
            break;
        bban += m;
        k = end = k + 1 + m;
        if (m < 4)
            break;
    }
    return bban >= 11 ? end : 0;
}

/* An IBAN-like token at t[i], not preceded by a letter or digit; its end, or 0. */
static size_t iban_at(const char *t, size_t i, size_t n)
{
    size_t m;
    if (n - i < 4 || !is_alpha((unsigned char)t[i]) || !is_alpha((unsigned char)t[i + 1]) ||
        !is_digit((unsigned char)t[i + 2]) || !is_digit((unsigned char)t[i + 3]))
        return 0;
    m = alnum_run(t, i, n, 35);
    if (m >= 15 && m <= 34)
        return i + m;
    return m == 4 ? iban_groups(t, i + 4, n) : 0;
}

/* ---- the scan ---- */

/*
 * The start of the run of bytes of class cls that ends at t[i], going back
 * no further than last (the end of what was consumed). Each run ends at one
 * trigger (':' and '@' are in neither class), so these walks back read every
 * byte at most once in a scan.
 */
static size_t run_start(const char *t, size_t i, size_t last, unsigned cls)
{
    while (i > last && has_class((unsigned char)t[i - 1], cls))
        i--;
    return i;
}

/* What a punctuation byte at t[i] starts: the end of what was consumed, or 0. */
static size_t trigger_at(scan *s, size_t i, size_t last)
{
    const char *t = s->t;
    unsigned char c = (unsigned char)t[i], next = i + 1 < s->n ? (unsigned char)t[i + 1] : 0;
    if (c == ']' && next == '(')
        return md_dest(s, i + 2);
    if (c == ']' && next == ':')
        return ref_def(s, i + 2);
    if (c == '<')
        return autolink(s, i);
    if (c == ':' && next == '/' && i + 2 < s->n && t[i + 2] == '/')
        return scheme_url(s, run_start(t, i, last, C_SCHEME), i);
    if (c == '@')
        return email_at(s, run_start(t, i, last, C_LOCAL), i, s->n);
    return 0;
}

/*
 * What a letter at the start of a word (t[i], no letter or digit before it)
 * starts: the end of what was consumed, or 0. Most words start nothing,
 * which two lookups settle before any call.
 */
static size_t word_at(scan *s, size_t i, unsigned short cls)
{
    const char *t = s->t;
    /* Not consumed: the token may be the start of an address or a URL's scheme. */
    if ((s->mask & AZ_X_IBAN) && i + 3 < s->n && is_digit((unsigned char)t[i + 2])) {
        size_t e = iban_at(t, i, s->n);
        if (e)
            emit(s, AZ_X_IBAN, i, e);
    }
    if (!(cls & C_WORD) || (i > 0 && name_char((unsigned char)t[i - 1])))
        return 0;
    return word_link(s, i);
}

/* ---- skipping what cannot start anything ---- */

/*
 * Key bytes: every item the scan can report has one at a known place with
 * only letters, digits and spaces between its start and it, and nothing
 * else starts an item:
 *  - ] < : @ start what they trigger (they are their own key byte);
 *  - an IBAN-like token has a digit right after its first two letters (a
 *    key byte when the two bytes before it are letters);
 *  - a link attribute's name is followed by spaces and '=', url by '(',
 *    mailto by ':', www by '.' (a key byte only after 'w' or 'W').
 * So the first key byte c at or after a position i bounds every item that
 * starts in [i, c]: it starts at c, or in the run of letters and digits
 * (then spaces) that ends at c. Bytes before that run start nothing, and the
 * scan skips them, 16 at a time where SSE2 is there. The key bytes are a
 * superset (: to @ holds ; > ? too, and a digit after two letters is not
 * always an IBAN's): a key byte that starts nothing costs a few steps of
 * the byte-wise scan, never a missed item.
 */
static bool key_byte(const char *t, size_t i)
{
    unsigned char c = (unsigned char)t[i];
    if (c == '.')
        return i > 0 && fold((unsigned char)t[i - 1]) == 'w';
    if (is_digit(c))
        return i > 1 && is_alpha((unsigned char)t[i - 1]) && is_alpha((unsigned char)t[i - 2]);
    return (c >= ':' && c <= '@') || c == ']' || c == '(';
}

#if defined(__SSE2__)
#include <emmintrin.h>
/* Bytes of x in [lo, lo + span], as a mask (one compare: no unsigned compare in SSE2). */
static inline __m128i in_range(__m128i x, char lo, char span)
{
    __m128i d = _mm_sub_epi8(x, _mm_set1_epi8(lo));
    return _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(span)), d);
}

static inline __m128i letters(__m128i x)
{
    return in_range(_mm_or_si128(x, _mm_set1_epi8(0x20)), 'a', 'z' - 'a');
}

/* The first key byte at or after i, or n: 16 bytes a step from i >= 2. */
static size_t next_key(const char *t, size_t i, size_t n)
{
    for (; i < 2 && i < n; i++)
        if (key_byte(t, i))
            return i;
    for (; n - i >= 16; i += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(t + i));
        __m128i p1 = _mm_loadu_si128((const __m128i *)(const void *)(t + i - 1));
        __m128i p2 = _mm_loadu_si128((const __m128i *)(const void *)(t + i - 2));
        __m128i m = in_range(x, ':', '@' - ':');
        __m128i dot = _mm_cmpeq_epi8(x, _mm_set1_epi8('.'));
        __m128i w = _mm_cmpeq_epi8(_mm_or_si128(p1, _mm_set1_epi8(0x20)), _mm_set1_epi8('w'));
        __m128i iban = _mm_and_si128(in_range(x, '0', 9), _mm_and_si128(letters(p1), letters(p2)));
        m = _mm_or_si128(m, _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('(')),
                                         _mm_cmpeq_epi8(x, _mm_set1_epi8(']'))));
        m = _mm_or_si128(m, _mm_or_si128(_mm_and_si128(dot, w), iban));
        unsigned bits = (unsigned)_mm_movemask_epi8(m);
        if (bits)
            return i + (size_t)__builtin_ctz(bits);
    }
    while (i < n && !key_byte(t, i))
        i++;
    return i;
}
#else
static size_t next_key(const char *t, size_t i, size_t n)
{
    while (i < n && !key_byte(t, i))
        i++;
    return i;
}
#endif

/*
 * Where the byte-wise scan resumes for the key byte at c, from i (a place
 * it would visit): the start of the run of letters and digits, then
 * spaces, that ends at c. That is a place the scan would visit too (the
 * byte before it is neither letter nor digit), and the bytes skipped
 * before it start nothing.
 */
static size_t resume_at(const char *t, size_t i, size_t c)
{
    while (c > i && is_space((unsigned char)t[c - 1]))
        c--;
    while (c > i && is_alnum((unsigned char)t[c - 1]))
        c--;
    return c;
}

int az_extract(const char *text, size_t len, unsigned mask, size_t max_items, az_extract_fn fn,
               void *ctx)
{
    scan s = {text, len, mask, max_items, 0, fn, ctx, 0};
    size_t i = 0, last = 0, e, till = 0; /* byte by byte while i < till */
    if (!fn || (!text && len))
        return AGENTAUTHZ_EINVAL;
    while (i < len && !s.rc) {
        unsigned short cls;
        if (i >= till) {
            /*
             * Past the last key byte: on to the next, from where its item
             * could start. One found close by says the text is dense with
             * them (hostile text is): the next 16 bytes go byte by byte.
             */
            size_t key = next_key(text, i, len);
            if (key == len)
                break;
            till = key + (key - i < 16 ? 16 : 1);
            i = resume_at(text, i, key);
        }
        cls = byte_class[(unsigned char)text[i]];
        if (cls & C_ALNUM) {
            /*
             * A word: only its first letter can start something (an IBAN, an
             * attribute name, www., mailto:, url(); the rest is skipped in a
             * tight loop. A byte before it is a letter or digit only where a
             * consumed item ended (the loop skips whole words otherwise).
             */
            bool start = !(i == last && i > 0 && is_alnum((unsigned char)text[i - 1]));
            if (start && !is_digit((unsigned char)text[i]) && (e = word_at(&s, i, cls)) > i) {
                i = last = e;
                continue;
            }
            while (++i < len && is_alnum((unsigned char)text[i]))
                ;
            continue;
        }
        e = (cls & C_TRIGGER) ? trigger_at(&s, i, last) : 0;
        if (e > i)
            i = last = e;
        else
            i++;
    }
    return s.rc;
}

/*
 * Finding links, host names, e-mail addresses and IBAN-like tokens inside
 * free text (issue 11): the scanner behind the links(), hosts() and
 * emails() fields of a policy and behind the indexing of observed tool
 * output. One pass, linear time, no allocation, any bytes; the exact rules
 * are in extract.c and in agentauthz-policy(5), section "Links in text".
 */
#ifndef AZ_EXTRACT_H
#define AZ_EXTRACT_H

#include <stddef.h>

typedef enum az_extract_kind { AZ_X_URL = 1, AZ_X_HOST = 2, AZ_X_EMAIL = 4, AZ_X_IBAN = 8 } az_extract_kind;

/*
 * Called for each item found, in text order; s/len is a slice of the text
 * (hosts: a slice of the URL or e-mail; not lowercased). Return nonzero to
 * stop.
 */
typedef int (*az_extract_fn)(void *ctx, az_extract_kind kind, const char *s, size_t len);

/*
 * Scans text[0..len) once (linear time, no allocation, any bytes),
 * reporting the kinds in mask; at most max_items callbacks. Returns 0, or
 * the callback's nonzero value, or AGENTAUTHZ_ELIMIT when max_items was
 * reached (that is: there was one more item to report, which was not).
 * Reentrant; text may be NULL when len is 0.
 */
int az_extract(const char *text, size_t len, unsigned mask, size_t max_items, az_extract_fn fn,
               void *ctx);

#endif

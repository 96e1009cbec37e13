/*
 * Argument provenance (issue 11): what a session's tools returned, indexed
 * so that a check can ask whether a value came from output observed under
 * some label (agentauthz-policy(5), PROVENANCE). Private to observe.c,
 * eval.c and session.c.
 *
 * An observation is prepared outside the session's lock (az_obs: the
 * strings copied into one buffer, the items to index found and hashed) and
 * added under it (az_prov_add), so that a large output does not hold up
 * the session's checks for longer than a few hash-table insertions.
 *
 * The index. Every item (a whole string value, a word of it that holds a
 * digit, an address, URL, host or IBAN found inside it) is at least
 * min_len bytes long, and is filed twice: by a hash of its whole text (an
 * equality probe) and by a hash of one of its min_len-byte windows (its
 * first or its last, whichever bucket holds fewer items). A check slides a
 * min_len-byte window over the value it looks at, with a rolling hash, and
 * probes the window table at each position: a hit is confirmed by comparing
 * the bytes. So "the value contains an observed item" costs one rolling
 * hash step and one probe per byte of the value checked, however much was
 * observed, and an observation costs one pass over its bytes plus two
 * insertions per item. Host names and e-mail addresses are filed in lower
 * case and compared with the checked value's bytes in lower case.
 *
 * Items live in a ring in observation order; the bucket chains run from
 * newest to oldest, so dropping the oldest observation needs no unlinking:
 * a walk stops at the first link older than the oldest live item.
 */
#ifndef AZ_PROVENANCE_H
#define AZ_PROVENANCE_H

#include "internal.h"

/* Distinct labels one session's observations may carry. */
#define AZ_PROV_MAX_LABELS 64
/* Hosts and e-mail addresses shorter than min_len are indexed for equality from this length. */
#define AZ_PROV_SHORT_MIN 4

typedef struct az_obs_item {
    size_t off;     /* in the observation's text */
    uint32_t len;
    bool icase;     /* a host or e-mail address: filed and compared in lower case */
    uint64_t hash;  /* of the whole item */
    uint64_t first; /* of its first first_m bytes (the window size it was prepared for) */
    uint32_t first_m;
} az_obs_item;

/* One observation being prepared (outside the session's lock). */
typedef struct az_obs {
    az_obs_limits lim;
    const struct az_leak_set *leaks; /* live secrets, or NULL */
    az_buf text;                     /* the strings, then normalised copies */
    az_obs_item *items;
    size_t n, cap;
    uint64_t dropped; /* items or strings that could not be taken */
    int err;          /* the first reason something was dropped, 0 if none */
    size_t depth;
} az_obs;

/* Starts an observation under lim; leaks is the engine's matcher or NULL. */
void az_obs_init(az_obs *o, const az_obs_limits *lim, const struct az_leak_set *leaks);
/* One string value of the output (any bytes). Drops are counted, not returned. */
void az_obs_add_text(az_obs *o, const char *s, size_t len);
/* Every string and number in v, at any depth (at most AZ_MAX_DEPTH). */
void az_obs_add_value(az_obs *o, const agentauthz_value *v);
void az_obs_free(az_obs *o);

typedef struct az_prov az_prov;

/* An empty index with the bounds of lim; NULL when out of memory. */
az_prov *az_prov_new(const az_obs_limits *lim);
void az_prov_free(az_prov *p);
/*
 * The bits of the n labels, adding those the index does not know yet:
 * 0, AGENTAUTHZ_ELIMIT past AZ_PROV_MAX_LABELS, AGENTAUTHZ_ENOMEM.
 */
int az_prov_labels(az_prov *p, const char *const *names, size_t n, uint64_t *mask);
/* The bit of one label, 0 when no observation carried it. */
uint64_t az_prov_label_bit(const az_prov *p, const char *name, size_t len);
/*
 * Adds o's items under labels, dropping the oldest observations as the
 * bounds require, and counts in *indexed the items that were new. Copies
 * the text when copy is set, else takes it from o. 0, or AGENTAUTHZ_ELIMIT /
 * AGENTAUTHZ_ENOMEM when the observation could not be recorded whole; the
 * index is then marked incomplete, and so it is when o dropped anything or
 * an older observation is dropped.
 */
int az_prov_add(az_prov *p, az_obs *o, uint64_t labels, bool copy, size_t *indexed);
/*
 * Whether s (len bytes) equals or contains an item observed under one of
 * the labels in mask (agentauthz-policy(5) gives the exact rule).
 */
bool az_prov_find(const az_prov *p, uint64_t mask, const char *s, size_t len);
/* Counts n items that could not be recorded: the index is incomplete. */
void az_prov_mark_dropped(az_prov *p, uint64_t n);
/* Whether an observation was ever dropped, in whole or in part. */
bool az_prov_incomplete(const az_prov *p);
/* Counters for tests and records: live items and bytes, drops so far. */
void az_prov_stats(const az_prov *p, size_t *items, size_t *bytes, uint64_t *dropped);

#endif /* AZ_PROVENANCE_H */

/*
 * An arena: memory an object keeps across resets, handed out by bumping a
 * pointer, so that refilling the object after a reset does not call malloc
 * (issue 16: an action rebuilt for every check). Chunks are never moved, so
 * pointers into them stay valid until the reset; a reset wipes the bytes
 * handed out (they may have held arguments the host wanted kept secret) and
 * keeps the chunks for the next fill. Every arena has a hard cap.
 */
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "internal.h"

#define ALIGN alignof(max_align_t)
#define FIRST_CHUNK 512u

struct az_chunk {
    struct az_chunk *next;
    size_t cap;  /* bytes of data */
    size_t used; /* bytes handed out since the last reset */
    max_align_t data[];
};

static size_t arena_max(const az_arena *ar)
{
    return ar->max ? ar->max : AZ_MAX_ARENA;
}

/* A chunk of at least n bytes, or NULL with ar->err set (out of memory, or past the cap). */
static az_chunk *chunk_new(az_arena *ar, size_t n)
{
    size_t want = ar->cur ? ar->cur->cap * 2 : FIRST_CHUNK, room = arena_max(ar) - ar->total;
    az_chunk *c;
    if (want < n)
        want = n;
    if (want > room)
        want = n;
    if (n > room) {
        ar->err = AGENTAUTHZ_ELIMIT;
        return NULL;
    }
    c = malloc(sizeof *c + want);
    if (!c) {
        ar->err = AGENTAUTHZ_ENOMEM;
        return NULL;
    }
    c->cap = want;
    c->used = 0;
    ar->total += want;
    return c;
}

/*
 * The chunk after the current one that has room for n bytes. Kept chunks
 * that are too small for this request are freed on the way (they are empty:
 * every chunk after the current one is), so that the arena converges on
 * chunks as large as the object needs.
 */
static az_chunk *next_chunk(az_arena *ar, size_t n)
{
    az_chunk **link = ar->cur ? &ar->cur->next : &ar->head, *c;
    while ((c = *link) != NULL && c->cap < n) {
        *link = c->next;
        ar->total -= c->cap;
        free(c);
    }
    if (c)
        return c;
    if (!(c = chunk_new(ar, n)))
        return NULL;
    c->next = *link;
    *link = c;
    return c;
}

void *az_arena_alloc(az_arena *ar, size_t n)
{
    az_chunk *c = ar->cur;
    void *p;
    if (n > SIZE_MAX - ALIGN) {
        ar->err = AGENTAUTHZ_ELIMIT;
        return NULL;
    }
    n = (n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    if (!c || c->cap - c->used < n) {
        if (!(c = next_chunk(ar, n)))
            return NULL;
        ar->cur = c;
    }
    p = (char *)c->data + c->used;
    c->used += n;
    return p;
}

void *az_arena_dup(az_arena *ar, const void *s, size_t len)
{
    char *p;
    if (len == SIZE_MAX) {
        ar->err = AGENTAUTHZ_ELIMIT;
        return NULL;
    }
    if (!(p = az_arena_alloc(ar, len + 1)))
        return NULL;
    if (len)
        memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

void az_arena_reset(az_arena *ar)
{
    for (az_chunk *c = ar->head; c && ar->cur; c = c->next) {
        sodium_memzero(c->data, c->used);
        c->used = 0;
        if (c == ar->cur)
            break;
    }
    ar->cur = NULL;
    ar->err = 0;
}

void az_arena_free(az_arena *ar)
{
    az_chunk *c, *next;
    az_arena_reset(ar);
    for (c = ar->head; c; c = next) {
        next = c->next;
        free(c);
    }
    ar->head = ar->cur = NULL;
    ar->total = 0;
}

int az_arena_error(const az_arena *ar)
{
    return ar->err ? ar->err : AGENTAUTHZ_ENOMEM;
}

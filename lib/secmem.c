/*
 * A pool of guarded memory for secrets.
 *
 * One sodium_malloc and sodium_free cost about 14 us, far more than a
 * session may spend opening and closing, so secrets are carved from 64 KiB
 * guarded regions (guard pages on both sides, mlocked, wiped by
 * sodium_free) that are allocated on demand and reused. A region holds slots
 * of one size class and stays read-only except for the moment a slot is
 * written or wiped. Secrets over the largest class get a guarded allocation
 * of their own. One mutex guards the free lists and the page protection.
 *
 * With AZ_SECPOOL_PROTECT a region is read-only except while a slot in it
 * is written or wiped. That costs two mprotect calls per write and per
 * release, and mprotect on mlocked memory re-populates the pages: measured
 * here at 0.1 to 2.5 ms a pair, hundreds of times the 5 us a session may
 * spend on its secrets. Without the flag regions stay read-write and the hot
 * path makes no system call; guard pages, mlock and wiping on release still
 * hold, and what is lost is only the trap on a stray write.
 *
 * The pool also runs the generator that random secrets and session ids
 * come from (az_secpool_random, at the end of this file), in a guarded page
 * of its own and under a lock of its own, so that an open makes no
 * getrandom call either.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <sodium.h>

#include "internal.h"
#include "secmem_private.h"

#define NCLASSES 4

static const size_t class_size[NCLASSES] = {64, 256, 1024, 4096};

typedef struct region region;

struct az_secslot {
    az_secpool *pool;
    region *reg;        /* NULL for a large slot */
    unsigned char *mem; /* the slot's bytes, in guarded memory */
    size_t size;        /* the size asked for */
    size_t cap;         /* the class size, or size for a large slot */
    az_secslot *next;   /* free list (pooled) or live list (large) */
    az_secslot *prev;   /* live list (large) */
};

struct region {
    unsigned char *mem; /* sodium_malloc'd, AZ_SECPOOL_REGION bytes */
    size_t cls;
    size_t used;
    az_secslot *free;
    region *prev, *next; /* the class's list of regions with a free slot */
    bool listed;
    region *all_next, *all_prev; /* every region, for az_secpool_free */
    az_secslot slots[];
};

typedef struct rng_state rng_state;

struct az_secpool {
    pthread_mutex_t lock;
    unsigned flags;
    region *avail[NCLASSES];
    region *all;
    az_secslot *large;
    size_t bytes; /* guarded bytes held, bounded by AZ_SECPOOL_MAX_BYTES */
    /* the generator (see az_secpool_random), under rng_lock alone */
    pthread_mutex_t rng_lock;
    rng_state *rng; /* a guarded page; NULL until the first request */
    size_t rng_size;
    bool rng_off; /* no generator here: every request goes to randombytes_buf */
};

int az_secpool_new(az_secpool **out, unsigned flags)
{
    az_secpool *p;
    if (!out)
        return AGENTAUTHZ_EINVAL;
    *out = NULL;
    if (flags & ~(unsigned)AZ_SECPOOL_PROTECT)
        return AGENTAUTHZ_EINVAL;
    if (sodium_init() < 0)
        return AGENTAUTHZ_ECRYPTO;
    p = calloc(1, sizeof *p);
    if (!p)
        return AGENTAUTHZ_ENOMEM;
    if (pthread_mutex_init(&p->lock, NULL) != 0) {
        free(p);
        return AGENTAUTHZ_ENOMEM;
    }
    if (pthread_mutex_init(&p->rng_lock, NULL) != 0) {
        pthread_mutex_destroy(&p->lock);
        free(p);
        return AGENTAUTHZ_ENOMEM;
    }
    p->flags = flags;
    *out = p;
    return 0;
}

static bool protecting(const az_secpool *p)
{
    return (p->flags & AZ_SECPOOL_PROTECT) != 0;
}

/* Opens a guarded allocation for writing (a no-op unless protecting). */
static int open_rw(const az_secpool *p, unsigned char *base)
{
    return !protecting(p) || sodium_mprotect_readwrite(base) == 0 ? 0 : AGENTAUTHZ_ECRYPTO;
}

static int close_ro(const az_secpool *p, unsigned char *base)
{
    return !protecting(p) || sodium_mprotect_readonly(base) == 0 ? 0 : AGENTAUTHZ_ECRYPTO;
}

/* Guarded memory is wiped before sodium_free, which wipes it again. */
static void guarded_free(unsigned char *mem, size_t len)
{
    if (sodium_mprotect_readwrite(mem) == 0)
        sodium_memzero(mem, len);
    sodium_free(mem);
}

static void region_destroy(region *r)
{
    guarded_free(r->mem, AZ_SECPOOL_REGION);
    free(r);
}

void az_secpool_free(az_secpool *p)
{
    if (!p)
        return;
    while (p->all) {
        region *r = p->all;
        p->all = r->all_next;
        region_destroy(r);
    }
    while (p->large) {
        az_secslot *s = p->large;
        p->large = s->next;
        guarded_free(s->mem, s->cap);
        free(s);
    }
    if (p->rng)
        guarded_free((unsigned char *)p->rng, p->rng_size);
    pthread_mutex_destroy(&p->rng_lock);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

static size_t class_of(size_t size)
{
    size_t c = 0;
    while (c < NCLASSES && class_size[c] < size)
        c++;
    return c;
}

static void avail_push(az_secpool *p, region *r)
{
    r->prev = NULL;
    r->next = p->avail[r->cls];
    if (r->next)
        r->next->prev = r;
    p->avail[r->cls] = r;
    r->listed = true;
}

static void avail_remove(az_secpool *p, region *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        p->avail[r->cls] = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
    r->listed = false;
}

static void all_remove(az_secpool *p, region *r)
{
    if (r->all_prev)
        r->all_prev->all_next = r->all_next;
    else
        p->all = r->all_next;
    if (r->all_next)
        r->all_next->all_prev = r->all_prev;
}

/* Links the slots of a new region into its free list, lowest address first. */
static void region_init_slots(az_secpool *p, region *r, size_t n)
{
    size_t cap = class_size[r->cls];
    for (size_t i = n; i-- > 0;) {
        az_secslot *s = &r->slots[i];
        s->pool = p;
        s->reg = r;
        s->mem = r->mem + i * cap;
        s->cap = cap;
        s->size = 0;
        s->prev = NULL;
        s->next = r->free;
        r->free = s;
    }
}

/*
 * sodium_malloc fills new memory with a marker byte: the region is zeroed
 * once here, so every free slot holds zeros and a fresh slot reads as zeros.
 */
static int region_new(az_secpool *p, size_t cls, region **out)
{
    size_t n = AZ_SECPOOL_REGION / class_size[cls];
    region *r;
    if (p->bytes > AZ_SECPOOL_MAX_BYTES - AZ_SECPOOL_REGION)
        return AGENTAUTHZ_ELIMIT;
    r = calloc(1, sizeof *r + n * sizeof(az_secslot));
    if (!r)
        return AGENTAUTHZ_ENOMEM;
    r->mem = sodium_malloc(AZ_SECPOOL_REGION);
    if (!r->mem) {
        free(r);
        return AGENTAUTHZ_ENOMEM;
    }
    sodium_memzero(r->mem, AZ_SECPOOL_REGION);
    if (close_ro(p, r->mem) != 0) {
        region_destroy(r);
        return AGENTAUTHZ_ECRYPTO;
    }
    r->cls = cls;
    region_init_slots(p, r, n);
    r->all_next = p->all;
    if (p->all)
        p->all->all_prev = r;
    p->all = r;
    p->bytes += AZ_SECPOOL_REGION;
    avail_push(p, r);
    *out = r;
    return 0;
}

static int pooled_alloc(az_secpool *p, size_t size, az_secslot **out)
{
    size_t cls = class_of(size);
    region *r = p->avail[cls];
    az_secslot *s;
    int rc;
    if (!r && (rc = region_new(p, cls, &r)) != 0)
        return rc;
    s = r->free;
    r->free = s->next;
    s->next = NULL;
    s->size = size;
    r->used++;
    if (!r->free)
        avail_remove(p, r);
    *out = s;
    return 0;
}

static int large_alloc(az_secpool *p, size_t size, az_secslot **out)
{
    az_secslot *s;
    if (p->bytes > AZ_SECPOOL_MAX_BYTES - size)
        return AGENTAUTHZ_ELIMIT;
    s = calloc(1, sizeof *s);
    if (!s)
        return AGENTAUTHZ_ENOMEM;
    s->mem = sodium_malloc(size);
    if (!s->mem) {
        free(s);
        return AGENTAUTHZ_ENOMEM;
    }
    sodium_memzero(s->mem, size);
    if (close_ro(p, s->mem) != 0) {
        guarded_free(s->mem, size);
        free(s);
        return AGENTAUTHZ_ECRYPTO;
    }
    s->pool = p;
    s->size = s->cap = size;
    s->next = p->large;
    if (p->large)
        p->large->prev = s;
    p->large = s;
    p->bytes += size;
    *out = s;
    return 0;
}

int az_secpool_alloc(az_secpool *p, size_t size, az_secslot **out)
{
    int rc;
    if (!out)
        return AGENTAUTHZ_EINVAL;
    *out = NULL;
    if (!p || size == 0 || size > AZ_SECPOOL_MAX_SECRET)
        return AGENTAUTHZ_EINVAL;
    pthread_mutex_lock(&p->lock);
    if (size <= class_size[NCLASSES - 1])
        rc = pooled_alloc(p, size, out);
    else
        rc = large_alloc(p, size, out);
    pthread_mutex_unlock(&p->lock);
    return rc;
}

static unsigned char *guarded_base(const az_secslot *s)
{
    return s->reg ? s->reg->mem : s->mem;
}

/*
 * Opens the slot's guarded allocation for writing, wipes the slot, copies
 * the bytes in and makes it read-only again. Under the pool's lock, because a region is
 * shared: two writers must not race to re-protect it.
 */
static int slot_fill(az_secslot *s, const void *bytes, size_t len)
{
    unsigned char *base = guarded_base(s);
    int rc = 0;
    pthread_mutex_lock(&s->pool->lock);
    rc = open_rw(s->pool, base);
    if (rc)
        goto out;
    sodium_memzero(s->mem, s->cap);
    if (len)
        memcpy(s->mem, bytes, len);
    rc = close_ro(s->pool, base);
out:
    pthread_mutex_unlock(&s->pool->lock);
    return rc;
}

int az_secpool_write(az_secslot *s, const void *bytes, size_t len)
{
    if (!s || (len && !bytes) || len > s->size)
        return AGENTAUTHZ_EINVAL;
    return slot_fill(s, bytes, len);
}

const unsigned char *az_secpool_read(const az_secslot *s)
{
    return s ? s->mem : NULL;
}

size_t az_secpool_size(const az_secslot *s)
{
    return s ? s->size : 0;
}

/*
 * Returns a wiped slot to its region. A region left empty is freed when its
 * class has another region with room, so that a burst of secrets does not
 * pin guarded memory for ever, while one spare region avoids churn.
 */
static void pooled_release(az_secpool *p, az_secslot *s)
{
    region *r = s->reg;
    s->size = 0;
    s->next = r->free;
    r->free = s;
    r->used--;
    if (!r->listed)
        avail_push(p, r);
    if (r->used == 0 && (r->next || r->prev)) {
        avail_remove(p, r);
        all_remove(p, r);
        p->bytes -= AZ_SECPOOL_REGION;
        region_destroy(r);
    }
}

static void large_release(az_secpool *p, az_secslot *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        p->large = s->next;
    if (s->next)
        s->next->prev = s->prev;
    p->bytes -= s->cap;
    guarded_free(s->mem, s->cap);
    free(s);
}

/*
 * A slot whose memory cannot be made writable cannot be wiped, so it is
 * never reused; az_secpool_free (through sodium_free) wipes it at the end.
 */
void az_secpool_release(az_secslot *s)
{
    az_secpool *p;
    if (!s)
        return;
    p = s->pool;
    pthread_mutex_lock(&p->lock);
    if (!s->reg) {
        large_release(p, s);
    } else if (open_rw(p, s->reg->mem) == 0) {
        sodium_memzero(s->mem, s->cap);
        /* Should this fail the region merely stays writable; it holds no
           more than before and every slot in it is still guarded. */
        (void)close_ro(p, s->reg->mem);
        pooled_release(p, s);
    }
    pthread_mutex_unlock(&p->lock);
}

/* ---- the generator ---- */

/*
 * Random bytes for secrets and session ids. A getrandom call costs 1.5 to
 * 2.5 us on the VMs we measured (any system call does: getpid costs as
 * much), and a session open needs two, more than all the rest of an open
 * with two secrets. So each pool runs a generator of its own, seeded from
 * randombytes_buf:
 *
 *  - Fast key erasure (D. J. Bernstein, "Fast-key-erasure random-number
 *    generators", 2017). A refill runs ChaCha20 (IETF) under the current
 *    key for RNG_STREAM bytes; the first 32 replace the key, the rest are
 *    handed out in order and each byte is wiped as it goes. Every key
 *    encrypts once, so the nonce can stay zero. The state never holds
 *    anything an earlier output can be computed from: a later memory
 *    compromise reveals no output already handed out.
 *  - Reseeding: every RNG_RESEED refills (about 4 MiB of output) fresh
 *    randombytes_buf bytes are mixed into the key, so a compromised state
 *    predicts a bounded number of later outputs.
 *  - Fork safety: the state is a guarded page (sodium_malloc: mlocked,
 *    guard pages, left out of core dumps) marked MADV_WIPEONFORK, so a
 *    child process finds it zeroed, hence unseeded, and seeds afresh
 *    instead of repeating its parent's outputs. Where that advice is not
 *    available the generator is not used: every request goes to
 *    randombytes_buf, as it did before.
 *  - Threads: rng_lock is the generator's alone, taken by session opens and
 *    delegations, never by a check. It is held for a copy of the bytes, or
 *    a refill (about 1 us, once every dozen opens); a request over
 *    RNG_DIRECT_MAX bytes takes only a 32-byte key under it and expands
 *    that outside, with randombytes_buf_deterministic (ChaCha20 as well).
 */
#define RNG_KEY 32u
#define RNG_STREAM 1024u    /* bytes of one refill, the next key included */
#define RNG_DIRECT_MAX 256u /* longest request served from the stream itself */
#define RNG_RESEED 4096u    /* refills between two reseeds */

struct rng_state {
    unsigned char key[RNG_KEY];
    unsigned char stream[RNG_STREAM]; /* [pos, RNG_STREAM) unread, the rest wiped */
    size_t pos;
    unsigned refills;     /* since the last (re)seed */
    unsigned char seeded; /* 1 once seeded; 0 again in a forked child */
};

/*
 * Maps the generator's state: one or more whole pages, which sodium_malloc
 * returns page-aligned for a size that is a multiple of the page size (the
 * user area ends at the trailing guard page). Anything unexpected turns the
 * generator off for this pool.
 */
static void rng_setup(az_secpool *p)
{
    long page = sysconf(_SC_PAGESIZE);
    size_t ps = page > 0 ? (size_t)page : 4096u;
    size_t size = (sizeof(rng_state) + ps - 1) / ps * ps;
    unsigned char *mem = NULL;
    p->rng_off = true;
#ifdef MADV_WIPEONFORK
    mem = sodium_malloc(size);
    if (!mem)
        return;
    if ((uintptr_t)mem % ps != 0 || madvise(mem, size, MADV_WIPEONFORK) != 0) {
        guarded_free(mem, size);
        return;
    }
    sodium_memzero(mem, size); /* unseeded: sodium_malloc filled it with a marker */
    p->rng = (rng_state *)(void *)mem;
    p->rng_size = size;
    p->rng_off = false;
#else
    (void)size;
    (void)mem;
#endif
}

static void rng_seed(rng_state *st)
{
    randombytes_buf(st->key, sizeof st->key);
    sodium_memzero(st->stream, sizeof st->stream);
    st->pos = sizeof st->stream;
    st->refills = 0;
    st->seeded = 1;
}

/* Mixes fresh system randomness into the key: XOR with an independent uniform value. */
static void rng_reseed(rng_state *st)
{
    unsigned char fresh[RNG_KEY];
    randombytes_buf(fresh, sizeof fresh);
    for (size_t i = 0; i < sizeof fresh; i++)
        st->key[i] ^= fresh[i];
    sodium_memzero(fresh, sizeof fresh);
    st->refills = 0;
}

static void rng_refill(rng_state *st)
{
    static const unsigned char nonce[crypto_stream_chacha20_ietf_NONCEBYTES] = {0};
    if (++st->refills >= RNG_RESEED)
        rng_reseed(st);
    crypto_stream_chacha20_ietf(st->stream, sizeof st->stream, nonce, st->key);
    memcpy(st->key, st->stream, RNG_KEY);
    sodium_memzero(st->stream, RNG_KEY);
    st->pos = RNG_KEY;
}

/* Hands out n bytes of the stream, wiping them, refilling as needed. */
static void rng_take(rng_state *st, unsigned char *out, size_t n)
{
    while (n) {
        size_t take;
        if (st->pos == sizeof st->stream)
            rng_refill(st);
        take = sizeof st->stream - st->pos;
        take = take < n ? take : n;
        memcpy(out, st->stream + st->pos, take);
        sodium_memzero(st->stream + st->pos, take);
        st->pos += take;
        out += take;
        n -= take;
    }
}

/*
 * Serves n bytes (at most RNG_DIRECT_MAX) from the stream, or the key a
 * longer request expands; false when the pool has no generator.
 */
static bool rng_locked_take(az_secpool *p, unsigned char *out, size_t n)
{
    bool ok;
    pthread_mutex_lock(&p->rng_lock);
    if (!p->rng && !p->rng_off)
        rng_setup(p);
    ok = p->rng != NULL;
    if (ok) {
        if (!p->rng->seeded)
            rng_seed(p->rng);
        rng_take(p->rng, out, n);
    }
    pthread_mutex_unlock(&p->rng_lock);
    return ok;
}

void az_secpool_random(az_secpool *p, void *buf, size_t len)
{
    unsigned char seed[randombytes_SEEDBYTES];
    _Static_assert(randombytes_SEEDBYTES == RNG_KEY, "a seed is one key");
    if (!buf || len == 0)
        return;
    if (len <= RNG_DIRECT_MAX) {
        if (!p || !rng_locked_take(p, buf, len))
            randombytes_buf(buf, len);
        return;
    }
    if (!p || !rng_locked_take(p, seed, sizeof seed)) {
        randombytes_buf(buf, len);
        return;
    }
    randombytes_buf_deterministic(buf, len, seed);
    sodium_memzero(seed, sizeof seed);
}

/*
 * The guarded-memory pool (secmem.c). Private; to be merged into internal.h.
 *
 * Secrets live in slots carved from 64 KiB libsodium guarded regions (guard
 * pages, mlock; with AZ_SECPOOL_PROTECT read-only except while a slot is
 * written), so that issuing a
 * secret does not cost a sodium_malloc. Slot classes: 64, 256, 1024 and 4096
 * bytes; a larger secret (at most AZ_SECPOOL_MAX_SECRET) gets a guarded
 * allocation of its own.
 */
#ifndef AZ_SECMEM_PRIVATE_H
#define AZ_SECMEM_PRIVATE_H

#include <stddef.h>

#define AZ_SECPOOL_REGION (64u * 1024u)             /* bytes of one region */
#define AZ_SECPOOL_MAX_BYTES (64u * 1024u * 1024u)  /* guarded bytes of a pool */
#define AZ_SECPOOL_MAX_SECRET (16u * 1024u * 1024u) /* one secret */

typedef struct az_secpool az_secpool;
typedef struct az_secslot az_secslot;

/*
 * Read-only between writes: a stray write into a secret traps, at the cost
 * of mprotect calls on every write and release (see secmem.c for numbers).
 */
#define AZ_SECPOOL_PROTECT 1u

/* A new empty pool; free with az_secpool_free. 0, EINVAL, ENOMEM or ECRYPTO. */
int az_secpool_new(az_secpool **out, unsigned flags);
/* Wipes and frees every region, live slots included. NULL is a no-op. */
void az_secpool_free(az_secpool *p);
/*
 * Reserves a zero-filled slot of size bytes (1..AZ_SECPOOL_MAX_SECRET).
 * 0, EINVAL, ENOMEM, or ELIMIT when the pool would pass AZ_SECPOOL_MAX_BYTES.
 * Thread-safe.
 */
int az_secpool_alloc(az_secpool *p, size_t size, az_secslot **out);
/*
 * Copies len bytes (at most the slot's size) into the slot and zeroes the
 * rest of it. 0, EINVAL (len over the size), or ECRYPTO when the page
 * protection cannot be changed. Thread-safe against calls on other slots; one slot must not
 * be written, read or released by two threads at once.
 */
int az_secpool_write(az_secslot *s, const void *bytes, size_t len);
/* The slot's bytes, read-only, valid until az_secpool_release(s). */
const unsigned char *az_secpool_read(const az_secslot *s);
/* The size given to az_secpool_alloc. */
size_t az_secpool_size(const az_secslot *s);
/* Wipes the slot and gives it back. NULL is a no-op. Thread-safe. */
void az_secpool_release(az_secslot *s);

/*
 * Fills buf with len cryptographically secure random bytes from the pool's
 * generator: ChaCha20 with fast key erasure, seeded and periodically
 * reseeded from randombytes_buf, reseeded in a forked child (secmem.c says
 * how). Never fails: without a generator (no MADV_WIPEONFORK, no guarded
 * page, or a NULL pool) the bytes come from randombytes_buf. Thread-safe;
 * takes a lock of the generator's own.
 */
void az_secpool_random(az_secpool *p, void *buf, size_t len);

#endif /* AZ_SECMEM_PRIVATE_H */

/*
 * arena.h - guarded regions holding many small secrets (kmc/arena.c).
 */
#ifndef KMC_ARENA_H
#define KMC_ARENA_H

#include <stddef.h>
#include "common.h"

/* The largest allocation the arena serves: a 4 KiB slot less its front
 * canary, its header and the canary after the bytes. Larger secrets get
 * pages of their own from sodium_malloc(). */
#define KMC_ARENA_MAX (4096u - 48u)

/*
 * kmc_arena_alloc - n zeroed bytes (1 <= n <= KMC_ARENA_MAX) in a slot of
 * a guarded, locked region; NULL with errno ENOMEM when no region can be
 * mapped. kmc_arena_free - check the slot's canaries (abort() if either
 * was overwritten, or if p is not a slot in use), wipe it and give it
 * back. Both may be called from any thread.
 */
KMC_INTERNAL void *kmc_arena_alloc(size_t n);
KMC_INTERNAL void kmc_arena_free(void *p);

/* For the tests: the regions now mapped, and a copy of n bytes at p if
 * they lie in a slot of a mapped region, in use or free (0), else -1. */
KMC_INTERNAL size_t kmc_arena_regions(void);
KMC_INTERNAL int kmc_arena_peek(const void *p, size_t n, void *out);

#endif

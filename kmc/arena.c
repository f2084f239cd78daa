/*
 * arena.c - guarded regions holding many small secrets.
 *
 * sodium_malloc() maps, protects, locks and on free unmaps pages of their
 * own for every allocation: five system calls or so, some 25 times the
 * cost of decrypting a 2 KB item. The arena pays for them once a region:
 *
 *   region   [guard page][slot 0][slot 1]...[slot n-1][guard page]
 *            an anonymous mapping of its own, so no secret shares a page
 *            with the ordinary heap; the guard pages are PROT_NONE; the
 *            slot pages are locked (mlock, where RLIMIT_MEMLOCK allows:
 *            as sodium_malloc, a refusal leaves them unlocked) and left
 *            out of core dumps (MADV_DONTDUMP).
 *   slot     [front canary 16][header 16][bytes n][back canary 16][zero]
 *            slots of one region have one size (a power of two, 64 B to
 *            4 KiB); a request takes the smallest that fits.
 *
 * What is caught, with abort(), as sodium_free() does on a bad canary:
 *   - a write past the end of the bytes (it hits the back canary first)
 *     or before their start (the header's canary), when the slot is freed;
 *   - a free of a slot not in use (a double free) or of a pointer that is
 *     no slot;
 *   - a write to a slot after it was freed: a free slot is all zero (it is
 *     wiped on free), which is checked when it is handed out again and
 *     when its region is unmapped.
 * A read after free finds zeros, never the secret. Under AddressSanitizer
 * or valgrind the arena also tells the tool which bytes are not to be
 * touched (free slots, canaries, the tail of a slot), so either reports
 * the bad access itself, where it happens.
 *
 * Regions of a slot size grow: the first has one page of slots, each
 * next one twice the slots of the one before (counting the regions of
 * that size still mapped), up to 64 KiB of slots or 64 slots. A one-shot
 * process holding a few secrets locks and faults in one page a slot size;
 * a server holding many soon gets regions of the full size.
 *
 * A region whose last slot is freed is unmapped, except one empty region
 * of each slot size, kept so that a server reading and freeing one secret
 * at a time does not map and unmap a region every time. Most it keeps
 * mapped while holding no secret: 252 KiB in all (4 KiB of 64 B slots up
 * to 64 KiB each of 1, 2 and 4 KiB slots), plus two guard pages a region.
 *
 * One mutex serialises the arena: the library's handles are one thread's
 * at a time, but secrets may be allocated and freed by any thread. It is
 * taken around fork() (pthread_atfork), so that a child of a threaded
 * process does not inherit it held by a thread that is not there.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <sodium.h>
#include "arena.h"

#if defined(__SANITIZE_ADDRESS__)
#define KMC_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KMC_ASAN 1
#endif
#endif
#ifdef KMC_ASAN
#include <sanitizer/asan_interface.h>
#endif
#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
/* Client requests: a few instructions that do nothing outside valgrind. */
#include <valgrind/memcheck.h>
#define KMC_MEMCHECK 1
#endif
#endif

#define CANARY_LEN 16
#define HDR_LEN 16
#define DATA_OFF (CANARY_LEN + HDR_LEN)
#define MIN_SHIFT 6		/* 64 B slots */
#define N_CLASSES 7		/* ... to 4 KiB */
#define REGION_SLOTS_MAX 64	/* one bit each in a uint64_t */
#define REGION_BYTES 65536	/* of slots, at most; 4 KiB at least */

#define SLOT_FREE 0x46524545u	/* "FREE" */
#define SLOT_USED 0x55534544u	/* "USED" */
#define REGION_MAGIC 0x6b6d6361u

_Static_assert(KMC_ARENA_MAX + DATA_OFF + CANARY_LEN ==
	(1u << (MIN_SHIFT + N_CLASSES - 1)), "KMC_ARENA_MAX fills a 4 KiB slot");

typedef struct region region;

/* In the slot, between the front canary and the bytes. */
typedef struct slot_hdr {
	region *r;
	uint32_t n;		/* bytes asked for; 0 when free */
	uint32_t state;
} slot_hdr;

_Static_assert(sizeof(slot_hdr) == HDR_LEN, "slot header size");

/* Ordinary heap: where the region is, which slots are taken. */
struct region {
	uint32_t magic;
	unsigned cls;
	unsigned n_slots;
	size_t slot_size;
	unsigned char *map;	/* the whole mapping, guard pages too */
	size_t map_len;
	unsigned char *slots;	/* slot 0, just past the first guard page */
	uint64_t used;		/* bit i: slot i is in use */
	region *next;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static region *classes[N_CLASSES];
static unsigned empty[N_CLASSES];	/* empty regions kept: 0 or 1 */
static unsigned n_regions[N_CLASSES];	/* regions mapped, empty or not */
static unsigned char canary[CANARY_LEN];
static int canary_set;

/*
 * The fault-injection shim of the tests (tests/faultinject.c) defines
 * this to fail chosen secret allocations, as it fails sodium_malloc():
 * the slots of the arena never reach malloc or mmap, so nothing else would
 * count them. Weak: without the shim it is NULL, and nothing is called.
 */
__attribute__((weak, visibility("default"))) int kmc_arena_fault(size_t n);

/* ---- telling sanitizers which bytes are out of bounds ---------------- */

static void hide(const void *p, size_t n)
{
#ifdef KMC_ASAN
	ASAN_POISON_MEMORY_REGION(p, n);
#endif
#ifdef KMC_MEMCHECK
	VALGRIND_MAKE_MEM_NOACCESS(p, n);
#endif
	(void)p;
	(void)n;
}

static void show(const void *p, size_t n)
{
#ifdef KMC_ASAN
	ASAN_UNPOISON_MEMORY_REGION(p, n);
#endif
#ifdef KMC_MEMCHECK
	VALGRIND_MAKE_MEM_DEFINED(p, n);
#endif
	(void)p;
	(void)n;
}

/* ---- slots -------------------------------------------------------------- */

static _Noreturn void misuse(void)
{
	/* As sodium_free() on a bad canary: the process's memory can no
	   longer be trusted, so nothing more runs. */
	abort();
}

/* memcmp() against zeros is libc's vector code; a loop of our own ran
 * at a tenth of its speed and was most of the cost of an allocation. */
static const unsigned char zeros[4096 - DATA_OFF];

static int all_zero(const unsigned char *p, size_t n)
{
	return memcmp(p, zeros, n) == 0;
}

/* The canary is no secret to keep from a timing: a mismatch aborts, so
 * there is no second guess. Two word compares, not sodium_memcmp()'s
 * byte loop, which cost a third of an allocation. */
static int canary_ok(const unsigned char *p)
{
	uint64_t a[2], b[2];

	memcpy(a, p, CANARY_LEN);
	memcpy(b, canary, CANARY_LEN);
	return ((a[0] ^ b[0]) | (a[1] ^ b[1])) == 0;
}

static unsigned char *slot_at(const region *r, unsigned i)
{
	return r->slots + (size_t)i * r->slot_size;
}

static slot_hdr *slot_hdr_of(unsigned char *slot)
{
	return (slot_hdr *)(void *)(slot + CANARY_LEN);
}

/* A free slot: canary intact, header FREE and its own, bytes all zero.
 * Anything else is a write after free or a stray write. */
static void slot_check_free(const region *r, unsigned char *slot)
{
	const slot_hdr *h = slot_hdr_of(slot);
	size_t room = r->slot_size - DATA_OFF;
	int ok;

	if (!canary_ok(slot) || h->r != r ||
	    h->state != SLOT_FREE || h->n != 0)
		misuse();
	show(slot + DATA_OFF, room);
	ok = all_zero(slot + DATA_OFF, room);
	hide(slot + DATA_OFF, room);
	if (!ok)
		misuse();
}

/* ---- regions ----------------------------------------------------------- */

static size_t page_size(void)
{
	static size_t page;

	if (!page) {
		long p = sysconf(_SC_PAGESIZE);

		page = p > 0 ? (size_t)p : 4096;
	}
	return page;
}

/*
 * How many slots the next region of a class gets when the class has
 * `have` regions mapped: one page of slots for the first, the bytes
 * doubled for each region the class already has, up to REGION_BYTES
 * (and 64 slots). A process holding a few secrets maps, locks and
 * faults in a page a class, where a region of the full size locked up
 * to 16; a server holding many soon gets regions of the full size.
 */
static unsigned region_slots(size_t slot_size, unsigned have)
{
	size_t bytes = page_size();
	unsigned n_slots;

	for (unsigned k = 0; k < have && bytes < REGION_BYTES; k++)
		bytes *= 2;
	if (bytes > REGION_BYTES)
		bytes = REGION_BYTES;
	n_slots = (unsigned)(bytes / slot_size);
	if (n_slots < 1)
		n_slots = 1;
	if (n_slots > REGION_SLOTS_MAX)
		n_slots = REGION_SLOTS_MAX;
	return n_slots;
}

static region *region_new(unsigned cls)
{
	size_t slot_size = (size_t)1 << (MIN_SHIFT + cls);
	size_t page = page_size(), bytes;
	unsigned n_slots = region_slots(slot_size, n_regions[cls]);
	region *r;

	bytes = (size_t)n_slots * slot_size;
	bytes = (bytes + page - 1) / page * page;
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->magic = REGION_MAGIC;
	r->cls = cls;
	r->n_slots = n_slots;
	r->slot_size = slot_size;
	r->map_len = bytes + 2 * page;
	/* All of it inaccessible, then the slots opened: the guard pages
	   are never readable. */
	r->map = mmap(NULL, r->map_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
		-1, 0);
	if (r->map == MAP_FAILED) {
		free(r);
		errno = ENOMEM;
		return NULL;
	}
	r->slots = r->map + page;
	if (mprotect(r->slots, bytes, PROT_READ | PROT_WRITE) < 0) {
		munmap(r->map, r->map_len);
		free(r);
		errno = ENOMEM;
		return NULL;
	}
#ifdef MADV_DONTDUMP
	(void)madvise(r->slots, bytes, MADV_DONTDUMP);
#endif
	/* As sodium_malloc(): past RLIMIT_MEMLOCK the pages stay unlocked. */
	(void)mlock(r->slots, bytes);
	/* A fresh mapping is zero: only the canaries and headers to write. */
	for (unsigned i = 0; i < n_slots; i++) {
		unsigned char *slot = slot_at(r, i);
		slot_hdr *h = slot_hdr_of(slot);

		memcpy(slot, canary, CANARY_LEN);
		h->r = r;
		h->state = SLOT_FREE;
		hide(slot + DATA_OFF, slot_size - DATA_OFF);
	}
	return r;
}

/* Unmap an empty region after checking that no freed slot was written. */
static void region_release(region *r)
{
	region **pp = &classes[r->cls];

	for (unsigned i = 0; i < r->n_slots; i++)
		slot_check_free(r, slot_at(r, i));
	while (*pp != r)
		pp = &(*pp)->next;
	*pp = r->next;
	n_regions[r->cls]--;
	/* The sanitizers forget the marks: the addresses will be reused. */
	show(r->slots, r->map_len - 2 * page_size());
	/* Every slot is zero already; munmap unlocks. */
	munmap(r->map, r->map_len);
	r->magic = 0;
	free(r);
}

/* ---- the interface -------------------------------------------------- */

static void fork_prepare(void)
{
	pthread_mutex_lock(&lock);
}

static void fork_done(void)
{
	pthread_mutex_unlock(&lock);
}

/* Under the lock, before the first slot. */
static void arena_init(void)
{
	randombytes_buf(canary, sizeof(canary));
	/* Handlers of a module unloaded with dlclose() (the provider) are
	   dropped by glibc. Without them (ENOMEM), only a fork during an
	   allocation in another thread would leave the child stuck. */
	(void)pthread_atfork(fork_prepare, fork_done, fork_done);
	canary_set = 1;
}

static unsigned class_of(size_t n)
{
	unsigned cls = 0;

	while (((size_t)1 << (MIN_SHIFT + cls)) < n + DATA_OFF + CANARY_LEN)
		cls++;
	return cls;
}

void *kmc_arena_alloc(size_t n)
{
	unsigned cls, i;
	unsigned char *slot;
	slot_hdr *h;
	region *r;

	if (n == 0 || n > KMC_ARENA_MAX)
		abort();
	if (kmc_arena_fault && kmc_arena_fault(n)) {
		errno = ENOMEM;
		return NULL;
	}
	cls = class_of(n);
	pthread_mutex_lock(&lock);
	if (!canary_set)
		arena_init();
	for (r = classes[cls]; r; r = r->next)
		if (r->used != (r->n_slots == 64 ? UINT64_MAX :
				(UINT64_C(1) << r->n_slots) - 1))
			break;
	if (!r) {
		r = region_new(cls);
		if (!r) {
			pthread_mutex_unlock(&lock);
			return NULL;
		}
		r->next = classes[cls];
		classes[cls] = r;
		n_regions[cls]++;
		empty[cls]++;
	}
	if (!r->used)
		empty[cls]--;
	i = (unsigned)__builtin_ctzll(~r->used);
	slot = slot_at(r, i);
	slot_check_free(r, slot);
	r->used |= UINT64_C(1) << i;
	h = slot_hdr_of(slot);
	h->n = (uint32_t)n;
	h->state = SLOT_USED;
	show(slot + DATA_OFF + n, CANARY_LEN);
	memcpy(slot + DATA_OFF + n, canary, CANARY_LEN);
	/* The bytes become usable; the canary and the tail stay out of
	   bounds for the sanitizers. */
	hide(slot + DATA_OFF + n, CANARY_LEN);
	show(slot + DATA_OFF, n);
	pthread_mutex_unlock(&lock);
	return slot + DATA_OFF;
}

void kmc_arena_free(void *p)
{
	unsigned char *slot = (unsigned char *)p - DATA_OFF;
	slot_hdr *h = slot_hdr_of(slot);
	region *r;
	size_t off, n;
	unsigned i;

	pthread_mutex_lock(&lock);
	/* The front canary first: a write that reached the header went
	   through it. */
	if (!canary_ok(slot))
		misuse();
	r = h->r;
	if (!r || r->magic != REGION_MAGIC || slot < r->slots)
		misuse();
	off = (size_t)(slot - r->slots);
	if (off % r->slot_size || off / r->slot_size >= r->n_slots)
		misuse();
	i = (unsigned)(off / r->slot_size);
	n = h->n;
	if (h->state != SLOT_USED || !(r->used & (UINT64_C(1) << i)) ||
	    n == 0 || n > r->slot_size - DATA_OFF - CANARY_LEN)
		misuse();
	show(slot + DATA_OFF, r->slot_size - DATA_OFF);
	if (!canary_ok(slot + DATA_OFF + n))
		misuse();
	/* The bytes and the back canary; the tail past it was never used. */
	sodium_memzero(slot + DATA_OFF, n + CANARY_LEN);
	hide(slot + DATA_OFF, r->slot_size - DATA_OFF);
	h->n = 0;
	h->state = SLOT_FREE;
	r->used &= ~(UINT64_C(1) << i);
	if (!r->used) {
		if (empty[r->cls])
			region_release(r);
		else
			empty[r->cls]++;
	}
	pthread_mutex_unlock(&lock);
}

size_t kmc_arena_regions(void)
{
	size_t n = 0;

	pthread_mutex_lock(&lock);
	for (unsigned c = 0; c < N_CLASSES; c++)
		for (const region *r = classes[c]; r; r = r->next)
			n++;
	pthread_mutex_unlock(&lock);
	return n;
}

int kmc_arena_peek(const void *p, size_t n, void *out)
{
	const unsigned char *q = p;
	int r = -1;

	pthread_mutex_lock(&lock);
	for (unsigned c = 0; r < 0 && c < N_CLASSES; c++)
		for (region *g = classes[c]; r < 0 && g; g = g->next) {
			size_t len = (size_t)g->n_slots * g->slot_size, off;
			unsigned char *slot;
			const slot_hdr *h;

			if (q < g->slots || q >= g->slots + len)
				continue;
			off = (size_t)(q - g->slots) % g->slot_size;
			/* One slot's bytes and what follows them, no more. */
			if (off < DATA_OFF || n > g->slot_size - off)
				break;
			slot = (unsigned char *)q - off;
			h = slot_hdr_of(slot);
			show(slot + DATA_OFF, g->slot_size - DATA_OFF);
			memcpy(out, q, n);
			/* The marks as they were: the bytes of a slot in use
			   open, the rest closed. */
			hide(slot + DATA_OFF, g->slot_size - DATA_OFF);
			if (h->state == SLOT_USED)
				show(slot + DATA_OFF, h->n);
			r = 0;
		}
	pthread_mutex_unlock(&lock);
	return r;
}

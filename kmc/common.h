/*
 * common.h - guard macros and cleanup helpers used across the library.
 *
 * KMC_GUARD(expr)      return expr's value if it is negative.
 * KMC_ENSURE(c, err)   return err unless c holds.
 * _cleanup_(fn)        run fn(&var) when var leaves scope.
 * TAKE_PTR(p)          hand p to the caller and leave NULL behind, so the
 *                      cleanup handler does nothing.
 * KMC_CLEANUP_ERASE(a) wipe the stack array a when it leaves scope.
 */
#ifndef KMC_COMMON_H
#define KMC_COMMON_H

#include <stdlib.h>
#include <sodium.h>
#include <kmc.h>

#define KMC_GUARD(expr) \
	do { \
		int _kmc_r = (expr); \
		if (_kmc_r < 0) \
			return _kmc_r; \
	} while (0)

#define KMC_ENSURE(cond, err) \
	do { \
		if (!(cond)) \
			return (err); \
	} while (0)

#define _cleanup_(f) __attribute__((cleanup(f)))

#define TAKE_PTR(p) \
	({ \
		__typeof__(p) _kmc_p = (p); \
		(p) = NULL; \
		_kmc_p; \
	})

#define TAKE_FD(fd) \
	({ \
		int _kmc_fd = (fd); \
		(fd) = -1; \
		_kmc_fd; \
	})

#define KMC_INTERNAL __attribute__((visibility("hidden")))
#define KMC_UNUSED __attribute__((unused))
#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Record what the failing call was doing (the file or item and the fault)
 * for kmc_error_detail(), and return err. Cleared at the start of each
 * public call that sets details.
 */
KMC_INTERNAL int kmc_detail(int err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
KMC_INTERNAL void kmc_detail_clear(void);

/* The length of the well-formed UTF-8 character at p (at most left
   bytes) above ASCII and outside the C1 controls, else 0 (kmc/escape.c). */
KMC_INTERNAL size_t kmc_utf8_len(const unsigned char *p, size_t left);

static inline void freep(void *p)
{
	free(*(void **)p);
}

static inline void kmc_secret_freep(kmc_secret **s)
{
	kmc_secret_free(*s);
}

/*
 * KMC_CLEANUP_ERASE(a) - declared after a fixed-size stack array a (a key,
 * a hash of a secret), wipes it with sodium_memzero() however the scope
 * is left, so no early return can skip the wipe (systemd's CLEANUP_ERASE).
 * Arrays only: given a pointer it would wipe the pointer, so that fails
 * to compile.
 */
typedef struct kmc_eraser {
	void *p;
	size_t size;
} kmc_eraser;

static inline void kmc_erase(kmc_eraser *e)
{
	sodium_memzero(e->p, e->size);
}

#define KMC_CONCAT_(a, b) a##b
#define KMC_CONCAT(a, b) KMC_CONCAT_(a, b)
#define KMC_CLEANUP_ERASE(a) \
	_Static_assert(!__builtin_types_compatible_p(__typeof__(a), \
		__typeof__(&(a)[0])), #a " is not an array"); \
	_cleanup_(kmc_erase) KMC_UNUSED kmc_eraser \
		KMC_CONCAT(_kmc_eraser_, __COUNTER__) = { &(a), sizeof(a) }

/* The value of a hex digit, either case; -1 for any other byte. */
static inline int kmc_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Broken invariants are bugs, never input errors: stop at once. */
#define KMC_ASSERT(cond) \
	do { \
		if (!(cond)) \
			abort(); \
	} while (0)

#endif

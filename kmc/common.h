/*
 * common.h - guard macros and cleanup helpers used across the library.
 *
 * KMC_GUARD(expr)      return expr's value if it is negative.
 * KMC_ENSURE(c, err)   return err unless c holds.
 * _cleanup_(fn)        run fn(&var) when var leaves scope.
 * TAKE_PTR(p)          hand p to the caller and leave NULL behind, so the
 *                      cleanup handler does nothing.
 */
#ifndef KMC_COMMON_H
#define KMC_COMMON_H

#include <stdlib.h>
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

static inline void freep(void *p)
{
	free(*(void **)p);
}

static inline void kmc_secret_freep(kmc_secret **s)
{
	kmc_secret_free(*s);
}

/* Broken invariants are bugs, never input errors: stop at once. */
#define KMC_ASSERT(cond) \
	do { \
		if (!(cond)) \
			abort(); \
	} while (0)

#endif

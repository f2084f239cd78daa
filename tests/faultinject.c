/*
 * faultinject.c - an LD_PRELOAD shim that makes one chosen file-system
 * call fail, to test that every write path of kmc survives a fault
 * halfway through (tests/e2e/test_faults.sh).
 *
 *	LD_PRELOAD=build/tests/faultinject.so KMC_FAULT_AT=3 kmc ...
 *
 * Counted calls: write, writev, pwrite, fsync, fdatasync, rename,
 * renameat, linkat, mkdirat, msync, and open/openat when they carry
 * O_CREAT. (writev and open are beyond the minimum because LMDB flushes
 * pages with writev and creates its files with open.)
 *
 * Environment:
 *	KMC_FAULT_AT=N     the Nth counted call fails without doing anything:
 *	                   ENOSPC for write and writev, EIO for the others.
 *	                   Unset or 0: nothing fails, calls are only counted.
 *	KMC_FAULT_OPS=a,b  count only these calls (names as above); default
 *	                   all of them.
 *	KMC_FAULT_COUNT=F  at exit, write the number of counted calls to F,
 *	                   so a test knows how many steps a command has.
 *	KMC_FAULT_TRACE=1  print each counted call to stderr.
 *	KMC_FAULT_KILL=1   the Nth counted call (KMC_FAULT_AT) raises SIGKILL
 *	                   instead of failing, before doing anything: a crash
 *	                   or power cut at that step. KMC_FAULT_COUNT is not
 *	                   written then (no destructor runs).
 *
 * Only calls made through the dynamic linker are seen: those of the kmc
 * binary (which links libkmcvault statically but calls libc through its
 * PLT) and of liblmdb.so. libc's internal calls, e.g. stdio's, are not.
 * Real functions come from dlsym(RTLD_NEXT). The process is taken to be
 * single-threaded, as kmc is.
 */
#undef _FORTIFY_SOURCE	/* fortify's inline open()/openat() would clash */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/uio.h>

/* The build hides symbols by default; these must interpose. */
#define EXPORT __attribute__((visibility("default")))

enum op {
	OP_WRITE, OP_WRITEV, OP_PWRITE, OP_FSYNC, OP_FDATASYNC, OP_RENAME,
	OP_RENAMEAT, OP_LINKAT, OP_MKDIRAT, OP_MSYNC, OP_OPEN, OP_OPENAT,
	OP_COUNT_
};

static const char *const op_names[OP_COUNT_] = {
	"write", "writev", "pwrite", "fsync", "fdatasync", "rename",
	"renameat", "linkat", "mkdirat", "msync", "open", "openat",
};

static unsigned long fault_at;		/* 0: never */
static unsigned long calls;		/* counted so far */
static unsigned enabled = (1u << OP_COUNT_) - 1;
static int trace;
static int kill_at;			/* KMC_FAULT_KILL: SIGKILL, not fail */
static int done;			/* past the destructor: count nothing */

static void load_config(void)
{
	static int loaded;
	const char *s;

	if (loaded)
		return;
	loaded = 1;
	s = getenv("KMC_FAULT_AT");
	if (s && *s)
		fault_at = strtoul(s, NULL, 10);
	trace = getenv("KMC_FAULT_TRACE") != NULL;
	s = getenv("KMC_FAULT_KILL");
	kill_at = s && *s && strcmp(s, "0") != 0;
	s = getenv("KMC_FAULT_OPS");
	if (s && *s) {
		enabled = 0;
		while (*s) {
			size_t n = strcspn(s, ",");

			for (int i = 0; i < OP_COUNT_; i++)
				if (strlen(op_names[i]) == n &&
				    strncmp(s, op_names[i], n) == 0)
					enabled |= 1u << i;
			s += n;
			if (*s == ',')
				s++;
		}
	}
}

__attribute__((constructor)) static void fault_init(void)
{
	load_config();
}

__attribute__((destructor)) static void fault_fini(void)
{
	const char *path = getenv("KMC_FAULT_COUNT");
	FILE *f;

	done = 1;
	if (!path || !*path)
		return;
	f = fopen(path, "w");	/* stdio: not through the wrappers */
	if (f) {
		fprintf(f, "%lu\n", calls);
		fclose(f);
	}
}

/* Count a call of op; nonzero when this is the one that must fail. */
static int hit(enum op op, const char *what)
{
	load_config();
	if (done || !(enabled & (1u << op)))
		return 0;
	calls++;
	if (trace)
		fprintf(stderr, "faultinject: #%lu %s %s%s\n", calls, op_names[op],
			what ? what : "", calls == fault_at ?
			(kill_at ? " -> KILL" : " -> FAIL") : "");
	if (calls == fault_at && kill_at) {
		/* Nothing of this call happens; the process dies here. */
		raise(SIGKILL);
		_exit(137);	/* not reached */
	}
	return calls == fault_at;
}

#define REAL(name) \
	static __typeof__(name) *real_; \
	if (!real_) \
		real_ = (__typeof__(name) *)dlsym(RTLD_NEXT, #name)

#define FAIL(err) \
	do { \
		errno = (err); \
		return -1; \
	} while (0)

EXPORT ssize_t write(int fd, const void *buf, size_t n)
{
	REAL(write);
	if (hit(OP_WRITE, NULL))
		FAIL(ENOSPC);
	return real_(fd, buf, n);
}

EXPORT ssize_t writev(int fd, const struct iovec *iov, int n)
{
	REAL(writev);
	if (hit(OP_WRITEV, NULL))
		FAIL(ENOSPC);
	return real_(fd, iov, n);
}

EXPORT ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	REAL(pwrite);
	if (hit(OP_PWRITE, NULL))
		FAIL(EIO);
	return real_(fd, buf, n, off);
}

EXPORT int fsync(int fd)
{
	REAL(fsync);
	if (hit(OP_FSYNC, NULL))
		FAIL(EIO);
	return real_(fd);
}

EXPORT int fdatasync(int fd)
{
	REAL(fdatasync);
	if (hit(OP_FDATASYNC, NULL))
		FAIL(EIO);
	return real_(fd);
}

EXPORT int rename(const char *from, const char *to)
{
	REAL(rename);
	if (hit(OP_RENAME, to))
		FAIL(EIO);
	return real_(from, to);
}

EXPORT int renameat(int fromfd, const char *from, int tofd, const char *to)
{
	REAL(renameat);
	if (hit(OP_RENAMEAT, to))
		FAIL(EIO);
	return real_(fromfd, from, tofd, to);
}

EXPORT int linkat(int fromfd, const char *from, int tofd, const char *to,
	int flags)
{
	REAL(linkat);
	if (hit(OP_LINKAT, to))
		FAIL(EIO);
	return real_(fromfd, from, tofd, to, flags);
}

EXPORT int mkdirat(int dirfd, const char *path, mode_t mode)
{
	REAL(mkdirat);
	if (hit(OP_MKDIRAT, path))
		FAIL(EIO);
	return real_(dirfd, path, mode);
}

EXPORT int msync(void *addr, size_t len, int flags)
{
	REAL(msync);
	if (hit(OP_MSYNC, NULL))
		FAIL(EIO);
	return real_(addr, len, flags);
}

/* open and openat are variadic: the mode comes only with O_CREAT or
 * O_TMPFILE. Only creating opens are counted. */
static mode_t open_mode(int flags, va_list ap)
{
	if (flags & (O_CREAT | O_TMPFILE))
		return (mode_t)va_arg(ap, int);
	return 0;
}

EXPORT int open(const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	REAL(open);
	va_start(ap, flags);
	mode = open_mode(flags, ap);
	va_end(ap);
	if ((flags & O_CREAT) && hit(OP_OPEN, path))
		FAIL(EIO);
	return real_(path, flags, mode);
}

EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	REAL(openat);
	va_start(ap, flags);
	mode = open_mode(flags, ap);
	va_end(ap);
	if ((flags & O_CREAT) && hit(OP_OPENAT, path))
		FAIL(EIO);
	return real_(dirfd, path, flags, mode);
}

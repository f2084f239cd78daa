/*
 * faultinject.c - an LD_PRELOAD shim that makes one chosen file-system
 * call fail, to test that every write path of kmc survives a fault
 * halfway through (tests/e2e/test_faults.sh).
 *
 *	LD_PRELOAD=build/tests/faultinject.so KMC_FAULT_AT=3 kmc ...
 *
 * Counted calls: write, writev, pwrite, fsync, fdatasync, rename,
 * renameat (and renameat2), linkat, mkdirat, msync, and open/openat when they carry
 * O_CREAT. (writev and open are beyond the minimum because LMDB flushes
 * pages with writev and creates its files with open.)
 *
 * Allocations - malloc, calloc, realloc, and libsodium's sodium_malloc,
 * which takes guarded pages with mmap rather than malloc, under whose name
 * the slots of kmc's guarded arena count too (kmc_arena_fault, below) - are counted
 * only when KMC_FAULT_OPS names them (e.g. KMC_FAULT_OPS=malloc,realloc,
 * or "alloc" for the four): so the default count, of file-system calls,
 * is what it always was. A failing allocation returns NULL with ENOMEM
 * (realloc leaves its block alone). Unlike the file-system calls, libc's
 * own allocations (stdio's buffers, strdup, ...) go through the
 * interposed malloc and are counted too, as are those of the dynamic
 * linker, OpenSSL, LMDB and p11-kit; free is wrapped only to recognise
 * the blocks handed out while dlsym itself was being asked for malloc
 * (a small static bootstrap buffer; dlsym may allocate).
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
 *	KMC_FAULT_NEAR=K   count only the allocations that kmc's own code
 *	                   asks for: those with the program itself (which
 *	                   holds libkmcvault) or LMDB among the K callers
 *	                   nearest the allocation. K=1: its direct calls of
 *	                   malloc and the like; K=3 also reaches strdup,
 *	                   asprintf, OPENSSL_malloc and other thin wrappers.
 *	                   OpenSSL's and libc's allocations inside larger
 *	                   calls are left out: an import makes some 26,000
 *	                   allocations, nearly all inside OpenSSL's decoders,
 *	                   and trying each of kmc's own is what finds kmc's
 *	                   bugs. The stack comes from backtrace(). Unset or
 *	                   0: every allocation counts. The frames of the
 *	                   allocator kmc gives OpenSSL (section
 *	                   kmc_openssl_alloc) are skipped, as the shim's own.
 *	KMC_FAULT_MAKE=F   the Nth counted call (KMC_FAULT_AT) does not
 *	                   fail: first the file F is created (0644, holding
 *	                   "made by another process\n", through raw system
 *	                   calls, uncounted), then the call goes on. A file
 *	                   that another process makes at that step, for the
 *	                   writers that must never write over one.
 *	KMC_FAULT_NO_TMPFILE=1
 *	                   every open with O_TMPFILE fails with EOPNOTSUPP,
 *	                   as on a file system without it, so the way a
 *	                   writer takes without one is tried (never counted).
 *	KMC_FAULT_NO_NOREPLACE=1
 *	                   every renameat2 with RENAME_NOREPLACE fails with
 *	                   EINVAL, as on a file system that refuses the flag
 *	                   (NFS), so the way a writer takes without it is
 *	                   tried (never counted).
 *	KMC_FAULT_STOP=1   the Nth counted call (KMC_FAULT_AT), an mkdirat,
 *	                   does not fail: it is made, then the process stops
 *	                   itself (SIGSTOP) until the test, having acted on
 *	                   what the call made (a lock on the new folder),
 *	                   sends SIGCONT. Only mkdirat stops so; another
 *	                   call counted Nth fails as without it.
 *	KMC_FAULT_KILL=1   the Nth counted call (KMC_FAULT_AT) raises SIGKILL
 *	                   instead of failing, before doing anything: a crash
 *	                   or power cut at that step. KMC_FAULT_COUNT is not
 *	                   written then (no destructor runs).
 *	KMC_WRITE_LOG=F    append a copy of every byte the process writes to
 *	                   F (opened once, O_APPEND, created 0600), to prove
 *	                   that no secret leaves the process
 *	                   (tests/e2e/test_secret_hygiene.sh). Seen: write,
 *	                   pwrite, writev, pwritev (and pwrite64, pwritev64,
 *	                   pwritev2) on any descriptor but the log's own:
 *	                   files, pipes, sockets, stdout, stderr. Only the
 *	                   bytes a call reports as written are logged (all
 *	                   of them for a call that succeeds; none for one
 *	                   made to fail). The copy goes through the real
 *	                   write; it is neither counted nor made to fail.
 *	                   Because libc's stdio writes without the dynamic
 *	                   linker (see below), the shim also replaces stdout
 *	                   and stderr at start-up with streams on the same
 *	                   descriptors, with the same buffering, whose output
 *	                   passes through it: printf/fprintf output is logged
 *	                   too. Other stdio streams (kmc opens none), writes
 *	                   through shared memory maps, and calls made by
 *	                   libc itself (e.g. abort messages) are not logged.
 *	                   Unset or empty: nothing is logged or replaced.
 *	                   The extra calls (pwritev, ...) are never counted,
 *	                   so KMC_FAULT_AT step numbers do not change.
 *	KMC_FAULT_OSSL_INIT=1
 *	                   count the allocations OpenSSL makes while it
 *	                   starts its parts: the building of its default
 *	                   library context, which kmc does first thing in
 *	                   every command (some 50 allocations, the same in
 *	                   all), and each OPENSSL_init_crypto() call, which
 *	                   OpenSSL also makes itself when a part it starts on
 *	                   first use is first used (error strings, ciphers:
 *	                   some 3,000 allocations in a crl update). Unset:
 *	                   they are left out, so an allocation sweep of any
 *	                   command tries what that command does;
 *	                   test_born_faults_alloc.sh sets it and fails each
 *	                   of the first 150 allocations of kmc csr.
 *
 * Only calls made through the dynamic linker are seen: those of the kmc
 * binary (which links libkmcvault statically but calls libc through its
 * PLT) and of liblmdb.so. libc's internal calls, e.g. stdio's, are not.
 * Real functions come from dlsym(RTLD_NEXT). The process is taken to be
 * single-threaded, as kmc is.
 */
#undef _FORTIFY_SOURCE	/* fortify's inline open()/openat() would clash */
#include <dlfcn.h>
#include <execinfo.h>
#include <link.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>

/* The build hides symbols by default; these must interpose. */
#define EXPORT __attribute__((visibility("default")))

enum op {
	OP_WRITE, OP_WRITEV, OP_PWRITE, OP_FSYNC, OP_FDATASYNC, OP_RENAME,
	OP_RENAMEAT, OP_LINKAT, OP_MKDIRAT, OP_MSYNC, OP_OPEN, OP_OPENAT,
	OP_MALLOC, OP_CALLOC, OP_REALLOC, OP_SODIUM_MALLOC,
	OP_COUNT_
};

/* Counted when KMC_FAULT_OPS is unset: the file-system calls only. */
#define ALLOC_OPS ((1u << OP_MALLOC) | (1u << OP_CALLOC) | \
	(1u << OP_REALLOC) | (1u << OP_SODIUM_MALLOC))
#define DEFAULT_OPS (((1u << OP_COUNT_) - 1) & ~ALLOC_OPS)

static const char *const op_names[OP_COUNT_] = {
	"write", "writev", "pwrite", "fsync", "fdatasync", "rename",
	"renameat", "linkat", "mkdirat", "msync", "open", "openat",
	"malloc", "calloc", "realloc", "sodium_malloc",
};

static unsigned long fault_at;		/* 0: never */
static unsigned long calls;		/* counted so far */
static unsigned enabled = DEFAULT_OPS;
static int trace;
static int kill_at;			/* KMC_FAULT_KILL: SIGKILL, not fail */
static int stop_at;			/* KMC_FAULT_STOP: made, then SIGSTOP */
static const char *make_path;		/* KMC_FAULT_MAKE: make it, not fail */
static int no_tmpfile;			/* KMC_FAULT_NO_TMPFILE */
static int no_noreplace;		/* KMC_FAULT_NO_NOREPLACE */
static int count_ossl_init;		/* KMC_FAULT_OSSL_INIT */
static int done;			/* past the destructor: count nothing */

/* KMC_WRITE_LOG: the log's descriptor, -1 when off. */
static int log_fd = -1;
static ssize_t (*log_write)(int, const void *, size_t);	/* the real write */

static void log_open(void);
static void near_init(void);
/* Inside the shim (tracing, dlsym): allocations pass uncounted. Initial
 * exec: no __tls_get_addr, which could itself allocate. */
static __thread int in_shim __attribute__((tls_model("initial-exec")));
/* Inside OpenSSL's start (KMC_FAULT_OSSL_INIT). */
static __thread int in_ossl_init __attribute__((tls_model("initial-exec")));

extern char **environ;

static void load_config(void)
{
	static int loaded;
	const char *s;

	if (loaded)
		return;
	/* A sanitizer runtime starts before libc has set up the environment
	   and may call through the shim then: read nothing until it is. */
	if (!environ)
		return;
	loaded = 1;
	s = getenv("KMC_FAULT_AT");
	if (s && *s)
		fault_at = strtoul(s, NULL, 10);
	trace = getenv("KMC_FAULT_TRACE") != NULL;
	s = getenv("KMC_FAULT_KILL");
	kill_at = s && *s && strcmp(s, "0") != 0;
	s = getenv("KMC_FAULT_STOP");
	stop_at = s && *s && strcmp(s, "0") != 0;
	s = getenv("KMC_FAULT_MAKE");
	make_path = s && *s ? s : NULL;
	s = getenv("KMC_FAULT_NO_TMPFILE");
	no_tmpfile = s && *s && strcmp(s, "0") != 0;
	s = getenv("KMC_FAULT_NO_NOREPLACE");
	no_noreplace = s && *s && strcmp(s, "0") != 0;
	s = getenv("KMC_FAULT_OSSL_INIT");
	count_ossl_init = s && *s && strcmp(s, "0") != 0;
	log_open();
	near_init();
	s = getenv("KMC_FAULT_OPS");
	if (s && *s) {
		enabled = 0;
		while (*s) {
			size_t n = strcspn(s, ",");

			if (n == 5 && strncmp(s, "alloc", 5) == 0)
				enabled |= ALLOC_OPS;
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

/* ---- KMC_WRITE_LOG ------------------------------------------------------ */

/* Append n bytes that were written to fd to the log (not the log's own). */
static void log_bytes(int fd, const void *buf, size_t n)
{
	const unsigned char *p = buf;
	int saved = errno;

	if (log_fd < 0 || fd == log_fd)
		return;
	while (n > 0) {
		ssize_t k = log_write(log_fd, p, n);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			break;	/* a lost log shows as a missing copy, no more */
		}
		p += k;
		n -= (size_t)k;
	}
	errno = saved;
}

/* The first done bytes of an iovec array, as writev() consumed them. */
static void log_iov(int fd, const struct iovec *iov, int cnt, ssize_t done_)
{
	size_t left = done_ > 0 ? (size_t)done_ : 0;

	for (int i = 0; i < cnt && left > 0; i++) {
		size_t n = iov[i].iov_len < left ? iov[i].iov_len : left;

		log_bytes(fd, iov[i].iov_base, n);
		left -= n;
	}
}

/* stdio writes through libc's internal write, which no wrapper sees: with
 * the log on, stdout and stderr are replaced by cookie streams on the same
 * descriptors that write through the real write and log what they wrote. */
static ssize_t cookie_write(void *cookie, const char *buf, size_t n)
{
	int fd = (int)(intptr_t)cookie;
	size_t put = 0;

	while (put < n) {
		ssize_t k = log_write(fd, buf + put, n - put);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			break;	/* stdio sees a short count: an error, errno kept */
		}
		log_bytes(fd, buf + put, (size_t)k);
		put += (size_t)k;
	}
	return (ssize_t)put;
}

static FILE *log_stream(int fd, int mode)
{
	cookie_io_functions_t io = { .write = cookie_write };
	FILE *f = fopencookie((void *)(intptr_t)fd, "w", io);

	if (f && setvbuf(f, NULL, mode, BUFSIZ) != 0) {
		fclose(f);
		f = NULL;
	}
	return f;
}

static void log_open(void)
{
	const char *path = getenv("KMC_WRITE_LOG");
	int (*real_open)(const char *, int, ...);
	FILE *f;
	int fd, high;

	if (!path || !*path)
		return;
	log_write = (ssize_t (*)(int, const void *, size_t))
		dlsym(RTLD_NEXT, "write");
	real_open = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, "open");
	if (!log_write || !real_open)
		return;
	/* Through the real open: opening the log is no counted step. */
	fd = real_open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "faultinject: KMC_WRITE_LOG %s: %s\n", path,
			strerror(errno));
		_exit(125);	/* a check that sees no log must not pass */
	}
	/* Out of the way of the descriptors the program numbers itself. */
	high = fcntl(fd, F_DUPFD_CLOEXEC, 200);
	if (high >= 0) {
		close(fd);
		fd = high;
	}
	log_fd = fd;
	/* Same buffering as glibc gives them: stderr none, stdout by line
	   on a terminal, else in blocks. */
	f = log_stream(STDERR_FILENO, _IONBF);
	if (f)
		stderr = f;
	f = log_stream(STDOUT_FILENO, isatty(STDOUT_FILENO) ? _IOLBF : _IOFBF);
	if (f)
		stdout = f;
}

/* ---- counting -------------------------------------------------------------- */

/* Count a call of op; nonzero when this is the one that must fail. */
static int hit(enum op op, const char *what)
{
	load_config();
	if (done || !(enabled & (1u << op)))
		return 0;
	calls++;
	if (trace) {
		in_shim++;	/* stdio may allocate */
		fprintf(stderr, "faultinject: #%lu %s %s%s\n", calls, op_names[op],
			what ? what : "", calls != fault_at ? "" :
			make_path ? " -> MAKE" : kill_at ? " -> KILL" :
			stop_at ? " -> STOP" : " -> FAIL");
		in_shim--;
	}
	if (calls == fault_at && make_path) {
		static const char text[] = "made by another process\n";
		int saved = errno;
		long fd = syscall(SYS_openat, AT_FDCWD, make_path, O_WRONLY |
			O_CREAT | O_EXCL | O_CLOEXEC, 0644);

		if (fd >= 0) {
			(void)syscall(SYS_write, (int)fd, text, sizeof(text) - 1);
			(void)syscall(SYS_close, (int)fd);
		}
		errno = saved;
		return 0;
	}
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

/* The writes also feed KMC_WRITE_LOG with what they wrote. */
EXPORT ssize_t write(int fd, const void *buf, size_t n)
{
	ssize_t r;

	REAL(write);
	if (hit(OP_WRITE, NULL))
		FAIL(ENOSPC);
	r = real_(fd, buf, n);
	if (r > 0)
		log_bytes(fd, buf, (size_t)r);
	return r;
}

EXPORT ssize_t writev(int fd, const struct iovec *iov, int n)
{
	ssize_t r;

	REAL(writev);
	if (hit(OP_WRITEV, NULL))
		FAIL(ENOSPC);
	r = real_(fd, iov, n);
	log_iov(fd, iov, n, r);
	return r;
}

EXPORT ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	ssize_t r;

	REAL(pwrite);
	if (hit(OP_PWRITE, NULL))
		FAIL(EIO);
	r = real_(fd, buf, n, off);
	if (r > 0)
		log_bytes(fd, buf, (size_t)r);
	return r;
}

/* Logged, never counted (they were not before the log existed). */
EXPORT ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off)
{
	ssize_t r;

	REAL(pwrite64);
	load_config();
	r = real_(fd, buf, n, off);
	if (r > 0)
		log_bytes(fd, buf, (size_t)r);
	return r;
}

EXPORT ssize_t pwritev(int fd, const struct iovec *iov, int n, off_t off)
{
	ssize_t r;

	REAL(pwritev);
	load_config();
	r = real_(fd, iov, n, off);
	log_iov(fd, iov, n, r);
	return r;
}

EXPORT ssize_t pwritev64(int fd, const struct iovec *iov, int n, off64_t off)
{
	ssize_t r;

	REAL(pwritev64);
	load_config();
	r = real_(fd, iov, n, off);
	log_iov(fd, iov, n, r);
	return r;
}

EXPORT ssize_t pwritev2(int fd, const struct iovec *iov, int n, off_t off,
	int flags)
{
	ssize_t r;

	REAL(pwritev2);
	load_config();
	r = real_(fd, iov, n, off, flags);
	log_iov(fd, iov, n, r);
	return r;
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

/* renameat2 (RENAME_NOREPLACE) counts as a renameat. */
EXPORT int renameat2(int fromfd, const char *from, int tofd, const char *to,
	unsigned int flags)
{
	REAL(renameat2);
	if (flags & RENAME_NOREPLACE) {
		load_config();
		if (no_noreplace)
			FAIL(EINVAL);
	}
	if (hit(OP_RENAMEAT, to))
		FAIL(EIO);
	return real_(fromfd, from, tofd, to, flags);
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
	int r, saved;

	REAL(mkdirat);
	if (hit(OP_MKDIRAT, path)) {
		if (!stop_at)
			FAIL(EIO);
		r = real_(dirfd, path, mode);
		saved = errno;
		raise(SIGSTOP);
		errno = saved;
		return r;
	}
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
	if ((flags & O_TMPFILE) == O_TMPFILE) {
		load_config();
		if (no_tmpfile)
			FAIL(EOPNOTSUPP);
	}
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
	if ((flags & O_TMPFILE) == O_TMPFILE) {
		load_config();
		if (no_tmpfile)
			FAIL(EOPNOTSUPP);
	}
	if ((flags & O_CREAT) && hit(OP_OPENAT, path))
		FAIL(EIO);
	return real_(dirfd, path, flags, mode);
}

/* ---- allocations ------------------------------------------------------------ */

/* KMC_FAULT_NEAR: the executable ranges of kmc's own code (the program,
 * LMDB) and of this shim, whose frames are skipped. */
#define NEAR_MAX 16
struct range {
	uintptr_t lo, hi;
};
static struct range own[8], shim[4], pass;
static int n_own, n_shim, near_depth;
static uintptr_t program_base;

static int in_ranges(const struct range *r, int n, uintptr_t a)
{
	for (int i = 0; i < n; i++)
		if (a >= r[i].lo && a < r[i].hi)
			return 1;
	return 0;
}

static int add_ranges(struct dl_phdr_info *info, size_t size, void *data)
{
	const char *name = info->dlpi_name ? info->dlpi_name : "";
	int first = *(int *)data;
	struct range found[4];
	int n = 0, is_shim = 0;

	(void)size;
	if (first)
		program_base = info->dlpi_addr;
	*(int *)data = 0;
	for (int i = 0; i < info->dlpi_phnum && n < 4; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		found[n].lo = info->dlpi_addr + ph->p_vaddr;
		found[n].hi = found[n].lo + ph->p_memsz;
		if (in_ranges(&found[n], 1, (uintptr_t)&add_ranges))
			is_shim = 1;
		n++;
	}
	for (int i = 0; i < n; i++) {
		if (is_shim && n_shim < 4)
			shim[n_shim++] = found[i];
		else if ((first || strstr(name, "/liblmdb.so")) && n_own < 8)
			own[n_own++] = found[i];
	}
	return 0;
}

/*
 * The allocator kmc gives OpenSSL (vault/opensslmem.c: it wipes what
 * OpenSSL frees) sits in the program, in a section of its own,
 * kmc_openssl_alloc: every allocation OpenSSL makes passes through it.
 * Its frames are skipped like this shim's, so that the K callers nearest
 * an allocation are the same as without it (OpenSSL's for OpenSSL's);
 * counted as kmc's own, they would make each of OpenSSL's some 26,000
 * allocations kmc's (in a build where the call to malloc is not a jump).
 * The section's place comes from the program file's section headers, read
 * with raw system calls, uncounted; none found: nothing is skipped.
 */
static void pass_init(void)
{
	static const char want[] = "kmc_openssl_alloc";
	ElfW(Ehdr) eh;
	ElfW(Shdr) sh, strs;
	char name[sizeof(want)];
	long fd = syscall(SYS_openat, AT_FDCWD, "/proc/self/exe",
		O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return;
#define PREAD(buf, len, off) \
	(syscall(SYS_pread64, (int)fd, (buf), (len), (off)) == (long)(len))
	if (!PREAD(&eh, sizeof(eh), 0) || memcmp(eh.e_ident, ELFMAG, SELFMAG) ||
	    eh.e_shentsize != sizeof(sh) || eh.e_shstrndx >= eh.e_shnum ||
	    !PREAD(&strs, sizeof(strs), eh.e_shoff +
		    (ElfW(Off))eh.e_shstrndx * sizeof(sh)))
		goto out;
	for (unsigned i = 0; i < eh.e_shnum; i++) {
		if (!PREAD(&sh, sizeof(sh), eh.e_shoff + (ElfW(Off))i * sizeof(sh)) ||
		    !PREAD(name, sizeof(name), strs.sh_offset + sh.sh_name))
			break;
		if (memcmp(name, want, sizeof(want)) == 0 && sh.sh_addr) {
			pass.lo = program_base + sh.sh_addr;
			pass.hi = pass.lo + sh.sh_size;
			break;
		}
	}
#undef PREAD
out:
	(void)syscall(SYS_close, (int)fd);
}

static void near_init(void)
{
	const char *s = getenv("KMC_FAULT_NEAR");
	void *warm[2];
	int first = 1;

	if (!s || !*s || (near_depth = atoi(s)) <= 0)
		return;
	if (near_depth > NEAR_MAX)
		near_depth = NEAR_MAX;
	in_shim++;
	dl_iterate_phdr(add_ranges, &first);	/* the program comes first */
	pass_init();
	/* The first backtrace() loads the unwinder, allocating: now, unseen. */
	(void)backtrace(warm, 2);
	in_shim--;
}

/*
 * p11-kit 0.24 crashes when some allocations inside these fail:
 * p11_kit_uri_new() hands back a URI without its attribute array, which
 * p11_kit_uri_parse() then dereferences, and p11_kit_uri_parse() does
 * the same with arrays of its own. kmc parses every token URI through
 * them and has no way around that short of a parser of its own, so their
 * allocations are not counted: the sweeps test kmc's answers to the
 * allocations it can answer for.
 */
static int in_p11kit_uri_parse(uintptr_t a)
{
	/* dladdr is slow and this runs for frames of every allocation; the
	   same return addresses come back again and again: remembered, an
	   address and its answer in one word (a * 2 + answer). */
	static uintptr_t memo[1024];
	uintptr_t *m = &memo[(a >> 2) % 1024], got = *m;
	Dl_info info;
	int yes;

	if (got >> 1 == a)
		return (int)(got & 1);
	yes = dladdr((void *)a, &info) && info.dli_sname &&
		(strcmp(info.dli_sname, "p11_kit_uri_parse") == 0 ||
		 strcmp(info.dli_sname, "p11_kit_uri_new") == 0);
	*m = a * 2 + (uintptr_t)yes;
	return yes;
}

/* Nonzero when kmc's own code is among the near_depth callers nearest
 * the allocation being made (this shim's own frames not counted). */
static int near_own_code(void)
{
	/* Only as deep as needed: this shim's few frames and near_depth
	   more. Each frame is a DWARF unwind step, and this runs for every
	   allocation (some 26,000 in an import). */
	void *frames[NEAR_MAX + 8];
	int n = backtrace(frames, near_depth + 8), seen = 0;

	for (int i = 0; i < n && seen < near_depth; i++) {
		uintptr_t a = (uintptr_t)frames[i];

		if (in_ranges(shim, n_shim, a) || in_ranges(&pass, 1, a))
			continue;
		if (in_ranges(own, n_own, a))
			return 1;
		if (in_p11kit_uri_parse(a))
			return 0;
		seen++;
	}
	return 0;
}

/*
 * The real functions come from dlsym, and dlsym may allocate (glibc's
 * dlerror state, with calloc): while it runs, allocations come from a
 * static bump allocator, whose blocks free ignores and realloc moves out.
 * Each bootstrap block has a 16-byte header holding its size.
 */
static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void (*real_free)(void *);
static int resolving;
static _Alignas(16) unsigned char boot_buf[16384];
static size_t boot_used;

static int is_boot(const void *p)
{
	return (const unsigned char *)p >= boot_buf &&
		(const unsigned char *)p < boot_buf + sizeof(boot_buf);
}

static void *boot_alloc(size_t n)
{
	size_t need = 16 + ((n + 15) & ~(size_t)15);
	unsigned char *p;

	if (n > sizeof(boot_buf) || need > sizeof(boot_buf) - boot_used) {
		errno = ENOMEM;
		return NULL;
	}
	p = boot_buf + boot_used;
	boot_used += need;
	memcpy(p, &n, sizeof(n));
	return p + 16;		/* zeroed: a static buffer, never reused */
}

static size_t boot_size(const void *p)
{
	size_t n;

	memcpy(&n, (const unsigned char *)p - 16, sizeof(n));
	return n;
}

/* Nonzero once the real allocator is known; zero while dlsym runs. */
static int resolve_alloc(void)
{
	if (real_free)
		return 1;
	if (resolving)
		return 0;
	resolving = 1;
	in_shim++;
	real_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
	real_calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
	real_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
	real_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
	in_shim--;
	resolving = 0;
	if (!real_malloc || !real_calloc || !real_realloc || !real_free) {
		static const char msg[] = "faultinject: no real malloc\n";
		ssize_t w = write(2, msg, sizeof(msg) - 1);

		(void)w;
		abort();
	}
	return 1;
}

/* Count an allocation; nonzero when it must fail. */
static int alloc_hit(enum op op)
{
	int r;

	if (in_shim)
		return 0;
	in_shim++;
	load_config();
	r = (in_ossl_init && !count_ossl_init) ? 0 :
		(!near_depth || near_own_code()) ? hit(op, NULL) : 0;
	in_shim--;
	return r;
}

/* OpenSSL's start, marked for alloc_hit (KMC_FAULT_OSSL_INIT). Declared
 * here rather than from OpenSSL's headers: the shim links no OpenSSL,
 * and is preloaded into programs that may have none. */
struct ossl_lib_ctx_st;
EXPORT int OPENSSL_init_crypto(uint64_t opts, const void *settings);
EXPORT struct ossl_lib_ctx_st *OSSL_LIB_CTX_get0_global_default(void);

EXPORT int OPENSSL_init_crypto(uint64_t opts, const void *settings)
{
	static int (*real)(uint64_t, const void *);
	int r;

	in_ossl_init++;
	if (!real)
		real = (int (*)(uint64_t, const void *))dlsym(RTLD_NEXT,
			"OPENSSL_init_crypto");
	r = real ? real(opts, settings) : 0;
	in_ossl_init--;
	return r;
}

EXPORT struct ossl_lib_ctx_st *OSSL_LIB_CTX_get0_global_default(void)
{
	static struct ossl_lib_ctx_st *(*real)(void);
	struct ossl_lib_ctx_st *r;

	in_ossl_init++;
	if (!real)
		real = (struct ossl_lib_ctx_st *(*)(void))dlsym(RTLD_NEXT,
			"OSSL_LIB_CTX_get0_global_default");
	r = real ? real() : NULL;
	in_ossl_init--;
	return r;
}

EXPORT void *malloc(size_t n)
{
	if (!resolve_alloc())
		return boot_alloc(n);
	if (alloc_hit(OP_MALLOC)) {
		errno = ENOMEM;
		return NULL;
	}
	return real_malloc(n);
}

EXPORT void *calloc(size_t n, size_t size)
{
	if (!resolve_alloc()) {
		if (size && n > (size_t)-1 / size) {
			errno = ENOMEM;
			return NULL;
		}
		return boot_alloc(n * size);
	}
	if (alloc_hit(OP_CALLOC)) {
		errno = ENOMEM;
		return NULL;
	}
	return real_calloc(n, size);
}

EXPORT void *realloc(void *p, size_t n)
{
	void *q;

	if (!resolve_alloc()) {
		q = boot_alloc(n);
		if (q && p)
			memcpy(q, p, boot_size(p) < n ? boot_size(p) : n);
		return q;
	}
	if (alloc_hit(OP_REALLOC)) {
		errno = ENOMEM;
		return NULL;
	}
	if (!is_boot(p))
		return real_realloc(p, n);
	/* A bootstrap block: move it out. */
	q = real_malloc(n);
	if (q)
		memcpy(q, p, boot_size(p) < n ? boot_size(p) : n);
	return q;
}

/* libsodium's guarded allocation maps pages of its own; kmc's secrets
 * (kmc/secret.c) live there. */
void *sodium_malloc(size_t n);

EXPORT void *sodium_malloc(size_t n)
{
	REAL(sodium_malloc);
	if (alloc_hit(OP_SODIUM_MALLOC)) {
		errno = ENOMEM;
		return NULL;
	}
	return real_(n);
}

/* kmc's guarded arena (kmc/arena.c) asks this, where defined, before it
 * hands out a slot: a secret allocation that takes no new pages, so
 * neither malloc nor sodium_malloc would see it. Counted and failed as
 * sodium_malloc, the allocation it stands in for. */
int kmc_arena_fault(size_t n);

EXPORT int kmc_arena_fault(size_t n)
{
	(void)n;
	return alloc_hit(OP_SODIUM_MALLOC);
}

EXPORT void free(void *p)
{
	if (!p || is_boot(p))
		return;
	/* Any other block came from the real allocator, which is known. */
	if (resolve_alloc())
		real_free(p);
}

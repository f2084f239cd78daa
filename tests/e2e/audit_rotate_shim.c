/*
 * audit_rotate_shim.c - an LD_PRELOAD shim for test_audit.sh: the first
 * time the process opens audit.log read-only after a segment
 * (audit-*.log: a reader of the log, at the end of its walk over the
 * segments; not kmc status's look at kmc.bind's record, made while it
 * holds the vault folder's lock, which the writer would wait for), it
 * first runs the command
 * $KMC_ROTATE_CMD (a writer whose changes rotate the log and remove old
 * segments), then goes on with the open: a rotation under a reader, at
 * the moment that used to make kmc audit and verify see a gap, every
 * time rather than once in a while. The file $KMC_ROTATE_MARK is made
 * when the command ran, so that the test knows the shim fired.
 */
#undef _FORTIFY_SOURCE
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int fired, segment_seen;

static void maybe_rotate(const char *path, int flags)
{
	const char *cmd = getenv("KMC_ROTATE_CMD"), *mark;
	const char *base = strrchr(path, '/');
	size_t n = strlen(path);
	char buf[4096];

	base = base ? base + 1 : path;
	if (strncmp(base, "audit-", 6) == 0)
		segment_seen = 1;
	if (fired || !segment_seen || !cmd ||
	    (flags & O_ACCMODE) != O_RDONLY || n < 9 ||
	    strcmp(path + n - 9, "audit.log") != 0 ||
	    (n > 9 && path[n - 10] != '/'))
		return;
	fired = 1;
	mark = getenv("KMC_ROTATE_MARK");
	snprintf(buf, sizeof(buf), "%s", cmd);
	unsetenv("KMC_ROTATE_CMD");
	unsetenv("LD_PRELOAD");
	if (system(buf) == 0 && mark)
		close(open(mark, O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
}

int openat(int dirfd, const char *path, int flags, ...)
{
	static int (*real)(int, const char *, int, ...);
	mode_t mode = 0;
	va_list ap;

	if (flags & (O_CREAT | O_TMPFILE)) {
		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	if (!real)
		real = (int (*)(int, const char *, int, ...))dlsym(RTLD_NEXT,
			"openat");
	maybe_rotate(path, flags);
	return real(dirfd, path, flags, mode);
}

int openat64(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;
	va_list ap;

	if (flags & (O_CREAT | O_TMPFILE)) {
		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	return openat(dirfd, path, flags, mode);
}

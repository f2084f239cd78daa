/*
 * syslog_shim.c - an LD_PRELOAD shim for test_audit.sh: syslog() and
 * its fortified twin append "facility|priority|message" lines to the
 * file $KMC_SYSLOG_FILE instead of reaching /dev/log, so the test of the
 * audit's syslog path needs no syslog daemon and never touches the
 * host's.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

static void put(int pri, const char *fmt, va_list ap)
{
	const char *path = getenv("KMC_SYSLOG_FILE");
	char msg[2048];
	int fd, n;

	if (!path)
		return;
	n = snprintf(msg, sizeof(msg), "%d|%d|", LOG_FAC(pri) << 3,
		LOG_PRI(pri));
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	strncat(msg, "\n", sizeof(msg) - strlen(msg) - 1);
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	if (write(fd, msg, strlen(msg)) < 0) {
		/* nothing to do */
	}
	close(fd);
}

void syslog(int pri, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	put(pri, fmt, ap);
	va_end(ap);
}

void __syslog_chk(int pri, int flag, const char *fmt, ...)
{
	va_list ap;

	(void)flag;
	va_start(ap, fmt);
	put(pri, fmt, ap);
	va_end(ap);
}

void vsyslog(int pri, const char *fmt, va_list ap)
{
	put(pri, fmt, ap);
}

void __vsyslog_chk(int pri, int flag, const char *fmt, va_list ap)
{
	(void)flag;
	put(pri, fmt, ap);
}

/*
 * proclocks.c - whether this process holds a POSIX lock on a file, read
 * from /proc without opening the file.
 *
 * store.c asks before it opens an LMDB environment of its own: LMDB
 * holds such a lock on items.mdb-lock for as long as an environment is
 * open, and this copy of the vault code keeps one environment a file
 * and process. So a lock of this process there that the copy's own
 * list does not know is another copy's (a program linking libkmcvault
 * and a kmc provider's kmc/vault.so of another build): a second
 * environment would reset LMDB's reader table under that one's readers
 * and, at its close, drop the process's locks on the file. Opening the
 * lock file to ask (F_GETLK) would drop them too: any close() of a file
 * drops the process's POSIX locks on it.
 *
 * Asked of /proc/self/fdinfo, not /proc/locks: the kernel lists
 * /proc/locks a page a read(), each read starting again at the index
 * where the last one stopped, so a lock any process drops in between,
 * ahead of ours, hides our line (and one it takes shows a line twice).
 * A lock held is held through a descriptor still open (a close drops
 * them all), and that descriptor's fdinfo lists the locks taken through
 * it, all at once.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include "vault.h"
#include "proclocks.h"

/* A line longer than this is not a lock of ours. */
#define LINE_MAX_LEN 256

/*
 * One line: "N: POSIX  ADVISORY  READ 1234 fe:01:5678 0 EOF" (a blocked
 * request's line starts with " ->" and is skipped: it holds nothing).
 */
int proc_locks_line_holds(const char *line, pid_t pid, dev_t dev, ino_t ino)
{
	char type[16], pidtok[16], devtok[64];
	unsigned maj, min;
	unsigned long long in;
	long p;
	char *end;

	if (strstr(line, "->"))
		return 0;
	if (sscanf(line, "%*s %15s %*s %*s %15s %63s", type, pidtok,
			devtok) != 3)
		return 0;
	if (strcmp(type, "POSIX") != 0)
		return 0;
	errno = 0;
	p = strtol(pidtok, &end, 10);
	if (errno || *end || p != (long)pid)
		return 0;
	if (sscanf(devtok, "%x:%x:%llu", &maj, &min, &in) != 3)
		return 0;
	return maj == major(dev) && min == minor(dev) && in == (unsigned long long)ino;
}

/* 1 when the fdinfo of descriptor NAME (of /proc/self/fd) lists a
   POSIX lock of pid on (dev, ino). */
static int fdinfo_holds(const char *name, pid_t pid, dev_t dev, ino_t ino)
{
	char path[64], buf[4096], line[LINE_MAX_LEN + 1];
	size_t len = 0;
	int fd, found = 0, skip = 0;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	while (!found && (n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (ssize_t i = 0; i < n && !found; i++) {
			if (buf[i] != '\n') {
				if (len < LINE_MAX_LEN)
					line[len++] = buf[i];
				else
					skip = 1;
				continue;
			}
			line[len] = '\0';
			/* "lock:\t" and a line as /proc/locks has it */
			if (!skip && strncmp(line, "lock:\t", 6) == 0)
				found = proc_locks_line_holds(line + 6, pid,
					dev, ino);
			len = 0;
			skip = 0;
		}
	}
	close(fd);
	return found;
}

int proc_holds_lock(dev_t dev, ino_t ino)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	pid_t pid = getpid();
	int found = 0;

	/* Without /proc nothing can be told: LMDB is opened as before. */
	if (!d)
		return 0;
	while (!found && (e = readdir(d))) {
		struct stat st;

		if (e->d_name[0] == '.')
			continue;
		/* stat follows the link to the file and opens nothing. */
		if (fstatat(dirfd(d), e->d_name, &st, 0) < 0 ||
		    st.st_dev != dev || st.st_ino != ino)
			continue;
		found = fdinfo_holds(e->d_name, pid, dev, ino);
	}
	closedir(d);
	return found;
}

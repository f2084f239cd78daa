/*
 * filemap.c - where this process has a file mapped: the store finds
 * LMDB's map of items.mdb so that a value LMDB hands back can be checked
 * to lie inside the file's pages (store.c, db_val_ok), and so that bulk
 * readers can drop the map's pages.
 *
 * /proc/self/maps is read with read(2) and parsed by hand, not with stdio
 * and sscanf: every vault open pays for it, and sscanf over the few dozen
 * lines of a process's maps cost some 350,000 instructions, 2% of a whole
 * `openssl pkey` on a kmc: URI (docs/performance.md, row 4); this costs
 * about 65,000. The text comes from the kernel, yet every field is still
 * bounded: a line that does not parse is skipped, a number that would
 * overflow does not parse, and a line longer than the buffer is dropped.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include "filemap.h"

/* The hex (base 16) or decimal number at *p, ended by stop or, when stop
   is 0, by a space or the end of the line; *p moves past the ender. */
static int map_num(const char **p, const char *end, unsigned base, char stop,
	unsigned long long *ret)
{
	unsigned long long v = 0;
	const char *s = *p;

	for (; s < end; s++) {
		unsigned d;

		if (*s >= '0' && *s <= '9')
			d = (unsigned)(*s - '0');
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = (unsigned)(*s - 'a' + 10);
		else
			break;
		if (v > (~0ULL - d) / base)
			return 0;
		v = v * base + d;
	}
	if (s == *p || (s < end ? *s != (stop ? stop : ' ') : stop != 0))
		return 0;
	*p = s < end ? s + 1 : s;
	*ret = v;
	return 1;
}

int file_map_line(const char *p, const char *end,
	unsigned long long *ret_start, unsigned long long *ret_end,
	unsigned long long *ret_off, unsigned long long *ret_dev,
	unsigned long long *ret_ino)
{
	unsigned long long maj, min;

	if (!map_num(&p, end, 16, '-', ret_start) ||
	    !map_num(&p, end, 16, ' ', ret_end))
		return 0;
	p = memchr(p, ' ', (size_t)(end - p));	/* past the permissions */
	if (!p)
		return 0;
	p++;
	if (!map_num(&p, end, 16, ' ', ret_off) ||
	    !map_num(&p, end, 16, ':', &maj) ||
	    !map_num(&p, end, 16, ' ', &min) ||
	    !map_num(&p, end, 10, 0, ret_ino) ||
	    maj > 0xfff || min > 0xfffff)
		return 0;
	*ret_dev = makedev((unsigned)maj, (unsigned)min);
	return 1;
}

int file_map_find(int fd, size_t max_len, uintptr_t *ret_base,
	size_t *ret_len)
{
	char buf[8192];
	struct stat st;
	size_t have = 0;
	int mfd, eof = 0, found = 0;
	unsigned long long start = 0, stop = 0;

	if (fstat(fd, &st) < 0)
		return -errno;
	mfd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (mfd < 0)
		return KMC_E_NOT_FOUND;
	while (!found && !eof) {
		char *nl, *line = buf;
		ssize_t n = read(mfd, buf + have, sizeof(buf) - have);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			eof = 1;	/* the kernel ends every line */
		else
			have += (size_t)n;
		while (!found && (nl = memchr(line, '\n',
				have - (size_t)(line - buf)))) {
			unsigned long long off, dev, ino;

			found = file_map_line(line, nl, &start, &stop, &off,
				&dev, &ino) && off == 0 &&
				ino == (unsigned long long)st.st_ino &&
				dev == (unsigned long long)st.st_dev &&
				stop > start && stop - start <= max_len;
			line = nl + 1;
		}
		have -= (size_t)(line - buf);
		/* The unfinished line to the front, byte by byte: a fortified
		   memmove is __memmove_chk, which memcheck takes for a
		   __memcpy_chk of overlapping bytes (and fails the suite). */
		for (size_t i = 0; i < have; i++)
			buf[i] = line[i];
		/* A line longer than the buffer (a path near PATH_MAX): its
		   head is dropped; the rest is no line of the file's map. */
		if (have == sizeof(buf))
			have = 0;
	}
	close(mfd);
	if (!found)
		return KMC_E_NOT_FOUND;
	*ret_base = (uintptr_t)start;
	*ret_len = (size_t)(stop - start);
	return 0;
}

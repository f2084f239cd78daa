/*
 * unit_files.h - the file helpers the unit suites share: removing a test's
 * temp tree and writing a file of an exact mode. Include after cmocka.h.
 */
#ifndef KMC_UNIT_FILES_H
#define KMC_UNIT_FILES_H

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/stat.h>

static int unit_rm_one(const char *path, const struct stat *st, int flag,
	struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Remove path and everything under it, links not followed. */
static inline int rm_rf(const char *path)
{
	return nftw(path, unit_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* path afresh with data, then mode set (the umask must not decide the
   mode under test). */
static inline void write_file(const char *path, const void *data,
	size_t len, mode_t mode)
{
	int fd;

	(void)unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
}

#endif

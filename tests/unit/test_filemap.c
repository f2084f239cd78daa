/*
 * test_filemap.c - vault/filemap.c: finding this process's map of a file
 * in /proc/self/maps (the store checks LMDB's values against it). The
 * map it finds must be the one mmap() made, whole, and no other; a file
 * not mapped, or mapped longer than the caller allows, is not found; and
 * the line parser takes the kernel's lines and refuses broken ones.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <kmc.h>
#include "../../vault/filemap.h"

/* A new file of len bytes under /tmp, open read-write, unlinked. */
static int temp_file(size_t len)
{
	char path[] = "/tmp/kmc-filemap-XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(ftruncate(fd, (off_t)len), 0);
	return fd;
}

static void test_finds_the_map(void **state)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), len = 5 * page;
	int fd = temp_file(len), other = temp_file(len);
	uintptr_t base = 0;
	size_t got = 0;
	void *m, *o;

	(void)state;
	/* Another file mapped first: its map is not the one returned. */
	o = mmap(NULL, len, PROT_READ, MAP_SHARED, other, 0);
	assert_true(o != MAP_FAILED);
	m = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	assert_true(m != MAP_FAILED);
	assert_int_equal(file_map_find(fd, len, &base, &got), 0);
	assert_true(base == (uintptr_t)m);
	assert_int_equal(got, len);
	/* The negative twins: longer than allowed, then not mapped. */
	base = 1;
	assert_int_equal(file_map_find(fd, len - page, &base, &got),
		KMC_E_NOT_FOUND);
	assert_true(base == 1);
	assert_int_equal(munmap(m, len), 0);
	assert_int_equal(file_map_find(fd, len, &base, &got), KMC_E_NOT_FOUND);
	assert_int_equal(file_map_find(other, len, &base, &got), 0);
	assert_true(base == (uintptr_t)o);
	assert_int_equal(munmap(o, len), 0);
	close(fd);
	close(other);
	assert_int_equal(file_map_find(fd, len, &base, &got), -EBADF);
}

static int line(const char *s, unsigned long long out[5])
{
	return file_map_line(s, s + strlen(s), &out[0], &out[1], &out[2],
		&out[3], &out[4]);
}

static void test_line_parser(void **state)
{
	unsigned long long v[5];

	(void)state;
	assert_int_equal(line("7f12a000-7f12b000 r--s 00000000 fd:01 1234567    "
		"/var/lib/kmcvault/items.mdb", v), 1);
	assert_true(v[0] == 0x7f12a000 && v[1] == 0x7f12b000 && v[2] == 0);
	assert_true(v[3] == makedev(0xfd, 1) && v[4] == 1234567);
	/* Anonymous: no path after the inode. */
	assert_int_equal(line("55d0-55e0 rw-p 00001000 00:00 0", v), 1);
	assert_true(v[0] == 0x55d0 && v[1] == 0x55e0 && v[2] == 0x1000 &&
		v[4] == 0);
	/* Broken lines: each refused. */
	assert_int_equal(line("", v), 0);
	assert_int_equal(line("55d0 rw-p 0 00:00 0", v), 0);
	assert_int_equal(line("55d0-55e0 rw-p 0 00:00", v), 0);
	assert_int_equal(line("55d0-55e0 rw-p 0 0000 0", v), 0);
	assert_int_equal(line("55d0-55e0 rw-p 0 00:00 12x", v), 0);
	assert_int_equal(line("55D0-55e0 rw-p 0 00:00 0", v), 0);
	assert_int_equal(line("55d0-55e0", v), 0);
	/* A number past 64 bits does not wrap around. */
	assert_int_equal(line("10000000000000000-1 rw-p 0 00:00 0", v), 0);
	assert_int_equal(line("0-1 rw-p 0 00:00 99999999999999999999", v), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_finds_the_map),
		cmocka_unit_test(test_line_parser),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

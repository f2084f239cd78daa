/*
 * test_proclocks.c - vault/proclocks.c: a line of /proc/locks names a
 * POSIX lock of this process on a file only when every field says so,
 * and this process's own lock on a file is found.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include "../../vault/proclocks.h"

static void test_lines(void **state)
{
	dev_t dev = makedev(0xfe, 0x01);
	const char *l = "1: POSIX  ADVISORY  READ 4242 fe:01:5678 0 0";

	(void)state;
	assert_int_equal(proc_locks_line_holds(l, 4242, dev, 5678), 1);
	/* another pid, inode, device */
	assert_int_equal(proc_locks_line_holds(l, 4243, dev, 5678), 0);
	assert_int_equal(proc_locks_line_holds(l, 4242, dev, 5679), 0);
	assert_int_equal(proc_locks_line_holds(l, 4242, makedev(0xfe, 2), 5678), 0);
	/* a blocked request holds nothing; flock and OFD locks are not LMDB's */
	assert_int_equal(proc_locks_line_holds(
		"1: -> POSIX  ADVISORY  WRITE 4242 fe:01:5678 0 0", 4242, dev,
		5678), 0);
	assert_int_equal(proc_locks_line_holds(
		"2: FLOCK  ADVISORY  WRITE 4242 fe:01:5678 0 EOF", 4242, dev,
		5678), 0);
	assert_int_equal(proc_locks_line_holds(
		"3: OFDLCK ADVISORY  READ 4242 fe:01:5678 0 0", 4242, dev,
		5678), 0);
	/* torn or odd lines */
	assert_int_equal(proc_locks_line_holds("", 4242, dev, 5678), 0);
	assert_int_equal(proc_locks_line_holds("1: POSIX", 4242, dev, 5678), 0);
	assert_int_equal(proc_locks_line_holds(
		"1: POSIX  ADVISORY  READ 4242x fe:01:5678 0 0", 4242, dev,
		5678), 0);
	assert_int_equal(proc_locks_line_holds(
		"1: POSIX  ADVISORY  READ 4242 fe01:5678 0 0", 4242, dev,
		5678), 0);
}

static void test_own_lock_found(void **state)
{
	char path[] = "/tmp/kmc-proclocks-XXXXXX";
	struct flock fl = { .l_type = F_RDLCK, .l_whence = SEEK_SET,
		.l_start = 0, .l_len = 1 };
	struct stat st;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(proc_holds_lock(st.st_dev, st.st_ino), 0);
	assert_int_equal(fcntl(fd, F_SETLK, &fl), 0);
	assert_int_equal(proc_holds_lock(st.st_dev, st.st_ino), 1);
	fl.l_type = F_UNLCK;
	assert_int_equal(fcntl(fd, F_SETLK, &fl), 0);
	assert_int_equal(proc_holds_lock(st.st_dev, st.st_ino), 0);
	close(fd);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_own_lock_found),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

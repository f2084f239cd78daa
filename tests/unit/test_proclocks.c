/*
 * test_proclocks.c - vault/proclocks.c: a line of /proc/locks names a
 * POSIX lock of this process on a file only when every field says so,
 * and this process's own lock on a file is found, also while other
 * processes take and drop locks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
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

static int lock_byte(int fd, short type, off_t at, off_t len)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET,
		.l_start = at, .l_len = len };

	return fcntl(fd, F_SETLK, &fl);
}

/*
 * Another process holds OTHERS locks ahead of ours in /proc/locks and
 * takes OTHERS / 2 more and drops them, over and over, as busy servers
 * do, while this one asks ASKS times whether it holds its lock: found
 * every time. The kernel lists /proc/locks a page a read(), each
 * starting again at the index where the last stopped, so locks dropped
 * between two reads, ahead of ours, hid our line (some 45 times in
 * 1000): the check said no, and a second LMDB environment would have
 * opened beside another copy's.
 *
 * The kernel keeps a list a CPU and shows the lowest CPU's first: the
 * other process takes its locks on the lowest CPU this one may use, and
 * this one its own on another, both running at once. With one CPU
 * there is no race to lose, and the test is skipped.
 */
#define OTHERS 200
#define ASKS 1000

static void test_found_while_others_lock(void **state)
{
	char mine[] = "/tmp/kmc-proclocks-XXXXXX";
	char theirs[] = "/tmp/kmc-proclocks-XXXXXX";
	int fd, ofd, ready[2], missed = 0, first = -1, last = -1;
	cpu_set_t all, one;
	struct stat st;
	pid_t child;
	char c;

	(void)state;
	assert_int_equal(sched_getaffinity(0, sizeof(all), &all), 0);
	for (int i = 0; i < CPU_SETSIZE; i++)
		if (CPU_ISSET(i, &all)) {
			if (first < 0)
				first = i;
			last = i;
		}
	if (first == last)
		skip();
	fd = mkstemp(mine);
	ofd = mkstemp(theirs);
	assert_true(fd >= 0 && ofd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	CPU_ZERO(&one);
	CPU_SET(last, &one);
	assert_int_equal(sched_setaffinity(0, sizeof(one), &one), 0);
	/* As LMDB holds them: byte 0 and the reader slot's byte. */
	assert_int_equal(lock_byte(fd, F_RDLCK, 0, 1), 0);
	assert_int_equal(lock_byte(fd, F_WRLCK, getpid(), 1), 0);
	assert_int_equal(pipe(ready), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(ready[0]);
		CPU_ZERO(&one);
		CPU_SET(first, &one);
		if (sched_setaffinity(0, sizeof(one), &one) < 0)
			_exit(1);
		for (int i = 0; i < OTHERS; i++)
			if (lock_byte(ofd, F_WRLCK, 2 * i, 1) < 0)
				_exit(1);
		if (write(ready[1], "r", 1) != 1)
			_exit(1);
		for (;;) {
			for (int i = OTHERS; i < OTHERS + OTHERS / 2; i++)
				(void)lock_byte(ofd, F_WRLCK, 2 * i, 1);
			(void)lock_byte(ofd, F_UNLCK, 2 * OTHERS, OTHERS);
		}
	}
	close(ready[1]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	for (int i = 0; i < ASKS; i++)
		missed += !proc_holds_lock(st.st_dev, st.st_ino);
	kill(child, SIGKILL);
	assert_int_equal(waitpid(child, NULL, 0), child);
	close(ready[0]);
	close(ofd);
	close(fd);
	unlink(mine);
	unlink(theirs);
	assert_int_equal(sched_setaffinity(0, sizeof(all), &all), 0);
	assert_int_equal(missed, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_own_lock_found),
		cmocka_unit_test(test_found_while_others_lock),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

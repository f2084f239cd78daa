/*
 * test_fileio.c - the library's writer of new files (safeio/fileio.c):
 * kmc_file_write_new(), which kmc unwrap --out and kmc ref --out use, and
 * kmc_write_new_ex() under it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <kmc/admin.h>
#include "../../safeio/fileio.h"

typedef struct fixture {
	char dir[64];
	char path[PATH_MAX];
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/kmc-fileio-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/out", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static size_t read_back(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, size);
	assert_true(n >= 0);
	close(fd);
	return (size_t)n;
}

/* The mode asked for, whatever the umask; the bytes written. */
static void test_creates_with_mode(void **state)
{
	fixture *f = *state;
	struct stat st;
	char buf[32];
	mode_t old = umask(0277);

	assert_int_equal(kmc_file_write_new(f->path, "secret", 6, 0640), 0);
	umask(old);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(read_back(f->path, buf, sizeof(buf)), 6);
	assert_memory_equal(buf, "secret", 6);
}

/* An existing file is never replaced, and the detail names it. */
static void test_refuses_existing(void **state)
{
	fixture *f = *state;
	char buf[32];

	assert_int_equal(kmc_file_write_new(f->path, "first", 5, 0600), 0);
	assert_int_equal(kmc_file_write_new(f->path, "second", 6, 0600),
		KMC_E_EXISTS);
	assert_non_null(strstr(kmc_error_detail(), f->path));
	assert_int_equal(read_back(f->path, buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "first", 5);
}

/* A link at the path is not followed: its target is not made. */
static void test_refuses_link(void **state)
{
	fixture *f = *state;
	char target[PATH_MAX];

	snprintf(target, sizeof(target), "%s/target", f->dir);
	assert_int_equal(symlink(target, f->path), 0);
	assert_int_equal(kmc_file_write_new(f->path, "x", 1, 0600),
		KMC_E_EXISTS);
	assert_int_equal(access(target, F_OK), -1);
}

/* A missing folder fails with the errno and names the file. */
static void test_missing_folder(void **state)
{
	fixture *f = *state;
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/no/such", f->dir);
	assert_int_equal(kmc_file_write_new(path, "x", 1, 0600), -ENOENT);
	assert_non_null(strstr(kmc_error_detail(), path));
}

static void test_refuses_folder_name(void **state)
{
	fixture *f = *state;
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/", f->dir);
	assert_int_equal(kmc_file_write_new(path, "x", 1, 0600),
		KMC_E_INVALID);
	assert_int_equal(kmc_file_write_new("", "x", 1, 0600), KMC_E_INVALID);
}

/* kmc_write_new (staging) still replaces; _ex with NOREPLACE does not. */
static void test_write_new_ex_noreplace(void **state)
{
	fixture *f = *state;
	kmc_file_meta meta = { 0600, (uid_t)-1, (gid_t)-1, NULL, 0 };
	int dirfd = open(f->dir, O_RDONLY | O_DIRECTORY);
	char buf[32];

	assert_true(dirfd >= 0);
	assert_int_equal(kmc_write_new(dirfd, "out", "one", 3, &meta), 0);
	assert_int_equal(kmc_write_new(dirfd, "out", "two", 3, &meta), 0);
	assert_int_equal(kmc_write_new_ex(dirfd, "out", "three", 5, &meta,
		KMC_WRITE_NOREPLACE), -EEXIST);
	close(dirfd);
	assert_int_equal(read_back(f->path, buf, sizeof(buf)), 3);
	assert_memory_equal(buf, "two", 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_creates_with_mode, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_refuses_existing, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_refuses_link, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_missing_folder, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_refuses_folder_name, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_write_new_ex_noreplace,
			setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

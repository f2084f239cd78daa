/*
 * test_fileio.c - safeio/fileio.c's walk of a path as given
 * (kmc_check_path_links()): each symbolic link on it is checked where it
 * lives, since the walk up by ".." from the opened folder never sees the
 * folder that holds a link (RT2-37 in docs/test-plan.md).
 *
 * Each test works in a fresh 0700 folder under /tmp. The test of a link
 * owned by another user gives it away with lchown(), which needs root; it
 * is skipped otherwise.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <kmc.h>
#include "../../safeio/fileio.h"

static char top[64];

static int setup(void **state)
{
	(void)state;
	snprintf(top, sizeof(top), "/tmp/kmc-test-fileio-XXXXXX");
	assert_non_null(mkdtemp(top));
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag,
	struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int teardown(void **state)
{
	(void)state;
	return nftw(top, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* top/name made with mode (umask aside). */
static void mkdir_in(const char *name, mode_t mode)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", top, name);
	assert_int_equal(mkdir(path, mode), 0);
	assert_int_equal(chmod(path, mode), 0);
}

/* The link top/name pointing at target (top/ put before a target
   starting with '@'). */
static void link_in(const char *target, const char *name)
{
	char path[PATH_MAX], to[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", top, name);
	if (target[0] == '@')
		snprintf(to, sizeof(to), "%s/%s", top, target + 1);
	else
		snprintf(to, sizeof(to), "%s", target);
	assert_int_equal(symlink(to, path), 0);
}

static int walk(const char *rel)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", top, rel);
	return kmc_check_path_links(path, "the vault");
}

static void test_safe_folders(void **state)
{
	(void)state;
	mkdir_in("real", 0700);
	mkdir_in("real/v", 0700);
	mkdir_in("safe", 0700);
	mkdir_in("rootish", 0755);
	link_in("@real", "safe/abs");
	link_in("../real", "rootish/rel");
	assert_int_equal(walk("real/v"), 0);
	assert_int_equal(walk("safe/abs/v"), 0);
	assert_int_equal(walk("rootish/rel/v"), 0);
	/* The last name may be what init is about to make... */
	assert_int_equal(walk("safe/abs/new"), 0);
	/* ...but not one before it. */
	assert_int_equal(walk("safe/none/v"), -ENOENT);
}

static void test_link_in_writable_folder(void **state)
{
	(void)state;
	mkdir_in("real", 0700);
	mkdir_in("ww", 0777);
	link_in("@real", "ww/link");
	assert_int_equal(walk("ww/link/v"), KMC_E_PERM);
	assert_non_null(strstr(kmc_error_detail(), "holding the link"));
	assert_non_null(strstr(kmc_error_detail(), "/ww/link"));
	assert_non_null(strstr(kmc_error_detail(), "mode 0777"));
	assert_null(strstr(kmc_error_detail(), "chmod"));
	/* The same folder's files are no concern without a link in it. */
	mkdir_in("ww/v", 0700);
	assert_int_equal(walk("ww/v"), 0);
	/* Group-writable is as bad; sticky is the exception. */
	mkdir_in("gw", 0770);
	link_in("@real", "gw/link");
	assert_int_equal(walk("gw/link/v"), KMC_E_PERM);
	mkdir_in("st", 01777);
	link_in("@real", "st/link");
	assert_int_equal(walk("st/link/v"), 0);
}

static void test_link_of_another_user(void **state)
{
	char path[PATH_MAX];

	(void)state;
	if (geteuid() != 0)
		skip();
	mkdir_in("real", 0700);
	mkdir_in("st", 01777);
	link_in("@real", "st/link");
	snprintf(path, sizeof(path), "%s/st/link", top);
	assert_int_equal(lchown(path, 65534, (gid_t)-1), 0);
	assert_int_equal(walk("st/link/v"), KMC_E_PERM);
	assert_non_null(strstr(kmc_error_detail(), "the link"));
	assert_non_null(strstr(kmc_error_detail(), "belongs to uid 65534"));
	/* Outside a sticky folder its owner cannot touch it: only who may
	   write the folder can rename or remove a link. */
	mkdir_in("safe", 0700);
	link_in("@real", "safe/link");
	snprintf(path, sizeof(path), "%s/safe/link", top);
	assert_int_equal(lchown(path, 65534, (gid_t)-1), 0);
	assert_int_equal(walk("safe/link/v"), 0);
	/* A folder of another user holding the link is refused too. */
	mkdir_in("theirs", 0755);
	link_in("@real", "theirs/link");
	snprintf(path, sizeof(path), "%s/theirs", top);
	assert_int_equal(chown(path, 65534, (gid_t)-1), 0);
	assert_int_equal(walk("theirs/link/v"), KMC_E_PERM);
	assert_non_null(strstr(kmc_error_detail(), "belongs to uid 65534"));
}

static void test_chain(void **state)
{
	(void)state;
	mkdir_in("real", 0700);
	mkdir_in("a", 0700);
	mkdir_in("b", 0700);
	mkdir_in("ww", 0777);
	/* a/1 -> ../b/2 (relative) -> top/real (absolute) */
	link_in("../b/2", "a/1");
	link_in("@real", "b/2");
	assert_int_equal(walk("a/1/v"), 0);
	/* The last link of the chain in a folder others can write. */
	link_in("../ww/3", "a/4");
	link_in("@real", "ww/3");
	assert_int_equal(walk("a/4/v"), KMC_E_PERM);
	assert_non_null(strstr(kmc_error_detail(), "/ww/3"));
	/* A link to a link's folder by a name with ".." after it. */
	link_in("@ww", "b/5");
	assert_int_equal(walk("b/5/../real/v"), 0);
}

static void test_loop(void **state)
{
	char name[32], target[32];

	(void)state;
	mkdir_in("d", 0700);
	link_in("2", "d/1");
	link_in("1", "d/2");
	assert_int_equal(walk("d/1/v"), -ELOOP);
	/* 40 links in a row are followed, the 41st is too many. */
	mkdir_in("real", 0700);
	for (int i = 0; i < 41; i++) {
		snprintf(name, sizeof(name), "d/c%d", i);
		if (i == 40)
			snprintf(target, sizeof(target), "../real");
		else
			snprintf(target, sizeof(target), "c%d", i + 1);
		link_in(target, name);
	}
	assert_int_equal(walk("d/c1/v"), 0);
	assert_int_equal(walk("d/c0/v"), -ELOOP);
}

static void test_relative_path(void **state)
{
	char old[PATH_MAX];

	(void)state;
	mkdir_in("real", 0700);
	mkdir_in("ww", 0777);
	mkdir_in("safe", 0700);
	link_in("../real", "ww/link");
	link_in("../real", "safe/link");
	assert_non_null(getcwd(old, sizeof(old)));
	assert_int_equal(chdir(top), 0);
	assert_int_equal(kmc_check_path_links("ww/link/v", "v"), KMC_E_PERM);
	assert_int_equal(kmc_check_path_links("safe/link/v", "v"), 0);
	assert_int_equal(kmc_check_path_links("./safe//link/", "v"), 0);
	assert_int_equal(chdir(old), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_safe_folders, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_link_in_writable_folder,
			setup, teardown),
		cmocka_unit_test_setup_teardown(test_link_of_another_user, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_relative_path, setup,
			teardown),
	};

	umask(022);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

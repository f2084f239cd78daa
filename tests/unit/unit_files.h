/*
 * unit_files.h - the file helpers the unit suites share: a test's temp
 * tree and a vault in it, removing the tree, and writing a file of an
 * exact mode. Include after cmocka.h.
 */
#ifndef KMC_UNIT_FILES_H
#define KMC_UNIT_FILES_H

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/stat.h>

#include <kmc.h>
#include <kmc/admin.h>

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

/*
 * A test's temp tree, TMPDIR (or /tmp)/kmc-test-WHAT.XXXXXX, into tmp;
 * the paths of its vault folder (tmp/v) and host key (tmp/host.key) into
 * vdir and hk. The host key is set as KMC_HOST_KEY and KMC_VAULT unset,
 * so that nothing a test runs reaches a vault of the user's. 0 or -1.
 */
static inline int unit_tree_make(const char *what, char tmp[static 256],
	char vdir[static 512], char hk[static 512])
{
	const char *base = getenv("TMPDIR");

	snprintf(tmp, 256, "%s/kmc-test-%s.XXXXXX", base && *base ? base : "/tmp",
		what);
	if (!mkdtemp(tmp))
		return -1;
	snprintf(vdir, 512, "%s/v", tmp);
	snprintf(hk, 512, "%s/host.key", tmp);
	setenv("KMC_HOST_KEY", hk, 1);
	unsetenv("KMC_VAULT");
	return 0;
}

/* Undo unit_tree_make: the tree removed, KMC_HOST_KEY unset. */
static inline void unit_tree_remove(const char *tmp)
{
	(void)rm_rf(tmp);
	unsetenv("KMC_HOST_KEY");
}

/* A vault at dir under the host protector with host key hk; opened for
   writing into *ret when ret is not NULL. 0 or -1. */
static inline int unit_host_vault(const char *dir, const char *hk,
	kmc_vault **ret)
{
	kmc_options o = KMC_OPTIONS_INIT;

	o.host_key = hk;
	if (kmc_vault_init(dir, KMC_PROTECTOR_HOST, &o) != 0)
		return -1;
	return ret && kmc_vault_open(dir, KMC_OPEN_WRITE, ret) != 0 ? -1 : 0;
}

#endif

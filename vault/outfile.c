/*
 * outfile.c - the files a user names for kmc to write (--out of kmc ca
 * crl, kmc csr, kmc export, kmc ref, kmc unwrap; kmc_file_write_new();
 * a config file's --conf, a trust sync file, a backup folder): never in
 * a vault's own folder. A file there is one the vault may read
 * as its own: .kmc-restore makes every open take the vault for a restore
 * cut off, StandbyKsf.ks (when the standby is missing) for a keystore,
 * and any other is a stranger in a folder kmc keeps as its own (kmc
 * restore refuses a folder with files it does not know).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "vault.h"
#include "backup.h"
#include "bind.h"
#include "../safeio/fileio.h"

/* What only a vault's folder holds: one is enough. */
static const char *const vault_marks[] = {
	KS_MASTER_NAME, KS_STANDBY_NAME, STORE_NAME, BIND_NAME,
	RESTORE_MARK_NAME, RESTORE_STAGE_NAME,
};

int out_folder_fd_check(int dirfd, const char *path)
{
	size_t n = strlen(path);
	const char *slash;
	struct stat st;
	int dn;

	/* The folder named as the user named it: path without its trailing
	   slashes and its last name. */
	while (n > 1 && path[n - 1] == '/')
		n--;
	slash = memrchr(path, '/', n);
	dn = !slash ? 1 : slash == path ? 1 : (int)(slash - path);
	for (size_t i = 0; i < sizeof(vault_marks) / sizeof(vault_marks[0]);
	     i++)
		if (fstatat(dirfd, vault_marks[i], &st,
				AT_SYMLINK_NOFOLLOW) == 0)
			return kmc_detail(KMC_E_INVALID, "%s: %.*s is a vault's "
				"folder (it holds %s), where kmc writes nothing "
				"of yours; give a place in another folder", path,
				dn, slash ? path : ".", vault_marks[i]);
	return 0;
}

int out_folder_check(const char *path)
{
	const char *slash = strrchr(path, '/');
	char dir[PATH_MAX];
	struct stat st;
	int dirfd;

	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if ((size_t)(slash - path) >= sizeof(dir))
		return 0;	/* the writer names what is wrong */
	else
		snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 :
			(int)(slash - path), path);
	/* The folder the writer will open (a link to a vault's folder is
	   that folder). One that cannot be opened is the writer's to name. */
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return 0;
	for (size_t i = 0; i < sizeof(vault_marks) / sizeof(vault_marks[0]);
	     i++) {
		if (fstatat(dirfd, vault_marks[i], &st,
				AT_SYMLINK_NOFOLLOW) == 0) {
			close(dirfd);
			return kmc_detail(KMC_E_INVALID, "%s: %s is a vault's "
				"folder (it holds %s), where kmc writes no file "
				"of yours; give a file in another folder", path,
				dir, vault_marks[i]);
		}
	}
	close(dirfd);
	return 0;
}

int kmc_file_write_new(const char *path, const void *data, size_t len,
	mode_t mode)
{
	if (*path)
		KMC_GUARD(out_folder_check(path));
	return file_write_new(path, data, len, mode);
}

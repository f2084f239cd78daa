/*
 * recover.c - the end of a restore that a crash cut off: whether one is
 * pending, finishing its step 3 after the commit mark, or removing what
 * it staged before (the protocol is in vault/restore.c). Called by every
 * writable open and by kmc status, so it needs no open vault.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <lmdb.h>
#include "backup.h"
#include "../safeio/fileio.h"
#include "vault.h"
#include "trust.h"

int restore_pending(int dirfd)
{
	return faccessat(dirfd, RESTORE_MARK_NAME, F_OK,
		AT_SYMLINK_NOFOLLOW) == 0;
}

/*
 * The restore holds the writer lock from before its mark to after its
 * renames, and any writer that meets a mark finishes it first: a mark
 * while the lock is held is a restore under way. A reader only asks,
 * with a shared lock let go at once: a writer that asks for the lock at
 * that instant waits for it, or with KMC_OPEN_NOWAIT is told the vault
 * is busy, as during any other change.
 */
int restore_under_way(int dirfd)
{
	int r;

	while ((r = flock(dirfd, LOCK_SH | LOCK_NB)) < 0 && errno == EINTR)
		;
	if (r == 0)
		(void)flock(dirfd, LOCK_UN);
	return r < 0 && errno == EWOULDBLOCK;
}

/* Step 3: move the staged set over the vault's files; idempotent. */
int restore_apply(int dirfd, const char *dir)
{
	_cleanup_(kmc_closep) int sfd = -1;
	static const char *const order[] = {
		STORE_NAME, KS_STANDBY_NAME, KS_MASTER_NAME,
	};
	int r = 0;

	sfd = openat(dirfd, RESTORE_STAGE_NAME, O_RDONLY | O_DIRECTORY |
		O_NOFOLLOW | O_CLOEXEC);
	if (sfd < 0 && errno != ENOENT)
		r = -errno;
	for (size_t i = 0; sfd >= 0 && r == 0 && i < ELEMENTSOF(order); i++) {
		if (faccessat(sfd, order[i], F_OK, AT_SYMLINK_NOFOLLOW) < 0)
			continue;	/* moved by an earlier run */
		/* The old store's reader table must not be taken for the
		   new store's: LMDB makes a fresh one at the next open. */
		if (i == 0 && unlinkat(dirfd, STORE_LOCK_NAME, 0) < 0 &&
		    errno != ENOENT)
			r = -errno;
		if (r == 0 && renameat(sfd, order[i], dirfd, order[i]) < 0)
			r = -errno;
	}
	/* The old binding vouches for the files just replaced: the restore
	   binds the new ones (kmc_vault_restore), or the next writable open
	   does. */
	if (r == 0 && unlinkat(dirfd, "kmc.bind", 0) < 0 && errno != ENOENT)
		r = -errno;
	if (r == 0 && fsync(dirfd) < 0)
		r = -errno;
	if (r < 0)
		return kmc_detail(r, "%s: putting the restored files in place: "
			"%s", dir, kmc_strerror(r));
	if (sfd >= 0)
		backup_remove_built(dirfd, RESTORE_STAGE_NAME);
	return 0;
}

void restore_sync_trust(kmc_vault *v, int replaced)
{
	int r = trust_resync(v, replaced, replaced ? &v->trust_resynced :
		&v->trust_left);

	if (r < 0) {
		v->trust_resync_err = r;
		free(v->trust_resync_detail);
		v->trust_resync_detail = strdup(kmc_error_detail()[0] ?
			kmc_error_detail() : kmc_strerror(r));
	}
	kmc_detail_clear();
}

int kmc_restore_note(const kmc_vault *v, uint64_t *ret_files)
{
	kmc_detail_clear();
	if (ret_files)
		*ret_files = v->trust_resynced;
	if (v->trust_resync_err >= 0)
		return 0;
	return kmc_detail(v->trust_resync_err, "%s: restored, but a trust "
		"sync file still holds the trust store as it was before the "
		"restore: %s", v->dir, v->trust_resync_detail ?
		v->trust_resync_detail : kmc_strerror(v->trust_resync_err));
}

/* The last step: the restored files are bound (or cannot be), the mark
   goes. */
int restore_finish(int dirfd, const char *dir)
{
	int r = 0;

	if (unlinkat(dirfd, RESTORE_MARK_NAME, 0) < 0 && errno != ENOENT)
		r = -errno;
	if (r == 0 && fsync(dirfd) < 0)
		r = -errno;
	if (r < 0)
		return kmc_detail(r, "%s: finishing the restore: %s", dir,
			kmc_strerror(r));
	return 0;
}

/* A killed write of the mark leaves its temporary: never a commit. */
static void remove_mark_temps(int dirfd)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((e = readdir(d)))
		if (strncmp(e->d_name, "." RESTORE_MARK_NAME ".tmp-",
				strlen("." RESTORE_MARK_NAME ".tmp-")) == 0)
			(void)unlinkat(dirfd, e->d_name, 0);
	closedir(d);
}

/* Whether the restore the mark commits replaced a vault: a mark that
   cannot be read, or of a kmc before the line, says yes (a restore over
   the vault is the usual one). */
static int mark_replaced(int dirfd)
{
	static const kmc_file_rule rule = {
		.forbidden = 077, .max_size = 4096, .allow_root_owner = 0,
	};
	_cleanup_(freep) uint8_t *raw = NULL;
	static const char no[] = "\nreplaced 0\n";
	size_t len;
	int r;

	r = kmc_read_checked(dirfd, RESTORE_MARK_NAME, RESTORE_MARK_NAME,
		&rule, &raw, &len);
	kmc_detail_clear();
	return r < 0 || !memmem(raw, len, no, sizeof(no) - 1);
}

int restore_recover(int dirfd, const char *dir)
{
	int staged = faccessat(dirfd, RESTORE_STAGE_NAME, F_OK,
		AT_SYMLINK_NOFOLLOW) == 0;

	/* The mark is written while the stage is whole and the stage goes
	   after the mark's temporaries: with neither stage nor mark there
	   is nothing to mend, and every writer's open skips listing the
	   folder. */
	if (!staged && !restore_pending(dirfd))
		return 0;
	remove_mark_temps(dirfd);
	if (restore_pending(dirfd)) {
		int r = restore_apply(dirfd, dir);

		return r < 0 ? r : 1 + mark_replaced(dirfd);
	}
	if (staged)
		backup_remove_built(dirfd, RESTORE_STAGE_NAME);
	return 0;
}

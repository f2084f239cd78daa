/*
 * backupleft.c - the hidden folders killed backups of this vault left.
 *
 * A backup is built in a hidden sibling of its target,
 * .NAME.backup-XXXXXXXXXXXX (12 lower-case hex digits), and renamed into
 * place; a kill before the rename leaves that folder, a ciphertext copy
 * of the vault, and repeated kills pile them up. The next backup into the
 * same parent folder removes each one it can prove is this vault's own:
 *
 *	- named as above, a folder (no link), the user's, 0700 or tighter;
 *	- holding nothing but the names a backup writes (kmc.ks,
 *	  StandbyKsf.ks, items.mdb, backup.manifest) and their temporaries
 *	  (.NAME.tmp-*), each a regular file of the user's;
 *	- holding a keystore (kmc.ks or StandbyKsf.ks, the first files a
 *	  backup writes, each whole: written by rename) that parses and
 *	  names this vault's id.
 *
 * No backup of this vault is under way meanwhile: the caller holds the
 * vault's writer lock, which every backup of it holds from start to end;
 * and a folder another copy of the vault (a restore elsewhere) is still
 * building is locked (flock) by its builder until it is renamed or
 * removed, so it is left alone. An older kmc does not lock the folder it
 * builds: a folder written to within the last BACKUP_LEFT_QUIET seconds
 * (the folder or any file in it modified then, or dated ahead of the
 * clock) may be such a backup under way, of another copy of this vault
 * into the same parent, and is left too, counted apart. A killed
 * backup's folder stays still; the next backup after that removes it.
 * Anything else matching the name (another vault's, an empty folder a
 * backup was killed in before its first keystore, a folder holding other
 * files) is left as it is and only counted, for the caller to name.
 *
 * Removal order keeps a folder provable until its last step: every other
 * file first, then the keystore that proved it, then the folder; each
 * step synced, so a kill or a failure halfway leaves a folder the next
 * backup proves and removes again.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include "backup.h"
#include "../safeio/fileio.h"
#include "vault.h"

#define LEFT_MARK ".backup-"
#define LEFT_HEX 12
#define LEFT_FILES_MAX 32

/* Whether the time t lies within BACKUP_LEFT_QUIET seconds of now or
   after it (a clock set back since). */
static int recent(const struct timespec *t, const struct timespec *now)
{
	return t->tv_sec > now->tv_sec - BACKUP_LEFT_QUIET;
}

/* .NAME.backup-XXXXXXXXXXXX, NAME not empty. */
int backup_left_name(const char *n)
{
	size_t len = strlen(n), mark = strlen(LEFT_MARK);
	const char *hex;

	if (n[0] != '.' || len < 1 + 1 + mark + LEFT_HEX)
		return 0;
	hex = n + len - LEFT_HEX;
	if (memcmp(hex - mark, LEFT_MARK, mark) != 0)
		return 0;
	for (size_t i = 0; i < LEFT_HEX; i++)
		if (!((hex[i] >= '0' && hex[i] <= '9') ||
		      (hex[i] >= 'a' && hex[i] <= 'f')))
			return 0;
	return 1;
}

/* A name a backup writes in its folder, or a temporary of one. */
static int built_name(const char *n)
{
	static const char *const names[] = {
		KS_MASTER_NAME, KS_STANDBY_NAME, STORE_NAME,
		BACKUP_MANIFEST_NAME,
	};

	for (size_t i = 0; i < ELEMENTSOF(names); i++) {
		size_t k = strlen(names[i]);

		if (strcmp(n, names[i]) == 0)
			return 1;
		if (n[0] == '.' && strncmp(n + 1, names[i], k) == 0 &&
		    strncmp(n + 1 + k, ".tmp-", 5) == 0)
			return 1;
	}
	return 0;
}

/* Whether dirfd/name (a keystore) parses and names vault_id. */
static int ks_of(int dirfd, const char *name, const uint8_t *vault_id)
{
	_cleanup_(freep) uint8_t *raw = NULL;
	_cleanup_(freep) keystore *ks = NULL;
	size_t len;
	int ok;

	if (kmc_read_checked(dirfd, name, name, &backup_ks_rule, &raw,
	    &len) < 0)
		return 0;
	ks = malloc(sizeof(*ks));
	ok = ks && ks_parse(raw, len, ks) == 0 &&
		memcmp(ks->vault_id, vault_id, KS_VAULT_ID_LEN) == 0;
	return ok;
}

typedef struct left {
	char files[LEFT_FILES_MAX][NAME_MAX + 1];
	size_t n;
	const char *proof;	/* the keystore that names this vault */
	int busy;		/* the folder or a file in it modified lately */
} left;

/* The folder fd's files, when every one is what a backup writes. */
static int list_built(int fd, left *l)
{
	int dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	struct dirent *e;
	struct timespec now = { 0 };
	struct stat st;
	int ok = d != NULL;

	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return 0;
	}
	/* No clock or no date: counted busy, so not removed. */
	if (clock_gettime(CLOCK_REALTIME, &now) < 0 || fstat(fd, &st) < 0 ||
	    recent(&st.st_mtim, &now))
		l->busy = 1;
	while (ok && (errno = 0, e = readdir(d)) != NULL) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		ok = built_name(e->d_name) && l->n < LEFT_FILES_MAX &&
			fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			S_ISREG(st.st_mode) && st.st_uid == geteuid();
		if (ok && recent(&st.st_mtim, &now))
			l->busy = 1;
		if (ok)
			snprintf(l->files[l->n++], sizeof(l->files[0]), "%s",
				e->d_name);
	}
	ok = ok && errno == 0;
	closedir(d);
	return ok;
}

/* Whether parentfd/name is a folder a backup of this vault left; its
   files in *l, and l->busy when it was written to lately. */
static int ours(kmc_vault *v, int parentfd, const char *name, int *ret_fd,
	left *l)
{
	struct stat st, at;
	int fd;

	if (fstatat(parentfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    !S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 077))
		return 0;
	fd = openat(parentfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		O_CLOEXEC);
	if (fd < 0)
		return 0;
	memset(l, 0, sizeof(*l));
	/* A backup under way holds its folder locked (backup.c): another
	   copy of this vault, backing up beside this one. */
	if (fstat(fd, &at) < 0 || at.st_dev != st.st_dev ||
	    at.st_ino != st.st_ino || flock(fd, LOCK_EX | LOCK_NB) < 0 ||
	    !list_built(fd, l)) {
		close(fd);
		return 0;
	}
	if (ks_of(fd, KS_MASTER_NAME, v->ks->vault_id))
		l->proof = KS_MASTER_NAME;
	else if (ks_of(fd, KS_STANDBY_NAME, v->ks->vault_id))
		l->proof = KS_STANDBY_NAME;
	kmc_detail_clear();
	if (!l->proof) {
		close(fd);
		return 0;
	}
	*ret_fd = fd;
	return 1;
}

/* Every file but the proof, the proof, the folder: each step synced. */
static int remove_left(int parentfd, const char *name, int fd, const left *l)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->files[i], l->proof) != 0 &&
		    unlinkat(fd, l->files[i], 0) < 0 && errno != ENOENT)
			return -errno;
	if (fsync(fd) < 0)
		return -errno;
	if (unlinkat(fd, l->proof, 0) < 0 && errno != ENOENT)
		return -errno;
	if (unlinkat(parentfd, name, AT_REMOVEDIR) < 0)
		return -errno;
	/* Removed; a crash before the parent's sync may bring back the
	   empty folder, which is no copy of anything. */
	(void)!fsync(parentfd);
	return 0;
}

void backup_leftovers(kmc_vault *v, int parentfd, uint64_t *ret_removed,
	uint64_t *ret_kept, uint64_t *ret_busy)
{
	int dfd = fcntl(parentfd, F_DUPFD_CLOEXEC, 0);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	struct dirent *e;

	*ret_removed = 0;
	*ret_kept = 0;
	*ret_busy = 0;
	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		left l;
		int fd = -1, r;

		/* One removed meanwhile may still be listed. */
		if (!backup_left_name(e->d_name) || faccessat(parentfd, e->d_name,
		    F_OK, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (!ours(v, parentfd, e->d_name, &fd, &l)) {
			(*ret_kept)++;
			continue;
		}
		/* This vault's, but maybe an older kmc's backup under way. */
		if (l.busy) {
			close(fd);
			(*ret_kept)++;
			(*ret_busy)++;
			continue;
		}
		r = remove_left(parentfd, e->d_name, fd, &l);
		close(fd);
		if (r < 0)
			(*ret_kept)++;
		else
			(*ret_removed)++;
	}
	closedir(d);
	kmc_detail_clear();
}

/*
 * backup.c - a consistent copy of a vault, and putting one back.
 *
 * Backup (kmc_vault_backup) runs on a handle opened for writing, so it
 * holds the vault's writer lock (flock of the folder) from start to end:
 * the keystore it copies and the item store snapshot LMDB copies are a
 * matching set, because every change of either takes that lock. Readers
 * take no lock and go on; a writer waits for the one backup, as it would
 * for any other writer. The copy is built in a hidden sibling
 * .OUT.backup-XXXXXXXXXXXX, checked against its own manifest, and renamed
 * to OUT in one step, which fails if OUT exists and is not empty: OUT is
 * complete or absent. A killed backup may leave the hidden sibling, whose
 * name says it is incomplete; nothing reads it, and the next backup into
 * the same parent folder removes it (vault/backupleft.c).
 *
 * The files of a set and their check against the manifest are in
 * vault/backupset.c; the manifest's text in vault/manifest.c; putting a
 * backup back in vault/restore.c.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <lmdb.h>
#include "backup.h"
#include "../safeio/fileio.h"
#include "../safeio/fsize.h"
#include "vault.h"

/* ---------------------------------------------------------------- */
/* Backup                                                            */

/* A compacted copy of the store as dirfd/items.mdb; its size and hash. */
static int copy_store(kmc_vault *v, int dirfd, backup_file *ret)
{
	char tmp[NAME_MAX + 1];
	kmc_xfsz x;
	int fd, r;

	fd = backup_create_temp(dirfd, STORE_NAME, tmp, sizeof(tmp));
	KMC_GUARD(fd);
	/* LMDB's writes, in a thread it starts with this thread's mask:
	   EFBIG past a file size limit, not SIGXFSZ (safeio/fsize.h). */
	kmc_xfsz_hold(&x);
	r = mdb_env_copyfd2(v->st.env, fd, MDB_CP_COMPACT);
	kmc_xfsz_release(&x);
	/* LMDB's own codes are positive too: only errno values pass. */
	if (r != 0)
		r = r > 0 && r < 4096 ? -r : KMC_E_STORE;
	if (r == 0)
		r = backup_hash_fd(fd, &ret->size, ret->hash);
	if (r < 0) {
		close(fd);
		(void)unlinkat(dirfd, tmp, 0);
		return r;
	}
	return backup_publish(dirfd, fd, tmp, STORE_NAME);
}

static int backup_build(kmc_vault *v, int parentfd, const char *tmp,
	const char *show, const uint8_t *ks_raw, size_t ks_len,
	backup_manifest *m)
{
	_cleanup_(kmc_closep) int fd = -1;
	_cleanup_(freep) char *text = NULL;
	size_t len;

	fd = openat(parentfd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (size_t i = 0; i < 2; i++) {
		KMC_GUARD(kmc_write_atomic(fd, backup_file_names[i], ks_raw,
			ks_len, 0600, 1));
		m->file[i].size = ks_len;
		kmc_hash(m->file[i].hash, ks_raw, ks_len);
	}
	KMC_GUARD(copy_store(v, fd, &m->file[2]));
	KMC_GUARD(manifest_encode(m, &text, &len));
	KMC_GUARD(kmc_write_atomic(fd, BACKUP_MANIFEST_NAME, text, len, 0600,
		1));
	/* What landed is what a restore will check: check it now. */
	return backup_check_set(fd, show, m);
}

/* The target of a backup may be absent or an empty folder. Not init's
 * init_target_ok(): any non-folder, a link included, is "exists", and a
 * backup names its no-overwrite rule. */
static int target_ok(int parentfd, const char *base, const char *dir)
{
	struct stat st;
	int r, empty;

	/* The name of a killed backup's folder: the next backup beside it
	   would prove it this vault's and remove it (backupleft.c). */
	if (backup_left_name(base))
		return kmc_detail(KMC_E_INVALID, "%s: a backup cannot be named "
			"as a killed backup's hidden folder (.NAME.backup- and 12 "
			"hex digits): the next backup beside it would remove it "
			"as one; choose another name", dir);
	/* The folder built beside it, .BASE.backup-XXXXXXXXXXXX, is 21
	   bytes longer and must fit NAME_MAX too. */
	if (strlen(base) > NAME_MAX - 21)
		return kmc_detail(KMC_E_TOO_LARGE, "%s: the name is %zu bytes; "
			"a backup's may have at most %d, as the folder it is "
			"built in beside it (.NAME.backup- and 12 hex digits) "
			"adds 21", dir, strlen(base), NAME_MAX - 21);
	if (fstatat(parentfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : kmc_detail(-errno, "%s: %s", dir,
			kmc_strerror(-errno));
	if (!S_ISDIR(st.st_mode))
		return kmc_detail(KMC_E_EXISTS, "%s exists and is not an empty "
			"folder; a backup never overwrites", dir);
	r = kmc_dir_empty(parentfd, base, &empty);
	if (r < 0)
		return kmc_detail(r, "%s: %s", dir, kmc_strerror(r));
	if (!empty)
		return kmc_detail(KMC_E_EXISTS, "%s exists and is not empty; a "
			"backup never overwrites", dir);
	return 0;
}

int kmc_vault_backup(kmc_vault *v, const char *out, kmc_backup_info *ret)
{
	_cleanup_(freep) uint8_t *raw = NULL;
	_cleanup_(freep) keystore *ks = NULL;
	_cleanup_(freep) char *base = NULL;
	_cleanup_(kmc_closep) int parentfd = -1;
	_cleanup_(kmc_closep) int buildfd = -1;
	char show[PATH_MAX + 64], tmp[NAME_MAX + 1], tmp_show[PATH_MAX + NAME_MAX];
	const char *slash;
	backup_manifest m;
	uint8_t rnd[6], *j;
	uint64_t removed, kept, busy;
	size_t len, jlen;
	int r;

	kmc_detail_clear();
	KMC_GUARD(backup_info_check(ret));
	if (!(v->flags & KMC_OPEN_WRITE))
		return kmc_detail(KMC_E_READONLY, "%s: a backup needs the writer "
			"lock: open the vault with KMC_OPEN_WRITE", v->dir);
	/* The keystore as the writable open left it: both twins the same,
	   verified under the root key, and no writer since (we hold the
	   lock). */
	backup_show_path(show, sizeof(show), v->dir, KS_MASTER_NAME);
	KMC_GUARD(kmc_read_checked(v->dirfd, KS_MASTER_NAME, show, &backup_ks_rule,
		&raw, &len));
	ks = malloc(sizeof(*ks));
	KMC_ENSURE(ks, KMC_E_NOMEM);
	if (ks_parse(raw, len, ks) < 0 ||
	    ks->generation != v->ks->generation ||
	    memcmp(ks->vault_id, v->ks->vault_id, KS_VAULT_ID_LEN) != 0 ||
	    ks_verify_mac(raw, len, kmc_secret_data(v->rk)) < 0)
		return kmc_detail(KMC_E_CORRUPT, "%s changed or fails its MAC "
			"after the vault was opened", show);
	r = store_meta_get(&v->st, "journal", &j, &jlen);
	if (r == 0) {
		free(j);
		return kmc_detail(KMC_E_PENDING, "%s: a change is pending; kmc "
			"repair finishes it", v->dir);
	}
	if (r != KMC_E_NOT_FOUND)
		return r;
	memset(&m, 0, sizeof(m));
	memcpy(m.vault_id, ks->vault_id, KS_VAULT_ID_LEN);
	m.generation = ks->generation;
	m.created = (int64_t)time(NULL);
	KMC_GUARD(store_stat(&v->st, &m.items, &m.store_generation));

	r = kmc_open_parent(out, &parentfd, &base);
	if (r < 0)
		return kmc_detail(r, "%s: cannot open its parent folder: %s", out,
			kmc_strerror(r));
	/* Not in a vault's folder: a backup there goes with the vault it
	   is to survive, and one named .kmc-restore.d would be taken for a
	   restore's stage and removed by the next writer. */
	KMC_GUARD(out_folder_fd_check(parentfd, out));
	KMC_GUARD(target_ok(parentfd, base, out));
	kmc_random(rnd, sizeof(rnd));
	r = snprintf(tmp, sizeof(tmp), ".%s.backup-%02x%02x%02x%02x%02x%02x",
		base, rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]);
	KMC_ENSURE(r > 0 && (size_t)r < sizeof(tmp), KMC_E_TOO_LARGE);
	slash = strrchr(out, '/');
	snprintf(tmp_show, sizeof(tmp_show), "%.*s%s", slash ?
		(int)(slash - out + 1) : 0, out, tmp);
	if (mkdirat(parentfd, tmp, 0700) < 0) {
		r = -errno;
		return kmc_detail(r, "%s: cannot create a folder beside it: %s",
			out, kmc_strerror(r));
	}
	/* Locked while it is built: the next backup into this parent takes
	   what killed ones left (backupleft.c), and another copy of this
	   vault (a restore elsewhere) may be backing up beside it; a folder
	   still locked is a backup under way, never a leftover. */
	buildfd = openat(parentfd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		O_CLOEXEC);
	r = buildfd < 0 ? -errno : 0;
	/* Waiting: the only other holder of a folder this call just made
	   is that sweep, looking at it for a moment (it finds it empty,
	   no leftover of anyone's); failing would fail the backup. */
	while (r == 0 && flock(buildfd, LOCK_EX) < 0)
		r = errno == EINTR ? 0 : -errno;
	if (r == 0)
		r = backup_build(v, parentfd, tmp, tmp_show, raw, len, &m);
	if (r == 0) {
		int published;

		r = kmc_publish_dir(parentfd, tmp, base, &published);
		if (r < 0 && published)
			return kmc_detail(r, "the backup %s was written, but its "
				"folder could not be synced: %s", out,
				kmc_strerror(r));
		if (r == -EEXIST || r == -ENOTEMPTY || r == -ENOTDIR ||
		    r == -EISDIR)
			r = kmc_detail(KMC_E_EXISTS, "%s appeared while the backup "
				"was made; a backup never overwrites", out);
	}
	if (r < 0) {
		backup_remove_built(parentfd, tmp);
		if (!kmc_error_detail()[0] && r == -EFBIG && kmc_fsize_limit())
			kmc_detail(r, "writing the backup %s: %s: it would pass "
				"this process's file size limit of %llu bytes "
				"(RLIMIT_FSIZE, ulimit -f); no backup was made", out,
				kmc_strerror(r), kmc_fsize_limit());
		else if (!kmc_error_detail()[0])
			kmc_detail(r, "writing the backup %s: %s; no backup was "
				"made", out, kmc_strerror(r));
		return r;
	}
	/* The backup is made: what killed ones left beside it goes now,
	   best effort (backupleft.c). */
	backup_leftovers(v, parentfd, &removed, &kept, &busy);
	if (ret) {
		kmc_backup_info info;

		manifest_info(&m, &info);
		info.leftovers_removed = removed;
		info.leftovers_kept = kept;
		info.leftovers_busy = busy;
		backup_info_out(&info, ret);
	}
	return 0;
}

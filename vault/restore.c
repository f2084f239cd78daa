/*
 * restore.c - putting a backup back (kmc_vault_restore), and finishing
 * or undoing one a crash cut off.
 *
 * Restore (kmc_vault_restore) cannot ask for a vault that opens - putting
 * back a damaged one is the point - so it takes the writer lock itself,
 * reads the vault id from whichever keystore still checks out, and
 * refuses a backup of another vault. The intent log of other multi-file
 * changes (vault/journal.c) lives inside items.mdb, which is the file
 * being replaced here and may be the damaged one; so the same protocol
 * runs with its log outside the store:
 *
 *   1. stage: copy the backup into DIR/.kmc-restore.d/ (each file
 *      written, fsynced, renamed), check it against the manifest, and
 *      open it as a vault to check every MAC when a protector opens it;
 *   2. commit: write DIR/.kmc-restore (temp, fsync, rename, fsync);
 *   3. apply: items.mdb-lock is removed and items.mdb, StandbyKsf.ks and
 *      kmc.ks are renamed from the stage over their names; the folder is
 *      fsynced, the stage and the mark removed.
 *
 * A failure or kill before 2 leaves the old vault, and the next writable
 * open (any command that changes the vault, kmc repair) removes the
 * stage. After 2, that open finishes step 3 first; a rename whose staged
 * file is gone is skipped, so this can run any number of times. While
 * the mark exists, read-only opens refuse with KMC_E_PENDING rather than
 * read a half-swapped set, and kmc status reports a pending change.
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
#include "audit.h"

/* ---------------------------------------------------------------- */
/* Restore                                                           */

/* Not handle.c's vault_lock(): there is no handle here, and a restore
 * always waits (no KMC_OPEN_NOWAIT). */
static int lock_dir(int fd)
{
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

/*
 * Only an empty folder or one that holds this vault's files is restored
 * into. Called when no keystore in dir is readable: then items.mdb is
 * what says whose folder it is. Another vault's is refused, as its
 * keystores would be; one too damaged to say is replaced, as damaged
 * keystores are (restore is for that).
 */
static int restore_target_ok(int dirfd, const char *dir,
	const uint8_t id[KS_VAULT_ID_LEN])
{
	char want[2 * KS_VAULT_ID_LEN + 1];
	int r, empty;
	store st;

	if (faccessat(dirfd, STORE_NAME, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		kmc_detail_clear();
		r = store_open(&st, dir, dirfd, STORE_PEEK, id);
		if (r == 0)
			store_close(&st);
		if (r == 0 || r == KMC_E_CORRUPT || r == KMC_E_STORE) {
			kmc_detail_clear();
			return 0;
		}
		vault_hex(id, KS_VAULT_ID_LEN, want);
		if (r == KMC_E_WRONG_VAULT)
			return kmc_detail(r, "%s holds no readable keystore and "
				"the item store " STORE_NAME " of another vault "
				"than the backup's (%s); restore never replaces "
				"another vault: restore into an empty or new "
				"folder", dir, want);
		if (r == KMC_E_VERSION)
			return kmc_detail(r, "%s/" STORE_NAME " was written by a "
				"newer kmcvault; restore never replaces what it "
				"cannot tell is this vault", dir);
		if (!kmc_error_detail()[0])
			kmc_detail(r, "%s/" STORE_NAME ": %s", dir,
				kmc_strerror(r));
		return r;
	}
	for (size_t i = 0; i < BACKUP_FILES; i++)
		if (faccessat(dirfd, backup_file_names[i], F_OK,
				AT_SYMLINK_NOFOLLOW) == 0)
			return 0;
	r = kmc_dir_empty(dirfd, ".", &empty);
	if (r < 0)
		return kmc_detail(r, "%s: %s", dir, kmc_strerror(r));
	if (!empty)
		return kmc_detail(KMC_E_NOT_VAULT, "%s holds files but no vault; "
			"restore into a vault or an empty or new folder", dir);
	return 0;
}

/* Whether dir's item store is vault id's (a peek: nothing written). */
static int store_is(int dirfd, const char *dir,
	const uint8_t id[KS_VAULT_ID_LEN])
{
	store st;
	int r;

	if (faccessat(dirfd, STORE_NAME, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;
	r = store_open(&st, dir, dirfd, STORE_PEEK, id);
	if (r == 0)
		store_close(&st);
	kmc_detail_clear();
	return r == 0;
}

static int unlock_error(int r)
{
	return r == KMC_E_UNLOCK || r == KMC_E_NEED_PASSPHRASE ||
		r == KMC_E_HOST_KEY || r == KMC_E_P11_MODULE ||
		r == KMC_E_P11_TOKEN || r == KMC_E_P11_PIN ||
		r == KMC_E_P11_PIN_LOCKED || r == KMC_E_P11_KEY ||
		r == KMC_E_P11;
}

/*
 * Open the staged set as a vault (read-only) and open every item: the
 * keystore MAC and each record's tag. When no protector opens it, say
 * why in info->note and go on: the manifest's hashes were checked.
 */
static int verify_staged(const char *dir, const char *from,
	const kmc_options *opts, kmc_backup_info *info,
	kmc_secret **ret_audit_key)
{
	kmc_vault *sv = NULL;
	char path[PATH_MAX + 64];
	int r, n;

	n = snprintf(path, sizeof(path), "%s/" RESTORE_STAGE_NAME, dir);
	KMC_ENSURE(n > 0 && (size_t)n < sizeof(path), KMC_E_TOO_LARGE);
	r = kmc_vault_open_ex(path, 0, opts, &sv);
	if (r < 0 && unlock_error(r)) {
		snprintf(info->note, sizeof(info->note), "%s",
			kmc_error_detail()[0] ? kmc_error_detail() :
			kmc_strerror(r));
		kmc_detail_clear();
		return 0;
	}
	if (r < 0) {
		char d[512];

		snprintf(d, sizeof(d), "%s", kmc_error_detail());
		return kmc_detail(r == KMC_E_NO_KEYSTORE ? KMC_E_CORRUPT : r,
			"the backup %s does not open: %s", from,
			d[0] ? d : kmc_strerror(r));
	}
	r = items_verify_all(sv, from);
	/* The audit key of the vault (the backup is of the same one), so
	   the restore is recorded in its audit log. */
	if (r == 0 && audit_key(sv))
		r = kmc_secret_dup(audit_key(sv), AUDIT_HASH_LEN, ret_audit_key);
	kmc_vault_close(sv);
	KMC_GUARD(r);
	info->verified = 1;
	return 0;
}

/* Stage the backup in DIR/.kmc-restore.d, open on *ret_sfd (the caller
   closes it, also on failure). */
static int restore_stage(int dirfd, int bfd, const char *from,
	const backup_manifest *m, int *ret_sfd)
{
	char path[PATH_MAX + 64];
	struct stat st;
	int r, sfd;

	if (mkdirat(dirfd, RESTORE_STAGE_NAME, 0700) < 0)
		return -errno;
	sfd = openat(dirfd, RESTORE_STAGE_NAME, O_RDONLY | O_DIRECTORY |
		O_NOFOLLOW | O_CLOEXEC);
	if (sfd < 0)
		return -errno;
	*ret_sfd = sfd;
	for (size_t i = 0; i < BACKUP_FILES; i++) {
		_cleanup_(kmc_closep) int fd = -1;

		backup_show_path(path, sizeof(path), from, backup_file_names[i]);
		fd = kmc_open_checked(bfd, backup_file_names[i], path,
			backup_file_rule(i), &st);
		if (fd == -ENOENT)
			return kmc_detail(KMC_E_CORRUPT, "%s is missing", path);
		KMC_GUARD(fd);
		r = backup_copy_file(fd, sfd, backup_file_names[i]);
		if (r < 0)
			return kmc_detail(r, "staging %s: %s", path,
				kmc_strerror(r));
	}
	/* Checked where it now is, so what is checked is what goes in. */
	return backup_check_set(sfd, from, m);
}

/*
 * Bind the restored vault (kmc repair --accept-rollback's open): its old
 * binding went with the files it vouched for. Best effort: the restore is
 * made; unbound, the next writable open binds it, or refuses it as a
 * rollback where a state file has seen more, until kmc repair
 * --accept-rollback. info->note says so.
 */
static int restore_bind(const char *dir, const kmc_options *opts,
	kmc_backup_info *info)
{
	kmc_vault *v = NULL;
	int r = kmc_vault_open_ex(dir, KMC_OPEN_WRITE, opts, &v), fd;
	char d[400];

	if (r == 0) {
		trust_names cas = { 0 };

		/* The CAs whose records went back with the vault, for the
		   caller to warn of: best effort, the restore is done. */
		if (trust_names_of(v, KMC_CA_ITEM_PREFIX, KMC_ITEM_CA,
		    &cas) == 0)
			info->cas = cas.n;
		free(cas.name);
		kmc_detail_clear();
		/* The files kmc trust sync keeps equal to a trust store are
		   outside the vault: the open that finished the restore wrote
		   them again from the restored stores. */
		info->trust_files_left = v->trust_left;
		r = kmc_restore_note(v, &info->trust_files);
		if (r < 0) {
			snprintf(d, sizeof(d), "%s", kmc_error_detail());
			kmc_vault_close(v);
			return kmc_detail(r, "%s", d);
		}
		kmc_vault_close(v);
		return 0;
	}
	snprintf(d, sizeof(d), "%s", kmc_error_detail()[0] ?
		kmc_error_detail() : kmc_strerror(r));
	/* Any failure but "no protector opens it" leaves the mark: the
	   next writable open (kmc repair) binds and finishes. */
	if (!unlock_error(r))
		return kmc_detail(KMC_E_PENDING, "%s: the restore is committed "
			"but not finished: not bound yet (%s); kmc repair "
			"finishes it", dir, d);
	/* No protector opens it here: the restore is over all the same,
	   and the vault unbound. */
	if (vault_open_dir(dir, &fd) == 0) {
		if (lock_dir(fd) == 0 && restore_recover(fd, dir) >= 0 &&
		    restore_finish(fd, dir) < 0)
			kmc_detail_clear();
		close(fd);
	}
	if (!info->note[0])
		snprintf(info->note, sizeof(info->note), "the restored vault "
			"is not bound yet (%s); kmc repair --accept-rollback "
			"binds it", d);
	kmc_detail_clear();
	return 0;
}

int kmc_vault_restore(const char *dir, const char *from,
	const kmc_options *opts, kmc_backup_info *ret)
{
	_cleanup_(kmc_closep) int dirfd = -1;
	_cleanup_(kmc_closep) int bfd = -1;
	_cleanup_(kmc_closep) int sfd = -1;
	_cleanup_(freep) uint8_t *raw = NULL;
	_cleanup_(kmc_secret_freep) kmc_secret *akey = NULL;
	uint64_t pending = 0;
	char dbuf[PATH_MAX], path[PATH_MAX + 64], cur[2 * KS_VAULT_ID_LEN + 1];
	char want[2 * KS_VAULT_ID_LEN + 1], mark[256];
	uint8_t id[KS_VAULT_ID_LEN];
	kmc_backup_info info;
	backup_manifest m;
	uint64_t gen = 0;
	size_t len;
	int r, found = 0, created = 0, staged = 0, published;
	uint32_t mk_max = 0, bk_max = 0;

	kmc_detail_clear();
	KMC_GUARD(backup_info_check(ret));
	KMC_GUARD(kmc_crypto_init());
	if (!dir) {
		KMC_GUARD(kmc_default_vault_dir(dbuf, sizeof(dbuf)));
		dir = dbuf;
	}
	/* The backup first: nothing in the vault is touched for a bad one. */
	bfd = open(from, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (bfd < 0) {
		r = -errno;
		return kmc_detail(r == -ENOENT ? KMC_E_NOT_FOUND : r, "the backup "
			"%s: %s", from, kmc_strerror(r));
	}
	KMC_GUARD(kmc_check_dir(bfd, from, NULL));
	backup_show_path(path, sizeof(path), from, BACKUP_MANIFEST_NAME);
	r = kmc_read_checked(bfd, BACKUP_MANIFEST_NAME, path, &backup_manifest_rule,
		&raw, &len);
	if (r == -ENOENT)
		return kmc_detail(KMC_E_CORRUPT, "%s is missing: %s is not a "
			"whole kmc backup", path, from);
	if (r == KMC_E_TOO_LARGE)
		return kmc_detail(KMC_E_CORRUPT, "%s is damaged", path);
	KMC_GUARD(r);
	r = manifest_parse(raw, len, &m);
	if (r == KMC_E_VERSION) {
		uint64_t ver = 0;

		if (manifest_version(raw, len, &ver) < 0)
			ver = 0;
		return kmc_detail(r, "%s has manifest version %llu, and this "
			"kmc reads version %u only: a newer kmcvault wrote the "
			"backup", path, (unsigned long long)ver,
			BACKUP_MANIFEST_VERSION);
	}
	if (r < 0)
		return kmc_detail(KMC_E_CORRUPT, "%s is damaged", path);
	manifest_info(&m, &info);

	/* Opened as every command opens the vault: through the walk that
	   checks each link on the path, so a link others can repoint never
	   decides where the backup goes. */
	r = vault_open_dir(dir, &dirfd);
	if (r == KMC_E_NOT_VAULT) {
		/* The walk reached the missing last name over checked links
		   only: made there, then opened through the walk again. */
		kmc_detail_clear();
		if (mkdir(dir, 0700) < 0) {
			r = -errno;
			return kmc_detail(r, "creating %s: %s", dir,
				kmc_strerror(r));
		}
		created = 1;
		r = vault_open_dir(dir, &dirfd);
	}
	if (r == 0)
		r = lock_dir(dirfd);
	if (r == 0)
		r = restore_recover(dirfd, dir);
	if (r > 0)
		r = 0;	/* a restore before this one, replaced by it */
	if (r == 0)
		r = vault_peek(dirfd, dir, id, &gen, &found);
	if ((r == KMC_E_WRONG_VAULT || (r == 0 && found &&
	     memcmp(id, m.vault_id, KS_VAULT_ID_LEN) != 0)) &&
	    store_is(dirfd, dir, m.vault_id)) {
		/* The folder is the backup's vault's (its item store says
		   so), with keystores of another copied in: those may still
		   open that vault's kmc: strings, so they are the user's to
		   move, not restore's to replace. */
		vault_hex(m.vault_id, KS_VAULT_ID_LEN, want);
		r = kmc_detail(KMC_E_WRONG_VAULT, "%s/" STORE_NAME " is of vault "
			"%s, as the backup %s is, but the keystores in %s are "
			"another vault's: restore never replaces another vault's "
			"keystore; move " KS_MASTER_NAME " and " KS_STANDBY_NAME
			" out of %s (they may still open that vault's kmc: "
			"strings), then restore again", dir, want, from, dir,
			dir);
	} else if (r == 0 && found &&
	    memcmp(id, m.vault_id, KS_VAULT_ID_LEN) != 0) {
		vault_hex(id, KS_VAULT_ID_LEN, cur);
		vault_hex(m.vault_id, KS_VAULT_ID_LEN, want);
		r = kmc_detail(KMC_E_WRONG_VAULT, "%s is a backup of vault %s, "
			"but %s holds vault %s; restore never replaces another "
			"vault", from, want, dir, cur);
	}
	if (r == 0 && !found)
		r = restore_target_ok(dirfd, dir, m.vault_id);
	if (r < 0)
		goto fail;
	kmc_detail_clear();
	info.replaced_generation = found ? gen : 0;
	/* Master keys made after the backup go with the keystore it
	   replaces: said, as strings sealed with them stop decrypting. */
	if (found && vault_peek_mk_max(dirfd, dir, &mk_max) < 0)
		mk_max = 0;
	kmc_detail_clear();

	staged = 1;
	r = restore_stage(dirfd, bfd, from, &m, &sfd);
	if (r == 0) {
		if (vault_peek_mk_max(sfd, from, &bk_max) == 0 &&
		    mk_max > bk_max) {
			info.mk_lost_first = bk_max + 1;
			info.mk_lost_last = mk_max;
		}
		kmc_detail_clear();
		r = verify_staged(dir, from, opts, &info, &akey);
	}
	/* The verifying open made a reader table in the stage: not moved. */
	if (r == 0 && unlinkat(sfd, STORE_LOCK_NAME, 0) < 0 && errno != ENOENT)
		r = -errno;
	if (r < 0)
		goto fail;

	/* The record before the commit point: a restore that cannot be
	   recorded is not made. A backup no protector opened gives no key,
	   and its restore goes unrecorded (docs/cli.md). */
	if (akey) {
		r = audit_restore(dirfd, dir, akey, m.generation, 0, &pending);
		if (r < 0)
			goto fail;
	}
	vault_hex(m.vault_id, KS_VAULT_ID_LEN, want);
	/* Whether a vault was there (its keystores or its store): only
	   then does finishing the restore write the trust sync files. */
	len = (size_t)snprintf(mark, sizeof(mark), "kmcvault-restore 1\n"
		"vault_id %s\ngeneration %" PRIu64 "\nreplaced %d\n", want,
		m.generation, found || faccessat(dirfd, STORE_NAME, F_OK,
		AT_SYMLINK_NOFOLLOW) == 0);
	r = kmc_write_atomic_ex(dirfd, RESTORE_MARK_NAME, mark, len, 0600, 0,
		&published);
	if (r < 0 && !published)
		goto fail;
	/* The commit point is passed: from here on, forward only. */
	r = restore_apply(dirfd, dir);
	if (akey) {
		char d[512];

		/* Best effort: the restore is made (or kmc repair makes it). */
		snprintf(d, sizeof(d), "%s", kmc_error_detail());
		(void)audit_restore(dirfd, dir, akey, m.generation,
			r < 0 ? r : 1, &pending);
		kmc_detail_clear();
		if (d[0])
			kmc_detail(0, "%s", d);
	}
	if (r < 0)
		return kmc_detail(KMC_E_PENDING, "%s: the restore is committed "
			"but not finished (%s); kmc repair finishes it", dir,
			kmc_error_detail());
	/* A deliberate restore: bind the vault to what it now holds, when a
	   protector opened the backup (the writer lock is let go first). */
	close(dirfd);
	dirfd = -1;
	KMC_GUARD(restore_bind(dir, opts, &info));
	if (ret)
		backup_info_out(&info, ret);
	return 0;

fail:
	if (staged)
		backup_remove_built(dirfd, RESTORE_STAGE_NAME);
	if (created)
		(void)rmdir(dir);
	if (!kmc_error_detail()[0])
		kmc_detail(r, "restoring %s into %s: %s; nothing was changed",
			from, dir, kmc_strerror(r));
	return r;
}


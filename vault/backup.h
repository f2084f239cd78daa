/*
 * backup.h - backups of a vault, and restoring one (vault/backup.c,
 * restore.c, with the set's files in backupset.c and the manifest in
 * manifest.c).
 *
 * A backup is a folder of four files, each 0600, the folder 0700:
 *
 *	kmc.ks          the keystore, as the vault's newest generation
 *	StandbyKsf.ks   the same bytes
 *	items.mdb       a compacted LMDB copy of the item store
 *	backup.manifest what the three are (below), so that any changed,
 *	                missing or swapped byte is found before a restore
 *	                touches the vault
 *
 * Manifest, format 1: text, one field a line, in this order and no other,
 * each line ending in "\n", at most BACKUP_MANIFEST_MAX bytes:
 *
 *	kmcvault-backup 1
 *	vault_id <32 lower-case hex digits>
 *	generation <keystore generation, decimal>
 *	store_generation <decimal>
 *	items <decimal>
 *	created <seconds since the epoch, decimal>
 *	file kmc.ks <size> <BLAKE2b-256, 64 hex digits>
 *	file StandbyKsf.ks <size> <hex>
 *	file items.mdb <size> <hex>
 *	checksum <BLAKE2b-256 of every byte before this line, hex>
 *
 * Decimal numbers have no sign and no leading zeros.
 */
#ifndef KMC_BACKUP_H
#define KMC_BACKUP_H

#include <stdint.h>
#include <kmc/admin.h>
#include "keystore.h"
#include "../safeio/fileio.h"

#define BACKUP_MANIFEST_NAME "backup.manifest"
#define BACKUP_MANIFEST_VERSION 1
#define BACKUP_MANIFEST_MAX 4096
#define BACKUP_FILES 3		/* kmc.ks, StandbyKsf.ks, items.mdb */

/* In a vault folder while a restore is under way (vault/restore.c). */
#define RESTORE_STAGE_NAME ".kmc-restore.d"
#define RESTORE_MARK_NAME ".kmc-restore"

typedef struct backup_file {
	uint64_t size;
	uint8_t hash[KMC_HASH_LEN];
} backup_file;

typedef struct backup_manifest {
	uint8_t vault_id[KS_VAULT_ID_LEN];
	uint64_t generation;
	uint64_t store_generation;
	uint64_t items;
	int64_t created;
	backup_file file[BACKUP_FILES];	/* in the order of backup_file_names */
} backup_manifest;

KMC_INTERNAL extern const char *const backup_file_names[BACKUP_FILES];

/* The manifest's text; *ret is malloc'd. Returns 0 or KMC_E_NOMEM. */
KMC_INTERNAL int manifest_encode(const backup_manifest *m, char **ret,
	size_t *ret_len) KMC_MUST_CHECK;
/* The version on the first line of a manifest, whatever follows. */
KMC_INTERNAL int manifest_version(const uint8_t *p, size_t len,
	uint64_t *ret) KMC_MUST_CHECK;
/* Parse exactly len bytes. Returns 0, KMC_E_CORRUPT, KMC_E_VERSION (a
   first line of a higher version is refused before the checksum). */
KMC_INTERNAL int manifest_parse(const uint8_t *p, size_t len,
	backup_manifest *ret) KMC_MUST_CHECK;

/* Copy what fits of info into the caller's ret (ret->size bytes). */
KMC_INTERNAL void backup_info_out(const kmc_backup_info *info,
	kmc_backup_info *ret);
/* 0, or KMC_E_INVALID with a detail when ret is set and its size is 0. */
KMC_INTERNAL int backup_info_check(const kmc_backup_info *ret)
	KMC_MUST_CHECK;
/* The manifest's facts in the caller's kmc_backup_info. */
KMC_INTERNAL void manifest_info(const backup_manifest *m,
	kmc_backup_info *info);

/*
 * The files of a set (vault/backupset.c), shared by backup.c and
 * restore.c. Paths in messages are show_path(dir, name).
 */
KMC_INTERNAL extern const kmc_file_rule backup_ks_rule;
KMC_INTERNAL extern const kmc_file_rule backup_manifest_rule;
/* The rule for backup_file_names[i]. */
KMC_INTERNAL const kmc_file_rule *backup_file_rule(size_t i);
KMC_INTERNAL void backup_show_path(char *buf, size_t size, const char *dir,
	const char *name);
/* A temporary for name in dirfd, 0600, O_EXCL; its name in tmp. */
KMC_INTERNAL int backup_create_temp(int dirfd, const char *name, char *tmp,
	size_t size) KMC_MUST_CHECK;
/* fsync fd, rename tmp to name, fsync dirfd; unlink tmp on failure. */
KMC_INTERNAL int backup_publish(int dirfd, int fd, const char *tmp,
	const char *name) KMC_MUST_CHECK;
/* Copy all of srcfd into a new dirfd/name, written atomically. */
KMC_INTERNAL int backup_copy_file(int srcfd, int dirfd, const char *name)
	KMC_MUST_CHECK;
/* Size and BLAKE2b-256 of what fd holds from offset 0. */
KMC_INTERNAL int backup_hash_fd(int fd, uint64_t *ret_size,
	uint8_t out[KMC_HASH_LEN]) KMC_MUST_CHECK;
/* The folder dirfd (called show in messages) holds exactly what m says. */
KMC_INTERNAL int backup_check_set(int dirfd, const char *show,
	const backup_manifest *m) KMC_MUST_CHECK;
/*
 * backup_leftovers (vault/backupleft.c) - remove the hidden folders
 * (.NAME.backup-XXXXXXXXXXXX) in parentfd that killed backups of v's vault
 * left, each only when it is provably one (v holds the writer lock).
 * *ret_removed counts those removed, *ret_kept the others of such a name,
 * left as they are; *ret_busy, of those, the ones provably this vault's
 * but written to within BACKUP_LEFT_QUIET seconds (a backup by an older
 * kmc, which does not lock its folder, may be building it). Best
 * effort: no error.
 */
#define BACKUP_LEFT_QUIET KMC_BACKUP_LEFT_QUIET
KMC_INTERNAL void backup_leftovers(kmc_vault *v, int parentfd,
	uint64_t *ret_removed, uint64_t *ret_kept, uint64_t *ret_busy);
/* Whether name is one a killed backup's folder has (.NAME.backup- and 12
   lower-case hex digits): the name no backup may be made under. */
KMC_INTERNAL int backup_left_name(const char *name);
/* Remove a folder a backup or restore built: only the names it writes. */
KMC_INTERNAL void backup_remove_built(int parentfd, const char *name);

/*
 * restore_recover (vault/recover.c) - at a writable open, under the writer lock: finish a
 * restore that reached its commit point (the mark exists), or remove
 * what one staged before it. Returns 0; 1 when the restored files are in
 * place and the mark waits for the open to bind them (kmc.bind) and call
 * restore_finish(), 2 the same where the restore replaced a vault (its
 * mark says so); or -errno with a detail.
 */
KMC_INTERNAL int restore_recover(int dirfd, const char *dir) KMC_MUST_CHECK;
/*
 * restore_sync_trust (vault/recover.c) - at the open that finishes a
 * restore, before its mark goes (a kill before then leaves it to the next
 * writable open): write each trust sync file that does not hold its
 * restored store again. Best effort: a file that cannot be written must
 * not keep the vault from opening; the count and the fault stay in v for
 * kmc_vault_restore() to report. Only where the restore replaced a vault
 * (replaced): one into a folder that held none (a copy to look at, on
 * the same host) must not change a live server's CA file; those files
 * are only counted.
 */
KMC_INTERNAL void restore_sync_trust(kmc_vault *v, int replaced);
/* Remove the restore's mark: the restore is over. */
KMC_INTERNAL int restore_finish(int dirfd, const char *dir) KMC_MUST_CHECK;
/* Step 3 of a restore: move the staged set over the vault's files;
   idempotent (vault/recover.c). */
KMC_INTERNAL int restore_apply(int dirfd, const char *dir) KMC_MUST_CHECK;
/* Whether a restore was cut off after its commit point. */
KMC_INTERNAL int restore_pending(int dirfd);
/* Whether another process holds the vault's writer lock now (a restore
   that is pending is then being done or finished, not cut off). */
KMC_INTERNAL int restore_under_way(int dirfd);

#endif

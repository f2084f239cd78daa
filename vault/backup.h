/*
 * backup.h - backups of a vault, and restoring one (vault/backup.c).
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
#include "keystore.h"

#define BACKUP_MANIFEST_NAME "backup.manifest"
#define BACKUP_MANIFEST_VERSION 1
#define BACKUP_MANIFEST_MAX 4096
#define BACKUP_FILES 3		/* kmc.ks, StandbyKsf.ks, items.mdb */

/* In a vault folder while a restore is under way (vault/backup.c). */
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
/* Parse exactly len bytes. Returns 0, KMC_E_CORRUPT, KMC_E_VERSION. */
KMC_INTERNAL int manifest_parse(const uint8_t *p, size_t len,
	backup_manifest *ret) KMC_MUST_CHECK;

/*
 * restore_recover - at a writable open, under the writer lock: finish a
 * restore that reached its commit point (the mark exists), or remove
 * what one staged before it. Returns 0 or -errno with a detail.
 */
KMC_INTERNAL int restore_recover(int dirfd, const char *dir) KMC_MUST_CHECK;
/* Whether a restore was cut off after its commit point. */
KMC_INTERNAL int restore_pending(int dirfd);

#endif

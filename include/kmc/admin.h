/*
 * kmc/admin.h - creating and inspecting vaults: what the kmc command and
 * provisioning tools need beyond what a server uses. Include after kmc.h.
 */
#ifndef KMC_ADMIN_H
#define KMC_ADMIN_H

#include <sys/types.h>
#include <kmc.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum kmc_protector_type {
	KMC_PROTECTOR_HOST = 1,		/* a host-bound secret file */
	KMC_PROTECTOR_PASSPHRASE = 2,	/* Argon2id over a passphrase */
	KMC_PROTECTOR_PKCS11 = 3,	/* a key inside an HSM, via PKCS#11 */
	KMC_PROTECTOR_TPM = 4,		/* the same through tpm2-pkcs11 */
	KMC_PROTECTOR_RECOVERY = 5,	/* a printed high-entropy key */
} kmc_protector_type;

/*
 * Private keys born in the vault (kmc key gen, kmc ca init, kmc cert
 * issue): the types the import policy accepts. The zero value is the
 * default, P-256.
 */
typedef enum kmc_key_type {
	KMC_KEY_P256 = 0,
	KMC_KEY_P384 = 1,
	KMC_KEY_ED25519 = 2,
	KMC_KEY_RSA2048 = 3,
	KMC_KEY_RSA3072 = 4,
	KMC_KEY_RSA4096 = 5,
} kmc_key_type;

/* kmc_key_type_name - "p256", "p384", "ed25519", "rsa2048", "rsa3072",
 * "rsa4096", as the kmc command spells them, or NULL for a value outside
 * the enum. */
KMC_API const char *kmc_key_type_name(kmc_key_type type);

/*
 * kmc_vault_init - create a vault in dir with one protector (any type;
 * see kmc_protector_add() for what each needs in opts; a recovery key
 * made here is returned in *ret_recovery, which may be NULL otherwise).
 *
 * dir may be absent or an empty directory; the vault is built in a
 * temporary sibling and renamed into place, so a failure or a kill leaves
 * nothing half made. The host protector creates the host key (mode 0400)
 * when it does not exist yet; the passphrase protector needs
 * opts->passphrase (at least 8 bytes).
 *
 * Returns 0; KMC_E_EXISTS (dir is not empty), KMC_E_INVALID,
 * KMC_E_NEED_PASSPHRASE, KMC_E_EMPTY, KMC_E_PERM, KMC_E_HOST_KEY,
 * KMC_E_STORE, KMC_E_NOMEM, -errno.
 */
KMC_API int kmc_vault_init(const char *dir, kmc_protector_type type,
	const kmc_options *opts) KMC_MUST_CHECK;
KMC_API int kmc_vault_init_ex(const char *dir, kmc_protector_type type,
	const kmc_options *opts, kmc_secret **ret_recovery) KMC_MUST_CHECK;

/*
 * kmc_protector_add - add a protector to a vault opened with
 * KMC_OPEN_WRITE, as one change of both keystores.
 *	host:       opts->host_key (else $KMC_HOST_KEY or the default)
 *	passphrase: opts->passphrase (8 bytes or more), opts->argon2_*
 *	pkcs11/tpm: opts->pkcs11_uri, opts->pin..., opts->pkcs11_create_key,
 *	            opts->pkcs11_mechanism (tpm defaults to the tpm2_pkcs11
 *	            module when the URI names none)
 *	recovery:   *ret_recovery receives the key to show once, as text
 * *ret_id (may be NULL) is the new protector's id.
 * Returns 0; KMC_E_READONLY, KMC_E_LIMIT (16 protectors), KMC_E_INVALID,
 * the errors of the protector's own set-up (KMC_E_P11_*, KMC_E_HOST_KEY,
 * ...), -errno.
 */
KMC_API int kmc_protector_add(kmc_vault *v, kmc_protector_type type,
	const kmc_options *opts, unsigned *ret_id, kmc_secret **ret_recovery)
	KMC_MUST_CHECK KMC_NONNULL(1);

/*
 * kmc_protector_remove - remove protector id; never the last one.
 * Returns 0; KMC_E_READONLY, KMC_E_NOT_FOUND, KMC_E_LIMIT (the last),
 * -errno.
 */
KMC_API int kmc_protector_remove(kmc_vault *v, unsigned id)
	KMC_MUST_CHECK KMC_NONNULL(1);

/*
 * Master keys. Items and ciphertext strings are sealed by keys derived
 * from a master key; the keystore holds up to KMC_MAX_MASTER_KEYS of
 * them, one active. Rotation is staged: kmc_mk_rotate() makes a new one
 * active (new writes use it, the others still decrypt), kmc_mk_rewrap()
 * seals what the old ones sealed again under it, and kmc_mk_retire()
 * removes an old one once nothing uses it. A handle opened before a
 * rotation finds the new key in the keystores when it first meets it,
 * and seals new ciphertext strings under it.
 */
typedef struct kmc_mk_info {
	uint32_t id;
	int active;		/* seals new items and strings */
	int64_t created;	/* seconds since the epoch */
	uint64_t items;		/* current item records it seals */
	uint64_t old_versions;	/* superseded records it seals */
} kmc_mk_info;

/*
 * kmc_mk_rotate - make a new master key (random, in guarded memory) and
 * make it the active one, as one change of both keystores; *ret_id (may
 * be NULL) is its id. Needs KMC_OPEN_WRITE.
 * Returns 0; KMC_E_READONLY, KMC_E_LIMIT (KMC_MAX_MASTER_KEYS: retire
 * one first), KMC_E_PENDING (in kmc.ks only: kmc repair), -errno.
 */
KMC_API int kmc_mk_rotate(kmc_vault *v, uint32_t *ret_id)
	KMC_MUST_CHECK KMC_NONNULL(1);

/*
 * kmc_mk_list - call cb for each master key, by id, with how many records
 * it seals (this walks every record); stops at cb's non-zero return,
 * which it returns. Any handle: one opened before a rotation lists the
 * keys as they are now.
 * Returns 0; KMC_E_CORRUPT, KMC_E_STORE, -errno.
 */
KMC_API int kmc_mk_list(kmc_vault *v,
	int (*cb)(const kmc_mk_info *info, void *arg), void *arg)
	KMC_MUST_CHECK KMC_NONNULL(1, 2);

typedef struct kmc_rewrap_params {
	size_t size;		/* sizeof(kmc_rewrap_params) */
	/* Config files whose kmc: strings are sealed again, besides those
	   the vault's imported bundles name (which are always done). */
	const char *const *conf;
	size_t n_conf;
	/* Told of each kmc: string left as it was, and why (another
	   vault's, a master key this vault does not hold, malformed). */
	void (*skipped)(const char *file, unsigned line, const char *why,
		void *arg);
	void *arg;
} kmc_rewrap_params;

#define KMC_REWRAP_PARAMS_INIT { .size = sizeof(kmc_rewrap_params) }

typedef struct kmc_rewrap_result {
	uint64_t records;	/* sealed again, current and old versions */
	uint64_t strings;	/* kmc: strings sealed again */
	uint64_t files;		/* config files rewritten */
	uint64_t skipped;	/* kmc: strings left alone */
} kmc_rewrap_result;

/*
 * kmc_mk_rewrap - seal every record (old versions too) and every kmc:
 * string in the config files that a master key other than the active one
 * sealed, again under the active one. Records go KMC_REWRAP_BATCH to a
 * transaction, so readers never wait for the whole rewrap and a kill
 * loses at most one batch: run it again and it goes on. Each config file
 * is replaced in one rename, owner, group and mode kept, every byte but
 * the re-sealed strings unchanged. The files named in p are read before
 * anything changes; a file a bundle names that is gone is skipped.
 * Needs KMC_OPEN_WRITE; p may be NULL; *ret (may be NULL) counts what
 * was sealed again, after a failure what was before it.
 * Returns 0; KMC_E_READONLY, KMC_E_AUTH (a record that does not open:
 * the detail names it), KMC_E_PERM, KMC_E_TOO_LARGE, KMC_E_INVALID (a
 * config file with a NUL byte), KMC_E_STORE, -errno (-ENOENT: a named file is missing).
 */
#define KMC_REWRAP_BATCH 1000
KMC_API int kmc_mk_rewrap(kmc_vault *v, const kmc_rewrap_params *p,
	kmc_rewrap_result *ret) KMC_MUST_CHECK KMC_NONNULL(1);

/*
 * kmc_mk_retire - remove master key id from both keystores. Refused while
 * it is the active one or still seals a record, or a kmc: string in a
 * config file a bundle names or in conf[0..n_conf): the detail says how
 * many and that kmc mk rewrap fixes it. A keystore copied before still
 * holds the key. Needs KMC_OPEN_WRITE.
 * Returns 0; KMC_E_READONLY, KMC_E_NOT_FOUND, KMC_E_IN_USE, KMC_E_PENDING,
 * the errors of reading the config files, -errno.
 */
KMC_API int kmc_mk_retire(kmc_vault *v, uint32_t id,
	const char *const *conf, size_t n_conf) KMC_MUST_CHECK KMC_NONNULL(1);

/*
 * kmc_vault_unlock_notes - what failed before a protector opened the
 * vault, one line per protector tried ("protector 2 (pkcs11): wrong
 * PIN"); "" when the first one tried worked.
 */
KMC_API const char *kmc_vault_unlock_notes(const kmc_vault *v)
	KMC_NONNULL(1);

/* The state of one keystore file, as kmc_vault_status() reports it. */
typedef enum kmc_keystore_state {
	KMC_KS_OK = 0,		/* valid, and of the newest generation */
	KMC_KS_MISSING = 1,
	KMC_KS_STALE = 2,	/* valid, but an older generation */
	KMC_KS_DAMAGED = 3,	/* fails its checksum or does not parse */
	KMC_KS_UNSAFE = 4,	/* a link, wrong owner or mode: not read */
	KMC_KS_FOREIGN = 5,	/* valid, but of another vault id than
				   items.mdb: copied from another vault */
	KMC_KS_UNVERIFIED = 6,	/* checksum holds, but its MAC was not
				   checked: no protector opens without
				   a prompt (kmc_vault_status() only) */
} kmc_keystore_state;

/* A keystore's limits today; kmc_status does not depend on them. */
#define KMC_MAX_PROTECTORS 16
#define KMC_MAX_MASTER_KEYS 64

typedef struct kmc_protector_info {
	unsigned id;
	kmc_protector_type type;
	char detail[256];	/* host key path, or Argon2id parameters */
} kmc_protector_info;

typedef struct kmc_master_key_info {
	uint32_t id;
	int active;
	int64_t created;
} kmc_master_key_info;

/*
 * What kmc_vault_status() reports. The caller sets size (use
 * KMC_STATUS_INIT): the library fills only the fields that fit in it, so
 * fields added at the end later are never written past an older
 * caller's struct. The two lists are the library's (malloc'd), as long
 * as their counts say; release them with kmc_status_free().
 */
/* The binding (kmc.bind) as kmc status reads it, without a key. */
typedef enum kmc_bind_state {
	KMC_BIND_NONE = 0,	/* not bound yet: a writable open binds */
	KMC_BIND_OK = 1,	/* names the item store's generation */
	KMC_BIND_PENDING = 2,	/* a change under way; the next writable
				   open finishes it */
	KMC_BIND_DAMAGED = 3,	/* unreadable, or another vault's */
	KMC_BIND_DISAGREES = 4,	/* names another generation: an open
				   refuses with KMC_E_ROLLBACK */
	KMC_BIND_NEWER = 5,	/* of a newer format: an open refuses with
				   KMC_E_VERSION, and nothing rewrites it */
} kmc_bind_state;

/* "not bound yet", "ok", "change pending", "damaged", "disagrees",
   "newer format", or "unknown" for a value outside the enum. */
KMC_API const char *kmc_bind_state_name(kmc_bind_state state);

typedef struct kmc_status {
	size_t size;		/* the caller's sizeof(kmc_status) */
	char vault_id[33];	/* 32 hex digits */
	uint32_t format_version;
	uint64_t generation;	/* of the winning keystore */
	kmc_keystore_state master, standby;
	uint64_t master_generation, standby_generation;
	uint64_t items;		/* count in the item store */
	uint64_t store_generation;	/* grows with every item change */
	int pending_change;	/* an import was cut off; a writable open
				   (kmc repair) finishes or undoes it; 2:
				   a newer kmcvault's, which this one's
				   repair refuses (finish it with that one) */
	size_t n_protectors;
	kmc_protector_info *protectors;
	size_t n_master_keys;
	kmc_master_key_info *master_keys;
	kmc_bind_state binding;	/* kmc.bind against the item store */
	/* Where a whole folder put back is caught ("host state file
	   PATH"), or "" when nothing outside the folder can tell. */
	char rollback_place[4240];
	/* The audit log's record kmc.bind names (read without the key:
	   kmc audit verify checks it), 0 when none: a log that ends before
	   it lost records from its end. */
	uint64_t bound_audit_seq;
	/* Keys on a token waiting to be destroyed (a change was cut off
	   after its commit, or the token could not be reached): kmc repair
	   destroys them. A list that does not parse counts as one. */
	uint64_t token_destroys;
	/* 1: the audit log holds another record, or none, where the one
	   bound_audit_seq names was (cut and written again from there, or
	   another copy's log; read without the key, by hash): changes are
	   refused until it is put back or kmc repair --accept-rollback
	   accepts it. */
	int audit_bound_rewritten;
} kmc_status;

/* Designated, as KMC_OPTIONS_INIT: the lists start NULL. */
#define KMC_STATUS_INIT { .size = sizeof(kmc_status) }

/*
 * kmc_vault_status - inspect the vault in dir without asking for a secret
 * or changing anything. The keystores' MACs are checked with a host
 * protector when the host key is readable (no prompt); when no protector
 * opens that way, the keystores whose checksum holds are reported
 * KMC_KS_UNVERIFIED rather than ok or stale, since a forged file can
 * carry any generation.
 * *ret_status is written only on success; its size must be set (see
 * kmc_status), and its lists are released with kmc_status_free().
 * Returns 0; KMC_E_INVALID (size 0), KMC_E_NOT_VAULT, KMC_E_PERM,
 * KMC_E_NO_KEYSTORE, KMC_E_VERSION, KMC_E_WRONG_VAULT, KMC_E_STORE,
 * KMC_E_NOMEM, -errno.
 */
KMC_API int kmc_vault_status(const char *dir, kmc_status *ret_status)
	KMC_MUST_CHECK KMC_NONNULL(2);

/*
 * kmc_vault_verify - walk every record of the item store (current and
 * old versions): recompute its digest (the hash tree in items.mdb)
 * whole and compare every node and the root with the stored ones, and
 * open each record under its master key. cb (may be NULL) is called for
 * each disagreement; its non-zero return stops the walk and is returned.
 * *ret_records counts the records, *ret_bad the disagreements. A store
 * an older kmc made has no digest until a writable open builds it: that
 * is one disagreement. Reads only; a read-only handle will do.
 * Returns 0, with or without disagreements; KMC_E_CORRUPT (a key or
 * value LMDB cannot give back), KMC_E_NOMEM, -errno.
 */
typedef struct kmc_verify_note {
	const char *item;	/* the item; NULL: the digest, no one item */
	uint32_t version;	/* 0: the current record; else an old one */
	const char *what;	/* what disagrees */
} kmc_verify_note;

KMC_API int kmc_vault_verify(kmc_vault *v,
	int (*cb)(const kmc_verify_note *note, void *arg), void *arg,
	uint64_t *ret_records, uint64_t *ret_bad)
	KMC_MUST_CHECK KMC_NONNULL(1, 4, 5);

/*
 * kmc_status_free - release the lists of a status and set them to NULL
 * and their counts to 0; the struct itself is the caller's. Safe on a
 * KMC_STATUS_INIT struct, and twice. Only the fields its size covers are
 * read or written, as by kmc_vault_status().
 */
KMC_API void kmc_status_free(kmc_status *status);

/* kmc_protector_type_name - "host", "passphrase", "pkcs11", "tpm",
 * "recovery" or "unknown". */
KMC_API const char *kmc_protector_type_name(kmc_protector_type type);

/* kmc_keystore_state_name - "ok", "missing", "stale", "damaged",
 * "unsafe", "foreign", "unverified" or "unknown". */
KMC_API const char *kmc_keystore_state_name(kmc_keystore_state state);

/*
 * kmc_vault_opened_by - the id of the protector that opened the handle.
 */
KMC_API unsigned kmc_vault_opened_by(const kmc_vault *v) KMC_NONNULL(1);

/*
 * kmc_vault_repaired - which keystores kmc_vault_open() rewrote because
 * they were missing, stale or damaged: bit 0 kmc.ks, bit 1 StandbyKsf.ks.
 */
KMC_API unsigned kmc_vault_repaired(const kmc_vault *v) KMC_NONNULL(1);

/* ---------------------------------------------------------------- */
/* Backup and restore                                                */

/*
 * A backup is a new folder (0700) of four files (0600): kmc.ks and
 * StandbyKsf.ks (the same bytes), items.mdb (a compacted copy of the item
 * store) and backup.manifest (docs/format.md), which names the vault id,
 * the keystore generation, the item count and a hash of every file.
 *
 * It holds the sealed items and the keystore, not the host key, a
 * passphrase, a token or a recovery key: one of the vault's protectors
 * is needed to open what it restores. Keys folders and config files an
 * import wrote are not in it.
 */
typedef struct kmc_backup_info {
	size_t size;		/* the caller's sizeof(kmc_backup_info) */
	char vault_id[33];		/* 32 hex digits */
	uint64_t generation;		/* of the keystore in the backup */
	uint64_t store_generation;
	uint64_t items;
	int64_t created;		/* seconds since the epoch */
	/* Restore only: */
	uint64_t replaced_generation;	/* the vault's keystore generation
					   before; 0 when none was readable */
	int verified;			/* a protector opened the backup, and
					   its keystore MAC and every item's
					   tag were checked */
	char note[512];			/* why not, when verified is 0 */
	uint64_t cas;			/* with verified: the CAs the restored
					   vault holds. Their records are the
					   backup's: what they revoked after
					   it is not revoked in them (revoke
					   again before their next CRL;
					   numbers still grow), what they
					   issued after it unknown to them */
	uint64_t trust_files;		/* with verified: the trust sync files
					   (kmc trust sync) written again to
					   hold what the restored trust
					   stores hold */
	uint64_t trust_files_left;	/* with verified, restored into a folder
					   that held no vault: those files that
					   differ from the restored stores, left
					   as they are */
	uint32_t mk_lost_first;		/* master keys the replaced vault
					   held above the backup's highest
					   (made after the backup), ids first
					   to last; 0 and 0 when none. The
					   restore takes them back: strings
					   sealed with them no longer decrypt,
					   and the next kmc_mk_rotate() makes
					   a new key with id first */
	uint32_t mk_lost_last;
	/* Backup only: */
	uint64_t leftovers_removed;	/* hidden folders killed backups of
					   this vault left beside dir
					   (.NAME.backup-XXXXXXXXXXXX),
					   removed */
	uint64_t leftovers_kept;	/* folders so named beside dir that
					   are not provably such a leftover of
					   this vault: left as they are */
	uint64_t leftovers_busy;	/* of leftovers_kept, those this
					   vault's but written to within the
					   last KMC_BACKUP_LEFT_QUIET seconds:
					   an older kmc's backup (which does
					   not lock its folder) of another copy
					   of this vault may be building it */
} kmc_backup_info;

#define KMC_BACKUP_LEFT_QUIET 600	/* seconds: ten minutes */

#define KMC_BACKUP_INFO_INIT { .size = sizeof(kmc_backup_info) }

/*
 * kmc_vault_backup - copy the vault of v, which must be opened with
 * KMC_OPEN_WRITE, to the new folder dir (absent or empty).
 *
 * The handle holds the writer lock for the whole copy, so the keystore
 * and the item store are a matching set; readers go on, and writers wait
 * until it is done. The folder is built as a hidden sibling
 * (.NAME.backup-XXXXXXXXXXXX), checked against its manifest and renamed
 * into place: a failure leaves no dir, and a kill leaves at most the
 * hidden sibling. dir is never overwritten. Once the backup is made, the
 * hidden folders killed backups of this vault left in dir's parent are
 * removed: each one that holds only the files a backup writes and a
 * keystore naming this vault's id (ret_info->leftovers_removed), and
 * left still for KMC_BACKUP_LEFT_QUIET seconds (else leftovers_busy);
 * others of such a name are left and counted (leftovers_kept).
 * *ret_info (may be NULL) describes the backup.
 *
 * Returns 0; KMC_E_INVALID (ret_info->size is 0, or dir is named as a
 * killed backup's folder, which the next backup would remove: nothing is
 * done), KMC_E_READONLY (a handle without the writer lock),
 * KMC_E_EXISTS (dir exists and is not an empty folder), KMC_E_CORRUPT,
 * KMC_E_PENDING (a change needs kmc repair first), KMC_E_STORE,
 * KMC_E_NOMEM, -errno.
 */
KMC_API int kmc_vault_backup(kmc_vault *v, const char *dir,
	kmc_backup_info *ret_info) KMC_MUST_CHECK KMC_NONNULL(1, 2);

/*
 * kmc_vault_restore - put the backup in folder from back as the vault in
 * dir (NULL: kmc_default_vault_dir()), in one step.
 *
 * The backup is checked first: the manifest, every file's size and hash,
 * the keystores (parse, the same bytes, the manifest's vault id and
 * generation), the item store (its vault id and item count). Then it is
 * copied into dir/.kmc-restore.d and opened there with opts (as
 * kmc_vault_open_ex()): when a protector opens it, the keystore MAC and
 * every item are checked and ret_info->verified is 1; when none does,
 * ret_info->note says why and the restore goes on, on the strength of
 * the hashes. Only then are the vault's files replaced, through a commit
 * mark (dir/.kmc-restore): a failure or kill before it leaves the vault
 * as it was, after it the next writable open (kmc repair) finishes the
 * swap; read-only opens fail with KMC_E_PENDING meanwhile.
 *
 * dir need not open: restoring a damaged vault is what this is for. It
 * takes the writer lock, and refuses a dir whose keystore (either twin
 * whose checksum holds) names another vault id, one with no such keystore
 * whose items.mdb names another vault id, or a dir that holds other
 * files and no vault. An absent dir is created (0700). The vault's lock
 * file is removed with its store; a server that kept the vault open
 * reads the old items until it opens it again.
 *
 * Returns 0; KMC_E_INVALID (ret_info->size is 0: nothing is done),
 * KMC_E_NOT_FOUND (no backup folder), KMC_E_CORRUPT (a
 * damaged or incomplete backup), KMC_E_WRONG_VAULT (a backup of another
 * vault, or parts of two), KMC_E_AUTH (an item fails authentication),
 * KMC_E_VERSION, KMC_E_NOT_VAULT (dir holds something else), KMC_E_PERM,
 * KMC_E_PENDING (committed but not finished: kmc repair finishes it),
 * KMC_E_STORE, KMC_E_NOMEM, -errno.
 */
KMC_API int kmc_vault_restore(const char *dir, const char *from,
	const kmc_options *opts, kmc_backup_info *ret_info)
	KMC_MUST_CHECK KMC_NONNULL(2);

/*
 * kmc_restore_note - when the writable open of v finished a restore cut
 * off after its commit mark (kmc repair after a killed kmc restore), the
 * trust sync files it wrote again (kmc_trust_sync(), as kmc_vault_restore()
 * writes them): *ret_files (may be NULL) counts them. The open itself
 * succeeds when one cannot be written (the vault is restored); this
 * says so. Returns 0 (also when the open finished no restore: *ret_files
 * 0), or the error of the file that could not be written (KMC_E_PERM, a
 * link or a file others may write; -errno) with a detail that says the
 * restore is made and names the file, which still holds the trust store
 * as it was before the restore.
 */
KMC_API int kmc_restore_note(const kmc_vault *v, uint64_t *ret_files)
	KMC_MUST_CHECK KMC_NONNULL(1);

/* ---------------------------------------------------------------- */
/* Importing certificates and keys (certImport)                      */

/*
 * An import stores a bundle under NAME:
 *	NAME		the key's password (kmc password get NAME)
 *	NAME/key	the private key, PKCS#8 DER
 *	NAME/cert	the server certificate and intermediates, PEM
 *	NAME/ca		the CA certificate(s), PEM
 *	NAME/crl	the CRL, PEM, when one was given
 *	NAME/meta	where the copies and the config file are, and the
 *			trust store the bundle names
 * and writes copies (mode 0400) to the keys folder: ca.crt, server.crt,
 * server.key (the original, still encrypted) and ca.crl.
 */
#define KMC_BUNDLE_NAME_MAX 120	/* leaves room for the "/cert" suffixes */
#define KMC_KEY_PASSWORD_MAX 100	/* characters, as certImport */

#define KMC_IMPORT_REPLACE 0x1u	/* supersede an existing bundle NAME */
/* Verify as ever, then keep the material as NAME's staged version, served
   by nothing until kmc_promote(); a staged version already there is
   replaced. Nothing outside the vault is written. */
#define KMC_IMPORT_STAGE 0x2u

typedef struct kmc_import_params {
	size_t size;		/* sizeof(kmc_import_params) */
	const char *name;	/* NULL: "server" */
	const char *ca_file;
	const char *cert_file;	/* leaf first, then intermediates */
	const char *key_file;
	const char *crl_file;	/* NULL: none */
	const char *keys_dir;	/* NULL: <vault>/keys/<name> */
	const char *conf_file;	/* NULL: none */
	const kmc_secret *password;	/* the key's; NULL for a plain key */
	unsigned flags;
	/* The trust store (kmc_trust_add()) whose certificates the server
	   accepts clients of, beside the bundle's CA. NULL: with
	   KMC_IMPORT_REPLACE, the one the bundle named before; else none. */
	const char *trust_store;
	/* Move the key to this PKCS#11 token after the checks
	   (kmc_key_gen_on_token() says what is recorded): the vault keeps no
	   copy of it, nor does the keys folder. NULL: the key is sealed in
	   the vault as ever. With KMC_IMPORT_REPLACE or KMC_IMPORT_STAGE the
	   new key is a new object (label NAME~<8 hex digits> unless the URI
	   names one) and the key it replaces stays on the token until its
	   version is pruned; a bundle whose key is in the vault takes no
	   new version on a token, nor the other way (KMC_E_TYPE). */
	const struct kmc_token_params *on_token;
} kmc_import_params;

/* Designated, as KMC_OPTIONS_INIT: fields added or reordered later
 * start unset instead of taking a neighbour's value. */
#define KMC_IMPORT_PARAMS_INIT { .size = sizeof(kmc_import_params) }

/*
 * kmc_key_file_encrypted - whether the key file at path is encrypted with
 * a password (encrypted PKCS#8, PEM or DER, or legacy "Proc-Type: 4,
 * ENCRYPTED" PEM), so a caller knows whether to ask for one. The file
 * passes the same checks as kmc_import() makes.
 * Returns 0 and sets *ret to 0 or 1; KMC_E_PERM, KMC_E_EMPTY,
 * KMC_E_TOO_LARGE, -errno.
 */
KMC_API int kmc_key_file_encrypted(const char *path, int *ret)
	KMC_MUST_CHECK KMC_NONNULL(1, 2);

/*
 * kmc_import - verify everything, then store the bundle, write the copies
 * and update the config file as one transaction.
 *
 * Checked first, with nothing written on failure: every file is regular,
 * reached without symbolic links and owned by the user or root; the key's
 * mode is at most 0640; an existing keys folder is the user's and private;
 * the certificates are within their dates and the server chain leads to
 * the CA; the key opens with the password (at most 100 characters) and
 * belongs to the server certificate; the key is RSA 2048-4096, EC
 * P-256/P-384 or Ed25519; a CRL is signed by the CA, current, and does not
 * revoke the chain.
 *
 * A plain key gets a random password: its copy in the keys folder is
 * written encrypted under it, never in the clear.
 *
 * With --conf, the entries ca_crt, server_crt, server_key, crl and
 * server_key_mm (the password as a ciphertext string) are set; every other
 * line stays.
 *
 * A failure or a kill leaves the vault, the keys folder and the config
 * file as they were, or, once the vault has committed, the next writable
 * open completes the change (see kmc_vault_open()).
 *
 * Returns 0; KMC_E_READONLY, KMC_E_NAME, KMC_E_EXISTS (NAME exists and
 * KMC_IMPORT_REPLACE is not set), KMC_E_PERM, KMC_E_EMPTY,
 * KMC_E_TOO_LARGE, KMC_E_INVALID (a file that is not a certificate, key
 * or CRL in PEM or DER, or is truncated), KMC_E_CORRUPT (a damaged record
 * of the bundle being replaced), KMC_E_VERIFY
 * (dates, chain, key mismatch, CRL), KMC_E_TYPE (key algorithm),
 * KMC_E_NEED_PASSPHRASE (an encrypted key and no password), KMC_E_UNLOCK
 * (the password does not open the key), KMC_E_STORE, -errno.
 */
KMC_API int kmc_import(kmc_vault *v, const kmc_import_params *p)
	KMC_MUST_CHECK KMC_NONNULL(1, 2);

/*
 * kmc_key_gen - a new private key of type for bundle name, generated in
 * OpenSSL and sealed into the vault as PKCS#8 without ever being written
 * in the clear, with a random password for its later keys-folder copy.
 * The bundle has no certificate yet: kmc_csr_make() asks for one and
 * kmc_cert_set() attaches it. The items are written in one transaction.
 * Returns 0; KMC_E_READONLY, KMC_E_NAME (also names beginning "trust:"
 * or "ca:"), KMC_E_INVALID (type), KMC_E_EXISTS (name holds a bundle or
 * an item), KMC_E_STORE, KMC_E_NOMEM.
 */
KMC_API int kmc_key_gen(kmc_vault *v, const char *name, kmc_key_type type)
	KMC_MUST_CHECK KMC_NONNULL(1, 2);

/* Where a key that lives on a PKCS#11 token goes (kmc_key_gen_on_token,
 * kmc_import with KMC_IMPORT_ON_TOKEN). */
typedef struct kmc_token_params {
	size_t size;		/* sizeof(kmc_token_params) */
	const char *uri;	/* the token, RFC 7512; its object= and id=
				   name the new key (else the bundle name and
				   a random id); pin-source= is recorded for
				   servers, pin-value= never */
	const kmc_secret *pin;	/* else the URI's PIN, else pin_cb */
	kmc_passphrase_cb pin_cb;
	void *pin_arg;
} kmc_token_params;

/*
 * kmc_key_gen_on_token - as kmc_key_gen(), but the key pair is made on
 * the token tp->uri names (C_GenerateKeyPair: private, sensitive, never
 * extractable) and the vault records only where it is and its public
 * half (item NAME/key of type KMC_ITEM_TOKEN_KEY). type: rsa2048,
 * rsa3072, p256 or p384. Should the vault's commit fail, the token key
 * is destroyed again. The key URI is listed as waiting to be destroyed
 * (a commit of its own) before the token makes the key, and the
 * bundle's commit takes it off: a process killed in between leaves a
 * key kmc_token_destroys_finish() (kmc repair) destroys.
 * Returns as kmc_key_gen(), and KMC_E_LIMIT (that list is full),
 * KMC_E_INVALID (a type tokens do not get
 * here), KMC_E_STRING (not a PKCS#11 URI), KMC_E_P11_MODULE,
 * KMC_E_P11_TOKEN (no such token), KMC_E_P11_PIN, KMC_E_P11_PIN_LOCKED,
 * KMC_E_NEED_PASSPHRASE (no PIN), KMC_E_P11_KEY_TYPE (the token cannot
 * make that type), KMC_E_EXISTS (the token has an object of that label
 * or id), KMC_E_P11 (the detail names the token).
 */
KMC_API int kmc_key_gen_on_token(kmc_vault *v, const char *name,
	kmc_key_type type, const kmc_token_params *tp)
	KMC_MUST_CHECK KMC_NONNULL(1, 2, 4);

/*
 * kmc_token_key_info - where bundle name's token key is (its key URI, no
 * PIN, into uri) and its public half (DER SubjectPublicKeyInfo into spki,
 * *spki_len its room on entry and its length on return). For the OpenSSL
 * provider's vault half. Returns 0; KMC_E_NOT_FOUND, KMC_E_TYPE (the key
 * is in the vault), KMC_E_TOO_LARGE, KMC_E_CORRUPT.
 */
KMC_API int kmc_token_key_info(kmc_vault *v, const char *name, char *uri,
	size_t uri_size, unsigned char *spki, size_t *spki_len)
	KMC_MUST_CHECK KMC_NONNULL(1, 2, 3, 5, 6);

/*
 * kmc_token_key_check - whether the key key_uri names can be used now:
 * its token is reached and its public object is spki's key (DER
 * SubjectPublicKeyInfo, as kmc_token_key_info() gave), seen without a
 * login; then, unless the URI's pin-source is a file of another user
 * than this process's and root's (a server's master whose workers log
 * in), that the login holds and the private key is there, the same key,
 * and stays in the token. The
 * provider calls it when a server loads the key, so that a server
 * started without its token stops at start, naming the token, rather
 * than fail each handshake. A token that was not reached is not tried
 * again for a short while (docs/cli.md: a token that goes away).
 * Returns 0; KMC_E_P11_MODULE, KMC_E_P11_TOKEN (no such token: the
 * detail names it), KMC_E_P11_PIN, KMC_E_NEED_PASSPHRASE, KMC_E_P11_KEY
 * (the key is gone or another), KMC_E_P11_KEY_TYPE, KMC_E_P11.
 */
KMC_API int kmc_token_key_check(const char *key_uri,
	const unsigned char *spki, size_t spki_len) KMC_MUST_CHECK
	KMC_NONNULL(1, 2);

/* Token key operations, as PKCS#11 does them (kmc_token_key_sign). */
#define KMC_TOKEN_SIG_RSA_PKCS 1	/* PKCS#1 v1.5, DigestInfo built */
#define KMC_TOKEN_SIG_RSA_PSS 2		/* MGF1 with the same hash */
#define KMC_TOKEN_SIG_ECDSA 3		/* raw r || s */
#define KMC_TOKEN_HASH_NONE 0
#define KMC_TOKEN_HASH_SHA1 1
#define KMC_TOKEN_HASH_SHA256 2
#define KMC_TOKEN_HASH_SHA384 3
#define KMC_TOKEN_HASH_SHA512 4

/*
 * kmc_token_key_sign - sign the digest dgst (of hash; NONE only with
 * RSA_PKCS: dgst is then the DigestInfo) on the token with the key
 * key_uri names, logged in with the URI's pin-source or a login this
 * process holds. salt_len: PSS only, negative for the hash's length.
 * *sig_len is the room on entry. After fork() the child starts the
 * module over before its first call.
 * Returns 0; KMC_E_INVALID, KMC_E_P11_KEY (the key is gone: the detail
 * names token and object), KMC_E_P11_KEY_TYPE, KMC_E_P11_TOKEN,
 * KMC_E_P11_PIN, KMC_E_NEED_PASSPHRASE, KMC_E_P11.
 */
KMC_API int kmc_token_key_sign(const char *key_uri, int mech, int hash,
	int salt_len, const unsigned char *dgst, size_t dgst_len,
	unsigned char *sig, size_t *sig_len) KMC_MUST_CHECK
	KMC_NONNULL(1, 5, 7, 8);

/*
 * kmc_token_key_decrypt - RSA decryption on the token: PKCS#1 v1.5
 * (oaep_hash KMC_TOKEN_HASH_NONE) or OAEP. *ret a new secret.
 * Returns 0; KMC_E_AUTH (the padding does not check), and as
 * kmc_token_key_sign().
 */
KMC_API int kmc_token_key_decrypt(const char *key_uri, int oaep_hash,
	const unsigned char *in, size_t in_len, kmc_secret **ret)
	KMC_MUST_CHECK KMC_NONNULL(1, 3, 5);

/*
 * kmc_token_key_uri - the key URI (RFC 7512, no PIN) of bundle name's
 * key when it lives on a token, into buf. Returns 0; KMC_E_NOT_FOUND (no
 * such key), KMC_E_TYPE (the key is in the vault, not on a token),
 * KMC_E_TOO_LARGE (buf too small), KMC_E_CORRUPT.
 */
KMC_API int kmc_token_key_uri(kmc_vault *v, const char *name, char *buf,
	size_t size) KMC_MUST_CHECK KMC_NONNULL(1, 2, 3);

/*
 * kmc_token_note - what the last change through v did to keys on a token
 * once no version of a bundle named them any more (kmc_item_remove,
 * kmc_item_prune, kmc_promote, kmc_import with KMC_IMPORT_STAGE): one line
 * each, "removed from the token: URI", or "could not remove from the
 * token: URI (why); remove it with the token's tools", or "may be left on
 * the token: URI (why)" when a version that cannot be read may still
 * name it, or "a version of NAME that could not be read may have named
 * a key on a token, which is then left there" (the change itself was
 * made). "" when there was none. Valid until
 * the next call on v.
 */
KMC_API const char *kmc_token_note(const kmc_vault *v) KMC_NONNULL(1);

/*
 * kmc_token_destroys_finish - destroy the keys on a token that a change
 * left on the vault's list of keys waiting to be destroyed (a kmc killed
 * between the change's commit and the destruction, or a token that could
 * not be reached then): each one no token key record of the vault names
 * (current or old, every record read checked) is destroyed with the
 * key URI's pin-source and audit-logged ("token key destroyed"), then
 * taken off the list; one a record names is taken off without being
 * destroyed; none is destroyed while a record cannot be read. What was
 * done is in kmc_token_note(), one line a key. A list that does not
 * parse is dropped (said there). *ret_left (may be NULL): the keys still
 * listed (their destruction failed, or a record could not be read). v
 * must be writable. kmc repair calls it.
 * Returns 0 (also when a destruction failed: said in the note);
 * KMC_E_READONLY, KMC_E_VERSION (a list of a newer format), KMC_E_NOMEM,
 * a store error.
 */
KMC_API int kmc_token_destroys_finish(kmc_vault *v, size_t *ret_left)
	KMC_MUST_CHECK KMC_NONNULL(1);

/*
 * kmc_token_pin_set - the PIN that keys on a token are destroyed with
 * through v (kmc_item_remove, kmc_item_prune, kmc_promote, kmc_import
 * with KMC_IMPORT_STAGE, kmc_token_destroys_finish) when their key URI
 * has no pin-source: a key made with a PIN given apart from its URI
 * (kmc_token_params.pin) records none, and could otherwise never be
 * destroyed by kmc. A URI's pin-source still comes first. v keeps a copy
 * in guarded memory, wiped at the next call or kmc_vault_close(); pin
 * NULL drops it.
 * Returns 0; KMC_E_NOMEM.
 */
KMC_API int kmc_token_pin_set(kmc_vault *v, const kmc_secret *pin)
	KMC_MUST_CHECK KMC_NONNULL(1);

/*
 * kmc_csr_make - a PKCS#10 certificate signing request for the key of
 * bundle name (born in the vault or imported), signed by it (SHA-256;
 * SHA-384 for P-384; none for Ed25519), as PEM text in *ret (malloc'd,
 * NUL-terminated; *ret_len bytes without the NUL). subject is
 * "/CN=a/O=b" ("\" escapes the next character); san, NULL for none,
 * "DNS:a,IP:1.2.3.4,email:x@y,URI:u", asked for as the
 * subjectAltName extension. Nothing is written.
 * Returns 0; KMC_E_INVALID or KMC_E_TOO_LARGE (subject or san, the
 * detail naming the part), KMC_E_NAME, KMC_E_NOT_FOUND (no name/key),
 * KMC_E_CORRUPT, KMC_E_NOMEM.
 */
KMC_API int kmc_csr_make(kmc_vault *v, const char *name,
	const char *subject, const char *san, char **ret, size_t *ret_len)
	KMC_MUST_CHECK KMC_NONNULL(1, 2, 3, 5, 6);

/*
 * kmc_csr_make_ex - kmc_csr_make(), a key on a token logging in with
 * tp->pin (else tp->pin_cb; tp->uri is not used) rather than its key
 * URI's pin-source; tp NULL is kmc_csr_make().
 */
KMC_API int kmc_csr_make_ex(kmc_vault *v, const char *name,
	const char *subject, const char *san, const kmc_token_params *tp,
	char **ret, size_t *ret_len) KMC_MUST_CHECK KMC_NONNULL(1, 2, 3, 6, 7);

/*
 * kmc_cert_set - attach the certificate a CA signed to bundle p->name,
 * made by kmc_key_gen() and holding no certificate yet: p->cert_file
 * (leaf first, then intermediates), p->ca_file (NULL when the leaf is
 * self-signed: it is then its own CA), p->crl_file, p->keys_dir,
 * p->conf_file and p->trust_store as for kmc_import(); p->key_file,
 * p->password and p->flags must be unset. Checked as an import checks
 * (dates, chain, the vault's key matching the leaf, CRL), then published
 * as an import publishes: items, keys-folder copies (the key encrypted
 * under the bundle's password), config entries, in one transaction.
 * Returns as kmc_import(), and KMC_E_NOT_FOUND (no such key),
 * KMC_E_EXISTS (it has a certificate: kmc_cert_renew() replaces it),
 * KMC_E_INVALID (not self-signed and no CA given).
 */
KMC_API int kmc_cert_set(kmc_vault *v, const kmc_import_params *p)
	KMC_MUST_CHECK KMC_NONNULL(1, 2);

/*
 * kmc_bundle_has_cert - *ret 1 when bundle name has a certificate, 0
 * when it holds only a key (kmc_key_gen(), before kmc_cert_set()). Any
 * handle. Returns 0; KMC_E_NAME, KMC_E_NOT_FOUND (no bundle name).
 */
KMC_API int kmc_bundle_has_cert(kmc_vault *v, const char *name, int *ret)
	KMC_MUST_CHECK KMC_NONNULL(1, 2, 3);

/*
 * kmc_crl_update - replace the CRL of bundle name after the same checks
 * as an import (signed by the bundle's CA, current, the server chain not
 * revoked) and one more: not older than the CRL the bundle holds (by CRL
 * number when both have one, else by last update; KMC_E_VERIFY), as an
 * older CRL put back would take back what the newer revokes. And its
 * copy and config entry. A config file (or its
 * folder) that is gone is skipped; one that cannot be opened fails the
 * update, naming it, and nothing changes.
 * Returns as kmc_import(), and KMC_E_NOT_FOUND without such a bundle.
 */
KMC_API int kmc_crl_update(kmc_vault *v, const char *name,
	const char *crl_file) KMC_MUST_CHECK KMC_NONNULL(1, 2, 3);

typedef enum kmc_key_format {
	KMC_FORMAT_PEM = 1,
	KMC_FORMAT_DER = 2,
} kmc_key_format;

/*
 * kmc_key_export - the private key of bundle name as unencrypted PKCS#8,
 * PEM or DER, in guarded memory.
 * WARNING: this is the plaintext key. Write it only where the user asked.
 * Returns 0; KMC_E_NOT_FOUND, KMC_E_AUTH, KMC_E_CORRUPT, KMC_E_INVALID.
 */
KMC_API int kmc_key_export(kmc_vault *v, const char *name,
	kmc_key_format format, kmc_secret **ret) KMC_MUST_CHECK
	KMC_NONNULL(1, 2, 4);

typedef struct kmc_cert_info {
	/* RFC 2253, UTF-8; a longer one cut, ending "..." */
	char subject[512];
	char issuer[512];
	/* "DNS:a, IP:b", "" when none; no name holds ",". The names that
	   fit whole, then ", ..." when not all did: kmc_cert_info_sans()
	   gives every one. */
	char sans[2048];
	char serial[132];	/* hex, as openssl x509 -serial: "00", "-05";
				   one over 64 bytes cut, ending "..." */
	char sha256[96];	/* AA:BB:... of the DER */
	int64_t not_before;	/* seconds since the epoch */
	int64_t not_after;
	char *pem;
} kmc_cert_info;

/*
 * kmc_cert_info_get - describe the certificates of bundle or item
 * name_or_file in vault v, or, when v is NULL or holds no such item, of
 * the file of that name (PEM with one or more certificates, or DER).
 * *ret_info is an array of *ret_n entries, leaf first; release it with
 * kmc_cert_info_free(). The vault's certificate is looked up in one
 * snapshot of it, whatever another process changes meanwhile.
 * Returns 0; KMC_E_NOT_FOUND, KMC_E_INVALID (a file that holds no
 * certificate, or one whose notBefore or notAfter does not read as a
 * date, as a second 60: never described as 0), KMC_E_CORRUPT (a damaged
 * item, or the vault's certificate with such a date), KMC_E_PERM, -errno.
 */
KMC_API int kmc_cert_info_get(kmc_vault *v, const char *name_or_file,
	kmc_cert_info **ret_info, size_t *ret_n) KMC_MUST_CHECK
	KMC_NONNULL(2, 3, 4);
KMC_API void kmc_cert_info_free(kmc_cert_info *info, size_t n);

/*
 * kmc_cert_info_sans - every subject alternative name of the certificate
 * info describes, as info->sans shows them but never cut short, into a
 * new string *ret_sans (release it with free()). A certificate may name
 * hundreds, more than info->sans holds.
 * Returns 0; KMC_E_INVALID (info holds no certificate), KMC_E_NOMEM.
 */
KMC_API int kmc_cert_info_sans(const kmc_cert_info *info, char **ret_sans)
	KMC_MUST_CHECK KMC_NONNULL(1, 2);

/*
 * kmc_cert_info_version - as kmc_cert_info_get(), of version version of
 * bundle name's certificates (NAME/cert, whose version kmc list shows):
 * the current one or one kept by a replace, a promote or a renewal.
 * Returns 0; KMC_E_NOT_FOUND (no such version kept), KMC_E_NAME,
 * KMC_E_CORRUPT, KMC_E_AUTH, KMC_E_NOMEM.
 */
KMC_API int kmc_cert_info_version(kmc_vault *v, const char *name,
	uint32_t version, kmc_cert_info **ret_info, size_t *ret_n)
	KMC_MUST_CHECK KMC_NONNULL(1, 2, 4, 5);

/* ---------------------------------------------------------------- */
/* Certificates over time: staged versions, rollback, renewal         */

/*
 * kmc_promote - make the staged version of bundle name (an import with
 * KMC_IMPORT_STAGE) the live one, in one transaction: its items, the
 * keys-folder copies and the config file's entries, as an import makes
 * them; the version that was live is kept as the previous one. With
 * previous, make the previous version live again instead (and keep the
 * one it replaces as the previous: a second call goes back). The
 * material is checked again as an import checks it (dates, chain, key,
 * CRL; a staged CRL not older than the live one's when both are of one
 * CA key, as kmc_crl_update() checks). Servers see the generation grow.
 * Returns 0; KMC_E_NOT_FOUND (nothing staged, no previous version),
 * KMC_E_VERIFY (expired since it was staged, an older CRL, ...), and as
 * kmc_import().
 */
KMC_API int kmc_promote(kmc_vault *v, const char *name, int previous)
	KMC_MUST_CHECK KMC_NONNULL(1, 2);

/*
 * kmc_cert_renew - a new certificate chain for the key bundle name holds
 * already, from cert_file (leaf first), checked against that key, the CA
 * (ca_file, or the bundle's) and the CRL (crl_file, or the bundle's; one
 * of the bundle's CRL's issuer not older than it, as kmc_crl_update()
 * checks); no key password is needed. Published as kmc_promote()
 * publishes, the version before kept as the previous one.
 * Returns 0; KMC_E_NOT_FOUND, KMC_E_VERIFY (another key's certificate,
 * another CA's, expired, revoked, an older CRL), KMC_E_INVALID, and as
 * kmc_import().
 */
KMC_API int kmc_cert_renew(kmc_vault *v, const char *name,
	const char *cert_file, const char *ca_file, const char *crl_file)
	KMC_MUST_CHECK KMC_NONNULL(1, 2, 3);

/* kmc_bundle_versions - whether bundle name has a staged version and a
   previous one (each 0 or 1). Returns 0, KMC_E_NAME, KMC_E_STORE. */
KMC_API int kmc_bundle_versions(kmc_vault *v, const char *name,
	int *ret_staged, int *ret_previous) KMC_MUST_CHECK KMC_NONNULL(1, 2, 3, 4);

/* ---------------------------------------------------------------- */
/* Trust stores: named sets of CA certificates, each under an alias    */

/*
 * A trust store STORE is the item "trust:STORE" (KMC_ITEM_TRUST): up to
 * KMC_TRUST_CERTS_MAX certificates, each under an alias, and up to
 * KMC_TRUST_FILES_MAX PEM files kept in sync with it (kmc_trust_sync()).
 * A bundle that names the store (kmc_import_params.trust_store,
 * kmc_cert_set_trust()) accepts clients of its own CA and of every
 * certificate in the store (kmc_ssl_ctx_use()).
 *
 * Store names are 1 to KMC_TRUST_NAME_MAX bytes of [A-Za-z0-9._-] not
 * starting with '.'; aliases the same with '@' and '+' too. The store
 * named NULL is "default".
 */
#define KMC_TRUST_NAME_MAX 64
#define KMC_TRUST_CERTS_MAX 256
#define KMC_TRUST_FILES_MAX 8
#define KMC_TRUST_CERT_MAX (16u * 1024u)	/* DER bytes of one */
#define KMC_TRUST_DEFAULT "default"

#define KMC_TRUST_REPLACE 0x1u	/* kmc_trust_add: an alias that exists */
#define KMC_TRUST_PIN_LEAF 0x2u	/* kmc_trust_add: a self-signed leaf */

/*
 * kmc_trust_add - trust the one certificate in file cert_file (PEM or
 * DER) under alias in store (made when new), with the CRL in crl_file
 * (NULL: none; signed by that certificate and current) that the clients
 * it issued are checked against. It must be a CA certificate
 * (basicConstraints CA:TRUE, and keyCertSign if it has a key usage) or,
 * with KMC_TRUST_PIN_LEAF, a self-signed leaf; it must be within its
 * dates. The store's sync files are rewritten in the same transaction.
 * Returns 0; KMC_E_READONLY, KMC_E_NAME, KMC_E_EXISTS (the alias, or the
 * same certificate under another alias; the detail names it),
 * KMC_E_VERIFY (not a CA, expired, not yet valid), KMC_E_INVALID (not one
 * certificate), KMC_E_PERM, KMC_E_TOO_LARGE, KMC_E_LIMIT, KMC_E_TYPE (the
 * item exists with another type), KMC_E_STORE, KMC_E_PENDING, -errno.
 */
KMC_API int kmc_trust_add(kmc_vault *v, const char *store, const char *alias,
	const char *cert_file, const char *crl_file, unsigned flags)
	KMC_MUST_CHECK KMC_NONNULL(1, 3, 4);

/*
 * kmc_trust_crl - give alias in store the CRL in crl_file (signed by its
 * certificate, current, not older than the one it had: by CRL number when
 * both have one, else by last update), replacing the one it had: servers
 * then refuse the clients it revokes. Returns 0; KMC_E_NOT_FOUND,
 * KMC_E_VERIFY (not that certificate's CRL, out of date, not valid yet,
 * older), KMC_E_INVALID (no CRL), and as kmc_trust_add().
 */
KMC_API int kmc_trust_crl(kmc_vault *v, const char *store, const char *alias,
	const char *crl_file) KMC_MUST_CHECK KMC_NONNULL(1, 3, 4);

/*
 * kmc_trust_remove - stop trusting alias in store; its sync files are
 * rewritten in the same transaction. The store stays, perhaps empty.
 * Returns 0; KMC_E_NOT_FOUND (no such store or alias), and as above.
 */
KMC_API int kmc_trust_remove(kmc_vault *v, const char *store,
	const char *alias) KMC_MUST_CHECK KMC_NONNULL(1, 3);

/*
 * kmc_trust_sync - keep the PEM file path (made absolute) equal to the
 * store's certificates from now on: written now, and again by every add
 * and remove in the same transaction, owner, group, mode and extended
 * attributes kept (a new file is 0644). With stop, path is no longer kept
 * (the file itself stays as it is).
 * Returns 0; KMC_E_NOT_FOUND, KMC_E_EXISTS (already kept), KMC_E_LIMIT,
 * KMC_E_PERM (a link, or a file others may write), and as above.
 */
KMC_API int kmc_trust_sync(kmc_vault *v, const char *store, const char *path,
	int stop) KMC_MUST_CHECK KMC_NONNULL(1, 3);

typedef struct kmc_trust_info {
	size_t size;		/* the library's sizeof(kmc_trust_info) */
	const char *store;
	const char *alias;
	int pinned_leaf;	/* added with KMC_TRUST_PIN_LEAF */
	const kmc_cert_info *cert;
	int has_crl;		/* kmc_trust_crl() */
	int64_t crl_last_update;	/* seconds since the epoch */
	int64_t crl_next_update;	/* 0: the CRL names none */
} kmc_trust_info;

/*
 * kmc_trust_list - call cb for each certificate of store (NULL: of every
 * store), stores and aliases in name order. *files_cb, when not NULL, is
 * called once per sync file first. Any handle, read-only too. With store
 * NULL, a store another process removes while the list is read is left
 * out.
 * Returns 0, a callback's value; KMC_E_NOT_FOUND (store named but absent),
 * KMC_E_CORRUPT, KMC_E_AUTH, KMC_E_STORE, KMC_E_NOMEM.
 */
KMC_API int kmc_trust_list(kmc_vault *v, const char *store,
	int (*cb)(const kmc_trust_info *info, void *arg),
	int (*files_cb)(const char *store, const char *path, void *arg),
	void *arg) KMC_MUST_CHECK KMC_NONNULL(1, 3);

/*
 * kmc_trust_pem - the certificates of store as one PEM text, each after a
 * "# ALIAS" line, malloc'd into *ret (NUL-terminated, *ret_len bytes).
 * Returns 0; KMC_E_NOT_FOUND, and as kmc_trust_list().
 */
KMC_API int kmc_trust_pem(kmc_vault *v, const char *store, char **ret,
	size_t *ret_len) KMC_MUST_CHECK KMC_NONNULL(1, 3, 4);

/*
 * kmc_cert_set_trust - make bundle name accept clients of store's
 * certificates (store NULL: of its own CA only). Servers reload on the
 * generation change. Returns 0; KMC_E_NOT_FOUND (no such bundle or
 * store), KMC_E_READONLY, KMC_E_STORE.
 */
KMC_API int kmc_cert_set_trust(kmc_vault *v, const char *name,
	const char *store) KMC_MUST_CHECK KMC_NONNULL(1, 2);

/*
 * kmc_cert_trust_store - the trust store bundle name names into buf, ""
 * when none. Returns 0; KMC_E_NOT_FOUND (no such bundle), KMC_E_CORRUPT.
 */
KMC_API int kmc_cert_trust_store(kmc_vault *v, const char *name, char *buf,
	size_t size) KMC_MUST_CHECK KMC_NONNULL(1, 2, 3);

/* ---------------------------------------------------------------- */
/* A CA in the vault: its key born there, the certificates it issues   */

/*
 * CA NAME (named as a trust store is) is three items: "ca:NAME" (its
 * record, KMC_ITEM_CA: the number of its next CRL and, for each
 * certificate it issued, the serial, the bundle's name, the kind, the
 * expiry and, once revoked, when and why), "ca:NAME/key" (its private
 * key, PKCS#8 DER) and "ca:NAME/cert" (its certificate, PEM). Bundle
 * names beginning with "ca:" are kept for them.
 */
#define KMC_CA_ITEM_PREFIX "ca:"
#define KMC_CA_DAYS_DEFAULT 3650
#define KMC_ISSUE_DAYS_DEFAULT 365
#define KMC_CRL_DAYS_DEFAULT 30
#define KMC_SERIAL_TEXT_MAX 41	/* 20 bytes as hex, and a NUL */

typedef struct kmc_ca_params {
	size_t size;		/* sizeof(kmc_ca_params) */
	const char *subject;	/* "/CN=Example Root CA/O=Example" */
	const char *key_type;	/* NULL: "p256" (see kmc key gen) */
	long days;		/* 1 or more; the end by 2049-12-31 */
} kmc_ca_params;

#define KMC_CA_PARAMS_INIT { .size = sizeof(kmc_ca_params), \
	.days = KMC_CA_DAYS_DEFAULT }

/*
 * kmc_ca_init - a new CA name: a key of p->key_type generated in the
 * vault (never written anywhere in the clear) and a self-signed
 * certificate for it with subject p->subject, valid from now for
 * p->days days, a random 159-bit serial, basicConstraints CA:TRUE and
 * keyUsage keyCertSign and cRLSign (both critical), and a subject key
 * identifier; stored as one transaction. Needs KMC_OPEN_WRITE.
 * Returns 0; KMC_E_READONLY, KMC_E_NAME, KMC_E_EXISTS (a CA of that
 * name), KMC_E_INVALID (subject, key type or days: the detail names the
 * option and what is wrong), KMC_E_NOMEM, KMC_E_STORE, -errno.
 */
KMC_API int kmc_ca_init(kmc_vault *v, const char *name,
	const kmc_ca_params *p) KMC_MUST_CHECK KMC_NONNULL(1, 2, 3);

#define KMC_ISSUE_SERVER 0x1u	/* extendedKeyUsage serverAuth */
#define KMC_ISSUE_CLIENT 0x2u	/* extendedKeyUsage clientAuth */
#define KMC_ISSUE_SELF_SIGNED 0x4u	/* signed by its own key, no CA */

typedef struct kmc_issue_params {
	size_t size;		/* sizeof(kmc_issue_params) */
	const char *name;	/* the bundle to make */
	const char *ca;		/* the vault's CA; NULL when self-signed */
	unsigned flags;		/* one of SERVER, CLIENT; SELF_SIGNED */
	const char *subject;	/* "/CN=db.example.com" */
	const char *san;	/* "DNS:a,IP:1.2.3.4"; NULL: for a server,
				   its CN when that is a host name or an
				   address, else none */
	const char *key_type;	/* NULL: "p256" */
	long days;		/* 1 or more, within the CA's own dates */
	const char *keys_dir;	/* as kmc_import_params */
	const char *conf_file;
	const char *trust_store;
} kmc_issue_params;

#define KMC_ISSUE_PARAMS_INIT { .size = sizeof(kmc_issue_params), \
	.days = KMC_ISSUE_DAYS_DEFAULT }

/*
 * kmc_cert_issue - a new bundle p->name whose key is generated in the
 * vault and whose certificate CA p->ca signs (or, with
 * KMC_ISSUE_SELF_SIGNED, the key itself): a random serial the CA never
 * gave before, basicConstraints CA:FALSE, keyUsage and extendedKeyUsage
 * for a server or a client, subject and authority key identifiers, and
 * the subject alternative names. The bundle is stored and published
 * exactly as kmc_import() stores one (its CA the CA's certificate, or
 * the certificate itself when self-signed; its keys folder, config file
 * and trust store), and the CA's record notes the serial, in the same
 * transaction. *ret_serial (KMC_SERIAL_TEXT_MAX bytes; may be NULL) gets
 * the serial as upper-case hex.
 * Returns 0; KMC_E_READONLY, KMC_E_NAME (also KMC_CA_CERT_FILE_NAME,
 * kept for kmc_ca_revoke_cert()), KMC_E_EXISTS (a bundle of that
 * name), KMC_E_NOT_FOUND (no such CA, or a CA without its key),
 * KMC_E_INVALID (flags, subject, SAN, key type, days), KMC_E_VERIFY (a
 * CA certificate that is no CA's, out of its dates, or not its key's),
 * KMC_E_LIMIT (the CA issued KMC_CA_CERTS_MAX), and as kmc_import().
 */
#define KMC_CA_CERTS_MAX 4096
KMC_API int kmc_cert_issue(kmc_vault *v, const kmc_issue_params *p,
	char *ret_serial) KMC_MUST_CHECK KMC_NONNULL(1, 2);

/*
 * kmc_ca_revoke - mark revoked, now, for reason (an RFC 5280 name such
 * as "keyCompromise" or "superseded"; NULL: "unspecified"), the
 * certificate CA ca issued with serial what (hex, colons allowed), or
 * every certificate it issued to the bundle named what that is not
 * revoked yet. The next kmc_ca_crl() lists them. *ret_n (may be NULL)
 * counts them. Needs KMC_OPEN_WRITE.
 * Returns 0; KMC_E_READONLY, KMC_E_NOT_FOUND (no such CA, or no such
 * serial or bundle among what it issued), KMC_E_EXISTS (already
 * revoked), KMC_E_INVALID (an unknown reason; a name that is both a
 * bundle's and a serial's), KMC_E_STORE.
 */
KMC_API int kmc_ca_revoke(kmc_vault *v, const char *ca, const char *what,
	const char *reason, size_t *ret_n) KMC_MUST_CHECK KMC_NONNULL(1, 2, 3);
/*
 * kmc_ca_revoke_ex - kmc_ca_revoke(), and *ret_serial (KMC_SERIAL_TEXT_MAX
 * bytes; may be NULL) gets the serial of the certificate revoked when it
 * is one (*ret_n 1), in the one form kmc_ca_list() and kmc_cert_info()
 * give (upper-case hex, whole bytes, no leading zero byte) whatever form
 * what had; else "". Returns as kmc_ca_revoke().
 */
KMC_API int kmc_ca_revoke_ex(kmc_vault *v, const char *ca, const char *what,
	const char *reason, size_t *ret_n, char *ret_serial) KMC_MUST_CHECK
	KMC_NONNULL(1, 2, 3);

/*
 * kmc_ca_revoke_cert - the same, for the one certificate in the file
 * path (PEM or DER), which CA ca must have signed: its issuer is the
 * CA's subject and the CA's key verifies its signature. One the CA's
 * record does not hold (issued after the backup that kmc_restore() put
 * back) is added to it, revoked, under the name KMC_CA_CERT_FILE_NAME,
 * so that the next kmc_ca_crl() lists it. Needs KMC_OPEN_WRITE.
 * Returns 0; KMC_E_READONLY, KMC_E_NOT_FOUND (no such CA or file),
 * KMC_E_VERIFY (not signed by the CA), KMC_E_EXISTS (already revoked),
 * KMC_E_INVALID (an unknown reason; a file that holds no certificate or
 * more than one, the CA's own, or a serial out of range), KMC_E_LIMIT
 * (the record holds KMC_CA_CERTS_MAX), KMC_E_STORE.
 */
#define KMC_CA_CERT_FILE_NAME "@cert-file"
KMC_API int kmc_ca_revoke_cert(kmc_vault *v, const char *ca,
	const char *path, const char *reason) KMC_MUST_CHECK KMC_NONNULL(1, 2, 3);
/* kmc_ca_revoke_cert_ex - kmc_ca_revoke_cert(), and *ret_serial
   (KMC_SERIAL_TEXT_MAX bytes; may be NULL) gets the serial of the
   certificate revoked, in the form kmc_ca_list() gives. */
KMC_API int kmc_ca_revoke_cert_ex(kmc_vault *v, const char *ca,
	const char *path, const char *reason, char *ret_serial) KMC_MUST_CHECK
	KMC_NONNULL(1, 2, 3);

/*
 * kmc_ca_crl - a CRL of CA ca, signed by its key: every certificate it
 * revoked, last update now, next update in days days (0: the default,
 * KMC_CRL_DAYS_DEFAULT, ended at the CA's expiry if that comes first;
 * days that end after the CA's certificate expires are refused), the CA's
 * authority key identifier, and a CRL number above every one it gave:
 * the larger of one above the last and the clock's microseconds since
 * 1970, so that numbers grow across a restore of an older backup too
 * (a number above the clock means the clock reads earlier than the
 * CA's last CRL); written to the new file out (0644, never over a file
 * that exists, even one made while the CRL is written) in the same
 * transaction as the record's count, through the vault's journal.
 * *ret_number (may be NULL) is the CRL's number.
 * Returns 0; KMC_E_READONLY, KMC_E_NOT_FOUND, KMC_E_EXISTS (out exists:
 * nothing changed; or it appeared while the CRL was written: left as it
 * is, the CRL's number used and the CRL not kept, the detail says so),
 * KMC_E_INVALID (days: below 0, or past the CA's expiry; an empty out),
 * KMC_E_VERIFY (as kmc_cert_issue()),
 * KMC_E_PENDING (committed, the file not yet in place: kmc repair),
 * KMC_E_STORE, -errno.
 */
KMC_API int kmc_ca_crl(kmc_vault *v, const char *ca, long days,
	const char *out, uint64_t *ret_number) KMC_MUST_CHECK
	KMC_NONNULL(1, 2, 4);
/* kmc_ca_crl_ex - kmc_ca_crl(), and *ret_next (may be NULL) gets the
 * CRL's next update, in seconds since 1970 (UTC). */
KMC_API int kmc_ca_crl_ex(kmc_vault *v, const char *ca, long days,
	const char *out, uint64_t *ret_number, int64_t *ret_next)
	KMC_MUST_CHECK KMC_NONNULL(1, 2, 4);

typedef struct kmc_ca_info {
	const char *name;
	const kmc_cert_info *cert;	/* the CA's certificate */
	int has_key;
	uint64_t next_crl;	/* the least number its next CRL carries */
	size_t issued, revoked;
} kmc_ca_info;

typedef struct kmc_ca_issued {
	const char *ca;
	const char *name;	/* the bundle it was issued to */
	const char *serial;	/* upper-case hex */
	int client;		/* 0: a server certificate */
	int64_t not_after;
	int revoked;
	int64_t revoked_at;	/* with revoked */
	const char *reason;	/* with revoked */
} kmc_ca_issued;

/*
 * kmc_ca_list - call ca_cb for CA ca (NULL: each CA, by name), and then
 * issued_cb (may be NULL) for each certificate it issued, by serial.
 * Stops at a callback's non-zero return, which it returns. Each CA (its
 * record, certificate and whether its key is there) is read in one
 * snapshot of the vault; with ca NULL, a CA removed while the list is
 * read is left out.
 * Returns 0; KMC_E_NOT_FOUND (no such CA), KMC_E_CORRUPT, KMC_E_VERSION,
 * KMC_E_NOMEM, KMC_E_STORE.
 */
KMC_API int kmc_ca_list(kmc_vault *v, const char *ca,
	int (*ca_cb)(const kmc_ca_info *info, void *arg),
	int (*issued_cb)(const kmc_ca_issued *info, void *arg), void *arg)
	KMC_MUST_CHECK KMC_NONNULL(1, 3);

/* ---------------------------------------------------------------- */
/* Certificates over time: expiry                                    */

/*
 * What one entry of kmc_cert_expiry_list() is. More kinds may come: a
 * caller treats a kind it does not know as a certificate, which it is
 * unless it is KMC_EXPIRY_CRL.
 */
typedef enum kmc_expiry_kind {
	/* NAME/cert, first: the server's (or a client's) own certificate */
	KMC_EXPIRY_CERT = 1,
	KMC_EXPIRY_INTERMEDIATE = 2,	/* NAME/cert, after the first */
	KMC_EXPIRY_CA = 3,		/* NAME/ca */
	KMC_EXPIRY_CRL = 4,		/* NAME/crl, by its next update */
	/* trust:STORE/ALIAS, a certificate of a trust store; its bundle
	   is "trust:STORE" (kmc_trust_add()) */
	KMC_EXPIRY_TRUSTED = 5,
} kmc_expiry_kind;

typedef enum kmc_expiry_state {
	KMC_EXPIRY_OK = 0,	/* not_after lies beyond the horizon */
	KMC_EXPIRY_DUE = 1,	/* not_after falls within the horizon */
	KMC_EXPIRY_EXPIRED = 2,	/* not_after has passed: a certificate
				   has expired, a CRL is out of date */
	KMC_EXPIRY_NOT_YET_VALID = 3,	/* not_before (a CRL: its last
				   update) is still to come, as after the
				   clock was set back: no client accepts it
				   yet. Reported as EXPIRED is, whatever the
				   horizon */
} kmc_expiry_state;

/*
 * One certificate or CRL, as kmc_cert_expiry_list() hands it to its
 * callback. size is the library's sizeof(kmc_expiry_info): fields are
 * only ever added at the end, so a caller built against a newer header
 * reads a field only when size covers it. The strings are valid during
 * the callback only.
 */
typedef struct kmc_expiry_info {
	size_t size;
	const char *bundle;	/* NAME */
	const char *item;	/* NAME/cert, NAME/ca or NAME/crl */
	kmc_expiry_kind kind;
	unsigned index;		/* its place in the item, 0 first */
	const char *subject;	/* RFC 2253; of a CRL, its issuer */
	int64_t not_before;	/* seconds since the epoch; a CRL: its last
				   update */
	int64_t not_after;	/* a CRL: its next update; 0 for a CRL that
				   names none (reported expired: an import
				   refuses it as out of date) */
	int64_t seconds_left;	/* not_after - now: <= 0 once passed */
	kmc_expiry_state state;
} kmc_expiry_info;

#define KMC_EXPIRY_DAYS_MAX 36500	/* a horizon of a hundred years */

typedef struct kmc_expiry_params {
	size_t size;		/* sizeof(kmc_expiry_params) */
	int64_t now;		/* seconds since the epoch; 0: now */
	uint32_t within_days;	/* the horizon, 0 to KMC_EXPIRY_DAYS_MAX */
} kmc_expiry_params;

/* Designated, as KMC_OPTIONS_INIT; the horizon 30 days, as kmc cert check. */
#define KMC_EXPIRY_PARAMS_INIT \
	{ .size = sizeof(kmc_expiry_params), .within_days = 30 }

/*
 * kmc_cert_expiry_list - call cb for each certificate and CRL of every
 * imported bundle, bundles in name order: the certificates of NAME/cert
 * (the server's, then its intermediates), those of NAME/ca, then the CRL
 * of NAME/crl when there is one; then the certificates of every trust
 * store (KMC_EXPIRY_TRUSTED), stores and aliases in name order. Each is
 * due when its not_after (a CRL's next update) falls within
 * p->within_days times 24 hours of p->now, expired once it is not after
 * p->now. p may be NULL: now, 30 days. Only certificate, CRL and trust
 * store items are opened; private keys and passwords are never read. Any handle, read-only too. A non-zero return from cb
 * stops the walk and is returned.
 * Returns 0, cb's value; KMC_E_INVALID (p->size 0 or too small for now,
 * a horizon beyond KMC_EXPIRY_DAYS_MAX, now before 1970 or after 9999),
 * KMC_E_CORRUPT (an item that holds no valid certificate or CRL, or a
 * bundle without its NAME/cert or NAME/ca: the detail names the item),
 * KMC_E_AUTH, KMC_E_TYPE, KMC_E_STORE, KMC_E_NOMEM.
 */
KMC_API int kmc_cert_expiry_list(kmc_vault *v, const kmc_expiry_params *p,
	int (*cb)(const kmc_expiry_info *info, void *arg), void *arg)
	KMC_MUST_CHECK KMC_NONNULL(1, 3);

/* kmc_expiry_kind_name - "certificate", "intermediate", "ca", "crl" or
 * "unknown". */
KMC_API const char *kmc_expiry_kind_name(kmc_expiry_kind kind);

/* kmc_expiry_state_name - "ok", "due", "expired", "not_yet_valid" or
   "unknown". */
KMC_API const char *kmc_expiry_state_name(kmc_expiry_state state);

/* ---------------------------------------------------------------- */
/* kmc: URIs and key-reference files (the OpenSSL provider's inputs) */

/*
 * A URI names a vault and the bundle whose key to load:
 *
 *	kmc://<vault-dir>?item=<name>	e.g. kmc:///var/lib/kmcvault?item=server
 *	kmc://?item=<name>		the default vault (kmc_default_vault_dir)
 *
 * <vault-dir> is absolute (so "kmc://" is followed by a third '/'), and
 * both parts are percent-decoded. The "//" keeps OpenSSL's file: loader,
 * which is tried first for "kmc:/path", from shadowing the scheme.
 *
 * A key-reference file is PEM with the label KMC KEY REFERENCE whose body
 * is the URI, after comment lines for people (PEM headers inside the
 * armour would make OpenSSL take it for a legacy encrypted key):
 *
 *	# kmcvault key reference: the key stays in the vault
 *	# vault: /var/lib/kmcvault
 *	# item: server
 *	-----BEGIN KMC KEY REFERENCE-----
 *	a21jOi8vL3Zhci9saWIva21jdmF1bHQ/aXRlbT1zZXJ2ZXI=
 *	-----END KMC KEY REFERENCE-----
 */
#define KMC_URI_MAX 4096
#define KMC_REF_LABEL "KMC KEY REFERENCE"

/*
 * kmc_uri_format - the URI of bundle name in the vault dir (made
 * absolute); *ret is malloc'd. kmc_ref_format - the key-reference file's
 * text for the same. Return 0, KMC_E_NAME, KMC_E_TOO_LARGE, KMC_E_NOMEM,
 * -errno (a relative dir when the current folder cannot be read).
 */
KMC_API int kmc_uri_format(const char *dir, const char *name, char **ret)
	KMC_MUST_CHECK KMC_NONNULL(1, 2, 3);
KMC_API int kmc_ref_format(const char *dir, const char *name, char **ret)
	KMC_MUST_CHECK KMC_NONNULL(1, 2, 3);

/*
 * kmc_uri_parse - split a kmc: URI of len bytes. *ret_dir is NULL for the
 * default vault; both are malloc'd.
 * Returns 0; KMC_E_STRING (not of the grammar above), KMC_E_NAME,
 * KMC_E_TOO_LARGE, KMC_E_NOMEM.
 */
KMC_API int kmc_uri_parse(const char *uri, size_t len, char **ret_dir,
	char **ret_name) KMC_MUST_CHECK KMC_NONNULL(1, 3, 4);

/*
 * kmc_file_write_new - create the file path (never replacing one that
 * exists, nor following a link there), write the len bytes of data, give
 * it mode (whatever the umask), fsync it and its folder; on failure
 * nothing is left behind. The file is written whole before it takes the
 * name (a file without a name where the file system allows, else
 * .NAME.tmp-*), so a crash leaves the whole file or none at path. For
 * files a user names, such as a private key written out in the clear;
 * never in a vault's own folder (one holding kmc.ks, StandbyKsf.ks,
 * items.mdb, kmc.bind or a restore's mark), whose files the vault may
 * read as its own. The detail names path.
 * Returns 0; KMC_E_EXISTS, KMC_E_INVALID (also a vault's folder), -errno.
 */
KMC_API int kmc_file_write_new(const char *path, const void *data,
	size_t len, mode_t mode) KMC_MUST_CHECK KMC_NONNULL(1);

/* ---------------------------------------------------------------- */
/* Exports: keys and trust stores in the forms servers and Java read */

typedef enum kmc_export_format {
	KMC_EXPORT_PKCS8_DER = 1,	/* PKCS#8 DER (JDBC's client.pk8) */
	KMC_EXPORT_PKCS8_PEM = 2,	/* PKCS#8 PEM */
	KMC_EXPORT_PKCS12 = 3,		/* a keystore, or a truststore */
	KMC_EXPORT_PEM = 4,		/* kmc_trust_export(): certificates */
} kmc_export_format;

/* A PKCS#8 export in the clear: asked for, never by default. */
#define KMC_EXPORT_NO_PASSWORD 0x1u

typedef struct kmc_export_params {
	size_t size;		/* sizeof(kmc_export_params) */
	kmc_export_format format;
	/* The password (1 to KMC_KEY_PASSWORD_MAX bytes, no NUL), or the
	   password item that holds it; an item that does not exist yet is
	   made, a new random 32-character password, before the file is
	   written. Neither: a PKCS#12 keystore's password is kept in
	   NAME/keystore-password, a truststore's in
	   trust:STORE/truststore-password; PKCS#8 needs
	   KMC_EXPORT_NO_PASSWORD. */
	const kmc_secret *password;
	const char *password_item;
	unsigned flags;		/* KMC_EXPORT_NO_PASSWORD */
	const char *alias;	/* the keystore entry's; NULL: the name */
	const char *out;	/* a new file; NULL: into *ret only */
	mode_t mode;		/* 0: 0600 (a truststore: 0644); a key's
				   at most 0640, a truststore's 0644 */
} kmc_export_params;

#define KMC_EXPORT_PARAMS_INIT { .size = sizeof(kmc_export_params) }

/*
 * kmc_export - the private key of bundle (or generated key) name as
 * PKCS#8 DER or PEM, encrypted (PBES2: AES-256-CBC, PBKDF2-HMAC-SHA256)
 * or, with KMC_EXPORT_NO_PASSWORD, not; or as a PKCS#12 keystore: the
 * key, NAME/cert's chain and NAME/ca's certificates, an entry Java lists
 * as PrivateKeyEntry under alias (AES-256-CBC, PBKDF2 and a SHA-256 MAC,
 * OpenSSL 3's defaults). Written to p->out (created with p->mode, never
 * over a file that exists) and/or handed back in *ret (may be NULL with
 * p->out). Everything is checked before the vault or a file is written;
 * a password item it makes (*ret_made 1, may be NULL) stays when the
 * file cannot be written, and the next export takes it again. Making one
 * needs a handle opened with KMC_OPEN_WRITE. A keystore's key, chain and
 * CA are those of one version of the bundle, read in one snapshot of the
 * vault whatever another process changes meanwhile (a rotation).
 * WARNING: with KMC_EXPORT_NO_PASSWORD this is the plaintext key.
 * Returns 0; KMC_E_NAME, KMC_E_NOT_FOUND (no such key; for PKCS#12, no
 * certificate yet), KMC_E_TYPE (an item of another type), KMC_E_EXISTS (p->out),
 * KMC_E_INVALID (parameters), KMC_E_EMPTY, KMC_E_TOO_LARGE (a password
 * over 100 characters), KMC_E_VERIFY (certificate and key differ),
 * KMC_E_READONLY, KMC_E_AUTH, KMC_E_CORRUPT, KMC_E_STORE, KMC_E_NOMEM,
 * -errno.
 */
KMC_API int kmc_export(kmc_vault *v, const char *name,
	const kmc_export_params *p, kmc_secret **ret, int *ret_made)
	KMC_MUST_CHECK KMC_NONNULL(1, 2, 3);

/*
 * kmc_trust_export - the certificates of store (NULL: "default") as PEM
 * (each after a "# ALIAS" line) or as a PKCS#12 truststore: one bag an
 * alias, each marked trusted for any use (Oracle's trusted key usage
 * attribute), which Java lists as trustedCertEntry. Password, file and
 * *ret as kmc_export(); PEM takes no password.
 * Returns 0; KMC_E_NOT_FOUND (no such store; for PKCS#12, one that
 * holds no certificate), and as kmc_export().
 */
KMC_API int kmc_trust_export(kmc_vault *v, const char *store,
	const kmc_export_params *p, kmc_secret **ret, int *ret_made)
	KMC_MUST_CHECK KMC_NONNULL(1, 3);

/* ---------------------------------------------------------------- */
/* The audit log (docs/format.md: its records and chain)             */

/* One record as kmc_audit_read() hands it to its callback; valid only
 * during the call. item_names, item_versions, item_reads and
 * item_removed have n_items entries. */
typedef struct kmc_audit_record {
	uint64_t seq;
	const char *time;		/* RFC 3339, UTC */
	unsigned uid;
	const char *user;
	long pid;
	const char *op;			/* "password set", "kmc_item_get", ... */
	size_t n_items;
	const char *const *item_names;
	const uint32_t *item_versions;
	const char *result;		/* "ok", "pending" or the error */
	const char *line;		/* the record as written: one JSON object */
	/* Added after line, so that a callback built before them reads
	   the fields above as it did. */
	const uint64_t *item_reads;	/* reads a close counted ("reads"),
					   else 0 */
	const unsigned char *item_removed; /* 1: the change removed it */
	size_t more_items;		/* items of the change beyond those
					   named ("more_items") */
} kmc_audit_record;

/* What a walk of the whole log found. */
typedef struct kmc_audit_state {
	uint64_t records;		/* records in every file */
	uint64_t first_seq;		/* the oldest kept (0: no log) */
	uint64_t head_seq;		/* the newest (0: no log) */
	char head[65];			/* its hash, hex ("" without a log) */
	size_t segments;		/* rotated files beside audit.log */
	uint64_t torn_bytes;		/* a torn last line of audit.log, or 0 */
} kmc_audit_state;

/*
 * kmc_audit_read - call cb for each record of the audit log of the vault
 * in dir, oldest first, whose time is at or after since (RFC 3339 or a
 * prefix of it such as "2026-12-01"; NULL: all) and that names item, or
 * is the outcome of a change that does (NULL: all). Needs no secret and checks no MAC (kmc_audit_verify()
 * does); a line that is not a record stops the walk. cb's non-zero
 * return stops it too and is returned; cb may be NULL, to have the walk
 * only count. *ret_state (may be NULL) gets the counts and head of what
 * was read, unlike other output parameters whatever the return: on a
 * failure what the walk counted before it stopped (all zero when it did
 * not start).
 * Returns 0; KMC_E_AUDIT (a file unsafe, or a line that is not a
 * record: the detail names the file, line and seq), KMC_E_INVALID
 * (since not such a time, cut inside a field, or with a field out of
 * range: "2026-1", "2026-13-01"), KMC_E_NAME (item not an item name),
 * KMC_E_NOT_VAULT (dir does not exist), KMC_E_PERM (an unsafe vault
 * folder), KMC_E_NOMEM, -errno.
 */
KMC_API int kmc_audit_read(const char *dir, const char *since,
	const char *item, int (*cb)(const kmc_audit_record *rec, void *arg),
	void *arg, kmc_audit_state *ret_state) KMC_MUST_CHECK;

/*
 * kmc_audit_verify - walk every segment and audit.log of v's vault and
 * check each record's MAC, that the sequence numbers follow on, that
 * each record names the hash of the one before, that the oldest kept
 * segment starts where a recorded removal left off, and that the head
 * is the one the vault bound. *ret_state gets what was walked, on a
 * failure too (the records up to the first fault), as kmc_audit_read().
 * Returns 0; KMC_E_AUDIT with a detail naming the file, line and seq of
 * the first fault (a torn last record included), KMC_E_NOMEM, -errno.
 */
KMC_API int kmc_audit_verify(kmc_vault *v, kmc_audit_state *ret_state)
	KMC_MUST_CHECK KMC_NONNULL(1, 2);

#ifdef __cplusplus
}
#endif

#endif

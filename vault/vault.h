/*
 * vault.h - the vault handle and what the files of vault/ share.
 *
 * The parts, one job a file:
 *
 *   the handle      handle.c    open, unlock (protectors tried in turn),
 *                               writer lock, close; master keys
 *                   kspair.c    kmc.ks and StandbyKsf.ks: read, rank,
 *                               which one the store names, write both
 *                   bind.c      kmc.bind: the store, keystores and audit
 *                               head bound under the root key, checked
 *                               at open, written around every commit;
 *                               bindfile.c its bytes; bindplace.c the
 *                               state file beside the host key, which
 *                               only moves forward
 *                   paths.c     default locations, item names, the
 *                               checked vault-folder open, small helpers
 *                               (a path's parts, a bundle's meta lines)
 *   administration  init.c      kmc_vault_init: built aside, renamed in
 *                   admin.c     adding and removing protectors
 *                   status.c    kmc_vault_status, reading only
 *   contents        items.c     items and their records: the only code
 *                               that reads or writes a record
 *                   strings.c   ciphertext strings for config files
 *                   mk.c        master-key rotation: rotate, list,
 *                               rewrap, retire
 *   formats         keystore.c  the keystore format and its MAC
 *                   protector.c keyslots, one kind a protector
 *                   store.c     the LMDB item store; lmdbmeta.c checks
 *                               its meta pages before LMDB maps it;
 *                               history.c its superseded records;
 *                               storetxn.c its write transactions and
 *                               commit hook; storetree.c its digest
 *                               (hash tree), treewalk.c the digest's
 *                               whole-store build and verify
 *                   verify.c    kmc_vault_verify: digest and records
 *                   journal.c   the intent log of multi-file changes
 *                   audit.c     the audit log: a handle's records of
 *                               changes and reads; auditcommit.c from
 *                               the store's commit hook; auditwrite.c
 *                               appends, rotates; auditread.c reads,
 *                               verifies (kmc_audit_read/_verify);
 *                               auditbound.c: a change goes on only
 *                               from the record kmc.bind vouches for
 *   transactions    import.c    certImport staging and commit, CRL update
 *                   importchk.c the checks before any write
 *                   promote.c   staged and previous versions: import
 *                               --stage, promote, cert renew
 *                   x509.c      certificates, CRLs, chain verification,
 *                               certificate descriptions
 *                   pkey.c      private keys: forms, policy, PKCS#8
 *                   keygen.c    keys born in the vault: types, generation
 *                   subject.c   subjects and SANs from their text forms
 *                   born.c      key gen, csr, cert set: bundles whose key
 *                               was born in the vault
 *                   conf.c      "key = value" config files;
 *                               conffile.c reads one and replaces it
 *                   backup.c    kmc_vault_backup
 *                   restore.c   kmc_vault_restore
 *                   recover.c   finishing or undoing a cut-off restore
 *                   backupset.c a set's files and their check
 *                   manifest.c  backup.manifest
 *   servers         tls.c       keys into OpenSSL, export, cert info
 *                   ciphers.c   kmc_ssl_ctx_use_ex's options: cipher
 *                               strings checked part by part
 *                   uri.c       kmc: URIs and key-reference files
 *                   export.c    keys as PKCS#8 and PKCS#12 keystores,
 *                               trust stores as PKCS#12 truststores
 *   over time       expiry.c    kmc_cert_expiry_list: the dates of every
 *                               bundle's certificates and CRL, and of
 *                               every trusted certificate
 *                   trust.c     trust stores: add, remove, sync files,
 *                               list, and the store a bundle names;
 *                               trustrec.c their record
 *   a CA            ca.c        a CA born in the vault: init, revoke,
 *                               CRL, list; carec.c its record;
 *                               caissue.c cert issue; certmake.c the
 *                               certificates and CRLs it signs
 *
 * Who calls whom (an arrow is "calls a function of"); there is no loop,
 * and nothing below the handle calls back into it:
 *
 *   init     -> handle, protector, paths, store, keystore, bind
 *   admin    -> kspair, protector, paths
 *   status   -> kspair, recover, protector, paths, store, keystore,
 *               bind (its state, without a key)
 *   handle   -> kspair, recover, protector, paths, journal, store,
 *               keystore, bind
 *   kspair   -> paths, store, keystore, bind
 *   bind     -> bindfile, bindplace, store, keystore, paths, audit
 *   protector-> paths
 *   items    -> handle (master keys), paths, store
 *   strings  -> handle (master keys)
 *   mk       -> handle (master keys), kspair, items, strings, conf,
 *               import (a bundle's config file)
 *   import   -> importchk, items, journal, conf, x509, paths, store,
 *               trust (the store a bundle names)
 *   importchk-> items, strings, pkey, x509, conf
 *   promote  -> import, items, x509, paths, store
 *   tls      -> ciphers, items, pkey, x509, paths, trust
 *   ciphers  -> x509 (ossl_reason)
 *   export   -> tls (the key in the clear), items, pkey, x509, paths,
 *               trust
 *   expiry   -> items, x509, trust, ca (its CAs)
 *   trust    -> trustrec, items, journal, paths, x509, store
 *   ca       -> carec, certmake, keygen, subject, items, journal,
 *               paths, x509, store, trust (names)
 *   caissue  -> ca, carec, certmake, keygen, subject, import,
 *               importchk, trust, x509
 *   pkey     -> x509
 *   keygen   -> pkey
 *   subject  -> x509 (OpenSSL's error text)
 *   born     -> import, keygen, subject, items, x509, trust
 *   uri      -> paths
 *   backup   -> backupset, manifest, keystore, store
 *   restore  -> handle, items, kspair, recover, backupset, manifest,
 *               paths
 *   recover  -> backupset -> manifest -> paths
 *   journal  -> store -> lmdbmeta
 *   audit    -> auditwrite, auditread, store (generation), items
 *               (a record's version, auditcommit.c), bind (verify and
 *               auditbound.c: the head kmc.bind vouches for; bind's
 *               accept-rollback asks auditbound.c what it accepts);
 *               called by handle,
 *               kspair, items, strings and each public call (AUDIT_OP)
 *   history  -> store
 *   verify   -> items, store
 *   storetxn, storetree, treewalk -> store
 *
 * Import and restore reach records only through items.c's items_txn_*
 * and items_verify_all().
 */
#ifndef KMC_VAULT_H
#define KMC_VAULT_H

#include <kmc.h>
#include <kmc/admin.h>
#include "keystore.h"
#include "store.h"
#include <limits.h>
#include <stdio.h>
#include <string.h>

/* Keys derived from one master key: items and strings never share one. */
typedef struct vault_mk {
	uint32_t id;
	kmc_secret *keys;	/* item key || string key */
} vault_mk;

struct kmc_vault {
	char *dir;
	int dirfd;
	unsigned flags;
	keystore *ks;
	kmc_secret *rk;		/* kept only by writable handles */
	kmc_secret *mkwrap;	/* unwraps master keys born after the open */
	int ro_at_end;		/* during a reader's open: the keys it keeps
				   are made read-only together at its end */
	size_t n_mks;
	vault_mk mks[KMC_MAX_MASTER_KEYS];
	store st;
	unsigned opened_by;
	unsigned repaired;
	char notes[1024];	/* protectors that failed before one worked */
	struct vault_bind *bind;	/* kmc.bind (vault/bind.c) */
	struct audit_state *audit;	/* vault/audit.c */
	char *token_note;	/* the last change's token objects (tokenrefs.c) */
	size_t token_note_cap;	/* its room, taken before the change commits */
	struct token_refs *token_armed;	/* listed by the next commit
					   (tokenpending.h) */
	char *token_intent;	/* a key the token makes for this change,
				   listed until its commit (tokenpending.h) */
	kmc_secret *token_pin;	/* kmc_token_pin_set(): destroys log in
				   with it when the key URI gives no PIN */
	/* An open that finished a restore: the trust sync files it wrote
	   again, and why one could not be (restore_sync_trust()). */
	uint64_t trust_resynced;
	uint64_t trust_left;	/* not written: the folder held no vault */
	int trust_resync_err;
	char *trust_resync_detail;
};

/* Passphrases longer than this are refused, at init and at unlock. */
#define PASSPHRASE_MAX 1024

/* outfile.c */
/*
 * out_folder_check - a file a user named for kmc to write (path) must not
 * be in a vault's folder (one holding kmc.ks, StandbyKsf.ks, items.mdb,
 * kmc.bind or a restore's mark). Returns 0; KMC_E_INVALID, the detail
 * naming the folder.
 */
KMC_INTERNAL int out_folder_check(const char *path) KMC_MUST_CHECK;
/* The same for path in the folder already open on dirfd. */
KMC_INTERNAL int out_folder_fd_check(int dirfd, const char *path)
	KMC_MUST_CHECK;

/* params.c: a caller's struct of the size it was built with. The bytes
   of p past the known ones this library reads must be 0: a field of a
   newer kmc.h set, which this library cannot honour, is refused
   (KMC_E_INVALID naming type and the byte) rather than ignored. */
KMC_INTERNAL int vault_params_known(const void *p, size_t given,
	size_t known, const char *type) KMC_MUST_CHECK;
/* kmc_options in copied into *out: a smaller one's missing fields unset;
   a larger one's as vault_params_known() takes it. */
KMC_INTERNAL int vault_options_copy(const kmc_options *in, kmc_options *out)
	KMC_MUST_CHECK;

/* paths.c */
KMC_INTERNAL int vault_name_guard(const char *name) KMC_MUST_CHECK;
/* A name a user's put may make (vault/paths.c): none under ca: nor
   trust: but trust:STORE/truststore-password. 0 or KMC_E_NAME with a
   detail naming the prefix and what uses it. */
KMC_INTERNAL int vault_user_name_guard(const char *name) KMC_MUST_CHECK;
KMC_INTERNAL int vault_env_host_key(char buf[PATH_MAX], const char **ret)
	KMC_MUST_CHECK;
KMC_INTERNAL int vault_open_dir(const char *dir, int *ret_fd) KMC_MUST_CHECK;
/* path's folder into dir, its last part into *base. */
KMC_INTERNAL void import_split(const char *path, char *dir, size_t dsize,
	const char **base);
/* The value of key in a bundle's NAME/meta item ("key=value" lines)
   into buf; KMC_E_CORRUPT when absent, too long or holding a NUL. */
KMC_INTERNAL int bundle_meta_value(const kmc_secret *meta, const char *key,
	char *buf, size_t size) KMC_MUST_CHECK;

/* kspair.c: one keystore file as read, and the pair. */
typedef struct ks_file {
	const char *name;
	char show[PATH_MAX + 32];
	kmc_keystore_state state;
	int err;		/* why it is damaged or unsafe */
	uint8_t *raw;
	size_t len;
	keystore *ks;
} ks_file;

/* n bytes of p as 2n lowercase hex digits and a NUL in out. */
KMC_INTERNAL void vault_hex(const uint8_t *p, size_t n, char *out);
KMC_INTERNAL void ks_file_free(ks_file *f);
KMC_INTERNAL int ks_valid(const ks_file *f);
KMC_INTERNAL int ks_rank(ks_file f[2], int order[2]);
KMC_INTERNAL int ks_load_pair(int dirfd, const char *dir, ks_file f[2],
	int order[2], int *ret_n) KMC_MUST_CHECK;
KMC_INTERNAL int ks_store_open(store *st, int dirfd, const char *dir,
	const ks_file f[2], const int order[2], int n) KMC_MUST_CHECK;
KMC_INTERNAL int ks_pair_error(int dirfd, const char *dir, ks_file f[2])
	KMC_MUST_CHECK;
KMC_INTERNAL int vault_ks_commit(kmc_vault *v, keystore *next,
	int *ret_committed) KMC_MUST_CHECK;

/* handle.c */
KMC_INTERNAL int vault_mk_seal(const uint8_t vault_id[KS_VAULT_ID_LEN],
	const kmc_secret *rk, const kmc_secret *mk, ks_master_key *m)
	KMC_MUST_CHECK;

KMC_INTERNAL int kmc_name_check(const char *name) KMC_MUST_CHECK;

/*
 * kmc_default_path - where a vault (or a host key) goes when no path is
 * given: $KMC_VAULT ($KMC_HOST_KEY), else the built-in location (see
 * kmc_default_vault_dir()). With make_parents, the missing folders above
 * a built-in location are made 0700; never above the variable's path.
 * Returns 0; KMC_E_TOO_LARGE, KMC_E_INVALID (no home), -errno, each
 * with a detail naming the cause.
 */
typedef enum kmc_default {
	KMC_DEFAULT_VAULT,
	KMC_DEFAULT_HOST_KEY,
} kmc_default;
KMC_INTERNAL int kmc_default_path(kmc_default which, char *buf, size_t size,
	int make_parents) KMC_MUST_CHECK;

/* Item records (vault/items.c). Only items.c reads or writes them; the
   parser and the opener are visible for the unit tests and the fuzzer. */
#define RECORD_VERSION 1
#define RECORD_HEADER_LEN 24

typedef struct record_info {
	uint8_t type;
	uint32_t version;
	uint32_t mk_id;
	int64_t created;
	uint32_t size;
} record_info;

KMC_INTERNAL int record_parse_header(const uint8_t *rec, size_t len,
	record_info *ret) KMC_MUST_CHECK;
/* Whether err says a record is damaged or altered (its bytes, its
   authentication, its format, its place against the digest), not a
   failure of the run (memory, I/O, the audit log) that says nothing of
   the record and must stop what reads it. */
static inline int record_damage(int err)
{
	return err == KMC_E_CORRUPT || err == KMC_E_AUTH ||
		err == KMC_E_STRING || err == KMC_E_VERSION ||
		err == KMC_E_WRONG_VAULT || err == KMC_E_ROLLBACK;
}
/* The item name (and version, 0 for items) of a key of db. */
KMC_INTERNAL int items_key_name(store_db db, const uint8_t *key,
	size_t key_len, char name[KMC_NAME_MAX + 1], uint32_t *ret_version)
	KMC_MUST_CHECK;
KMC_INTERNAL int record_open(kmc_vault *v, const char *name,
	const uint8_t *rec, size_t len, record_info *ret_info,
	kmc_secret **ret) KMC_MUST_CHECK;

/* The vault id and generation of the newest keystore in dirfd whose
 * checksum holds, without unlocking; *ret_found is 0 when none does. */
KMC_INTERNAL int vault_peek(int dirfd, const char *dir,
	uint8_t id[KS_VAULT_ID_LEN], uint64_t *ret_generation, int *ret_found)
	KMC_MUST_CHECK;

/* The highest master-key id of that keystore (ids are in the clear);
 * 0 when there is none. */
KMC_INTERNAL int vault_peek_mk_max(int dirfd, const char *dir,
	uint32_t *ret_max) KMC_MUST_CHECK;

KMC_INTERNAL const vault_mk *vault_find_mk(const kmc_vault *v, uint32_t id);
/* The keys of master key id, looked for again in the keystores when it
   was made after the handle opened; NULL when no keystore holds it. */
KMC_INTERNAL const vault_mk *vault_mk_get(kmc_vault *v, uint32_t id);
/* The active master key's keys: for a handle that cannot write, the
   one the keystores name now, which a rotation since the open changed. */
KMC_INTERNAL const vault_mk *vault_mk_active(kmc_vault *v);
/* The keystore as it is now (for a handle that cannot write, read
   again), malloc'd. */
KMC_INTERNAL int vault_ks_now(kmc_vault *v, keystore **ret) KMC_MUST_CHECK;
/* Add master key m of the handle's keystore to the handle's keys. */
KMC_INTERNAL int vault_mk_add(kmc_vault *v, const ks_master_key *m)
	KMC_MUST_CHECK;
/* The root key's wrapping key and every master key of ks unwrapped
   into the handle (vault/handlemk.c); vault_drop_keys wipes them all. */
KMC_INTERNAL int vault_load_mks(kmc_vault *v, const keystore *ks,
	const kmc_secret *rk) KMC_MUST_CHECK;
KMC_INTERNAL void vault_drop_keys(kmc_vault *v);

/* The parts of an imported bundle NAME, stored as NAME/<part>: the live
   version's, then those of its staged and previous versions
   (vault/promote.c); and the password kmc export kept for its PKCS#12
   keystore (vault/export.c). */
#define BUNDLE_PARTS { "key", "cert", "ca", "crl", "meta", \
	"keystore-password", \
	".s/pw", ".s/key", ".s/cert", ".s/ca", ".s/crl", ".s/info", \
	".p/pw", ".p/key", ".p/cert", ".p/ca", ".p/crl", ".p/info" }
/* Refuses (KMC_E_NAME, with a detail) a new bundle's name that would
   make it share items with the bundle a leading part of it names
   ("web/meta", "web/.s"); 0 otherwise (vault/owned.c). */
KMC_INTERNAL int bundle_name_guard(const char *name) KMC_MUST_CHECK;
/* bundle_name_guard(), but a bundle of that name that exists (an earlier
   version's) passes when no bundle it would be a part of exists: its
   import --replace or --stage renews it (vault/owned.c). */
KMC_INTERNAL int bundle_name_guard_existing(kmc_vault *v, const char *name)
	KMC_MUST_CHECK;
/* Trust store STORE is item trust:STORE (vault/trust.c); the items it
   owns: the password kmc trust export kept for its PKCS#12 truststore
   (vault/export.c). */
#define TRUST_ITEM_PREFIX "trust:"
#define TRUST_STORE_PARTS { "truststore-password" }

/* kmc_item_get's read without its audit record (vault/items.c): item
   name, of type type, or of type alt too when alt is not 0 (the detail of
   any other type names type); *ret_info says which, and its version.
   vault_item_audit - the audit record kmc_item_get makes of that read
   (under the call's name, AUDIT_OP). */
KMC_INTERNAL int vault_item_read(kmc_vault *v, const char *name,
	kmc_item_type type, kmc_item_type alt, kmc_secret **ret,
	record_info *ret_info) KMC_MUST_CHECK;
KMC_INTERNAL void vault_item_audit(kmc_vault *v, const char *name,
	const record_info *info);

/* oneversion.c: read(v, arg) with every read of the store in one
   snapshot (store_pin()), its result; run again, undo(arg) first, only
   when read answers KMC_E_BUSY (something it read outside the snapshot
   disagreed with it), 8 times at most, then KMC_E_BUSY naming what.
   Nested in another's snapshot, read's result as it is. */
KMC_INTERNAL int vault_read_one_version(kmc_vault *v, const char *what,
	int (*read)(kmc_vault *v, void *arg), void (*undo)(void *arg),
	void *arg) KMC_MUST_CHECK;
/* Item NAME/PART of the given type (vault/owned.c): kmc_item_get, with a
   name too long for a bundle part refused as such. */
KMC_INTERNAL int vault_part_get(kmc_vault *v, const char *name,
	const char *part, kmc_item_type type, kmc_secret **ret) KMC_MUST_CHECK;

/*
 * The item layer's steps inside a store transaction (vault/items.c), for
 * the transactions that change several items at once (import, restore).
 *
 * items_txn_put - seal and put one item; flags ITEM_PUT_KEEP moves the
 * superseded record to the history database instead of dropping it,
 * ITEM_PUT_NOT_BUNDLE refuses (KMC_E_EXISTS) a password over a bundle's
 * NAME item, whose key's keys-folder copy is encrypted under it (for
 * kmc_item_put and batches: import and promote change both together),
 * and a new item under a prefix the vault keeps (vault_user_name_guard();
 * one that exists, of the same type, may be replaced).
 * items_txn_del - delete an item and its history; KMC_E_NOT_FOUND if
 * neither exists.
 * items_txn_retire - move an item's current record to its history and
 * delete it; 0 when there is none.
 * items_exists - 1 when the item name exists, 0 when it does not, or the
 * error that kept it from being read.
 * items_write_check - a change to item name: a writable handle and a
 * valid name.
 * items_verify_all - open every item's record; KMC_E_AUTH naming show
 * and the item when one fails.
 */
enum { ITEM_PUT_KEEP = 1, ITEM_PUT_NOT_BUNDLE = 2 };
KMC_INTERNAL int items_txn_put(kmc_vault *v, store_txn *t, const char *name,
	kmc_item_type type, const void *data, size_t len, int flags)
	KMC_MUST_CHECK;
KMC_INTERNAL int items_txn_del(kmc_vault *v, store_txn *t, const char *name)
	KMC_MUST_CHECK;
KMC_INTERNAL int items_txn_retire(kmc_vault *v, store_txn *t,
	const char *name) KMC_MUST_CHECK;
KMC_INTERNAL int items_exists(kmc_vault *v, const char *name)
	KMC_MUST_CHECK;
KMC_INTERNAL int items_write_check(kmc_vault *v, const char *name)
	KMC_MUST_CHECK;
/*
 * bundle_without_cert - 1 when bundle name holds a key and no certificate
 * yet (NAME/meta and NAME/key, neither NAME/cert nor NAME/ca): a key kmc
 * key gen made, waiting for kmc cert set (vault/born.c). Readers say so
 * rather than calling the bundle damaged; servers refuse it. A bundle
 * short of other parts is still a damaged one. < 0: a part could not be
 * read.
 */
static inline int bundle_without_cert(kmc_vault *v, const char *name)
{
	static const char *const parts[] = { "meta", "key", "cert", "ca" };
	char item[KMC_NAME_MAX + 8];
	int r;

	if (strlen(name) > KMC_BUNDLE_NAME_MAX)
		return 0;
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		snprintf(item, sizeof(item), "%s/%s", name, parts[i]);
		r = items_exists(v, item);
		if (r < 0)
			return r;
		if (r != (i < 2))
			return 0;
	}
	return 1;
}
/*
 * items_mk_usage - for each of the n master-key ids, how many current
 * records (current[i]) and superseded ones (old[i]) it seals.
 * items_rewrap - seal again under the active master key every record,
 * current or superseded, that another one sealed, at most batch records
 * looked at a transaction; *ret_n counts them, on failure those of the
 * batches committed. Run again after a failure or a kill, it goes on
 * where it stopped.
 */
KMC_INTERNAL int items_mk_usage(kmc_vault *v, const uint32_t *ids, size_t n,
	uint64_t *current, uint64_t *old) KMC_MUST_CHECK;
KMC_INTERNAL int items_rewrap(kmc_vault *v, size_t batch, uint64_t *ret_n)
	KMC_MUST_CHECK;
KMC_INTERNAL int items_verify_all(kmc_vault *v, const char *show)
	KMC_MUST_CHECK;

#endif

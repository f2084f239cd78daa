/*
 * kmc/admin.h - creating and inspecting vaults: what the kmc command and
 * provisioning tools need beyond what a server uses. Include after kmc.h.
 */
#ifndef KMC_ADMIN_H
#define KMC_ADMIN_H

#include <kmc.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum kmc_protector_type {
	KMC_PROTECTOR_HOST = 1,		/* a host-bound secret file */
	KMC_PROTECTOR_PASSPHRASE = 2,	/* Argon2id over a passphrase */
	/* 3.. are kept for pkcs11, tpm and recovery. */
} kmc_protector_type;

/*
 * kmc_vault_init - create a vault in dir with one protector.
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

/* The state of one keystore file, as kmc_vault_status() reports it. */
typedef enum kmc_keystore_state {
	KMC_KS_OK = 0,		/* valid, and of the newest generation */
	KMC_KS_MISSING = 1,
	KMC_KS_STALE = 2,	/* valid, but an older generation */
	KMC_KS_DAMAGED = 3,	/* fails its checksum or does not parse */
	KMC_KS_UNSAFE = 4,	/* a link, wrong owner or mode: not read */
} kmc_keystore_state;

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

typedef struct kmc_status {
	char vault_id[33];	/* 32 hex digits */
	uint32_t format_version;
	uint64_t generation;	/* of the winning keystore */
	kmc_keystore_state master, standby;
	uint64_t master_generation, standby_generation;
	size_t n_protectors;
	kmc_protector_info protectors[KMC_MAX_PROTECTORS];
	size_t n_master_keys;
	kmc_master_key_info master_keys[KMC_MAX_MASTER_KEYS];
	uint64_t items;		/* count in the item store */
	uint64_t store_generation;	/* grows with every item change */
} kmc_status;

/*
 * kmc_vault_status - inspect the vault in dir without unlocking it or
 * changing anything.
 * Returns 0; KMC_E_NOT_VAULT, KMC_E_PERM, KMC_E_NO_KEYSTORE,
 * KMC_E_VERSION, KMC_E_WRONG_VAULT, KMC_E_STORE, -errno.
 */
KMC_API int kmc_vault_status(const char *dir, kmc_status *ret_status)
	KMC_MUST_CHECK KMC_NONNULL(2);

/* kmc_protector_type_name - "host", "passphrase" or "unknown". */
KMC_API const char *kmc_protector_type_name(kmc_protector_type type);

/* kmc_keystore_state_name - "ok", "missing", "stale", ... */
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

#ifdef __cplusplus
}
#endif

#endif

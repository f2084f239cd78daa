/*
 * protector.h - keyslots: each holds the root key sealed under a key that
 * one protector derives.
 *
 * The seal's associated data is "kmcvault/rk/v1" || vault id || slot id
 * || type || params, so a slot cannot be moved to another vault or have
 * its parameters changed without the root key failing to open.
 *
 * host params (type 1):
 *	salt 16 || host_key_id 8 || path_len u16 || path
 *   slot key = BLAKE2b-256 keyed with the 32-byte host key, over
 *   "kmcvault/host/v1" || vault id || salt. host_key_id is the first 8
 *   bytes of BLAKE2b keyed with the host key over "kmcvault/host-id/v1":
 *   it tells "another host key" apart from a damaged slot. path is where
 *   the host key was at init, so a server opens with no flags.
 *
 * passphrase params (type 2):
 *	alg u8 (1 = Argon2id v1.3) || ops u32 || mem u64 (bytes) || salt 16
 *   slot key = Argon2id(passphrase, salt, ops, mem).
 *
 * pkcs11 and tpm params (types 3, 4):
 *	uri_len u16 || uri (RFC 7512, never a pin-value) || mech u32 (CKM_)
 *	|| hash u8 (OAEP: 1 SHA-1, 2 SHA-256) || iv_len u8 || iv
 *	|| ct_len u16 || ct
 *   ct is a random 32-byte secret S encrypted by the token key the URI
 *   names (pkcs11/p11.h); slot key = BLAKE2b-256 keyed with S over
 *   "kmcvault/p11/v1" || vault id.
 *
 * recovery params (type 5):
 *	salt 16
 *   slot key = BLAKE2b-256 keyed with BLAKE2b-256(the 25 recovery bytes)
 *   over "kmcvault/recovery/v1" || vault id || salt. The key has 200
 *   bits, so no password hashing is needed.
 */
#ifndef KMC_PROTECTOR_H
#define KMC_PROTECTOR_H

#include "keystore.h"

#define HOST_KEY_LEN 32
#define HOST_PATH_MAX 1024

/* Seal rk into slot s, whose id, type and params are already set. */
KMC_INTERNAL int slot_wrap(const uint8_t vault_id[KS_VAULT_ID_LEN],
	ks_slot *s, const uint8_t slot_key[KMC_KEY_LEN],
	const kmc_secret *rk) KMC_MUST_CHECK;
KMC_INTERNAL int slot_unwrap(const uint8_t vault_id[KS_VAULT_ID_LEN],
	const ks_slot *s, const uint8_t slot_key[KMC_KEY_LEN],
	kmc_secret **ret_rk) KMC_MUST_CHECK;

/*
 * host_key_load - read a host key file (regular, the user's, mode 0400
 * or 0600, exactly 32 bytes). With create, make one (0400, in a 0700
 * directory made if absent) when there is none.
 * Returns 0; KMC_E_HOST_KEY (absent, wrong size), KMC_E_PERM, -errno.
 */
KMC_INTERNAL int host_key_load(const char *path, int create,
	kmc_secret **ret) KMC_MUST_CHECK;
/* host_key_load() without create that also hands over the key's folder
   (checked as host_key_load checks it) in *ret_dirfd on success. */
KMC_INTERNAL int host_key_load_at(const char *path, kmc_secret **ret,
	int *ret_dirfd) KMC_MUST_CHECK;

KMC_INTERNAL int host_slot_create(const uint8_t vault_id[KS_VAULT_ID_LEN],
	const char *path, const kmc_secret *rk, uint8_t id, ks_slot *ret)
	KMC_MUST_CHECK;
/* The host key path recorded in host slot s into buf; KMC_E_CORRUPT. */
KMC_INTERNAL int host_slot_path(const ks_slot *s, char *buf, size_t size)
	KMC_MUST_CHECK;
/* The token URI recorded in pkcs11 or tpm slot s into buf. */
KMC_INTERNAL int p11_slot_uri(const ks_slot *s, char *buf, size_t size)
	KMC_MUST_CHECK;
/* path overrides the one recorded in the slot when not NULL. With
   ret_dirfd, the host key's folder, opened and checked as it was read,
   is handed over on success (the state file beside the key is read
   through it: bind.c), else left as it was. */
KMC_INTERNAL int host_slot_unlock(const uint8_t vault_id[KS_VAULT_ID_LEN],
	const ks_slot *s, const char *path, kmc_secret **ret_rk,
	int *ret_dirfd) KMC_MUST_CHECK;

KMC_INTERNAL int pass_slot_create(const uint8_t vault_id[KS_VAULT_ID_LEN],
	const kmc_secret *pass, uint32_t ops, uint64_t mem,
	const kmc_secret *rk, uint8_t id, ks_slot *ret) KMC_MUST_CHECK;
/* A passphrase slot's Argon2id cost: KMC_E_CORRUPT, naming the slot and
   the accepted range, when it is out of it (checked before any prompt);
   0 otherwise, and for parameters it cannot parse (the unlock says). */
KMC_INTERNAL int pass_slot_check(const ks_slot *s) KMC_MUST_CHECK;
KMC_INTERNAL int pass_slot_unlock(const uint8_t vault_id[KS_VAULT_ID_LEN],
	const ks_slot *s, const kmc_secret *pass, kmc_secret **ret_rk)
	KMC_MUST_CHECK;

/*
 * slot_create - a new slot of any type with id, sealing rk. Inputs come
 * from opts (see kmc_protector_add()); a recovery key made here goes to
 * *ret_recovery as text.
 */
KMC_INTERNAL int slot_create(const uint8_t vault_id[KS_VAULT_ID_LEN],
	kmc_protector_type type, const kmc_options *opts, const kmc_secret *rk,
	uint8_t id, ks_slot *ret, kmc_secret **ret_recovery) KMC_MUST_CHECK;

KMC_INTERNAL int p11_slot_unlock(const uint8_t vault_id[KS_VAULT_ID_LEN],
	const ks_slot *s, const kmc_options *opts, kmc_secret **ret_rk)
	KMC_MUST_CHECK;
KMC_INTERNAL int recovery_slot_unlock(const uint8_t vault_id[KS_VAULT_ID_LEN],
	const ks_slot *s, const kmc_secret *text, kmc_secret **ret_rk)
	KMC_MUST_CHECK;

/* A human-readable summary of a slot's parameters for kmc status. */
KMC_INTERNAL void slot_describe(const ks_slot *s, char *buf, size_t size);

#endif

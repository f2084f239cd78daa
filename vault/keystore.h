/*
 * keystore.h - the keystore file format (kmc.ks and StandbyKsf.ks).
 *
 * All integers big-endian.
 *
 *	magic           8   "KMCKSTOR"
 *	format_version  u16 1
 *	flags           u16 0 (readers refuse unknown bits)
 *	vault_id        16  random at init
 *	generation      u64 grows by one with every write
 *	n_slots         u8  1..16
 *	  slot_id       u8  1..255, unique
 *	  type          u8  1 host, 2 passphrase; others kept verbatim
 *	  params_len    u16 <= 1024
 *	  params        params_len bytes, per type
 *	  wrapped_len   u16 <= 1024
 *	  wrapped       the root key sealed under the slot's key
 *	n_master_keys   u8  1..64
 *	active_mk_id    u32 one of the ids below
 *	  mk_id         u32 1.., unique
 *	  flags         u8  0 (bit 0: retired)
 *	  created       i64 seconds since the epoch
 *	  wrapped       72  the master key sealed under a root-key subkey
 *	mac             32  BLAKE2b-256 keyed with a root-key subkey, over
 *	                    everything before it
 *	checksum        32  BLAKE2b-256 over everything before it
 *
 * The checksum lets kmc status and the opener tell a damaged file from a
 * good one without unlocking; the MAC, checked once the root key is
 * known, tells a forged one. The file is at most KS_FILE_MAX bytes and
 * nothing may follow the checksum.
 */
#ifndef KMC_KEYSTORE_H
#define KMC_KEYSTORE_H

#include <stddef.h>
#include <stdint.h>
#include "../kmc/crypto.h"
#include <kmc/admin.h>

#define KS_MAGIC "KMCKSTOR"
#define KS_FORMAT_VERSION 1
#define KS_FILE_MAX (64u * 1024u)
#define KS_PARAMS_MAX 1024u
#define KS_WRAPPED_MAX 1024u
#define KS_VAULT_ID_LEN 16
#define KS_MK_WRAPPED_LEN (KMC_KEY_LEN + KMC_SEAL_OVERHEAD)
#define KS_MK_RETIRED 0x01

#define KS_MASTER_NAME "kmc.ks"
#define KS_STANDBY_NAME "StandbyKsf.ks"

typedef struct ks_slot {
	uint8_t id;
	uint8_t type;
	uint16_t params_len;
	uint16_t wrapped_len;
	uint8_t params[KS_PARAMS_MAX];
	uint8_t wrapped[KS_WRAPPED_MAX];
} ks_slot;

typedef struct ks_master_key {
	uint32_t id;
	uint8_t flags;
	int64_t created;
	uint8_t wrapped[KS_MK_WRAPPED_LEN];
} ks_master_key;

typedef struct keystore {
	uint16_t format_version;
	uint8_t vault_id[KS_VAULT_ID_LEN];
	uint64_t generation;
	uint8_t n_slots;
	ks_slot slots[KMC_MAX_PROTECTORS];
	uint8_t n_mks;
	uint32_t active_mk;
	ks_master_key mks[KMC_MAX_MASTER_KEYS];
} keystore;

/*
 * ks_parse - check magic, version, checksum and structure of a keystore
 * file (not its MAC) and fill *ks.
 * Returns 0, KMC_E_CORRUPT, KMC_E_VERSION.
 */
KMC_INTERNAL int ks_parse(const uint8_t *data, size_t len, keystore *ks)
	KMC_MUST_CHECK;

/*
 * ks_parse_used - ks_parse() that fills only what the file holds: the
 * header, slots[0..n_slots) and mks[0..n_mks), each entry whole. The
 * entries past the counts are left as they were. A keystore is some
 * 38 KB, most of it room for slots a vault does not use; clearing it all
 * faulted in every page of both files' structs (about 17 page faults an
 * open: docs/performance.md, row 4), and a calloc() clears them as well.
 * WARNING: read entries only below the counts, and fill an entry whole
 * before counting it (protector add does), as after a protector removal.
 */
KMC_INTERNAL int ks_parse_used(const uint8_t *data, size_t len, keystore *ks)
	KMC_MUST_CHECK;

/*
 * ks_verify_mac - check the keyed MAC of a file ks_parse() accepted.
 * Returns 0 or KMC_E_AUTH.
 */
KMC_INTERNAL int ks_verify_mac(const uint8_t *data, size_t len,
	const uint8_t rk[KMC_KEY_LEN]) KMC_MUST_CHECK;

/*
 * ks_serialize - the file bytes of ks, MAC'd under the root key rk.
 * *ret is malloc'd. Returns 0, KMC_E_INVALID (ks breaks an invariant),
 * KMC_E_NOMEM.
 */
KMC_INTERNAL int ks_serialize(const keystore *ks,
	const uint8_t rk[KMC_KEY_LEN], uint8_t **ret, size_t *ret_len)
	KMC_MUST_CHECK;

KMC_INTERNAL const ks_master_key *ks_find_mk(const keystore *ks,
	uint32_t id);

#endif

/*
 * vault.h - the vault handle and helpers shared inside vault/.
 */
#ifndef KMC_VAULT_H
#define KMC_VAULT_H

#include <kmc.h>
#include <kmc/admin.h>
#include "keystore.h"
#include "store.h"

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
	size_t n_mks;
	vault_mk mks[KMC_MAX_MASTER_KEYS];
	store st;
	unsigned opened_by;
	unsigned repaired;
	char notes[1024];	/* protectors that failed before one worked */
};

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

/* Item records (vault/record.c). */
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
KMC_INTERNAL int record_seal(kmc_vault *v, const char *name,
	const record_info *info, const void *pt, uint8_t **ret,
	size_t *ret_len) KMC_MUST_CHECK;
KMC_INTERNAL int record_open(kmc_vault *v, const char *name,
	const uint8_t *rec, size_t len, record_info *ret_info,
	kmc_secret **ret) KMC_MUST_CHECK;
/*
 * record_check_type - whether the record of name, whose header parsed
 * into info, is of type want (0: any). The type byte is trusted only once
 * the seal, whose associated data covers it, opens: a damaged type byte
 * is KMC_E_AUTH, not another type. Returns 0; KMC_E_TYPE (an authentic
 * record of another type); record_open()'s errors.
 */
KMC_INTERNAL int record_check_type(kmc_vault *v, const char *name,
	const uint8_t *rec, size_t len, const record_info *info, uint8_t want)
	KMC_MUST_CHECK;

/* The vault id and generation of the newest keystore in dirfd whose
 * checksum holds, without unlocking; *ret_found is 0 when none does. */
KMC_INTERNAL int vault_peek(int dirfd, const char *dir,
	uint8_t id[KS_VAULT_ID_LEN], uint64_t *ret_generation, int *ret_found)
	KMC_MUST_CHECK;

KMC_INTERNAL const vault_mk *vault_find_mk(const kmc_vault *v, uint32_t id);

/* The parts of an imported bundle NAME, stored as NAME/<part>. */
#define BUNDLE_PARTS { "key", "cert", "ca", "crl", "meta" }

/* Seal and put one item inside a transaction; keep_history moves the
 * superseded record to the history database instead of dropping it. */
KMC_INTERNAL int vault_txn_put(kmc_vault *v, store_txn *t, const char *name,
	kmc_item_type type, const void *data, size_t len, int keep_history)
	KMC_MUST_CHECK;
/* Delete an item and its history; KMC_E_NOT_FOUND if neither exists. */
KMC_INTERNAL int vault_txn_del(kmc_vault *v, store_txn *t, const char *name)
	KMC_MUST_CHECK;

#endif

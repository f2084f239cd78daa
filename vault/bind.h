/*
 * bind.h - the binding (kmc.bind) that ties the item store, the
 * keystores and the audit head together under the root key, and the
 * places outside the folder that only move forward (vault/bindplace.c).
 *
 * kmc.bind, 0600, the user's, all integers big-endian:
 *
 *	magic           8   "KMCBIND\0"
 *	format_version  u16 1
 *	flags           u16 bit 0: a store change is under way (next_*),
 *	                    bit 1: a keystore change is (ks_next_*);
 *	                    readers refuse other bits
 *	vault_id        16
 *	ks_generation   u64 the keystore the binding vouches for
 *	ks_digest       32  BLAKE2b-256 of that keystore file's bytes
 *	ks_next_gen     u64 0 unless flag bit 1
 *	ks_next_digest  32
 *	store_gen       u64 the item store's generation (meta "generation")
 *	store_root      32  the root of its hash tree
 *	next_gen        u64 0 unless flag bit 0
 *	next_root       32
 *	audit_seq       u64 the audit head (0 and zeros: no audit log)
 *	audit_hash      32
 *	places          u8  bit 0: a host state file, bit 1: a token
 *	                    counter object; the forward-only places that
 *	                    were in use when it was written
 *	mac             32  BLAKE2b-256 keyed with the root-key subkey
 *	                    "kmcbind", over everything before it
 *
 * The file is exactly BIND_FILE_LEN bytes.
 */
#ifndef KMC_BIND_H
#define KMC_BIND_H

#include <stdint.h>
#include "store.h"

#define BIND_NAME "kmc.bind"
#define BIND_MAGIC "KMCBIND"	/* and a NUL: 8 bytes */
#define BIND_FORMAT_VERSION 1
#define BIND_FILE_LEN 261
#define BIND_FLAG_NEXT 0x1u
#define BIND_FLAG_KS_NEXT 0x2u
#define BIND_PLACE_HOST 0x1u
#define BIND_PLACE_TOKEN 0x2u

typedef struct bind_state {
	uint16_t flags;
	uint8_t vault_id[KS_VAULT_ID_LEN];
	uint64_t ks_gen;
	uint8_t ks_digest[32];
	uint64_t ks_next_gen;
	uint8_t ks_next_digest[32];
	uint64_t gen;
	uint8_t root[32];
	uint64_t next_gen;
	uint8_t next_root[32];
	uint64_t audit_seq;
	uint8_t audit_hash[32];
	uint8_t places;
} bind_state;

/* bind_serialize - the file bytes of b, MAC'd under key. */
KMC_INTERNAL void bind_serialize(const bind_state *b,
	const uint8_t key[KMC_KEY_LEN], uint8_t out[BIND_FILE_LEN]);
/* A u64 big-endian at p; returns p + 8. */
KMC_INTERNAL uint8_t *bind_put64(uint8_t *p, uint64_t v);
/* bind_parse - check length, magic, version, flags of a binding file and
   fill *ret (not the MAC). Returns 0, KMC_E_CORRUPT, KMC_E_VERSION. */
KMC_INTERNAL int bind_parse(const uint8_t *data, size_t len, bind_state *ret)
	KMC_MUST_CHECK;
/* bind_verify_mac - 0 or KMC_E_AUTH. */
KMC_INTERNAL int bind_verify_mac(const uint8_t *data, size_t len,
	const uint8_t key[KMC_KEY_LEN]) KMC_MUST_CHECK;

struct kmc_vault;
typedef struct kmc_vault kmc_vault;

/*
 * bind_open - at kmc_vault_open_ex(), once, while the root key is known:
 * derive the binding key, read kmc.bind and check it against the keystore
 * that won (ks_raw), the store's generation and root, and the forward-only
 * place of the protector that opened (by). A writable open finishes a
 * pending change and binds a vault that has no binding yet (at its end:
 * bind_settle()); with accept (kmc repair --accept-rollback) it re-binds
 * to what is on disk instead of refusing.
 * Returns 0; KMC_E_ROLLBACK, KMC_E_CORRUPT, KMC_E_PERM, KMC_E_VERSION,
 * -errno, each with a detail naming what disagrees.
 */
typedef struct bind_opener {
	const char *host_key;	/* the host key file that opened, or NULL */
	int host_dirfd;		/* its folder, open and checked, or -1 */
	const char *token_uri;	/* the token protector's URI, or NULL */
	const kmc_secret *pin;	/* its PIN as the options gave it */
	int pin_in_uri;		/* the URI names a pin-source */
} bind_opener;
KMC_INTERNAL int bind_open(kmc_vault *v, const uint8_t *ks_raw,
	size_t ks_len, const bind_opener *by, int accept) KMC_MUST_CHECK;
/* The writes bind_open() leaves to the end of a writable open. */
KMC_INTERNAL int bind_settle(kmc_vault *v) KMC_MUST_CHECK;
KMC_INTERNAL void bind_close(kmc_vault *v);
/* The binding's key the handle keeps (NULL before bind_open()): the open
   makes it read-only with the handle's other keys (handle.c). */
KMC_INTERNAL kmc_secret *bind_kept_key(const kmc_vault *v);
/* kmc init: the first binding of the vault built in dirfd (keystore raw
   of generation ks_gen, store st). */
KMC_INTERNAL int bind_init(int dirfd, store *st,
	const uint8_t vault_id[KS_VAULT_ID_LEN], uint64_t ks_gen,
	const uint8_t *raw, size_t len, const kmc_secret *rk) KMC_MUST_CHECK;
/* The store's generation and the root of its tree. */
KMC_INTERNAL int bind_store_root(store *st, uint64_t *ret_gen,
	uint8_t ret_root[32]) KMC_MUST_CHECK;

/* The store's commit hook's part for the binding (interfaces: PREPARE
   writes next and moves the forward-only place; COMMITTED makes next
   current, best effort; ABORTED does nothing). */
KMC_INTERNAL int bind_on_commit(kmc_vault *v, store_phase phase,
	const store_change *c);
/* The same around a keystore write (vault_ks_commit): raw is the new
   keystore file, of generation gen. */
KMC_INTERNAL int bind_on_keystore(kmc_vault *v, store_phase phase,
	uint64_t gen, const uint8_t *raw, size_t len);
/* The store's root check on reads: 0, or KMC_E_ROLLBACK with a detail. */
KMC_INTERNAL int bind_root_check(void *arg, uint64_t gen,
	const uint8_t root[32]);
/* The audit head the binding vouches for; KMC_E_NOT_FOUND when the vault
   has no binding yet. */
KMC_INTERNAL int bind_audit_head(kmc_vault *v, uint64_t *ret_seq,
	uint8_t ret_hash[32]) KMC_MUST_CHECK;
/* The audit record dirfd's kmc.bind names (seq 0: none), read without
   a key and for any vault id: a restore records a log that lost it
   before the binding is replaced. Returns 0, -ENOENT, or an error. */
KMC_INTERNAL int bind_peek_audit(int dirfd, uint64_t *ret_seq,
	uint8_t ret_hash[32]) KMC_MUST_CHECK;
/* What kmc status says, without a key: the binding's state, the
   forward-only place it names and the audit record it vouches for (seq
   and hash). Returns 0; KMC_E_NOMEM when kmc.bind could not be read for
   want of memory (no state: that is no damage). */
KMC_INTERNAL int bind_status(int dirfd, uint64_t store_gen,
	const uint8_t vault_id[KS_VAULT_ID_LEN], int *ret_state,
	uint8_t *ret_places, uint64_t *ret_audit_seq,
	uint8_t ret_audit_hash[32]) KMC_MUST_CHECK;

/* bindplace.c: the host state file beside the host key, or the counter
   object on a pkcs11 or tpm protector's token. */
typedef struct bind_place {
	int kind;		/* 0: none, BIND_PLACE_HOST or _TOKEN */
	int dirfd;		/* the host key's folder already open and
				   checked (during bind_open() only,
				   borrowed), or -1 */
	/* Strings in text, one allocation sized to them (a handle's open
	   touches no more pages than they fill): */
	const char *dir;	/* the host key's folder, or "" */
	const char *name;	/* kmcstate-<vault id hex>, or the object's
				   label kmcvault-counter-<vault id hex> */
	const char *show;	/* dir/name (the label), for messages */
	const char *what;	/* "the state file ...", "the counter ..." */
	const char *uri;	/* the token's protector URI, or "" */
	char *text;
	const kmc_secret *pin;	/* its PIN as given, or NULL (the URI's
				   pin-source) */
} bind_place;

#define BIND_STATE_LEN 66
/* bind_place_host, bind_place_token - fill p (freed by bind_place_free,
   also after a failure). */
KMC_INTERNAL void bind_place_free(bind_place *p);
KMC_INTERNAL int bind_place_host(bind_place *p, const char *host_key,
	const uint8_t vault_id[KS_VAULT_ID_LEN]) KMC_MUST_CHECK;
KMC_INTERNAL int bind_place_token(bind_place *p, const char *uri,
	const kmc_secret *pin, const uint8_t vault_id[KS_VAULT_ID_LEN])
	KMC_MUST_CHECK;
/* The generation the place holds; -ENOENT when it has none;
   KMC_E_CORRUPT (damaged, forged), KMC_E_WRONG_VAULT, KMC_E_PERM.
   bind_place_read_in_use(): the same for a place the binding says is
   in use, where a token's counter found missing is looked for again
   (p11_unreached_pause()) before -ENOENT is believed. */
KMC_INTERNAL int bind_place_read_in_use(const bind_place *p,
	const uint8_t key[KMC_KEY_LEN],
	const uint8_t vault_id[KS_VAULT_ID_LEN], uint64_t *ret_gen)
	KMC_MUST_CHECK;
KMC_INTERNAL int bind_place_read(const bind_place *p,
	const uint8_t key[KMC_KEY_LEN],
	const uint8_t vault_id[KS_VAULT_ID_LEN], uint64_t *ret_gen)
	KMC_MUST_CHECK;
KMC_INTERNAL void bind_remove_temps(int dirfd, const char *name);
/* bind_head_version - the u16 format version at bytes 8-9 of dirfd/name,
   opened under rule but of any size, when its first 8 bytes are magic:
   for a file over its format's size, which a newer format may be, so
   that it is refused as newer and never taken for damage. Returns 0 and
   *ret_version; -1 when it has no such head or cannot be read. */
struct kmc_file_rule;
KMC_INTERNAL int bind_head_version(int dirfd, const char *name,
	const struct kmc_file_rule *rule, const char *magic,
	uint16_t *ret_version) KMC_MUST_CHECK;
KMC_INTERNAL void bind_place_remove_temps(const bind_place *p);
KMC_INTERNAL int bind_place_write(const bind_place *p,
	const uint8_t key[KMC_KEY_LEN],
	const uint8_t vault_id[KS_VAULT_ID_LEN], uint64_t gen) KMC_MUST_CHECK;

#endif

/*
 * crypto.h - the primitives of the key hierarchy, all from libsodium.
 *
 * Sealed blobs are nonce || ciphertext || tag of XChaCha20-Poly1305 (IETF):
 * 24 random bytes of nonce are safe to pick at random for any number of
 * messages under one key, and the cipher is constant-time in software on
 * every CPU, so a vault moved to a host without AES-NI still opens.
 */
#ifndef KMC_CRYPTO_H
#define KMC_CRYPTO_H

#include <stddef.h>
#include <stdint.h>
#include "common.h"

#define KMC_KEY_LEN 32
#define KMC_NONCE_LEN 24
#define KMC_TAG_LEN 16
#define KMC_SEAL_OVERHEAD (KMC_NONCE_LEN + KMC_TAG_LEN)
#define KMC_HASH_LEN 32
#define KMC_SALT_LEN 16

/* sodium_init() once; every entry point that touches crypto calls this. */
KMC_INTERNAL int kmc_crypto_init(void) KMC_MUST_CHECK;

KMC_INTERNAL void kmc_random(void *buf, size_t len);

/*
 * kmc_seal - encrypt pt under key with associated data ad into out, which
 * has room for ptlen + KMC_SEAL_OVERHEAD bytes. A fresh random nonce each
 * time.
 */
KMC_INTERNAL int kmc_seal(const uint8_t key[KMC_KEY_LEN],
	const uint8_t *ad, size_t adlen, const uint8_t *pt, size_t ptlen,
	uint8_t *out) KMC_MUST_CHECK;

/*
 * kmc_open - authenticate and decrypt a sealed blob of inlen bytes into
 * out (inlen - KMC_SEAL_OVERHEAD bytes). No plaintext reaches out unless
 * the tag checks; on KMC_E_AUTH out is zeroed (libsodium's behaviour).
 * Returns 0, KMC_E_AUTH or KMC_E_CORRUPT (too short).
 */
KMC_INTERNAL int kmc_open(const uint8_t key[KMC_KEY_LEN],
	const uint8_t *ad, size_t adlen, const uint8_t *in, size_t inlen,
	uint8_t *out) KMC_MUST_CHECK;

/*
 * kmc_open_secret - kmc_open() into a new guarded secret.
 */
KMC_INTERNAL int kmc_open_secret(const uint8_t key[KMC_KEY_LEN],
	const uint8_t *ad, size_t adlen, const uint8_t *in, size_t inlen,
	kmc_secret **ret) KMC_MUST_CHECK;

/*
 * kmc_subkey - derive an independent 32-byte key from key for one purpose
 * (BLAKE2b KDF: ctx names the purpose in exactly 8 bytes).
 */
KMC_INTERNAL int kmc_subkey(uint8_t out[KMC_KEY_LEN],
	const uint8_t key[KMC_KEY_LEN], uint64_t id, const char ctx[8])
	KMC_MUST_CHECK;

/* Argon2id v1.3 parameters; both bounded so a keystore cannot ask for
 * unbounded work or memory. */
#define KMC_ARGON2_OPS_MIN 1u
#define KMC_ARGON2_OPS_MAX 64u
#define KMC_ARGON2_MEM_MIN (8u * 1024u * 1024u)	/* bytes: 8 MiB */
#define KMC_ARGON2_MEM_MAX (4096ull * 1024 * 1024)
#define KMC_ARGON2_OPS_DEFAULT 3u
#define KMC_ARGON2_MEM_DEFAULT (256u * 1024u * 1024u)

KMC_INTERNAL int kmc_argon2id(uint8_t out[KMC_KEY_LEN],
	const char *pw, size_t pwlen, const uint8_t salt[KMC_SALT_LEN],
	uint64_t ops, uint64_t mem) KMC_MUST_CHECK;

/* BLAKE2b-256, unkeyed (checksums) and keyed (MACs). */
KMC_INTERNAL void kmc_hash(uint8_t out[KMC_HASH_LEN], const void *in,
	size_t len);
KMC_INTERNAL void kmc_mac(uint8_t out[KMC_HASH_LEN],
	const uint8_t key[KMC_KEY_LEN], const void *in, size_t len);
/*
 * The same unkeyed BLAKE2b-256 over data that arrives in pieces (a file
 * read in chunks): init, any number of updates, final.
 */
typedef struct kmc_hash_state {
	_Alignas(64) unsigned char opaque[384];
} kmc_hash_state;
KMC_INTERNAL void kmc_hash_init(kmc_hash_state *st);
KMC_INTERNAL void kmc_hash_update(kmc_hash_state *st, const void *in,
	size_t len);
KMC_INTERNAL void kmc_hash_final(kmc_hash_state *st,
	uint8_t out[KMC_HASH_LEN]);
/* Constant-time comparison: 0 when equal. */
KMC_INTERNAL int kmc_memcmp(const void *a, const void *b, size_t len);
KMC_INTERNAL void kmc_wipe(void *p, size_t len);

/* Guarded secret of len bytes with contents copied from p. */
KMC_INTERNAL int kmc_secret_dup(const void *p, size_t len, kmc_secret **ret)
	KMC_MUST_CHECK;
/* Make a secret read-only (keys, once derived). A secret in the arena
 * moves to pages of its own first: 0, or KMC_E_NOMEM. */
KMC_INTERNAL int kmc_secret_readonly(kmc_secret *s) KMC_MUST_CHECK;
/*
 * kmc_secret_readonly_group - make the n secrets s[] read-only together,
 * in one read-only mapping of their own (guard pages, locked, as
 * kmc_secret_readonly's), where each alone would take one. Each must
 * still be in the arena (not read-only already), and appear once. Each
 * is freed alone as before: its bytes are wiped at its free, and the
 * mapping goes with the last. kmc_secret_readonly() on one is a no-op.
 * Returns 0; KMC_E_INVALID, or KMC_E_NOMEM with every secret as it was.
 * WARNING: a secret of a group cannot be shrunk or written, as any
 * read-only secret.
 */
KMC_INTERNAL int kmc_secret_readonly_group(kmc_secret *const *s, size_t n)
	KMC_MUST_CHECK;
/*
 * kmc_secret_group_end - the group of s is about to be freed whole (a
 * handle's close): make its mapping writable once, so that each of its
 * secrets, freed in turn, is wiped without two mprotect() calls of its
 * own. The secrets stay locked, guarded and wiped at their free; they are
 * no longer read-only. A no-op for a secret in no group, or called twice.
 */
KMC_INTERNAL void kmc_secret_group_end(kmc_secret *s);

#endif

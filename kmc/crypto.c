/*
 * crypto.c - the key hierarchy's primitives (crypto.h): sealing, subkeys,
 * Argon2id, hashes and wiping, each a thin wrapper over libsodium.
 */
#include <string.h>
#include <sodium.h>
#include <openssl/crypto.h>
#include "crypto.h"

/* libsodium's XChaCha20-Poly1305 sizes must be the ones the format fixed. */
_Static_assert(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES == KMC_NONCE_LEN,
	"nonce size");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_ABYTES == KMC_TAG_LEN,
	"tag size");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_KEYBYTES == KMC_KEY_LEN,
	"key size");
_Static_assert(crypto_pwhash_SALTBYTES == KMC_SALT_LEN, "salt size");

int kmc_crypto_init(void)
{
	static int done;

	/* sodium_init() is thread-safe, but takes a mutex of its own on every
	   call: a fork while another thread held it would leave the child
	   stuck in its next kmc_secret_new(). Once is enough. */
	if (__atomic_load_n(&done, __ATOMIC_ACQUIRE))
		return 0;
	KMC_ENSURE(sodium_init() >= 0, KMC_E_NOMEM);
	/* OpenSSL 3.0 builds its default library context on first use. An
	   allocation failing there leaves it half made, and any later call
	   (a decoder, a fetch) crashes on a lock it never made. Built here,
	   before the library's first OpenSSL call, such a failure is an
	   error the caller sees, and nothing calls OpenSSL after it. */
	KMC_ENSURE(OPENSSL_init_crypto(0, NULL) &&
		OSSL_LIB_CTX_get0_global_default(), KMC_E_NOMEM);
	__atomic_store_n(&done, 1, __ATOMIC_RELEASE);
	return 0;
}

void kmc_random(void *buf, size_t len)
{
	randombytes_buf(buf, len);
}

int kmc_seal(const uint8_t key[KMC_KEY_LEN], const uint8_t *ad, size_t adlen,
	const uint8_t *pt, size_t ptlen, uint8_t *out)
{
	unsigned long long clen;

	KMC_ENSURE(ptlen <= SIZE_MAX - KMC_SEAL_OVERHEAD, KMC_E_TOO_LARGE);
	randombytes_buf(out, KMC_NONCE_LEN);
	if (crypto_aead_xchacha20poly1305_ietf_encrypt(out + KMC_NONCE_LEN,
			&clen, pt, ptlen, ad, adlen, NULL, out, key) != 0)
		return KMC_E_INVALID;
	KMC_ASSERT(clen == ptlen + KMC_TAG_LEN);
	return 0;
}

int kmc_open(const uint8_t key[KMC_KEY_LEN], const uint8_t *ad, size_t adlen,
	const uint8_t *in, size_t inlen, uint8_t *out)
{
	KMC_ENSURE(inlen >= KMC_SEAL_OVERHEAD, KMC_E_CORRUPT);
	/* The detached form checks the tag before it writes any plaintext. */
	if (crypto_aead_xchacha20poly1305_ietf_decrypt_detached(out, NULL,
			in + KMC_NONCE_LEN, inlen - KMC_SEAL_OVERHEAD,
			in + inlen - KMC_TAG_LEN, ad, adlen, in, key) != 0)
		return KMC_E_AUTH;
	return 0;
}

int kmc_open_secret(const uint8_t key[KMC_KEY_LEN], const uint8_t *ad,
	size_t adlen, const uint8_t *in, size_t inlen, kmc_secret **ret)
{
	_cleanup_(kmc_secret_freep) kmc_secret *s = NULL;

	KMC_ENSURE(inlen >= KMC_SEAL_OVERHEAD, KMC_E_CORRUPT);
	KMC_GUARD(kmc_secret_new(inlen - KMC_SEAL_OVERHEAD, &s));
	KMC_GUARD(kmc_open(key, ad, adlen, in, inlen, kmc_secret_data(s)));
	*ret = TAKE_PTR(s);
	return 0;
}

int kmc_subkey(uint8_t out[KMC_KEY_LEN], const uint8_t key[KMC_KEY_LEN],
	uint64_t id, const char ctx[8])
{
	if (crypto_kdf_derive_from_key(out, KMC_KEY_LEN, id, ctx, key) != 0)
		return KMC_E_INVALID;
	return 0;
}

int kmc_argon2id(uint8_t out[KMC_KEY_LEN], const char *pw, size_t pwlen,
	const uint8_t salt[KMC_SALT_LEN], uint64_t ops, uint64_t mem)
{
	KMC_ENSURE(ops >= KMC_ARGON2_OPS_MIN && ops <= KMC_ARGON2_OPS_MAX,
		KMC_E_CORRUPT);
	KMC_ENSURE(mem >= KMC_ARGON2_MEM_MIN && mem <= KMC_ARGON2_MEM_MAX,
		KMC_E_CORRUPT);
	if (crypto_pwhash(out, KMC_KEY_LEN, pw, pwlen, salt, ops, (size_t)mem,
			crypto_pwhash_ALG_ARGON2ID13) != 0)
		return KMC_E_NOMEM;
	return 0;
}

void kmc_hash(uint8_t out[KMC_HASH_LEN], const void *in, size_t len)
{
	crypto_generichash(out, KMC_HASH_LEN, in, len, NULL, 0);
}

_Static_assert(sizeof(kmc_hash_state) >= sizeof(crypto_generichash_state),
	"hash state size");

void kmc_hash_init(kmc_hash_state *st)
{
	crypto_generichash_init((crypto_generichash_state *)st->opaque, NULL, 0,
		KMC_HASH_LEN);
}

void kmc_hash_update(kmc_hash_state *st, const void *in, size_t len)
{
	crypto_generichash_update((crypto_generichash_state *)st->opaque, in,
		len);
}

void kmc_hash_final(kmc_hash_state *st, uint8_t out[KMC_HASH_LEN])
{
	crypto_generichash_final((crypto_generichash_state *)st->opaque, out,
		KMC_HASH_LEN);
	kmc_wipe(st, sizeof(*st));
}

void kmc_mac(uint8_t out[KMC_HASH_LEN], const uint8_t key[KMC_KEY_LEN],
	const void *in, size_t len)
{
	crypto_generichash(out, KMC_HASH_LEN, in, len, key, KMC_KEY_LEN);
}

int kmc_memcmp(const void *a, const void *b, size_t len)
{
	return sodium_memcmp(a, b, len);
}

void kmc_wipe(void *p, size_t len)
{
	sodium_memzero(p, len);
}

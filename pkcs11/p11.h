/*
 * p11.h - the PKCS#11 side of the pkcs11 and tpm protectors, through
 * p11-kit: modules, RFC 7512 URIs, sessions, token keys.
 *
 * A protector's 32-byte secret is encrypted by a token key that never
 * leaves the token (sensitive, not extractable); the vault keeps the
 * ciphertext and derives the slot key from the secret. The token gives
 * confidentiality; the vault's own AEAD gives integrity.
 *
 * Mechanisms, chosen from what the token reports and recorded in the slot:
 *	AES key: CKM_AES_CBC with a random IV (the secret is two blocks, so no
 *	         padding) - the default, as it works on every token measured
 *	         (SoftHSM2 and tpm2-pkcs11); CKM_AES_GCM on request.
 *	RSA key: CKM_RSA_PKCS_OAEP, SHA-256, else SHA-1 (SoftHSM2 2.6 takes
 *	         only SHA-1); the vault encrypts with the public key itself.
 *
 * One logged-in session per token, and the key handles found in it, are
 * kept for the life of the process and reused (kmc_token_sessions_close()
 * drops them); after fork() the child starts over, as PKCS#11 requires.
 * Nothing here knows about vaults or files other than a PIN source.
 */
#ifndef KMC_P11_H
#define KMC_P11_H

#include <stddef.h>
#include <stdint.h>
#include <kmc.h>
#include "../kmc/common.h"

#define P11_SECRET_LEN 32
#define P11_URI_MAX 2048
#define P11_CT_MAX 1024

/* Mechanisms as recorded in a slot (PKCS#11 CKM_ values). */
#define P11_MECH_AES_CBC 0x1082ul
#define P11_MECH_AES_GCM 0x1087ul
#define P11_MECH_RSA_OAEP 0x9ul

typedef enum p11_hash {
	P11_HASH_NONE = 0,
	P11_HASH_SHA1 = 1,
	P11_HASH_SHA256 = 2,
} p11_hash;

typedef struct p11_wrapped {
	unsigned long mech;
	p11_hash hash;		/* OAEP only */
	uint8_t iv[16];
	size_t iv_len;
	uint8_t ct[P11_CT_MAX];
	size_t ct_len;
} p11_wrapped;

/* Where the PIN comes from, in this order. */
typedef struct p11_pin {
	const kmc_secret *pin;		/* --pin-file / --pin-fd */
	kmc_passphrase_cb cb;		/* a prompt, last */
	void *cb_arg;
	int uri_first;			/* pin only when the URI gives none */
} p11_pin;

/*
 * p11_uri_clean - the URI as stored: parsed and formatted by p11-kit,
 * without pin-value. *ret is malloc'd.
 */
KMC_INTERNAL int p11_uri_clean(const char *uri, char **ret) KMC_MUST_CHECK;

/*
 * RSA-OAEP encryption with a public key (n, e big-endian), done by the
 * caller's crypto library: this part knows PKCS#11 only. sha1 selects
 * SHA-1 for hash and MGF1, else SHA-256. *out_len is the room on entry.
 */
typedef int (*p11_rsa_encrypt_fn)(const uint8_t *n, size_t nlen,
	const uint8_t *e, size_t elen, int sha1, const uint8_t *in,
	size_t inlen, uint8_t *out, size_t *out_len);

/*
 * p11_protect - find (or with create, make) the key the URI names, check
 * it stays in the token, choose a mechanism (want: NULL, "aes-cbc",
 * "aes-gcm", "rsa-oaep") and encrypt secret with it. An RSA key's
 * public half encrypts outside the token, through rsa_encrypt; with
 * rsa_encrypt NULL an RSA key fails with KMC_E_INVALID.
 * Returns 0; KMC_E_P11_MODULE, KMC_E_P11_TOKEN, KMC_E_P11_PIN,
 * KMC_E_P11_PIN_LOCKED, KMC_E_P11_KEY, KMC_E_P11_KEY_TYPE, KMC_E_P11,
 * KMC_E_NEED_PASSPHRASE (no PIN), KMC_E_STRING (bad URI).
 */
KMC_INTERNAL int p11_protect(const char *uri, const p11_pin *pin, int create,
	const char *want, p11_rsa_encrypt_fn rsa_encrypt,
	const uint8_t secret[P11_SECRET_LEN], p11_wrapped *ret) KMC_MUST_CHECK;

/* p11_unprotect - decrypt w in the token into a new guarded secret. */
KMC_INTERNAL int p11_unprotect(const char *uri, const p11_pin *pin,
	const p11_wrapped *w, kmc_secret **ret) KMC_MUST_CHECK;

/* Name of a recorded mechanism, for kmc status. */
KMC_INTERNAL const char *p11_mech_name(unsigned long mech, p11_hash hash);

/* SoftHSM2 rewrites its token files at each change and login, and
   another process reading them meanwhile finds no token, fails the
   login or lists no objects: a call so failed is tried P11_UNREACHED_TRIES
   more times, the i-th (from 0) after this pause, some 20, 60 and
   150 ms with up to half as much again at random, so that processes
   that met do not meet again. */
#define P11_UNREACHED_TRIES 3
KMC_INTERNAL void p11_unreached_pause(int i);

/*
 * p11_data_get - the values of the data objects (CKO_DATA, on the token)
 * labelled label, in the token uri names, logged in with pin: none, one,
 * or more where a p11_data_put() was cut off (at most P11_DATA_COPIES).
 * p11_data_put - make a new such object (private, application
 * "kmcvault") with value val, then remove the ones there before.
 * Returns 0; KMC_E_TOO_LARGE, KMC_E_NEED_PASSPHRASE, KMC_E_P11_*,
 * KMC_E_P11, KMC_E_NOMEM, each with a detail (pkcs11/p11data.c).
 */
#define P11_DATA_MAX 256
#define P11_DATA_COPIES 4
typedef struct p11_data {
	size_t n;
	size_t len[P11_DATA_COPIES];
	uint8_t val[P11_DATA_COPIES][P11_DATA_MAX];
} p11_data;
KMC_INTERNAL int p11_data_get(const char *uri, const p11_pin *pin,
	const char *label, p11_data *ret) KMC_MUST_CHECK;
KMC_INTERNAL int p11_data_put(const char *uri, const p11_pin *pin,
	const char *label, const uint8_t *val, size_t len) KMC_MUST_CHECK;

/* Drop every cached session (tests; and before exit if wanted). */
KMC_INTERNAL void p11_reset(void);

#endif

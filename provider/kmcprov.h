/*
 * kmcprov.h - between the provider's two files: kmcprov.c (the provider,
 * STORE, key-reference decoder, errors, the vault half) and tokenkey.c
 * (keys that live on a PKCS#11 token: their key management, signatures
 * and RSA decryption).
 */
#ifndef KMC_PROVIDER_KMCPROV_H
#define KMC_PROVIDER_KMCPROV_H

#include <openssl/core.h>
#include <openssl/core_dispatch.h>
#include "vaultapi.h"

/* Reasons of our own (kmcprov.c's reason strings). */
enum {
	KMCPROV_R_OPEN = 1,
	KMCPROV_R_PASSPHRASE,
	KMCPROV_R_HOST_KEY,
	KMCPROV_R_TOKEN,
	KMCPROV_R_PERM,
	KMCPROV_R_NO_ITEM,
	KMCPROV_R_DAMAGED,
	KMCPROV_R_BAD_URI,
	KMCPROV_R_ACCESS,
};

/* Raise an error with reason and an escaped text (kmcprov.c). */
__attribute__((visibility("hidden"), format(printf, 5, 6)))
void kmcprov_error_at(const char *file, int line, const char *func,
	int reason, const char *fmt, ...);
#define kmcprov_error(reason, ...) \
	kmcprov_error_at(OPENSSL_FILE, OPENSSL_LINE, OPENSSL_FUNC, reason, \
		__VA_ARGS__)
/* Our reason for a kmc_error. */
__attribute__((visibility("hidden"))) int kmcprov_reason_of(int err);
/* The vault half's table, loaded on first use; NULL after an error. */
__attribute__((visibility("hidden")))
const kmcprov_vault_api *kmcprov_vault(void);

/*
 * tokenkey.c: hand the token key uri names (public half spki, DER) to cb
 * as a reference to a key of this provider. Returns 1, or 0 when cb
 * refused it, or -1 after raising an error (the token or the record).
 */
/*
 * kmcprov_emit_key - open the vault dir (NULL: the default) and hand the
 * key name to cb as PKCS#8 DER, or as a reference to a token key (by_ref:
 * the caller is the STORE, which may take one). 1, or 0 with the error
 * raised (kmcprov.c).
 */
__attribute__((visibility("hidden")))
int kmcprov_emit_key(const char *dir, const char *name, int by_ref,
	OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg, OSSL_CALLBACK *cb,
	void *cbarg);
/* The DECODER for key-reference files, and the core's BIO read it uses
   (set by OSSL_provider_init from the core's table; keyref.c). */
__attribute__((visibility("hidden")))
extern const OSSL_ALGORITHM kmcprov_decoders[];
__attribute__((visibility("hidden")))
extern OSSL_FUNC_BIO_read_ex_fn *kmcprov_bio_read_ex;

__attribute__((visibility("hidden")))
int kmcprov_token_key_emit(const char *uri, const unsigned char *spki,
	size_t spki_len, OSSL_CALLBACK *cb, void *cbarg);
/* Whether the token key algorithms are offered yet (tokenkey.c). */
__attribute__((visibility("hidden"))) int kmcprov_token_ops_offered(void);
__attribute__((visibility("hidden")))
extern const OSSL_ALGORITHM kmcprov_keymgmt[], kmcprov_signature[],
	kmcprov_asym_cipher[];

/* The RSA padding of OSSL_PARAM q: PKCS#1 v1.5 or, named other,
   other_mode (tokenkey.c). 1, or 0 when q cannot be read. */
int kmcprov_pad_mode(const OSSL_PARAM *q, const char *other, int other_mode,
	int *ret);

#endif

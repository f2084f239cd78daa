/*
 * tokenkey.h - what the provider's token key files share: the key object
 * (tokenkey.c), the signatures (tokensig.c), RSA decryption
 * (tokencipher.c).
 */
#ifndef KMC_PROVIDER_TOKENKEY_H
#define KMC_PROVIDER_TOKENKEY_H

#include <stdint.h>
#include <openssl/evp.h>
#include "kmcprov.h"

#define KMCPROV_HIDDEN __attribute__((visibility("hidden")))

/* Public operations go to the other providers, never back here. */
#define OTHERS "provider!=kmc"

#define RSA_NAMES "RSA:rsaEncryption:1.2.840.113549.1.1.1"
#define EC_NAMES "EC:id-ecPublicKey:1.2.840.10045.2.1"

#define FN(id, f) { id, (void (*)(void))(f) }

/* A key of this provider: on a token (uri), or a public key imported
   for a comparison (uri NULL). Reference-counted. */
typedef struct tkey {
	int refs;
	int ec;			/* EC, else RSA */
	char *uri;		/* the key URI; NULL: a public key only */
	EVP_PKEY *pub;		/* the public half, another provider's */
} tkey;

/* What a token key is handed on by. Its size differs from a pointer's:
   OpenSSL may offer it to another provider's key management (a "file:"
   store's), and theirs take a reference of pointer size only. */
typedef struct tkey_ref {
	uint64_t magic;
	tkey *k;
} tkey_ref;
#define TKEY_REF_MAGIC UINT64_C(0x6b6d63746b657931)	/* "kmctkey1" */

KMCPROV_HIDDEN void tkey_free(void *p);
/* Raise an error of the vault half r, naming what failed and the key. */
KMCPROV_HIDDEN void tkey_fail(const kmcprov_vault_api *v, int r,
	const char *what, const tkey *k);
/* The KMC_TOKEN_HASH_ of md, or of a digest of len bytes without one;
   -1 for another hash. */
KMCPROV_HIDDEN int tkey_hash_of(const EVP_MD *md, size_t len);

#endif

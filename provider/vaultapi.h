/*
 * vaultapi.h - between the provider module (kmc.so, provider/kmcprov.c)
 * and its vault half (kmc/vault.so beside it, provider/vault/api.c).
 *
 * Every program that loads the provider pays for what kmc.so links, even
 * one that never asks it for a key (a server with kmc in openssl.cnf and
 * a plain PEM key). So kmc.so links libcrypto only, and the vault code
 * (libkmcvault, libsodium, LMDB) is in vault.so, loaded on the first
 * kmc: URI or KMC KEY REFERENCE. vault.so exports one function, which
 * returns this table of the library calls the provider makes.
 *
 * Both halves come from one build: the provider takes the table only if
 * its version string is its own, so a half left from another build is
 * refused rather than called with another layout.
 */
#ifndef KMC_PROVIDER_VAULTAPI_H
#define KMC_PROVIDER_VAULTAPI_H

#include <stddef.h>
#include <kmc.h>
#include <kmc/admin.h>

/* Where the vault half lives, relative to kmc.so's directory. */
#define KMCPROV_VAULT_FILE "kmc/vault.so"
#define KMCPROV_VAULT_SYM "kmcprov_vault_get"

typedef struct kmcprov_vault_api {
	size_t size;			/* sizeof(kmcprov_vault_api) */
	const char *version;		/* kmc_version() of the build */
	const char *(*error_detail)(void);
	const char *(*strerror)(int err);
	char *(*escape)(const char *s, char *buf, size_t size);
	int (*default_vault_dir)(char *buf, size_t size);
	int (*uri_parse)(const char *uri, size_t len, char **ret_dir,
		char **ret_name);
	int (*vault_open_ex)(const char *dir, unsigned flags,
		const kmc_options *opts, kmc_vault **ret_vault);
	void (*vault_close)(kmc_vault *v);
	/* A bundle's key from one read: 0, its PKCS#8 DER in *ret_der; 1,
	   it lives on a token: its key URI and public half (as
	   kmc_token_key_info gives them); or an error (vault/tokenkey.h). */
	int (*key_or_token)(kmc_vault *v, const char *name,
		kmc_secret **ret_der, char *uri, size_t uri_size,
		unsigned char *spki, size_t *spki_len);
	unsigned char *(*secret_data)(const kmc_secret *s);
	size_t (*secret_len)(const kmc_secret *s);
	void (*secret_free)(kmc_secret *s);
	/* Keys on a PKCS#11 token (provider/tokenkey.c). */
	int (*token_key_sign)(const char *key_uri, int mech, int hash,
		int salt_len, const unsigned char *dgst, size_t dgst_len,
		unsigned char *sig, size_t *sig_len);
	int (*token_key_decrypt)(const char *key_uri, int oaep_hash,
		const unsigned char *in, size_t in_len, kmc_secret **ret);
	int (*token_key_check)(const char *key_uri, const unsigned char *spki,
		size_t spki_len);
} kmcprov_vault_api;

typedef const kmcprov_vault_api *kmcprov_vault_api_fn(void);

#endif

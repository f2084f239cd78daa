/*
 * provtable.h - the table of library calls the kmc provider (kmc.so)
 * makes once a key is asked for, and the library's own copy of it.
 *
 * kmc.so links libcrypto only and calls the vault code through this
 * table: the one its vault half, kmc/vault.so, gives (provider/vault/
 * api.c), or the one a process's libkmcvault offers it first
 * (tokenprov.c), so that a process never holds two copies of the vault
 * code at once, each with its own LMDB environment on one items.mdb
 * (LMDB allows one a file in a process: store.c). Both halves come from
 * one build: kmc.so takes a table only if its version string is its own.
 */
#ifndef KMC_VAULT_PROVTABLE_H
#define KMC_VAULT_PROVTABLE_H
#include <stddef.h>
#include <kmc.h>
#include <kmc/admin.h>

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

/* What kmc.so exports for a table offered to it: 1, taken (it opens
   vaults with it from then on); 0, refused (another build's). */
#define KMCPROV_OFFER_SYM "kmcprov_vault_offer"
typedef int kmcprov_vault_offer_fn(const kmcprov_vault_api *t);

/* This library's table (its version: this build's). */
const kmcprov_vault_api *vault_provider_table(void);

/* Offer it to every kmc.so loaded in the process (tokenprov.c): before
   the library loads a token key through kmc.so, and before it makes an
   LMDB environment (store.c), so that a kmc.so an openssl.cnf loaded
   opens vaults with this code too. 1 when another copy of the vault
   code may be in the process (this one is kmc/vault.so, or another
   vault.so or libkmcvault.so is loaded), else 0. */
int vault_offer_provider(void);

#endif

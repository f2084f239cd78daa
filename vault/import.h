/*
 * import.h - what the two halves of certImport share: the material of one
 * import (vault/importchk.c checks it, vault/import.c stages and commits
 * it). Private to those two files.
 */
#ifndef KMC_IMPORT_H
#define KMC_IMPORT_H

#include <limits.h>
#include <openssl/x509.h>
#include "vault.h"
#include "journal.h"
#include "../safeio/fileio.h"
#include "conf.h"

#define COPY_MODE 0400

KMC_INTERNAL extern const char *const copy_names[];

enum { COPY_CA, COPY_CERT, COPY_KEY, COPY_CRL, N_COPIES };

typedef struct blob {
	uint8_t *p;
	size_t len;
} blob;

/* All the material of one import, released by import_free(). */
typedef struct import_ctx {
	const kmc_import_params *p;
	char name[KMC_BUNDLE_NAME_MAX + 1];
	uint8_t *ca_raw, *cert_raw, *crl_raw;
	size_t ca_len, cert_len, crl_len;
	kmc_secret *key_raw;
	STACK_OF(X509) *ca, *chain;
	X509_CRL *crl;
	EVP_PKEY *pkey;
	kmc_secret *password;	/* the one stored: given, or made up */
	kmc_secret *pkcs8;
	blob copies[N_COPIES];	/* what goes to the keys folder */
	char keys_dir[PATH_MAX];
	int keys_dir_exists;
	char make_parent[PATH_MAX];	/* <vault>/keys, made when staging */
	char conf[PATH_MAX];
	blob conf_new;
	kmc_file_meta conf_meta;	/* kept from the file it replaces */
	blob conf_xattrs;
	char *mm;		/* server_key_mm */
	char trust[KMC_TRUST_NAME_MAX + 1];	/* the trust store, or "" */
	journal j;
	/* KMC_ITEM_TOKEN_KEY when the key went to a token: pkcs8 then holds
	   the token key record (vault/tokenkey.c), token_uri the key's URI,
	   destroyed again if the vault's commit fails. 0: a private key. */
	int key_item;
	char *token_uri;
	const struct kmc_token_params *token;
	/* The new token object's label when the URI names none: the bundle
	   name for its first key, NAME~<8 hex> for a later one, so that it
	   cannot clash with the key it replaces (which stays until pruned). */
	char token_label[KMC_BUNDLE_NAME_MAX + 16];
	/* More to change in the commit's transaction (promote, renew). */
	int (*extra)(struct import_ctx *c, kmc_vault *v, store_txn *t);
	void *extra_arg;
} import_ctx;

KMC_INTERNAL void import_free(import_ctx *c);
/* Plan, stage, commit (items, c->extra) and publish c, as one change. */
KMC_INTERNAL int import_publish(import_ctx *c, kmc_vault *v) KMC_MUST_CHECK;
/* kmc_import() with KMC_IMPORT_STAGE: the checked material into the
   bundle's staged slot (vault/promote.c), nothing served. */
KMC_INTERNAL int import_stage(import_ctx *c, kmc_vault *v) KMC_MUST_CHECK;

/* The checks (vault/importchk.c), in the order kmc_import() runs them;
   none writes anything. Each returns 0 or an error with a detail. */
KMC_INTERNAL int import_read_material(import_ctx *c) KMC_MUST_CHECK;
KMC_INTERNAL int import_check_key(import_ctx *c) KMC_MUST_CHECK;
/* A bundle's password for a key that had none: 32 random base64url
   characters in guarded memory (kmc import, kmc key gen). */
KMC_INTERNAL int import_make_password(kmc_secret **ret) KMC_MUST_CHECK;
/* 1 when name or one of its parts is an item, 0 when none is, or the
   error that kept one from being read. */
KMC_INTERNAL int import_bundle_exists(kmc_vault *v, const char *name)
	KMC_MUST_CHECK;
/* <vault>/keys/NAME ('/' as '_'), where a bundle's copies go unless
   told otherwise, into buf, and <vault>/keys into parent. */
KMC_INTERNAL int import_default_keys_dir(const import_ctx *c, kmc_vault *v,
	char *parent, size_t parent_size, char *buf, size_t size)
	KMC_MUST_CHECK;
KMC_INTERNAL int import_check_keys_dir(import_ctx *c, kmc_vault *v)
	KMC_MUST_CHECK;
/* The config file's new text and kept metadata, into c. */
KMC_INTERNAL int import_build_conf(import_ctx *c, kmc_vault *v)
	KMC_MUST_CHECK;
KMC_INTERNAL int import_conf_keep_meta(import_ctx *c, int fd,
	const struct stat *st) KMC_MUST_CHECK;
/* conf_update() on the config file conf: a failure names it, and a
 * NUL or an over-long line is malformed input. */
KMC_INTERNAL int import_conf_update(const char *conf, const uint8_t *in,
	size_t len, const conf_entry *e, size_t n, uint8_t **ret,
	size_t *ret_len) KMC_MUST_CHECK;

#endif

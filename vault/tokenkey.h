/*
 * tokenkey.h - bundles whose private key lives on a PKCS#11 token
 * (vault/tokenkey.c): the NAME/key record that says where it is, key gen
 * on a token, and the refusal of everything that needs the key's bytes.
 */
#ifndef KMC_TOKENKEY_H
#define KMC_TOKENKEY_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include "vault.h"
#include "../pkcs11/p11.h"

#define TOKEN_KEY_SPKI_MAX 1024	/* DER SubjectPublicKeyInfo, RSA-4096 fits */

/*
 * The record (item NAME/key, type KMC_ITEM_TOKEN_KEY), "key=value" lines:
 *	kmc-token-key=1
 *	uri=<key URI: token, id=, object=, module and pin-source; no PIN>
 *	type=<rsa2048|rsa3072|p256|p384>
 *	spki=<base64 of the DER SubjectPublicKeyInfo>
 * Readers look lines up by key and ignore others.
 */
typedef struct token_key_rec {
	char uri[P11_URI_MAX + 1];
	int type;			/* kmc_key_type */
	uint8_t spki[TOKEN_KEY_SPKI_MAX];
	size_t spki_len;
} token_key_rec;

/*
 * token_key_read - bundle name's token key record. Returns 0;
 * KMC_E_NOT_FOUND, KMC_E_TYPE (the bundle's key is in the vault),
 * KMC_E_CORRUPT (a record that does not parse, named).
 */
KMC_INTERNAL int token_key_read(kmc_vault *v, const char *name,
	token_key_rec *ret) KMC_MUST_CHECK;

/*
 * vault_key_or_token - for the OpenSSL provider (vault/keyexport.c):
 * bundle name's key from one read of NAME/key. A key in the vault: 0,
 * its PKCS#8 DER in *ret_der (audited as kmc_key_export). A key on a
 * token: 1, what kmc_token_key_info() gives in uri and spki. Errors as
 * kmc_key_export()'s (KMC_E_NOT_FOUND, KMC_E_TYPE, KMC_E_AUTH,
 * KMC_E_ROLLBACK...), KMC_E_CORRUPT (a token key record that does not
 * parse), KMC_E_TOO_LARGE.
 */
KMC_INTERNAL int vault_key_or_token(kmc_vault *v, const char *name,
	kmc_secret **ret_der, char *uri, size_t uri_size, unsigned char *spki,
	size_t *spki_len) KMC_MUST_CHECK;

/* token_key_parse - the token key record s (of item or bundle name, for
   the message). Returns 0, KMC_E_CORRUPT. */
KMC_INTERNAL int token_key_parse(const char *name, const kmc_secret *s,
	token_key_rec *ret) KMC_MUST_CHECK;

/*
 * The token objects a bundle's key parts name, current and old versions
 * (vault/tokenrefs.c): collected before a change that may drop records,
 * released (the objects no record names any more destroyed) after its
 * commit.
 */
typedef struct token_ref {
	char *uri;		/* the key URI */
	char *item;		/* the part that named it, e.g. "web/.p/key" */
	uint32_t version;	/* the version of the record that named it */
	int done;		/* released: destroyed, or still named */
} token_ref;
typedef struct token_refs {
	token_ref *e;
	size_t n;
	int incomplete;		/* a record could not be read, or too many */
	kmc_vault *armed;	/* the handle whose next commit lists them */
	int listed;		/* that commit added them to the list of
				   keys waiting to be destroyed */
} token_refs;

/* token_refs_collect - the URIs bundle name's key records name; a
   record that cannot be read marks the set incomplete. The set is armed
   on v: the next commit that changes records (the change's) adds its
   URIs to the list of keys waiting to be destroyed (tokenpending.h), so
   that a kill before token_refs_release leaves them for kmc repair.
   Returns 0, KMC_E_NOMEM. */
KMC_INTERNAL int token_refs_collect(kmc_vault *v, const char *name,
	token_refs *ret) KMC_MUST_CHECK;
/* token_refs_release - after the commit of a change to bundle name:
   destroy the objects of before that no record names now, each recorded
   in the audit log and the handle's token note (kmc_token_note()); a
   failure is said there, never returned. Those destroyed or still named
   leave the list (a commit of its own); one that could not be destroyed
   stays on it for kmc repair. The detail already set stays. */
KMC_INTERNAL void token_refs_release(kmc_vault *v, const char *name,
	token_refs *before);
KMC_INTERNAL void token_refs_free(token_refs *r);
/* Empty the handle's token note: at the start of each change. */
KMC_INTERNAL void token_note_clear(kmc_vault *v);

/*
 * token_key_instead - after *r, the error of reading name/key as a private
 * key: 1 and *ret when that key lives on a token (the detail cleared);
 * else 0, the detail of *r kept, or *r set to KMC_E_CORRUPT (named) when
 * name/key is a token key record that does not parse.
 */
KMC_INTERNAL int token_key_instead(kmc_vault *v, const char *name, int *r,
	token_key_rec *ret);

/*
 * token_key_refused - after r, the error of reading name/key as a
 * private key: when that key lives on a token, KMC_E_TYPE with a detail
 * saying why what (e.g. "unwrap") cannot be done; KMC_E_CORRUPT (named)
 * when its record does not parse; else r unchanged.
 */
KMC_INTERNAL int token_key_refused(kmc_vault *v, const char *name,
	const char *what, int r) KMC_MUST_CHECK;

/*
 * token_key_load - the token key rec of bundle name as an EVP_PKEY of the
 * kmc provider (loaded into libctx if it is not there), whose private
 * operations run on the token (vault/tokenprov.c). Checks first that the
 * token holds the key and the PIN logs in.
 * Returns 0; p11_key_public()'s token errors (the detail names bundle,
 * token and object), -ENOENT and the like (kmc.so not there: the detail
 * names the path tried and how to set it), KMC_E_INVALID (it does not
 * load, or the provider gave no key), KMC_E_NEED_PASSPHRASE (the
 * provider cannot open a passphrase-only vault again), KMC_E_NOMEM.
 */
KMC_INTERNAL int token_key_load(kmc_vault *v, const char *name,
	const token_key_rec *rec, OSSL_LIB_CTX *libctx, const char *propq,
	EVP_PKEY **ret) KMC_MUST_CHECK;

/* The public half of a record as an EVP_PKEY (public only). */
KMC_INTERNAL int token_key_public(const token_key_rec *rec, EVP_PKEY **ret)
	KMC_MUST_CHECK;

/*
 * token_key_sign_req - set req's signature algorithm (SHA-256; SHA-384 for
 * P-384) and sign it with the token key, logged in with tp's PIN (tp may
 * be NULL; its uri is not used) else the key URI's; req holds the public
 * key. Returns 0; p11_key_sign()'s errors, KMC_E_NOMEM.
 */
KMC_INTERNAL int token_key_sign_req(const token_key_rec *rec,
	const kmc_token_params *tp, X509_REQ *req) KMC_MUST_CHECK;

struct import_ctx;
/*
 * token_key_import - an import's checked key (c->pkey) moved into the
 * token c->token names; c->pkcs8 then holds the token key record, the
 * key's keys-folder copy is dropped (and an older one will be removed).
 * Returns 0; KMC_E_TYPE (Ed25519 and other keys tokens do not get here),
 * and kmc_key_gen_on_token()'s token errors.
 */
KMC_INTERNAL int token_key_import(struct import_ctx *c, kmc_vault *v)
	KMC_MUST_CHECK;
/* The token key token_key_import() made, destroyed again (the vault did
   not take it; it leaves v's list of keys waiting to be destroyed, or
   stays on it when it could not be destroyed); the error and detail
   already set are kept. */
KMC_INTERNAL void token_key_undo(struct import_ctx *c, kmc_vault *v);

/* A bundle name key gen takes (born.c): the name rules, and no trust:
   or ca: prefix. Returns 0 or KMC_E_NAME with a detail. */
KMC_INTERNAL int born_name_check(const char *name) KMC_MUST_CHECK;
/* A key gen's bundle in one transaction (born.c): NAME the password,
   NAME/key the key (key_type: a private key, or a token key's reference),
   NAME/meta the meta. */
KMC_INTERNAL int born_commit(kmc_vault *v, const char *name,
	const kmc_secret *pw, kmc_item_type key_type, const void *key,
	size_t key_len, const char *meta) KMC_MUST_CHECK;

#endif

/*
 * trust.h - trust stores: the record of one (vault/trustrec.c) and what
 * vault/trust.c, vault/tls.c and vault/expiry.c share.
 *
 * Record (the item "trust:STORE", KMC_ITEM_TRUST), bounded like every
 * parser, nothing after its end:
 *	version u8 1
 *	n_files u8 (0..KMC_TRUST_FILES_MAX)
 *	n_files x { len u16 (1..TRUST_PATH_MAX) | absolute path, no NUL }
 *	n_certs u16 (0..KMC_TRUST_CERTS_MAX)
 *	n_certs x { alias_len u8 | alias | flags u8 (bit 0: pinned leaf,
 *		    bit 1: a CRL follows) | der_len u32 (1..KMC_TRUST_CERT_MAX) |
 *		    DER certificate | [crl_len u32 (1..TRUST_CRL_MAX) | DER
 *		    CRL signed by that certificate] }
 * Files and aliases are unique; aliases are in name order.
 */
#ifndef KMC_TRUST_H
#define KMC_TRUST_H

#include <openssl/x509.h>
#include "vault.h"

#define TRUST_RECORD_VERSION 1
#define TRUST_PATH_MAX 1024
#define TRUST_FLAG_PINNED 0x1u
#define TRUST_FLAG_CRL 0x2u
#define TRUST_CRL_MAX (256u * 1024u)

typedef struct trust_cert {
	char alias[KMC_TRUST_NAME_MAX + 1];
	unsigned flags;
	X509 *x;
	/* The DER as stored: written back byte for byte, since OpenSSL's
	   re-encoding of a certificate is not always the same bytes. */
	uint8_t *der;
	size_t der_len;
	X509_CRL *crl;		/* with TRUST_FLAG_CRL */
	uint8_t *crl_der;
	size_t crl_len;
} trust_cert;

typedef struct trust_set {
	size_t n_files;
	char files[KMC_TRUST_FILES_MAX][TRUST_PATH_MAX + 1];
	size_t n;
	trust_cert c[KMC_TRUST_CERTS_MAX];
} trust_set;

/* The names of the items of one type named PREFIX + a name that passes
 * trust_name_check() (trust stores, CAs), the prefix left out, in the
 * store's order; free(ret->name) when done. */
typedef struct trust_names {
	char (*name)[KMC_TRUST_NAME_MAX + 1];
	size_t n, cap;
} trust_names;
KMC_INTERNAL int trust_names_of(kmc_vault *v, const char *prefix,
	kmc_item_type type, trust_names *ret) KMC_MUST_CHECK;

/* trustrec.c: the record, and the names. */
KMC_INTERNAL int trust_name_check(const char *name, int alias)
	KMC_MUST_CHECK;
KMC_INTERNAL int trust_parse(const uint8_t *p, size_t len, trust_set *ret)
	KMC_MUST_CHECK;
KMC_INTERNAL int trust_encode(const trust_set *t, uint8_t **ret,
	size_t *ret_len) KMC_MUST_CHECK;
KMC_INTERNAL void trust_set_clear(trust_set *t);
/* Make x (taken over on success) the certificate of c, with its DER. */
KMC_INTERNAL int trust_cert_set(trust_cert *c, X509 *x) KMC_MUST_CHECK;
/* Make crl (taken over on success; NULL: none) c's CRL, with its DER. */
KMC_INTERNAL int trust_crl_set(trust_cert *c, X509_CRL *crl) KMC_MUST_CHECK;
/* The certificates as PEM, each after "# ALIAS", malloc'd, NUL-ended. */
KMC_INTERNAL int trust_to_pem(const trust_set *t, char **ret,
	size_t *ret_len) KMC_MUST_CHECK;

/* trust.c: store "STORE" (NULL: the default) into *ret, a new trust_set,
   read from the vault; KMC_E_NOT_FOUND naming it when absent. */
KMC_INTERNAL int trust_load(kmc_vault *v, const char *store,
	trust_set **ret) KMC_MUST_CHECK;
KMC_INTERNAL void trust_set_free(trust_set *t);
/* Whether crl, read from file (for messages), is a CRL of trusted
   certificate x: its issuer, signed by its key, current. Returns 0,
   KMC_E_VERIFY with a detail, KMC_E_NOMEM (never a CRL blamed for an
   allocation failing). */
KMC_INTERNAL int trust_crl_check(const char *file, X509 *x, X509_CRL *crl)
	KMC_MUST_CHECK;
/* A bundle's meta text with its "trust=" line set to store (NULL: none),
   every other line kept, into out. */
KMC_INTERNAL int trust_meta_with(const uint8_t *meta, size_t len,
	const char *store, char *out, size_t size, size_t *ret_len)
	KMC_MUST_CHECK;

/* trustcommit.c: store t as item (TRUST_ITEM_PREFIX and the store's
   name), and with files rewrite every sync file it keeps, all or
   nothing (a failure after the commit leaves the journal to kmc repair:
   KMC_E_PENDING). */
KMC_INTERNAL int trust_commit(kmc_vault *v, const char *item,
	const trust_set *t, int files) KMC_MUST_CHECK;
/* After kmc restore: each sync file that is not what its (restored)
   store holds is written again (write), or only counted; *ret_files says
   how many. */
KMC_INTERNAL int trust_resync(kmc_vault *v, int write, uint64_t *ret_files)
	KMC_MUST_CHECK;

#endif

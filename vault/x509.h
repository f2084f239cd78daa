/*
 * x509.h - reading and verifying the material an import takes: CA and
 * server certificates, a private key and a CRL. Everything is checked
 * before the vault, the keys folder or a config file is touched.
 */
#ifndef KMC_X509_H
#define KMC_X509_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include "vault.h"

/* Certificates, PEM, and CRLs are public, but bounded all the same. */
#define X509_FILE_MAX (1024u * 1024u)
#define KEY_FILE_MAX (64u * 1024u)
#define KEY_PASSWORD_MAX 100	/* as certImport */

typedef enum input_kind {
	INPUT_CERT,		/* owned by the user or root, any mode */
	INPUT_KEY,		/* ... and mode at most 0640 */
	INPUT_CRL,
} input_kind;

/*
 * input_read - read an import input: reached without any symbolic link
 * (openat2 RESOLVE_NO_SYMLINKS), a regular file, owned by the user or
 * root, not empty, bounded; keys also mode <= 0640. Keys land in guarded
 * memory (*ret_secret), the rest in *ret (malloc'd).
 */
KMC_INTERNAL int input_read(const char *path, input_kind kind, uint8_t **ret,
	size_t *ret_len, kmc_secret **ret_secret) KMC_MUST_CHECK;

/*
 * certs_parse - every certificate in a PEM file (or one DER certificate)
 * into a new stack. Returns 0, KMC_E_CORRUPT (detail names the file).
 */
KMC_INTERNAL int certs_parse(const char *show, const uint8_t *data,
	size_t len, STACK_OF(X509) **ret) KMC_MUST_CHECK;
KMC_INTERNAL int crl_parse(const char *show, const uint8_t *data, size_t len,
	X509_CRL **ret) KMC_MUST_CHECK;
/*
 * crl_not_older - 0 when crl (shown as show) is not older than cur, the
 * CRL it is to replace: by CRL number when both have one, else by last
 * update; 0 too when they are not of one CA: another issuer name, or
 * another key (their authority key identifiers differ or are missing,
 * and ca, the CA certificate whose key verifies crl, does not verify
 * cur). An older one, put back, would take back what the newer revokes.
 * Returns 0, KMC_E_VERIFY (naming both and their numbers), KMC_E_NOMEM.
 */
KMC_INTERNAL int crl_not_older(const char *show, X509_CRL *crl,
	const char *show_cur, X509_CRL *cur, X509 *ca) KMC_MUST_CHECK;
/* crl_not_older() against held, the NAME/crl item bundle name holds,
   with crl's issuer in ca (crl_issuer()) as the key: one that does not
   read is nothing to compare with (what replaces it mends it, as kmc
   crl update does). */
KMC_INTERNAL int crl_not_older_than_held(const char *name,
	const char *crl_file, X509_CRL *crl, STACK_OF(X509) *ca,
	const kmc_secret *held) KMC_MUST_CHECK;
/*
 * crl_file_parse - crl_parse() of a file the user names, which holds the
 * one CRL and no other PEM block: a second CRL, or one cut short, would
 * be kept and copied out for servers, which read every block, while only
 * the first was checked. (The vault's own CRL items are read with
 * crl_parse(), as they always were.) Returns 0, KMC_E_CORRUPT.
 */
KMC_INTERNAL int crl_file_parse(const char *show, const uint8_t *data,
	size_t len, X509_CRL **ret) KMC_MUST_CHECK;

/*
 * input_error - a file the caller named that does not parse is bad input,
 * not a damaged vault: KMC_E_CORRUPT from the parsers above becomes
 * KMC_E_INVALID (the kmc command's exit 2), the detail naming the file
 * kept. What the vault itself holds stays KMC_E_CORRUPT (exit 4).
 */
static inline int input_error(int r)
{
	return r == KMC_E_CORRUPT ? KMC_E_INVALID : r;
}

/* Whether a key file is password-encrypted (PKCS#8 or legacy PEM). */
KMC_INTERNAL int key_is_encrypted(const uint8_t *data, size_t len);

/*
 * key_parse - decode a private key in any accepted form with password
 * (NULL for an unencrypted key) and check its type and size.
 * Returns 0; KMC_E_UNLOCK (the password does not open it), KMC_E_CORRUPT,
 * KMC_E_TYPE (an algorithm or size outside the policy), KMC_E_VERIFY
 * (encrypted with an algorithm OpenSSL does not offer),
 * KMC_E_NEED_PASSPHRASE, KMC_E_NOMEM (memory ran out, OpenSSL's too,
 * whatever OpenSSL's queue blamed: a failure is checked against a clean
 * library context before the key or password is blamed).
 */
KMC_INTERNAL int key_parse(const char *show, const kmc_secret *data,
	const kmc_secret *password, EVP_PKEY **ret) KMC_MUST_CHECK;

/* PKCS#8 PrivateKeyInfo DER of pkey, in guarded memory. */
KMC_INTERNAL int key_to_pkcs8(EVP_PKEY *pkey, kmc_secret **ret)
	KMC_MUST_CHECK;
/* PKCS#8 DER from the vault back to a key. */
KMC_INTERNAL int key_from_pkcs8(const kmc_secret *der, EVP_PKEY **ret)
	KMC_MUST_CHECK;
/* The same in the library context libctx (NULL: the default). */
KMC_INTERNAL int key_from_pkcs8_ex(const kmc_secret *der,
	OSSL_LIB_CTX *libctx, const char *propq, EVP_PKEY **ret)
	KMC_MUST_CHECK;
/* PEM "ENCRYPTED PRIVATE KEY" (AES-256-CBC, PBKDF2) under password. */
KMC_INTERNAL int key_to_encrypted_pem(EVP_PKEY *pkey,
	const kmc_secret *password, uint8_t **ret, size_t *ret_len)
	KMC_MUST_CHECK;

/*
 * chain_verify - the server chain (leaf first) against the CA
 * certificates: dates of every certificate, the chain itself, the key
 * matching the leaf, and the CRL when given (signed by the CA, current,
 * leaf not revoked). Detail names the file and the certificate. A chain
 * that verifies is left with its intermediates in the path's order,
 * each certified by the next (as a server must send them).
 */
typedef struct chain_files {
	const char *ca, *cert, *key, *crl;	/* for messages */
} chain_files;

KMC_INTERNAL int chain_verify(const chain_files *f, STACK_OF(X509) *ca,
	STACK_OF(X509) *chain, EVP_PKEY *key, X509_CRL *crl) KMC_MUST_CHECK;
/* The CRL alone: signed by one of ca, current, chain not revoked. */
KMC_INTERNAL int crl_verify(const chain_files *f, STACK_OF(X509) *ca,
	STACK_OF(X509) *chain, X509_CRL *crl) KMC_MUST_CHECK;
/* The certificate of ca that signed crl, into *ret (crl_verify()
   checks crl under it): of crl's issuer name, and whose key verifies it,
   as a CA file may hold a re-keyed CA's old and new certificates.
   Returns 0; KMC_E_VERIFY (none did; f names the files), KMC_E_NOMEM. */
KMC_INTERNAL int crl_issuer(const chain_files *f, STACK_OF(X509) *ca,
	X509_CRL *crl, X509 **ret) KMC_MUST_CHECK;

/*
 * x509_time_epoch - an ASN.1 time (a certificate's notBefore or notAfter,
 * a CRL's lastUpdate or nextUpdate) as seconds since the epoch.
 * Returns 0; KMC_E_CORRUPT when t is NULL or not a valid time.
 */
KMC_INTERNAL int x509_time_epoch(const ASN1_TIME *t, int64_t *ret)
	KMC_MUST_CHECK;
/*
 * x509_name_text - a distinguished name as RFC 2253 text, control bytes
 * escaped by OpenSSL, characters above ASCII as UTF-8 (escaped bytes,
 * \XX, only for a string not valid in its type); one longer than size
 * is cut at a character and ends "...".
 * Returns 0; KMC_E_NOMEM.
 */
KMC_INTERNAL int x509_name_text(const X509_NAME *name, char *buf,
	size_t size) KMC_MUST_CHECK;

/* PEM text of a stack of certificates / a CRL (malloc'd). */
KMC_INTERNAL int certs_to_pem(STACK_OF(X509) *certs, uint8_t **ret,
	size_t *ret_len) KMC_MUST_CHECK;
KMC_INTERNAL int crl_to_pem(X509_CRL *crl, uint8_t **ret, size_t *ret_len)
	KMC_MUST_CHECK;

/* Why an encrypted key did not decrypt, read from (and emptying)
 * OpenSSL's error queue; for KEY_FAILED_UNSUPPORTED, alg gets the name
 * OpenSSL gives the missing algorithm ("?" when it names none). */
enum key_failure {
	KEY_FAILED_OTHER,	/* none of these: OpenSSL's reason tells */
	KEY_FAILED_UNDECODED,	/* decrypted bytes no decoder takes: a wrong
				   password whose padding checked out (one
				   in 256), or an allocation failure while
				   decoding, which leaves the same trace */
	KEY_FAILED_PASSWORD,	/* the password does not open it */
	KEY_FAILED_UNSUPPORTED,	/* a cipher, KDF or PBE this build lacks */
	KEY_FAILED_NOMEM,	/* an allocation failed ("malloc failure",
				   or in PBKDF2's rounds "not able to copy
				   ctx", which only that raises) */
};
KMC_INTERNAL enum key_failure key_decrypt_failure(char *alg, size_t alg_len);

/*
 * time_cmp_now - X509_cmp_current_time(t) into *ret (-1: t is now or
 * past, 1: to come), its failure for want of memory told apart: OpenSSL
 * makes a time to compare with. A date not in RFC 5280's form (which
 * OpenSSL cannot compare) is KMC_E_VERIFY, its detail "SHOW: its FIELD
 * date (...) is not one RFC 5280 allows". Returns 0, KMC_E_NOMEM,
 * KMC_E_VERIFY.
 */
KMC_INTERNAL int time_cmp_now(const ASN1_TIME *t, const char *show,
	const char *field, int *ret) KMC_MUST_CHECK;
/* What a date holds, for a message: its type and at most 40 bytes of it,
   anything but printable ASCII as '?': UTCTime "301231235960Z". */
KMC_INTERNAL void x509_time_text(const ASN1_TIME *t, char *buf,
	size_t size);
/* A one-line description of the newest OpenSSL error, for details. */
KMC_INTERNAL const char *ossl_reason(void);
/* Describe one certificate; info->pem is malloc'd. */
KMC_INTERNAL int cert_describe(X509 *x, kmc_cert_info *info) KMC_MUST_CHECK;
/* Whether an allocation failure is anywhere in OpenSSL's error queue
 * (which it leaves as it was): then the input, a file or the vault's own
 * data, is not at fault and must not be blamed (KMC_E_NOMEM, never
 * KMC_E_CORRUPT, KMC_E_VERIFY or KMC_E_INVALID). */
KMC_INTERNAL int ossl_nomem(void);
/*
 * cert_signed_by, crl_signed_by - whether ca's key verifies the
 * signature of x or crl. A failed check is made once more when no
 * allocation failure is queued: OpenSSL reports some allocation failures
 * inside a verification as a signature that does not match, with no error
 * of its own (the digest's or the key's context not made, a number of the
 * EC check not allocated). A signature that verifies the second time is
 * good; one that fails twice is a mismatch, unless ossl_nomem() says
 * otherwise.
 */
KMC_INTERNAL int cert_signed_by(X509 *x, X509 *ca);
KMC_INTERNAL int crl_signed_by(X509_CRL *crl, X509 *ca);
/*
 * ossl_verify_failed_run - whether a signature check that failed (after
 * cert_signed_by's or crl_signed_by's second try, or in
 * X509_verify_cert) failed for want of memory rather than for what it
 * checked: an allocation failure queued, OpenSSL's queue lost, or, first
 * in the queue, an error of EVP or of the library's core (a signature or
 * digest that could not be fetched: OpenSSL's first fetch of an
 * algorithm, failed by an allocation, leaves it unfetchable for the rest
 * of the process, with "unsupported" queued and no allocation failure).
 * A signature that does not match, a key of another type or an unknown
 * algorithm queue errors of ASN1 or of the key's own library first.
 * Leaves the queue as it was.
 */
KMC_INTERNAL int ossl_verify_failed_run(void);
/*
 * cert_ext_flags - X509_get_extension_flags() of x, which reads and
 * caches its extensions, into *ret. OpenSSL reads them once for good: an
 * allocation failing in one marks the certificate EXFLAG_INVALID (and
 * leaves its other flags unset: no EXFLAG_CA), with the allocation's
 * errors dropped ("invalid certificate"). A certificate marked invalid
 * is read again from its bytes to tell: Returns 0 (with EXFLAG_INVALID
 * when the certificate is at fault), KMC_E_NOMEM when the mark was an
 * allocation's.
 */
KMC_INTERNAL int cert_ext_flags(X509 *x, uint32_t *ret) KMC_MUST_CHECK;
/* Whether x has no public key for want of memory: OpenSSL decodes a
   certificate's key as it reads the certificate, and one that fails then
   (an allocation's failure dropped) is left without one for good
   ("decode error" at each use). 1 when a fresh copy of x has one (or
   cannot be made), 0 when x has one or its key is at fault. */
KMC_INTERNAL int cert_pubkey_lost(X509 *x);
/* Whether x issued itself (X509_check_issued(x, x)): 1, 0, KMC_E_NOMEM
   when it could not be told (a fresh copy of it says it did, or could
   not be made). */
KMC_INTERNAL int cert_self_issued(X509 *x) KMC_MUST_CHECK;
/* Whether key is the key of certificate x (X509_check_private_key()):
   1, 0, KMC_E_NOMEM. A failure with no allocation failure queued is
   tried once more: comparing keys of two providers (a token's and the
   certificate's) exports one, and an allocation failing there says only
   that the keys differ. Keys that differ differ twice. */
KMC_INTERNAL int cert_key_matches(X509 *x, EVP_PKEY *key) KMC_MUST_CHECK;
/* Whether data holds a PEM "-----BEGIN " line anywhere. */
KMC_INTERNAL int looks_pem(const uint8_t *data, size_t len);

#endif

/*
 * ca.h - a CA whose key was born in the vault: its record
 * (vault/carec.c), the certificates it makes (vault/certmake.c), and
 * what vault/ca.c (init, revoke, CRL, list) and vault/caissue.c (cert
 * issue) share.
 *
 * The items of CA NAME (NAME as a trust store's name):
 *	ca:NAME/key	its private key, PKCS#8 DER (KMC_ITEM_PRIVATE_KEY)
 *	ca:NAME/cert	its self-signed certificate, PEM (KMC_ITEM_CERTIFICATE)
 *	ca:NAME		its record (KMC_ITEM_CA), bounded like every parser,
 *			nothing after its end:
 *	version u8 1
 *	next_crl u64 (1..2^62)	one above the last CRL number given (1
 *				before the first): the least number the
 *				next CRL may carry (ca_crl_number)
 *	n u32 (0..CA_CERTS_MAX)	the certificates it issued
 *	n x { serial_len u8 (1..CA_SERIAL_MAX) | serial (the positive
 *	      number, big-endian, first byte not 0) |
 *	      name_len u8 (1..KMC_BUNDLE_NAME_MAX) |
 *	      name (the bundle's) | kind u8 (1 server, 2 client) |
 *	      not_after i64 | flags u8 (bit 0: revoked) |
 *	      [revoked_at i64 | reason u8 (a CRL reason code but 7 and 8)]
 *	      when revoked }
 * Serials are in ascending order (by length, then bytes: by value),
 * so unique.
 */
#ifndef KMC_CA_H
#define KMC_CA_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include "vault.h"

#define CA_RECORD_VERSION 1
#define CA_ITEM_PREFIX KMC_CA_ITEM_PREFIX
/* "ca:NAME" and a NUL; its parts add "/cert". */
#define CA_ITEM_SIZE (sizeof(CA_ITEM_PREFIX) + KMC_TRUST_NAME_MAX)
#define CA_SERIAL_MAX 20
#define CA_CERTS_MAX KMC_CA_CERTS_MAX
#define CA_CRL_NUMBER_MAX (1ull << 62)
#define CA_FLAG_REVOKED 0x1u
#define CA_KIND_SERVER 1
#define CA_KIND_CLIENT 2
/* The latest date a certificate can say: 9999-12-31 23:59:59 UTC.
   OpenSSL writes dates through 2049 as UTCTime and later ones as
   GeneralizedTime, as RFC 5280 asks. */
#define CA_TIME_END INT64_C(253402300799)
/* Certificates and CRLs the vault's CAs sign are valid from this many
   seconds before they are made: a relying party whose clock runs a
   little behind would refuse one dated now as not valid yet. */
#define CA_BACKDATE 60

typedef struct ca_entry {
	uint8_t serial[CA_SERIAL_MAX];
	uint8_t serial_len;
	char name[KMC_BUNDLE_NAME_MAX + 1];
	uint8_t kind;
	uint8_t flags;
	int64_t not_after;
	int64_t revoked_at;	/* with CA_FLAG_REVOKED */
	uint8_t reason;
} ca_entry;

typedef struct ca_rec {
	uint64_t next_crl;
	size_t n, cap;
	ca_entry *e;		/* malloc'd */
} ca_rec;

/* carec.c: the record, serials and revocation reasons. */
KMC_INTERNAL int ca_rec_parse(const uint8_t *p, size_t len, ca_rec *ret)
	KMC_MUST_CHECK;
KMC_INTERNAL int ca_rec_encode(const ca_rec *c, uint8_t **ret,
	size_t *ret_len) KMC_MUST_CHECK;
KMC_INTERNAL void ca_rec_clear(ca_rec *c);
/* Insert a copy of e in serial order; KMC_E_EXISTS for a serial there,
   KMC_E_LIMIT when full, KMC_E_NOMEM. */
KMC_INTERNAL int ca_rec_add(ca_rec *c, const ca_entry *e) KMC_MUST_CHECK;
/* The index of serial in c, or -1. */
KMC_INTERNAL ssize_t ca_rec_find(const ca_rec *c, const uint8_t *serial,
	size_t len);
/*
 * The number CA c's next CRL carries when signed at now_us (microseconds
 * since 1970, UTC): the larger of c->next_crl and now_us. The clock is
 * the floor because the record's count alone goes back with the vault
 * when an older backup is restored, and the CA would then sign a second,
 * different CRL under a number it already published (RFC 5280 5.2.3:
 * numbers only grow; caches keep the highest they saw). Numbers a CA
 * gave before a restore are at most the microsecond they were signed
 * in (or their predecessor + 1, which needs more than one CRL per
 * microsecond to run ahead), so those given after it are above them as
 * long as the clock did not go back. A number above now_us tells that
 * the clock reads no later than the CA's last CRL: it went back (or was
 * once ahead), and the number is the record's.
 * Returns 0, KMC_E_LIMIT when the number would reach CA_CRL_NUMBER_MAX.
 */
KMC_INTERNAL int ca_crl_number(const ca_rec *c, uint64_t now_us,
	uint64_t *ret) KMC_MUST_CHECK;
/* Whether serial (len bytes) is a number as the record keeps one. */
KMC_INTERNAL int ca_serial_valid(const uint8_t *serial, size_t len);
/* Hex text (colons allowed between byte pairs, either case, an optional
   0x) into a serial; KMC_E_INVALID when it is none. */
KMC_INTERNAL int ca_serial_parse(const char *s, uint8_t out[CA_SERIAL_MAX],
	size_t *ret_len) KMC_MUST_CHECK;
/* Upper-case hex, as openssl x509 -serial prints it (2 * len + 1). */
KMC_INTERNAL void ca_serial_text(const uint8_t *serial, size_t len,
	char *out);
/* A reason's name (RFC 5280: "keyCompromise", ...) into its code;
   KMC_E_INVALID for none we take. ca_reason_name: NULL for none. */
KMC_INTERNAL int ca_reason_parse(const char *s, int *ret) KMC_MUST_CHECK;
KMC_INTERNAL const char *ca_reason_name(int code);

/* certmake.c: building and signing certificates and CRLs. */
typedef struct cert_plan {
	X509_NAME *subject;		/* kept by the caller */
	GENERAL_NAMES *san;		/* NULL: none */
	EVP_PKEY *key;			/* the certificate's key */
	X509 *issuer;			/* NULL: self-signed */
	EVP_PKEY *issuer_key;		/* NULL: self-signed */
	int ca;				/* a CA certificate */
	int kind;			/* CA_KIND_*: a leaf's EKU */
	int64_t not_before, not_after;
	uint8_t serial[CA_SERIAL_MAX];
	size_t serial_len;
} cert_plan;

/* A fresh random serial: CA_SERIAL_MAX bytes, first 0x01..0x7f, so
   its DER is CA_SERIAL_MAX bytes and positive (159 random bits). */
KMC_INTERNAL void certmake_serial(uint8_t out[CA_SERIAL_MAX]);
/* The digest a key of this type signs with (NULL for Ed25519). */
KMC_INTERNAL const EVP_MD *certmake_digest(EVP_PKEY *key);
/* A certificate as planned, signed. Returns 0, KMC_E_NOMEM,
   KMC_E_INVALID (OpenSSL refused a part: detail says which). */
KMC_INTERNAL int certmake_cert(const cert_plan *p, X509 **ret)
	KMC_MUST_CHECK;
/* A CRL of c's revocations signed by the CA (x, key), number
   crl_number (ca_crl_number), last update now (which the caller gives
   CA_BACKDATE early), next update next. */
KMC_INTERNAL int certmake_crl(const ca_rec *c, uint64_t crl_number,
	X509 *x, EVP_PKEY *key,
	int64_t now, int64_t next, X509_CRL **ret) KMC_MUST_CHECK;
/* now + days days, checked: days 1 or more and the end no later than
   CA_TIME_END (and than limit, when not 0, with limit_what naming
   it). Detail names option. */
KMC_INTERNAL int certmake_end(const char *option, long days, int64_t now,
	int64_t limit, const char *limit_what, int64_t *ret) KMC_MUST_CHECK;

/* ca.c: CA NAME's parts, read from the vault; key may be NULL. */
typedef struct ca_parts {
	char name[KMC_TRUST_NAME_MAX + 1];
	char item[CA_ITEM_SIZE];	/* "ca:NAME" */
	ca_rec rec;
	X509 *cert;
	uint8_t *cert_pem;
	size_t cert_pem_len;
	EVP_PKEY *key;
} ca_parts;

KMC_INTERNAL int ca_load(kmc_vault *v, const char *name, int with_key,
	ca_parts *ret) KMC_MUST_CHECK;
KMC_INTERNAL void ca_parts_free(ca_parts *p);
/* 0, or KMC_E_READONLY naming v's folder: a CA change needs a
   writable handle. */
KMC_INTERNAL int ca_writable(kmc_vault *v) KMC_MUST_CHECK;
/* Store rec as CA p's record in transaction t. */
KMC_INTERNAL int ca_rec_put(kmc_vault *v, store_txn *t, const char *item,
	const ca_rec *rec) KMC_MUST_CHECK;

#endif

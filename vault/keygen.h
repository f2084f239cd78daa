/*
 * keygen.h - private keys born in the vault (vault/keygen.c) and the
 * subjects and subject alternative names of the certificates and CSRs
 * made for them (vault/subject.c).
 */
#ifndef KMC_KEYGEN_H
#define KMC_KEYGEN_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include "vault.h"

/*
 * keygen_type_parse - "rsa2048", "rsa3072", "rsa4096", "p256", "p384" or
 * "ed25519" into *ret (a kmc_key_type). Returns 0; KMC_E_INVALID with a
 * detail naming s and the types accepted.
 */
KMC_INTERNAL int keygen_type_parse(const char *s, int *ret) KMC_MUST_CHECK;

/*
 * keygen_generate - a new key pair of type (a kmc_key_type) from
 * OpenSSL's default random generator. The private half lives only in
 * OpenSSL's structures; keygen_pkcs8() moves it to guarded memory.
 * Returns 0; KMC_E_INVALID (an unknown type), KMC_E_NOMEM.
 */
KMC_INTERNAL int keygen_generate(int type, EVP_PKEY **ret) KMC_MUST_CHECK;

/* keygen_pkcs8 - PKCS#8 PrivateKeyInfo DER of k in guarded memory, as an
 * import stores it. Returns 0; KMC_E_NOMEM, KMC_E_INVALID. */
KMC_INTERNAL int keygen_pkcs8(EVP_PKEY *k, kmc_secret **ret) KMC_MUST_CHECK;

/* Bounds of what subject_parse() and san_parse() take. */
#define SUBJECT_TEXT_MAX 1024	/* bytes of "/CN=a/O=b" */
#define SUBJECT_PARTS_MAX 32	/* attributes in one name */
#define SAN_TEXT_MAX 8192	/* bytes of "DNS:a,IP:b,..." */
#define SAN_ENTRIES_MAX 100	/* names in one extension */
#define SAN_VALUE_MAX 253	/* a DNS name's longest form; e-mail and
				   URI get SAN_URI_MAX */
#define SAN_URI_MAX 1024

/*
 * subject_parse - a distinguished name written as openssl's -subj takes
 * it: "/CN=a/O=b", one attribute a part, "\" escaping the next byte
 * ("\/" a slash, "\\" a backslash, "\+" a plus). Attribute names are
 * those a certificate subject commonly holds (C, ST, L, O, OU, CN,
 * emailAddress, serialNumber, DC, UID, street, title, GN, SN,
 * pseudonym, postalCode); values are UTF-8 without control
 * characters, within X.520's lengths (CN and O 1-64, C exactly 2).
 * Multi-valued parts ("+") are refused.
 * Returns 0; KMC_E_INVALID (detail: "--subject", the offending part and
 * what is wrong), KMC_E_TOO_LARGE, KMC_E_NOMEM.
 */
KMC_INTERNAL int subject_parse(const char *s, X509_NAME **ret)
	KMC_MUST_CHECK;

/*
 * san_parse - subject alternative names "DNS:a,IP:1.2.3.4,IP:::1,
 * email:x@y,URI:u", comma-separated, type names in any case, spaces
 * around an entry ignored. DNS names are host names (letters, digits,
 * '-', labels of 1-63, 253 in all; "*." only as the whole first label);
 * IP takes IPv4 and IPv6; email one '@' with text on both sides; URI a
 * scheme and printable ASCII. Duplicates are refused.
 * Returns 0; KMC_E_INVALID (detail: "--san", the entry and what is
 * wrong), KMC_E_TOO_LARGE, KMC_E_NOMEM.
 */
KMC_INTERNAL int san_parse(const char *s, GENERAL_NAMES **ret)
	KMC_MUST_CHECK;

#endif

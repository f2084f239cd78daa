/*
 * serverkey.h - server private keys that live on a token: made there or
 * moved there once, then used there (sign, RSA decrypt) and never read
 * back. The protectors' key work is p11.c's; reaching the token (module,
 * URI, session, login, the fork check) is token.c's.
 *
 * A key is named by a key URI: the token's URI with the key's id= (and
 * object= where given), as p11_key_generate() and p11_key_import() hand
 * it back, without any pin-value. Every private key made here is
 * CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE and not CKA_EXTRACTABLE, with a
 * public-key object of the same id and label beside it: the public half
 * is read from that object.
 *
 * Sessions are token.c's cached ones: after fork() the child finalizes
 * and initializes the module again before its first call (a pid check
 * at each use, no atfork handler). A call that fails on a reused session
 * (the token went away and came back, its server restarted) is tried
 * once more from a cold start.
 */
#ifndef KMC_P11_SERVERKEY_H
#define KMC_P11_SERVERKEY_H

#include <stddef.h>
#include <stdint.h>
#include "p11.h"

typedef enum p11_key_kind {
	P11_KEY_RSA = 1,
	P11_KEY_EC = 2,
} p11_key_kind;

/* Key types a token is asked to make (the curve or modulus is part). */
typedef enum p11_key_spec {
	P11_SPEC_RSA2048 = 1,
	P11_SPEC_RSA3072 = 2,
	P11_SPEC_P256 = 3,
	P11_SPEC_P384 = 4,
} p11_key_spec;

#define P11_RSA_MAX 512		/* bytes of the largest modulus (4096 bits) */
#define P11_EC_PARAMS_MAX 16	/* the DER OID of a named curve */
#define P11_EC_POINT_MAX 133	/* uncompressed point, up to P-521 */
#define P11_KEY_ID_LEN 16	/* random CKA_ID when the URI gives none */

/* The public half, as the public-key object holds it. */
typedef struct p11_pubkey {
	p11_key_kind kind;
	uint8_t n[P11_RSA_MAX];
	size_t n_len;
	uint8_t e[16];
	size_t e_len;
	uint8_t ec_params[P11_EC_PARAMS_MAX];	/* DER OID */
	size_t ec_params_len;
	uint8_t ec_point[P11_EC_POINT_MAX];	/* 04 || X || Y, unwrapped */
	size_t ec_point_len;
} p11_pubkey;

/* One big-endian number of a private key being moved to the token. */
typedef struct p11_bytes {
	const uint8_t *p;
	size_t len;
} p11_bytes;

/*
 * A private key in parts (the caller's crypto library takes them out of
 * guarded memory; this part knows PKCS#11 only). RSA: n e d p q dp dq
 * qinv. EC: ec_params (DER OID), ec_point (04 || X || Y) and d.
 */
typedef struct p11_key_parts {
	p11_key_kind kind;
	p11_bytes n, e, d, p, q, dp, dq, qinv;
	p11_bytes ec_params, ec_point;
} p11_key_parts;

/* Signature mechanisms; the input is always a digest of hash. */
typedef enum p11_sig {
	P11_SIG_RSA_PKCS = 1,	/* PKCS#1 v1.5: DigestInfo built here */
	P11_SIG_RSA_PSS = 2,	/* MGF1 with the same hash */
	P11_SIG_ECDSA = 3,	/* raw r || s, each the order's size */
} p11_sig;

/* Hashes for signatures and OAEP, beside p11.h's SHA-1 and SHA-256. */
#define P11_HASH_SHA384 ((p11_hash)3)
#define P11_HASH_SHA512 ((p11_hash)4)

/*
 * The caller's word before the token makes a key: fn(arg, key_uri) is
 * called with the key URI the key will have (the same string *ret_uri
 * gets: the URI's id= and object=, else a random id and the label given)
 * after the token's own checks (login, mechanism, id and label free),
 * with no lock of this part held (fn may use a token itself); a non-zero
 * return stops the call, nothing made, and is returned. made is set to
 * 1 just before C_GenerateKeyPair or C_CreateObject, and to 0 again when
 * a failure took back all the token kept: a call that fails with made 0
 * left nothing on the token. The vault records there that a key is
 * about to be made, so that a process killed before its commit leaves a
 * key kmc repair finds.
 */
typedef struct p11_key_intent {
	int (*fn)(void *arg, const char *key_uri);
	void *arg;
	int made;
} p11_key_intent;

/*
 * p11_key_generate - make a key pair of type spec on the token uri names
 * (C_GenerateKeyPair). The URI's object= becomes the label; its id= the
 * CKA_ID, else a random one. label (may be NULL) is used when the URI has
 * no object=. intent (may be NULL) is told first. *ret_uri (malloc'd) is
 * the key URI to record.
 * Returns 0; KMC_E_EXISTS (a key with that id or label is there),
 * KMC_E_P11_KEY_TYPE (the token cannot make that type), intent's error,
 * and p11_protect()'s token errors.
 */
KMC_INTERNAL int p11_key_generate(const char *uri, const p11_pin *pin,
	p11_key_spec spec, const char *label, p11_key_intent *intent,
	char **ret_uri, p11_pubkey *ret_pub) KMC_MUST_CHECK;

/*
 * p11_key_import - move a private key into the token (C_CreateObject of
 * the private key with the attributes above, and of its public half).
 * Ids, intent and errors as p11_key_generate().
 */
KMC_INTERNAL int p11_key_import(const char *uri, const p11_pin *pin,
	const p11_key_parts *parts, const char *label,
	p11_key_intent *intent, char **ret_uri, p11_pubkey *ret_pub)
	KMC_MUST_CHECK;

/*
 * p11_key_public - the public half of the key a key URI names, and check
 * that its private key is there and stays in the token.
 * Returns 0; KMC_E_P11_KEY (the key is gone: the detail names token and
 * object), KMC_E_P11_KEY_TYPE (extractable or not sensitive), and the
 * token errors.
 */
KMC_INTERNAL int p11_key_public(const char *key_uri, const p11_pin *pin,
	p11_pubkey *ret) KMC_MUST_CHECK;

/*
 * p11_key_public_seen - the public half of the key a key URI names, read
 * from its public object without logging in: the token is there and
 * holds that key, as anyone who may use the module can see. Returns 0;
 * KMC_E_P11_KEY (no such public object: the detail names token and
 * object), the token errors.
 */
KMC_INTERNAL int p11_key_public_seen(const char *key_uri, p11_pubkey *ret)
	KMC_MUST_CHECK;

/*
 * p11_pin_source_foreign - whether the key URI names a pin-source file
 * this process would not read: owned by another user than its own and
 * root (safeio's rule for secret files). A server's master that reads
 * keys for workers running as another user is such a process.
 */
KMC_INTERNAL int p11_pin_source_foreign(const char *key_uri);

/*
 * p11_key_sign - sign the digest dgst (of hash) with the key. PSS uses
 * salt_len (the hash's size when negative). *sig_len is the room on
 * entry, the signature's size on return.
 * Returns 0; KMC_E_INVALID (a digest of the wrong size, no room),
 * KMC_E_P11_KEY, KMC_E_P11_KEY_TYPE (mechanism and key disagree), token
 * errors.
 */
KMC_INTERNAL int p11_key_sign(const char *key_uri, const p11_pin *pin,
	p11_sig mech, p11_hash hash, int salt_len, const uint8_t *dgst,
	size_t dgst_len, uint8_t *sig, size_t *sig_len) KMC_MUST_CHECK;

/*
 * p11_key_decrypt - RSA decryption in the token: PKCS#1 v1.5 (oaep_hash
 * P11_HASH_NONE) or OAEP with oaep_hash for hash and MGF1. *ret is a new
 * guarded secret. Returns 0; KMC_E_AUTH (padding does not check),
 * KMC_E_P11_KEY, KMC_E_P11_KEY_TYPE, token errors.
 */
KMC_INTERNAL int p11_key_decrypt(const char *key_uri, const p11_pin *pin,
	p11_hash oaep_hash, const uint8_t *in, size_t in_len,
	kmc_secret **ret) KMC_MUST_CHECK;

/*
 * p11_key_destroy - destroy the private and public objects a key URI
 * names. A key already gone is not an error (removal is idempotent).
 * Returns 1 when an object was there and destroyed, 0 when none was, or
 * a token error.
 */
KMC_INTERNAL int p11_key_destroy(const char *key_uri, const p11_pin *pin)
	KMC_MUST_CHECK;

/* Bits of a public key (modulus or curve), 0 if unknown. */
KMC_INTERNAL unsigned p11_pubkey_bits(const p11_pubkey *pub);

#endif

/*
 * test_x509_nomem.c - allocation failures in verifying import material
 * (chain_verify(), crl_verify(): vault/chainverify.c) and a trusted
 * certificate's CRL (trust_crl_check(), vault/trust.c), in reading a
 * certificate's extensions and the vault's own key (key_from_pkcs8_ex())
 * are reported as KMC_E_NOMEM, never as a fault of the operator's files
 * or as damage; in ordering CRLs (crl_not_older(): vault/crlorder.c), a
 * signature check that failed for want of memory is never taken for
 * another CA key, which would let an older CRL in.
 *
 * The program gives OpenSSL an allocator of its own (first thing in
 * main, before OpenSSL allocates) that fails on demand. Each check is
 * run once for every allocation it makes: the n-th allocation failing
 * alone, then every allocation from the n-th on (memory that stays
 * short). Whatever n, the result must be the one without failures or
 * KMC_E_NOMEM: not "not signed by the CA", not "expired", and never
 * success where the answer is a refusal (a revoked certificate let
 * through). Counting from the call's own start, not a build's numbers,
 * the check does not depend on how OpenSSL or kmc allocate before it.
 *
 * The material is made with the OpenSSL API and read back from DER, as
 * kmc reads an operator's files: a CA, a server certificate of it, an
 * empty CRL and one revoking the server certificate.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <valgrind/valgrind.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/provider.h>
#include <openssl/x509v3.h>

#include "../../vault/trust.h"
#include "../../vault/x509.h"

#define DAY (24L * 3600L)
#define CA_FILE "/nowhere/CA-FILE.crt"
#define CERT_FILE "/nowhere/CERT-FILE.crt"
#define KEY_FILE "/nowhere/KEY-FILE.key"
#define CRL_FILE "/nowhere/CRL-FILE.crl"

/* ---------------------------------------------------------------- */
/* An allocator that fails on demand                                 */

/* Every allocation is failed in turn (stride 1); KMC_ALLOC_STRIDE=k
   fails one in k, for a quicker look. Not under memcheck or ASan: their
   leak checks report OpenSSL 3.0's own leaks on its allocation-failure
   paths (a method store's entries in EVP_KEYMGMT_do_all_provided) as
   definite, and their slowness, over OpenSSL's thousands of allocations
   for each of thousands of runs, is more than CI's time allows. The
   fault suites run kmc's allocation failures under both. */
static long stride = 1;
static int stride_set;		/* KMC_ALLOC_STRIDE given */

static int slow_checker(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return 1;
#else
	return RUNNING_ON_VALGRIND;
#endif
}

static int armed;		/* counting and failing */
static int sticky;		/* every allocation from fail_at on fails */
static long count, fail_at;
static long failed;		/* allocations refused in this run */

/* The test's own allocations within a run (its material's bytes) are
   not the code's under test: not counted. */
static int paused_armed;

static void armed_pause(int on)
{
	if (on) {
		paused_armed = armed;
		armed = 0;
	} else {
		armed = paused_armed;
	}
}

static int refuse(void)
{
	if (!armed)
		return 0;
	if (count++ == fail_at || (sticky && count > fail_at)) {
		failed++;
		errno = ENOMEM;
		return 1;
	}
	return 0;
}

static void *t_malloc(size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	return refuse() ? NULL : malloc(n);
}

static void *t_realloc(void *p, size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	if (n == 0) {
		free(p);
		return NULL;
	}
	return refuse() ? NULL : realloc(p, n);
}

static void t_free(void *p, const char *file, int line)
{
	(void)file;
	(void)line;
	free(p);
}

/* ---------------------------------------------------------------- */
/* Material                                                          */

typedef struct material {
	EVP_PKEY *ca_key, *leaf_key;
	STACK_OF(X509) *ca, *chain;
	X509_CRL *crl_empty, *crl_revoking;
	/* CRLs naming no authority key identifier, numbered 1 and 2, of the
	   CA's key; number 1 of another key under the CA's name (ca_new) */
	EVP_PKEY *ca_new_key;
	STACK_OF(X509) *ca_new;
	X509_CRL *crl_n1, *crl_n2, *crl_new_n1;
	kmc_secret *held_n2;		/* crl_n2 as the vault keeps it */
	/* The same read again in a library context of their own (fresh),
	   made anew for each run of a sweep: OpenSSL's first fetch of each
	   algorithm is in the run, as it is in a process of kmc's. */
	OSSL_LIB_CTX *libctx;
	STACK_OF(X509) *fresh_ca, *fresh_chain;
	X509_CRL *fresh_crl_empty, *fresh_crl_revoking;
	X509_CRL *fresh_crl_n1, *fresh_crl_n2;
	EVP_PKEY *fresh_leaf_key;
	kmc_secret *pkcs8;		/* leaf_key as the vault keeps it */
	kmc_secret *enc_pem, *password;	/* leaf_key encrypted (PBKDF2) */
	kmc_secret *enc_legacy;		/* leaf_key in "Proc-Type: 4,ENCRYPTED" */
} material;

static material *M;

static void add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);

	assert_non_null(ext);
	assert_int_equal(X509_add_ext(x, ext, -1), 1);
	X509_EXTENSION_free(ext);
}

/* x written to DER and read back: its names and fields as kmc reads a
   file's (with the encodings OpenSSL keeps of what it decoded). */
static X509 *reread_cert(X509 *x)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	int len = i2d_X509(x, &der);
	X509 *y;

	assert_true(len > 0);
	p = der;
	y = d2i_X509(NULL, &p, len);
	assert_non_null(y);
	OPENSSL_free(der);
	X509_free(x);
	return y;
}

static X509_CRL *reread_crl(X509_CRL *c)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	int len = i2d_X509_CRL(c, &der);
	X509_CRL *y;

	assert_true(len > 0);
	p = der;
	y = d2i_X509_CRL(NULL, &p, len);
	assert_non_null(y);
	OPENSSL_free(der);
	X509_CRL_free(c);
	return y;
}

static X509 *make_cert(const char *cn, EVP_PKEY *key, X509 *issuer,
	EVP_PKEY *issuer_key, long serial)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	X509V3_CTX ctx;

	assert_non_null(x);
	assert_non_null(name);
	assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), serial), 1);
	assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
		(const unsigned char *)cn, -1, -1, 0), 1);
	assert_int_equal(X509_set_subject_name(x, name), 1);
	assert_int_equal(X509_set_issuer_name(x, issuer ?
		X509_get_subject_name(issuer) : name), 1);
	X509_NAME_free(name);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -DAY));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 30 * DAY));
	assert_int_equal(X509_set_pubkey(x, key), 1);
	X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
	if (!issuer) {
		add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		add_ext(x, &ctx, NID_basic_constraints, "CA:FALSE");
		add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature");
		add_ext(x, &ctx, NID_ext_key_usage, "serverAuth");
		add_ext(x, &ctx, NID_subject_alt_name, "DNS:localhost");
	}
	add_ext(x, &ctx, NID_subject_key_identifier, "hash");
	if (issuer)
		add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always");
	assert_true(X509_sign(x, issuer_key ? issuer_key : key,
		EVP_sha256()) > 0);
	return reread_cert(x);
}

/* A version 2 CRL of issuer, current for a week, not yet signed. */
static X509_CRL *crl_unsigned(X509 *issuer)
{
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *t;

	assert_non_null(crl);
	assert_int_equal(X509_CRL_set_version(crl, X509_CRL_VERSION_2), 1);
	assert_int_equal(X509_CRL_set_issuer_name(crl,
		X509_get_subject_name(issuer)), 1);
	t = X509_gmtime_adj(NULL, -3600);
	assert_int_equal(X509_CRL_set1_lastUpdate(crl, t), 1);
	ASN1_TIME_free(t);
	t = X509_gmtime_adj(NULL, 7 * DAY);
	assert_int_equal(X509_CRL_set1_nextUpdate(crl, t), 1);
	ASN1_TIME_free(t);
	return crl;
}

static X509_CRL *make_crl(X509 *issuer, EVP_PKEY *key, long serial)
{
	X509_CRL *crl = crl_unsigned(issuer);
	ASN1_TIME *t;

	if (serial) {
		X509_REVOKED *rv = X509_REVOKED_new();
		ASN1_INTEGER *s = ASN1_INTEGER_new();

		assert_non_null(rv);
		assert_non_null(s);
		assert_int_equal(ASN1_INTEGER_set(s, serial), 1);
		assert_int_equal(X509_REVOKED_set_serialNumber(rv, s), 1);
		ASN1_INTEGER_free(s);
		t = X509_gmtime_adj(NULL, -3600);
		assert_int_equal(X509_REVOKED_set_revocationDate(rv, t), 1);
		ASN1_TIME_free(t);
		assert_int_equal(X509_CRL_add0_revoked(crl, rv), 1);
	}
	assert_int_equal(X509_CRL_sort(crl), 1);
	assert_true(X509_CRL_sign(crl, key, EVP_sha256()) > 0);
	return reread_crl(crl);
}

/* A CRL of issuer signed by key, CRL number number, no authority key
   identifier (as openssl ca writes without crl_extensions). */
static X509_CRL *make_crl_numbered(X509 *issuer, EVP_PKEY *key, long number)
{
	X509_CRL *crl = crl_unsigned(issuer);
	ASN1_INTEGER *n = ASN1_INTEGER_new();

	assert_non_null(n);
	assert_int_equal(ASN1_INTEGER_set(n, number), 1);
	assert_int_equal(X509_CRL_add1_ext_i2d(crl, NID_crl_number, n, 0, 0),
		1);
	ASN1_INTEGER_free(n);
	assert_true(X509_CRL_sign(crl, key, EVP_sha256()) > 0);
	return reread_crl(crl);
}

/* x, crl as read from DER into a library context's objects. */
static X509 *cert_in(OSSL_LIB_CTX *libctx, X509 *x)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	int len = i2d_X509(x, &der);
	X509 *y = X509_new_ex(libctx, NULL);

	assert_true(len > 0);
	assert_non_null(y);
	p = der;
	assert_non_null(d2i_X509(&y, &p, len));
	OPENSSL_free(der);
	return y;
}

static X509_CRL *crl_in(OSSL_LIB_CTX *libctx, X509_CRL *c)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	int len = i2d_X509_CRL(c, &der);
	X509_CRL *y = X509_CRL_new_ex(libctx, NULL);

	assert_true(len > 0);
	assert_non_null(y);
	p = der;
	assert_non_null(d2i_X509_CRL(&y, &p, len));
	OPENSSL_free(der);
	return y;
}

static EVP_PKEY *key_in(OSSL_LIB_CTX *libctx, EVP_PKEY *k)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	int len = i2d_PrivateKey(k, &der);
	EVP_PKEY *y;

	assert_true(len > 0);
	p = der;
	y = d2i_AutoPrivateKey_ex(NULL, &p, len, libctx, NULL);
	assert_non_null(y);
	OPENSSL_clear_free(der, (size_t)len);
	return y;
}

/* cert_in() that may fail (under the test's allocator): NULL. */
static X509 *cert_in_maybe(OSSL_LIB_CTX *libctx, X509 *x)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	int len;
	X509 *y;

	armed_pause(1);
	len = i2d_X509(x, &der);
	armed_pause(0);
	assert_true(len > 0);
	y = X509_new_ex(libctx, NULL);
	p = der;
	if (y && !d2i_X509(&y, &p, len)) {
		X509_free(y);
		y = NULL;
	}
	OPENSSL_free(der);
	return y;
}

static void fresh_free(void)
{
	sk_X509_pop_free(M->fresh_ca, X509_free);
	sk_X509_pop_free(M->fresh_chain, X509_free);
	X509_CRL_free(M->fresh_crl_empty);
	X509_CRL_free(M->fresh_crl_revoking);
	X509_CRL_free(M->fresh_crl_n1);
	X509_CRL_free(M->fresh_crl_n2);
	M->fresh_crl_n1 = M->fresh_crl_n2 = NULL;
	EVP_PKEY_free(M->fresh_leaf_key);
	M->fresh_leaf_key = NULL;
	OSSL_LIB_CTX_free(M->libctx);
	M->fresh_ca = M->fresh_chain = NULL;
	M->fresh_crl_empty = M->fresh_crl_revoking = NULL;
	M->libctx = NULL;
}

/* The material in a new library context, nothing fetched in it yet. */
static void fresh_make(void)
{
	fresh_free();
	M->libctx = OSSL_LIB_CTX_new();
	assert_non_null(M->libctx);
	M->fresh_ca = sk_X509_new_null();
	M->fresh_chain = sk_X509_new_null();
	assert_non_null(M->fresh_ca);
	assert_non_null(M->fresh_chain);
	assert_true(sk_X509_push(M->fresh_ca, cert_in(M->libctx,
		sk_X509_value(M->ca, 0))) > 0);
	assert_true(sk_X509_push(M->fresh_chain, cert_in(M->libctx,
		sk_X509_value(M->chain, 0))) > 0);
	M->fresh_crl_empty = crl_in(M->libctx, M->crl_empty);
	M->fresh_crl_revoking = crl_in(M->libctx, M->crl_revoking);
	M->fresh_crl_n1 = crl_in(M->libctx, M->crl_n1);
	M->fresh_crl_n2 = crl_in(M->libctx, M->crl_n2);
	M->fresh_leaf_key = key_in(M->libctx, M->leaf_key);
}

#define PASSWORD "correct horse battery"

/* leaf_key as an operator's encrypted PEM (PBES2: PBKDF2, AES-256-CBC),
   of 3 rounds: each round of PBKDF2 allocates, and the sweep tries
   every allocation. */
static void make_encrypted_key(void)
{
	PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(M->leaf_key);
	X509_SIG *sig;
	BIO *bio = BIO_new(BIO_s_mem());
	char *p;
	long n;

	assert_non_null(p8);
	assert_non_null(bio);
	sig = PKCS8_encrypt(-1, EVP_aes_256_cbc(), PASSWORD,
		(int)strlen(PASSWORD), NULL, 0, 3, p8);
	assert_non_null(sig);
	assert_int_equal(PEM_write_bio_PKCS8(bio, sig), 1);
	n = BIO_get_mem_data(bio, &p);
	assert_true(n > 0);
	assert_int_equal(kmc_secret_dup(p, (size_t)n, &M->enc_pem), 0);
	assert_int_equal(kmc_secret_dup(PASSWORD, strlen(PASSWORD),
		&M->password), 0);
	X509_SIG_free(sig);
	PKCS8_PRIV_KEY_INFO_free(p8);
	BIO_free(bio);
}

/* leaf_key in the legacy PEM encryption (RFC 1421's headers, AES-256-CBC
   under EVP_BytesToKey's MD5), as `openssl ec -aes256` writes it. */
static void make_legacy_key(void)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *p;
	long n;

	assert_non_null(bio);
	assert_int_equal(PEM_write_bio_PrivateKey_traditional(bio, M->leaf_key,
		EVP_aes_256_cbc(), (unsigned char *)PASSWORD,
		(int)strlen(PASSWORD), NULL, NULL), 1);
	n = BIO_get_mem_data(bio, &p);
	assert_true(n > 0);
	assert_non_null(memmem(p, (size_t)n, "Proc-Type: 4,ENCRYPTED", 22));
	assert_int_equal(kmc_secret_dup(p, (size_t)n, &M->enc_legacy), 0);
	BIO_free(bio);
}

static int setup(void **state)
{
	X509 *ca;

	(void)state;
	M = calloc(1, sizeof(*M));
	assert_non_null(M);
	M->ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	M->leaf_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	assert_non_null(M->ca_key);
	assert_non_null(M->leaf_key);
	ca = make_cert("Nomem Test CA", M->ca_key, NULL, NULL, 1);
	M->ca = sk_X509_new_null();
	M->chain = sk_X509_new_null();
	assert_non_null(M->ca);
	assert_non_null(M->chain);
	assert_true(sk_X509_push(M->ca, ca) > 0);
	assert_true(sk_X509_push(M->chain, make_cert("localhost",
		M->leaf_key, ca, M->ca_key, 10)) > 0);
	M->crl_empty = make_crl(ca, M->ca_key, 0);
	M->crl_revoking = make_crl(ca, M->ca_key, 10);
	assert_int_equal(key_to_pkcs8(M->leaf_key, &M->pkcs8), 0);
	make_encrypted_key();
	M->crl_n1 = make_crl_numbered(ca, M->ca_key, 1);
	M->crl_n2 = make_crl_numbered(ca, M->ca_key, 2);
	M->ca_new_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	assert_non_null(M->ca_new_key);
	M->ca_new = sk_X509_new_null();
	assert_non_null(M->ca_new);
	assert_true(sk_X509_push(M->ca_new, make_cert("Nomem Test CA",
		M->ca_new_key, NULL, NULL, 2)) > 0);
	M->crl_new_n1 = make_crl_numbered(sk_X509_value(M->ca_new, 0),
		M->ca_new_key, 1);
	{
		unsigned char *der = NULL;
		int len = i2d_X509_CRL(M->crl_n2, &der);

		assert_true(len > 0);
		assert_int_equal(kmc_secret_dup(der, (size_t)len, &M->held_n2),
			0);
		OPENSSL_free(der);
	}
	make_legacy_key();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	fresh_free();
	sk_X509_pop_free(M->ca, X509_free);
	sk_X509_pop_free(M->chain, X509_free);
	X509_CRL_free(M->crl_empty);
	X509_CRL_free(M->crl_revoking);
	EVP_PKEY_free(M->ca_key);
	EVP_PKEY_free(M->leaf_key);
	kmc_secret_free(M->pkcs8);
	kmc_secret_free(M->enc_pem);
	kmc_secret_free(M->password);
	X509_CRL_free(M->crl_n1);
	X509_CRL_free(M->crl_n2);
	X509_CRL_free(M->crl_new_n1);
	sk_X509_pop_free(M->ca_new, X509_free);
	EVP_PKEY_free(M->ca_new_key);
	kmc_secret_free(M->held_n2);
	kmc_secret_free(M->enc_legacy);
	free(M);
	return 0;
}

/* ---------------------------------------------------------------- */
/* The sweep                                                         */

static const chain_files FILES = { CA_FILE, CERT_FILE, KEY_FILE, CRL_FILE };

typedef int (*check_fn)(void);

static int crl_empty(void)
{
	return crl_verify(&FILES, M->ca, M->chain, M->crl_empty);
}

static int crl_revoking(void)
{
	return crl_verify(&FILES, M->ca, M->chain, M->crl_revoking);
}

static int fresh_crl_empty(void)
{
	return crl_verify(&FILES, M->fresh_ca, M->fresh_chain,
		M->fresh_crl_empty);
}

static int fresh_crl_revoking(void)
{
	return crl_verify(&FILES, M->fresh_ca, M->fresh_chain,
		M->fresh_crl_revoking);
}

static int fresh_chain_crl_revoking(void)
{
	return chain_verify(&FILES, M->fresh_ca, M->fresh_chain,
		M->fresh_leaf_key, M->fresh_crl_revoking);
}

static int trust_crl(void)
{
	return trust_crl_check(CRL_FILE, sk_X509_value(M->ca, 0),
		M->crl_empty);
}

static int fresh_trust_crl(void)
{
	return trust_crl_check(CRL_FILE, sk_X509_value(M->fresh_ca, 0),
		M->fresh_crl_empty);
}

/* 0 when cert_ext_flags() reads the CA as one, KMC_E_VERIFY when not. */
static int fresh_ca_flags(void)
{
	uint32_t flags = 0;
	int r = cert_ext_flags(sk_X509_value(M->fresh_ca, 0), &flags);

	if (r < 0)
		return r;
	return (flags & EXFLAG_CA) && !(flags & EXFLAG_INVALID) ? 0 :
		KMC_E_VERIFY;
}

static int fresh_ca_self_issued(void)
{
	return cert_self_issued(sk_X509_value(M->fresh_ca, 0));
}

static int fresh_leaf_self_issued(void)
{
	return cert_self_issued(sk_X509_value(M->fresh_chain, 0));
}

/* The key of another library context than the certificate's, as a
   token's key is of another provider: comparing them exports one. */
static int fresh_chain_other_key(void)
{
	return chain_verify(&FILES, M->fresh_ca, M->fresh_chain, M->leaf_key,
		M->fresh_crl_empty);
}

/* The vault's own key decoded (the first decoding in the library
   context): never "damaged" for want of memory. */
static int fresh_key_from_pkcs8(void)
{
	EVP_PKEY *k = NULL;
	int r = key_from_pkcs8_ex(M->pkcs8, M->libctx, NULL, &k);

	armed = 0;	/* the comparison is the test's, not under test */
	if (r == 0 && EVP_PKEY_eq(k, M->leaf_key) != 1)
		r = KMC_E_INVALID;
	EVP_PKEY_free(k);
	return r;
}

/* The certificates read in the window too: OpenSSL decodes a
   certificate's key as it reads it, and keeps none when that fails. A
   certificate that does not read is the reader's to report (not here). */
static int fresh_read_chain(void)
{
	STACK_OF(X509) *ca = sk_X509_new_null(), *chain = sk_X509_new_null();
	X509 *x = NULL, *y = NULL;
	int r = KMC_E_NOMEM;

	x = cert_in_maybe(M->libctx, sk_X509_value(M->ca, 0));
	y = cert_in_maybe(M->libctx, sk_X509_value(M->chain, 0));
	if (ca && chain && x && y && sk_X509_push(ca, x) > 0) {
		x = NULL;
		if (sk_X509_push(chain, y) > 0) {
			y = NULL;
			r = chain_verify(&FILES, ca, chain, M->fresh_leaf_key,
				M->fresh_crl_empty);
		}
	}
	X509_free(x);
	X509_free(y);
	sk_X509_pop_free(ca, X509_free);
	sk_X509_pop_free(chain, X509_free);
	return r;
}

/* An operator's encrypted key read with its password. */
static int encrypted_key(void)
{
	EVP_PKEY *k = NULL;
	int r = key_parse(KEY_FILE, M->enc_pem, M->password, &k);

	armed = 0;	/* the comparison is the test's, not under test */
	if (r == 0 && EVP_PKEY_eq(k, M->leaf_key) != 1)
		r = KMC_E_INVALID;
	EVP_PKEY_free(k);
	return r;
}

/* The same in a fresh default library context, as in a kmc import
   process: the first fetch of the decoders, of SHA256, PBKDF2 and
   AES-256-CBC (PKCS#8), or of MD5 and AES-256-CBC (legacy PEM) is in
   the run. key_parse() reads in the default context. */
static int fresh_default_key_parse(const kmc_secret *data)
{
	OSSL_LIB_CTX *prev;
	EVP_PKEY *k = NULL;
	int r;

	armed_pause(1);
	prev = OSSL_LIB_CTX_set0_default(M->libctx);
	armed_pause(0);
	r = key_parse(KEY_FILE, data, M->password, &k);
	armed = 0;	/* the rest is the test's, not under test */
	OSSL_LIB_CTX_set0_default(prev);
	if (r == 0 && EVP_PKEY_eq(k, M->leaf_key) != 1)
		r = KMC_E_INVALID;
	EVP_PKEY_free(k);
	return r;
}

static int fresh_encrypted_key(void)
{
	return fresh_default_key_parse(M->enc_pem);
}

static int fresh_legacy_key(void)
{
	return fresh_default_key_parse(M->enc_legacy);
}

/* A key written as PKCS#8 (the first encoding in the library context):
   never "invalid argument" for want of memory. */
static int fresh_key_to_pkcs8(void)
{
	kmc_secret *der = NULL;
	int r = key_to_pkcs8(M->fresh_leaf_key, &der);

	kmc_secret_free(der);
	return r;
}

static int chain_crl_empty(void)
{
	return chain_verify(&FILES, M->ca, M->chain, M->leaf_key,
		M->crl_empty);
}

static int chain_crl_revoking(void)
{
	return chain_verify(&FILES, M->ca, M->chain, M->leaf_key,
		M->crl_revoking);
}

/* CRL order without authority key identifiers (vault/crlorder.c): the
   CA's key tells whether the held CRL (number 2) is of the same key as
   the new one. A verification failed for want of memory is not "another
   key": that would let the older CRL (number 1) in. */
static int crl_older_same_key(void)
{
	return crl_not_older(CRL_FILE, M->crl_n1, "HELD", M->crl_n2,
		sk_X509_value(M->ca, 0));
}

static int crl_newer_same_key(void)
{
	return crl_not_older(CRL_FILE, M->crl_n2, "HELD", M->crl_n1,
		sk_X509_value(M->ca, 0));
}

/* The CA's name given a new key: its number 1 is not compared. */
static int crl_other_key(void)
{
	return crl_not_older(CRL_FILE, M->crl_new_n1, "HELD", M->crl_n2,
		sk_X509_value(M->ca_new, 0));
}

static int fresh_crl_older_same_key(void)
{
	return crl_not_older(CRL_FILE, M->fresh_crl_n1, "HELD",
		M->fresh_crl_n2, sk_X509_value(M->fresh_ca, 0));
}

/* The held CRL as the vault keeps it, read in the run, its CA found in
   the CA file's certificates. */
static int crl_older_than_held(void)
{
	return crl_not_older_than_held("b", CRL_FILE, M->crl_n1, M->ca,
		M->held_n2);
}

/* fn with the n-th allocation failing (and every one after when
   sticky), for each n (one in stride) until a run fails none; every
   result must be want (its detail holding want_detail) or KMC_E_NOMEM.
   The number of runs with an allocation failed is returned: the sweep
   did reach fn's allocations. */
static long sweep(check_fn fn, int want, const char *want_detail,
	int is_sticky, int fresh)
{
	long runs = 0;
	int r;

	if (slow_checker())
		skip();
	/* Without failures first: the answer the sweep holds to. */
	if (fresh)
		fresh_make();
	ERR_clear_error();
	r = fn();
	assert_int_equal(r, want);
	if (want_detail)
		assert_non_null(strstr(kmc_error_detail(), want_detail));
	for (long n = 0;; n += stride) {
		if (fresh)
			fresh_make();
		ERR_clear_error();
		count = 0;
		failed = 0;
		fail_at = n;
		sticky = is_sticky;
		armed = 1;
		r = fn();
		armed = 0;
		if (failed == 0) {
			assert_int_equal(r, want);
			break;
		}
		runs++;
		if (r == KMC_E_NOMEM)
			continue;
		if (r != want || (want_detail && !strstr(kmc_error_detail(),
				want_detail)))
			fail_msg("allocation %ld failing%s: result %d (%s), "
				"want %d or KMC_E_NOMEM", n, is_sticky ?
				" (and every one after)" : "", r,
				r ? kmc_error_detail() : "success", want);
	}
	ERR_clear_error();
	return runs;
}

static void test_crl_verify_empty(void **state)
{
	(void)state;
	assert_true(sweep(crl_empty, 0, NULL, 0, 0) > 0);
	assert_true(sweep(crl_empty, 0, NULL, 1, 0) > 0);
}

static void test_crl_verify_revoking(void **state)
{
	(void)state;
	assert_true(sweep(crl_revoking, KMC_E_VERIFY, "is revoked by", 0, 0) > 0);
	assert_true(sweep(crl_revoking, KMC_E_VERIFY, "is revoked by", 1, 0) > 0);
}

/* The first fetch of a signature's algorithm failed by an allocation
   leaves it unfetchable in that library context: "not signed by the CA"
   or "does not chain" it must not say. */
static void test_crl_verify_first_fetch(void **state)
{
	(void)state;
	assert_true(sweep(fresh_crl_empty, 0, NULL, 0, 1) > 0);
	assert_true(sweep(fresh_crl_revoking, KMC_E_VERIFY, "is revoked by",
		0, 1) > 0);
	assert_true(sweep(fresh_chain_crl_revoking, KMC_E_VERIFY,
		"is revoked by", 0, 1) > 0);
	assert_true(sweep(fresh_trust_crl, 0, NULL, 0, 1) > 0);
	assert_true(sweep(fresh_chain_other_key, 0, NULL, 0, 1) > 0);
	assert_true(sweep(fresh_key_from_pkcs8, 0, NULL, 0, 1) > 0);
	assert_true(sweep(fresh_key_to_pkcs8, 0, NULL, 0, 1) > 0);
	assert_true(sweep(fresh_read_chain, 0, NULL, 0, 1) > 0);
}

/* A certificate's extensions read for the first time: an allocation
   failing marks it invalid for good, with no CA flag. */
static void test_extensions_first_read(void **state)
{
	(void)state;
	assert_true(sweep(fresh_ca_flags, 0, NULL, 0, 1) > 0);
	assert_true(sweep(fresh_ca_self_issued, 1, NULL, 0, 1) > 0);
	/* Not its own issuer by name: told with or without allocations. */
	(void)sweep(fresh_leaf_self_issued, 0, NULL, 0, 1);
}

static void test_encrypted_key(void **state)
{
	(void)state;
	assert_true(sweep(encrypted_key, 0, NULL, 0, 0) > 0);
}

/* The first fetches of an encrypted key's algorithms failed by an
   allocation: never "does not offer", "the password does not open the
   key" nor "damaged" (PKCS#8 PBES2, then legacy PEM encryption). Each
   run is a whole first decoding (some 17,000 allocations for PKCS#8):
   make check fails one in KEY_STRIDE, which still lands in each fetch
   that went wrong before the fix (the runs that failed a fetch for good
   were 10 to 19 in a row, for each of SHA256, PBKDF2, AES-256-CBC, MD5);
   make check-full (KMC_ALLOC_STRIDE=1) fails each. */
#define KEY_STRIDE 7

static void test_encrypted_key_first_fetch(void **state)
{
	long keep = stride;

	(void)state;
	if (!stride_set)
		stride = KEY_STRIDE;
	assert_true(sweep(fresh_encrypted_key, 0, NULL, 0, 1) > 0);
	assert_true(sweep(fresh_legacy_key, 0, NULL, 0, 1) > 0);
	stride = keep;
}

static void test_trust_crl_check(void **state)
{
	(void)state;
	assert_true(sweep(trust_crl, 0, NULL, 0, 0) > 0);
	assert_true(sweep(trust_crl, 0, NULL, 1, 0) > 0);
}

static void test_chain_verify_crl_empty(void **state)
{
	(void)state;
	assert_true(sweep(chain_crl_empty, 0, NULL, 0, 0) > 0);
	assert_true(sweep(chain_crl_empty, 0, NULL, 1, 0) > 0);
}

static void test_chain_verify_crl_revoking(void **state)
{
	(void)state;
	assert_true(sweep(chain_crl_revoking, KMC_E_VERIFY, "is revoked by",
		0, 0) > 0);
	assert_true(sweep(chain_crl_revoking, KMC_E_VERIFY, "is revoked by",
		1, 0) > 0);
}

static void test_crl_order_by_key(void **state)
{
	(void)state;
	assert_true(sweep(crl_older_same_key, KMC_E_VERIFY,
		"its CRL number 1 is lower than 2", 0, 0) > 0);
	assert_true(sweep(crl_older_same_key, KMC_E_VERIFY,
		"its CRL number 1 is lower than 2", 1, 0) > 0);
	assert_true(sweep(crl_newer_same_key, 0, NULL, 0, 0) > 0);
	assert_true(sweep(crl_other_key, 0, NULL, 0, 0) > 0);
	assert_true(sweep(crl_other_key, 0, NULL, 1, 0) > 0);
	assert_true(sweep(crl_older_than_held, KMC_E_VERIFY, "is older than "
		"the CRL b holds", 0, 0) > 0);
	assert_true(sweep(crl_older_than_held, KMC_E_VERIFY, "is older than "
		"the CRL b holds", 1, 0) > 0);
	/* The first fetch of the signature's algorithm in the run. */
	assert_true(sweep(fresh_crl_older_same_key, KMC_E_VERIFY,
		"its CRL number 1 is lower than 2", 0, 1) > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crl_verify_empty),
		cmocka_unit_test(test_crl_verify_revoking),
		cmocka_unit_test(test_trust_crl_check),
		cmocka_unit_test(test_encrypted_key),
		cmocka_unit_test(test_encrypted_key_first_fetch),
		cmocka_unit_test(test_extensions_first_read),
		cmocka_unit_test(test_crl_verify_first_fetch),
		cmocka_unit_test(test_chain_verify_crl_empty),
		cmocka_unit_test(test_chain_verify_crl_revoking),
		cmocka_unit_test(test_crl_order_by_key),
	};

	const char *k = getenv("KMC_ALLOC_STRIDE");

	if (k && atol(k) > 0) {
		stride = atol(k);
		stride_set = 1;
	}
	/* Before OpenSSL allocates anything, or it keeps its own. */
	if (!CRYPTO_set_mem_functions(t_malloc, t_realloc, t_free)) {
		fprintf(stderr, "test_x509_nomem: OpenSSL allocated before "
			"main\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}

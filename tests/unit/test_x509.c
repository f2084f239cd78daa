/*
 * test_x509.c - reading and verifying import material (vault/x509.c).
 *
 * All material is made fresh at the start with the OpenSSL API (EC P-256
 * keys, which are quick; one RSA-1024 key for the policy): a root CA, an
 * intermediate, a second CA, server certificates good, expired, not yet
 * valid, of another key and of the other CA, and CRLs empty, revoking,
 * out of date and of another CA. Files for input_read() go to a mkdtemp()
 * folder that the group teardown removes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include "unit_files.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/proverr.h>
#include <openssl/x509v3.h>

#include "../../vault/x509.h"

#define PASSWORD "correct horse battery"
#define DAY (24L * 3600L)

/* Names for chain_files: the details must quote them. */
#define CA_FILE "/nowhere/CA-FILE.crt"
#define CERT_FILE "/nowhere/CERT-FILE.crt"
#define KEY_FILE "/nowhere/KEY-FILE.key"
#define CRL_FILE "/nowhere/CRL-FILE.crl"

typedef struct bytes {
	uint8_t *p;
	size_t len;
} bytes;

typedef struct material {
	char dir[64];
	EVP_PKEY *ca_key, *ca2_key, *ca_twin_key, *inter_key;
	EVP_PKEY *leaf_key, *leaf2_key, *other_key, *inter_leaf_key;
	EVP_PKEY *rsa1024, *p384, *k256, *ed25519;
	X509 *ca, *ca2, *ca_twin, *inter, *ca_expired;
	X509 *leaf, *leaf2, *leaf_other, *leaf_expired, *leaf_future;
	X509 *inter_leaf, *leaf_of_expired_ca;
	X509_CRL *crl_empty, *crl_revoking, *crl_other, *crl_twin, *crl_old;
	X509_CRL *crl_revoking_inter;
} material;

static material *M;

/* ---------------------------------------------------------------- */
/* Making material                                                   */

static EVP_PKEY *gen_ec(const char *curve)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);

	assert_non_null(k);
	return k;
}

static void add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);

	assert_non_null(ext);
	assert_int_equal(X509_add_ext(x, ext, -1), 1);
	X509_EXTENSION_free(ext);
}

/*
 * A certificate for key named cn, signed by issuer/issuer_key (itself
 * when issuer is NULL), valid from now + from to now + to seconds.
 */
static X509 *make_cert(const char *cn, EVP_PKEY *key, X509 *issuer,
	EVP_PKEY *issuer_key, int ca, long serial, long from, long to)
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
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), from));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), to));
	assert_int_equal(X509_set_pubkey(x, key), 1);
	X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
	if (ca) {
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
	return x;
}

/* A CRL of issuer, current unless told, revoking serial unless 0. */
static X509_CRL *make_crl(X509 *issuer, EVP_PKEY *key, long serial,
	long last, long next)
{
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *t;

	assert_non_null(crl);
	assert_int_equal(X509_CRL_set_version(crl, X509_CRL_VERSION_2), 1);
	assert_int_equal(X509_CRL_set_issuer_name(crl,
		X509_get_subject_name(issuer)), 1);
	t = X509_gmtime_adj(NULL, last);
	assert_int_equal(X509_CRL_set1_lastUpdate(crl, t), 1);
	ASN1_TIME_free(t);
	t = X509_gmtime_adj(NULL, next);
	assert_int_equal(X509_CRL_set1_nextUpdate(crl, t), 1);
	ASN1_TIME_free(t);
	if (serial) {
		X509_REVOKED *rv = X509_REVOKED_new();
		ASN1_INTEGER *s = ASN1_INTEGER_new();

		assert_non_null(rv);
		assert_non_null(s);
		assert_int_equal(ASN1_INTEGER_set(s, serial), 1);
		assert_int_equal(X509_REVOKED_set_serialNumber(rv, s), 1);
		ASN1_INTEGER_free(s);
		t = X509_gmtime_adj(NULL, last);
		assert_int_equal(X509_REVOKED_set_revocationDate(rv, t), 1);
		ASN1_TIME_free(t);
		assert_int_equal(X509_CRL_add0_revoked(crl, rv), 1);
	}
	assert_int_equal(X509_CRL_sort(crl), 1);
	assert_true(X509_CRL_sign(crl, key, EVP_sha256()) > 0);
	return crl;
}

/* What a memory BIO holds, malloc'd; the BIO is freed. */
static bytes bio_bytes(BIO *bio)
{
	char *p;
	long n = BIO_get_mem_data(bio, &p);
	bytes b;

	assert_true(n > 0);
	b.len = (size_t)n;
	b.p = malloc(b.len);
	assert_non_null(b.p);
	memcpy(b.p, p, b.len);
	BIO_free(bio);
	return b;
}

static BIO *mem_bio(void)
{
	BIO *bio = BIO_new(BIO_s_mem());

	assert_non_null(bio);
	return bio;
}

static bytes cert_pem(X509 *const *x, size_t n)
{
	BIO *bio = mem_bio();

	for (size_t i = 0; i < n; i++)
		assert_int_equal(PEM_write_bio_X509(bio, x[i]), 1);
	return bio_bytes(bio);
}

static bytes cert_der(X509 *x)
{
	BIO *bio = mem_bio();

	assert_int_equal(i2d_X509_bio(bio, x), 1);
	return bio_bytes(bio);
}

static bytes crl_pem(X509_CRL *crl)
{
	BIO *bio = mem_bio();

	assert_int_equal(PEM_write_bio_X509_CRL(bio, crl), 1);
	return bio_bytes(bio);
}

static bytes crl_der(X509_CRL *crl)
{
	BIO *bio = mem_bio();

	assert_int_equal(i2d_X509_CRL_bio(bio, crl), 1);
	return bio_bytes(bio);
}

typedef enum key_form {
	PKCS8_PEM, PKCS8_DER,		/* PrivateKeyInfo */
	PKCS8_ENC_PEM, PKCS8_ENC_DER,	/* EncryptedPrivateKeyInfo */
	TRAD_PEM, TRAD_DER,		/* PKCS#1 for RSA, SEC1 for EC */
	TRAD_ENC_PEM,			/* legacy "Proc-Type: 4,ENCRYPTED" */
	SPKI_PEM,			/* the public key only */
} key_form;

static bytes key_bytes(EVP_PKEY *k, key_form form)
{
	const EVP_CIPHER *aes = EVP_aes_256_cbc();
	void *pw = (void *)PASSWORD;
	BIO *bio = mem_bio();
	int ok = 0;

	switch (form) {
	case PKCS8_PEM:
		ok = PEM_write_bio_PKCS8PrivateKey(bio, k, NULL, NULL, 0, NULL,
			NULL);
		break;
	case PKCS8_DER:
		ok = i2d_PKCS8PrivateKey_bio(bio, k, NULL, NULL, 0, NULL, NULL);
		break;
	case PKCS8_ENC_PEM:
		ok = PEM_write_bio_PKCS8PrivateKey(bio, k, aes, NULL, 0, NULL,
			pw);
		break;
	case PKCS8_ENC_DER:
		ok = i2d_PKCS8PrivateKey_bio(bio, k, aes, NULL, 0, NULL, pw);
		break;
	case TRAD_PEM:
		ok = PEM_write_bio_PrivateKey_traditional(bio, k, NULL, NULL, 0,
			NULL, NULL);
		break;
	case TRAD_DER:
		ok = i2d_PrivateKey_bio(bio, k);
		break;
	case TRAD_ENC_PEM:
		ok = PEM_write_bio_PrivateKey_traditional(bio, k, aes, NULL, 0,
			NULL, pw);
		break;
	case SPKI_PEM:
		ok = PEM_write_bio_PUBKEY(bio, k);
		break;
	}
	assert_int_equal(ok, 1);
	return bio_bytes(bio);
}

static kmc_secret *secret_of(const void *p, size_t n)
{
	kmc_secret *s = NULL;

	assert_int_equal(kmc_secret_dup(p, n, &s), 0);
	return s;
}

static kmc_secret *secret_str(const char *s)
{
	return secret_of(s, strlen(s));
}

static STACK_OF(X509) *stack_of(X509 *const *x, size_t n)
{
	STACK_OF(X509) *s = sk_X509_new_null();

	assert_non_null(s);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(X509_up_ref(x[i]), 1);
		assert_true(sk_X509_push(s, x[i]) > 0);
	}
	return s;
}

static char *path_in(const char *name)
{
	static char buf[4][256];
	static int next;
	char *p = buf[next++ % 4];

	snprintf(p, sizeof(buf[0]), "%s/%s", M->dir, name);
	return p;
}

/* ---------------------------------------------------------------- */
/* Group setup                                                       */

static int group_setup(void **state)
{
	material *m = calloc(1, sizeof(*m));

	(void)state;
	if (!m || kmc_crypto_init() != 0)
		return -1;
	M = m;
	snprintf(m->dir, sizeof(m->dir), "/tmp/kmc-test-x509-XXXXXX");
	if (!mkdtemp(m->dir))
		return -1;

	m->ca_key = gen_ec("P-256");
	m->ca2_key = gen_ec("P-256");
	m->ca_twin_key = gen_ec("P-256");
	m->inter_key = gen_ec("P-256");
	m->leaf_key = gen_ec("P-256");
	m->leaf2_key = gen_ec("P-256");
	m->other_key = gen_ec("P-256");
	m->inter_leaf_key = gen_ec("P-256");
	m->p384 = gen_ec("P-384");
	m->k256 = gen_ec("secp256k1");
	m->rsa1024 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	m->ed25519 = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (!m->rsa1024 || !m->ed25519)
		return -1;

	m->ca = make_cert("kmc test CA", m->ca_key, NULL, NULL, 1, 1,
		-DAY, 30 * DAY);
	m->ca2 = make_cert("another CA", m->ca2_key, NULL, NULL, 1, 1,
		-DAY, 30 * DAY);
	/* The name of the CA with another key: an impostor. */
	m->ca_twin = make_cert("kmc test CA", m->ca_twin_key, NULL, NULL, 1, 1,
		-DAY, 30 * DAY);
	m->ca_expired = make_cert("kmc old CA", m->ca2_key, NULL, NULL, 1, 9,
		-30 * DAY, -DAY);
	m->inter = make_cert("kmc intermediate", m->inter_key, m->ca,
		m->ca_key, 1, 2, -DAY, 30 * DAY);
	m->leaf = make_cert("localhost", m->leaf_key, m->ca, m->ca_key, 0, 10,
		-DAY, 30 * DAY);
	m->leaf2 = make_cert("localhost two", m->leaf2_key, m->ca, m->ca_key,
		0, 11, -DAY, 30 * DAY);
	m->leaf_expired = make_cert("localhost expired", m->leaf_key, m->ca,
		m->ca_key, 0, 12, -30 * DAY, -DAY);
	m->leaf_future = make_cert("localhost future", m->leaf_key, m->ca,
		m->ca_key, 0, 13, DAY, 30 * DAY);
	m->leaf_other = make_cert("localhost of another CA", m->other_key,
		m->ca2, m->ca2_key, 0, 10, -DAY, 30 * DAY);
	m->inter_leaf = make_cert("localhost via intermediate",
		m->inter_leaf_key, m->inter, m->inter_key, 0, 20, -DAY,
		30 * DAY);
	m->leaf_of_expired_ca = make_cert("localhost of old CA", m->leaf_key,
		m->ca_expired, m->ca2_key, 0, 21, -2 * DAY, 30 * DAY);

	m->crl_empty = make_crl(m->ca, m->ca_key, 0, -3600, 7 * DAY);
	m->crl_revoking = make_crl(m->ca, m->ca_key, 10, -3600, 7 * DAY);
	m->crl_revoking_inter = make_crl(m->ca, m->ca_key, 2, -3600, 7 * DAY);
	m->crl_other = make_crl(m->ca2, m->ca2_key, 0, -3600, 7 * DAY);
	m->crl_twin = make_crl(m->ca_twin, m->ca_twin_key, 0, -3600, 7 * DAY);
	m->crl_old = make_crl(m->ca, m->ca_key, 0, -8 * DAY, -DAY);
	return 0;
}

static int group_teardown(void **state)
{
	material *m = M;

	(void)state;
	if (!m)
		return 0;
	if (m->dir[0])
		(void)rm_rf(m->dir);
	EVP_PKEY_free(m->ca_key);
	EVP_PKEY_free(m->ca2_key);
	EVP_PKEY_free(m->ca_twin_key);
	EVP_PKEY_free(m->inter_key);
	EVP_PKEY_free(m->leaf_key);
	EVP_PKEY_free(m->leaf2_key);
	EVP_PKEY_free(m->other_key);
	EVP_PKEY_free(m->inter_leaf_key);
	EVP_PKEY_free(m->rsa1024);
	EVP_PKEY_free(m->p384);
	EVP_PKEY_free(m->k256);
	EVP_PKEY_free(m->ed25519);
	X509_free(m->ca);
	X509_free(m->ca2);
	X509_free(m->ca_twin);
	X509_free(m->ca_expired);
	X509_free(m->inter);
	X509_free(m->leaf);
	X509_free(m->leaf2);
	X509_free(m->leaf_expired);
	X509_free(m->leaf_future);
	X509_free(m->leaf_other);
	X509_free(m->inter_leaf);
	X509_free(m->leaf_of_expired_ca);
	X509_CRL_free(m->crl_empty);
	X509_CRL_free(m->crl_revoking);
	X509_CRL_free(m->crl_revoking_inter);
	X509_CRL_free(m->crl_other);
	X509_CRL_free(m->crl_twin);
	X509_CRL_free(m->crl_old);
	free(m);
	M = NULL;
	return 0;
}

/* ---------------------------------------------------------------- */
/* certs_parse                                                       */

static int parse_certs(const uint8_t *p, size_t n, int *count)
{
	STACK_OF(X509) *s = NULL;
	int r = certs_parse("CERTS-SHOWN", p, n, &s);

	if (r == 0) {
		assert_non_null(s);
		if (count)
			*count = sk_X509_num(s);
		sk_X509_pop_free(s, X509_free);
	} else {
		assert_null(s);
	}
	return r;
}

static void test_certs_pem_one(void **state)
{
	bytes b = cert_pem(&M->leaf, 1);
	STACK_OF(X509) *s = NULL;

	(void)state;
	assert_int_equal(certs_parse("one.pem", b.p, b.len, &s), 0);
	assert_int_equal(sk_X509_num(s), 1);
	assert_int_equal(X509_cmp(sk_X509_value(s, 0), M->leaf), 0);
	sk_X509_pop_free(s, X509_free);
	free(b.p);
}

static void test_certs_pem_three(void **state)
{
	X509 *three[] = { M->inter_leaf, M->inter, M->ca };
	bytes b = cert_pem(three, 3);
	STACK_OF(X509) *s = NULL;
	uint8_t *p;
	static const char junk[] = "some words before\n";

	(void)state;
	assert_int_equal(certs_parse("three.pem", b.p, b.len, &s), 0);
	assert_int_equal(sk_X509_num(s), 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(X509_cmp(sk_X509_value(s, i), three[i]), 0);
	sk_X509_pop_free(s, X509_free);
	/* Text around the blocks, as "openssl x509 -text" leaves, is fine. */
	p = malloc(b.len + 2 * sizeof(junk));
	assert_non_null(p);
	memcpy(p, junk, sizeof(junk) - 1);
	memcpy(p + sizeof(junk) - 1, b.p, b.len);
	memcpy(p + sizeof(junk) - 1 + b.len, junk, sizeof(junk) - 1);
	{
		int n = 0;

		assert_int_equal(parse_certs(p, b.len + 2 * (sizeof(junk) - 1),
			&n), 0);
		assert_int_equal(n, 3);
	}
	free(p);
	free(b.p);
}

static void test_certs_der(void **state)
{
	bytes b = cert_der(M->ca);
	STACK_OF(X509) *s = NULL;

	(void)state;
	assert_int_equal(certs_parse("ca.der", b.p, b.len, &s), 0);
	assert_int_equal(sk_X509_num(s), 1);
	assert_int_equal(X509_cmp(sk_X509_value(s, 0), M->ca), 0);
	sk_X509_pop_free(s, X509_free);
	free(b.p);
}

static void test_certs_der_trailing(void **state)
{
	bytes b = cert_der(M->leaf);
	uint8_t *p = malloc(b.len + 4);

	(void)state;
	assert_non_null(p);
	memcpy(p, b.p, b.len);
	for (size_t extra = 1; extra <= 4; extra++) {
		memset(p + b.len, extra == 1 ? 0 : 0x30, extra);
		kmc_detail_clear();
		assert_int_equal(parse_certs(p, b.len + extra, NULL),
			KMC_E_CORRUPT);
		assert_non_null(strstr(kmc_error_detail(), "CERTS-SHOWN"));
	}
	/* Two DER certificates back to back are not a DER file either. */
	{
		bytes c = cert_der(M->ca);
		uint8_t *two = malloc(b.len + c.len);

		assert_non_null(two);
		memcpy(two, b.p, b.len);
		memcpy(two + b.len, c.p, c.len);
		assert_int_equal(parse_certs(two, b.len + c.len, NULL),
			KMC_E_CORRUPT);
		free(two);
		free(c.p);
	}
	free(p);
	free(b.p);
}

static void test_certs_der_truncated(void **state)
{
	bytes b = cert_der(M->leaf);

	(void)state;
	for (size_t cut = 0; cut < b.len; cut++) {
		uint8_t *p = malloc(cut ? cut : 1);

		assert_non_null(p);
		memcpy(p, b.p, cut);
		assert_int_equal(parse_certs(p, cut, NULL), KMC_E_CORRUPT);
		free(p);
	}
	free(b.p);
}

/*
 * A PEM file cut anywhere from the start of its base64 to the end of
 * its "-----END CERTIFICATE-----" line is refused. (Cut inside the BEGIN
 * line, nothing is left that looks like a certificate: refused too.)
 */
static void test_certs_pem_truncated(void **state)
{
	bytes b = cert_pem(&M->leaf, 1);
	const char *end = "-----END CERTIFICATE-----";
	size_t end_at;

	(void)state;
	end_at = (size_t)((uint8_t *)memmem(b.p, b.len, end, strlen(end)) -
		b.p) + strlen(end);
	for (size_t cut = 0; cut < end_at; cut++) {
		uint8_t *p = malloc(cut ? cut : 1);

		assert_non_null(p);
		memcpy(p, b.p, cut);
		if (parse_certs(p, cut, NULL) != KMC_E_CORRUPT)
			fail_msg("a PEM certificate cut at %zu of %zu parsed",
				cut, b.len);
		free(p);
	}
	/* Without its last newline the file is whole. */
	assert_int_equal(parse_certs(b.p, end_at, NULL), 0);
	free(b.p);
}

/* The last of three certificates cut inside its base64. */
static void test_certs_pem_three_truncated(void **state)
{
	X509 *three[] = { M->leaf, M->inter, M->ca };
	bytes b = cert_pem(three, 3);
	const char *begin = "-----BEGIN CERTIFICATE-----\n";
	uint8_t *third = b.p;
	size_t from;

	(void)state;
	/* The first BEGIN is at 0; step to the second, then the third. */
	for (int i = 0; i < 2; i++) {
		third = memmem(third + 1, b.len - (size_t)(third + 1 - b.p),
			begin, strlen(begin));
		assert_non_null(third);
	}
	from = (size_t)(third - b.p) + strlen(begin);
	for (size_t cut = from; cut < b.len - 1; cut++) {
		kmc_detail_clear();
		if (parse_certs(b.p, cut, NULL) != KMC_E_CORRUPT)
			fail_msg("three PEM certificates cut at %zu of %zu "
				"parsed", cut, b.len);
	}
	assert_non_null(strstr(kmc_error_detail(), "CERTS-SHOWN"));
	free(b.p);
}

/*
 * A file cut inside the "-----BEGIN CERTIFICATE-----" line of a later
 * certificate is truncated just the same, and must be refused.
 *
 * KNOWN BUG: certs_parse() accepts it with the certificates before the
 * cut. OpenSSL's PEM reader skips a partial BEGIN line as ordinary text
 * and ends with "no start line", which certs_parse() takes for a clean
 * end of file; the last certificate is dropped without a word.
 */
static void test_certs_pem_cut_in_begin_line(void **state)
{
	X509 *two[] = { M->leaf, M->ca };
	bytes b = cert_pem(two, 2);
	const char *begin = "-----BEGIN CERTIFICATE-----";
	uint8_t *second;
	size_t at;

	(void)state;
	second = memmem(b.p + 1, b.len - 1, begin, strlen(begin));
	assert_non_null(second);
	at = (size_t)(second - b.p);
	/* Cut right before it: a whole file of one certificate. */
	{
		int n = 0;

		assert_int_equal(parse_certs(b.p, at, &n), 0);
		assert_int_equal(n, 1);
	}
	/* Cut after "-----BEGIN " up to the end of that line. */
	for (size_t cut = at + strlen("-----BEGIN "); cut <= at +
			strlen(begin); cut++)
		if (parse_certs(b.p, cut, NULL) != KMC_E_CORRUPT)
			fail_msg("two PEM certificates cut at %zu, inside the "
				"second BEGIN line (%zu..%zu), parsed", cut, at,
				at + strlen(begin));
	free(b.p);
}

static void test_certs_garbage(void **state)
{
	static const char *const bad[] = {
		"",
		"hello, world\n",
		"-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
		"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
		"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
		"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n",
		"\x30\x03\x02\x01\x01",
		"\x30\x82\xff\xff",
	};
	uint8_t rnd[512];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(parse_certs((const uint8_t *)bad[i],
			strlen(bad[i]), NULL), KMC_E_CORRUPT);
	for (size_t i = 0; i < sizeof(rnd); i++)
		rnd[i] = (uint8_t)(i * 151 + 17);
	assert_int_equal(parse_certs(rnd, sizeof(rnd), NULL), KMC_E_CORRUPT);
	/* A private key is not a certificate. */
	{
		bytes k = key_bytes(M->leaf_key, PKCS8_PEM);

		assert_int_equal(parse_certs(k.p, k.len, NULL), KMC_E_CORRUPT);
		OPENSSL_cleanse(k.p, k.len);
		free(k.p);
	}
	/* Nor is a CRL, in DER. */
	{
		bytes c = crl_der(M->crl_empty);

		assert_int_equal(parse_certs(c.p, c.len, NULL), KMC_E_CORRUPT);
		free(c.p);
	}
}

/* ---------------------------------------------------------------- */
/* crl_parse                                                         */

static void test_crl_pem_der(void **state)
{
	bytes pem = crl_pem(M->crl_revoking), der = crl_der(M->crl_revoking);
	X509_CRL *crl = NULL;

	(void)state;
	assert_int_equal(crl_parse("c.pem", pem.p, pem.len, &crl), 0);
	assert_int_equal(X509_CRL_cmp(crl, M->crl_revoking), 0);
	assert_int_equal(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)), 1);
	X509_CRL_free(crl);
	crl = NULL;
	assert_int_equal(crl_parse("c.der", der.p, der.len, &crl), 0);
	assert_int_equal(X509_CRL_cmp(crl, M->crl_revoking), 0);
	X509_CRL_free(crl);
	free(pem.p);
	free(der.p);
}

static void test_crl_bad(void **state)
{
	bytes pem = crl_pem(M->crl_empty), der = crl_der(M->crl_empty);
	bytes cert = cert_der(M->ca);
	X509_CRL *crl = NULL;
	uint8_t *p = malloc(der.len + 1);

	(void)state;
	assert_non_null(p);
	memcpy(p, der.p, der.len);
	p[der.len] = 0;
	kmc_detail_clear();
	assert_int_equal(crl_parse("CRL-SHOWN", p, der.len + 1, &crl),
		KMC_E_CORRUPT);
	assert_null(crl);
	assert_non_null(strstr(kmc_error_detail(), "CRL-SHOWN"));
	for (size_t cut = 0; cut < der.len; cut++)
		assert_int_equal(crl_parse("c", p, cut, &crl), KMC_E_CORRUPT);
	for (size_t cut = 0; cut < pem.len - 1; cut++)
		assert_int_equal(crl_parse("c", pem.p, cut, &crl),
			KMC_E_CORRUPT);
	assert_int_equal(crl_parse("c", (const uint8_t *)"garbage", 7, &crl),
		KMC_E_CORRUPT);
	assert_int_equal(crl_parse("c", cert.p, cert.len, &crl),
		KMC_E_CORRUPT);
	assert_null(crl);
	free(p);
	free(pem.p);
	free(der.p);
	free(cert.p);
}

/* ---------------------------------------------------------------- */
/* Keys                                                              */

static int is_encrypted(EVP_PKEY *k, key_form form)
{
	bytes b = key_bytes(k, form);
	int r = key_is_encrypted(b.p, b.len);

	OPENSSL_cleanse(b.p, b.len);
	free(b.p);
	return r;
}

static void test_key_is_encrypted(void **state)
{
	(void)state;
	assert_true(is_encrypted(M->leaf_key, PKCS8_ENC_PEM));
	assert_true(is_encrypted(M->leaf_key, PKCS8_ENC_DER));
	assert_true(is_encrypted(M->leaf_key, TRAD_ENC_PEM));
	assert_true(is_encrypted(M->rsa1024, PKCS8_ENC_PEM));
	assert_true(is_encrypted(M->rsa1024, PKCS8_ENC_DER));
	assert_true(is_encrypted(M->rsa1024, TRAD_ENC_PEM));
	/* Plain: PKCS#1 (RSA), SEC1 (EC), PKCS#8, in PEM and DER. */
	assert_false(is_encrypted(M->rsa1024, TRAD_PEM));
	assert_false(is_encrypted(M->rsa1024, TRAD_DER));
	assert_false(is_encrypted(M->leaf_key, TRAD_PEM));
	assert_false(is_encrypted(M->leaf_key, TRAD_DER));
	assert_false(is_encrypted(M->leaf_key, PKCS8_PEM));
	assert_false(is_encrypted(M->leaf_key, PKCS8_DER));
	assert_false(is_encrypted(M->rsa1024, PKCS8_PEM));
	assert_false(is_encrypted(M->rsa1024, PKCS8_DER));
	assert_false(is_encrypted(M->ed25519, PKCS8_DER));
	assert_false(key_is_encrypted((const uint8_t *)"", 0));
	assert_false(key_is_encrypted((const uint8_t *)"junk", 4));
	/* An encrypted DER key with a byte after it is not one. */
	{
		bytes b = key_bytes(M->leaf_key, PKCS8_ENC_DER);
		uint8_t *p = malloc(b.len + 1);

		assert_non_null(p);
		memcpy(p, b.p, b.len);
		p[b.len] = 0;
		assert_false(key_is_encrypted(p, b.len + 1));
		assert_false(key_is_encrypted(p, b.len - 1));
		free(p);
		free(b.p);
	}
}

/* key_parse on k in form with password pw (NULL: none). */
static int parse_key(EVP_PKEY *k, key_form form, const char *pw,
	EVP_PKEY **ret)
{
	bytes b = key_bytes(k, form);
	kmc_secret *data = secret_of(b.p, b.len);
	kmc_secret *pass = pw ? secret_str(pw) : NULL;
	EVP_PKEY *got = NULL;
	int r;

	OPENSSL_cleanse(b.p, b.len);
	free(b.p);
	ERR_clear_error();
	r = key_parse("KEY-SHOWN", data, pass, &got);
	kmc_secret_free(data);
	kmc_secret_free(pass);
	if (r == 0) {
		assert_non_null(got);
		assert_int_equal(EVP_PKEY_eq(got, k), 1);
	} else {
		assert_null(got);
	}
	if (ret)
		*ret = got;
	else
		EVP_PKEY_free(got);
	return r;
}

static void test_key_parse_forms(void **state)
{
	static const key_form plain[] = { PKCS8_PEM, PKCS8_DER, TRAD_PEM,
		TRAD_DER };
	static const key_form enc[] = { PKCS8_ENC_PEM, PKCS8_ENC_DER,
		TRAD_ENC_PEM };

	(void)state;
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		assert_int_equal(parse_key(M->leaf_key, plain[i], NULL, NULL), 0);
		/* A password for a plain key is not used. */
		assert_int_equal(parse_key(M->leaf_key, plain[i], "unused",
			NULL), 0);
	}
	for (size_t i = 0; i < sizeof(enc) / sizeof(enc[0]); i++)
		assert_int_equal(parse_key(M->leaf_key, enc[i], PASSWORD, NULL),
			0);
	assert_int_equal(parse_key(M->p384, PKCS8_DER, NULL, NULL), 0);
	assert_int_equal(parse_key(M->ed25519, PKCS8_PEM, NULL, NULL), 0);
	assert_int_equal(parse_key(M->ed25519, PKCS8_ENC_DER, PASSWORD, NULL),
		0);
}

/* A wrong password that happens to leave valid padding (one in 256) ends
 * in the decoder's "unsupported", as a PBE the build lacks ends in the
 * EVP fetch's: only the second is a missing algorithm, and the first is
 * also what an allocation failure while decoding leaves (key_parse then
 * tries once more). Each queue as OpenSSL 3.0 leaves it, raised here
 * since none can be had on demand. */
static void test_key_decrypt_failure(void **state)
{
	char alg[64];

	(void)state;
	ERR_clear_error();
	ERR_raise_data(ERR_LIB_OSSL_DECODER, ERR_R_UNSUPPORTED,
		"No supported data to decode. ");
	assert_int_equal(key_decrypt_failure(alg, sizeof(alg)),
		KEY_FAILED_UNDECODED);
	assert_int_equal(ERR_peek_error(), 0);	/* the queue is emptied */

	ERR_raise(ERR_LIB_PROV, PROV_R_BAD_DECRYPT);
	ERR_raise(ERR_LIB_PKCS12, PKCS12_R_PKCS12_CIPHERFINAL_ERROR);
	assert_int_equal(key_decrypt_failure(alg, sizeof(alg)),
		KEY_FAILED_PASSWORD);

	ERR_raise_data(ERR_LIB_ASN1, ASN1_R_WRONG_TAG, "garbage");
	assert_int_equal(key_decrypt_failure(alg, sizeof(alg)),
		KEY_FAILED_UNDECODED);

	/* Bad padding is the password's fault, whatever follows it. */
	ERR_raise(ERR_LIB_PROV, PROV_R_BAD_DECRYPT);
	ERR_raise(ERR_LIB_OSSL_DECODER, ERR_R_UNSUPPORTED);
	assert_int_equal(key_decrypt_failure(alg, sizeof(alg)),
		KEY_FAILED_PASSWORD);

	ERR_raise_data(ERR_LIB_EVP, ERR_R_UNSUPPORTED, "Global default "
		"library context, Algorithm (PBKDF1 : 0), Properties (<null>)");
	assert_int_equal(key_decrypt_failure(alg, sizeof(alg)),
		KEY_FAILED_UNSUPPORTED);
	assert_string_equal(alg, "PBKDF1");

	ERR_raise(ERR_LIB_EVP, EVP_R_UNSUPPORTED_CIPHER);
	assert_int_equal(key_decrypt_failure(alg, sizeof(alg)),
		KEY_FAILED_UNSUPPORTED);
	assert_string_equal(alg, "?");

	/* PEM's "bad decrypt" follows any failure of the legacy cipher,
	   its set-up failed for want of memory too (OpenSSL 3.0 queues no
	   more): alone it blames no password, nor does PKCS#12's. */
	ERR_raise(ERR_LIB_EVP, EVP_R_INITIALIZATION_ERROR);
	ERR_raise(ERR_LIB_PEM, PEM_R_BAD_DECRYPT);
	assert_int_equal(key_decrypt_failure(alg, sizeof(alg)),
		KEY_FAILED_OTHER);
	ERR_raise(ERR_LIB_PKCS12, PKCS12_R_PKCS12_CIPHERFINAL_ERROR);
	assert_int_equal(key_decrypt_failure(alg, sizeof(alg)),
		KEY_FAILED_OTHER);
	/* The provider's "bad decrypt" before it is the padding's. */
	ERR_raise(ERR_LIB_PROV, PROV_R_BAD_DECRYPT);
	ERR_raise(ERR_LIB_PEM, PEM_R_BAD_DECRYPT);
	assert_int_equal(key_decrypt_failure(alg, sizeof(alg)),
		KEY_FAILED_PASSWORD);

	/* A fetch that failed, named as the fetch names it. */
	ERR_raise_data(ERR_LIB_EVP, ERR_R_FETCH_FAILED, "Global default "
		"library context, Algorithm (MD5 : 100), Properties ()");
	assert_int_equal(key_decrypt_failure(alg, sizeof(alg)),
		KEY_FAILED_UNSUPPORTED);
	assert_string_equal(alg, "MD5");

	/* Inside the PBKDF2 loop, an allocation failure says only this:
	   memory, not a key at fault (OpenSSL raises it when a context's
	   copy could not be allocated). */
	ERR_raise(ERR_LIB_EVP, EVP_R_NOT_ABLE_TO_COPY_CTX);
	assert_int_equal(key_decrypt_failure(alg, sizeof(alg)),
		KEY_FAILED_NOMEM);

	/* Out of memory outranks what it caused. */
	ERR_raise(ERR_LIB_EVP, ERR_R_MALLOC_FAILURE);
	ERR_raise(ERR_LIB_PROV, PROV_R_BAD_DECRYPT);
	assert_int_equal(key_decrypt_failure(alg, sizeof(alg)),
		KEY_FAILED_NOMEM);

	assert_int_equal(key_decrypt_failure(alg, sizeof(alg)),
		KEY_FAILED_OTHER);	/* an empty queue */
}

static void test_key_parse_password(void **state)
{
	static const key_form enc[] = { PKCS8_ENC_PEM, PKCS8_ENC_DER,
		TRAD_ENC_PEM };

	(void)state;
	for (size_t i = 0; i < sizeof(enc) / sizeof(enc[0]); i++) {
		kmc_detail_clear();
		assert_int_equal(parse_key(M->leaf_key, enc[i], "wrong", NULL),
			KMC_E_UNLOCK);
		assert_non_null(strstr(kmc_error_detail(), "KEY-SHOWN"));
		assert_int_equal(parse_key(M->leaf_key, enc[i], PASSWORD "x",
			NULL), KMC_E_UNLOCK);
		assert_int_equal(parse_key(M->leaf_key, enc[i], "", NULL),
			KMC_E_UNLOCK);
		kmc_detail_clear();
		assert_int_equal(parse_key(M->leaf_key, enc[i], NULL, NULL),
			KMC_E_NEED_PASSPHRASE);
		assert_non_null(strstr(kmc_error_detail(), "KEY-SHOWN"));
	}
}

static void test_key_parse_policy(void **state)
{
	(void)state;
	kmc_detail_clear();
	assert_int_equal(parse_key(M->rsa1024, TRAD_PEM, NULL, NULL),
		KMC_E_TYPE);
	assert_non_null(strstr(kmc_error_detail(), "KEY-SHOWN"));
	assert_int_equal(parse_key(M->rsa1024, PKCS8_DER, NULL, NULL),
		KMC_E_TYPE);
	assert_int_equal(parse_key(M->rsa1024, PKCS8_ENC_PEM, PASSWORD, NULL),
		KMC_E_TYPE);
	assert_int_equal(parse_key(M->k256, PKCS8_PEM, NULL, NULL),
		KMC_E_TYPE);
	assert_int_equal(parse_key(M->leaf_key, PKCS8_PEM, NULL, NULL), 0);
}

static void test_key_parse_not_a_key(void **state)
{
	bytes cert = cert_pem(&M->leaf, 1);
	kmc_secret *s;
	EVP_PKEY *k = NULL;

	(void)state;
	s = secret_str("not a key at all");
	assert_int_equal(key_parse("k", s, NULL, &k), KMC_E_CORRUPT);
	kmc_secret_free(s);
	s = secret_of(cert.p, cert.len);
	assert_int_equal(key_parse("k", s, NULL, &k), KMC_E_CORRUPT);
	kmc_secret_free(s);
	assert_null(k);
	/* A public key alone is no private key. */
	assert_int_equal(parse_key(M->leaf_key, SPKI_PEM, NULL, NULL),
		KMC_E_CORRUPT);
	/* Nor is half of one. */
	{
		bytes b = key_bytes(M->leaf_key, PKCS8_DER);

		s = secret_of(b.p, b.len / 2);
		assert_int_equal(key_parse("k", s, NULL, &k), KMC_E_CORRUPT);
		kmc_secret_free(s);
		OPENSSL_cleanse(b.p, b.len);
		free(b.p);
	}
	free(cert.p);
}

static void test_pkcs8_roundtrip(void **state)
{
	EVP_PKEY *keys[] = { M->leaf_key, M->p384, M->ed25519, M->rsa1024 };

	(void)state;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		kmc_secret *der = NULL, *cut;
		EVP_PKEY *back = NULL;

		assert_int_equal(key_to_pkcs8(keys[i], &der), 0);
		assert_non_null(der);
		assert_int_equal(key_from_pkcs8(der, &back), 0);
		assert_int_equal(EVP_PKEY_eq(back, keys[i]), 1);
		EVP_PKEY_free(back);
		back = NULL;
		/* Cut short, or with a byte more: not a key. */
		cut = secret_of(kmc_secret_data(der), kmc_secret_len(der) - 1);
		assert_int_equal(key_from_pkcs8(cut, &back), KMC_E_CORRUPT);
		kmc_secret_free(cut);
		cut = NULL;
		assert_int_equal(kmc_secret_new(kmc_secret_len(der) + 1, &cut),
			0);
		memcpy(kmc_secret_data(cut), kmc_secret_data(der),
			kmc_secret_len(der));
		assert_int_equal(key_from_pkcs8(cut, &back), KMC_E_CORRUPT);
		assert_null(back);
		kmc_secret_free(cut);
		kmc_secret_free(der);
	}
	/* The key of a parsed file goes the same way. */
	{
		EVP_PKEY *k = NULL, *back = NULL;
		kmc_secret *der = NULL;

		assert_int_equal(parse_key(M->leaf_key, TRAD_ENC_PEM, PASSWORD,
			&k), 0);
		assert_int_equal(key_to_pkcs8(k, &der), 0);
		assert_int_equal(key_from_pkcs8(der, &back), 0);
		assert_int_equal(EVP_PKEY_eq(back, M->leaf_key), 1);
		EVP_PKEY_free(back);
		EVP_PKEY_free(k);
		kmc_secret_free(der);
	}
}

static void test_encrypted_pem_out(void **state)
{
	kmc_secret *pw = secret_str(PASSWORD), *data, *bad = secret_str("x");
	uint8_t *pem = NULL;
	size_t len = 0;
	EVP_PKEY *k = NULL;

	(void)state;
	assert_int_equal(key_to_encrypted_pem(M->leaf_key, pw, &pem, &len), 0);
	assert_true(key_is_encrypted(pem, len));
	data = secret_of(pem, len);
	assert_int_equal(key_parse("k", data, pw, &k), 0);
	assert_int_equal(EVP_PKEY_eq(k, M->leaf_key), 1);
	EVP_PKEY_free(k);
	k = NULL;
	assert_int_equal(key_parse("k", data, bad, &k), KMC_E_UNLOCK);
	kmc_secret_free(data);
	kmc_secret_free(pw);
	kmc_secret_free(bad);
	free(pem);
}

/* ---------------------------------------------------------------- */
/* input_read                                                        */

static int read_input(const char *path, input_kind kind)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	kmc_secret *s = NULL;
	int r = input_read(path, kind, &buf, &len, &s);

	if (r == 0) {
		if (kind == INPUT_KEY) {
			assert_non_null(s);
			assert_null(buf);
		} else {
			assert_non_null(buf);
			assert_null(s);
			assert_true(len > 0);
		}
	} else {
		assert_null(buf);
		assert_null(s);
	}
	free(buf);
	kmc_secret_free(s);
	return r;
}

static void test_input_read_ok(void **state)
{
	static const char text[] = "some bytes\n";
	uint8_t *buf = NULL;
	size_t len = 0;
	kmc_secret *s = NULL;

	(void)state;
	write_file(path_in("cert.pem"), text, strlen(text), 0644);
	assert_int_equal(input_read(path_in("cert.pem"), INPUT_CERT, &buf,
		&len, &s), 0);
	assert_int_equal(len, strlen(text));
	assert_memory_equal(buf, text, len);
	free(buf);
	write_file(path_in("key.pem"), text, strlen(text), 0600);
	assert_int_equal(input_read(path_in("key.pem"), INPUT_KEY, &buf, &len,
		&s), 0);
	assert_int_equal(kmc_secret_len(s), strlen(text));
	assert_memory_equal(kmc_secret_data(s), text, strlen(text));
	kmc_secret_free(s);
	/* 0640 and 0400 are fine for a key. */
	assert_int_equal(chmod(path_in("key.pem"), 0640), 0);
	assert_int_equal(read_input(path_in("key.pem"), INPUT_KEY), 0);
	assert_int_equal(chmod(path_in("key.pem"), 0400), 0);
	assert_int_equal(read_input(path_in("key.pem"), INPUT_KEY), 0);
}

static void test_input_read_symlinks(void **state)
{
	static const char text[] = "x";
	char real[256], link_dir[256], target[300];

	(void)state;
	snprintf(real, sizeof(real), "%s", path_in("real"));
	assert_int_equal(mkdir(real, 0700), 0);
	snprintf(target, sizeof(target), "%s/key.pem", real);
	write_file(target, text, 1, 0600);
	snprintf(target, sizeof(target), "%s/cert.pem", real);
	write_file(target, text, 1, 0644);
	assert_int_equal(read_input(path_in("real/key.pem"), INPUT_KEY), 0);
	assert_int_equal(read_input(path_in("real/cert.pem"), INPUT_CERT), 0);

	/* The last component a link. */
	assert_int_equal(symlink("key.pem", path_in("real/key-link.pem")), 0);
	assert_int_equal(read_input(path_in("real/key-link.pem"), INPUT_KEY),
		KMC_E_PERM);
	assert_int_equal(read_input(path_in("real/key-link.pem"), INPUT_CERT),
		KMC_E_PERM);
	/* A folder on the way a link, relative or absolute. */
	snprintf(link_dir, sizeof(link_dir), "%s", path_in("link"));
	assert_int_equal(symlink("real", link_dir), 0);
	kmc_detail_clear();
	assert_int_equal(read_input(path_in("link/key.pem"), INPUT_KEY),
		KMC_E_PERM);
	assert_non_null(strstr(kmc_error_detail(), "link/key.pem"));
	assert_int_equal(read_input(path_in("link/cert.pem"), INPUT_CERT),
		KMC_E_PERM);
	assert_int_equal(symlink(real, path_in("abs-link")), 0);
	assert_int_equal(read_input(path_in("abs-link/cert.pem"), INPUT_CRL),
		KMC_E_PERM);
	/* Two levels down under the link. */
	assert_int_equal(mkdir(path_in("real/sub"), 0700), 0);
	write_file(path_in("real/sub/c.pem"), text, 1, 0644);
	assert_int_equal(read_input(path_in("real/sub/c.pem"), INPUT_CERT), 0);
	assert_int_equal(read_input(path_in("link/sub/c.pem"), INPUT_CERT),
		KMC_E_PERM);
	/* A ".." through a link. */
	assert_int_equal(read_input(path_in("link/../real/cert.pem"),
		INPUT_CERT), KMC_E_PERM);
}

static void test_input_read_key_mode(void **state)
{
	static const mode_t bad[] = { 0644, 0604, 0660, 0606, 0666, 0700,
		0610, 04600, 01600 };
	static const char text[] = "k";

	(void)state;
	write_file(path_in("mode.key"), text, 1, 0600);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(chmod(path_in("mode.key"), bad[i]), 0);
		kmc_detail_clear();
		assert_int_equal(read_input(path_in("mode.key"), INPUT_KEY),
			KMC_E_PERM);
		assert_non_null(strstr(kmc_error_detail(), "mode.key"));
		/* Certificates and CRLs may have any mode. */
		assert_int_equal(read_input(path_in("mode.key"), INPUT_CERT), 0);
		assert_int_equal(read_input(path_in("mode.key"), INPUT_CRL), 0);
	}
}

static void test_input_read_empty_and_other(void **state)
{
	uint8_t *big = calloc(1, KEY_FILE_MAX + 1);

	(void)state;
	write_file(path_in("empty.key"), "", 0, 0600);
	assert_int_equal(read_input(path_in("empty.key"), INPUT_KEY),
		KMC_E_EMPTY);
	assert_int_equal(read_input(path_in("empty.key"), INPUT_CERT),
		KMC_E_EMPTY);
	assert_int_equal(read_input(path_in("empty.key"), INPUT_CRL),
		KMC_E_EMPTY);
	/* A folder, a missing file. */
	assert_int_equal(mkdir(path_in("adir"), 0700), 0);
	assert_int_equal(read_input(path_in("adir"), INPUT_CERT), KMC_E_PERM);
	assert_int_equal(read_input(path_in("missing"), INPUT_CERT), -ENOENT);
	/* Size limits. */
	assert_non_null(big);
	write_file(path_in("big.key"), big, KEY_FILE_MAX, 0600);
	assert_int_equal(read_input(path_in("big.key"), INPUT_KEY), 0);
	write_file(path_in("big.key"), big, KEY_FILE_MAX + 1, 0600);
	assert_int_equal(read_input(path_in("big.key"), INPUT_KEY),
		KMC_E_TOO_LARGE);
	assert_int_equal(read_input(path_in("big.key"), INPUT_CERT), 0);
	free(big);
}

/* ---------------------------------------------------------------- */
/* chain_verify                                                      */

static const chain_files FILES = { CA_FILE, CERT_FILE, KEY_FILE, CRL_FILE };

static int verify(X509 *const *ca, size_t n_ca, X509 *const *chain,
	size_t n_chain, EVP_PKEY *key, X509_CRL *crl)
{
	STACK_OF(X509) *a = stack_of(ca, n_ca), *c = stack_of(chain, n_chain);
	int r;

	kmc_detail_clear();
	r = chain_verify(&FILES, a, c, key, crl);
	sk_X509_pop_free(a, X509_free);
	sk_X509_pop_free(c, X509_free);
	return r;
}

static void assert_detail_names(const char *file)
{
	if (!strstr(kmc_error_detail(), file))
		fail_msg("detail \"%s\" does not name %s", kmc_error_detail(),
			file);
}

static void test_chain_good(void **state)
{
	X509 *via[] = { M->inter_leaf, M->inter };
	X509 *cas[] = { M->ca2, M->ca };

	(void)state;
	assert_int_equal(verify(&M->ca, 1, &M->leaf, 1, M->leaf_key, NULL), 0);
	assert_int_equal(verify(&M->ca, 1, &M->leaf, 1, M->leaf_key,
		M->crl_empty), 0);
	/* A CRL revoking another certificate of the CA. */
	assert_int_equal(verify(&M->ca, 1, &M->leaf2, 1, M->leaf2_key,
		M->crl_revoking), 0);
	/* Through an intermediate, to the root or to the intermediate. */
	assert_int_equal(verify(&M->ca, 1, via, 2, M->inter_leaf_key, NULL), 0);
	assert_int_equal(verify(&M->ca, 1, via, 2, M->inter_leaf_key,
		M->crl_empty), 0);
	assert_int_equal(verify(&M->inter, 1, via, 1, M->inter_leaf_key,
		NULL), 0);
	/* Several CAs, the right one among them. */
	assert_int_equal(verify(cas, 2, &M->leaf, 1, M->leaf_key,
		M->crl_empty), 0);
}

static void test_chain_wrong_key(void **state)
{
	(void)state;
	assert_int_equal(verify(&M->ca, 1, &M->leaf2, 1, M->leaf_key, NULL),
		KMC_E_VERIFY);
	assert_detail_names(KEY_FILE);
	assert_detail_names(CERT_FILE);
	assert_int_equal(verify(&M->ca, 1, &M->leaf, 1, M->ca_key, NULL),
		KMC_E_VERIFY);
	assert_detail_names(KEY_FILE);
	/* Another type of key altogether. */
	assert_int_equal(verify(&M->ca, 1, &M->leaf, 1, M->ed25519, NULL),
		KMC_E_VERIFY);
	assert_detail_names(KEY_FILE);
}

static void test_chain_not_to_ca(void **state)
{
	X509 *via[] = { M->inter_leaf, M->inter };

	(void)state;
	assert_int_equal(verify(&M->ca, 1, &M->leaf_other, 1, M->other_key,
		NULL), KMC_E_VERIFY);
	assert_detail_names(CERT_FILE);
	assert_detail_names(CA_FILE);
	assert_int_equal(verify(&M->ca2, 1, &M->leaf, 1, M->leaf_key, NULL),
		KMC_E_VERIFY);
	assert_detail_names(CERT_FILE);
	/* The intermediate left out of the chain. */
	assert_int_equal(verify(&M->ca, 1, via, 1, M->inter_leaf_key, NULL),
		KMC_E_VERIFY);
	assert_detail_names(CERT_FILE);
	/* A CA of the same name and another key. */
	assert_int_equal(verify(&M->ca_twin, 1, &M->leaf, 1, M->leaf_key,
		NULL), KMC_E_VERIFY);
	assert_detail_names(CERT_FILE);
	/* A CA given as the chain's second element only. */
	{
		X509 *with_ca[] = { M->leaf, M->ca };

		assert_int_equal(verify(&M->ca2, 1, with_ca, 2, M->leaf_key,
			NULL), KMC_E_VERIFY);
		assert_detail_names(CERT_FILE);
	}
}

static void test_chain_dates(void **state)
{
	(void)state;
	assert_int_equal(verify(&M->ca, 1, &M->leaf_expired, 1, M->leaf_key,
		NULL), KMC_E_VERIFY);
	assert_detail_names(CERT_FILE);
	assert_non_null(strstr(kmc_error_detail(), "expired"));
	assert_int_equal(verify(&M->ca, 1, &M->leaf_future, 1, M->leaf_key,
		NULL), KMC_E_VERIFY);
	assert_detail_names(CERT_FILE);
	assert_non_null(strstr(kmc_error_detail(), "not valid yet"));
	/* The CA expired. */
	assert_int_equal(verify(&M->ca_expired, 1, &M->leaf_of_expired_ca, 1,
		M->leaf_key, NULL), KMC_E_VERIFY);
	assert_detail_names(CA_FILE);
	/* An expired certificate anywhere in the chain. */
	{
		X509 *chain[] = { M->leaf, M->leaf_expired };

		assert_int_equal(verify(&M->ca, 1, chain, 2, M->leaf_key, NULL),
			KMC_E_VERIFY);
		assert_detail_names(CERT_FILE);
	}
}

static void test_chain_crl_revokes(void **state)
{
	X509 *via[] = { M->inter_leaf, M->inter };

	(void)state;
	assert_int_equal(verify(&M->ca, 1, &M->leaf, 1, M->leaf_key,
		M->crl_revoking), KMC_E_VERIFY);
	assert_detail_names(CRL_FILE);
	assert_detail_names(CERT_FILE);
	assert_non_null(strstr(kmc_error_detail(), "revoked"));
	/* The intermediate revoked by the root's CRL. */
	assert_int_equal(verify(&M->ca, 1, via, 2, M->inter_leaf_key,
		M->crl_revoking_inter), KMC_E_VERIFY);
	assert_detail_names(CRL_FILE);
}

static void test_chain_crl_other_ca(void **state)
{
	(void)state;
	assert_int_equal(verify(&M->ca, 1, &M->leaf, 1, M->leaf_key,
		M->crl_other), KMC_E_VERIFY);
	assert_detail_names(CRL_FILE);
	/* Same issuer name, other key: a forged CRL. */
	assert_int_equal(verify(&M->ca, 1, &M->leaf, 1, M->leaf_key,
		M->crl_twin), KMC_E_VERIFY);
	assert_detail_names(CRL_FILE);
	/* Out of date. */
	assert_int_equal(verify(&M->ca, 1, &M->leaf, 1, M->leaf_key,
		M->crl_old), KMC_E_VERIFY);
	assert_detail_names(CRL_FILE);
}

static void test_crl_verify_alone(void **state)
{
	STACK_OF(X509) *ca = stack_of(&M->ca, 1), *chain = stack_of(&M->leaf, 1);

	(void)state;
	assert_int_equal(crl_verify(&FILES, ca, chain, M->crl_empty), 0);
	kmc_detail_clear();
	assert_int_equal(crl_verify(&FILES, ca, chain, M->crl_revoking),
		KMC_E_VERIFY);
	assert_detail_names(CRL_FILE);
	assert_int_equal(crl_verify(&FILES, ca, chain, M->crl_other),
		KMC_E_VERIFY);
	assert_detail_names(CRL_FILE);
	sk_X509_pop_free(ca, X509_free);
	sk_X509_pop_free(chain, X509_free);
}

/* ---------------------------------------------------------------- */
/* PEM out                                                           */

static void test_pem_out_roundtrip(void **state)
{
	X509 *three[] = { M->inter_leaf, M->inter, M->ca };
	STACK_OF(X509) *s = stack_of(three, 3), *back = NULL;
	X509_CRL *crl = NULL;
	uint8_t *pem = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(certs_to_pem(s, &pem, &len), 0);
	assert_int_equal(certs_parse("p", pem, len, &back), 0);
	assert_int_equal(sk_X509_num(back), 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(X509_cmp(sk_X509_value(back, i), three[i]), 0);
	free(pem);
	pem = NULL;
	assert_int_equal(crl_to_pem(M->crl_revoking, &pem, &len), 0);
	assert_int_equal(crl_parse("c", pem, len, &crl), 0);
	assert_int_equal(X509_CRL_cmp(crl, M->crl_revoking), 0);
	X509_CRL_free(crl);
	free(pem);
	sk_X509_pop_free(s, X509_free);
	sk_X509_pop_free(back, X509_free);
}

/* ---------------------------------------------------------------- */
/* CRL order (vault/crlorder.c)                                      */

enum { NO_AKID, AKID, AKID_BOGUS };

/* A CRL named as issuer, signed by key, of CRL number number (none when
   0), last updated last seconds from now, with akid: none (as openssl
   ca writes without crl_extensions), issuer's key identifier, or one of
   no key. */
static X509_CRL *order_crl(X509 *issuer, EVP_PKEY *key, long number,
	long last, int akid)
{
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *t;

	assert_non_null(crl);
	assert_int_equal(X509_CRL_set_version(crl, X509_CRL_VERSION_2), 1);
	assert_int_equal(X509_CRL_set_issuer_name(crl,
		X509_get_subject_name(issuer)), 1);
	t = X509_gmtime_adj(NULL, last);
	assert_int_equal(X509_CRL_set1_lastUpdate(crl, t), 1);
	ASN1_TIME_free(t);
	t = X509_gmtime_adj(NULL, 7 * DAY);
	assert_int_equal(X509_CRL_set1_nextUpdate(crl, t), 1);
	ASN1_TIME_free(t);
	if (number) {
		ASN1_INTEGER *n = ASN1_INTEGER_new();

		assert_non_null(n);
		assert_int_equal(ASN1_INTEGER_set(n, number), 1);
		assert_int_equal(X509_CRL_add1_ext_i2d(crl, NID_crl_number, n,
			0, 0), 1);
		ASN1_INTEGER_free(n);
	}
	if (akid == AKID) {
		X509V3_CTX ctx;
		X509_EXTENSION *ext;

		X509V3_set_ctx(&ctx, issuer, NULL, NULL, crl, 0);
		ext = X509V3_EXT_conf_nid(NULL, &ctx,
			NID_authority_key_identifier, "keyid:always");
		assert_non_null(ext);
		assert_int_equal(X509_CRL_add_ext(crl, ext, -1), 1);
		X509_EXTENSION_free(ext);
	} else if (akid == AKID_BOGUS) {
		AUTHORITY_KEYID *a = AUTHORITY_KEYID_new();

		assert_non_null(a);
		a->keyid = ASN1_OCTET_STRING_new();
		assert_non_null(a->keyid);
		assert_int_equal(ASN1_OCTET_STRING_set(a->keyid,
			(const unsigned char *)"not a key's id", 14), 1);
		assert_int_equal(X509_CRL_add1_ext_i2d(crl,
			NID_authority_key_identifier, a, 0, 0), 1);
		AUTHORITY_KEYID_free(a);
	}
	assert_true(X509_CRL_sign(crl, key, EVP_sha256()) > 0);
	return crl;
}

/* crl_not_older(CRL_FILE, crl, "HELD", held, ca); the detail is checked
   to name both when it refuses. */
static int order(X509_CRL *crl, X509_CRL *held, X509 *ca)
{
	int r;

	kmc_detail_clear();
	r = crl_not_older(CRL_FILE, crl, "HELD", held, ca);
	if (r == KMC_E_VERIFY) {
		assert_non_null(strstr(kmc_error_detail(), CRL_FILE " is older "
			"than HELD"));
	}
	X509_CRL_free(crl);
	return r;
}

static void assert_detail_has(const char *s)
{
	if (!strstr(kmc_error_detail(), s))
		fail_msg("detail \"%s\" lacks \"%s\"", kmc_error_detail(), s);
}

static void test_crl_order_by_key(void **state)
{
	X509 *renewed = make_cert("kmc test CA", M->ca_key, NULL, NULL, 1, 3,
		-DAY, 60 * DAY);
	X509 *rsa_ca = make_cert("kmc test CA", M->rsa1024, NULL, NULL, 1, 4,
		-DAY, 30 * DAY);
	X509_CRL *held = order_crl(M->ca, M->ca_key, 2, -3600, NO_AKID);
	X509_CRL *held_akid = order_crl(M->ca, M->ca_key, 2, -3600, AKID);
	X509_CRL *held_bogus = order_crl(M->ca, M->ca_key, 2, -3600,
		AKID_BOGUS);
	X509_CRL *held_none = order_crl(M->ca, M->ca_key, 0, -3600, NO_AKID);
	X509_CRL *held_rsa = order_crl(rsa_ca, M->rsa1024, 2, -3600, NO_AKID);

	(void)state;
	/* Neither names its key: the CA's key verifies both. */
	assert_int_equal(order(order_crl(M->ca, M->ca_key, 1, -60, NO_AKID),
		held, M->ca), KMC_E_VERIFY);
	assert_detail_has("(its CRL number 1 is lower than 2; last update ");
	assert_int_equal(order(order_crl(M->ca, M->ca_key, 2, -60, NO_AKID),
		held, M->ca), 0);
	assert_int_equal(order(order_crl(M->ca, M->ca_key, 3, -60, NO_AKID),
		held, M->ca), 0);
	/* The CA's certificate renewed with its key: the same CA. */
	assert_int_equal(order(order_crl(renewed, M->ca_key, 1, -60, NO_AKID),
		held, renewed), KMC_E_VERIFY);
	/* Its name given a new key (of another type too): numbers anew. */
	assert_int_equal(order(order_crl(M->ca_twin, M->ca_twin_key, 1, -60,
		NO_AKID), held, M->ca_twin), 0);
	assert_int_equal(order(order_crl(rsa_ca, M->rsa1024, 1, -60, NO_AKID),
		held, rsa_ca), 0);
	assert_int_equal(order(order_crl(M->ca, M->ca_key, 1, -60, NO_AKID),
		held_rsa, M->ca), 0);
	/* Another name, the same key: another CA. */
	assert_int_equal(order(order_crl(M->ca2, M->ca_key, 1, -60, NO_AKID),
		held, M->ca), 0);
	/* One names its key, the other not; or they name it apart. */
	assert_int_equal(order(order_crl(M->ca, M->ca_key, 1, -60, AKID),
		held, M->ca), KMC_E_VERIFY);
	assert_int_equal(order(order_crl(M->ca, M->ca_key, 1, -60, NO_AKID),
		held_akid, M->ca), KMC_E_VERIFY);
	assert_int_equal(order(order_crl(M->ca, M->ca_key, 1, -60, AKID),
		held_bogus, M->ca), KMC_E_VERIFY);
	/* Both name it: equal, compared; apart and of another key, not. */
	assert_int_equal(order(order_crl(M->ca, M->ca_key, 1, -60, AKID),
		held_akid, M->ca), KMC_E_VERIFY);
	assert_int_equal(order(order_crl(M->ca_twin, M->ca_twin_key, 1, -60,
		AKID), held_akid, M->ca_twin), 0);
	/* Without numbers, by last update; with one only, so too. */
	assert_int_equal(order(order_crl(M->ca, M->ca_key, 0, -7200, NO_AKID),
		held_none, M->ca), KMC_E_VERIFY);
	assert_detail_has("(neither has a CRL number; last update ");
	assert_int_equal(order(order_crl(M->ca, M->ca_key, 0, -60, NO_AKID),
		held_none, M->ca), 0);
	assert_int_equal(order(order_crl(M->ca, M->ca_key, 5, -7200, NO_AKID),
		held_none, M->ca), KMC_E_VERIFY);
	assert_detail_has("(only one has a CRL number; last update ");
	X509_CRL_free(held);
	X509_CRL_free(held_akid);
	X509_CRL_free(held_bogus);
	X509_CRL_free(held_none);
	X509_CRL_free(held_rsa);
	X509_free(renewed);
	X509_free(rsa_ca);
}

/* The held CRL as the vault keeps it, its CA found among the CA file's
   certificates as crl_verify() finds it. */
static void test_crl_order_held(void **state)
{
	X509_CRL *held = order_crl(M->ca, M->ca_key, 2, -3600, NO_AKID);
	X509_CRL *crl = order_crl(M->ca, M->ca_key, 1, -60, NO_AKID);
	X509_CRL *twin = order_crl(M->ca_twin, M->ca_twin_key, 1, -60, NO_AKID);
	bytes der = crl_der(held);
	kmc_secret *s = secret_of(der.p, der.len);
	kmc_secret *junk = secret_str("not a CRL");
	X509 *both[2] = { M->ca2, M->ca };
	STACK_OF(X509) *ca = stack_of(both, 2);
	STACK_OF(X509) *ca_twin = stack_of(&M->ca_twin, 1);

	(void)state;
	kmc_detail_clear();
	assert_int_equal(crl_not_older_than_held("b", CRL_FILE, crl, ca, s),
		KMC_E_VERIFY);
	assert_detail_has(CRL_FILE " is older than the CRL b holds (b/crl), "
		"which it would replace (its CRL number 1 is lower than 2; ");
	assert_int_equal(crl_not_older_than_held("b", CRL_FILE, twin, ca_twin,
		s), 0);
	/* One that does not read is nothing to compare with. */
	assert_int_equal(crl_not_older_than_held("b", CRL_FILE, crl, ca, junk),
		0);
	kmc_secret_free(s);
	kmc_secret_free(junk);
	free(der.p);
	sk_X509_pop_free(ca, X509_free);
	sk_X509_pop_free(ca_twin, X509_free);
	X509_CRL_free(held);
	X509_CRL_free(crl);
	X509_CRL_free(twin);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_certs_pem_one),
		cmocka_unit_test(test_certs_pem_three),
		cmocka_unit_test(test_certs_der),
		cmocka_unit_test(test_certs_der_trailing),
		cmocka_unit_test(test_certs_der_truncated),
		cmocka_unit_test(test_certs_pem_truncated),
		cmocka_unit_test(test_certs_pem_three_truncated),
		cmocka_unit_test(test_certs_pem_cut_in_begin_line),
		cmocka_unit_test(test_certs_garbage),
		cmocka_unit_test(test_crl_pem_der),
		cmocka_unit_test(test_crl_bad),
		cmocka_unit_test(test_key_is_encrypted),
		cmocka_unit_test(test_key_parse_forms),
		cmocka_unit_test(test_key_decrypt_failure),
		cmocka_unit_test(test_key_parse_password),
		cmocka_unit_test(test_key_parse_policy),
		cmocka_unit_test(test_key_parse_not_a_key),
		cmocka_unit_test(test_pkcs8_roundtrip),
		cmocka_unit_test(test_encrypted_pem_out),
		cmocka_unit_test(test_input_read_ok),
		cmocka_unit_test(test_input_read_symlinks),
		cmocka_unit_test(test_input_read_key_mode),
		cmocka_unit_test(test_input_read_empty_and_other),
		cmocka_unit_test(test_chain_good),
		cmocka_unit_test(test_chain_wrong_key),
		cmocka_unit_test(test_chain_not_to_ca),
		cmocka_unit_test(test_chain_dates),
		cmocka_unit_test(test_chain_crl_revokes),
		cmocka_unit_test(test_chain_crl_other_ca),
		cmocka_unit_test(test_crl_verify_alone),
		cmocka_unit_test(test_crl_order_by_key),
		cmocka_unit_test(test_crl_order_held),
		cmocka_unit_test(test_pem_out_roundtrip),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

/*
 * test_trust.c - a trust store's record (vault/trustrec.c) and a bundle's
 * meta lines (trust_meta_with(), vault/trust.c).
 *
 *	version u8 1 | n_files u8 | { u16 len | path } | n_certs u16 |
 *	{ u8 alias_len | alias | u8 flags | u32 der_len | der }
 *
 * What trust_encode() writes trust_parse() reads back, byte for byte;
 * every malformed record (another version, bad counts, relative or
 * repeated paths, aliases out of order or of bad characters, unknown
 * flags, a DER that is not one certificate, short or trailing bytes) is
 * refused. The meta rewrite keeps every line but "trust=".
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "../../vault/trust.h"

/* A throwaway self-signed certificate, made fresh for each test. */
static X509 *make_cert(const char *cn)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *n;

	assert_non_null(k);
	assert_non_null(x);
	assert_int_equal(X509_set_version(x, 2), 1);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
		(const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, n);
	X509_set_pubkey(x, k);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	EVP_PKEY_free(k);
	return x;
}

static trust_set *two_certs(void)
{
	trust_set *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	t->n_files = 2;
	strcpy(t->files[0], "/etc/nginx/clients.pem");
	strcpy(t->files[1], "/srv/pg/root.crt");
	t->n = 2;
	strcpy(t->c[0].alias, "new-ca");
	assert_int_equal(trust_cert_set(&t->c[0], make_cert("new")), 0);
	strcpy(t->c[1].alias, "old@ca+1");
	t->c[1].flags = TRUST_FLAG_PINNED;
	assert_int_equal(trust_cert_set(&t->c[1], make_cert("old")), 0);
	return t;
}

static void encode(const trust_set *t, uint8_t **p, size_t *len)
{
	assert_int_equal(trust_encode(t, p, len), 0);
}

static int parse(const uint8_t *p, size_t len)
{
	trust_set *t = calloc(1, sizeof(*t));
	int r;

	assert_non_null(t);
	r = trust_parse(p, len, t);
	trust_set_free(t);
	return r;
}

static void test_roundtrip(void **state)
{
	trust_set *t = two_certs(), *back = calloc(1, sizeof(*back));
	uint8_t *p, *again;
	size_t len, len2;

	(void)state;
	encode(t, &p, &len);
	assert_int_equal(trust_parse(p, len, back), 0);
	assert_int_equal(back->n_files, 2);
	assert_string_equal(back->files[1], "/srv/pg/root.crt");
	assert_int_equal(back->n, 2);
	assert_string_equal(back->c[1].alias, "old@ca+1");
	assert_int_equal(back->c[1].flags, TRUST_FLAG_PINNED);
	assert_int_equal(X509_cmp(back->c[0].x, t->c[0].x), 0);
	encode(back, &again, &len2);
	assert_int_equal(len2, len);
	assert_memory_equal(again, p, len);
	free(p);
	free(again);
	trust_set_free(t);
	trust_set_free(back);
}

/* A record whose entry has a CRL reads back with it, byte for byte, and
   one whose CRL flag is set with no CRL after it is refused. */
static void test_crl(void **state)
{
	trust_set *t = two_certs(), *back = calloc(1, sizeof(*back));
	X509_CRL *crl = X509_CRL_new();
	EVP_PKEY *k = EVP_EC_gen("P-256");
	uint8_t *p, *again;
	size_t len, len2;

	(void)state;
	assert_non_null(crl);
	X509_CRL_set_version(crl, 1);
	X509_CRL_set_issuer_name(crl, X509_get_subject_name(t->c[0].x));
	{
		ASN1_TIME *a = ASN1_TIME_set(NULL, 1000000000);
		ASN1_TIME *b = ASN1_TIME_set(NULL, 2000000000);

		X509_CRL_set1_lastUpdate(crl, a);
		X509_CRL_set1_nextUpdate(crl, b);
		ASN1_TIME_free(a);
		ASN1_TIME_free(b);
	}
	assert_true(X509_CRL_sign(crl, k, EVP_sha256()) > 0);
	EVP_PKEY_free(k);
	assert_int_equal(trust_crl_set(&t->c[0], crl), 0);
	encode(t, &p, &len);
	assert_int_equal(trust_parse(p, len, back), 0);
	assert_non_null(back->c[0].crl);
	assert_true(back->c[0].flags & TRUST_FLAG_CRL);
	assert_null(back->c[1].crl);
	encode(back, &again, &len2);
	assert_int_equal(len2, len);
	assert_memory_equal(again, p, len);
	/* no CRL after the flag: the record ends too soon */
	assert_int_equal(trust_crl_set(&t->c[0], NULL), 0);
	assert_false(t->c[0].flags & TRUST_FLAG_CRL);
	free(p);
	encode(t, &p, &len);
	{
		size_t flag_at = len - 4 - t->c[1].der_len - 1 -
			(1 + strlen(t->c[1].alias)) - 4 - t->c[0].der_len - 1;

		assert_int_equal(p[flag_at], 0);
		p[flag_at] = TRUST_FLAG_CRL;
		assert_int_equal(parse(p, len), KMC_E_CORRUPT);
	}
	free(p);
	free(again);
	trust_set_free(t);
	trust_set_free(back);
}

static void test_empty(void **state)
{
	static const uint8_t empty[] = { 1, 0, 0, 0 };

	(void)state;
	assert_int_equal(parse(empty, sizeof(empty)), 0);
	assert_int_equal(parse(empty, 3), KMC_E_CORRUPT);
	assert_int_equal(parse(empty, 0), KMC_E_CORRUPT);
}

/* Each single change of a valid record at off to v is refused. */
static void refused_with(const uint8_t *p, size_t len, size_t off, uint8_t v,
	int want)
{
	uint8_t *q = malloc(len);

	assert_non_null(q);
	memcpy(q, p, len);
	q[off] = v;
	assert_int_equal(parse(q, len), want);
	free(q);
}

static void test_malformed(void **state)
{
	trust_set *t = two_certs();
	uint8_t *p;
	size_t len, first_alias;

	(void)state;
	encode(t, &p, &len);
	refused_with(p, len, 0, 2, KMC_E_VERSION);
	refused_with(p, len, 1, KMC_TRUST_FILES_MAX + 1, KMC_E_CORRUPT);
	refused_with(p, len, 4, 'x', KMC_E_CORRUPT);	/* relative path */
	refused_with(p, len, 5, '\0', KMC_E_CORRUPT);	/* NUL in a path */
	/* n_certs, after the two paths */
	first_alias = 2 + 2 + strlen(t->files[0]) + 2 + strlen(t->files[1]);
	refused_with(p, len, first_alias, 0xff, KMC_E_CORRUPT);
	refused_with(p, len, first_alias + 1, 3, KMC_E_CORRUPT);
	/* the first alias: its length 0, a '/', a leading '.' */
	refused_with(p, len, first_alias + 2, 0, KMC_E_CORRUPT);
	refused_with(p, len, first_alias + 3, '/', KMC_E_CORRUPT);
	refused_with(p, len, first_alias + 3, '.', KMC_E_CORRUPT);
	/* out of order: "new-ca" made "z..." sorts after "old@ca+1" */
	refused_with(p, len, first_alias + 3, 'z', KMC_E_CORRUPT);
	/* flags */
	refused_with(p, len, first_alias + 3 + strlen("new-ca"), 2,
		KMC_E_CORRUPT);
	/* a flag bit this kmc does not know: newer, not damaged */
	refused_with(p, len, first_alias + 3 + strlen("new-ca"), 4,
		KMC_E_VERSION);
	refused_with(p, len, first_alias + 3 + strlen("new-ca"), 0x80,
		KMC_E_VERSION);
	/* the DER's first byte */
	refused_with(p, len, first_alias + 3 + strlen("new-ca") + 5, 0,
		KMC_E_CORRUPT);
	for (size_t n = 0; n < len; n++)
		assert_int_not_equal(parse(p, n), 0);
	{
		uint8_t *longer = malloc(len + 1);

		memcpy(longer, p, len);
		longer[len] = 0;
		assert_int_equal(parse(longer, len + 1), KMC_E_CORRUPT);
		free(longer);
	}
	free(p);
	trust_set_free(t);
}

static void test_repeated_path(void **state)
{
	trust_set *t = two_certs();
	uint8_t *p;
	size_t len;

	(void)state;
	strcpy(t->files[1], t->files[0]);
	encode(t, &p, &len);
	assert_int_equal(parse(p, len), KMC_E_CORRUPT);
	free(p);
	trust_set_free(t);
}

static void test_names(void **state)
{
	char longest[KMC_TRUST_NAME_MAX + 2];

	(void)state;
	assert_int_equal(trust_name_check("clients", 0), 0);
	assert_int_equal(trust_name_check("a.b_c-9", 0), 0);
	assert_int_equal(trust_name_check("x@y", 0), KMC_E_NAME);
	assert_int_equal(trust_name_check("x@y+z", 1), 0);
	assert_int_equal(trust_name_check("a/b", 1), KMC_E_NAME);
	assert_int_equal(trust_name_check("a:b", 0), KMC_E_NAME);
	assert_int_equal(trust_name_check(".hidden", 1), KMC_E_NAME);
	assert_int_equal(trust_name_check("", 1), KMC_E_NAME);
	assert_int_equal(trust_name_check("a\nb", 1), KMC_E_NAME);
	memset(longest, 'a', sizeof(longest) - 1);
	longest[KMC_TRUST_NAME_MAX] = '\0';
	assert_int_equal(trust_name_check(longest, 1), 0);
	longest[KMC_TRUST_NAME_MAX] = 'a';
	longest[KMC_TRUST_NAME_MAX + 1] = '\0';
	assert_int_equal(trust_name_check(longest, 1), KMC_E_NAME);
}

static void test_pem(void **state)
{
	trust_set *t = two_certs();
	char *pem;
	size_t len;

	(void)state;
	assert_int_equal(trust_to_pem(t, &pem, &len), 0);
	assert_int_equal(strlen(pem), len);
	assert_memory_equal(pem, "# new-ca\n-----BEGIN CERTIFICATE-----\n",
		strlen("# new-ca\n-----BEGIN CERTIFICATE-----\n"));
	assert_non_null(strstr(pem, "\n# old@ca+1\n-----BEGIN CERTIFICATE"));
	free(pem);
	trust_set_free(t);
}

static void test_meta_with(void **state)
{
	static const char meta[] = "keys_dir=/k\nconf=\ntrust=old\nprev=3\n";
	char out[256];
	size_t len;

	(void)state;
	assert_int_equal(trust_meta_with((const uint8_t *)meta, strlen(meta),
		"new", out, sizeof(out), &len), 0);
	out[len] = '\0';
	assert_string_equal(out, "keys_dir=/k\nconf=\nprev=3\ntrust=new\n");
	assert_int_equal(trust_meta_with((const uint8_t *)meta, strlen(meta),
		NULL, out, sizeof(out), &len), 0);
	out[len] = '\0';
	assert_string_equal(out, "keys_dir=/k\nconf=\nprev=3\n");
	assert_int_equal(trust_meta_with((const uint8_t *)meta, strlen(meta),
		"new", out, 20, &len), KMC_E_TOO_LARGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_crl),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_repeated_path),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_pem),
		cmocka_unit_test(test_meta_with),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

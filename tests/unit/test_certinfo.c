/*
 * test_certinfo.c - kmc_cert_info_get() and kmc_cert_info_sans()
 * (vault/certinfo.c): what a program reading the description through the
 * C API gets of a certificate whose names do not fit the fixed fields.
 *
 * Certificates are made in memory with the OpenSSL API (EC P-256, quick)
 * and written as PEM files into a mkdtemp() folder the teardown removes;
 * kmc_cert_info_get() reads them with no vault open.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include "unit_files.h"

#include <string.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/kmc-certinfo.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return rm_rf(dir);
}

/* A self-signed certificate of subject cn (UTF-8), serial serial and the
   SANs san (as openssl's config writes them: "DNS:a,IP:1.2.3.4"), as a
   PEM file dir/name; its path into path. */
static void make_cert(const char *name, const char *cn, long serial,
	const char *san, char *path, size_t size)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *n = X509_get_subject_name(x);
	X509V3_CTX ctx;
	X509_EXTENSION *e;
	BIO *bio;

	assert_non_null(k);
	assert_non_null(x);
	assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), serial), 1);
	assert_int_equal(X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
		(const unsigned char *)cn, -1, -1, 0), 1);
	assert_int_equal(X509_set_issuer_name(x, n), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), 0));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 86400));
	assert_int_equal(X509_set_pubkey(x, k), 1);
	if (san) {
		X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
		e = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, san);
		assert_non_null(e);
		assert_int_equal(X509_add_ext(x, e, -1), 1);
		X509_EXTENSION_free(e);
	}
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	snprintf(path, size, "%s/%s", dir, name);
	bio = BIO_new_file(path, "w");
	assert_non_null(bio);
	assert_int_equal(PEM_write_bio_X509(bio, x), 1);
	BIO_free(bio);
	X509_free(x);
	EVP_PKEY_free(k);
}

/* The SAN text of n names host001.example.com... joined by ",". */
static char *many_dns(int n)
{
	char *s = calloc((size_t)n, 32);
	size_t off = 0;

	assert_non_null(s);
	for (int i = 1; i <= n; i++)
		off += (size_t)sprintf(s + off, "%sDNS:host%03d.example.com",
			i > 1 ? "," : "", i);
	return s;
}

static void test_many_sans_all_through_sans_call(void **state)
{
	char path[128], *san = many_dns(120), *all = NULL, want[64];
	kmc_cert_info *info = NULL;
	size_t n = 0, len;

	(void)state;
	make_cert("many.pem", "many", 7, san, path, sizeof(path));
	assert_int_equal(kmc_cert_info_get(NULL, path, &info, &n), 0);
	assert_int_equal(n, 1);
	/* The fixed field: whole names only, and said to be cut. */
	len = strlen(info[0].sans);
	assert_true(len < sizeof(info[0].sans));
	assert_true(len > 5);
	assert_string_equal(info[0].sans + len - 5, ", ...");
	assert_int_equal(strncmp(info[0].sans, "DNS:host001.example.com, ", 25), 0);
	/* Every name through kmc_cert_info_sans(), in order. */
	assert_int_equal(kmc_cert_info_sans(&info[0], &all), 0);
	assert_int_equal(strncmp(all, info[0].sans, len - 5), 0);
	assert_int_equal(strncmp(all, "DNS:host001.example.com, "
		"DNS:host002.example.com, ", 50), 0);
	snprintf(want, sizeof(want), ", DNS:host120.example.com");
	assert_true(strlen(all) > strlen(want));
	assert_string_equal(all + strlen(all) - strlen(want), want);
	len = 0;
	for (const char *p = all; (p = strstr(p, "DNS:")); p++)
		len++;
	assert_int_equal(len, 120);
	free(all);
	kmc_cert_info_free(info, n);
	free(san);
}

static void test_few_sans_whole_in_field(void **state)
{
	char path[128], *all = NULL;
	kmc_cert_info *info = NULL;
	size_t n = 0;

	(void)state;
	make_cert("few.pem", "few", 9, "DNS:a.example,IP:192.0.2.1,"
		"IP:2001:db8::1,email:ops@example.com,URI:https://u.example/p,"
		"RID:1.2.3.4", path, sizeof(path));
	assert_int_equal(kmc_cert_info_get(NULL, path, &info, &n), 0);
	assert_string_equal(info[0].sans, "DNS:a.example, IP:192.0.2.1, "
		"IP:2001:db8:0:0:0:0:0:1, email:ops@example.com, "
		"URI:https://u.example/p, RID:1.2.3.4");
	assert_int_equal(kmc_cert_info_sans(&info[0], &all), 0);
	assert_string_equal(all, info[0].sans);
	free(all);
	kmc_cert_info_free(info, n);
}

static void test_no_sans_empty(void **state)
{
	char path[128], *all = NULL;
	kmc_cert_info *info = NULL;
	size_t n = 0;

	(void)state;
	make_cert("none.pem", "none", 1, NULL, path, sizeof(path));
	assert_int_equal(kmc_cert_info_get(NULL, path, &info, &n), 0);
	assert_string_equal(info[0].sans, "");
	assert_int_equal(kmc_cert_info_sans(&info[0], &all), 0);
	assert_string_equal(all, "");
	free(all);
	kmc_cert_info_free(info, n);
}

/* The negative twin: a description without its certificate. */
static void test_sans_without_pem_invalid(void **state)
{
	kmc_cert_info info;
	char *all = NULL;

	(void)state;
	memset(&info, 0, sizeof(info));
	assert_int_equal(kmc_cert_info_sans(&info, &all), KMC_E_INVALID);
	assert_null(all);
	info.pem = (char *)"not a certificate";
	assert_int_equal(kmc_cert_info_sans(&info, &all), KMC_E_INVALID);
	assert_null(all);
}

/* Serial and names as openssl x509 prints them. */
static void test_serial_zero_and_utf8_name(void **state)
{
	char path[128];
	kmc_cert_info *info = NULL;
	size_t n = 0;

	(void)state;
	make_cert("zero.pem", "Caf\xc3\xa9, S\xc3\xbc" "d", 0, NULL, path,
		sizeof(path));
	assert_int_equal(kmc_cert_info_get(NULL, path, &info, &n), 0);
	assert_string_equal(info[0].serial, "00");
	assert_string_equal(info[0].subject, "CN=Caf\xc3\xa9\\, S\xc3\xbc" "d");
	kmc_cert_info_free(info, n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_many_sans_all_through_sans_call),
		cmocka_unit_test(test_few_sans_whole_in_field),
		cmocka_unit_test(test_no_sans_empty),
		cmocka_unit_test(test_sans_without_pem_invalid),
		cmocka_unit_test(test_serial_zero_and_utf8_name),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

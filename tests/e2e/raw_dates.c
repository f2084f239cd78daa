/*
 * raw_dates.c - a test helper for test_cert_dates.sh: a certificate or a
 * CRL whose dates are written as given, byte for byte, so that a test can
 * hand kmc the forms the openssl command will not make: UTCTime without
 * seconds, a fraction, an offset, a second 60.
 *
 *	raw_dates cert KEY ISSUER_CERT|- ISSUER_KEY CN ca|leaf NB NA OUT
 *	raw_dates crl ISSUER_CERT ISSUER_KEY THIS NEXT OUT
 *
 * A date is U:TEXT (UTCTime) or G:TEXT (GeneralizedTime). ISSUER_CERT
 * "-": self-signed. A leaf gets serverAuth and SAN DNS:localhost.
 * Built by the test itself (kmc_cc); PEM out.
 */
#include <stdio.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

static ASN1_TIME *raw_time(const char *s)
{
	ASN1_TIME *t = ASN1_TIME_new();

	if (!t || strlen(s) < 3 || s[1] != ':' ||
	    ASN1_STRING_set(t, s + 2, (int)strlen(s + 2)) != 1) {
		ASN1_TIME_free(t);
		return NULL;
	}
	/* ASN1_TIME is an ASN1_STRING whose type says which it is. */
	t->type = s[0] == 'U' ? V_ASN1_UTCTIME : V_ASN1_GENERALIZEDTIME;
	return t;
}

static EVP_PKEY *read_key(const char *file)
{
	FILE *f = fopen(file, "r");
	EVP_PKEY *k = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;

	if (f)
		fclose(f);
	return k;
}

static X509 *read_cert(const char *file)
{
	FILE *f = fopen(file, "r");
	X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;

	if (f)
		fclose(f);
	return x;
}

static int add_exts(X509 *x, X509 *issuer, int ca)
{
	static const char *const ca_ext[][2] = {
		{ "basicConstraints", "critical,CA:TRUE" },
		{ "keyUsage", "critical,keyCertSign,cRLSign" },
		{ "subjectKeyIdentifier", "hash" },
		{ NULL, NULL } };
	static const char *const leaf_ext[][2] = {
		{ "basicConstraints", "CA:FALSE" },
		{ "keyUsage", "critical,digitalSignature" },
		{ "extendedKeyUsage", "serverAuth" },
		{ "subjectAltName", "DNS:localhost" },
		{ "subjectKeyIdentifier", "hash" },
		{ "authorityKeyIdentifier", "keyid" },
		{ NULL, NULL } };
	const char *const (*ext)[2] = ca ? ca_ext : leaf_ext;
	X509V3_CTX ctx;

	X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
	for (int i = 0; ext[i][0]; i++) {
		X509_EXTENSION *e = X509V3_EXT_conf(NULL, &ctx, ext[i][0],
			ext[i][1]);

		if (!e || X509_add_ext(x, e, -1) != 1)
			return -1;
		X509_EXTENSION_free(e);
	}
	return 0;
}

static int make_cert(char **a)
{
	EVP_PKEY *key = read_key(a[0]), *ikey = read_key(a[2]);
	X509 *issuer = strcmp(a[1], "-") ? read_cert(a[1]) : NULL;
	ASN1_TIME *nb = raw_time(a[5]), *na = raw_time(a[6]);
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	FILE *f = NULL;
	int r = 1;

	if (!key || !ikey || (strcmp(a[1], "-") && !issuer) || !nb || !na ||
	    !x || !n || X509_set_version(x, X509_VERSION_3) != 1 ||
	    ASN1_INTEGER_set(X509_get_serialNumber(x), 4242) != 1 ||
	    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
		(const unsigned char *)a[3], -1, -1, 0) != 1 ||
	    X509_set_subject_name(x, n) != 1 ||
	    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) :
		n) != 1 ||
	    X509_set1_notBefore(x, nb) != 1 || X509_set1_notAfter(x, na) != 1 ||
	    X509_set_pubkey(x, key) != 1 ||
	    add_exts(x, issuer, !strcmp(a[4], "ca")) < 0 ||
	    X509_sign(x, ikey, EVP_sha256()) <= 0 || !(f = fopen(a[7], "w")))
		goto out;
	r = PEM_write_X509(f, x) != 1;
	r |= fclose(f) != 0;
out:
	/* Freed: a sanitizer build checks this program for leaks too. */
	X509_NAME_free(n);
	X509_free(x);
	ASN1_TIME_free(na);
	ASN1_TIME_free(nb);
	X509_free(issuer);
	EVP_PKEY_free(ikey);
	EVP_PKEY_free(key);
	return r;
}

static int make_crl(char **a)
{
	X509 *issuer = read_cert(a[0]);
	EVP_PKEY *ikey = read_key(a[1]);
	ASN1_TIME *last = raw_time(a[2]), *next = raw_time(a[3]);
	X509_CRL *crl = X509_CRL_new();
	FILE *f = NULL;
	int r = 1;

	if (!issuer || !ikey || !last || !next || !crl ||
	    X509_CRL_set_version(crl, X509_CRL_VERSION_2) != 1 ||
	    X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer)) != 1 ||
	    X509_CRL_set1_lastUpdate(crl, last) != 1 ||
	    X509_CRL_set1_nextUpdate(crl, next) != 1 ||
	    X509_CRL_sign(crl, ikey, EVP_sha256()) <= 0 ||
	    !(f = fopen(a[4], "w")))
		goto out;
	r = PEM_write_X509_CRL(f, crl) != 1;
	r |= fclose(f) != 0;
out:
	X509_CRL_free(crl);
	ASN1_TIME_free(next);
	ASN1_TIME_free(last);
	EVP_PKEY_free(ikey);
	X509_free(issuer);
	return r;
}

int main(int argc, char **argv)
{
	int r = 2;

	if (argc == 10 && !strcmp(argv[1], "cert"))
		r = make_cert(argv + 2);
	else if (argc == 7 && !strcmp(argv[1], "crl"))
		r = make_crl(argv + 2);
	else
		fprintf(stderr, "usage: raw_dates cert KEY ISSUER_CERT|- "
			"ISSUER_KEY CN ca|leaf NB NA OUT\n"
			"       raw_dates crl ISSUER_CERT ISSUER_KEY THIS NEXT "
			"OUT\n");
	if (r == 1)
		ERR_print_errors_fp(stderr);
	return r;
}

/*
 * fuzz_x509.c - the parsers of import material on arbitrary bytes
 * (vault/x509.c): certs_parse(), crl_parse() and crl_file_parse() (a CRL
 * file holds one PEM block), and key_is_encrypted() +
 * key_parse() with a fixed password, the bytes put in a kmc_secret as
 * input_read() does.
 *
 * Certificates that parse write out as PEM and parse back to as many;
 * a key that key_parse() accepts goes to PKCS#8 and back to an equal key
 * (what the vault stores must load).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include "../../vault/x509.h"
#include "../../kmc/crypto.h"

#define FUZZ_PASSWORD "fuzz-password"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static kmc_secret *password;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (kmc_crypto_init() != 0 ||
	    kmc_secret_dup(FUZZ_PASSWORD, strlen(FUZZ_PASSWORD), &password))
		abort();
	return 0;
}

static void certs(const uint8_t *data, size_t size)
{
	STACK_OF(X509) *s = NULL, *back = NULL;
	uint8_t *pem = NULL;
	size_t len = 0;
	int r;

	r = certs_parse("fuzz.crt", data, size, &s);
	if (r != 0) {
		if (s || (r != KMC_E_CORRUPT && r != KMC_E_NOMEM))
			abort();
		return;
	}
	if (!s || sk_X509_num(s) < 1)
		abort();
	if (certs_to_pem(s, &pem, &len) != 0)
		abort();
	if (certs_parse("again.crt", pem, len, &back) != 0 ||
	    sk_X509_num(back) != sk_X509_num(s))
		abort();
	free(pem);
	sk_X509_pop_free(back, X509_free);
	sk_X509_pop_free(s, X509_free);
}

static void crl(const uint8_t *data, size_t size)
{
	X509_CRL *c = NULL;
	int r;

	r = crl_parse("fuzz.crl", data, size, &c);
	if (r != 0) {
		if (c || (r != KMC_E_CORRUPT && r != KMC_E_NOMEM))
			abort();
		return;
	}
	X509_CRL_free(c);
	c = NULL;
	/* A CRL file the user names: the one CRL, PEM with one block. */
	r = crl_file_parse("fuzz.crl", data, size, &c);
	if (r == 0) {
		const uint8_t *b = memmem(data, size, "-----BEGIN", 10);

		if (!c || (b && memmem(b + 10, size - (size_t)(b + 10 - data),
			"-----BEGIN", 10)))
			abort();
		X509_CRL_free(c);
	} else if (c || (r != KMC_E_CORRUPT && r != KMC_E_NOMEM)) {
		abort();
	}
}

static void key(const uint8_t *data, size_t size)
{
	kmc_secret *s = NULL, *der = NULL;
	EVP_PKEY *k = NULL, *back = NULL;
	int encrypted, r;

	encrypted = key_is_encrypted(data, size);
	if (encrypted != 0 && encrypted != 1)
		abort();
	if (kmc_secret_dup(data, size, &s) != 0)
		abort();
	/*
	 * With the password always; without only for a key that says it is
	 * encrypted (a plain key ignores the password, and each decoder
	 * set-up costs OpenSSL 3.0 about a millisecond).
	 */
	for (int with_password = !encrypted; with_password < 2;
			with_password++) {
		r = key_parse("fuzz.key", s, with_password ? password : NULL,
			&k);
		if (r != 0) {
			if (k)
				abort();
			if (r == KMC_E_NEED_PASSPHRASE &&
			    (!encrypted || with_password))
				abort();
			if (r == KMC_E_UNLOCK && !encrypted)
				abort();
			continue;
		}
		if (!k)
			abort();
		if (key_to_pkcs8(k, &der) != 0)
			abort();
		if (key_from_pkcs8(der, &back) != 0 ||
		    EVP_PKEY_eq(back, k) != 1)
			abort();
		EVP_PKEY_free(back);
		back = NULL;
		kmc_secret_free(der);
		der = NULL;
		EVP_PKEY_free(k);
		k = NULL;
	}
	kmc_secret_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	certs(data, size);
	crl(data, size);
	key(data, size);
	ERR_clear_error();
	return 0;
}

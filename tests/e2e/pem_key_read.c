/*
 * pem_key_read.c - a server's way of reading its key, for the token key
 * tests: PEM_read_bio_PrivateKey on KEYFILE, as nginx, HAProxy and
 * PostgreSQL do, then SSL_CTX_use_certificate_file + use_PrivateKey +
 * check_private_key with CERTFILE. With --ctx-first an SSL_CTX is made
 * before the key is read, as those servers do.
 *
 *   pem_key_read [--ctx-first] KEYFILE CERTFILE
 *
 * Prints "TYPE PROVIDER" of the key; exit 1 with OpenSSL's errors on
 * stderr when the key does not load, 2 when it does not fit the
 * certificate.
 */
#include <stdio.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/ssl.h>

int main(int argc, char **argv)
{
	int ctx_first = argc > 1 && strcmp(argv[1], "--ctx-first") == 0;
	const char *keyfile, *certfile;
	EVP_PKEY *k;
	SSL_CTX *c;
	BIO *b;
	int ok;

	if (argc != 3 + ctx_first) {
		fprintf(stderr, "usage: pem_key_read [--ctx-first] KEYFILE CERTFILE\n");
		return 64;
	}
	keyfile = argv[1 + ctx_first];
	certfile = argv[2 + ctx_first];
	if (ctx_first)
		SSL_CTX_free(SSL_CTX_new(TLS_server_method()));
	b = BIO_new_file(keyfile, "r");
	k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	if (!k) {
		ERR_print_errors_fp(stderr);
		return 1;
	}
	printf("%s %s\n", EVP_PKEY_get0_type_name(k),
		OSSL_PROVIDER_get0_name(EVP_PKEY_get0_provider(k)));
	c = SSL_CTX_new(TLS_server_method());
	ok = c && SSL_CTX_use_certificate_file(c, certfile, SSL_FILETYPE_PEM) == 1 &&
		SSL_CTX_use_PrivateKey(c, k) == 1 && SSL_CTX_check_private_key(c) == 1;
	if (!ok)
		ERR_print_errors_fp(stderr);
	SSL_CTX_free(c);
	EVP_PKEY_free(k);
	return ok ? 0 : 2;
}

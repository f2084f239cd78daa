/*
 * fuzz_ciphers.c - the cipher strings of kmc_ssl_ctx_use_ex()
 * (vault/ciphers.c) on arbitrary text: a server's configuration hands
 * them over as they are (FairCom's SSL_CIPHERS). The input is the cipher
 * list, then after a newline (which neither string may hold) the TLS 1.3
 * suites; a newline first leaves the list unset, none the suites.
 *
 * Strings are either refused (KMC_E_INVALID, with a detail) or taken; a
 * taken pair applies to an SSL_CTX without an error, and a taken cipher
 * list leaves it a cipher of TLS 1.2 or below.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include "../../vault/ciphers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	kmc_tls_params p = KMC_TLS_PARAMS_INIT, q;
	char *s = malloc(size + 1), *nl;
	SSL_CTX *ctx;
	int r;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	nl = memchr(s, '\n', size);
	if (nl) {
		*nl = '\0';
		p.cipher_list = nl == s ? NULL : s;
		p.ciphersuites = nl + 1;
	} else {
		p.cipher_list = s;
	}
	r = tls_params_read(&p, &q);
	if (r != 0) {
		if (r != KMC_E_INVALID || !*kmc_error_detail())
			abort();
		free(s);
		ERR_clear_error();
		return 0;
	}
	ctx = SSL_CTX_new(TLS_server_method());
	if (ctx) {
		if (tls_params_apply(ctx, &q) != 0)
			abort();
		if (q.cipher_list) {
			STACK_OF(SSL_CIPHER) *sk = SSL_CTX_get_ciphers(ctx);
			int n = 0;

			for (int i = 0; i < sk_SSL_CIPHER_num(sk); i++)
				n += strcmp(SSL_CIPHER_get_version(
					sk_SSL_CIPHER_value(sk, i)), "TLSv1.3") != 0;
			if (n == 0)
				abort();
		}
		SSL_CTX_free(ctx);
	}
	free(s);
	ERR_clear_error();
	return 0;
}

/*
 * key_load.c - a server's start-up, for tests/e2e/test_faults_key_load.sh:
 *
 *	key_load VAULT NAME...
 *
 * opens VAULT read-only and loads each NAME's key with kmc_key_load(),
 * or, for a NAME written ctx:BUNDLE, builds an SSL_CTX with
 * kmc_ssl_ctx_use() of BUNDLE; twice over (a server that loads its keys
 * again on a reload), then closes it. A line a load: "NAME: ok", or
 * "NAME: rc R: DETAIL". Exits 0 when every load succeeded, 1 when one
 * failed, 2 when the open did.
 */
#include <stdio.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <kmc.h>
#include <kmc/tls.h>

int main(int argc, char **argv)
{
	kmc_vault *v = NULL;
	int r, failed = 0;

	if (argc < 3) {
		fprintf(stderr, "usage: key_load VAULT NAME...\n");
		return 2;
	}
	r = kmc_vault_open(argv[1], 0, &v);
	if (r < 0) {
		printf("open: rc %d: %s\n", r, kmc_error_detail());
		return 2;
	}
	for (int round = 0; round < 2; round++)
		for (int i = 2; i < argc; i++) {
			EVP_PKEY *k = NULL;

			if (!strncmp(argv[i], "ctx:", 4)) {
				SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

				r = ctx ? kmc_ssl_ctx_use(ctx, v, argv[i] + 4) :
					KMC_E_NOMEM;
				if (r == 0 && !SSL_CTX_get0_privatekey(ctx))
					r = 1;	/* said ok, set no key */
				SSL_CTX_free(ctx);
			} else {
				r = kmc_key_load(v, argv[i], &k);
				if (r == 0 && !k)
					r = 1;	/* said ok, gave nothing */
			}
			if (r == 0)
				printf("%s: ok\n", argv[i]);
			else
				printf("%s: rc %d: %s\n", argv[i], r,
					kmc_error_detail());
			failed |= r != 0;
			EVP_PKEY_free(k);
		}
	kmc_vault_close(v);
	return failed;
}

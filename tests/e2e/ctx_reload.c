/*
 * ctx_reload.c - a server reloading in a loop, for
 * tests/e2e/test_tls_reload_race.sh:
 *
 *	ctx_reload VAULT NAME STOPFILE [export]
 *
 * opens VAULT once, then builds a new SSL_CTX with kmc_ssl_ctx_use() of
 * bundle NAME (with "export": makes a PKCS#12 keystore of it with
 * kmc_export()) again and again, until STOPFILE exists (and once more
 * after it does). Prints "loads N failed F", then the first failures'
 * codes and details. Exits 0 when every load succeeded, 1 when one
 * failed, 2 when the vault did not open.
 */
#include <stdio.h>
#include <unistd.h>
#include <openssl/ssl.h>
#include <string.h>
#include <kmc.h>
#include <kmc/admin.h>
#include <kmc/tls.h>

int main(int argc, char **argv)
{
	char first[3][600];
	kmc_vault *v = NULL;
	long loads = 0, failed = 0;
	kmc_secret *pw = NULL;
	int stop = 0, export;

	if (argc != 4 && argc != 5) {
		fprintf(stderr, "usage: ctx_reload VAULT NAME STOPFILE [export]\n");
		return 2;
	}
	export = argc == 5 && !strcmp(argv[4], "export");
	if (kmc_secret_new(8, &pw) < 0)
		return 2;
	memcpy(kmc_secret_data(pw), "store-pw", 8);
	if (kmc_vault_open(argv[1], 0, &v) < 0) {
		printf("open: %s\n", kmc_error_detail());
		return 2;
	}
	while (!stop) {
		SSL_CTX *ctx = export ? NULL : SSL_CTX_new(TLS_server_method());
		kmc_export_params p = KMC_EXPORT_PARAMS_INIT;
		kmc_secret *p12 = NULL;
		int r;

		stop = access(argv[3], F_OK) == 0;
		if (export) {
			p.format = KMC_EXPORT_PKCS12;
			p.password = pw;
			r = kmc_export(v, argv[2], &p, &p12, NULL);
			kmc_secret_free(p12);
		} else {
			r = ctx ? kmc_ssl_ctx_use(ctx, v, argv[2]) : -1;
		}
		loads++;
		if (r < 0) {
			if (failed < 3)
				snprintf(first[failed], sizeof(first[0]),
					"rc %d: %s", r, kmc_error_detail());
			failed++;
		}
		SSL_CTX_free(ctx);
	}
	kmc_vault_close(v);
	kmc_secret_free(pw);
	printf("loads %ld failed %ld\n", loads, failed);
	for (long i = 0; i < failed && i < 3; i++)
		printf("%s\n", first[i]);
	return failed != 0;
}

/*
 * key_residue.c - a server that loads its key and lets go of it, for
 * tests/e2e/test_secret_hygiene.sh:
 *
 *	key_residue wipe|plain VAULT NAME PASSWORD_ITEM
 *
 * With "wipe" it calls kmc_openssl_wipe_frees() first, as the kmc command
 * does; with "plain" it does not. Then it opens VAULT read-only, loads
 * NAME's key with kmc_key_load() and frees it (EVP_PKEY_free()), sets up
 * an SSL_CTX with kmc_ssl_ctx_use() and frees it, reads PASSWORD_ITEM
 * with kmc_item_get() and frees it, closes the vault and exits 0: the
 * test takes a core of it at exit and searches it for the key and the
 * password. Any failure: a line on stderr, exit 1.
 */
#include <stdio.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <kmc.h>
#include <kmc/tls.h>

static int fail(const char *what, int r)
{
	fprintf(stderr, "key_residue: %s: rc %d: %s\n", what, r,
		kmc_error_detail());
	return 1;
}

int main(int argc, char **argv)
{
	kmc_vault *v = NULL;
	kmc_secret *pw = NULL;
	EVP_PKEY *k = NULL;
	SSL_CTX *ctx;
	int r;

	if (argc != 5 || (strcmp(argv[1], "wipe") && strcmp(argv[1], "plain"))) {
		fprintf(stderr, "usage: key_residue wipe|plain VAULT NAME ITEM\n");
		return 2;
	}
	if (!strcmp(argv[1], "wipe") && ((r = kmc_openssl_wipe_frees()) < 0 ||
	    (r = kmc_openssl_wipe_frees()) < 0))	/* a second call: 0 too */
		return fail("kmc_openssl_wipe_frees", r);
	r = kmc_vault_open(argv[2], 0, &v);
	if (r < 0)
		return fail("kmc_vault_open", r);
	r = kmc_key_load(v, argv[3], &k);
	if (r < 0)
		return fail("kmc_key_load", r);
	EVP_PKEY_free(k);
	ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx)
		return fail("SSL_CTX_new", KMC_E_NOMEM);
	r = kmc_ssl_ctx_use(ctx, v, argv[3]);
	if (r < 0)
		return fail("kmc_ssl_ctx_use", r);
	SSL_CTX_free(ctx);
	r = kmc_item_get(v, argv[4], KMC_ITEM_PASSWORD, &pw);
	if (r < 0)
		return fail("kmc_item_get", r);
	kmc_secret_free(pw);
	kmc_vault_close(v);
	/* The same call once OpenSSL has allocated: refused, nothing changed. */
	if (!strcmp(argv[1], "plain") && kmc_openssl_wipe_frees() != KMC_E_INVALID)
		return fail("kmc_openssl_wipe_frees after OpenSSL's first "
			"allocation was not refused", 0);
	return 0;
}

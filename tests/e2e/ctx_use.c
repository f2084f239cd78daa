/*
 * ctx_use.c - what kmc_ssl_ctx_use() and kmc_ssl_ctx_use_ex() set on an
 * SSL_CTX, for tests/e2e/test_tls_options.sh:
 *
 *	ctx_use VAULT NAME
 *
 * prints one line a call, "CALL: verify MODE, ciphers N, rc R": the
 * SSL_CTX's verify mode (none, peer, peer+fail), how many ciphers it
 * offers and what the call returned; and for a refused option whether
 * the SSL_CTX was left as it was.
 */
#include <stdio.h>
#include <string.h>
#include <openssl/ssl.h>
#include <kmc.h>
#include <kmc/tls.h>

static const char *mode_name(SSL_CTX *ctx)
{
	int m = SSL_CTX_get_verify_mode(ctx);

	if (m == SSL_VERIFY_NONE)
		return "none";
	if (m == SSL_VERIFY_PEER)
		return "peer";
	if (m == (SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT))
		return "peer+fail";
	return "other";
}

static void show(const char *call, SSL_CTX *ctx, int r)
{
	printf("%s: verify %s, ciphers %d, rc %d%s%s\n", call, mode_name(ctx),
		sk_SSL_CIPHER_num(SSL_CTX_get_ciphers(ctx)), r,
		r ? ", " : "", r ? kmc_error_detail() : "");
}

int main(int argc, char **argv)
{
	kmc_tls_params p = KMC_TLS_PARAMS_INIT;
	kmc_vault *v;
	SSL_CTX *ctx;
	int r, before;

	if (argc != 3)
		return 2;
	r = kmc_vault_open(argv[1], 0, &v);
	if (r < 0) {
		fprintf(stderr, "ctx_use: %s: %s\n", kmc_strerror(r),
			kmc_error_detail());
		return 1;
	}

	/* The function as it ever was. */
	ctx = SSL_CTX_new(TLS_server_method());
	show("kmc_ssl_ctx_use", ctx, kmc_ssl_ctx_use(ctx, v, argv[2]));
	SSL_CTX_free(ctx);

	/* NULL options: the same. */
	ctx = SSL_CTX_new(TLS_server_method());
	show("ex NULL", ctx, kmc_ssl_ctx_use_ex(ctx, v, argv[2], NULL));
	SSL_CTX_free(ctx);

	p.client_cert = KMC_CLIENT_CERT_OPTIONAL;
	p.cipher_list = "ECDHE-ECDSA-AES256-GCM-SHA384";
	p.ciphersuites = "TLS_AES_256_GCM_SHA384";
	ctx = SSL_CTX_new(TLS_server_method());
	show("ex optional", ctx, kmc_ssl_ctx_use_ex(ctx, v, argv[2], &p));
	SSL_CTX_free(ctx);

	p.client_cert = KMC_CLIENT_CERT_NONE;
	ctx = SSL_CTX_new(TLS_server_method());
	show("ex none", ctx, kmc_ssl_ctx_use_ex(ctx, v, argv[2], &p));
	SSL_CTX_free(ctx);

	/* Refused options leave the SSL_CTX as it was: a bad part late in
	   the string, after good ones, and a size of 0. */
	p.client_cert = KMC_CLIENT_CERT_NONE;
	p.cipher_list = "ECDHE-ECDSA-AES256-GCM-SHA384";
	p.ciphersuites = "TLS_AES_256_GCM_SHA384:TLS_NOPE";
	ctx = SSL_CTX_new(TLS_server_method());
	before = sk_SSL_CIPHER_num(SSL_CTX_get_ciphers(ctx));
	r = kmc_ssl_ctx_use_ex(ctx, v, argv[2], &p);
	show("ex bad suite", ctx, r);
	printf("ex bad suite: ctx %s\n",
		sk_SSL_CIPHER_num(SSL_CTX_get_ciphers(ctx)) == before &&
		SSL_CTX_get_verify_mode(ctx) == SSL_VERIFY_NONE &&
		!SSL_CTX_get0_certificate(ctx) ? "untouched" : "changed");
	SSL_CTX_free(ctx);

	p.size = 0;
	ctx = SSL_CTX_new(TLS_server_method());
	show("ex size 0", ctx, kmc_ssl_ctx_use_ex(ctx, v, argv[2], &p));
	SSL_CTX_free(ctx);

	kmc_vault_close(v);
	return 0;
}

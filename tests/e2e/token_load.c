/*
 * token_load.c - kmc_key_load() and kmc_key_load_ex() of a token key, for
 * tests/e2e/test_token_keys.sh:
 *
 *	token_load VAULT PLAIN TOKEN [PASSPHRASE-FILE]
 *
 * opens VAULT (by its passphrase when a file is given), loads bundle
 * PLAIN's key (one in the vault) and then bundle TOKEN's (one on a
 * token), first in the default library context, then in a new one, and
 * prints a line a step:
 *	plain: rc R, kmc.so mapped: yes|no
 *	token: rc R[, detail], kmc.so mapped: yes|no, signature verifies: yes|no
 *	token in a new libctx: rc R, kmc provider there: yes|no, signature verifies: yes|no
 *	SSL_CTX in that libctx: rc R, TLS 1.3 handshake: yes|no, TLS 1.2 handshake: yes|no
 *	after: plain key by PROVIDER, new RSA key by PROVIDER, new P-256 key by PROVIDER
 * A signature is made with the key (SHA-256) and verified with its public
 * half, taken out and read back by the default provider. The handshakes
 * run in memory (a BIO pair) between a server SSL_CTX made with
 * SSL_CTX_new_ex() in the new context and set up by kmc_ssl_ctx_use_ex()
 * with that context, and a client of the default one. The last line says
 * which provider holds keys made once kmc.so is loaded: the vault key
 * loaded again, and new RSA and EC keys (as a TLS server makes ECDHE's).
 */
#include <stdio.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <kmc.h>
#include <kmc/tls.h>

static const char *mapped(void)
{
	char line[4096];
	FILE *f = fopen("/proc/self/maps", "r");
	int hit = 0;

	while (f && !hit && fgets(line, sizeof(line), f))
		hit = strstr(line, "/kmc.so") != NULL;
	if (f)
		fclose(f);
	return hit ? "yes" : "no";
}

static const char *verifies(EVP_PKEY *k, OSSL_LIB_CTX *libctx)
{
	static const unsigned char msg[] = "kmc token key";
	unsigned char sig[1024], *der = NULL;
	const unsigned char *p;
	size_t sig_len = sizeof(sig);
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	EVP_PKEY *pub = NULL;
	int n, ok = 0;

	if (!m || EVP_DigestSignInit_ex(m, NULL, "SHA256", libctx, NULL, k,
		NULL) != 1 || EVP_DigestSign(m, sig, &sig_len, msg,
		sizeof(msg)) != 1)
		goto out;
	n = i2d_PUBKEY(k, &der);
	p = der;
	if (n <= 0 || !(pub = d2i_PUBKEY(NULL, &p, n)))
		goto out;
	EVP_MD_CTX_free(m);
	m = EVP_MD_CTX_new();
	ok = m && EVP_DigestVerifyInit(m, NULL, EVP_sha256(), NULL, pub) == 1 &&
		EVP_DigestVerify(m, sig, sig_len, msg, sizeof(msg)) == 1;
out:
	if (!ok)
		ERR_print_errors_fp(stderr);
	ERR_clear_error();
	OPENSSL_free(der);
	EVP_PKEY_free(pub);
	EVP_MD_CTX_free(m);
	return ok ? "yes" : "no";
}

static int is_kmc(OSSL_PROVIDER *p, void *arg)
{
	const char *name = NULL;
	OSSL_PARAM q[] = {
		OSSL_PARAM_utf8_ptr(OSSL_PROV_PARAM_NAME, &name, 0),
		OSSL_PARAM_END,
	};

	if (OSSL_PROVIDER_get_params(p, q) == 1 && name &&
	    strcmp(name, "kmcvault key provider") == 0)
		*(int *)arg = 1;
	return 1;
}

/* One handshake of version between srv and a client, in memory. */
static const char *handshake(SSL_CTX *srv, int version)
{
	SSL_CTX *cc = SSL_CTX_new(TLS_client_method());
	SSL *c = NULL, *s = NULL;
	BIO *cb = NULL, *sb = NULL;
	int done_c = 0, done_s = 0, ok = 0;

	if (!cc || SSL_CTX_set_min_proto_version(cc, version) != 1 ||
	    SSL_CTX_set_max_proto_version(cc, version) != 1 ||
	    !(c = SSL_new(cc)) || !(s = SSL_new(srv)) ||
	    BIO_new_bio_pair(&cb, 0, &sb, 0) != 1)
		goto out;
	SSL_set_bio(c, cb, cb);
	SSL_set_bio(s, sb, sb);
	cb = sb = NULL;
	SSL_set_connect_state(c);
	SSL_set_accept_state(s);
	for (int i = 0; i < 100 && !(done_c && done_s); i++) {
		int rc = SSL_do_handshake(c), rs = SSL_do_handshake(s);

		done_c = rc == 1;
		done_s = rs == 1;
		if ((rc != 1 && SSL_get_error(c, rc) != SSL_ERROR_WANT_READ) ||
		    (rs != 1 && SSL_get_error(s, rs) != SSL_ERROR_WANT_READ))
			break;
	}
	ok = done_c && done_s && SSL_version(c) == version;
out:
	if (!ok)
		ERR_print_errors_fp(stderr);
	ERR_clear_error();
	SSL_free(c);
	SSL_free(s);
	BIO_free(cb);
	BIO_free(sb);
	SSL_CTX_free(cc);
	return ok ? "yes" : "no";
}

static const char *prov_of(EVP_PKEY *k)
{
	const OSSL_PROVIDER *p = k ? EVP_PKEY_get0_provider(k) : NULL;

	return p ? OSSL_PROVIDER_get0_name(p) : "none";
}

/* A server's own library context lives as long as the server: never
   freed here, as kmc keeps the provider it loads there (man kmc.3). */
static OSSL_LIB_CTX *lc;

int main(int argc, char **argv)
{
	kmc_options o = KMC_OPTIONS_INIT;
	kmc_secret *pass = NULL;
	kmc_vault *v = NULL;
	EVP_PKEY *k = NULL;
	int r, there = 0;

	if (argc != 4 && argc != 5) {
		fprintf(stderr, "usage: token_load VAULT PLAIN TOKEN "
			"[PASSPHRASE-FILE]\n");
		return 2;
	}
	if (argc == 5) {
		r = kmc_secret_read_file(argv[4], 1024, &pass);
		if (r < 0) {
			fprintf(stderr, "%s: %s\n", argv[4], kmc_strerror(r));
			return 1;
		}
		o.passphrase = pass;
	}
	r = kmc_vault_open_ex(argv[1], 0, &o, &v);
	kmc_secret_free(pass);
	if (r < 0) {
		fprintf(stderr, "open: %s: %s\n", kmc_strerror(r),
			kmc_error_detail());
		return 1;
	}
	r = kmc_key_load(v, argv[2], &k);
	printf("plain: rc %d, kmc.so mapped: %s\n", r, mapped());
	EVP_PKEY_free(k);
	k = NULL;
	ERR_clear_error();
	r = kmc_key_load(v, argv[3], &k);
	printf("token: rc %d%s%s, kmc.so mapped: %s, OpenSSL errors left: "
		"%s, signature verifies: %s\n", r, r ? ", " : "",
		r ? kmc_error_detail() : "", mapped(),
		ERR_peek_error() ? "yes" : "no", r ? "no" : verifies(k, NULL));
	EVP_PKEY_free(k);
	k = NULL;
	if (r == 0) {
		lc = OSSL_LIB_CTX_new();
		r = lc ? kmc_key_load_ex(v, argv[3], lc, NULL, &k) : -1;
		(void)OSSL_PROVIDER_do_all(lc, is_kmc, &there);
		printf("token in a new libctx: rc %d%s%s, kmc provider there: "
			"%s, signature verifies: %s\n", r, r ? ", " : "",
			r ? kmc_error_detail() : "", there ? "yes" : "no",
			r ? "no" : verifies(k, lc));
		EVP_PKEY_free(k);
	}
	if (r == 0) {
		kmc_tls_params p = KMC_TLS_PARAMS_INIT;
		SSL_CTX *ctx = SSL_CTX_new_ex(lc, NULL, TLS_server_method());

		p.client_cert = KMC_CLIENT_CERT_NONE;
		p.libctx = lc;
		r = ctx ? kmc_ssl_ctx_use_ex(ctx, v, argv[3], &p) : -1;
		printf("SSL_CTX in that libctx: rc %d%s%s, TLS 1.3 handshake: "
			"%s, TLS 1.2 handshake: %s\n", r, r ? ", " : "",
			r ? kmc_error_detail() : "",
			r ? "no" : handshake(ctx, TLS1_3_VERSION),
			r ? "no" : handshake(ctx, TLS1_2_VERSION));
		SSL_CTX_free(ctx);
	}
	{
		EVP_PKEY *plain = NULL, *rsa, *ec;

		if (kmc_key_load(v, argv[2], &plain) < 0)
			plain = NULL;
		rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
		ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		ERR_print_errors_fp(stderr);
		printf("after: plain key by %s, new RSA key by %s, new P-256 "
			"key by %s\n", prov_of(plain), prov_of(rsa), prov_of(ec));
		EVP_PKEY_free(plain);
		EVP_PKEY_free(rsa);
		EVP_PKEY_free(ec);
	}
	kmc_vault_close(v);
	return 0;
}

/*
 * token_fork.c - a forking server's life with a key that lives on a
 * token, for tests/e2e/test_token_gone.sh: the key is loaded once in the
 * parent through the kmc provider (as nginx's master loads it), then
 * used in children and in the parent again. OpenSSL's API only.
 *
 *	token_fork PROVDIR KEY_URI CERT N
 *
 * The parent loads KEY_URI (kmc://...) through the STORE API with the
 * providers kmc and default from PROVDIR, and signs once; it forks two
 * children that each sign N times while the parent signs N times; after
 * both exit the parent signs once more. Every signature (SHA-256) is
 * checked against CERT's public key. A child's first signature starts
 * the token's module over in the child (the provider's fork check): on
 * a token reached through `p11-kit server`, a child that used its
 * parent's connection would garble the parent's replies. Prints "child
 * PID: ok" for each child, "parent: ok" at the end; exits 0 when all
 * signed, 1 otherwise; an alarm bounds the whole run.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/store.h>
#include <openssl/x509.h>

#define RUN_LIMIT 60	/* seconds: a hang becomes a failure */

static EVP_PKEY *key, *pub;

static int sign_once(const char *who, int i)
{
	static const unsigned char msg[] = "a handshake's transcript";
	unsigned char sig[1024];
	size_t len = sizeof(sig);
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int ok;

	ok = c && EVP_DigestSignInit(c, NULL, EVP_sha256(), NULL, key) == 1 &&
		EVP_DigestSign(c, sig, &len, msg, sizeof(msg)) == 1;
	EVP_MD_CTX_free(c);
	if (ok) {
		c = EVP_MD_CTX_new();
		ok = c && EVP_DigestVerifyInit(c, NULL, EVP_sha256(), NULL,
				pub) == 1 &&
			EVP_DigestVerify(c, sig, len, msg, sizeof(msg)) == 1;
		EVP_MD_CTX_free(c);
	}
	if (!ok) {
		fprintf(stderr, "token_fork: %s, signature %d fails:\n", who, i);
		ERR_print_errors_fp(stderr);
	}
	return ok ? 0 : -1;
}

static int sign_n(const char *who, int n)
{
	for (int i = 0; i < n; i++)
		if (sign_once(who, i) < 0)
			return -1;
	return 0;
}

static EVP_PKEY *load_key(const char *uri)
{
	OSSL_STORE_CTX *s = OSSL_STORE_open(uri, NULL, NULL, NULL, NULL);
	EVP_PKEY *k = NULL;

	while (s && !k && !OSSL_STORE_eof(s)) {
		OSSL_STORE_INFO *info = OSSL_STORE_load(s);

		if (info && OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PKEY)
			k = OSSL_STORE_INFO_get1_PKEY(info);
		OSSL_STORE_INFO_free(info);
		if (!info)
			break;
	}
	OSSL_STORE_close(s);
	return k;
}

int main(int argc, char **argv)
{
	OSSL_PROVIDER *kmc = NULL, *def = NULL;
	pid_t kids[2];
	int n, failed = 0;
	FILE *f;
	X509 *cert;

	if (argc != 5) {
		fprintf(stderr, "usage: token_fork PROVDIR KEY_URI CERT N\n");
		return 2;
	}
	n = atoi(argv[4]);
	alarm(RUN_LIMIT);
	if (!OSSL_PROVIDER_set_default_search_path(NULL, argv[1]) ||
	    !(kmc = OSSL_PROVIDER_load(NULL, "kmc")) ||
	    !(def = OSSL_PROVIDER_load(NULL, "default"))) {
		ERR_print_errors_fp(stderr);
		return 1;
	}
	f = fopen(argv[3], "r");
	cert = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	pub = cert ? X509_get_pubkey(cert) : NULL;
	key = load_key(argv[2]);
	if (!pub || !key) {
		fprintf(stderr, "token_fork: %s does not load:\n", key ? argv[3] :
			argv[2]);
		ERR_print_errors_fp(stderr);
		return 1;
	}
	if (sign_once("parent, before fork", 0) < 0)
		return 1;
	fflush(stdout);
	for (int i = 0; i < 2; i++) {
		kids[i] = fork();
		if (kids[i] < 0) {
			perror("token_fork: fork");
			return 1;
		}
		if (kids[i] == 0) {
			alarm(RUN_LIMIT);
			if (sign_n("child", n) < 0)
				_exit(1);
			printf("child %ld: ok\n", (long)getpid());
			fflush(stdout);
			_exit(0);
		}
	}
	if (sign_n("parent, beside the children", n) < 0)
		failed = 1;
	for (int i = 0; i < 2; i++) {
		int status;

		while (waitpid(kids[i], &status, 0) < 0)
			if (errno != EINTR) {
				perror("token_fork: waitpid");
				return 1;
			}
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "token_fork: child %ld failed (status "
				"0x%x)\n", (long)kids[i], status);
			failed = 1;
		}
	}
	if (sign_n("parent, after the children", 3) < 0)
		failed = 1;
	if (!failed)
		printf("parent: ok\n");
	EVP_PKEY_free(key);
	EVP_PKEY_free(pub);
	X509_free(cert);
	OSSL_PROVIDER_unload(def);
	OSSL_PROVIDER_unload(kmc);
	return failed;
}

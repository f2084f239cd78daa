/*
 * ossl_early.c - a library that uses OpenSSL before main(), for
 * tests/e2e/test_secret_hygiene.sh: preloaded into kmc, its constructor
 * allocates through OpenSSL, after which OpenSSL takes no new allocator
 * (kmc_openssl_wipe_frees()), and kmc must refuse to run rather than
 * carry on with one that leaves keys in the heap.
 */
#include <openssl/crypto.h>

static void *early;

__attribute__((constructor)) static void use_openssl_early(void)
{
	early = OPENSSL_malloc(32);
}

__attribute__((destructor)) static void done(void)
{
	OPENSSL_free(early);
}

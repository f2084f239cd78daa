/*
 * opensslmem.c - OpenSSL's own heap wiped as it is freed.
 *
 * kmcvault clears the buffers it gets back from OpenSSL, but OpenSSL
 * 3.0 frees copies of a private key inside its own calls without wiping
 * them: its DER decoder (OSSL_DECODER_from_data(), under every
 * kmc_key_load() and every export) reads the PKCS#8 into buffers it then
 * frees with OPENSSL_free(), d2i_ECPrivateKey() frees the scalar's
 * OCTET STRING so, and the PKCS#8 encoder (OSSL_ENCODER_to_data(),
 * EVP_PKEY2PKCS8(), behind import, key gen, ca init and exports) frees
 * the DER it wrote. Those copies then sit in freed heap chunks until
 * something reuses them, and a core or a memory read finds the key long
 * after its EVP_PKEY was freed. OpenSSL lets a process that has not yet
 * allocated through it install its own allocator: this one wipes every
 * block before it goes back to malloc, so nothing OpenSSL freed keeps
 * what it held.
 */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <sodium.h>
#include "vault.h"

/*
 * In a section of their own: the fault shim's allocation sweeps
 * (tests/faultinject.c, KMC_FAULT_NEAR) count the allocations kmc's own
 * code asks for, and skip these frames, through which all of OpenSSL's
 * pass; noinline keeps each a function there.
 */
#define WIPE_ALLOC __attribute__((section("kmc_openssl_alloc"), noinline))

WIPE_ALLOC static void *wipe_malloc(size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	return malloc(n);
}

WIPE_ALLOC static void wipe_free(void *p, const char *file, int line)
{
	(void)file;
	(void)line;
	if (!p)
		return;
	/* malloc_usable_size(): the block's whole size, which OpenSSL's
	   free does not pass; under ASan and valgrind it is the size asked. */
	sodium_memzero(p, malloc_usable_size(p));
	free(p);
}

/* Never realloc(): it would free the old block without wiping it. */
WIPE_ALLOC static void *wipe_realloc(void *p, size_t n, const char *file, int line)
{
	size_t old;
	void *q;

	if (!p)
		return wipe_malloc(n, file, line);
	if (n == 0) {
		wipe_free(p, file, line);
		return NULL;
	}
	q = malloc(n);
	if (!q)
		return NULL;	/* p stays the caller's, as with realloc() */
	old = malloc_usable_size(p);
	memcpy(q, p, old < n ? old : n);
	wipe_free(p, file, line);
	return q;
}

int kmc_openssl_wipe_frees(void)
{
	CRYPTO_malloc_fn m;
	CRYPTO_realloc_fn r;
	CRYPTO_free_fn f;

	CRYPTO_get_mem_functions(&m, &r, &f);
	if (m == wipe_malloc && r == wipe_realloc && f == wipe_free)
		return 0;	/* a second call */
	if (!CRYPTO_set_mem_functions(wipe_malloc, wipe_realloc, wipe_free))
		return kmc_detail(KMC_E_INVALID, "OpenSSL has allocated memory "
			"already: its allocator can be replaced only before "
			"that, first thing in main()");
	return 0;
}

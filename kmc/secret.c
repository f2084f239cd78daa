/*
 * secret.c - guarded buffers for plaintext keys and passwords.
 *
 * The bytes live in sodium_malloc() memory: guard pages on both sides, a
 * canary, mlock() where the limit allows, and sodium_free() wipes them.
 * One extra NUL follows the bytes so passwords work as C strings. A secret
 * is never resized upwards: growing would copy it through realloc.
 */
#include <string.h>
#include <sodium.h>
#include "crypto.h"

struct kmc_secret {
	unsigned char *data;
	size_t len;
	size_t cap;
};

/* A cap keeps a corrupt length field from asking for gigabytes. */
#define SECRET_MAX (16u * 1024u * 1024u)

int kmc_secret_new(size_t len, kmc_secret **ret)
{
	kmc_secret *s;

	KMC_ENSURE(len <= SECRET_MAX, KMC_E_TOO_LARGE);
	KMC_GUARD(kmc_crypto_init());
	s = calloc(1, sizeof(*s));
	KMC_ENSURE(s, KMC_E_NOMEM);
	s->data = sodium_malloc(len + 1);
	if (!s->data) {
		free(s);
		return KMC_E_NOMEM;
	}
	/* sodium_malloc() fills with garbage bytes; callers expect zeros. */
	memset(s->data, 0, len + 1);
	s->len = len;
	s->cap = len;
	*ret = s;
	return 0;
}

int kmc_secret_dup(const void *p, size_t len, kmc_secret **ret)
{
	kmc_secret *s;

	KMC_GUARD(kmc_secret_new(len, &s));
	if (len)
		memcpy(s->data, p, len);
	*ret = s;
	return 0;
}

unsigned char *kmc_secret_data(const kmc_secret *s)
{
	return s->data;
}

size_t kmc_secret_len(const kmc_secret *s)
{
	return s->len;
}

int kmc_secret_shrink(kmc_secret *s, size_t len)
{
	KMC_ENSURE(len <= s->len, KMC_E_INVALID);
	sodium_memzero(s->data + len, s->cap + 1 - len);
	s->len = len;
	return 0;
}

void kmc_secret_readonly(kmc_secret *s)
{
	sodium_mprotect_readonly(s->data);
}

void kmc_secret_free(kmc_secret *s)
{
	if (!s)
		return;
	/* sodium_free() makes the pages writable, wipes and unlocks them. */
	sodium_free(s->data);
	free(s);
}

/*
 * secret.c - guarded buffers for plaintext keys and passwords.
 *
 * Up to 4 KiB the bytes live in a slot of the guarded arena (arena.c):
 * guard pages around each region, locked, canaries around each slot,
 * wiped on free; one mapping serves many secrets, where sodium_malloc()
 * maps and locks pages for every one. Larger secrets, and those made
 * read-only (which needs pages of their own), live in sodium_malloc()
 * memory: guard pages on both sides, a canary, mlock() where the limit
 * allows, and sodium_free() wipes them.
 * One extra NUL follows the bytes so passwords work as C strings. A secret
 * is never resized upwards: growing would copy it through realloc.
 */
#include <string.h>
#include <sodium.h>
#include "arena.h"
#include "crypto.h"

struct kmc_secret {
	unsigned char *data;
	size_t len;
	size_t cap;
	int in_arena;
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
	if (len + 1 <= KMC_ARENA_MAX) {
		/* Zeroed already: a free slot is all zero. */
		s->data = kmc_arena_alloc(len + 1);
		s->in_arena = 1;
	} else {
		s->data = sodium_malloc(len + 1);
		/* sodium_malloc() fills with garbage; callers expect zeros. */
		if (s->data)
			memset(s->data, 0, len + 1);
	}
	if (!s->data) {
		free(s);
		return KMC_E_NOMEM;
	}
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

int kmc_secret_readonly(kmc_secret *s)
{
	/* A slot shares its pages with other secrets: move to pages of
	   its own, which can be protected alone. */
	if (s->in_arena) {
		unsigned char *own = sodium_malloc(s->cap + 1);

		if (!own)
			return KMC_E_NOMEM;
		memcpy(own, s->data, s->cap + 1);
		kmc_arena_free(s->data);
		s->data = own;
		s->in_arena = 0;
	}
	sodium_mprotect_readonly(s->data);
	return 0;
}

void kmc_secret_free(kmc_secret *s)
{
	if (!s)
		return;
	if (s->in_arena)
		kmc_arena_free(s->data);	/* checks and wipes the slot */
	else
		/* Makes the pages writable, wipes and unlocks them. */
		sodium_free(s->data);
	free(s);
}

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
 * Secrets kept read-only together (a handle's keys, made at its open) can
 * share one such read-only mapping instead (kmc_secret_readonly_group):
 * each pair of guard pages, locked page and its mprotect calls costs some
 * 10 system calls over an open and its close, dear on a virtual machine.
 * At the handle's close the group is made writable once
 * (kmc_secret_group_end), not twice a key as each is freed and wiped.
 * One extra NUL follows the bytes so passwords work as C strings. A secret
 * is never resized upwards: growing would copy it through realloc.
 */
#include <string.h>
#include <sodium.h>
#include "arena.h"
#include "crypto.h"

/* The read-only mapping a group of secrets shares, and how many of
   them are still in it. */
typedef struct ro_group {
	unsigned char *base;
	size_t refs;
	int ending;	/* kmc_secret_group_end(): writable until the last */
} ro_group;

struct kmc_secret {
	unsigned char *data;
	size_t len;
	size_t cap;
	int in_arena;
	ro_group *group;	/* data lies in group->base, or NULL */
};

/* A cap keeps a corrupt length field from asking for gigabytes. */
#define SECRET_MAX (16u * 1024u * 1024u)

int kmc_secret_new(size_t len, kmc_secret **ret)
{
	kmc_secret *s;

	/* A failure says so in the detail: it would else be an earlier
	   call's, naming what this one is not about. */
	if (len > SECRET_MAX)
		return kmc_detail(KMC_E_TOO_LARGE, "a secret of %zu bytes is "
			"more than %u MiB", len, SECRET_MAX >> 20);
	KMC_GUARD(kmc_crypto_init());
	s = calloc(1, sizeof(*s));
	if (!s)
		return kmc_detail(KMC_E_NOMEM, "out of memory for a secret of "
			"%zu bytes", len);
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
		return kmc_detail(KMC_E_NOMEM, "out of memory (locked, guarded) "
			"for a secret of %zu bytes; RLIMIT_MEMLOCK may be too "
			"low", len);
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
	if (len > s->len)
		return kmc_detail(KMC_E_INVALID, "a secret of %zu bytes cannot "
			"shrink to %zu", s->len, len);
	sodium_memzero(s->data + len, s->cap + 1 - len);
	s->len = len;
	return 0;
}

int kmc_secret_readonly(kmc_secret *s)
{
	if (s->group)
		return 0;	/* read-only already, with its group */
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

int kmc_secret_readonly_group(kmc_secret *const *s, size_t n)
{
	ro_group *g;
	size_t total = 0, off = 0;

	KMC_ENSURE(n > 0, KMC_E_INVALID);
	for (size_t i = 0; i < n; i++) {
		/* Each one writable still, in no group, and counted once. */
		KMC_ENSURE(s[i] && s[i]->in_arena && !s[i]->group,
			KMC_E_INVALID);
		for (size_t j = 0; j < i; j++)
			KMC_ENSURE(s[j] != s[i], KMC_E_INVALID);
		total += s[i]->cap + 1;
	}
	g = malloc(sizeof(*g));
	KMC_ENSURE(g, KMC_E_NOMEM);
	g->base = sodium_malloc(total);
	if (!g->base) {
		free(g);
		return KMC_E_NOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		memcpy(g->base + off, s[i]->data, s[i]->cap + 1);
		kmc_arena_free(s[i]->data);	/* checks and wipes the slot */
		s[i]->data = g->base + off;
		s[i]->in_arena = 0;
		s[i]->group = g;
		off += s[i]->cap + 1;
	}
	g->refs = n;
	g->ending = 0;
	sodium_mprotect_readonly(g->base);
	return 0;
}

void kmc_secret_group_end(kmc_secret *s)
{
	ro_group *g = s ? s->group : NULL;

	if (!g || g->ending)
		return;
	sodium_mprotect_readwrite(g->base);
	g->ending = 1;
}

/* One secret of a group leaves it: its bytes wiped at once (the
   mapping writable for that moment, or already, once the group is
   ending), the mapping freed with the last. */
static void group_leave(kmc_secret *s)
{
	ro_group *g = s->group;

	if (--g->refs == 0) {
		sodium_free(g->base);	/* writable, wiped, unlocked, unmapped */
		free(g);
		return;
	}
	if (!g->ending)
		sodium_mprotect_readwrite(g->base);
	sodium_memzero(s->data, s->cap + 1);
	if (!g->ending)
		sodium_mprotect_readonly(g->base);
}

void kmc_secret_free(kmc_secret *s)
{
	if (!s)
		return;
	if (s->group)
		group_leave(s);
	else if (s->in_arena)
		kmc_arena_free(s->data);	/* checks and wipes the slot */
	else
		/* Makes the pages writable, wipes and unlocks them. */
		sodium_free(s->data);
	free(s);
}

/*
 * oneversion.c - several items of the vault read as one version of it.
 *
 * Each item read is a read transaction of its own. A change another
 * process commits between two of them (a rotation's import --replace or
 * promote) pairs one version's certificate with the next one's key: a
 * server reloading in a loop beside a rotation in a loop failed 2% of
 * its loads that way ("key values mismatch"). vault_read_one_version()
 * runs the reads again while the store's generation moves under them.
 */
#include "vault.h"
#include "store.h"

#define ONE_VERSION_TRIES 8

int vault_read_one_version(kmc_vault *v, const char *what,
	int (*read)(kmc_vault *v, void *arg), void (*undo)(void *arg),
	void *arg)
{
	uint64_t g0, g1;
	int r, s;

	for (int i = 0; i < ONE_VERSION_TRIES; i++) {
		KMC_GUARD(store_stat(&v->st, NULL, &g0));
		r = read(v, arg);
		s = store_stat(&v->st, NULL, &g1);
		/* Reads that cannot be shown to be of one version are not
		   handed on. */
		if (s < 0 && r == 0)
			undo(arg);
		if (s < 0)
			return r < 0 ? r : s;
		if (g1 == g0)
			return r;
		/* A read that failed as the vault changed may have met the
		   change (an item gone, or not there yet): tried again too. */
		undo(arg);
		kmc_detail_clear();
	}
	return kmc_detail(KMC_E_BUSY, "%s: the vault changed while it was "
		"read, %d times in a row; try again", what, ONE_VERSION_TRIES);
}

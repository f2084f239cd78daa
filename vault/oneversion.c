/*
 * oneversion.c - several items of the vault read as one version of it.
 *
 * Each item read was a read transaction of its own. A change another
 * process commits between two of them (a rotation's import --replace or
 * promote) paired one version's certificate with the next one's key: a
 * server reloading in a loop beside a rotation in a loop failed 2% of
 * its loads that way ("key values mismatch"). Reads were then run again
 * while the store's generation moved under them, and a writer committing
 * without pause, even to other items, made all 8 tries fail
 * (KMC_E_BUSY). Now the reads share one snapshot (store_pin()): what
 * others commit meanwhile is not seen, and nothing is read again.
 *
 * What is read outside the snapshot, a token key the kmc provider loads
 * through a handle of its own, is checked against the snapshot's record
 * by its reader, which answers KMC_E_BUSY when they differ: only then are
 * the reads run again, under a new snapshot.
 */
#include "vault.h"
#include "store.h"

#define ONE_VERSION_TRIES 8

/* The same snapshot for a program's own reads. */
int kmc_vault_snapshot(kmc_vault *v)
{
	int r;

	kmc_detail_clear();
	r = store_pin(&v->st);
	if (r == 0)
		return kmc_detail(KMC_E_BUSY, "%s: a snapshot of this handle is "
			"held already", v->dir);
	return r < 0 ? r : 0;
}

void kmc_vault_snapshot_end(kmc_vault *v)
{
	store_unpin(&v->st, 1);
}

int vault_read_one_version(kmc_vault *v, const char *what,
	int (*read)(kmc_vault *v, void *arg), void (*undo)(void *arg),
	void *arg)
{
	int pinned, r;

	for (int i = 0; i < ONE_VERSION_TRIES; i++) {
		pinned = store_pin(&v->st);
		if (pinned < 0)
			return pinned;
		r = read(v, arg);
		store_unpin(&v->st, pinned);
		/* Inside another's snapshot: that reader tries again. */
		if (r != KMC_E_BUSY || !pinned)
			return r;
		undo(arg);
		kmc_detail_clear();
	}
	return kmc_detail(KMC_E_BUSY, "%s: the vault changed while it was "
		"read, %d times in a row; try again", what, ONE_VERSION_TRIES);
}

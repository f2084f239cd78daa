/*
 * row_open.c - row 3: opening a vault of a million items (100,000 when
 * quick) against one of 10: opening must not grow with the item count.
 */
#include "bench.h"

#define OPEN_SAMPLES 51
#define SMALL_ITEMS 10

static double sample_open(void *arg)
{
	const char *dir = arg;
	kmc_vault *v;
	double t0 = now();

	check_kmc(kmc_vault_open(dir, 0, &v), "opening %s", dir);
	kmc_vault_close(v);
	return now() - t0;
}

int row_open(row *r, bench_env *e)
{
	static char what[80], about[400];
	char small[PATH_MAX];
	const char *large;
	unsigned n;

	large = million_vault(e, &n);
	path_join(small, tmp_dir, "small");
	million_build(small, SMALL_ITEMS, NULL);
	snprintf(what, sizeof(what), "open+close %u items vs %u items", n,
		SMALL_ITEMS);
	snprintf(about, sizeof(about), "kmc_vault_open (read-only, host "
		"protector) + kmc_vault_close of a vault of\n   %u items (%u B "
		"each) vs one of %u items. Vault files: %.0f B an item at %u "
		"items\n   (keystores + items.mdb over the count), %.0f B an "
		"item at %u.", n, MILLION_ITEM_SIZE, SMALL_ITEMS,
		million_bytes_per_item(large, n), n,
		million_bytes_per_item(small, SMALL_ITEMS), SMALL_ITEMS);
	r->what = what;
	r->about = about;
	r->per = "open+close";
	fprintf(stderr, "kmc-bench: row 3: opening %u items vs %d items\n", n,
		SMALL_ITEMS);
	/* As many under BENCH_QUICK: 51 opens take a tenth of a second,
	   and fewer left its ratio to the noise. */
	measure(r, (side){ sample_open, (void *)large },
		(side){ sample_open, small }, OPEN_SAMPLES);
	return 1;
}

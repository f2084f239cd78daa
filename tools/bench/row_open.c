/*
 * row_open.c - row 3: opening a vault of 100,000 items against one of
 * 10: opening must not grow with the item count.
 */
#include "bench.h"
/* Internal: only to fill the 100,000-item vault in one transaction. */
#include "../../vault/vault.h"

#define OPEN_SAMPLES 51
#define LARGE_ITEMS 100000
#define SMALL_ITEMS 10
#define ITEM_SIZE 256

static int seal_put(kmc_vault *v, store_txn *t, const char *name,
	const unsigned char *data, size_t len)
{
	return items_txn_put(v, t, name, KMC_ITEM_SECRET, data, len, 0);
}

/* Many items a transaction through the item layer: prove the result reads. */
static void verify_item_vault(const char *dir, unsigned n)
{
	kmc_status st __attribute__((cleanup(kmc_status_free))) =
		KMC_STATUS_INIT;
	kmc_secret *s;
	kmc_vault *v;

	check_kmc(kmc_vault_status(dir, &st), "reading the status of %s", dir);
	if (st.items != n)
		die("checking the vault", "%s holds %llu items, not %u", dir,
			(unsigned long long)st.items, n);
	check_kmc(kmc_vault_open(dir, 0, &v), "opening %s", dir);
	check_kmc(kmc_item_get_secret(v, "item-000001", &s),
		"kmc_item_get_secret item-000001 from %s", dir);
	if (kmc_secret_len(s) != ITEM_SIZE)
		die("checking the vault", "item-000001 in %s has %zu bytes, "
			"not %d", dir, kmc_secret_len(s), ITEM_SIZE);
	kmc_secret_free(s);
	kmc_vault_close(v);
}

/*
 * n items of random bytes, "item-000001" on. One transaction for all:
 * kmc_item_put commits (and syncs) once per item, which would take minutes.
 */
static void build_item_vault(const char *dir, unsigned n)
{
	unsigned char data[ITEM_SIZE];
	char name[32];
	kmc_vault *v;
	store_txn t;
	int r = 0;

	fprintf(stderr, "kmc-bench: building a vault of %u items\n", n);
	vault_create(dir);
	check_kmc(kmc_vault_open(dir, KMC_OPEN_WRITE, &v),
		"opening %s for writing", dir);
	kmc_detail_clear();
	check_kmc(store_txn_begin(&v->st, &t),
		"starting a store transaction in %s", dir);
	for (unsigned i = 1; r == 0 && i <= n; i++) {
		snprintf(name, sizeof(name), "item-%06u", i);
		randombytes_buf(data, sizeof(data));
		r = seal_put(v, &t, name, data, sizeof(data));
		if (i % 20000 == 0)
			fprintf(stderr, "kmc-bench:   %u of %u sealed\n", i, n);
	}
	if (r < 0)
		store_txn_abort(&t);
	check_kmc(r, "sealing and storing %s in %s", name, dir);
	check_kmc(store_txn_commit(&t), "committing %u items to %s", n, dir);
	sodium_memzero(data, sizeof(data));
	kmc_vault_close(v);
	verify_item_vault(dir, n);
}

/* ---------------------------------------------------------------- */
/* Row 3: opening a large vault against a small one                 */

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
	char large[PATH_MAX], small[PATH_MAX];

	(void)e;
	r->what = "open+close " STR(LARGE_ITEMS) " items vs " STR(SMALL_ITEMS)
		" items";
	r->about = "kmc_vault_open (read-only, host protector) + "
		"kmc_vault_close of a vault of\n   " STR(LARGE_ITEMS) " items ("
		STR(ITEM_SIZE) " B each) vs one of " STR(SMALL_ITEMS) " items.";
	r->per = "open+close";
	path_join(large, tmp_dir, "large");
	path_join(small, tmp_dir, "small");
	build_item_vault(large, LARGE_ITEMS);
	build_item_vault(small, SMALL_ITEMS);
	fprintf(stderr, "kmc-bench: row 3: opening %d items vs %d items\n",
		LARGE_ITEMS, SMALL_ITEMS);
	measure(r, (side){ sample_open, large }, (side){ sample_open, small },
		OPEN_SAMPLES);
	return 1;
}

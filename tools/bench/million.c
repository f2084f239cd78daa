/*
 * million.c - the vault of a million items that rows 3 (open) and
 * get-1m share: built once a run through the public batch API
 * (kmc_batch_*), one transaction, as an operator's
 * `kmc password set --batch` would. BENCH_QUICK builds 100,000.
 */
#include "bench.h"

static char dir[PATH_MAX];
static unsigned count;
static double build_seconds;

unsigned million_items(const bench_env *e)
{
	return e->quick ? MILLION_QUICK : MILLION;
}

void million_name(char *buf, size_t size, unsigned i)
{
	snprintf(buf, size, "item-%07u", i);
}

/* n items of MILLION_ITEM_SIZE random bytes, "item-0000001" on. */
void million_build(const char *where, unsigned n, double *ret_seconds)
{
	unsigned char data[MILLION_ITEM_SIZE];
	char name[32];
	kmc_batch *b;
	kmc_vault *v;
	kmc_secret *s;
	double t0;

	fprintf(stderr, "kmc-bench: building a vault of %u items\n", n);
	vault_create(where);
	check_kmc(kmc_vault_open(where, KMC_OPEN_WRITE, &v),
		"opening %s for writing", where);
	t0 = now();
	check_kmc(kmc_batch_begin(v, &b), "starting a batch in %s", where);
	for (unsigned i = 1; i <= n; i++) {
		million_name(name, sizeof(name), i);
		randombytes_buf(data, sizeof(data));
		check_kmc(kmc_batch_put(b, name, KMC_ITEM_SECRET, data,
			sizeof(data)), "sealing %s into %s", name, where);
	}
	check_kmc(kmc_batch_commit(b), "committing %u items to %s", n, where);
	if (ret_seconds)
		*ret_seconds = now() - t0;
	sodium_memzero(data, sizeof(data));
	kmc_vault_close(v);
	/* Prove the result reads: the count, and the last item. */
	check_kmc(kmc_vault_open(where, 0, &v), "opening %s", where);
	million_name(name, sizeof(name), n);
	check_kmc(kmc_item_get_secret(v, name, &s), "reading %s from %s",
		name, where);
	if (kmc_secret_len(s) != MILLION_ITEM_SIZE)
		die("checking the vault", "%s in %s has %zu bytes", name,
			where, kmc_secret_len(s));
	kmc_secret_free(s);
	kmc_vault_close(v);
	{
		kmc_status st __attribute__((cleanup(kmc_status_free))) =
			KMC_STATUS_INIT;

		check_kmc(kmc_vault_status(where, &st), "status of %s", where);
		if (st.items != n)
			die("checking the vault", "%s holds %llu items, not %u",
				where, (unsigned long long)st.items, n);
	}
}

const char *million_vault(bench_env *e, unsigned *ret_n)
{
	if (!dir[0]) {
		count = million_items(e);
		path_join(dir, tmp_dir, "million");
		million_build(dir, count, &build_seconds);
		fprintf(stderr, "kmc-bench:   %u items sealed and committed in "
			"%.1f s (%.0f items/s)\n", count, build_seconds,
			count / build_seconds);
	}
	*ret_n = count;
	return dir;
}

/* Bytes of the vault's files (keystores, store) over its items. */
double million_bytes_per_item(const char *where, unsigned n)
{
	static const char *const files[] = { "kmc.ks", "StandbyKsf.ks",
		"items.mdb" };
	char path[PATH_MAX];
	double total = 0;
	struct stat st;

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		path_join(path, where, files[i]);
		if (stat(path, &st) < 0)
			die("sizing the vault", "%s: %s", path, strerror(errno));
		total += (double)st.st_size;
	}
	return total / n;
}

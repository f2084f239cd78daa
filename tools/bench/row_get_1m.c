/*
 * row_get_1m.c - kmc_item_get_secret of one item of a million against
 * the least that can fetch and open it: mdb_get of the same record from
 * the same B-tree (a byte copy of items.mdb, opened by plain LMDB) and an
 * XChaCha20-Poly1305 open of a record of the same size and associated
 * data length. Each sample is one call, on an item drawn at random (the
 * same draw for both sides), so the two rows give the 50th and 99th
 * percentiles of single calls, a server's many tenants.
 *
 * The audit log is off on the kmcvault side (audit_bench_set(), internal
 * to the static library): nearly every call is some item's first read,
 * which appends a record, and rows 14 to 16 give that price. Here the
 * item store and its digest are measured.
 */
#include "bench.h"
#include <lmdb.h>

void audit_bench_set(kmc_vault *v, int on);

#define GET_CALLS 20001
#define GET_CALLS_QUICK 4001
/* "kmcvault/item/v1" || vault id || u8 || "item-0000001" || header */
#define AD_LEN (16 + 16 + 1 + 12 + 24)

typedef struct raw {
	MDB_env *env;
	MDB_dbi dbi;
	unsigned char key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
	unsigned char nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
	unsigned char ad[AD_LEN];
	unsigned char ct[MILLION_ITEM_SIZE +
		crypto_aead_xchacha20poly1305_ietf_ABYTES];
	unsigned long long ct_len;
} raw;

static int done;
static double p50[2], p99[2];	/* kmcvault, peer */
static size_t calls;
static unsigned items;

static double pct(double *x, size_t n, double p)
{
	qsort(x, n, sizeof(*x), cmp_double);
	return x[(size_t)(p * (double)(n - 1) + 0.5)];
}

static double time_kmc(kmc_vault *v, const char *name)
{
	kmc_secret *s;
	double t0 = now(), t;

	check_kmc(kmc_item_get_secret(v, name, &s), "kmc_item_get_secret %s",
		name);
	kmc_secret_free(s);
	t = now() - t0;
	return t;
}

static double time_raw(raw *w, const char *name)
{
	unsigned char pt[MILLION_ITEM_SIZE];
	unsigned long long len;
	MDB_txn *txn;
	MDB_val k = { strlen(name), (void *)name }, val;
	double t0 = now(), t;
	int rc;

	rc = mdb_txn_begin(w->env, NULL, MDB_RDONLY, &txn);
	if (rc == 0)
		rc = mdb_get(txn, w->dbi, &k, &val);
	if (rc != 0)
		die("mdb_get", "%s: %s", name, mdb_strerror(rc));
	/* The record is there, of the size the open works on. */
	if (val.mv_size != 24 + sizeof(w->ct) + sizeof(w->nonce))
		die("mdb_get", "%s: a record of %zu bytes", name, val.mv_size);
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(pt, &len, NULL, w->ct,
			w->ct_len, w->ad, sizeof(w->ad), w->nonce, w->key) != 0)
		die("xchacha20poly1305 decrypt", "the tag did not verify");
	mdb_txn_abort(txn);
	t = now() - t0;
	sodium_memzero(pt, sizeof(pt));
	return t;
}

static void raw_open(raw *w, const char *copy)
{
	unsigned char pt[MILLION_ITEM_SIZE];
	MDB_txn *txn;
	int rc;

	rc = mdb_env_create(&w->env);
	if (rc == 0)
		rc = mdb_env_set_maxdbs(w->env, 4);
	if (rc == 0)
		rc = mdb_env_set_mapsize(w->env, 4ull << 30);
	if (rc == 0)
		rc = mdb_env_open(w->env, copy, MDB_NOSUBDIR | MDB_RDONLY |
			MDB_NOLOCK, 0600);
	if (rc == 0)
		rc = mdb_txn_begin(w->env, NULL, MDB_RDONLY, &txn);
	if (rc == 0) {
		rc = mdb_dbi_open(txn, "items", 0, &w->dbi);
		/* Committed, or the handle closes with the transaction. */
		if (rc == 0)
			rc = mdb_txn_commit(txn);
		else
			mdb_txn_abort(txn);
	}
	if (rc != 0)
		die("opening the copy of items.mdb", "%s: %s", copy,
			mdb_strerror(rc));
	crypto_aead_xchacha20poly1305_ietf_keygen(w->key);
	randombytes_buf(w->nonce, sizeof(w->nonce));
	randombytes_buf(w->ad, sizeof(w->ad));
	randombytes_buf(pt, sizeof(pt));
	crypto_aead_xchacha20poly1305_ietf_encrypt(w->ct, &w->ct_len, pt,
		sizeof(pt), w->ad, sizeof(w->ad), NULL, w->nonce, w->key);
}

static void copy_file(const char *from, const char *to)
{
	proc p;

	proc_init(&p, "copying items.mdb", NULL);
	p.argv[0] = "cp";
	p.argv[1] = (char *)from;
	p.argv[2] = (char *)to;
	p.argv[3] = NULL;
	proc_run(&p);
}

static void run_both(bench_env *e)
{
	char store[PATH_MAX], copy[PATH_MAX], name[32];
	const char *dir = million_vault(e, &items);
	double *x[2];
	kmc_vault *v;
	raw *w = sodium_malloc(sizeof(*w));

	if (!w)
		die("row get-1m", "sodium_malloc: out of memory");
	calls = e->quick ? GET_CALLS_QUICK : GET_CALLS;
	x[0] = calloc(calls, sizeof(double));
	x[1] = calloc(calls, sizeof(double));
	if (!x[0] || !x[1])
		die("row get-1m", "out of memory");
	path_join(store, dir, "items.mdb");
	path_join(copy, tmp_dir, "raw-items.mdb");
	copy_file(store, copy);
	raw_open(w, copy);
	check_kmc(kmc_vault_open(dir, 0, &v), "opening %s", dir);
	audit_bench_set(v, 0);
	fprintf(stderr, "kmc-bench: row get-1m: %zu single gets from %u items "
		"each side\n", calls, items);
	/* Warm both, untimed: a server's pages are in memory too. */
	for (unsigned i = 1; i <= items; i += 97) {
		million_name(name, sizeof(name), i);
		(void)time_kmc(v, name);
		(void)time_raw(w, name);
	}
	for (size_t i = 0; i < calls; i++) {
		million_name(name, sizeof(name),
			1 + randombytes_uniform(items));
		/* Alternate which side goes first: neither gets the warmer
		   cache always. */
		if (i % 2) {
			x[0][i] = time_kmc(v, name);
			x[1][i] = time_raw(w, name);
		} else {
			x[1][i] = time_raw(w, name);
			x[0][i] = time_kmc(v, name);
		}
	}
	kmc_vault_close(v);
	mdb_env_close(w->env);
	sodium_free(w);
	unlink(copy);
	for (int s = 0; s < 2; s++) {
		p50[s] = pct(x[s], calls, 0.50);
		p99[s] = pct(x[s], calls, 0.99);
		free(x[s]);
	}
	done = 1;
}

static int fill(row *r, bench_env *e, int which)
{
	static char what[2][80], about[2][400];

	if (!done)
		run_both(e);
	snprintf(what[which], sizeof(what[which]), "item_get p%d, %u items vs "
		"mdb_get+decrypt", which ? 99 : 50, items);
	snprintf(about[which], sizeof(about[which]), "kmc_item_get_secret + "
		"kmc_secret_free of one %u B item of %u, drawn at random,\n   vs "
		"mdb_get of the same record from a copy of items.mdb (plain "
		"LMDB, read-only)\n   + an XChaCha20-Poly1305 open of as many "
		"bytes: the %s of single calls. The audit log is off\n   (a "
		"first read's record: rows 14-16).", MILLION_ITEM_SIZE, items,
		which ? "99th percentile" : "median");
	r->what = what[which];
	r->about = about[which];
	r->a = which ? p99[0] : p50[0];
	r->b = which ? p99[1] : p50[1];
	r->samples = calls;
	r->per = "single calls";
	return 1;
}

int row_get_1m_p50(row *r, bench_env *e)
{
	return fill(r, e, 0);
}

int row_get_1m_p99(row *r, bench_env *e)
{
	return fill(r, e, 1);
}

/*
 * row_batch.c - sealing many passwords in one batch (kmc_batch_begin,
 * kmc_batch_put of each, kmc_batch_commit) against the least that stores
 * them sealed: one LMDB write transaction of XChaCha20-Poly1305 seals and
 * mdb_puts, committed durably as kmc's is. Each sample fills a fresh
 * store (made untimed), so both sides pay for a growing B-tree.
 */
#include "bench.h"
#include <lmdb.h>

#define BATCH_ITEMS 100000u
#define BATCH_ITEMS_QUICK 20000u
#define BATCH_SAMPLES 7
#define BATCH_SAMPLES_QUICK 3
#define PW_LEN 32
#define AD_LEN (16 + 16 + 1 + 12 + 24)	/* as an item's, named as below */

typedef struct batch_ctx {
	unsigned n;
	unsigned sample;
	char (*pw)[PW_LEN];	/* the passwords, guarded */
} batch_ctx;

static void pw_name(char *buf, size_t size, unsigned i)
{
	snprintf(buf, size, "tenant-%06u", i);
}

static double sample_kmc(void *arg)
{
	batch_ctx *c = arg;
	char dir[PATH_MAX], leaf[32], name[32];
	kmc_vault *v;
	kmc_batch *b;
	double t0;

	snprintf(leaf, sizeof(leaf), "batch-%u", c->sample++);
	path_join(dir, tmp_dir, leaf);
	vault_create(dir);
	check_kmc(kmc_vault_open(dir, KMC_OPEN_WRITE, &v), "opening %s", dir);
	t0 = now();
	check_kmc(kmc_batch_begin(v, &b), "starting a batch in %s", dir);
	for (unsigned i = 0; i < c->n; i++) {
		pw_name(name, sizeof(name), i);
		check_kmc(kmc_batch_put(b, name, KMC_ITEM_PASSWORD, c->pw[i],
			PW_LEN), "sealing %s", name);
	}
	check_kmc(kmc_batch_commit(b), "committing %u passwords", c->n);
	t0 = now() - t0;
	kmc_vault_close(v);
	return t0 / c->n;
}

static void lmdb_check(int rc, const char *what)
{
	if (rc != 0)
		die("raw LMDB", "%s: %s", what, mdb_strerror(rc));
}

static double sample_raw(void *arg)
{
	batch_ctx *c = arg;
	unsigned char key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
	unsigned char ad[AD_LEN];
	unsigned char rec[24 + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES +
		PW_LEN + crypto_aead_xchacha20poly1305_ietf_ABYTES];
	unsigned char *nonce = rec + 24, *ct = nonce +
		crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
	char file[PATH_MAX], leaf[32], name[32];
	unsigned long long ct_len;
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	double t0;

	snprintf(leaf, sizeof(leaf), "raw-%u.mdb", c->sample++);
	path_join(file, tmp_dir, leaf);
	lmdb_check(mdb_env_create(&env), "mdb_env_create");
	lmdb_check(mdb_env_set_maxdbs(env, 4), "mdb_env_set_maxdbs");
	lmdb_check(mdb_env_set_mapsize(env, 4ull << 30), "mapsize");
	lmdb_check(mdb_env_open(env, file, MDB_NOSUBDIR, 0600), file);
	crypto_aead_xchacha20poly1305_ietf_keygen(key);
	randombytes_buf(ad, sizeof(ad));
	memset(rec, 0, 24);
	t0 = now();
	lmdb_check(mdb_txn_begin(env, NULL, 0, &txn), "mdb_txn_begin");
	lmdb_check(mdb_dbi_open(txn, "items", MDB_CREATE, &dbi),
		"mdb_dbi_open");
	for (unsigned i = 0; i < c->n; i++) {
		MDB_val k, val = { sizeof(rec), rec };

		pw_name(name, sizeof(name), i);
		k = (MDB_val){ strlen(name), name };
		randombytes_buf(nonce, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
		crypto_aead_xchacha20poly1305_ietf_encrypt(ct, &ct_len,
			(const unsigned char *)c->pw[i], PW_LEN, ad, sizeof(ad),
			NULL, nonce, key);
		lmdb_check(mdb_put(txn, dbi, &k, &val, 0), "mdb_put");
	}
	lmdb_check(mdb_txn_commit(txn), "mdb_txn_commit");
	t0 = now() - t0;
	mdb_env_close(env);
	sodium_memzero(key, sizeof(key));
	unlink(file);
	snprintf(file + strlen(file), sizeof(file) - strlen(file), "-lock");
	unlink(file);
	return t0 / c->n;
}

int row_batch(row *r, bench_env *e)
{
	static char what[80], about[400];
	batch_ctx c = { 0 };

	c.n = e->quick ? BATCH_ITEMS_QUICK : BATCH_ITEMS;
	c.pw = sodium_malloc((size_t)c.n * PW_LEN);
	if (!c.pw)
		die("row batch", "sodium_malloc: out of memory");
	for (unsigned i = 0; i < c.n; i++)
		random_password(c.pw[i], PW_LEN);
	fprintf(stderr, "kmc-bench: row batch: %u passwords a batch\n", c.n);
	measure(r, (side){ sample_kmc, &c }, (side){ sample_raw, &c },
		e->quick ? BATCH_SAMPLES_QUICK : BATCH_SAMPLES);
	sodium_free(c.pw);
	snprintf(what, sizeof(what), "batch seal %u passwords vs raw", c.n);
	snprintf(about, sizeof(about), "kmc_batch_begin + kmc_batch_put of "
		"%u passwords of %d B + kmc_batch_commit into a new\n   vault "
		"(%.0f items/s), vs one LMDB write transaction of as many "
		"XChaCha20-Poly1305\n   seals and mdb_puts, committed (%.0f "
		"items/s). Per item.", c.n, PW_LEN, 1 / r->a, 1 / r->b);
	r->what = what;
	r->about = about;
	r->per = "batches (per item)";
	return 1;
}

/*
 * test_storetree.c - the item store's digest (vault/storetree.c,
 * vault/treewalk.c): every way of changing the store through kmc gives
 * the root a rebuild gives, and every record changed behind kmc's back
 * (written with LMDB directly, as mdb_load does) is refused when read,
 * naming the item, and named by the verify walk.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include "unit_files.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kmc.h>
#include <kmc/admin.h>
#include "../../vault/vault.h"
#include "../../vault/store.h"
#include "../../vault/bind.h"
#include "../../vault/storetree.h"

typedef struct fixture {
	char tmp[256];
	char vdir[512];
	char hk[512];
	kmc_vault *v;		/* tmp/v, writable, items a and b */
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	if (unit_tree_make("storetree", f->tmp, f->vdir, f->hk) != 0)
		return -1;
	if (unit_host_vault(f->vdir, f->hk, &f->v) != 0 ||
	    kmc_item_put(f->v, "a", KMC_ITEM_SECRET, "a1", 2) != 0 ||
	    kmc_item_put(f->v, "b", KMC_ITEM_SECRET, "b1", 2) != 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;

	if (f) {
		kmc_vault_close(f->v);
		unit_tree_remove(f->tmp);
		free(f);
	}
	return 0;
}

/* meta "tree": version, root, leaf count. */
static void get_root(kmc_vault *v, uint8_t root[32], uint64_t *leaves)
{
	uint8_t *m = NULL;
	size_t len = 0;

	assert_int_equal(store_meta_get(&v->st, "tree", &m, &len), 0);
	assert_int_equal(len, 41);
	assert_int_equal(m[0], 1);
	memcpy(root, m + 1, 32);
	*leaves = 0;
	for (int i = 0; i < 8; i++)
		*leaves = *leaves << 8 | m[33 + i];
	free(m);
}

typedef struct seen {
	size_t n;
	char names[8][160];
} seen;

static int note(void *arg, store_db db, const uint8_t *key, size_t key_len,
	const char *what)
{
	seen *s = arg;

	(void)what;
	if (s->n < 8) {
		size_t n = key ? key_len : 0;

		/* history keys: name 0x00 version; keep the name */
		if (db == STORE_DB_HISTORY && n > 5)
			n -= 5;
		snprintf(s->names[s->n], sizeof(s->names[0]), "%s%.*s",
			key ? (db == STORE_DB_HISTORY ? "h:" : "") : "(tree)",
			(int)n, key ? (const char *)key : "");
	}
	s->n++;
	return 0;
}

static size_t verify(kmc_vault *v, seen *s)
{
	size_t bad = 99;

	memset(s, 0, sizeof(*s));
	assert_int_equal(storetree_verify(&v->st, note, s, &bad), 0);
	return bad;
}

/* The stored tree is dropped and built again from the records: the
   root must be the one the commits kept. */
static void assert_rebuild_same(kmc_vault *v)
{
	uint8_t before[32], after[32];
	uint64_t n1, n2;
	MDB_txn *txn;
	seen s;

	get_root(v, before, &n1);
	assert_int_equal(verify(v, &s), 0);
	/* Emptied first, so that nothing of the old tree can survive. */
	assert_int_equal(mdb_txn_begin(v->st.env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_drop(txn, store_tree_dbi(&v->st), 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	assert_int_equal(storetree_rebuild(&v->st), 0);
	get_root(v, after, &n2);
	assert_memory_equal(before, after, 32);
	assert_true(n1 == n2);
}

/* Write a record with LMDB itself, as mdb_load would: no tree update,
   no generation. rec NULL deletes. */
static void raw_put(kmc_vault *v, store_db db, const void *key, size_t klen,
	const uint8_t *rec, size_t len)
{
	MDB_dbi dbi = db == STORE_DB_HISTORY ? store_history_dbi(&v->st) :
		v->st.items;
	MDB_val k = { klen, (void *)key }, val = { len, (void *)rec };
	MDB_txn *txn;

	assert_int_equal(mdb_txn_begin(v->st.env, NULL, 0, &txn), 0);
	if (rec)
		assert_int_equal(mdb_put(txn, dbi, &k, &val, 0), 0);
	else
		assert_int_equal(mdb_del(txn, dbi, &k, NULL), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
}

static uint8_t *get_rec(kmc_vault *v, const char *name, size_t *len)
{
	uint8_t *rec = NULL;

	assert_int_equal(store_get(&v->st, name, &rec, len), 0);
	return rec;
}

static void assert_refused(kmc_vault *v, const char *name)
{
	kmc_secret *s = NULL;

	assert_int_equal(kmc_item_get_secret(v, name, &s), KMC_E_ROLLBACK);
	assert_null(s);
	assert_non_null(strstr(kmc_error_detail(), name));
	assert_non_null(strstr(kmc_error_detail(), "disagrees with its digest"));
}

/* ---- the tree kept by commits ------------------------------------------ */

static void test_commits_match_rebuild(void **state)
{
	fixture *f = *state;
	kmc_batch *b = NULL;
	store_txn t;
	size_t n;
	uint8_t root[32];
	uint64_t leaves;
	char name[32];

	get_root(f->v, root, &leaves);
	assert_true(leaves == 2);
	/* update, keep history, delete, batch */
	assert_int_equal(kmc_item_put(f->v, "a", KMC_ITEM_SECRET, "a2", 2), 0);
	assert_int_equal(store_txn_begin(&f->v->st, &t), 0);
	assert_int_equal(items_txn_put(f->v, &t, "b", KMC_ITEM_SECRET, "b2",
		2, 1), 0);
	assert_int_equal(store_txn_commit(&t), 0);
	get_root(f->v, root, &leaves);
	assert_true(leaves == 3);	/* a, b, b's version 1 */
	assert_rebuild_same(f->v);
	assert_int_equal(kmc_batch_begin(f->v, &b), 0);
	for (int i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "batch%03d", i);
		assert_int_equal(kmc_batch_put(b, name, KMC_ITEM_PASSWORD,
			"pw", 2), 0);
	}
	assert_int_equal(kmc_batch_commit(b), 0);
	assert_rebuild_same(f->v);
	assert_int_equal(kmc_item_remove(f->v, "b"), 0);
	assert_int_equal(store_txn_begin(&f->v->st, &t), 0);
	assert_int_equal(store_txn_drop_history(&t, "b", &n), 0);
	assert_int_equal(store_txn_commit(&t), 0);
	get_root(f->v, root, &leaves);
	assert_true(leaves == 301);
	assert_rebuild_same(f->v);
	/* Everything removed: the empty tree's root is zeros. */
	assert_int_equal(store_txn_begin(&f->v->st, &t), 0);
	assert_int_equal(store_txn_del(&t, "a"), 0);
	for (int i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "batch%03d", i);
		assert_int_equal(store_txn_del(&t, name), 0);
	}
	assert_int_equal(store_txn_commit(&t), 0);
	get_root(f->v, root, &leaves);
	assert_true(leaves == 0);
	for (int i = 0; i < 32; i++)
		assert_int_equal(root[i], 0);
	assert_rebuild_same(f->v);
}

/* ---- records changed behind kmc's back -------------------------------- */

static void test_replayed_record_refused(void **state)
{
	fixture *f = *state;
	size_t len;
	uint8_t *old = get_rec(f->v, "a", &len);
	seen s;

	assert_int_equal(kmc_item_put(f->v, "a", KMC_ITEM_SECRET, "a2", 2), 0);
	/* Read (and proven) first, as a server does: the record kept as
	   proven does not let the one put back in. */
	{
		kmc_secret *s2 = NULL;

		assert_int_equal(kmc_item_get_secret(f->v, "a", &s2), 0);
		kmc_secret_free(s2);
		assert_int_equal(kmc_item_get_secret(f->v, "a", &s2), 0);
		kmc_secret_free(s2);
	}
	raw_put(f->v, STORE_DB_ITEMS, "a", 1, old, len);
	assert_refused(f->v, "a");
	/* b, untouched, still reads. */
	kmc_secret *sec = NULL;
	assert_int_equal(kmc_item_get_secret(f->v, "b", &sec), 0);
	kmc_secret_free(sec);
	assert_int_equal(verify(f->v, &s), 1);
	assert_string_equal(s.names[0], "a");
	/* A fresh handle (no proven hashes) refuses it too. */
	kmc_vault *r = NULL;
	assert_int_equal(kmc_vault_open(f->vdir, 0, &r), 0);
	assert_refused(r, "a");
	kmc_vault_close(r);
	free(old);
}

static void test_altered_added_removed_refused(void **state)
{
	fixture *f = *state;
	size_t len;
	uint8_t *rec = get_rec(f->v, "a", &len);
	uint8_t *got = NULL;
	seen s;

	/* Altered: any byte. The store refuses it; the item read opens it
	   first and calls it what it is, damage (not a record put back). */
	rec[len - 1] ^= 1;
	raw_put(f->v, STORE_DB_ITEMS, "a", 1, rec, len);
	assert_int_equal(store_get(&f->v->st, "a", &got, &len),
		KMC_E_ROLLBACK);
	assert_null(got);
	{
		kmc_secret *sec = NULL;

		assert_int_equal(kmc_item_get_secret(f->v, "a", &sec),
			KMC_E_AUTH);
		assert_null(sec);
	}
	assert_int_equal(verify(f->v, &s), 1);
	assert_string_equal(s.names[0], "a");
	rec[len - 1] ^= 1;
	raw_put(f->v, STORE_DB_ITEMS, "a", 1, rec, len);
	assert_int_equal(verify(f->v, &s), 0);
	/* Added: a record kmc never wrote, under a new name. */
	raw_put(f->v, STORE_DB_ITEMS, "c", 1, rec, len);
	assert_int_equal(store_get(&f->v->st, "c", &got, &len), KMC_E_ROLLBACK);
	assert_null(got);
	assert_int_equal(verify(f->v, &s), 1);
	assert_string_equal(s.names[0], "c");
	raw_put(f->v, STORE_DB_ITEMS, "c", 1, NULL, 0);
	/* Removed: the digest still holds b. */
	raw_put(f->v, STORE_DB_ITEMS, "b", 1, NULL, 0);
	assert_refused(f->v, "b");
	assert_int_equal(verify(f->v, &s), 1);
	assert_string_equal(s.names[0], "b");
	/* A name that never was is simply absent. */
	assert_int_equal(store_get(&f->v->st, "zz", &got, &len),
		KMC_E_NOT_FOUND);
	free(rec);
}

static void test_history_checked(void **state)
{
	static const uint8_t a_v1[] = { 'a', 0, 0, 0, 0, 1 };
	fixture *f = *state;
	kmc_secret *sec = NULL;
	store_txn t;
	size_t len;
	uint8_t *rec = get_rec(f->v, "b", &len);
	seen s;

	assert_int_equal(store_txn_begin(&f->v->st, &t), 0);
	assert_int_equal(items_txn_put(f->v, &t, "a", KMC_ITEM_SECRET, "a2",
		2, 1), 0);
	assert_int_equal(store_txn_commit(&t), 0);
	assert_int_equal(kmc_item_get_version(f->v, "a", 1, 0, &sec), 0);
	assert_int_equal(kmc_secret_len(sec), 2);
	assert_memory_equal(kmc_secret_data(sec), "a1", 2);
	kmc_secret_free(sec);
	sec = NULL;
	assert_int_equal(verify(f->v, &s), 0);
	/* The old version replaced behind kmc's back. */
	raw_put(f->v, STORE_DB_HISTORY, a_v1, sizeof(a_v1), rec, len);
	assert_int_equal(kmc_item_get_version(f->v, "a", 1, 0, &sec),
		KMC_E_ROLLBACK);
	assert_non_null(strstr(kmc_error_detail(), "version 1 of item a"));
	assert_int_equal(verify(f->v, &s), 1);
	assert_string_equal(s.names[0], "h:a");
	/* Removed behind kmc's back: refused, not "no such version". */
	raw_put(f->v, STORE_DB_HISTORY, a_v1, sizeof(a_v1), NULL, 0);
	assert_int_equal(kmc_item_get_version(f->v, "a", 1, 0, &sec),
		KMC_E_ROLLBACK);
	free(rec);
}

/* The tree itself damaged: verify says so, reads refuse. */
static void test_tree_node_altered(void **state)
{
	fixture *f = *state;
	uint8_t k[5] = { 0, 0, 0, 0, 0 }, node[2048];
	MDB_val kv = { 5, k }, v;
	MDB_txn *txn;
	kmc_vault *r = NULL;
	seen s;

	assert_int_equal(mdb_txn_begin(f->v->st.env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_get(txn, store_tree_dbi(&f->v->st), &kv, &v), 0);
	assert_int_equal(v.mv_size, sizeof(node));
	memcpy(node, v.mv_data, sizeof(node));
	for (size_t i = 0; i < sizeof(node); i++)
		node[i] ^= 0x55;
	v = (MDB_val){ sizeof(node), node };
	assert_int_equal(mdb_put(txn, store_tree_dbi(&f->v->st), &kv, &v, 0),
		0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	assert_true(verify(f->v, &s) >= 1);
	assert_int_equal(kmc_vault_open(f->vdir, 0, &r), 0);
	assert_refused(r, "a");
	kmc_vault_close(r);
}

/* ---- the (generation, root) check ------------------------------------- */

typedef struct roots {
	int calls;
	int refuse;
	uint64_t gen;
} roots;

static int root_cb(void *arg, uint64_t gen, const uint8_t root[32])
{
	roots *x = arg;

	(void)root;
	x->calls++;
	x->gen = gen;
	return x->refuse;
}

static void test_root_check(void **state)
{
	fixture *f = *state;
	roots x = { 0 };
	uint64_t g = 0;
	uint8_t *rec;
	size_t len;

	free(get_rec(f->v, "a", &len));
	store_set_root_check(&f->v->st, root_cb, &x);
	free(get_rec(f->v, "a", &len));
	free(get_rec(f->v, "b", &len));
	/* The handle accepted this pair before the callback was set. */
	assert_int_equal(x.calls, 0);
	assert_int_equal(kmc_item_put(f->v, "a", KMC_ITEM_SECRET, "a2", 2), 0);
	free(get_rec(f->v, "a", &len));
	free(get_rec(f->v, "b", &len));
	assert_int_equal(x.calls, 1);
	assert_int_equal(store_stat(&f->v->st, NULL, &g), 0);
	assert_true(x.gen == g);
	x.refuse = KMC_E_ROLLBACK;
	assert_int_equal(kmc_item_put(f->v, "b", KMC_ITEM_SECRET, "b2", 2), 0);
	rec = NULL;
	assert_int_equal(store_get(&f->v->st, "a", &rec, &len), KMC_E_ROLLBACK);
	assert_null(rec);
	assert_int_equal(store_get(&f->v->st, "a", &rec, &len), KMC_E_ROLLBACK);
	assert_int_equal(x.calls, 3);	/* asked again, not remembered */
	/* The open's check, and a walk, ask too. */
	{
		int have = -1;

		assert_int_equal(store_check_root(&f->v->st, &have),
			KMC_E_ROLLBACK);
		assert_int_equal(x.calls, 4);
		x.refuse = 0;
		assert_int_equal(store_check_root(&f->v->st, &have), 0);
		assert_int_equal(have, 1);
		assert_int_equal(x.calls, 5);
		assert_int_equal(store_check_root(&f->v->st, &have), 0);
		assert_int_equal(x.calls, 5);	/* accepted: not asked again */
	}
	store_set_root_check(&f->v->st, NULL, NULL);
}

/* ---- a store an older kmc made ----------------------------------------- */

static void test_store_without_tree(void **state)
{
	fixture *f = *state;
	MDB_txn *txn;
	MDB_val k = { 4, "tree" };
	uint8_t one[4] = { 0, 0, 0, 1 }, *fmt = NULL;
	MDB_val fk = { 6, "format" }, fv = { 4, one };
	size_t flen = 0;
	MDB_dbi dbi;
	kmc_vault *r = NULL;
	kmc_secret *sec = NULL;
	uint8_t root[32];
	uint64_t leaves;
	seen s;
	size_t bad;

	/* As an older kmc left it: format 1, no tree database, no meta
	   "tree". */
	assert_int_equal(mdb_txn_begin(f->v->st.env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_del(txn, f->v->st.meta, &k, NULL), 0);
	assert_int_equal(mdb_put(txn, f->v->st.meta, &fk, &fv, 0), 0);
	dbi = store_tree_dbi(&f->v->st);
	assert_int_equal(mdb_drop(txn, dbi, 1), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	/* Nor had it a binding, nor the state file beside the host key
	   (both name the root that is gone now). */
	{
		char path[1024], hex[2 * KS_VAULT_ID_LEN + 1];
		char *slash;

		sodium_bin2hex(hex, sizeof(hex), f->v->ks->vault_id,
			KS_VAULT_ID_LEN);
		snprintf(path, sizeof(path), "%s/" BIND_NAME, f->vdir);
		assert_int_equal(unlink(path), 0);
		snprintf(path, sizeof(path), "%s", f->hk);
		slash = strrchr(path, '/');
		assert_non_null(slash);
		snprintf(slash + 1, sizeof(path) - (size_t)(slash + 1 - path),
			"kmcstate-%s", hex);
		assert_int_equal(unlink(path), 0);
	}
	kmc_vault_close(f->v);
	f->v = NULL;

	assert_int_equal(kmc_vault_open(f->vdir, 0, &r), 0);
	assert_int_equal(kmc_item_get_secret(r, "a", &sec), 0);
	kmc_secret_free(sec);
	assert_true(r->st.tree_absent);
	{
		int present = -1;

		assert_int_equal(store_tree_present(&r->st, &present), 0);
		assert_int_equal(present, 0);
	}
	assert_int_equal(storetree_verify(&r->st, NULL, NULL, &bad),
		KMC_E_NOT_FOUND);
	kmc_vault_close(r);

	/* The first writable open builds it, and the format becomes 2. */
	assert_int_equal(kmc_vault_open(f->vdir, KMC_OPEN_WRITE, &f->v), 0);
	assert_int_equal(store_meta_get(&f->v->st, "format", &fmt, &flen), 0);
	assert_int_equal(flen, 4);
	assert_int_equal(fmt[3], 2);
	free(fmt);
	get_root(f->v, root, &leaves);
	assert_true(leaves == 2);
	assert_int_equal(verify(f->v, &s), 0);
	assert_int_equal(kmc_item_get_secret(f->v, "a", &sec), 0);
	kmc_secret_free(sec);
	assert_false(f->v->st.tree_absent);
	{
		int present = -1;

		assert_int_equal(store_tree_present(&f->v->st, &present), 0);
		assert_int_equal(present, 1);
	}
}

/* The root removed from meta, to make the store look like an older
   kmc's and turn the checks off: refused by readers and writers. */
static void test_meta_root_removed(void **state)
{
	fixture *f = *state;
	MDB_txn *txn;
	MDB_val k = { 4, "tree" };
	kmc_vault *r = NULL;
	kmc_secret *sec = NULL;
	seen s;

	assert_int_equal(mdb_txn_begin(f->v->st.env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_del(txn, f->v->st.meta, &k, NULL), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	assert_int_equal(verify(f->v, &s), 1);
	assert_string_equal(s.names[0], "(tree)");
	kmc_vault_close(f->v);
	f->v = NULL;
	assert_int_equal(kmc_vault_open(f->vdir, 0, &r), 0);
	assert_int_equal(kmc_item_get_secret(r, "a", &sec), KMC_E_ROLLBACK);
	assert_non_null(strstr(kmc_error_detail(), "removed from its meta"));
	kmc_vault_close(r);
	r = NULL;
	assert_int_equal(kmc_vault_open(f->vdir, KMC_OPEN_WRITE, &r),
		KMC_E_ROLLBACK);
	assert_null(r);
}

/* meta "tree" as VAL (len bytes), then what tree_meta_read() says of it. */
static int meta_tree_as(kmc_vault *v, const uint8_t *val, size_t len)
{
	MDB_txn *txn;
	MDB_val k = { 4, "tree" }, mv = { len, (void *)val };
	uint8_t root[32];
	uint64_t leaves;
	int r;

	assert_int_equal(mdb_txn_begin(v->st.env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_put(txn, v->st.meta, &k, &mv, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	kmc_detail_clear();
	assert_int_equal(mdb_txn_begin(v->st.env, NULL, MDB_RDONLY, &txn), 0);
	r = tree_meta_read(txn, v->st.meta, root, &leaves);
	mdb_txn_abort(txn);
	return r;
}

/* The digest's version byte is read before the length it governs: a
   newer digest of another length is refused as newer (KMC_E_VERSION,
   naming both formats), never taken for damage; format 1 of the wrong
   length, or format 0, is damage. */
static void test_newer_tree_meta(void **state)
{
	fixture *f = *state;
	uint8_t val[64] = { 2 };

	assert_int_equal(meta_tree_as(f->v, val, 50), KMC_E_VERSION);
	assert_non_null(strstr(kmc_error_detail(), "digest of format 2, and "
		"this kmc reads format 1 only"));
	assert_int_equal(meta_tree_as(f->v, val, 1), KMC_E_VERSION);
	assert_int_equal(meta_tree_as(f->v, val, 41), KMC_E_VERSION);
	val[0] = 1;
	assert_int_equal(meta_tree_as(f->v, val, 40), KMC_E_CORRUPT);
	assert_int_equal(meta_tree_as(f->v, val, 42), KMC_E_CORRUPT);
	val[0] = 0;
	assert_int_equal(meta_tree_as(f->v, val, 41), KMC_E_CORRUPT);
	assert_int_equal(meta_tree_as(f->v, val, 0), KMC_E_CORRUPT);
}

/* ---- the handle's proven copies ---------------------------------------- */

static uint32_t bucket_of(const char *name)
{
	return tree_bucket(tree_id(STORE_DB_ITEMS, (const uint8_t *)name,
		strlen(name)));
}

/* A value of the tree database, copied (len 0: absent). */
static size_t tree_raw_get(kmc_vault *v, int level, uint32_t i,
	uint8_t *buf, size_t cap)
{
	uint8_t k[5];
	MDB_val kv = { 5, k }, val;
	MDB_txn *txn;
	size_t n = 0;

	tree_node_key(level, i, k);
	assert_int_equal(mdb_txn_begin(v->st.env, NULL, MDB_RDONLY, &txn), 0);
	if (mdb_get(txn, store_tree_dbi(&v->st), &kv, &val) == 0) {
		assert_true(val.mv_size <= cap);
		memcpy(buf, val.mv_data, val.mv_size);
		n = val.mv_size;
	}
	mdb_txn_abort(txn);
	return n;
}

/* Written with LMDB itself, as a restore of old pages would be. */
static void tree_raw_put(kmc_vault *v, int level, uint32_t i,
	const uint8_t *buf, size_t len)
{
	uint8_t k[5];
	MDB_val kv = { 5, k }, val = { len, (void *)buf };
	MDB_txn *txn;

	tree_node_key(level, i, k);
	assert_int_equal(mdb_txn_begin(v->st.env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_put(txn, store_tree_dbi(&v->st), &kv, &val, 0),
		0);
	assert_int_equal(mdb_txn_commit(txn), 0);
}

static void read_ok(kmc_vault *v, const char *name, const char *want)
{
	kmc_secret *s = NULL;

	assert_int_equal(kmc_item_get_secret(v, name, &s), 0);
	assert_int_equal(kmc_secret_len(s), strlen(want));
	assert_memory_equal(kmc_secret_data(s), want, strlen(want));
	kmc_secret_free(s);
}

/* Warm item a's proof as a server's reads leave it: its record kept,
   its level-2 node kept whole, and the next read of a record of a that
   differs from the kept one checks its bucket against the kept node. */
static void warm_a(kmc_vault *v, const char *want)
{
	read_ok(v, "a", want);
	read_ok(v, "a", want);
}

/* The copies a warm handle keeps (records, level-2 nodes, hashes) are
   proven under one root: a bucket or node put back behind kmc's back is
   still refused while they are warm, and after a commit none of them is
   trusted under the new root. */
static void test_warm_copies(void **state)
{
	fixture *f = *state;
	uint8_t old_bucket[4096], old_node[TREE_NODE_LEN];
	uint8_t *old_rec;
	size_t bucket_len, node_len, rec_len;
	uint32_t ba = bucket_of("a");

	assert_int_equal(kmc_item_put(f->v, "a", KMC_ITEM_SECRET, "a2", 2), 0);
	warm_a(f->v, "a2");
	old_rec = get_rec(f->v, "a", &rec_len);
	bucket_len = tree_raw_get(f->v, TREE_BUCKET_LEVEL, ba, old_bucket,
		sizeof(old_bucket));
	node_len = tree_raw_get(f->v, TREE_BUCKET_LEVEL - 1, ba / 64, old_node,
		sizeof(old_node));
	assert_true(bucket_len > 0);
	assert_int_equal(node_len, TREE_NODE_LEN);

	/* A commit: a is a3 now, and read again (warm under the new root). */
	assert_int_equal(kmc_item_put(f->v, "a", KMC_ITEM_SECRET, "a3", 2), 0);
	warm_a(f->v, "a3");
	/* Record a2, its bucket and its node put back behind kmc's back:
	   the kept node (a3's) refuses the old bucket. */
	raw_put(f->v, STORE_DB_ITEMS, "a", 1, old_rec, rec_len);
	tree_raw_put(f->v, TREE_BUCKET_LEVEL, ba, old_bucket, bucket_len);
	assert_refused(f->v, "a");
	tree_raw_put(f->v, TREE_BUCKET_LEVEL - 1, ba / 64, old_node, node_len);
	assert_refused(f->v, "a");
	read_ok(f->v, "b", "b1");

	/* Now the other way: the handle warm under a2's root, then a commit
	   (a4) and a2's record, bucket and node put back. The copies proven
	   under a2's root would take them; under the new root none is
	   trusted. */
	assert_int_equal(kmc_item_put(f->v, "a", KMC_ITEM_SECRET, "a2", 2), 0);
	warm_a(f->v, "a2");
	old_rec = (free(old_rec), get_rec(f->v, "a", &rec_len));
	bucket_len = tree_raw_get(f->v, TREE_BUCKET_LEVEL, ba, old_bucket,
		sizeof(old_bucket));
	node_len = tree_raw_get(f->v, TREE_BUCKET_LEVEL - 1, ba / 64, old_node,
		sizeof(old_node));
	assert_int_equal(kmc_item_put(f->v, "b", KMC_ITEM_SECRET, "b4", 2), 0);
	raw_put(f->v, STORE_DB_ITEMS, "a", 1, old_rec, rec_len);
	tree_raw_put(f->v, TREE_BUCKET_LEVEL, ba, old_bucket, bucket_len);
	tree_raw_put(f->v, TREE_BUCKET_LEVEL - 1, ba / 64, old_node, node_len);
	/* Nothing of a changed in the commit (b did): a2 is still a's
	   record, and its bucket and node the ones the digest holds. */
	warm_a(f->v, "a2");
	assert_int_equal(kmc_item_put(f->v, "a", KMC_ITEM_SECRET, "a4", 2), 0);
	raw_put(f->v, STORE_DB_ITEMS, "a", 1, old_rec, rec_len);
	tree_raw_put(f->v, TREE_BUCKET_LEVEL, ba, old_bucket, bucket_len);
	tree_raw_put(f->v, TREE_BUCKET_LEVEL - 1, ba / 64, old_node, node_len);
	assert_refused(f->v, "a");
	free(old_rec);
}

/* A record too large to keep (over 8 KiB) is read through the handle's
   buffer, checked in full every time: read again, and refused once an
   older copy is put back. */
static void test_large_record(void **state)
{
	enum { BIG = 20000 };
	fixture *f = *state;
	uint8_t *val = malloc(BIG), *old;
	kmc_secret *s = NULL;
	size_t len;

	assert_non_null(val);
	memset(val, 'x', BIG);
	assert_int_equal(kmc_item_put(f->v, "big", KMC_ITEM_SECRET, val, BIG),
		0);
	old = get_rec(f->v, "big", &len);
	memset(val, 'y', BIG);
	assert_int_equal(kmc_item_put(f->v, "big", KMC_ITEM_SECRET, val, BIG),
		0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(kmc_item_get_secret(f->v, "big", &s), 0);
		assert_int_equal(kmc_secret_len(s), BIG);
		assert_memory_equal(kmc_secret_data(s), val, BIG);
		kmc_secret_free(s);
		s = NULL;
	}
	raw_put(f->v, STORE_DB_ITEMS, "big", 3, old, len);
	assert_refused(f->v, "big");
	read_ok(f->v, "a", "a1");
	free(old);
	free(val);
}

/* The proof tables start small and grow as reads fill them: a handle
   that reads once keeps a few KiB, one that reads many items grows its
   tables, and a record, bucket or node put back is refused all the
   same, with small tables, after they grew and after a commit. */
#define MANY 400

static void read_many(kmc_vault *v)
{
	char name[16], want[16];

	for (int i = 0; i < MANY; i++) {
		snprintf(name, sizeof(name), "m%03d", i);
		snprintf(want, sizeof(want), "v%03d", i);
		read_ok(v, name, want);
	}
}

static void test_tables_grow(void **state)
{
	fixture *f = *state;
	uint8_t old_bucket[4096], old_node[TREE_NODE_LEN], node[TREE_NODE_LEN];
	uint8_t *old_rec;
	size_t bucket_len, node_len, rec_len, small;
	uint32_t ba = bucket_of("a"), bm = bucket_of("m007");
	kmc_vault *r = NULL, *r2 = NULL;
	kmc_batch *b = NULL;
	char name[16], val[16];

	assert_int_equal(kmc_batch_begin(f->v, &b), 0);
	for (int i = 0; i < MANY; i++) {
		snprintf(name, sizeof(name), "m%03d", i);
		snprintf(val, sizeof(val), "v%03d", i);
		assert_int_equal(kmc_batch_put(b, name, KMC_ITEM_SECRET, val,
			strlen(val)), 0);
	}
	assert_int_equal(kmc_batch_commit(b), 0);

	/* One read: one block of level-2 hashes and the first copies. */
	assert_int_equal(kmc_vault_open(f->vdir, 0, &r), 0);
	assert_int_equal(storetree_cache_bytes(&r->st), 0);
	read_ok(r, "a", "a1");
	small = storetree_cache_bytes(&r->st);
	assert_true(small > 0 && small <= 8192);
	/* a's record, bucket and node as they are now, to put back later. */
	old_rec = get_rec(f->v, "a", &rec_len);
	bucket_len = tree_raw_get(f->v, TREE_BUCKET_LEVEL, ba, old_bucket,
		sizeof(old_bucket));
	node_len = tree_raw_get(f->v, TREE_BUCKET_LEVEL - 1, ba / 64,
		old_node, sizeof(old_node));
	assert_int_equal(node_len, TREE_NODE_LEN);

	/* Small tables: a record put back is refused, and so is a
	   level-2 node altered, by a handle that has not kept it yet. */
	assert_int_equal(kmc_item_put(f->v, "a", KMC_ITEM_SECRET, "a2", 2), 0);
	raw_put(f->v, STORE_DB_ITEMS, "a", 1, old_rec, rec_len);
	assert_refused(r, "a");
	assert_int_equal(kmc_item_put(f->v, "a", KMC_ITEM_SECRET, "a3", 2), 0);
	assert_int_equal(tree_raw_get(f->v, TREE_BUCKET_LEVEL - 1, bm / 64,
		node, sizeof(node)), TREE_NODE_LEN);
	node[32 * (bm % 64)] ^= 1;
	tree_raw_put(f->v, TREE_BUCKET_LEVEL - 1, bm / 64, node, sizeof(node));
	assert_int_equal(kmc_vault_open(f->vdir, 0, &r2), 0);
	assert_refused(r2, "m007");
	kmc_vault_close(r2);
	node[32 * (bm % 64)] ^= 1;
	/* The tables keep 16 bytes of a hash. A handle that proved m007's
	   level-1 node through a sibling (another level-2 node under it)
	   checks m007's level-2 node against those 16 bytes: the node
	   altered in the last byte of another bucket's hash is refused. */
	for (int i = 0; i < MANY; i++) {
		snprintf(name, sizeof(name), "m%03d", i);
		if (bucket_of(name) / 64 != bm / 64 &&
		    bucket_of(name) / 4096 == bm / 4096)
			break;
		name[0] = 0;
	}
	assert_true(name[0]);
	assert_int_equal(kmc_vault_open(f->vdir, 0, &r2), 0);
	snprintf(val, sizeof(val), "v%s", name + 1);
	read_ok(r2, name, val);
	node[32 * ((bm + 1) % 64) + 31] ^= 1;
	tree_raw_put(f->v, TREE_BUCKET_LEVEL - 1, bm / 64, node, sizeof(node));
	assert_refused(r2, "m007");
	kmc_vault_close(r2);
	node[32 * ((bm + 1) % 64) + 31] ^= 1;
	tree_raw_put(f->v, TREE_BUCKET_LEVEL - 1, bm / 64, node, sizeof(node));

	/* Many reads: the tables grew, and every item still reads (twice:
	   the second from what the first proved, moved as they grew). */
	read_ok(r, "a", "a3");
	read_many(r);
	read_many(r);
	assert_true(storetree_cache_bytes(&r->st) > 16 * small);

	/* Grown and warm: a's old record, bucket and node put back are
	   refused, then a commit and the same again. */
	raw_put(f->v, STORE_DB_ITEMS, "a", 1, old_rec, rec_len);
	assert_refused(r, "a");
	tree_raw_put(f->v, TREE_BUCKET_LEVEL, ba, old_bucket, bucket_len);
	assert_refused(r, "a");
	tree_raw_put(f->v, TREE_BUCKET_LEVEL - 1, ba / 64, old_node, node_len);
	assert_refused(r, "a");
	assert_int_equal(kmc_item_put(f->v, "a", KMC_ITEM_SECRET, "a4", 2), 0);
	read_ok(r, "a", "a4");
	read_many(r);
	raw_put(f->v, STORE_DB_ITEMS, "a", 1, old_rec, rec_len);
	tree_raw_put(f->v, TREE_BUCKET_LEVEL, ba, old_bucket, bucket_len);
	tree_raw_put(f->v, TREE_BUCKET_LEVEL - 1, ba / 64, old_node, node_len);
	assert_refused(r, "a");
	read_ok(r, "m007", "v007");
	kmc_vault_close(r);
	free(old_rec);
}

/* A bulk reader's records (kmc_key_load: copied out of the map, the
   map's pages dropped, then checked) are checked as any read is: the
   copy is what the digest is asked about, and a record put back is
   refused, by a handle that read it before and by a fresh one. */
static void test_bulk_reads_checked(void **state)
{
	fixture *f = *state;
	size_t len;
	uint8_t *old = get_rec(f->v, "a", &len);
	kmc_vault *r = NULL;
	size_t bulk_bytes;

	assert_int_equal(kmc_item_put(f->v, "a", KMC_ITEM_SECRET, "a2", 2), 0);
	assert_int_equal(kmc_vault_open(f->vdir, 0, &r), 0);
	store_set_bulk(&r->st, 1);
	read_ok(r, "a", "a2");
	read_ok(r, "a", "a2");
	read_ok(r, "b", "b1");
	/* A bulk reader keeps the hashes it proved, but no copy of a node
	   (nor of a record): less than the same reads keep otherwise. */
	bulk_bytes = storetree_cache_bytes(&r->st);
	kmc_vault_close(r);
	assert_int_equal(kmc_vault_open(f->vdir, 0, &r), 0);
	read_ok(r, "a", "a2");
	read_ok(r, "b", "b1");
	assert_true(bulk_bytes > 0 && bulk_bytes < storetree_cache_bytes(&r->st));
	store_set_bulk(&r->st, 1);
	raw_put(f->v, STORE_DB_ITEMS, "a", 1, old, len);
	assert_refused(r, "a");
	kmc_vault_close(r);
	assert_int_equal(kmc_vault_open(f->vdir, 0, &r), 0);
	store_set_bulk(&r->st, 1);
	assert_refused(r, "a");
	read_ok(r, "b", "b1");
	kmc_vault_close(r);
	free(old);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_commits_match_rebuild),
		T(test_replayed_record_refused),
		T(test_bulk_reads_checked),
		T(test_altered_added_removed_refused),
		T(test_history_checked),
		T(test_tree_node_altered),
		T(test_root_check),
		T(test_store_without_tree),
		T(test_meta_root_removed),
		T(test_newer_tree_meta),
		T(test_warm_copies),
		T(test_large_record),
		T(test_tables_grow),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}

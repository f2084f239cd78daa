/*
 * treewalk.c - the whole-store walk of the digest (layout in
 * storetree.c): every record of items and history is read, the whole
 * tree recomputed, and then either written (storetree_make(): a store
 * an older kmc made gets its tree, in one transaction) or compared node
 * by node with the one stored (storetree_verify(): kmc verify). One walk
 * for both, so what verify checks is what the builder wrote. And the
 * tree's meta: its root and generation read together, whether it is
 * there, an empty tree for a new store.
 *
 * Memory: 48 bytes and the key per record, and 8.5 MB of hashes.
 */
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "store.h"
#include "storetree.h"
#include "vault.h"

typedef struct walk_rec {
	uint64_t id;
	size_t off;		/* of the key in the walk's key bytes */
	const uint8_t *key;	/* there, once every record is read */
	uint8_t db, key_len;
	uint8_t leaf[32];
} walk_rec;

typedef struct walk {
	store *st;
	MDB_txn *txn;
	int write;
	storetree_report_fn report;
	void *arg;
	size_t bad;
	walk_rec *r;
	size_t n, cap;
	uint8_t *keys;
	size_t keys_len, keys_cap;
	uint8_t *h[TREE_LEVELS];	/* recomputed hashes by level */
} walk;

static int collect(walk *w, store_db db, MDB_dbi dbi)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int r = 0, rc;

	if (!dbi)
		return 0;
	KMC_GUARD(db_err(mdb_cursor_open(w->txn, dbi, &cur)));
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		walk_rec *x;

		if (k.mv_size == 0 || !db_val_ok(w->st->env, &k, STORE_KEY_MAX)) {
			r = kmc_detail(KMC_E_CORRUPT, STORE_NAME " is damaged: %s "
				"key of %zu bytes; restore it from a backup",
				db == STORE_DB_HISTORY ? "a history" : "an item",
				k.mv_size);
			break;
		}
		r = db_check_val(w->st->env, &v, "record", "an item");
		if (r == 0)
			r = store_grow((void **)&w->r, &w->cap, w->n + 1, sizeof(*x),
				1024);
		if (r == 0)
			r = store_grow((void **)&w->keys, &w->keys_cap,
				w->keys_len + k.mv_size, 1, 1024);
		if (r < 0)
			break;
		x = &w->r[w->n++];
		x->id = tree_id(db, k.mv_data, k.mv_size);
		x->off = w->keys_len;
		x->db = (uint8_t)db;
		x->key_len = (uint8_t)k.mv_size;
		tree_leaf(db, k.mv_data, k.mv_size, v.mv_data, v.mv_size,
			x->leaf);
		memcpy(w->keys + w->keys_len, k.mv_data, k.mv_size);
		w->keys_len += k.mv_size;
	}
	if (r == 0 && rc != MDB_NOTFOUND)
		r = db_err(rc);
	mdb_cursor_close(cur);
	return r;
}

static tree_entry rec_entry(const walk_rec *x)
{
	return (tree_entry){ x->id, x->db, x->key_len, x->key, x->leaf };
}

static int rec_cmp(const void *a, const void *b)
{
	const walk_rec *x = a, *y = b;
	tree_entry ex = rec_entry(x), ey = rec_entry(y);
	uint32_t bx = tree_bucket(x->id), by = tree_bucket(y->id);

	if (bx != by)
		return bx < by ? -1 : 1;
	return tree_entry_cmp(&ex, &ey);
}

static int report(walk *w, const tree_entry *e, const char *what)
{
	w->bad++;
	if (!w->report)
		return 0;
	return e ? w->report(w->arg, (store_db)e->db, e->key, e->key_len,
		what) : w->report(w->arg, STORE_DB_ITEMS, NULL, 0, what);
}

/* Name each record where the stored bucket and the recomputed one
   differ. */
static int bucket_diff(walk *w, const uint8_t *old, size_t old_len,
	const uint8_t *want, size_t want_len)
{
	size_t oo = 0, wo = 0;
	tree_entry a, b;
	int ha = tree_entry_next(old, old_len, &oo, &a);
	int hb = tree_entry_next(want, want_len, &wo, &b);
	size_t before = w->bad;

	while (ha > 0 || hb > 0) {
		int cmp = ha <= 0 ? 1 : hb <= 0 ? -1 : tree_entry_cmp(&a, &b);

		if (cmp < 0)
			KMC_GUARD(report(w, &a, "the digest holds a record the "
				"store lacks"));
		else if (cmp > 0)
			KMC_GUARD(report(w, &b, "the digest does not hold this "
				"record"));
		else if (memcmp(a.leaf, b.leaf, 32) != 0)
			KMC_GUARD(report(w, &b, "the record is not the one the "
				"digest holds"));
		if (cmp <= 0)
			ha = tree_entry_next(old, old_len, &oo, &a);
		if (cmp >= 0)
			hb = tree_entry_next(want, want_len, &wo, &b);
		if (ha < 0)
			break;
	}
	if (ha < 0 || w->bad == before)
		KMC_GUARD(report(w, NULL, "a bucket of the digest is damaged"));
	return 0;
}

/* Write, or compare with the stored one, the node (level, i) of bytes
   p[0..len). */
static int node_out(walk *w, int level, uint32_t i, const uint8_t *p,
	size_t len, size_t *node_bad)
{
	MDB_dbi tree = store_tree_dbi(w->st);
	uint8_t k[5];
	MDB_val kv = { 5, k }, v;
	int r;

	tree_node_key(level, i, k);
	if (w->write) {
		v = (MDB_val){ len, (void *)p };
		return db_err(mdb_put(w->txn, tree, &kv, &v, 0));
	}
	r = db_err(mdb_get(w->txn, tree, &kv, &v));
	if (r < 0 && r != KMC_E_NOT_FOUND)
		return r;
	if (r == 0 && v.mv_size == len && db_val_ok(w->st->env, &v, len) &&
	    memcmp(v.mv_data, p, len) == 0)
		return 0;
	if (level < TREE_BUCKET_LEVEL) {
		(*node_bad)++;
		return 0;
	}
	if (r == 0 && !db_val_ok(w->st->env, &v, v.mv_size))
		return report(w, NULL, "a bucket of the digest lies past the "
			"end of the file");
	return bucket_diff(w, r == 0 ? v.mv_data : NULL, r == 0 ?
		v.mv_size : 0, p, len);
}

/* Buckets from the sorted records, then the nodes above them. */
static int recompute(walk *w, size_t *node_bad)
{
	uint8_t *buf = NULL;
	size_t cap = 0;
	int r = 0;

	for (int l = 0; l < TREE_LEVELS; l++) {
		w->h[l] = calloc(tree_level_size[l], 32);
		KMC_ENSURE(w->h[l], KMC_E_NOMEM);
	}
	for (size_t i = 0; r == 0 && i < w->n;) {
		uint32_t b = tree_bucket(w->r[i].id);
		size_t len = 0, j;

		for (j = i; j < w->n && tree_bucket(w->r[j].id) == b; j++)
			len += ENTRY_FIXED + w->r[j].key_len;
		r = store_grow((void **)&buf, &cap, len, 1, 1024);
		len = 0;
		for (; r == 0 && i < j; i++) {
			tree_entry e = rec_entry(&w->r[i]);

			len += tree_entry_put(buf + len, &e);
		}
		if (r == 0) {
			tree_node_hash(TREE_BUCKET_LEVEL, buf, len,
				w->h[TREE_BUCKET_LEVEL] + 32 * (size_t)b);
			r = node_out(w, TREE_BUCKET_LEVEL, b, buf, len, node_bad);
		}
	}
	free(buf);
	/* Hashed bottom-up, then written (or compared) top-down. */
	for (int l = TREE_BUCKET_LEVEL - 1; r == 0 && l >= 0; l--)
		for (size_t i = 0; i < tree_level_size[l]; i++)
			tree_node_hash(l, w->h[l + 1] + i * TREE_NODE_LEN,
				TREE_NODE_LEN, w->h[l] + 32 * i);
	for (int l = 0; r == 0 && l < TREE_BUCKET_LEVEL; l++)
		for (size_t i = 0; r == 0 && i < tree_level_size[l]; i++)
			if (!tree_is_zero(w->h[l] + 32 * i, 32))
				r = node_out(w, l, (uint32_t)i, w->h[l + 1] +
					i * TREE_NODE_LEN, TREE_NODE_LEN,
					node_bad);
	return r;
}

/* Nodes stored where the recomputed tree has none. */
static int extra_nodes(walk *w, size_t *node_bad)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int r = 0, rc;

	KMC_GUARD(db_err(mdb_cursor_open(w->txn, store_tree_dbi(w->st), &cur)));
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && r == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		const uint8_t *p = k.mv_data;
		uint32_t i;

		if (k.mv_size != 5 || !db_val_ok(w->st->env, &k, 5) ||
		    p[0] >= TREE_LEVELS) {
			(*node_bad)++;
			continue;
		}
		i = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 |
			(uint32_t)p[3] << 8 | p[4];
		if (i < tree_level_size[p[0]] &&
		    !tree_is_zero(w->h[p[0]] + 32 * (size_t)i, 32))
			continue;
		if (p[0] < TREE_BUCKET_LEVEL || i >= TREE_BUCKETS ||
		    !db_val_ok(w->st->env, &v, v.mv_size))
			(*node_bad)++;
		else
			r = bucket_diff(w, v.mv_data, v.mv_size, NULL, 0);
	}
	if (r == 0 && rc != 0 && rc != MDB_NOTFOUND)
		r = db_err(rc);
	mdb_cursor_close(cur);
	return r;
}

static int tree_walk(walk *w)
{
	uint8_t root[32];
	uint64_t leaves = 0;
	size_t node_bad = 0;
	int r;

	KMC_GUARD(collect(w, STORE_DB_ITEMS, w->st->items));
	KMC_GUARD(collect(w, STORE_DB_HISTORY, store_history_dbi(w->st)));
	for (size_t i = 0; i < w->n; i++)
		w->r[i].key = w->keys + w->r[i].off;
	if (w->n)
		qsort(w->r, w->n, sizeof(*w->r), rec_cmp);
	KMC_GUARD(recompute(w, &node_bad));
	if (w->write)
		return tree_meta_write(w->txn, w->st->meta, w->h[0], w->n);
	KMC_GUARD(extra_nodes(w, &node_bad));
	r = tree_meta_read(w->txn, w->st->meta, root, &leaves);
	KMC_GUARD(r);
	/* A record that disagrees changes every node above it and the root:
	   those are reported only when every record agrees. */
	if (w->bad)
		return 0;
	if (node_bad)
		KMC_GUARD(report(w, NULL, "inner nodes of the digest were "
			"altered"));
	else if (r == 0 || memcmp(root, w->h[0], 32) != 0 || leaves != w->n)
		KMC_GUARD(report(w, NULL, "the digest's root or count in meta "
			"differs from the records"));
	return 0;
}

static void walk_free(walk *w)
{
	free(w->r);
	free(w->keys);
	for (int l = 0; l < TREE_LEVELS; l++)
		free(w->h[l]);
}

int storetree_make(store *st)
{
	uint8_t root[32];
	MDB_txn *txn;
	int r;

	/* Only a store without the meta of a tree is built: one whose tree
	   another process made is opened, never rebuilt (a rebuild accepts
	   the records as they are). */
	KMC_GUARD(store_tree_reopen(st));
	KMC_GUARD(db_err(mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn)));
	r = tree_meta_read(txn, st->meta, root, NULL);
	mdb_txn_abort(txn);
	KMC_GUARD(r);
	if (r == 1)
		return 0;
	/* The tree, its meta and format 2 are made in one transaction. */
	if (store_tree_dbi(st) || st->format >= 2)
		return kmc_detail(KMC_E_ROLLBACK, STORE_NAME " has a digest "
			"whose root was removed from its meta; kmc verify says "
			"more");
	return storetree_rebuild(st);
}

int storetree_rebuild(store *st)
{
	walk w = { .st = st, .write = 1 };
	store_txn t;
	int r;

	KMC_GUARD(store_txn_begin(st, &t));
	t.tree_built = 1;
	r = store_tree_make_dbi(&t);
	/* A tree without its meta is not one: start again. */
	if (r == 0)
		r = db_err(mdb_drop(t.txn, store_tree_dbi(st), 0));
	w.txn = t.txn;
	if (r == 0)
		r = tree_walk(&w);
	/* An older kmc would change records without the tree: it refuses
	   format 2. */
	if (r == 0) {
		uint8_t ver[4] = { 0, 0, 0, STORE_FORMAT_VERSION };

		r = store_txn_meta_put(&t, "format", ver, sizeof(ver));
	}
	walk_free(&w);
	if (r < 0) {
		store_txn_abort(&t);
		store_tree_made(st, 0);
		return r;
	}
	r = store_txn_commit(&t);
	store_tree_made(st, r == 0);
	return r;
}

int storetree_verify(store *st, storetree_report_fn cb, void *arg,
	size_t *ret_bad)
{
	walk w = { .st = st, .report = cb, .arg = arg };
	uint8_t root[32];
	int r;

	*ret_bad = 0;
	KMC_GUARD(db_err(mdb_txn_begin(st->env, NULL, MDB_RDONLY, &w.txn)));
	r = tree_meta_read(w.txn, st->meta, root, NULL);
	if (r == 0 && (store_tree_dbi(st) || st->format >= 2))
		r = report(&w, NULL, "the digest's root was removed from "
			"the store's meta");
	else if (r == 0)
		r = kmc_detail(KMC_E_NOT_FOUND, STORE_NAME " has no digest yet "
			"(an older kmc made it): a writable open builds it");
	else if (r == 1 && !store_tree_dbi(st))
		r = report(&w, NULL, "the digest's tree database is gone");
	else if (r == 1)
		r = tree_walk(&w);
	mdb_txn_abort(w.txn);
	walk_free(&w);
	if (r == 0)
		*ret_bad = w.bad;
	return r;
}

/* ---- the tree's meta ---------------------------------------------------- */

int storetree_init(MDB_txn *txn, MDB_dbi meta)
{
	static const uint8_t zero[32];

	return tree_meta_write(txn, meta, zero, 0);
}

int store_root_read(store *st, uint64_t *ret_gen, uint8_t root[32])
{
	MDB_txn *txn;
	int r;

	KMC_GUARD(db_err(mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn)));
	r = store_read_generation(txn, st->meta, ret_gen);
	if (r == 0) {
		r = tree_meta_read(txn, st->meta, root, NULL);
		if (r == 0)
			memset(root, 0, 32);
		r = r < 0 ? r : 0;
	}
	mdb_txn_abort(txn);
	return r;
}

int store_tree_present(store *st, int *ret)
{
	uint8_t root[32];
	MDB_txn *txn;
	int r;

	KMC_GUARD(db_err(mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn)));
	r = tree_meta_read(txn, st->meta, root, NULL);
	mdb_txn_abort(txn);
	KMC_GUARD(r);
	*ret = r;
	return 0;
}

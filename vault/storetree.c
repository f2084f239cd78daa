/*
 * storetree.c - the authenticated digest of the item store: a hash tree
 * over every record of "items" and "history", kept in the "tree"
 * database of items.mdb and updated in the transaction of each change.
 *
 * Layout (docs/format.md, "Hash tree"):
 *	id(db, key)   = SipHash-2-4 under the fixed key TREE_ID_KEY of
 *	                db u8 || key, 8 bytes: where the record's leaf sits.
 *	                Placement only: it need not resist collisions (the
 *	                leaf binds the whole key).
 *	leaf          = BLAKE2b-256(TREE_TAG || 'L' || db u8 || key_len u8 ||
 *	                key || value)
 *	bucket b      = the leaves whose id's top 18 bits are b, as entries
 *	                id u64 || db u8 || key_len u8 || key || leaf, sorted
 *	                by (id, db, key); tree key 3 || u32 b
 *	node (l, i)   = for l = 2, 1, 0: the 64 hashes of the nodes
 *	                (l + 1, 64 i .. 64 i + 63); tree key l || u32 i
 *	hash          = 32 zero bytes for an empty bucket or a node whose
 *	                children are all zero (neither is stored), else
 *	                BLAKE2b-256(TREE_TAG || l || the node's bytes)
 *	root          = hash of node (0, 0); meta "tree" = u8 version ||
 *	                root || u64 leaves
 *
 * This file: the hashes, the layout's pieces and the update of a commit.
 * treeread.c checks reads (and keeps what they proved), treewalk.c
 * builds and verifies the whole tree.
 */
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "store.h"
#include "vault.h"
#include "storetree.h"

static const uint8_t TREE_ID_KEY[crypto_shorthash_KEYBYTES] =
	"kmcvault/tree/id";

static const size_t level_size[TREE_LEVELS] = {
	1, TREE_FAN, TREE_FAN * TREE_FAN, TREE_BUCKETS
};
const size_t *const tree_level_size = level_size;

int tree_is_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

uint64_t tree_id(store_db db, const uint8_t *key, size_t key_len)
{
	uint8_t buf[1 + STORE_KEY_MAX], out[8];
	uint64_t id = 0;

	buf[0] = (uint8_t)db;
	memcpy(buf + 1, key, key_len);
	crypto_shorthash(out, buf, 1 + key_len, TREE_ID_KEY);
	for (int i = 0; i < 8; i++)
		id = id << 8 | out[i];
	return id;
}

uint32_t tree_bucket(uint64_t id)
{
	return (uint32_t)(id >> (64 - 18));
}

void tree_leaf(store_db db, const uint8_t *key, size_t key_len,
	const uint8_t *val, size_t len, uint8_t out[32])
{
	crypto_generichash_state s;
	uint8_t head[TREE_TAG_LEN + 3];

	memcpy(head, TREE_TAG, TREE_TAG_LEN);
	head[TREE_TAG_LEN] = 'L';
	head[TREE_TAG_LEN + 1] = (uint8_t)db;
	head[TREE_TAG_LEN + 2] = (uint8_t)key_len;
	crypto_generichash_init(&s, NULL, 0, 32);
	crypto_generichash_update(&s, head, sizeof(head));
	crypto_generichash_update(&s, key, key_len);
	crypto_generichash_update(&s, val, len);
	crypto_generichash_final(&s, out, 32);
}

void tree_node_hash(int level, const uint8_t *p, size_t len,
	uint8_t out[32])
{
	crypto_generichash_state s;
	uint8_t head[TREE_TAG_LEN + 1];

	if (len == 0 || (level < TREE_BUCKET_LEVEL && tree_is_zero(p, len))) {
		memset(out, 0, 32);
		return;
	}
	memcpy(head, TREE_TAG, TREE_TAG_LEN);
	head[TREE_TAG_LEN] = (uint8_t)level;
	crypto_generichash_init(&s, NULL, 0, 32);
	crypto_generichash_update(&s, head, sizeof(head));
	crypto_generichash_update(&s, p, len);
	crypto_generichash_final(&s, out, 32);
}

void tree_node_key(int level, uint32_t i, uint8_t k[5])
{
	k[0] = (uint8_t)level;
	k[1] = (uint8_t)(i >> 24);
	k[2] = (uint8_t)(i >> 16);
	k[3] = (uint8_t)(i >> 8);
	k[4] = (uint8_t)i;
}

/* ---- buckets ---------------------------------------------------------- */


/* The entry at *off of bucket p[0..len), advancing *off; 0 at the end,
   -1 when damaged. */
int tree_entry_next(const uint8_t *p, size_t len, size_t *off, tree_entry *e)
{
	size_t o = *off;

	if (o == len)
		return 0;
	if (len - o < ENTRY_FIXED)
		return -1;
	e->id = 0;
	for (int i = 0; i < 8; i++)
		e->id = e->id << 8 | p[o + i];
	e->db = p[o + 8];
	e->key_len = p[o + 9];
	if (e->db > STORE_DB_HISTORY || e->key_len == 0 ||
	    e->key_len > STORE_KEY_MAX || len - o < (size_t)ENTRY_FIXED + e->key_len)
		return -1;
	e->key = p + o + 10;
	e->leaf = e->key + e->key_len;
	*off = o + ENTRY_FIXED + e->key_len;
	return 1;
}

int tree_entry_cmp(const tree_entry *a, const tree_entry *b)
{
	size_t n = a->key_len < b->key_len ? a->key_len : b->key_len;
	int c;

	if (a->id != b->id)
		return a->id < b->id ? -1 : 1;
	if (a->db != b->db)
		return a->db < b->db ? -1 : 1;
	c = memcmp(a->key, b->key, n);
	if (c)
		return c;
	return a->key_len < b->key_len ? -1 : a->key_len > b->key_len;
}

size_t tree_entry_put(uint8_t *p, const tree_entry *e)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(e->id >> (56 - 8 * i));
	p[8] = e->db;
	p[9] = e->key_len;
	memcpy(p + 10, e->key, e->key_len);
	memcpy(p + 10 + e->key_len, e->leaf, 32);
	return ENTRY_FIXED + e->key_len;
}

/* ---- meta ---------------------------------------------------------------- */

/* The tree's meta value: 1 with root and count, 0 when the store has no
   tree yet (made by an older kmc). */
int tree_meta_read(MDB_txn *txn, MDB_dbi meta, uint8_t root[32],
	uint64_t *ret_leaves)
{
	MDB_val k = { 4, TREE_META }, v;
	const uint8_t *p;
	int r = db_err(mdb_get(txn, meta, &k, &v));
	uint64_t n = 0;

	if (r == KMC_E_NOT_FOUND)
		return 0;
	KMC_GUARD(r);
	/* The version byte before the length it governs: a newer digest's
	   meta value may be longer, and is refused as newer, never taken
	   for damage. Its one byte is checked to lie inside the file. */
	if (v.mv_size < 1 || !db_val_ok(mdb_txn_env(txn), &(MDB_val){ 1,
		v.mv_data }, 1))
		return kmc_detail(KMC_E_CORRUPT, STORE_NAME " is damaged: its "
			"digest's meta value is %zu bytes", v.mv_size);
	p = v.mv_data;
	if (p[0] > STORE_TREE_VERSION)
		return kmc_detail(KMC_E_VERSION, STORE_NAME " has a digest of "
			"format %u, and this kmc reads format %u only: a newer "
			"kmcvault wrote it", p[0], STORE_TREE_VERSION);
	if (v.mv_size != TREE_META_LEN ||
	    !db_val_ok(mdb_txn_env(txn), &v, TREE_META_LEN) ||
	    p[0] != STORE_TREE_VERSION)
		return kmc_detail(KMC_E_CORRUPT, STORE_NAME " is damaged: its "
			"digest's meta value is %zu bytes of format %u",
			v.mv_size, p[0]);
	memcpy(root, p + 1, 32);
	for (int i = 0; i < 8; i++)
		n = n << 8 | p[33 + i];
	if (ret_leaves)
		*ret_leaves = n;
	return 1;
}

int tree_meta_write(MDB_txn *txn, MDB_dbi meta, const uint8_t root[32],
	uint64_t leaves)
{
	uint8_t buf[TREE_META_LEN];
	MDB_val k = { 4, TREE_META }, v = { sizeof(buf), buf };

	buf[0] = STORE_TREE_VERSION;
	memcpy(buf + 1, root, 32);
	for (int i = 0; i < 8; i++)
		buf[33 + i] = (uint8_t)(leaves >> (56 - 8 * i));
	return db_err(mdb_put(txn, meta, &k, &v, 0));
}

/* ---- the update of a commit --------------------------------------------- */

typedef struct change {
	tree_entry e;
	uint8_t leaf[32];
	int deleted;
} change;

static int change_cmp(const void *a, const void *b)
{
	const change *x = a, *y = b;
	uint32_t bx = tree_bucket(x->e.id), by = tree_bucket(y->e.id);

	if (bx != by)
		return bx < by ? -1 : 1;
	return tree_entry_cmp(&x->e, &y->e);
}

/* A node hash that changed: (level, index) -> hash. */
typedef struct dirty {
	uint32_t i;
	uint8_t h[32];
} dirty;

/* Merge changes c[0..n) (one bucket, sorted) into bucket b; its new
   hash into out, *ret_delta the change in the count of leaves. */
static int bucket_update(MDB_txn *txn, MDB_dbi tree, uint32_t b,
	const change *c, size_t n, uint8_t out[32], int64_t *ret_delta)
{
	uint8_t k[5];
	MDB_val kv = { 5, k }, v;
	const uint8_t *old = NULL;
	size_t old_len = 0, off = 0, cap, len = 0, i = 0;
	uint8_t *buf;
	tree_entry e;
	int have, r, delta = 0;

	tree_node_key(TREE_BUCKET_LEVEL, b, k);
	r = db_err(mdb_get(txn, tree, &kv, &v));
	if (r == 0) {
		KMC_ENSURE(db_val_ok(mdb_txn_env(txn), &v, BUCKET_MAX),
			KMC_E_CORRUPT);
		old = v.mv_data;
		old_len = v.mv_size;
	} else if (r != KMC_E_NOT_FOUND) {
		return r;
	}
	cap = old_len + n * (ENTRY_FIXED + STORE_KEY_MAX);
	buf = malloc(cap ? cap : 1);
	KMC_ENSURE(buf, KMC_E_NOMEM);
	have = tree_entry_next(old, old_len, &off, &e);
	while (have > 0 || i < n) {
		int cmp = have <= 0 ? 1 : i == n ? -1 : tree_entry_cmp(&e, &c[i].e);

		if (cmp < 0) {
			len += tree_entry_put(buf + len, &e);
		} else {
			if (cmp > 0 && !c[i].deleted)
				delta++;
			if (cmp == 0 && c[i].deleted)
				delta--;
			if (!c[i].deleted)
				len += tree_entry_put(buf + len, &c[i].e);
			i++;
		}
		if (cmp <= 0)
			have = tree_entry_next(old, old_len, &off, &e);
		if (have < 0)
			break;
	}
	if (have < 0) {
		free(buf);
		return kmc_detail(KMC_E_CORRUPT, STORE_NAME " is damaged: bucket "
			"%u of its digest cannot be read; kmc verify says more",
			b);
	}
	tree_node_hash(TREE_BUCKET_LEVEL, buf, len, out);
	kv = (MDB_val){ 5, k };
	if (len) {
		v = (MDB_val){ len, buf };
		r = db_err(mdb_put(txn, tree, &kv, &v, 0));
	} else {
		r = db_err(mdb_del(txn, tree, &kv, NULL));
		if (r == KMC_E_NOT_FOUND)
			r = 0;
	}
	free(buf);
	*ret_delta = delta;
	return r;
}

/* Set the children d[0..n) (sorted by index) of level + 1 in their
   nodes at level; the nodes' new hashes replace d (fewer of them). */
static int level_update(MDB_txn *txn, MDB_dbi tree, int level, dirty *d,
	size_t *n)
{
	uint8_t node[TREE_NODE_LEN], k[5];
	size_t out = 0;
	int r;

	for (size_t i = 0; i < *n;) {
		uint32_t p = d[i].i / TREE_FAN;
		MDB_val kv = { 5, k }, v;

		tree_node_key(level, p, k);
		r = db_err(mdb_get(txn, tree, &kv, &v));
		if (r == 0 && (v.mv_size != TREE_NODE_LEN ||
			!db_val_ok(mdb_txn_env(txn), &v, TREE_NODE_LEN)))
			return kmc_detail(KMC_E_CORRUPT, STORE_NAME " is damaged: "
				"node %d/%u of its digest is %zu bytes", level,
				p, v.mv_size);
		if (r == 0)
			memcpy(node, v.mv_data, TREE_NODE_LEN);
		else if (r == KMC_E_NOT_FOUND)
			memset(node, 0, sizeof(node));
		else
			return r;
		for (; i < *n && d[i].i / TREE_FAN == p; i++)
			memcpy(node + 32 * (d[i].i % TREE_FAN), d[i].h, 32);
		d[out].i = p;
		tree_node_hash(level, node, sizeof(node), d[out].h);
		kv = (MDB_val){ 5, k };
		if (tree_is_zero(d[out].h, 32)) {
			r = db_err(mdb_del(txn, tree, &kv, NULL));
			if (r == KMC_E_NOT_FOUND)
				r = 0;
		} else {
			v = (MDB_val){ sizeof(node), node };
			r = db_err(mdb_put(txn, tree, &kv, &v, 0));
		}
		KMC_GUARD(r);
		out++;
	}
	*n = out;
	return 0;
}

static MDB_dbi rec_dbi(store *st, store_db db)
{
	return db == STORE_DB_HISTORY ? store_history_dbi(st) : st->items;
}

int storetree_update(store_txn *t, const store_touched *k, size_t n,
	uint8_t root_old[32], uint8_t root_new[32])
{
	store *st = t->st;
	MDB_dbi tree = store_tree_dbi(st);
	uint64_t leaves = 0;
	int64_t total = 0;
	change *c = NULL;
	dirty *d = NULL;
	size_t nd = 0;
	int r;

	memset(root_old, 0, 32);
	memset(root_new, 0, 32);
	r = tree_meta_read(t->txn, st->meta, root_old, &leaves);
	KMC_GUARD(r);
	if (r == 0)
		return 0;	/* no tree yet: storetree_make() builds it */
	/* A writable open opened it (storetree_make()); without it the
	   change would leave the tree behind. */
	if (!tree)
		return kmc_detail(KMC_E_CORRUPT, STORE_NAME " names a digest "
			"whose tree database this handle cannot see");
	memcpy(root_new, root_old, 32);
	if (n == 0)
		return 0;
	c = calloc(n, sizeof(*c));
	/* One changed hash a bucket at most. */
	d = calloc(n < TREE_BUCKETS ? n : TREE_BUCKETS, sizeof(*d));
	r = c && d ? 0 : KMC_E_NOMEM;
	for (size_t i = 0; r == 0 && i < n; i++) {
		MDB_val kv = { k[i].key_len, (void *)k[i].key }, v;

		c[i].e = (tree_entry){ tree_id(k[i].db, k[i].key,
			k[i].key_len), (uint8_t)k[i].db, (uint8_t)k[i].key_len, k[i].key,
			c[i].leaf };
		c[i].deleted = k[i].deleted;
		if (c[i].deleted)
			continue;
		r = db_err(mdb_get(t->txn, rec_dbi(st, k[i].db), &kv, &v));
		if (r == 0)
			tree_leaf(k[i].db, k[i].key, k[i].key_len, v.mv_data,
				v.mv_size, c[i].leaf);
	}
	if (r == 0)
		qsort(c, n, sizeof(*c), change_cmp);
	for (size_t i = 0; r == 0 && i < n;) {
		uint32_t b = tree_bucket(c[i].e.id);
		size_t j = i;
		int64_t delta = 0;

		while (j < n && tree_bucket(c[j].e.id) == b)
			j++;
		/* The sort moved the entries: point each at its own leaf. */
		for (size_t x = i; x < j; x++)
			c[x].e.leaf = c[x].leaf;
		r = bucket_update(t->txn, tree, b, c + i, j - i, d[nd].h,
			&delta);
		d[nd++].i = b;
		total += delta;
		i = j;
	}
	for (int level = TREE_BUCKET_LEVEL - 1; r == 0 && level >= 0; level--)
		r = level_update(t->txn, tree, level, d, &nd);
	if (r == 0) {
		memcpy(root_new, d[0].h, 32);
		r = tree_meta_write(t->txn, st->meta, root_new,
			(uint64_t)((int64_t)leaves + total));
	}
	free(c);
	free(d);
	return r;
}

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
 * A read checks its record's leaf against its bucket and the bucket up
 * to the root. Hashes proven under the current (generation, root) are
 * kept in the handle (tree_cache) until that pair moves, so a warm read
 * hashes its leaf and its bucket only; the bucket is always read again,
 * as a record replayed with mdb_load moves neither generation nor root.
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

#define SEEN_RECS 16		/* records kept, by id: 16 x (key + value) */
#define SEEN_VAL_MAX 8192	/* larger records are not kept */

struct tree_cache {
	uint64_t gen;
	uint8_t root[32];
	int have;
	/* The LMDB snapshot whose (generation, root) was last accepted, and
	   whether it had a tree: the same snapshot cannot hold another
	   pair, so its reads skip the two meta reads. */
	size_t txnid;
	int txn_ok, txn_have;
	uint32_t epoch;
	/* Hashes proven under (gen, root), by level (0 is the root), each
	   level a direct-mapped table: node i sits in slot i % slots, and a
	   slot whose epoch is not the current one holds nothing. The two
	   upper levels fit whole; the two lower (4,096 nodes, 262,144
	   buckets) keep a few hundred of each, so that a server reading ten
	   thousand keys keeps some 50 KiB here rather than megabytes (the
	   boot row's RSS). A miss costs a read of one node more. */
	struct cache_slot *slot[TREE_LEVELS];
	/* Records proven under (gen, root), kept whole: a record read again
	   that is byte for byte the one proven needs no bucket read nor
	   hash (a server reading its keys again and again). A record put
	   back behind kmc's back differs from the one kept, and is checked
	   in full. Records are ciphertext: ordinary heap. */
	struct seen_rec {
		uint32_t epoch;
		uint8_t db;
		uint8_t key_len;
		uint8_t key[STORE_KEY_MAX];
		size_t len, cap;
		uint8_t *val;
	} seen[SEEN_RECS];
};

struct cache_slot {
	uint32_t idx, epoch;
	uint8_t h[32];
};

static const size_t cache_slots[TREE_LEVELS] = { 1, TREE_FAN, TREE_FAN * TREE_FAN, 4096 };

static const uint8_t *cached(const struct tree_cache *c, int l, uint32_t i)
{
	const struct cache_slot *s = &c->slot[l][i % cache_slots[l]];

	return s->epoch == c->epoch && s->idx == i ? s->h : NULL;
}

static void cache_put(struct tree_cache *c, int l, uint32_t i,
	const uint8_t h[32])
{
	struct cache_slot *s = &c->slot[l][i % cache_slots[l]];

	s->idx = i;
	s->epoch = c->epoch;
	memcpy(s->h, h, 32);
}

static const uint8_t zero32[32];

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
	if (v.mv_size != TREE_META_LEN ||
	    !db_val_ok(mdb_txn_env(txn), &v, TREE_META_LEN))
		return kmc_detail(KMC_E_CORRUPT, STORE_NAME " is damaged: its "
			"digest's meta value is %zu bytes", v.mv_size);
	p = v.mv_data;
	if (p[0] != STORE_TREE_VERSION)
		return kmc_detail(KMC_E_VERSION, STORE_NAME " has a digest of "
			"format %u, and this kmc reads format %u only: a newer "
			"kmcvault wrote it", p[0], STORE_TREE_VERSION);
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

/* ---- reads ------------------------------------------------------------- */

void storetree_cache_free(store *st)
{
	struct tree_cache *c = st->tree_cache;

	if (!c)
		return;
	for (int l = 0; l < TREE_LEVELS; l++)
		free(c->slot[l]);
	for (size_t i = 0; i < SEEN_RECS; i++)
		free(c->seen[i].val);
	free(c);
	st->tree_cache = NULL;
}

static struct tree_cache *cache_get(store *st)
{
	struct tree_cache *c = st->tree_cache;

	if (c)
		return c;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	for (int l = 0; l < TREE_LEVELS; l++) {
		c->slot[l] = calloc(cache_slots[l], sizeof(*c->slot[l]));
		if (!c->slot[l]) {
			st->tree_cache = c;
			storetree_cache_free(st);
			return NULL;
		}
	}
	st->tree_cache = c;
	return c;
}

int storetree_read_check(store *st, MDB_txn *txn, int *ret_have)
{
	struct tree_cache *c;
	uint8_t root[32];
	uint64_t gen;
	int have, r;

	*ret_have = 0;
	c = st->tree_cache;
	if (c && c->txn_ok && c->txnid == mdb_txn_id(txn)) {
		*ret_have = c->txn_have;
		st->tree_absent = !c->txn_have;
		return 0;
	}
	KMC_GUARD(store_read_generation(txn, st->meta, &gen));
	have = tree_meta_read(txn, st->meta, root, NULL);
	KMC_GUARD(have);
	st->tree_absent = have == 0;
	if (have && !store_tree_dbi(st))
		KMC_GUARD(store_tree_reopen(st));
	/* The tree and its meta are made in one transaction: a tree
	   without it is one whose meta was removed, to turn the checks
	   off. */
	if (!have && (store_tree_dbi(st) || st->format >= 2))
		return kmc_detail(KMC_E_ROLLBACK, STORE_NAME " has a digest "
			"whose root was removed from its meta; kmc verify says "
			"more");
	if (!have)
		memset(root, 0, sizeof(root));
	else if (!store_tree_dbi(st))
		return kmc_detail(KMC_E_ROLLBACK, STORE_NAME " has lost its "
			"digest: its meta names one, and the tree database is "
			"gone; kmc verify says more");
	c = cache_get(st);
	KMC_ENSURE(c, KMC_E_NOMEM);
	if (!c->have || c->gen != gen || memcmp(c->root, root, 32) != 0) {
		if (st->root_fn) {
			r = st->root_fn(st->root_arg, gen, root);
			if (r != 0)
				return r;
		}
		c->have = 1;
		c->gen = gen;
		memcpy(c->root, root, 32);
		/* Every hash proven before is forgotten at once. */
		if (++c->epoch == 0) {
			for (int l = 0; l < TREE_LEVELS; l++)
				memset(c->slot[l], 0, cache_slots[l] *
					sizeof(*c->slot[l]));
			for (size_t i = 0; i < SEEN_RECS; i++)
				c->seen[i].epoch = 0;
			c->epoch = 1;
		}
		cache_put(c, 0, 0, root);
	}
	c->txn_ok = 1;
	c->txnid = mdb_txn_id(txn);
	c->txn_have = have;
	*ret_have = have;
	return 0;
}

static int disagrees(store_db db, const uint8_t *key, size_t key_len,
	const char *what)
{
	char name[KMC_NAME_MAX + 1];
	size_t n = key_len;
	uint32_t ver = 0;

	if (db == STORE_DB_HISTORY && n > 5) {
		n -= 5;
		for (int i = 0; i < 4; i++)
			ver = ver << 8 | key[n + 1 + i];
	}
	if (n > KMC_NAME_MAX)
		n = KMC_NAME_MAX;
	memcpy(name, key, n);
	name[n] = 0;
	if (db == STORE_DB_HISTORY)
		return kmc_detail(KMC_E_ROLLBACK, "version %u of item %s: "
			STORE_NAME " disagrees with its digest (%s); a record was "
			"put back, altered, added or removed behind kmc's back. "
			"kmc verify lists every disagreement; kmc repair "
			"--accept-rollback accepts a deliberate restore", ver,
			name, what);
	return kmc_detail(KMC_E_ROLLBACK, "item %s: " STORE_NAME " disagrees "
		"with its digest (%s); a record was put back, altered, added or "
		"removed behind kmc's back. kmc verify lists every "
		"disagreement; kmc repair --accept-rollback accepts a "
		"deliberate restore", name, what);
}

/* A disagreement about the record itself: given back through *ret_bad
   when the caller asked (it opens the record first, so that damage is
   told from a record put back), else refused. */
static int record_bad(int *ret_bad, store_db db, const uint8_t *key,
	size_t key_len, const char *what)
{
	if (!ret_bad)
		return disagrees(db, key, key_len, what);
	*ret_bad = 1;
	return 0;
}

/* Prove hash h of node (level, i) under the root, reading parents as far
   up as no proven hash is found; each parent proven proves its 64
   children. 0 proven, 1 not, or an error. */
static int prove(store *st, MDB_txn *txn, int level, uint32_t i,
	const uint8_t h[32])
{
	struct tree_cache *c = st->tree_cache;
	const uint8_t *nodes[TREE_LEVELS];
	uint8_t nh[TREE_LEVELS][32];
	uint32_t idx[TREE_LEVELS];
	MDB_dbi tree = store_tree_dbi(st);
	const uint8_t *ch;
	int l;

	idx[level] = i;
	for (l = level; l > 0; l--)
		idx[l - 1] = idx[l] / TREE_FAN;
	memcpy(nh[level], h, 32);
	for (l = level; l > 0 && !cached(c, l, idx[l]); l--) {
		uint8_t k[5];
		MDB_val kv = { 5, k }, v;
		int r;

		tree_node_key(l - 1, idx[l - 1], k);
		r = db_err(mdb_get(txn, tree, &kv, &v));
		if (r == KMC_E_NOT_FOUND) {
			if (!tree_is_zero(nh[l], 32))
				return 1;
			nodes[l - 1] = NULL;
			memset(nh[l - 1], 0, 32);
			continue;
		}
		KMC_GUARD(r);
		if (v.mv_size != TREE_NODE_LEN ||
		    !db_val_ok(st->env, &v, TREE_NODE_LEN))
			return 1;
		nodes[l - 1] = v.mv_data;
		if (memcmp(nodes[l - 1] + 32 * (idx[l] % TREE_FAN), nh[l],
				32) != 0)
			return 1;
		tree_node_hash(l - 1, v.mv_data, TREE_NODE_LEN, nh[l - 1]);
	}
	ch = cached(c, l, idx[l]);
	if (!ch || memcmp(ch, nh[l], 32) != 0)
		return 1;
	for (; l < level; l++) {
		uint32_t base = idx[l] * TREE_FAN;

		for (uint32_t x = 0; x < TREE_FAN; x++)
			cache_put(c, l + 1, base + x, nodes[l] ?
				nodes[l] + 32 * x : zero32);
	}
	return 0;
}

static struct seen_rec *seen_slot(struct tree_cache *c, uint64_t id)
{
	return &c->seen[id % SEEN_RECS];
}

static int seen_same(struct tree_cache *c, uint64_t id, store_db db,
	const uint8_t *key, size_t key_len, const MDB_val *val)
{
	const struct seen_rec *e = seen_slot(c, id);

	return e->epoch == c->epoch && e->val && e->db == (uint8_t)db &&
	    e->key_len == key_len && memcmp(e->key, key, key_len) == 0 &&
	    e->len == val->mv_size && memcmp(e->val, val->mv_data,
	    val->mv_size) == 0;
}

/* Best effort: a record not kept is checked in full next time. 1 when
   kept. */
static int seen_keep(struct tree_cache *c, uint64_t id, store_db db,
	const uint8_t *key, size_t key_len, const MDB_val *val)
{
	struct seen_rec *e = seen_slot(c, id);

	if (val->mv_size > SEEN_VAL_MAX || key_len > STORE_KEY_MAX)
		return 0;
	if (!e->val || e->cap < val->mv_size) {
		uint8_t *p = realloc(e->val, val->mv_size ? val->mv_size : 1);

		if (!p) {
			e->epoch = 0;	/* the old bytes may be gone */
			return 0;
		}
		e->val = p;
		e->cap = val->mv_size;
	}
	e->epoch = c->epoch;
	e->db = (uint8_t)db;
	e->key_len = (uint8_t)key_len;
	memcpy(e->key, key, key_len);
	e->len = val->mv_size;
	memcpy(e->val, val->mv_data, val->mv_size);
	return 1;
}

int storetree_check(store *st, MDB_txn *txn, store_db db, const uint8_t *key,
	size_t key_len, const MDB_val *val, int *ret_bad,
	const uint8_t **ret_kept)
{
	tree_entry want = { tree_id(db, key, key_len), (uint8_t)db,
		(uint8_t)key_len, key, NULL }, e;
	uint32_t b = tree_bucket(want.id);
	uint8_t k[5], leaf[32], bh[32];
	MDB_val kv = { 5, k }, v = { 0, NULL };
	const uint8_t *found = NULL;
	size_t off = 0;
	int have, r;

	if (ret_kept)
		*ret_kept = NULL;
	KMC_GUARD(storetree_read_check(st, txn, &have));
	if (!have)
		return 0;	/* a store an older kmc made, only read */
	if (val && seen_same(st->tree_cache, want.id, db, key, key_len, val)) {
		if (ret_kept)
			*ret_kept = seen_slot(st->tree_cache, want.id)->val;
		return 0;
	}
	tree_node_key(TREE_BUCKET_LEVEL, b, k);
	r = db_err(mdb_get(txn, store_tree_dbi(st), &kv, &v));
	if (r == KMC_E_NOT_FOUND)
		v = (MDB_val){ 0, NULL };
	else if (r < 0)
		return r;
	else if (!db_val_ok(st->env, &v, BUCKET_MAX))
		return record_bad(ret_bad, db, key, key_len, "its bucket is damaged");
	while ((have = tree_entry_next(v.mv_data, v.mv_size, &off, &e)) > 0)
		if (tree_entry_cmp(&e, &want) == 0) {
			found = e.leaf;
			break;
		}
	if (have < 0)
		return record_bad(ret_bad, db, key, key_len, "its bucket is damaged");
	if (val) {
		if (!found)
			return record_bad(ret_bad, db, key, key_len, "the digest does not "
				"hold this record");
		tree_leaf(db, key, key_len, val->mv_data, val->mv_size, leaf);
		if (sodium_memcmp(leaf, found, 32) != 0)
			return record_bad(ret_bad, db, key, key_len, "the record is not the "
				"one the digest holds");
	} else if (found) {
		return record_bad(ret_bad, db, key, key_len, "the digest holds a record "
			"the store lacks");
	}
	tree_node_hash(TREE_BUCKET_LEVEL, v.mv_data, v.mv_size, bh);
	r = prove(st, txn, TREE_BUCKET_LEVEL, b, bh);
	KMC_GUARD(r);
	if (r)
		return record_bad(ret_bad, db, key, key_len, "its bucket does not lead "
			"to the root");
	if (val && seen_keep(st->tree_cache, want.id, db, key, key_len, val) &&
	    ret_kept)
		*ret_kept = seen_slot(st->tree_cache, want.id)->val;
	return 0;
}

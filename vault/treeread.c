/*
 * treeread.c - the reads' side of the store's digest (storetree.c has
 * the layout and the commits' side): the check of a record read, or of
 * its absence, against the root in meta, and what the handle keeps of
 * what it proved (struct tree_cache) until (generation, root) moves.
 *
 * A read checks its record's leaf against its bucket and the bucket up
 * to the root. Kept, all proven under the current (generation, root):
 * hashes of nodes and buckets by level, whole level-2 nodes (as many as
 * the store's leaves pay for) and the last records read. So a warm read
 * hashes its leaf and its bucket and compares the bucket's hash with its
 * kept node; the bucket is always read again, as a record replayed with
 * mdb_load moves neither generation nor root. A new pair forgets all of
 * it at once (the epoch).
 *
 * Level 2's hashes and the kept nodes hold the first KEPT_HASH bytes of
 * each hash, not all 32. A kept hash is only ever compared with the hash
 * of bytes read later from the file, never written or handed on: to pass,
 * bytes put in the file must hash to the same first 16 bytes as the ones
 * proven, a second preimage of BLAKE2b at 128 bits. It halves the tables
 * a server with many keys keeps (docs/performance.md, row boot10k).
 */
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "store.h"
#include "vault.h"
#include "storetree.h"

#define SEEN_RECS 16		/* records kept, by id: 16 x (key + value) */
#define SEEN_VAL_MAX 8192	/* larger records are not kept */

#define NODE_LEVEL (TREE_BUCKET_LEVEL - 1)
#define KEPT_HASH 16		/* bytes kept of a hash (above) */
/* Leaves a kept level-2 node: 1 KiB for 256 leaves, 4 bytes a leaf. A
   store of 10,000 items reads a kept node again once in 100 reads or
   less, so a floor above 16 buys nothing there. */
#define NODE_LEAVES 256
#define NODE_MIN 16
/* A handle's first table of copies: a one-shot process reads once or a
   few times, and pays 2 KiB, not the budget. */
#define NODE_FIRST 2

struct tree_cache {
	uint64_t gen;
	uint8_t root[32];
	int have;
	/* The LMDB snapshot whose (generation, root) was last accepted, and
	   whether it had a tree: the same snapshot cannot hold another
	   pair, so its reads skip the two meta reads. txn_ok is set only
	   when the id is sure to name the snapshot (snapshot_id()). */
	size_t txnid;
	int txn_ok, txn_have;
	uint32_t epoch;
	/* Hashes proven under (gen, root) of the nodes of levels 0 and 1,
	   a table a level (1 and 64 slots): node i sits in slot i, and a
	   slot whose epoch is not the current one holds nothing. Level 2's
	   4,096 hashes (64 KiB in all) come in blocks of 64, one a level-1
	   node, filled whole when a proof proves that node (a parent proven
	   proves its 64 children at once): block i / 64, hash i % 64, made
	   on first need, so a handle that reads once holds one (1 KiB). */
	struct cache_slot *slot[NODE_LEVEL];
	struct hash_block *block[TREE_FAN];
	/* Level-2 nodes proven under (gen, root), whole: the hashes of
	   their 64 buckets, which a bucket read is checked against, with
	   no node read or hashed. Direct-mapped (node i in copy i % nodes)
	   and budgeted by the store's size: a copy for NODE_LEAVES leaves
	   (4 bytes a leaf), at least NODE_MIN, all 4,096 from half of them
	   on. A server with ten thousand keys may keep 39 (39 KiB), a
	   million items all (4 MiB). The table starts at NODE_FIRST copies
	   and doubles, up to the budget, when a copy proven would push out
	   another proven under the same root: reads fill it, a handle that
	   reads once keeps 2 KiB. The buckets' hashes have no table of
	   their own: a copy holds 64 of them in KEPT_HASH bytes each. */
	struct node_copy *node;
	size_t nodes;		/* the table's copies now */
	size_t node_max;	/* at most, for the store's size */
	uint64_t leaves;	/* under (gen, root) */
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

/* The 64 children of level-1 node idx, proven together. */
struct hash_block {
	uint32_t idx, epoch;
	uint8_t h[TREE_FAN][KEPT_HASH];
};

struct node_copy {
	uint32_t idx, epoch;
	uint8_t h[TREE_FAN][KEPT_HASH];
};

static const size_t cache_slots[NODE_LEVEL] = { 1, TREE_FAN };

/* The proven hash of node i of level l (levels 0 to 2), and how many of
   its bytes are kept (*ret_len); NULL when none is. */
static const uint8_t *cached(const struct tree_cache *c, int l, uint32_t i,
	size_t *ret_len)
{
	const struct cache_slot *s;
	const struct hash_block *b;

	if (l > NODE_LEVEL)
		return NULL;	/* buckets: their node's copy (node_cached) */
	if (l < NODE_LEVEL) {
		s = &c->slot[l][i % cache_slots[l]];
		*ret_len = sizeof(s->h);
		return s->epoch == c->epoch && s->idx == i ? s->h : NULL;
	}
	b = c->block[(i / TREE_FAN) % TREE_FAN];
	*ret_len = KEPT_HASH;
	return b && b->epoch == c->epoch && b->idx == i / TREE_FAN ?
		b->h[i % TREE_FAN] : NULL;
}

/* Node p of level l proven, node the bytes read (NULL: a node never
   written, whose children hash to zero): its 64 children's hashes are
   proven. Level 2's block is made on first need; best effort: when it
   cannot be, the hashes are not kept. */
static void children_put(struct tree_cache *c, int l, uint32_t p,
	const uint8_t *node)
{
	static const uint8_t zero32[32];

	if (l + 1 < NODE_LEVEL) {
		for (uint32_t x = 0; x < TREE_FAN; x++) {
			struct cache_slot *s = &c->slot[l + 1][(p * TREE_FAN +
				x) % cache_slots[l + 1]];

			s->idx = p * TREE_FAN + x;
			s->epoch = c->epoch;
			memcpy(s->h, node ? node + 32 * x : zero32, 32);
		}
	} else if (l + 1 == NODE_LEVEL) {
		struct hash_block **b = &c->block[p % TREE_FAN];

		if (!*b && !(*b = calloc(1, sizeof(**b))))
			return;
		(*b)->idx = p;
		(*b)->epoch = c->epoch;
		for (uint32_t x = 0; x < TREE_FAN; x++)
			memcpy((*b)->h[x], node ? node + 32 * x : zero32,
				KEPT_HASH);
	}
}

static const struct node_copy *node_cached(const struct tree_cache *c,
	uint32_t i)
{
	const struct node_copy *n;

	if (!c->nodes)
		return NULL;
	n = &c->node[i % c->nodes];
	return n->epoch == c->epoch && n->idx == i ? n : NULL;
}

/* The table of copies at want copies (more than now), the copies proven
   under the current root moved into it; 0, or -1 with the table as it
   was (best effort). */
static int node_grow(struct tree_cache *c, size_t want)
{
	struct node_copy *t = calloc(want, sizeof(*t));

	if (!t)
		return -1;
	for (size_t k = 0; k < c->nodes; k++) {
		const struct node_copy *o = &c->node[k];
		struct node_copy *n;

		if (o->epoch != c->epoch)
			continue;
		n = &t[o->idx % want];
		if (n->epoch != c->epoch)
			*n = *o;
	}
	free(c->node);
	c->node = t;
	c->nodes = want;
	return 0;
}

static void node_keep(struct tree_cache *c, uint32_t i, const uint8_t *b)
{
	struct node_copy *n;

	if (!c->nodes && node_grow(c, c->node_max < NODE_FIRST ?
			c->node_max : NODE_FIRST) < 0)
		return;
	if (!c->nodes)
		return;
	n = &c->node[i % c->nodes];
	/* Another copy proven under this root would be pushed out: room
	   for both, while the budget allows. */
	if (n->epoch == c->epoch && n->idx != i && c->nodes < c->node_max &&
	    node_grow(c, c->nodes * 2 < c->node_max ? c->nodes * 2 :
			c->node_max) == 0)
		n = &c->node[i % c->nodes];
	n->idx = i;
	n->epoch = c->epoch;
	for (uint32_t x = 0; x < TREE_FAN; x++)
		if (b)
			memcpy(n->h[x], b + 32 * x, KEPT_HASH);
		else
			memset(n->h[x], 0, KEPT_HASH);
}

/* The node copies the store's size allows (a new root was just
   accepted: no copy held is current). From half of the nodes on, all of
   them: a table a little short of the whole would map a few hundred
   nodes onto the same slots, and every read of those would miss (at a
   million leaves, 3,906 slots for 4,096 nodes made 9% of reads miss).
   Best effort: without the table reads read the nodes. A budget, not a
   table: node_keep grows the table to it as reads fill it. */
static void node_budget(struct tree_cache *c)
{
	uint64_t want = c->leaves / NODE_LEAVES;

	if (want < NODE_MIN)
		want = NODE_MIN;
	if (want >= tree_level_size[NODE_LEVEL] / 2)
		want = tree_level_size[NODE_LEVEL];
	/* The table itself grows as reads fill it (node_keep). */
	if (want > c->node_max)
		c->node_max = (size_t)want;
}

void storetree_cache_free(store *st)
{
	struct tree_cache *c = st->tree_cache;

	if (!c)
		return;
	for (int l = 0; l < NODE_LEVEL; l++)
		free(c->slot[l]);
	for (size_t i = 0; i < TREE_FAN; i++)
		free(c->block[i]);
	for (size_t i = 0; i < SEEN_RECS; i++)
		free(c->seen[i].val);
	free(c->node);
	free(c);
	st->tree_cache = NULL;
}

size_t storetree_cache_bytes(const store *st)
{
	const struct tree_cache *c = st->tree_cache;
	size_t n = 0;

	if (!c)
		return 0;
	for (size_t i = 0; i < TREE_FAN; i++)
		if (c->block[i])
			n += sizeof(*c->block[i]);
	return n + c->nodes * sizeof(*c->node);
}

static struct tree_cache *cache_get(store *st)
{
	struct tree_cache *c = st->tree_cache;

	if (c)
		return c;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	for (int l = 0; l < NODE_LEVEL; l++) {
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

/*
 * Whether txn's id names the snapshot it reads (store_txn_exact()): two
 * commits within its begin may have it read a newer snapshot under the
 * older id. Keyed by the id alone, a reader beside a writer committing
 * 3,000 times a second took the newer snapshot for one whose pair it had
 * accepted, checked it against that pair's proofs and refused reads as
 * rolled back ("its bucket does not lead to the root"), about one read
 * in 5,000. A transaction from store_read_begin() nearly always is
 * exact; one that is not reads the pair from its snapshot.
 */
static int snapshot_id(store *st, MDB_txn *txn, size_t *ret_id)
{
	*ret_id = mdb_txn_id(txn);
	return store_txn_exact(st, txn);
}

int storetree_read_check(store *st, MDB_txn *txn, int *ret_have)
{
	struct tree_cache *c;
	uint8_t root[32];
	uint64_t gen, leaves = 0;
	size_t txnid;
	int have, r, sure;

	*ret_have = 0;
	c = st->tree_cache;
	sure = snapshot_id(st, txn, &txnid);
	if (c && c->txn_ok && sure && c->txnid == txnid) {
		*ret_have = c->txn_have;
		st->tree_absent = !c->txn_have;
		return 0;
	}
	KMC_GUARD(store_read_generation(txn, st->meta, &gen));
	have = tree_meta_read(txn, st->meta, root, &leaves);
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
			for (int l = 0; l < NODE_LEVEL; l++)
				memset(c->slot[l], 0, cache_slots[l] *
					sizeof(*c->slot[l]));
			for (size_t i = 0; i < TREE_FAN; i++)
				if (c->block[i])
					c->block[i]->epoch = 0;
			for (size_t i = 0; i < SEEN_RECS; i++)
				c->seen[i].epoch = 0;
			for (size_t i = 0; i < c->nodes; i++)
				c->node[i].epoch = 0;
			c->epoch = 1;
		}
		c->leaves = leaves;
		node_budget(c);
		c->slot[0][0] = (struct cache_slot){ 0, c->epoch, { 0 } };
		memcpy(c->slot[0][0].h, root, 32);
	}
	c->txn_ok = sure;
	c->txnid = txnid;
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
	const struct node_copy *kept;
	const uint8_t *ch;
	size_t ch_len;
	int l;

	idx[level] = i;
	for (l = level; l > 0; l--)
		idx[l - 1] = idx[l] / TREE_FAN;
	memcpy(nh[level], h, 32);
	for (l = level; l > 0 && !cached(c, l, idx[l], &ch_len); l--) {
		uint8_t k[5];
		MDB_val kv = { 5, k }, v;
		int r;

		/* A proven copy of the parent proves or refuses at once: a
		   node that differs from it cannot hash to the proven hash. */
		if (l - 1 == NODE_LEVEL && (kept = node_cached(c, idx[l - 1])))
			return memcmp(kept->h[idx[l] % TREE_FAN], nh[l],
				KEPT_HASH) != 0;
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
	ch = cached(c, l, idx[l], &ch_len);
	if (!ch || memcmp(ch, nh[l], ch_len) != 0)
		return 1;
	for (; l < level; l++) {
		/* A bulk reader reads each record once (store_set_bulk): a
		   node kept for reads again would only be memory. */
		if (l == NODE_LEVEL && !st->bulk)
			node_keep(c, idx[l], nodes[l]);
		children_put(c, l, idx[l], nodes[l]);
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
	/* A bulk reader's bucket leaves the process before its nodes come
	   in (store_bulk_copy says why). */
	store_bulk_drop(st);
	r = prove(st, txn, TREE_BUCKET_LEVEL, b, bh);
	KMC_GUARD(r);
	if (r)
		return record_bad(ret_bad, db, key, key_len, "its bucket does not lead "
			"to the root");
	if (val && !st->bulk && seen_keep(st->tree_cache, want.id, db, key,
			key_len, val) && ret_kept)
		*ret_kept = seen_slot(st->tree_cache, want.id)->val;
	return 0;
}

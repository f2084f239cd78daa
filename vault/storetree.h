/*
 * storetree.h - the digest's pieces shared by storetree.c (commits and
 * reads) and treewalk.c (the whole-store walk that builds and verifies
 * it); the layout is at the top of storetree.c.
 */
#ifndef KMC_STORETREE_H
#define KMC_STORETREE_H

#include <stdint.h>
#include <lmdb.h>
#include "store.h"

#define TREE_TAG "kmcvault/tree/v1"
#define TREE_TAG_LEN 16
#define TREE_FAN 64
#define TREE_LEVELS 4			/* nodes 0..2, buckets 3 */
#define TREE_BUCKET_LEVEL 3
#define TREE_BUCKETS (TREE_FAN * TREE_FAN * TREE_FAN)
#define TREE_NODE_LEN (TREE_FAN * 32)
#define TREE_META "tree"
#define TREE_META_LEN (1 + 32 + 8)
/* An entry: id, db, key_len, key, leaf. */
#define ENTRY_FIXED (8 + 1 + 1 + 32)
/* A bucket cannot hold more than every key there is; this bounds a
   damaged one. */
#define BUCKET_MAX (1u << 24)

typedef struct tree_entry {
	uint64_t id;
	uint8_t db;
	uint8_t key_len;
	const uint8_t *key;
	const uint8_t *leaf;
} tree_entry;

extern const size_t *const tree_level_size;

KMC_INTERNAL int tree_is_zero(const uint8_t *p, size_t n);
KMC_INTERNAL uint64_t tree_id(store_db db, const uint8_t *key,
	size_t key_len);
KMC_INTERNAL uint32_t tree_bucket(uint64_t id);
KMC_INTERNAL void tree_leaf(store_db db, const uint8_t *key, size_t key_len,
	const uint8_t *val, size_t len, uint8_t out[32]);
KMC_INTERNAL void tree_node_hash(int level, const uint8_t *p, size_t len,
	uint8_t out[32]);
KMC_INTERNAL void tree_node_key(int level, uint32_t i, uint8_t k[5]);
/* 1 and the entry at *off (advanced), 0 at the end, -1 if damaged. */
KMC_INTERNAL int tree_entry_next(const uint8_t *p, size_t len, size_t *off,
	tree_entry *e);
KMC_INTERNAL int tree_entry_cmp(const tree_entry *a, const tree_entry *b);
KMC_INTERNAL size_t tree_entry_put(uint8_t *p, const tree_entry *e);
/* 1 with the root (and leaf count), 0 when the store has no tree. */
KMC_INTERNAL int tree_meta_read(MDB_txn *txn, MDB_dbi meta, uint8_t root[32],
	uint64_t *ret_leaves) KMC_MUST_CHECK;
KMC_INTERNAL int tree_meta_write(MDB_txn *txn, MDB_dbi meta,
	const uint8_t root[32], uint64_t leaves) KMC_MUST_CHECK;

#endif

/*
 * store.h - the LMDB item store, items.mdb beside the keystores.
 *
 * Named databases:
 *	"meta"   "format" -> u32 1; "vault_id" -> 16 bytes (binds the store
 *	         to its keystores); "generation" -> u64, grows by one in the
 *	         same transaction as every item change.
 *	"items"  item name -> record (see vault/items.c); only ciphertext.
 *	"history" name || 0x00 || u32 version -> a superseded record, kept
 *	         until removed (the 0x00 cannot occur in a name).
 *	meta "journal" -> the intent log of a multi-file change
 *	         (vault/journal.c), present only while one is under way.
 *
 * LMDB returns pointers into its map; every get copies the record out
 * before the read transaction ends, after checking that its length is at
 * most a record's and that it lies inside the pages the file holds
 * (KMC_E_CORRUPT otherwise).
 */
#ifndef KMC_STORE_H
#define KMC_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <lmdb.h>
#include "keystore.h"

#define STORE_NAME "items.mdb"
#define STORE_LOCK_NAME "items.mdb-lock"
/* Format 2: the store has its digest (storetree.c); format 1, made by
   an older kmc, is read as before and becomes 2 when a writable open
   builds the tree, so that an older kmc, which would change records
   without it, refuses the store instead. */
#define STORE_FORMAT_VERSION 2
#define STORE_FORMAT_OLD 1
#define STORE_TREE_VERSION 1
/* Address space, not disk: the file grows as items are added. */
#define STORE_MAP_SIZE (4ull * 1024 * 1024 * 1024)

struct shared_env;
struct store;
struct store_txn;
struct store_change;

/* The two databases of records. */
typedef enum store_db {
	STORE_DB_ITEMS,
	STORE_DB_HISTORY,
} store_db;

/*
 * The commit hook (store_set_commit_hook()): what a commit tells the
 * vault around mdb_txn_commit, in this order.
 *	STORE_PREPARE   inside the write transaction, the tree already
 *	                updated: a non-zero return aborts it and is what
 *	                store_txn_commit() returns (nothing changed);
 *	STORE_ABORTED   mdb_txn_commit failed: nothing changed (return
 *	                ignored);
 *	STORE_COMMITTED the change is made (return ignored: the hook leaves
 *	                what it could not finish to the next writable open).
 */
typedef enum store_phase {
	STORE_PREPARE,
	STORE_COMMITTED,
	STORE_ABORTED,
} store_phase;

typedef struct store_touched {		/* one key put or deleted */
	store_db db;
	const uint8_t *key;
	size_t key_len;
	int deleted;			/* 1: the key is gone after commit */
} store_touched;

/* What a commit changes: each key once, sorted by (db, key). */
typedef struct store_change {
	uint64_t gen_old, gen_new;	/* the store generation before/after */
	uint8_t root_old[32], root_new[32];	/* the tree's (storetree.c) */
	const store_touched *touched;
	size_t n_touched;
	struct store_txn *t;		/* PREPARE only: may read (store_txn_get) */
} store_change;

typedef int (*store_commit_fn)(void *arg, store_phase phase,
	const store_change *c);
/* The root check on reads (store_set_root_check()). */
typedef int (*store_root_fn)(void *arg, uint64_t gen,
	const uint8_t root[32]);

typedef struct store {
	MDB_env *env;
	MDB_dbi meta;
	MDB_dbi items;
	MDB_dbi history;
	struct shared_env *shared;	/* the process's one env for the file */
	/* A write transaction is open (a kmc_batch): LMDB allows one a
	   thread, so another begin on this handle would hang. */
	int writing;
	MDB_dbi tree;		/* the digest, 0 until built (storetree.c) */
	int tree_absent;	/* the last read found no digest */
	unsigned format;	/* meta "format" as the open read it */
	struct tree_cache *tree_cache;	/* what reads proved (treeread.c) */
	uint8_t *view;		/* store_get_view()'s copy (ciphertext) */
	size_t view_cap;
	int bulk;		/* store_set_bulk() */
	MDB_txn *pinned;	/* store_pin(): the reads' one snapshot */
	unsigned pin_walks;	/* store_walk_db() calls walking pinned */
	int pin_end_later;	/* store_unpin() during one: at its end */
	const char *dir;	/* its folder, for messages (the handle's) */
	/* store_set_commit_hook(), store_set_root_check() */
	store_commit_fn commit_fn;
	void *commit_arg;
	store_root_fn root_fn;
	void *root_arg;
} store;

/* How store_open() opens the file. */
typedef enum store_mode {
	STORE_OPEN = 0,		/* a vault's store: locked, shared, written */
	STORE_CREATE = 1,	/* make a new one in init's private folder */
	/* A copy that is only read (a backup's, or one being staged): no
	   lock file, nothing written, not shared; only store_stat(),
	   store_get() and store_meta_get() work on it. */
	STORE_PEEK = 2,
} store_mode;

/*
 * store_open - open (or make, or peek at: see store_mode) the store in
 * the folder path whose descriptor is dirfd, and check it belongs to
 * vault_id. Every open here: an existing file's meta pages are read and
 * checked before LMDB maps it, so a file shorter than they say is
 * KMC_E_CORRUPT, not SIGBUS later.
 * Returns 0; KMC_E_PERM, KMC_E_CORRUPT (damaged or truncated, with a
 * detail naming the file), KMC_E_WRONG_VAULT, KMC_E_VERSION, KMC_E_STORE,
 * -errno.
 */
KMC_INTERNAL int store_open(store *st, const char *path, int dirfd,
	store_mode mode, const uint8_t vault_id[KS_VAULT_ID_LEN])
	KMC_MUST_CHECK;
KMC_INTERNAL void store_close(store *st);
/* Whether st's environment was opened by the parent of this process
   (fork()): a child neither ends its transactions nor closes it. */
KMC_INTERNAL int store_inherited(const store *st);
KMC_INTERNAL void store_leave_txn(store *st, MDB_txn *txn);
/* 0 while the file STORE_NAME in dirfd (the folder dir) is the one st
   opened, else KMC_E_STORE with a detail: a restore replaced it. */
KMC_INTERNAL int store_same_file(store *st, int dirfd, const char *dir)
	KMC_MUST_CHECK;

/* Copy the record of name out, checked against the digest
   (storetree.c); KMC_E_NOT_FOUND if absent, KMC_E_ROLLBACK naming the
   item when the digest disagrees. store_get_ex - the same, but a record
   present that disagrees is given back with *ret_bad set to 1, for a
   caller that opens it first: damage is then told (KMC_E_AUTH) from a
   record put back (store_get()'s refusal). */
KMC_INTERNAL int store_get(store *st, const char *name, uint8_t **ret,
	size_t *ret_len) KMC_MUST_CHECK;
KMC_INTERNAL int store_get_ex(store *st, const char *name, uint8_t **ret,
	size_t *ret_len, int *ret_bad) KMC_MUST_CHECK;
/* store_get_ex() without the caller's copy: *ret points at the handle's
   own copy of the record (the digest's kept one, or a buffer), valid
   until the next read through st. For the item read path, which opens
   the record at once. */
KMC_INTERNAL int store_get_view(store *st, const char *name,
	const uint8_t **ret, size_t *ret_len, int *ret_bad) KMC_MUST_CHECK;
/* The caller is done with the view: the handle's buffer (when the view
   was in it) is freed. */
KMC_INTERNAL void store_view_done(store *st);

/* For bulk readers, after each read: every `every` calls, the pages of
   the file mapped by reads leave the process's RSS (store.c says why). */
KMC_INTERNAL void store_release_pages(store *st, unsigned every);
/* A bulk reader's reads (on: 1, until 0): a record is copied out of the
   map and the map's pages leave before the digest checks the copy, so
   that a read holds the record's pages or the proof's, never both. */
KMC_INTERNAL void store_set_bulk(store *st, int on);
KMC_INTERNAL int store_bulk_copy(store *st, MDB_val *v) KMC_MUST_CHECK;
/* A bulk read's map's pages dropped now (nothing read from it is used
   after this). */
KMC_INTERNAL void store_bulk_drop(store *st);

/*
 * A write transaction: begin, any number of put/del, commit or abort.
 * Every put and delete of a record (either database; keep and
 * drop_history too) is logged. store_txn_commit, in order: bumps the
 * generation and updates the hash tree for the touched keys in the same
 * transaction; calls the hook with STORE_PREPARE (non-zero: abort, and
 * return it); mdb_txn_commit (failed: the hook with STORE_ABORTED, and
 * return the error); then the hook with STORE_COMMITTED.
 */
typedef struct store_txn {
	store *st;
	MDB_txn *txn;
	struct store_touch_log *log;	/* the keys touched (storetxn.c) */
	int tree_built;			/* storetree_make()'s own */
} store_txn;

/*
 * store_set_commit_hook - call fn(arg, phase, change) around every commit
 * of st (see store_phase); NULL removes it. A store without a hook
 * commits with no call. Set after store_open() (which clears it).
 */
KMC_INTERNAL void store_set_commit_hook(store *st, store_commit_fn fn,
	void *arg);
/*
 * store_set_root_check - every read transaction reads the generation and
 * the tree root; when that pair differs from the last one accepted,
 * fn(arg, gen, root) is called and a non-zero return refuses the read.
 * Without one, every pair is accepted.
 */
KMC_INTERNAL void store_set_root_check(store *st, store_root_fn fn,
	void *arg);
/* Record that key of db was put (deleted 0) or deleted (1) in t: every
   put and delete of the store's own files calls it. */
KMC_INTERNAL int store_txn_touch(store_txn *t, store_db db,
	const uint8_t *key, size_t key_len, int deleted) KMC_MUST_CHECK;
/* The generation in meta, read inside txn. */
KMC_INTERNAL int store_read_generation(MDB_txn *txn, MDB_dbi meta,
	uint64_t *ret) KMC_MUST_CHECK;
/* A value LMDB handed back copied out (malloc'd), checked as
   db_check_val() does. */
KMC_INTERNAL int db_copy_val(MDB_env *env, const MDB_val *v,
	const char *what, const char *name, uint8_t **ret, size_t *ret_len)
	KMC_MUST_CHECK;

KMC_INTERNAL int store_txn_begin(store *st, store_txn *ret) KMC_MUST_CHECK;
KMC_INTERNAL int store_txn_get(store_txn *t, const char *name,
	uint8_t **ret, size_t *ret_len) KMC_MUST_CHECK;
KMC_INTERNAL int store_txn_put(store_txn *t, const char *name,
	const uint8_t *rec, size_t len) KMC_MUST_CHECK;
KMC_INTERNAL int store_txn_del(store_txn *t, const char *name)
	KMC_MUST_CHECK;
/* Move the current record of name to history (no-op when absent). */
KMC_INTERNAL int store_txn_keep(store_txn *t, const char *name,
	uint32_t version) KMC_MUST_CHECK;
/* Remove every history record of name; *ret_n counts them. */
KMC_INTERNAL int store_txn_drop_history(store_txn *t, const char *name,
	size_t *ret_n) KMC_MUST_CHECK;
KMC_INTERNAL int store_txn_meta_put(store_txn *t, const char *key,
	const uint8_t *val, size_t len) KMC_MUST_CHECK;
/* A meta value read inside t, copied out (malloc'd); KMC_E_NOT_FOUND
   when absent. */
KMC_INTERNAL int store_txn_meta_get(store_txn *t, const char *key,
	uint8_t **ret, size_t *ret_len) KMC_MUST_CHECK;
KMC_INTERNAL int store_txn_meta_del(store_txn *t, const char *key)
	KMC_MUST_CHECK;
KMC_INTERNAL int store_txn_commit(store_txn *t) KMC_MUST_CHECK;
KMC_INTERNAL void store_txn_abort(store_txn *t);

/* A read transaction of st whose snapshot is the one its id names,
   begun again (a few times at most) while it may not be, so that reads
   never go back (storeread.c says why); store_txn_exact - whether txn's
   is. Every read of records and the generation begins with it. */
KMC_INTERNAL int store_read_begin(store *st, MDB_txn **ret) KMC_MUST_CHECK;
KMC_INTERNAL int store_txn_exact(store *st, MDB_txn *txn);
/* store_read_end - ends what store_read_begin() gave (a pinned snapshot
   stays until its store_unpin()). */
KMC_INTERNAL void store_read_end(store *st, MDB_txn *txn);
/*
 * store_pin - every read of st until store_unpin() is of one snapshot:
 * several items read as one version of the vault, whatever other
 * processes commit meanwhile. Returns 1 when this call pinned it, 0 when
 * it was pinned already (the outer pin stays, and this call's unpin does
 * nothing), or an error. store_unpin(st, r) with what store_pin gave.
 * Only reads: a write transaction on st is not pinned.
 */
KMC_INTERNAL int store_pin(store *st) KMC_MUST_CHECK;
KMC_INTERNAL void store_unpin(store *st, int pinned);
KMC_INTERNAL int store_stat(store *st, uint64_t *ret_count,
	uint64_t *ret_generation) KMC_MUST_CHECK;
/* Copy a meta value out; KMC_E_NOT_FOUND when absent. */
KMC_INTERNAL int store_meta_get(store *st, const char *key, uint8_t **ret,
	size_t *ret_len) KMC_MUST_CHECK;
/* Copy the history record of version of name out, checked against the
   digest as store_get() is; KMC_E_NOT_FOUND if absent. */
KMC_INTERNAL int store_history_get(store *st, const char *name,
	uint32_t version, uint8_t **ret, size_t *ret_len) KMC_MUST_CHECK;
/* The versions of name's history records, oldest first, the first max
   of them into vers; *ret_n counts them all, so more than max says some
   were left out (vault/history.c). */
KMC_INTERNAL int store_history_versions(store *st, const char *name,
	uint32_t *vers, size_t max, size_t *ret_n) KMC_MUST_CHECK;
/* How many history records name has (vault/history.c). */
KMC_INTERNAL int store_history_count(store *st, const char *name,
	uint32_t *ret) KMC_MUST_CHECK;
/*
 * The history database's handle, 0 while the store has none (the first
 * stores of format 1 had none, and a read-only open does not make it).
 * store_history_make - make it, in a transaction of its own, when it is
 * missing: every writable open does, before any change.
 */
KMC_INTERNAL MDB_dbi store_history_dbi(store *st);
KMC_INTERNAL int store_history_make(store *st) KMC_MUST_CHECK;

/*
 * The digest of the store (storetree.c): a hash tree over every record
 * of items and history in the "tree" database, its root in meta "tree".
 *
 * storetree_update - in t's commit, update the tree for the touched
 * keys k[0..n) (each once, sorted); the roots before and after (32 zero
 * bytes while the store has no tree).
 * storetree_check - in a read transaction: the (generation, root) check
 * (store_set_root_check()), then whether the record of key in db (val,
 * or NULL when absent) is the one the digest holds. Returns 0;
 * KMC_E_ROLLBACK with a detail naming the item when it is not (with
 * ret_bad: 0 and *ret_bad set to 1 instead); the root check's refusal;
 * KMC_E_CORRUPT, KMC_E_VERSION. With ret_kept, a record proven is also
 * pointed at in the handle's kept copy (until the next read through st),
 * or NULL when it is not kept.
 * storetree_read_check - the (generation, root) check alone; *ret_have
 * 0 when the store has no tree (an older kmc made it: read as before).
 */
KMC_INTERNAL int storetree_init(MDB_txn *txn, MDB_dbi meta) KMC_MUST_CHECK;
KMC_INTERNAL int storetree_update(store_txn *t, const store_touched *k,
	size_t n, uint8_t root_old[32], uint8_t root_new[32]) KMC_MUST_CHECK;
KMC_INTERNAL int storetree_check(store *st, MDB_txn *txn, store_db db,
	const uint8_t *key, size_t key_len, const MDB_val *val, int *ret_bad,
	const uint8_t **ret_kept) KMC_MUST_CHECK;
KMC_INTERNAL int storetree_read_check(store *st, MDB_txn *txn,
	int *ret_have) KMC_MUST_CHECK;
KMC_INTERNAL void storetree_cache_free(store *st);
/* The bytes the handle's proof tables take now (blocks of level-2
   hashes, node copies): for tests of their growth. */
KMC_INTERNAL size_t storetree_cache_bytes(const store *st);
/* store_tree_present - whether the store has its digest (*ret 1) or
   was made by an older kmc and has none yet (0: reads are not checked
   until a writable open builds it); for kmc status. Reads meta only, no
   root check. Returns 0, KMC_E_CORRUPT, KMC_E_VERSION. */
KMC_INTERNAL int store_tree_present(store *st, int *ret) KMC_MUST_CHECK;
/* The (generation, root) check in a read transaction of its own: for
   the open, once the root check is set. *ret_have as above. */
KMC_INTERNAL int store_check_root(store *st, int *ret_have) KMC_MUST_CHECK;
/* The generation and the tree root (32 zero bytes for a store without a
   tree yet), read together in one read transaction: what the binding
   vouches for. */
KMC_INTERNAL int store_root_read(store *st, uint64_t *ret_gen,
	uint8_t root[32]) KMC_MUST_CHECK;
/*
 * storetree_make - give a store an older kmc made its tree, in one
 * transaction of its own (a commit: the hook sees it, root_old zeros);
 * nothing when it has one. Every writable open calls it.
 * storetree_verify - walk every record, recompute the whole tree and
 * compare every node and the root with the stored ones; cb is called for
 * each disagreement (key NULL: the tree itself, not a record), and
 * *ret_bad counts them. Returns 0 (even with disagreements);
 * KMC_E_NOT_FOUND (with a detail) when the store has no tree yet;
 * KMC_E_CORRUPT, -errno.
 */
typedef int (*storetree_report_fn)(void *arg, store_db db,
	const uint8_t *key, size_t key_len, const char *what);
KMC_INTERNAL int storetree_make(store *st) KMC_MUST_CHECK;
/* storetree_rebuild - the tree built again from the records as they are,
   whatever it held (kmc repair --accept-rollback: the records are
   accepted), in one commit. */
KMC_INTERNAL int storetree_rebuild(store *st) KMC_MUST_CHECK;
KMC_INTERNAL int storetree_verify(store *st, storetree_report_fn cb,
	void *arg, size_t *ret_bad) KMC_MUST_CHECK;
/* The tree database's handle, 0 while the store has none; make it in t
   (the caller reports the commit's outcome with store_tree_made()). */
KMC_INTERNAL MDB_dbi store_tree_dbi(store *st);
KMC_INTERNAL int store_tree_make_dbi(store_txn *t) KMC_MUST_CHECK;
/* Open the handle of a tree another process made since this one opened
   the store; 0 (handle still 0) when there is none. */
KMC_INTERNAL int store_tree_reopen(store *st) KMC_MUST_CHECK;
KMC_INTERNAL void store_tree_made(store *st, int committed);

/* For the store's own files (store*.c, history.c): an LMDB return code as
   a kmc error; a key or value LMDB handed back checked against the
   pages the file holds (db_check_val: with a detail naming it); a name
   as a key. */
KMC_INTERNAL int db_err(int rc);
/* *p, an array of *cap elements of size bytes, grown (doubling from
   first) to hold need: 0 or KMC_E_NOMEM, *p kept. */
KMC_INTERNAL int store_grow(void **p, size_t *cap, size_t need, size_t size,
	size_t first) KMC_MUST_CHECK;
KMC_INTERNAL int db_val_ok(MDB_env *env, const MDB_val *v, size_t max);
KMC_INTERNAL int db_check_val(MDB_env *env, const MDB_val *v,
	const char *what, const char *name) KMC_MUST_CHECK;
KMC_INTERNAL int db_name_val(const char *name, MDB_val *k);

/*
 * Where LMDB mapped the file. Its envinfo cannot say: me_mapaddr is the
 * address recorded in the meta page, 0 without MDB_FIXEDMAP. So the
 * mapping of the file's inode is looked up once, at open (filemap.c),
 * and kept as the env's user context.
 */
typedef struct map_range {
	uintptr_t base;
	size_t len;
} map_range;

/* The map of the file open as fd, malloc'd; NULL where it cannot be
   found (then only lengths are checked). */
KMC_INTERNAL map_range *store_map_find(int fd, size_t mapsize);

/* A key of either database: a name, or name || 0x00 || u32 version. */
#define STORE_KEY_MAX (KMC_NAME_MAX + 5)

typedef int (*store_key_fn)(const uint8_t *key, size_t key_len,
	const uint8_t *rec, size_t len, void *arg);

/* Walk every record of db in key order in one read transaction, the key
   given raw; stop at cb's non-zero return. */
KMC_INTERNAL int store_walk_db(store *st, store_db db, store_key_fn cb,
	void *arg) KMC_MUST_CHECK;
/* The handle of db (0: no history yet); a key of db LMDB handed back
   checked (KMC_E_CORRUPT with a detail). */
KMC_INTERNAL MDB_dbi store_db_handle(store *st, store_db db);
KMC_INTERNAL int store_key_check(MDB_env *env, const MDB_val *k,
	store_db db) KMC_MUST_CHECK;

/*
 * store_txn_rewrite - inside t, visit at most max_visit records of db in
 * key order from the first key >= from[0..*from_len) (from the start
 * when *from_len is 0). cb may hand back a replacement (*ret_new,
 * malloc'd; left NULL keeps the record), written under the same key. On
 * return from holds the key to resume from, and *from_len is 0 when the
 * walk reached the end; *ret_changed counts the replacements.
 */
typedef int (*store_rewrite_fn)(const uint8_t *key, size_t key_len,
	const uint8_t *rec, size_t len, uint8_t **ret_new, size_t *ret_new_len,
	void *arg);
KMC_INTERNAL int store_txn_rewrite(store_txn *t, store_db db,
	uint8_t from[STORE_KEY_MAX], size_t *from_len, size_t max_visit,
	store_rewrite_fn cb, void *arg, size_t *ret_changed) KMC_MUST_CHECK;

/*
 * store_check_metas - whether the store file open on fd (called show in
 * messages) has two meta pages LMDB can trust and holds every page they
 * name (vault/lmdbmeta.c). in_backup: the file is a backup's (or a copy
 * staged from one), so the advice is not to restore it from a backup.
 * Returns 0; KMC_E_CORRUPT (damaged or truncated) or -errno, each with a
 * detail.
 */
KMC_INTERNAL int store_check_metas(int fd, const char *show, int in_backup)
	KMC_MUST_CHECK;
/*
 * store_extend - after a commit, grow the file (with a hole) to hold
 * every page its meta names. LMDB leaves the last pages unwritten when
 * a transaction frees pages it had itself just added at the end (a
 * large delete rewriting its free list does), and a file shorter than
 * its meta says is what store_check_metas() looks for. Best effort: a
 * failure, or a kill before it, leaves the gap that check allows.
 */
KMC_INTERNAL void store_extend(MDB_env *env);

#endif

/*
 * storeread.c - the item store's read transactions: a record read and
 * checked against the digest (treeread.c), meta values, counts, walks.
 * Writes are in storetxn.c, the opening in store.c.
 */
#include <stdlib.h>
#include <string.h>
#include "store.h"
#include "vault.h"

/*
 * Whether read transaction txn reads the snapshot its id names. LMDB
 * begins one by taking the id of the last commit, then copies that
 * commit's meta page (one page for even ids, one for odd); only the
 * commit two after it writes over that page. While the last commit is
 * at most one after the id, nothing has: the snapshot is the id's. When
 * two or more came meanwhile, the transaction may read a newer snapshot
 * under the older id, and the next one, begun while the newest commit
 * is still writing its meta page, the one in between: an older snapshot
 * after a newer.
 */
int store_txn_exact(store *st, MDB_txn *txn)
{
	MDB_envinfo info;

	return mdb_env_info(st->env, &info) == 0 &&
	    info.me_last_txnid <= mdb_txn_id(txn) + 1;
}

/*
 * A read transaction whose snapshot is the one its id names (above),
 * begun again while it may not be: ids only grow, so a process's reads
 * never see the vault go back. Beside a writer committing 3,000 times a
 * second a handle read "v-1485" after "v-1486" in about one run in
 * twenty (tests/e2e/test_concurrency_commits.sh). Two commits within a
 * begin are rare, so a few tries do; after them the last is used, as
 * any transaction was before.
 */
#define READ_BEGIN_TRIES 8

int store_read_begin(store *st, MDB_txn **ret)
{
	MDB_txn *txn;

	if (st->pinned) {
		*ret = st->pinned;
		return 0;
	}
	for (int i = 1;; i++) {
		KMC_GUARD(db_err(mdb_txn_begin(st->env, NULL, MDB_RDONLY,
			&txn)));
		if (i == READ_BEGIN_TRIES || store_txn_exact(st, txn))
			break;
		mdb_txn_abort(txn);
	}
	*ret = txn;
	return 0;
}

void store_read_end(store *st, MDB_txn *txn)
{
	if (txn != st->pinned)
		mdb_txn_abort(txn);
}

/*
 * A snapshot held across reads keeps its pages from reuse by writers
 * until it ends: callers pin for the few reads of one bundle or CA, never
 * for a handle's life (a server's handle would grow the file without
 * bound beside a writer).
 */
int store_pin(store *st)
{
	if (st->pinned)
		return 0;
	KMC_GUARD(store_read_begin(st, &st->pinned));
	return 1;
}

void store_unpin(store *st, int pinned)
{
	if (pinned != 1 || !st->pinned)
		return;
	/* Ended from a walk's callback (kmc_vault_snapshot_end() in
	   kmc_item_list()'s): the walk's cursor is in this transaction, so
	   it ends when the outermost such walk does (store_walk_db()). */
	if (st->pin_walks) {
		st->pin_end_later = 1;
		return;
	}
	st->pin_end_later = 0;
	if (!store_inherited(st))
		mdb_txn_abort(st->pinned);
	else		/* the parent's: not ours to end */
		store_leave_txn(st, st->pinned);
	st->pinned = NULL;
}

int store_get(store *st, const char *name, uint8_t **ret, size_t *ret_len)
{
	return store_get_ex(st, name, ret, ret_len, NULL);
}

/* The record of name in txn, checked (store.h); *ret_kept as
   storetree_check() gives it. */
static int get_checked(store *st, MDB_txn *txn, const char *name, MDB_val *v,
	int *ret_bad, const uint8_t **ret_kept)
{
	MDB_val k;
	int r, t;

	if (ret_bad)
		*ret_bad = 0;
	*ret_kept = NULL;
	db_name_val(name, &k);
	r = db_err(mdb_get(txn, st->items, &k, v));
	/* Present or absent, the digest must agree (storetree.c). */
	if (r == 0 || r == KMC_E_NOT_FOUND) {
		t = r == 0 ? db_check_val(st->env, v, "record", name) : 0;
		if (t == 0 && r == 0)
			t = store_bulk_copy(st, v);
		if (t == 0)
			t = storetree_check(st, txn, STORE_DB_ITEMS, k.mv_data,
				k.mv_size, r == 0 ? v : NULL, r == 0 ? ret_bad :
				NULL, ret_kept);
		if (t != 0)
			r = t;
	}
	return r;
}

int store_get_ex(store *st, const char *name, uint8_t **ret, size_t *ret_len,
	int *ret_bad)
{
	const uint8_t *kept;
	MDB_txn *txn;
	MDB_val v;
	int r;

	KMC_GUARD(store_read_begin(st, &txn));
	r = get_checked(st, txn, name, &v, ret_bad, &kept);
	if (r == 0)
		r = db_copy_val(st->env, &v, "record", name, ret, ret_len);
	store_read_end(st, txn);
	return r;
}

/*
 * The read transaction is begun and aborted each time. Keeping one reset
 * between reads (mdb_txn_renew) saved LMDB's allocation and its reader
 * table's lock, 0.03 to 0.05 of row 1's ratio, but a reset transaction
 * keeps its reader slot: every open handle of every process would hold
 * one of the lock file's 126 for its life, and a server of many worker
 * processes, each with a handle open, would leave none for the rest.
 */
int store_get_view(store *st, const char *name, const uint8_t **ret,
	size_t *ret_len, int *ret_bad)
{
	const uint8_t *kept;
	MDB_txn *txn;
	MDB_val v;
	int r;

	KMC_GUARD(store_read_begin(st, &txn));
	r = get_checked(st, txn, name, &v, ret_bad, &kept);
	/* The digest's kept copy is the record proven (and compared with
	   the map's bytes just now): no copy of it. Else a copy in the
	   handle's buffer, out of the map before the transaction ends. */
	if (r == 0 && kept) {
		*ret = kept;
		*ret_len = v.mv_size;
	} else if (r == 0 && v.mv_data == st->view) {
		*ret = st->view;	/* a bulk read's copy (store_bulk_copy) */
		*ret_len = v.mv_size;
	} else if (r == 0) {
		/* Rare: a record too large to keep, a store without a digest,
		   a record the digest disagrees with. store_view_done() frees
		   it, so that a handle does not hold a megabyte record's copy
		   for its life. */
		r = store_grow((void **)&st->view, &st->view_cap, v.mv_size, 1,
			256);
		if (r == 0) {
			memcpy(st->view, v.mv_data, v.mv_size);
			*ret = st->view;
			*ret_len = v.mv_size;
		}
	}
	store_read_end(st, txn);
	return r;
}

int store_meta_get(store *st, const char *key, uint8_t **ret,
	size_t *ret_len)
{
	MDB_val k = { strlen(key), (void *)key }, v;
	MDB_txn *txn;
	int r;

	KMC_GUARD(store_read_begin(st, &txn));
	r = db_err(mdb_get(txn, st->meta, &k, &v));
	if (r == 0)
		r = db_copy_val(st->env, &v, "meta value", key, ret, ret_len);
	store_read_end(st, txn);
	return r;
}

int store_stat(store *st, uint64_t *ret_count, uint64_t *ret_generation)
{
	MDB_txn *txn;
	MDB_stat s;
	int r;

	KMC_GUARD(store_read_begin(st, &txn));
	r = db_err(mdb_stat(txn, st->items, &s));
	if (r == 0 && ret_count)
		*ret_count = s.ms_entries;
	if (r == 0 && ret_generation)
		r = store_read_generation(txn, st->meta, ret_generation);
	store_read_end(st, txn);
	return r;
}


int store_walk_db(store *st, store_db db, store_key_fn cb, void *arg)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	int r, rc, on_pin;

	if (!store_db_handle(st, db))
		return 0;	/* no history yet: nothing to walk */
	KMC_GUARD(store_read_begin(st, &txn));
	r = storetree_read_check(st, txn, &rc);
	if (r == 0)
		r = db_err(mdb_cursor_open(txn, store_db_handle(st, db),
			&cur));
	if (r != 0) {
		store_read_end(st, txn);
		return r;
	}
	/* cb may end the snapshot the cursor walks: store_unpin() waits. */
	on_pin = txn == st->pinned;
	st->pin_walks += on_pin;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		r = store_key_check(st->env, &k, db);
		if (r == 0)
			r = db_check_val(st->env, &v, "record", "an item");
		if (r == 0)
			r = cb(k.mv_data, k.mv_size, v.mv_data, v.mv_size, arg);
		if (r != 0)
			break;
	}
	if (r == 0 && rc != MDB_NOTFOUND)
		r = db_err(rc);
	mdb_cursor_close(cur);
	store_read_end(st, txn);
	st->pin_walks -= on_pin;
	if (on_pin && !st->pin_walks && st->pin_end_later)
		store_unpin(st, 1);
	return r;
}

void store_view_done(store *st)
{
	free(st->view);
	st->view = NULL;
	st->view_cap = 0;
}

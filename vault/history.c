/*
 * history.c - the item store's history database: superseded records
 * under name || 0x00 || u32 version (layout in store.h), kept, counted
 * and dropped inside the store's transactions.
 *
 * The first stores of format 1 had no history database. A writable open
 * makes it (store_history_make()); a read-only one leaves the file as
 * it is and reads such a store as one without old versions.
 */
#include <string.h>
#include "store.h"
#include "vault.h"

static int history_key(const char *name, uint32_t version, uint8_t *buf,
	MDB_val *k)
{
	size_t n = strlen(name);

	KMC_ENSURE(n <= KMC_NAME_MAX, KMC_E_NAME);
	memcpy(buf, name, n);
	buf[n] = 0;
	buf[n + 1] = (uint8_t)(version >> 24);
	buf[n + 2] = (uint8_t)(version >> 16);
	buf[n + 3] = (uint8_t)(version >> 8);
	buf[n + 4] = (uint8_t)version;
	k->mv_size = n + 5;
	k->mv_data = buf;
	return 0;
}

int store_txn_keep(store_txn *t, const char *name, uint32_t version)
{
	uint8_t buf[KMC_NAME_MAX + 5];
	MDB_val k, hk, v;
	int r;

	db_name_val(name, &k);
	r = db_err(mdb_get(t->txn, t->st->items, &k, &v));
	if (r == KMC_E_NOT_FOUND)
		return 0;
	KMC_GUARD(r);
	/* LMDB copies the value it is given: bound it as a read. */
	KMC_GUARD(db_check_val(t->st->env, &v, "record", name));
	KMC_GUARD(history_key(name, version, buf, &hk));
	KMC_ENSURE(store_history_dbi(t->st), KMC_E_INVALID);
	KMC_GUARD(db_err(mdb_put(t->txn, t->st->history, &hk, &v, 0)));
	return store_txn_touch(t, STORE_DB_HISTORY, hk.mv_data, hk.mv_size,
		0);
}

/* Visit the history records of name; with del, delete each in it; with
   vers, note the first max versions there. */
static int history_walk(MDB_txn *txn, MDB_dbi dbi, const char *name,
	store_txn *del, size_t *ret_n, uint32_t *vers, size_t max)
{
	uint8_t buf[KMC_NAME_MAX + 5];
	size_t n = strlen(name), count = 0;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc, r = 0;

	KMC_ENSURE(n <= KMC_NAME_MAX, KMC_E_NAME);
	memcpy(buf, name, n);
	buf[n] = 0;
	k.mv_size = n + 1;
	k.mv_data = buf;
	KMC_GUARD(db_err(mdb_cursor_open(txn, dbi, &cur)));
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != n + 5)
			break;
		if (!db_val_ok(mdb_txn_env(txn), &k, n + 5)) {
			r = kmc_detail(KMC_E_CORRUPT, STORE_NAME " is damaged: "
				"a history key of %s lies past the end of the "
				"file; restore it from a backup", name);
			break;
		}
		if (memcmp(k.mv_data, buf, n + 1) != 0)
			break;
		if (vers && count < max) {
			const uint8_t *b = (const uint8_t *)k.mv_data + n + 1;

			vers[count] = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
				(uint32_t)b[2] << 8 | b[3];
		}
		count++;
		if (del) {
			/* Logged first: the delete may move the key's page. */
			r = store_txn_touch(del, STORE_DB_HISTORY, k.mv_data,
				k.mv_size, 1);
			if (r == 0)
				r = db_err(mdb_cursor_del(cur, 0));
			if (r < 0)
				break;
		}
	}
	if (r == 0 && rc != 0 && rc != MDB_NOTFOUND)
		r = db_err(rc);
	mdb_cursor_close(cur);
	if (r == 0)
		*ret_n = count;
	return r;
}

int store_txn_drop_history(store_txn *t, const char *name, size_t *ret_n)
{
	*ret_n = 0;
	if (!store_history_dbi(t->st))
		return 0;
	return history_walk(t->txn, t->st->history, name, t, ret_n, NULL, 0);
}

int store_history_count(store *st, const char *name, uint32_t *ret)
{
	MDB_txn *txn;
	size_t n = 0;
	int r;

	*ret = 0;
	if (!store_history_dbi(st))
		return 0;	/* a store of the first releases, only read */
	KMC_GUARD(store_read_begin(st, &txn));
	r = history_walk(txn, st->history, name, NULL, &n, NULL, 0);
	store_read_end(st, txn);
	if (r == 0)
		*ret = (uint32_t)n;
	return r;
}

int store_history_versions(store *st, const char *name, uint32_t *vers,
	size_t max, size_t *ret_n)
{
	MDB_txn *txn;
	size_t n = 0;
	int r;

	*ret_n = 0;
	if (!store_history_dbi(st))
		return 0;
	KMC_GUARD(store_read_begin(st, &txn));
	r = history_walk(txn, st->history, name, NULL, &n, vers, max);
	store_read_end(st, txn);
	if (r == 0)
		*ret_n = n;
	return r;
}

int store_history_get(store *st, const char *name, uint32_t version,
	uint8_t **ret, size_t *ret_len)
{
	uint8_t buf[KMC_NAME_MAX + 5];
	MDB_txn *txn;
	MDB_val k, v;
	int r, t;

	if (!store_history_dbi(st))
		return KMC_E_NOT_FOUND;
	KMC_GUARD(history_key(name, version, buf, &k));
	KMC_GUARD(store_read_begin(st, &txn));
	r = db_err(mdb_get(txn, st->history, &k, &v));
	/* Present or absent, the digest must agree (storetree.c). */
	if (r == 0 || r == KMC_E_NOT_FOUND) {
		t = r == 0 ? db_check_val(st->env, &v, "old record", name) : 0;
		if (t == 0)
			t = storetree_check(st, txn, STORE_DB_HISTORY, k.mv_data,
				k.mv_size, r == 0 ? &v : NULL, NULL, NULL);
		if (t != 0)
			r = t;
	}
	if (r == 0)
		r = db_copy_val(st->env, &v, "old record", name, ret, ret_len);
	store_read_end(st, txn);
	return r;
}

/*
 * storetxn.c - the item store's write transactions: puts and deletes,
 * the keys they touched, and the commit that bumps the generation,
 * updates the hash tree (storetree.c) and calls the commit hook around
 * mdb_txn_commit (store.h says in which order and why).
 *
 * The touched keys are logged as they happen, each copied (the caller's
 * buffers and LMDB's pages do not outlive the call), and sorted and
 * made unique at commit: a key put then deleted in one batch is one
 * deleted key, so the tree and the hook see each key once, as it is
 * after the commit.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include "store.h"
#include "../safeio/fsize.h"
#include "vault.h"

typedef struct touch_rec {
	size_t off;		/* into the log's key bytes */
	uint32_t len;
	uint8_t db;
	uint8_t deleted;
} touch_rec;

struct store_touch_log {
	uint8_t *keys;
	size_t keys_len, keys_cap;
	touch_rec *recs;
	size_t n, cap;
};

static void log_free(store_txn *t)
{
	if (!t->log)
		return;
	free(t->log->keys);
	free(t->log->recs);
	free(t->log);
	t->log = NULL;
}

int store_grow(void **p, size_t *cap, size_t need, size_t size,
	size_t first)
{
	size_t n = *cap ? *cap : first;
	void *q;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	q = realloc(*p, n * size);
	KMC_ENSURE(q, KMC_E_NOMEM);
	*p = q;
	*cap = n;
	return 0;
}

int store_txn_touch(store_txn *t, store_db db, const uint8_t *key,
	size_t key_len, int deleted)
{
	struct store_touch_log *l = t->log;

	KMC_ENSURE(key_len <= STORE_KEY_MAX, KMC_E_INVALID);
	if (!l) {
		l = t->log = calloc(1, sizeof(*l));
		KMC_ENSURE(l, KMC_E_NOMEM);
	}
	KMC_GUARD(store_grow((void **)&l->keys, &l->keys_cap,
		l->keys_len + key_len, 1, 64));
	KMC_GUARD(store_grow((void **)&l->recs, &l->cap, l->n + 1,
		sizeof(touch_rec), 64));
	memcpy(l->keys + l->keys_len, key, key_len);
	l->recs[l->n++] = (touch_rec){ l->keys_len, (uint32_t)key_len,
		(uint8_t)db, (uint8_t)(deleted != 0) };
	l->keys_len += key_len;
	return 0;
}

/* By (db, key), then in the order touched: off grows with each touch. */
static int touch_cmp(const void *a, const void *b, void *arg)
{
	const touch_rec *x = a, *y = b;
	const uint8_t *keys = arg;
	size_t n = x->len < y->len ? x->len : y->len;
	int c;

	if (x->db != y->db)
		return x->db < y->db ? -1 : 1;
	c = memcmp(keys + x->off, keys + y->off, n);
	if (c)
		return c;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return x->off < y->off ? -1 : x->off > y->off;
}

/* The log as each key once, in its last state, sorted by (db, key);
   its key pointers point into the log. The log's records are sorted in
   place (a batch of millions: no second copy). */
static int touched_list(store_txn *t, store_touched **ret, size_t *ret_n)
{
	struct store_touch_log *l = t->log;
	store_touched *out;
	size_t n = 0;

	*ret = NULL;
	*ret_n = 0;
	if (!l || l->n == 0)
		return 0;
	qsort_r(l->recs, l->n, sizeof(*l->recs), touch_cmp, l->keys);
	out = malloc(l->n * sizeof(*out));
	KMC_ENSURE(out, KMC_E_NOMEM);
	for (size_t i = 0; i < l->n; i++) {
		const touch_rec *x = &l->recs[i], *y = x + 1;

		/* The last of a run of the same key is its state. */
		if (i + 1 < l->n && y->db == x->db && y->len == x->len &&
		    memcmp(l->keys + y->off, l->keys + x->off, x->len) == 0)
			continue;
		out[n++] = (store_touched){ (store_db)x->db, l->keys + x->off,
			x->len, x->deleted };
	}
	/* The keys stay (out points into them) until the commit ends. */
	free(l->recs);
	l->recs = NULL;
	l->n = l->cap = 0;
	*ret = out;
	*ret_n = n;
	return 0;
}

void store_set_commit_hook(store *st, store_commit_fn fn, void *arg)
{
	st->commit_fn = fn;
	st->commit_arg = arg;
}

void store_set_root_check(store *st, store_root_fn fn, void *arg)
{
	st->root_fn = fn;
	st->root_arg = arg;
}

int store_txn_begin(store *st, store_txn *ret)
{
	ret->st = st;
	ret->txn = NULL;
	ret->log = NULL;
	ret->tree_built = 0;
	if (st->writing)
		return kmc_detail(KMC_E_BUSY, "a batch is open on this vault "
			"handle: write through it, or commit or abort it first");
	/* Its reads would not see the change it makes. */
	if (st->pinned)
		return kmc_detail(KMC_E_BUSY, "this vault handle's reads are "
			"held to one version (kmc_vault_snapshot): end that "
			"before a change");
	return db_err(mdb_txn_begin(st->env, NULL, 0, &ret->txn));
}

int store_txn_get(store_txn *t, const char *name, uint8_t **ret,
	size_t *ret_len)
{
	MDB_val k, v;

	db_name_val(name, &k);
	KMC_GUARD(db_err(mdb_get(t->txn, t->st->items, &k, &v)));
	return db_copy_val(t->st->env, &v, "record", name, ret, ret_len);
}

int store_txn_put(store_txn *t, const char *name, const uint8_t *rec,
	size_t len)
{
	MDB_val k, v = { len, (void *)rec };

	db_name_val(name, &k);
	KMC_GUARD(db_err(mdb_put(t->txn, t->st->items, &k, &v, 0)));
	return store_txn_touch(t, STORE_DB_ITEMS, k.mv_data, k.mv_size, 0);
}

int store_txn_del(store_txn *t, const char *name)
{
	MDB_val k;

	db_name_val(name, &k);
	KMC_GUARD(db_err(mdb_del(t->txn, t->st->items, &k, NULL)));
	return store_txn_touch(t, STORE_DB_ITEMS, k.mv_data, k.mv_size, 1);
}

int store_txn_meta_put(store_txn *t, const char *key, const uint8_t *val,
	size_t len)
{
	MDB_val k = { strlen(key), (void *)key }, v = { len, (void *)val };

	return db_err(mdb_put(t->txn, t->st->meta, &k, &v, 0));
}

int store_txn_meta_get(store_txn *t, const char *key, uint8_t **ret,
	size_t *ret_len)
{
	MDB_val k = { strlen(key), (void *)key }, v;

	KMC_GUARD(db_err(mdb_get(t->txn, t->st->meta, &k, &v)));
	return db_copy_val(t->st->env, &v, "meta value", key, ret, ret_len);
}

int store_txn_meta_del(store_txn *t, const char *key)
{
	MDB_val k = { strlen(key), (void *)key };
	int r = db_err(mdb_del(t->txn, t->st->meta, &k, NULL));

	return r == KMC_E_NOT_FOUND ? 0 : r;
}

int store_read_generation(MDB_txn *txn, MDB_dbi meta, uint64_t *ret)
{
	MDB_val k = { 10, "generation" }, v;
	const uint8_t *p;
	uint64_t g = 0;

	KMC_GUARD(db_err(mdb_get(txn, meta, &k, &v)));
	KMC_ENSURE(v.mv_size == 8 && db_val_ok(mdb_txn_env(txn), &v, 8),
		KMC_E_CORRUPT);
	p = v.mv_data;
	for (int i = 0; i < 8; i++)
		g = (g << 8) | p[i];
	*ret = g;
	return 0;
}

static int write_generation(store_txn *t, uint64_t g)
{
	MDB_val k = { 10, "generation" }, v;
	uint8_t buf[8];

	for (int i = 7; i >= 0; i--) {
		buf[i] = (uint8_t)g;
		g >>= 8;
	}
	v = (MDB_val){ sizeof(buf), buf };
	return db_err(mdb_put(t->txn, t->st->meta, &k, &v, 0));
}

/* The steps before mdb_txn_commit (store.h): the generation, the tree,
   the hook's PREPARE. */
static int commit_prepare(store_txn *t, store_change *c,
	store_touched **ret_touched)
{
	store *st = t->st;

	KMC_GUARD(store_read_generation(t->txn, st->meta, &c->gen_old));
	c->gen_new = c->gen_old + 1;
	KMC_GUARD(write_generation(t, c->gen_new));
	KMC_GUARD(touched_list(t, ret_touched, &c->n_touched));
	c->touched = *ret_touched;
	KMC_GUARD(storetree_update(t, c->touched, c->n_touched, c->root_old,
		c->root_new));
	/* The transaction that built the tree: before it there was none. */
	if (t->tree_built)
		memset(c->root_old, 0, sizeof(c->root_old));
	c->t = t;
	if (st->commit_fn) {
		int r = st->commit_fn(st->commit_arg, STORE_PREPARE, c);

		if (r != 0)
			return r;
	}
	c->t = NULL;
	return 0;
}

/*
 * LMDB names no file when its commit fails, and a write the file system
 * cut short (a disk filling up under it) comes back as EIO, not ENOSPC:
 * the message names the store and, when its file system has no room
 * left, says so, so that a full disk is not taken for a failing one.
 */
/* Less room than one commit of the largest batch (mk rewrap's 1000
   records) may need: a short write there is the disk filling up. */
#define STORE_FULL_BELOW (1024u * 1024u)

static int commit_error(store *st, int r)
{
	char path[4096];
	struct statvfs sv;
	struct stat fs;
	unsigned long long limit = kmc_fsize_limit();
	int fd = -1;

	/* The handle's folder; init's new store, in no vault yet: none. */
	snprintf(path, sizeof(path), "%s%s" STORE_NAME, st->dir ? st->dir : "",
		st->dir ? "/" : "");

	/* At or near this process's file size limit: the limit, not the
	   disk, stopped it (a commit writes at most a few MiB). */
	if ((r == -EFBIG || r == -EIO) && limit &&
	    mdb_env_get_fd(st->env, &fd) == 0 && fd >= 0 &&
	    fstat(fd, &fs) == 0 &&
	    (unsigned long long)fs.st_size + STORE_FULL_BELOW * 4ull >= limit)
		return kmc_detail(-EFBIG, "writing %s: it would pass this "
			"process's file size limit of %llu bytes (RLIMIT_FSIZE, "
			"ulimit -f); nothing was changed", path, limit);

	if (r == -EIO && mdb_env_get_fd(st->env, &fd) == 0 && fd >= 0 &&
	    fstatvfs(fd, &sv) == 0 &&
	    (uint64_t)sv.f_bavail * sv.f_frsize < STORE_FULL_BELOW)
		return kmc_detail(r, "writing %s: %s: a write was cut short, "
			"and its file system has %" PRIu64 " bytes free: free "
			"some space, then try again", path, kmc_strerror(r),
			(uint64_t)sv.f_bavail * sv.f_frsize);
	return kmc_detail(r, "writing %s: %s", path, kmc_strerror(r));
}

int store_txn_commit(store_txn *t)
{
	store *st = t->st;
	store_touched *touched = NULL;
	store_change c = { 0 };
	kmc_xfsz x;
	int r;

	r = commit_prepare(t, &c, &touched);
	if (r != 0) {
		free(touched);
		store_txn_abort(t);
		return r;
	}
	/* LMDB's writes past a file size limit: EFBIG, or EIO for one cut
	   short at it, not SIGXFSZ killing a server (safeio/fsize.h). */
	kmc_xfsz_hold(&x);
	r = db_err(mdb_txn_commit(t->txn));
	kmc_xfsz_release(&x);
	t->txn = NULL;
	if (r == 0)
		store_extend(st->env);
	if (st->commit_fn)
		(void)st->commit_fn(st->commit_arg, r == 0 ? STORE_COMMITTED :
			STORE_ABORTED, &c);
	free(touched);
	log_free(t);
	if (r < 0)
		return commit_error(st, r);
	return r;
}

void store_txn_abort(store_txn *t)
{
	if (t->txn)
		mdb_txn_abort(t->txn);
	t->txn = NULL;
	log_free(t);
}

int store_txn_rewrite(store_txn *t, store_db db, uint8_t from[STORE_KEY_MAX],
	size_t *from_len, size_t max_visit, store_rewrite_fn cb, void *arg,
	size_t *ret_changed)
{
	MDB_env *env = t->st->env;
	uint8_t key[STORE_KEY_MAX];
	MDB_cursor *cur;
	MDB_val k = { *from_len, from }, v;
	size_t visited = 0, changed = 0;
	int r = 0, rc;

	/* A writer made the history at its open (store_history_make()). */
	KMC_ENSURE(store_db_handle(t->st, db), KMC_E_INVALID);
	KMC_GUARD(db_err(mdb_cursor_open(t->txn, store_db_handle(t->st, db),
		&cur)));
	rc = mdb_cursor_get(cur, &k, &v, *from_len ? MDB_SET_RANGE : MDB_FIRST);
	for (; rc == 0 && visited < max_visit;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT), visited++) {
		uint8_t *rec = NULL;
		size_t len = 0;

		r = store_key_check(env, &k, db);
		if (r == 0)
			r = db_check_val(env, &v, "record", "an item");
		if (r == 0)
			r = cb(k.mv_data, k.mv_size, v.mv_data, v.mv_size, &rec,
				&len, arg);
		if (r == 0 && rec) {
			/* The key points into a page the put may move. */
			MDB_val kk = { k.mv_size, key }, nv = { len, rec };

			memcpy(key, k.mv_data, k.mv_size);
			r = db_err(mdb_cursor_put(cur, &kk, &nv, MDB_CURRENT));
			if (r == 0)
				r = store_txn_touch(t, db, key, k.mv_size, 0);
			changed++;
		}
		free(rec);
		if (r != 0)
			break;
	}
	if (r == 0 && rc == 0) {
		r = store_key_check(env, &k, db);
		if (r == 0) {
			memcpy(from, k.mv_data, k.mv_size);
			*from_len = k.mv_size;
		}
	} else if (r == 0 && rc == MDB_NOTFOUND) {
		*from_len = 0;
	} else if (r == 0) {
		r = db_err(rc);
	}
	mdb_cursor_close(cur);
	if (r == 0)
		*ret_changed = changed;
	return r;
}

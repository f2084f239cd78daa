/*
 * store.c - the LMDB item store: opening it bound to its vault, the
 * environment shared by a process's handles (layout in store.h). The
 * checks of what LMDB hands back are in storeval.c, reads in
 * storeread.c, write transactions in storetxn.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "store.h"
#include "proclocks.h"
#include "provtable.h"
#include "../safeio/fileio.h"
#include "../safeio/fsize.h"
#include "vault.h"

static void env_close(MDB_env *env)
{
	free(mdb_env_get_userctx(env));
	mdb_env_close(env);
}

static const kmc_file_rule store_rule = {
	.forbidden = 077,
	.max_size = STORE_MAP_SIZE,
	.allow_root_owner = 0,
};

/*
 * LMDB allows one environment per file per process: a second one thinks
 * it is alone and resets the reader table under the first, and closing
 * any descriptor of the lock file drops the process's fcntl locks on it.
 * So every handle on the same items.mdb shares one environment, counted.
 */
typedef struct shared_env {
	dev_t dev;
	ino_t ino;
	MDB_env *env;
	MDB_dbi meta, items, history, tree;
	unsigned refs;
	atomic_uint reads;	/* store_release_pages() calls */
	pid_t pid;		/* the process that opened env */
	struct left_txn *left;	/* store_leave_txn() */
	struct shared_env *next;
} shared_env;

/* A parent's read transaction a child leaves alone, kept reachable. */
struct left_txn {
	MDB_txn *txn;
	struct left_txn *next;
};

static pthread_mutex_t envs_lock = PTHREAD_MUTEX_INITIALIZER;
static shared_env *envs;

/* The lock file is checked without opening it, for the reason above. */
static int check_lock_file(int dirfd, const char *dir, int other_copy)
{
	struct stat st;

	if (fstatat(dirfd, STORE_LOCK_NAME, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (S_ISLNK(st.st_mode))
		return kmc_detail(KMC_E_PERM, "%s/" STORE_LOCK_NAME " is a symbolic "
			"link; remove it (LMDB makes it again)", dir);
	if (!S_ISREG(st.st_mode))
		return kmc_detail(KMC_E_PERM, "%s/" STORE_LOCK_NAME " is not a "
			"regular file; remove it (LMDB makes it again)", dir);
	if (st.st_uid != geteuid())
		return kmc_detail(KMC_E_PERM, "%s/" STORE_LOCK_NAME " is owned by "
			"uid %u, not by uid %u who runs this; chown it", dir,
			(unsigned)st.st_uid, (unsigned)geteuid());
	if (st.st_mode & 077)
		return kmc_detail(KMC_E_PERM, "%s/" STORE_LOCK_NAME " has mode "
			"%04o; chmod 600 %s/" STORE_LOCK_NAME, dir,
			(unsigned)(st.st_mode & 07777), dir);
	if (st.st_nlink != 1)
		return kmc_detail(KMC_E_PERM, "%s/" STORE_LOCK_NAME " has %lu hard "
			"links; a vault file must have one", dir,
			(unsigned long)st.st_nlink);
	/* Asked only when this copy has no environment on the file and
	   another copy of the code may be loaded: a lock of this process
	   there is then that copy's (proclocks.c). */
	if (other_copy && proc_holds_lock(st.st_dev, st.st_ino))
		return kmc_detail(KMC_E_STORE, "%s/" STORE_NAME " is open in "
			"this process already, through another copy of "
			"kmcvault's code (the kmc provider's kmc/vault.so, of "
			"another build than the libkmcvault linked here): LMDB "
			"allows one environment a file in a process, and a "
			"second would break the first one's locks; install "
			"kmcvault's library and provider from one build", dir);
	return 0;
}

/* Check a file LMDB is about to open; returns -ENOENT if absent. */
static int check_file(int dirfd, const char *dir, const char *name,
	int in_backup, struct stat *st)
{
	char show[4096];
	int fd, r;

	snprintf(show, sizeof(show), "%s/%s", dir, name);
	fd = kmc_open_checked(dirfd, name, show, &store_rule, st);

	KMC_GUARD(fd);
	/* A read racing a writer's meta update may see half of it: damage
	   stays, a torn read does not. */
	for (int i = 0; i < 3; i++) {
		r = store_check_metas(fd, show, in_backup);
		if (r != KMC_E_CORRUPT)
			break;
	}
	close(fd);
	return r;
}

static int meta_init(store *st, MDB_txn *txn,
	const uint8_t vault_id[KS_VAULT_ID_LEN])
{
	uint8_t ver[4] = { 0, 0, 0, STORE_FORMAT_VERSION };
	uint8_t gen[8] = { 0 };
	MDB_val k, v;

	k = (MDB_val){ 6, "format" };
	v = (MDB_val){ sizeof(ver), ver };
	KMC_GUARD(db_err(mdb_put(txn, st->meta, &k, &v, 0)));
	k = (MDB_val){ 8, "vault_id" };
	v = (MDB_val){ KS_VAULT_ID_LEN, (void *)vault_id };
	KMC_GUARD(db_err(mdb_put(txn, st->meta, &k, &v, 0)));
	k = (MDB_val){ 10, "generation" };
	v = (MDB_val){ sizeof(gen), gen };
	KMC_GUARD(db_err(mdb_put(txn, st->meta, &k, &v, 0)));
	return storetree_init(txn, st->meta);
}

static int meta_check(store *st, MDB_txn *txn,
	const uint8_t vault_id[KS_VAULT_ID_LEN])
{
	MDB_val k = { 6, "format" }, v;
	const uint8_t *p;

	KMC_ENSURE(mdb_get(txn, st->meta, &k, &v) == 0 && v.mv_size == 4 &&
		db_val_ok(st->env, &v, 4), KMC_E_CORRUPT);
	p = v.mv_data;
	if (p[0] || p[1] || p[2] || p[3] < STORE_FORMAT_OLD ||
	    p[3] > STORE_FORMAT_VERSION)
		return kmc_detail(KMC_E_VERSION, "has item-store format %lu, and "
			"this kmc reads formats %u and %u only: a newer kmcvault "
			"wrote it", (unsigned long)p[0] << 24 |
			(unsigned long)p[1] << 16 | (unsigned long)p[2] << 8 |
			p[3], STORE_FORMAT_OLD, STORE_FORMAT_VERSION);
	st->format = p[3];
	k = (MDB_val){ 8, "vault_id" };
	KMC_ENSURE(mdb_get(txn, st->meta, &k, &v) == 0 &&
		v.mv_size == KS_VAULT_ID_LEN &&
		db_val_ok(st->env, &v, KS_VAULT_ID_LEN), KMC_E_CORRUPT);
	KMC_ENSURE(memcmp(v.mv_data, vault_id, KS_VAULT_ID_LEN) == 0,
		KMC_E_WRONG_VAULT);
	return 0;
}

/* Not an error code: the file changed under the open (store_open()). */
#define STORE_REPLACED 1

static int env_open_held(store *st, const char *file, store_mode mode,
	const uint8_t vault_id[KS_VAULT_ID_LEN],
	const struct stat *before);

/*
 * LMDB's writes here (the lock file it sizes with ftruncate, a new
 * store's first commit) with SIGXFSZ held back (safeio/fsize.h): past a
 * file size limit they fail, naming it, rather than kill a server.
 */
static int env_open(store *st, const char *file, store_mode mode,
	const uint8_t vault_id[KS_VAULT_ID_LEN],
	const struct stat *before)
{
	unsigned long long limit;
	kmc_xfsz x;
	int r;

	kmc_xfsz_hold(&x);
	r = env_open_held(st, file, mode, vault_id, before);
	kmc_xfsz_release(&x);
	limit = x.limit;
	/* A write cut short at the limit is EIO, one past it EFBIG; a
	   store's first commit and its lock file are a few pages. */
	if (limit && (r == -EFBIG ||
	    (r == -EIO && mode == STORE_CREATE && limit < (1ull << 20))))
		return kmc_detail(-EFBIG, "writing %s: it would pass this "
			"process's file size limit of %llu bytes (RLIMIT_FSIZE, "
			"ulimit -f)", file, limit);
	return r;
}

static int env_open_held(store *st, const char *file, store_mode mode,
	const uint8_t vault_id[KS_VAULT_ID_LEN],
	const struct stat *before)
{
	int create = mode == STORE_CREATE, peek = mode == STORE_PEEK;
	struct stat after;
	MDB_txn *txn = NULL;
	int r;

	KMC_GUARD(db_err(mdb_env_create(&st->env)));
	r = db_err(mdb_env_set_maxdbs(st->env, 8));
	if (r == 0)
		r = db_err(mdb_env_set_mapsize(st->env, STORE_MAP_SIZE));
	/* NOTLS: read transactions are not tied to the opening thread. A
	   peek writes nothing, not even a lock file beside a backup. */
	if (r == 0)
		r = db_err(mdb_env_open(st->env, file,
			MDB_NOSUBDIR | MDB_NOTLS |
			(peek ? MDB_RDONLY | MDB_NOLOCK : 0), 0600));
	if (r == 0 && before) {
		/* The file LMDB opened must be the one checked above. */
		int fd;

		r = db_err(mdb_env_get_fd(st->env, &fd));
		if (r == 0 && fstat(fd, &after) < 0)
			r = -errno;
		/* store_open() checks the new file and tries again. */
		if (r == 0 && (after.st_dev != before->st_dev ||
				after.st_ino != before->st_ino))
			r = STORE_REPLACED;
	}
	if (r == 0) {
		int fd;

		r = db_err(mdb_env_get_fd(st->env, &fd));
		/* LMDB opens the data file without O_CLOEXEC: every program
		   a server started while its vault is open (a CGI, a helper
		   after its privileges were dropped) got the item store open
		   for writing. (A fork and exec in another thread between
		   the open and this still could: LMDB takes no flag for it.) */
		if (r == 0) {
			int flags = fcntl(fd, F_GETFD);

			if (flags < 0 || fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0)
				r = -errno;
		}
		if (r == 0)
			mdb_env_set_userctx(st->env, store_map_find(fd, STORE_MAP_SIZE));
	}
	/* Only a new store is written here. A read transaction for the
	   rest: a write one would wait for another process's writer to
	   commit (a batch of a million items: seconds) before the open
	   could read two values. Handles opened in it stay in the env. */
	if (r == 0)
		r = db_err(mdb_txn_begin(st->env, NULL, create ? 0 : MDB_RDONLY,
			&txn));
	if (r == 0)
		r = db_err(mdb_dbi_open(txn, "meta", create ? MDB_CREATE : 0,
			&st->meta));
	if (r == 0)
		r = db_err(mdb_dbi_open(txn, "items", create ? MDB_CREATE : 0,
			&st->items));
	/* Added after format 1 was first written: a store may lack it.
	   Only a writer makes it (store_history_make()), so that a read
	   writes nothing; a peek reads no history. */
	if (r == 0 && !peek) {
		r = db_err(mdb_dbi_open(txn, "history", create ? MDB_CREATE :
			0, &st->history));
		if (r == KMC_E_NOT_FOUND) {
			st->history = 0;
			r = 0;
		}
	}
	/* The digest (storetree.c): as the history, missing in a store an
	   older kmc made, until a writer builds it. */
	if (r == 0) {
		r = db_err(mdb_dbi_open(txn, "tree", create ? MDB_CREATE : 0,
			&st->tree));
		if (r == KMC_E_NOT_FOUND) {
			st->tree = 0;
			r = 0;
		}
	}
	if (r == KMC_E_NOT_FOUND)
		r = KMC_E_CORRUPT;
	if (r == 0)
		r = create ? meta_init(st, txn, vault_id) :
			meta_check(st, txn, vault_id);
	if (r == 0) {
		r = db_err(mdb_txn_commit(txn));
		txn = NULL;
	}
	if (txn)
		mdb_txn_abort(txn);
	if (r != 0) {
		env_close(st->env);
		st->env = NULL;
	}
	return r;
}

static int open_checked(store *st, const char *path, int dirfd,
	store_mode mode, const uint8_t vault_id[KS_VAULT_ID_LEN],
	const char *file);

int store_open(store *st, const char *path, int dirfd, store_mode mode,
	const uint8_t vault_id[KS_VAULT_ID_LEN])
{
	char file[4096], show[4096], pinned[64];
	int r, n;

	memset(st, 0, sizeof(*st));
	n = snprintf(file, sizeof(file), "%s/%s", path, STORE_NAME);
	KMC_ENSURE(n > 0 && (size_t)n < sizeof(file), KMC_E_TOO_LARGE);
	/* A new store sits in init's private temporary folder: no sharing. */
	if (mode == STORE_CREATE)
		return env_open(st, file, mode, vault_id, NULL);
	memcpy(show, file, sizeof(show));
	/* LMDB opens by name: name the directory we checked, by its
	   descriptor, so a re-pointed link to the vault cannot send it
	   elsewhere. (Where /proc is missing, the path it was given.) */
	n = snprintf(pinned, sizeof(pinned), "/proc/self/fd/%d", dirfd);
	if (n > 0 && (size_t)n < sizeof(pinned) && access(pinned, F_OK) == 0) {
		n = snprintf(file, sizeof(file), "%s/%s", pinned, STORE_NAME);
		KMC_ENSURE(n > 0 && (size_t)n < sizeof(file), KMC_E_TOO_LARGE);
	}

	/* A rename over the file between its check and LMDB's open (a
	   restore, a repair) is not an attack: the file now there is
	   checked and opened in its turn. Only one replaced at every try
	   is refused. */
	for (int tries = 0; tries < 3; tries++) {
		r = open_checked(st, path, dirfd, mode, vault_id, file);
		if (r != STORE_REPLACED)
			return r;
	}
	return kmc_detail(KMC_E_PERM, "%s was replaced while it was being "
		"opened, three times over; check who else can write the vault "
		"folder", show);
}

/* store_open() once: STORE_REPLACED when the file was replaced meanwhile. */
static int open_checked(store *st, const char *path, int dirfd,
	store_mode mode, const uint8_t vault_id[KS_VAULT_ID_LEN],
	const char *file)
{
	struct stat before;
	shared_env *e;
	MDB_txn *txn;
	int r;

	/* A peek is at a backup's copy (store_mode): its advice differs. */
	r = check_file(dirfd, path, STORE_NAME, mode == STORE_PEEK, &before);
	if (r == -ENOENT)
		return KMC_E_STORE;
	KMC_GUARD(r);
	/* A peek has its own environment: with no lock file it cannot upset
	   one this process holds on the same file. */
	if (mode == STORE_PEEK)
		return env_open(st, file, mode, vault_id, &before);
	pthread_mutex_lock(&envs_lock);
	/* A child after fork() opens an environment of its own: LMDB's
	   reader slots carry the pid of the process that opened the
	   environment, so a child's snapshot in its parent's environment
	   lasted only until the parent closed its last handle (its close
	   clears the slots of its pid) and pages were reused under it. */
	for (e = envs; e; e = e->next)
		if (e->dev == before.st_dev && e->ino == before.st_ino &&
		    e->pid == getpid())
			break;
	if (e) {
		st->env = e->env;
		st->meta = e->meta;
		st->items = e->items;
		st->history = e->history;
		st->tree = e->tree;
		r = db_err(mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn));
		if (r == 0) {
			r = meta_check(st, txn, vault_id);
			mdb_txn_abort(txn);
		}
		if (r == 0) {
			e->refs++;
			st->shared = e;
		} else {
			st->env = NULL;
		}
		pthread_mutex_unlock(&envs_lock);
		return r;
	}
	r = check_lock_file(dirfd, path, vault_offer_provider());
	if (r == 0)
		r = env_open(st, file, mode, vault_id, &before);
	if (r == 0) {
		e = calloc(1, sizeof(*e));
		if (!e) {
			env_close(st->env);
			st->env = NULL;
			r = KMC_E_NOMEM;
		} else {
			*e = (shared_env){ .dev = before.st_dev,
				.ino = before.st_ino, .env = st->env,
				.meta = st->meta, .items = st->items,
				.history = st->history, .tree = st->tree,
				.refs = 1, .pid = getpid(),
				.next = envs };
			envs = e;
			st->shared = e;
		}
	}
	pthread_mutex_unlock(&envs_lock);
	return r;
}

MDB_dbi store_history_dbi(store *st)
{
	MDB_dbi dbi;

	if (st->history || !st->shared)
		return st->history;
	/* Another handle on the shared env may have made it since. */
	pthread_mutex_lock(&envs_lock);
	dbi = st->history = st->shared->history;
	pthread_mutex_unlock(&envs_lock);
	return dbi;
}

/* The history's commit stopped by a file size limit (EFBIG, or EIO for
   a write cut short at it): said so. */
static int history_error(store *st, int r)
{
	unsigned long long limit = kmc_fsize_limit();
	struct stat fs;
	int fd = -1;

	if ((r != -EFBIG && r != -EIO) || !limit ||
	    mdb_env_get_fd(st->env, &fd) != 0 || fd < 0 ||
	    fstat(fd, &fs) < 0 ||
	    (unsigned long long)fs.st_size + (1ull << 20) < limit)
		return r;
	return kmc_detail(-EFBIG, "writing %s%s" STORE_NAME ": it would pass "
		"this process's file size limit of %llu bytes (RLIMIT_FSIZE, "
		"ulimit -f) when adding the history table an item store of an "
		"earlier kmc lacks (the first writable open does); nothing was "
		"changed", st->dir ? st->dir : "", st->dir ? "/" : "", limit);
}

int store_history_make(store *st)
{
	MDB_txn *txn;
	MDB_dbi dbi;
	int r;

	if (store_history_dbi(st) || !st->shared)
		return 0;
	/* Under the lock: LMDB allows one mdb_dbi_open() at a time. */
	pthread_mutex_lock(&envs_lock);
	r = db_err(mdb_txn_begin(st->env, NULL, 0, &txn));
	if (r == 0) {
		r = db_err(mdb_dbi_open(txn, "history", MDB_CREATE, &dbi));
		if (r == 0) {
			kmc_xfsz x;

			/* SIGXFSZ held back, as every commit's (storetxn.c). */
			kmc_xfsz_hold(&x);
			r = db_err(mdb_txn_commit(txn));
			kmc_xfsz_release(&x);
			r = history_error(st, r);
		} else
			mdb_txn_abort(txn);
	}
	if (r == 0) {
		st->history = st->shared->history = dbi;
		store_extend(st->env);
	}
	pthread_mutex_unlock(&envs_lock);
	return r;
}

MDB_dbi store_tree_dbi(store *st)
{
	MDB_dbi dbi;

	if (st->tree || !st->shared)
		return st->tree;
	pthread_mutex_lock(&envs_lock);
	dbi = st->tree = st->shared->tree;
	pthread_mutex_unlock(&envs_lock);
	return dbi;
}

int store_tree_reopen(store *st)
{
	MDB_txn *txn;
	MDB_dbi dbi = 0;
	int r;

	if (store_tree_dbi(st))
		return 0;
	/* Another process built the tree after this one opened the
	   environment: open its handle now (in a read transaction that
	   commits, so that the handle stays in the environment). */
	pthread_mutex_lock(&envs_lock);
	r = db_err(mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn));
	if (r == 0) {
		r = db_err(mdb_dbi_open(txn, "tree", 0, &dbi));
		if (r == 0)
			r = db_err(mdb_txn_commit(txn));
		else
			mdb_txn_abort(txn);
	}
	if (r == 0) {
		st->tree = dbi;
		if (st->shared)
			st->shared->tree = dbi;
	}
	pthread_mutex_unlock(&envs_lock);
	return r == KMC_E_NOT_FOUND ? 0 : r;
}

int store_tree_make_dbi(store_txn *t)
{
	store *st = t->st;
	MDB_dbi dbi;
	int r;

	if (store_tree_dbi(st))
		return 0;
	KMC_ENSURE(st->shared, KMC_E_INVALID);
	/* Under the lock: LMDB allows one mdb_dbi_open() at a time. The
	   handle is the env's once the transaction commits, and LMDB
	   forgets it if it aborts: the shared copy is set by the caller
	   after the commit (store_tree_made()). */
	pthread_mutex_lock(&envs_lock);
	r = db_err(mdb_dbi_open(t->txn, "tree", MDB_CREATE, &dbi));
	pthread_mutex_unlock(&envs_lock);
	if (r == 0)
		st->tree = dbi;
	return r;
}

void store_tree_made(store *st, int committed)
{
	pthread_mutex_lock(&envs_lock);
	if (committed && st->shared)
		st->shared->tree = st->tree;
	else if (!committed && st->shared && !st->shared->tree)
		st->tree = 0;
	pthread_mutex_unlock(&envs_lock);
}

int store_check_root(store *st, int *ret_have)
{
	MDB_txn *txn;
	int r;

	KMC_GUARD(db_err(mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn)));
	r = storetree_read_check(st, txn, ret_have);
	mdb_txn_abort(txn);
	return r;
}

/*
 * Whether st's environment is a parent's, inherited through fork(). Its
 * read transactions are the parent's reader slots, in the lock file the
 * two share: aborting one in the child (a snapshot the child's close
 * ended) freed the parent's snapshot, whose pages the next writer then
 * reused. Closing the environment would close the lock file's
 * descriptor, which drops every fcntl lock the child holds on it, those
 * of an environment of its own included. So the child leaves both alone.
 */
int store_inherited(const store *st)
{
	return st->shared && st->shared->pid != getpid();
}

/*
 * Whether the item store at dirfd's STORE_NAME is still the file st
 * opened. A restore renames another file over it: st goes on reading the
 * replaced one, whose generation never moves again, so that a server
 * polling kmc_vault_generation() missed every change after a restore.
 */
int store_same_file(store *st, int dirfd, const char *dir)
{
	struct stat now;

	if (!st->shared)
		return 0;	/* a backup's copy (peek): never replaced */
	if (fstatat(dirfd, STORE_NAME, &now, AT_SYMLINK_NOFOLLOW) < 0)
		return kmc_detail(KMC_E_STORE, "%s/" STORE_NAME ": %s; this "
			"handle reads the item store it opened: open the vault "
			"again", dir, strerror(errno));
	if (now.st_dev != st->shared->dev || now.st_ino != st->shared->ino)
		return kmc_detail(KMC_E_STORE, "%s/" STORE_NAME " was replaced "
			"(a restore) since this handle opened the vault, which "
			"reads the one it replaced: open the vault again", dir);
	return 0;
}

/*
 * Keep txn, a read transaction of the environment st inherited, on that
 * environment (which stays on the list in this process) rather than end
 * it: ending it would end the parent's (store_inherited()).
 */
void store_leave_txn(store *st, MDB_txn *txn)
{
	struct left_txn *l = malloc(sizeof(*l));

	if (!l)
		return;	/* a few hundred bytes lost in the child */
	pthread_mutex_lock(&envs_lock);
	*l = (struct left_txn){ txn, st->shared->left };
	st->shared->left = l;
	pthread_mutex_unlock(&envs_lock);
}

void store_close(store *st)
{
	shared_env **p, *e = st->shared;

	store_view_done(st);
	storetree_cache_free(st);
	store_unpin(st, 1);	/* a snapshot the program did not end */
	if (!st->env)
		return;
	if (!e) {
		env_close(st->env);
		st->env = NULL;
		return;
	}
	pthread_mutex_lock(&envs_lock);
	/* Inherited through fork(): the parent's, left alone (see
	   store_inherited()), and kept on the list, which store_open()
	   passes over in this process, with its memory and descriptors. */
	if (--e->refs == 0 && e->pid == getpid()) {
		for (p = &envs; *p && *p != e; p = &(*p)->next)
			;
		if (*p)
			*p = e->next;
		env_close(e->env);
		free(e);
	}
	pthread_mutex_unlock(&envs_lock);
	st->env = NULL;
	st->shared = NULL;
}

/* The part of the map the file's pages fill (a read-only map of a
   file maps nothing past it): the whole map where that is unknown. */
static size_t held_len(MDB_env *env, const map_range *m)
{
	MDB_envinfo info;
	MDB_stat s;
	uint64_t held;

	if (mdb_env_info(env, &info) != 0 || mdb_env_stat(env, &s) != 0)
		return m->len;
	held = ((uint64_t)info.me_last_pgno + 1) * s.ms_psize;
	return held < m->len ? (size_t)held : m->len;
}

/*
 * Every record read maps the vault file's pages into this process, and
 * they stay: a server that loads every key of a 10,000-key vault kept
 * the whole file (10 MB) in its RSS, though it holds only copies. Bulk
 * readers call this after each read; every `every` calls the map's pages
 * leave the process (MADV_DONTNEED on LMDB's read-only shared file map:
 * they stay in the page cache, and the next touch maps them again;
 * addresses and data stay valid, so a reader in another thread only
 * refaults). Only the part of the map the file fills is walked: 4 to 7
 * us a call here (strace -c over 1,000 key loads). Not on every
 * store_get: refaulting the B-trees' upper pages each read would cost a
 * warm reader more than it saves; a bulk reader of keys, whose parse
 * costs far more, calls it every read.
 */
static void map_drop(store *st)
{
	/* Found at open (store_map_find); without it, nothing is dropped. */
	const map_range *m = mdb_env_get_userctx(st->env);

	if (m)
		(void)madvise((void *)m->base, held_len(st->env, m),
			MADV_DONTNEED);
}

void store_release_pages(store *st, unsigned every)
{
	if (!st->shared || every == 0 || atomic_fetch_add_explicit(
			&st->shared->reads, 1, memory_order_relaxed) % every !=
			every - 1)
		return;
	map_drop(st);
}

void store_set_bulk(store *st, int on)
{
	st->bulk = on;
}

void store_bulk_drop(store *st)
{
	if (st->bulk && st->shared)
		map_drop(st);
}

/* A bulk read's record copied into the handle's buffer (*v then names
   the copy) and the map's pages dropped: the digest's check maps its
   own pages, not on top of the record's. Each read maps the meta page,
   the B-trees' upper pages and leaves, the digest's bucket and node,
   each in a 64 KiB block of fault-around: halving the blocks held at
   once cut a 10,000-key load's peak RSS by about 250 KiB, for a second
   madvise of a few us a read (docs/performance.md, row boot10k). */
int store_bulk_copy(store *st, MDB_val *v)
{
	if (!st->bulk || !st->shared || v->mv_data == st->view)
		return 0;
	KMC_GUARD(store_grow((void **)&st->view, &st->view_cap, v->mv_size,
		1, 256));
	memcpy(st->view, v->mv_data, v->mv_size);
	v->mv_data = st->view;
	map_drop(st);
	return 0;
}

MDB_dbi store_db_handle(store *st, store_db db)
{
	return db == STORE_DB_HISTORY ? store_history_dbi(st) : st->items;
}

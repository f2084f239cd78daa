/*
 * storeval.c - the checks of what LMDB hands back: its codes as kmc
 * errors, and keys and values held against the pages the file holds
 * before they are read, so that a damaged page is a message, not
 * SIGBUS (store.c opens the store, storeread.c reads it).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "store.h"
#include "filemap.h"
#include "vault.h"

/* The largest value the store writes: a record of the largest item (a
   journal in meta is far smaller). */
#define STORE_VAL_MAX (RECORD_HEADER_LEN + KMC_ITEM_MAX + KMC_SEAL_OVERHEAD)

/* LMDB's own codes are negative; system faults come back as errno. */
int db_err(int rc)
{
	if (rc == 0)
		return 0;
	if (rc == MDB_NOTFOUND)
		return KMC_E_NOT_FOUND;
	if (rc == MDB_VERSION_MISMATCH)
		return KMC_E_VERSION;
	/* LMDB's own allocations (a read transaction, the environment)
	   failing: out of memory, as any other, not an I/O fault. */
	if (rc == ENOMEM)
		return KMC_E_NOMEM;
	/* Damage LMDB noticed: not a version this build lacks. */
	if (rc == MDB_INVALID || rc == MDB_CORRUPTED ||
	    rc == MDB_PAGE_NOTFOUND)
		return KMC_E_CORRUPT;
	if (rc > 0)
		return -rc;
	return KMC_E_STORE;
}

map_range *store_map_find(int fd, size_t mapsize)
{
	map_range *m;
	uintptr_t base;
	size_t len;

	if (file_map_find(fd, mapsize, &base, &len) < 0)
		return NULL;
	m = malloc(sizeof(*m));
	if (m)
		*m = (map_range){ base, len };
	return m;
}

/*
 * Whether a key or value LMDB hands back is one the store could have
 * written: at most max bytes and, when it points into the map (not into
 * a write transaction's own pages), inside the pages the file holds. A
 * damaged page can give any length at any offset; reading past the end
 * of the file through the map is SIGBUS, past the map SIGSEGV. Where the
 * map could not be found (no /proc), only the length is checked.
 */
int db_val_ok(MDB_env *env, const MDB_val *v, size_t max)
{
	const map_range *m = mdb_env_get_userctx(env);
	MDB_envinfo info;
	MDB_stat s;
	uintptr_t p = (uintptr_t)v->mv_data, held;

	if (v->mv_size > max)
		return 0;
	if (!m || p < m->base || p - m->base >= m->len)
		return 1;
	if (mdb_env_info(env, &info) != 0 || mdb_env_stat(env, &s) != 0)
		return 0;
	held = (uintptr_t)(info.me_last_pgno + 1) * s.ms_psize;
	return p - m->base <= held && v->mv_size <= held - (p - m->base);
}

int db_check_val(MDB_env *env, const MDB_val *v, const char *what,
	const char *name)
{
	if (db_val_ok(env, v, STORE_VAL_MAX))
		return 0;
	return kmc_detail(KMC_E_CORRUPT, STORE_NAME " is damaged: the %s of "
		"%s is %zu bytes%s; restore it from a backup", what, name,
		v->mv_size, v->mv_size > STORE_VAL_MAX ? ", more than a record "
		"can be" : " past the end of the file");
}

int db_name_val(const char *name, MDB_val *k)
{
	k->mv_size = strlen(name);
	k->mv_data = (void *)name;
	return 0;
}

int db_copy_val(MDB_env *env, const MDB_val *v, const char *what,
	const char *name, uint8_t **ret, size_t *ret_len)
{
	uint8_t *p;

	KMC_GUARD(db_check_val(env, v, what, name));
	p = malloc(v->mv_size ? v->mv_size : 1);
	KMC_ENSURE(p, KMC_E_NOMEM);
	memcpy(p, v->mv_data, v->mv_size);
	*ret = p;
	*ret_len = v->mv_size;
	return 0;
}

int store_key_check(MDB_env *env, const MDB_val *k, store_db db)
{
	if (k->mv_size > 0 && db_val_ok(env, k, STORE_KEY_MAX))
		return 0;
	return kmc_detail(KMC_E_CORRUPT, STORE_NAME " is damaged: %s key of "
		"%zu bytes; restore it from a backup", db == STORE_DB_HISTORY ?
		"a history" : "an item", k->mv_size);
}

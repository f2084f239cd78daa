/*
 * verify.c - kmc_vault_verify: everything the item store holds, checked
 * whole. The digest is recomputed from every record and compared node
 * by node (treewalk.c), and every record, old versions included, is
 * opened under its master key. Reads only; each disagreement is handed
 * to the caller by item name.
 */
#include <stdlib.h>
#include <string.h>
#include "vault.h"
#include "store.h"

typedef struct verify_ctx {
	kmc_vault *v;
	int (*cb)(const kmc_verify_note *note, void *arg);
	void *arg;
	store_db db;
	uint64_t records, bad;
} verify_ctx;

static int note(verify_ctx *c, const char *item, uint32_t version,
	const char *what)
{
	kmc_verify_note n = { item, version, what };

	c->bad++;
	return c->cb ? c->cb(&n, c->arg) : 0;
}

/* A disagreement of the digest (storetree_verify()). */
static int tree_note(void *arg, store_db db, const uint8_t *key,
	size_t key_len, const char *what)
{
	verify_ctx *c = arg;
	char name[KMC_NAME_MAX + 1];
	uint32_t ver = 0;

	if (!key)
		return note(c, NULL, 0, what);
	if (items_key_name(db, key, key_len, name, &ver) < 0)
		return note(c, NULL, 0, "a record under a damaged key");
	return note(c, name, ver, what);
}

static int open_one(const uint8_t *key, size_t key_len, const uint8_t *rec,
	size_t len, void *arg)
{
	verify_ctx *c = arg;
	char name[KMC_NAME_MAX + 1];
	kmc_secret *s = NULL;
	uint32_t ver;
	int r;

	c->records++;
	if (items_key_name(c->db, key, key_len, name, &ver) < 0)
		return note(c, NULL, 0, "a record under a damaged key");
	r = record_open(c->v, name, rec, len, NULL, &s);
	kmc_secret_free(s);
	if (r == KMC_E_AUTH || r == KMC_E_CORRUPT)
		return note(c, name, ver, "the record fails authentication");
	if (r == KMC_E_VERSION)
		return note(c, name, ver, "a record of a newer format");
	return r;
}

int kmc_vault_verify(kmc_vault *v,
	int (*cb)(const kmc_verify_note *note, void *arg), void *arg,
	uint64_t *ret_records, uint64_t *ret_bad)
{
	verify_ctx c = { v, cb, arg, STORE_DB_ITEMS, 0, 0 };
	size_t tree_bad = 0;
	int r;

	kmc_detail_clear();
	r = storetree_verify(&v->st, tree_note, &c, &tree_bad);
	if (r == KMC_E_NOT_FOUND)
		r = note(&c, NULL, 0, "the store has no digest yet (an older "
			"kmc made it); any writable open builds it, e.g. kmc "
			"repair");
	KMC_GUARD(r);
	/* The record walks below do not check the digest (it was just
	   recomputed whole): each record is opened whatever it says. */
	c.db = STORE_DB_ITEMS;
	KMC_GUARD(store_walk_db(&v->st, STORE_DB_ITEMS, open_one, &c));
	c.db = STORE_DB_HISTORY;
	KMC_GUARD(store_walk_db(&v->st, STORE_DB_HISTORY, open_one, &c));
	kmc_detail_clear();
	*ret_records = c.records;
	*ret_bad = c.bad;
	return 0;
}

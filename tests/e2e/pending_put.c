/*
 * pending_put.c - a test helper for test_token_pending.sh: write the
 * vault's list of keys on a token waiting to be destroyed (meta
 * "token_destroys", vault/tokenpending.h) straight into items.mdb with
 * LMDB, as someone who can write the file but holds no key of the vault
 * could: a forged list, or bytes that are no list.
 *
 *	pending_put VAULT ITEM VERSION URI...   a list of these URIs
 *	pending_put VAULT --bytes HEX           these bytes as the list
 *	pending_put VAULT --journal HEX         these bytes as meta "journal",
 *	                                        a change left pending
 *
 * Built by the test itself against the static library of the build
 * under test.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lmdb.h>
#include "../../vault/tokenpending.h"

static int put(const char *dir, const char *key, const uint8_t *p,
	size_t len)
{
	char path[4096];
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi meta;
	MDB_val k = { strlen(key), (void *)key };
	MDB_val v = { len, (void *)p };
	int rc;

	snprintf(path, sizeof(path), "%s/items.mdb", dir);
	rc = mdb_env_create(&env);
	if (rc == 0)
		rc = mdb_env_set_maxdbs(env, 8);
	if (rc == 0)
		rc = mdb_env_open(env, path, MDB_NOSUBDIR, 0600);
	if (rc == 0)
		rc = mdb_txn_begin(env, NULL, 0, &txn);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "meta", 0, &meta);
	if (rc == 0)
		rc = mdb_put(txn, meta, &k, &v, 0);
	if (rc == 0)
		rc = mdb_txn_commit(txn);
	mdb_env_close(env);
	if (rc != 0)
		fprintf(stderr, "pending_put: %s: %s\n", path, mdb_strerror(rc));
	return rc != 0;
}

int main(int argc, char **argv)
{
	token_pending l = { 0 };
	uint8_t *p = NULL, raw[4096];
	size_t len = 0;
	int r;

	if (argc == 4 && (!strcmp(argv[2], "--bytes") ||
	    !strcmp(argv[2], "--journal"))) {
		for (len = 0; len < sizeof(raw) && argv[3][2 * len] &&
		     sscanf(argv[3] + 2 * len, "%2hhx", &raw[len]) == 1; len++)
			;
		return put(argv[1], argv[2][2] == 'b' ? TOKEN_PENDING_KEY :
			"journal", raw, len);
	}
	if (argc < 5) {
		fprintf(stderr, "usage: pending_put VAULT ITEM VERSION URI...\n"
			"       pending_put VAULT --bytes HEX\n"
			"       pending_put VAULT --journal HEX\n");
		return 2;
	}
	for (int i = 4; i < argc; i++)
		if (token_pending_add(&l, argv[i], argv[2],
				(uint32_t)strtoul(argv[3], NULL, 10)) != 0)
			return 1;
	r = token_pending_encode(&l, &p, &len);
	token_pending_free(&l);
	if (r != 0) {
		fprintf(stderr, "pending_put: cannot encode the list (%d)\n", r);
		return 1;
	}
	r = put(argv[1], TOKEN_PENDING_KEY, p, len);
	free(p);
	return r;
}

/*
 * auditcommit.c - a change's two records, from the store's commit hook
 * (audit_on_commit()) and around the keystore writes.
 *
 * At STORE_PREPARE, inside the write transaction: a record of what is
 * about to be committed (the items touched and their new versions, the
 * generation it makes) with result "pending"; when it cannot be written,
 * the transaction is aborted and the change refused with KMC_E_AUDIT.
 * At STORE_COMMITTED "ok", at STORE_ABORTED the failure. A kill between
 * the two leaves the "pending" record last; the next writable open adds
 * the outcome the store's generation tells (audit.c, finish_cut()).
 * Commits that touch no record (the keystore changes' generation bump)
 * write nothing here: audit_keystore() records those.
 */
#include <stdio.h>
#include <string.h>
#include "audit.h"

/* The item name and version of a touched key. */
static int touched_item(const store_change *c, const store_touched *k,
	char name[KMC_NAME_MAX + 1], uint32_t *ret_version)
{
	const uint8_t *nul = memchr(k->key, 0, k->key_len);
	size_t n = nul ? (size_t)(nul - k->key) : k->key_len;

	if (n == 0 || n > KMC_NAME_MAX)
		return -1;
	memcpy(name, k->key, n);
	name[n] = '\0';
	*ret_version = 0;
	if (k->db == STORE_DB_HISTORY && nul && k->key_len == n + 5) {
		*ret_version = (uint32_t)nul[1] << 24 | (uint32_t)nul[2] << 16 |
			(uint32_t)nul[3] << 8 | nul[4];
	} else if (k->db == STORE_DB_ITEMS && !k->deleted && c->t) {
		uint8_t *rec;
		size_t len;
		record_info info;

		if (store_txn_get(c->t, name, &rec, &len) == 0) {
			if (record_parse_header(rec, len, &info) == 0)
				*ret_version = info.version;
			free(rec);
		}
	}
	return 0;
}

static int prepare(kmc_vault *v, const store_change *c)
{
	char (*names)[KMC_NAME_MAX + 1];
	audit_item items[AUDIT_ITEMS_MAX];
	audit_rec rec = { .items = items, .gen = c->gen_new,
		.result = "pending", .through = -1, .torn = -1 };
	int r;

	names = malloc(AUDIT_ITEMS_MAX * sizeof(*names));
	KMC_ENSURE(names, KMC_E_NOMEM);
	for (size_t i = 0; i < c->n_touched; i++) {
		const store_touched *k = &c->touched[i];
		audit_item *it = &items[rec.n_items];
		int dup = 0;

		if (rec.n_items == AUDIT_ITEMS_MAX) {
			rec.more_items++;
			continue;
		}
		if (touched_item(c, k, names[rec.n_items], &it->version) < 0)
			continue;
		/* A version moved to history is its item's change too. */
		for (size_t j = 0; j < rec.n_items && k->db == STORE_DB_HISTORY;
		     j++)
			dup |= strcmp(items[j].name, names[rec.n_items]) == 0;
		if (dup)
			continue;
		it->name = names[rec.n_items];
		it->reads = 0;
		it->removed = k->deleted;
		rec.n_items++;
	}
	r = audit_change(v, &rec);
	free(names);
	return r;
}

int audit_on_commit(kmc_vault *v, store_phase phase, const store_change *c)
{
	audit_rec rec = { .gen = c->gen_new, .through = -1, .torn = -1 };

	if (c->n_touched == 0)
		return 0;
	if (phase == STORE_PREPARE)
		return prepare(v, c);
	rec.result = phase == STORE_COMMITTED ? "ok" :
		"not made: the store's commit failed";
	audit_change_after(v, &rec);
	return 0;
}

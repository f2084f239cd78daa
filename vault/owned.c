/*
 * owned.c - items that own other items, which go where they go: an
 * imported bundle NAME and its NAME/key, NAME/cert... (BUNDLE_PARTS, its
 * staged and previous versions among them), a CA ca:NAME and its key and
 * certificate, a trust store trust:STORE and the password kmc trust
 * export kept (TRUST_STORE_PARTS). kmc_item_remove and kmc_item_prune
 * take them in one transaction; vault_part_get reads one part. Keys on
 * a token that the records dropped were the last to name are destroyed
 * after the commit (vault/tokenrefs.c).
 */
#include <stdio.h>
#include <string.h>
#include "vault.h"
#include "audit.h"
#include "tokenkey.h"

/* Whether name is an imported bundle: its NAME/meta item exists, or it
   has a staged version only (NAME/.s/info); or a CA (ca:NAME, whose
   parts are ca:NAME/key and ca:NAME/cert). */
static int is_bundle(kmc_vault *v, const char *name)
{
	char part[KMC_NAME_MAX + 1];

	if (strlen(name) > KMC_BUNDLE_NAME_MAX)
		return 0;
	if (!strncmp(name, KMC_CA_ITEM_PREFIX, strlen(KMC_CA_ITEM_PREFIX)) &&
	    !strchr(name, '/'))
		return 1;
	snprintf(part, sizeof(part), "%s/meta", name);
	if (items_exists(v, part))
		return 1;
	snprintf(part, sizeof(part), "%s/.s/info", name);
	return items_exists(v, part);
}

/* A trust store's item: trust:STORE, no part. */
static int is_trust_store(const char *name)
{
	return !strncmp(name, TRUST_ITEM_PREFIX, strlen(TRUST_ITEM_PREFIX)) &&
		!strchr(name, '/');
}

/* The parts item name owns, which go where it goes: a bundle's, a trust
   store's, or none (*ret_n 0). */
static const char *const *owned_parts(kmc_vault *v, const char *name,
	size_t *ret_n)
{
	static const char *const bundle_parts[] = BUNDLE_PARTS;
	static const char *const trust_parts[] = TRUST_STORE_PARTS;

	if (is_trust_store(name)) {
		*ret_n = ELEMENTSOF(trust_parts);
		return trust_parts;
	}
	*ret_n = is_bundle(v, name) ? ELEMENTSOF(bundle_parts) : 0;
	return bundle_parts;
}

int kmc_item_remove(kmc_vault *v, const char *name)
{
	AUDIT_OP(v, "kmc_item_remove");
	const char *const *parts;
	char part[KMC_NAME_MAX + 1];
	size_t nparts;
	_cleanup_(token_refs_free) token_refs refs = { 0 };
	store_txn t;
	int r;

	kmc_detail_clear();
	token_note_clear(v);
	KMC_GUARD(items_write_check(v, name));
	parts = owned_parts(v, name, &nparts);
	if (nparts)
		KMC_GUARD(token_refs_collect(v, name, &refs));
	KMC_GUARD(store_txn_begin(&v->st, &t));
	r = items_txn_del(v, &t, name);
	/* A failure ends the loop: LMDB refuses every later call of a
	   transaction that failed, which would hide the cause. */
	for (size_t i = 0; i < nparts && (r == 0 || r == KMC_E_NOT_FOUND);
	     i++) {
		int rr;

		snprintf(part, sizeof(part), "%s/%s", name, parts[i]);
		rr = items_txn_del(v, &t, part);
		if (rr == 0 && r == KMC_E_NOT_FOUND)
			r = 0;
		else if (rr < 0 && rr != KMC_E_NOT_FOUND)
			r = rr;
	}
	if (r < 0) {
		store_txn_abort(&t);
		if (r == KMC_E_NOT_FOUND)
			return kmc_detail(r, "no item %s in %s", name, v->dir);
		return r;
	}
	KMC_GUARD(store_txn_commit(&t));
	token_refs_release(v, name, &refs);
	return 0;
}

int kmc_item_prune(kmc_vault *v, const char *name, size_t *ret_n)
{
	AUDIT_OP(v, "kmc_item_prune");
	const char *const *parts;
	char part[KMC_NAME_MAX + 1];
	size_t n, nparts, total = 0;
	_cleanup_(token_refs_free) token_refs refs = { 0 };
	store_txn t;
	int r;

	kmc_detail_clear();
	token_note_clear(v);
	KMC_GUARD(items_write_check(v, name));
	/* For a bundle, its parts' old versions go too: an old private key
	   is exactly what a rotation wants gone (and an old key on a token
	   with its record, below). */
	parts = owned_parts(v, name, &nparts);
	if (nparts)
		KMC_GUARD(token_refs_collect(v, name, &refs));
	KMC_GUARD(store_txn_begin(&v->st, &t));
	r = store_txn_drop_history(&t, name, &n);
	total += n;
	for (size_t i = 0; r == 0 && i < nparts; i++) {
		snprintf(part, sizeof(part), "%s/%s", name, parts[i]);
		r = store_txn_drop_history(&t, part, &n);
		total += n;
		/* The version kmc promote --previous would go back to is an
		   old version too. */
		if (r == 0 && !strncmp(parts[i], ".p/", 3)) {
			r = items_txn_del(v, &t, part);
			total += r == 0;
			if (r == KMC_E_NOT_FOUND)
				r = 0;
		}
	}
	if (r < 0) {
		store_txn_abort(&t);
		return r;
	}
	KMC_GUARD(store_txn_commit(&t));
	token_refs_release(v, name, &refs);
	if (ret_n)
		*ret_n = total;
	return 0;
}

int vault_part_get(kmc_vault *v, const char *name, const char *part,
	kmc_item_type type, kmc_secret **ret)
{
	char full[KMC_NAME_MAX + 1];
	int n = snprintf(full, sizeof(full), "%s/%s", name, part);

	if (n < 0 || (size_t)n >= sizeof(full))
		return kmc_detail(KMC_E_NAME, "bundle name %s is too long",
			name);
	return kmc_item_get(v, full, type, ret);
}

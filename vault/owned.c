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

/* Whether the record name is there as an item of type type: 1, 0, or
   the error that kept it from being read. A record there that is
   damaged or disagrees with the digest is there (a damaged bundle is
   still one, and rm is its way out); one whose header says another type
   is not (a password stored as web/meta does not make web a bundle,
   whose rm would take web/meta, web/key... with it); an allocation or
   I/O failure is not "absent": taken so, rm would remove a bundle's NAME
   and leave its NAME/... parts behind. */
static int part_there(kmc_vault *v, const char *name, kmc_item_type type)
{
	uint8_t *rec = NULL;
	size_t len;
	record_info info;
	int bad = 0, r;

	r = store_get_ex(&v->st, name, &rec, &len, &bad);
	if (r == 0 && record_parse_header(rec, len, &info) == 0 &&
	    info.type != type)
		r = KMC_E_NOT_FOUND;
	free(rec);
	if (r == 0)
		return 1;
	if (r == KMC_E_NOT_FOUND)
		return 0;
	if (record_damage(r))
		return 1;
	return r;
}

/* Whether name is an imported bundle: its NAME/meta item exists, or it
   has a staged version only (NAME/.s/info); or a CA (ca:NAME, whose
   parts are ca:NAME/key and ca:NAME/cert). 1, 0, or an error. */
static int is_bundle(kmc_vault *v, const char *name)
{
	char part[KMC_NAME_MAX + 1];
	int r;

	if (strlen(name) > KMC_BUNDLE_NAME_MAX)
		return 0;
	/* A CA's record, not a password stored as ca:NAME. */
	if (!strncmp(name, KMC_CA_ITEM_PREFIX, strlen(KMC_CA_ITEM_PREFIX)) &&
	    !strchr(name, '/'))
		return part_there(v, name, KMC_ITEM_CA);
	snprintf(part, sizeof(part), "%s/meta", name);
	r = part_there(v, part, KMC_ITEM_BUNDLE);
	if (r != 0)
		return r;
	snprintf(part, sizeof(part), "%s/.s/info", name);
	return part_there(v, part, KMC_ITEM_BUNDLE);
}

/*
 * A bundle's items are NAME and NAME/<part>, so a bundle named web/meta
 * would hold item web/meta, which is bundle web's meta; one named web/.s
 * would hold web/.s/key, web's staged key. Either makes the two share
 * items: kmc rm web, or a promote of web, would take the other's. Refused
 * for a new bundle: a name with a part after a '/' that is a bundle's
 * part, or that begins with '.' (where the version slots live).
 */
int bundle_name_guard(const char *name)
{
	static const char *const parts[] = BUNDLE_PARTS;

	for (const char *s = strchr(name, '/'); s; s = strchr(s + 1, '/')) {
		const char *rest = s + 1;
		int clash = rest[0] == '.';

		for (size_t i = 0; !clash && i < ELEMENTSOF(parts); i++)
			clash = !strcmp(rest, parts[i]);
		if (clash)
			return kmc_detail(KMC_E_NAME, "bundle name \"%s\": "
				"%.*s/%s would be a part of a bundle named "
				"%.*s, whose kmc rm would take it; after a '/' "
				"a bundle name has no key, cert, ca, crl, meta "
				"or keystore-password at its end and no part "
				"beginning with '.'", name, (int)(s - name),
				name, rest, (int)(s - name), name);
	}
	return 0;
}

/*
 * bundle_name_guard() for an import, which may renew a bundle that
 * exists: one an earlier version made under a name now refused (web/meta,
 * web/key) could be read and removed but not renewed. Its --replace and
 * --stage are let through when no bundle it would be a part of exists
 * (then the items are its alone, as they have been); a new one under
 * such a name, or one that does share items, is still refused.
 */
int bundle_name_guard_existing(kmc_vault *v, const char *name)
{
	static const char *const parts[] = BUNDLE_PARTS;
	char owner[KMC_NAME_MAX + 1];
	int r = bundle_name_guard(name), there;

	if (r == 0)
		return 0;
	there = is_bundle(v, name);
	if (there <= 0)
		return there < 0 ? there : r;
	for (const char *s = strchr(name, '/'); s; s = strchr(s + 1, '/')) {
		const char *rest = s + 1;
		int clash = rest[0] == '.';

		for (size_t i = 0; !clash && i < ELEMENTSOF(parts); i++)
			clash = !strcmp(rest, parts[i]);
		if (!clash)
			continue;
		snprintf(owner, sizeof(owner), "%.*s", (int)(s - name), name);
		there = is_bundle(v, owner);
		if (there < 0)
			return there;
		if (there)
			return kmc_detail(KMC_E_NAME, "bundle %s, made by an "
				"earlier version under a name now refused, shares "
				"items with bundle %s (%s is a part of it): a new "
				"version would mix the two; import it under another "
				"name, then kmc rm %s", name, owner, name, name);
	}
	kmc_detail_clear();
	return 0;
}

/* A trust store's item: trust:STORE, no part. */
static int is_trust_store(const char *name)
{
	return !strncmp(name, TRUST_ITEM_PREFIX, strlen(TRUST_ITEM_PREFIX)) &&
		!strchr(name, '/');
}

/* The parts item name owns, which go where it goes: a bundle's, a trust
   store's, or none (*ret_n 0), into *ret_parts. Returns 0, or the error
   that kept from telling whether name is a bundle. */
static int owned_parts(kmc_vault *v, const char *name,
	const char *const **ret_parts, size_t *ret_n)
{
	static const char *const bundle_parts[] = BUNDLE_PARTS;
	static const char *const trust_parts[] = TRUST_STORE_PARTS;
	int r;

	if (is_trust_store(name)) {
		*ret_parts = trust_parts;
		*ret_n = ELEMENTSOF(trust_parts);
		return 0;
	}
	r = is_bundle(v, name);
	if (r < 0)
		return kmc_detail(r, "telling whether it is a "
			"bundle: %s; nothing was changed", kmc_strerror(r));
	*ret_parts = bundle_parts;
	*ret_n = r ? ELEMENTSOF(bundle_parts) : 0;
	return 0;
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
	KMC_GUARD(owned_parts(v, name, &parts, &nparts));
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
	KMC_GUARD(owned_parts(v, name, &parts, &nparts));
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

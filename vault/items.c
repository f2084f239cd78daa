/*
 * items.c - items: the only code that reads or writes item records.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include "vault.h"
#include "../safeio/fileio.h"
#include "protector.h"
#include "journal.h"
#include "backup.h"
#include "../kmc/buf.h"
#include "../kmc/cstring.h"

/* ---------------------------------------------------------------- */
/* Items                                                             */

static int item_put_check(kmc_vault *v, const char *name, kmc_item_type type,
	size_t len)
{
	if (!(v->flags & KMC_OPEN_WRITE))
		return kmc_detail(KMC_E_READONLY, "%s: opened read-only", v->dir);
	KMC_GUARD(vault_name_guard(name));
	if (type < KMC_ITEM_PASSWORD || type > KMC_ITEM_BUNDLE)
		return kmc_detail(KMC_E_INVALID, "unknown item type %d",
			(int)type);
	if (len == 0)
		return kmc_detail(KMC_E_EMPTY, "item %s: empty value", name);
	if (len > KMC_ITEM_MAX)
		return kmc_detail(KMC_E_TOO_LARGE, "item %s: %zu bytes, more "
			"than %u", name, len, KMC_ITEM_MAX);
	return 0;
}

int vault_txn_put(kmc_vault *v, store_txn *t, const char *name,
	kmc_item_type type, const void *data, size_t len, int keep_history)
{
	_cleanup_(freep) uint8_t *old = NULL;
	_cleanup_(freep) uint8_t *rec = NULL;
	record_info info = { 0 }, prev;
	size_t old_len, rec_len;
	int r;

	KMC_GUARD(item_put_check(v, name, type, len));
	r = store_txn_get(t, name, &old, &old_len);
	info.version = 1;
	if (r == 0) {
		r = record_parse_header(old, old_len, &prev);
		if (r == 0)
			r = record_check_type(v, name, old, old_len, &prev,
				(uint8_t)type);
		if (r == KMC_E_TYPE)
			r = kmc_detail(KMC_E_TYPE, "item %s is a %s, not a %s "
				"(kmc rm it first)", name,
				kmc_item_type_name((kmc_item_type)prev.type),
				kmc_item_type_name(type));
		else if (r == KMC_E_AUTH)
			r = kmc_detail(r, "item %s fails authentication: its "
				"record was altered (kmc rm it first)", name);
		if (r == 0)
			info.version = prev.version + 1;
		if (r == 0 && keep_history)
			r = store_txn_keep(t, name, prev.version);
	} else if (r == KMC_E_NOT_FOUND) {
		r = 0;
	}
	KMC_GUARD(r);
	info.type = (uint8_t)type;
	info.mk_id = v->ks->active_mk;
	info.created = (int64_t)time(NULL);
	info.size = (uint32_t)len;
	KMC_GUARD(record_seal(v, name, &info, data, &rec, &rec_len));
	return store_txn_put(t, name, rec, rec_len);
}

int vault_txn_del(kmc_vault *v, store_txn *t, const char *name)
{
	size_t n;
	int r;

	(void)v;
	r = store_txn_del(t, name);
	if (r < 0 && r != KMC_E_NOT_FOUND)
		return r;
	KMC_GUARD(store_txn_drop_history(t, name, &n));
	return r == KMC_E_NOT_FOUND && n == 0 ? KMC_E_NOT_FOUND : 0;
}

int kmc_item_put(kmc_vault *v, const char *name, kmc_item_type type,
	const void *data, size_t len)
{
	store_txn t;
	int r;

	kmc_detail_clear();
	KMC_GUARD(item_put_check(v, name, type, len));
	KMC_GUARD(store_txn_begin(&v->st, &t));
	r = vault_txn_put(v, &t, name, type, data, len, 0);
	if (r < 0) {
		store_txn_abort(&t);
		return r;
	}
	return store_txn_commit(&t);
}

/* Whether name is an imported bundle: its NAME/meta item exists. */
static int is_bundle(kmc_vault *v, const char *name)
{
	char part[KMC_NAME_MAX + 1];
	uint8_t *meta;
	size_t len;

	if (strlen(name) > KMC_BUNDLE_NAME_MAX)
		return 0;
	snprintf(part, sizeof(part), "%s/meta", name);
	if (store_get(&v->st, part, &meta, &len) < 0)
		return 0;
	free(meta);
	return 1;
}

int kmc_item_remove(kmc_vault *v, const char *name)
{
	static const char *const parts[] = BUNDLE_PARTS;
	char part[KMC_NAME_MAX + 1];
	store_txn t;
	int r, bundle;

	kmc_detail_clear();
	if (!(v->flags & KMC_OPEN_WRITE))
		return kmc_detail(KMC_E_READONLY, "%s: opened read-only", v->dir);
	KMC_GUARD(vault_name_guard(name));
	bundle = is_bundle(v, name);
	KMC_GUARD(store_txn_begin(&v->st, &t));
	r = vault_txn_del(v, &t, name);
	for (size_t i = 0; bundle && i < ELEMENTSOF(parts); i++) {
		int rr;

		snprintf(part, sizeof(part), "%s/%s", name, parts[i]);
		rr = vault_txn_del(v, &t, part);
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
	return store_txn_commit(&t);
}

int kmc_item_prune(kmc_vault *v, const char *name, size_t *ret_n)
{
	static const char *const parts[] = BUNDLE_PARTS;
	char part[KMC_NAME_MAX + 1];
	size_t n, total = 0;
	store_txn t;
	int r, bundle;

	kmc_detail_clear();
	if (!(v->flags & KMC_OPEN_WRITE))
		return kmc_detail(KMC_E_READONLY, "%s: opened read-only", v->dir);
	KMC_GUARD(vault_name_guard(name));
	/* For a bundle, its parts' old versions go too: an old private key
	   is exactly what a rotation wants gone. */
	bundle = is_bundle(v, name);
	KMC_GUARD(store_txn_begin(&v->st, &t));
	r = store_txn_drop_history(&t, name, &n);
	total += n;
	for (size_t i = 0; r == 0 && bundle && i < ELEMENTSOF(parts); i++) {
		snprintf(part, sizeof(part), "%s/%s", name, parts[i]);
		r = store_txn_drop_history(&t, part, &n);
		total += n;
	}
	if (r < 0) {
		store_txn_abort(&t);
		return r;
	}
	KMC_GUARD(store_txn_commit(&t));
	if (ret_n)
		*ret_n = total;
	return 0;
}

int kmc_item_get(kmc_vault *v, const char *name, kmc_item_type type,
	kmc_secret **ret)
{
	_cleanup_(freep) uint8_t *rec = NULL;
	record_info info;
	kmc_secret *s;
	size_t len;
	int r;

	kmc_detail_clear();
	KMC_GUARD(vault_name_guard(name));
	r = store_get(&v->st, name, &rec, &len);
	if (r == KMC_E_NOT_FOUND)
		return kmc_detail(r, "no item %s in %s", name, v->dir);
	KMC_GUARD(r);
	r = record_parse_header(rec, len, &info);
	if (r < 0)
		return kmc_detail(r, "item %s: damaged record", name);
	r = record_check_type(v, name, rec, len, &info, (uint8_t)type);
	if (r == KMC_E_TYPE)
		return kmc_detail(KMC_E_TYPE, "item %s is a %s, not a %s", name,
			kmc_item_type_name((kmc_item_type)info.type),
			kmc_item_type_name(type));
	if (r == 0)
		r = record_open(v, name, rec, len, NULL, &s);
	if (r == KMC_E_AUTH)
		return kmc_detail(r, "item %s fails authentication: its record "
			"was altered, moved from another name or copied from "
			"another vault", name);
	KMC_GUARD(r);
	*ret = s;
	return 0;
}

int kmc_secret_get(kmc_vault *v, const char *name, kmc_secret **ret)
{
	return kmc_item_get(v, name, 0, ret);
}

typedef struct list_ctx {
	kmc_vault *v;
	int (*cb)(const kmc_item_info *info, void *arg);
	void *arg;
} list_ctx;

static int list_one(const char *name, size_t name_len, const uint8_t *rec,
	size_t len, void *arg)
{
	list_ctx *c = arg;
	char buf[KMC_NAME_MAX + 1];
	record_info ri;
	kmc_item_info info;

	if (name_len > KMC_NAME_MAX || memchr(name, '\0', name_len))
		return KMC_E_CORRUPT;
	memcpy(buf, name, name_len);
	buf[name_len] = '\0';
	if (record_parse_header(rec, len, &ri) < 0)
		return kmc_detail(KMC_E_CORRUPT, "item %s: damaged record", buf);
	info.name = buf;
	info.type = (kmc_item_type)ri.type;
	info.version = ri.version;
	info.mk_id = ri.mk_id;
	info.created = ri.created;
	info.size = ri.size;
	info.old_versions = 0;
	KMC_GUARD(store_history_count(&c->v->st, buf, &info.old_versions));
	return c->cb(&info, c->arg);
}

int kmc_item_list(kmc_vault *v,
	int (*cb)(const kmc_item_info *info, void *arg), void *arg)
{
	list_ctx c = { v, cb, arg };

	kmc_detail_clear();
	return store_walk(&v->st, list_one, &c);
}

const char *kmc_item_type_name(kmc_item_type type)
{
	switch (type) {
	case KMC_ITEM_PASSWORD:
		return "password";
	case KMC_ITEM_SECRET:
		return "secret";
	case KMC_ITEM_PRIVATE_KEY:
		return "private-key";
	case KMC_ITEM_CERTIFICATE:
		return "certificate";
	case KMC_ITEM_CRL:
		return "crl";
	case KMC_ITEM_BUNDLE:
		return "bundle";
	}
	return "unknown";
}

/*
 * items.c - items: the only code that reads or writes item records. The
 * public kmc_item_* calls and, for import and restore inside vault/, the
 * transaction steps (items_txn_*), so history and type rules live in one
 * place.
 *
 * Item records, the values of the "items" database:
 *
 *	version     u8  1
 *	type        u8  kmc_item_type
 *	flags       u16 0
 *	item_ver    u32 1.., grows when the item is replaced
 *	mk_id       u32 the master key that sealed it
 *	created     i64 seconds since the epoch
 *	size        u32 plaintext bytes, <= KMC_ITEM_MAX
 *	sealed      size + 40 bytes: nonce || ciphertext || tag
 *
 * The seal's associated data is "kmcvault/item/v1" || vault id ||
 * u8 name length || name || the 24 header bytes, so a record moved under
 * another name, into another vault, or with any header field changed fails
 * with KMC_E_AUTH.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "vault.h"
#include "audit.h"
#include "../kmc/buf.h"

#define ITEM_AD_LABEL "kmcvault/item/v1"

/* ---------------------------------------------------------------- */
/* Records                                                           */

static void header_write(kmc_wbuf *b, const record_info *info)
{
	kmc_wbuf_u8(b, RECORD_VERSION);
	kmc_wbuf_u8(b, info->type);
	kmc_wbuf_u16(b, 0);
	kmc_wbuf_u32(b, info->version);
	kmc_wbuf_u32(b, info->mk_id);
	kmc_wbuf_u64(b, (uint64_t)info->created);
	kmc_wbuf_u32(b, info->size);
}

int record_parse_header(const uint8_t *rec, size_t len, record_info *ret)
{
	kmc_rbuf b = KMC_RBUF(rec, len);
	uint8_t version;
	uint16_t flags;
	uint64_t created;
	record_info info;

	KMC_GUARD(kmc_rbuf_u8(&b, &version));
	KMC_ENSURE(version == RECORD_VERSION, KMC_E_VERSION);
	KMC_GUARD(kmc_rbuf_u8(&b, &info.type));
	KMC_GUARD(kmc_rbuf_u16(&b, &flags));
	KMC_ENSURE(flags == 0, KMC_E_VERSION);
	KMC_GUARD(kmc_rbuf_u32(&b, &info.version));
	KMC_GUARD(kmc_rbuf_u32(&b, &info.mk_id));
	KMC_GUARD(kmc_rbuf_u64(&b, &created));
	info.created = (int64_t)created;
	KMC_GUARD(kmc_rbuf_u32(&b, &info.size));
	KMC_ENSURE(info.size <= KMC_ITEM_MAX, KMC_E_CORRUPT);
	KMC_ENSURE(kmc_rbuf_left(&b) == (size_t)info.size + KMC_SEAL_OVERHEAD,
		KMC_E_CORRUPT);
	*ret = info;
	return 0;
}

/*
 * Why record_parse_header() refused the record of name (which: "" or
 * which old version): a newer record version or flags are named as such
 * (KMC_E_VERSION), anything else is damage that kmc rm clears (with
 * advice, when rm_advice).
 */
static int record_header_error(const uint8_t *rec, size_t len, int r,
	const char *name, const char *which, int rm_advice)
{
	if (r == KMC_E_VERSION && len > 0 && rec[0] > RECORD_VERSION)
		return kmc_detail(r, "item %s%s has record version %u, and this "
			"kmc reads version %u only: a newer kmcvault wrote it",
			name, which, (unsigned)rec[0], RECORD_VERSION);
	if (r == KMC_E_VERSION && len > 0 && rec[0] == RECORD_VERSION)
		return kmc_detail(r, "item %s%s has record flags that this kmc "
			"(record version %u) does not know: a newer kmcvault "
			"wrote it", name, which, RECORD_VERSION);
	return kmc_detail(rm_advice ? KMC_E_CORRUPT : r,
		"item %s%s: damaged record%s", name, which,
		rm_advice ? "; kmc rm it, then run this again" : "");
}

/* The associated data is small and fixed in its parts: built on the
   stack, not in a heap buffer a read (row 1 of make bench) would pay to
   allocate and free. */
#define ITEM_AD_LABEL_LEN (sizeof(ITEM_AD_LABEL) - 1)
#define ITEM_AD_MAX (ITEM_AD_LABEL_LEN + KS_VAULT_ID_LEN + 1 + KMC_NAME_MAX + \
	RECORD_HEADER_LEN)

static size_t item_ad(const kmc_vault *v, const char *name, const uint8_t *hdr,
	uint8_t ad[ITEM_AD_MAX])
{
	size_t n = strlen(name), o = 0;

	KMC_ASSERT(n <= KMC_NAME_MAX);
	memcpy(ad, ITEM_AD_LABEL, ITEM_AD_LABEL_LEN);
	o += ITEM_AD_LABEL_LEN;
	memcpy(ad + o, v->ks->vault_id, KS_VAULT_ID_LEN);
	o += KS_VAULT_ID_LEN;
	ad[o++] = (uint8_t)n;
	memcpy(ad + o, name, n);
	o += n;
	memcpy(ad + o, hdr, RECORD_HEADER_LEN);
	return o + RECORD_HEADER_LEN;
}

static int record_seal(kmc_vault *v, const char *name, const record_info *info,
	const void *pt, uint8_t **ret, size_t *ret_len)
{
	kmc_wbuf b = KMC_WBUF(RECORD_HEADER_LEN + KMC_ITEM_MAX +
		KMC_SEAL_OVERHEAD);
	uint8_t ad[ITEM_AD_MAX];
	const vault_mk *mk = vault_find_mk(v, info->mk_id);
	uint8_t *out;
	int r;

	KMC_ASSERT(mk);
	header_write(&b, info);
	out = kmc_wbuf_reserve(&b, (size_t)info->size + KMC_SEAL_OVERHEAD);
	r = out ? 0 : b.err;
	if (r == 0)
		r = kmc_seal(kmc_secret_data(mk->keys), ad,
			item_ad(v, name, b.p, ad), pt, info->size, out);
	if (r < 0) {
		kmc_wbuf_free(&b);
		return r;
	}
	*ret = b.p;
	*ret_len = b.len;
	return 0;
}

/* Open a record whose header already parsed into info: each record is
   parsed once on the way to its plaintext. */
static int record_open_parsed(kmc_vault *v, const char *name,
	const uint8_t *rec, size_t len, const record_info *info,
	kmc_secret **ret)
{
	uint8_t ad[ITEM_AD_MAX];
	const vault_mk *mk;

	mk = vault_mk_get(v, info->mk_id);
	/* A master key we do not hold: the record is not this vault's. */
	KMC_ENSURE(mk, KMC_E_AUTH);
	return kmc_open_secret(kmc_secret_data(mk->keys), ad,
		item_ad(v, name, rec, ad), rec + RECORD_HEADER_LEN,
		len - RECORD_HEADER_LEN, ret);
}

/* record_open_parsed() into out, a guarded buffer of at least
   info->size bytes the caller wipes: for walks that open many records,
   where a guarded allocation each (mmap, mprotect, mlock) would cost
   more than the decryption. */
static int record_open_into(kmc_vault *v, const char *name,
	const uint8_t *rec, size_t len, const record_info *info,
	uint8_t *out)
{
	uint8_t ad[ITEM_AD_MAX];
	const vault_mk *mk;

	mk = vault_mk_get(v, info->mk_id);
	KMC_ENSURE(mk, KMC_E_AUTH);
	return kmc_open(kmc_secret_data(mk->keys), ad,
		item_ad(v, name, rec, ad), rec + RECORD_HEADER_LEN,
		len - RECORD_HEADER_LEN, out);
}

int record_open(kmc_vault *v, const char *name, const uint8_t *rec,
	size_t len, record_info *ret_info, kmc_secret **ret)
{
	record_info info;

	KMC_GUARD(record_parse_header(rec, len, &info));
	KMC_GUARD(record_open_parsed(v, name, rec, len, &info, ret));
	if (ret_info)
		*ret_info = info;
	return 0;
}

static int record_check_type(kmc_vault *v, const char *name, const uint8_t *rec,
	size_t len, const record_info *info, uint8_t want)
{
	kmc_secret *s = NULL;

	if (want == 0 || info->type == want)
		return 0;
	/* Only the mismatch pays for a decryption. */
	KMC_GUARD(record_open_parsed(v, name, rec, len, info, &s));
	kmc_secret_free(s);
	return KMC_E_TYPE;
}

/* ---------------------------------------------------------------- */
/* Items (those that own others, and their removal: owned.c)         */

int items_write_check(kmc_vault *v, const char *name)
{
	if (!(v->flags & KMC_OPEN_WRITE))
		return kmc_detail(KMC_E_READONLY, "%s: opened read-only", v->dir);
	return vault_name_guard(name);
}

static int item_put_check(kmc_vault *v, const char *name, kmc_item_type type,
	size_t len)
{
	KMC_GUARD(items_write_check(v, name));
	if (type < KMC_ITEM_PASSWORD || type > KMC_ITEM_TOKEN_KEY)
		return kmc_detail(KMC_E_INVALID, "unknown item type %d",
			(int)type);
	if (len == 0)
		return kmc_detail(KMC_E_EMPTY, "item %s: empty value", name);
	if (len > KMC_ITEM_MAX)
		return kmc_detail(KMC_E_TOO_LARGE, "item %s: %zu bytes, more "
			"than %u", name, len, KMC_ITEM_MAX);
	return 0;
}

/*
 * A bundle's NAME item is the password its keys-folder copy of the key
 * is encrypted under (and the one kmc password get NAME gives servers):
 * a new one put alone, by password set, leaves that copy unreadable
 * with the password servers are given. Found as NAME/meta beside it.
 */
static int bundle_password_guard(store_txn *t, const char *name)
{
	char meta[KMC_NAME_MAX + 8];
	uint8_t *rec = NULL;
	size_t len;
	record_info info;
	int r;

	if (strlen(name) > KMC_BUNDLE_NAME_MAX)
		return 0;
	snprintf(meta, sizeof(meta), "%s/meta", name);
	r = store_txn_get(t, meta, &rec, &len);
	/* A password stored as NAME/meta makes no bundle (as for rm). */
	if (r == 0 && record_parse_header(rec, len, &info) == 0 &&
	    info.type != KMC_ITEM_BUNDLE)
		r = KMC_E_NOT_FOUND;
	free(rec);
	if (r == KMC_E_NOT_FOUND)
		return 0;
	KMC_GUARD(r);
	return kmc_detail(KMC_E_EXISTS, "item %s is bundle %s's password, "
		"which its key's keys-folder copy is encrypted under: a new one "
		"alone would leave that copy unreadable with it (kmc import "
		"--replace changes the key and its password together)", name,
		name);
}

int items_txn_put(kmc_vault *v, store_txn *t, const char *name,
	kmc_item_type type, const void *data, size_t len, int flags)
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
		if (r == 0 && (flags & ITEM_PUT_NOT_BUNDLE) &&
		    type == KMC_ITEM_PASSWORD)
			r = bundle_password_guard(t, name);
		if (r == 0)
			info.version = prev.version + 1;
		if (r == 0 && (flags & ITEM_PUT_KEEP))
			r = store_txn_keep(t, name, prev.version);
	} else if (r == KMC_E_NOT_FOUND) {
		r = flags & ITEM_PUT_NOT_BUNDLE ? vault_user_name_guard(name) : 0;
	}
	KMC_GUARD(r);
	info.type = (uint8_t)type;
	info.mk_id = v->ks->active_mk;
	info.created = (int64_t)time(NULL);
	info.size = (uint32_t)len;
	KMC_GUARD(record_seal(v, name, &info, data, &rec, &rec_len));
	return store_txn_put(t, name, rec, rec_len);
}

int items_txn_del(kmc_vault *v, store_txn *t, const char *name)
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

int items_txn_retire(kmc_vault *v, store_txn *t, const char *name)
{
	_cleanup_(freep) uint8_t *old = NULL;
	record_info prev;
	size_t old_len;
	int r;

	(void)v;
	r = store_txn_get(t, name, &old, &old_len);
	if (r == KMC_E_NOT_FOUND)
		return 0;
	KMC_GUARD(r);
	KMC_GUARD(record_parse_header(old, old_len, &prev));
	KMC_GUARD(store_txn_keep(t, name, prev.version));
	return store_txn_del(t, name);
}

int items_exists(kmc_vault *v, const char *name)
{
	uint8_t *rec;
	size_t len;
	int r = store_get(&v->st, name, &rec, &len);

	/* Only absence is "no": a read that failed (out of memory, the
	   digest disagreeing) must not pass for a free name or a missing
	   part, which would skip the checks a present one gets. */
	if (r == KMC_E_NOT_FOUND)
		return 0;
	if (r < 0)
		return r;
	free(rec);
	return 1;
}

int kmc_item_put(kmc_vault *v, const char *name, kmc_item_type type,
	const void *data, size_t len)
{
	AUDIT_OP(v, "kmc_item_put");
	store_txn t;
	int r;

	kmc_detail_clear();
	KMC_GUARD(item_put_check(v, name, type, len));
	KMC_GUARD(store_txn_begin(&v->st, &t));
	r = items_txn_put(v, &t, name, type, data, len, ITEM_PUT_NOT_BUNDLE);
	if (r < 0) {
		store_txn_abort(&t);
		return r;
	}
	return store_txn_commit(&t);
}

static void view_donep(store **st)
{
	if (*st)
		store_view_done(*st);
}

int vault_item_read(kmc_vault *v, const char *name, kmc_item_type type,
	kmc_item_type alt, kmc_secret **ret, record_info *ret_info)
{
	_cleanup_(view_donep) store *view = NULL;
	const uint8_t *rec;
	record_info info;
	kmc_secret *s;
	size_t len;
	int r, bad;

	kmc_detail_clear();
	KMC_GUARD(vault_name_guard(name));
	/* A record the digest disagrees with is opened first: damage fails
	   authentication, as before; one that opens was put back. The
	   record is the handle's copy (no store read until it is opened). */
	r = store_get_view(&v->st, name, &rec, &len, &bad);
	if (r == 0)
		view = &v->st;
	if (r == KMC_E_NOT_FOUND)
		return kmc_detail(r, "no item %s in %s", name, v->dir);
	KMC_GUARD(r);
	r = record_parse_header(rec, len, &info);
	if (r < 0)
		return record_header_error(rec, len, r, name, "", 0);
	r = record_check_type(v, name, rec, len, &info, alt &&
		info.type == (uint8_t)alt ? (uint8_t)alt : (uint8_t)type);
	if (r == KMC_E_TYPE)
		return kmc_detail(KMC_E_TYPE, "item %s is a %s, not a %s", name,
			kmc_item_type_name((kmc_item_type)info.type),
			kmc_item_type_name(type));
	if (r == 0)
		r = record_open_parsed(v, name, rec, len, &info, &s);
	if (r == KMC_E_AUTH)
		return kmc_detail(r, "item %s fails authentication: its record "
			"was altered, moved from another name or copied from "
			"another vault", name);
	KMC_GUARD(r);
	if (bad) {
		_cleanup_(freep) uint8_t *again = NULL;

		kmc_secret_free(s);
		r = store_get(&v->st, name, &again, &len);
		return r < 0 ? r : kmc_detail(KMC_E_ROLLBACK, "item %s: "
			STORE_NAME " disagrees with its digest", name);
	}
	*ret = s;
	*ret_info = info;
	return 0;
}

void vault_item_audit(kmc_vault *v, const char *name, const record_info *info)
{
	/* Secrets are audited; public material (certificates, CRLs, a
	   bundle's meta) is not. A token key's record is no secret, but it
	   is read to use the key (a server's kmc_key_load(), the provider),
	   as a private key's is: audited the same. */
	if (info->type == KMC_ITEM_PASSWORD || info->type == KMC_ITEM_SECRET ||
	    info->type == KMC_ITEM_PRIVATE_KEY ||
	    info->type == KMC_ITEM_TOKEN_KEY)
		audit_read(v, name, info->version);
}

int kmc_item_get(kmc_vault *v, const char *name, kmc_item_type type,
	kmc_secret **ret)
{
	AUDIT_OP(v, "kmc_item_get");
	record_info info;

	KMC_GUARD(vault_item_read(v, name, type, 0, ret, &info));
	vault_item_audit(v, name, &info);
	return 0;
}

int kmc_item_get_secret(kmc_vault *v, const char *name, kmc_secret **ret)
{
	return kmc_item_get(v, name, 0, ret);
}

/* The item name of a key of db: a history key is name || 0 || u32. */
int items_key_name(store_db db, const uint8_t *key, size_t key_len,
	char name[KMC_NAME_MAX + 1], uint32_t *ret_version)
{
	const uint8_t *nul = memchr(key, 0, key_len);
	size_t n = db == STORE_DB_HISTORY && nul ? (size_t)(nul - key) :
		key_len;

	*ret_version = 0;
	if (db == STORE_DB_HISTORY) {
		if (!nul || key_len != n + 5)
			return kmc_detail(KMC_E_CORRUPT, STORE_NAME " is damaged: "
				"a history key of %zu bytes", key_len);
		*ret_version = (uint32_t)key[n + 1] << 24 |
			(uint32_t)key[n + 2] << 16 | (uint32_t)key[n + 3] << 8 |
			key[n + 4];
	} else if (nul) {
		return kmc_detail(KMC_E_CORRUPT, STORE_NAME " is damaged: an "
			"item name holds a NUL byte");
	}
	if (n == 0 || n > KMC_NAME_MAX)
		return kmc_detail(KMC_E_CORRUPT, STORE_NAME " is damaged: an "
			"item name of %zu bytes", n);
	memcpy(name, key, n);
	name[n] = '\0';
	return 0;
}

typedef struct list_ctx {
	kmc_vault *v;
	int (*cb)(const kmc_item_info *info, void *arg);
	void *arg;
} list_ctx;

static int list_one(const uint8_t *key, size_t key_len, const uint8_t *rec,
	size_t len, void *arg)
{
	list_ctx *c = arg;
	char buf[KMC_NAME_MAX + 1];
	record_info ri;
	kmc_item_info info;
	uint32_t ver;
	int r;

	KMC_GUARD(items_key_name(STORE_DB_ITEMS, key, key_len, buf, &ver));
	r = record_parse_header(rec, len, &ri);
	if (r < 0)
		return record_header_error(rec, len, r, buf, "", 1);
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
	return store_walk_db(&v->st, STORE_DB_ITEMS, list_one, &c);
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
	case KMC_ITEM_TRUST:
		return "trust-store";
	case KMC_ITEM_CA:
		return "ca";
	case KMC_ITEM_TOKEN_KEY:
		return "token-key";
	}
	return "unknown";
}

typedef struct verify_ctx {
	kmc_vault *v;
	const char *show;
} verify_ctx;

static int verify_one(const uint8_t *key, size_t key_len, const uint8_t *rec,
	size_t len, void *arg)
{
	verify_ctx *c = arg;
	char buf[KMC_NAME_MAX + 1];
	kmc_secret *s = NULL;
	uint32_t ver;
	int r;

	if (items_key_name(STORE_DB_ITEMS, key, key_len, buf, &ver) < 0)
		return kmc_detail(KMC_E_CORRUPT, "%s: an item name is damaged",
			c->show);
	r = record_open(c->v, buf, rec, len, NULL, &s);
	kmc_secret_free(s);
	if (r == KMC_E_AUTH || r == KMC_E_CORRUPT)
		return kmc_detail(KMC_E_AUTH, "%s: item %s fails authentication",
			c->show, buf);
	return r;
}

int items_verify_all(kmc_vault *v, const char *show)
{
	verify_ctx c = { v, show };

	return store_walk_db(&v->st, STORE_DB_ITEMS, verify_one, &c);
}

/* ---------------------------------------------------------------- */
/* Master-key rotation: which key seals what, and re-sealing          */

typedef struct usage_ctx {
	store_db db;
	const uint32_t *ids;
	size_t n;
	uint64_t *current;
	uint64_t *old;
} usage_ctx;

static int usage_one(const uint8_t *key, size_t key_len, const uint8_t *rec,
	size_t len, void *arg)
{
	usage_ctx *c = arg;
	char name[KMC_NAME_MAX + 1];
	record_info info;
	uint32_t ver;
	int r;

	KMC_GUARD(items_key_name(c->db, key, key_len, name, &ver));
	r = record_parse_header(rec, len, &info);
	if (r < 0)
		return record_header_error(rec, len, r, name,
			c->db == STORE_DB_HISTORY ? " (an old version)" : "", 1);
	for (size_t i = 0; i < c->n; i++)
		if (c->ids[i] == info.mk_id)
			(c->db == STORE_DB_HISTORY ? c->old : c->current)[i]++;
	return 0;
}

int items_mk_usage(kmc_vault *v, const uint32_t *ids, size_t n,
	uint64_t *current, uint64_t *old)
{
	usage_ctx c = { STORE_DB_ITEMS, ids, n, current, old };

	memset(current, 0, n * sizeof(*current));
	memset(old, 0, n * sizeof(*old));
	KMC_GUARD(store_walk_db(&v->st, STORE_DB_ITEMS, usage_one, &c));
	c.db = STORE_DB_HISTORY;
	return store_walk_db(&v->st, STORE_DB_HISTORY, usage_one, &c);
}

typedef struct reseal_ctx {
	kmc_vault *v;
	store_db db;
	kmc_secret *scratch;	/* one record's plaintext, reused */
} reseal_ctx;

/* A record sealed by another than the active master key, sealed again
   by the active one: the same header but for mk_id, the same bytes. */
static int reseal_one(const uint8_t *key, size_t key_len, const uint8_t *rec,
	size_t len, uint8_t **ret_new, size_t *ret_new_len, void *arg)
{
	reseal_ctx *c = arg;
	uint8_t *pt = kmc_secret_data(c->scratch);
	char name[KMC_NAME_MAX + 1], which[48] = "";
	record_info info;
	uint32_t ver;
	int r;

	KMC_GUARD(items_key_name(c->db, key, key_len, name, &ver));
	if (c->db == STORE_DB_HISTORY)
		snprintf(which, sizeof(which), " (old version %u)",
			(unsigned)ver);
	r = record_parse_header(rec, len, &info);
	if (r < 0)
		return record_header_error(rec, len, r, name, which, 1);
	if (info.mk_id == c->v->ks->active_mk)
		return 0;
	r = record_open_into(c->v, name, rec, len, &info, pt);
	if (r == KMC_E_AUTH)
		return kmc_detail(r, "item %s%s fails authentication: its record "
			"was altered or copied from another vault; kmc rm it, "
			"then run this again", name, which);
	KMC_GUARD(r);
	info.mk_id = c->v->ks->active_mk;
	r = record_seal(c->v, name, &info, pt, ret_new, ret_new_len);
	sodium_memzero(pt, info.size);
	return r;
}

int items_rewrap(kmc_vault *v, size_t batch, uint64_t *ret_n)
{
	static const store_db dbs[] = { STORE_DB_ITEMS, STORE_DB_HISTORY };
	_cleanup_(kmc_secret_freep) kmc_secret *scratch = NULL;
	uint8_t from[STORE_KEY_MAX];

	/* Counted as each batch commits: a failure later still says how
	   many were re-sealed. */
	*ret_n = 0;
	KMC_GUARD(kmc_secret_new(KMC_ITEM_MAX, &scratch));
	for (size_t d = 0; d < ELEMENTSOF(dbs); d++) {
		reseal_ctx c = { v, dbs[d], scratch };
		size_t from_len = 0;

		do {
			size_t changed = 0;
			store_txn t;
			int r;

			KMC_GUARD(store_txn_begin(&v->st, &t));
			r = store_txn_rewrite(&t, dbs[d], from, &from_len, batch,
				reseal_one, &c, &changed);
			if (r < 0 || changed == 0) {
				store_txn_abort(&t);
				KMC_GUARD(r);
				continue;
			}
			/* Each batch its own transaction: readers never wait,
			   and a kill loses at most this batch. */
			KMC_GUARD(store_txn_commit(&t));
			*ret_n += changed;
		} while (from_len > 0);
	}
	return 0;
}

/* ---------------------------------------------------------------- */
/* An old version                                                    */

int kmc_item_get_version(kmc_vault *v, const char *name, uint32_t version,
	kmc_item_type type, kmc_secret **ret)
{
	AUDIT_OP(v, "kmc_item_get_version");
	struct {
		uint8_t *rec;
		size_t len;
	} c = { NULL, 0 };
	record_info info;
	kmc_secret *s = NULL;
	char cur_detail[512];
	int cur_err = 0, r;

	kmc_detail_clear();
	KMC_GUARD(kmc_name_check(name));
	/* The current record when it is that version (one read: a write
	   between two would mix versions), else an old one from the
	   history. Either is checked against the digest, and opened below,
	   once. */
	r = store_get(&v->st, name, &c.rec, &c.len);
	if (r == 0 && (r = record_parse_header(c.rec, c.len, &info)) < 0) {
		free(c.rec);
		c.rec = NULL;
		r = kmc_detail(r, "item %s: %s", name, r == KMC_E_VERSION ?
			"a record of a newer format" : "damaged record");
	}
	if (r == 0 && info.version != version) {
		free(c.rec);
		c.rec = NULL;
	}
	if (r < 0 && r != KMC_E_NOT_FOUND && !record_damage(r))
		return r;
	/* A damaged current record says nothing of the old ones: the
	   version asked for is looked for in the history, and the damage is
	   the answer only when it holds no such version. */
	if (r < 0 && r != KMC_E_NOT_FOUND) {
		cur_err = r;
		snprintf(cur_detail, sizeof(cur_detail), "%s",
			kmc_error_detail());
	}
	kmc_detail_clear();
	r = 0;
	if (!c.rec) {
		r = store_history_get(&v->st, name, version, &c.rec, &c.len);
		if (r == KMC_E_NOT_FOUND && cur_err)
			return kmc_detail(cur_err, "%s", cur_detail);
		if (r == KMC_E_NOT_FOUND)
			r = 0;
	}
	if (r < 0) {
		free(c.rec);
		return r;
	}
	if (!c.rec)
		return kmc_detail(KMC_E_NOT_FOUND, "no version %" PRIu32 " of %s "
			"is kept (kmc list shows the current version and how many "
			"old ones)", version, name);
	r = record_parse_header(c.rec, c.len, &info);
	if (r == 0 && type && info.type != type)
		r = kmc_detail(KMC_E_TYPE, "version %" PRIu32 " of %s is a %s",
			version, name, kmc_item_type_name(
			(kmc_item_type)info.type));
	if (r == 0)
		r = record_open(v, name, c.rec, c.len, NULL, &s);
	free(c.rec);
	if (r == KMC_E_AUTH)
		return kmc_detail(r, "version %" PRIu32 " of %s fails "
			"authentication", version, name);
	KMC_GUARD(r);
	if (info.type == KMC_ITEM_PASSWORD || info.type == KMC_ITEM_SECRET ||
	    info.type == KMC_ITEM_PRIVATE_KEY || info.type == KMC_ITEM_TOKEN_KEY)
		audit_read(v, name, version);
	*ret = s;
	return 0;
}

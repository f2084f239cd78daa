/*
 * tokenrefs.c - the token objects a bundle's records name, and their
 * destruction once no record does.
 *
 * A key on a token is named by a token key record (tokenkey.h) in one of
 * the bundle's key parts: NAME/key (live), NAME/.s/key (staged),
 * NAME/.p/key (previous), or an old version of one of them kept in the
 * history. A replace keeps the old record as history, so the old object
 * stays while servers may still use it; a prune, a promote over the
 * previous slot, a new staged version over the old one or a kmc rm drops
 * records. Each such change takes the set of key URIs the bundle named
 * before it (token_refs_collect) and, only after its transaction has
 * committed, destroys the objects of the URIs no record names any more
 * (token_refs_release). A destruction that fails (the token is gone) is
 * no failure of the change, which is made: it is said in the handle's
 * token note (kmc_token_note()) and in the audit log, and the object is
 * kept on the list of keys waiting to be destroyed (tokenpending.h),
 * which the change's own commit wrote: a process killed between the
 * commit and the destruction leaves the list, and kmc repair
 * (token_refs_finish) destroys each listed object no record of the
 * vault names, then takes it off the list.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tokenkey.h"
#include "tokenpending.h"
#include "storetree.h"
#include "audit.h"
#include "../pkcs11/serverkey.h"

/* Old versions of one part looked at; a part with more is not released
   from (its "after" set would be incomplete). */
#define REFS_HISTORY_MAX 256

static const char *const key_parts[] = { "key", ".s/key", ".p/key" };

void token_refs_free(token_refs *r)
{
	if (r->armed && r->armed->token_armed == r)
		r->armed->token_armed = NULL;
	for (size_t i = 0; i < r->n; i++) {
		free(r->e[i].uri);
		free(r->e[i].item);
	}
	free(r->e);
	*r = (token_refs){ 0 };
}

static int refs_has(const token_refs *r, const char *uri)
{
	for (size_t i = 0; i < r->n; i++)
		if (!strcmp(r->e[i].uri, uri))
			return 1;
	return 0;
}

/*
 * Whether two key URIs may name one object. A key URI names the objects
 * whose id and label are the URI's (either may be absent: then any), so
 * two URIs that differ as strings can name the same key (another order,
 * another escaping, object= left out). Only id= and object= of the path
 * are read; a URI that does not read cleanly may name anything, as may
 * one with neither. The token is not compared: a key kept for nothing.
 */
#define ATTR_MAX 256

typedef struct key_attrs {
	uint8_t id[ATTR_MAX], label[ATTR_MAX];
	size_t id_len, label_len;
	int has_id, has_label;
} key_attrs;

/* Percent-decode s[0..n) into out; 0, or -1 when it does not read. */
static int unescape(const char *s, size_t n, uint8_t *out, size_t *ret_len)
{
	size_t len = 0;

	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];

		if (c == '%') {
			int hi = i + 2 < n ? kmc_hexval(s[i + 1]) : -1;
			int lo = i + 2 < n ? kmc_hexval(s[i + 2]) : -1;

			if (hi < 0 || lo < 0)
				return -1;
			c = hi << 4 | lo;
			i += 2;
		}
		if (len == ATTR_MAX)
			return -1;
		out[len++] = (uint8_t)c;
	}
	*ret_len = len;
	return 0;
}

static int attrs_read(const char *uri, key_attrs *a)
{
	const char *p, *end, *q;

	memset(a, 0, sizeof(*a));
	if (strncmp(uri, "pkcs11:", 7) != 0)
		return -1;
	p = uri + 7;
	end = p + strcspn(p, "?");
	for (; p < end; p = q + (q < end)) {
		size_t n;

		q = memchr(p, ';', (size_t)(end - p));
		if (!q)
			q = end;
		n = (size_t)(q - p);
		if (n >= 3 && !memcmp(p, "id=", 3)) {
			if (a->has_id || unescape(p + 3, n - 3, a->id,
					&a->id_len) < 0)
				return -1;
			a->has_id = 1;
		} else if (n >= 7 && !memcmp(p, "object=", 7)) {
			if (a->has_label || unescape(p + 7, n - 7, a->label,
					&a->label_len) < 0)
				return -1;
			a->has_label = 1;
		}
	}
	return 0;
}

static int same_or_any(int ha, const uint8_t *a, size_t na, int hb,
	const uint8_t *b, size_t nb)
{
	return !ha || !hb || (na == nb && !memcmp(a, b, na));
}

static int may_name_same(const char *x, const char *y)
{
	key_attrs a, b;

	if (!strcmp(x, y))
		return 1;
	if (attrs_read(x, &a) < 0 || attrs_read(y, &b) < 0 ||
	    (!a.has_id && !a.has_label) || (!b.has_id && !b.has_label))
		return 1;
	return same_or_any(a.has_id, a.id, a.id_len, b.has_id, b.id,
		b.id_len) && same_or_any(a.has_label, a.label, a.label_len,
		b.has_label, b.label, b.label_len);
}

/* Whether a URI of r may name the object uri names. */
static int refs_may_name(const token_refs *r, const char *uri)
{
	for (size_t i = 0; i < r->n; i++)
		if (may_name_same(r->e[i].uri, uri))
			return 1;
	return 0;
}

/*
 * A record that cannot be read (damaged, altered) does not stop the
 * change: kmc rm is the way out of a damaged bundle. It may name a key,
 * though, so the set is marked incomplete: as the "after" set of a
 * change it then destroys nothing. Any other failure (memory, I/O, the
 * audit log: -ENOMEM from a stdio call as much as KMC_E_NOMEM) says
 * nothing about the record and stops the change, or a key the record
 * names would be left on the token unlisted.
 */
static int unreadable(token_refs *r, int rc)
{
	if (!record_damage(rc))
		return rc;
	kmc_detail_clear();
	r->incomplete = 1;
	return 0;
}

static int refs_add(token_refs *r, const char *item, uint32_t version,
	const kmc_secret *s)
{
	token_key_rec rec;
	token_ref *e;
	int rc = token_key_parse(item, s, &rec);

	/* A record that does not parse (damaged, or a newer kmcvault's)
	   may still name a key: the set is incomplete, as for a record
	   that does not read, or its key would pass for named by none and
	   be destroyed under the version that still uses it. */
	if (rc < 0)
		return unreadable(r, rc);
	if (refs_has(r, rec.uri))
		return 0;
	e = realloc(r->e, (r->n + 1) * sizeof(*e));
	KMC_ENSURE(e, KMC_E_NOMEM);
	r->e = e;
	e = &r->e[r->n];
	e->uri = strdup(rec.uri);
	e->item = strdup(item);
	e->version = version;
	e->done = 0;
	if (!e->uri || !e->item) {
		free(e->uri);
		free(e->item);
		return KMC_E_NOMEM;
	}
	r->n++;
	return 0;
}

/* The version of item's current record, for the audit log (0: unknown). */
static uint32_t current_version(kmc_vault *v, const char *item)
{
	_cleanup_(freep) uint8_t *rec = NULL;
	record_info info;
	size_t len = 0;

	if (store_get(&v->st, item, &rec, &len) < 0 ||
	    record_parse_header(rec, len, &info) < 0) {
		kmc_detail_clear();
		return 0;
	}
	return info.version;
}

/* The records of item (current and old) that are token key records. */
static int refs_of_item(kmc_vault *v, const char *item, token_refs *r)
{
	uint32_t vers[REFS_HISTORY_MAX];
	size_t n = 0;
	int rc;

	{
		_cleanup_(kmc_secret_freep) kmc_secret *s = NULL;

		rc = kmc_item_get(v, item, KMC_ITEM_TOKEN_KEY, &s);
		if (rc == 0)
			KMC_GUARD(refs_add(r, item, current_version(v, item), s));
		else if (rc != KMC_E_NOT_FOUND && rc != KMC_E_TYPE)
			KMC_GUARD(unreadable(r, rc));
		/* Absent or another type: its detail must not stand for a
		   failure below that leaves none. */
		kmc_detail_clear();
	}
	rc = store_history_versions(&v->st, item, vers, REFS_HISTORY_MAX, &n);
	if (rc < 0)
		return unreadable(r, rc);
	if (n > REFS_HISTORY_MAX)
		r->incomplete = 1;
	for (size_t i = 0; i < n && i < REFS_HISTORY_MAX; i++) {
		_cleanup_(kmc_secret_freep) kmc_secret *s = NULL;

		rc = kmc_item_get_version(v, item, vers[i], KMC_ITEM_TOKEN_KEY,
			&s);
		if (rc == 0)
			KMC_GUARD(refs_add(r, item, vers[i], s));
		else if (rc != KMC_E_NOT_FOUND && rc != KMC_E_TYPE)
			KMC_GUARD(unreadable(r, rc));
		kmc_detail_clear();
	}
	kmc_detail_clear();
	return 0;
}

/* Room for one line of the note: the URI, the reason (a detail is at
   most DETAIL_MAX) and the words around them. */
#define NOTE_DETAIL_MAX 1024
#define NOTE_WORDS 160

/*
 * The note's room is taken before the change commits (token_refs_collect
 * of the keys it may drop), so that saying what was left on a token
 * cannot fail for want of memory after the commit. A line that would not
 * fit is cut, never lost whole.
 */
static int note_grow(kmc_vault *v, size_t need)
{
	char *p;

	if (need <= v->token_note_cap)
		return 0;
	p = realloc(v->token_note, need);
	KMC_ENSURE(p, KMC_E_NOMEM);
	if (!v->token_note_cap)
		p[0] = '\0';
	v->token_note = p;
	v->token_note_cap = need;
	return 0;
}

/* A line for each URI, and those of an unreadable version and of the
   list. */
#define NOTE_BASE (1 + KMC_NAME_MAX + 2 * (NOTE_DETAIL_MAX + NOTE_WORDS))
#define NOTE_LINE(uri) (strlen(uri) + NOTE_DETAIL_MAX + NOTE_WORDS)

static int note_reserve(kmc_vault *v, const token_refs *r)
{
	size_t need = NOTE_BASE;

	for (size_t i = 0; i < r->n; i++)
		need += NOTE_LINE(r->e[i].uri);
	return note_grow(v, need);
}

static void note_add(kmc_vault *v, const char *fmt, const char *a,
	const char *b)
{
	size_t n;

	if (!v->token_note_cap)
		return;
	n = strlen(v->token_note);
	if (n + 1 < v->token_note_cap)
		snprintf(v->token_note + n, v->token_note_cap - n, fmt, a, b);
	/* Cut short: the line still ends. */
	n = strlen(v->token_note);
	if (n > 0 && v->token_note[n - 1] != '\n')
		v->token_note[n - 1] = '\n';
}

static int refs_gather(kmc_vault *v, const char *name, token_refs *ret)
{
	char item[KMC_NAME_MAX + 1];
	int r = 0;

	*ret = (token_refs){ 0 };
	if (strlen(name) > KMC_BUNDLE_NAME_MAX)
		return 0;	/* no bundle: it owns no key parts */
	for (size_t i = 0; r == 0 && i < ELEMENTSOF(key_parts); i++) {
		snprintf(item, sizeof(item), "%s/%s", name, key_parts[i]);
		r = refs_of_item(v, item, ret);
	}
	if (r == 0)
		r = note_reserve(v, ret);
	if (r < 0)
		token_refs_free(ret);
	return r;
}

int token_refs_collect(kmc_vault *v, const char *name, token_refs *ret)
{
	KMC_GUARD(refs_gather(v, name, ret));
	if (ret->n) {
		ret->armed = v;
		v->token_armed = ret;
	}
	return 0;
}

static void audit_destroy(kmc_vault *v, const token_ref *e,
	const char *result)
{
	audit_item it = { .name = e->item, .version = e->version };
	audit_rec rec = { .op = "token key destroyed", .items = &it,
		.n_items = 1, .result = result, .through = -1, .torn = -1 };

	audit_change_after(v, &rec);
}

/* Destroy the key of e: 0 when it is gone (destroyed, or no longer on
   the token), else the token's error; said in the note and the audit
   log either way (listed: it stays on the list, for kmc repair). */
static int destroy_one(kmc_vault *v, const token_ref *e, int listed)
{
	char detail[NOTE_DETAIL_MAX];
	int r;

	kmc_detail_clear();
	/* The URI's pin-source, else the PIN kmc_token_pin_set() gave: a
	   key made with --pin-file records no pin-source, and without it
	   neither the change nor kmc repair could log in to destroy it. */
	r = p11_key_destroy(e->uri, &(p11_pin){ .pin = v->token_pin,
		.uri_first = 1 });
	if (r >= 0) {
		audit_destroy(v, e, r ? "ok" : "not on the token");
		note_add(v, r ? "removed from the token: %s%s\n" :
			"not on the token any more: %s%s\n", e->uri, "");
		return 0;
	}
	/* A URI without pin-source (a key made with --pin-file): say how
	   to give the PIN, or the operator is left retrying without. */
	snprintf(detail, sizeof(detail), "%s%s", kmc_error_detail()[0] ?
		kmc_error_detail() : "the token refused",
		r == KMC_E_NEED_PASSPHRASE ? "; its URI has no pin-source: "
		"give the PIN with --pin-file or --pin-fd "
		"(kmc_token_pin_set())" : "");
	audit_destroy(v, e, detail);
	note_add(v, listed ? "could not remove from the token: %s (%s); kmc "
		"repair tries again, or remove it with the token's tools\n" :
		"could not remove from the token: %s (%s); remove it with the "
		"token's tools\n", e->uri, detail);
	return r;
}

/* Take the released URIs off the list; a failure leaves them for kmc
   repair, which finds them destroyed or named, and is said. */
static void list_drop(kmc_vault *v, const token_refs *before)
{
	const char *done[64];
	size_t n = 0;
	int r = 0;

	if (!before->listed)
		return;
	/* In rounds of a fixed size: nothing to allocate after the
	   commit but the list itself. */
	for (size_t i = 0; r == 0 && i < before->n; i++) {
		if (before->e[i].done)
			done[n++] = before->e[i].uri;
		if (n == ELEMENTSOF(done) || (i + 1 == before->n && n)) {
			r = token_pending_drop(v, done, n);
			n = 0;
		}
	}
	if (r < 0)
		note_add(v, "the list of keys waiting to be destroyed could not "
			"be updated (%s); kmc repair does it%s\n",
			kmc_error_detail()[0] ? kmc_error_detail() :
			kmc_strerror(r), "");
}

void token_refs_release(kmc_vault *v, const char *name, token_refs *before)
{
	token_refs after = { 0 };
	char detail[NOTE_DETAIL_MAX];
	char saved[1024];
	int r;

	if (v->token_armed == before)
		v->token_armed = NULL;
	if (before->n == 0 && !before->incomplete)
		return;
	/* A record that could not be read before the change may have named
	   a key the change dropped: nobody can tell which, so it is said. */
	if (before->incomplete)
		note_add(v, "a version of %s that could not be read may have "
			"named a key on a token, which is then left there%s\n",
			name, "");
	/* The change's own detail (a warning it left) stays as it was. */
	snprintf(saved, sizeof(saved), "%s", kmc_error_detail());
	r = refs_gather(v, name, &after);
	if (r < 0)
		snprintf(detail, sizeof(detail), "%s", kmc_error_detail()[0] ?
			kmc_error_detail() : kmc_strerror(r));
	for (size_t i = 0; i < before->n; i++) {
		token_ref *e = &before->e[i];

		if (r == 0 && refs_may_name(&after, e->uri)) {
			e->done = 1;
			continue;
		}
		if (r < 0 || after.incomplete) {
			/* Not known to be named no more: left, and said. */
			note_add(v, "may be left on the token: %s (whether a "
				"version still names it could not be told: %s)\n",
				e->uri, r < 0 ? detail : "a version cannot be read, "
				"or there are too many");
			continue;
		}
		if (destroy_one(v, e, before->listed) == 0)
			e->done = 1;
	}
	token_refs_free(&after);
	kmc_detail_clear();
	list_drop(v, before);
	kmc_detail_clear();
	if (saved[0])
		(void)kmc_detail(0, "%s", saved);
}

/* ---------------------------------------------------------------- */
/* kmc repair: the keys a killed change left on the list             */

/* The names where token key records live ("NAME/key", ".s/key",
   ".p/key"), once each, and how many records the walk saw. */
typedef struct key_names {
	char (*n)[KMC_NAME_MAX + 1];
	size_t len, cap;
	store_db db;
	uint64_t records;
} key_names;

static int key_name_one(const uint8_t *key, size_t key_len,
	const uint8_t *rec, size_t len, void *arg)
{
	key_names *k = arg;
	char name[KMC_NAME_MAX + 1];
	uint32_t ver;
	size_t n;

	(void)rec;
	(void)len;
	k->records++;
	KMC_GUARD(items_key_name(k->db, key, key_len, name, &ver));
	n = strlen(name);
	if (n < 4 || strcmp(name + n - 4, "/key") != 0)
		return 0;
	for (size_t i = k->len; i-- > 0;)
		if (!strcmp(k->n[i], name))
			return 0;
	if (k->len == k->cap) {
		size_t cap = k->cap ? 2 * k->cap : 16;
		void *p = realloc(k->n, cap * sizeof(*k->n));

		KMC_ENSURE(p, KMC_E_NOMEM);
		k->n = p;
		k->cap = cap;
	}
	memcpy(k->n[k->len++], name, n + 1);
	return 0;
}

/* Every key URI a token key record of the vault names, current or old,
   each record read checked against the digest: incomplete when one
   cannot be read, or the walk saw another number of records than the
   digest holds (one taken away behind kmc's back). */
static int refs_of_vault(kmc_vault *v, token_refs *ret)
{
	key_names k = { 0 };
	uint8_t root[32];
	uint64_t leaves = 0;
	MDB_txn *txn;
	int r, have;

	*ret = (token_refs){ 0 };
	r = store_walk_db(&v->st, STORE_DB_ITEMS, key_name_one, &k);
	k.db = STORE_DB_HISTORY;
	if (r == 0)
		r = store_walk_db(&v->st, STORE_DB_HISTORY, key_name_one, &k);
	for (size_t i = 0; r == 0 && i < k.len; i++)
		r = refs_of_item(v, k.n[i], ret);
	free(k.n);
	if (r < 0) {
		token_refs_free(ret);
		return r;
	}
	r = db_err(mdb_txn_begin(v->st.env, NULL, MDB_RDONLY, &txn));
	if (r == 0) {
		have = tree_meta_read(txn, v->st.meta, root, &leaves);
		mdb_txn_abort(txn);
		if (have != 1 || leaves != k.records)
			ret->incomplete = 1;
	}
	kmc_detail_clear();
	if (r < 0)
		ret->incomplete = 1;
	return 0;
}

/* An entry of the list as a ref, for the audit log and the note. */
static void finish_one(kmc_vault *v, const token_pending_entry *e,
	const token_refs *named, int *ret_done)
{
	token_ref ref = { .uri = e->uri, .item = (char *)e->item,
		.version = e->version };

	*ret_done = 0;
	if (refs_may_name(named, e->uri)) {
		/* A record names it: it stays, and leaves the list. */
		*ret_done = 1;
		return;
	}
	if (named->incomplete) {
		note_add(v, "may be left on the token: %s (whether a version "
			"still names it could not be told: %s)\n", e->uri,
			"a version cannot be read, or the item store holds "
			"another number of records than its digest");
		return;
	}
	if (destroy_one(v, &ref, 1) == 0)
		*ret_done = 1;
}

int kmc_token_destroys_finish(kmc_vault *v, size_t *ret_left)
{
	AUDIT_OP(v, "kmc_token_destroys_finish");
	_cleanup_(token_refs_free) token_refs named = { 0 };
	token_pending l = { 0 };
	const char **done = NULL;
	size_t n_done = 0;
	int r;

	kmc_detail_clear();
	token_note_clear(v);
	if (!(v->flags & KMC_OPEN_WRITE))
		return kmc_detail(KMC_E_READONLY, "%s: opened read-only", v->dir);
	r = token_pending_read(&v->st, &l);
	if (r == KMC_E_CORRUPT) {
		/* Nothing in it can be trusted to name a key: dropped, and
		   said, so that it stops no change. */
		char why[512];

		snprintf(why, sizeof(why), "%s", kmc_error_detail());
		KMC_GUARD(token_pending_clear(v));
		KMC_GUARD(note_grow(v, NOTE_BASE));
		note_add(v, "%s; dropped: keys it named may be left on a "
			"token%s\n", why, "");
		if (ret_left)
			*ret_left = 0;
		return 0;
	}
	KMC_GUARD(r);
	if (l.n == 0) {
		if (ret_left)
			*ret_left = 0;
		return 0;
	}
	r = refs_of_vault(v, &named);
	if (r == 0) {
		size_t need = NOTE_BASE;

		for (size_t i = 0; i < l.n; i++)
			need += NOTE_LINE(l.e[i].uri);
		r = note_grow(v, need);
	}
	if (r == 0 && !(done = calloc(l.n, sizeof(*done))))
		r = KMC_E_NOMEM;
	for (size_t i = 0; r == 0 && i < l.n; i++) {
		int ok;

		finish_one(v, &l.e[i], &named, &ok);
		if (ok)
			done[n_done++] = l.e[i].uri;
	}
	kmc_detail_clear();
	if (r == 0)
		r = token_pending_drop(v, done, n_done);
	if (r == 0 && ret_left)
		*ret_left = l.n - n_done;
	free(done);
	token_pending_free(&l);
	return r;
}

void token_note_clear(kmc_vault *v)
{
	free(v->token_note);
	v->token_note = NULL;
	v->token_note_cap = 0;
}

int kmc_token_pin_set(kmc_vault *v, const kmc_secret *pin)
{
	kmc_secret *copy = NULL;

	if (pin)
		KMC_GUARD(kmc_secret_dup(kmc_secret_data(pin),
			kmc_secret_len(pin), &copy));
	kmc_secret_free(v->token_pin);
	v->token_pin = copy;
	return 0;
}

const char *kmc_token_note(const kmc_vault *v)
{
	return v->token_note ? v->token_note : "";
}

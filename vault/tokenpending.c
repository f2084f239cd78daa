/*
 * tokenpending.c - the list of token keys a committed change is about
 * to destroy, meta "token_destroys" (format and rules in tokenpending.h;
 * what is destroyed, and when, is tokenrefs.c's).
 */
#include <stdlib.h>
#include <string.h>
#include "tokenpending.h"
#include "tokenkey.h"
#include "../kmc/buf.h"

#define URI_MIN 8	/* "pkcs11:" and one byte */
/* The encoded list's bound: every entry at its largest. */
#define PENDING_BYTES_MAX (3 + TOKEN_PENDING_MAX * \
	(2 + P11_URI_MAX + 1 + KMC_NAME_MAX + 4))

void token_pending_free(token_pending *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->e[i].uri);
	free(l->e);
	*l = (token_pending){ 0 };
}

static int uri_ok(const uint8_t *s, size_t n)
{
	if (n < URI_MIN || n > P11_URI_MAX || memcmp(s, "pkcs11:", 7) != 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] >= 0x7f)
			return 0;
	return 1;
}

static int listed(const token_pending *l, const char *uri)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->e[i].uri, uri))
			return 1;
	return 0;
}

int token_pending_add(token_pending *l, const char *uri, const char *item,
	uint32_t version)
{
	token_pending_entry *e;

	if (listed(l, uri) || l->n >= TOKEN_PENDING_MAX ||
	    !uri_ok((const uint8_t *)uri, strlen(uri)) ||
	    kmc_name_check(item) < 0)
		return 0;
	e = realloc(l->e, (l->n + 1) * sizeof(*e));
	KMC_ENSURE(e, KMC_E_NOMEM);
	l->e = e;
	e = &l->e[l->n];
	e->uri = strdup(uri);
	KMC_ENSURE(e->uri, KMC_E_NOMEM);
	snprintf(e->item, sizeof(e->item), "%s", item);
	e->version = version;
	l->n++;
	return 0;
}

int token_pending_parse(const uint8_t *p, size_t len, token_pending *ret)
{
	kmc_rbuf b = KMC_RBUF(p, len);
	token_pending l = { 0 };
	uint8_t version;
	uint16_t n;
	int r = 0;

	*ret = (token_pending){ 0 };
	/* The version before the length it governs: a newer list may be
	   longer, and is refused as newer, never taken for damage (which
	   kmc repair drops, keys still to destroy with it). */
	KMC_ENSURE(kmc_rbuf_u8(&b, &version) == 0, KMC_E_CORRUPT);
	KMC_ENSURE(version == TOKEN_PENDING_VERSION, version >
		TOKEN_PENDING_VERSION ? KMC_E_VERSION : KMC_E_CORRUPT);
	KMC_ENSURE(len <= PENDING_BYTES_MAX, KMC_E_CORRUPT);
	KMC_GUARD(kmc_rbuf_u16(&b, &n));
	KMC_ENSURE(n >= 1 && n <= TOKEN_PENDING_MAX, KMC_E_CORRUPT);
	l.e = calloc(n, sizeof(*l.e));
	KMC_ENSURE(l.e, KMC_E_NOMEM);
	for (size_t i = 0; r == 0 && i < n; i++) {
		token_pending_entry *e = &l.e[i];
		const uint8_t *s;
		uint16_t ulen;
		uint8_t ilen;

		r = kmc_rbuf_u16(&b, &ulen);
		if (r == 0)
			r = kmc_rbuf_bytes(&b, ulen, &s);
		if (r == 0 && !uri_ok(s, ulen))
			r = KMC_E_CORRUPT;
		if (r == 0 && !(e->uri = strndup((const char *)s, ulen)))
			r = KMC_E_NOMEM;
		if (r == 0)
			l.n++;
		if (r == 0 && listed(&(token_pending){ i, l.e }, e->uri))
			r = KMC_E_CORRUPT;
		if (r == 0)
			r = kmc_rbuf_u8(&b, &ilen);
		if (r == 0 && (ilen < 1 || ilen > KMC_NAME_MAX))
			r = KMC_E_CORRUPT;
		if (r == 0)
			r = kmc_rbuf_bytes(&b, ilen, &s);
		/* A NUL inside would cut the name short. */
		if (r == 0 && memchr(s, '\0', ilen))
			r = KMC_E_CORRUPT;
		if (r == 0) {
			memcpy(e->item, s, ilen);
			e->item[ilen] = '\0';
			if (kmc_name_check(e->item) < 0)
				r = KMC_E_CORRUPT;
		}
		if (r == 0)
			r = kmc_rbuf_u32(&b, &e->version);
	}
	if (r == 0 && kmc_rbuf_left(&b) != 0)
		r = KMC_E_CORRUPT;
	if (r < 0) {
		token_pending_free(&l);
		/* A short read is a damaged list, as any other fault. */
		return r == KMC_E_NOMEM ? r : KMC_E_CORRUPT;
	}
	*ret = l;
	return 0;
}

int token_pending_encode(const token_pending *l, uint8_t **ret,
	size_t *ret_len)
{
	kmc_wbuf b = KMC_WBUF(PENDING_BYTES_MAX);

	KMC_ENSURE(l->n >= 1 && l->n <= TOKEN_PENDING_MAX, KMC_E_INVALID);
	kmc_wbuf_u8(&b, TOKEN_PENDING_VERSION);
	kmc_wbuf_u16(&b, (uint16_t)l->n);
	for (size_t i = 0; i < l->n; i++) {
		const token_pending_entry *e = &l->e[i];
		size_t ulen = strlen(e->uri), ilen = strlen(e->item);

		if (!uri_ok((const uint8_t *)e->uri, ulen) || ilen < 1 ||
		    ilen > KMC_NAME_MAX) {
			kmc_wbuf_free(&b);
			return KMC_E_INVALID;
		}
		kmc_wbuf_u16(&b, (uint16_t)ulen);
		kmc_wbuf_bytes(&b, e->uri, ulen);
		kmc_wbuf_u8(&b, (uint8_t)ilen);
		kmc_wbuf_bytes(&b, e->item, ilen);
		kmc_wbuf_u32(&b, e->version);
	}
	if (b.err) {
		int r = b.err;

		kmc_wbuf_free(&b);
		return r;
	}
	*ret = b.p;
	*ret_len = b.len;
	return 0;
}

static int damaged(int r)
{
	if (r == KMC_E_CORRUPT)
		return kmc_detail(r, STORE_NAME ": the list of keys on a token "
			"waiting to be destroyed (meta " TOKEN_PENDING_KEY ") is "
			"damaged; kmc repair drops it");
	if (r == KMC_E_VERSION)
		return kmc_detail(r, STORE_NAME ": the list of keys on a token "
			"waiting to be destroyed is of version %u or later; this "
			"kmc reads %u", TOKEN_PENDING_VERSION + 1,
			TOKEN_PENDING_VERSION);
	return r;
}

int token_pending_read(store *st, token_pending *ret)
{
	_cleanup_(freep) uint8_t *p = NULL;
	size_t len = 0;
	int r;

	*ret = (token_pending){ 0 };
	r = store_meta_get(st, TOKEN_PENDING_KEY, &p, &len);
	if (r == KMC_E_NOT_FOUND) {
		kmc_detail_clear();
		return 0;
	}
	KMC_GUARD(r);
	return damaged(token_pending_parse(p, len, ret));
}

/* The list in t, changed by fn, written back (or removed when empty). */
static int txn_update(store_txn *t, int (*fn)(token_pending *l,
	const void *arg), const void *arg)
{
	_cleanup_(freep) uint8_t *p = NULL;
	_cleanup_(freep) uint8_t *out = NULL;
	token_pending l = { 0 };
	size_t len = 0;
	int r;

	r = store_txn_meta_get(t, TOKEN_PENDING_KEY, &p, &len);
	if (r == 0)
		r = damaged(token_pending_parse(p, len, &l));
	else if (r == KMC_E_NOT_FOUND) {
		kmc_detail_clear();
		r = 0;
	}
	if (r == 0)
		r = fn(&l, arg);
	if (r == 0 && l.n)
		r = token_pending_encode(&l, &out, &len);
	if (r == 0)
		r = l.n ? store_txn_meta_put(t, TOKEN_PENDING_KEY, out, len) :
			store_txn_meta_del(t, TOKEN_PENDING_KEY);
	token_pending_free(&l);
	return r;
}

typedef struct drop_arg {
	const char *const *uris;
	size_t n;
} drop_arg;

static int drop_uris(token_pending *l, const void *arg)
{
	const drop_arg *d = arg;
	size_t keep = 0;

	for (size_t i = 0; i < l->n; i++) {
		int gone = 0;

		for (size_t j = 0; !gone && j < d->n; j++)
			gone = !strcmp(l->e[i].uri, d->uris[j]);
		if (gone)
			free(l->e[i].uri);
		else
			l->e[keep++] = l->e[i];
	}
	l->n = keep;
	return 0;
}

static int list_full(void)
{
	return kmc_detail(KMC_E_LIMIT, STORE_NAME ": the list of keys on a "
		"token waiting to be destroyed is full (%u); kmc repair empties "
		"it of the keys destroyed or still named", TOKEN_PENDING_MAX);
}

/* The change's commit: the armed URIs join the list, the key it made
   (named by its records from now on) leaves it. */
static int change_update(token_pending *l, const void *arg)
{
	const kmc_vault *v = arg;
	const token_refs *refs = v->token_armed;
	const char *made = v->token_intent;
	drop_arg d = { &made, 1 };

	for (size_t i = 0; refs && i < refs->n; i++) {
		size_t n = l->n;

		KMC_GUARD(token_pending_add(l, refs->e[i].uri, refs->e[i].item,
			refs->e[i].version));
		/* Full: a key the change drops would not be listed, and a
		   kmc killed after the commit would leave it to nobody. */
		if (l->n == n && n >= TOKEN_PENDING_MAX &&
		    !listed(l, refs->e[i].uri))
			return list_full();
	}
	return made ? drop_uris(l, &d) : 0;
}

int token_pending_on_commit(kmc_vault *v, store_phase phase,
	const store_change *c)
{
	/* Only a commit that changes records is the change's (a journal's
	   first step and the intent's own commit write meta alone). */
	if ((!v->token_armed && !v->token_intent) || !c->n_touched)
		return 0;
	if (phase == STORE_PREPARE)
		return txn_update(c->t, change_update, v);
	if (phase == STORE_COMMITTED) {
		if (v->token_armed)
			v->token_armed->listed = 1;
		v->token_armed = NULL;
		free(v->token_intent);
		v->token_intent = NULL;
	}
	return 0;
}

typedef struct intent_arg {
	const char *uri, *item;
} intent_arg;

static int add_intent(token_pending *l, const void *arg)
{
	const intent_arg *a = arg;
	size_t n = l->n;

	KMC_GUARD(token_pending_add(l, a->uri, a->item, 0));
	/* Full, or a URI that cannot be listed: the key is not made. */
	if (l->n == n)
		return list_full();
	return 0;
}

int token_pending_intent(kmc_vault *v, const char *uri, const char *item)
{
	intent_arg a = { uri, item };
	char *keep;
	store_txn t;
	int r;

	/* Taken before the commit: nothing to fail after it. */
	keep = strdup(uri);
	KMC_ENSURE(keep, KMC_E_NOMEM);
	r = store_txn_begin(&v->st, &t);
	if (r == 0) {
		r = txn_update(&t, add_intent, &a);
		if (r < 0)
			store_txn_abort(&t);
		else
			r = store_txn_commit(&t);
	}
	if (r < 0) {
		free(keep);
		return r;
	}
	free(v->token_intent);
	v->token_intent = keep;
	return 0;
}

void token_pending_intent_end(kmc_vault *v, int gone)
{
	const char *uri = v->token_intent;

	if (!uri)
		return;
	/* A failure leaves it listed: kmc repair finds the key gone. */
	if (gone && token_pending_drop(v, &uri, 1) < 0)
		kmc_detail_clear();
	free(v->token_intent);
	v->token_intent = NULL;
}

int token_pending_drop(kmc_vault *v, const char *const *uris, size_t n)
{
	drop_arg d = { uris, n };
	store_txn t;
	int r;

	if (n == 0)
		return 0;
	KMC_GUARD(store_txn_begin(&v->st, &t));
	r = txn_update(&t, drop_uris, &d);
	if (r < 0) {
		store_txn_abort(&t);
		return r;
	}
	return store_txn_commit(&t);
}

int token_pending_clear(kmc_vault *v)
{
	store_txn t;
	int r;

	KMC_GUARD(store_txn_begin(&v->st, &t));
	r = store_txn_meta_del(&t, TOKEN_PENDING_KEY);
	if (r < 0) {
		store_txn_abort(&t);
		return r;
	}
	return store_txn_commit(&t);
}

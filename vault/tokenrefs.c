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
 * left for the token's tools. A process killed between the commit and
 * the destruction leaves the object too, named by no record.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tokenkey.h"
#include "audit.h"
#include "../pkcs11/serverkey.h"

/* Old versions of one part looked at; a part with more is not released
   from (its "after" set would be incomplete). */
#define REFS_HISTORY_MAX 256

static const char *const key_parts[] = { "key", ".s/key", ".p/key" };

void token_refs_free(token_refs *r)
{
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

static int refs_add(token_refs *r, const char *item, uint32_t version,
	const kmc_secret *s)
{
	token_key_rec rec;
	token_ref *e;

	/* A record that does not parse names nothing we could destroy. */
	if (token_key_parse(item, s, &rec) < 0) {
		kmc_detail_clear();
		return 0;
	}
	if (refs_has(r, rec.uri))
		return 0;
	e = realloc(r->e, (r->n + 1) * sizeof(*e));
	KMC_ENSURE(e, KMC_E_NOMEM);
	r->e = e;
	e = &r->e[r->n];
	e->uri = strdup(rec.uri);
	e->item = strdup(item);
	e->version = version;
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

/*
 * A record that cannot be read (damaged, altered) does not stop the
 * change: kmc rm is the way out of a damaged bundle. It may name a key,
 * though, so the set is marked incomplete: as the "after" set of a
 * change it then destroys nothing.
 */
static int unreadable(token_refs *r, int rc)
{
	if (rc == KMC_E_NOMEM)
		return rc;
	kmc_detail_clear();
	r->incomplete = 1;
	return 0;
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
static int note_reserve(kmc_vault *v, const token_refs *r)
{
	size_t need = 1 + KMC_NAME_MAX + NOTE_DETAIL_MAX + NOTE_WORDS;
	char *p;

	for (size_t i = 0; i < r->n; i++)
		need += strlen(r->e[i].uri) + NOTE_DETAIL_MAX + NOTE_WORDS;
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

int token_refs_collect(kmc_vault *v, const char *name, token_refs *ret)
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

static void audit_destroy(kmc_vault *v, const token_ref *e,
	const char *result)
{
	audit_item it = { .name = e->item, .version = e->version };
	audit_rec rec = { .op = "token key destroyed", .items = &it,
		.n_items = 1, .result = result, .through = -1, .torn = -1 };

	audit_change_after(v, &rec);
}

void token_refs_release(kmc_vault *v, const char *name,
	const token_refs *before)
{
	token_refs after = { 0 };
	char detail[NOTE_DETAIL_MAX];
	char saved[1024];
	int r;

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
	r = token_refs_collect(v, name, &after);
	if (r < 0)
		snprintf(detail, sizeof(detail), "%s", kmc_error_detail()[0] ?
			kmc_error_detail() : kmc_strerror(r));
	for (size_t i = 0; i < before->n; i++) {
		const token_ref *e = &before->e[i];

		if (r == 0 && refs_has(&after, e->uri))
			continue;
		if (r < 0 || after.incomplete) {
			/* Not known to be named no more: left, and said. */
			note_add(v, "may be left on the token: %s (whether a "
				"version still names it could not be told: %s)\n",
				e->uri, r < 0 ? detail : "a version cannot be read, "
				"or there are too many");
			continue;
		}
		kmc_detail_clear();
		if (p11_key_destroy(e->uri, NULL) == 0) {
			audit_destroy(v, e, "ok");
			note_add(v, "removed from the token: %s%s\n", e->uri, "");
			continue;
		}
		snprintf(detail, sizeof(detail), "%s", kmc_error_detail()[0] ?
			kmc_error_detail() : "the token refused");
		audit_destroy(v, e, detail);
		note_add(v, "could not remove from the token: %s (%s); remove "
			"it with the token's tools\n", e->uri, detail);
	}
	token_refs_free(&after);
	kmc_detail_clear();
	if (saved[0])
		(void)kmc_detail(0, "%s", saved);
}

void token_note_clear(kmc_vault *v)
{
	free(v->token_note);
	v->token_note = NULL;
	v->token_note_cap = 0;
}

const char *kmc_token_note(const kmc_vault *v)
{
	return v->token_note ? v->token_note : "";
}

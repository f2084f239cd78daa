/*
 * mk.c - master-key rotation: rotate (a new active key), list, rewrap
 * (records and config-file strings sealed again under the active key)
 * and retire (an unused old key removed from both keystores).
 *
 * Every step can be cut off by a kill and leaves a vault that opens:
 * rotate and retire are one keystore change each (vault_ks_commit), a
 * rewrap batch is one store transaction, a config file is replaced in
 * one rename, and a rewrap run again goes on where the last one stopped
 * because it only touches what the active key did not seal.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "vault.h"
#include "conf.h"
#include "import.h"
#include "../kmc/buf.h"
#include "../kmc/cstring.h"
#include "../safeio/folders.h"
#include "audit.h"

static int writable(kmc_vault *v)
{
	if (!(v->flags & KMC_OPEN_WRITE))
		return kmc_detail(KMC_E_READONLY, "%s: opened read-only", v->dir);
	return 0;
}

/* ---------------------------------------------------------------- */
/* Rotate, list                                                      */

int kmc_mk_rotate(kmc_vault *v, uint32_t *ret_id)
{
	AUDIT_OP(v, "kmc_mk_rotate");
	_cleanup_(kmc_secret_freep) kmc_secret *mk = NULL;
	_cleanup_(freep) keystore *next = NULL;
	ks_master_key *m;
	uint32_t id = 0;
	int r, committed;

	kmc_detail_clear();
	KMC_GUARD(writable(v));
	if (v->ks->n_mks >= KMC_MAX_MASTER_KEYS)
		return kmc_detail(KMC_E_LIMIT, "%s holds %d master keys, the "
			"most a keystore holds; kmc mk retire an old one first",
			v->dir, KMC_MAX_MASTER_KEYS);
	for (size_t i = 0; i < v->ks->n_mks; i++)
		if (v->ks->mks[i].id > id)
			id = v->ks->mks[i].id;
	if (id == UINT32_MAX)
		return kmc_detail(KMC_E_LIMIT, "%s: no master-key id left",
			v->dir);
	next = malloc(sizeof(*next));
	KMC_ENSURE(next, KMC_E_NOMEM);
	memcpy(next, v->ks, sizeof(*next));
	m = &next->mks[next->n_mks];
	*m = (ks_master_key){ .id = id + 1, .created = (int64_t)time(NULL) };
	KMC_GUARD(kmc_secret_new(KMC_KEY_LEN, &mk));
	kmc_random(kmc_secret_data(mk), KMC_KEY_LEN);
	KMC_GUARD(vault_mk_seal(next->vault_id, v->rk, mk, m));
	next->n_mks++;
	next->active_mk = m->id;
	/* The handle holds the new keys before any write can need them. */
	KMC_GUARD(vault_mk_add(v, m));
	r = vault_ks_commit(v, next, &committed);
	if (!committed) {
		v->n_mks--;
		kmc_secret_free(v->mks[v->n_mks].keys);
		v->mks[v->n_mks].keys = NULL;
		return r;
	}
	if (ret_id)
		*ret_id = id + 1;
	return r;
}

int kmc_mk_list(kmc_vault *v, int (*cb)(const kmc_mk_info *info, void *arg),
	void *arg)
{
	_cleanup_(freep) keystore *ks = NULL;
	uint32_t ids[KMC_MAX_MASTER_KEYS];
	uint64_t cur[KMC_MAX_MASTER_KEYS], old[KMC_MAX_MASTER_KEYS];
	size_t n, order[KMC_MAX_MASTER_KEYS];

	kmc_detail_clear();
	/* A reader's keystore is the one of its open: the keys now. */
	KMC_GUARD(vault_ks_now(v, &ks));
	n = ks->n_mks;
	for (size_t i = 0; i < n; i++) {
		ids[i] = ks->mks[i].id;
		order[i] = i;
	}
	KMC_GUARD(items_mk_usage(v, ids, n, cur, old));
	/* By id: at most 64, so insertion. */
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && ids[order[j]] < ids[order[j - 1]];
		     j--) {
			size_t t = order[j];

			order[j] = order[j - 1];
			order[j - 1] = t;
		}
	for (size_t k = 0; k < n; k++) {
		const ks_master_key *m = &ks->mks[order[k]];
		kmc_mk_info info = {
			.id = m->id,
			.active = m->id == ks->active_mk,
			.created = m->created,
			.items = cur[order[k]],
			.old_versions = old[order[k]],
		};
		int r = cb(&info, arg);

		if (r != 0)
			return r;
	}
	return 0;
}

/* ---------------------------------------------------------------- */
/* Config files                                                      */

typedef struct conf_list {
	char **paths;
	unsigned *named;	/* 1: given by the caller, 0: a bundle's */
	size_t n, cap;
} conf_list;

static void conf_list_free(conf_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->paths[i]);
	free(l->paths);
	free(l->named);
	*l = (conf_list){ 0 };
}

static int conf_list_add(conf_list *l, const char *path, unsigned named)
{
	char abs[PATH_MAX];
	int r = kmc_path_absolute(path, abs, sizeof(abs));

	if (r < 0)
		return kmc_detail(r, "%s: %s", path, kmc_strerror(r));
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->paths[i], abs) == 0) {
			l->named[i] |= named;
			return 0;
		}
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 8;
		char **p = realloc(l->paths, cap * sizeof(*p));
		unsigned *q;

		KMC_ENSURE(p, KMC_E_NOMEM);
		l->paths = p;
		q = realloc(l->named, cap * sizeof(*q));
		KMC_ENSURE(q, KMC_E_NOMEM);
		l->named = q;
		l->cap = cap;
	}
	l->paths[l->n] = strdup(abs);
	KMC_ENSURE(l->paths[l->n], KMC_E_NOMEM);
	l->named[l->n++] = named;
	return 0;
}

typedef struct bundle_names {
	char (*names)[KMC_NAME_MAX + 1];
	size_t n, cap;
} bundle_names;

static int collect_bundle(const kmc_item_info *info, void *arg)
{
	bundle_names *b = arg;

	if (info->type != KMC_ITEM_BUNDLE)
		return 0;
	if (b->n == b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 16;
		void *p = realloc(b->names, cap * sizeof(*b->names));

		KMC_ENSURE(p, KMC_E_NOMEM);
		b->names = p;
		b->cap = cap;
	}
	snprintf(b->names[b->n++], sizeof(b->names[0]), "%s", info->name);
	return 0;
}

/* The config files the caller names and those the bundles' imports
   updated (their NAME/meta items say which). */
static int conf_collect(kmc_vault *v, const char *const *conf, size_t n_conf,
	conf_list *l)
{
	bundle_names b = { 0 };
	int r = 0;

	for (size_t i = 0; i < n_conf && r == 0; i++)
		r = conf_list_add(l, conf[i], 1);
	if (r == 0)
		r = kmc_item_list(v, collect_bundle, &b);
	for (size_t i = 0; i < b.n && r == 0; i++) {
		_cleanup_(kmc_secret_freep) kmc_secret *meta = NULL;
		char path[PATH_MAX];

		r = kmc_item_get(v, b.names[i], KMC_ITEM_BUNDLE, &meta);
		if (r == 0 && bundle_meta_value(meta, "conf", path,
		    sizeof(path)) < 0)
			r = kmc_detail(KMC_E_CORRUPT, "item %s: damaged record "
				"of the bundle's files", b.names[i]);
		if (r == 0 && path[0])
			r = conf_list_add(l, path, 0);
	}
	free(b.names);
	return r;
}

/* Read every listed file into *ret, *ret_n of them: a bundle's file
   that is gone is left out. */
static int conf_read_all(const conf_list *l, conf_file **ret, size_t *ret_n)
{
	conf_file *f = calloc(l->n ? l->n : 1, sizeof(*f));
	size_t k = 0;
	int r = 0;

	KMC_ENSURE(f, KMC_E_NOMEM);
	for (size_t i = 0; i < l->n; i++)
		f[i].dirfd = -1;
	for (size_t i = 0; i < l->n && r == 0; i++) {
		kmc_detail_clear();
		r = conf_file_read(l->paths[i], &f[k]);
		if (r == -ENOENT && !l->named[i]) {
			conf_file_free(&f[k]);
			r = 0;
			continue;
		}
		if (r < 0) {
			conf_file_free(&f[k]);
			break;
		}
		k++;
	}
	if (r < 0) {
		for (size_t i = 0; i < k; i++)
			conf_file_free(&f[i]);
		free(f);
		return r;
	}
	*ret = f;
	*ret_n = k;
	return 0;
}

static int is_token_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		(c >= '0' && c <= '9') || c == '-' || c == '_' || c == ':';
}

typedef struct scan {
	kmc_vault *v;
	uint32_t only;		/* retire: count strings of this key only */
	const kmc_rewrap_params *p;
	kmc_wbuf out;		/* rewrap: the new text */
	uint64_t strings, skipped, in_use;
	unsigned first_line;	/* retire: where the first one is */
} scan;

static void skip(scan *s, const char *file, unsigned line, const char *why)
{
	s->skipped++;
	if (s->p && s->p->skipped)
		s->p->skipped(file, line, why, s->p->arg);
}

/*
 * One kmc:v1: string at tok[0..len) on line. For a rewrap, what replaces
 * it goes to s->out (itself, when it stays); for a retire, only counted.
 */
static int scan_token(scan *s, const char *file, unsigned line,
	const char *tok, size_t len)
{
	_cleanup_(kmc_secret_freep) kmc_secret *plain = NULL;
	_cleanup_(freep) uint8_t *sealed = NULL;
	_cleanup_(freep) char *fresh = NULL;
	char buf[KMC_CSTRING_MAX + 1], why[256];
	size_t sealed_len;
	uint32_t id;
	int r;

	r = len > KMC_CSTRING_MAX ? KMC_E_STRING :
		kmc_cstring_parse(tok, len, &id, &sealed, &sealed_len);
	/* Out of memory says nothing of the string: taken for a malformed
	   one, it would be left on its old key by a rewrap that succeeds,
	   and not counted by a retire, which would then remove its key. */
	if (r == KMC_E_NOMEM)
		return kmc_detail(r, "%s line %u: %s", file, line,
			kmc_strerror(r));
	if (r < 0) {
		if (!s->only)
			skip(s, file, line, "not a well-formed kmc:v1: string");
		goto keep;
	}
	/* A rewrap opens every string, the active key's too, so that one
	   another vault made is reported whatever its id. */
	if (s->only && id != s->only)
		goto keep;
	memcpy(buf, tok, len);
	buf[len] = '\0';
	r = kmc_string_decrypt(s->v, buf, &plain);
	if (r == KMC_E_NOT_FOUND || r == KMC_E_AUTH || r == KMC_E_STRING) {
		if (s->only)
			goto keep;	/* not this vault's: not its key's use */
		if (r == KMC_E_NOT_FOUND)
			snprintf(why, sizeof(why), "it names master key %" PRIu32
				", which this vault does not hold (another vault's "
				"string, a retired key's, or one sealed after the "
				"backup a restore put back)", id);
		else
			snprintf(why, sizeof(why), "it does not open in this "
				"vault (another vault's, or altered%s)", id > 1 ?
				", or sealed with a master key of its id that a "
				"restore took back" : "");
		skip(s, file, line, why);
		goto keep;
	}
	if (r < 0)
		return kmc_detail(r, "%s line %u: %s", file, line,
			kmc_error_detail()[0] ? kmc_error_detail() :
			kmc_strerror(r));
	if (s->only) {
		if (s->in_use++ == 0)
			s->first_line = line;
		return 0;
	}
	if (id == s->v->ks->active_mk)
		goto keep;
	r = kmc_string_encrypt(s->v, kmc_secret_data(plain),
		kmc_secret_len(plain), &fresh);
	if (r < 0)
		return kmc_detail(r, "%s line %u: sealing it again: %s", file,
			line, kmc_strerror(r));
	s->strings++;
	kmc_wbuf_bytes(&s->out, fresh, strlen(fresh));
	return 0;
keep:
	if (!s->only)
		kmc_wbuf_bytes(&s->out, tok, len);
	return 0;
}

static int scan_file(scan *s, const conf_file *f)
{
	static const char prefix[] = KMC_CSTRING_PREFIX;
	const char *text = (const char *)f->text, *end = text + f->len;
	const char *p = text, *counted = text;
	unsigned line = 1;

	while (p < end) {
		const char *hit = memmem(p, (size_t)(end - p), prefix,
			sizeof(prefix) - 1);
		const char *e;

		if (!hit)
			break;
		for (const char *q = counted; q < hit; q++)
			line += *q == '\n';
		counted = hit;
		for (e = hit + sizeof(prefix) - 1; e < end && is_token_char(*e);
		     e++)
			;
		if (!s->only)
			kmc_wbuf_bytes(&s->out, p, (size_t)(hit - p));
		KMC_GUARD(scan_token(s, f->path, line, hit, (size_t)(e - hit)));
		p = e;
	}
	if (!s->only)
		kmc_wbuf_bytes(&s->out, p, (size_t)(end - p));
	return s->out.err;
}

/* ---------------------------------------------------------------- */
/* Rewrap, retire                                                    */

/* Each file's strings sealed again; a file is rewritten only when one
   was. Every file is read and every new text built before the first is
   written, so a bad string or a text grown past CONF_MAX (ids of more
   digits) in any file changes none. */
static int rewrap_files(kmc_vault *v, const kmc_rewrap_params *p,
	conf_file *f, size_t n, kmc_rewrap_result *res)
{
	scan *s = calloc(n ? n : 1, sizeof(*s));
	int r = 0;

	KMC_ENSURE(s, KMC_E_NOMEM);
	for (size_t i = 0; i < n && r == 0; i++) {
		s[i] = (scan){ .v = v, .p = p, .out = KMC_WBUF(2 * CONF_MAX) };
		r = scan_file(&s[i], &f[i]);
		if (r == 0 && s[i].out.len > CONF_MAX)
			r = kmc_detail(KMC_E_INVALID, "%s: sealed again it would "
				"be %zu bytes, over the %u a config file may "
				"have; nothing was changed", f[i].path,
				s[i].out.len, CONF_MAX);
	}
	for (size_t i = 0; i < n && r == 0; i++) {
		if (s[i].strings > 0)
			r = conf_file_replace(&f[i], s[i].out.p, s[i].out.len);
		/* Counted once the file holds the new text, even when the
		   sync of its folder failed after: the counts say what the
		   files hold. */
		if (r == 0 || f[i].replaced) {
			res->strings += s[i].strings;
			res->skipped += s[i].skipped;
			res->files += s[i].strings > 0;
		}
	}
	for (size_t i = 0; i < n; i++)
		kmc_wbuf_free(&s[i].out);
	free(s);
	return r;
}

int kmc_mk_rewrap(kmc_vault *v, const kmc_rewrap_params *p,
	kmc_rewrap_result *ret)
{
	AUDIT_OP(v, "kmc_mk_rewrap");
	kmc_rewrap_params none = KMC_REWRAP_PARAMS_INIT;
	kmc_rewrap_result res = { 0 };
	conf_list l = { 0 };
	conf_file *f = NULL;
	size_t n = 0;
	int r;

	kmc_detail_clear();
	KMC_GUARD(writable(v));
	if (!p)
		p = &none;
	KMC_ENSURE(p->size >= sizeof(size_t), KMC_E_INVALID);
	KMC_GUARD(vault_params_known(p, p->size, sizeof(*p),
		"kmc_rewrap_params"));
	r = conf_collect(v, p->n_conf ? p->conf : NULL, p->n_conf, &l);
	if (r == 0)
		r = conf_read_all(&l, &f, &n);
	conf_list_free(&l);
	if (r == 0)
		r = rewrap_files(v, p, f, n, &res);
	for (size_t i = 0; f && i < n; i++)
		conf_file_free(&f[i]);
	free(f);
	if (r == 0)
		r = items_rewrap(v, KMC_REWRAP_BATCH, &res.records);
	if (ret)
		*ret = res;
	return r;
}

int kmc_mk_retire(kmc_vault *v, uint32_t id, const char *const *conf,
	size_t n_conf)
{
	AUDIT_OP(v, "kmc_mk_retire");
	_cleanup_(freep) keystore *next = NULL;
	uint64_t cur = 0, old = 0;
	conf_list l = { 0 };
	conf_file *f = NULL;
	size_t k, n = 0;
	int r, committed;

	kmc_detail_clear();
	KMC_GUARD(writable(v));
	for (k = 0; k < v->ks->n_mks; k++)
		if (v->ks->mks[k].id == id)
			break;
	if (k == v->ks->n_mks)
		return kmc_detail(KMC_E_NOT_FOUND, "%s has no master key %" PRIu32,
			v->dir, id);
	if (id == v->ks->active_mk)
		return kmc_detail(KMC_E_IN_USE, "master key %" PRIu32 " is the "
			"active one of %s; kmc mk rotate makes a new one active",
			id, v->dir);
	KMC_GUARD(items_mk_usage(v, &id, 1, &cur, &old));
	if (cur + old > 0)
		return kmc_detail(KMC_E_IN_USE, "master key %" PRIu32 " still "
			"seals %" PRIu64 " item record%s (%" PRIu64 " of them old "
			"versions); kmc mk rewrap seals them under the active "
			"key", id, cur + old, cur + old == 1 ? "" : "s", old);
	r = conf_collect(v, conf, n_conf, &l);
	if (r == 0)
		r = conf_read_all(&l, &f, &n);
	conf_list_free(&l);
	for (size_t i = 0; r == 0 && i < n; i++) {
		scan s = { .v = v, .only = id };

		r = scan_file(&s, &f[i]);
		if (r == 0 && s.in_use > 0)
			r = kmc_detail(KMC_E_IN_USE, "master key %" PRIu32
				" still seals %" PRIu64 " kmc: string%s in %s "
				"(the first on line %u); kmc mk rewrap --conf %s "
				"seals them under the active key", id, s.in_use,
				s.in_use == 1 ? "" : "s", f[i].path,
				s.first_line, f[i].path);
	}
	for (size_t i = 0; f && i < n; i++)
		conf_file_free(&f[i]);
	free(f);
	KMC_GUARD(r);

	next = malloc(sizeof(*next));
	KMC_ENSURE(next, KMC_E_NOMEM);
	memcpy(next, v->ks, sizeof(*next));
	memmove(&next->mks[k], &next->mks[k + 1],
		(next->n_mks - k - 1) * sizeof(next->mks[0]));
	next->n_mks--;
	/* Its wrapped bytes go with the old keystore's buffer. */
	kmc_wipe(&next->mks[next->n_mks], sizeof(next->mks[0]));
	r = vault_ks_commit(v, next, &committed);
	if (committed) {
		for (size_t i = 0; i < v->n_mks; i++)
			if (v->mks[i].id == id) {
				kmc_secret_free(v->mks[i].keys);
				v->mks[i] = v->mks[--v->n_mks];
				v->mks[v->n_mks].keys = NULL;
				break;
			}
	}
	return r;
}

/*
 * handlemk.c - the master keys an unlocked kmc_vault handle holds:
 * each unwrapped under the root key's wrapping key, the sub-keys
 * derived from it, found by id, and those a newer keystore (another
 * process's rotation or retire) added or dropped since the open.
 */
#include <string.h>
#include "vault.h"
#include "../kmc/buf.h"

#define MK_AD_LABEL "kmcvault/mk/v1"

static int mk_ad(const uint8_t vault_id[KS_VAULT_ID_LEN],
	const ks_master_key *m, uint8_t *ad, size_t *ret_len)
{
	kmc_wbuf b = KMC_WBUF(64);

	kmc_wbuf_bytes(&b, MK_AD_LABEL, strlen(MK_AD_LABEL));
	kmc_wbuf_bytes(&b, vault_id, KS_VAULT_ID_LEN);
	kmc_wbuf_u32(&b, m->id);
	kmc_wbuf_u64(&b, (uint64_t)m->created);
	/* Out of memory is a result, not a broken invariant. */
	if (b.err) {
		int r = b.err;

		kmc_wbuf_free(&b);
		return r;
	}
	KMC_ASSERT(b.len <= 64);
	memcpy(ad, b.p, b.len);
	*ret_len = b.len;
	kmc_wbuf_free(&b);
	return 0;
}

static int mk_wrap_key(const kmc_secret *rk, uint8_t out[KMC_KEY_LEN])
{
	return kmc_subkey(out, kmc_secret_data(rk), 2, "kmc-mkwr");
}

int vault_mk_seal(const uint8_t vault_id[KS_VAULT_ID_LEN],
	const kmc_secret *rk, const kmc_secret *mk, ks_master_key *m)
{
	uint8_t key[KMC_KEY_LEN], ad[64];
	size_t adlen;
	int r;

	KMC_GUARD(mk_ad(vault_id, m, ad, &adlen));
	KMC_GUARD(mk_wrap_key(rk, key));
	r = kmc_seal(key, ad, adlen, kmc_secret_data(mk), KMC_KEY_LEN,
		m->wrapped);
	kmc_wipe(key, sizeof(key));
	return r;
}

static int mk_derive(const kmc_secret *mk, uint32_t id, int ro,
	vault_mk *ret)
{
	_cleanup_(kmc_secret_freep) kmc_secret *keys = NULL;
	int r;

	KMC_GUARD(kmc_secret_new(2 * KMC_KEY_LEN, &keys));
	r = kmc_subkey(kmc_secret_data(keys), kmc_secret_data(mk), 1,
		"kmcitem1");
	if (r == 0)
		r = kmc_subkey(kmc_secret_data(keys) + KMC_KEY_LEN,
			kmc_secret_data(mk), 2, "kmcstr01");
	KMC_GUARD(r);
	if (ro)
		KMC_GUARD(kmc_secret_readonly(keys));
	ret->id = id;
	ret->keys = TAKE_PTR(keys);
	return 0;
}

void vault_drop_keys(kmc_vault *v)
{
	for (size_t i = 0; i < v->n_mks; i++)
		kmc_secret_free(v->mks[i].keys);
	v->n_mks = 0;
	kmc_secret_free(v->rk);
	v->rk = NULL;
	kmc_secret_free(v->mkwrap);
	v->mkwrap = NULL;
}

/* Unwrap master key m of keystore ks and add its keys to the handle. */
static int vault_add_mk(kmc_vault *v, const keystore *ks,
	const ks_master_key *m)
{
	_cleanup_(kmc_secret_freep) kmc_secret *mk = NULL;
	uint8_t ad[64];
	size_t adlen;

	KMC_ENSURE(v->n_mks < KMC_MAX_MASTER_KEYS, KMC_E_LIMIT);
	KMC_GUARD(mk_ad(ks->vault_id, m, ad, &adlen));
	KMC_GUARD(kmc_open_secret(kmc_secret_data(v->mkwrap), ad, adlen,
		m->wrapped, KS_MK_WRAPPED_LEN, &mk));
	KMC_GUARD(mk_derive(mk, m->id, !v->ro_at_end, &v->mks[v->n_mks]));
	v->n_mks++;
	return 0;
}

int vault_load_mks(kmc_vault *v, const keystore *ks,
	const kmc_secret *rk)
{
	int r = kmc_secret_new(KMC_KEY_LEN, &v->mkwrap);

	if (r == 0)
		r = mk_wrap_key(rk, kmc_secret_data(v->mkwrap));
	if (r == 0 && !v->ro_at_end)
		r = kmc_secret_readonly(v->mkwrap);
	for (size_t i = 0; i < ks->n_mks && r == 0; i++)
		if (!(ks->mks[i].flags & KS_MK_RETIRED))
			r = vault_add_mk(v, ks, &ks->mks[i]);
	/* The MAC held, so a master key that fails is a forged keystore. */
	return r == KMC_E_AUTH ? KMC_E_CORRUPT : r;
}

const vault_mk *vault_find_mk(const kmc_vault *v, uint32_t id)
{
	for (size_t i = 0; i < v->n_mks; i++)
		if (v->mks[i].id == id)
			return &v->mks[i];
	return NULL;
}

int vault_mk_add(kmc_vault *v, const ks_master_key *m)
{
	return vault_add_mk(v, v->ks, m);
}

/* Drop the keys that keystore ks no longer holds (kmc mk retire in
   another process): nothing current is sealed by them. */
static void vault_drop_retired(kmc_vault *v, const keystore *ks)
{
	for (size_t i = 0; i < v->n_mks;) {
		if (ks_find_mk(ks, v->mks[i].id)) {
			i++;
			continue;
		}
		kmc_secret_free(v->mks[i].keys);
		v->mks[i] = v->mks[--v->n_mks];
		v->mks[v->n_mks].keys = NULL;
	}
}

/*
 * A master key made after this handle opened (kmc mk rotate in another
 * process): read the keystores again and unwrap it. The wrapped key's
 * seal names the vault, its id and its birth, so it needs no MAC check,
 * and a handle never needs the root key to follow a rotation.
 */
const vault_mk *vault_mk_get(kmc_vault *v, uint32_t id)
{
	const vault_mk *found = vault_find_mk(v, id);
	ks_file f[2] = { 0 };
	int order[2], n;

	if (found || !v->mkwrap || id == 0)
		return found;
	if (ks_load_pair(v->dirfd, v->dir, f, order, &n) == 0) {
		for (int i = 0; i < n && !found; i++) {
			const keystore *ks = f[order[i]].ks;
			const ks_master_key *m = ks_find_mk(ks, id);

			if (!m || (m->flags & KS_MK_RETIRED) ||
			    memcmp(ks->vault_id, v->ks->vault_id,
				   KS_VAULT_ID_LEN) != 0)
				continue;
			/* Full: the keys retired since the open make room. */
			if (v->n_mks == KMC_MAX_MASTER_KEYS)
				vault_drop_retired(v, ks);
			if (vault_add_mk(v, ks, m) == 0)
				found = &v->mks[v->n_mks - 1];
		}
	}
	ks_file_free(&f[0]);
	ks_file_free(&f[1]);
	kmc_detail_clear();
	return found;
}

/*
 * The keystore as it is now, into *ret (malloc'd): a writer's own, as it
 * holds the lock; for another handle, the newest keystore of this vault
 * read again, since another process may have rotated or retired master
 * keys after the open; its own when none can be read.
 */
int vault_ks_now(kmc_vault *v, keystore **ret)
{
	ks_file f[2] = { 0 };
	int order[2], n;

	*ret = NULL;
	if (!(v->flags & KMC_OPEN_WRITE) &&
	    ks_load_pair(v->dirfd, v->dir, f, order, &n) == 0 && n > 0 &&
	    memcmp(f[order[0]].ks->vault_id, v->ks->vault_id,
		   KS_VAULT_ID_LEN) == 0)
		*ret = TAKE_PTR(f[order[0]].ks);
	ks_file_free(&f[0]);
	ks_file_free(&f[1]);
	kmc_detail_clear();
	if (!*ret) {
		*ret = malloc(sizeof(**ret));
		KMC_ENSURE(*ret, KMC_E_NOMEM);
		memcpy(*ret, v->ks, sizeof(**ret));
	}
	return 0;
}

/*
 * The master key that seals new strings: the active one. A handle that
 * cannot write may have opened before a rotation; the keystores say
 * which key is active now, so that it never seals under one that is
 * old, or retired and gone from every other handle.
 */
const vault_mk *vault_mk_active(kmc_vault *v)
{
	_cleanup_(freep) keystore *ks = NULL;
	const vault_mk *found = NULL;

	if (!(v->flags & KMC_OPEN_WRITE) && vault_ks_now(v, &ks) == 0)
		found = vault_mk_get(v, ks->active_mk);
	return found ? found : vault_find_mk(v, v->ks->active_mk);
}


/*
 * admin.c - protector administration: adding and removing the keyslots
 * of an open, writable vault.
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
#include "audit.h"

/* ---------------------------------------------------------------- */
/* Protectors                                                        */

int kmc_protector_add(kmc_vault *v, kmc_protector_type type,
	const kmc_options *opts, unsigned *ret_id, kmc_secret **ret_recovery)
{
	AUDIT_OP(v, "kmc_protector_add");
	_cleanup_(freep) keystore *next = NULL;
	char host_key[PATH_MAX], def[PATH_MAX];
	kmc_options o;
	unsigned id = 0;
	int r, committed;

	kmc_detail_clear();
	if (!(v->flags & KMC_OPEN_WRITE))
		return kmc_detail(KMC_E_READONLY, "%s: opened read-only", v->dir);
	if (v->ks->n_slots >= KMC_MAX_PROTECTORS)
		return kmc_detail(KMC_E_LIMIT, "%s has %d protectors, the most a "
			"keystore holds", v->dir, KMC_MAX_PROTECTORS);
	KMC_GUARD(vault_options_copy(opts, &o));
	if (type == KMC_PROTECTOR_HOST) {
		if (!o.host_key) {
			KMC_GUARD(kmc_default_path(KMC_DEFAULT_HOST_KEY, def,
				sizeof(def), 1));
			o.host_key = def;
		}
		KMC_GUARD(kmc_path_absolute(o.host_key, host_key, sizeof(host_key)));
		o.host_key = host_key;
	}
	for (size_t i = 0; i < v->ks->n_slots; i++)
		if (v->ks->slots[i].id > id)
			id = v->ks->slots[i].id;
	if (id >= 255)
		return kmc_detail(KMC_E_LIMIT, "%s: no protector id left", v->dir);
	next = malloc(sizeof(*next));
	KMC_ENSURE(next, KMC_E_NOMEM);
	memcpy(next, v->ks, sizeof(*next));
	/* Past the count a parsed keystore holds whatever was there
	   (ks_parse_used()): the new slot starts clear. */
	memset(&next->slots[next->n_slots], 0, sizeof(next->slots[0]));
	r = slot_create(next->vault_id, type, &o, v->rk, (uint8_t)(id + 1),
		&next->slots[next->n_slots], ret_recovery);
	if (r < 0)
		return r;
	next->n_slots++;
	r = vault_ks_commit(v, next, &committed);
	if (!committed && ret_recovery && *ret_recovery) {
		/* A key for a slot that was never written must not be shown. */
		kmc_secret_free(*ret_recovery);
		*ret_recovery = NULL;
	}
	if (committed && ret_id)
		*ret_id = id + 1;
	return r;
}

int kmc_protector_remove(kmc_vault *v, unsigned id)
{
	AUDIT_OP(v, "kmc_protector_remove");
	_cleanup_(freep) keystore *next = NULL;
	int committed;
	size_t k;

	kmc_detail_clear();
	if (!(v->flags & KMC_OPEN_WRITE))
		return kmc_detail(KMC_E_READONLY, "%s: opened read-only", v->dir);
	for (k = 0; k < v->ks->n_slots; k++)
		if (v->ks->slots[k].id == id)
			break;
	if (k == v->ks->n_slots)
		return kmc_detail(KMC_E_NOT_FOUND, "%s has no protector %u", v->dir,
			id);
	if (v->ks->n_slots == 1)
		return kmc_detail(KMC_E_LIMIT, "protector %u is the last one of %s; "
			"add another before removing it", id, v->dir);
	next = malloc(sizeof(*next));
	KMC_ENSURE(next, KMC_E_NOMEM);
	memcpy(next, v->ks, sizeof(*next));
	memmove(&next->slots[k], &next->slots[k + 1],
		(next->n_slots - k - 1) * sizeof(next->slots[0]));
	next->n_slots--;
	return vault_ks_commit(v, next, &committed);
}

/*
 * strings.c - ciphertext strings (kmc:v1:<mk-id>:<base64url>) for
 * configuration files, sealed with a master key's string key.
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
#include "audit.h"
#include "../safeio/fileio.h"
#include "../kmc/cstring.h"

#define STR_AD_LABEL "kmcvault/str/v1"

/* ---------------------------------------------------------------- */
/* Ciphertext strings                                                */

static void str_ad(const kmc_vault *v, uint32_t mk_id, uint8_t *ad,
	size_t *ret_len)
{
	size_t n = strlen(STR_AD_LABEL);

	memcpy(ad, STR_AD_LABEL, n);
	memcpy(ad + n, v->ks->vault_id, KS_VAULT_ID_LEN);
	n += KS_VAULT_ID_LEN;
	ad[n++] = (uint8_t)(mk_id >> 24);
	ad[n++] = (uint8_t)(mk_id >> 16);
	ad[n++] = (uint8_t)(mk_id >> 8);
	ad[n++] = (uint8_t)mk_id;
	*ret_len = n;
}

int kmc_string_encrypt(kmc_vault *v, const void *secret, size_t len,
	char **ret)
{
	uint8_t blob[KMC_STRING_SECRET_MAX + KMC_SEAL_OVERHEAD], ad[64];
	const vault_mk *mk;
	size_t adlen;

	kmc_detail_clear();
	KMC_ENSURE(len > 0, KMC_E_EMPTY);
	KMC_ENSURE(len <= KMC_STRING_SECRET_MAX, KMC_E_TOO_LARGE);
	mk = vault_mk_active(v);
	KMC_ASSERT(mk);
	str_ad(v, mk->id, ad, &adlen);
	KMC_GUARD(kmc_seal(kmc_secret_data(mk->keys) + KMC_KEY_LEN, ad, adlen,
		secret, len, blob));
	return kmc_cstring_format(mk->id, blob, len + KMC_SEAL_OVERHEAD, ret);
}

int kmc_string_decrypt(kmc_vault *v, const char *string, kmc_secret **ret)
{
	AUDIT_OP(v, "kmc_string_decrypt");
	_cleanup_(freep) uint8_t *blob = NULL;
	const vault_mk *mk;
	uint8_t ad[64];
	size_t len, adlen;
	uint32_t mk_id;
	int r;

	kmc_detail_clear();
	r = kmc_cstring_parse(string, strnlen(string, KMC_CSTRING_MAX + 1),
		&mk_id, &blob, &len);
	if (r == KMC_E_NOMEM)
		return r;	/* not the string's fault */
	if (r == KMC_E_VERSION) {
		const char *p = string + strspn(string, " \t\r\n");

		return kmc_detail(r, "a ciphertext string of format %.*s, and "
			"this kmc reads kmc:v1: only: a newer kmcvault made it",
			(int)strcspn(p + 4, ":") + 5, p);
	}
	if (r < 0)
		return kmc_detail(r, "not a ciphertext string of the form "
			"kmc:v1:<master-key-id>:<base64url>");
	mk = vault_mk_get(v, mk_id);
	if (!mk)
		return kmc_detail(KMC_E_NOT_FOUND, "the string names master key "
			"%u, which this vault does not hold%s", (unsigned)mk_id,
			mk_id > 1 ? ": another vault's string, a retired key's, "
			"or one sealed after the backup that kmc restore put "
			"back (a restore takes back the master keys made since)" :
			"");
	KMC_ENSURE(len >= KMC_SEAL_OVERHEAD && len - KMC_SEAL_OVERHEAD <=
		KMC_STRING_SECRET_MAX, KMC_E_STRING);
	str_ad(v, mk_id, ad, &adlen);
	r = kmc_open_secret(kmc_secret_data(mk->keys) + KMC_KEY_LEN, ad, adlen,
		blob, len, ret);
	/* Key 1 is made with the vault and in every backup of it; a later
	   id may be one a restore took back and a rotation made again. */
	if (r == KMC_E_AUTH && mk_id > 1)
		return kmc_detail(r, "the string fails authentication: altered, "
			"made by another vault, or sealed with an earlier master "
			"key %u that a restore took back (kmc restore puts back "
			"the backup's master keys: one made after the backup is "
			"gone, and a key made since took its id)",
			(unsigned)mk_id);
	if (r == KMC_E_AUTH)
		return kmc_detail(r, "the string fails authentication: altered, "
			"or made by another vault");
	/* A string is no item: the record names its master key. */
	if (r == 0)
		audit_read(v, "(ciphertext string)", mk_id);
	return r;
}

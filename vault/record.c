/*
 * record.c - item records, the values of the "items" database.
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
#include <string.h>
#include "vault.h"
#include "../kmc/buf.h"

#define ITEM_AD_LABEL "kmcvault/item/v1"

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

static int item_ad(const kmc_vault *v, const char *name, const uint8_t *hdr,
	kmc_wbuf *ad)
{
	size_t n = strlen(name);

	KMC_ASSERT(n <= KMC_NAME_MAX);
	kmc_wbuf_bytes(ad, ITEM_AD_LABEL, strlen(ITEM_AD_LABEL));
	kmc_wbuf_bytes(ad, v->ks->vault_id, KS_VAULT_ID_LEN);
	kmc_wbuf_u8(ad, (uint8_t)n);
	kmc_wbuf_bytes(ad, name, n);
	kmc_wbuf_bytes(ad, hdr, RECORD_HEADER_LEN);
	return ad->err;
}

int record_seal(kmc_vault *v, const char *name, const record_info *info,
	const void *pt, uint8_t **ret, size_t *ret_len)
{
	kmc_wbuf b = KMC_WBUF(RECORD_HEADER_LEN + KMC_ITEM_MAX +
		KMC_SEAL_OVERHEAD);
	kmc_wbuf ad = KMC_WBUF(256 + KMC_NAME_MAX);
	const vault_mk *mk = vault_find_mk(v, info->mk_id);
	uint8_t *out;
	int r;

	KMC_ASSERT(mk);
	header_write(&b, info);
	out = kmc_wbuf_reserve(&b, (size_t)info->size + KMC_SEAL_OVERHEAD);
	r = out ? item_ad(v, name, b.p, &ad) : b.err;
	if (r == 0)
		r = kmc_seal(kmc_secret_data(mk->keys), ad.p, ad.len, pt,
			info->size, out);
	kmc_wbuf_free(&ad);
	if (r < 0) {
		kmc_wbuf_free(&b);
		return r;
	}
	*ret = b.p;
	*ret_len = b.len;
	return 0;
}

int record_open(kmc_vault *v, const char *name, const uint8_t *rec,
	size_t len, record_info *ret_info, kmc_secret **ret)
{
	kmc_wbuf ad = KMC_WBUF(256 + KMC_NAME_MAX);
	const vault_mk *mk;
	record_info info;
	int r;

	KMC_GUARD(record_parse_header(rec, len, &info));
	mk = vault_find_mk(v, info.mk_id);
	/* A master key we do not hold: the record is not this vault's. */
	KMC_ENSURE(mk, KMC_E_AUTH);
	r = item_ad(v, name, rec, &ad);
	if (r == 0)
		r = kmc_open_secret(kmc_secret_data(mk->keys), ad.p, ad.len,
			rec + RECORD_HEADER_LEN, len - RECORD_HEADER_LEN, ret);
	kmc_wbuf_free(&ad);
	KMC_GUARD(r);
	if (ret_info)
		*ret_info = info;
	return 0;
}

int record_check_type(kmc_vault *v, const char *name, const uint8_t *rec,
	size_t len, const record_info *info, uint8_t want)
{
	kmc_secret *s = NULL;

	if (want == 0 || info->type == want)
		return 0;
	/* Only the mismatch pays for a decryption. */
	KMC_GUARD(record_open(v, name, rec, len, NULL, &s));
	kmc_secret_free(s);
	return KMC_E_TYPE;
}

/*
 * keystore.c - parsing and writing the keystore format of kmc.ks and
 * StandbyKsf.ks (layout in keystore.h), and checking its MAC.
 */
#include <stddef.h>
#include <string.h>
#include "keystore.h"
#include "../kmc/buf.h"

#define KS_TRAILER_LEN (2 * KMC_HASH_LEN)

static int mac_key(uint8_t out[KMC_KEY_LEN], const uint8_t rk[KMC_KEY_LEN])
{
	return kmc_subkey(out, rk, 1, "kmc-ksmc");
}

/* Invariants that both the parser and the writer hold the struct to. */
static int ks_check(const keystore *ks)
{
	int active_found = 0;

	KMC_ENSURE(ks->n_slots >= 1 && ks->n_slots <= KMC_MAX_PROTECTORS,
		KMC_E_CORRUPT);
	KMC_ENSURE(ks->n_mks >= 1 && ks->n_mks <= KMC_MAX_MASTER_KEYS,
		KMC_E_CORRUPT);
	for (size_t i = 0; i < ks->n_slots; i++) {
		const ks_slot *s = &ks->slots[i];

		KMC_ENSURE(s->id != 0, KMC_E_CORRUPT);
		KMC_ENSURE(s->params_len <= KS_PARAMS_MAX &&
			s->wrapped_len <= KS_WRAPPED_MAX, KMC_E_CORRUPT);
		for (size_t j = 0; j < i; j++)
			KMC_ENSURE(ks->slots[j].id != s->id, KMC_E_CORRUPT);
	}
	for (size_t i = 0; i < ks->n_mks; i++) {
		const ks_master_key *m = &ks->mks[i];

		KMC_ENSURE(m->id != 0, KMC_E_CORRUPT);
		KMC_ENSURE((m->flags & ~KS_MK_RETIRED) == 0, KMC_E_CORRUPT);
		for (size_t j = 0; j < i; j++)
			KMC_ENSURE(ks->mks[j].id != m->id, KMC_E_CORRUPT);
		if (m->id == ks->active_mk) {
			KMC_ENSURE(!(m->flags & KS_MK_RETIRED), KMC_E_CORRUPT);
			active_found = 1;
		}
	}
	KMC_ENSURE(active_found, KMC_E_CORRUPT);
	return 0;
}

int ks_parse(const uint8_t *data, size_t len, keystore *ks)
{
	memset(ks, 0, sizeof(*ks));
	return ks_parse_used(data, len, ks);
}

/* ks_parse_used clears the fields before slots and those between the
   arrays, and each entry it reads: nothing may follow mks. */
_Static_assert(offsetof(keystore, mks) + sizeof(((keystore *)0)->mks) ==
	sizeof(keystore), "mks is the last field of keystore");

int ks_parse_used(const uint8_t *data, size_t len, keystore *ks)
{
	uint8_t sum[KMC_HASH_LEN];
	const uint8_t *magic;
	kmc_rbuf b;
	uint16_t flags;
	uint64_t created;

	/* The header and the counts between the arrays (with their
	   padding); the entries as they are read. */
	memset(ks, 0, offsetof(keystore, slots));
	memset(&ks->n_mks, 0, offsetof(keystore, mks) -
		offsetof(keystore, n_mks));
	KMC_ENSURE(len >= 10 && memcmp(data, KS_MAGIC, 8) == 0, KMC_E_CORRUPT);
	/* The version before the length and the checksum: a newer format
	   may be longer or end in another trailer, and must be refused as
	   newer, never taken for damage that its older twin may repair. */
	ks->format_version = (uint16_t)(data[8] << 8 | data[9]);
	KMC_ENSURE(ks->format_version <= KS_FORMAT_VERSION, KMC_E_VERSION);
	KMC_ENSURE(len > KS_TRAILER_LEN + 10 && len <= KS_FILE_MAX,
		KMC_E_CORRUPT);
	kmc_hash(sum, data, len - KMC_HASH_LEN);
	KMC_ENSURE(kmc_memcmp(sum, data + len - KMC_HASH_LEN, KMC_HASH_LEN) == 0,
		KMC_E_CORRUPT);

	b = KMC_RBUF(data, len - KS_TRAILER_LEN);
	KMC_GUARD(kmc_rbuf_bytes(&b, 8, &magic));
	KMC_GUARD(kmc_rbuf_u16(&b, &ks->format_version));
	KMC_ENSURE(ks->format_version == KS_FORMAT_VERSION, KMC_E_VERSION);
	KMC_GUARD(kmc_rbuf_u16(&b, &flags));
	KMC_ENSURE(flags == 0, KMC_E_VERSION);
	KMC_GUARD(kmc_rbuf_copy(&b, ks->vault_id, KS_VAULT_ID_LEN));
	KMC_GUARD(kmc_rbuf_u64(&b, &ks->generation));

	KMC_GUARD(kmc_rbuf_u8(&b, &ks->n_slots));
	KMC_ENSURE(ks->n_slots >= 1 && ks->n_slots <= KMC_MAX_PROTECTORS,
		KMC_E_CORRUPT);
	for (size_t i = 0; i < ks->n_slots; i++) {
		ks_slot *s = &ks->slots[i];

		memset(s, 0, sizeof(*s));
		KMC_GUARD(kmc_rbuf_u8(&b, &s->id));
		KMC_GUARD(kmc_rbuf_u8(&b, &s->type));
		KMC_GUARD(kmc_rbuf_u16(&b, &s->params_len));
		KMC_ENSURE(s->params_len <= KS_PARAMS_MAX, KMC_E_CORRUPT);
		KMC_GUARD(kmc_rbuf_copy(&b, s->params, s->params_len));
		KMC_GUARD(kmc_rbuf_u16(&b, &s->wrapped_len));
		KMC_ENSURE(s->wrapped_len <= KS_WRAPPED_MAX, KMC_E_CORRUPT);
		KMC_GUARD(kmc_rbuf_copy(&b, s->wrapped, s->wrapped_len));
	}

	KMC_GUARD(kmc_rbuf_u8(&b, &ks->n_mks));
	KMC_ENSURE(ks->n_mks >= 1 && ks->n_mks <= KMC_MAX_MASTER_KEYS,
		KMC_E_CORRUPT);
	KMC_GUARD(kmc_rbuf_u32(&b, &ks->active_mk));
	for (size_t i = 0; i < ks->n_mks; i++) {
		ks_master_key *m = &ks->mks[i];

		memset(m, 0, sizeof(*m));
		KMC_GUARD(kmc_rbuf_u32(&b, &m->id));
		KMC_GUARD(kmc_rbuf_u8(&b, &m->flags));
		KMC_GUARD(kmc_rbuf_u64(&b, &created));
		m->created = (int64_t)created;
		KMC_GUARD(kmc_rbuf_copy(&b, m->wrapped, KS_MK_WRAPPED_LEN));
	}
	/* wireguard's rule: exact lengths, nothing trailing. */
	KMC_ENSURE(kmc_rbuf_left(&b) == 0, KMC_E_CORRUPT);
	return ks_check(ks);
}

int ks_verify_mac(const uint8_t *data, size_t len,
	const uint8_t rk[KMC_KEY_LEN])
{
	uint8_t key[KMC_KEY_LEN], mac[KMC_HASH_LEN];
	KMC_CLEANUP_ERASE(key);
	size_t body;

	KMC_ENSURE(len > KS_TRAILER_LEN, KMC_E_CORRUPT);
	body = len - KS_TRAILER_LEN;
	KMC_GUARD(mac_key(key, rk));
	kmc_mac(mac, key, data, body);
	return kmc_memcmp(mac, data + body, KMC_HASH_LEN) == 0 ? 0 : KMC_E_AUTH;
}

int ks_serialize(const keystore *ks, const uint8_t rk[KMC_KEY_LEN],
	uint8_t **ret, size_t *ret_len)
{
	_cleanup_(kmc_wbuf_free) kmc_wbuf b = KMC_WBUF(KS_FILE_MAX);
	uint8_t key[KMC_KEY_LEN];
	KMC_CLEANUP_ERASE(key);
	uint8_t *mac, *sum;

	KMC_ENSURE(ks_check(ks) == 0, KMC_E_INVALID);
	kmc_wbuf_bytes(&b, KS_MAGIC, 8);
	kmc_wbuf_u16(&b, KS_FORMAT_VERSION);
	kmc_wbuf_u16(&b, 0);
	kmc_wbuf_bytes(&b, ks->vault_id, KS_VAULT_ID_LEN);
	kmc_wbuf_u64(&b, ks->generation);
	kmc_wbuf_u8(&b, ks->n_slots);
	for (size_t i = 0; i < ks->n_slots; i++) {
		const ks_slot *s = &ks->slots[i];

		kmc_wbuf_u8(&b, s->id);
		kmc_wbuf_u8(&b, s->type);
		kmc_wbuf_u16(&b, s->params_len);
		kmc_wbuf_bytes(&b, s->params, s->params_len);
		kmc_wbuf_u16(&b, s->wrapped_len);
		kmc_wbuf_bytes(&b, s->wrapped, s->wrapped_len);
	}
	kmc_wbuf_u8(&b, ks->n_mks);
	kmc_wbuf_u32(&b, ks->active_mk);
	for (size_t i = 0; i < ks->n_mks; i++) {
		const ks_master_key *m = &ks->mks[i];

		kmc_wbuf_u32(&b, m->id);
		kmc_wbuf_u8(&b, m->flags);
		kmc_wbuf_u64(&b, (uint64_t)m->created);
		kmc_wbuf_bytes(&b, m->wrapped, KS_MK_WRAPPED_LEN);
	}
	mac = kmc_wbuf_reserve(&b, KMC_HASH_LEN);
	if (!mac)
		return b.err;
	KMC_GUARD(mac_key(key, rk));
	kmc_mac(mac, key, b.p, b.len - KMC_HASH_LEN);
	sum = kmc_wbuf_reserve(&b, KMC_HASH_LEN);
	if (!sum)
		return b.err;
	kmc_hash(sum, b.p, b.len - KMC_HASH_LEN);
	*ret_len = b.len;
	*ret = TAKE_PTR(b.p);
	return 0;
}

const ks_master_key *ks_find_mk(const keystore *ks, uint32_t id)
{
	for (size_t i = 0; i < ks->n_mks; i++)
		if (ks->mks[i].id == id)
			return &ks->mks[i];
	return NULL;
}

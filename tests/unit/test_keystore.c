/*
 * test_keystore.c - the keystore file format (vault/keystore.c).
 *
 * A file that ks_serialize() writes parses back to the same struct and
 * carries a MAC only the right root key verifies. Any damage is caught by
 * the checksum; damage with a recomputed checksum is caught by the
 * structure checks or, failing those, by the MAC.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "../../vault/keystore.h"

#define TRAILER (2 * KMC_HASH_LEN)
#define PARAMS_LEN 29
#define WRAPPED_LEN (KMC_KEY_LEN + KMC_SEAL_OVERHEAD)

/* Offsets of the fixed header. */
#define OFF_VERSION 8
#define OFF_FLAGS 10
#define OFF_VAULT_ID 12
#define OFF_GENERATION 28
#define OFF_N_SLOTS 36
#define OFF_SLOT0 37

typedef struct fixture {
	keystore *ks;
	uint8_t rk[KMC_KEY_LEN];
	uint8_t rk2[KMC_KEY_LEN];
	uint8_t *raw;
	size_t len;
} fixture;

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 29);
}

/* A keystore as kmc_vault_init() makes one: 1 slot, 1 master key. */
static void build_ks(keystore *ks, size_t n_slots)
{
	memset(ks, 0, sizeof(*ks));
	ks->format_version = KS_FORMAT_VERSION;
	fill(ks->vault_id, KS_VAULT_ID_LEN, 0x10);
	ks->generation = 0x0102030405060708ull;
	ks->n_slots = (uint8_t)n_slots;
	for (size_t i = 0; i < n_slots; i++) {
		ks_slot *s = &ks->slots[i];

		s->id = (uint8_t)(i + 1);
		s->type = KMC_PROTECTOR_PASSPHRASE;
		s->params_len = PARAMS_LEN;
		fill(s->params, PARAMS_LEN, (uint8_t)(0x20 + i));
		s->wrapped_len = WRAPPED_LEN;
		fill(s->wrapped, WRAPPED_LEN, (uint8_t)(0x30 + i));
	}
	ks->n_mks = 1;
	ks->active_mk = 1;
	ks->mks[0].id = 1;
	ks->mks[0].flags = 0;
	ks->mks[0].created = 1700000000;
	fill(ks->mks[0].wrapped, KS_MK_WRAPPED_LEN, 0x40);
}

/* Where the master-key section starts, for a struct built above. */
static size_t off_n_mks(size_t n_slots)
{
	return OFF_SLOT0 + n_slots * (1 + 1 + 2 + PARAMS_LEN + 2 + WRAPPED_LEN);
}

static void fix_checksum(uint8_t *raw, size_t len)
{
	kmc_hash(raw + len - KMC_HASH_LEN, raw, len - KMC_HASH_LEN);
}

static void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));

	if (!f || kmc_crypto_init() != 0)
		return -1;
	f->ks = malloc(sizeof(*f->ks));
	if (!f->ks)
		return -1;
	build_ks(f->ks, 1);
	kmc_random(f->rk, sizeof(f->rk));
	kmc_random(f->rk2, sizeof(f->rk2));
	if (ks_serialize(f->ks, f->rk, &f->raw, &f->len) != 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;

	if (f) {
		free(f->raw);
		free(f->ks);
		free(f);
	}
	return 0;
}

/* A private copy of the fixture's file, with room to grow. */
static uint8_t *copy_raw(const fixture *f, size_t extra)
{
	uint8_t *p = malloc(f->len + extra + 1);

	assert_non_null(p);
	memcpy(p, f->raw, f->len);
	return p;
}

static void assert_ks_equal(const keystore *a, const keystore *b)
{
	assert_int_equal(a->format_version, b->format_version);
	assert_memory_equal(a->vault_id, b->vault_id, KS_VAULT_ID_LEN);
	assert_true(a->generation == b->generation);
	assert_int_equal(a->n_slots, b->n_slots);
	for (size_t i = 0; i < a->n_slots; i++) {
		const ks_slot *x = &a->slots[i], *y = &b->slots[i];

		assert_int_equal(x->id, y->id);
		assert_int_equal(x->type, y->type);
		assert_int_equal(x->params_len, y->params_len);
		assert_memory_equal(x->params, y->params, x->params_len);
		assert_int_equal(x->wrapped_len, y->wrapped_len);
		assert_memory_equal(x->wrapped, y->wrapped, x->wrapped_len);
	}
	assert_int_equal(a->n_mks, b->n_mks);
	assert_int_equal(a->active_mk, b->active_mk);
	for (size_t i = 0; i < a->n_mks; i++) {
		const ks_master_key *x = &a->mks[i], *y = &b->mks[i];

		assert_int_equal(x->id, y->id);
		assert_int_equal(x->flags, y->flags);
		assert_true(x->created == y->created);
		assert_memory_equal(x->wrapped, y->wrapped, KS_MK_WRAPPED_LEN);
	}
}

/* ---- round trip ---------------------------------------------------- */

static void test_serialize_layout(void **state)
{
	fixture *f = *state;

	assert_int_equal(f->len, off_n_mks(1) + 1 + 4 +
		(4 + 1 + 8 + KS_MK_WRAPPED_LEN) + TRAILER);
	assert_memory_equal(f->raw, KS_MAGIC, 8);
	assert_int_equal(f->raw[OFF_VERSION], 0);
	assert_int_equal(f->raw[OFF_VERSION + 1], KS_FORMAT_VERSION);
	assert_int_equal(f->raw[OFF_FLAGS], 0);
	assert_int_equal(f->raw[OFF_FLAGS + 1], 0);
	assert_memory_equal(f->raw + OFF_VAULT_ID, f->ks->vault_id,
		KS_VAULT_ID_LEN);
	/* Big-endian generation. */
	assert_int_equal(f->raw[OFF_GENERATION], 0x01);
	assert_int_equal(f->raw[OFF_GENERATION + 7], 0x08);
	assert_int_equal(f->raw[OFF_N_SLOTS], 1);
	assert_int_equal(f->raw[OFF_SLOT0], 1);
	assert_int_equal(f->raw[off_n_mks(1)], 1);
}

static void test_parse_roundtrip(void **state)
{
	fixture *f = *state;
	keystore *ks = malloc(sizeof(*ks));

	assert_non_null(ks);
	memset(ks, 0xee, sizeof(*ks));
	assert_int_equal(ks_parse(f->raw, f->len, ks), 0);
	assert_ks_equal(ks, f->ks);
	/* Nothing else left over from before the parse either. */
	assert_memory_equal(ks, f->ks, sizeof(*ks));
	free(ks);
}

/*
 * ks_parse_used() (the open's parse) into memory full of other bytes:
 * everything the file holds is read as ks_parse() reads it (every used
 * entry whole, padding too), the same file comes out of it again, and
 * the bytes past the counts are left alone, which is its point.
 */
static void test_parse_used(void **state)
{
	keystore *ks = malloc(sizeof(*ks)), *want = malloc(sizeof(*want));
	uint8_t rk[KMC_KEY_LEN], *raw = NULL;
	size_t len = 0;

	assert_non_null(ks);
	assert_non_null(want);
	build_ks(want, 3);
	kmc_random(rk, sizeof(rk));
	assert_int_equal(ks_serialize(want, rk, &raw, &len), 0);
	assert_int_equal(ks_parse(raw, len, want), 0);
	memset(ks, 0xee, sizeof(*ks));
	assert_int_equal(ks_parse_used(raw, len, ks), 0);
	assert_ks_equal(ks, want);
	assert_memory_equal(ks, want, offsetof(keystore, slots));
	assert_memory_equal(ks->slots, want->slots, 3 * sizeof(ks->slots[0]));
	assert_memory_equal(&ks->n_mks, &want->n_mks, offsetof(keystore, mks) -
		offsetof(keystore, n_mks));
	assert_memory_equal(ks->mks, want->mks, want->n_mks * sizeof(ks->mks[0]));
	assert_int_equal(ks->slots[3].params[0], 0xee);
	assert_int_equal(ks->slots[KMC_MAX_PROTECTORS - 1].wrapped[0], 0xee);
	/* The negative twin: damage is refused as ks_parse() refuses it. */
	raw[len / 2] ^= 1;
	assert_int_equal(ks_parse_used(raw, len, ks), KMC_E_CORRUPT);
	free(raw);
	(void)state;
	free(want);
	free(ks);
}

static void test_roundtrip_full_struct(void **state)
{
	keystore *ks = malloc(sizeof(*ks)), *back = malloc(sizeof(*back));
	uint8_t rk[KMC_KEY_LEN], *raw = NULL;
	size_t len = 0;

	(void)state;
	assert_non_null(ks);
	assert_non_null(back);
	/* Every slot and master key, a retired key and a negative time. */
	build_ks(ks, KMC_MAX_PROTECTORS);
	ks->n_mks = KMC_MAX_MASTER_KEYS;
	for (size_t i = 0; i < KMC_MAX_MASTER_KEYS; i++) {
		ks->mks[i].id = (uint32_t)(0xfffffff0u - i);
		ks->mks[i].flags = (i % 2) ? KS_MK_RETIRED : 0;
		ks->mks[i].created = (i == 3) ? -1 : (int64_t)i * 1000;
		fill(ks->mks[i].wrapped, KS_MK_WRAPPED_LEN, (uint8_t)i);
	}
	ks->active_mk = ks->mks[0].id;
	ks->slots[5].type = 200;	/* unknown types are kept verbatim */
	ks->slots[6].params_len = 0;
	memset(ks->slots[6].params, 0, sizeof(ks->slots[6].params));
	kmc_random(rk, sizeof(rk));
	assert_int_equal(ks_serialize(ks, rk, &raw, &len), 0);
	assert_true(len <= KS_FILE_MAX);
	assert_int_equal(ks_parse(raw, len, back), 0);
	assert_ks_equal(back, ks);
	assert_int_equal(ks_verify_mac(raw, len, rk), 0);
	free(raw);
	free(back);
	free(ks);
}

static void test_serialize_deterministic(void **state)
{
	fixture *f = *state;
	uint8_t *raw = NULL, *raw2 = NULL;
	size_t len = 0, len2 = 0;

	assert_int_equal(ks_serialize(f->ks, f->rk, &raw, &len), 0);
	assert_int_equal(len, f->len);
	assert_memory_equal(raw, f->raw, len);
	/* Another root key changes the MAC (and so the checksum) only. */
	assert_int_equal(ks_serialize(f->ks, f->rk2, &raw2, &len2), 0);
	assert_int_equal(len2, len);
	assert_memory_equal(raw2, raw, len - TRAILER);
	assert_memory_not_equal(raw2 + len - TRAILER, raw + len - TRAILER,
		KMC_HASH_LEN);
	assert_memory_not_equal(raw2 + len - KMC_HASH_LEN,
		raw + len - KMC_HASH_LEN, KMC_HASH_LEN);
	free(raw);
	free(raw2);
}

static void test_verify_mac(void **state)
{
	fixture *f = *state;
	uint8_t rk[KMC_KEY_LEN];

	assert_int_equal(ks_verify_mac(f->raw, f->len, f->rk), 0);
	assert_int_equal(ks_verify_mac(f->raw, f->len, f->rk2), KMC_E_AUTH);
	/* One bit off in the root key. */
	for (size_t i = 0; i < KMC_KEY_LEN; i++) {
		memcpy(rk, f->rk, sizeof(rk));
		rk[i] ^= 0x01;
		assert_int_equal(ks_verify_mac(f->raw, f->len, rk), KMC_E_AUTH);
	}
	/* Too short to hold a MAC and a checksum. */
	assert_int_equal(ks_verify_mac(f->raw, TRAILER, f->rk), KMC_E_CORRUPT);
	assert_int_equal(ks_verify_mac(f->raw, 0, f->rk), KMC_E_CORRUPT);
}

static void test_find_mk(void **state)
{
	fixture *f = *state;

	assert_ptr_equal(ks_find_mk(f->ks, 1), &f->ks->mks[0]);
	assert_null(ks_find_mk(f->ks, 2));
	assert_null(ks_find_mk(f->ks, 0));
}

/* ---- damage -------------------------------------------------------- */

static void test_any_flipped_byte_fails_checksum(void **state)
{
	static const uint8_t masks[] = { 0x01, 0x80, 0xff };
	fixture *f = *state;
	uint8_t *raw = copy_raw(f, 0);
	keystore *ks = malloc(sizeof(*ks));

	assert_non_null(ks);
	for (size_t i = 0; i < f->len; i++) {
		for (size_t m = 0; m < sizeof(masks); m++) {
			int want = KMC_E_CORRUPT;

			raw[i] ^= masks[m];
			/* A higher version is read before the checksum: it is
			   refused as newer, never repaired from an older twin. */
			if ((i == OFF_VERSION || i == OFF_VERSION + 1) &&
			    (raw[OFF_VERSION] << 8 | raw[OFF_VERSION + 1]) >
			    KS_FORMAT_VERSION)
				want = KMC_E_VERSION;
			assert_int_equal(ks_parse(raw, f->len, ks), want);
			raw[i] ^= masks[m];
		}
	}
	/* The twin: the restored file parses. */
	assert_int_equal(ks_parse(raw, f->len, ks), 0);
	free(ks);
	free(raw);
}

/*
 * A forger who recomputes the checksum: the parser may accept some
 * changes (ids, generation, wrapped keys), the MAC must refuse them all.
 */
static void test_flip_with_fixed_checksum_fails_mac(void **state)
{
	fixture *f = *state;
	uint8_t *raw = copy_raw(f, 0);
	keystore *ks = malloc(sizeof(*ks));
	size_t accepted = 0;

	assert_non_null(ks);
	for (size_t i = 0; i < f->len - KMC_HASH_LEN; i++) {
		for (int bit = 0; bit < 8; bit++) {
			int r;

			raw[i] ^= (uint8_t)(1u << bit);
			fix_checksum(raw, f->len);
			r = ks_parse(raw, f->len, ks);
			if (r == 0) {
				accepted++;
				assert_int_equal(ks_verify_mac(raw, f->len, f->rk),
					KMC_E_AUTH);
			} else {
				assert_true(r == KMC_E_CORRUPT ||
					r == KMC_E_VERSION);
			}
			raw[i] ^= (uint8_t)(1u << bit);
		}
	}
	/* The vault id alone is 128 bits the parser cannot judge. */
	assert_true(accepted >= 8 * KS_VAULT_ID_LEN);
	fix_checksum(raw, f->len);
	assert_memory_equal(raw, f->raw, f->len);
	assert_int_equal(ks_parse(raw, f->len, ks), 0);
	assert_int_equal(ks_verify_mac(raw, f->len, f->rk), 0);
	free(ks);
	free(raw);
}

static void test_truncated(void **state)
{
	fixture *f = *state;
	uint8_t *raw = copy_raw(f, 0);
	keystore *ks = malloc(sizeof(*ks));

	assert_non_null(ks);
	for (size_t n = 0; n < f->len; n++)
		assert_int_equal(ks_parse(f->raw, n, ks), KMC_E_CORRUPT);
	/* Shortened inside, with a valid checksum over what is left. */
	for (size_t cut = 1; cut <= f->len - TRAILER - 8; cut++) {
		size_t n = f->len - cut;

		int want = KMC_E_CORRUPT;

		memcpy(raw, f->raw, n - TRAILER);
		memcpy(raw + n - TRAILER, f->raw + f->len - TRAILER, TRAILER);
		fix_checksum(raw, n);
		/* Cut to the header, the trailer lands on the version field:
		   a version it makes newer is read first, as any is. */
		if ((raw[OFF_VERSION] << 8 | raw[OFF_VERSION + 1]) >
		    KS_FORMAT_VERSION)
			want = KMC_E_VERSION;
		assert_int_equal(ks_parse(raw, n, ks), want);
	}
	free(ks);
	free(raw);
}

static void test_trailing_bytes(void **state)
{
	fixture *f = *state;
	uint8_t *raw = copy_raw(f, 16);
	keystore *ks = malloc(sizeof(*ks));

	assert_non_null(ks);
	/* After the checksum. */
	for (size_t extra = 1; extra <= 16; extra++) {
		memset(raw + f->len, 0, extra);
		assert_int_equal(ks_parse(raw, f->len + extra, ks),
			KMC_E_CORRUPT);
	}
	/* Before the trailer, with MAC and checksum moved and recomputed. */
	for (size_t extra = 1; extra <= 16; extra++) {
		size_t n = f->len + extra;

		memcpy(raw, f->raw, f->len - TRAILER);
		memset(raw + f->len - TRAILER, 0, extra);
		memcpy(raw + n - TRAILER, f->raw + f->len - TRAILER, TRAILER);
		fix_checksum(raw, n);
		assert_int_equal(ks_parse(raw, n, ks), KMC_E_CORRUPT);
	}
	/* The twin: the file itself. */
	assert_int_equal(ks_parse(f->raw, f->len, ks), 0);
	free(ks);
	free(raw);
}

static void test_too_large(void **state)
{
	fixture *f = *state;
	uint8_t *raw = calloc(1, KS_FILE_MAX + 1);
	keystore *ks = malloc(sizeof(*ks));

	assert_non_null(raw);
	assert_non_null(ks);
	memcpy(raw, f->raw, f->len);
	fix_checksum(raw, KS_FILE_MAX + 1);
	assert_int_equal(ks_parse(raw, KS_FILE_MAX + 1, ks), KMC_E_CORRUPT);
	free(ks);
	free(raw);
}

/* The version is read before the length it governs: a newer keystore
   of any length (a newer format may be larger than this one allows, or
   smaller) is newer, never damage its older twin would repair. */
static void test_newer_any_length(void **state)
{
	fixture *f = *state;
	uint8_t *raw = calloc(1, KS_FILE_MAX + 1);
	keystore *ks = malloc(sizeof(*ks));

	assert_non_null(raw);
	assert_non_null(ks);
	memcpy(raw, f->raw, f->len);
	raw[OFF_VERSION] = 0;
	raw[OFF_VERSION + 1] = KS_FORMAT_VERSION + 1;
	assert_int_equal(ks_parse(raw, KS_FILE_MAX + 1, ks), KMC_E_VERSION);
	assert_int_equal(ks->format_version, KS_FORMAT_VERSION + 1);
	assert_int_equal(ks_parse(raw, 10, ks), KMC_E_VERSION);
	assert_int_equal(ks_parse(raw, TRAILER + 10, ks), KMC_E_VERSION);
	assert_int_equal(ks_parse(raw, 9, ks), KMC_E_CORRUPT);
	free(ks);
	free(raw);
}

/* Change bytes at off, fix the checksum and expect err from ks_parse. */
static void expect_patched(const fixture *f, size_t off, const uint8_t *bytes,
	size_t n, int err)
{
	uint8_t *raw = copy_raw(f, 0);
	keystore *ks = malloc(sizeof(*ks));

	assert_non_null(ks);
	assert_true(off + n <= f->len - TRAILER);
	memcpy(raw + off, bytes, n);
	fix_checksum(raw, f->len);
	assert_int_equal(ks_parse(raw, f->len, ks), err);
	free(ks);
	free(raw);
}

static void test_wrong_magic(void **state)
{
	fixture *f = *state;

	expect_patched(f, 0, (const uint8_t *)"KMCKSTOX", 8, KMC_E_CORRUPT);
	expect_patched(f, 0, (const uint8_t *)"kmckstor", 8, KMC_E_CORRUPT);
	expect_patched(f, 0, (const uint8_t *)"\0\0\0\0\0\0\0\0", 8,
		KMC_E_CORRUPT);
	/* The twin: the right magic, rewritten, parses. */
	expect_patched(f, 0, (const uint8_t *)KS_MAGIC, 8, 0);
}

static void test_version(void **state)
{
	fixture *f = *state;

	expect_patched(f, OFF_VERSION, (const uint8_t *)"\0\2", 2,
		KMC_E_VERSION);
	expect_patched(f, OFF_VERSION, (const uint8_t *)"\0\0", 2,
		KMC_E_VERSION);
	expect_patched(f, OFF_VERSION, (const uint8_t *)"\1\1", 2,
		KMC_E_VERSION);
	expect_patched(f, OFF_VERSION, (const uint8_t *)"\xff\xff", 2,
		KMC_E_VERSION);
	/* Unknown flag bits are a newer format as well. */
	expect_patched(f, OFF_FLAGS, (const uint8_t *)"\0\1", 2,
		KMC_E_VERSION);
	expect_patched(f, OFF_FLAGS, (const uint8_t *)"\x80\0", 2,
		KMC_E_VERSION);
	expect_patched(f, OFF_VERSION, (const uint8_t *)"\0\1\0\0", 4, 0);
}

static void test_slot_count(void **state)
{
	fixture *f = *state;

	expect_patched(f, OFF_N_SLOTS, (const uint8_t *)"\0", 1, KMC_E_CORRUPT);
	expect_patched(f, OFF_N_SLOTS, (const uint8_t *)"\2", 1, KMC_E_CORRUPT);
	expect_patched(f, OFF_N_SLOTS, (const uint8_t *)"\x11", 1,
		KMC_E_CORRUPT);
	expect_patched(f, OFF_N_SLOTS, (const uint8_t *)"\xff", 1,
		KMC_E_CORRUPT);
	expect_patched(f, OFF_N_SLOTS, (const uint8_t *)"\1", 1, 0);
}

static void test_slot_fields(void **state)
{
	fixture *f = *state;

	/* Slot id 0. */
	expect_patched(f, OFF_SLOT0, (const uint8_t *)"\0", 1, KMC_E_CORRUPT);
	/* params_len beyond the maximum, and one off either way. */
	expect_patched(f, OFF_SLOT0 + 2, (const uint8_t *)"\x04\x01", 2,
		KMC_E_CORRUPT);
	expect_patched(f, OFF_SLOT0 + 2, (const uint8_t *)"\0\x1c", 2,
		KMC_E_CORRUPT);
	expect_patched(f, OFF_SLOT0 + 2, (const uint8_t *)"\0\x1e", 2,
		KMC_E_CORRUPT);
	/* wrapped_len one off. */
	expect_patched(f, OFF_SLOT0 + 4 + PARAMS_LEN, (const uint8_t *)"\0\x47",
		2, KMC_E_CORRUPT);
	expect_patched(f, OFF_SLOT0 + 4 + PARAMS_LEN, (const uint8_t *)"\0\x49",
		2, KMC_E_CORRUPT);
	expect_patched(f, OFF_SLOT0 + 4 + PARAMS_LEN, (const uint8_t *)"\xff\xff",
		2, KMC_E_CORRUPT);
	/* Another slot id, or type: still a valid structure. */
	expect_patched(f, OFF_SLOT0, (const uint8_t *)"\xff\x07", 2, 0);
}

static void test_duplicate_slot_ids(void **state)
{
	keystore *ks = malloc(sizeof(*ks)), *back = malloc(sizeof(*back));
	uint8_t rk[KMC_KEY_LEN] = { 1 }, *raw = NULL;
	size_t len = 0, second = OFF_SLOT0 + (off_n_mks(1) - OFF_SLOT0);

	(void)state;
	assert_non_null(ks);
	assert_non_null(back);
	build_ks(ks, 2);
	assert_int_equal(ks_serialize(ks, rk, &raw, &len), 0);
	assert_int_equal(ks_parse(raw, len, back), 0);
	assert_int_equal(raw[second], 2);
	raw[second] = 1;
	fix_checksum(raw, len);
	assert_int_equal(ks_parse(raw, len, back), KMC_E_CORRUPT);
	free(raw);
	free(back);
	free(ks);
}

static void test_master_keys(void **state)
{
	fixture *f = *state;
	size_t n_mks = off_n_mks(1), active = n_mks + 1, mk0 = n_mks + 5;
	uint8_t be[4];

	expect_patched(f, n_mks, (const uint8_t *)"\0", 1, KMC_E_CORRUPT);
	expect_patched(f, n_mks, (const uint8_t *)"\x41", 1, KMC_E_CORRUPT);
	expect_patched(f, n_mks, (const uint8_t *)"\2", 1, KMC_E_CORRUPT);
	/* The active master key is not among them. */
	put_u32(be, 2);
	expect_patched(f, active, be, 4, KMC_E_CORRUPT);
	put_u32(be, 0);
	expect_patched(f, active, be, 4, KMC_E_CORRUPT);
	put_u32(be, 0x01000001u);
	expect_patched(f, active, be, 4, KMC_E_CORRUPT);
	/* Master key id 0, and an id the active one does not name. */
	put_u32(be, 0);
	expect_patched(f, mk0, be, 4, KMC_E_CORRUPT);
	put_u32(be, 7);
	expect_patched(f, mk0, be, 4, KMC_E_CORRUPT);
	/* The active master key retired; unknown flag bits. */
	expect_patched(f, mk0 + 4, (const uint8_t *)"\1", 1, KMC_E_CORRUPT);
	expect_patched(f, mk0 + 4, (const uint8_t *)"\2", 1, KMC_E_CORRUPT);
	expect_patched(f, mk0 + 4, (const uint8_t *)"\x80", 1, KMC_E_CORRUPT);
	/* The twin: both ids changed together still parse. */
	{
		uint8_t *raw = copy_raw(f, 0);
		keystore *ks = malloc(sizeof(*ks));

		assert_non_null(ks);
		put_u32(raw + active, 9);
		put_u32(raw + mk0, 9);
		fix_checksum(raw, f->len);
		assert_int_equal(ks_parse(raw, f->len, ks), 0);
		assert_int_equal(ks->active_mk, 9);
		assert_int_equal(ks->mks[0].id, 9);
		/* ...and the MAC catches it. */
		assert_int_equal(ks_verify_mac(raw, f->len, f->rk), KMC_E_AUTH);
		free(ks);
		free(raw);
	}
}

static void test_duplicate_mk_ids(void **state)
{
	keystore *ks = malloc(sizeof(*ks)), *back = malloc(sizeof(*back));
	uint8_t rk[KMC_KEY_LEN] = { 2 }, *raw = NULL;
	size_t len = 0, mk1;

	(void)state;
	assert_non_null(ks);
	assert_non_null(back);
	build_ks(ks, 1);
	ks->n_mks = 2;
	ks->mks[1] = ks->mks[0];
	ks->mks[1].id = 2;
	assert_int_equal(ks_serialize(ks, rk, &raw, &len), 0);
	assert_int_equal(ks_parse(raw, len, back), 0);
	mk1 = off_n_mks(1) + 5 + (4 + 1 + 8 + KS_MK_WRAPPED_LEN);
	assert_int_equal(raw[mk1 + 3], 2);
	raw[mk1 + 3] = 1;
	fix_checksum(raw, len);
	assert_int_equal(ks_parse(raw, len, back), KMC_E_CORRUPT);
	free(raw);
	free(back);
	free(ks);
}

/* ---- ks_serialize refuses broken structs -------------------------- */

static void expect_refused(keystore *ks, const uint8_t rk[KMC_KEY_LEN])
{
	uint8_t *raw = (uint8_t *)"untouched";
	size_t len = 12345;

	assert_int_equal(ks_serialize(ks, rk, &raw, &len), KMC_E_INVALID);
	assert_string_equal((const char *)raw, "untouched");
	assert_int_equal(len, 12345);
}

static void test_serialize_refuses_invalid(void **state)
{
	fixture *f = *state;
	keystore *ks = malloc(sizeof(*ks));
	uint8_t *raw = NULL;
	size_t len = 0;

	assert_non_null(ks);
#define BREAK(stmt) \
	do { \
		memcpy(ks, f->ks, sizeof(*ks)); \
		stmt; \
		expect_refused(ks, f->rk); \
	} while (0)

	BREAK(ks->n_slots = 0);
	BREAK(ks->n_slots = KMC_MAX_PROTECTORS + 1);
	BREAK(ks->slots[0].id = 0);
	BREAK(ks->slots[0].params_len = KS_PARAMS_MAX + 1);
	BREAK(ks->slots[0].wrapped_len = KS_WRAPPED_MAX + 1);
	BREAK((ks->n_slots = 2, ks->slots[1] = ks->slots[0]));
	BREAK(ks->n_mks = 0);
	BREAK(ks->n_mks = KMC_MAX_MASTER_KEYS + 1);
	BREAK(ks->mks[0].id = 0);
	BREAK(ks->active_mk = 2);
	BREAK(ks->active_mk = 0);
	BREAK(ks->mks[0].flags = KS_MK_RETIRED);
	BREAK(ks->mks[0].flags = 0x02);
	BREAK((ks->n_mks = 2, ks->mks[1] = ks->mks[0]));
	/* A retired key beside the active one is fine... */
	memcpy(ks, f->ks, sizeof(*ks));
	ks->n_mks = 2;
	ks->mks[1] = ks->mks[0];
	ks->mks[1].id = 2;
	ks->mks[1].flags = KS_MK_RETIRED;
	assert_int_equal(ks_serialize(ks, f->rk, &raw, &len), 0);
	free(raw);
	/* ...and the fixture itself serializes. */
	memcpy(ks, f->ks, sizeof(*ks));
	assert_int_equal(ks_serialize(ks, f->rk, &raw, &len), 0);
	free(raw);
#undef BREAK
	free(ks);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_serialize_layout),
		T(test_parse_roundtrip),
		cmocka_unit_test(test_parse_used),
		cmocka_unit_test(test_roundtrip_full_struct),
		T(test_serialize_deterministic),
		T(test_verify_mac),
		T(test_find_mk),
		T(test_any_flipped_byte_fails_checksum),
		T(test_flip_with_fixed_checksum_fails_mac),
		T(test_truncated),
		T(test_trailing_bytes),
		T(test_too_large),
		T(test_newer_any_length),
		T(test_wrong_magic),
		T(test_version),
		T(test_slot_count),
		T(test_slot_fields),
		cmocka_unit_test(test_duplicate_slot_ids),
		T(test_master_keys),
		cmocka_unit_test(test_duplicate_mk_ids),
		T(test_serialize_refuses_invalid),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}

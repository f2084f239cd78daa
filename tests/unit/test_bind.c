/*
 * test_bind.c - the binding format (vault/bind.c, kmc.bind).
 *
 * What bind_serialize() writes bind_parse() reads back and
 * bind_verify_mac() accepts under its key only; a flipped byte anywhere
 * fails the MAC; other lengths, magics and flag bits are damage
 * (KMC_E_CORRUPT), another format version is KMC_E_VERSION.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "../../vault/bind.h"

static const uint8_t key[KMC_KEY_LEN] = { 7, 7, 7 };

static void sample(bind_state *b)
{
	memset(b, 0, sizeof(*b));
	b->flags = BIND_FLAG_NEXT;
	memset(b->vault_id, 0xa5, sizeof(b->vault_id));
	b->ks_gen = 3;
	memset(b->ks_digest, 1, 32);
	b->gen = 41;
	memset(b->root, 2, 32);
	b->next_gen = 42;
	memset(b->next_root, 3, 32);
	b->audit_seq = 9;
	memset(b->audit_hash, 4, 32);
	b->places = BIND_PLACE_HOST;
}

static void test_round_trip(void **state)
{
	uint8_t raw[BIND_FILE_LEN];
	bind_state b, back;

	(void)state;
	sample(&b);
	bind_serialize(&b, key, raw);
	assert_memory_equal(raw, "KMCBIND", 8);
	assert_int_equal(bind_parse(raw, sizeof(raw), &back), 0);
	assert_memory_equal(&b, &back, sizeof(b));
	assert_int_equal(bind_verify_mac(raw, sizeof(raw), key), 0);
}

static void test_other_key(void **state)
{
	uint8_t raw[BIND_FILE_LEN], other[KMC_KEY_LEN] = { 7, 7, 8 };
	bind_state b;

	(void)state;
	sample(&b);
	bind_serialize(&b, key, raw);
	assert_int_equal(bind_verify_mac(raw, sizeof(raw), other), KMC_E_AUTH);
}

static void test_every_byte_flipped(void **state)
{
	uint8_t raw[BIND_FILE_LEN];
	bind_state b;

	(void)state;
	sample(&b);
	bind_serialize(&b, key, raw);
	for (size_t i = 0; i < sizeof(raw); i++) {
		raw[i] ^= 0x01;
		assert_int_equal(bind_verify_mac(raw, sizeof(raw), key),
			KMC_E_AUTH);
		raw[i] ^= 0x01;
	}
}

static void test_damage(void **state)
{
	uint8_t raw[BIND_FILE_LEN + 1];
	bind_state b, back;

	(void)state;
	sample(&b);
	bind_serialize(&b, key, raw);
	raw[BIND_FILE_LEN] = 0;
	assert_int_equal(bind_parse(raw, BIND_FILE_LEN - 1, &back),
		KMC_E_CORRUPT);
	assert_int_equal(bind_parse(raw, BIND_FILE_LEN + 1, &back),
		KMC_E_CORRUPT);
	assert_int_equal(bind_parse(raw, 0, &back), KMC_E_CORRUPT);
	raw[0] ^= 0x20;
	assert_int_equal(bind_parse(raw, BIND_FILE_LEN, &back), KMC_E_CORRUPT);
	raw[0] ^= 0x20;
	raw[11] |= 0x04;	/* an unknown flag */
	assert_int_equal(bind_parse(raw, BIND_FILE_LEN, &back), KMC_E_CORRUPT);
	raw[11] &= (uint8_t)~0x04;
	raw[9] = 2;		/* format 2 */
	assert_int_equal(bind_parse(raw, BIND_FILE_LEN, &back), KMC_E_VERSION);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_other_key),
		cmocka_unit_test(test_every_byte_flipped),
		cmocka_unit_test(test_damage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_bind.c - the binding format (vault/bind.c, kmc.bind).
 *
 * What bind_serialize() writes bind_parse() reads back and
 * bind_verify_mac() accepts under its key only; a flipped byte anywhere
 * fails the MAC; other lengths, magics and flag bits are damage
 * (KMC_E_CORRUPT), a higher format version is KMC_E_VERSION, whatever
 * the length, and format 0, which no kmcvault wrote, damage.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../vault/vault.h"
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
	/* The version is read before the length it governs: a newer
	   binding of another length is newer, not damaged. */
	assert_int_equal(bind_parse(raw, BIND_FILE_LEN + 1, &back),
		KMC_E_VERSION);
	assert_int_equal(bind_parse(raw, BIND_FILE_LEN - 1, &back),
		KMC_E_VERSION);
	assert_int_equal(bind_parse(raw, 10, &back), KMC_E_VERSION);
	assert_int_equal(bind_parse(raw, 9, &back), KMC_E_CORRUPT);
	raw[9] = 0;		/* format 0: no kmcvault wrote it */
	assert_int_equal(bind_parse(raw, BIND_FILE_LEN, &back), KMC_E_CORRUPT);
	assert_int_equal(bind_parse(raw, BIND_FILE_LEN + 1, &back),
		KMC_E_CORRUPT);
	raw[8] = 1;		/* format 256 */
	assert_int_equal(bind_parse(raw, BIND_FILE_LEN, &back), KMC_E_VERSION);
}

/* The place's names, built into one allocation of their own size: what
   the messages name, and the old limits (a state file path of 4,199
   characters, a URI of 2,048) kept. */
static void test_place_names(void **state)
{
	static const uint8_t id[KS_VAULT_ID_LEN] = { 0xab, 0xcd };
	char hex[2 * KS_VAULT_ID_LEN + 1], want[200], *path;
	bind_place p;

	(void)state;
	vault_hex(id, KS_VAULT_ID_LEN, hex);
	assert_int_equal(bind_place_host(&p, "/etc/kmc/host.key", id), 0);
	assert_int_equal(p.kind, BIND_PLACE_HOST);
	assert_int_equal(p.dirfd, -1);
	assert_string_equal(p.dir, "/etc/kmc");
	snprintf(want, sizeof(want), "kmcstate-%s", hex);
	assert_string_equal(p.name, want);
	snprintf(want, sizeof(want), "/etc/kmc/kmcstate-%s", hex);
	assert_string_equal(p.show, want);
	snprintf(want, sizeof(want), "the state file /etc/kmc/kmcstate-%s", hex);
	assert_string_equal(p.what, want);
	assert_string_equal(p.uri, "");
	bind_place_free(&p);
	bind_place_free(&p);

	assert_int_equal(bind_place_token(&p, "pkcs11:token=t", NULL, id), 0);
	assert_int_equal(p.kind, BIND_PLACE_TOKEN);
	snprintf(want, sizeof(want), "kmcvault-counter-%s", hex);
	assert_string_equal(p.name, want);
	assert_string_equal(p.show, want);
	snprintf(want, sizeof(want), "the counter object kmcvault-counter-%s "
		"on the token", hex);
	assert_string_equal(p.what, want);
	assert_string_equal(p.uri, "pkcs11:token=t");
	assert_string_equal(p.dir, "");
	bind_place_free(&p);

	/* The host key's path as long as a path may be (4,095: its folder
	   4,086), and one longer refused; a URI of 2,048 characters, and one longer. */
	path = malloc(5000);
	assert_non_null(path);
	memset(path, 'd', 4999);
	path[0] = '/';
	memcpy(path + 4086, "/host.key", 10);
	assert_int_equal(bind_place_host(&p, path, id), 0);
	assert_int_equal(strlen(p.dir), 4086);
	assert_int_equal(strlen(p.show), 4086 + 1 + 41);
	bind_place_free(&p);
	memset(path, 'd', 4999);
	path[0] = '/';
	memcpy(path + 4087, "/host.key", 10);
	assert_int_equal(bind_place_host(&p, path, id), KMC_E_TOO_LARGE);
	bind_place_free(&p);
	memset(path, 'u', 2048);
	memcpy(path, "pkcs11:", 7);
	path[2048] = 0;
	assert_int_equal(bind_place_token(&p, path, NULL, id), 0);
	assert_int_equal(strlen(p.uri), 2048);
	bind_place_free(&p);
	path[2048] = 'u';
	path[2049] = 0;
	assert_int_equal(bind_place_token(&p, path, NULL, id), KMC_E_TOO_LARGE);
	bind_place_free(&p);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_place_names),
		cmocka_unit_test(test_other_key),
		cmocka_unit_test(test_every_byte_flipped),
		cmocka_unit_test(test_damage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

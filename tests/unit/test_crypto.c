/*
 * test_crypto.c - the sealing, key derivation and hashing primitives
 * (kmc/crypto.c).
 *
 * Every successful open has negative twins: one flipped bit in the nonce,
 * the ciphertext, the tag or the associated data, or another key, fails
 * with KMC_E_AUTH and leaves the output buffer exactly as it was.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "../../kmc/crypto.h"

#define PT_LEN 45
#define PATTERN 0xa5

static const uint8_t key1[KMC_KEY_LEN] = {
	1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
	17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32,
};
static const uint8_t ad1[] = "kmcvault/test/v1 associated data";
static const uint8_t pt1[PT_LEN] = "the quick brown fox jumps over the lazy dog";

static int group_setup(void **state)
{
	(void)state;
	return kmc_crypto_init() == 0 ? 0 : -1;
}

static void seal1(uint8_t out[PT_LEN + KMC_SEAL_OVERHEAD])
{
	assert_int_equal(kmc_seal(key1, ad1, sizeof(ad1), pt1, PT_LEN, out), 0);
}

/*
 * How many bytes of p hold neither the fill pattern nor zero: libsodium
 * zeroes the output of a failed open, which is allowed; plaintext is not.
 */
static size_t touched(const uint8_t *p, size_t n)
{
	size_t c = 0;

	for (size_t i = 0; i < n; i++)
		c += p[i] != PATTERN && p[i] != 0;
	return c;
}

static void assert_pattern(const uint8_t *p, size_t n)
{
	size_t c = touched(p, n);

	if (c)
		fail_msg("a failed open wrote %zu of %zu bytes of out", c, n);
}

/*
 * kmc_open must fail with KMC_E_AUTH; returns 1 if it wrote to out. The
 * caller checks the count at the end, so every case is checked for its
 * return code even when the output check fails.
 */
static int open_auth_fails(const uint8_t key[KMC_KEY_LEN], const uint8_t *ad,
	size_t adlen, const uint8_t *blob, size_t n)
{
	uint8_t out[256];

	assert_true(n - KMC_SEAL_OVERHEAD <= sizeof(out));
	memset(out, PATTERN, sizeof(out));
	assert_int_equal(kmc_open(key, ad, adlen, blob, n, out), KMC_E_AUTH);
	return touched(out, sizeof(out)) != 0;
}

static void assert_none_touched(int n_touched, int n_cases)
{
	if (n_touched)
		fail_msg("%d of %d failed opens wrote to the output buffer "
			"(kmc_open promises nothing is written unless the tag "
			"checks)", n_touched, n_cases);
}

/* ---- seal / open ------------------------------------------------ */

static void test_seal_open_roundtrip(void **state)
{
	uint8_t blob[PT_LEN + KMC_SEAL_OVERHEAD];
	uint8_t out[PT_LEN];

	(void)state;
	seal1(blob);
	/* The ciphertext is not the plaintext. */
	assert_memory_not_equal(blob + KMC_NONCE_LEN, pt1, PT_LEN);
	memset(out, PATTERN, sizeof(out));
	assert_int_equal(kmc_open(key1, ad1, sizeof(ad1), blob, sizeof(blob),
		out), 0);
	assert_memory_equal(out, pt1, PT_LEN);
}

static void test_seal_fresh_nonce(void **state)
{
	uint8_t a[PT_LEN + KMC_SEAL_OVERHEAD], b[PT_LEN + KMC_SEAL_OVERHEAD];

	(void)state;
	seal1(a);
	seal1(b);
	assert_memory_not_equal(a, b, KMC_NONCE_LEN);
	assert_memory_not_equal(a + KMC_NONCE_LEN, b + KMC_NONCE_LEN,
		PT_LEN + KMC_TAG_LEN);
}

static void test_seal_open_empty_and_no_ad(void **state)
{
	uint8_t blob[KMC_SEAL_OVERHEAD];
	uint8_t out[1] = { PATTERN };

	(void)state;
	assert_int_equal(kmc_seal(key1, NULL, 0, (const uint8_t *)"", 0, blob),
		0);
	assert_int_equal(kmc_open(key1, NULL, 0, blob, sizeof(blob), out), 0);
	/* The twin: the same blob with associated data it was not sealed with. */
	assert_int_equal(kmc_open(key1, ad1, 1, blob, sizeof(blob), out),
		KMC_E_AUTH);
	assert_int_equal(out[0], PATTERN);
}

/* One flipped bit anywhere in the blob: KMC_E_AUTH, out untouched. */
static void test_open_flipped_bit_in_blob(void **state)
{
	uint8_t blob[PT_LEN + KMC_SEAL_OVERHEAD];
	uint8_t out[PT_LEN];
	int bad = 0, cases = 0;

	(void)state;
	seal1(blob);
	for (size_t i = 0; i < sizeof(blob); i++) {
		for (int bit = 0; bit < 8; bit++) {
			blob[i] ^= (uint8_t)(1u << bit);
			bad += open_auth_fails(key1, ad1, sizeof(ad1), blob,
				sizeof(blob));
			cases++;
			blob[i] ^= (uint8_t)(1u << bit);
		}
	}
	assert_none_touched(bad, cases);
	/* Restored: it opens again. */
	assert_int_equal(kmc_open(key1, ad1, sizeof(ad1), blob, sizeof(blob),
		out), 0);
	assert_memory_equal(out, pt1, PT_LEN);
}

/* The same loop split by region, so a failure names the part. */
static void flip_region(size_t from, size_t to)
{
	uint8_t blob[PT_LEN + KMC_SEAL_OVERHEAD];
	int bad = 0;

	seal1(blob);
	for (size_t i = from; i < to; i++) {
		blob[i] ^= 0x80;
		bad += open_auth_fails(key1, ad1, sizeof(ad1), blob,
			sizeof(blob));
		blob[i] ^= 0x80;
	}
	assert_none_touched(bad, (int)(to - from));
}

static void test_open_flipped_nonce(void **state)
{
	(void)state;
	flip_region(0, KMC_NONCE_LEN);
}

static void test_open_flipped_ciphertext(void **state)
{
	(void)state;
	flip_region(KMC_NONCE_LEN, KMC_NONCE_LEN + PT_LEN);
}

static void test_open_flipped_tag(void **state)
{
	(void)state;
	flip_region(KMC_NONCE_LEN + PT_LEN, PT_LEN + KMC_SEAL_OVERHEAD);
}

static void test_open_flipped_ad(void **state)
{
	uint8_t blob[PT_LEN + KMC_SEAL_OVERHEAD];
	uint8_t ad[sizeof(ad1)];
	int bad = 0, cases = 0;

	(void)state;
	seal1(blob);
	memcpy(ad, ad1, sizeof(ad));
	for (size_t i = 0; i < sizeof(ad); i++) {
		for (int bit = 0; bit < 8; bit++) {
			ad[i] ^= (uint8_t)(1u << bit);
			bad += open_auth_fails(key1, ad, sizeof(ad), blob,
				sizeof(blob));
			cases++;
			ad[i] ^= (uint8_t)(1u << bit);
		}
	}
	/* Shorter or missing associated data fails as well. */
	bad += open_auth_fails(key1, ad1, sizeof(ad1) - 1, blob, sizeof(blob));
	bad += open_auth_fails(key1, ad1, 0, blob, sizeof(blob));
	bad += open_auth_fails(key1, NULL, 0, blob, sizeof(blob));
	assert_none_touched(bad, cases + 3);
}

static void test_open_wrong_key(void **state)
{
	uint8_t blob[PT_LEN + KMC_SEAL_OVERHEAD];
	uint8_t key[KMC_KEY_LEN];
	int bad = 0;

	(void)state;
	seal1(blob);
	for (size_t i = 0; i < KMC_KEY_LEN; i++) {
		memcpy(key, key1, sizeof(key));
		key[i] ^= 0x01;
		bad += open_auth_fails(key, ad1, sizeof(ad1), blob,
			sizeof(blob));
	}
	assert_none_touched(bad, KMC_KEY_LEN);
}

static void test_open_truncated_or_extended(void **state)
{
	uint8_t blob[PT_LEN + KMC_SEAL_OVERHEAD + 1];
	int bad = 0, cases = 0;

	(void)state;
	seal1(blob);
	blob[sizeof(blob) - 1] = 0;
	/* Any length from the overhead up but the right one: KMC_E_AUTH. */
	for (size_t n = KMC_SEAL_OVERHEAD; n <= sizeof(blob); n++) {
		if (n == PT_LEN + KMC_SEAL_OVERHEAD)
			continue;
		bad += open_auth_fails(key1, ad1, sizeof(ad1), blob, n);
		cases++;
	}
	assert_none_touched(bad, cases);
}

static void test_open_too_short(void **state)
{
	uint8_t blob[KMC_SEAL_OVERHEAD];
	uint8_t out[8];
	kmc_secret *s = NULL;

	(void)state;
	assert_int_equal(kmc_seal(key1, NULL, 0, (const uint8_t *)"", 0, blob),
		0);
	for (size_t n = 0; n < KMC_SEAL_OVERHEAD; n++) {
		memset(out, PATTERN, sizeof(out));
		assert_int_equal(kmc_open(key1, NULL, 0, blob, n, out),
			KMC_E_CORRUPT);
		assert_pattern(out, sizeof(out));
		assert_int_equal(kmc_open_secret(key1, NULL, 0, blob, n, &s),
			KMC_E_CORRUPT);
		assert_null(s);
	}
}

static void test_open_secret(void **state)
{
	uint8_t blob[PT_LEN + KMC_SEAL_OVERHEAD];
	kmc_secret *s = NULL;

	(void)state;
	seal1(blob);
	assert_int_equal(kmc_open_secret(key1, ad1, sizeof(ad1), blob,
		sizeof(blob), &s), 0);
	assert_non_null(s);
	assert_int_equal(kmc_secret_len(s), PT_LEN);
	assert_memory_equal(kmc_secret_data(s), pt1, PT_LEN);
	assert_int_equal(kmc_secret_data(s)[PT_LEN], 0);
	kmc_secret_free(s);

	/* The twin: one flipped bit, no secret handed out. */
	s = NULL;
	blob[KMC_NONCE_LEN] ^= 1;
	assert_int_equal(kmc_open_secret(key1, ad1, sizeof(ad1), blob,
		sizeof(blob), &s), KMC_E_AUTH);
	assert_null(s);
}

/* ---- kmc_subkey -------------------------------------------------- */

static void test_subkey_deterministic(void **state)
{
	uint8_t a[KMC_KEY_LEN], b[KMC_KEY_LEN];

	(void)state;
	assert_int_equal(kmc_subkey(a, key1, 1, "kmc-test"), 0);
	assert_int_equal(kmc_subkey(b, key1, 1, "kmc-test"), 0);
	assert_memory_equal(a, b, KMC_KEY_LEN);
	/* Not the input key. */
	assert_memory_not_equal(a, key1, KMC_KEY_LEN);
}

static void test_subkey_differs_by_id(void **state)
{
	uint8_t k[4][KMC_KEY_LEN];
	static const uint64_t ids[4] = { 0, 1, 2, UINT64_MAX };

	(void)state;
	for (int i = 0; i < 4; i++)
		assert_int_equal(kmc_subkey(k[i], key1, ids[i], "kmc-test"), 0);
	for (int i = 0; i < 4; i++)
		for (int j = i + 1; j < 4; j++)
			assert_memory_not_equal(k[i], k[j], KMC_KEY_LEN);
}

static void test_subkey_differs_by_ctx(void **state)
{
	uint8_t a[KMC_KEY_LEN], b[KMC_KEY_LEN], c[KMC_KEY_LEN];

	(void)state;
	assert_int_equal(kmc_subkey(a, key1, 1, "kmc-ksmc"), 0);
	assert_int_equal(kmc_subkey(b, key1, 1, "kmc-mkwr"), 0);
	/* One byte of difference, in the last position. */
	assert_int_equal(kmc_subkey(c, key1, 1, "kmc-ksmd"), 0);
	assert_memory_not_equal(a, b, KMC_KEY_LEN);
	assert_memory_not_equal(a, c, KMC_KEY_LEN);
	assert_memory_not_equal(b, c, KMC_KEY_LEN);
}

static void test_subkey_differs_by_key(void **state)
{
	uint8_t key2[KMC_KEY_LEN], a[KMC_KEY_LEN], b[KMC_KEY_LEN];

	(void)state;
	memcpy(key2, key1, sizeof(key2));
	key2[31] ^= 1;
	assert_int_equal(kmc_subkey(a, key1, 1, "kmc-test"), 0);
	assert_int_equal(kmc_subkey(b, key2, 1, "kmc-test"), 0);
	assert_memory_not_equal(a, b, KMC_KEY_LEN);
}

/* ---- kmc_argon2id ------------------------------------------------ */

#define A2_OPS 1
#define A2_MEM (8ull * 1024 * 1024)

static const uint8_t salt1[KMC_SALT_LEN] = {
	'0', '1', '2', '3', '4', '5', '6', '7',
	'8', '9', 'a', 'b', 'c', 'd', 'e', 'f',
};

static void test_argon2id_deterministic(void **state)
{
	uint8_t a[KMC_KEY_LEN], b[KMC_KEY_LEN];

	(void)state;
	assert_int_equal(kmc_argon2id(a, "correct horse", 13, salt1, A2_OPS,
		A2_MEM), 0);
	assert_int_equal(kmc_argon2id(b, "correct horse", 13, salt1, A2_OPS,
		A2_MEM), 0);
	assert_memory_equal(a, b, KMC_KEY_LEN);
}

static void test_argon2id_differs(void **state)
{
	uint8_t base[KMC_KEY_LEN], other[KMC_KEY_LEN];
	uint8_t salt2[KMC_SALT_LEN];

	(void)state;
	assert_int_equal(kmc_argon2id(base, "correct horse", 13, salt1, A2_OPS,
		A2_MEM), 0);
	memcpy(salt2, salt1, sizeof(salt2));
	salt2[15] ^= 1;
	assert_int_equal(kmc_argon2id(other, "correct horse", 13, salt2,
		A2_OPS, A2_MEM), 0);
	assert_memory_not_equal(base, other, KMC_KEY_LEN);
	/* Another password, other cost: other keys as well. */
	assert_int_equal(kmc_argon2id(other, "correct horsf", 13, salt1,
		A2_OPS, A2_MEM), 0);
	assert_memory_not_equal(base, other, KMC_KEY_LEN);
	assert_int_equal(kmc_argon2id(other, "correct horse", 13, salt1,
		A2_OPS + 1, A2_MEM), 0);
	assert_memory_not_equal(base, other, KMC_KEY_LEN);
}

static void test_argon2id_bounds(void **state)
{
	uint8_t out[KMC_KEY_LEN], keep[KMC_KEY_LEN];

	(void)state;
	memset(out, PATTERN, sizeof(out));
	memset(keep, PATTERN, sizeof(keep));
	assert_int_equal(kmc_argon2id(out, "pw", 2, salt1, 0, A2_MEM),
		KMC_E_CORRUPT);
	assert_int_equal(kmc_argon2id(out, "pw", 2, salt1,
		KMC_ARGON2_OPS_MAX + 1, A2_MEM), KMC_E_CORRUPT);
	assert_int_equal(kmc_argon2id(out, "pw", 2, salt1, UINT64_MAX,
		A2_MEM), KMC_E_CORRUPT);
	assert_int_equal(kmc_argon2id(out, "pw", 2, salt1, A2_OPS,
		KMC_ARGON2_MEM_MIN - 1), KMC_E_CORRUPT);
	assert_int_equal(kmc_argon2id(out, "pw", 2, salt1, A2_OPS, 0),
		KMC_E_CORRUPT);
	assert_int_equal(kmc_argon2id(out, "pw", 2, salt1, A2_OPS,
		KMC_ARGON2_MEM_MAX + 1), KMC_E_CORRUPT);
	assert_int_equal(kmc_argon2id(out, "pw", 2, salt1, A2_OPS,
		UINT64_MAX), KMC_E_CORRUPT);
	assert_memory_equal(out, keep, sizeof(out));
	/* The twins: the smallest accepted values work. */
	assert_int_equal(kmc_argon2id(out, "pw", 2, salt1, KMC_ARGON2_OPS_MIN,
		A2_MEM), 0);
	assert_memory_not_equal(out, keep, sizeof(out));
}

/* ---- hashing ------------------------------------------------------ */

static void test_hash_and_mac(void **state)
{
	uint8_t h1[KMC_HASH_LEN], h2[KMC_HASH_LEN];
	uint8_t m1[KMC_HASH_LEN], m2[KMC_HASH_LEN];
	uint8_t key2[KMC_KEY_LEN];

	(void)state;
	kmc_hash(h1, "abc", 3);
	kmc_hash(h2, "abc", 3);
	assert_memory_equal(h1, h2, KMC_HASH_LEN);
	kmc_hash(h2, "abd", 3);
	assert_memory_not_equal(h1, h2, KMC_HASH_LEN);
	kmc_mac(m1, key1, "abc", 3);
	kmc_mac(m2, key1, "abc", 3);
	assert_memory_equal(m1, m2, KMC_HASH_LEN);
	assert_memory_not_equal(m1, h1, KMC_HASH_LEN);
	memcpy(key2, key1, sizeof(key2));
	key2[0] ^= 1;
	kmc_mac(m2, key2, "abc", 3);
	assert_memory_not_equal(m1, m2, KMC_HASH_LEN);
	assert_int_equal(kmc_memcmp(m1, m1, KMC_HASH_LEN), 0);
	assert_int_not_equal(kmc_memcmp(m1, m2, KMC_HASH_LEN), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seal_open_roundtrip),
		cmocka_unit_test(test_seal_fresh_nonce),
		cmocka_unit_test(test_seal_open_empty_and_no_ad),
		cmocka_unit_test(test_open_flipped_bit_in_blob),
		cmocka_unit_test(test_open_flipped_nonce),
		cmocka_unit_test(test_open_flipped_ciphertext),
		cmocka_unit_test(test_open_flipped_tag),
		cmocka_unit_test(test_open_flipped_ad),
		cmocka_unit_test(test_open_wrong_key),
		cmocka_unit_test(test_open_truncated_or_extended),
		cmocka_unit_test(test_open_too_short),
		cmocka_unit_test(test_open_secret),
		cmocka_unit_test(test_subkey_deterministic),
		cmocka_unit_test(test_subkey_differs_by_id),
		cmocka_unit_test(test_subkey_differs_by_ctx),
		cmocka_unit_test(test_subkey_differs_by_key),
		cmocka_unit_test(test_argon2id_deterministic),
		cmocka_unit_test(test_argon2id_differs),
		cmocka_unit_test(test_argon2id_bounds),
		cmocka_unit_test(test_hash_and_mac),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}

/*
 * test_backup.c - the backup manifest format (vault/backup.c, described
 * in vault/backup.h and docs/format.md).
 *
 * What manifest_encode() writes manifest_parse() reads back, field for
 * field; anything else is refused with KMC_E_CORRUPT (a changed byte
 * anywhere, a missing, extra or reordered line, a number with a sign or
 * a leading zero, upper-case hex, trailing bytes, NUL) or KMC_E_VERSION
 * (another format version with a valid checksum).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../vault/backup.h"

static backup_manifest sample(void)
{
	backup_manifest m;

	memset(&m, 0, sizeof(m));
	for (int i = 0; i < KS_VAULT_ID_LEN; i++)
		m.vault_id[i] = (uint8_t)(0xa0 + i);
	m.generation = 7;
	m.store_generation = 18446744073709551615ull;
	m.items = 0;
	m.created = 1700000000;
	for (int f = 0; f < BACKUP_FILES; f++) {
		m.file[f].size = 311u * (unsigned)(f + 1);
		for (int i = 0; i < KMC_HASH_LEN; i++)
			m.file[f].hash[i] = (uint8_t)(f * 40 + i);
	}
	return m;
}

static char *encode(const backup_manifest *m, size_t *len)
{
	char *text = NULL;

	assert_int_equal(manifest_encode(m, &text, len), 0);
	return text;
}

/* Re-checksum a body (everything before "checksum ") so that only the
 * change made to it is tested, not the checksum. */
static size_t reseal(char *buf, size_t body_len, size_t size)
{
	uint8_t sum[KMC_HASH_LEN];
	int n;

	kmc_hash(sum, buf, body_len);
	n = snprintf(buf + body_len, size - body_len, "checksum ");
	for (int i = 0; i < KMC_HASH_LEN; i++)
		n += snprintf(buf + body_len + n, size - body_len - n, "%02x",
			sum[i]);
	n += snprintf(buf + body_len + n, size - body_len - n, "\n");
	return body_len + (size_t)n;
}

static size_t body_len(const char *text)
{
	const char *c = strstr(text, "checksum ");

	assert_non_null(c);
	return (size_t)(c - text);
}

static void test_roundtrip(void **state)
{
	backup_manifest m = sample(), back;
	size_t len;
	char *text = encode(&m, &len);

	(void)state;
	assert_int_equal(manifest_parse((uint8_t *)text, len, &back), 0);
	assert_memory_equal(&m, &back, sizeof(m));
	assert_true(strncmp(text, "kmcvault-backup 1\nvault_id a0a1a2", 32) == 0);
	free(text);
}

static void test_every_byte_flipped(void **state)
{
	backup_manifest m = sample(), back;
	size_t len;
	char *text = encode(&m, &len);

	(void)state;
	for (size_t i = 0; i < len; i++) {
		text[i] ^= 1;
		assert_int_equal(manifest_parse((uint8_t *)text, len, &back),
			KMC_E_CORRUPT);
		text[i] ^= 1;
	}
	free(text);
}

static void test_truncated_and_trailing(void **state)
{
	backup_manifest m = sample(), back;
	size_t len;
	char *text = encode(&m, &len), *more;

	(void)state;
	for (size_t n = 0; n < len; n++)
		assert_int_equal(manifest_parse((uint8_t *)text, n, &back),
			KMC_E_CORRUPT);
	more = malloc(len + 1);
	memcpy(more, text, len);
	more[len] = '\n';
	assert_int_equal(manifest_parse((uint8_t *)more, len + 1, &back),
		KMC_E_CORRUPT);
	free(more);
	free(text);
}

/* Replace the first occurrence of from by to in the body, reseal, and
 * parse: the result. */
static int edited(const char *from, const char *to)
{
	backup_manifest m = sample(), back;
	char buf[BACKUP_MANIFEST_MAX + 256], out[BACKUP_MANIFEST_MAX + 256];
	size_t len, body;
	char *text = encode(&m, &len), *at;
	int n;

	assert_true(len < sizeof(buf));
	memcpy(buf, text, len);
	buf[len] = '\0';
	free(text);
	body = body_len(buf);
	buf[body] = '\0';
	at = strstr(buf, from);
	assert_non_null(at);
	n = snprintf(out, sizeof(out), "%.*s%s%s", (int)(at - buf), buf, to,
		at + strlen(from));
	len = reseal(out, (size_t)n, sizeof(out));
	return manifest_parse((uint8_t *)out, len, &back);
}

static void test_resealed_edits(void **state)
{
	(void)state;
	/* The helper itself: an edit to the same text parses. */
	assert_int_equal(edited("generation 7\n", "generation 7\n"), 0);
	assert_int_equal(edited("kmcvault-backup 1\n", "kmcvault-backup 2\n"),
		KMC_E_VERSION);
	assert_int_equal(edited("kmcvault-backup 1\n", "kmcvault-backup 01\n"),
		KMC_E_CORRUPT);
	assert_int_equal(edited("generation 7\n", "generation 07\n"),
		KMC_E_CORRUPT);
	assert_int_equal(edited("generation 7\n", "generation +7\n"),
		KMC_E_CORRUPT);
	assert_int_equal(edited("generation 7\n", "generation  7\n"),
		KMC_E_CORRUPT);
	assert_int_equal(edited("store_generation 18446744073709551615\n",
		"store_generation 18446744073709551616\n"), KMC_E_CORRUPT);
	assert_int_equal(edited("vault_id a0", "vault_id A0"), KMC_E_CORRUPT);
	assert_int_equal(edited("vault_id a0", "vault_id a"), KMC_E_CORRUPT);
	assert_int_equal(edited("items 0\n", ""), KMC_E_CORRUPT);
	assert_int_equal(edited("items 0\n", "items 0\nitems 0\n"),
		KMC_E_CORRUPT);
	assert_int_equal(edited("file kmc.ks", "file StandbyKsf.ks"),
		KMC_E_CORRUPT);
	assert_int_equal(edited("file kmc.ks 311 ", "file kmc.ks 311  "),
		KMC_E_CORRUPT);
	assert_int_equal(edited("created 1700000000\n",
		"created 9223372036854775808\n"), KMC_E_CORRUPT);
}

static void test_nul(void **state)
{
	backup_manifest m = sample(), back;
	size_t len;
	char *text = encode(&m, &len);

	(void)state;
	text[len - 1] = '\0';
	assert_int_equal(manifest_parse((uint8_t *)text, len, &back),
		KMC_E_CORRUPT);
	free(text);
}

/* A newer manifest is told by its first line, whatever follows it: a
   later format may end otherwise, and must not pass for a damaged one. */
static void test_newer_any_ending(void **state)
{
	static const char newer[] = "kmcvault-backup 2\nsomething new\n";
	static const char older[] = "kmcvault-backup 1\nsomething new\n";
	backup_manifest back;
	uint64_t v = 0;

	(void)state;
	assert_int_equal(manifest_parse((const uint8_t *)newer,
		sizeof(newer) - 1, &back), KMC_E_VERSION);
	assert_int_equal(manifest_version((const uint8_t *)newer,
		sizeof(newer) - 1, &v), 0);
	assert_int_equal(v, 2);
	assert_int_equal(manifest_parse((const uint8_t *)older,
		sizeof(older) - 1, &back), KMC_E_CORRUPT);
	/* Nor by its length or bytes: longer than version 1 may be, a NUL,
	   no newline at its end. */
	{
		size_t n = BACKUP_MANIFEST_MAX + 100;
		uint8_t *big = malloc(n);

		assert_non_null(big);
		memset(big, 'x', n);
		memcpy(big, newer, sizeof(newer) - 1);
		big[n - 1] = '\n';
		assert_int_equal(manifest_parse(big, n, &back), KMC_E_VERSION);
		big[40] = '\0';
		assert_int_equal(manifest_parse(big, n - 1, &back),
			KMC_E_VERSION);
		memcpy(big, older, sizeof(older) - 1);
		assert_int_equal(manifest_parse(big, n, &back), KMC_E_CORRUPT);
		free(big);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_every_byte_flipped),
		cmocka_unit_test(test_truncated_and_trailing),
		cmocka_unit_test(test_resealed_edits),
		cmocka_unit_test(test_nul),
		cmocka_unit_test(test_newer_any_ending),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_cstring.c - the text form of ciphertext strings (kmc/cstring.c):
 * "kmc:v1:<mk-id>:<unpadded base64url>".
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../kmc/cstring.h"
#include "../../kmc/crypto.h"

static int group_setup(void **state)
{
	(void)state;
	return kmc_crypto_init() == 0 ? 0 : -1;
}

/* parse a C string; on success the blob is compared and freed. */
static int parse(const char *text, uint32_t *mk_id, size_t *len)
{
	uint8_t *blob = NULL;
	uint32_t id = 0;
	size_t n = 0;
	int r;

	r = kmc_cstring_parse(text, strlen(text), &id, &blob, &n);
	if (r == 0) {
		assert_non_null(blob);
		if (mk_id)
			*mk_id = id;
		if (len)
			*len = n;
	} else {
		assert_null(blob);
	}
	free(blob);
	return r;
}

/* "AAAA" is 3 zero bytes; "AQID" is 01 02 03. */
static void test_parse_minimal(void **state)
{
	uint8_t *blob = NULL;
	uint32_t id = 0;
	size_t n = 0;
	const char *s = "kmc:v1:7:AQID";

	(void)state;
	assert_int_equal(kmc_cstring_parse(s, strlen(s), &id, &blob, &n), 0);
	assert_int_equal(id, 7);
	assert_int_equal(n, 3);
	assert_memory_equal(blob, "\x01\x02\x03", 3);
	free(blob);
}

static void test_format_parse_roundtrip(void **state)
{
	static const uint32_t ids[] = { 1, 9, 10, 12345, 4294967295u };
	uint8_t data[300];

	(void)state;
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 131 + 7);
	for (size_t k = 0; k < sizeof(ids) / sizeof(ids[0]); k++) {
		for (size_t len = 1; len <= sizeof(data); len++) {
			char *s = NULL, prefix[32];
			uint8_t *blob = NULL;
			uint32_t id = 0;
			size_t n = 0;

			assert_int_equal(kmc_cstring_format(ids[k], data, len, &s),
				0);
			assert_non_null(s);
			snprintf(prefix, sizeof(prefix), "kmc:v1:%u:",
				(unsigned)ids[k]);
			assert_int_equal(strncmp(s, prefix, strlen(prefix)), 0);
			/* Unpadded base64url only. */
			for (const char *p = s + strlen(prefix); *p; p++)
				assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZ"
					"abcdefghijklmnopqrstuvwxyz0123456789-_", *p));
			assert_int_equal(kmc_cstring_parse(s, strlen(s), &id,
				&blob, &n), 0);
			assert_int_equal(id, ids[k]);
			assert_int_equal(n, len);
			assert_memory_equal(blob, data, len);
			free(blob);
			free(s);
		}
	}
}

/* Whatever format accepts, parse must read back. */
static void test_format_output_always_parses(void **state)
{
	size_t max_ok = 0;
	uint8_t *data = calloc(1, KMC_CSTRING_MAX + 1);

	(void)state;
	assert_non_null(data);
	for (size_t len = 1; len <= KMC_CSTRING_MAX; len++) {
		char *s = NULL;
		uint8_t *blob = NULL;
		uint32_t id = 0;
		size_t n = 0;
		int r;

		r = kmc_cstring_format(4294967295u, data, len, &s);
		if (r == KMC_E_TOO_LARGE) {
			assert_null(s);
			continue;
		}
		assert_int_equal(r, 0);
		max_ok = len;
		r = kmc_cstring_parse(s, strlen(s), &id, &blob, &n);
		if (r != 0)
			fail_msg("kmc_cstring_format made a %zu-character string "
				"of a %zu-byte blob that kmc_cstring_parse refuses "
				"with %d (KMC_CSTRING_MAX is %d)", strlen(s), len, r,
				KMC_CSTRING_MAX);
		assert_int_equal(n, len);
		free(blob);
		free(s);
	}
	/* The longest ciphertext string the vault makes must fit. */
	assert_true(max_ok >= KMC_STRING_SECRET_MAX + KMC_SEAL_OVERHEAD);
	free(data);
}

static void test_format_too_large(void **state)
{
	uint8_t *data = calloc(1, KMC_CSTRING_MAX + 2);
	char *s = NULL;

	(void)state;
	assert_non_null(data);
	assert_int_equal(kmc_cstring_format(1, data, KMC_CSTRING_MAX + 1, &s),
		KMC_E_TOO_LARGE);
	assert_null(s);
	/* The twin: a secret of the largest size a string holds. */
	assert_int_equal(kmc_cstring_format(1, data,
		KMC_STRING_SECRET_MAX + KMC_SEAL_OVERHEAD, &s), 0);
	assert_non_null(s);
	free(s);
	free(data);
}

static void test_parse_whitespace(void **state)
{
	static const char *const ok[] = {
		" kmc:v1:7:AQID",
		"kmc:v1:7:AQID\n",
		"\t\r\n kmc:v1:7:AQID \r\n\t",
		"kmc:v1:7:AQID\r\n",
	};
	uint32_t id;
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		id = 0;
		n = 0;
		assert_int_equal(parse(ok[i], &id, &n), 0);
		assert_int_equal(id, 7);
		assert_int_equal(n, 3);
	}
	/* The twin: white space inside the string is not ignored. */
	assert_int_equal(parse("kmc:v1:7:AQ ID", NULL, NULL), KMC_E_STRING);
	assert_int_equal(parse("kmc:v1: 7:AQID", NULL, NULL), KMC_E_STRING);
	assert_int_equal(parse("kmc:v1:7: AQID", NULL, NULL), KMC_E_STRING);
	assert_int_equal(parse("kmc: v1:7:AQID", NULL, NULL), KMC_E_STRING);
	assert_int_equal(parse(" \n\t ", NULL, NULL), KMC_E_STRING);
}

static void test_parse_missing_prefix(void **state)
{
	(void)state;
	assert_int_equal(parse("", NULL, NULL), KMC_E_STRING);
	assert_int_equal(parse("AQID", NULL, NULL), KMC_E_STRING);
	assert_int_equal(parse("7:AQID", NULL, NULL), KMC_E_STRING);
	assert_int_equal(parse("v1:7:AQID", NULL, NULL), KMC_E_STRING);
	assert_int_equal(parse("km:v1:7:AQID", NULL, NULL), KMC_E_STRING);
	assert_int_equal(parse("KMC:v1:7:AQID", NULL, NULL), KMC_E_STRING);
	assert_int_equal(parse("kmc:V1:7:AQID", NULL, NULL), KMC_E_STRING);
	assert_int_equal(parse("kmc:x1:7:AQID", NULL, NULL), KMC_E_STRING);
	assert_int_equal(parse("kmc:7:AQID", NULL, NULL), KMC_E_STRING);
	assert_int_equal(parse("kmc:", NULL, NULL), KMC_E_STRING);
	assert_int_equal(parse("xkmc:v1:7:AQID", NULL, NULL), KMC_E_STRING);
}

/* "kmc:vN:" other than v1 is a version error; v1 itself parses. */
static void test_parse_other_version(void **state)
{
	(void)state;
	assert_int_equal(parse("kmc:v2:7:AQID", NULL, NULL), KMC_E_VERSION);
	assert_int_equal(parse("kmc:v0:7:AQID", NULL, NULL), KMC_E_VERSION);
	assert_int_equal(parse("kmc:v9:1:x", NULL, NULL), KMC_E_VERSION);
	assert_int_equal(parse("kmc:v10:7:AQID", NULL, NULL), KMC_E_VERSION);
	assert_int_equal(parse("kmc:v2:", NULL, NULL), KMC_E_VERSION);
	assert_int_equal(parse("kmc:v1:7:AQID", NULL, NULL), 0);
}

/* A truncated v1 string is malformed, not of a newer version. */
static void test_parse_truncated_v1(void **state)
{
	(void)state;
	assert_int_equal(parse("kmc:v1:", NULL, NULL), KMC_E_STRING);
	assert_int_equal(parse("kmc:v1:7", NULL, NULL), KMC_E_STRING);
	assert_int_equal(parse("kmc:v1:7:", NULL, NULL), KMC_E_STRING);
	assert_int_equal(parse("kmc:v1", NULL, NULL), KMC_E_STRING);
}

static void test_parse_mk_id(void **state)
{
	uint32_t id = 0;

	(void)state;
	/* Bounds that work: the twins of the failures below. */
	assert_int_equal(parse("kmc:v1:1:AQID", &id, NULL), 0);
	assert_int_equal(id, 1);
	assert_int_equal(parse("kmc:v1:4294967295:AQID", &id, NULL), 0);
	assert_int_equal(id, 4294967295u);
	assert_int_equal(parse("kmc:v1:1000000000:AQID", &id, NULL), 0);
	assert_int_equal(id, 1000000000u);

	assert_int_equal(parse("kmc:v1:0:AQID", NULL, NULL), KMC_E_STRING);
	assert_int_equal(parse("kmc:v1:00:AQID", NULL, NULL), KMC_E_STRING);
	assert_int_equal(parse("kmc:v1:07:AQID", NULL, NULL), KMC_E_STRING);
	assert_int_equal(parse("kmc:v1:4294967296:AQID", NULL, NULL),
		KMC_E_STRING);
	assert_int_equal(parse("kmc:v1:9999999999:AQID", NULL, NULL),
		KMC_E_STRING);
	assert_int_equal(parse("kmc:v1:10000000000:AQID", NULL, NULL),
		KMC_E_STRING);
	assert_int_equal(parse("kmc:v1:18446744073709551617:AQID", NULL, NULL),
		KMC_E_STRING);
	assert_int_equal(parse("kmc:v1::AQID", NULL, NULL), KMC_E_STRING);
	assert_int_equal(parse("kmc:v1:1a:AQID", NULL, NULL), KMC_E_STRING);
	assert_int_equal(parse("kmc:v1:a:AQID", NULL, NULL), KMC_E_STRING);
	assert_int_equal(parse("kmc:v1:-1:AQID", NULL, NULL), KMC_E_STRING);
	assert_int_equal(parse("kmc:v1:+1:AQID", NULL, NULL), KMC_E_STRING);
	assert_int_equal(parse("kmc:v1:0x1:AQID", NULL, NULL), KMC_E_STRING);
	assert_int_equal(parse("kmc:v1:1.0:AQID", NULL, NULL), KMC_E_STRING);
}

static void test_parse_payload(void **state)
{
	size_t n = 0;

	(void)state;
	assert_int_equal(parse("kmc:v1:7:AQID", NULL, &n), 0);
	assert_int_equal(n, 3);
	/* Unpadded lengths that leave a partial byte work: "AQ" is 01. */
	assert_int_equal(parse("kmc:v1:7:AQ", NULL, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(parse("kmc:v1:7:AQI", NULL, &n), 0);
	assert_int_equal(n, 2);
	/* base64url's own characters work... */
	assert_int_equal(parse("kmc:v1:7:-_-_", NULL, &n), 0);
	assert_int_equal(n, 3);

	/* ...and standard base64's do not. */
	assert_int_equal(parse("kmc:v1:7:+/+/", NULL, NULL), KMC_E_STRING);
	assert_int_equal(parse("kmc:v1:7:AQI+", NULL, NULL), KMC_E_STRING);
	assert_int_equal(parse("kmc:v1:7:AQI/", NULL, NULL), KMC_E_STRING);
	assert_int_equal(parse("kmc:v1:7:AQ!D", NULL, NULL), KMC_E_STRING);
	/* Empty payload. */
	assert_int_equal(parse("kmc:v1:7:", NULL, NULL), KMC_E_STRING);
	/* Padding. */
	assert_int_equal(parse("kmc:v1:7:AQ==", NULL, NULL), KMC_E_STRING);
	assert_int_equal(parse("kmc:v1:7:AQI=", NULL, NULL), KMC_E_STRING);
	assert_int_equal(parse("kmc:v1:7:AQID=", NULL, NULL), KMC_E_STRING);
	/* A single character cannot be a byte. */
	assert_int_equal(parse("kmc:v1:7:A", NULL, NULL), KMC_E_STRING);
	/* Non-zero leftover bits are not canonical. */
	assert_int_equal(parse("kmc:v1:7:AR", NULL, NULL), KMC_E_STRING);
	/* Trailing garbage. */
	assert_int_equal(parse("kmc:v1:7:AQID:", NULL, NULL), KMC_E_STRING);
	assert_int_equal(parse("kmc:v1:7:AQID:AQID", NULL, NULL), KMC_E_STRING);
	assert_int_equal(parse("kmc:v1:7:AQID x", NULL, NULL), KMC_E_STRING);
	assert_int_equal(parse("kmc:v1:7:AQID;", NULL, NULL), KMC_E_STRING);
	assert_int_equal(parse("kmc:v1:7:AQID\"", NULL, NULL), KMC_E_STRING);
}

/* Bytes outside ASCII are not base64url either, wherever they stand. */
static void test_parse_non_ascii_payload(void **state)
{
	int accepted = 0, first = 0;

	(void)state;
	for (int c = 0x80; c <= 0xff; c++) {
		char s[32];

		snprintf(s, sizeof(s), "kmc:v1:7:AQ%cD", (char)c);
		if (parse(s, NULL, NULL) != KMC_E_STRING) {
			if (!accepted)
				first = c;
			accepted++;
		}
		snprintf(s, sizeof(s), "kmc:v1:7:AQID%c", (char)c);
		assert_int_equal(parse(s, NULL, NULL), KMC_E_STRING);
	}
	if (accepted)
		fail_msg("%d non-ASCII bytes (first 0x%02x) pass as base64url "
			"characters in the payload", accepted, first);
	/* The twin: the ASCII string itself parses. */
	assert_int_equal(parse("kmc:v1:7:AQID", NULL, NULL), 0);
}

static void test_parse_embedded_nul(void **state)
{
	static const char s1[] = "kmc:v1:7:AQ\0ID";
	static const char s2[] = "kmc:v1:7:AQID\0";
	static const char s3[] = "\0kmc:v1:7:AQID";
	static const char s4[] = "kmc:v1:7\0:AQID";
	uint8_t *blob = NULL;
	uint32_t id = 0;
	size_t n = 0;

	(void)state;
	assert_int_equal(kmc_cstring_parse(s1, sizeof(s1) - 1, &id, &blob, &n),
		KMC_E_STRING);
	assert_null(blob);
	assert_int_equal(kmc_cstring_parse(s2, sizeof(s2) - 1, &id, &blob, &n),
		KMC_E_STRING);
	assert_null(blob);
	assert_int_equal(kmc_cstring_parse(s3, sizeof(s3) - 1, &id, &blob, &n),
		KMC_E_STRING);
	assert_null(blob);
	assert_int_equal(kmc_cstring_parse(s4, sizeof(s4) - 1, &id, &blob, &n),
		KMC_E_STRING);
	assert_null(blob);
	/* The twin: the length without the NUL parses. */
	assert_int_equal(kmc_cstring_parse(s2, sizeof(s2) - 2, &id, &blob, &n),
		0);
	assert_int_equal(n, 3);
	free(blob);
}

static void test_parse_length_limit(void **state)
{
	/* Payload padded with whole 4-character groups. */
	size_t total = KMC_CSTRING_MAX + 1;
	char *s = malloc(total + 16);
	size_t head;
	uint8_t *blob = NULL;
	uint32_t id = 0;
	size_t n = 0;

	(void)state;
	assert_non_null(s);
	/* "kmc:v1:7:" is 9 characters; 9 + 4k > KMC_CSTRING_MAX. */
	strcpy(s, "kmc:v1:7:");
	head = strlen(s);
	memset(s + head, 'A', total + 16 - head);
	{
		size_t len = head + ((KMC_CSTRING_MAX - head) / 4 + 1) * 4;

		assert_true(len > KMC_CSTRING_MAX);
		assert_int_equal(kmc_cstring_parse(s, len, &id, &blob, &n),
			KMC_E_TOO_LARGE);
		assert_null(blob);
		/* The twin: the largest whole-group length that fits. */
		len -= 4;
		assert_true(len <= KMC_CSTRING_MAX);
		assert_int_equal(kmc_cstring_parse(s, len, &id, &blob, &n), 0);
		assert_int_equal(n, (len - head) / 4 * 3);
		free(blob);
		blob = NULL;
	}
	/* Surrounding white space does not count against the limit. */
	{
		size_t len = head + (KMC_CSTRING_MAX - head) / 4 * 4;
		char *w = malloc(len + 6);

		assert_non_null(w);
		memcpy(w, " \t  ", 4);
		memcpy(w + 4, s, len);
		memcpy(w + 4 + len, "\r\n", 2);
		assert_true(len + 6 > KMC_CSTRING_MAX);
		assert_int_equal(kmc_cstring_parse(w, len + 6, &id, &blob, &n),
			0);
		free(blob);
		blob = NULL;
		free(w);
	}
	/* Far too long, even of garbage: KMC_E_TOO_LARGE. */
	assert_int_equal(kmc_cstring_parse(s, total + 16, &id, &blob, &n),
		KMC_E_TOO_LARGE);
	assert_null(blob);
	free(s);
}

/* Outputs are written only on success. */
static void test_parse_outputs_untouched_on_error(void **state)
{
	uint8_t *blob = (uint8_t *)"sentinel";
	uint32_t id = 77;
	size_t n = 77;
	const char *bad = "kmc:v1:7:AQID!";

	(void)state;
	assert_int_equal(kmc_cstring_parse(bad, strlen(bad), &id, &blob, &n),
		KMC_E_STRING);
	assert_string_equal((const char *)blob, "sentinel");
	assert_int_equal(id, 77);
	assert_int_equal(n, 77);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_minimal),
		cmocka_unit_test(test_format_parse_roundtrip),
		cmocka_unit_test(test_format_output_always_parses),
		cmocka_unit_test(test_format_too_large),
		cmocka_unit_test(test_parse_whitespace),
		cmocka_unit_test(test_parse_missing_prefix),
		cmocka_unit_test(test_parse_other_version),
		cmocka_unit_test(test_parse_truncated_v1),
		cmocka_unit_test(test_parse_mk_id),
		cmocka_unit_test(test_parse_payload),
		cmocka_unit_test(test_parse_non_ascii_payload),
		cmocka_unit_test(test_parse_embedded_nul),
		cmocka_unit_test(test_parse_length_limit),
		cmocka_unit_test(test_parse_outputs_untouched_on_error),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}

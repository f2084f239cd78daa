/*
 * test_tokenpending.c - the list of keys on a token waiting to be
 * destroyed (vault/tokenpending.c, format in vault/tokenpending.h).
 *
 *	version u8 1 | n u16 (1..1024)
 *	n × { uri_len u16 | uri ("pkcs11:...") | item_len u8 | item | version u32 }
 *
 * What token_pending_encode() writes token_pending_parse() reads back;
 * other versions, counts, URIs that are not a key URI, item names that
 * are not names, a URI listed twice, short or long input are refused.
 * token_pending_add() keeps a URI once and the list within its bound.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../vault/tokenpending.h"

#define U1 "pkcs11:token=srv;id=%01%02;object=web?module-path=%2Fm.so"
#define U2 "pkcs11:token=srv;id=%03;object=web%7E0a1b2c3d"

/* One entry by hand. */
static size_t ent(uint8_t *p, const char *uri, const char *item,
	uint32_t ver)
{
	size_t o = 0, ul = strlen(uri), il = strlen(item);

	p[o++] = (uint8_t)(ul >> 8);
	p[o++] = (uint8_t)ul;
	memcpy(p + o, uri, ul);
	o += ul;
	p[o++] = (uint8_t)il;
	memcpy(p + o, item, il);
	o += il;
	p[o++] = (uint8_t)(ver >> 24);
	p[o++] = (uint8_t)(ver >> 16);
	p[o++] = (uint8_t)(ver >> 8);
	p[o++] = (uint8_t)ver;
	return o;
}

/* A header of version and count, then one entry. */
static size_t raw(uint8_t *p, uint8_t version, uint16_t n, const char *uri,
	const char *item, uint32_t ver)
{
	p[0] = version;
	p[1] = (uint8_t)(n >> 8);
	p[2] = (uint8_t)n;
	return 3 + ent(p + 3, uri, item, ver);
}

static void test_roundtrip(void **state)
{
	token_pending l = { 0 }, back;
	uint8_t *p = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(token_pending_add(&l, U1, "web/key", 1), 0);
	assert_int_equal(token_pending_add(&l, U2, "web/.p/key", 70000), 0);
	assert_int_equal(token_pending_encode(&l, &p, &len), 0);
	assert_int_equal(token_pending_parse(p, len, &back), 0);
	assert_int_equal(back.n, 2);
	assert_string_equal(back.e[0].uri, U1);
	assert_string_equal(back.e[0].item, "web/key");
	assert_int_equal(back.e[0].version, 1);
	assert_string_equal(back.e[1].uri, U2);
	assert_string_equal(back.e[1].item, "web/.p/key");
	assert_int_equal(back.e[1].version, 70000);
	free(p);
	token_pending_free(&back);
	token_pending_free(&l);
}

static void test_exact_bytes(void **state)
{
	token_pending l = { 0 };
	uint8_t want[256], *p = NULL;
	size_t n = raw(want, 1, 1, U2, "a/key", 0x01020304), len = 0;

	(void)state;
	assert_int_equal(token_pending_add(&l, U2, "a/key", 0x01020304), 0);
	assert_int_equal(token_pending_encode(&l, &p, &len), 0);
	assert_int_equal(len, n);
	assert_memory_equal(p, want, n);
	free(p);
	token_pending_free(&l);
}

static void test_add_once_and_bounded(void **state)
{
	token_pending l = { 0 };
	char uri[64];

	(void)state;
	assert_int_equal(token_pending_add(&l, U1, "web/key", 1), 0);
	assert_int_equal(token_pending_add(&l, U1, "web/key", 2), 0);
	assert_int_equal(l.n, 1);
	/* Not a key URI, not an item name: not added. */
	assert_int_equal(token_pending_add(&l, "file:///x", "web/key", 1), 0);
	assert_int_equal(token_pending_add(&l, U2, "../key", 1), 0);
	assert_int_equal(l.n, 1);
	for (int i = 0; l.n < TOKEN_PENDING_MAX + 5 && i < TOKEN_PENDING_MAX + 5;
	     i++) {
		snprintf(uri, sizeof(uri), "pkcs11:token=t;id=%%%02x%%%02x",
			i & 0xff, i >> 8);
		assert_int_equal(token_pending_add(&l, uri, "k/key", 1), 0);
	}
	assert_int_equal(l.n, TOKEN_PENDING_MAX);
	token_pending_free(&l);
}

static void test_refused(void **state)
{
	uint8_t p[512];
	token_pending l;
	size_t n;

	(void)state;
	n = raw(p, 2, 1, U1, "web/key", 1);
	assert_int_equal(token_pending_parse(p, n, &l), KMC_E_VERSION);
	/* Newer whatever its length: longer than version 1 may be too. */
	{
		size_t big_len = 8u << 20;
		uint8_t *big = calloc(1, big_len);

		assert_non_null(big);
		memcpy(big, p, n);
		assert_int_equal(token_pending_parse(big, big_len, &l),
			KMC_E_VERSION);
		big[0] = 1;
		assert_int_equal(token_pending_parse(big, big_len, &l),
			KMC_E_CORRUPT);
		free(big);
	}
	n = raw(p, 0, 1, U1, "web/key", 1);
	assert_int_equal(token_pending_parse(p, n, &l), KMC_E_CORRUPT);
	n = raw(p, 1, 0, U1, "web/key", 1);
	assert_int_equal(token_pending_parse(p, n, &l), KMC_E_CORRUPT);
	n = raw(p, 1, 2, U1, "web/key", 1);	/* says 2, holds 1 */
	assert_int_equal(token_pending_parse(p, n, &l), KMC_E_CORRUPT);
	n = raw(p, 1, TOKEN_PENDING_MAX + 1, U1, "web/key", 1);
	assert_int_equal(token_pending_parse(p, n, &l), KMC_E_CORRUPT);
	n = raw(p, 1, 1, "file:///etc/passwd", "web/key", 1);
	assert_int_equal(token_pending_parse(p, n, &l), KMC_E_CORRUPT);
	n = raw(p, 1, 1, "pkcs11:", "web/key", 1);
	assert_int_equal(token_pending_parse(p, n, &l), KMC_E_CORRUPT);
	n = raw(p, 1, 1, "pkcs11:token=a b", "web/key", 1);
	assert_int_equal(token_pending_parse(p, n, &l), KMC_E_CORRUPT);
	n = raw(p, 1, 1, U1, "/key", 1);
	assert_int_equal(token_pending_parse(p, n, &l), KMC_E_CORRUPT);
	n = raw(p, 1, 1, U1, "", 1);
	assert_int_equal(token_pending_parse(p, n, &l), KMC_E_CORRUPT);
	/* A NUL in the item name ("web/key\0x"): cut short, refused. */
	n = raw(p, 1, 1, U1, "web/key_x", 1);
	p[n - 4 - 2] = '\0';
	assert_int_equal(token_pending_parse(p, n, &l), KMC_E_CORRUPT);
	/* The same URI twice. */
	n = raw(p, 1, 2, U1, "web/key", 1);
	n += ent(p + n, U1, "web/.p/key", 2);
	assert_int_equal(token_pending_parse(p, n, &l), KMC_E_CORRUPT);
	/* ... and two others are fine. */
	n = raw(p, 1, 2, U1, "web/key", 1);
	n += ent(p + n, U2, "web/.p/key", 2);
	assert_int_equal(token_pending_parse(p, n, &l), 0);
	assert_int_equal(l.n, 2);
	token_pending_free(&l);
}

static void test_truncated_and_trailing(void **state)
{
	uint8_t p[512];
	token_pending l;
	size_t n = raw(p, 1, 1, U1, "web/key", 1);

	(void)state;
	for (size_t k = 0; k < n; k++)
		assert_int_equal(token_pending_parse(p, k, &l), KMC_E_CORRUPT);
	p[n] = 0;
	assert_int_equal(token_pending_parse(p, n + 1, &l), KMC_E_CORRUPT);
	assert_int_equal(token_pending_parse(p, n, &l), 0);
	token_pending_free(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_exact_bytes),
		cmocka_unit_test(test_add_once_and_bounded),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_truncated_and_trailing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

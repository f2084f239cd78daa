/*
 * test_buf.c - kmc_rbuf and kmc_wbuf (kmc/buf.c).
 *
 * Readers: big-endian getters, and a read past the end fails with
 * KMC_E_CORRUPT without moving the cursor. Writers: growth keeps the bytes,
 * the hard maximum gives a sticky KMC_E_TOO_LARGE, reserve returns NULL
 * once an error is set.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "../../kmc/buf.h"

static const uint8_t seq[] = {
	0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
	0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10,
	0xff, 0xfe, 0x80, 0x00,
};

/* ---- reading ---------------------------------------------------- */

static void test_rbuf_getters_big_endian(void **state)
{
	kmc_rbuf b = KMC_RBUF(seq, sizeof(seq));
	uint8_t v8 = 0;
	uint16_t v16 = 0;
	uint32_t v32 = 0;
	uint64_t v64 = 0;

	(void)state;
	assert_int_equal(kmc_rbuf_u8(&b, &v8), 0);
	assert_int_equal(v8, 0x01);
	assert_int_equal(b.off, 1);
	assert_int_equal(kmc_rbuf_u16(&b, &v16), 0);
	assert_int_equal(v16, 0x0203);
	assert_int_equal(b.off, 3);
	assert_int_equal(kmc_rbuf_u32(&b, &v32), 0);
	assert_int_equal(v32, 0x04050607u);
	assert_int_equal(b.off, 7);
	assert_int_equal(kmc_rbuf_u64(&b, &v64), 0);
	assert_true(v64 == 0x08090a0b0c0d0e0full);
	assert_int_equal(b.off, 15);
	assert_int_equal(kmc_rbuf_left(&b), sizeof(seq) - 15);
}

static void test_rbuf_high_bits(void **state)
{
	/* The top bit must not sign-extend into the result. */
	static const uint8_t ff[8] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xfe };
	kmc_rbuf b = KMC_RBUF(ff, sizeof(ff));
	uint64_t v64 = 0;
	uint32_t v32 = 0;
	uint16_t v16 = 0;

	(void)state;
	assert_int_equal(kmc_rbuf_u64(&b, &v64), 0);
	assert_true(v64 == 0xfffffffffffffffeull);
	b = KMC_RBUF(ff, sizeof(ff));
	assert_int_equal(kmc_rbuf_u32(&b, &v32), 0);
	assert_int_equal(v32, 0xffffffffu);
	assert_int_equal(kmc_rbuf_u16(&b, &v16), 0);
	assert_int_equal(v16, 0xffff);
	assert_int_equal(kmc_rbuf_left(&b), 2);
}

static void test_rbuf_bytes_and_copy(void **state)
{
	kmc_rbuf b = KMC_RBUF(seq, sizeof(seq));
	const uint8_t *p = NULL;
	uint8_t out[4] = { 0 };

	(void)state;
	assert_int_equal(kmc_rbuf_bytes(&b, 3, &p), 0);
	assert_ptr_equal(p, seq);
	assert_int_equal(b.off, 3);
	assert_int_equal(kmc_rbuf_copy(&b, out, 4), 0);
	assert_memory_equal(out, seq + 3, 4);
	assert_int_equal(b.off, 7);
	/* Zero bytes is always fine, even at the end. */
	assert_int_equal(kmc_rbuf_bytes(&b, sizeof(seq) - 7, &p), 0);
	assert_int_equal(kmc_rbuf_left(&b), 0);
	assert_int_equal(kmc_rbuf_bytes(&b, 0, &p), 0);
	assert_int_equal(b.off, sizeof(seq));
}

/* Every getter, one byte short: KMC_E_CORRUPT, cursor and output kept. */
static void test_rbuf_short_reads_fail(void **state)
{
	(void)state;
	for (size_t avail = 0; avail < 8; avail++) {
		kmc_rbuf b = KMC_RBUF(seq, avail);
		uint64_t v64 = 0x5a5a5a5a5a5a5a5aull;

		assert_int_equal(kmc_rbuf_u64(&b, &v64), KMC_E_CORRUPT);
		assert_int_equal(b.off, 0);
		assert_true(v64 == 0x5a5a5a5a5a5a5a5aull);
	}
	for (size_t avail = 0; avail < 4; avail++) {
		kmc_rbuf b = KMC_RBUF(seq, avail);
		uint32_t v32 = 0x5a5a5a5a;

		assert_int_equal(kmc_rbuf_u32(&b, &v32), KMC_E_CORRUPT);
		assert_int_equal(b.off, 0);
		assert_int_equal(v32, 0x5a5a5a5a);
	}
	for (size_t avail = 0; avail < 2; avail++) {
		kmc_rbuf b = KMC_RBUF(seq, avail);
		uint16_t v16 = 0x5a5a;

		assert_int_equal(kmc_rbuf_u16(&b, &v16), KMC_E_CORRUPT);
		assert_int_equal(b.off, 0);
		assert_int_equal(v16, 0x5a5a);
	}
	{
		kmc_rbuf b = KMC_RBUF(seq, 0);
		uint8_t v8 = 0x5a;

		assert_int_equal(kmc_rbuf_u8(&b, &v8), KMC_E_CORRUPT);
		assert_int_equal(b.off, 0);
		assert_int_equal(v8, 0x5a);
	}
}

static void test_rbuf_past_end_keeps_cursor(void **state)
{
	kmc_rbuf b = KMC_RBUF(seq, sizeof(seq));
	const uint8_t *p = (const uint8_t *)"x";
	uint8_t out[32];
	uint32_t v32;
	size_t off;

	(void)state;
	assert_int_equal(kmc_rbuf_bytes(&b, sizeof(seq) - 3, &p), 0);
	off = b.off;
	/* 3 left: a u32 does not fit, the cursor stays put. */
	assert_int_equal(kmc_rbuf_u32(&b, &v32), KMC_E_CORRUPT);
	assert_int_equal(b.off, off);
	assert_true(b.off <= b.len);
	p = NULL;
	assert_int_equal(kmc_rbuf_bytes(&b, 4, &p), KMC_E_CORRUPT);
	assert_null(p);
	assert_int_equal(b.off, off);
	memset(out, 0xa5, sizeof(out));
	assert_int_equal(kmc_rbuf_copy(&b, out, 4), KMC_E_CORRUPT);
	assert_int_equal(b.off, off);
	for (size_t i = 0; i < sizeof(out); i++)
		assert_int_equal(out[i], 0xa5);
	/* A length that would overflow off + n is refused, not wrapped. */
	assert_int_equal(kmc_rbuf_bytes(&b, SIZE_MAX, &p), KMC_E_CORRUPT);
	assert_int_equal(b.off, off);
	assert_int_equal(kmc_rbuf_bytes(&b, SIZE_MAX - 1, &p), KMC_E_CORRUPT);
	assert_int_equal(b.off, off);
	/* What is left can still be read after the failures. */
	assert_int_equal(kmc_rbuf_copy(&b, out, 3), 0);
	assert_memory_equal(out, seq + sizeof(seq) - 3, 3);
	assert_int_equal(b.off, b.len);
	assert_int_equal(kmc_rbuf_left(&b), 0);
	assert_int_equal(kmc_rbuf_u8(&b, out), KMC_E_CORRUPT);
	assert_int_equal(b.off, b.len);
}

/* ---- writing ---------------------------------------------------- */

static void test_wbuf_integers_big_endian(void **state)
{
	kmc_wbuf b = KMC_WBUF(64);
	static const uint8_t want[] = {
		0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
		0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 'x', 'y',
	};

	(void)state;
	kmc_wbuf_u8(&b, 0x01);
	kmc_wbuf_u16(&b, 0x0203);
	kmc_wbuf_u32(&b, 0x04050607u);
	kmc_wbuf_u64(&b, 0x08090a0b0c0d0e0full);
	kmc_wbuf_bytes(&b, "xy", 2);
	assert_int_equal(b.err, 0);
	assert_int_equal(b.len, sizeof(want));
	assert_memory_equal(b.p, want, sizeof(want));
	kmc_wbuf_free(&b);
	assert_null(b.p);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.max, 64);
}

/* What kmc_wbuf writes, kmc_rbuf reads back. */
static void test_wbuf_rbuf_roundtrip(void **state)
{
	kmc_wbuf w = KMC_WBUF(1024);
	kmc_rbuf r;
	uint8_t v8;
	uint16_t v16;
	uint32_t v32;
	uint64_t v64;

	(void)state;
	kmc_wbuf_u8(&w, 0xfe);
	kmc_wbuf_u16(&w, 0xbeef);
	kmc_wbuf_u32(&w, 0xdeadbeefu);
	kmc_wbuf_u64(&w, 0x8000000000000001ull);
	assert_int_equal(w.err, 0);
	r = KMC_RBUF(w.p, w.len);
	assert_int_equal(kmc_rbuf_u8(&r, &v8), 0);
	assert_int_equal(kmc_rbuf_u16(&r, &v16), 0);
	assert_int_equal(kmc_rbuf_u32(&r, &v32), 0);
	assert_int_equal(kmc_rbuf_u64(&r, &v64), 0);
	assert_int_equal(v8, 0xfe);
	assert_int_equal(v16, 0xbeef);
	assert_int_equal(v32, 0xdeadbeefu);
	assert_true(v64 == 0x8000000000000001ull);
	assert_int_equal(kmc_rbuf_left(&r), 0);
	assert_int_equal(kmc_rbuf_u8(&r, &v8), KMC_E_CORRUPT);
	kmc_wbuf_free(&w);
}

static void test_wbuf_grows_and_keeps_bytes(void **state)
{
	kmc_wbuf b = KMC_WBUF(1u << 20);

	(void)state;
	/* Far past the first allocation, one byte at a time and in blocks. */
	for (unsigned i = 0; i < 5000; i++)
		kmc_wbuf_u8(&b, (uint8_t)(i * 7));
	for (unsigned i = 0; i < 100; i++) {
		uint8_t blk[97];

		memset(blk, (int)i, sizeof(blk));
		kmc_wbuf_bytes(&b, blk, sizeof(blk));
	}
	assert_int_equal(b.err, 0);
	assert_int_equal(b.len, 5000 + 100 * 97);
	assert_true(b.cap >= b.len);
	assert_true(b.cap <= b.max);
	for (unsigned i = 0; i < 5000; i++)
		assert_int_equal(b.p[i], (uint8_t)(i * 7));
	for (unsigned i = 0; i < 100; i++)
		for (unsigned j = 0; j < 97; j++)
			assert_int_equal(b.p[5000 + i * 97 + j], (uint8_t)i);
	kmc_wbuf_free(&b);
}

/* Up to exactly max succeeds (the twin of the hard-max failure). */
static void test_wbuf_fills_to_exact_max(void **state)
{
	kmc_wbuf b = KMC_WBUF(300);
	uint8_t blk[300];
	uint8_t *p;

	(void)state;
	memset(blk, 0x3c, sizeof(blk));
	kmc_wbuf_bytes(&b, blk, 299);
	p = kmc_wbuf_reserve(&b, 1);
	assert_non_null(p);
	*p = 0x3c;
	assert_int_equal(b.err, 0);
	assert_int_equal(b.len, 300);
	assert_true(b.cap <= 300);
	assert_memory_equal(b.p, blk, 300);
	kmc_wbuf_free(&b);
}

static void test_wbuf_hard_max_is_sticky(void **state)
{
	kmc_wbuf b = KMC_WBUF(10);

	(void)state;
	kmc_wbuf_u64(&b, 0x1122334455667788ull);
	assert_int_equal(b.err, 0);
	assert_int_equal(b.len, 8);
	/* 8 + 4 > 10. */
	kmc_wbuf_u32(&b, 0xaabbccddu);
	assert_int_equal(b.err, KMC_E_TOO_LARGE);
	assert_int_equal(b.len, 8);
	/* Sticky: a byte that would fit is refused too. */
	kmc_wbuf_u8(&b, 1);
	assert_int_equal(b.err, KMC_E_TOO_LARGE);
	assert_int_equal(b.len, 8);
	kmc_wbuf_u16(&b, 1);
	kmc_wbuf_bytes(&b, "a", 1);
	assert_int_equal(b.err, KMC_E_TOO_LARGE);
	assert_int_equal(b.len, 8);
	assert_null(kmc_wbuf_reserve(&b, 1));
	assert_null(kmc_wbuf_reserve(&b, 0));
	assert_int_equal(b.len, 8);
	/* The bytes written before the failure are intact. */
	{
		static const uint8_t want[8] = { 0x11, 0x22, 0x33, 0x44, 0x55,
			0x66, 0x77, 0x88 };

		assert_memory_equal(b.p, want, 8);
	}
	kmc_wbuf_free(&b);
	assert_int_equal(b.err, 0);
}

static void test_wbuf_reserve(void **state)
{
	kmc_wbuf b = KMC_WBUF(64);
	uint8_t *p, *q;

	(void)state;
	p = kmc_wbuf_reserve(&b, 16);
	assert_non_null(p);
	assert_ptr_equal(p, b.p);
	memset(p, 0x11, 16);
	q = kmc_wbuf_reserve(&b, 16);
	assert_non_null(q);
	assert_ptr_equal(q, b.p + 16);
	assert_int_equal(b.len, 32);
	/* One more than is left: NULL, error set, length kept. */
	assert_null(kmc_wbuf_reserve(&b, 33));
	assert_int_equal(b.err, KMC_E_TOO_LARGE);
	assert_int_equal(b.len, 32);
	assert_null(kmc_wbuf_reserve(&b, 1));
	kmc_wbuf_free(&b);
}

static void test_wbuf_huge_reserve_no_overflow(void **state)
{
	kmc_wbuf b = KMC_WBUF(64);

	(void)state;
	kmc_wbuf_u32(&b, 1);
	assert_null(kmc_wbuf_reserve(&b, SIZE_MAX));
	assert_int_equal(b.err, KMC_E_TOO_LARGE);
	assert_int_equal(b.len, 4);
	kmc_wbuf_free(&b);

	b = KMC_WBUF(SIZE_MAX);
	kmc_wbuf_u32(&b, 1);
	/* len + n would wrap around: must fail, not allocate a few bytes. */
	assert_null(kmc_wbuf_reserve(&b, SIZE_MAX - 2));
	assert_int_not_equal(b.err, 0);
	assert_int_equal(b.len, 4);
	kmc_wbuf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rbuf_getters_big_endian),
		cmocka_unit_test(test_rbuf_high_bits),
		cmocka_unit_test(test_rbuf_bytes_and_copy),
		cmocka_unit_test(test_rbuf_short_reads_fail),
		cmocka_unit_test(test_rbuf_past_end_keeps_cursor),
		cmocka_unit_test(test_wbuf_integers_big_endian),
		cmocka_unit_test(test_wbuf_rbuf_roundtrip),
		cmocka_unit_test(test_wbuf_grows_and_keeps_bytes),
		cmocka_unit_test(test_wbuf_fills_to_exact_max),
		cmocka_unit_test(test_wbuf_hard_max_is_sticky),
		cmocka_unit_test(test_wbuf_reserve),
		cmocka_unit_test(test_wbuf_huge_reserve_no_overflow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

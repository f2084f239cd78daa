/*
 * test_ca.c - a CA's record (vault/carec.c) and what vault/certmake.c
 * decides alone: the end date of --days, serials.
 *
 *	version u8 1 | next_crl u64 | n u32 | n x { u8 serial_len | serial |
 *	u8 name_len | name | u8 kind | i64 not_after | u8 flags |
 *	[i64 revoked_at | u8 reason] }
 *
 * What ca_rec_encode() writes ca_rec_parse() reads back, byte for byte;
 * every malformed record (another version, CRL number 0, serials out of
 * order, repeated or with a leading zero, bad names, kinds, flags or
 * reasons, counts past the bytes, short or trailing bytes) is refused.
 * The next CRL's number: above the record's last and the clock's.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "../../vault/ca.h"

static ca_entry entry(uint8_t first, const char *name, int revoked)
{
	ca_entry e = { 0 };

	e.serial_len = 3;
	e.serial[0] = first;
	e.serial[1] = 0xab;
	e.serial[2] = 0xcd;
	snprintf(e.name, sizeof(e.name), "%s", name);
	e.kind = CA_KIND_SERVER;
	e.not_after = 2000000000;
	if (revoked) {
		e.flags = CA_FLAG_REVOKED;
		e.revoked_at = 1900000000;
		e.reason = 1;
	}
	return e;
}

static void encode(const ca_rec *c, uint8_t **p, size_t *len)
{
	assert_int_equal(ca_rec_encode(c, p, len), 0);
}

static void test_roundtrip(void **state)
{
	ca_rec c = { .next_crl = 7 }, back;
	ca_entry e;
	uint8_t *p, *q;
	size_t len, len2;

	(void)state;
	e = entry(0x30, "db", 0);
	assert_int_equal(ca_rec_add(&c, &e), 0);
	e = entry(0x10, "app/client", 1);
	assert_int_equal(ca_rec_add(&c, &e), 0);
	e = entry(0x20, "x", 0);
	e.serial_len = 1;	/* shorter: the smallest number */
	e.kind = CA_KIND_CLIENT;
	assert_int_equal(ca_rec_add(&c, &e), 0);
	/* The same serial twice: refused. */
	assert_int_equal(ca_rec_add(&c, &e), KMC_E_EXISTS);
	assert_int_equal(c.n, 3);
	assert_string_equal(c.e[0].name, "x");
	assert_string_equal(c.e[1].name, "app/client");
	assert_string_equal(c.e[2].name, "db");
	encode(&c, &p, &len);
	assert_int_equal(ca_rec_parse(p, len, &back), 0);
	assert_int_equal(back.n, 3);
	assert_int_equal(back.next_crl, 7);
	assert_int_equal(back.e[1].flags, CA_FLAG_REVOKED);
	assert_int_equal(back.e[1].reason, 1);
	assert_int_equal(back.e[1].revoked_at, 1900000000);
	assert_int_equal(back.e[0].kind, CA_KIND_CLIENT);
	assert_true(ca_rec_find(&back, c.e[2].serial, 3) == 2);
	assert_true(ca_rec_find(&back, (const uint8_t *)"\x01", 1) == -1);
	encode(&back, &q, &len2);
	assert_int_equal(len, len2);
	assert_memory_equal(p, q, len);
	free(p);
	free(q);
	ca_rec_clear(&c);
	ca_rec_clear(&back);
}

static void test_empty(void **state)
{
	ca_rec c = { .next_crl = 1 }, back;
	uint8_t *p;
	size_t len;

	(void)state;
	encode(&c, &p, &len);
	assert_int_equal(len, 1 + 8 + 4);
	assert_int_equal(ca_rec_parse(p, len, &back), 0);
	assert_int_equal(back.n, 0);
	assert_int_equal(back.next_crl, 1);
	free(p);
}

/* parse_bad BYTES: refused with err, and nothing left allocated. */
static void parse_bad(const uint8_t *p, size_t len, int err)
{
	ca_rec back;

	assert_int_equal(ca_rec_parse(p, len, &back), err);
	assert_null(back.e);
	assert_int_equal(back.n, 0);
}

static void test_malformed(void **state)
{
	ca_rec c = { .next_crl = 2 };
	ca_entry e = entry(0x10, "a", 1);
	uint8_t *p, *m;
	size_t len;

	(void)state;
	assert_int_equal(ca_rec_add(&c, &e), 0);
	e = entry(0x11, "b", 0);
	assert_int_equal(ca_rec_add(&c, &e), 0);
	encode(&c, &p, &len);
	m = malloc(len + 1);
	assert_non_null(m);

	/* Every cut is refused. */
	for (size_t n = 0; n < len; n++)
		parse_bad(p, n, KMC_E_CORRUPT);
	/* A byte after the end. */
	memcpy(m, p, len);
	m[len] = 0;
	parse_bad(m, len + 1, KMC_E_CORRUPT);
	/* Another version. */
	memcpy(m, p, len);
	m[0] = 2;
	parse_bad(m, len, KMC_E_VERSION);
	/* CRL number 0. */
	memcpy(m, p, len);
	memset(m + 1, 0, 8);
	parse_bad(m, len, KMC_E_CORRUPT);
	/* A count past the bytes. */
	memcpy(m, p, len);
	m[12] = 3;
	parse_bad(m, len, KMC_E_CORRUPT);
	/* Entry 0 (serial 10abcd, "a", revoked) starts at 13: its serial
	   with a leading zero byte. */
	memcpy(m, p, len);
	m[14] = 0;
	parse_bad(m, len, KMC_E_CORRUPT);
	/* Serials out of order: entry 0's made larger than entry 1's. */
	memcpy(m, p, len);
	m[14] = 0x12;
	parse_bad(m, len, KMC_E_CORRUPT);
	/* The same serial twice. */
	memcpy(m, p, len);
	m[14] = 0x11;
	parse_bad(m, len, KMC_E_CORRUPT);
	/* A name with a character item names do not take. */
	memcpy(m, p, len);
	m[18] = ' ';
	parse_bad(m, len, KMC_E_CORRUPT);
	/* A kind that is neither server nor client. */
	memcpy(m, p, len);
	m[19] = 3;
	parse_bad(m, len, KMC_E_CORRUPT);
	/* Unknown flags. */
	memcpy(m, p, len);
	m[28] = 3;
	parse_bad(m, len, KMC_E_CORRUPT);
	/* Reason 7 (unused in RFC 5280). */
	memcpy(m, p, len);
	m[37] = 7;
	parse_bad(m, len, KMC_E_CORRUPT);
	/* ...and the unchanged bytes still parse. */
	memcpy(m, p, len);
	{
		ca_rec back;

		assert_int_equal(ca_rec_parse(m, len, &back), 0);
		ca_rec_clear(&back);
	}
	free(m);
	free(p);
	ca_rec_clear(&c);
}

static void test_serial_text(void **state)
{
	uint8_t s[CA_SERIAL_MAX];
	char text[KMC_SERIAL_TEXT_MAX];
	size_t n;

	(void)state;
	assert_int_equal(ca_serial_parse("7A3F01", s, &n), 0);
	assert_int_equal(n, 3);
	ca_serial_text(s, n, text);
	assert_string_equal(text, "7A3F01");
	assert_int_equal(ca_serial_parse("7a:3f:01", s, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(ca_serial_parse("0x00007a3f01", s, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(s[0], 0x7a);
	assert_int_equal(ca_serial_parse("abc", s, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(s[0], 0x0a);
	/* 20 bytes fit, 21 do not. */
	assert_int_equal(ca_serial_parse("0102030405060708090A0B0C0D0E0F"
		"1011121314", s, &n), 0);
	assert_int_equal(n, 20);
	assert_int_equal(ca_serial_parse("0102030405060708090A0B0C0D0E0F"
		"101112131415", s, &n), KMC_E_INVALID);
	assert_int_equal(ca_serial_parse("", s, &n), KMC_E_INVALID);
	assert_int_equal(ca_serial_parse("0", s, &n), KMC_E_INVALID);
	assert_int_equal(ca_serial_parse("7g", s, &n), KMC_E_INVALID);
	assert_int_equal(ca_serial_parse("7a:3", s, &n), KMC_E_INVALID);
	assert_int_equal(ca_serial_parse("7a3f:01", s, &n), KMC_E_INVALID);
	assert_int_equal(ca_serial_parse("7a:", s, &n), KMC_E_INVALID);
	assert_int_equal(ca_serial_parse(":7a", s, &n), KMC_E_INVALID);
	assert_int_equal(ca_serial_parse("db", s, &n), 0);	/* a name too */
}

static void test_reasons(void **state)
{
	int code;

	(void)state;
	assert_int_equal(ca_reason_parse("keyCompromise", &code), 0);
	assert_int_equal(code, 1);
	assert_int_equal(ca_reason_parse("SUPERSEDED", &code), 0);
	assert_int_equal(code, 4);
	assert_int_equal(ca_reason_parse("aACompromise", &code), 0);
	assert_int_equal(code, 10);
	assert_int_equal(ca_reason_parse("certificateHold", &code),
		KMC_E_INVALID);
	assert_int_equal(ca_reason_parse("removeFromCRL", &code),
		KMC_E_INVALID);
	assert_null(ca_reason_name(7));
	assert_null(ca_reason_name(6));
	assert_null(ca_reason_name(11));
	assert_string_equal(ca_reason_name(0), "unspecified");
}

static void test_end(void **state)
{
	int64_t now = 1800000000, end;

	(void)state;
	assert_int_equal(certmake_end("--days", 1, now, 0, NULL, &end), 0);
	assert_int_equal(end, now + 86400);
	assert_int_equal(certmake_end("--days", 0, now, 0, NULL, &end),
		KMC_E_INVALID);
	assert_int_equal(certmake_end("--days", -3, now, 0, NULL, &end),
		KMC_E_INVALID);
	/* Past 2049 (GeneralizedTime) passes; the last whole day before
	   the year 10000 passes, the next does not. */
	assert_int_equal(certmake_end("--days", 10000, now, 0, NULL, &end), 0);
	assert_int_equal(certmake_end("--days", (CA_TIME_END - now) / 86400,
		now, 0, NULL, &end), 0);
	assert_true(end <= CA_TIME_END);
	assert_int_equal(certmake_end("--days",
		(CA_TIME_END - now) / 86400 + 1, now, 0, NULL, &end),
		KMC_E_INVALID);
	assert_int_equal(certmake_end("--days", 100000000, now, 0, NULL, &end),
		KMC_E_INVALID);
	/* Within the CA's own end. */
	assert_int_equal(certmake_end("--days", 10, now, now + 10 * 86400,
		"the CA", &end), 0);
	assert_int_equal(certmake_end("--days", 11, now, now + 10 * 86400,
		"the CA", &end), KMC_E_INVALID);
}

static void test_random_serial(void **state)
{
	uint8_t a[CA_SERIAL_MAX], b[CA_SERIAL_MAX];

	(void)state;
	for (int i = 0; i < 64; i++) {
		certmake_serial(a);
		assert_true(a[0] >= 1 && a[0] <= 0x7f);
		assert_true(ca_serial_valid(a, sizeof(a)));
	}
	certmake_serial(b);
	assert_memory_not_equal(a, b, sizeof(a));
}

/* The next CRL number: the record's count or the clock (microseconds),
   whichever is larger, so a record a restore took back still numbers
   above what the CA gave, and a clock set back still gives a number
   above the last. */
static void test_crl_number(void **state)
{
	const uint64_t t = UINT64_C(1796000000000000);	/* 2026, in us */
	ca_rec c = { .next_crl = 1 };
	uint64_t n;

	(void)state;
	/* A fresh CA (or one kmc numbered 1, 2, 3 before): the clock. */
	assert_int_equal(ca_crl_number(&c, t, &n), 0);
	assert_true(n == t);
	/* A second CRL in the same microsecond: one above the last. */
	c.next_crl = t + 1;
	assert_int_equal(ca_crl_number(&c, t, &n), 0);
	assert_true(n == t + 1);
	/* Later: the clock again, above the last. */
	assert_int_equal(ca_crl_number(&c, t + 5, &n), 0);
	assert_true(n == t + 5);
	/* A restored record (count from before the backup), the clock on:
	   above every number given before the restore. */
	c.next_crl = t - 1000000;
	assert_int_equal(ca_crl_number(&c, t + 6, &n), 0);
	assert_true(n == t + 6);
	/* The clock set back a day: still above the record's last. */
	c.next_crl = t + 7;
	assert_int_equal(ca_crl_number(&c, t - UINT64_C(86400000000), &n), 0);
	assert_true(n == t + 7);
	/* The last number: refused, by the record or by the clock. */
	c.next_crl = CA_CRL_NUMBER_MAX;
	assert_int_equal(ca_crl_number(&c, t, &n), KMC_E_LIMIT);
	c.next_crl = 1;
	assert_int_equal(ca_crl_number(&c, CA_CRL_NUMBER_MAX, &n),
		KMC_E_LIMIT);
	assert_int_equal(ca_crl_number(&c, CA_CRL_NUMBER_MAX - 1, &n), 0);
	assert_true(n == CA_CRL_NUMBER_MAX - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_serial_text),
		cmocka_unit_test(test_reasons),
		cmocka_unit_test(test_end),
		cmocka_unit_test(test_random_serial),
		cmocka_unit_test(test_crl_number),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

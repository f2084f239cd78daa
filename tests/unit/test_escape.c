/*
 * test_escape.c - kmc_escape() (kmc/escape.c): names and paths that
 * others chose, made safe to print. Nothing that is not printable text
 * survives; UTF-8 text does; the output is cut at a whole escape.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include <kmc.h>

static void check(const char *in, const char *want)
{
	char buf[256];

	assert_ptr_equal(kmc_escape(in, buf, sizeof(buf)), buf);
	assert_string_equal(buf, want);
}

static void test_controls_are_escaped(void **state)
{
	(void)state;
	check("plain name-1.2", "plain name-1.2");
	check("a\nkmc: forged", "a\\nkmc: forged");
	check("\r\t\\", "\\r\\t\\\\");
	check("\x1b[1mbold\x07", "\\x1b[1mbold\\x07");
	check("del\x7f", "del\\x7f");
}

static void test_utf8_kept_and_bad_bytes_escaped(void **state)
{
	(void)state;
	check("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91");
	/* C1 controls (U+0080..U+009F) drive some terminals. */
	check("\xc2\x9b" "2J", "\\xc2\\x9b2J");
	/* Stray, overlong, surrogate, cut off. */
	check("\xff", "\\xff");
	check("\xc0\xaf", "\\xc0\\xaf");
	check("\xed\xa0\x80", "\\xed\\xa0\\x80");
	check("\xe2\x82", "\\xe2\\x82");
}

static void test_cut_at_a_whole_escape(void **state)
{
	char buf[6];

	(void)state;
	/* "ab\x1b" needs 7 bytes with its NUL: the escape is left out
	   whole, never half written. */
	kmc_escape("ab\x1b", buf, sizeof(buf));
	assert_string_equal(buf, "ab");
	kmc_escape("abcdefgh", buf, sizeof(buf));
	assert_string_equal(buf, "abcde");
	/* 4 * strlen + 1 always fits. */
	char big[4 * 3 + 1];
	kmc_escape("\x01\x02\x03", big, sizeof(big));
	assert_string_equal(big, "\\x01\\x02\\x03");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_controls_are_escaped),
		cmocka_unit_test(test_utf8_kept_and_bad_bytes_escaped),
		cmocka_unit_test(test_cut_at_a_whole_escape),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

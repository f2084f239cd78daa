/*
 * test_errors.c - the return codes (kmc/errors.c): the library's own
 * faults lie outside errno's range, so no -errno is ever read as one of
 * them, and kmc_strerror() explains both kinds.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <kmc.h>

/* Every library code, first to last: a gap or a stray value fails. */
static void test_codes_below_base(void **state)
{
	(void)state;
	assert_true(KMC_E_BASE < KMC_ERRNO_MIN);
	for (int e = KMC_E_INVALID; e >= KMC_E_AUDIT; e--) {
		assert_false(KMC_IS_ERRNO(e));
		assert_true(e < KMC_E_BASE);
		assert_string_not_equal(kmc_strerror(e), "unknown error");
	}
	assert_int_equal(KMC_E_INVALID, KMC_E_BASE - 1);
}

/* strerror() of an unknown number hands back a buffer its next call
 * frees: keep a copy before asking again. */
static void assert_strerror(int err)
{
	char want[256];

	snprintf(want, sizeof(want), "%s", strerror(-err));
	assert_string_equal(kmc_strerror(err), want);
}

static void test_errno_through_strerror(void **state)
{
	(void)state;
	assert_strerror(-ENOENT);
	assert_strerror(-EACCES);
	assert_strerror(KMC_ERRNO_MIN);
	assert_true(KMC_IS_ERRNO(-1) && KMC_IS_ERRNO(KMC_ERRNO_MIN));
	assert_false(KMC_IS_ERRNO(0) || KMC_IS_ERRNO(KMC_ERRNO_MIN - 1));
}

/* Negative twins: what is neither kind is unknown, never a neighbour's
 * message (the old table started inside errno's range, at -1000). */
static void test_unknown(void **state)
{
	(void)state;
	assert_string_equal(kmc_strerror(0), "success");
	assert_string_equal(kmc_strerror(KMC_E_BASE), "unknown error");
	assert_string_equal(kmc_strerror(KMC_E_AUDIT - 1), "unknown error");
	assert_string_equal(kmc_strerror(KMC_ERRNO_MIN - 1), "unknown error");
	assert_strerror(-1000);
	assert_string_equal(kmc_strerror(1), "unknown error");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_codes_below_base),
		cmocka_unit_test(test_errno_through_strerror),
		cmocka_unit_test(test_unknown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

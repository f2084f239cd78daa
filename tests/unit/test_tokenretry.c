/*
 * test_tokenretry.c - the delay before a token found gone is tried again
 * (pkcs11/tokenretry.c), driven by a clock the test sets: no call waits
 * before the first failure; after it, calls fail at once with the
 * remembered error until the delay has passed; the delay doubles with
 * each failed attempt up to its bound; a success forgets; tokens are
 * apart; a forked child starts clean.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <kmc.h>
#include "../../pkcs11/tokenretry.h"

#define A "pkcs11:token=a module-path=/usr/lib/x.so module-name="
#define B "pkcs11:token=b module-path=/usr/lib/x.so module-name="

static void fail_now(const char *name, uint64_t now)
{
	kmc_detail(KMC_E_P11_TOKEN, "no token matching %s", name);
	token_retry_failed(name, KMC_E_P11_TOKEN, now);
}

static void test_first_call_goes(void **state)
{
	(void)state;
	assert_int_equal(token_retry_check(A, 1000), 0);
	assert_int_equal(token_retry_delay(A, 1000), 0);
}

static void test_gone_waits_then_tries(void **state)
{
	uint64_t t = 10000;

	(void)state;
	fail_now(A, t);
	/* Within the delay: the remembered error, its detail repeated. */
	assert_int_equal(token_retry_check(A, t + 1), KMC_E_P11_TOKEN);
	assert_non_null(strstr(kmc_error_detail(), "no token matching " A));
	assert_non_null(strstr(kmc_error_detail(), "tried again in"));
	assert_int_equal(token_retry_check(A, t + TOKEN_RETRY_FIRST_MS - 1),
		KMC_E_P11_TOKEN);
	/* Then one real attempt. */
	assert_int_equal(token_retry_check(A, t + TOKEN_RETRY_FIRST_MS), 0);
	token_retry_ok(A);
	assert_int_equal(token_retry_check(A, t + TOKEN_RETRY_FIRST_MS), 0);
}

static void test_delay_doubles_to_bound(void **state)
{
	uint64_t t = 20000, want = TOKEN_RETRY_FIRST_MS;

	(void)state;
	for (int i = 0; i < 12; i++) {
		fail_now(A, t);
		assert_int_equal(token_retry_delay(A, t), want);
		t += want;
		assert_int_equal(token_retry_check(A, t), 0);
		want = want * 2 > TOKEN_RETRY_MAX_MS ? TOKEN_RETRY_MAX_MS : want * 2;
	}
	assert_int_equal(token_retry_delay(A, t - 1), 1);
	fail_now(A, t);
	assert_int_equal(token_retry_delay(A, t), TOKEN_RETRY_MAX_MS);
	/* A success: the next failure starts at the first delay again. */
	token_retry_ok(A);
	fail_now(A, t + 1);
	assert_int_equal(token_retry_delay(A, t + 1), TOKEN_RETRY_FIRST_MS);
	token_retry_ok(A);
}

static void test_tokens_apart(void **state)
{
	(void)state;
	fail_now(A, 50000);
	assert_int_equal(token_retry_check(B, 50001), 0);
	assert_int_equal(token_retry_check(A, 50001), KMC_E_P11_TOKEN);
	token_retry_ok(A);
}

static void test_many_tokens_oldest_goes(void **state)
{
	char name[64];

	(void)state;
	for (int i = 0; i <= TOKEN_RETRY_SLOTS; i++) {
		snprintf(name, sizeof(name), "pkcs11:token=t%d", i);
		fail_now(name, 60000 + (uint64_t)i);
	}
	/* The first fell off; the newest are all remembered. */
	assert_int_equal(token_retry_check("pkcs11:token=t0", 60100), 0);
	for (int i = 1; i <= TOKEN_RETRY_SLOTS; i++) {
		snprintf(name, sizeof(name), "pkcs11:token=t%d", i);
		assert_int_equal(token_retry_check(name, 60100), KMC_E_P11_TOKEN);
		token_retry_ok(name);
	}
}

static void test_child_starts_clean(void **state)
{
	pid_t pid;
	int status;

	(void)state;
	fail_now(A, 70000);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(token_retry_check(A, 70001) == 0 ? 0 : 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* The parent still waits. */
	assert_int_equal(token_retry_check(A, 70001), KMC_E_P11_TOKEN);
	token_retry_ok(A);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_call_goes),
		cmocka_unit_test(test_gone_waits_then_tries),
		cmocka_unit_test(test_delay_doubles_to_bound),
		cmocka_unit_test(test_tokens_apart),
		cmocka_unit_test(test_many_tokens_oldest_goes),
		cmocka_unit_test(test_child_starts_clean),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_opensslmem.c - kmc_openssl_wipe_frees() (vault/opensslmem.c): the
 * allocator it gives OpenSSL, and its refusal once OpenSSL has allocated.
 *
 * That the freed blocks are wiped is seen where it matters, in a core of
 * a process at exit (tests/e2e/test_secret_hygiene.sh, whose control
 * without the call finds the key). Here: the calls succeed (twice), the
 * allocator is the one OpenSSL then uses, its realloc keeps the bytes
 * (growing and shrinking, which it does by a new block, never realloc()),
 * and a process whose OpenSSL has allocated is refused with
 * KMC_E_INVALID and a detail, its allocator unchanged.
 *
 * The tests run in this order: the refusal in a child forked before this
 * process's OpenSSL has allocated anything.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <openssl/crypto.h>
#include <kmc.h>

/* The child: OpenSSL allocates, then the call must be refused. Exit 0 if
   it was, with a detail and the allocator unchanged; 3 if not. */
static void test_refused_after_first_allocation(void **state)
{
	int status;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		CRYPTO_malloc_fn m0, m1;
		CRYPTO_realloc_fn r0, r1;
		CRYPTO_free_fn f0, f1;
		void *p = OPENSSL_malloc(16);
		int ok;

		CRYPTO_get_mem_functions(&m0, &r0, &f0);
		ok = p && kmc_openssl_wipe_frees() == KMC_E_INVALID &&
			strstr(kmc_error_detail(), "first thing in main");
		CRYPTO_get_mem_functions(&m1, &r1, &f1);
		ok = ok && m0 == m1 && r0 == r1 && f0 == f1;
		OPENSSL_free(p);
		_exit(ok ? 0 : 3);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_installed_and_realloc_keeps_bytes(void **state)
{
	CRYPTO_malloc_fn m0, m1;
	CRYPTO_realloc_fn r0, r1;
	CRYPTO_free_fn f0, f1;
	unsigned char *p, *q;

	(void)state;
	CRYPTO_get_mem_functions(&m0, &r0, &f0);
	assert_int_equal(kmc_openssl_wipe_frees(), 0);
	CRYPTO_get_mem_functions(&m1, &r1, &f1);
	assert_true(m1 != m0 && r1 != r0 && f1 != f0);
	/* A second call: nothing to do, and not an error. */
	assert_int_equal(kmc_openssl_wipe_frees(), 0);

	p = OPENSSL_malloc(100);
	assert_non_null(p);
	for (int i = 0; i < 100; i++)
		p[i] = (unsigned char)i;
	q = OPENSSL_realloc(p, 5000);	/* grows */
	assert_non_null(q);
	for (int i = 0; i < 100; i++)
		assert_int_equal(q[i], i);
	p = OPENSSL_realloc(q, 10);	/* shrinks */
	assert_non_null(p);
	for (int i = 0; i < 10; i++)
		assert_int_equal(p[i], i);
	assert_null(OPENSSL_realloc(p, 0));	/* frees */
	p = OPENSSL_realloc(NULL, 32);		/* allocates */
	assert_non_null(p);
	OPENSSL_clear_free(p, 32);
	OPENSSL_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refused_after_first_allocation),
		cmocka_unit_test(test_installed_and_realloc_keeps_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

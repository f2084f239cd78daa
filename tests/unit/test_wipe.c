/*
 * test_wipe.c - freed secret buffers are wiped, tested rather than taken
 * on trust.
 *
 * A secret of up to 4 KiB lives in a slot of the guarded arena
 * (kmc/arena.c), whose region stays mapped after the slot is freed: the
 * test reads the freed slot there (kmc_arena_peek(), which also works
 * under the sanitizers' marks), and it must be all zero.
 *
 * A larger secret gets its own pages: kmc_secret_free() calls sodium_free(),
 * which makes the guarded region
 * readable and writable again, zeroes the data pages (sodium_munlock()),
 * then gives the whole region back with munmap(). Once unmapped, the bytes
 * can no longer be read, so the test looks at them at the last moment they
 * exist: this executable defines its own munmap(), which libsodium's call
 * (through its PLT; libsodium.so imports munmap from libc) binds to, since
 * the executable comes first in the lookup order. The hook copies the
 * watched bytes out of the region about to go, then calls the real munmap
 * (dlsym(RTLD_NEXT); dlsym lives in libc since glibc 2.34, so no -ldl).
 *
 * That the hook really sees libsodium's calls is asserted, not assumed:
 * freeing a secret must raise the hook's call count and show it the region
 * that holds the secret; this test calls munmap itself only in the negative
 * control, which shows that the check fails on a region unmapped without a
 * wipe.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include "unit_files.h"

#include <dlfcn.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <kmc.h>
#include <kmc/admin.h>
#include "../../kmc/common.h"
#include "../../kmc/arena.h"

/* ---- the munmap hook ---------------------------------------------- */

#define WATCH_MAX 65536

static struct {
	unsigned long calls;	/* every munmap that came through the hook */
	const unsigned char *p;	/* the watched bytes, NULL: none */
	size_t len;
	int seen;		/* a munmap covered all of them */
	void *addr;		/* that munmap's region */
	size_t addr_len;
	unsigned char copy[WATCH_MAX];	/* the bytes just before it */
} hook;

/* The build hides symbols by default; this one must be seen by libsodium. */
__attribute__((visibility("default"))) int munmap(void *addr, size_t len)
{
	static int (*real)(void *, size_t);
	const unsigned char *lo = addr;

	if (!real)
		real = (int (*)(void *, size_t))dlsym(RTLD_NEXT, "munmap");
	if (!real)
		abort();
	hook.calls++;
	/* The first munmap that takes the whole watched range away. sodium_free
	   made the region readable before it wiped it, so reading is safe. */
	if (hook.p && !hook.seen && hook.p >= lo && hook.len <= len &&
	    (size_t)(hook.p - lo) <= len - hook.len) {
		memcpy(hook.copy, hook.p, hook.len);
		hook.seen = 1;
		hook.addr = addr;
		hook.addr_len = len;
	}
	return real(addr, len);
}

static void watch(const void *p, size_t len)
{
	assert_true(len > 0 && len <= WATCH_MAX);
	hook.p = p;
	hook.len = len;
	hook.seen = 0;
	hook.addr = NULL;
	hook.addr_len = 0;
	memset(hook.copy, 0xEE, sizeof(hook.copy));
}

static void unwatch(void)
{
	hook.p = NULL;
}

static int all_zero(const unsigned char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return 0;
	return 1;
}

static int all_of(const unsigned char *p, size_t len, unsigned char c)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != c)
			return 0;
	return 1;
}

static void report_unwiped(const unsigned char *copy, size_t len)
{
	size_t bad = 0;

	for (size_t i = 0; i < len; i++)
		if (copy[i] && bad++ < 8)
			print_error("byte %zu was 0x%02x after the free\n", i,
				copy[i]);
	fail_msg("the freed secret was not wiped: %zu of %zu bytes not zero",
		bad, len);
}

/* Free s and look at [data, data + len) after: in its arena slot, still
 * mapped, or (a large secret) through the hook, which must have seen the
 * region go, through libsodium; either way those bytes must be all zero. */
static void free_and_check_wiped(kmc_secret *s, size_t len)
{
	const unsigned char *data = kmc_secret_data(s);
	unsigned long before = hook.calls;

	assert_true(len <= WATCH_MAX);
	if (kmc_arena_peek(data, len, hook.copy) == 0) {
		/* Control: the same look reads the bytes before the free. */
		assert_false(all_zero(hook.copy, len));
		kmc_secret_free(s);
		memset(hook.copy, 0xEE, len);
		/* The region stays mapped: the last empty one of a size is
		   kept, and nothing else frees in between. */
		assert_int_equal(kmc_arena_peek(data, len, hook.copy), 0);
		if (!all_zero(hook.copy, len))
			report_unwiped(hook.copy, len);
		return;
	}
	watch(data, len);
	kmc_secret_free(s);
	unwatch();
	assert_true(hook.calls > before);	/* sodium_free's munmap came here */
	assert_true(hook.seen);			/* ... and it took the secret */
	assert_true((const unsigned char *)hook.addr <= data);
	/* The guarded region is page aligned, a guard page on each side. */
	assert_int_equal((uintptr_t)hook.addr % (uintptr_t)sysconf(_SC_PAGESIZE),
		0);
	assert_true(hook.addr_len >= 3 * (size_t)sysconf(_SC_PAGESIZE));
	if (!all_zero(hook.copy, len))
		report_unwiped(hook.copy, len);
}

/* ---- temp dirs ------------------------------------------------------- */

static char tmpdir[256];

static int setup_tmp(void **state)
{
	const char *base = getenv("TMPDIR");

	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "%s/kmc-test-wipe.XXXXXX",
		base && *base ? base : "/tmp");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_tmp(void **state)
{
	(void)state;
	(void)rm_rf(tmpdir);
	return 0;
}

/* ---- tests ----------------------------------------------------------- */

/* The negative control: a region unmapped without a wipe is caught. This
 * is the only munmap this file makes itself. */
static void test_control_unwiped_region_is_caught(void **state)
{
	long page = sysconf(_SC_PAGESIZE);
	unsigned long before = hook.calls;
	unsigned char *p;

	(void)state;
	p = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE,
		MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(p != MAP_FAILED);
	memset(p, 0xA5, (size_t)page);
	watch(p + 100, 64);
	assert_int_equal(munmap(p, (size_t)page), 0);
	unwatch();
	assert_int_equal(hook.calls, before + 1);
	assert_true(hook.seen);
	assert_ptr_equal(hook.addr, p);
	assert_false(all_zero(hook.copy, 64));
	assert_true(all_of(hook.copy, 64, 0xA5));
}

/* A munmap of a region that does not hold the watched bytes is not taken
 * for theirs. */
static void test_control_other_region_is_not_taken(void **state)
{
	long page = sysconf(_SC_PAGESIZE);
	unsigned char *p, *q;

	(void)state;
	p = mmap(NULL, 2 * (size_t)page, PROT_READ | PROT_WRITE,
		MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(p != MAP_FAILED);
	q = p + page;
	/* Watched bytes straddle the two pages; unmapping one is not enough. */
	watch(q - 8, 16);
	assert_int_equal(munmap(q, (size_t)page), 0);
	assert_false(hook.seen);
	assert_int_equal(munmap(p, (size_t)page), 0);
	assert_false(hook.seen);
	unwatch();
}

static void test_free_wipes_new_secret(void **state)
{
	kmc_secret *s = NULL;

	(void)state;
	assert_int_equal(kmc_secret_new(64, &s), 0);
	assert_non_null(s);
	memset(kmc_secret_data(s), 0xA5, 64);
	assert_true(all_of(kmc_secret_data(s), 64, 0xA5));
	/* 64 bytes and the NUL that follows them. */
	free_and_check_wiped(s, 65);
}

/* Several pages: the wipe covers more than the first one. */
static void test_free_wipes_large_secret(void **state)
{
	const size_t len = 3 * 4096 + 123;
	kmc_secret *s = NULL;

	(void)state;
	assert_int_equal(kmc_secret_new(len, &s), 0);
	memset(kmc_secret_data(s), 0x5A, len);
	free_and_check_wiped(s, len + 1);
}

static void test_shrink_wipes_tail_then_free_wipes_all(void **state)
{
	kmc_secret *s = NULL;
	unsigned char *d;

	(void)state;
	assert_int_equal(kmc_secret_new(64, &s), 0);
	d = kmc_secret_data(s);
	memset(d, 0xA5, 64);
	/* Control: the same check reads the tail as not wiped before. */
	assert_false(all_zero(d + 16, 48));
	assert_int_equal(kmc_secret_shrink(s, 16), 0);
	assert_int_equal(kmc_secret_len(s), 16);
	assert_ptr_equal(kmc_secret_data(s), d);
	/* The tail and the old terminator are zero, the head is kept. */
	assert_true(all_zero(d + 16, 64 + 1 - 16));
	assert_true(all_of(d, 16, 0xA5));
	/* And what is left goes on free: all 65 bytes of the allocation. */
	free_and_check_wiped(s, 65);
}

static void test_free_wipes_vault_item(void **state)
{
	static const char pw[] = "Wipe-Me-Item-Password-91c2e0";
	const size_t n = sizeof(pw) - 1;
	kmc_options o = KMC_OPTIONS_INIT;
	char vdir[300], hk[300];
	kmc_vault *v = NULL;
	kmc_secret *s = NULL;

	(void)state;
	snprintf(vdir, sizeof(vdir), "%s/vault", tmpdir);
	snprintf(hk, sizeof(hk), "%s/host.key", tmpdir);
	assert_int_equal(setenv("KMC_HOST_KEY", hk, 1), 0);
	assert_int_equal(kmc_vault_init(vdir, KMC_PROTECTOR_HOST, &o), 0);
	assert_int_equal(kmc_vault_open(vdir, KMC_OPEN_WRITE, &v), 0);
	assert_int_equal(kmc_item_put(v, "hyg", KMC_ITEM_PASSWORD, pw, n), 0);

	assert_int_equal(kmc_item_get_secret(v, "hyg", &s), 0);
	assert_int_equal(kmc_secret_len(s), n);
	assert_memory_equal(kmc_secret_data(s), pw, n);
	/* The password, its NUL, freed while the vault stays open. */
	free_and_check_wiped(s, n + 1);

	/* Through kmc_item_get too, with the type checked. */
	s = NULL;
	assert_int_equal(kmc_item_get(v, "hyg", KMC_ITEM_PASSWORD, &s), 0);
	assert_memory_equal(kmc_secret_data(s), pw, n);
	free_and_check_wiped(s, n + 1);

	kmc_vault_close(v);
	assert_int_equal(unsetenv("KMC_HOST_KEY"), 0);
}

/* ---- KMC_CLEANUP_ERASE --------------------------------------------- */

/* The eraser sits in an inner scope while the array lives on outside it,
 * so the bytes can be looked at once the scope is left. */
static int erase_early(uint8_t key[32], int fail)
{
	KMC_CLEANUP_ERASE(*(uint8_t (*)[32])key);

	memset(key, 0xa5, 32);
	if (fail)
		return -1;
	return 0;
}

static void test_cleanup_erase_every_return(void **state)
{
	uint8_t key[32];

	(void)state;
	assert_int_equal(erase_early(key, 0), 0);
	assert_true(all_zero(key, sizeof(key)));
	assert_int_equal(erase_early(key, 1), -1);
	assert_true(all_zero(key, sizeof(key)));
	{
		uint8_t inner[48];

		memset(inner, 0x5a, sizeof(inner));
		{
			KMC_CLEANUP_ERASE(inner);
		}
		assert_true(all_zero(inner, sizeof(inner)));
	}
}

/* Negative control: without the eraser the bytes stay. */
static void test_control_without_erase_bytes_stay(void **state)
{
	uint8_t key[32];

	(void)state;
	memset(key, 0xa5, sizeof(key));
	{
		uint8_t *p = key;

		(void)p;
	}
	assert_false(all_zero(key, sizeof(key)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cleanup_erase_every_return),
		cmocka_unit_test(test_control_without_erase_bytes_stay),
		cmocka_unit_test(test_control_unwiped_region_is_caught),
		cmocka_unit_test(test_control_other_region_is_not_taken),
		cmocka_unit_test(test_free_wipes_new_secret),
		cmocka_unit_test(test_free_wipes_large_secret),
		cmocka_unit_test(test_shrink_wipes_tail_then_free_wipes_all),
		cmocka_unit_test(test_free_wipes_vault_item),
	};

	return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}

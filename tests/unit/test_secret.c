/*
 * test_secret.c - guarded secrets (kmc/secret.c) and reading them from
 * descriptors and files (safeio/secretio.c). Secrets made read-only
 * together (kmc_secret_readonly_group, a reader handle's keys) keep their
 * bytes, refuse a write (a child that writes one dies of it; skipped
 * under valgrind, whose report of the deliberate write would fail the
 * suite), are wiped one by one as they are freed, and the group refuses
 * what it cannot take, leaving the secrets as they were.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include "unit_files.h"
#include "unit_child.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <valgrind/valgrind.h>

#include <kmc.h>
#include "../../kmc/crypto.h"

#define SECRET_MAX (16u * 1024u * 1024u)

/* ---- helpers ------------------------------------------------------ */

static char tmpdir[256];

static int setup_tmp(void **state)
{
	const char *base = getenv("TMPDIR");

	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "%s/kmc-test-secret.XXXXXX",
		base && *base ? base : "/tmp");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_tmp(void **state)
{
	(void)state;
	rm_rf(tmpdir);
	return 0;
}

static void path_in_tmp(char *buf, size_t size, const char *name)
{
	int n = snprintf(buf, size, "%s/%s", tmpdir, name);

	assert_true(n > 0 && (size_t)n < size);
}

/* kmc_secret_read_fd() on a pipe that holds data and then EOF. */
static int read_pipe(const void *data, size_t len, size_t max,
	kmc_secret **ret)
{
	int p[2], r;

	assert_int_equal(pipe(p), 0);
	assert_true(len <= 65536);
	if (len)
		assert_int_equal(write(p[1], data, len), (ssize_t)len);
	close(p[1]);
	r = kmc_secret_read_fd(p[0], max, ret);
	close(p[0]);
	return r;
}

static void assert_secret(const kmc_secret *s, const char *want, size_t len)
{
	assert_non_null(s);
	assert_int_equal(kmc_secret_len(s), len);
	assert_memory_equal(kmc_secret_data(s), want, len);
	/* One NUL follows the bytes. */
	assert_int_equal(kmc_secret_data(s)[len], 0);
}

/* ---- kmc_secret_new / shrink / free ----------------------------- */

static void test_new_zeroed_and_terminated(void **state)
{
	static const size_t sizes[] = { 0, 1, 31, 32, 4096, 100000 };

	(void)state;
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		kmc_secret *s = NULL;
		const unsigned char *p;

		assert_int_equal(kmc_secret_new(sizes[k], &s), 0);
		assert_non_null(s);
		assert_int_equal(kmc_secret_len(s), sizes[k]);
		p = kmc_secret_data(s);
		assert_non_null(p);
		/* Zeroed, and the terminating NUL after the last byte. */
		for (size_t i = 0; i <= sizes[k]; i++)
			assert_int_equal(p[i], 0);
		kmc_secret_free(s);
	}
}

static void test_new_writable(void **state)
{
	kmc_secret *s = NULL;

	(void)state;
	assert_int_equal(kmc_secret_new(8, &s), 0);
	memcpy(kmc_secret_data(s), "12345678", 8);
	assert_string_equal((const char *)kmc_secret_data(s), "12345678");
	kmc_secret_free(s);
}

static void test_new_too_large(void **state)
{
	kmc_secret *s = NULL;

	(void)state;
	assert_int_equal(kmc_secret_new(SECRET_MAX + 1, &s), KMC_E_TOO_LARGE);
	assert_null(s);
	assert_int_equal(kmc_secret_new(SIZE_MAX, &s), KMC_E_TOO_LARGE);
	assert_null(s);
	assert_int_equal(kmc_secret_new(SIZE_MAX - 1, &s), KMC_E_TOO_LARGE);
	assert_null(s);
	/* Its detail is its own, not the last failing call's. */
	assert_int_equal(kmc_secret_read_file("/nonexistent/pw", 10, &s),
		-ENOENT);
	assert_non_null(strstr(kmc_error_detail(), "/nonexistent/pw"));
	assert_int_equal(kmc_secret_new(SECRET_MAX + 1, &s), KMC_E_TOO_LARGE);
	assert_null(strstr(kmc_error_detail(), "/nonexistent/pw"));
	assert_non_null(strstr(kmc_error_detail(), "secret of"));
	/* The twin: exactly the maximum is allowed. */
	assert_int_equal(kmc_secret_new(SECRET_MAX, &s), 0);
	assert_non_null(s);
	assert_int_equal(kmc_secret_len(s), SECRET_MAX);
	assert_int_equal(kmc_secret_data(s)[SECRET_MAX], 0);
	kmc_secret_free(s);
}

static void test_shrink_wipes_tail(void **state)
{
	kmc_secret *s = NULL;
	unsigned char *p;

	(void)state;
	assert_int_equal(kmc_secret_new(64, &s), 0);
	p = kmc_secret_data(s);
	memset(p, 0xaa, 64);
	assert_int_equal(kmc_secret_shrink(s, 10), 0);
	assert_int_equal(kmc_secret_len(s), 10);
	assert_ptr_equal(kmc_secret_data(s), p);
	for (size_t i = 0; i < 10; i++)
		assert_int_equal(p[i], 0xaa);
	/* Every byte from the new length to the old NUL is wiped. */
	for (size_t i = 10; i <= 64; i++)
		assert_int_equal(p[i], 0);

	/* Shrinking again, and to the same length, is fine. */
	assert_int_equal(kmc_secret_shrink(s, 10), 0);
	assert_int_equal(kmc_secret_len(s), 10);
	assert_int_equal(kmc_secret_shrink(s, 0), 0);
	assert_int_equal(kmc_secret_len(s), 0);
	for (size_t i = 0; i <= 64; i++)
		assert_int_equal(p[i], 0);
	kmc_secret_free(s);
}

static void test_shrink_refuses_growth(void **state)
{
	kmc_secret *s = NULL, *t = NULL;

	(void)state;
	assert_int_equal(kmc_secret_new(16, &s), 0);
	memset(kmc_secret_data(s), 'x', 16);
	assert_int_equal(kmc_secret_read_file("/nonexistent/pw", 10, &t),
		-ENOENT);
	assert_int_equal(kmc_secret_shrink(s, 17), KMC_E_INVALID);
	assert_null(strstr(kmc_error_detail(), "/nonexistent/pw"));
	assert_non_null(strstr(kmc_error_detail(), "cannot shrink"));
	assert_int_equal(kmc_secret_len(s), 16);
	assert_int_equal(kmc_secret_shrink(s, SIZE_MAX), KMC_E_INVALID);
	assert_int_equal(kmc_secret_len(s), 16);
	/* Nothing was wiped by the refused call. */
	for (size_t i = 0; i < 16; i++)
		assert_int_equal(kmc_secret_data(s)[i], 'x');
	/* Once shrunk, growing back to the allocation is refused too. */
	assert_int_equal(kmc_secret_shrink(s, 4), 0);
	assert_int_equal(kmc_secret_shrink(s, 16), KMC_E_INVALID);
	assert_int_equal(kmc_secret_shrink(s, 5), KMC_E_INVALID);
	assert_int_equal(kmc_secret_len(s), 4);
	kmc_secret_free(s);
}

static void test_free_null(void **state)
{
	(void)state;
	kmc_secret_free(NULL);
}

/* ---- kmc_secret_read_fd ------------------------------------------ */

static void test_read_fd_plain(void **state)
{
	kmc_secret *s = NULL;

	(void)state;
	assert_int_equal(read_pipe("hunter22", 8, 64, &s), 0);
	assert_secret(s, "hunter22", 8);
	kmc_secret_free(s);
}

static void test_read_fd_strips_one_newline(void **state)
{
	static const struct {
		const char *in;
		const char *out;
	} cases[] = {
		{ "hunter22\n", "hunter22" },
		{ "hunter22\r\n", "hunter22" },
		{ "hunter22\n\n", "hunter22\n" },
		{ "hunter22\r\n\r\n", "hunter22\r\n" },
		{ "hunter22\n\r\n", "hunter22\n" },
		{ "hun\nter22", "hun\nter22" },
		{ "\n\n", "\n" },
		{ " x \n", " x " },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		kmc_secret *s = NULL;

		assert_int_equal(read_pipe(cases[i].in, strlen(cases[i].in), 64,
			&s), 0);
		assert_secret(s, cases[i].out, strlen(cases[i].out));
		kmc_secret_free(s);
	}
}

/* Only "\n" or "\r\n" is removed: a lone trailing "\r" is data. */
static void test_read_fd_keeps_lone_cr(void **state)
{
	kmc_secret *s = NULL;

	(void)state;
	assert_int_equal(read_pipe("hunter22\r", 9, 64, &s), 0);
	assert_secret(s, "hunter22\r", 9);
	kmc_secret_free(s);
	s = NULL;
	assert_int_equal(read_pipe("hunter22\r\r\n", 11, 64, &s), 0);
	assert_secret(s, "hunter22\r", 9);
	kmc_secret_free(s);
}

static void test_read_fd_binary(void **state)
{
	static const char bin[] = { 'a', 0, 'b', (char)0xff, 0 };
	kmc_secret *s = NULL;

	(void)state;
	assert_int_equal(read_pipe(bin, sizeof(bin), 64, &s), 0);
	assert_secret(s, bin, sizeof(bin));
	kmc_secret_free(s);
}

static void test_read_fd_empty(void **state)
{
	static const char *const empties[] = { "", "\n", "\r\n" };

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		kmc_secret *s = NULL;

		assert_int_equal(read_pipe(empties[i], strlen(empties[i]), 64,
			&s), KMC_E_EMPTY);
		assert_null(s);
	}
}

static void test_read_fd_max(void **state)
{
	char buf[300];
	kmc_secret *s = NULL;

	(void)state;
	memset(buf, 'k', sizeof(buf));
	/* Exactly max, with or without a newline: accepted. */
	assert_int_equal(read_pipe(buf, 10, 10, &s), 0);
	assert_secret(s, buf, 10);
	kmc_secret_free(s);
	s = NULL;
	memcpy(buf + 10, "\r\n", 2);
	assert_int_equal(read_pipe(buf, 12, 10, &s), 0);
	assert_secret(s, buf, 10);
	kmc_secret_free(s);
	s = NULL;
	buf[10] = '\n';
	assert_int_equal(read_pipe(buf, 11, 10, &s), 0);
	assert_secret(s, buf, 10);
	kmc_secret_free(s);
	s = NULL;

	/* One byte more: refused, with or without a newline after it. */
	memset(buf, 'k', sizeof(buf));
	assert_int_equal(read_pipe(buf, 11, 10, &s), KMC_E_TOO_LARGE);
	assert_null(s);
	buf[11] = '\n';
	assert_int_equal(read_pipe(buf, 12, 10, &s), KMC_E_TOO_LARGE);
	assert_null(s);
	memcpy(buf + 11, "\r\n", 2);
	assert_int_equal(read_pipe(buf, 13, 10, &s), KMC_E_TOO_LARGE);
	assert_null(s);
	memset(buf, 'k', sizeof(buf));
	assert_int_equal(read_pipe(buf, 12, 10, &s), KMC_E_TOO_LARGE);
	assert_int_equal(read_pipe(buf, 13, 10, &s), KMC_E_TOO_LARGE);
	assert_int_equal(read_pipe(buf, sizeof(buf), 10, &s), KMC_E_TOO_LARGE);
	assert_null(s);
	/* max 0 cannot hold a secret. */
	assert_int_equal(read_pipe("x", 1, 0, &s), KMC_E_INVALID);
	assert_null(s);
}

/* A generous max is no reason to refuse a short secret. */
static void test_read_fd_huge_max(void **state)
{
	static const size_t maxes[] = { SIZE_MAX, SIZE_MAX - 1, SIZE_MAX - 2 };

	(void)state;
	for (size_t i = 0; i < sizeof(maxes) / sizeof(maxes[0]); i++) {
		kmc_secret *s = NULL;
		int r = read_pipe("hunter22\n", 9, maxes[i], &s);

		if (r != 0)
			fail_msg("max SIZE_MAX - %zu: %d (%s) for 8 bytes", i, r,
				kmc_strerror(r));
		assert_secret(s, "hunter22", 8);
		kmc_secret_free(s);
	}
}

static void test_read_fd_bad_fd(void **state)
{
	kmc_secret *s = NULL;

	(void)state;
	assert_int_equal(kmc_secret_read_fd(-1, 64, &s), -EBADF);
	assert_null(s);
}

/* ---- kmc_secret_read_file ----------------------------------------- */

static void test_read_file_0600(void **state)
{
	char path[512];
	kmc_secret *s = NULL;

	(void)state;
	path_in_tmp(path, sizeof(path), "pw-0600");
	write_file(path, "hunter22\n", 9, 0600);
	assert_int_equal(kmc_secret_read_file(path, 64, &s), 0);
	assert_secret(s, "hunter22", 8);
	kmc_secret_free(s);
	s = NULL;
	/* Read-only for the owner is as good. */
	path_in_tmp(path, sizeof(path), "pw-0400");
	write_file(path, "hunter22\r\n", 10, 0400);
	assert_int_equal(kmc_secret_read_file(path, 64, &s), 0);
	assert_secret(s, "hunter22", 8);
	kmc_secret_free(s);
}

/* As for descriptors: a lone trailing "\r" is part of the secret. */
static void test_read_file_keeps_lone_cr(void **state)
{
	char path[512];
	kmc_secret *s = NULL;

	(void)state;
	path_in_tmp(path, sizeof(path), "pw-cr");
	write_file(path, "hunter22\r", 9, 0600);
	assert_int_equal(kmc_secret_read_file(path, 64, &s), 0);
	assert_secret(s, "hunter22\r", 9);
	kmc_secret_free(s);
}

static void test_read_file_unsafe_mode(void **state)
{
	static const mode_t modes[] = { 0644, 0640, 0604, 0620, 0602, 0660,
		0666 };
	char path[512];

	(void)state;
	path_in_tmp(path, sizeof(path), "pw-open");
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		kmc_secret *s = NULL;

		write_file(path, "hunter22\n", 9, modes[i]);
		assert_int_equal(kmc_secret_read_file(path, 64, &s), KMC_E_PERM);
		assert_null(s);
		assert_non_null(strstr(kmc_error_detail(), path));
	}
	/* The twin: the same file made private reads fine. */
	{
		kmc_secret *s = NULL;

		assert_int_equal(chmod(path, 0600), 0);
		assert_int_equal(kmc_secret_read_file(path, 64, &s), 0);
		assert_secret(s, "hunter22", 8);
		kmc_secret_free(s);
	}
}

static void test_read_file_symlink(void **state)
{
	char target[512], link[512];
	kmc_secret *s = NULL;

	(void)state;
	path_in_tmp(target, sizeof(target), "pw-target");
	path_in_tmp(link, sizeof(link), "pw-link");
	write_file(target, "hunter22\n", 9, 0600);
	(void)unlink(link);
	assert_int_equal(symlink(target, link), 0);
	assert_int_equal(kmc_secret_read_file(link, 64, &s), KMC_E_PERM);
	assert_null(s);
	assert_non_null(strstr(kmc_error_detail(), link));
	/* The twin: the target itself reads fine. */
	assert_int_equal(kmc_secret_read_file(target, 64, &s), 0);
	assert_secret(s, "hunter22", 8);
	kmc_secret_free(s);
}

static void test_read_file_not_regular(void **state)
{
	char path[512];
	kmc_secret *s = NULL;

	(void)state;
	path_in_tmp(path, sizeof(path), "pw-dir");
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(kmc_secret_read_file(path, 64, &s), KMC_E_PERM);
	assert_null(s);
	assert_non_null(strstr(kmc_error_detail(), path));
}

static void test_read_file_missing(void **state)
{
	char path[512];
	kmc_secret *s = NULL;

	(void)state;
	path_in_tmp(path, sizeof(path), "pw-absent");
	assert_int_equal(kmc_secret_read_file(path, 64, &s), -ENOENT);
	assert_null(s);
	assert_non_null(strstr(kmc_error_detail(), path));
}

static void test_read_file_empty_and_large(void **state)
{
	char path[512], buf[64];
	kmc_secret *s = NULL;

	(void)state;
	path_in_tmp(path, sizeof(path), "pw-sized");
	write_file(path, "\n", 1, 0600);
	assert_int_equal(kmc_secret_read_file(path, 64, &s), KMC_E_EMPTY);
	assert_null(s);
	assert_non_null(strstr(kmc_error_detail(), path));
	write_file(path, "", 0, 0600);
	assert_int_equal(kmc_secret_read_file(path, 64, &s), KMC_E_EMPTY);
	assert_null(s);

	memset(buf, 'k', sizeof(buf));
	write_file(path, buf, 11, 0600);
	assert_int_equal(kmc_secret_read_file(path, 10, &s), KMC_E_TOO_LARGE);
	assert_null(s);
	assert_non_null(strstr(kmc_error_detail(), path));
	write_file(path, buf, sizeof(buf), 0600);
	assert_int_equal(kmc_secret_read_file(path, 10, &s), KMC_E_TOO_LARGE);
	assert_null(s);
	/* The twins: exactly max, and max plus "\r\n". */
	write_file(path, buf, 10, 0600);
	assert_int_equal(kmc_secret_read_file(path, 10, &s), 0);
	assert_secret(s, buf, 10);
	kmc_secret_free(s);
	s = NULL;
	memcpy(buf + 10, "\r\n", 2);
	write_file(path, buf, 12, 0600);
	assert_int_equal(kmc_secret_read_file(path, 10, &s), 0);
	assert_secret(s, buf, 10);
	kmc_secret_free(s);
}

/* ---- kmc_secret_readonly_group ------------------------------------ */

/* A store the sanitizer does not see: the page protection must stop it. */
#if defined(__clang__) || defined(__GNUC__)
__attribute__((no_sanitize_address, noinline))
#endif
static kmc_secret *filled(size_t len, unsigned char v)
{
	kmc_secret *s = NULL;

	assert_int_equal(kmc_secret_new(len, &s), 0);
	memset(kmc_secret_data(s), v, len);
	return s;
}

static void test_readonly_group(void **state)
{
	kmc_secret *s[3] = { filled(32, 0x11), filled(64, 0x22),
		filled(32, 0x33) };
	unsigned char *p1, want[65];
	int status;

	(void)state;
	assert_int_equal(kmc_secret_readonly_group(s, 3), 0);
	memset(want, 0x11, 32);
	assert_secret(s[0], (const char *)want, 32);
	memset(want, 0x22, 64);
	assert_secret(s[1], (const char *)want, 64);
	memset(want, 0x33, 32);
	assert_secret(s[2], (const char *)want, 32);
	/* Read-only already: a no-op, not pages of its own. */
	assert_int_equal(kmc_secret_readonly(s[0]), 0);
	if (!RUNNING_ON_VALGRIND) {
		/* Control: a child that only reads ends well. */
		status = unit_child_store(kmc_secret_data(s[1]), 0, 0x22);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
		/* One that writes dies (SIGSEGV; under ASan its report, and
		   a failing exit) and never sees its byte stored. */
		status = unit_child_store(kmc_secret_data(s[1]) + 5, 1, 0x5a);
		assert_false(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	/* Freed one by one: each wiped at its free, the others intact. */
	p1 = kmc_secret_data(s[1]);
	kmc_secret_free(s[1]);
	memset(want, 0, sizeof(want));
	assert_memory_equal(p1, want, 65);
	memset(want, 0x33, 32);
	assert_secret(s[2], (const char *)want, 32);
	kmc_secret_free(s[0]);
	kmc_secret_free(s[2]);	/* the last: the mapping goes with it */
}

/* A group freed whole (a handle's close): made writable once, each
 * secret still wiped at its free, the others intact until theirs. */
static void test_readonly_group_end(void **state)
{
	kmc_secret *s[3] = { filled(32, 0x11), filled(64, 0x22),
		filled(32, 0x33) };
	unsigned char *p0, *p1, want[65];
	int status;

	(void)state;
	assert_int_equal(kmc_secret_readonly_group(s, 3), 0);
	kmc_secret_group_end(s[2]);
	kmc_secret_group_end(s[0]);	/* twice: a no-op */
	kmc_secret_group_end(NULL);
	if (!RUNNING_ON_VALGRIND) {
		/* Writable now: a child's write is stored. */
		status = unit_child_store(kmc_secret_data(s[1]) + 5, 1, 0x5a);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	p0 = kmc_secret_data(s[0]);
	p1 = kmc_secret_data(s[1]);
	kmc_secret_free(s[1]);
	memset(want, 0, sizeof(want));
	assert_memory_equal(p1, want, 65);
	memset(want, 0x11, 32);
	assert_secret(s[0], (const char *)want, 32);
	kmc_secret_free(s[0]);
	memset(want, 0, sizeof(want));
	assert_memory_equal(p0, want, 33);
	memset(want, 0x33, 32);
	assert_secret(s[2], (const char *)want, 32);
	kmc_secret_free(s[2]);	/* the last: the mapping goes with it */
}

static void test_readonly_group_refused(void **state)
{
	kmc_secret *a = filled(32, 0x44), *b = filled(16, 0x55), *ro;
	kmc_secret *twice[2] = { a, a }, *with_ro[2] = { a, NULL };
	unsigned char want[32];

	(void)state;
	ro = filled(8, 0x66);
	assert_int_equal(kmc_secret_readonly(ro), 0);
	with_ro[1] = ro;
	assert_int_equal(kmc_secret_readonly_group(twice, 0), KMC_E_INVALID);
	assert_int_equal(kmc_secret_readonly_group(twice, 2), KMC_E_INVALID);
	assert_int_equal(kmc_secret_readonly_group(with_ro, 2), KMC_E_INVALID);
	/* Each as it was, and still writable. */
	memset(want, 0x44, 32);
	assert_secret(a, (const char *)want, 32);
	kmc_secret_data(a)[0] = 0x45;
	kmc_secret_data(b)[0] = 0x56;
	kmc_secret_free(a);
	kmc_secret_free(b);
	kmc_secret_free(ro);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_zeroed_and_terminated),
		cmocka_unit_test(test_new_writable),
		cmocka_unit_test(test_new_too_large),
		cmocka_unit_test(test_shrink_wipes_tail),
		cmocka_unit_test(test_shrink_refuses_growth),
		cmocka_unit_test(test_free_null),
		cmocka_unit_test(test_read_fd_plain),
		cmocka_unit_test(test_read_fd_strips_one_newline),
		cmocka_unit_test(test_read_fd_keeps_lone_cr),
		cmocka_unit_test(test_read_fd_binary),
		cmocka_unit_test(test_read_fd_empty),
		cmocka_unit_test(test_read_fd_max),
		cmocka_unit_test(test_read_fd_huge_max),
		cmocka_unit_test(test_read_fd_bad_fd),
		cmocka_unit_test(test_read_file_0600),
		cmocka_unit_test(test_read_file_keeps_lone_cr),
		cmocka_unit_test(test_read_file_unsafe_mode),
		cmocka_unit_test(test_read_file_symlink),
		cmocka_unit_test(test_read_file_not_regular),
		cmocka_unit_test(test_read_file_missing),
		cmocka_unit_test(test_read_file_empty_and_large),
		cmocka_unit_test(test_readonly_group),
		cmocka_unit_test(test_readonly_group_end),
		cmocka_unit_test(test_readonly_group_refused),
	};

	return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}

/*
 * test_arena.c - the guarded arena that holds small secrets (kmc/arena.c):
 * its slots sit in mappings of their own between guard pages, never on
 * the heap's pages; a write past a slot's bytes, a write after free and a
 * double free each stop the process (abort(), as sodium_free() does on a
 * bad canary); empty regions are given back; threads may share it, and a
 * threaded process may fork.
 *
 * The misuse tests run in a child (fork) and look at how it ended; each
 * has a control, the same steps without the fault, that must end well.
 * The faulty write itself is made by a function the sanitizer does not
 * instrument, so that under AddressSanitizer too it is the arena's own
 * check that must catch it. Under valgrind they are skipped: memcheck would
 * report the deliberate bad write (the arena marks free slots and canaries
 * as not to be touched) and leave a core of the aborted child; the plain
 * and the sanitizer builds run them. So is the fork test (see there).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <valgrind/valgrind.h>

#include <kmc.h>
#include "../../kmc/common.h"
#include "../../kmc/arena.h"

/* ---- helpers ---------------------------------------------------------- */

/* A store the sanitizer does not see: the arena must catch it itself. */
#if defined(__clang__) || defined(__GNUC__)
__attribute__((no_sanitize_address, noinline))
#endif
static void raw_write(unsigned char *p, unsigned char v)
{
	*(volatile unsigned char *)p = v;
}

/* Flip every bit of the byte at p, unseen by the sanitizer: a store of a
   fixed value would leave a random canary byte that already held it
   unchanged (one run in 256). */
#if defined(__clang__) || defined(__GNUC__)
__attribute__((no_sanitize_address, noinline))
#endif
static void raw_flip(unsigned char *p)
{
	*(volatile unsigned char *)p = (unsigned char)~*(volatile unsigned char *)p;
}

typedef void (*child_fn)(int fault);

/* Run fn(fault) in a child; its wait status. */
static int in_child(child_fn fn, int fault)
{
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* An abort is expected: no core of it. */
		struct rlimit no_core = { 0, 0 };

		(void)setrlimit(RLIMIT_CORE, &no_core);
		fn(fault);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static void expect_abort(child_fn fn)
{
	int status;

	if (RUNNING_ON_VALGRIND) {
		skip();
		return;
	}
	/* Control: without the fault the same steps end well. */
	status = in_child(fn, 0);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	status = in_child(fn, 1);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
}

/* The /proc/self/maps line of the mapping that holds p, and those of the
 * mappings just below and above it. */
static void mapping_of(const void *p, char *line, char *below, char *above,
	size_t size)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char prev[512] = "", cur[512];
	uintptr_t a = (uintptr_t)p;
	int found = 0;

	assert_non_null(f);
	line[0] = below[0] = above[0] = '\0';
	while (fgets(cur, sizeof(cur), f)) {
		unsigned long lo, hi;

		if (found) {
			snprintf(above, size, "%s", cur);
			break;
		}
		if (sscanf(cur, "%lx-%lx", &lo, &hi) == 2 && a >= lo && a < hi) {
			snprintf(line, size, "%s", cur);
			snprintf(below, size, "%s", prev);
			found = 1;
		}
		snprintf(prev, sizeof(prev), "%s", cur);
	}
	fclose(f);
	assert_true(found);
}

static unsigned long map_lo(const char *line)
{
	unsigned long lo = 0, hi = 0;

	assert_int_equal(sscanf(line, "%lx-%lx", &lo, &hi), 2);
	return lo;
}

static unsigned long map_hi(const char *line)
{
	unsigned long lo = 0, hi = 0;

	assert_int_equal(sscanf(line, "%lx-%lx", &lo, &hi), 2);
	return hi;
}

static const char *map_perms(const char *line)
{
	const char *sp = strchr(line, ' ');

	assert_non_null(sp);
	return sp + 1;
}

/* ---- tests ------------------------------------------------------------ */

/* A small secret's bytes are in a locked mapping of their own, between
 * inaccessible guard pages, away from the heap. */
static void test_slot_between_guard_pages(void **state)
{
	char line[512], below[512], above[512];
	kmc_secret *s;
	unsigned char *heap = malloc(64);

	(void)state;
	assert_non_null(heap);
	assert_int_equal(kmc_secret_new(100, &s), 0);
	/* In the arena (a copy can be read there)... */
	{
		unsigned char copy[8];

		assert_int_equal(kmc_arena_peek(kmc_secret_data(s), 8, copy), 0);
	}
	mapping_of(kmc_secret_data(s), line, below, above, sizeof(line));
	/* ...readable and writable, anonymous, private, */
	assert_memory_equal(map_perms(line), "rw-p", 4);
	assert_null(strstr(line, "[heap]"));
	assert_null(strchr(line, '/'));
	/* between pages nobody may touch, */
	assert_int_equal(map_hi(below), map_lo(line));
	assert_memory_equal(map_perms(below), "---p", 4);
	assert_int_equal(map_lo(above), map_hi(line));
	assert_memory_equal(map_perms(above), "---p", 4);
	/* and not where the heap's block is. */
	assert_false((uintptr_t)heap >= map_lo(line) &&
		(uintptr_t)heap < map_hi(line));
	kmc_secret_free(s);
	free(heap);
}

/* Regions of a slot size grow: the first is one page of slots, each next
 * one twice the last, up to 64 KiB; every one between guard pages. Run
 * first, while the arena has no region, so the first of 4 KiB slots is
 * this test's. */
static void test_regions_grow(void **state)
{
	enum { N = 40 };	/* 1 + 2 + 4 + 8 + 16 + 9 of 16 */
	static const unsigned long want[] = { 1, 2, 4, 8, 16, 16 };
	char line[512], below[512], above[512];
	long page = sysconf(_SC_PAGESIZE);
	unsigned long seen[N], lo_prev = 0;
	size_t n_seen = 0;
	kmc_secret *s[N];

	(void)state;
	if (page != 4096) {
		skip();	/* the sizes below are in 4 KiB pages */
		return;
	}
	assert_int_equal(kmc_arena_regions(), 0);
	for (int i = 0; i < N; i++) {
		assert_int_equal(kmc_secret_new(4000, &s[i]), 0);
		mapping_of(kmc_secret_data(s[i]), line, below, above,
			sizeof(line));
		/* guard pages on both sides, whatever the region's size */
		assert_memory_equal(map_perms(line), "rw-p", 4);
		assert_memory_equal(map_perms(below), "---p", 4);
		assert_memory_equal(map_perms(above), "---p", 4);
		assert_int_equal(map_hi(below), map_lo(line));
		assert_int_equal(map_lo(above), map_hi(line));
		if (map_lo(line) != lo_prev) {
			lo_prev = map_lo(line);
			seen[n_seen++] = (map_hi(line) - map_lo(line)) / 4096;
		}
	}
	assert_int_equal(n_seen, sizeof(want) / sizeof(want[0]));
	for (size_t k = 0; k < n_seen; k++)
		assert_int_equal(seen[k], want[k]);
	assert_int_equal(kmc_arena_regions(), n_seen);
	for (int i = 0; i < N; i++)
		kmc_secret_free(s[i]);
	/* one kept empty, the rest given back */
	assert_int_equal(kmc_arena_regions(), 1);
}

/* Writes one byte past the only slot of the first, one-page region of
 * 4 KiB slots: into its guard page, which stops the process there. */
static void guard_child(int fault)
{
	kmc_secret *s;
	long page = sysconf(_SC_PAGESIZE);
	unsigned char *end;

	if (kmc_secret_new(4000, &s) < 0)
		_exit(3);
	/* the slot starts its page; the page is the region's only one */
	end = (unsigned char *)(((uintptr_t)kmc_secret_data(s) &
		~(uintptr_t)(page - 1)) + (uintptr_t)page);
	/* the test's premise: the slot's region ends there */
	if (kmc_arena_peek(end - 1, 1, (unsigned char[1]){ 0 }) < 0 ||
	    kmc_arena_peek(end, 1, (unsigned char[1]){ 0 }) == 0)
		_exit(4);
	/* the fault's signal ends the child, not cmocka's handler */
	signal(SIGSEGV, SIG_DFL);
	if (fault)
		raw_write(end, 0x41);
	kmc_secret_free(s);
}

static void test_small_region_guarded(void **state)
{
	int status;

	(void)state;
	if (RUNNING_ON_VALGRIND) {
		skip();
		return;
	}
	/* In a child of a process holding no 4 KiB secret: the child's
	   first one takes a region of one page. */
	assert_int_equal(kmc_arena_regions() <= 1, 1);
	status = in_child(guard_child, 0);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	status = in_child(guard_child, 1);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGSEGV);
}

/* Zeroed, terminated, usable to the last byte; a 4 KiB secret is not a
 * slot's (it has pages of its own). */
static void test_sizes(void **state)
{
	static const size_t lens[] = { 0, 1, 15, 16, 17, 63, 200, 1000, 2048,
		KMC_ARENA_MAX - 1, KMC_ARENA_MAX, 5000 };
	unsigned char copy[1];

	(void)state;
	for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
		kmc_secret *s;
		unsigned char *d;

		assert_int_equal(kmc_secret_new(lens[k], &s), 0);
		d = kmc_secret_data(s);
		for (size_t i = 0; i <= lens[k]; i++)
			assert_int_equal(d[i], 0);
		memset(d, 0xC3, lens[k]);
		/* Up to KMC_ARENA_MAX with its NUL in a slot, no further. */
		assert_int_equal(kmc_arena_peek(d, 1, copy) == 0,
			lens[k] + 1 <= KMC_ARENA_MAX);
		kmc_secret_free(s);
	}
}

/* A region is given back once empty, but for one kept per slot size. */
static void test_empty_regions_returned(void **state)
{
	enum { N = 40 };	/* 2 KB secrets: in 4 KiB slots, 6 regions */
	kmc_secret *s[N];
	size_t base, full;

	(void)state;
	base = kmc_arena_regions();
	for (int i = 0; i < N; i++)
		assert_int_equal(kmc_secret_new(2048, &s[i]), 0);
	full = kmc_arena_regions();
	assert_true(full >= base + 2);
	for (int i = 0; i < N; i++)
		kmc_secret_free(s[i]);
	/* At most the one kept empty region of 4 KiB slots is new. */
	assert_true(kmc_arena_regions() <= base + 1);
	assert_true(kmc_arena_regions() < full);
}

/* Writes one byte past the secret's NUL: into the canary that follows. */
static void overflow_child(int fault)
{
	kmc_secret *s;

	if (kmc_secret_new(100, &s) < 0)
		_exit(3);
	memset(kmc_secret_data(s), 0x41, 100);
	if (fault)
		raw_flip(kmc_secret_data(s) + 101);
	kmc_secret_free(s);
}

static void test_overflow_aborts(void **state)
{
	(void)state;
	expect_abort(overflow_child);
}

/* Writes one byte before the secret's first: into the slot's header. */
static void underflow_child(int fault)
{
	kmc_secret *s;

	if (kmc_secret_new(100, &s) < 0)
		_exit(3);
	if (fault)
		raw_write(kmc_secret_data(s) - 1, 0x41);
	kmc_secret_free(s);
}

static void test_underflow_aborts(void **state)
{
	(void)state;
	expect_abort(underflow_child);
}

/* Writes to a freed slot; the next allocation of that slot must stop. */
static void use_after_free_child(int fault)
{
	kmc_secret *s, *t;
	unsigned char *p;

	if (kmc_secret_new(100, &s) < 0)
		_exit(3);
	p = kmc_secret_data(s);
	kmc_secret_free(s);
	if (fault)
		raw_write(p + 7, 0x41);
	/* The lowest free slot again: the one just freed. */
	if (kmc_secret_new(100, &t) < 0)
		_exit(3);
	if (kmc_secret_data(t) != p)
		_exit(4);	/* the test's premise, not the arena's fault */
	kmc_secret_free(t);
}

static void test_use_after_free_aborts(void **state)
{
	(void)state;
	expect_abort(use_after_free_child);
}

static void double_free_child(int fault)
{
	void *p = kmc_arena_alloc(100);

	if (!p)
		_exit(3);
	kmc_arena_free(p);
	if (fault)
		kmc_arena_free(p);
}

static void test_double_free_aborts(void **state)
{
	(void)state;
	expect_abort(double_free_child);
}

/* Threads allocate, fill, check and free at once: no slot is handed out
 * twice. */
static void *churn(void *arg)
{
	unsigned char tag = (unsigned char)(uintptr_t)arg;

	for (int i = 0; i < 2000; i++) {
		size_t len = 1 + (size_t)((i * 37) % 3000);
		kmc_secret *s;

		if (kmc_secret_new(len, &s) < 0)
			return (void *)1;
		memset(kmc_secret_data(s), tag, len);
		sched_yield();
		for (size_t k = 0; k < len; k++)
			if (kmc_secret_data(s)[k] != tag)
				return (void *)2;
		kmc_secret_free(s);
	}
	return NULL;
}

static void test_threads(void **state)
{
	pthread_t t[4];

	(void)state;
	for (uintptr_t i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, churn,
			(void *)(i + 1)), 0);
	for (int i = 0; i < 4; i++) {
		void *r;

		assert_int_equal(pthread_join(t[i], &r), 0);
		assert_null(r);
	}
}

/* Forks while another thread allocates: each child can still allocate.
 * Without the arena's fork handlers, or with sodium_init() (which takes
 * a mutex of libsodium's) called on every allocation, a child would now
 * and then inherit a lock held by a thread it does not have, and hang
 * (the alarm ends it). */
static volatile int stop_churn;

static void *churn_until_stopped(void *arg)
{
	(void)arg;
	while (!stop_churn) {
		kmc_secret *s;

		if (kmc_secret_new(500, &s) < 0)
			return (void *)1;
		kmc_secret_free(s);
	}
	return NULL;
}

static void test_fork_while_allocating(void **state)
{
	pthread_t t;
	void *r;

	(void)state;
	/* memcheck's leak check in each child would count the secret the
	   other thread held at the fork, which the child cannot free. */
	if (RUNNING_ON_VALGRIND) {
		skip();
		return;
	}
	assert_int_equal(pthread_create(&t, NULL, churn_until_stopped, NULL),
		0);
	for (int i = 0; i < 20; i++) {
		int status;
		pid_t pid = fork();

		assert_true(pid >= 0);
		if (pid == 0) {
			kmc_secret *s;

			alarm(20);
			if (kmc_secret_new(500, &s) < 0)
				_exit(3);
			kmc_secret_free(s);
			_exit(0);
		}
		assert_int_equal(waitpid(pid, &status, 0), pid);
		if (!WIFEXITED(status))
			print_error("child %d: signal %d\n", i, WTERMSIG(status));
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	stop_churn = 1;
	assert_int_equal(pthread_join(t, &r), 0);
	assert_null(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_regions_grow),
		cmocka_unit_test(test_small_region_guarded),
		cmocka_unit_test(test_slot_between_guard_pages),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_empty_regions_returned),
		cmocka_unit_test(test_overflow_aborts),
		cmocka_unit_test(test_underflow_aborts),
		cmocka_unit_test(test_use_after_free_aborts),
		cmocka_unit_test(test_double_free_aborts),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_fork_while_allocating),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

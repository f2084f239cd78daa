/*
 * test_batch.c - kmc_batch_* (vault/batch.c) and the password-batch
 * reader (vault/batchread.c): one transaction for many items, all or
 * nothing, and every line rule of docs/format.md.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include "unit_files.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <kmc.h>
#include <kmc/admin.h>
#include "../../vault/batchread.h"

typedef struct fixture {
	char tmp[256];
	char vdir[512];
	char hk[512];
	char file[512];
	kmc_vault *v;
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	if (unit_tree_make("batch", f->tmp, f->vdir, f->hk) != 0)
		return -1;
	snprintf(f->file, sizeof(f->file), "%s/batch.txt", f->tmp);
	if (unit_host_vault(f->vdir, f->hk, &f->v) != 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;

	if (f) {
		kmc_vault_close(f->v);
		unit_tree_remove(f->tmp);
		free(f);
	}
	return 0;
}

/* Item name holds exactly text (a password). */
static void assert_item(kmc_vault *v, const char *name, const char *text)
{
	kmc_secret *s;

	assert_int_equal(kmc_item_get(v, name, KMC_ITEM_PASSWORD, &s), 0);
	assert_int_equal(kmc_secret_len(s), strlen(text));
	assert_memory_equal(kmc_secret_data(s), text, strlen(text));
	kmc_secret_free(s);
}

static void assert_absent(kmc_vault *v, const char *name)
{
	kmc_secret *s = NULL;

	assert_int_equal(kmc_item_get_secret(v, name, &s), KMC_E_NOT_FOUND);
	assert_null(s);
}

static uint64_t generation(kmc_vault *v)
{
	uint64_t g;

	assert_int_equal(kmc_vault_generation(v, &g), 0);
	return g;
}

/* ---- the API ------------------------------------------------------- */

static void test_commit_writes_all_once(void **state)
{
	fixture *f = *state;
	uint64_t g = generation(f->v);
	kmc_batch *b;
	char name[32], pw[32];

	assert_int_equal(kmc_batch_begin(f->v, &b), 0);
	for (int i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "n%03d", i);
		snprintf(pw, sizeof(pw), "pw %d", i);
		assert_int_equal(kmc_batch_put(b, name, KMC_ITEM_PASSWORD, pw,
			strlen(pw)), 0);
	}
	/* Not there before the commit, to this handle's readers either. */
	assert_absent(f->v, "n000");
	assert_int_equal(kmc_batch_commit(b), 0);
	assert_item(f->v, "n000", "pw 0");
	assert_item(f->v, "n099", "pw 99");
	/* One transaction: the store generation moved by one. */
	assert_int_equal(generation(f->v), g + 1);
}

static void test_abort_writes_nothing(void **state)
{
	fixture *f = *state;
	kmc_batch *b;

	assert_int_equal(kmc_batch_begin(f->v, &b), 0);
	assert_int_equal(kmc_batch_put(b, "a", KMC_ITEM_PASSWORD, "x", 1), 0);
	kmc_batch_abort(b);
	assert_absent(f->v, "a");
	kmc_batch_abort(NULL);
	/* The handle writes again. */
	assert_int_equal(kmc_item_put(f->v, "a", KMC_ITEM_PASSWORD, "y", 1), 0);
	assert_item(f->v, "a", "y");
}

static void test_failed_put_spoils(void **state)
{
	fixture *f = *state;
	kmc_batch *b;

	assert_int_equal(kmc_item_put(f->v, "s", KMC_ITEM_SECRET, "z", 1), 0);
	assert_int_equal(kmc_batch_begin(f->v, &b), 0);
	assert_int_equal(kmc_batch_put(b, "a", KMC_ITEM_PASSWORD, "x", 1), 0);
	/* A password over a secret: the type rule of kmc_item_put(). */
	assert_int_equal(kmc_batch_put(b, "s", KMC_ITEM_PASSWORD, "x", 1),
		KMC_E_TYPE);
	assert_int_equal(kmc_batch_put(b, "c", KMC_ITEM_PASSWORD, "x", 1),
		KMC_E_TYPE);
	assert_int_equal(kmc_batch_commit(b), KMC_E_TYPE);
	assert_non_null(strstr(kmc_error_detail(), "item s"));
	assert_absent(f->v, "a");
	assert_absent(f->v, "c");
}

static void test_busy_and_readonly(void **state)
{
	fixture *f = *state;
	kmc_batch *b, *b2;
	kmc_vault *ro;

	assert_int_equal(kmc_batch_begin(f->v, &b), 0);
	/* Another write on the handle would wait on itself: refused. */
	assert_int_equal(kmc_item_put(f->v, "a", KMC_ITEM_PASSWORD, "x", 1),
		KMC_E_BUSY);
	assert_int_equal(kmc_batch_begin(f->v, &b2), KMC_E_BUSY);
	assert_int_equal(kmc_batch_put(b, "a", KMC_ITEM_PASSWORD, "y", 1), 0);
	assert_int_equal(kmc_batch_commit(b), 0);
	assert_item(f->v, "a", "y");

	assert_int_equal(kmc_vault_open(f->vdir, 0, &ro), 0);
	assert_int_equal(kmc_batch_begin(ro, &b), KMC_E_READONLY);
	assert_null(b);
	kmc_vault_close(ro);
}

static void test_replace_raises_version(void **state)
{
	fixture *f = *state;
	kmc_batch *b;

	assert_int_equal(kmc_item_put(f->v, "a", KMC_ITEM_PASSWORD, "1", 1), 0);
	assert_int_equal(kmc_batch_begin(f->v, &b), 0);
	assert_int_equal(kmc_batch_put(b, "a", KMC_ITEM_PASSWORD, "2", 1), 0);
	assert_int_equal(kmc_batch_put(b, "a", KMC_ITEM_PASSWORD, "3", 1), 0);
	assert_int_equal(kmc_batch_commit(b), 0);
	assert_item(f->v, "a", "3");
}

/* ---- reading the format -------------------------------------------- */

static int read_text(fixture *f, const char *text, size_t len,
	uint64_t *ret_n)
{
	kmc_batch *b;
	int r;

	write_file(f->file, text, len, 0600);
	assert_int_equal(kmc_batch_begin(f->v, &b), 0);
	r = kmc_batch_read_passwords_file(b, f->file, ret_n);
	if (r < 0) {
		/* The commit gives the same error back, and writes nothing. */
		assert_int_equal(kmc_batch_commit(b), r);
		return r;
	}
	assert_int_equal(kmc_batch_commit(b), 0);
	return 0;
}

static void test_read_format(void **state)
{
	fixture *f = *state;
	static const char text[] = "# tenants\n\na one\nb\t two  \nc x y\tz\nd last";
	uint64_t n = 0;

	assert_int_equal(read_text(f, text, strlen(text), &n), 0);
	assert_int_equal(n, 4);
	assert_item(f->v, "a", "one");
	/* One separator only: the rest of the line, spaces kept. */
	assert_item(f->v, "b", " two  ");
	assert_item(f->v, "c", "x y\tz");
	assert_item(f->v, "d", "last");
}

/* Each bad line: the error, its number named, its bytes never, and
   nothing of the batch (the good first line) stored. */
static void bad_line(fixture *f, const char *text, size_t len, int err,
	const char *what, const char *secret)
{
	assert_int_equal(read_text(f, text, len, NULL), err);
	assert_non_null(strstr(kmc_error_detail(), "line 2: "));
	assert_non_null(strstr(kmc_error_detail(), what));
	if (secret)
		assert_null(strstr(kmc_error_detail(), secret));
	assert_absent(f->v, "good");
}

static void test_read_bad_lines(void **state)
{
	fixture *f = *state;
	static char big[8192];

	bad_line(f, "good x\nSeCrEt\n", 14, KMC_E_INVALID, "no space",
		"SeCrEt");
	bad_line(f, "good x\nb SeCrEt\r\n", 17, KMC_E_INVALID,
		"carriage return", "SeCrEt");
	bad_line(f, "good x\nb Se\0Cr\n", 15, KMC_E_INVALID, "NUL", "Se");
	bad_line(f, "good x\nb \n", 10, KMC_E_EMPTY, "empty", NULL);
	bad_line(f, "good x\n SeCrEt\n", 15, KMC_E_NAME, "name", "SeCrEt");
	bad_line(f, "good x\n.b SeCrEt\n", 17, KMC_E_NAME, "name", "SeCrEt");
	bad_line(f, "good x\nb!c SeCrEt\n", 18, KMC_E_NAME, "name", "b!c");
	/* A password of 4097 bytes; then a line with no end in sight. */
	memcpy(big, "good x\nb ", 9);
	memset(big + 9, 'p', 4097);
	bad_line(f, big, 9 + 4097, KMC_E_TOO_LARGE, "4096", NULL);
	memset(big + 7, 'p', sizeof(big) - 7);
	bad_line(f, big, sizeof(big), KMC_E_TOO_LARGE, "longer", NULL);
	/* 4096 bytes exactly is a password. */
	memcpy(big, "good x\nb ", 9);
	memset(big + 9, 'p', 4096);
	assert_int_equal(read_text(f, big, 9 + 4096, NULL), 0);
	assert_item(f->v, "good", "x");
}

static void test_read_file_checked(void **state)
{
	fixture *f = *state;
	kmc_batch *b;

	write_file(f->file, "a x\n", 4, 0644);
	assert_int_equal(kmc_batch_begin(f->v, &b), 0);
	assert_int_equal(kmc_batch_read_passwords_file(b, f->file, NULL),
		KMC_E_PERM);
	kmc_batch_abort(b);
	assert_absent(f->v, "a");
}

static void test_read_fd(void **state)
{
	fixture *f = *state;
	kmc_batch *b;
	uint64_t n = 0;
	int p[2];

	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], "a 1\nb 2\n", 8), 8);
	close(p[1]);
	assert_int_equal(kmc_batch_begin(f->v, &b), 0);
	assert_int_equal(kmc_batch_read_passwords(b, p[0], &n), 0);
	close(p[0]);
	assert_int_equal(kmc_batch_commit(b), 0);
	assert_int_equal(n, 2);
	assert_item(f->v, "b", "2");
}

/* Lines split across reads at every byte give the same items. */
typedef struct seen {
	int n;
	char names[4][8];
	char pws[4][8];
} seen;

static int note_line(void *arg, uint64_t line, const char *name,
	const uint8_t *pw, size_t len)
{
	seen *s = arg;

	(void)line;
	assert_true(s->n < 4 && len < 8);
	snprintf(s->names[s->n], 8, "%s", name);
	memcpy(s->pws[s->n], pw, len);
	s->pws[s->n][len] = '\0';
	s->n++;
	return 0;
}

static void test_reader_pieces(void **state)
{
	static const char text[] = "a 1\n#x\nbb 22\n\ncc 3 3";
	(void)state;

	for (size_t cut = 0; cut <= strlen(text); cut++) {
		batch_reader r;
		seen s;

		memset(&s, 0, sizeof(s));
		assert_int_equal(batch_reader_init(&r, note_line, &s), 0);
		assert_int_equal(batch_reader_feed(&r, (const uint8_t *)text,
			cut), 0);
		assert_int_equal(batch_reader_feed(&r,
			(const uint8_t *)text + cut, strlen(text) - cut), 0);
		assert_int_equal(batch_reader_end(&r), 0);
		batch_reader_done(&r);
		assert_int_equal(s.n, 3);
		assert_string_equal(s.names[1], "bb");
		assert_string_equal(s.pws[1], "22");
		assert_string_equal(s.names[2], "cc");
		assert_string_equal(s.pws[2], "3 3");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_commit_writes_all_once),
		T(test_abort_writes_nothing),
		T(test_failed_put_spoils),
		T(test_busy_and_readonly),
		T(test_replace_raises_version),
		T(test_read_format),
		T(test_read_bad_lines),
		T(test_read_file_checked),
		T(test_read_fd),
		cmocka_unit_test(test_reader_pieces),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}

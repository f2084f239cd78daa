/*
 * test_journal.c - the intent log format (vault/journal.c).
 *
 *	version u8 (1; 2 with a kind 4) | state u8 (1, 2) | n u8 (1..16)
 *	n × { kind u8 (1..3; 4 in version 2) | dir_len u16 | dir |
 *	      name_len u8 | name }
 *
 * What journal_encode() writes journal_parse() reads back; anything else
 * (other versions, states, counts, kinds, relative or NUL-holding dirs,
 * names that are not one plain path component, short or long input) is
 * refused. journal_add() holds entries to the same rules.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "../../vault/journal.h"

/* Offsets in the encoding of a journal whose first entry is "/d", "n". */
#define OFF_VERSION 0
#define OFF_STATE 1
#define OFF_N 2
#define OFF_KIND 3
#define OFF_DIR_LEN 4
#define OFF_DIR 6

static journal *new_journal(void)
{
	journal *j = calloc(1, sizeof(*j));

	assert_non_null(j);
	return j;
}

static void assert_journal_equal(const journal *a, const journal *b)
{
	assert_int_equal(a->n, b->n);
	for (size_t i = 0; i < a->n; i++) {
		assert_int_equal(a->e[i].kind, b->e[i].kind);
		assert_string_equal(a->e[i].dir, b->e[i].dir);
		assert_string_equal(a->e[i].name, b->e[i].name);
		assert_memory_equal(a->e[i].tag, b->e[i].tag, JOURNAL_TAG_LEN);
	}
}

/* Build a raw journal by hand: one entry of kind, dir and name. */
static size_t raw_one(uint8_t *p, uint8_t version, uint8_t state,
	uint8_t kind, const void *dir, size_t dlen, const void *name,
	size_t nlen)
{
	size_t o = 0;

	p[o++] = version;
	p[o++] = state;
	p[o++] = 1;
	p[o++] = kind;
	p[o++] = (uint8_t)(dlen >> 8);
	p[o++] = (uint8_t)dlen;
	memcpy(p + o, dir, dlen);
	o += dlen;
	p[o++] = (uint8_t)nlen;
	memcpy(p + o, name, nlen);
	o += nlen;
	return o;
}

static int parse(const uint8_t *p, size_t len)
{
	journal *j = new_journal();
	int state = 77, r;

	r = journal_parse(p, len, &state, j);
	if (r < 0)
		assert_int_equal(state, 77);
	free(j);
	return r;
}

/* ---------------------------------------------------------------- */

static void test_roundtrip(void **state)
{
	journal *j = new_journal(), *back = new_journal();
	uint8_t *raw = NULL;
	size_t len = 0;
	int st = 0;

	(void)state;
	assert_int_equal(journal_add(j, JOURNAL_FILE, "/etc/kmc", "kmc.conf"),
		0);
	assert_int_equal(journal_add(j, JOURNAL_FOLDER, "/var/lib/kmc/keys",
		"server"), 0);
	assert_int_equal(journal_add(j, JOURNAL_REMOVE, "/", "old.crl"), 0);
	assert_int_equal(journal_add(j, JOURNAL_FILE, "/x", "...weird name "
		"\xc3\xa9\n"), 0);
	for (int s = 1; s <= 2; s++) {
		assert_int_equal(journal_encode(j, s, &raw, &len), 0);
		assert_int_equal(raw[OFF_VERSION], 1);
		assert_int_equal(raw[OFF_STATE], s);
		assert_int_equal(raw[OFF_N], 4);
		assert_int_equal(journal_parse(raw, len, &st, back), 0);
		assert_int_equal(st, s);
		assert_journal_equal(j, back);
		free(raw);
	}
	free(back);
	free(j);
}

/* 16 entries with the longest dir and name: the largest journal. */
static void test_roundtrip_largest(void **state)
{
	journal *j = new_journal(), *back = new_journal();
	char dir[JOURNAL_DIR_MAX + 1], name[201];
	uint8_t *raw = NULL;
	size_t len = 0;
	int st = 0;

	(void)state;
	memset(dir, 'd', JOURNAL_DIR_MAX);
	dir[0] = '/';
	dir[JOURNAL_DIR_MAX] = '\0';
	memset(name, 'n', 200);
	name[200] = '\0';
	for (int i = 0; i < JOURNAL_MAX_ENTRIES; i++) {
		name[0] = (char)('a' + i);
		assert_int_equal(journal_add(j, (journal_kind)(1 + i % 3), dir,
			name), 0);
	}
	assert_int_equal(journal_encode(j, 2, &raw, &len), 0);
	assert_int_equal(len, 3 + JOURNAL_MAX_ENTRIES *
		(1 + 2 + JOURNAL_DIR_MAX + 1 + 200));
	assert_int_equal(journal_parse(raw, len, &st, back), 0);
	assert_int_equal(st, 2);
	assert_journal_equal(j, back);
	free(raw);
	free(back);
	free(j);
}

static void test_exact_bytes(void **state)
{
	static const uint8_t want[] = {
		1, 1, 1,
		1, 0, 4, '/', 'e', 't', 'c', 3, 'a', '.', 'b',
	};
	journal *j = new_journal();
	uint8_t *raw = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(journal_add(j, JOURNAL_FILE, "/etc", "a.b"), 0);
	assert_int_equal(journal_encode(j, 1, &raw, &len), 0);
	assert_int_equal(len, sizeof(want));
	assert_memory_equal(raw, want, sizeof(want));
	assert_int_equal(parse(want, sizeof(want)), 0);
	free(raw);
	free(j);
}

static void test_bad_version(void **state)
{
	uint8_t p[64];
	size_t n;

	(void)state;
	n = raw_one(p, 4, 1, 1, "/d", 2, "n", 1);
	assert_int_equal(parse(p, n), KMC_E_VERSION);
	/* 3 is read, but holds a kind 5 entry or is not written. */
	p[OFF_VERSION] = 3;
	assert_int_equal(parse(p, n), KMC_E_CORRUPT);
	p[OFF_VERSION] = 0;
	assert_int_equal(parse(p, n), KMC_E_VERSION);
	p[OFF_VERSION] = 255;
	assert_int_equal(parse(p, n), KMC_E_VERSION);
	p[OFF_VERSION] = 1;
	assert_int_equal(parse(p, n), 0);
}

/* A new file (kind 4, never over an existing one) needs version 2, so a
   kmc that reads version 1 only refuses it as newer rather than rename
   over the file; without one, the journal is version 1, as it was. */
static void test_new_file(void **state)
{
	journal *j = new_journal(), *back = new_journal();
	uint8_t *raw = NULL, p[64];
	size_t len = 0, n;
	int st = 0;

	(void)state;
	assert_int_equal(journal_add(j, JOURNAL_FILE, "/etc/kmc", "kmc.conf"),
		0);
	assert_int_equal(journal_add(j, JOURNAL_NEW, "/srv/pki", "root.crl"),
		0);
	assert_int_equal(journal_encode(j, 2, &raw, &len), 0);
	assert_int_equal(raw[OFF_VERSION], 2);
	assert_int_equal(journal_parse(raw, len, &st, back), 0);
	assert_int_equal(st, 2);
	assert_journal_equal(j, back);
	assert_int_equal(back->e[1].kind, JOURNAL_NEW);
	free(raw);
	/* Kind 4 in a version 1 journal; version 2 without a kind 4. */
	n = raw_one(p, 1, 2, JOURNAL_NEW, "/d", 2, "n", 1);
	assert_int_equal(parse(p, n), KMC_E_CORRUPT);
	p[OFF_VERSION] = 2;
	assert_int_equal(parse(p, n), 0);
	for (uint8_t k = JOURNAL_FILE; k <= JOURNAL_REMOVE; k++) {
		p[OFF_KIND] = k;
		assert_int_equal(parse(p, n), KMC_E_CORRUPT);
	}
	p[OFF_KIND] = 5;
	assert_int_equal(parse(p, n), KMC_E_CORRUPT);
	free(back);
	free(j);
}

/* A new file staged under a name of its own (kind 5: kmc ca crl's --out,
   a folder two vaults may write at once) keeps its random tag in the
   journal, so the staged name recovery removes is this change's alone;
   version 3, so a kmc that knows 2 (and would look for .NAME.kmc-new)
   refuses it as newer. */
static void test_new_own_file(void **state)
{
	journal *j = new_journal(), *back = new_journal();
	uint8_t *raw = NULL, p[64];
	char s1[300], s2[300];
	size_t len = 0, n;
	int st = 0;

	(void)state;
	assert_int_equal(journal_add(j, JOURNAL_NEW_OWN, "/srv/pki", "root.crl"),
		0);
	assert_int_equal(journal_add(j, JOURNAL_NEW_OWN, "/srv/pki", "root.crl"),
		0);
	assert_int_equal(journal_add(j, JOURNAL_NEW, "/srv/pki", "b.crl"), 0);
	assert_int_equal(journal_staged_name(&j->e[0], s1, sizeof(s1)), 0);
	assert_int_equal(journal_staged_name(&j->e[1], s2, sizeof(s2)), 0);
	assert_int_equal(strlen(s1), strlen(".root.crl.") + 16 + strlen(".kmc-new"));
	assert_int_equal(strncmp(s1, ".root.crl.", 10), 0);
	assert_string_equal(s1 + 26, ".kmc-new");
	assert_true(strspn(s1 + 10, "0123456789abcdef") == 16);
	/* Two changes of one file: two staged names. */
	assert_string_not_equal(s1, s2);
	assert_int_equal(journal_staged_name(&j->e[2], s2, sizeof(s2)), 0);
	assert_string_equal(s2, ".b.crl.kmc-new");
	assert_int_equal(journal_encode(j, 1, &raw, &len), 0);
	assert_int_equal(raw[OFF_VERSION], 3);
	assert_int_equal(journal_parse(raw, len, &st, back), 0);
	assert_journal_equal(j, back);
	assert_int_equal(back->e[0].kind, JOURNAL_NEW_OWN);
	/* Cut in its tag. */
	assert_int_equal(journal_parse(raw, len - 1, &st, back),
		KMC_E_CORRUPT);
	free(raw);
	/* Kind 5 needs version 3, and its tag. */
	n = raw_one(p, 3, 2, JOURNAL_NEW_OWN, "/d", 2, "n", 1);
	memcpy(p + n, "\1\2\3\4\5\6\7\x08", JOURNAL_TAG_LEN);
	assert_int_equal(parse(p, n + JOURNAL_TAG_LEN), 0);
	assert_int_equal(parse(p, n), KMC_E_CORRUPT);
	p[OFF_VERSION] = 2;
	assert_int_equal(parse(p, n + JOURNAL_TAG_LEN), KMC_E_CORRUPT);
	p[OFF_VERSION] = 3;
	p[OFF_KIND] = 6;
	assert_int_equal(parse(p, n + JOURNAL_TAG_LEN), KMC_E_CORRUPT);
	free(back);
	free(j);
}

static void test_bad_state(void **state)
{
	static const uint8_t bad[] = { 0, 3, 4, 255 };
	uint8_t p[64];
	size_t n = raw_one(p, 1, 1, 1, "/d", 2, "n", 1);

	(void)state;
	for (size_t i = 0; i < sizeof(bad); i++) {
		p[OFF_STATE] = bad[i];
		assert_int_equal(parse(p, n), KMC_E_CORRUPT);
	}
}

static void test_bad_count(void **state)
{
	journal *j = new_journal();
	uint8_t *raw = NULL, *big;
	size_t len = 0, one;

	(void)state;
	/* n = 0: nothing follows, and still refused. */
	assert_int_equal(parse((const uint8_t *)"\x01\x01\x00", 3),
		KMC_E_CORRUPT);
	/* n = 17 with 17 well-formed entries behind it. */
	assert_int_equal(journal_add(j, JOURNAL_FILE, "/d", "n"), 0);
	assert_int_equal(journal_encode(j, 1, &raw, &len), 0);
	one = len - 3;
	big = malloc(3 + 17 * one);
	assert_non_null(big);
	memcpy(big, raw, 3);
	for (size_t i = 0; i < 17; i++)
		memcpy(big + 3 + i * one, raw + 3, one);
	big[OFF_N] = 17;
	assert_int_equal(parse(big, 3 + 17 * one), KMC_E_CORRUPT);
	big[OFF_N] = 255;
	assert_int_equal(parse(big, 3 + 17 * one), KMC_E_CORRUPT);
	/* 16 of them are fine. */
	big[OFF_N] = 16;
	assert_int_equal(parse(big, 3 + 16 * one), 0);
	/* A count that disagrees with the entries present. */
	big[OFF_N] = 15;
	assert_int_equal(parse(big, 3 + 16 * one), KMC_E_CORRUPT);
	big[OFF_N] = 16;
	assert_int_equal(parse(big, 3 + 15 * one), KMC_E_CORRUPT);
	free(big);
	free(raw);
	free(j);
}

static void test_bad_kind(void **state)
{
	static const uint8_t bad[] = { 0, 4, 5, 255 };
	uint8_t p[64];
	size_t n = raw_one(p, 1, 1, 1, "/d", 2, "n", 1);

	(void)state;
	for (size_t i = 0; i < sizeof(bad); i++) {
		p[OFF_KIND] = bad[i];
		assert_int_equal(parse(p, n), KMC_E_CORRUPT);
	}
	for (uint8_t k = 1; k <= 3; k++) {
		p[OFF_KIND] = k;
		assert_int_equal(parse(p, n), 0);
	}
}

static void test_bad_dir(void **state)
{
	uint8_t *p = malloc(2048);
	char dir[JOURNAL_DIR_MAX + 2];
	size_t n;

	(void)state;
	assert_non_null(p);
	n = raw_one(p, 1, 1, 1, "etc", 3, "n", 1);
	assert_int_equal(parse(p, n), KMC_E_CORRUPT);
	n = raw_one(p, 1, 1, 1, "./etc", 5, "n", 1);
	assert_int_equal(parse(p, n), KMC_E_CORRUPT);
	n = raw_one(p, 1, 1, 1, "", 0, "n", 1);
	assert_int_equal(parse(p, n), KMC_E_CORRUPT);
	n = raw_one(p, 1, 1, 1, "/a\0b", 4, "n", 1);
	assert_int_equal(parse(p, n), KMC_E_CORRUPT);
	n = raw_one(p, 1, 1, 1, "/ab\0", 4, "n", 1);
	assert_int_equal(parse(p, n), KMC_E_CORRUPT);
	n = raw_one(p, 1, 1, 1, "\0/ab", 4, "n", 1);
	assert_int_equal(parse(p, n), KMC_E_CORRUPT);
	/* JOURNAL_DIR_MAX bytes are fine, one more is not. */
	memset(dir, 'd', sizeof(dir));
	dir[0] = '/';
	n = raw_one(p, 1, 1, 1, dir, JOURNAL_DIR_MAX, "n", 1);
	assert_int_equal(parse(p, n), 0);
	n = raw_one(p, 1, 1, 1, dir, JOURNAL_DIR_MAX + 1, "n", 1);
	assert_int_equal(parse(p, n), KMC_E_CORRUPT);
	/* A dir length past the end of the input. */
	n = raw_one(p, 1, 1, 1, "/d", 2, "n", 1);
	p[OFF_DIR_LEN] = 0x03;
	assert_int_equal(parse(p, n), KMC_E_CORRUPT);
	free(p);
}

static void test_bad_name(void **state)
{
	static const struct {
		const char *s;
		size_t n;
	} bad[] = {
		{ "", 0 }, { ".", 1 }, { "..", 2 }, { "a/b", 3 }, { "/", 1 },
		{ "a/", 2 }, { "/a", 2 }, { "a\0b", 3 }, { "\0", 1 },
		{ "ab\0", 3 },
	};
	static const char *const good[] = { "...", ".a", "a.", "..a", " " };
	char name[256];
	uint8_t p[512];
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n = raw_one(p, 1, 1, 1, "/d", 2, bad[i].s, bad[i].n);
		assert_int_equal(parse(p, n), KMC_E_CORRUPT);
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		n = raw_one(p, 1, 1, 1, "/d", 2, good[i], strlen(good[i]));
		assert_int_equal(parse(p, n), 0);
	}
	/* Names of up to 200 bytes; longer ones do not fit a staged name. */
	memset(name, 'n', sizeof(name));
	n = raw_one(p, 1, 1, 1, "/d", 2, name, 200);
	assert_int_equal(parse(p, n), 0);
	n = raw_one(p, 1, 1, 1, "/d", 2, name, 201);
	assert_int_equal(parse(p, n), KMC_E_CORRUPT);
	n = raw_one(p, 1, 1, 1, "/d", 2, name, 255);
	assert_int_equal(parse(p, n), KMC_E_CORRUPT);
}

/* Every proper prefix of a valid journal is refused, and so is more. */
static void test_truncated_and_trailing(void **state)
{
	journal *j = new_journal(), *back = new_journal();
	uint8_t *raw = NULL, *copy;
	size_t len = 0;
	int st = 77;

	(void)state;
	assert_int_equal(journal_add(j, JOURNAL_FILE, "/etc/kmc", "kmc.conf"),
		0);
	assert_int_equal(journal_add(j, JOURNAL_FOLDER, "/var/k", "srv"), 0);
	assert_int_equal(journal_add(j, JOURNAL_REMOVE, "/tmp", "x"), 0);
	assert_int_equal(journal_encode(j, 2, &raw, &len), 0);
	/* Each prefix in its own allocation, so ASan sees any over-read. */
	for (size_t cut = 0; cut < len; cut++) {
		copy = malloc(cut ? cut : 1);
		assert_non_null(copy);
		memcpy(copy, raw, cut);
		assert_int_equal(journal_parse(copy, cut, &st, back),
			KMC_E_CORRUPT);
		assert_int_equal(st, 77);
		free(copy);
	}
	copy = malloc(len + 8);
	assert_non_null(copy);
	memcpy(copy, raw, len);
	for (size_t extra = 1; extra <= 8; extra++) {
		memset(copy + len, extra == 1 ? 0 : 'x', extra);
		assert_int_equal(journal_parse(copy, len + extra, &st, back),
			KMC_E_CORRUPT);
	}
	assert_int_equal(journal_parse(copy, len, &st, back), 0);
	assert_int_equal(st, 2);
	assert_journal_equal(j, back);
	free(copy);
	free(raw);
	free(back);
	free(j);
}

static void test_add_limit(void **state)
{
	journal *j = new_journal();
	char name[8];

	(void)state;
	for (int i = 0; i < JOURNAL_MAX_ENTRIES; i++) {
		name[0] = 'f';
		name[1] = (char)('a' + i);
		name[2] = '\0';
		assert_int_equal(journal_add(j, JOURNAL_FILE, "/d", name), 0);
	}
	assert_int_equal(j->n, JOURNAL_MAX_ENTRIES);
	assert_int_equal(journal_add(j, JOURNAL_FILE, "/d", "one-more"),
		KMC_E_LIMIT);
	assert_int_equal(j->n, JOURNAL_MAX_ENTRIES);
	free(j);
}

static void test_add_invalid(void **state)
{
	static const char *const bad_names[] = { "", ".", "..", "a/b", "/",
		"a/", "/a" };
	static const char *const bad_dirs[] = { "", "d", "./d", "~/d", " /d" };
	journal *j = new_journal();
	char dir[JOURNAL_DIR_MAX + 2], name[202];

	(void)state;
	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++)
		assert_int_equal(journal_add(j, JOURNAL_FILE, "/d",
			bad_names[i]), KMC_E_INVALID);
	for (size_t i = 0; i < sizeof(bad_dirs) / sizeof(bad_dirs[0]); i++)
		assert_int_equal(journal_add(j, JOURNAL_FILE, bad_dirs[i], "n"),
			KMC_E_INVALID);
	memset(dir, 'd', sizeof(dir));
	dir[0] = '/';
	dir[JOURNAL_DIR_MAX + 1] = '\0';
	assert_int_equal(journal_add(j, JOURNAL_FILE, dir, "n"), KMC_E_INVALID);
	memset(name, 'n', sizeof(name));
	name[201] = '\0';
	assert_int_equal(journal_add(j, JOURNAL_FILE, "/d", name),
		KMC_E_INVALID);
	assert_int_equal(j->n, 0);
	/* The limits themselves are fine. */
	dir[JOURNAL_DIR_MAX] = '\0';
	name[200] = '\0';
	assert_int_equal(journal_add(j, JOURNAL_FILE, dir, name), 0);
	assert_int_equal(j->n, 1);
	free(j);
}

static void test_staged_name(void **state)
{
	journal *j = new_journal();
	char buf[300], name[201];

	(void)state;
	assert_int_equal(journal_add(j, JOURNAL_FILE, "/etc", "kmc.conf"), 0);
	assert_int_equal(journal_staged_name(&j->e[0], buf, sizeof(buf)), 0);
	assert_string_equal(buf, ".kmc.conf.kmc-new");
	/* Exactly enough room, and one byte less. */
	assert_int_equal(journal_staged_name(&j->e[0], buf,
		strlen(".kmc.conf.kmc-new") + 1), 0);
	assert_string_equal(buf, ".kmc.conf.kmc-new");
	assert_int_equal(journal_staged_name(&j->e[0], buf,
		strlen(".kmc.conf.kmc-new")), KMC_E_TOO_LARGE);
	/* The longest name still fits the buffers journal.c uses. */
	memset(name, 'n', 200);
	name[200] = '\0';
	assert_int_equal(journal_add(j, JOURNAL_FOLDER, "/d", name), 0);
	assert_int_equal(journal_staged_name(&j->e[1], buf, sizeof(buf)), 0);
	assert_int_equal(strlen(buf), 1 + 200 + strlen(".kmc-new"));
	assert_int_equal(buf[0], '.');
	assert_string_equal(buf + 201, ".kmc-new");
	free(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_roundtrip_largest),
		cmocka_unit_test(test_exact_bytes),
		cmocka_unit_test(test_bad_version),
		cmocka_unit_test(test_new_own_file),
		cmocka_unit_test(test_new_file),
		cmocka_unit_test(test_bad_state),
		cmocka_unit_test(test_bad_count),
		cmocka_unit_test(test_bad_kind),
		cmocka_unit_test(test_bad_dir),
		cmocka_unit_test(test_bad_name),
		cmocka_unit_test(test_truncated_and_trailing),
		cmocka_unit_test(test_add_limit),
		cmocka_unit_test(test_add_invalid),
		cmocka_unit_test(test_staged_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_conf.c - updating "key = value" config files (vault/conf.c).
 *
 * Every line that is not an assignment of one of the entries comes out
 * byte for byte as it went in; the first assignment of an entry's key is
 * rewritten in place (its indentation kept), later ones are dropped,
 * missing ones are appended, and a NULL value removes the key. Limits
 * and refusals follow conf.h.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "../../vault/conf.h"

/*
 * conf_update() on a C string; on success *out is a malloc'd
 * NUL-terminated copy of the result (so it compares with strings).
 */
static int update_n(const char *in, size_t in_len, const conf_entry *e,
	size_t n, char **out)
{
	uint8_t *raw = NULL;
	size_t len = 0;
	int r;

	*out = NULL;
	r = conf_update((const uint8_t *)in, in_len, e, n, &raw, &len);
	if (r == 0) {
		*out = malloc(len + 1);
		assert_non_null(*out);
		if (len)
			memcpy(*out, raw, len);
		(*out)[len] = '\0';
		/* The result never holds a NUL: it must be all text. */
		assert_int_equal(strlen(*out), len);
	}
	free(raw);
	return r;
}

static int update(const char *in, const conf_entry *e, size_t n, char **out)
{
	return update_n(in, strlen(in), e, n, out);
}

/* in with e set must give exactly want. */
static void expect(const char *in, const conf_entry *e, size_t n,
	const char *want)
{
	char *out = NULL;

	assert_int_equal(update(in, e, n, &out), 0);
	assert_string_equal(out, want);
	free(out);
}

static void expect_one(const char *in, const char *key, const char *value,
	const char *want)
{
	conf_entry e = { key, value };

	expect(in, &e, 1, want);
}

static int update_one(const char *in, const char *key, const char *value)
{
	conf_entry e = { key, value };
	char *out = NULL;
	int r = update(in, &e, 1, &out);

	free(out);
	return r;
}

/* ---------------------------------------------------------------- */

static void test_keeps_other_lines(void **state)
{
	static const char in[] =
		"# a comment = with an equals sign\n"
		"; another kind of comment\n"
		"\n"
		"   \t \n"
		"other   =\tsome  value with  spaces \t\n"
		"  # server_key_mm = commented out\n"
		";server_key_mm = also commented out\n"
		"not an assignment\n"
		"server_key_mm = old\n"
		"trailing=x\n"
		"\xc3\xa9t\xc3\xa9 = caf\xc3\xa9\n"
		"\n";
	static const char want[] =
		"# a comment = with an equals sign\n"
		"; another kind of comment\n"
		"\n"
		"   \t \n"
		"other   =\tsome  value with  spaces \t\n"
		"  # server_key_mm = commented out\n"
		";server_key_mm = also commented out\n"
		"not an assignment\n"
		"server_key_mm = new\n"
		"trailing=x\n"
		"\xc3\xa9t\xc3\xa9 = caf\xc3\xa9\n"
		"\n";

	(void)state;
	expect_one(in, "server_key_mm", "new", want);
}

static void test_no_entries_is_identity(void **state)
{
	static const char in[] = "# c\n\na = 1\n  b=2\n;x\n";

	(void)state;
	expect(in, NULL, 0, in);
}

static void test_replace_keeps_indentation(void **state)
{
	(void)state;
	expect_one("  key = old\n", "key", "new", "  key = new\n");
	expect_one("\tkey = old\n", "key", "new", "\tkey = new\n");
	expect_one(" \t key\t=\told value\n", "key", "new", " \t key = new\n");
	/* Whatever follows the '=' goes, a trailing comment too. */
	expect_one("key = old # note\n", "key", "new", "key = new\n");
	/* An empty value is an assignment all the same. */
	expect_one("key =\n", "key", "v", "key = v\n");
	expect_one("key=\n", "key", "v", "key = v\n");
}

static void test_forms_recognised(void **state)
{
	(void)state;
	expect_one("a = 1\nkey=value\nb = 2\n", "key", "new",
		"a = 1\nkey = new\nb = 2\n");
	expect_one("a = 1\nkey\t=\tvalue\nb = 2\n", "key", "new",
		"a = 1\nkey = new\nb = 2\n");
	expect_one("key   =   value\n", "key", "new", "key = new\n");
	expect_one("key =value\n", "key", "new", "key = new\n");
	/* The value may contain '='. */
	expect_one("key = a=b=c\n", "key", "x", "key = x\n");
}

static void test_similar_keys_untouched(void **state)
{
	(void)state;
	expect_one("server_key_mm_old = x\n", "server_key_mm", "y",
		"server_key_mm_old = x\nserver_key_mm = y\n");
	expect_one("server_key_mm_old=x\n", "server_key_mm", "y",
		"server_key_mm_old=x\nserver_key_mm = y\n");
	expect_one("server_key = x\n", "server_key_mm", "y",
		"server_key = x\nserver_key_mm = y\n");
	expect_one("xserver_key_mm = x\n", "server_key_mm", "y",
		"xserver_key_mm = x\nserver_key_mm = y\n");
	/* Case matters. */
	expect_one("SERVER_KEY_MM = x\n", "server_key_mm", "y",
		"SERVER_KEY_MM = x\nserver_key_mm = y\n");
	/* "key value" and "key" alone are not assignments. */
	expect_one("server_key_mm y\nserver_key_mm\n", "server_key_mm", "z",
		"server_key_mm y\nserver_key_mm\nserver_key_mm = z\n");
	/* With the old key set too, each goes to its own line. */
	{
		conf_entry e[] = { { "server_key_mm", "new" },
			{ "server_key_mm_old", "old2" } };

		expect("server_key_mm_old = x\nserver_key_mm = y\n", e, 2,
			"server_key_mm_old = old2\nserver_key_mm = new\n");
	}
}

static void test_drops_later_duplicates(void **state)
{
	(void)state;
	expect_one("key = a\nx = 1\n  key = b\nkey=c\ny = 2\n", "key", "new",
		"key = new\nx = 1\ny = 2\n");
	/* Commented duplicates are not assignments: kept. */
	expect_one("key = a\n# key = b\n", "key", "new",
		"key = new\n# key = b\n");
}

static void test_appends_missing(void **state)
{
	conf_entry e[] = { { "a", "1" }, { "b", "2" }, { "c", "3" } };

	(void)state;
	expect_one("x = 1\n", "key", "new", "x = 1\nkey = new\n");
	/* In the order of the entries, after the existing ones are set. */
	expect("b = old\n# end\n", e, 3, "b = 2\n# end\na = 1\nc = 3\n");
}

static void test_null_removes(void **state)
{
	conf_entry e[] = { { "key", NULL }, { "set", "v" } };

	(void)state;
	expect_one("a = 1\nkey = x\nb = 2\n  key=y\n", "key", NULL,
		"a = 1\nb = 2\n");
	/* Removing a key that is not there changes nothing. */
	expect_one("a = 1\n", "key", NULL, "a = 1\n");
	expect_one("", "key", NULL, "");
	/* Comments about it stay. */
	expect_one("# key = x\nkey = x\n", "key", NULL, "# key = x\n");
	expect("key = 1\nset = 0\n", e, 2, "set = v\n");
}

static void test_no_trailing_newline(void **state)
{
	(void)state;
	/* The last line gets its newline. */
	expect_one("a = 1", "key", "new", "a = 1\nkey = new\n");
	expect_one("key = old", "key", "new", "key = new\n");
	expect_one("a = 1\nkey = old", "key", NULL, "a = 1\n");
	expect("# only a comment", NULL, 0, "# only a comment\n");
}

/*
 * CRLF: '\r' is not white space to the parser, so "key = old\r\n" is an
 * assignment of key whose value ends in '\r'. The line is rewritten with
 * a bare "\n"; every other line keeps its "\r\n" as it was, and appended
 * lines end in "\n". A file of CRLF lines comes out mixed.
 */
static void test_crlf(void **state)
{
	(void)state;
	/* A CRLF file stays CRLF: the lines kmc writes end as its first. */
	expect_one("# c\r\na = 1\r\nkey = old\r\nb = 2\r\n", "key", "new",
		"# c\r\na = 1\r\nkey = new\r\nb = 2\r\n");
	expect_one("a = 1\r\n\r\n", "key", "new",
		"a = 1\r\n\r\nkey = new\r\n");
	expect_one("key=old\r\nkey = dup\r\n", "key", "new", "key = new\r\n");
	expect_one("a = 1\r\nb = 2", "key", "new", "a = 1\r\nb = 2\r\nkey = new\r\n");
	expect_one("a = 1\r\nb = 2\r", "key", "new", "a = 1\r\nb = 2\r\nkey = new\r\n");
	/* The first line decides; other kept lines keep their own ending. */
	expect_one("a = 1\nb = 2\r\nkey = old\r\n", "key", "new",
		"a = 1\nb = 2\r\nkey = new\n");
	expect_one("a = 1\r\nb = 2\nkey = old\n", "key", "new",
		"a = 1\r\nb = 2\nkey = new\r\n");
	expect_one("a = 1\r\nkey = old\r\n", "key", NULL, "a = 1\r\n");
	/* A lone '\r' inside a line is just a byte of it. */
	expect_one("a = 1\rkey = old\n", "key", "new",
		"a = 1\rkey = old\nkey = new\n");
}

static void test_empty_input(void **state)
{
	conf_entry e[] = { { "a", "1" }, { "b", "" } };
	uint8_t *raw = NULL;
	size_t len = 99;

	(void)state;
	expect("", e, 2, "a = 1\nb = \n");
	/* Nothing in, nothing to set: an empty result. */
	assert_int_equal(conf_update((const uint8_t *)"", 0, NULL, 0, &raw,
		&len), 0);
	assert_int_equal(len, 0);
	free(raw);
}

static void test_refuses_nul(void **state)
{
	static const char in[] = "a = 1\nkey = x\0y\nb = 2\n";
	char *out = NULL;
	conf_entry e = { "key", "v" };

	(void)state;
	assert_int_equal(update_n(in, sizeof(in) - 1, &e, 1, &out),
		KMC_E_CORRUPT);
	assert_null(out);
	assert_int_equal(update_n("\0", 1, &e, 1, &out), KMC_E_CORRUPT);
	assert_int_equal(update_n("a = 1\n\0", 7, NULL, 0, &out),
		KMC_E_CORRUPT);
}

/* n bytes of short comment lines, each ending in '\n'. */
static char *comment_lines(size_t n)
{
	char *p = malloc(n + 1);

	assert_non_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (i % 64 == 63 || i == n - 1) ? '\n' :
			(i % 64 == 0 ? '#' : 'x');
	p[n] = '\0';
	return p;
}

static void test_input_size_limit(void **state)
{
	conf_entry e = { "key", "v" };
	char *in = comment_lines(CONF_MAX + 1);
	char *out = NULL;

	(void)state;
	assert_int_equal(update_n(in, CONF_MAX + 1, &e, 1, &out),
		KMC_E_TOO_LARGE);
	assert_null(out);
	assert_int_equal(update_n(in, CONF_MAX + 1, NULL, 0, &out),
		KMC_E_TOO_LARGE);
	free(in);
	/* Exactly CONF_MAX is fine, and may still grow by the entries. */
	in = comment_lines(CONF_MAX);
	assert_int_equal(update_n(in, CONF_MAX, &e, 1, &out), 0);
	assert_int_equal(strlen(out), CONF_MAX + strlen("key = v\n"));
	assert_memory_equal(out, in, CONF_MAX);
	free(out);
	free(in);
}

static void test_line_size_limit(void **state)
{
	conf_entry e = { "key", "v" };
	char *in = malloc(CONF_LINE_MAX + 16);
	char *out = NULL;

	(void)state;
	assert_non_null(in);
	/* A line of CONF_LINE_MAX bytes (without its '\n') is fine. */
	in[0] = '#';
	memset(in + 1, 'x', CONF_LINE_MAX - 1);
	in[CONF_LINE_MAX] = '\n';
	assert_int_equal(update_n(in, CONF_LINE_MAX + 1, &e, 1, &out), 0);
	free(out);
	/* One more byte is not, with or without the newline. */
	in[CONF_LINE_MAX] = 'x';
	in[CONF_LINE_MAX + 1] = '\n';
	assert_int_equal(update_n(in, CONF_LINE_MAX + 2, &e, 1, &out),
		KMC_E_TOO_LARGE);
	assert_null(out);
	assert_int_equal(update_n(in, CONF_LINE_MAX + 1, &e, 1, &out),
		KMC_E_TOO_LARGE);
	/* Nor after short lines, with no entries at all. */
	memcpy(in, "a=1\n", 4);
	memset(in + 4, 'x', CONF_LINE_MAX + 1);
	in[CONF_LINE_MAX + 5] = '\n';
	assert_int_equal(update_n(in, CONF_LINE_MAX + 6, NULL, 0, &out),
		KMC_E_TOO_LARGE);
	assert_int_equal(update_n(in, CONF_LINE_MAX + 4, NULL, 0, &out), 0);
	free(out);
	free(in);
}

static void test_refuses_bad_values(void **state)
{
	char *big = malloc(CONF_LINE_MAX + 1);

	(void)state;
	assert_int_equal(update_one("a = 1\n", "key", "x\ny"), KMC_E_INVALID);
	assert_int_equal(update_one("a = 1\n", "key", "x\n"), KMC_E_INVALID);
	assert_int_equal(update_one("a = 1\n", "key", "x\ry"), KMC_E_INVALID);
	assert_int_equal(update_one("a = 1\n", "key", "\r"), KMC_E_INVALID);
	assert_non_null(big);
	memset(big, 'v', CONF_LINE_MAX);
	big[CONF_LINE_MAX] = '\0';
	assert_int_equal(update_one("a = 1\n", "key", big), KMC_E_INVALID);
	free(big);
	/* Values may hold '=', '#' and spaces. */
	expect_one("", "key", "a = b # c", "key = a = b # c\n");
}

static void test_refuses_bad_keys(void **state)
{
	static const char *const bad[] = {
		"", "a=b", "=", "a b", " a", "a ", "a\tb", "a\nb", "a\rb",
		"#a", ";a", "a#", "a;b",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(update_one("a = 1\n", bad[i], "v"),
			KMC_E_INVALID);
		assert_int_equal(update_one("a = 1\n", bad[i], NULL),
			KMC_E_INVALID);
	}
}

static void test_too_many_entries(void **state)
{
	conf_entry e[CONF_ENTRIES_MAX + 1];
	char keys[CONF_ENTRIES_MAX + 1][8];
	char *out = NULL;

	(void)state;
	for (size_t i = 0; i <= CONF_ENTRIES_MAX; i++) {
		keys[i][0] = 'k';
		keys[i][1] = (char)('a' + i);
		keys[i][2] = '\0';
		e[i].key = keys[i];
		e[i].value = "v";
	}
	assert_int_equal(update("", e, CONF_ENTRIES_MAX + 1, &out),
		KMC_E_INVALID);
	assert_int_equal(update("", e, CONF_ENTRIES_MAX, &out), 0);
	free(out);
}

/* What conf_update writes, conf_update must take again, unchanged. */
static void assert_stable(const char *in, const conf_entry *e, size_t n)
{
	char *once = NULL, *twice = NULL;

	assert_int_equal(update(in, e, n, &once), 0);
	assert_int_equal(update(once, e, n, &twice), 0);
	assert_string_equal(once, twice);
	free(once);
	free(twice);
}

static void test_idempotent(void **state)
{
	conf_entry e[] = { { "a", "1" }, { "gone", NULL }, { "b", "x y" } };

	(void)state;
	assert_stable("", e, 3);
	assert_stable("# c\r\n  a=0\r\ngone = 1\nb\t=\t2\nb = 3\nz", e, 3);
}

/*
 * Whatever conf_update accepts, it reads back: the longest value it takes
 * (room kept for the key, " = ", CONF_INDENT_MAX of indentation and a
 * CRLF file's '\r') makes
 * a file that updates again to the same bytes, and one byte more is
 * refused up front instead of producing a file it would then refuse.
 */
static void test_longest_value_rereads(void **state)
{
	size_t longest = CONF_LINE_MAX - strlen("key") - 3 - CONF_INDENT_MAX - 1;
	char *big = malloc(longest + 2);
	conf_entry e = { "key", NULL };
	uint8_t *out = NULL;
	size_t out_len;

	(void)state;
	assert_non_null(big);
	memset(big, 'v', longest);
	big[longest] = '\0';
	e.value = big;
	assert_stable("a = 1\n", &e, 1);
	assert_stable("     key = 1\n", &e, 1);
	assert_stable("     key = 1\r\n", &e, 1);
	big[longest] = 'v';
	big[longest + 1] = '\0';
	assert_int_equal(conf_update((const uint8_t *)"a = 1\n", 6, &e, 1, &out,
		&out_len), KMC_E_INVALID);
	assert_null(out);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keeps_other_lines),
		cmocka_unit_test(test_no_entries_is_identity),
		cmocka_unit_test(test_replace_keeps_indentation),
		cmocka_unit_test(test_forms_recognised),
		cmocka_unit_test(test_similar_keys_untouched),
		cmocka_unit_test(test_drops_later_duplicates),
		cmocka_unit_test(test_appends_missing),
		cmocka_unit_test(test_null_removes),
		cmocka_unit_test(test_no_trailing_newline),
		cmocka_unit_test(test_crlf),
		cmocka_unit_test(test_empty_input),
		cmocka_unit_test(test_refuses_nul),
		cmocka_unit_test(test_input_size_limit),
		cmocka_unit_test(test_line_size_limit),
		cmocka_unit_test(test_refuses_bad_values),
		cmocka_unit_test(test_refuses_bad_keys),
		cmocka_unit_test(test_too_many_entries),
		cmocka_unit_test(test_idempotent),
		cmocka_unit_test(test_longest_value_rereads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_audit.c - the audit record's frame and fields as the log's reader
 * parses them (vault/auditread.c): each accepted form and its refused
 * twin with the exact error. And the log a handle keeps open between its
 * appends: other handles and a forked child appending in between leave
 * one intact chain. And a record's time, which is formatted without
 * gmtime_r() (so without reading the time zone): the same text as
 * gmtime_r() and strftime() give, over four centuries of instants.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <kmc.h>
#include <kmc/admin.h>
#include "unit_files.h"
#include "../../vault/audit.h"

#define Z64 "0000000000000000000000000000000000000000000000000000000000000000"
#define A64 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define GOOD "{\"v\":1,\"seq\":42,\"time\":\"2026-12-06T21:12:41Z\",\"uid\":0," \
	"\"user\":\"ro\\\"ot\",\"pid\":7,\"op\":\"kmc_item_put\",\"items\":" \
	"[{\"name\":\"db\",\"version\":2}],\"gen\":9,\"result\":\"pending\"," \
	"\"prev\":\"" Z64 "\",\"mac\":\"" A64 "\"}"

static int parse(const char *s, audit_line *l)
{
	return audit_line_parse(s, strlen(s), l);
}

static void test_frame(void **state)
{
	audit_line l;

	(void)state;
	assert_int_equal(parse(GOOD, &l), 0);
	assert_int_equal(l.seq, 42);
	assert_int_equal(l.prev[0], 0);
	assert_int_equal(l.mac[31], 0xaa);
	assert_memory_equal(GOOD + l.mac_at, ",\"mac\":", 7);
}

static void test_frame_refused(void **state)
{
	char buf[1024];
	audit_line l;

	(void)state;
	/* A higher version is newer, not damaged, whatever its length
	   (a newer record may be longer than a record may be here); version
	   0 is damage. Then a seq with a leading zero, no seq. */
	snprintf(buf, sizeof(buf), "%s", GOOD);
	buf[5] = '2';
	assert_int_equal(parse(buf, &l), KMC_E_VERSION);
	{
		char *big = malloc(AUDIT_LINE_MAX + 16);

		assert_non_null(big);
		memset(big, 'x', AUDIT_LINE_MAX + 16);
		memcpy(big, "{\"v\":2,\"seq\":1,", 15);
		assert_int_equal(audit_line_parse(big, AUDIT_LINE_MAX + 16, &l),
			KMC_E_VERSION);
		memcpy(big, "{\"v\":1,\"seq\":1,", 15);
		assert_int_equal(audit_line_parse(big, AUDIT_LINE_MAX + 16, &l),
			KMC_E_CORRUPT);
		free(big);
	}
	buf[5] = '0';
	assert_int_equal(parse(buf, &l), KMC_E_CORRUPT);
	assert_int_equal(parse("{\"v\":1,\"seq\":042,\"prev\":\"" Z64
		"\",\"mac\":\"" A64 "\"}", &l), KMC_E_CORRUPT);
	assert_int_equal(parse("{\"v\":1,\"prev\":\"" Z64 "\",\"mac\":\"" A64
		"\"}", &l), KMC_E_CORRUPT);
	/* A MAC that is not hex, one digit short, a trailing byte. */
	snprintf(buf, sizeof(buf), "%s", GOOD);
	buf[strlen(buf) - 3] = 'g';
	assert_int_equal(parse(buf, &l), KMC_E_CORRUPT);
	snprintf(buf, sizeof(buf), "%s", GOOD);
	memmove(buf + strlen(buf) - 3, buf + strlen(buf) - 2, 3);
	assert_int_equal(parse(buf, &l), KMC_E_CORRUPT);
	snprintf(buf, sizeof(buf), "%s ", GOOD);
	assert_int_equal(parse(buf, &l), KMC_E_CORRUPT);
	/* Cut anywhere: never a record. */
	for (size_t n = 0; n < strlen(GOOD); n++)
		assert_int_equal(audit_line_parse(GOOD, n, &l), KMC_E_CORRUPT);
}

static void test_fields(void **state)
{
	char s[64];
	uint64_t v;

	(void)state;
	assert_int_equal(audit_line_u64(GOOD, strlen(GOOD), "seq", &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(audit_line_u64(GOOD, strlen(GOOD), "gen", &v), 0);
	assert_int_equal(v, 9);
	assert_int_equal(audit_line_str(GOOD, strlen(GOOD), "user", s,
		sizeof(s)), 0);
	assert_string_equal(s, "ro\"ot");
	assert_int_equal(audit_line_str(GOOD, strlen(GOOD), "result", s,
		sizeof(s)), 0);
	assert_string_equal(s, "pending");
}

static void test_fields_refused(void **state)
{
	static const char esc[] = "{\"v\":1,\"op\":\"a\\u0001b\\x\"}";
	static const char forged[] = "{\"v\":1,\"user\":\"x\\\",\\\"gen\\\":5\"}";
	char s[4];
	uint64_t v;

	(void)state;
	assert_int_equal(audit_line_u64(GOOD, strlen(GOOD), "of", &v),
		KMC_E_NOT_FOUND);
	/* A key spelled inside a string is no key: its quotes are escaped. */
	assert_int_equal(audit_line_u64(forged, strlen(forged), "gen", &v),
		KMC_E_NOT_FOUND);
	assert_int_equal(audit_line_str(GOOD, strlen(GOOD), "result", s,
		sizeof(s)), KMC_E_TOO_LARGE);
	assert_int_equal(audit_line_str(esc, strlen(esc), "op", s, sizeof(s)),
		KMC_E_CORRUPT);
	assert_int_equal(audit_line_u64(GOOD, strlen(GOOD), "user", &v),
		KMC_E_CORRUPT);
}

static void test_segment_name(void **state)
{
	char buf[64];

	(void)state;
	audit_segment_name(17, buf, sizeof(buf));
	assert_string_equal(buf, "audit-00000000000000000017.log");
}


/* A read of a secret through v: its first read appends a record. */
static void read_item(kmc_vault *v, const char *name)
{
	kmc_secret *s = NULL;

	assert_int_equal(kmc_item_get_secret(v, name, &s), 0);
	kmc_secret_free(s);
}

static int never_called(const kmc_audit_record *rec, void *arg)
{
	(void)rec;
	(void)arg;
	fail();
	return 0;
}

/* kmc_audit_read() refuses a since that its text comparison would read
   as another time, and an item no record can name, before it reads. */
static void test_read_filters_refused(void **state)
{
	static const char *const bad[] = { "2026-13-01", "2026-00", "2026-1",
		"2026-02-29", "2026-04-31", "2026-12-01T24", "2026-12-01T10:60",
		"2026-12-01T10:00:61", "2026-12-01 10:00", "26-12-01", "" };
	static const char *const good[] = { "2026", "2026-12", "2024-02-29",
		"2000-02-29", "2026-12-31T23:59:60Z" };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (kmc_audit_read("/nonexistent", bad[i], NULL, never_called,
				NULL, NULL) != KMC_E_INVALID)
			fail_msg("since '%s' was not refused", bad[i]);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (kmc_audit_read("/nonexistent", good[i], NULL, never_called,
				NULL, NULL) == KMC_E_INVALID)
			fail_msg("since '%s' was refused: %s", good[i],
				kmc_error_detail());
	assert_int_equal(kmc_audit_read("/nonexistent", NULL, "a b",
		never_called, NULL, NULL), KMC_E_NAME);
	assert_int_equal(kmc_audit_read("/nonexistent", NULL, ".x",
		never_called, NULL, NULL), KMC_E_NAME);
}

static void test_kept_log_shared(void **state)
{
	char tmp[256], vdir[512], hk[512];
	kmc_vault *w = NULL, *a = NULL, *b = NULL;
	kmc_audit_state st;
	uint64_t before;
	pid_t pid;
	int status;

	(void)state;
	assert_int_equal(unit_tree_make("audit", tmp, vdir, hk), 0);
	assert_int_equal(unit_host_vault(vdir, hk, &w), 0);
	for (int i = 0; i < 6; i++) {
		char name[16];

		snprintf(name, sizeof(name), "i%d", i);
		assert_int_equal(kmc_item_put(w, name, KMC_ITEM_SECRET, "x", 1),
			0);
	}
	assert_int_equal(kmc_audit_verify(w, &st), 0);
	before = st.head_seq;
	assert_int_equal(kmc_vault_open(vdir, 0, &a), 0);
	assert_int_equal(kmc_vault_open(vdir, 0, &b), 0);
	/* a keeps the log open after its append; b's append moves it on
	   under a; a's next append must see that, not its kept tail. */
	read_item(a, "i0");
	read_item(b, "i1");
	read_item(a, "i2");
	read_item(w, "i3");
	read_item(a, "i4");
	/* A forked child shares a's descriptor (and its lock): it opens its
	   own, and the parent's next append sees the child's record. */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		kmc_secret *s = NULL;

		_exit(kmc_item_get_secret(a, "i5", &s) == 0 ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	read_item(a, "i1");
	assert_int_equal(kmc_audit_verify(w, &st), 0);
	assert_true(st.head_seq == before + 7);
	kmc_vault_close(b);
	kmc_vault_close(a);
	kmc_vault_close(w);
	unit_tree_remove(tmp);
}

/* The whole of dir/audit.log, NUL-terminated (free it). */
static char *log_text(const char *vdir)
{
	char path[600], *buf;
	FILE *f;
	long n;

	snprintf(path, sizeof(path), "%s/audit.log", vdir);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n > 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = 0;
	fclose(f);
	return buf;
}

/* A handle reading many items, some again and again: one record at
   each item's first read, and one count at the close for each item read
   more than once, with its version (the handle's list of what it read
   grows its buffers as it goes). */
static void test_reads_counted(void **state)
{
	enum { N = 40 };
	char tmp[256], vdir[512], hk[512], name[64], want[160];
	kmc_vault *w = NULL, *a = NULL;
	kmc_audit_state st;
	uint64_t before;
	char *text;

	(void)state;
	assert_int_equal(unit_tree_make("auditreads", tmp, vdir, hk), 0);
	assert_int_equal(unit_host_vault(vdir, hk, &w), 0);
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "an-item-with-a-longer-name-%02d", i);
		assert_int_equal(kmc_item_put(w, name, KMC_ITEM_SECRET, "x", 1),
			0);
	}
	/* Item 05 at version 2. */
	assert_int_equal(kmc_item_put(w, "an-item-with-a-longer-name-05",
		KMC_ITEM_SECRET, "y", 1), 0);
	assert_int_equal(kmc_audit_verify(w, &st), 0);
	before = st.head_seq;
	assert_int_equal(kmc_vault_open(vdir, 0, &a), 0);
	for (int round = 0; round < 4; round++)
		for (int i = 0; i < N; i++) {
			snprintf(name, sizeof(name),
				"an-item-with-a-longer-name-%02d", i);
			if (round <= i % 4)
				read_item(a, name);
		}
	assert_int_equal(kmc_audit_verify(w, &st), 0);
	assert_true(st.head_seq == before + N);
	/* A count is 16 bits: item 06 (2 further reads) brought to one short
	   of full, read once more, is recorded at once with its full count,
	   and counted again from zero (nothing for it at the close). */
	{
		struct audit_state *as = a->audit;
		const char *e = as->seen, *en;
		uint32_t ev;
		uint16_t count;

		while (strcmp(en = audit_seen_entry(e, &ev),
				"an-item-with-a-longer-name-06") != 0)
			e = en + strlen(en) + 1;
		assert_int_equal(ev, 1);
		memcpy(&count, e, 2);
		assert_int_equal(count, 2);
		count = UINT16_MAX - 1;
		memcpy((char *)e, &count, 2);
		read_item(a, "an-item-with-a-longer-name-06");
		assert_int_equal(kmc_audit_verify(w, &st), 0);
		assert_true(st.head_seq == before + N + 1);
		text = log_text(vdir);
		assert_non_null(strstr(text, "\"items\":[{\"name\":"
			"\"an-item-with-a-longer-name-06\",\"version\":1,"
			"\"reads\":65535}]"));
		free(text);
	}
	kmc_vault_close(a);
	assert_int_equal(kmc_audit_verify(w, &st), 0);
	assert_true(st.head_seq == before + N + 1 + 3 * N / 4 - 1);
	text = log_text(vdir);
	assert_null(strstr(text, "\"op\":\"reads counted at the close\","
		"\"items\":[{\"name\":\"an-item-with-a-longer-name-06\""));
	assert_non_null(strstr(text, "\"op\":\"reads counted at the close\","
		"\"items\":[{\"name\":\"an-item-with-a-longer-name-07\","
		"\"version\":1,\"reads\":3}]"));
	assert_non_null(strstr(text, "\"op\":\"reads counted at the close\","
		"\"items\":[{\"name\":\"an-item-with-a-longer-name-05\","
		"\"version\":2,\"reads\":1}]"));
	snprintf(want, sizeof(want), "\"name\":\"an-item-with-a-longer-name-"
		"04\",\"version\":1,\"reads\"");
	assert_null(strstr(text, want));
	free(text);
	kmc_vault_close(w);
	unit_tree_remove(tmp);
}

/* A version of more than 7 bits is kept in two bytes, and read back:
   version 130, read three times, is counted as such at the close. */
static void test_reads_counted_long_version(void **state)
{
	char tmp[256], vdir[512], hk[512];
	kmc_vault *w = NULL, *a = NULL;
	char *text;

	(void)state;
	assert_int_equal(unit_tree_make("auditver", tmp, vdir, hk), 0);
	assert_int_equal(unit_host_vault(vdir, hk, &w), 0);
	for (int i = 0; i < 130; i++)
		assert_int_equal(kmc_item_put(w, "many", KMC_ITEM_SECRET, "x",
			1), 0);
	assert_int_equal(kmc_item_put(w, "one", KMC_ITEM_SECRET, "y", 1), 0);
	assert_int_equal(kmc_vault_open(vdir, 0, &a), 0);
	for (int i = 0; i < 3; i++) {
		read_item(a, "many");
		read_item(a, "one");
	}
	kmc_vault_close(a);
	text = log_text(vdir);
	assert_non_null(strstr(text, "\"op\":\"reads counted at the close\","
		"\"items\":[{\"name\":\"many\",\"version\":130,"
		"\"reads\":2}]"));
	assert_non_null(strstr(text, "\"op\":\"reads counted at the close\","
		"\"items\":[{\"name\":\"one\",\"version\":1,"
		"\"reads\":2}]"));
	free(text);
	kmc_vault_close(w);
	unit_tree_remove(tmp);
}

static void check_time(time_t t)
{
	char got[32], want[32];
	struct tm tm;

	assert_non_null(gmtime_r(&t, &tm));
	assert_true(strftime(want, sizeof(want), "%Y-%m-%dT%H:%M:%SZ", &tm) > 0);
	audit_time_format(t, got);
	assert_string_equal(got, want);
}

static void test_time_format(void **state)
{
	const time_t edges[] = {
		0, 59, 86399, 86400, 951782399, 951782400 /* 2000-02-29 */,
		951868800 /* 2000-03-01 */, 1709164800 /* 2024-02-29 */,
		4107542399 /* 2100-02-28T23:59:59 */, 4107542400 /* 2100-03-01 */,
		253402300799 /* 9999-12-31T23:59:59 */,
	};
	char got[32];

	(void)state;
	for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++)
		check_time(edges[i]);
	/* Every day boundary and a second before it, 1970 to 2370. */
	for (time_t t = 0; t < (time_t)146097 * 86400; t += 86400) {
		check_time(t);
		check_time(t + 86399);
	}
	/* Out of range: never a wrong date, never an overflow. */
	audit_time_format(-1, got);
	assert_string_equal(got, "1970-01-01T00:00:00Z");
	audit_time_format((time_t)253402300800, got);
	assert_string_equal(got, "9999-12-31T23:59:59Z");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame),
		cmocka_unit_test(test_frame_refused),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_fields_refused),
		cmocka_unit_test(test_segment_name),
		cmocka_unit_test(test_read_filters_refused),
		cmocka_unit_test(test_kept_log_shared),
		cmocka_unit_test(test_reads_counted),
		cmocka_unit_test(test_reads_counted_long_version),
		cmocka_unit_test(test_time_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

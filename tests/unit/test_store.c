/*
 * test_store.c - the item store and its records (vault/store.c,
 * vault/items.c) as an attacker with write access to items.mdb sees
 * them: records moved under another name, altered in any byte, or copied
 * from another vault must never decrypt.
 *
 * Records are planted through the internal store API on the vault's own
 * LMDB environment (struct kmc_vault from vault/vault.h) and read back
 * through the public kmc_item_get_secret().
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include "unit_files.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <kmc.h>
#include <kmc/admin.h>
#include <kmc/tls.h>
#include "../../vault/vault.h"
#include "../../vault/store.h"

#define VALUE_A "secret-a"
#define VALUE_B "secret-b!"

typedef struct fixture {
	char tmp[256];
	char vdir[512];
	char v2dir[512];
	char hk[512];
	kmc_vault *v;		/* tmp/v, writable, items a and b */
} fixture;

/* ---- helpers ---------------------------------------------------------- */

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	if (unit_tree_make("store", f->tmp, f->vdir, f->hk) != 0)
		return -1;
	snprintf(f->v2dir, sizeof(f->v2dir), "%s/v2", f->tmp);
	if (unit_host_vault(f->vdir, f->hk, &f->v) != 0 ||
	    kmc_item_put(f->v, "a", KMC_ITEM_SECRET, VALUE_A,
		    strlen(VALUE_A)) != 0 ||
	    kmc_item_put(f->v, "b", KMC_ITEM_SECRET, VALUE_B,
		    strlen(VALUE_B)) != 0)
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

/* Raw record of name, copied out of the store. */
static uint8_t *get_rec(kmc_vault *v, const char *name, size_t *len)
{
	uint8_t *rec = NULL;

	assert_int_equal(store_get(&v->st, name, &rec, len), 0);
	assert_non_null(rec);
	return rec;
}

/* Plant a raw record under name, bypassing the vault. */
static void put_rec(kmc_vault *v, const char *name, const uint8_t *rec,
	size_t len)
{
	store_txn t;

	assert_int_equal(store_txn_begin(&v->st, &t), 0);
	assert_int_equal(store_txn_put(&t, name, rec, len), 0);
	assert_int_equal(store_txn_commit(&t), 0);
}

static void assert_value(kmc_vault *v, const char *name, const char *want)
{
	kmc_secret *s = NULL;

	assert_int_equal(kmc_item_get_secret(v, name, &s), 0);
	assert_int_equal(kmc_secret_len(s), strlen(want));
	assert_memory_equal(kmc_secret_data(s), want, strlen(want));
	kmc_secret_free(s);
}

static int is_refusal(int r)
{
	return r == KMC_E_AUTH || r == KMC_E_CORRUPT || r == KMC_E_VERSION;
}

/* ---- records moved --------------------------------------------------- */

static void test_record_under_other_name(void **state)
{
	fixture *f = *state;
	kmc_secret *s = NULL;
	size_t len;
	uint8_t *rec = get_rec(f->v, "a", &len);

	/* A new name. */
	put_rec(f->v, "c", rec, len);
	assert_int_equal(kmc_item_get_secret(f->v, "c", &s), KMC_E_AUTH);
	assert_null(s);
	assert_int_equal(kmc_item_get(f->v, "c", KMC_ITEM_SECRET, &s),
		KMC_E_AUTH);
	assert_null(s);
	assert_non_null(strstr(kmc_error_detail(), "c"));
	/* Over an existing item. */
	put_rec(f->v, "b", rec, len);
	assert_int_equal(kmc_item_get_secret(f->v, "b", &s), KMC_E_AUTH);
	assert_null(s);
	/* Names that differ only in length or case. */
	put_rec(f->v, "aa", rec, len);
	assert_int_equal(kmc_item_get_secret(f->v, "aa", &s), KMC_E_AUTH);
	put_rec(f->v, "A", rec, len);
	assert_int_equal(kmc_item_get_secret(f->v, "A", &s), KMC_E_AUTH);
	assert_null(s);
	/* A read-only handle opened afterwards agrees. */
	{
		kmc_vault *r = NULL;

		assert_int_equal(kmc_vault_open(f->vdir, 0, &r), 0);
		assert_int_equal(kmc_item_get_secret(r, "b", &s), KMC_E_AUTH);
		assert_value(r, "a", VALUE_A);
		kmc_vault_close(r);
	}
	/* The twin: under its own name it still opens. */
	assert_value(f->v, "a", VALUE_A);
	free(rec);
}

static void test_records_swapped(void **state)
{
	fixture *f = *state;
	kmc_secret *s = NULL;
	size_t la, lb;
	uint8_t *ra = get_rec(f->v, "a", &la), *rb = get_rec(f->v, "b", &lb);

	put_rec(f->v, "a", rb, lb);
	put_rec(f->v, "b", ra, la);
	assert_int_equal(kmc_item_get_secret(f->v, "a", &s), KMC_E_AUTH);
	assert_int_equal(kmc_item_get_secret(f->v, "b", &s), KMC_E_AUTH);
	assert_null(s);
	/* The twin: swapped back, both open. */
	put_rec(f->v, "a", ra, la);
	put_rec(f->v, "b", rb, lb);
	assert_value(f->v, "a", VALUE_A);
	assert_value(f->v, "b", VALUE_B);
	free(ra);
	free(rb);
}

/* ---- records altered --------------------------------------------------- */

/* Every bit of a record, opened directly with record_open(). */
static void test_record_open_any_flipped_bit(void **state)
{
	fixture *f = *state;
	size_t len;
	uint8_t *rec = get_rec(f->v, "a", &len);
	kmc_secret *s = NULL;
	record_info info;

	assert_int_equal(len, RECORD_HEADER_LEN + strlen(VALUE_A) +
		KMC_SEAL_OVERHEAD);
	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			int r;

			rec[i] ^= (uint8_t)(1u << bit);
			r = record_open(f->v, "a", rec, len, &info, &s);
			if (!is_refusal(r))
				fail_msg("byte %zu bit %d flipped: record_open "
					"returned %d", i, bit, r);
			assert_null(s);
			rec[i] ^= (uint8_t)(1u << bit);
		}
	}
	/* The twin: the intact record opens. */
	assert_int_equal(record_open(f->v, "a", rec, len, &info, &s), 0);
	assert_int_equal(kmc_secret_len(s), strlen(VALUE_A));
	assert_memory_equal(kmc_secret_data(s), VALUE_A, strlen(VALUE_A));
	assert_int_equal(info.type, KMC_ITEM_SECRET);
	assert_int_equal(info.version, 1);
	assert_int_equal(info.mk_id, 1);
	assert_int_equal(info.size, strlen(VALUE_A));
	kmc_secret_free(s);
	free(rec);
}

/* Every byte of a record, planted in the store and read through the API. */
static void test_store_any_flipped_byte(void **state)
{
	static const uint8_t masks[] = { 0x01, 0xff };
	fixture *f = *state;
	size_t len;
	uint8_t *orig = get_rec(f->v, "a", &len);
	uint8_t *rec = malloc(len);

	assert_non_null(rec);
	for (size_t i = 0; i < len; i++) {
		for (size_t m = 0; m < sizeof(masks); m++) {
			kmc_secret *s = NULL;
			int r;

			memcpy(rec, orig, len);
			rec[i] ^= masks[m];
			put_rec(f->v, "a", rec, len);
			r = kmc_item_get_secret(f->v, "a", &s);
			if (!is_refusal(r))
				fail_msg("byte %zu ^ 0x%02x: "
					"kmc_item_get_secret returned %d", i,
					masks[m], r);
			assert_null(s);
		}
	}
	/* The twin: the original record, put back, opens. */
	put_rec(f->v, "a", orig, len);
	assert_value(f->v, "a", VALUE_A);
	free(rec);
	free(orig);
}

/* Which refusal each header field gives. */
static void test_record_header_fields(void **state)
{
	fixture *f = *state;
	size_t len;
	uint8_t *orig = get_rec(f->v, "a", &len);
	uint8_t *rec = malloc(len);
	kmc_secret *s = NULL;

	assert_non_null(rec);
#define EXPECT(off, val, err) \
	do { \
		memcpy(rec, orig, len); \
		rec[off] = (val); \
		put_rec(f->v, "a", rec, len); \
		assert_int_equal(kmc_item_get_secret(f->v, "a", &s), (err)); \
		assert_null(s); \
	} while (0)

	EXPECT(0, 2, KMC_E_VERSION);		/* record version */
	EXPECT(0, 0, KMC_E_VERSION);
	EXPECT(1, KMC_ITEM_PASSWORD, KMC_E_AUTH);	/* type */
	EXPECT(2, 0x80, KMC_E_VERSION);		/* flags */
	EXPECT(3, 0x01, KMC_E_VERSION);
	EXPECT(7, 2, KMC_E_AUTH);		/* item version */
	EXPECT(11, 2, KMC_E_AUTH);		/* mk id: a key we do not hold */
	EXPECT(8, 1, KMC_E_AUTH);
	EXPECT(19, (uint8_t)(orig[19] ^ 0x55), KMC_E_AUTH); /* created */
	EXPECT(23, (uint8_t)(orig[23] + 1), KMC_E_CORRUPT);	/* size */
	EXPECT(20, 0x10, KMC_E_CORRUPT);	/* size past KMC_ITEM_MAX */
#undef EXPECT
	/* A damaged type byte is an authentication failure, whichever type
	   is asked for: the seal covers the header, so the type is only
	   believed once it opens. */
	static const uint8_t bad_types[] = { KMC_ITEM_PASSWORD, 0, 0x77 };
	for (size_t i = 0; i < sizeof(bad_types); i++) {
		memcpy(rec, orig, len);
		rec[1] = bad_types[i];
		put_rec(f->v, "a", rec, len);
		assert_int_equal(kmc_item_get(f->v, "a", KMC_ITEM_SECRET, &s),
			KMC_E_AUTH);
		assert_int_equal(kmc_item_get(f->v, "a", KMC_ITEM_PASSWORD,
			&s), KMC_E_AUTH);
		assert_int_equal(kmc_item_get(f->v, "a", 0, &s), KMC_E_AUTH);
		assert_null(s);
		assert_non_null(strstr(kmc_error_detail(),
			"fails authentication"));
		/* A put of its true type over it is refused the same way,
		   not as "a unknown" or "a password". */
		assert_int_equal(kmc_item_put(f->v, "a", KMC_ITEM_SECRET,
			"x", 1), KMC_E_AUTH);
	}
	/* The twin: an authentic record of another type is KMC_E_TYPE. */
	put_rec(f->v, "a", orig, len);
	assert_int_equal(kmc_item_get(f->v, "a", KMC_ITEM_PASSWORD, &s),
		KMC_E_TYPE);
	assert_null(s);
	assert_int_equal(kmc_item_put(f->v, "a", KMC_ITEM_PASSWORD, "x", 1),
		KMC_E_TYPE);
	put_rec(f->v, "a", orig, len);
	assert_value(f->v, "a", VALUE_A);
	free(rec);
	free(orig);
}

static int count_cb(const kmc_item_info *info, void *arg)
{
	(void)info;
	(*(int *)arg)++;
	return 0;
}

static void test_record_truncated_or_extended(void **state)
{
	fixture *f = *state;
	size_t len;
	uint8_t *orig = get_rec(f->v, "a", &len);
	uint8_t *rec = calloc(1, len + 8);
	kmc_secret *s = NULL;
	int n_items = 0;

	assert_non_null(rec);
	memcpy(rec, orig, len);
	for (size_t n = 0; n < len; n++) {
		put_rec(f->v, "a", rec, n);
		assert_int_equal(kmc_item_get_secret(f->v, "a", &s),
			KMC_E_CORRUPT);
		assert_null(s);
	}
	for (size_t extra = 1; extra <= 8; extra++) {
		put_rec(f->v, "a", rec, len + extra);
		assert_int_equal(kmc_item_get_secret(f->v, "a", &s),
			KMC_E_CORRUPT);
		assert_null(s);
	}
	/* A damaged header shows in the listing too. */
	put_rec(f->v, "a", rec, 3);
	assert_int_equal(kmc_item_list(f->v, count_cb, &n_items),
		KMC_E_CORRUPT);
	/* The twin: repaired, both items list and a opens. */
	put_rec(f->v, "a", orig, len);
	n_items = 0;
	assert_int_equal(kmc_item_list(f->v, count_cb, &n_items), 0);
	assert_int_equal(n_items, 2);
	assert_value(f->v, "a", VALUE_A);
	free(rec);
	free(orig);
}

/* ---- records from another vault ------------------------------------- */

static void test_record_from_other_vault(void **state)
{
	fixture *f = *state;
	kmc_vault *v2 = NULL;
	kmc_secret *s = NULL;
	size_t len;
	uint8_t *rec;

	assert_int_equal(unit_host_vault(f->v2dir, f->hk, NULL), 0);
	assert_int_equal(kmc_vault_open(f->v2dir, KMC_OPEN_WRITE, &v2), 0);
	/* Same name, same type, same master-key id 1, same host key. */
	assert_int_equal(kmc_item_put(v2, "a", KMC_ITEM_SECRET, "other",
		5), 0);
	rec = get_rec(v2, "a", &len);
	put_rec(f->v, "a", rec, len);
	assert_int_equal(kmc_item_get_secret(f->v, "a", &s), KMC_E_AUTH);
	assert_null(s);
	put_rec(f->v, "new", rec, len);
	assert_int_equal(kmc_item_get_secret(f->v, "new", &s), KMC_E_AUTH);
	assert_null(s);
	/* The twin: in its own vault the record opens. */
	assert_value(v2, "a", "other");
	free(rec);
	kmc_vault_close(v2);
}

/* The whole store file of another vault is refused as a whole. */
static void test_store_file_from_other_vault(void **state)
{
	fixture *f = *state;
	kmc_vault *v2 = NULL, *r = NULL;
	kmc_status st __attribute__((cleanup(kmc_status_free))) =
		KMC_STATUS_INIT;
	char src[700], dst[700], tmpf[700];
	int in, out;
	char buf[65536];
	ssize_t n;

	assert_int_equal(unit_host_vault(f->v2dir, f->hk, NULL), 0);
	assert_int_equal(kmc_vault_open(f->v2dir, KMC_OPEN_WRITE, &v2), 0);
	assert_int_equal(kmc_item_put(v2, "a", KMC_ITEM_SECRET, "other", 5),
		0);
	kmc_vault_close(v2);
	kmc_vault_close(f->v);
	f->v = NULL;

	snprintf(src, sizeof(src), "%s/items.mdb", f->v2dir);
	snprintf(dst, sizeof(dst), "%s/items.mdb", f->vdir);
	snprintf(tmpf, sizeof(tmpf), "%s/items.mdb.new", f->vdir);
	in = open(src, O_RDONLY | O_CLOEXEC);
	assert_true(in >= 0);
	out = open(tmpf, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(out >= 0);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		assert_int_equal(write(out, buf, (size_t)n), n);
	assert_int_equal(n, 0);
	close(in);
	assert_int_equal(close(out), 0);
	assert_int_equal(rename(tmpf, dst), 0);

	assert_int_equal(kmc_vault_open(f->vdir, 0, &r), KMC_E_WRONG_VAULT);
	assert_null(r);
	assert_int_equal(kmc_vault_open(f->vdir, KMC_OPEN_WRITE, &r),
		KMC_E_WRONG_VAULT);
	assert_null(r);
	assert_int_equal(kmc_vault_status(f->vdir, &st), KMC_E_WRONG_VAULT);
	/* The twin: the other vault still opens its own store. */
	assert_int_equal(kmc_vault_open(f->v2dir, 0, &r), 0);
	assert_value(r, "a", "other");
	kmc_vault_close(r);
}

/* ---- the store API itself ------------------------------------------- */

static void test_store_txn(void **state)
{
	fixture *f = *state;
	uint64_t count = 0, g0 = 0, g1 = 0;
	store_txn t;
	uint8_t *rec = NULL;
	size_t len = 0;

	assert_int_equal(store_stat(&f->v->st, &count, &g0), 0);
	assert_true(count == 2);
	assert_int_equal(store_get(&f->v->st, "missing", &rec, &len),
		KMC_E_NOT_FOUND);
	assert_null(rec);

	/* An aborted transaction changes nothing, not even the generation. */
	assert_int_equal(store_txn_begin(&f->v->st, &t), 0);
	assert_int_equal(store_txn_put(&t, "x",
		(const uint8_t *)"\x01" "23", 3), 0);
	assert_int_equal(store_txn_get(&t, "x", &rec, &len), 0);
	assert_int_equal(len, 3);
	free(rec);
	rec = NULL;
	assert_int_equal(store_txn_del(&t, "a"), 0);
	store_txn_abort(&t);
	assert_int_equal(store_stat(&f->v->st, &count, &g1), 0);
	assert_true(count == 2);
	assert_true(g1 == g0);
	assert_int_equal(store_get(&f->v->st, "x", &rec, &len),
		KMC_E_NOT_FOUND);
	assert_value(f->v, "a", VALUE_A);

	/* A committed one bumps the generation by exactly one. */
	assert_int_equal(store_txn_begin(&f->v->st, &t), 0);
	assert_int_equal(store_txn_put(&t, "x",
		(const uint8_t *)"\x01" "23", 3), 0);
	assert_int_equal(store_txn_put(&t, "y", (const uint8_t *)"45", 2), 0);
	assert_int_equal(store_txn_del(&t, "missing"), KMC_E_NOT_FOUND);
	assert_int_equal(store_txn_commit(&t), 0);
	assert_int_equal(store_stat(&f->v->st, &count, &g1), 0);
	assert_true(count == 4);
	assert_true(g1 == g0 + 1);
	assert_int_equal(store_get(&f->v->st, "y", &rec, &len), 0);
	assert_int_equal(len, 2);
	assert_memory_equal(rec, "45", 2);
	free(rec);
	/* Garbage planted this way is refused by the vault, not served. */
	{
		kmc_secret *s = NULL;

		assert_int_equal(kmc_item_get_secret(f->v, "x", &s),
			KMC_E_CORRUPT);
		assert_null(s);
	}
}

/* RssFile of this process in KiB: the file pages mapped into it. */
static long rss_file_kib(void)
{
	FILE *fp = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;

	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp))
		if (sscanf(line, "RssFile: %ld kB", &kib) == 1)
			break;
	fclose(fp);
	assert_true(kib >= 0);
	return kib;
}

/*
 * A bulk reader (kmc_key_load) that reads every record of a large store
 * does not keep the vault file's pages in its RSS (a server loading all
 * its keys kept the whole file resident), and the reads still return the
 * right bytes across the drops.
 */
static void read_all(fixture *f, int n, size_t len, uint8_t *val,
	unsigned every)
{
	uint8_t *rec = NULL;
	char name[32];
	size_t got;

	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "big%05d", i);
		assert_int_equal(store_get(&f->v->st, name, &rec, &got), 0);
		store_release_pages(&f->v->st, every);
		memset(val, i & 0xff, len);
		assert_int_equal(got, len);
		assert_memory_equal(rec, val, len);
		free(rec);
		rec = NULL;
	}
}

static void test_store_reads_leave_no_map(void **state)
{
	enum { N = 3000, LEN = 1500 };	/* 4.5 MB of records */
	fixture *f = *state;
	uint8_t *val = malloc(LEN);
	char name[32];
	store_txn t;
	long before, all;

	assert_non_null(val);
	assert_int_equal(store_txn_begin(&f->v->st, &t), 0);
	for (int i = 0; i < N; i++) {
		memset(val, i & 0xff, LEN);
		snprintf(name, sizeof(name), "big%05d", i);
		assert_int_equal(store_txn_put(&t, name, val, LEN), 0);
	}
	assert_int_equal(store_txn_commit(&t), 0);
	/* What reading every record maps when nothing is dropped: each read
	   touches the record's page, its digest's bucket and nodes, and the
	   kernel maps their neighbours with them. */
	before = rss_file_kib();
	read_all(f, N, LEN, val, 0);
	all = rss_file_kib() - before;
	store_release_pages(&f->v->st, 1);
	before = rss_file_kib();
	for (int round = 0; round < 2; round++)
		read_all(f, N, LEN, val, 64);
	/* At most the last 64 reads' pages (and their neighbours) may still
	   be mapped: a small part of what all the reads touched. */
	assert_true(all > 4096);
	assert_true(rss_file_kib() - before < all / 3);
	free(val);
}

/* Rss of this process's map of the vault's items.mdb, in KiB (its
   "Rss:" in /proc/self/smaps); 0 when nothing of it is mapped. */
static long map_rss_kib(void)
{
	FILE *fp = fopen("/proc/self/smaps", "r");
	char line[512];
	long kib = -1, v;
	int in = 0;

	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp)) {
		size_t n = strlen(line);

		if (n > 10 && strcmp(line + n - 10, "items.mdb\n") == 0) {
			in = 1;
			continue;
		}
		if (in && sscanf(line, "Rss: %ld kB", &v) == 1) {
			kib = (kib < 0 ? 0 : kib) + v;
			in = 0;
		}
	}
	fclose(fp);
	assert_true(kib >= 0);	/* the map was found */
	return kib;
}

/* A server loading its keys (kmc_key_load) holds none of the vault
   file's pages once each load returns: each read maps its record's and
   digest's pages with their neighbours (the boot row's peak RSS), and
   they leave the process before the key is parsed. */
static void test_key_loads_leave_no_map(void **state)
{
	fixture *f = *state;
	char name[32];

	for (int i = 0; i < 40; i++) {
		EVP_PKEY *k = EVP_EC_gen("P-256");
		PKCS8_PRIV_KEY_INFO *p8 = k ? EVP_PKEY2PKCS8(k) : NULL;
		unsigned char *der = NULL;
		int len = p8 ? i2d_PKCS8_PRIV_KEY_INFO(p8, &der) : -1;

		assert_true(len > 0);
		snprintf(name, sizeof(name), "k%02d/key", i);
		assert_int_equal(kmc_item_put(f->v, name, KMC_ITEM_PRIVATE_KEY,
			der, (size_t)len), 0);
		OPENSSL_free(der);
		PKCS8_PRIV_KEY_INFO_free(p8);
		EVP_PKEY_free(k);
	}
	/* Reads that do not drop the map leave it mapped: the check below
	   can tell. */
	free(get_rec(f->v, "k00/key", &(size_t){ 0 }));
	assert_true(map_rss_kib() > 0);
	for (int i = 0; i < 40; i++) {
		EVP_PKEY *k = NULL;

		snprintf(name, sizeof(name), "k%02d", i);
		assert_int_equal(kmc_key_load(f->v, name, &k), 0);
		assert_non_null(k);
		EVP_PKEY_free(k);
		assert_int_equal(map_rss_kib(), 0);
	}
}

/* ---- the commit hook ------------------------------------------------- */

typedef struct hook_log {
	int fail_at_prepare;		/* returned at STORE_PREPARE */
	int calls[3];			/* by phase */
	uint64_t gen_old, gen_new;	/* as the last call saw them */
	int read_ok;			/* PREPARE could read through c->t */
	size_t n;
	struct {
		store_db db;
		uint8_t key[STORE_KEY_MAX];
		size_t len;
		int deleted;
	} k[16];
	/* The vault's own hook (the audit log and the binding), called
	   after this one's checks so that the vault stays whole. */
	store_commit_fn prev;
	void *prev_arg;
} hook_log;

static int hook(void *arg, store_phase phase, const store_change *c);

/* Put the test's hook in front of the vault's; hook_off() takes it out. */
static void hook_on(store *st, hook_log *h)
{
	h->prev = st->commit_fn;
	h->prev_arg = st->commit_arg;
	store_set_commit_hook(st, hook, h);
}

static void hook_off(store *st, hook_log *h)
{
	store_set_commit_hook(st, h->prev, h->prev_arg);
}

static int hook(void *arg, store_phase phase, const store_change *c)
{
	hook_log *h = arg;

	h->calls[phase]++;
	h->gen_old = c->gen_old;
	h->gen_new = c->gen_new;
	if (phase == STORE_PREPARE) {
		uint8_t *rec = NULL;
		size_t len;

		assert_non_null(c->t);
		h->read_ok = store_txn_get(c->t, "a", &rec, &len) == 0;
		free(rec);
		if (h->fail_at_prepare)
			return h->fail_at_prepare;
	}
	if (h->prev) {
		int r = h->prev(h->prev_arg, phase, c);

		if (r != 0)
			return r;
	}
	h->n = c->n_touched;
	assert_true(c->n_touched <= 16);
	for (size_t i = 0; i < c->n_touched; i++) {
		h->k[i].db = c->touched[i].db;
		h->k[i].len = c->touched[i].key_len;
		memcpy(h->k[i].key, c->touched[i].key, c->touched[i].key_len);
		h->k[i].deleted = c->touched[i].deleted;
	}
	return 0;
}

static void assert_touched(const hook_log *h, size_t i, store_db db,
	const void *key, size_t len, int deleted)
{
	assert_true(i < h->n);
	assert_int_equal(h->k[i].db, db);
	assert_int_equal(h->k[i].len, len);
	assert_memory_equal(h->k[i].key, key, len);
	assert_int_equal(h->k[i].deleted, deleted);
}

/* A hook that refuses at PREPARE: the change is not made, its error is
   what the write returns, and nothing else is called. */
static void test_commit_hook_prepare_refuses(void **state)
{
	fixture *f = *state;
	hook_log h = { .fail_at_prepare = KMC_E_AUDIT };
	uint64_t g0 = 0, g1 = 0, n = 0;
	uint32_t kept = 9;

	assert_int_equal(store_stat(&f->v->st, NULL, &g0), 0);
	hook_on(&f->v->st, &h);
	assert_int_equal(kmc_item_put(f->v, "a", KMC_ITEM_SECRET, "new", 3),
		KMC_E_AUDIT);
	assert_int_equal(kmc_item_put(f->v, "c", KMC_ITEM_SECRET, "c", 1),
		KMC_E_AUDIT);
	assert_int_equal(h.calls[STORE_PREPARE], 2);
	assert_int_equal(h.calls[STORE_COMMITTED], 0);
	assert_int_equal(h.calls[STORE_ABORTED], 0);
	assert_true(h.read_ok);
	assert_true(h.gen_new == g0 + 1);
	hook_off(&f->v->st, &h);

	assert_value(f->v, "a", VALUE_A);
	assert_int_equal(store_stat(&f->v->st, &n, &g1), 0);
	assert_true(g1 == g0);
	assert_true(n == 2);
	assert_int_equal(store_history_count(&f->v->st, "a", &kept), 0);
	assert_int_equal(kept, 0);
	/* And without the hook the same write goes through. */
	assert_int_equal(kmc_item_put(f->v, "a", KMC_ITEM_SECRET, "new", 3),
		0);
	assert_value(f->v, "a", "new");
}

/* COMMITTED sees the new generation and each key touched once, in its
   final state, history moves included. */
static void test_commit_hook_touched(void **state)
{
	static const uint8_t a_v1[] = { 'a', 0, 0, 0, 0, 1 };
	fixture *f = *state;
	hook_log h = { 0 };
	uint64_t g = 0;
	store_txn t;
	size_t dropped = 0;

	hook_on(&f->v->st, &h);
	/* A new version of a that keeps the old one: it moves to history. */
	assert_int_equal(store_txn_begin(&f->v->st, &t), 0);
	assert_int_equal(items_txn_put(f->v, &t, "a", KMC_ITEM_SECRET, "new",
		3, 1), 0);
	assert_int_equal(store_txn_commit(&t), 0);
	assert_int_equal(h.calls[STORE_PREPARE], 1);
	assert_int_equal(h.calls[STORE_COMMITTED], 1);
	assert_int_equal(store_stat(&f->v->st, NULL, &g), 0);
	assert_true(h.gen_new == g && h.gen_old == g - 1);
	assert_int_equal(h.n, 2);
	assert_touched(&h, 0, STORE_DB_ITEMS, "a", 1, 0);
	assert_touched(&h, 1, STORE_DB_HISTORY, a_v1, sizeof(a_v1), 0);

	/* One transaction: b deleted, c put twice then deleted, d put, a's
	   history dropped. */
	assert_int_equal(store_txn_begin(&f->v->st, &t), 0);
	assert_int_equal(store_txn_del(&t, "b"), 0);
	assert_int_equal(store_txn_put(&t, "c", (const uint8_t *)"x", 1), 0);
	assert_int_equal(store_txn_put(&t, "d", (const uint8_t *)"y", 1), 0);
	assert_int_equal(store_txn_put(&t, "c", (const uint8_t *)"z", 1), 0);
	assert_int_equal(store_txn_del(&t, "c"), 0);
	assert_int_equal(store_txn_drop_history(&t, "a", &dropped), 0);
	assert_int_equal(dropped, 1);
	assert_int_equal(store_txn_commit(&t), 0);
	assert_int_equal(h.calls[STORE_COMMITTED], 2);
	assert_true(h.gen_new == g + 1);
	assert_int_equal(h.n, 4);
	assert_touched(&h, 0, STORE_DB_ITEMS, "b", 1, 1);
	assert_touched(&h, 1, STORE_DB_ITEMS, "c", 1, 1);
	assert_touched(&h, 2, STORE_DB_ITEMS, "d", 1, 0);
	assert_touched(&h, 3, STORE_DB_HISTORY, a_v1, sizeof(a_v1), 1);

	/* An aborted transaction calls nothing. */
	assert_int_equal(store_txn_begin(&f->v->st, &t), 0);
	assert_int_equal(store_txn_put(&t, "e", (const uint8_t *)"e", 1), 0);
	store_txn_abort(&t);
	assert_int_equal(h.calls[STORE_PREPARE], 2);
	assert_int_equal(h.calls[STORE_ABORTED], 0);
	hook_off(&f->v->st, &h);
}

/* A new version of name that keeps the one before, as an import does. */
static void put_kept(kmc_vault *v, const char *name, const char *value)
{
	store_txn t;

	assert_int_equal(store_txn_begin(&v->st, &t), 0);
	assert_int_equal(items_txn_put(v, &t, name, KMC_ITEM_SECRET, value,
		strlen(value), 1), 0);
	assert_int_equal(store_txn_commit(&t), 0);
}

/* The versions an item's history holds, oldest first, all counted even
   when fewer fit; another name's (one that begins the same) not among
   them. */
static void test_history_versions(void **state)
{
	fixture *f = *state;
	char longname[KMC_NAME_MAX + 2];
	uint32_t vers[8] = { 0 };
	size_t n = 99;

	for (int i = 0; i < 4; i++)
		put_kept(f->v, "h", "v");
	put_kept(f->v, "ha", "v");
	put_kept(f->v, "ha", "w");
	assert_int_equal(store_history_versions(&f->v->st, "h", vers, 8, &n),
		0);
	assert_int_equal(n, 3);
	assert_int_equal(vers[0], 1);
	assert_int_equal(vers[1], 2);
	assert_int_equal(vers[2], 3);
	memset(vers, 0, sizeof(vers));
	assert_int_equal(store_history_versions(&f->v->st, "h", vers, 2, &n),
		0);
	assert_int_equal(n, 3);
	assert_int_equal(vers[0], 1);
	assert_int_equal(vers[1], 2);
	assert_int_equal(vers[2], 0);
	assert_int_equal(store_history_versions(&f->v->st, "ha", vers, 8, &n),
		0);
	assert_int_equal(n, 1);
	assert_int_equal(vers[0], 1);
	assert_int_equal(store_history_versions(&f->v->st, "none", vers, 8,
		&n), 0);
	assert_int_equal(n, 0);
	/* The negative twin: a name no item can have. */
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(store_history_versions(&f->v->st, longname, vers, 8,
		&n), KMC_E_NAME);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_record_under_other_name),
		T(test_records_swapped),
		T(test_record_open_any_flipped_bit),
		T(test_store_any_flipped_byte),
		T(test_record_header_fields),
		T(test_record_truncated_or_extended),
		T(test_record_from_other_vault),
		T(test_store_file_from_other_vault),
		T(test_store_txn),
		T(test_store_reads_leave_no_map),
		T(test_key_loads_leave_no_map),
		T(test_commit_hook_prepare_refuses),
		T(test_commit_hook_touched),
		T(test_history_versions),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}

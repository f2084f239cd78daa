/*
 * snapshot_calls.c - kmc_vault_snapshot() and kmc_vault_snapshot_end()
 * called where a careless program calls them, for
 * tests/e2e/test_snapshot_calls.sh:
 *
 *	snapshot_calls end-in-list VAULT
 *
 * end-in-list: a handle holds a snapshot while another handle changes
 * item "pw"; kmc_item_list() through the first handle, whose callback
 * ends the snapshot at the first item, must visit every item (its walk
 * is in the snapshot's transaction: the end freed it under the walk's
 * cursor, and the program crashed), still read the old "pw" in later
 * callbacks (the snapshot ends when the list returns, as man/kmc.3
 * says), and after the list read the new "pw" and take a snapshot anew.
 *
 * Prints "ok" and exits 0, or what went wrong and exits 1; 2 when the
 * set-up fails. The vault opens with $KMC_HOST_KEY.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <kmc.h>

struct walk {
	kmc_vault *v;
	int seen, bad;
};

/* Whether item "pw" read through v is want. */
static int pw_is(kmc_vault *v, const char *want, const char *when)
{
	kmc_secret *s;
	int r = kmc_item_get_secret(v, "pw", &s), same;

	if (r < 0) {
		printf("%s: reading pw: %s (%s)\n", when, kmc_strerror(r),
			kmc_error_detail());
		return 0;
	}
	same = kmc_secret_len(s) == strlen(want) &&
	    memcmp(kmc_secret_data(s), want, strlen(want)) == 0;
	if (!same)
		printf("%s: pw is \"%.*s\", not \"%s\"\n", when,
			(int)kmc_secret_len(s), (const char *)kmc_secret_data(s),
			want);
	kmc_secret_free(s);
	return same;
}

static int end_in_cb(const kmc_item_info *info, void *arg)
{
	struct walk *w = arg;

	(void)info;
	if (w->seen++ == 0)
		kmc_vault_snapshot_end(w->v);
	else if (!pw_is(w->v, "old", "in the list after the end"))
		w->bad = 1;
	return 0;
}

static int count_cb(const kmc_item_info *info, void *arg)
{
	(void)info;
	++*(int *)arg;
	return 0;
}

static int end_in_list(const char *dir)
{
	kmc_vault *v, *w;
	struct walk wk = { 0 };
	int items = 0, r;

	if (kmc_vault_open(dir, 0, &v) < 0 ||
	    kmc_vault_open(dir, KMC_OPEN_WRITE, &w) < 0 ||
	    kmc_item_list(v, count_cb, &items) != 0 || items < 2 ||
	    kmc_vault_snapshot(v) < 0 ||
	    kmc_item_put(w, "pw", KMC_ITEM_PASSWORD, "new", 3) < 0)
		return 2;
	wk.v = v;
	r = kmc_item_list(v, end_in_cb, &wk);
	if (r != 0) {
		printf("kmc_item_list: %s (%s)\n", kmc_strerror(r),
			kmc_error_detail());
		wk.bad = 1;
	}
	if (wk.seen != items) {
		printf("the list visited %d items of %d\n", wk.seen, items);
		wk.bad = 1;
	}
	if (!pw_is(v, "new", "after the list"))
		wk.bad = 1;
	r = kmc_vault_snapshot(v);
	if (r < 0) {
		printf("a snapshot after the list: %s (%s)\n", kmc_strerror(r),
			kmc_error_detail());
		wk.bad = 1;
	}
	kmc_vault_snapshot_end(v);
	kmc_vault_close(w);
	kmc_vault_close(v);
	return wk.bad;
}

int main(int argc, char **argv)
{
	int r;

	if (argc != 3)
		return 2;
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (strcmp(argv[1], "end-in-list") == 0)
		r = end_in_list(argv[2]);
	else
		return 2;
	if (r == 0)
		printf("ok\n");
	return r;
}

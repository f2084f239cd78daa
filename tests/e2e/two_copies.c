/*
 * two_copies.c - a process that has a vault open through this library
 * and also loads keys through the kmc provider, for
 * tests/e2e/test_threads.sh:
 *
 *	two_copies token VAULT NAME	kmc_key_load() of NAME, a token key
 *	two_copies conf VAULT NAME	kmc.so loaded first (as openssl.cnf
 *					does), then a kmc: URI of NAME
 *	two_copies late VAULT NAME	a kmc: URI of NAME loaded before the
 *					library opens the vault, then again
 *	two_copies copy VAULT NAME	kmc/vault.so's own copy of the vault
 *					code asked to open VAULT (as a kmc.so
 *					of another build would): refused
 *
 * The provider must open the vault with this library's code, never with
 * a second copy (its kmc/vault.so) while the library's LMDB environment
 * is open: LMDB allows one a file in a process, and a second one's close
 * drops the process's locks on items.mdb-lock, after which another
 * process takes itself for the first and resets the reader table. Prints
 * what it saw, one fact a line:
 *	locks before N / locks after N	this process's POSIX locks on
 *					VAULT/items.mdb-lock (/proc/locks),
 *					each counted once
 *	vault.so mapped yes|no		kmc/vault.so in /proc/self/maps
 *	load ok | load failed: DETAIL
 *	second copy open ok | second copy open failed: DETAIL
 *	read ok | read failed: DETAIL	the library's handle, afterwards
 * Exits 0 when it got that far, 2 when the set-up failed.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/store.h>
#include <kmc.h>
#include <kmc/tls.h>
#include "provtable.h"	/* vault/: kmc/vault.so's table */

static const char *vault;

/*
 * This process's POSIX locks on items.mdb-lock, from /proc/locks: LMDB's
 * lock on byte 0 (its environment) and its reader slot's at offset
 * getpid() (mdb_reader_pid), 2 while the vault is open. With show, each
 * lock counted is printed too (what a failing check shows).
 *
 * The kernel lists /proc/locks one read() at a time (stdio reads 1 KiB;
 * a read gets a page at most), each starting again at the index where
 * the last one stopped. A lock another process takes or drops in
 * between, ahead of ours in the kernel's list, moves ours by one: a line
 * is printed twice or not at all. Under make check other suites' kmc
 * runs, servers and tokens take and drop locks all the time: counted
 * line by line, this said 3 once where 2 were held, and 0 to 4 beside
 * processes churning locks. So a lock seen twice counts once (a process
 * holds one POSIX lock a byte of a file: its range names it), and the
 * file is read again, a few times at most, until both bytes are seen. A
 * line is printed only while its lock exists: a lock the process lost is
 * never seen, and the check still fails.
 */
#define SEEN_MAX 16
#define PASSES 8

struct seen {
	int n;
	char range[SEEN_MAX][64];	/* "START END" */
	char line[SEEN_MAX][160];
};

static int seen_add(struct seen *s, const char *start, const char *end,
	const char *line)
{
	char r[64];

	snprintf(r, sizeof(r), "%s %s", start, end);
	for (int i = 0; i < s->n; i++)
		if (!strcmp(s->range[i], r))
			return 0;
	if (s->n == SEEN_MAX)
		return -1;
	snprintf(s->range[s->n], sizeof(s->range[0]), "%s", r);
	snprintf(s->line[s->n], sizeof(s->line[0]), "%s", line);
	s->n++;
	return 0;
}

/* One pass over /proc/locks; 1 when byte 0 and the reader slot's byte
   have both been seen, in this pass or an earlier one. */
static int locks_pass(const struct stat *st, struct seen *s, int *zero,
	int *slot)
{
	char line[512], pidoff[32];
	FILE *f = fopen("/proc/locks", "r");

	if (!f)
		return -1;
	snprintf(pidoff, sizeof(pidoff), "%ld", (long)getpid());
	while (fgets(line, sizeof(line), f)) {
		char type[16], start[24], end[24];
		unsigned maj, min;
		unsigned long long ino;
		long pid;

		/* " -> " lines are blocked requests: they hold nothing. */
		if (strstr(line, "->") || sscanf(line, "%*s %15s %*s %*s %ld "
				"%x:%x:%llu %23s %23s", type, &pid, &maj, &min,
				&ino, start, end) != 7)
			continue;
		if (strcmp(type, "POSIX") || pid != (long)getpid() ||
		    maj != major(st->st_dev) || min != minor(st->st_dev) ||
		    ino != (unsigned long long)st->st_ino)
			continue;
		if (seen_add(s, start, end, line) < 0)
			break;
		*zero |= !strcmp(start, "0");
		*slot |= !strcmp(start, pidoff);
	}
	fclose(f);
	return *zero && *slot;
}

static int locks_shown(int show)
{
	char path[4096];
	struct stat st;
	struct seen s = { .n = 0 };
	int zero = 0, slot = 0;

	snprintf(path, sizeof(path), "%s/items.mdb-lock", vault);
	if (stat(path, &st) < 0)
		return -1;
	for (int i = 0; i < PASSES; i++)
		if (locks_pass(&st, &s, &zero, &slot) != 0)
			break;
	for (int i = 0; show && i < s.n; i++)
		printf("lock: %s", s.line[i]);
	return s.n;
}

static int locks(void)
{
	return locks_shown(0);
}

static const char *vault_so_mapped(void)
{
	char line[4096];
	FILE *f = fopen("/proc/self/maps", "r");
	int yes = 0;

	while (f && fgets(line, sizeof(line), f))
		if (strstr(line, "/kmc/vault.so"))
			yes = 1;
	if (f)
		fclose(f);
	return yes ? "yes" : "no";
}

/* NAME through OSSL_STORE and the kmc provider. */
static void uri_load(const char *name)
{
	char uri[4200];
	OSSL_STORE_CTX *sc;
	EVP_PKEY *k = NULL;

	snprintf(uri, sizeof(uri), "kmc://%s?item=%s", vault, name);
	sc = OSSL_STORE_open_ex(uri, NULL, "?provider=kmc", NULL, NULL, NULL,
		NULL, NULL);
	while (sc && !k && !OSSL_STORE_eof(sc)) {
		OSSL_STORE_INFO *i = OSSL_STORE_load(sc);

		if (!i)
			break;
		if (OSSL_STORE_INFO_get_type(i) == OSSL_STORE_INFO_PKEY)
			k = OSSL_STORE_INFO_get1_PKEY(i);
		OSSL_STORE_INFO_free(i);
	}
	if (sc)
		OSSL_STORE_close(sc);
	if (k) {
		printf("load ok\n");
	} else {
		const char *data;
		int flags;

		printf("load failed:");
		while (ERR_get_error_all(NULL, NULL, NULL, &data, &flags))
			printf(" %s", (flags & ERR_TXT_STRING) && data ? data : "");
		printf("\n");
	}
	EVP_PKEY_free(k);
}

int main(int argc, char **argv)
{
	const char *mode, *name, *mods = getenv("OPENSSL_MODULES");
	OSSL_PROVIDER *kmc_prov = NULL, *def_prov = NULL;
	kmc_vault *v = NULL;
	kmc_secret *s;
	char path[4096];

	if (argc != 4 || !mods) {
		fprintf(stderr, "usage: two_copies token|conf|late VAULT NAME "
			"(OPENSSL_MODULES set)\n");
		return 2;
	}
	mode = argv[1];
	vault = argv[2];
	name = argv[3];
	snprintf(path, sizeof(path), "%s/kmc.so", mods);
	if (strcmp(mode, "token") && strcmp(mode, "copy") &&
	    (!(kmc_prov = OSSL_PROVIDER_load(NULL, path)) ||
	     !(def_prov = OSSL_PROVIDER_load(NULL, "default")))) {
		printf("set-up: kmc.so does not load\n");
		return 2;
	}
	if (!strcmp(mode, "late"))
		uri_load(name);
	if (kmc_vault_open(vault, 0, &v) < 0 ||
	    kmc_item_get_secret(v, "pw", &s) < 0) {
		printf("set-up: %s\n", kmc_error_detail());
		return 2;
	}
	kmc_secret_free(s);
	printf("locks before %d\n", locks());
	if (!strcmp(mode, "token")) {
		EVP_PKEY *k = NULL;

		if (kmc_key_load(v, name, &k) < 0)
			printf("load failed: %s\n", kmc_error_detail());
		else
			printf("load ok\n");
		EVP_PKEY_free(k);
	} else if (!strcmp(mode, "copy")) {
		kmcprov_vault_api_fn *get;
		const kmcprov_vault_api *t;
		kmc_vault *v2 = NULL;
		void *h, *sym;

		snprintf(path, sizeof(path), "%s/kmc/vault.so", mods);
		h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
		sym = h ? dlsym(h, "kmcprov_vault_get") : NULL;
		if (!sym) {
			printf("set-up: %s does not load\n", path);
			return 2;
		}
		memcpy(&get, &sym, sizeof(get));
		t = get();
		if (t->vault_open_ex(vault, 0, NULL, &v2) < 0) {
			printf("second copy open failed: %s\n",
				t->error_detail());
		} else {
			printf("second copy open ok\n");
			t->vault_close(v2);
		}
	} else {
		uri_load(name);
	}
	printf("locks after %d\n", locks_shown(1));
	printf("vault.so mapped %s\n", vault_so_mapped());
	if (kmc_item_get_secret(v, "pw", &s) < 0) {
		printf("read failed: %s\n", kmc_error_detail());
	} else {
		printf("read ok\n");
		kmc_secret_free(s);
	}
	kmc_vault_close(v);
	if (kmc_prov)
		OSSL_PROVIDER_unload(kmc_prov);
	if (def_prov)
		OSSL_PROVIDER_unload(def_prov);
	return 0;
}
